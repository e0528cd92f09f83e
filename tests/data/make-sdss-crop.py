#!/usr/bin/python3
"""make-sdss-crop.py: small SDSS test files for tests/unit/test_frame.c.

Makes, from the SDSS DR12 files of run 2583, camcol 2, field 136 in
/work/shared/data/sdss-2583-2-136/ (see its README.md):

  sdss-crop-r-002583-2-0136.fits
      frame-r-002583-2-0136.fits cut to columns [250, 506) and rows
      [600, 856), 256 x 256 pixels holding the region x 310-410, y 630-730 of
      the Hubble catalogue.  The SDSS frame layout is kept so that the loader
      recognises it as an SDSS frame:
        HDU 0  the image, in nanomaggies, sky-subtracted; header copied with
               CRPIX1 and CRPIX2 shifted by the crop origin (the WCS stays
               valid) and HISTORY cards saying where the crop came from;
        HDU 1  the calibration vector (nanomaggies per count), those columns;
        HDU 2  the sky table: ALLSKY whole (256 x 192 grid, TDIM kept),
               XINTERP and YINTERP cut to the same columns and rows, so that
               the sky interpolated at every pixel is the uncropped one;
        HDU 3  the astrometry/frame table, copied unchanged (it describes the
               whole frame: NAXIS there is still 2048 x 1489).
  photoField-002583-2-crop.fits
      photoField-002583-2.fits (650 KB, 227 fields) reduced to the rows of
      fields 135, 136 and 137, every column kept.

Usage (from the repository root, with the .bz2 frame decompressed elsewhere):
    bunzip2 -kc /work/shared/data/sdss-2583-2-136/frame-r-002583-2-0136.fits.bz2 \
        > /tmp/frame-r-002583-2-0136.fits
    /usr/bin/python3 tests/data/make-sdss-crop.py /tmp/frame-r-002583-2-0136.fits
"""
import os
import sys

import numpy as np
from astropy.io import fits

SRC = "/work/shared/data/sdss-2583-2-136"
OUT = os.path.dirname(os.path.abspath(__file__))
X0, X1, Y0, Y1 = 250, 506, 600, 856
FIELDS = (135, 136, 137)


def crop_frame(frame_path):
    with fits.open(frame_path) as f:
        hdr = f[0].header.copy()
        image = f[0].data[Y0:Y1, X0:X1].astype(np.float32)
        calib = f[1].data[X0:X1].astype(np.float32)
        allsky = f[2].data["ALLSKY"][0]            # (192, 256): [y][x]
        xinterp = f[2].data["XINTERP"][0][X0:X1]
        yinterp = f[2].data["YINTERP"][0][Y0:Y1]
        astrom = f[3].copy()

    hdr["CRPIX1"] = hdr["CRPIX1"] - X0
    hdr["CRPIX2"] = hdr["CRPIX2"] - Y0
    hdr.add_history("Cut by tests/data/make-sdss-crop.py from "
                    "frame-r-002583-2-0136.fits:")
    hdr.add_history(f"columns [{X0}, {X1}), rows [{Y0}, {Y1}) (0-based); "
                    "CRPIX shifted.")
    primary = fits.PrimaryHDU(image, header=hdr)
    calib_hdu = fits.ImageHDU(calib)
    ny, nx = allsky.shape
    sky = fits.BinTableHDU.from_columns([
        fits.Column(name="ALLSKY", format=f"{nx * ny}E", dim=f"({nx}, {ny})",
                    array=allsky[np.newaxis].astype(np.float32)),
        fits.Column(name="XINTERP", format=f"{X1 - X0}E",
                    array=xinterp[np.newaxis].astype(np.float32)),
        fits.Column(name="YINTERP", format=f"{Y1 - Y0}E",
                    array=yinterp[np.newaxis].astype(np.float32)),
    ])
    out = os.path.join(OUT, "sdss-crop-r-002583-2-0136.fits")
    fits.HDUList([primary, calib_hdu, sky, astrom]).writeto(out, overwrite=True)
    return out


def crop_photofield():
    with fits.open(os.path.join(SRC, "photoField-002583-2.fits")) as f:
        rows = np.isin(f[1].data["FIELD"], FIELDS)
        table = fits.BinTableHDU(f[1].data[rows], header=f[1].header)
        primary = fits.PrimaryHDU(header=f[0].header)
        primary.header.add_history("Cut by tests/data/make-sdss-crop.py to "
                                   f"fields {FIELDS} of photoField-002583-2.fits")
        out = os.path.join(OUT, "photoField-002583-2-crop.fits")
        fits.HDUList([primary, table]).writeto(out, overwrite=True)
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-sdss-crop.py /path/to/frame-r-002583-2-0136.fits")
    for path in (crop_frame(sys.argv[1]), crop_photofield()):
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
