/* internal.h — private to agents/ (and its tests): the interface every learner file implements
 * (one algorithm per file, CleanRL's habit), the training context the driver (train.c) hands
 * it, checkpoint sections (ckpt.c), and the pieces every learner shares (learn.c): masked
 * log-softmax, sampling, entropy, Adam over a net. */
#ifndef USERSIM_AGENTS_INTERNAL_H
#define USERSIM_AGENTS_INTERNAL_H

#include <stdio.h>

#include "agents/agents.h"

/* The net's rows of every agent's hyperparameter table, declared once here (us_net_hparams
 * and each learner's table start with them), and the paper's discount. */
#define AG_NET_HPARAMS                                                                      \
    {"dim", 32, 2, 1024, 1, "item, reaction and state embedding size D"},                  \
    {"hidden", 128, 2, 4096, 1, "hidden units of the state MLP"},                          \
    {"hist-len", 50, 0, 10000, 1, "newest training interactions of the user the state reads"}, \
    {"text-init", 0, 0, 1, 1, "1: item embeddings start from the store's text vectors"},       \
    {"pop-init", 0, 0, 10, 0, "item score biases start at this times log(1 + training likes) "   \
     "(the untrained greedy policy is then a popularity list; 0: all start equal)"}
#define AG_GAMMA_HPARAM {"gamma", 0.975, 0, 1, 0, "discount factor (the paper's 0.975)"}

/* ---- checkpoints (ckpt.c) ---------------------------------------------------------------- */

/* A checkpoint is a header (agent, store identity, sizes, hyperparameters, steps) and named
 * sections of bytes, ending with a checksum of everything before it. */
typedef struct ag_ckpt ag_ckpt;

/* Writing: sections are appended in memory, then written beside path and renamed. */
us_status ag_ckpt_init(ag_ckpt **out, us_err *err);
us_status ag_ckpt_put(ag_ckpt *ck, const char *name, const void *data, size_t len, us_err *err);
/* Reading: the whole file, checksum verified. US_ENOTFOUND when it does not exist,
 * US_EFORMAT naming path and the field for anything wrong. */
us_status ag_ckpt_read(ag_ckpt **out, const char *path, us_err *err);
/* The section name's bytes and length (NULL when absent). */
const void *ag_ckpt_get(const ag_ckpt *ck, const char *name, size_t *len);
/* Copies section name, which must be exactly len bytes, into data: US_EFORMAT naming the
 * section otherwise (path for the message). */
us_status ag_ckpt_take(const ag_ckpt *ck, const char *path, const char *name, void *data,
                       size_t len, us_err *err);
us_status ag_ckpt_write(const ag_ckpt *ck, const char *path, us_err *err);
void ag_ckpt_free(ag_ckpt *ck);

/* ---- the training context and the learner interface (train.c) ---------------------------- */

/* Where a run's time goes (seconds, wall clock, summed over the run; not in any file, so runs
 * stay bit-identical): stepping the envs (ag_step), the nets' forward passes (us_net_forward,
 * and us_net_jvp's forward-mode passes), their backward passes, and the optimizer (clipping,
 * Adam, target-network updates). The rest of a learner's time (softmax, losses, GAE, buffers)
 * is what the run took beyond these. */
typedef struct ag_prof {
    double env, forward, backward, optimizer;
} ag_prof;

/* The net adds its passes' seconds to *prof (NULL: stops timing). Borrows prof, which must
 * outlive the net or be replaced. */
void ag_net_profile(us_net *net, ag_prof *prof);
ag_prof *ag_net_prof(const us_net *net);

typedef struct ag_algo ag_algo;

typedef struct ag_ctx {
    const ag_algo *algo;
    const us_sim *sim;
    us_vecenv *venv;    /* the training envs (users kept for training), owned by the driver */
    int n_envs, obs_size, n_items;
    int32_t *obs;       /* (n_envs, obs_size) the envs' current observations */
    us_rng *act_rngs;   /* (n_envs) each env's stream for the learner's own action draws */
    const us_hvalues *hp; /* the agent's values, in its table's order (the net's first) */
    uint64_t seed;
    uint64_t total_steps; /* the run's budget: schedules (epsilon, learning-rate annealing) */
    uint64_t steps;       /* env steps done before this iteration */
    /* the driver's episode bookkeeping (ag_step updates it) */
    double *ep_return;  /* (n_envs) the running episode's return */
    double recent[100]; /* the last finished episodes' returns, a ring */
    int n_recent, recent_at;
    ag_prof prof;       /* the run's time, by part (the learners' nets point here) */
} ag_ctx;

