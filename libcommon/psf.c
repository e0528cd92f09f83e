/* psf.c: PSF profiles, their pixel integrals, and pixel PSFs shifted by
 * Lanczos interpolation.  See psf.h for the conventions. */
#include "psf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fits.h"

#define FWHM_PER_SIGMA 2.3548200450309493 /* 2 sqrt(2 ln 2) */
#define MAX_RENDER 4095
#define MAX_NODES 16
/* Lanczos order for shifting pixel PSFs and for measuring FWHMs.  Shifting
 * a pixel-integrated Gaussian of FWHM 2.8 px by a fraction of a pixel and
 * comparing with the Gaussian rendered there directly, the worst pixel is
 * off by 0.66% of the peak with order 3, 0.19% with 5, 0.07% with 8. */
#define LANCZOS_ORDER 5

static double sq(double x) { return x * x; }

static void clear(sl_psf *p, sl_psf_kind kind)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
}

int sl_psf_init_gaussian(sl_psf *p, double fwhm, sl_err *err)
{
    if (!(fwhm > 0 && isfinite(fwhm)))
        return sl_err_set(err, "gaussian PSF: fwhm = %g, want > 0", fwhm);
    clear(p, SL_PSF_GAUSSIAN);
    p->fwhm = fwhm;
    return 0;
}

int sl_psf_init_moffat(sl_psf *p, double fwhm, double beta, sl_err *err)
{
    if (!(fwhm > 0 && isfinite(fwhm)))
        return sl_err_set(err, "moffat PSF: fwhm = %g, want > 0", fwhm);
    if (!(beta > 1 && isfinite(beta)))
        return sl_err_set(err, "moffat PSF: beta = %g, want > 1 (finite flux)", beta);
    clear(p, SL_PSF_MOFFAT);
    p->fwhm = fwhm;
    p->beta = beta;
    p->alpha = fwhm / (2 * sqrt(pow(2, 1 / beta) - 1));
    p->norm = (beta - 1) / (M_PI * sq(p->alpha));
    return 0;
}

/* Flux of the SDSS wing (1 + r^2/(beta sp^2))^(-beta/2) within radius R
 * (2 pi r dr integrated; R may be infinite when beta > 2). */
static double wing_flux(const sl_psf *p, double R)
{
    double a2 = p->beta * sq(p->sigmap), e = 1 - p->beta / 2;
    if (isinf(R))
        return M_PI * a2 / -e;
    double u = sq(R) / a2;
    if (fabs(e) < 1e-12)
        return M_PI * a2 * log1p(u);
    return M_PI * a2 * expm1(e * log1p(u)) / e;
}

/* The wing is counted out to this radius: everywhere if it converges. */
static double wing_reach(const sl_psf *p)
{
    return p->beta > 2 ? INFINITY : SL_PSF_WING_CUT;
}

int sl_psf_init_sdss(sl_psf *p, double sigma1, double sigma2, double sigmap,
                     double beta, double b, double p0, sl_err *err)
{
    const char *bad = !(sigma1 > 0 && isfinite(sigma1))   ? "sigma1"
                      : !(sigma2 > 0 && isfinite(sigma2)) ? "sigma2"
                      : !(sigmap > 0 && isfinite(sigmap)) ? "sigmap"
                      : !(beta > 0 && isfinite(beta))     ? "beta"
                      : !(b >= 0 && isfinite(b))          ? "b"
                      : !(p0 >= 0 && isfinite(p0))        ? "p0"
                                                          : NULL;
    if (bad)
        return sl_err_set(err, "sdss PSF: bad %s (sigma1 %g, sigma2 %g, sigmap %g, "
                          "beta %g, b %g, p0 %g)", bad, sigma1, sigma2, sigmap,
                          beta, b, p0);
    clear(p, SL_PSF_SDSS);
    p->sigma1 = sigma1;
    p->sigma2 = sigma2;
    p->sigmap = sigmap;
    p->beta = beta;
    p->b = b;
    p->p0 = p0;
    p->norm = 1 / (2 * M_PI * sq(sigma1) + 2 * M_PI * b * sq(sigma2) +
                   p0 * wing_flux(p, wing_reach(p)));
    return 0;
}

