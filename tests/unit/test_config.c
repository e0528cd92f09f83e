/* The configuration format, its error messages, precedence, round trip, presets. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

/* A tool's own keys, next to the survey keys, with one of each type. */
static const sl_config_key prior_keys[] = {
    {"density", SL_CFG_NUM, "0.0012", 0, 1, 0, "sources per square pixel"},
    {"n_images", SL_CFG_INT, "100", 1, 1000000, 0, "images to draw"},
    {"lensing", SL_CFG_BOOL, "true", 0, 0, 0, "draw lens systems"},
    {"title", SL_CFG_STR, "", 0, 0, 0, "free text for the header"},
    {"theta_e", SL_CFG_NUMLIST, "5 30", 0, 1000, 0, "Einstein radius range, pixels"},
    {"colors", SL_CFG_NUMLIST, "1", -10, 10, 1, "flux ratio per band"},
};
static const sl_config_key required_keys[] = {
    {"seed_file", SL_CFG_STR, NULL, 0, 0, 0, "a key without default"},
};
#define N_PRIOR (sizeof prior_keys / sizeof prior_keys[0])

static char tmpdir[64];

/* Writes text to a file in the test's directory and returns its path (static). */
static const char *write_file(const char *name, const char *text)
{
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return p;
}

static sl_config *make(int with_prior)
{
    sl_err err;
    sl_config *c = sl_config_new();
    CHECK(c != NULL);
    CHECK(sl_config_add_keys(c, sl_survey_keys, sl_n_survey_keys, &err) == 0);
    if (with_prior)
        CHECK(sl_config_add_keys(c, prior_keys, N_PRIOR, &err) == 0);
    return c;
}

/* The call must fail with exactly the message want. */
#define CHECK_FAILS(call, err, want)                                                 \
    do {                                                                             \
        int rc_ = (call);                                                            \
        CHECK(rc_ == -1);                                                            \
        CHECK(strcmp((err).msg, (want)) == 0);                                       \
        if (rc_ != -1 || strcmp((err).msg, (want)))                                  \
            fprintf(stderr, "  got  \"%s\"\n  want \"%s\"\n", (err).msg, (want));   \
    } while (0)

static size_t key_index(const sl_config *c, const char *name)
{
    for (size_t i = 0; i < sl_config_count(c); i++)
        if (!strcmp(sl_config_name_at(c, i), name))
            return i;
    return (size_t)-1;
}

static void test_parse_sample(void)
{
    sl_err err;
    sl_config *c = make(1);
    const char *path = write_file("sample.conf",
                                  "# a survey of my own\n"
                                  "\n"
                                  "pixel_scale = 0.2   # arcsec per pixel\n"
                                  "  bands =\tg  r i \r\n"
                                  "sky = 100 200 300\n"
                                  "   # indented comment = not an assignment\n"
                                  "density=0.5\n"
                                  "title = lens run three\n"
                                  "lensing = NO\n"
                                  "n_images = 42");
    CHECK(sl_config_load_file(c, path, &err) == 0);
    CHECK(sl_config_validate(c, &err) == 0);
    CHECK(sl_config_num(c, "pixel_scale") == 0.2);
    CHECK(sl_config_list_len(c, "bands") == 3);
    CHECK(!strcmp(sl_config_str_at(c, "bands", 0), "g"));
    CHECK(!strcmp(sl_config_str_at(c, "bands", 2), "i"));
    CHECK(sl_config_list_len(c, "sky") == 3);
    CHECK(sl_config_num_at(c, "sky", 2) == 300);
    CHECK(sl_config_num(c, "density") == 0.5);
    CHECK(!strcmp(sl_config_str(c, "title"), "lens run three"));
    CHECK(sl_config_bool(c, "lensing") == 0);
    CHECK(sl_config_int(c, "n_images") == 42);
    CHECK(sl_config_num(c, "n_images") == 42.0);
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "bands")), "g r i"));
    char want[256];
    snprintf(want, sizeof want, "%s:3", path);
    CHECK(!strcmp(sl_config_source_at(c, key_index(c, "pixel_scale")), want));
    CHECK(!strcmp(sl_config_source_at(c, key_index(c, "gain")), "default"));
    sl_config_free(c);
}

