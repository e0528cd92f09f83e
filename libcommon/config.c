/* config.c: the key = value configuration format, checked against schemas.
 *
 * Every value is parsed once, when it arrives, into numbers or words plus a
 * canonical text; the getters then only look things up.  Loads parse into a staging
 * list first and commit only when every line is good, so a failed load leaves the
 * configuration as it was. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct cfg_value {
    char *text;  /* canonical text: what value_at and write give */
    size_t n;    /* number of elements, 1 for scalars */
    double *num; /* NUM, NUMLIST */
    long ival;   /* INT, BOOL */
    char **str;  /* STR (one string), STRLIST (n words) */
} cfg_value;

typedef struct cfg_entry {
    const sl_config_key *key;
    int set;
    cfg_value v;
    char *source; /* "default", "preset sdss", "path:12", "--set" */
} cfg_entry;

struct sl_config {
    cfg_entry *e;
    size_t n, m;
};

/* One assignment read from a file or string, waiting for the whole load to succeed. */
typedef struct staged {
    cfg_entry *entry;
    cfg_value v;
    long line;
} staged;

/* ---- small helpers ---- */

static char *dup_range(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return NULL;
    char *p = malloc((size_t)len + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Trims [*s, *end) of surrounding whitespace in place. */
static void trim(const char **s, const char **end)
{
    while (*s < *end && isspace((unsigned char)**s))
        (*s)++;
    while (*end > *s && isspace((unsigned char)(*end)[-1]))
        (*end)--;
}

/* Programming errors in the calling tool (unknown key, wrong getter) end the process:
 * there is no sensible value to return and the message points at the bug. */
static void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sl_config: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* The shortest "%.*g" text that reads back as exactly x, so that written
 * configurations reproduce every value bit for bit and stay readable (0.396, not
 * 0.39600000000000002). */
static void fmt_num(double x, char *buf, size_t size)
{
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(buf, size, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    /* %g writes 1000 as 1e+03 at one digit; plain notation reads better up to 1e15. */
    int exp10 = x != 0 ? (int)floor(log10(fabs(x))) : 0;
    if (exp10 >= prec && exp10 < 15)
        prec = exp10 + 1;
    snprintf(buf, size, "%.*g", prec, x);
}

static void value_free(cfg_value *v)
{
    if (v->str)
        for (size_t i = 0; i < v->n; i++)
            free(v->str[i]);
    free(v->str);
    free(v->num);
    free(v->text);
    memset(v, 0, sizeof *v);
}

/* ---- parsing one value ---- */

/* Splits s on whitespace into freshly allocated words. */
static int split_words(const char *s, char ***words, size_t *n)
{
    size_t count = 0, cap = 0;
    char **w = NULL;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *start = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            char **bigger = realloc(w, cap * sizeof *w);
            if (!bigger)
                goto fail;
            w = bigger;
        }
        if (!(w[count] = dup_range(start, (size_t)(s - start))))
            goto fail;
        count++;
    }
    *words = w;
    *n = count;
    return 0;
fail:
    for (size_t i = 0; i < count; i++)
        free(w[i]);
    free(w);
    return -1;
}

static int check_range(const sl_config_key *k, const char *tok, double x, sl_err *err)
{
    char bound[32];
    if (x < k->min) {
        fmt_num(k->min, bound, sizeof bound);
        return sl_err_set(err, "key '%s': %s is below the minimum %s", k->name, tok, bound);
    }
    if (x > k->max) {
        fmt_num(k->max, bound, sizeof bound);
        return sl_err_set(err, "key '%s': %s is above the maximum %s", k->name, tok, bound);
    }
    return 0;
}

static int parse_number(const sl_config_key *k, const char *tok, double *x, sl_err *err)
{
    char *end;
    errno = 0;
    *x = strtod(tok, &end);
    if (end == tok || *end)
        return sl_err_set(err, "key '%s': '%s' is not a number", k->name, tok);
    if (!isfinite(*x)) /* nan and inf parse, and so does an overflow such as 1e999 */
        return sl_err_set(err, "key '%s': '%s' is not a finite number", k->name, tok);
    return check_range(k, tok, *x, err);
}

static int parse_int(const sl_config_key *k, const char *tok, long *x, sl_err *err)
{
    char *end;
    errno = 0;
    *x = strtol(tok, &end, 10);
    if (end == tok || *end)
        return sl_err_set(err, "key '%s': '%s' is not an integer", k->name, tok);
    if (errno == ERANGE)
        return sl_err_set(err, "key '%s': %s is out of the integer range", k->name, tok);
    return check_range(k, tok, (double)*x, err);
}

static int parse_bool(const sl_config_key *k, const char *tok, long *x, sl_err *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(tok, yes[i]) || !strcasecmp(tok, no[i])) {
            *x = !strcasecmp(tok, yes[i]);
            return 0;
        }
    }
    return sl_err_set(err, "key '%s': '%s' is not a boolean (use true or false)", k->name,
                      tok);
}