int sl_psf_init_pixel(sl_psf *p, const float *img, int w, int h, sl_err *err)
{
    if (w < 1 || h < 1 || w > MAX_RENDER || h > MAX_RENDER)
        return sl_err_set(err, "pixel PSF: size %d x %d, want 1 to %d", w, h, MAX_RENDER);
    double sum = 0;
    for (long i = 0; i < (long)w * h; i++) {
        if (!isfinite(img[i]))
            return sl_err_set(err, "pixel PSF: pixel (%ld, %ld) is %g", i % w, i / w,
                              img[i]);
        sum += img[i];
    }
    if (!(sum > 0))
        return sl_err_set(err, "pixel PSF: pixels sum to %g, want > 0", sum);
    float *copy = malloc((size_t)w * h * sizeof *copy);
    if (!copy)
        return sl_err_set(err, "pixel PSF: out of memory");
    for (long i = 0; i < (long)w * h; i++)
        copy[i] = (float)(img[i] / sum);
    clear(p, SL_PSF_PIXEL);
    p->pix = copy;
    p->pw = w;
    p->ph = h;
    return 0;
}

void sl_psf_free(sl_psf *p)
{
    if (!p)
        return;
    free(p->pix);
    p->pix = NULL;
}

int sl_psf_read_psfield(sl_psf *p, const char *path, char band, sl_err *err)
{
    static const char bands[] = "ugriz";
    static const char *const cols[6] = {"psf_sigma1", "psf_sigma2", "psf_sigmap",
                                        "psf_beta",   "psf_b",      "psf_p0"};
    const char *at = band ? strchr(bands, band) : NULL;
    if (!at)
        return sl_err_set(err, "%s: band '%c' is not one of ugriz", path,
                          band ? band : '?');
    sl_fits *f = sl_fits_open(path, err);
    if (!f)
        return -1;
    double v[6][5];
    int rc = sl_fits_goto(f, 6, err);
    for (int c = 0; c < 6 && rc == 0; c++)
        rc = sl_fits_column_double(f, cols[c], 0, v[c], 5, err);
    sl_fits_close(f);
    if (rc)
        return -1;
    int k = (int)(at - bands);
    if (sl_psf_init_sdss(p, v[0][k], v[1][k], v[2][k], v[3][k], v[4][k], v[5][k], err))
        return sl_err_prefix(err, "%s: HDU 6: band %c", path, band);
    return 0;
}

int sl_psf_read_image(sl_psf *p, const char *path, int hdu, sl_err *err)
{
    int w, h;
    long nnan;
    float *img = sl_fits_read_image_file(path, hdu, &w, &h, &nnan, err);
    if (!img)
        return -1;
    int rc = 0;
    if (nnan > 0)
        rc = sl_err_set(err, "%s: PSF image has %ld NaN pixels", path, nnan);
    else if (sl_psf_init_pixel(p, img, w, h, err))
        rc = sl_err_prefix(err, "%s", path);
    free(img);
    return rc;
}

/* ---- the continuous profiles ---- */

static double gauss_sigma(const sl_psf *p)
{
    return p->fwhm / FWHM_PER_SIGMA;
}

/* The SDSS wing term without its p0 factor. */
static double wing(const sl_psf *p, double r2)
{
    if (p->beta <= 2 && r2 > sq(SL_PSF_WING_CUT))
        return 0;
    return pow(1 + r2 / (p->beta * sq(p->sigmap)), -p->beta / 2);
}

double sl_psf_profile(const sl_psf *p, double r)
{
    double r2 = r * r;
    switch (p->kind) {
    case SL_PSF_GAUSSIAN: {
        double s2 = sq(gauss_sigma(p));
        return exp(-r2 / (2 * s2)) / (2 * M_PI * s2);
    }
    case SL_PSF_MOFFAT:
        return p->norm * pow(1 + r2 / sq(p->alpha), -p->beta);
    case SL_PSF_SDSS:
        return p->norm * (exp(-r2 / (2 * sq(p->sigma1))) +
                          p->b * exp(-r2 / (2 * sq(p->sigma2))) + p->p0 * wing(p, r2));
    default:
        return 0;
    }
}

