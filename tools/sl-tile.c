/* sl-tile: cut images into the pieces the encoders read, as image records.
 *
 * Input: image records (from sl-simulate or a previous tool), or FITS files,
 * all the FITS operands being the bands of one image (libcommon/frame.h:
 * SDSS frames calibrated back to electrons, or generic images with a
 * background estimated on a mesh).
 *
 * Output, by default: patches whose interiors (S x S pixels on a grid from
 * the parent's corner) partition the parent exactly, each with a context
 * border of B pixels taken from the parent's neighbouring pixels (or the
 * background beyond its edge).  S is a multiple of the detect model's
 * window, and B covers every model's context, so that sl-encode on the
 * patches finds what it would find on the whole image.  The truth and
 * estimate catalogs go with each patch, restricted to its pixels.
 *
 * With --cutout N: N x N stamps centred on the sources of a catalog.
 *
 * Memory: the parent image, plus one patch. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "encode.h"
#include "frame.h"
#include "record.h"
#include "render.h"
#include "table.h"
#include "tile.h"

static const char usage[] =
    "Usage: sl-tile [options] [FILE...]\n"
    "Cut images into patches (or source cut-outs) for sl-encode and sl-train.  The\n"
    "FILEs are record streams of images, or FITS files: the bands of one image.\n"
    "\n"
    "Geometry:\n"
    "  -m, --model FILE      take the patch grid and border the models need; repeatable\n"
    "      --patch N         interior side of a patch, pixels [256; a multiple of the\n"
    "                        detect model's window with -m]\n"
    "      --border N        context on each side, pixels [24, or what the models need]\n"
    "      --first K         write patches K, K+1, ... only (row-major order) [0]\n"
    "  -n, --count N         write at most N patches per image; 0 all [0]\n"
    "      --shard K/N       write the K-th of N equal runs of patches (K from 1), for\n"
    "                        N jobs on a frame of any size (instead of --first, -n)\n"
    "      --cutout N        N x N cut-outs centred on the sources of --catalog instead\n"
    "      --catalog KEY     truth or estimate [truth]\n"
    "\n"
    "FITS input (SDSS frames are recognised and calibrated to electrons):\n"
    "      --bands LIST      band names of the FITS files, in order, e.g. g,r,i\n"
    "                        [each file's FILTER keyword]\n"
    "      --gain X          electrons per ADU [SDSS: from --photofield; else GAIN]\n"
    "      --photofield FILE SDSS photoField file with the field's gains\n"
    "      --background X    constant background, electrons per pixel (generic FITS)\n"
    "                        [estimated: sigma-clipped medians on a mesh]\n"
    "      --mesh N          background mesh cell side, pixels [64]\n"
    "      --pixel-scale X   arcsec per pixel [from the WCS]\n"
    "      --psfield FILE    SDSS psField file: the PSF of each band\n"
    "      --psf FILE        a PSF image (FITS), for every band\n"
    "      --psf-fwhm X      a Gaussian PSF of FWHM X arcsec\n"
    "      --id N            the image's id [0]\n"
    "\n"
    "  -o, --output FILE     write FILE instead of standard output\n"
    "      --progress        a progress line (pieces, rate, ETA) on stderr even when it\n"
    "                        is not a terminal (on a terminal it is always shown)\n"
    "  -q, --quiet           no notes, no progress and no summary\n"
    "  -h, --help            this text\n"
    "      --version         the version\n"
    "\n"
    "Exit status: 0 success, 1 data or runtime error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-tile -m detect.slm -m lens.slm --psfield psField.fit --photofield photoField.fits \\\n"
    "      frame-r.fits | sl-encode -m detect.slm -m lens.slm | sl-merge -o cat.fits\n"
    "  sl-simulate -n 100 | sl-tile --cutout 48 | sl-cat --count\n";

enum {
    OPT_PATCH = 256, OPT_BORDER, OPT_FIRST, OPT_CUTOUT, OPT_CATALOG, OPT_BANDS, OPT_GAIN,
    OPT_PHOTOFIELD, OPT_BACKGROUND, OPT_MESH, OPT_PIXEL_SCALE, OPT_PSFIELD, OPT_PSF,
    OPT_PSF_FWHM, OPT_ID, OPT_SHARD
};

#define DEFAULT_PATCH 256
#define DEFAULT_BORDER 24

static struct {
    const char *models[SL_N_TASKS];
    int n_models;
    long patch, border, first, count, cutout;
    long shard_k, shard_n; /* --shard K/N; N 0 without it */
    const char *catalog;
    int64_t id;
    sl_frame_opts frame;
} opt = {.first = 0, .catalog = "truth"};

