/* nn_ops.c: the network's operators, each in one section: its shape rule (the
 * checks of its arguments against its inputs, its output shape and parameter
 * counts), the buffers it keeps, and its forward and backward kernels; the
 * table at the end (nn_op_table) is how the rest of the engine finds them.
 *
 * Per-sample kernels run a range of samples; those that sum parameter
 * gradients over samples write them into the slot of their chunk (the first
 * sample of the chunk overwrites, the others add), and nn.c adds the chunks up
 * in order.  Every sum over pixels runs in a fixed order, in 8 float lanes
 * finished in double, so results do not depend on which thread ran them.
 *
 * Backward kernels write the input gradient when theirs is the first edge to
 * reach that input (nd->write[k]) and add to it otherwise. */
#include "nn_impl.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn_simd.h"

/* ---- Row kernels ----------------------------------------------------------------- */

/* Sum of x[0..n). */
NN_SIMD static double sum_f(const float *x, size_t n)
{
    v8f a = v_set(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        a += v_load(x + i);
    double s = v_hsum(&a);
    for (; i < n; i++)
        s += x[i];
    return s;
}

/* Sum of (x - m)^2 over x[0..n). */
NN_SIMD static double sumsq_dev(const float *x, size_t n, float m)
{
    v8f a = v_set(0), mv = v_set(m);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f d = v_load(x + i) - mv;
        a += d * d;
    }
    double s = v_hsum(&a);
    for (; i < n; i++)
        s += ((double)x[i] - m) * ((double)x[i] - m);
    return s;
}

/* y = act(x scale + shift) over [0..n). */
NN_INLINE void act_affine_t(int op, float *y, const float *x, size_t n, float scale, float shift)
{
    v8f a = v_set(scale), b = v_set(shift);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v = v_load(x + i) * a + b;
        v_store(y + i, v_act(op, &v));
    }
    if (i < n) {
        v8f v = v_load_part(x + i, n - i) * a + b;
        v = v_act(op, &v);
        v_store_part(y + i, &v, n - i);
    }
}

NN_SIMD static void act_affine(int op, float *y, const float *x, size_t n, float scale, float shift)
{
    switch (op) { /* constant op: each case compiles to its own loop */
    case SL_NN_SILU: act_affine_t(SL_NN_SILU, y, x, n, scale, shift); break;
    case SL_NN_RELU: act_affine_t(SL_NN_RELU, y, x, n, scale, shift); break;
    default: act_affine_t(0, y, x, n, scale, shift); break;
    }
}

/* dx = act'(x) dy, or dx += that when add. */
NN_INLINE void act_backward_t(int op, float *dx, const float *x, const float *dy, size_t n, int add)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f xv = v_load(x + i), d = v_load(dy + i), g = v_act_grad(op, &xv, &d);
        v_store(dx + i, add ? v_load(dx + i) + g : g);
    }
    if (i < n) {
        v8f xv = v_load_part(x + i, n - i), d = v_load_part(dy + i, n - i);
        v8f g = v_act_grad(op, &xv, &d);
        if (add)
            g += v_load_part(dx + i, n - i);
        v_store_part(dx + i, &g, n - i);
    }
}

NN_SIMD static void act_backward_row(int op, float *dx, const float *x, const float *dy, size_t n,
                                 int add)
{
    if (op == SL_NN_SILU)
        act_backward_t(SL_NN_SILU, dx, x, dy, n, add);
    else
        act_backward_t(SL_NN_RELU, dx, x, dy, n, add);
}

/* Batch norm backward over one row, z the norm's input, da the gradient of
 * act(z scale + shift): with dy = act'(.) da (dy = da without activation),
 * sums of dy and of dy (z - mean) istd; dy is stored over da. */
NN_INLINE void bn_grad_sums_t(int op, float *da, const float *z, size_t n, const float *c,
                              double *sdy, double *sdyx)
{
    v8f sc = v_set(c[0]), sh = v_set(c[1]), m = v_set(c[2]), is = v_set(c[3]);
    v8f a = v_set(0), b = v_set(0);
    size_t i = 0;
    for (; i < n; i += 8) {
        size_t k = n - i < 8 ? n - i : 8;
        v8f zv = v_load_part(z + i, k), d = v_load_part(da + i, k);
        v8f y = zv * sc + sh, dy = v_act_grad(op, &y, &d);
        a += dy;
        b += dy * ((zv - m) * is);
        if (op)
            v_store_part(da + i, &dy, k);
    }
    *sdy = v_hsum(&a);
    *sdyx = v_hsum(&b);
}

/* c = {scale, shift, mean, istd, p, q, r} of the channel. */
NN_SIMD static void bn_grad_sums(int op, float *da, const float *z, size_t n, const float *c,
                                 double *sdy, double *sdyx)
{
    switch (op) {
    case SL_NN_SILU: bn_grad_sums_t(SL_NN_SILU, da, z, n, c, sdy, sdyx); break;
    case SL_NN_RELU: bn_grad_sums_t(SL_NN_RELU, da, z, n, c, sdy, sdyx); break;
    default: bn_grad_sums_t(0, da, z, n, c, sdy, sdyx); break;
    }
}

/* dz = p dy + q z + r (or dz += that) over one row, c[4 .. 7) = {p, q, r}. */
NN_SIMD static void bn_grad_apply(const float *dy, const float *z, size_t n, const float *c,
                                  float *dz, int add)
{
    v8f p = v_set(c[4]), q = v_set(c[5]), r = v_set(c[6]);
    size_t i = 0;
    for (; i < n; i += 8) {
        size_t k = n - i < 8 ? n - i : 8;
        v8f g = v_load_part(dy + i, k) * p + (v_load_part(z + i, k) * q + r);
        if (add)
            g += v_load_part(dz + i, k);
        v_store_part(dz + i, &g, k);
    }
}

/* y = x (add = 0) or y += x over [0..n). */
NN_SIMD static void copy_or_add(float *y, const float *x, size_t n, int add)
{
    if (!add) {
        memcpy(y, x, n * sizeof *y);
        return;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        v_store(y + i, v_load(y + i) + v_load(x + i));
    for (; i < n; i++)
        y[i] += x[i];
}

static void fill(float *y, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        y[i] = v;
}

/* ---- Input ------------------------------------------------------------------ */

static int input_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)x, (void)y;
    const int *a = nd->arg;
    if (a[0] < 1 || a[1] < 1 || a[2] < 1)
        return nn_fail(net, "node 0 (input): shape %d x %d x %d is not positive", a[0], a[1], a[2]);
    nd->c = a[0], nd->h = a[1], nd->w = a[2];
    return 0;
}

static void input_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    memcpy(nd->act + (size_t)sp->s0 * nd->size, th->net->in + (size_t)sp->s0 * nd->size,
           (size_t)(sp->s1 - sp->s0) * nd->size * sizeof(float));
}

/* ---- Convolution ------------------------------------------------------------
 * Weights [cout][cin k k] times the im2col matrix [cin k k][ho wo] of a sample
 * gives its output [cout][ho wo].  Per sample, and in tiles of output rows, so
 * that the im2col tile and the output tile stay in cache: the bias is written
 * into the tile first and sgemm adds to it (with beta = 0 OpenBLAS would clear
 * the tile in a pass of its own anyway). */

static conv_geom conv_geometry(const sl_nn *net, const nn_node *nd)
{
    const nn_node *x = &net->node[nd->in[0]];
    conv_geom g = {nd->arg[0], nd->arg[1], nd->arg[2], nd->arg[3], nd->arg[4], nd->arg[5],
                   x->h, x->w, nd->h, nd->w};
    return g;
}

