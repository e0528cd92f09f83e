/* optim.h: Adam and AdamW, gradient clipping, learning-rate schedules.
 *
 * Adam (Kingma & Ba 2015) with bias correction, as torch.optim.Adam computes it:
 *
 *     t += 1
 *     g  = grad (+ weight_decay * p for Adam: L2 added to the gradient)
 *     m  = beta1 m + (1 - beta1) g
 *     v  = beta2 v + (1 - beta2) g^2
 *     p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 *
 * AdamW (Loshchilov & Hutter 2019) decouples the decay from the gradient: g is
 * the plain gradient and, before the Adam update, p -= lr * weight_decay * p
 * (torch.optim.AdamW's convention, where the decay is scaled by the current
 * learning rate, so a schedule scales both).
 *
 * The whole state is in the struct: m and v (one float per parameter) and the
 * step count t.  A checkpoint that saves those three and restores them into a
 * struct with the same hyperparameters continues bit for bit.  The arithmetic
 * is done in double per element and rounded to float, in a fixed order, so an
 * update depends only on its inputs, never on threads or timing. */
#ifndef SL_OPTIM_H
#define SL_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum { SL_OPT_ADAM, SL_OPT_ADAMW } sl_optim_kind;

typedef struct sl_adam {
    sl_optim_kind kind;
    double beta1, beta2, eps, weight_decay;
    size_t n;       /* number of parameters */
    float *m, *v;   /* first and second moment estimates, n each */
    int64_t step;   /* updates applied so far (t after the last update) */
} sl_adam;

/* Allocates zeroed state for n parameters, with torch's defaults: Adam,
 * beta1 0.9, beta2 0.999, eps 1e-8, no weight decay (set the fields after). */
int sl_adam_init(sl_adam *a, size_t n, sl_err *err);
void sl_adam_free(sl_adam *a);
/* Checks the hyperparameters: 0 <= beta < 1, eps > 0, weight_decay >= 0. */
int sl_adam_check(const sl_adam *a, sl_err *err);

/* One update of all n parameters: sl_adam_tick, then sl_adam_apply on [0, n)
 * with decay on. */
void sl_adam_step(sl_adam *a, float *param, const float *grad, double lr);

/* For parameters held in several arrays: advance the step count once per
 * update, then apply it to each slice [offset, offset + count) of the state,
 * with its own param and grad arrays.  decay = 0 exempts a slice (biases,
 * normalization scales) from weight decay.  Slices must not overlap; distinct
 * slices may be applied from different threads. */
void sl_adam_tick(sl_adam *a);
void sl_adam_apply(const sl_adam *a, size_t offset, size_t count, float *param,
                   const float *grad, double lr, int decay);

/* Global L2 norm of the gradient; when it exceeds max_norm (> 0) the gradient is
 * scaled by max_norm / norm.  Returns the norm before scaling.  A norm that is
 * not finite (an overflow or a NaN in the gradient) leaves the gradient
 * unchanged, so the caller can see it and skip the update. */
double sl_grad_clip_norm(float *grad, size_t n, double max_norm);
/* The same in parts, for gradients in several arrays: sum the squares of each,
 * take the norm, then scale each by sl_grad_clip_factor(norm, max_norm). */
double sl_grad_sum_squares(const float *grad, size_t n);
double sl_grad_clip_factor(double norm, double max_norm);
void sl_grad_scale(float *grad, size_t n, double factor);

/* Learning rate at a step (0 for the first update):
 *   warmup: steps 0 .. warmup-1 ramp linearly, lr (s + 1) / warmup;
 *   constant: lr after the warmup;
 *   cosine: from lr at step warmup down to floor at step total, by
 *     floor + (lr - floor) (1 + cos(pi (s - warmup) / (total - warmup))) / 2,
 *     and floor from step total on. */
typedef enum { SL_LR_CONSTANT, SL_LR_COSINE } sl_lr_kind;

typedef struct sl_lr_schedule {
    sl_lr_kind kind;
    double lr;      /* peak learning rate */
    double floor;   /* cosine: final learning rate */
    int64_t warmup; /* steps of linear warmup (0 for none) */
    int64_t total;  /* cosine: step at which the floor is reached */
} sl_lr_schedule;

double sl_lr_at(const sl_lr_schedule *s, int64_t step);
/* lr > 0, 0 <= floor <= lr, warmup >= 0, and for cosine total > warmup. */
int sl_lr_check(const sl_lr_schedule *s, sl_err *err);
/* "constant" and "cosine". */
const char *sl_lr_name(sl_lr_kind kind);
int sl_lr_kind_parse(const char *name, sl_lr_kind *kind);

#endif
