/* sim_fixture.h — a real store for the tests of the simulated user and the environment:
 * synthetic data (60 users, 40 items) ingested, an untrained SASRec rating head (outputs
 * spread around 1/2) and an untrained next-item head checkpointed into it, and a us_sim that
 * judges with SASRec alone (no keywords, no embeddings): the default reaction (choose, then a
 * fitted judge over SASRec and the collaborative parts) unless cfg says otherwise. */
#ifndef USERSIM_TESTS_SIM_FIXTURE_H
#define USERSIM_TESTS_SIM_FIXTURE_H

#include "simulator/simulator.h"

#define US_TEST_SIM_USERS 60
#define US_TEST_SIM_ITEMS 40

/* Builds the store `name` in the test's folder (its path into store, 1024 bytes, when not
 * NULL; the synthetic files, truth.csv included, in the folder "data") and opens it with the
 * default config less the keyword and embedding votes. NULL on failure (printed). Caller owns
 * the result; release with us_sim_close(). */
us_sim *us_test_sasrec_sim(const char *name, char *store);

/* The same store with the keyword and embedding stages added (built-in extractor, hashed
 * embedder), as `usersim build --hashed` makes them, so every vote has scores; not opened.
 * Its path into store (1024 bytes). 0 on success, -1 on failure. */
int us_test_full_store(const char *name, char *store);

/* The same store opened with cfg (its keyword and embedding votes are turned off here). */
us_sim *us_test_sasrec_sim_cfg(const char *name, char *store, us_sim_config cfg);

#endif
