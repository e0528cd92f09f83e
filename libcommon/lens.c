/* lens.c: SIE + external shear deflection, lensed light, and cosmological distances
 * (see lens.h for the conventions). */
#include "lens.h"

#include <math.h>
#include <stdlib.h>

/* Below this eps = sqrt(1 - q^2) the closed form is replaced by its series, whose
 * first neglected term is (eps/q)^6 / 7 < 1e-17 relative. */
#define EPS_SERIES 1e-3

/* Lensed light: a pixel whose corrected midpoint moves by less than LAP_REL of its
 * value (or LAP_ABS of the source flux) keeps it; the pixels within CORE_R of the lens
 * centre, where the deflection turns on the pixel scale, are always supersampled, as
 * are those whose pixel-centre rays are too sparse for the source's detail there (a
 * length below RES times the ray spacing in the source plane), which the Laplacian
 * could miss. */
#define LAP_REL 1e-2
#define LAP_ABS 1e-7
#define CORE_R 2.0
#define RES 0.5
#define SS_MAX 16
#define NEAR_PAD 1.0 /* see cusp_correction */

/* The lens with its derived constants. */
typedef struct lens_prep {
    double x, y;     /* centre */
    double c, s;     /* cos phi, sin phi */
    double q, b;     /* axis ratio, b = theta_E sqrt(q) */
    double eps;      /* sqrt(1 - q^2) */
    double g1, g2;   /* external shear */
    double gamma;    /* its size */
} lens_prep;

int sl_lens_check(const sl_lens *l, sl_err *err)
{
    if (!isfinite(l->x) || !isfinite(l->y))
        return sl_err_set(err, "lens: centre (%g, %g) is not finite", l->x, l->y);
    if (!(l->theta_e >= 0) || !isfinite(l->theta_e))
        return sl_err_set(err, "lens: Einstein radius %g is not a finite number >= 0",
                          l->theta_e);
    if (!(hypot(l->e1, l->e2) < 1))
        return sl_err_set(err, "lens: ellipticity (e1, e2) = (%g, %g) is not inside |e| < 1",
                          l->e1, l->e2);
    if (!isfinite(l->g1) || !isfinite(l->g2))
        return sl_err_set(err, "lens: shear (%g, %g) is not finite", l->g1, l->g2);
    return 0;
}

static lens_prep prepare(const sl_lens *l)
{
    double e = hypot(l->e1, l->e2), phi = 0.5 * atan2(l->e2, l->e1);
    double q = (1 - e) / (1 + e);
    /* 1 - q^2 = 4e / (1+e)^2, written so that small e loses no digits */
    double eps = 2 * sqrt(e) / (1 + e);
    if (q < SL_LENS_Q_MIN) {
        q = SL_LENS_Q_MIN;
        eps = sqrt((1 - q) * (1 + q));
    }
    return (lens_prep){.x = l->x, .y = l->y, .c = cos(phi), .s = sin(phi), .q = q,
                       .b = l->theta_e * sqrt(q), .eps = eps, .g1 = l->g1, .g2 = l->g2,
                       .gamma = hypot(l->g1, l->g2)};
}

/* The SIE deflection (fx, fy) in the lens frame at (xr, yr); returns psi, and 0 with
 * no deflection at the centre, where the direction is undefined. */
static double sie_frame(const lens_prep *p, double xr, double yr, double *fx, double *fy)
{
    double psi = sqrt(p->q * p->q * xr * xr + yr * yr);
    *fx = *fy = 0;
    if (psi > 0) {
        double X = xr / psi, Y = yr / psi;
        if (p->eps < EPS_SERIES) {
            /* atan(e X)/e and atanh(e Y)/e to order e^4 */
            double e2 = p->eps * p->eps, X2 = X * X, Y2 = Y * Y;
            *fx = p->b * X * (1 - e2 * X2 / 3 + e2 * e2 * X2 * X2 / 5);
            *fy = p->b * Y * (1 + e2 * Y2 / 3 + e2 * e2 * Y2 * Y2 / 5);
        } else {
            *fx = p->b / p->eps * atan(p->eps * X);
            *fy = p->b / p->eps * atanh(p->eps * Y);
        }
    }
    return psi;
}

