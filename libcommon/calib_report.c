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
        t[n] = p->truth.a[i], m[n++] = p->mean.a[i];
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
                     sl_calib_point_accuracy(p->truth.a, p->mean.a, p->q16.a, p->q50.a,
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

static void pack_doubles(msgpack_packer *pk, const char *key, const double *v, int n)
{
    sl_pack_str(pk, key);
    msgpack_pack_array(pk, (uint32_t)n);
    for (int i = 0; i < n; i++)
        msgpack_pack_double(pk, v[i]);
}

static void pack_detect(msgpack_packer *pk, const sl_calib_detect_row *r)
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

static void pack_sbc(msgpack_packer *pk, const sl_calib_sbc *s)
{
    msgpack_pack_map(pk, 6);
    sl_pack_kv_int(pk, "draws", s->L);
    sl_pack_kv_int(pk, "bins", s->n_bins);
    sl_pack_str(pk, "counts");
    msgpack_pack_array(pk, (uint32_t)s->n_bins);
    for (int b = 0; b < s->n_bins; b++)
        msgpack_pack_int64(pk, s->count[b]);
    sl_pack_kv_num(pk, "chi2", s->chi2);
    sl_pack_kv_int(pk, "dof", s->dof);
    sl_pack_kv_num(pk, "p_value", s->p_value);
}

static void pack_sharp(msgpack_packer *pk, const sl_calib_sharp *h, double lo, double hi)
{
    msgpack_pack_map(pk, isnan(lo) ? 3 : 5);
    if (!isnan(lo)) {
        sl_pack_kv_num(pk, "snr_lo", lo);
        sl_pack_kv_num(pk, "snr_hi", hi);
    }
    sl_pack_kv_int(pk, "n", h->n);
    sl_pack_kv_num(pk, "r2", h->r2);
    sl_pack_kv_num(pk, "width_ratio", h->width_ratio);
}

/* The bins are null when the truth had no SNR for the parameter. */
static void pack_sharpness(msgpack_packer *pk, const sl_calib_param *p)
{
    sl_pack_str(pk, "sharpness");
    msgpack_pack_map(pk, 4);
    sl_pack_kv_num(pk, "prior_width90", p->prior_width);
    sl_pack_kv_str(pk, "snr_key", p->pop == SL_POP_LENS ? "arc_snr" : "snr");
    sl_pack_str(pk, "all");
    pack_sharp(pk, &p->sharp_all, NAN, NAN);
    sl_pack_str(pk, "snr_bins");
    if (!p->has_snr) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, SL_CALIB_SNR_BINS);
    for (int b = 0; b < SL_CALIB_SNR_BINS; b++)
        pack_sharp(pk, &p->sharp[b], sl_calib_snr_edges[b], sl_calib_snr_edges[b + 1]);
}

static void pack_param(msgpack_packer *pk, const sl_calib_param *p)
{
    msgpack_pack_map(pk, 9);
    sl_pack_kv_str(pk, "name", p->name);
    sl_pack_kv_str(pk, "group", p->group);
    sl_pack_kv_int(pk, "n", p->cov.n);
    pack_doubles(pk, "coverage", p->cov.cover, SL_CALIB_N_LEVELS);
    pack_doubles(pk, "band", p->cov.band, SL_CALIB_N_LEVELS);
    sl_pack_kv_str(pk, "verdict", sl_calib_verdict_name(p->cov.verdict));
    sl_pack_str(pk, "sbc");
    pack_sbc(pk, &p->sbc);
    sl_pack_str(pk, "point");
    msgpack_pack_map(pk, 7);
    sl_pack_kv_int(pk, "n", p->point.n);
    sl_pack_kv_num(pk, "r2", p->point.r2);
    sl_pack_kv_num(pk, "median_abs_error", p->point.mae);
    sl_pack_kv_num(pk, "median_frac_dev", p->point.frac_dev);
    sl_pack_kv_num(pk, "median_rel_precision", p->point.rel_prec);
    sl_pack_kv_num(pk, "bias", p->point.bias);
    sl_pack_kv_num(pk, "rmse", p->point.rmse);
    pack_sharpness(pk, p);
}

