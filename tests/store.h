/* store.h — real SQLite stores for tests: one made from synthetic data, and one-line queries and
 * statements on a store by path. */
#ifndef USERSIM_TESTS_STORE_H
#define USERSIM_TESTS_STORE_H

#include <stdint.h>

/* A store from synthetic data: us_synth with users, items, reviews (quiet, otherwise the
 * defaults) into the folder dir, then us_ingest of its reviews (and its metadata when with_meta)
 * into store. 0, or -1 with the error printed. */
int us_test_synth_store(const char *dir, const char *store, uint32_t users, uint32_t items,
                        uint64_t reviews, int with_meta);
/* The first column of the first row of sql on the store (opened read-only), or -1. */
long long us_test_sql_int(const char *store, const char *sql);
/* Runs sql on the store (opened read-write, created when missing). 0 or -1. */
int us_test_sql_exec(const char *store, const char *sql);

#endif
