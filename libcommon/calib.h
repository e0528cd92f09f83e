/* calib.h: the statistics of sl-calibrate (DESIGN.md "Calibration"): how
 * honest a posterior's uncertainty is and how accurate its estimates are,
 * from pairs of (true value, posterior) collected over many sources.
 *
 * Everything here is a pure function of its arguments (random draws come from
 * an explicit seed), so the tool's numbers can be checked against analytic
 * values in tests/unit/test_calib.c.  The definitions are those written out
 * in man/man1/sl-calibrate.1.
 *
 *   matching     one-to-one assignment of estimated to true sources within a
 *                radius, maximizing the number of pairs, then minimizing their
 *                summed distance (Hungarian algorithm on each cluster of
 *                sources that lie within reach of each other)
 *   reliability  binary factors: reliability diagram in equal-width or
 *                equal-count bins, ECE, MCE, Brier score
 *   coverage     continuous factors: empirical coverage of central credible
 *                intervals from PIT values, flagged outside a binomial band
 *   SBC          rank histograms (Talts et al. 2018) and a chi-square test
 *   TARP         expected coverage of a joint d-dimensional normal posterior
 *                (Lemos et al. 2023), with bootstrap bands
 *   point        R^2, median absolute error, median fractional deviation,
 *                median relative precision, bias */
#ifndef SL_CALIB_H
#define SL_CALIB_H

#include <stdint.h>

#include "err.h"
#include "rng.h"

/* ---- Matching ----------------------------------------------------------------- */

/* Matches estimated sources (ex, ey)[0..ne) to true sources (tx, ty)[0..nt)
 * one to one, pairing only sources at most `radius` pixels apart.  Among all
 * such matchings it takes one with the most pairs, and among those one of
 * least summed distance (an exact assignment, not a greedy one).
 * t2e[i] receives the estimate paired with truth i or -1; e2t likewise.
 * Sources with a NaN coordinate are never paired.  Returns the number of
 * pairs, or -1 (out of memory). */
long sl_calib_match(const double *tx, const double *ty, long nt, const double *ex,
                    const double *ey, long ne, double radius, long *t2e, long *e2t,
                    sl_err *err);

/* Minimum-cost assignment of an n x m cost matrix (row-major, n <= m): every
 * row gets a distinct column, row_to_col[i].  The O(n^2 m) shortest
 * augmenting path method with potentials.  Returns -1 when n > m or memory
 * runs out. */
int sl_calib_assign(const double *cost, int n, int m, int *row_to_col, sl_err *err);

/* ---- Detection ------------------------------------------------------------------ */

typedef struct sl_calib_detect {
    long n_true, n_est, n_match_true, n_match_est;
    double precision, recall, f1; /* NaN when undefined (nothing to divide by) */
} sl_calib_detect;

/* precision = matched estimates / estimates, recall = matched truths /
 * truths, F1 their harmonic mean.  The two matched counts differ when the
 * truths and estimates are cut by different criteria (a magnitude bin). */
void sl_calib_detect_counts(long n_true, long n_match_true, long n_est, long n_match_est,
                            sl_calib_detect *out);

/* ---- Binary factors ------------------------------------------------------------- */

#define SL_CALIB_MAX_BINS 100

typedef struct sl_calib_rbin {
    double lo, hi;   /* the probabilities the bin holds: [lo, hi) (the last one closed) */
    long n;
    double conf;     /* mean predicted probability */
    double freq;     /* observed frequency of the event */
    double err;      /* sqrt(conf (1 - conf) / n): the spread of freq if calibrated */
} sl_calib_rbin;

typedef struct sl_calib_reliability {
    long n;
    int n_bins, equal_count;
    sl_calib_rbin bin[SL_CALIB_MAX_BINS];
    double ece;   /* sum over bins of n_k / n |freq_k - conf_k| */
    double mce;   /* max over non-empty bins of |freq_k - conf_k| */
    double brier; /* mean (p - y)^2 */
} sl_calib_reliability;

/* Reliability of predicted probabilities p[0..n) (in [0, 1]) for outcomes
 * y[0..n) (0 or 1), in n_bins (1 to SL_CALIB_MAX_BINS) equal-width bins of
 * [0, 1], or, with equal_count, in bins of n/n_bins predictions each in
 * order of p (ties kept in input order).  Empty bins have n = 0 and NaN
 * conf and freq.  n = 0 gives NaN metrics.  Returns -1 for a bad argument or
 * no memory. */
int sl_calib_bin_reliability(const double *p, const unsigned char *y, long n, int n_bins,
                             int equal_count, sl_calib_reliability *out, sl_err *err);

/* ---- Coverage --------------------------------------------------------------------- */

#define SL_CALIB_N_LEVELS 10
/* Nominal levels of the central intervals: 0.1, 0.2, ..., 0.9, 0.95. */
extern const double sl_calib_levels[SL_CALIB_N_LEVELS];

