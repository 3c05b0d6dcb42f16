/* The tree-free JSON scanner used for review lines: the grammar it accepts and rejects (RFC
 * 8259), in-place decoding of escapes and surrogate pairs, and agreement with cJSON on the
 * values of every top-level member. */
#include <cjson/cJSON.h>
#include <string.h>

#include "datasets/internal.h"
#include "tests/test.h"

static us_status scan(us_reader *r, const char *text, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", text);
    us_err e;
    us_skip why;
    return us_jscan(r, buf, strlen(buf), &e, &why);
}

TEST(jscan_grammar) {
    static const char *const good[] = {
        "{}", " { } ", "{\"a\":1}", "{\"a\": -0.5e+10, \"b\": 0, \"c\": 1E3}",
        "{\"a\": \"x\\\"y\\\\z\\/\\b\\f\\n\\r\\t\\u00e9\"}", "{\"a\": [1, [2, {\"b\": []}], {}]}",
        "{\"a\": true, \"b\": false, \"c\": null}", "{\"a\": {\"b\": {\"c\": \"d\"}}}",
        "{\"\": \"\"}", "{\"a\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}",
    };
    static const char *const bad[] = {
        "", "   ", "[]", "\"a\"", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
        "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":-}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"tab\there\"}", "{a:1}", "{'a':1}", "{\"a\":1} x", "{\"a\":1}{}",
        "{\"a\":[1,]}", "{\"a\":[1 2]}", "{\"a\":{\"b\"}}", "{\"a\":{\"b\":1,}}", "{\"a\":[}",
        "{\"a\":1 \"b\":2}", "{\"a\":\"\\u00\"}",
    };
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    char buf[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        if (scan(&r, good[i], buf, sizeof buf) != US_OK)
            us_test_fail(t_, __FILE__, __LINE__, "rejected valid %s", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (scan(&r, bad[i], buf, sizeof buf) == US_OK)
            us_test_fail(t_, __FILE__, __LINE__, "accepted invalid %s", bad[i]);
    }
    /* Nesting deeper than the scanner's limit fails cleanly. */
    static char deep[4000];
    size_t o = 0;
    o += (size_t)snprintf(deep, sizeof deep, "{\"a\":");
    for (int i = 0; i < 1000; i++) deep[o++] = '[';
    for (int i = 0; i < 1000; i++) deep[o++] = ']';
    deep[o++] = '}';
    deep[o] = '\0';
    us_err e;
    us_skip why;
    CHECK_EQ_INT(us_jscan(&r, deep, o, &e, &why), US_EFORMAT);
    CHECK_EQ_INT(why, US_SKIP_MALFORMED);
    us_reader_free(&r);
}

TEST(jscan_members_and_decoding) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    char buf[512];
    REQUIRE(scan(&r, "{\"id\": \"A1\", \"n\": 42, \"t\": \"l\\u00e9 \\ud83d\\ude00 \\\"q\\\"\","
                     " \"lone\": \"x\\ud800y\", \"z\": \"a\\u0000b\", \"nested\": {\"id\": 7},"
                     " \"id\": \"second\"}", buf, sizeof buf) == US_OK);
    CHECK_EQ_INT(r.njm, 7);
    const char *s;
    size_t n;
    us_err e;
    us_skip why;
    CHECK_OK(us_jscan_id(&r, "id", &s, &n, &e, &why), e);
    CHECK(n == 2 && !memcmp(s, "A1", 2)); /* the first of repeated keys */
    CHECK_OK(us_jscan_id(&r, "n", &s, &n, &e, &why), e);
    CHECK(n == 2 && !memcmp(s, "42", 2));
    CHECK_OK(us_jscan_text(&r, "t", &s, &n, &e, &why), e);
    CHECK_STR(s, "l\xc3\xa9 \xf0\x9f\x98\x80 \"q\"");
    CHECK_EQ_INT(n, strlen(s));
    CHECK_OK(us_jscan_text(&r, "lone", &s, &n, &e, &why), e);
    CHECK_STR(s, "x\xef\xbf\xbdy"); /* U+FFFD */
    CHECK_OK(us_jscan_text(&r, "z", &s, &n, &e, &why), e);
    CHECK_STR(s, "ab");
    /* Decoding twice is harmless. */
    CHECK_OK(us_jscan_text(&r, "t", &s, &n, &e, &why), e);
    CHECK_STR(s, "l\xc3\xa9 \xf0\x9f\x98\x80 \"q\"");
    double d;
    CHECK_OK(us_jscan_number(&r, "n", &d, &e, &why), e);
    CHECK_NEAR(d, 42, 0);
    CHECK_EQ_INT(us_jscan_number(&r, "t", &d, &e, &why), US_EFORMAT);
    CHECK_EQ_INT(why, US_SKIP_TYPE);
    CHECK_STR(e.field, "t");
    CHECK_EQ_INT(us_jscan_number(&r, "absent", &d, &e, &why), US_EFORMAT);
    CHECK_EQ_INT(why, US_SKIP_MISSING);
    CHECK_EQ_INT(us_jscan_text(&r, "nested", &s, &n, &e, &why), US_EFORMAT);
    CHECK(strstr(e.msg, "an object") != NULL);
    CHECK_EQ_INT(us_jscan_id(&r, "nested", &s, &n, &e, &why), US_EFORMAT);
    us_reader_free(&r);
}

