/* config.h: the plain-text configuration of every tool, checked against a schema.
 *
 * The format is one assignment per line:
 *
 *     # a comment                   ('#' starts a comment anywhere on a line)
 *     pixel_scale = 0.396           # a number
 *     bands = u g r i z             # a whitespace-separated list
 *     gain = 1.71 3.85 4.74 5.15 4.62
 *
 * Blank lines are ignored and whitespace around keys and values is trimmed.  Values
 * cannot hold '#' or a line break.  A tool declares the keys it accepts as one or
 * more schema fragments (sl_config_add_keys), typically the survey keys shared by
 * every tool (sl_survey_keys) plus its own.  Values then come from, in increasing
 * precedence and in call order: the schema defaults, a survey preset, configuration
 * files, and --set KEY=VALUE overrides.  Each load is all or nothing: a file with an
 * error changes nothing.
 *
 * Per-band keys (sl_config_key.per_band) hold one value per entry of the `bands`
 * list, or a single value used for every band; sl_config_validate checks the lengths
 * once all sources are loaded.
 *
 * Every value keeps a canonical text (sl_config_value_at), so the full configuration
 * can be written into output headers and written back as a loadable file
 * (sl_config_write) that reproduces the same values exactly. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "err.h"

typedef enum {
    SL_CFG_NUM,     /* one finite double */
    SL_CFG_INT,     /* one long, written without a decimal point */
    SL_CFG_BOOL,    /* true/false (also yes/no, on/off, 1/0) */
    SL_CFG_STR,     /* the rest of the line, may contain spaces or be empty */
    SL_CFG_NUMLIST, /* one or more finite doubles */
    SL_CFG_STRLIST  /* one or more words */
} sl_cfg_type;

typedef struct sl_config_key {
    const char *name; /* [a-z][a-z0-9_]* */
    sl_cfg_type type;
    const char *def;  /* default in the file format, or NULL: the key must then be set */
    double min, max;  /* inclusive range of numbers and of every list element */
    int per_band;     /* lists only: one entry per band, or one for all bands */
    const char *doc;  /* one line: meaning, units, and where the default comes from */
} sl_config_key;

typedef struct sl_config sl_config;

/* The keys that describe the survey, shared by every tool: pixel_scale, bands,
 * psf_fwhm, sky, zero_point, gain, read_noise, exposure_time.  Their defaults are the
 * single SDSS r band of the BLISS strong-lens paper's configuration. */
extern const sl_config_key sl_survey_keys[];
extern const size_t sl_n_survey_keys;

/* An empty configuration (no keys); NULL when out of memory. */
sl_config *sl_config_new(void);
void sl_config_free(sl_config *c);

/* Adds a schema fragment and its defaults.  The array must outlive the configuration
 * (static tables).  Fails, changing nothing, on a name declared twice, a malformed
 * name, an empty range, or a default that does not parse. */
int sl_config_add_keys(sl_config *c, const sl_config_key *keys, size_t n, sl_err *err);

/* Loads a survey preset compiled into the library (sl_preset_name lists them). */
int sl_config_use_preset(sl_config *c, const char *name, sl_err *err);

/* Loads a configuration file ("-" is not special).  Errors read "path:LINE: ...". */
int sl_config_load_file(sl_config *c, const char *path, sl_err *err);

/* Loads configuration text held in memory; `source` names it in messages and in
 * sl_config_source_at ("source:LINE"). */
int sl_config_load_string(sl_config *c, const char *text, const char *source,
                          sl_err *err);

/* Applies one "key=value" override, as given to a tool's --set option.  Errors read
 * "--set: ...". */
int sl_config_set(sl_config *c, const char *assignment, sl_err *err);

/* Checks what single values cannot: every key is set, band names are distinct, and
 * each per-band list has one value or as many as `bands`. */
/* Keeps only the named bands (comma or space separated, in the order given):
 * `bands` and every per-band list with one entry per band are cut to match, so
 * `-p sdss --bands r,i` is the SDSS preset for r and i alone. */
int sl_config_select_bands(sl_config *c, const char *names, sl_err *err);
int sl_config_validate(const sl_config *c, sl_err *err);

/* Getters.  Asking for a key the schema lacks, or with a getter of the wrong type, is
 * a bug in the calling tool: the getter prints the reason and calls abort().  An unset
 * key (one without default that nothing set; sl_config_validate reports those) gives
 * NAN, 0 or NULL. */
double sl_config_num(const sl_config *c, const char *key);  /* NUM or INT keys */
long sl_config_int(const sl_config *c, const char *key);
int sl_config_bool(const sl_config *c, const char *key);
const char *sl_config_str(const sl_config *c, const char *key);
int sl_config_is_set(const sl_config *c, const char *key);

/* Lists: the number of values stored (1 when a per-band key gives one for all bands),
 * and element i.  For a per-band key holding a single value, every i gives it. */
size_t sl_config_list_len(const sl_config *c, const char *key);
double sl_config_num_at(const sl_config *c, const char *key, size_t i);
const char *sl_config_str_at(const sl_config *c, const char *key, size_t i);

/* The keys in schema order, for headers (provenance) and --help listings.
 * value_at is the canonical text (NULL when unset); source_at says where it came
 * from: "default", "preset sdss", "path:LINE" or "--set". */
size_t sl_config_count(const sl_config *c);
const sl_config_key *sl_config_key_at(const sl_config *c, size_t i);
const char *sl_config_name_at(const sl_config *c, size_t i);
const char *sl_config_value_at(const sl_config *c, size_t i);
const char *sl_config_source_at(const sl_config *c, size_t i);
const char *sl_config_doc(const sl_config *c, const char *key);

/* Writes every set key, each under its doc line, as a file sl_config_load_file reads
 * back to the same values.  Returns -1 if the stream reports a write error. */
int sl_config_write(const sl_config *c, FILE *f);

/* Survey presets (presets.c): configuration text using only the survey keys, with
 * the source of every number in a comment.  sl_preset_text gives NULL for an unknown
 * name. */
size_t sl_preset_count(void);
const char *sl_preset_name(size_t i);
const char *sl_preset_summary(size_t i); /* one line for --help */
const char *sl_preset_text(const char *name);

#endif
