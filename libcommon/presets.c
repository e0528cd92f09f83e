/* presets.c: the survey keys every tool shares, and the survey presets.
 *
 * The presets are configuration text compiled into the library, so an installed
 * binary needs no data files.  Each number carries its source in a comment.  Two
 * definitions hold throughout:
 *
 *   sky         electrons per pixel collected in one exposure;
 *   zero_point  the AB magnitude of a source giving 1 electron in one exposure, so
 *               mag = zero_point - 2.5 log10(electrons).  A zero point quoted for
 *               1 e-/s becomes zp_1s + 2.5 log10(exposure_time).
 *
 * "One exposure" is stated at the top of each preset (SDSS: one 53.9 s drift-scan
 * crossing; LSST: one 30 s visit; DES: one 90 s or 45 s exposure; HST: a drizzled
 * stack of about one orbit).  A sky brightness mu in mag/arcsec^2 converts to
 * sky = 10^(-0.4 (mu - zero_point)) * pixel_scale^2. */
#include "config.h"

#include <string.h>

/* Defaults: the single SDSS r band of the BLISS strong-lens configuration
 * (shared/research/bliss-facts.md), whose sky comes from run 94 camcol 1. */
const sl_config_key sl_survey_keys[] = {
    {"pixel_scale", SL_CFG_NUM, "0.396", 1e-4, 3600, 0,
     "pixel size in arcsec per pixel [0.396: SDSS, BLISS strong-lens config]"},
    {"bands", SL_CFG_STRLIST, "r", 0, 0, 0,
     "band names in image order, e.g. u g r i z [r: BLISS's single SDSS band]"},
    {"psf_fwhm", SL_CFG_NUMLIST, "1.43", 1e-3, 60, 1,
     "PSF full width at half maximum in arcsec, per band [1.43: median SDSS r, DR1 fields]"},
    {"sky", SL_CFG_NUMLIST, "865", 0, 1e12, 1,
     "sky background in electrons per pixel per exposure, per band [865: BLISS, SDSS r]"},
    {"zero_point", SL_CFG_NUMLIST, "29.986", 0, 60, 1,
     "AB magnitude giving 1 electron per exposure, mag = zero_point - 2.5 log10(electrons), "
     "per band [29.986 = 22.5 + 2.5 log10(987.31 e-/nanomaggy): BLISS, SDSS r]"},
    {"gain", SL_CFG_NUMLIST, "4.71", 1e-3, 1e6, 1,
     "detector gain in electrons per ADU, per band [4.71: SDSS r, camcol 1]"},
    {"read_noise", SL_CFG_NUMLIST, "6.36", 0, 1e6, 1,
     "read noise in electrons per pixel per exposure, per band "
     "[6.36 = sqrt(dark variance 1.8225 DN^2) x 4.71: SDSS r, camcol 1]"},
    {"exposure_time", SL_CFG_NUMLIST, "53.907456", 1e-6, 1e8, 1,
     "exposure time in seconds, per band; sky and zero_point are per exposure "
     "[53.907456: SDSS drift-scan time]"},
};
const size_t sl_n_survey_keys = sizeof sl_survey_keys / sizeof sl_survey_keys[0];

