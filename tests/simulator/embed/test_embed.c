/* test_embed.c — the embed stage on real SQLite stores: a store from synthetic data (us_synth
 * and us_ingest), keyword tables written here in the extraction stage's schema, then
 * us_embed_store and `usersim embed` with the hashed embedder (no model needed): counts,
 * norms, exact vectors, a rerun that writes nothing, new rows only, vectors of deleted
 * keywords dropped, and the errors people meet. Replacing another embedder's vectors (and
 * keeping them when that fails halfway) is in test_bert.c, beside the tiny BERT it needs.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simulator/embed/bert.h"
#include "tests/cli.h"
#include "tests/store.h"
#include "tests/test.h"

static const char *const k_words[] = {
    "great sound quality", "excellent audio", "late delivery",    "cheap plastic",
    "battery lasts all day", "comfortable fit", "broke after a week", "easy to set up",
    "noisy fan",           "good value",      "poor instructions", "sturdy build",
};
#define N_WORDS 12

static int exec(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The extraction stage's tables, filled for every item of the store: item i likes keywords
 * i % 12 and (i + 5) % 12, dislikes (i + 2) % 12, except every 7th item has no cons.
 * Returns the number of items, or -1. */
static int write_keywords(const char *store) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(store, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) return -1;
    int n = -1;
    sqlite3_stmt *items = NULL, *kw = NULL, *ik = NULL, *prof = NULL;
    if (exec(db, "BEGIN; CREATE TABLE keyword(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE,"
                 " n_items INTEGER NOT NULL);"
                 "CREATE TABLE item_keyword(item INTEGER NOT NULL, side INTEGER NOT NULL,"
                 " keyword INTEGER NOT NULL, PRIMARY KEY(item, side, keyword));"
                 "CREATE TABLE item_profile(item INTEGER PRIMARY KEY, category TEXT,"
                 " pros_text TEXT NOT NULL, cons_text TEXT NOT NULL, source TEXT NOT NULL);") ||
        sqlite3_prepare_v2(db, "INSERT INTO keyword(id, text, n_items) VALUES(?, ?, 0)", -1, &kw,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO item_keyword VALUES(?, ?, ?)", -1, &ik, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO item_profile VALUES(?, NULL, ?, ?, 'test')", -1,
                           &prof, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT id FROM items ORDER BY id", -1, &items, NULL) != SQLITE_OK)
        goto out;
    for (int k = 0; k < N_WORDS; k++) {
        sqlite3_reset(kw);
        sqlite3_bind_int(kw, 1, k + 1);
        sqlite3_bind_text(kw, 2, k_words[k], -1, SQLITE_STATIC);
        if (sqlite3_step(kw) != SQLITE_DONE) goto out;
    }
    int count = 0;
    while (sqlite3_step(items) == SQLITE_ROW) {
        int id = sqlite3_column_int(items, 0);
        int p1 = id % N_WORDS, p2 = (id + 5) % N_WORDS, c1 = (id + 2) % N_WORDS;
        int has_cons = id % 7 != 0;
        char pros[256], cons[128];
        snprintf(pros, sizeof pros, "%s, %s", k_words[p1], k_words[p2]);
        snprintf(cons, sizeof cons, "%s", has_cons ? k_words[c1] : "");
        int sides[3][2] = {{0, p1}, {0, p2}, {1, c1}};
        for (int s = 0; s < (has_cons ? 3 : 2); s++) {
            sqlite3_reset(ik);
            sqlite3_bind_int(ik, 1, id);
            sqlite3_bind_int(ik, 2, sides[s][0]);
            sqlite3_bind_int(ik, 3, sides[s][1] + 1);
            if (sqlite3_step(ik) != SQLITE_DONE) goto out;
        }
        sqlite3_reset(prof);
        sqlite3_bind_int(prof, 1, id);
        sqlite3_bind_text(prof, 2, pros, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(prof, 3, cons, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(prof) != SQLITE_DONE) goto out;
        count++;
    }
    if (exec(db, "UPDATE keyword SET n_items = (SELECT COUNT(DISTINCT item) FROM item_keyword"
                 " WHERE keyword = keyword.id); COMMIT") == 0)
        n = count;
out:
    sqlite3_finalize(items);
    sqlite3_finalize(kw);
    sqlite3_finalize(ik);
    sqlite3_finalize(prof);
    sqlite3_close(db);
    return n;
}

/* Counts every row written to the output tables from now on, in table vec_writes. */
static int count_writes(const char *store) {
    return us_test_sql_exec(store,
                            "CREATE TABLE vec_writes(n INTEGER); INSERT INTO vec_writes VALUES(0);"
                            "CREATE TRIGGER kw_ins AFTER INSERT ON keyword_vec BEGIN"
                            " UPDATE vec_writes SET n = n + 1; END;"
                            "CREATE TRIGGER kw_del AFTER DELETE ON keyword_vec BEGIN"
                            " UPDATE vec_writes SET n = n + 1; END;"
                            "CREATE TRIGGER it_ins AFTER INSERT ON item_vec BEGIN"
                            " UPDATE vec_writes SET n = n + 1; END;"
                            "CREATE TRIGGER it_del AFTER DELETE ON item_vec BEGIN"
                            " UPDATE vec_writes SET n = n + 1; END;"
                            "CREATE TRIGGER em_up AFTER UPDATE ON embedder BEGIN"
                            " UPDATE vec_writes SET n = n + 1; END;");
}

/* Checks every stored vector: width, norm 1 (0 for an empty text), and for keywords, the
 * exact vector of the hashed embedder. Returns the number of bad rows. */
static int check_vectors(const char *store, int *n_zero) {
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int bad = 0;
    *n_zero = 0;
    if (sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return -1;
    const char *sql =
        "SELECT k.text, v.vec FROM keyword_vec v JOIN keyword k ON k.id = v.keyword "
        "UNION ALL SELECT CASE v.side WHEN 0 THEN p.pros_text ELSE p.cons_text END, v.vec "
        "FROM item_vec v JOIN item_profile p ON p.item = v.item";
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    float want[US_HASHEMBED_DIM], got[US_HASHEMBED_DIM];
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(s, 0);
        const uint8_t *b = sqlite3_column_blob(s, 1);
        if (sqlite3_column_bytes(s, 1) != US_HASHEMBED_DIM * 4 || !b) {
            bad++;
            continue;
        }
        double nn = 0.0;
        for (int i = 0; i < US_HASHEMBED_DIM; i++) {
            uint32_t w = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                         (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
            memcpy(&got[i], &w, 4);
            nn += (double)got[i] * got[i];
        }
        us_hashembed(want, text, strlen(text), US_HASHEMBED_DIM);
        if (memcmp(want, got, sizeof want) != 0) bad++;
        if (text[0] == '\0')
            *n_zero += nn == 0.0;
        else if (fabs(sqrt(nn) - 1.0) > 1e-5)
            bad++;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return bad;
}

TEST(embed_store_hashed_incremental) {
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 60, 40, 600, 0) == 0);
    int n_items = write_keywords(store);
    REQUIRE(n_items > 10);
    us_err e;
    us_embedder *em = NULL;
    CHECK_OK(us_embedder_open(&em, NULL, 0, 0, NULL, &e), e);
    REQUIRE(em != NULL);
    us_embed_config cfg = us_embed_config_default();
    cfg.quiet = 1;
    cfg.batch = 7;         /* batches that do not divide the counts */
    cfg.commit_every = 10; /* and several transactions */
    us_embed_report rep;
    CHECK_OK(us_embed_store(store, em, &cfg, &rep, &e), e);
    CHECK_STR(rep.embedder, US_HASHEMBED_NAME);
    CHECK_EQ_INT(rep.dim, US_HASHEMBED_DIM);
    CHECK_EQ_INT(rep.n_keywords, N_WORDS);
    CHECK_EQ_INT(rep.keywords_embedded, N_WORDS);
    CHECK_EQ_INT(rep.n_item_texts, 2 * n_items);
    CHECK_EQ_INT(rep.item_texts_embedded, 2 * n_items);
    CHECK_EQ_INT(rep.replaced, 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT COUNT(*) FROM keyword_vec"), N_WORDS);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT COUNT(*) FROM item_vec"), 2 * n_items);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT COUNT(*) FROM embedder WHERE name ="
                                        " 'hashed-ngram-v1' AND model_sha256 = '' AND dim = 384"),
                 1);
    int zeros = 0;
    CHECK_EQ_INT(check_vectors(store, &zeros), 0);
    long long want_zeros =
        us_test_sql_int(store, "SELECT COUNT(*) FROM item_profile WHERE cons_text = ''");
    CHECK(want_zeros > 0); /* items without cons: zero vectors */
    CHECK_EQ_INT(zeros, want_zeros);

    /* A rerun writes nothing at all. */
    REQUIRE(count_writes(store) == 0);
    CHECK_OK(us_embed_store(store, em, &cfg, &rep, &e), e);
    CHECK_EQ_INT(rep.keywords_embedded, 0);
    CHECK_EQ_INT(rep.item_texts_embedded, 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT n FROM vec_writes"), 0);

    /* New rows only: a keyword and an item profile added, a keyword deleted. */
    const char *edits = "INSERT INTO keyword(id, text, n_items) VALUES(100, 'loud speakers', 0);"
                        "DELETE FROM item_profile WHERE item = 3;"
                        "INSERT INTO item_profile VALUES(3, NULL, 'loud speakers', 'late delivery',"
                        " 'test');"
                        "DELETE FROM keyword WHERE id = 12;";
    REQUIRE(us_test_sql_exec(store, edits) == 0);
    /* (The stale vectors of item 3 are the extraction stage's to delete when it rewrites.) */
    REQUIRE(us_test_sql_exec(store, "DELETE FROM item_vec WHERE item = 3;"
                                    " UPDATE vec_writes SET n = 0") == 0);
    CHECK_OK(us_embed_store(store, em, &cfg, &rep, &e), e);
    CHECK_EQ_INT(rep.keywords_embedded, 1);
    CHECK_EQ_INT(rep.item_texts_embedded, 2);
    /* 1 keyword + 2 item rows written, 1 orphan keyword vector deleted */
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT n FROM vec_writes"), 4);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT COUNT(*) FROM keyword_vec"), N_WORDS);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT COUNT(*) FROM keyword_vec WHERE keyword = 12"), 0);
    CHECK_EQ_INT(check_vectors(store, &zeros), 0);
    us_embedder_close(em);
}

