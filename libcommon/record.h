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
 * sl_writer_begin() starts each data record, and sl_writer_close() writes the
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

/* Opens path ("-" or NULL for standard input).  Nothing is read yet. */
sl_reader *sl_reader_open(const char *path, sl_err *err);
void sl_reader_close(sl_reader *r);
const char *sl_reader_name(const sl_reader *r);

/* By default sl_read() consumes `header` and `end` records itself and returns
 * only data records; with framing shown it returns them too (sl-cat). */
void sl_reader_show_framing(sl_reader *r, int show);

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
 * the caller packs the other n_keys - 1 key/value pairs with the packer. */
msgpack_packer *sl_writer_begin(sl_writer *w, const char *type, uint32_t n_keys);
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

/* Packing helpers: a key and its value in one call. */
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
