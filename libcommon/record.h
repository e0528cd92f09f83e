/* record.h: msgpack record streams (the format is man/man5/sl-records.5).
 *
 * A stream is a sequence of segments; a segment is a `header` record, any
 * number of data records, and an `end` record holding the count of data
 * records.  Concatenated streams are streams.  A segment without its `end` is
 * truncated, and reading it is an error.
 *
 * Reading follows htslib's contract: the caller owns one sl_record and reuses
 * it; sl_read() returns >= 0 for a record, -1 at the end of the stream and
 * < -1 on error (the message is in the sl_err).  A record's contents (the
 * msgpack object tree and its raw bytes) point into the reader's buffer and
 * stay valid until the next sl_read() on the same reader.  Memory is bounded
 * by the largest record, never by the length of the stream.
 *
 * Writing: sl_writer_open() writes to a temporary name beside the final path
 * (or to standard output), sl_writer_header() writes the provenance header,
 * sl_writer_begin() and sl_writer_end() frame each data record (its keys
 * counted: see "Maps that count their keys"), and sl_writer_close() writes the
 * `end` record, flushes, and renames the file into place.  sl_writer_abort()
 * removes the temporary file instead. */
#ifndef SL_RECORD_H
#define SL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "err.h"

#define SL_FORMAT_NAME "sl-records"
#define SL_FORMAT_VERSION 1
/* A record larger than this is refused as corrupt rather than buffered. */
#define SL_RECORD_MAX_BYTES ((size_t)1 << 31)

enum {
    SL_READ_END = -1,     /* no more records */
    SL_READ_ERROR = -2,   /* corrupt, truncated or malformed input */
    SL_READ_IO_ERROR = -3 /* the operating system failed us */
};

typedef struct sl_record {
    msgpack_object root; /* the record: a map with a string key `type` */
    const char *raw;     /* its msgpack bytes, for passing it through unchanged */
    size_t raw_len;
    char type[32];       /* value of `type`, NUL-terminated */
    long num;            /* 1-based position of the record in its file */
    const char *file;    /* name of its file, for messages ("-" is stdin) */
} sl_record;

typedef struct sl_reader sl_reader;

/* What a file is, from its first bytes: the readers name it when it is not a
 * stream ("frame.fits: record 1: this is a FITS file, not a record stream:
 * convert it with sl-tile"). */
enum {
    SL_KIND_RECORDS, /* begins with a map: possibly a stream */
    SL_KIND_UNKNOWN,
    SL_KIND_FITS,
    SL_KIND_GZIP,
    SL_KIND_COMPRESS,
    SL_KIND_BZIP2,
    SL_KIND_XZ,
    SL_KIND_ZSTD,
    SL_KIND_PNG,
    SL_KIND_JSON,
    SL_KIND_TEXT
};
int sl_sniff_kind(const void *data, size_t n);
/* "this is a FITS file, not a record stream: ...", or NULL for a stream or
 * an unknown kind. */
const char *sl_kind_hint(int kind);

/* Opens path ("-" or NULL for standard input).  Nothing is read yet. */
sl_reader *sl_reader_open(const char *path, sl_err *err);
void sl_reader_close(sl_reader *r);
const char *sl_reader_name(const sl_reader *r);
/* Bytes consumed so far and the file's size, for progress lines; returns -1
 * (size 0) when the input is not a regular file (a pipe). */
int sl_reader_position(const sl_reader *r, double *done, double *size);

/* By default sl_read() consumes `header` and `end` records itself and returns
 * only data records; with framing shown it returns them too (sl-cat). */
void sl_reader_show_framing(sl_reader *r, int show);

/* Reads at most n bytes per read() (0: as much as fits), so that tests and
 * fuzzers see records arrive piecemeal from a file as from a pipe. */
void sl_reader_max_read(sl_reader *r, size_t n);

__attribute__((warn_unused_result))
int sl_read(sl_reader *r, sl_record *rec, sl_err *err);

/* Reads ahead until the first header is known, so that a tool can copy its
 * inputs' provenance into its own header before writing anything.  Returns 0,
 * or < -1 on error (an empty input is an error).  sl_read() afterwards still
 * returns every record in order. */
