/* Tiling: which tile holds which source, the brightest-first capacity rule,
 * and windows that pad outside the image. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tile.h"

static sl_source *star(sl_catalog *c, double x, double y, double flux)
{
    sl_source *s = sl_catalog_add(c);
    s->x = x, s->y = y, s->flux[0] = flux;
    return s;
}

static void test_grid(void)
{
    sl_tiling t = sl_tiling_make(10, 8, 4, 24, 1);
    CHECK(t.nx == 3 && t.ny == 2);
    CHECK(sl_tiling_ptile(&t) == 52);
    t = sl_tiling_make(8, 8, 4, 0, 1);
    CHECK(t.nx == 2 && t.ny == 2);
}

static void test_truth_per_tile(void)
{
    sl_tiling t = sl_tiling_make(12, 8, 4, 2, 1);
    sl_catalog c;
    sl_catalog_init(&c, 1);
    star(&c, 1.0, 1.0, 100);  /* tile (0,0) */
    star(&c, 3.9, 0.1, 500);  /* tile (0,0), brighter: kept */
    star(&c, 4.0, 4.0, 50);   /* tile (1,1): on the boundary belongs to the right/lower tile */
    star(&c, 11.5, 7.5, 10);  /* tile (2,1) */
    star(&c, -0.5, 3, 10);    /* outside: ignored */
    sl_tile_truth tt[6];
    sl_tile_truth_fill(&t, &c, 0, tt);
    CHECK(tt[0].count == 2 && tt[0].n == 1 && tt[0].index[0] == 1);
    CHECK_NEAR(tt[0].u[0], 3.9 / 4, 1e-12);
    CHECK_NEAR(tt[0].v[0], 0.1 / 4, 1e-12);
    CHECK(tt[1].count == 0 && tt[2].count == 0 && tt[3].count == 0);
    CHECK(tt[4].count == 1 && tt[4].index[0] == 2 && tt[4].u[0] == 0 && tt[4].v[0] == 0);
    CHECK(tt[5].count == 1 && tt[5].index[0] == 3);
    CHECK_NEAR(tt[5].u[0], 0.875, 1e-12);
    /* Capacity 3: all three of a crowded tile, brightest first. */
    t = sl_tiling_make(4, 4, 4, 0, 3);
    sl_catalog_free(&c);
    sl_catalog_init(&c, 1);
    star(&c, 1, 1, 20), star(&c, 2, 2, 40), star(&c, 3, 3, 30), star(&c, 0.5, 3, 10);
    sl_tile_truth_fill(&t, &c, 0, tt);
    CHECK(tt[0].count == 4 && tt[0].n == 3);
    CHECK(tt[0].index[0] == 1 && tt[0].index[1] == 2 && tt[0].index[2] == 0);
    CHECK_NEAR(tt[0].u[1], 0.75, 1e-12);
    sl_catalog_free(&c);
}

static void test_windows(void)
{
    /* Two bands of 5 x 3 with pixel value 100 b + 10 y + x. */
    float img[2 * 15], out[2 * 16];
    for (int b = 0; b < 2; b++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
                img[b * 15 + y * 5 + x] = (float)(100 * b + 10 * y + x);
    sl_window(img, 5, 3, 2, -1, -1, 4, -7, out);
    CHECK(out[0] == -7 && out[1] == -7 && out[4] == -7);
    CHECK(out[5] == 0 && out[6] == 1 && out[7] == 2);
    CHECK(out[13] == 20 && out[16 + 5] == 100);
    sl_window(img, 5, 3, 2, 3, 1, 4, -7, out);
    CHECK(out[0] == 13 && out[1] == 14 && out[2] == -7 && out[4] == 23 && out[8] == -7);
    /* Entirely outside. */
    sl_window(img, 5, 3, 1, 10, 10, 4, 0.5f, out);
    for (int i = 0; i < 16; i++)
        CHECK(out[i] == 0.5f);
    /* A cut-out centres the pixel holding (x, y). */
    float cut[9];
    sl_cutout(img, 5, 3, 1, 2.7, 1.2, 3, 0, cut);
    CHECK(cut[4] == 12 && cut[0] == 1 && cut[8] == 23);
    /* A padded tile is the tile plus its border. */
    sl_tiling t = sl_tiling_make(5, 3, 2, 1, 1);
    sl_tile_padded(&t, img, 5, 3, 1, 1, 0, 0, out);
    CHECK(out[0] == 0 && out[4] == 1 && out[5] == 2 && out[8] == 11 && out[15] == 24);
}

int main(void)
{
    RUN(test_grid);
    RUN(test_truth_per_tile);
    RUN(test_windows);
    return check_report("test_tile");
}
