/* Record writing: maps that count their keys.  A map promised N keys that
 * gets another number is a programming error, caught at its end, at the end
 * of every map it sits inside, and at the writer's close (which then leaves
 * no file); "copy every key except these" keeps its own count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "record.h"

static char dir[] = "/tmp/test_record.XXXXXX";

static sl_writer *open_stream(const char *path)
{
    sl_err err;
    static char *argv[] = {"test_record"};
    sl_provenance p = {.tool = "test_record", .version = "0", .argc = 1, .argv = argv};
    sl_writer *w = sl_writer_open(path, &err);
    CHECK(w != NULL);
    CHECK(sl_writer_header(w, &p, NULL, 0, &err) == 0);
    return w;
}

/* One image record of three keys, `type` included, with `extra` keys more. */
static int write_record(sl_writer *w, int extra, sl_err *err)
{
    sl_map m;
    sl_writer_begin(w, &m, "image", 3);
    sl_map_int(&m, "id", 1);
    for (int k = 0; k < extra; k++)
        sl_map_num(&m, k ? "b" : "a", 0.5);
    return sl_writer_end(w, &m, err);
}

static void test_kept_count(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/good.slr", dir);
    sl_writer *w = open_stream(path);
    sl_err err;
    CHECK(write_record(w, 1, &err) == 0);
    CHECK(sl_writer_close(w, NULL, 0, &err) == 0);
    CHECK(access(path, F_OK) == 0);
    sl_reader *r = sl_reader_open(path, &err);
    sl_record rec;
    double a = 0;
    CHECK(sl_read(r, &rec, &err) == 0);
    CHECK(sl_rec_num(&rec, "a", &a, &err) == 0 && a == 0.5);
    CHECK(sl_read(r, &rec, &err) == SL_READ_END);
    sl_reader_close(r);
}

/* Too few and too many: the record fails, and so does the stream, which is
 * never renamed into place. */
static void test_miscount_refused(void)
{
    for (int extra = 0; extra <= 2; extra += 2) {
        char path[64];
        snprintf(path, sizeof path, "%s/bad%d.slr", dir, extra);
        sl_writer *w = open_stream(path);
        sl_err err = {""};
        CHECK(write_record(w, extra, &err) < 0);
        char want[96];
        snprintf(want, sizeof want, "programming error: map 'image' promised 3 keys and got %d",
                 2 + extra);
        CHECK(strcmp(err.msg, want) == 0);
        CHECK(write_record(w, 1, &err) < 0); /* the stream stays refused */
        CHECK(sl_writer_close(w, NULL, 0, &err) < 0);
        CHECK(strstr(err.msg, want) != NULL);
        CHECK(access(path, F_OK) != 0);
    }
}

/* A miscount deep inside (a map in an array in a map) fails the outer maps
 * too, even when nothing but the outermost end is checked and no writer is
 * there to remember it. */
static void test_nested_miscount(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    sl_map root, inner, elem;
    sl_map_begin(&root, &pk, "report", 1);
    sl_map_nest(&root, "detection", &inner, 1);
    msgpack_pack_array(sl_map_key(&inner, "bins"), 2);
    for (int k = 0; k < 2; k++) {
        sl_map_within(&inner, &elem, "bins", 2);
        sl_map_num(&elem, "lo", k);
        if (k == 0)
            sl_map_num(&elem, "hi", k + 1); /* the second bin forgets "hi" */
        sl_map_end(&elem, NULL);
    }
    sl_map_end(&inner, NULL);
    sl_err err = {""};
    CHECK(sl_map_end(&root, &err) < 0);
    CHECK(strcmp(err.msg, "programming error: map 'bins' promised 2 keys and got 1") == 0);
    msgpack_sbuffer_destroy(&sb);
}

