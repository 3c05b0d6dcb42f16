/* env.h — the public header of the env room: the simulated users of a us_sim as a Gym-like
 * environment (reset / step, seeds, episodes), one at a time (us_env) or many in one call over
 * threads (us_vecenv), writing into arrays the caller owns (PufferLib's Ocean shape).
 *
 *   us_env_config cfg = us_env_config_default();
 *   us_env *env;
 *   if (us_env_init(&env, sim, &cfg, &err) != US_OK) ...;
 *   int32_t obs[US_ENV_OBS_MAX];                           // us_env_obs_size(env) used
 *   us_env_reset(env, 42, US_ENV_RANDOM_USER, obs);
 *   us_env_step_result r;
 *   us_env_step(env, item, obs, &r);                      // r.reward, r.terminated, ...
 *
 * Semantics (Gymnasium's): an episode is one simulated user receiving one recommended item per
 * step. The reward is 1 when the user likes the item (simulator.h: chooses it and judges it
 * liked), else 0. After each step the user leaves (`terminated`) with a probability that
 * follows their satisfaction:
 *   s_t      = cfg.leave_decay · s_{t-1} + (1 if step t earned no like, else -1),  s_0 = 0
 *   p_leave  = min(1, cfg.leave_prob · exp(cfg.leave_gain · s_t))
 * so dislikes (and ignored or repeated items) make leaving likelier and likes make it rarer.
 * leave_gain = 0 is the paper's constant leave_prob (0.025). The defaults (leave_gain 0.35,
 * leave_decay 0.8) are not fitted to data (no public dataset here logs sessions): they keep
 * the paper's 0.025 for a user whose recent likes and dislikes balance, and move it between
 * 0.025·e^-1.75 = 0.004 after a long run of likes (an expected session of ~230 steps) and
 * 0.025·e^1.75 = 0.14 after a long run of misses (~7 steps), so a policy that pleases keeps its
 * users longer. Reaching cfg.max_steps steps without leaving
 * ends it as `truncated`. In evaluation order (reset with US_ENV_NEXT_USER) users come 0, 1,
 * 2, ... and never leave early, so every user gets exactly max_steps steps (us_env_reset_eval
 * starts such an episode for a chosen user).
 *
 * Observation: int32 [user, then the last cfg.obs_len (item, reaction) pairs of the episode,
 * oldest first, padded at the front with (-1, -1)]; reaction 1 like, 0 not. A second,
 * float32 observation of the same state, for a policy that takes plain features (an MLP), is
 * us_env_features below.
 *
 * Randomness: reset(seed) draws the user (US_ENV_RANDOM_USER) from a stream of seed, and step t
 * of the episode draws its reaction (simulator.h: engagement, judge, ties) from the stream
 * derived from (seed, "react", t) and its leaving from the stream derived from (seed, "leave",
 * t): one stream per purpose, so two policies run with the same seed meet the same world: their
 * episodes end at the same step whenever their reactions agree (paired randomness, common
 * random numbers). Nothing here allocates after init or touches a file: a step is the
 * simulator's reaction.
 */
#ifndef USERSIM_ENV_H
#define USERSIM_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "simulator/simulator.h"

