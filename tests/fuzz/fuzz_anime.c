/* libFuzzer target: the Anime rating.csv and anime.csv parsers on arbitrary lines. The input
 * is split at '\n'; each line, copied into its own malloc'd NUL-terminated buffer, goes to a
 * reviews reader and (another copy) to a metadata reader, so the first line of the input
 * also exercises the header handling.
 * Every call must end without a crash, leak or undefined behaviour, and every record returned
 * must hold non-empty ids and valid UTF-8 strings. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t len) {
    if (s && us_utf8_check(s, len) >= 0) __builtin_trap();
}

static void check_review(const us_review *v) {
    if (!v->user || !v->user_len || v->user_len > US_MAX_ID) __builtin_trap();
    if (!v->item || !v->item_len || v->item_len > US_MAX_ID) __builtin_trap();
    check_text(v->user, v->user_len);
    check_text(v->item, v->item_len);
    check_text(v->title, v->title_len);
    check_text(v->text, v->text_len);
}

static void check_meta(const us_meta *m) {
    if (!m->item || !m->item_len || strlen(m->item) != m->item_len) __builtin_trap();
    check_text(m->item, m->item_len);
    if (m->title) check_text(m->title, strlen(m->title));
    if (m->state) check_text(m->state, strlen(m->state));
    const cJSON *c;
    cJSON_ArrayForEach(c, m->categories) {
        if (!cJSON_IsString(c) || !*c->valuestring) __builtin_trap();
        check_text(c->valuestring, strlen(c->valuestring));
    }
    if (m->attributes && !cJSON_IsObject(m->attributes)) __builtin_trap();
}

static char *copy_line(const uint8_t *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    us_reader rev, meta;
    us_reader_init(&rev, US_FORMAT_ANIME, 0);
    us_reader_init(&meta, US_FORMAT_ANIME, 1);
    size_t start = 0;
    while (start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t n = nl ? (size_t)(nl - (data + start)) : size - start;
        char *a = copy_line(data + start, n), *b = copy_line(data + start, n);
        if (a && b) {
            us_review v;
            us_meta m;
            us_err e;
            us_skip why;
            if (us_read_review(&rev, a, n, &v, &e, &why) == US_OK) check_review(&v);
            if (us_read_meta(&meta, b, n, &m, &e, &why) == US_OK) check_meta(&m);
        }
        free(a);
        free(b);
        if (!nl) break;
        start += n + 1;
    }
    us_reader_free(&rev);
    us_reader_free(&meta);
    return 0;
}