double sl_psf_enclosed(const sl_psf *p, double r)
{
    if (r <= 0)
        return 0;
    double r2 = r * r;
    switch (p->kind) {
    case SL_PSF_GAUSSIAN:
        return -expm1(-r2 / (2 * sq(gauss_sigma(p))));
    case SL_PSF_MOFFAT:
        return -expm1((1 - p->beta) * log1p(r2 / sq(p->alpha)));
    case SL_PSF_SDSS: {
        double s1 = sq(p->sigma1), s2 = sq(p->sigma2);
        double f = 2 * M_PI * s1 * -expm1(-r2 / (2 * s1)) +
                   2 * M_PI * p->b * s2 * -expm1(-r2 / (2 * s2)) +
                   p->p0 * wing_flux(p, fmin(r, wing_reach(p)));
        return fmin(1, p->norm * f);
    }
    case SL_PSF_PIXEL: {
        double cx = (p->pw - 1) / 2.0, cy = (p->ph - 1) / 2.0, f = 0;
        for (int y = 0; y < p->ph; y++)
            for (int x = 0; x < p->pw; x++)
                if (sq(x - cx) + sq(y - cy) <= r2)
                    f += p->pix[y * p->pw + x];
        return f;
    }
    }
    return 0;
}

double sl_psf_fwhm(const sl_psf *p)
{
    if (p->kind == SL_PSF_GAUSSIAN || p->kind == SL_PSF_MOFFAT)
        return p->fwhm;
    if (p->kind == SL_PSF_PIXEL)
        return sl_psf_image_fwhm(p->pix, p->pw, p->ph);
    /* sdss: the profile falls monotonically, so bisect for half the peak. */
    double half = sl_psf_profile(p, 0) / 2, lo = 0, hi = p->sigma1;
    while (sl_psf_profile(p, hi) > half)
        hi *= 2;
    for (int i = 0; i < 100 && hi - lo > 1e-12 * hi; i++) {
        double mid = (lo + hi) / 2;
        if (sl_psf_profile(p, mid) > half)
            lo = mid;
        else
            hi = mid;
    }
    return lo + hi;
}

int sl_psf_auto_size(const sl_psf *p, double frac, int max_size)
{
    int cap = max_size < 3 ? 3 : max_size % 2 ? max_size : max_size - 1;
    if (p->kind == SL_PSF_PIXEL) {
        int n = p->pw > p->ph ? p->pw : p->ph;
        n |= 1;
        return n < 3 ? 3 : n > cap ? cap : n;
    }
    /* A stamp of size 2m+1 centred within half a pixel of the PSF contains
     * the disc of radius m around the PSF centre. */
    for (int m = 1; 2 * m + 1 <= cap; m++)
        if (sl_psf_enclosed(p, m) >= frac)
            return 2 * m + 1;
    return cap;
}

/* ---- pixel integration ---- */

/* Gauss-Legendre nodes and weights on [-1, 1] by Newton's method on the
 * Legendre recurrence (Numerical Recipes' gauleg idea, rewritten). */
static void gauss_legendre(int n, double *x, double *w)
{
    for (int i = 0; i < (n + 1) / 2; i++) {
        double z = cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 1;
        for (int iter = 0; iter < 100; iter++) {
            double p1 = 1, p2 = 0;
            for (int j = 1; j <= n; j++) {
                double p3 = p2;
                p2 = p1;
                p1 = ((2 * j - 1) * z * p2 - (j - 1) * p3) / j;
            }
            dp = n * (z * p1 - p2) / (z * z - 1);
            double dz = p1 / dp;
            z -= dz;
            if (fabs(dz) < 1e-15)
                break;
        }
        x[i] = -z;
        x[n - 1 - i] = z;
        w[i] = w[n - 1 - i] = 2 / ((1 - z * z) * dp * dp);
    }
}

/* Node counts tried, and their nodes and weights mapped to [-1/2, 1/2]. */
static const int node_counts[] = {2, 3, 4, 6, 8, 12, 16};
enum { NRULES = sizeof node_counts / sizeof *node_counts };
typedef struct rules {
    double x[NRULES][MAX_NODES], w[NRULES][MAX_NODES];
} rules;

