/* calib_run.h: one run of sl-calibrate, from records to a report (DESIGN.md
 * "Calibration").  The statistics themselves are in calib.h; this is what
 * feeds them and what shows their results, one module per job:
 *
 *   calib_param.c   the continuous parameters: where each one's estimate and
 *                   truth are, which true sources its factor was trained on,
 *                   its marginal family, and collecting (truth, posterior)
 *                   pairs for it
 *   calib_match.c   reading a record (bands, zero point, interior, PSF for
 *                   the SNR cut), matching estimates to true sources, and
 *                   collecting what detection and the binary factors need
 *   calib_lens.c    end-to-end lens finding over whole images: which true
 *                   lens systems an estimate with P(lens) above a threshold
 *                   finds, purity, the ROC and precision-recall curves
 *   calib_recon.c   the reconstruction score (--chi2): chi^2 per pixel of
 *                   the image against the rendering of the estimated
 *                   catalog, per true lens system
 *   calib_report.c  measuring (sl_calib_run_measure) and the report record
 *                   (sl_calib_run_pack), whose JSON is the same map
 *   calib_text.c    the text table
 *   calib_plot.c    the SVG figures
 *
 * Usage (the tool adds options parsing, the input loop and the outputs):
 *
 *     static sl_calib_run run;            // large: not on the stack
 *     sl_calib_run_init(&run);            // then set run.opt
 *     while (reading rec)
 *         if (sl_calib_run_take(&run, &rec, &img, &est, &tru, &err) < 0) fail;
 *     sl_calib_run_measure(&run, &err);
 *     sl_calib_run_pack(&run, pk, &err);  sl_calib_run_print(&run, stdout);
 *     sl_calib_run_plot(&run, dir, &err);
 *     sl_calib_run_free(&run);
 *
 * The definitions of every figure are in man/man1/sl-calibrate.1. */
#ifndef SL_CALIB_RUN_H
#define SL_CALIB_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "calib.h"
#include "estimate.h"
#include "family.h"
#include "image.h"
#include "record.h"
#include "table.h"
#include "vec.h"

typedef SL_VEC(double) sl_calib_dvec;
typedef SL_VEC(unsigned char) sl_calib_bvec;

enum { SL_CALIB_MATCH_AUTO, SL_CALIB_MATCH_DISTANCE, SL_CALIB_MATCH_EXACT };

#define SL_CALIB_MAX_MAG_BINS 40
#define SL_CALIB_MAX_PARAMS 128
#define SL_CALIB_ALPHA 0.01 /* the coverage band: 99% */

typedef struct sl_calib_opts {
    double radius;      /* matching distance, pixels */
    int match;          /* SL_CALIB_MATCH_* */
    double min_snr;     /* > 0: detection of true sources of SNR >= min_snr too */
    const char *band;   /* reference band, NULL: r or the first */
    double mag_edges[SL_CALIB_MAX_MAG_BINS + 1];
    int n_mag_edges;    /* 0: whole magnitudes over the truths' range */
    int bins, tile, sbc_samples, tarp_samples, tarp_boot;
    int chi2;           /* the reconstruction score */
    uint64_t seed;
    double lens_radius;    /* an estimate this close to a deflector, pixels */
    double lens_threshold; /* with P(lens) above this, finds the lens system */
} sl_calib_opts;

/* The defaults the usage text states. */
#define SL_CALIB_OPTS_DEFAULT                                                              \
    {.radius = 1, .bins = 10, .sbc_samples = 99, .tarp_samples = 200, .tarp_boot = 200,  \
     .seed = 1, .lens_radius = 3, .lens_threshold = 0.5}

typedef enum { SL_POP_ANY, SL_POP_STAR, SL_POP_GALAXY, SL_POP_LENS } sl_calib_population;
typedef enum { SL_PK_SCALAR, SL_PK_LOCATION, SL_PK_LENS } sl_calib_param_kind;

/* SNR bins of the sharpness and lens-finding tables: <10, 10-20, 20-50,
 * 50-100, >=100 (edges 0 and inf at the ends). */
#define SL_CALIB_SNR_BINS 5
extern const double sl_calib_snr_edges[SL_CALIB_SNR_BINS + 1];
#define SL_CALIB_BRIGHT_ARC_SNR 20 /* the lens systems the purity target is for */

