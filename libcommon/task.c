#include "task.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tile.h"

static const char *const task_names[SL_N_TASKS] = {"detect", "classify", "galaxy", "lens-detect",
                                                   "lens"};

const char *sl_task_name(sl_task_kind kind)
{
    return kind < SL_N_TASKS ? task_names[kind] : "unknown";
}

int sl_task_parse(const char *name, sl_task_kind *kind)
{
    for (int k = 0; k < SL_N_TASKS; k++)
        if (strcmp(name, task_names[k]) == 0) {
            *kind = (sl_task_kind)k;
            return 0;
        }
    return -1;
}

static void add_factor(sl_task *t, const char *name, sl_family fam)
{
    sl_factor *f = &t->factor[t->n_factors++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->fam = fam;
    f->out = t->n_outputs;
    f->target = t->n_targets;
    t->n_outputs += sl_family_n_outputs(&fam);
    t->n_targets += fam.dim;
}

/* The bulge+disk parameters of a galaxy, under a name prefix ("" or "src_"). */
static void add_galaxy_factors(sl_task *t, const char *prefix)
{
    char name[32];
    for (int b = 0; b < t->n_bands; b++) {
        snprintf(name, sizeof name, "%sflux[%d]", prefix, b);
        add_factor(t, name, sl_family_lognormal());
    }
    static const char *const unit_interval[] = {"disk_frac", "disk_q", "bulge_q"};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, unit_interval[i]);
        add_factor(t, name, sl_family_logitnormal(0, 1));
    }
    snprintf(name, sizeof name, "%sangle", prefix);
    add_factor(t, name, sl_family_logitnormal(0, M_PI));
    snprintf(name, sizeof name, "%sdisk_a", prefix);
    add_factor(t, name, sl_family_lognormal());
    snprintf(name, sizeof name, "%sbulge_a", prefix);
    add_factor(t, name, sl_family_lognormal());
}

int sl_task_windowed(const sl_task *t)
{
    return t->kind == SL_TASK_DETECT || t->kind == SL_TASK_LENS_DETECT;
}

void sl_task_default_geometry(sl_task_kind kind, int *tile, int *border, int *patch_tiles,
                              int *cutout)
{
    /* lens-detect: 8-pixel tiles, and a border of 40 so that a window holds
     * the prior's largest ring (theta_E 30 px) around any tile; lens: a
     * cut-out of 64, which holds that ring at full resolution (a 96-pixel
     * cut-out halved by a strided first layer learned more slowly: sl-train(1)). */
    *tile = kind == SL_TASK_LENS_DETECT ? 8 : 4;
    *border = kind == SL_TASK_LENS_DETECT ? 40 : 8;
    *patch_tiles = 8;
    *cutout = kind == SL_TASK_LENS ? 64 : 48;
}

int sl_task_make(sl_task *t, sl_task_kind kind, int n_bands, int ref_band, int tile, int border,
                 int patch_tiles, int cutout, sl_err *err)
{
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->n_bands = n_bands;
    t->ref_band = ref_band;
    t->tile = tile;
    t->border = border;
    t->patch_tiles = patch_tiles;
    t->cutout = cutout;
    if (n_bands < 1 || n_bands > SL_MAX_BANDS || ref_band < 0 || ref_band >= n_bands)
        return sl_err_set(err, "%d bands (reference band %d): out of range", n_bands, ref_band);
    char name[32];
    switch (kind) {
    case SL_TASK_DETECT:
    case SL_TASK_LENS_DETECT:
        if (tile != 1 && tile != 2 && tile != 4 && tile != 8)
            return sl_err_set(err, "tile size %d: the %s net needs 1, 2, 4 or 8", tile,
                              sl_task_name(kind));
        if (kind == SL_TASK_LENS_DETECT && tile == 1)
            return sl_err_set(err, "tile size 1: the lens-detect net strides its first layer");
        if (border < 0 || border % tile != 0)
            return sl_err_set(err, "border %d: must be a multiple of the tile size %d", border, tile);
        if (patch_tiles < 1 || patch_tiles > 256)
            return sl_err_set(err, "patch of %d tiles: out of range [1, 256]", patch_tiles);
        if (kind == SL_TASK_LENS_DETECT) {
            /* Per tile: a lens system's deflector centre lies in it, and where. */
            add_factor(t, "lens", sl_family_bernoulli());
            add_factor(t, "lens_u", sl_family_logitnormal(0, 1));
            add_factor(t, "lens_v", sl_family_logitnormal(0, 1));
            return 0;
        }
        add_factor(t, "on", sl_family_bernoulli());
        add_factor(t, "u", sl_family_logitnormal(0, 1));
        add_factor(t, "v", sl_family_logitnormal(0, 1));
        for (int b = 0; b < n_bands; b++) {
            snprintf(name, sizeof name, "star_flux[%d]", b);
            add_factor(t, name, sl_family_lognormal());
        }
        return 0;
    case SL_TASK_CLASSIFY:
    case SL_TASK_GALAXY:
    case SL_TASK_LENS:
        if (cutout < 8 || cutout > 512)
            return sl_err_set(err, "cut-out side %d: out of range [8, 512]", cutout);
        break;
    default:
        return sl_err_set(err, "unknown task %d", (int)kind);
    }
    if (kind == SL_TASK_CLASSIFY)
        add_factor(t, "galaxy", sl_family_bernoulli());
    else if (kind == SL_TASK_GALAXY)
        add_galaxy_factors(t, "");
    else {
        /* theta_E and ellipticity are correlated in the posterior: one joint factor. */
        sl_transform tr[5] = {{SL_TR_LOG, 0, 0}, {SL_TR_LOGIT, -1, 1}, {SL_TR_LOGIT, -1, 1},
                              {SL_TR_IDENTITY, 0, 0}, {SL_TR_IDENTITY, 0, 0}};
        sl_family mvn;
        if (sl_family_mvn(&mvn, 5, tr, err) < 0)
            return -1;
        add_factor(t, "lens", mvn);
        add_galaxy_factors(t, "src_");
    }
    return 0;
}

