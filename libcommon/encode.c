/* encode.c: the inference cascade (see encode.h). */
#include "encode.h"
#include "estimate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "tile.h"

const double sl_encode_levels[SL_ENCODE_N_LEVELS] = {0.05, 0.16, 0.5, 0.84, 0.95};
const char *const sl_encode_level_names[SL_ENCODE_N_LEVELS] = {"q05", "q16", "q50", "q84", "q95"};

/* Where one coordinate of one factor goes in the estimate: the columns of its
 * headline value (the probability of a Bernoulli factor, else the posterior
 * median), mean, quantiles and (scalar families) z-space mu and sigma, and
 * the element within them (the band of a per-band factor).  -1 for an absent
 * column. */
typedef struct coord_cols {
    int point, mean, q[SL_ENCODE_N_LEVELS], mu, sigma;
    int elem;
} coord_cols;

struct sl_encoder {
    sl_model model[SL_N_TASKS];
    int have[SL_N_TASKS];
    int max_batch, threads, at_catalog, gated;
    double threshold;
    int n_samples;
    uint64_t seed;
    /* P(lens) and P(galaxy) [SL_RATE_LENS, SL_RATE_GALAXY]: the base rates
     * of the training prior (NaN when the model does not record it) and
     * those asked for (NaN: the training prior's, no correction). */
    double train_rate[2], rate[2];
    /* Columns, set up by setup_columns for the models present. */
    coord_cols cols[SL_N_TASKS][SL_TASK_MAX_FACTORS][SL_FAMILY_MAX_DIM];
    int col_lens_mu, col_lens_chol;
    int col_galaxy, col_lens, col_flux, col_shear1, col_shear2;
    int columns_ready;
    float *input; /* one batch of network inputs */
    size_t input_cap;
    /* Where each model came from, for messages about it. */
    char model_file[SL_N_TASKS][256];
    long model_record[SL_N_TASKS];
};

sl_encoder *sl_encoder_new(int max_batch, int threads, double threshold, int at_catalog,
                           sl_err *err)
{
    sl_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        sl_err_set(err, "out of memory");
        return NULL;
    }
    e->max_batch = max_batch;
    e->threads = threads;
    e->threshold = threshold;
    e->at_catalog = at_catalog;
    e->gated = !at_catalog;
    for (int k = 0; k < 2; k++)
        e->train_rate[k] = e->rate[k] = NAN;
    return e;
}

void sl_encoder_free(sl_encoder *e)
{
    if (!e)
        return;
    for (int k = 0; k < SL_N_TASKS; k++)
        if (e->have[k])
            sl_model_free(&e->model[k]);
    free(e->input);
    free(e);
}

int sl_encoder_load(sl_encoder *e, const char *path, sl_err *err)
{
    sl_record rec;
    sl_reader *r = sl_reader_open(path, err);
    if (!r)
        return -1;
    int rc = 0, found = 0, failed = 0;
    while (!failed && (rc = sl_read(r, &rec, err)) >= 0) {
        if (strcmp(rec.type, "model") != 0)
            continue;
        failed = found++ ? sl_err_set(err, "%s: more than one model record", path)
                         : sl_encoder_add_model(e, &rec, err);
    }
    sl_reader_close(r);
    if (failed || rc < SL_READ_END)
        return -1;
    if (!found)
        return sl_err_set(err, "%s: no model record (a checkpoint? train to the end, or use "
                               "the model file)", path);
    return 0;
}

const sl_model *sl_encoder_model(const sl_encoder *e, sl_task_kind kind)
{
    return e->have[kind] ? &e->model[kind] : NULL;
}

/* Any model already added, to compare a new one or an image with. */
static const sl_model *first_model(const sl_encoder *e)
{
    for (int k = 0; k < SL_N_TASKS; k++)
        if (e->have[k])
            return &e->model[k];
    return NULL;
}

/* The base rate a probability model was trained under, from the prior its
 * record carries: lens_prob per galaxy for lens-detect, 1 - star_prob for
 * classify. */
static int read_train_rate(sl_encoder *e, sl_task_kind kind, const sl_record *rec, sl_err *err)
{
    double v;
    int rc = 0;
    if (kind == SL_TASK_LENS_DETECT &&
        (rc = sl_model_prior_num(rec, "lens_prob", &v, err)) > 0)
        e->train_rate[SL_RATE_LENS] = v;
    if (kind == SL_TASK_CLASSIFY && (rc = sl_model_prior_num(rec, "star_prob", &v, err)) > 0)
        e->train_rate[SL_RATE_GALAXY] = 1 - v;
    return rc < 0 ? -1 : 0;
}

int sl_encoder_add_model(sl_encoder *e, const sl_record *rec, sl_err *err)
{
    sl_model m;
    if (sl_model_read(&m, rec, e->max_batch, e->threads, 1, err) < 0)
        return -1;
    sl_task_kind kind = m.task.kind;
    const sl_model *other = first_model(e);
    int rc = 0;
    char a[256], b[256];
    if (e->have[kind])
        rc = sl_err_set(err, "%s: a second %s model", rec->file, sl_task_name(kind));
    else if (e->columns_ready)
        rc = sl_err_set(err, "%s: models must all be added before encoding", rec->file);
    else if (other &&
             !sl_image_same_bands(m.bands, m.task.n_bands, other->bands, other->task.n_bands)) {
        sl_image_format_bands(m.bands, m.task.n_bands, ",", a, sizeof a);
        sl_image_format_bands(other->bands, other->task.n_bands, ",", b, sizeof b);
        rc = sl_err_set(err, "%s: %s model for bands %s, the %s model for %s", rec->file,
                        sl_task_name(kind), a, sl_task_name(other->task.kind), b);
    } else if (other && !sl_image_same_scale(m.pixel_scale, other->pixel_scale))
        rc = sl_err_set(err, "%s: %s model for pixel scale %g arcsec, the %s model for %g",
                        rec->file, sl_task_name(kind), m.pixel_scale,
                        sl_task_name(other->task.kind), other->pixel_scale);
    if (rc < 0) {
        sl_model_free(&m);
        return -1;
    }
    e->model[kind] = m;
    e->have[kind] = 1;
    snprintf(e->model_file[kind], sizeof e->model_file[kind], "%s", rec->file);
    e->model_record[kind] = rec->num;
    return read_train_rate(e, kind, rec, err);
}

/* A network's outputs for a batch must be finite: weights that are finite
 * but huge (or a broken model) give inf and NaN, which would pass through the
 * families as garbage estimates. */
static int check_outputs(const sl_encoder *e, sl_task_kind kind, const sl_image *img,
                         const float *out, size_t n, sl_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return sl_err_set(err, "%s: record %ld: key 'params': the %s network gives a "
                              "non-finite output (%g, output %zu of a batch) on image %lld: "
                              "its weights are unusable", e->model_file[kind],
                              e->model_record[kind], sl_task_name(kind), (double)out[i], i,
                              (long long)img->id);
    return 0;
}