static void test_per_band_single_value(void)
{
    sl_err err;
    sl_config *c = make(1);
    CHECK(sl_config_set(c, "bands = u g r", &err) == 0);
    CHECK(sl_config_validate(c, &err) == 0);
    CHECK(sl_config_list_len(c, "psf_fwhm") == 1);
    for (size_t b = 0; b < 3; b++) {
        CHECK(sl_config_num_at(c, "psf_fwhm", b) == 1.43);
        CHECK(sl_config_num_at(c, "colors", b) == 1);
    }
    CHECK(sl_config_num_at(c, "theta_e", 1) == 30);
    sl_config_free(c);
}

static void test_precedence(void)
{
    sl_err err;
    sl_config *c = make(1);
    size_t ps = key_index(c, "pixel_scale"), sky = key_index(c, "sky");
    CHECK(sl_config_num(c, "pixel_scale") == 0.396);
    CHECK(sl_config_use_preset(c, "lsst", &err) == 0);
    CHECK(sl_config_num(c, "pixel_scale") == 0.2);
    CHECK(!strcmp(sl_config_source_at(c, ps), "preset lsst"));
    const char *a = write_file("a.conf", "# first\npixel_scale = 0.3\n");
    const char *b = write_file("b.conf", "pixel_scale = 0.35\n");
    CHECK(sl_config_load_file(c, a, &err) == 0);
    CHECK(sl_config_num(c, "pixel_scale") == 0.3);
    CHECK(sl_config_load_file(c, b, &err) == 0);
    CHECK(sl_config_num(c, "pixel_scale") == 0.35);
    char want[256];
    snprintf(want, sizeof want, "%s:1", b);
    CHECK(!strcmp(sl_config_source_at(c, ps), want));
    CHECK(sl_config_set(c, "pixel_scale=0.25", &err) == 0);
    CHECK(sl_config_num(c, "pixel_scale") == 0.25);
    CHECK(!strcmp(sl_config_source_at(c, ps), "--set"));
    /* Keys no later source touched keep the earlier value and its source. */
    CHECK(!strcmp(sl_config_source_at(c, sky), "preset lsst"));
    CHECK(sl_config_num_at(c, "sky", 2) == 877);
    /* Precedence is call order: a preset applied last wins. */
    CHECK(sl_config_use_preset(c, "des", &err) == 0);
    CHECK(sl_config_num(c, "pixel_scale") == 0.263);
    sl_config_free(c);
}

static void test_errors_unknown_key(void)
{
    sl_err err;
    sl_config *c = make(1);
    char want[300];
    const char *p = write_file("typo.conf", "sky = 12\ndensty = 0.1\n");
    snprintf(want, sizeof want, "%s:2: unknown key 'densty' (did you mean 'density'?)", p);
    CHECK_FAILS(sl_config_load_file(c, p, &err), err, want);
    CHECK_FAILS(sl_config_set(c, "densty=0.1", &err), err,
                "--set: unknown key 'densty' (did you mean 'density'?)");
    CHECK_FAILS(sl_config_set(c, "psf_fwmh=1", &err), err,
                "--set: unknown key 'psf_fwmh' (did you mean 'psf_fwhm'?)");
    CHECK_FAILS(sl_config_set(c, "Sky=1", &err), err,
                "--set: unknown key 'Sky' (did you mean 'sky'?)");
    CHECK_FAILS(sl_config_set(c, "zebra=1", &err), err, "--set: unknown key 'zebra'");
    /* The failed file changed nothing, not even its good first line. */
    CHECK(sl_config_num_at(c, "sky", 0) == 865);
    sl_config_free(c);
}

