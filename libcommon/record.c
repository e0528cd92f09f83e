#include "record.h"

#include "cleanup.h"
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK ((size_t)1 << 20)
#define WRITE_BUFFER ((size_t)1 << 20)

/* The structure of the msgpack object at the front of the reader's buffer,
 * walked without building anything, and resumed where it stopped after each
 * read(): an object is handed to msgpack-c once, when all its bytes are
 * present, so that reading is linear in its size whatever the read() sizes
 * (re-parsing an unfinished record from its start after every read() made a
 * pipe quadratic), and msgpack-c never reserves memory for the element
 * counts a record declares before the elements are there. */
#define SCAN_MAX_DEPTH 32 /* msgpack-c's MSGPACK_EMBED_STACK_SIZE: containers open at once */
typedef struct msgpack_scan {
    size_t pos;             /* next byte to look at, from the object's first byte; past
                               the bytes present while a str/bin/ext payload is awaited */
    int depth;              /* containers open */
    int done;               /* the outermost value is complete once pos bytes are present */
    uint64_t left[SCAN_MAX_DEPTH]; /* values still due in each open container */
    uint64_t declared[SCAN_MAX_DEPTH];
    size_t at[SCAN_MAX_DEPTH];     /* where each open container began */
    unsigned char is_map[SCAN_MAX_DEPTH];
} msgpack_scan;

/* A copy of a header record, kept for provenance. */
typedef struct saved_header {
    char *raw;
    size_t len;
} saved_header;

struct sl_reader {
    char *name;
    int fd;
    double size;          /* bytes in the file; 0 when not a regular file */
    double bytes_read;
    char *buf;            /* bytes read and not yet consumed are buf[start, end) */
    size_t cap, start, end;
    int eof;
    size_t max_read;      /* > 0: bytes per read() at most (tests) */
    msgpack_scan scan;    /* how far the next object's structure has been read */
    msgpack_unpacked unpacked;
    long num;             /* records read so far */
    int show_framing;
    int in_segment;       /* a header was read and its end not yet */
    long segment_start;   /* record number of that header */
    long segment_count;   /* data records in the current segment */
    int replay_header;    /* peek consumed a header that sl_read must still show */
    msgpack_unpacked replay;
    saved_header *headers; /* every header seen; headers[taken..] not yet taken */
    size_t n_headers, m_headers, taken;
};

/* ---- Reading -------------------------------------------------------------- */

/* Recognising other files by their first bytes.  A stream begins with a map
 * (a header of 9 keys is 0x89 then a fixstr key), so none of these magic
 * numbers can begin one. */
static const struct {
    const char *magic;
    size_t len;
    int kind;
} magics[] = {
    {"SIMPLE  =", 9, SL_KIND_FITS},
    {"XTENSION=", 9, SL_KIND_FITS},
    {"\x1f\x8b", 2, SL_KIND_GZIP},
    {"\x1f\x9d", 2, SL_KIND_COMPRESS},
    {"BZh", 3, SL_KIND_BZIP2},
    {"\xfd" "7zXZ\0", 6, SL_KIND_XZ},
    {"\x28\xb5\x2f\xfd", 4, SL_KIND_ZSTD},
    {"\x89PNG\r\n\x1a\n", 8, SL_KIND_PNG},
};

int sl_sniff_kind(const void *data, size_t n)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < sizeof magics / sizeof *magics; i++)
        if (n >= magics[i].len && memcmp(b, magics[i].magic, magics[i].len) == 0)
            return magics[i].kind;
    if (n == 0 || (b[0] >= 0x80 && b[0] <= 0x8f) || b[0] == 0xde || b[0] == 0xdf)
        return SL_KIND_RECORDS; /* a map: a stream, as far as one byte tells */
    size_t k = 0, m = n < 256 ? n : 256;
    while (k < m && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r'))
        k++;
    if (k < m && (b[k] == '{' || b[k] == '['))
        return SL_KIND_JSON;
    for (k = 0; k < m; k++)
        if (b[k] < 0x20 && b[k] != '\t' && b[k] != '\n' && b[k] != '\r')
            return SL_KIND_UNKNOWN;
    return b[0] >= 0x80 ? SL_KIND_UNKNOWN : SL_KIND_TEXT; /* UTF-8 beyond the first byte */
}

const char *sl_kind_hint(int kind)
{
    switch (kind) {
    case SL_KIND_FITS:
        return "this is a FITS file, not a record stream: convert it with sl-tile";
    case SL_KIND_GZIP:
        return "this is a gzip-compressed file, not a record stream: decompress it "
               "(zcat FILE | ...); sl-tile reads a compressed FITS file as it is";
    case SL_KIND_COMPRESS:
        return "this is a compress(1)ed file, not a record stream: decompress it "
               "(zcat FILE | ...); sl-tile reads a compressed FITS file as it is";
    case SL_KIND_BZIP2:
        return "this is a bzip2-compressed file, not a record stream: decompress it "
               "(bzcat FILE | ...); sl-tile reads a compressed FITS file as it is";
    case SL_KIND_XZ:
        return "this is an xz-compressed file, not a record stream: decompress it "
               "(xzcat FILE | ...)";
    case SL_KIND_ZSTD:
        return "this is a zstd-compressed file, not a record stream: decompress it "
               "(zstdcat FILE | ...)";
    case SL_KIND_PNG:
        return "this is a PNG image, not a record stream";
    case SL_KIND_JSON:
        return "this is JSON text, not a record stream (sl-cat prints records as JSON; "
               "the tools read the msgpack stream itself)";
    case SL_KIND_TEXT:
        return "this is text, not a record stream";
    default: return NULL;
    }
}

