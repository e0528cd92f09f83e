/* check.h: the few macros the C unit tests need.
 *
 * Each tests/unit/test_*.c is its own program: it calls CHECK* in plain
 * functions listed in main() through RUN(), and main() returns check_report().
 * A failed check prints file:line and the values, and the program exits 1. */
#ifndef SL_CHECK_H
#define SL_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures, check_count;

#define CHECK(cond)                                                          \
    do {                                                                     \
        check_count++;                                                       \
        if (!(cond)) {                                                       \
            check_failures++;                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

/* |got - want| <= tol, with both values printed on failure. */
#define CHECK_NEAR(got, want, tol)                                            \
    do {                                                                      \
        double g_ = (got), w_ = (want), t_ = (tol);                           \
        check_count++;                                                        \
        if (!(fabs(g_ - w_) <= t_)) {                                         \
            check_failures++;                                                 \
            fprintf(stderr, "%s:%d: %s = %.12g, want %.12g (tolerance %g)\n", \
                    __FILE__, __LINE__, #got, g_, w_, t_);                    \
        }                                                                     \
    } while (0)

/* Relative closeness: |got - want| <= rtol * |want|. */
#define CHECK_REL(got, want, rtol)                                             \
    do {                                                                       \
        double g_ = (got), w_ = (want), r_ = (rtol);                           \
        check_count++;                                                         \
        if (!(fabs(g_ - w_) <= r_ * fabs(w_))) {                               \
            check_failures++;                                                  \
            fprintf(stderr,                                                    \
                    "%s:%d: %s = %.12g, want %.12g (relative tolerance %g)\n", \
                    __FILE__, __LINE__, #got, g_, w_, r_);                     \
        }                                                                      \
    } while (0)

#define RUN(fn)                                   \
    do {                                          \
        int before_ = check_failures;             \
        fn();                                     \
        if (check_failures != before_)            \
            fprintf(stderr, "FAIL %s\n", #fn);    \
    } while (0)

static inline int check_report(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count,
            check_failures);
    return check_failures ? 1 : 0;
}

#endif