/* Builds the canonical text of a parsed value. */
static char *canonical(const sl_config_key *k, const cfg_value *v)
{
    if (k->type == SL_CFG_INT)
        return dup_printf("%ld", v->ival);
    if (k->type == SL_CFG_BOOL)
        return dup_printf("%s", v->ival ? "true" : "false");
    int numeric = k->type == SL_CFG_NUM || k->type == SL_CFG_NUMLIST;
    size_t size = 1;
    for (size_t i = 0; i < v->n; i++)
        size += (numeric ? 32 : strlen(v->str[i])) + 1;
    char *text = malloc(size), *p = text;
    if (!text)
        return NULL;
    *p = '\0';
    for (size_t i = 0; i < v->n; i++) {
        if (i)
            *p++ = ' ';
        if (numeric)
            fmt_num(v->num[i], p, 32);
        else
            strcpy(p, v->str[i]);
        p += strlen(p);
    }
    return text;
}

/* Scalars parse the whole text as one token, so "1 2" is reported as not a number. */
static int parse_scalar(const sl_config_key *k, const char *text, cfg_value *v, sl_err *err)
{
    v->n = 1;
    if (!*text && k->type != SL_CFG_STR)
        return sl_err_set(err, "key '%s': missing value", k->name);
    switch (k->type) {
    case SL_CFG_INT:
        return parse_int(k, text, &v->ival, err);
    case SL_CFG_BOOL:
        return parse_bool(k, text, &v->ival, err);
    case SL_CFG_NUM:
        if (!(v->num = malloc(sizeof *v->num)))
            return sl_err_set(err, "out of memory");
        return parse_number(k, text, v->num, err);
    default: /* SL_CFG_STR */
        if (!(v->str = calloc(1, sizeof *v->str)) || !(v->str[0] = dup_range(text, strlen(text))))
            return sl_err_set(err, "out of memory");
        return 0;
    }
}

static int parse_list(const sl_config_key *k, const char *text, cfg_value *v, sl_err *err)
{
    if (split_words(text, &v->str, &v->n) < 0)
        return sl_err_set(err, "out of memory");
    if (v->n == 0)
        return sl_err_set(err, "key '%s': missing value", k->name);
    if (k->type == SL_CFG_STRLIST)
        return 0;
    if (!(v->num = malloc(v->n * sizeof *v->num)))
        return sl_err_set(err, "out of memory");
    for (size_t i = 0; i < v->n; i++)
        if (parse_number(k, v->str[i], &v->num[i], err) < 0)
            return -1;
    /* Numbers are kept as numbers only; the words were needed for messages. */
    for (size_t i = 0; i < v->n; i++)
        free(v->str[i]);
    free(v->str);
    v->str = NULL;
    return 0;
}

/* Parses text (already trimmed) as a value of key k into v, which must be zeroed.
 * On failure v is freed and err names the key and the offending text. */
static int parse_value(const sl_config_key *k, const char *text, cfg_value *v, sl_err *err)
{
    int rc;
    if (strpbrk(text, "#\r\n"))
        rc = sl_err_set(err, "key '%s': a value cannot contain '#' or a line break",
                        k->name);
    else if (k->type == SL_CFG_NUMLIST || k->type == SL_CFG_STRLIST)
        rc = parse_list(k, text, v, err);
    else
        rc = parse_scalar(k, text, v, err);
    if (rc == 0 && !(v->text = canonical(k, v)))
        rc = sl_err_set(err, "out of memory");
    if (rc < 0)
        value_free(v);
    return rc;
}

/* ---- keys and suggestions ---- */

static cfg_entry *find(const sl_config *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].key->name, name))
            return &c->e[i];
    return NULL;
}

