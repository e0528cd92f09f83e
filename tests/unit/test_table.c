/* Catalog tables: the record form both ways, appending with shifts and row
 * subsets, the width rules, and the CSV and FITS writers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fits.h"
#include "table.h"

/* A record {type: "image", <key>: <what pack wrote>} to read tables from. */
typedef struct fake {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    sl_record rec;
} fake;

static msgpack_packer *fake_begin(fake *f, const char *key)
{
    msgpack_sbuffer_init(&f->sb);
    msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&f->pk, 2);
    sl_pack_kv_str(&f->pk, "type", "image");
    sl_pack_str(&f->pk, key);
    return &f->pk;
}

static const sl_record *fake_end(fake *f)
{
    msgpack_unpacked_init(&f->u);
    size_t off = 0;
    msgpack_unpack_next(&f->u, f->sb.data, f->sb.size, &off);
    memset(&f->rec, 0, sizeof f->rec);
    f->rec.root = f->u.data;
    f->rec.file = "t.slr";
    f->rec.num = 7;
    return &f->rec;
}

static void fake_free(fake *f)
{
    msgpack_unpacked_destroy(&f->u);
    msgpack_sbuffer_destroy(&f->sb);
}

static int same_float(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* x (pixel), flux (3 per band), L (15): 4 rows with a NaN. */
static void sample(sl_table *t)
{
    sl_err err;
    sl_table_init(t);
    int x = sl_table_add_column(t, "x", "pix", 1, &err);
    int flux = sl_table_add_column(t, "flux", "electron", 3, &err);
    int l = sl_table_add_column(t, "L", NULL, 15, &err);
    t->cols[flux].per_band = 1;
    CHECK(x == 0 && flux == 1 && l == 2);
    CHECK(sl_table_add_rows(t, 4, &err) == 0);
    for (int r = 0; r < 4; r++) {
        *sl_table_at(t, x, r) = 0.5f + (float)r;
        for (int b = 0; b < 3; b++)
            sl_table_at(t, flux, r)[b] = 100.0f * (float)r + (float)b;
        for (int k = 0; k < 15; k++)
            sl_table_at(t, l, r)[k] = (float)(r * 15 + k) / 7.0f;
    }
    sl_table_at(t, flux, 2)[1] = NAN;
}

static void test_columns_and_rows(void)
{
    sl_err err;
    sl_table t;
    sample(&t);
    CHECK(sl_table_find(&t, "flux") == 1 && sl_table_find(&t, "nope") == -1);
    /* A column added late has NaN in the rows already there. */
    int late = sl_table_add_column(&t, "p_lens", "", 1, &err);
    CHECK(late == 3 && isnan(*sl_table_at(&t, late, 3)));
    CHECK(sl_table_add_column(&t, "x", "", 1, &err) == -1);
    CHECK(strcmp(err.msg, "column 'x': already in the table") == 0);
    CHECK(sl_table_add_column(&t, "a.b", "", 1, &err) == -1);
    CHECK(sl_table_add_column(&t, "a,b", "", 1, &err) == -1);
    CHECK(sl_table_add_column(&t, "", "", 1, &err) == -1);
    CHECK(sl_table_add_column(&t, "w", "", 0, &err) == -1);
    CHECK(strcmp(err.msg, "column 'w': width 0 is out of range [1, 4096]") == 0);
    /* Growing past the first allocation keeps the rows. */
    CHECK(sl_table_add_rows(&t, 1000, &err) == 4);
    CHECK(t.n == 1004 && *sl_table_at(&t, 0, 3) == 3.5f && isnan(*sl_table_at(&t, 0, 1003)));
    CHECK(sl_table_at(&t, 2, 3)[14] == (float)(3 * 15 + 14) / 7.0f);
    sl_table_clear(&t);
    CHECK(t.n == 0 && t.n_cols == 4);
    sl_table_free(&t);
}

static void test_pack_read_round_trip(void)
{
    sl_err err;
    sl_table t, back;
    sample(&t);
    sl_table_init(&back);
    fake f;
    sl_table_pack(fake_begin(&f, "estimate"), &t);
    const sl_record *rec = fake_end(&f);
    CHECK(sl_table_read(&back, rec, "estimate", &err) == 0);
    CHECK(back.n == 4 && back.n_cols == 3);
    for (int c = 0; c < 3 && back.n_cols == 3; c++) {
        CHECK(strcmp(back.cols[c].name, t.cols[c].name) == 0);
        CHECK(strcmp(back.cols[c].unit, t.cols[c].unit) == 0);
        CHECK(back.cols[c].width == t.cols[c].width);
        CHECK(back.cols[c].per_band == t.cols[c].per_band);
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < t.cols[c].width; k++)
                CHECK(same_float(sl_table_at(&back, c, r)[k], sl_table_at(&t, c, r)[k]));
    }
    /* The keys a reader of the truth form sees are all there. */
    CHECK(sl_rec_get(rec, "estimate.widths.flux")->via.u64 == 3);
    CHECK(sl_rec_get(rec, "estimate.widths.x") == NULL);
    CHECK(sl_obj_is_str(sl_rec_get(rec, "estimate.units.x"), "pix"));
    fake_free(&f);
    sl_table_free(&t);
    sl_table_free(&back);
}

