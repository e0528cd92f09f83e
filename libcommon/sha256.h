/* sha256.h: SHA-256 digests as lowercase hex, as sha256sum(1) prints them:
 * catalogs name the model files they came from by their digest. */
#ifndef SL_SHA256_H
#define SL_SHA256_H

#include <stddef.h>

#include "err.h"

#define SL_SHA256_HEX 65 /* 64 hex digits and the NUL */

void sl_sha256(const void *data, size_t n, char hex[SL_SHA256_HEX]);
/* The digest of a file's bytes. */
int sl_sha256_file(const char *path, char hex[SL_SHA256_HEX], sl_err *err);

#endif
