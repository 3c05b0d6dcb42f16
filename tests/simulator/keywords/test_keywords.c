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
    /* Four items. "sound" on every item (too common at share 0.5), "remote" on one (too rare
     * at min 2), "Batteries"/"battery" the same keyword, "price" on both sides of item 0 with
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
    CHECK_EQ_INT(nk, 3);
    CHECK_STR(one_text(db, "SELECT group_concat(text || ':' || id || ':' || n_items, ' ') FROM "
                           "(SELECT * FROM keyword ORDER BY id)"),
              "bass:0:2 battery:1:2 price:2:2");
    CHECK_STR(one_text(db, "SELECT pros_text || '|' || cons_text || '|' || category || '|' || "
                           "source FROM item_profile WHERE item = 10"),
              "bass, battery|price|Audio|test-src");
    CHECK_STR(one_text(db, "SELECT category FROM item_profile WHERE item = 11"), "Speakers");
    CHECK_STR(one_text(db, "SELECT pros_text || '|' || cons_text FROM item_profile WHERE item = "
                           "12"), "|");
    CHECK_STR(one_text(db, "SELECT count(*) FROM item_profile"), "4");
    CHECK_EQ_INT(nl, 6); /* items 10 and 11: bass, battery (pros), price (cons) */
    CHECK_STR(one_text(db, "SELECT support || ':' || evidence FROM keyword_evidence WHERE item = "
                           "10 AND side = 1"), "3:said so");
    /* The cap per side. */
    cfg.max_per_side = 1;
    CHECK_OK(kw_merge_write(db, ":memory:", ip, 4, &cfg, "test-src", &nk, &nl, &e), e);
    CHECK_STR(one_text(db, "SELECT pros_text FROM item_profile WHERE item = 10"), "bass");
    /* Thresholds: min_items 1 keeps the rare ones; share 1 keeps "sound". */
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
