/* PSF rendering and FFT convolution against closed forms, an SDSS field's
 * own PSF image, and a direct convolution. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "convolve.h"
#include "psf.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/data"
#endif
#define PSFIELD DATA_DIR "/psField-002583-2-0136.fit"
#define PSFIMAGE DATA_DIR "/sdss-002583-2-0136-psf-r.fits"
#define FWHM_PER_SIGMA 2.3548200450309493
#define SDSS_SCALE 0.396 /* arcsec per pixel */

typedef struct moments {
    double sum, cx, cy, vxx, vyy, vxy;
} moments;

/* Moments of a w x h image about its central pixel (w/2, h/2). */
static moments measure(const float *img, int w, int h)
{
    moments m = {0};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = img[y * w + x];
            m.sum += v;
            m.cx += v * (x - w / 2);
            m.cy += v * (y - h / 2);
        }
    m.cx /= m.sum;
    m.cy /= m.sum;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = img[y * w + x], dx = x - w / 2 - m.cx, dy = y - h / 2 - m.cy;
            m.vxx += v * dx * dx;
            m.vyy += v * dy * dy;
            m.vxy += v * dx * dy;
        }
    m.vxx /= m.sum;
    m.vyy /= m.sum;
    m.vxy /= m.sum;
    return m;
}

/* Integral of f(r) 2 pi r dr from 0 to R by Simpson's rule in u = log(1+r). */
static double radial_integral(const sl_psf *p, double R)
{
    int n = 20000;
    double U = log1p(R), h = U / n, s = 0;
    for (int i = 0; i <= n; i++) {
        double u = i * h, r = expm1(u);
        double f = sl_psf_profile(p, r) * 2 * M_PI * r * (1 + r);
        s += f * (i == 0 || i == n ? 1 : i % 2 ? 4 : 2);
    }
    return s * h / 3;
}

static double Phi(double x)
{
    return 0.5 * erfc(-x / M_SQRT2);
}

/* ---- PSF ---- */

static void test_gaussian(void)
{
    sl_err err = {""};
    const double sigmas[] = {1.0, 1.5, 3.0};
    const double offs[][2] = {{0, 0}, {0.3, -0.2}, {-0.5, 0.5}};
    for (int s = 0; s < 3; s++)
        for (int o = 0; o < 3; o++) {
            double sigma = sigmas[s], dx = offs[o][0], dy = offs[o][1], cap = 0;
            int n = 2 * (int)ceil(7 * sigma) + 1, c = n / 2;
            float *img = malloc(sizeof(float) * n * n);
            sl_psf p;
            CHECK(sl_psf_init_gaussian(&p, sigma * FWHM_PER_SIGMA, &err) == 0);
            CHECK(sl_psf_render(&p, n, dx, dy, img, &cap, &err) == 0);
            moments m = measure(img, n, n);
            CHECK_NEAR(m.sum, 1, 1e-6);
            /* The stamp holds the product of two 1-D Gaussian intervals. */
            double fx = Phi((c + 0.5 - dx) / sigma) - Phi((-c - 0.5 - dx) / sigma);
            double fy = Phi((c + 0.5 - dy) / sigma) - Phi((-c - 0.5 - dy) / sigma);
            CHECK_REL(cap, fx * fy, 1e-12);
            CHECK_NEAR(m.cx, dx, 1e-6);
            CHECK_NEAR(m.cy, dy, 1e-6);
            /* Pixel integration adds the box's variance 1/12 (Sheppard). */
            CHECK_REL(m.vxx, sigma * sigma + 1.0 / 12, 1e-5);
            CHECK_REL(m.vyy, sigma * sigma + 1.0 / 12, 1e-5);
            CHECK_NEAR(m.vxy, 0, 1e-6);
            free(img);
        }
    /* The measured FWHM of a pixel-integrated Gaussian (sigma 2): the
     * half-maximum contour of h(x) h(y), h(x) = Phi((x+1/2)/s) -
     * Phi((x-1/2)/s), encloses the area of a circle of diameter
     * 4.758949509 (scipy quadrature). */
    sl_psf p;
    float img[41 * 41];
    sl_psf_init_gaussian(&p, 2 * FWHM_PER_SIGMA, &err);
    CHECK(sl_psf_render(&p, 41, 0.3, -0.2, img, NULL, &err) == 0);
    CHECK_REL(sl_psf_image_fwhm(img, 41, 41), 4.758949509, 1e-3);
    CHECK_REL(sl_psf_enclosed(&p, 2 * 2.0), 1 - exp(-2), 1e-14);
    CHECK_REL(radial_integral(&p, 60), 1, 1e-9);
}

