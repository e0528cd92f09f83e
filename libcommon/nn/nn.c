/* nn.c: building the graph, allocating its memory once, running it on a pool of
 * threads.  What each operator is and does (its shape rule, buffers and
 * kernels) is in nn_ops.c, found through nn_op_table: this file only walks the
 * graph.  Descriptions are in nn_desc.c (the optimizer is optim.c); nn_impl.h
 * explains the shared structures. */
#include "nn_impl.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "rng.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define NN_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define NN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define NN_POISON(p, n) ((void)(p), (void)(n))
#define NN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

const char *sl_nn_op_name(int op)
{
    return op >= 0 && op < SL_NN_N_OPS ? nn_op_table[op].name : "unknown";
}

/* ---- Building ----------------------------------------------------------- */

sl_nn *nn_empty(void)
{
    sl_nn *net = calloc(1, sizeof *net);
    if (net)
        net->node = malloc(16 * sizeof *net->node);
    if (!net || !net->node) {
        free(net);
        return NULL;
    }
    net->cap = 16;
    return net;
}

sl_nn *sl_nn_new(int channels, int height, int width)
{
    sl_nn *net = nn_empty();
    if (!net)
        return NULL;
    sl_nn_layer in = {SL_NN_INPUT, {-1, -1}, {channels, height, width}};
    nn_push(net, &in); /* a bad shape stays in net->build_err for finalize */
    return net;
}

int nn_fail(sl_nn *net, const char *fmt, ...)
{
    if (!net->failed) {
        va_list ap;
        va_start(ap, fmt);
        sl_err_vset(&net->build_err, fmt, ap);
        va_end(ap);
        net->failed = 1;
    }
    return -1;
}

/* Largest per-sample tensor we accept, so that sizes fit an int. */
#define NN_MAX_SIZE (1 << 28)

/* Layer L, to be appended as node net->n, names a known op and gives it the
 * inputs and arguments it takes: earlier nodes, unused slots -1 and 0. */
static int check_arity(sl_nn *net, const sl_nn_layer *L)
{
    int id = net->n;
    const char *name = sl_nn_op_name(L->op);
    if (L->op < 0 || L->op >= SL_NN_N_OPS)
        return nn_fail(net, "node %d: unknown op %d", id, L->op);
    const nn_op_def *op = &nn_op_table[L->op];
    int nin = op->inputs;
    for (int k = op->args; k < 6; k++)
        if (L->arg[k] != 0)
            return nn_fail(net, "node %d (%s): takes %d arguments, argument %d is %d", id, name,
                           op->args, k + 1, L->arg[k]);
    if ((L->op == SL_NN_INPUT) != (id == 0))
        return nn_fail(net, "node %d (%s): the input must be node 0 and only node 0", id, name);
    for (int k = 0; k < 2; k++) {
        if (k >= nin) {
            if (L->in[k] != -1)
                return nn_fail(net, "node %d (%s): takes %d input%s, got a node id in slot %d",
                               id, name, nin, nin == 1 ? "" : "s", k + 1);
            continue;
        }
        if (L->in[k] < 0 || L->in[k] >= id)
            return nn_fail(net, "node %d (%s): input %d is not an earlier node", id, name,
                           L->in[k]);
    }
    return 0;
}

/* Checks layer L, to be appended as node net->n, and fills nd: the arity by
 * check_arity, the rest by its operator's shape rule.  Everything a builder or
 * a description can get wrong is caught there, with the node named. */
