#include "tile.h"

#include <string.h>

sl_tiling sl_tiling_make(int w, int h, int tile, int border, int k)
{
    sl_tiling t = {tile, border, k, (w + tile - 1) / tile, (h + tile - 1) / tile};
    return t;
}

void sl_tile_truth_fill(const sl_tiling *t, const sl_catalog *cat, int ref_band,
                        sl_tile_truth *truth)
{
    memset(truth, 0, (size_t)t->nx * t->ny * sizeof *truth);
    for (int s = 0; s < cat->n; s++) {
        const sl_source *src = &cat->src[s];
        if (!(fabs(src->x) <= SL_MAX_POSITION && fabs(src->y) <= SL_MAX_POSITION))
            continue; /* off every image (or NaN): no tile, and no undefined conversion */
        int i = (int)floor(src->x / t->tile), j = (int)floor(src->y / t->tile);
        if (i < 0 || j < 0 || i >= t->nx || j >= t->ny)
            continue;
        sl_tile_truth *tt = &truth[(size_t)j * t->nx + i];
        tt->count++;
        /* Insert by flux, brightest first; the faintest falls off past k.  Ties
         * keep catalog order, so the result does not depend on anything else. */
        double f = src->flux[ref_band];
        int pos = tt->n;
        while (pos > 0 && cat->src[tt->index[pos - 1]].flux[ref_band] < f)
            pos--;
        if (pos >= t->k)
            continue;
        int last = tt->n < t->k ? tt->n : t->k - 1;
        for (int m = last; m > pos; m--) {
            tt->index[m] = tt->index[m - 1];
            tt->u[m] = tt->u[m - 1];
            tt->v[m] = tt->v[m - 1];
        }
        tt->index[pos] = s;
        tt->u[pos] = src->x / t->tile - i;
        tt->v[pos] = src->y / t->tile - j;
        if (tt->n < t->k)
            tt->n++;
    }
}

void sl_window(const float *img, int w, int h, int n_bands, int x0, int y0, int side,
               float fill, float *out)
{
    for (int b = 0; b < n_bands; b++) {
        const float *band = img + (size_t)b * w * h;
        float *o = out + (size_t)b * side * side;
        for (int v = 0; v < side; v++) {
            int y = y0 + v;
            float *row = o + (size_t)v * side;
            if (y < 0 || y >= h) {
                for (int u = 0; u < side; u++)
                    row[u] = fill;
                continue;
            }
            /* The part of the row inside the image is one copy. */
            int lo = x0 < 0 ? -x0 : 0, hi = x0 + side > w ? w - x0 : side;
            for (int u = 0; u < lo && u < side; u++)
                row[u] = fill;
            if (hi > lo)
                memcpy(row + lo, band + (size_t)y * w + x0 + lo, (size_t)(hi - lo) * sizeof *row);
            for (int u = hi > lo ? hi : lo; u < side; u++)
                row[u] = fill;
        }
    }
}
