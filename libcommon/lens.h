/* lens.h: singular isothermal ellipsoid (SIE) lenses with external shear, the light of
 * a lensed source galaxy, and the flat Lambda-CDM distances that turn a velocity
 * dispersion into an Einstein radius.
 *
 * Coordinates are pixels, as in galaxy.h (pixel (i, j) covers [i, i+1) x [j, j+1)).
 * The conventions are lenstronomy's, so that parameters carry over:
 * - The SIE is lenstronomy's "SIE" (its NIE with core s = 0).  In the frame (x', y')
 *   centred on (x, y) and rotated by phi (the major axis of the mass along x'), the
 *   convergence is kappa = theta_E / (2 sqrt(q x'^2 + y'^2 / q)): theta_E is the
 *   Einstein radius in the intermediate-axis (geometric-mean) convention.  The
 *   ellipticity is e1 = (1-q)/(1+q) cos 2phi, e2 = (1-q)/(1+q) sin 2phi.
 * - Deflection in closed form (Kormann, Schneider & Bartelmann 1994; Keeton 2001): with
 *   b = theta_E sqrt(q), psi = sqrt(q^2 x'^2 + y'^2), eps = sqrt(1 - q^2),
 *   alpha_x' = (b/eps) atan(eps x'/psi), alpha_y' = (b/eps) atanh(eps y'/psi).  As
 *   q -> 1 this tends smoothly (a series is used for eps < 1e-3) to the singular
 *   isothermal sphere, alpha = theta_E (dx, dy) / r.  At the centre itself alpha = 0.
 * - External shear: alpha = (g1 dx + g2 dy, g2 dx - g1 dy) with (dx, dy) measured from
 *   the LENS CENTRE (x, y).  lenstronomy measures it from its own ra_0, dec_0 (0 by
 *   default), which differs by a constant deflection when the lens is off the origin.
 * - The lens equation maps an image-plane point theta to beta = theta - alpha(theta).
 * - Axis ratios below SL_LENS_Q_MIN (|e| > 0.96) are raised to it: the deflection of
 *   a line-like mass diverges. */
#ifndef SL_LENS_H
#define SL_LENS_H

#include <stddef.h>

#include "err.h"
#include "galaxy.h"

#define SL_LENS_Q_MIN 0.02

typedef struct sl_lens {
    double x, y;     /* centre of the mass, pixels */
    double theta_e;  /* Einstein radius, pixels, >= 0 */
    double e1, e2;   /* ellipticity, |e| < 1 */
    double g1, g2;   /* external shear */
} sl_lens;

/* Checks that the parameters are finite and in range. */
int sl_lens_check(const sl_lens *l, sl_err *err);

/* Deflection alpha at (x, y); one point, or n points (x[i], y[i]).  The lens must
 * pass sl_lens_check. */
void sl_lens_deflect(const sl_lens *l, double x, double y, double *ax, double *ay);
void sl_lens_deflect_n(const sl_lens *l, size_t n, const double *x, const double *y,
                       double *ax, double *ay);
/* The source-plane points beta = theta - alpha(theta) of n image-plane points, fast:
 * the SIE deflection is read from a table over direction built per call (its cost is
 * that of about 500 points), accurate to 2e-5 theta_E; the shear is exact.  This is
 * what sl_lens_render shoots rays with. */
int sl_lens_trace(const sl_lens *l, size_t n, const double *x, const double *y, double *bx,
                  double *by, sl_err *err);
/* Convergence kappa of the SIE at (x, y) (the shear adds none). */
double sl_lens_kappa(const sl_lens *l, double x, double y);

/* Adds to the w x h image the light of the galaxy src (its centre in source-plane
 * pixels) seen through the lens: each of the ss x ss sub-pixels of a pixel is shot
 * back to beta = theta - alpha(theta), where the source's surface brightness is read
 * (lensing conserves surface brightness), and the pixel gets their mean times its
 * area.  Where the lensed light is smooth across a pixel (the second differences of
 * the pixel-centre values are small, and the source has no detail finer than the ray
 * spacing there) one ray at the centre, corrected by 1/24 of the discrete Laplacian,
 * stands in for the ss x ss.  Sub-pixels that land next to the cusp of the bulge get
 * its exact mean over their footprint instead of a ray.  The stamp is the box around
 * the lens centre holding every point that can map within the source's 1 - 1e-4
 * radius (about theta_E + that radius + the source offset), clipped to the image.  The
 * light is before the PSF: the caller convolves.  Rays use sl_lens_trace. */
int sl_lens_render(const sl_lens *l, const sl_galaxy *src, int ss, float *img, int w, int h,
                   sl_err *err);

/* A flat Lambda-CDM cosmology without radiation: H0 in km/s/Mpc, matter density om,
 * Omega_Lambda = 1 - om. */
typedef struct sl_cosmo {
    double h0, om;
} sl_cosmo;

int sl_cosmo_check(const sl_cosmo *c, sl_err *err);
/* Comoving distance to redshift z >= 0, Mpc (integrated to 1e-12 relative). */
double sl_cosmo_comoving(const sl_cosmo *c, double z);
/* Angular diameter distance to z, and between z1 <= z2 (flat: (D_C2 - D_C1)/(1+z2)). */
double sl_cosmo_da(const sl_cosmo *c, double z);
double sl_cosmo_da12(const sl_cosmo *c, double z1, double z2);
/* Einstein radius (arcsec) of a singular isothermal lens of velocity dispersion
 * sigma_v (km/s) at redshift zl for a source at zs > zl:
 * theta_E = 4 pi (sigma_v / c)^2 D_ls / D_s. */
int sl_lens_theta_e(const sl_cosmo *c, double sigma_v, double zl, double zs,
                    double *theta_arcsec, sl_err *err);

#endif
