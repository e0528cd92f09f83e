/* sl-calibrate: is the posterior's uncertainty honest, and how accurate are
 * its estimates?  Reads records that carry both a `truth` and an `estimate`
 * catalog (sl-simulate | sl-encode, or sl-merge's catalogs), matches the
 * estimated sources to the true ones, and measures detection, the
 * reliability of the binary factors, the coverage and rank uniformity of the
 * continuous ones, TARP for the joint lens posterior, and point accuracy
 * (the definitions are in man/man1/sl-calibrate.1; the statistics in
 * libcommon/calib.c).  Every factor is judged on the sources it was trained
 * for (libcommon/task.c): galaxy parameters on true galaxies, lens
 * parameters on true lens systems, star fluxes on true stars. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "calib.h"
#include "cli.h"
#include "family.h"
#include "image.h"
#include "json.h"
#include "output.h"
#include "psf.h"
#include "record.h"
#include "special.h"
#include "svg.h"
#include "table.h"

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

enum { MATCH_AUTO, MATCH_DISTANCE, MATCH_EXACT };
enum {
    OPT_MATCH = 256, OPT_MIN_SNR, OPT_BAND, OPT_MAG_BINS, OPT_BINS, OPT_TILE, OPT_SBC,
    OPT_TARP_SAMPLES, OPT_TARP_BOOT, OPT_PLOTS, OPT_JSON
};

#define MAX_MAG_BINS 40
#define ALPHA 0.01 /* the coverage band: 99% */

static struct {
    double radius;
    int match;
    double min_snr;
    const char *band;
    double mag_edges[MAX_MAG_BINS + 1];
    int n_mag_edges;
    int bins, tile, sbc_samples, tarp_samples, tarp_boot;
    const char *plots, *json;
} opt = {.radius = 1, .bins = 10, .sbc_samples = 99, .tarp_samples = 200, .tarp_boot = 200};

static void parse_edges(const char *arg)
{
    const char *p = arg;
    opt.n_mag_edges = 0;
    while (*p) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || (*end && *end != ','))
            sl_usage_error("option --mag-bins: '%s' is not a list of numbers", arg);
        if (opt.n_mag_edges == MAX_MAG_BINS + 1)
            sl_usage_error("option --mag-bins: more than %d edges", MAX_MAG_BINS + 1);
        if (opt.n_mag_edges && v <= opt.mag_edges[opt.n_mag_edges - 1])
            sl_usage_error("option --mag-bins: edges must increase ('%s')", arg);
        opt.mag_edges[opt.n_mag_edges++] = v;
        p = *end ? end + 1 : end;
    }
    if (opt.n_mag_edges < 2)
        sl_usage_error("option --mag-bins: at least two edges");
}

static int on_option(int c, const char *arg)
{
    switch (c) {
    case 'r': opt.radius = sl_cli_double("--radius", arg, 1e-6, 1e6); break;
    case OPT_MATCH:
        if (!strcmp(arg, "auto")) opt.match = MATCH_AUTO;
        else if (!strcmp(arg, "distance")) opt.match = MATCH_DISTANCE;
        else if (!strcmp(arg, "exact")) opt.match = MATCH_EXACT;
        else sl_usage_error("option --match: '%s' is not auto, distance or exact", arg);
        break;
    case OPT_MIN_SNR: opt.min_snr = sl_cli_double("--min-snr", arg, 1e-9, 1e9); break;
    case OPT_BAND: opt.band = arg; break;
    case OPT_MAG_BINS: parse_edges(arg); break;
    case OPT_BINS: opt.bins = (int)sl_cli_long("--bins", arg, 1, SL_CALIB_MAX_BINS); break;
    case OPT_TILE:
        opt.tile = (int)sl_cli_long("--tile", arg, 1, 8);
        if (opt.tile & (opt.tile - 1))
            sl_usage_error("option --tile: %s is not 1, 2, 4 or 8", arg);
        break;
    case OPT_SBC: opt.sbc_samples = (int)sl_cli_long("--sbc-samples", arg, 1, 9999); break;
    case OPT_TARP_SAMPLES:
        opt.tarp_samples = (int)sl_cli_long("--tarp-samples", arg, 1, 100000);
        break;
    case OPT_TARP_BOOT: opt.tarp_boot = (int)sl_cli_long("--tarp-boot", arg, 0, 100000); break;
    case OPT_PLOTS: opt.plots = arg; break;
    case OPT_JSON: opt.json = arg; break;
    default: return -1;
    }
    return 0;
}

/* ---- Growable arrays --------------------------------------------------------- */

typedef struct dvec {
    double *v;
    long n, cap;
} dvec;

static void push(dvec *a, double x)
{
    if (a->n == a->cap) {
        long cap = a->cap ? 2 * a->cap : 256;
        double *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v)
            sl_die("out of memory");
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

/* ---- The parameters -------------------------------------------------------------
 * Each continuous parameter: where its estimate and truth are, which true
 * sources its factor was trained on, and the family of its marginal. */

typedef enum { POP_ANY, POP_STAR, POP_GALAXY, POP_LENS } population;
typedef enum { K_SCALAR, K_LOCATION, K_LENS } param_kind;

typedef struct param {
    char name[64];   /* as printed: "galaxy_flux_r" */
    char group[16];  /* the figure it goes in: detect, galaxy, lens, source */
    char col[40];    /* the estimate's column: "galaxy_flux" */
    char tcol[40];   /* the truth's: "flux" */
    int elem;        /* band of a per-band column */
    population pop;
    param_kind kind;
    int coord;       /* K_LENS: coordinate of the joint normal */
    sl_transform tr;
    double period;   /* pi for position angles: point errors wrap */
    int ratio;       /* a ratio scale: fractional metrics apply */
    /* Column indices in the current record's tables. */
    int c_mean, c_q16, c_q50, c_q84, c_mu, c_sigma, c_truth;
    dvec truth, mean, q16, q50, q84, pit, rank;
    /* Results. */
    sl_calib_coverage cov;
    sl_calib_sbc sbc;
    sl_calib_point point;
} param;

#define MAX_PARAMS 128
static param params[MAX_PARAMS];
static int n_params;

static const sl_transform TR_LOG = {SL_TR_LOG, 0, 0}, TR_ID = {SL_TR_IDENTITY, 0, 0};
static const sl_transform TR_UNIT = {SL_TR_LOGIT, 0, 1}, TR_ANGLE = {SL_TR_LOGIT, 0, M_PI};
static const sl_transform TR_PM1 = {SL_TR_LOGIT, -1, 1};

static param *add_param(const char *name, const char *group, const char *col, const char *tcol,
                        int elem, population pop, param_kind kind, sl_transform tr)
{
    if (n_params == MAX_PARAMS)
        sl_die("more than %d parameters", MAX_PARAMS);
    param *p = &params[n_params++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->group, sizeof p->group, "%s", group);
    snprintf(p->col, sizeof p->col, "%s", col);
    snprintf(p->tcol, sizeof p->tcol, "%s", tcol);
    p->elem = elem;
    p->pop = pop;
    p->kind = kind;
    p->tr = tr;
    p->coord = -1;
    /* Fractions of a value make sense for positive quantities measured from a
     * true zero (fluxes, sizes, theta_E, axis ratios), not for positions,
     * offsets, ellipticities or angles. */
    int unit = tr.kind == SL_TR_LOGIT && tr.a == 0 && tr.b == 1;
    p->ratio = kind != K_LOCATION && (tr.kind == SL_TR_LOG || unit);
    return p;
}

/* The bands of the stream (from the first record) and the reference band. */
static int n_bands = -1, ref_band;
static char band_names[SL_MAX_BANDS][16];

/* The bulge+disk parameters of a galaxy ("" or "src_"), as the galaxy and
 * lens tasks report them. */
static void add_galaxy_params(const sl_table *est, const char *prefix, const char *group,
                              population pop)
{
    char col[40], tcol[40], name[64];
    snprintf(col, sizeof col, "%s", *prefix ? "src_flux" : "galaxy_flux");
    snprintf(tcol, sizeof tcol, "%sflux", prefix);
    if (sl_table_find(est, col) >= 0)
        for (int b = 0; b < n_bands; b++) {
            snprintf(name, sizeof name, "%.39s_%.15s", col, band_names[b]);
            add_param(name, group, col, tcol, b, pop, K_SCALAR, TR_LOG);
        }
    static const char *const shape[] = {"disk_frac", "disk_q", "bulge_q", "angle", "disk_a",
                                        "bulge_a"};
    for (int k = 0; k < 6; k++) {
        snprintf(col, sizeof col, "%s%s", prefix, shape[k]);
        if (sl_table_find(est, col) < 0)
            continue;
        sl_transform tr = k < 3 ? TR_UNIT : k == 3 ? TR_ANGLE : TR_LOG;
        param *p = add_param(col, group, col, col, 0, pop, K_SCALAR, tr);
        if (k == 3)
            p->period = M_PI;
    }
}

static void setup_params(const sl_table *est)
{
    if (sl_table_find(est, "u_mu") >= 0) {
        add_param("x", "detect", "x", "x", 0, POP_ANY, K_LOCATION, TR_UNIT);
        add_param("y", "detect", "y", "y", 0, POP_ANY, K_LOCATION, TR_UNIT);
    }
    if (sl_table_find(est, "star_flux") >= 0)
        for (int b = 0; b < n_bands; b++) {
            char name[64];
            snprintf(name, sizeof name, "star_flux_%.15s", band_names[b]);
            add_param(name, "detect", "star_flux", "flux", b, POP_STAR, K_SCALAR, TR_LOG);
        }
    add_galaxy_params(est, "", "galaxy", POP_GALAXY);
    static const char *const lens[] = {"theta_e", "e1", "e2", "src_dx", "src_dy"};
    if (sl_table_find(est, "lens_mu") >= 0)
        for (int k = 0; k < 5; k++) {
            sl_transform tr = k == 0 ? TR_LOG : k < 3 ? TR_PM1 : TR_ID;
            param *p = add_param(lens[k], "lens", lens[k], lens[k], 0, POP_LENS, K_LENS, tr);
            p->coord = k;
        }
    add_galaxy_params(est, "src_", "source", POP_LENS);
}

/* ---- What is collected ----------------------------------------------------------- */

static struct {
    long images, n_true, n_est;
    int mode_exact, mode_known;       /* decided on the first record */
    int no_zero_point;                /* some record had none: instrumental magnitudes */
    /* Detection (distance matching only): one entry per truth, per estimate. */
    dvec t_mag, t_snr, t_matched;
    dvec e_mag, e_snr, e_matched, e_match_snr;
    /* Binary factors: (p, outcome). */
    dvec p[3];
    unsigned char *y[3];
    long y_cap[3];
    /* The joint lens posterior, for TARP. */
    dvec tarp_z, tarp_mu, tarp_chol;
    int tile;
} all;

static const char *const binary_names[3] = {"source", "galaxy", "lens"};

static void push_binary(int k, double p, int y)
{
    /* NaN: the gated cascade did not ask (P(lens) of a source classified as a star). */
    if (isnan(p))
        return;
    push(&all.p[k], p);
    if (all.p[k].n > all.y_cap[k]) {
        all.y_cap[k] = all.p[k].cap;
        unsigned char *v = realloc(all.y[k], (size_t)all.y_cap[k]);
        if (!v)
            sl_die("out of memory");
        all.y[k] = v;
    }
    all.y[k][all.p[k].n - 1] = (unsigned char)y;
}

/* ---- Reading one record ---------------------------------------------------------- */

/* What is known about the record beside its two tables. */
typedef struct rec_meta {
    int n_bands;
    char bands[SL_MAX_BANDS][16];
    double zero_point, pixel_scale;
    int has_zero_point;
    double xlo, xhi, ylo, yhi;  /* where its estimates can lie: the interior */
    double snr_norm;            /* sqrt(background A_eff) of the reference band, or NaN */
} rec_meta;

/* A number from a msgpack object, or NaN. */
static double obj_num(const msgpack_object *o)
{
    if (!o)
        return NAN;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
    default: return NAN;
    }
}

