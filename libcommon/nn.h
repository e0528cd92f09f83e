/* nn.h: a small convolutional-network engine (float32, batched NCHW), forward and
 * backward, for training and running the encoders.
 *
 * A network is a DAG of nodes built in topological order: node 0 is the input,
 * each builder call adds one node and returns its id (or -1).  Builders check
 * shapes; the first error is kept in the network (later builders just return
 * -1), and sl_nn_finalize() reports it, e.g. "node 7 (conv): kernel 3 with
 * dilation 2 spans 5 pixels, padded input is 8 x 4".  sl_nn_finalize() then
 * allocates every buffer once, in one mapping of huge pages: nothing is
 * allocated by forward or backward.
 *
 *     sl_nn *net = sl_nn_new(1, 48, 48);
 *     int x = sl_nn_conv(net, 0, 32, 3, 1, 1, 1);
 *     x = sl_nn_silu(net, sl_nn_batchnorm(net, x));
 *     x = sl_nn_dense(net, sl_nn_flatten(net, x), 12);
 *     if (sl_nn_finalize(net, x, 64, 2, &err) < 0) ...
 *     sl_nn_init(net, 42);
 *     out = sl_nn_forward(net, images, 64, 1);   loss, d_out = dLoss/d_out
 *     sl_nn_zero_grads(net); sl_nn_backward(net, d_out, NULL);   then update
 *     sl_nn_params() from sl_nn_grads()
 *
 * Tensors are float32, sample-major: node activations are [batch][c][h][w].
 *
 * Parameters: every trainable value lives in ONE flat array (sl_nn_params), in
 * node order, with gradients in a parallel array (sl_nn_grads), so an optimizer
 * is a loop.  Per node, in this order:
 *     conv       weight [cout][cin][k][k], bias [cout]     (PyTorch's layout)
 *     dense      weight [nout][nin], bias [nout]
 *     batchnorm  gamma [c], beta [c]
 *     groupnorm  gamma [c], beta [c]
 * Non-trainable state (batch norm running mean [c] then running variance [c])
 * is a second flat array (sl_nn_state).  Both travel as plain float arrays in
 * model files; the architecture travels as a description (sl_nn_describe,
 * sl_nn_pack).
 *
 * Threads and determinism: the batch is cut into min(batch, SL_NN_CHUNKS)
 * contiguous chunks fixed by the batch size alone; each of the `threads`
 * threads owns a contiguous range of chunks.  Every sum over samples (weight
 * gradients, batch-norm statistics) is formed per chunk and the chunk results
 * are added in chunk order; dense layers split their work by fixed blocks of
 * features.  So outputs and gradients are byte-identical for any thread count.
 * BLAS runs single-threaded inside that: sl_nn_forward and sl_nn_backward call
 * openblas_set_num_threads(1), which is process-wide; a program that wants a
 * multi-threaded OpenBLAS elsewhere sets it back itself.  One network must not
 * be used by two threads at once; distinct networks may.
 *
 * How it computes (chosen at finalize from each layer's shape): 3x3 stride-1
 * undilated convolutions with 8 or more channels each way use Winograd
 * F(4x4, 3x3) for the forward pass, the input gradient and the weight gradient
 * (4 times fewer multiply-adds; relative errors near 2e-6 instead of 2e-7);
 * other convolutions use im2col and sgemm per sample, in tiles that stay in
 * cache, and stride-1 ones get their input gradient as a convolution with the
 * flipped kernel.  A batch norm feeding only a ReLU or SiLU applies it in the
 * same pass; in evaluation a batch norm fed only by a conv or dense layer is
 * folded into that layer's weights.  So evaluation outputs match an unfused
 * computation to rounding only, and a sample's outputs may differ in the last
 * bits between batch sizes (the chunks, hence the Winograd blocks, differ);
 * for a given batch size they are exactly reproducible.
 *
 * Conventions, as in PyTorch: batch norm uses eps 1e-5 and momentum 0.1, and
 * its running variance is updated with the unbiased batch variance; group norm
 * uses eps 1e-5.  Pooling windows have no padding and the output size is rounded
 * down.  sl_nn_init draws conv and dense weights from Kaiming (He) normal,
 * N(0, 2 / fan_in), sets biases and beta to 0, gamma to 1, running means to 0 and
 * running variances to 1. */
#ifndef SL_NN_H
#define SL_NN_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "err.h"

/* The batch is split into at most this many chunks, so more threads than this
 * are not used. */
#define SL_NN_CHUNKS 16

typedef struct sl_nn sl_nn;

/* The operators.  What each takes and does (shape rule, kernels) is one section
 * of nn/nn_ops.c and one row of its table; an operator is added there, here and
 * with its builder below. */
enum sl_nn_op {
    SL_NN_INPUT,
    SL_NN_CONV,
    SL_NN_BATCHNORM,
    SL_NN_GROUPNORM,
    SL_NN_RELU,
    SL_NN_SILU,
    SL_NN_MAXPOOL,
    SL_NN_AVGPOOL,
    SL_NN_GLOBAL_AVGPOOL,
    SL_NN_FLATTEN,
    SL_NN_DENSE,
    SL_NN_ADD,
    SL_NN_CONCAT,
    SL_NN_N_OPS
};

/* ---- Building ----------------------------------------------------------- */

/* A network whose node 0 is an input of the given shape; NULL only when out of
 * memory (a bad shape is reported by sl_nn_finalize). */
sl_nn *sl_nn_new(int channels, int height, int width);
void sl_nn_free(sl_nn *net);

/* Square kernel k, output size (n + 2 pad - dilation (k - 1) - 1) / stride + 1,
 * zero padding, with a bias. */
