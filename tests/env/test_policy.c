/* What a good environment must show, on a store made as the demo makes it (the default
 * synthetic data, `usersim build` with the built-in extractor and the hashed embedder): random
 * earns less than popularity, and popularity and SASRec-greedy far more than random; a policy
 * that repeats one item earns no more than random; the users tell what they would choose
 * better than popularity does; the fitted judge beats each of its parts and the baselines;
 * its decisions rank as its score does; random items are liked far less often than logged
 * ones. Also: us_policy_check is deterministic and refuses bad arguments. */
#include <stdio.h>
#include <string.h>

#include "env/env.h"
#include "simulator/simulator.h"
#include "tests/cli.h"
#include "tests/test.h"

/* synth (defaults) -> ingest -> build --hashed; the store path into store (1024 bytes). */
static int demo_store(char *store) {
    char data[1024], reviews[1100], meta[1100];
    snprintf(data, sizeof data, "%s", us_test_path("data"));
    snprintf(store, 1024, "%s", us_test_path("demo.usdb"));
    snprintf(reviews, sizeof reviews, "%s/Synthetic_5.json.gz", data);
    snprintf(meta, sizeof meta, "%s/meta_Synthetic.json.gz", data);
    const char *synth[] = {"synth", "--out", data, "--quiet", NULL};
    const char *ingest[] = {"ingest", "--format", "amazon", "--reviews", reviews,
                            "--meta", meta,       "--out",  store,       NULL};
    const char *build[] = {"build", store, "--hashed", NULL};
    if (us_test_cli(synth, "synth.txt") != 0 || us_test_cli(ingest, "ingest.txt") != 0 ||
        us_test_cli(build, "build.txt") != 0) {
        fprintf(stderr, "demo store: %s%s", us_test_slurp("ingest.txt"),
                us_test_slurp("build.txt"));
        return -1;
    }
    return 0;
}

TEST(env_demo_store_rewards_what_it_should) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024];
    REQUIRE(demo_store(store) == 0);
    us_sim *sim = NULL;
    us_err err;
    CHECK_OK(us_sim_open(&sim, store, NULL, &err), err);
    REQUIRE(sim != NULL);

    us_sim_eval_config ec = us_sim_eval_config_default();
    ec.random_steps = 5000;
    us_sim_eval_report rep;
    CHECK_OK(us_sim_evaluate(sim, store, &ec, &rep, &err), err);
    printf("    judge AUC %.3f; keyword %.3f, embedding %.3f, sasrec %.3f, bias %.3f, mf %.3f, "
           "majority %.3f, item rate %.3f, popularity %.3f\n",
           rep.ensemble.auc, rep.component[US_VOTE_KEYWORD].auc, rep.component[US_VOTE_EMBED].auc,
           rep.component[US_VOTE_SASREC].auc, rep.bias.auc, rep.mf.auc, rep.majority.auc,
           rep.item_rate.auc, rep.popularity_auc);
    printf("    decisions %.3f (one draw) %.3f (%d draws); 1:9 %.3f vs popularity %.3f; random "
           "like rate %.3f vs logged %.3f\n",
           rep.decision_auc, rep.decision_freq_auc, rep.decision_draws, rep.discrimination[2],
           rep.popularity_discrimination[2], rep.random_like_rate, rep.real_like_rate);
    /* the fitted judge above each part and each baseline */
    CHECK(rep.beats_all);
    for (int k = 0; k < US_SIM_NVOTES; k++) CHECK(rep.ensemble.auc > rep.component[k].auc);
    CHECK(rep.ensemble.auc > rep.bias.auc && rep.ensemble.auc > rep.mf.auc);
    CHECK(rep.ensemble.auc > rep.majority.auc && rep.ensemble.auc > rep.item_rate.auc);
    CHECK(rep.ensemble.auc > rep.popularity_auc);
    /* decisions drawn from the score rank, over many draws, within 0.02 of it */
    CHECK(rep.ensemble.auc - rep.decision_freq_auc < 0.02);
    /* users tell what they would choose better than popularity does */
    CHECK(rep.discrimination[2] > rep.popularity_discrimination[2]);
    CHECK(rep.discrimination[0] > rep.popularity_discrimination[0]);
    /* random items: liked far less often than the logged ones */
    CHECK(rep.random_like_rate < 0.5 * rep.real_like_rate);

    us_env_config cfg = us_env_config_default();
    us_policy_report pol;
    CHECK_OK(us_policy_check(sim, &cfg, 300, 1, &pol, &err), err);
    const double *R = pol.mean_return;
    printf("    return: random %.2f, constant %.2f, popular %.2f, sasrec-greedy %.2f (300 "
           "episodes)\n",
           R[US_POLICY_RANDOM], R[US_POLICY_CONSTANT], R[US_POLICY_POPULAR], R[US_POLICY_SASREC]);
    CHECK(pol.has_sasrec);
    CHECK(pol.constant_ok && R[US_POLICY_CONSTANT] <= R[US_POLICY_RANDOM]);
    CHECK(R[US_POLICY_RANDOM] < R[US_POLICY_POPULAR]);
    CHECK(R[US_POLICY_RANDOM] < R[US_POLICY_SASREC]);
    /* a pleased user stays: the better policies' sessions are longer */
    CHECK(pol.mean_length[US_POLICY_POPULAR] > pol.mean_length[US_POLICY_RANDOM]);
    /* the same seed, the same figures */
    us_policy_report again;
    CHECK_OK(us_policy_check(sim, &cfg, 300, 1, &again, &err), err);
    CHECK(memcmp(&pol, &again, sizeof pol) == 0);
    CHECK(us_policy_check(sim, &cfg, 0, 1, &again, &err) == US_EINVAL);
    CHECK_STR(err.field, "episodes");
    us_sim_close(sim);
}
