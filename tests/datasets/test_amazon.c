/* Amazon parsers: review fields of 2014, 2018 and 2023 lines, the reviewTime fallback, 2023
 * milliseconds, metadata of the three layouts (2014 dict literals: categories flattened; 2018
 * and 2023 JSON: descriptions joined, attributes kept and dropped), every kind of bad line, and
 * the fixture counts that tests/fixtures/amazon2014/README.txt states.
 *
 * An empty or blank line is US_NOREC (no record, not counted as bad), as in the other JSON
 * formats: a trailing blank line at the end of a file is not an error. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"
#include "tests/test.h"

/* One line and what reading it gave. The record borrows from the reader (and the buffer). */
typedef struct amz_case {
    us_reader r;
    char buf[4096];
    us_review v;
    us_meta m;
    us_err e;
    us_skip why;
} amz_case;

static void open_case(amz_case *c, us_format f, int is_meta) {
    memset(c, 0, sizeof *c);
    us_reader_init(&c->r, f, is_meta);
}

static us_status rev(amz_case *c, const char *line) {
    size_t n = strlen(line);
    US_ASSERT(n < sizeof c->buf);
    memcpy(c->buf, line, n + 1);
    us_err_clear(&c->e);
    c->why = US_SKIP_COUNT;
    return us_read_review(&c->r, c->buf, n, &c->v, &c->e, &c->why);
}

static us_status meta(amz_case *c, const char *line) {
    size_t n = strlen(line);
    US_ASSERT(n < sizeof c->buf);
    memcpy(c->buf, line, n + 1);
    us_err_clear(&c->e);
    c->why = US_SKIP_COUNT;
    return us_read_meta(&c->r, c->buf, n, &c->m, &c->e, &c->why);
}

static int eq(const char *s, size_t n, const char *want) {
    return s && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* cJSON printed compactly into a static buffer ("NULL" for none). */
static const char *json(const cJSON *v) {
    static char out[2048];
    if (!v) return "NULL";
    char *p = cJSON_PrintUnformatted(v);
    snprintf(out, sizeof out, "%s", p ? p : "(print failed)");
    free(p);
    return out;
}

/* The status, reason and field of a rejected line. */
static void check_bad(us_test_ctx *t_, us_status st, const amz_case *c, us_skip kind,
                      const char *field, int line) {
    if (st != US_EFORMAT || c->why != kind || strcmp(c->e.field, field) != 0)
        us_test_fail(t_, __FILE__, line,
                     "expected %s on \"%s\", got status %d, %s on \"%s\" (%s)",
                     us_skip_name(kind), field, (int)st, us_skip_name(c->why), c->e.field,
                     c->e.msg);
}
#define CHECK_BAD(c, call, kind, field)                                                    \
    do {                                                                                   \
        us_status st_ = (call);                                                            \
        check_bad(t_, st_, (c), (kind), (field), __LINE__);                                \
    } while (0)

/* ---- reviews ---- */

TEST(amazon2014_review_fields) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON, 0);
    CHECK_OK(rev(&c, "{\"reviewerID\": \"A2SUAM1J3GNN3B\", \"asin\": \"0000013714\", "
                     "\"reviewerName\": \"J. McDonald\", \"helpful\": [2, 3], \"reviewText\": "
                     "\"I bought this for my husband who plays the piano. He is having a "
                     "wonderful time \\\"playing\\\" these old hymns. Caf\\u00e9 \\ud83d\\ude00\", "
                     "\"overall\": 5.0, \"summary\": \"Heavenly Highway Hymns\", "
                     "\"unixReviewTime\": 1252800000, \"reviewTime\": \"09 13, 2009\"}"),
             c.e);
    CHECK(eq(c.v.user, c.v.user_len, "A2SUAM1J3GNN3B"));
    CHECK(eq(c.v.item, c.v.item_len, "0000013714"));
    CHECK_NEAR(c.v.rating, 5.0, 0);
    CHECK_EQ_INT(c.v.ts, 1252800000);
    CHECK(eq(c.v.title, c.v.title_len, "Heavenly Highway Hymns"));
    CHECK(eq(c.v.text, c.v.text_len,
             "I bought this for my husband who plays the piano. He is having a wonderful time "
             "\"playing\" these old hymns. Caf\xc3\xa9 \xf0\x9f\x98\x80"));
    /* Summary and text are optional; an empty one stays empty. */
    CHECK_OK(rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 1.0, "
                     "\"reviewText\": \"\", \"unixReviewTime\": 1}"),
             c.e);
    CHECK(c.v.title == NULL && c.v.text != NULL && c.v.text_len == 0);
    CHECK_NEAR(c.v.rating, 1.0, 0);
    /* Integer ids and a rating written as a string are accepted. */
    CHECK_OK(rev(&c, "{\"reviewerID\": 12345, \"asin\": \"I1\", \"overall\": \"4\", "
                     "\"unixReviewTime\": 1400000000}"),
             c.e);
    CHECK(eq(c.v.user, c.v.user_len, "12345"));
    CHECK_NEAR(c.v.rating, 4.0, 0);
    us_reader_free(&c.r);
}

