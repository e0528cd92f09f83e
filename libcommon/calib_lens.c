/* calib_lens.c: end-to-end lens finding over whole images (see
 * calib_run.h; the definitions are in man/man1/sl-calibrate.1).  Owns what
 * "found" means: a true lens system (truth row with lens = 1) is found when
 * an estimate within --lens-radius pixels of its deflector has P(lens) above
 * --lens-threshold, whatever the estimate was matched to, so that a lens
 * system is judged as a whole rather than through the detection of its
 * deflector.  P(lens) NaN (the cascade did not ask) counts as 0. */
#include "calib_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const double sl_calib_snr_edges[SL_CALIB_SNR_BINS + 1] = {0, 10, 20, 50, 100, INFINITY};

/* One record's lens systems: positions in pixels. */
typedef struct lens_sys {
    double x, y;
    int claimed;
} lens_sys;

typedef struct est_row {
    double x, y, p;
    int row;
} est_row;

static int by_p_desc(const void *a, const void *b)
{
    const est_row *u = a, *v = b;
    if (u->p != v->p)
        return (u->p < v->p) - (u->p > v->p);
    return (u->row > v->row) - (u->row < v->row); /* ties in row order */
}

/* Per estimate, in decreasing P(lens): near a lens system, and claiming the
 * nearest unclaimed one.  Per system: the highest P(lens) near it. */
static int label(sl_calib_lensfind *lf, est_row *e, int ne, lens_sys *s, int ns, double *best,
                 double R, sl_err *err)
{
    qsort(e, (size_t)ne, sizeof *e, by_p_desc);
    int rc = 0;
    for (int i = 0; i < ne; i++) {
        int near = 0, claim = -1;
        double dmin = INFINITY;
        for (int k = 0; k < ns; k++) {
            double d = hypot(e[i].x - s[k].x, e[i].y - s[k].y);
            if (!(d <= R))
                continue;
            near = 1;
            best[k] = fmax(best[k], e[i].p);
            if (!s[k].claimed && d < dmin)
                dmin = d, claim = k;
        }
        if (claim >= 0)
            s[claim].claimed = 1;
        rc |= sl_vec_push(&lf->est_p, e[i].p, err);
        rc |= sl_vec_push(&lf->est_near, (unsigned char)near, err);
        rc |= sl_vec_push(&lf->est_pos, (unsigned char)(claim >= 0), err);
    }
    return rc ? -1 : 0;
}

/* The columns lens finding reads; 0 when they are absent (not measured). */
typedef struct lens_cols {
    int ex, ey, p, tx, ty, lens, snr, theta;
} lens_cols;

static int find_cols(const sl_record *rec, const sl_table *est, const sl_table *tru,
                     lens_cols *c, sl_err *err)
{
    if (sl_table_find(est, "p_lens") < 0 || sl_table_find(tru, "lens") < 0)
        return 0;
    if ((c->ex = sl_calib_need_col(rec, est, "estimate", "x", 1, err)) < 0 ||
        (c->ey = sl_calib_need_col(rec, est, "estimate", "y", 1, err)) < 0 ||
        (c->p = sl_calib_need_col(rec, est, "estimate", "p_lens", 1, err)) < 0 ||
        (c->tx = sl_calib_need_col(rec, tru, "truth", "x", 1, err)) < 0 ||
        (c->ty = sl_calib_need_col(rec, tru, "truth", "y", 1, err)) < 0 ||
        (c->lens = sl_calib_need_col(rec, tru, "truth", "lens", 1, err)) < 0 ||
        (c->snr = sl_calib_opt_col(rec, tru, "truth", "arc_snr", 1, err)) < -1 ||
        (c->theta = sl_calib_opt_col(rec, tru, "truth", "theta_e", 1, err)) < -1)
        return -1;
    return 1;
}

int sl_calib_lens_collect(sl_calib_run *r, const sl_record *rec, const sl_table *est,
                          const sl_table *tru, const int *trows, int nt, double pixel_scale,
                          sl_err *err)
{
    sl_calib_lensfind *lf = &r->lens;
    lens_cols c;
    int have = find_cols(rec, est, tru, &c, err);
    if (have <= 0)
        return have;
    lf->on = 1;
    lens_sys *s = malloc(((size_t)nt + 1) * sizeof *s);
    double *best = malloc(((size_t)nt + 1) * sizeof *best);
    est_row *e = malloc(((size_t)est->n + 1) * sizeof *e);
    int ns = 0, rc = -1;
    if (!s || !best || !e) {
        sl_err_set(err, "out of memory");
        goto done;
    }
    for (int k = 0; k < nt; k++) {
        int t = trows[k];
        if (*sl_table_at(tru, c.lens, t) != 1)
            continue;
        s[ns] = (lens_sys){*sl_table_at(tru, c.tx, t), *sl_table_at(tru, c.ty, t), 0};
        best[ns++] = -INFINITY;
        double theta = sl_calib_at(tru, c.theta, t, 0) / pixel_scale;
        if (sl_vec_push(&lf->sys_snr, sl_calib_at(tru, c.snr, t, 0), err) < 0 ||
            sl_vec_push(&lf->sys_theta, theta, err) < 0)
            goto done;
    }
    for (int i = 0; i < est->n; i++) {
        double p = *sl_table_at(est, c.p, i);
        e[i] = (est_row){*sl_table_at(est, c.ex, i), *sl_table_at(est, c.ey, i),
                         isnan(p) ? 0 : p, i};
    }
    if (label(lf, e, est->n, s, ns, best, r->opt.lens_radius, err) < 0)
        goto done;
    rc = 0;
    for (int k = 0; k < ns && !rc; k++)
        rc = sl_vec_push(&lf->sys_best, best[k], err);
done:
    free(s);
    free(best);
    free(e);
    return rc;
}