/* Sharpness of one parameter over the pairs in one SNR bin. */
typedef struct sl_calib_sharp {
    long n;
    double r2;          /* of the headline point estimate (the median), as sl_calib_point */
    double width_ratio; /* median (q95 - q05) / the prior's 90% width */
} sl_calib_sharp;

/* One continuous parameter. */
typedef struct sl_calib_param {
    char name[64];   /* as printed: "galaxy_flux_r" */
    char group[16];  /* the figure it goes in: detect, galaxy, lens, source */
    char col[40];    /* the estimate's column: "galaxy_flux" */
    char tcol[40];   /* the truth's: "flux" */
    int elem;        /* band of a per-band column */
    sl_calib_population pop;
    sl_calib_param_kind kind;
    int coord;       /* SL_PK_LENS: coordinate of the joint normal */
    sl_transform tr;
    double period;   /* pi for position angles: point errors wrap */
    const sl_estimate_param *schema; /* its row of the estimate schema */
    int ratio;       /* a ratio scale: fractional metrics apply */
    /* Column indices in the current record's tables. */
    int c_point, c_q16, c_q50, c_q84, c_mu, c_sigma, c_truth;
    int c_q05, c_q95, c_snr;  /* -1 when absent */
    sl_calib_dvec truth, headline, q16, q50, q84, pit, rank;
    sl_calib_dvec q05, q95, snr;
    /* Results. */
    sl_calib_coverage cov;
    sl_calib_sbc sbc;
    sl_calib_point point;
    /* The prior's 90% width: the 5-95% range of the true values collected. */
    double prior_width;
    int has_snr; /* some pair had the truth's SNR */
    sl_calib_sharp sharp_all, sharp[SL_CALIB_SNR_BINS];
} sl_calib_param;

typedef struct sl_calib_detect_row {
    double lo, hi; /* magnitude bin; NaN for the overall and SNR rows */
    sl_calib_detect d;
} sl_calib_detect_row;

typedef struct sl_calib_lens_bin {
    double lo, hi;
    long n, found;
    double completeness;
} sl_calib_lens_bin;

#define SL_CALIB_THETA_BINS 7 /* theta_E in 5-pixel bins, the last open */
#define SL_CALIB_THETA_STEP 5

/* End-to-end lens finding (calib_lens.c). */
typedef struct sl_calib_lensfind {
    int on; /* distance matching, p_lens in the estimates and lens in the truth */
    /* Per true lens system: the highest P(lens) within the radius (-inf for
     * none), arc SNR and theta_E in pixels (NaN when the truth lacks them). */
    sl_calib_dvec sys_best, sys_snr, sys_theta;
    /* Per estimate: P(lens) (NaN as 0), within the radius of a true lens
     * system, and claimed one (the one-to-one labels of the curves). */
    sl_calib_dvec est_p;
    sl_calib_bvec est_near, est_pos;
    /* Results. */
    long n_sys, found, selected, selected_near;
    double completeness, purity;
    int has_snr, has_theta;
    sl_calib_lens_bin snr_bin[SL_CALIB_SNR_BINS], theta_bin[SL_CALIB_THETA_BINS];
    long n_bright;      /* systems of arc SNR >= SL_CALIB_BRIGHT_ARC_SNR */
    int reached;        /* purity >= 0.9 at some threshold */
    double at_threshold, at_completeness, at_purity;
    sl_calib_ranking rank;
} sl_calib_lensfind;

#define SL_CALIB_TARGET_PURITY 0.9

#define SL_CALIB_CHI2_BINS 11
extern const double sl_calib_chi2_edges[SL_CALIB_CHI2_BINS + 1];

/* The reconstruction score (calib_recon.c). */
typedef struct sl_calib_recon {
    int on;                            /* some lens system was scored */
    struct sl_calib_render *render;    /* the scene and renderer, made on first use */
    sl_calib_dvec chi2, snr;           /* per true lens system: chi^2/pixel, arc SNR */
    long dropped;                      /* estimated sources left out: not measured */
    long n, n_bright;                  /* finite scores; of those with arc_snr >= 20 */
    double median, median_bright;
    int has_snr;
    long count[SL_CALIB_CHI2_BINS];
} sl_calib_recon;

