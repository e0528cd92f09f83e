/* wcs.h: sky coordinates of pixels, with WCSLIB (the library ds9 and most
 * astronomy C tools use) rather than cfitsio's WCS routines: cfitsio's
 * fits_read_img_coord reduces a CD matrix to CDELT and one rotation (only
 * approximately for a skewed matrix: status 506) and knows no distortion
 * (SIP, TPV), while WCSLIB reads every standard WCS header (Greisen &
 * Calabretta 2002, Calabretta & Greisen 2002) and writes it back.
 *
 * A WCS travels in records as its FITS header cards (the `wcs` key of image
 * and catalog records, man 5 sl-records): 80-character cards, concatenated,
 * in the FITS convention (CRPIX counts pixels from 1, pixel centres at
 * integers).  It describes the parent image's pixels; a patch's pixel (x, y)
 * is the parent's (x + x0, y + y0).  Positions here are in this project's
 * convention: 0-based, pixel (i, j) covering [i, i+1) x [j, j+1), so the
 * parent's point (x, y) is FITS pixel (x + 0.5, y + 0.5).
 *
 *     sl_wcs *w = sl_wcs_new(cards, &err);
 *     double ra, dec;
 *     sl_wcs_sky(w, 12.5, 40.25, &ra, &dec);
 *     sl_wcs_free(w); */
#ifndef SL_WCS_H
#define SL_WCS_H

#include "err.h"
#include "fits.h"

typedef struct sl_wcs sl_wcs;

/* The WCS of a FITS header (nkeys cards of 80 characters, cfitsio's
 * fits_hdr2str form) rewritten as the cards that define it alone, malloc'ed
 * into *cards; *cards is NULL (and 0 returned) when the header has no
 * celestial WCS.  -1 on a malformed one. */
int sl_wcs_cards_from_header(const char *header, int nkeys, char **cards, sl_err *err);

/* A gnomonic (TAN) WCS for a simulated image of w x h pixels of `scale`
 * arcsec, north up and east left, its centre at (ra, dec) degrees, as
 * SL_WCS_TAN_NKEYS FITS keys written to keys. */
#define SL_WCS_TAN_NKEYS 11
void sl_wcs_tan_keys(double ra, double dec, double scale, int w, int h, sl_fits_key *keys);

/* Parses cards (as above); NULL with a message when they hold no usable
 * celestial WCS. */
sl_wcs *sl_wcs_new(const char *cards, sl_err *err);
void sl_wcs_free(sl_wcs *w);

/* RA and Dec (degrees, RA in [0, 360)) of point (x, y) of the parent image;
 * -1 (and NaN) where the projection has no sky position. */
int sl_wcs_sky(sl_wcs *w, double x, double y, double *ra, double *dec);

/* Standard deviations on the sky (arcsec; RA's along the great circle,
 * i.e. times cos Dec) of a position whose pixel coordinates have standard
 * deviations sx, sy, independent, through the WCS's local Jacobian at (x, y). */
int sl_wcs_sky_err(sl_wcs *w, double x, double y, double sx, double sy, double *ra_err,
                   double *dec_err);

#endif
