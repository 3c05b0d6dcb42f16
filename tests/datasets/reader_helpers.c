/* The helpers of reader_helpers.h. */
#include "tests/datasets/reader_helpers.h"

#include <string.h>

static size_t put_line(char *buf, size_t cap, const char *line, us_err *e, us_skip *why) {
    size_t n = strlen(line);
    US_ASSERT(n < cap);
    memcpy(buf, line, n + 1);
    us_err_clear(e);
    *why = US_SKIP_COUNT;
    return n;
}

us_status th_review(us_reader *r, char *buf, size_t cap, const char *line, us_review *out,
                    us_err *e, us_skip *why) {
    size_t n = put_line(buf, cap, line, e, why);
    return us_read_review(r, buf, n, out, e, why);
}

us_status th_meta(us_reader *r, char *buf, size_t cap, const char *line, us_meta *out,
                  us_err *e, us_skip *why) {
    size_t n = put_line(buf, cap, line, e, why);
    return us_read_meta(r, buf, n, out, e, why);
}

int th_eq(const char *s, size_t n, const char *want) {
    return s && n == strlen(want) && memcmp(s, want, n) == 0;
}

void th_check_bad(us_test_ctx *t_, const char *file, int line, us_status st, us_skip why,
                  const us_err *e, us_skip kind, const char *field) {
    if (st != US_EFORMAT || why != kind || strcmp(e->field, field) != 0)
        us_test_fail(t_, file, line, "expected %s on \"%s\", got status %d, %s on \"%s\" (%s)",
                     us_skip_name(kind), field, (int)st, us_skip_name(why), e->field, e->msg);
}

const cJSON *th_attr(const us_meta *m, const char *name) {
    return cJSON_GetObjectItemCaseSensitive(m->attributes, name);
}

const char *th_cat(const us_meta *m, int i) {
    const cJSON *c = cJSON_GetArrayItem(m->categories, i);
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

int th_file_open(th_file *f, const char *path, us_format format, int is_meta) {
    memset(f, 0, sizeof *f);
    if (us_lines_open(&f->lines, path, &f->e) != US_OK) return -1;
    us_reader_init(&f->r, format, is_meta);
    return 0;
}

int th_file_next(th_file *f) {
    char *line;
    size_t len;
    if (us_lines_next(f->lines, &line, &len, &f->e) != 1) return 0;
    f->why = US_SKIP_COUNT;
    f->st = f->r.is_meta ? us_read_meta(&f->r, line, len, &f->m, &f->e, &f->why)
                         : us_read_review(&f->r, line, len, &f->v, &f->e, &f->why);
    return 1;
}

void th_file_close(th_file *f) {
    us_reader_free(&f->r);
    us_lines_close(f->lines);
    f->lines = NULL;
}