/* After an error in the first record: a message that says what the file is
 * instead, when its first bytes tell. */
static void first_record_hint(const sl_reader *r, sl_err *err)
{
    if (r->n_headers > 0 || !r->buf)
        return;
    const char *hint = sl_kind_hint(sl_sniff_kind(r->buf, r->end));
    if (hint)
        sl_err_set(err, "%s: record 1: %s", r->name, hint);
}

sl_reader *sl_reader_open(const char *path, sl_err *err)
{
    int is_stdin = !path || strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY);
    if (fd < 0) {
        sl_err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (!is_stdin && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        sl_err_set(err, "%s: is a directory", path);
        return NULL;
    }
    sl_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(is_stdin ? "-" : path))) {
        free(r);
        if (!is_stdin)
            close(fd);
        sl_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    r->fd = fd;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        r->size = (double)st.st_size;
    msgpack_unpacked_init(&r->unpacked);
    msgpack_unpacked_init(&r->replay);
    return r;
}

void sl_reader_close(sl_reader *r)
{
    if (!r)
        return;
    if (r->fd != STDIN_FILENO)
        close(r->fd);
    msgpack_unpacked_destroy(&r->unpacked);
    msgpack_unpacked_destroy(&r->replay);
    for (size_t i = 0; i < r->n_headers; i++)
        free(r->headers[i].raw);
    free(r->headers);
    free(r->buf);
    free(r->name);
    free(r);
}

const char *sl_reader_name(const sl_reader *r) { return r->name; }

int sl_reader_position(const sl_reader *r, double *done, double *size)
{
    *done = r->bytes_read - (double)(r->end - r->start);
    *size = r->size;
    return r->size > 0 ? 0 : -1;
}
void sl_reader_show_framing(sl_reader *r, int show) { r->show_framing = show; }
void sl_reader_max_read(sl_reader *r, size_t n) { r->max_read = n; }

const char *sl_reader_last_header(const sl_reader *r, size_t *len)
{
    if (r->n_headers == 0 || !r->headers[r->n_headers - 1].raw)
        return NULL;
    *len = r->headers[r->n_headers - 1].len;
    return r->headers[r->n_headers - 1].raw;
}

/* Makes room for at least one more chunk after the unconsumed bytes. */
static int reader_make_room(sl_reader *r, sl_err *err)
{
    size_t pending = r->end - r->start;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, pending);
        r->start = 0;
        r->end = pending;
    }
    if (r->cap - r->end >= READ_CHUNK / 2)
        return 0;
    if (pending > SL_RECORD_MAX_BYTES)
        return sl_err_set(err, "%s: record %ld: larger than %zu bytes: refusing it as corrupt",
                          r->name, r->num + 1, SL_RECORD_MAX_BYTES);
    size_t cap = r->cap ? r->cap : READ_CHUNK;
    while (cap - pending < READ_CHUNK / 2)
        cap *= 2;
    char *buf = realloc(r->buf, cap);
    if (!buf)
        return sl_err_set(err, "%s: out of memory for a record of %zu bytes", r->name, pending);
    r->buf = buf;
    r->cap = cap;
    return 0;
}

