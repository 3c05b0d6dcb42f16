/* Amazon parsers: review fields of 2014, 2018 and 2023 lines, the reviewTime fallback, 2023
 * milliseconds, metadata of the three layouts (2014 dict literals: categories flattened; 2018
 * and 2023 JSON: descriptions joined, attributes kept and dropped), every kind of bad line, and
 * every metadata record of the fixtures, also the one the ingest leaves out. The counts that
 * tests/fixtures/amazon2014/README.txt states are checked end to end in test_formats.c.
 *
 * An empty or blank line is US_NOREC (no record, not counted as bad), as in the other JSON
 * formats: a trailing blank line at the end of a file is not an error. */
#include <stdlib.h>
#include <string.h>

#include "tests/datasets/reader_helpers.h"

/* Every case reads with its reader r through buf into v (reviews) or m (metadata). */
#define RV(s) th_review(&r, buf, sizeof buf, (s), &v, &e, &why)
#define MT(s) th_meta(&r, buf, sizeof buf, (s), &m, &e, &why)

/* cJSON printed compactly into a static buffer ("NULL" for none). */
static const char *json(const cJSON *v) {
    static char out[2048];
    if (!v) return "NULL";
    char *p = cJSON_PrintUnformatted(v);
    snprintf(out, sizeof out, "%s", p ? p : "(print failed)");
    free(p);
    return out;
}

/* ---- reviews ---- */

TEST(amazon2014_review_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    char buf[4096];
    us_review v;
    us_err e;
    us_skip why;
    CHECK_OK(RV("{\"reviewerID\": \"A2SUAM1J3GNN3B\", \"asin\": \"0000013714\", "
                "\"reviewerName\": \"J. McDonald\", \"helpful\": [2, 3], \"reviewText\": "
                "\"I bought this for my husband who plays the piano. He is having a "
                "wonderful time \\\"playing\\\" these old hymns. Caf\\u00e9 \\ud83d\\ude00\", "
                "\"overall\": 5.0, \"summary\": \"Heavenly Highway Hymns\", "
                "\"unixReviewTime\": 1252800000, \"reviewTime\": \"09 13, 2009\"}"),
             e);
    CHECK(th_eq(v.user, v.user_len, "A2SUAM1J3GNN3B"));
    CHECK(th_eq(v.item, v.item_len, "0000013714"));
    CHECK_NEAR(v.rating, 5.0, 0);
    CHECK_EQ_INT(v.ts, 1252800000);
    CHECK(th_eq(v.title, v.title_len, "Heavenly Highway Hymns"));
    CHECK(th_eq(v.text, v.text_len,
                "I bought this for my husband who plays the piano. He is having a wonderful time "
                "\"playing\" these old hymns. Caf\xc3\xa9 \xf0\x9f\x98\x80"));
    /* Summary and text are optional; an empty one stays empty. */
    CHECK_OK(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 1.0, "
                "\"reviewText\": \"\", \"unixReviewTime\": 1}"),
             e);
    CHECK(v.title == NULL && v.text != NULL && v.text_len == 0);
    CHECK_NEAR(v.rating, 1.0, 0);
    /* Integer ids and a rating written as a string are accepted. */
    CHECK_OK(RV("{\"reviewerID\": 12345, \"asin\": \"I1\", \"overall\": \"4\", "
                "\"unixReviewTime\": 1400000000}"),
             e);
    CHECK(th_eq(v.user, v.user_len, "12345"));
    CHECK_NEAR(v.rating, 4.0, 0);
    us_reader_free(&r);
}

TEST(amazon2018_review_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    char buf[4096];
    us_review v;
    us_err e;
    us_skip why;
    /* vote, verified, style, reviewerName and image are ignored; no reviewText. */
    CHECK_OK(RV("{\"overall\": 4.0, \"vote\": \"2\", \"verified\": true, \"reviewTime\": "
                "\"04 6, 2017\", \"reviewerID\": \"A29OWR79AM796H\", \"asin\": "
                "\"0470536454\", \"style\": {\"Format:\": \" Hardcover\"}, \"reviewerName\": "
                "\"Amazon Customer\", \"summary\": \"Four Stars\", \"unixReviewTime\": "
                "1491436800, \"image\": [\"https://images-na.ssl-images-amazon.com/x.jpg\"]}"),
             e);
    CHECK(th_eq(v.user, v.user_len, "A29OWR79AM796H"));
    CHECK(th_eq(v.item, v.item_len, "0470536454"));
    CHECK_NEAR(v.rating, 4.0, 0);
    CHECK_EQ_INT(v.ts, 1491436800);
    CHECK(th_eq(v.title, v.title_len, "Four Stars"));
    CHECK(v.text == NULL && v.text_len == 0);
    us_reader_free(&r);
}