static void make_rules(rules *q)
{
    for (int r = 0; r < NRULES; r++) {
        gauss_legendre(node_counts[r], q->x[r], q->w[r]);
        for (int i = 0; i < node_counts[r]; i++) {
            q->x[r][i] /= 2;
            q->w[r][i] /= 2;
        }
    }
}

/* Picks the rule for integrating f(t) = (1 + (t^2 + c)/a2)^-k over the
 * pixel [t0 - 1/2, t0 + 1/2], c >= 0 being the least squared distance along
 * the other axis.  f is analytic except at t = +-i sqrt(a2 + c); with that
 * point at z in the coordinates that map the pixel to [-1, 1], an n-node
 * Gauss-Legendre rule errs by about rho^(-2n) relative, rho being the size
 * of the Bernstein ellipse through z: rho = s + sqrt(s^2 - 1), s half the
 * sum of the distances from z to -1 and 1.  log_tol = log(1 / tolerance). */
static int pick_rule(double t0, double c, double a2, double log_tol)
{
    double x = 2 * fabs(t0), y = 2 * sqrt(a2 + c);
    double s = (hypot(x - 1, y) + hypot(x + 1, y)) / 2;
    double log_rho = log(s + sqrt(s * s - 1));
    for (int r = 0; r < NRULES; r++)
        if (2 * node_counts[r] * log_rho > log_tol)
            return r;
    return NRULES - 1;
}

/* Integral over one pixel of the non-Gaussian part of the profile (Moffat,
 * or the SDSS wing with its p0 and norm), the pixel spanning
 * [x0 - 1/2, x0 + 1/2] x [y0 - 1/2, y0 + 1/2] relative to the PSF centre. */
static double radial_part(const sl_psf *p, const rules *q, double x0, double y0)
{
    double a2, k, log_tol = log(1e9);
    if (p->kind == SL_PSF_MOFFAT) {
        a2 = sq(p->alpha);
        k = p->beta;
    } else {
        a2 = p->beta * sq(p->sigmap);
        k = p->beta / 2;
        /* The pixel needs 1e-9 overall: where the Gaussians outshine the
         * wing, the wing may be rougher by as much. */
        double r2 = x0 * x0 + y0 * y0, w = p->p0 * wing(p, r2);
        double g = exp(-r2 / (2 * sq(p->sigma1))) + p->b * exp(-r2 / (2 * sq(p->sigma2)));
        log_tol -= log((g + w) / w);
    }
    int rx = pick_rule(x0, sq(fmax(0, fabs(y0) - 0.5)), a2, log_tol);
    int ry = pick_rule(y0, sq(fmax(0, fabs(x0) - 0.5)), a2, log_tol);
    int r = rx > ry ? rx : ry;
    int n = node_counts[r];
    double sum = 0;
    for (int j = 0; j < n; j++) {
        double y2 = sq(y0 + q->x[r][j]), row = 0;
        for (int i = 0; i < n; i++) {
            double r2 = sq(x0 + q->x[r][i]) + y2;
            row += q->w[r][i] * (p->kind == SL_PSF_MOFFAT ? pow(1 + r2 / a2, -k)
                                                          : wing(p, r2));
        }
        sum += q->w[r][j] * row;
    }
    return p->norm * (p->kind == SL_PSF_MOFFAT ? 1 : p->p0) * sum;
}

/* Fraction of a unit 1-D Gaussian of width s between a and b (a < b),
 * computed on the side of the tail to keep relative precision. */
static double gauss_interval(double a, double b, double s)
{
    double k = 1 / (s * M_SQRT2);
    if (a >= 0)
        return 0.5 * (erfc(a * k) - erfc(b * k));
    if (b <= 0)
        return 0.5 * (erfc(-b * k) - erfc(-a * k));
    return 0.5 * (erf(b * k) - erf(a * k));
}

/* Fills g[i] with the flux fraction of a Gaussian of width s falling in
 * column i of n, the centre being at c + off (pixel-index units). */
