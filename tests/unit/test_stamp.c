/* test_stamp.c: exact drawing of sources through the PSF (stamp.h) and the
 * Sersic transforms it rests on (fourier.h), against closed forms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fourier.h"
#include "galaxy.h"
#include "psf.h"
#include "stamp.h"

/* F_n against closed forms: n = 0.5 is a Gaussian, n = 1 an exponential;
 * other n against the quadrature alone; unit flux at 0. */
static void test_sersic_ft(void)
{
    const sl_sersic_ft *g = sl_sersic_ft_get(0.5, NULL), *e = sl_sersic_ft_get(1, NULL);
    double b05 = sl_sersic_bn(0.5), b1 = sl_sersic_bn(1), worst_g = 0, worst_e = 0;
    for (double lk = -9; lk < 9; lk += 0.0173) {
        double k = exp(lk);
        worst_g = fmax(worst_g, fabs(sl_sersic_ft_eval(g, k) - exp(-k * k / (4 * b05))));
        worst_e = fmax(worst_e, fabs(sl_sersic_ft_eval(e, k) - pow(1 + k * k / (b1 * b1), -1.5)));
    }
    printf("  F_0.5 worst %.2g, F_1 worst %.2g\n", worst_g, worst_e);
    CHECK(worst_g < 1e-7);
    CHECK(worst_e < 1e-7);
    double ns[] = {0.7, 1.5, 2.5, 4};
    for (int i = 0; i < 4; i++) {
        const sl_sersic_ft *t = sl_sersic_ft_get(ns[i], NULL);
        CHECK_NEAR(sl_sersic_ft_eval(t, 0), 1, 1e-15);
        for (double k = 0.01; k < 30; k *= 1.7)
            CHECK_NEAR(sl_sersic_ft_eval(t, k), sl_sersic_ft_direct(ns[i], k), 1e-7);
    }
    double worst_fast = 0;
    for (double lk = -9; lk < 9; lk += 0.0173) {
        double k = exp(lk), f = sl_sersic_ft_eval(e, k);
        worst_fast = fmax(worst_fast, fabs(sl_sersic_ft_fast(e, (float)(k * k)) - f));
    }
    printf("  fast F_1 worst %.2g\n", worst_fast);
    CHECK(worst_fast < 2e-6);
    CHECK(sl_sersic_ft_get(0.4, NULL) == NULL);
    CHECK(sl_sersic_ft_get(6.1, NULL) == NULL);
}

/* The pixel integral of a 2-D Gaussian of covariance C centred at (x0, y0)
 * over pixel (i, j), by 2-D Gauss-Legendre quadrature of order 24 in each
 * axis (C is general: no product form). */