static void test_copy_except(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    sl_map in;
    sl_map_begin(&in, &pk, "image", 4);
    sl_map_str(&in, "type", "image");
    sl_map_int(&in, "id", 3);
    sl_map_num(&in, "pixels", 1);
    sl_map_str(&in, "unknown", "kept");
    CHECK(sl_map_end(&in, NULL) == 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    CHECK(msgpack_unpack_next(&u, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);

    static const char *const except[] = {"type", "pixels", NULL};
    CHECK(sl_map_count_except(&u.data, except) == 2);
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    sl_map m;
    sl_map_begin(&m, &pk, "image", sl_map_count_except(&u.data, except) + 1);
    sl_map_copy_except(&m, &u.data, except);
    sl_map_f32(&m, "pixels", (const float[]){2}, 1);
    sl_err err;
    CHECK(sl_map_end(&m, &err) == 0);
    msgpack_unpacked v;
    msgpack_unpacked_init(&v);
    CHECK(msgpack_unpack_next(&v, out.data, out.size, NULL) == MSGPACK_UNPACK_SUCCESS);
    CHECK(v.data.via.map.size == 3);
    CHECK(sl_obj_get(&v.data, "type") == NULL);
    CHECK(sl_obj_is_str(sl_obj_get(&v.data, "unknown"), "kept"));
    CHECK(sl_obj_get(&v.data, "pixels")->type == MSGPACK_OBJECT_BIN);
    msgpack_unpacked_destroy(&v);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&sb);
}

/* Files that are not streams are recognised by their first bytes; a stream's
 * header (a map of 9 keys, then a fixstr key) is never mistaken for one. */
static void test_sniff(void)
{
    CHECK(sl_sniff_kind("SIMPLE  =                    T", 30) == SL_KIND_FITS);
    CHECK(sl_sniff_kind("\x1f\x8b\x08\x00", 4) == SL_KIND_GZIP);
    CHECK(sl_sniff_kind("BZh91AY&SY", 10) == SL_KIND_BZIP2);
    CHECK(sl_sniff_kind("\xfd" "7zXZ\0\0", 8) == SL_KIND_XZ);
    CHECK(sl_sniff_kind("\x28\xb5\x2f\xfd\0", 5) == SL_KIND_ZSTD);
    CHECK(sl_sniff_kind("\x89PNG\r\n\x1a\n\0", 9) == SL_KIND_PNG);
    CHECK(sl_sniff_kind("  {\"type\":\"header\"}\n", 21) == SL_KIND_JSON);
    CHECK(sl_sniff_kind("id,x,y\n1,2,3\n", 13) == SL_KIND_TEXT);
    CHECK(sl_sniff_kind("\x89\xa4type\xa6header", 13) == SL_KIND_RECORDS);
    CHECK(sl_sniff_kind("\xde\x00\x10", 3) == SL_KIND_RECORDS);
    CHECK(sl_sniff_kind("", 0) == SL_KIND_RECORDS);
    CHECK(sl_sniff_kind("\x01\x02", 2) == SL_KIND_UNKNOWN);
    CHECK(sl_sniff_kind("SIMPLE", 6) == SL_KIND_TEXT); /* too short to tell */
    CHECK(sl_kind_hint(SL_KIND_RECORDS) == NULL);
    CHECK(sl_kind_hint(SL_KIND_UNKNOWN) == NULL);
    CHECK(strstr(sl_kind_hint(SL_KIND_FITS), "sl-tile") != NULL);
}

/* A stream of records holding every msgpack type, written by hand. */
static size_t write_varied(const char *path)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    sl_pack_kv_str(&pk, "type", "header");
    sl_pack_kv_str(&pk, "format", SL_FORMAT_NAME);
    sl_pack_kv_int(&pk, "format_version", 1);
    static char big[70000];
    memset(big, 'x', sizeof big);
    for (int k = 0; k < 3; k++) {
        msgpack_pack_map(&pk, 12);
        sl_pack_kv_str(&pk, "type", "blob");
        sl_pack_kv_int(&pk, "neg", -100000 - k);
        sl_pack_kv_int(&pk, "u64", (int64_t)1 << 40);
        sl_pack_kv_num(&pk, "f64", 0.1 * k);
        sl_pack_str(&pk, "f32");
        msgpack_pack_float(&pk, 1.5f);
        sl_pack_str(&pk, "nil");
        msgpack_pack_nil(&pk);
        sl_pack_str(&pk, "str16");
        msgpack_pack_str(&pk, 300);
        msgpack_pack_str_body(&pk, big, 300);
        sl_pack_str(&pk, "str32");
        msgpack_pack_str(&pk, 70000);
        msgpack_pack_str_body(&pk, big, 70000);
        sl_pack_str(&pk, "bin8");
        msgpack_pack_bin(&pk, 5);
        msgpack_pack_bin_body(&pk, big, 5);
        sl_pack_str(&pk, "ext");
        msgpack_pack_ext(&pk, 3, 7);
        msgpack_pack_ext_body(&pk, big, 3);
        sl_pack_str(&pk, "fixext");
        msgpack_pack_ext(&pk, 16, 1);
        msgpack_pack_ext_body(&pk, big, 16);
        sl_pack_str(&pk, "nest");
        msgpack_pack_array(&pk, 3);
        msgpack_pack_map(&pk, 0);
        msgpack_pack_array(&pk, 20);
        for (int i = 0; i < 20; i++)
            msgpack_pack_array(&pk, 0);
        msgpack_pack_map(&pk, 1);
        sl_pack_kv_bool(&pk, "t", 1);
    }
    msgpack_pack_map(&pk, 2);
    sl_pack_kv_str(&pk, "type", "end");
    sl_pack_kv_int(&pk, "records", 3);
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(sb.data, 1, sb.size, fp) == sb.size && fclose(fp) == 0);
    size_t size = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return size;
}

