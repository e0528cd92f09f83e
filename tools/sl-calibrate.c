/* sl-calibrate: is the posterior's uncertainty honest, and how accurate are
 * its estimates?  Reads records that carry both a `truth` and an `estimate`
 * catalog (sl-simulate | sl-encode, or sl-merge's catalogs), matches the
 * estimated sources to the true ones, and measures detection, the
 * reliability of the binary factors, the coverage and rank uniformity of the
 * continuous ones, TARP for the joint lens posterior, point accuracy,
 * sharpness (R^2 and posterior/prior width by SNR) and end-to-end lens
 * finding (the definitions are in man/man1/sl-calibrate.1).  This file holds the
 * options and the loop; the run (matching, measuring, the report, the table
 * and the figures) is libcommon/calib_run.h, the statistics calib.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib_run.h"
#include "cli.h"
#include "json.h"
#include "output.h"

static const char usage[] =
    "Usage: sl-calibrate [options] [FILE...]\n"
    "Measure detection, calibration and accuracy of the estimates in records that\n"
    "carry both a truth and an estimate catalog (sl-simulate | sl-encode, or\n"
    "sl-merge output). Prints a table; reads standard input without FILE or '-'.\n"
    "\n"
    "Options:\n"
    "  -r, --radius R        match sources at most R pixels apart [1]\n"
    "      --match MODE      auto, distance or exact (rows at the true positions,\n"
    "                        as sl-encode --at truth writes them) [auto: exact when\n"
    "                        the estimate has no p_source]\n"
    "      --min-snr S       also report detection for true sources of SNR >= S\n"
    "      --band NAME       band of the fluxes for magnitudes and SNR [r, or the first]\n"
    "      --mag-bins LIST   magnitude bin edges, comma-separated [whole magnitudes]\n"
    "      --bins K          reliability bins, 1 to 100 [10]\n"
    "      --tile T          the detect tile side, 1, 2, 4 or 8 [inferred]\n"
    "      --sbc-samples L   posterior draws per rank, 1 to 9999 [99]\n"
    "      --tarp-samples N  posterior draws per lens system for TARP [200]\n"
    "      --tarp-boot B     bootstrap resamples for the TARP bands [200]\n"
    "      --lens-radius R   lens finding: an estimate within R pixels of a true\n"
    "                        deflector [3]...\n"
    "      --lens-threshold P  ...with P(lens) > P finds its lens system [0.5]\n"
    "      --chi2            score the reconstruction: chi^2 per pixel of the image\n"
    "                        against the rendered estimate, per true lens system\n"
    "      --plots DIR       write SVG figures into DIR (created if needed)\n"
    "      --json FILE       write the report as JSON ('-': standard output,\n"
    "                        instead of the table)\n"
    "  -o, --output FILE     write the report record ('-': standard output,\n"
    "                        instead of the table)\n"
    "  -s, --seed INT        seed of the draws (SBC, TARP) [1]\n"
    "  -q, --quiet           no summary on standard error\n"
    "  -h, --help            this text\n"
    "      --version         the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input (no truth, no estimate, a malformed\n"
    "catalog) or a write error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-simulate -n 500 -s 9 | sl-encode -m detect.slm | sl-calibrate --plots out\n"
    "  sl-simulate -n 500 --set lens_prob=1 | sl-encode --at truth -m lens.slm |\n"
    "      sl-calibrate --json report.json\n";

enum {
    OPT_MATCH = 256, OPT_MIN_SNR, OPT_BAND, OPT_MAG_BINS, OPT_BINS, OPT_TILE, OPT_SBC,
    OPT_TARP_SAMPLES, OPT_TARP_BOOT, OPT_PLOTS, OPT_JSON, OPT_LENS_RADIUS, OPT_LENS_THRESHOLD,
    OPT_CHI2
};

static sl_calib_run run; /* large: its parameters' arrays */
static const char *plots, *json;

static void parse_edges(const char *arg)
{
    sl_calib_opts *o = &run.opt;
    const char *p = arg;
    o->n_mag_edges = 0;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || (*end && *end != ','))
            sl_usage_error("option --mag-bins: '%s' is not a list of numbers", arg);
        if (o->n_mag_edges == SL_CALIB_MAX_MAG_BINS + 1)
            sl_usage_error("option --mag-bins: more than %d edges", SL_CALIB_MAX_MAG_BINS + 1);
        if (o->n_mag_edges && v <= o->mag_edges[o->n_mag_edges - 1])
            sl_usage_error("option --mag-bins: edges must increase ('%s')", arg);
        o->mag_edges[o->n_mag_edges++] = v;
        p = *end ? end + 1 : end;
    }
    if (o->n_mag_edges < 2)
        sl_usage_error("option --mag-bins: at least two edges");
}

