/* Ingest never loses data quietly and never reports a damaged input as complete: a last line
 * cut short, metadata skips kept apart from the reviews' count, a --state that matches no
 * business, JSON nested too deep, a bad review date, and gzip corruption with the share of the
 * file it cost. */
#include <string.h>
#include <zlib.h>

#include "datasets/internal.h"
#include "tests/cli.h"
#include "tests/test.h"

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
