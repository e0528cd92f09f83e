/* estimate.c: the estimate schema's rows (see estimate.h).  The order is
 * the order sl-calibrate reports the parameters in. */
#include "estimate.h"

#include <math.h>
#include <string.h>

#define TR_ID {SL_TR_IDENTITY, 0, 0}
#define TR_LOG {SL_TR_LOG, 0, 0}
#define TR_UNIT {SL_TR_LOGIT, 0, 1}
#define TR_ANGLE {SL_TR_LOGIT, 0, M_PI}
#define TR_PM1 {SL_TR_LOGIT, -1, 1}
#define LOGIT SL_FAM_LOGITNORMAL
#define LOGN SL_FAM_LOGNORMAL
#define MVN SL_FAM_MVN
#define POP(p) SL_EST_POP_##p

#define BINARY(task, factor, column, desc)                                                \
    {task, factor, 0, column, NULL, "", SL_FAM_BERNOULLI, TR_ID, 0, 0, 0, NULL, POP(ANY), \
     NULL, desc}
/* A one-dimensional factor, or coordinate `coord` of a joint one. */
#define PARAM(task, factor, coord, column, unit, fam, tr, truth, pop, group, desc) \
    {task, factor, coord, column, NULL, unit, fam, tr, 0, 0, 0, truth, pop, group, desc}
/* A factor per band: star_flux[0], star_flux[1], ... */
#define BANDS(task, factor, column, truth, pop, group, desc)                           \
    {task, factor, 0, column, NULL, SL_UNIT_FLUX, LOGN, TR_LOG, 0, 1, 0, truth, pop, group, \
     desc}
/* The location, in tile units before scaling; its z-space columns are zname_mu
 * and zname_sigma, so that sl-merge (which shifts x_* and y_*) leaves them be. */
#define LOCATION(factor, column, desc)                                                  \
    {SL_TASK_DETECT, factor, 0, column, factor, SL_UNIT_PIXEL, LOGIT, TR_UNIT, 0, 0, 1, \
     column, POP(ANY), "detect", desc}

/* The bulge+disk shape of a galaxy as the galaxy task ("": the galaxy) and the
 * lens task ("src_": the lensed source) estimate it. */
#define SHAPE(task, p, pop, group, what)                                                     \
    PARAM(task, p "disk_frac", 0, p "disk_frac", "", LOGIT, TR_UNIT, p "disk_frac", pop,     \
          group, "fraction of the flux of " what " in its disk"),                            \
    PARAM(task, p "disk_q", 0, p "disk_q", "", LOGIT, TR_UNIT, p "disk_q", pop, group,       \
          "axis ratio of the disk of " what),                                                \
    PARAM(task, p "bulge_q", 0, p "bulge_q", "", LOGIT, TR_UNIT, p "bulge_q", pop, group,    \
          "axis ratio of the bulge of " what),                                               \
    {task, p "angle", 0, p "angle", NULL, SL_UNIT_ANGLE, LOGIT, TR_ANGLE, M_PI, 0, 0,        \
     p "angle", pop, group, "position angle of " what ", in [0, pi)"},                       \
    PARAM(task, p "disk_a", 0, p "disk_a", SL_UNIT_ARCSEC, LOGN, TR_LOG, p "disk_a", pop,    \
          group, "half-light major axis of the disk of " what),                              \
    PARAM(task, p "bulge_a", 0, p "bulge_a", SL_UNIT_ARCSEC, LOGN, TR_LOG, p "bulge_a", pop, \
          group, "half-light major axis of the bulge of " what)

const sl_estimate_param sl_estimate_params[] = {
    BINARY(SL_TASK_DETECT, "on", "source", "probability that a source's centre is in the tile"),
    LOCATION("u", "x", "column of the source's centre"),
    LOCATION("v", "y", "row of the source's centre"),
    BANDS(SL_TASK_DETECT, "star_flux", "star_flux", "flux", POP(STAR), "detect",
          "flux of the source if it is a star"),
    BINARY(SL_TASK_CLASSIFY, "galaxy", "galaxy", "probability that the source is a galaxy"),
    BANDS(SL_TASK_GALAXY, "flux", "galaxy_flux", "flux", POP(GALAXY), "galaxy",
          "flux of the source if it is a galaxy"),
    SHAPE(SL_TASK_GALAXY, "", POP(GALAXY), "galaxy", "the galaxy"),
    BINARY(SL_TASK_LENS_DETECT, "lens", "lens",
           "probability that a lens system's deflector centre is in the tile"),
    PARAM(SL_TASK_LENS, "lens", 0, "theta_e", SL_UNIT_ARCSEC, MVN, TR_LOG, "theta_e", POP(LENS),
          "lens", "Einstein radius"),
    PARAM(SL_TASK_LENS, "lens", 1, "e1", "", MVN, TR_PM1, "e1", POP(LENS), "lens",
          "ellipticity of the lens mass, first component"),
    PARAM(SL_TASK_LENS, "lens", 2, "e2", "", MVN, TR_PM1, "e2", POP(LENS), "lens",
          "ellipticity of the lens mass, second component"),
    PARAM(SL_TASK_LENS, "lens", 3, "src_dx", SL_UNIT_PIXEL, MVN, TR_ID, "src_dx", POP(LENS),
          "lens", "column offset of the lensed source from the deflector"),
    PARAM(SL_TASK_LENS, "lens", 4, "src_dy", SL_UNIT_PIXEL, MVN, TR_ID, "src_dy", POP(LENS),
          "lens", "row offset of the lensed source from the deflector"),
    BANDS(SL_TASK_LENS, "src_flux", "src_flux", "src_flux", POP(LENS), "source",
          "flux of the lensed source, unlensed"),
    SHAPE(SL_TASK_LENS, "src_", POP(LENS), "source", "the lensed source"),
};

