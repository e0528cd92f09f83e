#include "family.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "special.h"

#define LOG_SQRT_2PI 0.91893853320467274178

/* ---- scalar helpers ---------------------------------------------------- */

/* log(1 + e^x) without overflow for large x or loss of precision for small. */
static double softplus(double x)
{
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double sigmoid(double x)
{
    if (x >= 0)
        return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* log sigmoid(x) = -softplus(-x), finite for every finite x. */
static double log_sigmoid(double x)
{
    return -softplus(-x);
}

static float to_float(double x)
{
    if (x > FLT_MAX)
        return FLT_MAX;
    if (x < -FLT_MAX)
        return -FLT_MAX;
    return (float)x;
}

/* ---- transforms -------------------------------------------------------- */

/* z = t(y) and log |dz/dy|; returns 0 when y is outside the open support
 * (z would be infinite), leaving *z and *logjac unset. */
static int tr_forward(const sl_transform *t, double y, double *z, double *logjac)
{
    switch (t->kind) {
    case SL_TR_IDENTITY:
        if (!isfinite(y))
            return 0;
        *z = y;
        *logjac = 0;
        return 1;
    case SL_TR_LOG:
        if (!(y > 0) || !isfinite(y))
            return 0;
        *z = log(y);
        *logjac = -*z;
        return 1;
    case SL_TR_LOGIT: {
        if (!(y > t->a && y < t->b))
            return 0;
        /* log((y-a)/(b-y)) keeps full precision at both ends, unlike logit(u) of
         * a rounded u = (y-a)/(b-a). */
        double la = log(y - t->a), lb = log(t->b - y);
        *z = la - lb;
        *logjac = log(t->b - t->a) - la - lb;
        return 1;
    }
    }
    return 0;
}

/* y = t^-1(z); the logit branch works from the nearer end so that values close
 * to b are not rounded onto b. */
static double tr_inverse(const sl_transform *t, double z)
{
    switch (t->kind) {
    case SL_TR_IDENTITY:
        return z;
    case SL_TR_LOG:
        return exp(z);
    case SL_TR_LOGIT:
        if (z < 0)
            return t->a + (t->b - t->a) * sigmoid(z);
        return t->b - (t->b - t->a) * sigmoid(-z);
    }
    return NAN;
}

/* ---- the logit-normal mean -------------------------------------------- */

/* 10-point Gauss-Legendre rule on [-1, 1] (nodes and weights, positive half). */
static const double gl_x[5] = {0.14887433898163122, 0.4333953941292472, 0.6794095682990244,
                               0.8650633666889845, 0.9739065285171717};
static const double gl_w[5] = {0.295524224714753, 0.2692667193099965, 0.219086362515982,
                               0.14945134915058036, 0.06667134430868807};

/* Integral over [lo, hi] of sigmoid(mu + sigma t) phi(t), in n equal panels. */
static double sigmoid_gauss_piece(double mu, double sigma, double lo, double hi, int n)
{
    double h = (hi - lo) / n, sum = 0;
    for (int p = 0; p < n; p++) {
        double c = lo + (p + 0.5) * h, r = 0.5 * h;
        for (int k = 0; k < 5; k++) {
            double t1 = c - r * gl_x[k], t2 = c + r * gl_x[k];
            sum += gl_w[k] * (sigmoid(mu + sigma * t1) * exp(-0.5 * t1 * t1)
                              + sigmoid(mu + sigma * t2) * exp(-0.5 * t2 * t2));
        }
    }
    return sum * 0.5 * h / sqrt(2 * M_PI);
}

static int n_panels(double len, double h)
{
    /* At most 40 for finite mu and sigma; NaN or inf parameters (a broken
     * model) must not reach the conversion to int. */
    double n = ceil(len / h - 1e-9);
    return len <= 0 ? 0 : n <= 1000 ? (int)n : 1000;
}

/* E[sigmoid(mu + sigma T)], T ~ N(0, 1).  It has no closed form, and the
 * integrand defeats Gauss-Hermite when sigma is large (a near-step in t of width
 * 1/sigma).  Where |mu + sigma t| > 40 the sigmoid is 1 or e^x to double
 * precision and the integrand is a Gaussian (possibly shifted) that is smooth
 * on the scale of 1, so panels of width 1 suffice there; the transition region
 * gets panels of width 2/sigma, on which a 10-point rule is exact to rounding.
 * |t| > 10 holds less than 1e-22 of the mass and is dropped. */
static double expect_sigmoid(double mu, double sigma)
{
    const double T = 10, sat = 40;
    double t0 = -mu / sigma, r0 = fmax(-T, t0 - sat / sigma), r1 = fmin(T, t0 + sat / sigma);
    if (!(r1 > r0))
        return sigmoid_gauss_piece(mu, sigma, -T, T, n_panels(2 * T, 1));
    double hin = fmin(1.0, 2.0 / sigma), sum = 0;
    if (r0 > -T)
        sum += sigmoid_gauss_piece(mu, sigma, -T, r0, n_panels(r0 + T, 1));
    sum += sigmoid_gauss_piece(mu, sigma, r0, r1, n_panels(r1 - r0, hin));
    if (r1 < T)
        sum += sigmoid_gauss_piece(mu, sigma, r1, T, n_panels(T - r1, 1));
    return sum;
}

/* Mean of t^-1(z) for z ~ N(mu, sigma^2). */
static double tr_mean(const sl_transform *t, double mu, double sigma)
{
    switch (t->kind) {
    case SL_TR_IDENTITY:
        return mu;
    case SL_TR_LOG:
        return exp(mu + 0.5 * sigma * sigma);
    case SL_TR_LOGIT:
        /* Work from the end the mass is nearer to, so that a mean close to b keeps
         * its distance from b (E[sigmoid(-Z)] = 1 - E[sigmoid(Z)]). */
        if (mu <= 0)
            return t->a + (t->b - t->a) * expect_sigmoid(mu, sigma);
        return t->b - (t->b - t->a) * expect_sigmoid(-mu, sigma);
    }
    return NAN;
}

/* ---- construction and checks ------------------------------------------ */

static sl_family scalar(sl_family_kind kind, sl_transform_kind tk, double a, double b)
{
    sl_family f;
    memset(&f, 0, sizeof f);
    f.kind = kind;
    f.dim = 1;
    f.tr[0].kind = tk;
    f.tr[0].a = a;
    f.tr[0].b = b;
    return f;
}

sl_family sl_family_bernoulli(void) { return scalar(SL_FAM_BERNOULLI, SL_TR_IDENTITY, 0, 0); }
sl_family sl_family_normal(void) { return scalar(SL_FAM_NORMAL, SL_TR_IDENTITY, 0, 0); }
sl_family sl_family_lognormal(void) { return scalar(SL_FAM_LOGNORMAL, SL_TR_LOG, 0, 0); }
sl_family sl_family_logitnormal(double a, double b)
{
    return scalar(SL_FAM_LOGITNORMAL, SL_TR_LOGIT, a, b);
}

static int check_transform(const sl_transform *t, int i, sl_err *err)
{
    if (t->kind != SL_TR_IDENTITY && t->kind != SL_TR_LOG && t->kind != SL_TR_LOGIT)
        return sl_err_set(err, "coordinate %d: unknown transform %d", i, (int)t->kind);
    if (t->kind == SL_TR_LOGIT && !(isfinite(t->a) && isfinite(t->b) && t->a < t->b))
        return sl_err_set(err, "coordinate %d: logit interval (%g, %g) is not a finite "
                          "interval with a < b", i, t->a, t->b);
    return 0;
}

int sl_family_check(const sl_family *f, sl_err *err)
{
    static const sl_transform_kind want[] = {SL_TR_IDENTITY, SL_TR_IDENTITY, SL_TR_LOG,
                                             SL_TR_LOGIT};
    if (f->kind == SL_FAM_MVN) {
        if (f->dim < 1 || f->dim > SL_FAMILY_MAX_DIM)
            return sl_err_set(err, "mvn: dimension %d is outside 1..%d", f->dim,
                              SL_FAMILY_MAX_DIM);
        for (int i = 0; i < f->dim; i++)
            if (check_transform(&f->tr[i], i, err) < 0)
                return sl_err_prefix(err, "mvn");
        return 0;
    }
    if ((unsigned)f->kind > SL_FAM_LOGITNORMAL)
        return sl_err_set(err, "unknown family kind %d", (int)f->kind);
    const char *name = sl_family_name(f->kind);
    if (f->dim != 1)
        return sl_err_set(err, "%s: dimension %d, want 1", name, f->dim);
    if (f->tr[0].kind != want[f->kind])
        return sl_err_set(err, "%s: transform %d does not match the family", name,
                          (int)f->tr[0].kind);
    if (check_transform(&f->tr[0], 0, err) < 0)
        return sl_err_prefix(err, "%s", name);
    return 0;
}

int sl_family_mvn(sl_family *f, int dim, const sl_transform *tr, sl_err *err)
{
    memset(f, 0, sizeof *f);
    f->kind = SL_FAM_MVN;
    f->dim = dim;
    if (dim >= 1 && dim <= SL_FAMILY_MAX_DIM)
        memcpy(f->tr, tr, (size_t)dim * sizeof *tr);
    return sl_family_check(f, err);
}

int sl_family_n_outputs(const sl_family *f)
{
    if (f->kind == SL_FAM_BERNOULLI)
        return 1;
    return f->dim + f->dim * (f->dim + 1) / 2;
}

/* ---- the transformed normal: density and gradient --------------------- */

/* Packed index of L[i][j], j <= i, in the row-by-row lower triangle. */
static int tri(int i, int j)
{
    return i * (i + 1) / 2 + j;
}

/* L from the raw outputs (which start after the d means). */
static void build_chol(int d, const double *raw, double *L)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j <= i; j++) {
            double r = raw[tri(i, j)];
            L[tri(i, j)] = i == j ? softplus(r) + SL_FAMILY_SCALE_MIN : r;
        }
}