int sl_encoder_border(const sl_encoder *e)
{
    int border = 0;
    for (int k = 0; k < SL_N_TASKS; k++) {
        if (!e->have[k])
            continue;
        const sl_task *t = &e->model[k].task;
        /* The lens finder needs the windows one beyond the interior too. */
        int margin = e->have[SL_TASK_LENS_DETECT] ? t->patch_tiles * t->tile : 0;
        int need = sl_task_windowed(t) ? t->border + margin : t->cutout / 2;
        border = need > border ? need : border;
    }
    return border;
}

/* Windows of every windowed model start on the parent's grid of its window
 * interiors: the quantum is the least common multiple of their sides. */
int sl_encoder_quantum(const sl_encoder *e)
{
    int q = 1;
    for (int k = 0; k < SL_N_TASKS; k++) {
        const sl_task *t = &e->model[k].task;
        if (!e->have[k] || !sl_task_windowed(t))
            continue;
        int side = t->patch_tiles * t->tile, a = q, b = side;
        while (b) {
            int r = a % b;
            a = b, b = r;
        }
        q = q / a * side;
    }
    return q;
}

int sl_encoder_check(const sl_encoder *e, const sl_image *img, sl_err *err)
{
    const sl_model *m = first_model(e);
    if (!m)
        return sl_err_set(err, "no models");
    char a[256], b[256];
    if (!sl_image_same_bands(img->bands, img->n_bands, m->bands, m->task.n_bands)) {
        sl_image_format_bands(img->bands, img->n_bands, ",", a, sizeof a);
        sl_image_format_bands(m->bands, m->task.n_bands, ",", b, sizeof b);
        return sl_err_set(err, "image %lld has bands %s, the models %s", (long long)img->id, a,
                          b);
    }
    if (!sl_image_same_scale(img->pixel_scale, m->pixel_scale))
        return sl_err_set(err, "image %lld has pixel scale %g arcsec, the models %g",
                          (long long)img->id, img->pixel_scale, m->pixel_scale);
    if (img->is_patch && img->border < sl_encoder_border(e))
        return sl_err_set(err, "patch %d of image %lld has a border of %d pixels, the models "
                               "need %d (cut patches with sl-tile -m MODEL...)",
                          img->patch, (long long)img->parent, img->border, sl_encoder_border(e));
    if (!e->at_catalog && !e->have[SL_TASK_DETECT])
        return sl_err_set(err, "no detect model: give one, or run the other encoders at the "
                               "truth's positions");
    return 0;
}

/* In the gated cascade a factor's rows are chosen by the factors above it:
 * galaxy parameters where P(galaxy) says galaxy, lens parameters where P(lens)
 * says lens system.  Without those models every source would get them, stars
 * included, and look answered: refused.  At given positions (--at) and
 * ungated, every factor is meant to hold at every source. */
int sl_encoder_check_cascade(const sl_encoder *e, sl_err *err)
{
    static const struct {
        sl_task_kind kind, needs;
        const char *why;
    } upstream[] = {
        {SL_TASK_GALAXY, SL_TASK_CLASSIFY, "P(galaxy) says which sources are galaxies"},
        {SL_TASK_LENS, SL_TASK_LENS_DETECT, "P(lens) says which sources are lens systems"},
    };
    if (!e->gated)
        return 0;
    for (size_t i = 0; i < sizeof upstream / sizeof *upstream; i++)
        if (e->have[upstream[i].kind] && !e->have[upstream[i].needs])
            return sl_err_set(err, "the %s model needs a %s model (%s): give one with -m, or "
                                   "--all-factors for %s values at every source",
                              sl_task_name(upstream[i].kind), sl_task_name(upstream[i].needs),
                              upstream[i].why, sl_task_name(upstream[i].kind));
    return 0;
}

/* ---- Columns ------------------------------------------------------------- */

/* Adds a column once (per-band factors share theirs); returns its index.
 * per_band marks a column of one value per band (flux_u, flux_g, ... in FITS). */
static int column(sl_table *est, const char *name, const char *unit, int width, int per_band,
                  sl_err *err)
{
    int c = sl_table_find(est, name);
    if (c < 0 && (c = sl_table_add_column(est, name, unit, width, err)) >= 0)
        est->cols[c].per_band = per_band;
    return c;
}

/* The columns of coordinate i of factor f, from the estimate schema. */
static int setup_factor(sl_encoder *e, sl_table *est, const sl_task *t, int f, sl_err *err)
{
    const sl_family *fam = &t->factor[f].fam;
    for (int i = 0; i < fam->dim; i++) {
        coord_cols *cc = &e->cols[t->kind][f][i];
        const sl_estimate_param *p = sl_estimate_find(t->kind, t->factor[f].name, i);
        if (!p)
            return sl_err_set(err, "factor %s of the %s model: not in the estimate schema "
                                   "(estimate.c)", t->factor[f].name, sl_task_name(t->kind));
        const char *base = p->column, *bracket = strchr(t->factor[f].name, '[');
        char name[64];
        int band = bracket ? atoi(bracket + 1) : -1;
        int width = band >= 0 ? t->n_bands : 1;
        const char *unit = p->unit;
        cc->elem = band >= 0 ? band : 0;
        cc->mean = cc->mu = cc->sigma = -1;
        for (int l = 0; l < SL_ENCODE_N_LEVELS; l++)
            cc->q[l] = -1;
        if (fam->kind == SL_FAM_BERNOULLI) {
            snprintf(name, sizeof name, "p_%s", base);
            if ((cc->point = column(est, name, "", width, band >= 0, err)) < 0)
                return -1;
            continue;
        }
        if ((cc->point = column(est, base, unit, width, band >= 0, err)) < 0)
            return -1;
        for (int l = 0; l < SL_ENCODE_N_LEVELS; l++) {
            snprintf(name, sizeof name, "%s_%s", base, sl_encode_level_names[l]);
            if ((cc->q[l] = column(est, name, unit, width, band >= 0, err)) < 0)
                return -1;
        }
        snprintf(name, sizeof name, "%s_mean", base);
        if ((cc->mean = column(est, name, unit, width, band >= 0, err)) < 0)
            return -1;
        if (fam->kind == SL_FAM_MVN)
            continue;
        const char *zbase = p->zname ? p->zname : base;
        snprintf(name, sizeof name, "%s_mu", zbase);
        if ((cc->mu = column(est, name, "", width, band >= 0, err)) < 0)
            return -1;
        snprintf(name, sizeof name, "%s_sigma", zbase);
        if ((cc->sigma = column(est, name, "", width, band >= 0, err)) < 0)
            return -1;
    }
    return 0;
}

