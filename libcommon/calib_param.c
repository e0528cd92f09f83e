/* calib_param.c: the continuous parameters of a calibration run (see
 * calib_run.h).  Owns the registry of what is calibrated: each parameter's
 * estimate and truth columns, the true sources its factor was trained on
 * (libcommon/task.c: galaxy parameters on true galaxies, lens parameters on
 * true lens systems, star fluxes on true stars), the transform of its
 * marginal family, and the collection of (truth, posterior) pairs. */
#include "calib_run.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static sl_calib_param *add_param(sl_calib_run *r, const char *name, const char *group,
                                 const char *col, const char *tcol, int elem,
                                 sl_calib_population pop, sl_calib_param_kind kind,
                                 sl_transform tr, sl_err *err)
{
    if (r->n_params == SL_CALIB_MAX_PARAMS) {
        sl_err_set(err, "more than %d parameters", SL_CALIB_MAX_PARAMS);
        return NULL;
    }
    sl_calib_param *p = &r->params[r->n_params++];
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
    p->ratio = kind != SL_PK_LOCATION && (tr.kind == SL_TR_LOG || unit);
    return p;
}

/* The columns that show an encoder ran for a row: a location's z-space
 * columns (x and y alone come with --at truth too), a joint factor's, or
 * the row's own. */
static int row_present(const sl_table *est, const sl_estimate_param *e)
{
    char name[64];
    if (e->location || e->family == SL_FAM_MVN)
        snprintf(name, sizeof name, "%s_mu", e->location ? e->zname : e->factor);
    else
        snprintf(name, sizeof name, "%s", e->column);
    return sl_table_find(est, name) >= 0;
}

/* The parameters of one row of the estimate schema: one per band for a
 * per-band row ("galaxy_flux_r"). */
static int add_row(sl_calib_run *r, const sl_estimate_param *e, sl_err *err)
{
    static const sl_calib_population pop[] = {[SL_EST_POP_ANY] = SL_POP_ANY,
                                              [SL_EST_POP_STAR] = SL_POP_STAR,
                                              [SL_EST_POP_GALAXY] = SL_POP_GALAXY,
                                              [SL_EST_POP_LENS] = SL_POP_LENS};
    sl_calib_param_kind kind = e->family == SL_FAM_MVN ? SL_PK_LENS
                               : e->location           ? SL_PK_LOCATION
                                                       : SL_PK_SCALAR;
    for (int b = 0; b < (e->per_band ? r->n_bands : 1); b++) {
        char name[64];
        if (e->per_band)
            snprintf(name, sizeof name, "%.39s_%.15s", e->column, r->band_names[b]);
        else
            snprintf(name, sizeof name, "%s", e->column);
        sl_calib_param *p = add_param(r, name, e->group, e->column, e->truth, b, pop[e->pop], kind,
                                      e->tr, err);
        if (!p)
            return -1;
        p->period = e->period;
        p->schema = e;
        if (kind == SL_PK_LENS)
            p->coord = e->coord;
    }
    return 0;
}

/* Every continuous parameter of the schema whose encoder ran, in its order. */
int sl_calib_params_setup(sl_calib_run *r, const sl_table *est, sl_err *err)
{
    for (int i = 0; i < sl_estimate_n_params; i++) {
        const sl_estimate_param *e = &sl_estimate_params[i];
        if (e->family != SL_FAM_BERNOULLI && e->truth && row_present(est, e) &&
            add_row(r, e, err) < 0)
            return -1;
    }
    return 0;
}

