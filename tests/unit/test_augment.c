/* Mirror augmentation: a mirrored rendering is the rendering of the mirrored
 * catalog (galaxies, a lens system with e2, shear and an offset source), for
 * each mirror; patches and pixel PSFs are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "check.h"
#include "render.h"

enum { W = 64, H = 52 };

static void scene(sl_scene *s)
{
    memset(s, 0, sizeof *s);
    s->width = W, s->height = H, s->n_bands = 1;
    strcpy(s->bands[0], "r");
    s->pixel_scale = 0.396;
    s->sky[0] = 100, s->zero_point[0] = 30, s->gain[0] = 4.7;
    s->supersample = 5;
    CHECK(sl_psf_init_gaussian(&s->psf[0], 1.4 / 0.396, NULL) == 0);
}

/* A star, a tilted galaxy, and a lens system whose every mirrored quantity
 * is off its symmetric value. */
static void catalog(sl_catalog *c)
{
    sl_catalog_init(c, 1);
    sl_source *s = sl_catalog_add(c);
    s->x = 10.3, s->y = 40.8, s->galaxy = 0, s->flux[0] = 5000;
    sl_source *g = sl_catalog_add(c);
    g->x = 50.2, g->y = 12.7, g->galaxy = 1, g->flux[0] = 2e4;
    g->shape = (sl_shape){.disk_frac = 0.6, .angle = 0.4, .disk_q = 0.3, .bulge_q = 0.7,
                          .disk_a = 1.5, .bulge_a = 0.6};
    sl_source *l = sl_catalog_add(c);
    l->x = 30.6, l->y = 27.1, l->galaxy = 1, l->lens = 1, l->flux[0] = 8000;
    l->shape = (sl_shape){.disk_frac = 0.3, .angle = 2.5, .disk_q = 0.6, .bulge_q = 0.8,
                          .disk_a = 1.0, .bulge_a = 0.5};
    l->theta_e = 4.0, l->e1 = 0.15, l->e2 = 0.1, l->shear_g1 = 0.02, l->shear_g2 = 0.04;
    l->src_dx = 0.8, l->src_dy = -0.5, l->src_flux[0] = 9000;
    l->src_shape = (sl_shape){.disk_frac = 0.7, .angle = 0.9, .disk_q = 0.5, .bulge_q = 0.9,
                              .disk_a = 0.4, .bulge_a = 0.2};
}

static void test_mirror_commutes_with_rendering(void)
{
    sl_scene s;
    scene(&s);
    sl_renderer *r = sl_renderer_new(&s, NULL);
    CHECK(r != NULL);
    float *a = malloc(W * H * sizeof *a), *b = malloc(W * H * sizeof *b),
          *orig = malloc(W * H * sizeof *orig);
    for (unsigned flip = 0; flip < 4; flip++) {
        sl_catalog cat;
        catalog(&cat);
        CHECK(sl_render_expected(r, &cat, a, NULL) == 0);
        memcpy(orig, a, W * H * sizeof *a);
        sl_image img;
        sl_scene_to_image(&s, 1, a, &img);
        CHECK(sl_mirror(&img, &cat, flip, NULL) == 0);
        CHECK(sl_render_expected(r, &cat, b, NULL) == 0);
        double peak = 0, worst = 0;
        for (int i = 0; i < W * H; i++) {
            peak = fmax(peak, a[i] - 100);
            worst = fmax(worst, fabs(a[i] - b[i]));
        }
        /* Equal but for float rounding: the renderer is mirror equivariant. */
        CHECK(worst < 1e-6 * peak);
        if (flip == SL_MIRROR_X) {
            CHECK_REL(cat.src[1].x, W - 50.2, 1e-12);
            CHECK_REL(cat.src[1].shape.angle, M_PI - 0.4, 1e-12);
            CHECK_REL(cat.src[2].e2, -0.1, 1e-12);
            CHECK_REL(cat.src[2].src_dx, -0.8, 1e-12);
            CHECK_REL(cat.src[2].src_dy, -0.5, 1e-12);
        }
        if (flip == (SL_MIRROR_X | SL_MIRROR_Y)) {
            CHECK_REL(cat.src[2].e2, 0.1, 1e-12);
            CHECK_REL(cat.src[2].shape.angle, 2.5, 1e-12);
        }
        /* Mirrored again, it is the original. */
        CHECK(sl_mirror(&img, &cat, flip, NULL) == 0);
        CHECK(memcmp(img.pixels, orig, W * H * sizeof *orig) == 0);
        CHECK_REL(cat.src[2].src_dx, 0.8, 1e-12);
        sl_catalog_free(&cat);
    }
    free(a), free(b), free(orig);
    sl_renderer_free(r);
    sl_scene_free(&s);
}

/* An angle of 0 stays on [0, pi). */
static void test_angle_stays_in_range(void)
{
    sl_catalog cat;
    catalog(&cat);
    cat.src[1].shape.angle = 0;
    float pix[W * H] = {0};
    sl_image img = {.width = W, .height = H, .n_bands = 1, .pixels = pix};
    CHECK(sl_mirror(&img, &cat, SL_MIRROR_Y, NULL) == 0);
    CHECK(cat.src[1].shape.angle == 0);
    CHECK(isnan(cat.src[0].shape.angle)); /* the star's */
    sl_catalog_free(&cat);
}

static void test_patches_are_refused(void)
{
    sl_catalog cat;
    catalog(&cat);
    float pix[W * H] = {0};
    sl_image img = {.id = 7, .parent = 3, .is_patch = 1, .width = W, .height = H, .n_bands = 1,
                    .pixels = pix};
    sl_err err;
    CHECK(sl_mirror(&img, &cat, SL_MIRROR_X, &err) < 0);
    CHECK(strstr(err.msg, "image 7 is a patch of image 3") != NULL);
    sl_catalog_free(&cat);
}

int main(void)
{
    RUN(test_mirror_commutes_with_rendering);
    RUN(test_angle_stays_in_range);
    RUN(test_patches_are_refused);
    return check_report("augment");
}