TEST(embed_store_errors) {
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 60, 40, 600, 0) == 0);
    us_err e;
    us_embedder *em = NULL;
    CHECK_OK(us_embedder_open(&em, NULL, 0, 0, NULL, &e), e);
    REQUIRE(em != NULL);
    /* Before extraction: the stage says what to run, and writes nothing. */
    us_status st = us_embed_store(store, em, NULL, NULL, &e);
    CHECK_EQ_INT(st, US_ENOTFOUND);
    char b[1200];
    CHECK(strstr(us_err_str(&e, b, sizeof b), "run usersim build") != NULL);
    CHECK(strstr(b, "s.usdb") != NULL);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'embedder'"), 0);
    st = us_embed_store(us_test_path("none.usdb"), em, NULL, NULL, &e);
    CHECK_EQ_INT(st, US_ENOTFOUND);
    CHECK(strstr(us_err_str(&e, b, sizeof b), "none.usdb") != NULL);
    us_embedder_close(em);
}

TEST(cli_embed_and_encode) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 60, 40, 600, 0) == 0);
    /* Before extraction: exit 1 and the hint. */
    const char *early[] = {"embed", store, "--hashed", NULL};
    CHECK_EQ_INT(us_test_cli(early, "o0"), 1);
    CHECK(strstr(us_test_slurp("o0"), "usersim build") != NULL);
    int n_items = write_keywords(store);
    REQUIRE(n_items > 0);
    /* A model folder that is not there is an error naming it, not the hashed embedder. */
    const char *no_model[] = {"embed", store, "--embed-model", "no-such-model-dir", NULL};
    CHECK_EQ_INT(us_test_cli(no_model, "o1"), 1);
    CHECK(strstr(us_test_slurp("o1"), "no-such-model-dir") != NULL);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM sqlite_master"
                                        " WHERE name = 'embedder'"),
                 0);
    const char *first[] = {"embed", store, "--hashed", "--batch", "5", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(first, "o1"), 0);
    const char *out = us_test_slurp("o1");
    cJSON *j = cJSON_Parse(strchr(out, '{'));
    REQUIRE(j != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "embedder")), US_HASHEMBED_NAME);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "keywords_embedded")), N_WORDS);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "item_texts_embedded")),
                 2 * n_items);
    cJSON_Delete(j);
    int zeros = 0;
    CHECK_EQ_INT(check_vectors(store, &zeros), 0);
    /* The same again: nothing to do. */
    const char *again[] = {"embed", store, "--hashed", NULL};
    CHECK_EQ_INT(us_test_cli(again, "o2"), 0);
    CHECK(strstr(us_test_slurp("o2"), "keywords    0 embedded, 12 in the store") != NULL);
    CHECK(strstr(us_test_slurp("o2"), US_HASHEMBED_NAME) != NULL);
    /* People's mistakes. */
    const char *bad_batch[] = {"embed", store, "--batch", "0", NULL};
    CHECK_EQ_INT(us_test_cli(bad_batch, "o3"), 2);
    CHECK(strstr(us_test_slurp("o3"), "--batch") != NULL);
    const char *no_store[] = {"embed", NULL};
    CHECK_EQ_INT(us_test_cli(no_store, "o4"), 2);
    const char *missing[] = {"embed", "/no/such.usdb", "--hashed", NULL};
    CHECK_EQ_INT(us_test_cli(missing, "o5"), 1);
    CHECK(strstr(us_test_slurp("o5"), "/no/such.usdb") != NULL);
    const char *help[] = {"embed", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(help, "o6"), 0);
    CHECK(strstr(us_test_slurp("o6"), "--batch") != NULL);

    /* encode: two texts give two vectors and their cosine, named by the embedder. */
    const char *enc[] = {"encode", "--hashed", "--json", "fast delivery", "delivered fast",
                         NULL};
    CHECK_EQ_INT(us_test_cli(enc, "e1"), 0);
    j = cJSON_Parse(us_test_slurp("e1"));
    REQUIRE(j != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "embedder")), US_HASHEMBED_NAME);
    cJSON *embs = cJSON_GetObjectItem(j, "embeddings");
    CHECK_EQ_INT(cJSON_GetArraySize(embs), 2);
    cJSON *v0 = cJSON_GetObjectItem(cJSON_GetArrayItem(embs, 0), "vector");
    CHECK_EQ_INT(cJSON_GetArraySize(v0), US_HASHEMBED_DIM);
    float want[US_HASHEMBED_DIM];
    us_hashembed(want, "fast delivery", 13, US_HASHEMBED_DIM);
    double worst = 0.0;
    for (int i = 0; i < US_HASHEMBED_DIM; i++) {
        double d = fabs(cJSON_GetNumberValue(cJSON_GetArrayItem(v0, i)) - want[i]);
        if (d > worst) worst = d;
    }
    CHECK(worst < 1e-6);
    double cosv = cJSON_GetNumberValue(cJSON_GetObjectItem(j, "cosine"));
    CHECK(cosv > 0.5 && cosv < 1.0);
    cJSON_Delete(j);
    const char *enc3[] = {"encode", "--hashed", "a", "b", "c", NULL};
    CHECK_EQ_INT(us_test_cli(enc3, "e2"), 0);
    CHECK(strstr(us_test_slurp("e2"), "embedder: hashed-ngram-v1") != NULL);
    CHECK(strstr(us_test_slurp("e2"), "cosine") == NULL);
    const char *enc0[] = {"encode", NULL};
    CHECK_EQ_INT(us_test_cli(enc0, "e3"), 2);
    const char *enc_help[] = {"encode", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(enc_help, "e4"), 0);
    CHECK(strstr(us_test_slurp("e4"), "USERSIM_MODELS") != NULL);
}

