/* calib_report.c: the measurements of a calibration run and its report
 * record (see calib_run.h).  Owns the layout of the `report` record (man 5
 * sl-records); the JSON of --json is the same map written by json.c, so the
 * two cannot drift apart. */
#include "calib_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Measuring ------------------------------------------------------------------ */

static void default_mag_edges(sl_calib_run *r)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < r->t_mag.n; i++)
        if (isfinite(r->t_mag.a[i])) {
            lo = fmin(lo, r->t_mag.a[i]);
            hi = fmax(hi, r->t_mag.a[i]);
        }
    if (!(lo <= hi))
        return;
    /* Whole magnitudes, in steps wide enough for at most 12 bins. */
    double a = floor(lo), b = ceil(hi) > floor(lo) ? ceil(hi) : floor(lo) + 1;
    double step = ceil((b - a) / 12);
    sl_calib_opts *o = &r->opt;
    o->n_mag_edges = 0;
    for (double e = a; e < b + step - 1e-9 && o->n_mag_edges <= SL_CALIB_MAX_MAG_BINS; e += step)
        o->mag_edges[o->n_mag_edges++] = e;
}

static long count_matched(const sl_calib_dvec *matched)
{
    long n = 0;
    for (size_t i = 0; i < matched->n; i++)
        n += matched->a[i] > 0;
    return n;
}

/* Recall by true magnitude, precision by estimated magnitude. */
static void detect_bin(const sl_calib_run *r, double lo, double hi, sl_calib_detect_row *row)
{
    long nt = 0, nm = 0, ne = 0, nem = 0;
    for (size_t i = 0; i < r->t_mag.n; i++)
        if (r->t_mag.a[i] >= lo && r->t_mag.a[i] < hi)
            nt++, nm += r->t_matched.a[i] > 0;
    for (size_t i = 0; i < r->e_mag.n; i++)
        if (r->e_mag.a[i] >= lo && r->e_mag.a[i] < hi)
            ne++, nem += r->e_matched.a[i] > 0;
    row->lo = lo;
    row->hi = hi;
    sl_calib_detect_counts(nt, nm, ne, nem, &row->d);
}

static void measure_detection(sl_calib_run *r)
{
    r->det_all.lo = r->det_all.hi = NAN;
    sl_calib_detect_counts((long)r->t_mag.n, count_matched(&r->t_matched), (long)r->e_mag.n,
                           count_matched(&r->e_matched), &r->det_all.d);
    if (!r->opt.n_mag_edges)
        default_mag_edges(r);
    r->n_det_bins = r->opt.n_mag_edges > 1 ? r->opt.n_mag_edges - 1 : 0;
    for (int k = 0; k < r->n_det_bins; k++)
        detect_bin(r, r->opt.mag_edges[k], r->opt.mag_edges[k + 1], &r->det_bins[k]);
    if (r->opt.min_snr > 0) {
        double s = r->opt.min_snr;
        long nt = 0, nm = 0, ne = 0, nem = 0;
        for (size_t i = 0; i < r->t_snr.n; i++)
            if (r->t_snr.a[i] >= s)
                nt++, nm += r->t_matched.a[i] > 0;
        /* Estimates of bright true sources, and unmatched ones that claim to be bright. */
        for (size_t i = 0; i < r->e_snr.n; i++) {
            int matched = r->e_matched.a[i] > 0;
            if (matched ? r->e_match_snr.a[i] >= s : r->e_snr.a[i] >= s)
                ne++, nem += matched;
        }
        r->det_snr.lo = r->det_snr.hi = NAN;
        sl_calib_detect_counts(nt, nm, ne, nem, &r->det_snr.d);
    }
}

/* R^2 and the median width ratio of the pairs whose SNR lies in [lo, hi)
 * (all pairs for lo = NaN). */