TEST(amazon2018_review_fields) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON, 0);
    /* vote, verified, style, reviewerName and image are ignored; no reviewText. */
    CHECK_OK(rev(&c, "{\"overall\": 4.0, \"vote\": \"2\", \"verified\": true, \"reviewTime\": "
                     "\"04 6, 2017\", \"reviewerID\": \"A29OWR79AM796H\", \"asin\": "
                     "\"0470536454\", \"style\": {\"Format:\": \" Hardcover\"}, \"reviewerName\": "
                     "\"Amazon Customer\", \"summary\": \"Four Stars\", \"unixReviewTime\": "
                     "1491436800, \"image\": [\"https://images-na.ssl-images-amazon.com/x.jpg\"]}"),
             c.e);
    CHECK(eq(c.v.user, c.v.user_len, "A29OWR79AM796H"));
    CHECK(eq(c.v.item, c.v.item_len, "0470536454"));
    CHECK_NEAR(c.v.rating, 4.0, 0);
    CHECK_EQ_INT(c.v.ts, 1491436800);
    CHECK(eq(c.v.title, c.v.title_len, "Four Stars"));
    CHECK(c.v.text == NULL && c.v.text_len == 0);
    us_reader_free(&c.r);
}

TEST(amazon_review_time_fallback) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON, 0);
    char line[512];
    static const struct {
        const char *time_fields;
        int ok;
        long long ts;
    } cases[] = {
        {"\"reviewTime\": \"09 13, 2009\"", 1, 1252800000}, /* 2014: zero-padded day */
        {"\"reviewTime\": \"09 1, 2016\"", 1, 1472688000},  /* 2018: day without padding */
        {"\"reviewTime\": \"02 29, 2016\"", 1, 1456704000}, /* a leap day */
        {"\"unixReviewTime\": null, \"reviewTime\": \"12 31, 1999\"", 1, 946598400},
        {"\"unixReviewTime\": 1400000000, \"reviewTime\": \"09 1, 2016\"", 1, 1400000000},
        {"\"unixReviewTime\": \"1400000000\"", 1, 1400000000}, /* as a string */
        {"\"unixReviewTime\": -86400", 1, -86400},
        {"\"reviewTime\": \"02 29, 2015\"", 0, 0}, /* no such day */
        {"\"reviewTime\": \"13 01, 2015\"", 0, 0}, /* no such month */
        {"\"reviewTime\": \"2015-01-01\"", 0, 0},  /* another layout */
        {"\"reviewTime\": \"09 13, 09\"", 0, 0},   /* two-digit year */
        {"\"reviewTime\": \"09 13 2009\"", 0, 0},  /* no comma */
        {"\"reviewTime\": \"\"", 0, 0},
        {"\"reviewTime\": 20090913", 0, 0},
        {"", 0, 0}, /* neither */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line,
                 "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0%s%s}",
                 *cases[i].time_fields ? ", " : "", cases[i].time_fields);
        us_status st = rev(&c, line);
        if (!cases[i].ok) {
            check_bad(t_, st, &c, US_SKIP_MISSING, "unixReviewTime", __LINE__);
        } else if (st != US_OK || c.v.ts != cases[i].ts) {
            us_test_fail(t_, __FILE__, __LINE__, "%s: status %d ts %lld (%s)", line, (int)st,
                         (long long)c.v.ts, c.e.msg);
        }
    }
    /* Without unixReviewTime the message names what was found. */
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                          "\"reviewTime\": \"Sept 13\"}"),
              US_SKIP_MISSING, "unixReviewTime");
    CHECK(strstr(c.e.msg, "\"Sept 13\"") != NULL);
    /* A unixReviewTime that is there but not whole seconds is wrong, not a reason to fall
     * back. */
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                          "\"unixReviewTime\": 1.5, \"reviewTime\": \"09 13, 2009\"}"),
              US_SKIP_TYPE, "unixReviewTime");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                          "\"unixReviewTime\": \"soon\"}"),
              US_SKIP_TYPE, "unixReviewTime");
    CHECK(strstr(c.e.msg, "\"soon\"") != NULL);
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                          "\"unixReviewTime\": [1]}"),
              US_SKIP_TYPE, "unixReviewTime");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                          "\"unixReviewTime\": 1e300}"),
              US_SKIP_TYPE, "unixReviewTime");
    us_reader_free(&c.r);
}