/* The input gradient of a stride-1 conv is a conv of the output gradient with
 * the kernel flipped and transposed, padded by dil (k - 1) - pad. */
static conv_geom conv_flipped(const conv_geom *g)
{
    conv_geom f = {g->cout, g->cin, g->k, 1, g->dil * (g->k - 1) - g->pad, g->dil,
                   g->ho, g->wo, g->h, g->w};
    return f;
}

static int tile_rows(const conv_geom *g)
{
    size_t per_row = (size_t)g->cin * g->k * g->k * g->wo;
    size_t r = NN_TILE_FLOATS / per_row;
    return r < 1 ? 1 : r > (size_t)g->ho ? g->ho : (int)r;
}

static size_t tile_floats(const conv_geom *g)
{
    return (size_t)g->cin * g->k * g->k * g->wo * tile_rows(g);
}

/* Whether the conv (flipped: its input-gradient conv) runs by Winograd. */
static int conv_wino(const sl_nn *net, const nn_node *nd, int flip)
{
    if (nd->algo != NN_CONV_IM2COL || (flip && !nd->flip))
        return 0;
    conv_geom g = conv_geometry(net, nd), f = conv_flipped(&g);
    return nn_wino_applies(flip ? &f : &g);
}

static size_t conv_workspace(const sl_nn *net, const nn_node *nd)
{
    if (nd->algo == NN_CONV_1X1)
        return 0;
    conv_geom g = conv_geometry(net, nd), f = conv_flipped(&g);
    size_t need = tile_floats(&g); /* the weight gradient always uses im2col */
    size_t a = conv_wino(net, nd, 0) ? nn_wino_workspace(&g) : 0;
    size_t b = !nd->flip ? 0 : conv_wino(net, nd, 1) ? nn_wino_workspace(&f) : tile_floats(&f);
    need = a > need ? a : need;
    return b > need ? b : need;
}

static int conv_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)y;
    int id = net->n;
    int cin = nd->arg[0], cout = nd->arg[1], k = nd->arg[2], st = nd->arg[3], pad = nd->arg[4],
        dil = nd->arg[5];
    if (cin != x->c)
        return nn_fail(net, "node %d (conv): input has %d channels, description says %d", id, x->c,
                       cin);
    if (cout < 1 || k < 1 || st < 1 || pad < 0 || dil < 1)
        return nn_fail(net, "node %d (conv): needs cout, k, stride, dilation >= 1 and pad >= 0 "
                       "(got %d, %d, %d, %d, pad %d)", id, cout, k, st, dil, pad);
    if (k > 64 || pad > 64 || dil > 64 || st > 64)
        return nn_fail(net, "node %d (conv): kernel, stride, pad or dilation above 64", id);
    int span = dil * (k - 1) + 1;
    if (x->h + 2 * pad < span || x->w + 2 * pad < span)
        return nn_fail(net, "node %d (conv): kernel %d with dilation %d spans %d pixels, padded "
                       "input is %d x %d", id, k, dil, span, x->h + 2 * pad, x->w + 2 * pad);
    nd->c = cout;
    nd->h = (x->h + 2 * pad - span) / st + 1;
    nd->w = (x->w + 2 * pad - span) / st + 1;
    nd->np = (size_t)cout * cin * k * k + cout;
    /* The algorithm follows from the arguments (Winograd, which also needs the
     * channel counts, is decided by conv_wino). */
    nd->algo = k == 1 && st == 1 && pad == 0 ? NN_CONV_1X1 : NN_CONV_IM2COL;
    nd->flip = nd->algo == NN_CONV_IM2COL && st == 1 && pad <= dil * (k - 1);
    return 0;
}

/* The flipped and Winograd weights; the workspaces of im2col, Winograd and the
 * Winograd weight gradient (36 cout cin floats, less than 36 np). */
static void conv_buffers(sl_nn *net, nn_node *nd, nn_carver *cv, nn_work *ws)
{
    int train = !net->infer_only;
    size_t nu = (size_t)36 * nd->arg[0] * nd->arg[1];
    if (nd->flip && train)
        nd->wflip = nn_carve(cv, nd->np * sizeof(float));
    if (conv_wino(net, nd, 0))
        nd->wino = nn_carve(cv, nu * sizeof(float));
    if (conv_wino(net, nd, 1) && train)
        nd->wino_flip = nn_carve(cv, nu * sizeof(float));
    size_t need = conv_workspace(net, nd);
    ws->col = need > ws->col ? need : ws->col;
    if (conv_wino(net, nd, 0) && train && 36 * nd->np > ws->du)
        ws->du = 36 * nd->np;
}

/* Output columns [*o0, *o1) whose input column o st + off lies in [0, n). */
static void valid_range(int n, int nout, int st, int off, int *o0, int *o1)
{
    int a = off >= 0 ? 0 : (-off + st - 1) / st;
    int b = n - 1 - off < 0 ? 0 : (n - 1 - off) / st + 1;
    b = b < nout ? b : nout;
    *o0 = a < b ? a : b;
    *o1 = b;
}

/* d[i] = s[2 i] for i < n, reading nothing at or past end. */
NN_SIMD static void gather2(float *d, const float *s, int n, const float *end)
{
    const v8i even = {0, 2, 4, 6, 8, 10, 12, 14};
    int i = 0;
    for (; i + 8 <= n && s + 2 * i + 16 <= end; i += 8)
        v_store(d + i, __builtin_shuffle(v_load(s + 2 * i), v_load(s + 2 * i + 8), even));
    for (; i < n; i++)
        d[i] = s[2 * i];
}

/* d[2 i] += s[i] for i < n, touching nothing at or past end.  The odd elements
 * get + 0, which leaves them as they were (but for the sign of a zero). */
NN_SIMD static void scatter2(float *d, const float *s, int n, const float *end)
{
    const v8i lo = {0, 8, 1, 8, 2, 8, 3, 8}, hi = {4, 8, 5, 8, 6, 8, 7, 8};
    const v8f zero = v_set(0.0f);
    int i = 0;
    for (; i + 8 <= n && d + 2 * i + 16 <= end; i += 8) {
        v8f v = v_load(s + i);
        v_store(d + 2 * i, v_load(d + 2 * i) + __builtin_shuffle(v, zero, lo));
        v_store(d + 2 * i + 8, v_load(d + 2 * i + 8) + __builtin_shuffle(v, zero, hi));
    }
    for (; i < n; i++)
        d[2 * i] += s[i];
}

/* col[(c k + ki) k + kj][(oy - oy0) wo + ox] = x[c][oy st - pad + ki dil][ox st - pad + kj dil]
 * for output rows [oy0, oy1), zero outside the image. */
static void im2col(const conv_geom *g, const float *x, float *col, int oy0, int oy1)
{
    size_t P = (size_t)(oy1 - oy0) * g->wo;
    for (int c = 0; c < g->cin; c++)
        for (int ki = 0; ki < g->k; ki++)
            for (int kj = 0; kj < g->k; kj++) {
                float *row = col + ((size_t)(c * g->k + ki) * g->k + kj) * P;
                int offx = kj * g->dil - g->pad, ox0, ox1;
                valid_range(g->w, g->wo, g->st, offx, &ox0, &ox1);
                for (int oy = oy0; oy < oy1; oy++) {
                    int iy = oy * g->st - g->pad + ki * g->dil;
                    float *d = row + (size_t)(oy - oy0) * g->wo;
                    if (iy < 0 || iy >= g->h) {
                        memset(d, 0, g->wo * sizeof *d);
                        continue;
                    }
                    const float *row_in = x + ((size_t)c * g->h + iy) * g->w;
                    const float *s = row_in + offx;
                    memset(d, 0, ox0 * sizeof *d);
                    if (g->st == 1)
                        memcpy(d + ox0, s + ox0, (ox1 - ox0) * sizeof *d);
                    else if (g->st == 2)
                        gather2(d + ox0, s + 2 * ox0, ox1 - ox0, row_in + g->w);
                    else
                        for (int ox = ox0; ox < ox1; ox++)
                            d[ox] = s[ox * g->st];
                    memset(d + ox1, 0, (g->wo - ox1) * sizeof *d);
                }
            }
}

