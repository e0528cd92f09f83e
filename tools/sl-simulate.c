/* sl-simulate: draw (catalog, image) pairs from the generative model, or
 * render given catalogs (--render).
 *
 * Image k of seed s depends only on (s, k): its catalog comes from random
 * stream (s, k, catalog) and its noise from (s, k, noise).  Workers render
 * batches of images in parallel and the main thread writes them in index
 * order, so the output is the same for any -j and any --first/-n sharding. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "config.h"
#include "fits.h"
#include "wcs.h"
#include "image.h"
#include "preview.h"
#include "prior.h"
#include "record.h"
#include "render.h"

static const char usage[] =
    "Usage: sl-simulate [options]            draw images from the prior\n"
    "       sl-simulate --render [options] [FILE...]   draw the catalogs of image records\n"
    "Simulate (catalog, image) pairs from the strong-lensing generative model and\n"
    "write them as `image` records (man 5 sl-records) with their full truth catalog.\n"
    "\n"
    "Options:\n"
    "  -n, --count N        images to draw; 0 draws forever (for online training) [10]\n"
    "      --first K        index of the first image; image k of seed s is always the\n"
    "                       same, so shards --first 0 -n 10, --first 10 -n 10 equal -n 20 [0]\n"
    "  -s, --seed INT       random seed [1]\n"
    "  -j, --threads INT    worker threads; the output does not depend on it [1]\n"
    "  -o, --output FILE    write FILE instead of standard output\n"
    "  -p, --preset NAME    survey preset: sdss, lsst, des, hst [none: SDSS r band]\n"
    "  -b, --bands LIST     keep only these bands of the preset, e.g. r or g,r,i\n"
    "  -c, --config FILE    configuration file (key = value lines); repeatable\n"
    "      --set KEY=VALUE  override one configuration key; repeatable\n"
    "      --list-keys      print every configuration key with its default and meaning\n"
    "      --print-config   print the configuration in effect (a loadable file) and exit\n"
    "      --fits DIR       also write each image as DIR/image-ID.fits (a band per HDU,\n"
    "                       the truth as a binary table)\n"
    "      --sky-centre RA,DEC  the sky position, degrees, of the centre of the FITS\n"
    "                       images (a TAN WCS of the pixel scale) [180,0]\n"
    "      --png DIR        also write an asinh-stretched preview DIR/image-ID.png\n"
    "      --png-scale N    preview magnification [3]\n"
    "      --mark-lenses    circle each lens system's Einstein radius in the previews\n"
    "      --render         read image records and draw their catalog with their size,\n"
    "                       PSF and sky; other records pass through unchanged\n"
    "      --catalog KEY    with --render: the catalog to draw, truth or estimate [truth]\n"
    "      --compare        with --render --png: three panels per preview, the input\n"
    "                       image, the rendering and the residual (input - rendering\n"
    "                       + sky), on one stretch\n"
    "      --noiseless      write the expected image (sky included), no noise\n"
    "      --progress       a progress line (images, rate, ETA) on stderr even when it\n"
    "                       is not a terminal (on a terminal it is always shown)\n"
    "  -q, --quiet          no progress and no summary (images, time, memory) on stderr\n"
    "  -h, --help           this text\n"
    "      --version        the version\n"
    "\n"
    "Precedence of settings: defaults < --preset < --config files < --bands < --set.\n"
    "Exit status: 0 success, 1 data or runtime error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-simulate -n 4 --png previews --mark-lenses | sl-cat --type image | jq .truth.n\n"
    "  sl-simulate -p sdss -b r --set lens_prob=1 -n 1000 -j 2 -o train.slr\n"
    "  sl-simulate -n 0 | sl-train --task detect -o detect.slm\n";

enum {
    OPT_FIRST = 256, OPT_SET, OPT_LIST_KEYS, OPT_PRINT_CONFIG, OPT_FITS, OPT_PNG, OPT_PNG_SCALE,
    OPT_COMPARE,
    OPT_MARK, OPT_RENDER, OPT_CATALOG, OPT_NOISELESS, OPT_SKY_CENTRE
};

#define MAX_SETTINGS 256

static struct {
    long count, first;
    int count_given;
    const char *preset, *bands;
    const char *configs[MAX_SETTINGS];
    int n_configs;
    const char *sets[MAX_SETTINGS];
    int n_sets;
    int list_keys, print_config, render, noiseless, mark_lenses;
    const char *fits_dir, *png_dir, *catalog_key;
    int png_scale, compare;
    double ra, dec; /* the FITS images' centre on the sky */
} opt = {.count = 10, .catalog_key = "truth", .png_scale = 3, .ra = 180, .dec = 0};

