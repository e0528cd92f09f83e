/* png.c: asinh-stretched PNG previews (see png.h for the stretch). */
#include "preview.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

#include "cleanup.h"
#include "output.h"

/* libpng's default limit on PNG width and height (PNG_USER_WIDTH_MAX). */
#define MAX_PNG_SIDE 1000000L

/* What the preview reads: which bands make which channel, background removed. */
typedef struct view {
    const float *px;
    int w, h;
    size_t plane;    /* w * h */
    int n_chan;      /* 1 (grey) or 3 (R, G, B) */
    int band[3];     /* band of each channel */
    int avg_two;     /* grey is the mean of bands 0 and 1 */
    double bg[3];    /* background of each channel */
    double bg_second; /* background of band 1 when avg_two */
} view;

typedef struct stretch {
    double soft, norm; /* f(I) = asinh(I / soft) / norm */
} stretch;

static void view_init(view *v, const float *px, int w, int h, int n_bands, const double *bg)
{
    memset(v, 0, sizeof *v);
    v->px = px;
    v->w = w;
    v->h = h;
    v->plane = (size_t)w * h;
    v->n_chan = n_bands >= 3 ? 3 : 1;
    v->avg_two = n_bands == 2;
    if (n_bands >= 3)
        for (int k = 0; k < 3; k++)
            v->band[k] = n_bands - 1 - k; /* the reddest of the last three is red */
    for (int k = 0; k < v->n_chan; k++)
        v->bg[k] = bg ? bg[v->band[k]] : 0.0;
    v->bg_second = bg && v->avg_two ? bg[1] : 0.0;
}

/* Background-subtracted channels of pixel idx into c; 0 if a band it uses is
 * not finite. */
static int view_pixel(const view *v, size_t idx, double c[3])
{
    for (int k = 0; k < v->n_chan; k++) {
        c[k] = (double)v->px[(size_t)v->band[k] * v->plane + idx] - v->bg[k];
        if (!isfinite(c[k]))
            return 0;
    }
    if (v->avg_two) {
        double second = (double)v->px[v->plane + idx] - v->bg_second;
        if (!isfinite(second))
            return 0;
        c[0] = 0.5 * (c[0] + second);
    }
    return 1;
}

static double view_intensity(const view *v, const double c[3])
{
    return v->n_chan == 3 ? (c[0] + c[1] + c[2]) / 3.0 : c[0];
}

/* The k-th smallest of a[0..n-1] (n > 0), reordering a: Hoare's FIND as Wirth
 * writes it, linear on average and at ease with runs of equal values (a
 * noise-free simulation is mostly zeros). */
