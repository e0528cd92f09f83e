/* test_calib.c: the statistics of sl-calibrate against hand-computed values,
 * brute force (matching) and simulations whose answer is known (calibrated
 * and mis-scaled posteriors). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "check.h"
#include "special.h"

static void test_assign(void)
{
    sl_err err;
    /* Of the six permutations, (2, 1, 0) costs least. */
    double c[9] = {0, 1, 3,
                   5, 2, 9,
                   1, 4, 6};
    int r2c[3];
    CHECK(sl_calib_assign(c, 3, 3, r2c, &err) == 0);
    double total = 0;
    for (int i = 0; i < 3; i++)
        total += c[i * 3 + r2c[i]];
    CHECK_NEAR(total, 6, 1e-12); /* 3 + 2 + 1; row-wise greedy takes 0 + 2 + 6 */
    CHECK(r2c[0] == 2 && r2c[1] == 1 && r2c[2] == 0);
    /* Rectangular: two rows, three columns. */
    double d[6] = {5, 1, 2,
                   1, 7, 3};
    CHECK(sl_calib_assign(d, 2, 3, r2c, &err) == 0);
    CHECK(r2c[0] == 1 && r2c[1] == 0);
    CHECK(sl_calib_assign(d, 3, 2, r2c, &err) < 0);
}

static void test_match_known(void)
{
    sl_err err;
    /* Estimate a is nearest to B, but pairing them strands A and b: the
     * assignment must pair A-a and B-b. */
    double tx[2] = {0, 1.5}, ty[2] = {0, 0}, ex[2] = {0.8, 2.3}, ey[2] = {0, 0};
    long t2e[2], e2t[2];
    CHECK(sl_calib_match(tx, ty, 2, ex, ey, 2, 1.0, t2e, e2t, &err) == 2);
    CHECK(t2e[0] == 0 && t2e[1] == 1 && e2t[0] == 0 && e2t[1] == 1);
    /* Two crossings of equal count: the shorter total wins. */
    double ux[2] = {0, 1}, uy[2] = {0, 0}, fx[2] = {0.9, 0.1}, fy[2] = {0, 0};
    CHECK(sl_calib_match(ux, uy, 2, fx, fy, 2, 1.0, t2e, e2t, &err) == 2);
    CHECK(t2e[0] == 1 && t2e[1] == 0);
    /* Beyond the radius, and a NaN position, never pair; the radius is inclusive. */
    double gx[3] = {0, 10, NAN}, gy[3] = {0, 0, 0}, hx[3] = {1.0, 11.01, 5}, hy[3] = {0, 0, 0};
    long t3[3], e3[3];
    CHECK(sl_calib_match(gx, gy, 3, hx, hy, 3, 1.0, t3, e3, &err) == 1);
    CHECK(t3[0] == 0 && t3[1] == -1 && t3[2] == -1 && e3[1] == -1 && e3[2] == -1);
    /* Empty sides. */
    CHECK(sl_calib_match(gx, gy, 0, hx, hy, 3, 1.0, t3, e3, &err) == 0);
    CHECK(e3[0] == -1);
}

/* The best (pairs, -distance) over all one-to-one matchings, by recursion. */
static void brute(const double *tx, const double *ty, int nt, const double *ex, const double *ey,
                  int ne, double r, int i, unsigned used, int pairs, double dist, int *bp,
                  double *bd)
{
    if (i == nt) {
        if (pairs > *bp || (pairs == *bp && dist < *bd - 1e-12))
            *bp = pairs, *bd = dist;
        return;
    }
    brute(tx, ty, nt, ex, ey, ne, r, i + 1, used, pairs, dist, bp, bd);
    for (int e = 0; e < ne; e++) {
        double d = hypot(tx[i] - ex[e], ty[i] - ey[e]);
        if (!(used & (1u << e)) && d <= r)
            brute(tx, ty, nt, ex, ey, ne, r, i + 1, used | (1u << e), pairs + 1, dist + d, bp, bd);
    }
}

