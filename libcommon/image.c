#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_image_init(sl_image *img)
{
    memset(img, 0, sizeof *img);
}

void sl_image_free(sl_image *img)
{
    free(img->pixels);
    free(img->background_map);
    free(img->wcs);
    sl_image_init(img);
}

int sl_image_band(const sl_image *img, const char *name)
{
    for (int b = 0; b < img->n_bands; b++)
        if (strcmp(img->bands[b], name) == 0)
            return b;
    return -1;
}

static int grow(float **buf, size_t *cap, size_t n, const sl_record *rec, sl_err *err)
{
    if (n <= *cap)
        return 0;
    float *p = realloc(*buf, n * sizeof *p);
    if (!p)
        return sl_err_set(err, "%s: record %ld: out of memory for %zu pixels", rec->file,
                          rec->num, n);
    *buf = p;
    *cap = n;
    return 0;
}

/* An optional per-band array of numbers, each in (lo, hi]. */
static int per_band(const sl_record *rec, const char *key, int n_bands, double lo, double hi,
                    double *out, int *present, sl_err *err)
{
    *present = sl_rec_get(rec, key) != NULL;
    if (!*present)
        return 0;
    if (sl_rec_nums(rec, key, out, (size_t)n_bands, err) < 0)
        return -1;
    for (int b = 0; b < n_bands; b++)
        if (!(out[b] > lo && out[b] <= hi))
            return sl_rec_fail(rec, key, err, "band %d: %g is out of range (%g, %g]", b, out[b],
                               lo, hi);
    return 0;
}

int sl_image_read_bands(const sl_record *rec, char bands[][16], int *n_bands, sl_err *err)
{
    const msgpack_object *o = sl_rec_get(rec, "bands");
    if (!o)
        return sl_rec_fail(rec, "bands", err, "missing");
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1 ||
        o->via.array.size > SL_MAX_BANDS)
        return sl_rec_fail(rec, "bands", err, "expected array of 1 to %d band names, got %s",
                           SL_MAX_BANDS, sl_obj_type_name(o));
    *n_bands = (int)o->via.array.size;
    for (int b = 0; b < *n_bands; b++) {
        const msgpack_object *name = &o->via.array.ptr[b];
        if (name->type != MSGPACK_OBJECT_STR || name->via.str.size == 0 ||
            name->via.str.size >= sizeof bands[b])
            return sl_rec_fail(rec, "bands", err, "element %d: expected a band name of 1 to %zu "
                               "characters", b, sizeof bands[b] - 1);
        memcpy(bands[b], name->via.str.ptr, name->via.str.size);
        bands[b][name->via.str.size] = '\0';
    }
    return 0;
}

int sl_image_same_bands(const char (*a)[16], int na, const char (*b)[16], int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

void sl_image_format_bands(const char (*bands)[16], int n, const char *sep, char *buf,
                           size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len + 1 < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? sep : "", bands[i]);
}

int sl_image_same_scale(double a, double b)
{
    return fabs(a / b - 1) <= SL_IMAGE_SCALE_TOL;
}

void sl_image_interior(const sl_image *img, int *x0, int *y0, int *x1, int *y1)
{
    int b = img->border;
    *x0 = b > -img->x0 ? b : -img->x0;
    *y0 = b > -img->y0 ? b : -img->y0;
    int xe = img->width - b, ye = img->height - b;
    int px = img->parent_width - img->x0, py = img->parent_height - img->y0;
    *x1 = xe < px ? xe : px;
    *y1 = ye < py ? ye : py;
}

/* The optional `wcs` key: whole 80-character cards. */
static int read_wcs(sl_image *img, const sl_record *rec, sl_err *err)
{
    free(img->wcs);
    img->wcs = NULL;
    if (!sl_rec_get(rec, "wcs"))
        return 0;
    const char *s;
    size_t len;
    if (sl_rec_str(rec, "wcs", &s, &len, err) < 0)
        return -1;
    if (len == 0 || len % 80)
        return sl_rec_fail(rec, "wcs", err, "%zu characters, not a whole number of "
                                             "80-character FITS cards", len);
    if (!(img->wcs = malloc(len + 1)))
        return sl_rec_fail(rec, "wcs", err, "out of memory");
    memcpy(img->wcs, s, len);
    img->wcs[len] = '\0';
    return 0;
}