static void zero_grad(int n, double *grad)
{
    if (grad)
        for (int k = 0; k < n; k++)
            grad[k] = 0;
}

/* log N(z; mu, L L^T) with z = t(y), plus the Jacobian.  With w = L^-1 (z - mu)
 * and v = L^-T w: d/dmu = v, d/dL_ij = v_i w_j - [i == j] / L_ii, and the chain
 * rule through softplus multiplies the diagonal by sigmoid(raw). */
static double tn_logpdf(const sl_family *f, const double *out, const double *y, double *grad)
{
    int d = f->dim, nout = sl_family_n_outputs(f);
    double w[SL_FAMILY_MAX_DIM], v[SL_FAMILY_MAX_DIM];
    double L[SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2];
    double logq = -d * LOG_SQRT_2PI;
    for (int i = 0; i < d; i++) {
        double z, lj;
        if (isnan(y[i])) {
            zero_grad(nout, grad);
            return NAN;
        }
        if (!tr_forward(&f->tr[i], y[i], &z, &lj)) {
            zero_grad(nout, grad);
            return -INFINITY;
        }
        w[i] = z - out[i];
        logq += lj;
    }
    const double *raw = out + d;
    build_chol(d, raw, L);
    for (int i = 0; i < d; i++) { /* forward substitution, in place */
        for (int j = 0; j < i; j++)
            w[i] -= L[tri(i, j)] * w[j];
        w[i] /= L[tri(i, i)];
        logq -= 0.5 * w[i] * w[i] + log(L[tri(i, i)]);
    }
    if (!grad)
        return logq;
    for (int i = d - 1; i >= 0; i--) { /* back substitution with L^T */
        v[i] = w[i];
        for (int k = i + 1; k < d; k++)
            v[i] -= L[tri(k, i)] * v[k];
        v[i] /= L[tri(i, i)];
    }
    for (int i = 0; i < d; i++) {
        grad[i] = v[i];
        for (int j = 0; j < i; j++)
            grad[d + tri(i, j)] = v[i] * w[j];
        double gii = v[i] * w[i] - 1.0 / L[tri(i, i)];
        grad[d + tri(i, i)] = gii * sigmoid(raw[tri(i, i)]);
    }
    return logq;
}

