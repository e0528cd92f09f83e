/* sl-train: train one encoder of the variational posterior on simulated
 * (catalog, image) pairs by minimising -log q(true latents | image), the
 * expected forward KL of seed 000.
 *
 * Image records stream in (files, or an endless `sl-simulate -n 0` pipe); the
 * task cuts its samples from each (padded tile patches or source-centred
 * cut-outs, with their targets from the truth); a shuffle buffer mixes them;
 * Adam steps on batches drawn from it.  Everything that decides a step (the
 * buffer's draws, the weights, the optimizer) depends on the seed and the
 * input only, so -j changes the speed, not the result, and --resume replays
 * the input up to the checkpoint and continues exactly as if never stopped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "augment.h"
#include "checkpoint.h"
#include "cli.h"
#include "model.h"
#include "optim.h"
#include "record.h"
#include "rng.h"
#include "task.h"

static const char usage[] =
    "Usage: sl-train --task TASK -o MODEL [options] [FILE...]\n"
    "Train an encoder on image records with their truth (from sl-simulate), read\n"
    "from the FILEs or standard input (which may be endless).\n"
    "\n"
    "Tasks: detect, classify, galaxy, lens-detect, lens (see sl-train(1)).\n"
    "\n"
    "Options:\n"
    "  -t, --task TASK       the encoder to train (required)\n"
    "  -o, --output FILE     the model file (required; written when training ends)\n"
    "      --steps N         optimizer steps [2000]; training also ends with the input\n"
    "      --epochs N        passes over the input FILEs (not standard input) [1]\n"
    "      --batch N         samples per step [32]\n"
    "      --lr X            peak learning rate [1e-3]\n"
    "      --schedule S      constant or cosine (decay to lr/100 at the last step) [cosine]\n"
    "      --warmup N        steps of linear warmup [50, or steps/10 when fewer]\n"
    "      --weight-decay X  AdamW decoupled weight decay [0]\n"
    "      --clip X          clip the gradient's global norm at X; 0 for none [10]\n"
    "      --width N         channels of the first layers of the default network [32]\n"
    "      --tile N          detect, lens-detect: tile side, pixels [4; lens-detect 8]\n"
    "      --border N        detect, lens-detect: context border around a patch,\n"
    "                        pixels [8; lens-detect 40]\n"
    "      --patch-tiles N   detect, lens-detect: tiles per side of a training patch [8]\n"
    "      --cutout N        other tasks: cut-out side, pixels [48; lens 64]\n"
    "      --buffer N        samples in the shuffle buffer [4096]\n"
    "      --augment         mirror each training image at random (x, y, both or\n"
    "                        neither), its truth to match: the prior's symmetries\n"
    "      --val FILE        held-out image records, evaluated every --val-every steps;\n"
    "                        the model kept is the best on them (early stopping)\n"
    "      --val-every N     [100]\n"
    "      --patience N      stop after N evaluations without improvement; 0 never [0]\n"
    "      --checkpoint-every N  write MODEL.ckpt every N steps; 0 never [500]\n"
    "      --resume          continue from MODEL.ckpt (same input, same options)\n"
    "      --stop-after N    stop after step N, leaving MODEL.ckpt and no model, to be\n"
    "                        continued with --resume (time-limited jobs)\n"
    "      --progress        progress line on stderr even when it is not a terminal\n"
    "  -s, --seed INT        seed of the weights and of the sample order [1]\n"
    "  -j, --threads INT     threads; the result does not depend on it [1]\n"
    "  -q, --quiet           no progress and no summary\n"
    "  -h, --help            this text\n"
    "      --version         the version\n"
    "\n"
    "Exit status: 0 success, 1 data or runtime error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-simulate -n 0 -s 1 | sl-train --task detect --steps 2000 -j 2 -o detect.slm\n"
    "  sl-simulate -n 2000 -s 9 -o val.slr\n"
    "  sl-simulate -n 0 --set lens_prob=1 | sl-train -t lens --val val.slr -o lens.slm\n";

enum {
    OPT_STEPS = 256, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_SCHEDULE, OPT_WARMUP, OPT_WD, OPT_CLIP,
    OPT_WIDTH, OPT_TILE, OPT_BORDER, OPT_PATCH, OPT_CUTOUT, OPT_BUFFER, OPT_VAL, OPT_VAL_EVERY,
    OPT_PATIENCE, OPT_CKPT, OPT_RESUME, OPT_PROGRESS, OPT_STOP_AFTER, OPT_AUGMENT
};

static struct {
    const char *task, *val;
    long steps, epochs, batch, warmup, width, tile, border, patch, cutout, buffer, val_every,
        patience, ckpt_every, stop_after;
    double lr, wd, clip;
    sl_lr_kind schedule;
    int resume, progress, warmup_given, augment;
} opt = {.steps = 2000, .epochs = 1, .batch = 32, .lr = 1e-3, .schedule = SL_LR_COSINE,
         .warmup = 50, .clip = 10, .width = 32, .tile = -1, .border = -1, .patch = -1,
         .cutout = -1, .buffer = 4096, .val_every = 100, .ckpt_every = 500};

/* The task's own geometry where the options left it unset (-1). */
static void set_geometry_defaults(sl_task_kind kind)
{
    int tile, border, patch, cutout;
    sl_task_default_geometry(kind, &tile, &border, &patch, &cutout);
    opt.tile = opt.tile < 0 ? tile : opt.tile;
    opt.border = opt.border < 0 ? border : opt.border;
    opt.patch = opt.patch < 0 ? patch : opt.patch;
    opt.cutout = opt.cutout < 0 ? cutout : opt.cutout;
}

