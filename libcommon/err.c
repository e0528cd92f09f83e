#include "err.h"

#include <stdio.h>
#include <string.h>

int sl_err_vset(sl_err *e, const char *fmt, va_list ap)
{
    if (e)
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int sl_err_set(sl_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_err_vset(e, fmt, ap);
    va_end(ap);
    return -1;
}

int sl_err_prefix(sl_err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the old message right to make room for "prefix: ", cutting its end if need be. */
    size_t plen = strlen(prefix) + 2, olen = strnlen(e->msg, sizeof e->msg - 1);
    if (plen + olen > sizeof e->msg - 1)
        olen = sizeof e->msg - 1 - plen;
    memmove(e->msg + plen, e->msg, olen);
    memcpy(e->msg, prefix, plen - 2);
    e->msg[plen - 2] = ':';
    e->msg[plen - 1] = ' ';
    e->msg[plen + olen] = '\0';
    return -1;
}
