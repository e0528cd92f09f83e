/* stamp.h: exact drawing of sources convolved with a PSF and integrated over
 * pixels, one FFT stamp per source (DESIGN.md, the generative model).
 *
 * A source of transform G^ centred at (x, y) is drawn into an N x N stamp
 * whose pixel (0, 0) is image pixel (x0, y0), x0 = floor(x) - N/2 (so the
 * source sits near the stamp's middle).  With d the source position from
 * the centre of stamp pixel (0, 0), the stamp's DFT is
 *     F(k) = sum_l H(k + 2 pi l) e^(-i (k + 2 pi l).d),
 *     H = G^ P^ sinc(kx/2) sinc(ky/2),
 * the sum over l in Z^2 running over every term with |k + 2 pi l| <= the
 * PSF's k_max (|P^| < 1e-8 beyond): the samples of G * P * pixel at pixel
 * centres, i.e. the exact pixel integrals, up to the light that wraps
 * around the stamp (the stamp holds the source out to where its surface
 * brightness falls below the caller's floor, plus the radius where the
 * PSF's does; so what wraps around is below that floor).  A star is G^ = 1.
 *
 * A pixel PSF is an image already integrated over its pixels, and sampled:
 * it is taken as band-limited, F(k) = G^(k) P_dft(k) e^(-i k.d) on the
 * stamp's own frequencies (no pixel sinc, no aliases); a star is then the
 * PSF image shifted by Fourier interpolation.
 *
 * Lensed light comes as sub-cell integrals on an s-times finer grid (s
 * odd): their DFT divided by the sub-cell box sinc is the light's transform
 * below the fine grid's Nyquist frequency; times P^ and the pixel sinc, the
 * s x s aliases folded onto the stamp's frequencies, it gives the pixel
 * values the same way.
 *
 * Stamp sizes are even with no prime factor above 7; FFTW plans
 * (FFTW_ESTIMATE: deterministic) are made once per size, under
 * sl_fftw_lock.  One sl_stamper per thread and PSF. */
#ifndef SL_STAMP_H
#define SL_STAMP_H

#include "err.h"
#include "fourier.h"
#include "psf.h"

/* One Sersic component of a source (galaxy.h conventions, pixels). */
typedef struct sl_stamp_comp {
    double flux, n, a, q, beta;
} sl_stamp_comp;

typedef struct sl_stamp_src {
    double x, y;             /* centre, pixels */
    int ncomp;               /* 0: a point source (star) */
    sl_stamp_comp comp[2];
    double sb_floor;         /* surface brightness (flux per pixel^2) below which the
                                light may wrap around the stamp: sets its size */
} sl_stamp_src;

/* A drawn stamp: n x n pixels, pixel (0, 0) at image pixel (x0, y0). */
typedef struct sl_stamp {
    int x0, y0, n;
    const float *pix;        /* valid until the stamper's next drawing */
} sl_stamp;

typedef struct sl_stamper sl_stamper;

/* For a w x h image and a PSF (copied where needed). */
sl_stamper *sl_stamper_new(const sl_psf *psf, int w, int h, sl_err *err);
void sl_stamper_free(sl_stamper *s);

/* Draws a source, total flux sum of its component fluxes (1 for a star). */
int sl_stamper_draw(sl_stamper *s, const sl_stamp_src *src, sl_stamp *out, sl_err *err);

/* Draws light given as sub-cell integrals fine[(sn) x (sn)] (s odd) over
 * the n x n pixels from image pixel (x0, y0); n must be a stamp size
 * (sl_stamper_size). */
int sl_stamper_draw_fine(sl_stamper *s, const float *fine, int ss, int x0, int y0, int n,
                         sl_stamp *out, sl_err *err);

/* The stamp size for light reaching radius r (pixels) from its centre,
 * with the PSF out to where it falls below level (per pixel^2, for unit
 * flux). */
int sl_stamper_size(const sl_stamper *s, double r, double level);

/* Adds k times a stamp into a w x h image (the part inside it). */
void sl_stamp_add(const sl_stamp *st, double k, float *img, int w, int h);

#endif
