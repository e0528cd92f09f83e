/* fourier.h: Fourier transforms of the light profiles and PSFs, for drawing
 * sources exactly: the pixel values of a profile G convolved with a PSF P
 * and integrated over pixels are the samples at pixel centres of
 * G * P * box, whose transform is G^(k) P^(k) sinc(kx/2) sinc(ky/2)
 * (sinc(t) = sin(t)/t, k in radians per pixel).  render.c draws stamps from
 * these (see render.h).
 *
 * Conventions: a transform is f^(k) = integral f(x) e^(-i k.x) d^2x, so a
 * unit-flux profile has f^(0) = 1.
 *
 * Sersic profiles: F_n(kappa) is the radial (Hankel) transform of the
 * circular unit-flux Sersic profile of index n with half-light radius 1,
 * tabulated once per distinct n (a process-wide cache, thread-safe) on a
 * logarithmic grid of kappa (cubic interpolation of log F), computed by
 * Gauss-Legendre quadrature on panels no longer than half a period of J0
 * (graded geometrically towards the centre, where the profile has a cusp
 * for n > 1), and where it converges with little cancellation by the
 * series F_n = sum_j c_j kappa^(-2-j/n) that the term-by-term transform of
 * exp(-b r^(1/n)) gives (convergent for n > 1, asymptotic below).  Below
 * the grid the Taylor series in kappa^2 (moments), above it the series.
 * The elliptical profile of galaxy.h (major-axis half-light radius a, axis
 * ratio q, angle beta) has transform F_n(a |diag(1, q) R(-beta) k|).
 *
 * PSFs: Gaussian in closed form; Moffat and SDSS by the same quadrature of
 * sl_psf_profile, cut at the radius holding all but 1e-8 of the flux (or
 * where it falls below 1e-9 of its peak, for power-law wings) and
 * renormalized, on a uniform grid of |k| (cubic interpolation), to the |k|
 * where the transform falls below 1e-8; zero beyond. */
#ifndef SL_FOURIER_H
#define SL_FOURIER_H

#include "err.h"
#include "psf.h"

/* sinc(t) = sin(t) / t, 1 at 0. */
double sl_sinc(double t);

typedef struct sl_sersic_ft sl_sersic_ft;

/* The table of F_n (built on first use, then shared; never freed), for
 * 0.5 <= n <= 6.  NULL with a message when n is out of range or memory
 * runs out. */
const sl_sersic_ft *sl_sersic_ft_get(double n, sl_err *err);
/* F_n(kappa), kappa >= 0. */
double sl_sersic_ft_eval(const sl_sersic_ft *t, double kappa);
/* F_n at kappa^2 from a finer table read without log or exp (linear in
 * kappa^2 within 1/512 of an octave: about 1e-6 relative): for drawing. */
float sl_sersic_ft_fast(const sl_sersic_ft *t, float kappa2);
/* F_n by the quadrature alone (slow: tests and checks). */
double sl_sersic_ft_direct(double n, double kappa);

/* A PSF's transform, ready for evaluation. */
typedef struct sl_psf_ft {
    sl_psf_kind kind;
    double sigma;     /* gaussian, pixels */
    double dk;        /* tabulated kinds: grid step */
    int nk;           /* grid points (0 .. (nk-1) dk) */
    double *tab;      /* P^ on the grid */
    double k_max;     /* |k| beyond which |P^| < 1e-8 */
} sl_psf_ft;

/* Prepares the transform of a parametric PSF (pixel PSFs are drawn from
 * their own DFT: render.c). */
int sl_psf_ft_init(sl_psf_ft *f, const sl_psf *p, sl_err *err);
void sl_psf_ft_free(sl_psf_ft *f);
/* P^ at |k| = k (the parametric PSFs are round). */
double sl_psf_ft_eval(const sl_psf_ft *f, double k);

#endif
