/* checkpoint.c: the checkpoint record both ways (see checkpoint.h). */
#include "checkpoint.h"

#include <math.h>
#include <string.h>

int sl_checkpoint_write(sl_writer *w, const sl_model *m, const sl_checkpoint *c, sl_err *err)
{
    size_t np = sl_nn_n_params(m->net), ns = sl_nn_n_state(m->net);
    sl_map rec;
    sl_writer_begin(w, &rec, "checkpoint", 1 + SL_MODEL_N_KEYS + 11);
    sl_model_pack_keys(&rec, m, sl_nn_params(m->net), sl_nn_state(m->net));
    sl_map_int(&rec, "step", c->step);
    sl_map_f32(&rec, "adam_m", c->adam->m, np);
    sl_map_f32(&rec, "adam_v", c->adam->v, np);
    sl_map_int(&rec, "adam_step", c->adam->step);
    sl_map_int(&rec, "best_step", c->best_step);
    sl_map_num(&rec, "best_val_loss", c->best_val);
    sl_map_f32(&rec, "best_params", c->best_params, c->best_step >= 0 ? np : 0);
    sl_map_f32(&rec, "best_state", c->best_state, c->best_step >= 0 ? ns : 0);
    sl_map_num(&rec, "loss_ema", c->loss_ema);
    sl_map_int(&rec, "bad_evals", c->bad_evals);
    sl_history_pack(&rec, c->hist);
    return sl_writer_end(w, &rec, err);
}

/* The weights: the record's network must be the one m's options build. */
static int read_weights(sl_model *m, const sl_record *rec, const char *path, sl_err *err)
{
    sl_model saved;
    if (sl_model_read(&saved, rec, 1, 1, 1, err) < 0)
        return -1;
    size_t np = sl_nn_n_params(m->net), ns = sl_nn_n_state(m->net);
    int same = saved.task.kind == m->task.kind && sl_nn_n_params(saved.net) == np &&
               sl_nn_n_state(saved.net) == ns;
    if (same) {
        memcpy(sl_nn_params(m->net), sl_nn_params(saved.net), np * sizeof(float));
        memcpy(sl_nn_state(m->net), sl_nn_state(saved.net), ns * sizeof(float));
    }
    sl_model_free(&saved);
    if (!same)
        return sl_err_set(err, "%s: the checkpoint is for another task or network than these "
                               "options make", path);
    return 0;
}

/* Everything but the weights and the history. */
static int read_state(const sl_model *m, sl_checkpoint *c, const sl_record *rec, sl_err *err)
{
    size_t np = sl_nn_n_params(m->net), ns = sl_nn_n_state(m->net), nb;
    int64_t step, best, bad;
    if (sl_rec_int(rec, "step", 0, INT64_MAX, &step, err) < 0 ||
        sl_rec_f32(rec, "adam_m", c->adam->m, np, err) < 0 ||
        sl_rec_f32(rec, "adam_v", c->adam->v, np, err) < 0 ||
        sl_rec_int(rec, "adam_step", 0, INT64_MAX, &c->adam->step, err) < 0 ||
        sl_rec_int(rec, "best_step", -1, INT64_MAX, &best, err) < 0 ||
        sl_rec_int(rec, "bad_evals", 0, INT64_MAX, &bad, err) < 0)
        return -1;
    c->step = (long)step;
    c->best_step = (long)best;
    c->bad_evals = (long)bad;
    /* NaN (no validation) is written as a float and read back as one. */
    const msgpack_object *bv = sl_rec_get(rec, "best_val_loss");
    c->best_val = bv && bv->type == MSGPACK_OBJECT_FLOAT64 ? bv->via.f64 : INFINITY;
    if (sl_rec_num(rec, "loss_ema", &c->loss_ema, err) < 0 ||
        sl_rec_f32_len(rec, "best_params", &nb, err) < 0)
        return -1;
    if (nb > 0 && (sl_rec_f32(rec, "best_params", c->best_params, np, err) < 0 ||
                   sl_rec_f32(rec, "best_state", c->best_state, ns, err) < 0))
        return -1;
    return 0;
}

int sl_checkpoint_read(sl_reader *r, sl_model *m, sl_checkpoint *c, sl_err *err)
{
    const char *path = sl_reader_name(r);
    sl_record rec;
    int rc;
    while ((rc = sl_read(r, &rec, err)) >= 0 && strcmp(rec.type, "checkpoint") != 0)
        ;
    if (rc == SL_READ_END)
        return sl_err_set(err, "%s: no checkpoint record", path);
    if (rc < 0 || read_weights(m, &rec, path, err) < 0 || read_state(m, c, &rec, err) < 0)
        return -1;
    return sl_history_read(c->hist, &rec, err);
}
