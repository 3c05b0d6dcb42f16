/* The environment (env/env.h) over a real store: synthetic data ingested, a SASRec rating head
 * checkpointed into it, and a us_sim that votes with SASRec alone (the keyword and embedding
 * stages are the simulator tests' business). Episodes, observations, seeds, termination,
 * masking, and the vector env against single envs at several thread counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "tests/simulator/sim_fixture.h"
#include "tests/test.h"

static us_sim *make_sim(const char *name) { return us_test_sasrec_sim(name, NULL); }

TEST(env_observation_holds_the_last_pairs) {
    us_sim *sim = make_sim("o.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.obs_len = 3;
    cfg.leave_prob = 0.0;
    cfg.max_steps = 5;
    us_env *env;
    us_err err;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    CHECK_EQ_INT(us_env_obs_size(env), 7);
    int32_t obs[7];
    CHECK_EQ_INT(us_env_reset(env, 9, 12, obs), 12);
    CHECK_EQ_INT(obs[0], 12);
    for (int k = 1; k < 7; k++) CHECK_EQ_INT(obs[k], -1);
    us_env_step_result r;
    int likes[5];
    for (int t = 0; t < 5; t++) {
        us_env_step(env, 10 + t, obs, &r);
        likes[t] = (int)r.reward;
        CHECK_EQ_INT(r.reaction.like, likes[t]);
        /* an item of the user's training history is a repeat, not judged (no vote) */
        CHECK_EQ_INT(r.reaction.repeat, us_sim_known(sim, 12, 10 + t, NULL));
        if (!r.reaction.repeat)
            CHECK_EQ_INT(r.reaction.vote[US_VOTE_SASREC], r.reaction.p_sasrec >= 0.5f);
        else
            CHECK_EQ_INT(r.reaction.vote[US_VOTE_SASREC], -1);
        CHECK_EQ_INT(r.terminated, 0);
        CHECK_EQ_INT(r.truncated, t == 4);
    }
    CHECK(us_env_done(env));
    /* the last three: items 12, 13, 14 with their reactions */
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(obs[1 + 2 * k], 12 + k);
        CHECK_EQ_INT(obs[2 + 2 * k], likes[2 + k]);
    }
    /* after one step of a new episode: two padding pairs, then the step */
    us_env_reset(env, 9, 12, obs);
    us_env_step(env, 30, obs, &r);
    CHECK_EQ_INT(obs[1], -1);
    CHECK_EQ_INT(obs[4], -1);
    CHECK_EQ_INT(obs[5], 30);
    us_env_free(env);
    us_sim_close(sim);
}

/* Runs one episode of up to 40 steps with actions from a fixed stream; returns its length and
 * fills user, rewards and the end flags. */
static int run_episode(us_env *env, uint64_t seed, int32_t user, int32_t *who, float *rewards,
                       int *term) {
    int32_t obs[US_ENV_OBS_MAX];
    *who = us_env_reset(env, seed, user, obs);
    us_rng act = us_rng_derive(77, 0);
    us_env_step_result r;
    int t = 0;
    while (!us_env_done(env)) {
        us_env_step(env, (int32_t)us_rng_bounded(&act, 40), obs, &r);
        rewards[t++] = r.reward;
        *term = r.terminated;
    }
    return t;
}

