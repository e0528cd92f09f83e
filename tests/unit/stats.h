/* stats.h: goodness-of-fit statistics shared by the unit tests. */
#ifndef SL_TEST_STATS_H
#define SL_TEST_STATS_H

#include <math.h>
#include <stdlib.h>

/* Survival function of the Kolmogorov distribution, P(K > t), from its two
 * classical series: the alternating one converges fast for large t, the theta
 * form for small t. */
static double kolmogorov_q(double t)
{
    if (t <= 0)
        return 1.0;
    if (t < 1.0) {
        double sum = 0;
        for (int k = 1; k <= 20; k++) {
            double j = 2 * k - 1;
            sum += exp(-j * j * M_PI * M_PI / (8 * t * t));
        }
        return 1.0 - sqrt(2 * M_PI) / t * sum;
    }
    double sum = 0;
    for (int k = 1; k <= 100; k++)
        sum += (k % 2 ? 2.0 : -2.0) * exp(-2.0 * k * k * t * t);
    return fmax(sum, 0.0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One-sample KS p-value of x (sorted in place) against a continuous CDF, with
 * Stephens' (1970) finite-n correction of the statistic. */
static double ks_pvalue(double *x, size_t n, double (*cdf)(double, const double *),
                        const double *par)
{
    qsort(x, n, sizeof *x, cmp_double);
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double f = cdf(x[i], par);
        d = fmax(d, fmax(f - (double)i / (double)n, (double)(i + 1) / (double)n - f));
    }
    double sn = sqrt((double)n);
    return kolmogorov_q((sn + 0.12 + 0.11 / sn) * d);
}

#endif
