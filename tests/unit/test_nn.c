/* The network engine: every layer's gradients against central finite
 * differences, convolution against a direct loop, batch norm in training and
 * evaluation, byte-identical results for any thread count, descriptions.
 *
 * Finite differences run in float32, the engine's precision: the loss is
 * sum(w . output) for fixed random weights w, accumulated in double, and the
 * step is 1e-2 on values of order 1.  Rounding in the forward pass then gives
 * differences accurate to about 1e-4 and the step's truncation error is of the
 * same order, so a gradient passes when |fd - analytic| <= 2e-3 (1 + |analytic|)
 * (the worst seen is 5e-4).  Convolutions and dense layers alone are linear in
 * each input and each weight, so central differences are exact at any step:
 * there the step is 0.5, which keeps the rounding noise of sums over thousands
 * of outputs well below the tolerance (worst seen 1e-4).  Inputs of ReLU and
 * max pooling are kept more than two steps away from their kinks. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn.h"
#include "rng.h"

#define FD_EPS 1e-2
#define FD_LINEAR_EPS 0.5
#define FD_TOL 2e-3

static void fill_normal(float *x, size_t n, uint64_t seed, double sd)
{
    sl_rng r;
    sl_rng_init(&r, seed, 0, 1);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(sd * sl_rng_normal(&r));
}

/* Values at least 0.05 from zero and 0.1 from each other: a random permutation
 * of a spaced grid of both signs. */
static void fill_spaced(float *x, size_t n, uint64_t seed)
{
    sl_rng r;
    sl_rng_init(&r, seed, 0, 2);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.1 * (double)(i / 2) + 0.05) * (i % 2 ? 1.0f : -1.0f);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = sl_rng_below(&r, i + 1);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

static size_t in_size(const sl_nn *net)
{
    int c, h, w;
    sl_nn_shape(net, 0, &c, &h, &w);
    return (size_t)c * h * w;
}

static double loss(sl_nn *net, const float *x, int batch, const float *wt)
{
    const float *y = sl_nn_forward(net, x, batch, 1);
    size_t n = (size_t)batch * sl_nn_output_size(net);
    double l = 0;
    for (size_t i = 0; i < n; i++)
        l += (double)wt[i] * y[i];
    return l;
}

static sl_nn *finalize(sl_nn *net, int output, int batch, int threads)
{
    sl_err err = {{0}};
    if (sl_nn_finalize(net, output, batch, threads, &err) < 0) {
        fprintf(stderr, "finalize: %s\n", err.msg);
        CHECK(0);
        sl_nn_free(net);
        return NULL;
    }
    return net;
}

/* Checks the parameter gradients (every one, or an even sample of max_params)
 * and the input gradients of net at input x against central differences. */
static void check_grads(sl_nn *net, const float *x0, int batch, const char *what, int max_params,
                        double eps)
{
    size_t nx = batch * in_size(net), ny = (size_t)batch * sl_nn_output_size(net);
    size_t np = sl_nn_n_params(net);
    float *x = malloc(nx * sizeof *x), *dx = malloc(nx * sizeof *dx);
    float *wt = malloc(ny * sizeof *wt), *g = malloc((np + 1) * sizeof *g);
    memcpy(x, x0, nx * sizeof *x);
    fill_normal(wt, ny, 99, 1.0);
    sl_nn_forward(net, x, batch, 1);
    sl_nn_zero_grads(net);
    CHECK(sl_nn_backward(net, wt, dx) == 0);
    memcpy(g, sl_nn_grads(net), np * sizeof *g);

    int bad = 0, checked = 0;
    double worst = 0;
    float *p = sl_nn_params(net);
    size_t step = max_params > 0 && np > (size_t)max_params ? np / max_params : 1;
    for (size_t i = 0; i < np + nx;
         /* every step-th parameter, always the last one, then every input */
         i = i >= np || i == np - 1 ? i + 1 : i + step < np ? i + step : np - 1) {
        float *v = i < np ? &p[i] : &x[i - np];
        float ana = i < np ? g[i] : dx[i - np], keep = *v;
        *v = keep + (float)eps;
        double lp = loss(net, x, batch, wt);
        *v = keep - (float)eps;
        double lm = loss(net, x, batch, wt);
        *v = keep;
        double fd = (lp - lm) / (2 * eps), err = fabs(fd - ana) / (1 + fabs(ana));
        worst = err > worst ? err : worst;
        checked++;
        if (err > FD_TOL && bad++ < 5)
            fprintf(stderr, "%s: %s %zu: analytic %.6g, finite difference %.6g\n", what,
                    i < np ? "parameter" : "input", i < np ? i : i - np, ana, fd);
    }
    if (getenv("TEST_NN_VERBOSE"))
        fprintf(stderr, "%-28s %5d gradients, worst relative error %.2e\n", what, checked, worst);
    check_count++;
    if (bad) {
        check_failures++;
        fprintf(stderr, "%s: %d of %d gradients off (worst relative error %.3g)\n", what, bad,
                checked, worst);
    }
    free(x);
    free(dx);
    free(wt);
    free(g);
}

/* A net of one layer on a random input, gradients checked. */
static void grad_case_eps(sl_nn *net, int out, int batch, int spaced, const char *what, double eps)
{
    if (!finalize(net, out, batch, 2))
        return;
    /* Kaiming weights plus noise: biases, gamma and beta away from 0 and 1, so
     * that mixing up their roles shows */
    sl_nn_init(net, 7);
    float *p = sl_nn_params(net);
    size_t np = sl_nn_n_params(net);
    float *noise = malloc((np + 1) * sizeof *noise);
    fill_normal(noise, np, 8, 0.3);
    for (size_t i = 0; i < np; i++)
        p[i] += noise[i];
    free(noise);
    size_t nx = batch * in_size(net);
    float *x = malloc(nx * sizeof *x);
    if (spaced)
        fill_spaced(x, nx, 3);
    else
        fill_normal(x, nx, 3, 1.0);
    check_grads(net, x, batch, what, 400, eps);
    free(x);
    sl_nn_free(net);
}

