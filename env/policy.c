/* policy.c — us_policy_check (env.h): four policies that do not learn, run over the same
 * episodes (same seeds, same users, same random numbers), to show whether an environment
 * rewards what it should: a random policy must lose to popularity, popularity to the greedy
 * SASRec recommender, and recommending one item over and over must not beat random.
 *
 * It is a check, not the agents room: the policies here are the few the simulator itself can
 * rank with (popularity counts, its own next-item head). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "env/internal.h"

/* 1 when item was recommended in the episode so far or is in the user's training history. */
static int met(const us_env *env, int32_t item) {
    for (int t = 0; t < env->steps; t++)
        if (env->ep_items[t] == item) return 1;
    return us_sim_known(env->sim, env->user, item, NULL);
}

/* The highest-scoring item the user has not met; ties go to the lower id. */
static int32_t best_unmet(const us_env *env, const float *score, int n) {
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++)
        if ((best < 0 || score[i] > score[best]) && !met(env, i)) best = i;
    return best < 0 ? 0 : best;
}

us_status us_policy_check(const us_sim *sim, const us_env_config *cfg, int episodes,
                          uint64_t seed, us_policy_report *out, us_err *err) {
    memset(out, 0, sizeof *out);
    if (episodes < 1 || episodes > 10000000)
        return us_err_set(err, US_EINVAL, NULL, 0, "episodes", "expected 1..10000000, found %d",
                          episodes);
    const int V = us_sim_n_items(sim);
    us_env *env = NULL;
    us_status st = us_env_init(&env, sim, cfg, err);
    if (st != US_OK) return st;
    float *pop = malloc((size_t)V * sizeof *pop), *next = malloc((size_t)V * sizeof *next);
    int32_t *obs = malloc((size_t)us_env_obs_size(env) * sizeof *obs);
    double *ret = malloc((size_t)episodes * sizeof *ret);
    if (!pop || !next || !obs || !ret) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        goto done;
    }
    const uint32_t *count = us_sim_popularity(sim);
    int32_t most = 0;
    for (int32_t i = 0; i < V; i++) {
        pop[i] = (float)count[i];
        if (count[i] > count[most]) most = i;
    }
    out->episodes = (uint64_t)episodes;
    out->has_sasrec = us_sim_next_scores(sim, env->worker, 0, NULL, 0, next);
    for (int p = 0; p < US_NPOLICIES; p++) {
        if (p == US_POLICY_SASREC && !out->has_sasrec) continue;
        uint64_t steps = 0, likes = 0;
        for (int k = 0; k < episodes; k++) {
            /* episode k of every policy: the same seed, so the same user and random numbers */
            const uint64_t key[2] = {seed, (uint64_t)k};
            const uint64_t ep_seed = us_hash64(key, sizeof key, 0x706f6cu); /* "pol" */
            us_rng pick = us_rng_derive(ep_seed, 99);
            us_env_reset(env, ep_seed, US_ENV_RANDOM_USER, obs);
            double r = 0;
            us_env_step_result res;
            do {
                int32_t item;
                switch (p) {
                case US_POLICY_RANDOM: item = (int32_t)us_rng_bounded(&pick, (uint32_t)V); break;
                case US_POLICY_CONSTANT: item = most; break;
                case US_POLICY_POPULAR: item = best_unmet(env, pop, V); break;
                default:
                    us_sim_next_scores(sim, env->worker, env->user, env->ep_items, env->steps,
                                       next);
                    item = best_unmet(env, next, V);
                    break;
                }
                us_env_step(env, item, obs, &res);
                r += res.reward;
                steps++;
            } while (!res.terminated && !res.truncated);
            likes += (uint64_t)r;
            ret[k] = r;
        }
        double m = 0, ss = 0;
        for (int k = 0; k < episodes; k++) m += ret[k];
        m /= episodes;
        for (int k = 0; k < episodes; k++) ss += (ret[k] - m) * (ret[k] - m);
        out->mean_return[p] = m;
        out->return_ci[p] = episodes > 1 ? 1.96 * sqrt(ss / (episodes - 1) / episodes) : 0;
        out->like_rate[p] = steps ? (double)likes / (double)steps : 0;
        out->mean_length[p] = (double)steps / episodes;
    }
    const double *R = out->mean_return;
    out->ordered = R[US_POLICY_RANDOM] < R[US_POLICY_POPULAR] &&
                   (!out->has_sasrec || R[US_POLICY_POPULAR] < R[US_POLICY_SASREC]);
    out->constant_ok = R[US_POLICY_CONSTANT] <= R[US_POLICY_RANDOM];
done:
    free(pop);
    free(next);
    free(obs);
    free(ret);
    us_env_free(env);
    return st;
}
