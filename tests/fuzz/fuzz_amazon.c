/* libFuzzer target: the Amazon parsers through the dispatcher, on every line of the input (split
 * at '\n', each copied into its own exact-size buffer so a read past the line is caught), as
 * reviews and as metadata of both the 2014/2018 and the 2023 formats. Every call must return a
 * record, US_NOREC or US_EFORMAT with a reason, and a record must hold what the contract says:
 * non-empty ids inside their bounds, a rating on the scale, NUL-terminated metadata strings and
 * printable cJSON trees. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every byte of s[0..n) so that ASan checks the whole span (volatile reads are never
 * optimized away). */
static void touch(const char *s, size_t n) {
    const volatile unsigned char *p = (const volatile unsigned char *)s;
    for (size_t i = 0; i < n; i++) (void)p[i];
}

static void check_tree(const cJSON *v) {
    if (!v) return;
    char *p = cJSON_PrintUnformatted(v);
    if (!p) __builtin_trap();
    free(p);
}

/* A NUL-terminated copy of src[0..len) in a buffer of exactly len + 1 bytes. */
static char *copy_line(const char *src, size_t len) {
    char *line = malloc(len + 1);
    if (!line) return NULL;
    memcpy(line, src, len);
    line[len] = '\0';
    return line;
}

/* Parsers may unescape in place, so each call gets its own copy of the line. */
static void one_line(us_reader *rev, us_reader *meta, const char *src, size_t len) {
    us_review v;
    us_meta m;
    us_err e;
    us_skip why = US_SKIP_COUNT;
    char *line = copy_line(src, len);
    if (!line) return;
    us_status st = us_read_review(rev, line, len, &v, &e, &why);
    if (st == US_OK) {
        if (!v.user || !v.user_len || v.user_len > US_MAX_ID) __builtin_trap();
        if (!v.item || !v.item_len || v.item_len > US_MAX_ID) __builtin_trap();
        if (!(v.rating >= 1 && v.rating <= 5)) __builtin_trap();
        if (v.ts == US_TS_NONE) __builtin_trap();
        touch(v.user, v.user_len);
        touch(v.item, v.item_len);
        if (v.title) touch(v.title, v.title_len);
        if (v.text) touch(v.text, v.text_len);
    } else if (st == US_EFORMAT) {
        if ((unsigned)why >= US_SKIP_COUNT) __builtin_trap();
    } else if (st != US_NOREC) {
        __builtin_trap();
    }
    free(line);

    if (!(line = copy_line(src, len))) return;
    why = US_SKIP_COUNT;
    st = us_read_meta(meta, line, len, &m, &e, &why);
    if (st == US_OK) {
        if (!m.item || !m.item_len || m.item_len > US_MAX_ID) __builtin_trap();
        if (strlen(m.item) != m.item_len) __builtin_trap();
        if (m.title) touch(m.title, strlen(m.title));
        if (m.description) touch(m.description, strlen(m.description));
        if (m.brand) touch(m.brand, strlen(m.brand));
        if (m.categories && !cJSON_IsArray(m.categories)) __builtin_trap();
        if (m.attributes && !cJSON_IsObject(m.attributes)) __builtin_trap();
        check_tree(m.categories);
        check_tree(m.attributes);
    } else if (st == US_EFORMAT) {
        if ((unsigned)why >= US_SKIP_COUNT) __builtin_trap();
    } else if (st != US_NOREC) {
        __builtin_trap();
    }
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    us_reader rev[2], meta[2];
    const us_format formats[2] = {US_FORMAT_AMAZON, US_FORMAT_AMAZON2023};
    for (int f = 0; f < 2; f++) {
        us_reader_init(&rev[f], formats[f], 0);
        us_reader_init(&meta[f], formats[f], 1);
    }
    const char *s = (const char *)data;
    size_t start = 0;
    while (start <= size) {
        const char *nl = memchr(s + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - (s + start)) : size - start;
        for (int f = 0; f < 2; f++) one_line(&rev[f], &meta[f], s + start, len);
        if (!nl) break;
        start += len + 1;
    }
    for (int f = 0; f < 2; f++) {
        us_reader_free(&rev[f]);
        us_reader_free(&meta[f]);
    }
    return 0;
}