TEST(amazon2023_review_fields) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON2023, 0);
    CHECK_OK(rev(&c, "{\"rating\": 5.0, \"title\": \"Such a lovely scent but not "
                     "overpowering.\", \"text\": \"This spray is really nice. It smells "
                     "really good \\ud83d\\ude00\", \"images\": [], \"asin\": \"B00YQ6X8EO\", "
                     "\"parent_asin\": \"B00YQ6X8EP\", \"user_id\": "
                     "\"AGKHLEW2SOWHNMFQIJGBECAF7INQ\", \"timestamp\": 1588687728923, "
                     "\"helpful_vote\": 0, \"verified_purchase\": true}"),
             c.e);
    CHECK(eq(c.v.user, c.v.user_len, "AGKHLEW2SOWHNMFQIJGBECAF7INQ"));
    CHECK(eq(c.v.item, c.v.item_len, "B00YQ6X8EP")); /* the parent, not the variant */
    CHECK_NEAR(c.v.rating, 5.0, 0);
    CHECK_EQ_INT(c.v.ts, 1588687728); /* milliseconds to whole seconds, rounded down */
    CHECK(eq(c.v.title, c.v.title_len, "Such a lovely scent but not overpowering."));
    CHECK(eq(c.v.text, c.v.text_len,
             "This spray is really nice. It smells really good \xf0\x9f\x98\x80"));
    /* Without parent_asin (absent, null or empty) the asin is the item. */
    static const char *const no_parent[] = {"", "\"parent_asin\": null, ",
                                            "\"parent_asin\": \"\", "};
    for (int i = 0; i < 3; i++) {
        char line[256];
        snprintf(line, sizeof line,
                 "{\"rating\": 2, \"asin\": \"B01\", %s\"user_id\": \"U\", "
                 "\"timestamp\": 1999}",
                 no_parent[i]);
        CHECK_OK(rev(&c, line), c.e);
        CHECK(eq(c.v.item, c.v.item_len, "B01"));
        CHECK_EQ_INT(c.v.ts, 1);
        CHECK(c.v.title == NULL && c.v.text == NULL);
    }
    /* Before 1970 the division still rounds down. */
    CHECK_OK(rev(&c, "{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\", "
                     "\"timestamp\": -1500}"),
             c.e);
    CHECK_EQ_INT(c.v.ts, -2);
    /* The timestamp must be a number of milliseconds. */
    CHECK_BAD(&c, rev(&c, "{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\"}"),
              US_SKIP_MISSING, "timestamp");
    CHECK_BAD(&c, rev(&c, "{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\", "
                          "\"timestamp\": \"1588687728923\"}"),
              US_SKIP_TYPE, "timestamp");
    CHECK_BAD(&c, rev(&c, "{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\", "
                          "\"timestamp\": 1588687728923.5}"),
              US_SKIP_TYPE, "timestamp");
    CHECK_BAD(&c, rev(&c, "{\"rating\": 2, \"user_id\": \"U\", \"timestamp\": 1}"),
              US_SKIP_MISSING, "asin");
    CHECK_BAD(&c, rev(&c, "{\"rating\": 2, \"parent_asin\": {}, \"asin\": \"B\", "
                          "\"user_id\": \"U\", \"timestamp\": 1}"),
              US_SKIP_TYPE, "parent_asin");
    CHECK_BAD(&c, rev(&c, "{\"rating\": 2, \"parent_asin\": \"B\", \"timestamp\": 1}"),
              US_SKIP_MISSING, "user_id");
    CHECK_BAD(&c, rev(&c, "{\"parent_asin\": \"B\", \"user_id\": \"U\", \"timestamp\": 1}"),
              US_SKIP_MISSING, "rating");
    CHECK_BAD(&c, rev(&c, "{\"rating\": \"five\", \"parent_asin\": \"B\", \"user_id\": \"U\", "
                          "\"timestamp\": 1}"),
              US_SKIP_TYPE, "rating");
    CHECK_BAD(&c, rev(&c, "{\"rating\": 6, \"parent_asin\": \"B\", \"user_id\": \"U\", "
                          "\"timestamp\": 1}"),
              US_SKIP_RANGE, "rating");
    CHECK_BAD(&c, rev(&c, "{\"rating\": 5, \"parent_asin\": \"B\", \"user_id\": \"U\", "
                          "\"timestamp\": 1, \"text\": 3}"),
              US_SKIP_TYPE, "text");
    us_reader_free(&c.r);
}