static int sharp_bin(const sl_calib_param *p, double lo, double hi, double *t, double *m,
                     double *w, sl_calib_sharp *out, sl_err *err)
{
    long n = 0, nw = 0;
    for (size_t i = 0; i < p->truth.n; i++) {
        if (!isnan(lo) && !(p->snr.a[i] >= lo && p->snr.a[i] < hi))
            continue;
        t[n] = p->truth.a[i], m[n++] = p->headline.a[i];
        double width = (p->q95.a[i] - p->q05.a[i]) / p->prior_width;
        if (isfinite(width))
            w[nw++] = width;
    }
    sl_calib_point pt;
    if (sl_calib_point_accuracy(t, m, NULL, NULL, NULL, n, p->period, 0, &pt, err) < 0)
        return -1;
    out->n = n;
    out->r2 = pt.r2;
    out->width_ratio = sl_calib_median(w, nw);
    return 0;
}

/* Sharpness beside calibration: a posterior equal to the prior is
 * calibrated and says nothing; its width ratio is 1 and its R^2 about 0. */
static int measure_sharpness(sl_calib_param *p, sl_err *err)
{
    size_t n = p->truth.n;
    double *buf = malloc((3 * n + 1) * sizeof *buf);
    if (!buf)
        return sl_err_set(err, "out of memory");
    if (n > 0) /* truth.a is NULL when no value was kept: memcpy(_, NULL, 0) is undefined */
        memcpy(buf, p->truth.a, n * sizeof *buf);
    p->prior_width = sl_calib_quantile(buf, (long)n, 0.95) - sl_calib_quantile(buf, (long)n, 0.05);
    p->has_snr = 0;
    for (size_t i = 0; i < n; i++)
        p->has_snr |= isfinite(p->snr.a[i]);
    int rc = sharp_bin(p, NAN, NAN, buf, buf + n, buf + 2 * n, &p->sharp_all, err);
    for (int b = 0; b < SL_CALIB_SNR_BINS && rc == 0; b++)
        rc = sharp_bin(p, sl_calib_snr_edges[b], sl_calib_snr_edges[b + 1], buf, buf + n,
                       buf + 2 * n, &p->sharp[b], err);
    free(buf);
    return rc;
}

/* Coverage, SBC ranks and point accuracy of one parameter. */
static int measure_param(const sl_calib_run *r, sl_calib_param *p, sl_err *err)
{
    sl_calib_coverage_from_pit(p->pit.a, (long)p->pit.n, SL_CALIB_ALPHA, &p->cov);
    int *ranks = malloc((p->rank.n + 1) * sizeof *ranks);
    if (!ranks)
        return sl_err_set(err, "out of memory");
    long nr = 0;
    for (size_t k = 0; k < p->rank.n; k++)
        if (p->rank.a[k] >= 0)
            ranks[nr++] = (int)p->rank.a[k];
    int L = r->opt.sbc_samples, bins = sl_calib_sbc_bins(L, nr, 20);
    int rc = sl_calib_rank_histogram(ranks, nr, L, bins, &p->sbc, err) < 0 ||
                     sl_calib_point_accuracy(p->truth.a, p->headline.a, p->q16.a, p->q50.a,
                                             p->q84.a, (long)p->truth.n, p->period, p->ratio,
                                             &p->point, err) < 0
                 ? -1
                 : 0;
    free(ranks);
    return rc < 0 ? -1 : measure_sharpness(p, err);
}

