/* task.h: the five encoders of seed 000 (DESIGN.md "Inference"), each a
 * factor of the variational posterior: what it sees, what it predicts, and
 * the loss -log q(true latents | image) it is trained on.
 *
 *   detect       a patch of P x P tiles plus a context border, through a fully
 *                convolutional net of total stride T: per tile P(source),
 *                location within the tile (logit-normal on (0,1) each axis),
 *                star flux per band (log-normal, on star tiles only)
 *   classify     a cut-out centred on a source: P(galaxy)
 *   galaxy       a cut-out centred on a galaxy: flux per band (log-normal),
 *                disk fraction, axis ratios (logit-normal on (0,1)), angle
 *                (logit-normal on (0, pi)), half-light radii (log-normal)
 *   lens-detect  the lens finder: a fully convolutional net over windows of
 *                P x P tiles (8 pixels) and a 40-pixel context border, whose
 *                receptive field holds the prior's largest ring: per tile
 *                P(a lens system's deflector centre lies in it) and where
 *                (logit-normal on (0,1) each axis); it needs no detected
 *                deflector, the arcs suffice
 *   lens         a cut-out (64 pixels: the largest ring) centred on a lens
 *                system: (theta_E, e1, e2, src_dx,
 *                src_dy) jointly, a Gaussian with full covariance in
 *                transformed space (log, logit(-1,1) twice, identity twice), and
 *                the lensed source's galaxy parameters as for `galaxy`
 *
 * Each factor is conditioned on the true values of the factors above it:
 * cut-outs are centred on true positions, the galaxy factors are trained on
 * true galaxies only, the lens factor on true lens systems only; the lens
 * finder's tiles hold true lens systems' deflector centres.
 *
 * Pixels are normalized before they reach a network: asinh((x - bg)/sqrt(bg))
 * with bg the background of the pixel's band (the noise of an empty pixel is
 * then about 1, and bright sources are compressed logarithmically). */
#ifndef SL_TASK_H
#define SL_TASK_H

#include "catalog.h"
#include "family.h"
#include "image.h"
#include "nn.h"

typedef enum {
    SL_TASK_DETECT,
    SL_TASK_CLASSIFY,
    SL_TASK_GALAXY,
    SL_TASK_LENS_DETECT,
    SL_TASK_LENS,
    SL_N_TASKS
} sl_task_kind;

#define SL_TASK_MAX_FACTORS 40

/* One latent (or a joint block of latents) and its family. */
typedef struct sl_factor {
    char name[32];
    sl_family fam;
    int out;    /* index of its first raw output */
    int target; /* index of its first target value */
} sl_factor;

typedef struct sl_task {
    sl_task_kind kind;
    int n_bands, ref_band;
    int tile, border, patch_tiles; /* detect */
    int cutout;                    /* the others */
    int n_factors;
    sl_factor factor[SL_TASK_MAX_FACTORS];
    int n_outputs; /* raw outputs per tile (detect) or per cut-out */
    int n_targets; /* target values likewise */
} sl_task;

const char *sl_task_name(sl_task_kind kind);
/* Whether the task runs on windows of tiles (detect, lens-detect) rather than
 * on source-centred cut-outs. */
int sl_task_windowed(const sl_task *t);
/* The default tile, border, patch and cut-out sides of a task, pixels. */
void sl_task_default_geometry(sl_task_kind kind, int *tile, int *border, int *patch_tiles,
                              int *cutout);
int sl_task_parse(const char *name, sl_task_kind *kind);

/* The factors of a task for images of n_bands bands.  tile/border/patch_tiles
 * matter for the windowed tasks, cutout for the others. */
int sl_task_make(sl_task *t, sl_task_kind kind, int n_bands, int ref_band, int tile,
                 int border, int patch_tiles, int cutout, sl_err *err);

/* Side of an input sample in pixels, and floats per sample. */
int sl_task_side(const sl_task *t);
size_t sl_task_input_size(const sl_task *t);
/* Cells of the output map per sample (detect: the net's output grid, of
 * which the central P x P are the tiles; 1 for cut-out tasks). */
int sl_task_out_grid(const sl_task *t);

/* The default architecture (documented in sl-train(1)).  The net is built
 * but not finalized.  Cut-out nets with sides up to 64 are those of the
 * earlier releases, layer for layer. */
sl_nn *sl_task_default_net(const sl_task *t, int width, sl_err *err);

/* Training samples cut from one image: inputs [n][input_size], targets
 * [n][cells][n_targets] and masks [n][cells][n_factors] (1 where a factor
 * is trained), cells = P x P for detect and 1 otherwise. */
typedef struct sl_samples {
    int n, cap;
    float *x;
    double *y;
    unsigned char *mask;
} sl_samples;

void sl_samples_free(sl_samples *s);
int sl_samples_cells(const sl_task *t);
/* Appends the samples of img (with its truth) to s.  A NaN pixel, or a truth
 * value outside its factor's support, is an error naming it. */
int sl_task_extract(const sl_task *t, const sl_image *img, const sl_catalog *truth,
                    sl_samples *s, sl_err *err);

/* A normalized copy of an image's pixels (see the top of this file), with
 * its background map when it has one.  Pixels of a patch that lie outside its
 * parent are 0 (the background).  A NaN pixel is an error naming it when
 * n_nan is NULL (training); otherwise it is masked, set to 0, and counted in
 * *n_nan (inference).  The caller frees the result; NULL on error. */
float *sl_task_normalize_image(const sl_image *img, long *n_nan, sl_err *err);

/* Mean -log q over the trained factors of a batch, and d(loss)/d(outputs) into
 * grad (same layout as the net's output, [batch][n_outputs][grid]) when not
 * NULL.  Returns the summed loss and sets *count to the number of factor terms
 * (loss per term = sum / count). */
double sl_task_loss(const sl_task *t, const float *out, const double *y,
                    const unsigned char *mask, int batch, float *grad, long *count);

#endif
