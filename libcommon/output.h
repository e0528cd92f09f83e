/* output.h: output files that appear only when complete.
 *
 * A tool writes "-o PATH" under a temporary name in the same directory
 * (PATH.tmp.XXXXXX) and renames it to PATH only after every byte is written
 * and the file is closed, so a failure never leaves a half-written file under
 * the real name.  An existing path that is not a regular file (/dev/null, a
 * named pipe) is opened and written in place instead. */
#ifndef SL_OUTPUT_H
#define SL_OUTPUT_H

#include <stdio.h>

#include "err.h"

/* Creates the temporary file for path; returns its descriptor and sets *tmp
 * (malloc'ed name; NULL when writing a device in place), or -1. */
int sl_output_create(const char *path, char **tmp, sl_err *err);
/* Syncs and closes fd, then renames tmp to path; on any failure removes tmp. */
int sl_output_commit(int fd, const char *tmp, const char *path, sl_err *err);

/* The same for stdio text outputs: path NULL or "-" is standard output. */
typedef struct sl_textout {
    FILE *f;
    char *path, *tmp;
} sl_textout;
int sl_textout_open(sl_textout *t, const char *path, sl_err *err);
/* Flushes and closes (standard output included), renames into place.
 * Returns 0, -1 on error, or 1 when standard output was a closed pipe. */
int sl_textout_close(sl_textout *t, sl_err *err);
void sl_textout_abort(sl_textout *t);

#endif