TEST(amazon_review_bad_lines) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON, 0);
    /* Malformed JSON and a line cut short. */
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\" \"overall\": 5.0}"),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(&c,
              rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5.0, \"unixRevi"),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(&c, rev(&c, "[\"U1\", \"I1\", 5.0]"), US_SKIP_MALFORMED, "");
    CHECK_BAD(&c, rev(&c, "{'reviewerID': 'U1', 'asin': 'I1', 'overall': 5.0}"),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\"} {\"asin\": \"I1\"}"), US_SKIP_MALFORMED, "");
    /* Missing fields. */
    CHECK_BAD(&c, rev(&c, "{\"asin\": \"I1\", \"overall\": 5.0, \"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "reviewerID");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"\", \"asin\": \"I1\", \"overall\": 5.0, "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "reviewerID");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"overall\": 5.0, \"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "asin");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": null, \"overall\": 5.0, "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "asin");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "overall");
    /* Wrong types. */
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": \"five\", "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "overall");
    CHECK(strstr(c.e.msg, "expected a number, found \"five\"") != NULL);
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": true, "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "overall");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": {\"id\": \"I1\"}, \"overall\": 5, "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "asin");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": [\"U1\"], \"asin\": \"I1\", \"overall\": 5, "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "reviewerID");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                          "\"reviewText\": 42, \"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "reviewText");
    CHECK(strstr(c.e.msg, "expected a string") != NULL);
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                          "\"summary\": [\"x\"], \"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "summary");
    /* Ratings outside 1..5 (the dispatcher's check, named by the dataset's field). */
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 0.0, "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_RANGE, "overall");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 6, "
                          "\"unixReviewTime\": 1}"),
              US_SKIP_RANGE, "overall");
    /* Invalid UTF-8 inside a string (a stray continuation byte, then a Latin-1 e-acute). */
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                          "\"reviewText\": \"caf\x80\", \"unixReviewTime\": 1}"),
              US_SKIP_UTF8, "");
    CHECK_BAD(&c, rev(&c, "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                          "\"reviewText\": \"caf\xe9\", \"unixReviewTime\": 1}"),
              US_SKIP_UTF8, "");
    /* Empty and blank lines carry no record. */
    CHECK_EQ_INT(rev(&c, ""), US_NOREC);
    CHECK_EQ_INT(rev(&c, "  \t\r"), US_NOREC);
    /* The reader recovers: the next good line reads normally. */
    CHECK_OK(rev(&c, "{\"reviewerID\": \"U9\", \"asin\": \"I9\", \"overall\": 2.0, "
                     "\"unixReviewTime\": 7}"),
             c.e);
    CHECK(eq(c.v.user, c.v.user_len, "U9"));
    us_reader_free(&c.r);

    /* The same empty-line rule for 2023 reviews. */
    open_case(&c, US_FORMAT_AMAZON2023, 0);
    CHECK_EQ_INT(rev(&c, ""), US_NOREC);
    CHECK_BAD(&c, rev(&c, "{\"rating\": 5.0, \"user_id\": \"U\""), US_SKIP_MALFORMED, "");
    us_reader_free(&c.r);
}

/* ---- metadata ---- */

