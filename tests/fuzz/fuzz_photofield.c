/* fuzz_photofield: SDSS photoField tables (the FITS table reader: rows,
 * FIELD, RUN, CAMCOL and the five GAIN columns) as sl-tile --photofield
 * reads them for a frame of field 136, run 2583, camcol 2, band r. */
#include "fuzz.h"

#include <fitsio.h>

#include "frame.h"
#include "image.h"

static char frame_path[64];

static void remove_frame(void) { unlink(frame_path); }

/* A 16 x 16 frame with the keywords the photoField row is chosen by. */
static void make_frame(void)
{
    int status = 0;
    fitsfile *fp;
    /* A real file (cfitsio's "!" would try to remove a /proc/self/fd name). */
    snprintf(frame_path, sizeof frame_path, "/tmp/fuzz_photofield-frame-%d.fits", (int)getpid());
    char name[80];
    snprintf(name, sizeof name, "!%s", frame_path);
    long naxes[2] = {16, 16};
    float pix[256];
    for (int i = 0; i < 256; i++)
        pix[i] = 100.0f + (float)(i % 7);
    long field = 136, run = 2583, camcol = 2;
    fits_create_file(&fp, name, &status);
    fits_create_img(fp, FLOAT_IMG, 2, naxes, &status);
    fits_write_key(fp, TSTRING, "FILTER", "r", NULL, &status);
    fits_write_key(fp, TLONG, "FRAME", &field, NULL, &status);
    fits_write_key(fp, TLONG, "RUN", &run, NULL, &status);
    fits_write_key(fp, TLONG, "CAMCOL", &camcol, NULL, &status);
    fits_write_img(fp, TFLOAT, 1, 256, pix, &status);
    fits_close_file(fp, &status);
    atexit(remove_frame);
    if (status) {
        fprintf(stderr, "fuzz_photofield: cannot write the frame (cfitsio status %d)\n", status);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!frame_path[0])
        make_frame();
    fuzz_file f = fuzz_file_make(data, size);
    if (!f.path[0])
        return 0;
    sl_frame_opts o;
    sl_frame_opts_init(&o);
    o.paths[0] = frame_path;
    o.n_paths = 1;
    o.photofield = f.path;
    o.background = 100;
    o.pixel_scale = 0.396;
    sl_err err;
    sl_image img;
    sl_image_init(&img);
    (void)sl_frame_load(&o, &img, NULL, NULL, &err);
    sl_image_free(&img);
    fuzz_file_drop(&f);
    return 0;
}