static uint64_t be_uint(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Advances the scan of the object at p (avail bytes present so far).
 * Returns 1 when the object is complete (its length in sc->pos), 0 when more
 * bytes are needed, or -1 with err set for input that no more bytes could
 * make valid. */
static int scan_object(msgpack_scan *sc, const unsigned char *p, size_t avail,
                       const sl_reader *r, sl_err *err)
{
    while (!sc->done) {
        if (sc->pos >= avail)
            return 0;
        unsigned b = p[sc->pos];
        size_t hl = 1;     /* header bytes: type byte and length or count */
        int lenb = 0;      /* bytes of the big-endian length or count after the type byte */
        uint64_t payload = 0, count = 0;
        int container = 0; /* 1 array, 2 map */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        } else if (b <= 0x8f) {
            container = 2, count = b & 0x0f;
        } else if (b <= 0x9f) {
            container = 1, count = b & 0x0f;
        } else if (b <= 0xbf) {
            payload = b & 0x1f;
        } else if (b == 0xc1) {
            return sl_err_set(err, "%s: record %ld: not valid msgpack (byte 0xc1 at offset %zu)",
                              r->name, r->num + 1, sc->pos);
        } else if (b <= 0xc6) { /* bin 8, 16, 32 */
            lenb = 1 << (b - 0xc4);
        } else if (b <= 0xc9) { /* ext 8, 16, 32: length, then the type byte */
            lenb = 1 << (b - 0xc7);
            hl = 1;
            payload = 1;
        } else if (b <= 0xd3) { /* float 32, 64; uint and int 8 to 64 */
            static const unsigned char size[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
            hl += size[b - 0xca];
        } else if (b <= 0xd8) { /* fixext 1 to 16: the type byte, then the data */
            hl += 1 + ((size_t)1 << (b - 0xd4));
        } else if (b <= 0xdb) { /* str 8, 16, 32 */
            lenb = 1 << (b - 0xd9);
        } else if (b <= 0xdd) { /* array 16, 32 */
            container = 1, lenb = b == 0xdc ? 2 : 4;
        } else {                /* map 16, 32 */
            container = 2, lenb = b == 0xde ? 2 : 4;
        }
        hl += (size_t)lenb;
        if (avail - sc->pos < hl)
            return 0; /* the header itself is not all here: look again later */
        if (lenb) {
            uint64_t v = be_uint(p + sc->pos + 1, lenb);
            if (container)
                count = v;
            else
                payload += v;
        }
        if (container && sc->depth >= SCAN_MAX_DEPTH)
            return sl_err_set(err, "%s: record %ld: nested deeper than msgpack-c's limit of %d "
                              "levels", r->name, r->num + 1, SCAN_MAX_DEPTH);
        if (container && count > 0) {
            uint64_t values = container == 2 ? 2 * count : count;
            if (values > SL_RECORD_MAX_BYTES)
                return sl_err_set(err, "%s: record %ld: %s at byte %zu declares %llu %s: more than "
                                  "a record of at most %zu bytes can hold", r->name, r->num + 1,
                                  container == 2 ? "a map" : "an array", sc->pos,
                                  (unsigned long long)count,
                                  container == 2 ? "pairs" : "elements", SL_RECORD_MAX_BYTES);
            sc->at[sc->depth] = sc->pos;
            sc->declared[sc->depth] = count;
            sc->is_map[sc->depth] = container == 2;
            sc->left[sc->depth++] = values;
            sc->pos += hl;
            continue;
        }
        if (sc->pos > SL_RECORD_MAX_BYTES || payload > SL_RECORD_MAX_BYTES - sc->pos)
            return sl_err_set(err, "%s: record %ld: a %s at byte %zu declares %llu bytes: more "
                              "than a record of at most %zu bytes can hold", r->name, r->num + 1,
                              b >= 0xc4 && b <= 0xc6 ? "bin" : b >= 0xc7 && b <= 0xc9 ? "ext"
                                                                                    : "string",
                              sc->pos, (unsigned long long)payload, SL_RECORD_MAX_BYTES);
        /* A whole value (a scalar, or an empty container): its parents have
         * one value fewer to wait for. */
        sc->pos += hl + payload;
        while (sc->depth > 0 && --sc->left[sc->depth - 1] == 0)
            sc->depth--;
        if (sc->depth == 0)
            sc->done = 1;
    }
    return sc->pos <= avail;
}

/* What an unfinished object at the end of the stream was waiting for, when
 * a container of it declared more values than the whole record present
 * could hold (and more than a few: a stream cut short is told plainly). */
static void explain_truncation(const msgpack_scan *sc, size_t present, char *buf, size_t size)
{
    buf[0] = '\0';
    for (int d = 0; d < sc->depth; d++)
        if (sc->left[d] > present && sc->left[d] > 1024) {
            snprintf(buf, size, ": %s at byte %zu declares %llu %s, more than the bytes present "
                     "could hold", sc->is_map[d] ? "a map" : "an array", sc->at[d],
                     (unsigned long long)sc->declared[d], sc->is_map[d] ? "pairs" : "elements");
            return;
        }
}

/* The next msgpack object of the file, whatever it is. */
static int next_object(sl_reader *r, const char **raw, size_t *len, sl_err *err)
{
    for (;;) {
        if (r->end > r->start) {
            int rc = scan_object(&r->scan, (const unsigned char *)r->buf + r->start,
                                 r->end - r->start, r, err);
            if (rc < 0)
                return SL_READ_ERROR;
            if (rc > 0) {
                size_t n = r->scan.pos, off = 0;
                memset(&r->scan, 0, sizeof r->scan);
                int ret = msgpack_unpack_next(&r->unpacked, r->buf + r->start, n, &off);
                if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
                    sl_err_set(err, "%s: record %ld: out of memory for a record of %zu bytes",
                               r->name, r->num + 1, n);
                    return SL_READ_ERROR;
                }
                if ((ret != MSGPACK_UNPACK_SUCCESS && ret != MSGPACK_UNPACK_EXTRA_BYTES) ||
                    off != n) {
                    sl_err_set(err, "%s: record %ld: not valid msgpack", r->name, r->num + 1);
                    return SL_READ_ERROR;
                }
                *raw = r->buf + r->start;
                *len = n;
                r->start += n;
                return 0;
            }
        }
        if (r->eof) {
            if (r->end > r->start) {
                char why[200];
                explain_truncation(&r->scan, r->end - r->start, why, sizeof why);
                sl_err_set(err, "%s: record %ld: truncated: the stream ends inside a record "
                                "(%zu bytes of it present)%s", r->name, r->num + 1,
                           r->end - r->start, why);
                return SL_READ_ERROR;
            }
            return SL_READ_END;
        }
        if (reader_make_room(r, err) < 0)
            return SL_READ_ERROR;
        ssize_t n;
        size_t want = r->cap - r->end;
        if (r->max_read && want > r->max_read)
            want = r->max_read;
        do
            n = read(r->fd, r->buf + r->end, want);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            sl_err_set(err, "%s: read error: %s", r->name, strerror(errno));
            return SL_READ_IO_ERROR;
        }
        if (n == 0)
            r->eof = 1;
        r->end += (size_t)n;
        r->bytes_read += (double)n;
    }
}