int sl_calib_run_measure(sl_calib_run *r, sl_err *err)
{
    if (!r->mode_exact)
        measure_detection(r);
    for (int k = 0; k < 3; k++)
        if (r->p[k].n > 0 &&
            (sl_calib_bin_reliability(r->p[k].a, r->y[k].a, (long)r->p[k].n, r->opt.bins, 0,
                                      &r->rel[k], err) < 0 ||
             sl_calib_bin_reliability(r->p[k].a, r->y[k].a, (long)r->p[k].n, r->opt.bins, 1,
                                      &r->rel_eq[k], err) < 0))
            return -1;
    for (int i = 0; i < r->n_params; i++)
        if (measure_param(r, &r->params[i], err) < 0)
            return -1;
    if (r->lens.on && sl_calib_lens_measure(&r->lens, &r->opt, err) < 0)
        return -1;
    if (r->recon.on && sl_calib_recon_measure(&r->recon, err) < 0)
        return -1;
    long n_lens = (long)r->tarp_z.n / 5;
    if (n_lens > 0) {
        if (sl_calib_tarp_curve(r->tarp_z.a, r->tarp_mu.a, r->tarp_chol.a, n_lens, 5,
                                r->opt.tarp_samples, r->opt.tarp_boot, r->opt.seed, &r->tarp,
                                err) < 0)
            return -1;
        r->have_tarp = r->tarp.n > 0;
    }
    return 0;
}

/* ---- The report record ---------------------------------------------------------- */

static void pack_doubles(sl_map *m, const char *key, const double *v, int n)
{
    sl_map_nums(m, key, v, (size_t)n);
}

static void pack_detect(sl_map *up, const char *key, const sl_calib_detect_row *r)
{
    sl_map m;
    if (key)
        sl_map_nest(up, key, &m, 8);
    else
        sl_map_within(up, &m, "bins", 8);
    sl_map_num(&m, "mag_lo", r->lo);
    sl_map_num(&m, "mag_hi", r->hi);
    sl_map_int(&m, "n_true", r->d.n_true);
    sl_map_int(&m, "n_est", r->d.n_est);
    sl_map_int(&m, "matched", r->d.n_match_true);
    sl_map_num(&m, "precision", r->d.precision);
    sl_map_num(&m, "recall", r->d.recall);
    sl_map_num(&m, "f1", r->d.f1);
    sl_map_end(&m, NULL);
}

static void pack_reliability(sl_map *up, const char *key, const sl_calib_reliability *r)
{
    sl_map m, bin;
    sl_map_nest(up, key, &m, 5);
    sl_map_int(&m, "n", r->n);
    sl_map_num(&m, "ece", r->ece);
    sl_map_num(&m, "mce", r->mce);
    sl_map_num(&m, "brier", r->brier);
    msgpack_pack_array(sl_map_key(&m, "bins"), (uint32_t)r->n_bins);
    for (int b = 0; b < r->n_bins; b++) {
        sl_map_within(&m, &bin, "bins", 6);
        sl_map_num(&bin, "lo", r->bin[b].lo);
        sl_map_num(&bin, "hi", r->bin[b].hi);
        sl_map_int(&bin, "n", r->bin[b].n);
        sl_map_num(&bin, "conf", r->bin[b].conf);
        sl_map_num(&bin, "freq", r->bin[b].freq);
        sl_map_num(&bin, "err", r->bin[b].err);
        sl_map_end(&bin, NULL);
    }
    sl_map_end(&m, NULL);
}

static void pack_sbc(sl_map *up, const sl_calib_sbc *s)
{
    sl_map m;
    sl_map_nest(up, "sbc", &m, 6);
    sl_map_int(&m, "draws", s->L);
    sl_map_int(&m, "bins", s->n_bins);
    msgpack_packer *pk = sl_map_key(&m, "counts");
    msgpack_pack_array(pk, (uint32_t)s->n_bins);
    for (int b = 0; b < s->n_bins; b++)
        msgpack_pack_int64(pk, s->count[b]);
    sl_map_num(&m, "chi2", s->chi2);
    sl_map_int(&m, "dof", s->dof);
    sl_map_num(&m, "p_value", s->p_value);
    sl_map_end(&m, NULL);
}

