/* Philox4x32-10 against the Random123 known answers, the stream layout and its
 * order independence, and every sampler against its exact law: moments within 6
 * standard errors, Kolmogorov-Smirnov for the continuous ones, chi-square against
 * the exact pmf for Poisson and Bernoulli.  Seeds are fixed, so the outcome is
 * deterministic; a goodness-of-fit test passes when its p-value exceeds P_MIN
 * (about a 5-sigma event for a correct sampler). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "stats.h"
#include "rng.h"
#include "special.h"

#define P_MIN 1e-6
#define SEED 20240611ULL

/* ---- statistics used by the checks ---- */

typedef struct moments {
    double mean, var, skew, kurt; /* kurt is the excess kurtosis */
} moments;

static moments moments_of(const double *x, size_t n)
{
    double mean = 0, m2 = 0, m3 = 0, m4 = 0;
    for (size_t i = 0; i < n; i++)
        mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean, d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    m2 /= (double)n;
    m3 /= (double)n;
    m4 /= (double)n;
    return (moments){mean, m2 * (double)n / (double)(n - 1), m3 / pow(m2, 1.5),
                     m4 / (m2 * m2) - 3.0};
}

static double chi2_pvalue(double chi2, int dof)
{
    return sl_gamma_q(0.5 * dof, 0.5 * chi2);
}

/* Chi-square of observed counts against expected ones, neighbouring cells pooled
 * until each expects at least min_expect (a short remainder joins the last cell). */
static double pooled_chi2_pvalue(const double *obs, const double *expect, size_t ncell,
                                 double min_expect)
{
    double chi2 = 0, o = 0, e = 0, last_o = 0, last_e = 0;
    int cells = 0;
    for (size_t i = 0; i < ncell; i++) {
        o += obs[i];
        e += expect[i];
        if (e >= min_expect) {
            if (cells > 0)
                chi2 += (last_o - last_e) * (last_o - last_e) / last_e;
            last_o = o;
            last_e = e;
            cells++;
            o = e = 0;
        }
    }
    last_o += o;
    last_e += e;
    chi2 += (last_o - last_e) * (last_o - last_e) / last_e;
    return cells < 2 ? 1.0 : chi2_pvalue(chi2, cells - 1);
}

/* ---- CDFs for the KS tests (par holds the distribution's parameters) ---- */

static double cdf_uniform(double x, const double *par)
{
    (void)par;
    return x;
}

static double cdf_power(double x, const double *par)
{
    return pow(x, par[0]);
}

static double cdf_normal(double x, const double *par)
{
    (void)par;
    return sl_normal_cdf(x);
}

static double cdf_exponential(double x, const double *par)
{
    (void)par;
    return -expm1(-x);
}

static double cdf_gamma(double x, const double *par) /* par = shape, scale */
{
    return sl_gamma_p(par[0], x / par[1]);
}

static double cdf_pareto(double x, const double *par) /* par = xmin, xmax, alpha */
{
    double tail = pow(par[0] / par[1], par[2]);
    return -expm1(par[2] * log(par[0] / x)) / (1.0 - tail);
}

/* ---- the generator ---- */

static void test_philox_known_answers(void)
{
    /* Random123 tests/kat_vectors, the three "philox4x32 10" lines: ctr[4] key[2] -> out[4]. */
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
         0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
         0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        sl_philox4x32_10(kat[i], kat[i] + 4, out);
        for (int j = 0; j < 4; j++)
            CHECK(out[j] == kat[i][6 + j]);
    }
}