/* Full width at half maximum in pixels of a PSF map, for A_eff. */
static double psf_fwhm_pixels(const sl_record *rec, const msgpack_object *m, int b,
                              double pixel_scale)
{
    sl_err err;
    char key[32];
    snprintf(key, sizeof key, "psf[%d]", b);
    const msgpack_object *model = sl_obj_get(m, "model");
    if (model && (sl_obj_is_str(model, "gaussian") || sl_obj_is_str(model, "moffat"))) {
        double fwhm = obj_num(sl_obj_get(m, "fwhm"));
        if (fwhm > 0 && isfinite(fwhm))
            return fwhm / pixel_scale;
        sl_rec_fail(rec, key, &err, "key 'fwhm': expected a positive number");
        sl_die_err(&err);
    }
    if (model && sl_obj_is_str(model, "sdss")) {
        /* No closed form: find where the profile falls to half its peak. */
        const char *names[6] = {"sigma1", "sigma2", "sigmap", "beta", "b", "p0"};
        double v[6];
        for (int k = 0; k < 6; k++) {
            if (!isfinite(v[k] = obj_num(sl_obj_get(m, names[k])))) {
                sl_rec_fail(rec, key, &err, "key '%s': expected a number", names[k]);
                sl_die_err(&err);
            }
        }
        sl_psf psf;
        if (sl_psf_init_sdss(&psf, v[0], v[1], v[2], v[3], v[4], v[5], &err) < 0) {
            sl_rec_fail(rec, key, &err, "%s", err.msg);
            sl_die_err(&err);
        }
        double half = sl_psf_profile(&psf, 0) / 2, lo = 0, hi = 1;
        while (sl_psf_profile(&psf, hi) > half && hi < 1e4)
            hi *= 2;
        for (int it = 0; it < 60; it++) {
            double mid = (lo + hi) / 2;
            if (sl_psf_profile(&psf, mid) > half)
                lo = mid;
            else
                hi = mid;
        }
        return 2 * lo;
    }
    sl_rec_fail(rec, key, &err, "--min-snr needs a gaussian, moffat or sdss PSF to have a FWHM");
    sl_die_err(&err);
}

/* The noise scale sqrt(background A_eff) of the reference band, with A_eff =
 * 4 pi sigma^2 the noise-equivalent area of a Gaussian of the PSF's FWHM. */
static double snr_norm(const sl_record *rec, const sl_image *img)
{
    sl_err err;
    const msgpack_object *psf = sl_rec_get(rec, "psf");
    if (!psf || psf->type != MSGPACK_OBJECT_ARRAY || (int)psf->via.array.size != img->n_bands) {
        sl_rec_fail(rec, "psf", &err, "%s: --min-snr needs a PSF per band",
                    psf ? "expected an array of one map per band" : "missing");
        sl_die_err(&err);
    }
    double fwhm = psf_fwhm_pixels(rec, &psf->via.array.ptr[ref_band], ref_band, img->pixel_scale);
    double sigma = fwhm / (2 * sqrt(2 * log(2)));
    double bg = img->background[ref_band];
    if (!(bg > 0)) {
        sl_rec_fail(rec, "background", &err, "%g in band %s: --min-snr needs a positive sky",
                    bg, img->bands[ref_band]);
        sl_die_err(&err);
    }
    return sqrt(bg * 4 * M_PI * sigma * sigma);
}

static void read_catalog_meta(const sl_record *rec, rec_meta *m)
{
    sl_err err;
    const msgpack_object *bands = sl_rec_get(rec, "bands");
    if (!bands || bands->type != MSGPACK_OBJECT_ARRAY || bands->via.array.size < 1 ||
        bands->via.array.size > SL_MAX_BANDS) {
        sl_rec_fail(rec, "bands", &err, "expected an array of 1 to %d band names", SL_MAX_BANDS);
        sl_die_err(&err);
    }
    m->n_bands = (int)bands->via.array.size;
    for (int b = 0; b < m->n_bands; b++) {
        const msgpack_object *o = &bands->via.array.ptr[b];
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size < 1 || o->via.str.size > 15) {
            sl_rec_fail(rec, "bands", &err, "element %d: expected a band name", b);
            sl_die_err(&err);
        }
        snprintf(m->bands[b], 16, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    }
    double zp[SL_MAX_BANDS];
    m->has_zero_point = sl_rec_get(rec, "zero_point") != NULL;
    if (m->has_zero_point && sl_rec_nums(rec, "zero_point", zp, (size_t)m->n_bands, &err) < 0)
        sl_die_err(&err);
    m->zero_point = m->has_zero_point ? zp[ref_band < m->n_bands ? ref_band : 0] : 0;
    /* A merged catalog is in its parent's pixels and holds only interiors. */
    m->xlo = m->ylo = -INFINITY;
    m->xhi = m->yhi = INFINITY;
    m->snr_norm = NAN;
    if (opt.min_snr > 0) {
        sl_rec_fail(rec, "psf", &err, "missing: a catalog record has no PSF or background "
                                      "for --min-snr (calibrate the image records instead)");
        sl_die_err(&err);
    }
}

