/* frame.c: survey FITS files to an image in electrons (see frame.h).
 *
 * Two passes over the files: the first opens each one, reads only its
 * header (size, layout, gain, filter, WCS) and checks everything that can
 * be checked before pixels are read, so that a bad last file fails before
 * any large allocation; the second reads one plane at a time straight into
 * the output image. */
#include "frame.h"

#include <fitsio.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fits.h"
#include "wcs.h"

/* What the first pass learns about one file. */
typedef struct band_info {
    int w, h;
    int sdss;          /* SDSS frame layout (frame.h) */
    char filter[16];   /* FILTER keyword, "" if absent */
    double gain;       /* e-/ADU */
} band_info;

void sl_frame_opts_init(sl_frame_opts *o)
{
    memset(o, 0, sizeof *o);
    o->background = NAN;
}

/* ---- small helpers ---- */

static int grow(float **buf, size_t *cap, size_t n, sl_err *err)
{
    if (n <= *cap)
        return 0;
    float *p = realloc(*buf, n * sizeof *p);
    if (!p)
        return sl_err_set(err, "out of memory for %zu pixels", n);
    *buf = p;
    *cap = n;
    return 0;
}

/* Splits "g,r,i" into n names; each 1 to 15 characters, no blanks. */
static int parse_band_names(const char *list, int n, char names[][16], sl_err *err)
{
    const char *s = list;
    for (int b = 0; b < n; b++) {
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= 16 || memchr(s, ' ', len))
            return sl_err_set(err, "band names \"%s\": name %d is empty, longer than 15 "
                              "characters or has a blank", list, b + 1);
        memcpy(names[b], s, len);
        names[b][len] = '\0';
        s += len;
        if (*s == ',')
            s++;
        else if (b + 1 < n)
            return sl_err_set(err, "band names \"%s\": %d names for %d files", list,
                              b + 1, n);
    }
    if (*s)
        return sl_err_set(err, "band names \"%s\": more names than the %d files", list, n);
    return 0;
}

/* Column number (1-based) of the table column called name, 0 if none. */
static int table_column(sl_fits *f, const char *name)
{
    double nfields = 0;
    if (sl_fits_key_double(f, "TFIELDS", &nfields, NULL))
        return 0;
    for (int i = 1; i <= (int)nfields && i < 1000; i++) {
        char key[24], val[72];
        snprintf(key, sizeof key, "TTYPE%d", i);
        if (sl_fits_key_string(f, key, val, sizeof val, NULL) == 0 && !strcasecmp(val, name))
            return i;
    }
    return 0;
}

/* The image size from the header, so that absurd sizes are refused before
 * anything is allocated.  Leaves *w = *h = 0 when the header does not say
 * (a table, say); sl_fits_read_image then gives the precise error. */
static void header_size(sl_fits *f, long long *w, long long *h)
{
    double n1 = 0, n2 = 0, naxis = 0;
    char xt[72] = "";
    *w = *h = 0;
    if (sl_fits_has_key(f, "ZIMAGE")) { /* tile-compressed: sizes in ZNAXISn */
        if (sl_fits_key_double(f, "ZNAXIS1", &n1, NULL) || sl_fits_key_double(f, "ZNAXIS2", &n2, NULL))
            return;
    } else {
        if (sl_fits_has_key(f, "XTENSION") &&
            (sl_fits_key_string(f, "XTENSION", xt, sizeof xt, NULL) || strcasecmp(xt, "IMAGE")))
            return;
        if (sl_fits_key_double(f, "NAXIS", &naxis, NULL) || naxis < 2 ||
            sl_fits_key_double(f, "NAXIS1", &n1, NULL) || sl_fits_key_double(f, "NAXIS2", &n2, NULL))
            return;
    }
    /* Converted only when in range (NaN and 1E300 are not): out of range is
     * left to the reader, as for a header that does not say. */
    if (!(n1 >= 0 && n1 <= 1e15 && n2 >= 0 && n2 <= 1e15))
        return;
    *w = (long long)n1;
    *h = (long long)n2;
}

/* A keyword holding a whole number in [0, INT32_MAX] (FIELD, RUN, CAMCOL),
 * needed to read the gain from photoField file pf. */
static int key_whole(sl_fits *f, const char *path, const char *key, const char *pf, double *v,
                     sl_err *err)
{
    if (sl_fits_key_double(f, key, v, err))
        return sl_err_prefix(err, "reading the gain from %s", pf);
    if (!(*v >= 0 && *v <= INT32_MAX && *v == floor(*v)))
        return sl_err_set(err, "%s: HDU %d: keyword %s = %g is not a whole number from 0 to %d "
                          "(needed to read the gain from %s)", path, sl_fits_hdu(f), key, *v,
                          INT32_MAX, pf);
    return 0;
}

