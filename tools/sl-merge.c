/* sl-merge: stitch the estimates of the patches of each image into one
 * catalog per image.
 *
 * sl-tile cuts an image into patches whose interiors partition it; sl-encode
 * adds an `estimate` table to each.  A source near a patch's edge is found
 * again in its neighbour's border, so only the rows inside each patch's
 * interior are kept, and their positions are shifted into the parent's
 * pixels.  Shards from GNU parallel arrive in any order: the tables (never
 * pixels) are collected per parent, merged in patch order once all its
 * patches came, checked complete at the end and written sorted by parent id,
 * so the order of the input never changes the output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catrecord.h"
#include "cli.h"
#include "estimate.h"
#include "image.h"
#include "output.h"
#include "record.h"
#include "table.h"
#include "vec.h"

static const char usage[] =
    "Usage: sl-merge [options] [FILE...]\n"
    "Merge the estimates of image patches (sl-tile | sl-encode) into one catalog\n"
    "record per parent image, keeping each source found in a patch's interior and\n"
    "shifting it into the parent's pixels. Reads standard input when no FILE is\n"
    "given or FILE is '-'; shards may come in any order.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   write FILE instead of standard output (renamed into place\n"
    "                      when complete); a name ending in .fits or .csv picks that\n"
    "                      format\n"
    "      --fits          a FITS binary table, one row per source (needs -o)\n"
    "      --csv           CSV, one row per source\n"
    "  -k, --key KEY       the table to merge [estimate]\n"
    "      --regions FILE  also a ds9 region file of the lens candidates (P(lens) >\n"
    "                      0.5): circles of radius theta_E labelled with P(lens)\n"
    "      --progress      a progress line (records, rate, ETA) on stderr even when it\n"
    "                      is not a terminal (on a terminal it is always shown)\n"
    "  -q, --quiet         no progress and no summary on standard error\n"
    "  -h, --help          this text\n"
    "      --version       the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input (a missing or repeated patch, a table that\n"
    "does not fit the others) or a write error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-tile frame.fits | sl-encode -m detect.slm | sl-merge -o catalog.fits\n"
    "  parallel -j 2 'sl-tile --shard {}/3 frame.fits | sl-encode -m detect.slm' \\\n"
    "      ::: 1 2 3 | sl-merge -o catalog.slr\n";

enum { FORMAT_RECORDS, FORMAT_FITS, FORMAT_CSV };
enum { OPT_FITS = 256, OPT_CSV, OPT_REGIONS };

static struct {
    int format, format_given;
    const char *key;
    const char *regions; /* the ds9 region file of lens candidates, or NULL */
} opt = {FORMAT_RECORDS, 0, "estimate", NULL};

static int on_option(int c, const char *arg)
{
    switch (c) {
    case OPT_FITS:
    case OPT_CSV:
        if (opt.format_given && opt.format != (c == OPT_FITS ? FORMAT_FITS : FORMAT_CSV))
            sl_usage_error("--fits and --csv exclude each other");
        opt.format = c == OPT_FITS ? FORMAT_FITS : FORMAT_CSV;
        opt.format_given = 1;
        return 0;
    case OPT_REGIONS:
        opt.regions = arg;
        return 0;
    case 'k':
        if (!arg[0] || strchr(arg, '.'))
            sl_usage_error("option -k/--key: '%s' is not a key name", arg);
        opt.key = arg;
        return 0;
    }
    return -1;
}

/* ---- What is collected ------------------------------------------------------ */

/* The rows one patch contributes, already cut to its interior and shifted. */
typedef struct piece {
    int patch;
    long seq;          /* arrival order, to name the first of two duplicates */
    const char *file;  /* where it came from, for messages */
    long num;
    sl_table est, truth;
    sl_table *samples; /* n_samples posterior samples (sl-encode --samples) */
} piece;

typedef enum { FROM_PATCHES, FROM_IMAGE, FROM_CATALOG } origin;

typedef struct parent {
    /* What is written: the merged tables (est, truth, samples), or those read
     * from a catalog record. */
    sl_catrecord cat;
    origin from;
    const char *file; /* its first record */
    long num;
    int patches;
    piece *pieces;
    int n_pieces;
    size_t cap_pieces;
    int merged;          /* every patch came, and their rows are in cat */
    char *raw;           /* a catalog record as read, passed on unchanged */
    size_t raw_len;
} parent;

