#include "render.h"

#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "galaxy.h"
#include "lens.h"
#include "prior.h"
#include "rng.h"
#include "lensray.h"
#include "stamp.h"

/* Levels of 2 x 2 splitting of a sub-cell where lensed light is steep (two
 * more for grids of 9 or more sub-cells per pixel: references). */
#define LENS_DEPTH 4

const sl_config_key sl_render_keys[] = {
    {"psf_model", SL_CFG_STR, "gaussian", 0, 0, 0,
     "gaussian | moffat (psf_fwhm, psf_beta) | sdss (psField file) | pixel (FITS image) [gaussian]"},
    {"psf_beta", SL_CFG_NUM, "4.765", 1.01, 100, 0,
     "Moffat beta [4.765: Trujillo et al. 2001 fit to atmospheric turbulence]"},
    {"psf_file", SL_CFG_STR, "", 0, 0, 0,
     "psField file (psf_model = sdss) or PSF image, FITS (psf_model = pixel) []"},
    {"psf_size", SL_CFG_INT, "0", 0, 63, 0,
     "kept for old configurations: odd, at most 63; drawing sizes every stamp itself [0]"},
    {"supersample", SL_CFG_INT, "5", 1, 15, 0,
     "sub-cells per pixel side of the grid lensed light is ray-shot on, made odd (refined "
     "adaptively where steep) [5: within 1e-3 of the peak of a converged rendering; 3: 3e-3]"},
    {"add_read_noise", SL_CFG_BOOL, "false", 0, 0, 0,
     "add Gaussian read noise of read_noise electrons to the Poisson draw [false]"},
};
const size_t sl_n_render_keys = sizeof sl_render_keys / sizeof *sl_render_keys;

static int scene_psf(sl_scene *s, const sl_config *cfg, int b, sl_err *err)
{
    const char *model = sl_config_str(cfg, "psf_model");
    const char *file = sl_config_str(cfg, "psf_file");
    double fwhm = sl_config_num_at(cfg, "psf_fwhm", (size_t)b) / s->pixel_scale;
    if (strcmp(model, "gaussian") == 0)
        return sl_psf_init_gaussian(&s->psf[b], fwhm, err);
    if (strcmp(model, "moffat") == 0)
        return sl_psf_init_moffat(&s->psf[b], fwhm, sl_config_num(cfg, "psf_beta"), err);
    if ((strcmp(model, "sdss") == 0 || strcmp(model, "pixel") == 0) && !*file)
        return sl_err_set(err, "key 'psf_model': %s needs psf_file", model);
    if (strcmp(model, "sdss") == 0) {
        if (strlen(s->bands[b]) != 1 || !strchr("ugriz", s->bands[b][0]))
            return sl_err_set(err, "key 'psf_model': sdss PSFs exist for bands ugriz, not '%s'",
                              s->bands[b]);
        return sl_psf_read_psfield(&s->psf[b], file, s->bands[b][0], err);
    }
    if (strcmp(model, "pixel") == 0)
        return sl_psf_read_image(&s->psf[b], file, -1, err);
    return sl_err_set(err, "key 'psf_model': unknown model '%s' (gaussian, moffat, sdss, pixel)",
                      model);
}

