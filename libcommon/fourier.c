/* fourier.c: radial (Hankel) transforms of Sersic profiles and PSFs.
 *
 * The quadrature: f^(k) = 2 pi int_0^R f(r) J0(k r) r dr on panels of
 * Gauss-Legendre nodes.  A panel is never longer than half a period of J0
 * (pi / k), nor than a fraction of the profile's local length scale, and
 * panels grow geometrically from 1e-9 so that the cusp of a Sersic profile
 * at r = 0 (r^(1/n) for n > 1, a kink in the integrand) is resolved.  R is
 * where the flux outside falls below 1e-13, which bounds the error of
 * stopping there (|J0| <= 1).
 *
 * The series: exp(-b r^(1/n)) = sum_j (-b)^j r^(j/n) / j!, and the 2-D
 * transform of r^s is 2^(s+2) pi Gamma(1+s/2) / Gamma(-s/2) k^(-s-2) (zero
 * for even s: those terms are smooth and leave no trace at large k).  For
 * n > 1 the coefficients fall faster than any power, so the series
 * converges for every kappa > 0; it is used where its largest term is small
 * enough that cancellation costs less than 1e-12 and the quadrature agrees
 * with it.  For n < 1 it is asymptotic: summed to its smallest term, and
 * used only where that term is below 1e-13. */
#include "fourier.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "galaxy.h"
#include "special.h"

#define GL_N 12
static double gl_x[GL_N], gl_w[GL_N];
static pthread_once_t gl_once = PTHREAD_ONCE_INIT;