static void read_image_meta(const sl_record *rec, sl_image *img, rec_meta *m)
{
    sl_err err;
    if (sl_image_read_meta(img, rec, &err) < 0)
        sl_die_err(&err);
    m->n_bands = img->n_bands;
    memcpy(m->bands, img->bands, sizeof m->bands);
    m->has_zero_point = img->has_zero_point;
    m->pixel_scale = img->pixel_scale;
    /* The interior, clipped to the parent, as sl-encode and sl-merge cut it. */
    int b = img->border;
    m->xlo = b > -img->x0 ? b : -img->x0;
    m->ylo = b > -img->y0 ? b : -img->y0;
    m->xhi = img->width - b;
    m->yhi = img->height - b;
    if (m->xhi > img->parent_width - img->x0)
        m->xhi = img->parent_width - img->x0;
    if (m->yhi > img->parent_height - img->y0)
        m->yhi = img->parent_height - img->y0;
    m->snr_norm = NAN;
    if (opt.min_snr > 0 && n_bands >= 0) {
        if (!sl_rec_get(rec, "background") && sl_rec_get(rec, "background_map") &&
            sl_image_read(img, rec, &err) < 0) /* the map's mean is the scalar sky */
            sl_die_err(&err);
        m->snr_norm = snr_norm(rec, img);
    }
    m->zero_point = img->has_zero_point && n_bands >= 0 ? img->zero_point[ref_band] : 0;
}

/* The first record fixes the bands and the reference band; later ones must agree. */
static void check_bands(const sl_record *rec, const rec_meta *m)
{
    sl_err err;
    if (n_bands < 0) {
        n_bands = m->n_bands;
        memcpy(band_names, m->bands, sizeof band_names);
        ref_band = 0;
        const char *want = opt.band ? opt.band : "r";
        int found = 0;
        for (int b = 0; b < n_bands; b++)
            if (!strcmp(band_names[b], want))
                ref_band = b, found = 1;
        if (opt.band && !found) {
            sl_rec_fail(rec, "bands", &err, "no band '%s' (--band)", opt.band);
            sl_die_err(&err);
        }
        return;
    }
    int same = m->n_bands == n_bands;
    for (int b = 0; same && b < n_bands; b++)
        same = !strcmp(m->bands[b], band_names[b]);
    if (!same) {
        sl_rec_fail(rec, "bands", &err, "differ from the first record's (%d bands, %s first)",
                    n_bands, band_names[0]);
        sl_die_err(&err);
    }
}

/* A column of the record's table, of the given width, or a fatal error. */
static int need_col(const sl_record *rec, const sl_table *t, const char *key, const char *name,
                    int width)
{
    sl_err err;
    char path[96];
    snprintf(path, sizeof path, "%s.%s", key, name);
    int c = sl_table_find(t, name);
    if (c < 0) {
        sl_rec_fail(rec, path, &err, "missing");
        sl_die_err(&err);
    }
    if (t->n > 0 && t->cols[c].width != width) {
        sl_rec_fail(rec, path, &err, "%d values per source, expected %d", t->cols[c].width,
                    width);
        sl_die_err(&err);
    }
    return c;
}

static int opt_col(const sl_record *rec, const sl_table *t, const char *key, const char *name,
                   int width)
{
    return sl_table_find(t, name) < 0 ? -1 : need_col(rec, t, key, name, width);
}

static double at(const sl_table *t, int c, int row, int k)
{
    return c < 0 ? NAN : sl_table_at(t, c, row)[k];
}

/* Finds this record's columns for every parameter. */
static void resolve_columns(const sl_record *rec, const sl_table *est, const sl_table *tru)
{
    char name[80];
    for (int i = 0; i < n_params; i++) {
        param *p = &params[i];
        int w = strstr(p->col, "flux") ? n_bands : 1; /* fluxes are per band */
        p->c_mean = need_col(rec, est, "estimate", p->col, w);
        snprintf(name, sizeof name, "%s_q16", p->col);
        p->c_q16 = need_col(rec, est, "estimate", name, w);
        snprintf(name, sizeof name, "%s_q50", p->col);
        p->c_q50 = need_col(rec, est, "estimate", name, w);
        snprintf(name, sizeof name, "%s_q84", p->col);
        p->c_q84 = need_col(rec, est, "estimate", name, w);
        if (p->kind == K_LENS) {
            p->c_mu = need_col(rec, est, "estimate", "lens_mu", 5);
            p->c_sigma = need_col(rec, est, "estimate", "lens_chol", 15);
        } else {
            /* The location's z-space columns are u and v, in tile units. */
            const char *z = p->kind != K_LOCATION ? p->col : !strcmp(p->col, "x") ? "u" : "v";
            snprintf(name, sizeof name, "%s_mu", z);
            p->c_mu = need_col(rec, est, "estimate", name, w);
            snprintf(name, sizeof name, "%s_sigma", z);
            p->c_sigma = need_col(rec, est, "estimate", name, w);
        }
        p->c_truth = need_col(rec, tru, "truth", p->tcol, w);
    }
}

/* z = t(v) for a true value; a value on or just past an end of a logit
 * interval (an axis ratio of 1 in float32) is moved inside as in training
 * (sl_family_clamp_target); one clearly outside the support is +-inf, which
 * no interval covers. */
static double transform(sl_transform tr, double v)
{
    switch (tr.kind) {
    case SL_TR_LOG:
        return v > 0 ? log(v) : -INFINITY;
    case SL_TR_LOGIT: {
        double w = tr.b - tr.a, m = SL_FAMILY_LOGIT_MARGIN * w;
        if (v < tr.a - m || v > tr.b + m)
            return v < tr.a ? -INFINITY : INFINITY;
        v = v < tr.a + m ? tr.a + m : v > tr.b - m ? tr.b - m : v;
        return log((v - tr.a) / (tr.b - v));
    }
    default:
        return v;
    }
}

/* The tile side, from the first located estimate: x_q50 = T (i + logistic(u_mu))
 * for a whole tile index i (patches start on the tile grid), so only the true
 * T makes x_q50 / T - logistic(u_mu) whole for every row. */
static int infer_tile(const sl_record *rec, const sl_table *est)
{
    int cq[2] = {sl_table_find(est, "x_q50"), sl_table_find(est, "y_q50")};
    int cm[2] = {sl_table_find(est, "u_mu"), sl_table_find(est, "v_mu")};
    int best = 0;
    for (int T = 8; T >= 1 && !best; T /= 2) {
        int ok = 1;
        for (int r = 0; r < est->n && ok; r++)
            for (int a = 0; a < 2; a++) {
                double q = *sl_table_at(est, cq[a], r);
                double u = 1 / (1 + exp(-*sl_table_at(est, cm[a], r)));
                double k = q / T - u, tol = (1e-6 * fabs(q) + 1e-4) / T;
                ok &= fabs(k - round(k)) <= tol;
            }
        if (ok)
            best = T;
    }
    if (!best) {
        sl_err err;
        sl_rec_fail(rec, "estimate.x_q50", &err, "no tile side of 1, 2, 4 or 8 pixels fits the "
                                                 "locations: give it with --tile");
        sl_die_err(&err);
    }
    return best;
}

/* Mean, quantiles and z-space normal of parameter p for estimate row e, and
 * the truth's z from true value v.  0 when the posterior is usable. */
static int posterior(const param *p, const sl_table *est, int e, double v, double *mu,
                     double *sigma, double *z)
{
    if (p->kind == K_LENS) {
        const float *m = sl_table_at(est, p->c_mu, e), *L = sl_table_at(est, p->c_sigma, e);
        int row = p->coord * (p->coord + 1) / 2;
        double s2 = 0;
        for (int c = 0; c <= p->coord; c++)
            s2 += (double)L[row + c] * L[row + c];
        *mu = m[p->coord];
        *sigma = sqrt(s2);
        *z = transform(p->tr, v);
    } else if (p->kind == K_LOCATION) {
        /* The tile's origin from the median, x_q50 = T (i + logistic(u_mu)). */
        *mu = at(est, p->c_mu, e, 0);
        *sigma = at(est, p->c_sigma, e, 0);
        double u = 1 / (1 + exp(-*mu)) + (v - at(est, p->c_q50, e, 0)) / all.tile;
        *z = transform(p->tr, u);
    } else {
        *mu = at(est, p->c_mu, e, p->elem);
        *sigma = at(est, p->c_sigma, e, p->elem);
        *z = transform(p->tr, v);
    }
    return isfinite(*mu) && *sigma > 0 && !isnan(*z) ? 0 : -1;
}