/* ---- header pass ---- */

/* The SDSS frame layout: the image is HDU 0, HDU 1 a 1-D image of one value
 * per column, HDU 2 a table with ALLSKY, XINTERP and YINTERP.  Leaves the
 * handle on HDU 0.  Returns 1, 0, or -1 on a read error. */
static int is_sdss_frame(sl_fits *f, int w, sl_err *err)
{
    if (sl_fits_hdu(f) != 0)
        return 0;
    int n = sl_fits_count_hdus(f, err);
    if (n < 0)
        return -1;
    if (n < 3)
        return 0;
    int yes = 0;
    double naxis = 0, n1 = 0;
    if (sl_fits_goto(f, 1, err))
        return -1;
    if (sl_fits_key_double(f, "NAXIS", &naxis, NULL) == 0 && naxis == 1 &&
        sl_fits_key_double(f, "NAXIS1", &n1, NULL) == 0 && n1 == w) {
        if (sl_fits_goto(f, 2, err))
            return -1;
        yes = table_column(f, "ALLSKY") && table_column(f, "XINTERP") &&
              table_column(f, "YINTERP");
    }
    return sl_fits_goto(f, 0, err) ? -1 : yes;
}

/* GAIN from the photoField row of this file's field (FIELD keyword, or
 * FRAME in SDSS frames) and filter.  f is on the image HDU. */
static int photofield_gain(const char *pf, sl_fits *f, const char *path,
                           const char *filter, double *gain, sl_err *err)
{
    static const char bands[] = "ugriz";
    int hdu = sl_fits_hdu(f);
    const char *at = filter[0] && !filter[1] ? strchr(bands, filter[0]) : NULL;
    if (!filter[0])
        return sl_err_set(err, "%s: HDU %d: keyword FILTER not found (needed to read the "
                          "gain from %s)", path, hdu, pf);
    if (!at)
        return sl_err_set(err, "%s: HDU %d: FILTER = '%s' is not one of ugriz (needed to "
                          "read the gain from %s)", path, hdu, filter, pf);
    const char *fkey = sl_fits_has_key(f, "FIELD") ? "FIELD" : "FRAME";
    double field, run = -1, camcol = -1;
    if (key_whole(f, path, fkey, pf, &field, err))
        return -1;
    int check_run = sl_fits_has_key(f, "RUN") && sl_fits_has_key(f, "CAMCOL");
    if (check_run && (key_whole(f, path, "RUN", pf, &run, err) ||
                      key_whole(f, path, "CAMCOL", pf, &camcol, err)))
        return -1;
    sl_fits *t = sl_fits_open(pf, err);
    if (!t)
        return -1;
    long rows = sl_fits_table_rows(t, err), row = -1;
    int rc = rows < 0 ? -1 : 0;
    for (long r = 0; r < rows && rc == 0 && row < 0; r++) {
        long long v;
        rc = sl_fits_column_llong(t, "FIELD", r, &v, 1, err);
        if (rc == 0 && v == (long long)field)
            row = r;
    }
    double g[5];
    if (rc == 0 && row < 0)
        rc = sl_err_set(err, "%s: no row for field %.0f (the %s of %s)", pf, field, fkey, path);
    if (rc == 0 && check_run && table_column(t, "RUN") && table_column(t, "CAMCOL")) {
        long long r2, c2;
        rc = sl_fits_column_llong(t, "RUN", row, &r2, 1, err);
        if (rc == 0)
            rc = sl_fits_column_llong(t, "CAMCOL", row, &c2, 1, err);
        if (rc == 0 && (r2 != (long long)run || c2 != (long long)camcol))
            rc = sl_err_set(err, "%s: run %lld camcol %lld, but %s is run %.0f camcol %.0f",
                            pf, r2, c2, path, run, camcol);
    }
    if (rc == 0)
        rc = sl_fits_column_double(t, "GAIN", row, g, 5, err);
    sl_fits_close(t);
    if (rc)
        return -1;
    *gain = g[at - bands];
    if (!(*gain > 0 && isfinite(*gain)))
        return sl_err_set(err, "%s: row %ld: GAIN of band %s is %g", pf, row, filter, *gain);
    return 0;
}

static int find_gain(const sl_frame_opts *o, sl_fits *f, const char *path,
                     band_info *bi, sl_err *err)
{
    if (o->gain > 0) {
        bi->gain = o->gain;
        return 0;
    }
    if (o->photofield)
        return photofield_gain(o->photofield, f, path, bi->filter, &bi->gain, err);
    if (!sl_fits_has_key(f, "GAIN"))
        return sl_err_set(err, "%s: gain unknown (no GAIN keyword in HDU %d): give --gain%s",
                          path, sl_fits_hdu(f), bi->sdss ? " or --photofield" : "");
    if (sl_fits_key_double(f, "GAIN", &bi->gain, err))
        return -1;
    if (!(bi->gain > 0 && isfinite(bi->gain)))
        return sl_err_set(err, "%s: HDU %d: GAIN = %g, want > 0", path, sl_fits_hdu(f),
                          bi->gain);
    return 0;
}