static double bernoulli_logpdf(double logit, double y, double *grad)
{
    if (isnan(y) || !(y >= 0 && y <= 1)) {
        zero_grad(1, grad);
        return isnan(y) ? NAN : -INFINITY;
    }
    if (grad)
        grad[0] = y - sigmoid(logit);
    /* Skip a term whose weight is 0 so that y = 0 or 1 never meets 0 * -inf. */
    double lp = 0;
    if (y > 0)
        lp += y * log_sigmoid(logit);
    if (y < 1)
        lp += (1 - y) * log_sigmoid(-logit);
    return lp;
}

double sl_family_logpdf_d(const sl_family *f, const double *out, const double *y, double *grad)
{
    if (f->kind == SL_FAM_BERNOULLI)
        return bernoulli_logpdf(out[0], y[0], grad);
    return tn_logpdf(f, out, y, grad);
}

double sl_family_logpdf(const sl_family *f, const float *out, const double *y, float *grad)
{
    double o[SL_FAMILY_MAX_OUTPUTS] = {0}, g[SL_FAMILY_MAX_OUTPUTS];
    int n = sl_family_n_outputs(f);
    for (int k = 0; k < n; k++)
        o[k] = out[k];
    double lp = sl_family_logpdf_d(f, o, y, grad ? g : NULL);
    if (grad)
        for (int k = 0; k < n; k++)
            grad[k] = to_float(g[k]);
    return lp;
}