static int on_option(int c, const char *arg)
{
    switch (c) {
    case 'm':
        if (opt.n_models == SL_N_TASKS)
            sl_usage_error("at most %d models (one per task)", SL_N_TASKS);
        opt.models[opt.n_models++] = arg;
        break;
    case OPT_PATCH: opt.patch = sl_cli_long("--patch", arg, 1, SL_MAX_SIDE); break;
    case OPT_BORDER: opt.border = sl_cli_long("--border", arg, 0, 4096); break;
    case OPT_FIRST: opt.first = sl_cli_long("--first", arg, 0, 1L << 40); break;
    case 'n': opt.count = sl_cli_long("--count", arg, 0, 1L << 40); break;
    case OPT_SHARD: {
        char k[32];
        const char *slash = strchr(arg, '/');
        if (!slash || (size_t)(slash - arg) >= sizeof k)
            sl_usage_error("option --shard: '%s' is not K/N (the K-th of N shards)", arg);
        memcpy(k, arg, (size_t)(slash - arg));
        k[slash - arg] = '\0';
        opt.shard_n = sl_cli_long("--shard", slash + 1, 1, 1L << 30);
        opt.shard_k = sl_cli_long("--shard", k, 1, opt.shard_n);
        break;
    }
    case OPT_CUTOUT: opt.cutout = sl_cli_long("--cutout", arg, 1, 4096); break;
    case OPT_CATALOG: opt.catalog = arg; break;
    case OPT_BANDS: opt.frame.band_names = arg; break;
    case OPT_GAIN: opt.frame.gain = sl_cli_double("--gain", arg, 1e-6, 1e6); break;
    case OPT_PHOTOFIELD: opt.frame.photofield = arg; break;
    case OPT_BACKGROUND: opt.frame.background = sl_cli_double("--background", arg, 0, 1e30); break;
    case OPT_MESH: opt.frame.mesh = (int)sl_cli_long("--mesh", arg, 4, 65536); break;
    case OPT_PIXEL_SCALE: opt.frame.pixel_scale = sl_cli_double("--pixel-scale", arg, 1e-6, 3600); break;
    case OPT_PSFIELD: opt.frame.psfield = arg; break;
    case OPT_PSF: opt.frame.psf_image = arg; break;
    case OPT_PSF_FWHM: opt.frame.psf_fwhm = sl_cli_double("--psf-fwhm", arg, 1e-6, 3600); break;
    case OPT_ID: opt.id = sl_cli_long("--id", arg, 0, 1L << 62); break;
    default: return -1;
    }
    return 0;
}

/* Compressed with gzip, bzip2 or compress (by its first bytes). */
static int is_compressed(const char *path)
{
    unsigned char head[16];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    int kind = sl_sniff_kind(head, n > 0 ? (size_t)n : 0);
    return kind == SL_KIND_GZIP || kind == SL_KIND_BZIP2 || kind == SL_KIND_COMPRESS;
}

/* A FITS operand: by its name (cfitsio's extended syntax included), or by
 * its first bytes.  cfitsio undoes gzip, bzip2 and compress as it reads (a
 * frame.fits.bz2 as SDSS serves it); a compressed file whose name does not
 * say FITS is left to the record reader, which says what it is. */