/* Degrees per unit of a CUNITn value, or 0 for a unit we do not know. */
static double angle_unit(sl_fits *f, int axis)
{
    char key[16], unit[72] = "deg";
    snprintf(key, sizeof key, "CUNIT%d", axis);
    if (sl_fits_has_key(f, key) && sl_fits_key_string(f, key, unit, sizeof unit, NULL))
        return 0;
    return !strcasecmp(unit, "deg") || !unit[0] ? 1.0
           : !strcasecmp(unit, "arcmin")        ? 1.0 / 60
           : !strcasecmp(unit, "arcsec")        ? 1.0 / 3600
                                                : 0;
}

/* Arcsec per pixel from the WCS: the square root of the Jacobian's
 * determinant (a pixel's area), from the CD matrix or CDELT times PC.
 * Returns 0 with *scale = 0 when the header has neither. */
static int wcs_scale(sl_fits *f, const char *path, double *scale, sl_err *err)
{
    static const char *const cd[4] = {"CD1_1", "CD1_2", "CD2_1", "CD2_2"};
    static const char *const pc[4] = {"PC1_1", "PC1_2", "PC2_1", "PC2_2"};
    double m[4] = {0, 0, 0, 0}, unit = angle_unit(f, 1);
    int have_cd = 0;
    for (int i = 0; i < 4; i++)
        have_cd |= sl_fits_has_key(f, cd[i]);
    *scale = 0;
    if (have_cd) {
        for (int i = 0; i < 4; i++)
            if (sl_fits_has_key(f, cd[i]) && sl_fits_key_double(f, cd[i], &m[i], err))
                return -1;
    } else if (sl_fits_has_key(f, "CDELT1") && sl_fits_has_key(f, "CDELT2")) {
        double d1, d2;
        m[0] = m[3] = 1;
        for (int i = 0; i < 4; i++)
            if (sl_fits_has_key(f, pc[i]) && sl_fits_key_double(f, pc[i], &m[i], err))
                return -1;
        if (sl_fits_key_double(f, "CDELT1", &d1, err) || sl_fits_key_double(f, "CDELT2", &d2, err))
            return -1;
        m[0] *= d1, m[1] *= d1, m[2] *= d2, m[3] *= d2;
    } else {
        return 0;
    }
    double det = fabs(m[0] * m[3] - m[1] * m[2]);
    if (!(unit > 0) || unit != angle_unit(f, 2))
        return sl_err_set(err, "%s: HDU %d: CUNIT1/CUNIT2 not deg, arcmin or arcsec alike",
                          path, sl_fits_hdu(f));
    *scale = sqrt(det) * unit * 3600;
    if (!(*scale > 0 && *scale < 3600))
        return sl_err_set(err, "%s: HDU %d: WCS gives a pixel scale of %g arcsec", path,
                          sl_fits_hdu(f), *scale);
    return 0;
}

/* The celestial WCS of the file's HDU as its cards (NULL when it has none). */
static int read_wcs(sl_fits *f, const char *path, char **wcs, sl_err *err)
{
    char *header;
    int nkeys;
    if (sl_fits_header(f, &header, &nkeys, err) < 0)
        return -1;
    int rc = sl_wcs_cards_from_header(header, nkeys, wcs, err);
    free(header);
    if (rc < 0)
        sl_err_prefix(err, "%s: HDU %d", path, sl_fits_hdu(f));
    return rc;
}

/* First pass over one file; its WCS too when wcs is not NULL. */
static int inspect(const sl_frame_opts *o, const char *path, band_info *bi,
                   double *scale, char **wcs, sl_err *err)
{
    sl_fits *f = sl_fits_open(path, err);
    if (!f)
        return -1;
    long long w, h;
    int rc = 0;
    header_size(f, &w, &h);
    if (w == 0) { /* not a plain image header: let the reader say why */
        int iw, ih;
        float *pix = sl_fits_read_image(f, &iw, &ih, NULL, err);
        rc = pix ? sl_err_set(err, "%s: HDU %d: cannot find the image size in the header",
                              path, sl_fits_hdu(f))
                 : -1;
        free(pix);
    } else if (w < 1 || h < 1 || w > SL_MAX_SIDE || h > SL_MAX_SIDE) {
        rc = sl_err_set(err, "%s: HDU %d: image of %lld x %lld pixels, want 1 to %d a side",
                        path, sl_fits_hdu(f), w, h, SL_MAX_SIDE);
    }
    if (rc == 0) {
        bi->w = (int)w;
        bi->h = (int)h;
        bi->sdss = is_sdss_frame(f, bi->w, err);
        rc = bi->sdss < 0 ? -1 : 0;
    }
    if (rc == 0 && sl_fits_has_key(f, "FILTER") &&
        sl_fits_key_string(f, "FILTER", bi->filter, sizeof bi->filter, NULL))
        bi->filter[0] = '\0'; /* too long to be a band name: ignore */
    if (rc == 0)
        rc = find_gain(o, f, path, bi, err);
    if (rc == 0)
        rc = wcs_scale(f, path, scale, err);
    if (rc == 0 && wcs)
        rc = read_wcs(f, path, wcs, err);
    sl_fits_close(f);
    return rc;
}