static int in_population(const param *p, const sl_table *tru, int c_gal, int c_lens, int t)
{
    double g = at(tru, c_gal, t, 0), l = at(tru, c_lens, t, 0);
    switch (p->pop) {
    case POP_STAR: return g == 0;
    case POP_GALAXY: return g == 1;
    case POP_LENS: return g == 1 && l == 1;
    default: return 1;
    }
}

static uint64_t seed;

/* One matched pair (estimate row e, truth row t): every continuous parameter
 * whose factor was trained on sources like t. */
static void add_pair(const sl_table *est, const sl_table *tru, int e, int t, int c_gal,
                     int c_lens)
{
    for (int i = 0; i < n_params; i++) {
        param *p = &params[i];
        if (!in_population(p, tru, c_gal, c_lens, t))
            continue;
        double v = at(tru, p->c_truth, t, p->elem);
        if (isnan(v))
            continue;
        if (p->period > 0) /* the tasks train on the angle mod pi */
            v = fmod(v, M_PI) < 0 ? fmod(v, M_PI) + M_PI : fmod(v, M_PI);
        double mu, sigma, z;
        if (posterior(p, est, e, v, &mu, &sigma, &z) < 0)
            continue;
        double pit = sl_calib_pit(z, mu, sigma);
        /* Draws for the k-th evaluation of parameter i: the same whatever
         * else the stream holds. */
        sl_rng r;
        sl_rng_init(&r, seed, (uint64_t)p->pit.n, (uint16_t)(16 + i));
        push(&p->truth, v);
        push(&p->mean, at(est, p->c_mean, e, p->elem));
        push(&p->q16, at(est, p->c_q16, e, p->elem));
        push(&p->q50, at(est, p->c_q50, e, p->elem));
        push(&p->q84, at(est, p->c_q84, e, p->elem));
        push(&p->pit, pit);
        push(&p->rank, sl_calib_sbc_rank(pit, opt.sbc_samples, &r));
    }
    /* The joint lens posterior, for TARP, on true lens systems. */
    int c_mu = sl_table_find(est, "lens_mu"), c_chol = sl_table_find(est, "lens_chol");
    if (c_mu < 0 || at(tru, c_gal, t, 0) != 1 || at(tru, c_lens, t, 0) != 1)
        return;
    static const char *const lens[] = {"theta_e", "e1", "e2", "src_dx", "src_dy"};
    const sl_transform tr[5] = {TR_LOG, TR_PM1, TR_PM1, TR_ID, TR_ID};
    for (int k = 0; k < 5; k++) {
        int c = sl_table_find(tru, lens[k]);
        push(&all.tarp_z, transform(tr[k], at(tru, c, t, 0)));
        push(&all.tarp_mu, sl_table_at(est, c_mu, e)[k]);
    }
    for (int k = 0; k < 15; k++)
        push(&all.tarp_chol, sl_table_at(est, c_chol, e)[k]);
}

static double magnitude(double flux, double zp)
{
    return flux > 0 ? zp - 2.5 * log10(flux) : NAN;
}

/* Pairs rows of an estimate written at the true positions (sl-encode --at
 * truth) with their truth rows: the same sources in the same order, at
 * exactly the same (float32) positions. */
static void match_exact(const sl_record *rec, const sl_table *est, const sl_table *tru,
                        const int *trows, int nt, long *e2t)
{
    int ex = need_col(rec, est, "estimate", "x", 1), ey = need_col(rec, est, "estimate", "y", 1);
    int tx = need_col(rec, tru, "truth", "x", 1), ty = need_col(rec, tru, "truth", "y", 1);
    int j = 0;
    for (int e = 0; e < est->n; e++) {
        float x = *sl_table_at(est, ex, e), y = *sl_table_at(est, ey, e);
        while (j < nt && !(*sl_table_at(tru, tx, trows[j]) == x &&
                           *sl_table_at(tru, ty, trows[j]) == y))
            j++;
        if (j == nt) {
            sl_err err;
            sl_rec_fail(rec, "estimate.x", &err,
                        "row %d at (%g, %g) has no true source at that position after the "
                        "previous row's: not written by sl-encode --at truth (use --match "
                        "distance)", e, x, y);
            sl_die_err(&err);
        }
        e2t[e] = trows[j++];
    }
}

static void take_record(const sl_record *rec, sl_image *img, sl_table *est, sl_table *tru)
{
    sl_err err;
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "estimate" : "truth";
        if (!sl_rec_get(rec, key)) {
            sl_rec_fail(rec, key, &err, "missing: sl-calibrate needs %s",
                        k ? "the estimates of sl-encode (or sl-merge) beside the truth"
                          : "the true catalog of a simulation beside the estimate");
            sl_die_err(&err);
        }
    }
    if (sl_table_read(est, rec, "estimate", &err) < 0 || sl_table_read(tru, rec, "truth", &err) < 0)
        sl_die_err(&err);
    rec_meta m;
    int first = n_bands < 0;
    if (!strcmp(rec->type, "image"))
        read_image_meta(rec, img, &m);
    else
        read_catalog_meta(rec, &m);
    check_bands(rec, &m);
    if (first && !strcmp(rec->type, "image")) /* now that the reference band is known */
        read_image_meta(rec, img, &m);
    if (!m.has_zero_point)
        all.no_zero_point = 1;
    if (!all.mode_known) {
        all.mode_exact = opt.match == MATCH_EXACT ||
                         (opt.match == MATCH_AUTO && sl_table_find(est, "p_source") < 0);
        all.mode_known = 1;
        setup_params(est);
    }
    if (n_params && est->n > 0 && !all.tile && sl_table_find(est, "u_mu") >= 0)
        all.tile = opt.tile ? opt.tile : infer_tile(rec, est);
    resolve_columns(rec, est, tru);

    int tx = need_col(rec, tru, "truth", "x", 1), ty = need_col(rec, tru, "truth", "y", 1);
    int c_gal = need_col(rec, tru, "truth", "galaxy", 1);
    int lensing = sl_table_find(est, "p_lens") >= 0 || sl_table_find(est, "lens_mu") >= 0;
    int c_lens = lensing ? need_col(rec, tru, "truth", "lens", 1) : -1;
    int c_tflux = need_col(rec, tru, "truth", "flux", n_bands);
    int *trows = malloc(((size_t)tru->n + 1) * sizeof *trows);
    long *t2e = malloc(((size_t)tru->n + 1) * sizeof *t2e);
    long *e2t = malloc(((size_t)est->n + 1) * sizeof *e2t);
    double *xy = malloc(((size_t)tru->n + est->n + 1) * 4 * sizeof *xy);
    if (!trows || !t2e || !e2t || !xy)
        sl_die("out of memory");
    int nt = 0;
    for (int t = 0; t < tru->n; t++) {
        double x = *sl_table_at(tru, tx, t), y = *sl_table_at(tru, ty, t);
        if (x >= m.xlo && x < m.xhi && y >= m.ylo && y < m.yhi)
            trows[nt++] = t;
    }
    if (all.mode_exact) {
        match_exact(rec, est, tru, trows, nt, e2t);
    } else {
        int ex = need_col(rec, est, "estimate", "x", 1);
        int ey = need_col(rec, est, "estimate", "y", 1);
        int c_eflux = need_col(rec, est, "estimate", "flux", n_bands);
        int c_ps = opt_col(rec, est, "estimate", "p_source", 1);
        double *txv = xy, *tyv = xy + nt, *exv = xy + 2 * nt, *eyv = exv + est->n;
        for (int k = 0; k < nt; k++)
            txv[k] = *sl_table_at(tru, tx, trows[k]), tyv[k] = *sl_table_at(tru, ty, trows[k]);
        for (int e = 0; e < est->n; e++)
            exv[e] = *sl_table_at(est, ex, e), eyv[e] = *sl_table_at(est, ey, e);
        if (sl_calib_match(txv, tyv, nt, exv, eyv, est->n, opt.radius, t2e, e2t, &err) < 0)
            sl_die_err(&err);
        for (int k = 0; k < nt; k++) {
            double f = sl_table_at(tru, c_tflux, trows[k])[ref_band];
            push(&all.t_mag, magnitude(f, m.zero_point));
            push(&all.t_snr, f / m.snr_norm);
            push(&all.t_matched, t2e[k] >= 0);
        }
        for (int e = 0; e < est->n; e++) {
            double f = sl_table_at(est, c_eflux, e)[ref_band];
            push(&all.e_mag, magnitude(f, m.zero_point));
            push(&all.e_snr, f / m.snr_norm);
            push(&all.e_matched, e2t[e] >= 0);
            double ft = e2t[e] >= 0 ? sl_table_at(tru, c_tflux, trows[e2t[e]])[ref_band] : NAN;
            push(&all.e_match_snr, ft / m.snr_norm);
            if (c_ps >= 0)
                push_binary(0, *sl_table_at(est, c_ps, e), e2t[e] >= 0);
            e2t[e] = e2t[e] >= 0 ? trows[e2t[e]] : -1; /* from here on: truth rows */
        }
    }
    int c_pg = opt_col(rec, est, "estimate", "p_galaxy", 1);
    int c_pl = opt_col(rec, est, "estimate", "p_lens", 1);
    for (int e = 0; e < est->n; e++) {
        int t = (int)e2t[e];
        if (t < 0)
            continue;
        double g = at(tru, c_gal, t, 0);
        if (c_pg >= 0 && (g == 0 || g == 1))
            push_binary(1, *sl_table_at(est, c_pg, e), (int)g);
        /* lens-detect is trained on galaxies only. */
        if (c_pl >= 0 && g == 1)
            push_binary(2, *sl_table_at(est, c_pl, e), at(tru, c_lens, t, 0) == 1);
        add_pair(est, tru, e, t, c_gal, c_lens);
    }
    all.images++;
    all.n_true += nt;
    all.n_est += est->n;
    free(trows);
    free(t2e);
    free(e2t);
    free(xy);
}

