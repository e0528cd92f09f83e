/* SIE + shear deflection, lensed light and cosmological distances against closed
 * forms, independent integrals and identities. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lens.h"

static void test_sis(void)
{
    sl_lens l = {0, 0, 1, 0, 0, 0, 0};
    double ax, ay;
    sl_lens_deflect(&l, 1, 2, &ax, &ay);
    CHECK_NEAR(ax, 0.4472135955, 1e-10);
    CHECK_NEAR(ay, 0.8944271910, 1e-10);
    CHECK_NEAR(sl_lens_kappa(&l, 3, 4), 0.1, 1e-15);
    sl_lens_deflect(&l, 0, 0, &ax, &ay);
    CHECK(ax == 0 && ay == 0);
}

/* Reference deflections from the convergence alone: Keeton (2001) writes the
 * deflection of any kappa(x'^2 + y'^2/q^2) as alpha_x' = q x' J0, alpha_y' = q y' J1,
 * J_n = int_0^1 kappa(xi(u)^2) / (1 - (1-q^2) u)^(n+1/2) du,
 * xi(u)^2 = u (x'^2 + y'^2 / (1 - (1-q^2) u)).  With kappa = theta_E / (2 sqrt(q) xi),
 * these were integrated with scipy.integrate.quad (epsrel 1e-13) and the shear added.
 * lenstronomy's SIE + SHEAR (with ra_0, dec_0 at the lens centre; its SIE has a core
 * of 1e-10) gives the same values to 2e-9. */
static void test_sie_reference(void)
{
    const sl_lens lenses[3] = {
        {0, 0, 1.7, 0.2, -0.1, 0, 0},
        {10.5, 20.25, 12.0, -0.35, 0.25, 0.05, -0.03},
        {50.2, 49.7, 8.0, 0.675274593867, 0.461980205402, 0, 0}, /* q = 0.1 */
    };
    const struct {
        int lens;
        double x, y, ax, ay;
    } ref[] = {
        {0, 1.3, -0.7, 1.312071602675, -0.868922186493},
        {0, 0.2, 2.5, 0.210005230357, 1.784047432021},
        {0, -3, -0.4, -1.545607919876, -0.393912329563},
        {1, 11.0, 20.0, 11.948208024973, -5.041509431111},
        {1, 22.5, 27.0, 11.936039052362, 1.997790036318},
        {1, 3.0, 12.0, -9.293162615192, -4.988297097152},
        {1, 10.5, 35.0, -2.914096884323, 9.266785374844},
        {2, 51.0, 50.0, 3.116168011996, 2.442166404825},
        {2, 60.0, 45.0, 3.948432234823, -5.724551534483},
        {2, 47.0, 58.0, -2.411615841546, 7.214147166773},
    };
    int n = sizeof ref / sizeof ref[0];
    double x[10], y[10], axn[10], ayn[10];
    for (int i = 0; i < n; i++) {
        double ax, ay;
        CHECK(sl_lens_check(&lenses[ref[i].lens], NULL) == 0);
        sl_lens_deflect(&lenses[ref[i].lens], ref[i].x, ref[i].y, &ax, &ay);
        CHECK_NEAR(ax, ref[i].ax, 1e-9);
        CHECK_NEAR(ay, ref[i].ay, 1e-9);
        x[i] = ref[i].x, y[i] = ref[i].y;
    }
    sl_lens_deflect_n(&lenses[1], 4, x + 3, y + 3, axn, ayn);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(axn[i], ref[3 + i].ax, 1e-9);
        CHECK_NEAR(ayn[i], ref[3 + i].ay, 1e-9);
    }
}

/* kappa = theta_E / (2 sqrt(q x'^2 + y'^2 / q)), q and phi from (e1, e2). */
static void test_kappa(void)
{
    double q = 0.5, phi = 0.4, e = (1 - q) / (1 + q);
    sl_lens l = {3, -2, 2.5, e * cos(2 * phi), e * sin(2 * phi), 0.1, 0.2};
    double dx = 1.7, dy = 0.6, xr = cos(phi) * dx + sin(phi) * dy, yr = -sin(phi) * dx + cos(phi) * dy;
    CHECK_REL(sl_lens_kappa(&l, 3 + dx, -2 + dy), 2.5 / (2 * sqrt(q * xr * xr + yr * yr / q)), 1e-14);
}

