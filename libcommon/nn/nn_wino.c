/* nn_wino.c: Winograd convolution F(4x4, 3x3) (Lavin & Gray, "Fast algorithms
 * for convolutional neural networks", 2016) for 3x3, stride-1, undilated convs.
 *
 * Per 4x4 output tile and channel pair, the 6x6 input patch d and the kernel g
 * become V = B^T d B and U = G g G^T; the 36 points xi of the transform are
 * independent, so summing over input channels is 36 GEMMs
 *     M[xi] [cout][tiles] = U[xi] [cout][cin] . V[xi] [cin][tiles],
 * and each tile's output is A^T M A.  That is 4 times fewer multiply-adds than
 * the direct sum, for slightly larger rounding errors (the tests bound them).
 * The weight gradient is the adjoint: dU[xi] = sum over tiles of
 * (A dy A^T)[xi] V[xi]^T, then dW = G^T dU G.
 *
 * The tiles of the samples of one chunk are numbered in a row (sample, tile row,
 * tile column) and run in blocks of T, small enough for V and M to stay in
 * cache yet wide enough for efficient GEMMs: small images share a block.  The
 * blocks depend on the chunk alone, never on the thread running it.  Transforms
 * take 8 consecutive tiles at a time, one per vector lane: the patches of 8
 * neighbours along a tile row are stride-4 slices of 40 consecutive inputs,
 * picked apart with shuffles, and a run that crosses rows or samples is put
 * together from its pieces.  The block's input rows are first copied into a
 * zero-padded buffer, so that every patch is whole. */
#include "nn_impl.h"

#include <cblas.h>

#include "nn_simd.h"

#define NPT 36                   /* transform points */
#define WINO_FLOATS (128 * 1024) /* V and M of one block */
#define MIN_TILES 32             /* narrower GEMMs lose more than cache misses cost */
#define MAX_TILES 256
#define SLACK 40                 /* floats read past the end of the padded rows */

int nn_wino_applies(const conv_geom *g)
{
    /* Below 8 channels the 36 GEMMs are too thin to pay for the transforms. */
    return g->k == 3 && g->st == 1 && g->dil == 1 && g->cin >= 8 && g->cout >= 8;
}

static int tiles_x(const conv_geom *g) { return (g->wo + 3) / 4; }
static int n_tiles(const conv_geom *g) { return ((g->ho + 3) / 4) * tiles_x(g); }

/* Tiles per block, a multiple of 8. */
static int block_tiles(const conv_geom *g)
{
    int t = WINO_FLOATS / (NPT * (g->cin + g->cout)) / 8 * 8;
    return t < MIN_TILES ? MIN_TILES : t > MAX_TILES ? MAX_TILES : t;
}

/* Padded rows: 4 tiles wide plus the 2-pixel overlap; and the most rows a block
 * can need (each sample it touches adds up to two partial tile rows). */
static int pad_width(const conv_geom *g) { return 4 * tiles_x(g) + 2; }

static size_t pad_rows_max(const conv_geom *g)
{
    int T = block_tiles(g), parts = T / n_tiles(g) + 2;
    return 4 * (size_t)T / tiles_x(g) + 10 * (size_t)parts;
}

size_t nn_wino_workspace(const conv_geom *g)
{
    return (size_t)NPT * (g->cin + g->cout) * block_tiles(g) +
           (size_t)g->cin * pad_rows_max(g) * pad_width(g) + SLACK;
}

/* ---- Shuffles ----------------------------------------------------------------------- */

/* c[k] = {x[k], x[k + 4], ..., x[k + 28]} for k < 6 (k < 4 when !six), from
 * x[0 .. 40) (x[0 .. 32)): the patch columns of 8 neighbouring tiles. */
