/* stamp.c: see stamp.h for the scheme. */
#include "stamp.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "convolve.h"
#include "galaxy.h"

#define MAX_SIZES 24

/* The FFT work of one stamp size. */
typedef struct size_work {
    int n;
    fftwf_complex *spec; /* n x (n/2+1) */
    float *real;         /* n x n */
    fftwf_plan inv;
    fftwf_complex *pdft; /* pixel PSF: its DFT on this grid, centred */
    int ss;              /* lensed light: sub-cells per pixel side, or 0 */
    float *fine;         /* (ss n)^2 */
    fftwf_complex *fspec;
    fftwf_plan fwd;
    /* The alias terms of each frequency (my, mx), fixed by n: the term
     * indices along x and y (into the stamper's tx, ty), P^ times the pixel
     * sincs, and k; entries of frequency f are first[f] .. first[f+1]-1. */
    int *first, *ix, *iy;
    double *pb, *kx, *ky;
} size_work;

/* One term of the alias sum along an axis. */
typedef struct term {
    double k, box, re, im;
} term;

struct sl_stamper {
    sl_psf_ft ft;
    int pixel;
    float *pix;          /* pixel PSF image, pw x ph */
    int pw, ph;
    double r_psf[32];    /* radius where the PSF falls below 10^-j of its flux per pixel^2 */
    int w, h, n_max;
    size_work work[MAX_SIZES];
    int n_work;
    term *tx, *ty;       /* per frequency: up to per_freq terms */
    int *cx, *cy;        /* terms per frequency */
    int per_freq, cap_freq;
};

static void work_free(size_work *z)
{
    sl_fftw_lock();
    if (z->inv)
        fftwf_destroy_plan(z->inv);
    if (z->fwd)
        fftwf_destroy_plan(z->fwd);
    sl_fftw_unlock();
    fftwf_free(z->spec);
    fftwf_free(z->real);
    fftwf_free(z->pdft);
    fftwf_free(z->fine);
    fftwf_free(z->fspec);
    free(z->first);
    free(z->ix);
    free(z->iy);
    free(z->pb);
    free(z->kx);
    free(z->ky);
}

void sl_stamper_free(sl_stamper *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_work; i++)
        work_free(&s->work[i]);
    sl_psf_ft_free(&s->ft);
    free(s->pix);
    free(s->tx);
    free(s->ty);
    free(s->cx);
    free(s->cy);
    free(s);
}

/* r[j]: the radius beyond which the PSF's surface brightness stays below
 * 10^-j per pixel^2 of its flux (its profile decreases outwards). */
static void psf_radii(const sl_psf *p, double *r)
{
    for (int j = 0; j < 32; j++) {
        if (p->kind == SL_PSF_PIXEL) {
            r[j] = 0.5 * hypot(p->pw, p->ph) + 1;
            continue;
        }
        double x = j ? r[j - 1] : 0.5;
        while (x < 4096 && sl_psf_profile(p, x) > pow(10, -j))
            x *= 1.05;
        r[j] = x;
    }
}

sl_stamper *sl_stamper_new(const sl_psf *psf, int w, int h, sl_err *err)
{
    sl_stamper *s = calloc(1, sizeof *s);
    if (!s) {
        sl_err_set(err, "out of memory for a stamper");
        return NULL;
    }
    s->pixel = psf->kind == SL_PSF_PIXEL;
    if (s->pixel) {
        s->pw = psf->pw;
        s->ph = psf->ph;
        if (!(s->pix = malloc((size_t)s->pw * s->ph * sizeof *s->pix))) {
            sl_stamper_free(s);
            sl_err_set(err, "out of memory for a stamper");
            return NULL;
        }
        memcpy(s->pix, psf->pix, (size_t)s->pw * s->ph * sizeof *s->pix);
    } else if (sl_psf_ft_init(&s->ft, psf, err) < 0) {
        sl_stamper_free(s);
        return NULL;
    }
    psf_radii(psf, s->r_psf);
    s->w = w;
    s->h = h;
    int big = w > h ? w : h;
    /* A stamp centred on a source inside the image that is this wide
     * covers the image and the PSF's reach: light that wraps lands outside. */
    s->n_max = sl_fft_size(2 * big + 2 * (int)ceil(s->r_psf[6]) + 4);
    /* Terms per frequency along an axis: those with |k| <= k_max. */
    s->per_freq = s->pixel ? 1 : 2 * (int)ceil(s->ft.k_max / (2 * M_PI)) + 2;
    return s;
}