const int sl_estimate_n_params = (int)(sizeof sl_estimate_params / sizeof *sl_estimate_params);

const sl_estimate_param *sl_estimate_find(sl_task_kind task, const char *factor, int coord)
{
    const char *bracket = strchr(factor, '[');
    size_t len = bracket ? (size_t)(bracket - factor) : strlen(factor);
    for (int i = 0; i < sl_estimate_n_params; i++) {
        const sl_estimate_param *p = &sl_estimate_params[i];
        if (p->task == task && p->coord == coord && strlen(p->factor) == len &&
            !strncmp(p->factor, factor, len))
            return p;
    }
    return NULL;
}

/* Columns the cascade adds beside the schema's (encode.c, sl-merge). */
static const char *const own_columns[][2] = {
    {"lens_mu", "mean of the joint lens normal of (log theta_e, logit((e1+1)/2), "
                "logit((e2+1)/2), src_dx, src_dy)"},
    {"lens_chol", "Cholesky factor of that normal's covariance, lower triangle by rows"},
    {"galaxy", "1 when P(galaxy) > 0.5 or P(lens) > 0.5, else 0"},
    {"lens", "1 when P(lens) > 0.5, else 0"},
    {"flux", "headline flux: galaxy_flux (median) for galaxies, else star_flux"},
    {"shear_g1", "external shear, first component (0: not modelled)"},
    {"shear_g2", "external shear, second component (0: not modelled)"},
    {"ra_err", "standard deviation of the position along RA (times cos Dec)"},
    {"dec_err", "standard deviation of the position in Dec"},
    {"snr", "matched-filter SNR of the source's own light"},
    {"arc_snr", "SNR of the lensed light of a lens system"},
    {"arc_flux", "lensed light's flux inside the image"},
};

/* The schema's row whose column (or, with truth, truth column) is name. */
static const sl_estimate_param *by_column(const char *name, size_t len, int truth)
{
    for (int i = 0; i < sl_estimate_n_params; i++) {
        const sl_estimate_param *p = &sl_estimate_params[i];
        const char *c = truth ? p->truth : p->zname ? p->zname : p->column;
        if (!truth && strlen(p->column) == len && !strncmp(p->column, name, len))
            return p;
        if (c && strlen(c) == len && !strncmp(c, name, len))
            return p;
    }
    return NULL;
}

int sl_estimate_describe(const char *col, char *buf, size_t size)
{
    size_t len = strlen(col);
    for (size_t k = 0; k < sizeof own_columns / sizeof *own_columns; k++)
        if (!strcmp(col, own_columns[k][0]))
            return snprintf(buf, size, "%s", own_columns[k][1]), 1;
    const sl_estimate_param *p;
    if (!strncmp(col, "p_", 2) && (p = by_column(col + 2, len - 2, 0)) &&
        p->family == SL_FAM_BERNOULLI)
        return snprintf(buf, size, "%s", p->desc), 1;
    if ((p = by_column(col, len, 0)) && p->family != SL_FAM_BERNOULLI)
        return snprintf(buf, size, "%s (posterior median)", p->desc), 1;
    const char *us = strrchr(col, '_');
    if (us && (p = by_column(col, (size_t)(us - col), 0))) {
        const char *s = us + 1;
        if (s[0] == 'q' && strlen(s) == 3)
            return snprintf(buf, size, "%s%% quantile of the %s", s + 1 + (s[1] == '0'),
                            p->desc), 1;
        if (!strcmp(s, "mean"))
            return snprintf(buf, size, "posterior mean of the %s", p->desc), 1;
        if (!strcmp(s, "mu") || !strcmp(s, "sigma"))
            return snprintf(buf, size, "%s of the normal z behind the %s",
                            s[1] == 'u' ? "mean" : "standard deviation", p->desc), 1;
    }
    if ((p = by_column(col, len, 1)))
        return snprintf(buf, size, "true %s", p->desc), 1;
    return 0;
}

int sl_estimate_dim(sl_task_kind task, const char *factor)
{
    int d = 0;
    for (int i = 0; i < sl_estimate_n_params; i++)
        d += sl_estimate_params[i].task == task && !strcmp(sl_estimate_params[i].factor, factor);
    return d;
}
