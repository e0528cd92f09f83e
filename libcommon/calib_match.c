/* calib_match.c: reading one record of a calibration run and matching its
 * estimates to its true sources (see calib_run.h).  Owns what a record must
 * hold for sl-calibrate (bands that agree along the stream, the interior an
 * estimate can lie in, the PSF and sky that give the SNR of --min-snr), the
 * inference of the detect tile, the two matchings (one to one within a
 * radius, or row to row for sl-encode --at truth) and the collection of what
 * detection and the binary factors need. */
#include "calib_run.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "psf.h"

const char *const sl_calib_binary_names[3] = {"source", "galaxy", "lens"};

void sl_calib_run_init(sl_calib_run *r)
{
    static const sl_calib_opts defaults = SL_CALIB_OPTS_DEFAULT;
    memset(r, 0, sizeof *r);
    r->opt = defaults;
    r->n_bands = -1;
}

void sl_calib_run_free(sl_calib_run *r)
{
    for (int i = 0; i < r->n_params; i++) {
        sl_calib_param *p = &r->params[i];
        sl_calib_dvec *v[] = {&p->truth, &p->headline, &p->q16, &p->q50, &p->q84,
                              &p->pit,   &p->rank, &p->q05, &p->q95, &p->snr};
        for (size_t k = 0; k < sizeof v / sizeof *v; k++)
            sl_vec_free(v[k]);
    }
    sl_calib_dvec *v[] = {&r->t_mag, &r->t_snr, &r->t_matched, &r->e_mag, &r->e_snr,
                          &r->e_matched, &r->e_match_snr, &r->tarp_z, &r->tarp_mu,
                          &r->tarp_chol, &r->p[0], &r->p[1], &r->p[2]};
    for (size_t k = 0; k < sizeof v / sizeof *v; k++)
        sl_vec_free(v[k]);
    for (int k = 0; k < 3; k++)
        sl_vec_free(&r->y[k]);
    sl_calib_lens_free(&r->lens);
    sl_calib_recon_free(&r->recon);
}

/* ---- Columns ------------------------------------------------------------------- */

int sl_calib_need_col(const sl_record *rec, const sl_table *t, const char *key,
                      const char *name, int width, sl_err *err)
{
    char path[96];
    snprintf(path, sizeof path, "%s.%s", key, name);
    int c = sl_table_find(t, name);
    if (c < 0)
        return sl_rec_fail(rec, path, err, "missing");
    if (t->n > 0 && t->cols[c].width != width)
        return sl_rec_fail(rec, path, err, "%d values per source, expected %d",
                           t->cols[c].width, width);
    return c;
}

int sl_calib_opt_col(const sl_record *rec, const sl_table *t, const char *key,
                     const char *name, int width, sl_err *err)
{
    if (sl_table_find(t, name) < 0)
        return -1;
    int c = sl_calib_need_col(rec, t, key, name, width, err);
    return c < 0 ? -2 : c;
}

double sl_calib_at(const sl_table *t, int c, int row, int k)
{
    return c < 0 ? NAN : sl_table_at(t, c, row)[k];
}

/* ---- What a record holds beside its two tables ---------------------------------- */

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

/* Where an SDSS PSF's profile falls to half its peak: no closed form. */
static int sdss_fwhm(const sl_record *rec, const msgpack_object *m, const char *key,
                     double *fwhm, sl_err *err)
{
    const char *names[6] = {"sigma1", "sigma2", "sigmap", "beta", "b", "p0"};
    double v[6];
    for (int k = 0; k < 6; k++)
        if (!isfinite(v[k] = obj_num(sl_obj_get(m, names[k]))))
            return sl_rec_fail(rec, key, err, "key '%s': expected a number", names[k]);
    sl_psf psf;
    sl_err e2;
    if (sl_psf_init_sdss(&psf, v[0], v[1], v[2], v[3], v[4], v[5], &e2) < 0)
        return sl_rec_fail(rec, key, err, "%s", e2.msg);
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
    *fwhm = 2 * lo;
    return 0;
}