static struct {
    parent *p;
    int n;
    size_t cap;
    int *slot; /* open addressing, id -> index + 1; size n_slots, a power of 2 */
    size_t n_slots;
    long seq, n_images, skipped;
} all;

static size_t slot_of(int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15u;
    return (size_t)(h >> 17) & (all.n_slots - 1);
}

static void rehash(void)
{
    free(all.slot);
    all.n_slots = all.n_slots ? 2 * all.n_slots : 1024;
    if (!(all.slot = calloc(all.n_slots, sizeof *all.slot)))
        sl_die("out of memory");
    for (int i = 0; i < all.n; i++) {
        size_t s = slot_of(all.p[i].cat.img.id);
        while (all.slot[s])
            s = (s + 1) & (all.n_slots - 1);
        all.slot[s] = i + 1;
    }
}

/* The parent of this id, or a new one (zeroed but for id) with *is_new set. */
static parent *parent_get(int64_t id, int *is_new)
{
    if (2 * (size_t)(all.n + 1) > all.n_slots)
        rehash();
    size_t s = slot_of(id);
    for (; all.slot[s]; s = (s + 1) & (all.n_slots - 1))
        if (all.p[all.slot[s] - 1].cat.img.id == id) {
            *is_new = 0;
            return &all.p[all.slot[s] - 1];
        }
    sl_err err;
    if (sl_vec_grow((void **)&all.p, &all.cap, (size_t)all.n + 1, sizeof *all.p, &err) < 0)
        sl_die_err(&err);
    parent *p = &all.p[all.n];
    memset(p, 0, sizeof *p);
    sl_catrecord_init(&p->cat);
    p->cat.key = opt.key;
    p->cat.img.id = id;
    all.slot[s] = ++all.n;
    *is_new = 1;
    return p;
}

/* A truth table beside the merged one (unless --key truth merges the truth). */
static int carries_truth(const sl_record *rec)
{
    return strcmp(opt.key, "truth") != 0 && sl_rec_get(rec, "truth") != NULL;
}

/* A second record for a parent: it must be another patch, telling the same
 * story about the parent as the first. */
static void check_same_parent(const parent *p, const sl_record *rec, const sl_image *img,
                              origin from)
{
    if (from != FROM_PATCHES || p->from != FROM_PATCHES)
        sl_die("%s: record %ld: image %lld appears twice (first at %s: record %ld)", rec->file,
               rec->num, (long long)p->cat.img.id, p->file, p->num);
    if (img->patches != p->patches)
        sl_die("%s: record %ld: key 'patches': %d, but the first patch of parent %lld (%s: "
               "record %ld) says %d", rec->file, rec->num, img->patches, (long long)p->cat.img.id,
               p->file, p->num, p->patches);
    if (img->parent_width != p->cat.img.width || img->parent_height != p->cat.img.height)
        sl_die("%s: record %ld: key 'parent_width': %d x %d pixels, but the first patch of "
               "parent %lld (%s: record %ld) says %d x %d", rec->file, rec->num,
               img->parent_width, img->parent_height, (long long)p->cat.img.id, p->file, p->num,
               p->cat.img.width, p->cat.img.height);
    if (!sl_image_same_bands(p->cat.img.bands, p->cat.img.n_bands, img->bands, img->n_bands)) {
        char a[300], b[300];
        sl_image_format_bands(img->bands, img->n_bands, " ", a, sizeof a);
        sl_image_format_bands(p->cat.img.bands, p->cat.img.n_bands, " ", b, sizeof b);
        sl_die("%s: record %ld: key 'bands': %s, but the first patch of parent %lld (%s: "
               "record %ld) has %s", rec->file, rec->num, a, (long long)p->cat.img.id, p->file, p->num, b);
    }
    if (!sl_image_same_scale(img->pixel_scale, p->cat.img.pixel_scale))
        sl_die("%s: record %ld: key 'pixel_scale': %g, but the first patch of parent %lld (%s: "
               "record %ld) has %g", rec->file, rec->num, img->pixel_scale, (long long)p->cat.img.id,
               p->file, p->num, p->cat.img.pixel_scale);
    int has_truth = carries_truth(rec);
    if (has_truth != p->cat.has_truth)
        sl_die("%s: record %ld: key 'truth': %s, but the first patch of parent %lld (%s: "
               "record %ld) %s one", rec->file, rec->num, has_truth ? "present" : "missing",
               (long long)p->cat.img.id, p->file, p->num, p->cat.has_truth ? "has" : "has not");
}

/* ---- Completing each parent ------------------------------------------------- */

