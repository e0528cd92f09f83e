/* sl-encode: run trained encoders on image records (whole images or the
 * patches of sl-tile) and add an `estimate` catalog to each: the cascade of
 * seed 000, detection per tile, then the cut-out encoders at the detected
 * sources (libcommon/encode.h).  Every other key of a record passes through,
 * so the stream stays an image stream: sl-merge stitches the patches'
 * estimates, sl-simulate --render draws them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encode.h"
#include "record.h"
#include "sha256.h"

static const char usage[] =
    "Usage: sl-encode -m MODEL [-m MODEL...] [options] [FILE...]\n"
    "Add an estimated catalog, with a posterior for every source, to each image\n"
    "record of the FILEs or standard input.\n"
    "\n"
    "Options:\n"
    "  -m, --model FILE      a model from sl-train; one per task (detect, classify,\n"
    "                        galaxy, lens-detect, lens), detect required unless --at\n"
    "      --threshold P     a tile holds a source when P(source) > P [0.5]\n"
    "      --all-factors     run every encoder at every source (by default galaxy\n"
    "                        runs at galaxies and lens systems, lens at lens systems)\n"
    "      --at KEY          run the cut-out encoders at the sources of the records'\n"
    "                        KEY catalog (truth) instead of detecting\n"
    "      --lens-rate R     P(lens) for a base rate of R lens systems per galaxy, or\n"
    "                        'train': the training prior's [train for streams from\n"
    "                        sl-simulate, else 0.001]\n"
    "      --galaxy-rate G   P(galaxy) for a fraction G of sources being galaxies, or\n"
    "                        'train' [train]\n"
    "      --samples K       also K joint samples of each catalog from the posterior\n"
    "                        (key samples: K catalogs in the truth's form) [0]\n"
    "  -s, --seed INT        seed of the samples [1]\n"
    "      --batch N         samples per forward pass [64]\n"
    "      --no-pixels       drop pixels and background_map from the output records\n"
    "  -o, --output FILE     write FILE instead of standard output\n"
    "  -j, --threads INT     threads; the result does not depend on it [1]\n"
    "      --progress        a progress line (images, rate, ETA) on stderr even when it\n"
    "                        is not a terminal (on a terminal it is always shown)\n"
    "  -q, --quiet           no notes, no progress and no summary\n"
    "  -h, --help            this text\n"
    "      --version         the version\n"
    "\n"
    "Exit status: 0 success, 1 data or runtime error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-tile frame-r.fits -m detect.slm | sl-encode -m detect.slm | sl-merge -o cat.fits\n"
    "  sl-simulate -n 100 | sl-encode -m detect.slm -m classify.slm -o est.slr\n"
    "  sl-encode --at truth -m lens.slm val.slr | sl-cat\n";

enum { OPT_THRESHOLD = 256, OPT_AT, OPT_BATCH, OPT_NO_PIXELS, OPT_SAMPLES, OPT_ALL,
       OPT_LENS_RATE, OPT_GALAXY_RATE };

/* The default base rate of lens systems for real frames: of order one
 * detectable galaxy-scale strong lens per thousand massive galaxies (Collett
 * 2015, ApJ 811, 20), where the training prior makes 20% of galaxies lenses. */
#define SKY_LENS_RATE 1e-3

#define MAX_MODELS SL_N_TASKS

static struct {
    const char *models[MAX_MODELS];
    int n_models;
    double threshold;
    const char *at;
    long batch, samples;
    int no_pixels, all_factors;
    double rate[2];    /* SL_RATE_LENS, SL_RATE_GALAXY; NaN: the training prior's */
    int rate_given[2];
} opt = {.threshold = 0.5, .batch = 64, .rate = {NAN, NAN}};

/* R in (0, 1), or "train" (NaN). */
static void rate_option(int which, const char *name, const char *arg)
{
    opt.rate_given[which] = 1;
    opt.rate[which] = strcmp(arg, "train") == 0 ? NAN : sl_cli_double(name, arg, 0, 1);
    if (opt.rate[which] == 0 || opt.rate[which] == 1)
        sl_usage_error("option %s: a base rate is a probability strictly between 0 and 1, "
                       "or 'train'", name);
}

