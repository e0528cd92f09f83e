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

int sl_estimate_dim(sl_task_kind task, const char *factor)
{
    int d = 0;
    for (int i = 0; i < sl_estimate_n_params; i++)
        d += sl_estimate_params[i].task == task && !strcmp(sl_estimate_params[i].factor, factor);
    return d;
}