/* As the value of key, or (key NULL) an element of the snr_bins array. */
static void pack_sharp(sl_map *up, const char *key, const sl_calib_sharp *h, double lo,
                       double hi)
{
    sl_map m;
    uint32_t n = isnan(lo) ? 3 : 5;
    if (key)
        sl_map_nest(up, key, &m, n);
    else
        sl_map_within(up, &m, "snr_bins", n);
    if (!isnan(lo)) {
        sl_map_num(&m, "snr_lo", lo);
        sl_map_num(&m, "snr_hi", hi);
    }
    sl_map_int(&m, "n", h->n);
    sl_map_num(&m, "r2", h->r2);
    sl_map_num(&m, "width_ratio", h->width_ratio);
    sl_map_end(&m, NULL);
}

/* The bins are null when the truth had no SNR for the parameter. */
static void pack_sharpness(sl_map *up, const sl_calib_param *p)
{
    sl_map m;
    sl_map_nest(up, "sharpness", &m, 4);
    sl_map_num(&m, "prior_width90", p->prior_width);
    sl_map_str(&m, "snr_key", p->pop == SL_POP_LENS ? "arc_snr" : "snr");
    pack_sharp(&m, "all", &p->sharp_all, NAN, NAN);
    if (!p->has_snr) {
        sl_map_nil(&m, "snr_bins");
    } else {
        msgpack_pack_array(sl_map_key(&m, "snr_bins"), SL_CALIB_SNR_BINS);
        for (int b = 0; b < SL_CALIB_SNR_BINS; b++)
            pack_sharp(&m, NULL, &p->sharp[b], sl_calib_snr_edges[b], sl_calib_snr_edges[b + 1]);
    }
    sl_map_end(&m, NULL);
}

static void pack_param(sl_map *up, const sl_calib_param *p)
{
    sl_map m, point;
    sl_map_within(up, &m, "continuous", 9);
    sl_map_str(&m, "name", p->name);
    sl_map_str(&m, "group", p->group);
    sl_map_int(&m, "n", p->cov.n);
    pack_doubles(&m, "coverage", p->cov.cover, SL_CALIB_N_LEVELS);
    pack_doubles(&m, "band", p->cov.band, SL_CALIB_N_LEVELS);
    sl_map_str(&m, "verdict", sl_calib_verdict_name(p->cov.verdict));
    pack_sbc(&m, &p->sbc);
    sl_map_nest(&m, "point", &point, 7);
    sl_map_int(&point, "n", p->point.n);
    sl_map_num(&point, "r2", p->point.r2);
    sl_map_num(&point, "median_abs_error", p->point.mae);
    sl_map_num(&point, "median_frac_dev", p->point.frac_dev);
    sl_map_num(&point, "median_rel_precision", p->point.rel_prec);
    sl_map_num(&point, "bias", p->point.bias);
    sl_map_num(&point, "rmse", p->point.rmse);
    sl_map_end(&point, NULL);
    pack_sharpness(&m, p);
    sl_map_end(&m, NULL);
}

static void pack_detection(const sl_calib_run *r, sl_map *up)
{
    if (r->mode_exact) {
        sl_map_nil(up, "detection");
        return;
    }
    sl_map m;
    sl_map_nest(up, "detection", &m, 5);
    sl_map_bool(&m, "instrumental_mag", r->no_zero_point);
    pack_detect(&m, "all", &r->det_all);
    msgpack_pack_array(sl_map_key(&m, "bins"), (uint32_t)r->n_det_bins);
    for (int k = 0; k < r->n_det_bins; k++)
        pack_detect(&m, NULL, &r->det_bins[k]);
    sl_map_num(&m, "min_snr", r->opt.min_snr > 0 ? r->opt.min_snr : NAN);
    if (r->opt.min_snr > 0)
        pack_detect(&m, "snr", &r->det_snr);
    else
        sl_map_nil(&m, "snr");
    sl_map_end(&m, NULL);
}

