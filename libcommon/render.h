/* render.h: from a catalog to an image: the likelihood half of the generative
 * model (DESIGN.md; seed 000 eq. 3-4).
 *
 * Every source is drawn exactly as profile x PSF x pixel, one FFT stamp per
 * source and distinct PSF (stamp.h): galaxy components (any Sersic index
 * 0.5-6; the deflector's own light of a lens system is its bulge+disk) and
 * stars (a point: the same path, so a galaxy shrunk to a point is a star).
 * Lensed light is ray-shot (lens.h) onto a grid `supersample` times finer
 * than the pixels (made odd), 3 x 3 rays per sub-cell where the light is
 * not smooth, and drawn from those sub-cell integrals through the same
 * transforms; the sky is added; and, unless the expectation is wanted,
 * Poisson noise is drawn: x_n ~ Poisson(sky_n + sum_s lambda_ns), plus
 * optional Gaussian read noise. */
#ifndef SL_RENDER_H
#define SL_RENDER_H

#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "psf.h"

extern const sl_config_key sl_render_keys[];
extern const size_t sl_n_render_keys;

/* Everything about an image but its sources. */
typedef struct sl_scene {
    int width, height, n_bands;
    char bands[SL_MAX_BANDS][16];
    double pixel_scale;              /* arcsec per pixel */
    double sky[SL_MAX_BANDS];        /* electrons per pixel */
    double zero_point[SL_MAX_BANDS];
    double gain[SL_MAX_BANDS];
    double read_noise[SL_MAX_BANDS]; /* electrons; drawn only when add_read_noise */
    int add_read_noise;
    int supersample;                 /* sub-pixels per pixel side for lensed light */
    int psf_size;                    /* PSF stamp side, or 0 for automatic (unused by drawing) */
    double disk_n, bulge_n;          /* Sersic indices for catalogs that lack them */
    sl_psf psf[SL_MAX_BANDS];
} sl_scene;

/* The scene a configuration describes (survey keys + render keys + the image
 * size keys of the prior). */
int sl_scene_from_config(sl_scene *s, const sl_config *cfg, sl_err *err);
void sl_scene_free(sl_scene *s);
/* Takes the geometry, sky, calibration and PSFs from an image record (its
 * `psf` key when present), keeping the configured values for what the record
 * lacks.  s must hold a scene made by sl_scene_from_config. */
int sl_scene_from_image(sl_scene *s, const sl_image *img, const sl_record *rec, sl_err *err);
/* The other way: the image record a scene and its pixels make (whole, id),
 * for sl_image_pack.  img borrows pixels; it owns nothing to free. */
void sl_scene_to_image(const sl_scene *s, int64_t id, const float *pixels, sl_image *img);
/* Non-zero when two scenes need different renderers (size, bands, PSFs). */
int sl_scene_differs(const sl_scene *a, const sl_scene *b);
void sl_scene_copy(sl_scene *dst, const sl_scene *src);

/* Packs the per-band PSF descriptions of the `psf` key of image records:
 * those of a scene, or any n_bands PSFs of an image of that pixel scale. */
void sl_scene_pack_psf(msgpack_packer *pk, const sl_scene *s);
void sl_psf_pack(msgpack_packer *pk, const sl_psf *psf, int n_bands, double pixel_scale);

/* Per-thread working memory: convolvers with their FFT plans, scratch images,
 * the PSF stamps.  Made once, reused for every image. */
typedef struct sl_renderer sl_renderer;
sl_renderer *sl_renderer_new(const sl_scene *s, sl_err *err);
void sl_renderer_free(sl_renderer *r);

/* The expected image, sky included, [band][y][x] electrons.  Sources
 * without a finite position and flux in every band (rows of an estimate its
 * cascade did not measure) are left out, and lens systems without finite
 * lens parameters are drawn without their arcs. */
int sl_render_expected(sl_renderer *r, const sl_catalog *cat, float *out, sl_err *err);

/* Fills the truth metrics of cat (snr, arc_flux, arc_snr: sl-records(5))
 * from the stamps of the last sl_render_expected of that catalog and its
 * expected image. */
void sl_render_metrics(const sl_renderer *r, const float *expected, sl_catalog *cat);

/* Replaces an expected image by a noisy draw from it, from the random stream
 * (seed, index, SL_RNG_NOISE), and read noise from (seed, index,
 * SL_RNG_READ_NOISE). */
void sl_render_noise(const sl_scene *s, float *img, uint64_t seed, uint64_t index);

#endif
