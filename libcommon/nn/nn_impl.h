/* nn_impl.h: the inside of the network engine, shared by nn.c (graph, memory,
 * threads, scheduling), nn_ops.c (the layers' forward and backward kernels),
 * nn_wino.c (Winograd convolution) and nn_desc.c (descriptions).  Not a public
 * header. */
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
    NN_CONV_IM2COL,  /* im2col + sgemm per sample, in tiles of output rows */
    NN_CONV_1X1,     /* 1x1, stride 1, no padding: sgemm on the input itself */
};

/* Shape of a convolution over one sample. */
typedef struct conv_geom {
    int cin, cout, k, st, pad, dil;
    int h, w, ho, wo; /* input and output size */
} conv_geom;

/* Floats of an im2col tile: tiles of whole output rows are sized to stay in the
 * L2 cache together with the GEMM's packed panels. */
#define NN_TILE_FLOATS (64 * 1024)

/* Fusions, planned at finalize:
 * - a batch norm whose only consumer is a ReLU or SiLU computes that activation
 *   in its own passes (training and evaluation); the activation node is then
 *   skipped, and backward recomputes the normalized value instead of storing it;
 * - in evaluation, a batch norm that is the only consumer of a conv or dense
 *   layer is folded into that layer's weights (recomputed each evaluation
 *   forward), and the activation runs on each output tile while it is in cache. */

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
    int flip;                /* conv: input gradient as a conv with the flipped kernel */
    int act_node;            /* batch norm: id of the fused activation, or 0 */
    int fold;                /* conv, dense: id of the batch norm folded in evaluation, or 0 */
    int skip_train, skip_eval; /* computed by another node's kernel */
    float *act, *grad;       /* [max_batch][size] */
    float *mean, *istd;      /* batch norm: [c] of the last training batch;
                                group norm: [max_batch][groups] */
    float *scale, *shift;    /* batch norm: y = x scale + shift of the last training batch */
    double *part;            /* batch norm: per-chunk partial sums [chunks][c][2] */
    float *wflip;            /* conv with flip: weights [cin][cout][k k] reversed */
    float *wfold;            /* conv, dense with fold: weights and bias with the norm */
    float *wino, *wino_flip; /* Winograd-transformed weights of the forward and of the
                                flipped (input gradient) conv, or NULL when not used */
} nn_node;

/* Memory private to one thread. */
typedef struct nn_thread {
    float *col;        /* im2col / col2im / Winograd workspace */
    float *du;         /* Winograd weight gradient of the chunk being run */
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
    int infer_only;          /* see sl_nn_inference_only */
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

/* First sample of chunk g of the batch in progress (g = nchunks: the end). */
static inline int nn_chunk_start(const sl_nn *net, int g)
{
    return (int)((long)g * net->batch / net->nchunks);
}

extern const int nn_op_inputs[SL_NN_N_OPS], nn_op_args[SL_NN_N_OPS];

/* A network without nodes (nn.c); NULL when out of memory. */
sl_nn *nn_empty(void);

/* Appends a layer after checking it (nn.c); returns its id or -1, the message
 * then in net->build_err. */
int nn_push(sl_nn *net, const sl_nn_layer *L);

/* Kernels (nn_ops.c).  Per-sample kernels run samples [s0, s1); g is the chunk
 * whose gradient slot they add into.  dx says whether the input gradient is
 * wanted at all. */
void nn_input_copy(sl_nn *net, int s0, int s1);
/* Derived weights (folded, flipped, Winograd-transformed) are rebuilt at the
 * start of each pass, thread t of T doing its share of the output channels. */
int nn_needs_prep(const sl_nn *net, const nn_node *nd, int backward);
void nn_prep_forward(sl_nn *net, nn_node *nd, int t, int T);
void nn_prep_backward(sl_nn *net, nn_node *nd, int t, int T);
conv_geom nn_conv_geom(const sl_nn *net, const nn_node *nd);
conv_geom nn_conv_flipped(const conv_geom *g);
int nn_conv_wino(const sl_nn *net, const nn_node *nd, int flip);
size_t nn_conv_workspace(const sl_nn *net, const nn_node *nd);

/* Winograd F(4x4, 3x3) (nn_wino.c), for 3x3 stride-1 undilated convs: 36
 * products per 4x4 output tile instead of 144 multiply-adds. */
int nn_wino_applies(const conv_geom *g);
size_t nn_wino_workspace(const conv_geom *g);
/* u [36][cout][cin] from w [cout][cin][3][3], output channels [o0, o1). */
void nn_wino_weights(const float *w, int cout, int cin, int o0, int o1, float *u);
/* For ns samples (input sample s at x + s xs, output at y + s ys):
 * y = conv(x) + bias (bias NULL: none) then activation op, or y += conv(x) when
 * add. */
void nn_wino_conv(const conv_geom *g, const float *u, const float *bias, const float *x,
                  size_t xs, float *y, size_t ys, int ns, int add, int op, float *work);
/* du [36][cout][cin] = the transformed weight gradient of ns samples (input x,
 * output gradient dy, strides as above); then dw [cout][cin][3][3] from du. */
void nn_wino_grad(const conv_geom *g, const float *x, size_t xs, const float *dy, size_t ys,
                  int ns, float *du, float *work);
void nn_wino_grad_weights(const float *du, int cout, int cin, float *dw);
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