static void test_moffat(void)
{
    sl_err err = {""};
    sl_psf p;
    const double betas[] = {1.5, 2.5, 4.765};
    for (int b = 0; b < 3; b++) {
        CHECK(sl_psf_init_moffat(&p, 3.0, betas[b], &err) == 0);
        CHECK_REL(sl_psf_profile(&p, 1.5), sl_psf_profile(&p, 0) / 2, 1e-13);
        CHECK_REL(sl_psf_fwhm(&p), 3.0, 1e-15);
        double R = 40;
        CHECK_REL(radial_integral(&p, R), sl_psf_enclosed(&p, R), 1e-9);
        /* Total flux: 1 - (1 + R^2/alpha^2)^(1-beta) -> 1. */
        CHECK_REL(sl_psf_enclosed(&p, 1e15), 1, 1e-9);
    }
    /* beta = 4.765, FWHM 3: second moment alpha^2 / (2 (beta - 2)) per
     * axis, plus 1/12 from the pixels; the stamp holds the flux of a disc
     * of radius 50 and at most that of a disc of radius 50 sqrt 2. */
    float *img = malloc(sizeof(float) * 101 * 101);
    double cap = 0;
    CHECK(sl_psf_render(&p, 101, 0.3, -0.2, img, &cap, &err) == 0);
    moments m = measure(img, 101, 101);
    double var = p.alpha * p.alpha / (2 * (p.beta - 2)) + 1.0 / 12;
    CHECK_NEAR(m.sum, 1, 1e-6);
    CHECK_NEAR(m.cx, 0.3, 1e-6);
    CHECK_NEAR(m.cy, -0.2, 1e-6);
    CHECK_REL(m.vxx, var, 1e-5);
    CHECK_REL(m.vyy, var, 1e-5);
    CHECK(cap >= sl_psf_enclosed(&p, 50) && cap <= sl_psf_enclosed(&p, 50 * M_SQRT2));
    free(img);

    /* A sharp core (FWHM 1 px, beta 2.5): pixel integrals against scipy's
     * dblquad of the normalized profile. */
    const double want[][3] = {{0, 0, 0.3965173524}, {1, 0, 0.0923995405},
                              {2, 0, 0.0077589823}, {3, 0, 0.0012118742},
                              {1, 1, 0.0324231986}, {2, 1, 0.0047736578}};
    float small[15 * 15];
    CHECK(sl_psf_init_moffat(&p, 1.0, 2.5, &err) == 0);
    CHECK(sl_psf_render(&p, 15, 0, 0, small, &cap, &err) == 0);
    for (int i = 0; i < 6; i++) {
        int x = 7 + (int)want[i][0], y = 7 + (int)want[i][1];
        CHECK_REL(small[y * 15 + x] * cap, want[i][2], 2e-7);
    }
    CHECK(sl_psf_init_moffat(&p, 3.0, 1.0, &err) == -1 && strstr(err.msg, "beta"));
}

/* L2 distance between p rendered on 25 x 25 pixels and ref. */
static double l2_against(const sl_psf *p, const float *ref)
{
    float img[25 * 25];
    sl_err err;
    if (sl_psf_render(p, 25, 0, 0, img, NULL, &err))
        return INFINITY;
    double s = 0;
    for (int i = 0; i < 25 * 25; i++)
        s += (img[i] - ref[i]) * (img[i] - ref[i]);
    return sqrt(s);
}