static int on_option(int c, const char *arg)
{
    switch (c) {
    case 't': opt.task = arg; break;
    case OPT_STEPS: opt.steps = sl_cli_long("--steps", arg, 1, 1L << 40); break;
    case OPT_EPOCHS: opt.epochs = sl_cli_long("--epochs", arg, 1, 100000); break;
    case OPT_BATCH: opt.batch = sl_cli_long("--batch", arg, 1, 4096); break;
    case OPT_LR: opt.lr = sl_cli_double("--lr", arg, 1e-9, 10); break;
    case OPT_SCHEDULE:
        if (sl_lr_kind_parse(arg, &opt.schedule) < 0)
            sl_usage_error("--schedule: '%s' is neither constant nor cosine", arg);
        break;
    case OPT_WARMUP:
        opt.warmup = sl_cli_long("--warmup", arg, 0, 1L << 40);
        opt.warmup_given = 1;
        break;
    case OPT_WD: opt.wd = sl_cli_double("--weight-decay", arg, 0, 10); break;
    case OPT_CLIP: opt.clip = sl_cli_double("--clip", arg, 0, 1e9); break;
    case OPT_WIDTH: opt.width = sl_cli_long("--width", arg, 1, 1024); break;
    case OPT_TILE: opt.tile = sl_cli_long("--tile", arg, 1, 8); break;
    case OPT_BORDER: opt.border = sl_cli_long("--border", arg, 0, 256); break;
    case OPT_PATCH: opt.patch = sl_cli_long("--patch-tiles", arg, 1, 256); break;
    case OPT_CUTOUT: opt.cutout = sl_cli_long("--cutout", arg, 8, 512); break;
    case OPT_BUFFER: opt.buffer = sl_cli_long("--buffer", arg, 1, 1L << 24); break;
    case OPT_VAL: opt.val = arg; break;
    case OPT_VAL_EVERY: opt.val_every = sl_cli_long("--val-every", arg, 1, 1L << 40); break;
    case OPT_PATIENCE: opt.patience = sl_cli_long("--patience", arg, 0, 1L << 40); break;
    case OPT_CKPT: opt.ckpt_every = sl_cli_long("--checkpoint-every", arg, 0, 1L << 40); break;
    case OPT_RESUME: opt.resume = 1; break;
    case OPT_PROGRESS: opt.progress = 1; break;
    case OPT_AUGMENT: opt.augment = 1; break;
    case OPT_STOP_AFTER: opt.stop_after = sl_cli_long("--stop-after", arg, 1, 1L << 40); break;
    default: return -1;
    }
    return 0;
}

/* ---- The input: image records -> samples -------------------------------- */

/* What every image must share with the first: the model's bands and scale. */
static const sl_model *model_of_feed;

typedef struct feeder {
    char **paths;
    int n_paths, file, epoch, epochs;
    sl_reader **first; /* the readers of the first pass, opened by main (or NULL) */
    sl_reader *r;      /* the one being read */
    int owned;         /* r was opened here (a later epoch) and is closed here */
    sl_image img;
    sl_catalog truth;
    sl_samples pending; /* the samples of the last image read */
    int next;           /* first pending sample not yet handed out */
    long images;
    int augment;        /* mirror images at random (--augment; not for validation) */
} feeder;