int sl_task_side(const sl_task *t)
{
    return sl_task_windowed(t) ? t->patch_tiles * t->tile + 2 * t->border : t->cutout;
}

size_t sl_task_input_size(const sl_task *t)
{
    size_t side = (size_t)sl_task_side(t);
    return side * side * (size_t)t->n_bands;
}

int sl_task_out_grid(const sl_task *t)
{
    return sl_task_windowed(t) ? sl_task_side(t) / t->tile : 1;
}

int sl_samples_cells(const sl_task *t)
{
    return sl_task_windowed(t) ? t->patch_tiles * t->patch_tiles : 1;
}

/* ---- Architectures ------------------------------------------------------ */

static int conv_bn_silu(sl_nn *net, int in, int cout, int k, int stride)
{
    int c = sl_nn_conv(net, in, cout, k, stride, k / 2, 1);
    return c < 0 ? -1 : sl_nn_silu(net, sl_nn_batchnorm(net, c));
}

/* The lens finder: fully convolutional like detect, but strided from its
 * first layer (arcs are wider than the PSF) and deep enough at the tile
 * stride that every tile's receptive field spans its whole context border,
 * so that a ring of the prior's largest Einstein radius is seen in full from
 * the tile that holds its centre. */
static int lens_finder(sl_nn *net, const sl_task *t, int w)
{
    /* field: the receptive field so far; jump: the stride of the layer's input. */
    int x = conv_bn_silu(net, 0, w, 3, 2), field = 3, jump = 2;
    x = conv_bn_silu(net, x, w, 3, 1);
    field += 2 * jump;
    for (; jump < t->tile; jump *= 2) {
        x = conv_bn_silu(net, x, w *= 2, 3, 2);
        field += 2 * jump;
    }
    while (field < 2 * t->border + t->tile) {
        x = conv_bn_silu(net, x, w, 3, 1);
        field += 2 * jump;
    }
    return sl_nn_conv(net, x, t->n_outputs, 1, 1, 0, 1);
}

