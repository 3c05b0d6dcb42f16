/* `usersim train-sasrec` as a user runs it: a store from synthetic data, training with --json,
 * checkpoints appended to the store, and bad arguments refused with the right exit code. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "tests/cli.h"
#include "tests/store.h"
#include "tests/test.h"

TEST(cli_train_sasrec_saves_checkpoints) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 120, 80, 1800, 0) == 0);
    const char *both[] = {"train-sasrec", store, "--head", "both", "--epochs", "2",
                          "--max-len", "8", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(both, "o1"), 0);
    cJSON *j = cJSON_Parse(us_test_slurp("o1"));
    REQUIRE(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
    cJSON *rating = cJSON_GetArrayItem(j, 0), *next = cJSON_GetArrayItem(j, 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(rating, "head")), "rating");
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(rating, "checkpoint")), 1);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(next, "checkpoint")), 2);
    double auc = cJSON_GetNumberValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rating, "test"), "auc"));
    CHECK(auc > 0 && auc < 1);
    double hr = cJSON_GetNumberValue(
        cJSON_GetObjectItem(cJSON_GetObjectItem(next, "test"), "hr10"));
    CHECK(hr >= 0 && hr <= 1);
    cJSON_Delete(j);
    /* The store holds both checkpoints, each with its config hash and metrics. */
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *s;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT version, head, length(config_hash) FROM "
                                   "sasrec_checkpoint ORDER BY version", -1, &s, NULL) ==
            SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        rows++;
        CHECK_EQ_INT(sqlite3_column_int(s, 0), rows);
        CHECK_EQ_INT(sqlite3_column_int(s, 2), 64);
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    CHECK_EQ_INT(rows, 2);
    /* People's mistakes: exit 2 for usage, 1 for a store that is not there. */
    const char *bad_head[] = {"train-sasrec", store, "--head", "sideways", NULL};
    CHECK_EQ_INT(us_test_cli(bad_head, "o2"), 2);
    CHECK(strstr(us_test_slurp("o2"), "--head: expected rating, next or both") != NULL);
    const char *missing[] = {"train-sasrec", "/no/such.usdb", NULL};
    CHECK_EQ_INT(us_test_cli(missing, "o3"), 1);
    CHECK(strstr(us_test_slurp("o3"), "/no/such.usdb") != NULL);
    const char *help[] = {"train-sasrec", "--help", NULL};
    CHECK_EQ_INT(us_test_cli(help, "o4"), 0);
    CHECK(strstr(us_test_slurp("o4"), "--preset") != NULL);
}

TEST(cli_train_sasrec_refuses_unknown_dataset) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    /* Refused while reading the options, before the store is opened. */
    const char *bogus[] = {"train-sasrec", us_test_path("none.usdb"), "--head", "next",
                           "--dataset", "bogus", NULL};
    CHECK_EQ_INT(us_test_cli(bogus, "o1"), 2);
    const char *o = us_test_slurp("o1");
    CHECK(strstr(o, "--dataset") != NULL && strstr(o, "\"bogus\"") != NULL);
    CHECK(strstr(o, "ml-1m") != NULL);
}

/* A learning rate that blows the loss up stops training with an error, and nothing is saved:
 * a NaN model never becomes the newest checkpoint. */
TEST(cli_train_sasrec_diverging_loss_fails_and_saves_nothing) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("s.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 60, 40, 900, 0) == 0);
    const char *huge[] = {"train-sasrec", store, "--lr", "1e30", "--epochs", "3", NULL};
    CHECK_EQ_INT(us_test_cli(huge, "o1"), 1);
    const char *out = us_test_slurp("o1");
    CHECK(strstr(out, "not finite") != NULL);
    CHECK(strstr(out, "lr") != NULL);
    CHECK(us_test_sql_int(store, "SELECT count(*) FROM sasrec_checkpoint") <= 0);
}

/* The checkpoint a run saves depends on the seed and the thread count only: train-sasrec run
 * twice on 1 thread and twice on 2 (both heads, so the optimizer step and the evaluation run on
 * the thread pool for both) saves the same parameter bits and the same metrics each time, and
 * 2 threads differ from 1 (the shards' sums round differently) where two are available. */
TEST(cli_train_sasrec_same_checkpoint_bits_per_thread_count) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], store[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(store, sizeof store, "%s", us_test_path("t.usdb"));
    REQUIRE(us_test_synth_store(dir, store, 150, 90, 2400, 0) == 0);
    const char *threads[] = {"1", "1", "2", "2"};
    for (int r = 0; r < 4; r++) {
        const char *run[] = {"train-sasrec", store,    "--head",    "both", "--epochs",
                             "2",           "--max-len", "8", "--threads", threads[r], NULL};
        CHECK_EQ_INT(us_test_cli(run, "o1"), 0);
    }
    /* versions: run r saved 2r+1 (rating) and 2r+2 (next) */
    CHECK_EQ_INT(us_test_sql_int(store, "SELECT count(*) FROM sasrec_checkpoint"), 8);
    char sql[512];
    for (int v = 1; v <= 6; v++) {
        if (v == 3 || v == 4) continue;
        /* v and v + 2: the same thread count */
        snprintf(sql, sizeof sql,
                 "SELECT a.params = b.params AND a.metrics = b.metrics AND length(a.params) > 0 "
                 "FROM sasrec_checkpoint a, sasrec_checkpoint b "
                 "WHERE a.version = %d AND b.version = %d", v, v + 2);
        CHECK_EQ_INT(us_test_sql_int(store, sql), 1);
    }
    if (sysconf(_SC_NPROCESSORS_ONLN) >= 2)
        for (int v = 1; v <= 2; v++) {
            snprintf(sql, sizeof sql,
                     "SELECT a.params = b.params FROM sasrec_checkpoint a, sasrec_checkpoint b "
                     "WHERE a.version = %d AND b.version = %d", v, v + 4);
            CHECK_EQ_INT(us_test_sql_int(store, sql), 0);
        }
}
