/* The extract stage end to end on real stores: the cache (a re-run does nothing, a new prompt
 * re-does only its pass), kill -9 at several points then a re-run giving exactly the tables of
 * an uninterrupted run, the command line, and the LLM path against the scripted test server
 * (a malformed answer retried with the error and accepted, a failure recorded, per-review and
 * per-item batches, JSON answers, the request log). */
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simulator/embed/bert.h"
#include "simulator/keywords/extract_internal.h"
#include "tests/cli.h"
#include "tests/simulator/keywords/chat_server.h"
#include "tests/store.h"
#include "tests/test.h"

static int copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    int ok = a && b;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok ? 0 : -1;
}

/* Everything the stage's final tables hold, as one string (caller frees), or NULL. */
static char *dump(const char *store) {
    sqlite3 *db;
    if (sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return NULL;
    const char *sql =
        "SELECT (SELECT group_concat(x, ';') FROM (SELECT id || ':' || text || ':' || n_items "
        "AS x FROM keyword ORDER BY id)) || '#' || (SELECT group_concat(x, ';') FROM (SELECT "
        "item || ':' || side || ':' || keyword AS x FROM item_keyword ORDER BY item, side, "
        "keyword)) || '#' || (SELECT group_concat(x, ';') FROM (SELECT item || ':' || "
        "ifnull(category, '') || ':' || pros_text || ':' || cons_text || ':' || source AS x "
        "FROM item_profile ORDER BY item)) || '#' || (SELECT group_concat(x, ';') FROM (SELECT "
        "item || ':' || pass || ':' || status || ':' || result AS x FROM extraction ORDER BY "
        "item, pass))";
    sqlite3_stmt *q;
    char *out = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        sqlite3_column_text(q, 0))
        out = strdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    return out;
}

TEST(extract_builtin_cache_rerun_is_noop) {
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 90, 60, 1320, 1) == 0);
    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    us_extract_report r1, r2;
    us_err e;
    CHECK_OK(us_extract(store, &cfg, &r1, &e), e);
    CHECK_EQ_U64(r1.items, 60);
    CHECK_EQ_U64(r1.extracted, 120);
    CHECK_EQ_U64(r1.cached, 0);
    CHECK_EQ_U64(r1.profiles, 60);
    CHECK(r1.keywords > 10);
    CHECK_STR(r1.source, "builtin-v2");
    char *d1 = dump(store);
    CHECK_OK(us_extract(store, &cfg, &r2, &e), e);
    CHECK_EQ_U64(r2.extracted, 0);
    CHECK_EQ_U64(r2.cached, 120);
    char *d2 = dump(store);
    REQUIRE(d1 && d2);
    CHECK(strcmp(d1, d2) == 0);
    /* Every item has a profile and the agreed columns. */
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile p JOIN items i ON i.id "
                                        "= p.item WHERE p.source = 'builtin-v2'"), 60);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_keyword ik LEFT JOIN keyword k "
                                        "ON k.id = ik.keyword WHERE k.id IS NULL"), 0);
    /* A different vote threshold changes the subjective pass only. */
    cfg.min_review_share = 0.5;
    CHECK_OK(us_extract(store, &cfg, &r2, &e), e);
    CHECK_EQ_U64(r2.extracted, 60);
    CHECK_EQ_U64(r2.cached, 60);
    cfg.min_review_share = us_extract_config_default().min_review_share;
    /* --limit: a smaller scope rebuilds the final tables for it, from the cache. */
    cfg.limit = 10;
    CHECK_OK(us_extract(store, &cfg, &r2, &e), e);
    CHECK_EQ_U64(r2.extracted, 0);
    CHECK_EQ_U64(r2.profiles, 10);
    /* Bad configs and stores. */
    cfg.limit = 0;
    cfg.llm_url = "http://127.0.0.1:1/v1";
    CHECK(us_extract(store, &cfg, &r2, &e) == US_EINVAL);
    CHECK_STR(e.field, "model");
    CHECK(us_extract(us_test_path("none.usdb"), NULL, &r2, &e) == US_ENOTFOUND);
    us_test_write("junk.usdb", "not a database at all, just some text", -1);
    CHECK(us_extract(us_test_path("junk.usdb"), NULL, &r2, &e) != US_OK);
    free(d1);
    free(d2);
}