int sl_nn_conv(sl_nn *net, int in, int cout, int k, int stride, int pad, int dilation);
/* Per channel; on a [c][1][1] input (after dense) it is PyTorch's BatchNorm1d. */
int sl_nn_batchnorm(sl_nn *net, int in);
int sl_nn_groupnorm(sl_nn *net, int in, int groups);
int sl_nn_relu(sl_nn *net, int in);
int sl_nn_silu(sl_nn *net, int in);   /* x sigmoid(x) */
int sl_nn_maxpool(sl_nn *net, int in, int k, int stride);
int sl_nn_avgpool(sl_nn *net, int in, int k, int stride);
int sl_nn_global_avgpool(sl_nn *net, int in);       /* [c][h][w] -> [c][1][1] */
int sl_nn_flatten(sl_nn *net, int in);              /* [c][h][w] -> [c h w][1][1] */
int sl_nn_dense(sl_nn *net, int in, int nout);      /* on the flattened input */
int sl_nn_add(sl_nn *net, int a, int b);            /* same shapes; residual sum */
int sl_nn_concat(sl_nn *net, int a, int b);         /* along channels */

/* Node count, and a node's output shape (returns -1 for a bad id). */
int sl_nn_n_nodes(const sl_nn *net);
int sl_nn_shape(const sl_nn *net, int node, int *c, int *h, int *w);

/* Fixes the output node and allocates everything for batches of up to
 * max_batch samples run by `threads` threads (capped at SL_NN_CHUNKS).  Fails
 * with the first builder error, or when some node does not lead to the output.
 * Parameters are zero until sl_nn_init or a copy into sl_nn_params. */
int sl_nn_finalize(sl_nn *net, int output, int max_batch, int threads, sl_err *err);

/* Before finalizing: the network will only ever run evaluation forwards (an
 * encoder applied to data).  Gradients and the buffers that only training
 * reads are then not allocated, which divides the memory by 2 to 4; training
 * forwards return NULL and backward fails. */
void sl_nn_inference_only(sl_nn *net);

/* Deterministic in the seed: node i draws from rng stream i, substream
 * SL_RNG_NN_INIT, of the seed. */
void sl_nn_init(sl_nn *net, uint64_t seed);

/* ---- Parameters ---------------------------------------------------------- */

size_t sl_nn_n_params(const sl_nn *net);
float *sl_nn_params(sl_nn *net);
float *sl_nn_grads(sl_nn *net);   /* NULL for an inference-only network */
void sl_nn_zero_grads(sl_nn *net);
size_t sl_nn_n_state(const sl_nn *net);
float *sl_nn_state(sl_nn *net);
/* Where a node's parameters start in sl_nn_params (its state in sl_nn_state);
 * (size_t)-1 for a node without any. */
size_t sl_nn_param_offset(const sl_nn *net, int node);
size_t sl_nn_state_offset(const sl_nn *net, int node);

/* ---- Running ------------------------------------------------------------- */

/* Runs batch (1..max_batch) samples of input [batch][c][h][w].  train = 1 uses
 * batch statistics in batch norm (and updates its running averages) and keeps
 * what backward needs; train = 0 uses the running averages.  Returns the output
 * node's activations [batch][sl_nn_output_size], valid until the next forward;
 * NULL for an unfinalized network or a batch out of range. */
const float *sl_nn_forward(sl_nn *net, const float *input, int batch, int train);

/* Back-propagates d_output [batch][sl_nn_output_size] through the last forward,
 * which must have been a training one, ADDING the parameter gradients into
 * sl_nn_grads.  When d_input is not NULL it receives the gradient with respect
 * to the input [batch][c][h][w].  Returns 0, or -1 when there was no training
 * forward to go back through. */
int sl_nn_backward(sl_nn *net, const float *d_output, float *d_input);

int sl_nn_output_size(const sl_nn *net);   /* floats per sample */
/* Multiply-adds times 2 of the convolutions and dense layers, per sample,
 * forward. */
size_t sl_nn_flops(const sl_nn *net);

/* ---- The architecture as data -------------------------------------------- */

/* One node: its op, input node ids (-1 when unused) and integer arguments:
 *     input            c, h, w
 *     conv             cin, cout, k, stride, pad, dilation
 *     batchnorm        c
 *     groupnorm        c, groups
 *     maxpool/avgpool  k, stride
 *     dense            nin, nout
 *     relu, silu, global_avgpool, flatten, add, concat: none
 * cin, c and nin repeat what the input's shape implies, so that a description
 * that does not fit together is caught when it is rebuilt. */
typedef struct sl_nn_layer {
    int op;
    int in[2];
    int arg[6];
} sl_nn_layer;

/* Fills layers[0 .. min(n, max) - 1] and returns n, the node count. */
int sl_nn_describe(const sl_nn *net, sl_nn_layer *layers, int max);
/* Rebuilds the (unfinalized) network; NULL with a message naming the node on
 * failure. */
sl_nn *sl_nn_from_layers(const sl_nn_layer *layers, int n, sl_err *err);
const char *sl_nn_op_name(int op);

/* msgpack form, for model records: a map
 *     {"nodes": [[op name, input ids..., args...], ...], "output": id,
 *      "params": n_params, "state": n_state}
 * e.g. ["conv", 3, 32, 64, 3, 1, 1, 1] is a conv of node 3.  sl_nn_pack needs a
 * finalized network.  sl_nn_unpack rebuilds it unfinalized, stores the output
 * id in *output and checks the parameter and state counts. */
void sl_nn_pack(const sl_nn *net, msgpack_packer *pk);
sl_nn *sl_nn_unpack(const msgpack_object *o, int *output, sl_err *err);

#endif