static void pack_detection(const sl_calib_run *r, msgpack_packer *pk)
{
    sl_pack_str(pk, "detection");
    if (r->mode_exact) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 5);
    sl_pack_kv_bool(pk, "instrumental_mag", r->no_zero_point);
    sl_pack_str(pk, "all");
    pack_detect(pk, &r->det_all);
    sl_pack_str(pk, "bins");
    msgpack_pack_array(pk, (uint32_t)r->n_det_bins);
    for (int k = 0; k < r->n_det_bins; k++)
        pack_detect(pk, &r->det_bins[k]);
    sl_pack_kv_num(pk, "min_snr", r->opt.min_snr > 0 ? r->opt.min_snr : NAN);
    sl_pack_str(pk, "snr");
    if (r->opt.min_snr > 0)
        pack_detect(pk, &r->det_snr);
    else
        msgpack_pack_nil(pk);
}

static void pack_binary(const sl_calib_run *r, msgpack_packer *pk)
{
    int n_bin = 0;
    for (int k = 0; k < 3; k++)
        n_bin += r->p[k].n > 0;
    sl_pack_str(pk, "binary");
    msgpack_pack_map(pk, (uint32_t)n_bin);
    for (int k = 0; k < 3; k++) {
        if (!r->p[k].n)
            continue;
        sl_pack_str(pk, sl_calib_binary_names[k]);
        msgpack_pack_map(pk, 2);
        sl_pack_str(pk, "equal_width");
        pack_reliability(pk, &r->rel[k]);
        sl_pack_str(pk, "equal_count");
        pack_reliability(pk, &r->rel_eq[k]);
    }
}

static void pack_tarp(const sl_calib_run *r, msgpack_packer *pk)
{
    const sl_calib_tarp *t = &r->tarp;
    sl_pack_str(pk, "tarp");
    if (!r->have_tarp) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 13);
    sl_pack_kv_int(pk, "n", t->n);
    sl_pack_kv_int(pk, "draws", t->n_samples);
    sl_pack_kv_int(pk, "bootstrap", t->n_boot);
    pack_doubles(pk, "alpha", t->alpha, SL_CALIB_TARP_ALPHAS);
    pack_doubles(pk, "ecp", t->ecp, SL_CALIB_TARP_ALPHAS);
    pack_doubles(pk, "lo95", t->lo95, SL_CALIB_TARP_ALPHAS);
    pack_doubles(pk, "hi95", t->hi95, SL_CALIB_TARP_ALPHAS);
    sl_pack_kv_num(pk, "max_dev", t->max_dev);
    sl_pack_kv_num(pk, "atc", t->atc);
    sl_pack_kv_num(pk, "ks_d", t->ks_d);
    sl_pack_kv_num(pk, "ks_p", t->ks_p);
    pack_doubles(pk, "lo68", t->lo68, SL_CALIB_TARP_ALPHAS);
    pack_doubles(pk, "hi68", t->hi68, SL_CALIB_TARP_ALPHAS);
}

static void pack_lens_bins(msgpack_packer *pk, const char *key, const sl_calib_lens_bin *b,
                           int n, int have)
{
    sl_pack_str(pk, key);
    if (!have) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, (uint32_t)n);
    for (int k = 0; k < n; k++) {
        msgpack_pack_map(pk, 5);
        sl_pack_kv_num(pk, "lo", b[k].lo);
        sl_pack_kv_num(pk, "hi", b[k].hi);
        sl_pack_kv_int(pk, "n", b[k].n);
        sl_pack_kv_int(pk, "found", b[k].found);
        sl_pack_kv_num(pk, "completeness", b[k].completeness);
    }
}

static void pack_curves(msgpack_packer *pk, const sl_calib_ranking *k)
{
    sl_pack_str(pk, "curves");
    msgpack_pack_map(pk, 5);
    pack_doubles(pk, "threshold", k->threshold, SL_CALIB_CURVE_POINTS);
    pack_doubles(pk, "tpr", k->tpr, SL_CALIB_CURVE_POINTS);
    pack_doubles(pk, "fpr", k->fpr, SL_CALIB_CURVE_POINTS);
    pack_doubles(pk, "recall", k->recall, SL_CALIB_CURVE_POINTS);
    pack_doubles(pk, "precision", k->precision, SL_CALIB_CURVE_POINTS);
}