/* Steps every env with actions (n_envs): rewards, terminated and truncated (n_envs each, the
 * caller's) and ctx->obs updated in place (an ended episode's row is the next episode's first
 * observation: same-step autoreset). Truncation at max_steps is part of the task (the
 * evaluation return counts max_steps steps, and an observation shows how many steps passed),
 * so learners treat it as terminal. */
void ag_step(ag_ctx *ctx, const int32_t *actions, float *rewards, uint8_t *terminated,
             uint8_t *truncated);

#define AG_MAX_DIAG 8
typedef struct ag_iter {
    uint64_t steps;               /* env steps this iteration took */
    double diag[AG_MAX_DIAG];     /* the algorithm's diagnostics, as named in its diag_names */
} ag_iter;

struct ag_algo {
    const char *name;
    const us_hparam *hp; /* its table: AG_NET_HPARAMS first */
    int n_hp;
    int default_envs;
    const char *diag_names[AG_MAX_DIAG]; /* SB3/CleanRL names: "approx_kl", "clipfrac", ...;
                                            NULL-terminated when fewer */
    /* Builds the learner (nets from us_net_config_from(ctx->hp), seeded from ctx->seed). */
    us_status (*init)(void **self, ag_ctx *ctx, us_err *err);
    /* Collects experience through ag_step and learns; fills *it. */
    us_status (*iterate)(void *self, ag_ctx *ctx, ag_iter *it, us_err *err);
    /* The net whose masked argmax is the greedy policy. */
    us_net *(*policy_net)(void *self);
    /* Every bit of state the learner needs to continue exactly (nets with Adam moments,
     * buffers, counters, rng states), as sections; the driver adds its own and the policy's
     * parameters ("policy"). */
    us_status (*save)(void *self, ag_ckpt *ck, us_err *err);
    us_status (*load)(void *self, const ag_ckpt *ck, const char *path, us_err *err);
    void (*free)(void *self);
};

extern const ag_algo ag_dqn, ag_a2c, ag_ppo, ag_trpo;

/* ---- shared numerics (learn.c) ------------------------------------------------------------ */

/* Masks every row of scores (B, V) for its observation (us_agent_mask, skip_known 1). */
void ag_mask_rows(const us_sim *sim, const int32_t *obs, int B, int obs_size, float *scores,
                  int V);
/* logp (B, V) = log-softmax of each row of logits; -INFINITY logits (masked items) get
 * -INFINITY and weight 0. logp may equal logits. p (B, V), when not NULL, receives the
 * probabilities (0 at masked items) from the same exponentials, one per item, so the sampling,
 * entropy and gradient that follow need no exp of their own. */
void ag_log_softmax_rows(float *logp, float *p, const float *logits, int B, int V);
/* A draw from the row's probabilities p (V; 0 at masked items, as ag_log_softmax_rows writes
 * them): one us_rng_uniform draw, inverse CDF in index order, summed in double. */
int32_t ag_sample(const float *p, int V, us_rng *rng);
/* Entropy -Σ p log p of one row (masked items contribute 0); p is the row's probabilities, or
 * NULL to take them as exp(logp). */
double ag_entropy(const float *logp, const float *p, int V);
/* One Adam step on the net's whole block with its gradients, after clipping their global
 * norm to max_grad_norm (<= 0: no clipping); returns the norm before clipping. t counts from
 * 1. */
double ag_adam(us_net *net, float lr, float beta1, float beta2, float eps, double max_grad_norm,
               int t);
/* The largest of n >= 1 floats (-INFINITY when all are), with AVX where the CPU has it. */
float ag_row_max(const float *x, int n);
/* y_i = x_i·a + b over n floats (y may equal x), and y_i += a·x_i: AVX where the CPU has it,
 * the same bits without (each element's operations are the same). */