typedef struct sl_calib_run {
    sl_calib_opts opt;
    /* The bands of the stream (from the first record) and the reference band. */
    int n_bands, ref_band;
    char band_names[SL_MAX_BANDS][16];
    sl_calib_param params[SL_CALIB_MAX_PARAMS];
    int n_params;
    long images, n_true, n_est;
    int mode_exact, mode_known; /* decided on the first record */
    int no_zero_point;          /* some record had none: instrumental magnitudes */
    int tile;
    /* Detection (distance matching only): one entry per truth, per estimate. */
    sl_calib_dvec t_mag, t_snr, t_matched;
    sl_calib_dvec e_mag, e_snr, e_matched, e_match_snr;
    /* Binary factors (source, galaxy, lens): (p, outcome). */
    sl_calib_dvec p[3];
    sl_calib_bvec y[3];
    /* The joint lens posterior, for TARP. */
    sl_calib_dvec tarp_z, tarp_mu, tarp_chol;
    sl_calib_lensfind lens;
    sl_calib_recon recon;
    /* Results of sl_calib_run_measure. */
    sl_calib_detect_row det_all, det_snr, det_bins[SL_CALIB_MAX_MAG_BINS];
    int n_det_bins;
    sl_calib_reliability rel[3], rel_eq[3];
    sl_calib_tarp tarp;
    int have_tarp;
} sl_calib_run;

extern const char *const sl_calib_binary_names[3]; /* "source", "galaxy", "lens" */

void sl_calib_run_init(sl_calib_run *r);
void sl_calib_run_free(sl_calib_run *r);

/* Adds one image or catalog record holding `truth` and `estimate` (img, est
 * and tru are the caller's reusable buffers).  Errors name the record and key. */
int sl_calib_run_take(sl_calib_run *r, const sl_record *rec, sl_image *img, sl_table *est,
                      sl_table *tru, sl_err *err);
int sl_calib_run_measure(sl_calib_run *r, sl_err *err);
/* The report record: a map (type "report"); sl_json_write gives its JSON.
 * Fails only on a miscounted map (a bug). */
int sl_calib_run_pack(const sl_calib_run *r, msgpack_packer *pk, sl_err *err);
void sl_calib_run_print(const sl_calib_run *r, FILE *f);
/* The SVG figures into dir (created if needed). */
int sl_calib_run_plot(const sl_calib_run *r, const char *dir, sl_err *err);

/* ---- Shared between the modules of a run (not for tools) ---------------------- */

/* Column `name` of the record's table under `key`, of the given width; -1
 * with the error "key 'estimate.x_q50': missing" otherwise.  opt_col: -1
 * without an error when the column is absent, -2 for a bad width. */
int sl_calib_need_col(const sl_record *rec, const sl_table *t, const char *key,
                      const char *name, int width, sl_err *err);
int sl_calib_opt_col(const sl_record *rec, const sl_table *t, const char *key,
                     const char *name, int width, sl_err *err);
/* Value k of row `row` of column c, or NaN for c < 0. */
double sl_calib_at(const sl_table *t, int c, int row, int k);

/* calib_lens.c: one record's lens systems and estimates (truth rows trows[0..nt),
 * pixel_scale in arcsec per pixel), and the measurements. */
int sl_calib_lens_collect(sl_calib_run *r, const sl_record *rec, const sl_table *est,
                          const sl_table *tru, const int *trows, int nt, double pixel_scale,
                          sl_err *err);
int sl_calib_lens_measure(sl_calib_lensfind *lf, const sl_calib_opts *o, sl_err *err);
void sl_calib_lens_free(sl_calib_lensfind *lf);

/* calib_recon.c: one image record's lens systems, and the summary. */
int sl_calib_recon_take(sl_calib_run *r, const sl_record *rec, sl_image *img,
                        const sl_table *tru, const int *trows, int nt, sl_err *err);
int sl_calib_recon_measure(sl_calib_recon *rc, sl_err *err);
void sl_calib_recon_free(sl_calib_recon *rc);

/* calib_param.c */
int sl_calib_params_setup(sl_calib_run *r, const sl_table *est, sl_err *err);
int sl_calib_params_resolve(sl_calib_run *r, const sl_record *rec, const sl_table *est,
                            const sl_table *tru, sl_err *err);
/* One matched pair (estimate row e, truth row t). */
int sl_calib_params_add_pair(sl_calib_run *r, const sl_table *est, const sl_table *tru, int e,
                             int t, int c_gal, int c_lens, sl_err *err);

#endif
