/* fuzz_frame: FITS images as sl-tile loads them (libcommon/frame.c through
 * cfitsio): SDSS frames with their calibration HDUs (the per-column
 * calibration vector, the sky grid and its interpolation table), the gain
 * from a photoField row, the WCS pixel scale; generic images with GAIN and a
 * background estimated on a mesh. */
#include "fuzz.h"

#include "frame.h"
#include "image.h"
#include "psf.h"

static void load(const sl_frame_opts *o)
{
    sl_err err;
    sl_image img;
    sl_psf psf[SL_MAX_BANDS];
    long n_nan;
    sl_image_init(&img);
    memset(psf, 0, sizeof psf);
    if (sl_frame_load(o, &img, psf, &n_nan, &err) == 0)
        for (int b = 0; b < img.n_bands; b++)
            sl_psf_free(&psf[b]);
    sl_image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file f = fuzz_file_make(data, size);
    if (!f.path[0])
        return 0;
    sl_frame_opts o;
    /* As an SDSS frame with its photoField (gain by FRAME, RUN, CAMCOL). */
    sl_frame_opts_init(&o);
    o.paths[0] = f.path;
    o.n_paths = 1;
    o.photofield = fuzz_data("photoField-002583-2-crop.fits");
    o.psf_fwhm = 1.4;
    load(&o);
    /* As a generic image: GAIN from the header, the background estimated. */
    sl_frame_opts_init(&o);
    o.paths[0] = f.path;
    o.n_paths = 1;
    o.band_names = "r";
    o.mesh = 8;
    o.psf_fwhm = 1.4;
    load(&o);
    fuzz_file_drop(&f);
    return 0;
}