/* Optimal-string-alignment distance: edits, with a swap of neighbours counting as
 * one (psf_fwmh is one step from psf_fwhm).  Names longer than 63 are never close. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

static int unknown_key(const sl_config *c, const char *name, sl_err *err)
{
    /* Close enough to be a typo: one edit for short names, up to three for long ones. */
    size_t len = strlen(name), limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; i < c->n; i++) {
        size_t d = edit_distance(name, c->e[i].key->name);
        if (d < best_d) {
            best_d = d;
            best = c->e[i].key->name;
        }
    }
    if (best)
        return sl_err_set(err, "unknown key '%s' (did you mean '%s'?)", name, best);
    return sl_err_set(err, "unknown key '%s'", name);
}

/* Replaces an entry's value (taking ownership of v) and records where it came from. */
static int assign(cfg_entry *e, cfg_value *v, const char *source, sl_err *err)
{
    char *src = dup_range(source, strlen(source));
    if (!src) {
        value_free(v);
        return sl_err_set(err, "out of memory");
    }
    value_free(&e->v);
    free(e->source);
    e->v = *v;
    e->source = src;
    e->set = 1;
    memset(v, 0, sizeof *v);
    return 0;
}

/* ---- lifetime and schema ---- */

sl_config *sl_config_new(void)
{
    return calloc(1, sizeof(sl_config));
}

void sl_config_free(sl_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        value_free(&c->e[i].v);
        free(c->e[i].source);
    }
    free(c->e);
    free(c);
}

static int check_key(const sl_config *c, const sl_config_key *keys, size_t i, sl_err *err)
{
    const sl_config_key *k = &keys[i];
    const char *p = k->name;
    if (!p || !islower((unsigned char)*p))
        return sl_err_set(err, "schema: bad key name '%s'", p ? p : "(null)");
    for (; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
            return sl_err_set(err, "schema: bad key name '%s'", k->name);
    if (find(c, k->name))
        return sl_err_set(err, "schema: key '%s' is declared twice", k->name);
    for (size_t j = 0; j < i; j++)
        if (!strcmp(keys[j].name, k->name))
            return sl_err_set(err, "schema: key '%s' is declared twice", k->name);
    if (!(k->min <= k->max))
        return sl_err_set(err, "schema: key '%s' has an empty range", k->name);
    if (k->per_band && k->type != SL_CFG_NUMLIST && k->type != SL_CFG_STRLIST)
        return sl_err_set(err, "schema: key '%s' is per band but not a list", k->name);
    if ((unsigned)k->type > SL_CFG_STRLIST)
        return sl_err_set(err, "schema: key '%s' has an unknown type", k->name);
    return 0;
}

int sl_config_add_keys(sl_config *c, const sl_config_key *keys, size_t n, sl_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (check_key(c, keys, i, err) < 0)
            return -1;
    if (c->n + n > c->m) {
        size_t m = c->m ? c->m : 16;
        while (m < c->n + n)
            m *= 2;
        cfg_entry *bigger = realloc(c->e, m * sizeof *bigger);
        if (!bigger)
            return sl_err_set(err, "out of memory");
        c->e = bigger;
        c->m = m;
    }
    for (size_t i = 0; i < n; i++) {
        cfg_entry *e = &c->e[c->n + i];
        memset(e, 0, sizeof *e);
        e->key = &keys[i];
        if (!keys[i].def)
            continue;
        cfg_value v = {0};
        if (parse_value(&keys[i], keys[i].def, &v, err) < 0 ||
            assign(e, &v, "default", err) < 0) {
            for (size_t j = 0; j <= i; j++) {
                value_free(&c->e[c->n + j].v);
                free(c->e[c->n + j].source);
            }
            return sl_err_prefix(err, "schema: default of '%s'", keys[i].name);
        }
    }
    c->n += n;
    return 0;
}

/* ---- loading ---- */

static void staged_free(staged *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        value_free(&s[i].v);
    free(s);
}

/* Parses one line [s, end) into *out (entry NULL for a blank or comment line). */
static int parse_line(sl_config *c, const char *s, const char *end, staged *out,
                      sl_err *err)
{
    const char *hash = memchr(s, '#', (size_t)(end - s));
    if (hash)
        end = hash;
    trim(&s, &end);
    out->entry = NULL;
    if (s == end)
        return 0;
    const char *eq = memchr(s, '=', (size_t)(end - s));
    if (!eq)
        return sl_err_set(err, "expected 'key = value', got '%.*s'", (int)(end - s), s);
    const char *key_end = eq, *val = eq + 1;
    trim(&s, &key_end);
    trim(&val, &end);
    if (s == key_end)
        return sl_err_set(err, "missing key before '='");
    char *name = dup_range(s, (size_t)(key_end - s));
    char *text = dup_range(val, (size_t)(end - val));
    int rc = 0;
    if (!name || !text)
        rc = sl_err_set(err, "out of memory");
    else if (!(out->entry = find(c, name)))
        rc = unknown_key(c, name, err);
    else
        rc = parse_value(out->entry->key, text, &out->v, err);
    free(name);
    free(text);
    return rc;
}

/* Parses every line of text, then commits them all; nothing changes on an error.
 * Sources are "name:LINE" when lines is set, else just "name" (presets). */
static int load_text(sl_config *c, const char *text, const char *name, int lines,
                     sl_err *err)
{
    staged *st = NULL;
    size_t n = 0, cap = 0;
    long line = 0;
    for (const char *s = text; *s;) {
        const char *end = strchr(s, '\n');
        if (!end)
            end = s + strlen(s);
        line++;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            staged *bigger = realloc(st, cap * sizeof *bigger);
            if (!bigger) {
                staged_free(st, n);
                return sl_err_set(err, "%s: out of memory", name);
            }
            st = bigger;
        }
        memset(&st[n], 0, sizeof st[n]);
        if (parse_line(c, s, end, &st[n], err) < 0) {
            staged_free(st, n);
            return sl_err_prefix(err, "%s:%ld", name, line);
        }
        const cfg_entry *e = st[n].entry;
        for (size_t i = 0; e && i < n; i++)
            if (st[i].entry == e) {
                sl_err_set(err, "%s:%ld: duplicate key '%s' (first set on line %ld)", name,
                           line, e->key->name, st[i].line);
                staged_free(st, n + 1);
                return -1;
            }
        if (st[n].entry)
            st[n++].line = line;
        s = *end ? end + 1 : end;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *src = lines ? dup_printf("%s:%ld", name, st[i].line) : dup_printf("%s", name);
        if (rc == 0 && !src)
            rc = sl_err_set(err, "%s: out of memory", name);
        if (rc == 0)
            rc = assign(st[i].entry, &st[i].v, src, err);
        free(src);
    }
    staged_free(st, n);
    return rc;
}

