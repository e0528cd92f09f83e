/* lensray.h: lensed light integrated over the cells of a grid by adaptive
 * ray shooting (render.c draws the result through the PSF, stamp.h).
 *
 * Each sub-cell of a grid f times finer than the pixels (lens.h
 * coordinates: pixel (i, j) covers [i, i+1) x [j, j+1)) gets the integral of the source's surface brightness
 * at beta = theta - alpha(theta) over the cell.  The surface brightness is
 * sampled at the cell's corners (shared with its neighbours) and centre;
 * the cell's integral is (mean of the corners + 2 centre) / 3 times its
 * area (exact for quadratics).  A cell is split into 2 x 2, recursively, to
 * depth `depth`, while the centre and the corners' mean differ by more than
 * tol, or while the source's centre (its cusp, or all of a small source)
 * lies within the source-plane box of the cell's rays and that box is wider
 * than half the source's smallest half-light semi-axis: so the steep parts of
 * the mapping (the lens centre, where the deflection turns; cusps and
 * caustics, where images are stretched) and of the light get more rays.
 * Rays use sl_lens_trace, light sl_galaxy_sb_n. */
#ifndef SL_LENSRAY_H
#define SL_LENSRAY_H

#include "err.h"
#include "galaxy.h"
#include "lens.h"

/* Adds to img ((f w) x (f h), row-major) the integrals over the f x f
 * sub-cells of each of the w x h pixels.  Rays first go through every
 * pixel's corners and centre; a pixel that is steep (see above) is
 * integrated sub-cell by sub-cell; the others are drawn from the quadratic
 * model their five rays fix, or, where all five are below `floor` (surface
 * brightness), spread evenly over their sub-cells. */
int sl_lens_integrate(const sl_lens *l, const sl_galaxy *src, int f, double tol, double floor,
                      int depth, float *img, int w, int h, sl_err *err);

#endif