static void test_errors_syntax(void)
{
    sl_err err;
    sl_config *c = make(1);
    char want[300];
    const char *p = write_file("noeq.conf", "pixel_scale = 0.2\nsky 12   # oops\n");
    snprintf(want, sizeof want, "%s:2: expected 'key = value', got 'sky 12'", p);
    CHECK_FAILS(sl_config_load_file(c, p, &err), err, want);
    CHECK(sl_config_num(c, "pixel_scale") == 0.396);
    p = write_file("nokey.conf", " = 3\n");
    snprintf(want, sizeof want, "%s:1: missing key before '='", p);
    CHECK_FAILS(sl_config_load_file(c, p, &err), err, want);
    p = write_file("empty.conf", "\n\nsky =  # nothing\n");
    snprintf(want, sizeof want, "%s:3: key 'sky': missing value", p);
    CHECK_FAILS(sl_config_load_file(c, p, &err), err, want);
    CHECK_FAILS(sl_config_set(c, "sky", &err), err, "--set: expected key=value, got 'sky'");
    CHECK_FAILS(sl_config_set(c, "=4", &err), err, "--set: missing key before '='");
    CHECK_FAILS(sl_config_set(c, "sky=", &err), err, "--set: key 'sky': missing value");
    CHECK_FAILS(sl_config_set(c, "title=run #3", &err), err,
                "--set: key 'title': a value cannot contain '#' or a line break");
    snprintf(want, sizeof want, "%s/none.conf: No such file or directory", tmpdir);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/none.conf", tmpdir);
    CHECK_FAILS(sl_config_load_file(c, missing, &err), err, want);
    sl_config_free(c);
}

static void test_errors_numbers(void)
{
    sl_err err;
    sl_config *c = make(1);
    char want[300];
    CHECK_FAILS(sl_config_set(c, "sky=12x", &err), err,
                "--set: key 'sky': '12x' is not a number");
    const char *p = write_file("badnum.conf", "sky = 1 2x 3\n");
    snprintf(want, sizeof want, "%s:1: key 'sky': '2x' is not a number", p);
    CHECK_FAILS(sl_config_load_file(c, p, &err), err, want);
    CHECK_FAILS(sl_config_set(c, "density=0.1 0.2", &err), err,
                "--set: key 'density': '0.1 0.2' is not a number");
    CHECK_FAILS(sl_config_set(c, "density=-1", &err), err,
                "--set: key 'density': -1 is below the minimum 0");
    CHECK_FAILS(sl_config_set(c, "density=2", &err), err,
                "--set: key 'density': 2 is above the maximum 1");
    CHECK_FAILS(sl_config_set(c, "sky=10 -5", &err), err,
                "--set: key 'sky': -5 is below the minimum 0");
    CHECK_FAILS(sl_config_set(c, "density=nan", &err), err,
                "--set: key 'density': 'nan' is not a finite number");
    CHECK_FAILS(sl_config_set(c, "density=inf", &err), err,
                "--set: key 'density': 'inf' is not a finite number");
    CHECK_FAILS(sl_config_set(c, "sky=1 -Infinity", &err), err,
                "--set: key 'sky': '-Infinity' is not a finite number");
    CHECK_FAILS(sl_config_set(c, "sky=1e999", &err), err,
                "--set: key 'sky': '1e999' is not a finite number");
    CHECK_FAILS(sl_config_set(c, "n_images=1.5", &err), err,
                "--set: key 'n_images': '1.5' is not an integer");
    CHECK_FAILS(sl_config_set(c, "n_images=0", &err), err,
                "--set: key 'n_images': 0 is below the minimum 1");
    CHECK_FAILS(sl_config_set(c, "lensing=maybe", &err), err,
                "--set: key 'lensing': 'maybe' is not a boolean (use true or false)");
    /* Nothing above changed a value. */
    CHECK(sl_config_num(c, "density") == 0.0012);
    CHECK(sl_config_int(c, "n_images") == 100);
    sl_config_free(c);
}