/* The transpose of im2col: dx[...] += col[...]. */
static void col2im(const conv_geom *g, const float *col, float *dx, int oy0, int oy1)
{
    size_t P = (size_t)(oy1 - oy0) * g->wo;
    for (int c = 0; c < g->cin; c++)
        for (int ki = 0; ki < g->k; ki++)
            for (int kj = 0; kj < g->k; kj++) {
                const float *row = col + ((size_t)(c * g->k + ki) * g->k + kj) * P;
                int offx = kj * g->dil - g->pad, ox0, ox1;
                valid_range(g->w, g->wo, g->st, offx, &ox0, &ox1);
                for (int oy = oy0; oy < oy1; oy++) {
                    int iy = oy * g->st - g->pad + ki * g->dil;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    const float *s = row + (size_t)(oy - oy0) * g->wo;
                    float *row_out = dx + ((size_t)c * g->h + iy) * g->w, *d = row_out + offx;
                    if (g->st == 2)
                        scatter2(d + 2 * ox0, s + ox0, ox1 - ox0, row_out + g->w);
                    else
                        for (int ox = ox0; ox < ox1; ox++)
                            d[ox * g->st] += s[ox];
                }
            }
}

/* y = conv(x) + bias (bias NULL: none), or y += conv(x) when add, then the
 * activation op on each tile. */
static void conv_sample(const conv_geom *g, int algo, const float *wt, const float *bias,
                        const float *x, float *y, int add, int op, float *col)
{
    size_t hwo = (size_t)g->ho * g->wo;
    int K = g->cin * g->k * g->k;
    int R = algo == NN_CONV_1X1 ? g->ho : tile_rows(g);
    for (int oy0 = 0; oy0 < g->ho; oy0 += R) {
        int oy1 = oy0 + R < g->ho ? oy0 + R : g->ho, P = (oy1 - oy0) * g->wo;
        float *yt = y + (size_t)oy0 * g->wo;
        const float *b = x + (size_t)oy0 * g->wo; /* 1x1: the input is the matrix */
        int ldb = (int)hwo;
        if (algo != NN_CONV_1X1) {
            im2col(g, x, col, oy0, oy1);
            b = col;
            ldb = P;
        }
        if (!add)
            for (int co = 0; co < g->cout; co++)
                fill(yt + co * hwo, P, bias ? bias[co] : 0.0f);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->cout, P, K, 1.0f, wt, K, b, ldb,
                    1.0f, yt, (int)hwo);
        if (op)
            for (int co = 0; co < g->cout; co++)
                act_affine(op, yt + co * hwo, yt + co * hwo, P, 1.0f, 0.0f);
    }
}

/* The node whose activations a layer with a folded batch norm writes. */
static nn_node *fold_target(sl_nn *net, const nn_node *nd, int *op)
{
    nn_node *bn = &net->node[nd->fold];
    *op = bn->act_node ? net->node[bn->act_node].op : 0;
    return bn->act_node ? &net->node[bn->act_node] : bn;
}

/* Samples [s0, s1) form a chunk: Winograd blocks span the samples of a chunk. */
static void conv_forward_chunk(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1)
{
    const nn_node *x = &net->node[nd->in[0]];
    conv_geom g = conv_geometry(net, nd);
    const float *wt = net->params + nd->poff;
    nn_node *out = nd;
    int op = 0;
    if (!net->train && nd->fold) {
        wt = nd->wfold;
        out = fold_target(net, nd, &op);
    }
    const float *bias = wt + (size_t)g.cout * g.cin * g.k * g.k;
    if (nd->wino) {
        /* Evaluation runs Winograd blocks of one sample each (and dense layers
         * one sample at a time): OpenBLAS picks its kernels, and so the order
         * of its sums, by matrix shape and position, so matrices spanning
         * samples would make a sample's outputs depend on its batch.  This way
         * they depend on the sample alone, and an image encoded whole or in
         * patches gives the same numbers. */
        int per = net->train ? s1 - s0 : 1;
        for (int s = s0; s < s1; s += per)
            nn_wino_conv(&g, nd->wino, bias, x->act + (size_t)s * x->size, x->size,
                         out->act + (size_t)s * out->size, out->size, per, 0, op, th->col);
        return;
    }
    for (int s = s0; s < s1; s++)
        conv_sample(&g, nd->algo, wt, bias, x->act + (size_t)s * x->size,
                    out->act + (size_t)s * out->size, 0, op, th->col);
}

/* Weight gradient and, for strided convs, input gradient by im2col tiles. */
static void conv_backward_im2col(sl_nn *net, nn_node *nd, nn_thread *th, float *dw, int s,
                                 int first, int dx)
{
    nn_node *x = &net->node[nd->in[0]];
    conv_geom g = conv_geometry(net, nd);
    size_t hwo = (size_t)g.ho * g.wo;
    int K = g.cin * g.k * g.k;
    const float *wt = net->params + nd->poff;
    const float *xs = x->act + (size_t)s * x->size, *dys = nd->grad + (size_t)s * nd->size;
    float *dxs = x->grad + (size_t)s * x->size;
    if (nd->algo == NN_CONV_1X1) { /* dW += dY X^T; dX = W^T dY */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.cout, K, (int)hwo, 1.0f, dys,
                    (int)hwo, xs, (int)hwo, first ? 0.0f : 1.0f, dw, K);
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)hwo, g.cout, 1.0f, wt, K,
                        dys, (int)hwo, nd->write[0] ? 0.0f : 1.0f, dxs, (int)hwo);
        return;
    }
    int scatter = dx && !nd->flip;
    if (scatter && nd->write[0])
        memset(dxs, 0, x->size * sizeof *dxs);
    int R = tile_rows(&g);
    for (int oy0 = 0; oy0 < g.ho; oy0 += R) {
        int oy1 = oy0 + R < g.ho ? oy0 + R : g.ho, P = (oy1 - oy0) * g.wo;
        const float *dyt = dys + (size_t)oy0 * g.wo;
        /* dW += dY_tile col_tile^T, tiles in order */
        im2col(&g, xs, th->col, oy0, oy1);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.cout, K, P, 1.0f, dyt, (int)hwo,
                    th->col, P, first && oy0 == 0 ? 0.0f : 1.0f, dw, K);
        if (scatter) { /* strided: dcol = W^T dY_tile, scattered back */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, g.cout, 1.0f, wt, K, dyt,
                        (int)hwo, 0.0f, th->col, P);
            col2im(&g, th->col, dxs, oy0, oy1);
        }
    }
}