int sl_scene_from_config(sl_scene *s, const sl_config *cfg, sl_err *err)
{
    memset(s, 0, sizeof *s);
    s->width = (int)sl_config_int(cfg, "width");
    s->height = (int)sl_config_int(cfg, "height");
    s->pixel_scale = sl_config_num(cfg, "pixel_scale");
    s->n_bands = (int)sl_config_list_len(cfg, "bands");
    if (s->n_bands > SL_MAX_BANDS)
        return sl_err_set(err, "key 'bands': %d bands, at most %d", s->n_bands, SL_MAX_BANDS);
    s->supersample = (int)sl_config_int(cfg, "supersample");
    s->psf_size = (int)sl_config_int(cfg, "psf_size");
    if (s->psf_size && s->psf_size % 2 == 0)
        return sl_err_set(err, "key 'psf_size': %d is even; a PSF stamp has a centre pixel",
                          s->psf_size);
    s->add_read_noise = sl_config_bool(cfg, "add_read_noise");
    s->disk_n = sl_config_num(cfg, "disk_n");
    s->bulge_n = sl_config_num(cfg, "bulge_n");
    for (int b = 0; b < s->n_bands; b++) {
        const char *name = sl_config_str_at(cfg, "bands", (size_t)b);
        if (strlen(name) >= sizeof s->bands[b])
            return sl_err_set(err, "key 'bands': band name '%s' is longer than %zu characters",
                              name, sizeof s->bands[b] - 1);
        strcpy(s->bands[b], name);
        s->sky[b] = sl_config_num_at(cfg, "sky", (size_t)b);
        s->zero_point[b] = sl_config_num_at(cfg, "zero_point", (size_t)b);
        s->gain[b] = sl_config_num_at(cfg, "gain", (size_t)b);
        s->read_noise[b] = sl_config_num_at(cfg, "read_noise", (size_t)b);
        if (scene_psf(s, cfg, b, err) < 0) {
            sl_scene_free(s);
            return -1;
        }
    }
    return 0;
}

void sl_scene_free(sl_scene *s)
{
    for (int b = 0; b < s->n_bands; b++)
        sl_psf_free(&s->psf[b]);
}

/* One band's PSF from its description in an image record. */
static int psf_from_record(sl_psf *p, const sl_record *rec, const msgpack_object *desc, int b,
                           double pixel_scale, sl_err *err)
{
    char key[64];
    snprintf(key, sizeof key, "psf[%d]", b);
    const msgpack_object *model = sl_obj_get(desc, "model");
    if (desc->type != MSGPACK_OBJECT_MAP || !model || model->type != MSGPACK_OBJECT_STR)
        return sl_rec_fail(rec, key, err, "expected a map with a string 'model'");
    double v[6];
    /* The parameters each model needs, in the order of its init function. */
    static const char *const sdss_keys[] = {"sigma1", "sigma2", "sigmap", "beta", "b", "p0"};
    static const char *const moffat_keys[] = {"fwhm", "beta"};
    const char *const *names = sdss_keys;
    int n = 0;
    if (sl_obj_is_str(model, "gaussian"))
        names = moffat_keys, n = 1;
    else if (sl_obj_is_str(model, "moffat"))
        names = moffat_keys, n = 2;
    else if (sl_obj_is_str(model, "sdss"))
        n = 6;
    else if (!sl_obj_is_str(model, "pixel"))
        return sl_rec_fail(rec, key, err, "unknown PSF model '%.*s'", (int)model->via.str.size,
                           model->via.str.ptr);
    for (int i = 0; i < n; i++) {
        const msgpack_object *o = sl_obj_get(desc, names[i]);
        if (!o || (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32 &&
                   o->type != MSGPACK_OBJECT_POSITIVE_INTEGER))
            return sl_rec_fail(rec, key, err, "'%s': expected a number", names[i]);
        v[i] = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (double)o->via.u64 : o->via.f64;
    }
    int rc;
    if (sl_obj_is_str(model, "gaussian"))
        rc = sl_psf_init_gaussian(p, v[0] / pixel_scale, err);
    else if (sl_obj_is_str(model, "moffat"))
        rc = sl_psf_init_moffat(p, v[0] / pixel_scale, v[1], err);
    else if (sl_obj_is_str(model, "sdss"))
        rc = sl_psf_init_sdss(p, v[0], v[1], v[2], v[3], v[4], v[5], err);
    else {
        const msgpack_object *size = sl_obj_get(desc, "size"), *pix = sl_obj_get(desc, "pixels");
        if (!size || size->type != MSGPACK_OBJECT_POSITIVE_INTEGER || size->via.u64 < 1 ||
            size->via.u64 > 4095 || !pix || pix->type != MSGPACK_OBJECT_BIN ||
            pix->via.bin.size != 4 * size->via.u64 * size->via.u64)
            return sl_rec_fail(rec, key, err, "a pixel PSF needs size (1-4095) and size x size "
                               "float32 pixels");
        int k = (int)size->via.u64;
        float *img = malloc((size_t)k * k * sizeof *img);
        if (!img)
            return sl_rec_fail(rec, key, err, "out of memory");
        memcpy(img, pix->via.bin.ptr, (size_t)k * k * sizeof *img);
        rc = sl_psf_init_pixel(p, img, k, k, err);
        free(img);
    }
    return rc < 0 ? sl_err_prefix(err, "%s: record %ld: key '%s'", rec->file, rec->num, key) : 0;
}

