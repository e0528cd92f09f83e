/* calib_plot.c: the SVG figures of a calibration run (see calib_run.h):
 * detection by magnitude, reliability diagrams, coverage per group, SBC rank
 * histograms, TARP, and the theta_E scatter.  Owns the figures' files and
 * their looks; every number comes from sl_calib_run_measure. */
#include "calib_run.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "special.h"
#include "svg.h"

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* Where the figures go; the first error is kept and the rest skipped. */
typedef struct plotter {
    const sl_calib_run *r;
    const char *dir;
    sl_err *err;
    int failed;
} plotter;

static void write_plot(plotter *pl, sl_svg *s, const char *file)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", pl->dir, file);
    if (!pl->failed && sl_svg_write(s, path, pl->err) < 0)
        pl->failed = 1;
    sl_svg_free(s);
}

static int begin_plot(plotter *pl, sl_svg *s, const char *title, const char *xl,
                      const char *yl, double x0, double x1, double y0, double y1)
{
    if (pl->failed)
        return -1;
    if (sl_svg_begin(s, 520, 440, title, xl, yl, x0, x1, y0, y1, pl->err) < 0) {
        pl->failed = 1;
        return -1;
    }
    return 0;
}

static void plot_reliability(plotter *pl, int k)
{
    const sl_calib_run *r = pl->r;
    sl_svg s;
    char title[96], file[64];
    snprintf(title, sizeof title, "Reliability: P(%s), n = %ld, ECE %.3f",
             sl_calib_binary_names[k], r->rel[k].n, r->rel[k].ece);
    if (begin_plot(pl, &s, title, "predicted probability", "observed frequency", 0, 1, 0, 1) < 0)
        return;
    double d[2] = {0, 1};
    sl_svg_polyline(&s, d, d, 2, "#888888", 1, 1);
    for (int eq = 0; eq < 2; eq++) {
        const sl_calib_reliability *rel = eq ? &r->rel_eq[k] : &r->rel[k];
        double x[SL_CALIB_MAX_BINS], y[SL_CALIB_MAX_BINS], lo[SL_CALIB_MAX_BINS],
            hi[SL_CALIB_MAX_BINS];
        for (int b = 0; b < rel->n_bins; b++) {
            x[b] = rel->bin[b].conf;
            y[b] = rel->bin[b].freq;
            /* 2 sd: where a calibrated frequency falls 95% of the time. */
            lo[b] = rel->bin[b].conf - 2 * rel->bin[b].err;
            hi[b] = rel->bin[b].conf + 2 * rel->bin[b].err;
        }
        if (!eq)
            sl_svg_errorbars(&s, x, lo, hi, rel->n_bins, "#aaaaaa");
        sl_svg_polyline(&s, x, y, rel->n_bins, palette[eq], 1.5, 0);
        sl_svg_points(&s, x, y, rel->n_bins, palette[eq], 3.5);
        sl_svg_legend(&s, eq ? "equal-count bins" : "equal-width bins (bars: calibrated +-2 sd)",
                      palette[eq]);
    }
    /* With one outcome only (a set of lens systems alone: every P(lens)
     * should be 1) the diagram and the ECE measure how far the predictions
     * are from that outcome, not calibration: say so on the figure. */
    const sl_calib_reliability *all = &r->rel[k];
    double pos = 0;
    for (int b = 0; b < all->n_bins; b++)
        if (all->bin[b].n > 0)
            pos += (double)all->bin[b].n * all->bin[b].freq;
    if (all->n > 0 && (pos < 0.5 || pos > (double)all->n - 0.5)) {
        char note[96];
        snprintf(note, sizeof note, "Every one of the %ld outcomes is %s: %s", all->n,
                 pos < 0.5 ? "0" : "1", pos < 0.5 ? "ECE is the mean P," : "ECE is 1 - mean P,");
        sl_svg_note(&s, note);
        sl_svg_note(&s, "not a measure of calibration (it needs both outcomes)");
    }
    snprintf(file, sizeof file, "reliability_%s.svg", sl_calib_binary_names[k]);
    write_plot(pl, &s, file);
}