/* Deflection at (x, y); *kappa gets the convergence there when not NULL. */
static void deflect(const lens_prep *p, double x, double y, double *ax, double *ay,
                    double *kappa)
{
    double dx = x - p->x, dy = y - p->y, fx, fy;
    double psi = sie_frame(p, p->c * dx + p->s * dy, -p->s * dx + p->c * dy, &fx, &fy);
    *ax = p->c * fx - p->s * fy + p->g1 * dx + p->g2 * dy;
    *ay = p->s * fx + p->c * fy + p->g2 * dx - p->g1 * dy;
    if (kappa)
        *kappa = psi > 0 ? p->b / (2 * psi) : INFINITY;
}

void sl_lens_deflect(const sl_lens *l, double x, double y, double *ax, double *ay)
{
    lens_prep p = prepare(l);
    deflect(&p, x, y, ax, ay, NULL);
}

void sl_lens_deflect_n(const sl_lens *l, size_t n, const double *x, const double *y,
                       double *ax, double *ay)
{
    lens_prep p = prepare(l);
    for (size_t i = 0; i < n; i++)
        deflect(&p, x[i], y[i], &ax[i], &ay[i], NULL);
}

double sl_lens_kappa(const sl_lens *l, double x, double y)
{
    lens_prep p = prepare(l);
    double ax, ay, kappa;
    deflect(&p, x, y, &ax, &ay, &kappa);
    return kappa;
}

/* ---- lensed light --------------------------------------------------------------- */

/* The SIE deflection depends only on the direction of (x', y'), so rendering reads it
 * from a table over t = y' / (w x' + |y'|) in [-1, 1] (for x' >= 0; alpha is odd),
 * with w = sqrt(q): its features (width ~q in angle at the major axis, ~1 at the minor
 * one) are then about sqrt(q) wide in t, and 512 intervals interpolate linearly to
 * 1.5e-5 theta_E for any q >= SL_LENS_Q_MIN. */
#define DIR_N 512

typedef struct dir_table {
    double w;
    float fx[DIR_N + 1], fy[DIR_N + 1];
} dir_table;

static void dir_table_init(dir_table *t, const lens_prep *p)
{
    t->w = sqrt(p->q);
    for (int i = 0; i <= DIR_N; i++) {
        double tt = -1 + 2.0 * i / DIR_N, fx, fy;
        sie_frame(p, 1 - fabs(tt), t->w * tt, &fx, &fy);
        t->fx[i] = (float)fx;
        t->fy[i] = (float)fy;
    }
}

/* beta = theta - alpha(theta) for n rays; stretch (when not NULL) gets the most the
 * lens map can stretch a length there: its eigenvalues are 1 - kappa +- |shear|, and
 * the SIE's own shear has the size of its kappa, so with the external gamma they lie
 * within [1 - 2 kappa - gamma, 1 + gamma]. */
static void shoot(const lens_prep *p, const dir_table *t, int n, const double *x,
                  const double *y, double *bx, double *by, double *stretch)
{
    for (int m = 0; m < n; m++) {
        double dx = x[m] - p->x, dy = y[m] - p->y;
        double xr = p->c * dx + p->s * dy, yr = -p->s * dx + p->c * dy;
        double sg = xr < 0 ? -1 : 1, X = sg * xr, Y = sg * yr, den = t->w * X + fabs(Y);
        double fx = 0, fy = 0;
        if (den > 0) {
            double u = (Y / den + 1) * (DIR_N / 2);
            int i = u < DIR_N - 1 ? (int)u : DIR_N - 1;
            double f = u - i;
            fx = sg * (t->fx[i] + f * (t->fx[i + 1] - t->fx[i]));
            fy = sg * (t->fy[i] + f * (t->fy[i + 1] - t->fy[i]));
        }
        bx[m] = x[m] - (p->c * fx - p->s * fy + p->g1 * dx + p->g2 * dy);
        by[m] = y[m] - (p->s * fx + p->c * fy + p->g2 * dx - p->g1 * dy);
        if (stretch) {
            double psi = sqrt(p->q * p->q * xr * xr + yr * yr);
            double k2 = psi > 0 ? p->b / psi : INFINITY; /* 2 kappa */
            stretch[m] = k2 > 2 ? k2 + p->gamma - 1 : 1 + p->gamma;
        }
    }
}