static int is_fits_name(const char *path)
{
    static const char *const ends[] = {".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fz",
                                       ".fits.bz2", ".fit.bz2", ".fits.Z"};
    if (strchr(path, '['))
        return 1;
    size_t len = strlen(path);
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
        size_t n = strlen(ends[i]);
        if (len > n && strcmp(path + len - n, ends[i]) == 0)
            return 1;
    }
    unsigned char head[16];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0; /* the record reader says why */
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (sl_sniff_kind(head, n > 0 ? (size_t)n : 0) == SL_KIND_FITS)
        return 1;
    return is_compressed(path) && (strstr(path, ".fit") || strstr(path, ".fts"));
}

/* The PSF of a patch: the parent record's own `psf` value, or PSFs loaded
 * from files. */
typedef struct psf_source {
    const msgpack_object *raw;
    const sl_psf *psf;
    double pixel_scale;
} psf_source;

/* Catalogs that travel with a parent into its pieces. */
typedef struct catalogs {
    sl_table truth, estimate;
    int has_truth, has_estimate;
} catalogs;

typedef struct piece {
    int x0, y0, side, border, index, count;
} piece;

/* The rows of a catalog inside the piece, shifted into its pixels. */
static void pack_piece_table(sl_map *m, const char *key, const sl_table *t,
                             const piece *pc, sl_table *tmp, int *rows)
{
    int cx = sl_table_find(t, "x"), cy = sl_table_find(t, "y"), n = 0;
    for (int r = 0; r < t->n; r++) {
        double x = *sl_table_at(t, cx, r) - pc->x0, y = *sl_table_at(t, cy, r) - pc->y0;
        if (x >= 0 && x < pc->side && y >= 0 && y < pc->side)
            rows[n++] = r;
    }
    sl_err err;
    sl_table_free(tmp);
    sl_table_init(tmp);
    if (sl_table_append(tmp, t, rows, n, -pc->x0, -pc->y0, &err) < 0)
        sl_die_err(&err);
    sl_table_pack(sl_map_key(m, key), tmp);
}

/* The piece as an image of its own: a window of the parent's pixels (and
 * background map), beyond the parent's edge the band's background, i.e. no
 * signal.  buf holds the pixels, map_buf the map when the parent has one. */
static void cut_piece(const sl_image *img, const piece *pc, float *buf, float *map_buf,
                      sl_image *out)
{
    int B = img->n_bands, side = pc->side;
    size_t plane = (size_t)side * side, parent_plane = (size_t)img->width * img->height;
    *out = *img; /* bands, scale, background, zero point, gain: borrowed */
    out->id = out->patch = pc->index;
    out->width = out->height = side;
    out->pixels = buf;
    out->background_map = img->background_map ? map_buf : NULL;
    out->is_patch = 1;
    out->parent = img->id;
    out->x0 = pc->x0;
    out->y0 = pc->y0;
    out->border = pc->border;
    out->patches = pc->count;
    out->parent_width = img->width;
    out->parent_height = img->height;
    for (int b = 0; b < B; b++) {
        sl_window(img->pixels + b * parent_plane, img->width, img->height, 1, pc->x0, pc->y0,
                  side, (float)img->background[b], buf + b * plane);
        if (img->background_map)
            sl_window(img->background_map + b * parent_plane, img->width, img->height, 1,
                      pc->x0, pc->y0, side, (float)img->background[b], map_buf + b * plane);
    }
}

static void write_piece(sl_writer *out, const sl_image *img, const psf_source *psf,
                        catalogs *cats, const piece *pc, float *buf[2], sl_table *tmp, int *rows)
{
    sl_image cut;
    cut_piece(img, pc, buf[0], buf[1], &cut);
    sl_map m;
    sl_writer_begin(out, &m, "image", 1 + sl_image_n_keys(&cut) + (psf->raw || psf->psf) +
                                          cats->has_truth + cats->has_estimate);
    sl_image_pack(&m, &cut);
    if (psf->raw)
        msgpack_pack_object(sl_map_key(&m, "psf"), *psf->raw);
    else if (psf->psf)
        sl_psf_pack(sl_map_key(&m, "psf"), psf->psf, img->n_bands, psf->pixel_scale);
    sl_image_pack_patch(&m, &cut);
    if (cats->has_truth)
        pack_piece_table(&m, "truth", &cats->truth, pc, tmp, rows);
    if (cats->has_estimate)
        pack_piece_table(&m, "estimate", &cats->estimate, pc, tmp, rows);
    sl_cli_record_end(out, &m);
    sl_cli_check_output(out);
}