/* The 99% band of a calibrated coverage curve for the group's smallest n. */
static void coverage_band(sl_svg *s, long n_min)
{
    double x[SL_CALIB_N_LEVELS + 2], lo[SL_CALIB_N_LEVELS + 2], hi[SL_CALIB_N_LEVELS + 2];
    double z = sl_calib_band_z(SL_CALIB_ALPHA);
    x[0] = lo[0] = hi[0] = 0;
    for (int l = 0; l < SL_CALIB_N_LEVELS; l++) {
        double L = sl_calib_levels[l], h = z * sqrt(L * (1 - L) / (double)n_min);
        x[l + 1] = L, lo[l + 1] = L - h, hi[l + 1] = L + h;
    }
    x[SL_CALIB_N_LEVELS + 1] = lo[SL_CALIB_N_LEVELS + 1] = hi[SL_CALIB_N_LEVELS + 1] = 1;
    sl_svg_band(s, x, lo, hi, SL_CALIB_N_LEVELS + 2, "#999999", 0.25);
}

static void plot_coverage(plotter *pl, const char *group)
{
    const sl_calib_run *r = pl->r;
    int any = 0;
    long n_min = 0;
    for (int i = 0; i < r->n_params; i++) {
        const sl_calib_param *p = &r->params[i];
        if (!strcmp(p->group, group) && p->cov.n > 0) {
            n_min = any ? (p->cov.n < n_min ? p->cov.n : n_min) : p->cov.n;
            any = 1;
        }
    }
    if (!any)
        return;
    sl_svg s;
    char title[96], file[64];
    snprintf(title, sizeof title, "Coverage of central intervals: %s parameters", group);
    if (begin_plot(pl, &s, title, "nominal level", "empirical coverage", 0, 1, 0, 1) < 0)
        return;
    coverage_band(&s, n_min);
    double d[2] = {0, 1};
    sl_svg_polyline(&s, d, d, 2, "#555555", 1, 1);
    int c = 0;
    for (int i = 0; i < r->n_params; i++) {
        const sl_calib_param *p = &r->params[i];
        if (strcmp(p->group, group) || !p->cov.n)
            continue;
        const char *col = palette[c++ % 10];
        sl_svg_polyline(&s, sl_calib_levels, p->cov.cover, SL_CALIB_N_LEVELS, col, 1.5, 0);
        sl_svg_points(&s, sl_calib_levels, p->cov.cover, SL_CALIB_N_LEVELS, col, 2.5);
        sl_svg_legend(&s, p->name, col);
    }
    snprintf(file, sizeof file, "coverage_%s.svg", group);
    write_plot(pl, &s, file);
}

static void plot_ranks(plotter *pl, const sl_calib_param *p)
{
    const sl_calib_sbc *h = &p->sbc;
    if (!h->n)
        return;
    double edges[SL_CALIB_MAX_SBC_BINS + 1], count[SL_CALIB_MAX_SBC_BINS], top = 0;
    double per = (h->L + 1.0) / h->n_bins, expect = (double)h->n / h->n_bins;
    for (int b = 0; b <= h->n_bins; b++)
        edges[b] = b * per;
    for (int b = 0; b < h->n_bins; b++) {
        count[b] = (double)h->count[b];
        top = fmax(top, count[b]);
    }
    /* The 99% band of one bin's count under uniform ranks (normal approximation). */
    double sd = sqrt(expect * (1 - 1.0 / h->n_bins)), z = sl_normal_quantile(0.995);
    top = fmax(top, expect + z * sd) * 1.1;
    sl_svg s;
    char title[128], file[96];
    snprintf(title, sizeof title, "SBC ranks: %.40s (n = %ld, chi2 p = %.3g)", p->name, h->n,
             h->p_value);
    if (begin_plot(pl, &s, title, "rank of the truth among the draws", "count", 0, h->L + 1, 0,
                   top) < 0)
        return;
    sl_svg_bars(&s, edges, count, h->n_bins, palette[0]);
    double bx[2] = {0, h->L + 1.0}, blo[2] = {expect - z * sd, expect - z * sd},
           bhi[2] = {expect + z * sd, expect + z * sd}, e[2] = {expect, expect};
    sl_svg_band(&s, bx, blo, bhi, 2, "#999999", 0.3);
    sl_svg_polyline(&s, bx, e, 2, "#333333", 1, 1);
    snprintf(file, sizeof file, "sbc_%.63s.svg", p->name);
    write_plot(pl, &s, file);
}