/* Everything but the pixel copies; sets *n_pixels. */
static int read_header_fields(sl_image *img, const sl_record *rec, size_t *n_pixels, sl_err *err)
{
    int64_t v;
    if (sl_rec_int(rec, "id", INT64_MIN, INT64_MAX, &img->id, err) < 0 ||
        sl_rec_int(rec, "width", 1, SL_MAX_SIDE, &v, err) < 0)
        return -1;
    img->width = (int)v;
    if (sl_rec_int(rec, "height", 1, SL_MAX_SIDE, &v, err) < 0)
        return -1;
    img->height = (int)v;
    if (sl_image_read_bands(rec, img->bands, &img->n_bands, err) < 0 ||
        sl_rec_num(rec, "pixel_scale", &img->pixel_scale, err) < 0)
        return -1;
    if (!(img->pixel_scale > 0 && img->pixel_scale < 3600))
        return sl_rec_fail(rec, "pixel_scale", err, "%g arcsec is out of range (0, 3600)",
                           img->pixel_scale);
    *n_pixels = (size_t)img->width * img->height * img->n_bands;
    if (*n_pixels > SL_MAX_PIXELS)
        return sl_rec_fail(rec, "pixels", err, "%d x %d x %d bands is more than %zu pixels",
                           img->width, img->height, img->n_bands, SL_MAX_PIXELS);
    int present;
    if (per_band(rec, "background", img->n_bands, -1e30, 1e30, img->background, &present, err) < 0)
        return -1;
    /* A record without pixels (sl-encode --no-pixels) carries only catalogs. */
    if (!present && !sl_rec_get(rec, "background_map") && sl_rec_get(rec, "pixels"))
        return sl_rec_fail(rec, "background", err, "missing (and no background_map)");
    if (per_band(rec, "zero_point", img->n_bands, 0, 100, img->zero_point, &img->has_zero_point,
                 err) < 0 ||
        per_band(rec, "gain", img->n_bands, 0, 1e6, img->gain, &img->has_gain, err) < 0)
        return -1;
    if (read_wcs(img, rec, err) < 0)
        return -1;
    img->is_patch = sl_rec_get(rec, "parent") != NULL;
    if (img->is_patch) {
        if (sl_rec_int(rec, "parent", INT64_MIN, INT64_MAX, &img->parent, err) < 0 ||
            sl_rec_int(rec, "x0", -SL_MAX_SIDE, 16 * (int64_t)SL_MAX_SIDE, &v, err) < 0)
            return -1;
        img->x0 = (int)v;
        if (sl_rec_int(rec, "y0", -SL_MAX_SIDE, 16 * (int64_t)SL_MAX_SIDE, &v, err) < 0)
            return -1;
        img->y0 = (int)v;
        if (sl_rec_int(rec, "border", 0, SL_MAX_SIDE, &v, err) < 0)
            return -1;
        img->border = (int)v;
        if (sl_rec_int(rec, "patches", 1, INT32_MAX, &v, err) < 0)
            return -1;
        img->patches = (int)v;
        if (sl_rec_int(rec, "patch", 0, img->patches - 1, &v, err) < 0)
            return -1;
        img->patch = (int)v;
        if (sl_rec_int(rec, "parent_width", 1, SL_MAX_SIDE, &v, err) < 0)
            return -1;
        img->parent_width = (int)v;
        if (sl_rec_int(rec, "parent_height", 1, SL_MAX_SIDE, &v, err) < 0)
            return -1;
        img->parent_height = (int)v;
    } else {
        img->x0 = img->y0 = img->border = img->patch = 0;
        img->patches = 1;
        img->parent = img->id;
        img->parent_width = img->width;
        img->parent_height = img->height;
    }
    return 0;
}

int sl_image_read_meta(sl_image *img, const sl_record *rec, sl_err *err)
{
    size_t n;
    return read_header_fields(img, rec, &n, err);
}

