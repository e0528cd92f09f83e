#include "table.h"
#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

void sl_table_init(sl_table *t)
{
    memset(t, 0, sizeof *t);
}

void sl_table_free(sl_table *t)
{
    for (int c = 0; c < t->n_cols; c++)
        free(t->cols[c].v);
    free(t->cols);
    sl_table_init(t);
}

void sl_table_clear(sl_table *t)
{
    t->n = 0;
}

int sl_table_find(const sl_table *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->cols[c].name, name) == 0)
            return c;
    return -1;
}

static void fill_nan(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = NAN;
}

/* Names end up as dotted record paths, CSV header fields and FITS TTYPEs. */
static int name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= sizeof ((sl_table_col *)0)->name)
        return 0;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr(".,\"", *p))
            return 0;
    return 1;
}

int sl_table_add_column(sl_table *t, const char *name, const char *unit, int width,
                        sl_err *err)
{
    if (!name_ok(name))
        return sl_err_set(err, "column '%s': a name must be 1 to %zu characters, without "
                          "'.', ',', '\"', spaces or control characters",
                          name, sizeof t->cols->name - 1);
    if (sl_table_find(t, name) >= 0)
        return sl_err_set(err, "column '%s': already in the table", name);
    if (width < 1 || width > SL_TABLE_MAX_WIDTH)
        return sl_err_set(err, "column '%s': width %d is out of range [1, %d]", name, width,
                          SL_TABLE_MAX_WIDTH);
    if (unit && strlen(unit) >= sizeof t->cols->unit)
        return sl_err_set(err, "column '%s': unit '%s' is longer than %zu characters", name,
                          unit, sizeof t->cols->unit - 1);
    if (sl_vec_grow((void **)&t->cols, &t->cols_cap, (size_t)t->n_cols + 1, sizeof *t->cols,
                    err) < 0)
        return -1;
    size_t n = (size_t)t->cap * (size_t)width;
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return sl_err_set(err, "column '%s': out of memory for %zu values", name, n);
    fill_nan(v, (size_t)t->n * (size_t)width);
    sl_table_col *c = &t->cols[t->n_cols];
    memset(c, 0, sizeof *c);
    strcpy(c->name, name);
    strcpy(c->unit, unit ? unit : "");
    c->width = width;
    c->v = v;
    return t->n_cols++;
}

/* Makes room for at least `rows` rows in every column. */
static int reserve(sl_table *t, int rows, sl_err *err)
{
    if (rows <= t->cap)
        return 0;
    /* Doubling for tables grown row by row; exact for one filled at once
     * (sl-merge holds many small ones). */
    int cap = t->cap > INT32_MAX / 2 ? rows : 2 * t->cap;
    if (cap < rows)
        cap = rows;
    for (int c = 0; c < t->n_cols; c++) {
        float *v = realloc(t->cols[c].v, (size_t)cap * (size_t)t->cols[c].width * sizeof *v);
        if (!v)
            return sl_err_set(err, "out of memory for %d rows", cap);
        t->cols[c].v = v;
    }
    t->cap = cap;
    return 0;
}

int sl_table_add_rows(sl_table *t, int k, sl_err *err)
{
    if (k < 0 || k > SL_TABLE_MAX_ROWS - t->n)
        return sl_err_set(err, "%d rows more than %d would exceed %d", k, t->n,
                          SL_TABLE_MAX_ROWS);
    if (reserve(t, t->n + k, err) < 0)
        return -1;
    for (int c = 0; c < t->n_cols; c++)
        fill_nan(sl_table_at(t, c, t->n), (size_t)k * (size_t)t->cols[c].width);
    int first = t->n;
    t->n += k;
    return first;
}

/* ---- Record form ------------------------------------------------------------ */