int sl_stamper_size(const sl_stamper *s, double r, double level)
{
    int j = level >= 1 ? 0 : level <= 1e-31 ? 31 : (int)ceil(-log10(level));
    double need = 2 * ceil(r + s->r_psf[j]) + 4;
    if (s->pixel && need < s->pw + 2)
        need = s->pw + 2;
    if (s->pixel && need < s->ph + 2)
        need = s->ph + 2;
    int n = need > s->n_max ? s->n_max : sl_fft_size((int)need);
    return n < 8 ? 8 : n;
}

/* The pixel PSF's DFT on an n x n grid, its centre moved to the origin. */
static void pixel_dft(const sl_stamper *s, size_work *z)
{
    int n = z->n, nc = n / 2 + 1;
    memset(z->real, 0, (size_t)n * n * sizeof *z->real);
    for (int y = 0; y < s->ph && y < n; y++)
        for (int x = 0; x < s->pw && x < n; x++)
            z->real[y * n + x] = s->pix[y * s->pw + x];
    fftwf_plan p;
    sl_fftw_lock();
    p = fftwf_plan_dft_r2c_2d(n, n, z->real, z->pdft, FFTW_ESTIMATE);
    sl_fftw_unlock();
    fftwf_execute(p);
    sl_fftw_lock();
    fftwf_destroy_plan(p);
    sl_fftw_unlock();
    double cx = (s->pw - 1) / 2.0, cy = (s->ph - 1) / 2.0;
    for (int my = 0; my < n; my++)
        for (int mx = 0; mx < nc; mx++) {
            double ky = 2 * M_PI * (my < n / 2 ? my : my - n) / n, kx = 2 * M_PI * mx / n;
            double ph = kx * cx + ky * cy, c = cos(ph), sn = sin(ph);
            fftwf_complex *v = &z->pdft[my * nc + mx];
            double re = (*v)[0], im = (*v)[1];
            (*v)[0] = (float)(re * c - im * sn);
            (*v)[1] = (float)(re * sn + im * c);
        }
}

static int terms_reserve(sl_stamper *s, int n)
{
    if (n <= s->cap_freq)
        return 0;
    free(s->tx);
    free(s->ty);
    free(s->cx);
    free(s->cy);
    s->tx = malloc((size_t)n * s->per_freq * sizeof *s->tx);
    s->ty = malloc((size_t)n * s->per_freq * sizeof *s->ty);
    s->cx = malloc((size_t)n * sizeof *s->cx);
    s->cy = malloc((size_t)n * sizeof *s->cy);
    s->cap_freq = s->tx && s->ty && s->cx && s->cy ? n : 0;
    return s->cap_freq ? 0 : -1;
}

/* The alias terms along one axis for the frequencies m = 0 .. nf-1 (signed
 * when the axis is the full one): k, pixel box sinc and the phase e^(-i k d). */
static void axis_terms(const sl_stamper *s, int n, int nf, int full, double d, term *t, int *count)
{
    double kmax = s->pixel ? INFINITY : s->ft.k_max;
    for (int m = 0; m < nf; m++) {
        int mm = full && m >= n / 2 ? m - n : m;
        double k0 = 2 * M_PI * mm / n;
        int lo = s->pixel ? 0 : (int)ceil((-kmax - k0) / (2 * M_PI));
        int hi = s->pixel ? 0 : (int)floor((kmax - k0) / (2 * M_PI));
        int c = 0;
        for (int l = lo; l <= hi && c < s->per_freq; l++, c++) {
            term *e = &t[m * s->per_freq + c];
            e->k = k0 + 2 * M_PI * l;
            e->box = s->pixel ? 1 : sl_sinc(e->k / 2);
            e->re = cos(e->k * d);
            e->im = -sin(e->k * d);
        }
        count[m] = c;
    }
}