/* Every stored vector is the hashed embedding of its current text: returns the stale rows. */
static long stale_vectors(const char *store) {
    sqlite3 *db;
    if (sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return -1;
    sqlite3_stmt *q;
    long bad = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT k.text, v.vec FROM keyword_vec v JOIN keyword k ON k.id = "
                           "v.keyword UNION ALL SELECT CASE v.side WHEN 0 THEN p.pros_text ELSE "
                           "p.cons_text END, v.vec FROM item_vec v JOIN item_profile p ON "
                           "p.item = v.item",
                           -1, &q, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    float want[US_HASHEMBED_DIM];
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(q, 0);
        us_hashembed(want, text, strlen(text), US_HASHEMBED_DIM);
        /* little-endian float32 on the machines we build for, as embed_store writes them */
        bad += sqlite3_column_bytes(q, 1) != (int)sizeof want ||
               memcmp(sqlite3_column_blob(q, 1), want, sizeof want) != 0;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return bad;
}

/* Re-extracting after the embed stage: unchanged texts keep their vectors, changed ones lose
 * them in the same transaction, and embed then encodes exactly those. */
TEST(extract_rerun_drops_only_stale_vectors) {
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 90, 60, 1320, 1) == 0);
    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    us_err e;
    CHECK_OK(us_extract(store, &cfg, NULL, &e), e);
    us_embedder *em = NULL;
    CHECK_OK(us_embedder_open(&em, NULL, 0, 0, NULL, &e), e);
    REQUIRE(em != NULL);
    us_embed_config ec = us_embed_config_default();
    ec.quiet = 1;
    us_embed_report rep;
    CHECK_OK(us_embed_store(store, em, &ec, &rep, &e), e);
    long long n_kw = us_test_sql_int(store, "SELECT count(*) FROM keyword_vec");
    CHECK(n_kw > 10);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_vec"), 120);
    /* The same extraction again: every vector is still current and stays. */
    CHECK_OK(us_extract(store, &cfg, NULL, &e), e);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM keyword_vec"), n_kw);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_vec"), 120);
    CHECK_EQ_INT(stale_vectors(store), 0);
    /* A stricter review vote changes some profiles and the vocabulary (ids shift). */
    cfg.min_review_share = 0.5;
    CHECK_OK(us_extract(store, &cfg, NULL, &e), e);
    CHECK_EQ_INT(stale_vectors(store), 0);
    long long kept_kw = us_test_sql_int(store, "SELECT count(*) FROM keyword_vec");
    long long kept_items = us_test_sql_int(store, "SELECT count(*) FROM item_vec");
    long long all_kw = us_test_sql_int(store, "SELECT count(*) FROM keyword");
    CHECK(kept_items < 120);
    CHECK(kept_kw < all_kw);
    CHECK_OK(us_embed_store(store, em, &ec, &rep, &e), e);
    CHECK_EQ_U64(rep.keywords_embedded, (uint64_t)(all_kw - kept_kw));
    CHECK_EQ_U64(rep.item_texts_embedded, (uint64_t)(120 - kept_items));
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_vec"), 120);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM keyword_vec"), all_kw);
    CHECK_EQ_INT(stale_vectors(store), 0);
    us_embedder_close(em);
}

/* The child's progress hook: dies by SIGKILL once `*ctx` items are stored (some of them not
 * yet committed). */
static void kill_at(void *ctx, uint64_t done, uint64_t total, uint64_t failed) {
    (void)total;
    (void)failed;
    if (done >= *(uint64_t *)ctx) raise(SIGKILL);
}

