/* family.h: the variational families of the encoders' posteriors (DESIGN.md
 * "Inference").
 *
 * An encoder's network emits a few raw floats per latent; a family turns them
 * into a distribution q(y | outputs) over the latent value y.  Training minimises
 * -log q(y_true | outputs), so every family gives its log-density and the
 * gradient of it with respect to the raw outputs; inference reports the mean,
 * exact quantiles and samples.
 *
 * Families and raw outputs:
 *
 *   bernoulli            1 output, the logit l; y in {0, 1} (soft labels in
 *                        [0, 1] are accepted: log q = y log p + (1-y) log(1-p)).
 *   normal               2 outputs (mu, s); y = z.
 *   lognormal            2 outputs (mu, s); log y = z, y > 0.
 *   logitnormal(a, b)    2 outputs (mu, s); logit((y - a)/(b - a)) = z, a < y < b.
 *   mvn(t_1, ..., t_d)   d + d(d+1)/2 outputs: the d means, then the lower
 *                        triangle of the Cholesky factor L row by row,
 *                        L00, L10, L11, L20, L21, L22, ...; coordinate i is
 *                        z_i = t_i(y_i) with its own transform t_i (identity,
 *                        log, or logit on (a, b)), and z ~ N(mu, L L^T).
 *
 * In each case z is normal; the scalar continuous families are exactly the
 * 1-dimensional mvn with the corresponding transform (the same code computes
 * them).  Densities are of y itself: log q includes log |dz/dy|.
 *
 * Scale parametrisation: a diagonal entry of L (the standard deviation sigma in
 * 1-d) is softplus(s) + SL_FAMILY_SCALE_MIN, off-diagonal entries are the raw
 * outputs unchanged.  softplus grows linearly, so a large raw value cannot
 * overflow sigma the way exp() would, and the floor keeps 1/sigma finite for any
 * finite output.  The floor is 1e-4 in z units, below the finest precision the
 * model needs (the log-flux of the brightest stars, about 1e-3); BLISS's
 * sqrt(exp(logvar) + 1e-5) floors sigma at 3e-3.
 *
 * Everything is computed in double; float outputs (the network's) are converted
 * on entry.  For any finite outputs no function returns NaN; the log-normal
 * mean and quantiles overflow to +inf when exp() of the z value does. */
#ifndef SL_FAMILY_H
#define SL_FAMILY_H

#include <stddef.h>

#include "err.h"
#include "rng.h"

#define SL_FAMILY_MAX_DIM 16
#define SL_FAMILY_MAX_OUTPUTS (SL_FAMILY_MAX_DIM + SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2)
#define SL_FAMILY_SCALE_MIN 1e-4
/* Training targets of a logit coordinate that sit on (or within this fraction of
 * the width of) an end of (a, b) are moved this far inside; see
 * sl_family_clamp_target. */
#define SL_FAMILY_LOGIT_MARGIN 1e-6

typedef enum {
    SL_FAM_BERNOULLI,
    SL_FAM_NORMAL,
    SL_FAM_LOGNORMAL,
    SL_FAM_LOGITNORMAL,
    SL_FAM_MVN
} sl_family_kind;

typedef enum { SL_TR_IDENTITY, SL_TR_LOG, SL_TR_LOGIT } sl_transform_kind;

/* z = t(y): identity, log y, or log((y - a)/(b - y)). a and b are used by logit only. */
typedef struct sl_transform {
    sl_transform_kind kind;
    double a, b;
} sl_transform;

typedef struct sl_family {
    sl_family_kind kind;
    int dim;                             /* 1 except for mvn */
    sl_transform tr[SL_FAMILY_MAX_DIM]; /* tr[0] for the scalar families */
} sl_family;

/* Constructors for the scalar families (check logitnormal's interval with
 * sl_family_check). */
sl_family sl_family_bernoulli(void);
sl_family sl_family_normal(void);
sl_family sl_family_lognormal(void);
sl_family sl_family_logitnormal(double a, double b);
/* A dim-dimensional mvn with transforms tr[0..dim-1]; -1 when dim or a transform is invalid. */
int sl_family_mvn(sl_family *f, int dim, const sl_transform *tr, sl_err *err);
/* 0 when f is well formed: 1 <= dim <= SL_FAMILY_MAX_DIM (dim 1 for scalar
 * families), finite a < b for logit transforms. */