static int on_option(int c, const char *arg)
{
    switch (c) {
    case 'm':
        if (opt.n_models == MAX_MODELS)
            sl_usage_error("at most %d models (one per task)", MAX_MODELS);
        opt.models[opt.n_models++] = arg;
        break;
    case OPT_THRESHOLD: opt.threshold = sl_cli_double("--threshold", arg, 0, 1); break;
    case OPT_AT: opt.at = arg; break;
    case OPT_BATCH: opt.batch = sl_cli_long("--batch", arg, 1, 4096); break;
    case OPT_NO_PIXELS: opt.no_pixels = 1; break;
    case OPT_ALL: opt.all_factors = 1; break;
    case OPT_SAMPLES: opt.samples = sl_cli_long("--samples", arg, 0, 65536); break;
    case OPT_LENS_RATE: rate_option(SL_RATE_LENS, "--lens-rate", arg); break;
    case OPT_GALAXY_RATE: rate_option(SL_RATE_GALAXY, "--galaxy-rate", arg); break;
    default: return -1;
    }
    return 0;
}

/* The input record with `estimate` set (replacing one already there). */
static void write_estimate(sl_writer *out, const sl_record *rec, const sl_table *est,
                           const sl_catalog *samples)
{
    static const char *const replaced[] = {"estimate", "samples", NULL};
    static const char *const replaced_no_pixels[] = {"estimate", "samples", "pixels",
                                                     "background_map", NULL};
    sl_map m;
    sl_image_rewrite_begin(out, &m, rec, opt.no_pixels ? replaced_no_pixels : replaced,
                           1 + (opt.samples > 0));
    sl_table_pack(sl_map_key(&m, "estimate"), est);
    if (opt.samples) {
        msgpack_packer *pk = sl_map_key(&m, "samples");
        msgpack_pack_array(pk, (uint32_t)opt.samples);
        for (long k = 0; k < opt.samples; k++)
            sl_catalog_pack(pk, &samples[k]);
    }
    sl_cli_record_end(out, &m);
}

/* Whether the first input was simulated: its header, or one in its
 * provenance, is sl-simulate's. */
static int simulated(sl_reader *const *in, int n_in)
{
    size_t len;
    const char *raw = n_in > 0 ? sl_reader_last_header(in[0], &len) : NULL;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int sim = raw && msgpack_unpack_next(&u, raw, len, &off) == MSGPACK_UNPACK_SUCCESS &&
              sl_model_prior_of(&u.data) != NULL;
    msgpack_unpacked_destroy(&u);
    return sim;
}

/* The header's configuration: the threshold, the base rates and each model
 * with its SHA-256, so that a catalog says what made it. */
typedef struct config {
    char text[2 * SL_N_TASKS + 5][SL_SHA256_HEX + 64];
    const char *names[2 * SL_N_TASKS + 5], *values[2 * SL_N_TASKS + 5];
    char model_names[2 * SL_N_TASKS][40];
    size_t n;
} config;

static void config_add(config *c, const char *name, const char *value)
{
    snprintf(c->text[c->n], sizeof c->text[c->n], "%s", value);
    c->names[c->n] = name;
    c->values[c->n] = c->text[c->n];
    c->n++;
}

/* The shortest text that reads back as v (0.2, not 0.20000000000000001);
 * NaN, "train": the training prior's. */
