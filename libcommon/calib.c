/* calib.c: calibration and accuracy statistics (see calib.h). */
#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "special.h"

/* ---- Matching ----------------------------------------------------------------- */

int sl_calib_assign(const double *cost, int n, int m, int *row_to_col, sl_err *err)
{
    if (n > m)
        return sl_err_set(err, "assignment of %d rows to %d columns: more rows than columns", n, m);
    if (n == 0)
        return 0;
    /* Potentials u (rows), v (columns); p[j] the row holding column j (1-based,
     * 0 for none); column 0 is the virtual start of each augmenting path. */
    double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)m + 1, sizeof *v);
    double *minv = malloc(((size_t)m + 1) * sizeof *minv);
    int *p = calloc((size_t)m + 1, sizeof *p), *way = calloc((size_t)m + 1, sizeof *way);
    unsigned char *used = malloc((size_t)m + 1);
    int rc = 0;
    if (!u || !v || !minv || !p || !way || !used) {
        rc = sl_err_set(err, "out of memory for a %d x %d assignment", n, m);
        goto done;
    }
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++)
            minv[j] = INFINITY, used[j] = 0;
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= m; j++) {
                if (used[j])
                    continue;
                double cur = cost[(size_t)(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                if (cur < minv[j])
                    minv[j] = cur, way[j] = j0;
                if (minv[j] < delta)
                    delta = minv[j], j1 = j;
            }
            for (int j = 0; j <= m; j++) {
                if (used[j])
                    u[p[j]] += delta, v[j] -= delta;
                else
                    minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { /* flip the path back to its start */
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (int j = 1; j <= m; j++)
        if (p[j])
            row_to_col[p[j] - 1] = j - 1;
done:
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return rc;
}

static long uf_find(long *parent, long i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static const double *sort_key; /* qsort has no context argument */

static int by_key(const void *a, const void *b)
{
    long i = *(const long *)a, j = *(const long *)b;
    double x = sort_key[i], y = sort_key[j];
    return x < y ? -1 : x > y ? 1 : (i > j) - (i < j);
}

/* The cluster's assignment: rows are the smaller side.  A pair farther apart
 * than the radius costs `big`, more than any set of real pairs can sum to,
 * so the optimum first has the most real pairs, then the least distance;
 * pairs at cost big are then dropped. */
static int match_cluster(const double *tx, const double *ty, const long *ti, int nt,
                         const double *ex, const double *ey, const long *ei, int ne,
                         double radius, long *t2e, long *e2t, long *pairs, sl_err *err)
{
    int swap = nt > ne, n = swap ? ne : nt, m = swap ? nt : ne;
    double big = (radius + 1) * (n + 1) * 2;
    double *cost = malloc((size_t)n * m * sizeof *cost);
    int *r2c = malloc((size_t)n * sizeof *r2c);
    if (!cost || !r2c) {
        free(cost);
        free(r2c);
        return sl_err_set(err, "out of memory for a cluster of %d x %d sources", nt, ne);
    }
    for (int a = 0; a < nt; a++)
        for (int b = 0; b < ne; b++) {
            double d = hypot(tx[ti[a]] - ex[ei[b]], ty[ti[a]] - ey[ei[b]]);
            cost[swap ? (size_t)b * m + a : (size_t)a * m + b] = d <= radius ? d : big;
        }
    int rc = sl_calib_assign(cost, n, m, r2c, err);
    for (int r = 0; rc == 0 && r < n; r++) {
        if (cost[(size_t)r * m + r2c[r]] >= big)
            continue;
        long t = swap ? ti[r2c[r]] : ti[r], e = swap ? ei[r] : ei[r2c[r]];
        t2e[t] = e;
        e2t[e] = t;
        ++*pairs;
    }
    free(cost);
    free(r2c);
    return rc;
}

long sl_calib_match(const double *tx, const double *ty, long nt, const double *ex,
                    const double *ey, long ne, double radius, long *t2e, long *e2t,
                    sl_err *err)
{
    for (long i = 0; i < nt; i++)
        t2e[i] = -1;
    for (long i = 0; i < ne; i++)
        e2t[i] = -1;
    long n = nt + ne, pairs = 0, n_sorted = 0;
    /* Nodes 0..nt-1 are truths, nt.. estimates; union-find joins every pair
     * within reach, so each cluster can be solved alone: no pair crosses. */
    long *parent = malloc(((size_t)n + 1) * sizeof *parent);
    long *sorted = malloc(((size_t)ne + 1) * sizeof *sorted);
    long *order = malloc(((size_t)n + 1) * sizeof *order);
    long *root = malloc(((size_t)n + 1) * sizeof *root);
    if (!parent || !sorted || !order || !root) {
        pairs = sl_err_set(err, "out of memory matching %ld and %ld sources", nt, ne);
        goto done;
    }
    for (long i = 0; i < n; i++)
        parent[i] = i;
    for (long e = 0; e < ne; e++)
        if (isfinite(ex[e]) && isfinite(ey[e]))
            sorted[n_sorted++] = e;
    sort_key = ex;
    qsort(sorted, (size_t)n_sorted, sizeof *sorted, by_key);
    for (long t = 0; t < nt; t++) {
        if (!isfinite(tx[t]) || !isfinite(ty[t]))
            continue;
        long lo = 0, hi = n_sorted; /* first estimate with x >= tx - radius */
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            if (ex[sorted[mid]] < tx[t] - radius)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (long k = lo; k < n_sorted && ex[sorted[k]] <= tx[t] + radius; k++) {
            long e = sorted[k];
            if (hypot(tx[t] - ex[e], ty[t] - ey[e]) <= radius) {
                long a = uf_find(parent, t), b = uf_find(parent, nt + e);
                if (a != b)
                    parent[a < b ? b : a] = a < b ? a : b;
            }
        }
    }
    /* Group the nodes by cluster (sorted by root, then node). */
    double *rootd = malloc(((size_t)n + 1) * sizeof *rootd);
    if (!rootd) {
        pairs = sl_err_set(err, "out of memory matching %ld and %ld sources", nt, ne);
        goto done;
    }
    for (long i = 0; i < n; i++) {
        root[i] = uf_find(parent, i);
        rootd[i] = (double)root[i];
        order[i] = i;
    }
    sort_key = rootd;
    qsort(order, (size_t)n, sizeof *order, by_key);
    free(rootd);
    for (long a = 0; a < n;) {
        long b = a;
        while (b < n && root[order[b]] == root[order[a]])
            b++;
        /* order[a..b): truths first (smaller node numbers), then estimates. */
        long k = a;
        while (k < b && order[k] < nt)
            k++;
        if (k > a && k < b) {
            long *ti = order + a, *ei = order + k;
            for (long q = k; q < b; q++)
                ei[q - k] -= nt;
            if (match_cluster(tx, ty, ti, (int)(k - a), ex, ey, ei, (int)(b - k), radius, t2e,
                              e2t, &pairs, err) < 0) {
                pairs = -1;
                goto done;
            }
        }
        a = b;
    }
done:
    free(parent);
    free(sorted);
    free(order);
    free(root);
    return pairs;
}

/* ---- Detection ------------------------------------------------------------------ */

void sl_calib_detect_counts(long n_true, long n_match_true, long n_est, long n_match_est,
                            sl_calib_detect *out)
{
    out->n_true = n_true;
    out->n_est = n_est;
    out->n_match_true = n_match_true;
    out->n_match_est = n_match_est;
    out->precision = n_est ? (double)n_match_est / (double)n_est : NAN;
    out->recall = n_true ? (double)n_match_true / (double)n_true : NAN;
    double s = out->precision + out->recall;
    out->f1 = s > 0 ? 2 * out->precision * out->recall / s : isnan(s) ? NAN : 0;
}

/* ---- Binary factors ------------------------------------------------------------- */

int sl_calib_bin_reliability(const double *p, const unsigned char *y, long n, int n_bins,
                             int equal_count, sl_calib_reliability *out, sl_err *err)
{
    if (n_bins < 1 || n_bins > SL_CALIB_MAX_BINS)
        return sl_err_set(err, "%d reliability bins: out of range [1, %d]", n_bins,
                          SL_CALIB_MAX_BINS);
    memset(out, 0, sizeof *out);
    out->n = n;
    out->n_bins = n_bins;
    out->equal_count = equal_count;
    double sum_p[SL_CALIB_MAX_BINS] = {0}, sum_y[SL_CALIB_MAX_BINS] = {0}, brier = 0;
    for (int k = 0; k < n_bins; k++) {
        out->bin[k].lo = (double)k / n_bins;
        out->bin[k].hi = (double)(k + 1) / n_bins;
    }
    long *idx = NULL;
    if (equal_count) {
        if (!(idx = malloc(((size_t)n + 1) * sizeof *idx)))
            return sl_err_set(err, "out of memory for %ld predictions", n);
        for (long i = 0; i < n; i++)
            idx[i] = i;
        sort_key = p;
        qsort(idx, (size_t)n, sizeof *idx, by_key);
    }
    for (long s = 0; s < n; s++) {
        long i = idx ? idx[s] : s;
        int k = idx ? (int)(s * n_bins / n) : (int)(p[i] * n_bins);
        k = k < 0 ? 0 : k >= n_bins ? n_bins - 1 : k;
        if (idx && out->bin[k].n == 0)
            out->bin[k].lo = p[i];
        if (idx)
            out->bin[k].hi = p[i];
        out->bin[k].n++;
        sum_p[k] += p[i];
        sum_y[k] += y[i];
        brier += (p[i] - y[i]) * (p[i] - y[i]);
    }
    free(idx);
    out->ece = out->mce = out->brier = NAN;
    if (n == 0)
        return 0;
    out->ece = out->mce = 0;
    out->brier = brier / (double)n;
    for (int k = 0; k < n_bins; k++) {
        sl_calib_rbin *b = &out->bin[k];
        if (b->n == 0) {
            b->conf = b->freq = b->err = NAN;
            continue;
        }
        b->conf = sum_p[k] / (double)b->n;
        b->freq = sum_y[k] / (double)b->n;
        b->err = sqrt(b->conf * (1 - b->conf) / (double)b->n);
        double gap = fabs(b->freq - b->conf);
        out->ece += (double)b->n / (double)n * gap;
        out->mce = gap > out->mce ? gap : out->mce;
    }
    return 0;
}

/* ---- Coverage --------------------------------------------------------------------- */

const double sl_calib_levels[SL_CALIB_N_LEVELS] = {0.1, 0.2, 0.3, 0.4, 0.5,
                                                   0.6, 0.7, 0.8, 0.9, 0.95};

double sl_calib_pit(double z, double mu, double sigma)
{
    if (isnan(z) || isnan(mu) || !(sigma > 0))
        return NAN;
    if (isinf(z))
        return z > 0 ? 1 : 0;
    return sl_normal_cdf((z - mu) / sigma);
}

const char *sl_calib_verdict_name(int verdict)
{
    switch (verdict) {
    case SL_CALIB_OK: return "ok";
    case SL_CALIB_OVER: return "over-confident";
    case SL_CALIB_UNDER: return "under-confident";
    case SL_CALIB_MIXED: return "miscalibrated";
    default: return "-";
    }
}

double sl_calib_band_z(double alpha)
{
    return sl_normal_quantile(1 - alpha / (2.0 * SL_CALIB_N_LEVELS));
}

void sl_calib_coverage_from_pit(const double *pit, long n, double alpha,
                                sl_calib_coverage *out)
{
    memset(out, 0, sizeof *out);
    long covered[SL_CALIB_N_LEVELS] = {0};
    for (long i = 0; i < n; i++) {
        if (isnan(pit[i]))
            continue;
        out->n++;
        double dev = fabs(pit[i] - 0.5);
        for (int l = 0; l < SL_CALIB_N_LEVELS; l++)
            covered[l] += dev <= sl_calib_levels[l] / 2;
    }
    double z = sl_calib_band_z(alpha);
    int low = 0, high = 0;
    for (int l = 0; l < SL_CALIB_N_LEVELS; l++) {
        double L = sl_calib_levels[l];
        if (out->n == 0) {
            out->cover[l] = out->err[l] = out->band[l] = NAN;
            continue;
        }
        out->cover[l] = (double)covered[l] / (double)out->n;
        out->err[l] = sqrt(L * (1 - L) / (double)out->n);
        out->band[l] = z * out->err[l];
        out->flag[l] = out->cover[l] < L - out->band[l] ? -1 : out->cover[l] > L + out->band[l];
        low += out->flag[l] < 0;
        high += out->flag[l] > 0;
    }
    out->verdict = out->n == 0        ? SL_CALIB_NONE
                   : low && high      ? SL_CALIB_MIXED
                   : low              ? SL_CALIB_OVER
                   : high             ? SL_CALIB_UNDER
                                      : SL_CALIB_OK;
}

/* ---- Simulation-based calibration -------------------------------------------- */

int sl_calib_sbc_rank(double pit, int L, sl_rng *r)
{
    if (isnan(pit))
        return -1;
    int rank = 0;
    for (int k = 0; k < L; k++)
        rank += sl_rng_uniform(r) < pit;
    return rank;
}

int sl_calib_sbc_bins(int L, long n, int max_bins)
{
    if (max_bins > SL_CALIB_MAX_SBC_BINS)
        max_bins = SL_CALIB_MAX_SBC_BINS;
    for (int b = max_bins; b >= 2; b--)
        if ((L + 1) % b == 0 && (double)n / b >= 5)
            return b;
    return 1;
}

int sl_calib_rank_histogram(const int *ranks, long n, int L, int n_bins, sl_calib_sbc *out,
                            sl_err *err)
{
    if (L < 1 || n_bins < 1 || n_bins > SL_CALIB_MAX_SBC_BINS || (L + 1) % n_bins != 0)
        return sl_err_set(err, "%d rank bins for ranks 0..%d: must divide %d, at most %d",
                          n_bins, L, L + 1, SL_CALIB_MAX_SBC_BINS);
    memset(out, 0, sizeof *out);
    out->n = n;
    out->L = L;
    out->n_bins = n_bins;
    int per_bin = (L + 1) / n_bins;
    for (long i = 0; i < n; i++) {
        if (ranks[i] < 0 || ranks[i] > L)
            return sl_err_set(err, "rank %d: outside 0..%d", ranks[i], L);
        out->count[ranks[i] / per_bin]++;
    }
    out->dof = n_bins - 1;
    out->chi2 = out->p_value = NAN;
    if (n_bins < 2 || n == 0)
        return 0;
    double expect = (double)n / n_bins;
    out->chi2 = 0;
    for (int b = 0; b < n_bins; b++)
        out->chi2 += (out->count[b] - expect) * (out->count[b] - expect) / expect;
    out->p_value = sl_gamma_q(out->dof / 2.0, out->chi2 / 2);
    return 0;
}

/* ---- TARP ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted x[0..n), linear between order statistics. */
static double quantile_sorted(const double *x, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1)
        return x[n - 1];
    return x[i] + (pos - i) * (x[i + 1] - x[i]);
}

/* f for one system: the fraction of posterior draws nearer the reference
 * than the truth, as a randomized rank (k + U) / (N + 1) so that it is
 * exactly uniform under calibration (k alone is uniform on 0..N, whose
 * steps would bend the curve at the ends). */
static double tarp_fraction(const double *z, const double *mu, const double *chol, int d,
                            const double *mean, const double *sd, const double *lo,
                            const double *hi, int n_samples, sl_rng *r)
{
    double ref[16], dt = 0;
    for (int j = 0; j < d; j++) {
        ref[j] = lo[j] + (hi[j] - lo[j]) * sl_rng_uniform(r);
        double t = (z[j] - mean[j]) / sd[j] - ref[j];
        dt += t * t;
    }
    int k = 0;
    for (int s = 0; s < n_samples; s++) {
        double eps[16], ds = 0;
        for (int j = 0; j < d; j++)
            eps[j] = sl_rng_normal(r);
        for (int j = 0; j < d; j++) {
            int row = j * (j + 1) / 2; /* where row j of L starts */
            double x = mu[j];
            for (int c = 0; c <= j; c++)
                x += chol[row + c] * eps[c];
            double t = (x - mean[j]) / sd[j] - ref[j];
            ds += t * t;
        }
        k += ds < dt;
    }
    return (k + sl_rng_uniform(r)) / (n_samples + 1.0);
}

/* ECP on the alpha grid from f values (by index list idx, or all). */
static void tarp_ecp(const double *f, const long *idx, long n, double *ecp)
{
    long count[SL_CALIB_TARP_ALPHAS] = {0};
    for (long i = 0; i < n; i++) {
        double v = f[idx ? idx[i] : i];
        /* f < alpha_k = k / (A - 1) for every k above v (A - 1) */
        int k = (int)floor(v * (SL_CALIB_TARP_ALPHAS - 1)) + 1;
        if (k < SL_CALIB_TARP_ALPHAS)
            count[k]++;
    }
    long cum = 0;
    for (int k = 0; k < SL_CALIB_TARP_ALPHAS; k++) {
        cum += count[k];
        ecp[k] = n ? (double)cum / (double)n : NAN;
    }
}

double sl_calib_kolmogorov_q(double t)
{
    if (!(t > 0))
        return 1;
    if (t < 1) { /* the theta-function form converges fast for small t */
        double sum = 0;
        for (int k = 1; k <= 20; k++) {
            double j = 2 * k - 1;
            sum += exp(-j * j * M_PI * M_PI / (8 * t * t));
        }
        return 1 - sqrt(2 * M_PI) / t * sum;
    }
    double sum = 0;
    for (int k = 1; k <= 100; k++)
        sum += (k % 2 ? 2.0 : -2.0) * exp(-2.0 * k * k * t * t);
    return sum > 0 ? sum : 0;
}

/* Kolmogorov-Smirnov distance of f[0..n) (sorted here) from U(0, 1), and its
 * p-value with Stephens' (1970) finite-n correction. */
static void ks_uniform(double *f, long n, double *d, double *p)
{
    qsort(f, (size_t)n, sizeof *f, cmp_double);
    double dmax = 0;
    for (long i = 0; i < n; i++) {
        double above = (double)(i + 1) / (double)n - f[i], below = f[i] - (double)i / (double)n;
        dmax = fmax(dmax, fmax(above, below));
    }
    double sn = sqrt((double)n);
    *d = n ? dmax : NAN;
    *p = n ? sl_calib_kolmogorov_q((sn + 0.12 + 0.11 / sn) * dmax) : NAN;
}

int sl_calib_tarp_curve(const double *z, const double *mu, const double *chol, long n, int d,
                        int n_samples, int n_boot, uint64_t seed, sl_calib_tarp *out, sl_err *err)
{
    if (d < 1 || d > 16 || n_samples < 1 || n_boot < 0)
        return sl_err_set(err, "TARP of %d coordinates, %d draws, %d resamples: out of range",
                          d, n_samples, n_boot);
    memset(out, 0, sizeof *out);
    out->d = d;
    out->n_samples = n_samples;
    out->n_boot = n_boot;
    int nc = d * (d + 1) / 2;
    long *valid = malloc(((size_t)n + 1) * sizeof *valid);
    double *f = malloc(((size_t)n + 1) * sizeof *f);
    double *boot = malloc(((size_t)n_boot + 1) * SL_CALIB_TARP_ALPHAS * sizeof *boot);
    long *idx = malloc(((size_t)n + 1) * sizeof *idx);
    double *col = malloc(((size_t)n_boot + 1) * sizeof *col);
    if (!valid || !f || !boot || !idx || !col) {
        free(valid), free(f), free(boot), free(idx), free(col);
        return sl_err_set(err, "out of memory for TARP of %ld systems", n);
    }
    long nv = 0;
    for (long i = 0; i < n; i++) {
        int ok = 1;
        for (int j = 0; j < d; j++)
            ok &= isfinite(z[i * d + j]) && isfinite(mu[i * d + j]);
        for (int j = 0; j < nc; j++)
            ok &= isfinite(chol[i * nc + j]);
        if (ok)
            valid[nv++] = i;
    }
    double mean[16] = {0}, sd[16] = {0}, lo[16], hi[16];
    for (int j = 0; j < d; j++) {
        for (long k = 0; k < nv; k++)
            mean[j] += z[valid[k] * d + j] / (double)nv;
        for (long k = 0; k < nv; k++)
            sd[j] += (z[valid[k] * d + j] - mean[j]) * (z[valid[k] * d + j] - mean[j]);
        sd[j] = nv > 1 && sd[j] > 0 ? sqrt(sd[j] / (double)(nv - 1)) : 1;
        lo[j] = INFINITY, hi[j] = -INFINITY;
        for (long k = 0; k < nv; k++) {
            double t = (z[valid[k] * d + j] - mean[j]) / sd[j];
            lo[j] = t < lo[j] ? t : lo[j];
            hi[j] = t > hi[j] ? t : hi[j];
        }
    }
    for (long k = 0; k < nv; k++) {
        long i = valid[k];
        sl_rng r;
        sl_rng_init(&r, seed, (uint64_t)i, SL_RNG_TARP_SYSTEM);
        f[k] = tarp_fraction(z + i * d, mu + i * d, chol + i * nc, d, mean, sd, lo, hi,
                             n_samples, &r);
    }
    out->n = nv;
    for (int a = 0; a < SL_CALIB_TARP_ALPHAS; a++)
        out->alpha[a] = (double)a / (SL_CALIB_TARP_ALPHAS - 1);
    tarp_ecp(f, NULL, nv, out->ecp);
    for (int b = 0; b < n_boot && nv > 0; b++) {
        sl_rng r;
        sl_rng_init(&r, seed, (uint64_t)b, SL_RNG_TARP_BOOT);
        for (long k = 0; k < nv; k++)
            idx[k] = (long)sl_rng_below(&r, (uint64_t)nv);
        tarp_ecp(f, idx, nv, boot + (size_t)b * SL_CALIB_TARP_ALPHAS);
    }
    out->max_dev = out->atc = 0;
    for (int a = 0; a < SL_CALIB_TARP_ALPHAS; a++) {
        for (int b = 0; b < n_boot; b++)
            col[b] = boot[(size_t)b * SL_CALIB_TARP_ALPHAS + a];
        qsort(col, (size_t)n_boot, sizeof *col, cmp_double);
        int nb = nv > 0 ? n_boot : 0;
        out->lo95[a] = nb ? quantile_sorted(col, nb, 0.025) : NAN;
        out->lo68[a] = nb ? quantile_sorted(col, nb, 0.16) : NAN;
        out->hi68[a] = nb ? quantile_sorted(col, nb, 0.84) : NAN;
        out->hi95[a] = nb ? quantile_sorted(col, nb, 0.975) : NAN;
        double dev = fabs(out->ecp[a] - out->alpha[a]);
        out->max_dev = dev > out->max_dev ? dev : out->max_dev;
        out->atc += dev / SL_CALIB_TARP_ALPHAS;
    }
    if (nv == 0)
        out->max_dev = out->atc = NAN;
    ks_uniform(f, nv, &out->ks_d, &out->ks_p); /* last: it sorts f */
    free(valid), free(f), free(boot), free(idx), free(col);
    return 0;
}

/* ---- Point accuracy ------------------------------------------------------------- */

double sl_calib_median(double *x, long n)
{
    if (n == 0)
        return NAN;
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

int sl_calib_point_accuracy(const double *t, const double *m, const double *q16,
                            const double *q50, const double *q84, long n, double period,
                            int ratio_scale, sl_calib_point *out, sl_err *err)
{
    double *abs_err = malloc(((size_t)n + 1) * sizeof *abs_err);
    double *frac = malloc(((size_t)n + 1) * sizeof *frac);
    double *prec = malloc(((size_t)n + 1) * sizeof *prec);
    if (!abs_err || !frac || !prec) {
        free(abs_err), free(frac), free(prec);
        return sl_err_set(err, "out of memory for %ld pairs", n);
    }
    long k = 0, n_frac = 0, n_prec = 0;
    double sum_t = 0, sum_d = 0, sum_d2 = 0;
    for (long i = 0; i < n; i++) {
        if (isnan(t[i]) || isnan(m[i]))
            continue;
        double d = m[i] - t[i];
        if (period > 0)
            d -= period * floor(d / period + 0.5);
        abs_err[k++] = fabs(d);
        sum_t += t[i];
        sum_d += d;
        sum_d2 += d * d;
        if (ratio_scale && t[i] != 0)
            frac[n_frac++] = fabs(d) / fabs(t[i]);
        if (ratio_scale && q16 && q50 && q84 && isfinite(q16[i]) && isfinite(q84[i]) &&
            q50[i] != 0 && isfinite(q50[i]))
            prec[n_prec++] = (q84[i] - q16[i]) / (2 * fabs(q50[i]));
    }
    double ss = 0, mean_t = k ? sum_t / (double)k : NAN;
    for (long i = 0; i < n; i++)
        if (!isnan(t[i]) && !isnan(m[i]))
            ss += (t[i] - mean_t) * (t[i] - mean_t);
    out->n = k;
    out->r2 = k > 1 && ss > 0 ? 1 - sum_d2 / ss : NAN;
    out->bias = k ? sum_d / (double)k : NAN;
    out->rmse = k ? sqrt(sum_d2 / (double)k) : NAN;
    out->mae = sl_calib_median(abs_err, k);
    out->frac_dev = ratio_scale ? sl_calib_median(frac, n_frac) : NAN;
    out->rel_prec = ratio_scale ? sl_calib_median(prec, n_prec) : NAN;
    free(abs_err), free(frac), free(prec);
    return 0;
}
