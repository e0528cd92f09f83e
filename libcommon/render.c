#include "render.h"

#include "image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convolve.h"
#include "galaxy.h"
#include "lens.h"
#include "prior.h"
#include "rng.h"

const sl_config_key sl_render_keys[] = {
    {"psf_model", SL_CFG_STR, "gaussian", 0, 0, 0,
     "gaussian | moffat (psf_fwhm, psf_beta) | sdss (psField file) | pixel (FITS image) [gaussian]"},
    {"psf_beta", SL_CFG_NUM, "4.765", 1.01, 100, 0,
     "Moffat beta [4.765: Trujillo et al. 2001 fit to atmospheric turbulence]"},
    {"psf_file", SL_CFG_STR, "", 0, 0, 0,
     "psField file (psf_model = sdss) or PSF image, FITS (psf_model = pixel) []"},
    {"psf_size", SL_CFG_INT, "0", 0, 63, 0,
     "PSF stamp side, pixels, odd, at most 63; 0 chooses one holding 99.9% of the flux [0]"},
    {"supersample", SL_CFG_INT, "3", 1, 15, 0,
     "sub-pixels per pixel side when ray shooting lensed light [3: the issue's reference]"},
    {"add_read_noise", SL_CFG_BOOL, "false", 0, 0, 0,
     "add Gaussian read noise of read_noise electrons to the Poisson draw [false]"},
};
const size_t sl_n_render_keys = sizeof sl_render_keys / sizeof *sl_render_keys;

#define PSF_MAX_SIZE 63

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
    msgpack_pack_array(pk, n_bands);
    for (int b = 0; b < n_bands; b++) {
        const sl_psf *p = &psf[b];
        switch (p->kind) {
        case SL_PSF_GAUSSIAN:
            msgpack_pack_map(pk, 2);
            sl_pack_kv_str(pk, "model", "gaussian");
            sl_pack_kv_num(pk, "fwhm", p->fwhm * pixel_scale);
            break;
        case SL_PSF_MOFFAT:
            msgpack_pack_map(pk, 3);
            sl_pack_kv_str(pk, "model", "moffat");
            sl_pack_kv_num(pk, "fwhm", p->fwhm * pixel_scale);
            sl_pack_kv_num(pk, "beta", p->beta);
            break;
        case SL_PSF_SDSS:
            msgpack_pack_map(pk, 7);
            sl_pack_kv_str(pk, "model", "sdss");
            sl_pack_kv_num(pk, "sigma1", p->sigma1);
            sl_pack_kv_num(pk, "sigma2", p->sigma2);
            sl_pack_kv_num(pk, "sigmap", p->sigmap);
            sl_pack_kv_num(pk, "beta", p->beta);
            sl_pack_kv_num(pk, "b", p->b);
            sl_pack_kv_num(pk, "p0", p->p0);
            break;
        case SL_PSF_PIXEL:
            msgpack_pack_map(pk, 3);
            sl_pack_kv_str(pk, "model", "pixel");
            sl_pack_kv_int(pk, "size", p->pw);
            sl_pack_kv_f32(pk, "pixels", p->pix, (size_t)p->pw * p->ph);
            break;
        }
    }
}

void sl_scene_pack_psf(msgpack_packer *pk, const sl_scene *s)
{
    sl_psf_pack(pk, s->psf, s->n_bands, s->pixel_scale);
}

struct sl_renderer {
    const sl_scene *scene;
    sl_conv *conv[SL_MAX_BANDS];
    int psf_size[SL_MAX_BANDS];
    float *light;   /* one band's unit-flux light before the PSF, w x h */
    float *stamp;   /* a star's PSF stamp */
};

void sl_renderer_free(sl_renderer *r)
{
    if (!r)
        return;
    for (int b = 0; b < SL_MAX_BANDS; b++)
        sl_conv_free(r->conv[b]);
    free(r->light);
    free(r->stamp);
    free(r);
}

/* The kernel that convolves pixel-integrated galaxy light: the PSF sampled at
 * pixel centres, not integrated over pixels, or the pixel would blur the light
 * twice.  A pixel PSF is an image already integrated over its pixels: it is
 * used as it is (and blurs by the pixel once more, as such PSFs do). */
static int galaxy_kernel(const sl_psf *p, int size, float *kernel, sl_err *err)
{
    if (p->kind == SL_PSF_PIXEL)
        return sl_psf_render(p, size, 0, 0, kernel, NULL, err);
    double sum = 0;
    int half = size / 2;
    for (int v = 0; v < size; v++)
        for (int u = 0; u < size; u++)
            sum += kernel[v * size + u] = (float)sl_psf_profile(p, hypot(u - half, v - half));
    if (!(sum > 0))
        return sl_err_set(err, "the PSF is zero at every pixel centre of its %d x %d stamp", size, size);
    for (int i = 0; i < size * size; i++)
        kernel[i] = (float)(kernel[i] / sum);
    return 0;
}