TEST(amazon_review_time_fallback) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    char buf[4096];
    us_review v;
    us_err e;
    us_skip why;
    char line[512];
    static const struct {
        const char *time_fields;
        int ok; /* 1: read; 0: missing unixReviewTime; 2: a wrong reviewTime */
        long long ts;
    } cases[] = {
        {"\"reviewTime\": \"09 13, 2009\"", 1, 1252800000}, /* 2014: zero-padded day */
        {"\"reviewTime\": \"09 1, 2016\"", 1, 1472688000},  /* 2018: day without padding */
        {"\"reviewTime\": \"02 29, 2016\"", 1, 1456704000}, /* a leap day */
        {"\"unixReviewTime\": null, \"reviewTime\": \"12 31, 1999\"", 1, 946598400},
        {"\"unixReviewTime\": 1400000000, \"reviewTime\": \"09 1, 2016\"", 1, 1400000000},
        {"\"unixReviewTime\": \"1400000000\"", 1, 1400000000}, /* as a string */
        {"\"unixReviewTime\": -86400", 1, -86400},
        {"\"reviewTime\": \"02 29, 2015\"", 2, 0}, /* no such day */
        {"\"reviewTime\": \"13 01, 2015\"", 2, 0}, /* no such month */
        {"\"reviewTime\": \"2015-01-01\"", 2, 0},  /* another layout */
        {"\"reviewTime\": \"09 13, 09\"", 2, 0},   /* two-digit year */
        {"\"reviewTime\": \"09 13 2009\"", 2, 0},  /* no comma */
        {"\"reviewTime\": \"\"", 0, 0},
        {"\"reviewTime\": 20090913", 2, 0},
        {"", 0, 0}, /* neither */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line,
                 "{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0%s%s}",
                 *cases[i].time_fields ? ", " : "", cases[i].time_fields);
        us_status st = RV(line);
        if (cases[i].ok == 2) {
            th_check_bad(t_, __FILE__, __LINE__, st, why, &e, US_SKIP_TYPE, "reviewTime");
        } else if (!cases[i].ok) {
            th_check_bad(t_, __FILE__, __LINE__, st, why, &e, US_SKIP_MISSING,
                         "unixReviewTime");
        } else if (st != US_OK || v.ts != cases[i].ts) {
            us_test_fail(t_, __FILE__, __LINE__, "%s: status %d ts %lld (%s)", line, (int)st,
                         (long long)v.ts, e.msg);
        }
    }
    /* Without unixReviewTime the message names what was found: a wrong reviewTime, not a
     * missing time. */
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                 "\"reviewTime\": \"Sept 13\"}"),
              US_SKIP_TYPE, "reviewTime");
    CHECK(strstr(e.msg, "\"Sept 13\"") != NULL);
    /* A unixReviewTime that is there but not whole seconds is wrong, not a reason to fall
     * back. */
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                 "\"unixReviewTime\": 1.5, \"reviewTime\": \"09 13, 2009\"}"),
              US_SKIP_TYPE, "unixReviewTime");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                 "\"unixReviewTime\": \"soon\"}"),
              US_SKIP_TYPE, "unixReviewTime");
    CHECK(strstr(e.msg, "\"soon\"") != NULL);
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                 "\"unixReviewTime\": [1]}"),
              US_SKIP_TYPE, "unixReviewTime");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 3.0, "
                 "\"unixReviewTime\": 1e300}"),
              US_SKIP_TYPE, "unixReviewTime");
    us_reader_free(&r);
}

