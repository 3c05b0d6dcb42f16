/* agents_fixture.h — the small synthetic store every agents test meets: 500 users, 150 items,
 * 10,000 reviews over 6 categories with a strong category taste (--choice-taste 6), built with
 * the built-in extractor and the hashed embedder and both SASRec heads (`usersim build
 * --hashed`). On it the baselines spread widely (measured with `usersim eval-sim`: returns of
 * random 4.3, popular 7.3, SASRec-greedy 19.2 over 500 episodes), so a learner's progress
 * shows. */
#ifndef USERSIM_TESTS_AGENTS_FIXTURE_H
#define USERSIM_TESTS_AGENTS_FIXTURE_H

#include "simulator/simulator.h"

/* The store's path, built on the first call of the test process (about 15 s) into a folder that
 * outlives the test cases and is removed when the process exits; NULL (with the reason on
 * stderr) when it could not be built or the CLI is not available. */
const char *us_test_agents_store(void);

/* The store opened with the default simulator config; NULL on failure. Caller closes it. */
us_sim *us_test_agents_sim(void);

#endif