static void test_match_brute(void)
{
    sl_err err;
    sl_rng r;
    sl_rng_init(&r, 7, 0, 0);
    int bad = 0;
    for (int trial = 0; trial < 300; trial++) {
        int nt = 1 + (int)sl_rng_below(&r, 7), ne = 1 + (int)sl_rng_below(&r, 7);
        double tx[8], ty[8], ex[8], ey[8];
        long t2e[8], e2t[8];
        for (int i = 0; i < nt; i++)
            tx[i] = sl_rng_uniform_range(&r, 0, 4), ty[i] = sl_rng_uniform_range(&r, 0, 4);
        for (int i = 0; i < ne; i++)
            ex[i] = sl_rng_uniform_range(&r, 0, 4), ey[i] = sl_rng_uniform_range(&r, 0, 4);
        long pairs = sl_calib_match(tx, ty, nt, ex, ey, ne, 1.2, t2e, e2t, &err);
        double dist = 0;
        for (int i = 0; i < nt; i++)
            if (t2e[i] >= 0) {
                dist += hypot(tx[i] - ex[t2e[i]], ty[i] - ey[t2e[i]]);
                bad += e2t[t2e[i]] != i; /* consistent both ways */
            }
        int bp = 0;
        double bd = INFINITY;
        brute(tx, ty, nt, ex, ey, ne, 1.2, 0, 0, 0, 0, &bp, &bd);
        bad += pairs != bp || (bp > 0 && fabs(dist - bd) > 1e-9);
    }
    CHECK(bad == 0);
}

static void test_detect_counts(void)
{
    sl_calib_detect d;
    sl_calib_detect_counts(10, 8, 12, 9, &d);
    CHECK_NEAR(d.precision, 0.75, 1e-15);
    CHECK_NEAR(d.recall, 0.8, 1e-15);
    CHECK_NEAR(d.f1, 2 * 0.75 * 0.8 / 1.55, 1e-15);
    sl_calib_detect_counts(0, 0, 0, 0, &d);
    CHECK(isnan(d.precision) && isnan(d.recall) && isnan(d.f1));
    sl_calib_detect_counts(5, 0, 3, 0, &d);
    CHECK(d.f1 == 0);
}

static void test_reliability_known(void)
{
    sl_err err;
    double p[4] = {0.05, 0.15, 0.15, 0.95};
    unsigned char y[4] = {0, 1, 0, 1};
    sl_calib_reliability r;
    CHECK(sl_calib_bin_reliability(p, y, 4, 10, 0, &r, &err) == 0);
    CHECK(r.bin[0].n == 1 && r.bin[1].n == 2 && r.bin[9].n == 1 && r.bin[5].n == 0);
    CHECK(isnan(r.bin[5].conf));
    CHECK_NEAR(r.bin[1].conf, 0.15, 1e-15);
    CHECK_NEAR(r.bin[1].freq, 0.5, 1e-15);
    CHECK_NEAR(r.bin[1].err, sqrt(0.15 * 0.85 / 2), 1e-15);
    CHECK_NEAR(r.ece, 0.2, 1e-15);
    CHECK_NEAR(r.mce, 0.35, 1e-15);
    CHECK_NEAR(r.brier, 0.1875, 1e-15);
    /* Two equal-count bins: {0.05, 0.15} and {0.15, 0.95}. */
    CHECK(sl_calib_bin_reliability(p, y, 4, 2, 1, &r, &err) == 0);
    CHECK(r.bin[0].n == 2 && r.bin[1].n == 2);
    CHECK_NEAR(r.bin[0].lo, 0.05, 0);
    CHECK_NEAR(r.bin[1].hi, 0.95, 0);
    CHECK_NEAR(r.ece, 0.5 * 0.4 + 0.5 * 0.05, 1e-15);
    CHECK(sl_calib_bin_reliability(p, y, 4, 0, 0, &r, &err) < 0);
    CHECK(sl_calib_bin_reliability(p, y, 0, 10, 0, &r, &err) == 0 && isnan(r.ece));
}

/* Outcomes drawn from p itself are calibrated; drawn from p^2, they are not.
 * Even a calibrated predictor has an ECE above 0: each bin's frequency
 * scatters by sqrt(v_k / n_k) (v_k the bin's mean p(1 - p)), so with 10 bins
 * of 500 uniform p the expected ECE is sqrt(2/pi) mean_k sqrt(v_k / 500) =
 * 0.0141, with a spread of about 0.005 from one sample to the next. */