static int shape_node(sl_nn *net, const sl_nn_layer *L, nn_node *nd)
{
    if (check_arity(net, L) < 0)
        return -1;
    const nn_op_def *op = &nn_op_table[L->op];
    const nn_node *x = op->inputs > 0 ? &net->node[L->in[0]] : NULL;
    const nn_node *y = op->inputs > 1 ? &net->node[L->in[1]] : NULL;
    memset(nd, 0, sizeof *nd);
    nd->op = L->op;
    nd->in[0] = L->in[0];
    nd->in[1] = L->in[1];
    memcpy(nd->arg, L->arg, sizeof nd->arg);
    nd->poff = nd->soff = nd->slot = NN_NONE;
    if (x) {
        nd->c = x->c;
        nd->h = x->h;
        nd->w = x->w;
    }
    if (op->shape && op->shape(net, nd, x, y) < 0)
        return -1;
    if ((double)nd->c * nd->h * nd->w > NN_MAX_SIZE)
        return nn_fail(net, "node %d (%s): %d x %d x %d values per sample is too many", net->n,
                       op->name, nd->c, nd->h, nd->w);
    nd->size = (size_t)nd->c * nd->h * nd->w;
    if (nd->np) {
        nd->poff = net->np;
        net->np += nd->np;
    }
    if (nd->ns) {
        nd->soff = net->ns;
        net->ns += nd->ns;
    }
    return 0;
}

/* Appends layer L; returns its node id, or -1 (the reason kept in the net). */
int nn_push(sl_nn *net, const sl_nn_layer *L)
{
    /* After a failure the network cannot be finalized; the first message is the
     * one that matters, and later builders fed its -1 just pass it on. */
    if (!net || net->failed)
        return -1;
    if (net->finalized)
        return nn_fail(net, "node %d (%s): the network is already finalized", net->n,
                    sl_nn_op_name(L->op));
    if (net->n == net->cap) {
        int cap = net->cap ? 2 * net->cap : 16;
        nn_node *p = realloc(net->node, cap * sizeof *p);
        if (!p)
            return nn_fail(net, "node %d: out of memory", net->n);
        net->node = p;
        net->cap = cap;
    }
    if (shape_node(net, L, &net->node[net->n]) < 0)
        return -1;
    return net->n++;
}

static int push1(sl_nn *net, int op, int in, int a0, int a1, int a2, int a3, int a4, int a5)
{
    sl_nn_layer L = {op, {in, -1}, {a0, a1, a2, a3, a4, a5}};
    return nn_push(net, &L);
}

/* The redundant first argument (input channels or size) of a builder. */
static int in_c(const sl_nn *net, int in)
{
    return net && in >= 0 && in < net->n ? net->node[in].c : 0;
}

int sl_nn_conv(sl_nn *net, int in, int cout, int k, int stride, int pad, int dilation)
{
    return push1(net, SL_NN_CONV, in, in_c(net, in), cout, k, stride, pad, dilation);
}

int sl_nn_batchnorm(sl_nn *net, int in)
{
    return push1(net, SL_NN_BATCHNORM, in, in_c(net, in), 0, 0, 0, 0, 0);
}

int sl_nn_groupnorm(sl_nn *net, int in, int groups)
{
    return push1(net, SL_NN_GROUPNORM, in, in_c(net, in), groups, 0, 0, 0, 0);
}

int sl_nn_relu(sl_nn *net, int in) { return push1(net, SL_NN_RELU, in, 0, 0, 0, 0, 0, 0); }
int sl_nn_silu(sl_nn *net, int in) { return push1(net, SL_NN_SILU, in, 0, 0, 0, 0, 0, 0); }

int sl_nn_maxpool(sl_nn *net, int in, int k, int stride)
{
    return push1(net, SL_NN_MAXPOOL, in, k, stride, 0, 0, 0, 0);
}

int sl_nn_avgpool(sl_nn *net, int in, int k, int stride)
{
    return push1(net, SL_NN_AVGPOOL, in, k, stride, 0, 0, 0, 0);
}

int sl_nn_global_avgpool(sl_nn *net, int in)
{
    return push1(net, SL_NN_GLOBAL_AVGPOOL, in, 0, 0, 0, 0, 0, 0);
}

int sl_nn_flatten(sl_nn *net, int in) { return push1(net, SL_NN_FLATTEN, in, 0, 0, 0, 0, 0, 0); }

int sl_nn_dense(sl_nn *net, int in, int nout)
{
    int nin = net && in >= 0 && in < net->n ? (int)net->node[in].size : 0;
    return push1(net, SL_NN_DENSE, in, nin, nout, 0, 0, 0, 0);
}

