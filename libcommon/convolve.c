/* convolve.c: zero-padded FFT convolution with a fixed kernel.
 *
 * Why padding by half the kernel is enough: output pixel x (0 <= x < w)
 * reads input x - s for kernel offsets |s| <= k/2, so indices from -k/2 to
 * w - 1 + k/2.  In a circular FFT of length n >= w + k/2 the negative ones
 * land on n - k/2 .. n - 1 >= w and the large ones on w .. w - 1 + k/2 < n:
 * all in the zero padding, never on the image.
 *
 * (Doing the rows, a transpose and then the columns as contiguous rows by
 * hand was tried: no faster than FFTW's own 2-D plans here.) */
#include "convolve.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

struct sl_conv {
    int w, h, k;          /* image and kernel size */
    int fw, fh, nc;       /* FFT size; nc = fw/2 + 1 complex columns */
    float *buf;           /* fh x fw real work array */
    fftwf_complex *spec;  /* fh x nc spectrum of the image */
    fftwf_complex *kspec; /* fh x nc spectrum of the kernel, / (fw fh) */
    fftwf_plan fwd, inv;
};

static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

void sl_fftw_lock(void)
{
    pthread_mutex_lock(&planner_lock);
}

void sl_fftw_unlock(void)
{
    pthread_mutex_unlock(&planner_lock);
}

int sl_fft_size(int n)
{
    for (int m = n + (n & 1);; m += 2) {
        int r = m;
        for (int p = 2; p <= 7; p++)
            while (r % p == 0)
                r /= p;
        if (r == 1)
            return m;
    }
}

sl_conv *sl_conv_new(int w, int h, const float *kernel, int ksize, sl_err *err)
{
    if (w < 1 || h < 1 || w > 65536 || h > 65536) {
        sl_err_set(err, "convolution: image size %d x %d, want 1 to 65536", w, h);
        return NULL;
    }
    if (ksize < 1 || ksize % 2 == 0 || ksize > 4095) {
        sl_err_set(err, "convolution: kernel size %d, want an odd number from 1 to "
                   "4095", ksize);
        return NULL;
    }
    int fw = sl_fft_size(w + ksize / 2), fh = sl_fft_size(h + ksize / 2);
    if ((double)fw * fh > 1 << 28) {
        sl_err_set(err, "convolution: image %d x %d with kernel %d is too large", w, h,
                   ksize);
        return NULL;
    }
    sl_conv *c = fftwf_malloc(sizeof *c);
    if (!c) {
        sl_err_set(err, "convolution: out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->w = w;
    c->h = h;
    c->k = ksize;
    c->fw = fw;
    c->fh = fh;
    c->nc = fw / 2 + 1;
    size_t nspec = (size_t)fh * c->nc;
    c->buf = fftwf_malloc((size_t)fw * fh * sizeof *c->buf);
    c->spec = fftwf_malloc(nspec * sizeof *c->spec);
    c->kspec = fftwf_malloc(nspec * sizeof *c->kspec);
    if (c->buf && c->spec && c->kspec) {
        sl_fftw_lock();
        c->fwd = fftwf_plan_dft_r2c_2d(fh, fw, c->buf, c->spec, FFTW_ESTIMATE);
        c->inv = fftwf_plan_dft_c2r_2d(fh, fw, c->spec, c->buf, FFTW_ESTIMATE);
        sl_fftw_unlock();
    }
    if (!c->fwd || !c->inv) {
        sl_conv_free(c);
        sl_err_set(err, "convolution: cannot set up a %d x %d FFT (out of memory?)",
                   fw, fh);
        return NULL;
    }
    if (sl_conv_set_kernel(c, kernel, err)) {
        sl_conv_free(c);
        return NULL;
    }
    return c;
}

void sl_conv_free(sl_conv *c)
{
    if (!c)
        return;
    if (c->fwd || c->inv) {
        sl_fftw_lock();
        if (c->fwd)
            fftwf_destroy_plan(c->fwd);
        if (c->inv)
            fftwf_destroy_plan(c->inv);
        sl_fftw_unlock();
    }
    fftwf_free(c->buf);
    fftwf_free(c->spec);
    fftwf_free(c->kspec);
    fftwf_free(c);
}

int sl_conv_set_kernel(sl_conv *c, const float *kernel, sl_err *err)
{
    int k = c->k, half = k / 2;
    for (int i = 0; i < k * k; i++)
        if (!isfinite(kernel[i]))
            return sl_err_set(err, "convolution: kernel pixel (%d, %d) is %g", i % k,
                              i / k, kernel[i]);
    /* Offset s goes to index s mod n.  A kernel wider than the FFT (tiny
     * image, big kernel) folds onto itself; adding the folded taps keeps the
     * result exact, because all they touch is padding. */
    memset(c->buf, 0, (size_t)c->fw * c->fh * sizeof *c->buf);
    for (int v = 0; v < k; v++) {
        int y = ((v - half) % c->fh + c->fh) % c->fh;
        for (int u = 0; u < k; u++) {
            int x = ((u - half) % c->fw + c->fw) % c->fw;
            c->buf[(size_t)y * c->fw + x] += kernel[v * k + u];
        }
    }
    fftwf_execute_dft_r2c(c->fwd, c->buf, c->kspec);
    /* FFTW's inverse is unnormalized: fold the 1/(fw fh) in here, once. */
    float scale = 1.0f / ((float)c->fw * (float)c->fh);
    size_t nspec = (size_t)c->fh * c->nc;
    for (size_t i = 0; i < nspec; i++) {
        c->kspec[i][0] *= scale;
        c->kspec[i][1] *= scale;
    }
    return 0;
}

void sl_conv_apply_to(sl_conv *c, const float *in, float *out)
{
    int w = c->w, h = c->h, fw = c->fw;
    for (int y = 0; y < h; y++) {
        memcpy(c->buf + (size_t)y * fw, in + (size_t)y * w, w * sizeof *in);
        memset(c->buf + (size_t)y * fw + w, 0, (fw - w) * sizeof *in);
    }
    memset(c->buf + (size_t)h * fw, 0, (size_t)(c->fh - h) * fw * sizeof *in);
    fftwf_execute(c->fwd);
    size_t nspec = (size_t)c->fh * c->nc;
    fftwf_complex *s = c->spec, *k = c->kspec;
    for (size_t i = 0; i < nspec; i++) {
        float re = s[i][0] * k[i][0] - s[i][1] * k[i][1];
        float im = s[i][0] * k[i][1] + s[i][1] * k[i][0];
        s[i][0] = re;
        s[i][1] = im;
    }
    fftwf_execute(c->inv);
    for (int y = 0; y < h; y++)
        memcpy(out + (size_t)y * w, c->buf + (size_t)y * fw, w * sizeof *out);
}

void sl_conv_apply(sl_conv *c, float *image)
{
    sl_conv_apply_to(c, image, image);
}

void sl_conv_fft_size(const sl_conv *c, int *fw, int *fh)
{
    *fw = c->fw;
    *fh = c->fh;
}