static void test_reliability_simulated(void)
{
    sl_err err;
    enum { N = 5000, REPS = 8 };
    static double p[N];
    static unsigned char y[N], y2[N];
    double mean_ece = 0;
    for (int rep = 0; rep < REPS; rep++) {
        sl_rng r;
        sl_rng_init(&r, 3, (uint64_t)rep, 0);
        for (int i = 0; i < N; i++) {
            p[i] = sl_rng_uniform(&r);
            double u = sl_rng_uniform(&r);
            y[i] = u < p[i];
            y2[i] = u < p[i] * p[i];
        }
        sl_calib_reliability a, b;
        CHECK(sl_calib_bin_reliability(p, y, N, 10, 0, &a, &err) == 0);
        CHECK(sl_calib_bin_reliability(p, y2, N, 10, 0, &b, &err) == 0);
        mean_ece += a.ece / REPS;
        CHECK(a.ece < 0.035);
        /* E|p - p^2| over U(0,1) = 1/6. */
        CHECK_NEAR(b.ece, 1.0 / 6, 0.02);
        /* Brier of a calibrated predictor: E p(1 - p) = 1/6. */
        CHECK_NEAR(a.brier, 1.0 / 6, 0.01);
    }
    CHECK_NEAR(mean_ece, 0.0141, 0.004);
}

static void test_pit_and_coverage(void)
{
    CHECK_NEAR(sl_calib_pit(1, 0, 1), 0.841344746068543, 1e-13);
    CHECK_NEAR(sl_calib_pit(3, 1, 2), 0.841344746068543, 1e-13);
    CHECK(sl_calib_pit(INFINITY, 0, 1) == 1 && sl_calib_pit(-INFINITY, 0, 1) == 0);
    CHECK(isnan(sl_calib_pit(NAN, 0, 1)) && isnan(sl_calib_pit(0, 0, 0)));
    CHECK_NEAR(sl_calib_band_z(0.01), 3.290526731491926, 1e-9);

    double pit[5] = {0.5, 0.52, 0.9, 0.99, NAN};
    sl_calib_coverage c;
    sl_calib_coverage_from_pit(pit, 5, 0.01, &c);
    CHECK(c.n == 4);
    CHECK_NEAR(c.cover[0], 0.5, 1e-15);  /* level 0.1: |pit - 0.5| <= 0.05 */
    CHECK_NEAR(c.cover[7], 0.75, 1e-15); /* level 0.8: <= 0.4 */
    CHECK_NEAR(c.cover[9], 0.75, 1e-15); /* level 0.95: 0.99 is outside */
    CHECK_NEAR(c.err[4], sqrt(0.25 / 4), 1e-15);

    /* Exactly uniform PIT values cover each level to within 1/n. */
    enum { N = 4000 };
    static double u[N], over[N], under[N];
    for (int i = 0; i < N; i++) {
        u[i] = (i + 0.5) / N;
        double z = sl_normal_quantile(u[i]);
        over[i] = sl_normal_cdf(2 * z);  /* errors twice the stated sigma */
        under[i] = sl_normal_cdf(z / 2); /* half of it */
    }
    sl_calib_coverage_from_pit(u, N, 0.01, &c);
    for (int l = 0; l < SL_CALIB_N_LEVELS; l++)
        CHECK_NEAR(c.cover[l], sl_calib_levels[l], 1.0 / N);
    CHECK(c.verdict == SL_CALIB_OK);
    sl_calib_coverage_from_pit(over, N, 0.01, &c);
    CHECK(c.verdict == SL_CALIB_OVER);
    /* The central 90% interval of N(0,1) holds |z| <= 1.645; with errors of
     * sd 2 the coverage is P(|Z| <= 0.822) = 0.589. */
    CHECK_NEAR(c.cover[8], 2 * sl_normal_cdf(1.6448536269514722 / 2) - 1, 2.0 / N);
    CHECK(c.flag[8] == -1);
    sl_calib_coverage_from_pit(under, N, 0.01, &c);
    CHECK(c.verdict == SL_CALIB_UNDER && c.flag[4] == 1);
    sl_calib_coverage_from_pit(u, 0, 0.01, &c);
    CHECK(c.verdict == SL_CALIB_NONE && isnan(c.cover[0]));
    CHECK(!strcmp(sl_calib_verdict_name(SL_CALIB_OVER), "over-confident"));
}

