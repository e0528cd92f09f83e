/* augment.h: the prior's mirror symmetries, to train on more of the prior than
 * was simulated.
 *
 * The default prior is unchanged by mirroring the image about its vertical or
 * horizontal centre line, when the PSF is mirror symmetric: positions are
 * uniform, galaxy angles uniform on [0, pi), and the lens mass angle phi is
 * drawn from a range symmetric about 0, which a mirror maps to -phi.  (Quarter
 * turns and transposes are not symmetries of BLISS's prior: they map phi to
 * phi + pi/2, outside |phi| <= pi/4, and flip the sign of e1.)  A mirrored
 * simulation is therefore another draw from the same prior, with its truth
 * transformed to match:
 *
 *   mirror x:  x -> W - x,  angle -> pi - angle,  e2 -> -e2,  shear g2 -> -g2,
 *              src_dx -> -src_dx, the lensed source's angle likewise
 *   mirror y:  y -> H - y, and the same for angles, e2, g2, with src_dy
 *
 * (angles count from +x towards +y, e1 + i e2 = eps e^(2 i phi)). */
#ifndef SL_AUGMENT_H
#define SL_AUGMENT_H

#include "catalog.h"
#include "image.h"
#include "record.h"

enum { SL_MIRROR_X = 1, SL_MIRROR_Y = 2 };

/* Mirrors a whole image (pixels and background map) and its truth in place
 * by `flip`, a combination of SL_MIRROR_X and SL_MIRROR_Y (both: a half
 * turn).  Patches are refused (their place in the parent would no longer
 * hold). */
int sl_mirror(sl_image *img, sl_catalog *truth, unsigned flip, sl_err *err);

/* Whether every band's PSF of an image record is mirror symmetric (the
 * parametric models are; a pixel PSF image is not assumed to be): 0 if so,
 * -1 with a message naming the record and key otherwise. */
int sl_mirror_check_psf(const sl_record *rec, sl_err *err);

#endif