void sl_scene_to_image(const sl_scene *s, int64_t id, const float *pixels, sl_image *img)
{
    sl_image_init(img);
    img->id = img->parent = id;
    img->width = img->parent_width = s->width;
    img->height = img->parent_height = s->height;
    img->n_bands = s->n_bands;
    memcpy(img->bands, s->bands, sizeof img->bands);
    img->pixel_scale = s->pixel_scale;
    img->pixels = (float *)pixels;
    memcpy(img->background, s->sky, sizeof img->background);
    img->has_zero_point = img->has_gain = 1;
    memcpy(img->zero_point, s->zero_point, sizeof img->zero_point);
    memcpy(img->gain, s->gain, sizeof img->gain);
    img->patches = 1;
}

int sl_scene_from_image(sl_scene *s, const sl_image *img, const sl_record *rec, sl_err *err)
{
    const msgpack_object *psf = sl_rec_get(rec, "psf");
    if (psf && (psf->type != MSGPACK_OBJECT_ARRAY || (int)psf->via.array.size != img->n_bands))
        return sl_rec_fail(rec, "psf", err, "expected an array of %d PSF descriptions",
                           img->n_bands);
    if (!psf && img->n_bands != s->n_bands)
        return sl_rec_fail(rec, "psf", err, "missing, and the configuration describes %d bands, "
                           "not %d", s->n_bands, img->n_bands);
    s->width = img->width;
    s->height = img->height;
    s->pixel_scale = img->pixel_scale;
    for (int b = 0; b < img->n_bands; b++) {
        memcpy(s->bands[b], img->bands[b], sizeof s->bands[b]);
        s->sky[b] = img->background[b];
        if (img->has_zero_point)
            s->zero_point[b] = img->zero_point[b];
        if (img->has_gain)
            s->gain[b] = img->gain[b];
        if (psf) {
            sl_psf_free(&s->psf[b]);
            if (psf_from_record(&s->psf[b], rec, &psf->via.array.ptr[b], b, img->pixel_scale,
                                err) < 0)
                return -1;
        }
    }
    s->n_bands = img->n_bands;
    return 0;
}

/* Copies a scene, pixel PSF images included. */
void sl_scene_copy(sl_scene *dst, const sl_scene *src)
{
    *dst = *src;
    for (int b = 0; b < src->n_bands; b++)
        if (src->psf[b].kind == SL_PSF_PIXEL)
            sl_psf_init_pixel(&dst->psf[b], src->psf[b].pix, src->psf[b].pw, src->psf[b].ph, NULL);
}

int sl_scene_differs(const sl_scene *a, const sl_scene *b)
{
    if (a->width != b->width || a->height != b->height || a->n_bands != b->n_bands)
        return 1;
    for (int i = 0; i < a->n_bands; i++) {
        const sl_psf *p = &a->psf[i], *q = &b->psf[i];
        if (p->kind != q->kind || p->fwhm != q->fwhm || p->beta != q->beta ||
            p->sigma1 != q->sigma1 || p->sigma2 != q->sigma2 || p->sigmap != q->sigmap ||
            p->b != q->b || p->p0 != q->p0 || p->pw != q->pw || p->ph != q->ph ||
            (p->kind == SL_PSF_PIXEL &&
             memcmp(p->pix, q->pix, (size_t)p->pw * p->ph * sizeof *p->pix) != 0))
            return 1;
    }
    return 0;
}