static void grad_case(sl_nn *net, int out, int batch, int spaced, const char *what)
{
    grad_case_eps(net, out, batch, spaced, what, FD_EPS);
}

/* ---- Convolution -------------------------------------------------------------- */

typedef struct conv_case {
    int cin, cout, k, st, pad, dil, h, w;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 3, 3, 1, 1, 1, 7, 5},  /* same padding, non-square */
    {3, 4, 3, 2, 1, 1, 9, 8},  /* stride 2 */
    {2, 2, 3, 1, 2, 2, 6, 7},  /* dilation 2 */
    {3, 5, 1, 1, 0, 1, 4, 6},  /* 1x1: GEMM on the input itself */
    {1, 4, 5, 2, 2, 1, 11, 9}, /* one input channel */
    {2, 3, 2, 3, 0, 1, 8, 10}, /* even kernel, stride 3 */
    {4, 2, 1, 2, 0, 1, 5, 5},  /* strided 1x1 */
    {2, 3, 3, 2, 3, 2, 5, 6},  /* stride, dilation and wide padding together */
    /* 3x3 stride 1 with 8+ channels: Winograd F(4x4, 3x3), edge tiles cut */
    {8, 9, 3, 1, 1, 1, 13, 11},
    {9, 8, 3, 1, 0, 1, 10, 9},  /* no padding: the input gradient pads by 2 */
    {8, 8, 3, 1, 2, 1, 6, 7},   /* padding 2: the input gradient pads by 0 */
    {8, 9, 3, 1, 1, 1, 62, 50}, /* several blocks of tiles */
};
#define N_GRAD_CASES 11 /* the last case is too big for finite differences */
#define N_CONV_CASES (int)(sizeof conv_cases / sizeof conv_cases[0])

static void naive_conv(const conv_case *cc, const float *x, const float *wt, float *y, int ho,
                       int wo)
{
    const float *bias = wt + (size_t)cc->cout * cc->cin * cc->k * cc->k;
    for (int co = 0; co < cc->cout; co++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                double s = bias[co];
                for (int ci = 0; ci < cc->cin; ci++)
                    for (int i = 0; i < cc->k; i++)
                        for (int j = 0; j < cc->k; j++) {
                            int iy = oy * cc->st - cc->pad + i * cc->dil;
                            int ix = ox * cc->st - cc->pad + j * cc->dil;
                            if (iy < 0 || iy >= cc->h || ix < 0 || ix >= cc->w)
                                continue;
                            s += (double)wt[((co * cc->cin + ci) * cc->k + i) * cc->k + j] *
                                 x[(ci * cc->h + iy) * cc->w + ix];
                        }
                y[(co * ho + oy) * wo + ox] = (float)s;
            }
}

/* The gradients of sum(dy . conv(x)) by direct loops in double: dx [cin][h][w]
 * and dw [cout][cin][k][k] (added into), db [cout] (added into). */
static void naive_conv_grads(const conv_case *cc, const float *x, const float *wt, const float *dy,
                             int ho, int wo, double *dx, double *dw, double *db)
{
    for (int i = 0; i < cc->cin * cc->h * cc->w; i++)
        dx[i] = 0;
    for (int co = 0; co < cc->cout; co++)
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                double d = dy[(co * ho + oy) * wo + ox];
                db[co] += d;
                for (int ci = 0; ci < cc->cin; ci++)
                    for (int i = 0; i < cc->k; i++)
                        for (int j = 0; j < cc->k; j++) {
                            int iy = oy * cc->st - cc->pad + i * cc->dil;
                            int ix = ox * cc->st - cc->pad + j * cc->dil;
                            if (iy < 0 || iy >= cc->h || ix < 0 || ix >= cc->w)
                                continue;
                            int wi = ((co * cc->cin + ci) * cc->k + i) * cc->k + j;
                            int xi = (ci * cc->h + iy) * cc->w + ix;
                            dw[wi] += d * x[xi];
                            dx[xi] += d * wt[wi];
                        }
            }
}

/* Largest |got - want| relative to the largest |want|. */
static double rel_err(const float *got, const double *want, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(got[i] - want[i]));
        m = fmax(m, fabs(want[i]));
    }
    return e / (m > 0 ? m : 1);
}

/* Forward and backward against direct loops, with batches whose chunks hold
 * several samples (Winograd blocks then span samples). */
