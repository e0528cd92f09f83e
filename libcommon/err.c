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
    char prefix[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
    return -1;
}
