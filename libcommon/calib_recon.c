/* calib_recon.c: the reconstruction score of a calibration run (see
 * calib_run.h; --chi2).  Owns the rendering of the estimated catalog and the
 * chi^2 per pixel of the image against it, per true lens system, inside the
 * system's region: a disc of radius theta_E + 3 FWHM (reference band)
 * around the deflector, clipped to the image.  The rendering is the
 * library's (render.h), as sl-simulate --render --catalog estimate draws
 * it: the scene of the default configuration, with what the record carries
 * (size, bands, sky, calibration, PSFs) laid over it. */
#include "calib_run.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "config.h"
#include "prior.h"
#include "render.h"

struct sl_calib_render {
    sl_scene configured, current;
    int have_current;
    sl_renderer *renderer;
    sl_catalog cat;
    float *model;
    size_t cap;
};

/* Histogram edges of chi^2 per pixel (the last bin is open). */
const double sl_calib_chi2_edges[SL_CALIB_CHI2_BINS + 1] = {0,   0.8, 0.9, 1,  1.1, 1.2,
                                                            1.5, 2,   3,   5,  10,  INFINITY};

static int render_new(sl_calib_recon *rc, sl_err *err)
{
    struct sl_calib_render *s = calloc(1, sizeof *s);
    sl_config *cfg = sl_config_new();
    int ok = s && cfg && sl_config_add_keys(cfg, sl_survey_keys, sl_n_survey_keys, err) == 0 &&
             sl_config_add_keys(cfg, sl_prior_keys, sl_n_prior_keys, err) == 0 &&
             sl_config_add_keys(cfg, sl_render_keys, sl_n_render_keys, err) == 0 &&
             sl_config_validate(cfg, err) == 0 && sl_scene_from_config(&s->configured, cfg, err) == 0;
    sl_config_free(cfg);
    if (!ok) {
        if (!s || !cfg)
            sl_err_set(err, "out of memory");
        free(s);
        return -1;
    }
    sl_catalog_init(&s->cat, 1);
    rc->render = s;
    return 0;
}

void sl_calib_recon_free(sl_calib_recon *rc)
{
    struct sl_calib_render *s = rc->render;
    if (s) {
        sl_renderer_free(s->renderer);
        sl_scene_free(&s->configured);
        if (s->have_current)
            sl_scene_free(&s->current);
        sl_catalog_free(&s->cat);
        free(s->model);
        free(s);
        rc->render = NULL;
    }
    sl_vec_free(&rc->chi2);
    sl_vec_free(&rc->snr);
}

static int all_finite(const double *v, int n)
{
    for (int k = 0; k < n; k++)
        if (!isfinite(v[k]))
            return 0;
    return 1;
}

static int shape_finite(const sl_shape *g)
{
    double v[6] = {g->disk_frac, g->angle, g->disk_q, g->bulge_q, g->disk_a, g->bulge_a};
    return all_finite(v, 6);
}

/* Leaves out the sources the cascade did not measure (a NaN flux: a galaxy
 * the galaxy encoder was not asked about), which would make the whole
 * rendering NaN, and draws a lens system whose lens parameters are NaN as
 * its deflector alone.  Returns how many sources were left out. */
static long keep_measured(sl_catalog *c)
{
    int k = 0;
    long dropped = 0;
    for (int i = 0; i < c->n; i++) {
        sl_source *s = &c->src[i];
        double pos[2] = {s->x, s->y};
        if (!all_finite(pos, 2) || !all_finite(s->flux, c->n_bands) ||
            (s->galaxy && !shape_finite(&s->shape))) {
            dropped++;
            continue;
        }
        double lens[5] = {s->theta_e, s->e1, s->e2, s->src_dx, s->src_dy};
        if (s->lens && (!all_finite(lens, 5) || !all_finite(s->src_flux, c->n_bands) ||
                        !shape_finite(&s->src_shape)))
            s->lens = 0;
        c->src[k++] = *s;
    }
    c->n = k;
    return dropped;
}

/* The expected image of the record's estimated catalog into s->model. */
static int render_estimate(struct sl_calib_render *s, const sl_record *rec, const sl_image *img,
                           long *dropped, sl_err *err)
{
    sl_scene scene = {0};
    sl_scene_copy(&scene, &s->configured);
    int rc = sl_scene_from_image(&scene, img, rec, err) < 0 ||
                     sl_catalog_read(&s->cat, rec, "estimate", img->n_bands, err) < 0
                 ? -1
                 : 0;
    if (!rc)
        *dropped += keep_measured(&s->cat);
    /* Plans and PSF stamps are remade only when the scene changes. */
    if (!rc && (!s->renderer || sl_scene_differs(&scene, &s->current))) {
        sl_renderer_free(s->renderer);
        if (s->have_current)
            sl_scene_free(&s->current);
        sl_scene_copy(&s->current, &scene);
        s->have_current = 1;
        if (!(s->renderer = sl_renderer_new(&s->current, err)))
            rc = -1;
    }
    size_t n = (size_t)img->width * img->height * img->n_bands;
    if (!rc) {
        /* The sky is not part of the renderer: it may change from record to record. */
        memcpy(s->current.sky, scene.sky, sizeof s->current.sky);
        if (sl_vec_grow((void **)&s->model, &s->cap, n, sizeof *s->model, err) < 0 ||
            sl_render_expected(s->renderer, &s->cat, s->model, err) < 0)
            rc = -1;
    }
    sl_scene_free(&scene);
    return rc;
}

