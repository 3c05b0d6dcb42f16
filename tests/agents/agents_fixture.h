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

/* What a learner reached: its greedy policy's return on the held-out users next to the
 * baselines', all from us_eval with the same users, seed and env (common random numbers). */
typedef struct us_test_learned {
    double agent, random, popular, oracle; /* mean return (likes per session) */
    double agent_ci;
    double steps_per_s;
} us_test_learned;

/* Trains agent on the fixture store into the test's folder `run` for steps env steps with seed
 * 1 and the hyperparameters hp ("name", "value", ..., NULL; may be NULL), then evaluates as
 * above over eval_episodes held-out users. Prints one line with the figures. 0, or -1 with
 * the error printed. */
int us_test_agent_learns(us_sim *sim, const char *agent, const char *const *hp, uint64_t steps,
                         int eval_episodes, const char *run, us_test_learned *out);

/* The whole of the file at path into *buf (caller frees; NULL when unread); its length, or -1. */
long us_test_read_all(const char *path, char **buf);
/* 1 when run directories a and b hold byte-identical, non-empty files called name. */
int us_test_same_run_file(const char *a, const char *b, const char *name);

/* 1 in a build with AddressSanitizer (make san). The learning tests skip there: a run of 10^5
 * steps takes minutes under the sanitizers, and the same code runs sanitized in the shorter
 * determinism and resume tests. */
#if defined(__SANITIZE_ADDRESS__)
#define US_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define US_TEST_SANITIZED 1
#endif
#endif
#ifndef US_TEST_SANITIZED
#define US_TEST_SANITIZED 0
#endif
#define US_TEST_SKIP_LEARNING_UNDER_SANITIZERS()                                             \
    do {                                                                                   \
        if (US_TEST_SANITIZED)                                                             \
            SKIP("a learning run: make test runs it; under the sanitizers the same code runs " \
                 "in the determinism and resume tests");                                   \
    } while (0)

#endif