/* ---- The measurements ------------------------------------------------------------ */

typedef struct detect_row {
    double lo, hi; /* magnitude bin; NaN for the overall and SNR rows */
    sl_calib_detect d;
} detect_row;

static detect_row det_all, det_snr, det_bins[MAX_MAG_BINS];
static int n_det_bins;
static sl_calib_reliability rel[3], rel_eq[3];
static sl_calib_tarp tarp;
static int have_tarp;

static void default_mag_edges(void)
{
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < all.t_mag.n; i++)
        if (isfinite(all.t_mag.v[i])) {
            lo = fmin(lo, all.t_mag.v[i]);
            hi = fmax(hi, all.t_mag.v[i]);
        }
    if (!(lo <= hi))
        return;
    /* Whole magnitudes, in steps wide enough for at most 12 bins. */
    double a = floor(lo), b = ceil(hi) > floor(lo) ? ceil(hi) : floor(lo) + 1;
    double step = ceil((b - a) / 12);
    opt.n_mag_edges = 0;
    for (double e = a; e < b + step - 1e-9 && opt.n_mag_edges <= MAX_MAG_BINS; e += step)
        opt.mag_edges[opt.n_mag_edges++] = e;
}

static void measure_detection(void)
{
    long mt = 0, me = 0;
    for (long i = 0; i < all.t_matched.n; i++)
        mt += all.t_matched.v[i] > 0;
    for (long i = 0; i < all.e_matched.n; i++)
        me += all.e_matched.v[i] > 0;
    det_all.lo = det_all.hi = NAN;
    sl_calib_detect_counts(all.t_mag.n, mt, all.e_mag.n, me, &det_all.d);
    if (!opt.n_mag_edges)
        default_mag_edges();
    n_det_bins = opt.n_mag_edges > 1 ? opt.n_mag_edges - 1 : 0;
    for (int k = 0; k < n_det_bins; k++) {
        double lo = opt.mag_edges[k], hi = opt.mag_edges[k + 1];
        long nt = 0, nm = 0, ne = 0, nem = 0;
        /* Recall by true magnitude, precision by estimated magnitude. */
        for (long i = 0; i < all.t_mag.n; i++)
            if (all.t_mag.v[i] >= lo && all.t_mag.v[i] < hi)
                nt++, nm += all.t_matched.v[i] > 0;
        for (long i = 0; i < all.e_mag.n; i++)
            if (all.e_mag.v[i] >= lo && all.e_mag.v[i] < hi)
                ne++, nem += all.e_matched.v[i] > 0;
        det_bins[k].lo = lo;
        det_bins[k].hi = hi;
        sl_calib_detect_counts(nt, nm, ne, nem, &det_bins[k].d);
    }
    if (opt.min_snr > 0) {
        long nt = 0, nm = 0, ne = 0, nem = 0;
        for (long i = 0; i < all.t_snr.n; i++)
            if (all.t_snr.v[i] >= opt.min_snr)
                nt++, nm += all.t_matched.v[i] > 0;
        /* Estimates of bright true sources, and unmatched ones that claim to be bright. */
        for (long i = 0; i < all.e_snr.n; i++) {
            int matched = all.e_matched.v[i] > 0;
            if (matched ? all.e_match_snr.v[i] >= opt.min_snr : all.e_snr.v[i] >= opt.min_snr)
                ne++, nem += matched;
        }
        det_snr.lo = det_snr.hi = NAN;
        sl_calib_detect_counts(nt, nm, ne, nem, &det_snr.d);
    }
}

static void measure(void)
{
    sl_err err;
    if (!all.mode_exact)
        measure_detection();
    for (int k = 0; k < 3; k++)
        if (all.p[k].n > 0 &&
            (sl_calib_bin_reliability(all.p[k].v, all.y[k], all.p[k].n, opt.bins, 0, &rel[k],
                                      &err) < 0 ||
             sl_calib_bin_reliability(all.p[k].v, all.y[k], all.p[k].n, opt.bins, 1, &rel_eq[k],
                                      &err) < 0))
            sl_die_err(&err);
    for (int i = 0; i < n_params; i++) {
        param *p = &params[i];
        sl_calib_coverage_from_pit(p->pit.v, p->pit.n, ALPHA, &p->cov);
        int *ranks = malloc(((size_t)p->rank.n + 1) * sizeof *ranks);
        if (!ranks)
            sl_die("out of memory");
        long nr = 0;
        for (long k = 0; k < p->rank.n; k++)
            if (p->rank.v[k] >= 0)
                ranks[nr++] = (int)p->rank.v[k];
        int bins = sl_calib_sbc_bins(opt.sbc_samples, nr, 20);
        if (sl_calib_rank_histogram(ranks, nr, opt.sbc_samples, bins, &p->sbc, &err) < 0 ||
            sl_calib_point_accuracy(p->truth.v, p->mean.v, p->q16.v, p->q50.v, p->q84.v,
                                    p->truth.n, p->period, p->ratio, &p->point, &err) < 0)
            sl_die_err(&err);
        free(ranks);
    }
    long n_lens = all.tarp_z.n / 5;
    if (n_lens > 0) {
        if (sl_calib_tarp_curve(all.tarp_z.v, all.tarp_mu.v, all.tarp_chol.v, n_lens, 5,
                                opt.tarp_samples, opt.tarp_boot, seed, &tarp, &err) < 0)
            sl_die_err(&err);
        have_tarp = tarp.n > 0;
    }
}

/* ---- The text table ---------------------------------------------------------------- */

static void print_num(FILE *f, const char *fmt_ok, int width, double v)
{
    if (isfinite(v))
        fprintf(f, fmt_ok, width, v);
    else
        fprintf(f, "%*s", width, "-");
}

static void print_detect_row(FILE *f, const char *label, const sl_calib_detect *d)
{
    fprintf(f, "  %-14s %8ld %8ld", label, d->n_true, d->n_est);
    print_num(f, " %*.3f", 10, d->precision);
    print_num(f, " %*.3f", 8, d->recall);
    print_num(f, " %*.3f", 7, d->f1);
    fputc('\n', f);
}