sl_renderer *sl_renderer_new(const sl_scene *s, sl_err *err)
{
    sl_renderer *r = calloc(1, sizeof *r);
    size_t plane = (size_t)s->width * s->height;
    if (!r || !(r->light = malloc(plane * sizeof *r->light)) ||
        !(r->stamp = malloc(PSF_MAX_SIZE * PSF_MAX_SIZE * sizeof *r->stamp))) {
        sl_renderer_free(r);
        sl_err_set(err, "out of memory for a %d x %d renderer", s->width, s->height);
        return NULL;
    }
    r->scene = s;
    for (int b = 0; b < s->n_bands; b++) {
        int size = r->psf_size[b] =
            s->psf_size ? s->psf_size : sl_psf_auto_size(&s->psf[b], 0.999, PSF_MAX_SIZE);
        if (galaxy_kernel(&s->psf[b], size, r->stamp, err) < 0 ||
            !(r->conv[b] = sl_conv_new(s->width, s->height, r->stamp, size, err))) {
            sl_err_prefix(err, "band %s PSF", s->bands[b]);
            sl_renderer_free(r);
            return NULL;
        }
    }
    return r;
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

/* The lensed light of a lens system's background galaxy, at unit flux: the
 * SIE sits on the deflector, the source at the drawn offset from it. */
static int render_lensed(const sl_scene *sc, const sl_source *s, float *out, sl_err *err)
{
    sl_lens lens = {s->x, s->y, s->theta_e / sc->pixel_scale, s->e1, s->e2, s->shear_g1, s->shear_g2};
    sl_galaxy src = galaxy_of(&s->src_shape, s->x + s->src_dx, s->y + s->src_dy, sc->pixel_scale);
    if (sl_lens_check(&lens, err) < 0)
        return -1;
    return sl_lens_render(&lens, &src, sc->supersample, out, sc->width, sc->height, err);
}

/* out += k * in over the whole plane. */
static void add_scaled(float *out, const float *in, size_t n, double k)
{
    float kf = (float)k;
    for (size_t i = 0; i < n; i++)
        out[i] += kf * in[i];
}

/* Adds a star's PSF stamp, flux times the PSF centred at (x, y). */
static int add_star(sl_renderer *r, int b, const sl_source *s, float *band, sl_err *err)
{
    const sl_scene *sc = r->scene;
    int size = r->psf_size[b], half = size / 2;
    int cx = (int)floor(s->x), cy = (int)floor(s->y);
    if (sl_psf_render(&sc->psf[b], size, s->x - cx - 0.5, s->y - cy - 0.5, r->stamp, NULL, err) < 0)
        return -1;
    float f = (float)s->flux[b];
    for (int v = 0; v < size; v++) {
        int y = cy - half + v;
        if (y < 0 || y >= sc->height)
            continue;
        for (int u = 0; u < size; u++) {
            int x = cx - half + u;
            if (x >= 0 && x < sc->width)
                band[(size_t)y * sc->width + x] += f * r->stamp[v * size + u];
        }
    }
    return 0;
}

/* The galaxy light of one band before the PSF: each galaxy (and lensed
 * source) is drawn once at unit flux into `light` and added scaled, so
 * multi-band images cost one drawing per source, not one per band. */
static int render_band_light(sl_renderer *r, const sl_catalog *cat, float *out, sl_err *err)
{
    const sl_scene *sc = r->scene;
    size_t plane = (size_t)sc->width * sc->height;
    for (int i = 0; i < cat->n; i++) {
        const sl_source *s = &cat->src[i];
        if (!s->galaxy)
            continue;
        memset(r->light, 0, plane * sizeof *r->light);
        sl_galaxy g = galaxy_of(&s->shape, s->x, s->y, sc->pixel_scale);
        if (sl_galaxy_render(&g, r->light, sc->width, sc->height, err) < 0)
            return sl_err_prefix(err, "source %d", i);
        for (int b = 0; b < sc->n_bands; b++)
            add_scaled(out + b * plane, r->light, plane, s->flux[b]);
        if (!s->lens)
            continue;
        memset(r->light, 0, plane * sizeof *r->light);
        if (render_lensed(sc, s, r->light, err) < 0)
            return sl_err_prefix(err, "source %d (lensed)", i);
        for (int b = 0; b < sc->n_bands; b++)
            add_scaled(out + b * plane, r->light, plane, s->src_flux[b]);
    }
    return 0;
}

int sl_render_expected(sl_renderer *r, const sl_catalog *cat, float *out, sl_err *err)
{
    const sl_scene *sc = r->scene;
    size_t plane = (size_t)sc->width * sc->height;
    memset(out, 0, plane * sc->n_bands * sizeof *out);
    if (render_band_light(r, cat, out, err) < 0)
        return -1;
    for (int b = 0; b < sc->n_bands; b++) {
        float *band = out + b * plane;
        sl_conv_apply(r->conv[b], band);
        for (int i = 0; i < cat->n; i++)
            if (!cat->src[i].galaxy && add_star(r, b, &cat->src[i], band, err) < 0)
                return sl_err_prefix(err, "source %d", i);
        /* The FFT leaves rounding noise of either sign where there is no light. */
        float sky = (float)sc->sky[b];
        for (size_t p = 0; p < plane; p++)
            band[p] = (band[p] > 0 ? band[p] : 0) + sky;
    }
    return 0;
}

void sl_render_noise(const sl_scene *s, float *img, uint64_t seed, uint64_t index)
{
    /* Read noise has its own stream, so turning it on leaves the Poisson draws as they were. */
    sl_rng r, rr;
    sl_rng_init(&r, seed, index, SL_STREAM_NOISE);
    sl_rng_init(&rr, seed, index, SL_STREAM_READ_NOISE);
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