void sl_psf_pack(msgpack_packer *pk, const sl_psf *psf, int n_bands, double pixel_scale)
{
    static const uint32_t n_keys[] = {[SL_PSF_GAUSSIAN] = 2, [SL_PSF_MOFFAT] = 3,
                                      [SL_PSF_SDSS] = 7, [SL_PSF_PIXEL] = 3};
    msgpack_pack_array(pk, n_bands);
    for (int b = 0; b < n_bands; b++) {
        const sl_psf *p = &psf[b];
        sl_map m;
        sl_map_begin(&m, pk, "psf", n_keys[p->kind]);
        switch (p->kind) {
        case SL_PSF_GAUSSIAN:
            sl_map_str(&m, "model", "gaussian");
            sl_map_num(&m, "fwhm", p->fwhm * pixel_scale);
            break;
        case SL_PSF_MOFFAT:
            sl_map_str(&m, "model", "moffat");
            sl_map_num(&m, "fwhm", p->fwhm * pixel_scale);
            sl_map_num(&m, "beta", p->beta);
            break;
        case SL_PSF_SDSS:
            sl_map_str(&m, "model", "sdss");
            sl_map_num(&m, "sigma1", p->sigma1);
            sl_map_num(&m, "sigma2", p->sigma2);
            sl_map_num(&m, "sigmap", p->sigmap);
            sl_map_num(&m, "beta", p->beta);
            sl_map_num(&m, "b", p->b);
            sl_map_num(&m, "p0", p->p0);
            break;
        case SL_PSF_PIXEL:
            sl_map_str(&m, "model", "pixel");
            sl_map_int(&m, "size", p->pw);
            sl_map_f32(&m, "pixels", p->pix, (size_t)p->pw * p->ph);
            break;
        }
        sl_map_end(&m, NULL);
    }
}

void sl_scene_pack_psf(msgpack_packer *pk, const sl_scene *s)
{
    sl_psf_pack(pk, s->psf, s->n_bands, s->pixel_scale);
}

/* A drawn stamp kept for the truth metrics: unit-flux pixels in the pool,
 * scaled by `scale` in band `band`; kind 0 is a source's own light, 1 the
 * lensed light of a lens system. */
typedef struct kept {
    int src, kind, band, x0, y0, n;
    double scale;
    size_t off;
} kept;

struct sl_renderer {
    const sl_scene *scene;
    sl_stamper *st[SL_MAX_BANDS];
    int draws[SL_MAX_BANDS]; /* the band whose stamper draws this band (same PSF) */
    float *fine;             /* lensed light on the fine grid */
    size_t fine_cap;
    kept *kept;
    size_t n_kept, cap_kept;
    float *pool;
    size_t n_pool, cap_pool;
};

void sl_renderer_free(sl_renderer *r)
{
    if (!r)
        return;
    for (int b = 0; b < SL_MAX_BANDS; b++)
        sl_stamper_free(r->st[b]);
    free(r->fine);
    free(r->kept);
    free(r->pool);
    free(r);
}

static int psf_same(const sl_psf *p, const sl_psf *q)
{
    return p->kind == q->kind && p->fwhm == q->fwhm && p->beta == q->beta &&
           p->sigma1 == q->sigma1 && p->sigma2 == q->sigma2 && p->sigmap == q->sigmap &&
           p->b == q->b && p->p0 == q->p0 && p->pw == q->pw && p->ph == q->ph &&
           (p->kind != SL_PSF_PIXEL ||
            memcmp(p->pix, q->pix, (size_t)p->pw * p->ph * sizeof *p->pix) == 0);
}