static const char preset_sdss[] =
    "# SDSS imaging (2.5 m telescope, drift scan), median conditions.\n"
    "# One exposure is one drift-scan crossing of a CCD, 53.907456 s; sky and zero_point\n"
    "# are for it.  Per-band ratios come from photoField-002583-2.fits (run 2583 camcol 2,\n"
    "# median over its 227 fields, airmass 1.34; shared/data/sdss-2583-2-136), anchored\n"
    "# in r on the survey medians of the SDSS 'Image quality information' page\n"
    "# (sdss3.org/dr9/imaging/other_info.php: DR1 fields, r PSF width 1.43\",\n"
    "# r sky 20.86 mag/arcsec^2).\n"
    "pixel_scale = 0.396    # arcsec/pixel; Gunn et al. 1998, AJ 116, 3040\n"
    "bands = u g r i z\n"
    "exposure_time = 53.907456    # s; EXPTIME of SDSS frame files\n"
    "# arcsec: 1.43 in r; other bands times the median width ratio to r in run 2583\n"
    "# (photoField PSF_WIDTH: u 1.320, g 1.226, i 0.938, z 1.089)\n"
    "psf_fwhm = 1.89 1.75 1.43 1.34 1.56\n"
    "# 22.5 + 2.5 log10(GAIN / NMGYPERCOUNT), median over run 2583 camcol 2\n"
    "# (1 nanomaggy is AB 22.5; e-/nmgy u 153.7, g 863.1, r 841.5, i 792.1, z 133.7).\n"
    "# BLISS's r value for run 94 camcol 1, 987.31 e-/nmgy, would give 29.99.\n"
    "zero_point = 27.97 29.84 29.81 29.75 27.82\n"
    "# e-/pixel: r sky 20.86 mag/arcsec^2, other bands from run 2583's median sky\n"
    "# colours (photoField SKY: u-r 1.13, g-r 0.84, i-r -0.52, z-r -1.95 mag), through the\n"
    "# zero points above and 0.396^2 arcsec^2.  BLISS's r constant, 865 e-, is the\n"
    "# brighter sky of run 94 (20.63 mag/arcsec^2).\n"
    "sky = 39 283 598 908 573\n"
    "# e-/ADU: mean over the six camcols of the gain table in the SDSS frame data model\n"
    "# (data.sdss3.org/datamodel/files/BOSS_PHOTOOBJ/frames/RERUN/RUN/CAMCOL/frame.html;\n"
    "# camcol 2 u taken as 1.825, its value after run 1100)\n"
    "gain = 1.71 3.85 4.74 5.15 4.62\n"
    "# e-: median over the six camcols of sqrt(darkVariance) x gain, same table\n"
    "# (darkVariance, in DN^2, holds read noise and dark current)\n"
    "read_noise = 5.4 5.0 5.0 13.2 5.1\n";

static const char preset_lsst[] =
    "# Rubin Observatory LSST, one 30 s visit (2 x 15 s in grizy, 1 x 30 s in u), dark\n"
    "# sky at zenith.  sky and zero_point are for one visit.  Source: SMTN-002,\n"
    "# \"Calculating LSST limiting magnitudes and SNR\" (smtn-002.lsst.io, throughputs v1.9).\n"
    "pixel_scale = 0.2    # arcsec/pixel; SMTN-002; Ivezic et al. 2019, ApJ 873, 111\n"
    "bands = u g r i z y\n"
    "exposure_time = 30    # s per visit; SMTN-002\n"
    "# arcsec: FWHM_geom = 0.822 FWHM_eff + 0.052 (SMTN-002) of the fiducial zenith\n"
    "# FWHM_eff 0.92 0.87 0.83 0.80 0.78 0.76 (SMTN-002); FWHM_geom is the physical width,\n"
    "# the one SMTN-002 recommends where the size of the PSF matters\n"
    "psf_fwhm = 0.81 0.77 0.73 0.71 0.69 0.68\n"
    "# zero points for 1 e-/s (gain 1, standard atmosphere) 26.52 28.51 28.36 28.17\n"
    "# 27.78 26.82 (SMTN-002), plus 2.5 log10(30 s)\n"
    "zero_point = 30.21 32.20 32.05 31.86 31.47 30.51\n"
    "# e-/pixel: dark zenith sky 23.05 22.25 21.20 20.46 19.61 18.60 mag/arcsec^2\n"
    "# (SMTN-002) through the zero points above and 0.2^2 arcsec^2.  SMTN-002 calls this\n"
    "# approximate: sky light should pass the hardware only, not the atmosphere.\n"
    "sky = 29.3 383 877 1456 2224 2329\n"
    "gain = 1.6    # e-/ADU; SMTN-002: expected gain between 1.5 and 1.7\n"
    "# e- per visit from the requirements quoted in SMTN-002, 8.8 e- read noise and\n"
    "# 0.2 e-/s dark current per exposure: sqrt(8.8^2 + 0.2 x 30) in u (one exposure),\n"
    "# sqrt(2 (8.8^2 + 0.2 x 15)) = 12.7 in grizy (SMTN-002's 12.7 e- per visit)\n"
    "read_noise = 9.1 12.7 12.7 12.7 12.7 12.7\n";

