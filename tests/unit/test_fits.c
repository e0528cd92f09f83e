/* FITS reading and writing: round trips, and the bad files and paths a user
 * will hand us, each of which must give a clean error naming file and HDU. */
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fits.h"

static char dir[256]; /* a fresh directory for this run's files */

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int contains(const char *s, const char *part)
{
    if (!strstr(s, part)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", s, part);
        return 0;
    }
    return 1;
}

/* Two bands of 7 x 5 pixels (one NaN in the second) and a 3-row catalog. */
enum { W = 7, H = 5, NROW = 3 };
static float band_g[W * H], band_r[W * H];
static const double col_flux[NROW] = {1.5, -2.25e-7, 1e30};
static const long long col_id[NROW] = {1, -7, 9007199254740993LL}; /* 2^53 + 1 */
static const char *const col_name[NROW] = {"star", NULL, "lensed galaxy"};

static int write_sample(const char *path, sl_err *err)
{
    for (int i = 0; i < W * H; i++) {
        band_g[i] = (float)(i * 0.5 - 3.0);
        band_r[i] = (float)(100.0 + i * i / 7.0);
    }
    band_r[2 * W + 3] = NAN;
    char longstr[200];
    memset(longstr, 'x', sizeof longstr - 1);
    longstr[sizeof longstr - 1] = '\0';
    sl_fits_key primary[] = {
        SL_FITS_KEY_S("ORIGIN", "sl-simulate", "made by"),
        SL_FITS_KEY_S("CMDLINE", longstr, "a value longer than one card"),
        SL_FITS_KEY_I("SEED", 12345678901LL, NULL),
    };
    sl_fits_key kg[] = {
        SL_FITS_KEY_S("EXTNAME", "g", NULL), SL_FITS_KEY_S("BAND", "g", NULL),
        SL_FITS_KEY_S("BUNIT", "electron", NULL),
        SL_FITS_KEY_D("PIXSCALE", 0.396, "arcsec per pixel"),
        SL_FITS_KEY_D("ZEROPT", 22.5, NULL), SL_FITS_KEY_D("GAIN", 4.6, NULL),
        SL_FITS_KEY_D("THIRD", 1.0 / 3.0, "needs 16-17 digits"),
        SL_FITS_KEY_D("SKYLEVEL.PERBAND", 1234.5, "long name: HIERARCH"),
    };
    sl_fits_key kr[] = {SL_FITS_KEY_S("EXTNAME", "r", NULL), SL_FITS_KEY_S("BAND", "r", NULL)};
    sl_fits_image_out images[] = {{band_g, W, H, kg, 8}, {band_r, W, H, kr, 2}};
    sl_fits_column_out cols[] = {
        {.name = "flux", .unit = "electron", .type = SL_FITS_DOUBLE, .d = col_flux},
        {.name = "id", .type = SL_FITS_LLONG, .i = col_id},
        {.name = "kind", .type = SL_FITS_STRING, .s = col_name},
    };
    sl_fits_key kt[] = {SL_FITS_KEY_S("EXTNAME", "CATALOG", NULL)};
    sl_fits_table_out table = {NROW, cols, 3, kt, 1};
    sl_fits_out out = {primary, 3, images, 2, &table, 1};
    return sl_fits_write(path, &out, err);
}

