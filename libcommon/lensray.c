/* lensray.c: see lensray.h. */
#include "lensray.h"

#include <math.h>
#include <stdlib.h>

typedef struct ctx {
    const sl_lens *lens;
    sl_galaxy_prep g;
    double sx, sy;  /* source centre */
    double tol;
    double size;    /* the source's smallest half-light semi-minor axis / 2 */
} ctx;

/* A ray: its surface brightness and where it lands in the source plane. */
typedef struct ray {
    float sb;
    double bx, by;
} ray;

/* Shoots n rays through the exact deflection (a handful at a time). */
static void shoot(const ctx *c, int n, const double *x, const double *y, ray *r)
{
    double ax[8], ay[8], bx[8], by[8];
    float sb[8];
    sl_lens_deflect_n(c->lens, (size_t)n, x, y, ax, ay);
    for (int i = 0; i < n; i++) {
        bx[i] = x[i] - ax[i];
        by[i] = y[i] - ay[i];
    }
    sl_galaxy_sb_n(&c->g, n, bx, by, sb);
    for (int i = 0; i < n; i++)
        r[i] = (ray){sb[i], bx[i], by[i]};
}

/* Does a cell need splitting: its centre against its corners, or the
 * source's centre inside its rays' source-plane box (widened by the box's
 * own size: the mapping may curve between rays). */
static int steep(const ctx *c, const ray *k, const ray *m)
{
    double mean = 0.25 * ((double)k[0].sb + k[1].sb + k[2].sb + k[3].sb);
    if (fabs(m->sb - mean) > c->tol)
        return 1;
    double x0 = m->bx, x1 = m->bx, y0 = m->by, y1 = m->by;
    for (int i = 0; i < 4; i++) {
        x0 = fmin(x0, k[i].bx), x1 = fmax(x1, k[i].bx);
        y0 = fmin(y0, k[i].by), y1 = fmax(y1, k[i].by);
    }
    double wx = x1 - x0, wy = y1 - y0;
    /* once the rays are closer than the source's size, its light is
     * resolved and the brightness test suffices */
    if (wx < c->size && wy < c->size)
        return 0;
    return c->sx > x0 - wx && c->sx < x1 + wx && c->sy > y0 - wy && c->sy < y1 + wy;
}

/* Integral over the square (x0, y0)-(x0 + s, y0 + s) with corner rays k
 * (x0y0, x1y0, x0y1, x1y1) and centre ray m. */
static double cell(const ctx *c, double x0, double y0, double s, const ray *k, const ray *m,
                   int depth)
{
    if (depth == 0 || !steep(c, k, m))
        return s * s * ((0.25 * ((double)k[0].sb + k[1].sb + k[2].sb + k[3].sb)) + 2.0 * m->sb) / 3.0;
    double h = s / 2, q = s / 4;
    /* edge midpoints (bottom, left, right, top) and the four children's centres */
    double x[8] = {x0 + h, x0, x0 + s, x0 + h, x0 + q, x0 + 3 * q, x0 + q, x0 + 3 * q};
    double y[8] = {y0, y0 + h, y0 + h, y0 + s, y0 + q, y0 + q, y0 + 3 * q, y0 + 3 * q};
    ray v[8];
    shoot(c, 8, x, y, v);
    const ray kc[4][4] = {{k[0], v[0], v[1], *m}, {v[0], k[1], *m, v[2]},
                          {v[1], *m, k[2], v[3]}, {*m, v[2], v[3], k[3]}};
    double sum = 0;
    for (int i = 0; i < 4; i++)
        sum += cell(c, x0 + (i & 1) * h, y0 + (i >> 1) * h, h, kc[i], &v[4 + i], depth - 1);
    return sum;
}

/* The surface brightness on a grid of points (x0 + i s, y0 + j s), i < nx,
 * j < ny, as rays (exact deflection for a handful, the table beyond). */
static int grid(const ctx *c, int nx, int ny, double x0, double y0, double s, ray *r,
                sl_err *err)
{
    size_t n = (size_t)nx * ny;
    double *x = malloc(4 * n * sizeof *x);
    float *sb = malloc(n * sizeof *sb);
    int rc = 0;
    if (!x || !sb) {
        free(x);
        free(sb);
        return sl_err_set(err, "lens: out of memory for %zu rays", n);
    }
    double *y = x + n, *bx = y + n, *by = bx + n;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            x[(size_t)j * nx + i] = x0 + i * s;
            y[(size_t)j * nx + i] = y0 + j * s;
        }
    if (n <= 64) {
        sl_lens_deflect_n(c->lens, n, x, y, bx, by);
        for (size_t i = 0; i < n; i++)
            bx[i] = x[i] - bx[i], by[i] = y[i] - by[i];
    } else {
        rc = sl_lens_trace(c->lens, n, x, y, bx, by, err);
    }
    if (rc == 0) {
        sl_galaxy_sb_n(&c->g, (int)n, bx, by, sb);
        for (size_t i = 0; i < n; i++)
            r[i] = (ray){sb[i], bx[i], by[i]};
    }
    free(x);
    free(sb);
    return rc;
}

/* The corner rays k[4] and centre ray of cell (i, j) of a grid whose
 * corner rays are kg ((w+1) wide) and centre rays mg (w wide). */