/* Full width at half maximum in pixels of a PSF map, for A_eff. */
static int psf_fwhm_pixels(const sl_record *rec, const msgpack_object *m, int b,
                           double pixel_scale, double *fwhm, sl_err *err)
{
    char key[32];
    snprintf(key, sizeof key, "psf[%d]", b);
    const msgpack_object *model = sl_obj_get(m, "model");
    if (model && (sl_obj_is_str(model, "gaussian") || sl_obj_is_str(model, "moffat"))) {
        double f = obj_num(sl_obj_get(m, "fwhm"));
        if (f > 0 && isfinite(f)) {
            *fwhm = f / pixel_scale;
            return 0;
        }
        return sl_rec_fail(rec, key, err, "key 'fwhm': expected a positive number");
    }
    if (model && sl_obj_is_str(model, "sdss"))
        return sdss_fwhm(rec, m, key, fwhm, err);
    return sl_rec_fail(rec, key, err,
                       "--min-snr needs a gaussian, moffat or sdss PSF to have a FWHM");
}

/* The noise scale sqrt(background A_eff) of the reference band, with A_eff =
 * 4 pi sigma^2 the noise-equivalent area of a Gaussian of the PSF's FWHM. */
static int snr_norm(const sl_calib_run *r, const sl_record *rec, const sl_image *img,
                    double *norm, sl_err *err)
{
    const msgpack_object *psf = sl_rec_get(rec, "psf");
    if (!psf || psf->type != MSGPACK_OBJECT_ARRAY || (int)psf->via.array.size != img->n_bands)
        return sl_rec_fail(rec, "psf", err, "%s: --min-snr needs a PSF per band",
                           psf ? "expected an array of one map per band" : "missing");
    double fwhm;
    if (psf_fwhm_pixels(rec, &psf->via.array.ptr[r->ref_band], r->ref_band, img->pixel_scale,
                        &fwhm, err) < 0)
        return -1;
    double sigma = fwhm / (2 * sqrt(2 * log(2)));
    double bg = img->background[r->ref_band];
    if (!(bg > 0))
        return sl_rec_fail(rec, "background", err,
                           "%g in band %s: --min-snr needs a positive sky", bg,
                           img->bands[r->ref_band]);
    *norm = sqrt(bg * 4 * M_PI * sigma * sigma);
    return 0;
}

/* What catalog and image records share: bands, zero point, pixel scale. */
static int read_meta(const sl_record *rec, sl_image *img, rec_meta *m, sl_err *err)
{
    if (sl_image_read_meta(img, rec, err) < 0)
        return -1;
    m->n_bands = img->n_bands;
    memcpy(m->bands, img->bands, sizeof m->bands);
    m->has_zero_point = img->has_zero_point;
    m->pixel_scale = img->pixel_scale;
    return 0;
}

/* A catalog record (sl-merge) begins as image records do: image.c reads it. */
static int read_catalog_meta(const sl_calib_run *r, const sl_record *rec, sl_image *img,
                             rec_meta *m, sl_err *err)
{
    if (read_meta(rec, img, m, err) < 0)
        return -1;
    m->zero_point = m->has_zero_point ? img->zero_point[r->ref_band < m->n_bands ? r->ref_band : 0]
                                      : 0;
    /* A merged catalog is in its parent's pixels and holds only interiors. */
    m->xlo = m->ylo = -INFINITY;
    m->xhi = m->yhi = INFINITY;
    m->snr_norm = NAN;
    if (r->opt.min_snr > 0)
        return sl_rec_fail(rec, "psf", err, "missing: a catalog record has no PSF or "
                                            "background for --min-snr (calibrate the image "
                                            "records instead)");
    return 0;
}

static int read_image_meta(const sl_calib_run *r, const sl_record *rec, sl_image *img,
                           rec_meta *m, sl_err *err)
{
    if (read_meta(rec, img, m, err) < 0)
        return -1;
    /* The interior, as sl-encode and sl-merge cut it. */
    int xlo, ylo, xhi, yhi;
    sl_image_interior(img, &xlo, &ylo, &xhi, &yhi);
    m->xlo = xlo;
    m->ylo = ylo;
    m->xhi = xhi;
    m->yhi = yhi;
    m->snr_norm = NAN;
    if (r->opt.min_snr > 0 && r->n_bands >= 0) {
        if (!sl_rec_get(rec, "background") && sl_rec_get(rec, "background_map") &&
            sl_image_read(img, rec, err) < 0) /* the map's mean is the scalar sky */
            return -1;
        if (snr_norm(r, rec, img, &m->snr_norm, err) < 0)
            return -1;
    }
    m->zero_point = img->has_zero_point && r->n_bands >= 0 ? img->zero_point[r->ref_band] : 0;
    return 0;
}