/* --sky-centre RA,DEC: RA in [0, 360), Dec in [-90, 90]. */
static void parse_centre(const char *arg)
{
    char *end;
    opt.ra = strtod(arg, &end);
    if (end == arg || *end != ',')
        sl_usage_error("option --sky-centre: '%s' is not RA,DEC in degrees", arg);
    const char *d = end + 1;
    opt.dec = strtod(d, &end);
    if (end == d || *end || !(opt.ra >= 0 && opt.ra < 360) || !(opt.dec >= -90 && opt.dec <= 90))
        sl_usage_error("option --sky-centre: '%s' is not RA,DEC in degrees (RA in [0, 360), "
                       "Dec in [-90, 90])", arg);
}

static int on_option(int c, const char *arg)
{
    switch (c) {
    case 'n':
        opt.count = sl_cli_long("-n/--count", arg, 0, 1L << 50);
        opt.count_given = 1;
        return 0;
    case OPT_FIRST: opt.first = sl_cli_long("--first", arg, 0, 1L << 50); return 0;
    case 'p': opt.preset = arg; return 0;
    case 'b': opt.bands = arg; return 0;
    case 'c':
    case OPT_SET:
        if (opt.n_configs >= MAX_SETTINGS || opt.n_sets >= MAX_SETTINGS)
            sl_usage_error("more than %d --config or --set options", MAX_SETTINGS);
        if (c == 'c')
            opt.configs[opt.n_configs++] = arg;
        else
            opt.sets[opt.n_sets++] = arg;
        return 0;
    case OPT_LIST_KEYS: opt.list_keys = 1; return 0;
    case OPT_PRINT_CONFIG: opt.print_config = 1; return 0;
    case OPT_FITS: opt.fits_dir = arg; return 0;
    case OPT_PNG: opt.png_dir = arg; return 0;
    case OPT_PNG_SCALE: opt.png_scale = (int)sl_cli_long("--png-scale", arg, 1, 16); return 0;
    case OPT_COMPARE: opt.compare = 1; return 0;
    case OPT_MARK: opt.mark_lenses = 1; return 0;
    case OPT_SKY_CENTRE: parse_centre(arg); return 0;
    case OPT_RENDER: opt.render = 1; return 0;
    case OPT_CATALOG:
        if (strcmp(arg, "truth") != 0 && strcmp(arg, "estimate") != 0)
            sl_usage_error("--catalog: '%s' is neither truth nor estimate", arg);
        opt.catalog_key = arg;
        return 0;
    case OPT_NOISELESS: opt.noiseless = 1; return 0;
    }
    return -1;
}

/* The configuration: survey, prior and rendering keys, then the preset, the
 * files and the --set overrides, in that order of precedence. */
