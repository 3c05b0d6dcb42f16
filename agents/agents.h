/* agents.h — the public header of the agents room: recommendation policies that meet the
 * simulated users of env/ — baselines that do not learn (random, most popular, SASRec greedy,
 * epsilon-greedy, an oracle), learners (DQN, A2C, PPO, TRPO: one file each), their training
 * runs (learning curve, checkpoints, resume), evaluation with common random numbers, and a
 * simulated A/B test.
 *
 *   us_agent_policy pol;
 *   us_baseline_init(&pol, sim, "popular", &err);          // or us_run_policy_open(run dir)
 *   us_eval_config ec = us_eval_config_default();
 *   us_eval_result res;
 *   us_eval(sim, &pol, &ec, &res, &err);                   // res.total_reward.mean, ...
 *   us_agent_policy_free(&pol);
 *
 *   us_train_config tc = us_train_config_default();
 *   tc.agent = "ppo"; tc.steps = 200000; tc.out_dir = "runs/ppo";
 *   us_train(sim, "games.usdb", &tc, &report, &err);       // curve.csv, checkpoint.bin
 *
 * Observations (env.h): int32 [user, then (item, reaction) pairs of the episode, oldest first,
 * padded at the front with (-1, -1)]. Every policy here maps a batch of observations to a batch
 * of items. The runs below (training, evaluation, A/B) make the env's obs_len equal to its
 * max_steps, so an observation holds the whole episode and a policy needs nothing else to avoid
 * repeating itself.
 *
 * What a recommender may know (DESIGN.md: agents use the simulator only for its SASRec serving
 * and interests, plus what a real recommender has): the store's training split (each user's
 * logged history with its labels, item popularity, item text vectors, categories), never the
 * simulated users' reactions except through the env's rewards. The oracle is the exception,
 * by design: it reads the simulator's own like probability, and is the ceiling.
 */
#ifndef USERSIM_AGENTS_H
#define USERSIM_AGENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "env/env.h"
#include "simulator/simulator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Policies: anything that maps observations to items
 * ---------------------------------------------------------------------------------------- */

typedef struct us_agent_policy {
    char name[64];
    void *self;
    /* Writes actions[b] (an item id) for each of the B observations obs (B, obs_size). rngs
     * (B, may be NULL for a policy that draws nothing) holds one stream per row for the
     * policy's own draws, advanced in place: the caller derives them from the episode, so two
     * runs with the same seed draw the same numbers. Must not keep pointers to its inputs. */
    void (*act)(void *self, const int32_t *obs, int B, int obs_size, us_rng *rngs,
                int32_t *actions);
    void (*free)(void *self);
} us_agent_policy;

/* Frees pol->self with pol->free and zeroes *pol. NULL or a zeroed policy is a no-op. */
void us_agent_policy_free(us_agent_policy *pol);

/* Items a policy must not recommend to the user of one observation: the user's training
 * history (a repeat earns no like, simulator.h "Known items") when skip_known is 1, and the
 * items already recommended in the observation's episode. Sets scores[i] = -INFINITY for
 * each (scores: n_items floats). If every item would be masked, leaves scores unchanged.
 * Borrows everything for the call. */
void us_agent_mask(const us_sim *sim, const int32_t *obs, int obs_size, int skip_known,
                   float *scores);

/* The index of the largest score (the first on equal scores; -INFINITY rows give 0). */
int32_t us_agent_argmax(const float *scores, int n);

/* ------------------------------------------------------------------------------------------
 * Baselines (agents/baselines.c): policies that do not learn from rewards
 * ---------------------------------------------------------------------------------------- */

/* name is one of
 *   "random"          a uniformly random item the user has not met (history or episode)
 *   "popular"         the item with the most likes in the training split that the user has
 *                     not met
 *   "sasrec"          the store's next-item head's best item the user has not met (greedy;
 *                     US_ENOTFOUND when the store has no next-item head)
 *   "egreedy:EPS"     sasrec, but with probability EPS (0..1) a random unmet item
 *   "oracle"          the unmet item with the largest probability that the simulated user
 *                     likes it (simulator.h p_reward = p_engage · score): the myopic ceiling.
 *                     It costs one reaction per item per step.
 * US_EINVAL naming "policy" for any other name. Borrows sim, which must outlive the policy.
 * Caller owns *out; release with us_agent_policy_free(). */
us_status us_baseline_init(us_agent_policy *out, const us_sim *sim, const char *name,
                           us_err *err);