static int setup_columns(sl_encoder *e, sl_table *est, int n_bands, sl_err *err)
{
    e->col_lens_mu = e->col_lens_chol = e->col_galaxy = e->col_lens = e->col_shear1 =
        e->col_shear2 = -1;
    if (e->at_catalog && ((sl_table_add_column(est, "x", SL_UNIT_PIXEL, 1, err) < 0) ||
                          sl_table_add_column(est, "y", SL_UNIT_PIXEL, 1, err) < 0))
        return -1;
    for (int k = 0; k < SL_N_TASKS; k++) {
        if (!e->have[k] || (e->at_catalog && k == SL_TASK_DETECT))
            continue;
        const sl_task *t = &e->model[k].task;
        /* The lens finder's location is the row's own x, y (see lens_rows). */
        int n_factors = k == SL_TASK_LENS_DETECT ? 1 : t->n_factors;
        for (int f = 0; f < n_factors; f++)
            if (setup_factor(e, est, t, f, err) < 0)
                return -1;
        if (k == SL_TASK_LENS) {
            /* The joint lens posterior: its z-space mean and Cholesky factor. */
            int d = t->factor[0].fam.dim;
            if ((e->col_lens_mu = column(est, "lens_mu", "", d, 0, err)) < 0 ||
                (e->col_lens_chol = column(est, "lens_chol", "", d * (d + 1) / 2, 0, err)) < 0)
                return -1;
        }
    }
    /* Point values under the truth's names, so that an estimate renders. */
    if ((e->col_galaxy = column(est, "galaxy", "", 1, 0, err)) < 0 ||
        (e->col_flux = column(est, "flux", SL_UNIT_FLUX, n_bands, 1, err)) < 0)
        return -1;
    if (e->have[SL_TASK_LENS_DETECT] && (e->col_lens = column(est, "lens", "", 1, 0, err)) < 0)
        return -1;
    if (e->have[SL_TASK_LENS] && ((e->col_shear1 = column(est, "shear_g1", "", 1, 0, err)) < 0 ||
                                  (e->col_shear2 = column(est, "shear_g2", "", 1, 0, err)) < 0))
        return -1;
    e->columns_ready = 1;
    return 0;
}

/* Writes one factor's summaries for row `row` from its raw outputs.  For the
 * location, value v in (0, 1) of the tile maps to (origin + v) * scale. */
static void put_factor(const sl_encoder *e, sl_table *est, const sl_task *t, int f,
                       const float *raw, int row, double origin, double scale)
{
    const sl_family *fam = &t->factor[f].fam;
    double mean[SL_FAMILY_MAX_DIM], q[SL_FAMILY_MAX_DIM];
    double mu[SL_FAMILY_MAX_DIM], L[SL_FAMILY_MAX_DIM * (SL_FAMILY_MAX_DIM + 1) / 2];
    sl_family_mean(fam, raw, mean);
    if (fam->kind == SL_FAM_BERNOULLI) {
        const coord_cols *cc = &e->cols[t->kind][f][0];
        sl_table_at(est, cc->point, row)[cc->elem] = (float)mean[0];
        return;
    }
    /* The headline is the median: a log-normal's mean, exp(mu + sigma^2/2),
     * runs to 1e10 electrons at the log-sigmas of faint sources. */
    sl_family_quantile(fam, raw, 0.5, q);
    for (int i = 0; i < fam->dim; i++) {
        const coord_cols *cc = &e->cols[t->kind][f][i];
        sl_table_at(est, cc->point, row)[cc->elem] = (float)((origin + q[i]) * scale);
        sl_table_at(est, cc->mean, row)[cc->elem] = (float)((origin + mean[i]) * scale);
    }
    for (int l = 0; l < SL_ENCODE_N_LEVELS; l++) {
        sl_family_quantile(fam, raw, sl_encode_levels[l], q);
        for (int i = 0; i < fam->dim; i++) {
            const coord_cols *cc = &e->cols[t->kind][f][i];
            sl_table_at(est, cc->q[l], row)[cc->elem] = (float)((origin + q[i]) * scale);
        }
    }
    sl_family_params(fam, raw, mu, L);
    if (fam->kind == SL_FAM_MVN) {
        int d = fam->dim;
        for (int i = 0; i < d; i++)
            sl_table_at(est, e->col_lens_mu, row)[i] = (float)mu[i];
        for (int i = 0; i < d * (d + 1) / 2; i++)
            sl_table_at(est, e->col_lens_chol, row)[i] = (float)L[i];
        return;
    }
    const coord_cols *cc = &e->cols[t->kind][f][0];
    sl_table_at(est, cc->mu, row)[cc->elem] = (float)mu[0];
    sl_table_at(est, cc->sigma, row)[cc->elem] = (float)L[0];
}

/* ---- Windows ------------------------------------------------------------- */

/* A window of the image (side x side from (wx, wy), record pixels) must hold
 * the parent's pixels wherever the parent has any: what lies outside the
 * record must lie outside the parent too. */
static int window_inside(const sl_image *img, int wx, int wy, int side)
{
    int x0 = wx > -img->x0 ? wx : -img->x0, y0 = wy > -img->y0 ? wy : -img->y0;
    int x1 = wx + side, y1 = wy + side;
    int px1 = img->parent_width - img->x0, py1 = img->parent_height - img->y0;
    x1 = x1 < px1 ? x1 : px1;
    y1 = y1 < py1 ? y1 : py1;
    return x0 >= x1 || y0 >= y1 || (x0 >= 0 && y0 >= 0 && x1 <= img->width && y1 <= img->height);
}

static int window_error(const sl_image *img, const char *what, int wx, int wy, int side,
                        sl_err *err)
{
    return sl_err_set(err, "patch %d of image %lld: the %s window at parent (%d, %d), %d pixels "
                           "wide, reaches past the patch: cut patches with sl-tile -m MODEL...",
                      img->patch, (long long)img->parent, what, wx + img->x0, wy + img->y0, side);
}

static float *input_buffer(sl_encoder *e, size_t floats, sl_err *err)
{
    if (floats > e->input_cap) {
        free(e->input);
        e->input_cap = 0;
        if (!(e->input = malloc(floats * sizeof *e->input))) {
            sl_err_set(err, "out of memory for a batch of %zu floats", floats);
            return NULL;
        }
        e->input_cap = floats;
    }
    return e->input;
}

static int in_interior(const sl_image *img, double x, double y)
{
    int ix0, iy0, ix1, iy1;
    sl_image_interior(img, &ix0, &iy0, &ix1, &iy1);
    return x >= ix0 && x < ix1 && y >= iy0 && y < iy1;
}

/* A detected tile: its parent-grid index and the detect outputs there. */
typedef struct detection {
    int gx, gy;
    float raw[64];
} detection;

/* A detected tile's probability: its first factor, P(source) or P(lens). */
static double tile_p(const sl_task *t, const detection *d)
{
    return 1 / (1 + exp(-(double)d->raw[t->factor[0].out]));
}

static int cmp_detection(const void *a, const void *b)
{
    const detection *p = a, *q = b;
    return p->gy != q->gy ? (p->gy > q->gy) - (p->gy < q->gy) : (p->gx > q->gx) - (p->gx < q->gx);
}