static void config_num(config *c, const char *name, double v)
{
    char text[32] = "train";
    for (int digits = 15; !isnan(v) && digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    config_add(c, name, text);
}

static sl_provenance provenance(config *c, const sl_encoder *enc)
{
    sl_err err;
    config_num(c, "threshold", opt.threshold);
    config_num(c, "lens_rate", opt.rate[SL_RATE_LENS]);
    config_num(c, "lens_rate_train", sl_encoder_train_rate(enc, SL_RATE_LENS));
    config_num(c, "galaxy_rate", opt.rate[SL_RATE_GALAXY]);
    config_num(c, "galaxy_rate_train", sl_encoder_train_rate(enc, SL_RATE_GALAXY));
    for (int i = 0; i < opt.n_models; i++) {
        char hex[SL_SHA256_HEX];
        if (sl_sha256_file(opt.models[i], hex, &err) < 0)
            sl_die_err(&err);
        snprintf(c->model_names[2 * i], sizeof c->model_names[0], "model%d", i + 1);
        snprintf(c->model_names[2 * i + 1], sizeof c->model_names[0], "model%d_sha256", i + 1);
        config_add(c, c->model_names[2 * i], opt.models[i]);
        config_add(c, c->model_names[2 * i + 1], hex);
    }
    sl_provenance p = sl_cli_provenance();
    p.n_config = c->n;
    p.config_names = c->names;
    p.config_values = c->values;
    return p;
}

/* The output, with a header that says what its probabilities refer to.
 * Simulations keep the training prior's (what calibration compares with);
 * real frames get the sky's base rate of lenses, when the lens finder
 * records the rate it was trained with. */
static sl_writer *open_output(sl_encoder *enc, sl_reader **in, int n_in)
{
    sl_err err;
    if (!opt.rate_given[SL_RATE_LENS] && !simulated(in, n_in) &&
        !isnan(sl_encoder_train_rate(enc, SL_RATE_LENS)))
        opt.rate[SL_RATE_LENS] = SKY_LENS_RATE;
    for (int k = 0; k < 2; k++)
        if (sl_encoder_set_rate(enc, k, opt.rate[k], &err) < 0)
            sl_die_err(&err);
    config cfg = {.n = 0};
    sl_provenance prov = provenance(&cfg, enc);
    return sl_cli_output_open(sl_cli_state.output, &prov, in, (size_t)n_in);
}

/* Which images or patches a run saw, for the label of its summary and
 * progress lines ("frame-r.slr [image 0, patches 12-23 of 48]"): shards run
 * side by side tell their lines apart. */
typedef struct shard {
    long n;
    int64_t id_lo, id_hi;      /* ids of whole images, parents of patches */
    int patch_lo, patch_hi, patches, n_patches, one_parent;
} shard;

static void shard_add(shard *s, const sl_image *img)
{
    int64_t id = img->is_patch ? img->parent : img->id;
    if (s->n == 0) {
        s->id_lo = s->id_hi = id;
        s->patch_lo = s->patch_hi = img->patch;
        s->one_parent = 1;
    }
    s->one_parent &= id == s->id_lo;
    s->id_lo = id < s->id_lo ? id : s->id_lo;
    s->id_hi = id > s->id_hi ? id : s->id_hi;
    if (img->is_patch) {
        s->n_patches++;
        s->patches = img->patches;
        s->patch_lo = img->patch < s->patch_lo ? img->patch : s->patch_lo;
        s->patch_hi = img->patch > s->patch_hi ? img->patch : s->patch_hi;
    }
    s->n++;
    char what[160];
    if (s->n_patches && s->n_patches == s->n && s->one_parent && s->patch_lo == s->patch_hi)
        snprintf(what, sizeof what, "image %lld, patch %d of %d", (long long)s->id_lo,
                 s->patch_lo, s->patches);
    else if (s->n_patches && s->n_patches == s->n && s->one_parent)
        snprintf(what, sizeof what, "image %lld, patches %d-%d of %d", (long long)s->id_lo,
                 s->patch_lo, s->patch_hi, s->patches);
    else if (s->n_patches)
        snprintf(what, sizeof what, "images %lld-%lld, %d patches", (long long)s->id_lo,
                 (long long)s->id_hi, s->n_patches);
    else if (s->id_lo == s->id_hi)
        snprintf(what, sizeof what, "image %lld", (long long)s->id_lo);
    else
        snprintf(what, sizeof what, "images %lld-%lld", (long long)s->id_lo, (long long)s->id_hi);
    const char *inputs = sl_cli_inputs_label();
    sl_cli_label("%s%s[%s]", inputs, inputs[0] ? " " : "", what);
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"at", required_argument, NULL, OPT_AT},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"no-pixels", no_argument, NULL, OPT_NO_PIXELS},
        {"all-factors", no_argument, NULL, OPT_ALL},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"lens-rate", required_argument, NULL, OPT_LENS_RATE},
        {"galaxy-rate", required_argument, NULL, OPT_GALAXY_RATE},
        {NULL, 0, NULL, 0}};
    sl_cli_spec spec = {.tool = "sl-encode", .usage = usage, .short_opts = "m:",
                        .long_opts = long_opts, .on_option = on_option, .default_seed = 1,
                        .reads_input = 1};
    sl_cli_takes_progress();
    sl_cli_parse(&spec, argc, argv);
    if (opt.n_models == 0)
        sl_usage_error("no model: give one or more with -m");

    sl_err err;
    sl_encoder *enc = sl_encoder_new((int)opt.batch, sl_cli_state.threads, opt.threshold,
                                     opt.at != NULL, &err);
    if (!enc)
        sl_die_err(&err);
    for (int i = 0; i < opt.n_models; i++)
        if (sl_encoder_load(enc, opt.models[i], &err) < 0)
            sl_die_err(&err);
    if (!opt.at && !sl_encoder_model(enc, SL_TASK_DETECT))
        sl_usage_error("no detect model: give one with -m, or use --at truth");
    if (opt.samples && opt.at)
        sl_usage_error("--samples draws whole catalogs: it needs detection, not --at");
    if (opt.all_factors)
        sl_encoder_set_gated(enc, 0);
    if (sl_encoder_check_cascade(enc, &err) < 0)
        sl_usage_error("%s", err.msg);
    if (sl_encoder_set_samples(enc, (int)opt.samples, sl_cli_state.seed, &err) < 0)
        sl_die_err(&err);
    /* Static, so that it stays reachable when a later error exits (no leak
     * report from LeakSanitizer about it). */
    static sl_catalog *samples;
    samples = calloc((size_t)opt.samples + 1, sizeof *samples);
    if (!samples)
        sl_die("out of memory");

    int n_in = sl_cli_state.n_inputs, f = 0;
    sl_cli_label("%s", sl_cli_inputs_label());
    shard seen = {0};
    sl_reader **in = sl_cli_open_inputs(1);
    sl_writer *out = open_output(enc, in, n_in);

    sl_record rec;
    sl_image img;
    sl_image_init(&img);
    sl_table est;
    sl_table_init(&est);
    sl_catalog at;
    sl_catalog_init(&at, 1);
    long n_images = 0, n_sources = 0, n_nan_total = 0;
    while (sl_cli_next_image(in, n_in, &f, out, &rec)) {
        long n_nan = 0;
        if (sl_image_read(&img, &rec, &err) < 0 ||
            (opt.at && sl_catalog_read(&at, &rec, opt.at, img.n_bands, &err) < 0))
            sl_die_err(&err);
        for (long k = 0; k < opt.samples; k++)
            samples[k].n_bands = img.n_bands;
        if (sl_encode_image(enc, &img, opt.at ? &at : NULL, &est, samples, &n_nan, &err) < 0)
            sl_die("%s: record %ld: %s", rec.file, rec.num, err.msg);
        write_estimate(out, &rec, &est, samples);
        sl_cli_check_output(out);
        n_images++;
        n_sources += est.n;
        n_nan_total += n_nan;
        shard_add(&seen, &img);
        sl_cli_progress(n_images, "images", sl_cli_inputs_fraction(in, n_in));
    }
    sl_cli_output_close(out, in, (size_t)n_in);
    sl_cli_close_inputs(in);
    if (n_nan_total)
        sl_note("%ld NaN pixels masked (read as background)", n_nan_total);
    sl_catalog_free(&at);
    for (long k = 0; k < opt.samples; k++)
        sl_catalog_free(&samples[k]);
    free(samples);
    sl_table_free(&est);
    sl_image_free(&img);
    sl_encoder_free(enc);
    sl_cli_summary("%ld images, %ld sources", n_images, n_sources);
    return 0;
}