static void pack_binary(const sl_calib_run *r, sl_map *up)
{
    int n_bin = 0;
    for (int k = 0; k < 3; k++)
        n_bin += r->p[k].n > 0;
    sl_map m, pair;
    sl_map_nest(up, "binary", &m, (uint32_t)n_bin);
    for (int k = 0; k < 3; k++) {
        if (!r->p[k].n)
            continue;
        sl_map_nest(&m, sl_calib_binary_names[k], &pair, 2);
        pack_reliability(&pair, "equal_width", &r->rel[k]);
        pack_reliability(&pair, "equal_count", &r->rel_eq[k]);
        sl_map_end(&pair, NULL);
    }
    sl_map_end(&m, NULL);
}

static void pack_tarp(const sl_calib_run *r, sl_map *up)
{
    const sl_calib_tarp *t = &r->tarp;
    if (!r->have_tarp) {
        sl_map_nil(up, "tarp");
        return;
    }
    sl_map m;
    sl_map_nest(up, "tarp", &m, 13);
    sl_map_int(&m, "n", t->n);
    sl_map_int(&m, "draws", t->n_samples);
    sl_map_int(&m, "bootstrap", t->n_boot);
    pack_doubles(&m, "alpha", t->alpha, SL_CALIB_TARP_ALPHAS);
    pack_doubles(&m, "ecp", t->ecp, SL_CALIB_TARP_ALPHAS);
    pack_doubles(&m, "lo95", t->lo95, SL_CALIB_TARP_ALPHAS);
    pack_doubles(&m, "hi95", t->hi95, SL_CALIB_TARP_ALPHAS);
    sl_map_num(&m, "max_dev", t->max_dev);
    sl_map_num(&m, "atc", t->atc);
    sl_map_num(&m, "ks_d", t->ks_d);
    sl_map_num(&m, "ks_p", t->ks_p);
    pack_doubles(&m, "lo68", t->lo68, SL_CALIB_TARP_ALPHAS);
    pack_doubles(&m, "hi68", t->hi68, SL_CALIB_TARP_ALPHAS);
    sl_map_end(&m, NULL);
}

static void pack_lens_bins(sl_map *up, const char *key, const sl_calib_lens_bin *b, int n,
                           int have)
{
    if (!have) {
        sl_map_nil(up, key);
        return;
    }
    msgpack_pack_array(sl_map_key(up, key), (uint32_t)n);
    for (int k = 0; k < n; k++) {
        sl_map m;
        sl_map_within(up, &m, key, 5);
        sl_map_num(&m, "lo", b[k].lo);
        sl_map_num(&m, "hi", b[k].hi);
        sl_map_int(&m, "n", b[k].n);
        sl_map_int(&m, "found", b[k].found);
        sl_map_num(&m, "completeness", b[k].completeness);
        sl_map_end(&m, NULL);
    }
}

static void pack_curves(sl_map *up, const sl_calib_ranking *k)
{
    sl_map m;
    sl_map_nest(up, "curves", &m, 5);
    pack_doubles(&m, "threshold", k->threshold, SL_CALIB_CURVE_POINTS);
    pack_doubles(&m, "tpr", k->tpr, SL_CALIB_CURVE_POINTS);
    pack_doubles(&m, "fpr", k->fpr, SL_CALIB_CURVE_POINTS);
    pack_doubles(&m, "recall", k->recall, SL_CALIB_CURVE_POINTS);
    pack_doubles(&m, "precision", k->precision, SL_CALIB_CURVE_POINTS);
    sl_map_end(&m, NULL);
}

static void pack_at_purity(const sl_calib_lensfind *lf, sl_map *up)
{
    sl_map m;
    sl_map_nest(up, "at_purity", &m, 7);
    sl_map_num(&m, "min_purity", SL_CALIB_TARGET_PURITY);
    sl_map_num(&m, "min_arc_snr", SL_CALIB_BRIGHT_ARC_SNR);
    sl_map_int(&m, "n_systems", lf->has_snr ? lf->n_bright : 0);
    sl_map_bool(&m, "reached", lf->reached);
    sl_map_num(&m, "threshold", lf->at_threshold);
    sl_map_num(&m, "completeness", lf->at_completeness);
    sl_map_num(&m, "purity", lf->at_purity);
    sl_map_end(&m, NULL);
}

