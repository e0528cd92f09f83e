/* The catalog record both ways: what sl_catrecord_write writes,
 * sl_catrecord_read reads back the same (frame, zero point, the table under
 * its key, the truth beside it, posterior samples), and a malformed one is
 * refused naming the record and key. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catrecord.h"
#include "check.h"

static char dir[] = "/tmp/test_catrecord.XXXXXX";

static void one_column(sl_table *t, const char *name, float v)
{
    sl_err err;
    sl_table_init(t);
    int c = sl_table_add_column(t, name, SL_UNIT_PIXEL, 1, &err);
    int r = sl_table_add_rows(t, 1, &err);
    *sl_table_at(t, c, r) = v;
}

static void sample(sl_catrecord *c)
{
    sl_catrecord_init(c);
    c->img.id = 7;
    c->img.width = 40;
    c->img.height = 30;
    c->img.n_bands = 2;
    strcpy(c->img.bands[0], "g");
    strcpy(c->img.bands[1], "r");
    c->img.pixel_scale = 0.396;
    c->img.has_zero_point = 1;
    c->img.zero_point[0] = 28.5;
    c->img.zero_point[1] = 29.0;
    one_column(&c->est, "x", 12.5f);
    c->has_truth = 1;
    one_column(&c->truth, "x", 12.25f);
    c->n_samples = 2;
    c->samples = calloc(2, sizeof *c->samples);
    one_column(&c->samples[0], "x", 1);
    one_column(&c->samples[1], "x", 2);
}

static void test_round_trip(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/c.slr", dir);
    sl_err err;
    static char *argv[] = {"test_catrecord"};
    sl_provenance prov = {.tool = "test_catrecord", .version = "0", .argc = 1, .argv = argv};
    sl_writer *w = sl_writer_open(path, &err);
    sl_catrecord c, d;
    sample(&c);
    CHECK(sl_writer_header(w, &prov, NULL, 0, &err) == 0);
    CHECK(sl_catrecord_write(w, &c, &err) == 0);
    CHECK(sl_writer_close(w, NULL, 0, &err) == 0);

    sl_reader *r = sl_reader_open(path, &err);
    sl_record rec;
    sl_catrecord_init(&d);
    CHECK(sl_read(r, &rec, &err) == 0 && !strcmp(rec.type, "catalog"));
    CHECK(sl_catrecord_read(&d, &rec, "estimate", &err) == 0);
    CHECK(d.img.id == 7 && d.img.width == 40 && d.img.height == 30 && d.img.n_bands == 2);
    CHECK(!strcmp(d.img.bands[1], "r") && d.img.pixel_scale == 0.396);
    CHECK(d.img.has_zero_point && d.img.zero_point[1] == 29.0);
    CHECK(d.est.n == 1 && *sl_table_at(&d.est, 0, 0) == 12.5f);
    CHECK(!strcmp(d.est.cols[0].unit, SL_UNIT_PIXEL));
    CHECK(d.has_truth && *sl_table_at(&d.truth, 0, 0) == 12.25f);
    CHECK(d.n_samples == 2 && *sl_table_at(&d.samples[1], 0, 0) == 2);
    /* The same record under --key truth: no truth beside it. */
    CHECK(sl_catrecord_read(&d, &rec, "truth", &err) == 0);
    CHECK(!d.has_truth && *sl_table_at(&d.est, 0, 0) == 12.25f);
    sl_reader_close(r);
    sl_catrecord_free(&c);
    sl_catrecord_free(&d);
}

static void test_refused(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/bad.slr", dir);
    sl_err err;
    static char *argv[] = {"test_catrecord"};
    sl_provenance prov = {.tool = "test_catrecord", .version = "0", .argc = 1, .argv = argv};
    sl_writer *w = sl_writer_open(path, &err);
    CHECK(sl_writer_header(w, &prov, NULL, 0, &err) == 0);
    sl_map m;
    sl_writer_begin(w, &m, "catalog", 6);
    sl_map_int(&m, "id", 1);
    sl_map_int(&m, "width", 4);
    sl_map_int(&m, "height", 4);
    sl_map_str(&m, "bands", "r"); /* not an array */
    sl_map_num(&m, "pixel_scale", 0.4);
    CHECK(sl_writer_end(w, &m, &err) == 0);
    CHECK(sl_writer_close(w, NULL, 0, &err) == 0);
    sl_reader *r = sl_reader_open(path, &err);
    sl_record rec;
    sl_catrecord c;
    sl_catrecord_init(&c);
    CHECK(sl_read(r, &rec, &err) == 0);
    CHECK(sl_catrecord_read(&c, &rec, "estimate", &err) < 0);
    CHECK(strstr(err.msg, "record 2: key 'bands': expected array") != NULL);
    sl_reader_close(r);
    sl_catrecord_free(&c);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(test_round_trip);
    RUN(test_refused);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report("test_catrecord");
}
