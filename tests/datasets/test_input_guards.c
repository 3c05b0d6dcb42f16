/* Inputs that look almost right: a UTF-8 byte-order mark before the first record of any file,
 * and a metadata file of the wrong kind (every line skipped), which must be an error rather
 * than a store without metadata. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/internal.h"
#include "tests/test.h"

/* Copies the fixture at path into the test's folder as name, with a UTF-8 BOM in front when
 * bom is set. Returns the copy's path (us_test_write's slots). */
static const char *copy_fixture(const char *path, const char *name, int bom) {
    char *data;
    size_t n;
    us_err e;
    if (us_read_file(path, 0, &data, &n, &e) != US_OK) return NULL;
    char *buf = malloc(n + 3);
    if (!buf) {
        free(data);
        return NULL;
    }
    memcpy(buf, "\xEF\xBB\xBF", 3);
    memcpy(buf + 3, data, n);
    const char *out = us_test_write(name, bom ? buf : buf + 3, (long)(bom ? n + 3 : n));
    free(buf);
    free(data);
    return out;
}

static us_status ingest(us_format f, const char *reviews, const char *meta, const char *out,
                        us_ingest_report *rep, us_err *e) {
    us_ingest_config c = us_ingest_config_default();
    c.format = f;
    c.reviews_path = reviews;
    c.meta_path = meta;
    c.out_path = out;
    c.quiet = 1;
    return us_ingest(&c, rep, e);
}

/* With and without a BOM, the same records, metadata and skips. */
TEST(ingest_bom_loses_no_record) {
    static const struct {
        us_format f;
        const char *reviews, *meta;
        int bom_on_meta;
    } cases[] = {
        {US_FORMAT_AMAZON, "tests/fixtures/amazon2018/Tiny_5.json",
         "tests/fixtures/amazon2018/meta_Tiny.json", 0},
        {US_FORMAT_AMAZON, "tests/fixtures/amazon2014/reviews_Tiny_5.json",
         "tests/fixtures/amazon2014/meta_Tiny.json", 1},
        {US_FORMAT_YELP, "tests/fixtures/yelp/yelp_academic_dataset_review.json",
         "tests/fixtures/yelp/yelp_academic_dataset_business.json", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        us_ingest_report plain, bom;
        us_err e;
        char r0[1024], m0[1024], r1[1024], m1[1024];
        const char *p;
        REQUIRE((p = copy_fixture(cases[i].reviews, "r0", 0)) != NULL);
        snprintf(r0, sizeof r0, "%s", p);
        REQUIRE((p = copy_fixture(cases[i].meta, "m0", 0)) != NULL);
        snprintf(m0, sizeof m0, "%s", p);
        REQUIRE((p = copy_fixture(cases[i].reviews, "r1", 1)) != NULL);
        snprintf(r1, sizeof r1, "%s", p);
        REQUIRE((p = copy_fixture(cases[i].meta, "m1", cases[i].bom_on_meta)) != NULL);
        snprintf(m1, sizeof m1, "%s", p);
        CHECK_OK(ingest(cases[i].f, r0, m0, us_test_path("a.usdb"), &plain, &e), e);
        CHECK_OK(ingest(cases[i].f, r1, m1, us_test_path("b.usdb"), &bom, &e), e);
        if (bom.records != plain.records || bom.skipped != plain.skipped ||
            bom.meta_records != plain.meta_records ||
            bom.items_with_meta != plain.items_with_meta || plain.skipped != 0)
            us_test_fail(t_, __FILE__, __LINE__,
                         "%s: records %llu/%llu, skipped %llu/%llu, meta %llu/%llu (plain/BOM)",
                         cases[i].reviews, (unsigned long long)plain.records,
                         (unsigned long long)bom.records, (unsigned long long)plain.skipped,
                         (unsigned long long)bom.skipped, (unsigned long long)plain.meta_records,
                         (unsigned long long)bom.meta_records);
    }
}

/* A metadata file of another dataset (Yelp businesses given for Amazon, and Amazon metadata
 * given for Yelp) is refused like a reviews file of the wrong format, and no store is written. */
TEST(ingest_wrong_meta_file_is_an_error) {
    us_ingest_report rep;
    us_err e;
    const char *out = us_test_path("w.usdb");
    CHECK_ERR(ingest(US_FORMAT_AMAZON, "tests/fixtures/amazon2018/Tiny_5.json",
                     "tests/fixtures/yelp/yelp_academic_dataset_business.json", out, &rep, &e),
              e, US_EFORMAT, "yelp_academic_dataset_business.json");
    CHECK(strstr(e.msg, "wrong --meta?") != NULL);
    CHECK(strstr(e.msg, "amazon metadata") != NULL);
    CHECK(access(out, F_OK) != 0);
    CHECK_ERR(ingest(US_FORMAT_YELP, "tests/fixtures/yelp/yelp_academic_dataset_review.json",
                     "tests/fixtures/amazon2018/meta_Tiny.json", out, &rep, &e),
              e, US_EFORMAT, "wrong --meta?");
    CHECK(access(out, F_OK) != 0);
    /* The right file still goes through. */
    CHECK_OK(ingest(US_FORMAT_AMAZON, "tests/fixtures/amazon2018/Tiny_5.json",
                    "tests/fixtures/amazon2018/meta_Tiny.json", out, &rep, &e), e);
    CHECK(rep.items_with_meta > 0);
}