int sl_lens_trace(const sl_lens *l, size_t n, const double *x, const double *y, double *bx,
                  double *by, sl_err *err)
{
    if (sl_lens_check(l, err) < 0)
        return -1;
    lens_prep p = prepare(l);
    dir_table *t = malloc(sizeof *t);
    if (!t)
        return sl_err_set(err, "lens: out of memory");
    dir_table_init(t, &p);
    /* in pieces, as shoot counts with an int */
    for (size_t done = 0; done < n;) {
        int m = n - done < 1 << 20 ? (int)(n - done) : 1 << 20;
        shoot(&p, t, m, x + done, y + done, bx + done, by + done, NULL);
        done += (size_t)m;
    }
    free(t);
    return 0;
}

/* An upper bound on |alpha| of the SIE alone: |x'/psi| <= 1/q and |y'/psi| <= 1. */
static double sie_max(const lens_prep *p)
{
    double ax = p->eps < EPS_SERIES ? p->b / p->q : p->b / p->eps * atan(p->eps / p->q);
    double ay = p->eps < EPS_SERIES ? p->b : p->b / p->eps * atanh(p->eps);
    return hypot(ax, ay);
}

/* The stamp: the box around the lens centre outside which no point maps within the
 * source's extent R: |beta - src| >= |theta|(1 - gamma) - |alpha_SIE| - |src offset|. */
static int stamp(const lens_prep *p, const sl_galaxy *src, const sl_galaxy_prep *g, int w,
                 int h, int box[4])
{
    double gamma = p->gamma, x0 = 0, x1 = w - 1, y0 = 0, y1 = h - 1;
    if (gamma < 1) {
        double r = (hypot(src->x - p->x, src->y - p->y) + sl_galaxy_extent(g) + sie_max(p)) /
                   (1 - gamma);
        x0 = fmax(x0, floor(p->x - r));
        x1 = fmin(x1, floor(p->x + r));
        y0 = fmax(y0, floor(p->y - r));
        y1 = fmin(y1, floor(p->y + r));
    }
    if (x0 > x1 || y0 > y1)
        return 0;
    box[0] = (int)x0, box[1] = (int)x1 + 1, box[2] = (int)y0, box[3] = (int)y1 + 1;
    return 1;
}

/* What a render needs: the lens, its direction table, the source, and scratch. */
typedef struct lensed {
    lens_prep p;
    dir_table t;
    sl_galaxy_prep g;
    int ss;
    double sb_floor; /* surface brightness too faint to matter: LAP_ABS of the flux */
    double *x, *y;   /* ray positions: one row (with border) or one pixel's ss x ss */
    double *bx, *by; /* where the ss x ss rays land */
    float *sb;       /* and the source there */
} lensed;

/* The pixel-centre rays of three rows, j-1, j and j+1 (with a one-pixel border): the
 * source's surface brightness where they land, where that is, and the stretch. */
typedef struct centre_rows {
    int nx;
    float *sb[3];
    double *bx[3], *by[3], *stretch[3];
} centre_rows;

static void centre_row(lensed *L, centre_rows *c, int k, int box0, int j)
{
    for (int m = 0; m < c->nx; m++) {
        L->x[m] = box0 - 1 + m + 0.5;
        L->y[m] = j + 0.5;
    }
    shoot(&L->p, &L->t, c->nx, L->x, L->y, c->bx[k], c->by[k], c->stretch[k]);
    sl_galaxy_sb_n(&L->g, c->nx, c->bx[k], c->by[k], c->sb[k]);
}

/* Whether the pixel-centre ray at (tx, ty), landing at (bx, by) with the given
 * stretch, may step over detail: too near the lens centre, or where the source
 * changes faster than the rays are spaced. */