static void test_conv_direct(void)
{
    for (int t = 0; t < N_CONV_CASES; t++) {
        const conv_case *cc = &conv_cases[t];
        int B = cc->h * cc->w > 1000 ? 3 : 37;
        sl_nn *net = sl_nn_new(cc->cin, cc->h, cc->w);
        int y = sl_nn_conv(net, 0, cc->cout, cc->k, cc->st, cc->pad, cc->dil);
        if (!finalize(net, y, B, 2))
            continue;
        int c, ho, wo;
        sl_nn_shape(net, y, &c, &ho, &wo);
        CHECK(ho == (cc->h + 2 * cc->pad - cc->dil * (cc->k - 1) - 1) / cc->st + 1);
        CHECK(wo == (cc->w + 2 * cc->pad - cc->dil * (cc->k - 1) - 1) / cc->st + 1);
        CHECK(sl_nn_flops(net) == 2 * (size_t)cc->cout * cc->cin * cc->k * cc->k * ho * wo);
        size_t np = sl_nn_n_params(net), nx = in_size(net), ny = (size_t)c * ho * wo;
        fill_normal(sl_nn_params(net), np, 10 + t, 1.0);
        float *x = malloc(B * nx * sizeof *x), *dy = malloc(B * ny * sizeof *dy);
        float *want = malloc(ny * sizeof *want), *dx = malloc(B * nx * sizeof *dx);
        double *dx_ref = malloc(nx * sizeof *dx_ref), *dw_ref = calloc(np, sizeof *dw_ref);
        fill_normal(x, B * nx, 20 + t, 1.0);
        fill_normal(dy, B * ny, 30 + t, 1.0);
        const float *got = sl_nn_forward(net, x, B, 1);
        double worst = 0, worst_dx = 0;
        for (int s = 0; s < B; s++) {
            naive_conv(cc, x + s * nx, sl_nn_params(net), want, ho, wo);
            for (size_t i = 0; i < ny; i++) /* relative to a sum of cin k^2 terms of order 1 */
                worst = fmax(worst, fabs(got[s * ny + i] - want[i]) / (cc->cin * cc->k * cc->k));
        }
        sl_nn_zero_grads(net);
        sl_nn_backward(net, dy, dx);
        for (int s = 0; s < B; s++) {
            naive_conv_grads(cc, x + s * nx, sl_nn_params(net), dy + s * ny, ho, wo, dx_ref,
                             dw_ref, dw_ref + np - cc->cout);
            worst_dx = fmax(worst_dx, rel_err(dx + s * nx, dx_ref, nx));
        }
        double worst_dw = rel_err(sl_nn_grads(net), dw_ref, np);
        if (getenv("TEST_NN_VERBOSE"))
            fprintf(stderr, "conv case %d direct: y %.1e, dx %.1e, dw %.1e\n", t, worst, worst_dx,
                    worst_dw);
        CHECK(worst < 1e-5); /* Winograd: about 2e-6; direct: 2e-7 */
        CHECK(worst_dx < 2e-5);
        CHECK(worst_dw < 2e-5);
        free(x), free(dy), free(want), free(dx), free(dx_ref), free(dw_ref);
        sl_nn_free(net);
    }
}

static void test_conv_grads(void)
{
    for (int t = 0; t < N_GRAD_CASES; t++) {
        const conv_case *cc = &conv_cases[t];
        char what[64];
        snprintf(what, sizeof what, "conv case %d", t);
        sl_nn *net = sl_nn_new(cc->cin, cc->h, cc->w);
        int y = sl_nn_conv(net, 0, cc->cout, cc->k, cc->st, cc->pad, cc->dil);
        grad_case_eps(net, y, 2, 0, what, FD_LINEAR_EPS);
    }
    /* a conv whose input is another conv: its input gradient is always computed */
    sl_nn *net = sl_nn_new(2, 6, 5);
    int a = sl_nn_conv(net, 0, 3, 3, 1, 1, 1);
    grad_case_eps(net, sl_nn_conv(net, a, 2, 3, 2, 1, 1), 2, 0, "conv of conv", FD_LINEAR_EPS);
}

/* ---- Normalizations ----------------------------------------------------------- */

static void test_batchnorm_grads(void)
{
    sl_nn *net = sl_nn_new(3, 5, 4);
    grad_case(net, sl_nn_batchnorm(net, 0), 4, 0, "batchnorm");
    net = sl_nn_new(2, 5, 6);
    int y = sl_nn_batchnorm(net, sl_nn_conv(net, 0, 3, 3, 2, 1, 1));
    grad_case(net, y, 3, 0, "conv + batchnorm");
    /* BatchNorm1d after a dense layer: one value per channel and sample */
    net = sl_nn_new(2, 3, 3);
    y = sl_nn_batchnorm(net, sl_nn_dense(net, sl_nn_flatten(net, 0), 5));
    grad_case(net, y, 6, 0, "dense + batchnorm1d");
}

static void test_groupnorm_grads(void)
{
    sl_nn *net = sl_nn_new(4, 5, 3);
    grad_case(net, sl_nn_groupnorm(net, 0, 2), 2, 0, "groupnorm");
    net = sl_nn_new(2, 4, 4);
    int y = sl_nn_groupnorm(net, sl_nn_conv(net, 0, 6, 3, 1, 1, 1), 3);
    grad_case(net, y, 3, 0, "conv + groupnorm");
}

/* ---- Activations, pooling, dense, joins ------------------------------------------ */

static void test_activation_grads(void)
{
    sl_nn *net = sl_nn_new(3, 4, 5);
    grad_case(net, sl_nn_relu(net, 0), 2, 1, "relu");
    net = sl_nn_new(3, 4, 5);
    grad_case(net, sl_nn_silu(net, 0), 2, 0, "silu");
    /* odd sizes exercise the 8-lane tail */
    net = sl_nn_new(1, 3, 3);
    grad_case(net, sl_nn_silu(net, 0), 1, 0, "silu tail");
}

static void test_silu_values(void)
{
    sl_nn *net = sl_nn_new(1, 1, 13);
    if (!finalize(net, sl_nn_silu(net, 0), 1, 1))
        return;
    float x[13] = {-100, -20, -5, -1, -0.1f, 0, 1e-4f, 0.5f, 1, 3, 10, 30, 100};
    const float *y = sl_nn_forward(net, x, 1, 0);
    for (int i = 0; i < 13; i++)
        CHECK_NEAR(y[i], x[i] / (1 + exp(-(double)x[i])), 3e-7 * (1 + fabs(x[i])));
    sl_nn_free(net);
}

static void test_pool_grads(void)
{
    sl_nn *net = sl_nn_new(2, 6, 5);
    grad_case(net, sl_nn_maxpool(net, 0, 2, 2), 2, 1, "maxpool 2/2");
    /* wide enough for the vector path, odd width: the last column in no window */
    net = sl_nn_new(2, 6, 21);
    grad_case(net, sl_nn_maxpool(net, 0, 2, 2), 2, 1, "maxpool 2/2, wide");
    net = sl_nn_new(1, 4, 32);
    grad_case(net, sl_nn_add(net, sl_nn_maxpool(net, 0, 2, 2), sl_nn_avgpool(net, 0, 2, 2)), 2, 1,
              "maxpool 2/2 + avgpool (adds)");
    net = sl_nn_new(2, 7, 6);
    grad_case(net, sl_nn_maxpool(net, 0, 3, 2), 2, 1, "maxpool 3/2 (overlapping)");
    net = sl_nn_new(2, 7, 6);
    grad_case(net, sl_nn_avgpool(net, 0, 3, 2), 2, 0, "avgpool 3/2");
    net = sl_nn_new(3, 4, 5);
    grad_case(net, sl_nn_global_avgpool(net, 0), 2, 0, "global avgpool");
}