/* The truth form: no widths, per-band columns n*B long; n = 0 reads. */
static void test_read_truth_form(void)
{
    sl_err err;
    sl_table t;
    sl_table_init(&t);
    fake f;
    msgpack_packer *pk = fake_begin(&f, "truth");
    float x[2] = {1, 2}, flux[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    msgpack_pack_map(pk, 4);
    sl_pack_kv_int(pk, "n", 2);
    sl_pack_kv_f32(pk, "x", x, 2);
    sl_pack_kv_f32(pk, "flux", flux, 10);
    sl_pack_kv_str(pk, "note", "not a bin: ignored");
    CHECK(sl_table_read(&t, fake_end(&f), "truth", &err) == 0);
    CHECK(t.n_cols == 2 && t.cols[1].width == 5 && sl_table_at(&t, 1, 1)[0] == 5.0f);
    fake_free(&f);

    pk = fake_begin(&f, "truth");
    msgpack_pack_map(pk, 2);
    sl_pack_kv_int(pk, "n", 0);
    sl_pack_kv_f32(pk, "flux", flux, 0);
    CHECK(sl_table_read(&t, fake_end(&f), "truth", &err) == 0);
    CHECK(t.n == 0 && t.n_cols == 1 && t.cols[0].width == 1);
    fake_free(&f);
    sl_table_free(&t);
}

static void expect_read_error(void (*pack)(msgpack_packer *), const char *msg)
{
    sl_err err;
    sl_table t;
    sl_table_init(&t);
    fake f;
    pack(fake_begin(&f, "estimate"));
    CHECK(sl_table_read(&t, fake_end(&f), "estimate", &err) == -1);
    if (strcmp(err.msg, msg) != 0)
        fprintf(stderr, "got:  %s\nwant: %s\n", err.msg, msg);
    CHECK(strcmp(err.msg, msg) == 0);
    CHECK(t.n_cols == 0);
    fake_free(&f);
    sl_table_free(&t);
}

static const float five[5] = {1, 2, 3, 4, 5};

static void pack_short_wide(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    sl_pack_kv_int(pk, "n", 2);
    sl_pack_str(pk, "widths");
    msgpack_pack_map(pk, 1);
    sl_pack_kv_int(pk, "flux", 3);
    sl_pack_kv_f32(pk, "flux", five, 5);
}

static void pack_uneven(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    sl_pack_kv_int(pk, "n", 2);
    sl_pack_kv_f32(pk, "x", five, 5);
}

/* With `widths` a column it does not name has width 1, so a long one is caught. */
static void pack_long_scalar(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 3);
    sl_pack_kv_int(pk, "n", 2);
    sl_pack_str(pk, "widths");
    msgpack_pack_map(pk, 0);
    sl_pack_kv_f32(pk, "x", five, 4);
}

static void pack_no_n(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    sl_pack_kv_f32(pk, "x", five, 1);
}

static void pack_not_map(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 0);
}

static void pack_bad_widths(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    sl_pack_kv_int(pk, "n", 1);
    sl_pack_kv_str(pk, "widths", "flux=3");
}

static void pack_bad_name(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    sl_pack_kv_int(pk, "n", 1);
    sl_pack_kv_f32(pk, "a b", five, 1);
}

static void test_read_errors(void)
{
    expect_read_error(pack_short_wide,
                      "t.slr: record 7: key 'estimate.flux': expected bin of 6 float32, got 20 bytes");
    expect_read_error(pack_uneven, "t.slr: record 7: key 'estimate.x': 5 float32 is not n = 2 "
                                   "rows of 1 to 4096 values");
    expect_read_error(pack_long_scalar,
                      "t.slr: record 7: key 'estimate.x': expected bin of 2 float32, got 16 bytes");
    expect_read_error(pack_no_n, "t.slr: record 7: key 'estimate.n': missing");
    expect_read_error(pack_not_map, "t.slr: record 7: key 'estimate': expected map, got array");
    expect_read_error(pack_bad_widths,
                      "t.slr: record 7: key 'estimate.widths': expected map, got string");
    expect_read_error(pack_bad_name, "t.slr: record 7: key 'estimate.a b': a column name must "
                                     "be 1 to 47 characters, without '.', ',', '\"', spaces or "
                                     "control characters");
}

