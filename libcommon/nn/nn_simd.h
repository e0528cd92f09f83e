/* nn_simd.h: 8-float vectors for the network engine's kernels (nn_ops.c,
 * nn_wino.c).  Not a public header. */
#ifndef SL_NN_SIMD_H
#define SL_NN_SIMD_H

#include <string.h>

#include "nn.h"

/* GCC vector extensions: 8 floats, compiled to whatever SIMD the target has.
 * The loops that dominate run time are built twice (NN_SIMD), for AVX2 and for
 * the baseline, and the loader picks one; without FMA contraction (ISO C mode)
 * both give the same bits.  -DSL_NN_BASELINE_ONLY builds the baseline alone, to
 * test it on an AVX2 machine.  Vector arguments go by pointer: passing 32-byte
 * vectors by value draws an ABI note from GCC when AVX is off. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

#if defined(__x86_64__) && !defined(__clang__) && !defined(SL_NN_BASELINE_ONLY)
#define NN_SIMD __attribute__((target_clones("avx2", "default")))
#else
#define NN_SIMD
#endif
#define NN_INLINE static inline __attribute__((always_inline))

#ifdef __clang__
/* clang has no __builtin_shuffle (GCC's shuffle by a mask vector, which
 * may vary at run time) and its __builtin_shufflevector takes constant
 * indices only: the same selection, lane by lane, for clang builds (the
 * fuzzing harnesses).  GCC compiles the kernels as they are. */
NN_INLINE v8f nn_shuffle2_(v8f a, v8f b, v8i m)
{
    v8f r;
    for (int i = 0; i < 8; i++) {
        int k = m[i] & 15;
        r[i] = k < 8 ? a[k] : b[k - 8];
    }
    return r;
}
NN_INLINE v8f nn_shuffle1_(v8f a, v8i m)
{
    v8f r;
    for (int i = 0; i < 8; i++)
        r[i] = a[m[i] & 7];
    return r;
}
/* A mask written as a compound literal, (v8i){0, 2, ...}, is many macro
 * arguments: whatever follows the first two is put back together in
 * parentheses before the arguments are counted. */
#define __builtin_shuffle(a, b, ...) nn_shuffle_(a, b __VA_OPT__(, (__VA_ARGS__)))
#define nn_shuffle_(...) NN_SHUFFLE_PICK_(__VA_ARGS__, nn_shuffle2_, nn_shuffle1_, unused)(__VA_ARGS__)
#define NN_SHUFFLE_PICK_(a1, a2, a3, name, ...) name
#endif

NN_INLINE v8f v_load(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define v_store(p, v)                \
    do {                             \
        v8f t_ = (v);                \
        memcpy((p), &t_, sizeof t_); \
    } while (0)

NN_INLINE v8f v_set(float x) { return (v8f){x, x, x, x, x, x, x, x}; }

NN_INLINE double v_hsum(const v8f *pv)
{
    v8f v = *pv;
    return ((double)v[0] + v[1]) + ((double)v[2] + v[3]) +
           (((double)v[4] + v[5]) + ((double)v[6] + v[7]));
}

/* Lane-wise a if m else b. */
NN_INLINE v8f v_select(const v8i *m, const v8f *a, const v8f *b)
{
    return (v8f)((*m & (v8i)*a) | (~*m & (v8i)*b));
}

/* exp(x): Cody-Waite reduction by ln 2 and Cephes' degree-6 polynomial, about
 * 1 ulp; arguments clamped to where the result is finite and normal. */
NN_INLINE v8f v_exp(const v8f *px)
{
    const v8f hi = v_set(88.3762626647949f), lo = v_set(-87.3365447504f);
    v8f x = *px;
    v8i m = x > hi;
    x = v_select(&m, &hi, &x);
    m = x < lo;
    x = v_select(&m, &lo, &x);
    const v8f magic = v_set(12582912.0f); /* 1.5 2^23: adding it rounds to an integer */
    v8f n = (x * v_set(1.44269504088896341f) + magic) - magic;
    x = x - n * v_set(0.693359375f) - n * v_set(-2.12194440e-4f);
    v8f p = v_set(1.9875691500e-4f);
    p = p * x + v_set(1.3981999507e-3f);
    p = p * x + v_set(8.3334519073e-3f);
    p = p * x + v_set(4.1665795894e-2f);
    p = p * x + v_set(1.6666665459e-1f);
    p = p * x + v_set(5.0000001201e-1f);
    p = p * (x * x) + x + v_set(1.0f);
    v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
    return p * (v8f)e;
}

NN_INLINE v8f v_sigmoid(const v8f *x)
{
    v8f m = -*x;
    return v_set(1.0f) / (v_set(1.0f) + v_exp(&m));
}

/* The activation op (SL_NN_RELU, SL_NN_SILU, or 0 for none) of y, and its
 * derivative times dy. */
NN_INLINE v8f v_act(int op, const v8f *y)
{
    if (op == SL_NN_SILU)
        return *y * v_sigmoid(y);
    if (op == SL_NN_RELU) {
        v8i m = *y > v_set(0.0f);
        return (v8f)(m & (v8i)*y);
    }
    return *y;
}

NN_INLINE v8f v_act_grad(int op, const v8f *y, const v8f *dy)
{
    if (op == SL_NN_SILU) {
        v8f s = v_sigmoid(y);
        return *dy * (s * (v_set(1.0f) + *y * (v_set(1.0f) - s)));
    }
    if (op == SL_NN_RELU) {
        v8i m = *y > v_set(0.0f);
        return (v8f)(m & (v8i)*dy);
    }
    return *dy;
}

/* Loads n <= 8 floats into a zero-padded vector, and stores the first n lanes:
 * tails go through the same arithmetic as whole vectors.  (A memcpy of
 * variable length would be a library call.) */
NN_INLINE v8f v_load_part(const float *p, size_t n)
{
    if (n == 8)
        return v_load(p);
    v8f v = {0};
    for (size_t i = 0; i < n; i++)
        v[i] = p[i];
    return v;
}

NN_INLINE void v_store_part(float *p, const v8f *v, size_t n)
{
    if (n == 8) {
        memcpy(p, v, sizeof *v);
        return;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (*v)[i];
}

#endif
