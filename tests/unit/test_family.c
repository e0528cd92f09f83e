/* Variational families: densities against closed forms and quadrature,
 * gradients against finite differences, quantiles and means against exact
 * values and samples, robustness at extreme outputs, specs. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "family.h"
#include "special.h"

/* The raw output s giving standard deviation sigma (inverse of softplus + floor). */
static double raw_for_sigma(double sigma)
{
    return log(expm1(sigma - SL_FAMILY_SCALE_MIN));
}

static double sigma_of_raw(double s)
{
    return log1p(exp(s)) + SL_FAMILY_SCALE_MIN;
}

static double logit_ab(double y, double a, double b)
{
    return log((y - a) / (b - y));
}

static double normal_logpdf(double z, double mu, double sigma)
{
    double w = (z - mu) / sigma;
    return -0.5 * w * w - log(sigma) - 0.5 * log(2 * M_PI);
}

/* The transform of a family's scalar coordinate and its derivative, written
 * out independently of family.c. */
static double z_of(const sl_transform *t, double y, double *dzdy)
{
    switch (t->kind) {
    case SL_TR_LOG:
        *dzdy = 1 / y;
        return log(y);
    case SL_TR_LOGIT:
        *dzdy = (t->b - t->a) / ((y - t->a) * (t->b - y));
        return logit_ab(y, t->a, t->b);
    default:
        *dzdy = 1;
        return y;
    }
}

static sl_family test_mvn(void)
{
    sl_family f;
    sl_transform tr[5] = {{SL_TR_LOG, 0, 0}, {SL_TR_IDENTITY, 0, 0}, {SL_TR_IDENTITY, 0, 0},
                          {SL_TR_LOGIT, -1, 1}, {SL_TR_LOGIT, -1, 1}};
    CHECK(sl_family_mvn(&f, 5, tr, NULL) == 0);
    return f;
}

static void test_logpdf_reference_values(void)
{
    /* Reference values from scipy.stats with sigma = softplus(0.25) + 1e-4. */
    float out[2] = {0.5f, 0.25f};
    sl_family f = sl_family_normal();
    double y = 1.3;
    CHECK_NEAR(sl_family_logpdf(&f, out, &y, NULL), -1.1967993900393847, 1e-13);
    f = sl_family_lognormal();
    CHECK_NEAR(sl_family_logpdf(&f, out, &y, NULL), -1.0315701551830714, 1e-13);
    f = sl_family_logitnormal(-1, 1);
    y = 0.4;
    CHECK_NEAR(sl_family_logpdf(&f, out, &y, NULL), 0.05129101646871659, 1e-13);
    f = sl_family_bernoulli();
    float l = 1.7f;
    y = 1;
    CHECK_NEAR(sl_family_logpdf(&f, &l, &y, NULL), -0.16778602938626597, 1e-7);
    y = 0;
    CHECK_NEAR(sl_family_logpdf(&f, &l, &y, NULL), -1.8677860293862656, 1e-7);
}

static void test_logpdf_closed_forms(void)
{
    const sl_family fams[] = {sl_family_normal(), sl_family_lognormal(),
                              sl_family_logitnormal(2, 5)};
    const double ys[] = {2.1, 2.5, 3.0, 4.2, 4.99};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 5; i++)
            for (double mu = -1.5; mu < 2; mu += 0.75) {
                double out[2] = {mu, raw_for_sigma(0.3 + 0.2 * i)}, dz;
                double z = z_of(&fams[k].tr[0], ys[i], &dz);
                double want = normal_logpdf(z, mu, 0.3 + 0.2 * i) + log(dz);
                CHECK_NEAR(sl_family_logpdf_d(&fams[k], out, &ys[i], NULL), want, 1e-12);
            }
}

/* Trapezoid rule of exp(logpdf) over [lo, hi] in n intervals, for 1-d families. */
static double integrate_density(const sl_family *f, const float *out, double lo, double hi,
                                int n)
{
    double h = (hi - lo) / n, sum = 0;
    for (int i = 0; i <= n; i++) {
        double y = lo + i * h, lp = sl_family_logpdf(f, out, &y, NULL);
        sum += (i == 0 || i == n ? 0.5 : 1.0) * exp(lp);
    }
    return sum * h;
}

