/* inject.c: failure injection for the fault-injection build (make faults,
 * tests/faults/README.md), as jq's inject_errors.  Linked into every tool
 * with -Wl,--wrap=read,--wrap=write,... so that the calls the project's own
 * code makes (not those inside libc, cfitsio, msgpack-c or OpenBLAS) go
 * through these wrappers:
 *
 *   SL_FAULT=NAME:K     the K-th call (1-based) to NAME fails: read, write,
 *                       fclose, rename, malloc (malloc, calloc and realloc
 *                       counted together) or fopen; read and write fail with
 *                       EIO, fclose closes the file and reports EIO, rename
 *                       fails with EIO, malloc returns NULL with ENOMEM,
 *                       fopen returns NULL with EIO.
 *   SL_FAULT_COUNTS=F   at exit, append to F one line "NAME COUNT" per
 *                       function: how many calls a run made, i.e. the K
 *                       worth injecting.
 *   SL_FAULT_TRACE=1    print the stack of the failing call on stderr.
 *
 * Counting is atomic; the tests run one thread (-j 1, OPENBLAS_NUM_THREADS=1)
 * so that the K-th call is the same call every run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

enum { F_READ, F_WRITE, F_FCLOSE, F_RENAME, F_MALLOC, F_FOPEN, F_N };
static const char *const names[F_N] = {"read", "write", "fclose", "rename", "malloc", "fopen"};
static long counts[F_N];
static long fail_at[F_N];
static int ready;

ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_fclose(FILE *f);
int __real_rename(const char *a, const char *b);
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
FILE *__real_fopen(const char *path, const char *mode);

/* Reads SL_FAULT without allocating. */
static void setup(void)
{
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        return;
    const char *spec = getenv("SL_FAULT");
    if (spec) {
        for (int f = 0; f < F_N; f++) {
            size_t len = strlen(names[f]);
            if (strncmp(spec, names[f], len) == 0 && spec[len] == ':')
                fail_at[f] = strtol(spec + len + 1, NULL, 10);
        }
    }
    __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

/* The sanitizers' runtime (the fault build has ASan): a symbolized stack. */
void __sanitizer_print_stack_trace(void);

static int fail(int f)
{
    setup();
    long k = __atomic_add_fetch(&counts[f], 1, __ATOMIC_RELAXED);
    if (!(fail_at[f] > 0 && k == fail_at[f]))
        return 0;
    /* SL_FAULT_TRACE=1: where the failing call was made, on stderr. */
    if (getenv("SL_FAULT_TRACE"))
        __sanitizer_print_stack_trace();
    return 1;
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("SL_FAULT_COUNTS");
    if (!path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return;
    char line[64];
    for (int f = 0; f < F_N; f++) {
        int n = snprintf(line, sizeof line, "%s %ld\n", names[f], counts[f]);
        if (__real_write(fd, line, (size_t)n) < 0)
            break;
    }
    close(fd);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    if (fail(F_READ)) {
        errno = EIO;
        return -1;
    }
    return __real_read(fd, buf, n);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    if (fail(F_WRITE)) {
        errno = EIO;
        return -1;
    }
    return __real_write(fd, buf, n);
}

int __wrap_fclose(FILE *f)
{
    if (fail(F_FCLOSE)) {
        __real_fclose(f); /* closed all the same, as after a failed flush */
        errno = EIO;
        return EOF;
    }
    return __real_fclose(f);
}

int __wrap_rename(const char *a, const char *b)
{
    if (fail(F_RENAME)) {
        errno = EIO;
        return -1;
    }
    return __real_rename(a, b);
}

void *__wrap_malloc(size_t n)
{
    if (fail(F_MALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (fail(F_MALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fail(F_MALLOC)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    if (fail(F_FOPEN)) {
        errno = EIO;
        return NULL;
    }
    return __real_fopen(path, mode);
}
