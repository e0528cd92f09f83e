/* estimate.h: the estimate schema, owned by the inference code.
 *
 * Every quantity the encoders estimate has one row here: the task and factor
 * that estimate it (libcommon/task.c), the column it is reported under, its
 * unit, its marginal family's transform, the truth column and population it
 * is trained on and calibrated against, and a one-line description (FITS
 * TCOMMn).  sl-encode (encode.c) makes the estimate's columns from it and
 * sl-calibrate (calib_param.c) finds what to calibrate in it, so adding a
 * parameter is an edit here (and its factor in task.c).
 *
 * The columns of a row named c, in an `estimate` table (man 5 sl-records):
 *   Bernoulli factors   p_c                     the probability
 *   other factors       c                       the posterior median, the
 *                                               headline (robust: a log-normal's
 *                                               mean exp(mu + sigma^2/2) is not)
 *                       c_q05 ... c_q95         quantiles (SL_ENCODE_LEVELS)
 *                       c_mean                  the posterior mean
 *   one-dimensional     z_mu, z_sigma           the normal in z-space, z the
 *                                               row's zname (else c)
 *   joint (MVN)         <factor>_mu, <factor>_chol   once per factor: the
 *                                               z-space mean and Cholesky factor
 * Per-band rows hold one value per band in each column (flux_u, flux_g, ...
 * in FITS).  Units are table.h's SL_UNIT_*, as in truth catalogs (catalog.c). */
#ifndef SL_ESTIMATE_H
#define SL_ESTIMATE_H

#include "family.h"
#include "table.h"
#include "task.h"


/* The true sources a factor is trained on (task.c), so calibrated on. */
typedef enum {
    SL_EST_POP_ANY,
    SL_EST_POP_STAR,
    SL_EST_POP_GALAXY,
    SL_EST_POP_LENS
} sl_estimate_population;

typedef struct sl_estimate_param {
    sl_task_kind task;
    const char *factor;      /* its factor in task.c, without a band index */
    int coord;               /* its coordinate in a joint factor, else 0 */
    const char *column;      /* the column name c */
    const char *zname;       /* the z-space columns' base, when not c */
    const char *unit;        /* "" for none */
    sl_family_kind family;   /* of the marginal: Bernoulli, or continuous */
    sl_transform tr;         /* the marginal family's transform */
    double period;           /* pi for position angles (errors wrap), else 0 */
    int per_band, location;  /* location: x, y, in tile units before scaling */
    const char *truth;       /* the truth's column compared with, or NULL */
    sl_estimate_population pop;
    const char *group;       /* detect, classify, galaxy, lens, source */
    const char *desc;
} sl_estimate_param;

extern const sl_estimate_param sl_estimate_params[];
extern const int sl_estimate_n_params;

/* The row of coordinate `coord` of the factor called `factor` ("flux[2]": its
 * band index is ignored) of a task; NULL when the schema lacks it. */
const sl_estimate_param *sl_estimate_find(sl_task_kind task, const char *factor, int coord);

/* A one-line description of a column of an estimate (or truth) table, for
 * FITS TCOMMn: from its row of the schema for C, p_C, C_qNN, C_mean, the
 * z-space columns and the truth's columns, and for the cascade's own
 * (lens_mu, lens_chol, point values, sky coordinates).  0 when unknown. */
int sl_estimate_describe(const char *column, char *buf, size_t size);

/* The number of coordinates of a factor: its rows. */
int sl_estimate_dim(sl_task_kind task, const char *factor);

#endif