static void test_sdss(void)
{
    sl_err err = {""};
    sl_psf p, im;
    if (sl_psf_read_psfield(&p, PSFIELD, 'r', &err)) {
        fprintf(stderr, "  %s (run from the top of the tree)\n", err.msg);
        CHECK(0);
        return;
    }
    /* The r-band values in HDU 6 (float32). */
    CHECK_REL(p.sigma1, 0.88021415, 1e-7);
    CHECK_REL(p.sigma2, 2.3084083, 1e-7);
    CHECK_REL(p.sigmap, 5.0, 1e-7);
    CHECK_REL(p.beta, 3.0, 1e-7);
    CHECK_REL(p.b, 0.05884838, 1e-6);
    CHECK_REL(p.p0, 1e-7, 1e-6);
    CHECK_REL(radial_integral(&p, 1e4), sl_psf_enclosed(&p, 1e4), 1e-8);
    CHECK_NEAR(sl_psf_enclosed(&p, 1e12), 1, 1e-9);

    CHECK(sl_psf_read_image(&im, PSFIMAGE, -1, &err) == 0);
    float ref[25 * 25], model[25 * 25];
    CHECK(sl_psf_render(&im, 25, 0, 0, ref, NULL, &err) == 0);
    CHECK(sl_psf_render(&p, 25, 0, 0, model, NULL, &err) == 0);
    double fwhm = sl_psf_fwhm(&p), fwhm_model = sl_psf_image_fwhm(model, 25, 25);
    double fwhm_image = sl_psf_fwhm(&im);
    moments mm = measure(model, 25, 25), mi = measure(ref, 25, 25);
    float peak_m = 0, peak_i = 0;
    for (int i = 0; i < 25 * 25; i++) {
        peak_m = fmaxf(peak_m, model[i]);
        peak_i = fmaxf(peak_i, ref[i]);
    }
    fprintf(stderr, "  psField r: FWHM %.3f px = %.3f\" (profile), %.3f px = %.3f\" "
            "(pixel-integrated 25x25 render); PSF image: %.3f px = %.3f\"; "
            "peak %.4f vs %.4f\n", fwhm, fwhm * SDSS_SCALE, fwhm_model,
            fwhm_model * SDSS_SCALE, fwhm_image, fwhm_image * SDSS_SCALE, peak_m, peak_i);
    /* This field had good seeing: r-band FWHM near 0.85", not 1.2-1.6". */
    CHECK(fwhm * SDSS_SCALE > 0.75 && fwhm * SDSS_SCALE < 1.0);
    CHECK_REL(fwhm_model, fwhm_image, 0.05);
    CHECK_REL(peak_m, peak_i, 0.02);
    CHECK_REL(mm.vxx + mm.vyy, mi.vxx + mi.vyy, 0.25); /* the image has noisy wings */
    /* psf_sigma* are sigmas in pixels: read as variances, the model fits the
     * field's PSF image twice as badly. */
    sl_psf alt;
    CHECK(sl_psf_init_sdss(&alt, sqrt(p.sigma1), sqrt(p.sigma2), sqrt(p.sigmap), p.beta,
                           p.b, p.p0, &err) == 0);
    double good = l2_against(&p, ref), bad = l2_against(&alt, ref);
    CHECK(good < 0.6 * bad);

    /* A band with a real wing: centred where asked, flux captured reported. */
    CHECK(sl_psf_read_psfield(&p, PSFIELD, 'u', &err) == 0);
    int n = sl_psf_auto_size(&p, 0.999, 255);
    CHECK(n % 2 == 1 && sl_psf_enclosed(&p, n / 2) >= 0.999 &&
          sl_psf_enclosed(&p, n / 2 - 1) < 0.999);
    float *img = malloc(sizeof(float) * n * n);
    double cap;
    CHECK(sl_psf_render(&p, n, 0.3, -0.2, img, &cap, &err) == 0);
    moments m = measure(img, n, n);
    CHECK_NEAR(m.cx, 0.3, 1e-3);
    CHECK_NEAR(m.cy, -0.2, 1e-3);
    CHECK(cap >= 0.999 && cap <= 1);
    free(img);

    CHECK(sl_psf_read_psfield(&p, PSFIELD, 'x', &err) == -1 && strstr(err.msg, "ugriz"));
    CHECK(sl_psf_read_psfield(&p, PSFIMAGE, 'r', &err) == -1 &&
          strstr(err.msg, "psf-r.fits: HDU 6: no such HDU"));
    CHECK(sl_psf_init_sdss(&p, 1, -2, 1, 3, 0.1, 0.01, &err) == -1 &&
          strstr(err.msg, "sigma2"));
    sl_psf_free(&im);
}

