/* Yelp parser: review and business fields, categories splitting (string and older list form),
 * attributes kept as published, every kind of bad line, and the fixture counts that
 * tests/fixtures/yelp/README.txt states (also with --state MO). */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"
#include "tests/test.h"

#define FIX "tests/fixtures/yelp/"

/* Copies line into buf (the record borrows from it) and reads it as a review. */
static us_status review(us_reader *r, char *buf, size_t cap, const char *line, us_review *out,
                        us_err *e, us_skip *why) {
    size_t n = strlen(line);
    US_ASSERT(n < cap);
    memcpy(buf, line, n + 1);
    us_err_clear(e);
    *why = US_SKIP_COUNT;
    return us_read_review(r, buf, n, out, e, why);
}

static us_status meta(us_reader *r, char *buf, size_t cap, const char *line, us_meta *out,
                      us_err *e, us_skip *why) {
    size_t n = strlen(line);
    US_ASSERT(n < cap);
    memcpy(buf, line, n + 1);
    us_err_clear(e);
    *why = US_SKIP_COUNT;
    return us_read_meta(r, buf, n, out, e, why);
}

static int eq(const char *s, size_t n, const char *want) {
    return s && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* The reason and field of a rejected line. */
static void check_bad(us_test_ctx *t_, us_status st, us_skip why, const us_err *e, us_skip kind,
                      const char *field, int line) {
    if (st != US_EFORMAT || why != kind || strcmp(e->field, field) != 0)
        us_test_fail(t_, __FILE__, line, "expected %s on \"%s\", got status %d, %s on \"%s\" (%s)",
                     us_skip_name(kind), field, (int)st, us_skip_name(why), e->field, e->msg);
}
/* The call runs first: it sets why and e. */
#define CHECK_BAD(call, kind, field)                                                       \
    do {                                                                                   \
        us_status st_ = (call);                                                            \
        check_bad(t_, st_, why, &e, (kind), (field), __LINE__);                            \
    } while (0)

static const char *attr_str(const us_meta *m, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(m->attributes, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

TEST(yelp_review_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 0);
    char buf[1024];
    us_review v;
    us_err e;
    us_skip why;
    const char *line =
        "{\"review_id\":\"KU_O5udG6zpxOg-VcAEodg\",\"user_id\":\"mh_-eMZ6K5RLWhZyISBhwA\","
        "\"business_id\":\"XQfwVwDr-v0ZS3_CbbE5Xw\",\"stars\":3.0,\"useful\":0,\"funny\":0,"
        "\"cool\":0,\"text\":\"Caf\\u00e9 ok.\\nSlow \\\"service\\\".\","
        "\"date\":\"2018-07-07 22:09:11\"}";
    CHECK_OK(review(&r, buf, sizeof buf, line, &v, &e, &why), e);
    CHECK(eq(v.user, v.user_len, "mh_-eMZ6K5RLWhZyISBhwA"));
    CHECK(eq(v.item, v.item_len, "XQfwVwDr-v0ZS3_CbbE5Xw"));
    CHECK_NEAR(v.rating, 3.0, 0);
    CHECK_EQ_INT(v.ts, 1531001351);
    CHECK(eq(v.text, v.text_len, "Caf\xc3\xa9 ok.\nSlow \"service\"."));
    CHECK(v.title == NULL);

    /* Leap day, a missing text, a number held in a string. */
    line = "{\"user_id\":\"u\",\"business_id\":\"b\",\"stars\":\"4\",\"date\":\"2016-02-29 "
           "11:11:11\"}";
    CHECK_OK(review(&r, buf, sizeof buf, line, &v, &e, &why), e);
    CHECK_NEAR(v.rating, 4.0, 0);
    CHECK_EQ_INT(v.ts, 1456744271);
    CHECK(v.text == NULL);
    CHECK_EQ_INT(review(&r, buf, sizeof buf, "  ", &v, &e, &why), US_NOREC);
    us_reader_free(&r);
}

TEST(yelp_review_bad_lines) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 0);
    char buf[1024];
    us_review v;
    us_err e;
    us_skip why;
#define RV(s) review(&r, buf, sizeof buf, (s), &v, &e, &why)
#define OK_PREFIX "{\"user_id\":\"u1\",\"business_id\":\"b1\","
    CHECK_OK(RV(OK_PREFIX "\"stars\":5,\"date\":\"2019-02-28 10:00:00\"}"), e);
    CHECK_BAD(RV("{\"user_id\":\"u1\",\"business_id\":"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("[1,2,3]"), US_SKIP_MALFORMED, "");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"date\":\"2019-02-28 10:00:00\"} {}"),
              US_SKIP_MALFORMED, "");
    CHECK_BAD(RV("{\"business_id\":\"b1\",\"stars\":5,\"date\":\"2019-02-28 10:00:00\"}"),
              US_SKIP_MISSING, "user_id");
    CHECK_BAD(RV("{\"user_id\":\"\",\"business_id\":\"b1\",\"stars\":5,\"date\":\"2019-02-28\"}"),
              US_SKIP_MISSING, "user_id");
    CHECK_BAD(RV("{\"user_id\":\"u1\",\"stars\":5,\"date\":\"2019-02-28 10:00:00\"}"),
              US_SKIP_MISSING, "business_id");
    CHECK_BAD(RV(OK_PREFIX "\"date\":\"2019-02-28 10:00:00\"}"), US_SKIP_MISSING, "stars");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":\"five\",\"date\":\"2019-02-28 10:00:00\"}"),
              US_SKIP_TYPE, "stars");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":[5],\"date\":\"2019-02-28 10:00:00\"}"), US_SKIP_TYPE,
              "stars");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":6,\"date\":\"2019-02-28 10:00:00\"}"), US_SKIP_RANGE,
              "stars");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":0,\"date\":\"2019-02-28 10:00:00\"}"), US_SKIP_RANGE,
              "stars");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"text\":7,\"date\":\"2019-02-28 10:00:00\"}"),
              US_SKIP_TYPE, "text");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5}"), US_SKIP_MISSING, "date");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"date\":null}"), US_SKIP_MISSING, "date");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"date\":20190228}"), US_SKIP_TYPE, "date");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"date\":\"2019-02-30 10:00:00\"}"), US_SKIP_TYPE,
              "date");
    CHECK(strstr(e.msg, "2019-02-30") != NULL);
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"date\":\"2019-13-01 10:00:00\"}"), US_SKIP_TYPE,
              "date");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"date\":\"yesterday\"}"), US_SKIP_TYPE, "date");
    CHECK_BAD(RV(OK_PREFIX "\"stars\":5,\"text\":\"caf\xe9\",\"date\":\"2019-02-28\"}"),
              US_SKIP_UTF8, "");
    CHECK_EQ_INT(RV(""), US_NOREC);