static void feeder_open(feeder *f, int file)
{
    sl_err err;
    f->file = file;
    f->owned = f->epoch > 0 || !f->first;
    if (!f->owned)
        f->r = f->first[file];
    else if (!(f->r = sl_reader_open(f->paths[file], &err)))
        sl_die_err(&err);
}

static void feeder_close(feeder *f)
{
    if (f->owned)
        sl_reader_close(f->r);
    f->r = NULL;
}

static void check_like_model(const sl_image *img, const sl_record *rec)
{
    const sl_model *m = model_of_feed;
    if (!sl_image_same_bands(img->bands, img->n_bands, m->bands, m->task.n_bands) ||
        !sl_image_same_scale(img->pixel_scale, m->pixel_scale))
        sl_die("%s: record %ld: bands or pixel scale (%d bands, %g\"/pixel) differ from the first "
               "image's (%d bands starting %s, %g\"/pixel): one model is for one kind of image",
               rec->file, rec->num, img->n_bands, img->pixel_scale, m->task.n_bands, m->bands[0],
               m->pixel_scale);
}

/* Cuts the samples of the image just read (f->img, from rec) into
 * f->pending: its truth read, and with --augment the image and truth
 * mirrored by a draw that depends on the seed and the image's place in the
 * input only (so that --resume replays it). */
static void feeder_use(feeder *f, const sl_task *t, const sl_record *rec)
{
    sl_err err;
    if (!sl_rec_get(rec, "truth"))
        sl_die("%s: record %ld: key 'truth': missing: training needs images with their truth "
               "(from sl-simulate)", rec->file, rec->num);
    if (sl_catalog_read(&f->truth, rec, "truth", f->img.n_bands, &err) < 0)
        sl_die_err(&err);
    if (f->augment) {
        sl_rng r;
        sl_rng_init(&r, sl_cli_state.seed, (uint64_t)f->images, SL_RNG_TRAIN_MIRROR);
        if (sl_mirror_check_psf(rec, &err) < 0)
            sl_die_err(&err);
        if (sl_mirror(&f->img, &f->truth, (unsigned)sl_rng_below(&r, 4), &err) < 0)
            sl_die("%s: record %ld: --augment: %s", rec->file, rec->num, err.msg);
    }
    f->pending.n = 0;
    f->next = 0;
    if (sl_task_extract(t, &f->img, &f->truth, &f->pending, &err) < 0)
        sl_die("%s: record %ld: %s", rec->file, rec->num, err.msg);
    f->images++;
}

/* Reads images until one gives samples; 0 at the end of the input. */
static int feeder_refill(feeder *f, const sl_task *t)
{
    sl_err err;
    sl_record rec;
    for (;;) {
        int rc = f->r ? sl_read(f->r, &rec, &err) : SL_READ_END;
        if (rc == SL_READ_END) {
            feeder_close(f);
            if (f->file + 1 < f->n_paths) {
                feeder_open(f, f->file + 1);
                continue;
            }
            /* Another epoch reads the files again; standard input cannot be. */
            if (++f->epoch < f->epochs && strcmp(f->paths[0], "-") != 0) {
                feeder_open(f, 0);
                continue;
            }
            return 0;
        }
        if (rc < 0)
            sl_die_err(&err);
        if (strcmp(rec.type, "image") != 0)
            continue;
        if (sl_image_read(&f->img, &rec, &err) < 0)
            sl_die_err(&err);
        check_like_model(&f->img, &rec);
        feeder_use(f, t, &rec);
        if (f->pending.n > 0)
            return 1;
    }
}

/* Copies the next sample into slot i of a sample array; 0 at the end. */
static int feeder_take(feeder *f, const sl_task *t, sl_samples *dst, int i)
{
    if (f->next >= f->pending.n && !feeder_refill(f, t))
        return 0;
    size_t xs = sl_task_input_size(t), cells = (size_t)sl_samples_cells(t);
    size_t ys = cells * t->n_targets, ms = cells * t->n_factors;
    memcpy(dst->x + i * xs, f->pending.x + f->next * xs, xs * sizeof *dst->x);
    memcpy(dst->y + i * ys, f->pending.y + f->next * ys, ys * sizeof *dst->y);
    memcpy(dst->mask + i * ms, f->pending.mask + f->next * ms, ms);
    f->next++;
    return 1;
}