static void pack_lens_finding(const sl_calib_run *r, sl_map *up)
{
    const sl_calib_lensfind *lf = &r->lens;
    if (!lf->on) {
        sl_map_nil(up, "lens_finding");
        return;
    }
    sl_map m;
    sl_map_nest(up, "lens_finding", &m, 15);
    sl_map_num(&m, "radius", r->opt.lens_radius);
    sl_map_num(&m, "threshold", r->opt.lens_threshold);
    sl_map_int(&m, "n_systems", lf->n_sys);
    sl_map_int(&m, "found", lf->found);
    sl_map_num(&m, "completeness", lf->completeness);
    sl_map_int(&m, "n_selected", lf->selected);
    sl_map_num(&m, "purity", lf->purity);
    sl_map_int(&m, "n_estimates", lf->rank.n);
    sl_map_num(&m, "auc", lf->rank.auc);
    sl_map_num(&m, "average_precision", lf->rank.ap);
    pack_lens_bins(&m, "arc_snr_bins", lf->snr_bin, SL_CALIB_SNR_BINS, lf->has_snr);
    pack_lens_bins(&m, "theta_e_px_bins", lf->theta_bin, SL_CALIB_THETA_BINS, lf->has_theta);
    pack_at_purity(lf, &m);
    sl_map_bool(&m, "arc_snr_known", lf->has_snr);
    pack_curves(&m, &lf->rank);
    sl_map_end(&m, NULL);
}

static void pack_recon(const sl_calib_run *r, sl_map *up)
{
    const sl_calib_recon *rc = &r->recon;
    if (!rc->on) {
        sl_map_nil(up, "reconstruction");
        return;
    }
    sl_map m;
    sl_map_nest(up, "reconstruction", &m, 7);
    sl_map_int(&m, "n_systems", rc->n);
    sl_map_int(&m, "sources_left_out", rc->dropped);
    sl_map_num(&m, "median_chi2", rc->median);
    sl_map_int(&m, "n_bright", rc->has_snr ? rc->n_bright : 0);
    sl_map_num(&m, "median_chi2_bright", rc->has_snr ? rc->median_bright : NAN);
    pack_doubles(&m, "edges", sl_calib_chi2_edges, SL_CALIB_CHI2_BINS + 1);
    msgpack_packer *pk = sl_map_key(&m, "counts");
    msgpack_pack_array(pk, SL_CALIB_CHI2_BINS);
    for (int b = 0; b < SL_CALIB_CHI2_BINS; b++)
        msgpack_pack_int64(pk, rc->count[b]);
    sl_map_end(&m, NULL);
}

int sl_calib_run_pack(const sl_calib_run *r, msgpack_packer *pk, sl_err *err)
{
    sl_map m;
    sl_map_begin(&m, pk, "report", 13);
    sl_map_str(&m, "type", "report");
    sl_map_str(&m, "tool", "sl-calibrate");
    sl_map_int(&m, "records", r->images);
    sl_map_str(&m, "match", r->mode_exact ? "exact" : "distance");
    sl_map_num(&m, "radius", r->opt.radius);
    sl_map_str(&m, "band", r->n_bands > 0 ? r->band_names[r->ref_band] : "");
    pack_detection(r, &m);
    pack_binary(r, &m);
    pack_doubles(&m, "levels", sl_calib_levels, SL_CALIB_N_LEVELS);
    msgpack_pack_array(sl_map_key(&m, "continuous"), (uint32_t)r->n_params);
    for (int i = 0; i < r->n_params; i++)
        pack_param(&m, &r->params[i]);
    pack_tarp(r, &m);
    pack_lens_finding(r, &m);
    pack_recon(r, &m);
    return sl_map_end(&m, err);
}
