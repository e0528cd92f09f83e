#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not valid. */
static size_t utf8_length(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t min;
    if (s[0] < 0x80)
        return 1;
    else if ((s[0] & 0xe0) == 0xc0)
        len = 2, min = 0x80;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, min = 0x800;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    uint32_t cp = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void sl_json_string(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            putc('\\', f);
            putc(c, f);
            i++;
        } else if (c == '\n') {
            fputs("\\n", f), i++;
        } else if (c == '\t') {
            fputs("\\t", f), i++;
        } else if (c == '\r') {
            fputs("\\r", f), i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c), i++;
        } else {
            size_t len = utf8_length(p + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", f);
                i++;
            } else {
                fwrite(p + i, 1, len, f);
                i += len;
            }
        }
    }
    putc('"', f);
}

/* The shortest of %.{6..9}g (float32) or %.{15..17}g (double) that reads back
 * as the same value: 0.396 prints as 0.396, not 0.39600000000000002. */
static void json_number(FILE *f, double v, int float32)
{
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char text[40];
    for (int digits = float32 ? 6 : 15;; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        double back = strtod(text, NULL);
        if (digits >= (float32 ? 9 : 17) || (float32 ? (float)back == (float)v : back == v))
            break;
    }
    fputs(text, f);
}

static void json_bin(FILE *f, const char *data, uint32_t size, int full)
{
    if (size % 4 != 0) {
        fprintf(f, "{\"bin\":\"bytes\",\"n\":%u}", size);
        return;
    }
    size_t n = size / 4;
    if (full)
        putc('[', f);
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    size_t nan = 0;
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, data + 4 * i, 4);
        if (full) {
            if (i)
                putc(',', f);
            json_number(f, v, 1);
        }
        if (isnan(v)) {
            nan++;
            continue;
        }
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        sum += v;
    }
    if (full) {
        putc(']', f);
        return;
    }
    fprintf(f, "{\"bin\":\"float32\",\"n\":%zu", n);
    if (n > nan) {
        fputs(",\"min\":", f);
        json_number(f, lo, 1);
        fputs(",\"max\":", f);
        json_number(f, hi, 1);
        fputs(",\"mean\":", f);
        json_number(f, sum / (double)(n - nan), 0);
    }
    fprintf(f, ",\"nan\":%zu}", nan);
}

void sl_json_write(FILE *f, const msgpack_object *o, int full_bins)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        fputs("null", f);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(o->via.boolean ? "true" : "false", f);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(f, "%llu", (unsigned long long)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf(f, "%lld", (long long)o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
        json_number(f, o->via.f64, 1);
        break;
    case MSGPACK_OBJECT_FLOAT64:
        json_number(f, o->via.f64, 0);
        break;
    case MSGPACK_OBJECT_STR:
        sl_json_string(f, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        json_bin(f, o->via.bin.ptr, o->via.bin.size, full_bins);
        break;
    case MSGPACK_OBJECT_EXT:
        fprintf(f, "{\"ext\":%d,\"n\":%u}", o->via.ext.type, o->via.ext.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        putc('[', f);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                putc(',', f);
            sl_json_write(f, &o->via.array.ptr[i], full_bins);
        }
        putc(']', f);
        break;
    case MSGPACK_OBJECT_MAP:
        putc('{', f);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (i)
                putc(',', f);
            if (k->type == MSGPACK_OBJECT_STR) {
                sl_json_string(f, k->via.str.ptr, k->via.str.size);
            } else {
                /* JSON keys are strings: write other keys as their JSON text, quoted. */
                char *text = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&text, &len);
                if (m) {
                    sl_json_write(m, k, 0);
                    fclose(m);
                    sl_json_string(f, text, len);
                }
                free(text);
            }
            putc(':', f);
            sl_json_write(f, &o->via.map.ptr[i].val, full_bins);
        }
        putc('}', f);
        break;
    }
}
