/* calib_rank.c: how well a score ranks items (see calib.h, "Ranking"): ROC
 * and precision-recall curves with their areas, the best operating point at
 * a purity, and quantiles.  Used for end-to-end lens finding, where the
 * score is P(lens) of every estimate in the images. */
#include "calib.h"

#include <math.h>
#include <stdlib.h>

typedef struct scored {
    double s;
    unsigned char y;
} scored;

/* Decreasing score. */
static int by_score_desc(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x < y) - (x > y);
}

static double score_of(double s)
{
    return isnan(s) ? 0 : s;
}

/* AUC and AP from items sorted by decreasing score, tie group by tie group. */
static void areas(const scored *v, long n, long n_pos, long n_relevant, sl_calib_ranking *out)
{
    long n_neg = n - n_pos, tp = 0, fp = 0;
    double auc = 0, ap = 0;
    for (long i = 0; i < n;) {
        long gp = 0, gn = 0, j = i;
        for (; j < n && v[j].s == v[i].s; j++)
            gp += v[j].y, gn += !v[j].y;
        /* Each of the group's negatives is outranked by every positive above
         * it and ties with the group's positives. */
        auc += (double)gn * ((double)tp + 0.5 * (double)gp);
        tp += gp, fp += gn;
        ap += (double)gp * (double)tp / (double)(tp + fp);
        i = j;
    }
    out->auc = n_pos > 0 && n_neg > 0 ? auc / ((double)n_pos * (double)n_neg) : NAN;
    out->ap = n_relevant > 0 ? ap / (double)n_relevant : NAN;
}

int sl_calib_rank_scores(const double *score, const unsigned char *y, long n, long n_relevant,
                         sl_calib_ranking *out, sl_err *err)
{
    scored *v = malloc(((size_t)n + 1) * sizeof *v);
    if (!v)
        return sl_err_set(err, "out of memory");
    long n_pos = 0;
    for (long i = 0; i < n; i++) {
        v[i].s = score_of(score[i]);
        v[i].y = y[i] != 0;
        n_pos += v[i].y;
    }
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    out->n = n;
    out->n_pos = n_pos;
    out->n_relevant = n_relevant;
    areas(v, n, n_pos, n_relevant, out);
    long i = 0, tp = 0, fp = 0; /* thresholds falling, items taken in */
    for (int k = SL_CALIB_CURVE_POINTS - 1; k >= 0; k--) {
        double t = (double)k / (SL_CALIB_CURVE_POINTS - 1);
        out->threshold[k] = t;
        for (; i < n && v[i].s >= t; i++)
            tp += v[i].y, fp += !v[i].y;
        out->tpr[k] = n_pos ? (double)tp / (double)n_pos : NAN;
        out->fpr[k] = n - n_pos ? (double)fp / (double)(n - n_pos) : NAN;
        out->recall[k] = n_relevant ? (double)tp / (double)n_relevant : NAN;
        out->precision[k] = tp + fp ? (double)tp / (double)(tp + fp) : NAN;
    }
    free(v);
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

int sl_calib_at_purity(const double *score, const unsigned char *hit, long n, const double *best,
                       long m, double min_purity, double *threshold, double *completeness,
                       double *purity, sl_err *err)
{
    *threshold = *completeness = *purity = NAN;
    scored *v = malloc(((size_t)n + 1) * sizeof *v);
    double *b = malloc(((size_t)m + 1) * sizeof *b);
    if (!v || !b) {
        free(v);
        free(b);
        return sl_err_set(err, "out of memory");
    }
    for (long i = 0; i < n; i++)
        v[i] = (scored){score_of(score[i]), hit[i] != 0};
    for (long k = 0; k < m; k++)
        b[k] = isnan(best[k]) ? -INFINITY : best[k];
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    qsort(b, (size_t)m, sizeof *b, cmp_desc);
    long right = 0, found = 0, k = 0;
    int reached = 0;
    for (long i = 0; i < n;) {
        double t = v[i].s;
        for (; i < n && v[i].s == t; i++)
            right += v[i].y;
        if ((double)right / (double)i < min_purity)
            continue;
        for (; k < m && b[k] >= t; k++)
            found++;
        reached = 1;
        *threshold = t;
        *completeness = m ? (double)found / (double)m : NAN;
        *purity = (double)right / (double)i;
    }
    free(v);
    free(b);
    return reached;
}

double sl_calib_quantile(double *x, long n, double q)
{
    if (n <= 0)
        return NAN;
    qsort(x, (size_t)n, sizeof *x, cmp_desc);
    double h = (double)(n - 1) * (1 - q); /* x is in decreasing order */
    long lo = (long)floor(h);
    long hi = lo + 1 < n ? lo + 1 : lo;
    return x[lo] + (h - (double)lo) * (x[hi] - x[lo]);
}
