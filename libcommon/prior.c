#include "prior.h"

#include <math.h>
#include <string.h>

#include "lens.h"

/* Sources: BLISS = research/bliss-facts.md (commit M of prob-ml/bliss,
 * case_studies/strong_lensing/config/config.yaml and bliss/models/prior.py). */
const sl_config_key sl_prior_keys[] = {
    {"width", SL_CFG_INT, "100", 1, 65536, 0, "image width, pixels [100: the reference field]"},
    {"height", SL_CFG_INT, "100", 1, 65536, 0, "image height, pixels [100]"},
    {"ref_band", SL_CFG_STR, "auto", 0, 0, 0,
     "band whose flux the Pareto priors describe; auto: r when present, else the first band [auto]"},
    {"density", SL_CFG_NUM, "43.2", 0, 1e6, 0,
     "mean source density, per arcmin^2 [43.2: BLISS Poisson(0.03) per 4x4 tile at 0.396\"]"},
    {"margin", SL_CFG_NUM, "0", 0, 1e5, 0, "source centres stay this many pixels from the edges [0]"},
    {"star_prob", SL_CFG_NUM, "0.3", 0, 1, 0, "probability a source is a star [0.3: BLISS prob_galaxy 0.7]"},
    {"star_flux_min", SL_CFG_NUM, "1000", 1e-3, 1e15, 0, "star flux Pareto minimum, electrons [1e3: BLISS]"},
    {"star_flux_max", SL_CFG_NUM, "1e6", 1e-3, 1e15, 0, "star flux Pareto maximum, electrons [1e6: BLISS]"},
    {"star_flux_alpha", SL_CFG_NUM, "0.5", 1e-3, 100, 0, "star flux Pareto index [0.5: paper Table 1, BLISS]"},
    {"galaxy_flux_min", SL_CFG_NUM, "622", 1e-3, 1e15, 0, "galaxy flux Pareto minimum, electrons [622: BLISS]"},
    {"galaxy_flux_max", SL_CFG_NUM, "1e6", 1e-3, 1e15, 0, "galaxy flux Pareto maximum, electrons [1e6: BLISS]"},
    {"galaxy_flux_alpha", SL_CFG_NUM, "0.47", 1e-3, 100, 0, "galaxy flux Pareto index [0.47: BLISS]"},
    {"galaxy_q_min", SL_CFG_NUM, "0", 0, 1, 0,
     "disk and bulge axis ratios ~ U(galaxy_q_min, 1) [0: paper and BLISS; rendering clamps q at 0.02]"},
    {"galaxy_angle_max", SL_CFG_NUM, "3.141592653589793", 0, 6.283185307179586, 0,
     "galaxy angle ~ U(0, galaxy_angle_max), radians [pi: DESIGN.md; BLISS's 2 pi is the same law for symmetric profiles]"},
    {"size_gamma_shape", SL_CFG_NUM, "0.39331", 1e-3, 1e3, 0, "Gamma shape of the major axes [0.39331: BLISS a_concentration]"},
    {"disk_a_loc", SL_CFG_NUM, "0.8372", 0, 1e3, 0, "disk half-light major axis = loc + scale Gamma, arcsec [0.8372: BLISS]"},
    {"disk_a_scale", SL_CFG_NUM, "4.4327", 0, 1e3, 0, "disk size Gamma scale, arcsec [4.4327: BLISS]"},
    {"bulge_a_loc", SL_CFG_NUM, "0.4186", 0, 1e3, 0, "bulge half-light major axis loc, arcsec [0.4186: BLISS, disk/2]"},
    {"bulge_a_scale", SL_CFG_NUM, "2.2164", 0, 1e3, 0, "bulge size Gamma scale, arcsec [2.2164: BLISS, disk/2]"},
    {"disk_n", SL_CFG_NUM, "1", 0.5, 6, 0,
     "Sersic index of galaxy disks (and of the deflectors' disks) [1: exponential]"},
    {"bulge_n", SL_CFG_NUM, "4", 0.5, 6, 0,
     "Sersic index of galaxy bulges (and of the deflectors' bulges) [4: de Vaucouleurs]"},
    {"colour_mean", SL_CFG_NUMLIST, "0", -20, 20, 1,
     "mean colour of each band minus the reference band, mag [0: the paper is single-band]"},
    {"colour_sd", SL_CFG_NUMLIST, "0.3", 0, 10, 1, "colour spread per band, mag (normal) [0.3]"},
    {"lens_prob", SL_CFG_NUM, "0.2", 0, 1, 0, "probability a galaxy is a lens system [0.2: BLISS prob_lensed_galaxy]"},
    {"theta_e_min", SL_CFG_NUM, "1.98", 0, 1e3, 0, "Einstein radius ~ U(min, max), arcsec [1.98 = 5 px at 0.396\": BLISS]"},
    {"theta_e_max", SL_CFG_NUM, "11.88", 0, 1e3, 0, "Einstein radius maximum, arcsec [11.88 = 30 px: BLISS]"},
    {"lens_q_min", SL_CFG_NUM, "0.1", 0.01, 1, 0,
     "SIE axis ratio ~ U(lens_q_min, 1) [0.1; BLISS draws U(0,1), which reaches the degenerate q = 0]"},
    {"lens_phi_max", SL_CFG_NUM, "0.7853981633974483", 0, 1.5707963267948966, 0,
     "SIE position angle ~ U(-max, max), radians [pi/4: BLISS rotates the mass by U(-pi/4, pi/4); pi/2 is the full circle]"},
    {"src_offset_sd", SL_CFG_NUM, "1", 0, 1e3, 0,
     "lensed source offset from the lens centre ~ N(0, sd) per axis, pixels [1: paper, BLISS]"},
    {"src_flux_min", SL_CFG_NUM, "622", 1e-3, 1e15, 0, "lensed source flux Pareto minimum, electrons [622: BLISS]"},
    {"src_flux_max", SL_CFG_NUM, "1e4", 1e-3, 1e15, 0, "lensed source flux Pareto maximum, electrons [1e4: BLISS]"},
    {"src_flux_alpha", SL_CFG_NUM, "0.47", 1e-3, 100, 0, "lensed source flux Pareto index [0.47: BLISS]"},
    {"shear_sd", SL_CFG_NUM, "0", 0, 0.5, 0, "external shear components ~ N(0, sd) [0: none in the paper]"},
    {"lens_physical", SL_CFG_BOOL, "false", 0, 0, 0,
     "draw sigma_v, z_lens, z_src and derive theta_E in flat Lambda-CDM (seed 001) [false]"},
    {"sigma_v_min", SL_CFG_NUM, "150", 1, 2000, 0, "velocity dispersion ~ U(min, max), km/s [150]"},
    {"sigma_v_max", SL_CFG_NUM, "350", 1, 2000, 0, "velocity dispersion maximum, km/s [350]"},
    {"z_lens_min", SL_CFG_NUM, "0.1", 0.001, 20, 0, "lens redshift ~ U(min, max) [0.1]"},
    {"z_lens_max", SL_CFG_NUM, "0.8", 0.001, 20, 0, "lens redshift maximum [0.8]"},
    {"z_src_gap", SL_CFG_NUM, "0.2", 0.001, 20, 0, "source redshift ~ U(z_lens + gap, z_src_max) [0.2]"},
    {"z_src_max", SL_CFG_NUM, "3", 0.01, 20, 0, "source redshift maximum [3]"},
    {"h0", SL_CFG_NUM, "70", 1, 1000, 0, "Hubble constant, km/s/Mpc [70]"},
    {"omega_m", SL_CFG_NUM, "0.3", 0, 1, 0, "matter density of the flat Lambda-CDM cosmology [0.3]"},
};
const size_t sl_n_prior_keys = sizeof sl_prior_keys / sizeof *sl_prior_keys;

