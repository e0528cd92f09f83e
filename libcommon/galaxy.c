/* galaxy.c: Sersic profiles integrated over pixels (see galaxy.h for conventions).
 *
 * Speed comes from three things.  The profile g(u) = exp(-b_n u^(1/2n)), u = (r/a)^2,
 * is read from a table indexed by the bits of the float u (128 entries per octave),
 * so no pow, sqrt or exp is computed per sample.  Rows of samples are evaluated in
 * blocks of 8 written so that the compiler vectorizes them.  And the work per pixel
 * follows the profile.  Where the light is smooth on the scale of a few pixels (most
 * of a stamp) one sample per pixel is enough: the pixel-centre value plus 1/24 of the
 * discrete Laplacian over the 4 neighbours is a fourth-order rule for the pixel
 * integral.  Closer in, N x N Gauss-Legendre rules (N = 2..4) take over; the segments
 * of each row where each rule is accurate enough come from solving a quadratic, so the
 * choice costs nothing per pixel.  The few pixels left near the centre go to an
 * integrator that uses larger rules or splits cells 2 x 2.  A cell that holds the
 * centre, or nearly, where the cusp (n = 4) or kink (n = 1) defeats polynomial rules,
 * is written as a signed sum of four rectangles with a corner on the centre, each cut
 * along its diagonal into two triangles with a corner on the centre.  Over such a
 * triangle the integral is exact along each ray (an incomplete gamma function) and
 * only the angle is integrated numerically, in a variable where the integrand is
 * smooth (see corner_triangle). */
#include "galaxy.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "special.h"

/* Accuracy targets: a cell (pixel or sub-cell) is integrated with a rule whose error
 * estimate is below REL_TOL of its value, or whose value is below ABS_TOL of the
 * component's flux. */
#define REL_TOL 1e-3
#define ABS_TOL 1e-7
#define GL_MAX 8   /* most Gauss-Legendre nodes per axis */
#define FAST_MAX 4 /* Gauss-Legendre rules used by the row path: N = 2..FAST_MAX */
/* Cells nearer the centre than NEAR times their side are summed from rectangles with
 * a corner on the centre; at that distance the sum cancels little. */
#define NEAR 0.5
/* Gauss-Legendre nodes per edge in sl_sersic_polygon: enough for the sub-pixels of a
 * ray tracer (3e-3 of the light inside, at worst), and half the cost of 8 */
#define POLY_N 4

/* The table covers u in [2^TAB_LO, 2^TAB_HI) with 2^TAB_BITS entries per octave.
 * Below it (r < 2.4e-4 a) g is computed directly; above it (r > 256 a) g is below
 * 5e-14 and read as the last entry. */
#define TAB_LO (-24)
#define TAB_HI 16
#define TAB_BITS 7
#define TAB_LEN (((TAB_HI - TAB_LO) << TAB_BITS) + 1)
#define U_LO 5.9604644775390625e-08f /* 2^-24 */
#define U_TOP 65535.99609375f        /* largest float below 2^16 */

static const double gl_node[36] = {
    0.5, /* N = 1 */
    0.21132486540518713, 0.78867513459481287, /* N = 2 */
    0.1127016653792583, 0.5, 0.8872983346207417, /* N = 3 */
    0.069431844202973714, 0.33000947820757187, 0.66999052179242813,
    0.93056815579702623, /* N = 4 */
    0.046910077030668018, 0.23076534494715845, 0.5, 0.7692346550528415,
    0.95308992296933193, /* N = 5 */
    0.033765242898423975, 0.16939530676686776, 0.38069040695840151,
    0.61930959304159849, 0.83060469323313224, 0.96623475710157603, /* N = 6 */
    0.025446043828620757, 0.12923440720030277, 0.29707742431130141, 0.5,
    0.70292257568869854, 0.87076559279969723, 0.97455395617137919, /* N = 7 */
    0.019855071751231912, 0.10166676129318664, 0.2372337950418355,
    0.40828267875217511, 0.59171732124782483, 0.7627662049581645,
    0.89833323870681336, 0.98014492824876809, /* N = 8 */
};
static const double gl_weight[36] = {
    1, /* N = 1 */
    0.5, 0.5, /* N = 2 */
    0.27777777777777785, 0.44444444444444442, 0.27777777777777785, /* N = 3 */
    0.17392742256872684, 0.3260725774312731, 0.3260725774312731,
    0.17392742256872684, /* N = 4 */
    0.11846344252809471, 0.2393143352496831, 0.2844444444444445, 0.2393143352496831,
    0.11846344252809471, /* N = 5 */
    0.085662246189584873, 0.18038078652406947, 0.23395696728634569,
    0.23395696728634569, 0.18038078652406947, 0.085662246189584873, /* N = 6 */
    0.064742483084435323, 0.13985269574463829, 0.19091502525255916,
    0.20897959183673448, 0.19091502525255916, 0.13985269574463829,
    0.064742483084435323, /* N = 7 */
    0.050614268145188344, 0.11119051722668717, 0.15685332293894352,
    0.18134189168918088, 0.18134189168918088, 0.15685332293894352,
    0.11119051722668717, 0.050614268145188344, /* N = 8 */
};
#define GL_OFF(n) ((n) * ((n) - 1) / 2)

