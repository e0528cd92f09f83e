/* nn_desc.c: a network's architecture as data (sl_nn_layer arrays and msgpack),
 * and its rebuilding with every node checked again. */
#include "nn_impl.h"
#include "record.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int sl_nn_describe(const sl_nn *net, sl_nn_layer *layers, int max)
{
    for (int i = 0; i < net->n && i < max; i++) {
        const nn_node *nd = &net->node[i];
        layers[i].op = nd->op;
        layers[i].in[0] = nd->in[0];
        layers[i].in[1] = nd->in[1];
        memcpy(layers[i].arg, nd->arg, sizeof layers[i].arg);
    }
    return net->n;
}

sl_nn *sl_nn_from_layers(const sl_nn_layer *layers, int n, sl_err *err)
{
    if (n < 1) {
        sl_err_set(err, "architecture: no nodes");
        return NULL;
    }
    sl_nn *net = nn_empty();
    if (!net) {
        sl_err_set(err, "architecture: out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (nn_push(net, &layers[i]) < 0) {
            sl_err_set(err, "architecture: %s", net->build_err.msg);
            sl_nn_free(net);
            return NULL;
        }
    return net;
}

/* ---- msgpack --------------------------------------------------------------------- */

void sl_nn_pack(const sl_nn *net, msgpack_packer *pk)
{
    sl_map m;
    sl_map_begin(&m, pk, "architecture", 4);
    msgpack_pack_array(sl_map_key(&m, "nodes"), net->n);
    for (int i = 0; i < net->n; i++) {
        const nn_node *nd = &net->node[i];
        int nin = nn_op_table[nd->op].inputs, na = nn_op_table[nd->op].args;
        msgpack_pack_array(pk, 1 + nin + na);
        sl_pack_str(pk, sl_nn_op_name(nd->op));
        for (int k = 0; k < nin; k++)
            msgpack_pack_int(pk, nd->in[k]);
        for (int k = 0; k < na; k++)
            msgpack_pack_int(pk, nd->arg[k]);
    }
    sl_map_int(&m, "output", net->output);
    msgpack_pack_uint64(sl_map_key(&m, "params"), net->np);
    msgpack_pack_uint64(sl_map_key(&m, "state"), net->ns);
    sl_map_end(&m, NULL);
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
    size_t len = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

/* An integer in [lo, hi] into *v; -1 otherwise. */
static int get_int(const msgpack_object *o, long long lo, long long hi, long long *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)LLONG_MAX)
        *v = (long long)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *v = o->via.i64;
    else
        return -1;
    return *v >= lo && *v <= hi ? 0 : -1;
}

/* One node's array into L. */
static int unpack_node(const msgpack_object *o, int i, sl_nn_layer *L, sl_err *err)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1 ||
        o->via.array.ptr[0].type != MSGPACK_OBJECT_STR)
        return sl_err_set(err, "architecture: node %d is not an array starting with an op name", i);
    const msgpack_object *e = o->via.array.ptr;
    int op = -1;
    for (int k = 0; k < SL_NN_N_OPS; k++)
        if (e[0].via.str.size == strlen(sl_nn_op_name(k)) &&
            memcmp(e[0].via.str.ptr, sl_nn_op_name(k), e[0].via.str.size) == 0)
            op = k;
    if (op < 0)
        return sl_err_set(err, "architecture: node %d: unknown op '%.*s'", i,
                          (int)(e[0].via.str.size > 40 ? 40 : e[0].via.str.size), e[0].via.str.ptr);
    int nin = nn_op_table[op].inputs, na = nn_op_table[op].args;
    if (o->via.array.size != (uint32_t)(1 + nin + na))
        return sl_err_set(err, "architecture: node %d (%s): %u entries, want %d (op, %d input%s, "
                          "%d argument%s)", i, sl_nn_op_name(op), o->via.array.size, 1 + nin + na,
                          nin, nin == 1 ? "" : "s", na, na == 1 ? "" : "s");
    memset(L, 0, sizeof *L);
    L->op = op;
    L->in[0] = L->in[1] = -1;
    for (int k = 1; k < 1 + nin + na; k++) {
        long long v;
        if (get_int(&e[k], INT_MIN, INT_MAX, &v) < 0)
            return sl_err_set(err, "architecture: node %d (%s): entry %d is not a 32-bit integer",
                              i, sl_nn_op_name(op), k);
        if (k <= nin)
            L->in[k - 1] = (int)v;
        else
            L->arg[k - 1 - nin] = (int)v;
    }
    return 0;
}

static int check_count(const msgpack_object *arch, const char *key, size_t have, sl_err *err)
{
    const msgpack_object *o = map_get(arch, key);
    long long v;
    if (!o || get_int(o, 0, LLONG_MAX, &v) < 0)
        return sl_err_set(err, "architecture: key '%s' missing or not a count", key);
    if ((size_t)v != have)
        return sl_err_set(err, "architecture: '%s' says %lld values, the nodes make %zu", key, v,
                          have);
    return 0;
}

sl_nn *sl_nn_unpack(const msgpack_object *arch, int *output, sl_err *err)
{
    if (arch->type != MSGPACK_OBJECT_MAP) {
        sl_err_set(err, "architecture: not a map");
        return NULL;
    }
    const msgpack_object *nodes = map_get(arch, "nodes"), *out = map_get(arch, "output");
    if (!nodes || nodes->type != MSGPACK_OBJECT_ARRAY || nodes->via.array.size < 1 ||
        nodes->via.array.size > 100000) {
        sl_err_set(err, "architecture: key 'nodes' missing or not a non-empty array");
        return NULL;
    }
    int n = (int)nodes->via.array.size;
    long long o;
    if (!out || get_int(out, 0, n - 1, &o) < 0) {
        sl_err_set(err, "architecture: key 'output' missing or not a node id below %d", n);
        return NULL;
    }
    sl_nn_layer *layers = malloc((size_t)n * sizeof *layers);
    sl_nn *net = NULL;
    if (!layers) {
        sl_err_set(err, "architecture: out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (unpack_node(&nodes->via.array.ptr[i], i, &layers[i], err) < 0)
            goto done;
    net = sl_nn_from_layers(layers, n, err);
    if (net && (check_count(arch, "params", net->np, err) < 0 ||
                check_count(arch, "state", net->ns, err) < 0)) {
        sl_nn_free(net);
        net = NULL;
    }
    *output = (int)o;
done:
    free(layers);
    return net;
}
