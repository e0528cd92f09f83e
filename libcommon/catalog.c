#include "catalog.h"
#include "table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sl_catalog_init(sl_catalog *c, int n_bands)
{
    memset(c, 0, sizeof *c);
    c->n_bands = n_bands;
}

void sl_catalog_free(sl_catalog *c)
{
    free(c->src);
    sl_catalog_init(c, c->n_bands);
}

static void shape_nan(sl_shape *s)
{
    s->disk_frac = s->angle = s->disk_q = s->bulge_q = s->disk_a = s->bulge_a = NAN;
    s->disk_n = s->bulge_n = NAN;
}

sl_source *sl_catalog_add(sl_catalog *c)
{
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        sl_source *p = realloc(c->src, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        c->src = p;
        c->cap = cap;
    }
    sl_source *s = &c->src[c->n++];
    memset(s, 0, sizeof *s);
    shape_nan(&s->shape);
    shape_nan(&s->src_shape);
    s->theta_e = s->e1 = s->e2 = s->shear_g1 = s->shear_g2 = s->src_dx = s->src_dy = NAN;
    s->sigma_v = s->z_lens = s->z_src = s->snr = s->arc_snr = NAN;
    for (int b = 0; b < SL_MAX_BANDS; b++)
        s->src_flux[b] = s->arc_flux[b] = NAN;
    return s;
}

/* The columns of the record form: name, where the value sits in sl_source,
 * and whether it is per band.  Integers (galaxy, lens) are stored as 0/1. */
typedef enum { COL_DOUBLE, COL_INT, COL_BANDS } col_kind;
typedef struct column {
    const char *name;
    size_t offset;
    col_kind kind;
    const char *unit;
} column;

#define COL(name, field, kind, unit) {name, offsetof(sl_source, field), kind, unit}
/* Units (table.h): positions and offsets in pixels, sizes and Einstein radii
 * in arcsec, angles in radians, fluxes in electrons (FITS "ct"). */
static const column columns[] = {
    COL("x", x, COL_DOUBLE, SL_UNIT_PIXEL),
    COL("y", y, COL_DOUBLE, SL_UNIT_PIXEL),
    COL("galaxy", galaxy, COL_INT, ""),
    COL("flux", flux, COL_BANDS, SL_UNIT_FLUX),
    COL("disk_frac", shape.disk_frac, COL_DOUBLE, ""),
    COL("angle", shape.angle, COL_DOUBLE, SL_UNIT_ANGLE),
    COL("disk_q", shape.disk_q, COL_DOUBLE, ""),
    COL("bulge_q", shape.bulge_q, COL_DOUBLE, ""),
    COL("disk_a", shape.disk_a, COL_DOUBLE, SL_UNIT_ARCSEC),
    COL("bulge_a", shape.bulge_a, COL_DOUBLE, SL_UNIT_ARCSEC),
    COL("lens", lens, COL_INT, ""),
    COL("theta_e", theta_e, COL_DOUBLE, SL_UNIT_ARCSEC),
    COL("e1", e1, COL_DOUBLE, ""),
    COL("e2", e2, COL_DOUBLE, ""),
    COL("shear_g1", shear_g1, COL_DOUBLE, ""),
    COL("shear_g2", shear_g2, COL_DOUBLE, ""),
    COL("src_dx", src_dx, COL_DOUBLE, SL_UNIT_PIXEL),
    COL("src_dy", src_dy, COL_DOUBLE, SL_UNIT_PIXEL),
    COL("src_flux", src_flux, COL_BANDS, SL_UNIT_FLUX),
    COL("src_disk_frac", src_shape.disk_frac, COL_DOUBLE, ""),
    COL("src_angle", src_shape.angle, COL_DOUBLE, SL_UNIT_ANGLE),
    COL("src_disk_q", src_shape.disk_q, COL_DOUBLE, ""),
    COL("src_bulge_q", src_shape.bulge_q, COL_DOUBLE, ""),
    COL("src_disk_a", src_shape.disk_a, COL_DOUBLE, SL_UNIT_ARCSEC),
    COL("src_bulge_a", src_shape.bulge_a, COL_DOUBLE, SL_UNIT_ARCSEC),
    COL("sigma_v", sigma_v, COL_DOUBLE, "km/s"),
    COL("z_lens", z_lens, COL_DOUBLE, ""),
    COL("z_src", z_src, COL_DOUBLE, ""),
    COL("disk_n", shape.disk_n, COL_DOUBLE, ""),
    COL("bulge_n", shape.bulge_n, COL_DOUBLE, ""),
    COL("snr", snr, COL_DOUBLE, ""),
    COL("arc_flux", arc_flux, COL_BANDS, SL_UNIT_FLUX),
    COL("arc_snr", arc_snr, COL_DOUBLE, ""),
};
#define N_COLUMNS (sizeof columns / sizeof *columns)