static void conv_backward_chunk(sl_nn *net, nn_node *nd, nn_thread *th, int gi, int s0, int s1,
                                int dx)
{
    nn_node *x = &net->node[nd->in[0]];
    conv_geom g = conv_geometry(net, nd);
    size_t hwo = (size_t)g.ho * g.wo;
    int K = g.cin * g.k * g.k;
    float *dw = net->slots + (size_t)gi * net->nslot + nd->slot, *db = dw + (size_t)g.cout * K;
    for (int s = s0; s < s1; s++)
        for (int co = 0; co < g.cout; co++) {
            float r = (float)sum_f(nd->grad + (size_t)s * nd->size + co * hwo, hwo);
            db[co] = s == s0 ? r : db[co] + r;
        }
    if (nd->wino) {
        nn_wino_grad(&g, x->act + (size_t)s0 * x->size, x->size, nd->grad + (size_t)s0 * nd->size,
                     nd->size, s1 - s0, th->du, th->col);
        nn_wino_grad_weights(th->du, g.cout, g.cin, dw);
    } else {
        for (int s = s0; s < s1; s++)
            conv_backward_im2col(net, nd, th, dw, s, s == s0, dx);
    }
    if (!dx || !nd->flip)
        return;
    /* stride 1: the input gradient is the flipped conv of the output gradient */
    conv_geom f = conv_flipped(&g);
    if (nd->wino_flip) {
        nn_wino_conv(&f, nd->wino_flip, NULL, nd->grad + (size_t)s0 * nd->size, nd->size,
                     x->grad + (size_t)s0 * x->size, x->size, s1 - s0, !nd->write[0], 0, th->col);
        return;
    }
    for (int s = s0; s < s1; s++)
        conv_sample(&f, NN_CONV_IM2COL, nd->wflip, NULL, nd->grad + (size_t)s * nd->size,
                    x->grad + (size_t)s * x->size, !nd->write[0], 0, th->col);
}

static void conv_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    for (int g = sp->g0; g < sp->g1; g++)
        conv_forward_chunk(th->net, nd, th, nn_chunk_start(th->net, g),
                           nn_chunk_start(th->net, g + 1));
}

static void conv_backward(nn_thread *th, nn_node *nd, const nn_span *sp, int dx)
{
    for (int g = sp->g0; g < sp->g1; g++)
        conv_backward_chunk(th->net, nd, th, g, nn_chunk_start(th->net, g),
                            nn_chunk_start(th->net, g + 1), dx & 1);
}

/* ---- Derived weights ------------------------------------------------------------ */

int nn_needs_prep(const sl_nn *net, const nn_node *nd, int backward)
{
    return backward ? nd->flip : (!net->train && nd->fold) || nd->wino;
}

/* Evaluation weights of a conv or dense layer followed by batch norm b, rows
 * [o0, o1): b(W x + c) = (s W) x + (c - mean) s + beta, s = gamma / sqrt(var + eps). */
static void fold_rows(sl_nn *net, nn_node *nd, int o0, int o1)
{
    const nn_node *bn = &net->node[nd->fold];
    const float *gamma = net->params + bn->poff, *beta = gamma + bn->c;
    const float *rmean = net->state + bn->soff, *rvar = rmean + bn->c;
    int nout = nd->arg[1];
    size_t fan = (nd->np - nout) / nout;
    const float *w = net->params + nd->poff, *bias = w + (size_t)nout * fan;
    for (int o = o0; o < o1; o++) {
        double s = gamma[o] / sqrt((double)rvar[o] + NN_BN_EPS);
        for (size_t j = 0; j < fan; j++)
            nd->wfold[o * fan + j] = (float)(w[o * fan + j] * s);
        nd->wfold[nout * fan + o] = (float)((bias[o] - (double)rmean[o]) * s + beta[o]);
    }
}

void nn_prep_forward(sl_nn *net, nn_node *nd, int t, int T)
{
    int nout = nd->arg[1], o0 = t * nout / T, o1 = (t + 1) * nout / T;
    const float *w = net->params + nd->poff;
    if (!net->train && nd->fold) {
        fold_rows(net, nd, o0, o1);
        w = nd->wfold;
    }
    if (nd->wino)
        nn_wino_weights(w, nout, nd->arg[0], o0, o1, nd->wino);
}

/* The flipped conv's weights [cin][cout][k k], kernel reversed, for input
 * channels [i0, i1). */
void nn_prep_backward(sl_nn *net, nn_node *nd, int t, int T)
{
    int cin = nd->arg[0], cout = nd->arg[1], kk = nd->arg[2] * nd->arg[2];
    int i0 = t * cin / T, i1 = (t + 1) * cin / T;
    const float *w = net->params + nd->poff;
    for (int ci = i0; ci < i1; ci++)
        for (int co = 0; co < cout; co++)
            for (int j = 0; j < kk; j++)
                nd->wflip[((size_t)ci * cout + co) * kk + j] =
                    w[((size_t)co * cin + ci) * kk + kk - 1 - j];
    if (nd->wino_flip)
        nn_wino_weights(nd->wflip, cin, cout, i0, i1, nd->wino_flip);
}

/* ---- Batch normalization -------------------------------------------------------
 * Training: each chunk finds per-channel (mean, M2) of its samples, combined
 * sample by sample with Chan's formula; after a barrier every thread combines
 * the chunks in order.  A fused activation is applied in the same pass, and its
 * gradient recomputed from the norm's input in backward. */

static size_t plane(const nn_node *nd) { return (size_t)nd->h * nd->w; }

/* Batch and group norm: the channel count repeated in the description. */
static int norm_shape(sl_nn *net, nn_node *nd, const nn_node *x)
{
    if (nd->arg[0] != x->c)
        return nn_fail(net, "node %d (%s): input has %d channels, description says %d", net->n,
                       sl_nn_op_name(nd->op), x->c, nd->arg[0]);
    nd->np = 2 * (size_t)x->c;
    return 0;
}

static int bn_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)y;
    nd->ns = 2 * (size_t)x->c; /* running mean and variance */
    return norm_shape(net, nd, x);
}

/* Statistics and the affine map of the last training batch; per-chunk sums. */
static void bn_buffers(sl_nn *net, nn_node *nd, nn_carver *cv, nn_work *ws)
{
    (void)ws;
    nd->mean = nn_carve(cv, nd->c * sizeof(float));
    nd->istd = nn_carve(cv, nd->c * sizeof(float));
    nd->scale = nn_carve(cv, nd->c * sizeof(float));
    nd->shift = nn_carve(cv, nd->c * sizeof(float));
    nd->part = nn_carve(cv, (size_t)nn_max_chunks(net) * nd->c * 2 * sizeof(double));
}

/* Merges (nb, mb, m2b) into the running (na, ma, m2a). */
static void chan_merge(double *na, double *ma, double *m2a, double nb, double mb, double m2b)
{
    double n = *na + nb, d = mb - *ma;
    *ma += d * nb / n;
    *m2a += m2b + d * d * *na * nb / n;
    *na = n;
}

static void bn_forward_stats(sl_nn *net, nn_node *nd, int g, int s0, int s1)
{
    const nn_node *x = &net->node[nd->in[0]];
    size_t hw = plane(nd);
    double *part = nd->part + (size_t)g * nd->c * 2;
    for (int c = 0; c < nd->c; c++) {
        double n = 0, m = 0, m2 = 0;
        for (int s = s0; s < s1; s++) {
            const float *r = x->act + (size_t)s * x->size + c * hw;
            double mr = sum_f(r, hw) / (double)hw;
            chan_merge(&n, &m, &m2, (double)hw, mr, sumsq_dev(r, hw, (float)mr));
        }
        part[2 * c] = m;
        part[2 * c + 1] = m2;
    }
}

