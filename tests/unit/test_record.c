/* Record writing: maps that count their keys.  A map promised N keys that
 * gets another number is a programming error, caught at its end, at the end
 * of every map it sits inside, and at the writer's close (which then leaves
 * no file); "copy every key except these" keeps its own count. */
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

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(test_kept_count);
    RUN(test_miscount_refused);
    RUN(test_nested_miscount);
    RUN(test_copy_except);
    RUN(test_sniff);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report("test_record");
}