/* div alpha = 2 kappa and curl alpha = 0 (alpha is a gradient), by central differences. */
static void test_divergence(void)
{
    const sl_lens lenses[3] = {
        {0, 0, 1.7, 0.2, -0.1, 0.05, 0.02},
        {10, 20, 12, -0.6, 0.3, 0, 0},
        {0, 0, 3, 1e-7, 0, 0, 0},
    };
    const double pts[4][2] = {{1.3, -0.7}, {0.4, 2.2}, {-3, -0.5}, {2, 0.01}};
    double h = 1e-4;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4; i++) {
            double x = lenses[k].x + pts[i][0], y = lenses[k].y + pts[i][1];
            double axp, ayp, axm, aym, bxp, byp, bxm, bym;
            sl_lens_deflect(&lenses[k], x + h, y, &axp, &ayp);
            sl_lens_deflect(&lenses[k], x - h, y, &axm, &aym);
            sl_lens_deflect(&lenses[k], x, y + h, &bxp, &byp);
            sl_lens_deflect(&lenses[k], x, y - h, &bxm, &bym);
            double div = (axp - axm + byp - bym) / (2 * h), curl = (ayp - aym - bxp + bxm) / (2 * h);
            double kappa = sl_lens_kappa(&lenses[k], x, y);
            CHECK_NEAR(div, 2 * kappa, 1e-6 * (1 + kappa));
            CHECK_NEAR(curl, 0, 1e-6 * (1 + kappa));
        }
}

/* As q -> 1 the SIE joins the SIS smoothly, across the switch to the series. */
static void test_round_limit(void)
{
    sl_lens sis = {1, 2, 5, 0, 0, 0, 0};
    double sx, sy;
    sl_lens_deflect(&sis, 4, 6, &sx, &sy);
    CHECK_NEAR(sx, 3, 1e-14);
    CHECK_NEAR(sy, 4, 1e-14);
    const double es[] = {1e-14, 1e-10, 1e-7, 2.4e-7, 2.6e-7, 1e-6, 1e-4};
    for (int i = 0; i < 7; i++) {
        sl_lens l = sis;
        l.e1 = es[i] * 0.6, l.e2 = es[i] * 0.8;
        double ax, ay;
        sl_lens_deflect(&l, 4, 6, &ax, &ay);
        /* the change is first order in e: a few theta_E e */
        CHECK(fabs(ax - sx) < 5 * 5 * es[i] + 1e-14 && fabs(ay - sy) < 5 * 5 * es[i] + 1e-14);
    }
    /* eps = 2 sqrt(e)/(1+e) crosses the series switch (1e-3) at e = 2.5e-7: the two sides
     * continue one another to O(e) */
    sl_lens a = sis, b = sis;
    a.e1 = 2.5e-7 * (1 - 1e-9), b.e1 = 2.5e-7 * (1 + 1e-9);
    double ax, ay, bx, by;
    sl_lens_deflect(&a, 4, 6, &ax, &ay);
    sl_lens_deflect(&b, 4, 6, &bx, &by);
    CHECK_NEAR(ax, bx, 1e-13);
    CHECK_NEAR(ay, by, 1e-13);
}

/* Rotating the lens (phi -> phi + w, so (e1, e2) and (g1, g2) turn by 2w) and the point
 * by w about the lens centre turns alpha by w. */
static void test_rotation(void)
{
    sl_lens l = {5, -3, 4, 0.3, -0.15, 0.04, -0.07};
    double dx = 2.2, dy = -1.1, ax, ay;
    sl_lens_deflect(&l, 5 + dx, -3 + dy, &ax, &ay);
    for (double w = 0.3; w < 6.3; w += 1.1) {
        double c = cos(w), s = sin(w), c2 = cos(2 * w), s2 = sin(2 * w);
        sl_lens r = {5, -3, 4, c2 * l.e1 - s2 * l.e2, s2 * l.e1 + c2 * l.e2,
                     c2 * l.g1 - s2 * l.g2, s2 * l.g1 + c2 * l.g2};
        double rx, ry;
        sl_lens_deflect(&r, 5 + c * dx - s * dy, -3 + s * dx + c * dy, &rx, &ry);
        CHECK_NEAR(rx, c * ax - s * ay, 1e-12);
        CHECK_NEAR(ry, s * ax + c * ay, 1e-12);
    }
}

/* The tabulated ray tracer against theta - alpha(theta) in closed form, for round to
 * very flat lenses, at random points near and far. */
