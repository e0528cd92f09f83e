/* table.h: a catalog as a table of named float32 columns, the form of the
 * `estimate` (and `truth`) key of image and catalog records (man 5
 * sl-records), and its FITS and CSV writers.
 *
 * A column has a width w: each row holds w values (w = B for per-band fluxes,
 * 15 for a 5x5 Cholesky factor, 1 for most).  Values are stored row-major,
 * v[row * w + k], and NaN stands for "does not apply".
 *
 * Record form: a map with `n` (int, the rows), one bin of n*w float32 per
 * column, [row][k]; `widths` (map: column -> int) naming the columns whose
 * w is not 1; optional `units` (map: column -> str) and `per_band` (array of
 * the names of the columns holding one value per band).  A table without
 * `widths` (the truth catalogs of libcommon/catalog.h) is read with each
 * column's width its length over n, and 1 when n = 0.  Other keys that are
 * not bins are ignored.
 *
 * Because an empty table cannot tell a per-band column from a scalar one,
 * widths are compared only between tables that both hold rows: an empty
 * table takes the widths of the first one with rows appended to it.
 *
 *     sl_table t;
 *     sl_table_init(&t);
 *     int x = sl_table_add_column(&t, "x", SL_UNIT_PIXEL, 1, &err);
 *     int r = sl_table_add_rows(&t, 1, &err);
 *     *sl_table_at(&t, x, r) = 12.5f;
 *     sl_table_pack(pk, &t);
 *     sl_table_free(&t);
 */
#ifndef SL_TABLE_H
#define SL_TABLE_H

#include <stdint.h>
#include <stdio.h>

#include "fits.h"
#include "record.h"

/* Column units, as FITS writes them (TUNITn) and astropy reads them back:
 * the same for the same quantity in truth and estimate tables. */
#define SL_UNIT_PIXEL "pix"
#define SL_UNIT_FLUX "ct"  /* electrons: FITS has no unit for them; counts they are */
#define SL_UNIT_ANGLE "rad"
#define SL_UNIT_ARCSEC "arcsec"

/* Limits a reader enforces: rows per table, values per row of a column. */
#define SL_TABLE_MAX_ROWS 10000000
#define SL_TABLE_MAX_WIDTH 4096

typedef struct sl_table_col {
    char name[48]; /* 1 to 47 bytes; no '.', ',', '"', spaces or control characters */
    char unit[24]; /* "" when unknown */
    int width;
    int per_band;  /* one value per band: set it after sl_table_add_column */
    float *v;      /* cap * width values; the first n * width are rows */
} sl_table_col;

typedef struct sl_table {
    int n, cap;           /* rows, and rows allocated in every column */
    int n_cols;
    size_t cols_cap;
    sl_table_col *cols;
} sl_table;

void sl_table_init(sl_table *t);
void sl_table_free(sl_table *t);
/* Drops every row and keeps the columns. */
void sl_table_clear(sl_table *t);

/* Adds a column (unit may be NULL); the rows already there get NaN.  Returns
 * its index, or -1 for a bad or repeated name, a bad width, or no memory. */
int sl_table_add_column(sl_table *t, const char *name, const char *unit, int width,
                        sl_err *err);
/* The index of the column called name, or -1. */
int sl_table_find(const sl_table *t, const char *name);
/* Appends k rows of NaN; returns the index of the first, or -1. */
int sl_table_add_rows(sl_table *t, int k, sl_err *err);

/* The width values of row `row` of column col. */
static inline float *sl_table_at(const sl_table *t, int col, int row)
{
    return t->cols[col].v + (size_t)row * (size_t)t->cols[col].width;
}

/* Packs the table as the value of a map key (the caller packed the key). */
void sl_table_pack(msgpack_packer *pk, const sl_table *t);
/* Replaces t's contents with the table under key ("estimate", "truth") of a
 * record.  Errors name it as the record accessors do:
 * "a.slr: record 4: key 'estimate.flux': expected bin of 6 float32, got 20 bytes". */
int sl_table_read(sl_table *t, const sl_record *rec, const char *key, sl_err *err);

/* Appends rows[0..n_rows) of src (every row when rows is NULL) to dst.
 * Columns are matched by name: one missing on either side is an error
 * naming it, as is a width that differs while both tables hold rows.  A dst
 * without columns first takes src's.  Position columns are shifted into
 * another frame: dx is added to a column named "x" or starting with "x_"
 * (its quantiles, "x_q05"), dy likewise to "y" and "y_*"; so no other
 * quantity may be named that way. */
int sl_table_append(sl_table *dst, const sl_table *src, const int *rows, int n_rows,
                    double dx, double dy, sl_err *err);

/* ---- Flat formats ------------------------------------------------------------
 * FITS and CSV have scalar columns only: a column of width w becomes w
 * columns name_<band> (flux_g, flux_r, ...) when it is per band and w equals
 * the number of bands given, else name_0 ... name_<w-1>.  A table that marks
 * no column per band (the truth form) gets band names for every column as
 * wide as the bands.  A leading integer column (the id of the image each row
 * belongs to) may be added, and after it columns of doubles (sky
 * coordinates, which float32 would round to 0.1 arcsec). */
typedef struct sl_table_dcol {
    const char *name, *unit, *desc;
    const double *v;          /* t->n values */
} sl_table_dcol;

#define SL_TABLE_MAX_DCOLS 4

typedef struct sl_table_out {
    const sl_table *t;
    const char *extname;      /* FITS EXTNAME of its HDU, or NULL */
    const char *id_name;      /* the leading integer column, or NULL for none */
    const long long *ids;     /* its t->n values */
    const char *const *bands; /* names of the values of n_bands-wide columns */
    int n_bands;
    sl_table_dcol dcols[SL_TABLE_MAX_DCOLS];
    int n_dcols;
    /* The description of a column (FITS TCOMMn) into buf: 1, or 0 for
     * none; NULL: no descriptions. */
    int (*describe)(const char *column, char *buf, size_t size);
} sl_table_out;

/* A FITS file of an empty primary HDU (with the given keys) and one binary
 * table HDU per table, values as doubles ('D'), the id as 64-bit ('K').
 * Written under path.tmp and renamed (sl_fits_write). */
int sl_table_write_fits(const char *path, const sl_table_out *tabs, int n_tabs,
                        const sl_fits_key *primary_keys, int n_primary_keys, sl_err *err);
/* CSV: a header line of the column names, then one line per row, values
 * with %.9g (enough to read every float32 back exactly; doubles %.17g), NaN
 * as "nan" (which
 * strtod, numpy and pandas read as NaN).  Only a repeated flat column name
 * is an error here; write errors stay in f for its closer to report. */
int sl_table_write_csv(FILE *f, const sl_table_out *t, sl_err *err);

#endif