static int on_option(int c, const char *arg)
{
    sl_calib_opts *o = &run.opt;
    switch (c) {
    case 'r': o->radius = sl_cli_double("--radius", arg, 1e-6, 1e6); break;
    case OPT_MATCH:
        if (!strcmp(arg, "auto")) o->match = SL_CALIB_MATCH_AUTO;
        else if (!strcmp(arg, "distance")) o->match = SL_CALIB_MATCH_DISTANCE;
        else if (!strcmp(arg, "exact")) o->match = SL_CALIB_MATCH_EXACT;
        else sl_usage_error("option --match: '%s' is not auto, distance or exact", arg);
        break;
    case OPT_MIN_SNR: o->min_snr = sl_cli_double("--min-snr", arg, 1e-9, 1e9); break;
    case OPT_BAND: o->band = arg; break;
    case OPT_MAG_BINS: parse_edges(arg); break;
    case OPT_BINS: o->bins = (int)sl_cli_long("--bins", arg, 1, SL_CALIB_MAX_BINS); break;
    case OPT_TILE:
        o->tile = (int)sl_cli_long("--tile", arg, 1, 8);
        if (o->tile & (o->tile - 1))
            sl_usage_error("option --tile: %s is not 1, 2, 4 or 8", arg);
        break;
    case OPT_SBC: o->sbc_samples = (int)sl_cli_long("--sbc-samples", arg, 1, 9999); break;
    case OPT_TARP_SAMPLES:
        o->tarp_samples = (int)sl_cli_long("--tarp-samples", arg, 1, 100000);
        break;
    case OPT_TARP_BOOT: o->tarp_boot = (int)sl_cli_long("--tarp-boot", arg, 0, 100000); break;
    case OPT_LENS_RADIUS: o->lens_radius = sl_cli_double("--lens-radius", arg, 1e-6, 1e6); break;
    case OPT_LENS_THRESHOLD:
        o->lens_threshold = sl_cli_double("--lens-threshold", arg, 0, 1);
        break;
    case OPT_CHI2: o->chi2 = 1; break;
    case OPT_PLOTS: plots = arg; break;
    case OPT_JSON: json = arg; break;
    default: return -1;
    }
    return 0;
}

/* Every image and catalog record of every input into the run. */
static void read_inputs(sl_reader **in)
{
    sl_err err;
    sl_image img;
    sl_table est, tru;
    sl_image_init(&img);
    sl_table_init(&est);
    sl_table_init(&tru);
    sl_record rec;
    for (int i = 0; i < sl_cli_state.n_inputs; i++) {
        int rc;
        while ((rc = sl_read(in[i], &rec, &err)) >= 0)
            if ((!strcmp(rec.type, "image") || !strcmp(rec.type, "catalog")) &&
                sl_calib_run_take(&run, &rec, &img, &est, &tru, &err) < 0)
                sl_die_err(&err);
        if (rc < SL_READ_END)
            sl_die_err(&err);
    }
    sl_image_free(&img);
    sl_table_free(&est);
    sl_table_free(&tru);
}

/* The report as JSON: the same map as the record.  A file is left open (under
 * its temporary name) until every output is written: see main. */
static sl_textout json_out;
static int json_open;

static void write_json(const msgpack_sbuffer *sb, int to_stdout)
{
    sl_err err;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, sb->data, sb->size, NULL) != MSGPACK_UNPACK_SUCCESS)
        sl_die("internal error: the report does not unpack");
    if (sl_textout_open(&json_out, json, &err) < 0)
        sl_die_err(&err);
    json_open = !to_stdout;
    sl_json_write(json_out.f, &u.data, 1);
    fputc('\n', json_out.f);
    msgpack_unpacked_destroy(&u);
}

/* Dies, removing the JSON file's temporary name (the writer's goes with
 * sl_die). */
static void die_outputs(const sl_err *err)
{
    if (json_open)
        sl_textout_abort(&json_out);
    json_open = 0;
    sl_die_err(err);
}