NN_INLINE void deal4(const float *x, v8f *c, int six)
{
    v8f a0 = v_load(x), a1 = v_load(x + 8), a2 = v_load(x + 16), a3 = v_load(x + 24);
    const v8i even = {0, 4, 8, 12, 1, 5, 9, 13}, odd = {2, 6, 10, 14, 3, 7, 11, 15};
    const v8i lo = {0, 1, 2, 3, 8, 9, 10, 11}, hi = {4, 5, 6, 7, 12, 13, 14, 15};
    v8f p = __builtin_shuffle(a0, a1, even), q = __builtin_shuffle(a0, a1, odd);
    v8f r = __builtin_shuffle(a2, a3, even), s = __builtin_shuffle(a2, a3, odd);
    c[0] = __builtin_shuffle(p, r, lo);
    c[1] = __builtin_shuffle(p, r, hi);
    c[2] = __builtin_shuffle(q, s, lo);
    c[3] = __builtin_shuffle(q, s, hi);
    if (six) {
        v8f a4 = v_load(x + 32);
        c[4] = __builtin_shuffle(c[0], a4, (v8i){1, 2, 3, 4, 5, 6, 7, 8});
        c[5] = __builtin_shuffle(c[1], a4, (v8i){1, 2, 3, 4, 5, 6, 7, 9});
    }
}

/* The inverse for 4 columns: out[4 l + k] = c[k][l], 32 floats.  */
NN_INLINE void interleave4(const v8f *c, v8f *out)
{
    const v8i lo = {0, 8, 1, 9, 2, 10, 3, 11}, hi = {4, 12, 5, 13, 6, 14, 7, 15};
    v8f t0 = __builtin_shuffle(c[0], c[1], lo), t1 = __builtin_shuffle(c[2], c[3], lo);
    v8f t2 = __builtin_shuffle(c[0], c[1], hi), t3 = __builtin_shuffle(c[2], c[3], hi);
    out[0] = __builtin_shuffle(t0, t1, (v8i){0, 1, 8, 9, 2, 3, 10, 11});
    out[1] = __builtin_shuffle(t0, t1, (v8i){4, 5, 12, 13, 6, 7, 14, 15});
    out[2] = __builtin_shuffle(t2, t3, (v8i){0, 1, 8, 9, 2, 3, 10, 11});
    out[3] = __builtin_shuffle(t2, t3, (v8i){4, 5, 12, 13, 6, 7, 14, 15});
}

/* Lanes [lane, 8) of *d = lanes [0, 8 - lane) of v (lane 0: all of v). */
NN_INLINE void v_place(v8f *d, const v8f *v, int lane)
{
    if (lane == 0) {
        *d = *v;
        return;
    }
    v8i idx = (v8i){0, 1, 2, 3, 4, 5, 6, 7} - lane, m = idx >= 0;
    v8f p = __builtin_shuffle(*v, idx & 7);
    *d = v_select(&m, &p, d);
}

/* Lanes [0, 8 - lane) of the result = lanes [lane, 8) of v. */
NN_INLINE v8f v_take(const v8f *v, int lane)
{
    return lane == 0 ? *v : __builtin_shuffle(*v, ((v8i){0, 1, 2, 3, 4, 5, 6, 7} + lane) & 7);
}

/* ---- 1-D transforms on vectors ---------------------------------------------------- */

/* o[i so] = (B^T d)[i] over d[0], d[s], ..., d[5 s]. */
NN_INLINE void bt6(v8f *o, const v8f *d, int s, int so)
{
    v8f d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    v8f four = v_set(4.0f), five = v_set(5.0f), two = v_set(2.0f);
    v8f a = d4 - four * d2, b = d3 - four * d1; /* shared by rows 1 and 2 */
    v8f c = d4 - d2, e = two * (d3 - d1);       /* shared by rows 3 and 4 */
    o[0] = four * d0 - five * d2 + d4;
    o[so] = a + b;
    o[2 * so] = a - b;
    o[3 * so] = c + e;
    o[4 * so] = c - e;
    o[5 * so] = four * d1 - five * d3 + d5;
}

/* o[i so] = (A^T m)[i], i < 4, over m[0], m[s], ..., m[5 s]. */
NN_INLINE void at6(v8f *o, const v8f *m, int s, int so)
{
    v8f m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
    v8f p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
    o[0] = m0 + p12 + p34;
    o[so] = d12 + v_set(2.0f) * d34;
    o[2 * so] = p12 + v_set(4.0f) * p34;
    o[3 * so] = d12 + v_set(8.0f) * d34 + m5;
}