/* Combines the chunks: mean, biased variance and the count of values. */
static void bn_batch_stats(const sl_nn *net, const nn_node *nd, int c, double *mean, double *var,
                           double *count)
{
    double n = 0, m = 0, m2 = 0;
    for (int g = 0; g < net->nchunks; g++) {
        double count = (double)(nn_chunk_start(net, g + 1) - nn_chunk_start(net, g)) * plane(nd);
        const double *p = nd->part + ((size_t)g * nd->c + c) * 2;
        chan_merge(&n, &m, &m2, count, p[0], p[1]);
    }
    *mean = m;
    *var = m2 / n;
    *count = n;
}

/* y = act(x scale + shift) per channel, into the fused activation when there is one. */
static void bn_apply(sl_nn *net, const nn_node *nd, const nn_thread *th, int s0, int s1)
{
    const nn_node *x = &net->node[nd->in[0]];
    const nn_node *out = nd->act_node ? &net->node[nd->act_node] : nd;
    int op = nd->act_node ? out->op : 0;
    size_t hw = plane(nd);
    for (int s = s0; s < s1; s++)
        for (int c = 0; c < nd->c; c++) {
            size_t o = (size_t)s * nd->size + c * hw;
            act_affine(op, out->act + o, x->act + o, hw, th->scale[c], th->shift[c]);
        }
}

static void bn_forward_apply(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1)
{
    const float *gamma = net->params + nd->poff, *beta = gamma + nd->c;
    float *rmean = net->state + nd->soff, *rvar = rmean + nd->c;
    for (int c = 0; c < nd->c; c++) {
        double mean, var, n;
        bn_batch_stats(net, nd, c, &mean, &var, &n);
        double istd = 1.0 / sqrt(var + NN_BN_EPS);
        th->scale[c] = (float)(gamma[c] * istd);
        th->shift[c] = (float)(beta[c] - mean * gamma[c] * istd);
        if (th->id == 0) { /* every thread computed the same; one keeps it */
            nd->mean[c] = (float)mean;
            nd->istd[c] = (float)istd;
            nd->scale[c] = th->scale[c];
            nd->shift[c] = th->shift[c];
            double unbiased = n > 1 ? var * n / (n - 1) : var;
            rmean[c] = (float)((1 - NN_BN_MOMENTUM) * rmean[c] + NN_BN_MOMENTUM * mean);
            rvar[c] = (float)((1 - NN_BN_MOMENTUM) * rvar[c] + NN_BN_MOMENTUM * unbiased);
        }
    }
    bn_apply(net, nd, th, s0, s1);
}

static void bn_forward_eval(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1)
{
    const float *gamma = net->params + nd->poff, *beta = gamma + nd->c;
    const float *rmean = net->state + nd->soff, *rvar = rmean + nd->c;
    for (int c = 0; c < nd->c; c++) {
        double sc = gamma[c] / sqrt((double)rvar[c] + NN_BN_EPS);
        th->scale[c] = (float)sc;
        th->shift[c] = (float)(beta[c] - rmean[c] * sc);
    }
    bn_apply(net, nd, th, s0, s1);
}

/* The upstream gradient and activation op of a batch norm's backward.  With a
 * fused activation, the stats pass turns the activation's gradient into the
 * norm's output gradient in place (nothing else reads it), so the apply pass
 * does not evaluate the activation's derivative again. */
static float *bn_upstream(sl_nn *net, const nn_node *nd, int *op)
{
    nn_node *a = nd->act_node ? &net->node[nd->act_node] : (nn_node *)nd;
    *op = nd->act_node ? a->op : 0;
    return a->grad;
}

static void bn_backward_stats(sl_nn *net, nn_node *nd, int g, int s0, int s1)
{
    const nn_node *x = &net->node[nd->in[0]];
    int op;
    float *da = bn_upstream(net, nd, &op);
    size_t hw = plane(nd);
    double *part = nd->part + (size_t)g * nd->c * 2;
    for (int c = 0; c < nd->c; c++) {
        float k[7] = {nd->scale[c], nd->shift[c], nd->mean[c], nd->istd[c]};
        double a = 0, b = 0;
        for (int s = s0; s < s1; s++) {
            size_t o = (size_t)s * nd->size + c * hw;
            double ra, rb;
            bn_grad_sums(op, da + o, x->act + o, hw, k, &ra, &rb);
            a += ra;
            b += rb;
        }
        part[2 * c] = a;
        part[2 * c + 1] = b;
    }
}

/* dx = gamma istd (dy - mean(dy) - xhat mean(dy xhat)), written as p dy + q x + r
 * per channel. */
static void bn_backward_apply(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1, int dx)
{
    nn_node *x = &net->node[nd->in[0]];
    const float *gamma = net->params + nd->poff;
    float *ggamma = net->grads + nd->poff, *gbeta = ggamma + nd->c;
    int op;
    const float *dy = bn_upstream(net, nd, &op); /* already dy: see bn_upstream */
    size_t hw = plane(nd);
    double n = (double)net->batch * hw;
    for (int c = 0; c < nd->c; c++) {
        double sdy = 0, sdyx = 0;
        for (int g = 0; g < net->nchunks; g++) {
            sdy += nd->part[((size_t)g * nd->c + c) * 2];
            sdyx += nd->part[((size_t)g * nd->c + c) * 2 + 1];
        }
        if (th->id == 0) {
            ggamma[c] += (float)sdyx;
            gbeta[c] += (float)sdy;
        }
        double p = gamma[c] * (double)nd->istd[c], q = -p * nd->istd[c] * sdyx / n;
        th->scale[c] = (float)q;
        th->shift[c] = (float)(-p * sdy / n - q * nd->mean[c]);
    }
    if (!dx)
        return;
    for (int s = s0; s < s1; s++)
        for (int c = 0; c < nd->c; c++) {
            size_t o = (size_t)s * nd->size + c * hw;
            float k[7] = {nd->scale[c], nd->shift[c], nd->mean[c], nd->istd[c],
                          gamma[c] * nd->istd[c], th->scale[c], th->shift[c]};
            bn_grad_apply(dy + o, x->act + o, hw, k, x->grad + o, !nd->write[0]);
        }
}

static void bn_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    sl_nn *net = th->net;
    if (!net->train) {
        bn_forward_eval(net, nd, th, sp->s0, sp->s1);
        return;
    }
    for (int g = sp->g0; g < sp->g1; g++)
        bn_forward_stats(net, nd, g, nn_chunk_start(net, g), nn_chunk_start(net, g + 1));
    th->dirty = 1;
    nn_sync(th); /* every chunk's statistics before any sample is normalized */
    bn_forward_apply(net, nd, th, sp->s0, sp->s1);
}

static void bn_backward(nn_thread *th, nn_node *nd, const nn_span *sp, int dx)
{
    sl_nn *net = th->net;
    for (int g = sp->g0; g < sp->g1; g++)
        bn_backward_stats(net, nd, g, nn_chunk_start(net, g), nn_chunk_start(net, g + 1));
    th->dirty = 1;
    nn_sync(th);
    bn_backward_apply(net, nd, th, sp->s0, sp->s1, dx & 1);
}

/* ---- Group normalization -------------------------------------------------------
 * Statistics per sample and group, so no barrier; a group's channels are
 * contiguous in NCHW. */

static int gn_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)y;
    if (norm_shape(net, nd, x) < 0)
        return -1;
    if (nd->arg[1] < 1 || x->c % nd->arg[1] != 0)
        return nn_fail(net, "node %d (groupnorm): %d groups do not divide %d channels", net->n,
                       nd->arg[1], x->c);
    return 0;
}