/* Runs a windowed model (detect, lens-detect) over the interior and the
 * tiles within `margin` pixels beyond it (inside the parent); appends the
 * tiles whose first factor's probability is above the threshold to *det
 * (sorted by tile row, then column). */
static int detect(sl_encoder *e, sl_task_kind kind, const sl_image *img, const float *norm,
                  double threshold, int margin, detection **det, int *n_det, sl_err *err)
{
    const sl_model *m = &e->model[kind];
    const sl_task *t = &m->task;
    int T = t->tile, P = t->patch_tiles, side = sl_task_side(t), grid = sl_task_out_grid(t);
    int g2 = grid * grid, off = t->border / T;
    if ((int)(sizeof det[0]->raw / sizeof(float)) < t->n_outputs)
        return sl_err_set(err, "the %s model has %d outputs per tile, more than supported",
                          sl_task_name(kind), t->n_outputs);
    int ix0, iy0, ix1, iy1;
    sl_image_interior(img, &ix0, &iy0, &ix1, &iy1);
    if (ix0 >= ix1 || iy0 >= iy1)
        return 0;
    int X0 = img->x0 + ix0, Y0 = img->y0 + iy0;
    if (X0 % T || Y0 % T)
        return sl_err_set(err, "patch %d of image %lld: the interior starts at parent (%d, %d), "
                               "off the %d-pixel tile grid", img->patch, (long long)img->parent,
                          X0, Y0, T);
    /* Parent tiles [gx0, gx1) x [gy0, gy1); windows start at multiples of P. */
    int gx0 = X0 / T, gy0 = Y0 / T;
    int gx1 = (img->x0 + ix1 + T - 1) / T, gy1 = (img->y0 + iy1 + T - 1) / T;
    int mt = (margin + T - 1) / T;
    gx0 = gx0 - mt > 0 ? gx0 - mt : 0;
    gy0 = gy0 - mt > 0 ? gy0 - mt : 0;
    gx1 = gx1 + mt < (img->parent_width + T - 1) / T ? gx1 + mt : (img->parent_width + T - 1) / T;
    gy1 = gy1 + mt < (img->parent_height + T - 1) / T ? gy1 + mt : (img->parent_height + T - 1) / T;
    int wx0 = gx0 / P * P, wy0 = gy0 / P * P;
    int nwx = (gx1 - wx0 + P - 1) / P, nwy = (gy1 - wy0 + P - 1) / P;
    size_t in_size = sl_task_input_size(t);
    float *in = input_buffer(e, (size_t)e->max_batch * in_size, err);
    if (!in)
        return -1;
    int cap = 0;
    for (int w0 = 0; w0 < nwx * nwy; w0 += e->max_batch) {
        int batch = nwx * nwy - w0 < e->max_batch ? nwx * nwy - w0 : e->max_batch;
        for (int k = 0; k < batch; k++) {
            int wx = wx0 + (w0 + k) % nwx * P, wy = wy0 + (w0 + k) / nwx * P;
            int px = wx * T - t->border - img->x0, py = wy * T - t->border - img->y0;
            if (!window_inside(img, px, py, side))
                return window_error(img, sl_task_name(kind), px, py, side, err);
            sl_window(norm, img->width, img->height, t->n_bands, px, py, side, 0,
                      in + (size_t)k * in_size);
        }
        const float *out = sl_nn_forward(m->net, in, batch, 0);
        if (check_outputs(e, kind, img, out, (size_t)batch * t->n_outputs * g2, err) < 0)
            return -1;
        for (int k = 0; k < batch; k++) {
            int wx = wx0 + (w0 + k) % nwx * P, wy = wy0 + (w0 + k) / nwx * P;
            for (int c = 0; c < P * P; c++) {
                int gx = wx + c % P, gy = wy + c / P;
                if (gx < gx0 || gx >= gx1 || gy < gy0 || gy >= gy1)
                    continue;
                const float *base = out + (size_t)k * t->n_outputs * g2 +
                                    (size_t)(off + c / P) * grid + off + c % P;
                float p_logit = base[(size_t)t->factor[0].out * g2];
                if (!(1 / (1 + exp(-(double)p_logit)) > threshold))
                    continue;
                if (*n_det == cap) {
                    cap = cap ? 2 * cap : 64;
                    detection *d = realloc(*det, (size_t)cap * sizeof *d);
                    if (!d)
                        return sl_err_set(err, "out of memory for %d detections", cap);
                    *det = d;
                }
                detection *d = &(*det)[(*n_det)++];
                d->gx = gx;
                d->gy = gy;
                for (int o = 0; o < t->n_outputs; o++)
                    d->raw[o] = base[(size_t)o * g2];
            }
        }
    }
    if (*n_det > 0) /* qsort(NULL, 0, ...) is undefined */
        qsort(*det, (size_t)*n_det, sizeof **det, cmp_detection);
    return 0;
}

/* The location of a detection, in the image's pixels: the headline (median)
 * x and y of its row, where the cut-out encoders are centred. */
static void detection_xy(const sl_task *t, const sl_image *img, const detection *d, double *x,
                         double *y)
{
    double u, v;
    sl_family_quantile(&t->factor[1].fam, d->raw + t->factor[1].out, 0.5, &u);
    sl_family_quantile(&t->factor[2].fam, d->raw + t->factor[2].out, 0.5, &v);
    *x = (d->gx + u) * t->tile - img->x0;
    *y = (d->gy + v) * t->tile - img->y0;
}

/* Runs a cut-out encoder at n positions (image pixels): its raw outputs,
 * [n][n_outputs], malloc'ed.  NULL on error. */
static float *run_at(sl_encoder *e, sl_task_kind kind, const sl_image *img, const float *norm,
                     const double *xs, const double *ys, int n, sl_err *err)
{
    const sl_task *t = &e->model[kind].task;
    int side = t->cutout;
    size_t in_size = sl_task_input_size(t);
    float *in = input_buffer(e, (size_t)e->max_batch * in_size, err);
    float *out = malloc(((size_t)n * t->n_outputs + 1) * sizeof *out);
    if (!in || !out) {
        free(out);
        sl_err_set(err, "out of memory for %d cut-outs", n);
        return NULL;
    }
    for (int r0 = 0; r0 < n; r0 += e->max_batch) {
        int batch = n - r0 < e->max_batch ? n - r0 : e->max_batch;
        for (int k = 0; k < batch; k++) {
            double x = xs[r0 + k], y = ys[r0 + k];
            if (!(fabs(x) <= SL_MAX_POSITION && fabs(y) <= SL_MAX_POSITION)) {
                free(out);
                sl_err_set(err, "image %lld: %s cut-out at (%g, %g): not a position",
                           (long long)img->id, sl_task_name(kind), x, y);
                return NULL;
            }
            int px = (int)floor(x) - side / 2, py = (int)floor(y) - side / 2;
            if (!window_inside(img, px, py, side)) {
                free(out);
                window_error(img, sl_task_name(kind), px, py, side, err);
                return NULL;
            }
            sl_cutout(norm, img->width, img->height, t->n_bands, x, y, side, 0,
                      in + (size_t)k * in_size);
        }
        memcpy(out + (size_t)r0 * t->n_outputs, sl_nn_forward(e->model[kind].net, in, batch, 0),
               (size_t)batch * t->n_outputs * sizeof *out);
        if (check_outputs(e, kind, img, out + (size_t)r0 * t->n_outputs,
                          (size_t)batch * t->n_outputs, err) < 0) {
            free(out);
            return NULL;
        }
    }
    return out;
}