/* What is computed once per process: per tabulated index (n = 1, 4) b_n, the stamp
 * radius (units of a) and the table of g; and per rule the largest cell size, in units
 * of the profile's local length scales, that it integrates to REL_TOL. */
static struct {
    float tab[2][TAB_LEN];
    double b[2], s_max[2];
    double t_exp[GL_MAX + 1], t_sing[GL_MAX + 1];
    double t_lap_exp, t_lap_sing; /* the same for the Laplacian-corrected midpoint */
} K;
static once_flag k_once = ONCE_FLAG_INIT;

static double factorial(int k)
{
    double f = 1;
    for (int i = 2; i <= k; i++)
        f *= i;
    return f;
}

/* The error of the N-point Gauss-Legendre rule on a cell of side h is
 * h^(2N) f^(2N) (N!)^4 / ((2N+1) ((2N)!)^3) per axis.  For exp(-x/L), f^(2N) = f/L^(2N),
 * which gives t_exp; next to a singularity at distance D, f^(2N) ~ (2N)! f / D^(2N),
 * which (with Stirling) gives t_sing.  Both axes err, hence the factor 2.
 * The corrected midpoint f + (1/24) (discrete Laplacian of f) differs from the pixel
 * mean by h^4 [(1/288 - 1/1920) (f_xxxx + f_yyyy) - f_xxyy / 576], at most
 * (44/5760) h^4 max |4th derivative|. */
static void build_constants(void)
{
    K.t_lap_exp = pow(REL_TOL * 5760 / 44, 0.25);
    K.t_lap_sing = pow(REL_TOL * 5760 / (44 * 24), 0.25);
    for (int N = 1; N <= GL_MAX; N++) {
        double c = pow(factorial(N), 4) / ((2 * N + 1) * pow(factorial(2 * N), 3));
        K.t_exp[N] = pow(REL_TOL / (2 * c), 1.0 / (2 * N));
        K.t_sing[N] = 4 * pow(REL_TOL * (2 * N + 1) / (M_PI * N), 1.0 / (2 * N));
    }
    for (int k = 0; k < 2; k++) {
        double n = k ? 4 : 1, b = sl_gamma_p_inv(2 * n, 0.5);
        K.b[k] = b;
        K.s_max[k] = pow(sl_gamma_p_inv(2 * n, 1 - SL_GALAXY_FLUX_OUT) / b, n);
        for (int i = 0; i < TAB_LEN; i++) {
            double u = ldexp(1 + (i & ((1 << TAB_BITS) - 1)) / (double)(1 << TAB_BITS),
                             (i >> TAB_BITS) + TAB_LO);
            K.tab[k][i] = (float)exp(-b * pow(u, 0.5 / n));
        }
    }
}

static void constants(void)
{
    call_once(&k_once, build_constants);
}

/* Index of n in the tables, or -1. */
static int tab_index(double n)
{
    return n == 1 ? 0 : n == 4 ? 1 : -1;
}

double sl_sersic_bn(double n)
{
    int k = tab_index(n);
    if (k >= 0) {
        constants();
        return K.b[k];
    }
    return sl_gamma_p_inv(2 * n, 0.5);
}

double sl_sersic_radius(double n, double a, double frac)
{
    return a * pow(sl_gamma_p_inv(2 * n, frac) / sl_sersic_bn(n), n);
}

/* Where g(u) lies in the table, for U_LO <= u <= U_TOP: the exponent and the top 7
 * mantissa bits of u give the entry, the remaining 16 bits the fraction towards the
 * next one. */
