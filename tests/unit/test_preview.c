/* PNG previews: written with libcommon/png.c, read back with libpng. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <png.h>

#include "check.h"
#include "preview.h"

static char dir[64];

/* A PNG read back: 3 bytes per pixel, grey files repeated into all three. */
typedef struct picture {
    int w, h, colour;
    unsigned char *rgb;
} picture;

static int picture_read(const char *path, picture *p)
{
    png_image img;
    memset(&img, 0, sizeof img);
    memset(p, 0, sizeof *p);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return -1;
    p->w = (int)img.width;
    p->h = (int)img.height;
    p->colour = (img.format & PNG_FORMAT_FLAG_COLOR) != 0;
    /* Read in the file's own format so that libpng converts nothing. */
    img.format = p->colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
    p->rgb = malloc(3 * (size_t)p->w * p->h);
    if (!buf || !p->rgb || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        png_image_free(&img);
        free(buf);
        free(p->rgb);
        p->rgb = NULL;
        return -1;
    }
    for (size_t i = 0; i < (size_t)p->w * p->h; i++)
        for (int k = 0; k < 3; k++)
            p->rgb[3 * i + k] = p->colour ? buf[3 * i + k] : buf[i];
    free(buf);
    return 0;
}

static const unsigned char *at(const picture *p, int x, int y)
{
    return p->rgb + 3 * ((size_t)y * p->w + x);
}

static int is_rgb(const picture *p, int x, int y, int r, int g, int b)
{
    const unsigned char *c = at(p, x, y);
    return c[0] == r && c[1] == g && c[2] == b;
}

/* Files in the test directory (nothing may be left behind by a failure). */
static int dir_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static void path_in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* One band with a known noise level: background-subtracted values -2, 0, +2
 * in proportions 1:2:1 and one pixel of 1000, so median 0, MAD 2,
 * sigma = 2.9652, and every grey level follows from preview.h's formula. */
static void test_grey_stretch(void)
{
    enum { W = 21, H = 21, S = 3 };
    float px[W * H];
    const double bg = 100.0, levels[4] = {-2, 0, 2, 0};
    for (int i = 0; i < W * H; i++)
        px[i] = (float)(bg + levels[i % 4]);
    px[3] = (float)(bg + 1000.0); /* x = 3, y = 0: must land in the top rows */
    char path[128];
    path_in_dir(path, sizeof path, "grey.png");
    sl_err err = {""};
    CHECK(sl_png_write_preview(path, px, W, H, 1, &bg, NULL, 0, S, &err) == 0);
    picture p;
    CHECK(picture_read(path, &p) == 0);
    if (!p.rgb)
        return;
    CHECK(p.w == W * S && p.h == H * S);
    CHECK(!p.colour);
    double soft = SL_PNG_SOFT_SIGMAS * 1.4826 * 2.0;
    double norm = asinh(fmax(1000.0, SL_PNG_WHITE_MIN_SOFTS * soft) / soft);
    int bad = 0;
    for (int y = 0; y < p.h; y++)
        for (int x = 0; x < p.w; x++) {
            double v = px[(y / S) * W + x / S] - bg;
            double want = v > 0 ? 255.0 * asinh(v / soft) / norm : 0.0;
            bad += fabs(at(&p, x, y)[0] - want) > 0.5;
        }
    CHECK(bad == 0);
    /* Brighter in, brighter out; the noise is visible, not black. */
    CHECK(at(&p, 3 * S, 0)[0] == 255 && at(&p, 3 * S + S - 1, S - 1)[0] == 255);
    CHECK(at(&p, 2 * S, 0)[0] > 0 && at(&p, 2 * S, 0)[0] < at(&p, 3 * S, 0)[0]);
    CHECK(at(&p, 0, 0)[0] == 0 && at(&p, 1 * S, 0)[0] == 0);
    free(p.rgb);
}