static void test_stream_layout(void)
{
    /* The words are exactly the blocks at the counters rng.h documents. */
    sl_rng r;
    sl_rng_init(&r, 0x0123456789abcdefULL, 0xfedcba9876543210ULL, 0x1234);
    const uint32_t key[2] = {0x89abcdef, 0x01234567};
    for (uint32_t block = 0; block < 3; block++) {
        uint32_t ctr[4] = {block, 0x12340000, 0x76543210, 0xfedcba98}, want[4];
        sl_philox4x32_10(ctr, key, want);
        for (int j = 0; j < 4; j++)
            CHECK(sl_rng_u32(&r) == want[j]);
    }
    /* A 64-bit draw is the next two words, low half first, across a block edge. */
    sl_rng a, b;
    sl_rng_init(&a, 7, 8, 9);
    sl_rng_init(&b, 7, 8, 9);
    for (int i = 0; i < 3; i++)
        CHECK(sl_rng_u32(&a) == sl_rng_u32(&b));
    uint64_t lo = sl_rng_u32(&b), hi = sl_rng_u32(&b);
    CHECK(sl_rng_u64(&a) == (hi << 32 | lo));
}

static void test_block_counter_carry(void)
{
    /* Block 2^32 - 1 is followed by 2^32: the carry goes into the low 16 bits of
     * ctr[1] and leaves the substream above it alone. */
    sl_rng r;
    sl_rng_init(&r, 5, 6, 0xABCD);
    r.ctr[0] = 0xffffffff;
    for (int j = 0; j < 4; j++)
        sl_rng_u32(&r);
    uint32_t ctr[4] = {0, 0xABCD0001, 6, 0}, key[2] = {5, 0}, want[4];
    sl_philox4x32_10(ctr, key, want);
    for (int j = 0; j < 4; j++)
        CHECK(sl_rng_u32(&r) == want[j]);
    /* After the last block, 2^48 - 1, the substream wraps onto its own start. */
    sl_rng start;
    sl_rng_init(&start, 5, 6, 0xABCD);
    r.ctr[0] = 0xffffffff;
    r.ctr[1] = 0xABCDFFFF;
    r.pos = 8; /* the buffer used up: the next word starts a refill */
    for (int j = 0; j < 4; j++)
        sl_rng_u32(&r);
    for (int j = 0; j < 8; j++)
        CHECK(sl_rng_u32(&r) == sl_rng_u32(&start));
}

/* A mix of samplers, so that the order test covers every way words are consumed. */
static double mixed_draw(sl_rng *r, int i)
{
    switch (i % 5) {
    case 0: return sl_rng_normal(r);
    case 1: return (double)sl_rng_poisson(r, i % 2 ? 3.5 : 800.0);
    case 2: return sl_rng_gamma(r, 0.39331, 1.0);
    case 3: return sl_rng_pareto_trunc(r, 622, 1e4, 0.47);
    default: return sl_rng_uniform(r);
    }
}

static void test_order_independence(void)
{
    enum { NSTREAM = 6, LEN = 500 };
    static double alone[NSTREAM][LEN], interleaved[NSTREAM][LEN];
    /* Each stream drawn on its own, last stream first ... */
    for (int k = NSTREAM - 1; k >= 0; k--) {
        sl_rng r;
        sl_rng_init(&r, SEED, 1000 + k, 3);
        for (int i = 0; i < LEN; i++)
            alone[k][i] = mixed_draw(&r, i);
    }
    /* ... and all streams drawn in turn, one value at a time. */
    sl_rng rs[NSTREAM];
    for (int k = 0; k < NSTREAM; k++)
        sl_rng_init(&rs[k], SEED, 1000 + k, 3);
    for (int i = 0; i < LEN; i++)
        for (int k = 0; k < NSTREAM; k++)
            interleaved[k][i] = mixed_draw(&rs[k], i);
    CHECK(memcmp(alone, interleaved, sizeof alone) == 0);

    /* A copied state continues the same sequence. */
    sl_rng a, b;
    sl_rng_init(&a, SEED, 4, 0);
    for (int i = 0; i < 7; i++)
        sl_rng_normal(&a); /* leaves a spare normal in a */
    b = a;
    for (int i = 0; i < 100; i++)
        CHECK(mixed_draw(&a, i) == mixed_draw(&b, i));
}