/* msgpack_sbuffer_write, remembering a failure (out of memory) that the
 * packer would otherwise pass over, leaving a report with holes. */
static int pack_failed;
static int sbuffer_write(void *data, const char *buf, size_t len)
{
    int rc = msgpack_sbuffer_write(data, buf, len);
    if (rc < 0)
        pack_failed = 1;
    return rc;
}

static void write_outputs(sl_writer *w, int out_stdout, int json_stdout)
{
    sl_err err;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, sbuffer_write);
    if (sl_calib_run_pack(&run, &pk, &err) < 0)
        sl_die_err(&err);
    if (pack_failed)
        sl_die("out of memory for the report");
    if (w) {
        sl_record r = {.raw = sb.data, .raw_len = sb.size};
        if (sl_writer_raw(w, &r, &err) < 0)
            sl_die_err(&err);
    }
    if (json)
        write_json(&sb, json_stdout);
    msgpack_sbuffer_destroy(&sb);
    if (plots && sl_calib_run_plot(&run, plots, &err) < 0)
        die_outputs(&err);
    if (!out_stdout && !json_stdout)
        sl_calib_run_print(&run, stdout);
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"radius", required_argument, NULL, 'r'},
        {"match", required_argument, NULL, OPT_MATCH},
        {"min-snr", required_argument, NULL, OPT_MIN_SNR},
        {"band", required_argument, NULL, OPT_BAND},
        {"mag-bins", required_argument, NULL, OPT_MAG_BINS},
        {"bins", required_argument, NULL, OPT_BINS},
        {"tile", required_argument, NULL, OPT_TILE},
        {"sbc-samples", required_argument, NULL, OPT_SBC},
        {"tarp-samples", required_argument, NULL, OPT_TARP_SAMPLES},
        {"tarp-boot", required_argument, NULL, OPT_TARP_BOOT},
        {"lens-radius", required_argument, NULL, OPT_LENS_RADIUS},
        {"lens-threshold", required_argument, NULL, OPT_LENS_THRESHOLD},
        {"chi2", no_argument, NULL, OPT_CHI2},
        {"plots", required_argument, NULL, OPT_PLOTS},
        {"json", required_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0}};
    const sl_cli_spec spec = {"sl-calibrate", usage, "r:", longs, on_option, 1, 1};
    sl_calib_run_init(&run);
    sl_cli_parse(&spec, argc, argv);
    const char *out = sl_cli_state.output;
    int out_stdout = out && !strcmp(out, "-"), json_stdout = json && !strcmp(json, "-");
    if (out_stdout && json_stdout)
        sl_usage_error("-o - and --json - cannot both write standard output");
    if (run.opt.match == SL_CALIB_MATCH_EXACT && run.opt.min_snr > 0)
        sl_usage_error("--min-snr needs detection, which --match exact does not measure");
    run.opt.seed = sl_cli_state.seed;

    sl_err err;
    sl_cli_output_writable(json); /* written at the end: fail before the work */
    sl_reader **in = sl_cli_open_inputs(out != NULL);
    sl_writer *w = out ? sl_cli_output_open(out, NULL, in, (size_t)sl_cli_state.n_inputs) : NULL;
    read_inputs(in);
    if (run.images == 0)
        sl_die("%s: no image or catalog record to calibrate", sl_cli_state.inputs[0]);
    if (sl_calib_run_measure(&run, &err) < 0)
        sl_die_err(&err);
    write_outputs(w, out_stdout, json_stdout);
    /* Standard output first, then the files: a failure leaves none of them
     * under its real name (but for one renamed before the other failed). */
    if (!out_stdout) { /* the writer closes it otherwise */
        sl_textout t = {.f = stdout};
        if (sl_textout_close(&t, &err) < 0)
            die_outputs(&err);
    }
    if (json_open) {
        json_open = 0;
        if (sl_textout_close(&json_out, &err) < 0)
            sl_die_err(&err);
    }
    if (w)
        sl_cli_output_close(w, in, (size_t)sl_cli_state.n_inputs);
    sl_cli_close_inputs(in);
    sl_cli_summary("%ld records, %ld true sources, %ld estimates, %d parameters", run.images,
                   run.n_true, run.n_est, run.n_params);
    sl_calib_run_free(&run);
    return SL_EXIT_OK;
}