static const char preset_des[] =
    "# Dark Energy Survey wide field, one single-epoch DECam exposure: 90 s in griz and\n"
    "# 45 s in Y (Abbott et al. 2018, ApJS 239, 18, DES DR1).  sky and zero_point are for\n"
    "# one exposure.\n"
    "pixel_scale = 0.263    # arcsec/pixel; Flaugher et al. 2015, AJ 150, 150\n"
    "bands = g r i z Y\n"
    "exposure_time = 90 90 90 90 45    # s; DES DR1\n"
    "psf_fwhm = 1.12 0.96 0.88 0.84 0.90    # arcsec, median single-epoch PSF; DES DR1\n"
    "# DECam zero points for 1 e-/s at airmass 1, g 26.610 r 26.818 i 26.758 z 26.484\n"
    "# Y 25.321 (legacypipe, legacyzpts DecamMeasurer.zp0; i and Y from DES Y1 Stripe 82),\n"
    "# plus 2.5 log10(exposure_time)\n"
    "zero_point = 31.50 31.70 31.64 31.37 29.45\n"
    "# e-/pixel: median sky 22.01 21.15 19.89 18.72 17.96 mag/arcsec^2 (DES DR1, Table 1)\n"
    "# through the zero points above and 0.263^2 arcsec^2\n"
    "sky = 431 1152 3478 7939 2739\n"
    "gain = 4.0    # e-/ADU; DECam nominal gain (legacysurvey obsbot, decam.py)\n"
    "read_noise = 7.5    # e-; middle of the 6-9 e- of Flaugher et al. 2015\n";

static const char preset_hst[] =
    "# HST WFC3/IR F160W drizzled to 0.08\"/pixel: the native IR pixels are\n"
    "# 0.135\" x 0.121\" (WFC3 Instrument Handbook, IHB), and 0.08\" is the drizzled scale of\n"
    "# the H0LiCOW/TDCOSMO F160W lens imaging (e.g. Wong et al. 2017, MNRAS 465, 4895) and\n"
    "# the HST-like scale of Biggio et al.'s simulations.  (SLACS used ACS/WFC F814W at\n"
    "# 0.05\" instead.)  One exposure is a drizzled stack of about one orbit, 2400 s; sky\n"
    "# and zero_point are for it.\n"
    "pixel_scale = 0.08    # arcsec/pixel, drizzled\n"
    "bands = F160W\n"
    "# s; about one orbit of science time (~50 min of visibility per orbit, less\n"
    "# acquisition and readout overheads; HST Primer)\n"
    "exposure_time = 2400\n"
    "# arcsec: the 0.151\" FWHM of the model PSF core at 1600 nm (IHB Table 7.5) widened in\n"
    "# quadrature by the native pixel, a 0.128\" boxcar with the variance of a Gaussian of\n"
    "# FWHM 0.087\" (the simulator integrates over the 0.08\" pixels only)\n"
    "psf_fwhm = 0.174\n"
    "# F160W AB zero point for 1 e-/s, 25.946 (STScI WFC3/IR zero points, infinite\n"
    "# aperture), plus 2.5 log10(2400 s)\n"
    "zero_point = 34.40\n"
    "# e-/pixel: zodiacal light of 0.3-1.0 e-/s per native pixel in broad IR filters (IHB,\n"
    "# IR dark current section); 0.55, their geometric mean, scaled to the 0.08\" pixel:\n"
    "# 0.55 x 0.0064 / 0.016335 x 2400 s\n"
    "sky = 517\n"
    "# e-/DN: mean effective gain of the four quadrants, 2.28 2.221 2.24 2.265\n"
    "# (WFC3 Data Handbook, Table 7.1)\n"
    "gain = 2.25\n"
    "# e-: effective read noise of an up-the-ramp fit to ~16 reads (IHB chapter 9\n"
    "# signal-to-noise formulae), per native exposure\n"
    "read_noise = 12\n";

static const struct {
    const char *name, *summary, *text;
} presets[] = {
    {"sdss", "SDSS ugriz, 0.396\"/pixel, 53.9 s drift scan, median seeing and sky",
     preset_sdss},
    {"lsst", "Rubin LSST ugrizy, 0.2\"/pixel, one 30 s visit, dark zenith sky (SMTN-002)",
     preset_lsst},
    {"des", "DES grizY, 0.263\"/pixel, one 90 s (Y: 45 s) exposure, DR1 medians",
     preset_des},
    {"hst", "HST WFC3/IR F160W drizzled to 0.08\"/pixel, about one orbit", preset_hst},
};
static const size_t n_presets = sizeof presets / sizeof presets[0];

size_t sl_preset_count(void)
{
    return n_presets;
}

const char *sl_preset_name(size_t i)
{
    return i < n_presets ? presets[i].name : NULL;
}

const char *sl_preset_summary(size_t i)
{
    return i < n_presets ? presets[i].summary : NULL;
}

const char *sl_preset_text(const char *name)
{
    for (size_t i = 0; i < n_presets; i++)
        if (!strcmp(presets[i].name, name))
            return presets[i].text;
    return NULL;
}