static void test_normalization_1d(void)
{
    float out[2] = {0.5f, (float)raw_for_sigma(0.7)};
    sl_family f = sl_family_normal();
    CHECK_NEAR(integrate_density(&f, out, -12, 13, 20000), 1.0, 1e-10);
    f = sl_family_lognormal();
    out[0] = 0.3f;
    out[1] = (float)raw_for_sigma(0.6);
    CHECK_NEAR(integrate_density(&f, out, 0, 80, 200000), 1.0, 1e-7);
    f = sl_family_logitnormal(-1, 1);
    out[0] = 0.4f;
    out[1] = (float)raw_for_sigma(0.8);
    CHECK_NEAR(integrate_density(&f, out, -1, 1, 100000), 1.0, 1e-9);
    f = sl_family_logitnormal(2, 5);
    out[0] = -1.2f;
    out[1] = (float)raw_for_sigma(1.1);
    CHECK_NEAR(integrate_density(&f, out, 2, 5, 100000), 1.0, 1e-7);
    f = sl_family_bernoulli();
    double y0 = 0, y1 = 1;
    CHECK_NEAR(exp(sl_family_logpdf(&f, out, &y0, NULL)) + exp(sl_family_logpdf(&f, out, &y1, NULL)),
               1.0, 1e-15);
}

static void test_normalization_mvn_2d(void)
{
    /* A correlated pair, log and logit coordinates: the density of (y0, y1), with
     * both Jacobians, must integrate to 1 over (0, inf) x (-1, 1). */
    sl_family f;
    sl_transform tr[2] = {{SL_TR_LOG, 0, 0}, {SL_TR_LOGIT, -1, 1}};
    CHECK(sl_family_mvn(&f, 2, tr, NULL) == 0);
    float out[5] = {0.2f, 0.3f, (float)raw_for_sigma(0.35), -0.4f, (float)raw_for_sigma(0.5)};
    int n = 1000;
    double hi0 = 12, h0 = hi0 / n, h1 = 2.0 / n, sum = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) { /* midpoint rule */
            double y[2] = {(i + 0.5) * h0, -1 + (j + 0.5) * h1};
            sum += exp(sl_family_logpdf(&f, out, y, NULL));
        }
    CHECK_NEAR(sum * h0 * h1, 1.0, 1e-6);
}

/* Central differences of logpdf_d with respect to each raw output. */
static void check_gradient(const sl_family *f, const double *out, const double *y)
{
    double o[SL_FAMILY_MAX_OUTPUTS], g[SL_FAMILY_MAX_OUTPUTS];
    int n = sl_family_n_outputs(f);
    memcpy(o, out, (size_t)n * sizeof *o);
    sl_family_logpdf_d(f, o, y, g);
    for (int k = 0; k < n; k++) {
        double h = 1e-5, keep = o[k];
        o[k] = keep + h;
        double up = sl_family_logpdf_d(f, o, y, NULL);
        o[k] = keep - h;
        double down = sl_family_logpdf_d(f, o, y, NULL);
        o[k] = keep;
        CHECK_NEAR(g[k], (up - down) / (2 * h), 1e-6 * (1 + fabs(g[k])));
    }
    /* The float entry point gives the same gradient to float precision. */
    float of[SL_FAMILY_MAX_OUTPUTS], gf[SL_FAMILY_MAX_OUTPUTS];
    for (int k = 0; k < n; k++)
        of[k] = (float)o[k];
    for (int k = 0; k < n; k++)
        o[k] = of[k];
    sl_family_logpdf_d(f, o, y, g);
    sl_family_logpdf(f, of, y, gf);
    for (int k = 0; k < n; k++)
        CHECK_NEAR(gf[k], g[k], 1e-6 * (1 + fabs(g[k])));
}