static inline uint32_t table_index(float u, float *frac)
{
    uint32_t bits;
    memcpy(&bits, &u, sizeof bits);
    *frac = (float)(bits & ((1u << (23 - TAB_BITS)) - 1)) * (1.0f / (1u << (23 - TAB_BITS)));
    return (bits >> (23 - TAB_BITS)) - ((uint32_t)(127 + TAB_LO) << TAB_BITS);
}

static inline float table_g(const float *t, float u)
{
    float f;
    uint32_t i = table_index(u, &f);
    return t[i] + f * (t[i + 1] - t[i]);
}

static inline float clamp_u(float v)
{
    return v < U_TOP ? (v > U_LO ? v : U_LO) : U_TOP;
}

/* Surface brightness at u = (r/a)^2, any u >= 0. */
static double sb_u(const sl_sersic_prep *p, double u)
{
    if (u < U_LO)
        return p->amp * exp(-p->b * pow(u, 0.5 / p->n));
    return p->amp * table_g(p->table, u < U_TOP ? (float)u : U_TOP);
}

static double u_at(const sl_sersic_prep *p, double dx, double dy)
{
    double X = p->mxx * dx + p->mxy * dy, Y = p->myx * dx + p->myy * dy;
    return X * X + Y * Y;
}

int sl_sersic_prepare(sl_sersic_prep *p, const sl_sersic *s, sl_err *err)
{
    int k = tab_index(s->n);
    if (k < 0)
        return sl_err_set(err, "sersic: index n = %g is not tabulated (use 1 or 4)", s->n);
    if (!isfinite(s->x) || !isfinite(s->y) || !isfinite(s->beta))
        return sl_err_set(err, "sersic: centre (%g, %g) or angle %g is not finite", s->x,
                          s->y, s->beta);
    if (!(s->flux >= 0) || !isfinite(s->flux))
        return sl_err_set(err, "sersic: flux %g is not a finite number >= 0", s->flux);
    if (!(s->q >= 0 && s->q <= 1))
        return sl_err_set(err, "sersic: axis ratio q = %g is outside [0, 1]", s->q);
    if (!(s->a >= 0) || !isfinite(s->a))
        return sl_err_set(err, "sersic: half-light radius a = %g is not finite >= 0", s->a);
    constants();
    double n = s->n, b = K.b[k];
    double q = fmax(s->q, SL_GALAXY_Q_MIN), a = fmax(s->a, SL_GALAXY_A_MIN);
    double c = cos(s->beta), sn = sin(s->beta);
    *p = (sl_sersic_prep){
        .x = s->x, .y = s->y, .flux = s->flux, .n = n, .a = a, .q = q,
        .mxx = c / a, .mxy = sn / a, .myx = -sn / (q * a), .myy = c / (q * a),
        .amp = s->flux * pow(b, 2 * n) / (2 * M_PI * n * q * a * a * tgamma(2 * n)),
        .b = b, .s_max = K.s_max[k], .table = K.tab[k],
    };
    return 0;
}

double sl_sersic_sb(const sl_sersic_prep *p, double x, double y)
{
    return sb_u(p, u_at(p, x - p->x, y - p->y));
}

int sl_galaxy_prepare(sl_galaxy_prep *p, const sl_galaxy *g, sl_err *err)
{
    if (!(g->disk_frac >= 0 && g->disk_frac <= 1))
        return sl_err_set(err, "galaxy: disk fraction %g is outside [0, 1]", g->disk_frac);
    sl_sersic comp[2] = {
        {g->x, g->y, g->flux * g->disk_frac, 1, g->a_disk, g->q_disk, g->beta},
        {g->x, g->y, g->flux * (1 - g->disk_frac), 4, g->a_bulge, g->q_bulge, g->beta},
    };
    p->ncomp = 0;
    for (int i = 0; i < 2; i++) {
        if (sl_sersic_prepare(&p->comp[p->ncomp], &comp[i], err) < 0)
            return sl_err_prefix(err, "galaxy %s", i ? "bulge" : "disk");
        if (comp[i].flux > 0)
            p->ncomp++;
    }
    return 0;
}

double sl_galaxy_sb(const sl_galaxy_prep *p, double x, double y)
{
    double sb = 0;
    for (int i = 0; i < p->ncomp; i++)
        sb += sl_sersic_sb(&p->comp[i], x, y);
    return sb;
}

/* Distance on which the profile decays at elliptical radius s (units of a), along the
 * minor axis where it is shortest: (n/b) s^(1-1/n) q a (only n = 1, 4 occur). */