TEST(amazon2014_meta_dict_literal) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON, 1);
    CHECK_OK(meta(&c, "{'asin': '0000031852', 'title': 'Girls Ballet Tutu Zebra Hot Pink', "
                      "'price': 3.17, 'imUrl': 'http://ecx.images-amazon.com/images/I/51fAmV.jpg', "
                      "'related': {'also_bought': ['B00JHONN1S', 'B002BZX8Z6'], 'also_viewed': "
                      "['B002BZX8Z6'], 'bought_together': ['B002BZX8Z6']}, 'salesRank': {'Toys & "
                      "Games': 211836}, 'brand': 'Coxlists', 'categories': [['Sports & Outdoors', "
                      "'Other Sports', 'Dance'], ['Clothing, Shoes & Jewelry', 'Girls', 'Dance'], "
                      "['Sports & Outdoors']], 'description': \"It's a tutu\\nin zebra pink\"}"),
             c.e);
    CHECK(eq(c.m.item, c.m.item_len, "0000031852"));
    CHECK_STR(c.m.title, "Girls Ballet Tutu Zebra Hot Pink");
    CHECK_STR(c.m.brand, "Coxlists");
    CHECK_STR(c.m.description, "It's a tutu\nin zebra pink");
    /* The list of lists flattened, in order, without repeats. */
    CHECK_STR(json(c.m.categories), "[\"Sports & Outdoors\",\"Other Sports\",\"Dance\","
                                    "\"Clothing, Shoes & Jewelry\",\"Girls\"]");
    /* Only price and salesRank are kept: no related lists, no image. */
    CHECK_STR(json(c.m.attributes), "{\"price\":3.17,\"salesRank\":{\"Toys & Games\":211836}}");
    CHECK(c.m.state == NULL);

    /* Escapes decode to UTF-8; no price, no brand, no description. */
    CHECK_OK(meta(&c, "{'asin': 'B001GZ6QEC', 'title': 'Little Caf\\xe9 \\u2013 \\U0001f986', "
                      "'salesRank': {}, 'categories': [['Toys & Games']]}"),
             c.e);
    CHECK_STR(c.m.title, "Little Caf\xc3\xa9 \xe2\x80\x93 \xf0\x9f\xa6\x86");
    CHECK(c.m.brand == NULL && c.m.description == NULL);
    CHECK(c.m.attributes == NULL); /* an empty salesRank is left out */
    CHECK_STR(json(c.m.categories), "[\"Toys & Games\"]");

    /* Only an asin: everything else absent. */
    CHECK_OK(meta(&c, "{'asin': 'B0000000X1'}"), c.e);
    CHECK(c.m.title == NULL && c.m.categories == NULL && c.m.attributes == NULL);

    /* A description that is a list of strings is joined. */
    CHECK_OK(meta(&c, "{'asin': 'B2', 'description': ['One.', 'Two.'], 'title': ''}"), c.e);
    CHECK_STR(c.m.description, "One.\nTwo.");
    CHECK(c.m.title == NULL); /* empty title: none */
    us_reader_free(&c.r);
}