#undef RV
#undef OK_PREFIX
    us_reader_free(&r);
}

TEST(yelp_meta_fields) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 1);
    char buf[2048];
    us_meta m;
    us_err e;
    us_skip why;
    const char *line =
        "{\"business_id\":\"Pns2l4eNsfO8kk83dixA6A\",\"name\":\"Abby Rappoport, LAC, CMQ\","
        "\"address\":\"1616 Chapala St, Ste 2\",\"city\":\"Santa Barbara\",\"state\":\"CA\","
        "\"postal_code\":\"93101\",\"latitude\":34.4266787,\"longitude\":-119.7111968,"
        "\"stars\":5.0,\"review_count\":7,\"is_open\":0,\"attributes\":{\"ByAppointmentOnly\":"
        "\"True\",\"WiFi\":\"u'free'\",\"BusinessParking\":\"{'garage': False, 'lot': True}\"},"
        "\"categories\":\"Doctors,  Traditional Chinese Medicine, Naturopathic\\/Holistic,"
        "Doctors, \",\"hours\":{\"Monday\":\"0:0-0:0\"}}";
    CHECK_OK(meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK(eq(m.item, m.item_len, "Pns2l4eNsfO8kk83dixA6A"));
    CHECK_STR(m.title, "Abby Rappoport, LAC, CMQ");
    CHECK_STR(m.state, "CA");
    CHECK(m.description == NULL && m.brand == NULL);
    REQUIRE(cJSON_IsArray(m.categories));
    CHECK_EQ_INT(cJSON_GetArraySize(m.categories), 3);
    CHECK_STR(cJSON_GetArrayItem(m.categories, 0)->valuestring, "Doctors");
    CHECK_STR(cJSON_GetArrayItem(m.categories, 1)->valuestring, "Traditional Chinese Medicine");
    CHECK_STR(cJSON_GetArrayItem(m.categories, 2)->valuestring, "Naturopathic/Holistic");
    REQUIRE(cJSON_IsObject(m.attributes));
    CHECK_STR(attr_str(&m, "city"), "Santa Barbara");
    CHECK_STR(attr_str(&m, "state"), "CA");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(m.attributes, "stars");
    CHECK(cJSON_IsNumber(a) && a->valuedouble == 5.0);
    a = cJSON_GetObjectItemCaseSensitive(m.attributes, "review_count");
    CHECK(cJSON_IsNumber(a) && a->valueint == 7);
    a = cJSON_GetObjectItemCaseSensitive(m.attributes, "is_open");
    CHECK(cJSON_IsNumber(a) && a->valueint == 0);
    a = cJSON_GetObjectItemCaseSensitive(m.attributes, "attributes");
    REQUIRE(cJSON_IsObject(a));
    const cJSON *wifi = cJSON_GetObjectItemCaseSensitive(a, "WiFi");
    CHECK(cJSON_IsString(wifi) && strcmp(wifi->valuestring, "u'free'") == 0);
    const cJSON *park = cJSON_GetObjectItemCaseSensitive(a, "BusinessParking");
    CHECK(cJSON_IsString(park) &&
          strcmp(park->valuestring, "{'garage': False, 'lot': True}") == 0);
    /* Not kept. */
    CHECK(!cJSON_GetObjectItemCaseSensitive(m.attributes, "address"));
    CHECK(!cJSON_GetObjectItemCaseSensitive(m.attributes, "hours"));
    CHECK(!cJSON_GetObjectItemCaseSensitive(m.attributes, "latitude"));
    CHECK(!cJSON_GetObjectItemCaseSensitive(m.attributes, "name"));
    CHECK_EQ_INT(cJSON_GetArraySize(m.attributes), 6);
    us_reader_free(&r);
}

