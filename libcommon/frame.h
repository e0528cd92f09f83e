/* frame.h: survey FITS images loaded as one multi-band image in electrons.
 *
 * One file per band; all must have the same width and height, and the bands
 * keep the order of the paths.  Two kinds of file are understood:
 *
 * SDSS "frame" files (frame-r-002583-2-0136.fits), recognised by their
 * layout: the image in HDU 0 (nanomaggies, sky subtracted), HDU 1 a 1-D
 * calibration vector of one value per column (nanomaggies per count), HDU 2
 * a table with the columns ALLSKY, XINTERP and YINTERP.  Following the SDSS
 * frame data model, the raw counts are
 *     counts(x, y) = image(x, y) / calib[x] + sky(x, y)
 * where sky is ALLSKY (counts, a coarse grid) interpolated bilinearly at
 * (XINTERP[x], YINTERP[y]), and electrons = counts * gain.  The pixels keep
 * the sky, and background_map holds sky * gain.  The zero point is
 * 22.5 + 2.5 log10(electrons per nanomaggy), with electrons per nanomaggy
 * the mean over the columns of gain / calib.
 *
 * Any other FITS image: taken as ADU, not background subtracted; electrons
 * = ADU * gain.  The background is a given constant or is estimated on a
 * mesh of cells (see sl_frame_background); no zero point.
 *
 * The gain (e-/ADU) is, by priority: opts.gain, else the SDSS photoField
 * file's GAIN for the file's field and filter, else the GAIN keyword.  The
 * pixel scale is opts.pixel_scale, else the WCS of the first file (CD
 * matrix, or CDELT with PC; the other files' must agree within 1%).
 * Non-finite pixels (NaN, and BLANK pixels of integer images) are replaced
 * by the background at that pixel and counted.  Bands are not aligned: the
 * files are taken pixel for pixel, as given.
 *
 * Memory: the output image plus one input plane at a time. */
#ifndef SL_FRAME_H
#define SL_FRAME_H

#include "err.h"
#include "image.h"
#include "psf.h"

#define SL_FRAME_MESH 64 /* default background cell side, pixels */

typedef struct sl_frame_opts {
    /* One file per band.  cfitsio extended names are allowed
     * ("f.fits[1]", "f.fits.gz"); a plain name selects the primary HDU, or
     * the first HDU with data when the primary is empty. */
    const char *paths[SL_MAX_BANDS];
    int n_paths;
    /* Comma-separated band names ("g,r,i"), one per path; NULL: each file's
     * FILTER keyword, else "b0", "b1", ... by position. */
    const char *band_names;
    /* SDSS photoField file: the gain of the file's filter (FILTER keyword,
     * one of ugriz) in the row whose FIELD matches the file's FIELD keyword
     * (SDSS frames: FRAME); RUN and CAMCOL must match when both have them. */
    const char *photofield;
    double gain;        /* > 0: e-/ADU for every band, overriding the rest */
    /* Generic files only: finite (>= 0): a constant background in e-/pixel;
     * NaN: estimated on the mesh. */
    double background;
    int mesh;           /* background cell side in pixels; 0: SL_FRAME_MESH */
    double pixel_scale; /* > 0: arcsec/pixel; else from the WCS */
    /* The PSF: exactly one of these when sl_frame_load is given psf[]
     * (ignored when psf is NULL). */
    const char *psfield;   /* SDSS psField: HDU 6 fit, per band by the file's FILTER
                            * keyword, else by the band name (one of ugriz) */
    const char *psf_image; /* a PSF image used for every band */
    double psf_fwhm;       /* > 0: Gaussian of this FWHM in arcsec */
} sl_frame_opts;

/* Options with everything unset: background NaN, the rest 0 or NULL. */
void sl_frame_opts_init(sl_frame_opts *o);

/* Loads the files into img (its buffers are reused; see image.h) and, when
 * psf is not NULL, fills psf[b] for every band (free each with
 * sl_psf_free).  img->id is left 0 and is_patch 0: the caller sets them.
 * *n_nan (when not NULL) receives the number of NaN pixels replaced.
 * Returns 0, or -1 with a message naming the file (and the HDU or keyword)
 * at fault; then img is not a valid image (but still needs sl_image_free)
 * and psf[] holds nothing to free. */
int sl_frame_load(const sl_frame_opts *o, sl_image *img, sl_psf *psf, long *n_nan,
                  sl_err *err);

/* Background of a w x h image (row-major, NaN pixels ignored), as done for
 * generic files, written to bg (w x h).  Like SExtractor and Gnuastro: the
 * image is cut into cells of about mesh x mesh pixels; each cell's value is
 * its sigma-clipped median (3 sigma, repeated until nothing changes, at most
 * 10 times; cells with under 10% finite pixels take their neighbours'
 * mean); the grid is median filtered over 3 x 3 cells (at the grid's edges
 * the window shrinks symmetrically);
 * bg is the bilinear interpolation between cell centres (extrapolated
 * linearly beyond the outer centres).  A linear gradient comes out exact.
 * Fails only when no pixel is finite, or mesh < 4. */
int sl_frame_background(const float *img, int w, int h, int mesh, float *bg,
                        sl_err *err);

#endif