static int save_header(sl_reader *r, const char *raw, size_t len, sl_err *err)
{
    if (r->n_headers == r->m_headers) {
        size_t m = r->m_headers ? 2 * r->m_headers : 4;
        saved_header *h = realloc(r->headers, m * sizeof *h);
        if (!h)
            return sl_err_set(err, "%s: out of memory", r->name);
        r->headers = h;
        r->m_headers = m;
    }
    char *copy = malloc(len);
    if (!copy)
        return sl_err_set(err, "%s: out of memory", r->name);
    memcpy(copy, raw, len);
    r->headers[r->n_headers].raw = copy;
    r->headers[r->n_headers++].len = len;
    return 0;
}

static int check_header(sl_reader *r, sl_record *rec, sl_err *err)
{
    const char *fmt;
    size_t len;
    int64_t version;
    if (sl_rec_str(rec, "format", &fmt, &len, err) < 0)
        return -1;
    if (len != strlen(SL_FORMAT_NAME) || memcmp(fmt, SL_FORMAT_NAME, len) != 0)
        return sl_rec_fail(rec, "format", err, "expected \"%s\", got \"%.*s\"", SL_FORMAT_NAME,
                           (int)(len > 64 ? 64 : len), fmt);
    if (sl_rec_int(rec, "format_version", 1, INT32_MAX, &version, err) < 0)
        return -1;
    if (version > SL_FORMAT_VERSION)
        return sl_rec_fail(rec, "format_version", err,
                           "version %lld is newer than this tool reads (%d)",
                           (long long)version, SL_FORMAT_VERSION);
    (void)r;
    return 0;
}

/* Applies the framing rules to one record; returns 1 when it is header or
 * end (framing), 0 for data, < 0 on error. */
static int apply_framing(sl_reader *r, sl_record *rec, sl_err *err)
{
    if (strcmp(rec->type, "header") == 0) {
        if (r->in_segment) {
            sl_err_set(err, "%s: record %ld: truncated: the segment begun by the header at record "
                            "%ld has no end record before a new header",
                       r->name, rec->num, r->segment_start);
            return SL_READ_ERROR;
        }
        if (check_header(r, rec, err) < 0 || save_header(r, rec->raw, rec->raw_len, err) < 0)
            return SL_READ_ERROR;
        r->in_segment = 1;
        r->segment_start = rec->num;
        r->segment_count = 0;
        return 1;
    }
    if (strcmp(rec->type, "end") == 0) {
        int64_t count;
        if (!r->in_segment) {
            sl_err_set(err, "%s: record %ld: an end record without a header", r->name, rec->num);
            return SL_READ_ERROR;
        }
        if (sl_rec_int(rec, "records", 0, INT64_MAX, &count, err) < 0)
            return SL_READ_ERROR;
        if (count != r->segment_count) {
            sl_rec_fail(rec, "records", err, "the end record counts %lld records but the segment "
                        "holds %ld", (long long)count, r->segment_count);
            return SL_READ_ERROR;
        }
        r->in_segment = 0;
        return 1;
    }
    if (!r->in_segment) {
        sl_err_set(err, "%s: record %ld: a record of type '%s' outside a segment (expected a header)",
                   r->name, rec->num, rec->type);
        return SL_READ_ERROR;
    }
    r->segment_count++;
    return 0;
}

/* Fills rec from the object just parsed and checks it is a typed map. */
static int fill_record(sl_reader *r, sl_record *rec, const msgpack_object *root,
                       const char *raw, size_t len, sl_err *err)
{
    rec->root = *root;
    rec->raw = raw;
    rec->raw_len = len;
    rec->num = r->num;
    rec->file = r->name;
    rec->type[0] = '\0';
    if (root->type != MSGPACK_OBJECT_MAP) {
        sl_err_set(err, "%s: record %ld: expected a map, got %s", r->name, r->num,
                   sl_obj_type_name(root));
        return SL_READ_ERROR;
    }
    const char *type;
    size_t tlen;
    if (sl_rec_str(rec, "type", &type, &tlen, err) < 0)
        return SL_READ_ERROR;
    if (tlen == 0 || tlen >= sizeof rec->type || memchr(type, '\0', tlen)) {
        sl_rec_fail(rec, "type", err, "not a record type name: \"%.*s\"",
                    (int)(tlen > 40 ? 40 : tlen), type);
        return SL_READ_ERROR;
    }
    memcpy(rec->type, type, tlen);
    rec->type[tlen] = '\0';
    return 0;
}

int sl_read(sl_reader *r, sl_record *rec, sl_err *err)
{
    if (r->replay_header) {
        /* The header that sl_reader_peek_header consumed, shown now. */
        r->replay_header = 0;
        saved_header *h = &r->headers[r->n_headers - 1];
        size_t off = 0;
        msgpack_unpack_next(&r->replay, h->raw, h->len, &off);
        long num = r->num;
        r->num = r->segment_start;
        int rc = fill_record(r, rec, &r->replay.data, h->raw, h->len, err);
        r->num = num;
        return rc < 0 ? rc : 0;
    }
    for (;;) {
        const char *raw;
        size_t len;
        int rc = next_object(r, &raw, &len, err);
        if (rc == SL_READ_END) {
            if (r->in_segment) {
                sl_err_set(err, "%s: truncated: the segment begun by the header at record %ld "
                                "has no end record", r->name, r->segment_start);
                return SL_READ_ERROR;
            }
            if (r->num == 0) {
                sl_err_set(err, "%s: empty input: no header record", r->name);
                return SL_READ_ERROR;
            }
            return SL_READ_END;
        }
        if (rc == SL_READ_ERROR && r->num == 0)
            first_record_hint(r, err);
        if (rc < 0)
            return rc;
        r->num++;
        int framing = fill_record(r, rec, &r->unpacked.data, raw, len, err);
        if (framing == 0)
            framing = apply_framing(r, rec, err);
        if (framing < 0 && r->num == 1)
            first_record_hint(r, err);
        if (framing < 0)
            return framing;
        if (!framing || r->show_framing)
            return 0;
    }
}