static void test_gradients(void)
{
    sl_family f = sl_family_bernoulli();
    for (double l = -30; l <= 30; l += 7.5) {
        double out = l, y0 = 0, y1 = 1, ys = 0.3;
        check_gradient(&f, &out, &y0);
        check_gradient(&f, &out, &y1);
        check_gradient(&f, &out, &ys);
    }
    const sl_family scal[] = {sl_family_normal(), sl_family_lognormal(),
                              sl_family_logitnormal(-1, 1)};
    const double ys[] = {0.05, 0.6, 0.97};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++)
            for (double s = -4; s < 3; s += 1.3) {
                double out[2] = {-0.7 + 0.6 * i, s};
                check_gradient(&scal[k], out, &ys[i]);
            }
    sl_family m = test_mvn();
    double out[20], y[5] = {2.5, -0.3, 1.2, 0.4, -0.8};
    for (int trial = 0; trial < 4; trial++) {
        for (int k = 0; k < 20; k++)
            out[k] = 0.6 * sin(1.7 * k + trial) + (k >= 5 ? 0.3 * trial - 0.5 : 0);
        check_gradient(&m, out, y);
    }
}

/* P(y <= q) by the transformed-normal CDF, computed here from mu and sigma. */
static double cdf_direct(const sl_transform *t, double mu, double sigma, double q)
{
    double dz;
    return sl_normal_cdf((z_of(t, q, &dz) - mu) / sigma);
}

static void test_quantiles_exact(void)
{
    const double levels[] = {1e-4, 0.025, 0.05, 0.16, 0.5, 0.84, 0.95, 0.975, 0.9999};
    const sl_family fams[] = {sl_family_normal(), sl_family_lognormal(),
                              sl_family_logitnormal(-1, 1), sl_family_logitnormal(0, 40)};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 9; i++) {
            float out[2] = {0.8f, -0.4f};
            double q, sigma = sigma_of_raw(-0.4f);
            sl_family_quantile(&fams[k], out, levels[i], &q);
            CHECK_NEAR(cdf_direct(&fams[k].tr[0], 0.8f, sigma, q), levels[i], 1e-12);
            CHECK_NEAR(sl_family_cdf(&fams[k], out, 0, q), levels[i], 1e-12);
        }
    double q;
    float out[2] = {0, 0};
    sl_family f = sl_family_normal();
    sl_family_quantile(&f, out, 0.0, &q);
    CHECK(isnan(q));
    sl_family_quantile(&f, out, 1.0, &q);
    CHECK(isnan(q));
    f = sl_family_bernoulli(); /* p = sigmoid(1) = 0.731: P(y = 0) = 0.269 */
    out[0] = 1;
    sl_family_quantile(&f, out, 0.25, &q);
    CHECK(q == 0);
    sl_family_quantile(&f, out, 0.3, &q);
    CHECK(q == 1);
    CHECK_NEAR(sl_family_cdf(&f, out, 0, 0.5), 1 / (1 + exp(1.0)), 1e-7);
}

/* Fraction of n draws of coordinate i at or below q agrees with level. */
static void check_empirical_quantile(const double *draws, int n, double q, double level)
{
    int below = 0;
    for (int k = 0; k < n; k++)
        below += draws[k] <= q;
    double se = sqrt(level * (1 - level) / n);
    CHECK_NEAR((double)below / n, level, 5 * se);
}

static void test_samples_quantiles_means(void)
{
    enum { N = 40000 };
    static double draws[N];
    const sl_family fams[] = {sl_family_normal(), sl_family_lognormal(),
                              sl_family_logitnormal(-1, 1), sl_family_bernoulli()};
    float out[2] = {0.6f, (float)raw_for_sigma(0.9)};
    sl_rng r;
    sl_rng_init(&r, 7, 0, 0);
    for (int k = 0; k < 4; k++) {
        double sum = 0, sum2 = 0, mean;
        for (int i = 0; i < N; i++) {
            sl_family_sample(&fams[k], out, &r, &draws[i]);
            sum += draws[i];
            sum2 += draws[i] * draws[i];
        }
        sl_family_mean(&fams[k], out, &mean);
        double m = sum / N, sd = sqrt(sum2 / N - m * m);
        CHECK_NEAR(m, mean, 5 * sd / sqrt(N));
        if (k == 3)
            continue;
        const double levels[] = {0.05, 0.16, 0.5, 0.84, 0.95};
        for (int i = 0; i < 5; i++) {
            double q;
            sl_family_quantile(&fams[k], out, levels[i], &q);
            check_empirical_quantile(draws, N, q, levels[i]);
        }
    }
}

