/* libFuzzer target: the Python dict literal reader (Amazon 2014 metadata) on arbitrary bytes. A
 * parse either gives an object tree that cJSON can print, or fails at an offset inside the
 * input; the input is copied to an exact-size buffer so a read past its end is caught. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size ? size : 1);
    if (!s) return 0;
    memcpy(s, data, size);
    size_t at = (size_t)-1;
    cJSON *doc = us_pydict_parse(s, size, &at);
    if (doc) {
        if (!cJSON_IsObject(doc)) __builtin_trap();
        char *p = cJSON_PrintUnformatted(doc);
        if (!p) __builtin_trap();
        free(p);
        cJSON_Delete(doc);
    } else if (at > size) {
        __builtin_trap();
    }
    free(s);
    return 0;
}