int sl_reader_peek_header(sl_reader *r, sl_err *err)
{
    if (r->num > 0)
        return 0;
    sl_record rec;
    const char *raw;
    size_t len;
    int rc = next_object(r, &raw, &len, err);
    if (rc == SL_READ_END)
        return sl_err_set(err, "%s: empty input: no header record", r->name), SL_READ_ERROR;
    if (rc == SL_READ_ERROR)
        first_record_hint(r, err);
    if (rc < 0)
        return rc;
    r->num++;
    if (fill_record(r, &rec, &r->unpacked.data, raw, len, err) < 0) {
        first_record_hint(r, err);
        return SL_READ_ERROR;
    }
    if (strcmp(rec.type, "header") != 0) {
        sl_err_set(err, "%s: record 1: a record of type '%s' outside a segment (expected a header)",
                   r->name, rec.type);
        return SL_READ_ERROR;
    }
    if (apply_framing(r, &rec, err) < 0)
        return SL_READ_ERROR;
    r->replay_header = r->show_framing;
    return 0;
}

/* ---- Accessors ---------------------------------------------------------- */

const char *sl_obj_type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown";
}

int sl_obj_is_str(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

/* Looks up one path component (not dotted) in a map. */
static const msgpack_object *map_find(const msgpack_object *map, const char *key, size_t klen)
{
    /* In an array, a component of digits is an index: "samples.2.x". */
    if (map && map->type == MSGPACK_OBJECT_ARRAY && klen > 0 && klen < 10 &&
        strspn(key, "0123456789") >= klen) {
        size_t i = 0;
        for (size_t k = 0; k < klen; k++)
            i = 10 * i + (size_t)(key[k] - '0');
        return i < map->via.array.size ? &map->via.array.ptr[i] : NULL;
    }
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

const msgpack_object *sl_obj_get(const msgpack_object *map, const char *key)
{
    const char *dot;
    while ((dot = strchr(key, '.')) != NULL) {
        map = map_find(map, key, (size_t)(dot - key));
        key = dot + 1;
    }
    return map_find(map, key, strlen(key));
}

const msgpack_object *sl_rec_get(const sl_record *rec, const char *key)
{
    return sl_obj_get(&rec->root, key);
}

int sl_rec_fail(const sl_record *rec, const char *key, sl_err *err, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sl_err_set(err, "%s: record %ld: key '%s': %s", rec->file, rec->num, key, what);
}

/* The value of a required key, or NULL with the error filled in. */
static const msgpack_object *required(const sl_record *rec, const char *key, sl_err *err)
{
    const msgpack_object *o = sl_rec_get(rec, key);
    if (!o)
        sl_rec_fail(rec, key, err, "missing");
    return o;
}

int sl_rec_str(const sl_record *rec, const char *key, const char **s, size_t *len, sl_err *err)
{
    const msgpack_object *o = required(rec, key, err);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_STR)
        return sl_rec_fail(rec, key, err, "expected string, got %s", sl_obj_type_name(o));
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int sl_rec_strcpy(const sl_record *rec, const char *key, char *buf, size_t size, sl_err *err)
{
    const char *s;
    size_t len;
    if (sl_rec_str(rec, key, &s, &len, err) < 0)
        return -1;
    if (len >= size || memchr(s, '\0', len))
        return sl_rec_fail(rec, key, err, "string longer than %zu bytes or holding a NUL", size - 1);
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

/* Any msgpack number as a double; 0 when o is a number. */
static int obj_number(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return 0;
    default: return -1;
    }
}

int sl_rec_num(const sl_record *rec, const char *key, double *out, sl_err *err)
{
    const msgpack_object *o = required(rec, key, err);
    if (!o)
        return -1;
    if (obj_number(o, out) < 0)
        return sl_rec_fail(rec, key, err, "expected number, got %s", sl_obj_type_name(o));
    if (!isfinite(*out))
        return sl_rec_fail(rec, key, err, "not a finite number");
    return 0;
}

int sl_rec_int(const sl_record *rec, const char *key, int64_t lo, int64_t hi, int64_t *out,
               sl_err *err)
{
    const msgpack_object *o = required(rec, key, err);
    if (!o)
        return -1;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return sl_rec_fail(rec, key, err, "%llu is out of range [%lld, %lld]",
                               (unsigned long long)o->via.u64, (long long)lo, (long long)hi);
        *out = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
    } else {
        return sl_rec_fail(rec, key, err, "expected integer, got %s", sl_obj_type_name(o));
    }
    if (*out < lo || *out > hi)
        return sl_rec_fail(rec, key, err, "%lld is out of range [%lld, %lld]", (long long)*out,
                           (long long)lo, (long long)hi);
    return 0;
}

int sl_rec_nums(const sl_record *rec, const char *key, double *out, size_t n, sl_err *err)
{
    const msgpack_object *o = required(rec, key, err);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return sl_rec_fail(rec, key, err, "expected array of %zu numbers, got %s", n,
                           sl_obj_type_name(o));
    if (o->via.array.size != n)
        return sl_rec_fail(rec, key, err, "expected array of %zu numbers, got %u elements", n,
                           o->via.array.size);
    for (size_t i = 0; i < n; i++)
        if (obj_number(&o->via.array.ptr[i], &out[i]) < 0)
            return sl_rec_fail(rec, key, err, "element %zu: expected number, got %s", i,
                               sl_obj_type_name(&o->via.array.ptr[i]));
    return 0;
}

int sl_rec_f32_len(const sl_record *rec, const char *key, size_t *n, sl_err *err)
{
    const msgpack_object *o = required(rec, key, err);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_BIN)
        return sl_rec_fail(rec, key, err, "expected bin of float32, got %s", sl_obj_type_name(o));
    if (o->via.bin.size % 4 != 0)
        return sl_rec_fail(rec, key, err, "expected bin of float32, got %u bytes (not a multiple of 4)",
                           o->via.bin.size);
    *n = o->via.bin.size / 4;
    return 0;
}

