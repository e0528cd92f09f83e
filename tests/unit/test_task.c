/* The encoders' tasks: samples and targets cut from an image with a known
 * truth, and the loss gradient against finite differences. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "rng.h"
#include "task.h"

/* A 32 x 32 one-band image of flat sky 100 with a known catalog. */
static void make_image(sl_image *img, sl_catalog *cat)
{
    sl_image_init(img);
    img->id = 7, img->width = 32, img->height = 32, img->n_bands = 1;
    strcpy(img->bands[0], "r");
    img->pixel_scale = 0.396;
    img->background[0] = 100;
    img->pixels = malloc(32 * 32 * sizeof *img->pixels);
    for (int i = 0; i < 32 * 32; i++)
        img->pixels[i] = 100;
    img->pixels[5 * 32 + 9] = 400; /* where the star is */
    sl_catalog_init(cat, 1);
    sl_source *s = sl_catalog_add(cat);
    s->x = 9.5, s->y = 5.25, s->galaxy = 0, s->flux[0] = 3000;
    s = sl_catalog_add(cat);
    s->x = 20.0, s->y = 20.0, s->galaxy = 1, s->flux[0] = 8000, s->lens = 1;
    s->shape = (sl_shape){0.3, 4.0, 0.5, 1.0, 1.5, 0.7, 0, 0}; /* n 0: defaults */
    s->theta_e = 3.0, s->e1 = 0.1, s->e2 = -0.2, s->src_dx = 0.4, s->src_dy = -1;
    s->src_flux[0] = 900;
    s->src_shape = (sl_shape){0.6, 1.0, 0.8, 0.4, 0.9, 0.3, 0, 0};
}

static void test_detect_samples(void)
{
    sl_image img;
    sl_catalog cat;
    make_image(&img, &cat);
    sl_task t;
    CHECK(sl_task_make(&t, SL_TASK_DETECT, 1, 0, 4, 4, 2, 0, NULL) == 0);
    CHECK(sl_task_side(&t) == 16 && sl_task_out_grid(&t) == 4);
    CHECK(t.n_outputs == 1 + 2 + 2 + 2 && t.n_targets == 4);
    sl_samples s = {0};
    CHECK(sl_task_extract(&t, &img, &cat, &s, NULL) == 0);
    CHECK(s.n == 16); /* 8 x 8 tiles in patches of 2 x 2 */
    /* The star: tile (2, 1), in the patch of tiles (2..3, 0..1) = patch 1, cell 2. */
    const double *y = s.y + (1 * 4 + 2) * 4;
    const unsigned char *m = s.mask + (1 * 4 + 2) * t.n_factors;
    CHECK(y[0] == 1 && m[0] && m[1] && m[2] && m[3]);
    CHECK_NEAR(y[1], 9.5 / 4 - 2, 1e-12);
    CHECK_NEAR(y[2], 5.25 / 4 - 1, 1e-12);
    CHECK(y[3] == 3000);
    /* Its pixel, normalized: asinh((400 - 100) / 10) at (9, 5) of the image, which is
     * (9 - 8 + 4, 5 - 0 + 4) of the patch. */
    CHECK_NEAR(s.x[1 * 256 + 9 * 16 + 5], asinh(30.0), 1e-5);
    /* An empty tile trains only P(source); the galaxy's tile not its star flux. */
    CHECK(s.y[0] == 0 && s.mask[0] == 1 && s.mask[1] == 0);
    /* The galaxy (tile (5, 5)) is on, with its location but no star flux. */
    int found = 0;
    for (int n = 0; n < s.n; n++)
        for (int c = 0; c < 4; c++) {
            const double *yc = s.y + (n * 4 + c) * 4;
            const unsigned char *mc = s.mask + (n * 4 + c) * t.n_factors;
            if (yc[0] == 1 && yc[3] == 8000) {
                found++;
                CHECK(mc[1] && mc[2] && !mc[3]);
            }
        }
    CHECK(found == 1);
    sl_samples_free(&s);
    /* A NaN pixel is refused, naming it. */
    img.pixels[3 * 32 + 2] = NAN;
    sl_err err;
    CHECK(sl_task_extract(&t, &img, &cat, &s, &err) == -1);
    CHECK(strcmp(err.msg, "image 7: band r: pixel (2, 3) is NaN: training needs every pixel") == 0);
    sl_samples_free(&s);
    sl_image_free(&img);
    sl_catalog_free(&cat);
}

static void test_cutout_samples(void)
{
    sl_image img;
    sl_catalog cat;
    make_image(&img, &cat);
    sl_task t;
    int want[] = {0, 2, 1, 0, 1};
    for (int k = SL_TASK_CLASSIFY; k <= SL_TASK_LENS; k++) {
        if (k == SL_TASK_LENS_DETECT)
            continue; /* windowed: test_lens_finder_samples */
        CHECK(sl_task_make(&t, (sl_task_kind)k, 1, 0, 4, 0, 0, 12, NULL) == 0);
        sl_samples s = {0};
        CHECK(sl_task_extract(&t, &img, &cat, &s, NULL) == 0);
        CHECK(s.n == want[k]);
        if (k == SL_TASK_LENS) {
            CHECK(t.factor[0].fam.kind == SL_FAM_MVN && t.factor[0].fam.dim == 5);
            CHECK(s.y[0] == 3.0 && s.y[3] == 0.4 && s.y[5] == 900);
            /* The angle is folded into (0, pi): 4.0 - pi for the deflector, 1.0 here. */
            CHECK_NEAR(s.y[5 + 4], 1.0, 1e-12);
        }
        if (k == SL_TASK_GALAXY)
            CHECK_NEAR(s.y[4], 4.0 - M_PI, 1e-12);
        if (k == SL_TASK_CLASSIFY)
            CHECK(s.y[0] == 0 && s.y[1] == 1);
        sl_samples_free(&s);
    }
    sl_image_free(&img);
    sl_catalog_free(&cat);
}