void sl_table_pack(msgpack_packer *pk, const sl_table *t)
{
    int n_wide = 0, n_units = 0, n_band = 0;
    for (int c = 0; c < t->n_cols; c++) {
        n_wide += t->cols[c].width != 1;
        n_units += t->cols[c].unit[0] != '\0';
        n_band += t->cols[c].per_band;
    }
    sl_map m, sub;
    sl_map_begin(&m, pk, "table", 2 + (n_units > 0) + (n_band > 0) + (uint32_t)t->n_cols);
    sl_map_int(&m, "n", t->n);
    /* Always there, even empty: then a reader knows every other column has
     * width 1 and catches one of the wrong length. */
    sl_map_nest(&m, "widths", &sub, (uint32_t)n_wide);
    for (int c = 0; c < t->n_cols; c++)
        if (t->cols[c].width != 1)
            sl_map_int(&sub, t->cols[c].name, t->cols[c].width);
    sl_map_end(&sub, NULL);
    if (n_units) {
        sl_map_nest(&m, "units", &sub, (uint32_t)n_units);
        for (int c = 0; c < t->n_cols; c++)
            if (t->cols[c].unit[0])
                sl_map_str(&sub, t->cols[c].name, t->cols[c].unit);
        sl_map_end(&sub, NULL);
    }
    if (n_band) {
        msgpack_pack_array(sl_map_key(&m, "per_band"), (uint32_t)n_band);
        for (int c = 0; c < t->n_cols; c++)
            if (t->cols[c].per_band)
                sl_pack_str(pk, t->cols[c].name);
    }
    for (int c = 0; c < t->n_cols; c++)
        sl_map_f32(&m, t->cols[c].name, t->cols[c].v, (size_t)t->n * (size_t)t->cols[c].width);
    sl_map_end(&m, NULL);
}

/* The width of column `name` holding len values: from `widths` when the
 * table has it (1 for a column it does not name), else len / n. */
static int column_width(const sl_record *rec, const char *key, const char *name, int64_t n,
                        size_t len, int *width, sl_err *err)
{
    char path[160];
    snprintf(path, sizeof path, "%s.widths.%s", key, name);
    if (sl_rec_get(rec, path)) {
        int64_t w;
        if (sl_rec_int(rec, path, 1, SL_TABLE_MAX_WIDTH, &w, err) < 0)
            return -1;
        *width = (int)w;
        return 0;
    }
    snprintf(path, sizeof path, "%s.widths", key);
    if (n == 0 || sl_rec_get(rec, path)) {
        *width = 1;
        return 0;
    }
    snprintf(path, sizeof path, "%s.%s", key, name);
    if (len % (size_t)n != 0 || len / (size_t)n > SL_TABLE_MAX_WIDTH || len == 0)
        return sl_rec_fail(rec, path, err, "%zu float32 is not n = %lld rows of 1 to %d values",
                           len, (long long)n, SL_TABLE_MAX_WIDTH);
    *width = (int)(len / (size_t)n);
    return 0;
}

/* Adds the column of map entry kv (a bin) and copies its values in. */
static int read_column(sl_table *t, const sl_record *rec, const char *key,
                       const msgpack_object_kv *kv, sl_err *err)
{
    char name[64], path[160];
    const msgpack_object_str *s = &kv->key.via.str;
    snprintf(name, sizeof name, "%.*s", (int)(s->size < 63 ? s->size : 63), s->ptr);
    snprintf(path, sizeof path, "%s.%s", key, name);
    if (s->size >= sizeof name || memchr(s->ptr, '\0', s->size) || !name_ok(name))
        return sl_rec_fail(rec, path, err, "a column name must be 1 to %zu characters, "
                           "without '.', ',', '\"', spaces or control characters",
                           sizeof t->cols->name - 1);
    if (sl_table_find(t, name) >= 0)
        return 0; /* a repeated key: the first one counts */
    int width = 1;
    size_t len = kv->val.via.bin.size / 4;
    if (column_width(rec, key, name, t->n, len, &width, err) < 0)
        return -1;
    char upath[160];
    snprintf(upath, sizeof upath, "%s.units.%s", key, name);
    char unit[24] = "";
    if (sl_rec_get(rec, upath) && sl_rec_strcpy(rec, upath, unit, sizeof unit, err) < 0)
        return -1;
    size_t count = (size_t)t->n * (size_t)width;
    if (sl_rec_f32_check(rec, path, count, err) < 0)
        return -1;
    int c = sl_table_add_column(t, name, unit, width, err);
    if (c < 0)
        return sl_rec_fail(rec, path, err, "%s", err->msg);
    memcpy(t->cols[c].v, kv->val.via.bin.ptr, count * sizeof(float));
    return 0;
}