/* The first record fixes the bands and the reference band; later ones must agree. */
static int check_bands(sl_calib_run *r, const sl_record *rec, const rec_meta *m, sl_err *err)
{
    if (r->n_bands < 0) {
        r->n_bands = m->n_bands;
        memcpy(r->band_names, m->bands, sizeof r->band_names);
        r->ref_band = 0;
        const char *want = r->opt.band ? r->opt.band : "r";
        int found = 0;
        for (int b = 0; b < r->n_bands; b++)
            if (!strcmp(r->band_names[b], want))
                r->ref_band = b, found = 1;
        if (r->opt.band && !found)
            return sl_rec_fail(rec, "bands", err, "no band '%s' (--band)", r->opt.band);
        return 0;
    }
    if (!sl_image_same_bands(m->bands, m->n_bands, r->band_names, r->n_bands))
        return sl_rec_fail(rec, "bands", err, "differ from the first record's (%d bands, %s "
                                              "first)", r->n_bands, r->band_names[0]);
    return 0;
}

/* The tile side, from the first located estimate: x_q50 = T (i + logistic(u_mu))
 * for a whole tile index i (patches start on the tile grid), so only the true
 * T makes x_q50 / T - logistic(u_mu) whole for every row. */
static int infer_tile(const sl_record *rec, const sl_table *est, sl_err *err)
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
    if (!best)
        return sl_rec_fail(rec, "estimate.x_q50", err, "no tile side of 1, 2, 4 or 8 pixels "
                                                       "fits the locations: give it with "
                                                       "--tile");
    return best;
}

/* ---- Matching ------------------------------------------------------------------- */

static double magnitude(double flux, double zp)
{
    return flux > 0 ? zp - 2.5 * log10(flux) : NAN;
}

/* The work arrays of one record's matching. */
typedef struct match_buf {
    int *trows;   /* truth rows inside the interior */
    int nt;
    long *t2e, *e2t;
    double *xy;
} match_buf;

/* Pairs rows of an estimate written at the true positions (sl-encode --at
 * truth) with their truth rows: the same sources in the same order, at
 * exactly the same (float32) positions. */
static int match_exact(const sl_record *rec, const sl_table *est, const sl_table *tru,
                       match_buf *mb, sl_err *err)
{
    int ex, ey, tx, ty;
    if ((ex = sl_calib_need_col(rec, est, "estimate", "x", 1, err)) < 0 ||
        (ey = sl_calib_need_col(rec, est, "estimate", "y", 1, err)) < 0 ||
        (tx = sl_calib_need_col(rec, tru, "truth", "x", 1, err)) < 0 ||
        (ty = sl_calib_need_col(rec, tru, "truth", "y", 1, err)) < 0)
        return -1;
    int j = 0;
    for (int e = 0; e < est->n; e++) {
        float x = *sl_table_at(est, ex, e), y = *sl_table_at(est, ey, e);
        while (j < mb->nt && !(*sl_table_at(tru, tx, mb->trows[j]) == x &&
                               *sl_table_at(tru, ty, mb->trows[j]) == y))
            j++;
        if (j == mb->nt)
            return sl_rec_fail(rec, "estimate.x", err,
                               "row %d at (%g, %g) has no true source at that position after "
                               "the previous row's: not written by sl-encode --at truth (use "
                               "--match distance)", e, x, y);
        mb->e2t[e] = mb->trows[j++];
    }
    return 0;
}

static int push_binary(sl_calib_run *r, int k, double p, int y, sl_err *err)
{
    /* NaN: the gated cascade did not ask (P(lens) of a source classified as a star). */
    if (isnan(p))
        return 0;
    if (sl_vec_push(&r->p[k], p, err) < 0 || sl_vec_push(&r->y[k], (unsigned char)y, err) < 0)
        return -1;
    return 0;
}

/* One entry per truth and per estimate for detection (magnitude, SNR,
 * matched), and the source factor's outcomes; e2t ends as truth rows. */
