/* libFuzzer target: the line reader on arbitrary bytes, plain or (when the input starts with the
 * gzip magic) compressed: every call must end, and every line it returns must lie inside its
 * buffer and be NUL-terminated. */
#include <string.h>

#include "datasets/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    us_lines *l;
    us_err e;
    if (us_lines_open_mem(&l, data, size, "fuzz", &e) != US_OK) return 0;
    char *line;
    size_t len;
    int got;
    while ((got = us_lines_next(l, &line, &len, &e)) == 1) {
        if (line && line[len] != '\0') __builtin_trap();
        if (line && memchr(line, '\n', len)) __builtin_trap();
    }
    us_lines_close(l);
    return 0;
}
