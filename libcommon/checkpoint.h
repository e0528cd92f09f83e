/* checkpoint.h: the `checkpoint` record (MODEL.ckpt of sl-train --resume).
 *
 * Owns the checkpoint's layout both ways.  A checkpoint is a model record's
 * shared keys (model.h: task through weights, the weights being those of the
 * step reached) and the rest of the training state, enough for a resumed run
 * to continue exactly as if never stopped:
 *
 *   step            optimizer steps taken
 *   adam_m, adam_v  Adam's moments (float32 bins, one value per parameter)
 *   adam_step       Adam's update count
 *   best_step       the step of the best validation loss, -1 before any
 *   best_val_loss   that loss
 *   best_params, best_state   the weights at best_step (empty before)
 *   loss_ema        the smoothed training loss
 *   bad_evals       evaluations without improvement (--patience)
 *   history         the training history (model.h)
 */
#ifndef SL_CHECKPOINT_H
#define SL_CHECKPOINT_H

#include "model.h"
#include "optim.h"

typedef struct sl_checkpoint {
    long step, best_step, bad_evals;
    double best_val, loss_ema;
    sl_adam *adam;
    float *best_params, *best_state; /* sized for the model's network */
    sl_history *hist;
} sl_checkpoint;

/* Writes a checkpoint of m (its network's weights now) and c. */
int sl_checkpoint_write(sl_writer *w, const sl_model *m, const sl_checkpoint *c, sl_err *err);

/* Reads the first checkpoint record of r into m's network and c's buffers
 * (appending to c->hist), for a trainer built with the same options: a
 * checkpoint of another task or network is refused. */
int sl_checkpoint_read(sl_reader *r, sl_model *m, sl_checkpoint *c, sl_err *err);

#endif
