#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sl_adam_init(sl_adam *a, size_t n, sl_err *err)
{
    memset(a, 0, sizeof *a);
    a->kind = SL_OPT_ADAM;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    a->n = n;
    size_t bytes = (n ? n : 1) * sizeof(float);
    a->m = calloc(1, bytes);
    a->v = calloc(1, bytes);
    if (!a->m || !a->v) {
        sl_adam_free(a);
        return sl_err_set(err, "optimizer: out of memory for %zu parameters", n);
    }
    return 0;
}

void sl_adam_free(sl_adam *a)
{
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
    a->n = 0;
}

int sl_adam_check(const sl_adam *a, sl_err *err)
{
    if (a->kind != SL_OPT_ADAM && a->kind != SL_OPT_ADAMW)
        return sl_err_set(err, "optimizer: unknown kind %d", (int)a->kind);
    if (!(a->beta1 >= 0 && a->beta1 < 1))
        return sl_err_set(err, "optimizer: beta1 %g is outside [0, 1)", a->beta1);
    if (!(a->beta2 >= 0 && a->beta2 < 1))
        return sl_err_set(err, "optimizer: beta2 %g is outside [0, 1)", a->beta2);
    if (!(a->eps > 0 && isfinite(a->eps)))
        return sl_err_set(err, "optimizer: eps %g must be positive", a->eps);
    if (!(a->weight_decay >= 0 && isfinite(a->weight_decay)))
        return sl_err_set(err, "optimizer: weight decay %g must be >= 0", a->weight_decay);
    return 0;
}

void sl_adam_tick(sl_adam *a)
{
    a->step++;
}

void sl_adam_apply(const sl_adam *a, size_t offset, size_t count, float *param,
                   const float *grad, double lr, int decay)
{
    double b1 = a->beta1, b2 = a->beta2, t = (double)a->step;
    /* Bias corrections: m and v start at 0, so early averages are shrunk by
     * 1 - beta^t; dividing undoes it. */
    double step_size = lr / (1 - pow(b1, t));
    double sqrt_bc2 = sqrt(1 - pow(b2, t));
    double wd = decay ? a->weight_decay : 0.0;
    int decoupled = a->kind == SL_OPT_ADAMW;
    float *m = a->m + offset, *v = a->v + offset;
    for (size_t i = 0; i < count; i++) {
        double p = param[i], g = grad[i];
        if (decoupled)
            p -= lr * wd * p;
        else
            g += wd * p;
        double mi = b1 * m[i] + (1 - b1) * g;
        double vi = b2 * v[i] + (1 - b2) * g * g;
        m[i] = (float)mi;
        v[i] = (float)vi;
        /* The update uses the moments as stored (float), as torch's float32
         * state does. */
        param[i] = (float)(p - step_size * m[i] / (sqrt((double)v[i]) / sqrt_bc2 + a->eps));
    }
}

void sl_adam_step(sl_adam *a, float *param, const float *grad, double lr)
{
    sl_adam_tick(a);
    sl_adam_apply(a, 0, a->n, param, grad, lr, 1);
}

double sl_grad_sum_squares(const float *grad, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)grad[i] * grad[i];
    return s;
}

double sl_grad_clip_factor(double norm, double max_norm)
{
    if (!isfinite(norm) || !(norm > max_norm))
        return 1.0;
    return max_norm / norm;
}

void sl_grad_scale(float *grad, size_t n, double factor)
{
    if (factor == 1.0)
        return;
    for (size_t i = 0; i < n; i++)
        grad[i] = (float)(grad[i] * factor);
}

double sl_grad_clip_norm(float *grad, size_t n, double max_norm)
{
    double norm = sqrt(sl_grad_sum_squares(grad, n));
    sl_grad_scale(grad, n, sl_grad_clip_factor(norm, max_norm));
    return norm;
}

double sl_lr_at(const sl_lr_schedule *s, int64_t step)
{
    if (step < 0)
        step = 0;
    if (step < s->warmup)
        return s->lr * (double)(step + 1) / (double)s->warmup;
    if (s->kind == SL_LR_CONSTANT)
        return s->lr;
    if (step >= s->total)
        return s->floor;
    double frac = (double)(step - s->warmup) / (double)(s->total - s->warmup);
    return s->floor + (s->lr - s->floor) * 0.5 * (1 + cos(M_PI * frac));
}

int sl_lr_check(const sl_lr_schedule *s, sl_err *err)
{
    if (s->kind != SL_LR_CONSTANT && s->kind != SL_LR_COSINE)
        return sl_err_set(err, "learning-rate schedule: unknown kind %d", (int)s->kind);
    if (!(s->lr > 0 && isfinite(s->lr)))
        return sl_err_set(err, "learning-rate schedule: lr %g must be positive", s->lr);
    if (s->warmup < 0)
        return sl_err_set(err, "learning-rate schedule: warmup %lld is negative",
                          (long long)s->warmup);
    if (s->kind == SL_LR_COSINE) {
        if (!(s->floor >= 0 && s->floor <= s->lr))
            return sl_err_set(err, "learning-rate schedule: floor %g is outside [0, lr = %g]",
                              s->floor, s->lr);
        if (s->total <= s->warmup)
            return sl_err_set(err, "learning-rate schedule: total steps %lld must exceed "
                              "the warmup %lld", (long long)s->total, (long long)s->warmup);
    }
    return 0;
}

static const char *const lr_names[] = {"constant", "cosine"};

const char *sl_lr_name(sl_lr_kind kind)
{
    return (unsigned)kind <= SL_LR_COSINE ? lr_names[kind] : "unknown";
}

int sl_lr_kind_parse(const char *name, sl_lr_kind *kind)
{
    for (int k = 0; k <= SL_LR_COSINE; k++)
        if (strcmp(name, lr_names[k]) == 0) {
            *kind = (sl_lr_kind)k;
            return 0;
        }
    return -1;
}