/* Whether the cascade runs encoder `kind` at row r: in the gated cascade
 * (the default) the galaxy encoder sees the sources classified as galaxies
 * or found as lens systems (a deflector is a galaxy), and the lens encoder
 * the lens systems; otherwise every encoder sees every source. */
static int wanted(const sl_encoder *e, sl_task_kind kind, const sl_table *est, int c_pg,
                  int c_pl, int r)
{
    if (!e->gated || kind == SL_TASK_CLASSIFY)
        return 1;
    int lens = c_pl < 0 || *sl_table_at(est, c_pl, r) > 0.5f;
    if (kind == SL_TASK_LENS)
        return lens;
    return (c_pg < 0 || *sl_table_at(est, c_pg, r) > 0.5f) || (c_pl >= 0 && lens);
}

/* Runs a cut-out encoder at the estimate's positions (those the cascade
 * wants it at) and writes its factors; the other rows keep NaN. */
static int run_cutouts(sl_encoder *e, sl_task_kind kind, const sl_image *img, const float *norm,
                       sl_table *est, sl_err *err)
{
    const sl_task *t = &e->model[kind].task;
    int cx = sl_table_find(est, "x"), cy = sl_table_find(est, "y"), n = 0;
    int c_pg = sl_table_find(est, "p_galaxy"), c_pl = sl_table_find(est, "p_lens");
    int *rows = malloc(((size_t)est->n + 1) * sizeof *rows);
    double *xy = malloc(((size_t)est->n * 2 + 1) * sizeof *xy);
    if (!rows || !xy) {
        free(rows);
        free(xy);
        return sl_err_set(err, "out of memory for %d sources", est->n);
    }
    for (int r = 0; r < est->n; r++)
        if (wanted(e, kind, est, c_pg, c_pl, r))
            rows[n++] = r;
    for (int k = 0; k < n; k++) {
        xy[k] = *sl_table_at(est, cx, rows[k]);
        xy[n + k] = *sl_table_at(est, cy, rows[k]);
    }
    float *out = run_at(e, kind, img, norm, xy, xy + n, n, err);
    free(xy);
    for (int k = 0; out && k < n; k++)
        for (int f = 0; f < t->n_factors; f++)
            put_factor(e, est, t, f, out + (size_t)k * t->n_outputs + t->factor[f].out, rows[k],
                       0, 1);
    free(rows);
    free(out);
    return out ? 0 : -1;
}

/* The point values: class by probability 1/2, flux by class. */
static void put_points(const sl_encoder *e, sl_table *est, int n_bands)
{
    int c_star = sl_table_find(est, "star_flux"), c_gal = sl_table_find(est, "galaxy_flux");
    int c_pg = sl_table_find(est, "p_galaxy"), c_pl = sl_table_find(est, "p_lens");
    for (int r = 0; r < est->n; r++) {
        int lens = c_pl >= 0 && *sl_table_at(est, c_pl, r) > 0.5f;
        int galaxy = (c_pg >= 0 && *sl_table_at(est, c_pg, r) > 0.5f) || lens;
        *sl_table_at(est, e->col_galaxy, r) = (float)galaxy;
        if (e->col_lens >= 0)
            *sl_table_at(est, e->col_lens, r) = (float)lens;
        if (e->col_shear1 >= 0)
            *sl_table_at(est, e->col_shear1, r) = *sl_table_at(est, e->col_shear2, r) = 0;
        int from = galaxy && c_gal >= 0 ? c_gal : c_star;
        for (int b = 0; b < n_bands; b++)
            sl_table_at(est, e->col_flux, r)[b] = from >= 0 ? sl_table_at(est, from, r)[b] : NAN;
    }
}

/* ---- The lens finder ------------------------------------------------------ */

/* The finder's tiles are matched to detected sources locally, so that a
 * patch decides as the whole image would: a tile with P(lens) above 1/2
 * points at the nearest source within half a tile of the deflector position
 * it predicts (not exclusively: two tiles may name one lens system), or at
 * none.  Deciding that for the sources of an interior needs the finder's
 * tiles one tile beyond it, and the detections a lens tile plus that radius
 * beyond it: LENS_MARGIN pixels each (windows aligned to the parent's grid
 * give them bit for bit, at the cost of one window more of patch border). */
#define LENS_MARGIN 8

/* The lens finder's tile holding point (x, y) of the image, or NULL. */
static const detection *lens_tile_at(const sl_encoder *e, const sl_image *img,
                                     const detection *tiles, int n, double x, double y)
{
    int T = e->model[SL_TASK_LENS_DETECT].task.tile;
    if (n == 0 || !(fabs(x + img->x0) <= SL_MAX_POSITION && fabs(y + img->y0) <= SL_MAX_POSITION))
        return NULL;
    detection key = {.gx = (int)floor((x + img->x0) / T), .gy = (int)floor((y + img->y0) / T)};
    return bsearch(&key, tiles, (size_t)n, sizeof *tiles, cmp_detection);
}

/* For each tile: the index of the point of (px, py) it points at, -1 for
 * none, -2 when its P(lens) is at most 1/2.  Returns NULL out of memory. */
static int *lens_targets(const sl_encoder *e, const sl_image *img, const detection *tiles,
                         int n, const double *px, const double *py, int n_points)
{
    const sl_task *t = &e->model[SL_TASK_LENS_DETECT].task;
    int *target = malloc(((size_t)n + 1) * sizeof *target);
    for (int i = 0; target && i < n; i++) {
        target[i] = -2;
        if (!(tile_p(t, &tiles[i]) > 0.5))
            continue;
        double x, y, r = t->tile / 2.0;
        detection_xy(t, img, &tiles[i], &x, &y);
        target[i] = -1;
        for (int j = 0; j < n_points; j++) {
            double d = hypot(px[j] - x, py[j] - y);
            if (d <= r)
                target[i] = j, r = d;
        }
    }
    return target;
}

/* Gives the estimate's rows the lens finder's P(lens): a row takes the
 * highest P(lens) of the tiles pointing at it; a row no tile points at takes
 * the P(lens) of the tile holding it, or 0 when that tile points elsewhere
 * (one lens system is not two); a tile of the interior pointing at no source
 * becomes a row of its own: a lens system whose deflector is too faint to
 * detect.  The points are the rows and then the detections just outside the
 * interior (px, py, n_points).  At given positions every row takes the
 * P(lens) of its tile, as the finder was trained. */