sl_renderer *sl_renderer_new(const sl_scene *s, sl_err *err)
{
    sl_renderer *r = calloc(1, sizeof *r);
    if (!r) {
        sl_err_set(err, "out of memory for a %d x %d renderer", s->width, s->height);
        return NULL;
    }
    r->scene = s;
    for (int b = 0; b < s->n_bands; b++) {
        r->draws[b] = b;
        for (int a = 0; a < b; a++)
            if (psf_same(&s->psf[a], &s->psf[b])) {
                r->draws[b] = a;
                break;
            }
        if (r->draws[b] == b && !(r->st[b] = sl_stamper_new(&s->psf[b], s->width, s->height, err))) {
            sl_err_prefix(err, "band %s PSF", s->bands[b]);
            sl_renderer_free(r);
            return NULL;
        }
    }
    return r;
}

/* Keeps a copy of a drawn stamp for the metrics; returns its pool offset. */
static int keep_stamp(sl_renderer *r, const sl_stamp *st, size_t *off)
{
    size_t need = (size_t)st->n * st->n;
    if (r->n_pool + need > r->cap_pool) {
        size_t cap = 2 * (r->n_pool + need);
        float *p = realloc(r->pool, cap * sizeof *p);
        if (!p)
            return -1;
        r->pool = p;
        r->cap_pool = cap;
    }
    memcpy(r->pool + r->n_pool, st->pix, need * sizeof *r->pool);
    *off = r->n_pool;
    r->n_pool += need;
    return 0;
}

static int keep_entry(sl_renderer *r, kept k)
{
    if (r->n_kept == r->cap_kept) {
        size_t cap = r->cap_kept ? 2 * r->cap_kept : 64;
        kept *p = realloc(r->kept, cap * sizeof *p);
        if (!p)
            return -1;
        r->kept = p;
        r->cap_kept = cap;
    }
    r->kept[r->n_kept++] = k;
    return 0;
}

/* The surface brightness (electrons per pixel^2) below which light may wrap
 * around a stamp: far below the sky's noise, and below 1e-7 of the
 * brightest band's flux per pixel^2 for faint or noiseless scenes. */
static double max_flux(const sl_scene *sc, const double *flux)
{
    double m = 0;
    for (int b = 0; b < sc->n_bands; b++)
        m = fmax(m, flux[b]);
    return fmax(m, 1e-30);
}

static double sb_floor(const sl_scene *sc, const double *flux)
{
    double sky = INFINITY;
    for (int b = 0; b < sc->n_bands; b++)
        sky = fmin(sky, sc->sky[b]);
    return fmin(1e-2 * sqrt(fmax(sky, 1)), 1e-7 * max_flux(sc, flux));
}

/* Draws a unit-flux stamp once per distinct PSF and adds it, times the
 * band's flux, to every band; kept for the metrics. */
static int add_source(sl_renderer *r, int i, int kind, const sl_stamp_src *src,
                      const double *flux, const float *fine, int ss, int box[3], float *out,
                      sl_err *err)
{
    const sl_scene *sc = r->scene;
    size_t plane = (size_t)sc->width * sc->height;
    for (int a = 0; a < sc->n_bands; a++) {
        if (r->draws[a] != a)
            continue;
        sl_stamp st;
        int rc = fine ? sl_stamper_draw_fine(r->st[a], fine, ss, box[0], box[1], box[2], &st, err)
                      : sl_stamper_draw(r->st[a], src, &st, err);
        size_t off;
        if (rc < 0)
            return -1;
        if (keep_stamp(r, &st, &off) < 0)
            return sl_err_set(err, "out of memory for the stamps of an image");
        for (int b = 0; b < sc->n_bands; b++) {
            if (r->draws[b] != a || !(flux[b] != 0))
                continue;
            sl_stamp_add(&st, flux[b], out + b * plane, sc->width, sc->height);
            kept k = {i, kind, b, st.x0, st.y0, st.n, flux[b], off};
            if (keep_entry(r, k) < 0)
                return sl_err_set(err, "out of memory for the stamps of an image");
        }
    }
    return 0;
}

