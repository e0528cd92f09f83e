/* vec.h: typed growable arrays, the n/cap/a idiom of klib's kvec.h, with
 * the one thing kvec lacks: running out of memory is an error the caller
 * sees (an sl_err and -1), never a crash or an exit, and the array is left
 * as it was.
 *
 * Capacity doubles (from 16 elements), so n pushes cost O(n) copies.
 *
 *     SL_VEC(double) v = {0};
 *     if (sl_vec_push(&v, 2.5, &err) < 0)
 *         return -1;
 *     ... v.a[0 .. v.n) ...
 *     sl_vec_free(&v);
 */
#ifndef SL_VEC_H
#define SL_VEC_H

#include <stddef.h>
#include <stdlib.h>

#include "err.h"

#define SL_VEC(T) struct { T *a; size_t n, cap; }

/* Grows the array *a of *cap elements of `size` bytes to hold at least
 * `need` (nothing to do when it does): 0, or -1 with "out of memory" in err
 * (then *a and *cap are unchanged).  Arrays kept as a pointer and a count
 * outside an SL_VEC call it directly. */
int sl_vec_grow(void **a, size_t *cap, size_t need, size_t size, sl_err *err);

/* Room for `need` elements: 0 or -1. */
#define sl_vec_reserve(v, need, err)                                                        \
    ((size_t)(need) <= (v)->cap                                                          \
         ? 0                                                                             \
         : sl_vec_grow((void **)&(v)->a, &(v)->cap, (size_t)(need), sizeof *(v)->a, (err)))

/* Appends x: 0 or -1. */
#define sl_vec_push(v, x, err)                                                              \
    (sl_vec_reserve((v), (v)->n + 1, (err)) < 0 ? -1 : ((v)->a[(v)->n++] = (x), 0))

#define sl_vec_free(v) (free((v)->a), (v)->a = NULL, (v)->n = (v)->cap = 0)

#endif
