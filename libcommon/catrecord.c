/* catrecord.c: the catalog record both ways (see catrecord.h). */
#include "catrecord.h"

#include <stdlib.h>
#include <string.h>

void sl_catrecord_init(sl_catrecord *c)
{
    memset(c, 0, sizeof *c);
    c->key = "estimate";
    sl_table_init(&c->est);
    sl_table_init(&c->truth);
}

static void free_samples(sl_catrecord *c)
{
    for (int k = 0; k < c->n_samples; k++)
        sl_table_free(&c->samples[k]);
    free(c->samples);
    c->samples = NULL;
    c->n_samples = 0;
}

void sl_catrecord_free(sl_catrecord *c)
{
    sl_table_free(&c->est);
    sl_table_free(&c->truth);
    free_samples(c);
    sl_catrecord_init(c);
}

int sl_catrecord_n_samples(const sl_record *rec, int *n, sl_err *err)
{
    const msgpack_object *o = sl_rec_get(rec, "samples");
    *n = 0;
    if (!o)
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > SL_CATRECORD_MAX_SAMPLES)
        return sl_rec_fail(rec, "samples", err, "expected an array of catalogs, got %s",
                           sl_obj_type_name(o));
    *n = (int)o->via.array.size;
    return 0;
}

/* The image the catalog is of: the keys it shares with image records. */
static int read_frame(sl_catrecord *c, const sl_record *rec, sl_err *err)
{
    int64_t v;
    if (sl_rec_int(rec, "id", INT64_MIN, INT64_MAX, &c->id, err) < 0 ||
        sl_rec_int(rec, "width", 1, SL_MAX_SIDE, &v, err) < 0)
        return -1;
    c->width = (int)v;
    if (sl_rec_int(rec, "height", 1, SL_MAX_SIDE, &v, err) < 0)
        return -1;
    c->height = (int)v;
    if (sl_image_read_bands(rec, c->bands, &c->n_bands, err) < 0 ||
        sl_rec_num(rec, "pixel_scale", &c->pixel_scale, err) < 0)
        return -1;
    c->has_zero_point = sl_rec_get(rec, "zero_point") != NULL;
    if (c->has_zero_point &&
        sl_rec_nums(rec, "zero_point", c->zero_point, (size_t)c->n_bands, err) < 0)
        return -1;
    return 0;
}

int sl_catrecord_read(sl_catrecord *c, const sl_record *rec, const char *key, sl_err *err)
{
    free_samples(c);
    c->key = key;
    if (read_frame(c, rec, err) < 0 || sl_table_read(&c->est, rec, key, err) < 0)
        return -1;
    c->has_truth = strcmp(key, "truth") != 0 && sl_rec_get(rec, "truth") != NULL;
    if (c->has_truth && sl_table_read(&c->truth, rec, "truth", err) < 0)
        return -1;
    int n;
    if (sl_catrecord_n_samples(rec, &n, err) < 0)
        return -1;
    if (!(c->samples = calloc((size_t)n + 1, sizeof *c->samples)))
        return sl_err_set(err, "%s: record %ld: out of memory", rec->file, rec->num);
    for (; c->n_samples < n; c->n_samples++) {
        char path[32];
        snprintf(path, sizeof path, "samples.%d", c->n_samples);
        sl_table_init(&c->samples[c->n_samples]);
        if (sl_table_read(&c->samples[c->n_samples], rec, path, err) < 0) {
            c->n_samples++; /* freed with the others */
            return -1;
        }
    }
    return 0;
}

int sl_catrecord_write(sl_writer *w, const sl_catrecord *c, sl_err *err)
{
    sl_map m;
    sl_writer_begin(w, &m, "catalog",
                    7 + c->has_zero_point + c->has_truth + (c->n_samples > 0));
    sl_map_int(&m, "id", c->id);
    sl_map_int(&m, "width", c->width);
    sl_map_int(&m, "height", c->height);
    msgpack_packer *pk = sl_map_key(&m, "bands");
    msgpack_pack_array(pk, (uint32_t)c->n_bands);
    for (int b = 0; b < c->n_bands; b++)
        sl_pack_str(pk, c->bands[b]);
    sl_map_num(&m, "pixel_scale", c->pixel_scale);
    if (c->has_zero_point)
        sl_map_nums(&m, "zero_point", c->zero_point, (size_t)c->n_bands);
    sl_table_pack(sl_map_key(&m, c->key), &c->est);
    if (c->has_truth)
        sl_table_pack(sl_map_key(&m, "truth"), &c->truth);
    if (c->n_samples) {
        pk = sl_map_key(&m, "samples");
        msgpack_pack_array(pk, (uint32_t)c->n_samples);
        for (int k = 0; k < c->n_samples; k++)
            sl_table_pack(pk, &c->samples[k]);
    }
    return sl_writer_end(w, &m, err);
}