/* E[sigmoid(mu + sigma T)] by the trapezoid rule on a fine grid (spectrally
 * accurate for this smooth, fast-decaying integrand), summed in long double so
 * that rounding stays below the 1e-14 being tested. */
static double fine_expect_sigmoid(double mu, double sigma)
{
    int n = 200000;
    double lo = -12, h = 24.0 / n;
    long double sum = 0;
    for (int i = 0; i <= n; i++) {
        double t = lo + i * h;
        sum += exp(-0.5 * t * t) / (1 + exp(-(mu + sigma * t)));
    }
    return (double)(sum * h / sqrtl(2 * M_PI));
}

static void test_logitnormal_mean(void)
{
    /* E[sigmoid(mu + sigma T)] by mpmath quad at 40 digits, for float raw outputs
     * (mu, s) and sigma = softplus(s) + 1e-4. */
    static const struct { float mu, s; double e; } ref[] = {
        {0.3f, -0.5f, 0.57073852697784358633},  {-2, 1.25, 0.19019813230336054958},
        {1, 4, 0.59005172524838029306},         {-3, 30, 0.46024456956852442725},
        {0.5f, 1000, 0.50019947078382670862},   {-7, 10000, 0.49972074043391142588},
        {-40, -0.5f, 4.7538441242099627868e-18}, {2.5f, -4.5f, 0.92413812486068770614},
    };
    sl_family f = sl_family_logitnormal(0, 1), g = sl_family_logitnormal(-1, 3);
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        float out[2] = {ref[i].mu, ref[i].s};
        double mean;
        sl_family_mean(&f, out, &mean);
        CHECK_NEAR(mean, ref[i].e, 2e-15);
        if (ref[i].e < 1e-10)
            CHECK_REL(mean, ref[i].e, 1e-12);
        sl_family_mean(&g, out, &mean);
        CHECK_NEAR(mean, -1 + 4 * ref[i].e, 1e-14);
    }
    /* A grid of (mu, sigma) against the fine integral, including mu > 0 (computed
     * from the upper end) and the symmetry E(-mu) = 1 - E(mu). */
    for (double mu = -6; mu <= 6; mu += 1.5)
        for (double sigma = 0.05; sigma < 60; sigma *= 2.7) {
            float out[2] = {(float)mu, (float)raw_for_sigma(sigma)};
            double mean, mean_neg;
            sl_family_mean(&f, out, &mean);
            out[0] = (float)-mu;
            sl_family_mean(&f, out, &mean_neg);
            double fine = fine_expect_sigmoid(mu, sigma_of_raw(out[1]));
            CHECK_NEAR(mean, fine, 1e-14);
            CHECK_NEAR(mean + mean_neg, 1.0, 1e-14);
        }
}

static void test_lognormal_mean(void)
{
    sl_family f = sl_family_lognormal();
    float out[2] = {1.25f, 0.5f};
    double mean, s = sigma_of_raw(0.5);
    sl_family_mean(&f, out, &mean);
    CHECK_REL(mean, exp(1.25 + 0.5 * s * s), 1e-14);
}

static int all_finite_or_inf(const double *v, int n)
{
    for (int k = 0; k < n; k++)
        if (isnan(v[k]))
            return 0;
    return 1;
}

/* Every combination of +-1e4 and 0 in the outputs: nothing is NaN, the
 * log-density of an in-support value is finite, the gradient is finite. */