/* Completeness of the systems whose value v[] lies in [lo, hi). */
static void bin_completeness(const sl_calib_lensfind *lf, const double *v, double thr,
                             double lo, double hi, sl_calib_lens_bin *b)
{
    b->lo = lo, b->hi = hi, b->n = b->found = 0;
    for (size_t k = 0; k < lf->sys_best.n; k++)
        if (v[k] >= lo && v[k] < hi)
            b->n++, b->found += lf->sys_best.a[k] > thr;
    b->completeness = b->n ? (double)b->found / (double)b->n : NAN;
}

static int any_finite(const sl_calib_dvec *v)
{
    for (size_t k = 0; k < v->n; k++)
        if (isfinite(v->a[k]))
            return 1;
    return 0;
}

/* The operating point at the target purity, for the bright systems. */
static int measure_bright(sl_calib_lensfind *lf, sl_err *err)
{
    double *b = malloc((lf->sys_best.n + 1) * sizeof *b);
    if (!b)
        return sl_err_set(err, "out of memory");
    long m = 0;
    for (size_t k = 0; k < lf->sys_best.n; k++)
        if (lf->sys_snr.a[k] >= SL_CALIB_BRIGHT_ARC_SNR)
            b[m++] = lf->sys_best.a[k];
    lf->n_bright = m;
    int rc = sl_calib_at_purity(lf->est_p.a, lf->est_near.a, (long)lf->est_p.n, b, m,
                                SL_CALIB_TARGET_PURITY, &lf->at_threshold, &lf->at_completeness,
                                &lf->at_purity, err);
    free(b);
    if (rc < 0)
        return -1;
    lf->reached = rc && m > 0;
    return 0;
}

int sl_calib_lens_measure(sl_calib_lensfind *lf, const sl_calib_opts *o, sl_err *err)
{
    double thr = o->lens_threshold;
    lf->n_sys = (long)lf->sys_best.n;
    lf->found = lf->selected = lf->selected_near = 0;
    for (size_t k = 0; k < lf->sys_best.n; k++)
        lf->found += lf->sys_best.a[k] > thr;
    for (size_t i = 0; i < lf->est_p.n; i++)
        if (lf->est_p.a[i] > thr)
            lf->selected++, lf->selected_near += lf->est_near.a[i];
    lf->completeness = lf->n_sys ? (double)lf->found / (double)lf->n_sys : NAN;
    lf->purity = lf->selected ? (double)lf->selected_near / (double)lf->selected : NAN;
    lf->has_snr = any_finite(&lf->sys_snr);
    lf->has_theta = any_finite(&lf->sys_theta);
    for (int b = 0; b < SL_CALIB_SNR_BINS; b++)
        bin_completeness(lf, lf->sys_snr.a, thr, sl_calib_snr_edges[b],
                         sl_calib_snr_edges[b + 1], &lf->snr_bin[b]);
    for (int b = 0; b < SL_CALIB_THETA_BINS; b++)
        bin_completeness(lf, lf->sys_theta.a, thr, b * SL_CALIB_THETA_STEP,
                         b + 1 < SL_CALIB_THETA_BINS ? (b + 1) * SL_CALIB_THETA_STEP : INFINITY,
                         &lf->theta_bin[b]);
    lf->reached = 0;
    lf->at_threshold = lf->at_completeness = lf->at_purity = NAN;
    if (lf->has_snr && measure_bright(lf, err) < 0)
        return -1;
    return sl_calib_rank_scores(lf->est_p.a, lf->est_pos.a, (long)lf->est_p.n, lf->n_sys,
                                &lf->rank, err);
}

void sl_calib_lens_free(sl_calib_lensfind *lf)
{
    sl_vec_free(&lf->sys_best);
    sl_vec_free(&lf->sys_snr);
    sl_vec_free(&lf->sys_theta);
    sl_vec_free(&lf->est_p);
    sl_vec_free(&lf->est_near);
    sl_vec_free(&lf->est_pos);
}