/* An array of n samples' storage. */
static void samples_alloc(const sl_task *t, sl_samples *s, int n)
{
    size_t cells = (size_t)sl_samples_cells(t);
    s->x = malloc((size_t)n * sl_task_input_size(t) * sizeof *s->x);
    s->y = malloc((size_t)n * cells * t->n_targets * sizeof *s->y);
    s->mask = malloc((size_t)n * cells * t->n_factors);
    if (!s->x || !s->y || !s->mask)
        sl_die("out of memory for %d samples", n);
    s->cap = n;
    s->n = 0;
}

static void copy_sample(const sl_task *t, const sl_samples *src, int i, sl_samples *dst, int j)
{
    size_t xs = sl_task_input_size(t), cells = (size_t)sl_samples_cells(t);
    size_t ys = cells * t->n_targets, ms = cells * t->n_factors;
    memcpy(dst->x + j * xs, src->x + i * xs, xs * sizeof *dst->x);
    memcpy(dst->y + j * ys, src->y + i * ys, ys * sizeof *dst->y);
    memcpy(dst->mask + j * ms, src->mask + i * ms, ms);
}

/* The shuffle buffer: a batch takes random slots, each refilled from the
 * input (or, once the input is done, by the last slot). */
static int draw_batch(const sl_task *t, sl_samples *buf, feeder *f, sl_rng *rng, sl_samples *batch)
{
    while (buf->n < buf->cap && feeder_take(f, t, buf, buf->n))
        buf->n++;
    batch->n = 0;
    while (batch->n < batch->cap && buf->n > 0) {
        int i = (int)sl_rng_below(rng, (uint64_t)buf->n);
        copy_sample(t, buf, i, batch, batch->n++);
        if (!feeder_take(f, t, buf, i)) {
            buf->n--;
            if (i != buf->n)
                copy_sample(t, buf, buf->n, buf, i);
        }
    }
    return batch->n;
}

/* ---- Training state and checkpoints ----------------------------------- */

/* Appends to the history; out of memory ends the run. */
static void history_add(sl_history *h, long step, double loss, double val)
{
    sl_err err;
    if (sl_history_add(h, step, loss, val, &err) < 0)
        sl_die_err(&err);
}

typedef struct trainer {
    sl_model model;
    sl_adam adam;
    sl_lr_schedule sched;
    long step, best_step, bad_evals;
    double best_val, loss_avg, loss_ema;
    float *best_params, *best_state;
    sl_history hist;
    char *prior_config; /* the first input header's config, msgpack */
    size_t prior_len;
} trainer;

static sl_provenance provenance(void)
{
    sl_provenance p = sl_cli_provenance();
    p.has_seed = 1;
    return p;
}

/* An output stream headed with this run (seed included) and the inputs. */
static sl_writer *open_output(const char *path, sl_reader **in, int n_in)
{
    sl_provenance prov = provenance();
    return sl_cli_output_open(path, &prov, in, (size_t)n_in);
}

/* The model record: the best weights when validation chose them, and the
 * prior of the data (from the first input's header). */
static void write_model(trainer *tr, const char *path, sl_reader **in, int n_in)
{
    sl_writer *w = open_output(path, in, n_in);
    int use_best = tr->best_step >= 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    sl_model_training t = {.steps = tr->step, .best_step = use_best ? tr->best_step : tr->step,
                           .best_val_loss = use_best ? tr->best_val : NAN, .hist = &tr->hist};
    if (tr->prior_config &&
        msgpack_unpack_next(&u, tr->prior_config, tr->prior_len, &off) == MSGPACK_UNPACK_SUCCESS)
        t.prior = sl_model_prior_of(&u.data);
    sl_err err;
    if (sl_model_write(w, &tr->model, use_best ? tr->best_params : sl_nn_params(tr->model.net),
                       use_best ? tr->best_state : sl_nn_state(tr->model.net), &t, &err) < 0)
        sl_die_err(&err);
    msgpack_unpacked_destroy(&u);
    sl_cli_output_close(w, NULL, 0);
}

/* The trainer's state as a checkpoint sees it. */
static sl_checkpoint checkpoint_of(trainer *tr)
{
    return (sl_checkpoint){.step = tr->step, .best_step = tr->best_step,
                           .bad_evals = tr->bad_evals, .best_val = tr->best_val,
                           .loss_ema = tr->loss_ema, .adam = &tr->adam,
                           .best_params = tr->best_params, .best_state = tr->best_state,
                           .hist = &tr->hist};
}