/* chi^2 per pixel, every band, of the image against the model inside the
 * disc; the variance is the model's expectation (Poisson, sky included). */
static double disc_chi2(const sl_image *img, const float *model, double x, double y, double r)
{
    int x0 = (int)floor(x - r), x1 = (int)ceil(x + r), y0 = (int)floor(y - r),
        y1 = (int)ceil(y + r);
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > img->width ? img->width : x1, y1 = y1 > img->height ? img->height : y1;
    double sum = 0;
    long n = 0;
    for (int b = 0; b < img->n_bands; b++)
        for (int j = y0; j < y1; j++)
            for (int i = x0; i < x1; i++) {
                if (hypot(i + 0.5 - x, j + 0.5 - y) > r)
                    continue;
                size_t k = ((size_t)b * img->height + j) * img->width + i;
                double m = model[k], d = img->pixels[k] - m;
                if (m > 0) /* a zero sky and no light: nothing to compare */
                    sum += d * d / m, n++;
            }
    return n ? sum / (double)n : NAN;
}

int sl_calib_recon_take(sl_calib_run *r, const sl_record *rec, sl_image *img,
                        const sl_table *tru, const int *trows, int nt, sl_err *err)
{
    sl_calib_recon *rc = &r->recon;
    int c_lens = sl_table_find(tru, "lens"), c_theta = sl_table_find(tru, "theta_e");
    int c_snr = sl_table_find(tru, "arc_snr");
    int cx = sl_table_find(tru, "x"), cy = sl_table_find(tru, "y");
    if (c_lens < 0 || c_theta < 0 || cx < 0 || cy < 0)
        return 0; /* no lens systems to score */
    if (!sl_rec_get(rec, "pixels"))
        return sl_rec_fail(rec, "pixels", err, "missing: --chi2 needs the image (encode "
                                               "without --no-pixels)");
    if ((!rc->render && render_new(rc, err) < 0) || sl_image_read(img, rec, err) < 0 ||
        render_estimate(rc->render, rec, img, &rc->dropped, err) < 0)
        return -1;
    double fwhm = sl_psf_fwhm(&rc->render->current.psf[r->ref_band]);
    for (int k = 0; k < nt; k++) {
        int t = trows[k];
        if (*sl_table_at(tru, c_lens, t) != 1)
            continue;
        double radius = *sl_table_at(tru, c_theta, t) / img->pixel_scale + 3 * fwhm;
        double chi2 = disc_chi2(img, rc->render->model, *sl_table_at(tru, cx, t),
                                *sl_table_at(tru, cy, t), radius);
        if (sl_vec_push(&rc->chi2, chi2, err) < 0 ||
            sl_vec_push(&rc->snr, sl_calib_at(tru, c_snr, t, 0), err) < 0)
            return -1;
    }
    rc->on = 1;
    return 0;
}

static double median_where(const sl_calib_recon *rc, double min_snr, long *n, double *buf)
{
    long k = 0;
    for (size_t i = 0; i < rc->chi2.n; i++)
        if (isfinite(rc->chi2.a[i]) && (isnan(min_snr) || rc->snr.a[i] >= min_snr))
            buf[k++] = rc->chi2.a[i];
    *n = k;
    return sl_calib_median(buf, k);
}

int sl_calib_recon_measure(sl_calib_recon *rc, sl_err *err)
{
    double *buf = malloc((rc->chi2.n + 1) * sizeof *buf);
    if (!buf)
        return sl_err_set(err, "out of memory");
    rc->median = median_where(rc, NAN, &rc->n, buf);
    rc->median_bright = median_where(rc, SL_CALIB_BRIGHT_ARC_SNR, &rc->n_bright, buf);
    rc->has_snr = 0;
    for (size_t i = 0; i < rc->snr.n; i++)
        rc->has_snr |= isfinite(rc->snr.a[i]);
    memset(rc->count, 0, sizeof rc->count);
    for (size_t i = 0; i < rc->chi2.n; i++)
        for (int b = 0; b < SL_CALIB_CHI2_BINS; b++)
            if (rc->chi2.a[i] >= sl_calib_chi2_edges[b] && rc->chi2.a[i] < sl_calib_chi2_edges[b + 1])
                rc->count[b]++;
    free(buf);
    return 0;
}