void ag_affine(float *y, const float *x, size_t n, float a, float b);
void ag_axpy(float *y, float a, const float *x, size_t n);
/* Σ g_i² over n floats, in double: four running sums (element i into sum i mod 4) added as
 * (s0 + s1) + (s2 + s3), with AVX where the CPU has it and the same bits without. */
double ag_sumsq(const float *g, size_t n);
/* Clips the gradients of several nets to one global norm (<= 0: no clipping) as
 * torch.nn.utils.clip_grad_norm_ does; returns the norm before clipping. */
double ag_clip_nets(us_net *const *nets, int n_nets, double max_grad_norm);
/* The same over several nets at once: one global norm over all their gradients (SB3 and
 * CleanRL clip the actor's and the critic's together). */
double ag_adam_nets(us_net *const *nets, int n_nets, float lr, float beta1, float beta2,
                    float eps, double max_grad_norm, int t);
/* The gradient of coef_logp·log π(a) + coef_entropy·H(π) with respect to one row's logits,
 * given its log-probabilities logp (V; -INFINITY for masked items, whose gradient is 0) and
 * probabilities p (V, or NULL to take exp(logp); p may be dlogits itself):
 *   ∂/∂z_j = coef_logp·([j = a] - p_j) - coef_entropy·p_j·(log p_j + H)
 * written into dlogits (V; overwritten). The policy-gradient losses of A2C, PPO and TRPO are
 * sums of such terms. */
void ag_policy_grad_row(float *dlogits, const float *logp, const float *p, int V, int32_t a,
                        double coef_logp, double coef_entropy);
/* A minibatch of a policy-gradient loss: M rows over V items. */
typedef struct ag_pg_batch {
    int M, V;
    const float *logits;     /* (M, V) masked (-INFINITY) logits of the acting net */
    const float *values;     /* (M) V(s) of the critic */
    const int32_t *actions;  /* (M) */
    const float *old_logp;   /* (M) log π_old(a|s) of the policy that acted (PPO) */
    const float *adv;        /* (M) advantages (normalized by the caller where it does) */
    const float *ret;        /* (M) returns */
    const float *old_values; /* (M) V_old(s) (PPO's value clipping) */
    float *logp;             /* (M, V) scratch: the log-softmax of logits */
} ag_pg_batch;
typedef struct ag_pg_stats {
    double policy_loss, value_loss, entropy, approx_kl, clipfrac;
} ag_pg_stats;
/* PPO's minibatch loss, returned, and its gradients with respect to the logits (dlogits, (M,
 * V), 0 at masked items) and the values (dvalues, (M)):
 *   loss = mean(max(-A·ratio, -A·clip(ratio, 1-ε, 1+ε))) - ent_coef·mean(H)
 *          + vf_coef·mean(0.5·(v - R)²  [or the clipped form with clip_vloss])
 * (ppo.c writes each term out). Stats are means over the rows. */
double ag_ppo_loss(const ag_pg_batch *b, double clip, int clip_vloss, double ent_coef,
                   double vf_coef, float *dlogits, float *dvalues, ag_pg_stats *st);
/* A2C's loss and gradients likewise (a2c.c):
 *   loss = -mean(A·log π(a|s)) - ent_coef·mean(H) + vf_coef·mean((R - v)²) */
double ag_a2c_loss(const ag_pg_batch *b, double ent_coef, double vf_coef, float *dlogits,
                   float *dvalues, ag_pg_stats *st);
/* DQN's TD targets for B transitions (dqn.c): y_b = r_b + γ·(1 - done_b)·q_target[b, a*_b],
 * a*_b = argmax of q_online's row b (Double DQN, van Hasselt et al. 2016) or, when q_online is
 * NULL, of q_target's own (DQN: the max). q_target and q_online are (B, V) Q-values of the next
 * observations; the one that picks a* is masked (-INFINITY) to the items unmet there. */
void ag_dqn_targets(float *y, const float *rewards, const uint8_t *dones, const float *q_target,
                    const float *q_online, int B, int V, double gamma);