TEST(amazon2023_review_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON2023, 0);
    char buf[4096];
    us_review v;
    us_err e;
    us_skip why;
    CHECK_OK(RV("{\"rating\": 5.0, \"title\": \"Such a lovely scent but not "
                "overpowering.\", \"text\": \"This spray is really nice. It smells "
                "really good \\ud83d\\ude00\", \"images\": [], \"asin\": \"B00YQ6X8EO\", "
                "\"parent_asin\": \"B00YQ6X8EP\", \"user_id\": "
                "\"AGKHLEW2SOWHNMFQIJGBECAF7INQ\", \"timestamp\": 1588687728923, "
                "\"helpful_vote\": 0, \"verified_purchase\": true}"),
             e);
    CHECK(th_eq(v.user, v.user_len, "AGKHLEW2SOWHNMFQIJGBECAF7INQ"));
    CHECK(th_eq(v.item, v.item_len, "B00YQ6X8EP")); /* the parent, not the variant */
    CHECK_NEAR(v.rating, 5.0, 0);
    CHECK_EQ_INT(v.ts, 1588687728); /* milliseconds to whole seconds, rounded down */
    CHECK(th_eq(v.title, v.title_len, "Such a lovely scent but not overpowering."));
    CHECK(th_eq(v.text, v.text_len,
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
        CHECK_OK(RV(line), e);
        CHECK(th_eq(v.item, v.item_len, "B01"));
        CHECK_EQ_INT(v.ts, 1);
        CHECK(v.title == NULL && v.text == NULL);
    }
    /* Before 1970 the division still rounds down. */
    CHECK_OK(RV("{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\", "
                "\"timestamp\": -1500}"),
             e);
    CHECK_EQ_INT(v.ts, -2);
    /* The timestamp must be a number of milliseconds. */
    CHECK_BAD(RV("{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\"}"),
              US_SKIP_MISSING, "timestamp");
    CHECK_BAD(RV("{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\", "
                 "\"timestamp\": \"1588687728923\"}"),
              US_SKIP_TYPE, "timestamp");
    CHECK_BAD(RV("{\"rating\": 2, \"parent_asin\": \"B01\", \"user_id\": \"U\", "
                 "\"timestamp\": 1588687728923.5}"),
              US_SKIP_TYPE, "timestamp");
    CHECK_BAD(RV("{\"rating\": 2, \"user_id\": \"U\", \"timestamp\": 1}"), US_SKIP_MISSING, "asin");
    CHECK_BAD(RV("{\"rating\": 2, \"parent_asin\": {}, \"asin\": \"B\", "
                 "\"user_id\": \"U\", \"timestamp\": 1}"),
              US_SKIP_TYPE, "parent_asin");
    CHECK_BAD(RV("{\"rating\": 2, \"parent_asin\": \"B\", \"timestamp\": 1}"),
              US_SKIP_MISSING, "user_id");
    CHECK_BAD(RV("{\"parent_asin\": \"B\", \"user_id\": \"U\", \"timestamp\": 1}"),
              US_SKIP_MISSING, "rating");
    CHECK_BAD(RV("{\"rating\": \"five\", \"parent_asin\": \"B\", \"user_id\": \"U\", "
                 "\"timestamp\": 1}"),
              US_SKIP_TYPE, "rating");
    CHECK_BAD(RV("{\"rating\": 6, \"parent_asin\": \"B\", \"user_id\": \"U\", "
                 "\"timestamp\": 1}"),
              US_SKIP_RANGE, "rating");
    CHECK_BAD(RV("{\"rating\": 5, \"parent_asin\": \"B\", \"user_id\": \"U\", "
                 "\"timestamp\": 1, \"text\": 3}"),
              US_SKIP_TYPE, "text");
    us_reader_free(&r);
}

