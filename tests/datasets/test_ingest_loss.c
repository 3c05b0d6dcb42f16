/* Ingest never loses data quietly and never reports a damaged input as complete: a last line
 * cut short, metadata skips kept apart from the reviews' count, a --state that matches no
 * business, JSON nested too deep, a bad review date, and gzip corruption with the share of the
 * file it cost. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tests/cli.h"
#include "tests/datasets/reader_helpers.h"

static us_status ingest_as(us_format f, const char *reviews, const char *meta, int strict,
                           us_ingest_report *rep, us_err *err) {
    us_ingest_config c = us_ingest_config_default();
    c.format = f;
    c.reviews_path = reviews;
    c.meta_path = meta;
    c.out_path = us_test_path("s.usdb");
    c.strict = strict;
    c.quiet = 1;
    return us_ingest(&c, rep, err);
}

/* u.data cut in the middle of its last timestamp ("881250949" -> "8"), no final newline. */
static const char cut_udata[] = "196\t242\t3\t881250949\n"
                                "186\t302\t3\t891717742\n"
                                "299\t955\t4\t8";

TEST(ingest_last_line_cut_short_is_skipped) {
    const char *p = us_test_write("u.data", cut_udata, (long)strlen(cut_udata));
    us_ingest_report rep;
    us_err e;
    CHECK_OK(ingest_as(US_FORMAT_MOVIELENS, p, NULL, 0, &rep, &e), e);
    CHECK_EQ_U64(rep.records, 2);
    CHECK_EQ_U64(rep.skipped, 1);
    REQUIRE(rep.nskip_kinds == 1);
    CHECK_STR(rep.skips[0].field, "timestamp");
    CHECK_EQ_INT(rep.skips[0].first_line, 3);
    CHECK(strstr(rep.skips[0].example, "newline") != NULL);
    /* --strict: an error naming the file, the line and the field. */
    CHECK_EQ_INT(ingest_as(US_FORMAT_MOVIELENS, p, NULL, 1, &rep, &e), US_EFORMAT);
    CHECK(strstr(e.file, "u.data") != NULL);
    CHECK_EQ_INT(e.line, 3);
    CHECK_STR(e.field, "timestamp");
}

TEST(ingest_last_line_without_newline_is_kept_when_whole) {
    static const char whole[] = "196\t242\t3\t881250949\n"
                                "299\t955\t4\t881250950";
    const char *p = us_test_write("u.data", whole, (long)strlen(whole));
    us_ingest_report rep;
    us_err e;
    CHECK_OK(ingest_as(US_FORMAT_MOVIELENS, p, NULL, 1, &rep, &e), e);
    CHECK_EQ_U64(rep.records, 2);
    CHECK_EQ_U64(rep.skipped, 0);
    /* The same cut line ended by a newline is a complete line, read as written. */
    static const char ended[] = "196\t242\t3\t881250949\n"
                                "299\t955\t4\t8\n";
    p = us_test_write("u2.data", ended, (long)strlen(ended));
    CHECK_OK(ingest_as(US_FORMAT_MOVIELENS, p, NULL, 1, &rep, &e), e);
    CHECK_EQ_U64(rep.records, 2);
}

/* prefix, then depth '[' and as many ']', then suffix, in a buffer the caller frees. */
static char *nested(const char *prefix, int depth, const char *suffix, size_t *len) {
    size_t np = strlen(prefix), ns = strlen(suffix);
    char *b = malloc(np + 2 * (size_t)depth + ns + 1);
    US_ASSERT(b);
    memcpy(b, prefix, np);
    memset(b + np, '[', (size_t)depth);
    memset(b + np + depth, ']', (size_t)depth);
    memcpy(b + np + 2 * (size_t)depth, suffix, ns + 1);
    *len = np + 2 * (size_t)depth + ns;
    return b;
}

TEST(json_nested_too_deep_is_named_so) {
    us_err e;
    us_skip why = US_SKIP_COUNT;
    size_t n;
    /* A review line (the scanner): valid JSON, deeper than it reads. */
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    us_review v;
    char *line = nested("{\"reviewerID\":\"U\",\"asin\":\"I\",\"overall\":5,"
                        "\"unixReviewTime\":1400000000,\"x\":", 400, "}", &n);
    us_err_clear(&e);
    CHECK_BAD(us_read_review(&r, line, n, &v, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "nested") != NULL && strstr(e.msg, "invalid") == NULL);
    free(line);
    /* Shallow nesting still reads, and plain bad JSON is still called invalid. */
    line = nested("{\"reviewerID\":\"U\",\"asin\":\"I\",\"overall\":5,"
                  "\"unixReviewTime\":1400000000,\"x\":", 100, "}", &n);
    CHECK_OK(us_read_review(&r, line, n, &v, &e, &why), e);
    free(line);
    char buf[256];
    CHECK_BAD(th_review(&r, buf, sizeof buf, "{\"reviewerID\": [[[}", &v, &e, &why),
              US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "invalid JSON") != NULL);
    us_reader_free(&r);

    /* A business line (cJSON): an attribute nested past its limit. */
    us_reader_init(&r, US_FORMAT_YELP, 1);
    us_meta m;
    line = nested("{\"business_id\":\"b\",\"attributes\":{\"a\":", 1200, "}}", &n);
    us_err_clear(&e);
    CHECK_BAD(us_read_meta(&r, line, n, &m, &e, &why), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "nested") != NULL && strstr(e.msg, "invalid") == NULL);
    free(line);
    us_reader_free(&r);
}
