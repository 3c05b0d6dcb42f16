/* agents_fixture.c — see agents_fixture.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