static void test_round_trip(void)
{
    sl_err err = {""};
    const char *path = tpath("sample.fits");
    CHECK(write_sample(path, &err) == 0);
    CHECK(file_exists(path));
    CHECK(!file_exists(tpath("sample.fits.tmp")));

    sl_fits *f = sl_fits_open(path, &err);
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(sl_fits_count_hdus(f, &err) == 4);
    /* The primary is empty, so a plain name opens the first image. */
    CHECK(sl_fits_hdu(f) == 1);
    int w = 0, h = 0;
    long nnan = -1;
    float *pix = sl_fits_read_image(f, &w, &h, &nnan, &err);
    CHECK(pix && w == W && h == H && nnan == 0);
    int same = pix != NULL;
    for (int i = 0; pix && i < W * H; i++)
        same &= pix[i] == band_g[i];
    CHECK(same);
    free(pix);
    double v = 0;
    char s[256];
    CHECK(sl_fits_key_double(f, "PIXSCALE", &v, &err) == 0 && v == 0.396);
    CHECK(sl_fits_key_double(f, "THIRD", &v, &err) == 0 && v == 1.0 / 3.0);
    CHECK(sl_fits_key_double(f, "SKYLEVEL.PERBAND", &v, &err) == 0 && v == 1234.5);
    CHECK(sl_fits_key_string(f, "BUNIT", s, sizeof s, &err) == 0 && !strcmp(s, "electron"));
    CHECK(sl_fits_key_string(f, "BAND", s, 2, &err) == 0 && !strcmp(s, "g"));
    CHECK(sl_fits_key_string(f, "BAND", s, 1, &err) == -1 && contains(err.msg, "BAND"));
    CHECK(sl_fits_key_double(f, "NOSUCH", &v, &err) == -1 &&
          contains(err.msg, "sample.fits: HDU 1: keyword NOSUCH not found"));
    CHECK(sl_fits_key_double(f, "BUNIT", &v, &err) == -1 && contains(err.msg, "BUNIT"));
    CHECK(sl_fits_has_key(f, "GAIN") && !sl_fits_has_key(f, "NOSUCH"));

    CHECK(sl_fits_goto(f, 0, &err) == 0);
    CHECK(sl_fits_key_double(f, "SEED", &v, &err) == 0 && v == 12345678901.0);
    CHECK(sl_fits_key_string(f, "CMDLINE", s, sizeof s, &err) == 0 && strlen(s) == 199);
    CHECK(sl_fits_key_string(f, "ORIGIN", s, sizeof s, &err) == 0 &&
          !strcmp(s, "sl-simulate"));

    CHECK(sl_fits_goto(f, 2, &err) == 0);
    pix = sl_fits_read_image(f, &w, &h, &nnan, &err);
    CHECK(pix && nnan == 1 && isnan(pix[2 * W + 3]) && pix[W * H - 1] == band_r[W * H - 1]);
    free(pix);
    CHECK(sl_fits_key_string(f, "EXTNAME", s, sizeof s, &err) == 0 && !strcmp(s, "r"));

    CHECK(sl_fits_goto(f, 3, &err) == 0);
    CHECK(sl_fits_table_rows(f, &err) == NROW);
    for (long r = 0; r < NROW; r++) {
        double d;
        long long id;
        CHECK(sl_fits_column_double(f, "FLUX", r, &d, 1, &err) == 0 && d == col_flux[r]);
        CHECK(sl_fits_column_llong(f, "id", r, &id, 1, &err) == 0 && id == col_id[r]);
        s[0] = '?';
        CHECK(sl_fits_column_string(f, "kind", r, s, sizeof s, &err) == 0);
        CHECK(!strcmp(s, col_name[r] ? col_name[r] : ""));
    }
    CHECK(sl_fits_key_string(f, "TUNIT1", s, sizeof s, &err) == 0 && !strcmp(s, "electron"));
    double d2[2];
    CHECK(sl_fits_column_double(f, "flux", 3, d2, 1, &err) == -1 &&
          contains(err.msg, "row 3 out of range"));
    CHECK(sl_fits_column_double(f, "flux", 0, d2, 2, &err) == -1 &&
          contains(err.msg, "asked for 2"));
    CHECK(sl_fits_column_double(f, "mass", 0, d2, 1, &err) == -1 &&
          contains(err.msg, "sample.fits: HDU 3: no column mass"));
    CHECK(sl_fits_column_double(f, "kind", 0, d2, 1, &err) == -1 &&
          contains(err.msg, "strings"));
    CHECK(sl_fits_column_string(f, "flux", 0, s, sizeof s, &err) == -1);
    CHECK(sl_fits_column_double(f, "fl*", 0, d2, 1, &err) == -1);
    sl_fits_close(f);

    /* Extended names select the HDU: by number and by EXTNAME. */
    char name[600];
    snprintf(name, sizeof name, "%s[r]", path);
    pix = sl_fits_read_image_file(name, -1, &w, &h, &nnan, &err);
    CHECK(pix && nnan == 1);
    free(pix);
    pix = sl_fits_read_image_file(path, 1, &w, &h, NULL, &err);
    CHECK(pix && pix[3] == band_g[3]);
    free(pix);
}