static int needs_rays(const lensed *L, double tx, double ty, double bx, double by,
                      double stretch)
{
    double dx = tx - L->p.x, dy = ty - L->p.y;
    if (dx * dx + dy * dy < CORE_R * CORE_R)
        return 1;
    return sl_galaxy_detail(&L->g, bx, by, stretch, L->sb_floor) < RES * stretch;
}

/* Signed area of the quadrilateral (x[k], y[k]), and whether it is convex (all turns
 * the same way): a map that folds across a critical curve makes it not so. */
static double quad_area(const double *x, const double *y, int *convex)
{
    double area = 0;
    int pos = 0, neg = 0;
    for (int k = 0; k < 4; k++) {
        int l = (k + 1) % 4, m = (k + 2) % 4;
        area += 0.5 * (x[k] * y[l] - x[l] * y[k]);
        double turn = (x[l] - x[k]) * (y[m] - y[l]) - (y[l] - y[k]) * (x[m] - x[l]);
        pos += turn > 0, neg += turn < 0;
    }
    *convex = pos == 4 || neg == 4;
    return area;
}

/* Whether the point (px, py) lies within the quadrilateral's bounding box widened by
 * pad times its size. */
static int quad_near(const double *x, const double *y, double px, double py, double pad)
{
    double x0 = x[0], x1 = x[0], y0 = y[0], y1 = y[0];
    for (int k = 1; k < 4; k++) {
        x0 = x[k] < x0 ? x[k] : x0, x1 = x[k] > x1 ? x[k] : x1;
        y0 = y[k] < y0 ? y[k] : y0, y1 = y[k] > y1 ? y[k] : y1;
    }
    pad *= x1 - x0 > y1 - y0 ? x1 - x0 : y1 - y0;
    return px > x0 - pad && px < x1 + pad && py > y0 - pad && py < y1 + pad;
}

/* A ray landing next to the cusp of a de Vaucouleurs component reads a surface
 * brightness far from the mean around it: at 4 x 4 rays a pixel there can be off by a
 * third.  So a sub-pixel whose image in the source plane (the quadrilateral of its
 * corners' rays) comes within its own size of the cusp gets the component's exact mean
 * over the quadrilateral in place of its ray.  The lens map is close to linear across
 * a sub-pixel away from the lens centre (not done within CORE_R) and from critical
 * curves (where the quadrilateral folds, and the ray stays).  The exponential disk's
 * kink is mild enough for rays.  Returns the change to the sum of the sub-pixels. */
static double cusp_correction(lensed *L, int i, int j)
{
    int ss = L->ss, nc = (ss + 1) * (ss + 1), near[2] = {0, 0}, any = 0;
    double qx[4], qy[4], cx[4] = {i, i + 1, i + 1, i}, cy[4] = {j, j, j + 1, j + 1};
    shoot(&L->p, &L->t, 4, cx, cy, qx, qy, NULL);
    for (int c = 0; c < L->g.ncomp; c++) {
        const sl_sersic_prep *s = &L->g.comp[c];
        any |= near[c] = s->n == 4 && quad_near(qx, qy, s->x, s->y, NEAR_PAD);
    }
    if (!any)
        return 0;
    /* the corners of the sub-pixels, after the centre rays in the scratch arrays */
    double *x = L->x + ss * ss, *y = L->y + ss * ss, *bx = L->bx + ss * ss, *by = L->by + ss * ss;
    for (int k = 0; k <= ss; k++)
        for (int l = 0; l <= ss; l++) {
            x[k * (ss + 1) + l] = i + (double)l / ss;
            y[k * (ss + 1) + l] = j + (double)k / ss;
        }
    shoot(&L->p, &L->t, nc, x, y, bx, by, NULL);
    double change = 0;
    for (int k = 0; k < ss; k++)
        for (int l = 0; l < ss; l++) {
            int a = k * (ss + 1) + l, idx[4] = {a, a + 1, a + ss + 2, a + ss + 1}, convex;
            for (int v = 0; v < 4; v++)
                qx[v] = bx[idx[v]], qy[v] = by[idx[v]];
            double area = quad_area(qx, qy, &convex);
            if (!convex || area == 0)
                continue;
            for (int c = 0; c < L->g.ncomp; c++) {
                const sl_sersic_prep *s = &L->g.comp[c];
                if (!near[c] || !quad_near(qx, qy, s->x, s->y, NEAR_PAD))
                    continue;
                double ray = sl_sersic_sb(s, L->bx[k * ss + l], L->by[k * ss + l]);
                change += sl_sersic_polygon(s, 4, qx, qy) / area - ray;
            }
        }
    return change;
}