static void test_streams_differ(void)
{
    /* Seeds, streams and substreams one apart, and stream bits in the high word,
     * give unrelated words: no more than chance agreement (2^-32 per word). */
    const uint64_t seeds[] = {SEED, SEED + 1, SEED, SEED, SEED, SEED, SEED + (1ULL << 32)};
    const uint64_t streams[] = {10, 10, 11, 10, 10 + (1ULL << 32), 1ULL << 63, 10};
    const uint16_t subs[] = {0, 0, 0, 1, 0, 0, 0};
    enum { NV = 7, LEN = 64 };
    uint32_t w[NV][LEN];
    for (int v = 0; v < NV; v++) {
        sl_rng r;
        sl_rng_init(&r, seeds[v], streams[v], subs[v]);
        for (int i = 0; i < LEN; i++)
            w[v][i] = sl_rng_u32(&r);
    }
    for (int v = 0; v < NV; v++)
        for (int u = v + 1; u < NV; u++) {
            int same = 0;
            for (int i = 0; i < LEN; i++)
                same += w[v][i] == w[u][i];
            CHECK(same == 0);
        }
}

/* ---- uniform and integers ---- */

/* The substreams one tool draws from under one seed never coincide (rng.h):
 * sl-simulate's three, sl-train's two, sl-calibrate's TARP pair and its
 * per-parameter range, which starts above them. */
static void test_substream_list(void)
{
    CHECK(SL_RNG_CATALOG != SL_RNG_NOISE && SL_RNG_CATALOG != SL_RNG_READ_NOISE &&
          SL_RNG_NOISE != SL_RNG_READ_NOISE);
    CHECK(SL_RNG_TRAIN_BATCH != SL_RNG_NN_INIT);
    CHECK(SL_RNG_TARP_SYSTEM != SL_RNG_TARP_BOOT);
    CHECK(SL_RNG_CALIBRATE_PARAM > SL_RNG_TARP_SYSTEM && SL_RNG_CALIBRATE_PARAM > SL_RNG_TARP_BOOT);
}

static void test_uniform(void)
{
    enum { N = 1000000 };
    double *x = malloc(N * sizeof *x);
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 1);
    double lo = 1, hi = 0;
    size_t odd = 0;
    for (int i = 0; i < N; i++) {
        x[i] = sl_rng_uniform(&r);
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
        odd += (uint64_t)(x[i] * 0x1p53) & 1; /* the 53rd bit is random too */
    }
    CHECK(lo > 0 && hi < 1);
    CHECK_NEAR((double)odd / N, 0.5, 6 * sqrt(0.25 / N));
    moments m = moments_of(x, N);
    CHECK_NEAR(m.mean, 0.5, 6 * sqrt(1.0 / 12 / N));
    CHECK_NEAR(m.var, 1.0 / 12, 6 * sqrt((1.0 / 80 - 1.0 / 144) / N));
    CHECK(ks_pvalue(x, N, cdf_uniform, NULL) > P_MIN);

    /* The KS test is sharp enough to see a slightly wrong law. */
    const double power = 1.02;
    CHECK(ks_pvalue(x, N, cdf_power, &power) < P_MIN);

    double s = 0;
    int outside = 0;
    for (int i = 0; i < N / 10; i++) {
        double y = sl_rng_uniform_range(&r, -3, 5);
        outside += !(y >= -3 && y <= 5);
        s += y;
    }
    CHECK(outside == 0);
    CHECK_NEAR(s / (N / 10), 1.0, 6 * 8 / sqrt(12.0 * (N / 10)));
    free(x);
}

static void test_below(void)
{
    enum { N = 140000, K = 7 };
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 2);
    double obs[K + 1] = {0}, expect[K]; /* obs[K] counts values out of range */
    for (int i = 0; i < N; i++) {
        uint64_t v = sl_rng_below(&r, K);
        obs[v < K ? v : K]++;
    }
    CHECK(obs[K] == 0);
    for (int k = 0; k < K; k++)
        expect[k] = (double)N / K;
    CHECK(pooled_chi2_pvalue(obs, expect, K, 5) > P_MIN);

    /* n = 3 * 2^62: "u64 % n" would put half the mass below 2^62 instead of a third. */
    const uint64_t n = 3ULL << 62;
    int below = 0;
    for (int i = 0; i < N; i++)
        below += sl_rng_below(&r, n) < (1ULL << 62);
    CHECK_NEAR((double)below / N, 1.0 / 3, 6 * sqrt(2.0 / 9 / N));
    CHECK(sl_rng_below(&r, 1) == 0);
    CHECK(sl_rng_below(&r, 0) == 0);
}