/* A bulge+disk shape as stamp components (pixels), unit total flux. */
static void shape_comps(const sl_scene *sc, const sl_shape *sh, sl_stamp_src *src)
{
    double d = sh->disk_frac, ps = sc->pixel_scale;
    /* An index that is absent (NaN, or 0 from code that predates it) takes
     * the scene's default; a scene not made from a configuration has none:
     * 1 and 4. */
    double nd = sh->disk_n > 0 ? sh->disk_n : sc->disk_n > 0 ? sc->disk_n : 1;
    double nb = sh->bulge_n > 0 ? sh->bulge_n : sc->bulge_n > 0 ? sc->bulge_n : 4;
    sl_stamp_comp disk = {d, nd, fmax(sh->disk_a / ps, SL_GALAXY_A_MIN),
                          fmax(sh->disk_q, SL_GALAXY_Q_MIN), sh->angle};
    sl_stamp_comp bulge = {1 - d, nb, fmax(sh->bulge_a / ps, SL_GALAXY_A_MIN),
                           fmax(sh->bulge_q, SL_GALAXY_Q_MIN), sh->angle};
    src->ncomp = 0;
    if (d > 0)
        src->comp[src->ncomp++] = disk;
    if (d < 1)
        src->comp[src->ncomp++] = bulge;
}

static sl_galaxy galaxy_of(const sl_shape *sh, double x, double y, double pixel_scale)
{
    sl_galaxy g = {
        .x = x, .y = y, .flux = 1.0, .disk_frac = sh->disk_frac, .beta = sh->angle,
        .q_disk = sh->disk_q, .q_bulge = sh->bulge_q,
        .a_disk = sh->disk_a / pixel_scale, .a_bulge = sh->bulge_a / pixel_scale,
    };
    return g;
}

/* The lensed light of a lens system's background galaxy at unit flux, as
 * sub-cell integrals on a grid s times finer than the pixels over the stamp
 * box[0..2] (x0, y0, n): the box around the deflector that holds every
 * point that can map within the source's 1 - 1e-4 radius, clipped to the
 * image plus the PSF's reach (light outside that cannot reach the image),
 * rounded up to a stamp size, integrated over the sub-cells by adaptive ray
 * shooting (lensray.h). */