int sl_image_read(sl_image *img, const sl_record *rec, sl_err *err)
{
    size_t n;
    if (read_header_fields(img, rec, &n, err) < 0)
        return -1;
    if (grow(&img->pixels, &img->pixels_cap, n, rec, err) < 0 ||
        sl_rec_f32(rec, "pixels", img->pixels, n, err) < 0)
        return -1;
    if (sl_rec_get(rec, "background_map")) {
        if (grow(&img->background_map, &img->background_cap, n, rec, err) < 0 ||
            sl_rec_f32(rec, "background_map", img->background_map, n, err) < 0)
            return -1;
        size_t plane = (size_t)img->width * img->height;
        for (int b = 0; b < img->n_bands; b++) {
            double sum = 0;
            for (size_t i = 0; i < plane; i++)
                sum += img->background_map[b * plane + i];
            img->background[b] = sum / (double)plane;
        }
    } else {
        free(img->background_map);
        img->background_map = NULL;
        img->background_cap = 0;
    }
    return 0;
}

int sl_image_check(const sl_record *rec, sl_err *err)
{
    sl_image img;
    sl_image_init(&img);
    size_t n;
    int rc = read_header_fields(&img, rec, &n, err);
    /* Without pixels and background map (sl-encode --no-pixels) a record
     * carries only where the image sits and its catalogs. */
    int bare = !sl_rec_get(rec, "pixels") && !sl_rec_get(rec, "background_map");
    if (rc == 0 && !bare)
        rc = sl_rec_f32_check(rec, "pixels", n, err);
    if (rc == 0 && sl_rec_get(rec, "background_map"))
        rc = sl_rec_f32_check(rec, "background_map", n, err);
    sl_image_free(&img);
    return rc;
}

/* ---- Writing -------------------------------------------------------------- */

uint32_t sl_image_n_keys(const sl_image *img)
{
    return 8 + (img->has_zero_point != 0) + (img->has_gain != 0) + (img->wcs != NULL) +
           (img->is_patch ? 8 : 0);
}

void sl_image_pack_frame(sl_map *rec, const sl_image *img)
{
    sl_map_int(rec, "id", img->id);
    sl_map_int(rec, "width", img->width);
    sl_map_int(rec, "height", img->height);
    msgpack_packer *pk = sl_map_key(rec, "bands");
    msgpack_pack_array(pk, (uint32_t)img->n_bands);
    for (int b = 0; b < img->n_bands; b++)
        sl_pack_str(pk, img->bands[b]);
    sl_map_num(rec, "pixel_scale", img->pixel_scale);
}

void sl_image_pack(sl_map *rec, const sl_image *img)
{
    size_t n = (size_t)img->width * img->height * img->n_bands;
    sl_image_pack_frame(rec, img);
    sl_map_str(rec, "units", "electrons");
    sl_map_f32(rec, "pixels", img->pixels, n);
    if (img->background_map)
        sl_map_f32(rec, "background_map", img->background_map, n);
    else
        sl_map_nums(rec, "background", img->background, (size_t)img->n_bands);
    if (img->has_zero_point)
        sl_map_nums(rec, "zero_point", img->zero_point, (size_t)img->n_bands);
    if (img->has_gain)
        sl_map_nums(rec, "gain", img->gain, (size_t)img->n_bands);
    if (img->wcs)
        sl_map_str(rec, "wcs", img->wcs);
}

void sl_image_pack_patch(sl_map *rec, const sl_image *img)
{
    if (!img->is_patch)
        return;
    sl_map_int(rec, "parent", img->parent);
    sl_map_int(rec, "x0", img->x0);
    sl_map_int(rec, "y0", img->y0);
    sl_map_int(rec, "border", img->border);
    sl_map_int(rec, "patch", img->patch);
    sl_map_int(rec, "patches", img->patches);
    sl_map_int(rec, "parent_width", img->parent_width);
    sl_map_int(rec, "parent_height", img->parent_height);
}

void sl_image_rewrite_begin(sl_writer *w, sl_map *rec, const sl_record *in,
                            const char *const *replaced, uint32_t n_new)
{
    /* `type` is sl_writer_begin's to write: never copied. */
    const char *except[SL_IMAGE_MAX_REPLACED + 2] = {"type"};
    int n = 0;
    while (replaced[n] && n < SL_IMAGE_MAX_REPLACED) {
        except[n + 1] = replaced[n];
        n++;
    }
    except[n + 1] = NULL;
    sl_writer_begin(w, rec, "image", 1 + sl_map_count_except(&in->root, except) + n_new);
    sl_map_copy_except(rec, &in->root, except);
}
