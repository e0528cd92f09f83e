/* encode.h: the inference cascade of seed 000 (DESIGN.md "Inference"): trained
 * encoders turned into a catalog with uncertainty for every source.
 *
 *   1. detect: the image is cut into windows of P x P tiles with the detect
 *      model's context border, aligned to the tile grid of the parent image,
 *      and run in batches; every tile of the image's interior gets
 *      P(source), a location posterior and star fluxes.  Tiles with
 *      P(source) above the threshold become sources.
 *   2. classify, galaxy, lens-detect, lens: source-centred cut-outs at the
 *      detected locations (the posterior medians), in batches.  Each factor is
 *      conditional on its upstream values, as it was trained: galaxy
 *      parameters as if the source were a galaxy, lens parameters as if it
 *      were a lens system.  The cascade is gated by default, as the
 *      factorization is used: the galaxy and lens-detect encoders run at the
 *      sources classified as galaxies (P(galaxy) > 1/2), the lens encoder at
 *      the galaxies classified as lens systems; ungated, every encoder
 *      reports its factor for every source.
 *
 * Instead of detecting, the cut-out encoders can run at the positions of a
 * given catalog (the truth of a simulation): that evaluates each factor
 * exactly as it was trained, conditioned on the true upstream values.
 *
 * Windows and cut-outs are taken from the parent's pixels only: a patch must
 * carry enough border for them (sl_encoder_border) and its interior must start
 * on the window grid (sl_encoder_quantum), so that encoding patches gives the
 * sources that encoding the whole image gives.  Violations are errors naming
 * the patch, never silent edge effects.
 *
 * The estimate's columns are listed in sl-encode(1): per factor, its mean,
 * the quantiles of sl_encode_levels and its family's parameters, plus point
 * values in the truth catalog's columns (x, y, galaxy, flux, lens, ...), so
 * an estimate can be rendered like a truth. */
#ifndef SL_ENCODE_H
#define SL_ENCODE_H

#include <stdint.h>

#include "catalog.h"
#include "image.h"
#include "model.h"
#include "table.h"

#define SL_ENCODE_N_LEVELS 5
extern const double sl_encode_levels[SL_ENCODE_N_LEVELS];      /* 0.05 ... 0.95 */
extern const char *const sl_encode_level_names[SL_ENCODE_N_LEVELS]; /* "q05" ... */

typedef struct sl_encoder sl_encoder;

/* An encoder without models: forward passes in batches of up to max_batch on
 * `threads` threads; sources are tiles with P(source) > threshold; with
 * at_catalog the cut-out encoders run at given positions instead. */
sl_encoder *sl_encoder_new(int max_batch, int threads, double threshold, int at_catalog,
                           sl_err *err);
void sl_encoder_free(sl_encoder *e);

/* Adds a model from its record.  A second model for one task, or a model whose
 * bands or pixel scale differ from those already added, is an error. */
int sl_encoder_add_model(sl_encoder *e, const sl_record *rec, sl_err *err);
/* Adds the model of a model file (sl-train's output: one model record). */
int sl_encoder_load(sl_encoder *e, const char *path, sl_err *err);
/* The task's model, or NULL. */
const sl_model *sl_encoder_model(const sl_encoder *e, sl_task_kind kind);

/* What patches must provide: a border of at least sl_encoder_border pixels,
 * interiors starting at parent coordinates that are multiples of
 * sl_encoder_quantum and, away from the parent's edge, as wide. */
int sl_encoder_border(const sl_encoder *e);
int sl_encoder_quantum(const sl_encoder *e);

/* Refuses an image whose bands (names and order) or pixel scale differ from
 * the models' (within SL_IMAGE_SCALE_TOL, image.h), or a patch too small in
 * border for them. */
int sl_encoder_check(const sl_encoder *e, const sl_image *img, sl_err *err);

/* Gated cascade (the default, except at given positions) or every encoder
 * at every source. */
void sl_encoder_set_gated(sl_encoder *e, int gated);

/* Probabilities for the sky.  P(lens) and P(galaxy) are posteriors under
 * the training prior's base rates (lens_prob per galaxy, 1 - star_prob per
 * source, read from the models' records; NaN when a record lacks them).
 * sl_encoder_set_rate asks for them under another base rate r (NaN: the
 * training prior's) by the prior-odds correction
 * odds' = odds [r / (1 - r)] / [pi / (1 - pi)], applied after the cascade:
 * the gates and the samples keep the training prior's probabilities. */
enum { SL_RATE_LENS, SL_RATE_GALAXY };
double sl_encoder_train_rate(const sl_encoder *e, int which);
int sl_encoder_set_rate(sl_encoder *e, int which, double rate, sl_err *err);

/* Refuses a gated cascade missing a model that gates another: galaxy
 * without classify, lens without lens-detect (the error names both). */
int sl_encoder_check_cascade(const sl_encoder *e, sl_err *err);

/* Also draw n_samples joint samples of each image's catalog from the
 * posterior, with seed: each tile holds a source with probability P(source)
 * at a location drawn from its posterior, and each downstream encoder runs
 * at the drawn location and its factor is drawn given the draws above it
 * (class, then galaxy parameters, lens flag, lens parameters).  Draws come
 * from random streams of (seed, parent image, tile, sample), so that the
 * samples do not depend on how the image was cut into patches. */
int sl_encoder_set_samples(sl_encoder *e, int n_samples, uint64_t seed, sl_err *err);

/* Runs the cascade on img.  est receives one row per source in the image's
 * interior (its columns are set up on first use and kept: pass the same table
 * each time).  at: the catalog whose positions the cut-out encoders use (at_catalog
 * mode), else NULL.  samples: n_samples catalogs (initialized) that receive
 * the posterior samples, in the image's pixels, as truth-form catalogs (NULL
 * without samples).  *n_nan counts NaN pixels, which are masked (read as
 * background). */
int sl_encode_image(sl_encoder *e, const sl_image *img, const sl_catalog *at, sl_table *est,
                    sl_catalog *samples, long *n_nan, sl_err *err);

#endif
