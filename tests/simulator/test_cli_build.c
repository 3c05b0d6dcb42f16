/* `usersim build` as a user runs it: on a fresh store every stage runs (extract, embed with the
 * hashed embedder, train-sasrec for the rating and the next-item heads), after which the
 * default reaction opens; a second build changes nothing (extract from its cache, embed writes
 * no vector, both checkpoints are kept); a store that already has a rating head keeps it; bad
 * arguments are refused. */
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "simulator/simulator.h"
#include "tests/cli.h"
#include "tests/store.h"
#include "tests/test.h"

TEST(cli_build_runs_missing_stages_then_nothing) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("b.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 90, 60, 1400, 1) == 0);
    us_err e;
    /* no head yet: what build asks before it trains one */
    CHECK(us_sim_head_check(store, 0, &e) == US_ENOTFOUND);
    CHECK(us_sim_head_check(store, 1, &e) == US_ENOTFOUND);
    const char *build[] = {"build", store, "--hashed", "--epochs", "2", NULL};
    CHECK_EQ_INT(us_test_cli(build, "o1"), 0);
    const char *out = us_test_slurp("o1");
    CHECK(strstr(out, "build: extract") && strstr(out, "build: embed") &&
          strstr(out, "build: train-sasrec") && strstr(out, "is complete"));
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_profile"), 60);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM item_vec"), 120);
    CHECK(us_test_sql_int(store, "SELECT count(*) FROM keyword_vec") > 5);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM sasrec_checkpoint"), 2);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM sasrec_checkpoint WHERE head = 'next'"),
                 1);
    /* every stage is there: the default reaction (choose, fitted judge, every part) opens */
    us_sim *sim = NULL;
    CHECK_OK(us_sim_open(&sim, store, NULL, &e), e);
    us_sim_close(sim);
    CHECK_OK(us_sim_head_check(store, 0, &e), e);
    CHECK_OK(us_sim_head_check(store, 1, &e), e);

    /* again: nothing new is computed or written */
    CHECK_EQ_INT(us_test_sql_exec(store,
                                  "CREATE TABLE writes(n INTEGER); INSERT INTO writes VALUES(0);"
                                  "CREATE TRIGGER kv AFTER INSERT ON keyword_vec BEGIN"
                                  " UPDATE writes SET n = n + 1; END;"
                                  "CREATE TRIGGER iv AFTER INSERT ON item_vec BEGIN"
                                  " UPDATE writes SET n = n + 1; END;"
                                  "CREATE TRIGGER ck AFTER INSERT ON sasrec_checkpoint BEGIN"
                                  " UPDATE writes SET n = n + 1; END;"),
                 0);
    CHECK_EQ_INT(us_test_cli(build, "o2"), 0);
    out = us_test_slurp("o2");
    CHECK(strstr(out, "60 items, 0 item-passes done now, 120 from the cache") != NULL);
    CHECK(strstr(out, "has a rating head already (kept)") != NULL);
    CHECK(strstr(out, "has a next head already (kept)") != NULL);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT n FROM writes"), 0);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM sasrec_checkpoint"), 2);

    const char *two[] = {"build", store, store, NULL};
    CHECK_EQ_INT(us_test_cli(two, "o3"), 2);
    const char *llm[] = {"build", store, "--llm", "http://127.0.0.1:9/v1", NULL};
    CHECK_EQ_INT(us_test_cli(llm, "o4"), 2);
    CHECK(strstr(us_test_slurp("o4"), "--llm-model") != NULL);
    const char *both[] = {"build", store, "--hashed", "--model", dir, NULL};
    CHECK_EQ_INT(us_test_cli(both, "o5"), 2);
    const char *none[] = {"build", us_test_path("none.usdb"), "--hashed", NULL};
    CHECK(us_test_cli(none, "o6") != 0);
    /* a head trained for other users than the store now has is not a head build can keep */
    CHECK_EQ_INT(us_test_sql_exec(store, "DELETE FROM users WHERE rowid = "
                                         "(SELECT MAX(rowid) FROM users);"),
                 0);
    CHECK(us_sim_head_check(store, 0, &e) == US_EFORMAT);
    CHECK(strstr(e.msg, "users") != NULL);
}

/* An extract whose requests all fail (nothing listens on the discard port) is a failed stage:
 * it exits 1 with how many failed, why and how to resume, and build stops there instead of
 * calling a store with no keywords complete. */