int sl_rec_f32_check(const sl_record *rec, const char *key, size_t n, sl_err *err)
{
    const msgpack_object *o = required(rec, key, err);
    if (!o)
        return -1;
    if (o->type != MSGPACK_OBJECT_BIN)
        return sl_rec_fail(rec, key, err, "expected bin of %zu float32, got %s", n,
                           sl_obj_type_name(o));
    if (o->via.bin.size != 4 * n)
        return sl_rec_fail(rec, key, err, "expected bin of %zu float32, got %u bytes", n,
                           o->via.bin.size);
    return 0;
}

int sl_rec_f32(const sl_record *rec, const char *key, float *dst, size_t n, sl_err *err)
{
    if (sl_rec_f32_check(rec, key, n, err) < 0)
        return -1;
    /* Little-endian on the wire; this host is little-endian (checked at build time). */
    memcpy(dst, sl_rec_get(rec, key)->via.bin.ptr, 4 * n);
    return 0;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sl-records float32 bins are little-endian; add byte swapping for this host"
#endif

/* ---- Writing ------------------------------------------------------------ */

struct sl_writer {
    char *path;        /* final name, or "-" */
    char *tmp;         /* temporary name while writing, NULL for stdout */
    int tmp_handle;    /* tmp's slot in cleanup.h, removed on a signal; -1 none */
    int fd;
    char *buf;
    size_t len;
    msgpack_packer pk;
    long count;        /* data records written */
    int failed, pipe_closed, saved_errno;
    int miscounted;    /* a map broke its promise: fault says which */
    sl_err fault;
};

static void writer_flush(sl_writer *w)
{
    size_t done = 0;
    while (done < w->len && !w->failed) {
        ssize_t n = write(w->fd, w->buf + done, w->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            w->failed = 1;
            w->saved_errno = errno;
            w->pipe_closed = errno == EPIPE;
            break;
        }
        done += (size_t)n;
    }
    w->len = 0;
}

static int writer_append(void *data, const char *b, size_t n)
{
    sl_writer *w = data;
    if (w->failed)
        return -1;
    if (w->len + n > WRITE_BUFFER) {
        writer_flush(w);
        if (n >= WRITE_BUFFER) { /* a large bin: write it straight through */
            const char *saved = w->buf;
            w->buf = (char *)b;
            w->len = n;
            writer_flush(w);
            w->buf = (char *)saved;
            return w->failed ? -1 : 0;
        }
    }
    memcpy(w->buf + w->len, b, n);
    w->len += n;
    return 0;
}

sl_writer *sl_writer_open(const char *path, sl_err *err)
{
    int is_stdout = !path || strcmp(path, "-") == 0;
    sl_writer *w = calloc(1, sizeof *w);
    /* The name is for messages: standard output is named as such. */
    if (!w || !(w->buf = malloc(WRITE_BUFFER)) ||
        !(w->path = strdup(is_stdout ? "standard output" : path)))
        goto oom;
    w->tmp_handle = -1;
    if (is_stdout) {
        w->fd = STDOUT_FILENO;
    } else {
        w->fd = sl_output_create(path, &w->tmp, err);
        if (w->fd < 0)
            goto fail;
        if (w->tmp)
            w->tmp_handle = sl_cleanup_track(w->tmp);
    }
    msgpack_packer_init(&w->pk, w, writer_append);
    return w;
oom:
    sl_err_set(err, "%s: out of memory", path ? path : "-");
fail:
    if (w) {
        free(w->buf);
        free(w->path);
        free(w->tmp);
        free(w);
    }
    return NULL;
}

const char *sl_writer_name(const sl_writer *w) { return w->path; }
int sl_writer_pipe_closed(const sl_writer *w) { return w->pipe_closed; }
int sl_writer_failed(const sl_writer *w) { return w->failed; }

int sl_writer_error(const sl_writer *w, sl_err *err)
{
    if (!w->failed)
        return 0;
    if (w->pipe_closed)
        return 1;
    return sl_err_set(err, "%s: write error: %s", w->path, strerror(w->saved_errno));
}

/* ---- Maps that count their keys ------------------------------------------- */

void sl_map_begin(sl_map *m, msgpack_packer *pk, const char *name, uint32_t n_keys)
{
    *m = (sl_map){.pk = pk, .name = name, .promised = n_keys};
    msgpack_pack_map(pk, n_keys);
}

msgpack_packer *sl_map_key(sl_map *m, const char *key)
{
    m->written++;
    sl_pack_str(m->pk, key);
    return m->pk;
}

void sl_map_within(sl_map *m, sl_map *child, const char *name, uint32_t n_keys)
{
    sl_map_begin(child, m->pk, name, n_keys);
    child->up = m;
}

void sl_map_nest(sl_map *m, const char *key, sl_map *child, uint32_t n_keys)
{
    sl_map_key(m, key);
    sl_map_within(m, child, key, n_keys);
}

void sl_map_str(sl_map *m, const char *key, const char *value)
{
    sl_pack_str(sl_map_key(m, key), value);
}

void sl_map_int(sl_map *m, const char *key, int64_t value)
{
    msgpack_pack_int64(sl_map_key(m, key), value);
}

void sl_map_num(sl_map *m, const char *key, double value)
{
    msgpack_pack_double(sl_map_key(m, key), value);
}

void sl_map_bool(sl_map *m, const char *key, int value)
{
    msgpack_packer *pk = sl_map_key(m, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void sl_map_nil(sl_map *m, const char *key)
{
    msgpack_pack_nil(sl_map_key(m, key));
}

void sl_map_f32(sl_map *m, const char *key, const float *v, size_t n)
{
    sl_pack_f32(sl_map_key(m, key), v, n);
}

void sl_map_nums(sl_map *m, const char *key, const double *v, size_t n)
{
    msgpack_packer *pk = sl_map_key(m, key);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_double(pk, v[i]);
}

static int key_listed(const msgpack_object *key, const char *const *list)
{
    for (; *list; list++)
        if (sl_obj_is_str(key, *list))
            return 1;
    return 0;
}

uint32_t sl_map_count_except(const msgpack_object *map, const char *const *except)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        n += !key_listed(&map->via.map.ptr[i].key, except);
    return n;
}

void sl_map_copy_except(sl_map *m, const msgpack_object *map, const char *const *except)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (key_listed(&kv->key, except))
            continue;
        m->written++;
        msgpack_pack_object(m->pk, kv->key);
        msgpack_pack_object(m->pk, kv->val);
    }
}