/* Statistics [max_batch][groups] of the last training batch. */
static void gn_buffers(sl_nn *net, nn_node *nd, nn_carver *cv, nn_work *ws)
{
    (void)ws;
    nd->mean = nn_carve(cv, (size_t)net->max_batch * nd->arg[1] * sizeof(float));
    nd->istd = nn_carve(cv, (size_t)net->max_batch * nd->arg[1] * sizeof(float));
}

static void gn_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    sl_nn *net = th->net;
    int s0 = sp->s0, s1 = sp->s1;
    const nn_node *x = &net->node[nd->in[0]];
    const float *gamma = net->params + nd->poff, *beta = gamma + nd->c;
    int G = nd->arg[1], cg = nd->c / G;
    size_t hw = plane(nd), n = cg * hw;
    for (int s = s0; s < s1; s++)
        for (int gr = 0; gr < G; gr++) {
            size_t o = (size_t)s * nd->size + gr * n;
            double mean = sum_f(x->act + o, n) / (double)n;
            double var = sumsq_dev(x->act + o, n, (float)mean) / (double)n;
            double istd = 1.0 / sqrt(var + NN_GN_EPS);
            nd->mean[s * G + gr] = (float)mean;
            nd->istd[s * G + gr] = (float)istd;
            for (int c = gr * cg; c < (gr + 1) * cg; c++) {
                double sc = gamma[c] * istd;
                size_t oc = (size_t)s * nd->size + c * hw;
                act_affine(0, nd->act + oc, x->act + oc, hw, (float)sc,
                           (float)(beta[c] - mean * sc));
            }
        }
}

static void gn_backward_chunk(sl_nn *net, nn_node *nd, int gi, int s0, int s1, int dx)
{
    nn_node *x = &net->node[nd->in[0]];
    const float *gamma = net->params + nd->poff;
    float *dgamma = net->slots + (size_t)gi * net->nslot + nd->slot, *dbeta = dgamma + nd->c;
    int G = nd->arg[1], cg = nd->c / G;
    size_t hw = plane(nd);
    double n = (double)cg * hw;
    for (int s = s0; s < s1; s++)
        for (int gr = 0; gr < G; gr++) {
            float mean = nd->mean[s * G + gr], istd = nd->istd[s * G + gr];
            float k[7] = {1.0f, 0.0f, mean, istd};
            double A = 0, B = 0; /* sums of gamma dy and gamma dy xhat over the group */
            for (int c = gr * cg; c < (gr + 1) * cg; c++) {
                size_t o = (size_t)s * nd->size + c * hw;
                double sdy, sdyx;
                bn_grad_sums(0, nd->grad + o, x->act + o, hw, k, &sdy, &sdyx);
                dgamma[c] = s == s0 ? (float)sdyx : dgamma[c] + (float)sdyx;
                dbeta[c] = s == s0 ? (float)sdy : dbeta[c] + (float)sdy;
                A += gamma[c] * sdy;
                B += gamma[c] * sdyx;
            }
            if (!dx)
                continue;
            /* dx = istd (gamma dy - A/n - xhat B/n) = p dy + q x + r */
            double q = -(double)istd * istd * B / n;
            k[5] = (float)q;
            k[6] = (float)(-istd * A / n - q * mean);
            for (int c = gr * cg; c < (gr + 1) * cg; c++) {
                size_t o = (size_t)s * nd->size + c * hw;
                k[4] = gamma[c] * istd;
                bn_grad_apply(nd->grad + o, x->act + o, hw, k, x->grad + o, !nd->write[0]);
            }
        }
}

static void gn_backward(nn_thread *th, nn_node *nd, const nn_span *sp, int dx)
{
    for (int g = sp->g0; g < sp->g1; g++)
        gn_backward_chunk(th->net, nd, g, nn_chunk_start(th->net, g),
                          nn_chunk_start(th->net, g + 1), dx & 1);
}

/* ---- Activations ----------------------------------------------------------------- */

static void act_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    const nn_node *x = &th->net->node[nd->in[0]];
    size_t o = (size_t)sp->s0 * nd->size, n = (size_t)(sp->s1 - sp->s0) * nd->size;
    act_affine(nd->op, nd->act + o, x->act + o, n, 1.0f, 0.0f);
}

static void act_backward(nn_thread *th, nn_node *nd, const nn_span *sp, int dx)
{
    if (!dx)
        return;
    nn_node *x = &th->net->node[nd->in[0]];
    size_t o = (size_t)sp->s0 * nd->size, n = (size_t)(sp->s1 - sp->s0) * nd->size;
    act_backward_row(nd->op, x->grad + o, x->act + o, nd->grad + o, n, !nd->write[0]);
}

/* ---- Pooling -------------------------------------------------------------------
 * Max pooling routes the gradient to the first maximum of each window in scan
 * order, found again in backward rather than stored. */

/* The 2x2 windows of output row y from input rows r0, r1: lanes a, b (row 0,
 * even and odd columns), c, d (row 1). */
NN_INLINE void quad(const float *r0, const float *r1, v8f *q)
{
    const v8i even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = {1, 3, 5, 7, 9, 11, 13, 15};
    v8f p0 = v_load(r0), p1 = v_load(r0 + 8), p2 = v_load(r1), p3 = v_load(r1 + 8);
    q[0] = __builtin_shuffle(p0, p1, even);
    q[1] = __builtin_shuffle(p0, p1, odd);
    q[2] = __builtin_shuffle(p2, p3, even);
    q[3] = __builtin_shuffle(p2, p3, odd);
}

/* Max pooling 2x2, stride 2, of one plane of w columns into ho x wo. */
NN_SIMD static void maxpool2_forward(const float *x, int w, float *y, int ho, int wo)
{
    for (int oy = 0; oy < ho; oy++) {
        const float *r0 = x + (size_t)2 * oy * w, *r1 = r0 + w;
        float *yr = y + (size_t)oy * wo;
        int ox = 0;
        for (; ox + 8 <= wo; ox += 8) {
            v8f q[4];
            quad(r0 + 2 * ox, r1 + 2 * ox, q);
            v8i m = q[1] > q[0];
            v8f ab = v_select(&m, &q[1], &q[0]);
            m = q[3] > q[2];
            v8f cd = v_select(&m, &q[3], &q[2]);
            m = cd > ab;
            v_store(yr + ox, v_select(&m, &cd, &ab));
        }
        for (; ox < wo; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            float ab = b > a ? b : a, cd = d > c ? d : c;
            yr[ox] = cd > ab ? cd : ab;
        }
    }
}

