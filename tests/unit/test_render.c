/* The likelihood: expected images conserve flux and put light where the
 * catalog says; the noise is Poisson with the expected image as its mean. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "stats.h"
#include "config.h"
#include "prior.h"
#include "render.h"

/* A one-band scene of w x h pixels at 0.396"/pixel with a Gaussian PSF. */
static void make_scene(sl_scene *s, int w, int h, double fwhm_arcsec, double sky)
{
    memset(s, 0, sizeof *s);
    s->width = w;
    s->height = h;
    s->n_bands = 1;
    strcpy(s->bands[0], "r");
    s->pixel_scale = 0.396;
    s->sky[0] = sky;
    s->zero_point[0] = 30;
    s->gain[0] = 4.7;
    s->supersample = 3;
    CHECK(sl_psf_init_gaussian(&s->psf[0], fwhm_arcsec / 0.396, NULL) == 0);
}

static double sum_minus_sky(const float *img, size_t n, double sky)
{
    double t = 0;
    for (size_t i = 0; i < n; i++)
        t += img[i] - sky;
    return t;
}

static void test_flux_is_conserved(void)
{
    sl_scene s;
    make_scene(&s, 96, 96, 1.4, 100);
    sl_renderer *r = sl_renderer_new(&s, NULL);
    CHECK(r != NULL);
    sl_catalog cat;
    sl_catalog_init(&cat, 1);
    sl_source *star = sl_catalog_add(&cat);
    star->x = 30.3, star->y = 40.8, star->galaxy = 0, star->flux[0] = 5000;
    sl_source *g = sl_catalog_add(&cat);
    g->x = 60.5, g->y = 50.2, g->galaxy = 1, g->flux[0] = 20000;
    g->shape = (sl_shape){.disk_frac = 0.6, .angle = 0.7, .disk_q = 0.5, .bulge_q = 0.8,
                          .disk_a = 1.2, .bulge_a = 0.5};
    float *img = malloc(96 * 96 * sizeof *img);
    CHECK(sl_render_expected(r, &cat, img, NULL) == 0);
    /* n = 4 tails beyond the image hold about 0.3% of the bulge: 0.5% overall. */
    CHECK_REL(sum_minus_sky(img, 96 * 96, 100), 25000, 5e-3);
    /* The star alone: its centroid is its position. */
    cat.n = 1;
    CHECK(sl_render_expected(r, &cat, img, NULL) == 0);
    double mx = 0, my = 0, t = 0;
    for (int y = 0; y < 96; y++)
        for (int x = 0; x < 96; x++) {
            double v = img[y * 96 + x] - 100;
            t += v, mx += v * (x + 0.5), my += v * (y + 0.5);
        }
    CHECK_REL(t, 5000, 1e-3);
    CHECK_NEAR(mx / t, 30.3, 0.01);
    CHECK_NEAR(my / t, 40.8, 0.01);
    free(img);
    sl_catalog_free(&cat);
    sl_renderer_free(r);
    sl_scene_free(&s);
}

/* Over many draws each pixel's mean and variance equal its expectation. */
static void test_noise_is_poisson(void)
{
    sl_scene s;
    make_scene(&s, 32, 32, 1.4, 0);
    const int n = 32 * 32, draws = 400;
    float *expect = malloc(n * sizeof *expect), *img = malloc(n * sizeof *img);
    double *sum = calloc(n, sizeof *sum), *sum2 = calloc(n, sizeof *sum2);
    for (int i = 0; i < n; i++) /* means from 0.3 to about 3e4 */
        expect[i] = (float)(0.3 * pow(1e5, (double)i / n));
    for (int d = 0; d < draws; d++) {
        memcpy(img, expect, n * sizeof *img);
        sl_render_noise(&s, img, 11, (uint64_t)d);
        for (int i = 0; i < n; i++) {
            CHECK(img[i] == floorf(img[i]) && img[i] >= 0);
            sum[i] += img[i];
            sum2[i] += (double)img[i] * img[i];
        }
    }
    int bad_mean = 0, bad_var = 0;
    double z2 = 0;
    for (int i = 0; i < n; i++) {
        double mu = expect[i], m = sum[i] / draws, v = (sum2[i] - draws * m * m) / (draws - 1);
        double z = (m - mu) / sqrt(mu / draws);
        z2 += z * z;
        bad_mean += fabs(z) > 5;
        /* Var of the sample variance: (mu + 2 mu^2 ...) ~ (mu/n)(1 + 2 mu) for Poisson. */
        bad_var += fabs(v - mu) > 6 * sqrt((mu + 2 * mu * mu) / draws);
    }
    CHECK(bad_mean == 0);
    CHECK(bad_var == 0);
    /* The z-scores are standard normal: their mean square is 1 within 5 sigma. */
    CHECK_NEAR(z2 / n, 1.0, 5 * sqrt(2.0 / n));
    /* Same (seed, index): same draw; another index: another draw. */
    float *a = malloc(n * sizeof *a);
    memcpy(a, expect, n * sizeof *a);
    memcpy(img, expect, n * sizeof *img);
    sl_render_noise(&s, a, 11, 5);
    sl_render_noise(&s, img, 11, 5);
    CHECK(memcmp(a, img, n * sizeof *a) == 0);
    memcpy(img, expect, n * sizeof *img);
    sl_render_noise(&s, img, 11, 6);
    CHECK(memcmp(a, img, n * sizeof *a) != 0);
    free(a), free(expect), free(img), free(sum), free(sum2);
    sl_scene_free(&s);
}