int sl_table_read(sl_table *t, const sl_record *rec, const char *key, sl_err *err)
{
    sl_table_free(t);
    const msgpack_object *map = sl_rec_get(rec, key);
    if (!map)
        return sl_rec_fail(rec, key, err, "missing");
    if (map->type != MSGPACK_OBJECT_MAP)
        return sl_rec_fail(rec, key, err, "expected map, got %s", sl_obj_type_name(map));
    char path[160];
    static const char *const maps[] = {"widths", "units"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s.%s", key, maps[i]);
        const msgpack_object *o = sl_rec_get(rec, path);
        if (o && o->type != MSGPACK_OBJECT_MAP)
            return sl_rec_fail(rec, path, err, "expected map, got %s", sl_obj_type_name(o));
    }
    snprintf(path, sizeof path, "%s.per_band", key);
    const msgpack_object *band = sl_rec_get(rec, path);
    if (band && band->type != MSGPACK_OBJECT_ARRAY)
        return sl_rec_fail(rec, path, err, "expected array of column names, got %s",
                           sl_obj_type_name(band));
    int64_t n;
    snprintf(path, sizeof path, "%s.n", key);
    if (sl_rec_int(rec, path, 0, SL_TABLE_MAX_ROWS, &n, err) < 0)
        return -1;
    /* Rows first, so that every column is allocated once at its size. */
    if (reserve(t, (int)n, err) < 0)
        return sl_rec_fail(rec, key, err, "%s", err->msg);
    t->n = (int)n;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->val.type == MSGPACK_OBJECT_BIN &&
            read_column(t, rec, key, kv, err) < 0) {
            sl_table_free(t);
            return -1;
        }
    }
    for (uint32_t i = 0; band && i < band->via.array.size; i++) {
        const msgpack_object *o = &band->via.array.ptr[i];
        for (int c = 0; c < t->n_cols && o->type == MSGPACK_OBJECT_STR; c++)
            if (strlen(t->cols[c].name) == o->via.str.size &&
                memcmp(t->cols[c].name, o->via.str.ptr, o->via.str.size) == 0)
                t->cols[c].per_band = 1;
    }
    /* Positions become pixel indices downstream (cut-outs, tiles): NaN or a
     * value beyond SL_MAX_POSITION is an error here, not undefined behaviour
     * there. */
    for (int c = 0; c < t->n_cols; c++) {
        if (strcmp(t->cols[c].name, "x") != 0 && strcmp(t->cols[c].name, "y") != 0)
            continue;
        for (int r = 0; r < t->n; r++) {
            float v = *sl_table_at(t, c, r);
            if (!(fabsf(v) <= SL_MAX_POSITION)) {
                snprintf(path, sizeof path, "%s.%s", key, t->cols[c].name);
                sl_table_free(t);
                return sl_rec_fail(rec, path, err, "row %d: %g is not a position (finite, at "
                                   "most %g pixels from the origin)", r, (double)v,
                                   SL_MAX_POSITION);
            }
        }
    }
    return 0;
}

/* ---- Appending ----------------------------------------------------------------- */

/* The shift a column takes when positions move into another frame. */
static double shift_of(const char *name, double dx, double dy)
{
    if ((name[0] == 'x' || name[0] == 'y') && (name[1] == '\0' || name[1] == '_'))
        return name[0] == 'x' ? dx : dy;
    return 0;
}

/* Matches src's columns to dst's: map[c] is the src column of dst column c. */
static int match_columns(sl_table *dst, const sl_table *src, int *map, sl_err *err)
{
    int fresh = dst->n_cols == 0;
    for (int c = 0; fresh && c < src->n_cols; c++) {
        if (sl_table_add_column(dst, src->cols[c].name, src->cols[c].unit, src->cols[c].width,
                                err) < 0)
            return -1;
        dst->cols[c].per_band = src->cols[c].per_band;
    }
    for (int c = 0; c < src->n_cols; c++)
        if (sl_table_find(dst, src->cols[c].name) < 0)
            return sl_err_set(err, "column '%s': not in the rows before",
                              src->cols[c].name);
    for (int c = 0; c < dst->n_cols; c++) {
        sl_table_col *d = &dst->cols[c];
        map[c] = sl_table_find(src, d->name);
        if (map[c] < 0)
            return sl_err_set(err, "column '%s': missing", d->name);
        const sl_table_col *s = &src->cols[map[c]];
        if (!d->unit[0])
            strcpy(d->unit, s->unit);
        d->per_band |= s->per_band;
        if (d->width == s->width || src->n == 0)
            continue;
        if (dst->n > 0)
            return sl_err_set(err, "column '%s': width %d does not match the width %d of "
                              "the rows before", d->name, s->width, d->width);
        /* dst holds no rows, so its width was a guess: take src's. */
        float *v = realloc(d->v, ((size_t)dst->cap * (size_t)s->width + 1) * sizeof *v);
        if (!v)
            return sl_err_set(err, "out of memory");
        d->v = v;
        d->width = s->width;
    }
    return 0;
}

