/* fuzz_reader.h — the body of the reader fuzz targets (fuzz_amazon.c, fuzz_anime.c, fuzz_yelp.c,
 * fuzz_movielens.c). Each target is compiled alone with the library sources, so everything here
 * is static; a target names its formats and scale in an fz_target and calls fz_run.
 *
 * The input is split at '\n'. Each line goes, for every format of the target, to a reviews
 * reader and to a metadata reader, each time in its own malloc'd copy of exactly the line's size
 * plus the NUL (parsers may unescape in place, and ASan catches a read past the line). The
 * readers live for the whole input, so its first line also exercises header handling and layout
 * detection, and MovieLens's Latin-1 lines the conversion.
 *
 * Every call must end without a crash, leak or undefined behaviour and return a record, US_NOREC,
 * or US_EFORMAT with a reason. Every record must hold what the contract says: non-empty ids of
 * at most US_MAX_ID bytes; valid UTF-8 in every string, the keys and strings of the cJSON trees
 * included (us_utf8_check reads every byte, so ASan checks each span); a rating on the target's
 * scale; a time exactly where the format has one; NUL-terminated metadata strings; categories an
 * array of non-empty strings; attributes an object. A broken rule is a __builtin_trap(). */
#ifndef USERSIM_TESTS_FUZZ_READER_H
#define USERSIM_TESTS_FUZZ_READER_H

#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether a format's reviews have a time: every one (ts never US_TS_NONE) or none. */
enum { FZ_TS_ALWAYS, FZ_TS_NEVER };

/* One target: the formats it reads and what their review records must hold. */
typedef struct fz_target {
    us_format formats[2];          /* each read as reviews and as metadata */
    int nformats;
    double rating_min, rating_max; /* every rating is in [rating_min, rating_max] ... */
    int unrated;                   /* ... or, when set, -1 (Anime: watched, no rating) */
    int ts;                        /* FZ_TS_ALWAYS or FZ_TS_NEVER */
} fz_target;

static void fz_utf8(const char *s, size_t len) {
    if (us_utf8_check(s, len) >= 0) __builtin_trap();
}

/* An optional NUL-terminated string. */
static void fz_str(const char *s) {
    if (s) fz_utf8(s, strlen(s));
}

static void fz_id(const char *s, size_t len) {
    if (!s || len == 0 || len > US_MAX_ID) __builtin_trap();
    fz_utf8(s, len);
}

/* An optional cJSON tree prints, and the text (every key and string in it) is UTF-8. */
static void fz_tree(const cJSON *v) {
    if (!v) return;
    char *p = cJSON_PrintUnformatted(v);
    if (!p) __builtin_trap();
    fz_utf8(p, strlen(p));
    free(p);
}

static void fz_status(us_status st, us_skip why) {
    if (st == US_EFORMAT) {
        if ((unsigned)why >= US_SKIP_COUNT) __builtin_trap();
    } else if (st != US_OK && st != US_NOREC) {
        __builtin_trap();
    }
}

static void fz_review(const fz_target *t, const us_review *v) {
    fz_id(v->user, v->user_len);
    fz_id(v->item, v->item_len);
    if (v->title) fz_utf8(v->title, v->title_len);
    if (v->text) fz_utf8(v->text, v->text_len);
    int unrated = t->unrated && v->rating == -1;
    if (!unrated && !(v->rating >= t->rating_min && v->rating <= t->rating_max)) __builtin_trap();
    if ((v->ts != US_TS_NONE) != (t->ts == FZ_TS_ALWAYS)) __builtin_trap();
}

static void fz_meta(const us_meta *m) {
    fz_id(m->item, m->item_len);
    if (strlen(m->item) != m->item_len) __builtin_trap();
    fz_str(m->title);
    fz_str(m->description);
    fz_str(m->brand);
    fz_str(m->state);
    if (m->categories) {
        if (!cJSON_IsArray(m->categories)) __builtin_trap();
        const cJSON *c;
        cJSON_ArrayForEach(c, m->categories) {
            if (!cJSON_IsString(c) || !*c->valuestring) __builtin_trap();
        }
    }
    if (m->attributes && !cJSON_IsObject(m->attributes)) __builtin_trap();
    fz_tree(m->categories);
    fz_tree(m->attributes);
}

/* A NUL-terminated copy of s[0..n) in a buffer of exactly n + 1 bytes. */
static char *fz_copy(const uint8_t *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* One line as a review and as metadata; the records are checked before their copy is freed. */
static void fz_line(const fz_target *t, us_reader *rev, us_reader *meta, const uint8_t *s,
                    size_t n) {
    us_review v;
    us_meta m;
    us_err e;
    us_skip why = US_SKIP_COUNT;
    char *line = fz_copy(s, n);
    if (line) {
        us_status st = us_read_review(rev, line, n, &v, &e, &why);
        fz_status(st, why);
        if (st == US_OK) fz_review(t, &v);
        free(line);
    }
    why = US_SKIP_COUNT;
    if ((line = fz_copy(s, n))) {
        us_status st = us_read_meta(meta, line, n, &m, &e, &why);
        fz_status(st, why);
        if (st == US_OK) fz_meta(&m);
        free(line);
    }
}

static int fz_run(const fz_target *t, const uint8_t *data, size_t size) {
    us_reader rev[2], meta[2];
    for (int f = 0; f < t->nformats; f++) {
        us_reader_init(&rev[f], t->formats[f], 0);
        us_reader_init(&meta[f], t->formats[f], 1);
    }
    size_t start = 0;
    while (start <= size) {
        const uint8_t *nl = memchr(data + start, '\n', size - start);
        size_t n = nl ? (size_t)(nl - (data + start)) : size - start;
        for (int f = 0; f < t->nformats; f++) fz_line(t, &rev[f], &meta[f], data + start, n);
        if (!nl) break;
        start += n + 1;
    }
    for (int f = 0; f < t->nformats; f++) {
        us_reader_free(&rev[f]);
        us_reader_free(&meta[f]);
    }
    return 0;
}

#endif