/* Records arriving in pieces of any size read as when whole (the reader
 * resumes its walk of an unfinished record where it stopped). */
static void test_piecemeal(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/varied.slr", dir);
    size_t size = write_varied(path);
    static const size_t chunks[] = {0, 1, 2, 3, 7, 64, 4095};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        sl_err err;
        sl_reader *r = sl_reader_open(path, &err);
        sl_reader_max_read(r, chunks[c]);
        sl_reader_show_framing(r, 1);
        sl_record rec;
        size_t total = 0;
        int n = 0, rc;
        while ((rc = sl_read(r, &rec, &err)) >= 0) {
            total += rec.raw_len;
            n++;
        }
        CHECK(rc == SL_READ_END);
        CHECK(n == 5);
        CHECK(total == size);
        sl_reader_close(r);
    }
}

/* Nesting: 32 containers open at once read (msgpack-c's limit), a 33rd,
 * even an empty one, is refused before msgpack-c sees it. */
static void test_depth(void)
{
    for (int depth = 31; depth <= 33; depth++)
        for (int empty = 0; empty < 2; empty++) {
            msgpack_sbuffer sb;
            msgpack_packer pk;
            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            for (int d = 0; d < depth - 1; d++)
                msgpack_pack_array(&pk, 1);
            if (empty)
                msgpack_pack_array(&pk, 0);
            else {
                msgpack_pack_array(&pk, 1);
                msgpack_pack_int(&pk, 1);
            }
            char path[64];
            snprintf(path, sizeof path, "%s/deep.slr", dir);
            FILE *fp = fopen(path, "wb");
            CHECK(fp && fwrite(sb.data, 1, sb.size, fp) == sb.size && fclose(fp) == 0);
            msgpack_sbuffer_destroy(&sb);
            sl_err err;
            sl_reader *r = sl_reader_open(path, &err);
            sl_record rec;
            CHECK(sl_read(r, &rec, &err) == SL_READ_ERROR);
            if (depth <= 32)
                CHECK(strstr(err.msg, "record 1: expected a map, got array") != NULL);
            else
                CHECK(strstr(err.msg, "nested deeper than msgpack-c's limit of 32 levels"));
            sl_reader_close(r);
        }
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(test_kept_count);
    RUN(test_miscount_refused);
    RUN(test_nested_miscount);
    RUN(test_copy_except);
    RUN(test_sniff);
    RUN(test_piecemeal);
    RUN(test_depth);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report("test_record");
}
