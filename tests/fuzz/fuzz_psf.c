/* fuzz_psf: PSFs from files, as sl-tile --psfield / --psf and the psf_file
 * of a configuration read them: SDSS psField tables (HDU 6, the double
 * Gaussian plus power law of each band) and PSF images (any HDU), then
 * evaluated: FWHM, the stamp size and a rendered stamp.  The first byte
 * chooses the reader (and the band), the rest is the file. */
#include "fuzz.h"

#include "psf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_file f = fuzz_file_make(data + 1, size - 1);
    if (!f.path[0])
        return 0;
    sl_err err;
    sl_psf p;
    memset(&p, 0, sizeof p);
    int rc = (data[0] & 1) ? sl_psf_read_image(&p, f.path, (data[0] >> 1 & 3) - 1, &err)
                           : sl_psf_read_psfield(&p, f.path, "ugriz"[(data[0] >> 1) % 5], &err);
    if (rc == 0) {
        (void)sl_psf_fwhm(&p);
        (void)sl_psf_enclosed(&p, 3.0);
        int n = sl_psf_auto_size(&p, 0.99, 63);
        if (n < 1 || n > 63 || n % 2 == 0)
            n = 15;
        float out[63 * 63];
        double captured;
        (void)sl_psf_render(&p, n, 0.25, -0.4, out, &captured, &err);
        sl_psf_free(&p);
    }
    fuzz_file_drop(&f);
    return 0;
}