int sl_table_append(sl_table *dst, const sl_table *src, const int *rows, int n_rows,
                    double dx, double dy, sl_err *err)
{
    if (!rows)
        n_rows = src->n;
    int *map = malloc(((size_t)dst->n_cols + (size_t)src->n_cols + 1) * sizeof *map);
    if (!map)
        return sl_err_set(err, "out of memory");
    int first = -1;
    if (match_columns(dst, src, map, err) < 0 || (first = sl_table_add_rows(dst, n_rows, err)) < 0) {
        free(map);
        return -1;
    }
    for (int c = 0; c < dst->n_cols; c++) {
        int w = dst->cols[c].width;
        double shift = shift_of(dst->cols[c].name, dx, dy);
        for (int i = 0; i < n_rows; i++) {
            int r = rows ? rows[i] : i;
            const float *in = sl_table_at(src, map[c], r);
            float *out = sl_table_at(dst, c, first + i);
            for (int k = 0; k < w; k++)
                out[k] = shift != 0 ? (float)(in[k] + shift) : in[k];
        }
    }
    free(map);
    return 0;
}

/* ---- Flat formats ------------------------------------------------------------- */

/* A scalar column's name, and its description when the table has them. */
typedef struct flat_name {
    char name[64], desc[200];
} flat_name;

/* The description of element j of column `name` (of band `band` when not
 * NULL), when the table's describer knows it; else "". */
static void describe(const sl_table_out *o, const char *name, const char *band, int j,
                     char *buf, size_t size)
{
    char what[160];
    buf[0] = '\0';
    if (!o->describe || !o->describe(name, what, sizeof what))
        return;
    if (band)
        snprintf(buf, size, "%s, band %s", what, band);
    else
        snprintf(buf, size, j ? "%s, element %d" : "%s", what, j);
}

