/* test_vec.c: the growable arrays of vec.h: contents kept across growth,
 * no reallocation when there is room, and a request too large for memory
 * answered with an error that leaves the array as it was. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "vec.h"

static void test_push_and_grow(void)
{
    sl_err err;
    SL_VEC(double) v = {0};
    for (int i = 0; i < 1000; i++)
        CHECK(sl_vec_push(&v, 0.5 * i, &err) == 0);
    CHECK(v.n == 1000 && v.cap >= 1000 && v.cap < 2048);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= v.a[i] == 0.5 * i;
    CHECK(same);
    /* Room already: nothing moves. */
    double *before = v.a;
    CHECK(sl_vec_reserve(&v, 10, &err) == 0);
    CHECK(v.a == before);
    sl_vec_free(&v);
    CHECK(v.a == NULL && v.n == 0 && v.cap == 0);
}

static void test_out_of_memory(void)
{
    sl_err err;
    SL_VEC(int) v = {0};
    CHECK(sl_vec_push(&v, 7, &err) == 0);
    int *before = v.a;
    size_t cap = v.cap;
    /* More elements than the address space holds. */
    CHECK(sl_vec_reserve(&v, SIZE_MAX / 2, &err) == -1);
    CHECK(strstr(err.msg, "out of memory") != NULL);
    CHECK(v.a == before && v.cap == cap && v.n == 1 && v.a[0] == 7);
    sl_vec_free(&v);
}

int main(void)
{
    RUN(test_push_and_grow);
    RUN(test_out_of_memory);
    return check_report("test_vec");
}