static void write_checkpoint(trainer *tr, const char *path)
{
    sl_writer *w = open_output(path, NULL, 0);
    sl_checkpoint c = checkpoint_of(tr);
    sl_err err;
    if (sl_checkpoint_write(w, &tr->model, &c, &err) < 0)
        sl_die_err(&err);
    sl_cli_output_close(w, NULL, 0);
}

/* Loads a checkpoint into a trainer built with the same options. */
static void read_checkpoint(trainer *tr, const char *path)
{
    sl_err err;
    sl_reader *r = sl_reader_open(path, &err);
    if (!r)
        sl_die("--resume: %s", err.msg);
    sl_checkpoint c = checkpoint_of(tr);
    if (sl_checkpoint_read(r, &tr->model, &c, &err) < 0)
        sl_die_err(&err);
    tr->step = c.step;
    tr->best_step = c.best_step;
    tr->bad_evals = c.bad_evals;
    tr->best_val = c.best_val;
    tr->loss_ema = c.loss_ema;
    sl_reader_close(r);
}

/* ---- Validation ----------------------------------------------------------- */

static void load_validation(const sl_task *t, const char *path, sl_samples *val)
{
    feeder f = {.paths = (char **)&path, .n_paths = 1, .epochs = 1};
    sl_image_init(&f.img);
    sl_catalog_init(&f.truth, t->n_bands);
    feeder_open(&f, 0);
    samples_alloc(t, val, 1024);
    /* At most 16384 samples: enough for a steady estimate, bounded in memory. */
    while (val->n < 16384) {
        if (val->n == val->cap) {
            sl_samples bigger;
            samples_alloc(t, &bigger, 2 * val->cap);
            for (int i = 0; i < val->n; i++)
                copy_sample(t, val, i, &bigger, i);
            bigger.n = val->n;
            sl_samples_free(val);
            *val = bigger;
        }
        if (!feeder_take(&f, t, val, val->n))
            break;
        val->n++;
    }
    if (val->n == 0)
        sl_die("%s: no samples for task %s in the validation images", path, sl_task_name(t->kind));
    feeder_close(&f);
    sl_samples_free(&f.pending);
    sl_image_free(&f.img);
    sl_catalog_free(&f.truth);
}

static double validate(trainer *tr, const sl_samples *val, int batch)
{
    const sl_task *t = &tr->model.task;
    double total = 0;
    long count = 0;
    size_t xs = sl_task_input_size(t), cells = (size_t)sl_samples_cells(t);
    for (int i = 0; i < val->n; i += batch) {
        int b = val->n - i < batch ? val->n - i : batch;
        const float *out = sl_nn_forward(tr->model.net, val->x + i * xs, b, 0);
        long c;
        total += sl_task_loss(t, out, val->y + i * cells * t->n_targets,
                              val->mask + i * cells * t->n_factors, b, NULL, &c);
        count += c;
    }
    return count ? total / (double)count : NAN;
}

/* Validates, and keeps the weights when they are the best so far. */
static double evaluate(trainer *tr, const sl_samples *val, int batch)
{
    double v = validate(tr, val, batch);
    sl_nn *net = tr->model.net;
    if (v < tr->best_val) {
        tr->best_val = v;
        tr->best_step = tr->step;
        tr->bad_evals = 0;
        memcpy(tr->best_params, sl_nn_params(net), sl_nn_n_params(net) * sizeof(float));
        memcpy(tr->best_state, sl_nn_state(net), sl_nn_n_state(net) * sizeof(float));
    } else {
        tr->bad_evals++;
    }
    return v;
}

/* The end of a run: a note when the input ran short, the last step in the
 * history (evaluated when there is a --val), the model, the summary. */
static void finish(trainer *tr, const sl_samples *val, long start, double last_val,
                   sl_reader **in, int n_in, long images)
{
    if (tr->step < opt.steps && !(opt.patience && tr->bad_evals >= opt.patience))
        sl_note("the input ended at step %ld of %ld (the learning-rate schedule was planned "
                "for %ld)", tr->step, opt.steps, opt.steps);
    if (tr->step > start && (tr->hist.step.n == 0 || tr->hist.step.a[tr->hist.step.n - 1] != (double)tr->step)) {
        if (opt.val)
            last_val = evaluate(tr, val, (int)opt.batch);
        history_add(&tr->hist, tr->step, tr->loss_avg, opt.val ? last_val : NAN);
    }
    write_model(tr, sl_cli_state.output, in, n_in);
    if (opt.val)
        sl_cli_summary("%ld steps, %ld images, loss %.4f, best validation loss %.4f at step %ld",
                       tr->step, images, tr->loss_avg, tr->best_val, tr->best_step);
    else
        sl_cli_summary("%ld steps, %ld images, loss %.4f", tr->step, images, tr->loss_avg);
}

