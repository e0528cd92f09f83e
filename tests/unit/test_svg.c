/* test_svg.c: the SVG plot writer: tick choice, the data-to-pixel mapping,
 * the elements drawn, escaping, and writing files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "svg.h"

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void test_ticks(void)
{
    double t[SL_SVG_MAX_TICKS];
    /* Step 0.1 would give 11 ticks, more than 8: step 0.2. */
    CHECK(sl_svg_ticks(0, 1, 8, t) == 6);
    CHECK_NEAR(t[0], 0, 0);
    CHECK_NEAR(t[3], 0.6, 1e-12);
    CHECK_NEAR(t[5], 1, 1e-12);
    /* Symmetric around zero, and zero exactly 0 (never -0 or 1e-17). */
    CHECK(sl_svg_ticks(-0.3, 0.3, 8, t) == 7);
    CHECK(t[3] == 0 && !signbit(t[3]));
    CHECK_NEAR(t[0], -0.3, 1e-12);
    /* 0..100 in at most 5: steps 10 and 20 give 11 and 6, step 50 gives 3. */
    CHECK(sl_svg_ticks(0, 100, 5, t) == 3);
    CHECK_NEAR(t[1], 50, 1e-12);
    /* Ticks lie inside the range. */
    int n = sl_svg_ticks(13.7, 27.2, 8, t);
    CHECK(n >= 2 && t[0] >= 13.7 && t[n - 1] <= 27.2);
    CHECK_NEAR(t[0], 14, 1e-12);
    CHECK(sl_svg_ticks(1, 1, 8, t) == 0);
    CHECK(sl_svg_ticks(0, 1, 1, t) == 0);
}

static void test_plot(void)
{
    sl_err err;
    sl_svg s;
    CHECK(sl_svg_begin(&s, 520, 440, "a<b & \"c\"", "x label", "y label", 0, 1, 0, 2, &err) == 0);
    /* The frame spans x 64..504, y 36..392 (y up). */
    CHECK_NEAR(sl_svg_px(&s, 0.5), 284, 1e-9);
    CHECK_NEAR(sl_svg_py(&s, 0), 392, 1e-9);
    CHECK_NEAR(sl_svg_py(&s, 2), 36, 1e-9);
    double x[4] = {0, 0.5, NAN, 1}, y[4] = {0, 1, 1, 2}, lo[2] = {0.5, NAN}, hi[2] = {1.5, 1};
    sl_svg_polyline(&s, x, y, 4, "#ff0000", 1.5, 1);
    sl_svg_points(&s, x, y, 4, "#00ff00", 3);
    sl_svg_errorbars(&s, x, lo, hi, 2, "#0000ff");
    double edges[3] = {0, 0.5, 1}, h[2] = {1, 2};
    sl_svg_bars(&s, edges, h, 2, "#123456");
    sl_svg_band(&s, edges, lo, hi, 1, "#999999", 0.3);
    sl_svg_legend(&s, "series <1>", "#ff0000");
    sl_svg_note(&s, "first & only <note>");
    const char *text = sl_svg_text(&s);
    CHECK(text != NULL);
    if (!text)
        return;
    CHECK(!strncmp(text, "<?xml", 5));
    CHECK(strstr(text, "</svg>\n") && !strcmp(text + strlen(text) - 7, "</svg>\n"));
    /* Title escaped, in <title> and as the visible heading. */
    CHECK(count(text, "a&lt;b &amp; &quot;c&quot;") == 2);
    CHECK(strstr(text, ">x label<") && strstr(text, ">y label<"));
    CHECK(strstr(text, "series &lt;1&gt;"));
    /* The note: escaped, italic, right-aligned at the frame's bottom. */
    CHECK(strstr(text, "font-style=\"italic\"") && strstr(text, ">first &amp; only &lt;note&gt;<"));
    /* The NaN breaks the line in two; points skip it. */
    CHECK(count(text, "<polyline") == 2);
    CHECK(count(text, "stroke-dasharray") == 2);
    CHECK(count(text, "<circle") == 3);
    CHECK(strstr(text, "cx=\"284.00\" cy=\"214.00\"")); /* (0.5, 1) */
    CHECK(count(text, "stroke=\"#0000ff\"") == 1);      /* the NaN bar is skipped */
    CHECK(count(text, "fill=\"#123456\"") == 2);
    /* Bar 2 spans x 0.5..1 = 284..504, height 2 up to the top at 36. */
    CHECK(strstr(text, "<rect x=\"284.00\" y=\"36.00\" width=\"220.00\" height=\"356.00\""));
    CHECK(count(text, "<polygon") == 1);
    CHECK(count(text, "clip-path=\"url(#frame)\"") == 1);
    /* Closed: more drawing changes nothing, and the text is returned again. */
    size_t len = strlen(text);
    sl_svg_points(&s, x, y, 2, "#000000", 1);
    CHECK(sl_svg_text(&s) == text && strlen(text) == len);

    /* Written to a file, byte for byte. */
    char path[] = "/tmp/test_svg_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(sl_svg_write(&s, path, &err) == 0);
    FILE *f = fopen(path, "rb");
    char *buf = calloc(len + 16, 1);
    size_t got = f && buf ? fread(buf, 1, len + 8, f) : 0;
    CHECK(got == len && !memcmp(buf, text, len));
    if (f)
        fclose(f);
    free(buf);
    unlink(path);
    CHECK(sl_svg_write(&s, "/nonexistent-dir/x.svg", &err) < 0);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.svg") != NULL);
    sl_svg_free(&s);
}

static void test_bad_range(void)
{
    sl_err err;
    sl_svg s;
    CHECK(sl_svg_begin(&s, 520, 440, "t", "x", "y", 1, 1, 0, 1, &err) < 0);
    CHECK(strstr(err.msg, "'t'") != NULL);
    CHECK(sl_svg_begin(&s, 520, 440, "t", "x", "y", 0, 1, 0, NAN, &err) < 0);
    CHECK(sl_svg_begin(&s, 50, 440, "t", "x", "y", 0, 1, 0, 1, &err) < 0);
    sl_svg_free(&s);
}

int main(void)
{
    RUN(test_ticks);
    RUN(test_plot);
    RUN(test_bad_range);
    return check_report("test_svg");
}