/* Mean surface brightness of the source over the ss x ss sub-pixels of pixel (i, j),
 * from a ray at the centre of each. */
static double supersampled(lensed *L, int i, int j)
{
    int ss = L->ss, n = ss * ss;
    for (int k = 0; k < ss; k++)
        for (int l = 0; l < ss; l++) {
            L->x[k * ss + l] = i + (l + 0.5) / ss;
            L->y[k * ss + l] = j + (k + 0.5) / ss;
        }
    shoot(&L->p, &L->t, n, L->x, L->y, L->bx, L->by, NULL);
    sl_galaxy_sb_n(&L->g, n, L->bx, L->by, L->sb);
    double sum = 0;
    for (int m = 0; m < n; m++)
        sum += L->sb[m];
    double dx = i + 0.5 - L->p.x, dy = j + 0.5 - L->p.y;
    if (dx * dx + dy * dy >= CORE_R * CORE_R)
        sum += cusp_correction(L, i, j);
    return sum / n;
}

/* Renders the stamp row by row.  The Laplacian test comes first, as it is the cheaper. */
static void render_lensed(lensed *L, centre_rows *c, const int box[4], float *img, int w,
                          double flux)
{
    centre_row(L, c, 0, box[0], box[2] - 1);
    centre_row(L, c, 1, box[0], box[2]);
    for (int j = box[2]; j < box[3]; j++) {
        int r = j - box[2], up = r % 3, mid = (r + 1) % 3, down = (r + 2) % 3;
        centre_row(L, c, down, box[0], j + 1);
        const float *u = c->sb[up], *f = c->sb[mid], *d = c->sb[down];
        float *row = img + (size_t)j * w;
        for (int m = 1; m < c->nx - 1; m++) {
            int i = box[0] - 1 + m;
            double lap = (double)f[m - 1] + f[m + 1] + u[m] + d[m] - 4.0 * f[m];
            if (fabs(lap) / 24 <= LAP_REL * fabs(f[m]) + LAP_ABS * flux &&
                !needs_rays(L, i + 0.5, j + 0.5, c->bx[mid][m], c->by[mid][m],
                            c->stretch[mid][m]))
                row[i] += (float)(f[m] + lap / 24);
            else
                row[i] += (float)supersampled(L, i, j);
        }
    }
}

int sl_lens_render(const sl_lens *l, const sl_galaxy *src, int ss, float *img, int w, int h,
                   sl_err *err)
{
    if (sl_lens_check(l, err) < 0)
        return -1;
    if (ss < 1 || ss > SS_MAX)
        return sl_err_set(err, "lens: supersampling factor %d is outside 1..%d", ss, SS_MAX);
    if (!img || w <= 0 || h <= 0)
        return sl_err_set(err, "lens: no image to render into (%d x %d)", w, h);
    lensed *L = malloc(sizeof *L);
    if (!L)
        return sl_err_set(err, "lens: out of memory");
    if (sl_galaxy_prepare(&L->g, src, err) < 0) {
        free(L);
        return sl_err_prefix(err, "lensed source");
    }
    L->p = prepare(l);
    L->ss = ss;
    L->sb_floor = LAP_ABS * src->flux;
    int box[4];
    if (L->g.ncomp == 0 || !stamp(&L->p, src, &L->g, w, h, box)) {
        free(L);
        return 0;
    }
    dir_table_init(&L->t, &L->p);
    /* scratch: rays for a row or a pixel (4 x nr), and three rows of centre rays */
    centre_rows c = {.nx = box[1] - box[0] + 2};
    int nr = ss * ss + (ss + 1) * (ss + 1); /* a pixel's centre and corner rays */
    nr = c.nx > nr ? c.nx : nr;
    double *d = malloc(((size_t)4 * nr + 9 * (size_t)c.nx) * sizeof *d);
    float *f = malloc(((size_t)nr + 3 * (size_t)c.nx) * sizeof *f);
    int rc = 0;
    if (!d || !f)
        rc = sl_err_set(err, "lens: out of memory for a %d-pixel row", c.nx);
    else {
        L->x = d, L->y = d + nr, L->bx = d + 2 * nr, L->by = d + 3 * nr, L->sb = f;
        for (int k = 0; k < 3; k++) {
            double *g = d + 4 * (size_t)nr + 3 * (size_t)k * c.nx;
            c.bx[k] = g, c.by[k] = g + c.nx, c.stretch[k] = g + 2 * c.nx;
            c.sb[k] = f + nr + (size_t)k * c.nx;
        }
        render_lensed(L, &c, box, img, w, src->flux);
    }
    free(d);
    free(f);
    free(L);
    return rc;
}

