#include "special.h"

#include <float.h>
#include <math.h>

/* P(a, x) by its power series; converges fast for x < a + 1. */
static double gamma_p_series(double a, double x)
{
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 100000; n++) {
        term *= x / (a + n);
        sum += term;
        if (fabs(term) < fabs(sum) * DBL_EPSILON)
            break;
    }
    return sum * exp(-x + a * log(x) - lgamma(a));
}

/* Q(a, x) by its continued fraction (modified Lentz); converges for x >= a + 1. */
static double gamma_q_fraction(double a, double x)
{
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < DBL_EPSILON)
            break;
    }
    return exp(-x + a * log(x) - lgamma(a)) * h;
}

double sl_gamma_p(double a, double x)
{
    if (x <= 0.0)
        return 0.0;
    if (x < a + 1.0)
        return gamma_p_series(a, x);
    return 1.0 - gamma_q_fraction(a, x);
}

double sl_gamma_q(double a, double x)
{
    if (x <= 0.0)
        return 1.0;
    if (x < a + 1.0)
        return 1.0 - gamma_p_series(a, x);
    return gamma_q_fraction(a, x);
}

/* Halley's method on P(a, x) - p from a Wilson-Hilferty start, kept positive. */
double sl_gamma_p_inv(double a, double p)
{
    if (p <= 0.0)
        return 0.0;
    if (p >= 1.0)
        return INFINITY;
    double z = sl_normal_quantile(p), t = 1.0 / (9.0 * a);
    double x = a * pow(1.0 - t + z * sqrt(t), 3.0);
    if (!(x > 0.0))
        x = pow(p * a * exp(lgamma(a)), 1.0 / a); /* small-x form P ~ x^a / (a Gamma(a)) */
    double lga = lgamma(a);
    for (int it = 0; it < 100; it++) {
        double err = (p < 0.5) ? sl_gamma_p(a, x) - p : (1.0 - p) - sl_gamma_q(a, x);
        double pdf = exp((a - 1.0) * log(x) - x - lga);
        if (pdf == 0.0)
            break;
        double r = err / pdf;
        double step = r / (1.0 - 0.5 * fmin(1.0, r * ((a - 1.0) / x - 1.0)));
        double next = x - step;
        if (next <= 0.0)
            next = 0.5 * x;
        if (fabs(next - x) <= 1e-15 * x) {
            x = next;
            break;
        }
        x = next;
    }
    return x;
}

double sl_normal_cdf(double x)
{
    return 0.5 * erfc(-x / M_SQRT2);
}

/* Wichura's AS 241 (PPND16), accurate to about 1e-16 relative. */
double sl_normal_quantile(double p)
{
    if (p <= 0.0)
        return -INFINITY;
    if (p >= 1.0)
        return INFINITY;
    double q = p - 0.5, r;
    if (fabs(q) <= 0.425) {
        r = 0.180625 - q * q;
        return q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                         + 67265.770927008700853) * r + 45921.953931549871457) * r
                       + 13731.693765509461125) * r + 1971.5909503065514427) * r
                     + 133.14166789178437745) * r + 3.387132872796366608)
             / (((((((r * 5226.495278852545925 + 28729.085735721942674) * r
                     + 39307.89580009271061) * r + 21213.794301586595867) * r
                   + 5394.1960214247511077) * r + 687.1870074920579083) * r
                 + 42.313330701600911252) * r + 1.0);
    }
    r = q < 0.0 ? p : 1.0 - p;
    r = sqrt(-log(r));
    double val;
    if (r <= 5.0) {
        r -= 1.6;
        val = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734)
            / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                    + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                  + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                + 2.05319162663775882187) * r + 1.0);
    } else {
        r -= 5.0;
        val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772)
            / (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                    + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                  + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                + 0.59983220655588793769) * r + 1.0);
    }
    return q < 0.0 ? -val : val;
}