static void gauss_strip(double *g, int n, double off, double s)
{
    int c = n / 2;
    for (int i = 0; i < n; i++) {
        double x0 = i - c - off;
        g[i] = gauss_interval(x0 - 0.5, x0 + 0.5, s);
    }
}

static int render_parametric(const sl_psf *p, int n, double dx, double dy,
                             double *acc, sl_err *err)
{
    double *gx = malloc(4 * (size_t)n * sizeof *gx);
    if (!gx)
        return sl_err_set(err, "PSF render: out of memory");
    double *gy = gx + n, *hx = gx + 2 * n, *hy = gx + 3 * n;
    double w1 = 0, w2 = 0;
    if (p->kind == SL_PSF_GAUSSIAN) {
        gauss_strip(gx, n, dx, gauss_sigma(p));
        gauss_strip(gy, n, dy, gauss_sigma(p));
    } else if (p->kind == SL_PSF_SDSS) {
        w1 = p->norm * 2 * M_PI * sq(p->sigma1);
        w2 = p->norm * 2 * M_PI * p->b * sq(p->sigma2);
        gauss_strip(gx, n, dx, p->sigma1);
        gauss_strip(gy, n, dy, p->sigma1);
        gauss_strip(hx, n, dx, p->sigma2);
        gauss_strip(hy, n, dy, p->sigma2);
    }
    rules q;
    int radial = p->kind == SL_PSF_MOFFAT || (p->kind == SL_PSF_SDSS && p->p0 > 0);
    if (radial)
        make_rules(&q);
    int c = n / 2;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            double v = 0;
            if (p->kind == SL_PSF_GAUSSIAN)
                v = gx[i] * gy[j];
            else if (p->kind == SL_PSF_SDSS)
                v = w1 * gx[i] * gy[j] + w2 * hx[i] * hy[j];
            if (radial)
                v += radial_part(p, &q, i - c - dx, j - c - dy);
            acc[(size_t)j * n + i] = v;
        }
    free(gx);
    return 0;
}

/* ---- Lanczos resampling ---- */

static double lanczos(double t, int a)
{
    t = fabs(t);
    if (t < 1e-12)
        return 1;
    if (t >= a)
        return 0;
    double x = M_PI * t;
    return a * sin(x) * sin(x / a) / (x * x);
}

/* Solves the 3 x 3 system m x = r (m symmetric positive definite) by
 * Cramer's rule. */
static void solve3(const double m[3][3], const double r[3], double x[3])
{
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                 m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    for (int k = 0; k < 3; k++) {
        double a[3][3];
        memcpy(a, m, sizeof a);
        for (int i = 0; i < 3; i++)
            a[i][k] = r[i];
        x[k] = (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])) / det;
    }
}

/* The 2a taps for reading a sampled function at s (pixel-index units):
 * source indices *first .. *first + 2a - 1.  Plain Lanczos weights neither
 * sum to 1 nor reproduce a straight line: shifting an image with them
 * moves its centroid by up to 0.02 px too little (0.01 px at order 5).  The smallest
 * change that makes sum w t^k exact for k = 0, 1, 2 (t = tap - s) fixes
 * that: flux, centroid and second moments of a shifted image are then
 * those of the original, moved by the shift.  A whole-pixel shift keeps
 * the delta weights, so it copies the image exactly. */
static void lanczos_taps(double s, int a, int *first, double *w)
{
    int n = 2 * a;
    double t[16], mom[5] = {0}, m[3][3], r[3] = {1, 0, 0}, lambda[3];
    *first = (int)floor(s) - a + 1;
    for (int i = 0; i < n; i++) {
        double ti = t[i] = *first + i - s, tk = 1;
        w[i] = lanczos(ti, a);
        for (int k = 0; k < 5; k++, tk *= ti) {
            mom[k] += tk;
            if (k < 3)
                r[k] -= w[i] * tk;
        }
    }
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 3; k++)
            m[j][k] = mom[j + k];
    solve3(m, r, lambda);
    for (int i = 0; i < n; i++)
        w[i] += lambda[0] + lambda[1] * t[i] + lambda[2] * t[i] * t[i];
}