TEST(cli_extract_with_failed_items_fails_and_build_stops) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024], conf[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("f.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 30, 12, 200, 1) == 0);
    snprintf(conf, sizeof conf, "%s", us_test_write("x.conf", "retries = 0\ntimeout = 5\n", -1));
    const char *ex[] = {"extract", store, "--llm", "http://127.0.0.1:9/v1", "--model", "x",
                        "--config", conf, "--quiet", NULL};
    CHECK_EQ_INT(us_test_cli(ex, "o1"), 1);
    const char *out = us_test_slurp("o1");
    CHECK(strstr(out, "24 failed") != NULL);
    CHECK(strstr(out, "24 item-passes failed") != NULL);
    CHECK(strstr(out, "again") != NULL); /* how to resume */
    const char *build[] = {"build", store, "--llm", "http://127.0.0.1:9/v1", "--llm-model", "x",
                           "--config", conf, "--hashed", NULL};
    CHECK(us_test_cli(build, "o2") != 0);
    out = us_test_slurp("o2");
    CHECK(strstr(out, "is complete") == NULL);
    CHECK(strstr(out, "build: embed") == NULL);
    CHECK(strstr(out, "stage extract failed") != NULL);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM sasrec_checkpoint"), -1);
}

/* An LLM URL that is not http or https is refused before any item is asked: no local file
 * read into the store, no request logged, exit 1 naming the scheme. */
TEST(cli_extract_refuses_a_file_url) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024], secret[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("u.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 30, 12, 200, 1) == 0);
    snprintf(secret, sizeof secret, "file://%s?", us_test_write("secret.txt", "s3cr3t-line", -1));
    const char *ex[] = {"extract", store, "--llm", secret, "--model", "x", "--retries", "0",
                        "--quiet", NULL};
    CHECK(us_test_cli(ex, "o1") != 0);
    const char *out = us_test_slurp("o1");
    CHECK(strstr(out, "http") != NULL && strstr(out, "file") != NULL);
    CHECK(us_test_sql_int(store, "SELECT count(*) FROM extraction WHERE raw LIKE '%s3cr3t%' OR "
                                 "error LIKE '%s3cr3t%'") <= 0);
    CHECK(us_test_sql_int(store, "SELECT count(*) FROM llm_request") <= 0);
}

/* The store is named for what is wrong with it, by every command that reads it: held by a
 * writer (wait or retry), cut short (rebuild), or written by a newer usersim (upgrade), never
 * "not a usersim store" or "no keywords yet". */
static void check_says(us_test_ctx *t_, const char *store, const char *a, const char *b) {
    const char *stats[] = {"stats", store, NULL};
    CHECK_EQ_INT(us_test_cli(stats, "s"), 1);
    const char *out = us_test_slurp("s");
    if (!strstr(out, a) || !strstr(out, b)) us_test_fail(t_, __FILE__, __LINE__, "stats: %s", out);
    const char *rep[] = {"extract", store, "--report", NULL};
    CHECK_EQ_INT(us_test_cli(rep, "r"), 1);
    out = us_test_slurp("r");
    if (!strstr(out, a) || !strstr(out, b))
        us_test_fail(t_, __FILE__, __LINE__, "extract --report: %s", out);
    us_sim *sim = NULL;
    us_err e;
    char buf[1200];
    CHECK(us_sim_open(&sim, store, NULL, &e) != US_OK);
    us_err_str(&e, buf, sizeof buf);
    if (!strstr(buf, a) || !strstr(buf, b)) us_test_fail(t_, __FILE__, __LINE__, "sim: %s", buf);
    CHECK(sim == NULL);
}

TEST(cli_store_locked_truncated_or_newer_says_so) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("l.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 30, 12, 200, 1) == 0);
    const char *x[] = {"extract", store, "--quiet", NULL};
    REQUIRE(us_test_cli(x, "x") == 0);
    /* a writer holds it */
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(store, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "BEGIN EXCLUSIVE; UPDATE meta SET value = value WHERE key = "
                             "'schema'", NULL, NULL, NULL) == SQLITE_OK);
    check_says(t_, store, "locked by a writer", "wait or retry");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    /* a newer usersim wrote it */
    REQUIRE(us_test_sql_exec(store, "UPDATE meta SET value = '99' WHERE key = 'schema'") == 0);
    check_says(t_, store, "schema 99", "upgrade usersim");
    REQUIRE(us_test_sql_exec(store, "UPDATE meta SET value = '1' WHERE key = 'schema'") == 0);
    /* cut short (a copy that stopped half way) */
    struct stat sb;
    REQUIRE(stat(store, &sb) == 0);
    REQUIRE(truncate(store, sb.st_size / 2) == 0);
    check_says(t_, store, "truncated", "rebuild");
}

/* SQLite's file change counter (bytes 24..27 of the header): it moves with every transaction
 * that writes, even one that writes back what was there. -1 when unreadable. */
static long long change_counter(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char h[28];
    long long v = -1;
    if (f && fread(h, 1, sizeof h, f) == sizeof h)
        v = (long long)h[24] << 24 | h[25] << 16 | h[26] << 8 | h[27];
    if (f) fclose(f);
    return v;
}