/* DQN's loss, returned: the mean over B rows of the Huber loss (smooth L1, δ = 1) of the TD
 * error q_sa[b] - y[b], q_sa the Q-values at the taken actions (us_net_forward_at), and its
 * gradient with respect to them into dq (B; overwritten: us_net_backward_at takes it).
 * *q_mean (may be NULL) receives their mean. */
double ag_dqn_loss(const float *q_sa, const float *y, int B, float *dq, double *q_mean);

/* TRPO's Fisher matrix (trpo.c) of a policy net at θ_old over B rows:
 *   F = Jᵀ·H·J / B,  H = diag(p) - p·pᵀ for each row
 * with J the Jacobian of a row's logits in the parameters and p its old probabilities (0 at
 * masked items): the Hessian of the mean KL(π_old ‖ π_θ) at θ = θ_old. */
typedef struct ag_fisher {
    us_net *net;       /* its last forward: the B rows at θ_old (scores may have been skipped) */
    int B, V;
    const float *logp; /* the rows' old log-probabilities: row b at logp + b·stride (V floats,
                          -INFINITY at masked items) */
    size_t stride;
    double damping;
    float *work;       /* (B, V) scratch */
    float *dir;        /* (nparams) scratch */
    const float *p;    /* the old probabilities beside logp (same stride; 0 at masked items),
                          or NULL to take them as exp(logp) */
} ag_fisher;
/* out = (F + damping·I)·v (nparams doubles each), by us_net_jvp and us_net_backward: no
 * second derivatives. Overwrites the net's gradients. */
void ag_fisher_vp(const ag_fisher *f, const double *v, double *out);
/* Solves (F + damping·I)·x = g by conjugate gradient from x = 0, at most max_steps products,
 * stopping early when the residual's squared norm is below 1e-10; scratch holds 3·nparams
 * doubles. Returns the steps taken. */
int ag_conjugate_gradient(const ag_fisher *f, const double *g, double *x, int max_steps,
                          double *scratch);
/* 1 - Var(ret - values) / Var(ret) over n rows (NAN when Var(ret) is 0): SB3's explained
 * variance of a value function. */
double ag_explained_variance(const float *values, const float *ret, size_t n);
/* The hyperparameter's value in ctx->hp by name (a programmer error when absent). */
double ag_hp(const ag_ctx *ctx, const char *name);

/* ---- on-policy rollouts (rollout.c): A2C, PPO and TRPO ------------------------------------ */

/* T steps of N envs, row t·N + i for env i at step t. */
typedef struct ag_rollout {
    int T, N, obs_size, V;
    int32_t *obs;     /* (T·N, obs_size) the observation the action was chosen at */
    int32_t *actions; /* (T·N) */
    float *logp;      /* (T·N) log π(action | obs) of the policy that acted */
    float *values;    /* (T·N) V(obs) of the value net */
    float *rewards;   /* (T·N) */
    uint8_t *dones;   /* (T·N) the episode ended with this step (terminated or truncated) */
    float *adv;       /* (T·N) GAE advantages */
    float *ret;       /* (T·N) returns: adv + values */
    float *last_values; /* (N) V of the observations after the last step */
    float *logits;    /* (N, V) scratch */
    float *probs;     /* (N, V) scratch: the sampling distribution */
    double entropy;   /* mean policy entropy over the rollout's rows */
} ag_rollout;

us_status ag_rollout_init(ag_rollout *r, int T, int N, int obs_size, int V, us_err *err);
void ag_rollout_free(ag_rollout *r);
/* Steps every env T times: the policy net pi's scores, masked (ag_mask_rows), log-softmaxed,
 * sampled with ctx->act_rngs; values from vf's value head (vf may be pi). Both nets need
 * max_batch >= N. Fills everything but adv and ret. */
void ag_rollout_collect(ag_rollout *r, ag_ctx *ctx, us_net *pi, us_net *vf);
/* GAE(λ) (Schulman et al. 2016): δ_t = r_t + γ·V(s_{t+1})·(1 - done_t) - V(s_t),
 * A_t = δ_t + γλ·(1 - done_t)·A_{t+1}; ret = A + V. λ = 1 gives n-step returns (A2C). */
void ag_gae(ag_rollout *r, double gamma, double lambda);

#endif