/* The probability integral transform of a true value whose transformed
 * value is z under a posterior z ~ N(mu, sigma^2): Phi((z - mu) / sigma).
 * z = +-inf gives 1 or 0; NaN in, NaN out. */
double sl_calib_pit(double z, double mu, double sigma);

typedef struct sl_calib_coverage {
    long n;
    double cover[SL_CALIB_N_LEVELS]; /* fraction of central intervals covering */
    double err[SL_CALIB_N_LEVELS];   /* binomial sd sqrt(L (1 - L) / n) at level L */
    double band[SL_CALIB_N_LEVELS];  /* half width of the acceptance band */
    int flag[SL_CALIB_N_LEVELS];     /* -1 below the band, +1 above, 0 inside */
    int verdict; /* SL_CALIB_OK, _OVER (only low flags), _UNDER (only high), _MIXED */
} sl_calib_coverage;

enum { SL_CALIB_OK, SL_CALIB_OVER, SL_CALIB_UNDER, SL_CALIB_MIXED, SL_CALIB_NONE };
/* "ok", "over-confident", "under-confident", "miscalibrated", "-" (n = 0). */
const char *sl_calib_verdict_name(int verdict);

/* The z of the acceptance band: a two-sided 1 - alpha band at each of the
 * SL_CALIB_N_LEVELS levels, Bonferroni-corrected so that a calibrated
 * parameter has at most probability alpha of any flag:
 * Phi^-1(1 - alpha / (2 SL_CALIB_N_LEVELS)). */
double sl_calib_band_z(double alpha);

/* Coverage at every level from PIT values pit[0..n): the central level-L
 * interval covers the truth iff |pit - 1/2| <= L/2.  NaN PIT values are
 * skipped (not counted in n).  alpha as for sl_calib_band_z. */
void sl_calib_coverage_from_pit(const double *pit, long n, double alpha,
                                sl_calib_coverage *out);

/* ---- Simulation-based calibration -------------------------------------------- */

#define SL_CALIB_MAX_SBC_BINS 64

/* The rank of a true value among L draws from its posterior: the number of
 * draws below it, 0 to L.  The draws are made by inversion, y_k =
 * F^-1(U_k) for uniform U_k, so y_k < truth exactly when U_k < F(truth) =
 * pit: the rank needs only the truth's PIT value, for any family.  Draws
 * come from r.  A NaN pit gives -1. */
int sl_calib_sbc_rank(double pit, int L, sl_rng *r);

typedef struct sl_calib_sbc {
    long n;
    int L, n_bins;                        /* ranks 0..L grouped into n_bins bins */
    long count[SL_CALIB_MAX_SBC_BINS];
    double chi2, p_value;                 /* Pearson's test of uniform bins; NaN below 2 bins */
    int dof;
} sl_calib_sbc;

/* How many bins a rank histogram of n ranks from 0..L gets: the largest
 * divisor of L + 1 that is at most max_bins (<= SL_CALIB_MAX_SBC_BINS) and
 * leaves an expected count of at least 5 per bin; 1 when none does. */
int sl_calib_sbc_bins(int L, long n, int max_bins);

/* Histogram of ranks[0..n) (each 0..L) in n_bins equal groups of ranks
 * (n_bins must divide L + 1) and the chi-square test of uniformity:
 * chi2 = sum (count - n/bins)^2 / (n/bins), dof = bins - 1,
 * p = Q(dof/2, chi2/2).  Returns -1 for a bad argument. */
int sl_calib_rank_histogram(const int *ranks, long n, int L, int n_bins, sl_calib_sbc *out,
                            sl_err *err);

/* ---- TARP ------------------------------------------------------------------------ */

#define SL_CALIB_TARP_ALPHAS 21 /* credibility levels 0, 0.05, ..., 1 */

typedef struct sl_calib_tarp {
    long n;
    int d, n_samples, n_boot;
    double alpha[SL_CALIB_TARP_ALPHAS];
    double ecp[SL_CALIB_TARP_ALPHAS];          /* expected coverage probability */
    double lo68[SL_CALIB_TARP_ALPHAS], hi68[SL_CALIB_TARP_ALPHAS]; /* bootstrap bands */
    double lo95[SL_CALIB_TARP_ALPHAS], hi95[SL_CALIB_TARP_ALPHAS];
    double max_dev; /* max over alpha of |ecp - alpha| */
    double atc;     /* area between the curve and the diagonal, mean |ecp - alpha| over the grid */
    /* ECP is the empirical CDF of the f_i, which are exactly uniform under
     * calibration: the Kolmogorov-Smirnov distance of all f_i from U(0, 1)
     * and its p-value test the whole curve at once (the bands are pointwise). */
    double ks_d, ks_p;
} sl_calib_tarp;