static double scale_exp(const sl_sersic_prep *p, double s)
{
    double qa = p->q * p->a;
    return p->n == 1 ? qa / p->b : 4 / p->b * qa * sqrt(s * sqrt(s));
}

double sl_galaxy_detail(const sl_galaxy_prep *p, double x, double y, double r,
                        double sb_floor)
{
    double scale = INFINITY;
    for (int c = 0; c < p->ncomp; c++) {
        const sl_sersic_prep *s = &p->comp[c];
        /* s changes by at most 1/(q a) per pixel */
        double s_min = sqrt(u_at(s, x - s->x, y - s->y)) - r / (s->q * s->a);
        s_min = s_min > 0 ? s_min : 0;
        if (sb_u(s, s_min * s_min) > sb_floor) {
            double e = scale_exp(s, s_min), d = s->q * s->a * s_min, l = e < d ? e : d;
            scale = l < scale ? l : scale;
        }
    }
    return scale;
}

/* In blocks of 8 points (as add_samples below), so that the arithmetic vectorizes;
 * the table reads are scalar. */
void sl_galaxy_sb_n(const sl_galaxy_prep *p, int n, const double *x, const double *y,
                    float *sb)
{
    memset(sb, 0, (size_t)n * sizeof *sb);
    for (int c = 0; c < p->ncomp; c++) {
        const sl_sersic_prep *s = &p->comp[c];
        const float *t = s->table;
        float amp = (float)s->amp;
        for (int m = 0; m < n; m += 8) {
            int len = n - m < 8 ? n - m : 8;
            double u[8];
            for (int k = 0; k < len; k++)
                u[k] = u_at(s, x[m + k] - s->x, y[m + k] - s->y);
            for (int k = 0; k < len; k++)
                sb[m + k] += u[k] < U_LO ? (float)sb_u(s, u[k])
                                         : amp * table_g(t, u[k] < U_TOP ? (float)u[k] : U_TOP);
        }
    }
}

double sl_galaxy_extent(const sl_galaxy_prep *p)
{
    double r = 0;
    for (int i = 0; i < p->ncomp; i++)
        r = fmax(r, p->comp[i].a * p->comp[i].s_max);
    return r;
}

/* ---- rendering ---------------------------------------------------------------- */

/* Per-render constants: the quadratic form u = A dx^2 + 2 B dx dy + C dy^2, the
 * thresholds on u at a pixel centre above which a rule is accurate for the whole
 * pixel (u_lap for the corrected midpoint, u_gl[N] for N x N Gauss-Legendre), and the
 * integrals over the rectangles from the centre to the 4 x 4 pixel corners around it
 * (pixel corner (ci0 + k, cj0 + l) at [l][k]), computed when first needed. */
typedef struct plan {
    const sl_sersic_prep *p;
    double A, B, C;
    double u_lap, u_gl[FAST_MAX + 1];
    double abs_tol; /* ABS_TOL * flux */
    int ci0, cj0;
    double corner[4][4];
    unsigned char have_corner[4][4];
} plan;

/* Smallest s where cells of side 1 pass a rule with thresholds t_exp (on the decay
 * scale) and t_sing (on the distance to the centre, a kink for n = 1 and a cusp for
 * n = 4, which is at least q a s pixels away). */
static double sigma_rule(const sl_sersic_prep *p, double t_exp, double t_sing)
{
    double qa = p->q * p->a;
    double s_sing = 1 / (t_sing * qa), s_exp;
    if (p->n == 1)
        s_exp = qa / p->b * t_exp >= 1 ? 0 : INFINITY;
    else
        s_exp = pow(p->b / (4 * qa * t_exp), 4.0 / 3);
    return fmax(s_sing, s_exp);
}

