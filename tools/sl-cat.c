/* sl-cat: look inside record streams.
 *
 * Prints every record as one JSON line (bins summarized unless --full), or
 * counts records by type, or checks streams without printing, or passes the
 * records through as a new msgpack stream (--raw) so it can filter inside a
 * pipeline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image.h"
#include "json.h"
#include "output.h"
#include "record.h"

static const char usage[] =
    "Usage: sl-cat [options] [FILE...]\n"
    "Print sl-records streams (man 5 sl-records) as JSON lines, one record a line,\n"
    "or filter them. Reads standard input when no FILE is given or FILE is '-'.\n"
    "\n"
    "Options:\n"
    "  -t, --type TYPE   keep only records of TYPE (header and end are framing: with\n"
    "                    --type they are dropped from JSON output)\n"
    "      --full        print bin arrays whole instead of a summary\n"
    "                    {\"bin\":\"float32\",\"n\":N,\"min\":..,\"max\":..,\"mean\":..,\"nan\":K}\n"
    "  -c, --count       print TYPE<TAB>COUNT for every record type, in order of first\n"
    "                    appearance (header and end included)\n"
    "      --check       validate the streams and print nothing; exit 0 if all are\n"
    "                    complete and well formed (framing, and every image record\n"
    "                    against sl-records(5)), 1 otherwise (the reason on stderr\n"
    "                    unless -q)\n"
    "  -r, --raw         write a msgpack stream (new header, the kept data records\n"
    "                    unchanged, end) instead of JSON\n"
    "  -o, --output FILE write FILE instead of standard output (renamed into place\n"
    "                    only when complete)\n"
    "  -q, --quiet       no messages for --check\n"
    "  -h, --help        this text\n"
    "      --version     the version\n"
    "\n"
    "Exit status: 0 success, 1 bad or truncated input or a write error, 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  sl-cat images.slr | jq -c '.truth'\n"
    "  sl-cat --count images.slr\n"
    "  sl-simulate -n 100 | sl-cat --raw --type image | sl-train ...\n";

enum { MODE_JSON, MODE_COUNT, MODE_CHECK, MODE_RAW };
enum { OPT_FULL = 256, OPT_CHECK };

static struct {
    int mode;
    const char *type;
    int full;
} opt = {MODE_JSON, NULL, 0};

static int on_option(int c, const char *arg)
{
    switch (c) {
    case 't': opt.type = arg; return 0;
    case OPT_FULL: opt.full = 1; return 0;
    case 'c': opt.mode = MODE_COUNT; return 0;
    case OPT_CHECK: opt.mode = MODE_CHECK; return 0;
    case 'r': opt.mode = MODE_RAW; return 0;
    }
    return -1;
}

typedef struct type_count {
    char type[32];
    long n;
} type_count;

static void count_type(type_count **counts, size_t *n, const char *type)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*counts)[i].type, type) == 0) {
            (*counts)[i].n++;
            return;
        }
    type_count *c = realloc(*counts, (*n + 1) * sizeof **counts);
    if (!c)
        sl_die("out of memory");
    *counts = c;
    snprintf(c[*n].type, sizeof c[*n].type, "%s", type);
    c[(*n)++].n = 1;
}

/* --check: every input in full; returns the number of bad ones. */
static int check_all(void)
{
    int bad = 0;
    for (int i = 0; i < sl_cli_state.n_inputs; i++) {
        sl_err err;
        sl_record rec;
        sl_reader *r = sl_reader_open(sl_cli_state.inputs[i], &err);
        int rc = r ? 0 : SL_READ_ERROR;
        while (r && (rc = sl_read(r, &rec, &err)) >= 0)
            if (strcmp(rec.type, "image") == 0 && sl_image_check(&rec, &err) < 0) {
                rc = SL_READ_ERROR;
                break;
            }
        if (rc != SL_READ_END) {
            bad++;
            sl_note("%s", err.msg);
        }
        sl_reader_close(r);
    }
    return bad;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"type", required_argument, NULL, 't'}, {"full", no_argument, NULL, OPT_FULL},
        {"count", no_argument, NULL, 'c'},      {"check", no_argument, NULL, OPT_CHECK},
        {"raw", no_argument, NULL, 'r'},        {NULL, 0, NULL, 0}};
    const sl_cli_spec spec = {"sl-cat", usage, "t:cr", longs, on_option, 0, 1};
    sl_cli_parse(&spec, argc, argv);
    if (opt.mode == MODE_CHECK)
        return check_all() ? SL_EXIT_DATA : SL_EXIT_OK;
    if (opt.mode == MODE_RAW && opt.type &&
        (strcmp(opt.type, "header") == 0 || strcmp(opt.type, "end") == 0))
        sl_usage_error("--raw writes its own header and end; --type %s keeps nothing", opt.type);

    sl_err err;
    int n = sl_cli_state.n_inputs;
    /* --raw: our header carries the inputs' headers, so they are read first.
     * Otherwise header and end records are shown like the others. */
    sl_reader **in = sl_cli_open_inputs(opt.mode == MODE_RAW);
    for (int i = 0; i < n; i++)
        sl_reader_show_framing(in[i], opt.mode != MODE_RAW);

    sl_writer *w = NULL;
    sl_textout text = {0};
    if (opt.mode == MODE_RAW)
        w = sl_cli_output_open(sl_cli_state.output, NULL, in, (size_t)n);
    else
        sl_cli_textout_open(&text, sl_cli_state.output);

    type_count *counts = NULL;
    size_t n_counts = 0;
    sl_record rec;
    for (int i = 0; i < n; i++) {
        int rc;
        while ((rc = sl_read(in[i], &rec, &err)) >= 0) {
            if (opt.type && strcmp(rec.type, opt.type) != 0)
                continue;
            if (opt.mode == MODE_COUNT) {
                count_type(&counts, &n_counts, rec.type);
            } else if (opt.mode == MODE_RAW) {
                if (sl_writer_raw(w, &rec, &err) < 0)
                    sl_die_err(&err);
                sl_cli_check_output(w);
            } else {
                sl_json_write(text.f, &rec.root, opt.full);
                putc('\n', text.f);
                if (ferror(text.f))
                    goto done; /* reported when closing: quietly for a closed pipe */
            }
        }
        if (rc < -1) {
            sl_textout_abort(&text);
            sl_die_err(&err);
        }
    }
done:
    for (size_t i = 0; i < n_counts; i++)
        fprintf(text.f, "%s\t%ld\n", counts[i].type, counts[i].n);
    free(counts);

    if (w)
        sl_cli_output_close(w, in, (size_t)n);
    else
        sl_cli_textout_close(&text);
    sl_cli_close_inputs(in);
    return SL_EXIT_OK;
}
