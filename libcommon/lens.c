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
#define RES 1.5
#define SS_MAX 16

/* The lens with its derived constants. */
typedef struct lens_prep {
    double x, y;     /* centre */
    double c, s;     /* cos phi, sin phi */
    double q, b;     /* axis ratio, b = theta_E sqrt(q) */
    double eps;      /* sqrt(1 - q^2) */
    double g1, g2;   /* external shear */
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
                       .b = l->theta_e * sqrt(q), .eps = eps, .g1 = l->g1, .g2 = l->g2};
}

/* Deflection at (x, y); *kappa gets the convergence there when not NULL. */
static void deflect(const lens_prep *p, double x, double y, double *ax, double *ay,
                    double *kappa)
{
    double dx = x - p->x, dy = y - p->y;
    double xr = p->c * dx + p->s * dy, yr = -p->s * dx + p->c * dy;
    double psi = sqrt(p->q * p->q * xr * xr + yr * yr), fx = 0, fy = 0;
    if (psi > 0) {
        double X = xr / psi, Y = yr / psi;
        if (p->eps < EPS_SERIES) {
            /* atan(e X)/e and atanh(e Y)/e to order e^4 */
            double e2 = p->eps * p->eps, X2 = X * X, Y2 = Y * Y;
            fx = p->b * X * (1 - e2 * X2 / 3 + e2 * e2 * X2 * X2 / 5);
            fy = p->b * Y * (1 + e2 * Y2 / 3 + e2 * e2 * Y2 * Y2 / 5);
        } else {
            fx = p->b / p->eps * atan(p->eps * X);
            fy = p->b / p->eps * atanh(p->eps * Y);
        }
    }
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

/* The SIE deflection in the lens frame along (xr, yr) (any length > 0). */
static void sie_frame(const lens_prep *p, double xr, double yr, double *fx, double *fy)
{
    double psi = sqrt(p->q * p->q * xr * xr + yr * yr), X = xr / psi, Y = yr / psi;
    if (p->eps < EPS_SERIES) {
        double e2 = p->eps * p->eps, X2 = X * X, Y2 = Y * Y;
        *fx = p->b * X * (1 - e2 * X2 / 3 + e2 * e2 * X2 * X2 / 5);
        *fy = p->b * Y * (1 + e2 * Y2 / 3 + e2 * e2 * Y2 * Y2 / 5);
    } else {
        *fx = p->b / p->eps * atan(p->eps * X);
        *fy = p->b / p->eps * atanh(p->eps * Y);
    }
}

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

/* beta = theta - alpha(theta) for n rays; *kappa (when not NULL) gets 1 + 2 kappa +
 * |gamma|, the most a ray bundle is stretched on its way to the source plane (the
 * SIE's own shear equals its kappa). */
static void shoot(const lens_prep *p, const dir_table *t, int n, const double *x,
                  const double *y, double *bx, double *by, double *stretch)
{
    double gamma = hypot(p->g1, p->g2);
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
            stretch[m] = psi > 0 ? 1 + p->b / psi + gamma : INFINITY;
        }
    }
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
    double gamma = hypot(p->g1, p->g2);
    double x0 = 0, x1 = w - 1, y0 = 0, y1 = h - 1;
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

/* What a render needs: the lens, its direction table, the source, and scratch rows. */
typedef struct lensed {
    lens_prep p;
    dir_table t;
    sl_galaxy_prep g;
    int ss;
    double sb_floor; /* surface brightness too faint to matter: LAP_ABS of the flux */
    double *x, *y, *bx, *by, *stretch; /* one row of rays (or one pixel's ss x ss) */
} lensed;

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

/* Centre values of the pixels box0 - 1 .. of row j into sb[0..n-1], and whether each
 * needs the full ss x ss rays into more[]. */
static void centre_row(lensed *L, int box0, int j, int n, float *sb, unsigned char *more)
{
    for (int m = 0; m < n; m++) {
        L->x[m] = box0 - 1 + m + 0.5;
        L->y[m] = j + 0.5;
    }
    shoot(&L->p, &L->t, n, L->x, L->y, L->bx, L->by, L->stretch);
    sl_galaxy_sb_n(&L->g, n, L->bx, L->by, sb);
    for (int m = 0; m < n; m++)
        more[m] = (unsigned char)needs_rays(L, L->x[m], L->y[m], L->bx[m], L->by[m],
                                            L->stretch[m]);
}

/* Mean surface brightness of the source over the ss x ss sub-pixels of pixel (i, j). */
static double supersampled(lensed *L, int i, int j, float *sb)
{
    int ss = L->ss, n = ss * ss;
    for (int k = 0; k < ss; k++)
        for (int l = 0; l < ss; l++) {
            L->x[k * ss + l] = i + (l + 0.5) / ss;
            L->y[k * ss + l] = j + (k + 0.5) / ss;
        }
    shoot(&L->p, &L->t, n, L->x, L->y, L->bx, L->by, NULL);
    sl_galaxy_sb_n(&L->g, n, L->bx, L->by, sb);
    double sum = 0;
    for (int m = 0; m < n; m++)
        sum += sb[m];
    return sum / n;
}

/* Renders the stamp row by row, keeping the centre values of three rows (j-1, j, j+1,
 * with a one-pixel border) for the Laplacian. */
static void render_lensed(lensed *L, const int box[4], float *img, int w, float *rows,
                          unsigned char *more, float *sb, double flux)
{
    int nx = box[1] - box[0] + 2;
    centre_row(L, box[0], box[2] - 1, nx, rows, more);
    centre_row(L, box[0], box[2], nx, rows + nx, more + nx);
    for (int j = box[2]; j < box[3]; j++) {
        int r = j - box[2];
        float *up = rows + (size_t)(r % 3) * nx, *mid = rows + (size_t)((r + 1) % 3) * nx,
              *down = rows + (size_t)((r + 2) % 3) * nx;
        const unsigned char *mo = more + (size_t)((r + 1) % 3) * nx;
        centre_row(L, box[0], j + 1, nx, down, more + (size_t)((r + 2) % 3) * nx);
        float *row = img + (size_t)j * w;
        for (int m = 1; m < nx - 1; m++) {
            double f = mid[m], lap = (double)mid[m - 1] + mid[m + 1] + up[m] + down[m] - 4 * f;
            if (!mo[m] && fabs(lap) / 24 <= LAP_REL * fabs(f) + LAP_ABS * flux)
                row[box[0] - 1 + m] += (float)(f + lap / 24);
            else
                row[box[0] - 1 + m] += (float)supersampled(L, box[0] - 1 + m, j, sb);
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
    /* scratch: rays for a row (with border) or a pixel, centre values and flags of 3 rows */
    int nx = box[1] - box[0] + 2, nr = nx > ss * ss ? nx : ss * ss;
    double *d = malloc((size_t)5 * nr * sizeof *d);
    float *f = malloc(((size_t)3 * nx + nr) * sizeof *f);
    unsigned char *more = malloc((size_t)3 * nx);
    int rc = 0;
    if (!d || !f || !more)
        rc = sl_err_set(err, "lens: out of memory for a %d-pixel row", nx);
    else {
        L->x = d, L->y = d + nr, L->bx = d + 2 * nr, L->by = d + 3 * nr, L->stretch = d + 4 * nr;
        render_lensed(L, box, img, w, f, more, f + 3 * nx, src->flux);
    }
    free(d);
    free(f);
    free(more);
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