/* o[i so] = (A y)[i], i < 6, from y[0], y[s], y[2 s], y[3 s]. */
NN_INLINE void a4(v8f *o, const v8f *y, int s, int so)
{
    v8f y0 = y[0], y1 = y[s], y2 = y[2 * s], y3 = y[3 * s];
    v8f p02 = y0 + y2, p13 = y1 + y3;
    v8f q02 = y0 + v_set(4.0f) * y2, q13 = v_set(2.0f) * y1 + v_set(8.0f) * y3;
    o[0] = y0;
    o[so] = p02 + p13;
    o[2 * so] = p02 - p13;
    o[3 * so] = q02 + q13;
    o[4 * so] = q02 - q13;
    o[5 * so] = y3;
}

/* o[i so] = (G g)[i] over g[0], g[s], g[2 s]. */
NN_INLINE void g3(v8f *o, const v8f *g, int s, int so)
{
    v8f g0 = g[0], g1 = g[s], g2 = g[2 * s];
    v8f p = (g0 + g2) * v_set(-1.0f / 6), q = g1 * v_set(1.0f / 6);
    v8f r = g0 * v_set(1.0f / 24) + g2 * v_set(1.0f / 6), t = g1 * v_set(1.0f / 12);
    o[0] = g0 * v_set(0.25f);
    o[so] = p - q;
    o[2 * so] = p + q;
    o[3 * so] = r + t;
    o[4 * so] = r - t;
    o[5 * so] = g2;
}

/* o[k so] = (G^T u)[k], k < 3, over u[0], u[s], ..., u[5 s]. */
NN_INLINE void gt6(v8f *o, const v8f *u, int s, int so)
{
    v8f u0 = u[0], u1 = u[s], u2 = u[2 * s], u3 = u[3 * s], u4 = u[4 * s], u5 = u[5 * s];
    v8f p12 = u1 + u2, d12 = u2 - u1, p34 = u3 + u4, d34 = u3 - u4;
    o[0] = u0 * v_set(0.25f) - p12 * v_set(1.0f / 6) + p34 * v_set(1.0f / 24);
    o[so] = d12 * v_set(1.0f / 6) + d34 * v_set(1.0f / 12);
    o[2 * so] = (p34 - p12) * v_set(1.0f / 6) + u5;
}

/* ---- Weights ------------------------------------------------------------------------ */

/* 8 input channels at a time: lanes are channels, contiguous in u. */
NN_SIMD void nn_wino_weights(const float *w, int cout, int cin, int o0, int o1, float *u)
{
    for (int co = o0; co < o1; co++)
        for (int ci = 0; ci < cin; ci += 8) {
            int n = cin - ci < 8 ? cin - ci : 8;
            float tmp[9][8] = {{0}};
            for (int l = 0; l < n; l++)
                for (int k = 0; k < 9; k++)
                    tmp[k][l] = w[((size_t)co * cin + ci + l) * 9 + k];
            v8f g[9], t[18], r[NPT];
            for (int k = 0; k < 9; k++)
                g[k] = v_load(tmp[k]);
            for (int c = 0; c < 3; c++) /* t [6][3] = G g */
                g3(t + c, g + c, 3, 3);
            for (int i = 0; i < 6; i++) /* r [6][6] = t G^T */
                g3(r + i * 6, t + i * 3, 1, 1);
            for (int i = 0; i < NPT; i++)
                v_store_part(u + ((size_t)i * cout + co) * cin + ci, &r[i], n);
        }
}

NN_SIMD void nn_wino_grad_weights(const float *du, int cout, int cin, float *dw)
{
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci += 8) {
            int n = cin - ci < 8 ? cin - ci : 8;
            v8f u[NPT], t[18], r[9];
            for (int i = 0; i < NPT; i++)
                u[i] = v_load_part(du + ((size_t)i * cout + co) * cin + ci, n);
            for (int c = 0; c < 6; c++) /* t [3][6] = G^T u */
                gt6(t + c, u + c, 6, 6);
            for (int k = 0; k < 3; k++) /* r [3][3] = t G */
                gt6(r + k * 3, t + k * 6, 1, 1);
            float tmp[9][8];
            for (int k = 0; k < 9; k++)
                v_store(tmp[k], r[k]);
            for (int l = 0; l < n; l++)
                for (int k = 0; k < 9; k++)
                    dw[((size_t)co * cin + ci + l) * 9 + k] = tmp[k][l];
        }
}

