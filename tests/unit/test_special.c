/* Special functions against closed forms and published values. */
#include "check.h"
#include "special.h"

static void test_gamma_p_closed_forms(void)
{
    /* P(1, x) = 1 - e^-x; P(1/2, x) = erf(sqrt x); P(3, x) = 1 - e^-x (1 + x + x^2/2). */
    for (double x = 0.01; x < 40; x *= 1.7) {
        CHECK_REL(sl_gamma_p(1.0, x), 1.0 - exp(-x), 1e-13);
        CHECK_REL(sl_gamma_p(0.5, x), erf(sqrt(x)), 1e-13);
        CHECK_REL(sl_gamma_q(3.0, x), exp(-x) * (1 + x + x * x / 2), 1e-12);
    }
}

static void test_gamma_p_inverse(void)
{
    const double shapes[] = {0.39331, 0.5, 1, 2, 8, 30};
    for (int i = 0; i < 6; i++)
        for (double p = 1e-6; p < 1; p = p < 0.5 ? p * 3 : 1 - (1 - p) / 3) {
            double x = sl_gamma_p_inv(shapes[i], p);
            double back = p < 0.5 ? sl_gamma_p(shapes[i], x) : 1 - sl_gamma_q(shapes[i], x);
            CHECK_REL(back, p, 1e-10);
            if (p > 0.999999)
                break;
        }
    /* Sersic b_n for n = 4: the root of P(8, b) = 1/2 is 7.66924944 (Ciotti & Bertin 1999). */
    CHECK_NEAR(sl_gamma_p_inv(8.0, 0.5), 7.66924944, 1e-8);
    CHECK_NEAR(sl_gamma_p_inv(2.0, 0.5), 1.67834699, 1e-8);
}

static void test_normal(void)
{
    CHECK_NEAR(sl_normal_cdf(0), 0.5, 1e-16);
    CHECK_NEAR(sl_normal_cdf(1.959963984540054), 0.975, 1e-15);
    CHECK_NEAR(sl_normal_quantile(0.975), 1.959963984540054, 1e-14);
    CHECK_NEAR(sl_normal_quantile(0.05), -1.6448536269514722, 1e-14);
    CHECK_REL(sl_normal_quantile(1e-10), -6.361340902404056, 1e-13);
    for (double p = 1e-12; p < 1; p = p < 0.5 ? p * 2.3 : 1 - (1 - p) / 2.3) {
        CHECK_REL(sl_normal_cdf(sl_normal_quantile(p)), p, 1e-12);
        if (p > 1 - 1e-9)
            break;
    }
}

int main(void)
{
    RUN(test_gamma_p_closed_forms);
    RUN(test_gamma_p_inverse);
    RUN(test_normal);
    return check_report("test_special");
}
