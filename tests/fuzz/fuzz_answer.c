/* libFuzzer target: the LLM answer parser (line and JSON formats) on arbitrary bytes, for both
 * answer kinds. A parse either gives the canonical result (category null or a string, pros and
 * cons lists of reasons whose keywords are strings) or fails with a reason; the input is copied
 * to an exact-size buffer so a read past its end is caught. */
#include <stdlib.h>
#include <string.h>

#include "simulator/keywords/extract_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const cJSON *r) {
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(r, "category");
    if (!cJSON_IsNull(cat) && !cJSON_IsString(cat)) __builtin_trap();
    const char *sides[2] = {"pros", "cons"};
    for (int s = 0; s < 2; s++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(r, sides[s]), *reason, *k;
        if (!cJSON_IsArray(list)) __builtin_trap();
        cJSON_ArrayForEach(reason, list) {
            const cJSON *kws = cJSON_GetObjectItemCaseSensitive(reason, "keywords");
            if (!cJSON_IsArray(kws) || cJSON_GetArraySize(kws) == 0) __builtin_trap();
            cJSON_ArrayForEach(k, kws) {
                if (!cJSON_IsString(k)) __builtin_trap();
                if (us_utf8_check(k->valuestring, strlen(k->valuestring)) >= 0) __builtin_trap();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size ? size : 1);
    if (!s) return 0;
    memcpy(s, data, size);
    for (int kind = 0; kind < 2; kind++) {
        cJSON *r = NULL;
        char why[300];
        us_status st = kw_answer_parse(s, size, (kw_answer_kind)kind, &r, why, sizeof why);
        if (st == US_OK) {
            if (!r) __builtin_trap();
            check(r);
            char *p = cJSON_PrintUnformatted(r);
            if (!p) __builtin_trap();
            free(p);
            cJSON_Delete(r);
        } else if (r || !why[0]) {
            __builtin_trap();
        }
    }
    free(s);
    return 0;
}