/* ---- SDSS frames ---- */

/* HDU 1, the calibration vector.  fits.h reads 2-D images only, so this
 * one 1-D read goes to cfitsio directly. */
static int read_calib(const char *path, int w, double *calib, sl_err *err)
{
    fitsfile *fp = NULL;
    int status = 0, type, anynul = 0;
    if (!fits_open_file(&fp, path, READONLY, &status))
        fits_movabs_hdu(fp, 2, &type, &status);
    if (!status)
        fits_read_img(fp, TDOUBLE, 1, w, NULL, calib, &anynul, &status);
    if (fp) {
        int st = 0;
        fits_close_file(fp, &st);
    }
    if (status) {
        char text[FLEN_STATUS];
        fits_get_errstatus(status, text);
        return sl_err_set(err, "%s: HDU 1: cannot read the calibration vector: %s", path, text);
    }
    for (int x = 0; x < w; x++)
        if (!(calib[x] > 0 && isfinite(calib[x])))
            return sl_err_set(err, "%s: HDU 1: calibration %g at column %d, want > 0", path,
                              calib[x], x);
    return 0;
}

/* The sky table of HDU 2: ALLSKY (counts, nx x ny, TDIM) and where each
 * image column and row falls on that grid. */
typedef struct sky_grid {
    int nx, ny;
    double *g;          /* [ny][nx] */
    double *xi, *yi;    /* XINTERP[w], YINTERP[h] */
} sky_grid;

static void sky_free(sky_grid *s)
{
    free(s->g);
    free(s->xi);
    free(s->yi);
}