static void test_pool_values(void)
{
    sl_nn *net = sl_nn_new(1, 4, 4);
    int m = sl_nn_maxpool(net, 0, 2, 2);
    int a = sl_nn_avgpool(net, 0, 2, 2);
    if (!finalize(net, sl_nn_concat(net, m, a), 1, 1))
        return;
    float x[16] = {1, 2, 5, 0, 3, 4, -1, -2, 0, 0, 9, 9, 0, -8, 9, 9};
    const float *y = sl_nn_forward(net, x, 1, 0);
    float want[8] = {4, 5, 0, 9, 2.5f, 0.5f, -2, 9};
    for (int i = 0; i < 8; i++)
        CHECK(y[i] == want[i]);
    sl_nn_free(net);
    /* the vector path of 2x2 max pooling against a direct loop */
    net = sl_nn_new(1, 5, 37);
    if (!finalize(net, sl_nn_maxpool(net, 0, 2, 2), 1, 1))
        return;
    float xs[5 * 37];
    fill_normal(xs, 5 * 37, 41, 1.0);
    y = sl_nn_forward(net, xs, 1, 0);
    int bad = 0;
    for (int oy = 0; oy < 2; oy++)
        for (int ox = 0; ox < 18; ox++) {
            const float *p = xs + 2 * oy * 37 + 2 * ox;
            float m = fmaxf(fmaxf(p[0], p[1]), fmaxf(p[37], p[38]));
            bad += y[oy * 18 + ox] != m;
        }
    CHECK(bad == 0);
    sl_nn_free(net);
}

static void test_dense_grads(void)
{
    sl_nn *net = sl_nn_new(2, 3, 4);
    grad_case_eps(net, sl_nn_dense(net, sl_nn_flatten(net, 0), 5), 3, 0, "dense", FD_LINEAR_EPS);
    /* more than 16 features each way: several blocks per direction */
    net = sl_nn_new(37, 1, 1);
    grad_case_eps(net, sl_nn_dense(net, 0, 21), 3, 0, "dense, blocked", FD_LINEAR_EPS);
    net = sl_nn_new(2, 5, 4);
    int y = sl_nn_dense(net, sl_nn_conv(net, 0, 3, 3, 2, 1, 1), 4);
    grad_case_eps(net, sl_nn_dense(net, y, 3), 2, 0, "conv, dense, dense", FD_LINEAR_EPS);
}

static void test_join_grads(void)
{
    /* a residual block with a concatenated skip: x feeds three consumers */
    sl_nn *net = sl_nn_new(2, 5, 4);
    int a = sl_nn_conv(net, 0, 2, 3, 1, 1, 1);
    int b = sl_nn_silu(net, sl_nn_conv(net, a, 2, 3, 1, 1, 1));
    int s = sl_nn_add(net, b, a);
    int c = sl_nn_concat(net, s, 0);
    grad_case(net, sl_nn_conv(net, c, 2, 1, 1, 0, 1), 2, 0, "add + concat");
    net = sl_nn_new(2, 3, 3);
    grad_case(net, sl_nn_add(net, 0, 0), 2, 0, "add(x, x)");
    net = sl_nn_new(2, 3, 3);
    a = sl_nn_silu(net, 0);
    grad_case(net, sl_nn_concat(net, a, a), 2, 0, "concat(y, y)");
}

/* ---- Batch norm: training versus evaluation --------------------------------------- */

static void test_batchnorm_modes(void)
{
    const int B = 5, C = 2, H = 3, W = 4, HW = H * W;
    sl_nn *net = sl_nn_new(C, H, W);
    int y = sl_nn_batchnorm(net, 0);
    if (!finalize(net, y, B, 2))
        return;
    sl_nn_init(net, 1);
    float x[5 * 2 * 12];
    fill_normal(x, sizeof x / sizeof x[0], 5, 2.0);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] += 3.0f; /* a mean far from the running mean's start */
    double mean[2] = {0}, var[2] = {0};
    for (int c = 0; c < C; c++) {
        for (int s = 0; s < B; s++)
            for (int i = 0; i < HW; i++)
                mean[c] += x[(s * C + c) * HW + i];
        mean[c] /= B * HW;
        for (int s = 0; s < B; s++)
            for (int i = 0; i < HW; i++)
                var[c] += pow(x[(s * C + c) * HW + i] - mean[c], 2);
        var[c] /= B * HW;
    }
    /* training: batch statistics, gamma 1 and beta 0 after init */
    const float *out = sl_nn_forward(net, x, B, 1);
    for (int c = 0; c < C; c++)
        for (int s = 0; s < B; s++)
            for (int i = 0; i < HW; i++) {
                int j = (s * C + c) * HW + i;
                CHECK_NEAR(out[j], (x[j] - mean[c]) / sqrt(var[c] + 1e-5), 2e-5);
            }
    /* running averages, momentum 0.1, unbiased variance */
    const float *st = sl_nn_state(net);
    double n = B * HW;
    for (int c = 0; c < C; c++) {
        CHECK_NEAR(st[c], 0.1 * mean[c], 1e-6);
        CHECK_NEAR(st[C + c], 0.9 + 0.1 * var[c] * n / (n - 1), 1e-5);
    }
    /* evaluation: the running statistics, with gamma and beta applied */
    float *p = sl_nn_params(net);
    p[0] = 2.0f, p[1] = 0.5f, p[2] = -1.0f, p[3] = 0.25f;
    out = sl_nn_forward(net, x, B, 0);
    for (int c = 0; c < C; c++)
        for (int j = c * HW; j < c * HW + HW; j++)
            CHECK_NEAR(out[j], p[c] * (x[j] - st[c]) / sqrt(st[C + c] + 1e-5) + p[2 + c], 1e-5);
    /* evaluation leaves the running statistics alone, and cannot be back-propagated */
    CHECK_NEAR(st[0], 0.1 * mean[0], 1e-6);
    CHECK(sl_nn_backward(net, out, NULL) == -1);
    sl_nn_free(net);
}