int sl_map_end(sl_map *m, sl_err *err)
{
    if (m->written != m->promised && !m->bad_name) {
        m->bad_name = m->name;
        m->bad_promised = m->promised;
        m->bad_written = m->written;
    }
    if (!m->bad_name)
        return 0;
    /* The maps this one is inside fail at their end too. */
    for (sl_map *up = m->up; up && !up->bad_name; up = up->up) {
        up->bad_name = m->bad_name;
        up->bad_promised = m->bad_promised;
        up->bad_written = m->bad_written;
    }
    sl_err fault;
    sl_err_set(&fault, "programming error: map '%s' promised %u keys and got %u",
               m->bad_name, m->bad_promised, m->bad_written);
    if (err)
        *err = fault;
    /* Packed for a writer: remember the first fault there, so that the stream
     * is refused at its end even when the caller had no err to give. */
    if (m->pk->callback == writer_append) {
        sl_writer *w = m->pk->data;
        if (!w->miscounted)
            w->fault = fault;
        w->miscounted = 1;
    }
    return -1;
}

void sl_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void sl_pack_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    sl_pack_str(pk, key);
    sl_pack_str(pk, value);
}

void sl_pack_kv_int(msgpack_packer *pk, const char *key, int64_t value)
{
    sl_pack_str(pk, key);
    msgpack_pack_int64(pk, value);
}

void sl_pack_kv_num(msgpack_packer *pk, const char *key, double value)
{
    sl_pack_str(pk, key);
    msgpack_pack_double(pk, value);
}