TEST(amazon_review_bad_lines) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    char buf[4096];
    us_review v;
    us_err e;
    us_skip why;
    /* Malformed JSON and a line cut short. */
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\" \"overall\": 5.0}"),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5.0, \"unixRevi"),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("[\"U1\", \"I1\", 5.0]"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("{'reviewerID': 'U1', 'asin': 'I1', 'overall': 5.0}"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\"} {\"asin\": \"I1\"}"), US_SKIP_MALFORMED, "");
    /* Missing fields. */
    CHECK_BAD(RV("{\"asin\": \"I1\", \"overall\": 5.0, \"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "reviewerID");
    CHECK_BAD(RV("{\"reviewerID\": \"\", \"asin\": \"I1\", \"overall\": 5.0, "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "reviewerID");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"overall\": 5.0, \"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "asin");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": null, \"overall\": 5.0, "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "asin");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"unixReviewTime\": 1}"),
              US_SKIP_MISSING, "overall");
    /* Wrong types. */
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": \"five\", "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "overall");
    CHECK(strstr(e.msg, "expected a number, found \"five\"") != NULL);
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": true, "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "overall");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": {\"id\": \"I1\"}, \"overall\": 5, "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "asin");
    CHECK_BAD(RV("{\"reviewerID\": [\"U1\"], \"asin\": \"I1\", \"overall\": 5, "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "reviewerID");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                 "\"reviewText\": 42, \"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "reviewText");
    CHECK(strstr(e.msg, "expected a string") != NULL);
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                 "\"summary\": [\"x\"], \"unixReviewTime\": 1}"),
              US_SKIP_TYPE, "summary");
    /* Ratings outside 1..5 (the dispatcher's check, named by the dataset's field). */
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 0.0, "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_RANGE, "overall");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 6, "
                 "\"unixReviewTime\": 1}"),
              US_SKIP_RANGE, "overall");
    /* Invalid UTF-8 inside a string (a stray continuation byte, then a Latin-1 e-acute). */
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                 "\"reviewText\": \"caf\x80\", \"unixReviewTime\": 1}"),
              US_SKIP_UTF8, "");
    CHECK_BAD(RV("{\"reviewerID\": \"U1\", \"asin\": \"I1\", \"overall\": 5, "
                 "\"reviewText\": \"caf\xe9\", \"unixReviewTime\": 1}"),
              US_SKIP_UTF8, "");
    /* Empty and blank lines carry no record. */
    CHECK_EQ_INT(RV(""), US_NOREC);
    CHECK_EQ_INT(RV("  \t\r"), US_NOREC);
    /* The reader recovers: the next good line reads normally. */
    CHECK_OK(RV("{\"reviewerID\": \"U9\", \"asin\": \"I9\", \"overall\": 2.0, "
                "\"unixReviewTime\": 7}"),
             e);
    CHECK(th_eq(v.user, v.user_len, "U9"));
    us_reader_free(&r);

    /* The same empty-line rule for 2023 reviews. */
    us_reader_init(&r, US_FORMAT_AMAZON2023, 0);
    CHECK_EQ_INT(RV(""), US_NOREC);
    CHECK_BAD(RV("{\"rating\": 5.0, \"user_id\": \"U\""), US_SKIP_MALFORMED, "");
    us_reader_free(&r);
}

/* ---- metadata ---- */

TEST(amazon2014_meta_dict_literal) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 1);
    char buf[4096];
    us_meta m;
    us_err e;
    us_skip why;
    CHECK_OK(MT("{'asin': '0000031852', 'title': 'Girls Ballet Tutu Zebra Hot Pink', "
                "'price': 3.17, 'imUrl': 'http://ecx.images-amazon.com/images/I/51fAmV.jpg', "
                "'related': {'also_bought': ['B00JHONN1S', 'B002BZX8Z6'], 'also_viewed': "
                "['B002BZX8Z6'], 'bought_together': ['B002BZX8Z6']}, 'salesRank': {'Toys & "
                "Games': 211836}, 'brand': 'Coxlists', 'categories': [['Sports & Outdoors', "
                "'Other Sports', 'Dance'], ['Clothing, Shoes & Jewelry', 'Girls', 'Dance'], "
                "['Sports & Outdoors']], 'description': \"It's a tutu\\nin zebra pink\"}"),
             e);
    CHECK(th_eq(m.item, m.item_len, "0000031852"));
    CHECK_STR(m.title, "Girls Ballet Tutu Zebra Hot Pink");
    CHECK_STR(m.brand, "Coxlists");
    CHECK_STR(m.description, "It's a tutu\nin zebra pink");
    /* The list of lists flattened, in order, without repeats. */
    CHECK_STR(json(m.categories), "[\"Sports & Outdoors\",\"Other Sports\",\"Dance\","
                                  "\"Clothing, Shoes & Jewelry\",\"Girls\"]");
    /* Only price and salesRank are kept: no related lists, no image. */
    CHECK_STR(json(m.attributes), "{\"price\":3.17,\"salesRank\":{\"Toys & Games\":211836}}");
    CHECK(m.state == NULL);

    /* Escapes decode to UTF-8; no price, no brand, no description. */
    CHECK_OK(MT("{'asin': 'B001GZ6QEC', 'title': 'Little Caf\\xe9 \\u2013 \\U0001f986', "
                "'salesRank': {}, 'categories': [['Toys & Games']]}"),
             e);
    CHECK_STR(m.title, "Little Caf\xc3\xa9 \xe2\x80\x93 \xf0\x9f\xa6\x86");
    CHECK(m.brand == NULL && m.description == NULL);
    CHECK(m.attributes == NULL); /* an empty salesRank is left out */
    CHECK_STR(json(m.categories), "[\"Toys & Games\"]");

    /* Only an asin: everything else absent. */
    CHECK_OK(MT("{'asin': 'B0000000X1'}"), e);
    CHECK(m.title == NULL && m.categories == NULL && m.attributes == NULL);

    /* A description that is a list of strings is joined. */
    CHECK_OK(MT("{'asin': 'B2', 'description': ['One.', 'Two.'], 'title': ''}"), e);
    CHECK_STR(m.description, "One.\nTwo.");
    CHECK(m.title == NULL); /* empty title: none */ us_reader_free(&r);
}

