/* test_sha256: the FIPS 180-4 example digests, a message across blocks, and
 * a file's digest equal to its bytes'. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sha256.h"

static void test_vectors(void)
{
    char hex[SL_SHA256_HEX];
    sl_sha256("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    sl_sha256("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    /* 56 bytes: the padding takes a second block. */
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sl_sha256(two, strlen(two), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    /* A million 'a's, read through the file path in 64 KiB pieces. */
    char path[] = "/tmp/test_sha256.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    for (int i = 0; i < 1000000; i++)
        putc('a', f);
    fclose(f);
    sl_err err;
    CHECK(sl_sha256_file(path, hex, &err) == 0);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    remove(path);
    CHECK(sl_sha256_file(path, hex, &err) < 0);
    CHECK(strstr(err.msg, "No such file") != NULL);
}

int main(void)
{
    RUN(test_vectors);
    return check_report("test_sha256");
}
