#include "rng.h"

#include <string.h>

#include <math.h>

/* Philox4x32 constants (Salmon et al. 2011): round multipliers and the Weyl
 * increments that advance the key between rounds. */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void sl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void sl_rng_init(sl_rng *r, uint64_t seed, uint64_t stream, uint16_t substream)
{
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = (uint32_t)substream << 16;
    r->ctr[2] = (uint32_t)stream;
    r->ctr[3] = (uint32_t)(stream >> 32);
    r->pos = 8;
    r->has_spare = 0;
    r->spare = 0.0;
}

/* Computes the block at the counter, then steps the 48-bit block counter; its
 * top 16 bits share ctr[1] with the substream, which the carry must not touch. */
static void next_ctr(uint32_t ctr[4])
{
    if (++ctr[0] == 0)
        ctr[1] = (ctr[1] & 0xFFFF0000u) | ((ctr[1] + 1) & 0xFFFFu);
}

/* Two consecutive blocks at once: their independent rounds interleave, which
 * hides the multiply latency; the words come out in the same order. */
static void refill(sl_rng *r)
{
    uint32_t c2[4];
    memcpy(c2, r->ctr, sizeof c2);
    next_ctr(c2);
    uint32_t a0 = r->ctr[0], a1 = r->ctr[1], a2 = r->ctr[2], a3 = r->ctr[3];
    uint32_t b0 = c2[0], b1 = c2[1], b2 = c2[2], b3 = c2[3];
    uint32_t k0 = r->key[0], k1 = r->key[1];
    for (int round = 0; round < 10; round++) {
        uint64_t pa0 = (uint64_t)PHILOX_M0 * a0, pa1 = (uint64_t)PHILOX_M1 * a2;
        uint64_t pb0 = (uint64_t)PHILOX_M0 * b0, pb1 = (uint64_t)PHILOX_M1 * b2;
        uint32_t na0 = (uint32_t)(pa1 >> 32) ^ a1 ^ k0, na2 = (uint32_t)(pa0 >> 32) ^ a3 ^ k1;
        uint32_t nb0 = (uint32_t)(pb1 >> 32) ^ b1 ^ k0, nb2 = (uint32_t)(pb0 >> 32) ^ b3 ^ k1;
        a0 = na0, a1 = (uint32_t)pa1, a2 = na2, a3 = (uint32_t)pa0;
        b0 = nb0, b1 = (uint32_t)pb1, b2 = nb2, b3 = (uint32_t)pb0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    uint32_t *o = r->buf;
    o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3, o[4] = b0, o[5] = b1, o[6] = b2, o[7] = b3;
    r->pos = 0;
    next_ctr(c2);
    memcpy(r->ctr, c2, sizeof c2);
}

uint32_t sl_rng_u32(sl_rng *r)
{
    if (r->pos >= 8)
        refill(r);
    return r->buf[r->pos++];
}

uint64_t sl_rng_u64(sl_rng *r)
{
    uint64_t lo = sl_rng_u32(r);
    uint64_t hi = sl_rng_u32(r);
    return hi << 32 | lo;
}

double sl_rng_uniform(sl_rng *r)
{
    for (;;) {
        uint64_t k = sl_rng_u64(r) >> 11;
        if (k != 0)
            return (double)k * 0x1p-53;
    }
}

double sl_rng_uniform_range(sl_rng *r, double a, double b)
{
    return a + (b - a) * sl_rng_uniform(r);
}

uint64_t sl_rng_below(sl_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Words below 2^64 mod n would make the low residues more likely; the words
     * at or above it come in whole runs of n. */
    uint64_t cut = (0 - n) % n;
    for (;;) {
        uint64_t x = sl_rng_u64(r);
        if (x >= cut)
            return x % n;
    }
}

double sl_rng_normal(sl_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * sl_rng_uniform(r) - 1.0;
        v = 2.0 * sl_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

double sl_rng_exponential(sl_rng *r)
{
    return -log(sl_rng_uniform(r));
}

/* ---- Poisson ---- */

/* Sequential search from k = 0 (Devroye 1986, X.3); about mean + 1 steps.  The
 * running sum can fall short of u by rounding, deep in the tail where the pmf has
 * underflowed; that draw is then repeated, which changes the law by ~1e-16. */
static uint64_t poisson_inversion(sl_rng *r, double mean)
{
    double p0 = exp(-mean);
    for (;;) {
        double u = sl_rng_uniform(r), p = p0;
        for (uint64_t k = 0; p > 0.0; k++) {
            if (u <= p)
                return k;
            u -= p;
            p *= mean / (double)(k + 1);
        }
    }
}

/* log k! for k < 16, where the Stirling series below is not yet accurate enough. */
static const double log_factorial_small[16] = {
    0.0, 0.0, 0.6931471805599453, 1.791759469228055, 3.1780538303479458,
    4.787491742782046, 6.579251212010101, 8.525161361065415, 10.60460290274525,
    12.801827480081469, 15.104412573075516, 17.502307845873887, 19.987214495661885,
    22.552163853123425, 25.19122118273868, 27.89927138384089,
};

/* k log(k/m) + m - k without the cancellation of its terms near k = m (Loader,
 * "Fast and accurate computation of binomial probabilities", 2000): with
 * v = (k - m)/(k + m) it equals (k - m) v + 2k sum_{j>=1} v^(2j+1) / (2j+1). */
static double poisson_deviance(double k, double m)
{
    if (fabs(k - m) >= 0.1 * (k + m))
        return k * log(k / m) + m - k;
    double v = (k - m) / (k + m), v2 = v * v;
    double sum = (k - m) * v, term = 2.0 * k * v;
    for (int j = 1; j < 1000; j++) {
        term *= v2;
        double next = sum + term / (2 * j + 1);
        if (next == sum)
            break;
        sum = next;
    }
    return sum;
}

/* log of the Poisson(m) pmf at the integer k >= 0, accurate to ~1e-14 absolute
 * near the mode even for m ~ 1e12, where the naive k log m - m - lgamma(k + 1)
 * loses everything to cancellation.  (lgamma is also avoided because it writes
 * the global signgam, a data race between threads.) */
static double poisson_log_pmf(double k, double m)
{
    if (k < 16)
        return k * log(m) - m - log_factorial_small[(int)k];
    /* log k! = k log k - k + log(2 pi k)/2 + stirling; the series is cut after
     * k^-7, an error of ~1e-14 at k = 16. */
    double ik = 1.0 / k, ik2 = ik * ik;
    double stirling = ik * (1.0 / 12 - ik2 * (1.0 / 360 - ik2 * (1.0 / 1260 - ik2 / 1680)));
    return -poisson_deviance(k, m) - 0.5 * log(2.0 * M_PI * k) - stirling;
}

static uint64_t to_u64(double k)
{
    return k >= 0x1p64 ? UINT64_MAX : (uint64_t)k;
}

/* Hormann (1993), "The transformed rejection method for generating Poisson random
 * variables", algorithm PTRS, valid for mean >= 10.  About 1.1-1.2 uniform pairs
 * per draw; most draws take the squeeze and need neither log nor the pmf. */
static uint64_t poisson_ptrs(sl_rng *r, double mean)
{
    double b = 0.931 + 2.53 * sqrt(mean), a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), v_r = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = sl_rng_uniform(r) - 0.5, v = sl_rng_uniform(r);
        double us = 0.5 - fabs(u);
        double k = floor((2.0 * a / us + b) * u + mean + 0.43);
        if (k < 0.0)
            continue;
        if (us >= 0.07 && v <= v_r)
            return to_u64(k);
        if (us < 0.013 && v > us)
            continue;
        if (log(v * inv_alpha / (a / (us * us) + b)) <= poisson_log_pmf(k, mean))
            return to_u64(k);
    }
}

