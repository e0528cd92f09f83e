/* fits.c: the cfitsio calls behind fits.h, with errors that name the file
 * and the HDU.  cfitsio numbers HDUs from 1; this file converts at the
 * boundary so that everything outside sees 0-based numbers. */
#include "fits.h"

#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct sl_fits {
    fitsfile *fp;
    char *path; /* as the caller spelt it, for messages */
};

/* "<prefix>: <cfitsio status text>", e.g. "x.fits: HDU 1: cannot read
 * image: tried to move past end of file". */
static int fits_fail(sl_err *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fits_fail(sl_err *err, int status, const char *fmt, ...)
{
    char prefix[768], text[FLEN_STATUS];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    fits_get_errstatus(status, text);
    return sl_err_set(err, "%s: %s", prefix, text);
}

static int cur_hdu(const sl_fits *f)
{
    int n = 1;
    fits_get_hdu_num(f->fp, &n);
    return n - 1;
}

/* cfitsio says "error reading from FITS file" for a text file, a directory
 * and a cut header alike.  When path names a plain file (no extended
 * syntax), looking at it ourselves tells the user which one it is. */
static int explain_open_failure(const char *path, sl_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode))
        return sl_err_set(err, "%s: cannot open: is a directory", path);
    FILE *fp = S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
    if (!fp)
        return 0;
    unsigned char head[10] = {0};
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    int compressed = n >= 2 && ((head[0] == 0x1f && (head[1] == 0x8b || head[1] == 0x9d)) ||
                                (head[0] == 'B' && head[1] == 'Z'));
    if (compressed)
        return 0;
    if (n < 9 || memcmp(head, "SIMPLE  =", 9) != 0)
        return sl_err_set(err, "%s: cannot open: not a FITS file (it does not "
                          "start with SIMPLE)", path);
    if (st.st_size < 2880)
        return sl_err_set(err, "%s: cannot open: truncated FITS file (%lld bytes, "
                          "less than one 2880-byte block)", path, (long long)st.st_size);
    return 0;
}