static void test_overwrite_keeps_old_on_failure(void)
{
    sl_err err = {""};
    const char *path = tpath("keep.fits");
    CHECK(write_sample(path, &err) == 0);
    /* A NaN keyword cannot be written: the old file must survive intact. */
    sl_fits_key bad = SL_FITS_KEY_D("ZEROPT", NAN, NULL);
    float one = 1;
    sl_fits_image_out im = {&one, 1, 1, &bad, 1};
    sl_fits_out out = {NULL, 0, &im, 1, NULL, 0};
    CHECK(sl_fits_write(path, &out, &err) == -1 && contains(err.msg, "ZEROPT"));
    CHECK(!file_exists(tpath("keep.fits.tmp")));
    int w, h;
    float *pix = sl_fits_read_image_file(path, 2, &w, &h, NULL, &err);
    CHECK(pix && w == W);
    free(pix);
    sl_fits_key structural = SL_FITS_KEY_I("NAXIS1", 3, NULL);
    im.keys = &structural;
    CHECK(sl_fits_write(path, &out, &err) == -1 && contains(err.msg, "NAXIS1"));
}

static void test_not_fits(void)
{
    sl_err err = {""};
    const char *path = tpath("text.fits");
    FILE *fp = fopen(path, "w");
    for (int i = 0; i < 400; i++)
        fputs("this is not a FITS file\n", fp);
    fclose(fp);
    CHECK(sl_fits_open(path, &err) == NULL);
    CHECK(contains(err.msg, "text.fits: cannot open: not a FITS file"));
    CHECK(sl_fits_open(tpath("absent.fits"), &err) == NULL);
    CHECK(contains(err.msg, "absent.fits: cannot open: ") &&
          contains(err.msg, "No such file"));
}

static void test_truncated(void)
{
    sl_err err = {""};
    const char *path = tpath("cut.fits");
    CHECK(write_sample(path, &err) == 0);
    /* The file is 2880-byte blocks: the primary's header, HDU 1's header and
     * data, HDU 2's header and data, the table's.  Keep the first 100 bytes
     * of HDU 2's data. */
    CHECK(truncate(path, 2880 * 4 + 100) == 0);
    int w, h;
    float *pix = sl_fits_read_image_file(path, 1, &w, &h, NULL, &err);
    CHECK(pix != NULL); /* HDU 1 is whole */
    free(pix);
    pix = sl_fits_read_image_file(path, 2, &w, &h, NULL, &err);
    CHECK(pix == NULL && contains(err.msg, "cut.fits: HDU 2: cannot read image: ") &&
          contains(err.msg, "truncated"));
    CHECK(sl_fits_read_image_file(path, 3, &w, &h, NULL, &err) == NULL &&
          contains(err.msg, "cut.fits"));
    /* Cut inside the primary header. */
    CHECK(truncate(path, 1000) == 0);
    CHECK(sl_fits_open(path, &err) == NULL &&
          contains(err.msg, "cut.fits: cannot open: truncated FITS file"));
}

static void test_wrong_hdu(void)
{
    sl_err err = {""};
    const char *path = tpath("hdus.fits");
    CHECK(write_sample(path, &err) == 0);
    int w, h;
    CHECK(sl_fits_read_image_file(path, 7, &w, &h, NULL, &err) == NULL);
    CHECK(contains(err.msg, "hdus.fits: HDU 7: no such HDU (the file has 4)"));
    CHECK(sl_fits_read_image_file(path, 3, &w, &h, NULL, &err) == NULL);
    CHECK(contains(err.msg, "hdus.fits: HDU 3: not an image"));
    CHECK(sl_fits_read_image_file(path, 0, &w, &h, NULL, &err) == NULL);
    CHECK(contains(err.msg, "hdus.fits: HDU 0: not an image"));
    char name[600];
    snprintf(name, sizeof name, "%s[9]", path);
    CHECK(sl_fits_open(name, &err) == NULL &&
          contains(err.msg, "hdus.fits[9]: cannot open: no such HDU"));
    sl_fits *f = sl_fits_open(path, &err);
    CHECK(f && sl_fits_table_rows(f, &err) == -1 && contains(err.msg, "HDU 1: not a table"));
    sl_fits_close(f);
}

