/* calib_text.c: the text table of a calibration run (see calib_run.h), what
 * sl-calibrate prints on standard output.  Owns its layout only: every
 * number comes from sl_calib_run_measure. */
#include "calib_run.h"

#include <math.h>

static void print_num(FILE *f, const char *fmt_ok, int width, double v)
{
    if (isfinite(v))
        fprintf(f, fmt_ok, width, v);
    else
        fprintf(f, "%*s", width, "-");
}

static void print_detect_row(FILE *f, const char *label, const sl_calib_detect *d)
{
    fprintf(f, "  %-14s %8ld %8ld", label, d->n_true, d->n_est);
    print_num(f, " %*.3f", 10, d->precision);
    print_num(f, " %*.3f", 8, d->recall);
    print_num(f, " %*.3f", 7, d->f1);
    fputc('\n', f);
}

static void print_detection(const sl_calib_run *r, FILE *f)
{
    if (r->mode_exact) {
        fprintf(f, "\nDetection: not measured (estimates at the true positions, matched row "
                   "to row)\n");
        return;
    }
    fprintf(f, "\nDetection: matched within %g px; magnitudes in band %s%s\n", r->opt.radius,
            r->n_bands > 0 ? r->band_names[r->ref_band] : "-",
            r->no_zero_point ? " (instrumental: no zero point)" : "");
    fprintf(f, "  %-14s %8s %8s %10s %8s %7s\n", "true mag", "n_true", "n_est", "precision",
            "recall", "F1");
    print_detect_row(f, "all", &r->det_all.d);
    char label[40];
    for (int k = 0; k < r->n_det_bins; k++) {
        snprintf(label, sizeof label, "[%g, %g)", r->det_bins[k].lo, r->det_bins[k].hi);
        print_detect_row(f, label, &r->det_bins[k].d);
    }
    if (r->opt.min_snr > 0) {
        snprintf(label, sizeof label, "SNR >= %g", r->opt.min_snr);
        print_detect_row(f, label, &r->det_snr.d);
    }
}

static void print_binary(const sl_calib_run *r, FILE *f)
{
    int any = 0;
    for (int k = 0; k < 3; k++)
        any |= r->p[k].n > 0;
    if (!any)
        return;
    fprintf(f, "\nBinary factors: %d bins (equal width | equal count)\n", r->opt.bins);
    fprintf(f, "  %-14s %8s %7s %7s %7s | %7s %7s\n", "factor", "n", "ECE", "MCE", "Brier",
            "ECE", "MCE");
    for (int k = 0; k < 3; k++) {
        if (!r->p[k].n)
            continue;
        fprintf(f, "  %-14s %8ld", sl_calib_binary_names[k], r->rel[k].n);
        print_num(f, " %*.4f", 7, r->rel[k].ece);
        print_num(f, " %*.4f", 7, r->rel[k].mce);
        print_num(f, " %*.4f", 7, r->rel[k].brier);
        fprintf(f, " |");
        print_num(f, " %*.4f", 7, r->rel_eq[k].ece);
        print_num(f, " %*.4f", 7, r->rel_eq[k].mce);
        fputc('\n', f);
    }
}

static void print_coverage(const sl_calib_run *r, FILE *f)
{
    fprintf(f, "\nCoverage of central credible intervals, %% (* outside the 99%% band); "
               "SBC with %d draws\n", r->opt.sbc_samples);
    fprintf(f, "  %-18s %7s", "parameter", "n");
    for (int l = 0; l < SL_CALIB_N_LEVELS; l++)
        fprintf(f, " %6g", 100 * sl_calib_levels[l]);
    fprintf(f, "  %-15s %7s\n", "verdict", "SBC p");
    for (int i = 0; i < r->n_params; i++) {
        const sl_calib_param *p = &r->params[i];
        fprintf(f, "  %-18s %7ld", p->name, p->cov.n);
        for (int l = 0; l < SL_CALIB_N_LEVELS; l++) {
            if (p->cov.n)
                fprintf(f, " %5.1f%c", 100 * p->cov.cover[l], p->cov.flag[l] ? '*' : ' ');
            else
                fprintf(f, " %6s", "-");
        }
        fprintf(f, "  %-15s", sl_calib_verdict_name(p->cov.verdict));
        print_num(f, " %*.3g", 7, p->sbc.p_value);
        fputc('\n', f);
    }
}

static void print_point(const sl_calib_run *r, FILE *f)
{
    fprintf(f, "\nPoint accuracy of the posterior mean\n");
    fprintf(f, "  %-18s %7s %8s %10s %9s %9s %10s\n", "parameter", "n", "R2", "med|err|",
            "med.frac", "med.prec", "bias");
    for (int i = 0; i < r->n_params; i++) {
        const sl_calib_param *p = &r->params[i];
        fprintf(f, "  %-18s %7ld", p->name, p->point.n);
        print_num(f, " %*.4f", 8, p->point.r2);
        print_num(f, " %*.4g", 10, p->point.mae);
        print_num(f, " %*.4f", 9, p->point.frac_dev);
        print_num(f, " %*.4f", 9, p->point.rel_prec);
        print_num(f, " %*.4g", 10, p->point.bias);
        fputc('\n', f);
    }
}

void sl_calib_run_print(const sl_calib_run *r, FILE *f)
{
    fprintf(f, "sl-calibrate: %ld records, %ld true sources, %ld estimates\n", r->images,
            r->n_true, r->n_est);
    print_detection(r, f);
    print_binary(r, f);
    if (r->n_params) {
        print_coverage(r, f);
        print_point(r, f);
    }
    const sl_calib_tarp *t = &r->tarp;
    if (r->have_tarp)
        fprintf(f, "\nTARP, joint lens posterior (theta_e, e1, e2, src_dx, src_dy): %ld systems, "
                   "max |ECP - alpha| %.4f, ATC %.4f, KS p %.3g%s\n",
                t->n, t->max_dev, t->atc, t->ks_p, t->ks_p < SL_CALIB_ALPHA ? " (miscalibrated)" : "");
}