/* The number of sources is Poisson(density x area): mean and variance. */
static void test_source_count_is_poisson(void)
{
    sl_config *cfg = sl_config_new();
    sl_err err;
    CHECK(sl_config_add_keys(cfg, sl_survey_keys, sl_n_survey_keys, &err) == 0);
    CHECK(sl_config_add_keys(cfg, sl_prior_keys, sl_n_prior_keys, &err) == 0);
    CHECK(sl_config_validate(cfg, &err) == 0);
    sl_prior p;
    CHECK(sl_prior_from_config(&p, cfg, &err) == 0);
    double mean = p.density * p.width * p.height * p.pixel_scale * p.pixel_scale / 3600;
    sl_catalog cat;
    sl_catalog_init(&cat, 1);
    const int draws = 4000;
    double s = 0, s2 = 0, stars = 0, total = 0, lenses = 0, galaxies = 0;
    for (int k = 0; k < draws; k++) {
        CHECK(sl_prior_sample(&p, 3, (uint64_t)k, &cat) == 0);
        s += cat.n, s2 += (double)cat.n * cat.n;
        for (int i = 0; i < cat.n; i++) {
            total++;
            stars += !cat.src[i].galaxy;
            galaxies += cat.src[i].galaxy;
            lenses += cat.src[i].lens;
        }
    }
    double m = s / draws, v = s2 / draws - m * m;
    CHECK_NEAR(m, mean, 5 * sqrt(mean / draws));
    CHECK_NEAR(v, mean, 6 * sqrt((mean + 2 * mean * mean) / draws));
    CHECK_NEAR(stars / total, 0.3, 5 * sqrt(0.21 / total));
    CHECK_NEAR(lenses / galaxies, 0.2, 5 * sqrt(0.16 / galaxies));
    sl_catalog_free(&cat);
    sl_config_free(cfg);
}

/* Truncated Pareto CDF; par = {min, max, alpha}. */
static double cdf_pareto(double x, const double *par)
{
    double lo = par[0], hi = par[1], a = par[2];
    return (1 - pow(lo / x, a)) / (1 - pow(lo / hi, a));
}

/* The fluxes in drawn catalogs follow their Pareto priors (KS), through the
 * catalog code: colours off in one band, float32 rounding included. */
