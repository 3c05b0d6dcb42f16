/* agents_fixture.c — see agents_fixture.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents/agents.h"
#include "tests/agents/agents_fixture.h"
#include "tests/cli.h"
#include "tests/test.h"

static char g_dir[512];
static char g_store[700];
static int g_state; /* 0 not tried, 1 built, -1 failed */

static void remove_fixture(void) {
    if (g_dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "agents fixture: could not remove %s\n", g_dir);
    }
}

const char *us_test_agents_store(void) {
    if (g_state) return g_state > 0 ? g_store : NULL;
    g_state = -1;
    if (!us_test_cli_available()) return NULL;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/usersim-agents-%ld", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
    char data[600], reviews[700], meta[700], cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", g_dir, g_dir);
    if (system(cmd) != 0) return NULL;
    atexit(remove_fixture);
    snprintf(data, sizeof data, "%s/data", g_dir);
    snprintf(g_store, sizeof g_store, "%s/agents.usdb", g_dir);
    snprintf(reviews, sizeof reviews, "%s/Synthetic_5.json.gz", data);
    snprintf(meta, sizeof meta, "%s/meta_Synthetic.json.gz", data);
    const char *synth[] = {"synth", "--out", data, "--users", "500", "--items", "150",
                           "--reviews", "10000", "--categories", "6", "--choice-taste", "6",
                           "--quiet", NULL};
    const char *ingest[] = {"ingest", "--format", "amazon", "--reviews", reviews,
                            "--meta", meta, "--out", g_store, NULL};
    const char *build[] = {"build", g_store, "--hashed", NULL};
    if (us_test_cli(synth, "fixture-synth.txt") != 0 ||
        us_test_cli(ingest, "fixture-ingest.txt") != 0 ||
        us_test_cli(build, "fixture-build.txt") != 0) {
        fprintf(stderr, "agents fixture: %s%s%s", us_test_slurp("fixture-synth.txt"),
                us_test_slurp("fixture-ingest.txt"), us_test_slurp("fixture-build.txt"));
        return NULL;
    }
    g_state = 1;
    return g_store;
}

us_sim *us_test_agents_sim(void) {
    const char *store = us_test_agents_store();
    if (!store) return NULL;
    us_sim_config cfg = us_sim_config_default();
    us_sim *sim = NULL;
    us_err err;
    if (us_sim_open(&sim, store, &cfg, &err) != US_OK) {
        char buf[1200];
        fprintf(stderr, "agents fixture: %s\n", us_err_str(&err, buf, sizeof buf));
        return NULL;
    }
    return sim;
}

static int fail(const char *what, const us_err *e) {
    char buf[1200];
    fprintf(stderr, "%s: %s\n", what, us_err_str(e, buf, sizeof buf));
    return -1;
}

/* The held-out return of policy pol under ec. */
static int eval_return(us_sim *sim, us_agent_policy *pol, const us_eval_config *ec, double *mean,
                       double *ci) {
    us_eval_result r;
    us_err e;
    if (us_eval(sim, pol, ec, &r, NULL, NULL, &e) != US_OK) return fail("us_eval", &e);
    *mean = r.total_reward.mean;
    if (ci) *ci = r.total_reward.ci;
    return 0;
}

int us_test_agent_learns(us_sim *sim, const char *agent, const char *const *hp, uint64_t steps,
                         int eval_episodes, const char *run, us_test_learned *out) {
    memset(out, 0, sizeof *out);
    us_err e;
    us_train_config tc = us_train_config_default();
    tc.agent = agent;
    tc.steps = steps;
    tc.seed = 1;
    tc.out_dir = us_test_path(run);
    tc.eval_episodes = 50;
    for (int k = 0; hp && hp[k]; k += 2)
        if (us_agent_set(agent, &tc.hp, hp[k], strtod(hp[k + 1], NULL), &e) != US_OK)
            return fail("us_agent_set", &e);
    us_train_report rep;
    if (us_train(sim, us_test_agents_store(), &tc, &rep, &e) != US_OK) return fail("us_train", &e);
    out->steps_per_s = rep.steps_per_s;
    const int nu = us_sim_n_users(sim);
    int32_t *held = malloc((size_t)nu * sizeof *held), *kept = malloc((size_t)nu * sizeof *kept);
    int nh, nk;
    us_agent_split_users(nu, tc.holdout, held, &nh, kept, &nk);
    us_eval_config ec = us_eval_config_default();
    ec.episodes = eval_episodes;
    ec.users = held;
    ec.n_users = nh;
    int rc = 0;
    const char *names[] = {"random", "popular", "oracle"};
    double *dst[] = {&out->random, &out->popular, &out->oracle};
    us_agent_policy pol;
    for (int k = 0; k < 3 && rc == 0; k++) {
        if (us_baseline_init(&pol, sim, names[k], &e) != US_OK) {
            rc = fail("us_baseline_init", &e);
            break;
        }
        rc = eval_return(sim, &pol, &ec, dst[k], NULL);
        us_agent_policy_free(&pol);
    }
    if (rc == 0) {
        if (us_run_policy_open(&pol, sim, tc.out_dir, &e) != US_OK) {
            rc = fail("us_run_policy_open", &e);
        } else {
            rc = eval_return(sim, &pol, &ec, &out->agent, &out->agent_ci);
            us_agent_policy_free(&pol);
        }
    }
    if (rc == 0)
        printf("    %s after %llu steps (%.0f steps/s): held-out return %.2f ±%.2f; random %.2f, "
               "popular %.2f, oracle %.2f (%.0f%% of the oracle)\n",
               agent, (unsigned long long)steps, out->steps_per_s, out->agent, out->agent_ci,
               out->random, out->popular, out->oracle, 100.0 * out->agent / out->oracle);
    free(held);
    free(kept);
    return rc;
}

long us_test_read_all(const char *path, char **buf) {
    *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (*buf = malloc((size_t)n + 1)) != NULL &&
        fread(*buf, 1, (size_t)n, f) != (size_t)n)
        n = -1;
    fclose(f);
    return n;
}

int us_test_same_run_file(const char *a, const char *b, const char *name) {
    char pa[1200], pb[1200], *x, *y;
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    snprintf(pb, sizeof pb, "%s/%s", b, name);
    const long na = us_test_read_all(pa, &x), nb = us_test_read_all(pb, &y);
    const int same = na > 0 && na == nb && memcmp(x, y, (size_t)na) == 0;
    free(x);
    free(y);
    return same;
}