int sl_family_clamp_target(const sl_family *f, double *y, sl_err *err)
{
    int moved = 0;
    for (int i = 0; i < f->dim; i++) {
        const sl_transform *t = &f->tr[i];
        double z, lj;
        if (f->kind == SL_FAM_BERNOULLI) {
            if (!(y[i] >= 0 && y[i] <= 1))
                return sl_err_set(err, "%s target %g is outside [0, 1]",
                                  sl_family_name(f->kind), y[i]);
            continue;
        }
        if (t->kind == SL_TR_LOGIT) {
            double m = SL_FAMILY_LOGIT_MARGIN * (t->b - t->a);
            if (y[i] >= t->a - m && y[i] < t->a + m) {
                y[i] = t->a + m;
                moved++;
            } else if (y[i] <= t->b + m && y[i] > t->b - m) {
                y[i] = t->b - m;
                moved++;
            }
        }
        if (!tr_forward(t, y[i], &z, &lj))
            return sl_err_set(err, "%s coordinate %d: target %g is outside the support",
                              sl_family_name(f->kind), i, y[i]);
    }
    return moved;
}

/* ---- mean, quantiles, CDF, samples ------------------------------------ */

/* Standard deviation of the marginal of z_i: the norm of row i of L. */
static double marginal_sd(const double *L, int i)
{
    double s = 0;
    for (int j = 0; j <= i; j++)
        s += L[tri(i, j)] * L[tri(i, j)];
    return sqrt(s);
}

/* The means and the Cholesky factor from float outputs. */
static void prepare(const sl_family *f, const float *out, double *mu, double *L)
{
    double raw[SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2];
    int d = f->dim;
    for (int i = 0; i < d; i++)
        mu[i] = out[i];
    for (int k = 0; k < d * (d + 1) / 2; k++)
        raw[k] = out[d + k];
    build_chol(d, raw, L);
}

void sl_family_params(const sl_family *f, const float *out, double *mu, double *L)
{
    if (f->kind == SL_FAM_BERNOULLI) {
        mu[0] = out[0];
        L[0] = 0;
        return;
    }
    prepare(f, out, mu, L);
}

void sl_family_mean(const sl_family *f, const float *out, double *mean)
{
    double mu[SL_FAMILY_MAX_DIM], L[SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2];
    if (f->kind == SL_FAM_BERNOULLI) {
        mean[0] = sigmoid(out[0]);
        return;
    }
    prepare(f, out, mu, L);
    for (int i = 0; i < f->dim; i++)
        mean[i] = tr_mean(&f->tr[i], mu[i], marginal_sd(L, i));
}