/* Its gradient: dx (= or +=) dy at each window's first maximum, 0 elsewhere. */
NN_SIMD static void maxpool2_backward(const float *x, int w, const float *dy, float *dx, int ho,
                                      int wo, int add)
{
    const v8i lo = {0, 8, 1, 9, 2, 10, 3, 11}, hi = {4, 12, 5, 13, 6, 14, 7, 15};
    for (int oy = 0; oy < ho; oy++) {
        size_t o0 = (size_t)2 * oy * w, o1 = o0 + w;
        const float *dyr = dy + (size_t)oy * wo;
        int ox = 0;
        for (; ox + 8 <= wo; ox += 8) {
            v8f q[4], g = v_load(dyr + ox), z = v_set(0.0f);
            quad(x + o0 + 2 * ox, x + o1 + 2 * ox, q);
            v8i mb = q[1] > q[0];
            v8f best = v_select(&mb, &q[1], &q[0]);
            v8i mc = q[2] > best;
            best = v_select(&mc, &q[2], &best);
            v8i md = q[3] > best;
            v8i sc = mc & ~md, sb = mb & ~mc & ~md, sa = ~(mb | mc | md);
            v8f ga = v_select(&sa, &g, &z), gb = v_select(&sb, &g, &z);
            v8f gc = v_select(&sc, &g, &z), gd = v_select(&md, &g, &z);
            v8f out[4] = {__builtin_shuffle(ga, gb, lo), __builtin_shuffle(ga, gb, hi),
                          __builtin_shuffle(gc, gd, lo), __builtin_shuffle(gc, gd, hi)};
            float *d0 = dx + o0 + 2 * ox, *d1 = dx + o1 + 2 * ox;
            v_store(d0, add ? v_load(d0) + out[0] : out[0]);
            v_store(d0 + 8, add ? v_load(d0 + 8) + out[1] : out[1]);
            v_store(d1, add ? v_load(d1) + out[2] : out[2]);
            v_store(d1 + 8, add ? v_load(d1 + 8) + out[3] : out[3]);
        }
        for (; ox < wo; ox++) {
            size_t i[4] = {o0 + 2 * ox, o0 + 2 * ox + 1, o1 + 2 * ox, o1 + 2 * ox + 1};
            int arg = 0;
            for (int j = 1; j < 4; j++)
                arg = x[i[j]] > x[i[arg]] ? j : arg;
            for (int j = 0; j < 4; j++)
                dx[i[j]] = (add ? dx[i[j]] : 0.0f) + (j == arg ? dyr[ox] : 0.0f);
        }
    }
}

/* Max and average pooling: window arg[0], stride arg[1]. */
static int pool_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)y;
    int id = net->n, k = nd->arg[0], st = nd->arg[1];
    const char *name = sl_nn_op_name(nd->op);
    if (k < 1 || st < 1 || k > 64 || st > 64)
        return nn_fail(net, "node %d (%s): window %d and stride %d must be in 1..64", id, name, k,
                       st);
    if (x->h < k || x->w < k)
        return nn_fail(net, "node %d (%s): window %d is larger than the %d x %d input", id, name,
                       k, x->h, x->w);
    nd->h = (x->h - k) / st + 1;
    nd->w = (x->w - k) / st + 1;
    return 0;
}

static int global_avgpool_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)net, (void)x, (void)y;
    nd->h = nd->w = 1;
    return 0;
}

static void pool_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    sl_nn *net = th->net;
    int s0 = sp->s0, s1 = sp->s1;
    const nn_node *x = &net->node[nd->in[0]];
    size_t hwi = (size_t)x->h * x->w;
    int k = nd->arg[0], st = nd->arg[1];
    for (int s = s0; s < s1; s++)
        for (int c = 0; c < nd->c; c++) {
            const float *xp = x->act + (size_t)s * x->size + c * hwi;
            float *y = nd->act + (size_t)s * nd->size + c * plane(nd);
            if (nd->op == SL_NN_MAXPOOL && k == 2 && st == 2) {
                maxpool2_forward(xp, x->w, y, nd->h, nd->w);
                continue;
            }
            if (nd->op == SL_NN_GLOBAL_AVGPOOL) {
                y[0] = (float)(sum_f(xp, hwi) / (double)hwi);
                continue;
            }
            for (int oy = 0; oy < nd->h; oy++)
                for (int ox = 0; ox < nd->w; ox++) {
                    const float *win = xp + (size_t)oy * st * x->w + ox * st;
                    float m = win[0], sum = 0;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            float v = win[i * x->w + j];
                            m = v > m ? v : m;
                            sum += v;
                        }
                    y[oy * nd->w + ox] = nd->op == SL_NN_MAXPOOL ? m : sum / (float)(k * k);
                }
        }
}

static void pool_backward(nn_thread *th, nn_node *nd, const nn_span *sp, int dx_wanted)
{
    if (!dx_wanted)
        return;
    sl_nn *net = th->net;
    int s0 = sp->s0, s1 = sp->s1;
    nn_node *x = &net->node[nd->in[0]];
    size_t hwi = (size_t)x->h * x->w;
    int k = nd->arg[0], st = nd->arg[1];
    for (int s = s0; s < s1; s++)
        for (int c = 0; c < nd->c; c++) {
            const float *xp = x->act + (size_t)s * x->size + c * hwi;
            const float *dy = nd->grad + (size_t)s * nd->size + c * plane(nd);
            float *dx = x->grad + (size_t)s * x->size + c * hwi;
            if (nd->op == SL_NN_GLOBAL_AVGPOOL) {
                float v = dy[0] / (float)hwi;
                for (size_t i = 0; i < hwi; i++)
                    dx[i] = nd->write[0] ? v : dx[i] + v;
                continue;
            }
            /* pixels outside every window get no gradient */
            int covered = (nd->h - 1) * st + k == x->h && (nd->w - 1) * st + k == x->w;
            if (nd->op == SL_NN_MAXPOOL && k == 2 && st == 2) {
                if (nd->write[0] && !covered)
                    memset(dx, 0, hwi * sizeof *dx);
                maxpool2_backward(xp, x->w, dy, dx, nd->h, nd->w, !nd->write[0] || !covered);
                continue;
            }
            if (nd->write[0])
                memset(dx, 0, hwi * sizeof *dx);
            for (int oy = 0; oy < nd->h; oy++)
                for (int ox = 0; ox < nd->w; ox++) {
                    size_t base = (size_t)oy * st * x->w + ox * st;
                    float d = dy[oy * nd->w + ox];
                    if (nd->op == SL_NN_AVGPOOL) {
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++)
                                dx[base + i * x->w + j] += d / (float)(k * k);
                        continue;
                    }
                    /* the first maximum in scan order, as the forward found it */
                    size_t arg = base;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++)
                            if (xp[base + i * x->w + j] > xp[arg])
                                arg = base + i * x->w + j;
                    dx[arg] += d;
                }
        }
}

/* ---- Add, concatenate, flatten -------------------------------------------------- */

static int flatten_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)net, (void)y;
    nd->c = x->c * x->h * x->w;
    nd->h = nd->w = 1;
    return 0;
}

static int add_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)nd;
    if (x->c != y->c || x->h != y->h || x->w != y->w)
        return nn_fail(net, "node %d (add): shapes %d x %d x %d and %d x %d x %d differ", net->n,
                       x->c, x->h, x->w, y->c, y->h, y->w);
    return 0;
}

static int concat_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    if (x->h != y->h || x->w != y->w)
        return nn_fail(net, "node %d (concat): images %d x %d and %d x %d differ", net->n, x->h,
                       x->w, y->h, y->w);
    nd->c = x->c + y->c;
    return 0;
}

static void join_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    sl_nn *net = th->net;
    const nn_node *a = &net->node[nd->in[0]];
    for (int s = sp->s0; s < sp->s1; s++) {
        float *y = nd->act + (size_t)s * nd->size;
        const float *av = a->act + (size_t)s * a->size;
        if (nd->op == SL_NN_FLATTEN) {
            memcpy(y, av, nd->size * sizeof *y);
            continue;
        }
        const nn_node *b = &net->node[nd->in[1]];
        const float *bv = b->act + (size_t)s * b->size;
        if (nd->op == SL_NN_ADD) {
            memcpy(y, av, nd->size * sizeof *y);
            copy_or_add(y, bv, nd->size, 1);
        } else {
            memcpy(y, av, a->size * sizeof *y);
            memcpy(y + a->size, bv, b->size * sizeof *y);
        }
    }
}