static void test_fluxes_follow_the_prior(void)
{
    sl_config *cfg = sl_config_new();
    sl_err err;
    CHECK(sl_config_add_keys(cfg, sl_survey_keys, sl_n_survey_keys, &err) == 0);
    CHECK(sl_config_add_keys(cfg, sl_prior_keys, sl_n_prior_keys, &err) == 0);
    CHECK(sl_config_set(cfg, "lens_prob=0.5", &err) == 0);
    CHECK(sl_config_validate(cfg, &err) == 0);
    sl_prior p;
    CHECK(sl_prior_from_config(&p, cfg, &err) == 0);
    enum { MAX = 20000 };
    double *star = malloc(MAX * sizeof *star), *gal = malloc(MAX * sizeof *gal),
           *src = malloc(MAX * sizeof *src);
    size_t ns = 0, ng = 0, nl = 0;
    sl_catalog cat;
    sl_catalog_init(&cat, 1);
    for (uint64_t k = 0; ns < MAX || ng < MAX || nl < MAX; k++) {
        CHECK(sl_prior_sample(&p, 9, k, &cat) == 0);
        for (int i = 0; i < cat.n; i++) {
            const sl_source *s = &cat.src[i];
            if (!s->galaxy && ns < MAX)
                star[ns++] = s->flux[0];
            if (s->galaxy && ng < MAX)
                gal[ng++] = s->flux[0];
            if (s->lens && nl < MAX)
                src[nl++] = s->src_flux[0];
        }
    }
    const double ps[] = {1e3, 1e6, 0.5}, pg[] = {622, 1e6, 0.47}, pl[] = {622, 1e4, 0.47};
    CHECK(ks_pvalue(star, MAX, cdf_pareto, ps) > 1e-4);
    CHECK(ks_pvalue(gal, MAX, cdf_pareto, pg) > 1e-4);
    CHECK(ks_pvalue(src, MAX, cdf_pareto, pl) > 1e-4);
    /* And the test sees a wrong index. */
    const double wrong[] = {1e3, 1e6, 0.45};
    CHECK(ks_pvalue(star, MAX, cdf_pareto, wrong) < 1e-4);
    free(star), free(gal), free(src);
    sl_catalog_free(&cat);
    sl_config_free(cfg);
}

/* The lensed light of one lens system (no deflector light), expected,
 * minus the sky, at a supersampling. */
static void render_lensed(double theta_px, double dx, double dy, int ss, float *img)
{
    sl_scene s;
    make_scene(&s, 48, 48, 1.4, 0);
    s.supersample = ss;
    sl_renderer *r = sl_renderer_new(&s, NULL);
    sl_catalog cat;
    sl_catalog_init(&cat, 1);
    sl_source *g = sl_catalog_add(&cat);
    g->x = 24.3, g->y = 23.8, g->galaxy = 1, g->lens = 1, g->flux[0] = 0;
    g->shape = (sl_shape){.disk_frac = 0.5, .angle = 0.3, .disk_q = 0.7, .bulge_q = 0.8,
                          .disk_a = 1, .bulge_a = 0.5};
    g->theta_e = theta_px * 0.396, g->e1 = 0.1, g->e2 = -0.05;
    g->shear_g1 = g->shear_g2 = 0;
    g->src_dx = dx, g->src_dy = dy, g->src_flux[0] = 1e4;
    g->src_shape = (sl_shape){.disk_frac = 0.6, .angle = 1.1, .disk_q = 0.6, .bulge_q = 0.9,
                              .disk_a = 0.5, .bulge_a = 0.25};
    CHECK(sl_render_expected(r, &cat, img, NULL) == 0);
    sl_catalog_free(&cat);
    sl_renderer_free(r);
    sl_scene_free(&s);
}

/* Lensed light at the default supersampling (5) against a converged (15 x
 * 15 sub-cells per pixel, each refined up to 64 x 64) rendering: theta_E 0.5, 2 and 20 pixels, the source
 * on the lens axis (on the caustic's cusp) and off it. */
static void test_lensed_converges(void)
{
    double cases[][3] = {{0.5, 0, 0}, {0.5, 0.7, -0.4}, {2, 0, 0}, {2, 1.3, 0.6},
                         {20, 0, 0}, {20, 2.5, -1.5}};
    float *a = malloc(48 * 48 * sizeof *a), *b = malloc(48 * 48 * sizeof *b);
    double worst = 0;
    for (int c = 0; c < 6; c++) {
        render_lensed(cases[c][0], cases[c][1], cases[c][2], 5, a);
        render_lensed(cases[c][0], cases[c][1], cases[c][2], 15, b);
        double peak = 0, err = 0, ta = 0, tb = 0;
        for (int i = 0; i < 48 * 48; i++) {
            peak = fmax(peak, b[i]);
            err = fmax(err, fabs(a[i] - b[i]));
            ta += a[i];
            tb += b[i];
        }
        printf("  lensed theta_E %g px, source (%g, %g): %.2g of the peak, flux %.6g / %.6g\n",
               cases[c][0], cases[c][1], cases[c][2], err / peak, ta, tb);
        worst = fmax(worst, err / peak);
    }
    CHECK(worst < 1e-3);
    free(a);
    free(b);
}

int main(void)
{
    RUN(test_flux_is_conserved);
    RUN(test_lensed_converges);
    RUN(test_noise_is_poisson);
    RUN(test_source_count_is_poisson);
    RUN(test_fluxes_follow_the_prior);
    return check_report("test_render");
}