static void test_errors_duplicates_and_bands(void)
{
    sl_err err;
    sl_config *c = make(1);
    char want[300];
    const char *p = write_file("dup.conf", "sky = 1\n# again:\nsky = 2\n");
    snprintf(want, sizeof want, "%s:3: duplicate key 'sky' (first set on line 1)", p);
    CHECK_FAILS(sl_config_load_file(c, p, &err), err, want);
    /* The same key in two files is an override, not a duplicate. */
    CHECK(sl_config_load_file(c, write_file("one.conf", "sky = 1\n"), &err) == 0);
    CHECK(sl_config_load_file(c, write_file("two.conf", "sky = 2\n"), &err) == 0);
    CHECK(sl_config_num_at(c, "sky", 0) == 2);
    p = write_file("bands.conf", "bands = u g r i z\ngain = 1 2 3\n");
    CHECK(sl_config_load_file(c, p, &err) == 0);
    snprintf(want, sizeof want,
             "%s:2: key 'gain' has 3 values but 'bands' has 5 "
             "(give one per band, or one for all bands)",
             p);
    CHECK_FAILS(sl_config_validate(c, &err), err, want);
    CHECK(sl_config_set(c, "gain = 4", &err) == 0);
    CHECK(sl_config_validate(c, &err) == 0);
    /* A preset's lists no longer fit once the bands change. */
    CHECK(sl_config_use_preset(c, "lsst", &err) == 0);
    CHECK(sl_config_set(c, "bands=r", &err) == 0);
    CHECK_FAILS(sl_config_validate(c, &err), err,
                "preset lsst: key 'psf_fwhm' has 6 values but 'bands' has 1 "
                "(give one per band, or one for all bands)");
    CHECK(sl_config_set(c, "bands=r r", &err) == 0);
    CHECK_FAILS(sl_config_validate(c, &err), err,
                "--set: key 'bands': band 'r' appears twice");
    sl_config_free(c);
}

static void test_errors_presets_and_schema(void)
{
    sl_err err;
    sl_config *c = make(0);
    CHECK_FAILS(sl_config_use_preset(c, "sdsss", &err), err,
                "unknown preset 'sdsss' (known: sdss, lsst, des, hst)");
    CHECK_FAILS(sl_config_add_keys(c, sl_survey_keys, 1, &err), err,
                "schema: key 'pixel_scale' is declared twice");
    static const sl_config_key bad_default[] = {
        {"fine", SL_CFG_NUM, "1", 0, 2, 0, "ok"},
        {"bad", SL_CFG_NUM, "x", 0, 1, 0, "default does not parse"},
    };
    CHECK_FAILS(sl_config_add_keys(c, bad_default, 2, &err), err,
                "schema: default of 'bad': key 'bad': 'x' is not a number");
    static const sl_config_key bad_name[] = {{"Bad-Name", SL_CFG_NUM, "1", 0, 2, 0, "x"}};
    CHECK_FAILS(sl_config_add_keys(c, bad_name, 1, &err), err,
                "schema: bad key name 'Bad-Name'");
    static const sl_config_key not_list[] = {{"k", SL_CFG_NUM, "1", 0, 2, 1, "x"}};
    CHECK_FAILS(sl_config_add_keys(c, not_list, 1, &err), err,
                "schema: key 'k' is per band but not a list");
    /* Failed fragments left nothing behind. */
    CHECK(sl_config_count(c) == sl_n_survey_keys);
    sl_config_free(c);

    c = make(1);
    CHECK(sl_config_add_keys(c, required_keys, 1, &err) == 0);
    CHECK(!sl_config_is_set(c, "seed_file"));
    CHECK(sl_config_str(c, "seed_file") == NULL);
    CHECK_FAILS(sl_config_validate(c, &err), err, "key 'seed_file' is not set");
    CHECK(sl_config_set(c, "seed_file = seeds.txt", &err) == 0);
    CHECK(sl_config_validate(c, &err) == 0);
    sl_config_free(c);
}