/* Reads a whole file: configurations are small, and reading to the end (rather than
 * asking for the size) also works for pipes and process substitution. */
static char *read_all(const char *path, sl_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        sl_err_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1)
            break;
        char *bigger = realloc(buf, 2 * cap);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f), saved = errno;
    fclose(f);
    if (!buf) {
        sl_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    buf[n] = '\0';
    if (failed)
        sl_err_set(err, "%s: read error: %s", path, strerror(saved));
    else if (memchr(buf, '\0', n))
        sl_err_set(err, "%s: not a text file (it contains a NUL byte)", path);
    else
        return buf;
    free(buf);
    return NULL;
}

int sl_config_load_file(sl_config *c, const char *path, sl_err *err)
{
    char *text = read_all(path, err);
    if (!text)
        return -1;
    int rc = load_text(c, text, path, 1, err);
    free(text);
    return rc;
}

int sl_config_load_string(sl_config *c, const char *text, const char *source, sl_err *err)
{
    return load_text(c, text, source, 1, err);
}

int sl_config_use_preset(sl_config *c, const char *name, sl_err *err)
{
    const char *text = sl_preset_text(name);
    if (!text) {
        char known[256] = "";
        for (size_t i = 0; i < sl_preset_count(); i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     i ? ", " : "", sl_preset_name(i));
        return sl_err_set(err, "unknown preset '%s' (known: %s)", name, known);
    }
    char source[300];
    snprintf(source, sizeof source, "preset %s", name);
    return load_text(c, text, source, 0, err);
}

int sl_config_set(sl_config *c, const char *assignment, sl_err *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return sl_err_set(err, "--set: expected key=value, got '%s'", assignment);
    const char *k = assignment, *k_end = eq, *v = eq + 1, *v_end = eq + strlen(eq);
    trim(&k, &k_end);
    trim(&v, &v_end);
    if (k == k_end)
        return sl_err_set(err, "--set: missing key before '='");
    char *name = dup_range(k, (size_t)(k_end - k));
    char *text = dup_range(v, (size_t)(v_end - v));
    cfg_entry *e = name ? find(c, name) : NULL;
    cfg_value val = {0};
    int rc;
    if (!name || !text)
        rc = sl_err_set(err, "out of memory");
    else if (!e)
        rc = unknown_key(c, name, err);
    else if ((rc = parse_value(e->key, text, &val, err)) == 0)
        rc = assign(e, &val, "--set", err);
    free(name);
    free(text);
    return rc < 0 ? sl_err_prefix(err, "--set") : 0;
}