static int all_finite(const double *v, long n)
{
    for (long i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static int read_sky(sl_fits *f, const char *path, int w, int h, sky_grid *s, sl_err *err)
{
    char key[16], dim[72];
    memset(s, 0, sizeof *s);
    if (sl_fits_goto(f, 2, err))
        return -1;
    snprintf(key, sizeof key, "TDIM%d", table_column(f, "ALLSKY"));
    if (sl_fits_key_string(f, key, dim, sizeof dim, err))
        return -1;
    if (sscanf(dim, " ( %d , %d )", &s->nx, &s->ny) != 2 || s->nx < 1 || s->ny < 1 ||
        s->nx > 4096 || s->ny > 4096)
        return sl_err_set(err, "%s: HDU 2: %s = '%s', want (nx, ny)", path, key, dim);
    s->g = malloc((size_t)s->nx * s->ny * sizeof *s->g);
    s->xi = malloc((size_t)w * sizeof *s->xi);
    s->yi = malloc((size_t)h * sizeof *s->yi);
    if (!s->g || !s->xi || !s->yi)
        return sl_err_set(err, "%s: HDU 2: out of memory", path);
    if (sl_fits_column_double(f, "ALLSKY", 0, s->g, (long)s->nx * s->ny, err) ||
        sl_fits_column_double(f, "XINTERP", 0, s->xi, w, err) ||
        sl_fits_column_double(f, "YINTERP", 0, s->yi, h, err))
        return -1;
    if (!all_finite(s->g, (long)s->nx * s->ny) || !all_finite(s->xi, w) || !all_finite(s->yi, h))
        return sl_err_set(err, "%s: HDU 2: non-finite values in ALLSKY, XINTERP or YINTERP", path);
    return 0;
}

/* Grid index and weight of coordinate u on n points.  Past the ends the
 * edge value is taken, as IDL's INTERPOLATE does (SDSS frames have XINTERP
 * from -0.44, so their first and last few columns get there). */
static void grid_pos(double u, int n, int *i, double *t)
{
    if (n == 1 || !(u > 0)) {
        *i = 0, *t = 0;
    } else if (u >= n - 1) {
        *i = n - 1, *t = 0;
    } else {
        *i = (int)u;
        *t = u - *i;
    }
}

/* Fills out (electrons, sky kept) and bg (sky electrons) from the image in
 * nanomaggies; returns the zero point through *zp. */
static int sdss_convert(sl_fits *f, const char *path, const float *in, int w, int h,
                        double gain, float *out, float *bg, double *zp, sl_err *err)
{
    sky_grid s;
    double *calib = malloc((size_t)w * sizeof *calib);
    int *ix = malloc((size_t)w * sizeof *ix);
    double *tx = malloc((size_t)w * sizeof *tx);
    int rc = calib && ix && tx ? 0 : sl_err_set(err, "%s: out of memory", path);
    if (rc == 0)
        rc = read_sky(f, path, w, h, &s, err);
    if (rc == 0)
        rc = read_calib(path, w, calib, err);
    if (rc == 0) {
        double per_nmgy = 0;
        for (int x = 0; x < w; x++) {
            grid_pos(s.xi[x], s.nx, &ix[x], &tx[x]);
            per_nmgy += gain / calib[x];
        }
        *zp = 22.5 + 2.5 * log10(per_nmgy / w);
        for (int y = 0; y < h; y++) {
            int j, x1;
            double ty;
            grid_pos(s.yi[y], s.ny, &j, &ty);
            const double *r0 = s.g + (size_t)j * s.nx;
            const double *r1 = j + 1 < s.ny ? r0 + s.nx : r0;
            for (int x = 0; x < w; x++) {
                x1 = ix[x] + 1 < s.nx ? ix[x] + 1 : ix[x];
                double a = r0[ix[x]] + tx[x] * (r0[x1] - r0[ix[x]]);
                double b = r1[ix[x]] + tx[x] * (r1[x1] - r1[ix[x]]);
                double sky = a + ty * (b - a);
                size_t k = (size_t)y * w + x;
                bg[k] = (float)(sky * gain);
                out[k] = (float)((in[k] / calib[x] + sky) * gain);
            }
        }
    }
    sky_free(&s);
    free(calib);
    free(ix);
    free(tx);
    return rc;
}

/* ---- mesh background ---- */

static void swapf(float *a, float *b)
{
    float t = *a;
    *a = *b;
    *b = t;
}

/* Puts the k-th smallest of v[0..n) at v[k] (Hoare's selection), with
 * everything before it no larger and everything after no smaller. */
static float select_kth(float *v, long n, long k)
{
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j)
                swapf(&v[i++], &v[j--]);
        }
        /* Now v[lo..j] <= pivot <= v[i..hi], and anything between equals it. */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

static double median(float *v, long n)
{
    double m = select_kth(v, n, n / 2);
    if (n % 2 == 0) { /* the other middle value is the largest below n/2 */
        float lower = v[0];
        for (long i = 1; i < n / 2; i++)
            if (v[i] > lower)
                lower = v[i];
        m = 0.5 * (m + lower);
    }
    return m;
}

/* Median of v[0..n) after clipping at 3 standard deviations around the
 * median until nothing more is clipped (at most 10 rounds).  Reorders v. */
static double clipped_median(float *v, long n)
{
    double med = median(v, n);
    for (int it = 0; it < 10; it++) {
        double sum = 0, sum2 = 0;
        for (long i = 0; i < n; i++)
            sum += v[i];
        double mean = sum / n;
        for (long i = 0; i < n; i++)
            sum2 += (v[i] - mean) * (v[i] - mean);
        double lim = 3 * sqrt(sum2 / n);
        long m = 0;
        for (long i = 0; i < n; i++)
            if (fabs(v[i] - med) <= lim)
                v[m++] = v[i];
        if (m == n || m == 0)
            break;
        n = m;
        med = median(v, n);
    }
    return med;
}

/* Cells that had too few pixels take the mean of their valid neighbours,
 * ring after ring.  Returns -1 if no cell is valid. */
static int fill_cells(double *g, int nx, int ny)
{
    size_t n = (size_t)nx * ny, missing = 0;
    for (size_t i = 0; i < n; i++)
        missing += isnan(g[i]) != 0;
    if (missing == n)
        return -1;
    double *next = malloc(n * sizeof *next);
    if (!next)
        return -2;
    while (missing > 0) {
        memcpy(next, g, n * sizeof *g);
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                if (!isnan(g[(size_t)j * nx + i]))
                    continue;
                double sum = 0;
                int k = 0;
                for (int dj = -1; dj <= 1; dj++)
                    for (int di = -1; di <= 1; di++) {
                        int a = i + di, b = j + dj;
                        if (a >= 0 && b >= 0 && a < nx && b < ny && !isnan(g[(size_t)b * nx + a])) {
                            sum += g[(size_t)b * nx + a];
                            k++;
                        }
                    }
                if (k > 0) {
                    next[(size_t)j * nx + i] = sum / k;
                    missing--;
                }
            }
        memcpy(g, next, n * sizeof *g);
    }
    free(next);
    return 0;
}

static int imin(int a, int b) { return a < b ? a : b; }