static int lens_rows(sl_encoder *e, const sl_image *img, const detection *tiles, int n,
                     const double *px, const double *py, int n_points, sl_table *est,
                     sl_err *err)
{
    const sl_task *t = &e->model[SL_TASK_LENS_DETECT].task;
    int n_rows = est->n, cx = sl_table_find(est, "x"), cy = sl_table_find(est, "y");
    int *target = e->at_catalog ? calloc((size_t)n + 1, sizeof *target)
                                : lens_targets(e, img, tiles, n, px, py, n_points);
    const detection **best = calloc((size_t)n_rows + 1, sizeof *best);
    int rc = target && best ? 0 : sl_err_set(err, "out of memory for %d tiles", n);
    for (int i = 0; i < n && rc == 0 && !e->at_catalog; i++) {
        int r = target[i];
        if (r >= 0 && r < n_rows && (!best[r] || tile_p(t, &tiles[i]) > tile_p(t, best[r])))
            best[r] = &tiles[i];
        double x, y;
        detection_xy(t, img, &tiles[i], &x, &y);
        if (r == -1 && in_interior(img, x, y)) {
            if ((r = sl_table_add_rows(est, 1, err)) < 0)
                rc = -1;
            else {
                *sl_table_at(est, cx, r) = (float)x;
                *sl_table_at(est, cy, r) = (float)y;
                put_factor(e, est, t, 0, tiles[i].raw + t->factor[0].out, r, 0, 1);
            }
        }
    }
    for (int r = 0; r < n_rows && rc == 0; r++) {
        const detection *d = best[r];
        if (!d && (d = lens_tile_at(e, img, tiles, n, px[r], py[r])) && target[d - tiles] != -2 &&
            !e->at_catalog) {
            *sl_table_at(est, e->cols[SL_TASK_LENS_DETECT][0][0].point, r) = 0;
            continue;
        }
        if (d)
            put_factor(e, est, t, 0, d->raw + t->factor[0].out, r, 0, 1);
    }
    free(target);
    free(best);
    return rc;
}

/* ---- Joint posterior samples ---------------------------------------------- */

/* One sampled source while its catalog is being drawn: its random stream
 * (of its tile, so that a sample does not depend on how the image was cut
 * into patches) and what has been drawn so far. */
typedef struct draw {
    sl_rng rng;
    sl_source src;
} draw;

/* Draws a galaxy's flux and shape from the galaxy factors starting at factor
 * f0 of t (the galaxy task's, or the lens task's source factors). */
static void draw_galaxy(const sl_task *t, int f0, const float *raw, sl_rng *r, double *flux,
                        sl_shape *sh)
{
    double y[SL_FAMILY_MAX_DIM];
    int f = f0;
    for (int b = 0; b < t->n_bands; b++, f++) {
        sl_family_sample(&t->factor[f].fam, raw + t->factor[f].out, r, y);
        flux[b] = y[0];
    }
    double *shape[6] = {&sh->disk_frac, &sh->disk_q, &sh->bulge_q, &sh->angle, &sh->disk_a,
                        &sh->bulge_a};
    for (int k = 0; k < 6; k++, f++) {
        sl_family_sample(&t->factor[f].fam, raw + t->factor[f].out, r, y);
        *shape[k] = y[0];
    }
}

/* Runs model `kind` at the sources of d selected by `want` (all when NULL)
 * and hands each its outputs. */
typedef void (*draw_step)(const sl_task *t, const float *raw, draw *d);

static int draw_stage(sl_encoder *e, sl_task_kind kind, const sl_image *img, const float *norm,
                      draw *d, int n, int want_galaxy, int want_lens, draw_step step, sl_err *err)
{
    if (!e->have[kind])
        return 0;
    const sl_task *t = &e->model[kind].task;
    int *idx = malloc(((size_t)n + 1) * sizeof *idx), m = 0;
    double *xy = calloc((size_t)n * 2 + 1, sizeof *xy);
    if (!idx || !xy) {
        free(idx);
        free(xy);
        return sl_err_set(err, "out of memory for %d sampled sources", n);
    }
    for (int i = 0; i < n; i++)
        if ((!want_galaxy || d[i].src.galaxy) && (!want_lens || d[i].src.lens))
            idx[m++] = i;
    for (int k = 0; k < m; k++) {
        xy[k] = d[idx[k]].src.x;
        xy[m + k] = d[idx[k]].src.y;
    }
    float *out = run_at(e, kind, img, norm, xy, xy + m, m, err);
    if (out)
        for (int k = 0; k < m; k++)
            step(t, out + (size_t)k * t->n_outputs, &d[idx[k]]);
    free(out);
    free(idx);
    free(xy);
    return out ? 0 : -1;
}

static void step_classify(const sl_task *t, const float *raw, draw *d)
{
    double y;
    sl_family_sample(&t->factor[0].fam, raw + t->factor[0].out, &d->rng, &y);
    d->src.galaxy = y > 0.5 || d->src.lens; /* a deflector is a galaxy */
}

static void step_galaxy(const sl_task *t, const float *raw, draw *d)
{
    draw_galaxy(t, 0, raw, &d->rng, d->src.flux, &d->src.shape);
}

static void step_lens(const sl_task *t, const float *raw, draw *d)
{
    double y[SL_FAMILY_MAX_DIM];
    sl_family_sample(&t->factor[0].fam, raw + t->factor[0].out, &d->rng, y);
    sl_source *s = &d->src;
    s->theta_e = y[0], s->e1 = y[1], s->e2 = y[2], s->src_dx = y[3], s->src_dy = y[4];
    s->shear_g1 = s->shear_g2 = 0;
    draw_galaxy(t, 1, raw, &d->rng, s->src_flux, &s->src_shape);
}

/* The lens systems of sample k: every tile of the lens finder holds one with
 * its probability, at a location drawn from its posterior; the drawn source
 * nearest to it within half a tile becomes a galaxy lens system, or, when
 * there is none, a new source there (a deflector the detections missed).
 * The draws d include those just outside the interior; *n grows by the new
 * sources. */
