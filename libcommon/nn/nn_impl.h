/* nn_impl.h: the inside of the network engine, shared by nn.c (graph, memory,
 * threads, scheduling), nn_ops.c (the operators: each one's shape rule, buffers
 * and forward and backward kernels, and the table of them), nn_wino.c
 * (Winograd convolution) and nn_desc.c (descriptions).  It lives in
 * libcommon/nn/, outside the include path the rest of the code builds with:
 * nn.h is the engine's only public header.
 *
 * Adding an operator: its enum entry and builder in nn.h and nn.c (public), and
 * in nn_ops.c one section (shape, forward, backward, buffers if it keeps any)
 * and one row of nn_op_table.  Nothing else dispatches on the op, except the
 * fusion rules between two named ops in nn.c (plan_fusions). */
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

/* Chunks of the largest batch: what per-chunk buffers are sized for. */
static inline int nn_max_chunks(const sl_nn *net)
{
    return net->max_batch < SL_NN_CHUNKS ? net->max_batch : SL_NN_CHUNKS;
}

/* First sample of chunk g of the batch in progress (g = nchunks: the end). */
static inline int nn_chunk_start(const sl_nn *net, int g)
{
    return (int)((long)g * net->batch / net->nchunks);
}

/* The part of the batch in progress that one thread runs: chunks [g0, g1),
 * which are samples [s0, s1). */
typedef struct nn_span {
    int g0, g1, s0, s1;
} nn_span;

/* Buffers are carved from one arena (nn.c); while measuring, base is NULL and
 * nn_carve returns NULL. */
typedef struct nn_carver {
    char *base;
    size_t off;
} nn_carver;
void *nn_carve(nn_carver *cv, size_t bytes);

/* Per-thread workspaces, in floats, that the largest node needs. */
typedef struct nn_work {
    size_t col, du; /* see nn_thread */
} nn_work;

/* What the engine's generic code asks of an operator's kind. */
enum nn_op_flag {
    NN_LINEAR = 1,      /* weights [nout][fan_in] then bias [nout], nout = arg[1]: Kaiming
                           initialization, counted by sl_nn_flops, and in evaluation a batch
                           norm right after it is folded into its weights */
    NN_NORM = 2,        /* gamma [c] then beta [c], initialized to 1 and 0 */
    NN_ACTIVATION = 4,  /* elementwise, computed by v_act (nn_simd.h) with the op as its id:
                           fused into a batch norm right before it */
    NN_CHUNK_GRADS = 8, /* per-sample kernels that sum parameter gradients per chunk into
                           net->slots (added up in chunk order by nn.c) */
    NN_BATCH_WIDE = 16, /* runs on the whole batch, split by features rather than samples:
                           every thread waits for the input before and the output after */
};

/* One operator.  Kernels get the thread running them and its span; a kernel
 * that reads what other threads wrote in the same pass (batch statistics)
 * waits for them itself with nn_sync. */
typedef struct nn_op_def {
    const char *name;  /* in descriptions and messages */
    int inputs, args;  /* node ids and integer arguments it takes (sl_nn_layer) */
    unsigned flags;    /* enum nn_op_flag */
    /* Checks nd's arguments against its inputs x and y (NULL when not taken)
     * and sets its output shape (preset to x's), parameter count np and state
     * count ns, and whatever it plans from its arguments alone; -1 after
     * nn_fail.  NULL: shape of x, nothing to check. */
    int (*shape)(sl_nn *net, nn_node *nd, const nn_node *x, const nn_node *y);
    /* Carves the node's own buffers besides act, grad and wfold (NULL: none)
     * and raises ws to the per-thread workspace its kernels need. */
    void (*buffers)(sl_nn *net, nn_node *nd, nn_carver *cv, nn_work *ws);
    void (*forward)(nn_thread *th, nn_node *nd, const nn_span *sp);
    /* dx: bit k is set when the gradient of input k is wanted. */
    void (*backward)(nn_thread *th, nn_node *nd, const nn_span *sp, int dx);
} nn_op_def;

extern const nn_op_def nn_op_table[SL_NN_N_OPS];

/* A network without nodes (nn.c); NULL when out of memory. */
sl_nn *nn_empty(void);

/* Appends a layer after checking it (nn.c); returns its id or -1, the message
 * then in net->build_err. */
int nn_push(sl_nn *net, const sl_nn_layer *L);

/* Keeps the first builder error of the network (nn.c); returns -1. */
int nn_fail(sl_nn *net, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Waits for every thread when work was done since the last wait (nn.c). */
void nn_sync(nn_thread *th);

/* Derived weights (folded, flipped, Winograd-transformed) of the NN_LINEAR
 * layers (nn_ops.c) are rebuilt at the start of each pass, thread t of T doing
 * its share of the output channels. */
int nn_needs_prep(const sl_nn *net, const nn_node *nd, int backward);
void nn_prep_forward(sl_nn *net, nn_node *nd, int t, int T);
void nn_prep_backward(sl_nn *net, nn_node *nd, int t, int T);

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

#endif
