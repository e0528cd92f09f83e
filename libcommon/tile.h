/* tile.h: the tiling decomposition of seed 000 (after BLISS): an image is cut
 * into T x T pixel tiles; each tile holds at most K sources (K = 1 by
 * default: the brightest when the prior puts more there).  The detection
 * encoder sees each tile with a context border (a "padded tile"); the other
 * encoders see source-centred cut-outs.
 *
 * Tile (i, j) covers pixels [i T, (i+1) T) x [j T, (j+1) T).  The grid covers
 * the whole image: ceil(W / T) x ceil(H / T) tiles, the last row and column
 * possibly reaching past the image edge.  Pixels outside the image, in padded
 * tiles and cut-outs, take the value `fill` (the background after
 * normalization, i.e. 0). */
#ifndef SL_TILE_H
#define SL_TILE_H

#include <math.h>

#include "catalog.h"

#define SL_TILE_MAX_K 4

typedef struct sl_tiling {
    int tile;        /* T, pixels */
    int border;      /* context around each tile in a padded tile, pixels */
    int k;           /* capacity: sources per tile */
    int nx, ny;      /* tiles across and down */
} sl_tiling;

/* The grid for a w x h image. */
sl_tiling sl_tiling_make(int w, int h, int tile, int border, int k);
/* Side of a padded tile: T + 2 border. */
static inline int sl_tiling_ptile(const sl_tiling *t) { return t->tile + 2 * t->border; }

/* What one tile holds, for training targets: up to k sources, brightest first
 * (by flux in band ref_band); count is how many the tile has in truth (it may
 * exceed k; only the k brightest are kept). */
typedef struct sl_tile_truth {
    int count, n;            /* true count, and kept (min(count, k)) */
    int index[SL_TILE_MAX_K]; /* positions in the catalog */
    double u[SL_TILE_MAX_K], v[SL_TILE_MAX_K]; /* location within the tile, in (0, 1) */
} sl_tile_truth;

/* Fills truth[j * nx + i] for every tile from a catalog in image pixels. */
void sl_tile_truth_fill(const sl_tiling *t, const sl_catalog *cat, int ref_band,
                        sl_tile_truth *truth);

/* Copies the window of size side x side whose top-left pixel is (x0, y0)
 * from every band of a [band][y][x] image into out [band][side][side],
 * pixels outside the image set to fill. */
void sl_window(const float *img, int w, int h, int n_bands, int x0, int y0, int side,
               float fill, float *out);

/* The padded tile of tile (i, j). */
static inline void sl_tile_padded(const sl_tiling *t, const float *img, int w, int h,
                                  int n_bands, int i, int j, float fill, float *out)
{
    int side = sl_tiling_ptile(t);
    sl_window(img, w, h, n_bands, i * t->tile - t->border, j * t->tile - t->border, side, fill,
              out);
}

/* The cut-out of side `side` centred on the pixel holding (x, y): its centre
 * pixel (side / 2, side / 2) is pixel (floor(x), floor(y)) of the image. */
static inline void sl_cutout(const float *img, int w, int h, int n_bands, double x, double y,
                             int side, float fill, float *out)
{
    sl_window(img, w, h, n_bands, (int)floor(x) - side / 2, (int)floor(y) - side / 2, side, fill,
              out);
}

#endif