/* src: x, y, x_q05 (2 wide), xi, flux (2 wide); rows r give x = r, y = 10 r. */
static void patch_table(sl_table *t, int rows)
{
    sl_err err;
    sl_table_init(t);
    sl_table_add_column(t, "x", "pix", 1, &err);
    sl_table_add_column(t, "y", "pix", 1, &err);
    sl_table_add_column(t, "x_q05", "pix", 2, &err);
    sl_table_add_column(t, "xi", "", 1, &err);
    sl_table_add_column(t, "flux", "electron", 2, &err);
    sl_table_add_rows(t, rows, &err);
    for (int r = 0; r < rows; r++) {
        *sl_table_at(t, 0, r) = (float)r;
        *sl_table_at(t, 1, r) = 10.0f * (float)r;
        sl_table_at(t, 2, r)[0] = (float)r - 1;
        sl_table_at(t, 2, r)[1] = (float)r + 1;
        *sl_table_at(t, 3, r) = (float)r;
        sl_table_at(t, 4, r)[0] = sl_table_at(t, 4, r)[1] = 7.0f * (float)r;
    }
}

static void test_append_shift_and_rows(void)
{
    sl_err err;
    sl_table src, dst;
    patch_table(&src, 4);
    sl_table_init(&dst);
    int rows[2] = {3, 1};
    CHECK(sl_table_append(&dst, &src, rows, 2, 100, -50, &err) == 0);
    CHECK(dst.n == 2 && dst.n_cols == 5);
    CHECK(*sl_table_at(&dst, 0, 0) == 103.0f && *sl_table_at(&dst, 0, 1) == 101.0f);
    CHECK(*sl_table_at(&dst, 1, 0) == -20.0f && *sl_table_at(&dst, 1, 1) == -40.0f);
    CHECK(sl_table_at(&dst, 2, 0)[0] == 102.0f && sl_table_at(&dst, 2, 0)[1] == 104.0f);
    CHECK(*sl_table_at(&dst, 3, 0) == 3.0f);            /* xi is not a position */
    CHECK(sl_table_at(&dst, 4, 1)[1] == 7.0f);          /* nor is flux */
    CHECK(strcmp(dst.cols[2].unit, "pix") == 0 && dst.cols[4].width == 2);
    /* Every row, unshifted, after those. */
    CHECK(sl_table_append(&dst, &src, NULL, 0, 0, 0, &err) == 0);
    CHECK(dst.n == 6 && *sl_table_at(&dst, 0, 2) == 0.0f && *sl_table_at(&dst, 1, 5) == 30.0f);
    /* Columns are matched by name, not position. */
    sl_table other;
    sl_table_init(&other);
    sl_table_add_column(&other, "flux", "", 2, &err);
    sl_table_add_column(&other, "xi", "", 1, &err);
    sl_table_add_column(&other, "x_q05", "", 2, &err);
    sl_table_add_column(&other, "y", "", 1, &err);
    sl_table_add_column(&other, "x", "", 1, &err);
    sl_table_add_rows(&other, 1, &err);
    *sl_table_at(&other, 4, 0) = 9.0f;
    *sl_table_at(&other, 1, 0) = 8.0f;
    CHECK(sl_table_append(&dst, &other, NULL, 0, 1, 0, &err) == 0);
    CHECK(*sl_table_at(&dst, 0, 6) == 10.0f && *sl_table_at(&dst, 3, 6) == 8.0f);
    sl_table_free(&other);
    sl_table_free(&src);
    sl_table_free(&dst);
}

static void test_append_errors(void)
{
    sl_err err;
    sl_table a, b;
    patch_table(&a, 2);
    patch_table(&b, 1);
    b.cols[4].width = 1; /* flux of one value per row: refused while both hold rows */
    CHECK(sl_table_append(&a, &b, NULL, 0, 0, 0, &err) == -1);
    CHECK(strcmp(err.msg, "column 'flux': width 1 does not match the width 2 of the rows "
                          "before") == 0);
    CHECK(a.n == 2);
    sl_table_free(&b);

    /* A column on one side only, either way. */
    patch_table(&b, 1);
    sl_table_add_column(&b, "extra", "", 1, &err);
    CHECK(sl_table_append(&a, &b, NULL, 0, 0, 0, &err) == -1);
    CHECK(strcmp(err.msg, "column 'extra': not in the rows before") == 0);
    CHECK(sl_table_append(&b, &a, NULL, 0, 0, 0, &err) == -1);
    CHECK(strcmp(err.msg, "column 'extra': missing") == 0);
    sl_table_free(&b);

    /* An empty table's widths were guesses (the truth form with n = 0): the
     * first table with rows decides, and an empty one is not checked. */
    sl_table_init(&b);
    patch_table(&b, 0);
    b.cols[4].width = 1;
    sl_table empty;
    sl_table_init(&empty);
    CHECK(sl_table_append(&empty, &b, NULL, 0, 0, 0, &err) == 0);
    CHECK(empty.cols[4].width == 1);
    CHECK(sl_table_append(&empty, &a, NULL, 0, 0, 0, &err) == 0);
    CHECK(empty.cols[4].width == 2 && empty.n == 2 && sl_table_at(&empty, 4, 1)[1] == 7.0f);
    CHECK(sl_table_append(&empty, &b, NULL, 0, 0, 0, &err) == 0 && empty.n == 2);
    sl_table_free(&empty);
    sl_table_free(&a);
    sl_table_free(&b);
}

