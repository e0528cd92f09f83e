/* preview.h: PNG previews of images, asinh-stretched, for people to look at.
 *
 * A preview is for the eye, not for measurement: it must show the sky noise,
 * the faint arcs a lens finder is after, and the bright stars and galaxies
 * without letting them burn out the picture.  Lupton et al. (2004, PASP 116,
 * 133) do this with an asinh stretch applied to the intensity, which is
 * linear near zero and logarithmic for bright light:
 *
 *     I = mean of the channels (background subtracted)
 *     f(I) = asinh(I / soft) / asinh(white / soft)
 *     channel = c * f(I) / I    (RGB; grey is f(I) itself)
 *
 * Scaling every channel by the same factor f(I)/I keeps the ratios between
 * them, so a bright star keeps its colour instead of turning white.  Where a
 * channel would exceed 1 all three are divided by the largest (the paper's
 * saturation rule, which keeps the hue); negative values are clipped to 0, and
 * pixels with I <= 0 are black.
 *
 * The stretch is chosen from the data:
 *   sigma = 1.4826 * median |I - median(I)|   (the noise, robust to sources)
 *   soft  = SL_PNG_SOFT_SIGMAS * sigma        (where linear turns logarithmic)
 *   white = max(brightest I, SL_PNG_WHITE_MIN_SOFTS * soft)
 * Only the brightest pixel reaches white, and the logarithm keeps a star a
 * thousand times brighter than the noise within a factor of a few of it in
 * grey level.  The floor on white keeps a field of pure noise from being
 * stretched to full contrast.  When the image has no noise (a noise-free
 * simulation, where the MAD is 0) sigma falls back to 1e-3 of the brightest
 * |I|, and to 1 for an all-zero image.
 *
 * Orientation: row 0 of the image (y = 0) is the top row of the PNG.  Pixel
 * (i, j) covers [i, i+1) x [j, j+1) (x = column, y = row, 0-based), so with an
 * upscaling factor s it becomes the s x s block [s i, s i + s) x [s j, s j + s)
 * of the PNG.
 */
#ifndef SL_PREVIEW_H
#define SL_PREVIEW_H

#include "err.h"

#define SL_PNG_SOFT_SIGMAS 2.0
#define SL_PNG_WHITE_MIN_SOFTS 50.0
#define SL_PNG_MAX_SCALE 16
/* Colour of pixels where a band used by the preview is NaN or infinite. */
#define SL_PNG_NAN_R 128
#define SL_PNG_NAN_G 0
#define SL_PNG_NAN_B 0

/* A circle drawn over the preview (outline only, about one PNG pixel wide,
 * anti-aliased): centre in image pixel coordinates (x = column, y = row, the
 * conventions above), radius in image pixels; both are multiplied by the
 * upscaling factor, so a marker stays on its object at any scale. */
typedef struct sl_marker {
    double x, y, r;
    unsigned char rgb[3];
} sl_marker;

/* Writes an 8-bit PNG preview of pixels ([band][y][x] float32 electrons, w x h
 * per band) to path, enlarged by scale (1..SL_PNG_MAX_SCALE, nearest
 * neighbour) and with the markers drawn over it.
 *
 * background[b] (electrons per pixel) is subtracted from band b first; NULL
 * means no background.  Bands: one is shown in grey; two are averaged to grey;
 * with three or more the last three make the colour picture, the last (reddest
 * in a blue-to-red band order such as ugriz) as red, so ugriz gives i, r, g as
 * R, G, B.
 *
 * The PNG is greyscale when every pixel of it is grey: one or two bands, no
 * NaN or infinite pixel, and no marker whose colour is not grey.  Otherwise it
 * is RGB.  NaN and infinite pixels are drawn in SL_PNG_NAN_* and left out of
 * the statistics that choose the stretch.
 *
 * The file is written under a temporary name and renamed to path only when
 * complete; on failure nothing is left under either name.  Returns 0, or -1
 * with a message naming path in err. */
int sl_png_write_preview(const char *path, const float *pixels, int w, int h, int n_bands,
                         const double *background, const sl_marker *marks, int n_marks,
                         int scale, sl_err *err);

#endif