TEST(extract_builtin_kill9_then_rerun_completes) {
    char store[1024], ref[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    snprintf(ref, sizeof ref, "%s", us_test_path("ref.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 120, 80, 1760, 1) == 0);
    REQUIRE(copy_file(store, ref) == 0);
    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    cfg.commit_every = 16;
    us_err e;
    CHECK_OK(us_extract(ref, &cfg, NULL, &e), e);
    char *want = dump(ref);
    REQUIRE(want != NULL);
    /* Killed three times at different points (inside an open transaction each time; the
     * count is of the items that run stored), then a plain run. */
    const uint64_t points[] = {5, 21, 30};
    const long rows_after[] = {0, 32, 64}; /* whole commits of 16 items, two passes each */
    for (int k = 0; k < 3; k++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            uint64_t at = points[k];
            cfg.progress = kill_at;
            cfg.progress_ctx = &at;
            us_err ce;
            us_extract(store, &cfg, NULL, &ce);
            _exit(3); /* not reached: the hook kills first */
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction"), rows_after[k]);
    }
    us_extract_report rep;
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_U64(rep.cached, 64);
    CHECK_EQ_U64(rep.extracted, 96);
    char *got = dump(store);
    REQUIRE(got != NULL);
    CHECK(strcmp(got, want) == 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction"), 160);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile"), 80);
    free(got);
    free(want);
}

/* The store's category kind: a store written before the meta key existed reads as a path
 * store; a list store makes every genre a keyword. */
TEST(extract_category_kind_old_store_is_path) {
    char store[1024], old[1024], list[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    snprintf(old, sizeof old, "%s", us_test_path("old.usdb"));
    snprintf(list, sizeof list, "%s", us_test_path("list.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 90, 60, 1320, 1) == 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM meta WHERE key = 'category_kind' "
                                        "AND value = 'path'"), 1);
    REQUIRE(copy_file(store, old) == 0 && copy_file(store, list) == 0);
    REQUIRE(us_test_sql_exec(old, "DELETE FROM meta WHERE key = 'category_kind'") == 0);
    REQUIRE(us_test_sql_exec(list, "UPDATE meta SET value = 'list' WHERE key = "
                                   "'category_kind'") == 0);
    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    us_err e;
    CHECK_OK(us_extract(store, &cfg, NULL, &e), e);
    CHECK_OK(us_extract(old, &cfg, NULL, &e), e);
    CHECK_OK(us_extract(list, &cfg, NULL, &e), e);
    char *a = dump(store), *b = dump(old), *c = dump(list);
    REQUIRE(a && b && c);
    CHECK(strcmp(a, b) == 0);
    CHECK(strcmp(a, c) != 0);
    /* A path's root is no keyword and no category; every genre of a list is a keyword. */
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction WHERE pass = "
                                        "'objective' AND result LIKE '%\"Synthetic\"%'"), 0);
    CHECK_EQ_INT(us_test_sql_int(list, "SELECT count(*) FROM extraction WHERE pass = "
                                       "'objective' AND result LIKE '%\"Synthetic\"%'"), 60);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile WHERE category = "
                                        "'Synthetic' OR category IS NULL"), 0);
    /* The category is the item's most specific shared entry: its sub-category when another
     * item has it, else its category. */
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile p JOIN items i ON "
                                        "i.id = p.item WHERE p.category = CASE WHEN (SELECT "
                                        "count(*) FROM items j WHERE json_extract(j.categories, "
                                        "'$[2]') = json_extract(i.categories, '$[2]')) >= 2 "
                                        "THEN json_extract(i.categories, '$[2]') ELSE "
                                        "json_extract(i.categories, '$[1]') END"), 60);
    CHECK(us_test_sql_int(store, "SELECT count(*) FROM item_profile p JOIN items i ON i.id = "
                                 "p.item WHERE p.category = json_extract(i.categories, "
                                 "'$[2]')") > 30);
    free(a);
    free(b);
    free(c);
}