__attribute__((warn_unused_result))
int sl_reader_peek_header(sl_reader *r, sl_err *err);

/* The msgpack bytes of the most recent header read and not yet taken by a
 * writer, or NULL. */
const char *sl_reader_last_header(const sl_reader *r, size_t *len);

/* ---- Accessors -------------------------------------------------------------
 * Keys may be dotted paths into nested maps ("truth.flux"), a component of
 * digits indexing an array ("samples.0.x").  The required
 * forms fail with "file: record N: key 'k': what was wrong"; sl_rec_get
 * returns NULL when the key is absent. */
const msgpack_object *sl_obj_get(const msgpack_object *map, const char *key);
const msgpack_object *sl_rec_get(const sl_record *rec, const char *key);
int sl_rec_str(const sl_record *rec, const char *key, const char **s, size_t *len,
               sl_err *err);
/* Copies a string value into buf (NUL-terminated); too long is an error. */
int sl_rec_strcpy(const sl_record *rec, const char *key, char *buf, size_t size,
                  sl_err *err);
int sl_rec_num(const sl_record *rec, const char *key, double *out, sl_err *err);
int sl_rec_int(const sl_record *rec, const char *key, int64_t lo, int64_t hi,
               int64_t *out, sl_err *err);
/* An array of numbers; its length must be n. */
int sl_rec_nums(const sl_record *rec, const char *key, double *out, size_t n,
                sl_err *err);
/* A bin of exactly n little-endian float32 values, copied out to dst. */
int sl_rec_f32(const sl_record *rec, const char *key, float *dst, size_t n,
               sl_err *err);
