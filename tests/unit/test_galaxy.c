/* Sersic and bulge+disk rendering against closed forms and an independent brute-force
 * integral. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "galaxy.h"
#include "special.h"

/* ---- an independent reference ------------------------------------------------------
 * The exact profile (pow and exp, no tables) integrated over a pixel by a product
 * Gauss-Legendre rule: the pixel is cut by the lines through the centre, so that the
 * cusp sits on a corner of each piece, and each axis is graded towards that corner by
 * x = t^3 (8 panels of 8 nodes).  Checked during development against an exact radial
 * integral (incomplete gamma) with adaptive angular quadrature: 1e-5 relative. */

#define REF_NODES 8
#define REF_PANELS 8
static double ref_node[REF_NODES], ref_weight[REF_NODES]; /* on [0, 1] */

/* Legendre nodes by Newton's method on P_n. */
static void ref_init(void)
{
    int n = REF_NODES;
    for (int i = 0; i < n; i++) {
        double x = cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = x;
            for (int k = 2; k <= n; k++) {
                double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
                p0 = p1;
                p1 = p2;
            }
            dp = n * (x * p1 - p0) / (x * x - 1);
            double dx = p1 / dp;
            x -= dx;
            if (fabs(dx) < 1e-16)
                break;
        }
        ref_node[i] = (1 - x) / 2;
        ref_weight[i] = 1 / ((1 - x * x) * dp * dp);
    }
}

static double ref_sb(const sl_sersic *s, double dx, double dy)
{
    double b = sl_gamma_p_inv(2 * s->n, 0.5), q = s->q, a = s->a;
    double amp = s->flux * pow(b, 2 * s->n) / (2 * M_PI * s->n * q * a * a * tgamma(2 * s->n));
    double xr = (cos(s->beta) * dx + sin(s->beta) * dy) / a;
    double yr = (-sin(s->beta) * dx + cos(s->beta) * dy) / (q * a);
    return amp * exp(-b * pow(xr * xr + yr * yr, 0.5 / s->n));
}

/* Points and weights along [near, far] (offsets), graded towards near. */
static void ref_axis(double near, double far, double *pt, double *wt)
{
    for (int p = 0; p < REF_PANELS; p++)
        for (int k = 0; k < REF_NODES; k++) {
            double t = (p + ref_node[k]) / REF_PANELS;
            pt[p * REF_NODES + k] = near + (far - near) * t * t * t;
            wt[p * REF_NODES + k] = ref_weight[k] / REF_PANELS * fabs(far - near) * 3 * t * t;
        }
}

static double ref_piece(const sl_sersic *s, double x0, double x1, double y0, double y1)
{
    enum { M = REF_NODES * REF_PANELS };
    double xp[M], xw[M], yp[M], yw[M], sum = 0;
    ref_axis(fabs(x0) < fabs(x1) ? x0 : x1, fabs(x0) < fabs(x1) ? x1 : x0, xp, xw);
    ref_axis(fabs(y0) < fabs(y1) ? y0 : y1, fabs(y0) < fabs(y1) ? y1 : y0, yp, yw);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++)
            sum += xw[i] * yw[j] * ref_sb(s, xp[i], yp[j]);
    return sum;
}

static double ref_pixel(const sl_sersic *s, int i, int j)
{
    double xs[3] = {i - s->x, 0, i + 1 - s->x}, ys[3] = {j - s->y, 0, j + 1 - s->y};
    int nxs = 3, nys = 3;
    if (!(xs[0] < 0 && xs[2] > 0))
        xs[1] = xs[2], nxs = 2;
    if (!(ys[0] < 0 && ys[2] > 0))
        ys[1] = ys[2], nys = 2;
    double sum = 0;
    for (int a = 0; a + 1 < nxs; a++)
        for (int b = 0; b + 1 < nys; b++)
            sum += ref_piece(s, xs[a], xs[a + 1], ys[b], ys[b + 1]);
    return sum;
}

/* ---- tests -------------------------------------------------------------------------- */

static float *image(int w, int h)
{
    float *img = calloc((size_t)w * h, sizeof *img);
    if (!img) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return img;
}