static void copy_weights(sl_nn *to, sl_nn *from);

/* ---- Fusions ------------------------------------------------------------------ */

/* conv, batch norm, activation op; with `split`, the conv and the norm feed a
 * second consumer (an identity pool) too, which rules out every fusion, and the
 * output is the concatenation [activation, identity]. */
static sl_nn *block_net(int op, int split, int *out)
{
    sl_nn *net = sl_nn_new(8, 9, 7);
    int c = sl_nn_conv(net, 0, 8, 3, 1, 1, 1);
    int b = sl_nn_batchnorm(net, c);
    int a = op == SL_NN_RELU ? sl_nn_relu(net, b) : sl_nn_silu(net, b);
    *out = a;
    if (split) {
        int id = sl_nn_maxpool(net, b, 1, 1);
        *out = sl_nn_concat(net, a, sl_nn_add(net, id, sl_nn_maxpool(net, c, 1, 1)));
    }
    return net;
}

/* Batch norm with its activation fused (and folded into the conv when
 * evaluating) against the same layers run one by one. */
static void test_fusions(void)
{
    for (int op = SL_NN_RELU; op <= SL_NN_SILU; op++) {
        int oa, ob;
        sl_nn *a = block_net(op, 0, &oa), *b = block_net(op, 1, &ob);
        a = finalize(a, oa, 4, 2);
        b = finalize(b, ob, 4, 1);
        if (!a || !b)
            return;
        sl_nn_init(a, 5);
        fill_normal(sl_nn_params(a), sl_nn_n_params(a), 6, 0.3);
        sl_nn_params(a)[8 * 8 * 9 + 8] = 1.5f; /* a gamma */
        copy_weights(b, a);
        size_t nx = 4 * in_size(a), na = sl_nn_output_size(a), nb = sl_nn_output_size(b);
        float *x = malloc(nx * sizeof *x), *dya = calloc(4 * na, sizeof *dya);
        float *dyb = calloc(4 * nb, sizeof *dyb), *dxa = malloc(nx * sizeof *dxa);
        float *dxb = malloc(nx * sizeof *dxb), *ga = malloc(sl_nn_n_params(a) * sizeof *ga);
        fill_normal(x, nx, 7, 1.0);
        fill_normal(dya, 4 * na, 8, 1.0);
        for (int s = 0; s < 4; s++) /* the second part of b's output gets no gradient */
            memcpy(dyb + s * nb, dya + s * na, na * sizeof *dyb);
        /* training: the same arithmetic in the same order, so the same bits */
        const float *ya = sl_nn_forward(a, x, 4, 1), *yb = sl_nn_forward(b, x, 4, 1);
        int same = 1;
        for (int s = 0; s < 4; s++)
            same &= memcmp(ya + s * na, yb + s * nb, na * sizeof *ya) == 0;
        CHECK(same);
        sl_nn_zero_grads(a);
        sl_nn_zero_grads(b);
        sl_nn_backward(a, dya, dxa);
        sl_nn_backward(b, dyb, dxb);
        memcpy(ga, sl_nn_grads(a), sl_nn_n_params(a) * sizeof *ga);
        CHECK(memcmp(ga, sl_nn_grads(b), sl_nn_n_params(a) * sizeof *ga) == 0);
        CHECK(memcmp(dxa, dxb, nx * sizeof *dxa) == 0);
        CHECK(memcmp(sl_nn_state(a), sl_nn_state(b), sl_nn_n_state(a) * sizeof(float)) == 0);
        /* evaluation: the norm folded into the weights rounds differently */
        ya = sl_nn_forward(a, x, 4, 0);
        yb = sl_nn_forward(b, x, 4, 0);
        int bad = 0;
        for (int s = 0; s < 4; s++)
            for (size_t i = 0; i < na; i++)
                bad += !(fabs(ya[s * na + i] - yb[s * nb + i]) <= 1e-5 * (1 + fabs(yb[s * nb + i])));
        CHECK(bad == 0);
        free(x), free(dya), free(dyb), free(dxa), free(dxb), free(ga);
        sl_nn_free(a);
        sl_nn_free(b);
    }
}

/* ---- Threads ------------------------------------------------------------------ */

/* Every kind of layer, with a residual sum, a concatenation and two dense
 * layers.  smooth replaces ReLU and max pooling by SiLU and average pooling, for
 * finite differences: perturbing a weight moves many values across kinks. */
static sl_nn *mixed_net_of(int *out, int smooth)
{
    sl_nn *net = sl_nn_new(2, 12, 10);
    int c1 = sl_nn_conv(net, 0, 8, 3, 1, 1, 1);
    int a1 = sl_nn_silu(net, sl_nn_batchnorm(net, c1));
    a1 = sl_nn_conv(net, a1, 8, 3, 1, 1, 1); /* Winograd */
    int gn = sl_nn_groupnorm(net, sl_nn_conv(net, a1, 6, 3, 2, 1, 1), 3);
    int r = smooth ? sl_nn_silu(net, gn) : sl_nn_relu(net, gn);
    int s = sl_nn_add(net, r, sl_nn_conv(net, a1, 6, 1, 2, 0, 1));
    int mp = smooth ? sl_nn_avgpool(net, s, 2, 2) : sl_nn_maxpool(net, s, 2, 2);
    int cat = sl_nn_concat(net, mp, sl_nn_avgpool(net, s, 2, 2));
    int g = sl_nn_global_avgpool(net, sl_nn_conv(net, cat, 4, 3, 1, 2, 2));
    int d = sl_nn_dense(net, sl_nn_flatten(net, cat), 20);
    int e = sl_nn_silu(net, sl_nn_batchnorm(net, d));
    *out = sl_nn_dense(net, sl_nn_concat(net, e, g), 3);
    return net;
}