TEST(amazon2018_meta_json) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 1);
    char buf[4096];
    us_meta m;
    us_err e;
    us_skip why;
    CHECK_OK(MT("{\"category\": [\"Toys & Games\", \"Arts & Crafts\", \"Crayons\", "
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
             e);
    CHECK(th_eq(m.item, m.item_len, "B00004S1C5"));
    CHECK_STR(m.title, "Crayola \"Washable\" Crayons");
    CHECK_STR(m.brand, "Crayola");
    CHECK_STR(m.description, "Crayola's washable crayons.\nBox of 24 \xc3\xa9 colors.");
    CHECK_STR(json(m.categories), "[\"Toys & Games\",\"Arts & Crafts\",\"Crayons\"]");
    CHECK_STR(json(m.attributes),
              "{\"feature\":[\"Washable\",\"Non-toxic\"],\"price\":\"$4.99\","
              "\"main_cat\":\"Arts, Crafts & Sewing\",\"rank\":[\"1,843 in Toys & Games (\"],"
              "\"details\":{\"Shipping Weight:\":\"4.8 ounces\"},\"date\":\"March 5, 2006\"}");

    /* A JSON line whose strings contain single quotes is still JSON. */
    CHECK_OK(MT("{\"title\": \"It's\", \"asin\": \"B5\", \"category\": []}"), e);
    CHECK_STR(m.title, "It's");
    CHECK(m.categories == NULL && m.attributes == NULL && m.description == NULL);
    /* Empty values are not worth keeping. */
    CHECK_OK(MT("{\"asin\": \"B6\", \"price\": \"\", \"date\": \"\", \"feature\": [], "
                "\"details\": {}, \"rank\": null, \"main_cat\": \"Toys\"}"),
             e);
    CHECK_STR(json(m.attributes), "{\"main_cat\":\"Toys\"}");
    us_reader_free(&r);
}

TEST(amazon2023_meta_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON2023, 1);
    char buf[4096];
    us_meta m;
    us_err e;
    us_skip why;
    CHECK_OK(MT("{\"main_category\": \"All Beauty\", \"title\": \"Howard LC0008 Leather "
                "Conditioner, 8-Ounce\", \"average_rating\": 4.8, \"rating_number\": 10, "
                "\"features\": [\"Conditions leather\"], \"description\": "
                "[\"Line one.\", \"Line two.\"], \"price\": null, \"images\": "
                "[{\"thumb\": \"https://m/1.jpg\", \"large\": \"https://m/2.jpg\", "
                "\"variant\": \"MAIN\", \"hi_res\": null}], \"videos\": [], \"store\": "
                "\"Howard Products\", \"categories\": [\"Beauty\", \"Skin Care\"], "
                "\"details\": {\"UPC\": \"617390882781\"}, \"parent_asin\": "
                "\"B01CUPMQZE\", \"bought_together\": null}"),
             e);
    CHECK(th_eq(m.item, m.item_len, "B01CUPMQZE"));
    CHECK_STR(m.title, "Howard LC0008 Leather Conditioner, 8-Ounce");
    CHECK_STR(m.brand, "Howard Products");
    CHECK_STR(m.description, "Line one.\nLine two.");
    CHECK_STR(json(m.categories), "[\"Beauty\",\"Skin Care\"]");
    CHECK_STR(json(m.attributes),
              "{\"main_category\":\"All Beauty\",\"features\":[\"Conditions leather\"],"
              "\"details\":{\"UPC\":\"617390882781\"},\"average_rating\":4.8,"
              "\"rating_number\":10}"); /* price null is left out */
    /* Empty lists and a null store. */
    CHECK_OK(MT("{\"title\": \"T\", \"description\": [], \"store\": null, \"categories\": "
                "[], \"parent_asin\": \"B02\"}"),
             e);
    CHECK(m.brand == NULL && m.description == NULL && m.categories == NULL);
    CHECK_BAD(MT("{\"title\": \"T\", \"asin\": \"B02\"}"), US_SKIP_MISSING,
              "parent_asin");
    CHECK_BAD(MT("{\"parent_asin\": \"B02\", \"store\": 7}"), US_SKIP_TYPE, "store");
    CHECK_BAD(MT("{\"parent_asin\": \"B02\", \"categories\": {}}"), US_SKIP_TYPE,
              "categories");
    CHECK_EQ_INT(MT(" "), US_NOREC);
    us_reader_free(&r);
}