static double image_sum(const float *img, int w, int h)
{
    double s = 0;
    for (size_t k = 0; k < (size_t)w * h; k++)
        s += img[k];
    return s;
}

static void test_bn_and_radius(void)
{
    /* b_1 and b_4 (Ciotti & Bertin 1999 give b_4 = 7.66924944) */
    CHECK_NEAR(sl_sersic_bn(1), 1.6783469900166610, 1e-13);
    CHECK_NEAR(sl_sersic_bn(4), 7.6692494425008039, 1e-12);
    CHECK_NEAR(sl_gamma_p(8, sl_sersic_bn(4)), 0.5, 1e-14);
    CHECK_NEAR(sl_sersic_bn(2.5), sl_gamma_p_inv(5, 0.5), 1e-14);
    /* the half-light ellipse has semi-major axis a */
    CHECK_NEAR(sl_sersic_radius(4, 3.0, 0.5), 3.0, 1e-12);
    double r = sl_sersic_radius(1, 2.0, 0.9);
    CHECK_NEAR(sl_gamma_p(2, sl_sersic_bn(1) * r / 2.0), 0.9, 1e-12);
}

/* At r = a the surface brightness is I_e = flux b^2n e^-b / (2 pi n q a^2 Gamma(2n)),
 * on the major axis at distance a and on the minor axis at distance q a. */
static void test_surface_brightness(void)
{
    for (int k = 0; k < 2; k++) {
        double n = k ? 4 : 1, b = sl_sersic_bn(n), a = 2.5, q = 0.4, beta = 0.7;
        sl_sersic s = {10, 20, 1000, n, a, q, beta};
        sl_sersic_prep p;
        CHECK(sl_sersic_prepare(&p, &s, NULL) == 0);
        double ie = 1000 * pow(b, 2 * n) * exp(-b) / (2 * M_PI * n * q * a * a * tgamma(2 * n));
        CHECK_REL(sl_sersic_sb(&p, 10 + a * cos(beta), 20 + a * sin(beta)), ie, 3e-4);
        CHECK_REL(sl_sersic_sb(&p, 10 - q * a * sin(beta), 20 + q * a * cos(beta)), ie, 3e-4);
        CHECK_REL(sl_sersic_sb(&p, 11.3, 18.1), ref_sb(&s, 1.3, -1.9), 3e-4);
        CHECK_REL(sl_sersic_sb(&p, 10, 20), ref_sb(&s, 0, 0), 1e-12);
    }
    /* the galaxy is the sum of its components */
    sl_galaxy g = {5, 6, 800, 0.3, 0.2, 0.5, 0.8, 4, 1.5};
    sl_sersic disk = {5, 6, 240, 1, 4, 0.5, 0.2}, bulge = {5, 6, 560, 4, 1.5, 0.8, 0.2};
    sl_galaxy_prep gp;
    CHECK(sl_galaxy_prepare(&gp, &g, NULL) == 0);
    CHECK_REL(sl_galaxy_sb(&gp, 6.1, 4.3), ref_sb(&disk, 1.1, -1.7) + ref_sb(&bulge, 1.1, -1.7),
              3e-4);
    double x[3] = {6.1, 5, -3}, y[3] = {4.3, 6.0001, 9}, v[3];
    float sb[3];
    sl_galaxy_sb_n(&gp, 3, x, y, sb);
    for (int i = 0; i < 3; i++) {
        v[i] = sl_galaxy_sb(&gp, x[i], y[i]);
        CHECK_REL(sb[i], v[i], 1e-6);
    }
    /* the extent holds all but 1e-4 of each component */
    double ext = sl_galaxy_extent(&gp);
    CHECK_NEAR(sl_gamma_p(8, sl_sersic_bn(4) * pow(ext / 1.5, 0.25)), 1 - 1e-4, 1e-12);
}