static float select_kth(float *a, size_t n, size_t k)
{
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, kk = (ptrdiff_t)k;
    while (lo < hi) {
        float pivot = a[kk];
        ptrdiff_t i = lo, j = hi;
        do {
            while (a[i] < pivot)
                i++;
            while (pivot < a[j])
                j--;
            if (i <= j) {
                float t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        } while (i <= j);
        if (j < kk)
            lo = i;
        if (kk < i)
            hi = j;
    }
    return a[kk];
}

/* Chooses the stretch from the finite pixels (see png.h) and counts the
 * others into *n_bad. */
static int stretch_choose(const view *v, stretch *st, size_t *n_bad, sl_err *err)
{
    float *vals = malloc(v->plane * sizeof *vals);
    if (!vals)
        return sl_err_set(err, "out of memory for a %d x %d preview", v->w, v->h);
    size_t n = 0;
    double peak = -HUGE_VAL, max_abs = 0.0, c[3];
    for (size_t i = 0; i < v->plane; i++) {
        if (!view_pixel(v, i, c))
            continue;
        double in = view_intensity(v, c);
        vals[n++] = (float)in;
        peak = fmax(peak, in);
        max_abs = fmax(max_abs, fabs(in));
    }
    *n_bad = v->plane - n;
    double sigma = 0.0;
    if (n > 0) {
        float med = select_kth(vals, n, n / 2);
        for (size_t i = 0; i < n; i++)
            vals[i] = fabsf(vals[i] - med);
        sigma = 1.4826 * select_kth(vals, n, n / 2);
    }
    free(vals);
    if (!(sigma > 0.0) || !isfinite(sigma))
        sigma = 1e-3 * max_abs;
    if (!(sigma > 0.0) || !isfinite(sigma))
        sigma = 1.0;
    st->soft = SL_PNG_SOFT_SIGMAS * sigma;
    double white = fmax(peak, SL_PNG_WHITE_MIN_SOFTS * st->soft);
    st->norm = asinh(white / st->soft);
    return 0;
}

static unsigned char to_byte(double x)
{
    return (unsigned char)lrint(255.0 * (x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x));
}

/* One image row y as 3 bytes per pixel (grey repeated in all three). */
static void render_row(const view *v, const stretch *st, int y, unsigned char *rgb)
{
    double c[3];
    for (int x = 0; x < v->w; x++, rgb += 3) {
        size_t idx = (size_t)y * v->w + x;
        if (!view_pixel(v, idx, c)) {
            rgb[0] = SL_PNG_NAN_R;
            rgb[1] = SL_PNG_NAN_G;
            rgb[2] = SL_PNG_NAN_B;
            continue;
        }
        double in = view_intensity(v, c);
        double gain = in > 0.0 ? asinh(in / st->soft) / (st->norm * in) : 0.0;
        double out[3], top = 0.0;
        for (int k = 0; k < 3; k++) {
            out[k] = fmax(0.0, c[k < v->n_chan ? k : 0] * gain);
            top = fmax(top, out[k]);
        }
        for (int k = 0; k < 3; k++)
            rgb[k] = to_byte(top > 1.0 ? out[k] / top : out[k]);
    }
}

/* Blends the markers into PNG row yy (width ww, 3 bytes per pixel).  A PNG
 * pixel's weight falls linearly from 1 on the circle to 0 one pixel away,
 * measured from the pixel's centre: a ring about one pixel wide. */
static void draw_markers(const sl_marker *marks, int n_marks, int scale, int yy, int ww,
                         unsigned char *row)
{
    double yc = yy + 0.5;
    for (int m = 0; m < n_marks; m++) {
        double cx = marks[m].x * scale, cy = marks[m].y * scale, r = marks[m].r * scale;
        double dy = yc - cy;
        if (fabs(dy) >= r + 1.0)
            continue;
        /* Clamp in double first: a far-away marker must not overflow an int. */
        double lo = fmax(0.0, floor(cx - r - 1.0)), hi = fmin(ww - 1.0, ceil(cx + r + 1.0));
        if (lo > hi)
            continue;
        for (int xx = (int)lo; xx <= (int)hi; xx++) {
            double a = 1.0 - fabs(hypot(xx + 0.5 - cx, dy) - r);
            if (a <= 0.0)
                continue;
            unsigned char *p = row + 3 * (size_t)xx;
            for (int k = 0; k < 3; k++)
                p[k] = (unsigned char)lrint(p[k] + a * (marks[m].rgb[k] - p[k]));
        }
    }
}

/* What the libpng callbacks share with the writer. */
typedef struct png_io {
    FILE *f;
    int err_no;       /* errno of a failed write, 0 if libpng itself failed */
    char msg[256];    /* libpng's error message */
} png_io;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_io *io = png_get_error_ptr(png);
    snprintf(io->msg, sizeof io->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* libpng prints warnings to stderr unless given a handler; a library must not. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_png_write(png_structp png, png_bytep data, size_t len)
{
    png_io *io = png_get_io_ptr(png);
    if (fwrite(data, 1, len, io->f) != len) {
        io->err_no = errno;
        png_error(png, "write error");
    }
}

static void on_png_flush(png_structp png)
{
    png_io *io = png_get_io_ptr(png);
    if (fflush(io->f) != 0) {
        io->err_no = errno;
        png_error(png, "write error");
    }
}

/* Everything the encoder needs besides the file. */
typedef struct preview {
    const view *v;
    const stretch *st;
    const sl_marker *marks;
    int n_marks, scale, colour;
    unsigned char *base, *row; /* w and w * scale pixels, 3 bytes each */
} preview;

/* Encodes the PNG into io->f; on failure io says why.  Nothing here may change
 * a local variable between setjmp and a longjmp that reads it. */
static int encode(const preview *p, png_io *io)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, io, on_png_error,
                                              on_png_warning);
    if (!png) {
        snprintf(io->msg, sizeof io->msg, "cannot start libpng (out of memory?)");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(io->msg, sizeof io->msg, "cannot start libpng (out of memory?)");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    int ww = p->v->w * p->scale, hh = p->v->h * p->scale;
    png_set_write_fn(png, io, on_png_write, on_png_flush);
    png_set_IHDR(png, info, (png_uint_32)ww, (png_uint_32)hh, 8,
                 p->colour ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < p->v->h; y++) {
        render_row(p->v, p->st, y, p->base);
        for (int sy = 0; sy < p->scale; sy++) {
            for (int x = 0; x < ww; x++)
                memcpy(p->row + 3 * (size_t)x, p->base + 3 * (size_t)(x / p->scale), 3);
            draw_markers(p->marks, p->n_marks, p->scale, y * p->scale + sy, ww, p->row);
            if (!p->colour) /* grey: keep one byte of each (equal) triple */
                for (int x = 0; x < ww; x++)
                    p->row[x] = p->row[3 * (size_t)x];
            png_write_row(png, p->row);
        }
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

static int check_args(const char *path, const float *pixels, int w, int h, int n_bands,
                      const sl_marker *marks, int n_marks, int scale, sl_err *err)
{
    if (!pixels || w < 1 || h < 1 || n_bands < 1)
        return sl_err_set(err, "%s: no image to preview (%d x %d pixels, %d bands)", path,
                          w, h, n_bands);
    if (scale < 1 || scale > SL_PNG_MAX_SCALE)
        return sl_err_set(err, "%s: preview scale %d is not in 1..%d", path, scale,
                          SL_PNG_MAX_SCALE);
    if ((long)w * scale > MAX_PNG_SIDE || (long)h * scale > MAX_PNG_SIDE)
        return sl_err_set(err, "%s: preview of %ld x %ld pixels is over the PNG limit of %ld",
                          path, (long)w * scale, (long)h * scale, MAX_PNG_SIDE);
    if (n_marks < 0 || (n_marks > 0 && !marks))
        return sl_err_set(err, "%s: bad marker list (%d markers)", path, n_marks);
    for (int m = 0; m < n_marks; m++)
        if (!isfinite(marks[m].x) || !isfinite(marks[m].y) || !isfinite(marks[m].r) ||
            marks[m].r < 0.0)
            return sl_err_set(err, "%s: marker %d has centre (%g, %g) and radius %g", path, m,
                              marks[m].x, marks[m].y, marks[m].r);
    return 0;
}

static int any_colour_marker(const sl_marker *marks, int n_marks)
{
    for (int m = 0; m < n_marks; m++)
        if (marks[m].rgb[0] != marks[m].rgb[1] || marks[m].rgb[1] != marks[m].rgb[2])
            return 1;
    return 0;
}

/* Writes the encoded PNG through stdio onto the temporary file, then renames
 * it into place; removes it on any failure. */
static int write_file(const char *path, const preview *p, sl_err *err)
{
    char *tmp = NULL;
    int fd = sl_output_create(path, &tmp, err);
    if (fd < 0)
        return -1;
    int tracked = tmp ? sl_cleanup_track(tmp) : -1; /* removed if we are killed */
    png_io io = {.f = fdopen(fd, "wb")};
    if (!io.f) {
        sl_err_set(err, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    if (encode(p, &io) < 0) {
        if (io.err_no)
            sl_err_set(err, "%s: write error: %s", path, strerror(io.err_no));
        else
            sl_err_set(err, "%s: libpng: %s", path, io.msg);
        fclose(io.f);
        goto fail;
    }
    if (fflush(io.f) != 0 || ferror(io.f)) {
        sl_err_set(err, "%s: write error: %s", path, strerror(errno));
        fclose(io.f);
        goto fail;
    }
    /* sl_output_commit syncs and closes a descriptor; fclose must close its own. */
    int fd2 = dup(fileno(io.f));
    int saved = errno;
    if (fclose(io.f) != 0 && fd2 >= 0) {
        sl_err_set(err, "%s: write error: %s", path, strerror(errno));
        close(fd2);
        goto fail;
    }
    if (fd2 < 0) {
        sl_err_set(err, "%s: cannot write: %s", path, strerror(saved));
        goto fail;
    }
    int rc = sl_output_commit(fd2, tmp, path, err);
    sl_cleanup_drop(tracked);
    free(tmp);
    return rc;
fail:
    if (tmp)
        unlink(tmp);
    sl_cleanup_drop(tracked);
    free(tmp);
    return -1;
}

int sl_png_write_preview(const char *path, const float *pixels, int w, int h, int n_bands,
                         const double *background, const sl_marker *marks, int n_marks,
                         int scale, sl_err *err)
{
    if (check_args(path, pixels, w, h, n_bands, marks, n_marks, scale, err) < 0)
        return -1;
    view v;
    stretch st;
    size_t n_bad = 0;
    view_init(&v, pixels, w, h, n_bands, background);
    if (stretch_choose(&v, &st, &n_bad, err) < 0)
        return sl_err_prefix(err, "%s", path);
    preview p = {
        .v = &v, .st = &st, .marks = marks, .n_marks = n_marks, .scale = scale,
        .colour = v.n_chan == 3 || n_bad > 0 || any_colour_marker(marks, n_marks),
        .base = malloc(3 * (size_t)w),
        .row = malloc(3 * (size_t)w * scale),
    };
    int rc;
    if (!p.base || !p.row)
        rc = sl_err_set(err, "%s: out of memory for a %d-pixel-wide preview", path, w * scale);
    else
        rc = write_file(path, &p, err);
    free(p.base);
    free(p.row);
    return rc;
}