static int collect_detection(sl_calib_run *r, const sl_table *est, const sl_table *tru,
                             const rec_meta *m, int c_tflux, int c_eflux, int c_ps,
                             match_buf *mb, sl_err *err)
{
    int rc = 0;
    for (int k = 0; k < mb->nt; k++) {
        double f = sl_table_at(tru, c_tflux, mb->trows[k])[r->ref_band];
        rc |= sl_vec_push(&r->t_mag, magnitude(f, m->zero_point), err);
        rc |= sl_vec_push(&r->t_snr, f / m->snr_norm, err);
        rc |= sl_vec_push(&r->t_matched, mb->t2e[k] >= 0, err);
    }
    for (int e = 0; e < est->n; e++) {
        long t = mb->e2t[e];
        double f = sl_table_at(est, c_eflux, e)[r->ref_band];
        rc |= sl_vec_push(&r->e_mag, magnitude(f, m->zero_point), err);
        rc |= sl_vec_push(&r->e_snr, f / m->snr_norm, err);
        rc |= sl_vec_push(&r->e_matched, t >= 0, err);
        double ft = t >= 0 ? sl_table_at(tru, c_tflux, mb->trows[t])[r->ref_band] : NAN;
        rc |= sl_vec_push(&r->e_match_snr, ft / m->snr_norm, err);
        if (c_ps >= 0)
            rc |= push_binary(r, 0, *sl_table_at(est, c_ps, e), t >= 0, err);
        mb->e2t[e] = t >= 0 ? mb->trows[t] : -1; /* from here on: truth rows */
    }
    return rc ? -1 : 0;
}

/* One-to-one matching within the radius, then the detection entries. */
static int match_distance(sl_calib_run *r, const sl_record *rec, const sl_table *est,
                          const sl_table *tru, const rec_meta *m, int tx, int ty, int c_tflux,
                          match_buf *mb, sl_err *err)
{
    int ex, ey, c_eflux, c_ps;
    if ((ex = sl_calib_need_col(rec, est, "estimate", "x", 1, err)) < 0 ||
        (ey = sl_calib_need_col(rec, est, "estimate", "y", 1, err)) < 0 ||
        (c_eflux = sl_calib_need_col(rec, est, "estimate", "flux", r->n_bands, err)) < 0 ||
        (c_ps = sl_calib_opt_col(rec, est, "estimate", "p_source", 1, err)) < -1)
        return -1;
    int nt = mb->nt;
    double *txv = mb->xy, *tyv = mb->xy + nt, *exv = mb->xy + 2 * nt, *eyv = exv + est->n;
    for (int k = 0; k < nt; k++)
        txv[k] = *sl_table_at(tru, tx, mb->trows[k]), tyv[k] = *sl_table_at(tru, ty, mb->trows[k]);
    for (int e = 0; e < est->n; e++)
        exv[e] = *sl_table_at(est, ex, e), eyv[e] = *sl_table_at(est, ey, e);
    if (sl_calib_match(txv, tyv, nt, exv, eyv, est->n, r->opt.radius, mb->t2e, mb->e2t, err) < 0)
        return -1;
    return collect_detection(r, est, tru, m, c_tflux, c_eflux, c_ps, mb, err);
}

