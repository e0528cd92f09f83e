/* Survey FITS loading: a real SDSS frame cut-out against values computed
 * independently, a synthetic SDSS frame whose sky is a bilinear function
 * (so its interpolation is known exactly), the mesh background on synthetic
 * images, NaN masking, and the bad inputs a user will give. */
#include <fitsio.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fits.h"
#include "frame.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/data"
#endif
/* Columns [250, 506), rows [600, 856) of frame-r-002583-2-0136 (made by
 * tests/data/make-sdss-crop.py), and fields 135-137 of its photoField. */
#define CROP DATA_DIR "/sdss-crop-r-002583-2-0136.fits"
#define PHOTOFIELD DATA_DIR "/photoField-002583-2-crop.fits"
#define PSFIELD DATA_DIR "/psField-002583-2-0136.fit"
#define PSFIMAGE DATA_DIR "/sdss-002583-2-0136-psf-r.fits"

static char dir[256]; /* a fresh directory for this run's files */

static const char *tpath(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static int contains(const char *s, const char *part)
{
    if (!strstr(s, part)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", s, part);
        return 0;
    }
    return 1;
}

static int has_nonfinite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 1;
    return 0;
}

/* Loads one file with the given options; returns sl_frame_load's code. */
static int load1(sl_frame_opts *o, const char *path, sl_image *img, long *n_nan,
                 sl_err *err)
{
    o->paths[0] = path;
    o->n_paths = 1;
    return sl_frame_load(o, img, NULL, n_nan, err);
}

/* ---- the real SDSS cut-out ---- */

/* Reference values from the crop with astropy and scipy, independently of
 * frame.c: sky = scipy.ndimage.map_coordinates(ALLSKY, [YINTERP[y],
 * XINTERP[x]], order=1, mode='nearest') (bilinear on the 192 x 256 grid),
 * electrons = (image / calib[x] + sky) * 4.6 (photoField GAIN, r, field
 * 136), zero point = 22.5 + 2.5 log10(mean over columns of 4.6 / calib). */
static const struct {
    int x, y;
    double electrons, sky_electrons;
} crop_ref[] = {
    {0, 0, 1021.2490173918877, 686.344700396061},
    {255, 255, 1145.7444801343745, 685.8900791764258},
    {100, 50, 1053.407244489513, 686.2630565881728},
    {128, 100, 1908.2597147992647, 686.1753358244896},
    {60, 30, 2171.5264068468323, 686.286103451252},
    {200, 170, 1412.1949524524737, 686.0748439669609},
    {23, 196, 197422.96900257494, 0}, /* the brightest pixel; sky not checked */
};
#define CROP_ZP 29.83132454525505
#define CROP_MEAN_SKY 686.1181089302291

