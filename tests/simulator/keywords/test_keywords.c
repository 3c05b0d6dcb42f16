/* Keyword normalization (case, spaces, punctuation, plurals, stop words, lengths) and the merge
 * of pass results into the final tables: sides by support, the per-side cap, the rare and
 * common thresholds, ids in text order. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/keywords/extract_internal.h"
#include "tests/test.h"

static const char *norm(const char *s) {
    static char out[KW_MAX_BYTES + 1];
    if (!kw_normalize(s, strlen(s), out, sizeof out)) return "";
    return out;
}

TEST(keyword_normalize) {
    CHECK_STR(norm("  Battery   Life "), "battery life");
    CHECK_STR(norm("The BATTERIES!!"), "battery");
    CHECK_STR(norm("sturdy, well-made zippers"), "sturdy well-made zipper");
    CHECK_STR(norm("glasses"), "glass");
    CHECK_STR(norm("boxes"), "box");
    CHECK_STR(norm("watches"), "watch");
    CHECK_STR(norm("bass"), "bass");     /* not a plural */
    CHECK_STR(norm("series"), "series");
    CHECK_STR(norm("status"), "status");
    CHECK_STR(norm("the battery's life"), "battery life");
    CHECK_STR(norm("a very good price for it"), "good price"); /* stop words at the ends */
    CHECK_STR(norm("ease of use"), "ease of use");             /* ... kept inside */
    CHECK_STR(norm("\"Sound quality.\""), "sound quality");
    CHECK_STR(norm("café crème"), "café crème");               /* UTF-8 passes through */
    CHECK_STR(norm("the"), "");                                /* nothing left */
    CHECK_STR(norm("!!!"), "");
    CHECK_STR(norm("42"), "");                                 /* no letter */
    CHECK_STR(norm("x"), "");                                  /* too short */
    CHECK_STR(norm("red green blue yellow orange"), "");            /* too many words */
    CHECK_STR(norm("an extraordinarily long keyword phrase beyond"), "");
    CHECK_STR(norm("bad\xff byte"), "");                       /* not UTF-8 */
    CHECK(kw_is_stop("the", 3) && kw_is_stop("with", 4) && !kw_is_stop("battery", 7));
}

/* A pass result from a compact spec: "p:kw:support,c:kw:support,...". */
static cJSON *result(const char *category, const char *spec) {
    cJSON *r = cJSON_CreateObject();
    if (category) cJSON_AddStringToObject(r, "category", category);
    else cJSON_AddNullToObject(r, "category");
    cJSON *pros = cJSON_AddArrayToObject(r, "pros"), *cons = cJSON_AddArrayToObject(r, "cons");
    char buf[512];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char side = tok[0], kw[64];
        int sup = 1;
        char *c2 = strchr(tok + 2, ':');
        if (c2) {
            *c2 = '\0';
            sup = atoi(c2 + 1);
        }
        snprintf(kw, sizeof kw, "%s", tok + 2);
        cJSON *reason = cJSON_CreateObject();
        cJSON *k = cJSON_AddArrayToObject(reason, "keywords");
        cJSON_AddItemToArray(k, cJSON_CreateString(kw));
        cJSON_AddStringToObject(reason, "evidence", "said so");
        cJSON_AddNumberToObject(reason, "support", sup);
        cJSON_AddItemToArray(side == 'p' ? pros : cons, reason);
    }
    return r;
}

