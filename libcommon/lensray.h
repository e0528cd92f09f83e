/* lensray.h: lensed light integrated over the cells of a grid by adaptive
 * ray shooting (render.c draws the result through the PSF, stamp.h).
 *
 * Each unit cell of a w x h grid (lens.h coordinates: cell (i, j) covers
 * [i, i+1) x [j, j+1)) gets the integral of the source's surface brightness
 * at beta = theta - alpha(theta) over the cell.  The surface brightness is
 * sampled at the cell's corners (shared with its neighbours) and centre;
 * the cell's integral is (mean of the corners + 2 centre) / 3 times its
 * area (exact for quadratics).  A cell is split into 2 x 2, recursively, to
 * depth `depth`, while the centre and the corners' mean differ by more than
 * tol, or while the source's centre (its cusp, or all of a small source)
 * lies within the source-plane box of the cell's rays: so the steep parts of
 * the mapping (the lens centre, where the deflection turns; cusps and
 * caustics, where images are stretched) and of the light get more rays.
 * Rays use sl_lens_trace, light sl_galaxy_sb_n. */
#ifndef SL_LENSRAY_H
#define SL_LENSRAY_H

#include "err.h"
#include "galaxy.h"
#include "lens.h"

/* Adds the cell integrals to img (w x h, row-major). */
int sl_lens_integrate(const sl_lens *l, const sl_galaxy *src, double tol, int depth, float *img,
                      int w, int h, sl_err *err);

#endif