/* ------------------------------------------------------------------------------------------
 * Hyperparameters: each declared once, with its default, range and help text
 * ---------------------------------------------------------------------------------------- */

typedef struct us_hparam {
    const char *name;  /* the command-line option without dashes: "learning-rate" */
    double def;        /* the default */
    double lo, hi;     /* the accepted range, inclusive */
    int is_int;        /* 1: a whole number */
    const char *help;  /* one line for `usersim train --agent X --help` */
} us_hparam;

/* A set of values for an agent's hyperparameters, in the order of its table. */
#define US_MAX_HPARAMS 48
typedef struct us_hvalues {
    int n;
    double v[US_MAX_HPARAMS];
} us_hvalues;

/* The agent names train accepts ("dqn", "a2c", "ppo", "trpo"), NULL-terminated. */
extern const char *const us_agent_names[];

/* The table of agent name: the network's shared hyperparameters first (us_net_hparams), then
 * the algorithm's own. US_EINVAL naming "agent" for an unknown name. Borrowed, static. */
us_status us_agent_hparams(const char *agent, const us_hparam **table, int *n, us_err *err);

/* Fills *out with agent's defaults. */
us_status us_agent_defaults(const char *agent, us_hvalues *out, us_err *err);

/* Sets hyperparameter name (underscores accepted for dashes) to value; US_EINVAL naming the
 * hyperparameter for an unknown name, a value out of range or a fraction for a whole number. */
us_status us_agent_set(const char *agent, us_hvalues *vals, const char *name, double value,
                       us_err *err);

/* ------------------------------------------------------------------------------------------
 * The policy network (agents/net.c), shared by every learner
 * ---------------------------------------------------------------------------------------- */

/* For one observation of user u with episode pairs P and u's last hist_len training
 * interactions H (store labels like / dislike / none):
 *   a      = mean over (i, l) in H of E[i] + R[l]           (0 when H is empty)      (D)
 *   e      = mean over (i, r) in P of E[i] + R[3 + r]       (0 when P is empty)      (D)
 *   z      = [a, e]                                                                  (2D)
 *   h1     = relu(W1·z + b1)                                                         (Hd)
 *   h      = W2·h1 + b2 + a      (a residual path: scores start as similarity to H)  (D)
 *   scores = O·h + o        (one per item: policy logits, or Q-values for DQN)       (V)
 *   value  = w_v·h1 + b_v                                                            (1)
 * E (V, D) input item embeddings, R (5, D) reaction embeddings (history dislike, like, none;
 * episode miss, like), O (V, D) output item embeddings. With text_init, E and O start as the
 * store's item text vectors (pros side, L2-normalized) through one fixed random projection to
 * D dimensions scaled to the default init's norm, so items with similar text start close;
 * otherwise from N(0, 0.02²). Everything lives in one nn_block (params | grads | m | v). */
typedef struct us_net_config {
    int dim;       /* D; 32 */
    int hidden;    /* Hd; 128 */
    int hist_len;  /* training interactions per user read, the newest; 50 (0: none) */
    int text_init; /* 1: E and O from the item text vectors (when the store has them); 0 */
    double pop_init; /* o starts at pop_init · (log(1 + likes_i) - log(1 + max likes)), likes
                        in the training split: popular items first; 0 (o starts at 0).
                        Measured at 1: on the test store PPO (200k steps) 11.8 -> 10.4 and DQN
                        (50k) 13.4 -> 10.5 held-out return; on a MovieLens-shaped store A2C
                        (100k) 15.9 -> 17.6: a prior that helps only where popularity is
                        hard to beat */
} us_net_config;

/* The net's hyperparameters ("dim", "hidden", "hist-len", "text-init", "pop-init"): the first
 * entries of every agent's table. */
extern const us_hparam us_net_hparams[];
#define US_NET_NHPARAMS 5
/* Reads the net's part of an agent's values. */
us_net_config us_net_config_from(const us_hvalues *vals);

typedef struct us_net us_net;

/* A net for sim's catalogue, observations of obs_size ints, forward batches of up to
 * max_batch rows, parameters initialized from seed. Borrows sim, which must outlive the net.
 * Caller owns *out; release with us_net_free(). */
us_status us_net_init(us_net **out, const us_sim *sim, const us_net_config *cfg, int obs_size,
                      int max_batch, uint64_t seed, us_err *err);
void us_net_free(us_net *net);

/* Forward over B <= max_batch observations (B, obs_size): scores (B, V) or NULL (skipped),
 * values (B) or NULL. Keeps what backward needs (for the last forward only). No allocation. */