/* The same check without the copy. */
int sl_rec_f32_check(const sl_record *rec, const char *key, size_t n, sl_err *err);
/* The number of float32 values in a bin (its byte length must divide by 4). */
int sl_rec_f32_len(const sl_record *rec, const char *key, size_t *n, sl_err *err);
/* Fills err with "file: record N: key 'k': <message>" and returns -1. */
int sl_rec_fail(const sl_record *rec, const char *key, sl_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A short name for an object's msgpack type ("string", "bin", ...). */
const char *sl_obj_type_name(const msgpack_object *o);
int sl_obj_is_str(const msgpack_object *o, const char *s);

/* ---- Maps that count their keys ---------------------------------------------
 * msgpack writes a map's key count before its keys, so a writer that promises
 * one number and writes another makes a stream every reader misparses from
 * there on.  Every map a record holds is therefore begun with its promised
 * count, each key written through sl_map_* is counted, and sl_map_end()
 * compares.  A miscount is a bug in the writing code, not bad input: it is
 * reported through err and, when the packer is a writer's, remembered there,
 * so that sl_writer_end() and sl_writer_close() fail and the broken output
 * is never renamed into place.
 *
 *     sl_map m;
 *     sl_map_begin(&m, pk, "psf", 2);
 *     sl_map_str(&m, "model", "gaussian");
 *     sl_map_num(&m, "fwhm", 1.4);
 *     sl_map_end(&m, NULL);
 */
typedef struct sl_map {
    msgpack_packer *pk;
    const char *name;   /* the record type or key, for the message */
    uint32_t promised, written;
    struct sl_map *up;  /* the map this one is inside, or NULL */
    /* The first miscount in this map or the maps inside it. */
    const char *bad_name;
    uint32_t bad_promised, bad_written;
} sl_map;

void sl_map_begin(sl_map *m, msgpack_packer *pk, const char *name, uint32_t n_keys);
/* Starts child, a map of n_keys, as the value of key in m. */
void sl_map_nest(sl_map *m, const char *key, sl_map *child, uint32_t n_keys);
/* Starts child inside m where a value is due (an element of an array that is
 * the value of one of m's keys): its miscount is m's too. */
void sl_map_within(sl_map *m, sl_map *child, const char *name, uint32_t n_keys);
/* Counts and packs key; the caller packs its value with the packer returned. */
msgpack_packer *sl_map_key(sl_map *m, const char *key);
void sl_map_str(sl_map *m, const char *key, const char *value);
void sl_map_int(sl_map *m, const char *key, int64_t value);
void sl_map_num(sl_map *m, const char *key, double value);
void sl_map_bool(sl_map *m, const char *key, int value);
void sl_map_nil(sl_map *m, const char *key);
/* n float32 values as a little-endian bin; n doubles as an array. */
void sl_map_f32(sl_map *m, const char *key, const float *v, size_t n);
void sl_map_nums(sl_map *m, const char *key, const double *v, size_t n);
/* Copies every key/value pair of map except the keys listed (a NULL-ended
 * list): the records a tool rewrites keep what it does not know about.
 * sl_map_count_except() is the number of pairs that copies, for the promise. */
uint32_t sl_map_count_except(const msgpack_object *map, const char *const *except);
void sl_map_copy_except(sl_map *m, const msgpack_object *map, const char *const *except);
/* 0 when exactly the promised number of keys was written in m and in every
 * map inside it; else -1, with "programming error: ..." in err (when not
 * NULL) and in the writer. */
int sl_map_end(sl_map *m, sl_err *err);

/* ---- Writing ---------------------------------------------------------------- */
typedef struct sl_writer sl_writer;

/* Who made a stream: written into its header. */
typedef struct sl_provenance {
    const char *tool, *version;
    int argc;
    char **argv;
    int has_seed;
    uint64_t seed;
    /* The full configuration as (name, value) text pairs, or none. */
    size_t n_config;
    const char *const *config_names;
    const char *const *config_values;
} sl_provenance;

/* path NULL or "-" is standard output. */
sl_writer *sl_writer_open(const char *path, sl_err *err);
const char *sl_writer_name(const sl_writer *w);
/* Writes the header: who made the stream, and the headers of the inputs read
 * so far (each reader's pending headers are taken). */
int sl_writer_header(sl_writer *w, const sl_provenance *p, sl_reader *const *inputs,
                     size_t n_inputs, sl_err *err);
/* Starts a data record of n_keys keys, `type` included and already written:
 * the caller writes the other n_keys - 1 through rec (sl_map_*) and ends it
 * with sl_writer_end(), which fails when the count was not kept. */
void sl_writer_begin(sl_writer *w, sl_map *rec, const char *type, uint32_t n_keys);
int sl_writer_end(sl_writer *w, sl_map *rec, sl_err *err);
/* Writes a record read elsewhere, unchanged. */
int sl_writer_raw(sl_writer *w, const sl_record *rec, sl_err *err);
/* Writes `end` (listing headers of input segments that began after our
 * header), flushes and renames into place.  Frees w whatever happens. */
int sl_writer_close(sl_writer *w, sl_reader *const *inputs, size_t n_inputs,
                    sl_err *err);
/* Drops the output: the temporary file is removed.  Frees w. */
void sl_writer_abort(sl_writer *w);
/* Non-zero once a write failed because the reader of our pipe went away; the
 * tool should stop quietly. */
int sl_writer_pipe_closed(const sl_writer *w);
/* Non-zero after any write error (then sl_writer_close fails). */
int sl_writer_failed(const sl_writer *w);
/* 0 while every write succeeded; 1 once the reader of our pipe went away;
 * -1 after any other write error, with "NAME: write error: REASON" in err. */
int sl_writer_error(const sl_writer *w, sl_err *err);

/* Packing helpers for values, and for maps built by hand (test fixtures
 * that write malformed records on purpose); records use sl_map_*. */
void sl_pack_str(msgpack_packer *pk, const char *s);
void sl_pack_kv_str(msgpack_packer *pk, const char *key, const char *value);
void sl_pack_kv_int(msgpack_packer *pk, const char *key, int64_t value);
void sl_pack_kv_num(msgpack_packer *pk, const char *key, double value);
void sl_pack_kv_bool(msgpack_packer *pk, const char *key, int value);
/* n float32 values as a little-endian bin. */
void sl_pack_f32(msgpack_packer *pk, const float *v, size_t n);
void sl_pack_kv_f32(msgpack_packer *pk, const char *key, const float *v, size_t n);
void sl_pack_kv_nums(msgpack_packer *pk, const char *key, const double *v, size_t n);

#endif