TEST(amazon2018_meta_json) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON, 1);
    CHECK_OK(meta(&c, "{\"category\": [\"Toys & Games\", \"Arts & Crafts\", \"Crayons\", "
                      "\"Toys & Games\"], \"tech1\": \"<table></table>\", \"description\": "
                      "[\"Crayola's washable crayons.\", \"\", \"Box of 24 \\u00e9 colors.\"], "
                      "\"fit\": \"\", \"title\": \"Crayola \\\"Washable\\\" Crayons\", "
                      "\"also_buy\": [\"B1\", \"B2\"], \"tech2\": \"\", \"brand\": \"Crayola\", "
                      "\"feature\": [\"Washable\", \"Non-toxic\"], \"rank\": [\"1,843 in Toys & "
                      "Games (\"], \"also_view\": [\"B3\"], \"main_cat\": \"Arts, Crafts & "
                      "Sewing\", \"similar_item\": \"\", \"date\": \"March 5, 2006\", \"price\": "
                      "\"$4.99\", \"asin\": \"B00004S1C5\", \"imageURL\": [\"https://x/1.jpg\"], "
                      "\"imageURLHighRes\": [\"https://x/2.jpg\"], \"details\": {\"Shipping "
                      "Weight:\": \"4.8 ounces\"}}"),
             c.e);
    CHECK(eq(c.m.item, c.m.item_len, "B00004S1C5"));
    CHECK_STR(c.m.title, "Crayola \"Washable\" Crayons");
    CHECK_STR(c.m.brand, "Crayola");
    CHECK_STR(c.m.description, "Crayola's washable crayons.\nBox of 24 \xc3\xa9 colors.");
    CHECK_STR(json(c.m.categories), "[\"Toys & Games\",\"Arts & Crafts\",\"Crayons\"]");
    CHECK_STR(json(c.m.attributes),
              "{\"feature\":[\"Washable\",\"Non-toxic\"],\"price\":\"$4.99\","
              "\"main_cat\":\"Arts, Crafts & Sewing\",\"rank\":[\"1,843 in Toys & Games (\"],"
              "\"details\":{\"Shipping Weight:\":\"4.8 ounces\"},\"date\":\"March 5, 2006\"}");

    /* A JSON line whose strings contain single quotes is still JSON. */
    CHECK_OK(meta(&c, "{\"title\": \"It's\", \"asin\": \"B5\", \"category\": []}"), c.e);
    CHECK_STR(c.m.title, "It's");
    CHECK(c.m.categories == NULL && c.m.attributes == NULL && c.m.description == NULL);
    /* Empty values are not worth keeping. */
    CHECK_OK(meta(&c, "{\"asin\": \"B6\", \"price\": \"\", \"date\": \"\", \"feature\": [], "
                      "\"details\": {}, \"rank\": null, \"main_cat\": \"Toys\"}"),
             c.e);
    CHECK_STR(json(c.m.attributes), "{\"main_cat\":\"Toys\"}");
    us_reader_free(&c.r);
}

TEST(amazon2023_meta_fields) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON2023, 1);
    CHECK_OK(meta(&c, "{\"main_category\": \"All Beauty\", \"title\": \"Howard LC0008 Leather "
                      "Conditioner, 8-Ounce\", \"average_rating\": 4.8, \"rating_number\": 10, "
                      "\"features\": [\"Conditions leather\"], \"description\": "
                      "[\"Line one.\", \"Line two.\"], \"price\": null, \"images\": "
                      "[{\"thumb\": \"https://m/1.jpg\", \"large\": \"https://m/2.jpg\", "
                      "\"variant\": \"MAIN\", \"hi_res\": null}], \"videos\": [], \"store\": "
                      "\"Howard Products\", \"categories\": [\"Beauty\", \"Skin Care\"], "
                      "\"details\": {\"UPC\": \"617390882781\"}, \"parent_asin\": "
                      "\"B01CUPMQZE\", \"bought_together\": null}"),
             c.e);
    CHECK(eq(c.m.item, c.m.item_len, "B01CUPMQZE"));
    CHECK_STR(c.m.title, "Howard LC0008 Leather Conditioner, 8-Ounce");
    CHECK_STR(c.m.brand, "Howard Products");
    CHECK_STR(c.m.description, "Line one.\nLine two.");
    CHECK_STR(json(c.m.categories), "[\"Beauty\",\"Skin Care\"]");
    CHECK_STR(json(c.m.attributes),
              "{\"main_category\":\"All Beauty\",\"features\":[\"Conditions leather\"],"
              "\"details\":{\"UPC\":\"617390882781\"},\"average_rating\":4.8,"
              "\"rating_number\":10}"); /* price null is left out */
    /* Empty lists and a null store. */
    CHECK_OK(meta(&c, "{\"title\": \"T\", \"description\": [], \"store\": null, \"categories\": "
                      "[], \"parent_asin\": \"B02\"}"),
             c.e);
    CHECK(c.m.brand == NULL && c.m.description == NULL && c.m.categories == NULL);
    CHECK_BAD(&c, meta(&c, "{\"title\": \"T\", \"asin\": \"B02\"}"), US_SKIP_MISSING,
              "parent_asin");
    CHECK_BAD(&c, meta(&c, "{\"parent_asin\": \"B02\", \"store\": 7}"), US_SKIP_TYPE, "store");
    CHECK_BAD(&c, meta(&c, "{\"parent_asin\": \"B02\", \"categories\": {}}"), US_SKIP_TYPE,
              "categories");
    CHECK_EQ_INT(meta(&c, " "), US_NOREC);
    us_reader_free(&c.r);
}

