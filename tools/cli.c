#include "cli.h"

#include "cleanup.h"
#include "output.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

sl_cli sl_cli_state;
static sl_writer *registered_writer;
static char *stdin_operand[] = {"-"};

enum { OPT_VERSION = 1000, OPT_PROGRESS };

static void vreport(const char *fmt, va_list ap)
{
    fflush(stdout);
    sl_cli_progress_clear();
    fprintf(stderr, "%s: ", sl_cli_state.tool ? sl_cli_state.tool : "sl");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void sl_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    sl_writer_abort(registered_writer);
    sl_cleanup_run();
    exit(SL_EXIT_DATA);
}

void sl_die_err(const sl_err *e)
{
    sl_die("%s", e->msg);
}

void sl_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s --help' for more information.\n", sl_cli_state.tool);
    sl_writer_abort(registered_writer);
    sl_cleanup_run();
    exit(SL_EXIT_USAGE);
}

void sl_exit_pipe_closed(void)
{
    sl_writer_abort(registered_writer);
    sl_cleanup_run();
    exit(SL_EXIT_OK);
}

void sl_note(const char *fmt, ...)
{
    if (sl_cli_state.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- Labels and progress -------------------------------------------------- */

static char label[512];

void sl_cli_label(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(label, sizeof label, fmt, ap);
    va_end(ap);
}

const char *sl_cli_inputs_label(void)
{
    static char text[512];
    const sl_cli *c = &sl_cli_state;
    if (c->n_inputs == 0 || (c->n_inputs == 1 && strcmp(c->inputs[0], "-") == 0))
        return "";
    /* File names without their directories: a shard's name is what tells. */
    const char *first = strrchr(c->inputs[0], '/') ? strrchr(c->inputs[0], '/') + 1 : c->inputs[0];
    if (c->n_inputs == 1)
        snprintf(text, sizeof text, "%s", first);
    else if (c->n_inputs == 2) {
        const char *second = strrchr(c->inputs[1], '/') ? strrchr(c->inputs[1], '/') + 1
                                                        : c->inputs[1];
        snprintf(text, sizeof text, "%s %s", first, second);
    } else
        snprintf(text, sizeof text, "%s and %d more", first, c->n_inputs - 1);
    return text;
}

double sl_cli_inputs_fraction(sl_reader *const *in, int n)
{
    double done = 0, size = 0;
    for (int i = 0; i < n; i++) {
        double d, s;
        if (!in[i] || sl_reader_position(in[i], &d, &s) < 0)
            return -1;
        done += d;
        size += s;
    }
    return size > 0 ? done / size : -1;
}

int sl_cli_progress_on(void)
{
    return !sl_cli_state.quiet && (sl_cli_state.progress || isatty(STDERR_FILENO));
}

static double wall_start, progress_last;
static int progress_shown; /* a line without its newline is on the terminal */

void sl_cli_progress(long done, const char *unit, double fraction)
{
    if (!sl_cli_progress_on())
        return;
    int tty = isatty(STDERR_FILENO);
    double t = now(), elapsed = t - wall_start;
    /* Four lines a second on a terminal, one a second into a file. */
    if (t - progress_last < (tty ? 0.25 : 1.0))
        return;
    progress_last = t;
    char eta[64] = "";
    if (fraction > 0 && fraction <= 1) {
        long secs = lround(elapsed * (1 - fraction) / fraction);
        snprintf(eta, sizeof eta, ", %.0f%%, ETA %ldm%02lds", 100 * fraction, secs / 60, secs % 60);
    }
    fprintf(stderr, "%s%s: %s%s%ld %s, %.1f/s%s%s", tty ? "\r" : "", sl_cli_state.tool, label,
            label[0] ? ": " : "", done, unit, elapsed > 0 ? (double)done / elapsed : 0.0, eta,
            tty ? "\033[K" : "\n");
    fflush(stderr);
    progress_shown = tty;
}

void sl_cli_progress_clear(void)
{
    if (progress_shown) {
        fputs("\r\033[K", stderr);
        progress_shown = 0;
    }
}

void sl_cli_summary(const char *fmt, ...)
{
    sl_cli_progress_clear();
    if (sl_cli_state.quiet)
        return;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                 (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    fprintf(stderr, "%s: %s%s%s in %.2f s real, %.2f s CPU, %.1f MB peak memory\n",
            sl_cli_state.tool, label, label[0] ? ": " : "", what, now() - wall_start, cpu,
            (double)ru.ru_maxrss / 1024.0);
}

void sl_cli_register_writer(sl_writer *w)
{
    registered_writer = w;
}

sl_writer *sl_cli_output_open(const char *path, const sl_provenance *prov, sl_reader *const *in,
                              size_t n_in)
{
    sl_err err;
    sl_writer *w = sl_writer_open(path, &err);
    if (!w)
        sl_die_err(&err);
    sl_cli_register_writer(w);
    sl_provenance own = sl_cli_provenance();
    if (sl_writer_header(w, prov ? prov : &own, in, n_in, &err) < 0)
        sl_die_err(&err);
    return w;
}

void sl_cli_output_close(sl_writer *w, sl_reader *const *in, size_t n_in)
{
    sl_err err;
    int rc = sl_writer_close(w, in, n_in, &err);
    sl_cli_register_writer(NULL); /* closed and freed, whatever happened */
    if (rc < 0)
        sl_die_err(&err);
}

void sl_cli_check_output(const sl_writer *w)
{
    sl_err err;
    int rc = sl_writer_error(w, &err);
    if (rc > 0)
        sl_exit_pipe_closed();
    if (rc < 0)
        sl_die_err(&err);
}

void sl_cli_close_stdout(void)
{
    sl_err err;
    sl_textout t = {.f = stdout};
    int rc = sl_textout_close(&t, &err);
    if (rc > 0)
        sl_exit_pipe_closed();
    if (rc < 0)
        sl_die_err(&err);
}

static int text_handle = -1;

void sl_cli_textout_open(sl_textout *t, const char *path)
{
    sl_err err;
    if (sl_textout_open(t, path, &err) < 0)
        sl_die_err(&err);
    if (t->tmp)
        text_handle = sl_cleanup_track(t->tmp);
}

void sl_cli_textout_close(sl_textout *t)
{
    sl_err err;
    int rc = sl_textout_close(t, &err);
    sl_cleanup_drop(text_handle);
    text_handle = -1;
    if (rc > 0)
        sl_exit_pipe_closed();
    if (rc < 0)
        sl_die_err(&err);
}

void sl_cli_output_writable(const char *path)
{
    if (!path || strcmp(path, "-") == 0)
        return;
    sl_err err;
    char *tmp = NULL;
    int fd = sl_output_create(path, &tmp, &err);
    if (fd < 0)
        sl_die_err(&err);
    close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
}

void sl_cli_record_end(sl_writer *w, sl_map *rec)
{
    sl_err err;
    if (sl_writer_end(w, rec, &err) < 0)
        sl_die_err(&err);
}

int sl_cli_next_image(sl_reader **in, int n_in, int *f, sl_writer *out, sl_record *rec)
{
    sl_err err;
    for (; *f < n_in; ++*f) {
        int rc;
        while ((rc = sl_read(in[*f], rec, &err)) >= 0) {
            if (strcmp(rec->type, "image") == 0)
                return 1;
            if (out && sl_writer_raw(out, rec, &err) < 0)
                sl_die_err(&err);
        }
        if (rc < SL_READ_END)
            sl_die_err(&err);
    }
    return 0;
}

long sl_cli_long(const char *opt, const char *arg, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end)
        sl_usage_error("option %s: '%s' is not an integer", opt, arg);
    if (v < lo || v > hi)
        sl_usage_error("option %s: %ld is out of range [%ld, %ld]", opt, v, lo, hi);
    return v;
}

double sl_cli_double(const char *opt, const char *arg, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !isfinite(v))
        sl_usage_error("option %s: '%s' is not a number", opt, arg);
    if (v < lo || v > hi)
        sl_usage_error("option %s: %g is out of range [%g, %g]", opt, v, lo, hi);
    return v;
}

static int takes_progress;

void sl_cli_takes_progress(void)
{
    takes_progress = 1;
}

/* Appends the common options to the tool's tables. */
static void merge_options(const sl_cli_spec *spec, char *shorts, size_t n_shorts,
                          struct option *longs, size_t n_longs)
{
    static const struct option progress = {"progress", no_argument, NULL, OPT_PROGRESS};
    snprintf(shorts, n_shorts, "o:s:j:qh%s", spec->short_opts ? spec->short_opts : "");
    static const struct option common[] = {
        {"output", required_argument, NULL, 'o'}, {"seed", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 'j'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, OPT_VERSION},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        longs[n++] = common[i];
    if (takes_progress)
        longs[n++] = progress;
    for (const struct option *o = spec->long_opts; o && o->name && n + 1 < n_longs; o++)
        longs[n++] = *o;
    memset(&longs[n], 0, sizeof longs[n]);
}

void sl_cli_parse(const sl_cli_spec *spec, int argc, char **argv)
{
    sl_cli *c = &sl_cli_state;
    c->tool = spec->tool;
    c->usage = spec->usage;
    c->seed = spec->default_seed;
    c->threads = 1;
    c->argc = argc;
    c->argv = argv;
    wall_start = now();
    /* A closed pipe downstream must show up as EPIPE from write(), which the
     * writers turn into a quiet exit, not as a signal. */
    signal(SIGPIPE, SIG_IGN);
    /* INT, TERM and HUP remove the temporary files of unfinished outputs. */
    sl_cleanup_install_signals();

    char shorts[128];
    struct option longs[64];
    merge_options(spec, shorts, sizeof shorts, longs, sizeof longs / sizeof *longs);
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        switch (opt) {
        case 'o': c->output = optarg; break;
        case 's':
            c->seed = (uint64_t)sl_cli_long("-s/--seed", optarg, 0, 0x7fffffffffffffffL);
            c->seed_given = 1;
            break;
        case 'j': c->threads = (int)sl_cli_long("-j/--threads", optarg, 1, 256); break;
        case 'q': c->quiet = 1; break;
        case OPT_PROGRESS: c->progress = 1; break;
        case 'h':
            fputs(spec->usage, stdout);
            sl_cli_close_stdout();
            exit(SL_EXIT_OK);
        case OPT_VERSION:
            printf("%s %s\n", spec->tool, SL_VERSION);
            sl_cli_close_stdout();
            exit(SL_EXIT_OK);
        case '?':
            if (optopt && optopt < 256)
                sl_usage_error("unknown or incomplete option '-%c'", optopt);
            sl_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        default:
            if (!spec->on_option || spec->on_option(opt, optarg) != 0)
                sl_usage_error("unhandled option");
        }
    }
    c->inputs = argv + optind;
    c->n_inputs = argc - optind;
    if (spec->reads_input && c->n_inputs == 0) {
        if (isatty(STDIN_FILENO)) {
            fputs(spec->usage, stderr);
            exit(SL_EXIT_USAGE);
        }
        c->inputs = stdin_operand;
        c->n_inputs = 1;
    }
}

sl_reader **sl_cli_open_inputs(int peek)
{
    sl_err err;
    sl_reader **in = calloc((size_t)sl_cli_state.n_inputs + 1, sizeof *in);
    if (!in)
        sl_die("out of memory");
    for (int i = 0; i < sl_cli_state.n_inputs; i++)
        if (!(in[i] = sl_reader_open(sl_cli_state.inputs[i], &err)) ||
            (peek && sl_reader_peek_header(in[i], &err) < 0))
            sl_die_err(&err);
    return in;
}

void sl_cli_close_inputs(sl_reader **in)
{
    for (int i = 0; in && i < sl_cli_state.n_inputs; i++)
        sl_reader_close(in[i]);
    free(in);
}

sl_provenance sl_cli_provenance(void)
{
    sl_provenance p = {0};
    p.tool = sl_cli_state.tool;
    p.version = SL_VERSION;
    p.argc = sl_cli_state.argc;
    p.argv = sl_cli_state.argv;
    p.has_seed = sl_cli_state.seed_given;
    p.seed = sl_cli_state.seed;
    return p;
}