/* ---- Data transforms ---------------------------------------------------------------- */

/* Tiles of the samples of a chunk, in a row; a block is T of them. */
typedef struct batch {
    const conv_geom *g;
    int ns;                 /* samples */
    const float *x;         /* input of sample s at x + s xs */
    size_t xs;
    float *y;               /* forward output, at y + s ys */
    size_t ys;
    const float *dy;        /* output gradient (weight gradient), at dy + s ys */
    const float *dy_end;    /* dy + ns ys */
} batch;

/* A piece of a run of 8 tiles: n tiles of one tile row of one sample, from
 * (ty, tx), in lanes [lane, lane + n). */
typedef struct piece {
    int s, ty, tx, lane, n;
} piece;

/* Cuts tiles [tau, tau + n) into pieces; returns how many. */
static int pieces(const conv_geom *g, long tau, int n, piece *out)
{
    int nt = n_tiles(g), ntx = tiles_x(g), k = 0;
    for (int lane = 0; lane < n;) {
        long t = tau + lane;
        int r = (int)(t % nt);
        piece p = {(int)(t / nt), r / ntx, r % ntx, lane, 0};
        p.n = ntx - p.tx < n - lane ? ntx - p.tx : n - lane;
        out[k++] = p;
        lane += p.n;
    }
    return k;
}

/* The padded input rows of a block, per sample it touches: rows from tile row
 * ty0, at offset off of the padded buffer, laid out [cin][rows][pad_width]. */
typedef struct part {
    int ty0, rows;
    size_t off;
} part;

/* Copies the input rows of tiles [tau0, tau1) into P, zero-padded; parts[i]
 * describes sample s0 + i.  Returns s0. */
static int pad_block(const batch *b, long tau0, long tau1, float *P, part *parts)
{
    const conv_geom *g = b->g;
    int nt = n_tiles(g), ntx = tiles_x(g), pw = pad_width(g);
    int s0 = (int)(tau0 / nt), s1 = (int)((tau1 - 1) / nt);
    size_t off = 0;
    for (int s = s0; s <= s1; s++) {
        long a = tau0 > (long)s * nt ? tau0 - (long)s * nt : 0;
        long z = tau1 < (long)(s + 1) * nt ? tau1 - (long)s * nt : nt;
        part *pt = &parts[s - s0];
        pt->ty0 = (int)(a / ntx);
        pt->rows = 4 * (int)((z - 1) / ntx - pt->ty0) + 6;
        pt->off = off;
        for (int ci = 0; ci < g->cin; ci++)
            for (int r = 0; r < pt->rows; r++) {
                float *d = P + off + ((size_t)ci * pt->rows + r) * pw;
                int iy = 4 * pt->ty0 - g->pad + r;
                if (iy < 0 || iy >= g->h) {
                    memset(d, 0, pw * sizeof *d);
                    continue;
                }
                memset(d, 0, g->pad * sizeof *d);
                memcpy(d + g->pad, b->x + s * b->xs + ((size_t)ci * g->h + iy) * g->w,
                       g->w * sizeof *d);
                memset(d + g->pad + g->w, 0, (pw - g->pad - g->w) * sizeof *d);
            }
        off += (size_t)g->cin * pt->rows * pw;
    }
    return s0;
}