static sl_nn *mixed_net(int *out) { return mixed_net_of(out, 0); }

typedef struct run_result {
    float *y_train, *y_eval, *grads, *dx, *state;
} run_result;

static void run_mixed(int threads, int batch, run_result *r)
{
    int out;
    sl_nn *net = mixed_net(&out);
    if (!finalize(net, out, 20, threads))
        return;
    sl_nn_init(net, 11);
    size_t nx = (size_t)batch * in_size(net), ny = (size_t)batch * sl_nn_output_size(net);
    size_t np = sl_nn_n_params(net), ns = sl_nn_n_state(net);
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
    fill_normal(x, nx, 12, 1.0);
    fill_normal(dy, ny, 13, 1.0);
    r->y_train = malloc(ny * sizeof(float));
    r->y_eval = malloc(ny * sizeof(float));
    r->grads = malloc(np * sizeof(float));
    r->dx = malloc(nx * sizeof(float));
    r->state = malloc(ns * sizeof(float));
    memcpy(r->y_train, sl_nn_forward(net, x, batch, 1), ny * sizeof(float));
    sl_nn_zero_grads(net);
    sl_nn_backward(net, dy, r->dx);
    memcpy(r->grads, sl_nn_grads(net), np * sizeof(float));
    memcpy(r->state, sl_nn_state(net), ns * sizeof(float));
    memcpy(r->y_eval, sl_nn_forward(net, x, batch, 0), ny * sizeof(float));
    free(x);
    free(dy);
    sl_nn_free(net);
}

static void free_result(run_result *r)
{
    free(r->y_train);
    free(r->y_eval);
    free(r->grads);
    free(r->dx);
    free(r->state);
}

static void test_thread_determinism(void)
{
    int out;
    sl_nn *probe = mixed_net(&out);
    if (!finalize(probe, out, 20, 1))
        return;
    size_t np = sl_nn_n_params(probe), ns = sl_nn_n_state(probe), nx = in_size(probe);
    size_t ny = sl_nn_output_size(probe);
    sl_nn_free(probe);
    const int batches[] = {7, 19}, threads[] = {2, 3, 5};
    for (int b = 0; b < 2; b++) {
        int B = batches[b];
        run_result one, many;
        run_mixed(1, B, &one);
        for (int t = 0; t < 3; t++) {
            run_mixed(threads[t], B, &many);
            CHECK(memcmp(one.y_train, many.y_train, B * ny * sizeof(float)) == 0);
            CHECK(memcmp(one.y_eval, many.y_eval, B * ny * sizeof(float)) == 0);
            CHECK(memcmp(one.grads, many.grads, np * sizeof(float)) == 0);
            CHECK(memcmp(one.dx, many.dx, B * nx * sizeof(float)) == 0);
            CHECK(memcmp(one.state, many.state, ns * sizeof(float)) == 0);
            free_result(&many);
        }
        free_result(&one);
    }
}

/* The mixed net end to end: every gradient at once, through every junction. */
static void test_mixed_grads(void)
{
    int out;
    sl_nn *net = mixed_net_of(&out, 1);
    grad_case(net, out, 3, 0, "mixed net");
}

static void test_grads_accumulate(void)
{
    int out;
    sl_nn *net = mixed_net(&out);
    if (!finalize(net, out, 4, 2))
        return;
    sl_nn_init(net, 3);
    size_t np = sl_nn_n_params(net), nx = 4 * in_size(net), ny = 4 * sl_nn_output_size(net);
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *g = malloc(np * sizeof *g);
    fill_normal(x, nx, 4, 1.0);
    fill_normal(dy, ny, 5, 1.0);
    sl_nn_forward(net, x, 4, 1);
    sl_nn_zero_grads(net);
    sl_nn_backward(net, dy, NULL);
    memcpy(g, sl_nn_grads(net), np * sizeof *g);
    sl_nn_backward(net, dy, NULL);
    int bad = 0;
    for (size_t i = 0; i < np; i++)
        bad += fabsf(sl_nn_grads(net)[i] - 2 * g[i]) > 1e-6f * (1 + fabsf(g[i]));
    CHECK(bad == 0);
    free(x);
    free(dy);
    free(g);
    sl_nn_free(net);
}

/* An inference-only network gives the same evaluation outputs, and refuses to
 * train. */
static void test_inference_only(void)
{
    int out, out2;
    sl_nn *a = mixed_net(&out), *b = mixed_net(&out2);
    sl_nn_inference_only(b);
    a = finalize(a, out, 5, 2);
    b = finalize(b, out2, 5, 2);
    if (!a || !b)
        return;
    sl_nn_init(a, 31);
    for (size_t i = 0; i < sl_nn_n_state(a); i++)
        sl_nn_state(a)[i] = 0.5f + 0.01f * (float)(i % 7);
    copy_weights(b, a);
    CHECK(sl_nn_grads(b) == NULL);
    size_t nx = 5 * in_size(a), ny = 5 * (size_t)sl_nn_output_size(a);
    float *x = malloc(nx * sizeof *x), *ya = malloc(ny * sizeof *ya);
    fill_normal(x, nx, 32, 1.0);
    memcpy(ya, sl_nn_forward(a, x, 5, 0), ny * sizeof *ya);
    const float *yb = sl_nn_forward(b, x, 5, 0);
    CHECK(yb && memcmp(ya, yb, ny * sizeof *ya) == 0);
    CHECK(sl_nn_forward(b, x, 5, 1) == NULL);
    CHECK(sl_nn_backward(b, ya, NULL) == -1);
    free(x);
    free(ya);
    sl_nn_free(a);
    sl_nn_free(b);
}

/* ---- Initialization ----------------------------------------------------------- */