/* ---- continuous laws ---- */

static void test_normal(void)
{
    enum { N = 1000000 };
    double *x = malloc(N * sizeof *x);
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 3);
    for (int i = 0; i < N; i++)
        x[i] = sl_rng_normal(&r);
    moments m = moments_of(x, N);
    CHECK_NEAR(m.mean, 0, 6 * sqrt(1.0 / N));
    CHECK_NEAR(m.var, 1, 6 * sqrt(2.0 / N));
    CHECK_NEAR(m.skew, 0, 6 * sqrt(6.0 / N));
    CHECK_NEAR(m.kurt, 0, 6 * sqrt(24.0 / N));
    CHECK(ks_pvalue(x, N, cdf_normal, NULL) > P_MIN);
    free(x);
}

static void test_exponential(void)
{
    enum { N = 1000000 };
    double *x = malloc(N * sizeof *x);
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 4);
    for (int i = 0; i < N; i++)
        x[i] = sl_rng_exponential(&r);
    moments m = moments_of(x, N);
    CHECK_NEAR(m.mean, 1, 6 * sqrt(1.0 / N));
    CHECK_NEAR(m.var, 1, 6 * sqrt(8.0 / N)); /* mu4 = 9 sigma^4 */
    CHECK_NEAR(m.skew, 2, 0.05); /* 6 sd: the sample skewness has sd 0.0084 at this N */
    CHECK(ks_pvalue(x, N, cdf_exponential, NULL) > P_MIN);
    free(x);
}

static void test_gamma(void)
{
    enum { N = 200000 };
    /* 0.39331 with scale 2.2164 is the galaxy-size prior; 1 is the exponential
     * law; 2.5 and 30 exercise Marsaglia-Tsang without the shape < 1 boost. */
    const double shape[] = {0.39331, 1, 2.5, 30}, scale[] = {2.2164, 1, 0.7, 3};
    double *x = malloc(N * sizeof *x);
    for (int s = 0; s < 4; s++) {
        sl_rng r;
        sl_rng_init(&r, SEED, s, 5);
        double k = shape[s], th = scale[s], lo = INFINITY;
        for (int i = 0; i < N; i++) {
            x[i] = sl_rng_gamma(&r, k, th);
            lo = fmin(lo, x[i]);
        }
        CHECK(lo >= 0);
        moments m = moments_of(x, N);
        /* Central fourth moment of a gamma law: 3 k (k + 2) theta^4. */
        CHECK_NEAR(m.mean, k * th, 6 * sqrt(k * th * th / N));
        CHECK_NEAR(m.var, k * th * th, 6 * sqrt((2 * k * k + 6 * k) / N) * th * th);
        const double par[2] = {k, th};
        CHECK(ks_pvalue(x, N, cdf_gamma, par) > P_MIN);
    }
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 5);
    CHECK(isnan(sl_rng_gamma(&r, 0, 1)));
    CHECK(isnan(sl_rng_gamma(&r, 1, -1)));
    free(x);
}