TEST(yelp_meta_nulls_and_lists) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 1);
    char buf[1024];
    us_meta m;
    us_err e;
    us_skip why;
    CHECK_OK(meta(&r, buf, sizeof buf,
                  "{\"business_id\":\"b2\",\"name\":\"Dentist\",\"state\":\"MO\",\"stars\":4.5,"
                  "\"attributes\":null,\"categories\":null,\"hours\":null}",
                  &m, &e, &why),
             e);
    CHECK_STR(m.state, "MO");
    CHECK(m.categories == NULL);
    REQUIRE(m.attributes != NULL);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(m.attributes, "attributes")));
    CHECK(!cJSON_GetObjectItemCaseSensitive(m.attributes, "city"));

    /* Releases before 2018 had categories as a list; name and state may be absent. */
    CHECK_OK(meta(&r, buf, sizeof buf,
                  "{\"business_id\":\"b3\",\"categories\":[\"Bars\",\" Nightlife \",\"Bars\"]}",
                  &m, &e, &why),
             e);
    CHECK(m.title == NULL && m.state == NULL);
    REQUIRE(cJSON_GetArraySize(m.categories) == 2);
    CHECK_STR(cJSON_GetArrayItem(m.categories, 1)->valuestring, "Nightlife");
    CHECK(m.attributes == NULL);

    /* An empty state is no state. */
    CHECK_OK(meta(&r, buf, sizeof buf, "{\"business_id\":\"b4\",\"state\":\"\",\"name\":\"\"}",
                  &m, &e, &why),
             e);
    CHECK(m.state == NULL && m.title == NULL);
    us_reader_free(&r);
}

TEST(yelp_meta_bad_lines) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 1);
    char buf[1024];
    us_meta m;
    us_err e;
    us_skip why;
#define MT(s) meta(&r, buf, sizeof buf, (s), &m, &e, &why)
    CHECK_BAD(MT("{\"name\":\"x\",\"state\":\"MO\"}"), US_SKIP_MISSING, "business_id");
    CHECK_BAD(MT("{\"business_id\":null}"), US_SKIP_MISSING, "business_id");
    CHECK_BAD(MT("{\"business_id\":true}"), US_SKIP_TYPE, "business_id");
    CHECK_BAD(MT("{\"business_id\":\"b\",\"name\":12}"), US_SKIP_TYPE, "name");
    CHECK_BAD(MT("{\"business_id\":\"b\",\"state\":[\"MO\"]}"), US_SKIP_TYPE, "state");
    CHECK_BAD(MT("{\"business_id\":\"b\",\"categories\":3}"), US_SKIP_TYPE, "categories");
    CHECK_BAD(MT("{\"business_id\":\"b\",\"name\":\"unterminated}"), US_SKIP_MALFORMED, "");
    CHECK_BAD(MT("{\"business_id\":\"b\",\"name\":\"\xc3\x28\"}"), US_SKIP_UTF8, "");
    CHECK_EQ_INT(MT(""), US_NOREC);
    /* The reader recovers after bad lines. */
    CHECK_OK(MT("{\"business_id\":\"b\"}"), e);