uint64_t sl_rng_poisson(sl_rng *r, double mean)
{
    if (!(mean > 0.0))
        return 0;
    if (mean == INFINITY)
        return UINT64_MAX;
    return mean < 10.0 ? poisson_inversion(r, mean) : poisson_ptrs(r, mean);
}

/* ---- gamma, Pareto, Bernoulli ---- */

/* Marsaglia & Tsang (2000), "A simple method for generating gamma variables",
 * for shape >= 1: d (1 + c x)^3 with x normal, accepted by a squeeze or the exact
 * log test. */
static double gamma_marsaglia_tsang(sl_rng *r, double shape)
{
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = sl_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = sl_rng_uniform(r), x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2)
            return d * v;
        if (log(u) < 0.5 * x2 + d * (1.0 - v + log(v)))
            return d * v;
    }
}

double sl_rng_gamma(sl_rng *r, double shape, double scale)
{
    if (!(shape > 0.0) || !(scale > 0.0))
        return NAN;
    if (shape >= 1.0)
        return scale * gamma_marsaglia_tsang(r, shape);
    /* Gamma(a) = Gamma(a + 1) U^(1/a) (Marsaglia & Tsang's boost); the power is
     * taken through exp/log, which underflows gracefully for tiny shapes. */
    double g = gamma_marsaglia_tsang(r, shape + 1.0);
    return scale * g * exp(log(sl_rng_uniform(r)) / shape);
}

double sl_rng_pareto_trunc(sl_rng *r, double xmin, double xmax, double alpha)
{
    if (!(xmin > 0.0) || !(xmax >= xmin) || !(alpha > 0.0))
        return NAN;
    double tail = pow(xmin / xmax, alpha); /* 1 - F at the cut-off; 0 for xmax = inf */
    double u = sl_rng_uniform(r);
    /* (xmin/x)^alpha = 1 - u (1 - tail), summed so that no term cancels. */
    double w = (1.0 - u) + u * tail;
    double x = xmin * pow(w, -1.0 / alpha);
    return fmin(fmax(x, xmin), xmax);
}

int sl_rng_bernoulli(sl_rng *r, double p)
{
    return sl_rng_uniform(r) < p;
}