TEST(amazon_meta_bad_lines) {
    amz_case c;
    open_case(&c, US_FORMAT_AMAZON, 1);
    /* Dict literals: bad syntax names the byte. */
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'title': }"), US_SKIP_MALFORMED, "");
    CHECK(strstr(c.e.msg, "at byte 25") != NULL);
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'title': 'cut sh"), US_SKIP_MALFORMED, "");
    CHECK(strstr(c.e.msg, "the end of the line") != NULL);
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1'} trailing"), US_SKIP_MALFORMED, "");
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'title': u'x'}"), US_SKIP_MALFORMED, "");
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'title': '\\ud800'}"), US_SKIP_MALFORMED, "");
    /* JSON: bad syntax. */
    CHECK_BAD(&c, meta(&c, "{\"asin\": \"B1\", \"title\": }"), US_SKIP_MALFORMED, "");
    CHECK_BAD(&c, meta(&c, "not a record"), US_SKIP_MALFORMED, "");
    /* Missing asin, in both layouts. */
    CHECK_BAD(&c, meta(&c, "{'title': 'No id', 'categories': [['Toys']]}"), US_SKIP_MISSING,
              "asin");
    CHECK_BAD(&c, meta(&c, "{\"title\": \"No id\", \"category\": [\"Toys\"]}"), US_SKIP_MISSING,
              "asin");
    CHECK_BAD(&c, meta(&c, "{}"), US_SKIP_MISSING, "asin");
    CHECK_BAD(&c, meta(&c, "{'asin': None}"), US_SKIP_MISSING, "asin");
    /* Wrong types. */
    CHECK_BAD(&c, meta(&c, "{'asin': ['B1']}"), US_SKIP_TYPE, "asin");
    CHECK_BAD(&c, meta(&c, "{\"asin\": {\"id\": \"B1\"}}"), US_SKIP_TYPE, "asin");
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'title': 5}"), US_SKIP_TYPE, "title");
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'brand': ['x']}"), US_SKIP_TYPE, "brand");
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'description': 3.5}"), US_SKIP_TYPE, "description");
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'categories': {'a': 1}}"), US_SKIP_TYPE,
              "categories");
    CHECK_BAD(&c, meta(&c, "{\"asin\": \"B1\", \"category\": 3}"), US_SKIP_TYPE, "category");
    /* Invalid UTF-8 as raw bytes (escapes cannot make it). */
    CHECK_BAD(&c, meta(&c, "{'asin': 'B1', 'title': 'Caf\xe9'}"), US_SKIP_UTF8, "");
    /* Blank lines carry no record. */
    CHECK_EQ_INT(meta(&c, ""), US_NOREC);
    CHECK_EQ_INT(meta(&c, "   "), US_NOREC);
    us_reader_free(&c.r);
}

/* ---- the fixtures ---- */

typedef struct counts {
    long lines, records, bad, norec;
    uint32_t users, items;
} counts;

/* Reads every line of path and counts records, distinct users and items. */
static int count_file(const char *path, us_format f, int is_meta, counts *k, char *bad_msg,
                      size_t cap) {
    memset(k, 0, sizeof *k);
    us_lines *l;
    us_err e;
    if (us_lines_open(&l, path, &e) != US_OK) return -1;
    us_strtab *users, *items;
    if (us_strtab_init(&users) != US_OK || us_strtab_init(&items) != US_OK) return -1;
    us_reader r;
    us_reader_init(&r, f, is_meta);
    char *line;
    size_t len;
    while (us_lines_next(l, &line, &len, &e) == 1) {
        k->lines++;
        us_review v;
        us_meta m;
        us_skip why;
        us_status st = is_meta ? us_read_meta(&r, line, len, &m, &e, &why)
                               : us_read_review(&r, line, len, &v, &e, &why);
        if (st == US_NOREC) {
            k->norec++;
        } else if (st != US_OK) {
            if (!k->bad)
                snprintf(bad_msg, cap, "line %ld: %.60s: %.200s", k->lines, e.field, e.msg);
            k->bad++;
        } else {
            k->records++;
            uint32_t id;
            if (is_meta) {
                us_strtab_intern(items, m.item, m.item_len, &id, NULL);
            } else {
                us_strtab_intern(users, v.user, v.user_len, &id, NULL);
                us_strtab_intern(items, v.item, v.item_len, &id, NULL);
            }
        }
    }
    k->users = us_strtab_count(users);
    k->items = us_strtab_count(items);
    us_reader_free(&r);
    us_strtab_free(users);
    us_strtab_free(items);
    us_lines_close(l);
    return 0;
}

