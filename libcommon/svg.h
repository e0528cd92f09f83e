/* svg.h: a small writer of SVG plots, enough for sl-calibrate's figures
 * (reliability diagrams, coverage curves, rank histograms, scatter plots)
 * to be opened in any browser without a plotting library.
 *
 * One plot per sl_svg: a frame with axes, "nice" ticks (1, 2 or 5 times a
 * power of ten), axis labels and a title, then data drawn in data
 * coordinates and clipped to the frame, then a legend.  The text is built in
 * memory and written whole by sl_svg_write, under a temporary name renamed
 * into place (output.h), so a failed run leaves no half-drawn figure.
 *
 *     sl_svg s;
 *     sl_svg_begin(&s, 480, 400, "Reliability", "predicted", "observed", 0, 1, 0, 1, &err);
 *     sl_svg_polyline(&s, diag_x, diag_y, 2, "#888888", 1, 1);
 *     sl_svg_points(&s, conf, freq, n, "#1f77b4", 3);
 *     sl_svg_legend(&s, "galaxy", "#1f77b4");
 *     sl_svg_write(&s, "out/reliability.svg", &err);
 *     sl_svg_free(&s);
 *
 * Non-finite values are skipped: a polyline breaks at them. */
#ifndef SL_SVG_H
#define SL_SVG_H

#include <stddef.h>

#include "err.h"

#define SL_SVG_MAX_LEGEND 16
#define SL_SVG_MAX_NOTES 4
#define SL_SVG_MAX_TICKS 32

typedef struct sl_svg {
    char *buf;
    size_t len, cap;
    int oom;                           /* a growth failed: the text is incomplete */
    int closed;                        /* 1 while the end is written, then 2: no more drawing */
    int width, height;                 /* pixels */
    double x0, x1, y0, y1;             /* data range shown */
    double left, right, top, bottom;   /* the frame, in pixels */
    int n_legend;
    char legend_label[SL_SVG_MAX_LEGEND][64];
    char legend_color[SL_SVG_MAX_LEGEND][16];
    int n_notes;
    char note[SL_SVG_MAX_NOTES][96];
} sl_svg;

/* Starts a plot of width x height pixels showing [x0, x1] x [y0, y1]
 * (x0 < x1, y0 < y1, finite): background, frame, ticks with their values,
 * the labels and the title.  Returns -1 for a bad range or size. */
int sl_svg_begin(sl_svg *s, int width, int height, const char *title, const char *xlabel,
                 const char *ylabel, double x0, double x1, double y0, double y1, sl_err *err);
void sl_svg_free(sl_svg *s);

/* Pixel coordinates of a data point (y grows downwards in SVG). */
double sl_svg_px(const sl_svg *s, double x);
double sl_svg_py(const sl_svg *s, double y);

/* Data, clipped to the frame.  Colors are SVG color strings ("#1f77b4"). */
void sl_svg_polyline(sl_svg *s, const double *x, const double *y, int n, const char *color,
                     double stroke_width, int dashed);
void sl_svg_points(sl_svg *s, const double *x, const double *y, int n, const char *color,
                   double radius);
/* Vertical error bars from lo[i] to hi[i] at x[i], with short caps. */
void sl_svg_errorbars(sl_svg *s, const double *x, const double *lo, const double *hi, int n,
                      const char *color);
/* A histogram: bar i spans [edges[i], edges[i+1]] from 0 to height[i]. */
void sl_svg_bars(sl_svg *s, const double *edges, const double *height, int n,
                 const char *fill);
/* A shaded band between lo and hi along x (a polygon), at the given opacity. */
void sl_svg_band(sl_svg *s, const double *x, const double *lo, const double *hi, int n,
                 const char *fill, double opacity);
/* A legend entry, drawn at the frame's top left by sl_svg_write (at most
 * SL_SVG_MAX_LEGEND; labels are cut at 63 bytes). */
void sl_svg_legend(sl_svg *s, const char *label, const char *color);
/* A line of text, in italics, at the frame's bottom right (the notes in the
 * order given, the last one lowest): what a reader must know to read the
 * figure, such as a metric that means nothing for this data.  At most
 * SL_SVG_MAX_NOTES; cut at 95 bytes. */
void sl_svg_note(sl_svg *s, const char *text);

/* Closes the plot and writes it to path (renamed into place when complete). */
int sl_svg_write(sl_svg *s, const char *path, sl_err *err);
/* Closes the plot (the first call; later ones return the same text) and
 * returns its text, owned by s and valid until sl_svg_free, or NULL when
 * memory ran out.  Drawing after it is ignored. */
const char *sl_svg_text(sl_svg *s);

/* Tick positions for [lo, hi]: multiples of a step of 1, 2 or 5 times a power
 * of ten, the smallest step giving at most max_ticks (2 to SL_SVG_MAX_TICKS)
 * ticks inside the range.  Returns their number (at least 1 for lo < hi). */
int sl_svg_ticks(double lo, double hi, int max_ticks, double *ticks);

#endif