static double gauss_pixel(const double C[3], double x0, double y0, int i, int j)
{
    static double t[24], w[24];
    if (!w[0]) {
        for (int a = 0; a < 24; a++) {
            double x = cos(M_PI * (a + 0.75) / 24.5), dp = 1;
            for (int it = 0; it < 100; it++) {
                double p0 = 1, p1 = x;
                for (int k = 2; k <= 24; k++) {
                    double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                dp = 24 * (x * p1 - p0) / (x * x - 1);
                x -= p1 / dp;
            }
            t[a] = x;
            w[a] = 2 / ((1 - x * x) * dp * dp);
        }
    }
    double det = C[0] * C[2] - C[1] * C[1], s = 0;
    for (int a = 0; a < 24; a++)
        for (int b = 0; b < 24; b++) {
            double dx = i + 0.5 + 0.5 * t[a] - x0, dy = j + 0.5 + 0.5 * t[b] - y0;
            double q = (C[2] * dx * dx - 2 * C[1] * dx * dy + C[0] * dy * dy) / det;
            s += w[a] * w[b] * exp(-0.5 * q);
        }
    return 0.25 * s / (2 * M_PI * sqrt(det));
}

/* A Gaussian galaxy (n = 0.5) through a Gaussian PSF, at pixel-centre and
 * pixel-corner positions, any q and angle: the exact pixel integrals. */
static void test_gaussian_exact(void)
{
    sl_psf psf;
    sl_psf_init_gaussian(&psf, 2.5, NULL);
    int w = 40, h = 40;
    sl_stamper *st = sl_stamper_new(&psf, w, h, NULL);
    CHECK(st != NULL);
    double sp = 2.5 / (2 * sqrt(2 * M_LN2)), worst = 0;
    double cases[][4] = {{20.5, 20.5, 1, 0}, {20, 20, 1, 0}, {20.5, 20.5, 0.3, 0.7},
                         {20, 20, 0.5, 2.1}, {19.7, 21.2, 0.8, 1.2}};
    float *img = malloc((size_t)w * h * sizeof *img);
    for (int c = 0; c < 5; c++) {
        double a = 1.3, q = cases[c][2], beta = cases[c][3];
        sl_stamp_src src = {.x = cases[c][0], .y = cases[c][1], .ncomp = 1, .sb_floor = 1e-12,
                            .comp = {{1, 0.5, a, q, beta}}};
        sl_stamp s;
        CHECK(sl_stamper_draw(st, &src, &s, NULL) == 0);
        memset(img, 0, (size_t)w * h * sizeof *img);
        sl_stamp_add(&s, 1, img, w, h);
        /* galaxy.h: I ~ exp(-b r^2) with r^2 = x'^2 + (y'/q)^2 over a^2, b = ln 2 */
        double s1 = a * a / (2 * M_LN2), s2 = q * q * s1, cb = cos(beta), sb = sin(beta);
        double C[3] = {s1 * cb * cb + s2 * sb * sb + sp * sp, (s1 - s2) * cb * sb,
                       s1 * sb * sb + s2 * cb * cb + sp * sp};
        double peak = 0, err = 0, sum = 0;
        for (int j = 0; j < h; j++)
            for (int i = 0; i < w; i++) {
                double want = gauss_pixel(C, src.x, src.y, i, j);
                peak = fmax(peak, want);
                err = fmax(err, fabs(img[j * w + i] - want));
                sum += img[j * w + i];
            }
        worst = fmax(worst, err / peak);
        CHECK_NEAR(sum, 1, 1e-5);
    }
    printf("  Gaussian galaxy through a Gaussian PSF: worst %.2g of the peak\n", worst);
    CHECK(worst < 1e-5);
    free(img);
    sl_stamper_free(st);
}

/* A galaxy shrunk to a point is a star, for every PSF kind. */
static void test_point_is_star(void)
{
    sl_psf psfs[4];
    sl_psf_init_gaussian(&psfs[0], 1.2, NULL);
    sl_psf_init_moffat(&psfs[1], 3, 3.5, NULL);
    sl_psf_init_sdss(&psfs[2], 1.2, 2.9, 0.8, 3.2, 0.1, 0.02, NULL);
    float img[13 * 13];
    for (int y = 0; y < 13; y++)
        for (int x = 0; x < 13; x++)
            img[y * 13 + x] = (float)exp(-((x - 6) * (x - 6) + (y - 6) * (y - 6)) / 5.0);
    sl_psf_init_pixel(&psfs[3], img, 13, 13, NULL);
    double worst = 0;
    for (int p = 0; p < 4; p++) {
        sl_stamper *st = sl_stamper_new(&psfs[p], 32, 32, NULL);
        double pos[2][2] = {{16.5, 16.5}, {16, 16}};
        for (int c = 0; c < 2; c++) {
            sl_stamp_src star = {.x = pos[c][0], .y = pos[c][1], .sb_floor = 1e-9};
            sl_stamp_src gal = star;
            gal.ncomp = 2;
            gal.comp[0] = (sl_stamp_comp){0.4, 1, 1e-4, 0.6, 0.3};
            gal.comp[1] = (sl_stamp_comp){0.6, 4, 1e-4, 0.9, 0.3};
            float a[32 * 32] = {0}, b[32 * 32] = {0};
            sl_stamp s;
            CHECK(sl_stamper_draw(st, &star, &s, NULL) == 0);
            sl_stamp_add(&s, 1, a, 32, 32);
            CHECK(sl_stamper_draw(st, &gal, &s, NULL) == 0);
            sl_stamp_add(&s, 1, b, 32, 32);
            double peak = 0, err = 0;
            for (int i = 0; i < 32 * 32; i++) {
                peak = fmax(peak, a[i]);
                err = fmax(err, fabs(a[i] - b[i]));
            }
            worst = fmax(worst, err / peak);
        }
        sl_stamper_free(st);
        sl_psf_free(&psfs[p]);
    }
    printf("  point galaxy against star: worst %.2g of the peak\n", worst);
    CHECK(worst < 1e-4);
}

/* A star through a parametric PSF sums to 1 and matches the PSF's own
 * pixel integration (psf.h) to 1e-4 of the peak. */
static void test_star_vs_psf(void)
{
    sl_psf psf;
    sl_psf_init_moffat(&psf, 3, 4.765, NULL);
    sl_stamper *st = sl_stamper_new(&psf, 40, 40, NULL);
    sl_stamp_src star = {.x = 20.3, .y = 19.8, .sb_floor = 1e-9};
    sl_stamp s;
    CHECK(sl_stamper_draw(st, &star, &s, NULL) == 0);
    float img[40 * 40] = {0}, ref[63 * 63];
    sl_stamp_add(&s, 1, img, 40, 40);
    sl_psf_render(&psf, 63, 20.3 - 20 - 0.5, 19.8 - 19 - 0.5, ref, NULL, NULL);
    double peak = 0, err = 0;
    for (int v = 0; v < 40; v++)
        for (int u = 0; u < 40; u++) {
            int ru = u - 20 + 31, rv = v - 19 + 31;
            double want = ru >= 0 && ru < 63 && rv >= 0 && rv < 63 ? ref[rv * 63 + ru] : 0;
            peak = fmax(peak, want);
            err = fmax(err, fabs(img[v * 40 + u] - want));
        }
    printf("  Moffat star against psf.h: %.2g of the peak\n", err / peak);
    CHECK(err / peak < 1e-4);
    sl_stamper_free(st);
}

int main(void)
{
    RUN(test_sersic_ft);
    RUN(test_gaussian_exact);
    RUN(test_point_is_star);
    RUN(test_star_vs_psf);
    return check_report("stamp");
}
