/* wcs.c: sky coordinates with WCSLIB (see wcs.h). */
#include "wcs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsutil.h>

#define CARD 80

struct sl_wcs {
    int nwcs;
    struct wcsprm *all; /* as wcspih found them */
    struct wcsprm *cel; /* the first with celestial axes */
};

/* Parses a header (nkeys cards) into w: the first of its WCSs (primary,
 * then alternates) with celestial axes, set up for transformations. */
static int parse(struct sl_wcs *w, const char *header, int nkeys, sl_err *err)
{
    char *copy = malloc((size_t)nkeys * CARD + 1);
    if (!copy)
        return sl_err_set(err, "out of memory for %d header cards", nkeys);
    memcpy(copy, header, (size_t)nkeys * CARD);
    copy[(size_t)nkeys * CARD] = '\0';
    int nreject = 0, status = wcspih(copy, nkeys, WCSHDR_all, 0, &nreject, &w->nwcs, &w->all);
    free(copy);
    if (status) {
        w->nwcs = 0;
        w->all = NULL;
        return sl_err_set(err, "WCS header: %s", wcshdr_errmsg[status]);
    }
    w->cel = NULL;
    for (int i = 0; i < w->nwcs && !w->cel; i++) {
        status = wcsset(&w->all[i]);
        if (status)
            return sl_err_set(err, "WCS header: %s", wcs_errmsg[status]);
        if (w->all[i].lng >= 0 && w->all[i].lat >= 0)
            w->cel = &w->all[i];
    }
    return 0;
}

static void release(struct sl_wcs *w)
{
    if (w->all)
        wcsvfree(&w->nwcs, &w->all);
    w->all = w->cel = NULL;
}

int sl_wcs_cards_from_header(const char *header, int nkeys, char **cards, sl_err *err)
{
    struct sl_wcs w = {0};
    *cards = NULL;
    int rc = parse(&w, header, nkeys, err);
    if (rc == 0 && w.cel) {
        /* Full double precision: the cards are the WCS's only copy. */
        int n = 0;
        char *out = NULL;
        int status = wcshdo(WCSHDO_safe | WCSHDO_P17, w.cel, &n, &out);
        if (status)
            rc = sl_err_set(err, "WCS header: cannot write it back: %s", wcs_errmsg[status]);
        else if (!(*cards = malloc((size_t)n * CARD + 1)))
            rc = sl_err_set(err, "out of memory for %d WCS cards", n);
        else {
            memcpy(*cards, out, (size_t)n * CARD);
            (*cards)[(size_t)n * CARD] = '\0';
        }
        wcsdealloc(out);
    }
    release(&w);
    return rc;
}

void sl_wcs_tan_keys(double ra, double dec, double scale, int w, int h, sl_fits_key *keys)
{
    int k = 0;
    keys[k++] = SL_FITS_KEY_I("WCSAXES", 2, "a celestial WCS: simple TAN, no distortion");
    keys[k++] = SL_FITS_KEY_S("CTYPE1", "RA---TAN", "gnomonic projection");
    keys[k++] = SL_FITS_KEY_S("CTYPE2", "DEC--TAN", "gnomonic projection");
    /* The image's centre, in FITS pixels (the first pixel's centre is 1). */
    keys[k++] = SL_FITS_KEY_D("CRPIX1", w / 2.0 + 0.5, "reference pixel: the image centre");
    keys[k++] = SL_FITS_KEY_D("CRPIX2", h / 2.0 + 0.5, "reference pixel: the image centre");
    keys[k++] = SL_FITS_KEY_D("CRVAL1", ra, "[deg] RA of the reference pixel");
    keys[k++] = SL_FITS_KEY_D("CRVAL2", dec, "[deg] Dec of the reference pixel");
    keys[k++] = SL_FITS_KEY_D("CD1_1", -scale / 3600, "[deg/pixel] east to the left");
    keys[k++] = SL_FITS_KEY_D("CD2_2", scale / 3600, "[deg/pixel] north up");
    keys[k++] = SL_FITS_KEY_S("CUNIT1", "deg", NULL);
    keys[k++] = SL_FITS_KEY_S("RADESYS", "ICRS", NULL);
}

sl_wcs *sl_wcs_new(const char *cards, sl_err *err)
{
    size_t len = strlen(cards);
    if (len == 0 || len % CARD)
        return sl_err_set(err, "WCS cards: %zu characters, not a whole number of 80-character "
                               "cards", len), NULL;
    sl_wcs *w = calloc(1, sizeof *w);
    if (!w)
        return sl_err_set(err, "out of memory"), NULL;
    if (parse(w, cards, (int)(len / CARD), err) < 0 ||
        (!w->cel && sl_err_set(err, "WCS cards: no celestial axes (RA, Dec)") < 0)) {
        sl_wcs_free(w);
        return NULL;
    }
    return w;
}

void sl_wcs_free(sl_wcs *w)
{
    if (!w)
        return;
    release(w);
    free(w);
}

int sl_wcs_sky(sl_wcs *w, double x, double y, double *ra, double *dec)
{
    struct wcsprm *c = w->cel;
    double pix[9] = {0}, img[9], world[9], phi, theta;
    int stat[1];
    /* Other axes (a spectral one) at their first pixel. */
    for (int i = 0; i < c->naxis && i < 9; i++)
        pix[i] = 1;
    pix[0] = x + 0.5, pix[1] = y + 0.5;
    *ra = *dec = NAN;
    if (c->naxis > 9 || wcsp2s(c, 1, c->naxis, pix, img, &phi, &theta, world, stat))
        return -1;
    *ra = fmod(world[c->lng], 360);
    *ra += *ra < 0 ? 360 : 0;
    *dec = world[c->lat];
    return 0;
}

int sl_wcs_sky_err(sl_wcs *w, double x, double y, double sx, double sy, double *ra_err,
                   double *dec_err)
{
    /* The Jacobian by central differences over one pixel: a WCS is smooth
     * on that scale, and the step stays far above double rounding. */
    const double h = 0.5;
    double ra[4], dec[4], J[2][2];
    double px[4] = {x + h, x - h, x, x}, py[4] = {y, y, y + h, y - h};
    *ra_err = *dec_err = NAN;
    for (int k = 0; k < 4; k++)
        if (sl_wcs_sky(w, px[k], py[k], &ra[k], &dec[k]) < 0)
            return -1;
    double cosd = cos((dec[0] + dec[1]) / 2 * M_PI / 180);
    for (int a = 0; a < 2; a++) {
        double dra = remainder(ra[2 * a] - ra[2 * a + 1], 360);
        J[0][a] = dra * cosd * 3600 / (2 * h);
        J[1][a] = (dec[2 * a] - dec[2 * a + 1]) * 3600 / (2 * h);
    }
    *ra_err = hypot(J[0][0] * sx, J[0][1] * sy);
    *dec_err = hypot(J[1][0] * sx, J[1][1] * sy);
    return 0;
}