static void test_init(void)
{
    sl_nn *net = sl_nn_new(16, 8, 8);
    int c = sl_nn_conv(net, 0, 32, 3, 1, 1, 1);
    int b = sl_nn_batchnorm(net, c);
    if (!finalize(net, b, 1, 1))
        return;
    CHECK(sl_nn_n_params(net) == 32 * 16 * 9 + 32 + 2 * 32);
    CHECK(sl_nn_n_state(net) == 64);
    CHECK(sl_nn_param_offset(net, c) == 0 && sl_nn_param_offset(net, b) == 32 * 16 * 9 + 32);
    CHECK(sl_nn_param_offset(net, 0) == (size_t)-1 && sl_nn_state_offset(net, b) == 0);
    sl_nn_init(net, 42);
    const float *p = sl_nn_params(net);
    int nw = 32 * 16 * 9;
    double m = 0, v = 0;
    for (int i = 0; i < nw; i++)
        m += p[i];
    m /= nw;
    for (int i = 0; i < nw; i++)
        v += (p[i] - m) * (p[i] - m);
    double sd = sqrt(v / (nw - 1)), want = sqrt(2.0 / (16 * 9));
    CHECK_NEAR(m, 0, 4 * want / sqrt(nw));
    CHECK_REL(sd, want, 0.05);
    int rest_ok = 1;
    for (int i = nw; i < nw + 32; i++)
        rest_ok &= p[i] == 0;
    for (int i = 0; i < 32; i++)
        rest_ok &= p[nw + 32 + i] == 1 && p[nw + 64 + i] == 0 && sl_nn_state(net)[i] == 0 &&
                   sl_nn_state(net)[32 + i] == 1;
    CHECK(rest_ok);
    float keep = p[5];
    sl_nn_init(net, 42);
    CHECK(p[5] == keep);
    sl_nn_init(net, 43);
    CHECK(p[5] != keep);
    sl_nn_free(net);
}

/* ---- Descriptions -------------------------------------------------------------- */

static int same_outputs(sl_nn *a, sl_nn *b, int train)
{
    size_t nx = 3 * in_size(a), ny = 3 * (size_t)sl_nn_output_size(a);
    float *x = malloc(nx * sizeof *x);
    fill_normal(x, nx, 6, 1.0);
    float *ya = malloc(ny * sizeof *ya);
    memcpy(ya, sl_nn_forward(a, x, 3, train), ny * sizeof *ya);
    int same = memcmp(ya, sl_nn_forward(b, x, 3, train), ny * sizeof *ya) == 0;
    free(x);
    free(ya);
    return same;
}

static void copy_weights(sl_nn *to, sl_nn *from)
{
    memcpy(sl_nn_params(to), sl_nn_params(from), sl_nn_n_params(from) * sizeof(float));
    memcpy(sl_nn_state(to), sl_nn_state(from), sl_nn_n_state(from) * sizeof(float));
}

static void test_describe_rebuild(void)
{
    int out;
    sl_nn *net = mixed_net(&out);
    if (!finalize(net, out, 3, 2))
        return;
    sl_nn_init(net, 21);
    fill_normal(sl_nn_state(net), sl_nn_n_state(net), 22, 0.1);
    for (size_t i = 0; i < sl_nn_n_state(net); i++) /* variances must stay positive */
        sl_nn_state(net)[i] = fabsf(sl_nn_state(net)[i]) + 0.5f;

    sl_nn_layer layers[64];
    int n = sl_nn_describe(net, layers, 64);
    CHECK(n == sl_nn_n_nodes(net));
    CHECK(layers[1].op == SL_NN_CONV && layers[1].in[0] == 0 && layers[1].arg[0] == 2 &&
          layers[1].arg[1] == 8);
    sl_err err = {{0}};
    sl_nn *copy = sl_nn_from_layers(layers, n, &err);
    CHECK(copy != NULL);
    if (copy && finalize(copy, out, 3, 1)) {
        CHECK(sl_nn_n_params(copy) == sl_nn_n_params(net));
        copy_weights(copy, net);
        CHECK(same_outputs(net, copy, 0));
        CHECK(same_outputs(net, copy, 1));
        sl_nn_free(copy);
    }

    /* through msgpack */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    sl_nn_pack(net, &pk);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    CHECK(msgpack_unpack_next(&up, sb.data, sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);
    int out2 = -1;
    copy = sl_nn_unpack(&up.data, &out2, &err);
    CHECK(copy != NULL && out2 == out);
    if (copy && finalize(copy, out2, 3, 3)) {
        copy_weights(copy, net);
        CHECK(same_outputs(net, copy, 0));
        sl_nn_free(copy);
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    sl_nn_free(net);
}

/* Rebuilding from layers with one field changed fails with msg_part in the message. */
static void expect_layers_fail(const sl_nn_layer *orig, int n, int node, int field, int value,
                               const char *msg_part)
{
    sl_nn_layer L[64];
    memcpy(L, orig, n * sizeof *L);
    if (field < 2)
        L[node].in[field] = value;
    else if (field < 8)
        L[node].arg[field - 2] = value;
    else
        L[node].op = value;
    sl_err err = {{0}};
    sl_nn *net = sl_nn_from_layers(L, n, &err);
    CHECK(net == NULL);
    if (!strstr(err.msg, msg_part)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, msg_part);
        CHECK(0);
    }
    sl_nn_free(net);
}

static void test_corrupt_descriptions(void)
{
    int out;
    sl_nn *net = mixed_net(&out);
    sl_nn_layer L[64];
    int n = sl_nn_describe(net, L, 64);
    expect_layers_fail(L, n, 1, 2, 3, "node 1 (conv): input has 2 channels, description says 3");
    expect_layers_fail(L, n, 1, 3, 0, "node 1 (conv): needs cout");
    expect_layers_fail(L, n, 4, 0, 9, "node 4 (conv): input 9 is not an earlier node");
    expect_layers_fail(L, n, 2, 2, 5, "node 2 (batchnorm): input has 8 channels, description says 5");
    expect_layers_fail(L, n, 6, 3, 4, "node 6 (groupnorm): 4 groups do not divide 6 channels");
    expect_layers_fail(L, n, 3, 2, 1, "node 3 (silu): takes 0 arguments, argument 1 is 1");
    expect_layers_fail(L, n, 0, 2, 0, "node 0 (input): shape 0 x 12 x 10");
    expect_layers_fail(L, n, 3, 8, SL_NN_INPUT, "node 3 (input): the input must be node 0");
    expect_layers_fail(L, n, 3, 8, 99, "node 3: unknown op 99");
    expect_layers_fail(L, n, 3, 1, 2, "node 3 (silu): takes 1 input, got a node id in slot 2");
    for (int i = 0; i < n; i++)
        if (L[i].op == SL_NN_DENSE) {
            char want[128];
            snprintf(want, sizeof want, "node %d (dense): input has", i);
            expect_layers_fail(L, n, i, 2, L[i].arg[0] + 1, want);
            break;
        }

    /* msgpack: an unknown op, a short node, a wrong parameter count */
    if (!finalize(net, out, 2, 1))
        return;
    for (int t = 0; t < 3; t++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4);
        msgpack_pack_str_with_body(&pk, "nodes", 5);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_array(&pk, 4);
        msgpack_pack_str_with_body(&pk, "input", 5);
        msgpack_pack_int(&pk, 1), msgpack_pack_int(&pk, 4), msgpack_pack_int(&pk, 4);
        const char *op = t == 0 ? "convolution" : "conv";
        msgpack_pack_array(&pk, t == 1 ? 6 : 8);
        msgpack_pack_str_with_body(&pk, op, strlen(op));
        msgpack_pack_int(&pk, 0);
        msgpack_pack_int(&pk, 1), msgpack_pack_int(&pk, 2), msgpack_pack_int(&pk, 3);
        msgpack_pack_int(&pk, 1);
        if (t != 1)
            msgpack_pack_int(&pk, 1), msgpack_pack_int(&pk, 1);
        msgpack_pack_str_with_body(&pk, "output", 6);
        msgpack_pack_int(&pk, 1);
        msgpack_pack_str_with_body(&pk, "params", 6);
        msgpack_pack_int(&pk, t == 2 ? 99 : 1 * 2 * 9 + 2);
        msgpack_pack_str_with_body(&pk, "state", 5);
        msgpack_pack_int(&pk, 0);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        msgpack_unpack_next(&up, sb.data, sb.size, NULL);
        sl_err err = {{0}};
        int o;
        sl_nn *bad = sl_nn_unpack(&up.data, &o, &err);
        CHECK(bad == NULL);
        const char *want[] = {"node 1: unknown op 'convolution'",
                              "node 1 (conv): 6 entries, want 8", "'params' says 99 values"};
        if (!strstr(err.msg, want[t])) {
            fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, want[t]);
            CHECK(0);
        }
        sl_nn_free(bad);
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
    }
    sl_nn_free(net);
}