/* ---- Main ------------------------------------------------------------------- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void progress(const trainer *tr, double val, double rate, int show)
{
    if (!show)
        return;
    double eta = rate > 0 ? (double)(opt.steps - tr->step) * (double)opt.batch / rate : 0;
    char val_text[32] = "";
    if (opt.val) /* before the first evaluation it is NaN, printed as such */
        snprintf(val_text, sizeof val_text, "  val %.4f", val);
    long secs = lround(eta);
    fprintf(stderr, "\rsl-train: step %ld/%ld  loss %.4f%s  %.0f samples/s  ETA %ldm%02lds ",
            tr->step, opt.steps, tr->loss_avg, val_text, rate, secs / 60, secs % 60);
}

/* What a run holds beside the trainer: its input, the shuffle buffer, the
 * batch, the validation samples and the loss gradient's scratch. */
typedef struct run {
    sl_reader **in;
    int n_in;
    feeder f;
    sl_samples buf, batch, val;
    sl_rng rng;
    float *dout;
    char ckpt[4096];
} run;

static sl_task_kind parse_command_line(int argc, char **argv)
{
    static const struct option longs[] = {
        {"task", required_argument, NULL, 't'},       {"steps", required_argument, NULL, OPT_STEPS},
        {"epochs", required_argument, NULL, OPT_EPOCHS}, {"batch", required_argument, NULL, OPT_BATCH},
        {"lr", required_argument, NULL, OPT_LR},     {"schedule", required_argument, NULL, OPT_SCHEDULE},
        {"warmup", required_argument, NULL, OPT_WARMUP}, {"weight-decay", required_argument, NULL, OPT_WD},
        {"clip", required_argument, NULL, OPT_CLIP}, {"width", required_argument, NULL, OPT_WIDTH},
        {"tile", required_argument, NULL, OPT_TILE}, {"border", required_argument, NULL, OPT_BORDER},
        {"patch-tiles", required_argument, NULL, OPT_PATCH},
        {"cutout", required_argument, NULL, OPT_CUTOUT},
        {"buffer", required_argument, NULL, OPT_BUFFER}, {"val", required_argument, NULL, OPT_VAL},
        {"val-every", required_argument, NULL, OPT_VAL_EVERY},
        {"patience", required_argument, NULL, OPT_PATIENCE},
        {"checkpoint-every", required_argument, NULL, OPT_CKPT},
        {"resume", no_argument, NULL, OPT_RESUME},   {"progress", no_argument, NULL, OPT_PROGRESS},
        {"stop-after", required_argument, NULL, OPT_STOP_AFTER},
        {"augment", no_argument, NULL, OPT_AUGMENT},
        {NULL, 0, NULL, 0}};
    const sl_cli_spec spec = {"sl-train", usage, "t:", longs, on_option, 1, 1};
    sl_cli_parse(&spec, argc, argv);
    sl_task_kind kind;
    if (!opt.task)
        sl_usage_error("--task is required (detect, classify, galaxy, lens-detect, lens)");
    if (sl_task_parse(opt.task, &kind) < 0)
        sl_usage_error("--task: unknown task '%s' (detect, classify, galaxy, lens-detect, lens)",
                       opt.task);
    if (!sl_cli_state.output || strcmp(sl_cli_state.output, "-") == 0)
        sl_usage_error("-o MODEL is required: a model file (and MODEL.ckpt checkpoints)");
    /* MODEL and MODEL.ckpt share a directory: fail now, not after training. */
    sl_cli_output_writable(sl_cli_state.output);
    return kind;
}

/* Opens the inputs and reads the first image, which fixes the model's bands
 * and pixel scale; the task is made for them, and the image's samples are
 * the feeder's first. */
