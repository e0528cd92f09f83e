/* augment.c: mirror symmetries of the prior (augment.h). */
#include <math.h>
#include <stdio.h>

#include "augment.h"

/* Reverses the order of n floats spaced by `stride` starting at p. */
static void reverse(float *p, int n, long stride)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        float t = p[i * stride];
        p[i * stride] = p[j * stride];
        p[j * stride] = t;
    }
}

/* Mirrors one [band][y][x] plane set. */
static void mirror_pixels(float *pix, int w, int h, int n_bands, unsigned flip)
{
    for (int b = 0; b < n_bands; b++) {
        float *plane = pix + (size_t)b * w * h;
        if (flip & SL_MIRROR_X)
            for (int y = 0; y < h; y++)
                reverse(plane + (size_t)y * w, w, 1);
        if (flip & SL_MIRROR_Y)
            for (int x = 0; x < w; x++)
                reverse(plane + x, h, w);
    }
}

/* An angle on [0, pi) after a mirror: pi - angle, kept on [0, pi).  NaN
 * (a star's) stays NaN. */
static double mirror_angle(double a)
{
    double m = M_PI - a;
    return m >= M_PI ? m - M_PI : m;
}

static void mirror_source(sl_source *s, int w, int h, unsigned flip)
{
    if (flip & SL_MIRROR_X) {
        s->x = w - s->x;
        s->src_dx = -s->src_dx;
    }
    if (flip & SL_MIRROR_Y) {
        s->y = h - s->y;
        s->src_dy = -s->src_dy;
    }
    /* One mirror reverses angles; two (a half turn) leave them. */
    if (flip == SL_MIRROR_X || flip == SL_MIRROR_Y) {
        s->shape.angle = mirror_angle(s->shape.angle);
        s->src_shape.angle = mirror_angle(s->src_shape.angle);
        s->e2 = -s->e2;
        s->shear_g2 = -s->shear_g2;
    }
}

int sl_mirror(sl_image *img, sl_catalog *truth, unsigned flip, sl_err *err)
{
    if (img->is_patch)
        return sl_err_set(err, "image %lld is a patch of image %lld: mirror whole images",
                          (long long)img->id, (long long)img->parent);
    flip &= SL_MIRROR_X | SL_MIRROR_Y;
    if (!flip)
        return 0;
    mirror_pixels(img->pixels, img->width, img->height, img->n_bands, flip);
    if (img->background_map)
        mirror_pixels(img->background_map, img->width, img->height, img->n_bands, flip);
    for (int i = 0; i < truth->n; i++)
        mirror_source(&truth->src[i], img->width, img->height, flip);
    return 0;
}

int sl_mirror_check_psf(const sl_record *rec, sl_err *err)
{
    const msgpack_object *psf = sl_rec_get(rec, "psf");
    if (!psf || psf->type != MSGPACK_OBJECT_ARRAY)
        return sl_rec_fail(rec, "psf", err, "missing: mirroring needs to know the PSF is mirror "
                           "symmetric");
    for (uint32_t b = 0; b < psf->via.array.size; b++) {
        const msgpack_object *model = sl_obj_get(&psf->via.array.ptr[b], "model");
        if (!model || sl_obj_is_str(model, "pixel")) {
            char key[32];
            snprintf(key, sizeof key, "psf[%u]", b);
            return sl_rec_fail(rec, key, err, "a pixel PSF image is not known to be mirror "
                               "symmetric: train without --augment");
        }
    }
    return 0;
}