/* ---- cosmology ------------------------------------------------------------------ */

#define C_KMS 299792.458
#define ARCSEC_PER_RAD 206264.80624709636

int sl_cosmo_check(const sl_cosmo *c, sl_err *err)
{
    if (!(c->h0 > 0) || !isfinite(c->h0))
        return sl_err_set(err, "cosmology: H0 = %g is not a positive number", c->h0);
    if (!(c->om >= 0 && c->om <= 1))
        return sl_err_set(err, "cosmology: Omega_m = %g is outside [0, 1]", c->om);
    return 0;
}

/* 1 / E(z) for flat Lambda-CDM. */
static double inv_e(const sl_cosmo *c, double z)
{
    double zp = 1 + z;
    return 1 / sqrt(c->om * zp * zp * zp + 1 - c->om);
}

/* D_C = (c / H0) int_0^z dz' / E(z'): 1/E is smooth and varies on the scale 1 + z, so
 * 8-point Gauss-Legendre panels of width at most 0.1 (1 + z) reach 1e-12. */
double sl_cosmo_comoving(const sl_cosmo *c, double z)
{
    static const double node[4] = {0.18343464249564980, 0.52553240991632899,
                                   0.79666647741362674, 0.96028985649753623};
    static const double weight[4] = {0.36268378337836198, 0.31370664587788729,
                                     0.22238103445337447, 0.10122853629037626};
    double sum = 0, lo = 0;
    while (lo < z) {
        double hi = fmin(z, lo + 0.1 * (1 + lo)), mid = (lo + hi) / 2, half = (hi - lo) / 2;
        for (int k = 0; k < 4; k++)
            sum += half * weight[k] * (inv_e(c, mid - half * node[k]) +
                                       inv_e(c, mid + half * node[k]));
        lo = hi;
    }
    return C_KMS / c->h0 * sum;
}

double sl_cosmo_da(const sl_cosmo *c, double z)
{
    return sl_cosmo_comoving(c, z) / (1 + z);
}

double sl_cosmo_da12(const sl_cosmo *c, double z1, double z2)
{
    return (sl_cosmo_comoving(c, z2) - sl_cosmo_comoving(c, z1)) / (1 + z2);
}

int sl_lens_theta_e(const sl_cosmo *c, double sigma_v, double zl, double zs,
                    double *theta_arcsec, sl_err *err)
{
    if (sl_cosmo_check(c, err) < 0)
        return -1;
    if (!(sigma_v >= 0) || !isfinite(sigma_v))
        return sl_err_set(err, "lens: velocity dispersion %g km/s is not finite >= 0", sigma_v);
    if (!(zl > 0 && zs > zl) || !isfinite(zs))
        return sl_err_set(err, "lens: redshifts z_lens = %g, z_source = %g are not 0 < zl < zs",
                          zl, zs);
    double v = sigma_v / C_KMS;
    *theta_arcsec = 4 * M_PI * v * v * sl_cosmo_da12(c, zl, zs) / sl_cosmo_da(c, zs) *
                    ARCSEC_PER_RAD;
    return 0;
}