static void plan_init(plan *pl, const sl_sersic_prep *p)
{
    pl->p = p;
    pl->A = p->mxx * p->mxx + p->myx * p->myx;
    pl->B = p->mxx * p->mxy + p->myx * p->myy;
    pl->C = p->mxy * p->mxy + p->myy * p->myy;
    pl->abs_tol = ABS_TOL * p->flux;
    /* (only used when the centre is on the image; clamped so the cast is defined) */
    pl->ci0 = (int)fmin(fmax(floor(p->x), -1e9), 1e9) - 1;
    pl->cj0 = (int)fmin(fmax(floor(p->y), -1e9), 1e9) - 1;
    memset(pl->have_corner, 0, sizeof pl->have_corner);
    /* s at a pixel's centre exceeds s anywhere in it by at most rho (s is a norm, and
     * the farthest point of the pixel from its centre, in that norm, is a corner);
     * the corrected midpoint reads the 3 x 3 pixels around. */
    double rho = sqrt(fmax(u_at(p, 0.5, 0.5), u_at(p, 0.5, -0.5)));
    /* Beyond s_abs a whole pixel holds less than abs_tol: any rule is good enough. */
    double ratio = p->amp / pl->abs_tol;
    double s_abs = ratio > 1 ? pow(log(ratio) / p->b, p->n) : 0;
    double s = fmin(sigma_rule(p, K.t_lap_exp, K.t_lap_sing), s_abs) + 3 * rho;
    pl->u_lap = s * s;
    for (int N = 2; N <= FAST_MAX; N++) {
        s = fmin(sigma_rule(p, K.t_exp[N], K.t_sing[N]), s_abs) + rho;
        pl->u_gl[N] = fmin(s * s, N == 2 ? pl->u_lap : pl->u_gl[N - 1]);
    }
}

/* Minimum of u over the box [x0, x1] x [y0, y1] of offsets from the centre: zero if
 * the centre is inside, else the smallest of the minima along the four edges. */
static double min_u_box(const plan *pl, double x0, double x1, double y0, double y1)
{
    if (x0 <= 0 && x1 >= 0 && y0 <= 0 && y1 >= 0)
        return 0;
    double m = INFINITY, xe[2] = {x0, x1}, ye[2] = {y0, y1};
    for (int e = 0; e < 2; e++) {
        double y = fmin(fmax(-pl->B * xe[e] / pl->C, y0), y1);
        m = fmin(m, pl->A * xe[e] * xe[e] + 2 * pl->B * xe[e] * y + pl->C * y * y);
        double x = fmin(fmax(-pl->B * ye[e] / pl->A, x0), x1);
        m = fmin(m, pl->A * x * x + 2 * pl->B * x * ye[e] + pl->C * ye[e] * ye[e]);
    }
    return m;
}

/* Smallest N whose rule integrates a cell of side h with minimum s = s_min to the
 * tolerances, or 0 when the cell must be split. */
static int choose_rule(const plan *pl, double s_min, double h)
{
    const sl_sersic_prep *p = pl->p;
    if (sb_u(p, s_min * s_min) * h * h <= pl->abs_tol)
        return 1;
    double l_exp = scale_exp(p, s_min), l_sing = p->q * p->a * s_min;
    for (int N = 1; N <= GL_MAX; N++)
        if (h <= K.t_exp[N] * l_exp && h <= K.t_sing[N] * l_sing)
            return N;
    return 0;
}

static double gl_cell(const sl_sersic_prep *p, double x0, double y0, double h, int N)
{
    const double *nd = gl_node + GL_OFF(N), *wt = gl_weight + GL_OFF(N);
    double sum = 0;
    for (int k = 0; k < N; k++) {
        double dy = y0 + h * nd[k] - p->y, row = 0;
        for (int l = 0; l < N; l++)
            row += wt[l] * sb_u(p, u_at(p, x0 + h * nd[l] - p->x, dy));
        sum += wt[k] * row;
    }
    return sum * h * h;
}

/* P(k, x) for an integer k: 1 - e^-x sum_{j<k} x^j / j!, accurate to 1e-16 absolute,
 * which is what a share of the flux needs. */
static double gamma_p_int(int k, double x)
{
    static const double inv[8] = {0, 1, 1.0 / 2, 1.0 / 3, 1.0 / 4, 1.0 / 5, 1.0 / 6, 1.0 / 7};
    double term = 1, sum = 1;
    for (int j = 1; j < k; j++) {
        term *= x * inv[j];
        sum += term;
    }
    return 1 - exp(-x) * sum;
}

/* Integral over the triangle with corners at the centre and at the offsets (x1, y1),
 * (x2, y2) from it, signed by the orientation of the two.  In the plane P = M (x, y),
 * where the profile is round, the light along a ray out to radius R is
 * flux / (2 pi) P(2n, b R^(1/n)) per unit angle.  The far edge, at distance d from the
 * centre, subtends the angle d ds / (d^2 + s^2) at the point s along it from the foot
 * of the perpendicular; with s = d sinh w that is dw / cosh w, and the integrand
 * P(2n, b (d cosh w)^(1/n)) / cosh w is smooth in w even for very thin triangles.
 * Two 8-point panels in w are accurate to 1e-7 of the flux (5e-5 at q = 0.02). */
