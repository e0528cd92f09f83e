/* vec.c: the growth step of the arrays of vec.h. */
#include "vec.h"

#include <stdint.h>

int sl_vec_grow(void **a, size_t *cap, size_t need, size_t size, sl_err *err)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c = c > SIZE_MAX / 2 ? need : 2 * c;
    if (size && c > SIZE_MAX / size)
        return sl_err_set(err, "out of memory");
    void *p = realloc(*a, c * size);
    if (!p)
        return sl_err_set(err, "out of memory");
    *a = p;
    *cap = c;
    return 0;
}
