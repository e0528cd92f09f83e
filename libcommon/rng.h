/* rng.h: counter-based random numbers and the distributions the simulator draws from.
 *
 * The generator is Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011): a keyed bijection of a 128-bit counter.
 * Block n of a stream is philox(counter(n), key), computed from n alone, so a
 * stream needs no state beyond its position and no stream depends on another.
 *
 * Stream layout (32-bit words; "block" is the 48-bit block counter n):
 *
 *     key[0] = seed bits 0..31        key[1] = seed bits 32..63
 *     ctr[0] = block bits 0..31       ctr[1] = substream << 16 | block bits 32..47
 *     ctr[2] = stream bits 0..31      ctr[3] = stream bits 32..63
 *
 * Each block yields four 32-bit words, consumed in the order out[0..3]; the block
 * counter starts at 0 and counts up.  A 64-bit value is two consecutive words,
 * the first as the low half.
 *
 * Guarantee: the sequence of words of (seed, stream, substream) is a fixed function
 * of those three numbers, the same on every machine, whatever order or thread the
 * streams are drawn in.  Distinct triples use disjoint counter/key pairs, so their
 * words never coincide by construction.  A substream holds 2^48 blocks (2^50 words)
 * before it would wrap onto its own start.  The samplers below are deterministic
 * functions of the words they consume, so "image k of seed s" is reproducible as
 * long as the code draws from (s, k, purpose) in the same order.
 *
 * The state is a plain struct: copy it to fork a sequence (both copies then
 * produce the same numbers); no heap, no init/free pair needed.  One sl_rng must
 * not be shared between threads; give each thread its own stream instead.
 *
 * Arguments outside a sampler's stated domain give NaN (continuous samplers) or
 * the documented boundary value; callers validate configuration before drawing. */
#ifndef SL_RNG_H
#define SL_RNG_H

#include <stdint.h>

typedef struct sl_rng {
    uint32_t key[2];  /* the seed */
    uint32_t ctr[4];  /* counter of the next block to compute (layout above) */
    uint32_t buf[8];  /* words of the current two blocks */
    unsigned pos;     /* next unread word of buf; 8 when buf is used up */
    int has_spare;    /* the polar method makes normals in pairs */
    double spare;
} sl_rng;

/* Every purpose a component draws for, as the substream argument of sl_rng_init:
 * the one list of them, so that two purposes never meet on one number by
 * accident.  The stream argument then picks the object drawn for (an image, a
 * node, a tile), and the seed is the tool's -s.  Components seeded from
 * different tools' seeds may share a number (TARP's 1 and 2 are the
 * simulator's too): what must not repeat is a number within one seed's
 * meaning.  Changing a number changes every output drawn from it. */
enum sl_rng_substream {
    /* encode.c (sl-encode --samples): sample k of an image's catalog draws from
     * substream SL_RNG_ENCODE_SAMPLE + k, stream = (parent << 40) ^ (tile row
     * << 20) ^ tile column, so it occupies [0, K) for K samples; the lens
     * finder's tiles use the same with the stream's top bit set. */
    SL_RNG_ENCODE_SAMPLE = 0,
    SL_RNG_CATALOG = 1,        /* prior.c (sl-simulate): image k's catalog, stream k */
    SL_RNG_NOISE = 2,          /* render.c (sl-simulate): image k's Poisson noise, stream k */
    SL_RNG_READ_NOISE = 3,     /* render.c (sl-simulate): image k's read noise, stream k */
    SL_RNG_TARP_SYSTEM = 1,    /* calib.c (sl-calibrate): TARP reference points of
                                  object i, stream i */
    SL_RNG_TARP_BOOT = 2,      /* calib.c (sl-calibrate): TARP bootstrap resample b,
                                  stream b */
    /* sl-calibrate: the SBC draws of parameter i come from substream
     * SL_RNG_CALIBRATE_PARAM + i, stream = the evaluation's index. */
    SL_RNG_CALIBRATE_PARAM = 16,
    SL_RNG_TRAIN_BATCH = 100,  /* sl-train: shuffle-buffer slots of each batch, stream 0 */
    SL_RNG_TRAIN_MIRROR = 101, /* sl-train --augment: the mirror of training image k, stream k */
    SL_RNG_NN_INIT = 0x6e6e,   /* nn.c (sl_nn_init): initial weights of node i, stream i */
};

/* The raw bijection: out = Philox4x32-10(ctr, key).  Exposed for the known-answer
 * test and for callers who want one block at an explicit counter. */
void sl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Positions r at block 0 of (seed, stream, substream).  stream is typically the
 * image index, substream the purpose of the draws (enum sl_rng_substream); the
 * substream is 16 bits so that the block counter can have 48. */
void sl_rng_init(sl_rng *r, uint64_t seed, uint64_t stream, uint16_t substream);

uint32_t sl_rng_u32(sl_rng *r);
uint64_t sl_rng_u64(sl_rng *r);

/* Uniform on (0, 1): k / 2^53 for a uniform 53-bit k, with k = 0 redrawn, so the
 * result is never 0 or 1 and log() of it is always finite. */
double sl_rng_uniform(sl_rng *r);
/* a + (b - a) u; in floating point the result can round to a or b. */
double sl_rng_uniform_range(sl_rng *r, double a, double b);
/* Uniform integer in [0, n) without modulo bias (rejection); 0 when n == 0. */
uint64_t sl_rng_below(sl_rng *r, uint64_t n);

/* Standard normal by Marsaglia's polar method (exact; the second value of each
 * pair is kept in r for the next call). */
double sl_rng_normal(sl_rng *r);
/* Exponential with mean 1, by inversion: -log(u). */
double sl_rng_exponential(sl_rng *r);

/* Poisson(mean), exact: inversion by sequential search for mean < 10, Hormann's
 * PTRS transformed rejection (1993) above, whose cost does not grow with the mean.
 * mean <= 0 or NaN gives 0.  Exact in distribution (up to double rounding) while
 * the mean is below 2^52; larger means still work, the result rounded to the
 * double grid and saturated at UINT64_MAX (as is an infinite mean). */
uint64_t sl_rng_poisson(sl_rng *r, double mean);

/* Gamma(shape, scale), density x^(shape-1) e^(-x/scale) / (Gamma(shape) scale^shape),
 * by Marsaglia & Tsang (2000); shape < 1 uses Gamma(shape + 1) u^(1/shape).
 * NaN unless shape > 0 and scale > 0. */
double sl_rng_gamma(sl_rng *r, double shape, double scale);

/* Truncated Pareto: density proportional to x^(-alpha-1) on [xmin, xmax], by the
 * inverse of F(x) = (1 - (xmin/x)^alpha) / (1 - (xmin/xmax)^alpha).  xmax may be
 * INFINITY.  NaN unless 0 < xmin <= xmax and alpha > 0. */
double sl_rng_pareto_trunc(sl_rng *r, double xmin, double xmax, double alpha);

/* 1 with probability p, else 0 (p <= 0 gives 0, p >= 1 gives 1). */
int sl_rng_bernoulli(sl_rng *r, double p);

#endif