TEST(extract_cli_json_report_and_errors) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 75, 50, 1100, 1) == 0);
    const char *run[] = {"extract", store, "--builtin", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(run, "o1"), 0);
    cJSON *j = cJSON_Parse(us_test_slurp("o1"));
    REQUIRE(j != NULL);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "profiles")), 50);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "extracted")), 100);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "source")), "builtin-v2");
    cJSON_Delete(j);
    const char *again[] = {"extract", store, NULL};
    CHECK_EQ_INT(us_test_cli(again, "o2"), 0);
    CHECK(strstr(us_test_slurp("o2"), "0 item-passes done now, 100 from the cache") != NULL);
    const char *rep[] = {"extract", store, "--report", NULL};
    CHECK_EQ_INT(us_test_cli(rep, "o3"), 0);
    CHECK(strstr(us_test_slurp("o3"), "50 item profiles") != NULL);
    const char *bad[] = {"extract", store, "--format", "xml", NULL};
    CHECK_EQ_INT(us_test_cli(bad, "o4"), 2);
    CHECK(strstr(us_test_slurp("o4"), "expected lines or json") != NULL);
    const char *nomodel[] = {"extract", store, "--llm", "http://127.0.0.1:9/v1", NULL};
    CHECK_EQ_INT(us_test_cli(nomodel, "o5"), 1);
    const char *missing[] = {"extract", "/no/such.usdb", NULL};
    CHECK_EQ_INT(us_test_cli(missing, "o6"), 1);
    CHECK(strstr(us_test_slurp("o6"), "/no/such.usdb") != NULL);
    const char *help[] = {"extract", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(help, "o7"), 0);
    CHECK(strstr(us_test_slurp("o7"), "--per-review") != NULL);
}

/* ---- the LLM path ---- */

/* The scripted model: answers from the item's title ("Brand Noun XY-123 - First Aspect and
 * Second Aspect"): the first aspect is a pro, the second a con. The item whose title contains
 * `bad_title` first gets prose without the format (then the real answer on the retry); the
 * one containing `fail_title` gets HTTP 400 (not retried by the client). */
typedef struct model_ctx {
    char bad_title[128], fail_title[128];
    int json;
    char buf[2048]; /* the reply (the server copies it when the handler returns) */
} model_ctx;

