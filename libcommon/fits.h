/* fits.h: reading and writing FITS files through cfitsio.
 *
 * HDU numbers are 0-based, as in cfitsio's "file.fits[n]" syntax and in
 * astropy: 0 is the primary HDU, 1 the first extension.  Table rows are
 * 0-based too.  Every error message starts with the file name as the caller
 * gave it and, once an HDU is selected, the HDU: "x.fits: HDU 2: not an
 * image", "x.fits: cannot open: could not open the named file (No such file
 * or directory)".
 *
 * Reading: open a file, move between HDUs, read an image as float (any
 * BITPIX, BSCALE/BZERO applied, BLANK pixels of integer images read as NaN),
 * read header keywords and table cells:
 *
 *     sl_fits *f = sl_fits_open("frame.fits[1]", &err);
 *     float *pix = sl_fits_read_image(f, &w, &h, &nnan, &err);
 *     sl_fits_key_double(f, "GAIN", &gain, &err);
 *     sl_fits_close(f);
 *
 * Writing: sl_fits_write() makes a whole file at once (an empty primary with
 * keywords, image HDUs, binary tables) under "path.tmp" and renames it to
 * path only when everything succeeded.
 *
 * One sl_fits handle must not be used by two threads at once; separate
 * handles in separate threads are fine (Debian builds cfitsio reentrant). */
#ifndef SL_FITS_H
#define SL_FITS_H

#include <stddef.h>

#include "err.h"

typedef struct sl_fits sl_fits;

/* Opens path read-only.  The name may use cfitsio's extended syntax
 * ("f.fits[2]", "f.fits[SCI]", "f.fits.gz"); the HDU it names becomes the
 * current one.  A plain name selects the primary HDU, or the first HDU with
 * data when the primary is empty (as in multi-extension and tile-compressed
 * files).  Returns NULL on error. */
sl_fits *sl_fits_open(const char *path, sl_err *err);
void sl_fits_close(sl_fits *f);

/* The current HDU (0-based) and the number of HDUs in the file. */
int sl_fits_hdu(const sl_fits *f);
int sl_fits_count_hdus(sl_fits *f, sl_err *err);
/* Makes HDU hdu (0-based) current. */
int sl_fits_goto(sl_fits *f, int hdu, sl_err *err);

/* Reads the current HDU, which must be a 2-D image (extra axes of length 1
 * are allowed), as float32 row-major [y][x] with *w columns and *h rows.
 * *nnan (when not NULL) receives the number of NaN pixels, so that callers
 * can mask them.  Returns a malloc'ed array (free() it) or NULL on error. */
float *sl_fits_read_image(sl_fits *f, int *w, int *h, long *nnan, sl_err *err);

/* Open, move to HDU hdu (or keep the HDU the name selects when hdu < 0),
 * read the image, close. */
float *sl_fits_read_image_file(const char *path, int hdu, int *w, int *h,
                               long *nnan, sl_err *err);

/* Header keywords of the current HDU.  A missing keyword is an error that
 * names it; sl_fits_has_key() tests first for optional ones. */
int sl_fits_has_key(sl_fits *f, const char *key);
/* The current HDU's header as nkeys 80-character cards (cfitsio's
 * fits_hdr2str), malloc'ed into *header. */
int sl_fits_header(sl_fits *f, char **header, int *nkeys, sl_err *err);
int sl_fits_key_double(sl_fits *f, const char *key, double *val, sl_err *err);
/* Copies a string value (quotes removed, long CONTINUE strings joined);
 * a value longer than size - 1 bytes is an error, not a silent cut. */
int sl_fits_key_string(sl_fits *f, const char *key, char *buf, size_t size,
                       sl_err *err);

/* Binary or ASCII table in the current HDU: number of rows, and the cell of
 * column col (name matched without regard to case) in row `row`.  The cell
 * must hold at least n elements; the first n are read. */
long sl_fits_table_rows(sl_fits *f, sl_err *err);
int sl_fits_column_double(sl_fits *f, const char *col, long row, double *vals,
                          long n, sl_err *err);
int sl_fits_column_llong(sl_fits *f, const char *col, long row,
                         long long *vals, long n, sl_err *err);
int sl_fits_column_string(sl_fits *f, const char *col, long row, char *buf,
                          size_t size, sl_err *err);

/* ---- writing ---- */

typedef enum { SL_FITS_DOUBLE, SL_FITS_LLONG, SL_FITS_STRING } sl_fits_type;

/* One header keyword chosen by the caller (name, value, comment).  The value
 * is d, i or s according to type.  Names longer than 8 characters are
 * written with the HIERARCH convention.  Structural keywords (SIMPLE,
 * BITPIX, NAXISn, EXTEND, XTENSION, PCOUNT, GCOUNT, TFIELDS, TTYPEn, TFORMn,
 * TUNITn, END) belong to the writer and are refused. */
typedef struct sl_fits_key {
    const char *name;
    sl_fits_type type;
    double d;
    long long i;
    const char *s;
    const char *comment; /* may be NULL */
} sl_fits_key;

#define SL_FITS_KEY_D(name_, value_, comment_)                                  \
    ((sl_fits_key){.name = (name_), .type = SL_FITS_DOUBLE, .d = (value_),      \
                   .comment = (comment_)})
#define SL_FITS_KEY_I(name_, value_, comment_)                                  \
    ((sl_fits_key){.name = (name_), .type = SL_FITS_LLONG, .i = (value_),       \
                   .comment = (comment_)})
#define SL_FITS_KEY_S(name_, value_, comment_)                                  \
    ((sl_fits_key){.name = (name_), .type = SL_FITS_STRING, .s = (value_),      \
                   .comment = (comment_)})

/* A float32 image HDU of w x h pixels, row-major [y][x] (NaN allowed). */
typedef struct sl_fits_image_out {
    const float *pix;
    int w, h;
    const sl_fits_key *keys;
    int nkeys;
} sl_fits_image_out;

/* A table column: nrows doubles ('D'), 64-bit integers ('K') or strings
 * ('A', as wide as the longest; NULL entries are written empty). */
typedef struct sl_fits_column_out {
    const char *name;
    const char *unit; /* may be NULL */
    const char *comment; /* its description (TCOMMn), or NULL */
    sl_fits_type type;
    const double *d;
    const long long *i;
    const char *const *s;
} sl_fits_column_out;

typedef struct sl_fits_table_out {
    long nrows;
    const sl_fits_column_out *cols;
    int ncols;
    const sl_fits_key *keys; /* EXTNAME and the like */
    int nkeys;
} sl_fits_table_out;

/* Everything that goes into one file, in this order: an empty primary HDU
 * with primary_keys, the images (HDU 1..nimages), then the tables. */
typedef struct sl_fits_out {
    const sl_fits_key *primary_keys;
    int nprimary_keys;
    const sl_fits_image_out *images;
    int nimages;
    const sl_fits_table_out *tables;
    int ntables;
} sl_fits_out;

/* Writes out to "path.tmp", then renames it to path; on any failure the
 * temporary is removed and path is left as it was.  The name is taken
 * literally (no cfitsio extended syntax; a ".gz" name is not compressed). */
int sl_fits_write(const char *path, const sl_fits_out *out, sl_err *err);

#endif
