/* prior.h: the generative model's prior over catalogs (DESIGN.md "The
 * generative model"; seed 000 Table 1; defaults from BLISS's code as recorded
 * in research/bliss-facts.md).
 *
 * The prior is configured through sl_prior_keys (added to a tool's sl_config
 * next to the survey keys) and read once into an sl_prior; sampling a catalog
 * then needs no lookups.  Every draw for image k of seed s comes from the
 * random stream (s, k, SL_RNG_CATALOG: rng.h's list), so a catalog depends on
 * (s, k) only. */
#ifndef SL_PRIOR_H
#define SL_PRIOR_H

#include "catalog.h"
#include "config.h"
#include "rng.h"

extern const sl_config_key sl_prior_keys[];
extern const size_t sl_n_prior_keys;

typedef struct sl_flux_prior {
    double min, max, alpha; /* truncated Pareto on [min, max], electrons, reference band */
} sl_flux_prior;

typedef struct sl_shape_prior {
    double q_min;                  /* axis ratios ~ U(q_min, 1) */
    double angle_max;              /* angle ~ U(0, angle_max) */
    double a_shape;                /* Gamma shape of both major axes */
    double disk_a_loc, disk_a_scale;   /* disk a = loc + scale Gamma(shape, 1), arcsec */
    double bulge_a_loc, bulge_a_scale; /* bulge likewise */
} sl_shape_prior;

typedef struct sl_prior {
    int width, height, n_bands, ref_band;
    double pixel_scale;             /* arcsec per pixel */
    double density;                 /* sources per arcmin^2 */
    double margin;                  /* pixels kept free of source centres at the edges */
    double star_prob;
    sl_flux_prior star_flux, galaxy_flux, src_flux;
    sl_shape_prior shape;
    double disk_n, bulge_n;         /* Sersic indices of galaxies (not lensed sources) */
    double colour_mean[SL_MAX_BANDS], colour_sd[SL_MAX_BANDS]; /* mag, band minus ref band */
    double lens_prob;
    double theta_e_min, theta_e_max; /* arcsec */
    double lens_q_min, lens_phi_max; /* SIE axis ratio ~ U(q_min, 1), angle ~ U(-phi, phi) */
    double src_offset_sd;           /* pixels */
    double shear_sd;
    int physical;                   /* theta_E from sigma_v, z_lens, z_src */
    double sigma_v_min, sigma_v_max, z_lens_min, z_lens_max, z_src_max, z_gap;
    double h0, omega_m;
} sl_prior;

/* Reads the prior from a validated configuration (which also holds the survey
 * keys) and checks the relations between keys (min below max, ...). */
int sl_prior_from_config(sl_prior *p, const sl_config *cfg, sl_err *err);

/* Draws the catalog of image `index` under `seed` into cat (reset first).
 * Values are rounded to float32, as they will be written. */
int sl_prior_sample(const sl_prior *p, uint64_t seed, uint64_t index, sl_catalog *cat);

#endif