static void test_sbc(void)
{
    sl_err err;
    sl_rng r;
    sl_rng_init(&r, 5, 0, 0);
    CHECK(sl_calib_sbc_rank(0, 99, &r) == 0);
    CHECK(sl_calib_sbc_rank(1, 99, &r) == 99);
    CHECK(sl_calib_sbc_rank(NAN, 99, &r) == -1);
    double sum = 0;
    for (int i = 0; i < 2000; i++)
        sum += sl_calib_sbc_rank(0.3, 99, &r);
    /* Binomial(99, 0.3): mean 29.7, sd of the mean 4.56 / sqrt(2000) = 0.10. */
    CHECK_NEAR(sum / 2000, 29.7, 0.5);

    CHECK(sl_calib_sbc_bins(99, 1000, 20) == 20);
    CHECK(sl_calib_sbc_bins(99, 50, 20) == 10);
    CHECK(sl_calib_sbc_bins(99, 3, 20) == 1);

    int ranks[6] = {0, 0, 0, 1, 2, 3};
    sl_calib_sbc h;
    CHECK(sl_calib_rank_histogram(ranks, 6, 3, 2, &h, &err) == 0);
    CHECK(h.count[0] == 4 && h.count[1] == 2 && h.dof == 1);
    CHECK_NEAR(h.chi2, 2.0 / 3, 1e-15);
    CHECK_NEAR(h.p_value, erfc(sqrt(1.0 / 3)), 1e-12); /* chi-square with 1 dof */
    CHECK(sl_calib_rank_histogram(ranks, 6, 3, 3, &h, &err) < 0); /* 3 does not divide 4 */
    ranks[2] = 4;
    CHECK(sl_calib_rank_histogram(ranks, 6, 3, 2, &h, &err) < 0);
}

/* n systems in d = 3 with random posteriors; truths drawn with the Cholesky
 * factor times truth_scale. */
static void tarp_case(double truth_scale, sl_calib_tarp *out)
{
    enum { N = 800, D = 3, C = 6 };
    static double z[N * D], mu[N * D], L[N * C];
    sl_rng r;
    sl_rng_init(&r, 11, 0, 0);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++)
            mu[i * D + j] = sl_rng_uniform_range(&r, -2, 2);
        for (int k = 0; k < C; k++)
            L[i * C + k] = sl_rng_uniform_range(&r, -0.1, 0.1);
        L[i * C + 0] = L[i * C + 2] = L[i * C + 5] = sl_rng_uniform_range(&r, 0.2, 0.6);
        double e[D] = {sl_rng_normal(&r), sl_rng_normal(&r), sl_rng_normal(&r)};
        for (int j = 0, k = 0; j < D; j++) {
            z[i * D + j] = mu[i * D + j];
            for (int c = 0; c <= j; c++, k++)
                z[i * D + j] += truth_scale * L[i * C + k] * e[c];
        }
    }
    sl_err err;
    CHECK(sl_calib_tarp_curve(z, mu, L, N, D, 100, 100, 1, out, &err) == 0);
}

static void test_tarp(void)
{
    sl_calib_tarp t;
    tarp_case(1, &t);
    CHECK(t.n == 800);
    CHECK(t.ecp[0] == 0 && t.ecp[SL_CALIB_TARP_ALPHAS - 1] == 1);
    CHECK(t.max_dev < 0.06);
    CHECK(t.ks_p > 0.01);
    for (int a = 0; a < SL_CALIB_TARP_ALPHAS; a++)
        CHECK(t.lo95[a] <= t.lo68[a] && t.lo68[a] <= t.hi68[a] && t.hi68[a] <= t.hi95[a]);
    sl_calib_tarp wide, narrow;
    tarp_case(2, &narrow); /* truths scattered twice as far as the posterior says */
    tarp_case(0.5, &wide);
    CHECK(narrow.max_dev > 0.15 && narrow.ks_p < 1e-6);
    CHECK(wide.max_dev > 0.15 && wide.ks_p < 1e-6);
    /* The same seed gives the same curve. */
    sl_calib_tarp again;
    tarp_case(1, &again);
    CHECK(memcmp(again.ecp, t.ecp, sizeof t.ecp) == 0 && again.lo95[7] == t.lo95[7]);
}

static void test_kolmogorov(void)
{
    /* Critical values of the Kolmogorov distribution: P(K > 1.3581) = 0.05,
     * P(K > 1.6276) = 0.01; both series agree where they meet. */
    CHECK_NEAR(sl_calib_kolmogorov_q(1.3580986), 0.05, 1e-6);
    CHECK_NEAR(sl_calib_kolmogorov_q(1.6276236), 0.01, 1e-6);
    CHECK_NEAR(sl_calib_kolmogorov_q(0.9999999), sl_calib_kolmogorov_q(1.0000001), 1e-6);
    CHECK(sl_calib_kolmogorov_q(0) == 1);
}