static void start_input(trainer *tr, run *r, sl_task_kind kind)
{
    sl_err err;
    r->n_in = sl_cli_state.n_inputs;
    r->in = sl_cli_open_inputs(1);
    size_t hlen;
    const char *hraw = sl_reader_last_header(r->in[0], &hlen);
    if (hraw) { /* the prior goes into the model: without it the model would differ */
        if (!(tr->prior_config = malloc(hlen)))
            sl_die("out of memory");
        memcpy(tr->prior_config, hraw, hlen);
        tr->prior_len = hlen;
    }
    feeder *f = &r->f;
    *f = (feeder){.paths = sl_cli_state.inputs, .n_paths = r->n_in, .epochs = (int)opt.epochs,
                  .first = r->in, .augment = opt.augment};
    feeder_open(f, 0);
    sl_image_init(&f->img);
    sl_record rec;
    int rc;
    while ((rc = sl_read(f->r, &rec, &err)) >= 0 && strcmp(rec.type, "image") != 0)
        ;
    if (rc == SL_READ_END)
        sl_die("%s: no image records to train on", sl_reader_name(f->r));
    if (rc < 0 || sl_image_read(&f->img, &rec, &err) < 0)
        sl_die_err(&err);
    sl_model *m = &tr->model;
    for (int b = 0; b < f->img.n_bands; b++)
        memcpy(m->bands[b], f->img.bands[b], sizeof m->bands[b]);
    m->pixel_scale = f->img.pixel_scale;
    m->width = (int)opt.width;
    int ref = sl_image_band(&f->img, "r");
    set_geometry_defaults(kind);
    if (sl_task_make(&m->task, kind, f->img.n_bands, ref < 0 ? 0 : ref, (int)opt.tile,
                     (int)opt.border, (int)opt.patch, (int)opt.cutout, &err) < 0)
        sl_usage_error("%s", err.msg);
    model_of_feed = m;
    sl_catalog_init(&f->truth, m->task.n_bands);
    feeder_use(f, &m->task, &rec);
}

/* The network with its initial weights, the optimizer and its schedule. */
static void start_model(trainer *tr)
{
    sl_err err;
    sl_model *m = &tr->model;
    if (!(m->net = sl_task_default_net(&m->task, (int)opt.width, &err)) ||
        sl_nn_finalize(m->net, sl_nn_n_nodes(m->net) - 1, (int)opt.batch, sl_cli_state.threads,
                       &err) < 0)
        sl_die_err(&err);
    sl_nn_init(m->net, sl_cli_state.seed);
    size_t np = sl_nn_n_params(m->net), ns = sl_nn_n_state(m->net);
    if (sl_adam_init(&tr->adam, np, &err) < 0)
        sl_die_err(&err);
    tr->adam.kind = opt.wd > 0 ? SL_OPT_ADAMW : SL_OPT_ADAM;
    tr->adam.weight_decay = opt.wd;
    if (!opt.warmup_given && opt.warmup > opt.steps / 10)
        opt.warmup = opt.steps / 10;
    tr->sched = (sl_lr_schedule){opt.schedule, opt.lr, opt.lr / 100, opt.warmup, opt.steps};
    if (sl_lr_check(&tr->sched, &err) < 0)
        sl_usage_error("%s", err.msg);
    if (!(tr->best_params = malloc(np * sizeof(float))) ||
        !(tr->best_state = malloc((ns + 1) * sizeof(float))))
        sl_die("out of memory");
}

/* The run's buffers; when resuming, the checkpoint read and the input and
 * the buffer's draws replayed up to it.  Returns the step training starts at. */
static long start_run(trainer *tr, run *r)
{
    const sl_task *t = &tr->model.task;
    if (opt.val)
        load_validation(t, opt.val, &r->val);
    samples_alloc(t, &r->buf, (int)opt.buffer);
    samples_alloc(t, &r->batch, (int)opt.batch);
    sl_rng_init(&r->rng, sl_cli_state.seed, 0, SL_RNG_TRAIN_BATCH);
    size_t grid = (size_t)sl_task_out_grid(t);
    if (!(r->dout = malloc((size_t)opt.batch * t->n_outputs * grid * grid * sizeof *r->dout)))
        sl_die("out of memory");
    snprintf(r->ckpt, sizeof r->ckpt, "%s.ckpt", sl_cli_state.output);
    if (!opt.resume)
        return 0;
    read_checkpoint(tr, r->ckpt);
    for (long s = 0; s < tr->step; s++)
        if (!draw_batch(t, &r->buf, &r->f, &r->rng, &r->batch))
            sl_die("--resume: the input ended before step %ld of the checkpoint", tr->step);
    return tr->step;
}

