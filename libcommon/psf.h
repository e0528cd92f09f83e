/* psf.h: point-spread functions, rendered into pixel images.
 *
 * Four kinds, all in pixel units:
 *   gaussian  fwhm
 *   moffat    fwhm, beta:  I(r) ~ (1 + r^2/alpha^2)^-beta,
 *             alpha = fwhm / (2 sqrt(2^(1/beta) - 1)), beta > 1
 *   sdss      the SDSS photo pipeline's fit (psField HDU 6):
 *             I(r) ~ exp(-r^2/(2 s1^2)) + b exp(-r^2/(2 s2^2))
 *                    + p0 (1 + r^2/(beta sp^2))^(-beta/2)
 *             with s1 = sigma1, s2 = sigma2, sp = sigmap.  The psField
 *             columns psf_sigma1, psf_sigma2, psf_sigmap hold these sigmas
 *             themselves in pixels, not their squares (checked against the
 *             field's 25 x 25 PSF image and its psf_width; see test_psf.c).
 *             When beta <= 2 the wing has no finite total flux; it is then
 *             cut at SL_PSF_WING_CUT pixels.
 *   pixel     an image (e.g. from FITS), already pixel-integrated, stored
 *             normalized to sum 1; its centre is its middle:
 *             ((w-1)/2, (h-1)/2) in pixel-index units, the central pixel of
 *             an odd-sized image.
 *
 * Rendering puts the PSF into an odd n x n image.  The central pixel is
 * c = n/2 and the PSF centre sits at (c + dx, c + dy) in pixel-index units,
 * i.e. at the continuous position (c + 0.5 + dx, c + 0.5 + dy) since pixel
 * (i, j) covers [i, i+1) x [j, j+1).  A star at (x, y) is therefore drawn
 * with the stamp's central pixel at (floor(x), floor(y)) and
 * dx = x - floor(x) - 0.5, dy = y - floor(y) - 0.5.  The rendered image
 * sums to 1 and its centroid is (dx, dy) from the central pixel.
 *
 * Parametric kinds are integrated over each pixel: the Gaussian terms
 * exactly (error functions, separable), Moffat profiles and the SDSS wing by
 * Gauss-Legendre quadrature on each pixel, with more nodes where the profile
 * curves faster than the pixel scale.  Pixel PSFs are shifted by Lanczos-5
 * interpolation (separable; the taps are corrected to reproduce quadratics,
 * so the flux, centroid and second moments of the shifted PSF are exact
 * when the stamp holds it all, and a whole-pixel shift copies the image).
 * Shifting an undersampled PSF changes its peak and measured FWHM by a few
 * percent, as sampling a real star at that offset would; the interpolation
 * can also make small negative pixels. */
#ifndef SL_PSF_H
#define SL_PSF_H

#include "err.h"

#define SL_PSF_WING_CUT 50.0 /* pixels; SDSS wings with beta <= 2 only */

typedef enum { SL_PSF_GAUSSIAN, SL_PSF_MOFFAT, SL_PSF_SDSS, SL_PSF_PIXEL } sl_psf_kind;

typedef struct sl_psf {
    sl_psf_kind kind;
    double fwhm;                 /* gaussian, moffat */
    double beta;                 /* moffat; sdss wing */
    double sigma1, sigma2, sigmap, b, p0; /* sdss */
    float *pix;                  /* pixel: pw x ph, sums to 1 (owned) */
    int pw, ph;
    /* derived by the init functions */
    double alpha;                /* moffat */
    double norm;                 /* moffat, sdss: 1 / integral of the unnormalized profile */
} sl_psf;

/* Each init fills *p (overwriting it: free a pixel PSF first) and returns
 * 0, or -1 with a message naming the bad parameter and leaves *p alone.
 * sl_psf_free() releases what init allocated (pixel kind only). */
int sl_psf_init_gaussian(sl_psf *p, double fwhm, sl_err *err);
int sl_psf_init_moffat(sl_psf *p, double fwhm, double beta, sl_err *err);
int sl_psf_init_sdss(sl_psf *p, double sigma1, double sigma2, double sigmap,
                     double beta, double b, double p0, sl_err *err);
/* Copies img (w x h, any size): finite pixels with a positive sum. */
int sl_psf_init_pixel(sl_psf *p, const float *img, int w, int h, sl_err *err);
void sl_psf_free(sl_psf *p);

/* Reads the SDSS fit for band (one of "ugriz") from a psField file
 * (HDU 6, columns psf_sigma1, psf_sigma2, psf_sigmap, psf_beta, psf_b,
 * psf_p0, each holding the five bands in the order ugriz). */
int sl_psf_read_psfield(sl_psf *p, const char *path, char band, sl_err *err);
/* Reads a pixel PSF from an image HDU (hdu < 0: the one the name selects). */
int sl_psf_read_image(sl_psf *p, const char *path, int hdu, sl_err *err);

/* Surface density at radius r (pixels) for unit total flux, before pixel
 * integration.  Parametric kinds only (0 for pixel PSFs). */
double sl_psf_profile(const sl_psf *p, double r);
/* Fraction of the flux within radius r (parametric kinds; pixel kind: the
 * flux of the pixels whose centres lie within r of the PSF centre). */
double sl_psf_enclosed(const sl_psf *p, double r);
/* FWHM in pixels: of the continuous profile for parametric kinds (found
 * numerically for sdss), measured with sl_psf_image_fwhm for pixel PSFs. */
double sl_psf_fwhm(const sl_psf *p);

/* The smallest odd size whose stamp holds at least frac of the flux
 * (0 < frac < 1) for any centre offset within half a pixel, at most
 * max_size (made odd by rounding down), at least 3.  Pixel PSFs: the
 * smallest odd size holding the whole image, capped the same way. */
int sl_psf_auto_size(const sl_psf *p, double frac, int max_size);

/* Renders into out[size * size] (row-major [y][x]; size odd, 1..4095),
 * centred at (dx, dy) from the central pixel (see the top of this file),
 * normalized to sum 1.  *captured (when not NULL) gets the fraction of the
 * PSF's flux the stamp held before normalization. */
int sl_psf_render(const sl_psf *p, int size, double dx, double dy, float *out,
                  double *captured, sl_err *err);

/* FWHM of a compact source in a pixel image (w x h, row-major), in pixels:
 * 2 sqrt(A / pi) where A is the area over which the image, interpolated
 * (Lanczos-5, 8 or 16 samples per pixel), exceeds half of its maximum.
 * For a round profile this is its FWHM; the pixel values are read as
 * samples, so a pixel-integrated image gives the FWHM of the
 * pixel-convolved profile.  Returns NAN for an image with no positive
 * maximum. */
double sl_psf_image_fwhm(const float *img, int w, int h);

#endif