int sl_family_check(const sl_family *f, sl_err *err);

/* Number of raw outputs the network must produce for f. */
int sl_family_n_outputs(const sl_family *f);

/* log q(y | out) for y[0..dim-1].  When grad is not NULL it receives
 * d log q / d out[k] for every output k (overwritten, not accumulated; in float
 * the values saturate at +-FLT_MAX).  y outside the support (y <= 0 for a log
 * coordinate, y not strictly inside (a, b) for a logit one, infinite y, or a
 * Bernoulli y outside [0, 1]) gives -inf and a zero gradient; a NaN y gives NaN
 * and a zero gradient. */
double sl_family_logpdf(const sl_family *f, const float *out, const double *y, float *grad);
/* The same with double outputs and gradient (for tests and double-precision callers). */
double sl_family_logpdf_d(const sl_family *f, const double *out, const double *y, double *grad);

/* Makes a training target usable: a logit coordinate on an end of (a, b), or
 * within SL_FAMILY_LOGIT_MARGIN (b - a) of it (float rounding of a value such as
 * an axis ratio of 1), is moved SL_FAMILY_LOGIT_MARGIN (b - a) inside.  Returns
 * the number of coordinates moved, or -1 (with a message naming the coordinate
 * and value) when some y is NaN or outside the support by more than that. */
int sl_family_clamp_target(const sl_family *f, double *y, sl_err *err);

/* Mean of each coordinate, mean[0..dim-1] (for mvn, the mean of each
 * transformed marginal).  Bernoulli: p.  Log-normal: exp(mu + sigma^2/2).
 * Logit-normal: by composite Gauss-Legendre quadrature, accurate to about 1e-14
 * of (b - a). */
void sl_family_mean(const sl_family *f, const float *out, double *mean);

/* Quantile at probability level (0 < level < 1) of each coordinate's marginal,
 * q[0..dim-1]: the transform of the normal quantile, exact for every level, so
 * a central 90% interval is [quantile(0.05), quantile(0.95)].  Bernoulli: 0 when
 * level <= 1 - p, else 1.  level outside (0, 1) gives NaN. */
void sl_family_quantile(const sl_family *f, const float *out, double level, double *q);

/* The normal in z = t(y) behind q: means mu[0..dim-1] and the lower triangle of
 * the Cholesky factor, row by row (L00, L10, L11, ...), so the marginal standard
 * deviation of coordinate 0 is L[0] (for a scalar family, sigma).  Bernoulli:
 * mu[0] is the logit and L[0] is 0. */
void sl_family_params(const sl_family *f, const float *out, double *mu, double *L);

/* Marginal CDF P(y_i <= y) of coordinate i (for PIT values and SBC ranks). */
double sl_family_cdf(const sl_family *f, const float *out, int i, double y);

/* One joint draw y[0..dim-1] from q. */
void sl_family_sample(const sl_family *f, const float *out, sl_rng *r, double *y);

/* Names for model files: "bernoulli", "normal", "lognormal", "logitnormal", "mvn". */
const char *sl_family_name(sl_family_kind kind);
/* 0 and *kind set when name is a family name, else -1. */
int sl_family_kind_parse(const char *name, sl_family_kind *kind);

/* The family as a one-line spec, e.g. "normal", "logitnormal(-1,1)",
 * "mvn(log,identity,identity,logit(-1,1),logit(-1,1))"; numbers are printed
 * with 17 significant digits, so sl_family_parse gives back the same family.
 * snprintf semantics: returns the length of the full spec. */
int sl_family_format(const sl_family *f, char *buf, size_t size);
/* Reads a spec written by sl_family_format ("logitnormal" alone means (0, 1));
 * spaces are allowed around names, numbers and punctuation. */
int sl_family_parse(sl_family *f, const char *spec, sl_err *err);

#endif
