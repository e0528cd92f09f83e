/* galaxy.h: Sersic light profiles and bulge+disk galaxies, integrated over pixels.
 *
 * Conventions (shared with lens.h and the simulator):
 * - Pixel coordinates are 0-based, x = column, y = row.  Pixel (i, j) covers
 *   [i, i+1) x [j, j+1), so its centre is (i + 0.5, j + 0.5).  Images are float32,
 *   row-major [y][x], w columns by h rows.  Rendering ADDS into the image, so the
 *   light of several sources sums.  Pixel values are electrons (the integral of the
 *   surface brightness over the pixel); surface brightness is electrons per pixel^2.
 * - An elliptical profile has centre (x, y), angle beta (radians, major axis measured
 *   from +x towards +y), axis ratio q = minor/major and major-axis half-light radius a:
 *   with x' along the major axis and y' along the minor one, the elliptical radius is
 *   r^2 = x'^2 + (y'/q)^2, so the half-light ellipse has semi-axes a and q a, and the
 *   circularized half-light radius is a sqrt(q) (GalSim's and BLISS's convention).
 * - Sersic: I(r) = I_e exp(-b_n ((r/a)^(1/n) - 1)), b_n the exact root of
 *   P(2n, b_n) = 1/2, normalized to the total flux:
 *   flux = 2 pi n q a^2 I_e e^(b_n) b_n^(-2n) Gamma(2n).
 * - The prior draws axis ratios from U(0, 1): q is raised to SL_GALAXY_Q_MIN and a to
 *   SL_GALAXY_A_MIN so that degenerate draws still render, with their flux.
 *
 * Pixel integration is adaptive.  Where the light is smooth on the pixel scale (most
 * of a stamp) one sample per pixel serves: the centre value plus 1/24 of the discrete
 * Laplacian, a fourth-order rule.  Closer in, 2x2 to 8x8 Gauss-Legendre rules per
 * pixel or per sub-cell, chosen from the profile's local length scales.  The pixels
 * at the centre, where the n = 4 cusp and the n = 1 kink defeat polynomial rules, are
 * integrated exactly along rays from the centre (incomplete gamma functions) and
 * numerically only in angle.  A pixel is accurate to about 1e-3 of its value (or
 * 1e-7 of the total flux, whichever is larger), and a profile inside the image sums
 * to its flux, less the SL_GALAXY_FLUX_OUT outside the stamp, to 1e-4
 * (tests/unit/test_galaxy.c checks both against an independent brute-force integral).  The stamp rendered is the box around the
 * ellipse enclosing 1 - SL_GALAXY_FLUX_OUT of the flux, clipped to the image.  The
 * profile is read from tables (linear interpolation, relative error below 3e-4) built
 * once per process, thread-safely, on first use; only n = 1 and n = 4 are tabulated.
 * A typical bulge+disk galaxy costs tens of microseconds in a 100 x 100 image.
 */
#ifndef SL_GALAXY_H
#define SL_GALAXY_H

#include "err.h"

#define SL_GALAXY_Q_MIN 0.02    /* smallest axis ratio rendered */
#define SL_GALAXY_A_MIN 1e-3    /* smallest half-light radius rendered, pixels */
#define SL_GALAXY_FLUX_OUT 1e-4 /* flux fraction left outside the rendered stamp */

/* One Sersic component; n must be 1 (exponential) or 4 (de Vaucouleurs). */
typedef struct sl_sersic {
    double x, y;    /* centre, pixels */
    double flux;    /* total, electrons, >= 0 */
    double n;       /* Sersic index: 1 or 4 */
    double a;       /* major-axis half-light radius, pixels */
    double q;       /* axis ratio minor/major, (0, 1] */
    double beta;    /* major axis angle from +x towards +y, radians */
} sl_sersic;

/* A bulge+disk galaxy: disk = Sersic n = 1 with flux d * flux, bulge = Sersic n = 4
 * with (1 - d) * flux, both centred on (x, y) with the same angle. */