static void test_pixel_psf(void)
{
    sl_err err = {""};
    sl_psf p;
    CHECK(sl_psf_read_image(&p, PSFIMAGE, 0, &err) == 0);
    CHECK(p.pw == 25 && p.ph == 25);
    /* A zero shift copies the (normalized) image. */
    float same[25 * 25];
    double cap = 0;
    CHECK(sl_psf_render(&p, 25, 0, 0, same, &cap, &err) == 0);
    CHECK(memcmp(same, p.pix, sizeof same) == 0);
    CHECK_NEAR(cap, 1, 1e-6);
    /* A shifted copy in a stamp large enough to hold it all moves the
     * centroid by the shift and keeps the second moments. */
    moments m0 = measure(p.pix, 25, 25);
    float big[41 * 41];
    CHECK(sl_psf_render(&p, 41, 0.3, -0.2, big, &cap, &err) == 0);
    moments m = measure(big, 41, 41);
    CHECK_NEAR(m.sum, 1, 1e-6);
    CHECK_NEAR(cap, 1, 1e-6);
    CHECK_NEAR(m.cx - m0.cx, 0.3, 1e-5);
    CHECK_NEAR(m.cy - m0.cy, -0.2, 1e-5);
    CHECK_REL(m.vxx, m0.vxx, 1e-5);
    CHECK_REL(m.vyy, m0.vyy, 1e-5);
    CHECK(sl_psf_auto_size(&p, 0.999, 255) == 25 && sl_psf_auto_size(&p, 0.999, 20) == 19);
    sl_psf_free(&p);

    /* Interpolation: a pixel-integrated Gaussian (FWHM 2.8 px) shifted
     * as a pixel PSF matches the Gaussian rendered at the offset. */
    sl_psf g;
    float gimg[25 * 25], direct_img[41 * 41];
    sl_psf_init_gaussian(&g, 2.8, &err);
    sl_psf_render(&g, 25, 0, 0, gimg, NULL, &err);
    CHECK(sl_psf_init_pixel(&p, gimg, 25, 25, &err) == 0);
    double worst = 0;
    for (double d = 0.1; d < 0.55; d += 0.1) {
        sl_psf_render(&p, 41, d, -0.6 * d, big, NULL, &err);
        sl_psf_render(&g, 41, d, -0.6 * d, direct_img, NULL, &err);
        for (int i = 0; i < 41 * 41; i++)
            worst = fmax(worst, fabs(big[i] - direct_img[i]));
    }
    CHECK(worst < 0.003 * gimg[12 * 25 + 12]);
    sl_psf_free(&p);

    float bad[9] = {0, 0, 0, 0, NAN, 0, 0, 0, 0};
    CHECK(sl_psf_init_pixel(&p, bad, 3, 3, &err) == -1 && strstr(err.msg, "(1, 1)"));
    bad[4] = 0;
    CHECK(sl_psf_init_pixel(&p, bad, 3, 3, &err) == -1 && strstr(err.msg, "sum"));
}