/* 3 x 3 median filter over the cell grid.  At the edges the window shrinks
 * symmetrically (to 1 x 3, or the cell alone in a corner), so that a
 * linear gradient is kept exactly instead of being bent at the border. */
static void median_filter(const double *g, int nx, int ny, double *out)
{
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            int rx = imin(1, imin(i, nx - 1 - i)), ry = imin(1, imin(j, ny - 1 - j));
            float v[9];
            long k = 0;
            for (int dj = -ry; dj <= ry; dj++)
                for (int di = -rx; di <= rx; di++)
                    v[k++] = (float)g[(size_t)(j + dj) * nx + i + di];
            out[(size_t)j * nx + i] = k == 1 ? g[(size_t)j * nx + i] : median(v, k);
        }
}

/* For every pixel coordinate p in [0, n): the cell centre c[i] to its left
 * (the first or last pair past the outer centres) and the weight t of
 * c[i + 1], so that the value is g[i] + t (g[i + 1] - g[i]): linear
 * between centres, extrapolated linearly beyond.  One cell: t = 0. */
static void centre_weights(const double *c, int cells, int n, int *idx, double *t)
{
    int k = 0;
    for (int p = 0; p < n; p++) {
        if (cells == 1) {
            idx[p] = 0, t[p] = 0;
            continue;
        }
        while (k < cells - 2 && p >= c[k + 1])
            k++;
        idx[p] = k;
        t[p] = (p - c[k]) / (c[k + 1] - c[k]);
    }
}

/* Cell values: sigma-clipped medians, NaN for cells mostly masked.  Cell i
 * spans columns [i w / nx, (i + 1) w / nx): sizes differ by one pixel at
 * most, all about mesh.  Also returns the cell centres. */
static void cell_values(const float *img, int w, int h, int nx, int ny, float *buf,
                        double *g, double *cx, double *cy)
{
    for (int j = 0; j < ny; j++) {
        int y0 = (int)((long long)j * h / ny), y1 = (int)((long long)(j + 1) * h / ny);
        cy[j] = 0.5 * (y0 + y1 - 1);
        for (int i = 0; i < nx; i++) {
            int x0 = (int)((long long)i * w / nx), x1 = (int)((long long)(i + 1) * w / nx);
            cx[i] = 0.5 * (x0 + x1 - 1);
            long n = 0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    if (isfinite(img[(size_t)y * w + x]))
                        buf[n++] = img[(size_t)y * w + x];
            /* A cell mostly masked says little about the sky: its
             * neighbours decide instead (fill_cells). */
            long need = (long)(x1 - x0) * (y1 - y0) / 10;
            g[(size_t)j * nx + i] = n > 0 && n >= need ? clipped_median(buf, n) : NAN;
        }
    }
}

int sl_frame_background(const float *img, int w, int h, int mesh, float *bg, sl_err *err)
{
    if (mesh < 4)
        return sl_err_set(err, "background mesh of %d pixels, want at least 4", mesh);
    if (w < 1 || h < 1)
        return sl_err_set(err, "background: image of %d x %d pixels", w, h);
    int nx = w / mesh + (w % mesh >= (mesh + 1) / 2), ny = h / mesh + (h % mesh >= (mesh + 1) / 2);
    nx = nx < 1 ? 1 : nx;
    ny = ny < 1 ? 1 : ny;
    size_t cells = (size_t)nx * ny, cap = (size_t)(w / nx + 1) * (h / ny + 1);
    double *g = malloc(cells * sizeof *g), *gf = malloc(cells * sizeof *gf);
    double *cx = malloc((size_t)nx * sizeof *cx), *cy = malloc((size_t)ny * sizeof *cy);
    double *tx = malloc((size_t)w * sizeof *tx), *ty = malloc((size_t)h * sizeof *ty);
    int *ix = malloc((size_t)w * sizeof *ix), *iy = malloc((size_t)h * sizeof *iy);
    float *buf = malloc(cap * sizeof *buf);
    int rc = 0, fill = 0;
    if (!g || !gf || !cx || !cy || !tx || !ty || !ix || !iy || !buf)
        rc = sl_err_set(err, "background: out of memory");
    if (rc == 0) {
        cell_values(img, w, h, nx, ny, buf, g, cx, cy);
        fill = fill_cells(g, nx, ny);
        if (fill == -1)
            rc = sl_err_set(err, "background: no finite pixel in the %d x %d image", w, h);
        else if (fill < 0)
            rc = sl_err_set(err, "background: out of memory");
    }
    if (rc == 0) {
        median_filter(g, nx, ny, gf);
        centre_weights(cx, nx, w, ix, tx);
        centre_weights(cy, ny, h, iy, ty);
        for (int y = 0; y < h; y++) {
            const double *r0 = gf + (size_t)iy[y] * nx, *r1 = ny > 1 ? r0 + nx : r0;
            for (int x = 0; x < w; x++) {
                int i = ix[x], i1 = nx > 1 ? i + 1 : i;
                double a = r0[i] + tx[x] * (r0[i1] - r0[i]);
                double b = r1[i] + tx[x] * (r1[i1] - r1[i]);
                bg[(size_t)y * w + x] = (float)(a + ty[y] * (b - a));
            }
        }
    }
    free(g);
    free(gf);
    free(cx);
    free(cy);
    free(tx);
    free(ty);
    free(ix);
    free(iy);
    free(buf);
    return rc;
}

