/* svg.c: SVG plots (see svg.h). */
#include "svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "output.h"
#include "vec.h"

static void put(sl_svg *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sl_svg *s, const char *fmt, ...)
{
    if (s->oom || s->closed == 2) /* nothing after the end of the document */
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            s->oom = 1;
            return;
        }
        if ((size_t)k < s->cap - s->len) {
            s->len += (size_t)k;
            return;
        }
        if (sl_vec_grow((void **)&s->buf, &s->cap, s->len + (size_t)k + 1, 1, NULL) < 0) {
            s->oom = 1;
            return;
        }
    }
}

/* Text content with the characters XML reserves escaped. */
static void put_text(sl_svg *s, const char *t)
{
    for (; *t; t++) {
        switch (*t) {
        case '&': put(s, "&amp;"); break;
        case '<': put(s, "&lt;"); break;
        case '>': put(s, "&gt;"); break;
        case '"': put(s, "&quot;"); break;
        default: put(s, "%c", *t);
        }
    }
}

int sl_svg_ticks(double lo, double hi, int max_ticks, double *ticks)
{
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi) || max_ticks < 2 ||
        max_ticks > SL_SVG_MAX_TICKS)
        return 0;
    double base = pow(10, floor(log10((hi - lo) / max_ticks)));
    static const double mult[] = {1, 2, 5, 10, 20};
    for (int k = 0; k < 5; k++) {
        double step = base * mult[k];
        double first = ceil(lo / step - 1e-9) * step;
        int n = (int)floor((hi - first) / step + 1e-9) + 1;
        if (n > max_ticks)
            continue;
        for (int i = 0; i < n; i++) {
            double t = first + i * step;
            /* Snap rounding noise, and never print "-0". */
            ticks[i] = fabs(t) < step * 1e-9 ? 0 : t;
        }
        return n;
    }
    return 0; /* not reached: step 20 base always fits */
}

double sl_svg_px(const sl_svg *s, double x)
{
    return s->left + (x - s->x0) / (s->x1 - s->x0) * (s->right - s->left);
}

double sl_svg_py(const sl_svg *s, double y)
{
    return s->bottom - (y - s->y0) / (s->y1 - s->y0) * (s->bottom - s->top);
}

int sl_svg_begin(sl_svg *s, int width, int height, const char *title, const char *xlabel,
                 const char *ylabel, double x0, double x1, double y0, double y1, sl_err *err)
{
    memset(s, 0, sizeof *s);
    if (width < 120 || height < 120 || width > 10000 || height > 10000)
        return sl_err_set(err, "plot of %d x %d pixels: out of range [120, 10000]", width, height);
    if (!(x0 < x1) || !(y0 < y1) || !isfinite(x0) || !isfinite(x1) || !isfinite(y0) ||
        !isfinite(y1))
        return sl_err_set(err, "plot '%s': empty or non-finite range [%g, %g] x [%g, %g]",
                          title, x0, x1, y0, y1);
    s->width = width, s->height = height;
    s->x0 = x0, s->x1 = x1, s->y0 = y0, s->y1 = y1;
    /* Margins for tick values and labels on the left and bottom, the title on top. */
    s->left = 64, s->right = width - 16, s->top = 36, s->bottom = height - 48;
    put(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    put(s, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
           "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
        width, height, width, height);
    put(s, "<title>");
    put_text(s, title);
    put(s, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    put(s, "<defs><clipPath id=\"frame\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
           "height=\"%.2f\"/></clipPath></defs>\n",
        s->left, s->top, s->right - s->left, s->bottom - s->top);
    double ticks[SL_SVG_MAX_TICKS];
    int n = sl_svg_ticks(x0, x1, 8, ticks);
    for (int i = 0; i < n; i++) {
        double px = sl_svg_px(s, ticks[i]);
        put(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>\n",
            px, s->top, px, s->bottom);
        put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%g</text>\n", px,
            s->bottom + 16, ticks[i]);
    }
    n = sl_svg_ticks(y0, y1, 8, ticks);
    for (int i = 0; i < n; i++) {
        double py = sl_svg_py(s, ticks[i]);
        put(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>\n",
            s->left, py, s->right, py);
        put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%g</text>\n", s->left - 6,
            py + 4, ticks[i]);
    }
    put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
           "stroke=\"black\"/>\n",
        s->left, s->top, s->right - s->left, s->bottom - s->top);
    put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"14\">",
        width / 2.0, 22.0);
    put_text(s, title);
    put(s, "</text>\n<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
        (s->left + s->right) / 2, height - 12.0);
    put_text(s, xlabel);
    put(s, "</text>\n<text x=\"16\" y=\"%.2f\" text-anchor=\"middle\" "
           "transform=\"rotate(-90 16 %.2f)\">",
        (s->top + s->bottom) / 2, (s->top + s->bottom) / 2);
    put_text(s, ylabel);
    put(s, "</text>\n<g clip-path=\"url(#frame)\">\n");
    return 0;
}