static void test_render_arguments(void)
{
    sl_err err = {""};
    sl_psf p;
    float img[25];
    sl_psf_init_gaussian(&p, 2, &err);
    CHECK(sl_psf_render(&p, 4, 0, 0, img, NULL, &err) == -1 && strstr(err.msg, "size 4"));
    CHECK(sl_psf_render(&p, 5, NAN, 0, img, NULL, &err) == -1);
    CHECK(sl_psf_init_gaussian(&p, 0, &err) == -1 && strstr(err.msg, "fwhm"));
    /* Auto size: 99.9% of a Gaussian (sigma 2) lies within 7.43 px. */
    sl_psf_init_gaussian(&p, 2 * FWHM_PER_SIGMA, &err);
    CHECK(sl_psf_auto_size(&p, 0.999, 255) == 17);
    CHECK(sl_psf_auto_size(&p, 0.999, 12) == 11);
    CHECK(sl_psf_render(&p, 1, 0, 0, img, NULL, &err) == 0 && img[0] == 1.0f);
}

/* ---- convolution ---- */

static uint64_t rng_state = 88172645463325252ULL;
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (rng_state >> 11) * (1.0 / 9007199254740992.0);
}

/* The definition, in double precision. */
static void direct(const float *in, int w, int h, const float *k, int ks, double *out)
{
    int c = ks / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int v = 0; v < ks; v++)
                for (int u = 0; u < ks; u++) {
                    int sx = x - (u - c), sy = y - (v - c);
                    if (sx >= 0 && sx < w && sy >= 0 && sy < h)
                        s += (double)k[v * ks + u] * in[sy * w + sx];
                }
            out[y * w + x] = s;
        }
}

static void test_conv_delta(void)
{
    sl_err err = {""};
    enum { W = 37, H = 29, K = 9 };
    float kern[K * K], img[W * H];
    for (int i = 0; i < K * K; i++)
        kern[i] = (float)uniform();
    sl_conv *c = sl_conv_new(W, H, kern, K, &err);
    CHECK(c != NULL);
    if (!c)
        return;
    /* One delta inside, one at a corner (the kernel is cut there). */
    const int at[2][2] = {{10, 7}, {0, H - 1}};
    for (int t = 0; t < 2; t++) {
        memset(img, 0, sizeof img);
        img[at[t][1] * W + at[t][0]] = 1;
        sl_conv_apply(c, img);
        double worst = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int u = x - at[t][0] + K / 2, v = y - at[t][1] + K / 2;
                double want = u >= 0 && u < K && v >= 0 && v < K ? kern[v * K + u] : 0;
                worst = fmax(worst, fabs(img[y * W + x] - want));
            }
        CHECK_NEAR(worst, 0, 1e-6);
    }
    sl_conv_free(c);
}