static void test_pareto(void)
{
    enum { N = 200000 };
    /* Star fluxes, lensed-source fluxes, and an untruncated law with finite variance. */
    const double xmin[] = {1e3, 622, 1}, xmax[] = {1e6, 1e4, INFINITY}, alpha[] = {0.5, 0.47, 3};
    double *x = malloc(N * sizeof *x);
    for (int s = 0; s < 3; s++) {
        sl_rng r;
        sl_rng_init(&r, SEED, s, 6);
        double a = alpha[s], lo = xmin[s], hi = xmax[s], below = INFINITY, above = 0;
        for (int i = 0; i < N; i++) {
            x[i] = sl_rng_pareto_trunc(&r, lo, hi, a);
            below = fmin(below, x[i]);
            above = fmax(above, x[i]);
        }
        CHECK(below >= lo && above <= hi);
        /* E x^j = a lo^a / (1 - (lo/hi)^a) * (hi^(j-a) - lo^(j-a)) / (j - a), a != j. */
        double c = a * pow(lo, a) / (1 - pow(lo / hi, a));
        double ex = c * (pow(hi, 1 - a) - pow(lo, 1 - a)) / (1 - a);
        double ex2 = c * (pow(hi, 2 - a) - pow(lo, 2 - a)) / (2 - a);
        moments m = moments_of(x, N);
        CHECK_NEAR(m.mean, ex, 6 * sqrt((ex2 - ex * ex) / N));
        const double par[3] = {lo, hi, a};
        CHECK(ks_pvalue(x, N, cdf_pareto, par) > P_MIN);
    }
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 6);
    CHECK(sl_rng_pareto_trunc(&r, 5, 5, 0.5) == 5);
    CHECK(isnan(sl_rng_pareto_trunc(&r, 0, 5, 0.5)));
    CHECK(isnan(sl_rng_pareto_trunc(&r, 6, 5, 0.5)));
    CHECK(isnan(sl_rng_pareto_trunc(&r, 1, 5, 0)));
    free(x);
}

/* ---- discrete laws ---- */

/* Chi-square p-value of Poisson draws against the exact pmf of `mean`, over
 * k in mean +- 12 sd with both tails folded into the end cells. */
static double poisson_gof(const double *k, size_t n, double mean)
{
    double sd = sqrt(mean);
    size_t kmin = (size_t)fmax(0.0, floor(mean - 12 * sd - 20));
    size_t kmax = (size_t)ceil(mean + 12 * sd + 30), ncell = kmax - kmin + 1;
    double *obs = calloc(ncell, sizeof *obs), *expect = malloc(ncell * sizeof *expect);
    for (size_t i = 0; i < ncell; i++) {
        double kk = (double)(kmin + i);
        expect[i] = n * exp(kk * log(mean) - mean - lgamma(kk + 1));
    }
    /* P(X < kmin) = Q(kmin, mean) and P(X > kmax) = P(kmax + 1, mean). */
    if (kmin > 0)
        expect[0] += n * sl_gamma_q((double)kmin, mean);
    expect[ncell - 1] += n * sl_gamma_p((double)kmax + 1, mean);
    for (size_t i = 0; i < n; i++) {
        double c = fmin(fmax(k[i], (double)kmin), (double)kmax);
        obs[(size_t)c - kmin]++;
    }
    double p = pooled_chi2_pvalue(obs, expect, ncell, fmax(20.0, n / 400.0));
    free(obs);
    free(expect);
    return p;
}

static void test_poisson(void)
{
    /* A million draws per mean: enough to catch a PTRS squeeze bound moved from
     * 0.07 to 0.05, or the pmf in its log test off by 1 % of the deviance. */
    enum { N = 1000000 };
    /* Both sides of the switch from inversion to PTRS at 10, source counts (0.03)
     * and pixel counts (50 to 1e6). */
    const double means[] = {0.03, 1, 3.5, 9.9, 10.1, 50, 1000, 1e6};
    double *k = malloc(N * sizeof *k);
    for (int s = 0; s < 8; s++) {
        double mu = means[s];
        sl_rng r;
        sl_rng_init(&r, SEED, s, 7);
        for (int i = 0; i < N; i++)
            k[i] = (double)sl_rng_poisson(&r, mu);
        moments m = moments_of(k, N);
        CHECK_NEAR(m.mean, mu, 6 * sqrt(mu / N));
        CHECK_NEAR(m.var, mu, 6 * sqrt((mu + 2 * mu * mu) / N)); /* mu4 = mu (1 + 3 mu) */
        CHECK(poisson_gof(k, N, mu) > P_MIN);
    }
    /* The chi-square sees a mean off by 0.06 sd, and the normal approximation at 50. */
    CHECK(poisson_gof(k, N, 1e6 + 60) < P_MIN);
    sl_rng r;
    sl_rng_init(&r, SEED, 100, 7);
    for (int i = 0; i < N; i++)
        k[i] = fmax(0.0, round(50 + sqrt(50.0) * sl_rng_normal(&r)));
    CHECK(poisson_gof(k, N, 50) < P_MIN);
    free(k);
}

