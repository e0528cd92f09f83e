/* err.h: error messages carried out of library code.
 *
 * Library functions never print and never exit: on failure they fill an sl_err
 * with a message that names the file, record and key at fault, and return a
 * negative code.  The tool's main() prints "tool: message" and picks the exit
 * status (see cli.h). */
#ifndef SL_ERR_H
#define SL_ERR_H

#include <stdarg.h>

typedef struct sl_err {
    char msg[1024];
} sl_err;

/* Formats the message into e (when e is not NULL) and returns -1, so that a
 * failing function can end with `return sl_err_set(e, "...", ...);`. */
int sl_err_set(sl_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sl_err_vset(sl_err *e, const char *fmt, va_list ap);

/* Puts "prefix: " in front of the message already in e (e.g. a file name). */
int sl_err_prefix(sl_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
