#include "model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint32_t sl_model_pack_keys(sl_map *rec, const sl_model *m, const float *params,
                            const float *state)
{
    const sl_task *t = &m->task;
    sl_map_str(rec, "task", sl_task_name(t->kind));
    sl_map_int(rec, "tile", t->tile);
    sl_map_int(rec, "border", t->border);
    sl_map_int(rec, "patch_tiles", t->patch_tiles);
    sl_map_int(rec, "cutout", t->cutout);
    msgpack_packer *pk = sl_map_key(rec, "bands");
    msgpack_pack_array(pk, t->n_bands);
    for (int b = 0; b < t->n_bands; b++)
        sl_pack_str(pk, m->bands[b]);
    sl_map_int(rec, "ref_band", t->ref_band);
    sl_map_num(rec, "pixel_scale", m->pixel_scale);
    sl_map_str(rec, "normalization", SL_MODEL_NORMALIZATION);
    /* The factors, so that a reader can interpret the outputs without this code. */
    msgpack_pack_array(sl_map_key(rec, "factors"), t->n_factors);
    for (int f = 0; f < t->n_factors; f++) {
        char spec[512];
        sl_family_format(&t->factor[f].fam, spec, sizeof spec);
        sl_map fm;
        sl_map_within(rec, &fm, "factors", 4);
        sl_map_str(&fm, "name", t->factor[f].name);
        sl_map_str(&fm, "family", spec);
        sl_map_int(&fm, "output", t->factor[f].out);
        sl_map_int(&fm, "target", t->factor[f].target);
        sl_map_end(&fm, NULL);
    }
    sl_nn_pack(m->net, sl_map_key(rec, "architecture"));
    sl_map_f32(rec, "params", params, sl_nn_n_params(m->net));
    sl_map_f32(rec, "state", state, sl_nn_n_state(m->net));
    return SL_MODEL_N_KEYS;
}

/* ---- The training history and the model record ----------------------------- */

int sl_history_add(sl_history *h, long step, double loss, double val, sl_err *err)
{
    size_t n = h->step.n + 1;
    if (sl_vec_reserve(&h->step, n, err) < 0 || sl_vec_reserve(&h->loss, n, err) < 0 ||
        sl_vec_reserve(&h->val, n, err) < 0)
        return -1;
    h->step.a[h->step.n++] = (double)step;
    h->loss.a[h->loss.n++] = loss;
    h->val.a[h->val.n++] = val;
    return 0;
}

void sl_history_free(sl_history *h)
{
    sl_vec_free(&h->step);
    sl_vec_free(&h->loss);
    sl_vec_free(&h->val);
}

void sl_history_pack(sl_map *rec, const sl_history *h)
{
    sl_map m;
    sl_map_nest(rec, "history", &m, 3);
    sl_map_nums(&m, "step", h->step.a, h->step.n);
    sl_map_nums(&m, "loss", h->loss.a, h->step.n);
    sl_map_nums(&m, "val_loss", h->val.a, h->step.n);
    sl_map_end(&m, NULL);
}

int sl_history_read(sl_history *h, const sl_record *rec, sl_err *err)
{
    const msgpack_object *o = sl_rec_get(rec, "history.step");
    size_t n = o && o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 0;
    double *v = malloc((3 * n + 1) * sizeof *v);
    if (!v)
        return sl_err_set(err, "%s: record %ld: out of memory", rec->file, rec->num);
    int rc = 0;
    if (sl_rec_nums(rec, "history.step", v, n, err) < 0 ||
        sl_rec_nums(rec, "history.loss", v + n, n, err) < 0 ||
        sl_rec_nums(rec, "history.val_loss", v + 2 * n, n, err) < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = sl_history_add(h, (long)v[i], v[n + i], v[2 * n + i], err);
    free(v);
    return rc;
}

int sl_model_write(sl_writer *w, const sl_model *m, const float *params, const float *state,
                   const sl_model_training *t, sl_err *err)
{
    sl_map rec;
    sl_writer_begin(w, &rec, "model", 1 + SL_MODEL_N_KEYS + 5);
    sl_model_pack_keys(&rec, m, params, state);
    if (t->prior)
        msgpack_pack_object(sl_map_key(&rec, "prior"), *t->prior);
    else
        sl_map_nil(&rec, "prior");
    sl_map_int(&rec, "steps", t->steps);
    sl_map_int(&rec, "best_step", t->best_step);
    sl_map_num(&rec, "best_val_loss", t->best_val_loss);
    sl_history_pack(&rec, t->hist);
    return sl_writer_end(w, &rec, err);
}

static int is_simulate(const msgpack_object *header)
{
    const msgpack_object *tool = sl_obj_get(header, "tool");
    return tool && sl_obj_is_str(tool, "sl-simulate");
}

const msgpack_object *sl_model_prior_of(const msgpack_object *header)
{
    const msgpack_object *cfg = is_simulate(header) ? sl_obj_get(header, "config") : NULL;
    const msgpack_object *prov = sl_obj_get(header, "provenance");
    for (uint32_t i = 0; !cfg && prov && prov->type == MSGPACK_OBJECT_ARRAY &&
                         i < prov->via.array.size; i++)
        if (is_simulate(&prov->via.array.ptr[i]))
            cfg = sl_obj_get(&prov->via.array.ptr[i], "config");
    return cfg;
}

int sl_model_prior_num(const sl_record *rec, const char *key, double *v, sl_err *err)
{
    const msgpack_object *prior = sl_rec_get(rec, "prior");
    const msgpack_object *o = prior && prior->type == MSGPACK_OBJECT_MAP ? sl_obj_get(prior, key)
                                                                          : NULL;
    if (!o)
        return 0;
    char text[64], *end;
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= sizeof text)
        return sl_rec_fail(rec, "prior", err, "%s: expected a number as text", key);
    memcpy(text, o->via.str.ptr, o->via.str.size);
    text[o->via.str.size] = '\0';
    *v = strtod(text, &end);
    if (end == text || *end)
        return sl_rec_fail(rec, "prior", err, "%s: '%s' is not a number", key, text);
    return 1;
}