static double corner_triangle(const sl_sersic_prep *p, double x1, double y1, double x2,
                              double y2, int nodes, int panels)
{
    double ax = p->mxx * x1 + p->mxy * y1, ay = p->myx * x1 + p->myy * y1;
    double bx = p->mxx * x2 + p->mxy * y2, by = p->myx * x2 + p->myy * y2;
    double cross = ax * by - ay * bx;
    if (cross == 0)
        return 0;
    double ex = bx - ax, ey = by - ay, len = hypot(ex, ey), d = fabs(cross) / len;
    double wa = asinh((ax * ex + ay * ey) / (len * d));
    double wb = asinh((bx * ex + by * ey) / (len * d));
    const double *nd = gl_node + GL_OFF(nodes), *wt = gl_weight + GL_OFF(nodes);
    int k2n = (int)(2 * p->n);
    double sum = 0, width = (wb - wa) / panels;
    for (int panel = 0; panel < panels; panel++)
        for (int k = 0; k < nodes; k++) {
            double e = exp(wa + width * (panel + nd[k])), c = 0.5 * (e + 1 / e), r = d * c;
            sum += wt[k] * gamma_p_int(k2n, p->b * (p->n == 1 ? r : sqrt(sqrt(r)))) / c;
        }
    return copysign(p->flux / (2 * M_PI) * width * sum, cross);
}

double sl_sersic_polygon(const sl_sersic_prep *p, int n, const double *x, const double *y)
{
    double sum = 0;
    for (int k = 0; k < n; k++) {
        int l = k + 1 < n ? k + 1 : 0;
        sum += corner_triangle(p, x[k] - p->x, y[k] - p->y, x[l] - p->x, y[l] - p->y, POLY_N, 1);
    }
    return sum;
}

/* Integral over the rectangle with one corner on the centre and the opposite one at
 * the offset (X, Y), signed like X * Y so that such rectangles add like areas. */
static double corner_rect(const sl_sersic_prep *p, double X, double Y)
{
    return corner_triangle(p, X, 0, X, Y, 8, 2) + corner_triangle(p, X, Y, 0, Y, 8, 2);
}

/* Integral over the cell [x0, x0 + h) x [y0, y0 + h), at least NEAR h from the centre
 * (the cells it splits off are then too). */
static double cell(const plan *pl, double x0, double y0, double h)
{
    const sl_sersic_prep *p = pl->p;
    double X0 = x0 - p->x, X1 = X0 + h, Y0 = y0 - p->y, Y1 = Y0 + h;
    int N = choose_rule(pl, sqrt(min_u_box(pl, X0, X1, Y0, Y1)), h);
    if (N > 0)
        return gl_cell(p, x0, y0, h, N);
    double g = h / 2;
    return cell(pl, x0, y0, g) + cell(pl, x0 + g, y0, g) + cell(pl, x0, y0 + g, g) +
           cell(pl, x0 + g, y0 + g, g);
}

/* The rectangle integral from the centre to pixel corner (i, j), which must lie in the
 * 4 x 4 corners around the centre. */
static double corner_value(plan *pl, int i, int j)
{
    int k = i - pl->ci0, l = j - pl->cj0;
    if (!pl->have_corner[l][k]) {
        pl->corner[l][k] = corner_rect(pl->p, i - pl->p->x, j - pl->p->y);
        pl->have_corner[l][k] = 1;
    }
    return pl->corner[l][k];
}

/* Integral over pixel (i, j).  Pixels nearer the centre than NEAR (the one holding it
 * and some of its neighbours) are sums of rectangles from the centre; their corners are
 * shared, so each rectangle is computed once. */
static double pixel(plan *pl, int i, int j)
{
    double X0 = i - pl->p->x, Y0 = j - pl->p->y;
    double dx = X0 > 0 ? X0 : X0 + 1 < 0 ? -(X0 + 1) : 0;
    double dy = Y0 > 0 ? Y0 : Y0 + 1 < 0 ? -(Y0 + 1) : 0;
    if (dx * dx + dy * dy < NEAR * NEAR)
        return corner_value(pl, i + 1, j + 1) - corner_value(pl, i, j + 1) -
               corner_value(pl, i + 1, j) + corner_value(pl, i, j);
    return cell(pl, i, j, 1);
}