static void plot_tarp(plotter *pl)
{
    const sl_calib_tarp *t = &pl->r->tarp;
    sl_svg s;
    char title[96];
    snprintf(title, sizeof title, "TARP: joint lens posterior, %ld systems", t->n);
    if (begin_plot(pl, &s, title, "credibility level", "expected coverage", 0, 1, 0, 1) < 0)
        return;
    sl_svg_band(&s, t->alpha, t->lo95, t->hi95, SL_CALIB_TARP_ALPHAS, palette[0], 0.15);
    sl_svg_band(&s, t->alpha, t->lo68, t->hi68, SL_CALIB_TARP_ALPHAS, palette[0], 0.3);
    double d[2] = {0, 1};
    sl_svg_polyline(&s, d, d, 2, "#555555", 1, 1);
    sl_svg_polyline(&s, t->alpha, t->ecp, SL_CALIB_TARP_ALPHAS, palette[0], 2, 0);
    sl_svg_legend(&s, "ECP (bands: bootstrap 68%, 95%)", palette[0]);
    write_plot(pl, &s, "tarp.svg");
}

static void plot_scatter(plotter *pl, const sl_calib_param *p)
{
    if (p->truth.n == 0)
        return;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < p->truth.n; i++) {
        double v[4] = {p->truth.a[i], p->headline.a[i], p->q16.a[i], p->q84.a[i]};
        for (int k = 0; k < 4; k++)
            if (isfinite(v[k]))
                lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
    }
    if (!(lo < hi))
        hi = lo + 1;
    double pad = 0.05 * (hi - lo);
    sl_svg s;
    char title[128], file[96];
    snprintf(title, sizeof title, "%.20s: posterior median against truth (n = %zu, R2 %.3f)",
             p->name, p->truth.n, p->point.r2);
    if (begin_plot(pl, &s, title, "true value", "posterior median (bars: 16-84%)", lo - pad,
                   hi + pad, lo - pad, hi + pad) < 0)
        return;
    double d[2] = {lo - pad, hi + pad};
    sl_svg_errorbars(&s, p->truth.a, p->q16.a, p->q84.a, (int)p->truth.n, "#bbbbbb");
    sl_svg_polyline(&s, d, d, 2, "#555555", 1, 1);
    sl_svg_points(&s, p->truth.a, p->headline.a, (int)p->truth.n, palette[0], 2);
    snprintf(file, sizeof file, "scatter_%.63s.svg", p->name);
    write_plot(pl, &s, file);
}

static void plot_detection(plotter *pl)
{
    const sl_calib_run *r = pl->r;
    int n = r->n_det_bins;
    if (r->mode_exact || n == 0)
        return;
    double x[SL_CALIB_MAX_MAG_BINS], v[3][SL_CALIB_MAX_MAG_BINS];
    for (int k = 0; k < n; k++) {
        x[k] = (r->det_bins[k].lo + r->det_bins[k].hi) / 2;
        v[0][k] = r->det_bins[k].d.precision;
        v[1][k] = r->det_bins[k].d.recall;
        v[2][k] = r->det_bins[k].d.f1;
    }
    sl_svg s;
    if (begin_plot(pl, &s, "Detection by magnitude",
                   r->no_zero_point ? "instrumental magnitude" : "magnitude", "fraction",
                   r->opt.mag_edges[0], r->opt.mag_edges[n], 0, 1.05) < 0)
        return;
    static const char *const names[3] = {"precision (estimated mag)", "recall (true mag)", "F1"};
    for (int k = 0; k < 3; k++) {
        sl_svg_polyline(&s, x, v[k], n, palette[k], 1.5, 0);
        sl_svg_points(&s, x, v[k], n, palette[k], 3);
        sl_svg_legend(&s, names[k], palette[k]);
    }
    write_plot(pl, &s, "detection.svg");
}

/* ---- Sharpness ---------------------------------------------------------------- */

/* Width ratio (what = 0) or R^2 (what = 1) of the group's parameters against
 * the SNR bin, one line per parameter; nothing without the truth's SNR. */
