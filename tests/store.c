/* store.c — the store helpers of tests/store.h. */
#include <sqlite3.h>
#include <stdio.h>

#include "datasets/datasets.h"
#include "tests/store.h"

int us_test_synth_store(const char *dir, const char *store, uint32_t users, uint32_t items,
                        uint64_t reviews, int with_meta) {
    us_synth_config sc = us_synth_config_default();
    sc.out_dir = dir;
    sc.users = users;
    sc.items = items;
    sc.reviews = reviews;
    /* The earlier choice model (category affinity once, not thrice): the small stores of the
     * tests that train SASRec were sized on it, and those tests are about training, not about
     * who picks what; the choice tests build their stores with the default. */
    sc.choice_taste = 1.0;
    sc.quiet = 1;
    us_synth_report sr;
    us_err e;
    us_status st = us_synth(&sc, &sr, &e);
    if (st == US_OK) {
        us_ingest_config ic = us_ingest_config_default();
        ic.reviews_path = sr.reviews_path;
        if (with_meta) ic.meta_path = sr.meta_path;
        ic.out_path = store;
        ic.quiet = 1;
        st = us_ingest(&ic, NULL, &e);
    }
    if (st == US_OK) return 0;
    char buf[1200];
    fprintf(stderr, "synthetic store %s: %s\n", store, us_err_str(&e, buf, sizeof buf));
    return -1;
}

long long us_test_sql_int(const char *store, const char *sql) {
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

int us_test_sql_exec(const char *store, const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open(store, &db) == SQLITE_OK &&
                     sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    sqlite3_close(db);
    return rc;
}
