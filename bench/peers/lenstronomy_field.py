"""Time lenstronomy on the reference field of bench/simulate.sh.

100 x 100 pixels at 0.396"/pixel, Gaussian PSF FWHM 1.4", 3x supersampling,
Poisson noise on sky + signal:
  source one SIE lens and a lensed Sersic source, nothing else
  lens   the same with the lens galaxy's light (Sersic n=4)
  field  the lens plus 6 more galaxies (bulge n=4 + disk n=1) and 3 stars
Prints "lenstronomy <case> <seconds per image>".  Needs lenstronomy on
PYTHONPATH (LENSTRONOMY_SRC in bench/simulate.sh).
"""
import sys
import time

import numpy as np
from lenstronomy.Data.imaging_data import ImageData
from lenstronomy.Data.psf import PSF
from lenstronomy.ImSim.image_model import ImageModel
from lenstronomy.LensModel.lens_model import LensModel
from lenstronomy.LightModel.light_model import LightModel
from lenstronomy.PointSource.point_source import PointSource

PIX = 0.396
N = 100


def model(case):
    half = N * PIX / 2
    data = ImageData(image_data=np.zeros((N, N)), ra_at_xy_0=-half, dec_at_xy_0=-half,
                     transform_pix2angle=np.array([[PIX, 0], [0, PIX]]),
                     background_rms=1.0, exposure_time=1.0)
    psf = PSF(psf_type="GAUSSIAN", fwhm=1.4, truncation=5)
    lens = LensModel(["SIE"])
    kw_lens = [{"theta_E": 4.0, "e1": 0.1, "e2": -0.05, "center_x": 0.0, "center_y": 0.0}]
    src = LightModel(["SERSIC_ELLIPSE"])
    kw_src = [{"amp": 50.0, "R_sersic": 0.6, "n_sersic": 1.0, "e1": 0.1, "e2": 0.0,
               "center_x": 0.3, "center_y": -0.2}]
    light = ["SERSIC_ELLIPSE"]
    kw_light = [{"amp": 200.0, "R_sersic": 1.0, "n_sersic": 4.0, "e1": 0.05, "e2": 0.02,
                 "center_x": 0.0, "center_y": 0.0}]
    if case == "source":
        light, kw_light = [], []
    ps, kw_ps = None, None
    if case == "field":
        rng = np.random.default_rng(1)
        for _ in range(6):
            x, y = rng.uniform(-half + 3, half - 3, 2)
            for n, r in ((4.0, 0.5), (1.0, 1.5)):
                light.append("SERSIC_ELLIPSE")
                kw_light.append({"amp": 30.0, "R_sersic": r, "n_sersic": n, "e1": 0.1,
                                 "e2": 0.05, "center_x": x, "center_y": y})
        ps = PointSource(["UNLENSED"])
        xs, ys = rng.uniform(-half + 3, half - 3, (2, 3))
        kw_ps = [{"ra_image": xs, "dec_image": ys, "point_amp": np.array([5e3, 2e4, 1e5])}]
    im = ImageModel(data, psf, lens_model_class=lens, source_model_class=src,
                    lens_light_model_class=LightModel(light) if light else None,
                    point_source_class=ps,
                    kwargs_numerics={"supersampling_factor": 3})
    return im, (kw_lens, kw_src, kw_light, kw_ps)


def main():
    case = sys.argv[1]
    reps = int(sys.argv[2])
    im, kw = model(case)
    rng = np.random.default_rng(2)
    im.image(*kw)  # warm up caches
    t0 = time.perf_counter()
    for _ in range(reps):
        expected = im.image(*kw) + 865.0
        rng.poisson(expected)
    dt = (time.perf_counter() - t0) / reps
    print(f"lenstronomy {case} {dt:.6f}")


if __name__ == "__main__":
    main()