/* Gauss-Legendre nodes on [-1, 1] by Newton's method on P_N. */
static void gl_init(void)
{
    for (int i = 0; i < GL_N; i++) {
        double x = cos(M_PI * (i + 0.75) / (GL_N + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = x;
            for (int k = 2; k <= GL_N; k++) {
                double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            dp = GL_N * (x * p1 - p0) / (x * x - 1);
            double dx = p1 / dp;
            x -= dx;
            if (fabs(dx) < 1e-16)
                break;
        }
        gl_x[i] = x;
        gl_w[i] = 2 / ((1 - x * x) * dp * dp);
    }
}

double sl_sinc(double t)
{
    return fabs(t) < 1e-4 ? 1 - t * t / 6 : sin(t) / t;
}

/* A round profile to transform: value and local length scale at r. */
typedef struct radial {
    double n, b, amp;      /* sersic: amp exp(-b r^(1/n)) */
    const sl_psf *psf;     /* or a PSF */
    double w0;             /* PSF: shortest length scale */
    double r_end;
} radial;

static double radial_value(const radial *p, double r)
{
    if (p->psf)
        return sl_psf_profile(p->psf, r);
    return p->amp * exp(-p->b * pow(r, 1 / p->n));
}

/* The longest panel starting at r: a fraction of the local length scale. */
static double radial_width(const radial *p, double r)
{
    if (p->psf)
        return fmax(p->w0, 0.3 * r);
    double scale = p->n * pow(r, 1 - 1 / p->n) / p->b;
    return fmin(0.3 * r, 0.5 * scale);
}

static double hankel(const radial *p, double k)
{
    pthread_once(&gl_once, gl_init);
    double half = k > 0 ? M_PI / k : INFINITY, sum = 0;
    int quiet = 0;
    double r = p->psf ? 0 : 1e-9;
    while (r < p->r_end) {
        double w = fmin(half, fmax(radial_width(p, r), 1e-9));
        double r1 = fmin(r + w, p->r_end), c = 0.5 * (r + r1), h = 0.5 * (r1 - r);
        double s = 0;
        for (int i = 0; i < GL_N; i++) {
            double x = c + h * gl_x[i];
            s += gl_w[i] * radial_value(p, x) * j0(k * x) * x;
        }
        sum += h * s;
        r = r1;
        /* Where the panels follow J0's half periods their contributions
         * alternate in sign: once two in a row are negligible, so is the
         * rest. */
        quiet = w == half && fabs(h * s) < 1e-12 ? quiet + 1 : 0;
        if (quiet == 2)
            break;
    }
    return 2 * M_PI * sum;
}

/* ---- Sersic tables ---- */

#define SER_U0 (-7.0) /* log kappa at the first grid point */
#define SER_DU 0.01
#define SER_NU 2400   /* to log kappa = 17 */
#define SER_J 400     /* series terms */

struct sl_sersic_ft {
    double n, b;
    double m2, m4;          /* <r^2>, <r^4> of the unit-flux profile */
    double logc[SER_J + 1]; /* series: log |c_j|, sign */
    signed char sgn[SER_J + 1];
    double logf[SER_NU];    /* log F on the grid */
    float *fast;            /* F at kappa^2 = 2^e (1 + j / FAST_PER), see sl_sersic_ft_fast */
    struct sl_sersic_ft *next;
};

static void sersic_radial(radial *p, double n)
{
    p->n = n;
    p->b = sl_sersic_bn(n);
    p->amp = exp(2 * n * log(p->b) - lgamma(2 * n)) / (2 * M_PI * n);
    p->psf = NULL;
    double x = sl_gamma_p_inv(2 * n, 1 - 1e-13);
    p->r_end = pow(1.05 * x / p->b, n);
}

double sl_sersic_ft_direct(double n, double kappa)
{
    radial p;
    sersic_radial(&p, n);
    return hankel(&p, kappa);
}

static void series_coefficients(sl_sersic_ft *t, const radial *p)
{
    for (int j = 1; j <= SER_J; j++) {
        double s = j / t->n, sn = sin(M_PI * s / 2);
        if (fabs(s - 2 * round(s / 2)) < 1e-12) {
            t->sgn[j] = 0;
            continue;
        }
        t->logc[j] = log(p->amp) + log(2 * M_PI) + j * log(t->b) - lgamma(j + 1.0) +
                     (s + 1) * M_LN2 + 2 * lgamma(1 + s / 2) + log(fabs(sn) / M_PI);
        /* (-1)^j from (-b)^j, and 1/Gamma(-s/2) = -sin(pi s/2) Gamma(1+s/2) / pi. */
        t->sgn[j] = (signed char)((j % 2 ? 1 : -1) * (sn > 0 ? 1 : -1));
    }
}

/* The series at kappa, and in *err a bound of its error (cancellation and
 * truncation). */
static double series_eval(const sl_sersic_ft *t, double kappa, double *err)
{
    double lk = log(kappa), sum = 0, big = 0, last = 0, prev = INFINITY;
    for (int j = 1; j <= SER_J; j++) {
        if (!t->sgn[j])
            continue;
        double m = exp(t->logc[j] - (j / t->n + 2) * lk);
        if (t->n < 1 && m > prev)
            break; /* an asymptotic series: stop at its smallest term */
        sum += t->sgn[j] * m;
        big = fmax(big, m);
        last = prev = m;
        if (m < 1e-18 * fabs(sum) || (m < 1e-300 && j > 2 * t->n)) {
            last = 0;
            break;
        }
        if (j == SER_J)
            last = INFINITY; /* did not converge */
    }
    *err = last + 1e-15 * big;
    return sum;
}

static void sersic_table_fill(sl_sersic_ft *t)
{
    radial p;
    sersic_radial(&p, t->n);
    t->b = p.b;
    t->m2 = exp(lgamma(4 * t->n) - lgamma(2 * t->n) - 2 * t->n * log(p.b));
    t->m4 = exp(lgamma(6 * t->n) - lgamma(2 * t->n) - 4 * t->n * log(p.b));
    series_coefficients(t, &p);
    int use_series = 0;
    for (int i = 0; i < SER_NU; i++) {
        double kappa = exp(SER_U0 + i * SER_DU), err, f;
        double s = series_eval(t, kappa, &err);
        if (use_series) {
            f = s;
        } else {
            f = hankel(&p, kappa);
            if (err < 1e-11 && fabs(s - f) < 1e-10)
                use_series = 1;
        }
        t->logf[i] = log(fmax(f, 1e-300));
    }
}

/* The fast table: kappa^2 from 2^FAST_E0 to 2^FAST_E1, FAST_PER entries
 * per octave, indexed by the bits of the float kappa^2 (no log, no exp),
 * linear in between: relative error below (1/FAST_PER)^2 / 8 times the
 * profile's curvature in log kappa^2, about 1e-6 of the peak in images. */
#define FAST_BITS 9
#define FAST_PER (1 << FAST_BITS)
#define FAST_E0 (-40)
#define FAST_E1 50

static int fast_fill(sl_sersic_ft *t)
{
    size_t n = (size_t)(FAST_E1 - FAST_E0) * FAST_PER + 1;
    if (!(t->fast = malloc(n * sizeof *t->fast)))
        return -1;
    for (size_t i = 0; i < n; i++) {
        int e = FAST_E0 + (int)(i / FAST_PER);
        double k2 = ldexp(1 + (double)(i % FAST_PER) / FAST_PER, e);
        t->fast[i] = (float)sl_sersic_ft_eval(t, sqrt(k2));
    }
    return 0;
}

float sl_sersic_ft_fast(const sl_sersic_ft *t, float kappa2)
{
    if (!(kappa2 >= 0x1p-40f))
        return 1;
    if (kappa2 >= 0x1p50f)
        return t->fast[(size_t)(FAST_E1 - FAST_E0) * FAST_PER];
    union { float f; uint32_t u; } v = {kappa2};
    uint32_t top = v.u >> (23 - FAST_BITS); /* exponent and FAST_BITS of mantissa */
    uint32_t base = (uint32_t)(127 + FAST_E0) << FAST_BITS;
    float frac = (float)(v.u & ((1u << (23 - FAST_BITS)) - 1)) * (1.0f / (1 << (23 - FAST_BITS)));
    const float *p = t->fast + (top - base);
    return p[0] + frac * (p[1] - p[0]);
}

static pthread_mutex_t ser_lock = PTHREAD_MUTEX_INITIALIZER;
static sl_sersic_ft *ser_cache;

const sl_sersic_ft *sl_sersic_ft_get(double n, sl_err *err)
{
    if (!(n >= 0.5 && n <= 6)) {
        sl_err_set(err, "Sersic index %g: want 0.5 to 6", n);
        return NULL;
    }
    pthread_mutex_lock(&ser_lock);
    sl_sersic_ft *t = ser_cache;
    while (t && t->n != n)
        t = t->next;
    if (!t && (t = calloc(1, sizeof *t))) {
        t->n = n;
        sersic_table_fill(t);
        if (fast_fill(t) < 0) {
            free(t);
            t = NULL;
        } else {
            t->next = ser_cache;
            ser_cache = t;
        }
    }
    pthread_mutex_unlock(&ser_lock);
    if (!t)
        sl_err_set(err, "out of memory for the Sersic n = %g transform", n);
    return t;
}

/* Cubic Lagrange interpolation through v[i-1 .. i+2] at i + f. */
static inline double cubic(const double *v, int i, double f)
{
    double a = v[i - 1], b = v[i], c = v[i + 1], d = v[i + 2];
    return b + 0.5 * f * (c - a + f * (2 * a - 5 * b + 4 * c - d + f * (3 * (b - c) + d - a)));
}

double sl_sersic_ft_eval(const sl_sersic_ft *t, double kappa)
{
    double u = (log(kappa) - SER_U0) / SER_DU;
    if (!(u >= 1)) {
        double k2 = kappa * kappa;
        return 1 - k2 * t->m2 / 4 + k2 * k2 * t->m4 / 64;
    }
    if (u >= SER_NU - 2) {
        double err;
        return series_eval(t, kappa, &err);
    }
    int i = (int)u;
    const double *v = t->logf;
    if (v[i + 2] < -600 || v[i - 1] < -600) /* beside the floor: no overshoot */
        return exp(v[i] + (u - i) * (v[i + 1] - v[i]));
    return exp(cubic(v, i, u - i));
}

/* ---- PSFs ---- */

#define PSF_DK 0.02
/* |P^| below which a frequency is dropped: its terms add at most about
 * 1e-8 of the flux to a pixel. */
#define PSF_CUT 1e-8

int sl_psf_ft_init(sl_psf_ft *f, const sl_psf *p, sl_err *err)
{
    *f = (sl_psf_ft){.kind = p->kind};
    if (p->kind == SL_PSF_GAUSSIAN) {
        f->sigma = p->fwhm / (2 * sqrt(2 * M_LN2));
        f->k_max = sqrt(-2 * log(PSF_CUT)) / f->sigma;
        return 0;
    }
    if (p->kind == SL_PSF_PIXEL)
        return sl_err_set(err, "a pixel PSF has no parametric transform");
    radial r = {.psf = p, .w0 = 0.1 * sl_psf_fwhm(p), .r_end = sl_psf_fwhm(p)};
    /* The PSF is cut where all but 1e-8 of its flux is inside or its
     * surface brightness falls below 1e-9 of the peak (power-law wings would
     * otherwise need thousands of panels), and renormalized. */
    double floor = 1e-9 * sl_psf_profile(p, 0);
    while (r.r_end < 1e4 && sl_psf_enclosed(p, r.r_end) < 1 - 1e-8 &&
           sl_psf_profile(p, r.r_end) > floor)
        r.r_end *= 1.25;
    int cap = 64;
    double norm = hankel(&r, 0);
    if (!(f->tab = malloc(cap * sizeof *f->tab)))
        return sl_err_set(err, "out of memory for a PSF transform");
    /* Until 20 grid points in a row are below PSF_CUT, and 3 beyond them for
     * the interpolation. */
    int quiet = 0;
    for (int i = 0; quiet < 23 && i < 100000; i++) {
        if (i == cap) {
            double *t = realloc(f->tab, 2 * cap * sizeof *t);
            if (!t) {
                sl_psf_ft_free(f);
                return sl_err_set(err, "out of memory for a PSF transform");
            }
            f->tab = t;
            cap *= 2;
        }
        f->tab[i] = i ? hankel(&r, i * PSF_DK) / norm : 1;
        quiet = fabs(f->tab[i]) < PSF_CUT ? quiet + 1 : 0;
        f->nk = i + 1;
    }
    f->dk = PSF_DK;
    f->k_max = (f->nk - 23) * PSF_DK;
    return 0;
}

void sl_psf_ft_free(sl_psf_ft *f)
{
    free(f->tab);
    f->tab = NULL;
}

double sl_psf_ft_eval(const sl_psf_ft *f, double k)
{
    if (f->kind == SL_PSF_GAUSSIAN)
        return exp(-0.5 * k * k * f->sigma * f->sigma);
    double u = k / f->dk;
    if (u >= f->nk - 2)
        return 0;
    int i = (int)u;
    if (i == 0) {
        /* Mirror: P^ is even in k. */
        double v[4] = {f->tab[1], f->tab[0], f->tab[1], f->tab[2]};
        return cubic(v, 1, u);
    }
    return cubic(f->tab, i, u - i);
}