/* A profile inside the image sums to its flux, less the 1e-4 left outside the stamp. */
static void test_flux(void)
{
    const double as[] = {0.3, 0.5, 1, 3, 8, 20}, qs[] = {0.1, 0.3, 0.7, 1};
    int count = 0;
    for (int k = 0; k < 2; k++)
        for (int ia = 0; ia < 6; ia++)
            for (int iq = 0; iq < 4; iq++) {
                double n = k ? 4 : 1, a = as[ia], q = qs[iq];
                /* the largest n = 4 stamp (2500 pixels across) once, not for every q */
                if (n == 4 && a == 20 && q != 0.3)
                    continue;
                double beta = n == 4 && a == 20 ? 0 : 0.37 * (ia + 1) + 0.81 * iq;
                double R = sl_sersic_radius(n, a, 1 - SL_GALAXY_FLUX_OUT);
                int w = (int)(2 * R) + 6, h = n == 4 && a == 20 ? (int)(2 * q * R) + 6 : w;
                float *img = image(w, h);
                sl_sersic s = {w / 2.0 + 0.137 * iq, h / 2.0 - 0.29 * ia, 1e4, n, a, q, beta};
                CHECK(sl_sersic_render(&s, img, w, h, NULL) == 0);
                double f = image_sum(img, w, h) / 1e4;
                CHECK(f <= 1 + 5e-4 && f >= 1 - SL_GALAXY_FLUX_OUT - 5e-4);
                if (!(f <= 1 + 5e-4 && f >= 1 - SL_GALAXY_FLUX_OUT - 5e-4))
                    fprintf(stderr, "  n=%g a=%g q=%g: flux %.6f\n", n, a, q, f);
                count++;
                free(img);
            }
    CHECK(count == 45);
}

/* Single pixels against the brute-force integral: the pixel holding the centre, its
 * neighbours, and pixels further out, over a range of shapes. */
static void test_pixels(void)
{
    const struct {
        double n, a, q, beta, x, y;
    } cases[] = {
        {4, 0.5, 1, 0, 16.3, 16.6},     {4, 0.5, 0.1, 0.7, 16.3, 16.6},
        {4, 0.3, 0.3, 2.0, 16.02, 16.5}, {1, 0.3, 0.1, 0, 16.5, 16.5},
        {1, 3, 0.5, 0.4, 16.9, 16.1},    {4, 3.3, 0.5, 0.3, 16.137, 16.71},
        {4, 10, 0.2, 1.2, 16.4, 16.4},   {1, 6.5, 0.1, 0.3, 16.6, 16.2},
        {4, 20, 1, 0, 16.0, 16.0},       {1, 1, 1, 0, 16.999, 16.5},
    };
    const int offs[][2] = {{0, 0}, {1, 0}, {-1, 0}, {0, 1}, {1, -1}, {3, 1}, {-2, -5}, {7, 4}};
    int w = 33;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sl_sersic s = {cases[c].x, cases[c].y, 1000, cases[c].n, cases[c].a, cases[c].q,
                       cases[c].beta};
        float *img = image(w, w);
        CHECK(sl_sersic_render(&s, img, w, w, NULL) == 0);
        double R = sl_sersic_radius(s.n, s.a, 1 - SL_GALAXY_FLUX_OUT);
        for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
            int i = (int)s.x + offs[o][0], j = (int)s.y + offs[o][1];
            /* only pixels well inside the ellipse holding 1 - 1e-4 of the flux */
            double dx = i + 0.5 - s.x, dy = j + 0.5 - s.y;
            double xr = cos(s.beta) * dx + sin(s.beta) * dy, yr = -sin(s.beta) * dx + cos(s.beta) * dy;
            if (hypot(xr, yr / s.q) + 1.5 / s.q > R)
                continue;
            double want = ref_pixel(&s, i, j), got = img[j * w + i];
            CHECK_NEAR(got, want, 2e-3 * want + 1e-7 * s.flux);
        }
        free(img);
    }
}

/* Every pixel of a row through the centre, out to where the one-sample rule (the
 * corrected midpoint) has taken over. */
static void test_pixel_row(void)
{
    const double shapes[][3] = {{1, 3, 1}, {4, 2, 0.6}, {1, 8, 0.3}};
    int w = 40;
    for (int c = 0; c < 3; c++) {
        sl_sersic s = {12.3, 20.6, 1000, shapes[c][0], shapes[c][1], shapes[c][2], 0.2};
        float *img = image(w, w);
        CHECK(sl_sersic_render(&s, img, w, w, NULL) == 0);
        double R = sl_sersic_radius(s.n, s.a, 1 - SL_GALAXY_FLUX_OUT);
        for (int i = 12; i < w && hypot(i + 1.5 - s.x, 2 / s.q) < R; i++) {
            double want = ref_pixel(&s, i, 20), got = img[20 * w + i];
            CHECK_NEAR(got, want, 1e-3 * want + 1e-7 * s.flux);
        }
        free(img);
    }
}