static void test_trace(void)
{
    const double qs[] = {1, 0.9, 0.5, 0.1, 0.02};
    enum { N = 2000 };
    static double x[N], y[N], bx[N], by[N];
    unsigned long long r = 12345;
    for (int k = 0; k < 5; k++) {
        double e = (1 - qs[k]) / (1 + qs[k]), te = 7.5;
        sl_lens l = {20.5, 30.25, te, e * cos(0.8), e * sin(0.8), 0.03, -0.02};
        for (int i = 0; i < N; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            double ang = (r >> 11) * 0x1.0p-53 * 2 * M_PI, rad = 0.01 + 40.0 * (i % 97) / 97;
            x[i] = l.x + rad * cos(ang), y[i] = l.y + rad * sin(ang);
        }
        CHECK(sl_lens_trace(&l, N, x, y, bx, by, NULL) == 0);
        double worst = 0;
        for (int i = 0; i < N; i++) {
            double ax, ay;
            sl_lens_deflect(&l, x[i], y[i], &ax, &ay);
            worst = fmax(worst, hypot(bx[i] - (x[i] - ax), by[i] - (y[i] - ay)));
        }
        CHECK(worst < 2e-5 * te);
    }
}

static float *image(int w, int h)
{
    float *img = calloc((size_t)w * h, sizeof *img);
    if (!img) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return img;
}

static double image_sum(const float *img, int n)
{
    double s = 0;
    for (int k = 0; k < n; k++)
        s += img[k];
    return s;
}

/* An aligned compact source behind an SIS makes a ring of radius theta_E. */
static void test_ring(void)
{
    int w = 100;
    float *img = image(w, w);
    sl_lens l = {50.3, 49.8, 15, 0, 0, 0, 0};
    sl_galaxy src = {50.3, 49.8, 1000, 1, 0, 1, 1, 0.5, 0.5};
    CHECK(sl_lens_render(&l, &src, 3, img, w, w, NULL) == 0);
    double sw = 0, sr = 0;
    for (int j = 0; j < w; j++)
        for (int i = 0; i < w; i++) {
            double r = hypot(i + 0.5 - l.x, j + 0.5 - l.y);
            if (r > 10 && r < 20)
                sw += img[j * w + i], sr += img[j * w + i] * r;
        }
    CHECK_NEAR(sr / sw, 15, 0.1);
    free(img);
}

/* Flux-weighted position along row j of the peak between columns i0 and i1. */
static double peak_x(const float *img, int w, int j, int i0, int i1)
{
    int best = i0;
    for (int i = i0; i < i1; i++)
        if (img[j * w + i] > img[j * w + best])
            best = i;
    double s = 0, sx = 0;
    for (int i = best - 3; i <= best + 3; i++)
        s += img[j * w + i], sx += img[j * w + i] * (i + 0.5);
    return sx / s;
}

/* A compact source at beta from an SIS has images at theta_E + beta on its side and
 * theta_E - beta on the other, and total magnification 2 theta_E / beta. */
static void test_images_and_magnification(void)
{
    int w = 100;
    float *img = image(w, w);
    sl_lens l = {50, 50.5, 15, 0, 0, 0, 0};
    for (double beta = 4; beta <= 8; beta += 4) {
        memset(img, 0, (size_t)w * w * sizeof *img);
        sl_galaxy src = {50 + beta, 50.5, 1000, 1, 0, 1, 1, 0.3, 0.3};
        CHECK(sl_lens_render(&l, &src, 6, img, w, w, NULL) == 0);
        CHECK_NEAR(peak_x(img, w, 50, 52, 95), 50 + 15 + beta, 0.1);
        CHECK_NEAR(peak_x(img, w, 50, 5, 48), 50 - (15 - beta), 0.1);
        CHECK_REL(image_sum(img, w * w) / 1000, 2 * 15 / beta, 0.02);
    }
    free(img);
}

/* Along the axes of an SIE the ring of an aligned source lies where alpha = theta:
 * x' = (b/eps) atan(eps/q) on the major axis, y' = (b/eps) atanh(eps) on the minor. */