static void expect_finalize_fail(sl_nn *net, int out, const char *msg_part)
{
    sl_err err = {{0}};
    CHECK(sl_nn_finalize(net, out, 2, 1, &err) < 0);
    if (!strstr(err.msg, msg_part)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, msg_part);
        CHECK(0);
    }
    sl_nn_free(net);
}

static void test_builder_errors(void)
{
    sl_nn *net = sl_nn_new(1, 8, 4);
    int y = sl_nn_conv(net, 0, 2, 3, 1, 0, 2);
    CHECK(y == -1);
    CHECK(sl_nn_relu(net, y) == -1); /* passes the failure on, keeps the first message */
    expect_finalize_fail(net, 0, "node 1 (conv): kernel 3 with dilation 2 spans 5 pixels, padded "
                                 "input is 8 x 4");
    net = sl_nn_new(1, 8, 8);
    sl_nn_relu(net, -1);
    expect_finalize_fail(net, 0, "node 1 (relu): input -1 is not an earlier node");
    net = sl_nn_new(2, 4, 4);
    sl_nn_add(net, sl_nn_relu(net, 0), sl_nn_maxpool(net, 0, 2, 2));
    expect_finalize_fail(net, 0, "node 3 (add): shapes 2 x 4 x 4 and 2 x 2 x 2 differ");
    net = sl_nn_new(2, 4, 4);
    sl_nn_relu(net, 0);
    y = sl_nn_silu(net, 0);
    expect_finalize_fail(net, y, "node 1 (relu) does not lead to the output node 2");
    net = sl_nn_new(2, 4, 4);
    sl_nn_maxpool(net, 0, 5, 1);
    expect_finalize_fail(net, 1, "node 1 (maxpool): window 5 is larger than the 4 x 4 input");
    net = sl_nn_new(2, 4, 4);
    expect_finalize_fail(net, 3, "output node 3 does not exist");
    /* forward refuses a batch larger than the one finalized for */
    net = sl_nn_new(1, 2, 2);
    if (finalize(net, sl_nn_relu(net, 0), 2, 1)) {
        float x[12] = {0};
        CHECK(sl_nn_forward(net, x, 3, 0) == NULL);
        CHECK(sl_nn_forward(net, x, 0, 0) == NULL);
        CHECK(sl_nn_forward(net, x, 2, 0) != NULL);
        sl_nn_free(net);
    }
}

int main(void)
{
    RUN(test_conv_direct);
    RUN(test_conv_grads);
    RUN(test_batchnorm_grads);
    RUN(test_groupnorm_grads);
    RUN(test_activation_grads);
    RUN(test_silu_values);
    RUN(test_pool_grads);
    RUN(test_pool_values);
    RUN(test_dense_grads);
    RUN(test_join_grads);
    RUN(test_batchnorm_modes);
    RUN(test_fusions);
    RUN(test_inference_only);
    RUN(test_mixed_grads);
    RUN(test_grads_accumulate);
    RUN(test_thread_determinism);
    RUN(test_init);
    RUN(test_describe_rebuild);
    RUN(test_corrupt_descriptions);
    RUN(test_builder_errors);
    return check_report("test_nn");
}