/* Resamples src (sw x sh) with a Lanczos-a kernel at x = x0 + i * step
 * (i < nx) and y = y0 + j * step (j < ny), zero outside; out is nx x ny. */
static int resample(const float *src, int sw, int sh, int a, double x0, double y0,
                    double step, int nx, int ny, double *out)
{
    double *tmp = malloc((size_t)sh * nx * sizeof *tmp), w[16];
    if (!tmp)
        return -1;
    for (int i = 0; i < nx; i++) {
        int first;
        lanczos_taps(x0 + i * step, a, &first, w);
        for (int y = 0; y < sh; y++) {
            double v = 0;
            for (int m = 0; m < 2 * a; m++)
                if (first + m >= 0 && first + m < sw)
                    v += w[m] * src[(size_t)y * sw + first + m];
            tmp[(size_t)y * nx + i] = v;
        }
    }
    for (int j = 0; j < ny; j++) {
        int first;
        lanczos_taps(y0 + j * step, a, &first, w);
        for (int i = 0; i < nx; i++) {
            double v = 0;
            for (int m = 0; m < 2 * a; m++)
                if (first + m >= 0 && first + m < sh)
                    v += w[m] * tmp[(size_t)(first + m) * nx + i];
            out[(size_t)j * nx + i] = v;
        }
    }
    free(tmp);
    return 0;
}

int sl_psf_render(const sl_psf *p, int size, double dx, double dy, float *out,
                  double *captured, sl_err *err)
{
    if (size < 1 || size > MAX_RENDER || size % 2 == 0)
        return sl_err_set(err, "PSF render: size %d, want an odd number from 1 to %d",
                          size, MAX_RENDER);
    if (!isfinite(dx) || !isfinite(dy))
        return sl_err_set(err, "PSF render: offset (%g, %g) is not finite", dx, dy);
    size_t n2 = (size_t)size * size;
    double *acc = malloc(n2 * sizeof *acc);
    if (!acc)
        return sl_err_set(err, "PSF render: out of memory");
    int rc = 0;
    if (p->kind == SL_PSF_PIXEL) {
        /* Output pixel i sits at i - c - dx from the PSF centre, i.e. at
         * that much from the source image's middle. */
        int c = size / 2;
        if (resample(p->pix, p->pw, p->ph, LANCZOS_ORDER, (p->pw - 1) / 2.0 - c - dx,
                     (p->ph - 1) / 2.0 - c - dy, 1, size, size, acc))
            rc = sl_err_set(err, "PSF render: out of memory");
    } else {
        rc = render_parametric(p, size, dx, dy, acc, err);
    }
    double sum = 0;
    for (size_t i = 0; rc == 0 && i < n2; i++)
        sum += acc[i];
    if (rc == 0 && !(sum > 0))
        rc = sl_err_set(err, "PSF render: no flux in a %d x %d stamp at offset "
                        "(%g, %g)", size, size, dx, dy);
    for (size_t i = 0; rc == 0 && i < n2; i++)
        out[i] = (float)(acc[i] / sum);
    if (rc == 0 && captured)
        *captured = sum;
    free(acc);
    return rc;
}

/* ---- measuring an image ---- */

double sl_psf_image_fwhm(const float *img, int w, int h)
{
    if (w < 1 || h < 1)
        return NAN;
    int up = (long)w * h <= 16384 ? 16 : 8;
    int nx = w * up, ny = h * up;
    double *fine = malloc((size_t)nx * ny * sizeof *fine);
    if (!fine)
        return NAN;
    /* Sample k of pixel i lies at i - 1/2 + (k + 1/2)/up, index units. */
    double start = -0.5 + 0.5 / up;
    double peak = 0, area = 0;
    if (resample(img, w, h, LANCZOS_ORDER, start, start, 1.0 / up, nx, ny, fine) == 0) {
        for (size_t i = 0; i < (size_t)nx * ny; i++)
            peak = fmax(peak, fine[i]);
        for (size_t i = 0; i < (size_t)nx * ny; i++)
            area += peak > 0 && fine[i] >= peak / 2;
    }
    free(fine);
    if (!(peak > 0))
        return NAN;
    return 2 * sqrt(area / sq(up) / M_PI);
}