/* Rewrites one per-band list to hold only the chosen entries, in their order. */
static int select_entries(cfg_entry *e, const size_t *pick, size_t n_pick, const char *source,
                          sl_err *err)
{
    size_t size = 1;
    for (size_t i = 0; i < n_pick; i++)
        size += (e->key->type == SL_CFG_NUMLIST ? 32 : strlen(e->v.str[pick[i]])) + 1;
    char *text = malloc(size), *p = text;
    if (!text)
        return sl_err_set(err, "out of memory");
    *p = '\0';
    for (size_t i = 0; i < n_pick; i++) {
        char num[32];
        if (e->key->type == SL_CFG_NUMLIST)
            fmt_num(e->v.num[pick[i]], num, sizeof num);
        p += sprintf(p, "%s%s", i ? " " : "", e->key->type == SL_CFG_NUMLIST ? num : e->v.str[pick[i]]);
    }
    cfg_value v = {0};
    int rc = parse_value(e->key, text, &v, err);
    free(text);
    return rc < 0 ? -1 : assign(e, &v, source, err);
}

int sl_config_select_bands(sl_config *c, const char *names, sl_err *err)
{
    cfg_entry *bands = find(c, "bands");
    if (!bands || bands->key->type != SL_CFG_STRLIST)
        return sl_err_set(err, "--bands: this configuration has no 'bands' list");
    char *list = dup_range(names, strlen(names));
    size_t pick[64], n_pick = 0, n_bands = bands->v.n;
    if (!list)
        return sl_err_set(err, "out of memory");
    int rc = 0;
    for (char *save = NULL, *w = strtok_r(list, ", ", &save); w && rc == 0;
         w = strtok_r(NULL, ", ", &save)) {
        size_t i = 0;
        while (i < n_bands && strcmp(bands->v.str[i], w) != 0)
            i++;
        if (i == n_bands)
            rc = sl_err_set(err, "--bands: band '%s' is not among the configured bands (%s)", w,
                            bands->v.text);
        else if (n_pick == sizeof pick / sizeof *pick)
            rc = sl_err_set(err, "--bands: too many bands");
        else
            pick[n_pick++] = i;
    }
    free(list);
    if (rc == 0 && n_pick == 0)
        rc = sl_err_set(err, "--bands: no band named");
    /* Per-band lists with one entry per band follow; single values apply to all. */
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        cfg_entry *e = &c->e[i];
        if (e != bands && e->key->per_band && e->v.n == n_bands && n_bands > 1)
            rc = select_entries(e, pick, n_pick, e->source, err);
    }
    if (rc == 0)
        rc = select_entries(bands, pick, n_pick, "--bands", err);
    return rc;
}

/* ---- checks across keys ---- */

static int check_bands(const cfg_entry *bands, sl_err *err)
{
    for (size_t i = 0; i < bands->v.n; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(bands->v.str[i], bands->v.str[j]))
                return sl_err_set(err, "%s: key 'bands': band '%s' appears twice",
                                  bands->source, bands->v.str[i]);
    return 0;
}

int sl_config_validate(const sl_config *c, sl_err *err)
{
    for (size_t i = 0; i < c->n; i++)
        if (!c->e[i].set)
            return sl_err_set(err, "key '%s' is not set", c->e[i].key->name);
    const cfg_entry *bands = find(c, "bands");
    if (bands && bands->key->type != SL_CFG_STRLIST)
        bands = NULL;
    if (bands && check_bands(bands, err) < 0)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const cfg_entry *e = &c->e[i];
        /* File names are read by cfitsio, which would fetch a URL. */
        size_t len = strlen(e->key->name);
        if (e->key->type == SL_CFG_STR && len > 5 && !strcmp(e->key->name + len - 5, "_file") &&
            e->v.str && e->v.str[0] && strstr(e->v.str[0], "://"))
            return sl_err_set(err, "%s: key '%s': '%s' is a URL: only local files are read",
                              e->source, e->key->name, e->v.str[0]);
        if (!e->key->per_band)
            continue;
        if (!bands)
            return sl_err_set(err, "key '%s' is per band but no 'bands' list is declared",
                              e->key->name);
        if (e->v.n != 1 && e->v.n != bands->v.n)
            return sl_err_set(err,
                              "%s: key '%s' has %zu values but 'bands' has %zu "
                              "(give one per band, or one for all bands)",
                              e->source, e->key->name, e->v.n, bands->v.n);
    }
    return 0;
}

