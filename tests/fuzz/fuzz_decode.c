/* fuzz_decode: the decoding of data records: images (pixels, background
 * maps, patch geometry, PSF descriptions), catalogs (truth and estimate, as
 * sl_catalog and as tables), catalog records with posterior samples. */
#include "fuzz.h"

#include "catalog.h"
#include "catrecord.h"
#include "config.h"
#include "prior.h"
#include "image.h"
#include "record.h"
#include "render.h"
#include "table.h"

/* sl-simulate's default scene (sdss r band), which an image record's own
 * keys then override, as sl-simulate --render does. */
static sl_scene configured;

static void configure(void)
{
    static int done;
    if (done++)
        return;
    sl_err err;
    sl_config *cfg = sl_config_new();
    if (!cfg || sl_config_add_keys(cfg, sl_survey_keys, sl_n_survey_keys, &err) < 0 ||
        sl_config_add_keys(cfg, sl_prior_keys, sl_n_prior_keys, &err) < 0 ||
        sl_config_add_keys(cfg, sl_render_keys, sl_n_render_keys, &err) < 0 ||
        sl_config_validate(cfg, &err) < 0 || sl_scene_from_config(&configured, cfg, &err) < 0) {
        fprintf(stderr, "fuzz_decode: configuration: %s\n", err.msg);
        abort();
    }
    sl_config_free(cfg);
}

static void decode(const sl_record *rec)
{
    sl_err err;
    sl_image img;
    sl_image_init(&img);
    if (sl_image_read(&img, rec, &err) == 0) {
        int x0, y0, x1, y1;
        sl_image_interior(&img, &x0, &y0, &x1, &y1);
        sl_scene sc;
        sl_scene_copy(&sc, &configured);
        int have_scene = sl_scene_from_image(&sc, &img, rec, &err) == 0;
        if (!have_scene) { /* PSFs made before the failure are freed too */
            sc.n_bands = img.n_bands > sc.n_bands ? img.n_bands : sc.n_bands;
            sl_scene_free(&sc);
        }
        for (int k = 0; k < 2; k++) {
            sl_catalog cat;
            sl_catalog_init(&cat, img.n_bands);
            int ok = sl_catalog_read(&cat, rec, k ? "estimate" : "truth", img.n_bands, &err) == 0;
            /* sl-simulate --render: the catalog drawn on the image's scene
             * (small ones only, to keep the fuzzer fast). */
            if (ok && have_scene && cat.n <= 3 && (size_t)img.width * img.height <= 16 * 16) {
                sl_renderer *rd = sl_renderer_new(&sc, &err);
                float *out = malloc((size_t)img.width * img.height * img.n_bands * sizeof *out);
                if (rd && out && sl_render_expected(rd, &cat, out, &err) == 0)
                    sl_render_metrics(rd, out, &cat);
                free(out);
                sl_renderer_free(rd);
            }
            sl_catalog_free(&cat);
        }
        if (have_scene)
            sl_scene_free(&sc);
    }
    sl_image_free(&img);
    sl_image_init(&img);
    (void)sl_image_read_meta(&img, rec, &err);
    sl_image_free(&img);
    (void)sl_image_check(rec, &err);
    char bands[SL_MAX_BANDS][16];
    int nb;
    (void)sl_image_read_bands(rec, bands, &nb, &err);
    for (int k = 0; k < 2; k++) {
        sl_table t;
        sl_table_init(&t);
        (void)sl_table_read(&t, rec, k ? "estimate" : "truth", &err);
        sl_table_free(&t);
    }
    int ns;
    (void)sl_catrecord_n_samples(rec, &ns, &err);
    sl_catrecord c;
    sl_catrecord_init(&c);
    (void)sl_catrecord_read(&c, rec, "estimate", &err);
    (void)sl_catrecord_read(&c, rec, "truth", &err);
    sl_catrecord_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    configure();
    fuzz_file f = fuzz_file_make(data, size);
    if (!f.path[0])
        return 0;
    sl_err err;
    sl_reader *r = sl_reader_open(f.path, &err);
    if (r) {
        sl_record rec;
        for (int k = 0; k < 100 && sl_read(r, &rec, &err) >= 0; k++)
            decode(&rec);
        sl_reader_close(r);
    }
    fuzz_file_drop(&f);
    return 0;
}