/* For the progress line: pieces written, and the record inputs (NULL for
 * FITS, where the fraction is that of the image's pieces). */
static long pieces_done, images_tiled;
static int64_t first_id;
static sl_reader **progress_in;
static int progress_n_in;

/* Cuts one parent image; returns the number of pieces written. */
static long tile_image(sl_writer *out, const sl_image *img, const psf_source *psf,
                       catalogs *cats, int patch, int border)
{
    piece pc = {0};
    const sl_table *at = NULL;
    int nx = 0, ny = 0, count;
    if (opt.cutout) {
        at = !strcmp(opt.catalog, "truth") ? (cats->has_truth ? &cats->truth : NULL)
                                           : (cats->has_estimate ? &cats->estimate : NULL);
        if (!at)
            sl_die("image %lld: no %s catalog to cut out around", (long long)img->id, opt.catalog);
        count = at->n;
        pc.side = (int)opt.cutout;
    } else {
        nx = (img->width + patch - 1) / patch;
        ny = (img->height + patch - 1) / patch;
        count = nx * ny;
        pc.side = patch + 2 * border;
        pc.border = border;
    }
    long first = opt.first, last = opt.count ? opt.first + opt.count : count;
    last = last < count ? last : count;
    if (opt.shard_n) { /* shard K of N: pieces [(K-1) count / N, K count / N) */
        first = (long)((opt.shard_k - 1) * (int64_t)count / opt.shard_n);
        last = (long)(opt.shard_k * (int64_t)count / opt.shard_n);
    }
    size_t side = (size_t)pc.side;
    size_t floats = side * side * img->n_bands;
    float *buf[2] = {malloc(floats * sizeof *buf[0]),
                     img->background_map ? malloc(floats * sizeof *buf[1]) : NULL};
    int *rows = malloc(((size_t)(cats->truth.n > cats->estimate.n ? cats->truth.n
                                                                  : cats->estimate.n) + 1) *
                       sizeof *rows);
    if (!buf[0] || (img->background_map && !buf[1]) || !rows)
        sl_die("out of memory for a %d x %d piece", pc.side, pc.side);
    sl_table tmp;
    sl_table_init(&tmp);
    /* A shard says which pieces it cut: parallel jobs' lines differ. */
    const char *inputs = sl_cli_inputs_label();
    if (images_tiled++ == 0)
        first_id = img->id;
    char which[64];
    if (first_id == img->id)
        snprintf(which, sizeof which, "image %lld", (long long)img->id);
    else
        snprintf(which, sizeof which, "images %lld-%lld", (long long)first_id, (long long)img->id);
    if (opt.first || opt.count || opt.shard_n)
        sl_cli_label("%s%s[%s, %s %ld-%ld of %d%s]", inputs, inputs[0] ? " " : "", which,
                     opt.cutout ? "cut-outs" : "patches", first, last - 1, count,
                     images_tiled > 1 ? " each" : "");
    for (long k = first; k < last; k++) {
        pc.index = (int)k;
        pc.count = count;
        if (opt.cutout) {
            double x = *sl_table_at(at, sl_table_find(at, "x"), (int)k);
            double y = *sl_table_at(at, sl_table_find(at, "y"), (int)k);
            if (!(fabs(x) <= SL_MAX_POSITION && fabs(y) <= SL_MAX_POSITION)) /* sl_table_read */
                sl_die("image %lld: source %ld: (%g, %g) is not a position", (long long)img->id,
                       k, x, y);
            pc.x0 = (int)floor(x) - pc.side / 2;
            pc.y0 = (int)floor(y) - pc.side / 2;
        } else {
            pc.x0 = (int)(k % nx) * patch - border;
            pc.y0 = (int)(k / nx) * patch - border;
        }
        write_piece(out, img, psf, cats, &pc, buf, &tmp, rows);
        pieces_done++;
        sl_cli_progress(pieces_done, opt.cutout ? "cut-outs" : "patches",
                        progress_in ? sl_cli_inputs_fraction(progress_in, progress_n_in)
                                    : (double)(k + 1 - first) / (double)(last - first));
    }
    sl_table_free(&tmp);
    free(rows);
    free(buf[0]);
    free(buf[1]);
    return last > first ? last - first : 0;
}