/* The polygon integral: a pixel as a square matches the brute force, the order of the
 * vertices sets the sign, and a polygon around everything holds the flux. */
static void test_polygon(void)
{
    for (int k = 0; k < 2; k++) {
        sl_sersic s = {10.3, 7.8, 1000, k ? 4 : 1, 1.7, 0.4, 0.9};
        sl_sersic_prep p;
        CHECK(sl_sersic_prepare(&p, &s, NULL) == 0);
        double x[4] = {10, 11, 11, 10}, y[4] = {7, 7, 8, 8}, rx[4], ry[4];
        double want = ref_pixel(&s, 10, 7);
        CHECK_NEAR(sl_sersic_polygon(&p, 4, x, y), want, 2e-3 * want);
        for (int v = 0; v < 4; v++)
            rx[v] = x[3 - v], ry[v] = y[3 - v];
        CHECK_NEAR(sl_sersic_polygon(&p, 4, rx, ry), -sl_sersic_polygon(&p, 4, x, y), 1e-12);
        double bx[3] = {-3e3, 3e3, 0}, by[3] = {-3e3, -3e3, 3e3};
        CHECK_NEAR(sl_sersic_polygon(&p, 3, bx, by), s.flux, 3e-3 * s.flux);
    }
}

/* Orientation and shape from the image moments: the major axis at beta from +x towards
 * +y, the axis ratio (second moments scale as q^2), the centroid at (x, y) in pixel
 * coordinates where pixel (i, j) is centred on (i + 0.5, j + 0.5). */
static void test_conventions(void)
{
    int w = 96;
    float *img = image(w, w);
    sl_sersic s = {40.5, 52.25, 1e4, 1, 6, 0.5, 0.5};
    CHECK(sl_sersic_render(&s, img, w, w, NULL) == 0);
    double m = 0, mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
    for (int j = 0; j < w; j++)
        for (int i = 0; i < w; i++) {
            double v = img[j * w + i], x = i + 0.5, y = j + 0.5;
            m += v, mx += v * x, my += v * y;
        }
    mx /= m, my /= m;
    for (int j = 0; j < w; j++)
        for (int i = 0; i < w; i++) {
            double v = img[j * w + i] / m, x = i + 0.5 - mx, y = j + 0.5 - my;
            mxx += v * x * x, myy += v * y * y, mxy += v * x * y;
        }
    CHECK_NEAR(mx, 40.5, 1e-3);
    CHECK_NEAR(my, 52.25, 1e-3);
    CHECK_NEAR(0.5 * atan2(2 * mxy, mxx - myy), 0.5, 1e-3);
    double tr = mxx + myy, det = mxx * myy - mxy * mxy, d = sqrt(tr * tr / 4 - det);
    /* pixel integration adds 1/12 to each second moment */
    CHECK_NEAR(sqrt((tr / 2 - d - 1.0 / 12) / (tr / 2 + d - 1.0 / 12)), 0.5, 2e-3);
    /* the light inside the half-light ellipse is half the flux (up to the pixel edges) */
    double in = 0;
    for (int j = 0; j < w; j++)
        for (int i = 0; i < w; i++) {
            double x = i + 0.5 - s.x, y = j + 0.5 - s.y;
            double xr = cos(s.beta) * x + sin(s.beta) * y, yr = -sin(s.beta) * x + cos(s.beta) * y;
            if (xr * xr + yr * yr / (s.q * s.q) < s.a * s.a)
                in += img[j * w + i];
        }
    CHECK_NEAR(in / m, 0.5, 0.02);
    free(img);
}

/* Rendering adds; a galaxy is its disk plus its bulge; clipping at the image edge
 * leaves the pixels inside unchanged; a galaxy off the image draws nothing. */