/* The title in a prompt: after "Title: " (objective) or "The item is \"" (reviews). */
static void title_of(const char *prompt, char *out, size_t cap) {
    out[0] = '\0';
    const char *p = strstr(prompt, "Title: ");
    const char *end = NULL;
    if (p) {
        p += 7;
        end = strchr(p, '\n');
    } else if ((p = strstr(prompt, "The item is \""))) {
        p += 13;
        end = strstr(p, "\" (");
    }
    if (!p || !end) return;
    size_t n = (size_t)(end - p) < cap - 1 ? (size_t)(end - p) : cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void model_handler(void *ctx, const us_chat_request *req, us_chat_reply *reply) {
    model_ctx *m = ctx;
    if (req->n_messages < 2) return;
    const char *prompt = req->contents[1];
    char title[256], a1[128] = "", a2[128] = "";
    title_of(prompt, title, sizeof title);
    const char *dash = strstr(title, " - ");
    if (dash) {
        const char *and = strstr(dash + 3, " and ");
        if (and) {
            snprintf(a1, sizeof a1, "%.*s", (int)(and - dash - 3), dash + 3);
            snprintf(a2, sizeof a2, "%s", and + 5);
        }
    }
    char *out = m->buf;
    int objective = strstr(prompt, "catalogue entry") != NULL;
    if (m->fail_title[0] && strstr(title, m->fail_title)) {
        *reply = (us_chat_reply){.kind = US_CHAT_STATUS, .status = 400};
        return;
    }
    if (m->bad_title[0] && strstr(title, m->bad_title) && req->n_messages == 2) {
        reply->content = "I think this is a nice product overall, hard to say more.";
        return;
    }
    if (m->json)
        snprintf(out, 2048, "```json\n{\"category\": \"%s\", \"pros\": [{\"reason\": \"r\", "
                 "\"evidence\": \"e\", \"keywords\": [\"%s\"]}], \"cons\": [{\"keywords\": "
                 "[\"%s\"]}]}\n```", objective ? "Gadgets" : "", a1, a2);
    else
        snprintf(out, 2048, "%sPros 1: good %s\nEvidence: said so\nKeywords: %s\nCons 1: bad "
                 "%s\nEvidence: said so\nKeywords: %s\n", objective ? "Category: Gadgets\n" : "",
                 a1, a1, a2, a2);
    reply->content = out;
}

TEST(extract_llm_end_to_end_retry_failure_cache) {
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 60, 40, 880, 1) == 0);
    us_chat_server *srv = NULL;
    us_err e;
    REQUIRE(us_chat_server_start(&srv, &e) == US_OK);
    model_ctx m = {0};
    /* Titles of items 3 (malformed first) and 5 (always failing). */
    sqlite3 *db;
    REQUIRE(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *q;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT id, title FROM items WHERE id IN (3, 5) ORDER BY id",
                               -1, &q, NULL) == SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 1);
        /* The part before " - " is unique enough: brand, noun and model number. */
        char *dst = sqlite3_column_int(q, 0) == 3 ? m.bad_title : m.fail_title;
        snprintf(dst, 128, "%.*s", (int)(strstr(t, " - ") - t), t);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    us_chat_server_set_handler(srv, model_handler, &m);

    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    cfg.llm_url = us_chat_server_url(srv);
    cfg.model = "scripted";
    cfg.concurrency = 4;
    cfg.max_retries = 0;
    cfg.min_items = 1;
    us_extract_report rep;
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    /* 40 objective + 40 batch requests, plus one retry per pass for item 3. */
    CHECK_EQ_INT(us_chat_server_requests(srv), 82);
    CHECK_EQ_U64(rep.extracted, 78);
    CHECK_EQ_U64(rep.failed, 2); /* item 5, both passes */
    CHECK(strncmp(rep.source, "scripted@", 9) == 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction WHERE status = 'failed' "
                                        "AND item = 5 AND error LIKE '%400%'"), 2);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction WHERE item = 3 AND "
                                        "status = 'ok' AND attempts = 2"), 2);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT count(*) FROM llm_request WHERE outcome = 'invalid'"), 2);
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT count(*) FROM llm_request WHERE outcome = 'failed'"), 2);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM llm_request WHERE outcome = 'ok' "
                                        "AND prompt_tokens > 0 AND completion_tokens > 0"), 78);
    /* The retry carried the bad answer and the reason. */
    int saw_retry = 0;
    for (int i = 0; i < us_chat_server_requests(srv); i++) {
        us_chat_request rq;
        if (us_chat_server_get(srv, i, &rq) && rq.n_messages == 4) {
            saw_retry++;
            CHECK_STR(rq.roles[2], "assistant");
            CHECK(strstr(rq.contents[3], "could not be read") != NULL);
            CHECK(strstr(rq.contents[3], "Pros 1:") != NULL);
        }
    }
    CHECK_EQ_INT(saw_retry, 2);
    /* Items got their category and keywords; item 5 has none. */
    CHECK_EQ_INT(
        us_test_sql_int(store, "SELECT count(*) FROM item_profile WHERE category = 'Gadgets'"), 39);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile WHERE item = 5"), 0);
    CHECK(us_test_sql_int(store, "SELECT count(*) FROM item_keyword WHERE side = 1") > 0);
    /* Re-run with a healed server: only item 5 is asked again. */
    m.fail_title[0] = '\0';
    us_chat_server_reset_stats(srv);
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_INT(us_chat_server_requests(srv), 2);
    CHECK_EQ_U64(rep.cached, 78);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile"), 40);
    /* A new batch prompt: only the subjective pass runs again. */
    const char *files[] = {"objective.txt", "objective_json.txt", "review.txt",
                           "review_json.txt", "batch.txt", "batch_json.txt"};
    for (int i = 0; i < 6; i++) us_test_write(files[i], kw_prompt_builtin((kw_prompt_id)i), -1);
    char edited[8192];
    snprintf(edited, sizeof edited, "%s\nBe brief.\n", kw_prompt_builtin(KW_PROMPT_BATCH));
    us_test_write("batch.txt", edited, -1);
    cfg.prompts_dir = us_test_tmpdir();
    m.bad_title[0] = '\0';
    us_chat_server_reset_stats(srv);
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_INT(us_chat_server_requests(srv), 40);
    CHECK_EQ_U64(rep.cached, 40);
    /* --report's figures. */
    us_extract_report sum;
    CHECK_OK(us_extract_summary(store, &sum, &e), e);
    CHECK_EQ_INT(sum.n_passes, 2);
    CHECK_STR(sum.passes[0].pass, "objective");
    CHECK_EQ_U64(sum.passes[0].requests, 41 + 1);
    CHECK_EQ_U64(sum.passes[0].invalid, 1);
    CHECK_EQ_U64(sum.passes[1].requests, 41 + 1 + 40);
    /* Other reviews in the prompt (fewer per item, shorter): the subjective pass again. */
    cfg.reviews_per_item = 5;
    us_chat_server_reset_stats(srv);
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_INT(us_chat_server_requests(srv), 40);
    CHECK_EQ_U64(rep.cached, 40);
    cfg.review_chars = 100;
    us_chat_server_reset_stats(srv);
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_INT(us_chat_server_requests(srv), 40);
    us_chat_server_reset_stats(srv);
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e); /* and then it is cached */
    CHECK_EQ_INT(us_chat_server_requests(srv), 0);
    CHECK_EQ_U64(rep.cached, 80);
    us_chat_server_stop(srv);
}