void us_net_forward(us_net *net, const int32_t *obs, int B, float *scores, float *values);
/* Accumulates the gradient of a loss with ∂loss/∂scores = dscores (B, V; may be NULL) and
 * ∂loss/∂values = dvalues (B; may be NULL) into the net's gradients, for the last forward's
 * rows. Zero them first with us_net_zero_grad. */
void us_net_backward(us_net *net, const float *dscores, const float *dvalues, int B);
/* Forward-mode derivative: dscores (B, V) = the derivative of the last forward's scores in the
 * parameter direction dparams (nparams floats), at the same observations (TRPO's Fisher-vector
 * products). Call right after a us_net_forward of the same rows. */
void us_net_jvp(us_net *net, const float *dparams, int B, float *dscores);
/* One score per row, q (B) = the score of items[b] (each in [0, V)) for observation b: the
 * same trunk as us_net_forward without the catalogue-wide sgemm (what a Q-learning loss at
 * the taken actions needs). Borrows obs and items until the next forward. */
void us_net_forward_at(us_net *net, const int32_t *obs, int B, const int32_t *items, float *q);
/* Accumulates into the gradients the backward of the last us_net_forward_at, given dq (B):
 * only the rows' items get score gradients. */
void us_net_backward_at(us_net *net, const float *dq, int B);

void us_net_zero_grad(us_net *net);
size_t us_net_nparams(const us_net *net);
float *us_net_params(us_net *net);
float *us_net_grads(us_net *net);
/* Adam's moments, laid out as the parameters. */
float *us_net_adam_m(us_net *net);
float *us_net_adam_v(us_net *net);
int us_net_n_items(const us_net *net);
int us_net_obs_size(const us_net *net);
const us_net_config *us_net_config_of(const us_net *net);
/* Copies src's parameters into dst (same config, same sim): target networks. */
void us_net_copy(us_net *dst, const us_net *src);

/* ------------------------------------------------------------------------------------------
 * Evaluation with common random numbers (agents/eval.c)
 * ---------------------------------------------------------------------------------------- */

typedef struct us_eval_config {
    int episodes;        /* evaluation users (episodes, one per user); 500 */
    uint64_t seed;       /* the world: the same seed gives every policy the same users and
                            reactions' random numbers; 7 */
    int threads;         /* env threads; 1 */
    us_env_config env;   /* the episode rules (obs_len is set to max_steps) */
    const int32_t *users;/* the users to draw from (NULL: every user) */
    int n_users;
} us_eval_config;

us_eval_config us_eval_config_default(void);

/* A figure with its 95% confidence interval's half-width over users. */
typedef struct us_metric {
    double mean, ci;
} us_metric;

/* The evaluation's figures (every figure of one episode per user):
 *   avg_reward    mean over users of (likes / steps) in their episode
 *   total_reward  mean over users of likes in the episode (the return)
 *   liking        100 · all likes / all recommendations (pooled: long episodes weigh more)
 *   length        mean steps per episode
 *   coverage      100 · distinct items recommended / catalogue size (its interval by a
 *                 bootstrap over users)
 *   novelty       100 · mean over users of the share of their recommendations whose category
 *                 is absent from their training history (0 without categories) */
typedef struct us_eval_result {
    char policy[64];
    int episodes;
    us_metric avg_reward, total_reward, liking, length, coverage, novelty;
} us_eval_result;

/* Runs cfg->episodes episodes of pol against sim: episode k meets the user and random numbers
 * derived from (cfg->seed, k) whatever the policy (common random numbers); the policy's rngs
 * are derived from them too. per_user_return (cfg->episodes floats, may be NULL) receives each
 * episode's return, and per_user_length its length, for paired comparisons. Borrows
 * everything for the call. */
us_status us_eval(const us_sim *sim, us_agent_policy *pol, const us_eval_config *cfg,
                  us_eval_result *out, double *per_user_return, double *per_user_length,
                  us_err *err);

/* A simulated A/B test: arms a and b meet the same users with the same random numbers.
 * Differences are b - a, paired by user. */
typedef struct us_ab_arm {
    us_metric like_rate; /* likes per step (pooled ratio; interval by the delta method) */
    us_metric ret;       /* return (likes per user) */
    us_metric length;    /* session length */
} us_ab_arm;

