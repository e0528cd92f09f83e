/* nn_impl.h: the inside of the network engine, shared by nn.c (graph, memory,
 * threads, scheduling), nn_ops.c (the layers' forward and backward kernels) and
 * nn_desc.c (descriptions).  Not a public header. */
#ifndef SL_NN_IMPL_H
#define SL_NN_IMPL_H

#include <pthread.h>
#include <stddef.h>

#include "nn.h"

#define NN_BN_EPS 1e-5
#define NN_BN_MOMENTUM 0.1
#define NN_GN_EPS 1e-5
#define NN_NONE ((size_t)-1)

/* How a convolution is computed (picked at finalize from its shape). */
enum nn_conv_algo {
    NN_CONV_IM2COL,  /* im2col + sgemm per sample */
    NN_CONV_1X1,     /* 1x1, stride 1, no padding: sgemm on the input itself */
    NN_CONV_DIRECT,  /* one input channel: direct loops (a GEMM with K = k^2 is slow) */
};

typedef struct nn_node {
    int op, in[2], arg[6];   /* as in sl_nn_layer */
    int c, h, w;             /* output shape */
    size_t size;             /* c h w: floats per sample */
    size_t poff, np;         /* parameters in net->params (NN_NONE, 0 without) */
    size_t soff, ns;         /* state in net->state */
    size_t slot;             /* gradient offset inside each chunk slot, or NN_NONE */
    int live;                /* leads to the output */
    int write[2];            /* backward: the edge from in[k] writes (1) or adds (0) its grad */
    int algo;                /* conv: enum nn_conv_algo */
    float *act, *grad;       /* [max_batch][size] */
    float *mean, *istd;      /* batch norm: [c] of the last training batch;
                                group norm: [max_batch][groups] */
    double *part;            /* batch norm: per-chunk partial sums [chunks][c][2] */
} nn_node;

/* Memory private to one thread. */
typedef struct nn_thread {
    float *col;        /* im2col / col2im workspace */
    float *scale, *shift;  /* [max channels] */
    int dirty;         /* work done since the last barrier */
    struct sl_nn *net;
    int id;
} nn_thread;

struct sl_nn {
    nn_node *node;
    int n, cap;
    int failed;              /* a builder failed; build_err says why */
    sl_err build_err;

    int finalized, output, max_batch, nthreads;
    size_t np, ns, nslot;
    float *params, *grads, *state;
    float *slots;            /* [SL_NN_CHUNKS][nslot]: per-chunk gradient sums */

    void *arena;             /* every buffer above and below lives in it */
    size_t arena_size;
    nn_thread *th;
    pthread_t *tid;
    pthread_barrier_t bar;
    int pool_up;

    /* The call in progress, read by every thread. */
    int job, quit;           /* job: 0 forward, 1 backward */
    int batch, train, nchunks;
    int trained;             /* the last forward was a training one */
    const float *in, *dout;
    float *din;
};

/* Samples [*s0, *s1) of chunk g when batch samples are cut into nchunks. */
static inline void nn_chunk(int batch, int nchunks, int g, int *s0, int *s1)
{
    *s0 = (int)((long)g * batch / nchunks);
    *s1 = (int)((long)(g + 1) * batch / nchunks);
}

/* Kernels (nn_ops.c).  Per-sample kernels run samples [s0, s1); g is the chunk
 * whose gradient slot they add into.  dx says whether the input gradient is
 * wanted at all. */
void nn_input_copy(sl_nn *net, int s0, int s1);
void nn_conv_forward(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1);
void nn_conv_backward(sl_nn *net, nn_node *nd, nn_thread *th, int g, int s0, int s1, int dx);
void nn_bn_forward_stats(sl_nn *net, nn_node *nd, int g, int s0, int s1);
void nn_bn_forward_apply(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1);
void nn_bn_forward_eval(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1);
void nn_bn_backward_stats(sl_nn *net, nn_node *nd, int g, int s0, int s1);
void nn_bn_backward_apply(sl_nn *net, nn_node *nd, nn_thread *th, int s0, int s1, int dx);
void nn_gn_forward(sl_nn *net, nn_node *nd, int s0, int s1);
void nn_gn_backward(sl_nn *net, nn_node *nd, int g, int s0, int s1, int dx);
void nn_act_forward(sl_nn *net, nn_node *nd, int s0, int s1);
void nn_act_backward(sl_nn *net, nn_node *nd, int s0, int s1);
void nn_pool_forward(sl_nn *net, nn_node *nd, int s0, int s1);
void nn_pool_backward(sl_nn *net, nn_node *nd, int s0, int s1);
void nn_join_forward(sl_nn *net, nn_node *nd, int s0, int s1);   /* add, concat, flatten */
void nn_join_backward(sl_nn *net, nn_node *nd, int s0, int s1, int dx);
/* Dense layers split the work into fixed blocks of features: units
 * [u0, u1) of nn_dense_units(). */
int nn_dense_units(const nn_node *nd, int backward);
void nn_dense_forward(sl_nn *net, nn_node *nd, int u0, int u1);
void nn_dense_backward(sl_nn *net, nn_node *nd, int u0, int u1, int dx);

#endif
