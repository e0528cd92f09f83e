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
    fprintf(f, "\nPoint accuracy of the posterior median\n");
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

/* "[10, 20)", "< 10", ">= 100" */
static void bin_label(char *buf, size_t size, double lo, double hi)
{
    if (lo <= 0)
        snprintf(buf, size, "< %g", hi);
    else if (isinf(hi))
        snprintf(buf, size, ">= %g", lo);
    else
        snprintf(buf, size, "[%g, %g)", lo, hi);
}

static void print_sharpness(const sl_calib_run *r, FILE *f)
{
    char label[32];
    fprintf(f, "\nSharpness: R2 of the posterior median / median posterior 90%% width over the "
               "prior's\n(prior: 5-95%% of the true values), by the truth's SNR (arc_snr for "
               "lens parameters)\n");
    fprintf(f, "  %-18s %9s %13s", "parameter", "prior90", "all");
    for (int b = 0; b < SL_CALIB_SNR_BINS; b++) {
        bin_label(label, sizeof label, sl_calib_snr_edges[b], sl_calib_snr_edges[b + 1]);
        fprintf(f, " %13s", label);
    }
    fputc('\n', f);
    for (int i = 0; i < r->n_params; i++) {
        const sl_calib_param *p = &r->params[i];
        fprintf(f, "  %-18s", p->name);
        print_num(f, " %*.4g", 9, p->prior_width);
        for (int b = -1; b < SL_CALIB_SNR_BINS; b++) {
            const sl_calib_sharp *h = b < 0 ? &p->sharp_all : &p->sharp[b];
            if (b >= 0 && !p->has_snr) {
                fprintf(f, "  no %s in the truth", p->pop == SL_POP_LENS ? "arc_snr" : "snr");
                break;
            }
            print_num(f, " %*.2f", 6, h->r2);
            fputc('/', f);
            print_num(f, "%-*.3g", 6, h->width_ratio);
        }
        fputc('\n', f);
    }
}

static void print_lens_bins(FILE *f, const char *what, const sl_calib_lens_bin *b, int n,
                            int have, const char *missing)
{
    char label[32];
    if (!have) {
        fprintf(f, "  by %s: %s\n", what, missing);
        return;
    }
    fprintf(f, "  by %-10s %8s %8s %12s\n", what, "n", "found", "completeness");
    for (int k = 0; k < n; k++) {
        bin_label(label, sizeof label, b[k].lo, b[k].hi);
        fprintf(f, "    %-12s %8ld %8ld", label, b[k].n, b[k].found);
        print_num(f, " %*.3f", 12, b[k].completeness);
        fputc('\n', f);
    }
}

static void print_lens_finding(const sl_calib_run *r, FILE *f)
{
    const sl_calib_lensfind *lf = &r->lens;
    fprintf(f, "\nLens finding over whole images: P(lens) > %g within %g px of the deflector\n",
            r->opt.lens_threshold, r->opt.lens_radius);
    fprintf(f, "  true lens systems %ld, found %ld, completeness ", lf->n_sys, lf->found);
    print_num(f, "%*.3f", 1, lf->completeness);
    fprintf(f, "; estimates above %g: %ld, purity ", r->opt.lens_threshold, lf->selected);
    print_num(f, "%*.3f", 1, lf->purity);
    fprintf(f, "\n  ROC AUC ");
    print_num(f, "%*.4f", 1, lf->rank.auc);
    fprintf(f, ", average precision ");
    print_num(f, "%*.4f", 1, lf->rank.ap);
    fprintf(f, " (%ld estimates)\n", lf->rank.n);
    print_lens_bins(f, "arc_snr", lf->snr_bin, SL_CALIB_SNR_BINS, lf->has_snr,
                    "no arc_snr in the truth");
    print_lens_bins(f, "theta_E px", lf->theta_bin, SL_CALIB_THETA_BINS, lf->has_theta,
                    "no theta_e in the truth");
    if (!lf->has_snr)
        return;
    fprintf(f, "  purity >= %g, arc_snr >= %d (%ld systems): ", SL_CALIB_TARGET_PURITY,
            SL_CALIB_BRIGHT_ARC_SNR, lf->n_bright);
    if (lf->reached)
        fprintf(f, "completeness %.3f at P(lens) >= %.4g (purity %.3f)\n", lf->at_completeness,
                lf->at_threshold, lf->at_purity);
    else
        fprintf(f, "not reached\n");
}

static void print_recon(const sl_calib_run *r, FILE *f)
{
    const sl_calib_recon *rc = &r->recon;
    fprintf(f, "\nReconstruction: chi2 per pixel of the image against the rendered estimate, "
               "within theta_E + 3 FWHM of each true deflector\n");
    fprintf(f, "  %ld lens systems (%ld estimated sources not measured, left out), median ",
            rc->n, rc->dropped);
    print_num(f, "%*.4g", 1, rc->median);
    if (rc->has_snr) {
        fprintf(f, "; arc_snr >= %d: %ld, median ", SL_CALIB_BRIGHT_ARC_SNR, rc->n_bright);
        print_num(f, "%*.4g", 1, rc->median_bright);
    } else {
        fprintf(f, "; no arc_snr in the truth");
    }
    fprintf(f, "\n  histogram:");
    for (int b = 0; b < SL_CALIB_CHI2_BINS; b++)
        fprintf(f, " [%g, %g) %ld%s", sl_calib_chi2_edges[b], sl_calib_chi2_edges[b + 1],
                rc->count[b], b + 1 < SL_CALIB_CHI2_BINS ? "," : "");
    fputc('\n', f);
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
        print_sharpness(r, f);
    }
    const sl_calib_tarp *t = &r->tarp;
    if (r->have_tarp)
        fprintf(f, "\nTARP, joint lens posterior (theta_e, e1, e2, src_dx, src_dy): %ld systems, "
                   "max |ECP - alpha| %.4f, ATC %.4f, KS p %.3g%s\n",
                t->n, t->max_dev, t->atc, t->ks_p, t->ks_p < SL_CALIB_ALPHA ? " (miscalibrated)" : "");
    if (r->lens.on)
        print_lens_finding(r, f);
    if (r->recon.on)
        print_recon(r, f);
}