static int push2(sl_nn *net, int op, int a, int b)
{
    sl_nn_layer L = {op, {a, b}, {0}};
    return nn_push(net, &L);
}

int sl_nn_add(sl_nn *net, int a, int b) { return push2(net, SL_NN_ADD, a, b); }
int sl_nn_concat(sl_nn *net, int a, int b) { return push2(net, SL_NN_CONCAT, a, b); }

int sl_nn_n_nodes(const sl_nn *net) { return net->n; }

int sl_nn_shape(const sl_nn *net, int node, int *c, int *h, int *w)
{
    if (node < 0 || node >= net->n)
        return -1;
    *c = net->node[node].c;
    *h = net->node[node].h;
    *w = net->node[node].w;
    return 0;
}

/* ---- Finalizing: memory ---------------------------------------------------- */

/* Buffers are carved from one arena, 64-byte aligned, with a 64-byte gap after
 * each that AddressSanitizer builds poison, so an overrun is still caught. */
void *nn_carve(nn_carver *cv, size_t bytes)
{
    size_t off = (cv->off + 63) & ~(size_t)63;
    cv->off = off + bytes + 64;
    if (!cv->base)
        return NULL;
    NN_POISON(cv->base + off + bytes, 64);
    return cv->base + off;
}

/* Whether a node's own activations are ever written: not those of a batch norm
 * with a fused activation, nor, when only evaluating, those of a layer with a
 * folded norm (it writes the norm's or the activation's). */
static int holds_act(const sl_nn *net, const nn_node *nd)
{
    if (nd->act_node)
        return 0;
    return !(net->infer_only && nd->fold);
}

/* Assigns every buffer (or only measures, when cv->base is NULL). */
static void layout(sl_nn *net, nn_carver *cv)
{
    size_t B = (size_t)net->max_batch, G = (size_t)nn_max_chunks(net);
    nn_work ws = {0, 0};
    int maxc = 1, train = !net->infer_only;
    net->params = nn_carve(cv, net->np * sizeof(float));
    net->grads = train ? nn_carve(cv, net->np * sizeof(float)) : NULL;
    net->state = nn_carve(cv, net->ns * sizeof(float));
    net->slots = nn_carve(cv, train * G * net->nslot * sizeof(float));
    for (int i = 0; i < net->n; i++) {
        nn_node *nd = &net->node[i];
        size_t n = holds_act(net, nd) ? B * nd->size : 0;
        nd->act = nn_carve(cv, n * sizeof(float));
        nd->grad = nn_carve(cv, train * n * sizeof(float));
        if (nn_op_table[nd->op].buffers)
            nn_op_table[nd->op].buffers(net, nd, cv, &ws);
        if (nd->fold)
            nd->wfold = nn_carve(cv, nd->np * sizeof(float));
        maxc = nd->c > maxc ? nd->c : maxc;
    }
    for (int t = 0; t < net->nthreads; t++) {
        net->th[t].col = nn_carve(cv, ws.col * sizeof(float));
        net->th[t].du = nn_carve(cv, ws.du * sizeof(float));
        net->th[t].scale = nn_carve(cv, maxc * sizeof(float));
        net->th[t].shift = nn_carve(cv, maxc * sizeof(float));
    }
}

/* One anonymous mapping, asked for transparent huge pages: a fresh 4 KiB page
 * costs ~15 us here, and the buffers of a CNN run to hundreds of MiB.  Every
 * page is touched now so that no step ever faults; all buffers start at 0. */