static void check_extremes(const sl_family *f, const double *y)
{
    int n = sl_family_n_outputs(f), d = f->dim;
    const float vals[3] = {-1e4f, 0.0f, 1e4f};
    float out[SL_FAMILY_MAX_OUTPUTS], grad[SL_FAMILY_MAX_OUTPUTS];
    double res[SL_FAMILY_MAX_DIM];
    sl_rng r;
    sl_rng_init(&r, 3, 1, 0);
    int combos = 1;
    for (int k = 0; k < n && combos < 3 * 3 * 3 * 3 * 3 * 3; k++)
        combos *= 3;
    for (int c = 0; c < combos; c++) {
        for (int k = 0, cc = c; k < n; k++, cc /= 3)
            out[k] = vals[(cc + k) % 3];
        double lp = sl_family_logpdf(f, out, y, grad);
        CHECK(isfinite(lp));
        for (int k = 0; k < n; k++)
            CHECK(isfinite(grad[k]));
        sl_family_mean(f, out, res);
        CHECK(all_finite_or_inf(res, d));
        sl_family_quantile(f, out, 0.05, res);
        CHECK(all_finite_or_inf(res, d));
        sl_family_quantile(f, out, 0.95, res);
        CHECK(all_finite_or_inf(res, d));
        sl_family_sample(f, out, &r, res);
        CHECK(all_finite_or_inf(res, d));
        CHECK(!isnan(sl_family_cdf(f, out, 0, y[0])));
    }
}

static void test_extreme_outputs(void)
{
    const sl_family fams[] = {sl_family_bernoulli(), sl_family_normal(), sl_family_lognormal(),
                              sl_family_logitnormal(-1, 1)};
    double y[5] = {0.5, 0.5, 0.5, 0.5, 0.5};
    for (int k = 0; k < 4; k++) {
        y[0] = k == 0 ? 1 : 0.5;
        check_extremes(&fams[k], y);
    }
    sl_family m = test_mvn();
    double ym[5] = {2.5, -0.3, 1.2, 0.4, -0.8};
    check_extremes(&m, ym);
    /* The Bernoulli log-density stays exact far out: log sigmoid(-1e4) = -1e4. */
    sl_family b = sl_family_bernoulli();
    float l = -1e4f;
    double one = 1;
    CHECK_NEAR(sl_family_logpdf(&b, &l, &one, NULL), -1e4, 1e-9);
}

static void test_support(void)
{
    sl_family f = sl_family_logitnormal(-1, 1);
    float out[2] = {0, 0}, grad[2] = {1, 1};
    double y = 1.0;
    CHECK(sl_family_logpdf(&f, out, &y, grad) == -INFINITY);
    CHECK(grad[0] == 0 && grad[1] == 0);
    y = NAN;
    CHECK(isnan(sl_family_logpdf(&f, out, &y, grad)));
    f = sl_family_lognormal();
    y = 0;
    CHECK(sl_family_logpdf(&f, out, &y, NULL) == -INFINITY);
    CHECK(sl_family_cdf(&f, out, 0, -1) == 0);
    f = sl_family_logitnormal(-1, 1);
    CHECK(sl_family_cdf(&f, out, 0, -1) == 0);
    CHECK(sl_family_cdf(&f, out, 0, 1) == 1);
    f = sl_family_bernoulli();
    y = 2;
    CHECK(sl_family_logpdf(&f, out, &y, NULL) == -INFINITY);
    /* Near the upper end the distance to b is kept: the median for mu = 30 on
     * (0, 1) is 1 - sigmoid(-30), strictly below 1 and with a finite density. */
    f = sl_family_logitnormal(0, 1);
    out[0] = 30;
    double q;
    sl_family_quantile(&f, out, 0.5, &q);
    CHECK_REL(1 - q, 1 / (1 + exp(30.0)), 1e-3);
    out[0] = 37;
    sl_family_quantile(&f, out, 0.5, &q);
    CHECK(q < 1 && isfinite(sl_family_logpdf(&f, out, &q, NULL)));
}

static void test_clamp_target(void)
{
    sl_family m = test_mvn();
    sl_err err;
    double y[5] = {2.0, -3.0, 1e6, 1.0, -1.0 - 1e-8};
    CHECK(sl_family_clamp_target(&m, y, &err) == 2);
    CHECK(y[0] == 2.0 && y[1] == -3.0 && y[2] == 1e6);
    CHECK_NEAR(y[3], 1 - 2e-6, 1e-15);
    CHECK_NEAR(y[4], -1 + 2e-6, 1e-15);
    float out[20] = {0};
    CHECK(isfinite(sl_family_logpdf(&m, out, y, NULL)));
    double bad[5] = {2.0, 0, 0, 1.5, 0};
    CHECK(sl_family_clamp_target(&m, bad, &err) == -1);
    CHECK(strstr(err.msg, "coordinate 3") && strstr(err.msg, "1.5"));
    double neg[5] = {0.0, 0, 0, 0, 0};
    CHECK(sl_family_clamp_target(&m, neg, &err) == -1);
    CHECK(strstr(err.msg, "coordinate 0") != NULL);
    double nan_y[5] = {1, NAN, 0, 0, 0};
    CHECK(sl_family_clamp_target(&m, nan_y, &err) == -1);
}