/* Two bands are averaged: (2v, 0) looks exactly like one band of v. */
static void test_two_bands_average(void)
{
    enum { W = 9, H = 7 };
    float one[W * H], two[2 * W * H];
    const double bg1 = 5.0, bg2[2] = {10.0, -3.0};
    for (int i = 0; i < W * H; i++) {
        double v = ((i * 37) % 11) - 4.0 + (i == 20 ? 3000.0 : 0.0);
        one[i] = (float)(bg1 + v);
        two[i] = (float)(bg2[0] + 2 * v);
        two[W * H + i] = (float)bg2[1];
    }
    char p1[128], p2[128];
    path_in_dir(p1, sizeof p1, "one.png");
    path_in_dir(p2, sizeof p2, "two.png");
    sl_err err = {""};
    CHECK(sl_png_write_preview(p1, one, W, H, 1, &bg1, NULL, 0, 2, &err) == 0);
    CHECK(sl_png_write_preview(p2, two, W, H, 2, bg2, NULL, 0, 2, &err) == 0);
    picture a, b;
    CHECK(picture_read(p1, &a) == 0 && picture_read(p2, &b) == 0);
    if (!a.rgb || !b.rgb)
        return;
    CHECK(!b.colour && b.w == 2 * W && b.h == 2 * H);
    CHECK(memcmp(a.rgb, b.rgb, 3 * (size_t)a.w * a.h) == 0);
    CHECK(at(&b, 2 * (20 % W), 2 * (20 / W))[0] == 255);
    free(a.rgb);
    free(b.rgb);
}

/* Five bands u g r i z: R, G, B come from z, i, r; u and g are not shown. */
static void test_colour(void)
{
    enum { W = 16, H = 16, B = 5, S = 4 };
    static float px[B * W * H];
    const double bg[B] = {10, 20, 30, 40, 50};
    /* Sky noise everywhere but rows 2 and 5, where the test pixels are. */
    for (int b = 0; b < B; b++)
        for (int i = 0; i < W * H; i++)
            px[b * W * H + i] =
                (float)(bg[b] + (i / W == 2 || i / W == 5 ? 0.0 : ((i * 7 + b) % 5 - 2) * 0.5));
#define PX(b, x, y) px[(b) * W * H + (y) * W + (x)]
    PX(4, 2, 2) += 500;  /* z only: red */
    PX(3, 4, 2) += 500;  /* i only: green */
    PX(2, 6, 2) += 500;  /* r only: blue */
    PX(0, 8, 2) += 500;  /* u and g only: not shown */
    PX(1, 8, 2) += 500;
    PX(4, 10, 2) += 4000; /* the brightest pixel, z:i:r = 4:2:1 */
    PX(3, 10, 2) += 2000;
    PX(2, 10, 2) += 1000;
    PX(4, 12, 2) += 40; /* a hundred times fainter, same colour */
    PX(3, 12, 2) += 20;
    PX(2, 12, 2) += 10;
    PX(4, 3, 5) = NAN;      /* a shown band is NaN */
    PX(0, 5, 5) = NAN;      /* only the unshown u band is NaN */
    PX(3, 14, 5) = INFINITY; /* infinite counts as NaN */
#undef PX
    /* Centres chosen so PNG pixel centres fall exactly on the circles. */
    const sl_marker marks[] = {
        {10.375, 10.375, 5.0, {10, 200, 250}}, /* PNG centre (41.5, 41.5), radius 20 */
        {-0.875, 14.125, 5.0, {250, 250, 0}},  /* centre off the image, (-3.5, 56.5) */
        {1e12, 5.0, 1.0, {1, 2, 3}},           /* far away: must be skipped safely */
        {-1e12, 5.0, 1.0, {1, 2, 3}},
        {5.0, 5.0, 1e9, {1, 2, 3}},            /* every row, no pixel near the ring */
    };
    char path[128];
    path_in_dir(path, sizeof path, "colour.png");
    sl_err err = {""};
    CHECK(sl_png_write_preview(path, px, W, H, B, bg, marks, 5, S, &err) == 0);
    picture p;
    CHECK(picture_read(path, &p) == 0);
    if (!p.rgb)
        return;
    CHECK(p.w == W * S && p.h == H * S && p.colour);
    CHECK(is_rgb(&p, 2 * S + 1, 2 * S + 1, 255, 0, 0)); /* saturated: 500 / (500 / 3) > 1 */
    CHECK(is_rgb(&p, 4 * S, 2 * S, 0, 255, 0));
    CHECK(is_rgb(&p, 6 * S + 3, 2 * S + 2, 0, 0, 255));
    CHECK(is_rgb(&p, 8 * S, 2 * S, 0, 0, 0));
    /* Saturation keeps the hue: the brightest pixel is 255 : 127.5 : 63.75. */
    const unsigned char *sat = at(&p, 10 * S, 2 * S), *dim = at(&p, 12 * S, 2 * S);
    CHECK(sat[0] == 255);
    CHECK_NEAR(sat[1], 127.5, 0.5);
    CHECK_NEAR(sat[2], 63.75, 0.5);
    CHECK(dim[0] > 100 && dim[0] < sat[0]);
    CHECK_NEAR(dim[1], dim[0] / 2.0, 1.0);
    CHECK_NEAR(dim[2], dim[0] / 4.0, 1.0);
    /* NaN and infinite pixels, whole blocks of them; an unshown NaN is ignored. */
    for (int k = 0; k < S * S; k++) {
        CHECK(is_rgb(&p, 3 * S + k % S, 5 * S + k / S, SL_PNG_NAN_R, SL_PNG_NAN_G,
                     SL_PNG_NAN_B));
        CHECK(is_rgb(&p, 14 * S + k % S, 5 * S + k / S, SL_PNG_NAN_R, SL_PNG_NAN_G,
                     SL_PNG_NAN_B));
    }
    CHECK(!is_rgb(&p, 5 * S, 5 * S, SL_PNG_NAN_R, SL_PNG_NAN_G, SL_PNG_NAN_B));
    /* The marker ring: exact colour on the circle, nothing at the centre, in
     * between, or a whole pixel off the circle. */
    CHECK(is_rgb(&p, 61, 41, 10, 200, 250) && is_rgb(&p, 21, 41, 10, 200, 250));
    CHECK(is_rgb(&p, 41, 61, 10, 200, 250) && is_rgb(&p, 41, 21, 10, 200, 250));
    CHECK(!is_rgb(&p, 41, 41, 10, 200, 250) && at(&p, 41, 41)[2] < 50);
    CHECK(at(&p, 51, 41)[2] < 50 && at(&p, 41, 31)[2] < 50);
    CHECK(at(&p, 60, 41)[2] < 50 && at(&p, 62, 41)[2] < 50);
    CHECK(is_rgb(&p, 16, 56, 250, 250, 0));
    free(p.rgb);
}