#undef MT
    us_reader_free(&r);
}

/* Counts of one fixture file read through the dispatcher. When `allowed` is given, only
 * records of those items count (the ingest's --state filter). */
typedef struct counts {
    long lines, records, norec, bad, duplicates;
    uint32_t users, items;
} counts;

static int count_reviews(const char *path, us_format f, const us_strtab *allowed, counts *c) {
    us_lines *l;
    us_err e;
    memset(c, 0, sizeof *c);
    if (us_lines_open(&l, path, &e) != US_OK) return -1;
    us_strtab *users, *items, *pairs;
    us_strtab_init(&users);
    us_strtab_init(&items);
    us_strtab_init(&pairs);
    us_reader r;
    us_reader_init(&r, f, 0);
    char *line;
    size_t len;
    while (us_lines_next(l, &line, &len, &e) == 1) {
        c->lines++;
        us_review v;
        us_skip why;
        us_status st = us_read_review(&r, line, len, &v, &e, &why);
        if (st == US_NOREC) c->norec++;
        if (st == US_EFORMAT) c->bad++;
        if (st != US_OK) continue;
        uint32_t id;
        if (allowed && !us_strtab_find(allowed, v.item, v.item_len, &id)) continue;
        c->records++;
        us_strtab_intern(users, v.user, v.user_len, &id, NULL);
        us_strtab_intern(items, v.item, v.item_len, &id, NULL);
        char key[600];
        int n = snprintf(key, sizeof key, "%.*s\x01%.*s", (int)v.user_len, v.user,
                         (int)v.item_len, v.item);
        int is_new;
        us_strtab_intern(pairs, key, (size_t)n, &id, &is_new);
        if (!is_new) c->duplicates++;
    }
    c->users = us_strtab_count(users);
    c->items = us_strtab_count(items);
    us_reader_free(&r);
    us_strtab_free(users);
    us_strtab_free(items);
    us_strtab_free(pairs);
    us_lines_close(l);
    return 0;
}

TEST(yelp_fixture_counts) {
    counts c;
    REQUIRE(count_reviews(FIX "yelp_academic_dataset_review.json", US_FORMAT_YELP, NULL, &c) ==
            0);
    CHECK_EQ_INT(c.lines, 22);
    CHECK_EQ_INT(c.records, 22);
    CHECK_EQ_INT(c.bad, 0);
    CHECK_EQ_INT(c.duplicates, 1);
    CHECK_EQ_INT(c.users, 7);
    CHECK_EQ_INT(c.items, 6);

    /* Businesses: every line valid; collect the MO ones for the --state counts. */
    us_lines *l;
    us_err e;
    REQUIRE(us_lines_open(&l, FIX "yelp_academic_dataset_business.json", &e) == US_OK);
    us_strtab *mo;
    us_strtab_init(&mo);
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 1);
    char *line;
    size_t len;
    long lines = 0, valid = 0, null_cats = 0;
    while (us_lines_next(l, &line, &len, &e) == 1) {
        lines++;
        us_meta m;
        us_skip why;
        if (us_read_meta(&r, line, len, &m, &e, &why) != US_OK) continue;
        valid++;
        null_cats += m.categories == NULL;
        if (m.state && strcmp(m.state, "MO") == 0)
            us_strtab_intern(mo, m.item, m.item_len, &(uint32_t){0}, NULL);
    }
    us_reader_free(&r);
    us_lines_close(l);
    CHECK_EQ_INT(lines, 7);
    CHECK_EQ_INT(valid, 7);
    CHECK_EQ_INT(null_cats, 1);
    CHECK_EQ_INT(us_strtab_count(mo), 3);

    REQUIRE(count_reviews(FIX "yelp_academic_dataset_review.json", US_FORMAT_YELP, mo, &c) ==
            0);
    CHECK_EQ_INT(c.records, 13);
    CHECK_EQ_INT(c.duplicates, 1);
    CHECK_EQ_INT(c.users, 6);
    CHECK_EQ_INT(c.items, 3);
    us_strtab_free(mo);
}
