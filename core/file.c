/* file.c — us_read_file: a whole (small) file into memory, for configs, templates and
 * vocabularies. The large inputs (datasets, weights) are streamed or mapped elsewhere. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

us_status us_read_file(const char *path, size_t max, char **out, size_t *size, us_err *err) {
    *out = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return us_err_set(err, e == ENOENT ? US_ENOTFOUND : US_EIO, path, 0, NULL,
                          "cannot open: %s", strerror(e));
    }
    char *buf = NULL;
    size_t cap = 0, len = 0;
    us_status st = US_OK;
    for (;;) {
        if (us_grow((void **)&buf, &cap, len + 65536 + 1, 1) != US_OK) {
            st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory reading the file");
            break;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (max && len > max) {
            st = us_err_set(err, US_EFORMAT, path, 0, NULL,
                            "expected a file of at most %zu bytes, found a larger one", max);
            break;
        }
        if (got == 0) {
            if (ferror(f)) st = us_err_set(err, US_EIO, path, 0, NULL, "read error");
            break;
        }
    }
    fclose(f);
    if (st != US_OK) {
        free(buf);
        return st;
    }
    buf[len] = '\0';
    *out = buf;
    if (size) *size = len;
    return US_OK;
}