void sl_catalog_round_f32(sl_catalog *c)
{
    for (int i = 0; i < c->n; i++)
        for (size_t k = 0; k < N_COLUMNS; k++) {
            char *base = (char *)&c->src[i] + columns[k].offset;
            if (columns[k].kind == COL_DOUBLE)
                *(double *)base = (float)*(double *)base;
            else if (columns[k].kind == COL_BANDS)
                for (int b = 0; b < c->n_bands; b++)
                    ((double *)base)[b] = (float)((double *)base)[b];
        }
}

void sl_catalog_pack(msgpack_packer *pk, const sl_catalog *c)
{
    int nb = c->n_bands;
    float *buf = malloc(((size_t)c->n * nb + 1) * sizeof *buf);
    sl_map m;
    sl_map_begin(&m, pk, "catalog", 1 + N_COLUMNS);
    sl_map_int(&m, "n", c->n);
    for (size_t k = 0; k < N_COLUMNS; k++) {
        const column *col = &columns[k];
        size_t len = col->kind == COL_BANDS ? (size_t)c->n * nb : (size_t)c->n;
        for (int i = 0; buf && i < c->n; i++) {
            const char *base = (const char *)&c->src[i] + col->offset;
            if (col->kind == COL_INT)
                buf[i] = (float)*(const int *)base;
            else if (col->kind == COL_DOUBLE)
                buf[i] = (float)*(const double *)base;
            else
                for (int b = 0; b < nb; b++)
                    buf[(size_t)i * nb + b] = (float)((const double *)base)[b];
        }
        sl_map_f32(&m, col->name, buf ? buf : (const float *)"", buf ? len : 0);
    }
    free(buf);
    sl_map_end(&m, NULL);
}

int sl_catalog_read(sl_catalog *c, const sl_record *rec, const char *key, int n_bands,
                    sl_err *err)
{
    char path[96];
    int64_t n;
    snprintf(path, sizeof path, "%s.n", key);
    if (sl_rec_int(rec, path, 0, 10000000, &n, err) < 0)
        return -1;
    /* Every column's length is checked before anything is allocated, so that
     * memory follows what the record holds, not the n it declares. */
    for (size_t k = 0; k < N_COLUMNS; k++) {
        const column *col = &columns[k];
        snprintf(path, sizeof path, "%s.%s", key, col->name);
        if (!sl_rec_get(rec, path)) {
            /* Optional columns: x, y, galaxy and flux are what every catalog has. */
            if (k < 4)
                return sl_rec_fail(rec, path, err, "missing");
            continue;
        }
        size_t len = col->kind == COL_BANDS ? (size_t)n * n_bands : (size_t)n;
        if (sl_rec_f32_check(rec, path, len, err) < 0)
            return -1;
    }
    c->n = 0;
    c->n_bands = n_bands;
    for (int64_t i = 0; i < n; i++)
        if (!sl_catalog_add(c))
            return sl_rec_fail(rec, key, err, "out of memory for %lld sources", (long long)n);
    float *buf = malloc(((size_t)n * n_bands + 1) * sizeof *buf);
    if (!buf)
        return sl_rec_fail(rec, key, err, "out of memory for %lld sources", (long long)n);
    for (size_t k = 0; k < N_COLUMNS; k++) {
        const column *col = &columns[k];
        snprintf(path, sizeof path, "%s.%s", key, col->name);
        if (!sl_rec_get(rec, path))
            continue;
        size_t len = col->kind == COL_BANDS ? (size_t)n * n_bands : (size_t)n;
        if (sl_rec_f32(rec, path, buf, len, err) < 0) {
            free(buf);
            return -1;
        }
        /* Positions are converted to pixel indices downstream: NaN or a value
         * beyond SL_MAX_POSITION is an error here, not undefined behaviour there. */
        for (int64_t i = 0; k < 2 && i < n; i++)
            if (!(fabsf(buf[i]) <= SL_MAX_POSITION)) {
                sl_rec_fail(rec, path, err, "source %lld: %g is not a position (finite, at most "
                            "%g pixels from the origin)", (long long)i, (double)buf[i],
                            SL_MAX_POSITION);
                free(buf);
                return -1;
            }
        for (int64_t i = 0; i < n; i++) {
            char *base = (char *)&c->src[i] + col->offset;
            if (col->kind == COL_INT)
                *(int *)base = buf[i] > 0.5f;
            else if (col->kind == COL_DOUBLE)
                *(double *)base = buf[i];
            else
                for (int b = 0; b < n_bands; b++)
                    ((double *)base)[b] = buf[i * n_bands + b];
        }
    }
    free(buf);
    return 0;
}

size_t sl_catalog_n_columns(void)
{
    return N_COLUMNS;
}

const char *sl_catalog_column_name(size_t k, int *per_band, const char **unit)
{
    *per_band = columns[k].kind == COL_BANDS;
    *unit = columns[k].unit;
    return columns[k].name;
}

void sl_catalog_column_values(const sl_catalog *c, size_t k, int band, double *out)
{
    const column *col = &columns[k];
    for (int i = 0; i < c->n; i++) {
        const char *base = (const char *)&c->src[i] + col->offset;
        out[i] = col->kind == COL_INT      ? *(const int *)base
                 : col->kind == COL_DOUBLE ? *(const double *)base
                                           : ((const double *)base)[band];
    }
}