static int by_patch(const void *a, const void *b)
{
    const piece *p = a, *q = b;
    if (p->patch != q->patch)
        return p->patch < q->patch ? -1 : 1;
    return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/* Every patch exactly once, then the rows in patch order.  The pieces stay,
 * without their tables, to name the first of a patch that comes again. */
static void complete(parent *p)
{
    if (p->from == FROM_CATALOG || p->merged)
        return;
    qsort(p->pieces, (size_t)p->n_pieces, sizeof *p->pieces, by_patch);
    for (int i = 1; i < p->n_pieces; i++)
        if (p->pieces[i].patch == p->pieces[i - 1].patch)
            sl_die("%s: record %ld: parent %lld, patch %d appears twice (first at %s: record "
                   "%ld)", p->pieces[i].file, p->pieces[i].num, (long long)p->cat.img.id,
                   p->pieces[i].patch, p->pieces[i - 1].file, p->pieces[i - 1].num);
    if (p->n_pieces < p->patches) {
        int missing = 0;
        for (int i = 0; i < p->n_pieces && p->pieces[i].patch == i; i++)
            missing = i + 1;
        sl_die("parent %lld: patch %d of %d is missing (%d of %d missing in all)",
               (long long)p->cat.img.id, missing, p->patches, p->patches - p->n_pieces, p->patches);
    }
    sl_err err;
    for (int i = 0; i < p->n_pieces; i++) {
        piece *pc = &p->pieces[i];
        if (sl_table_append(&p->cat.est, &pc->est, NULL, 0, 0, 0, &err) < 0)
            sl_die("%s: record %ld: key '%s': %s", pc->file, pc->num, opt.key, err.msg);
        if (p->cat.has_truth && sl_table_append(&p->cat.truth, &pc->truth, NULL, 0, 0, 0, &err) < 0)
            sl_die("%s: record %ld: key 'truth': %s", pc->file, pc->num, err.msg);
        for (int k = 0; k < p->cat.n_samples; k++) {
            if (sl_table_append(&p->cat.samples[k], &pc->samples[k], NULL, 0, 0, 0, &err) < 0)
                sl_die("%s: record %ld: key 'samples.%d': %s", pc->file, pc->num, k, err.msg);
            sl_table_free(&pc->samples[k]);
        }
        free(pc->samples);
        pc->samples = NULL;
        sl_table_free(&pc->est);
        sl_table_free(&pc->truth);
    }
    if (sl_catrecord_add_sky_errors(&p->cat, &err) < 0)
        sl_die_err(&err);
    p->merged = 1;
}

/* ---- Reading the records --------------------------------------------------- */

/* Rows of t whose (x, y) lies in [xlo, xhi) x [ylo, yhi); NaN never does. */
static int *interior_rows(const sl_table *t, const sl_record *rec, const char *key, double xlo,
                          double xhi, double ylo, double yhi, int *n_rows)
{
    sl_err err;
    const char *axes[2] = {"x", "y"};
    int c[2];
    for (int a = 0; a < 2; a++) {
        char path[96];
        snprintf(path, sizeof path, "%s.%s", key, axes[a]);
        if ((c[a] = sl_table_find(t, axes[a])) < 0)
            sl_rec_fail(rec, path, &err, "missing: a patch's rows need a position");
        else if (t->cols[c[a]].width != 1)
            sl_rec_fail(rec, path, &err, "%d values per row, expected 1",
                        t->cols[c[a]].width);
        else
            continue;
        sl_die_err(&err);
    }
    int *rows = malloc(((size_t)t->n + 1) * sizeof *rows);
    if (!rows)
        sl_die("out of memory");
    *n_rows = 0;
    for (int r = 0; r < t->n; r++) {
        double x = *sl_table_at(t, c[0], r), y = *sl_table_at(t, c[1], r);
        if (x >= xlo && x < xhi && y >= ylo && y < yhi)
            rows[(*n_rows)++] = r;
    }
    return rows;
}

/* Reads table `key` of a patch and adds its interior rows, shifted, to dst. */
static void take_interior(sl_table *dst, sl_table *scratch, const sl_record *rec,
                          const char *key, const sl_image *img)
{
    sl_err err;
    if (sl_table_read(scratch, rec, key, &err) < 0)
        sl_die_err(&err);
    int n_rows = 0, *rows = NULL;
    if (img->is_patch) {
        int xlo, ylo, xhi, yhi;
        sl_image_interior(img, &xlo, &ylo, &xhi, &yhi);
        rows = interior_rows(scratch, rec, key, xlo, xhi, ylo, yhi, &n_rows);
    }
    if (sl_table_append(dst, scratch, rows, n_rows, img->x0, img->y0, &err) < 0)
        sl_die("%s: record %ld: key '%s': %s", rec->file, rec->num, key, err.msg);
    free(rows);
}

/* The number of posterior samples a record carries (an array of catalogs). */
static int n_samples_of(const sl_record *rec)
{
    sl_err err;
    int n;
    if (sl_catrecord_n_samples(rec, &n, &err) < 0)
        sl_die_err(&err);
    return n;
}

static void add_image(const sl_record *rec, sl_image *img, sl_table *scratch)
{
    sl_err err;
    if (sl_image_read_meta(img, rec, &err) < 0)
        sl_die_err(&err);
    origin from = img->is_patch ? FROM_PATCHES : FROM_IMAGE;
    int is_new;
    parent *p = parent_get(img->parent, &is_new);
    if (!is_new) {
        check_same_parent(p, rec, img, from);
    } else {
        p->from = from;
        p->file = rec->file;
        p->num = rec->num;
        p->cat.img.width = img->parent_width;
        p->cat.img.height = img->parent_height;
        p->cat.img.n_bands = img->n_bands;
        memcpy(p->cat.img.bands, img->bands, sizeof p->cat.img.bands);
        p->cat.img.pixel_scale = img->pixel_scale;
        p->cat.img.has_zero_point = img->has_zero_point;
        memcpy(p->cat.img.zero_point, img->zero_point, sizeof p->cat.img.zero_point);
        if (img->wcs && !(p->cat.img.wcs = strdup(img->wcs)))
            sl_die("out of memory");
        p->patches = img->patches;
        p->cat.has_truth = carries_truth(rec);
        p->cat.n_samples = n_samples_of(rec);
        if (!(p->cat.samples = calloc((size_t)p->cat.n_samples + 1, sizeof *p->cat.samples)))
            sl_die("out of memory");
    }
    if (n_samples_of(rec) != p->cat.n_samples)
        sl_die("%s: record %ld: key 'samples': %d posterior samples, the first patch of parent "
               "%lld has %d", rec->file, rec->num, n_samples_of(rec), (long long)p->cat.img.id,
               p->cat.n_samples);
    if (sl_vec_grow((void **)&p->pieces, &p->cap_pieces, (size_t)p->n_pieces + 1,
                    sizeof *p->pieces, &err) < 0)
        sl_die_err(&err);
    if (p->merged) { /* complete already, so this patch came before */
        const piece *first = &p->pieces[img->patch];
        sl_die("%s: record %ld: parent %lld, patch %d appears twice (first at %s: record %ld)",
               rec->file, rec->num, (long long)p->cat.img.id, img->patch, first->file, first->num);
    }
    piece *pc = &p->pieces[p->n_pieces++];
    *pc = (piece){.patch = img->patch, .seq = all.seq++, .file = rec->file, .num = rec->num};
    sl_table_init(&pc->est);
    sl_table_init(&pc->truth);
    take_interior(&pc->est, scratch, rec, opt.key, img);
    if (p->cat.has_truth)
        take_interior(&pc->truth, scratch, rec, "truth", img);
    if (!(pc->samples = calloc((size_t)p->cat.n_samples + 1, sizeof *pc->samples)))
        sl_die("out of memory");
    for (int k = 0; k < p->cat.n_samples; k++) {
        char key[32];
        snprintf(key, sizeof key, "samples.%d", k);
        take_interior(&pc->samples[k], scratch, rec, key, img);
    }
    all.n_images++;
    /* As many pieces as patches: every one once, or a duplicate to report
     * now; either way the tables need not wait for the end of the input. */
    if (p->n_pieces == p->patches)
        complete(p);
}

/* A catalog record (an earlier sl-merge's output) stands for its image whole. */
static void add_catalog(const sl_record *rec)
{
    sl_err err;
    int64_t id;
    if (sl_rec_int(rec, "id", INT64_MIN, INT64_MAX, &id, &err) < 0)
        sl_die_err(&err);
    int is_new;
    parent *p = parent_get(id, &is_new);
    if (!is_new)
        sl_die("%s: record %ld: image %lld appears twice (first at %s: record %ld)", rec->file,
               rec->num, (long long)id, p->file, p->num);
    p->from = FROM_CATALOG;
    p->file = rec->file;
    p->num = rec->num;
    p->patches = 1;
    if (sl_catrecord_read(&p->cat, rec, opt.key, &err) < 0)
        sl_die_err(&err);
    if (!(p->raw = malloc(rec->raw_len)))
        sl_die("out of memory");
    memcpy(p->raw, rec->raw, rec->raw_len);
    p->raw_len = rec->raw_len;
}

static int by_id(const void *a, const void *b)
{
    const parent *p = a, *q = b;
    return p->cat.img.id < q->cat.img.id ? -1 : p->cat.img.id > q->cat.img.id;
}

/* ---- Writing ----------------------------------------------------------------- */

static void write_catalog(sl_writer *w, const parent *p)
{
    sl_err err;
    sl_record rec = {.raw = p->raw, .raw_len = p->raw_len};
    int rc = p->raw ? sl_writer_raw(w, &rec, &err) : sl_catrecord_write(w, &p->cat, &err);
    if (rc < 0)
        sl_die_err(&err);
}

/* One flat table of every parent's rows, each row tagged with its image id. */
static long long *flatten(sl_table *dst, int truth)
{
    size_t n = 0;
    for (int i = 0; i < all.n; i++)
        n += (size_t)(truth ? all.p[i].cat.truth.n : all.p[i].cat.est.n);
    long long *ids = malloc((n + 1) * sizeof *ids);
    if (!ids)
        sl_die("out of memory");
    sl_err err;
    for (int i = 0; i < all.n; i++) {
        const parent *p = &all.p[i];
        if (truth && !p->cat.has_truth)
            continue;
        if (!sl_image_same_bands(p->cat.img.bands, p->cat.img.n_bands, all.p[0].cat.img.bands, all.p[0].cat.img.n_bands)) {
            char a[300], b[300];
            sl_image_format_bands(p->cat.img.bands, p->cat.img.n_bands, " ", a, sizeof a);
            sl_image_format_bands(all.p[0].cat.img.bands, all.p[0].cat.img.n_bands, " ", b, sizeof b);
            sl_die("image %lld: bands %s differ from image %lld's %s: one table cannot hold "
                   "both", (long long)p->cat.img.id, a, (long long)all.p[0].cat.img.id, b);
        }
        for (int r = 0; r < (truth ? p->cat.truth.n : p->cat.est.n); r++)
            ids[dst->n + r] = p->cat.img.id;
        if (sl_table_append(dst, truth ? &p->cat.truth : &p->cat.est, NULL, 0, 0, 0, &err) < 0)
            sl_die("image %lld: key '%s': %s", (long long)p->cat.img.id, truth ? "truth" : opt.key,
                   err.msg);
    }
    return ids;
}

/* RA and Dec of every row of the flat table (the parents' rows in order),
 * from each parent's WCS; 0 when no parent has one. */
static int flat_sky(size_t n, double **ra, double **dec)
{
    int any = 0;
    for (int i = 0; i < all.n; i++)
        any |= all.p[i].cat.img.wcs != NULL;
    if (!any)
        return 0;
    *ra = malloc((2 * n + 1) * sizeof **ra);
    if (!*ra)
        sl_die("out of memory");
    *dec = *ra + n;
    sl_err err;
    size_t at = 0;
    for (int i = 0; i < all.n; i++) {
        const sl_catrecord *c = &all.p[i].cat;
        for (int r = 0; r < c->est.n; r++)
            (*ra)[at + r] = (*dec)[at + r] = NAN;
        if (sl_catrecord_sky(c, *ra + at, *dec + at, &err) < 0)
            sl_die_err(&err);
        at += (size_t)c->est.n;
    }
    return 2;
}

/* ---- Lens candidates for ds9 ------------------------------------------------- */

/* One circle per lens candidate (P(lens) > 0.5) of one parent: on the sky
 * (fk5, an arcsec radius) when the image has a WCS, else in image pixels
 * (ds9's first pixel is centred on 1, ours on 0.5).  The radius is the
 * Einstein radius, or 1 arcsec marked "no theta_E" where the lens encoder
 * did not run. */
static void region_lines(FILE *f, const sl_catrecord *c)
{
    const sl_table *t = &c->est;
    int cp = sl_table_find(t, "p_lens"), cx = sl_table_find(t, "x"), cy = sl_table_find(t, "y");
    int ct = sl_table_find(t, "theta_e");
    double *ra = malloc(((size_t)t->n * 2 + 1) * sizeof *ra), *dec = ra + t->n;
    sl_err err;
    if (!ra)
        sl_die("out of memory");
    for (int r = 0; r < t->n; r++)
        ra[r] = dec[r] = NAN;
    if (sl_catrecord_sky(c, ra, dec, &err) < 0)
        sl_die_err(&err);
    fprintf(f, "# image %lld\n", (long long)c->img.id);
    for (int r = 0; cp >= 0 && r < t->n; r++) {
        double p = *sl_table_at(t, cp, r), theta = ct >= 0 ? *sl_table_at(t, ct, r) : NAN;
        if (!(p > 0.5))
            continue;
        const char *note = isnan(theta) ? ", no theta_E" : "";
        theta = isnan(theta) ? 1 : theta;
        if (c->img.wcs)
            fprintf(f, "fk5; circle(%.8f,%.8f,%.3f\") # text={P(lens)=%.3f%s}\n", ra[r], dec[r],
                    theta, p, note);
        else
            fprintf(f, "image; circle(%.3f,%.3f,%.3f) # text={P(lens)=%.3f%s}\n",
                    *sl_table_at(t, cx, r) + 0.5, *sl_table_at(t, cy, r) + 0.5,
                    theta / c->img.pixel_scale, p, note);
    }
    free(ra);
}

static void write_regions(void)
{
    sl_err err;
    sl_textout text;
    if (sl_textout_open(&text, opt.regions, &err) < 0)
        sl_die_err(&err);
    fprintf(text.f, "# Region file format: DS9 version 4.1\n"
                    "# lens candidates of sl-merge %s: P(lens) > 0.5, radius theta_E\n"
                    "global color=green width=2\n", SL_VERSION);
    for (int i = 0; i < all.n; i++)
        region_lines(text.f, &all.p[i].cat);
    int rc = sl_textout_close(&text, &err);
    if (rc < 0)
        sl_die_err(&err);
}

/* ---- Provenance in the FITS header ------------------------------------------ */

/* The primary keys of a FITS catalog: who wrote it, and from the first
 * input's header and the headers in its provenance (depth first), each
 * program with its command line (which names its input files), and from
 * sl-encode's configuration the threshold, the base rates its probabilities
 * refer to and each model with its SHA-256. */
#define MAX_KEYS 96
typedef struct fits_prov {
    sl_fits_key keys[MAX_KEYS];
    char names[MAX_KEYS][9], text[MAX_KEYS][1024];
    int n, n_progs, n_models;
} fits_prov;

static const char *obj_text(const msgpack_object *o, char *buf, size_t size)
{
    size_t n = o && o->type == MSGPACK_OBJECT_STR ? o->via.str.size : 0;
    n = n < size - 1 ? n : size - 1;
    if (n)
        memcpy(buf, o->via.str.ptr, n);
    buf[n] = '\0';
    return buf;
}

static void prov_key(fits_prov *p, const char *name, const char *value, const char *comment)
{
    if (p->n == MAX_KEYS)
        return;
    snprintf(p->names[p->n], sizeof p->names[0], "%s", name);
    snprintf(p->text[p->n], sizeof p->text[0], "%s", value);
    p->keys[p->n] = SL_FITS_KEY_S(p->names[p->n], p->text[p->n], comment);
    p->n++;
}

/* sl-encode's configuration, by the names it writes (sl-encode.c). */
static void prov_encode(fits_prov *p, const msgpack_object *cfg)
{
    static const char *const keys[][3] = {
        {"threshold", "THRESH", "a tile holds a source when P(source) > THRESH"},
        {"lens_rate", "LENSRATE", "base rate of lens systems per galaxy of P(lens)"},
        {"lens_rate_train", "LRTRAIN", "that of the training prior (lens_prob)"},
        {"galaxy_rate", "GALRATE", "base rate of galaxies per source of P(galaxy)"},
        {"galaxy_rate_train", "GRTRAIN", "that of the training prior (1 - star_prob)"}};
    char buf[1024], name[24], key[32];
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        if (sl_obj_get(cfg, keys[k][0]))
            prov_key(p, keys[k][1], obj_text(sl_obj_get(cfg, keys[k][0]), buf, sizeof buf),
                     keys[k][2]);
    for (int i = 1; i <= 9; i++) {
        snprintf(key, sizeof key, "model%d", i);
        if (!sl_obj_get(cfg, key))
            break;
        p->n_models++;
        snprintf(name, sizeof name, "MODEL%d", p->n_models);
        prov_key(p, name, obj_text(sl_obj_get(cfg, key), buf, sizeof buf), "a model file");
        snprintf(key, sizeof key, "model%d_sha256", i);
        snprintf(name, sizeof name, "MSHA%d", p->n_models);
        prov_key(p, name, obj_text(sl_obj_get(cfg, key), buf, sizeof buf), "its SHA-256");
    }
}

static void prov_walk(fits_prov *p, const msgpack_object *h, int depth)
{
    char tool[256], version[64], name[24], line[1024] = "", buf[1024];
    obj_text(sl_obj_get(h, "tool"), tool, sizeof tool);
    if (!tool[0] || depth > 8 || p->n_progs == 9)
        return;
    const msgpack_object *argv = sl_obj_get(h, "argv");
    for (uint32_t i = 0; argv && argv->type == MSGPACK_OBJECT_ARRAY && i < argv->via.array.size;
         i++) {
        size_t at = strlen(line), n = strlen(obj_text(&argv->via.array.ptr[i], buf, sizeof buf));
        if (at + n + 2 > sizeof line)
            break; /* 1 KiB of command line names the inputs */
        if (i)
            line[at++] = ' ';
        memcpy(line + at, buf, n + 1);
    }
    p->n_progs++;
    snprintf(name, sizeof name, "PROG%d", p->n_progs);
    snprintf(buf, sizeof buf, "%s %s", tool, obj_text(sl_obj_get(h, "version"), version,
                                                       sizeof version));
    prov_key(p, name, buf, "a program upstream, nearest first");
    snprintf(name, sizeof name, "CMD%d", p->n_progs);
    prov_key(p, name, line, "its command line");
    const msgpack_object *cfg = sl_obj_get(h, "config");
    if (!strcmp(tool, "sl-encode") && cfg && cfg->type == MSGPACK_OBJECT_MAP)
        prov_encode(p, cfg);
    const msgpack_object *up = sl_obj_get(h, "provenance");
    for (uint32_t i = 0; up && up->type == MSGPACK_OBJECT_ARRAY && i < up->via.array.size; i++)
        prov_walk(p, &up->via.array.ptr[i], depth + 1);
}

/* Unpacked here, once, before the readers move on. */
static fits_prov fprov;

static void read_provenance(sl_reader *first)
{
    char creator[64];
    snprintf(creator, sizeof creator, "sl-merge %s", SL_VERSION);
    prov_key(&fprov, "CREATOR", creator, "the program that wrote the file");
    size_t len;
    const char *raw = first ? sl_reader_last_header(first, &len) : NULL;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (raw && msgpack_unpack_next(&u, raw, len, &off) == MSGPACK_UNPACK_SUCCESS)
        prov_walk(&fprov, &u.data, 0);
    msgpack_unpacked_destroy(&u);
}

static void write_table(void)
{
    sl_err err;
    sl_table est, truth;
    sl_table_init(&est);
    sl_table_init(&truth);
    int any_truth = 0;
    for (int i = 0; i < all.n; i++)
        any_truth |= all.p[i].cat.has_truth;
    long long *est_ids = flatten(&est, 0);
    long long *truth_ids = any_truth && opt.format == FORMAT_FITS ? flatten(&truth, 1) : NULL;
    const char *bands[SL_MAX_BANDS];
    int n_bands = all.n ? all.p[0].cat.img.n_bands : 0;
    for (int b = 0; b < n_bands; b++)
        bands[b] = all.p[0].cat.img.bands[b];
    sl_table_out out[2] = {
        {.t = &est, .extname = "ESTIMATE", .id_name = "image", .ids = est_ids, .bands = bands,
         .n_bands = n_bands},
        {.t = &truth, .extname = "TRUTH", .id_name = "image", .ids = truth_ids,
         .bands = bands, .n_bands = n_bands}};
    double *ra = NULL, *dec = NULL;
    out[0].n_dcols = flat_sky((size_t)est.n, &ra, &dec);
    out[0].dcols[0] = (sl_table_dcol){"ra", "deg", "right ascension, from x, y and the WCS", ra};
    out[0].dcols[1] = (sl_table_dcol){"dec", "deg", "declination, from x, y and the WCS", dec};
    out[0].describe = out[1].describe = sl_estimate_describe;
    if (opt.format == FORMAT_FITS) {
        if (sl_table_write_fits(sl_cli_state.output, out, truth_ids ? 2 : 1, fprov.keys,
                                fprov.n, &err) < 0)
            sl_die_err(&err);
    } else {
        sl_textout text;
        sl_cli_textout_open(&text, sl_cli_state.output);
        if (sl_table_write_csv(text.f, &out[0], &err) < 0)
            sl_die_err(&err); /* the temporary file goes with it */
        sl_cli_textout_close(&text);
    }
    free(est_ids);
    free(truth_ids);
    free(ra);
    sl_table_free(&est);
    sl_table_free(&truth);
}

/* ---- Main ------------------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void pick_format(void)
{
    const char *out = sl_cli_state.output;
    if (!opt.format_given && out)
        opt.format = ends_with(out, ".fits") || ends_with(out, ".fit") ? FORMAT_FITS
                     : ends_with(out, ".csv")                          ? FORMAT_CSV
                                                                        : FORMAT_RECORDS;
    if (opt.format == FORMAT_FITS && (!out || strcmp(out, "-") == 0))
        sl_usage_error("--fits needs -o FILE: a FITS file is not written to a pipe");
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {{"fits", no_argument, NULL, OPT_FITS},
                                          {"regions", required_argument, NULL, OPT_REGIONS},
                                          {"csv", no_argument, NULL, OPT_CSV},
                                          {"key", required_argument, NULL, 'k'},
                                          {NULL, 0, NULL, 0}};
    const sl_cli_spec spec = {"sl-merge", usage, "k:", longs, on_option, 0, 1};
    sl_cli_takes_progress();
    sl_cli_parse(&spec, argc, argv);
    pick_format();
    if (opt.regions && !strcmp(opt.regions, "-") &&
        (!sl_cli_state.output || !strcmp(sl_cli_state.output, "-")))
        sl_usage_error("--regions -: standard output already takes the catalog");

    sl_err err;
    int n = sl_cli_state.n_inputs;
    /* Static: memory still reachable when sl_die() exits from deep inside. */
    static sl_reader **in;
    sl_cli_label("%s", sl_cli_inputs_label());
    in = sl_cli_open_inputs(opt.format != FORMAT_CSV);
    sl_writer *w = NULL;
    if (opt.format == FORMAT_RECORDS)
        w = sl_cli_output_open(sl_cli_state.output, NULL, in, (size_t)n);
    else /* a table is written when every input is read: fail before that */
        sl_cli_output_writable(sl_cli_state.output);
    if (opt.format == FORMAT_FITS)
        read_provenance(n > 0 ? in[0] : NULL);

    sl_image img;
    sl_table scratch;
    sl_image_init(&img);
    sl_table_init(&scratch);
    sl_record rec;
    long n_read = 0;
    for (int i = 0; i < n; i++) {
        int rc;
        while ((rc = sl_read(in[i], &rec, &err)) >= 0) {
            sl_cli_progress(++n_read, "records", sl_cli_inputs_fraction(in, n));
            if (strcmp(rec.type, "image") == 0) {
                add_image(&rec, &img, &scratch);
            } else if (strcmp(rec.type, "catalog") == 0) {
                add_catalog(&rec);
            } else if (w) { /* records of other kinds pass through, in input order */
                if (sl_writer_raw(w, &rec, &err) < 0)
                    sl_die_err(&err);
            } else {
                all.skipped++;
            }
        }
        if (rc < -1)
            sl_die_err(&err);
    }
    sl_image_free(&img);
    sl_table_free(&scratch);

    /* Sorted first, so that the first incomplete parent reported is the same
     * whatever the order of the input. */
    qsort(all.p, (size_t)all.n, sizeof *all.p, by_id);
    long sources = 0;
    for (int i = 0; i < all.n; i++) {
        complete(&all.p[i]);
        sources += all.p[i].cat.est.n;
    }
    if (w) {
        for (int i = 0; i < all.n && !sl_writer_pipe_closed(w); i++)
            write_catalog(w, &all.p[i]);
        if (sl_writer_pipe_closed(w))
            sl_exit_pipe_closed();
        sl_cli_output_close(w, in, (size_t)n);
    } else {
        write_table();
    }
    if (opt.regions)
        write_regions();
    sl_cli_close_inputs(in);
    if (all.skipped)
        sl_note("%ld records that are neither images nor catalogs left out of the table",
                all.skipped);
    sl_cli_summary("%ld images into %d catalogs of %ld sources", all.n_images, all.n, sources);
    for (int i = 0; i < all.n; i++) {
        sl_catrecord_free(&all.p[i].cat);
        free(all.p[i].pieces);
        free(all.p[i].raw);
    }
    free(all.p);
    free(all.slot);
    return SL_EXIT_OK;
}