/* ---- getters ---- */

#define TYPE(t) (1u << (t))
#define ANY_TYPE 0xffu

static const cfg_entry *need(const sl_config *c, const char *key, unsigned types,
                             const char *getter)
{
    const cfg_entry *e = find(c, key);
    if (!e)
        fatal("%s: key '%s' is not in the schema", getter, key);
    if (!(types & TYPE(e->key->type)))
        fatal("%s: key '%s' is of another type", getter, key);
    return e;
}

double sl_config_num(const sl_config *c, const char *key)
{
    const cfg_entry *e = need(c, key, TYPE(SL_CFG_NUM) | TYPE(SL_CFG_INT), __func__);
    if (!e->set)
        return NAN;
    return e->key->type == SL_CFG_INT ? (double)e->v.ival : e->v.num[0];
}

long sl_config_int(const sl_config *c, const char *key)
{
    const cfg_entry *e = need(c, key, TYPE(SL_CFG_INT), __func__);
    return e->set ? e->v.ival : 0;
}

int sl_config_bool(const sl_config *c, const char *key)
{
    const cfg_entry *e = need(c, key, TYPE(SL_CFG_BOOL), __func__);
    return e->set ? (int)e->v.ival : 0;
}

const char *sl_config_str(const sl_config *c, const char *key)
{
    const cfg_entry *e = need(c, key, TYPE(SL_CFG_STR), __func__);
    return e->set ? e->v.str[0] : NULL;
}

int sl_config_is_set(const sl_config *c, const char *key)
{
    return need(c, key, ANY_TYPE, __func__)->set;
}

size_t sl_config_list_len(const sl_config *c, const char *key)
{
    const cfg_entry *e =
        need(c, key, TYPE(SL_CFG_NUMLIST) | TYPE(SL_CFG_STRLIST), __func__);
    return e->set ? e->v.n : 0;
}

static size_t list_index(const cfg_entry *e, size_t i, const char *getter)
{
    if (e->key->per_band && e->v.n == 1)
        return 0;
    if (i >= e->v.n)
        fatal("%s: key '%s' has %zu values, element %zu asked for", getter, e->key->name,
              e->v.n, i);
    return i;
}

double sl_config_num_at(const sl_config *c, const char *key, size_t i)
{
    const cfg_entry *e = need(c, key, TYPE(SL_CFG_NUMLIST), __func__);
    return e->set ? e->v.num[list_index(e, i, __func__)] : NAN;
}

const char *sl_config_str_at(const sl_config *c, const char *key, size_t i)
{
    const cfg_entry *e = need(c, key, TYPE(SL_CFG_STRLIST), __func__);
    return e->set ? e->v.str[list_index(e, i, __func__)] : NULL;
}

/* ---- listing and writing ---- */

static const cfg_entry *entry_at(const sl_config *c, size_t i, const char *getter)
{
    if (i >= c->n)
        fatal("%s: index %zu, but the schema has %zu keys", getter, i, c->n);
    return &c->e[i];
}

size_t sl_config_count(const sl_config *c)
{
    return c->n;
}

const sl_config_key *sl_config_key_at(const sl_config *c, size_t i)
{
    return entry_at(c, i, __func__)->key;
}

const char *sl_config_name_at(const sl_config *c, size_t i)
{
    return entry_at(c, i, __func__)->key->name;
}

const char *sl_config_value_at(const sl_config *c, size_t i)
{
    const cfg_entry *e = entry_at(c, i, __func__);
    return e->set ? e->v.text : NULL;
}

const char *sl_config_source_at(const sl_config *c, size_t i)
{
    const cfg_entry *e = entry_at(c, i, __func__);
    return e->set ? e->source : NULL;
}

const char *sl_config_doc(const sl_config *c, const char *key)
{
    return need(c, key, ANY_TYPE, __func__)->key->doc;
}

int sl_config_write(const sl_config *c, FILE *f)
{
    for (size_t i = 0; i < c->n; i++) {
        const cfg_entry *e = &c->e[i];
        const char *doc = e->key->doc;
        if (i)
            fputc('\n', f);
        if (doc)
            fprintf(f, "# %.*s\n", (int)strcspn(doc, "\n"), doc);
        if (!e->set)
            fprintf(f, "# %s is not set\n", e->key->name);
        else
            fprintf(f, "%s =%s%s\n", e->key->name, *e->v.text ? " " : "", e->v.text);
    }
    return ferror(f) ? -1 : 0;
}