sl_nn *sl_task_default_net(const sl_task *t, int width, sl_err *err)
{
    int side = sl_task_side(t);
    sl_nn *net = sl_nn_new(t->n_bands, side, side);
    if (!net) {
        sl_err_set(err, "out of memory for a network");
        return NULL;
    }
    int x = 0, w = width;
    if (t->kind == SL_TASK_DETECT) {
        /* Fully convolutional, total stride T: one output cell per tile. */
        x = conv_bn_silu(net, x, w, 3, 1);
        x = conv_bn_silu(net, x, w, 3, 1);
        for (int s = 1; s < t->tile; s *= 2)
            x = conv_bn_silu(net, x, 2 * w, 3, 2);
        x = conv_bn_silu(net, x, 2 * w, 3, 1);
        x = sl_nn_conv(net, x, t->n_outputs, 1, 1, 0, 1);
    } else if (t->kind == SL_TASK_LENS_DETECT) {
        x = lens_finder(net, t, w);
    } else {
        /* Cut-outs wider than 64 pixels are halved by a strided first layer:
         * the lens cut-out holds a whole ring at the cost of a 48-pixel one
         * (arcs are wider than the PSF, so little is lost). */
        for (int s = side; s > 64 && x >= 0; s /= 2)
            x = conv_bn_silu(net, x, w / 2, 3, 2);
        /* Three stages of two 3x3 convolutions, pooled, then two dense layers. */
        for (int stage = 0; stage < 3; stage++, w *= 2) {
            x = conv_bn_silu(net, x, w, 3, 1);
            x = conv_bn_silu(net, x, w, 3, 1);
            x = sl_nn_maxpool(net, x, 2, 2);
        }
        x = sl_nn_flatten(net, x);
        x = sl_nn_silu(net, sl_nn_dense(net, x, 256));
        x = sl_nn_dense(net, x, t->n_outputs);
    }
    if (x < 0) {
        sl_nn_free(net);
        sl_err_set(err, "cannot build the %s network for %d x %d inputs", sl_task_name(t->kind),
                   side, side);
        return NULL;
    }
    return net;
}

/* ---- Samples ------------------------------------------------------------- */

void sl_samples_free(sl_samples *s)
{
    free(s->x);
    free(s->y);
    free(s->mask);
    memset(s, 0, sizeof *s);
}

static int samples_grow(const sl_task *t, sl_samples *s, int more, sl_err *err)
{
    if (s->n + more <= s->cap)
        return 0;
    int cap = s->cap ? s->cap : 16;
    while (cap < s->n + more)
        cap *= 2;
    size_t cells = (size_t)sl_samples_cells(t);
    float *x = realloc(s->x, (size_t)cap * sl_task_input_size(t) * sizeof *x);
    if (x)
        s->x = x;
    double *y = realloc(s->y, (size_t)cap * cells * t->n_targets * sizeof *y);
    if (y)
        s->y = y;
    unsigned char *m = realloc(s->mask, (size_t)cap * cells * t->n_factors);
    if (m)
        s->mask = m;
    if (!x || !y || !m)
        return sl_err_set(err, "out of memory for %d training samples", cap);
    s->cap = cap;
    return 0;
}

/* The galaxy targets of a shape and per-band fluxes, from target index k on. */
static int galaxy_targets(const double *flux, const sl_shape *sh, int n_bands, double *y)
{
    int k = 0;
    for (int b = 0; b < n_bands; b++)
        y[k++] = flux[b];
    y[k++] = sh->disk_frac;
    y[k++] = sh->disk_q;
    y[k++] = sh->bulge_q;
    /* A bulge+disk profile looks the same turned by pi. */
    y[k++] = fmod(sh->angle, M_PI) < 0 ? fmod(sh->angle, M_PI) + M_PI : fmod(sh->angle, M_PI);
    y[k++] = sh->disk_a;
    y[k++] = sh->bulge_a;
    return k;
}

/* Checks and clamps one sample's targets for every trained factor. */
static int check_targets(const sl_task *t, double *y, const unsigned char *mask, int id,
                         sl_err *err)
{
    for (int f = 0; f < t->n_factors; f++) {
        if (!mask[f])
            continue;
        const sl_factor *fa = &t->factor[f];
        if (sl_family_clamp_target(&fa->fam, y + fa->target, err) < 0)
            return sl_err_prefix(err, "image %d: truth for factor '%s'", id, fa->name);
    }
    return 0;
}

float *sl_task_normalize_image(const sl_image *img, long *n_nan, sl_err *err)
{
    size_t plane = (size_t)img->width * img->height, n = plane * img->n_bands;
    float *norm = malloc(n * sizeof *norm);
    if (!norm) {
        sl_err_set(err, "out of memory");
        return NULL;
    }
    if (n_nan)
        *n_nan = 0;
    for (size_t i = 0; i < n; i++) {
        size_t p = i % plane;
        int x = (int)(p % img->width), y = (int)(p / img->width);
        /* A patch's border beyond its parent's edge is no data: the background. */
        int px = img->x0 + x, py = img->y0 + y;
        if (img->is_patch &&
            (px < 0 || py < 0 || px >= img->parent_width || py >= img->parent_height)) {
            norm[i] = 0;
            continue;
        }
        if (isnan(img->pixels[i])) {
            if (n_nan) {
                ++*n_nan;
                norm[i] = 0;
                continue;
            }
            sl_err_set(err, "image %lld: band %s: pixel (%d, %d) is NaN: training needs every "
                            "pixel", (long long)img->id, img->bands[i / plane], x, y);
            free(norm);
            return NULL;
        }
        double bg = img->background_map ? img->background_map[i] : img->background[i / plane];
        bg = bg > 1 ? bg : 1;
        norm[i] = asinhf((float)((img->pixels[i] - bg) / sqrt(bg)));
    }
    return norm;
}