void sl_family_quantile(const sl_family *f, const float *out, double level, double *q)
{
    double mu[SL_FAMILY_MAX_DIM], L[SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2];
    if (!(level > 0 && level < 1)) {
        for (int i = 0; i < f->dim; i++)
            q[i] = NAN;
        return;
    }
    if (f->kind == SL_FAM_BERNOULLI) {
        /* P(y = 0) = sigmoid(-l); the quantile is the smallest y with F(y) >= level. */
        q[0] = level <= sigmoid(-(double)out[0]) ? 0.0 : 1.0;
        return;
    }
    prepare(f, out, mu, L);
    double zq = sl_normal_quantile(level);
    for (int i = 0; i < f->dim; i++)
        q[i] = tr_inverse(&f->tr[i], mu[i] + marginal_sd(L, i) * zq);
}

double sl_family_cdf(const sl_family *f, const float *out, int i, double y)
{
    double mu[SL_FAMILY_MAX_DIM], L[SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2];
    if (isnan(y) || i < 0 || i >= f->dim)
        return NAN;
    if (f->kind == SL_FAM_BERNOULLI)
        return y < 0 ? 0.0 : y < 1 ? sigmoid(-(double)out[0]) : 1.0;
    const sl_transform *t = &f->tr[i];
    double z, lj;
    if (!tr_forward(t, y, &z, &lj)) {
        /* Outside the open support: below it or at its lower end gives 0. */
        int below = (t->kind == SL_TR_LOG && y <= 0) || (t->kind == SL_TR_LOGIT && y <= t->a)
                    || y == -INFINITY;
        return below ? 0.0 : 1.0;
    }
    prepare(f, out, mu, L);
    return sl_normal_cdf((z - mu[i]) / marginal_sd(L, i));
}

void sl_family_sample(const sl_family *f, const float *out, sl_rng *r, double *y)
{
    double mu[SL_FAMILY_MAX_DIM], L[SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2];
    double e[SL_FAMILY_MAX_DIM];
    if (f->kind == SL_FAM_BERNOULLI) {
        y[0] = sl_rng_bernoulli(r, sigmoid(out[0]));
        return;
    }
    prepare(f, out, mu, L);
    int d = f->dim;
    for (int i = 0; i < d; i++)
        e[i] = sl_rng_normal(r);
    for (int i = 0; i < d; i++) {
        double z = mu[i];
        for (int j = 0; j <= i; j++)
            z += L[tri(i, j)] * e[j];
        y[i] = tr_inverse(&f->tr[i], z);
    }
}

/* ---- names and specs --------------------------------------------------- */

static const char *const family_names[] = {"bernoulli", "normal", "lognormal", "logitnormal",
                                           "mvn"};
static const char *const transform_names[] = {"identity", "log", "logit"};

const char *sl_family_name(sl_family_kind kind)
{
    return (unsigned)kind <= SL_FAM_MVN ? family_names[kind] : "unknown";
}

int sl_family_kind_parse(const char *name, sl_family_kind *kind)
{
    for (int k = 0; k <= SL_FAM_MVN; k++)
        if (strcmp(name, family_names[k]) == 0) {
            *kind = (sl_family_kind)k;
            return 0;
        }
    return -1;
}

/* Appends to buf like snprintf, tracking the full length in *len even when
 * buf is too small (or NULL, to measure). */
static void append(char *buf, size_t size, int *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, int *len, const char *fmt, ...)
{
    size_t at = (size_t)*len < size ? (size_t)*len : size;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf ? buf + at : NULL, buf ? size - at : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += n;
}

int sl_family_format(const sl_family *f, char *buf, size_t size)
{
    int len = 0;
    if (buf && size > 0)
        buf[0] = '\0';
    if (f->kind != SL_FAM_MVN) {
        append(buf, size, &len, "%s", sl_family_name(f->kind));
        if (f->kind == SL_FAM_LOGITNORMAL)
            append(buf, size, &len, "(%.17g,%.17g)", f->tr[0].a, f->tr[0].b);
        return len;
    }
    append(buf, size, &len, "mvn(");
    for (int i = 0; i < f->dim; i++) {
        const sl_transform *t = &f->tr[i];
        append(buf, size, &len, "%s%s", i > 0 ? "," : "", transform_names[t->kind]);
        if (t->kind == SL_TR_LOGIT)
            append(buf, size, &len, "(%.17g,%.17g)", t->a, t->b);
    }
    append(buf, size, &len, ")");
    return len;
}