/* TARP for n systems of d coordinates (d <= 16): truth z[n][d], posterior
 * means mu[n][d] and lower Cholesky factors chol[n][d(d+1)/2] (row by row)
 * of z ~ N(mu, L L^T).  Coordinates are standardized by the mean and sd of
 * the truths; each system gets a reference point uniform in the box of the
 * standardized truths, and f_i is the fraction of n_samples posterior draws
 * closer to it than the truth; ECP(alpha) = mean_i 1[f_i < alpha].  Bands:
 * central 68% and 95% of n_boot bootstrap resamples of the systems (pointwise).  All
 * draws come from (seed, system or resample index) streams, so the result is
 * deterministic.  Systems with a non-finite value are skipped. */
int sl_calib_tarp_curve(const double *z, const double *mu, const double *chol, long n, int d,
                        int n_samples, int n_boot, uint64_t seed, sl_calib_tarp *out, sl_err *err);

/* P(K > t) for the Kolmogorov distribution: the asymptotic p-value of
 * sqrt(n) D for the one-sample Kolmogorov-Smirnov distance D. */
double sl_calib_kolmogorov_q(double t);

/* ---- Point accuracy ------------------------------------------------------------- */

typedef struct sl_calib_point {
    long n;
    double r2;        /* 1 - sum (m - t)^2 / sum (t - mean t)^2 */
    double mae;       /* median |m - t| */
    double frac_dev;  /* median |m - t| / |t|; NaN unless ratio scale */
    double rel_prec;  /* median (q84 - q16) / (2 |q50|); NaN unless ratio scale */
    double bias;      /* mean (m - t) */
    double rmse;
} sl_calib_point;

/* Point accuracy of point estimates m (the headline: posterior medians)
 * against truths t (n pairs; q16, q50, q84 the posterior quantiles, may be
 * NULL without ratio_scale).  period > 0
 * wraps each difference m - t into [-period/2, period/2) (position angles,
 * period pi).  ratio_scale: the quantity is positive with a meaningful zero,
 * so the fractional metrics are computed.  Pairs with a NaN are skipped.
 * Returns -1 when memory runs out. */
int sl_calib_point_accuracy(const double *t, const double *m, const double *q16,
                            const double *q50, const double *q84, long n, double period,
                            int ratio_scale, sl_calib_point *out, sl_err *err);

/* The median of x[0..n) (x is reordered); NaN for n = 0. */
double sl_calib_median(double *x, long n);

/* ---- Ranking (calib_rank.c) ------------------------------------------------------ */

#define SL_CALIB_CURVE_POINTS 101 /* thresholds 0, 0.01, ..., 1 */

typedef struct sl_calib_ranking {
    long n, n_pos;    /* scored items, and the positive ones */
    long n_relevant;  /* what recall divides by (positives plus those never scored) */
    /* The area under the ROC curve: P(a positive scores above a negative) +
     * P(tie) / 2, the Mann-Whitney statistic; NaN without both classes. */
    double auc;
    /* Average precision: over the groups of tied scores in decreasing
     * order, sum of (positives in the group) x (precision once the group is
     * in), over n_relevant; NaN for n_relevant = 0. */
    double ap;
    /* The curves at thresholds t: an item is selected when score >= t. */
    double threshold[SL_CALIB_CURVE_POINTS];
    double tpr[SL_CALIB_CURVE_POINTS], fpr[SL_CALIB_CURVE_POINTS];
    double recall[SL_CALIB_CURVE_POINTS], precision[SL_CALIB_CURVE_POINTS]; /* NaN: none selected */
} sl_calib_ranking;

/* Ranking metrics of scores score[0..n) in [0, 1] against labels y[0..n)
 * (0 or 1); n_relevant >= the positives.  NaN scores count as 0.
 * Returns -1 when memory runs out. */
int sl_calib_rank_scores(const double *score, const unsigned char *y, long n, long n_relevant,
                         sl_calib_ranking *out, sl_err *err);

/* The operating point of highest completeness whose purity is at least
 * min_purity.  Items score[0..n) are selected when score >= t and are right
 * when hit[i]; purity(t) = right selected / selected.  Targets best[0..m)
 * (each the highest score of the items that would find it, -inf for none)
 * are found when best >= t; completeness(t) = found / m.  Since
 * completeness only falls as t rises, the answer is the lowest t among the
 * scores with purity(t) >= min_purity.  Returns 1 and fills threshold,
 * completeness and purity when one exists, 0 when none does (they are NaN),
 * -1 when memory runs out. */
int sl_calib_at_purity(const double *score, const unsigned char *hit, long n, const double *best,
                       long m, double min_purity, double *threshold, double *completeness,
                       double *purity, sl_err *err);

/* The q-quantile of x[0..n) (x is reordered), interpolating linearly
 * between order statistics (Hyndman and Fan's type 7); NaN for n = 0. */
double sl_calib_quantile(double *x, long n, double q);

#endif
