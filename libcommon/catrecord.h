/* catrecord.h: the `catalog` record (man 5 sl-records): the sources of one
 * parent image, as sl-merge writes it from the estimates of its patches.
 *
 * Owns the catalog record's layout, both ways, on one struct:
 *
 *   type     "catalog"
 *   id, width, height, bands, pixel_scale     the parent image (image.h)
 *   zero_point                                per band, when known
 *   wcs      the parent's celestial WCS as FITS cards, when known (wcs.h)
 *   <key>    the merged table (table.h): `estimate`, or `truth` (sl-merge -k)
 *   truth    the truth beside an estimate, when the patches carried one
 *   samples  posterior samples: an array of tables, when the patches had them
 *
 * Positions are in the parent's pixels and every row lies in the parent's
 * interior (its patches' interiors partition it).
 *
 *     sl_catrecord c;
 *     sl_catrecord_init(&c);
 *     if (sl_catrecord_read(&c, &rec, "estimate", &err) < 0) fail;
 *     sl_catrecord_write(w, &c, &err);
 *     sl_catrecord_free(&c);
 */
#ifndef SL_CATRECORD_H
#define SL_CATRECORD_H

#include "image.h"
#include "table.h"

/* More posterior samples than this in one record are refused as corrupt. */
#define SL_CATRECORD_MAX_SAMPLES 65536

typedef struct sl_catrecord {
    /* The parent image, without pixels: id, size, bands, pixel scale, zero
     * point (read and written by image.c, as in image records). */
    sl_image img;
    const char *key;  /* the key of est: "estimate" or "truth" (not owned) */
    sl_table est;
    int has_truth;    /* a truth table beside est (never when key is truth) */
    sl_table truth;
    int n_samples;
    sl_table *samples;
} sl_catrecord;

void sl_catrecord_init(sl_catrecord *c);
void sl_catrecord_free(sl_catrecord *c);
/* Reads a catalog record, its table under key; c is reused across calls. */
int sl_catrecord_read(sl_catrecord *c, const sl_record *rec, const char *key, sl_err *err);
/* Writes c as one catalog record. */
int sl_catrecord_write(sl_writer *w, const sl_catrecord *c, sl_err *err);

/* The number of posterior samples a record (image or catalog) carries under
 * `samples`, an array of tables: 0 when absent. */
int sl_catrecord_n_samples(const sl_record *rec, int *n, sl_err *err);

/* Sky coordinates of the rows of est, from the parent's WCS (c->img.wcs):
 * RA and Dec in degrees of each row's x, y into ra[], dec[] (n values;
 * NaN where a row has no position).  No WCS: 0 and nothing written. */
int sl_catrecord_sky(const sl_catrecord *c, double *ra, double *dec, sl_err *err);

/* Adds (or refreshes) est's columns ra_err and dec_err, arcsec: the
 * location posterior's standard deviations in x and y (half the 16-84%
 * intervals) through the WCS's local Jacobian.  Needs a WCS and the x, y
 * quantiles; without either, nothing is added. */
int sl_catrecord_add_sky_errors(sl_catrecord *c, sl_err *err);

#endif