static sqlite3 *mem_db(void) {
    sqlite3 *db = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return NULL;
    us_err e;
    if (kw_schema(db, ":memory:", &e) != US_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static const char *one_text(sqlite3 *db, const char *sql) {
    static char buf[512];
    sqlite3_stmt *q;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        sqlite3_column_text(q, 0))
        snprintf(buf, sizeof buf, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return buf;
}

TEST(keyword_merge_sides_thresholds_ids) {
    sqlite3 *db = mem_db();
    REQUIRE(db != NULL);
    /* Four items. "sound" on every item (kept: on no more than KW_COMMON_MIN_ITEMS items a
     * keyword is never too common), "remote" on one (too rare at min 2), "Batteries"/"battery" the same keyword, "price" on both sides of item 0 with
     * more support as a con. */
    kw_item_passes ip[4] = {
        {.item = 10, .objective = result("Audio", "p:sound,p:Batteries,p:price:1"),
         .subjective = result(NULL, "c:price:3,p:bass:2,c:remote")},
        {.item = 11, .objective = result(NULL, "p:sound,p:battery"),
         .subjective = result(NULL, "p:bass,c:price"), .fallback_category = "Speakers"},
        {.item = 12, .objective = result("Audio", "p:sound,c:weight:2,p:weight:2"),
         .subjective = NULL},
        {.item = 13, .objective = NULL, .subjective = result(NULL, "p:sound,c:weight")},
    };
    us_extract_config cfg = us_extract_config_default();
    us_err e;
    uint64_t nk = 0, nl = 0;
    CHECK_OK(kw_merge_write(db, ":memory:", ip, 4, &cfg, "test-src", &nk, &nl, &e), e);
    /* Vocabulary: bass (2), battery (2), price (2), weight (1: item 12 is a tie, dropped,
     * so only item 13 -> rare). Ids in text order. */
    CHECK_EQ_INT(nk, 4);
    CHECK_STR(one_text(db, "SELECT group_concat(text || ':' || id || ':' || n_items, ' ') FROM "
                           "(SELECT * FROM keyword ORDER BY id)"),
              "bass:0:2 battery:1:2 price:2:2 sound:3:4");
    CHECK_STR(one_text(db, "SELECT pros_text || '|' || cons_text || '|' || category || '|' || "
                           "source FROM item_profile WHERE item = 10"),
              "bass, battery, sound|price|Audio|test-src");
    CHECK_STR(one_text(db, "SELECT category FROM item_profile WHERE item = 11"), "Speakers");
    CHECK_STR(one_text(db, "SELECT pros_text || '|' || cons_text FROM item_profile WHERE item = "
                           "12"), "sound|");
    CHECK_STR(one_text(db, "SELECT count(*) FROM item_profile"), "4");
    CHECK_EQ_INT(nl, 10); /* items 10 and 11: bass, battery, sound, price; 12 and 13: sound */
    CHECK_STR(one_text(db, "SELECT support || ':' || evidence FROM keyword_evidence WHERE item = "
                           "10 AND side = 1"), "3:said so");
    /* The cap per side. */
    cfg.max_per_side = 1;
    CHECK_OK(kw_merge_write(db, ":memory:", ip, 4, &cfg, "test-src", &nk, &nl, &e), e);
    CHECK_STR(one_text(db, "SELECT pros_text FROM item_profile WHERE item = 10"), "bass");
    /* Thresholds: min_items 1 keeps the rare ones. */
    cfg.max_per_side = 10;
    cfg.min_items = 1;
    cfg.max_item_share = 1.0;
    CHECK_OK(kw_merge_write(db, ":memory:", ip, 4, &cfg, "test-src", &nk, &nl, &e), e);
    CHECK_STR(one_text(db, "SELECT group_concat(text, ' ') FROM (SELECT * FROM keyword ORDER "
                           "BY id)"), "bass battery price remote sound weight");
    for (int i = 0; i < 4; i++) {
        cJSON_Delete(ip[i].objective);
        cJSON_Delete(ip[i].subjective);
    }
    sqlite3_close(db);
}

TEST(keyword_singular_rules) {
    static const char *const cases[][2] = {
        {"blues", "blues"},     {"rollins", "rollins"}, {"series", "series"},
        {"glasses", "glass"},   {"boxes", "box"},       {"stories", "story"},
        {"bus", "bus"},         {"analysis", "analysis"}, {"news", "news"},
        {"batteries", "battery"}, {"watches", "watch"},  {"brushes", "brush"},
        {"buzzes", "buzz"},     {"sizes", "size"},      {"headaches", "headache"},
        {"movies", "movie"},    {"cables", "cable"},    {"electronics", "electronics"},
        {"famous", "famous"},   {"class", "class"},     {"toys", "toy"},
        {"lens", "lens"},       {"gas", "gas"},         {"this", "this"},
        {"zippers", "zipper"},  {"keys", "key"},        {"jeans", "jeans"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char w[32];
        size_t n = strlen(cases[i][0]);
        memcpy(w, cases[i][0], n + 1);
        n = kw_singular(w, n);
        w[n] = '\0';
        if (strcmp(w, cases[i][1]) != 0) printf("    %s -> %s\n", cases[i][0], w);
        CHECK_STR(w, cases[i][1]);
    }
    CHECK_STR(norm("Sonny Rollins"), "sonny rollins");
    CHECK_EQ_INT(kw_plural_lists_check(), 0);
}

static const char *decoded(const char *s) {
    static char buf[256];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    buf[kw_html_decode(buf, n)] = '\0';
    return buf;
}

TEST(keyword_html_entities_decoded) {
    CHECK_STR(decoded("&quot;sturdy&quot; &amp; light"), "\"sturdy\" & light");
    CHECK_STR(decoded("it&#39;s &#x27;fine&#X27;"), "it's 'fine'");
    CHECK_STR(decoded("a&lt;b&gt;c&nbsp;d"), "a<b>c d");
    CHECK_STR(decoded("caf&eacute; cr&#232;me &#x1F600;"), "café crème \xf0\x9f\x98\x80");
    CHECK_STR(decoded("&amp;quot;twice&amp;quot;"), "\"twice\"");
    CHECK_STR(decoded("AT&T &unknown; &#xZZ; & ;"), "AT&T &unknown; &#xZZ; & ;");
    CHECK_STR(decoded("&#0;&#xD800;&#9999999;"), "   ");
    CHECK_EQ_INT(kw_entity_list_check(), 0);
    /* In keywords: "Home &amp; Kitchen" is not "home amp kitchen". */
    CHECK_STR(norm("Home &amp; Kitchen"), "home kitchen");
    CHECK_STR(norm("&quot;battery life&quot;"), "battery life");
    CHECK_STR(norm("&quot;"), "");
}

TEST(keyword_stop_words_and_contractions) {
    static const char *const stop[] = {"still", "because", "i'm", "it's", "really", "already",
                                       "maybe", "actually", "they're", "that's"};
    for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++) {
        if (!kw_is_stop(stop[i], strlen(stop[i]))) printf("    not a stop word: %s\n", stop[i]);
        CHECK(kw_is_stop(stop[i], strlen(stop[i])));
    }
    CHECK_STR(norm("still"), "");
    CHECK_STR(norm("i'm"), "");
    CHECK_STR(norm("really sturdy build"), "sturdy build");
    /* Negations stay: "doesn't" and "not" are not stop words. */
    CHECK(!kw_is_stop("not", 3) && !kw_is_stop("doesn't", 7));
}

TEST(keyword_common_dropped_by_share) {
    sqlite3 *db = mem_db();
    REQUIRE(db != NULL);
    /* 40 items: "price" on 11 (27.5% > 25%: dropped), "color" on 10 (25%: kept), "zipper"
     * on 2 (kept). */
    kw_item_passes ip[40];
    memset(ip, 0, sizeof ip);
    for (int i = 0; i < 40; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "p:item%02d%s%s%s", i, i < 11 ? ",p:price" : "",
                 i >= 20 && i < 30 ? ",p:color" : "", i >= 38 ? ",c:zipper" : "");
        ip[i].item = i;
        ip[i].objective = result(NULL, spec);
    }
    us_extract_config cfg = us_extract_config_default();
    CHECK(cfg.max_item_share == 0.25);
    cfg.min_items = 1;
    us_err e;
    uint64_t nk = 0, nl = 0;
    CHECK_OK(kw_merge_write(db, ":memory:", ip, 40, &cfg, "t", &nk, &nl, &e), e);
    CHECK_STR(one_text(db, "SELECT count(*) FROM keyword WHERE text = 'price'"), "0");
    CHECK_STR(one_text(db, "SELECT n_items FROM keyword WHERE text = 'color'"), "10");
    CHECK_STR(one_text(db, "SELECT n_items FROM keyword WHERE text = 'zipper'"), "2");
    CHECK_STR(one_text(db, "SELECT pros_text FROM item_profile WHERE item = 0"), "item00");
    CHECK_EQ_INT(nk, 42);
    for (int i = 0; i < 40; i++) cJSON_Delete(ip[i].objective);
    sqlite3_close(db);
}