/* The binary factors and the continuous parameters of every matched pair. */
static int collect_pairs(sl_calib_run *r, const sl_record *rec, const sl_table *est,
                         const sl_table *tru, int c_gal, int c_lens, const long *e2t,
                         sl_err *err)
{
    int c_pg, c_pl;
    if ((c_pg = sl_calib_opt_col(rec, est, "estimate", "p_galaxy", 1, err)) < -1 ||
        (c_pl = sl_calib_opt_col(rec, est, "estimate", "p_lens", 1, err)) < -1)
        return -1;
    for (int e = 0; e < est->n; e++) {
        int t = (int)e2t[e];
        if (t < 0)
            continue;
        double g = sl_calib_at(tru, c_gal, t, 0);
        if (c_pg >= 0 && (g == 0 || g == 1) &&
            push_binary(r, 1, *sl_table_at(est, c_pg, e), (int)g, err) < 0)
            return -1;
        /* lens-detect is trained on galaxies only. */
        if (c_pl >= 0 && g == 1 &&
            push_binary(r, 2, *sl_table_at(est, c_pl, e), sl_calib_at(tru, c_lens, t, 0) == 1,
                        err) < 0)
            return -1;
        if (sl_calib_params_add_pair(r, est, tru, e, t, c_gal, c_lens, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- One record ----------------------------------------------------------------- */

/* Reads the tables and what the record holds beside them; on the first
 * record, decides the matching and the parameters. */
static int take_meta(sl_calib_run *r, const sl_record *rec, sl_image *img, sl_table *est,
                     sl_table *tru, rec_meta *m, sl_err *err)
{
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "estimate" : "truth";
        if (!sl_rec_get(rec, key))
            return sl_rec_fail(rec, key, err, "missing: sl-calibrate needs %s",
                               k ? "the estimates of sl-encode (or sl-merge) beside the truth"
                                 : "the true catalog of a simulation beside the estimate");
    }
    if (sl_table_read(est, rec, "estimate", err) < 0 || sl_table_read(tru, rec, "truth", err) < 0)
        return -1;
    int first = r->n_bands < 0, image = !strcmp(rec->type, "image");
    if ((image ? read_image_meta(r, rec, img, m, err) : read_catalog_meta(r, rec, img, m, err)) < 0 ||
        check_bands(r, rec, m, err) < 0)
        return -1;
    /* now that the reference band is known */
    if (first && image && read_image_meta(r, rec, img, m, err) < 0)
        return -1;
    if (!m->has_zero_point)
        r->no_zero_point = 1;
    if (!r->mode_known) {
        r->mode_exact = r->opt.match == SL_CALIB_MATCH_EXACT ||
                        (r->opt.match == SL_CALIB_MATCH_AUTO && sl_table_find(est, "p_source") < 0);
        r->mode_known = 1;
        if (sl_calib_params_setup(r, est, err) < 0)
            return -1;
    }
    if (r->n_params && est->n > 0 && !r->tile && sl_table_find(est, "u_mu") >= 0 &&
        (r->tile = r->opt.tile ? r->opt.tile : infer_tile(rec, est, err)) < 0)
        return -1;
    return sl_calib_params_resolve(r, rec, est, tru, err);
}

static int take_matched(sl_calib_run *r, const sl_record *rec, sl_image *img, const sl_table *est,
                        const sl_table *tru, const rec_meta *m, match_buf *mb, sl_err *err)
{
    int tx, ty, c_gal, c_lens = -1, c_tflux;
    int lensing = sl_table_find(est, "p_lens") >= 0 || sl_table_find(est, "lens_mu") >= 0;
    if ((tx = sl_calib_need_col(rec, tru, "truth", "x", 1, err)) < 0 ||
        (ty = sl_calib_need_col(rec, tru, "truth", "y", 1, err)) < 0 ||
        (c_gal = sl_calib_need_col(rec, tru, "truth", "galaxy", 1, err)) < 0 ||
        (lensing && (c_lens = sl_calib_need_col(rec, tru, "truth", "lens", 1, err)) < 0) ||
        (c_tflux = sl_calib_need_col(rec, tru, "truth", "flux", r->n_bands, err)) < 0)
        return -1;
    for (int t = 0; t < tru->n; t++) {
        double x = *sl_table_at(tru, tx, t), y = *sl_table_at(tru, ty, t);
        if (x >= m->xlo && x < m->xhi && y >= m->ylo && y < m->yhi)
            mb->trows[mb->nt++] = t;
    }
    if ((r->mode_exact ? match_exact(rec, est, tru, mb, err)
                       : match_distance(r, rec, est, tru, m, tx, ty, c_tflux, mb, err)) < 0 ||
        collect_pairs(r, rec, est, tru, c_gal, c_lens, mb->e2t, err) < 0)
        return -1;
    /* Over whole images: estimates at the true positions would flatter it. */
    if (!r->mode_exact &&
        sl_calib_lens_collect(r, rec, est, tru, mb->trows, mb->nt, m->pixel_scale, err) < 0)
        return -1;
    if (r->opt.chi2 && !strcmp(rec->type, "image") &&
        sl_calib_recon_take(r, rec, img, tru, mb->trows, mb->nt, err) < 0)
        return -1;
    r->images++;
    r->n_true += mb->nt;
    r->n_est += est->n;
    return 0;
}

int sl_calib_run_take(sl_calib_run *r, const sl_record *rec, sl_image *img, sl_table *est,
                      sl_table *tru, sl_err *err)
{
    rec_meta m;
    if (take_meta(r, rec, img, est, tru, &m, err) < 0)
        return -1;
    match_buf mb = {0};
    mb.trows = malloc(((size_t)tru->n + 1) * sizeof *mb.trows);
    mb.t2e = malloc(((size_t)tru->n + 1) * sizeof *mb.t2e);
    mb.e2t = malloc(((size_t)est->n + 1) * sizeof *mb.e2t);
    mb.xy = malloc(((size_t)tru->n + est->n + 1) * 4 * sizeof *mb.xy);
    int rc = !mb.trows || !mb.t2e || !mb.e2t || !mb.xy ? sl_err_set(err, "out of memory")
                                                       : take_matched(r, rec, img, est, tru, &m,
                                                                      &mb, err);
    free(mb.trows);
    free(mb.t2e);
    free(mb.e2t);
    free(mb.xy);
    return rc;
}