/* The whole file, malloc'd, its size in *n; NULL when unreadable. */
static unsigned char *file_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = NULL;
    size_t cap = 0, len = 0, got;
    do {
        if (len == cap) {
            unsigned char *nb = realloc(b, cap ? 2 * cap : 65536);
            if (!nb) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = nb;
            cap = cap ? 2 * cap : 65536;
        }
        got = fread(b + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    *n = len;
    return b;
}

/* A stage with nothing to do writes nothing: extract from a full cache does not rewrite its
 * tables, so build on a complete store leaves the file as it was, byte for byte, trains no
 * SASRec epoch and leaves no journal beside it (and works where the store cannot be
 * written). */
TEST(cli_build_on_a_complete_store_writes_nothing) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("c.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 40, 20, 400, 1) == 0);
    const char *build[] = {"build", store, "--hashed", "--epochs", "1", NULL};
    REQUIRE(us_test_cli(build, "o1") == 0);
    CHECK(strstr(us_test_slurp("o1"), "epoch") != NULL); /* training says so */
    long long before = change_counter(store);
    REQUIRE(before >= 0);
    const char *x[] = {"extract", store, "--quiet", NULL};
    CHECK_EQ_INT(us_test_cli(x, "o2"), 0);
    CHECK(strstr(us_test_slurp("o2"), "20 item profiles") != NULL);
    CHECK_EQ_INT(change_counter(store), before);
    size_t n_before = 0, n_after = 0;
    unsigned char *bytes_before = file_bytes(store, &n_before);
    REQUIRE(bytes_before && n_before > 0);
    CHECK_EQ_INT(us_test_cli(build, "o3"), 0);
    const char *o3 = us_test_slurp("o3");
    CHECK(strstr(o3, "is complete") != NULL);
    CHECK(strstr(o3, "has a rating head already (kept)") != NULL);
    CHECK(strstr(o3, "has a next head already (kept)") != NULL);
    CHECK(strstr(o3, "epoch") == NULL);
    CHECK_EQ_INT(change_counter(store), before);
    unsigned char *bytes_after = file_bytes(store, &n_after);
    REQUIRE(bytes_after);
    CHECK(n_after == n_before && memcmp(bytes_before, bytes_after, n_before) == 0);
    free(bytes_before);
    free(bytes_after);
    char side[1100];
    snprintf(side, sizeof side, "%s-journal", store);
    CHECK(access(side, F_OK) != 0);
    snprintf(side, sizeof side, "%s-wal", store);
    CHECK(access(side, F_OK) != 0);
    /* a different merge setting is real work: the tables are rebuilt */
    const char *x2[] = {"extract", store, "--quiet", "--max-per-side", "3", NULL};
    CHECK_EQ_INT(us_test_cli(x2, "o4"), 0);
    CHECK(change_counter(store) != before);
}

/* The sentence model is found the same way from any folder: --embed-model, USERSIM_MODELS, the
 * install prefix's share folder, ./models. Run from a folder without models/ and with
 * USERSIM_MODELS naming an empty folder, build fails at the embed stage naming every place it
 * looked, instead of embedding with the hashed embedder and calling the store complete; with
 * USERSIM_MODELS naming the repository's models/ it embeds with the model. */
TEST(cli_build_from_another_folder_finds_the_model_or_names_where_it_looked) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024], empty[1024], cwd[1024], env_models[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("m.usdb"));
    snprintf(empty, sizeof empty, "%s", us_test_path("no-models"));
    snprintf(cwd, sizeof cwd, "%s", us_test_path("elsewhere"));
    REQUIRE(mkdir(empty, 0700) == 0 && mkdir(cwd, 0700) == 0);
    REQUIRE(us_test_synth_store(dir, store, 30, 12, 200, 1) == 0);
    snprintf(env_models, sizeof env_models, "USERSIM_MODELS=%s", empty);
    const char *env[] = {env_models, "USERSIM_MODEL_DIR=", NULL};
    const char *build[] = {"build", store, "--epochs", "1", NULL};
    CHECK_EQ_INT(us_test_cli_at(build, cwd, env, "o1"), 1);
    const char *out = us_test_slurp("o1");
    CHECK(strstr(out, "is complete") == NULL);
    CHECK(strstr(out, "no-models/all-MiniLM-L6-v2") != NULL);
    CHECK(strstr(out, "share/usersim/models/all-MiniLM-L6-v2") != NULL);
    CHECK(strstr(out, "./models/all-MiniLM-L6-v2") != NULL);
    CHECK(strstr(out, "--hashed") != NULL);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM sqlite_master"
                                        " WHERE name = 'keyword_vec'"),
                 0);

    char models[PATH_MAX];
    if (!realpath("models", models) || access("models/all-MiniLM-L6-v2/model.safetensors", R_OK))
        SKIP("models/all-MiniLM-L6-v2 is not installed (make models); the search that finds "
             "it is not run");
    snprintf(env_models, sizeof env_models, "USERSIM_MODELS=%s", models);
    CHECK_EQ_INT(us_test_cli_at(build, cwd, env, "o2"), 0);
    CHECK(strstr(us_test_slurp("o2"), "is complete") != NULL);
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM embedder"
                                        " WHERE name LIKE 'all-MiniLM-L6-v2@%'"),
                 1);
}