/* ---- pixel pass ---- */

/* Reads band b's plane into img (pixels, and the background map when img
 * has one), and replaces non-finite pixels by the background. */
static int load_plane(const sl_frame_opts *o, const char *path, const band_info *bi, int b,
                      sl_image *img, long *n_bad, sl_err *err)
{
    sl_fits *f = sl_fits_open(path, err);
    if (!f)
        return -1;
    int w, h, rc = 0;
    size_t plane = (size_t)img->width * img->height;
    float *in = sl_fits_read_image(f, &w, &h, NULL, err);
    if (!in)
        rc = -1;
    else if (w != img->width || h != img->height) /* the header said otherwise */
        rc = sl_err_set(err, "%s: HDU %d: image is %d x %d, its header %d x %d", path,
                        sl_fits_hdu(f), w, h, img->width, img->height);
    float *out = img->pixels + b * plane;
    float *bg = img->background_map ? img->background_map + b * plane : NULL;
    if (rc == 0 && bi->sdss) {
        rc = sdss_convert(f, path, in, w, h, bi->gain, out, bg, &img->zero_point[b], err);
    } else if (rc == 0) {
        for (size_t k = 0; k < plane; k++)
            out[k] = (float)(in[k] * bi->gain);
        if (isnan(o->background)) {
            rc = sl_frame_background(out, w, h, o->mesh > 0 ? o->mesh : SL_FRAME_MESH, bg, err);
            if (rc)
                sl_err_prefix(err, "%s", path);
        } else if (bg) {
            for (size_t k = 0; k < plane; k++)
                bg[k] = (float)o->background;
        }
    }
    sl_fits_close(f);
    free(in);
    if (rc)
        return -1;
    long bad = 0;
    double sum = 0;
    for (size_t k = 0; k < plane; k++) {
        double level = bg ? bg[k] : o->background;
        if (!isfinite(out[k])) {
            out[k] = (float)level;
            bad++;
        }
        sum += level;
    }
    img->background[b] = sum / (double)plane;
    *n_bad += bad;
    return 0;
}

/* ---- PSF ---- */

static int load_psfs(const sl_frame_opts *o, const sl_image *img, const band_info *bi,
                     sl_psf *psf, sl_err *err)
{
    int given = (o->psfield != NULL) + (o->psf_image != NULL) + (o->psf_fwhm > 0);
    if (given != 1)
        return sl_err_set(err, "%s: give one of a psField file, a PSF image or a PSF FWHM",
                          given ? "more than one PSF given" : "no PSF given");
    for (int b = 0; b < img->n_bands; b++) {
        int rc;
        /* psField rows are indexed by SDSS filter: the file's, else the band name. */
        const char *name = bi[b].filter[0] ? bi[b].filter : img->bands[b];
        if (o->psf_fwhm > 0)
            rc = sl_psf_init_gaussian(&psf[b], o->psf_fwhm / img->pixel_scale, err);
        else if (o->psf_image)
            rc = sl_psf_read_image(&psf[b], o->psf_image, -1, err);
        else if (strlen(name) != 1)
            rc = sl_err_set(err, "%s: band %d is called \"%s\", not one of ugriz", o->psfield,
                            b, name);
        else
            rc = sl_psf_read_psfield(&psf[b], o->psfield, name[0], err);
        if (rc) {
            for (int k = 0; k < b; k++)
                sl_psf_free(&psf[k]);
            return -1;
        }
    }
    return 0;
}

/* ---- the whole load ---- */