static void test_point(void)
{
    sl_err err;
    double t[5] = {1, 2, 3, 4, NAN}, m[5] = {1.1, 1.9, 3.2, 3.6, 7};
    double q16[5], q50[5], q84[5];
    for (int i = 0; i < 5; i++)
        q50[i] = t[i], q16[i] = t[i] - 0.5, q84[i] = t[i] + 0.5;
    sl_calib_point p;
    CHECK(sl_calib_point_accuracy(t, m, q16, q50, q84, 5, 0, 1, &p, &err) == 0);
    CHECK(p.n == 4);
    CHECK_NEAR(p.r2, 1 - 0.22 / 5, 1e-12);
    CHECK_NEAR(p.mae, 0.15, 1e-12);
    CHECK_NEAR(p.frac_dev, (0.2 / 3 + 0.1) / 2, 1e-12);
    CHECK_NEAR(p.rel_prec, (0.25 + 0.5 / 3) / 2, 1e-12);
    CHECK_NEAR(p.bias, -0.05, 1e-12);
    CHECK_NEAR(p.rmse, sqrt(0.22 / 4), 1e-12);
    CHECK(sl_calib_point_accuracy(t, m, NULL, NULL, NULL, 5, 0, 0, &p, &err) == 0);
    CHECK(isnan(p.frac_dev) && isnan(p.rel_prec));
    /* Angles wrap: 3.1 against 0.1 is 3.0 - pi apart. */
    double ta[1] = {0.1}, ma[1] = {3.1};
    CHECK(sl_calib_point_accuracy(ta, ma, NULL, NULL, NULL, 1, M_PI, 0, &p, &err) == 0);
    CHECK_NEAR(p.bias, 3.0 - M_PI, 1e-12);

    double a[3] = {3, 1, 2}, b[4] = {4, 1, 3, 2};
    CHECK(sl_calib_median(a, 3) == 2);
    CHECK(sl_calib_median(b, 4) == 2.5);
    CHECK(isnan(sl_calib_median(a, 0)));
}

/* AUC and average precision of perfect, reversed, tied and random scores,
 * and the curves at their ends. */
static void test_ranking(void)
{
    sl_err err;
    sl_calib_ranking k;
    double s[6] = {0.9, 0.8, 0.7, 0.3, 0.2, 0.1};
    unsigned char y[6] = {1, 1, 1, 0, 0, 0}, rev[6] = {0, 0, 0, 1, 1, 1};
    CHECK(sl_calib_rank_scores(s, y, 6, 3, &k, &err) == 0);
    CHECK(k.n == 6 && k.n_pos == 3);
    CHECK_NEAR(k.auc, 1, 1e-15);
    CHECK_NEAR(k.ap, 1, 1e-15);
    CHECK(sl_calib_rank_scores(s, rev, 6, 3, &k, &err) == 0);
    CHECK_NEAR(k.auc, 0, 1e-15);
    /* Positives at ranks 4, 5, 6: precision 1/4, 2/5, 3/6. */
    CHECK_NEAR(k.ap, (0.25 + 0.4 + 0.5) / 3, 1e-15);
    /* Positives no one scored (n_relevant 6) halve the average precision. */
    CHECK(sl_calib_rank_scores(s, y, 6, 6, &k, &err) == 0);
    CHECK_NEAR(k.ap, 0.5, 1e-15);
    CHECK_NEAR(k.recall[0], 0.5, 1e-15);
    /* All tied: AUC 1/2; the one group has precision 3/6. */
    double t[6] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    CHECK(sl_calib_rank_scores(t, y, 6, 3, &k, &err) == 0);
    CHECK_NEAR(k.auc, 0.5, 1e-15);
    CHECK_NEAR(k.ap, 0.5, 1e-15);
    /* Hand-counted: pairs (pos, neg) ordered right 3 of 4, NaN scores 0. */
    double h[4] = {0.9, NAN, 0.4, 0.6};
    unsigned char hy[4] = {1, 0, 1, 0};
    CHECK(sl_calib_rank_scores(h, hy, 4, 2, &k, &err) == 0);
    CHECK_NEAR(k.auc, 0.75, 1e-15);
    /* Curves: everything selected at t = 0, nothing above the top score. */
    CHECK_NEAR(k.tpr[0], 1, 0);
    CHECK_NEAR(k.fpr[0], 1, 0);
    CHECK_NEAR(k.tpr[SL_CALIB_CURVE_POINTS - 1], 0, 0);
    CHECK(isnan(k.precision[SL_CALIB_CURVE_POINTS - 1]));
    CHECK_NEAR(k.threshold[50], 0.5, 1e-15);
    CHECK_NEAR(k.tpr[50], 0.5, 1e-15); /* 0.9 in, 0.4 out */
    CHECK_NEAR(k.fpr[50], 0.5, 1e-15); /* 0.6 in, NaN out */
    /* Random scores: AUC within 4 sd of 1/2, AP near the base rate 0.2. */
    sl_rng r;
    sl_rng_init(&r, 7, 0, 0);
    enum { N = 20000 };
    static double rs[N];
    static unsigned char ry[N];
    for (int i = 0; i < N; i++)
        rs[i] = sl_rng_uniform(&r), ry[i] = sl_rng_uniform(&r) < 0.2;
    CHECK(sl_calib_rank_scores(rs, ry, N, 0, &k, &err) == 0);
    double sd = sqrt((k.n_pos + (N - k.n_pos) + 1.0) / (12.0 * k.n_pos * (N - k.n_pos)));
    CHECK_NEAR(k.auc, 0.5, 4 * sd);
    CHECK(isnan(k.ap)); /* nothing relevant */
    CHECK(sl_calib_rank_scores(rs, ry, N, k.n_pos, &k, &err) == 0);
    CHECK_NEAR(k.ap, 0.2, 0.02);
}