/* The option names say which model they mean: --llm-model (extract, build) and --embed-model
 * (embed, build). The old spellings (--model) still work, each with a one-line warning that
 * names the new option; the new ones print no warning; --help shows the new names. */
TEST(cli_model_options_new_names_and_old_spellings) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("n.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 30, 12, 200, 1) == 0);

    const char *x_new[] = {"extract", store, "--builtin", "--quiet", "--llm-model", "m", NULL};
    CHECK_EQ_INT(us_test_cli(x_new, "x1"), 0);
    CHECK(strstr(us_test_slurp("x1"), "deprecated") == NULL);
    const char *x_old[] = {"extract", store, "--builtin", "--quiet", "--model", "m", NULL};
    CHECK_EQ_INT(us_test_cli(x_old, "x2"), 0);
    CHECK(strstr(us_test_slurp("x2"),
                 "usersim extract: warning: --model is deprecated and goes in the next "
                 "release; use --llm-model\n") != NULL);

    /* embed and build: both spellings reach the same model folder (missing here) */
    const char *e_new[] = {"embed", store, "--embed-model", "no-such-model", NULL};
    CHECK_EQ_INT(us_test_cli(e_new, "e1"), 1);
    CHECK(strstr(us_test_slurp("e1"), "no-such-model") != NULL);
    CHECK(strstr(us_test_slurp("e1"), "deprecated") == NULL);
    const char *e_old[] = {"embed", store, "--model", "no-such-model", NULL};
    CHECK_EQ_INT(us_test_cli(e_old, "e2"), 1);
    CHECK(strstr(us_test_slurp("e2"), "no-such-model") != NULL);
    CHECK(strstr(us_test_slurp("e2"), "usersim embed: warning: --model is deprecated and goes in "
                                      "the next release; use --embed-model\n") != NULL);
    const char *b_new[] = {"build", store, "--embed-model", "no-such-model", NULL};
    CHECK_EQ_INT(us_test_cli(b_new, "b1"), 1);
    CHECK(strstr(us_test_slurp("b1"), "no-such-model") != NULL);
    CHECK(strstr(us_test_slurp("b1"), "deprecated") == NULL);
    const char *b_old[] = {"build", store, "--model", "no-such-model", NULL};
    CHECK_EQ_INT(us_test_cli(b_old, "b2"), 1);
    CHECK(strstr(us_test_slurp("b2"), "no-such-model") != NULL);
    CHECK(strstr(us_test_slurp("b2"), "usersim build: warning: --model is deprecated and goes in "
                                      "the next release; use --embed-model\n") != NULL);

    const char *help_x[] = {"extract", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(help_x, "h1"), 0);
    CHECK(strstr(us_test_slurp("h1"), "--llm URL --llm-model M") != NULL);
    const char *help_e[] = {"embed", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(help_e, "h2"), 0);
    CHECK(strstr(us_test_slurp("h2"), "--embed-model DIR") != NULL);
    const char *help_b[] = {"build", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(help_b, "h3"), 0);
    CHECK(strstr(us_test_slurp("h3"), "--embed-model DIR") != NULL &&
          strstr(us_test_slurp("h3"), "--llm-model M") != NULL);
}

/* Every message about a stage the store lacks points at usersim build, the one command that
 * runs whichever stages are missing, never at the stage's own command. */
TEST(cli_missing_stage_messages_name_usersim_build) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("bare.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 30, 12, 200, 1) == 0);
    static const char *const others[] = {"usersim extract", "usersim embed",
                                         "usersim train-sasrec"};
    const char *runs[][6] = {
        {"eval-sim", store, NULL},
        {"play", store, "--user", "1", NULL},
        {"embed", store, "--hashed", NULL},
        {"extract", store, "--report", NULL},
        {"eval-sim", store, "--no-keyword", "--no-embed", NULL},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        CHECK(us_test_cli(runs[i], "o") != 0);
        const char *out = us_test_slurp("o");
        if (!strstr(out, "usersim build"))
            us_test_fail(t_, __FILE__, __LINE__, "%s says no usersim build: %s", runs[i][0], out);
        for (size_t k = 0; k < 3; k++)
            if (strstr(out, others[k]))
                us_test_fail(t_, __FILE__, __LINE__, "%s names %s: %s", runs[i][0], others[k],
                             out);
    }
}