static void test_canonical_text(void)
{
    sl_err err;
    sl_config *c = make(1);
    CHECK(sl_config_set(c, "bands =  g   r", &err) == 0);
    CHECK(sl_config_set(c, "lensing=YES", &err) == 0);
    CHECK(sl_config_set(c, "density=1e-3", &err) == 0);
    CHECK(sl_config_set(c, "n_images=+7", &err) == 0);
    CHECK(sl_config_set(c, "theta_e=0.39600000000000002 1000", &err) == 0);
    CHECK(sl_config_set(c, "sky=1e11 1e-7 123456789012", &err) == 0);
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "bands")), "g r"));
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "lensing")), "true"));
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "density")), "0.001"));
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "n_images")), "7"));
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "theta_e")), "0.396 1000"));
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "title")), ""));
    CHECK(!strcmp(sl_config_value_at(c, key_index(c, "sky")), "100000000000 1e-07 123456789012"));
    CHECK(sl_config_load_string(c, "sky = 5\n", "inline", &err) == 0);
    CHECK(!strcmp(sl_config_source_at(c, key_index(c, "sky")), "inline:1"));
    sl_config_free(c);
}

static void test_roundtrip(void)
{
    sl_err err;
    sl_config *a = make(1), *b = make(1);
    CHECK(sl_config_use_preset(a, "lsst", &err) == 0);
    CHECK(sl_config_set(a, "title = a run with  two spaces", &err) == 0);
    CHECK(sl_config_set(a, "density = 0.1", &err) == 0);
    CHECK(sl_config_add_keys(a, required_keys, 1, &err) == 0);
    CHECK(sl_config_add_keys(b, required_keys, 1, &err) == 0);
    CHECK(sl_config_set(a, "theta_e = 1e-7 3.141592653589793 999.99999999999989", &err) == 0);
    CHECK(sl_config_set(a, "sky = 1e-300 2.5e11 0.1 0.2 0.30000000000000004 7", &err) == 0);
    CHECK(sl_config_set(a, "colors = 0.3 -0.7 1e-300 0 5 0.1", &err) == 0);
    CHECK(sl_config_set(a, "lensing = off", &err) == 0);
    char path[128];
    snprintf(path, sizeof path, "%s/written.conf", tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f && sl_config_write(a, f) == 0);
    fclose(f);
    CHECK(sl_config_load_file(b, path, &err) == 0);
    for (size_t i = 0; i < sl_config_count(a); i++) {
        const char *va = sl_config_value_at(a, i), *vb = sl_config_value_at(b, i);
        CHECK((va == NULL) == (vb == NULL));
        CHECK(!va || !vb || !strcmp(va, vb));
    }
    const char *lists[] = {"theta_e", "colors", "sky", "zero_point"};
    for (size_t k = 0; k < 4; k++)
        for (size_t i = 0; i < sl_config_list_len(a, lists[k]); i++)
            CHECK(sl_config_num_at(a, lists[k], i) == sl_config_num_at(b, lists[k], i));
    CHECK(!strcmp(sl_config_str(b, "title"), "a run with  two spaces"));
    CHECK(!sl_config_is_set(b, "seed_file"));
    CHECK(sl_config_bool(b, "lensing") == 0);
    sl_config_free(a);
    sl_config_free(b);
}

static void test_presets_load_and_validate(void)
{
    const char *names[] = {"sdss", "lsst", "des", "hst"};
    const size_t nbands[] = {5, 6, 5, 1};
    const double scale[] = {0.396, 0.2, 0.263, 0.08};
    CHECK(sl_preset_count() == 4);
    for (size_t p = 0; p < 4; p++) {
        sl_err err;
        sl_config *c = make(0);
        CHECK(!strcmp(sl_preset_name(p), names[p]));
        CHECK(sl_preset_summary(p) && strlen(sl_preset_summary(p)) > 10);
        CHECK(sl_config_use_preset(c, names[p], &err) == 0);
        CHECK(sl_config_validate(c, &err) == 0);
        CHECK(sl_config_list_len(c, "bands") == nbands[p]);
        CHECK(sl_config_num(c, "pixel_scale") == scale[p]);
        /* Every survey key comes from the preset, none from the defaults. */
        for (size_t i = 0; i < sl_config_count(c); i++) {
            char want[32];
            snprintf(want, sizeof want, "preset %s", names[p]);
            CHECK(!strcmp(sl_config_source_at(c, i), want));
        }
        sl_config_free(c);
    }
}