static sl_config *load_config(void)
{
    sl_err err;
    sl_config *cfg = sl_config_new();
    if (!cfg || sl_config_add_keys(cfg, sl_survey_keys, sl_n_survey_keys, &err) < 0 ||
        sl_config_add_keys(cfg, sl_prior_keys, sl_n_prior_keys, &err) < 0 ||
        sl_config_add_keys(cfg, sl_render_keys, sl_n_render_keys, &err) < 0)
        sl_die("%s", cfg ? err.msg : "out of memory");
    if (opt.preset && sl_config_use_preset(cfg, opt.preset, &err) < 0)
        sl_usage_error("%s", err.msg);
    for (int i = 0; i < opt.n_configs; i++)
        if (sl_config_load_file(cfg, opt.configs[i], &err) < 0)
            sl_die("%s", err.msg);
    if (opt.bands && sl_config_select_bands(cfg, opt.bands, &err) < 0)
        sl_usage_error("%s", err.msg);
    for (int i = 0; i < opt.n_sets; i++)
        if (sl_config_set(cfg, opt.sets[i], &err) < 0)
            sl_usage_error("%s", err.msg);
    if (sl_config_validate(cfg, &err) < 0)
        sl_die("%s", err.msg);
    return cfg;
}

static void list_keys(const sl_config *cfg)
{
    for (size_t i = 0; i < sl_config_count(cfg); i++)
        printf("%-18s %-12s %s\n", sl_config_name_at(cfg, i), sl_config_value_at(cfg, i),
               sl_config_key_at(cfg, i)->doc);
}

/* ---- One image: draw or render, then the side outputs ------------------- */

typedef struct job {
    uint64_t index;
    sl_catalog cat;
    float *pixels;
    int failed;
    sl_err err;
} job;

typedef struct worker {
    pthread_t thread;
    const sl_scene *scene;
    const sl_prior *prior;
    uint64_t seed;
    sl_renderer *renderer;
    job *jobs;
    int first_job, n_jobs, stride;
} worker;

static int draw_image(worker *w, job *jb, int sample_catalog)
{
    if (sample_catalog && sl_prior_sample(w->prior, w->seed, jb->index, &jb->cat) < 0)
        return sl_err_set(&jb->err, "image %llu: out of memory", (unsigned long long)jb->index);
    if (sl_render_expected(w->renderer, &jb->cat, jb->pixels, &jb->err) < 0)
        return sl_err_prefix(&jb->err, "image %llu", (unsigned long long)jb->index);
    if (sample_catalog)
        sl_render_metrics(w->renderer, jb->pixels, &jb->cat);
    if (!opt.noiseless)
        sl_render_noise(w->scene, jb->pixels, w->seed, jb->index);
    return 0;
}

/* Worker t takes jobs t, t + T, t + 2T, ...: which thread draws an image
 * does not matter, since an image depends on its index alone. */
static void *work(void *arg)
{
    worker *w = arg;
    for (int i = w->first_job; i < w->n_jobs; i += w->stride) {
        job *jb = &w->jobs[i];
        jb->failed = draw_image(w, jb, !opt.render) < 0;
    }
    return NULL;
}

static void pack_image(sl_writer *out, const sl_scene *sc, int64_t id, const float *pixels,
                       const sl_catalog *cat, const char *catalog_key)
{
    sl_image img;
    sl_scene_to_image(sc, id, pixels, &img);
    sl_map m;
    sl_writer_begin(out, &m, "image", 1 + sl_image_n_keys(&img) + 3);
    sl_image_pack(&m, &img);
    sl_scene_pack_psf(sl_map_key(&m, "psf"), sc);
    sl_map_bool(&m, "noiseless", opt.noiseless);
    sl_catalog_pack(sl_map_key(&m, catalog_key), cat);
    sl_cli_record_end(out, &m);
}

/* With --render --catalog estimate --compare: the record's true catalog,
 * whose lens systems are circled on the input panel (n 0 when it has none). */
static sl_catalog truth_marks;

/* The preview of an image, or with an input (--compare) three panels side by
 * side: the input, the rendering and the residual input - rendering + sky,
 * separated by gaps of sky, so that one stretch shows all three.  With
 * --mark-lenses the drawn catalog's lens systems are circled in red on every
 * panel, and with --compare the true ones (when the drawn catalog is not the
 * truth) in green on the input. */