static int draw_lenses(const sl_encoder *e, const sl_image *img, const detection *tiles,
                       int n_tiles, int k, draw *d, int *n, sl_err *err)
{
    const sl_task *t = &e->model[SL_TASK_LENS_DETECT].task;
    int n_detected = *n;
    double *xy = malloc(((size_t)n_detected * 2 + 1) * sizeof *xy);
    if (!xy)
        return sl_err_set(err, "out of memory for %d sampled sources", n_detected);
    for (int j = 0; j < n_detected; j++)
        xy[j] = d[j].src.x, xy[n_detected + j] = d[j].src.y;
    for (int i = 0; i < n_tiles; i++) {
        sl_rng rng;
        /* The top bit keeps these streams apart from the detect tiles'. */
        uint64_t stream = 1ULL << 63 | ((uint64_t)img->parent << 40 ^
                                        (uint64_t)tiles[i].gy << 20 ^ (uint64_t)tiles[i].gx);
        sl_rng_init(&rng, e->seed, stream, (uint16_t)(SL_RNG_ENCODE_SAMPLE + k));
        double on, u, v;
        sl_family_sample(&t->factor[0].fam, tiles[i].raw + t->factor[0].out, &rng, &on);
        if (on < 0.5)
            continue;
        sl_family_sample(&t->factor[1].fam, tiles[i].raw + t->factor[1].out, &rng, &u);
        sl_family_sample(&t->factor[2].fam, tiles[i].raw + t->factor[2].out, &rng, &v);
        double x = (tiles[i].gx + u) * t->tile - img->x0, y = (tiles[i].gy + v) * t->tile - img->y0;
        int best = -1;
        double r = t->tile / 2.0;
        for (int j = 0; j < n_detected; j++) {
            double dist = hypot(xy[j] - x, xy[n_detected + j] - y);
            if (dist <= r)
                best = j, r = dist;
        }
        if (best < 0 && in_interior(img, x, y)) {
            best = (*n)++;
            d[best].rng = rng;
            memset(&d[best].src, 0, sizeof d[best].src);
            d[best].src.x = x, d[best].src.y = y;
        }
        if (best >= 0)
            d[best].src.galaxy = d[best].src.lens = 1;
    }
    free(xy);
    return 0;
}

/* Sample k of the catalog: every tile of the interior holds a source with
 * probability P(source), at a location drawn from its posterior; each
 * downstream factor is then drawn given the values drawn above it, its
 * encoder run at the drawn location, as the factorization of q says. */
static int draw_catalog(sl_encoder *e, const sl_image *img, const float *norm,
                        const detection *tiles, int n_tiles, const detection *lens_tiles,
                        int n_lens, int k, sl_catalog *cat, sl_err *err)
{
    const sl_task *t = &e->model[SL_TASK_DETECT].task;
    draw *d = malloc(((size_t)n_tiles + n_lens + 1) * sizeof *d);
    if (!d)
        return sl_err_set(err, "out of memory for %d tiles", n_tiles);
    int n = 0;
    for (int i = 0; i < n_tiles; i++) {
        draw *dr = &d[n];
        uint64_t stream = (uint64_t)img->parent << 40 ^ (uint64_t)tiles[i].gy << 20 ^
                          (uint64_t)tiles[i].gx;
        sl_rng_init(&dr->rng, e->seed, stream, (uint16_t)(SL_RNG_ENCODE_SAMPLE + k));
        double y[SL_FAMILY_MAX_DIM], u, v;
        sl_family_sample(&t->factor[0].fam, tiles[i].raw + t->factor[0].out, &dr->rng, y);
        if (y[0] < 0.5)
            continue;
        sl_family_sample(&t->factor[1].fam, tiles[i].raw + t->factor[1].out, &dr->rng, &u);
        sl_family_sample(&t->factor[2].fam, tiles[i].raw + t->factor[2].out, &dr->rng, &v);
        memset(&dr->src, 0, sizeof dr->src);
        dr->src.x = (tiles[i].gx + u) * t->tile - img->x0;
        dr->src.y = (tiles[i].gy + v) * t->tile - img->y0;
        for (int b = 0; b < t->n_bands; b++) {
            sl_family_sample(&t->factor[3 + b].fam, tiles[i].raw + t->factor[3 + b].out,
                             &dr->rng, y);
            dr->src.flux[b] = y[0];
        }
        n++;
    }
    int rc = e->have[SL_TASK_LENS_DETECT] ? draw_lenses(e, img, lens_tiles, n_lens, k, d, &n, err)
                                          : 0;
    /* A tile at the edge may place its source beyond it: not in this image. */
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (in_interior(img, d[i].src.x, d[i].src.y))
            d[kept++] = d[i];
    n = kept;
    if (rc == 0)
        rc = draw_stage(e, SL_TASK_CLASSIFY, img, norm, d, n, 0, 0, step_classify, err);
    if (rc == 0)
        rc = draw_stage(e, SL_TASK_GALAXY, img, norm, d, n, 1, 0, step_galaxy, err);
    if (rc == 0)
        rc = draw_stage(e, SL_TASK_LENS, img, norm, d, n, 1, 1, step_lens, err);
    cat->n = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        sl_source *s = sl_catalog_add(cat);
        if (!s) {
            rc = sl_err_set(err, "out of memory for a sampled catalog");
            break;
        }
        /* NaN for what the sample does not have: a star's shape, a non-lens's lens. */
        sl_source blank = *s;
        *s = d[i].src;
        if (!s->galaxy)
            s->shape = blank.shape;
        if (!s->lens) {
            s->theta_e = blank.theta_e, s->e1 = blank.e1, s->e2 = blank.e2;
            s->shear_g1 = blank.shear_g1, s->shear_g2 = blank.shear_g2;
            s->src_dx = blank.src_dx, s->src_dy = blank.src_dy;
            memcpy(s->src_flux, blank.src_flux, sizeof s->src_flux);
            s->src_shape = blank.src_shape;
        }
        s->sigma_v = s->z_lens = s->z_src = NAN;
    }
    if (rc == 0)
        sl_catalog_round_f32(cat);
    free(d);
    return rc;
}

double sl_encoder_train_rate(const sl_encoder *e, int which)
{
    return e->train_rate[which];
}

int sl_encoder_set_rate(sl_encoder *e, int which, double rate, sl_err *err)
{
    static const char *const what[2] = {"lens-detect", "classify"};
    static const char *const key[2] = {"lens_prob", "1 - star_prob"};
    double pi = e->train_rate[which];
    e->rate[which] = NAN;
    if (isnan(rate) || !e->have[which == SL_RATE_LENS ? SL_TASK_LENS_DETECT : SL_TASK_CLASSIFY])
        return 0;
    if (!(rate > 0 && rate < 1))
        return sl_err_set(err, "base rate %g: out of range (0, 1)", rate);
    if (isnan(pi))
        return sl_err_set(err, "the %s model records no training prior (%s): its "
                               "probabilities cannot be moved to another base rate",
                          what[which], key[which]);
    if (!(pi > 0 && pi < 1))
        return sl_err_set(err, "the %s model was trained with %s = %g: its probabilities "
                               "hold no odds to move to another base rate",
                          what[which], key[which], pi);
    e->rate[which] = rate;
    return 0;
}

/* P(lens) and P(galaxy) for the base rates asked for: the prior odds
 * pi / (1 - pi) the encoder learnt are replaced by r / (1 - r), so
 * p' = p a / (p a + 1 - p) with a = [r / (1 - r)] / [pi / (1 - pi)]. */
