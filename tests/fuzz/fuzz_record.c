/* fuzz_record: the record reader (framing, truncation, nesting, sizes), read
 * piecemeal as from a pipe, and the typed accessors on every key it finds. */
#include "fuzz.h"

#include "record.h"

static void accessors(const sl_record *rec, const char *key)
{
    sl_err err;
    const char *s;
    size_t len, n;
    char buf[32];
    double d, v[4];
    int64_t i;
    float f[16];
    (void)sl_rec_get(rec, key);
    (void)sl_rec_str(rec, key, &s, &len, &err);
    (void)sl_rec_strcpy(rec, key, buf, sizeof buf, &err);
    (void)sl_rec_num(rec, key, &d, &err);
    (void)sl_rec_int(rec, key, -5, 1000, &i, &err);
    (void)sl_rec_nums(rec, key, v, 4, &err);
    (void)sl_rec_f32(rec, key, f, 16, &err);
    (void)sl_rec_f32_check(rec, key, 3, &err);
    if (sl_rec_f32_len(rec, key, &n, &err) == 0 && n <= 16)
        (void)sl_rec_f32(rec, key, f, n, &err);
}

/* Every key path of map o, up to a few levels down, with the accessors. */
static void walk(const sl_record *rec, const msgpack_object *o, char *path, size_t len, int depth)
{
    if (depth > 4 || (o->type != MSGPACK_OBJECT_MAP && o->type != MSGPACK_OBJECT_ARRAY))
        return;
    uint32_t n = o->type == MSGPACK_OBJECT_MAP ? o->via.map.size : o->via.array.size;
    for (uint32_t k = 0; k < n && k < 64; k++) {
        const msgpack_object *key = NULL, *val;
        char part[48];
        if (o->type == MSGPACK_OBJECT_MAP) {
            key = &o->via.map.ptr[k].key;
            val = &o->via.map.ptr[k].val;
            if (key->type != MSGPACK_OBJECT_STR)
                continue;
            snprintf(part, sizeof part, "%.*s", (int)(key->via.str.size < 40 ? key->via.str.size : 40),
                     key->via.str.ptr);
        } else {
            val = &o->via.array.ptr[k];
            snprintf(part, sizeof part, "%u", k);
        }
        size_t plen = strlen(part);
        if (len + 1 + plen + 1 > 256)
            continue;
        char *end = path + len;
        if (len)
            *end++ = '.';
        memcpy(end, part, plen + 1);
        accessors(rec, path);
        (void)sl_obj_type_name(val);
        walk(rec, val, path, (size_t)(end - path) + plen, depth + 1);
        path[len] = '\0';
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The first byte: bytes per read() (1 to 32768, powers of 2 plus the
     * high bits: records arrive in pieces) and whether framing records are
     * shown. */
    size_t chunk = ((size_t)1 << (data[0] & 15)) + (data[0] >> 5);
    int framing = data[0] >> 4 & 1;
    fuzz_file f = fuzz_file_make(data + 1, size - 1);
    if (!f.path[0])
        return 0;
    sl_err err;
    sl_reader *r = sl_reader_open(f.path, &err);
    if (r) {
        sl_reader_max_read(r, chunk);
        sl_reader_show_framing(r, framing);
        if (sl_reader_peek_header(r, &err) == 0) {
            size_t hlen;
            (void)sl_reader_last_header(r, &hlen);
        }
        sl_record rec;
        char path[256] = "";
        for (int k = 0; k < 1000 && sl_read(r, &rec, &err) >= 0; k++) {
            accessors(&rec, "type");
            accessors(&rec, "a.b.0.c");
            walk(&rec, &rec.root, path, 0, 0);
        }
        sl_reader_close(r);
    }
    fuzz_file_drop(&f);
    return 0;
}
