/* reader_helpers.h — what the per-format reader tests (test_amazon.c, test_anime.c, test_yelp.c,
 * test_movielens.c) share: one line read from a string, a span compared with a string, the
 * reason and field of a rejected line, a look into a us_meta, and a fixture file read record by
 * record. The counts each fixture's README states are checked end to end in test_formats.c,
 * not here.
 *
 *   us_reader r; char buf[256]; us_review v; us_err e; us_skip why;
 *   us_reader_init(&r, US_FORMAT_ANIME, 0);
 *   CHECK_OK(th_review(&r, buf, sizeof buf, "1,20,7", &v, &e, &why), e);
 *   CHECK(th_eq(v.item, v.item_len, "20"));
 *   CHECK_BAD(th_review(&r, buf, sizeof buf, "1,20,11", &v, &e, &why), US_SKIP_RANGE, "rating");
 */
#ifndef USERSIM_TESTS_READER_HELPERS_H
#define USERSIM_TESTS_READER_HELPERS_H

#include "datasets/internal.h"
#include "tests/test.h"

/* Copies line into buf (cap bytes, which must hold it; the record borrows from buf), clears e,
 * sets *why to US_SKIP_COUNT and reads the copy with us_read_review / us_read_meta. */
us_status th_review(us_reader *r, char *buf, size_t cap, const char *line, us_review *out,
                    us_err *e, us_skip *why);
us_status th_meta(us_reader *r, char *buf, size_t cap, const char *line, us_meta *out,
                  us_err *e, us_skip *why);

/* 1 when s[0..n) is the string want (and s is not NULL). */
int th_eq(const char *s, size_t n, const char *want);

/* Fails the case, at file:line, unless st is US_EFORMAT with reason `kind` on `field`. */
void th_check_bad(us_test_ctx *t_, const char *file, int line, us_status st, us_skip why,
                  const us_err *e, us_skip kind, const char *field);
/* The call runs first: it sets the case's `why` and `e`, which are then checked. */
#define CHECK_BAD(call, kind, field)                                                       \
    do {                                                                                   \
        us_status st_ = (call);                                                            \
        th_check_bad(t_, __FILE__, __LINE__, st_, why, &e, (kind), (field));               \
    } while (0)

/* The member `name` of m->attributes, or NULL. Borrows from m. */
const cJSON *th_attr(const us_meta *m, const char *name);
/* Category i of m, or NULL when there is none or it is not a string. Borrows from m. */
const char *th_cat(const us_meta *m, int i);

/* A fixture file read line by line through a reader of one format and role. */
typedef struct th_file {
    us_lines *lines;
    us_reader r;
    us_review v; /* the last review record (reviews files) */
    us_meta m;   /* the last metadata record (metadata files) */
    us_err e;
    us_skip why;
    us_status st; /* the last line's status: US_OK, US_NOREC or US_EFORMAT */
} th_file;

/* Opens path; 0 on success, -1 when it cannot be read. Release with th_file_close(). */
int th_file_open(th_file *f, const char *path, us_format format, int is_meta);
/* Reads the next line into f (f->st and, with US_OK, f->v or f->m). 1 with a line, 0 at the
 * end of the file or on a read error. */
int th_file_next(th_file *f);
void th_file_close(th_file *f);

#endif