static void test_sdss_crop(void)
{
    sl_err err = {""};
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.photofield = PHOTOFIELD;
    o.psfield = PSFIELD;
    o.paths[0] = CROP;
    o.n_paths = 1;
    sl_image img;
    sl_image_init(&img);
    sl_psf psf[1];
    long n_nan = -1;
    int rc = sl_frame_load(&o, &img, psf, &n_nan, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    CHECK(img.width == 256 && img.height == 256 && img.n_bands == 1);
    CHECK(strcmp(img.bands[0], "r") == 0);
    CHECK(n_nan == 0);
    CHECK(img.has_gain && img.gain[0] == 4.599999904632568); /* float32 4.6 in the table */
    CHECK(img.has_zero_point);
    CHECK_NEAR(img.zero_point[0], CROP_ZP, 1e-6);
    CHECK_NEAR(img.pixel_scale, 0.396, 1e-3);
    CHECK(img.background_map != NULL && img.id == 0 && img.is_patch == 0);
    for (size_t i = 0; i < sizeof crop_ref / sizeof crop_ref[0]; i++) {
        size_t k = (size_t)crop_ref[i].y * img.width + crop_ref[i].x;
        /* float32 pixels: about 1e-7 relative */
        CHECK_REL(img.pixels[k], crop_ref[i].electrons, 3e-7);
        if (crop_ref[i].sky_electrons > 0)
            CHECK_NEAR(img.background_map[k], crop_ref[i].sky_electrons, 1e-4);
    }
    CHECK_REL(img.background[0], CROP_MEAN_SKY, 1e-7);
    CHECK(psf[0].kind == SL_PSF_SDSS);
    sl_psf_free(&psf[0]);

    /* A given gain overrides the photoField; without either the frame (which
     * has no GAIN keyword) cannot be converted. */
    sl_frame_opts_init(&o);
    o.gain = 2.3;
    CHECK(load1(&o, CROP, &img, NULL, &err) == 0);
    CHECK(img.gain[0] == 2.3);
    CHECK_REL(img.pixels[(size_t)50 * 256 + 100], 1053.407244489513 * 2.3 / 4.6, 3e-7);
    CHECK_NEAR(img.zero_point[0], CROP_ZP + 2.5 * log10(2.3 / 4.6), 1e-6);
    sl_frame_opts_init(&o);
    CHECK(load1(&o, CROP, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "sdss-crop-r-002583-2-0136.fits: gain unknown"));
    CHECK(contains(err.msg, "--gain or --photofield"));
    sl_image_free(&img);
}

/* ---- a synthetic SDSS frame ---- */

enum { SW = 40, SH = 30, GX = 8, GY = 6 };

/* The sky grid is f(i, j) = 100 + 2 i + 3 j + 0.5 i j, bilinear, so its
 * bilinear interpolation at any point of the grid is f there exactly;
 * XINTERP and YINTERP run past both ends of the grid, where SDSS (IDL
 * INTERPOLATE) takes the edge value: clamp the coordinate. */
static double grid_f(double i, double j)
{
    return 100 + 2 * i + 3 * j + 0.5 * i * j;
}
static double xinterp(int x) { return (x + 0.5) / 5 - 0.5; }
static double yinterp(int y) { return (y + 0.5) / 5 - 0.5; }
static double clampd(double u, double hi) { return u < 0 ? 0 : u > hi ? hi : u; }
static double sky_at(int x, int y)
{
    return grid_f(clampd(xinterp(x), GX - 1), clampd(yinterp(y), GY - 1));
}
static double calib_at(int x) { return 0.005 + 0.0001 * x; }
static double nmgy_at(int x, int y) { return 0.01 * (x - y); }

/* Writes the SDSS layout with cfitsio directly (sl_fits_write puts images
 * after an empty primary and writes no 1-D images).  NaN at (5, 7). */
static int write_sdss(const char *path, int frame, int run, const char *filter)
{
    float img[SW * SH], calib[SW], sky[GX * GY], xi[SW], yi[SH];
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++)
            img[y * SW + x] = (float)nmgy_at(x, y);
    img[7 * SW + 5] = NAN;
    for (int x = 0; x < SW; x++) {
        calib[x] = (float)calib_at(x);
        xi[x] = (float)xinterp(x);
    }
    for (int y = 0; y < SH; y++)
        yi[y] = (float)yinterp(y);
    for (int j = 0; j < GY; j++)
        for (int i = 0; i < GX; i++)
            sky[j * GX + i] = (float)grid_f(i, j);
    char name[600], tform[3][16];
    snprintf(name, sizeof name, "!%s", path);
    snprintf(tform[0], 16, "%dE", GX * GY);
    snprintf(tform[1], 16, "%dE", SW);
    snprintf(tform[2], 16, "%dE", SH);
    char *ttype[3] = {"ALLSKY", "XINTERP", "YINTERP"}, *tf[3] = {tform[0], tform[1], tform[2]};
    long naxes[2] = {SW, SH}, nx = SW;
    double cd12 = 0.396 / 3600, cd21 = 0.396 / 3600, zero = 0;
    int status = 0, camcol = 2;
    fitsfile *fp;
    fits_create_file(&fp, name, &status);
    fits_create_img(fp, FLOAT_IMG, 2, naxes, &status);
    fits_write_key(fp, TSTRING, "FILTER", (void *)filter, NULL, &status);
    fits_write_key(fp, TINT, "FRAME", &frame, NULL, &status);
    fits_write_key(fp, TINT, "RUN", &run, NULL, &status);
    fits_write_key(fp, TINT, "CAMCOL", &camcol, NULL, &status);
    fits_write_key(fp, TDOUBLE, "CD1_1", &zero, NULL, &status);
    fits_write_key(fp, TDOUBLE, "CD1_2", &cd12, NULL, &status);
    fits_write_key(fp, TDOUBLE, "CD2_1", &cd21, NULL, &status);
    fits_write_key(fp, TDOUBLE, "CD2_2", &zero, NULL, &status);
    fits_write_img(fp, TFLOAT, 1, SW * SH, img, &status);
    fits_create_img(fp, FLOAT_IMG, 1, &nx, &status);
    fits_write_img(fp, TFLOAT, 1, SW, calib, &status);
    fits_create_tbl(fp, BINARY_TBL, 1, 3, ttype, tf, NULL, NULL, &status);
    fits_write_key(fp, TSTRING, "TDIM1", "(8,6)", NULL, &status);
    fits_write_col(fp, TFLOAT, 1, 1, 1, GX * GY, sky, &status);
    fits_write_col(fp, TFLOAT, 2, 1, 1, SW, xi, &status);
    fits_write_col(fp, TFLOAT, 3, 1, 1, SH, yi, &status);
    fits_close_file(fp, &status);
    return status;
}