static void test_mvn_diagonal_is_independent(void)
{
    sl_family m = test_mvn();
    float out[20];
    double y[5] = {0.7, 1.9, -2.2, 0.3, -0.95};
    const double sig[5] = {0.3, 1.2, 0.05, 0.8, 2.0};
    for (int i = 0; i < 5; i++) {
        out[i] = (float)(0.25 * i - 0.4);
        for (int j = 0; j < i; j++)
            out[5 + i * (i + 1) / 2 + j] = 0;
        out[5 + i * (i + 1) / 2 + i] = (float)raw_for_sigma(sig[i]);
    }
    float grad[20], g1[2];
    double total = 0, lp = sl_family_logpdf(&m, out, y, grad);
    double mean[5], q[5], m1, q1;
    sl_family_mean(&m, out, mean);
    sl_family_quantile(&m, out, 0.1, q);
    for (int i = 0; i < 5; i++) {
        sl_family s = m.tr[i].kind == SL_TR_LOG      ? sl_family_lognormal()
                      : m.tr[i].kind == SL_TR_LOGIT ? sl_family_logitnormal(-1, 1)
                                                     : sl_family_normal();
        float o1[2] = {out[i], out[5 + i * (i + 1) / 2 + i]};
        total += sl_family_logpdf(&s, o1, &y[i], g1);
        CHECK_NEAR(grad[i], g1[0], 1e-6 * (1 + fabs(g1[0])));
        CHECK_NEAR(grad[5 + i * (i + 1) / 2 + i], g1[1], 1e-6 * (1 + fabs(g1[1])));
        sl_family_mean(&s, o1, &m1);
        sl_family_quantile(&s, o1, 0.1, &q1);
        CHECK(mean[i] == m1);
        CHECK(q[i] == q1);
    }
    CHECK_NEAR(lp, total, 1e-12);
}

static void test_mvn_correlated_samples(void)
{
    enum { N = 60000, D = 3 };
    sl_family f;
    sl_transform tr[D] = {{SL_TR_IDENTITY, 0, 0}, {SL_TR_LOG, 0, 0}, {SL_TR_LOGIT, -1, 1}};
    CHECK(sl_family_mvn(&f, D, tr, NULL) == 0);
    /* L = [[0.8], [0.5, 0.3], [-0.4, 0.2, 0.6]]. */
    double Lw[6] = {0.8, 0.5, 0.3, -0.4, 0.2, 0.6};
    float out[9] = {0.3f, -0.2f, 0.4f};
    for (int i = 0, k = 0; i < D; i++)
        for (int j = 0; j <= i; j++, k++)
            out[D + k] = (float)(i == j ? raw_for_sigma(Lw[k]) : Lw[k]);
    double S[D][D] = {{0}}; /* L L^T */
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++)
            for (int k = 0; k <= (i < j ? i : j); k++)
                S[i][j] += Lw[i * (i + 1) / 2 + k] * Lw[j * (j + 1) / 2 + k];
    static double z[N][D], col[N];
    double mz[D] = {0}, C[D][D] = {{0}};
    sl_rng r;
    sl_rng_init(&r, 11, 0, 0);
    for (int n = 0; n < N; n++) {
        double y[D], dz;
        sl_family_sample(&f, out, &r, y);
        for (int i = 0; i < D; i++) {
            z[n][i] = z_of(&tr[i], y[i], &dz);
            mz[i] += z[n][i] / N;
        }
    }
    for (int n = 0; n < N; n++)
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++)
                C[i][j] += (z[n][i] - mz[i]) * (z[n][j] - mz[j]) / (N - 1);
    for (int i = 0; i < D; i++) {
        CHECK_NEAR(mz[i], out[i], 5 * sqrt(S[i][i] / N));
        for (int j = 0; j < D; j++)
            CHECK_NEAR(C[i][j], S[i][j], 5 * sqrt((S[i][i] * S[j][j] + S[i][j] * S[i][j]) / N));
    }
    /* Marginal quantiles of the correlated coordinates against the draws. */
    double q[D];
    sl_family_quantile(&f, out, 0.9, q);
    for (int i = 0; i < D; i++) {
        double dz;
        for (int n = 0; n < N; n++)
            col[n] = z[n][i];
        check_empirical_quantile(col, N, z_of(&tr[i], q[i], &dz), 0.9);
    }
}