TEST(amazon_fixture_counts) {
    static const struct {
        const char *path;
        us_format f;
        int is_meta;
        long lines;
        uint32_t users, items;
    } files[] = {
        {"tests/fixtures/amazon2014/reviews_Tiny_5.json", US_FORMAT_AMAZON, 0, 21, 6, 6},
        {"tests/fixtures/amazon2014/meta_Tiny.json", US_FORMAT_AMAZON, 1, 6, 0, 6},
        {"tests/fixtures/amazon2018/Tiny_5.json", US_FORMAT_AMAZON, 0, 21, 6, 6},
        {"tests/fixtures/amazon2018/meta_Tiny.json", US_FORMAT_AMAZON, 1, 6, 0, 6},
        {"tests/fixtures/amazon2023/Tiny.jsonl", US_FORMAT_AMAZON2023, 0, 21, 6, 6},
        {"tests/fixtures/amazon2023/meta_Tiny.jsonl", US_FORMAT_AMAZON2023, 1, 6, 0, 6},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        counts k;
        char msg[600] = "";
        if (count_file(files[i].path, files[i].f, files[i].is_meta, &k, msg, sizeof msg) != 0) {
            us_test_fail(t_, __FILE__, __LINE__, "%s: cannot read", files[i].path);
            continue;
        }
        if (k.lines != files[i].lines || k.records != files[i].lines || k.bad || k.norec ||
            k.users != files[i].users || k.items != files[i].items)
            us_test_fail(t_, __FILE__, __LINE__,
                         "%s: %ld lines, %ld records, %ld bad (%s), %ld blank, %u users, "
                         "%u items",
                         files[i].path, k.lines, k.records, k.bad, msg, k.norec, k.users,
                         k.items);
    }
}

/* The fixtures' review and meta files of one release agree on which items have metadata. */
TEST(amazon_fixture_meta_join) {
    static const char *const releases[3][2] = {
        {"tests/fixtures/amazon2014/reviews_Tiny_5.json",
         "tests/fixtures/amazon2014/meta_Tiny.json"},
        {"tests/fixtures/amazon2018/Tiny_5.json", "tests/fixtures/amazon2018/meta_Tiny.json"},
        {"tests/fixtures/amazon2023/Tiny.jsonl", "tests/fixtures/amazon2023/meta_Tiny.jsonl"},
    };
    for (int rel = 0; rel < 3; rel++) {
        us_format f = rel == 2 ? US_FORMAT_AMAZON2023 : US_FORMAT_AMAZON;
        us_strtab *reviewed;
        REQUIRE(us_strtab_init(&reviewed) == US_OK);
        us_lines *l;
        us_err e;
        us_reader r;
        char *line;
        size_t len;
        REQUIRE(us_lines_open(&l, releases[rel][0], &e) == US_OK);
        us_reader_init(&r, f, 0);
        while (us_lines_next(l, &line, &len, &e) == 1) {
            us_review v;
            us_skip why;
            uint32_t id;
            if (us_read_review(&r, line, len, &v, &e, &why) == US_OK)
                us_strtab_intern(reviewed, v.item, v.item_len, &id, NULL);
        }
        us_reader_free(&r);
        us_lines_close(l);

        int with_meta = 0, unused = 0, with_cats = 0;
        REQUIRE(us_lines_open(&l, releases[rel][1], &e) == US_OK);
        us_reader_init(&r, f, 1);
        while (us_lines_next(l, &line, &len, &e) == 1) {
            us_meta m;
            us_skip why;
            uint32_t id;
            if (us_read_meta(&r, line, len, &m, &e, &why) != US_OK) continue;
            if (us_strtab_find(reviewed, m.item, m.item_len, &id))
                with_meta++;
            else
                unused++;
            with_cats += m.categories != NULL;
            CHECK(m.title != NULL);
        }
        us_reader_free(&r);
        us_lines_close(l);
        CHECK_EQ_INT(with_meta, 5);
        CHECK_EQ_INT(unused, 1);
        CHECK(with_cats >= 4);
        us_strtab_free(reviewed);
    }
}