static void plot_sharp_snr(plotter *pl, const char *group, int what)
{
    const sl_calib_run *r = pl->r;
    double x[SL_CALIB_SNR_BINS], y[SL_CALIB_SNR_BINS], top = 1.2, bottom = what ? -0.5 : 0;
    for (int b = 0; b < SL_CALIB_SNR_BINS; b++)
        x[b] = b + 0.5;
    int any = 0;
    for (int i = 0; i < r->n_params; i++) {
        const sl_calib_param *p = &r->params[i];
        any |= !strcmp(p->group, group) && p->has_snr;
        for (int b = 0; !what && p->has_snr && b < SL_CALIB_SNR_BINS; b++)
            if (!strcmp(p->group, group) && isfinite(p->sharp[b].width_ratio))
                top = fmax(top, fmin(p->sharp[b].width_ratio * 1.1, 5));
    }
    if (!any)
        return;
    sl_svg s;
    char title[96], file[64];
    snprintf(title, sizeof title, "%s: %s parameters by SNR",
             what ? "R2 of the posterior median" : "posterior 90% width / prior's", group);
    if (begin_plot(pl, &s, title, "SNR bin: <10, 10-20, 20-50, 50-100, >=100",
                   what ? "R2" : "width ratio (1: the prior)", 0, SL_CALIB_SNR_BINS, bottom,
                   top) < 0)
        return;
    double gx[2] = {0, SL_CALIB_SNR_BINS}, gy[2] = {1, 1};
    sl_svg_polyline(&s, gx, gy, 2, "#555555", 1, 1);
    int c = 0;
    for (int i = 0; i < r->n_params; i++) {
        const sl_calib_param *p = &r->params[i];
        if (strcmp(p->group, group) || !p->has_snr)
            continue;
        for (int b = 0; b < SL_CALIB_SNR_BINS; b++)
            y[b] = what ? p->sharp[b].r2 : p->sharp[b].width_ratio;
        const char *col = palette[c++ % 10];
        sl_svg_polyline(&s, x, y, SL_CALIB_SNR_BINS, col, 1.5, 0);
        sl_svg_points(&s, x, y, SL_CALIB_SNR_BINS, col, 2.5);
        sl_svg_legend(&s, p->name, col);
    }
    snprintf(file, sizeof file, "%s_snr_%s.svg", what ? "r2" : "width", group);
    write_plot(pl, &s, file);
}

/* Both figures over all SNRs: width ratio and R^2 per parameter. */
static void plot_sharp_all(plotter *pl, const char *group)
{
    const sl_calib_run *r = pl->r;
    double x[SL_CALIB_MAX_PARAMS], w[SL_CALIB_MAX_PARAMS], r2[SL_CALIB_MAX_PARAMS];
    int n = 0;
    for (int i = 0; i < r->n_params; i++)
        if (!strcmp(r->params[i].group, group) && r->params[i].sharp_all.n > 0) {
            x[n] = n + 1;
            w[n] = r->params[i].sharp_all.width_ratio;
            r2[n++] = r->params[i].sharp_all.r2;
        }
    if (!n)
        return;
    sl_svg s;
    char title[96], file[64];
    snprintf(title, sizeof title, "Sharpness: %s parameters, all SNR", group);
    if (begin_plot(pl, &s, title, "parameter (order of the table)", "R2, width ratio", 0.5,
                   n + 0.5, -0.5, 1.5) < 0)
        return;
    double gx[2] = {0.5, n + 0.5}, gy[2] = {1, 1};
    sl_svg_polyline(&s, gx, gy, 2, "#555555", 1, 1);
    sl_svg_points(&s, x, w, n, palette[0], 4);
    sl_svg_legend(&s, "posterior 90% width / prior's (1: says nothing)", palette[0]);
    sl_svg_points(&s, x, r2, n, palette[1], 4);
    sl_svg_legend(&s, "R2 of the posterior median", palette[1]);
    snprintf(file, sizeof file, "sharpness_%s.svg", group);
    write_plot(pl, &s, file);
}

/* ---- Lens finding ----------------------------------------------------------------- */

static void plot_lens_curve(plotter *pl, int pr)
{
    const sl_calib_ranking *k = &pl->r->lens.rank;
    sl_svg s;
    char title[128];
    snprintf(title, sizeof title, pr ? "Lens finding: precision-recall, AP %.3f"
                                     : "Lens finding: ROC of P(lens), AUC %.3f",
             pr ? k->ap : k->auc);
    if (begin_plot(pl, &s, title, pr ? "recall (true lens systems)" : "false positive rate",
                   pr ? "precision" : "true positive rate", 0, 1, 0, 1.02) < 0)
        return;
    double d[2] = {0, 1};
    if (!pr)
        sl_svg_polyline(&s, d, d, 2, "#888888", 1, 1);
    const double *x = pr ? k->recall : k->fpr, *y = pr ? k->precision : k->tpr;
    sl_svg_polyline(&s, x, y, SL_CALIB_CURVE_POINTS, palette[0], 2, 0);
    sl_svg_points(&s, x, y, SL_CALIB_CURVE_POINTS, palette[0], 1.5);
    sl_svg_legend(&s, "P(lens) >= 0, 0.01, ..., 1", palette[0]);
    write_plot(pl, &s, pr ? "lens_pr.svg" : "lens_roc.svg");
}

