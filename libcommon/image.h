/* image.h: the `image` record (man 5 sl-records) as a C struct.
 *
 * sl_image_read validates a record against the format (types, sizes, ranges)
 * and copies the pixels out; it is what every tool uses to take an image in,
 * so that a malformed record fails the same way everywhere. */
#ifndef SL_IMAGE_H
#define SL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define SL_MAX_BANDS 16
#define SL_MAX_SIDE 65536
/* Pixels per image record (all bands), about 1 GiB of float32. */
#define SL_MAX_PIXELS ((size_t)1 << 28)

typedef struct sl_image {
    int64_t id;
    int width, height, n_bands;
    char bands[SL_MAX_BANDS][16];
    double pixel_scale;              /* arcsec per pixel */
    float *pixels;                   /* [band][y][x], electrons */
    size_t pixels_cap;               /* allocated floats: the buffer only grows */
    double background[SL_MAX_BANDS]; /* electrons per pixel (mean of the map if any) */
    float *background_map;           /* [band][y][x] or NULL */
    size_t background_cap;
    int has_zero_point, has_gain;
    double zero_point[SL_MAX_BANDS]; /* magnitude of a source giving 1 electron */
    double gain[SL_MAX_BANDS];       /* electrons per ADU */
    /* Patches: where they sit in their parent image.  A whole image is its
     * own parent: parent = id, x0 = y0 = border = 0, patch 0 of 1. */
    int is_patch;
    int64_t parent;
    int x0, y0, border;
    int patch, patches;
    int parent_width, parent_height;
} sl_image;

void sl_image_init(sl_image *img);
void sl_image_free(sl_image *img);
/* Reads and validates an image record; img is reused across calls. */
int sl_image_read(sl_image *img, const sl_record *rec, sl_err *err);
/* Everything but the pixels and the background map (which may be absent:
 * sl-encode --no-pixels), for tools that only need where an image sits. */
int sl_image_read_meta(sl_image *img, const sl_record *rec, sl_err *err);
/* Checks an image record without keeping it (sl-cat --check). */
int sl_image_check(const sl_record *rec, sl_err *err);
/* Index of a band by name, or -1. */
int sl_image_band(const sl_image *img, const char *name);

#endif