static void print_table(FILE *f)
{
    fprintf(f, "sl-calibrate: %ld records, %ld true sources, %ld estimates\n", all.images,
            all.n_true, all.n_est);
    if (all.mode_exact) {
        fprintf(f, "\nDetection: not measured (estimates at the true positions, matched row "
                   "to row)\n");
    } else {
        fprintf(f, "\nDetection: matched within %g px; magnitudes in band %s%s\n", opt.radius,
                n_bands > 0 ? band_names[ref_band] : "-",
                all.no_zero_point ? " (instrumental: no zero point)" : "");
        fprintf(f, "  %-14s %8s %8s %10s %8s %7s\n", "true mag", "n_true", "n_est", "precision",
                "recall", "F1");
        print_detect_row(f, "all", &det_all.d);
        for (int k = 0; k < n_det_bins; k++) {
            char label[40];
            snprintf(label, sizeof label, "[%g, %g)", det_bins[k].lo, det_bins[k].hi);
            print_detect_row(f, label, &det_bins[k].d);
        }
        if (opt.min_snr > 0) {
            char label[40];
            snprintf(label, sizeof label, "SNR >= %g", opt.min_snr);
            print_detect_row(f, label, &det_snr.d);
        }
    }
    int any = 0;
    for (int k = 0; k < 3; k++)
        any |= all.p[k].n > 0;
    if (any) {
        fprintf(f, "\nBinary factors: %d bins (equal width | equal count)\n", opt.bins);
        fprintf(f, "  %-14s %8s %7s %7s %7s | %7s %7s\n", "factor", "n", "ECE", "MCE", "Brier",
                "ECE", "MCE");
        for (int k = 0; k < 3; k++) {
            if (!all.p[k].n)
                continue;
            fprintf(f, "  %-14s %8ld", binary_names[k], rel[k].n);
            print_num(f, " %*.4f", 7, rel[k].ece);
            print_num(f, " %*.4f", 7, rel[k].mce);
            print_num(f, " %*.4f", 7, rel[k].brier);
            fprintf(f, " |");
            print_num(f, " %*.4f", 7, rel_eq[k].ece);
            print_num(f, " %*.4f", 7, rel_eq[k].mce);
            fputc('\n', f);
        }
    }
    if (n_params) {
        fprintf(f, "\nCoverage of central credible intervals, %% (* outside the 99%% band); "
                   "SBC with %d draws\n", opt.sbc_samples);
        fprintf(f, "  %-18s %7s", "parameter", "n");
        for (int l = 0; l < SL_CALIB_N_LEVELS; l++)
            fprintf(f, " %6g", 100 * sl_calib_levels[l]);
        fprintf(f, "  %-15s %7s\n", "verdict", "SBC p");
        for (int i = 0; i < n_params; i++) {
            const param *p = &params[i];
            fprintf(f, "  %-18s %7ld", p->name, p->cov.n);
            for (int l = 0; l < SL_CALIB_N_LEVELS; l++) {
                if (p->cov.n)
                    fprintf(f, " %5.1f%c", 100 * p->cov.cover[l], p->cov.flag[l] ? '*' : ' ');
                else
                    fprintf(f, " %6s", "-");
            }
            fprintf(f, "  %-15s", sl_calib_verdict_name(p->cov.verdict));
            print_num(f, " %*.3g", 7, p->sbc.p_value);
            fputc('\n', f);
        }
        fprintf(f, "\nPoint accuracy of the posterior mean\n");
        fprintf(f, "  %-18s %7s %8s %10s %9s %9s %10s\n", "parameter", "n", "R2", "med|err|",
                "med.frac", "med.prec", "bias");
        for (int i = 0; i < n_params; i++) {
            const param *p = &params[i];
            fprintf(f, "  %-18s %7ld", p->name, p->point.n);
            print_num(f, " %*.4f", 8, p->point.r2);
            print_num(f, " %*.4g", 10, p->point.mae);
            print_num(f, " %*.4f", 9, p->point.frac_dev);
            print_num(f, " %*.4f", 9, p->point.rel_prec);
            print_num(f, " %*.4g", 10, p->point.bias);
            fputc('\n', f);
        }
    }
    if (have_tarp)
        fprintf(f, "\nTARP, joint lens posterior (theta_e, e1, e2, src_dx, src_dy): %ld systems, "
                   "max |ECP - alpha| %.4f, ATC %.4f, KS p %.3g%s\n",
                tarp.n, tarp.max_dev, tarp.atc, tarp.ks_p,
                tarp.ks_p < ALPHA ? " (miscalibrated)" : "");
}

/* ---- The report record (and its JSON) ---------------------------------------- */

static void pack_doubles(msgpack_packer *pk, const char *key, const double *v, int n)
{
    sl_pack_str(pk, key);
    msgpack_pack_array(pk, (uint32_t)n);
    for (int i = 0; i < n; i++)
        msgpack_pack_double(pk, v[i]);
}

static void pack_detect(msgpack_packer *pk, const detect_row *r)
{
    msgpack_pack_map(pk, 8);
    sl_pack_kv_num(pk, "mag_lo", r->lo);
    sl_pack_kv_num(pk, "mag_hi", r->hi);
    sl_pack_kv_int(pk, "n_true", r->d.n_true);
    sl_pack_kv_int(pk, "n_est", r->d.n_est);
    sl_pack_kv_int(pk, "matched", r->d.n_match_true);
    sl_pack_kv_num(pk, "precision", r->d.precision);
    sl_pack_kv_num(pk, "recall", r->d.recall);
    sl_pack_kv_num(pk, "f1", r->d.f1);
}

static void pack_reliability(msgpack_packer *pk, const sl_calib_reliability *r)
{
    msgpack_pack_map(pk, 5);
    sl_pack_kv_int(pk, "n", r->n);
    sl_pack_kv_num(pk, "ece", r->ece);
    sl_pack_kv_num(pk, "mce", r->mce);
    sl_pack_kv_num(pk, "brier", r->brier);
    sl_pack_str(pk, "bins");
    msgpack_pack_array(pk, (uint32_t)r->n_bins);
    for (int b = 0; b < r->n_bins; b++) {
        msgpack_pack_map(pk, 6);
        sl_pack_kv_num(pk, "lo", r->bin[b].lo);
        sl_pack_kv_num(pk, "hi", r->bin[b].hi);
        sl_pack_kv_int(pk, "n", r->bin[b].n);
        sl_pack_kv_num(pk, "conf", r->bin[b].conf);
        sl_pack_kv_num(pk, "freq", r->bin[b].freq);
        sl_pack_kv_num(pk, "err", r->bin[b].err);
    }
}

static void pack_param(msgpack_packer *pk, const param *p)
{
    msgpack_pack_map(pk, 8);
    sl_pack_kv_str(pk, "name", p->name);
    sl_pack_kv_str(pk, "group", p->group);
    sl_pack_kv_int(pk, "n", p->cov.n);
    pack_doubles(pk, "coverage", p->cov.cover, SL_CALIB_N_LEVELS);
    pack_doubles(pk, "band", p->cov.band, SL_CALIB_N_LEVELS);
    sl_pack_kv_str(pk, "verdict", sl_calib_verdict_name(p->cov.verdict));
    sl_pack_str(pk, "sbc");
    msgpack_pack_map(pk, 6);
    sl_pack_kv_int(pk, "draws", p->sbc.L);
    sl_pack_kv_int(pk, "bins", p->sbc.n_bins);
    sl_pack_str(pk, "counts");
    msgpack_pack_array(pk, (uint32_t)p->sbc.n_bins);
    for (int b = 0; b < p->sbc.n_bins; b++)
        msgpack_pack_int64(pk, p->sbc.count[b]);
    sl_pack_kv_num(pk, "chi2", p->sbc.chi2);
    sl_pack_kv_int(pk, "dof", p->sbc.dof);
    sl_pack_kv_num(pk, "p_value", p->sbc.p_value);
    sl_pack_str(pk, "point");
    msgpack_pack_map(pk, 7);
    sl_pack_kv_int(pk, "n", p->point.n);
    sl_pack_kv_num(pk, "r2", p->point.r2);
    sl_pack_kv_num(pk, "median_abs_error", p->point.mae);
    sl_pack_kv_num(pk, "median_frac_dev", p->point.frac_dev);
    sl_pack_kv_num(pk, "median_rel_precision", p->point.rel_prec);
    sl_pack_kv_num(pk, "bias", p->point.bias);
    sl_pack_kv_num(pk, "rmse", p->point.rmse);
}

