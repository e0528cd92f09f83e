/* sl-encode: run trained encoders on image records (whole images or the
 * patches of sl-tile) and add an `estimate` catalog to each: the cascade of
 * seed 000, detection per tile, then the cut-out encoders at the detected
 * sources (libcommon/encode.h).  Every other key of a record passes through,
 * so the stream stays an image stream: sl-merge stitches the patches'
 * estimates, sl-simulate --render draws them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encode.h"
#include "record.h"

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
    "      --samples K       also K joint samples of each catalog from the posterior\n"
    "                        (key samples: K catalogs in the truth's form) [0]\n"
    "  -s, --seed INT        seed of the samples [1]\n"
    "      --batch N         samples per forward pass [64]\n"
    "      --no-pixels       drop pixels and background_map from the output records\n"
    "  -o, --output FILE     write FILE instead of standard output\n"
    "  -j, --threads INT     threads; the result does not depend on it [1]\n"
    "  -q, --quiet           no notes and no summary\n"
    "  -h, --help            this text\n"
    "      --version         the version\n"
    "\n"
    "Exit status: 0 success, 1 data or runtime error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-tile frame-r.fits -m detect.slm | sl-encode -m detect.slm | sl-merge -o cat.fits\n"
    "  sl-simulate -n 100 | sl-encode -m detect.slm -m classify.slm -o est.slr\n"
    "  sl-encode --at truth -m lens.slm val.slr | sl-cat\n";

enum { OPT_THRESHOLD = 256, OPT_AT, OPT_BATCH, OPT_NO_PIXELS, OPT_SAMPLES, OPT_ALL };

#define MAX_MODELS SL_N_TASKS

static struct {
    const char *models[MAX_MODELS];
    int n_models;
    double threshold;
    const char *at;
    long batch, samples;
    int no_pixels, all_factors;
} opt = {.threshold = 0.5, .batch = 64};

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
        {NULL, 0, NULL, 0}};
    sl_cli_spec spec = {.tool = "sl-encode", .usage = usage, .short_opts = "m:",
                        .long_opts = long_opts, .on_option = on_option, .default_seed = 1,
                        .reads_input = 1};
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
    if (sl_encoder_set_samples(enc, (int)opt.samples, sl_cli_state.seed, &err) < 0)
        sl_die_err(&err);
    /* Static, so that it stays reachable when a later error exits (no leak
     * report from LeakSanitizer about it). */
    static sl_catalog *samples;
    samples = calloc((size_t)opt.samples + 1, sizeof *samples);
    if (!samples)
        sl_die("out of memory");

    int n_in = sl_cli_state.n_inputs, f = 0;
    sl_reader **in = sl_cli_open_inputs(1);
    sl_writer *out = sl_cli_output_open(sl_cli_state.output, NULL, in, (size_t)n_in);

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
        if (sl_writer_pipe_closed(out))
            sl_exit_pipe_closed();
        if (sl_writer_failed(out))
            sl_die("%s: write error", sl_writer_name(out));
        n_images++;
        n_sources += est.n;
        n_nan_total += n_nan;
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