/* V[xi][ci][j .. j + n) for tiles [tau, tau + n). */
NN_SIMD static void input_transform(const batch *b, const float *P, const part *parts, int s0,
                                    long tau, int n, float *V, int ldv, int j)
{
    const conv_geom *g = b->g;
    int pw = pad_width(g);
    piece pc[8];
    int np = pieces(g, tau, n, pc);
    const float *base[8];
    size_t cstride[8];
    for (int k = 0; k < np; k++) {
        const part *pt = &parts[pc[k].s - s0];
        base[k] = P + pt->off + (size_t)4 * (pc[k].ty - pt->ty0) * pw + 4 * pc[k].tx;
        cstride[k] = (size_t)pt->rows * pw;
    }
    for (int ci = 0; ci < g->cin; ci++) {
        v8f d[NPT], t[NPT];
        for (int r = 0; r < 6; r++)
            for (int k = 0; k < np; k++) {
                v8f c[6];
                deal4(base[k] + ci * cstride[k] + (size_t)r * pw, c, 1);
                for (int q = 0; q < 6; q++)
                    v_place(&d[r * 6 + q], &c[q], pc[k].lane);
            }
        for (int c = 0; c < 6; c++) /* columns: t = B^T d */
            bt6(t + c, d + c, 6, 6);
        for (int r = 0; r < 6; r++) /* rows: d = t B */
            bt6(d + r * 6, t + r * 6, 1, 1);
        for (int i = 0; i < NPT; i++)
            v_store_part(V + ((size_t)i * g->cin + ci) * ldv + j, &d[i], n);
    }
}

/* dst[0 .. n) = src (or += when add), n <= 32: a tile's 4 columns at a time
 * (fixed-size copies are single moves; a variable one would be a call). */
typedef float v4f __attribute__((vector_size(16)));

NN_INLINE void put(float *dst, const float *src, int n, int add)
{
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        v4f s, d;
        memcpy(&s, src + i, sizeof s);
        if (add) {
            memcpy(&d, dst + i, sizeof d);
            s += d;
        }
        memcpy(dst + i, &s, sizeof s);
    }
    for (; i < n; i++)
        dst[i] = add ? dst[i] + src[i] : src[i];
}

/* Output tiles [tau, tau + n) from M[xi][co][j .. j + n). */
NN_SIMD static void output_transform(const batch *b, const float *M, int ldm, int j, long tau,
                                     int n, const float *bias, int add, int op)
{
    const conv_geom *g = b->g;
    size_t hwo = (size_t)g->ho * g->wo;
    piece pc[8];
    int np = pieces(g, tau, n, pc);
    for (int co = 0; co < g->cout; co++) {
        v8f m[NPT], t[24], o[16];
        for (int i = 0; i < NPT; i++)
            m[i] = v_load_part(M + ((size_t)i * g->cout + co) * ldm + j, n);
        for (int c = 0; c < 6; c++) /* columns: t [4][6] = A^T m */
            at6(t + c, m + c, 6, 6);
        for (int r = 0; r < 4; r++) /* rows: o [4][4] = t A */
            at6(o + r * 4, t + r * 6, 1, 1);
        if (!add) {
            v8f bv = v_set(bias ? bias[co] : 0.0f);
            for (int i = 0; i < 16; i++) {
                o[i] += bv;
                o[i] = v_act(op, &o[i]);
            }
        }
        for (int k = 0; k < np; k++) {
            const piece *p = &pc[k];
            int nc = g->wo - 4 * p->tx < 4 * p->n ? g->wo - 4 * p->tx : 4 * p->n;
            float *plane = b->y + p->s * b->ys + co * hwo + 4 * p->tx;
            for (int r = 0; r < 4 && 4 * p->ty + r < g->ho; r++) {
                float *row = plane + (size_t)(4 * p->ty + r) * g->wo;
                v8f c[4], out[4];
                for (int q = 0; q < 4; q++)
                    c[q] = v_take(&o[r * 4 + q], p->lane);
                interleave4(c, out);
                if (nc == 32) {
                    for (int q = 0; q < 4; q++)
                        v_store(row + 8 * q, add ? v_load(row + 8 * q) + out[q] : out[q]);
                    continue;
                }
                float tmp[32];
                for (int q = 0; q < 4; q++)
                    v_store(tmp + 8 * q, out[q]);
                put(row, tmp, nc, add);
            }
        }
    }
}