static void pack_report(msgpack_packer *pk)
{
    int n_bin = 0;
    for (int k = 0; k < 3; k++)
        n_bin += all.p[k].n > 0;
    msgpack_pack_map(pk, 11);
    sl_pack_kv_str(pk, "type", "report");
    sl_pack_kv_str(pk, "tool", "sl-calibrate");
    sl_pack_kv_int(pk, "records", all.images);
    sl_pack_kv_str(pk, "match", all.mode_exact ? "exact" : "distance");
    sl_pack_kv_num(pk, "radius", opt.radius);
    sl_pack_kv_str(pk, "band", n_bands > 0 ? band_names[ref_band] : "");
    sl_pack_str(pk, "detection");
    if (all.mode_exact) {
        msgpack_pack_nil(pk);
    } else {
        msgpack_pack_map(pk, 5);
        sl_pack_kv_bool(pk, "instrumental_mag", all.no_zero_point);
        sl_pack_str(pk, "all");
        pack_detect(pk, &det_all);
        sl_pack_str(pk, "bins");
        msgpack_pack_array(pk, (uint32_t)n_det_bins);
        for (int k = 0; k < n_det_bins; k++)
            pack_detect(pk, &det_bins[k]);
        sl_pack_kv_num(pk, "min_snr", opt.min_snr > 0 ? opt.min_snr : NAN);
        sl_pack_str(pk, "snr");
        if (opt.min_snr > 0)
            pack_detect(pk, &det_snr);
        else
            msgpack_pack_nil(pk);
    }
    sl_pack_str(pk, "binary");
    msgpack_pack_map(pk, (uint32_t)n_bin);
    for (int k = 0; k < 3; k++) {
        if (!all.p[k].n)
            continue;
        sl_pack_str(pk, binary_names[k]);
        msgpack_pack_map(pk, 2);
        sl_pack_str(pk, "equal_width");
        pack_reliability(pk, &rel[k]);
        sl_pack_str(pk, "equal_count");
        pack_reliability(pk, &rel_eq[k]);
    }
    pack_doubles(pk, "levels", sl_calib_levels, SL_CALIB_N_LEVELS);
    sl_pack_str(pk, "continuous");
    msgpack_pack_array(pk, (uint32_t)n_params);
    for (int i = 0; i < n_params; i++)
        pack_param(pk, &params[i]);
    sl_pack_str(pk, "tarp");
    if (!have_tarp) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 12);
    sl_pack_kv_int(pk, "n", tarp.n);
    sl_pack_kv_int(pk, "draws", tarp.n_samples);
    sl_pack_kv_int(pk, "bootstrap", tarp.n_boot);
    pack_doubles(pk, "alpha", tarp.alpha, SL_CALIB_TARP_ALPHAS);
    pack_doubles(pk, "ecp", tarp.ecp, SL_CALIB_TARP_ALPHAS);
    pack_doubles(pk, "lo95", tarp.lo95, SL_CALIB_TARP_ALPHAS);
    pack_doubles(pk, "hi95", tarp.hi95, SL_CALIB_TARP_ALPHAS);
    sl_pack_kv_num(pk, "max_dev", tarp.max_dev);
    sl_pack_kv_num(pk, "atc", tarp.atc);
    sl_pack_kv_num(pk, "ks_d", tarp.ks_d);
    sl_pack_kv_num(pk, "ks_p", tarp.ks_p);
    pack_doubles(pk, "lo68", tarp.lo68, SL_CALIB_TARP_ALPHAS);
}

/* ---- Figures --------------------------------------------------------------------- */

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static void write_plot(sl_svg *s, const char *file)
{
    sl_err err;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", opt.plots, file);
    if (sl_svg_write(s, path, &err) < 0)
        sl_die_err(&err);
    sl_svg_free(s);
}

static void begin_plot(sl_svg *s, const char *title, const char *xl, const char *yl, double x0,
                       double x1, double y0, double y1)
{
    sl_err err;
    if (sl_svg_begin(s, 520, 440, title, xl, yl, x0, x1, y0, y1, &err) < 0)
        sl_die_err(&err);
}

static void plot_reliability(int k)
{
    sl_svg s;
    char title[96], file[64];
    snprintf(title, sizeof title, "Reliability: P(%s), n = %ld, ECE %.3f", binary_names[k],
             rel[k].n, rel[k].ece);
    begin_plot(&s, title, "predicted probability", "observed frequency", 0, 1, 0, 1);
    double d[2] = {0, 1};
    sl_svg_polyline(&s, d, d, 2, "#888888", 1, 1);
    for (int eq = 0; eq < 2; eq++) {
        const sl_calib_reliability *r = eq ? &rel_eq[k] : &rel[k];
        double x[SL_CALIB_MAX_BINS], y[SL_CALIB_MAX_BINS], lo[SL_CALIB_MAX_BINS],
            hi[SL_CALIB_MAX_BINS];
        for (int b = 0; b < r->n_bins; b++) {
            x[b] = r->bin[b].conf;
            y[b] = r->bin[b].freq;
            /* 2 sd: where a calibrated frequency falls 95% of the time. */
            lo[b] = r->bin[b].conf - 2 * r->bin[b].err;
            hi[b] = r->bin[b].conf + 2 * r->bin[b].err;
        }
        if (!eq)
            sl_svg_errorbars(&s, x, lo, hi, r->n_bins, "#aaaaaa");
        sl_svg_polyline(&s, x, y, r->n_bins, palette[eq], 1.5, 0);
        sl_svg_points(&s, x, y, r->n_bins, palette[eq], 3.5);
        sl_svg_legend(&s, eq ? "equal-count bins" : "equal-width bins (bars: calibrated +-2 sd)",
                      palette[eq]);
    }
    snprintf(file, sizeof file, "reliability_%s.svg", binary_names[k]);
    write_plot(&s, file);
}

static void plot_coverage(const char *group)
{
    int any = 0;
    long n_min = 0;
    for (int i = 0; i < n_params; i++)
        if (!strcmp(params[i].group, group) && params[i].cov.n > 0) {
            n_min = any ? (params[i].cov.n < n_min ? params[i].cov.n : n_min) : params[i].cov.n;
            any = 1;
        }
    if (!any)
        return;
    sl_svg s;
    char title[96], file[64];
    snprintf(title, sizeof title, "Coverage of central intervals: %s parameters", group);
    begin_plot(&s, title, "nominal level", "empirical coverage", 0, 1, 0, 1);
    double x[SL_CALIB_N_LEVELS + 2], lo[SL_CALIB_N_LEVELS + 2], hi[SL_CALIB_N_LEVELS + 2];
    double z = sl_calib_band_z(ALPHA);
    x[0] = lo[0] = hi[0] = 0;
    for (int l = 0; l < SL_CALIB_N_LEVELS; l++) {
        double L = sl_calib_levels[l], h = z * sqrt(L * (1 - L) / (double)n_min);
        x[l + 1] = L, lo[l + 1] = L - h, hi[l + 1] = L + h;
    }
    x[SL_CALIB_N_LEVELS + 1] = lo[SL_CALIB_N_LEVELS + 1] = hi[SL_CALIB_N_LEVELS + 1] = 1;
    sl_svg_band(&s, x, lo, hi, SL_CALIB_N_LEVELS + 2, "#999999", 0.25);
    double d[2] = {0, 1};
    sl_svg_polyline(&s, d, d, 2, "#555555", 1, 1);
    int c = 0;
    for (int i = 0; i < n_params; i++) {
        const param *p = &params[i];
        if (strcmp(p->group, group) || !p->cov.n)
            continue;
        const char *col = palette[c++ % 10];
        sl_svg_polyline(&s, sl_calib_levels, p->cov.cover, SL_CALIB_N_LEVELS, col, 1.5, 0);
        sl_svg_points(&s, sl_calib_levels, p->cov.cover, SL_CALIB_N_LEVELS, col, 2.5);
        sl_svg_legend(&s, p->name, col);
    }
    snprintf(file, sizeof file, "coverage_%s.svg", group);
    write_plot(&s, file);
}

static void plot_ranks(const param *p)
{
    const sl_calib_sbc *h = &p->sbc;
    if (!h->n)
        return;
    double edges[SL_CALIB_MAX_SBC_BINS + 1], count[SL_CALIB_MAX_SBC_BINS], top = 0;
    double per = (h->L + 1.0) / h->n_bins, expect = (double)h->n / h->n_bins;
    for (int b = 0; b <= h->n_bins; b++)
        edges[b] = b * per;
    for (int b = 0; b < h->n_bins; b++) {
        count[b] = (double)h->count[b];
        top = fmax(top, count[b]);
    }
    /* The 99% band of one bin's count under uniform ranks (normal approximation). */
    double sd = sqrt(expect * (1 - 1.0 / h->n_bins)), z = sl_normal_quantile(0.995);
    top = fmax(top, expect + z * sd) * 1.1;
    sl_svg s;
    char title[128], file[96];
    snprintf(title, sizeof title, "SBC ranks: %.40s (n = %ld, chi2 p = %.3g)", p->name, h->n,
             h->p_value);
    begin_plot(&s, title, "rank of the truth among the draws", "count", 0, h->L + 1, 0, top);
    sl_svg_bars(&s, edges, count, h->n_bins, palette[0]);
    double bx[2] = {0, h->L + 1.0}, blo[2] = {expect - z * sd, expect - z * sd},
           bhi[2] = {expect + z * sd, expect + z * sd}, e[2] = {expect, expect};
    sl_svg_band(&s, bx, blo, bhi, 2, "#999999", 0.3);
    sl_svg_polyline(&s, bx, e, 2, "#333333", 1, 1);
    snprintf(file, sizeof file, "sbc_%.63s.svg", p->name);
    write_plot(&s, file);
}