void sl_pack_kv_bool(msgpack_packer *pk, const char *key, int value)
{
    sl_pack_str(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void sl_pack_f32(msgpack_packer *pk, const float *v, size_t n)
{
    msgpack_pack_bin(pk, 4 * n);
    msgpack_pack_bin_body(pk, v, 4 * n);
}

void sl_pack_kv_f32(msgpack_packer *pk, const char *key, const float *v, size_t n)
{
    sl_pack_str(pk, key);
    sl_pack_f32(pk, v, n);
}

void sl_pack_kv_nums(msgpack_packer *pk, const char *key, const double *v, size_t n)
{
    sl_pack_str(pk, key);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_double(pk, v[i]);
}

/* Provenance is flat: a header's `provenance` lists every upstream header in
 * order, each without its own `provenance`, so the nesting depth stays the same
 * however long the pipeline (msgpack-c refuses more than 32 levels). */
static uint32_t provenance_entries(const msgpack_object *hdr)
{
    const msgpack_object *prov = sl_obj_get(hdr, "provenance");
    return 1 + (prov && prov->type == MSGPACK_OBJECT_ARRAY ? prov->via.array.size : 0);
}

static void pack_without_provenance(msgpack_packer *pk, const msgpack_object *hdr)
{
    static const char *const except[] = {"provenance", NULL};
    sl_map m;
    sl_map_begin(&m, pk, "header", sl_map_count_except(hdr, except));
    sl_map_copy_except(&m, hdr, except);
    sl_map_end(&m, NULL);
}

/* Packs the pending headers of the inputs as one flat provenance array, and
 * marks them taken.  Returns the number of entries packed. */
static uint32_t pack_provenance(msgpack_packer *pk, sl_reader *const *inputs, size_t n_inputs,
                                int count_only)
{
    uint32_t total = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    for (size_t i = 0; i < n_inputs; i++) {
        sl_reader *r = inputs[i];
        for (size_t h = r->taken; h < r->n_headers; h++) {
            size_t off = 0;
            msgpack_unpack_next(&u, r->headers[h].raw, r->headers[h].len, &off);
            if (count_only) {
                total += provenance_entries(&u.data);
                continue;
            }
            const msgpack_object *prov = sl_obj_get(&u.data, "provenance");
            if (prov && prov->type == MSGPACK_OBJECT_ARRAY)
                for (uint32_t k = 0; k < prov->via.array.size; k++) {
                    msgpack_pack_object(pk, prov->via.array.ptr[k]);
                    total++;
                }
            pack_without_provenance(pk, &u.data);
            total++;
        }
        if (!count_only) {
            /* Taken: their copies are no longer needed. */
            for (size_t h = r->taken; h < r->n_headers; h++) {
                free(r->headers[h].raw);
                r->headers[h].raw = NULL;
            }
            r->taken = r->n_headers;
        }
    }
    msgpack_unpacked_destroy(&u);
    return total;
}

int sl_writer_header(sl_writer *w, const sl_provenance *p, sl_reader *const *inputs,
                     size_t n_inputs, sl_err *err)
{
    msgpack_packer *pk = &w->pk;
    sl_map hdr, config;
    sl_map_begin(&hdr, pk, "header", 9);
    sl_map_str(&hdr, "type", "header");
    sl_map_str(&hdr, "format", SL_FORMAT_NAME);
    sl_map_int(&hdr, "format_version", SL_FORMAT_VERSION);
    sl_map_str(&hdr, "tool", p->tool);
    sl_map_str(&hdr, "version", p->version);
    msgpack_pack_array(sl_map_key(&hdr, "argv"), p->argc);
    for (int i = 0; i < p->argc; i++)
        sl_pack_str(pk, p->argv[i]);
    if (p->has_seed)
        msgpack_pack_uint64(sl_map_key(&hdr, "seed"), p->seed);
    else
        sl_map_nil(&hdr, "seed");
    sl_map_nest(&hdr, "config", &config, (uint32_t)p->n_config);
    for (size_t i = 0; i < p->n_config; i++)
        sl_map_str(&config, p->config_names[i], p->config_values[i]);
    sl_map_end(&config, NULL);
    msgpack_pack_array(sl_map_key(&hdr, "provenance"), pack_provenance(pk, inputs, n_inputs, 1));
    pack_provenance(pk, inputs, n_inputs, 0);
    if (sl_map_end(&hdr, err) < 0)
        return -1;
    if (w->failed && !w->pipe_closed)
        return sl_err_set(err, "%s: write error: %s", w->path, strerror(w->saved_errno));
    return 0;
}

void sl_writer_begin(sl_writer *w, sl_map *rec, const char *type, uint32_t n_keys)
{
    w->count++;
    sl_map_begin(rec, &w->pk, type, n_keys);
    sl_map_str(rec, "type", type);
}

int sl_writer_end(sl_writer *w, sl_map *rec, sl_err *err)
{
    sl_map_end(rec, NULL);
    if (w->miscounted) {
        if (err)
            *err = w->fault;
        return -1;
    }
    return 0;
}

int sl_writer_raw(sl_writer *w, const sl_record *rec, sl_err *err)
{
    w->count++;
    if (writer_append(w, rec->raw, rec->raw_len) < 0 && !w->pipe_closed)
        return sl_err_set(err, "%s: write error: %s", w->path, strerror(w->saved_errno));
    return 0;
}

static void writer_free(sl_writer *w)
{
    sl_cleanup_drop(w->tmp_handle); /* renamed into place or removed by now */
    free(w->buf);
    free(w->path);
    free(w->tmp);
    free(w);
}

void sl_writer_abort(sl_writer *w)
{
    if (!w)
        return;
    if (w->fd != STDOUT_FILENO) {
        close(w->fd);
        if (w->tmp)
            unlink(w->tmp);
    }
    writer_free(w);
}

int sl_writer_close(sl_writer *w, sl_reader *const *inputs, size_t n_inputs, sl_err *err)
{
    msgpack_packer *pk = &w->pk;
    uint32_t late = pack_provenance(pk, inputs, n_inputs, 1);
    sl_map end;
    sl_map_begin(&end, pk, "end", late ? 3 : 2);
    sl_map_str(&end, "type", "end");
    sl_map_int(&end, "records", w->count);
    if (late) {
        /* Input segments that began after our header was written. */
        msgpack_pack_array(sl_map_key(&end, "provenance"), late);
        pack_provenance(pk, inputs, n_inputs, 0);
    }
    sl_map_end(&end, NULL);
    writer_flush(w);
    int rc = 0;
    if (w->miscounted) {
        /* A record whose key count lies would be misread: not a stream. */
        rc = sl_err_set(err, "%s: %s", w->path, w->fault.msg);
        if (w->fd != STDOUT_FILENO) {
            close(w->fd);
            if (w->tmp)
                unlink(w->tmp);
        }
    } else if (w->failed) {
        rc = w->pipe_closed ? 0 : sl_err_set(err, "%s: write error: %s", w->path,
                                             strerror(w->saved_errno));
        if (w->fd != STDOUT_FILENO) {
            close(w->fd);
            if (w->tmp)
                unlink(w->tmp);
        }
    } else if (w->fd != STDOUT_FILENO) {
        rc = sl_output_commit(w->fd, w->tmp, w->path, err);
    }
    writer_free(w);
    return rc;
}