/* Pixel-integrated Gaussian, sum 1, centred on the middle of an n x n grid. */
static void gaussian_image(float *img, int n, double sigma)
{
    sl_psf p;
    sl_err err;
    CHECK(sl_psf_init_gaussian(&p, sigma * FWHM_PER_SIGMA, &err) == 0);
    if (sl_psf_render(&p, n, 0, 0, img, NULL, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        CHECK(0);
    }
}

static void test_conv_gaussians(void)
{
    sl_err err = {""};
    enum { N = 101, K = 25 };
    double sa = 2.0, sb = 1.5;
    float *img = malloc(sizeof(float) * N * N), kern[K * K];
    gaussian_image(img, N, sa);
    gaussian_image(kern, K, sb);
    sl_conv *c = sl_conv_new(N, N, kern, K, &err);
    CHECK(c != NULL);
    if (!c) {
        free(img);
        return;
    }
    sl_conv_apply(c, img);
    moments m = measure(img, N, N);
    /* Variances of independent pixelized Gaussians add: each brings s^2 + 1/12. */
    double var = sa * sa + sb * sb + 2.0 / 12;
    CHECK_NEAR(m.sum, 1, 1e-5);
    CHECK_NEAR(m.cx, 0, 1e-5);
    CHECK_NEAR(m.cy, 0, 1e-5);
    CHECK_REL(m.vxx, var, 1e-5);
    CHECK_REL(m.vyy, var, 1e-5);
    /* Peak: a Gaussian of sigma^2 = sa^2 + sb^2 seen through two pixel boxes,
     * i.e. a triangle of half-width 1 per axis:
     * int (1-|t|) phi_s(t) dt = 2 (Phi(1/s) - 1/2) - 2 s (1 - e^(-1/(2 s^2))) / sqrt(2 pi). */
    double s = sqrt(sa * sa + sb * sb);
    double tri = 2 * (Phi(1 / s) - 0.5) - 2 * s * (1 - exp(-1 / (2 * s * s))) / sqrt(2 * M_PI);
    CHECK_REL(img[(N / 2) * N + N / 2], tri * tri, 1e-5);
    sl_conv_free(c);
    free(img);
}

static void test_conv_flux(void)
{
    sl_err err = {""};
    enum { W = 80, H = 64, K = 15 };
    float img[W * H] = {0}, kern[K * K];
    double kin = 0, fin = 0, fout = 0;
    for (int i = 0; i < K * K; i++)
        kin += kern[i] = (float)uniform();
    /* A random blob well inside: nothing can spill over the edges. */
    for (int y = 20; y < 40; y++)
        for (int x = 25; x < 50; x++)
            fin += img[y * W + x] = (float)(100 * uniform());
    sl_conv *c = sl_conv_new(W, H, kern, K, &err);
    sl_conv_apply(c, img);
    for (int i = 0; i < W * H; i++)
        fout += img[i];
    CHECK_REL(fout, fin * kin, 1e-5);
    sl_conv_free(c);
}

static void test_conv_direct(void)
{
    sl_err err = {""};
    const int cases[][3] = {{61, 47, 15}, {100, 100, 25}, {88, 88, 25}, {17, 90, 7},
                            {5, 3, 25}, {1, 1, 1}, {1, 30, 5}, {2, 2, 3}};
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        int w = cases[t][0], h = cases[t][1], k = cases[t][2];
        float *in = malloc(sizeof(float) * w * h), *out = malloc(sizeof(float) * w * h);
        float *kern = malloc(sizeof(float) * k * k);
        double *want = malloc(sizeof(double) * w * h);
        for (int i = 0; i < w * h; i++)
            in[i] = (float)(uniform() * 1000);
        for (int i = 0; i < k * k; i++)
            kern[i] = (float)(uniform() - 0.2);
        direct(in, w, h, kern, k, want);
        sl_conv *c = sl_conv_new(w, h, kern, k, &err);
        CHECK(c != NULL);
        if (c) {
            sl_conv_apply_to(c, in, out);
            double worst = 0, scale = 0;
            for (int i = 0; i < w * h; i++) {
                worst = fmax(worst, fabs(out[i] - want[i]));
                scale = fmax(scale, fabs(want[i]));
            }
            if (!(worst <= 1e-5 * scale))
                fprintf(stderr, "  %d x %d, kernel %d: error %g of %g\n", w, h, k, worst,
                        scale);
            CHECK(worst <= 1e-5 * scale);
            /* In place gives the same bits. */
            sl_conv_apply(c, in);
            CHECK(memcmp(in, out, sizeof(float) * w * h) == 0);
            sl_conv_free(c);
        }
        free(in);
        free(out);
        free(kern);
        free(want);
    }
    float k3[3] = {1, 1, 1};
    CHECK(sl_conv_new(10, 10, k3, 2, &err) == NULL && strstr(err.msg, "kernel size 2"));
    k3[0] = NAN;
    CHECK(sl_conv_new(10, 10, k3, 1, &err) == NULL && strstr(err.msg, "(0, 0) is nan"));
    float k9[9] = {0, 0, 0, 0, NAN, 0, 0, 0, 0};
    CHECK(sl_conv_new(10, 10, k9, 3, &err) == NULL && strstr(err.msg, "(1, 1)"));
    CHECK(sl_conv_new(0, 10, k9, 3, &err) == NULL && strstr(err.msg, "0 x 10"));
}