/* A small cursor over the spec for the recursive-descent parser. */
typedef struct spec_cursor {
    const char *s, *spec;
} spec_cursor;

static void skip_space(spec_cursor *c)
{
    while (isspace((unsigned char)*c->s))
        c->s++;
}

static int accept(spec_cursor *c, char ch)
{
    skip_space(c);
    if (*c->s != ch)
        return 0;
    c->s++;
    return 1;
}

/* Copies the next identifier (letters) into word; returns its length. */
static size_t read_word(spec_cursor *c, char *word, size_t size)
{
    skip_space(c);
    size_t n = 0;
    while (isalpha((unsigned char)c->s[n]) && n + 1 < size) {
        word[n] = c->s[n];
        n++;
    }
    word[n] = '\0';
    c->s += n;
    return n;
}

static int parse_error(spec_cursor *c, sl_err *err, const char *what)
{
    return sl_err_set(err, "family spec \"%s\": %s at offset %d", c->spec, what,
                      (int)(c->s - c->spec));
}

/* "(a,b)" after logit or logitnormal; none means (0, 1). */
static int parse_interval(spec_cursor *c, sl_transform *t, sl_err *err)
{
    t->a = 0;
    t->b = 1;
    if (!accept(c, '('))
        return 0;
    double v[2];
    for (int k = 0; k < 2; k++) {
        char *end;
        skip_space(c);
        v[k] = strtod(c->s, &end);
        if (end == c->s)
            return parse_error(c, err, "expected a number");
        c->s = end;
        if (!accept(c, k == 0 ? ',' : ')'))
            return parse_error(c, err, k == 0 ? "expected ','" : "expected ')'");
    }
    t->a = v[0];
    t->b = v[1];
    return 0;
}

static int parse_transform(spec_cursor *c, sl_transform *t, sl_err *err)
{
    char word[16];
    read_word(c, word, sizeof word);
    for (int k = 0; k < 3; k++)
        if (strcmp(word, transform_names[k]) == 0) {
            t->kind = (sl_transform_kind)k;
            t->a = t->b = 0;
            return k == SL_TR_LOGIT ? parse_interval(c, t, err) : 0;
        }
    return parse_error(c, err, "expected identity, log or logit(a,b)");
}

int sl_family_parse(sl_family *f, const char *spec, sl_err *err)
{
    spec_cursor c = {spec, spec};
    char word[16];
    sl_family_kind kind;
    memset(f, 0, sizeof *f);
    read_word(&c, word, sizeof word);
    if (sl_family_kind_parse(word, &kind) < 0)
        return parse_error(&c, err, "unknown family name");
    switch (kind) {
    case SL_FAM_BERNOULLI: *f = sl_family_bernoulli(); break;
    case SL_FAM_NORMAL: *f = sl_family_normal(); break;
    case SL_FAM_LOGNORMAL: *f = sl_family_lognormal(); break;
    case SL_FAM_LOGITNORMAL:
        *f = sl_family_logitnormal(0, 1);
        if (parse_interval(&c, &f->tr[0], err) < 0)
            return -1;
        break;
    case SL_FAM_MVN:
        f->kind = SL_FAM_MVN;
        if (!accept(&c, '('))
            return parse_error(&c, err, "expected '(' after mvn");
        do {
            if (f->dim == SL_FAMILY_MAX_DIM)
                return parse_error(&c, err, "too many coordinates");
            if (parse_transform(&c, &f->tr[f->dim++], err) < 0)
                return -1;
        } while (accept(&c, ','));
        if (!accept(&c, ')'))
            return parse_error(&c, err, "expected ',' or ')'");
        break;
    }
    skip_space(&c);
    if (*c.s)
        return parse_error(&c, err, "unexpected text");
    if (sl_family_check(f, err) < 0)
        return sl_err_prefix(err, "family spec \"%s\"", spec);
    return 0;
}
