/* model.h: trained encoders as `model` records (man 5 sl-records).
 *
 * A model record carries everything needed to run the encoder on new images
 * and to know what it was trained for: the task and its geometry (tile,
 * border, patch, cut-out), the bands and pixel scale of its images, its
 * factors with their families, the input normalization, the architecture,
 * the weights and batch-norm state as float32 bins, the configuration of the
 * prior its training data came from, and its training history.  Reading a
 * model checks every shape against every other, so a corrupted or mismatched
 * file is refused with the key at fault named.
 *
 * Owns the model record's layout both ways (sl_model_write, sl_model_read),
 * the keys it shares with checkpoint records (checkpoint.h), and the
 * training history both carry. */
#ifndef SL_MODEL_H
#define SL_MODEL_H

#include "nn.h"
#include "record.h"
#include "task.h"
#include "vec.h"

#define SL_MODEL_NORMALIZATION "asinh((x - background) / sqrt(background))"

typedef struct sl_model {
    sl_task task;
    char bands[SL_MAX_BANDS][16];
    double pixel_scale;
    sl_nn *net; /* finalized by sl_model_read */
    int width;  /* base channel count of the default architecture */
} sl_model;

/* Writes the keys shared by model and checkpoint records (task through
 * weights) into rec: returns how many it wrote (SL_MODEL_N_KEYS). */
uint32_t sl_model_pack_keys(sl_map *rec, const sl_model *m, const float *params,
                            const float *state);
#define SL_MODEL_N_KEYS 13
/* The most activation values per weight a model record may declare (model.c). */
#define SL_MODEL_MAX_ACTIVATIONS_PER_WEIGHT 1000

/* A training history: the loss and the validation loss (NaN between
 * evaluations) by step, the `history` key of model and checkpoint records. */
typedef struct sl_history {
    SL_VEC(double) step, loss, val;
} sl_history;

int sl_history_add(sl_history *h, long step, double loss, double val, sl_err *err);
void sl_history_free(sl_history *h);
void sl_history_pack(sl_map *rec, const sl_history *h);
/* Appends the history a record carries to h. */
int sl_history_read(sl_history *h, const sl_record *rec, sl_err *err);

/* What a model record tells of its training, beside the model itself. */
typedef struct sl_model_training {
    const msgpack_object *prior; /* the prior's configuration, or NULL */
    long steps, best_step;
    double best_val_loss;        /* NaN without validation */
    const sl_history *hist;
} sl_model_training;

/* Writes the model record: m with these weights, and its training. */
int sl_model_write(sl_writer *w, const sl_model *m, const float *params, const float *state,
                   const sl_model_training *t, sl_err *err);
/* The configuration of the sl-simulate run training data came from, given
 * the header of the data: the header itself, or the first sl-simulate in its
 * provenance (when stages such as sl-tile sit between); NULL when none. */
const msgpack_object *sl_model_prior_of(const msgpack_object *header);
/* A number of the training prior a model record carries (key `prior`, its
 * values text as in sl-simulate's configuration): 1 and *v when present, 0
 * when the record has no prior or no such key, -1 when it is not a number. */
int sl_model_prior_num(const sl_record *rec, const char *key, double *v, sl_err *err);

/* Reads a model (or checkpoint) record: rebuilds and finalizes the network for
 * batches of up to max_batch on `threads` threads (for evaluation only, without
 * gradient buffers, when inference_only) and loads the weights. */
int sl_model_read(sl_model *m, const sl_record *rec, int max_batch, int threads,
                  int inference_only, sl_err *err);
void sl_model_free(sl_model *m);

#endif