TEST(extract_llm_per_review_json) {
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 45, 30, 660, 1) == 0);
    us_chat_server *srv = NULL;
    us_err e;
    REQUIRE(us_chat_server_start(&srv, &e) == US_OK);
    model_ctx m = {.json = 1};
    us_chat_server_set_handler(srv, model_handler, &m);
    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    cfg.llm_url = us_chat_server_url(srv);
    cfg.model = "scripted-json";
    cfg.format = US_EXTRACT_JSON;
    cfg.batching = US_EXTRACT_PER_REVIEW;
    cfg.reviews_per_item = 3;
    cfg.concurrency = 4;
    cfg.limit = 6;
    cfg.min_items = 1;
    us_extract_report rep;
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    /* 6 objective requests and 3 per item (every synthetic item has >= 5 reviews). */
    CHECK_EQ_INT(us_chat_server_requests(srv), 6 + 18);
    CHECK_EQ_U64(rep.extracted, 12);
    us_chat_request rq;
    REQUIRE(us_chat_server_get(srv, 0, &rq));
    CHECK_STR(rq.response_format, "json_object");
    CHECK_STR(rq.model, "scripted-json");
    /* A review request asks for one side only, by the rating. */
    int per_review = 0;
    for (int i = 0; i < us_chat_server_requests(srv); i++)
        if (us_chat_server_get(srv, i, &rq) && strstr(rq.contents[1], "One reviewer rated it"))
            per_review++;
    CHECK_EQ_INT(per_review, 18);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction WHERE pass = "
                                        "'subjective-review' AND status = 'ok'"), 6);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile"), 6);
    us_chat_server_stop(srv);
}

/* kill -9 from outside while LLM answers arrive, then a re-run: every item-pass done exactly
 * once more, and the tables equal those of an uninterrupted run. */
