/* convolve.h: FFT convolution of images with a PSF kernel (FFTW, float).
 *
 * An sl_conv holds the FFTW plans, the work buffers and the transformed
 * kernel for one image size and one kernel: make it once, apply it to as
 * many images as needed (one per band kernel for multi-band images).
 *
 *     sl_conv *c = sl_conv_new(100, 100, kernel, 25, &err);
 *     sl_conv_apply(c, image);      // in place
 *     sl_conv_free(c);
 *
 * The result is the linear convolution out(x, y) = sum K(u, v)
 * in(x - u + k/2, y - v + k/2) over the kernel, with zeros outside the
 * image ("same" size, no wrap-around): flux near the edges spills out, and
 * a delta at (x0, y0) gives the kernel centred on (x0, y0), the right way
 * round.  The kernel is ksize x ksize, ksize odd, centred on its middle
 * pixel; it is used as given (not normalized).
 *
 * The FFT size is the image size plus half the kernel, rounded up to an
 * even 2^a 3^b 5^c 7^d.  Plans are made with FFTW_ESTIMATE.  FFTW_MEASURE
 * plans are faster (measured here, 100 x 100 image, 25 x 25 kernel, FFT
 * 112 x 112: about 43 us against 57 us; 88 x 88, FFT 100 x 100: 36 against
 * 40 us) but MEASURE picks its algorithm by timing, so the result could
 * differ in the last bit between runs, shards or machines, and the same
 * seed must give byte-identical output.  ESTIMATE plans are deterministic.
 *
 * Threads: FFTW's planner is not thread-safe, so plan creation and
 * destruction take a process-wide lock (sl_fftw_lock); executing is
 * thread-safe.  Each thread must use its own sl_conv (the work buffers are
 * per object); several threads may create, use and free their own at once.
 * Any other code in the process that makes FFTW plans must hold
 * sl_fftw_lock() while it does. */
#ifndef SL_CONVOLVE_H
#define SL_CONVOLVE_H

#include "err.h"

typedef struct sl_conv sl_conv;

/* For w x h images (any sizes >= 1) and a ksize x ksize kernel (odd;
 * finite values).  Returns NULL on error. */
sl_conv *sl_conv_new(int w, int h, const float *kernel, int ksize, sl_err *err);
void sl_conv_free(sl_conv *c);

/* Replaces the kernel (same ksize) without planning again. */
int sl_conv_set_kernel(sl_conv *c, const float *kernel, sl_err *err);

/* Convolves image (w x h, row-major [y][x]) in place. */
void sl_conv_apply(sl_conv *c, float *image);
/* Convolves in into out (both w x h; they may be the same array). */
void sl_conv_apply_to(sl_conv *c, const float *in, float *out);

/* The smallest even number >= n with no prime factor above 7: FFTW is
 * fastest on those, and real transforms of even length halve neatly. */
int sl_fft_size(int n);

/* The padded FFT size chosen for this convolver. */
void sl_conv_fft_size(const sl_conv *c, int *fw, int *fh);

/* The lock around FFTW planning, for other users of FFTW. */
void sl_fftw_lock(void);
void sl_fftw_unlock(void);

#endif
