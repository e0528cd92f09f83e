/* image.h: the `image` record (man 5 sl-records) as a C struct.
 *
 * Owns the image record's layout, both ways: sl_image_read validates a record
 * against the format (types, sizes, ranges) and copies the pixels out, so
 * that a malformed record fails the same way in every tool; sl_image_pack
 * writes the keys that describe an image, and sl_image_rewrite_begin starts
 * a record that copies an input image record except the keys it replaces.
 * It also owns what every record about an image shares: the band list (read
 * once, here), the agreement of bands and pixel scales between records and
 * models (one tolerance), and a patch's interior. */
#ifndef SL_IMAGE_H
#define SL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define SL_MAX_BANDS 16
#define SL_MAX_SIDE 65536
/* Pixels per image record (all bands), about 1 GiB of float32. */
#define SL_MAX_PIXELS ((size_t)1 << 28)
/* Source positions (pixels) read from records lie within this distance of the
 * origin: far beyond any image, and far inside int, so that pixel indices
 * computed from them are defined.  NaN and larger values are refused. */
#define SL_MAX_POSITION 1073741824.0

/* Pixel scales agree within this relative tolerance: a survey's WCS gives its
 * nominal scale to a few 1e-5 (SDSS: 0.396012 for 0.396), and a 0.1%
 * difference in sizes is far below what the encoders resolve. */
#define SL_IMAGE_SCALE_TOL 1e-3

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
    /* The parent's celestial WCS as FITS header cards (libcommon/wcs.h),
     * malloc'ed, or NULL: sky coordinates of the pixels. */
    char *wcs;
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
/* ---- Writing ----------------------------------------------------------------
 * An image record is the keys sl_image_pack writes (id through gain: the
 * background as a map when the image has one, zero point and gain when
 * known), a `psf`, the tool's own keys and catalogs, and for patches and
 * cut-outs the keys sl_image_pack_patch writes (parent through
 * parent_height).  sl_image_n_keys counts both, for the record's promise. */
uint32_t sl_image_n_keys(const sl_image *img);
void sl_image_pack(sl_map *rec, const sl_image *img);
/* The five keys every record about an image begins with (image, catalog):
 * id, width, height, bands, pixel_scale. */
void sl_image_pack_frame(sl_map *rec, const sl_image *img);
void sl_image_pack_patch(sl_map *rec, const sl_image *img);

/* Starts an image record that copies in, an image record read, but for the
 * keys listed in replaced (a NULL-ended list of at most SL_IMAGE_MAX_REPLACED,
 * `type` implied): the caller
 * writes n_new keys more, and ends it with sl_writer_end.  Unknown keys pass
 * through, as man 5 sl-records asks. */
#define SL_IMAGE_MAX_REPLACED 15
void sl_image_rewrite_begin(sl_writer *w, sl_map *rec, const sl_record *in,
                            const char *const *replaced, uint32_t n_new);

/* Index of a band by name, or -1. */
int sl_image_band(const sl_image *img, const char *name);

/* The `bands` key of any record about an image (image, catalog): 1 to
 * SL_MAX_BANDS names of 1 to 15 characters. */
int sl_image_read_bands(const sl_record *rec, char bands[][16], int *n_bands, sl_err *err);
/* The same names in the same order. */
int sl_image_same_bands(const char (*a)[16], int na, const char (*b)[16], int nb);
/* The names joined by sep, for messages. */
void sl_image_format_bands(const char (*bands)[16], int n, const char *sep, char *buf,
                           size_t size);
/* Pixel scales equal within SL_IMAGE_SCALE_TOL. */
int sl_image_same_scale(double a, double b);

/* The interior of an image in its own pixels, [x0, x1) x [y0, y1): inside
 * the border and clipped to the parent.  The interiors of the patches of a
 * parent partition it; a whole image's interior is the image. */
void sl_image_interior(const sl_image *img, int *x0, int *y0, int *x1, int *y1);

#endif