static int check_opts(const sl_frame_opts *o, sl_err *err)
{
    if (o->n_paths < 1 || o->n_paths > SL_MAX_BANDS)
        return sl_err_set(err, "%d input files, want 1 to %d", o->n_paths, SL_MAX_BANDS);
    for (int b = 0; b < o->n_paths; b++)
        if (!o->paths[b] || !o->paths[b][0])
            return sl_err_set(err, "input file %d: empty name", b + 1);
    if (!(o->gain >= 0 && isfinite(o->gain)))
        return sl_err_set(err, "gain %g, want > 0 (or 0: from the files)", o->gain);
    if (!isnan(o->background) && !(o->background >= 0 && isfinite(o->background)))
        return sl_err_set(err, "background %g e-/pixel, want >= 0", o->background);
    if (o->mesh != 0 && (o->mesh < 4 || o->mesh > SL_MAX_SIDE))
        return sl_err_set(err, "background mesh %d, want 4 to %d pixels", o->mesh, SL_MAX_SIDE);
    if (!(o->pixel_scale >= 0 && o->pixel_scale < 3600))
        return sl_err_set(err, "pixel scale %g arcsec, want > 0 (or 0: from the WCS)",
                          o->pixel_scale);
    if (!(o->psf_fwhm >= 0 && isfinite(o->psf_fwhm)))
        return sl_err_set(err, "PSF FWHM %g arcsec, want > 0", o->psf_fwhm);
    return 0;
}

/* First pass: every header, the shared size, names, pixel scale. */
static int inspect_all(const sl_frame_opts *o, band_info *bi, sl_image *img, sl_err *err)
{
    const int n = o->n_paths;
    for (int b = 0; b < n; b++) {
        double scale = 0;
        /* The bands are aligned: the first file's WCS is the image's. */
        if (inspect(o, o->paths[b], &bi[b], &scale, b == 0 ? &img->wcs : NULL, err))
            return -1;
        if (bi[b].w != bi[0].w || bi[b].h != bi[0].h)
            return sl_err_set(err, "%s is %d x %d pixels but %s is %d x %d: all bands must "
                              "have the same size", o->paths[b], bi[b].w, bi[b].h,
                              o->paths[0], bi[0].w, bi[0].h);
        if (b == 0 && o->pixel_scale == 0 && scale == 0)
            return sl_err_set(err, "%s: no pixel scale (no CD or CDELT keywords): give "
                              "--pixel-scale", o->paths[0]);
        if (b == 0)
            img->pixel_scale = o->pixel_scale > 0 ? o->pixel_scale : scale;
        else if (o->pixel_scale == 0 && scale > 0 && fabs(scale / img->pixel_scale - 1) > 0.01)
            return sl_err_set(err, "%s: pixel scale %g arcsec but %s has %g", o->paths[b],
                              scale, o->paths[0], img->pixel_scale);
    }
    img->width = bi[0].w;
    img->height = bi[0].h;
    img->n_bands = n;
    if (o->band_names) {
        if (parse_band_names(o->band_names, n, img->bands, err))
            return -1;
    } else {
        for (int b = 0; b < n; b++)
            if (bi[b].filter[0] && !strchr(bi[b].filter, ' '))
                strcpy(img->bands[b], bi[b].filter);
            else
                snprintf(img->bands[b], sizeof img->bands[b], "b%d", b);
    }
    for (int b = 0; b < n; b++)
        for (int c = 0; c < b; c++)
            if (!strcmp(img->bands[b], img->bands[c]))
                return sl_err_set(err, "band %s twice (%s and %s): give band names",
                                  img->bands[b], o->paths[c], o->paths[b]);
    if ((size_t)img->width * img->height * n > SL_MAX_PIXELS)
        return sl_err_set(err, "%d x %d pixels in %d band%s are more than %zu pixels",
                          img->width, img->height, n, n > 1 ? "s" : "", SL_MAX_PIXELS);
    return 0;
}

int sl_frame_load(const sl_frame_opts *o, sl_image *img, sl_psf *psf, long *n_nan,
                  sl_err *err)
{
    band_info bi[SL_MAX_BANDS];
    memset(bi, 0, sizeof bi);
    free(img->wcs);
    img->wcs = NULL;
    if (check_opts(o, err) || inspect_all(o, bi, img, err))
        return -1;
    const int n = o->n_paths;
    size_t total = (size_t)img->width * img->height * n;
    int need_map = isnan(o->background), all_sdss = 1;
    for (int b = 0; b < n; b++) {
        need_map |= bi[b].sdss;
        all_sdss &= bi[b].sdss;
    }
    if (grow(&img->pixels, &img->pixels_cap, total, err) ||
        (need_map && grow(&img->background_map, &img->background_cap, total, err)))
        return -1;
    if (!need_map) {
        free(img->background_map);
        img->background_map = NULL;
        img->background_cap = 0;
    }
    long bad = 0;
    for (int b = 0; b < n; b++) {
        img->gain[b] = bi[b].gain;
        img->zero_point[b] = 0;
        if (load_plane(o, o->paths[b], &bi[b], b, img, &bad, err))
            return -1;
    }
    img->has_gain = 1;
    img->has_zero_point = all_sdss;
    img->id = 0;
    img->is_patch = 0;
    img->parent = 0;
    img->x0 = img->y0 = img->border = 0;
    if (n_nan)
        *n_nan = bad;
    return psf ? load_psfs(o, img, bi, psf, err) : 0;
}
