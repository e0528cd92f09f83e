/* cli.h: what every tool shares at the command line: the common options, the
 * error reporter and the exit codes.  Only tools use this (it prints and
 * exits); libcommon never does.
 *
 * Common options, spelled the same in every tool:
 *   -o, --output FILE   write FILE (under a temporary name, renamed on success)
 *   -s, --seed INT      random seed
 *   -j, --threads INT   worker threads [1]
 *   -q, --quiet         no progress or summary on standard error
 *   -h, --help          usage on standard output, exit 0
 *       --version       version on standard output, exit 0
 */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <getopt.h>
#include <stdint.h>

#include "err.h"
#include "output.h"
#include "record.h"

enum { SL_EXIT_OK = 0, SL_EXIT_DATA = 1, SL_EXIT_USAGE = 2 };

typedef struct sl_cli {
    const char *tool;  /* program name in messages: "sl-cat" */
    const char *usage; /* the --help text */
    const char *output;
    uint64_t seed;
    int seed_given;
    int threads;
    int quiet;
    int progress;  /* --progress: the progress line even when stderr is no terminal */
    char **inputs; /* the operands; "-" when there were none */
    int n_inputs;
    int argc;
    char **argv;
} sl_cli;

extern sl_cli sl_cli_state;

/* A tool's own options: getopt_long letters and long options (use values
 * >= 256 for long-only ones), handled by on_option, which returns 0 or calls
 * sl_usage_error.  reads_input: with no operands standard input is read, and
 * a terminal there gets the usage text instead of a wait. */
typedef struct sl_cli_spec {
    const char *tool, *usage;
    const char *short_opts;
    const struct option *long_opts;
    int (*on_option)(int opt, const char *arg);
    uint64_t default_seed;
    int reads_input;
} sl_cli_spec;

/* Called before sl_cli_parse: the tool takes the common --progress (a tool
 * with its own --progress, as sl-train, does not call it). */
void sl_cli_takes_progress(void);

/* Parses argv; exits 0 for --help/--version and 2 on a usage error. */
void sl_cli_parse(const sl_cli_spec *spec, int argc, char **argv);

/* Numbers from option arguments, or a usage error naming the option. */
long sl_cli_long(const char *opt, const char *arg, long lo, long hi);
double sl_cli_double(const char *opt, const char *arg, double lo, double hi);

/* Provenance for the output header, from the parsed command line. */
sl_provenance sl_cli_provenance(void);

/* Opens every operand (sl_cli_state.inputs) for reading; with peek, reads
 * each one's header first, so that the tool can write its own header with
 * their provenance.  Dies on error.  Free with sl_cli_close_inputs. */
sl_reader **sl_cli_open_inputs(int peek);
void sl_cli_close_inputs(sl_reader **in);

/* The output stream registered here is removed (temporary file deleted) when
 * the tool dies. */
void sl_cli_register_writer(sl_writer *w);

/* Opens an output record stream (path NULL or "-": standard output),
 * registers it, and writes its header: prov (NULL: this run's command line
 * and seed) and the provenance of inputs[0..n_in).  Dies on error. */
sl_writer *sl_cli_output_open(const char *path, const sl_provenance *prov, sl_reader *const *in,
                              size_t n_in);
/* Writes the end record, puts the file in place and unregisters it.  Dies
 * on error. */
void sl_cli_output_close(sl_writer *w, sl_reader *const *in, size_t n_in);
/* After writing to w: ends quietly when the reader of our pipe went away, dies
 * with "tool: NAME: write error: REASON" after any other write error. */
void sl_cli_check_output(const sl_writer *w);
/* Closes standard output (text written with stdio): dies with "tool:
 * standard output: write error: REASON" on error (a full disk), ends quietly
 * on a closed pipe. */
void sl_cli_close_stdout(void);
/* A text output (path NULL or "-": standard output) whose temporary file is
 * removed if the tool dies or is killed; dies on error.  Close ends quietly on
 * a closed pipe and dies on a write error.  One at a time. */
void sl_cli_textout_open(sl_textout *t, const char *path);
void sl_cli_textout_close(sl_textout *t);
/* Dies at once ("tool: PATH: cannot write: REASON") unless an output file
 * can be created at path (standard output and devices always can): creates
 * and removes the temporary file its writer will use.  For tools that work
 * long before they write (sl-train, sl-merge), so a bad -o fails first. */
void sl_cli_output_writable(const char *path);
/* Ends a data record begun with sl_writer_begin(); dies when a map in it
 * broke its promised key count (a bug, reported as such). */
void sl_cli_record_end(sl_writer *w, sl_map *rec);

/* The next image record of in[*f], in[*f + 1], ... (start with *f = 0),
 * copying every record of another type to out unchanged (when out is not
 * NULL); 0 when the inputs are done.  Dies on a read or write error. */
int sl_cli_next_image(sl_reader **in, int n_in, int *f, sl_writer *out, sl_record *rec);

/* "tool: message" on stderr and exit 1 (data or runtime error). */
void sl_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void sl_die_err(const sl_err *e) __attribute__((noreturn));
/* "tool: message" and a pointer to --help, exit 2. */
void sl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A closed output pipe: end quietly, successfully, dropping the output. */
void sl_exit_pipe_closed(void) __attribute__((noreturn));
/* At the end of a run, unless -q: "tool: <what> in 1.23 s real, 2.10 s CPU,
 * 45.6 MB peak memory" on stderr (like minimap2's closing line), or with a
 * label "tool: <label>: <what> in ...". */
void sl_cli_summary(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Labels and progress ---------------------------------------------------
 * The label says which input or shard the summary and the progress line are
 * about ("sl-encode: frame-r.slr [image 0, patches 12-23 of 48]: ..."), so
 * that the lines of jobs run side by side (GNU parallel) tell themselves
 * apart.  Empty by default. */
void sl_cli_label(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The operands as a label: "a.slr", "a.slr b.slr", "a.slr and 3 more"
 * (without directories); "" for standard input alone. */
const char *sl_cli_inputs_label(void);
/* How far through the inputs the readers are, 0 to 1, by bytes; -1 when one
 * of them is a pipe. */
double sl_cli_inputs_fraction(sl_reader *const *in, int n);
/* Whether a progress line is shown: stderr is a terminal or --progress was
 * given, and not -q. */
int sl_cli_progress_on(void);
/* The progress line "tool: <label>: 120 images, 45.6/s, 35%, ETA 0m12s"
 * (the percentage and ETA when fraction, 0 to 1, is known; else give -1),
 * at most four times a second: on a terminal one line redrawn in place, else
 * a line a second.  Call it as often as convenient. */
void sl_cli_progress(long done, const char *unit, double fraction);
/* Erases a progress line from the terminal (the summary and the error
 * messages do it themselves). */
void sl_cli_progress_clear(void);
/* "tool: message" on stderr unless -q. */
void sl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