/* A grey image with a NaN pixel or a coloured marker must become RGB. */
static void test_grey_becomes_rgb(void)
{
    enum { W = 8, H = 6 };
    float px[W * H];
    for (int i = 0; i < W * H; i++)
        px[i] = (float)(i % 3);
    px[W + 2] = NAN;
    char path[128];
    path_in_dir(path, sizeof path, "nan.png");
    sl_err err = {""};
    CHECK(sl_png_write_preview(path, px, W, H, 1, NULL, NULL, 0, 1, &err) == 0);
    picture p;
    CHECK(picture_read(path, &p) == 0);
    if (!p.rgb)
        return;
    CHECK(p.colour && p.w == W && p.h == H);
    CHECK(is_rgb(&p, 2, 1, SL_PNG_NAN_R, SL_PNG_NAN_G, SL_PNG_NAN_B));
    int grey = 1;
    for (int i = 0; i < W * H; i++)
        if (i != W + 2)
            grey &= p.rgb[3 * i] == p.rgb[3 * i + 1] && p.rgb[3 * i] == p.rgb[3 * i + 2];
    CHECK(grey);
    CHECK(at(&p, 2, 0)[0] > at(&p, 1, 0)[0] && at(&p, 1, 0)[0] > at(&p, 0, 0)[0]);
    free(p.rgb);

    /* A grey marker keeps a clean image grey; a coloured one does not. */
    px[W + 2] = 1.0f;
    sl_marker m = {4, 3, 2, {90, 90, 90}};
    CHECK(sl_png_write_preview(path, px, W, H, 1, NULL, &m, 1, 2, &err) == 0);
    CHECK(picture_read(path, &p) == 0 && !p.colour);
    free(p.rgb);
    m.rgb[0] = 91;
    CHECK(sl_png_write_preview(path, px, W, H, 1, NULL, &m, 1, 2, &err) == 0);
    CHECK(picture_read(path, &p) == 0 && p.colour);
    free(p.rgb);
    CHECK(unlink(path) == 0);
}