TEST(env_same_seed_same_episode) {
    us_sim *sim = make_sim("d.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.1;
    cfg.max_steps = 40;
    us_env *a, *b;
    us_err err;
    REQUIRE(us_env_init(&a, sim, &cfg, &err) == US_OK);
    REQUIRE(us_env_init(&b, sim, &cfg, &err) == US_OK);
    float ra[40], rb[40];
    int32_t ua, ub;
    int ta, tb, differ = 0;
    for (uint64_t s = 0; s < 20; s++) {
        int na = run_episode(a, s, US_ENV_RANDOM_USER, &ua, ra, &ta);
        int nb = run_episode(b, s, US_ENV_RANDOM_USER, &ub, rb, &tb);
        CHECK_EQ_INT(na, nb);
        CHECK_EQ_INT(ua, ub);
        CHECK(memcmp(ra, rb, (size_t)na * sizeof *ra) == 0);
        int nc = run_episode(b, s + 1000, US_ENV_RANDOM_USER, &ub, rb, &tb);
        differ += nc != na || ub != ua;
    }
    CHECK(differ > 10); /* other seeds give other users and lengths */
    us_env_free(a);
    us_env_free(b);
    us_sim_close(sim);
}

TEST(env_leaving_and_truncation) {
    us_sim *sim = make_sim("l.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.max_steps = 40;
    us_env *env;
    us_err err;
    float rw[40];
    int32_t u;
    int term;
    cfg.leave_gain = 0.0; /* the paper's constant leave probability */
    cfg.leave_prob = 1.0;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    CHECK_EQ_INT(run_episode(env, 1, US_ENV_RANDOM_USER, &u, rw, &term), 1);
    CHECK_EQ_INT(term, 1);
    us_env_free(env);
    cfg.leave_prob = 0.0;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    CHECK_EQ_INT(run_episode(env, 1, US_ENV_RANDOM_USER, &u, rw, &term), 40);
    CHECK_EQ_INT(term, 0);
    us_env_free(env);
    /* The paper's 0.025: mean episode length near min(40, 1/0.025) truncated; just check the
     * geometric law's first step: about 2.5 % of 4000 episodes end after one step. */
    cfg.leave_prob = 0.025;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    int one = 0;
    for (uint64_t s = 0; s < 4000; s++) one += run_episode(env, s, 3, &u, rw, &term) == 1;
    CHECK(one > 60 && one < 145); /* Binomial(4000, 0.025): mean 100, sd 9.9 */
    /* Evaluation order: users 0, 1, 2, ... and nobody leaves early. */
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(run_episode(env, 5, US_ENV_NEXT_USER, &u, rw, &term), 40);
        CHECK_EQ_INT(u, k);
    }
    us_env_free(env);
    us_sim_close(sim);
}

TEST(env_masks_repeats) {
    us_sim *sim = make_sim("m.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.0;
    cfg.mask_repeats = 1;
    us_env *env;
    us_err err;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    int32_t obs[US_ENV_OBS_MAX];
    us_env_reset(env, 3, 0, obs);
    us_env_step_result r;
    int32_t fresh = 0; /* an item user 0 has not met in training */
    while (us_sim_known(sim, 0, fresh, NULL)) fresh++;
    us_env_step(env, fresh, obs, &r);
    CHECK_EQ_INT(r.repeat, 0);
    us_env_step(env, fresh, obs, &r);
    CHECK_EQ_INT(r.repeat, 1);
    CHECK(r.reward == 0.0f);
    uint8_t mask[40];
    us_env_action_mask(env, mask);
    int open = 0;
    for (int i = 0; i < 40; i++) open += mask[i];
    CHECK_EQ_INT(mask[fresh], 0);
    CHECK_EQ_INT(open, 39);
    us_env_free(env);
    us_env_config bad = us_env_config_default();
    bad.leave_prob = 1.5;
    CHECK(us_env_init(&env, sim, &bad, &err) == US_EINVAL);
    CHECK_STR(err.field, "leave_prob");
    us_sim_close(sim);
}

/* 300 vector steps of 16 envs with actions from a fixed stream, episodes drawing from users
 * (n_users of them; NULL: no us_vecenv_set_users call); every output concatenated. */
typedef struct vec_trace {
    int32_t obs[16 * 300 * 21];
    float rewards[16 * 300];
    uint8_t term[16 * 300], trunc[16 * 300];
    int32_t users[16 * 300];
} vec_trace;

static int vec_run_trace_users(const us_sim *sim, int threads, int eval, const int32_t *users,
                               int n_users, vec_trace *tr) {
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.05;
    cfg.max_steps = 30;
    us_vecenv *v;
    us_err err;
    if (us_vecenv_init(&v, sim, &cfg, 16, threads, 123, eval, &err) != US_OK) return -1;
    if (users && us_vecenv_set_users(v, users, n_users, &err) != US_OK) {
        us_vecenv_free(v);
        return -1;
    }
    int32_t first[16 * 21];
    us_vecenv_reset(v, first);
    us_rng act = us_rng_derive(9, 0);
    int32_t actions[16];
    for (int s = 0; s < 300; s++) {
        for (int i = 0; i < 16; i++) actions[i] = (int32_t)us_rng_bounded(&act, 40);
        us_vecenv_step(v, actions, tr->obs + s * 16 * 21, tr->rewards + s * 16,
                       tr->term + s * 16, tr->trunc + s * 16, tr->users + s * 16);
    }
    us_vecenv_free(v);
    return 0;
}

static int vec_run_trace(const us_sim *sim, int threads, int eval, vec_trace *tr) {
    return vec_run_trace_users(sim, threads, eval, NULL, 0, tr);
}

TEST(vecenv_same_outputs_for_any_thread_count) {
    us_sim *sim = make_sim("v.usdb");
    REQUIRE(sim != NULL);
    vec_trace *t1 = malloc(sizeof *t1), *tn = malloc(sizeof *tn);
    REQUIRE(t1 && tn);
    for (int eval = 0; eval < 2; eval++) {
        REQUIRE(vec_run_trace(sim, 1, eval, t1) == 0);
        int ended = 0;
        for (int k = 0; k < 16 * 300; k++) ended += t1->term[k] + t1->trunc[k];
        CHECK(ended > 100); /* episodes do end and restart */
        for (int threads = 2; threads <= 5; threads += 3) {
            REQUIRE(vec_run_trace(sim, threads, eval, tn) == 0);
            CHECK(memcmp(t1, tn, sizeof *t1) == 0);
        }
    }
    free(t1);
    free(tn);
    us_sim_close(sim);
}

TEST(vecenv_equals_single_envs) {
    us_sim *sim = make_sim("s.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.2;
    cfg.max_steps = 10;
    const int n = 4, steps = 60;
    us_vecenv *v;
    us_err err;
    REQUIRE(us_vecenv_init(&v, sim, &cfg, n, 2, 55, 0, &err) == US_OK);
    int32_t vobs[4 * 21], vusers[4];
    float vr[4];
    uint8_t vt[4], vu[4];
    us_vecenv_reset(v, vobs);
    us_env *env[4];
    int32_t sobs[4][21];
    uint64_t k[4] = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        REQUIRE(us_env_init(&env[i], sim, &cfg, &err) == US_OK);
        us_env_reset(env[i], us_vecenv_episode_seed(55, (uint64_t)i, k[i]++), US_ENV_RANDOM_USER,
                     sobs[i]);
        CHECK(memcmp(sobs[i], vobs + i * 21, sizeof sobs[i]) == 0);
    }
    us_rng act = us_rng_derive(10, 0);
    for (int s = 0; s < steps; s++) {
        int32_t a[4];
        for (int i = 0; i < n; i++) a[i] = (int32_t)us_rng_bounded(&act, 40);
        us_vecenv_step(v, a, vobs, vr, vt, vu, vusers);
        for (int i = 0; i < n; i++) {
            us_env_step_result r;
            us_env_step(env[i], a[i], sobs[i], &r);
            CHECK(r.reward == vr[i]);
            CHECK_EQ_INT(r.terminated, vt[i]);
            CHECK_EQ_INT(r.truncated, vu[i]);
            if (r.terminated || r.truncated)
                us_env_reset(env[i], us_vecenv_episode_seed(55, (uint64_t)i, k[i]++),
                             US_ENV_RANDOM_USER, sobs[i]);
            CHECK(memcmp(sobs[i], vobs + i * 21, sizeof sobs[i]) == 0);
            CHECK_EQ_INT(vusers[i], us_env_user(env[i]));
        }
    }
    for (int i = 0; i < n; i++) us_env_free(env[i]);
    us_vecenv_free(v);
    us_sim_close(sim);
}

/* p_leave after satisfaction s (env.h): min(1, leave_prob·e^(leave_gain·s)). */
static double leave_p(const us_env_config *c, double s) {
    const double p = c->leave_prob * exp(c->leave_gain * s);
    return p > 1.0 ? 1.0 : p;
}

/* What leave_episodes saw. Leaves are split by whether the step's item was engaged with (a
 * like needs it): given each step's p, the leaving draw is its own, so either share of the
 * leaves follows the p's of its steps. */
typedef struct leave_tally {
    int likes, misses, rises, falls, saturated;
    int left[2];                /* leaves after a step not engaged with / engaged with */
    double expected[2], var[2]; /* their expectation and variance given the steps' p */
} leave_tally;

/* Runs `episodes` episodes of env (made with cfg) on items from act, recomputing s_t and
 * p_leave after every step from the rewards and checking the env's against them. */
static void leave_episodes(us_test_ctx *t_, us_env *env, const us_env_config *cfg,
                           int episodes, us_rng *act, leave_tally *k) {
    int32_t obs[US_ENV_OBS_MAX];
    us_env_step_result r;
    memset(k, 0, sizeof *k);
    for (int e = 0; e < episodes; e++) {
        us_env_reset(env, (uint64_t)e, US_ENV_RANDOM_USER, obs);
        CHECK(us_env_leave_prob(env) == 0.0);
        double s = 0.0, prev = leave_p(cfg, 0.0);
        while (!us_env_done(env)) {
            us_env_step(env, (int32_t)us_rng_bounded(act, 40), obs, &r);
            const int like = r.reward > 0.0f;
            CHECK_EQ_INT(like, r.reaction.like);
            s = cfg->leave_decay * s + (like ? -1.0 : 1.0);
            const double p = leave_p(cfg, s);
            CHECK_NEAR(us_env_leave_prob(env), p, 1e-12);
            if (p < 1.0) { /* s stays inside (-5, 5) at decay 0.8: never a fixed point */
                if (like) {
                    CHECK(p < prev);
                    k->falls++;
                } else {
                    CHECK(p > prev);
                    k->rises++;
                }
            } else {
                CHECK_EQ_INT(r.terminated, 1);
                k->saturated++;
            }
            k->likes += like;
            k->misses += !like;
            const int g = r.reaction.engage != 0;
            k->left[g] += r.terminated;
            k->expected[g] += p;
            k->var[g] += p * (1.0 - p);
            prev = p;
        }
    }
}

TEST(env_leaving_follows_satisfaction) {
    us_sim *sim = make_sim("sat.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    CHECK(cfg.leave_prob == 0.025 && cfg.leave_gain == 0.35 && cfg.leave_decay == 0.8);
    cfg.max_steps = 60;
    us_env *env;
    us_err err;
    int32_t obs[US_ENV_OBS_MAX];
    us_env_step_result r;
    us_rng act = us_rng_derive(41, 0);
    leave_tally k;
    /* the defaults (p between 0.004 and 0.14), then a config where p reaches min(1, .) */
    for (int strong = 0; strong < 2; strong++) {
        if (strong) cfg.leave_prob = 0.5, cfg.leave_gain = 1.0;
        REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
        leave_episodes(t_, env, &cfg, strong ? 200 : 400, &act, &k);
        us_env_free(env);
        CHECK(k.likes > 50 && k.misses > 100);
        CHECK(k.rises > 0 && k.falls > 0);
        CHECK_EQ_INT(k.saturated > 0, strong);
        /* the leaves drawn follow those p's: within 4 standard deviations of their sum, after
         * engaged steps and after the others alike (a constant 0.025 would expect about a
         * third as many; a leaving draw tied to the engagement draw would put them all
         * after engaged steps) */
        for (int g = 0; g < 2; g++) {
            CHECK(k.expected[g] > 20.0);
            CHECK_NEAR(k.left[g], k.expected[g], 4.0 * sqrt(k.var[g]));
        }
    }

    /* leave_gain 0: the paper's constant leave_prob, whatever the reactions */
    cfg = us_env_config_default();
    cfg.max_steps = 60;
    cfg.leave_gain = 0.0;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    for (uint64_t seed = 0; seed < 20; seed++) {
        us_env_reset(env, seed, US_ENV_RANDOM_USER, obs);
        while (!us_env_done(env)) {
            us_env_step(env, (int32_t)us_rng_bounded(&act, 40), obs, &r);
            CHECK(us_env_leave_prob(env) == cfg.leave_prob);
        }
    }
    us_env_free(env);

    /* evaluation order: nobody leaves, p is 0 */
    cfg = us_env_config_default();
    cfg.max_steps = 60;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    for (int e = 0; e < 3; e++) {
        us_env_reset(env, 7, US_ENV_NEXT_USER, obs);
        while (!us_env_done(env)) {
            us_env_step(env, (int32_t)us_rng_bounded(&act, 40), obs, &r);
            CHECK(us_env_leave_prob(env) == 0.0);
            CHECK_EQ_INT(r.terminated, 0);
        }
        CHECK_EQ_INT(us_env_steps(env), 60);
    }
    us_env_free(env);

    /* the new fields are validated, by name */
    us_env_config bad = us_env_config_default();
    CHECK_OK(us_env_config_validate(&bad, &err), err);
    bad.leave_decay = 1.0;
    CHECK(us_env_config_validate(&bad, &err) == US_EINVAL);
    CHECK_STR(err.field, "leave_decay");
    CHECK(us_env_init(&env, sim, &bad, &err) == US_EINVAL);
    CHECK_STR(err.field, "leave_decay");
    bad = us_env_config_default();
    bad.leave_gain = -1.0;
    CHECK(us_env_config_validate(&bad, &err) == US_EINVAL);
    CHECK_STR(err.field, "leave_gain");
    us_sim_close(sim);
}

TEST(env_two_policies_share_leaving_when_reactions_agree) {
    us_sim *sim = make_sim("crn.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.15; /* episodes end early */
    cfg.max_steps = 50;
    us_err err;
    int32_t oa[US_ENV_OBS_MAX], ob[US_ENV_OBS_MAX];
    us_env_step_result ra, rb;
    /* mask 0: B's other item is asked of the user; mask 1: it is a masked repeat, which asks
     * nothing (no reaction draws) */
    for (int mask = 0; mask < 2; mask++) {
        cfg.mask_repeats = mask;
        us_env *a, *b;
        REQUIRE(us_env_init(&a, sim, &cfg, &err) == US_OK);
        REQUIRE(us_env_init(&b, sim, &cfg, &err) == US_OK);
        int checked = 0, checked_apart = 0, agreeing = 0, disagreeing = 0, ended_apart = 0;
        for (uint64_t seed = 0; seed < 300; seed++) {
            const int32_t user = us_env_reset(a, seed, US_ENV_RANDOM_USER, oa);
            CHECK_EQ_INT(us_env_reset(b, seed, US_ENV_RANDOM_USER, ob), user);
            us_rng act = us_rng_derive(seed, 99);
            int same = 1; /* the rewards so far agree */
            int32_t last_b = -1;
            for (int t = 0; !us_env_done(a) || !us_env_done(b); t++) {
                const int32_t item = (int32_t)us_rng_bounded(&act, 40);
                /* B follows A except every fourth step from the second */
                int32_t other = item;
                if (t % 4 == 1) other = mask ? last_b : (item + 7) % 40;
                const int da = us_env_done(a), db = us_env_done(b);
                if (!da) us_env_step(a, item, oa, &ra);
                if (!db) us_env_step(b, other, ob, &rb);
                last_b = other;
                if (da || db) {
                    /* only one of them still runs: their rewards agreed at most until here */
                    CHECK(!same);
                    continue;
                }
                same = same && ra.reward == rb.reward;
                if (!same) continue;
                CHECK_EQ_INT(ra.terminated, rb.terminated);
                CHECK_EQ_INT(ra.truncated, rb.truncated);
                CHECK(us_env_leave_prob(a) == us_env_leave_prob(b));
                checked++;
                checked_apart += other != item;
            }
            if (same) {
                agreeing++;
                CHECK_EQ_INT(us_env_steps(a), us_env_steps(b));
            } else {
                disagreeing++;
                ended_apart += us_env_steps(a) != us_env_steps(b);
            }
        }
        /* teeth: steps checked where the two recommended different items */
        CHECK(checked > 100 && checked_apart > 20);
        CHECK(agreeing > 10);
        printf("    mask_repeats %d: %d episodes agree in rewards (same length, %d steps checked, "
               "%d with different items); of %d that differ, %d end at different steps\n",
               mask, agreeing, checked, checked_apart, disagreeing, ended_apart);
        us_env_free(a);
        us_env_free(b);
    }
    us_sim_close(sim);
}

/* A request for more envs than the memory limit allows is refused before anything is
 * allocated, with the estimate in the message; the limit follows the per-env estimate, which
 * grows with max_steps. */
TEST(vecenv_refuses_more_envs_than_its_memory_limit) {
    us_sim *sim = make_sim("m.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    const uint64_t each = us_env_bytes_estimate(&cfg);
    CHECK(each >= US_ENV_BYTES_BASE + 21u * (uint64_t)cfg.max_steps);
    const uint64_t limit = US_VECENV_MAX_BYTES / each;
    CHECK(limit >= 1000 && limit < (1u << 20));
    us_vecenv *v = (us_vecenv *)&cfg; /* must come back NULL */
    us_err err;
    char want[128];
    const int over[] = {(int)limit + 1, 1000000, 2147483647};
    for (int k = 0; k < 3; k++) {
        us_status st = us_vecenv_init(&v, sim, &cfg, over[k], 1, 1, 0, &err);
        CHECK(v == NULL);
        CHECK_STR(err.field, "n");
        snprintf(want, sizeof want, "found %d: about %llu bytes", over[k],
                 (unsigned long long)((uint64_t)over[k] * each));
        CHECK_ERR(st, err, US_EINVAL, want);
        snprintf(want, sizeof want, "expected 1..%llu envs", (unsigned long long)limit);
        CHECK_ERR(st, err, US_EINVAL, want);
    }
    CHECK_ERR(us_vecenv_init(&v, sim, &cfg, 0, 1, 1, 0, &err), err, US_EINVAL, "found 0");
    CHECK(v == NULL);
    /* longer episodes take more memory per env, so fewer envs fit */
    cfg.max_steps = 1000000;
    const uint64_t big = us_env_bytes_estimate(&cfg);
    CHECK(big > each + 20u * 1000000u);
    CHECK_ERR(us_vecenv_init(&v, sim, &cfg, (int)(US_VECENV_MAX_BYTES / big) + 1, 1, 1, 0, &err),
              err, US_EINVAL, "bytes");
    CHECK(v == NULL);
    cfg = us_env_config_default();
    CHECK_OK(us_vecenv_init(&v, sim, &cfg, 3, 2, 1, 0, &err), err);
    CHECK(v != NULL && us_vecenv_n(v) == 3);
    us_vecenv_free(v);
    us_sim_close(sim);
}

/* us_vecenv_episode_seed's promise (env.h): a single env reset with the seed of env i's k-th
 * episode replays that episode exactly (observations, rewards, both flags), given either
 * US_ENV_RANDOM_USER or the user the vector env gave the episode; with eval_order, the user
 * through us_env_reset_eval (a chosen user walking the order never leaves early). */
TEST(vecenv_episode_replays_from_its_seed_and_user) {
    us_sim *sim = make_sim("r.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.1; /* episodes end by leaving as well as by truncation */
    cfg.max_steps = 8;
    cfg.obs_len = 3;
    enum { N = 3, OBS = 7 };
    const uint64_t seed = 77;
    us_err err;
    for (int eval = 0; eval < 2; eval++) {
        us_vecenv *v;
        REQUIRE(us_vecenv_init(&v, sim, &cfg, N, 2, seed, eval, &err) == US_OK);
        int32_t vobs[N * OBS], vusers[N];
        float vr[N];
        uint8_t vt[N], vu[N];
        us_vecenv_reset(v, vobs);
        /* by_user[i] is reset with the vector env's user, by_seed[i] with a random one (in
         * evaluation order the vector env chooses the user, so only by_user applies) */
        us_env *by_user[N], *by_seed[N];
        int32_t uobs[N][OBS], sobs[N][OBS];
        uint64_t k[N] = {0};
        int left = 0, truncated = 0;
        for (int i = 0; i < N; i++) {
            REQUIRE(us_env_init(&by_user[i], sim, &cfg, &err) == US_OK);
            REQUIRE(us_env_init(&by_seed[i], sim, &cfg, &err) == US_OK);
        }
        for (int s = -1; s < 120; s++) {
            if (s >= 0) {
                int32_t a[N];
                for (int i = 0; i < N; i++) a[i] = (int32_t)((s * 7 + i * 13) % 40);
                us_vecenv_step(v, a, vobs, vr, vt, vu, vusers);
                for (int i = 0; i < N; i++) {
                    us_env_step_result r, q;
                    us_env_step(by_user[i], a[i], uobs[i], &r);
                    CHECK(r.reward == vr[i]);
                    /* stepping on after the episodes part ways would step an ended env */
                    REQUIRE(r.terminated == vt[i] && r.truncated == vu[i]);
                    left += vt[i];
                    truncated += vu[i];
                    if (!eval) {
                        us_env_step(by_seed[i], a[i], sobs[i], &q);
                        CHECK(q.reward == vr[i]);
                        REQUIRE(q.terminated == vt[i] && q.truncated == vu[i]);
                        CHECK(memcmp(uobs[i], sobs[i], sizeof uobs[i]) == 0);
                    }
                }
            }
            for (int i = 0; i < N; i++) {
                if (s < 0 || vt[i] || vu[i]) { /* episode k of env i starts */
                    const uint64_t es = us_vecenv_episode_seed(seed, (uint64_t)i, k[i]++);
                    const int32_t user = vobs[i * OBS];
                    if (eval) {
                        CHECK_EQ_INT(us_env_reset_eval(by_user[i], es, user, uobs[i]), user);
                    } else {
                        CHECK_EQ_INT(us_env_reset(by_user[i], es, user, uobs[i]), user);
                        CHECK_EQ_INT(us_env_reset(by_seed[i], es, US_ENV_RANDOM_USER, sobs[i]),
                                     user);
                        CHECK(memcmp(sobs[i], vobs + i * OBS, sizeof sobs[i]) == 0);
                    }
                }
                CHECK(memcmp(uobs[i], vobs + i * OBS, sizeof uobs[i]) == 0);
                if (s >= 0) CHECK_EQ_INT(vusers[i], us_env_user(by_user[i]));
            }
        }
        /* both kinds of ending were replayed (none by leaving in evaluation order) */
        CHECK(truncated > 5);
        CHECK(eval ? left == 0 : left > 5);
        for (int i = 0; i < N; i++) {
            us_env_free(by_user[i]);
            us_env_free(by_seed[i]);
        }
        us_vecenv_free(v);
    }
    us_sim_close(sim);
}

/* us_vecenv_set_users with every user 0..N-1 in order draws the same users from the same
 * stream: the whole trace (observations, rewards, flags, users) is the one without a list, in
 * both orders; a list with the same users in another order does change it. */
TEST(vecenv_set_users_full_list_changes_nothing) {
    us_sim *sim = make_sim("uf.usdb");
    REQUIRE(sim != NULL);
    const int nu = us_sim_n_users(sim);
    REQUIRE(nu == US_TEST_SIM_USERS);
    int32_t all[US_TEST_SIM_USERS], rev[US_TEST_SIM_USERS];
    for (int u = 0; u < nu; u++) all[u] = u, rev[u] = nu - 1 - u;
    vec_trace *t0 = malloc(sizeof *t0), *t1 = malloc(sizeof *t1);
    REQUIRE(t0 && t1);
    for (int eval = 0; eval < 2; eval++) {
        REQUIRE(vec_run_trace(sim, 2, eval, t0) == 0);
        memset(t1, 0xab, sizeof *t1);
        REQUIRE(vec_run_trace_users(sim, 2, eval, all, nu, t1) == 0);
        CHECK(memcmp(t0, t1, sizeof *t0) == 0);
        REQUIRE(vec_run_trace_users(sim, 2, eval, rev, nu, t1) == 0);
        CHECK(memcmp(t0->users, t1->users, sizeof t0->users) != 0);
    }
    free(t0);
    free(t1);
    us_sim_close(sim);
}

/* A vector env given a subset of the users: every episode's user is one of them (and several
 * appear); an episode still replays from its seed and the user given; in evaluation order env
 * i's k-th episode takes users[(i + k·n) mod len]; bad lists are refused, naming "users", and
 * leave the list in use as it was. */
TEST(vecenv_set_users_draws_from_the_subset) {
    us_sim *sim = make_sim("us.usdb");
    REQUIRE(sim != NULL);
    enum { N = 3, OBS = 21, LEN = 5 };
    const int32_t subset[LEN] = {3, 17, 42, 58, 11};
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.2;
    cfg.max_steps = 6;
    us_err err;
    int32_t obs[N * OBS], users[N], a[N];
    float rw[N];
    uint8_t te[N], tr[N];
    for (int eval = 0; eval < 2; eval++) {
        us_vecenv *v;
        REQUIRE(us_vecenv_init(&v, sim, &cfg, N, 2, 31, eval, &err) == US_OK);
        CHECK_OK(us_vecenv_set_users(v, subset, LEN, &err), err);
        us_vecenv_reset(v, obs);
        /* a single env replays env 0's episodes from their seeds and users */
        us_env *single;
        REQUIRE(us_env_init(&single, sim, &cfg, &err) == US_OK);
        int32_t sobs[OBS];
        uint64_t k[N] = {0};
        int seen[LEN] = {0}, episodes = 0;
        for (int s = -1; s < 400; s++) {
            if (s >= 0) {
                for (int i = 0; i < N; i++) a[i] = (int32_t)((s * 11 + i * 5) % 40);
                us_vecenv_step(v, a, obs, rw, te, tr, users);
                us_env_step_result r;
                us_env_step(single, a[0], sobs, &r);
                CHECK(r.reward == rw[0]);
                REQUIRE(r.terminated == te[0] && r.truncated == tr[0]);
            }
            for (int i = 0; i < N; i++) {
                if (s >= 0 && !te[i] && !tr[i]) continue;
                /* env i starts its episode k[i] */
                const int32_t u = obs[i * OBS];
                int at = -1;
                for (int j = 0; j < LEN; j++)
                    if (subset[j] == u) at = j;
                CHECK(at >= 0);
                if (at >= 0) seen[at]++;
                if (eval) CHECK_EQ_INT(u, subset[((uint64_t)i + k[i] * N) % LEN]);
                const uint64_t es = us_vecenv_episode_seed(31, (uint64_t)i, k[i]++);
                if (i == 0) {
                    if (eval) us_env_reset_eval(single, es, u, sobs);
                    else us_env_reset(single, es, u, sobs);
                }
                episodes++;
            }
            CHECK(memcmp(sobs, obs, sizeof sobs) == 0);
        }
        CHECK(episodes > 100);
        for (int j = 0; j < LEN; j++) CHECK(seen[j] > 5); /* all of them, not one */

        /* refused lists, by name; the subset stays in use */
        const int32_t bad_lo[2] = {3, -1}, bad_hi[2] = {US_TEST_SIM_USERS, 4};
        CHECK_ERR(us_vecenv_set_users(v, subset, 0, &err), err, US_EINVAL, "found 0");
        CHECK_STR(err.field, "users");
        CHECK_ERR(us_vecenv_set_users(v, subset, -3, &err), err, US_EINVAL, "users");
        CHECK_ERR(us_vecenv_set_users(v, bad_lo, 2, &err), err, US_EINVAL, "found -1");
        CHECK_STR(err.field, "users");
        CHECK_ERR(us_vecenv_set_users(v, bad_hi, 2, &err), err, US_EINVAL, "found 60");
        CHECK_STR(err.field, "users");
        us_vecenv_reset(v, obs);
        for (int i = 0; i < N; i++) {
            int in = 0;
            for (int j = 0; j < LEN; j++) in |= subset[j] == obs[i * OBS];
            CHECK(in);
        }
        us_env_free(single);
        us_vecenv_free(v);
    }
    us_sim_close(sim);
}

/* What a vector env of 4 envs gave over some steps. */
enum { SV_N = 4, SV_OBS = 21, SV_STEPS = 100 };
typedef struct sv_trace {
    int32_t obs[SV_STEPS * SV_N * SV_OBS];
    float rewards[SV_STEPS * SV_N];
    uint8_t term[SV_STEPS * SV_N], trunc[SV_STEPS * SV_N];
    int32_t users[SV_STEPS * SV_N];
} sv_trace;

/* The actions of step s: a fixed sequence. */
static void sv_actions(int s, int32_t *a) {
    for (int i = 0; i < SV_N; i++) a[i] = (int32_t)((s * 13 + i * 7 + (s * s) % 11) % 40);
}

/* Steps v steps times from step number `from`, recording into tr (NULL: not recorded; the
 * last observation always into last). */
static void sv_run(us_vecenv *v, int from, int steps, sv_trace *tr, int32_t *last) {
    int32_t a[SV_N];
    float rw[SV_N];
    uint8_t te[SV_N], tu[SV_N];
    int32_t users[SV_N];
    for (int s = 0; s < steps; s++) {
        sv_actions(from + s, a);
        us_vecenv_step(v, a, last, rw, te, tu, users);
        if (!tr) continue;
        memcpy(tr->obs + s * SV_N * SV_OBS, last, SV_N * SV_OBS * sizeof *last);
        memcpy(tr->rewards + s * SV_N, rw, sizeof rw);
        memcpy(tr->term + s * SV_N, te, sizeof te);
        memcpy(tr->trunc + s * SV_N, tu, sizeof tu);
        memcpy(tr->users + s * SV_N, users, sizeof users);
    }
}

static us_env_config sv_config(void) {
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.1; /* episodes end by leaving and by truncation */
    cfg.max_steps = 12;
    return cfg;
}

/* A vector env stopped after 37 steps and saved resumes bit for bit in a fresh one (1 or 2
 * threads, the state saved by 1), with random users and in evaluation order: the same
 * observations at the save, then the same 100 steps as the original went on to take. A fresh
 * env without the state does not (the check has teeth), and the size depends only on n and
 * the config. */
TEST(vecenv_state_save_load_resumes_bit_for_bit) {
    us_sim *sim = make_sim("st.usdb");
    REQUIRE(sim != NULL);
    const us_env_config cfg = sv_config();
    const int32_t subset[4] = {5, 8, 13, 21};
    us_err err;
    us_vecenv *v;
    int32_t obs[SV_N * SV_OBS], at_save[SV_N * SV_OBS], loaded[SV_N * SV_OBS];
    sv_trace *want = malloc(sizeof *want), *got = malloc(sizeof *got);
    REQUIRE(want && got);
    size_t size = 0;
    unsigned char *buf = NULL;
    /* random users; then evaluation order over a user list (the new env gets the same list) */
    for (int eval = 0; eval < 2; eval++) {
        REQUIRE(us_vecenv_init(&v, sim, &cfg, SV_N, 1, 2024, eval, &err) == US_OK);
        if (eval) CHECK_OK(us_vecenv_set_users(v, subset, 4, &err), err);
        size = us_vecenv_state_size(v);
        us_vecenv_reset(v, obs);
        sv_run(v, 0, 37, NULL, at_save);
        CHECK(us_vecenv_state_size(v) == size);
        free(buf);
        buf = malloc(size);
        REQUIRE(buf);
        us_vecenv_state_save(v, buf);
        sv_run(v, 37, SV_STEPS, want, obs);
        int ended = 0, running_at_save = 0;
        for (int k = 0; k < SV_STEPS * SV_N; k++) ended += want->term[k] + want->trunc[k];
        for (int i = 0; i < SV_N; i++) running_at_save += at_save[i * SV_OBS + SV_OBS - 2] >= 0;
        CHECK(ended > 20);          /* episodes end and restart after the load as well */
        CHECK(running_at_save > 0); /* the save caught episodes with steps in them */
        us_vecenv_free(v);

        for (int threads = 1; threads <= 2; threads++) {
            REQUIRE(us_vecenv_init(&v, sim, &cfg, SV_N, threads, 2024, eval, &err) == US_OK);
            if (eval) CHECK_OK(us_vecenv_set_users(v, subset, 4, &err), err);
            CHECK(us_vecenv_state_size(v) == size);
            memset(loaded, 0x5a, sizeof loaded);
            CHECK_OK(us_vecenv_state_load(v, buf, size, loaded, &err), err);
            CHECK(memcmp(loaded, at_save, sizeof at_save) == 0);
            memset(got, 0, sizeof *got);
            sv_run(v, 37, SV_STEPS, got, obs);
            CHECK(memcmp(want, got, sizeof *want) == 0);
            us_vecenv_free(v);
        }
    }
    /* without the state: a fresh start meets other episodes */
    REQUIRE(us_vecenv_init(&v, sim, &cfg, SV_N, 1, 2024, 1, &err) == US_OK);
    CHECK_OK(us_vecenv_set_users(v, subset, 4, &err), err);
    us_vecenv_reset(v, obs);
    sv_run(v, 37, SV_STEPS, got, obs);
    CHECK(memcmp(want, got, sizeof *want) != 0);
    /* a state saved before any reset loads too (every env: no user yet) */
    us_vecenv *fresh;
    REQUIRE(us_vecenv_init(&fresh, sim, &cfg, SV_N, 1, 2024, 1, &err) == US_OK);
    us_vecenv_state_save(fresh, buf);
    CHECK_OK(us_vecenv_state_load(v, buf, size, loaded, &err), err);
    CHECK_EQ_INT(loaded[0], -1);
    us_vecenv_free(fresh);
    us_vecenv_free(v);
    free(buf);
    free(want);
    free(got);
    us_sim_close(sim);
}

/* Little-endian 32-bit field at p (the saved state's layout, env/env.c). */
static void sv_put32(unsigned char *p, uint32_t x) {
    for (int b = 0; b < 4; b++) p[b] = (unsigned char)(x >> (8 * b));
}
static uint32_t sv_get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Corrupt states are refused with US_EFORMAT naming "vecenv state" and saying what was wrong,
 * and the vector env they were loaded into (and its obs) is untouched: it steps exactly as a
 * twin that never saw them. The layout's offsets (env/env.c): a 40-byte header, then per env
 * a record of 64 + 5·max_steps bytes with steps at 44 and the items from 64. */
TEST(vecenv_state_load_refuses_corrupt_states) {
    us_sim *sim = make_sim("sc.usdb");
    REQUIRE(sim != NULL);
    const us_env_config cfg = sv_config();
    us_err err;
    us_vecenv *src, *v, *twin;
    REQUIRE(us_vecenv_init(&src, sim, &cfg, SV_N, 1, 5, 0, &err) == US_OK);
    REQUIRE(us_vecenv_init(&v, sim, &cfg, SV_N, 2, 5, 0, &err) == US_OK);
    REQUIRE(us_vecenv_init(&twin, sim, &cfg, SV_N, 2, 5, 0, &err) == US_OK);
    int32_t obs[SV_N * SV_OBS], tobs[SV_N * SV_OBS], keep[SV_N * SV_OBS];
    us_vecenv_reset(src, obs);
    sv_run(src, 0, 23, NULL, obs);
    /* v and twin: the same run elsewhere in the sequence */
    us_vecenv_reset(v, obs);
    us_vecenv_reset(twin, tobs);
    sv_run(v, 50, 9, NULL, obs);
    sv_run(twin, 50, 9, NULL, tobs);
    const size_t size = us_vecenv_state_size(src);
    const size_t rec = (size - 40) / SV_N;
    REQUIRE(rec == 64 + 5 * (size_t)cfg.max_steps);
    unsigned char *good = malloc(size + 8), *bad = malloc(size + 8);
    REQUIRE(good && bad);
    us_vecenv_state_save(src, good);
    memset(good + size, 0, 8);
    int e = -1; /* an env with steps in its episode */
    for (int i = 0; i < SV_N && e < 0; i++)
        if (sv_get32(good + 40 + i * rec + 44) > 0) e = i;
    REQUIRE(e >= 0);
    unsigned char *er = bad + 40 + (size_t)e * rec;
    memcpy(keep, obs, sizeof obs);

    /* each case: a fresh copy of good with one thing wrong, and what the message says */
    for (int c = 0; c < 11; c++) {
        memcpy(bad, good, size + 8);
        size_t len = size;
        const char *says = "";
        switch (c) {
        case 0: len = size - 1, says = "bytes"; break;
        case 1: len = size + 8, says = "bytes"; break;
        case 2: bad[3] ^= 0x10, says = "magic"; break;
        case 3: sv_put32(bad + 12, (uint32_t)cfg.max_steps + 1), says = "max_steps"; break;
        case 4: sv_put32(er + 44, (uint32_t)cfg.max_steps + 1), says = "steps"; break;
        case 5: sv_put32(er + 44, (uint32_t)-1), says = "steps"; break;
        case 6: sv_put32(er + 64, US_TEST_SIM_ITEMS), says = "item of step 0"; break;
        case 7: sv_put32(er + 64, (uint32_t)-1), says = "item of step 0"; break;
        case 8: sv_put32(er + 40, US_TEST_SIM_USERS), says = "user"; break;
        /* a running episode with no room for its next step */
        case 9: sv_put32(er + 44, (uint32_t)cfg.max_steps), says = "episode running"; break;
        case 10: er[64 + 4 * cfg.max_steps] = 2, says = "reaction of step 0"; break;
        }
        CHECK_ERR(us_vecenv_state_load(v, bad, len, obs, &err), err, US_EFORMAT, says);
        CHECK_STR(err.field, "vecenv state");
        CHECK(memcmp(obs, keep, sizeof obs) == 0);
    }
    /* a state of another seed */
    us_vecenv *other;
    REQUIRE(us_vecenv_init(&other, sim, &cfg, SV_N, 1, 6, 0, &err) == US_OK);
    CHECK_ERR(us_vecenv_state_load(other, good, size, tobs, &err), err, US_EFORMAT, "seed");
    us_vecenv_free(other);
    /* v steps as its twin does */
    sv_trace *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    REQUIRE(a && b);
    sv_run(v, 59, SV_STEPS, a, obs);
    sv_run(twin, 59, SV_STEPS, b, tobs);
    CHECK(memcmp(a, b, sizeof *a) == 0);
    int32_t sobs[SV_N * SV_OBS];
    /* and the good state itself loads: the refusals above were the corruptions' */
    CHECK_OK(us_vecenv_state_load(v, good, size, obs, &err), err);
    sv_run(src, 23, 1, NULL, sobs);
    sv_run(v, 23, 1, NULL, obs);
    CHECK(memcmp(sobs, obs, sizeof obs) == 0);
    free(a);
    free(b);
    free(good);
    free(bad);
    us_vecenv_free(src);
    us_vecenv_free(v);
    us_vecenv_free(twin);
    us_sim_close(sim);
}

/* ---- the feature observation (env.h) and the whole-catalogue views it reads ---- */

/* The full store (keyword and embedding stages added, hashed vectors) opened with the default
 * reaction: every vote, so item vectors, categories and keywords are loaded. */
static us_sim *full_sim(const char *name) {
    char store[1024];
    if (us_test_full_store(name, store) != 0) return NULL;
    us_sim_config c = us_sim_config_default();
    us_sim *sim = NULL;
    us_err err;
    if (us_sim_open(&sim, store, &c, &err) != US_OK) return NULL;
    return sim;
}

/* Checks f (the feature observation of env) against a recomputation from the simulator's
 * per-item accessors and the int32 observation obs of the same state (K pairs). */
static void check_features(us_test_ctx *t_, const us_sim *sim, const us_env *env,
                           const int32_t *obs, const float *f, int K) {
    int D = 0;
    REQUIRE(us_sim_item_vectors(sim, &D, NULL) != NULL);
    /* the stub: mean pros vector of the liked training items that have one */
    const int32_t *items;
    const int8_t *labels;
    const int n = us_sim_history(sim, us_env_user(env), &items, &labels);
    for (int c = 0; c < D; c++) {
        double sum = 0.0;
        int count = 0;
        for (int j = 0; j < n; j++) {
            const float *x = us_sim_item_vector(sim, items[j], 0, NULL);
            if (labels[j] == 1 && x) {
                sum += x[c];
                count++;
            }
        }
        CHECK_NEAR(f[c], count ? sum / count : 0.0, 1e-6);
    }
    for (int k = 0; k < K; k++) {
        const float *p = f + D + k * (D + 1);
        const int32_t item = obs[1 + 2 * k], like = obs[2 + 2 * k];
        const float *x = item >= 0 ? us_sim_item_vector(sim, item, 0, NULL) : NULL;
        for (int c = 0; c < D; c++) CHECK(p[c] == (x ? x[c] : 0.0f));
        CHECK(p[D] == (item < 0 ? 0.0f : like ? 1.0f : -1.0f));
    }
}

TEST(env_features_match_the_simulator) {
    us_sim *sim = full_sim("f.usdb");
    REQUIRE(sim != NULL);
    int D = 0;
    const uint8_t *has = NULL;
    const float *mat = us_sim_item_vectors(sim, &D, &has);
    REQUIRE(mat != NULL && has != NULL);
    CHECK_EQ_INT(D, 384); /* the fixture's hashed embedder */
    const int V = us_sim_n_items(sim);
    /* the matrix is the per-item accessor's rows, zeros where it has none */
    int with_vec = 0;
    for (int i = 0; i < V; i++)
        for (int side = 0; side < 2; side++) {
            const float *x = us_sim_item_vector(sim, i, side, NULL);
            const float *row = mat + ((size_t)i * 2 + (size_t)side) * (size_t)D;
            CHECK_EQ_INT(has[i * 2 + side], x != NULL);
            with_vec += x != NULL;
            for (int c = 0; c < D; c++) CHECK(row[c] == (x ? x[c] : 0.0f));
        }
    CHECK(with_vec > V); /* most items have both sides */
    /* categories and keywords likewise */
    int n_cats = 0;
    const int32_t *cat = us_sim_item_categories(sim, &n_cats);
    REQUIRE(cat != NULL);
    /* (the synthetic items carry no category: every index is -1 here) */
    for (int i = 0; i < V; i++) CHECK(cat[i] >= -1 && cat[i] < n_cats);
    for (int i = 0; i < V; i++)
        CHECK_STR(us_sim_category(sim, i), cat[i] < 0 ? "" : us_sim_category_name(sim, cat[i]));
    CHECK_STR(us_sim_category_name(sim, n_cats), "");
    const uint32_t nk = us_sim_n_keywords(sim);
    CHECK(nk > 0);
    for (int side = 0; side < 2; side++) {
        const uint32_t *off, *ids;
        const uint32_t total = us_sim_keyword_csr(sim, side, &off, &ids);
        REQUIRE(off != NULL && ids != NULL);
        CHECK_EQ_INT(off[0], 0);
        CHECK_EQ_INT(off[V], total);
        if (side == 0) CHECK(total > 0);
        for (int i = 0; i < V; i++) {
            const uint32_t *run;
            const int m = us_sim_item_keywords(sim, i, side, &run);
            CHECK_EQ_INT(m, (int)(off[i + 1] - off[i]));
            CHECK(run == ids + off[i]);
            for (int k = 0; k < m; k++) CHECK(run[k] < nk);
        }
    }
    CHECK(us_sim_keyword_csr(sim, 2, NULL, NULL) == 0);

    us_env_config cfg = us_env_config_default();
    cfg.obs_len = 3;
    cfg.max_steps = 7;
    cfg.leave_prob = 0.0;
    cfg.leave_gain = 0.0;
    us_env *env;
    us_err err;
    REQUIRE(us_env_init(&env, sim, &cfg, &err) == US_OK);
    const int F = us_env_features_size(env);
    CHECK_EQ_INT(F, D + 3 * (D + 1));
    float *f = malloc((size_t)F * sizeof *f);
    REQUIRE(f != NULL);
    int32_t obs[7];
    us_rng act = us_rng_derive(4, 0);
    int likes = 0, misses = 0;
    for (int u = 0; u < 12; u++) {
        us_env_reset(env, 100 + (uint64_t)u, u, obs);
        us_env_features(env, f);
        check_features(t_, sim, env, obs, f, 3);
        for (int k = D; k < F; k++) CHECK(f[k] == 0.0f); /* no steps yet: all padding */
        while (!us_env_done(env)) {
            us_env_step_result r;
            us_env_step(env, (int32_t)us_rng_bounded(&act, (uint32_t)V), obs, &r);
            likes += r.reward > 0;
            misses += r.reward == 0;
            us_env_features(env, f);
            check_features(t_, sim, env, obs, f, 3);
        }
    }
    CHECK(likes > 0 && misses > 0);
    free(f);
    us_env_free(env);
    us_sim_close(sim);

    /* a sim without item vectors has no feature observation */
    us_sim *plain = make_sim("fp.usdb");
    REQUIRE(plain != NULL);
    CHECK(us_sim_item_vectors(plain, &D, &has) == NULL);
    CHECK_EQ_INT(D, 0);
    CHECK(has == NULL);
    CHECK(us_sim_keyword_csr(plain, 0, NULL, NULL) == 0);
    CHECK_EQ_INT(us_sim_n_keywords(plain), 0);
    REQUIRE(us_env_init(&env, plain, &cfg, &err) == US_OK);
    CHECK_EQ_INT(us_env_features_size(env), 0);
    us_env_free(env);
    us_sim_close(plain);
}

TEST(vecenv_features_equal_single_envs) {
    us_sim *sim = full_sim("fv.usdb");
    REQUIRE(sim != NULL);
    us_env_config cfg = us_env_config_default();
    cfg.leave_prob = 0.2;
    cfg.max_steps = 8;
    cfg.obs_len = 4;
    enum { N = 5, STEPS = 40, OBS = 9 };
    int D = 0;
    REQUIRE(us_sim_item_vectors(sim, &D, NULL) != NULL);
    const int F = D + 4 * (D + 1);
    us_err err;
    float *vf = malloc(sizeof(float) * N * F), *sf = malloc(sizeof(float) * F);
    REQUIRE(vf && sf);
    for (int threads = 1; threads <= 3; threads += 2) {
        us_vecenv *v;
        REQUIRE(us_vecenv_init(&v, sim, &cfg, N, threads, 77, 0, &err) == US_OK);
        CHECK_EQ_INT(us_vecenv_features_size(v), F);
        int32_t vobs[N * OBS], vusers[N], sobs[OBS];
        float vr[N];
        uint8_t vt[N], vu[N];
        us_env *env[N];
        uint64_t k[N] = {0, 0, 0, 0, 0};
        us_vecenv_reset(v, vobs);
        us_vecenv_features(v, vf);
        for (int i = 0; i < N; i++) {
            REQUIRE(us_env_init(&env[i], sim, &cfg, &err) == US_OK);
            us_env_reset(env[i], us_vecenv_episode_seed(77, (uint64_t)i, k[i]++),
                         US_ENV_RANDOM_USER, sobs);
            us_env_features(env[i], sf);
            CHECK(memcmp(sf, vf + i * F, sizeof(float) * F) == 0);
        }
        us_rng act = us_rng_derive(11, 0);
        int ended = 0;
        for (int s = 0; s < STEPS; s++) {
            int32_t a[N];
            for (int i = 0; i < N; i++) a[i] = (int32_t)us_rng_bounded(&act, 40);
            us_vecenv_step(v, a, vobs, vr, vt, vu, vusers);
            us_vecenv_features(v, vf);
            for (int i = 0; i < N; i++) {
                us_env_step_result r;
                us_env_step(env[i], a[i], sobs, &r);
                if (r.terminated || r.truncated) {
                    ended++;
                    us_env_reset(env[i], us_vecenv_episode_seed(77, (uint64_t)i, k[i]++),
                                 US_ENV_RANDOM_USER, sobs);
                }
                us_env_features(env[i], sf);
                CHECK(memcmp(sf, vf + i * F, sizeof(float) * F) == 0);
            }
        }
        CHECK(ended > 5); /* resets happen in the vector env's step */
        for (int i = 0; i < N; i++) us_env_free(env[i]);
        us_vecenv_free(v);
    }
    free(vf);
    free(sf);
    us_sim_close(sim);
}
