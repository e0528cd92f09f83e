/* fuzz.h: what the libFuzzer harnesses share (tests/fuzz/README.md).
 *
 * The readers take file names, as the tools give them: each input is written
 * to a memory file (memfd) and read back by its /proc/self/fd name, so the
 * code under test is the code the tools run, cfitsio included. */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct fuzz_file {
    int fd;
    char path[64];
} fuzz_file;

/* The input as a file; path is "" when that fails (then the harness skips). */
static inline fuzz_file fuzz_file_make(const uint8_t *data, size_t size)
{
    fuzz_file f = {-1, ""};
    f.fd = memfd_create("fuzz", 0);
    if (f.fd < 0)
        return f;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(f.fd, data + off, size - off);
        if (n <= 0) {
            close(f.fd);
            f.fd = -1;
            return f;
        }
        off += (size_t)n;
    }
    snprintf(f.path, sizeof f.path, "/proc/self/fd/%d", f.fd);
    return f;
}

static inline void fuzz_file_drop(fuzz_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* A file of the test data (tests/data), for the inputs a reader takes beside
 * the fuzzed one; SL_FUZZ_DATA overrides the directory. */
static inline const char *fuzz_data(const char *name)
{
    static char buf[8][512];
    static int k;
    const char *dir = getenv("SL_FUZZ_DATA");
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", dir ? dir : "tests/data", name);
    return b;
}

#endif
