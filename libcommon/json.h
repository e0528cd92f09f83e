/* json.h: msgpack objects as JSON text (for sl-cat and --json outputs).
 *
 * Strings are escaped per RFC 8259 (invalid UTF-8 bytes become U+FFFD);
 * non-finite floats, which JSON cannot hold, are written as null.  A bin is a
 * little-endian float32 array by the record format: it is written as a summary
 * object {"bin":"float32","n":N,"min":..,"max":..,"mean":..,"nan":K} or, with
 * full set, as an array of its values. */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stdio.h>

#include <msgpack.h>

void sl_json_write(FILE *f, const msgpack_object *o, int full_bins);
void sl_json_string(FILE *f, const char *s, size_t n);

#endif