static int lensed_fine(sl_renderer *r, const sl_source *s, int box[3], int *ss, sl_err *err)
{
    const sl_scene *sc = r->scene;
    int f = sc->supersample | 1;
    double ps = sc->pixel_scale, te = s->theta_e / ps;
    sl_galaxy src = galaxy_of(&s->src_shape, s->x + s->src_dx, s->y + s->src_dy, ps);
    double rs = fmax(sl_sersic_radius(1, fmax(src.a_disk, SL_GALAXY_A_MIN), 1 - 1e-4),
                     sl_sersic_radius(4, fmax(src.a_bulge, SL_GALAXY_A_MIN), 1 - 1e-4));
    double shear = hypot(s->shear_g1, s->shear_g2);
    double reach = (te + hypot(s->src_dx, s->src_dy) + rs) / fmax(1 - shear, 0.1) + 2;
    double level = sb_floor(sc, s->src_flux) / max_flux(sc, s->src_flux);
    /* the PSF's reach: what a stamp of radius 0 adds on each side */
    int m = (sl_stamper_size(r->st[0], 0, level) - 4) / 2;
    if (!(te >= 0)) /* a negative reach would take the box's ends beyond int */
        return sl_err_set(err, "lens: Einstein radius %g is not a finite number >= 0", te);
    int x0 = (int)fmax(floor(s->x - reach), -m), x1 = (int)fmin(ceil(s->x + reach), sc->width + m);
    int y0 = (int)fmax(floor(s->y - reach), -m), y1 = (int)fmin(ceil(s->y + reach), sc->height + m);
    int side = x1 - x0 > y1 - y0 ? x1 - x0 : y1 - y0;
    int n = sl_stamper_size(r->st[0], side < 2 ? 1 : side / 2.0, 1);
    box[0] = x0;
    box[1] = y0;
    box[2] = n;
    size_t need = (size_t)f * n * f * n;
    if (need > r->fine_cap) {
        float *p = realloc(r->fine, need * sizeof *p);
        if (!p)
            return sl_err_set(err, "out of memory for lensed light");
        r->fine = p;
        r->fine_cap = need;
    }
    memset(r->fine, 0, need * sizeof *r->fine);
    sl_lens lens = {s->x - x0, s->y - y0, te, s->e1, s->e2, s->shear_g1, s->shear_g2};
    src.x -= x0;
    src.y -= y0;
    *ss = f;
    if (sl_lens_check(&lens, err) < 0)
        return -1;
    /* only the clipped box: the rest of the stamp stays dark */
    int bw = x1 - x0, bh = y1 - y0;
    if (bw <= 0 || bh <= 0)
        return 0;
    /* refinement to 0.09 / f^2 of the source's mean brightness within its
     * half-light radius (or within a pixel, for sources smaller than one),
     * so finer grids converge: the rule is exact for quadratics, so this
     * bounds the error of what is not, kinks and cusps */
    double ae = fmin(src.a_disk * sqrt(fmax(src.q_disk, SL_GALAXY_Q_MIN)),
                     src.a_bulge * sqrt(fmax(src.q_bulge, SL_GALAXY_Q_MIN)));
    double sb_ref = 1 / (M_PI * (ae * ae + 1)), tol = 0.09 * sb_ref / (f * f);
    /* pixels darker than 1e-3 of that (or than the noise floor) keep their
     * light but not its layout within them: an error below 1e-4 of the peak */
    double dark = fmax(level, 1e-3 * sb_ref);
    float *tmp = r->fine;
    int depth = f >= 9 ? LENS_DEPTH + 2 : LENS_DEPTH;
    if (sl_lens_integrate(&lens, &src, f, tol, dark, depth, tmp, bw, bh, err) < 0)
        return -1;
    /* spread the (f bw)-wide rows into the (f n)-wide grid, last row first */
    int fw = f * bw, fh = f * bh;
    for (int y = fh - 1; y >= 0; y--) {
        memmove(r->fine + (size_t)y * f * n, tmp + (size_t)y * fw, (size_t)fw * sizeof *tmp);
        if (y * f * n != y * fw)
            memset(r->fine + (size_t)y * f * n + fw, 0, (size_t)(f * n - fw) * sizeof *tmp);
    }
    return 0;
}

