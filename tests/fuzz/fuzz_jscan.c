/* libFuzzer target: the JSON scanner on arbitrary lines. Beyond not crashing: whatever it
 * accepts, cJSON (more lenient) accepts too, with the same top-level strings, on lines without
 * \u escapes (where the scanner's documented surrogate and NUL choices differ from cJSON). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (memchr(data, '\0', size)) return 0;
    char *line = malloc(size + 1), *copy = malloc(size + 1);
    memcpy(line, data, size);
    line[size] = '\0';
    memcpy(copy, line, size + 1);
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    us_err e;
    us_skip why;
    if (us_jscan(&r, line, size, &e, &why) == US_OK && !strstr(copy, "\\u")) {
        cJSON *doc = cJSON_ParseWithLength(copy, size);
        if (!doc) __builtin_trap();
        for (int k = 0; k < r.njm; k++) {
            us_jval *v = &r.jm[k];
            if (v->type != US_JSTR || memchr(v->key, '\\', v->key_len)) continue;
            char key[256];
            if (v->key_len >= sizeof key) continue;
            memcpy(key, v->key, v->key_len);
            key[v->key_len] = '\0';
            if (us_jget(&r, key) != v) continue; /* a repeated key: both read the first */
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, key);
            if (!cJSON_IsString(m) || strcmp(m->valuestring, us_jstr(v)) != 0) __builtin_trap();
        }
        cJSON_Delete(doc);
    }
    us_reader_free(&r);
    free(line);
    free(copy);
    return 0;
}