/* The operating point at a purity, on a list small enough to check by hand. */
static void test_at_purity(void)
{
    sl_err err;
    /* Scores in decreasing order: hits 1 1 0 1 0.  Purity at t = 0.9: 1,
     * 0.8: 1, 0.7: 2/3, 0.6: 3/4, 0.5: 3/5. */
    double s[5] = {0.9, 0.8, 0.7, 0.6, 0.5};
    unsigned char hit[5] = {1, 1, 0, 1, 0};
    /* Three targets: best 0.9, 0.6 and one never reached. */
    double best[3] = {0.9, 0.6, -INFINITY};
    double t, c, p;
    CHECK(sl_calib_at_purity(s, hit, 5, best, 3, 0.75, &t, &c, &p, &err) == 1);
    CHECK_NEAR(t, 0.6, 0);
    CHECK_NEAR(c, 2.0 / 3, 1e-15);
    CHECK_NEAR(p, 0.75, 1e-15);
    CHECK(sl_calib_at_purity(s, hit, 5, best, 3, 0.9, &t, &c, &p, &err) == 1);
    CHECK_NEAR(t, 0.8, 0);
    CHECK_NEAR(c, 1.0 / 3, 1e-15);
    unsigned char none[5] = {0};
    CHECK(sl_calib_at_purity(s, none, 5, best, 3, 0.9, &t, &c, &p, &err) == 0);
    CHECK(isnan(t) && isnan(c) && isnan(p));
}

static void test_quantile(void)
{
    double x[5] = {5, 1, 4, 2, 3};
    CHECK_NEAR(sl_calib_quantile(x, 5, 0.5), 3, 1e-15);
    CHECK_NEAR(sl_calib_quantile(x, 5, 0.05), 1.2, 1e-12); /* 1 + 0.2 (2 - 1) */
    CHECK_NEAR(sl_calib_quantile(x, 5, 0.95), 4.8, 1e-12);
    CHECK_NEAR(sl_calib_quantile(x, 5, 1), 5, 0);
    CHECK_NEAR(sl_calib_quantile(x, 1, 0.3), x[0], 0);
    CHECK(isnan(sl_calib_quantile(x, 0, 0.5)));
}

int main(void)
{
    RUN(test_assign);
    RUN(test_match_known);
    RUN(test_match_brute);
    RUN(test_detect_counts);
    RUN(test_reliability_known);
    RUN(test_reliability_simulated);
    RUN(test_pit_and_coverage);
    RUN(test_sbc);
    RUN(test_tarp);
    RUN(test_kolmogorov);
    RUN(test_point);
    RUN(test_ranking);
    RUN(test_at_purity);
    RUN(test_quantile);
    return check_report("test_calib");
}