void sl_svg_free(sl_svg *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

void sl_svg_polyline(sl_svg *s, const double *x, const double *y, int n, const char *color,
                     double stroke_width, int dashed)
{
    int open = 0;
    for (int i = 0; i <= n; i++) {
        int ok = i < n && isfinite(x[i]) && isfinite(y[i]);
        if (ok && !open) {
            put(s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%g\"%s points=\"",
                color, stroke_width, dashed ? " stroke-dasharray=\"5,4\"" : "");
            open = 1;
        }
        if (ok)
            put(s, "%.2f,%.2f ", sl_svg_px(s, x[i]), sl_svg_py(s, y[i]));
        else if (open) {
            put(s, "\"/>\n");
            open = 0;
        }
    }
}

void sl_svg_points(sl_svg *s, const double *x, const double *y, int n, const char *color,
                   double radius)
{
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            put(s, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%g\" fill=\"%s\"/>\n", sl_svg_px(s, x[i]),
                sl_svg_py(s, y[i]), radius, color);
}

void sl_svg_errorbars(sl_svg *s, const double *x, const double *lo, const double *hi, int n,
                      const char *color)
{
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(lo[i]) || !isfinite(hi[i]))
            continue;
        double px = sl_svg_px(s, x[i]), a = sl_svg_py(s, lo[i]), b = sl_svg_py(s, hi[i]);
        put(s,
            "<path stroke=\"%s\" fill=\"none\" d=\"M%.2f,%.2fV%.2fM%.2f,%.2fh6M%.2f,%.2fh6\"/>\n",
            color, px, a, b, px - 3, a, px - 3, b);
    }
}

void sl_svg_bars(sl_svg *s, const double *edges, const double *height, int n, const char *fill)
{
    for (int i = 0; i < n; i++) {
        if (!isfinite(edges[i]) || !isfinite(edges[i + 1]) || !isfinite(height[i]))
            continue;
        double a = sl_svg_px(s, edges[i]), b = sl_svg_px(s, edges[i + 1]);
        double top = sl_svg_py(s, height[i]), base = sl_svg_py(s, 0);
        put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
               "stroke=\"white\" stroke-width=\"0.5\"/>\n",
            a, fmin(top, base), fabs(b - a), fabs(base - top), fill);
    }
}

void sl_svg_band(sl_svg *s, const double *x, const double *lo, const double *hi, int n,
                 const char *fill, double opacity)
{
    int any = 0;
    for (int i = 0; i < n; i++)
        any |= isfinite(x[i]) && isfinite(lo[i]) && isfinite(hi[i]);
    if (!any)
        return;
    put(s, "<polygon fill=\"%s\" fill-opacity=\"%g\" stroke=\"none\" points=\"", fill, opacity);
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(lo[i]) && isfinite(hi[i]))
            put(s, "%.2f,%.2f ", sl_svg_px(s, x[i]), sl_svg_py(s, hi[i]));
    for (int i = n - 1; i >= 0; i--)
        if (isfinite(x[i]) && isfinite(lo[i]) && isfinite(hi[i]))
            put(s, "%.2f,%.2f ", sl_svg_px(s, x[i]), sl_svg_py(s, lo[i]));
    put(s, "\"/>\n");
}

void sl_svg_legend(sl_svg *s, const char *label, const char *color)
{
    if (s->n_legend == SL_SVG_MAX_LEGEND)
        return;
    snprintf(s->legend_label[s->n_legend], sizeof s->legend_label[0], "%s", label);
    snprintf(s->legend_color[s->n_legend], sizeof s->legend_color[0], "%s", color);
    s->n_legend++;
}

void sl_svg_note(sl_svg *s, const char *text)
{
    if (s->n_notes == SL_SVG_MAX_NOTES)
        return;
    snprintf(s->note[s->n_notes], sizeof s->note[0], "%s", text);
    s->n_notes++;
}

const char *sl_svg_text(sl_svg *s)
{
    if (s->closed)
        return s->oom ? NULL : s->buf;
    s->closed = 1;
    put(s, "</g>\n");
    for (int i = 0; i < s->n_legend; i++) {
        double y = s->top + 14 + 16 * i;
        put(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"10\" height=\"10\" fill=\"%s\"/>\n",
            s->left + 8, y - 9, s->legend_color[i]);
        put(s, "<text x=\"%.2f\" y=\"%.2f\">", s->left + 22, y);
        put_text(s, s->legend_label[i]);
        put(s, "</text>\n");
    }
    for (int i = 0; i < s->n_notes; i++) {
        double y = s->bottom - 8 - 15 * (s->n_notes - 1 - i);
        put(s, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" font-style=\"italic\" "
               "fill=\"#b03030\">", s->right - 8, y);
        put_text(s, s->note[i]);
        put(s, "</text>\n");
    }
    put(s, "</svg>\n");
    s->closed = 2;
    return s->oom ? NULL : s->buf;
}

int sl_svg_write(sl_svg *s, const char *path, sl_err *err)
{
    const char *text = sl_svg_text(s);
    if (!text)
        return sl_err_set(err, "%s: out of memory drawing the plot", path);
    sl_textout out;
    if (sl_textout_open(&out, path, err) < 0)
        return -1;
    int tracked = out.tmp ? sl_cleanup_track(out.tmp) : -1; /* removed if we are killed */
    fputs(text, out.f);
    /* A closed pipe (path "-") is the reader's choice, not an error. */
    int rc = sl_textout_close(&out, err) < 0 ? -1 : 0;
    sl_cleanup_drop(tracked);
    return rc;
}