static void test_sie_ring_axes(void)
{
    int w = 100;
    float *img = image(w, w);
    double q = 0.6, phi = 0.5, e = (1 - q) / (1 + q), te = 15;
    sl_lens l = {50.2, 49.6, te, e * cos(2 * phi), e * sin(2 * phi), 0, 0};
    sl_galaxy src = {50.2, 49.6, 1000, 1, 0, 1, 1, 0.3, 0.3};
    CHECK(sl_lens_render(&l, &src, 4, img, w, w, NULL) == 0);
    double b = te * sqrt(q), eps = sqrt(1 - q * q);
    double want[2] = {b / eps * atan(eps / q), b / eps * atanh(eps)};
    for (int axis = 0; axis < 2; axis++) {
        double ang = phi + axis * M_PI / 2, best = 0, rbest = 0;
        for (double r = 5; r < 25; r += 0.05) {
            /* bilinear interpolation between pixel centres */
            double x = l.x + r * cos(ang) - 0.5, y = l.y + r * sin(ang) - 0.5;
            int i = (int)floor(x), j = (int)floor(y);
            double fx = x - i, fy = y - j;
            double v = (1 - fy) * ((1 - fx) * img[j * w + i] + fx * img[j * w + i + 1]) +
                       fy * ((1 - fx) * img[(j + 1) * w + i] + fx * img[(j + 1) * w + i + 1]);
            if (v > best)
                best = v, rbest = r;
        }
        CHECK_NEAR(rbest, want[axis], 0.5);
    }
    CHECK(want[1] - want[0] > 2); /* the check tells the axes apart */
    free(img);
}

/* With no lens the mapping is the identity: the ray-traced light matches the exact
 * pixel integration of galaxy.c, but for the n = 4 cusp, which the 5 x 5 rays of the
 * pixel holding it sample: that pixel is 2% low and the total 0.3%. */
static void test_identity(void)
{
    int w = 64;
    float *a = image(w, w), *b = image(w, w);
    sl_lens none = {30, 30, 0, 0, 0, 0, 0};
    sl_galaxy src = {31.3, 33.8, 5000, 0.7, 0.4, 0.6, 0.8, 4, 2};
    CHECK(sl_lens_render(&none, &src, 5, a, w, w, NULL) == 0);
    CHECK(sl_galaxy_render(&src, b, w, w, NULL) == 0);
    CHECK_REL(image_sum(a, w * w), image_sum(b, w * w), 5e-3);
    /* the pixels near the centre within 5% (ray sampling meets the cusp there), the
     * others within 1% */
    int far = 0;
    for (int j = 0; j < w; j++)
        for (int i = 0; i < w; i++) {
            double want = b[j * w + i], r = hypot(i + 0.5 - src.x, j + 0.5 - src.y);
            if (want < 1e-4 * src.flux)
                continue;
            CHECK_NEAR(a[j * w + i], want, (r > 3 ? 0.01 : 0.05) * want);
            far += r > 3;
        }
    CHECK(far > 20);
    free(a);
    free(b);
}

/* The mean surface brightness over pixel (i, j) from fine x fine rays traced in closed
 * form: brute force. */
static double brute_pixel(const sl_lens *l, const sl_galaxy_prep *g, int i, int j, int fine)
{
    double sum = 0;
    for (int k = 0; k < fine; k++)
        for (int m = 0; m < fine; m++) {
            double x = i + (m + 0.5) / fine, y = j + (k + 0.5) / fine, ax, ay;
            sl_lens_deflect(l, x, y, &ax, &ay);
            sum += sl_galaxy_sb(g, x - ax, y - ay);
        }
    return sum / (fine * fine);
}

/* Against brute force, for an elliptical lens with shear.  With an exponential source
 * 12 x 12 rays per pixel are converged, and the adaptive choice of one corrected ray
 * or 4 x 4 per pixel must cost little.  With a de Vaucouleurs bulge, rays converge
 * slowly where they land next to its cusp (4 x 4 rays put 348 for 266 in the
 * brightest pixel here): those pixels are checked against 256 x 256 rays. */
static void test_brute_force(void)
{
    int w = 48;
    float *img = image(w, w);
    double q = 0.7, e = (1 - q) / (1 + q);
    sl_lens l = {24.2, 23.7, 9, e * cos(1.0), e * sin(1.0), 0.04, 0.02};
    sl_galaxy disk = {25.9, 22.8, 1000, 1, 0.6, 0.6, 1, 3, 1};
    CHECK(sl_lens_render(&l, &disk, 4, img, w, w, NULL) == 0);
    sl_galaxy_prep g;
    CHECK(sl_galaxy_prepare(&g, &disk, NULL) == 0);
    int checked = 0;
    for (int j = 0; j < w; j++)
        for (int i = 0; i < w; i++) {
            if (hypot(i + 0.5 - l.x, j + 0.5 - l.y) < 2)
                continue; /* the lens centre, where neither has converged */
            double want = brute_pixel(&l, &g, i, j, 12);
            CHECK_NEAR(img[j * w + i], want, 0.01 * want + 1e-6 * disk.flux);
            checked++;
        }
    CHECK(checked > 2000);
    sl_galaxy both = {25.9, 22.8, 1000, 0.5, 0.6, 0.6, 0.7, 3, 1.5};
    memset(img, 0, (size_t)w * w * sizeof *img);
    CHECK(sl_lens_render(&l, &both, 4, img, w, w, NULL) == 0);
    CHECK(sl_galaxy_prepare(&g, &both, NULL) == 0);
    for (int n = 0; n < 5; n++) { /* the five brightest pixels */
        int best = 0;
        for (int k = 0; k < w * w; k++)
            best = img[k] > img[best] ? k : best;
        double want = brute_pixel(&l, &g, best % w, best / w, 256);
        CHECK_NEAR(img[best], want, 0.015 * want);
        img[best] = 0;
    }
    free(img);
}