sl_fits *sl_fits_open(const char *path, sl_err *err)
{
    int status = 0;
    fitsfile *fp = NULL;
    /* cfitsio reads URLs through its network drivers (and leaks in their
     * error paths): only local files are read. */
    if (strstr(path, "://")) {
        sl_err_set(err, "%s: cannot open: a URL (only local files are read)", path);
        return NULL;
    }
    errno = 0;
    /* fits_open_data, unlike fits_open_file, skips an empty primary when the
     * name selects no HDU: the usual layout of multi-extension files.  On
     * failure cfitsio has mostly closed the file and left fp NULL, but not
     * always: when moving past an empty primary fails (stray bytes after it)
     * the handle is left open, and is closed here. */
    if (fits_open_data(&fp, path, READONLY, &status)) {
        int e = errno;
        if (fp) {
            int st = 0;
            fits_close_file(fp, &st);
        }
        if (status == FILE_NOT_OPENED && e != 0) {
            char text[FLEN_STATUS];
            fits_get_errstatus(status, text);
            sl_err_set(err, "%s: cannot open: %s (%s)", path, text, strerror(e));
        } else if (status == END_OF_FILE && strchr(path, '[')) {
            sl_err_set(err, "%s: cannot open: no such HDU", path);
        } else if (explain_open_failure(path, err) == 0) {
            fits_fail(err, status, "%s: cannot open", path);
        }
        return NULL;
    }
    sl_fits *f = calloc(1, sizeof *f);
    if (f)
        f->path = strdup(path);
    if (!f || !f->path) {
        int st = 0;
        fits_close_file(fp, &st);
        free(f);
        sl_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    f->fp = fp;
    return f;
}

void sl_fits_close(sl_fits *f)
{
    if (!f)
        return;
    int status = 0;
    fits_close_file(f->fp, &status);
    free(f->path);
    free(f);
}

int sl_fits_hdu(const sl_fits *f)
{
    return cur_hdu(f);
}

int sl_fits_count_hdus(sl_fits *f, sl_err *err)
{
    int status = 0, n = 0;
    if (fits_get_num_hdus(f->fp, &n, &status))
        return fits_fail(err, status, "%s: cannot count HDUs", f->path);
    return n;
}

int sl_fits_goto(sl_fits *f, int hdu, sl_err *err)
{
    int status = 0, type;
    if (hdu < 0)
        return sl_err_set(err, "%s: HDU %d: no such HDU", f->path, hdu);
    if (fits_movabs_hdu(f->fp, hdu + 1, &type, &status)) {
        int n = 0, st = 0;
        fits_get_num_hdus(f->fp, &n, &st);
        if (status == END_OF_FILE && st == 0)
            return sl_err_set(err, "%s: HDU %d: no such HDU (the file has %d)",
                              f->path, hdu, n);
        return fits_fail(err, status, "%s: HDU %d: cannot read", f->path, hdu);
    }
    return 0;
}

/* Checks that the current HDU is an image with two axes of data and returns
 * their lengths.  Tile-compressed images live in binary tables but cfitsio
 * presents them as images, hence the second test. */
static int image_size(sl_fits *f, long long *nx, long long *ny, sl_err *err)
{
    int status = 0, type = 0, naxis = 0, hdu = cur_hdu(f);
    long long dims[9];
    fits_get_hdu_type(f->fp, &type, &status);
    if (!status && type != IMAGE_HDU && !fits_is_compressed_image(f->fp, &status))
        return sl_err_set(err, "%s: HDU %d: not an image (a %s table)", f->path,
                          hdu, type == BINARY_TBL ? "binary" : "ASCII");
    if (!status)
        fits_get_img_dim(f->fp, &naxis, &status);
    if (!status && naxis > 9)
        return sl_err_set(err, "%s: HDU %d: image has %d axes", f->path, hdu, naxis);
    if (!status)
        fits_get_img_sizell(f->fp, naxis, dims, &status);
    if (status)
        return fits_fail(err, status, "%s: HDU %d: cannot read image header",
                         f->path, hdu);
    if (naxis == 0)
        return sl_err_set(err, "%s: HDU %d: not an image (no data, NAXIS = 0)",
                          f->path, hdu);
    int extra = 0;
    for (int i = 2; i < naxis; i++)
        extra |= dims[i] != 1;
    if (naxis == 1 || extra) {
        char shape[256] = "";
        for (int i = 0, o = 0; i < naxis && o < (int)sizeof shape; i++)
            o += snprintf(shape + o, sizeof shape - o, "%s%lld", i ? " x " : "",
                          dims[i]);
        return sl_err_set(err, "%s: HDU %d: image is %d-D (%s), want 2-D",
                          f->path, hdu, naxis, shape);
    }
    if (dims[0] < 1 || dims[1] < 1 || dims[0] > INT32_MAX || dims[1] > INT32_MAX ||
        dims[0] * dims[1] > (long long)(SIZE_MAX / sizeof(float) / 2))
        return sl_err_set(err, "%s: HDU %d: bad image size %lld x %lld", f->path,
                          hdu, dims[0], dims[1]);
    *nx = dims[0];
    *ny = dims[1];
    return 0;
}

float *sl_fits_read_image(sl_fits *f, int *w, int *h, long *nnan, sl_err *err)
{
    long long nx = 0, ny = 0;
    if (image_size(f, &nx, &ny, err))
        return NULL;
    size_t n = (size_t)nx * (size_t)ny;
    float *pix = malloc(n * sizeof *pix);
    if (!pix) {
        sl_err_set(err, "%s: HDU %d: out of memory for %lld x %lld pixels",
                   f->path, cur_hdu(f), nx, ny);
        return NULL;
    }
    /* Integer pixels equal to BLANK come back as NaN, like float NaNs. */
    float nulval = NAN;
    int status = 0, anynul = 0;
    if (fits_read_img(f->fp, TFLOAT, 1, (LONGLONG)n, &nulval, pix, &anynul, &status)) {
        free(pix);
        char text[FLEN_STATUS];
        fits_get_errstatus(status, text);
        int cut = status == READ_ERROR || status == END_OF_FILE;
        sl_err_set(err, "%s: HDU %d: cannot read image: %s%s", f->path, cur_hdu(f),
                   text, cut ? " (is the file truncated?)" : "");
        return NULL;
    }
    if (nnan) {
        long count = 0;
        for (size_t i = 0; i < n; i++)
            count += isnan(pix[i]) != 0;
        *nnan = count;
    }
    *w = (int)nx;
    *h = (int)ny;
    return pix;
}

float *sl_fits_read_image_file(const char *path, int hdu, int *w, int *h,
                               long *nnan, sl_err *err)
{
    sl_fits *f = sl_fits_open(path, err);
    if (!f)
        return NULL;
    float *pix = NULL;
    if (hdu < 0 || sl_fits_goto(f, hdu, err) == 0)
        pix = sl_fits_read_image(f, w, h, nnan, err);
    sl_fits_close(f);
    return pix;
}

int sl_fits_has_key(sl_fits *f, const char *key)
{
    char value[FLEN_VALUE];
    int status = 0;
    return fits_read_keyword(f->fp, key, value, NULL, &status) == 0;
}

int sl_fits_header(sl_fits *f, char **header, int *nkeys, sl_err *err)
{
    char *h = NULL;
    int status = 0;
    *header = NULL;
    if (fits_hdr2str(f->fp, 0, NULL, 0, &h, nkeys, &status))
        return fits_fail(err, status, "%s: HDU %d: cannot read the header", f->path,
                         sl_fits_hdu(f));
    size_t len = strlen(h) + 1;
    if ((*header = malloc(len)))
        memcpy(*header, h, len);
    fits_free_memory(h, &status);
    return *header ? 0 : sl_err_set(err, "%s: out of memory for the header", f->path);
}

static int key_fail(sl_fits *f, int status, const char *key, sl_err *err)
{
    if (status == KEY_NO_EXIST)
        return sl_err_set(err, "%s: HDU %d: keyword %s not found", f->path,
                          cur_hdu(f), key);
    return fits_fail(err, status, "%s: HDU %d: keyword %s", f->path, cur_hdu(f), key);
}

int sl_fits_key_double(sl_fits *f, const char *key, double *val, sl_err *err)
{
    int status = 0;
    if (fits_read_key(f->fp, TDOUBLE, key, val, NULL, &status))
        return key_fail(f, status, key, err);
    return 0;
}

int sl_fits_key_string(sl_fits *f, const char *key, char *buf, size_t size,
                       sl_err *err)
{
    int status = 0;
    char *value = NULL;
    if (fits_read_key_longstr(f->fp, key, &value, NULL, &status))
        return key_fail(f, status, key, err);
    size_t len = strlen(value);
    int rc = 0;
    if (len >= size)
        rc = sl_err_set(err, "%s: HDU %d: keyword %s: value of %zu characters is "
                        "longer than the %zu allowed", f->path, cur_hdu(f), key,
                        len, size ? size - 1 : 0);
    else
        memcpy(buf, value, len + 1);
    fits_free_memory(value, &status);
    return rc;
}

static int need_table(sl_fits *f, sl_err *err)
{
    int status = 0, type = 0;
    if (fits_get_hdu_type(f->fp, &type, &status))
        return fits_fail(err, status, "%s: HDU %d: cannot read", f->path, cur_hdu(f));
    if (type == IMAGE_HDU)
        return sl_err_set(err, "%s: HDU %d: not a table (an image)", f->path,
                          cur_hdu(f));
    return 0;
}

long sl_fits_table_rows(sl_fits *f, sl_err *err)
{
    int status = 0;
    LONGLONG n = 0;
    if (need_table(f, err))
        return -1;
    if (fits_get_num_rowsll(f->fp, &n, &status))
        return fits_fail(err, status, "%s: HDU %d: cannot read table", f->path,
                         cur_hdu(f));
    return (long)n;
}

/* Finds column col, checks that row exists, and returns the column number,
 * its cfitsio type code and its repeat count (characters for strings). */
static int find_cell(sl_fits *f, const char *col, long row, int *colnum,
                     int *type, long long *repeat, sl_err *err)
{
    int status = 0, hdu = cur_hdu(f);
    long nrows = sl_fits_table_rows(f, err);
    if (nrows < 0)
        return -1;
    /* cfitsio would read '*', '?' and '#' as wildcards. */
    if (col[strcspn(col, "*?#")] != '\0')
        return sl_err_set(err, "%s: HDU %d: bad column name \"%s\"", f->path, hdu, col);
    LONGLONG rep = 0, width = 0;
    if (fits_get_colnum(f->fp, CASEINSEN, (char *)col, colnum, &status)) {
        if (status == COL_NOT_FOUND)
            return sl_err_set(err, "%s: HDU %d: no column %s", f->path, hdu, col);
        return fits_fail(err, status, "%s: HDU %d: column %s", f->path, hdu, col);
    }
    if (fits_get_coltypell(f->fp, *colnum, type, &rep, &width, &status))
        return fits_fail(err, status, "%s: HDU %d: column %s", f->path, hdu, col);
    if (*type < 0)
        return sl_err_set(err, "%s: HDU %d: column %s has variable-length cells, "
                          "which are not supported", f->path, hdu, col);
    if (row < 0 || row >= nrows)
        return sl_err_set(err, "%s: HDU %d: column %s: row %ld out of range (the "
                          "table has %ld rows)", f->path, hdu, col, row, nrows);
    *repeat = rep;
    return 0;
}

static int read_numbers(sl_fits *f, const char *col, long row, int datatype,
                        void *vals, long n, sl_err *err)
{
    int colnum, type, status = 0, hdu = cur_hdu(f);
    long long repeat;
    if (find_cell(f, col, row, &colnum, &type, &repeat, err))
        return -1;
    if (type == TSTRING)
        return sl_err_set(err, "%s: HDU %d: column %s holds strings, not numbers",
                          f->path, hdu, col);
    if (n < 1 || n > repeat)
        return sl_err_set(err, "%s: HDU %d: column %s has %lld elements per row, "
                          "asked for %ld", f->path, hdu, col, repeat, n);
    if (fits_read_col(f->fp, datatype, colnum, row + 1, 1, n, NULL, vals, NULL, &status))
        return fits_fail(err, status, "%s: HDU %d: column %s: row %ld", f->path,
                         hdu, col, row);
    return 0;
}

int sl_fits_column_double(sl_fits *f, const char *col, long row, double *vals,
                          long n, sl_err *err)
{
    return read_numbers(f, col, row, TDOUBLE, vals, n, err);
}

int sl_fits_column_llong(sl_fits *f, const char *col, long row,
                         long long *vals, long n, sl_err *err)
{
    return read_numbers(f, col, row, TLONGLONG, vals, n, err);
}

/* FITS strings end at their last non-blank; cfitsio gives "" back as " ". */
static size_t trim_blanks(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return n;
}

int sl_fits_column_string(sl_fits *f, const char *col, long row, char *buf,
                          size_t size, sl_err *err)
{
    int colnum, type, status = 0, hdu = cur_hdu(f);
    long long repeat;
    if (find_cell(f, col, row, &colnum, &type, &repeat, err))
        return -1;
    if (type != TSTRING)
        return sl_err_set(err, "%s: HDU %d: column %s holds numbers, not strings",
                          f->path, hdu, col);
    char *cell = malloc((size_t)repeat + 1);
    if (!cell)
        return sl_err_set(err, "%s: HDU %d: out of memory", f->path, hdu);
    int rc = 0;
    if (fits_read_col(f->fp, TSTRING, colnum, row + 1, 1, 1, NULL, &cell, NULL, &status))
        rc = fits_fail(err, status, "%s: HDU %d: column %s: row %ld", f->path, hdu,
                       col, row);
    else if (trim_blanks(cell) >= size)
        rc = sl_err_set(err, "%s: HDU %d: column %s: row %ld: string of %zu "
                        "characters is longer than the %zu allowed", f->path, hdu,
                        col, row, strlen(cell), size ? size - 1 : 0);
    else
        memcpy(buf, cell, strlen(cell) + 1);
    free(cell);
    return rc;
}

/* ---- writing ---- */

static int is_structural(const char *name)
{
    static const char *const fixed[] = {"SIMPLE", "BITPIX", "EXTEND", "XTENSION",
                                        "PCOUNT", "GCOUNT", "TFIELDS", "END"};
    static const char *const indexed[] = {"NAXIS", "TTYPE", "TFORM", "TUNIT", "TCOMM"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcasecmp(name, fixed[i]))
            return 1;
    for (size_t i = 0; i < sizeof indexed / sizeof *indexed; i++) {
        size_t n = strlen(indexed[i]);
        if (!strncasecmp(name, indexed[i], n) &&
            strspn(name + n, "0123456789") == strlen(name + n))
            return 1;
    }
    return 0;
}

/* Writes a double with the fewest significant digits (15 to 17) that read
 * back to the same value: exact, and 0.396 stays 0.396 in the header. */
static void write_double_key(fitsfile *fp, const char *name, double v,
                             const char *comment, int *status)
{
    int digits = 15;
    for (; digits < 17; digits++) {
        char text[40];
        snprintf(text, sizeof text, "%.*G", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    fits_update_key_dbl(fp, name, v, -digits, comment, status);
}

static int write_keys(fitsfile *fp, const sl_fits_key *keys, int nkeys,
                      const char *where, sl_err *err)
{
    for (int k = 0; k < nkeys; k++) {
        const sl_fits_key *key = &keys[k];
        int status = 0;
        if (!key->name || !key->name[0])
            return sl_err_set(err, "%s: keyword %d has no name", where, k);
        if (is_structural(key->name))
            return sl_err_set(err, "%s: keyword %s is written by the FITS writer "
                              "itself", where, key->name);
        switch (key->type) {
        case SL_FITS_DOUBLE:
            if (!isfinite(key->d))
                return sl_err_set(err, "%s: keyword %s: value %g cannot be "
                                  "written to FITS", where, key->name, key->d);
            write_double_key(fp, key->name, key->d, key->comment, &status);
            break;
        case SL_FITS_LLONG: {
            LONGLONG v = key->i;
            fits_update_key(fp, TLONGLONG, key->name, &v, key->comment, &status);
            break;
        }
        case SL_FITS_STRING:
            /* The long-string form writes short values as ordinary cards and
             * continues long ones with CONTINUE instead of cutting them. */
            fits_update_key_longstr(fp, key->name, key->s ? key->s : "",
                                    key->comment, &status);
            break;
        default:
            return sl_err_set(err, "%s: keyword %s: unknown value type %d", where,
                              key->name, (int)key->type);
        }
        if (status)
            return fits_fail(err, status, "%s: cannot write keyword %s", where,
                             key->name);
    }
    return 0;
}

static int write_image(fitsfile *fp, const sl_fits_image_out *im, const char *where,
                       sl_err *err)
{
    int status = 0;
    if (!im->pix || im->w < 1 || im->h < 1)
        return sl_err_set(err, "%s: image of %d x %d pixels%s", where, im->w, im->h,
                          im->pix ? "" : " without data");
    long naxes[2] = {im->w, im->h};
    fits_create_img(fp, FLOAT_IMG, 2, naxes, &status);
    if (!status)
        fits_write_img(fp, TFLOAT, 1, (LONGLONG)im->w * im->h, (void *)im->pix, &status);
    if (status)
        return fits_fail(err, status, "%s: cannot write image", where);
    return write_keys(fp, im->keys, im->nkeys, where, err);
}

static int write_column(fitsfile *fp, int colnum, long nrows,
                        const sl_fits_column_out *c, const char *where, sl_err *err)
{
    int status = 0;
    if (c->type == SL_FITS_DOUBLE)
        fits_write_col(fp, TDOUBLE, colnum, 1, 1, nrows, (void *)c->d, &status);
    else if (c->type == SL_FITS_LLONG)
        fits_write_col(fp, TLONGLONG, colnum, 1, 1, nrows, (void *)c->i, &status);
    else {
        /* cfitsio wants char **, and NULL entries must become "". */
        char **s = malloc((size_t)nrows * sizeof *s);
        if (!s)
            return sl_err_set(err, "%s: out of memory", where);
        for (long r = 0; r < nrows; r++)
            s[r] = (char *)(c->s[r] ? c->s[r] : "");
        fits_write_col(fp, TSTRING, colnum, 1, 1, nrows, s, &status);
        free(s);
    }
    if (status)
        return fits_fail(err, status, "%s: cannot write column %s", where, c->name);
    return 0;
}

static int write_table(fitsfile *fp, const sl_fits_table_out *t, const char *where,
                       sl_err *err)
{
    if (t->ncols < 1 || t->ncols > 999 || t->nrows < 0 || !t->cols)
        return sl_err_set(err, "%s: table of %d columns and %ld rows", where,
                          t->ncols, t->nrows);
    char *ttype[999], *tunit[999], *tform[999], forms[999][24];
    for (int c = 0; c < t->ncols; c++) {
        const sl_fits_column_out *col = &t->cols[c];
        const void *data = col->type == SL_FITS_DOUBLE ? (const void *)col->d
                           : col->type == SL_FITS_LLONG ? (const void *)col->i
                                                        : (const void *)col->s;
        if (!col->name || !col->name[0] || (t->nrows > 0 && !data))
            return sl_err_set(err, "%s: column %d: %s", where, c + 1,
                              col->name && col->name[0] ? "no data" : "no name");
        if (col->type == SL_FITS_STRING) {
            size_t width = 1;
            for (long r = 0; r < t->nrows; r++)
                if (col->s[r] && strlen(col->s[r]) > width)
                    width = strlen(col->s[r]);
            snprintf(forms[c], sizeof forms[c], "%zuA", width);
        } else {
            strcpy(forms[c], col->type == SL_FITS_DOUBLE ? "1D" : "1K");
        }
        ttype[c] = (char *)col->name;
        tunit[c] = (char *)(col->unit ? col->unit : "");
        tform[c] = forms[c];
    }
    int status = 0;
    if (fits_create_tbl(fp, BINARY_TBL, t->nrows, t->ncols, ttype, tform, tunit,
                        NULL, &status))
        return fits_fail(err, status, "%s: cannot create table", where);
    for (int c = 0; c < t->ncols && t->nrows > 0; c++)
        if (write_column(fp, c + 1, t->nrows, &t->cols[c], where, err))
            return -1;
    for (int c = 0; c < t->ncols; c++) {
        char name[24];
        snprintf(name, sizeof name, "TCOMM%d", c + 1);
        if (t->cols[c].comment &&
            fits_update_key_longstr(fp, name, t->cols[c].comment, NULL, &status))
            return fits_fail(err, status, "%s: cannot write %s", where, name);
    }
    return write_keys(fp, t->keys, t->nkeys, where, err);
}

static int write_hdus(fitsfile *fp, const sl_fits_out *out, const char *path,
                      sl_err *err)
{
    char where[600];
    int status = 0;
    snprintf(where, sizeof where, "%s: HDU 0", path);
    if (fits_create_img(fp, BYTE_IMG, 0, NULL, &status))
        return fits_fail(err, status, "%s: cannot write", where);
    if (write_keys(fp, out->primary_keys, out->nprimary_keys, where, err))
        return -1;
    for (int i = 0; i < out->nimages; i++) {
        snprintf(where, sizeof where, "%s: HDU %d", path, 1 + i);
        if (write_image(fp, &out->images[i], where, err))
            return -1;
    }
    for (int i = 0; i < out->ntables; i++) {
        snprintf(where, sizeof where, "%s: HDU %d", path, 1 + out->nimages + i);
        if (write_table(fp, &out->tables[i], where, err))
            return -1;
    }
    return 0;
}

int sl_fits_write(const char *path, const sl_fits_out *out, sl_err *err)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp)
        return sl_err_set(err, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    /* Creating the file ourselves first gives the system's reason
     * ("Permission denied") rather than cfitsio's generic one; cfitsio then
     * refuses to create over it, so it goes again at once. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return sl_err_set(err, "%s: cannot create %s.tmp: %s", path, path, strerror(e));
    }
    close(fd);
    remove(tmp);

    int tracked = sl_cleanup_track(tmp); /* removed if we are killed */
    int status = 0, rc = 0;
    fitsfile *fp = NULL;
    if (fits_create_diskfile(&fp, tmp, &status)) {
        rc = fits_fail(err, status, "%s: cannot create %s.tmp", path, path);
        fp = NULL;
    } else {
        rc = write_hdus(fp, out, path, err);
        /* Closing flushes cfitsio's buffers: a full disk shows up here. */
        if (fits_close_file(fp, &status) && rc == 0)
            rc = fits_fail(err, status, "%s: cannot write %s.tmp", path, path);
    }
    if (rc == 0 && rename(tmp, path) != 0)
        rc = sl_err_set(err, "%s: cannot rename %s.tmp to it: %s", path, path,
                        strerror(errno));
    if (rc != 0)
        remove(tmp);
    sl_cleanup_drop(tracked);
    free(tmp);
    return rc;
}