/* A store embedded by the sentence model keeps those vectors when embed is asked for the hashed
 * embedder: that is refused (exit 1, naming --force) and the vectors are byte for byte the
 * same; with --force they are replaced. */
TEST(cli_embed_hashed_never_replaces_model_vectors_without_force) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    if (access("models/all-MiniLM-L6-v2/model.safetensors", R_OK) != 0)
        SKIP("models/all-MiniLM-L6-v2 is not installed (make models)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 30, 12, 200, 0) == 0);
    REQUIRE(write_keywords(store) > 0);
    const char *model[] = {"embed", store, NULL};
    REQUIRE(us_test_cli(model, "o1") == 0);
    REQUIRE(us_test_sql_int(store, "SELECT count(*) FROM embedder"
                                   " WHERE name LIKE 'all-MiniLM-L6-v2@%'") == 1);
    REQUIRE(us_test_sql_exec(store, "CREATE TABLE kv0 AS SELECT * FROM keyword_vec;"
                                    "CREATE TABLE iv0 AS SELECT * FROM item_vec;"
                                    "CREATE TABLE e0 AS SELECT * FROM embedder;") == 0);
    const char *hashed[] = {"embed", store, "--hashed", NULL};
    CHECK_EQ_INT(us_test_cli(hashed, "o2"), 1);
    CHECK(strstr(us_test_slurp("o2"), "--force") != NULL);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM embedder e JOIN e0 ON"
                                        " e.name = e0.name AND e.model_sha256 = e0.model_sha256"),
                 1);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM keyword_vec k JOIN kv0"
                                        " ON k.keyword = kv0.keyword AND k.vec = kv0.vec"),
                 N_WORDS);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_vec i JOIN iv0"
                                        " ON i.item = iv0.item AND i.side = iv0.side"
                                        " AND i.vec = iv0.vec"),
                 us_test_sql_int(store, "SELECT count(*) FROM iv0"));
    const char *forced[] = {"embed", store, "--hashed", "--force", NULL};
    CHECK_EQ_INT(us_test_cli(forced, "o3"), 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM embedder WHERE name = '"
                                        US_HASHEMBED_NAME "'"),
                 1);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM keyword_vec k JOIN kv0"
                                        " ON k.keyword = kv0.keyword AND k.vec = kv0.vec"),
                 0);
}