/* The derived numbers in the presets agree with the derivations their comments give. */
static double preset_num(const char *preset, const char *key, size_t band)
{
    sl_err err;
    sl_config *c = make(0);
    CHECK(sl_config_use_preset(c, preset, &err) == 0);
    double x = sl_config_num_at(c, key, band);
    sl_config_free(c);
    return x;
}

static double sky_electrons(double mu, double zp, double scale)
{
    return pow(10, -0.4 * (mu - zp)) * scale * scale;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_preset_derivations(void)
{
    /* LSST r: SMTN-002 zero point 28.36 for 1 e-/s, dark sky 21.20, 30 s visit. */
    CHECK_NEAR(preset_num("lsst", "zero_point", 2), 28.36 + 2.5 * log10(30), 0.005);
    CHECK_REL(preset_num("lsst", "sky", 2), sky_electrons(21.20, 28.36 + 2.5 * log10(30), 0.2),
              1e-3);
    CHECK_NEAR(preset_num("lsst", "psf_fwhm", 0), 0.822 * 0.92 + 0.052, 0.005);
    CHECK_NEAR(preset_num("lsst", "read_noise", 3), sqrt(2 * (8.8 * 8.8 + 0.2 * 15)), 0.05);
    /* DES: 1 e-/s zero points plus 2.5 log10 t, DR1 sky; Y has 45 s exposures. */
    CHECK_NEAR(preset_num("des", "zero_point", 0), 26.610 + 2.5 * log10(90), 0.005);
    CHECK_NEAR(preset_num("des", "zero_point", 4), 25.321 + 2.5 * log10(45), 0.005);
    CHECK_REL(preset_num("des", "sky", 1), sky_electrons(21.15, 26.818 + 2.5 * log10(90), 0.263),
              2e-3);
    CHECK(preset_num("des", "exposure_time", 4) == 45);
    /* HST: 25.946 + 2.5 log10(2400); sky 0.55 e-/s per native pixel rescaled. */
    CHECK_NEAR(preset_num("hst", "zero_point", 0), 25.946 + 2.5 * log10(2400), 0.005);
    CHECK_REL(preset_num("hst", "sky", 0), 0.55 * 0.0064 / 0.016335 * 2400, 2e-3);
    CHECK_NEAR(preset_num("hst", "psf_fwhm", 0),
               hypot(0.151, 2.3548 * sqrt(0.135 * 0.121) / sqrt(12)), 0.001);
    /* SDSS r: 841.5 e-/nanomaggy and the 20.86 mag/arcsec^2 median sky. */
    double zp_r = 22.5 + 2.5 * log10(841.5);
    CHECK_NEAR(preset_num("sdss", "zero_point", 2), zp_r, 0.005);
    CHECK_REL(preset_num("sdss", "sky", 2), sky_electrons(20.86, zp_r, 0.396), 2e-3);
    /* SDSS r read noise: median over camcols of sqrt(dark variance) x gain. */
    const double dv[6] = {1.8225, 1.0, 1.3225, 1.3225, 0.81, 0.9025};
    const double g[6] = {4.71, 4.6, 4.72, 4.76, 4.725, 4.895};
    double rn[6];
    for (int i = 0; i < 6; i++)
        rn[i] = sqrt(dv[i]) * g[i];
    qsort(rn, 6, sizeof rn[0], cmp_double);
    CHECK_NEAR(preset_num("sdss", "read_noise", 2), 0.5 * (rn[2] + rn[3]), 0.05);
    /* The defaults are BLISS's SDSS r: 987.31 e- per nanomaggy. */
    sl_config *c = make(0);
    CHECK_NEAR(sl_config_num_at(c, "zero_point", 0), 22.5 + 2.5 * log10(987.31), 0.0005);
    CHECK_NEAR(sl_config_num_at(c, "read_noise", 0), sqrt(1.8225) * 4.71, 0.005);
    sl_config_free(c);
}

/* Every assignment in a preset carries its source: a comment on the line, or the
 * comment block just above it.  The band lists are names, not numbers. */
static void test_preset_numbers_have_sources(void)
{
    for (size_t p = 0; p < sl_preset_count(); p++) {
        const char *s = sl_preset_text(sl_preset_name(p));
        int prev_comment = 0, lines = 0;
        while (*s) {
            const char *end = strchr(s, '\n');
            size_t len = end ? (size_t)(end - s) : strlen(s);
            const char *eq = memchr(s, '=', len), *hash = memchr(s, '#', len);
            if (eq && (!hash || hash > eq) && strncmp(s, "bands", 5)) {
                int ok = (hash != NULL) || prev_comment;
                CHECK(ok);
                if (!ok)
                    fprintf(stderr, "  preset %s: no source for '%.*s'\n",
                            sl_preset_name(p), (int)len, s);
            }
            prev_comment = s[0] == '#';
            lines++;
            s += len + (end != NULL);
        }
        CHECK(lines >= 8);
    }
}

static void test_survey_docs(void)
{
    sl_config *c = make(0);
    const char *want[] = {"pixel_scale", "bands", "psf_fwhm", "sky",
                          "zero_point", "gain", "read_noise", "exposure_time"};
    CHECK(sl_n_survey_keys == 8);
    for (size_t i = 0; i < sl_n_survey_keys; i++) {
        const char *doc = sl_survey_keys[i].doc;
        CHECK(!strcmp(sl_survey_keys[i].name, want[i]));
        CHECK(doc != NULL && strlen(doc) > 20);
        CHECK(doc && !strchr(doc, '\n'));
        /* Each names where its default comes from, in brackets. */
        CHECK(doc && strchr(doc, '[') && strchr(doc, ']'));
        CHECK(sl_config_doc(c, want[i]) == doc);
        CHECK(sl_survey_keys[i].def != NULL);
    }
    sl_config_free(c);
}

/* Asking for a key outside the schema is a bug in the tool: abort(), not a value. */
static void test_unknown_getter_aborts(void)
{
    sl_config *c = make(0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        sl_config_num(c, "no_such_key");
        _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    sl_config_free(c);
}

/* --bands: the preset cut to some of its bands, values following their band. */
static void test_select_bands(void)
{
    sl_err err;
    sl_config *c = make(0);
    CHECK(sl_config_use_preset(c, "sdss", &err) == 0);
    double gain_r = sl_config_num_at(c, "gain", 2), gain_i = sl_config_num_at(c, "gain", 3);
    CHECK(sl_config_select_bands(c, "i,r", &err) == 0);
    CHECK(sl_config_validate(c, &err) == 0);
    CHECK(sl_config_list_len(c, "bands") == 2);
    CHECK(strcmp(sl_config_str_at(c, "bands", 0), "i") == 0);
    CHECK(strcmp(sl_config_str_at(c, "bands", 1), "r") == 0);
    CHECK(sl_config_num_at(c, "gain", 0) == gain_i);
    CHECK(sl_config_num_at(c, "gain", 1) == gain_r);
    CHECK_FAILS(sl_config_select_bands(c, "g", &err), err,
                "--bands: band 'g' is not among the configured bands (i r)");
    CHECK_FAILS(sl_config_select_bands(c, " , ", &err), err, "--bands: no band named");
    sl_config_free(c);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_config.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_parse_sample);
    RUN(test_per_band_single_value);
    RUN(test_precedence);
    RUN(test_errors_unknown_key);
    RUN(test_errors_syntax);
    RUN(test_errors_numbers);
    RUN(test_errors_duplicates_and_bands);
    RUN(test_errors_presets_and_schema);
    RUN(test_canonical_text);
    RUN(test_roundtrip);
    RUN(test_presets_load_and_validate);
    RUN(test_preset_derivations);
    RUN(test_preset_numbers_have_sources);
    RUN(test_survey_docs);
    RUN(test_select_bands);
    RUN(test_unknown_getter_aborts);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_report("test_config");
}
