#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sl_output_create(const char *path, char **tmp, sl_err *err)
{
    /* A device or a named pipe (-o /dev/null) is written in place: renaming a
     * file over it would replace the device. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode))
            return sl_err_set(err, "%s: cannot write: Is a directory", path);
        int fd = open(path, O_WRONLY);
        if (fd < 0)
            return sl_err_set(err, "%s: cannot write: %s", path, strerror(errno));
        *tmp = NULL;
        return fd;
    }
    size_t n = strlen(path) + 16;
    char *name = malloc(n);
    if (!name)
        return sl_err_set(err, "%s: out of memory", path);
    snprintf(name, n, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(name);
    if (fd < 0) {
        sl_err_set(err, "%s: cannot write: %s", path, strerror(errno));
        free(name);
        return -1;
    }
    /* mkstemp makes the file 0600; give it the mode a plain open() would. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    *tmp = name;
    return fd;
}

int sl_output_commit(int fd, const char *tmp, const char *path, sl_err *err)
{
    int rc = 0;
    if (tmp && fsync(fd) < 0 && errno != EINVAL)
        rc = sl_err_set(err, "%s: write error: %s", path, strerror(errno));
    if (close(fd) < 0 && rc == 0)
        rc = sl_err_set(err, "%s: write error: %s", path, strerror(errno));
    if (rc == 0 && tmp && rename(tmp, path) < 0)
        rc = sl_err_set(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (rc < 0 && tmp)
        unlink(tmp);
    return rc;
}

int sl_textout_open(sl_textout *t, const char *path, sl_err *err)
{
    memset(t, 0, sizeof *t);
    if (!path || strcmp(path, "-") == 0) {
        t->f = stdout;
        return 0;
    }
    int fd = sl_output_create(path, &t->tmp, err);
    if (fd < 0)
        return -1;
    t->path = strdup(path);
    t->f = fdopen(fd, "w");
    if (!t->f || !t->path) {
        close(fd);
        if (t->tmp)
            unlink(t->tmp);
        free(t->tmp);
        free(t->path);
        return sl_err_set(err, "%s: out of memory", path);
    }
    return 0;
}

int sl_textout_close(sl_textout *t, sl_err *err)
{
    if (t->f == stdout) {
        int bad = fflush(stdout) != 0 || ferror(stdout);
        int saved = errno;
        if (fclose(stdout) != 0 && !bad) {
            bad = 1;
            saved = errno;
        }
        if (!bad)
            return 0;
        if (saved == EPIPE)
            return 1;
        return sl_err_set(err, "standard output: write error: %s", strerror(saved));
    }
    int rc = 0;
    if (fflush(t->f) != 0 || ferror(t->f))
        rc = sl_err_set(err, "%s: write error: %s", t->path, strerror(errno));
    int fd = dup(fileno(t->f));
    if (fclose(t->f) != 0 && rc == 0)
        rc = sl_err_set(err, "%s: write error: %s", t->path, strerror(errno));
    if (rc == 0 && fd >= 0)
        rc = sl_output_commit(fd, t->tmp, t->path, err);
    else {
        if (fd >= 0)
            close(fd);
        if (t->tmp)
            unlink(t->tmp);
    }
    free(t->tmp);
    free(t->path);
    return rc;
}

void sl_textout_abort(sl_textout *t)
{
    if (t->f && t->f != stdout) {
        fclose(t->f);
        if (t->tmp)
            unlink(t->tmp);
        free(t->tmp);
        free(t->path);
    }
    t->f = NULL;
}