static void plot_tarp(void)
{
    sl_svg s;
    char title[96];
    snprintf(title, sizeof title, "TARP: joint lens posterior, %ld systems", tarp.n);
    begin_plot(&s, title, "credibility level", "expected coverage", 0, 1, 0, 1);
    sl_svg_band(&s, tarp.alpha, tarp.lo95, tarp.hi95, SL_CALIB_TARP_ALPHAS, palette[0], 0.15);
    sl_svg_band(&s, tarp.alpha, tarp.lo68, tarp.hi68, SL_CALIB_TARP_ALPHAS, palette[0], 0.3);
    double d[2] = {0, 1};
    sl_svg_polyline(&s, d, d, 2, "#555555", 1, 1);
    sl_svg_polyline(&s, tarp.alpha, tarp.ecp, SL_CALIB_TARP_ALPHAS, palette[0], 2, 0);
    sl_svg_legend(&s, "ECP (bands: bootstrap 68%, 95%)", palette[0]);
    write_plot(&s, "tarp.svg");
}

static void plot_scatter(const param *p)
{
    if (p->truth.n == 0)
        return;
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < p->truth.n; i++) {
        double v[4] = {p->truth.v[i], p->mean.v[i], p->q16.v[i], p->q84.v[i]};
        for (int k = 0; k < 4; k++)
            if (isfinite(v[k]))
                lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
    }
    if (!(lo < hi))
        hi = lo + 1;
    double pad = 0.05 * (hi - lo);
    sl_svg s;
    char title[128], file[96];
    snprintf(title, sizeof title, "%.20s: posterior mean against truth (n = %ld, R2 %.3f)", p->name,
             p->truth.n, p->point.r2);
    begin_plot(&s, title, "true value", "posterior mean (bars: 16-84%)", lo - pad, hi + pad,
               lo - pad, hi + pad);
    double d[2] = {lo - pad, hi + pad};
    sl_svg_errorbars(&s, p->truth.v, p->q16.v, p->q84.v, (int)p->truth.n, "#bbbbbb");
    sl_svg_polyline(&s, d, d, 2, "#555555", 1, 1);
    sl_svg_points(&s, p->truth.v, p->mean.v, (int)p->truth.n, palette[0], 2);
    snprintf(file, sizeof file, "scatter_%.63s.svg", p->name);
    write_plot(&s, file);
}

static void plot_detection(void)
{
    if (all.mode_exact || n_det_bins == 0)
        return;
    double x[MAX_MAG_BINS], v[3][MAX_MAG_BINS];
    for (int k = 0; k < n_det_bins; k++) {
        x[k] = (det_bins[k].lo + det_bins[k].hi) / 2;
        v[0][k] = det_bins[k].d.precision;
        v[1][k] = det_bins[k].d.recall;
        v[2][k] = det_bins[k].d.f1;
    }
    sl_svg s;
    begin_plot(&s, "Detection by magnitude", all.no_zero_point ? "instrumental magnitude"
                                                                : "magnitude",
               "fraction", opt.mag_edges[0], opt.mag_edges[n_det_bins], 0, 1.05);
    static const char *const names[3] = {"precision (estimated mag)", "recall (true mag)", "F1"};
    for (int k = 0; k < 3; k++) {
        sl_svg_polyline(&s, x, v[k], n_det_bins, palette[k], 1.5, 0);
        sl_svg_points(&s, x, v[k], n_det_bins, palette[k], 3);
        sl_svg_legend(&s, names[k], palette[k]);
    }
    write_plot(&s, "detection.svg");
}

static void write_plots(void)
{
    if (mkdir(opt.plots, 0777) < 0 && errno != EEXIST)
        sl_die("%s: cannot create the directory: %s", opt.plots, strerror(errno));
    plot_detection();
    for (int k = 0; k < 3; k++)
        if (all.p[k].n)
            plot_reliability(k);
    static const char *const groups[] = {"detect", "galaxy", "lens", "source"};
    for (int g = 0; g < 4; g++)
        plot_coverage(groups[g]);
    for (int i = 0; i < n_params; i++) {
        plot_ranks(&params[i]);
        if (!strcmp(params[i].name, "theta_e"))
            plot_scatter(&params[i]);
    }
    if (have_tarp)
        plot_tarp();
}

/* ---- Main ------------------------------------------------------------------------- */

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
        {"plots", required_argument, NULL, OPT_PLOTS},
        {"json", required_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0}};
    const sl_cli_spec spec = {"sl-calibrate", usage, "r:", longs, on_option, 1, 1};
    sl_cli_parse(&spec, argc, argv);
    const char *out = sl_cli_state.output;
    int out_stdout = out && !strcmp(out, "-"), json_stdout = opt.json && !strcmp(opt.json, "-");
    if (out_stdout && json_stdout)
        sl_usage_error("-o - and --json - cannot both write standard output");
    if (opt.match == MATCH_EXACT && opt.min_snr > 0)
        sl_usage_error("--min-snr needs detection, which --match exact does not measure");
    seed = sl_cli_state.seed;

    sl_err err;
    sl_reader **in = sl_cli_open_inputs(out != NULL);
    sl_writer *w = out ? sl_cli_output_open(out, NULL, in, (size_t)sl_cli_state.n_inputs) : NULL;
    sl_image img;
    sl_table est, tru;
    sl_image_init(&img);
    sl_table_init(&est);
    sl_table_init(&tru);
    sl_record rec;
    for (int i = 0; i < sl_cli_state.n_inputs; i++) {
        int rc;
        while ((rc = sl_read(in[i], &rec, &err)) >= 0)
            if (!strcmp(rec.type, "image") || !strcmp(rec.type, "catalog"))
                take_record(&rec, &img, &est, &tru);
        if (rc < SL_READ_END)
            sl_die_err(&err);
    }
    sl_image_free(&img);
    sl_table_free(&est);
    sl_table_free(&tru);
    if (all.images == 0)
        sl_die("%s: no image or catalog record to calibrate", sl_cli_state.inputs[0]);
    measure();

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_report(&pk);
    if (w) {
        sl_record r = {.raw = sb.data, .raw_len = sb.size};
        if (sl_writer_raw(w, &r, &err) < 0)
            sl_die_err(&err);
        sl_cli_output_close(w, in, (size_t)sl_cli_state.n_inputs);
    }
    if (opt.json) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, sb.data, sb.size, NULL) != MSGPACK_UNPACK_SUCCESS)
            sl_die("internal error: the report does not unpack");
        sl_textout t;
        if (sl_textout_open(&t, opt.json, &err) < 0)
            sl_die_err(&err);
        sl_json_write(t.f, &u.data, 1);
        fputc('\n', t.f);
        msgpack_unpacked_destroy(&u);
        if (!json_stdout) {
            if (sl_textout_close(&t, &err) < 0)
                sl_die_err(&err);
        }
    }
    msgpack_sbuffer_destroy(&sb);
    if (opt.plots)
        write_plots();
    if (!out_stdout && !json_stdout)
        print_table(stdout);
    sl_cli_close_inputs(in);
    if (!out_stdout) { /* the writer closed it otherwise */
        sl_textout t = {.f = stdout};
        int rc = sl_textout_close(&t, &err);
        if (rc < 0)
            sl_die_err(&err);
    }
    sl_cli_summary("%ld records, %ld true sources, %ld estimates, %d parameters", all.images,
                   all.n_true, all.n_est, n_params);
    for (int i = 0; i < n_params; i++) {
        param *p = &params[i];
        dvec *v[] = {&p->truth, &p->mean, &p->q16, &p->q50, &p->q84, &p->pit, &p->rank};
        for (int k = 0; k < 7; k++)
            free(v[k]->v);
    }
    return SL_EXIT_OK;
}