TEST(extract_llm_kill9_then_rerun_completes) {
    char store[1024], ref[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    snprintf(ref, sizeof ref, "%s", us_test_path("ref.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 60, 40, 880, 1) == 0);
    REQUIRE(copy_file(store, ref) == 0);
    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    cfg.model = "scripted";
    cfg.concurrency = 4;
    cfg.min_items = 1;
    us_err e;
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        /* The child serves its own model (slowly) and extracts until it is killed. */
        us_chat_server *srv = NULL;
        us_err ce;
        if (us_chat_server_start(&srv, &ce) != US_OK) _exit(2);
        static model_ctx cm;
        us_chat_server_set_handler(srv, model_handler, &cm);
        us_chat_server_set_default(srv, &(us_chat_reply){.delay_s = 0.02});
        cfg.llm_url = us_chat_server_url(srv);
        us_extract(store, &cfg, NULL, &ce);
        _exit(3);
    }
    /* Kill it once some results are committed. */
    long long rows = 0;
    for (int k = 0; k < 5000 && rows < 12; k++) {
        usleep(2000);
        rows = us_test_sql_int(store, "SELECT count(*) FROM extraction");
    }
    kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    rows = us_test_sql_int(store, "SELECT count(*) FROM extraction");
    CHECK(rows >= 12 && rows < 80);

    us_chat_server *srv = NULL;
    REQUIRE(us_chat_server_start(&srv, &e) == US_OK);
    model_ctx m = {0};
    us_chat_server_set_handler(srv, model_handler, &m);
    cfg.llm_url = us_chat_server_url(srv);
    CHECK_OK(us_extract(ref, &cfg, NULL, &e), e);
    us_chat_server_reset_stats(srv);
    us_extract_report rep;
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_INT(us_chat_server_requests(srv), 80 - rows);
    CHECK_EQ_U64(rep.cached, (uint64_t)rows);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction WHERE status = 'ok'"), 80);
    char *want = dump(ref), *got = dump(store);
    REQUIRE(want && got);
    CHECK(strcmp(want, got) == 0);
    free(want);
    free(got);
    us_chat_server_stop(srv);
}

/* The LLM settings from a config file, under the environment and the command line. */
TEST(extract_cli_config_file_and_precedence) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 45, 30, 660, 1) == 0);
    us_chat_server *srv;
    us_err e;
    REQUIRE(us_chat_server_start(&srv, &e) == US_OK);
    model_ctx m = {0};
    us_chat_server_set_handler(srv, model_handler, &m);
    char conf[4096];
    snprintf(conf, sizeof conf,
             "# usersim settings\n"
             "limit = 2\n"
             "[train]\n"
             "llm = http://127.0.0.1:1/v1   # another command's section: ignored\n"
             "[extract]\n"
             "llm = %s\n"
             "model = from-file\n"
             "api-key = k-file\n"
             "  temperature = 0.7\n"
             "max-tokens=77\n"
             "quiet = true\n",
             us_chat_server_url(srv));
    us_test_write("usersim.conf", conf, -1);
    char conf_path[1024];
    snprintf(conf_path, sizeof conf_path, "%s", us_test_path("usersim.conf"));
    unsetenv("USERSIM_LLM_URL");
    unsetenv("OPENAI_API_KEY");
    setenv("USERSIM_LLM_MODEL", "from-env", 1);
    const char *run[] = {"extract", store, "--config", conf_path, "--max-tokens", "55", NULL};
    CHECK_EQ_INT(us_test_cli(run, "o1"), 0);
    unsetenv("USERSIM_LLM_MODEL");
    CHECK_EQ_INT(us_chat_server_requests(srv), 4); /* 2 items, 2 passes */
    for (int i = 0; i < us_chat_server_requests(srv); i++) {
        us_chat_request rq;
        REQUIRE(us_chat_server_get(srv, i, &rq));
        CHECK_STR(rq.model, "from-env");                 /* environment over file */
        CHECK_EQ_INT(rq.max_tokens, 55);                 /* command line over file */
        CHECK(fabs(rq.temperature - 0.7) < 1e-9);        /* the file */
        CHECK_STR(rq.authorization, "Bearer k-file");
    }
    /* USERSIM_CONFIG names the file when --config does not; --builtin overrides its LLM. */
    setenv("USERSIM_CONFIG", conf_path, 1);
    us_chat_server_reset_stats(srv);
    const char *builtin[] = {"extract", store, "--builtin", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(builtin, "o2"), 0);
    CHECK_EQ_INT(us_chat_server_requests(srv), 0);
    CHECK(strstr(us_test_slurp("o2"), "\"profiles\":\t2") != NULL);
    unsetenv("USERSIM_CONFIG");
    /* Bad files: the file, line and key, and nothing done. */
    us_test_write("bad.conf", "model = m\n\ntemperature = hot\n", -1);
    char bad_path[1024];
    snprintf(bad_path, sizeof bad_path, "%s", us_test_path("bad.conf"));
    const char *bad[] = {"extract", store, "--config", bad_path, NULL};
    CHECK_EQ_INT(us_test_cli(bad, "o3"), 1);
    CHECK(strstr(us_test_slurp("o3"), "bad.conf:3") != NULL);
    CHECK(strstr(us_test_slurp("o3"), "temperature") != NULL);
    CHECK(strstr(us_test_slurp("o3"), "'hot'") != NULL);
    us_test_write("bad.conf", "colour = red\n", -1);
    CHECK_EQ_INT(us_test_cli(bad, "o4"), 1);
    CHECK(strstr(us_test_slurp("o4"), "not a setting of usersim extract") != NULL);
    us_test_write("bad.conf", "json = true\n", -1);
    CHECK_EQ_INT(us_test_cli(bad, "o5"), 1);
    const char *none[] = {"extract", store, "--config", us_test_path("none.conf"), NULL};
    CHECK_EQ_INT(us_test_cli(none, "o6"), 1);
    CHECK(strstr(us_test_slurp("o6"), "none.conf") != NULL);
    const char *hot[] = {"extract", store, "--temperature", "3", NULL};
    CHECK_EQ_INT(us_test_cli(hot, "o7"), 2);
    us_chat_server_stop(srv);
}

