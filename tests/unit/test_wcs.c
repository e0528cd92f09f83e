/* test_wcs: sky coordinates of pixels against the gnomonic projection done
 * by hand, the Jacobian's errors, cards read back from a header. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wcs.h"

/* A header of 80-character cards from "KEY = value" lines. */
static void card(char *h, const char *key, const char *value)
{
    char c[81];
    snprintf(c, sizeof c, "%-8s= %-70s", key, value);
    strcat(h, c);
}

/* TAN at (ra0, dec0), reference pixel (crpix, crpix), scale s deg/pixel,
 * rotated by rot radians. */
static void tan_header(char *h, double ra0, double dec0, double crpix, double s, double rot)
{
    char v[64];
    h[0] = '\0';
    card(h, "CTYPE1", "'RA---TAN'");
    card(h, "CTYPE2", "'DEC--TAN'");
    snprintf(v, sizeof v, "%.17g", crpix);
    card(h, "CRPIX1", v);
    card(h, "CRPIX2", v);
    snprintf(v, sizeof v, "%.17g", ra0);
    card(h, "CRVAL1", v);
    snprintf(v, sizeof v, "%.17g", dec0);
    card(h, "CRVAL2", v);
    snprintf(v, sizeof v, "%.17g", -s * cos(rot));
    card(h, "CD1_1", v);
    snprintf(v, sizeof v, "%.17g", s * sin(rot));
    card(h, "CD1_2", v);
    snprintf(v, sizeof v, "%.17g", s * sin(rot));
    card(h, "CD2_1", v);
    snprintf(v, sizeof v, "%.17g", s * cos(rot));
    card(h, "CD2_2", v);
}

/* The gnomonic projection inverted by hand (Calabretta & Greisen 2002,
 * eq. 54 and the spherical rotation for a reference point at (ra0, dec0)). */
static void tan_by_hand(double ra0, double dec0, double xi, double eta, double *ra, double *dec)
{
    double d = dec0 * M_PI / 180, x = xi * M_PI / 180, y = eta * M_PI / 180;
    double den = cos(d) - y * sin(d);
    *ra = ra0 + atan2(x, den) * 180 / M_PI;
    *dec = atan2(sin(d) + y * cos(d), hypot(x, den)) * 180 / M_PI;
    *ra = fmod(*ra + 360, 360);
}

static void test_sky(void)
{
    char h[81 * 12];
    double s = 0.396 / 3600, rot = 0.3;
    tan_header(h, 359.99, 45, 100.5, s, rot);
    sl_err err;
    sl_wcs *w = sl_wcs_new(h, &err);
    CHECK(w != NULL);
    double worst = 0;
    for (int i = 0; i < 25; i++) {
        double x = -300 + 50 * (i % 5) * 3, y = -300 + 50 * (i / 5) * 3, ra, dec, er, ed;
        CHECK(sl_wcs_sky(w, x, y, &ra, &dec) == 0);
        /* FITS pixel p = x + 0.5; intermediate coordinates CD (p - crpix). */
        double px = x + 0.5 - 100.5, py = y + 0.5 - 100.5;
        double xi = -s * cos(rot) * px + s * sin(rot) * py, eta = s * sin(rot) * px + s * cos(rot) * py;
        tan_by_hand(359.99, 45, xi, eta, &er, &ed);
        double dra = remainder(ra - er, 360);
        worst = fmax(worst, fmax(fabs(dra), fabs(dec - ed)));
        CHECK(ra >= 0 && ra < 360);
    }
    CHECK_NEAR(worst, 0, 1e-10);
    /* The errors: a rotation keeps a round error round, at 0.396 arcsec. */
    double ra_err, dec_err;
    CHECK(sl_wcs_sky_err(w, 10, 20, 2, 2, &ra_err, &dec_err) == 0);
    CHECK_NEAR(ra_err, 2 * 0.396, 1e-6);
    CHECK_NEAR(dec_err, 2 * 0.396, 1e-6);
    /* Without rotation, x is RA and y is Dec. */
    sl_wcs_free(w);
    tan_header(h, 150, -30, 1, s, 0);
    w = sl_wcs_new(h, &err);
    CHECK(w != NULL);
    CHECK(sl_wcs_sky_err(w, 0, 0, 1, 3, &ra_err, &dec_err) == 0);
    CHECK_NEAR(ra_err, 0.396, 1e-6);
    CHECK_NEAR(dec_err, 3 * 0.396, 1e-6);
    sl_wcs_free(w);
}

static void test_cards(void)
{
    /* A header with other cards: only the WCS comes back, and reads the same. */
    char h[81 * 16];
    tan_header(h, 210.25, -12.5, 50.5, 1e-4, 0.1);
    card(h, "GAIN", "4.71");
    card(h, "FILTER", "'r'");
    char *cards;
    sl_err err;
    CHECK(sl_wcs_cards_from_header(h, (int)(strlen(h) / 80), &cards, &err) == 0);
    CHECK(cards != NULL && strlen(cards) % 80 == 0);
    CHECK(strstr(cards, "GAIN") == NULL);
    sl_wcs *a = sl_wcs_new(h, &err), *b = sl_wcs_new(cards, &err);
    CHECK(a && b);
    double ra1, dec1, ra2, dec2;
    sl_wcs_sky(a, 17.25, -3.5, &ra1, &dec1);
    sl_wcs_sky(b, 17.25, -3.5, &ra2, &dec2);
    CHECK(ra1 == ra2 && dec1 == dec2);
    sl_wcs_free(a);
    sl_wcs_free(b);
    free(cards);
    /* No celestial WCS: no cards, and no sl_wcs. */
    char plain[81 * 2] = "";
    card(plain, "GAIN", "4.71");
    CHECK(sl_wcs_cards_from_header(plain, 1, &cards, &err) == 0 && cards == NULL);
    CHECK(sl_wcs_new(plain, &err) == NULL);
    CHECK(strstr(err.msg, "no celestial axes") != NULL);
    CHECK(sl_wcs_new("CTYPE1", &err) == NULL);
    CHECK(strstr(err.msg, "not a whole number of 80-character cards") != NULL);
}

int main(void)
{
    RUN(test_sky);
    RUN(test_cards);
    return check_report("test_wcs");
}
