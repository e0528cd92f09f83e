/* lensray.c: see lensray.h. */
#include "lensray.h"

#include <math.h>
#include <stdlib.h>

typedef struct ctx {
    const sl_lens *lens;
    sl_galaxy_prep g;
    double sx, sy;  /* source centre */
    double tol;
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

/* The surface brightness on a grid of points (i + ox, j + oy), i < nx,
 * j < ny, with the source-plane positions. */
static int grid(const ctx *c, int nx, int ny, double ox, double oy, float *sb, double *bx,
                double *by, sl_err *err)
{
    size_t n = (size_t)nx * ny;
    double *x = malloc(2 * n * sizeof *x);
    if (!x)
        return sl_err_set(err, "lens: out of memory for %zu rays", n);
    double *y = x + n;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            x[(size_t)j * nx + i] = i + ox;
            y[(size_t)j * nx + i] = j + oy;
        }
    int rc = sl_lens_trace(c->lens, n, x, y, bx, by, err);
    if (rc == 0)
        sl_galaxy_sb_n(&c->g, (int)n, bx, by, sb);
    free(x);
    return rc;
}

int sl_lens_integrate(const sl_lens *l, const sl_galaxy *src, double tol, int depth, float *img,
                      int w, int h, sl_err *err)
{
    ctx c = {.lens = l, .sx = src->x, .sy = src->y, .tol = tol};
    if (sl_lens_check(l, err) < 0 || sl_galaxy_prepare(&c.g, src, err) < 0)
        return -1;
    if (c.g.ncomp == 0)
        return 0;
    size_t nk = (size_t)(w + 1) * (h + 1), nm = (size_t)w * h;
    float *k = malloc((nk + nm) * sizeof *k);
    double *b = malloc(2 * (nk + nm) * sizeof *b);
    int rc = -1;
    if (!k || !b)
        sl_err_set(err, "lens: out of memory for a %d x %d grid", w, h);
    else if (grid(&c, w + 1, h + 1, 0, 0, k, b, b + nk, err) == 0 &&
             grid(&c, w, h, 0.5, 0.5, k + nk, b + 2 * nk, b + 2 * nk + nm, err) == 0) {
        const double *kx = b, *ky = b + nk, *mx = b + 2 * nk, *my = mx + nm;
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++) {
                size_t c0 = (size_t)j * (w + 1) + i, c2 = c0 + (w + 1), m = (size_t)j * w + i;
                size_t at[4] = {c0, c0 + 1, c2, c2 + 1};
                ray kv[4], mv = {k[nk + m], mx[m], my[m]};
                for (int e = 0; e < 4; e++)
                    kv[e] = (ray){k[at[e]], kx[at[e]], ky[at[e]]};
                img[m] += (float)cell(&c, i, j, 1, kv, &mv, depth);
            }
        rc = 0;
    }
    free(k);
    free(b);
    return rc;
}
