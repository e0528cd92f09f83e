/* catalog.h: a catalog of sources (the truth of a simulated image, or what a
 * renderer is asked to draw), and its form in records (man 5 sl-records):
 * a map with `n` and one float32 bin column per quantity, n values long, or
 * n x B values [source][band] for per-band fluxes; NaN where a quantity does
 * not apply (the shape of a star, the lens of a plain galaxy).
 *
 * Units: positions and offsets in pixels (x = column, y = row, pixel (i, j)
 * covers [i, i+1) x [j, j+1)); sizes and Einstein radii in arcsec; angles in
 * radians, from +x towards +y; fluxes in electrons. */
#ifndef SL_CATALOG_H
#define SL_CATALOG_H

#include "image.h"
#include "record.h"

/* A bulge plus disk galaxy's shape (Sersic indices by default 4 and 1: de
 * Vaucouleurs and exponential); the flux lives with the source. */
typedef struct sl_shape {
    double disk_frac;      /* fraction of the flux in the disk */
    double angle;          /* major axis, radians from +x towards +y */
    double disk_q, bulge_q; /* minor-to-major axis ratios */
    double disk_a, bulge_a; /* major-axis half-light radii, arcsec */
    /* Sersic indices, 0.5 to 6; NaN or 0: the renderer's defaults (last, so
     * that positional initializers of the fields above still hold) */
    double disk_n, bulge_n;
} sl_shape;

typedef struct sl_source {
    double x, y;                 /* centre, pixels */
    int galaxy;                  /* 1 galaxy, 0 star */
    double flux[SL_MAX_BANDS];   /* electrons per band */
    sl_shape shape;              /* galaxies only */
    /* A lens system: this galaxy deflects the light of a background galaxy. */
    int lens;
    double theta_e;              /* SIE Einstein radius, arcsec (intermediate axis) */
    double e1, e2;               /* SIE ellipticity, lenstronomy convention */
    double shear_g1, shear_g2;   /* external shear, centred on the lens */
    double src_dx, src_dy;       /* unlensed source position minus lens centre, pixels */
    double src_flux[SL_MAX_BANDS];
    sl_shape src_shape;
    double sigma_v, z_lens, z_src; /* physical parameterization, NaN when not used */
    /* Truth for the metrics (sl-records(5)), filled by sl_render_metrics:
     * the matched-filter SNR of the source's own light, and for a lens
     * system the lensed light's flux inside the image per band and its SNR. */
    double snr;
    double arc_flux[SL_MAX_BANDS];
    double arc_snr;
} sl_source;

typedef struct sl_catalog {
    int n, cap;
    int n_bands;
    sl_source *src;
} sl_catalog;

void sl_catalog_init(sl_catalog *c, int n_bands);
void sl_catalog_free(sl_catalog *c);
/* Appends a zeroed source (NaN in every optional quantity); NULL when out of memory. */
sl_source *sl_catalog_add(sl_catalog *c);

/* Rounds every value to float32, the precision of the record form, so that a
 * catalog drawn from it renders exactly as the one that was written. */
void sl_catalog_round_f32(sl_catalog *c);

/* Packs the catalog as the value of a map key (the caller packed the key). */
void sl_catalog_pack(msgpack_packer *pk, const sl_catalog *c);
/* Reads the catalog under key ("truth", "estimate") of a record; n_bands
 * fixes the length of the per-band columns. */
int sl_catalog_read(sl_catalog *c, const sl_record *rec, const char *key, int n_bands,
                    sl_err *err);

/* The columns one by one, for writers of other formats (FITS tables): name,
 * unit, whether per band, and the values of column k (band b for per-band
 * columns) for every source. */
size_t sl_catalog_n_columns(void);
const char *sl_catalog_column_name(size_t k, int *per_band, const char **unit);
void sl_catalog_column_values(const sl_catalog *c, size_t k, int band, double *out);

#endif