static void join_backward(nn_thread *th, nn_node *nd, const nn_span *sp, int dx)
{
    sl_nn *net = th->net;
    int s0 = sp->s0, s1 = sp->s1;
    for (int k = 0; k < 2; k++) {
        if (nd->in[k] < 0 || !(dx & (1 << k)))
            continue;
        nn_node *x = &net->node[nd->in[k]];
        /* concat: input b's gradient is the tail of each sample's */
        size_t off = nd->op == SL_NN_CONCAT && k == 1 ? net->node[nd->in[0]].size : 0;
        for (int s = s0; s < s1; s++)
            copy_or_add(x->grad + (size_t)s * x->size, nd->grad + (size_t)s * nd->size + off,
                        x->size, !nd->write[k]);
    }
}

/* ---- Dense ----------------------------------------------------------------------
 * Y [batch][nout] = X [batch][nin] W^T + b over the whole batch, in fixed blocks
 * of output features (forward), of weight rows and of input features (backward):
 * each block is the same GEMM whichever thread runs it. */

static int n_blocks(int n) { return n < 16 ? n : 16; }

static int dense_shape(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y)
{
    (void)y;
    int nin = nd->arg[0], nout = nd->arg[1];
    if ((size_t)nin != x->size)
        return nn_fail(net, "node %d (dense): input has %zu values, description says %d", net->n,
                       x->size, nin);
    if (nout < 1)
        return nn_fail(net, "node %d (dense): %d outputs", net->n, nout);
    nd->c = nout;
    nd->h = nd->w = 1;
    nd->np = (size_t)nout * nin + nout;
    return 0;
}

/* Blocks [u0, u1) of the n_blocks(nout) output features. */
static void dense_forward_blocks(sl_nn *net, nn_node *nd, int u0, int u1)
{
    const nn_node *x = &net->node[nd->in[0]];
    int nin = nd->arg[0], nout = nd->arg[1], B = net->batch, U = n_blocks(nout);
    const float *wt = net->params + nd->poff;
    nn_node *out = nd;
    int op = 0;
    if (!net->train && nd->fold) {
        wt = nd->wfold;
        out = fold_target(net, nd, &op);
    }
    const float *bias = wt + (size_t)nout * nin;
    for (int u = u0; u < u1; u++) {
        int o0 = (int)((long)u * nout / U), o1 = (int)((long)(u + 1) * nout / U);
        for (int s = 0; s < B; s++)
            memcpy(out->act + (size_t)s * nout + o0, bias + o0, (o1 - o0) * sizeof(float));
        if (net->train)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, o1 - o0, nin, 1.0f, x->act,
                        nin, wt + (size_t)o0 * nin, nin, 1.0f, out->act + o0, nout);
        else /* one sample at a time: see conv_forward_chunk */
            for (int s = 0; s < B; s++)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, o1 - o0, nin, 1.0f,
                            wt + (size_t)o0 * nin, nin, x->act + (size_t)s * nin, 1, 1.0f,
                            out->act + (size_t)s * nout + o0, 1);
        if (op)
            for (int s = 0; s < B; s++) {
                float *y = out->act + (size_t)s * nout + o0;
                act_affine(op, y, y, o1 - o0, 1.0f, 0.0f);
            }
    }
}

/* Units [u0, u1) of n_blocks(nout) weight blocks then n_blocks(nin) input
 * gradient blocks. */
static void dense_backward_blocks(sl_nn *net, nn_node *nd, int u0, int u1, int dx)
{
    nn_node *x = &net->node[nd->in[0]];
    int nin = nd->arg[0], nout = nd->arg[1], B = net->batch;
    int UW = n_blocks(nout), UX = n_blocks(nin);
    const float *wt = net->params + nd->poff;
    float *gw = net->grads + nd->poff, *gb = gw + (size_t)nout * nin;
    for (int u = u0; u < u1; u++) {
        if (u < UW) { /* dW rows [o0, o1) += dY^T X, db += column sums of dY */
            int o0 = (int)((long)u * nout / UW), o1 = (int)((long)(u + 1) * nout / UW);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, nin, B, 1.0f,
                        nd->grad + o0, nout, x->act, nin, 1.0f, gw + (size_t)o0 * nin, nin);
            for (int o = o0; o < o1; o++) {
                double sum = 0;
                for (int s = 0; s < B; s++)
                    sum += nd->grad[(size_t)s * nout + o];
                gb[o] += (float)sum;
            }
        } else if (dx) { /* dX columns [i0, i1) = dY W */
            int v = u - UW;
            int i0 = (int)((long)v * nin / UX), i1 = (int)((long)(v + 1) * nin / UX);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, i1 - i0, nout, 1.0f,
                        nd->grad, nout, wt + i0, nin, nd->write[0] ? 0.0f : 1.0f, x->grad + i0,
                        nin);
        }
    }
}

/* Thread t of T takes its share of the blocks; nn.c waits around a batch-wide op. */
static void dense_forward(nn_thread *th, nn_node *nd, const nn_span *sp)
{
    (void)sp;
    int U = n_blocks(nd->arg[1]), T = th->net->nthreads, t = th->id;
    dense_forward_blocks(th->net, nd, t * U / T, (t + 1) * U / T);
}

static void dense_backward(nn_thread *th, nn_node *nd, const nn_span *sp, int dx)
{
    (void)sp;
    int U = n_blocks(nd->arg[1]) + n_blocks(nd->arg[0]), T = th->net->nthreads, t = th->id;
    dense_backward_blocks(th->net, nd, t * U / T, (t + 1) * U / T, dx & 1);
}

/* ---- The operators -----------------------------------------------------------------
 * One row per op of enum sl_nn_op, which is also the order of this table: name,
 * inputs, integer arguments, flags (nn_impl.h), shape, buffers, forward,
 * backward.  The input node has no backward: nothing is upstream of it. */

const nn_op_def nn_op_table[SL_NN_N_OPS] = {
    [SL_NN_INPUT] = {"input", 0, 3, 0, input_shape, NULL, input_forward, NULL},
    [SL_NN_CONV] = {"conv", 1, 6, NN_LINEAR | NN_CHUNK_GRADS, conv_shape, conv_buffers,
                    conv_forward, conv_backward},
    [SL_NN_BATCHNORM] = {"batchnorm", 1, 1, NN_NORM, bn_shape, bn_buffers, bn_forward,
                         bn_backward},
    [SL_NN_GROUPNORM] = {"groupnorm", 1, 2, NN_NORM | NN_CHUNK_GRADS, gn_shape, gn_buffers,
                         gn_forward, gn_backward},
    [SL_NN_RELU] = {"relu", 1, 0, NN_ACTIVATION, NULL, NULL, act_forward, act_backward},
    [SL_NN_SILU] = {"silu", 1, 0, NN_ACTIVATION, NULL, NULL, act_forward, act_backward},
    [SL_NN_MAXPOOL] = {"maxpool", 1, 2, 0, pool_shape, NULL, pool_forward, pool_backward},
    [SL_NN_AVGPOOL] = {"avgpool", 1, 2, 0, pool_shape, NULL, pool_forward, pool_backward},
    [SL_NN_GLOBAL_AVGPOOL] = {"global_avgpool", 1, 0, 0, global_avgpool_shape, NULL,
                              pool_forward, pool_backward},
    [SL_NN_FLATTEN] = {"flatten", 1, 0, 0, flatten_shape, NULL, join_forward, join_backward},
    [SL_NN_DENSE] = {"dense", 1, 2, NN_LINEAR | NN_BATCH_WIDE, dense_shape, NULL, dense_forward,
                     dense_backward},
    [SL_NN_ADD] = {"add", 2, 0, 0, add_shape, NULL, join_forward, join_backward},
    [SL_NN_CONCAT] = {"concat", 2, 0, 0, concat_shape, NULL, join_forward, join_backward},
};