static int check_range(double lo, double hi, const char *klo, const char *khi, sl_err *err)
{
    if (lo > hi)
        return sl_err_set(err, "%s (%g) is greater than %s (%g)", klo, lo, khi, hi);
    return 0;
}

int sl_prior_from_config(sl_prior *p, const sl_config *cfg, sl_err *err)
{
    memset(p, 0, sizeof *p);
    p->width = (int)sl_config_int(cfg, "width");
    p->height = (int)sl_config_int(cfg, "height");
    p->pixel_scale = sl_config_num(cfg, "pixel_scale");
    p->n_bands = (int)sl_config_list_len(cfg, "bands");
    if (p->n_bands > SL_MAX_BANDS)
        return sl_err_set(err, "key 'bands': %d bands, at most %d", p->n_bands, SL_MAX_BANDS);
    const char *ref = sl_config_str(cfg, "ref_band");
    int automatic = strcmp(ref, "auto") == 0;
    p->ref_band = automatic ? 0 : -1;
    for (int b = 0; b < p->n_bands; b++)
        if (strcmp(sl_config_str_at(cfg, "bands", (size_t)b), automatic ? "r" : ref) == 0)
            p->ref_band = b;
    if (p->ref_band < 0)
        return sl_err_set(err, "key 'ref_band': '%s' is not one of the bands", ref);
    p->density = sl_config_num(cfg, "density");
    p->margin = sl_config_num(cfg, "margin");
    if (2 * p->margin >= p->width || 2 * p->margin >= p->height)
        return sl_err_set(err, "key 'margin': %g pixels leaves no room in a %d x %d image",
                          p->margin, p->width, p->height);
    p->star_prob = sl_config_num(cfg, "star_prob");
    struct { sl_flux_prior *f; const char *name; } fluxes[] = {
        {&p->star_flux, "star_flux"}, {&p->galaxy_flux, "galaxy_flux"}, {&p->src_flux, "src_flux"}};
    for (int i = 0; i < 3; i++) {
        char kmin[32], kmax[32], kalpha[32];
        snprintf(kmin, sizeof kmin, "%s_min", fluxes[i].name);
        snprintf(kmax, sizeof kmax, "%s_max", fluxes[i].name);
        snprintf(kalpha, sizeof kalpha, "%s_alpha", fluxes[i].name);
        fluxes[i].f->min = sl_config_num(cfg, kmin);
        fluxes[i].f->max = sl_config_num(cfg, kmax);
        fluxes[i].f->alpha = sl_config_num(cfg, kalpha);
        if (check_range(fluxes[i].f->min, fluxes[i].f->max, kmin, kmax, err) < 0)
            return -1;
    }
    p->shape.q_min = sl_config_num(cfg, "galaxy_q_min");
    p->shape.angle_max = sl_config_num(cfg, "galaxy_angle_max");
    p->shape.a_shape = sl_config_num(cfg, "size_gamma_shape");
    p->shape.disk_a_loc = sl_config_num(cfg, "disk_a_loc");
    p->shape.disk_a_scale = sl_config_num(cfg, "disk_a_scale");
    p->shape.bulge_a_loc = sl_config_num(cfg, "bulge_a_loc");
    p->shape.bulge_a_scale = sl_config_num(cfg, "bulge_a_scale");
    p->disk_n = sl_config_num(cfg, "disk_n");
    p->bulge_n = sl_config_num(cfg, "bulge_n");
    if (p->shape.disk_a_loc + p->shape.disk_a_scale <= 0 ||
        p->shape.bulge_a_loc + p->shape.bulge_a_scale <= 0)
        return sl_err_set(err, "galaxy sizes: loc and scale are both 0, so every size is 0");
    for (int b = 0; b < p->n_bands; b++) {
        p->colour_mean[b] = sl_config_num_at(cfg, "colour_mean", (size_t)b);
        p->colour_sd[b] = sl_config_num_at(cfg, "colour_sd", (size_t)b);
    }
    p->lens_prob = sl_config_num(cfg, "lens_prob");
    p->theta_e_min = sl_config_num(cfg, "theta_e_min");
    p->theta_e_max = sl_config_num(cfg, "theta_e_max");
    if (check_range(p->theta_e_min, p->theta_e_max, "theta_e_min", "theta_e_max", err) < 0)
        return -1;
    p->lens_q_min = sl_config_num(cfg, "lens_q_min");
    p->lens_phi_max = sl_config_num(cfg, "lens_phi_max");
    p->src_offset_sd = sl_config_num(cfg, "src_offset_sd");
    p->shear_sd = sl_config_num(cfg, "shear_sd");
    p->physical = sl_config_bool(cfg, "lens_physical");
    p->sigma_v_min = sl_config_num(cfg, "sigma_v_min");
    p->sigma_v_max = sl_config_num(cfg, "sigma_v_max");
    p->z_lens_min = sl_config_num(cfg, "z_lens_min");
    p->z_lens_max = sl_config_num(cfg, "z_lens_max");
    p->z_gap = sl_config_num(cfg, "z_src_gap");
    p->z_src_max = sl_config_num(cfg, "z_src_max");
    p->h0 = sl_config_num(cfg, "h0");
    p->omega_m = sl_config_num(cfg, "omega_m");
    sl_cosmo cosmo = {p->h0, p->omega_m};
    if (p->physical &&
        (sl_cosmo_check(&cosmo, err) < 0 ||
         check_range(p->sigma_v_min, p->sigma_v_max, "sigma_v_min", "sigma_v_max", err) < 0 ||
         check_range(p->z_lens_min, p->z_lens_max, "z_lens_min", "z_lens_max", err) < 0 ||
         check_range(p->z_lens_max + p->z_gap, p->z_src_max, "z_lens_max + z_src_gap",
                     "z_src_max", err) < 0))
        return -1;
    return 0;
}