/* On lines without \u escapes (where the scanner's documented choices differ from cJSON's),
 * every top-level string and number agrees with cJSON's reading. */
TEST(jscan_agrees_with_cjson) {
    static const char *const lines[] = {
        "{\"overall\": 5.0, \"verified\": true, \"reviewTime\": \"10 17, 2015\", "
        "\"reviewerID\": \"A1HP7NVNPFMA4N\", \"asin\": \"0700026657\", \"style\": "
        "{\"Format:\": \" Video Game\"}, \"reviewerName\": \"Ambrosia075\", \"reviewText\": "
        "\"This game is a bit hard to get the hang of, but when you do it's great.\\n\\\"Yes\\\""
        "\", \"summary\": \"but when you do it's great.\", \"unixReviewTime\": 1445040000}",
        "{\"review_id\":\"KU_O5udG6zpxOg-VcAEodg\",\"user_id\":\"mh_-eMZ6K5RLWhZyISBhwA\","
        "\"business_id\":\"XQfwVwDr-v0ZS3_CbbE5Xw\",\"stars\":3.0,\"useful\":0,\"funny\":0,"
        "\"cool\":0,\"text\":\"If you decide to eat here, just be aware it is going to take "
        "about 2 hours\",\"date\":\"2018-07-07 22:09:11\"}",
        "{\"rating\": 1.0, \"title\": \"Not a good buy\", \"text\": \"\", \"images\": [], "
        "\"asin\": \"B088SZDGXG\", \"parent_asin\": \"B08BBQ29N5\", \"user_id\": "
        "\"AEVWAM3YWN5URJVJIZZ6XPD2MKIA\", \"timestamp\": 1658185117948, \"helpful_vote\": 0, "
        "\"verified_purchase\": true}",
    };
    us_reader r;
    us_reader_init(&r, US_FORMAT_AMAZON, 0);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        cJSON *doc = cJSON_Parse(lines[i]);
        REQUIRE(doc);
        static char buf[2048];
        REQUIRE(scan(&r, lines[i], buf, sizeof buf) == US_OK);
        CHECK_EQ_INT(r.njm, cJSON_GetArraySize(doc));
        const cJSON *m;
        cJSON_ArrayForEach(m, doc) {
            us_jval *v = us_jget(&r, m->string);
            REQUIRE(v);
            if (cJSON_IsString(m)) {
                CHECK(v->type == US_JSTR);
                CHECK_STR(us_jstr(v), m->valuestring);
            } else if (cJSON_IsNumber(m)) {
                double d;
                us_err e;
                us_skip why;
                CHECK_OK(us_jscan_number(&r, m->string, &d, &e, &why), e);
                CHECK(d == m->valuedouble);
            }
        }
        cJSON_Delete(doc);
    }
    us_reader_free(&r);
}