/* The lens finder's tiles hold the lens systems only, and its net sees the
 * whole context border from every tile. */
static void test_lens_finder_samples(void)
{
    sl_image img;
    sl_catalog cat;
    make_image(&img, &cat);
    sl_task t;
    CHECK(sl_task_make(&t, SL_TASK_LENS_DETECT, 1, 0, 8, 16, 2, 0, NULL) == 0);
    CHECK(sl_task_side(&t) == 48 && sl_task_out_grid(&t) == 6);
    CHECK(t.n_factors == 3 && t.n_outputs == 5 && t.n_targets == 3);
    sl_samples s = {0};
    CHECK(sl_task_extract(&t, &img, &cat, &s, NULL) == 0);
    CHECK(s.n == 4); /* 4 x 4 tiles in windows of 2 x 2 */
    int on = 0;
    for (int i = 0; i < s.n * 4; i++)
        if (s.y[i * 3] == 1) {
            on++;
            /* The deflector at (20, 20): tile (2, 2), at (0.5, 0.5) of it. */
            CHECK_NEAR(s.y[i * 3 + 1], 0.5, 1e-12);
            CHECK_NEAR(s.y[i * 3 + 2], 0.5, 1e-12);
            CHECK(s.mask[i * 3 + 1] && s.mask[i * 3 + 2]);
        }
    CHECK(on == 1); /* the star is not a lens system */
    sl_samples_free(&s);
    CHECK(sl_task_make(&t, SL_TASK_LENS_DETECT, 1, 0, 1, 4, 2, 0, NULL) == -1);
    /* The output cell at the centre of the input responds to the input's
     * corners: the receptive field spans the border. */
    sl_task_make(&t, SL_TASK_LENS_DETECT, 1, 0, 8, 16, 1, 0, NULL);
    sl_nn *net = sl_task_default_net(&t, 4, NULL);
    CHECK(net && sl_nn_finalize(net, sl_nn_n_nodes(net) - 1, 1, 1, NULL) == 0);
    sl_nn_init(net, 3);
    int side = sl_task_side(&t), grid = sl_task_out_grid(&t);
    float *x = calloc((size_t)side * side, sizeof *x);
    float *base = malloc((size_t)t.n_outputs * grid * grid * sizeof *base);
    memcpy(base, sl_nn_forward(net, x, 1, 0), (size_t)t.n_outputs * grid * grid * sizeof *base);
    int centre = grid / 2 * grid + grid / 2;
    int corner[4] = {0, side - 1, (side - 1) * side, side * side - 1};
    for (int k = 0; k < 4; k++) {
        memset(x, 0, (size_t)side * side * sizeof *x);
        x[corner[k]] = 5;
        CHECK(sl_nn_forward(net, x, 1, 0)[centre] != base[centre]);
    }
    free(x);
    free(base);
    sl_nn_free(net);
    sl_image_free(&img);
    sl_catalog_free(&cat);
}

/* d(loss)/d(outputs) from sl_task_loss against central differences. */
static void test_loss_gradient(void)
{
    sl_image img;
    sl_catalog cat;
    make_image(&img, &cat);
    sl_task tasks[2];
    CHECK(sl_task_make(&tasks[0], SL_TASK_DETECT, 1, 0, 4, 4, 2, 0, NULL) == 0);
    CHECK(sl_task_make(&tasks[1], SL_TASK_LENS, 1, 0, 4, 0, 0, 12, NULL) == 0);
    sl_rng r;
    sl_rng_init(&r, 1, 2, 3);
    for (int k = 0; k < 2; k++) {
        const sl_task *t = &tasks[k];
        sl_samples s = {0};
        CHECK(sl_task_extract(t, &img, &cat, &s, NULL) == 0);
        int batch = s.n < 3 ? s.n : 3, g = sl_task_out_grid(t);
        size_t n = (size_t)batch * t->n_outputs * g * g;
        float *out = malloc(n * sizeof *out), *grad = malloc(n * sizeof *grad);
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(0.5 * sl_rng_normal(&r));
        long count;
        double l0 = sl_task_loss(t, out, s.y, s.mask, batch, grad, &count);
        CHECK(count > 0 && isfinite(l0));
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            float keep = out[i];
            double h = 1e-2;
            out[i] = keep + (float)h;
            double lp = sl_task_loss(t, out, s.y, s.mask, batch, NULL, &count);
            out[i] = keep - (float)h;
            double lm = sl_task_loss(t, out, s.y, s.mask, batch, NULL, &count);
            out[i] = keep;
            double num = (lp - lm) / (2 * h) / (double)count;
            if (fabs(num - grad[i]) > 2e-3 * (1 + fabs(num)))
                bad++;
        }
        CHECK(bad == 0);
        free(out), free(grad);
        sl_samples_free(&s);
    }
    sl_image_free(&img);
    sl_catalog_free(&cat);
}

int main(void)
{
    RUN(test_detect_samples);
    RUN(test_cutout_samples);
    RUN(test_lens_finder_samples);
    RUN(test_loss_gradient);
    return check_report("test_task");
}