static void sample_shape(const sl_shape_prior *sp, sl_rng *r, sl_shape *s)
{
    s->disk_frac = sl_rng_uniform(r);
    s->angle = sp->angle_max * sl_rng_uniform(r);
    s->disk_q = sl_rng_uniform_range(r, sp->q_min, 1.0);
    s->bulge_q = sl_rng_uniform_range(r, sp->q_min, 1.0);
    s->disk_a = sp->disk_a_loc + sp->disk_a_scale * sl_rng_gamma(r, sp->a_shape, 1.0);
    s->bulge_a = sp->bulge_a_loc + sp->bulge_a_scale * sl_rng_gamma(r, sp->a_shape, 1.0);
}

/* Flux in the reference band from the Pareto prior, other bands through colours. */
static void sample_fluxes(const sl_prior *p, const sl_flux_prior *f, sl_rng *r, double *flux)
{
    double ref = sl_rng_pareto_trunc(r, f->min, f->max, f->alpha);
    for (int b = 0; b < p->n_bands; b++) {
        double colour = b == p->ref_band ? 0.0 : p->colour_mean[b] + p->colour_sd[b] * sl_rng_normal(r);
        flux[b] = ref * pow(10.0, -0.4 * colour);
    }
}

static void sample_lens(const sl_prior *p, sl_rng *r, sl_source *s)
{
    s->lens = 1;
    if (p->physical) {
        s->sigma_v = sl_rng_uniform_range(r, p->sigma_v_min, p->sigma_v_max);
        s->z_lens = sl_rng_uniform_range(r, p->z_lens_min, p->z_lens_max);
        s->z_src = sl_rng_uniform_range(r, s->z_lens + p->z_gap, p->z_src_max);
        sl_cosmo cosmo = {p->h0, p->omega_m};
        sl_lens_theta_e(&cosmo, s->sigma_v, s->z_lens, s->z_src, &s->theta_e, NULL);
    } else {
        s->theta_e = sl_rng_uniform_range(r, p->theta_e_min, p->theta_e_max);
    }
    double q = sl_rng_uniform_range(r, p->lens_q_min, 1.0);
    double phi = sl_rng_uniform_range(r, -p->lens_phi_max, p->lens_phi_max);
    double e = (1.0 - q) / (1.0 + q);
    s->e1 = e * cos(2.0 * phi);
    s->e2 = e * sin(2.0 * phi);
    s->shear_g1 = p->shear_sd * sl_rng_normal(r);
    s->shear_g2 = p->shear_sd * sl_rng_normal(r);
    s->src_dx = p->src_offset_sd * sl_rng_normal(r);
    s->src_dy = p->src_offset_sd * sl_rng_normal(r);
    sample_fluxes(p, &p->src_flux, r, s->src_flux);
    sample_shape(&p->shape, r, &s->src_shape);
}

