#!/usr/bin/python3
"""Cut the M2 region out of the SDSS r frame, in electrons, for Source Extractor.

    cutout.py FRAME.fits PHOTOFIELD.fits PSFIELD.fit X0 Y0 SIZE OUT.fits ARGS

The frame is in nanomaggies with the sky subtracted; it is turned back into
what the camera counted, as sl-tile does (SDSS data model, frame files):
counts = image / calibration[column] + sky, with the sky bilinearly
interpolated from its coarse grid (ALLSKY at XINTERP, YINTERP), then times
the gain of the field's r band from the photoField file.  The cut-out holds
frame pixels [X0, X0+SIZE) x [Y0, Y0+SIZE); its FITS pixel (1, 1) is frame
pixel (X0, Y0).

ARGS receives the Source Extractor options that follow from the data:
GAIN 1 (the pixels are electrons), the seeing (the psField's r-band FWHM,
psf_width, arcsec) and the pixel scale.
"""
import sys

import numpy as np
from astropy.io import fits
from scipy.ndimage import map_coordinates

BAND = 2  # r in the u, g, r, i, z order of photoField and psField rows


def main():
    if len(sys.argv) != 9:
        sys.exit("usage: cutout.py FRAME PHOTOFIELD PSFIELD X0 Y0 SIZE OUT.fits ARGS")
    frame, photofield, psfield = sys.argv[1:4]
    x0, y0, size = (int(v) for v in sys.argv[4:7])
    out, args = sys.argv[7:9]

    with fits.open(frame) as h:
        image = h[0].data.astype(np.float64)
        calib = h[1].data.astype(np.float64)
        sky = h[2].data
        allsky = sky["ALLSKY"][0].astype(np.float64)
        xi, yi = sky["XINTERP"][0], sky["YINTERP"][0]
        field = int(h[0].header["FRAME"])  # the field number
    if not (0 <= x0 and 0 <= y0 and x0 + size <= image.shape[1]
            and y0 + size <= image.shape[0]):
        sys.exit(f"cutout.py: region ({x0}, {y0}) + {size} leaves the frame")
    yy, xx = np.meshgrid(yi[y0:y0 + size], xi[x0:x0 + size], indexing="ij")
    sky_dn = map_coordinates(allsky, [yy, xx], order=1, mode="nearest")

    with fits.open(photofield) as h:
        t = h[1].data
        row = np.flatnonzero(t["FIELD"] == field)
        if row.size != 1:
            sys.exit(f"cutout.py: {photofield}: no single row for field {field}")
        gain = float(t["GAIN"][row[0]][BAND])
    with fits.open(psfield) as h:
        fwhm = float(h[6].data["psf_width"][0][BAND])

    cut = image[y0:y0 + size, x0:x0 + size] / calib[x0:x0 + size] + sky_dn
    hdu = fits.PrimaryHDU((cut * gain).astype(np.float32))
    hdr = hdu.header
    hdr["BUNIT"] = "electron"
    hdr["X0"] = (x0, "frame column of FITS pixel 1")
    hdr["Y0"] = (y0, "frame row of FITS pixel 1")
    hdr["GAIN"] = (1.0, "pixels are electrons")
    hdr["SDSSGAIN"] = (gain, "electrons per DN, photoField r")
    hdr["SEEING"] = (fwhm, "arcsec, psField psf_width r")
    hdr["SKYE"] = (float(np.median(sky_dn) * gain), "median sky, electrons")
    hdu.writeto(out, overwrite=True)
    with open(args, "w") as f:
        f.write(f"-GAIN 1 -SEEING_FWHM {fwhm:.4f} -PIXEL_SCALE 0.396\n")


if __name__ == "__main__":
    main()