/* The sources a windowed task detects: every source for detect, the lens
 * systems (their deflector centres) for lens-detect.  *own is set when the
 * result is not truth, it is *lenses, which the caller frees. */
static const sl_catalog *window_truth(const sl_task *t, const sl_catalog *truth,
                                      sl_catalog *lenses, sl_err *err)
{
    if (t->kind == SL_TASK_DETECT)
        return truth;
    sl_catalog_init(lenses, truth->n_bands);
    for (int i = 0; i < truth->n; i++) {
        if (!truth->src[i].lens)
            continue;
        sl_source *s = sl_catalog_add(lenses);
        if (!s) {
            sl_catalog_free(lenses);
            sl_err_set(err, "out of memory");
            return NULL;
        }
        *s = truth->src[i];
    }
    return lenses;
}

/* Windows of P x P tiles from the top-left corner on, the last row and
 * column shifted back inside so that every tile is trained on.  Targets per
 * tile: present, location in the tile, and (detect) star fluxes. */
static int extract_windows(const sl_task *t, const sl_image *img, const sl_catalog *truth,
                           const float *norm, sl_samples *s, sl_err *err)
{
    sl_catalog lenses;
    const sl_catalog *cat = window_truth(t, truth, &lenses, err);
    sl_tiling tl = sl_tiling_make(img->width, img->height, t->tile, t->border, 1);
    sl_tile_truth *tt = cat ? malloc((size_t)tl.nx * tl.ny * sizeof *tt) : NULL;
    if (!tt) {
        if (cat && cat != truth)
            sl_catalog_free(&lenses);
        return cat ? sl_err_set(err, "out of memory") : -1;
    }
    sl_tile_truth_fill(&tl, cat, t->ref_band, tt);
    int P = t->patch_tiles, side = sl_task_side(t), cells = P * P, n_flux = t->n_factors - 3;
    int nx = (tl.nx + P - 1) / P, ny = (tl.ny + P - 1) / P, rc = 0;
    for (int pj = 0; pj < ny && rc == 0; pj++)
        for (int pi = 0; pi < nx && rc == 0; pi++) {
            int ti = pi * P + P > tl.nx && tl.nx >= P ? tl.nx - P : pi * P;
            int tj = pj * P + P > tl.ny && tl.ny >= P ? tl.ny - P : pj * P;
            if ((rc = samples_grow(t, s, 1, err)) < 0)
                break;
            float *x = s->x + (size_t)s->n * sl_task_input_size(t);
            sl_window(norm, img->width, img->height, t->n_bands, ti * t->tile - t->border,
                      tj * t->tile - t->border, side, 0, x);
            double *y = s->y + (size_t)s->n * cells * t->n_targets;
            unsigned char *m = s->mask + (size_t)s->n * cells * t->n_factors;
            for (int c = 0; c < cells; c++) {
                int i = ti + c % P, j = tj + c / P;
                double *yc = y + (size_t)c * t->n_targets;
                unsigned char *mc = m + (size_t)c * t->n_factors;
                const sl_tile_truth *cell =
                    i < tl.nx && j < tl.ny ? &tt[(size_t)j * tl.nx + i] : NULL;
                int on = cell && cell->n > 0;
                const sl_source *src = on ? &cat->src[cell->index[0]] : NULL;
                yc[0] = on;
                yc[1] = on ? cell->u[0] : 0.5;
                yc[2] = on ? cell->v[0] : 0.5;
                for (int b = 0; b < n_flux; b++)
                    yc[3 + b] = on ? src->flux[b] : 1;
                /* A tile outside the image (a patch reaching past its edge) trains nothing. */
                mc[0] = cell != NULL;
                mc[1] = mc[2] = on;
                for (int b = 0; b < n_flux; b++)
                    mc[3 + b] = on && !src->galaxy;
                if ((rc = check_targets(t, yc, mc, (int)img->id, err)) < 0)
                    break;
            }
            s->n++;
        }
    free(tt);
    if (cat != truth)
        sl_catalog_free(&lenses);
    return rc;
}