/* out[m] += wamp * g(u) at the points (X0 + m sx, Y0 + m sy) of the (x'/a, y'/(q a))
 * plane, m = 0..n-1.  The blocks of 8 have a fixed trip count so that -O2 vectorizes
 * them. */
static void add_samples(const float *restrict t, float *restrict out, int n, float X0,
                        float Y0, float sx, float sy, float wamp)
{
    int m = 0;
    for (; m + 8 <= n; m += 8) {
        float u[8], frac[8];
        uint32_t bits[8];
        for (int k = 0; k < 8; k++) {
            float X = X0 + sx * (float)(m + k), Y = Y0 + sy * (float)(m + k);
            u[k] = clamp_u(X * X + Y * Y);
        }
        memcpy(bits, u, sizeof bits);
        for (int k = 0; k < 8; k++) {
            frac[k] = (float)(bits[k] & ((1u << (23 - TAB_BITS)) - 1)) *
                      (1.0f / (1u << (23 - TAB_BITS)));
            bits[k] = (bits[k] >> (23 - TAB_BITS)) - ((uint32_t)(127 + TAB_LO) << TAB_BITS);
        }
        for (int k = 0; k < 8; k++) {
            float lo = t[bits[k]], hi = t[bits[k] + 1];
            out[m + k] += wamp * (lo + frac[k] * (hi - lo));
        }
    }
    for (; m < n; m++) {
        float X = X0 + sx * (float)m, Y = Y0 + sy * (float)m;
        out[m] += wamp * table_g(t, clamp_u(X * X + Y * Y));
    }
}

/* out[m] += the N x N rule's integral of pixel (i0 + m, j), m = 0..i1-i0-1. */
static void add_gl_row(const sl_sersic_prep *p, float *out, int j, int i0, int i1, int N)
{
    if (i1 <= i0)
        return;
    const double *nd = gl_node + GL_OFF(N), *wt = gl_weight + GL_OFF(N);
    for (int k = 0; k < N; k++) {
        double dy = j + nd[k] - p->y;
        for (int l = 0; l < N; l++) {
            double dx = i0 + nd[l] - p->x;
            add_samples(p->table, out, i1 - i0, (float)(p->mxx * dx + p->mxy * dy),
                        (float)(p->myx * dx + p->myy * dy), (float)p->mxx, (float)p->myx,
                        (float)(wt[k] * wt[l] * p->amp));
        }
    }
}

/* out[m] += the corrected midpoint of pixel (i0 + m, j) from the centre values of rows
 * j-1, j, j+1 (up, mid, down point at pixel i0). */
static void add_lap_row(float *restrict out, const float *restrict up,
                        const float *restrict mid, const float *restrict down, int n)
{
    int m = 0;
    for (; m + 8 <= n; m += 8) {
        float *o = out + m;
        const float *u = up + m, *c = mid + m, *d = down + m;
        for (int k = 0; k < 8; k++)
            o[k] += c[k] + (c[k - 1] + c[k + 1] + u[k] + d[k] - 4 * c[k]) * (1.0f / 24);
    }
    for (; m < n; m++)
        out[m] += mid[m] + (mid[m - 1] + mid[m + 1] + up[m] + down[m] - 4 * mid[m]) *
                               (1.0f / 24);
}

/* Narrows [*lo, *hi) to the pixels of the row at offset dy from the centre whose
 * centre has u < U, widened to whole pixels (which only errs towards more samples).
 * An empty result is left at the left end, so that the dropped pixels form
 * [old lo, new lo) and [new hi, old hi). */
static void narrow(const plan *pl, double dy, double U, int *lo, int *hi)
{
    /* u(dx) = A dx^2 + 2 B dy dx + C dy^2 at pixel centres dx = i + 0.5 - x */
    double umin = (pl->C - pl->B * pl->B / pl->A) * dy * dy;
    if (*lo >= *hi || U <= umin) {
        *hi = *lo;
        return;
    }
    double mid = pl->p->x - pl->B * dy / pl->A - 0.5, half = sqrt((U - umin) / pl->A);
    double flo = mid - half, fhi = mid + half;
    /* clamped in double before converting, as the interval may be far wider than the
     * image; inside (*lo, *hi) the values are positive, so (int) rounds down */
    int nlo = flo <= *lo ? *lo : flo >= *hi ? *hi : (int)flo;
    *hi = fhi < nlo ? nlo : fhi >= *hi ? *hi : (int)fhi + 1;
    *lo = nlo;
}