static void pack_lens_finding(const sl_calib_run *r, msgpack_packer *pk)
{
    const sl_calib_lensfind *lf = &r->lens;
    sl_pack_str(pk, "lens_finding");
    if (!lf->on) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 15);
    sl_pack_kv_num(pk, "radius", r->opt.lens_radius);
    sl_pack_kv_num(pk, "threshold", r->opt.lens_threshold);
    sl_pack_kv_int(pk, "n_systems", lf->n_sys);
    sl_pack_kv_int(pk, "found", lf->found);
    sl_pack_kv_num(pk, "completeness", lf->completeness);
    sl_pack_kv_int(pk, "n_selected", lf->selected);
    sl_pack_kv_num(pk, "purity", lf->purity);
    sl_pack_kv_int(pk, "n_estimates", lf->rank.n);
    sl_pack_kv_num(pk, "auc", lf->rank.auc);
    sl_pack_kv_num(pk, "average_precision", lf->rank.ap);
    pack_lens_bins(pk, "arc_snr_bins", lf->snr_bin, SL_CALIB_SNR_BINS, lf->has_snr);
    pack_lens_bins(pk, "theta_e_px_bins", lf->theta_bin, SL_CALIB_THETA_BINS, lf->has_theta);
    sl_pack_str(pk, "at_purity");
    msgpack_pack_map(pk, 7);
    sl_pack_kv_num(pk, "min_purity", SL_CALIB_TARGET_PURITY);
    sl_pack_kv_num(pk, "min_arc_snr", SL_CALIB_BRIGHT_ARC_SNR);
    sl_pack_kv_int(pk, "n_systems", lf->has_snr ? lf->n_bright : 0);
    sl_pack_kv_bool(pk, "reached", lf->reached);
    sl_pack_kv_num(pk, "threshold", lf->at_threshold);
    sl_pack_kv_num(pk, "completeness", lf->at_completeness);
    sl_pack_kv_num(pk, "purity", lf->at_purity);
    sl_pack_kv_bool(pk, "arc_snr_known", lf->has_snr);
    pack_curves(pk, &lf->rank);
}

static void pack_recon(const sl_calib_run *r, msgpack_packer *pk)
{
    const sl_calib_recon *rc = &r->recon;
    sl_pack_str(pk, "reconstruction");
    if (!rc->on) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 7);
    sl_pack_kv_int(pk, "n_systems", rc->n);
    sl_pack_kv_int(pk, "sources_left_out", rc->dropped);
    sl_pack_kv_num(pk, "median_chi2", rc->median);
    sl_pack_kv_int(pk, "n_bright", rc->has_snr ? rc->n_bright : 0);
    sl_pack_kv_num(pk, "median_chi2_bright", rc->has_snr ? rc->median_bright : NAN);
    pack_doubles(pk, "edges", sl_calib_chi2_edges, SL_CALIB_CHI2_BINS + 1);
    sl_pack_str(pk, "counts");
    msgpack_pack_array(pk, SL_CALIB_CHI2_BINS);
    for (int b = 0; b < SL_CALIB_CHI2_BINS; b++)
        msgpack_pack_int64(pk, rc->count[b]);
}

void sl_calib_run_pack(const sl_calib_run *r, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 13);
    sl_pack_kv_str(pk, "type", "report");
    sl_pack_kv_str(pk, "tool", "sl-calibrate");
    sl_pack_kv_int(pk, "records", r->images);
    sl_pack_kv_str(pk, "match", r->mode_exact ? "exact" : "distance");
    sl_pack_kv_num(pk, "radius", r->opt.radius);
    sl_pack_kv_str(pk, "band", r->n_bands > 0 ? r->band_names[r->ref_band] : "");
    pack_detection(r, pk);
    pack_binary(r, pk);
    pack_doubles(pk, "levels", sl_calib_levels, SL_CALIB_N_LEVELS);
    sl_pack_str(pk, "continuous");
    msgpack_pack_array(pk, (uint32_t)r->n_params);
    for (int i = 0; i < r->n_params; i++)
        pack_param(pk, &r->params[i]);
    pack_tarp(r, pk);
    pack_lens_finding(r, pk);
    pack_recon(r, pk);
}