TEST(amazon_meta_bad_lines) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 1);
    char buf[4096];
    us_meta m;
    us_err e;
    us_skip why;
    /* Dict literals: bad syntax names the byte. */
    CHECK_BAD(MT("{'asin': 'B1', 'title': }"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "at byte 25") != NULL);
    CHECK_BAD(MT("{'asin': 'B1', 'title': 'cut sh"), US_SKIP_MALFORMED, "");
    CHECK(strstr(e.msg, "the end of the line") != NULL);
    CHECK_BAD(MT("{'asin': 'B1'} trailing"), US_SKIP_MALFORMED, "");
    CHECK_BAD(MT("{'asin': 'B1', 'title': u'x'}"), US_SKIP_MALFORMED, "");
    CHECK_BAD(MT("{'asin': 'B1', 'title': '\\ud800'}"), US_SKIP_MALFORMED, "");
    /* JSON: bad syntax. */
    CHECK_BAD(MT("{\"asin\": \"B1\", \"title\": }"), US_SKIP_MALFORMED, "");
    CHECK_BAD(MT("not a record"), US_SKIP_MALFORMED, "");
    /* Missing asin, in both layouts. */
    CHECK_BAD(MT("{'title': 'No id', 'categories': [['Toys']]}"), US_SKIP_MISSING,
              "asin");
    CHECK_BAD(MT("{\"title\": \"No id\", \"category\": [\"Toys\"]}"), US_SKIP_MISSING,
              "asin");
    CHECK_BAD(MT("{}"), US_SKIP_MISSING, "asin");
    CHECK_BAD(MT("{'asin': None}"), US_SKIP_MISSING, "asin");
    /* Wrong types. */
    CHECK_BAD(MT("{'asin': ['B1']}"), US_SKIP_TYPE, "asin");
    CHECK_BAD(MT("{\"asin\": {\"id\": \"B1\"}}"), US_SKIP_TYPE, "asin");
    CHECK_BAD(MT("{'asin': 'B1', 'title': 5}"), US_SKIP_TYPE, "title");
    CHECK_BAD(MT("{'asin': 'B1', 'brand': ['x']}"), US_SKIP_TYPE, "brand");
    CHECK_BAD(MT("{'asin': 'B1', 'description': 3.5}"), US_SKIP_TYPE, "description");
    CHECK_BAD(MT("{'asin': 'B1', 'categories': {'a': 1}}"), US_SKIP_TYPE,
              "categories");
    CHECK_BAD(MT("{\"asin\": \"B1\", \"category\": 3}"), US_SKIP_TYPE, "category");
    /* Invalid UTF-8 as raw bytes (escapes cannot make it). */
    CHECK_BAD(MT("{'asin': 'B1', 'title': 'Caf\xe9'}"), US_SKIP_UTF8, "");
    /* Blank lines carry no record. */
    CHECK_EQ_INT(MT(""), US_NOREC);
    CHECK_EQ_INT(MT("   "), US_NOREC);
    us_reader_free(&r);
}

/* ---- the fixtures ---- */

/* Every metadata record of the three releases has a title and most have categories, also the
 * record of the item nobody reviewed, which the ingest leaves out (test_formats.c checks the
 * stored items and which items have metadata). */
TEST(amazon_fixture_meta_records) {
    static const struct {
        const char *path;
        us_format format;
    } files[] = {
        {"tests/fixtures/amazon2014/meta_Tiny.json", US_FORMAT_AMAZON},
        {"tests/fixtures/amazon2018/meta_Tiny.json", US_FORMAT_AMAZON},
        {"tests/fixtures/amazon2023/meta_Tiny.jsonl", US_FORMAT_AMAZON2023},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        th_file fx;
        REQUIRE(th_file_open(&fx, files[i].path, files[i].format, 1) == 0);
        int records = 0, with_cats = 0;
        while (th_file_next(&fx)) {
            if (fx.st != US_OK) continue;
            records++;
            with_cats += fx.m.categories != NULL;
            CHECK(fx.m.title != NULL);
        }
        th_file_close(&fx);
        CHECK_EQ_INT(records, 6);
        CHECK(with_cats >= 4);
    }
}