/* Renders row j, pixels i0..i1-1.  mid[-1..] holds the centre values of row j and
 * of the rows above and below, from pixel i0 - 1 to i1. */
static void render_row(plan *pl, float *row, int j, int i0, int i1, const float *up,
                       const float *mid, const float *down)
{
    const sl_sersic_prep *p = pl->p;
    double dy = j + 0.5 - p->y;
    int lo = i0, hi = i1; /* the pixels still to render */
    narrow(pl, dy, pl->u_lap, &lo, &hi);
    add_lap_row(row + i0, up, mid, down, lo - i0);
    add_lap_row(row + hi, up + (hi - i0), mid + (hi - i0), down + (hi - i0), i1 - hi);
    for (int N = 2; N <= FAST_MAX && lo < hi; N++) {
        int a = lo, b = hi;
        narrow(pl, dy, pl->u_gl[N], &lo, &hi);
        add_gl_row(p, row + a, j, a, lo, N);
        add_gl_row(p, row + hi, j, hi, b, N);
    }
    for (int i = lo; i < hi; i++)
        row[i] += (float)pixel(pl, i, j);
}

/* Fills buf[0..n-1] with amp * g at the centres of pixels i0 - 1 .. of row j. */
static void centre_values(const sl_sersic_prep *p, float *buf, int n, int i0, int j)
{
    memset(buf, 0, n * sizeof *buf);
    double dx = i0 - 0.5 - p->x, dy = j + 0.5 - p->y;
    add_samples(p->table, buf, n, (float)(p->mxx * dx + p->mxy * dy),
                (float)(p->myx * dx + p->myy * dy), (float)p->mxx, (float)p->myx,
                (float)p->amp);
}

static int render_prep(const sl_sersic_prep *p, float *img, int w, int h, sl_err *err)
{
    if (!img || w <= 0 || h <= 0)
        return sl_err_set(err, "sersic: no image to render into (%d x %d)", w, h);
    if (p->flux == 0)
        return 0;
    /* the box around the ellipse of major semi-axis R = a s_max */
    double R = p->a * p->s_max, c = p->mxx * p->a, s = p->mxy * p->a, q = p->q;
    double hx = R * sqrt(c * c + q * q * s * s), hy = R * sqrt(s * s + q * q * c * c);
    double fi0 = fmax(floor(p->x - hx), 0), fi1 = fmin(floor(p->x + hx), w - 1);
    double fj0 = fmax(floor(p->y - hy), 0), fj1 = fmin(floor(p->y + hy), h - 1);
    if (fi0 > fi1 || fj0 > fj1)
        return 0;
    int i0 = (int)fi0, i1 = (int)fi1 + 1, j0 = (int)fj0, j1 = (int)fj1 + 1;
    /* centre values of three rows (j-1, j, j+1), one pixel wider on each side */
    int n = i1 - i0 + 2;
    float *buf = malloc(3 * (size_t)n * sizeof *buf);
    if (!buf)
        return sl_err_set(err, "sersic: out of memory for a %d-pixel row", n);
    plan pl;
    plan_init(&pl, p);
    centre_values(p, buf, n, i0, j0 - 1);
    centre_values(p, buf + n, n, i0, j0);
    for (int j = j0; j < j1; j++) {
        float *up = buf + (size_t)((j - j0) % 3) * n, *mid = buf + (size_t)((j - j0 + 1) % 3) * n,
              *down = buf + (size_t)((j - j0 + 2) % 3) * n;
        centre_values(p, down, n, i0, j + 1);
        render_row(&pl, img + (size_t)j * w, j, i0, i1, up + 1, mid + 1, down + 1);
    }
    free(buf);
    return 0;
}

int sl_sersic_render(const sl_sersic *s, float *img, int w, int h, sl_err *err)
{
    sl_sersic_prep p;
    if (sl_sersic_prepare(&p, s, err) < 0)
        return -1;
    return render_prep(&p, img, w, h, err);
}

int sl_galaxy_render(const sl_galaxy *g, float *img, int w, int h, sl_err *err)
{
    sl_galaxy_prep p;
    if (sl_galaxy_prepare(&p, g, err) < 0)
        return -1;
    for (int i = 0; i < p.ncomp; i++)
        if (render_prep(&p.comp[i], img, w, h, err) < 0)
            return sl_err_prefix(err, "galaxy");
    return 0;
}
