/* nnbench: samples/s of the engine on the two reference networks of
 * research/cpu-perf-facts.md, training (forward + backward + Adam) and
 * inference, and the sgemm peak of this machine for scale.
 *
 *   nnbench detect|lens THREADS   prints: net threads train_sps infer_sps gflops_train
 *   nnbench sgemm THREADS         prints: sgemm threads gflops */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn.h"
#include "optim.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cbs(sl_nn *net, int x, int c, int stride)
{
    return sl_nn_silu(net, sl_nn_batchnorm(net, sl_nn_conv(net, x, c, 3, stride, 1, 1)));
}

/* detect: 1x100x100, conv 1-32, 32-32, 32-64 s2, 64-64 s2, 64-64, 1x1 64-5, BN + SiLU.
 * lens: 1x48x48, [conv 32]x2, pool, [64]x2, pool, [128]x2, pool, dense 256, dense 12. */
static sl_nn *reference(const char *name, int *batch)
{
    sl_nn *net;
    int x = 0;
    if (strcmp(name, "detect") == 0) {
        *batch = 32;
        net = sl_nn_new(1, 100, 100);
        x = cbs(net, x, 32, 1);
        x = cbs(net, x, 32, 1);
        x = cbs(net, x, 64, 2);
        x = cbs(net, x, 64, 2);
        x = cbs(net, x, 64, 1);
        x = sl_nn_conv(net, x, 5, 1, 1, 0, 1);
    } else {
        *batch = 64;
        net = sl_nn_new(1, 48, 48);
        for (int c = 32; c <= 128; c *= 2) {
            x = cbs(net, x, c, 1);
            x = cbs(net, x, c, 1);
            x = sl_nn_maxpool(net, x, 2, 2);
        }
        x = sl_nn_dense(net, sl_nn_flatten(net, x), 256);
        x = sl_nn_dense(net, sl_nn_silu(net, x), 12);
    }
    return net;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fprintf(stderr, "usage: nnbench detect|lens|sgemm THREADS\n"), 2;
    int threads = atoi(argv[2]);
    if (strcmp(argv[1], "sgemm") == 0) {
        int n = 1536;
        float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4), *c = calloc((size_t)n * n, 4);
        openblas_set_num_threads(threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double t0 = now();
        int reps = 6;
        for (int i = 0; i < reps; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        printf("sgemm %d %.1f\n", threads, 2.0 * n * n * (double)n * reps / (now() - t0) / 1e9);
        return 0;
    }
    int batch;
    sl_nn *net = reference(argv[1], &batch);
    sl_err err;
    if (sl_nn_finalize(net, sl_nn_n_nodes(net) - 1, batch, threads, &err) < 0)
        return fprintf(stderr, "nnbench: %s\n", err.msg), 1;
    sl_nn_init(net, 1);
    int c, h, w;
    sl_nn_shape(net, 0, &c, &h, &w);
    size_t in = (size_t)batch * c * h * w, out = (size_t)batch * sl_nn_output_size(net);
    float *x = malloc(in * sizeof *x), *d = malloc(out * sizeof *d);
    for (size_t i = 0; i < in; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (size_t i = 0; i < out; i++)
        d[i] = 1e-3f;
    sl_adam adam;
    sl_adam_init(&adam, sl_nn_n_params(net), &err);
    int reps = 12;
    for (int r = -2; r < reps; r++) { /* two warm-up steps */
        if (r == 0)
            adam.step = 0;
        sl_nn_forward(net, x, batch, 1);
        sl_nn_zero_grads(net);
        sl_nn_backward(net, d, NULL);
        sl_adam_step(&adam, sl_nn_params(net), sl_nn_grads(net), 1e-4);
    }
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        sl_nn_forward(net, x, batch, 1);
        sl_nn_zero_grads(net);
        sl_nn_backward(net, d, NULL);
        sl_adam_step(&adam, sl_nn_params(net), sl_nn_grads(net), 1e-4);
    }
    double train = (double)batch * reps / (now() - t0);
    t0 = now();
    for (int r = 0; r < 2 * reps; r++)
        sl_nn_forward(net, x, batch, 0);
    double infer = (double)batch * 2 * reps / (now() - t0);
    /* Training costs about three forward passes of multiply-adds. */
    printf("%s %d %.1f %.1f %.1f\n", argv[1], threads, train, infer,
           3.0 * (double)sl_nn_flops(net) * train / 1e9);
    sl_adam_free(&adam);
    sl_nn_free(net);
    free(x), free(d);
    return 0;
}