static void test_errors(void)
{
    int w = 16;
    float *img = image(w, w);
    sl_err err;
    sl_galaxy src = {8, 8, 100, 0.5, 0, 0.5, 0.5, 1, 1};
    sl_lens l = {8, 8, 3, 0.8, 0.7, 0, 0};
    CHECK(sl_lens_check(&l, &err) == -1);
    CHECK(strstr(err.msg, "(0.8, 0.7)") != NULL);
    CHECK(sl_lens_render(&l, &src, 3, img, w, w, &err) == -1);
    l.e1 = 0, l.e2 = 0, l.theta_e = -1;
    CHECK(sl_lens_check(&l, &err) == -1);
    CHECK(strstr(err.msg, "-1") != NULL);
    l.theta_e = 3;
    CHECK(sl_lens_render(&l, &src, 0, img, w, w, &err) == -1);
    CHECK(strstr(err.msg, "supersampling factor 0") != NULL);
    src.disk_frac = 2;
    CHECK(sl_lens_render(&l, &src, 3, img, w, w, &err) == -1);
    CHECK(strstr(err.msg, "lensed source") != NULL);
    CHECK(image_sum(img, w * w) == 0);
    free(img);
}

/* Distances against astropy 5.2.1 FlatLambdaCDM(H0=70, Om0=0.3) (Tcmb0 = 0, no
 * radiation): comoving_distance, angular_diameter_distance(_z1z2). */
static void test_cosmology(void)
{
    sl_cosmo c = {70, 0.3};
    CHECK(sl_cosmo_check(&c, NULL) == 0);
    CHECK_REL(sl_cosmo_comoving(&c, 0.1), 418.4544876277, 1e-11);
    CHECK_REL(sl_cosmo_comoving(&c, 2), 5179.8620744094, 1e-11);
    CHECK_REL(sl_cosmo_da(&c, 0.5), 1259.0835972889, 1e-11);
    CHECK_REL(sl_cosmo_da(&c, 1), 1651.9144029437, 1e-11);
    CHECK_REL(sl_cosmo_da(&c, 6), 1178.1314326064, 1e-11);
    CHECK_REL(sl_cosmo_da12(&c, 0.5, 2), 1097.0788928253, 1e-11);
    CHECK(sl_cosmo_comoving(&c, 0) == 0);
    sl_cosmo planck = {67.7, 0.31};
    CHECK_REL(sl_cosmo_da(&planck, 3), 1627.0328813030, 1e-11);
    /* 4 pi (250/c)^2 D_ls/D_s in arcsec, with the astropy distances above */
    double th;
    CHECK(sl_lens_theta_e(&c, 250, 0.5, 2, &th, NULL) == 0);
    CHECK_REL(th, 1.1452875169, 1e-9);
    sl_err err;
    CHECK(sl_lens_theta_e(&c, 250, 2, 0.5, &th, &err) == -1);
    CHECK(strstr(err.msg, "z_lens = 2") != NULL);
    sl_cosmo bad = {-70, 0.3};
    CHECK(sl_cosmo_check(&bad, &err) == -1);
    CHECK(strstr(err.msg, "H0 = -70") != NULL);
}

int main(void)
{
    RUN(test_sis);
    RUN(test_sie_reference);
    RUN(test_kappa);
    RUN(test_divergence);
    RUN(test_round_limit);
    RUN(test_rotation);
    RUN(test_trace);
    RUN(test_ring);
    RUN(test_images_and_magnification);
    RUN(test_sie_ring_axes);
    RUN(test_identity);
    RUN(test_brute_force);
    RUN(test_errors);
    RUN(test_cosmology);
    return check_report("test_lens");
}