static void test_poisson_huge_and_edges(void)
{
    enum { N = 50000 };
    const double means[] = {1e9, 3e12};
    double *k = malloc(N * sizeof *k);
    for (int s = 0; s < 2; s++) {
        double mu = means[s];
        sl_rng r;
        sl_rng_init(&r, SEED, s, 8);
        for (int i = 0; i < N; i++)
            k[i] = (double)sl_rng_poisson(&r, mu);
        moments m = moments_of(k, N);
        CHECK_NEAR(m.mean, mu, 6 * sqrt(mu / N));
        CHECK_NEAR(m.var, mu, 6 * sqrt((mu + 2 * mu * mu) / N));
        CHECK_NEAR(m.skew, 0, 6 * sqrt(6.0 / N));
    }
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 8);
    CHECK(sl_rng_poisson(&r, 0) == 0);
    CHECK(sl_rng_poisson(&r, -3) == 0);
    CHECK(sl_rng_poisson(&r, NAN) == 0);
    CHECK(sl_rng_poisson(&r, INFINITY) == UINT64_MAX);
    CHECK(sl_rng_poisson(&r, 1e300) == UINT64_MAX);
    free(k);
}

static void test_bernoulli(void)
{
    enum { N = 200000 };
    const double ps[] = {0.3, 0.7, 0.001};
    for (int s = 0; s < 3; s++) {
        sl_rng r;
        sl_rng_init(&r, SEED, s, 9);
        double obs[2] = {0, 0}, expect[2] = {N * (1 - ps[s]), N * ps[s]};
        for (int i = 0; i < N; i++)
            obs[sl_rng_bernoulli(&r, ps[s])]++;
        CHECK(pooled_chi2_pvalue(obs, expect, 2, 5) > P_MIN);
    }
    sl_rng r;
    sl_rng_init(&r, SEED, 0, 9);
    int ones = 0, zeros = 0;
    for (int i = 0; i < 10000; i++) {
        ones += sl_rng_bernoulli(&r, 1.0);
        zeros += !sl_rng_bernoulli(&r, 0.0);
    }
    CHECK(ones == 10000 && zeros == 10000);
}

static void test_kolmogorov_series(void)
{
    /* Published quantiles of the Kolmogorov distribution (scipy.special.kolmogorov). */
    CHECK_NEAR(kolmogorov_q(1.3580986393225507), 0.05, 1e-12);
    CHECK_NEAR(kolmogorov_q(1.6276236115189504), 0.01, 1e-12);
    CHECK_NEAR(kolmogorov_q(0.5), 0.9639452436648751, 1e-12);
    CHECK_NEAR(kolmogorov_q(0.9), 0.3927307079406543, 1e-12);
    CHECK_NEAR(kolmogorov_q(1.0), 0.26999967167735456, 1e-12);
}

int main(void)
{
    RUN(test_philox_known_answers);
    RUN(test_stream_layout);
    RUN(test_block_counter_carry);
    RUN(test_order_independence);
    RUN(test_streams_differ);
    RUN(test_substream_list);
    RUN(test_kolmogorov_series);
    RUN(test_uniform);
    RUN(test_below);
    RUN(test_normal);
    RUN(test_exponential);
    RUN(test_gamma);
    RUN(test_pareto);
    RUN(test_poisson);
    RUN(test_poisson_huge_and_edges);
    RUN(test_bernoulli);
    return check_report("test_rng");
}