/* The alias terms of every frequency of an n x n stamp (see size_work). */
static int work_terms(sl_stamper *s, size_work *z)
{
    int n = z->n, nc = n / 2 + 1, pf = s->per_freq;
    if (terms_reserve(s, n) < 0)
        return -1;
    axis_terms(s, n, nc, 0, 0, s->tx, s->cx);
    axis_terms(s, n, n, 1, 0, s->ty, s->cy);
    double kmax2 = s->pixel ? INFINITY : s->ft.k_max * s->ft.k_max;
    size_t cap = 0; /* the entries, counted first: most pairs lie beyond k_max */
    for (int my = 0; my < n; my++)
        for (int mx = 0; mx < nc; mx++)
            for (int a = 0; a < s->cy[my]; a++)
                for (int b = 0; b < s->cx[mx]; b++) {
                    double kx = s->tx[mx * pf + b].k, ky = s->ty[my * pf + a].k;
                    cap += kx * kx + ky * ky <= kmax2;
                }
    z->first = malloc(((size_t)n * nc + 1) * sizeof *z->first);
    z->ix = malloc((cap + 1) * sizeof *z->ix);
    z->iy = malloc((cap + 1) * sizeof *z->iy);
    z->pb = malloc((cap + 1) * sizeof *z->pb);
    z->kx = malloc((cap + 1) * sizeof *z->kx);
    z->ky = malloc((cap + 1) * sizeof *z->ky);
    if (!z->first || !z->ix || !z->iy || !z->pb || !z->kx || !z->ky)
        return -1;
    int e = 0;
    for (int my = 0; my < n; my++)
        for (int mx = 0; mx < nc; mx++) {
            z->first[my * nc + mx] = e;
            for (int a = 0; a < s->cy[my]; a++)
                for (int b = 0; b < s->cx[mx]; b++) {
                    const term *ty = &s->ty[my * pf + a], *tx = &s->tx[mx * pf + b];
                    double k2 = tx->k * tx->k + ty->k * ty->k;
                    if (k2 > kmax2)
                        continue;
                    z->ix[e] = mx * pf + b;
                    z->iy[e] = my * pf + a;
                    z->kx[e] = tx->k;
                    z->ky[e] = ty->k;
                    z->pb[e] = tx->box * ty->box * (s->pixel ? 1 : sl_psf_ft_eval(&s->ft, sqrt(k2)));
                    e++;
                }
        }
    z->first[n * nc] = e;
    return 0;
}

static size_work *work_get(sl_stamper *s, int n, int ss, sl_err *err)
{
    for (int i = 0; i < s->n_work; i++)
        if (s->work[i].n == n && s->work[i].ss == ss)
            return &s->work[i];
    if (s->n_work == MAX_SIZES) {
        work_free(&s->work[0]);
        memmove(s->work, s->work + 1, (MAX_SIZES - 1) * sizeof *s->work);
        s->n_work--;
    }
    size_work *z = &s->work[s->n_work];
    memset(z, 0, sizeof *z);
    z->n = n;
    z->ss = ss;
    int nc = n / 2 + 1, nf = ss * n;
    z->spec = fftwf_malloc((size_t)n * nc * sizeof *z->spec);
    z->real = fftwf_malloc((size_t)n * n * sizeof *z->real);
    if (s->pixel)
        z->pdft = fftwf_malloc((size_t)n * nc * sizeof *z->pdft);
    if (ss) {
        z->fine = fftwf_malloc((size_t)nf * nf * sizeof *z->fine);
        z->fspec = fftwf_malloc((size_t)nf * (nf / 2 + 1) * sizeof *z->fspec);
    }
    if (!z->spec || !z->real || (s->pixel && !z->pdft) || (ss && (!z->fine || !z->fspec))) {
        work_free(z);
        sl_err_set(err, "out of memory for a %d x %d stamp", n, n);
        return NULL;
    }
    sl_fftw_lock();
    z->inv = fftwf_plan_dft_c2r_2d(n, n, z->spec, z->real, FFTW_ESTIMATE);
    if (ss)
        z->fwd = fftwf_plan_dft_r2c_2d(nf, nf, z->fine, z->fspec, FFTW_ESTIMATE);
    sl_fftw_unlock();
    if (s->pixel)
        pixel_dft(s, z);
    if (!ss && work_terms(s, z) < 0) {
        work_free(z);
        sl_err_set(err, "out of memory for a %d x %d stamp", n, n);
        return NULL;
    }
    s->n_work++;
    return z;
}