/* A noise-free image (MAD 0) still gets a usable stretch. */
static void test_noise_free(void)
{
    enum { W = 10, H = 10 };
    float px[W * H] = {0};
    px[55] = 10.0f;
    px[56] = 0.1f;
    char path[128];
    path_in_dir(path, sizeof path, "flat.png");
    sl_err err = {""};
    CHECK(sl_png_write_preview(path, px, W, H, 1, NULL, NULL, 0, 1, &err) == 0);
    picture p;
    CHECK(picture_read(path, &p) == 0);
    if (!p.rgb)
        return;
    /* sigma = 1e-3 * 10, soft = 0.02, white = 10: 0.1 is asinh(5)/asinh(500). */
    CHECK(at(&p, 5, 5)[0] == 255);
    CHECK_NEAR(at(&p, 6, 5)[0], 255 * asinh(5.0) / asinh(500.0), 0.5);
    CHECK(at(&p, 0, 0)[0] == 0);
    free(p.rgb);
    CHECK(unlink(path) == 0);
}

static void test_errors_leave_nothing(void)
{
    float px[4] = {1, 2, 3, 4};
    char path[128];
    sl_err err = {""};
    int before = dir_entries();

    path_in_dir(path, sizeof path, "missing/x.png");
    CHECK(sl_png_write_preview(path, px, 2, 2, 1, NULL, NULL, 0, 1, &err) < 0);
    CHECK(strstr(err.msg, path) != NULL);
    CHECK(access(path, F_OK) != 0);

    path_in_dir(path, sizeof path, "bad.png");
    err.msg[0] = '\0';
    CHECK(sl_png_write_preview(path, px, 2, 2, 1, NULL, NULL, 0, 17, &err) < 0);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "17") != NULL);
    CHECK(sl_png_write_preview(path, px, 2, 2, 1, NULL, NULL, 0, 0, &err) < 0);
    sl_marker m = {1, 1, NAN, {0, 0, 0}};
    err.msg[0] = '\0';
    CHECK(sl_png_write_preview(path, px, 2, 2, 1, NULL, &m, 1, 1, &err) < 0);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "marker 0") != NULL);
    CHECK(sl_png_write_preview(path, px, 0, 2, 1, NULL, NULL, 0, 1, &err) < 0);
    CHECK(dir_entries() == before);
}

/* A write that fails half way (file size limit) goes through libpng's error
 * path: an error naming the path, and neither the file nor its temporary. */
static void test_write_failure(void)
{
    enum { W = 64, H = 64 };
    static float px[W * H];
    unsigned state = 12345;
    for (int i = 0; i < W * H; i++) {
        state = state * 1103515245u + 12345u;
        px[i] = (float)(state >> 16 & 0xff);
    }
    char path[128];
    path_in_dir(path, sizeof path, "big.png");
    int before = dir_entries();
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 2000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    sl_err err = {""};
    int rc = sl_png_write_preview(path, px, W, H, 1, NULL, NULL, 0, 8, &err);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);
    CHECK(rc < 0);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, strerror(EFBIG)) != NULL);
    CHECK(dir_entries() == before);
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    char path[512];
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_png.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("test_png: mkdtemp");
        return 1;
    }
    RUN(test_grey_stretch);
    RUN(test_two_bands_average);
    RUN(test_colour);
    RUN(test_grey_becomes_rgb);
    RUN(test_noise_free);
    RUN(test_errors_leave_nothing);
    RUN(test_write_failure);
    remove_dir();
    return check_report("test_preview");
}