static void write_png(const sl_scene *sc, int64_t id, const float *pixels, const float *input,
                      const sl_catalog *cat)
{
    enum { GAP = 2 };
    int w = sc->width, h = sc->height, panels = input ? 3 : 1, W = panels * w + (panels - 1) * GAP;
    size_t plane = (size_t)w * h;
    float *canvas = (float *)pixels;
    if (input) {
        if (!(canvas = malloc((size_t)W * h * sc->n_bands * sizeof *canvas)))
            sl_die("out of memory");
        for (int b = 0; b < sc->n_bands; b++)
            for (int y = 0; y < h; y++) {
                float *row = canvas + ((size_t)b * h + y) * W;
                const float *in = input + b * plane + (size_t)y * w;
                const float *model = pixels + b * plane + (size_t)y * w;
                for (int x = 0; x < W; x++)
                    row[x] = (float)sc->sky[b];
                for (int x = 0; x < w; x++) {
                    row[x] = in[x];
                    row[w + GAP + x] = model[x];
                    row[2 * (w + GAP) + x] = in[x] - model[x] + (float)sc->sky[b];
                }
            }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/image-%06lld.png", opt.png_dir, (long long)id);
    sl_marker *marks = calloc((size_t)cat->n * panels + (size_t)truth_marks.n + 1, sizeof *marks);
    if (!marks)
        sl_die("out of memory");
    int n = 0;
    for (int i = 0; opt.mark_lenses && input && i < truth_marks.n; i++)
        if (truth_marks.src[i].lens)
            marks[n++] = (sl_marker){truth_marks.src[i].x, truth_marks.src[i].y,
                                     truth_marks.src[i].theta_e / sc->pixel_scale, {64, 220, 64}};
    for (int i = 0; opt.mark_lenses && i < cat->n; i++)
        for (int p = 0; p < panels && cat->src[i].lens; p++)
            marks[n++] = (sl_marker){cat->src[i].x + p * (w + GAP), cat->src[i].y,
                                     cat->src[i].theta_e / sc->pixel_scale, {255, 64, 64}};
    sl_err err;
    int rc = sl_png_write_preview(path, canvas, W, h, sc->n_bands, sc->sky, marks, n,
                                  opt.png_scale, &err);
    free(marks);
    if (input)
        free(canvas);
    if (rc < 0)
        sl_die_err(&err);
}

/* One image HDU per band with what a reader needs to use it, and the truth
 * as a binary table (per-band columns split as flux_r, flux_g, ...). */
static int write_fits(const char *path, const sl_scene *sc, const float *pixels,
                      const sl_catalog *cat, int64_t id, sl_err *err)
{
    size_t plane = (size_t)sc->width * sc->height;
    sl_fits_image_out images[SL_MAX_BANDS];
    enum { N_KEYS = 8 + SL_WCS_TAN_NKEYS };
    sl_fits_key keys[SL_MAX_BANDS][N_KEYS];
    for (int b = 0; b < sc->n_bands; b++) {
        keys[b][0] = SL_FITS_KEY_S("EXTNAME", sc->bands[b], "band");
        keys[b][1] = SL_FITS_KEY_S("BAND", sc->bands[b], "filter");
        /* "ct" (counts) is the FITS standard's unit; "electron" is not one. */
        keys[b][2] = SL_FITS_KEY_S("BUNIT", "ct", "pixel values are electrons (counts)");
        keys[b][3] = SL_FITS_KEY_D("PIXSCALE", sc->pixel_scale, "arcsec per pixel");
        keys[b][4] = SL_FITS_KEY_D("ZEROPT", sc->zero_point[b], "AB mag of 1 electron");
        keys[b][5] = SL_FITS_KEY_D("GAIN", sc->gain[b], "electrons per ADU");
        keys[b][6] = SL_FITS_KEY_D("SKY", sc->sky[b], "sky background, electrons per pixel");
        keys[b][7] = SL_FITS_KEY_D("PSFFWHM", sl_psf_fwhm(&sc->psf[b]) * sc->pixel_scale,
                                   "PSF FWHM, arcsec");
        sl_wcs_tan_keys(opt.ra, opt.dec, sc->pixel_scale, sc->width, sc->height, keys[b] + 8);
        images[b] = (sl_fits_image_out){pixels + b * plane, sc->width, sc->height, keys[b],
                                        N_KEYS};
    }
    size_t n_cols = 0, k_max = sl_catalog_n_columns();
    sl_fits_column_out *cols = calloc(k_max * sc->n_bands, sizeof *cols);
    double *values = malloc((k_max * sc->n_bands * (size_t)cat->n + 1) * sizeof *values);
    char (*names)[40] = calloc(k_max * sc->n_bands, sizeof *names);
    if (!cols || !values || !names) {
        free(cols), free(values), free(names);
        return sl_err_set(err, "%s: out of memory", path);
    }
    for (size_t k = 0; k < k_max; k++) {
        int per_band;
        const char *unit, *name = sl_catalog_column_name(k, &per_band, &unit);
        for (int b = 0; b < (per_band ? sc->n_bands : 1); b++) {
            double *v = values + n_cols * (size_t)cat->n;
            sl_catalog_column_values(cat, k, b, v);
            if (per_band)
                snprintf(names[n_cols], sizeof names[n_cols], "%s_%s", name, sc->bands[b]);
            else
                snprintf(names[n_cols], sizeof names[n_cols], "%s", name);
            cols[n_cols] = (sl_fits_column_out){.name = names[n_cols], .unit = unit,
                                                .type = SL_FITS_DOUBLE, .d = v};
            n_cols++;
        }
    }
    sl_fits_key table_keys[] = {SL_FITS_KEY_S("EXTNAME", "TRUTH", "the catalog drawn")};
    sl_fits_table_out table = {cat->n, cols, (int)n_cols, table_keys, 1};
    sl_fits_key primary[] = {
        SL_FITS_KEY_I("IMAGEID", id, "image index k (seed s, image k)"),
        SL_FITS_KEY_I("SEED", (long long)sl_cli_state.seed, "random seed"),
        SL_FITS_KEY_S("CREATOR", "sl-simulate " SL_VERSION, "strong-lens toolchain"),
        SL_FITS_KEY_I("NOISELES", opt.noiseless, "1 if the expected image, no noise"),
    };
    sl_fits_out out = {primary, 4, images, sc->n_bands, &table, 1};
    int rc = sl_fits_write(path, &out, err);
    free(cols), free(values), free(names);
    return rc;
}

static void emit_side_outputs(const sl_scene *sc, const job *jb, int64_t id, const float *input)
{
    if (opt.fits_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/image-%06lld.fits", opt.fits_dir, (long long)id);
        sl_err err;
        if (write_fits(path, sc, jb->pixels, &jb->cat, id, &err) < 0)
            sl_die_err(&err);
    }
    if (opt.png_dir)
        write_png(sc, id, jb->pixels, input, &jb->cat);
}


static void ensure_dir(const char *dir)
{
    if (mkdir(dir, 0777) < 0 && errno != EEXIST)
        sl_die("%s: cannot create directory: %s", dir, strerror(errno));
}

/* ---- --render: draw the catalogs of image records ------------------------ */

/* The seed sl-simulate drew the images of a header's stream with: the last
 * sl-simulate in its provenance (the header itself included); -1 if none. */
static int64_t simulated_seed(const msgpack_object *hdr)
{
    int64_t seed = -1;
    const msgpack_object *prov = sl_obj_get(hdr, "provenance");
    for (uint32_t i = 0; prov && prov->type == MSGPACK_OBJECT_ARRAY && i <= prov->via.array.size;
         i++) {
        const msgpack_object *h = i < prov->via.array.size ? &prov->via.array.ptr[i] : hdr;
        const msgpack_object *s = sl_obj_get(h, "seed");
        if (sl_obj_is_str(sl_obj_get(h, "tool"), "sl-simulate") && s &&
            s->type == MSGPACK_OBJECT_POSITIVE_INTEGER && s->via.u64 <= INT64_MAX)
            seed = (int64_t)s->via.u64;
    }
    return seed;
}

/* Redrawing the truth gives the same images only with the seed they were
 * drawn with: say so when -s differs (before the output takes the headers). */
static void check_render_seed(sl_reader **in, int n_in)
{
    if (opt.noiseless || strcmp(opt.catalog_key, "truth") != 0)
        return;
    for (int i = 0; i < n_in; i++) {
        size_t len;
        const char *raw = sl_reader_last_header(in[i], &len);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (raw && msgpack_unpack_next(&u, raw, len, NULL) == MSGPACK_UNPACK_SUCCESS) {
            int64_t seed = simulated_seed(&u.data);
            if (seed >= 0 && (uint64_t)seed != sl_cli_state.seed)
                sl_note("%s was simulated with seed %lld: its images are redrawn bit for bit "
                        "with -s %lld, and with -s %llu the noise differs",
                        sl_reader_name(in[i]), (long long)seed, (long long)seed,
                        (unsigned long long)sl_cli_state.seed);
        }
        msgpack_unpacked_destroy(&u);
    }
}

/* Writes the input record with its pixels replaced by the rendering: every
 * other key (truth, estimate, patch origin, unknown keys) passes through. */
static void pack_rendered(sl_writer *out, const sl_record *rec, const float *pixels, size_t n)
{
    static const char *const replaced[] = {"pixels", "noiseless", "rendered_from", NULL};
    sl_map m;
    sl_image_rewrite_begin(out, &m, rec, replaced, 3);
    sl_map_f32(&m, "pixels", pixels, n);
    sl_map_bool(&m, "noiseless", opt.noiseless);
    sl_map_str(&m, "rendered_from", opt.catalog_key);
    sl_cli_record_end(out, &m);
}

static long run_render(const sl_scene *configured, sl_writer *out, sl_reader **in, int n_in)
{
    long n_images = 0;
    sl_err err;
    sl_record rec;
    sl_image img;
    sl_image_init(&img);
    sl_scene scene = {0}, current = {0};
    sl_renderer *renderer = NULL;
    job jb = {0};
    sl_catalog_init(&jb.cat, 1);
    sl_catalog_init(&truth_marks, 1);
    size_t cap = 0;
    int f = 0;
    while (sl_cli_next_image(in, n_in, &f, out, &rec)) {
        sl_scene_copy(&scene, configured);
        if (sl_image_read(&img, &rec, &err) < 0 || sl_scene_from_image(&scene, &img, &rec, &err) < 0 ||
            sl_catalog_read(&jb.cat, &rec, opt.catalog_key, img.n_bands, &err) < 0)
            sl_die_err(&err);
        truth_marks.n = 0;
        if (opt.compare && opt.mark_lenses && strcmp(opt.catalog_key, "truth") != 0 &&
            sl_rec_get(&rec, "truth") &&
            sl_catalog_read(&truth_marks, &rec, "truth", img.n_bands, &err) < 0)
            sl_die_err(&err);
        /* Plans and PSF stamps are remade only when the scene changes. */
        if (!renderer || sl_scene_differs(&scene, &current)) {
            sl_renderer_free(renderer);
            sl_scene_free(&current);
            sl_scene_copy(&current, &scene);
            if (!(renderer = sl_renderer_new(&current, &err)))
                sl_die_err(&err);
        }
        /* The sky is not part of the renderer: it may change from record to record. */
        memcpy(current.sky, scene.sky, sizeof current.sky);
        size_t n = (size_t)img.width * img.height * img.n_bands;
        if (n > cap) {
            free(jb.pixels);
            if (!(jb.pixels = malloc(n * sizeof *jb.pixels)))
                sl_die("out of memory for a %d x %d image", img.width, img.height);
            cap = n;
        }
        worker w = {.scene = &current, .seed = sl_cli_state.seed, .renderer = renderer};
        jb.index = (uint64_t)img.id;
        if (draw_image(&w, &jb, 0) < 0)
            sl_die("%s: record %ld: %s", rec.file, rec.num, jb.err.msg);
        pack_rendered(out, &rec, jb.pixels, n);
        sl_cli_check_output(out);
        emit_side_outputs(&current, &jb, img.id, opt.compare ? img.pixels : NULL);
        sl_scene_free(&scene);
        n_images++;
        sl_cli_progress(n_images, "images", sl_cli_inputs_fraction(in, n_in));
    }
    sl_renderer_free(renderer);
    sl_scene_free(&current);
    sl_catalog_free(&jb.cat);
    sl_catalog_free(&truth_marks);
    free(jb.pixels);
    sl_image_free(&img);
    return n_images;
}

/* ---- Main loops --------------------------------------------------------- */

static void run_batch(worker *workers, int n_threads, job *jobs, int n_jobs)
{
    for (int t = 0; t < n_threads; t++) {
        workers[t].jobs = jobs;
        workers[t].first_job = t;
        workers[t].n_jobs = n_jobs;
        workers[t].stride = n_threads;
    }
    if (n_threads == 1) {
        work(&workers[0]);
        return;
    }
    for (int t = 0; t < n_threads; t++)
        if (pthread_create(&workers[t].thread, NULL, work, &workers[t]) != 0)
            sl_die("cannot start a worker thread");
    for (int t = 0; t < n_threads; t++)
        pthread_join(workers[t].thread, NULL);
}

static void emit(sl_writer *out, const sl_scene *sc, job *jb, int64_t id)
{
    if (jb->failed)
        sl_die_err(&jb->err);
    pack_image(out, sc, id, jb->pixels, &jb->cat, opt.catalog_key);
    sl_cli_check_output(out);
    emit_side_outputs(sc, jb, id, NULL);
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"count", required_argument, NULL, 'n'},
        {"first", required_argument, NULL, OPT_FIRST},
        {"preset", required_argument, NULL, 'p'},
        {"bands", required_argument, NULL, 'b'},
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, OPT_SET},
        {"list-keys", no_argument, NULL, OPT_LIST_KEYS},
        {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
        {"fits", required_argument, NULL, OPT_FITS},
        {"png", required_argument, NULL, OPT_PNG},
        {"png-scale", required_argument, NULL, OPT_PNG_SCALE},
        {"compare", no_argument, NULL, OPT_COMPARE},
        {"mark-lenses", no_argument, NULL, OPT_MARK},
        {"sky-centre", required_argument, NULL, OPT_SKY_CENTRE},
        {"render", no_argument, NULL, OPT_RENDER},
        {"catalog", required_argument, NULL, OPT_CATALOG},
        {"noiseless", no_argument, NULL, OPT_NOISELESS},
        {NULL, 0, NULL, 0}};
    const sl_cli_spec spec = {"sl-simulate", usage, "n:p:b:c:", longs, on_option, 1, 0};
    sl_cli_takes_progress();
    sl_cli_parse(&spec, argc, argv);
    if (!opt.render && sl_cli_state.n_inputs > 0)
        sl_usage_error("input files are read only with --render");
    if (opt.compare && !(opt.render && opt.png_dir))
        sl_usage_error("--compare goes with --render and --png");
    if (opt.render && (opt.count_given || opt.first || sl_cli_state.threads > 1))
        sl_usage_error("--render draws every image record it reads: -n, --first and -j do not apply");
    if (opt.render && sl_cli_state.n_inputs == 0) {
        if (isatty(STDIN_FILENO)) {
            fputs(usage, stderr);
            return SL_EXIT_USAGE;
        }
        static char *stdin_name[] = {"-"};
        sl_cli_state.inputs = stdin_name;
        sl_cli_state.n_inputs = 1;
    }
    sl_cli_state.seed_given = 1; /* the default seed is part of the provenance too */

    sl_config *cfg = load_config();
    if (opt.list_keys || opt.print_config) {
        if (opt.list_keys)
            list_keys(cfg);
        else
            sl_config_write(cfg, stdout);
        sl_config_free(cfg);
        sl_cli_close_stdout();
        return SL_EXIT_OK;
    }
    sl_err err;
    sl_prior prior;
    sl_scene scene;
    if (sl_prior_from_config(&prior, cfg, &err) < 0 || sl_scene_from_config(&scene, cfg, &err) < 0)
        sl_die_err(&err);
    if (opt.fits_dir)
        ensure_dir(opt.fits_dir);
    if (opt.png_dir)
        ensure_dir(opt.png_dir);

    int n_threads = sl_cli_state.threads;
    worker *workers = calloc((size_t)n_threads, sizeof *workers);
    int batch = 8 * n_threads;
    job *jobs = calloc((size_t)batch, sizeof *jobs);
    size_t n_pixels = (size_t)scene.width * scene.height * scene.n_bands;
    if (!workers || !jobs)
        sl_die("out of memory");
    for (int t = 0; t < n_threads; t++) {
        workers[t] = (worker){.scene = &scene, .prior = &prior, .seed = sl_cli_state.seed};
        if (!(workers[t].renderer = sl_renderer_new(&scene, &err)))
            sl_die_err(&err);
    }
    for (int i = 0; i < batch; i++) {
        sl_catalog_init(&jobs[i].cat, scene.n_bands);
        if (!(jobs[i].pixels = malloc(n_pixels * sizeof *jobs[i].pixels)))
            sl_die("out of memory for a batch of %d images", batch);
    }

    /* Provenance: the configuration in effect goes into the header. */
    size_t n_cfg = sl_config_count(cfg);
    const char **names = malloc(n_cfg * sizeof *names), **values = malloc(n_cfg * sizeof *values);
    if (!names || !values)
        sl_die("out of memory");
    for (size_t i = 0; i < n_cfg; i++) {
        names[i] = sl_config_name_at(cfg, i);
        values[i] = sl_config_value_at(cfg, i);
    }
    sl_provenance prov = sl_cli_provenance();
    prov.n_config = n_cfg;
    prov.config_names = names;
    prov.config_values = values;

    int n_in = opt.render ? sl_cli_state.n_inputs : 0;
    /* Which shard: the summary and progress lines of parallel jobs differ. */
    if (opt.render)
        sl_cli_label("%s", sl_cli_inputs_label());
    else if (opt.count)
        sl_cli_label("seed %llu, images %ld-%ld", (unsigned long long)sl_cli_state.seed,
                     opt.first, opt.first + opt.count - 1);
    else
        sl_cli_label("seed %llu, images %ld on", (unsigned long long)sl_cli_state.seed, opt.first);
    sl_reader **in = sl_cli_open_inputs(1);
    if (opt.render)
        check_render_seed(in, n_in);
    sl_writer *out = sl_cli_output_open(sl_cli_state.output, &prov, in, (size_t)n_in);
    long n_images = opt.render ? run_render(&scene, out, in, n_in) : 0;

    uint64_t next = (uint64_t)opt.first;
    uint64_t end = opt.render ? next : opt.count ? next + (uint64_t)opt.count : UINT64_MAX;
    while (next < end) {
        int n = end - next < (uint64_t)batch ? (int)(end - next) : batch;
        for (int i = 0; i < n; i++)
            jobs[i].index = next + (uint64_t)i;
        run_batch(workers, n_threads, jobs, n);
        for (int i = 0; i < n; i++)
            emit(out, &scene, &jobs[i], (int64_t)jobs[i].index);
        next += (uint64_t)n;
        n_images += n;
        sl_cli_progress(n_images, "images", opt.count ? (double)n_images / (double)opt.count : -1);
    }

    sl_cli_output_close(out, in, (size_t)n_in);
    sl_cli_close_inputs(in);
    for (int t = 0; t < n_threads; t++)
        sl_renderer_free(workers[t].renderer);
    for (int i = 0; i < batch; i++) {
        sl_catalog_free(&jobs[i].cat);
        free(jobs[i].pixels);
    }
    free(jobs);
    free(workers);
    free(names);
    free(values);
    sl_scene_free(&scene);
    sl_config_free(cfg);
    sl_cli_summary("%ld images", n_images);
    return 0;
}