static void test_conv_set_kernel(void)
{
    sl_err err = {""};
    enum { W = 40, H = 30, K = 7 };
    float k1[K * K], k2[K * K], a[W * H], b[W * H], in[W * H];
    for (int i = 0; i < K * K; i++) {
        k1[i] = (float)uniform();
        k2[i] = (float)uniform();
    }
    for (int i = 0; i < W * H; i++)
        in[i] = (float)uniform();
    sl_conv *c1 = sl_conv_new(W, H, k1, K, &err), *c2 = sl_conv_new(W, H, k2, K, &err);
    sl_conv_apply_to(c2, in, a);
    CHECK(sl_conv_set_kernel(c1, k2, &err) == 0);
    sl_conv_apply_to(c1, in, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    int fw, fh;
    sl_conv_fft_size(c1, &fw, &fh);
    /* 40 + 3 -> 48 (44 and 46 have factors 11 and 23); 30 + 3 -> 36. */
    CHECK(fw == 48 && fh == 36);
    sl_conv_free(c1);
    sl_conv_free(c2);
}

/* Threads each make, use and free their own convolvers of several sizes
 * while the others do the same; results must be the single-thread bits. */
enum { NTHREADS = 4, TW = 50, TH = 40, TK = 11 };
static float thread_in[TW * TH], thread_kern[TK * TK], thread_want[TW * TH];

static void *thread_work(void *arg)
{
    int *ok = arg;
    float out[TW * TH];
    sl_err err;
    for (int rep = 0; rep < 20; rep++) {
        /* An odd size in between forces new plans. */
        sl_conv *other = sl_conv_new(TW + rep, TH + 1, thread_kern, TK, &err);
        sl_conv *c = sl_conv_new(TW, TH, thread_kern, TK, &err);
        if (!c || !other) {
            *ok = 0;
        } else {
            sl_conv_apply_to(c, thread_in, out);
            *ok &= memcmp(out, thread_want, sizeof out) == 0;
        }
        sl_conv_free(c);
        sl_conv_free(other);
    }
    return NULL;
}

static void test_conv_threads(void)
{
    sl_err err = {""};
    for (int i = 0; i < TW * TH; i++)
        thread_in[i] = (float)uniform();
    for (int i = 0; i < TK * TK; i++)
        thread_kern[i] = (float)uniform();
    sl_conv *c = sl_conv_new(TW, TH, thread_kern, TK, &err);
    sl_conv_apply_to(c, thread_in, thread_want);
    sl_conv_free(c);
    pthread_t th[NTHREADS];
    int ok[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        ok[t] = 1;
        CHECK(pthread_create(&th[t], NULL, thread_work, &ok[t]) == 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK(ok[t]);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void test_conv_speed(void)
{
    sl_err err = {""};
    enum { N = 100, K = 25 };
    float *img = malloc(sizeof(float) * N * N), kern[K * K];
    gaussian_image(kern, K, 1.0);
    for (int i = 0; i < N * N; i++)
        img[i] = (float)uniform();
    double t0 = now();
    sl_conv *c = sl_conv_new(N, N, kern, K, &err);
    double plan = now() - t0, best = INFINITY;
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "  %s\n", err.msg);
        free(img);
        return;
    }
    for (int round = 0; round < 20; round++) { /* the best round: others share the CPU */
        int reps = 50;
        t0 = now();
        for (int r = 0; r < reps; r++)
            sl_conv_apply(c, img);
        best = fmin(best, (now() - t0) / reps);
    }
    int fw, fh;
    sl_conv_fft_size(c, &fw, &fh);
    fprintf(stderr, "  convolution 100x100 * 25x25 (FFT %dx%d): %.1f us each, "
            "setup %.2f ms\n", fw, fh, best * 1e6, plan * 1e3);
    CHECK(best < 5e-3); /* generous: sanitizer builds and busy machines */
    sl_conv_free(c);
    free(img);
}

int main(void)
{
    RUN(test_gaussian);
    RUN(test_moffat);
    RUN(test_sdss);
    RUN(test_pixel_psf);
    RUN(test_render_arguments);
    RUN(test_conv_delta);
    RUN(test_conv_gaussians);
    RUN(test_conv_flux);
    RUN(test_conv_direct);
    RUN(test_conv_set_kernel);
    RUN(test_conv_threads);
    RUN(test_conv_speed);
    return check_report("test_psf");
}