/* The values one sample's forward pass holds, every node's output together:
 * what the network's buffers are sized from (times the batch). */
static double activations(const sl_nn *net)
{
    double sum = 0;
    for (int i = 0; i < sl_nn_n_nodes(net); i++) {
        int c, h, w;
        sl_nn_shape(net, i, &c, &h, &w);
        sum += (double)c * h * w;
    }
    return sum;
}

/* Activations per weight (params and state), the input counted as weights so
 * that tiny networks on big inputs pass.  The shipped encoders have well
 * under 100; a record declaring far more (a chain of concatenations, say,
 * which costs no weights) would size gigabytes of buffers from a few bytes. */
static double activations_per_weight(const sl_nn *net)
{
    int c, h, w;
    sl_nn_shape(net, 0, &c, &h, &w);
    double weights = (double)sl_nn_n_params(net) + sl_nn_n_state(net) + (double)c * h * w;
    return activations(net) / weights;
}

static int read_int(const sl_record *rec, const char *key, int lo, int hi, int *out, sl_err *err)
{
    int64_t v;
    if (sl_rec_int(rec, key, lo, hi, &v, err) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* The factors the record lists must be the ones this code makes for the task. */
static int check_factors(const sl_task *t, const sl_record *rec, sl_err *err)
{
    const msgpack_object *f = sl_rec_get(rec, "factors");
    if (!f || f->type != MSGPACK_OBJECT_ARRAY || (int)f->via.array.size != t->n_factors)
        return sl_rec_fail(rec, "factors", err, "expected an array of the %d factors of task %s",
                           t->n_factors, sl_task_name(t->kind));
    for (int i = 0; i < t->n_factors; i++) {
        const msgpack_object *name = sl_obj_get(&f->via.array.ptr[i], "name");
        const msgpack_object *fam = sl_obj_get(&f->via.array.ptr[i], "family");
        char spec[512];
        sl_family_format(&t->factor[i].fam, spec, sizeof spec);
        if (!name || !sl_obj_is_str(name, t->factor[i].name) || !fam || !sl_obj_is_str(fam, spec))
            return sl_rec_fail(rec, "factors", err, "factor %d: expected '%s' with family %s", i,
                               t->factor[i].name, spec);
    }
    return 0;
}

int sl_model_read(sl_model *m, const sl_record *rec, int max_batch, int threads,
                  int inference_only, sl_err *err)
{
    memset(m, 0, sizeof *m);
    char task_name[32];
    sl_task_kind kind;
    if (sl_rec_strcpy(rec, "task", task_name, sizeof task_name, err) < 0)
        return -1;
    if (sl_task_parse(task_name, &kind) < 0)
        return sl_rec_fail(rec, "task", err, "unknown task '%s'", task_name);
    int tile, border, patch, cutout, ref;
    if (read_int(rec, "tile", 1, 64, &tile, err) < 0 || read_int(rec, "border", 0, 1024, &border, err) < 0 ||
        read_int(rec, "patch_tiles", 0, 256, &patch, err) < 0 ||
        read_int(rec, "cutout", 0, 512, &cutout, err) < 0 ||
        read_int(rec, "ref_band", 0, SL_MAX_BANDS - 1, &ref, err) < 0 ||
        sl_rec_num(rec, "pixel_scale", &m->pixel_scale, err) < 0)
        return -1;
    const msgpack_object *bands = sl_rec_get(rec, "bands");
    if (!bands || bands->type != MSGPACK_OBJECT_ARRAY || bands->via.array.size < 1 ||
        bands->via.array.size > SL_MAX_BANDS)
        return sl_rec_fail(rec, "bands", err, "expected an array of 1 to %d band names", SL_MAX_BANDS);
    int n_bands = (int)bands->via.array.size;
    for (int b = 0; b < n_bands; b++) {
        const msgpack_object *o = &bands->via.array.ptr[b];
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
            o->via.str.size >= sizeof m->bands[b])
            return sl_rec_fail(rec, "bands", err, "element %d: not a band name", b);
        memcpy(m->bands[b], o->via.str.ptr, o->via.str.size);
    }
    if (sl_task_make(&m->task, kind, n_bands, ref, tile, border, patch, cutout, err) < 0)
        return sl_err_prefix(err, "%s: record %ld", rec->file, rec->num);
    const char *norm;
    size_t len;
    if (sl_rec_str(rec, "normalization", &norm, &len, err) < 0)
        return -1;
    if (len != strlen(SL_MODEL_NORMALIZATION) || memcmp(norm, SL_MODEL_NORMALIZATION, len) != 0)
        return sl_rec_fail(rec, "normalization", err, "this tool applies only \"%s\"",
                           SL_MODEL_NORMALIZATION);
    if (check_factors(&m->task, rec, err) < 0)
        return -1;

    const msgpack_object *arch = sl_rec_get(rec, "architecture");
    if (!arch)
        return sl_rec_fail(rec, "architecture", err, "missing");
    int output;
    if (!(m->net = sl_nn_unpack(arch, &output, err)))
        return sl_err_prefix(err, "%s: record %ld: key 'architecture'", rec->file, rec->num);
    int c, h, w;
    sl_nn_shape(m->net, 0, &c, &h, &w);
    int side = sl_task_side(&m->task), grid = sl_task_out_grid(&m->task);
    if (c != n_bands || h != side || w != side) {
        sl_rec_fail(rec, "architecture", err, "input %d x %d x %d, the task needs %d x %d x %d",
                    c, h, w, n_bands, side, side);
        goto fail;
    }
    /* The weights must be there before the network's buffers are sized from
     * the architecture: memory follows what the record holds, not what it
     * declares. */
    if (sl_rec_f32_check(rec, "params", sl_nn_n_params(m->net), err) < 0 ||
        sl_rec_f32_check(rec, "state", sl_nn_n_state(m->net), err) < 0)
        goto fail;
    if (activations_per_weight(m->net) > SL_MODEL_MAX_ACTIVATIONS_PER_WEIGHT) {
        sl_rec_fail(rec, "architecture", err, "%.0f activation values per sample for %zu "
                    "weights: more than %d per weight, not a network this tool trains",
                    activations(m->net), sl_nn_n_params(m->net) + sl_nn_n_state(m->net),
                    SL_MODEL_MAX_ACTIVATIONS_PER_WEIGHT);
        goto fail;
    }
    if (inference_only)
        sl_nn_inference_only(m->net);
    if (sl_nn_finalize(m->net, output, max_batch, threads, err) < 0) {
        sl_err_prefix(err, "%s: record %ld: key 'architecture'", rec->file, rec->num);
        goto fail;
    }
    if (sl_nn_output_size(m->net) != m->task.n_outputs * grid * grid) {
        sl_rec_fail(rec, "architecture", err, "%d outputs per sample, the task needs %d",
                    sl_nn_output_size(m->net), m->task.n_outputs * grid * grid);
        goto fail;
    }
    if (sl_rec_f32(rec, "params", sl_nn_params(m->net), sl_nn_n_params(m->net), err) < 0 ||
        sl_rec_f32(rec, "state", sl_nn_state(m->net), sl_nn_n_state(m->net), err) < 0)
        goto fail;
    for (size_t i = 0; i < sl_nn_n_params(m->net); i++)
        if (!isfinite(sl_nn_params(m->net)[i])) {
            sl_rec_fail(rec, "params", err, "value %zu is not finite", i);
            goto fail;
        }
    for (size_t i = 0; i < sl_nn_n_state(m->net); i++)
        if (!isfinite(sl_nn_state(m->net)[i])) {
            sl_rec_fail(rec, "state", err, "value %zu is not finite", i);
            goto fail;
        }
    return 0;
fail:
    sl_nn_free(m->net);
    m->net = NULL;
    return -1;
}

void sl_model_free(sl_model *m)
{
    sl_nn_free(m->net);
    m->net = NULL;
}