#ifdef __cplusplus
extern "C" {
#endif

#define US_ENV_RANDOM_USER (-1) /* reset: a user drawn uniformly from the seed's generator */
#define US_ENV_NEXT_USER (-2)   /* reset: the next user in evaluation order (0, 1, 2, ...) */
#define US_ENV_MAX_OBS_LEN 256
#define US_ENV_OBS_MAX (1 + 2 * US_ENV_MAX_OBS_LEN)

typedef struct us_env_config {
    int max_steps;         /* steps before truncation; 50 */
    double leave_prob;     /* the leave probability of a balanced user (above); 0.025 */
    int obs_len;           /* (item, reaction) pairs in the observation; 10 */
    int mask_repeats;      /* 1: an item already recommended in the episode earns 0 without
                              asking the user (reaction "repeat"); 0: the simulator's rule
                              (simulator.h, "Known items") decides */
    double leave_gain;     /* how strongly satisfaction moves leaving (above), 0..10; 0.35 */
    double leave_decay;    /* memory of the satisfaction state, 0..1 (exclusive); 0.8 */
} us_env_config;

us_env_config us_env_config_default(void);

/* US_OK when every field is in range; else US_EINVAL naming the field. */
us_status us_env_config_validate(const us_env_config *cfg, us_err *err);

typedef struct us_env us_env;

typedef struct us_env_step_result {
    float reward;
    int terminated;           /* the user left */
    int truncated;            /* max_steps reached */
    int repeat;               /* the item was already recommended (with mask_repeats) */
    us_sim_reaction reaction; /* why: each vote, its score, the matched keywords */
} us_env_step_result;

/* Borrows sim (shared, must outlive the env); copies cfg. Caller owns *out; release with
 * us_env_free(). */
us_status us_env_init(us_env **out, const us_sim *sim, const us_env_config *cfg, us_err *err);
void us_env_free(us_env *env);

/* Memory: an env takes about us_env_bytes_estimate(cfg) bytes: US_ENV_BYTES_BASE for its
 * simulator worker's fixed scratch (the SASRec heads' activations for a batch of 64 dominate:
 * about 194 KiB measured on the stores `usersim build` makes with its default SASRec sizes,
 * rounded up; a larger SASRec takes more) plus 21 bytes a step of max_steps (the episode's
 * items and reactions and the worker's four history buffers); over a sim with item vectors, D
 * floats more for the feature observation's user stub (1.5 KiB at D = 384), inside the base's
 * rounding for the dimensions in use. A vector env refuses to take
 * more than US_VECENV_MAX_BYTES by that estimate (with the defaults, about 32 000 envs). */
#define US_ENV_BYTES_BASE ((uint64_t)256 << 10)
#define US_ENV_BYTES_PER_STEP 21
#define US_VECENV_MAX_BYTES ((uint64_t)8 << 30)
uint64_t us_env_bytes_estimate(const us_env_config *cfg);

/* Length of an observation: 1 + 2 * cfg.obs_len. */
int us_env_obs_size(const us_env *env);

/* Starts an episode for user (an id, US_ENV_RANDOM_USER or US_ENV_NEXT_USER) with the episode
 * generator seeded from seed; writes the first observation (no pairs yet) into obs. Returns
 * the user. A user id out of range is a programmer error (check with us_sim_n_users). */
int32_t us_env_reset(us_env *env, uint64_t seed, int32_t user, int32_t *obs);

/* As us_env_reset with a user id, but the episode is one of evaluation order: the user never
 * leaves early (what US_ENV_NEXT_USER and a vector env made with eval_order do with the users
 * they choose). Replays a vector env's evaluation-order episode given its seed and user. */
int32_t us_env_reset_eval(us_env *env, uint64_t seed, int32_t user, int32_t *obs);

/* Recommends item (0 <= item < n_items; a programmer error otherwise) to the episode's user;
 * writes the next observation into obs and the outcome into *out. Stepping an episode that
 * has ended is a programmer error: reset first. No allocation, no I/O. */
void us_env_step(us_env *env, int32_t item, int32_t *obs, us_env_step_result *out);

/* The episode's user, its step count, and whether it has ended. */
int32_t us_env_user(const us_env *env);
int us_env_steps(const us_env *env);
int us_env_done(const us_env *env);

/* mask[i] = 1 for every item not yet recommended in this episode, 0 for those that were
 * (n_items entries). */
void us_env_action_mask(const us_env *env, uint8_t *mask);

/* The probability that the user leaves after the last step (p_leave above; 0 before the first
 * step and in evaluation order). */
double us_env_leave_prob(const us_env *env);

/* ------------------------------------------------------------------------------------------
 * Feature observation: the same state as floats a plain MLP takes (Python: observation=
 * "features")
 *
 *   int F = us_env_features_size(env);         // 0: the sim holds no item vectors
 *   float *f = malloc((size_t)F * sizeof *f);
 *   us_env_reset(env, seed, US_ENV_RANDOM_USER, obs);
 *   us_env_features(env, f);                   // and after every us_env_step
 *
 * With D the item-vector dimension (us_sim_item_vectors) and K = cfg.obs_len, F = D + K·(D + 1)
 * floats:
 *   f[0 .. D)   the user stub: the mean of the pros vectors (side 0) of the items the user liked
 *               in training (label 1) that have one; all zeros when none does. Fixed per user:
 *               a content profile standing in for a learned user embedding.
 *   then K pairs (D + 1 floats each) for the episode's last K steps, oldest first, the same
 *               steps as the int32 observation's pairs: the item's pros vector (zeros when it
 *               has none) and its reaction, +1 like, -1 not (disliked, not chosen, repeat);
 *               padded at the front with all-zero pairs (reaction 0) while the episode is
 *               shorter than K.
 * The vectors are L2-normalized (simulator.h), so every entry is in [-1, 1]. A cold user (no
 * liked vector) and a cold item (no vector) are zeros, never NaN.
 * ---------------------------------------------------------------------------------------- */

/* F above; 0 when the sim holds no item vectors (its store has no embed stage, or it was
 * opened without the embedding vote), when us_env_features must not be called. */
int us_env_features_size(const us_env *env);

/* Writes env's current feature observation (F floats) into out: after a reset, the user stub
 * and K zero pairs. The stub is computed at the first call after the user changes (history
 * length · D additions in double) and kept, so later calls copy K·(D + 1) floats. No
 * allocation, no I/O. Borrows out for the call. */
void us_env_features(us_env *env, float *out);

/* ------------------------------------------------------------------------------------------
 * Policy sanity check: what a good environment must show (`usersim eval-sim` prints it)
 * ---------------------------------------------------------------------------------------- */

typedef enum us_policy {
    US_POLICY_RANDOM = 0,   /* a uniformly random item each step */
    US_POLICY_CONSTANT = 1, /* the most popular item (training interactions), every step */
    US_POLICY_POPULAR = 2,  /* the most popular item the user has not met (training history or
                               this episode) */
    US_POLICY_SASREC = 3,   /* the next-item head's best item the user has not met: greedy */
} us_policy;
#define US_NPOLICIES 4

typedef struct us_policy_report {
    uint64_t episodes;
    double mean_return[US_NPOLICIES];  /* likes per episode */
    double return_ci[US_NPOLICIES];    /* 95% half-width over episodes */
    double like_rate[US_NPOLICIES];    /* likes per step */
    double mean_length[US_NPOLICIES];  /* steps per episode */
    int has_sasrec;                    /* the sim has a next-item head (choose) */
    /* the checks: random < popular < sasrec-greedy in return, constant <= random */
    int ordered, constant_ok;
} us_policy_report;

/* Runs `episodes` episodes of each policy with env config cfg: episode k of every policy is
 * reset with the same seed (derived from seed and k) and a random user, so the policies meet
 * the same users and random numbers. The SASRec policy needs the sim's next-item head (choose);
 * without it, its figures stay 0 and has_sasrec 0. US_EINVAL for episodes outside 1..10^7 or a
 * bad cfg. Borrows sim for the call. */
us_status us_policy_check(const us_sim *sim, const us_env_config *cfg, int episodes,
                          uint64_t seed, us_policy_report *out, us_err *err);

/* ------------------------------------------------------------------------------------------
 * Vector environment: n envs stepped in one call over n_threads threads (the caller's
 * thread plus n_threads - 1 workers), with automatic reset.
 * ---------------------------------------------------------------------------------------- */

typedef struct us_vecenv us_vecenv;

/* Env i's k-th episode is seeded with a value derived from (seed, i, k) and starts with a
 * random user (or, with eval_order, users i, i + n, i + 2n, ... in turn), so results do not
 * depend on n_threads. US_EINVAL, before anything is allocated, when n is below 1 or
 * n · us_env_bytes_estimate(cfg) exceeds US_VECENV_MAX_BYTES (the message gives the estimate),
 * or n_threads is outside 1..1024. Borrows sim; copies cfg. Caller owns *out; release with
 * us_vecenv_free(). */
us_status us_vecenv_init(us_vecenv **out, const us_sim *sim, const us_env_config *cfg, int n,
                         int n_threads, uint64_t seed, int eval_order, us_err *err);
void us_vecenv_free(us_vecenv *v);

int us_vecenv_n(const us_vecenv *v);

/* The seed of env i's k-th episode (k from 0) in a vector env made with seed: a single us_env
 * reset with it replays that episode exactly (observations, rewards, flags), given
 * US_ENV_RANDOM_USER or the user the vector env gave the episode (the user is the only thing
 * drawn from the seed's user stream; reactions and leaving come from its other streams). With
 * eval_order the vector env chooses the user and the episode never ends early: replay it with
 * us_env_reset_eval and that user. After us_vecenv_set_users the user comes from the list, so
 * replay with the user given (US_ENV_RANDOM_USER would draw from every user). */
uint64_t us_vecenv_episode_seed(uint64_t seed, uint64_t i, uint64_t k);

/* Resets every env; obs (n, obs_size). */
void us_vecenv_reset(us_vecenv *v, int32_t *obs);

/* Steps env i with actions[i], for every i, writing obs (n, obs_size), rewards (n),
 * terminated (n), truncated (n); the reward is the reaction (1 like, 0 not). An env whose
 * episode ended is reset in the same call: its obs row is then the new episode's first
 * observation, and its reward and flags are the ended episode's last step (Gymnasium's
 * same-step autoreset). users (n, may be NULL) receives each env's current user after the
 * call. Borrows every array for the call. */
void us_vecenv_step(us_vecenv *v, const int32_t *actions, int32_t *obs, float *rewards,
                    uint8_t *terminated, uint8_t *truncated, int32_t *users);

/* Every env's current feature observation (us_env_features) into out (n, F), F =
 * us_vecenv_features_size(v) (0: the sim holds no item vectors, when this must not be called),
 * over the vector env's threads. Call it after us_vecenv_reset or us_vecenv_step: an env that
 * was reset in the step gives its new episode's first features, as its obs row does. Nothing
 * is allocated: out is the caller's, written in place. Borrows out for the call. */
int us_vecenv_features_size(const us_vecenv *v);
void us_vecenv_features(us_vecenv *v, float *out);

/* Users of the episodes: env resets of v draw their user uniformly from users[0..n) instead
 * of from every user (one draw from the episode seed's user stream, as before: the list of
 * every user 0..N-1 in order changes nothing), or, with eval_order, env i's k-th episode takes
 * users[(i + k·n_envs) mod n], so envs walk users[i], users[i + n_envs], ... in turn.
 * Takes effect at the next reset (call us_vecenv_reset after it). US_EINVAL naming "users"
 * for n < 1 or an id out of range (v is then unchanged). Training on some users and
 * evaluating on the others uses it. Copies the list, which v owns until us_vecenv_free. */
us_status us_vecenv_set_users(us_vecenv *v, const int32_t *users, int n, us_err *err);

/* The vector env's whole mutable state (every env's episode so far, satisfaction, streams,
 * episode counters), so that a training run can stop and resume bit for bit: save writes
 * us_vecenv_state_size(v) bytes into buf (a fixed layout: the size depends only on n and
 * cfg.max_steps); load restores them into a vector env made with the same sim, config, n,
 * seed, eval_order and users, with any n_threads (US_EFORMAT naming "vecenv state", saying
 * what was wrong, when len or the contents do not fit it; v is then unchanged). Observations
 * are not part of the state: load writes the current observation of every env into obs
 * (n, obs_size). Borrows buf and obs for the call. */
size_t us_vecenv_state_size(const us_vecenv *v);
void us_vecenv_state_save(const us_vecenv *v, void *buf);
us_status us_vecenv_state_load(us_vecenv *v, const void *buf, size_t len, int32_t *obs,
                               us_err *err);

#ifdef __cplusplus
}
#endif
#endif