static void test_add_and_clip(void)
{
    int w = 64, h = 48;
    sl_galaxy g = {20.3, 30.8, 5000, 0.4, 1.1, 0.6, 0.8, 5, 2};
    float *a = image(w, h), *b = image(w, h), *c = image(w, h);
    CHECK(sl_galaxy_render(&g, a, w, h, NULL) == 0);
    CHECK(sl_galaxy_render(&g, a, w, h, NULL) == 0);
    sl_sersic disk = {20.3, 30.8, 2000, 1, 5, 0.6, 1.1}, bulge = {20.3, 30.8, 3000, 4, 2, 0.8, 1.1};
    CHECK(sl_sersic_render(&disk, b, w, h, NULL) == 0);
    CHECK(sl_sersic_render(&bulge, b, w, h, NULL) == 0);
    double worst = 0;
    for (int k = 0; k < w * h; k++)
        worst = fmax(worst, fabs(a[k] - 2 * b[k]) / (1e-30 + fabs(a[k])));
    CHECK(worst < 1e-6);
    /* the same galaxy in a 30 x 20 window whose origin is (10, 25) of the big image */
    sl_galaxy moved = g;
    moved.x -= 10, moved.y -= 25;
    CHECK(sl_galaxy_render(&moved, c, 30, 20, NULL) == 0);
    int same = 1;
    for (int j = 0; j < 20 && 25 + j < h; j++)
        for (int i = 0; i < 30; i++)
            same &= fabsf(c[j * 30 + i] - b[(25 + j) * w + 10 + i]) <= 1e-6f * b[(25 + j) * w + 10 + i];
    CHECK(same);
    memset(c, 0, (size_t)w * h * sizeof *c);
    sl_galaxy far = g;
    far.x = -1000;
    CHECK(sl_galaxy_render(&far, c, w, h, NULL) == 0);
    CHECK(image_sum(c, w, h) == 0);
    free(a);
    free(b);
    free(c);
}

/* q = 0 and a = 0 (possible prior draws) render with their flux; bad input is refused
 * with a message naming the value. */
static void test_degenerate_and_errors(void)
{
    int w = 64;
    float *img = image(w, w);
    sl_galaxy g = {32.2, 31.7, 1000, 0.5, 0.3, 0, 0, 3, 0};
    CHECK(sl_galaxy_render(&g, img, w, w, NULL) == 0);
    CHECK_NEAR(image_sum(img, w, w), 1000, 1.0);
    sl_err err;
    sl_sersic bad = {1, 1, 10, 2, 1, 0.5, 0};
    CHECK(sl_sersic_render(&bad, img, w, w, &err) == -1);
    CHECK(strstr(err.msg, "n = 2") != NULL);
    bad.n = 4, bad.q = 1.5;
    CHECK(sl_sersic_render(&bad, img, w, w, &err) == -1);
    CHECK(strstr(err.msg, "1.5") != NULL);
    bad.q = 0.5, bad.flux = -3;
    CHECK(sl_sersic_render(&bad, img, w, w, &err) == -1);
    CHECK(strstr(err.msg, "-3") != NULL);
    bad.flux = 1, bad.a = NAN;
    CHECK(sl_sersic_render(&bad, img, w, w, &err) == -1);
    bad.a = 1;
    CHECK(sl_sersic_render(&bad, NULL, w, w, &err) == -1);
    g.disk_frac = 1.5;
    CHECK(sl_galaxy_render(&g, img, w, w, &err) == -1);
    CHECK(strstr(err.msg, "disk fraction 1.5") != NULL);
    g.disk_frac = 0.5, g.q_bulge = -0.1;
    CHECK(sl_galaxy_render(&g, img, w, w, &err) == -1);
    CHECK(strstr(err.msg, "bulge") != NULL);
    free(img);
}

int main(void)
{
    ref_init();
    RUN(test_bn_and_radius);
    RUN(test_surface_brightness);
    RUN(test_flux);
    RUN(test_pixels);
    RUN(test_pixel_row);
    RUN(test_polygon);
    RUN(test_conventions);
    RUN(test_add_and_clip);
    RUN(test_degenerate_and_errors);
    return check_report("test_galaxy");
}