static void plot_lens_completeness(plotter *pl, int theta)
{
    const sl_calib_lensfind *lf = &pl->r->lens;
    if (!(theta ? lf->has_theta : lf->has_snr))
        return;
    int n = theta ? SL_CALIB_THETA_BINS : SL_CALIB_SNR_BINS;
    const sl_calib_lens_bin *b = theta ? lf->theta_bin : lf->snr_bin;
    double x[SL_CALIB_THETA_BINS + SL_CALIB_SNR_BINS], y[SL_CALIB_THETA_BINS + SL_CALIB_SNR_BINS];
    for (int k = 0; k < n; k++)
        x[k] = theta ? (b[k].lo + SL_CALIB_THETA_STEP / 2.0) : k + 0.5, y[k] = b[k].completeness;
    sl_svg s;
    char title[128];
    snprintf(title, sizeof title, "Lens systems found (P(lens) > %g within %g px)",
             pl->r->opt.lens_threshold, pl->r->opt.lens_radius);
    if (begin_plot(pl, &s, title,
                   theta ? "true theta_E, pixels" : "arc SNR bin: <10, 10-20, 20-50, 50-100, >=100",
                   "completeness", 0, theta ? n * SL_CALIB_THETA_STEP : n, 0, 1.05) < 0)
        return;
    sl_svg_polyline(&s, x, y, n, palette[2], 1.5, 0);
    sl_svg_points(&s, x, y, n, palette[2], 3.5);
    write_plot(pl, &s, theta ? "lens_completeness_theta_e.svg" : "lens_completeness_arc_snr.svg");
}

/* The histogram of chi^2 per pixel, the open last bin drawn as wide as the one before. */
static void plot_recon(plotter *pl)
{
    const sl_calib_recon *rc = &pl->r->recon;
    double edges[SL_CALIB_CHI2_BINS + 1], h[SL_CALIB_CHI2_BINS], top = 1;
    for (int b = 0; b < SL_CALIB_CHI2_BINS; b++) {
        edges[b] = sl_calib_chi2_edges[b];
        h[b] = (double)rc->count[b];
        top = fmax(top, h[b] * 1.1);
    }
    edges[SL_CALIB_CHI2_BINS] = 2 * edges[SL_CALIB_CHI2_BINS - 1] - edges[SL_CALIB_CHI2_BINS - 2];
    sl_svg s;
    char title[128];
    snprintf(title, sizeof title, "Reconstruction: %ld lens systems, median chi2/pixel %.3g",
             rc->n, rc->median);
    if (begin_plot(pl, &s, title, "chi2 per pixel in the system's region (last bar: >= 10)",
                   "lens systems", 0, edges[SL_CALIB_CHI2_BINS], 0, top) < 0)
        return;
    sl_svg_bars(&s, edges, h, SL_CALIB_CHI2_BINS, palette[0]);
    write_plot(pl, &s, "reconstruction_chi2.svg");
}

int sl_calib_run_plot(const sl_calib_run *r, const char *dir, sl_err *err)
{
    if (mkdir(dir, 0777) < 0 && errno != EEXIST)
        return sl_err_set(err, "%s: cannot create the directory: %s", dir, strerror(errno));
    plotter pl = {r, dir, err, 0};
    plot_detection(&pl);
    for (int k = 0; k < 3; k++)
        if (r->p[k].n)
            plot_reliability(&pl, k);
    static const char *const groups[] = {"detect", "galaxy", "lens", "source"};
    for (int g = 0; g < 4; g++) {
        plot_coverage(&pl, groups[g]);
        plot_sharp_all(&pl, groups[g]);
        plot_sharp_snr(&pl, groups[g], 0);
        plot_sharp_snr(&pl, groups[g], 1);
    }
    for (int i = 0; i < r->n_params; i++) {
        plot_ranks(&pl, &r->params[i]);
        if (!strcmp(r->params[i].name, "theta_e"))
            plot_scatter(&pl, &r->params[i]);
    }
    if (r->have_tarp)
        plot_tarp(&pl);
    if (r->lens.on) {
        plot_lens_curve(&pl, 0);
        plot_lens_curve(&pl, 1);
        plot_lens_completeness(&pl, 0);
        plot_lens_completeness(&pl, 1);
    }
    if (r->recon.on)
        plot_recon(&pl);
    return pl.failed ? -1 : 0;
}