/* The names of the scalar columns, the id first; NULL on error. */
static flat_name *flat_names(const sl_table_out *o, int *n_flat, sl_err *err)
{
    const sl_table *t = o->t;
    int n = (o->id_name ? 1 : 0) + o->n_dcols;
    for (int c = 0; c < t->n_cols; c++)
        n += t->cols[c].width;
    flat_name *names = calloc((size_t)n + 1, sizeof *names);
    if (!names) {
        sl_err_set(err, "out of memory");
        return NULL;
    }
    int k = 0, marked = 0;
    for (int c = 0; c < t->n_cols; c++)
        marked |= t->cols[c].per_band;
    if (o->id_name)
        snprintf(names[k++].name, sizeof names->name, "%s", o->id_name);
    for (int d = 0; d < o->n_dcols; d++)
        snprintf(names[k++].name, sizeof names->name, "%s", o->dcols[d].name);
    for (int c = 0; c < t->n_cols; c++) {
        const sl_table_col *col = &t->cols[c];
        int by_band = o->bands && col->width == o->n_bands && (col->per_band || !marked);
        for (int j = 0; j < col->width; j++, k++) {
            if (col->width == 1)
                snprintf(names[k].name, sizeof names->name, "%s", col->name);
            else if (by_band)
                snprintf(names[k].name, sizeof names->name, "%s_%s", col->name, o->bands[j]);
            else
                snprintf(names[k].name, sizeof names->name, "%s_%d", col->name, j);
            describe(o, col->name, col->width == 1 ? NULL : by_band ? o->bands[j] : NULL, j,
                     names[k].desc, sizeof names->desc);
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(names[i].name, names[j].name) == 0) {
                sl_err_set(err, "column name '%s' appears twice in the flat table",
                           names[i].name);
                free(names);
                return NULL;
            }
    *n_flat = n;
    return names;
}

/* One HDU's columns; the caller frees cols, names and values. */
static int fits_table(const sl_table_out *o, sl_fits_table_out *out, sl_fits_column_out **cols,
                      flat_name **names, double **values, sl_err *err)
{
    const sl_table *t = o->t;
    int n_flat;
    if (!(*names = flat_names(o, &n_flat, err)))
        return -1;
    *cols = calloc((size_t)n_flat, sizeof **cols);
    *values = malloc(((size_t)n_flat * (size_t)t->n + 1) * sizeof **values);
    if (!*cols || !*values)
        return sl_err_set(err, "out of memory for a table of %d rows", t->n);
    int k = 0;
    if (o->id_name) {
        (*cols)[k] = (sl_fits_column_out){.name = (*names)[k].name, .type = SL_FITS_LLONG,
                                          .i = o->ids, .comment = "id of the parent image"};
        k++;
    }
    for (int d = 0; d < o->n_dcols; d++, k++)
        (*cols)[k] = (sl_fits_column_out){.name = (*names)[k].name, .type = SL_FITS_DOUBLE,
                                          .unit = o->dcols[d].unit, .d = o->dcols[d].v,
                                          .comment = o->dcols[d].desc};
    for (int c = 0; c < t->n_cols; c++)
        for (int j = 0; j < t->cols[c].width; j++, k++) {
            double *d = *values + (size_t)k * (size_t)t->n;
            for (int r = 0; r < t->n; r++)
                d[r] = sl_table_at(t, c, r)[j];
            (*cols)[k] = (sl_fits_column_out){.name = (*names)[k].name, .type = SL_FITS_DOUBLE,
                                              .unit = t->cols[c].unit, .d = d,
                                              .comment = (*names)[k].desc[0] ? (*names)[k].desc
                                                                             : NULL};
        }
    *out = (sl_fits_table_out){.nrows = t->n, .cols = *cols, .ncols = n_flat};
    return 0;
}

int sl_table_write_fits(const char *path, const sl_table_out *tabs, int n_tabs,
                        const sl_fits_key *primary_keys, int n_primary_keys, sl_err *err)
{
    sl_fits_table_out *out = calloc((size_t)n_tabs + 1, sizeof *out);
    sl_fits_column_out **cols = calloc((size_t)n_tabs + 1, sizeof *cols);
    flat_name **names = calloc((size_t)n_tabs + 1, sizeof *names);
    double **values = calloc((size_t)n_tabs + 1, sizeof *values);
    sl_fits_key *ext = calloc((size_t)n_tabs + 1, sizeof *ext);
    int rc = out && cols && names && values && ext ? 0 : sl_err_set(err, "out of memory");
    for (int i = 0; i < n_tabs && rc == 0; i++) {
        rc = fits_table(&tabs[i], &out[i], &cols[i], &names[i], &values[i], err);
        if (tabs[i].extname) {
            ext[i] = SL_FITS_KEY_S("EXTNAME", tabs[i].extname, NULL);
            out[i].keys = &ext[i];
            out[i].nkeys = 1;
        }
    }
    if (rc == 0) {
        sl_fits_out file = {.primary_keys = primary_keys, .nprimary_keys = n_primary_keys,
                            .tables = out, .ntables = n_tabs};
        rc = sl_fits_write(path, &file, err);
    } else {
        sl_err_prefix(err, "%s", path);
    }
    for (int i = 0; i < n_tabs && cols && names && values; i++) {
        free(cols[i]);
        free(names[i]);
        free(values[i]);
    }
    free(out);
    free(cols);
    free(names);
    free(values);
    free(ext);
    return rc;
}

int sl_table_write_csv(FILE *f, const sl_table_out *o, sl_err *err)
{
    int n_flat;
    flat_name *names = flat_names(o, &n_flat, err);
    if (!names)
        return -1;
    for (int k = 0; k < n_flat; k++)
        fprintf(f, "%s%s", k ? "," : "", names[k].name);
    putc('\n', f);
    free(names);
    const sl_table *t = o->t;
    for (int r = 0; r < t->n && !ferror(f); r++) {
        const char *sep = "";
        if (o->id_name) {
            fprintf(f, "%lld", o->ids[r]);
            sep = ",";
        }
        for (int d = 0; d < o->n_dcols; d++, sep = ",") {
            double v = o->dcols[d].v[r];
            if (isnan(v))
                fprintf(f, "%snan", sep);
            else
                fprintf(f, "%s%.17g", sep, v);
        }
        for (int c = 0; c < t->n_cols; c++)
            for (int j = 0; j < t->cols[c].width; j++, sep = ",") {
                float v = sl_table_at(t, c, r)[j];
                if (isnan(v))
                    fprintf(f, "%snan", sep);
                else
                    fprintf(f, "%s%.9g", sep, v);
            }
        putc('\n', f);
    }
    return 0;
}