static void reweight(const sl_encoder *e, sl_table *est)
{
    static const char *const column[2] = {"p_lens", "p_galaxy"};
    for (int k = 0; k < 2; k++) {
        double r = e->rate[k], pi = e->train_rate[k];
        int c = sl_table_find(est, column[k]);
        if (isnan(r) || c < 0)
            continue;
        double a = r / (1 - r) / (pi / (1 - pi));
        for (int row = 0; row < est->n; row++) {
            float *p = sl_table_at(est, c, row);
            *p = (float)(*p * a / (*p * a + 1 - *p));
        }
    }
}

void sl_encoder_set_gated(sl_encoder *e, int gated)
{
    e->gated = gated;
}

int sl_encoder_set_samples(sl_encoder *e, int n_samples, uint64_t seed, sl_err *err)
{
    if (n_samples < 0 || n_samples > 65536)
        return sl_err_set(err, "%d samples: out of range [0, 65536]", n_samples);
    if (n_samples && (e->at_catalog || !e->have[SL_TASK_DETECT]))
        return sl_err_set(err, "posterior samples need a detect model (and no --at)");
    e->n_samples = n_samples;
    e->seed = seed;
    return 0;
}

/* Points for the lens finder to point at: the rows, then the detections just
 * outside the interior. */
typedef struct points {
    double *x, *y;
    int n;
} points;

/* The detect stage: samples from every tile, rows for the tiles of P(source)
 * above the threshold in the interior, and *pts. */
static int detect_rows(sl_encoder *e, const sl_image *img, const float *norm,
                       const detection *lens, int n_lens, int margin, sl_catalog *samples,
                       sl_table *est, points *pts, sl_err *err)
{
    const sl_task *t = &e->model[SL_TASK_DETECT].task;
    detection *det = NULL;
    int n_det = 0;
    /* Samples need every tile; the estimate, those above the threshold. */
    int rc = detect(e, SL_TASK_DETECT, img, norm, e->n_samples ? -1 : e->threshold, margin,
                    &det, &n_det, err);
    for (int k = 0; k < e->n_samples && rc == 0; k++)
        rc = draw_catalog(e, img, norm, det, n_det, lens, n_lens, k, &samples[k], err);
    /* A tile at the image's edge may place its source beyond it: the source
     * is then not in this image (nor in any patch's interior). */
    int kept = 0, n_out = 0;
    double *out = malloc(((size_t)n_det * 2 + 1) * sizeof *out);
    if (rc == 0 && !out)
        rc = sl_err_set(err, "out of memory for %d detections", n_det);
    for (int i = 0; i < n_det && rc == 0; i++) {
        double x, y;
        detection_xy(t, img, &det[i], &x, &y);
        if (!(tile_p(t, &det[i]) > e->threshold))
            continue;
        if (in_interior(img, x, y))
            det[kept++] = det[i];
        else
            out[n_out] = x, out[n_det + n_out++] = y;
    }
    if (rc == 0 && kept > 0 && (rc = sl_table_add_rows(est, kept, err)) >= 0) {
        rc = 0;
        for (int i = 0; i < kept; i++)
            for (int f = 0; f < t->n_factors; f++) {
                /* u, v are fractions of the tile: x = (tile + u) T in record pixels. */
                int is_u = !strcmp(t->factor[f].name, "u"), is_v = !strcmp(t->factor[f].name, "v");
                double origin = is_u ? det[i].gx - (double)img->x0 / t->tile
                              : is_v ? det[i].gy - (double)img->y0 / t->tile : 0;
                put_factor(e, est, t, f, det[i].raw + t->factor[f].out, i, origin,
                           is_u || is_v ? t->tile : 1);
            }
    }
    pts->n = kept + n_out;
    pts->x = rc == 0 ? malloc(((size_t)pts->n * 2 + 1) * sizeof *pts->x) : NULL;
    if (rc == 0 && !pts->x)
        rc = sl_err_set(err, "out of memory for %d detections", pts->n);
    if (rc == 0)
        pts->y = pts->x + pts->n;
    for (int i = 0; i < pts->n && rc == 0; i++) {
        if (i < kept)
            detection_xy(t, img, &det[i], &pts->x[i], &pts->y[i]);
        else
            pts->x[i] = out[i - kept], pts->y[i] = out[n_det + i - kept];
    }
    free(out);
    free(det);
    return rc;
}

/* Rows at the given catalog's positions in the interior, and *pts. */
static int catalog_rows(const sl_image *img, const sl_catalog *at, sl_table *est, points *pts,
                        sl_err *err)
{
    int cx = sl_table_find(est, "x"), cy = sl_table_find(est, "y");
    for (int i = 0; i < at->n; i++) {
        if (!in_interior(img, at->src[i].x, at->src[i].y))
            continue;
        int r = sl_table_add_rows(est, 1, err);
        if (r < 0)
            return -1;
        *sl_table_at(est, cx, r) = (float)at->src[i].x;
        *sl_table_at(est, cy, r) = (float)at->src[i].y;
    }
    pts->n = est->n;
    if (!(pts->x = malloc(((size_t)pts->n * 2 + 1) * sizeof *pts->x)))
        return sl_err_set(err, "out of memory for %d sources", pts->n);
    pts->y = pts->x + pts->n;
    for (int r = 0; r < est->n; r++)
        pts->x[r] = *sl_table_at(est, cx, r), pts->y[r] = *sl_table_at(est, cy, r);
    return 0;
}

int sl_encode_image(sl_encoder *e, const sl_image *img, const sl_catalog *at, sl_table *est,
                    sl_catalog *samples, long *n_nan, sl_err *err)
{
    if (sl_encoder_check(e, img, err) < 0)
        return -1;
    if (!e->columns_ready && setup_columns(e, est, img->n_bands, err) < 0)
        return -1;
    sl_table_clear(est);
    float *norm = sl_task_normalize_image(img, n_nan, err);
    if (!norm)
        return -1;
    detection *lens = NULL;
    points pts = {0};
    int n_lens = 0, rc = 0, margin = e->have[SL_TASK_LENS_DETECT] ? LENS_MARGIN : 0;
    /* The lens finder's every tile: lens_rows and the samples need them all. */
    if (e->have[SL_TASK_LENS_DETECT])
        rc = detect(e, SL_TASK_LENS_DETECT, img, norm, -1, margin, &lens, &n_lens, err);
    if (rc == 0)
        rc = e->at_catalog ? catalog_rows(img, at, est, &pts, err)
                           : detect_rows(e, img, norm, lens, n_lens, margin, samples, est, &pts,
                                         err);
    if (rc == 0 && e->have[SL_TASK_LENS_DETECT])
        rc = lens_rows(e, img, lens, n_lens, pts.x, pts.y, pts.n, est, err);
    for (int k = SL_TASK_CLASSIFY; k < SL_N_TASKS && rc == 0; k++)
        if (e->have[k] && k != SL_TASK_LENS_DETECT)
            rc = run_cutouts(e, (sl_task_kind)k, img, norm, est, err);
    if (rc == 0) {
        reweight(e, est);
        put_points(e, est, img->n_bands);
    }
    free(pts.x);
    free(lens);
    free(norm);
    return rc < 0 ? -1 : 0;
}