static int extract_cutouts(const sl_task *t, const sl_image *img, const sl_catalog *truth,
                           const float *norm, sl_samples *s, sl_err *err)
{
    for (int i = 0; i < truth->n; i++) {
        const sl_source *src = &truth->src[i];
        if (!(src->x >= 0 && src->x < img->width && src->y >= 0 && src->y < img->height))
            continue;
        if (t->kind == SL_TASK_GALAXY && !src->galaxy)
            continue;
        if (t->kind == SL_TASK_LENS && !src->lens)
            continue;
        if (samples_grow(t, s, 1, err) < 0)
            return -1;
        sl_cutout(norm, img->width, img->height, t->n_bands, src->x, src->y, t->cutout, 0,
                  s->x + (size_t)s->n * sl_task_input_size(t));
        double *y = s->y + (size_t)s->n * t->n_targets;
        unsigned char *m = s->mask + (size_t)s->n * t->n_factors;
        memset(m, 1, (size_t)t->n_factors);
        switch (t->kind) {
        case SL_TASK_CLASSIFY: y[0] = src->galaxy; break;
        case SL_TASK_GALAXY: galaxy_targets(src->flux, &src->shape, t->n_bands, y); break;
        default:
            y[0] = src->theta_e, y[1] = src->e1, y[2] = src->e2;
            y[3] = src->src_dx, y[4] = src->src_dy;
            galaxy_targets(src->src_flux, &src->src_shape, t->n_bands, y + 5);
        }
        if (check_targets(t, y, m, (int)img->id, err) < 0)
            return -1;
        s->n++;
    }
    return 0;
}

int sl_task_extract(const sl_task *t, const sl_image *img, const sl_catalog *truth,
                    sl_samples *s, sl_err *err)
{
    if (img->n_bands != t->n_bands)
        return sl_err_set(err, "image %lld has %d bands, the task %d", (long long)img->id,
                          img->n_bands, t->n_bands);
    float *norm = sl_task_normalize_image(img, NULL, err);
    if (!norm)
        return -1;
    int rc = sl_task_windowed(t) ? extract_windows(t, img, truth, norm, s, err)
                                 : extract_cutouts(t, img, truth, norm, s, err);
    free(norm);
    return rc;
}

/* ---- Loss ---------------------------------------------------------------- */

double sl_task_loss(const sl_task *t, const float *out, const double *y,
                    const unsigned char *mask, int batch, float *grad, long *count)
{
    int grid = sl_task_out_grid(t), g2 = grid * grid, P = sl_samples_cells(t) == 1 ? 1 : t->patch_tiles;
    int off = sl_task_windowed(t) ? t->border / t->tile : 0;
    int cells = P * P;
    long terms = 0;
    for (size_t i = 0; i < (size_t)batch * cells * t->n_factors; i++)
        terms += mask[i];
    *count = terms;
    if (grad)
        memset(grad, 0, (size_t)batch * t->n_outputs * g2 * sizeof *grad);
    double total = 0;
    float raw[SL_FAMILY_MAX_OUTPUTS], g[SL_FAMILY_MAX_OUTPUTS];
    for (int n = 0; n < batch; n++)
        for (int c = 0; c < cells; c++) {
            /* The output cell of tile c: outputs sit [n][channel][gy][gx]. */
            int cell = (off + c / P) * grid + off + c % P;
            const double *yc = y + ((size_t)n * cells + c) * t->n_targets;
            const unsigned char *mc = mask + ((size_t)n * cells + c) * t->n_factors;
            for (int f = 0; f < t->n_factors; f++) {
                if (!mc[f])
                    continue;
                const sl_factor *fa = &t->factor[f];
                int no = sl_family_n_outputs(&fa->fam);
                size_t base = (size_t)n * t->n_outputs * g2 + cell;
                for (int k = 0; k < no; k++)
                    raw[k] = out[base + (size_t)(fa->out + k) * g2];
                total -= sl_family_logpdf(&fa->fam, raw, yc + fa->target, grad ? g : NULL);
                if (grad)
                    for (int k = 0; k < no; k++)
                        grad[base + (size_t)(fa->out + k) * g2] = -g[k] / (float)terms;
            }
        }
    return total;
}