/* A component ready for evaluation. */
typedef struct prep {
    double flux, a, q, cb, sb;
    const sl_sersic_ft *tab;
} prep;

/* G^ of the source at (kx, ky): 1 for a point. */
static inline double source_ft(const prep *p, int ncomp, double kx, double ky)
{
    if (!ncomp)
        return 1;
    double g = 0;
    for (int c = 0; c < ncomp; c++) {
        double u = kx * p[c].cb + ky * p[c].sb, v = p[c].q * (ky * p[c].cb - kx * p[c].sb);
        g += p[c].flux * sl_sersic_ft_fast(p[c].tab, (float)(p[c].a * p[c].a * (u * u + v * v)));
    }
    return g;
}

/* Inverse transform of z->spec into the stamp. */
static void finish(size_work *z, int x0, int y0, sl_stamp *out)
{
    fftwf_execute(z->inv);
    float norm = 1.0f / ((float)z->n * (float)z->n);
    for (int i = 0; i < z->n * z->n; i++)
        z->real[i] *= norm;
    out->x0 = x0;
    out->y0 = y0;
    out->n = z->n;
    out->pix = z->real;
}

/* The radius outside which the source's surface brightness is below its
 * sb_floor (along the major axis: the ellipse's widest extent). */
static double source_radius(const sl_stamp_src *src)
{
    double r = 0;
    for (int c = 0; c < src->ncomp; c++) {
        const sl_stamp_comp *p = &src->comp[c];
        double b = sl_sersic_bn(p->n);
        double amp = exp(2 * p->n * log(b) - lgamma(2 * p->n)) / (2 * M_PI * p->n);
        double l = log(p->flux * amp / (p->a * p->a * p->q * src->sb_floor));
        if (l > 0)
            r = fmax(r, p->a * pow(l / b, p->n));
    }
    return r;
}

int sl_stamper_draw(sl_stamper *s, const sl_stamp_src *src, sl_stamp *out, sl_err *err)
{
    const sl_sersic_ft *tab[2];
    for (int c = 0; c < src->ncomp; c++)
        if (!(tab[c] = sl_sersic_ft_get(src->comp[c].n, err)))
            return -1;
    double total = 0;
    for (int c = 0; c < src->ncomp; c++)
        total += src->comp[c].flux;
    int n = sl_stamper_size(s, source_radius(src), src->sb_floor / (src->ncomp ? total : 1));
    int nc = n / 2 + 1;
    size_work *z = work_get(s, n, 0, err);
    if (!z)
        return -1;
    int x0 = (int)floor(src->x) - n / 2, y0 = (int)floor(src->y) - n / 2;
    axis_terms(s, n, nc, 0, src->x - x0 - 0.5, s->tx, s->cx);
    axis_terms(s, n, n, 1, src->y - y0 - 0.5, s->ty, s->cy);
    prep p[2];
    for (int c = 0; c < src->ncomp; c++)
        p[c] = (prep){src->comp[c].flux, src->comp[c].a, src->comp[c].q,
                      cos(src->comp[c].beta), sin(src->comp[c].beta), tab[c]};
    for (int f = 0; f < n * nc; f++) {
        double re = 0, im = 0;
        for (int e = z->first[f]; e < z->first[f + 1]; e++) {
            const term *tx = &s->tx[z->ix[e]], *ty = &s->ty[z->iy[e]];
            double v = z->pb[e] * source_ft(p, src->ncomp, z->kx[e], z->ky[e]);
            re += v * (tx->re * ty->re - tx->im * ty->im);
            im += v * (tx->re * ty->im + tx->im * ty->re);
        }
        if (s->pixel) {
            const float *q = z->pdft[f];
            double r2 = re * q[0] - im * q[1];
            im = re * q[1] + im * q[0];
            re = r2;
        }
        z->spec[f][0] = (float)re;
        z->spec[f][1] = (float)im;
    }
    finish(z, x0, y0, out);
    return 0;
}

void sl_stamp_add(const sl_stamp *st, double k, float *img, int w, int h)
{
    float kf = (float)k;
    for (int v = 0; v < st->n; v++) {
        int y = st->y0 + v;
        if (y < 0 || y >= h)
            continue;
        int u0 = st->x0 < 0 ? -st->x0 : 0, u1 = st->x0 + st->n > w ? w - st->x0 : st->n;
        float *row = img + (size_t)y * w + st->x0;
        const float *src = st->pix + (size_t)v * st->n;
        for (int u = u0; u < u1; u++)
            row[u] += kf * src[u];
    }
}