static int finite_all(const double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static int shape_finite(const sl_shape *sh)
{
    double v[6] = {sh->disk_frac, sh->angle, sh->disk_q, sh->bulge_q, sh->disk_a, sh->bulge_a};
    return finite_all(v, 6);
}

int sl_render_expected(sl_renderer *r, const sl_catalog *cat, float *out, sl_err *err)
{
    const sl_scene *sc = r->scene;
    size_t plane = (size_t)sc->width * sc->height;
    memset(out, 0, plane * sc->n_bands * sizeof *out);
    r->n_kept = r->n_pool = 0;
    for (int i = 0; i < cat->n; i++) {
        const sl_source *s = &cat->src[i];
        /* An estimate's row that its cascade did not measure (no flux) has
         * no light to draw; a lens system without lens parameters has no arc. */
        if (!finite_all(s->flux, sc->n_bands) ||
            !(fabs(s->x) <= SL_MAX_POSITION && fabs(s->y) <= SL_MAX_POSITION) ||
            (s->galaxy && !shape_finite(&s->shape)))
            continue;
        sl_stamp_src src = {.x = s->x, .y = s->y};
        if (s->galaxy)
            shape_comps(sc, &s->shape, &src);
        src.sb_floor = sb_floor(sc, s->flux) / max_flux(sc, s->flux);
        if (add_source(r, i, 0, &src, s->flux, NULL, 0, NULL, out, err) < 0)
            return sl_err_prefix(err, "source %d", i);
        if (!s->galaxy || !s->lens || !finite_all(s->src_flux, sc->n_bands) ||
            !isfinite(s->theta_e) || !isfinite(s->e1) || !isfinite(s->e2) ||
            !isfinite(s->src_dx) || !isfinite(s->src_dy) || !shape_finite(&s->src_shape))
            continue;
        int box[3], ss = 1;
        if (lensed_fine(r, s, box, &ss, err) < 0 ||
            add_source(r, i, 1, NULL, s->src_flux, r->fine, ss, box, out, err) < 0)
            return sl_err_prefix(err, "source %d (lensed)", i);
    }
    for (int b = 0; b < sc->n_bands; b++) {
        float *band = out + b * plane, sky = (float)sc->sky[b];
        /* The FFT leaves rounding noise of either sign where there is no light. */
        for (size_t p = 0; p < plane; p++)
            band[p] = (band[p] > 0 ? band[p] : 0) + sky;
    }
    return 0;
}

void sl_render_metrics(const sl_renderer *r, const float *expected, sl_catalog *cat)
{
    const sl_scene *sc = r->scene;
    int w = sc->width, h = sc->height;
    size_t plane = (size_t)w * h;
    for (int i = 0; i < cat->n; i++) {
        sl_source *s = &cat->src[i];
        s->snr = 0;
        s->arc_snr = s->lens ? 0 : NAN;
        for (int b = 0; b < SL_MAX_BANDS; b++)
            s->arc_flux[b] = s->lens && b < sc->n_bands ? 0 : NAN;
    }
    for (size_t e = 0; e < r->n_kept; e++) {
        const kept *k = &r->kept[e];
        const float *img = expected + k->band * plane, *pix = r->pool + k->off;
        double s2 = 0, f = 0;
        for (int v = 0; v < k->n; v++) {
            int y = k->y0 + v;
            for (int u = 0; y >= 0 && y < h && u < k->n; u++) {
                int x = k->x0 + u;
                if (x < 0 || x >= w)
                    continue;
                double lam = k->scale * pix[v * k->n + u], var = img[(size_t)y * w + x];
                f += lam;
                if (var > 0)
                    s2 += lam * lam / var;
            }
        }
        sl_source *s = &cat->src[k->src];
        if (k->kind == 0)
            s->snr += s2;
        else {
            s->arc_snr += s2;
            s->arc_flux[k->band] += f;
        }
    }
    for (int i = 0; i < cat->n; i++) {
        sl_source *s = &cat->src[i];
        s->snr = sqrt(s->snr);
        s->arc_snr = sqrt(s->arc_snr);
    }
}

void sl_render_noise(const sl_scene *s, float *img, uint64_t seed, uint64_t index)
{
    /* Read noise has its own stream, so turning it on leaves the Poisson draws as they were. */
    sl_rng r, rr;
    sl_rng_init(&r, seed, index, SL_RNG_NOISE);
    sl_rng_init(&rr, seed, index, SL_RNG_READ_NOISE);
    size_t plane = (size_t)s->width * s->height;
    for (int b = 0; b < s->n_bands; b++) {
        float *band = img + b * plane;
        double rn = s->add_read_noise ? s->read_noise[b] : 0;
        for (size_t p = 0; p < plane; p++) {
            double v = (double)sl_rng_poisson(&r, band[p]);
            if (rn > 0)
                v += rn * sl_rng_normal(&rr);
            band[p] = (float)v;
        }
    }
}