/* dM[xi][co][j .. j + n) = (A dy A^T)[xi] for output tiles [tau, tau + n). */
NN_SIMD static void grad_transform(const batch *b, long tau, int n, float *dM, int ldm, int j)
{
    const conv_geom *g = b->g;
    size_t hwo = (size_t)g->ho * g->wo;
    piece pc[8];
    int np = pieces(g, tau, n, pc);
    for (int co = 0; co < g->cout; co++) {
        v8f y[16], t[24], m[NPT];
        for (int k = 0; k < np; k++) {
            const piece *p = &pc[k];
            int nc = g->wo - 4 * p->tx < 4 * p->n ? g->wo - 4 * p->tx : 4 * p->n;
            const float *plane = b->dy + p->s * b->ys + co * hwo + 4 * p->tx;
            for (int r = 0; r < 4; r++) {
                int oy = 4 * p->ty + r;
                /* whole tiles are read in place (lanes past the piece are
                 * dropped); a cut tile needs zeros past the image's edge */
                float tmp[32] = {0};
                const float *src = tmp, *row = plane + (size_t)oy * g->wo;
                if (oy < g->ho && nc == 4 * p->n && row + 32 <= b->dy_end)
                    src = row;
                else if (oy < g->ho)
                    put(tmp, row, nc, 0);
                v8f c[4];
                deal4(src, c, 0);
                for (int q = 0; q < 4; q++)
                    v_place(&y[r * 4 + q], &c[q], p->lane);
            }
        }
        for (int c = 0; c < 4; c++) /* columns: t [6][4] = A y */
            a4(t + c, y + c, 4, 4);
        for (int r = 0; r < 6; r++) /* rows: m [6][6] = t A^T */
            a4(m + r * 6, t + r * 4, 1, 1);
        for (int i = 0; i < NPT; i++)
            v_store_part(dM + ((size_t)i * g->cout + co) * ldm + j, &m[i], n);
    }
}

/* V of tiles [tau0, tau0 + tb). */
static void transform_block(const batch *b, long tau0, int tb, float *V, int T, float *P)
{
    part parts[MAX_TILES + 2];
    int s0 = pad_block(b, tau0, tau0 + tb, P, parts);
    for (int j = 0; j < tb; j += 8)
        input_transform(b, P, parts, s0, tau0 + j, tb - j < 8 ? tb - j : 8, V, T, j);
}

void nn_wino_conv(const conv_geom *g, const float *u, const float *bias, const float *x,
                  size_t xs, float *y, size_t ys, int ns, int add, int op, float *work)
{
    batch b = {g, ns, x, xs, y, ys, NULL, NULL};
    long nt = (long)n_tiles(g) * ns;
    int T = block_tiles(g);
    float *V = work, *M = V + (size_t)NPT * g->cin * T, *P = M + (size_t)NPT * g->cout * T;
    for (long t0 = 0; t0 < nt; t0 += T) {
        int tb = nt - t0 < T ? (int)(nt - t0) : T;
        transform_block(&b, t0, tb, V, T, P);
        for (int i = 0; i < NPT; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->cout, tb, g->cin, 1.0f,
                        u + (size_t)i * g->cout * g->cin, g->cin, V + (size_t)i * g->cin * T, T,
                        0.0f, M + (size_t)i * g->cout * T, T);
        for (int j = 0; j < tb; j += 8)
            output_transform(&b, M, T, j, t0 + j, tb - j < 8 ? tb - j : 8, bias, add, op);
    }
}

void nn_wino_grad(const conv_geom *g, const float *x, size_t xs, const float *dy, size_t ys,
                  int ns, float *du, float *work)
{
    batch b = {g, ns, x, xs, NULL, ys, dy, dy + ns * ys};
    long nt = (long)n_tiles(g) * ns;
    int T = block_tiles(g);
    float *V = work, *dM = V + (size_t)NPT * g->cin * T, *P = dM + (size_t)NPT * g->cout * T;
    for (long t0 = 0; t0 < nt; t0 += T) {
        int tb = nt - t0 < T ? (int)(nt - t0) : T;
        transform_block(&b, t0, tb, V, T, P);
        for (int j = 0; j < tb; j += 8)
            grad_transform(&b, t0 + j, tb - j < 8 ? tb - j : 8, dM, T, j);
        for (int i = 0; i < NPT; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->cout, g->cin, tb, 1.0f,
                        dM + (size_t)i * g->cout * T, T, V + (size_t)i * g->cin * T, T,
                        t0 == 0 ? 0.0f : 1.0f, du + (size_t)i * g->cout * g->cin, g->cin);
    }
}