static void test_csv(void)
{
    sl_err err;
    sl_table t;
    sample(&t);
    t.n = 3;
    const char *bands[3] = {"g", "r", "i"};
    long long ids[3] = {5, 5, -9000000000LL};
    sl_table_out o = {.t = &t, .id_name = "image", .ids = ids, .bands = bands, .n_bands = 3};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(sl_table_write_csv(f, &o, &err) == 0);
    fclose(f);
    char want[4096];
    int k = snprintf(want, sizeof want, "image,x,flux_g,flux_r,flux_i");
    for (int j = 0; j < 15; j++)
        k += snprintf(want + k, sizeof want - (size_t)k, ",L_%d", j);
    k += snprintf(want + k, sizeof want - (size_t)k, "\n");
    for (int r = 0; r < 3; r++) {
        k += snprintf(want + k, sizeof want - (size_t)k, "%lld,%.9g,%d,%s,%d", ids[r],
                      0.5 + r, 100 * r, r == 2 ? "nan" : r == 1 ? "101" : "1", 100 * r + 2);
        for (int j = 0; j < 15; j++)
            k += snprintf(want + k, sizeof want - (size_t)k, ",%.9g",
                          (double)((float)(r * 15 + j) / 7.0f));
        k += snprintf(want + k, sizeof want - (size_t)k, "\n");
    }
    CHECK(buf && strcmp(buf, want) == 0);
    if (buf && strcmp(buf, want) != 0)
        fprintf(stderr, "got:\n%s\nwant:\n%s\n", buf, want);
    /* 1/7 needs all nine digits to come back as the same float32. */
    CHECK(strstr(buf, ",0.142857149,") != NULL);
    CHECK(same_float(strtof("0.142857149", NULL), 1.0f / 7.0f));
    free(buf);

    /* Without the per-band mark the width decides; a name made twice is refused. */
    t.cols[1].per_band = 0;
    sl_table_add_column(&t, "flux_g", "", 1, &err);
    f = open_memstream(&buf, &len);
    CHECK(sl_table_write_csv(f, &o, &err) == -1);
    fclose(f);
    CHECK(strcmp(err.msg, "column name 'flux_g' appears twice in the flat table") == 0);
    free(buf);
    sl_table_free(&t);
}

static void test_fits(void)
{
    sl_err err;
    sl_table t;
    sample(&t);
    const char *bands[3] = {"g", "r", "i"};
    long long ids[4] = {1, 1, 2, 3};
    sl_table_out o = {.t = &t, .extname = "ESTIMATE", .id_name = "image", .ids = ids,
                      .bands = bands, .n_bands = 3};
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_table_%d.fits", (int)getpid());
    CHECK(sl_table_write_fits(path, &o, 1, NULL, 0, &err) == 0);
    sl_fits *f = sl_fits_open(path, &err);
    CHECK(f != NULL);
    if (f) {
        double v;
        long long id;
        char ext[32];
        CHECK(sl_fits_table_rows(f, &err) == 4);
        CHECK(sl_fits_key_string(f, "EXTNAME", ext, sizeof ext, &err) == 0 &&
              strcmp(ext, "ESTIMATE") == 0);
        CHECK(sl_fits_column_llong(f, "image", 3, &id, 1, &err) == 0 && id == 3);
        CHECK(sl_fits_column_double(f, "flux_i", 3, &v, 1, &err) == 0 && v == 302.0);
        CHECK(sl_fits_column_double(f, "flux_r", 2, &v, 1, &err) == 0 && isnan(v));
        CHECK(sl_fits_column_double(f, "L_14", 1, &v, 1, &err) == 0 &&
              v == (double)(29.0f / 7.0f));
        CHECK(sl_fits_key_string(f, "TUNIT2", ext, sizeof ext, &err) == 0 &&
              strcmp(ext, "pix") == 0);
        sl_fits_close(f);
    }
    remove(path);
    sl_table_free(&t);
}

int main(void)
{
    RUN(test_columns_and_rows);
    RUN(test_pack_read_round_trip);
    RUN(test_read_truth_form);
    RUN(test_read_errors);
    RUN(test_append_shift_and_rows);
    RUN(test_append_errors);
    RUN(test_csv);
    RUN(test_fits);
    return check_report("test_table");
}
