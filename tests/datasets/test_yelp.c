/* Yelp parser: review and business fields, categories splitting (string and older list form),
 * attributes kept as published, and every kind of bad line. The counts that
 * tests/fixtures/yelp/README.txt states (also with --state MO) are checked end to end in
 * test_formats.c. */
#include <string.h>

#include "tests/datasets/reader_helpers.h"

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
    CHECK_OK(th_review(&r, buf, sizeof buf, line, &v, &e, &why), e);
    CHECK(th_eq(v.user, v.user_len, "mh_-eMZ6K5RLWhZyISBhwA"));
    CHECK(th_eq(v.item, v.item_len, "XQfwVwDr-v0ZS3_CbbE5Xw"));
    CHECK_NEAR(v.rating, 3.0, 0);
    CHECK_EQ_INT(v.ts, 1531001351);
    CHECK(th_eq(v.text, v.text_len, "Caf\xc3\xa9 ok.\nSlow \"service\"."));
    CHECK(v.title == NULL);

    /* Leap day, a missing text, a number held in a string. */
    line = "{\"user_id\":\"u\",\"business_id\":\"b\",\"stars\":\"4\",\"date\":\"2016-02-29 "
           "11:11:11\"}";
    CHECK_OK(th_review(&r, buf, sizeof buf, line, &v, &e, &why), e);
    CHECK_NEAR(v.rating, 4.0, 0);
    CHECK_EQ_INT(v.ts, 1456744271);
    CHECK(v.text == NULL);
    CHECK_EQ_INT(th_review(&r, buf, sizeof buf, "  ", &v, &e, &why), US_NOREC);
    us_reader_free(&r);
}

TEST(yelp_review_bad_lines) {
    us_reader r;
    us_reader_init(&r, US_FORMAT_YELP, 0);
    char buf[1024];
    us_review v;
    us_err e;
    us_skip why;
#define RV(s) th_review(&r, buf, sizeof buf, (s), &v, &e, &why)
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
    CHECK_OK(th_meta(&r, buf, sizeof buf, line, &m, &e, &why), e);
    CHECK(th_eq(m.item, m.item_len, "Pns2l4eNsfO8kk83dixA6A"));
    CHECK_STR(m.title, "Abby Rappoport, LAC, CMQ");
    CHECK_STR(m.state, "CA");
    CHECK(m.description == NULL && m.brand == NULL);
    REQUIRE(cJSON_IsArray(m.categories));
    CHECK_EQ_INT(cJSON_GetArraySize(m.categories), 3);
    CHECK_STR(th_cat(&m, 0), "Doctors");
    CHECK_STR(th_cat(&m, 1), "Traditional Chinese Medicine");
    CHECK_STR(th_cat(&m, 2), "Naturopathic/Holistic");
    REQUIRE(cJSON_IsObject(m.attributes));
    CHECK_STR(cJSON_GetStringValue(th_attr(&m, "city")), "Santa Barbara");
    CHECK_STR(cJSON_GetStringValue(th_attr(&m, "state")), "CA");
    const cJSON *a = th_attr(&m, "stars");
    CHECK(cJSON_IsNumber(a) && a->valuedouble == 5.0);
    a = th_attr(&m, "review_count");
    CHECK(cJSON_IsNumber(a) && a->valueint == 7);
    a = th_attr(&m, "is_open");
    CHECK(cJSON_IsNumber(a) && a->valueint == 0);
    a = th_attr(&m, "attributes");
    REQUIRE(cJSON_IsObject(a));
    const cJSON *wifi = cJSON_GetObjectItemCaseSensitive(a, "WiFi");
    CHECK(cJSON_IsString(wifi) && strcmp(wifi->valuestring, "u'free'") == 0);
    const cJSON *park = cJSON_GetObjectItemCaseSensitive(a, "BusinessParking");
    CHECK(cJSON_IsString(park) &&
          strcmp(park->valuestring, "{'garage': False, 'lot': True}") == 0);
    /* Not kept. */
    CHECK(!th_attr(&m, "address"));
    CHECK(!th_attr(&m, "hours"));
    CHECK(!th_attr(&m, "latitude"));
    CHECK(!th_attr(&m, "name"));
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
    CHECK_OK(th_meta(&r, buf, sizeof buf,
                     "{\"business_id\":\"b2\",\"name\":\"Dentist\",\"state\":\"MO\",\"stars\":4.5,"
                     "\"attributes\":null,\"categories\":null,\"hours\":null}",
                     &m, &e, &why),
             e);
    CHECK_STR(m.state, "MO");
    CHECK(m.categories == NULL);
    REQUIRE(m.attributes != NULL);
    CHECK(cJSON_IsNull(th_attr(&m, "attributes")));
    CHECK(!th_attr(&m, "city"));

    /* Releases before 2018 had categories as a list; name and state may be absent. */
    CHECK_OK(th_meta(&r, buf, sizeof buf,
                     "{\"business_id\":\"b3\",\"categories\":[\"Bars\",\" Nightlife \",\"Bars\"]}",
                     &m, &e, &why),
             e);
    CHECK(m.title == NULL && m.state == NULL);
    REQUIRE(cJSON_GetArraySize(m.categories) == 2);
    CHECK_STR(th_cat(&m, 1), "Nightlife");
    CHECK(m.attributes == NULL);

    /* An empty state is no state. */
    CHECK_OK(th_meta(&r, buf, sizeof buf,
                     "{\"business_id\":\"b4\",\"state\":\"\",\"name\":\"\"}", &m, &e, &why),
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
#define MT(s) th_meta(&r, buf, sizeof buf, (s), &m, &e, &why)
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