/* Per axis, for the frequencies q = m + l n of the fine grid folded onto
 * m: the sub-cell centres' phase e^(i k off), times the pixel sinc, over
 * the sub-cell sinc (which the sub-cell integrals carry). */
static void fine_axis(const sl_stamper *s, int n, int ss, int nf, int full, double *fre,
                      double *fim, double *fk)
{
    int h = (ss - 1) / 2;
    double off = (ss - 1) / (2.0 * ss);
    for (int m = 0; m < nf; m++) {
        int mm = full && m >= n / 2 ? m - n : m;
        for (int l = -h; l <= h; l++) {
            double k = 2 * M_PI * (mm + l * n) / n;
            double box = s->pixel ? 1 : sl_sinc(k / 2);
            double v = box / sl_sinc(k / (2 * ss));
            int i = m * ss + l + h;
            fk[i] = k;
            fre[i] = v * cos(k * off);
            fim[i] = v * sin(k * off);
        }
    }
}

/* The fine grid's coefficient at frequency (qx, qy), from its r2c half. */
static void fine_coef(const size_work *z, int qx, int qy, double *re, double *im)
{
    int nf = z->ss * z->n, nfc = nf / 2 + 1, conj = qx < 0;
    if (conj) {
        qx = -qx;
        qy = -qy;
    }
    qy = ((qy % nf) + nf) % nf;
    const float *a = z->fspec[(size_t)qy * nfc + qx];
    *re = a[0];
    *im = conj ? -a[1] : a[1];
}

int sl_stamper_draw_fine(sl_stamper *s, const float *fine, int ss, int x0, int y0, int n,
                         sl_stamp *out, sl_err *err)
{
    size_work *z = work_get(s, n, ss, err);
    if (!z)
        return -1;
    int nf = ss * n, nc = n / 2 + 1, h = (ss - 1) / 2;
    double *buf = malloc((size_t)6 * n * ss * sizeof *buf);
    if (!buf)
        return sl_err_set(err, "out of memory for a %d x %d stamp", n, n);
    double *xre = buf, *xim = xre + n * ss, *xk = xim + n * ss;
    double *yre = xk + n * ss, *yim = yre + n * ss, *yk = yim + n * ss;
    fine_axis(s, n, ss, nc, 0, xre, xim, xk);
    fine_axis(s, n, ss, n, 1, yre, yim, yk);
    memcpy(z->fine, fine, (size_t)nf * nf * sizeof *z->fine);
    fftwf_execute(z->fwd);
    double kmax2 = s->pixel ? INFINITY : s->ft.k_max * s->ft.k_max;
    for (int my = 0; my < n; my++) {
        int mmy = my >= n / 2 ? my - n : my;
        for (int mx = 0; mx < nc; mx++) {
            double re = 0, im = 0;
            for (int ly = -h; ly <= h; ly++)
                for (int lx = -h; lx <= h; lx++) {
                    int iy = my * ss + ly + h, ix = mx * ss + lx + h;
                    double k2 = xk[ix] * xk[ix] + yk[iy] * yk[iy];
                    if (k2 > kmax2 || (s->pixel && (lx || ly)))
                        continue;
                    double ar, ai;
                    fine_coef(z, mx + lx * n, mmy + ly * n, &ar, &ai);
                    double fr = xre[ix] * yre[iy] - xim[ix] * yim[iy];
                    double fi = xre[ix] * yim[iy] + xim[ix] * yre[iy];
                    double p = s->pixel ? 1 : sl_psf_ft_eval(&s->ft, sqrt(k2));
                    re += p * (ar * fr - ai * fi);
                    im += p * (ar * fi + ai * fr);
                }
            if (s->pixel) {
                const float *p = z->pdft[my * nc + mx];
                double r2 = re * p[0] - im * p[1];
                im = re * p[1] + im * p[0];
                re = r2;
            }
            z->spec[my * nc + mx][0] = (float)re;
            z->spec[my * nc + mx][1] = (float)im;
        }
    }
    free(buf);
    finish(z, x0, y0, out);
    return 0;
}