/* One optimizer step on a batch, and the running loss average. */
static void step(trainer *tr, const sl_samples *batch, float *dout)
{
    sl_nn *net = tr->model.net;
    const float *out = sl_nn_forward(net, batch->x, batch->n, 1);
    long count;
    double loss = sl_task_loss(&tr->model.task, out, batch->y, batch->mask, batch->n, dout, &count);
    if (!isfinite(loss))
        sl_die("step %ld: the loss is not finite (%g): try a smaller --lr", tr->step + 1, loss);
    sl_nn_zero_grads(net);
    sl_nn_backward(net, dout, NULL);
    size_t np = sl_nn_n_params(net);
    if (opt.clip > 0)
        sl_grad_clip_norm(sl_nn_grads(net), np, opt.clip);
    sl_adam_step(&tr->adam, sl_nn_params(net), sl_nn_grads(net), sl_lr_at(&tr->sched, tr->step));
    tr->step++;
    /* An exponential average over about 50 steps, corrected for its start at 0. */
    double per_term = count ? loss / (double)count : 0;
    tr->loss_ema = 0.98 * tr->loss_ema + 0.02 * per_term;
    tr->loss_avg = tr->loss_ema / (1 - pow(0.98, (double)tr->step));
}

/* Steps until --steps, the input's end, --patience or --stop-after, with
 * evaluations, history and checkpoints on the way.  Returns 1 when stopped
 * by --stop-after (a checkpoint is left, no model), and the last validation
 * loss in *last_val. */
static int train(trainer *tr, run *r, int show, double *last_val)
{
    const sl_task *t = &tr->model.task;
    double t0 = now();
    long samples = 0;
    *last_val = NAN;
    if (opt.val && tr->step == 0) /* where training starts from */
        history_add(&tr->hist, 0, NAN, *last_val = validate(tr, &r->val, (int)opt.batch));
    while (tr->step < opt.steps && draw_batch(t, &r->buf, &r->f, &r->rng, &r->batch) > 0) {
        step(tr, &r->batch, r->dout);
        samples += r->batch.n;
        int eval = opt.val && (tr->step % opt.val_every == 0 || tr->step == opt.steps);
        if (eval)
            *last_val = evaluate(tr, &r->val, (int)opt.batch);
        if (eval || tr->step % 50 == 0 || tr->step == 1)
            history_add(&tr->hist, tr->step, tr->loss_avg, eval ? *last_val : NAN);
        if (opt.ckpt_every && tr->step % opt.ckpt_every == 0)
            write_checkpoint(tr, r->ckpt);
        progress(tr, *last_val, (double)samples / (now() - t0), show && (tr->step % 10 == 0));
        if (opt.patience && tr->bad_evals >= opt.patience)
            break;
        if (tr->step == opt.stop_after && tr->step < opt.steps) {
            if (!opt.ckpt_every || tr->step % opt.ckpt_every != 0)
                write_checkpoint(tr, r->ckpt);
            return 1;
        }
    }
    return 0;
}

static void free_run(trainer *tr, run *r)
{
    feeder_close(&r->f);
    sl_cli_close_inputs(r->in);
    free(r->dout);
    sl_samples_free(&r->buf);
    sl_samples_free(&r->batch);
    sl_samples_free(&r->val);
    sl_samples_free(&r->f.pending);
    sl_image_free(&r->f.img);
    sl_catalog_free(&r->f.truth);
    sl_adam_free(&tr->adam);
    free(tr->best_params);
    free(tr->best_state);
    sl_history_free(&tr->hist);
    free(tr->prior_config);
    sl_model_free(&tr->model);
}

int main(int argc, char **argv)
{
    sl_task_kind kind = parse_command_line(argc, argv);
    int show = !sl_cli_state.quiet && (opt.progress || isatty(STDERR_FILENO));
    trainer tr = {.best_step = -1, .best_val = INFINITY, .loss_avg = NAN};
    run r = {0};
    start_input(&tr, &r, kind);
    start_model(&tr);
    long start = start_run(&tr, &r);
    double last_val;
    int stopped = train(&tr, &r, show, &last_val);
    if (tr.step == 0)
        sl_die("no training samples for task %s in the input", sl_task_name(kind));
    if (show)
        fputc('\n', stderr);
    if (stopped)
        sl_cli_summary("stopped after step %ld: continue with --resume from %s", tr.step, r.ckpt);
    else
        finish(&tr, &r.val, start, last_val, r.in, r.n_in, r.f.images);
    free_run(&tr, &r);
    return 0;
}