/* A photoField with fields 10, 11, 12 of run 7 camcol 2; row k has
 * GAIN (ugriz) = 1 + k, 2 + k, ..., 5 + k. */
static int write_photofield(const char *path)
{
    char name[600];
    snprintf(name, sizeof name, "!%s", path);
    char *ttype[4] = {"RUN", "CAMCOL", "FIELD", "GAIN"}, *tform[4] = {"J", "J", "J", "5E"};
    int run[3] = {7, 7, 7}, camcol[3] = {2, 2, 2}, field[3] = {10, 11, 12};
    float gain[15];
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 5; b++)
            gain[k * 5 + b] = (float)(b + 1 + k);
    int status = 0;
    fitsfile *fp;
    fits_create_file(&fp, name, &status);
    fits_create_tbl(fp, BINARY_TBL, 3, 4, ttype, tform, NULL, NULL, &status);
    fits_write_col(fp, TINT, 1, 1, 1, 3, run, &status);
    fits_write_col(fp, TINT, 2, 1, 1, 3, camcol, &status);
    fits_write_col(fp, TINT, 3, 1, 1, 3, field, &status);
    fits_write_col(fp, TFLOAT, 4, 1, 1, 15, gain, &status);
    fits_close_file(fp, &status);
    return status;
}

static void test_sdss_synthetic(void)
{
    sl_err err = {""};
    const char *frame = tpath("sdss.fits"), *pf = tpath("photoField.fits");
    CHECK(write_sdss(frame, 11, 7, "r") == 0 && write_photofield(pf) == 0);
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.photofield = pf;
    sl_image img;
    sl_image_init(&img);
    long n_nan = 0;
    int rc = load1(&o, frame, &img, &n_nan, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    const double gain = 4; /* field 11 is row 1; r is the third band: 3 + 1 */
    CHECK(img.gain[0] == gain);
    CHECK(n_nan == 1);
    double per_nmgy = 0;
    for (int x = 0; x < SW; x++)
        per_nmgy += gain / (float)calib_at(x);
    CHECK_NEAR(img.zero_point[0], 22.5 + 2.5 * log10(per_nmgy / SW), 1e-9);
    CHECK_NEAR(img.pixel_scale, 0.396, 1e-12);
    int bad = 0;
    for (int y = 0; y < SH; y++)
        for (int x = 0; x < SW; x++) {
            size_t k = (size_t)y * SW + x;
            double sky = sky_at(x, y);
            double want = x == 5 && y == 7 ? sky * gain
                                           : ((float)nmgy_at(x, y) / (float)calib_at(x) + sky) * gain;
            bad += fabs(img.background_map[k] - sky * gain) > 1e-4 * sky * gain;
            bad += fabs(img.pixels[k] - want) > 1e-6 * fabs(want) + 1e-4;
        }
    CHECK(bad == 0);
    /* The corners: both coordinates clamped, (0, 0) and (7, 5) of the grid. */
    CHECK_NEAR(img.background_map[0], 100 * gain, 1e-4);
    CHECK_NEAR(img.background_map[SW * SH - 1], grid_f(7, 5) * gain, 1e-3);

    /* The photoField must have the frame's field, run and camcol. */
    CHECK(write_sdss(frame, 99, 7, "r") == 0);
    CHECK(load1(&o, frame, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "photoField.fits: no row for field 99 (the FRAME of "));
    CHECK(write_sdss(frame, 11, 94, "r") == 0);
    CHECK(load1(&o, frame, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "photoField.fits: run 7 camcol 2, but ") &&
          contains(err.msg, "sdss.fits is run 94 camcol 2"));
    CHECK(write_sdss(frame, 11, 7, "Y") == 0);
    CHECK(load1(&o, frame, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "sdss.fits: HDU 0: FILTER = 'Y' is not one of ugriz"));
    sl_image_free(&img);
}

/* ---- generic images ---- */

static uint64_t rng_state = 88172645463325252ULL;
static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss01(void)
{
    return sqrt(-2 * log(uniform01())) * cos(2 * M_PI * uniform01());
}

enum { GW = 320, GH = 256 };
#define GAIN 2.0
#define SCALE 0.2

static double bg_true(int x, int y) { return 100 + 0.05 * x + 0.03 * y; } /* ADU */

/* Background + Gaussian noise of sigma 4 ADU + five bright round blobs. */
static void make_field(float *pix)
{
    static const double blob[5][3] = {
        {40, 50, 2.5}, {150, 120, 3}, {260, 200, 2}, {300, 30, 4}, {90, 220, 3}};
    for (int y = 0; y < GH; y++)
        for (int x = 0; x < GW; x++) {
            double v = bg_true(x, y) + 4 * gauss01();
            for (int s = 0; s < 5; s++) {
                double dx = x - blob[s][0], dy = y - blob[s][1], r = blob[s][2];
                v += 2000 * exp(-(dx * dx + dy * dy) / (2 * r * r));
            }
            pix[y * GW + x] = (float)v;
        }
}

/* One image HDU with GAIN, FILTER (when not NULL) and a CD matrix. */
static int write_generic(const char *path, const float *pix, int w, int h, double gain,
                         const char *filter, sl_err *err)
{
    sl_fits_key keys[6];
    int n = 0;
    keys[n++] = SL_FITS_KEY_D("CD1_1", -SCALE / 3600, NULL);
    keys[n++] = SL_FITS_KEY_D("CD2_2", SCALE / 3600, NULL);
    if (gain > 0)
        keys[n++] = SL_FITS_KEY_D("GAIN", gain, NULL);
    if (filter)
        keys[n++] = SL_FITS_KEY_S("FILTER", filter, NULL);
    sl_fits_image_out im = {pix, w, h, keys, n};
    sl_fits_out out = {NULL, 0, &im, 1, NULL, 0};
    return sl_fits_write(path, &out, err);
}

static void test_background_exact(void)
{
    /* Noise-free plane: every stage (median of a symmetric cell, the 3 x 3
     * median with symmetric edge windows, bilinear interpolation and
     * extrapolation) keeps a linear function, so the map is the image. */
    enum { W = 203, H = 117 };
    static float img[W * H], bg[W * H];
    sl_err err = {""};
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            img[y * W + x] = (float)(50 - 0.2 * x + 0.35 * y);
    CHECK(sl_frame_background(img, W, H, 16, bg, &err) == 0);
    double worst = 0;
    for (int i = 0; i < W * H; i++)
        worst = fmax(worst, fabs(bg[i] - img[i]));
    CHECK_NEAR(worst, 0, 2e-4);
    /* A source covering one whole cell (so no clipping can help) is removed
     * by the 3 x 3 median filter: 8 of the 9 cells in any window are sky. */
    for (int i = 0; i < 128 * 128; i++)
        img[i] = 10;
    for (int y = 64; y < 80; y++)
        for (int x = 48; x < 64; x++)
            img[y * 128 + x] = 1000;
    CHECK(sl_frame_background(img, 128, 128, 16, bg, &err) == 0);
    worst = 0;
    for (int i = 0; i < 128 * 128; i++)
        worst = fmax(worst, fabs(bg[i] - 10));
    CHECK_NEAR(worst, 0, 1e-6);
    /* A mesh larger than the image: one cell, its clipped median. */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            img[y * W + x] = (float)(50 - 0.2 * x + 0.35 * y);
    CHECK(sl_frame_background(img, 30, 1, 64, bg, &err) == 0);
    CHECK_NEAR(bg[0], img[14] / 2 + img[15] / 2, 1e-5);
    CHECK_NEAR(bg[29], bg[0], 0);
    for (int i = 0; i < W * H; i++)
        img[i] = NAN;
    CHECK(sl_frame_background(img, W, H, 16, bg, &err) == -1);
    CHECK(contains(err.msg, "no finite pixel"));
    CHECK(sl_frame_background(img, W, H, 3, bg, &err) == -1);
}

static void test_mesh_background(void)
{
    sl_err err = {""};
    static float pix[GW * GH];
    make_field(pix);
    /* A masked hole as big as a cell, to exercise the cell filling. */
    for (int y = 100; y < 140; y++)
        for (int x = 200; x < 240; x++)
            pix[y * GW + x] = NAN;
    const char *path = tpath("field.fits");
    CHECK(write_generic(path, pix, GW, GH, GAIN, "i", &err) == 0);
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.mesh = 32;
    o.psf_fwhm = 1.2;
    o.paths[0] = path;
    o.n_paths = 1;
    sl_image img;
    sl_image_init(&img);
    sl_psf psf[1];
    long n_nan = 0;
    int rc = sl_frame_load(&o, &img, psf, &n_nan, &err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    CHECK(strcmp(img.bands[0], "i") == 0 && img.gain[0] == GAIN && !img.has_zero_point);
    CHECK_NEAR(img.pixel_scale, SCALE, 1e-12);
    CHECK(psf[0].kind == SL_PSF_GAUSSIAN);
    CHECK_NEAR(psf[0].fwhm, 1.2 / SCALE, 1e-12);
    sl_psf_free(&psf[0]);
    CHECK(n_nan == 40 * 40);
    CHECK(!has_nonfinite(img.pixels, GW * GH) && !has_nonfinite(img.background_map, GW * GH));
    /* Per cell of ~1000 pixels the noise of the median is about
     * 1.25 * 4 / 32 = 0.16 ADU; the 3 x 3 median filter lowers it, the
     * linear extrapolation at the image edges raises it.  With noise alone
     * this field gives 0.11 ADU RMS and 0.48 at worst (on an edge); the blob
     * wings that stay under the 3-sigma clip bias their cells by up to 0.9.
     * Allow 0.2 RMS and 1.0 anywhere: a twentieth and a quarter of the
     * pixel noise (an unclipped mean would be off by ~200 near a blob). */
    double sum2 = 0, worst = 0;
    for (int y = 0; y < GH; y++)
        for (int x = 0; x < GW; x++) {
            double d = img.background_map[y * GW + x] / GAIN - bg_true(x, y);
            sum2 += d * d;
            worst = fmax(worst, fabs(d));
        }
    CHECK_NEAR(sqrt(sum2 / (GW * GH)), 0, 0.2);
    CHECK_NEAR(worst, 0, 1.0);
    CHECK_NEAR(img.background[0] / GAIN, bg_true(GW - 1, GH - 1) / 2 + 50, 0.1);
    /* The masked pixels carry the background, nothing else. */
    CHECK(img.pixels[120 * GW + 220] == img.background_map[120 * GW + 220]);
    /* Elsewhere: the file's pixels times the gain. */
    CHECK(img.pixels[10 * GW + 10] == (float)(pix[10 * GW + 10] * GAIN));
    sl_image_free(&img);
}

static void test_constant_background_and_nan(void)
{
    sl_err err = {""};
    enum { W = 64, H = 48 };
    static float pix[W * H];
    for (int i = 0; i < W * H; i++)
        pix[i] = (float)(10 + i % 7);
    pix[5] = pix[W * H - 1] = pix[20 * W + 33] = NAN;
    pix[6] = INFINITY;
    const char *path = tpath("nan.fits");
    CHECK(write_generic(path, pix, W, H, 1.5, NULL, &err) == 0);
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.background = 12.5;
    sl_image img;
    sl_image_init(&img);
    long n_nan = 0;
    CHECK(load1(&o, path, &img, &n_nan, &err) == 0);
    CHECK(n_nan == 4);
    CHECK(img.background_map == NULL && img.background[0] == 12.5);
    CHECK(img.pixels[5] == 12.5f && img.pixels[6] == 12.5f && img.pixels[W * H - 1] == 12.5f);
    CHECK(img.pixels[7] == (float)(pix[7] * 1.5));
    CHECK(strcmp(img.bands[0], "b0") == 0 && !has_nonfinite(img.pixels, W * H));
    /* The same with the estimated background: replaced by the map. */
    sl_frame_opts_init(&o);
    o.mesh = 16;
    CHECK(load1(&o, path, &img, &n_nan, &err) == 0);
    CHECK(n_nan == 4 && img.background_map != NULL);
    CHECK(img.pixels[20 * W + 33] == img.background_map[20 * W + 33]);
    CHECK(!has_nonfinite(img.pixels, W * H) && !has_nonfinite(img.background_map, W * H));
    sl_image_free(&img);
}

static void test_multiband(void)
{
    sl_err err = {""};
    enum { W = 40, H = 30 };
    static float a[W * H], b[W * H], c[(W + 1) * H];
    for (int i = 0; i < W * H; i++) {
        a[i] = 100;
        b[i] = 200;
    }
    const char *pa = tpath("g.fits"), *pb = tpath("r.fits"), *pc = tpath("wide.fits");
    CHECK(write_generic(pa, a, W, H, 2, "g", &err) == 0);
    CHECK(write_generic(pb, b, W, H, 3, "r", &err) == 0);
    CHECK(write_generic(pc, c, W + 1, H, 3, "z", &err) == 0);
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.background = 0;
    o.paths[0] = pb;
    o.paths[1] = pa;
    o.n_paths = 2;
    sl_image img;
    sl_image_init(&img);
    CHECK(sl_frame_load(&o, &img, NULL, NULL, &err) == 0);
    CHECK(img.n_bands == 2 && !strcmp(img.bands[0], "r") && !strcmp(img.bands[1], "g"));
    CHECK(img.pixels[0] == 600 && img.pixels[W * H] == 200);
    CHECK(img.gain[0] == 3 && img.gain[1] == 2);
    o.band_names = "R2,G2";
    CHECK(sl_frame_load(&o, &img, NULL, NULL, &err) == 0);
    CHECK(!strcmp(img.bands[0], "R2") && !strcmp(img.bands[1], "G2"));
    o.band_names = "R2";
    CHECK(sl_frame_load(&o, &img, NULL, NULL, &err) == -1 && contains(err.msg, "1 names for 2"));
    o.band_names = NULL;
    o.paths[1] = pb;
    CHECK(sl_frame_load(&o, &img, NULL, NULL, &err) == -1 && contains(err.msg, "band r twice"));
    o.paths[1] = pc;
    CHECK(sl_frame_load(&o, &img, NULL, NULL, &err) == -1);
    CHECK(contains(err.msg, "wide.fits is 41 x 30 pixels but ") &&
          contains(err.msg, "r.fits is 40 x 30"));
    sl_image_free(&img);
}

static void test_psf_choices(void)
{
    sl_err err = {""};
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.gain = 1;
    o.paths[0] = o.paths[1] = CROP;
    o.n_paths = 2;
    o.band_names = "r,s";
    o.psf_image = PSFIMAGE;
    sl_image img;
    sl_image_init(&img);
    sl_psf psf[2];
    CHECK(sl_frame_load(&o, &img, psf, NULL, &err) == 0);
    CHECK(psf[0].kind == SL_PSF_PIXEL && psf[1].kind == SL_PSF_PIXEL && psf[0].pix != psf[1].pix);
    CHECK(psf[0].pw == 25 && psf[1].ph == 25);
    sl_psf_free(&psf[0]);
    sl_psf_free(&psf[1]);
    o.psf_fwhm = 1;
    CHECK(sl_frame_load(&o, &img, psf, NULL, &err) == -1 && contains(err.msg, "more than one PSF"));
    o.psf_fwhm = 0;
    o.psf_image = NULL;
    CHECK(sl_frame_load(&o, &img, psf, NULL, &err) == -1 && contains(err.msg, "no PSF given"));
    /* psField bands come from the FILTER keyword, r for both here. */
    o.psfield = PSFIELD;
    CHECK(sl_frame_load(&o, &img, psf, NULL, &err) == 0);
    CHECK(psf[1].kind == SL_PSF_SDSS && psf[1].sigma1 == psf[0].sigma1);
    sl_psf_free(&psf[0]);
    sl_psf_free(&psf[1]);
    sl_image_free(&img);
}

/* ---- bad input ---- */

static int copy_prefix(const char *from, const char *to, long n)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    int rc = in && out ? 0 : -1;
    char buf[4096];
    while (rc == 0 && n > 0) {
        size_t k = fread(buf, 1, n < (long)sizeof buf ? (size_t)n : sizeof buf, in);
        if (k == 0 || fwrite(buf, 1, k, out) != k)
            rc = -1;
        n -= (long)k;
    }
    if (in)
        fclose(in);
    if (out && fclose(out))
        rc = -1;
    return rc;
}

static void test_errors(void)
{
    sl_err err = {""};
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.gain = 4.6;
    sl_image img;
    sl_image_init(&img);
    CHECK(load1(&o, tpath("missing.fits"), &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "missing.fits: cannot open"));
    CHECK(load1(&o, CROP "[2]", &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "sdss-crop-r-002583-2-0136.fits[2]: HDU 2: not an image"));
    CHECK(load1(&o, CROP "[7]", &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "sdss-crop-r-002583-2-0136.fits[7]: cannot open: no such HDU"));
    /* Cut in the middle of the image data: the header pass passes, the
     * pixel read fails and says so. */
    const char *cut = tpath("cut.fits");
    CHECK(copy_prefix(CROP, cut, 2880 * 4 + 100000) == 0);
    CHECK(load1(&o, cut, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "cut.fits: ") && contains(err.msg, "truncated"));
    /* Generic image without GAIN or WCS. */
    static float pix[16 * 16];
    const char *nogain = tpath("nogain.fits");
    CHECK(write_generic(nogain, pix, 16, 16, 0, NULL, &err) == 0);
    sl_frame_opts_init(&o);
    CHECK(load1(&o, nogain, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "nogain.fits: gain unknown (no GAIN keyword in HDU 1): give --gain"));
    sl_fits_image_out im = {pix, 16, 16, NULL, 0};
    sl_fits_out out = {NULL, 0, &im, 1, NULL, 0};
    const char *nowcs = tpath("nowcs.fits");
    CHECK(sl_fits_write(nowcs, &out, &err) == 0);
    o.gain = 1;
    CHECK(load1(&o, nowcs, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "nowcs.fits: no pixel scale"));
    o.pixel_scale = 0.5;
    o.background = 0;
    CHECK(load1(&o, nowcs, &img, NULL, &err) == 0 && img.pixel_scale == 0.5);
    o.n_paths = 0;
    CHECK(sl_frame_load(&o, &img, NULL, NULL, &err) == -1);
    o.gain = -1;
    CHECK(load1(&o, nowcs, &img, NULL, &err) == -1 && contains(err.msg, "gain -1"));
    sl_image_free(&img);
    unlink(cut);
    unlink(nogain);
    unlink(nowcs);
}

/* A primary header alone (no data): enough for the header pass, which
 * must refuse the size before anything is allocated or read. */
static int write_header_only(const char *path, long nx, long ny)
{
    char block[2880], card[81];
    memset(block, ' ', sizeof block);
    const char *fmt[6] = {"SIMPLE  = %20s", "BITPIX  = %20s", "NAXIS   = %20s",
                          "NAXIS1  = %20ld", "NAXIS2  = %20ld", "GAIN    = %20s"};
    const char *val[6] = {"T", "-32", "2", NULL, NULL, "1.0"};
    for (int i = 0; i < 6; i++) {
        int n = i == 3 ? snprintf(card, sizeof card, fmt[i], nx)
                : i == 4 ? snprintf(card, sizeof card, fmt[i], ny)
                         : snprintf(card, sizeof card, fmt[i], val[i]);
        memcpy(block + 80 * i, card, (size_t)n);
    }
    memcpy(block + 80 * 6, "END", 3);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t k = fwrite(block, 1, sizeof block, fp);
    return fclose(fp) == 0 && k == sizeof block ? 0 : -1;
}

static void test_absurd_sizes(void)
{
    sl_err err = {""};
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.pixel_scale = 1;
    const char *path = tpath("huge.fits");
    sl_image img;
    sl_image_init(&img);
    CHECK(write_header_only(path, SL_MAX_SIDE + 1L, 1) == 0);
    CHECK(load1(&o, path, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "huge.fits: HDU 0: image of 65537 x 1 pixels, want 1 to 65536"));
    CHECK(write_header_only(path, 20000, 20000) == 0);
    CHECK(load1(&o, path, &img, NULL, &err) == -1);
    CHECK(contains(err.msg, "20000 x 20000 pixels in 1 band are more than 268435456"));
    CHECK(img.pixels == NULL);
    unlink(path);
}

static void remove_files(void)
{
    const char *names[] = {"sdss.fits", "photoField.fits", "field.fits", "nan.fits",
                           "g.fits",    "r.fits",          "wide.fits"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(tpath(names[i]));
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/test_frame.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_sdss_crop);
    RUN(test_sdss_synthetic);
    RUN(test_background_exact);
    RUN(test_mesh_background);
    RUN(test_constant_background_and_nan);
    RUN(test_multiband);
    RUN(test_psf_choices);
    RUN(test_errors);
    RUN(test_absurd_sizes);
    remove_files();
    return check_report("test_frame");
}