static int alloc_arena(sl_nn *net, sl_err *err)
{
    nn_carver cv = {NULL, 0};
    layout(net, &cv);
    const size_t huge = (size_t)2 << 20;
    size_t size = (cv.off + huge - 1) / huge * huge;
    void *p = mmap(NULL, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return sl_err_set(err, "network: cannot map %.1f MiB for its buffers",
                          (double)size / (1 << 20));
    /* Trim to a 2 MiB-aligned start so whole huge pages fit. */
    char *base = (char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
    if (base > (char *)p)
        munmap(p, base - (char *)p);
    if (base + size < (char *)p + size + huge)
        munmap(base + size, (char *)p + size + huge - (base + size));
    madvise(base, size, MADV_HUGEPAGE);
    NN_UNPOISON(base, size); /* the shadow of an earlier mapping at this address */
    for (size_t i = 0; i < size; i += 4096) /* fault every page in (the kernel zeroes it) */
        base[i] = 0;
    net->arena = base;
    net->arena_size = size;
    cv.base = base;
    cv.off = 0;
    layout(net, &cv);
    return 0;
}

/* ---- Finalizing: the graph -------------------------------------------------- */

static int check_graph(sl_nn *net, int output, sl_err *err)
{
    if (output < 0 || output >= net->n)
        return sl_err_set(err, "network: output node %d does not exist (%d nodes)", output, net->n);
    /* Every node must feed the output: a dead branch is almost surely a bug, and
     * it would leave its gradients undefined. */
    for (int i = 0; i < net->n; i++)
        net->node[i].live = i == output;
    for (int i = output; i > 0; i--)
        if (net->node[i].live)
            for (int k = 0; k < 2; k++)
                if (net->node[i].in[k] >= 0)
                    net->node[net->node[i].in[k]].live = 1;
    for (int i = 0; i < net->n; i++)
        if (!net->node[i].live)
            return sl_err_set(err, "network: node %d (%s) does not lead to the output node %d",
                              i, sl_nn_op_name(net->node[i].op), output);
    return 0;
}

/* Backward visits nodes from the last down and each node's inputs in order; the
 * first edge reaching a node writes its gradient, later ones add. */
static int plan_backward(sl_nn *net, sl_err *err)
{
    char *seen = calloc(net->n, 1);
    if (!seen)
        return sl_err_set(err, "network: out of memory");
    for (int i = net->n - 1; i > 0; i--)
        for (int k = 0; k < 2; k++) {
            int j = net->node[i].in[k];
            if (j < 0)
                continue;
            net->node[i].write[k] = !seen[j];
            seen[j] = 1;
        }
    free(seen);
    return 0;
}

/* Per-sample layers sum their parameter gradients per chunk, each in its slot. */
static void plan_slots(sl_nn *net)
{
    net->nslot = 0;
    for (int i = 0; i < net->n; i++) {
        nn_node *nd = &net->node[i];
        if (nn_op_table[nd->op].flags & NN_CHUNK_GRADS) {
            nd->slot = net->nslot;
            net->nslot += nd->np;
        }
    }
}

/* The fusions described in nn_impl.h, where a node's only consumer allows them. */
static int plan_fusions(sl_nn *net, sl_err *err)
{
    int *uses = calloc(net->n, sizeof *uses);
    /* Fusing changes how results round: without it the same network would
     * give other bits, so running out of memory here is an error. */
    if (!uses)
        return sl_err_set(err, "network: out of memory");
    for (int i = 1; i < net->n; i++)
        for (int k = 0; k < 2; k++)
            if (net->node[i].in[k] >= 0)
                uses[net->node[i].in[k]]++;
    for (int i = 1; i < net->n; i++) {
        nn_node *nd = &net->node[i], *x = &net->node[nd->in[0]];
        int single = uses[nd->in[0]] == 1 && nd->in[0] != net->output;
        unsigned xf = nn_op_table[x->op].flags;
        if ((nn_op_table[nd->op].flags & NN_ACTIVATION) && x->op == SL_NN_BATCHNORM && single) {
            x->act_node = i;
            nd->skip_train = nd->skip_eval = 1;
        }
        if (nd->op == SL_NN_BATCHNORM && (xf & NN_LINEAR) && single) {
            x->fold = i;
            nd->skip_eval = 1;
        }
    }
    free(uses);
    return 0;
}

static void *worker(void *arg);

static int start_threads(sl_nn *net, sl_err *err)
{
    int T = net->nthreads;
    if (T == 1)
        return 0;
    net->tid = calloc(T, sizeof *net->tid);
    if (!net->tid)
        return sl_err_set(err, "network: out of memory");
    if (pthread_barrier_init(&net->bar, NULL, T) != 0)
        return sl_err_set(err, "network: cannot create a barrier for %d threads", T);
    net->pool_up = 1;
    for (int t = 1; t < T; t++)
        if (pthread_create(&net->tid[t], NULL, worker, &net->th[t]) != 0) {
            net->nthreads = t; /* what sl_nn_free must stop */
            return sl_err_set(err, "network: cannot start thread %d of %d", t + 1, T);
        }
    return 0;
}

static void stop_threads(sl_nn *net)
{
    if (!net->pool_up)
        return;
    if (net->nthreads > 1) {
        net->quit = 1;
        pthread_barrier_wait(&net->bar);
        for (int t = 1; t < net->nthreads; t++)
            pthread_join(net->tid[t], NULL);
    }
    pthread_barrier_destroy(&net->bar);
    net->pool_up = 0;
}

void sl_nn_inference_only(sl_nn *net)
{
    if (net && !net->finalized)
        net->infer_only = 1;
}

int sl_nn_finalize(sl_nn *net, int output, int max_batch, int threads, sl_err *err)
{
    if (!net)
        return sl_err_set(err, "network: out of memory while building");
    if (net->failed) {
        *err = net->build_err;
        return -1;
    }
    if (net->finalized)
        return sl_err_set(err, "network: already finalized");
    if (max_batch < 1 || threads < 1)
        return sl_err_set(err, "network: batch size %d and thread count %d must be positive",
                          max_batch, threads);
    if (check_graph(net, output, err) < 0)
        return -1;
    net->output = output;
    net->max_batch = max_batch;
    net->nthreads = threads < nn_max_chunks(net) ? threads : nn_max_chunks(net);
    if (plan_backward(net, err) < 0)
        return -1;
    plan_slots(net);
    if (plan_fusions(net, err) < 0)
        return -1;
    net->th = calloc(net->nthreads, sizeof *net->th);
    if (!net->th)
        return sl_err_set(err, "network: out of memory");
    for (int t = 0; t < net->nthreads; t++) {
        net->th[t].net = net;
        net->th[t].id = t;
    }
    if (alloc_arena(net, err) < 0 || start_threads(net, err) < 0) {
        stop_threads(net);
        return -1;
    }
    net->finalized = 1;
    return 0;
}

void sl_nn_free(sl_nn *net)
{
    if (!net)
        return;
    stop_threads(net);
    if (net->arena) {
        NN_UNPOISON(net->arena, net->arena_size);
        munmap(net->arena, net->arena_size);
    }
    free(net->tid);
    free(net->th);
    free(net->node);
    free(net);
}

/* ---- Parameters -------------------------------------------------------------- */

void sl_nn_init(sl_nn *net, uint64_t seed)
{
    for (int i = 0; i < net->n; i++) {
        nn_node *nd = &net->node[i];
        if (!nd->np)
            continue;
        float *p = net->params + nd->poff;
        sl_rng r;
        sl_rng_init(&r, seed, (uint64_t)i, SL_RNG_NN_INIT);
        if (nn_op_table[nd->op].flags & NN_LINEAR) {
            size_t nout = (size_t)nd->arg[1];
            size_t nw = nd->np - nout;
            double sd = sqrt(2.0 / (double)(nw / nout)); /* fan_in = weights per output */
            for (size_t j = 0; j < nw; j++)
                p[j] = (float)(sd * sl_rng_normal(&r));
            memset(p + nw, 0, nout * sizeof *p);
        } else if (nn_op_table[nd->op].flags & NN_NORM) { /* gamma 1, beta 0 */
            for (int c = 0; c < nd->c; c++) {
                p[c] = 1.0f;
                p[nd->c + c] = 0.0f;
            }
        }
        if (nd->ns)
            for (int c = 0; c < nd->c; c++) {
                net->state[nd->soff + c] = 0.0f;
                net->state[nd->soff + nd->c + c] = 1.0f;
            }
    }
}

size_t sl_nn_n_params(const sl_nn *net) { return net->np; }
float *sl_nn_params(sl_nn *net) { return net->params; }
float *sl_nn_grads(sl_nn *net) { return net->grads; }
size_t sl_nn_n_state(const sl_nn *net) { return net->ns; }
float *sl_nn_state(sl_nn *net) { return net->state; }

void sl_nn_zero_grads(sl_nn *net)
{
    if (net->grads)
        memset(net->grads, 0, net->np * sizeof *net->grads);
}

size_t sl_nn_param_offset(const sl_nn *net, int node)
{
    return node >= 0 && node < net->n ? net->node[node].poff : NN_NONE;
}

size_t sl_nn_state_offset(const sl_nn *net, int node)
{
    return node >= 0 && node < net->n ? net->node[node].soff : NN_NONE;
}

int sl_nn_output_size(const sl_nn *net)
{
    return net->finalized ? (int)net->node[net->output].size : 0;
}

size_t sl_nn_flops(const sl_nn *net)
{
    size_t f = 0;
    for (int i = 0; i < net->n; i++) {
        const nn_node *nd = &net->node[i];
        if (nn_op_table[nd->op].flags & NN_LINEAR)
            f += 2 * (nd->np - (size_t)nd->c) * (size_t)nd->h * nd->w;
    }
    return f;
}

/* ---- Running ------------------------------------------------------------------ */

/* All threads run the same sequence of nodes and agree on when to wait: a
 * barrier is needed only when work was done since the last one. */
void nn_sync(nn_thread *th)
{
    if (th->dirty && th->net->nthreads > 1)
        pthread_barrier_wait(&th->net->bar);
    th->dirty = 0;
}

/* Derived weights of every layer that needs them, shared out by output channel;
 * then everyone waits, since any thread may use any layer's. */
static void prep_weights(nn_thread *th, int backward)
{
    sl_nn *net = th->net;
    for (int i = 1; i <= net->output; i++)
        if (nn_needs_prep(net, &net->node[i], backward)) {
            if (backward)
                nn_prep_backward(net, &net->node[i], th->id, net->nthreads);
            else
                nn_prep_forward(net, &net->node[i], th->id, net->nthreads);
            th->dirty = 1;
        }
    nn_sync(th);
}

/* The chunks and samples thread t runs. */
static nn_span thread_span(const sl_nn *net, int t)
{
    int T = net->nthreads, G = net->nchunks;
    nn_span sp = {t * G / T, (t + 1) * G / T, 0, 0};
    sp.s0 = nn_chunk_start(net, sp.g0);
    sp.s1 = nn_chunk_start(net, sp.g1);
    return sp;
}

/* Runs one node's forward (backward when dx >= 0) on this thread's share.  A
 * batch-wide op needs every sample of its input, and its outputs are complete
 * only when every thread is done. */
static void run_node(nn_thread *th, nn_node *nd, const nn_span *sp, int dx)
{
    const nn_op_def *op = &nn_op_table[nd->op];
    if (op->flags & NN_BATCH_WIDE)
        nn_sync(th);
    if (dx < 0)
        op->forward(th, nd, sp);
    else
        op->backward(th, nd, sp, dx);
    th->dirty = 1;
    if (op->flags & NN_BATCH_WIDE)
        nn_sync(th);
}

static void forward_job(nn_thread *th)
{
    sl_nn *net = th->net;
    nn_span sp = thread_span(net, th->id);
    prep_weights(th, 0);
    for (int i = 0; i <= net->output; i++) {
        nn_node *nd = &net->node[i];
        if (!(net->train ? nd->skip_train : nd->skip_eval)) /* else done by a fused neighbour */
            run_node(th, nd, &sp, -1);
    }
}

/* Adds each chunk's parameter gradients into net->grads, chunks in order; the
 * parameters are shared out among the threads. */
static void reduce_slots(nn_thread *th)
{
    sl_nn *net = th->net;
    int T = net->nthreads, t = th->id, G = net->nchunks;
    float acc[256];
    for (int i = 0; i < net->n; i++) {
        const nn_node *nd = &net->node[i];
        if (nd->slot == NN_NONE)
            continue;
        size_t p0 = t * nd->np / T, p1 = (t + 1) * nd->np / T;
        const float *sl = net->slots + nd->slot;
        float *gr = net->grads + nd->poff;
        for (size_t b = p0; b < p1; b += 256) {
            size_t n = p1 - b < 256 ? p1 - b : 256;
            memcpy(acc, sl + b, n * sizeof *acc);
            for (int g = 1; g < G; g++) {
                const float *s = sl + (size_t)g * net->nslot + b;
                for (size_t j = 0; j < n; j++)
                    acc[j] += s[j];
            }
            for (size_t j = 0; j < n; j++)
                gr[b + j] += acc[j];
        }
    }
}

static void backward_job(nn_thread *th)
{
    sl_nn *net = th->net;
    nn_span sp = thread_span(net, th->id);
    nn_node *out = &net->node[net->output];
    prep_weights(th, 1);
    memcpy(out->grad + (size_t)sp.s0 * out->size, net->dout + (size_t)sp.s0 * out->size,
           (size_t)(sp.s1 - sp.s0) * out->size * sizeof(float));
    th->dirty = 1;
    for (int i = net->output; i > 0; i--) {
        nn_node *nd = &net->node[i];
        if (nd->skip_train)
            continue;
        /* bit k: the gradient of input k is wanted (the input's only if asked) */
        int dx = 0;
        for (int k = 0; k < 2; k++)
            if (nd->in[k] > 0 || (nd->in[k] == 0 && net->din))
                dx |= 1 << k;
        run_node(th, nd, &sp, dx);
    }
    nn_sync(th);
    reduce_slots(th);
    if (net->din) {
        const nn_node *x = &net->node[0];
        memcpy(net->din + (size_t)sp.s0 * x->size, x->grad + (size_t)sp.s0 * x->size,
               (size_t)(sp.s1 - sp.s0) * x->size * sizeof(float));
    }
}

static void run_job(nn_thread *th)
{
    if (th->net->job == 0)
        forward_job(th);
    else
        backward_job(th);
}

static void *worker(void *arg)
{
    nn_thread *th = arg;
    sl_nn *net = th->net;
    for (;;) {
        pthread_barrier_wait(&net->bar);
        if (net->quit)
            return NULL;
        run_job(th);
        pthread_barrier_wait(&net->bar);
    }
}

/* Runs the job set in net on every thread; the caller's thread is thread 0. */
static void run(sl_nn *net)
{
    /* The batch is what runs in parallel; a multi-threaded BLAS inside would only
     * compete for the same cores. */
    if (openblas_get_num_threads() != 1)
        openblas_set_num_threads(1);
    net->nchunks = net->batch < SL_NN_CHUNKS ? net->batch : SL_NN_CHUNKS;
    if (net->nthreads > 1)
        pthread_barrier_wait(&net->bar);
    run_job(&net->th[0]);
    if (net->nthreads > 1)
        pthread_barrier_wait(&net->bar);
}

const float *sl_nn_forward(sl_nn *net, const float *input, int batch, int train)
{
    if (!net || !net->finalized || batch < 1 || batch > net->max_batch ||
        (train && net->infer_only))
        return NULL;
    net->job = 0;
    net->batch = batch;
    net->train = train != 0;
    net->in = input;
    run(net);
    net->trained = net->train;
    return net->node[net->output].act;
}

int sl_nn_backward(sl_nn *net, const float *d_output, float *d_input)
{
    if (!net || !net->finalized || !net->trained)
        return -1;
    net->job = 1;
    net->dout = d_output;
    net->din = d_input;
    run(net);
    return 0;
}