static void test_other_bitpix_and_shapes(void)
{
    /* 16-bit integers with BSCALE/BZERO and BLANK, and a 3-D cube: written
     * with cfitsio directly, as other software would. */
    const char *path = tpath("int16.fits");
    char name[600];
    snprintf(name, sizeof name, "!%s", path);
    int status = 0;
    fitsfile *fp;
    long naxes[3] = {3, 2, 2};
    short data[6] = {0, 1, 2, -32768, 4, 5};
    fits_create_file(&fp, name, &status);
    fits_create_img(fp, SHORT_IMG, 2, naxes, &status);
    double bscale = 0.5, bzero = 10;
    long blank = -32768;
    fits_update_key(fp, TDOUBLE, "BSCALE", &bscale, NULL, &status);
    fits_update_key(fp, TDOUBLE, "BZERO", &bzero, NULL, &status);
    fits_update_key(fp, TLONG, "BLANK", &blank, NULL, &status);
    fits_set_bscale(fp, 1.0, 0.0, &status); /* write the raw integers */
    fits_write_img(fp, TSHORT, 1, 6, data, &status);
    fits_create_img(fp, FLOAT_IMG, 3, naxes, &status);
    float cube[12] = {0};
    fits_write_img(fp, TFLOAT, 1, 12, cube, &status);
    fits_close_file(fp, &status);
    CHECK(status == 0);

    sl_err err = {""};
    int w, h;
    long nnan;
    float *pix = sl_fits_read_image_file(path, 0, &w, &h, &nnan, &err);
    CHECK(pix && w == 3 && h == 2 && nnan == 1);
    if (pix) {
        CHECK(pix[0] == 10.0f && pix[2] == 11.0f && pix[5] == 12.5f && isnan(pix[3]));
    }
    free(pix);
    CHECK(sl_fits_read_image_file(path, 1, &w, &h, NULL, &err) == NULL);
    CHECK(contains(err.msg, "HDU 1: image is 3-D (3 x 2 x 2), want 2-D"));
}

static void test_unwritable(void)
{
    sl_err err = {""};
    const char *missing = tpath("no/such/dir/out.fits");
    CHECK(write_sample(missing, &err) == -1);
    CHECK(contains(err.msg, "out.fits: cannot create ") &&
          contains(err.msg, "No such file or directory"));
    /* A regular file used as a directory fails even for root. */
    const char *plain = tpath("plain");
    FILE *fp = fopen(plain, "w");
    fclose(fp);
    const char *under = tpath("plain/out.fits");
    CHECK(write_sample(under, &err) == -1 && contains(err.msg, "Not a directory"));
    CHECK(!file_exists(under));
    if (geteuid() != 0) { /* root ignores permission bits */
        const char *ro = tpath("readonly");
        mkdir(ro, 0500);
        char out[600];
        snprintf(out, sizeof out, "%s/out.fits", ro);
        CHECK(write_sample(out, &err) == -1 && contains(err.msg, "Permission denied"));
        CHECK(!file_exists(out));
        rmdir(ro);
    }
}

static void remove_dir(void)
{
    const char *names[] = {"sample.fits", "keep.fits", "text.fits", "cut.fits",
                           "hdus.fits", "int16.fits", "plain"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        remove(tpath(names[i]));
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/test_fits.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_round_trip);
    RUN(test_overwrite_keeps_old_on_failure);
    RUN(test_not_fits);
    RUN(test_truncated);
    RUN(test_wrong_hdu);
    RUN(test_other_bitpix_and_shapes);
    RUN(test_unwritable);
    remove_dir();
    return check_report("test_fits");
}