static void corners(const ray *kg, const ray *mg, int w, int i, int j, ray *k, ray *m)
{
    size_t c0 = (size_t)j * (w + 1) + i, c2 = c0 + (w + 1);
    k[0] = kg[c0], k[1] = kg[c0 + 1], k[2] = kg[c2], k[3] = kg[c2 + 1];
    *m = mg[(size_t)j * w + i];
}

/* Pixel (i, j)'s f x f sub-cells into img (f w wide). */
static int pixel_cells(const ctx *c, int i, int j, int f, int depth, float *img, int w,
                       ray *buf, sl_err *err)
{
    ray *kg = buf, *mg = buf + (f + 1) * (f + 1);
    double s = 1.0 / f;
    if (grid(c, f + 1, f + 1, i, j, s, kg, err) < 0 ||
        grid(c, f, f, i + s / 2, j + s / 2, s, mg, err) < 0)
        return -1;
    for (int v = 0; v < f; v++)
        for (int u = 0; u < f; u++) {
            ray k[4], m;
            corners(kg, mg, f, u, v, k, &m);
            img[((size_t)j * f + v) * w * f + (size_t)i * f + u] +=
                (float)cell(c, i + u * s, j + v * s, s, k, &m, depth);
        }
    return 0;
}

/* Mean of (2t - 1)^2 over [t0, t1]. */
static double sq_mean(double t0, double t1)
{
    double a = 2 * t0 - 1, b = 2 * t1 - 1;
    return (b * b * b - a * a * a) / (6 * (t1 - t0));
}

/* A smooth pixel (its centre within tol of its corners' mean) drawn into
 * its f x f sub-cells (rows `stride` apart) from the model its five rays
 * fix: bilinear through the corners plus (centre - corners' mean) times
 * 1 - ((2u-1)^2 + (2v-1)^2) / 2, which is 0 at the corners, 1 at the centre
 * and integrates to the pixel rule (corners' mean + 2 centre) / 3. */
static void smooth_fill(const ray *k, const ray *m, int f, float *img, int stride)
{
    double cm = 0.25 * ((double)k[0].sb + k[1].sb + k[2].sb + k[3].sb), e = m->sb - cm;
    double s = 1.0 / f, a = s * s;
    for (int y = 0; y < f; y++) {
        double v = (y + 0.5) * s, my = sq_mean(y * s, (y + 1) * s);
        for (int x = 0; x < f; x++) {
            double u = (x + 0.5) * s, mx = sq_mean(x * s, (x + 1) * s);
            double bl = k[0].sb * (1 - u) * (1 - v) + k[1].sb * u * (1 - v) +
                        k[2].sb * (1 - u) * v + k[3].sb * u * v;
            img[(size_t)y * stride + x] += (float)(a * (bl + e * (1 - 0.5 * (mx + my))));
        }
    }
}

int sl_lens_integrate(const sl_lens *l, const sl_galaxy *src, int f, double tol, double floor,
                      int depth, float *img, int w, int h, sl_err *err)
{
    ctx c = {.lens = l, .sx = src->x, .sy = src->y, .tol = tol};
    c.size = 0.5 * fmin(src->a_disk * fmax(src->q_disk, SL_GALAXY_Q_MIN),
                        src->a_bulge * fmax(src->q_bulge, SL_GALAXY_Q_MIN));
    if (sl_lens_check(l, err) < 0 || sl_galaxy_prepare(&c.g, src, err) < 0)
        return -1;
    if (c.g.ncomp == 0)
        return 0;
    size_t nk = (size_t)(w + 1) * (h + 1), nm = (size_t)w * h;
    ray *r = malloc((nk + nm + (size_t)2 * (f + 1) * (f + 1)) * sizeof *r);
    if (!r)
        return sl_err_set(err, "lens: out of memory for a %d x %d grid", w, h);
    int rc = grid(&c, w + 1, h + 1, 0, 0, 1, r, err);
    if (rc == 0)
        rc = grid(&c, w, h, 0.5, 0.5, 1, r + nk, err);
    double a = 1.0 / ((double)f * f);
    for (int j = 0; rc == 0 && j < h; j++)
        for (int i = 0; rc == 0 && i < w; i++) {
            ray k[4], m;
            corners(r, r + nk, w, i, j, k, &m);
            float top = fmaxf(fmaxf(fmaxf(k[0].sb, k[1].sb), fmaxf(k[2].sb, k[3].sb)), m.sb);
            if (steep(&c, k, &m)) {
                rc = pixel_cells(&c, i, j, f, depth, img, w, r + nk + nm, err);
            } else if (top >= floor) {
                smooth_fill(k, &m, f, img + (size_t)j * f * w * f + (size_t)i * f, w * f);
            } else {
                /* dark: the pixel's light, spread evenly over its sub-cells */
                float v = (float)(a * (0.25 * ((double)k[0].sb + k[1].sb + k[2].sb + k[3].sb) +
                                       2.0 * m.sb) / 3.0);
                for (int y = 0; y < f; y++)
                    for (int x = 0; x < f; x++)
                        img[((size_t)j * f + y) * w * f + (size_t)i * f + x] += v;
            }
        }
    free(r);
    return rc;
}