static int same_family(const sl_family *f, const sl_family *g)
{
    if (f->kind != g->kind || f->dim != g->dim)
        return 0;
    for (int i = 0; i < f->dim; i++)
        if (f->tr[i].kind != g->tr[i].kind || f->tr[i].a != g->tr[i].a || f->tr[i].b != g->tr[i].b)
            return 0;
    return 1;
}

static void test_specs(void)
{
    sl_family f = test_mvn(), g;
    f.tr[3].a = 0.1;
    f.tr[3].b = 1.0 / 3;
    char buf[256];
    sl_err err;
    int len = sl_family_format(&f, buf, sizeof buf);
    CHECK(len == (int)strlen(buf));
    CHECK(sl_family_parse(&g, buf, &err) == 0);
    CHECK(same_family(&f, &g));
    CHECK(sl_family_format(&f, NULL, 0) == len);
    char small[8];
    CHECK(sl_family_format(&f, small, sizeof small) == len && strcmp(small, "mvn(log") == 0);

    CHECK(sl_family_parse(&g, " logitnormal ( -1 , 1 ) ", &err) == 0);
    CHECK(g.kind == SL_FAM_LOGITNORMAL && g.tr[0].a == -1 && g.tr[0].b == 1);
    CHECK(sl_family_parse(&g, "logitnormal", &err) == 0 && g.tr[0].a == 0 && g.tr[0].b == 1);
    const sl_family simple[] = {sl_family_bernoulli(), sl_family_normal(), sl_family_lognormal()};
    for (int k = 0; k < 3; k++) {
        sl_family_format(&simple[k], buf, sizeof buf);
        CHECK(strcmp(buf, sl_family_name(simple[k].kind)) == 0);
        CHECK(sl_family_parse(&g, buf, &err) == 0 && same_family(&g, &simple[k]));
    }
    const char *bad[] = {"", "gauss", "normal x", "mvn", "mvn()", "mvn(log,", "mvn(log,cube)",
                         "logitnormal(1,0)", "logitnormal(0 1)", "mvn(logit(0,nan))"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err.msg[0] = '\0';
        CHECK(sl_family_parse(&g, bad[k], &err) == -1);
        CHECK(strstr(err.msg, bad[k]) != NULL);
    }
    sl_family_kind kind;
    CHECK(sl_family_kind_parse("mvn", &kind) == 0 && kind == SL_FAM_MVN);
    CHECK(sl_family_kind_parse("MVN", &kind) == -1);
    sl_transform tr = {SL_TR_LOGIT, 2, 2};
    CHECK(sl_family_mvn(&g, 1, &tr, &err) == -1 && strstr(err.msg, "coordinate 0"));
    CHECK(sl_family_mvn(&g, 0, &tr, &err) == -1);
    CHECK(sl_family_n_outputs(&f) == 20 && sl_family_n_outputs(&simple[0]) == 1
          && sl_family_n_outputs(&simple[1]) == 2);
}

int main(void)
{
    RUN(test_logpdf_reference_values);
    RUN(test_logpdf_closed_forms);
    RUN(test_normalization_1d);
    RUN(test_normalization_mvn_2d);
    RUN(test_gradients);
    RUN(test_quantiles_exact);
    RUN(test_samples_quantiles_means);
    RUN(test_logitnormal_mean);
    RUN(test_lognormal_mean);
    RUN(test_extreme_outputs);
    RUN(test_support);
    RUN(test_clamp_target);
    RUN(test_mvn_diagonal_is_independent);
    RUN(test_mvn_correlated_samples);
    RUN(test_specs);
    return check_report("test_family");
}