/* The columns of one parameter's posterior: mean, quantiles, z-space normal. */
static int resolve_one(sl_calib_param *p, const sl_record *rec, const sl_table *est, int w,
                       sl_err *err)
{
    char name[80];
    const char *suffix[3] = {"q16", "q50", "q84"};
    int *cq[3] = {&p->c_q16, &p->c_q50, &p->c_q84};
    if ((p->c_point = sl_calib_need_col(rec, est, "estimate", p->col, w, err)) < 0)
        return -1;
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "%s_%s", p->col, suffix[k]);
        if ((*cq[k] = sl_calib_need_col(rec, est, "estimate", name, w, err)) < 0)
            return -1;
    }
    const char *z = p->schema->zname ? p->schema->zname : p->col;
    if (p->kind == SL_PK_LENS) {
        int d = sl_estimate_dim(p->schema->task, p->schema->factor);
        snprintf(name, sizeof name, "%s_mu", p->schema->factor);
        p->c_mu = sl_calib_need_col(rec, est, "estimate", name, d, err);
        snprintf(name, sizeof name, "%s_chol", p->schema->factor);
        p->c_sigma = p->c_mu < 0 ? -1 : sl_calib_need_col(rec, est, "estimate", name,
                                                           d * (d + 1) / 2, err);
        return p->c_sigma < 0 ? -1 : 0;
    }
    snprintf(name, sizeof name, "%s_mu", z);
    if ((p->c_mu = sl_calib_need_col(rec, est, "estimate", name, w, err)) < 0)
        return -1;
    snprintf(name, sizeof name, "%s_sigma", z);
    p->c_sigma = sl_calib_need_col(rec, est, "estimate", name, w, err);
    return p->c_sigma < 0 ? -1 : 0;
}

