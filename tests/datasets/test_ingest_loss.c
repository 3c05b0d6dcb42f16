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

/* Two good reviews (Amazon 2018 JSON). */
static const char two_reviews[] =
    "{\"reviewerID\":\"U1\",\"asin\":\"I1\",\"overall\":5.0,\"unixReviewTime\":1400000000}\n"
    "{\"reviewerID\":\"U2\",\"asin\":\"I1\",\"overall\":2.0,\"unixReviewTime\":1400000001}\n";

TEST(cli_ingest_headline_keeps_metadata_skips_apart) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    const char *rv = us_test_write("r.json", two_reviews, (long)strlen(two_reviews));
    static const char meta[] = "{\"asin\":\"I1\",\"title\":\"Cup\"}\n"
                               "not a record\n"
                               "{\"title\":\"no asin\"}\n";
    const char *mt = us_test_write("m.json", meta, (long)strlen(meta));
    char out[1024];
    snprintf(out, sizeof out, "%s", us_test_path("s.usdb"));
    const char *args[] = {"ingest", "--format", "amazon", "--reviews", rv, "--meta", mt,
                          "--out", out, NULL};
    CHECK_EQ_INT(us_test_cli(args, "o"), 0);
    const char *o = us_test_slurp("o");
    /* The reviews' headline counts the reviews file's bad lines (none); the metadata line
     * counts its own. */
    CHECK(strstr(o, "ingest: 2 lines, 2 records, 0 skipped") != NULL);
    CHECK(strstr(o, "metadata 3 lines, 2 skipped") != NULL);
    us_ingest_report rep;
    us_err e;
    CHECK_OK(ingest_as(US_FORMAT_AMAZON, rv, mt, 0, &rep, &e), e);
    CHECK_EQ_U64(rep.skipped, 2);
    CHECK_EQ_U64(rep.meta_skipped, 2);
}

TEST(ingest_state_matching_no_business_says_so) {
    us_ingest_config c = us_ingest_config_default();
    c.format = US_FORMAT_YELP;
    c.reviews_path = "tests/fixtures/yelp/yelp_academic_dataset_review.json";
    c.meta_path = "tests/fixtures/yelp/yelp_academic_dataset_business.json";
    c.out_path = us_test_path("s.usdb");
    c.state = "ZZ";
    c.quiet = 1;
    us_ingest_report rep;
    us_err e;
    CHECK_EQ_INT(us_ingest(&c, &rep, &e), US_EEMPTY);
    CHECK_STR(e.field, "--state");
    CHECK(strstr(e.msg, "\"ZZ\"") != NULL);
    CHECK(strstr(e.msg, "no valid record") == NULL);
    CHECK(strstr(e.file, "business") != NULL);
}

/* A gzip file of many reviews with bytes flipped 2% of the way in. */
static const char *damaged_gzip(void) {
    static char data[2000000];
    size_t o = 0;
    uint32_t x = 12345;
    for (int i = 0; i < 20000 && o < sizeof data - 400; i++) {
        char words[200];
        size_t w = 0;
        for (int k = 0; k < 12; k++) {
            x = x * 1664525u + 1013904223u;
            w += (size_t)snprintf(words + w, sizeof words - w, "w%u ", x >> 22);
        }
        o += (size_t)snprintf(data + o, sizeof data - o,
                              "{\"reviewerID\":\"U%d\",\"asin\":\"I%d\",\"overall\":%d.0,"
                              "\"reviewText\":\"%s\",\"unixReviewTime\":%d}\n",
                              i % 300, (i * 7) % 500, 1 + i % 5, words, 1400000000 + i);
    }
    const char *p = us_test_path("r.json.gz");
    gzFile g = gzopen(p, "wb");
    US_ASSERT(g);
    gzwrite(g, data, (unsigned)o);
    gzclose(g);
    FILE *f = fopen(p, "rb");
    US_ASSERT(f);
    static char gz[2000000];
    size_t n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    for (size_t k = n / 50; k < n / 50 + 8; k++) gz[k] = (char)(gz[k] ^ 0xFF);
    return us_test_write("r.json.gz", gz, (long)n);
}

TEST(ingest_damaged_gzip_says_how_much_was_lost) {
    const char *p = damaged_gzip();
    us_ingest_report rep;
    us_err e;
    CHECK_OK(ingest_as(US_FORMAT_AMAZON, p, NULL, 0, &rep, &e), e);
    CHECK(rep.records < 20000 / 2);
    int found = 0;
    for (int i = 0; i < rep.nskip_kinds; i++) {
        if (strcmp(rep.skips[i].reason, "truncated-gzip") != 0) continue;
        found = 1;
        /* The damage 2% in costs most of the file, and the message says so. */
        const char *pct = strstr(rep.skips[i].example, " lines read (");
        CHECK(pct != NULL && strstr(rep.skips[i].example, "are lost") != NULL);
        CHECK(pct != NULL && atof(pct + strlen(" lines read (")) > 50);
    }
    CHECK(found);
    /* --strict stops instead of keeping the part before the damage. */
    CHECK_EQ_INT(ingest_as(US_FORMAT_AMAZON, p, NULL, 1, &rep, &e), US_EFORMAT);
    CHECK(strstr(e.file, "r.json.gz") != NULL);
}
