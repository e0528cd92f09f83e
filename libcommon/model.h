/* model.h: trained encoders as `model` records (man 5 sl-records).
 *
 * A model record carries everything needed to run the encoder on new images
 * and to know what it was trained for: the task and its geometry (tile,
 * border, patch, cut-out), the bands and pixel scale of its images, its
 * factors with their families, the input normalization, the architecture,
 * the weights and batch-norm state as float32 bins, the configuration of the
 * prior its training data came from, and its training history.  Reading a
 * model checks every shape against every other, so a corrupted or mismatched
 * file is refused with the key at fault named. */
#ifndef SL_MODEL_H
#define SL_MODEL_H

#include "nn.h"
#include "record.h"
#include "task.h"

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

/* Reads a model (or checkpoint) record: rebuilds and finalizes the network for
 * batches of up to max_batch on `threads` threads (for evaluation only, without
 * gradient buffers, when inference_only) and loads the weights. */
int sl_model_read(sl_model *m, const sl_record *rec, int max_batch, int threads,
                  int inference_only, sl_err *err);
void sl_model_free(sl_model *m);

#endif