typedef struct us_ab_result {
    int users;
    us_ab_arm a, b;
    us_metric diff_return, diff_length, diff_like_rate; /* b - a, paired, 95% */
    double lift;            /* (return_b - return_a) / return_a; NAN when return_a is 0 */
    double p_value;         /* two-sided, paired, on returns (the t statistic read against
                               the normal: accurate from some 30 users) */
    double users_needed;    /* users per arm for the observed return difference to be found
                               at 80% power, 5% two-sided: (1.96 + 0.8416)²·sd_d² / d²
                               (INFINITY when d = 0) */
} us_ab_result;

us_status us_ab(const us_sim *sim, us_agent_policy *a, us_agent_policy *b,
                const us_eval_config *cfg, us_ab_result *out, us_err *err);

/* ------------------------------------------------------------------------------------------
 * Training runs (agents/train.c)
 * ---------------------------------------------------------------------------------------- */

typedef struct us_train_config {
    const char *agent;      /* "dqn", "a2c", "ppo", "trpo" */
    us_hvalues hp;          /* its hyperparameters (us_agent_defaults); n = 0: the defaults */
    uint64_t steps;         /* env steps in all; 100000 */
    uint64_t seed;          /* 1 */
    int envs;               /* parallel envs; 0: the agent's default */
    int threads;            /* env and BLAS threads; 1 */
    const char *out_dir;    /* the run directory, created */
    int resume;             /* 1: continue from out_dir's checkpoint */
    uint64_t stop_at;       /* > 0: stop once this many env steps are done in all, with a
                               checkpoint, as if interrupted (resume continues it: the finished
                               run is the same as one that never stopped); 0: run to steps */
    uint64_t eval_every;    /* env steps between evaluations; 0: 10 in all */
    int eval_episodes;      /* held-out users per evaluation; 200 */
    double holdout;         /* share of users held out from training for evaluation; 0.1 */
    us_env_config env;      /* the episode rules (obs_len is set to max_steps) */
    int progress;           /* 1: a progress line on stderr */
} us_train_config;

us_train_config us_train_config_default(void);

typedef struct us_train_report {
    uint64_t steps;          /* env steps done in all (resumed ones included) */
    double seconds;          /* of this call */
    double steps_per_s;
    double eval_seconds;     /* of them, the periodic evaluations' */
    double learn_steps_per_s;/* steps of this call / (seconds - eval_seconds): agent and env */
    /* where the training time (seconds - eval_seconds) went: stepping the envs, the nets'
     * forward passes (with TRPO's forward-mode ones), their backward passes, the optimizer
     * (clipping, Adam or RMSprop, target-network updates), and the rest (sampling, softmax,
     * losses, advantages, buffers, checkpoints) */
    double env_seconds, forward_seconds, backward_seconds, optimizer_seconds, other_seconds;
    double final_eval_return;/* the last evaluation's mean return on held-out users */
    double final_eval_ci;
    int evaluations;
} us_train_report;

/* Trains cfg->agent against sim (opened from store_path, whose identity the checkpoint
 * records) and writes into cfg->out_dir: config.json, curve.csv (one row per evaluation and
 * per logged iteration: steps, the evaluation's return and its interval, the training return,
 * and the algorithm's diagnostics), checkpoint.bin (written beside and renamed, after every
 * evaluation and at the end). With resume, continues from the checkpoint bit for bit: the
 * finished run is the same as one that never stopped. Borrows everything for the call. */
us_status us_train(const us_sim *sim, const char *store_path, const us_train_config *cfg,
                   us_train_report *rep, us_err *err);

/* The greedy policy of a run directory's checkpoint (the highest-scoring unmet item).
 * US_ENOTFOUND when there is no checkpoint, US_EFORMAT naming the file and field when it is
 * corrupt or truncated or belongs to another store. Borrows sim, which must outlive the
 * policy. Caller owns *out; release with us_agent_policy_free(). */
us_status us_run_policy_open(us_agent_policy *out, const us_sim *sim, const char *run_dir,
                             us_err *err);

/* A policy by name: a baseline name (us_baseline_init) or a run directory. */
us_status us_policy_open(us_agent_policy *out, const us_sim *sim, const char *name,
                         us_err *err);

/* The users held out from training for evaluation: user u is held out when a hash of u (under
 * a fixed key) falls below share; at least one user is held out and one kept. Writes the held
 * out ones (ascending) into heldout and the rest into kept (each n_users long at most) and
 * their counts. */
void us_agent_split_users(int n_users, double share, int32_t *heldout, int *n_heldout,
                          int32_t *kept, int *n_kept);

#ifdef __cplusplus
}
#endif
#endif