typedef struct sl_galaxy {
    double x, y;             /* centre, pixels */
    double flux;             /* total, electrons, >= 0 */
    double disk_frac;        /* d in [0, 1] */
    double beta;             /* major axis angle from +x towards +y, radians */
    double q_disk, q_bulge;  /* axis ratios, (0, 1] */
    double a_disk, a_bulge;  /* major-axis half-light radii, PIXELS */
} sl_galaxy;

/* A component prepared for fast evaluation, filled by the functions below.  Read
 * only: x, y, flux, n, a, q are the component's (a and q after the clamps); the rest
 * is galaxy.c's. */
typedef struct sl_sersic_prep {
    double x, y, flux, n, a, q;
    double mxx, mxy, myx, myy; /* (x', y'/q) / a = M (x - x0, y - y0) */
    double amp;                /* I_e e^(b_n): surface brightness = amp * g(r^2/a^2) */
    double b, s_max;           /* b_n; stamp radius in units of a */
    const float *table;        /* g(u) = exp(-b_n u^(1/2n)) on a log grid of u */
} sl_sersic_prep;

/* A bulge+disk galaxy prepared for evaluation at arbitrary points (lensing). */
typedef struct sl_galaxy_prep {
    int ncomp;              /* components with non-zero flux */
    sl_sersic_prep comp[2];
} sl_galaxy_prep;

/* b_n with P(2n, b_n) = 1/2 (cached for n = 1 and 4), n > 0. */
double sl_sersic_bn(double n);
/* Major-axis radius (same units as a) of the ellipse holding the fraction frac of
 * the flux, 0 < frac < 1. */
double sl_sersic_radius(double n, double a, double frac);

/* Checks and prepares one component or one galaxy. */
int sl_sersic_prepare(sl_sersic_prep *p, const sl_sersic *s, sl_err *err);
int sl_galaxy_prepare(sl_galaxy_prep *p, const sl_galaxy *g, sl_err *err);

/* Surface brightness at the point (x, y), electrons per pixel^2. */
double sl_sersic_sb(const sl_sersic_prep *p, double x, double y);
double sl_galaxy_sb(const sl_galaxy_prep *p, double x, double y);
/* The same at n points (x[i], y[i]), into sb[i]; faster per point (lensing). */
void sl_galaxy_sb_n(const sl_galaxy_prep *p, int n, const double *x, const double *y,
                    float *sb);
/* Integral of one component's light over the polygon with the n vertices (x[i], y[i])
 * in order, signed like the polygon's area (positive when the vertices turn from +x
 * towards +y).  Exact along rays from the centre, numerical in angle: to 3e-3 of the
 * light inside at worst (edges seen under wide angles), 1e-5 for small polygons away
 * from the centre.  A ray tracer uses it where a ray would step on the cusp. */
double sl_sersic_polygon(const sl_sersic_prep *p, int n, const double *x, const double *y);
/* The shortest length (pixels) on which the light changes within distance r of
 * (x, y), over the components whose surface brightness there can exceed sb_floor:
 * the decay length along the minor axis, or the distance to the centre (a kink for
 * n = 1, a cusp for n = 4).  Tells a ray tracer where its rays are too sparse. */
double sl_galaxy_detail(const sl_galaxy_prep *p, double x, double y, double r,
                        double sb_floor);
/* Radius (pixels) around the centre outside which every component has less than
 * SL_GALAXY_FLUX_OUT of its flux: the rendered stamp is the box around it. */
double sl_galaxy_extent(const sl_galaxy_prep *p);

/* Adds the pixel-integrated light to the w x h image. */
int sl_sersic_render(const sl_sersic *s, float *img, int w, int h, sl_err *err);
int sl_galaxy_render(const sl_galaxy *g, float *img, int w, int h, sl_err *err);

#endif
