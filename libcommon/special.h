/* special.h: special functions the numerics need (double precision).
 *
 * Accuracy: about 1e-14 relative for sl_gamma_p/q, sl_normal_cdf and
 * sl_normal_quantile over their useful ranges (checked in tests/unit/test_special.c). */
#ifndef SL_SPECIAL_H
#define SL_SPECIAL_H

/* Regularized lower incomplete gamma P(a, x) = gamma(a, x) / Gamma(a), a > 0, x >= 0. */
double sl_gamma_p(double a, double x);
/* Its complement Q(a, x) = 1 - P(a, x), accurate where P is close to 1. */
double sl_gamma_q(double a, double x);
/* The x with P(a, x) = p, for 0 < p < 1. */
double sl_gamma_p_inv(double a, double p);

/* Standard normal CDF Phi(x) and its inverse, 0 < p < 1. */
double sl_normal_cdf(double x);
double sl_normal_quantile(double p);

#endif