/* The scripted model's answers sent as raw completions whose finish_reason is `finish`
 * ("length": the server stopped at max_tokens, so the answer may be cut short). */
typedef struct finish_ctx {
    model_ctx m;
    const char *finish;
    char body[4096];
} finish_ctx;

static void finish_handler(void *ctx, const us_chat_request *req, us_chat_reply *reply) {
    finish_ctx *f = ctx;
    model_handler(&f->m, req, reply);
    if (reply->kind != US_CHAT_ANSWER || !reply->content) return;
    char esc[3000];
    size_t k = 0;
    for (const char *p = reply->content; *p && k + 3 < sizeof esc; p++) {
        if (*p == '\n') esc[k++] = '\\', esc[k++] = 'n';
        else if (*p == '"' || *p == '\\') esc[k++] = '\\', esc[k++] = *p;
        else esc[k++] = *p;
    }
    esc[k] = '\0';
    snprintf(f->body, sizeof f->body, "{\"choices\":[{\"index\":0,\"message\":{\"role\":"
             "\"assistant\",\"content\":\"%s\"},\"finish_reason\":\"%s\"}],\"usage\":{"
             "\"prompt_tokens\":10,\"completion_tokens\":512}}", esc, f->finish);
    *reply = (us_chat_reply){.kind = US_CHAT_RAW, .body = f->body};
}

/* An answer cut off at max_tokens (finish_reason "length") is not a result, even when what
 * arrived parses: it is recorded as failed, saying why, and the next run asks again. */
TEST(extract_llm_truncated_answer_is_a_failure_retried_next_run) {
    char store[1024];
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("data"), store, 30, 10, 200, 1) == 0);
    us_chat_server *srv = NULL;
    us_err e;
    REQUIRE(us_chat_server_start(&srv, &e) == US_OK);
    finish_ctx f = {.finish = "length"};
    us_chat_server_set_handler(srv, finish_handler, &f);
    us_extract_config cfg = us_extract_config_default();
    cfg.quiet = 1;
    cfg.llm_url = us_chat_server_url(srv);
    cfg.model = "scripted";
    cfg.max_retries = 0;
    cfg.min_items = 1;
    us_extract_report rep;
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_U64(rep.extracted, 0);
    CHECK_EQ_U64(rep.failed, 20);
    CHECK(strstr(rep.first_error, "max_tokens") != NULL);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM extraction WHERE status = 'failed' "
                                        "AND error LIKE '%finish_reason%length%'"), 20);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile"), 0);
    /* Answers that end normally: every item-pass is asked again and kept. */
    f.finish = "stop";
    us_chat_server_reset_stats(srv);
    CHECK_OK(us_extract(store, &cfg, &rep, &e), e);
    CHECK_EQ_INT(us_chat_server_requests(srv), 20);
    CHECK_EQ_U64(rep.extracted, 20);
    CHECK_EQ_U64(rep.failed, 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile"), 10);
    us_chat_server_stop(srv);
}