int sl_prior_sample(const sl_prior *p, uint64_t seed, uint64_t index, sl_catalog *cat)
{
    sl_rng r;
    sl_rng_init(&r, seed, index, SL_RNG_CATALOG);
    cat->n = 0;
    cat->n_bands = p->n_bands;
    double area = p->width * p->height * p->pixel_scale * p->pixel_scale / 3600.0; /* arcmin^2 */
    uint64_t n = sl_rng_poisson(&r, p->density * area);
    for (uint64_t i = 0; i < n; i++) {
        sl_source *s = sl_catalog_add(cat);
        if (!s)
            return -1;
        s->x = sl_rng_uniform_range(&r, p->margin, p->width - p->margin);
        s->y = sl_rng_uniform_range(&r, p->margin, p->height - p->margin);
        s->galaxy = !sl_rng_bernoulli(&r, p->star_prob);
        if (!s->galaxy) {
            sample_fluxes(p, &p->star_flux, &r, s->flux);
            continue;
        }
        sample_fluxes(p, &p->galaxy_flux, &r, s->flux);
        sample_shape(&p->shape, &r, &s->shape);
        s->shape.disk_n = p->disk_n;
        s->shape.bulge_n = p->bulge_n;
        if (sl_rng_bernoulli(&r, p->lens_prob))
            sample_lens(p, &r, s);
    }
    sl_catalog_round_f32(cat);
    return 0;
}
