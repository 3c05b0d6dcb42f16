/* err.c — status codes and the us_err record: filling it, formatting it as
 * "file:line: field: message", naming status codes, and the always-on assertion.
 *
 * It does not log, exit or keep any state of its own: the caller decides what to do with an
 * error. Only us_assert_fail aborts, and only for programmer errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void us_err_clear(us_err *err) {
    if (!err) return;
    err->code = US_OK;
    err->line = 0;
    err->file[0] = '\0';
    err->field[0] = '\0';
    err->msg[0] = '\0';
}

/* Copies src into dst[0..cap), truncating and always NUL-terminating; NULL becomes "".
 * memmove, so src may be dst itself (re-setting an error from its own fields). */
static void copy_trunc(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memmove(dst, src, n);
    dst[n] = '\0';
}

us_status us_err_set(us_err *err, us_status code, const char *file, long line,
                     const char *field, const char *fmt, ...) {
    if (!err) return code;
    /* Format first, into a local buffer: the arguments may point into err itself (wrapping
     * an error with more context as "%s", err->msg). vsnprintf truncates and terminates. */
    char msg[sizeof err->msg];
    msg[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    err->code = code;
    err->line = line;
    copy_trunc(err->file, sizeof err->file, file);
    copy_trunc(err->field, sizeof err->field, field);
    memcpy(err->msg, msg, strlen(msg) + 1);
    return code;
}

/* Appends formatted text at *pos in buf[0..n), keeping *pos <= n - 1 (truncating). */
static void append(char *buf, size_t n, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t n, size_t *pos, const char *fmt, ...) {
    if (*pos + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *pos, n - *pos, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    *pos += (size_t)k;
    if (*pos > n - 1) *pos = n - 1;
}

const char *us_err_str(const us_err *err, char *buf, size_t n) {
    if (!buf || n == 0) return buf;
    buf[0] = '\0';
    if (!err) return buf;
    size_t pos = 0;
    if (err->file[0]) {
        if (err->line > 0)
            append(buf, n, &pos, "%s:%ld: ", err->file, err->line);
        else
            append(buf, n, &pos, "%s: ", err->file);
    }
    if (err->field[0]) append(buf, n, &pos, "%s: ", err->field);
    /* A record without a message still says what kind of failure it was. */
    append(buf, n, &pos, "%s", err->msg[0] ? err->msg : us_status_name(err->code));
    return buf;
}

const char *us_status_name(us_status s) {
    switch (s) {
    case US_OK: return "ok";
    case US_EINVAL: return "invalid argument";
    case US_EIO: return "i/o error";
    case US_EFORMAT: return "bad format";
    case US_ENOMEM: return "out of memory";
    case US_EDB: return "database error";
    case US_ENOTFOUND: return "not found";
    case US_EEMPTY: return "empty input";
    }
    return "unknown status";
}

void us_assert_fail(const char *cond, const char *file, int line) {
    fflush(stdout);
    fprintf(stderr, "usersim: assertion failed: %s (%s:%d)\n", cond, file, line);
    fflush(stderr);
    abort();
}