/* The interior side for an image: the requested side, but no bigger than
 * the image needs (rounded up to the grid quantum). */
static int patch_side(const sl_image *img, int patch, int quantum)
{
    int longest = img->width > img->height ? img->width : img->height;
    int need = (longest + quantum - 1) / quantum * quantum;
    return need < patch ? need : patch;
}

static void read_catalog(const sl_record *rec, const char *key, sl_table *t, int *has)
{
    sl_err err;
    *has = sl_rec_get(rec, key) != NULL;
    if (*has && sl_table_read(t, rec, key, &err) < 0)
        sl_die_err(&err);
    if (*has && (sl_table_find(t, "x") < 0 || sl_table_find(t, "y") < 0))
        sl_die("%s: record %ld: key '%s': no x and y columns", rec->file, rec->num, key);
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"patch", required_argument, NULL, OPT_PATCH},
        {"border", required_argument, NULL, OPT_BORDER},
        {"first", required_argument, NULL, OPT_FIRST},
        {"count", required_argument, NULL, 'n'},
        {"cutout", required_argument, NULL, OPT_CUTOUT},
        {"catalog", required_argument, NULL, OPT_CATALOG},
        {"bands", required_argument, NULL, OPT_BANDS},
        {"gain", required_argument, NULL, OPT_GAIN},
        {"photofield", required_argument, NULL, OPT_PHOTOFIELD},
        {"background", required_argument, NULL, OPT_BACKGROUND},
        {"mesh", required_argument, NULL, OPT_MESH},
        {"pixel-scale", required_argument, NULL, OPT_PIXEL_SCALE},
        {"psfield", required_argument, NULL, OPT_PSFIELD},
        {"psf", required_argument, NULL, OPT_PSF},
        {"psf-fwhm", required_argument, NULL, OPT_PSF_FWHM},
        {"id", required_argument, NULL, OPT_ID},
        {"shard", required_argument, NULL, OPT_SHARD},
        {NULL, 0, NULL, 0}};
    sl_frame_opts_init(&opt.frame);
    sl_cli_spec spec = {.tool = "sl-tile", .usage = usage, .short_opts = "m:n:",
                        .long_opts = long_opts, .on_option = on_option, .reads_input = 1};
    sl_cli_takes_progress();
    sl_cli_parse(&spec, argc, argv);
    if (strcmp(opt.catalog, "truth") != 0 && strcmp(opt.catalog, "estimate") != 0)
        sl_usage_error("--catalog %s: truth or estimate", opt.catalog);
    if (opt.shard_n && (opt.first || opt.count))
        sl_usage_error("--shard picks the patches itself: leave out --first and -n");
    if (!!opt.frame.psfield + !!opt.frame.psf_image + (opt.frame.psf_fwhm > 0) > 1)
        sl_usage_error("give at most one of --psfield, --psf and --psf-fwhm");

    /* The grid: what the models need, or the defaults. */
    sl_err err;
    int quantum = 1, border = DEFAULT_BORDER;
    if (opt.n_models) {
        sl_encoder *enc = sl_encoder_new(1, 1, 0.5, 1, &err);
        if (!enc)
            sl_die_err(&err);
        for (int i = 0; i < opt.n_models; i++)
            if (sl_encoder_load(enc, opt.models[i], &err) < 0)
                sl_die_err(&err);
        quantum = sl_encoder_quantum(enc);
        border = sl_encoder_border(enc);
        sl_encoder_free(enc);
    }
    if (opt.border)
        border = (int)opt.border;
    int patch = opt.patch ? (int)opt.patch : (DEFAULT_PATCH + quantum - 1) / quantum * quantum;
    if (patch % quantum)
        sl_usage_error("--patch %d: the models need a multiple of %d pixels", patch, quantum);

    int n_fits = 0;
    for (int i = 0; i < sl_cli_state.n_inputs; i++)
        n_fits += strcmp(sl_cli_state.inputs[i], "-") != 0 && is_fits_name(sl_cli_state.inputs[i]);
    if (n_fits && n_fits != sl_cli_state.n_inputs)
        sl_usage_error("FITS files and record streams cannot be mixed");
    if (n_fits > SL_MAX_BANDS)
        sl_usage_error("%d FITS files: at most %d bands", n_fits, SL_MAX_BANDS);

    int n_in = n_fits ? 0 : sl_cli_state.n_inputs, f = 0;
    sl_reader **in = n_fits ? NULL : sl_cli_open_inputs(1);
    progress_in = in;
    progress_n_in = n_in;
    sl_cli_label("%s", sl_cli_inputs_label());
    sl_writer *out = sl_cli_output_open(sl_cli_state.output, NULL, in, (size_t)n_in);

    sl_image img;
    sl_image_init(&img);
    catalogs cats = {0};
    sl_table_init(&cats.truth);
    sl_table_init(&cats.estimate);
    long n_images = 0, n_pieces = 0;
    if (n_fits) {
        sl_psf psf[SL_MAX_BANDS];
        long n_nan = 0;
        for (int i = 0; i < n_fits; i++)
            opt.frame.paths[i] = sl_cli_state.inputs[i];
        opt.frame.n_paths = n_fits;
        int with_psf = opt.frame.psfield || opt.frame.psf_image || opt.frame.psf_fwhm > 0;
        if (sl_frame_load(&opt.frame, &img, with_psf ? psf : NULL, &n_nan, &err) < 0)
            sl_die_err(&err);
        if (n_nan)
            sl_note("%ld NaN pixels masked (set to the background)", n_nan);
        img.id = opt.id;
        psf_source ps = {NULL, with_psf ? psf : NULL, img.pixel_scale};
        n_pieces = tile_image(out, &img, &ps, &cats, patch_side(&img, patch, quantum), border);
        n_images = 1;
        for (int b = 0; with_psf && b < img.n_bands; b++)
            sl_psf_free(&psf[b]);
    } else {
        sl_record rec;
        while (sl_cli_next_image(in, n_in, &f, out, &rec)) {
            if (sl_image_read(&img, &rec, &err) < 0)
                sl_die_err(&err);
            if (img.is_patch)
                sl_die("%s: record %ld: already a piece of image %lld", rec.file, rec.num,
                       (long long)img.parent);
            read_catalog(&rec, "truth", &cats.truth, &cats.has_truth);
            read_catalog(&rec, "estimate", &cats.estimate, &cats.has_estimate);
            psf_source ps = {sl_rec_get(&rec, "psf"), NULL, img.pixel_scale};
            n_pieces += tile_image(out, &img, &ps, &cats, patch_side(&img, patch, quantum),
                                   border);
            n_images++;
        }
    }
    sl_cli_output_close(out, in, (size_t)n_in);
    if (in)
        sl_cli_close_inputs(in);
    sl_table_free(&cats.truth);
    sl_table_free(&cats.estimate);
    sl_image_free(&img);
    sl_cli_summary("%ld images, %ld %s", n_images, n_pieces, opt.cutout ? "cut-outs" : "patches");
    return 0;
}