int sl_calib_params_resolve(sl_calib_run *r, const sl_record *rec, const sl_table *est,
                            const sl_table *tru, sl_err *err)
{
    for (int i = 0; i < r->n_params; i++) {
        sl_calib_param *p = &r->params[i];
        int w = p->schema->per_band ? r->n_bands : 1;
        char q05[80], q95[80];
        snprintf(q05, sizeof q05, "%s_q05", p->col);
        snprintf(q95, sizeof q95, "%s_q95", p->col);
        /* A lens system's evidence is its arcs, a source's its own light. */
        const char *snr = p->pop == SL_POP_LENS ? "arc_snr" : "snr";
        if (resolve_one(p, rec, est, w, err) < 0 ||
            (p->c_truth = sl_calib_need_col(rec, tru, "truth", p->tcol, w, err)) < 0 ||
            (p->c_q05 = sl_calib_opt_col(rec, est, "estimate", q05, w, err)) < -1 ||
            (p->c_q95 = sl_calib_opt_col(rec, est, "estimate", q95, w, err)) < -1 ||
            (p->c_snr = sl_calib_opt_col(rec, tru, "truth", snr, 1, err)) < -1)
            return -1;
    }
    return 0;
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

/* Mean, quantiles and z-space normal of parameter p for estimate row e, and
 * the truth's z from true value v.  0 when the posterior is usable. */
static int posterior(const sl_calib_param *p, int tile, const sl_table *est, int e, double v,
                     double *mu, double *sigma, double *z)
{
    if (p->kind == SL_PK_LENS) {
        const float *m = sl_table_at(est, p->c_mu, e), *L = sl_table_at(est, p->c_sigma, e);
        int row = p->coord * (p->coord + 1) / 2;
        double s2 = 0;
        for (int c = 0; c <= p->coord; c++)
            s2 += (double)L[row + c] * L[row + c];
        *mu = m[p->coord];
        *sigma = sqrt(s2);
        *z = transform(p->tr, v);
    } else if (p->kind == SL_PK_LOCATION) {
        /* The tile's origin from the median, x_q50 = T (i + logistic(u_mu)). */
        *mu = sl_calib_at(est, p->c_mu, e, 0);
        *sigma = sl_calib_at(est, p->c_sigma, e, 0);
        double u = 1 / (1 + exp(-*mu)) + (v - sl_calib_at(est, p->c_q50, e, 0)) / tile;
        *z = transform(p->tr, u);
    } else {
        *mu = sl_calib_at(est, p->c_mu, e, p->elem);
        *sigma = sl_calib_at(est, p->c_sigma, e, p->elem);
        *z = transform(p->tr, v);
    }
    return isfinite(*mu) && *sigma > 0 && !isnan(*z) ? 0 : -1;
}

static int in_population(const sl_calib_param *p, const sl_table *tru, int c_gal, int c_lens,
                         int t)
{
    double g = sl_calib_at(tru, c_gal, t, 0), l = sl_calib_at(tru, c_lens, t, 0);
    switch (p->pop) {
    case SL_POP_STAR: return g == 0;
    case SL_POP_GALAXY: return g == 1;
    case SL_POP_LENS: return g == 1 && l == 1;
    default: return 1;
    }
}

/* Parameter i's (truth, posterior) for the pair, when its factor applies. */
static int add_one(sl_calib_run *r, int i, const sl_table *est, const sl_table *tru, int e,
                   int t, sl_err *err)
{
    sl_calib_param *p = &r->params[i];
    double v = sl_calib_at(tru, p->c_truth, t, p->elem);
    if (isnan(v))
        return 0;
    if (p->period > 0) /* the tasks train on the angle mod pi */
        v = fmod(v, M_PI) < 0 ? fmod(v, M_PI) + M_PI : fmod(v, M_PI);
    double mu, sigma, z;
    if (posterior(p, r->tile, est, e, v, &mu, &sigma, &z) < 0)
        return 0;
    double pit = sl_calib_pit(z, mu, sigma);
    /* Draws for the k-th evaluation of parameter i: the same whatever
     * else the stream holds. */
    sl_rng rng;
    sl_rng_init(&rng, r->opt.seed, (uint64_t)p->pit.n, (uint16_t)(SL_RNG_CALIBRATE_PARAM + i));
    int rc = sl_vec_push(&p->truth, v, err);
    rc |= sl_vec_push(&p->headline, sl_calib_at(est, p->c_point, e, p->elem), err);
    rc |= sl_vec_push(&p->q16, sl_calib_at(est, p->c_q16, e, p->elem), err);
    rc |= sl_vec_push(&p->q50, sl_calib_at(est, p->c_q50, e, p->elem), err);
    rc |= sl_vec_push(&p->q84, sl_calib_at(est, p->c_q84, e, p->elem), err);
    rc |= sl_vec_push(&p->pit, pit, err);
    rc |= sl_vec_push(&p->rank, sl_calib_sbc_rank(pit, r->opt.sbc_samples, &rng), err);
    rc |= sl_vec_push(&p->q05, sl_calib_at(est, p->c_q05, e, p->elem), err);
    rc |= sl_vec_push(&p->q95, sl_calib_at(est, p->c_q95, e, p->elem), err);
    rc |= sl_vec_push(&p->snr, sl_calib_at(tru, p->c_snr, t, 0), err);
    return rc ? -1 : 0;
}

int sl_calib_params_add_pair(sl_calib_run *r, const sl_table *est, const sl_table *tru, int e,
                             int t, int c_gal, int c_lens, sl_err *err)
{
    for (int i = 0; i < r->n_params; i++)
        if (in_population(&r->params[i], tru, c_gal, c_lens, t) &&
            add_one(r, i, est, tru, e, t, err) < 0)
            return -1;
    /* The joint lens posterior, for TARP, on true lens systems. */
    int c_mu = sl_table_find(est, "lens_mu"), c_chol = sl_table_find(est, "lens_chol");
    if (c_mu < 0 || sl_calib_at(tru, c_gal, t, 0) != 1 || sl_calib_at(tru, c_lens, t, 0) != 1)
        return 0;
    int rc = 0, d = sl_estimate_dim(SL_TASK_LENS, "lens");
    for (int k = 0; k < d; k++) {
        const sl_estimate_param *p = sl_estimate_find(SL_TASK_LENS, "lens", k);
        int c = sl_table_find(tru, p->truth);
        rc |= sl_vec_push(&r->tarp_z, transform(p->tr, sl_calib_at(tru, c, t, 0)), err);
        rc |= sl_vec_push(&r->tarp_mu, sl_table_at(est, c_mu, e)[k], err);
    }
    for (int k = 0; k < d * (d + 1) / 2; k++)
        rc |= sl_vec_push(&r->tarp_chol, sl_table_at(est, c_chol, e)[k], err);
    return rc ? -1 : 0;
}
