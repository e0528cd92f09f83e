/* catrecord.c: the catalog record both ways (see catrecord.h). */
#include "catrecord.h"

#include <stdlib.h>
#include <string.h>

#include "wcs.h"

void sl_catrecord_init(sl_catrecord *c)
{
    memset(c, 0, sizeof *c);
    sl_image_init(&c->img);
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
    sl_image_free(&c->img);
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

int sl_catrecord_read(sl_catrecord *c, const sl_record *rec, const char *key, sl_err *err)
{
    free_samples(c);
    c->key = key;
    if (sl_image_read_meta(&c->img, rec, err) < 0 || sl_table_read(&c->est, rec, key, err) < 0)
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

/* ---- Sky coordinates ------------------------------------------------------- */

static sl_wcs *wcs_of(const sl_catrecord *c, sl_err *err)
{
    sl_wcs *w = sl_wcs_new(c->img.wcs, err);
    if (!w)
        sl_err_prefix(err, "image %lld: key 'wcs'", (long long)c->img.id);
    return w;
}

int sl_catrecord_sky(const sl_catrecord *c, double *ra, double *dec, sl_err *err)
{
    int cx = sl_table_find(&c->est, "x"), cy = sl_table_find(&c->est, "y");
    if (!c->img.wcs || cx < 0 || cy < 0)
        return 0;
    sl_wcs *w = wcs_of(c, err);
    if (!w)
        return -1;
    for (int r = 0; r < c->est.n; r++)
        sl_wcs_sky(w, *sl_table_at(&c->est, cx, r), *sl_table_at(&c->est, cy, r), &ra[r],
                   &dec[r]);
    sl_wcs_free(w);
    return 0;
}

int sl_catrecord_add_sky_errors(sl_catrecord *c, sl_err *err)
{
    sl_table *t = &c->est;
    const char *names[6] = {"x", "y", "x_q16", "x_q84", "y_q16", "y_q84"};
    int col[6];
    for (int k = 0; k < 6; k++)
        if ((col[k] = sl_table_find(t, names[k])) < 0)
            return 0;
    if (!c->img.wcs)
        return 0;
    int ce = sl_table_find(t, "ra_err"), cd = sl_table_find(t, "dec_err");
    if ((ce < 0 && (ce = sl_table_add_column(t, "ra_err", SL_UNIT_ARCSEC, 1, err)) < 0) ||
        (cd < 0 && (cd = sl_table_add_column(t, "dec_err", SL_UNIT_ARCSEC, 1, err)) < 0))
        return -1;
    sl_wcs *w = wcs_of(c, err);
    if (!w)
        return -1;
    for (int r = 0; r < t->n; r++) {
        double v[6], ra_err, dec_err;
        for (int k = 0; k < 6; k++)
            v[k] = *sl_table_at(t, col[k], r);
        /* A normal's 16-84% interval is 2 sigma wide. */
        sl_wcs_sky_err(w, v[0], v[1], (v[3] - v[2]) / 2, (v[5] - v[4]) / 2, &ra_err, &dec_err);
        *sl_table_at(t, ce, r) = (float)ra_err;
        *sl_table_at(t, cd, r) = (float)dec_err;
    }
    sl_wcs_free(w);
    return 0;
}

int sl_catrecord_write(sl_writer *w, const sl_catrecord *c, sl_err *err)
{
    sl_map m;
    const sl_image *img = &c->img;
    sl_writer_begin(w, &m, "catalog",
                    7 + (img->has_zero_point != 0) + (img->wcs != NULL) + c->has_truth +
                        (c->n_samples > 0));
    sl_image_pack_frame(&m, img);
    if (img->has_zero_point)
        sl_map_nums(&m, "zero_point", img->zero_point, (size_t)img->n_bands);
    if (img->wcs)
        sl_map_str(&m, "wcs", img->wcs);
    sl_table_pack(sl_map_key(&m, c->key), &c->est);
    if (c->has_truth)
        sl_table_pack(sl_map_key(&m, "truth"), &c->truth);
    if (c->n_samples) {
        msgpack_packer *pk = sl_map_key(&m, "samples");
        msgpack_pack_array(pk, (uint32_t)c->n_samples);
        for (int k = 0; k < c->n_samples; k++)
            sl_table_pack(pk, &c->samples[k]);
    }
    return sl_writer_end(w, &m, err);
}
