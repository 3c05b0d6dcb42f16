/* dqn.c — Deep Q-Network (Mnih et al. 2015) with the details of CleanRL's dqn.py and
 * stable-baselines3's DQN: ε-greedy acting with ε falling linearly from start-e to end-e over a
 * share of the run, a replay buffer sampled uniformly with replacement, a target network
 * (a hard copy every target-network-frequency env steps, or Polyak averaging with tau < 1),
 * Double DQN targets (van Hasselt et al. 2016: the online net picks the next item, the target
 * net values it), the Huber loss on the TD error, global gradient-norm clipping and Adam.
 *
 * Q(s, ·) is the net's score row: one Q-value per catalogue item. Items the user has met (the
 * training history and the episode so far, ag_mask_rows) are never chosen: they are masked to
 * -INFINITY for acting (greedy and random alike) and for the max over the next observation's
 * Q-values. The net's value head is not used. An episode that ends, terminated or truncated,
 * is not bootstrapped past (ag_step: truncation at max_steps is part of the task).
 *
 * The replay buffer keeps each observation once, as SB3's optimize_memory_usage does: slot t
 * holds the observations every env acted on at one vector step, and the next observation of
 * a transition is the same env's observation in slot t + 1. Where an episode ended, that is
 * the next episode's first observation, which is never read (the target does not bootstrap);
 * the newest slot, whose next observation is not stored yet, is not sampled. Its memory grows
 * as it fills, so a short run never holds a buffer-size buffer.
 *
 * It deliberately leaves out prioritized replay, n-step returns and dueling heads.
 * It reports loss, q_values (mean Q of the sampled actions), exploration_rate and grad_norm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/internal.h"

/* Every hyperparameter, declared once. The defaults are SB3's DQN (batch 32, a gradient step
 * every 4 env steps, hard target updates, gradient norm clipped to 10, ε from 1 to 0.05 over
 * the first tenth of the run) but for three, sized to runs of 10^5 steps rather than Atari's
 * 10^7: the learning rate (measured on the test store), a buffer of 10^5 transitions instead of
 * 10^6, and 1000 env steps both before learning starts and between target updates (SB3 has
 * 100 and 10,000, CleanRL's dqn.py 10,000 and 500). train-frequency and
 * target-network-frequency count env steps over all envs together, so the replay ratio
 * (gradient steps per transition) does not depend on --envs: SB3's train_freq of 4 with its
 * single env is train-frequency 4 here whatever the envs. */
static const us_hparam dqn_hparams[] = {
    AG_NET_HPARAMS,
    AG_GAMMA_HPARAM,
    {"learning-rate", 1e-3, 0, 1, 0,
     "Adam's learning rate (SB3's 1e-4 is still below popularity after 200k steps on the "
     "test store)"},
    {"buffer-size", 100000, 2, 1e9, 1,
     "transitions the replay buffer keeps (rounded down to a multiple of the envs; its memory "
     "grows as it fills)"},
    {"batch-size", 32, 1, 65536, 1, "transitions per gradient step"},
    {"learning-starts", 1000, 0, 1e12, 1, "env steps of experience before the first gradient step"},
    {"train-frequency", 4, 1, 1e6, 1,
     "env steps (all envs together) between rounds of gradient steps"},
    {"gradient-steps", 1, 1, 1000, 1, "gradient steps per round"},
    {"target-network-frequency", 1000, 1, 1e12, 1,
     "env steps (all envs together) between target-network updates"},
    {"tau", 1.0, 0, 1, 0,
     "target update: target = tau x online + (1 - tau) x target (1: a hard copy)"},
    {"double-q", 1, 0, 1, 1,
     "1: Double DQN (the online net picks the next item, the target net values it); 0: DQN"},
    {"start-e", 1.0, 0, 1, 0, "exploration rate epsilon at the start"},
    {"end-e", 0.05, 0, 1, 0, "exploration rate epsilon at the end of its schedule"},
    {"exploration-fraction", 0.1, 0, 1, 0,
     "share of the run's steps over which epsilon falls linearly from start-e to end-e"},
    {"max-grad-norm", 10, 0, 1e6, 0, "clip the gradient's global norm to this (0: no clip)"},
};
#define DQN_NHP ((int)(sizeof dqn_hparams / sizeof dqn_hparams[0]))

/* The first replay slots allocated; the buffer doubles from there up to its capacity. */
#define DQN_FIRST_SLOTS 256

typedef struct dqn {
    const us_sim *sim;
    us_net *q;      /* the online Q-network: it acts and learns */
    us_net *target; /* the target network: it values the next observations */
    int N, os, V, B;
    /* the replay buffer: slot t holds the N envs' transitions of one vector step, row t·N + i
     * for env i */
    size_t cap;       /* slots: buffer-size / N */
    size_t alloc;     /* slots allocated so far */
    size_t pos;       /* the slot the next vector step writes */
    size_t filled;    /* slots written, at most cap */
    int32_t *obs;     /* (alloc·N, os) the observation acted on */
    int32_t *actions; /* (alloc·N) */
    float *rewards;   /* (alloc·N) */
    uint8_t *dones;   /* (alloc·N) the episode ended with this step (terminated or truncated) */
    /* a minibatch */
    int32_t *mb_obs, *mb_next; /* (B, os) s and s' */
    int32_t *mb_actions;       /* (B) */
    float *mb_rewards;         /* (B) */
    uint8_t *mb_dones;         /* (B) */
    float *q_cur;              /* (B) the online net's Q(s, a) at the taken actions */
    float *dq;                 /* (B) ∂loss/∂Q(s, a) */
    float *q_next;             /* (B, V) the online net's Q(s', ·), masked (Double DQN) */
    float *q_next_target;      /* (B, V) the target net's Q(s', ·) */
    float *y;                  /* (B) TD targets */
    /* one vector step */
    float *q_act;     /* (N, V) the online net's masked Q-values at the envs' observations */
    int32_t *act;     /* (N) */
    float *rew;       /* (N) */
    uint8_t *term, *trunc; /* (N) */
    int adam_t;       /* Adam steps taken: the gradient steps so far */
    us_rng sample;    /* minibatch draws */
} dqn;

static void dqn_free(void *self) {
    dqn *d = self;
    if (!d) return;
    us_net_free(d->q);
    us_net_free(d->target);
    free(d->obs);
    free(d->actions);
    free(d->rewards);
    free(d->dones);
    free(d->mb_obs);
    free(d->mb_next);
    free(d->mb_actions);
    free(d->mb_rewards);
    free(d->mb_dones);
    free(d->q_cur);
    free(d->dq);
    free(d->q_next);
    free(d->q_next_target);
    free(d->y);
    free(d->q_act);
    free(d->act);
    free(d->rew);
    free(d->term);
    free(d->trunc);
    free(d);
}

/* Makes the replay buffer hold at least `slots` slots (at most cap), doubling. */
static us_status reserve(dqn *d, size_t slots, us_err *err) {
    if (slots <= d->alloc) return US_OK;
    size_t want = d->alloc ? 2 * d->alloc : DQN_FIRST_SLOTS;
    if (want < slots) want = slots;
    if (want > d->cap) want = d->cap;
    const size_t rows = want * (size_t)d->N;
    void *p;
    /* each array keeps its old contents when a later one fails: alloc grows only when all do */
    if ((p = realloc(d->obs, rows * d->os * sizeof *d->obs))) d->obs = p;
    if (p && (p = realloc(d->actions, rows * sizeof *d->actions))) d->actions = p;
    if (p && (p = realloc(d->rewards, rows * sizeof *d->rewards))) d->rewards = p;
    if (p && (p = realloc(d->dones, rows * sizeof *d->dones))) d->dones = p;
    if (!p)
        return us_err_set(err, US_ENOMEM, NULL, 0, "buffer-size",
                          "out of memory for a replay buffer of %zu transitions (%zu bytes each; "
                          "a smaller buffer-size fits)",
                          rows, d->os * sizeof(int32_t) + 9);
    d->alloc = want;
    return US_OK;
}

static us_status dqn_init(void **self, ag_ctx *ctx, us_err *err) {
    *self = NULL;
    const int N = ctx->n_envs, B = (int)ag_hp(ctx, "batch-size");
    const uint64_t rows = (uint64_t)ag_hp(ctx, "buffer-size");
    if (rows / (uint64_t)N < 2)
        return us_err_set(err, US_EINVAL, NULL, 0, "buffer-size",
                          "expected at least 2 x envs = %d transitions, found %llu", 2 * N,
                          (unsigned long long)rows);
    dqn *d = calloc(1, sizeof *d);
    if (!d) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    d->sim = ctx->sim;
    d->N = N;
    d->os = ctx->obs_size;
    d->V = ctx->n_items;
    d->B = B;
    d->cap = (size_t)(rows / (uint64_t)N);
    const us_net_config nc = us_net_config_from(ctx->hp);
    const int batch = B > N ? B : N;
    us_status st = us_net_init(&d->q, ctx->sim, &nc, d->os, batch, ctx->seed, err);
    if (st == US_OK) st = us_net_init(&d->target, ctx->sim, &nc, d->os, batch, ctx->seed + 1, err);
    if (st == US_OK) {
        ag_net_profile(d->q, &ctx->prof);
        ag_net_profile(d->target, &ctx->prof);
        us_net_copy(d->target, d->q);
        st = reserve(d, 1, err);
    }
    const size_t Bs = (size_t)B, V = (size_t)d->V, Ns = (size_t)N, os = (size_t)d->os;
    d->mb_obs = malloc(Bs * os * sizeof *d->mb_obs);
    d->mb_next = malloc(Bs * os * sizeof *d->mb_next);
    d->mb_actions = malloc(Bs * sizeof *d->mb_actions);
    d->mb_rewards = malloc(Bs * sizeof *d->mb_rewards);
    d->mb_dones = malloc(Bs);
    d->q_cur = malloc(Bs * sizeof(float));
    d->dq = malloc(Bs * sizeof(float));
    d->q_next = malloc(Bs * V * sizeof(float));
    d->q_next_target = malloc(Bs * V * sizeof(float));
    d->y = malloc(Bs * sizeof(float));
    d->q_act = malloc(Ns * V * sizeof(float));
    d->act = malloc(Ns * sizeof *d->act);
    d->rew = malloc(Ns * sizeof *d->rew);
    d->term = malloc(Ns);
    d->trunc = malloc(Ns);
    if (st == US_OK && (!d->mb_obs || !d->mb_next || !d->mb_actions || !d->mb_rewards ||
                        !d->mb_dones || !d->q_cur || !d->dq || !d->q_next || !d->q_next_target ||
                        !d->y || !d->q_act || !d->act || !d->rew || !d->term || !d->trunc))
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    if (st != US_OK) {
        dqn_free(d);
        return st;
    }
    us_rng_seed(&d->sample, ctx->seed, 0x64716eu); /* "dqn" */
    *self = d;
    return US_OK;
}

/* ε at env step t (CleanRL's linear_schedule): start-e, falling linearly to end-e over the
 * first exploration-fraction of the run's steps, then end-e. */
static double epsilon_at(const ag_ctx *ctx, uint64_t t) {
    const double start = ag_hp(ctx, "start-e"), end = ag_hp(ctx, "end-e");
    const double duration = ag_hp(ctx, "exploration-fraction") * (double)ctx->total_steps;
    if (!(duration > 0.0) || (double)t >= duration) return end;
    return start + (end - start) * ((double)t / duration);
}

/* A uniformly random item among the row's unmasked ones (one us_rng_bounded draw). */
static int32_t random_unmasked(const float *q, int V, us_rng *rng) {
    uint32_t n = 0;
    for (int j = 0; j < V; j++) n += q[j] > -INFINITY;
    if (n == 0) return (int32_t)us_rng_bounded(rng, (uint32_t)V); /* a NaN row: any item */
    uint32_t k = us_rng_bounded(rng, n);
    for (int j = 0; j < V; j++)
        if (q[j] > -INFINITY && k-- == 0) return j;
    return V - 1; /* not reached */
}

void ag_dqn_targets(float *y, const float *rewards, const uint8_t *dones, const float *q_target,
                    const float *q_online, int B, int V, double gamma) {
    for (int b = 0; b < B; b++) {
        if (dones[b]) {
            y[b] = rewards[b]; /* no bootstrap past the episode's end */
            continue;
        }
        /* a* = argmax over the unmet items of the selecting net's Q(s', ·): the online net's
         * (Double DQN) or the target's own (DQN, where Q_target(s', a*) is then the max) */
        const float *qt = q_target + (size_t)b * V;
        const float *sel = q_online ? q_online + (size_t)b * V : qt;
        const int32_t a = us_agent_argmax(sel, V);
        y[b] = (float)((double)rewards[b] + gamma * (double)qt[a]);
    }
}

double ag_dqn_loss(const float *q_sa, const float *y, int B, float *dq, double *q_mean) {
    double loss = 0.0, qs = 0.0;
    for (int b = 0; b < B; b++) {
        /* Huber (smooth L1, δ = 1) of d = Q(s, a) - y: ½d² where |d| <= 1, |d| - ½ beyond;
         * ∂/∂Q(s, a) = d clipped to [-1, 1], over the mean's B */
        const double d = (double)q_sa[b] - y[b];
        const double ad = fabs(d);
        loss += ad <= 1.0 ? 0.5 * d * d : ad - 0.5;
        dq[b] = (float)((d < -1.0 ? -1.0 : d > 1.0 ? 1.0 : d) / B);
        qs += q_sa[b];
    }
    if (q_mean) *q_mean = qs / B;
    return loss / B;
}

/* The target network moves toward the online one: target ← tau·online + (1 - tau)·target
 * (tau = 1: a copy). */
static void update_target(dqn *d, double tau) {
    if (tau >= 1.0) {
        us_net_copy(d->target, d->q);
        return;
    }
    float *t = us_net_params(d->target);
    const float *o = us_net_params(d->q);
    const size_t n = us_net_nparams(d->q);
    const float a = (float)tau, b = (float)(1.0 - tau);
    for (size_t i = 0; i < n; i++) t[i] = a * o[i] + b * t[i];
}

/* One gradient step on a minibatch drawn uniformly, with replacement, from the sampleable
 * transitions: every slot but the newest (whose next observation is not stored yet). Adds the
 * step's loss, mean Q and gradient norm to sums. */
static void gradient_step(dqn *d, ag_ctx *ctx, double sums[3]) {
    const int B = d->B, V = d->V, N = d->N;
    const size_t os = (size_t)d->os;
    const size_t oldest = d->filled < d->cap ? 0 : d->pos;
    const uint64_t n_valid = (uint64_t)(d->filled - 1) * (uint64_t)N;
    US_ASSERT(d->filled >= 2 && n_valid <= UINT32_MAX);
    for (int b = 0; b < B; b++) {
        const uint32_t k = us_rng_bounded(&d->sample, (uint32_t)n_valid);
        const size_t slot = (oldest + k / (uint32_t)N) % d->cap, env = k % (uint32_t)N;
        const size_t row = slot * N + env, next = ((slot + 1) % d->cap) * N + env;
        memcpy(d->mb_obs + b * os, d->obs + row * os, os * sizeof *d->obs);
        memcpy(d->mb_next + b * os, d->obs + next * os, os * sizeof *d->obs);
        d->mb_actions[b] = d->actions[row];
        d->mb_rewards[b] = d->rewards[row];
        d->mb_dones[b] = d->dones[row];
    }
    /* 1. the TD targets, no gradient: y = r + γ·(1 - done)·Q_target(s', a*), a* picked among
     * the items unmet at s' by the online net (Double DQN) or the target net */
    const int double_q = ag_hp(ctx, "double-q") != 0.0;
    us_net_forward(d->target, d->mb_next, B, d->q_next_target, NULL);
    if (double_q) {
        us_net_forward(d->q, d->mb_next, B, d->q_next, NULL);
        ag_mask_rows(ctx->sim, d->mb_next, B, d->os, d->q_next, V);
    } else {
        ag_mask_rows(ctx->sim, d->mb_next, B, d->os, d->q_next_target, V);
    }
    ag_dqn_targets(d->y, d->mb_rewards, d->mb_dones, d->q_next_target,
                   double_q ? d->q_next : NULL, B, V, ag_hp(ctx, "gamma"));
    /* 2. the loss at the online net's Q(s, a), the taken actions' scores only: its forward
     * last, so backward reads it */
    us_net_forward_at(d->q, d->mb_obs, B, d->mb_actions, d->q_cur);
    double q_mean;
    sums[0] += ag_dqn_loss(d->q_cur, d->y, B, d->dq, &q_mean);
    sums[1] += q_mean;
    us_net_zero_grad(d->q);
    us_net_backward_at(d->q, d->dq, B);
    sums[2] += ag_adam(d->q, (float)ag_hp(ctx, "learning-rate"), 0.9f, 0.999f, 1e-8f,
                       ag_hp(ctx, "max-grad-norm"), ++d->adam_t);
}

static us_status dqn_iterate(void *self, ag_ctx *ctx, ag_iter *it, us_err *err) {
    dqn *d = self;
    const int N = d->N, V = d->V;
    const size_t os = (size_t)d->os;
    const uint64_t tf = (uint64_t)ag_hp(ctx, "train-frequency");
    const uint64_t starts = (uint64_t)ag_hp(ctx, "learning-starts");
    const uint64_t tnf = (uint64_t)ag_hp(ctx, "target-network-frequency");
    /* an iteration: enough vector steps for one round of gradient steps */
    const uint64_t vsteps = (tf + (uint64_t)N - 1) / (uint64_t)N;
    const uint64_t t0 = ctx->steps;
    uint64_t t = t0;
    double eps = epsilon_at(ctx, t);

    /* 1. experience: ε-greedy over the unmet items, into the replay buffer */
    for (uint64_t v = 0; v < vsteps; v++) {
        us_status st = reserve(d, d->pos + 1, err);
        if (st != US_OK) return st;
        eps = epsilon_at(ctx, t);
        us_net_forward(d->q, ctx->obs, N, d->q_act, NULL);
        ag_mask_rows(ctx->sim, ctx->obs, N, d->os, d->q_act, V);
        for (int i = 0; i < N; i++) {
            const float *row = d->q_act + (size_t)i * V;
            us_rng *rng = &ctx->act_rngs[i];
            d->act[i] = us_rng_uniform(rng) < eps ? random_unmasked(row, V, rng)
                                                  : us_agent_argmax(row, V);
        }
        const size_t r0 = d->pos * N;
        memcpy(d->obs + r0 * os, ctx->obs, (size_t)N * os * sizeof *d->obs);
        ag_step(ctx, d->act, d->rew, d->term, d->trunc);
        for (int i = 0; i < N; i++) {
            d->actions[r0 + i] = d->act[i];
            d->rewards[r0 + i] = d->rew[i];
            d->dones[r0 + i] = d->term[i] || d->trunc[i];
        }
        d->pos = (d->pos + 1) % d->cap;
        if (d->filled < d->cap) d->filled++;
        t += (uint64_t)N;
    }

    /* 2. learning: gradient-steps steps for every train-frequency env steps, once
     * learning-starts env steps are in the buffer */
    double sums[3] = {0.0, 0.0, 0.0};
    uint64_t n_grad = 0;
    if (t > starts && d->filled >= 2)
        n_grad = (t / tf - t0 / tf) * (uint64_t)ag_hp(ctx, "gradient-steps");
    for (uint64_t g = 0; g < n_grad; g++) gradient_step(d, ctx, sums);

    /* 3. the target network, every target-network-frequency env steps */
    if (t > starts && t / tnf != t0 / tnf) {
        const double s0 = us_now();
        update_target(d, ag_hp(ctx, "tau"));
        ctx->prof.optimizer += us_now() - s0;
    }

    it->steps = t - t0;
    it->diag[0] = n_grad ? sums[0] / (double)n_grad : NAN;
    it->diag[1] = n_grad ? sums[1] / (double)n_grad : NAN;
    it->diag[2] = eps;
    it->diag[3] = n_grad ? sums[2] / (double)n_grad : NAN;
    return US_OK;
}

static us_net *dqn_policy_net(void *self) { return ((dqn *)self)->q; }

/* The learner's counters in a checkpoint ("dqn"); the buffer's rows follow in their own
 * sections, the filled slots in slot order. */
typedef struct dqn_state {
    int32_t adam_t, n_envs;
    uint64_t cap, pos, filled;
    us_rng sample;
} dqn_state;

static us_status dqn_save(void *self, ag_ckpt *ck, us_err *err) {
    dqn *d = self;
    dqn_state s;
    memset(&s, 0, sizeof s);
    s.adam_t = d->adam_t;
    s.n_envs = d->N;
    s.cap = d->cap;
    s.pos = d->pos;
    s.filled = d->filled;
    s.sample = d->sample;
    const size_t rows = d->filled * d->N, np = us_net_nparams(d->q);
    us_status st = ag_ckpt_put(ck, "dqn", &s, sizeof s, err);
    /* the online net's whole block (parameters, gradients, Adam's moments); the target's
     * parameters */
    if (st == US_OK)
        st = ag_ckpt_put(ck, "dqn_q", us_net_params(d->q), 4 * np * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "dqn_target", us_net_params(d->target), np * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "dqn_obs", d->obs, rows * d->os * sizeof *d->obs, err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "dqn_actions", d->actions, rows * sizeof *d->actions, err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "dqn_rewards", d->rewards, rows * sizeof *d->rewards, err);
    if (st == US_OK) st = ag_ckpt_put(ck, "dqn_dones", d->dones, rows, err);
    return st;
}

/* The buffer's first `rows` rows hold what the env and the net accept: observations of a
 * user with (item, reaction) pairs or (-1, -1) padding, actions that are items, finite
 * rewards, dones 0 or 1. Names the section that does not. */
static us_status check_rows(const dqn *d, size_t rows, const char *path, us_err *err) {
    const int n_users = us_sim_n_users(d->sim), V = d->V;
    for (size_t r = 0; r < rows; r++) {
        const int32_t *ob = d->obs + r * d->os;
        int ok = ob[0] >= 0 && ob[0] < n_users;
        for (int j = 1; ok && j < d->os; j += 2)
            ok = ob[j] == -1 ? ob[j + 1] == -1
                             : ob[j] >= 0 && ob[j] < V && (ob[j + 1] == 0 || ob[j + 1] == 1);
        if (!ok)
            return us_err_set(err, US_EFORMAT, path, 0, "dqn_obs",
                              "row %zu is not an observation of this store", r);
        if (d->actions[r] < 0 || d->actions[r] >= V)
            return us_err_set(err, US_EFORMAT, path, 0, "dqn_actions",
                              "row %zu: expected an item 0..%d, found %d", r, V - 1,
                              d->actions[r]);
        if (!isfinite(d->rewards[r]))
            return us_err_set(err, US_EFORMAT, path, 0, "dqn_rewards", "row %zu is not finite",
                              r);
        if (d->dones[r] > 1)
            return us_err_set(err, US_EFORMAT, path, 0, "dqn_dones",
                              "row %zu: expected 0 or 1, found %u", r, d->dones[r]);
    }
    return US_OK;
}

static us_status dqn_load(void *self, const ag_ckpt *ck, const char *path, us_err *err) {
    dqn *d = self;
    dqn_state s;
    us_status st = ag_ckpt_take(ck, path, "dqn", &s, sizeof s, err);
    if (st != US_OK) return st;
    if (s.n_envs != d->N || s.cap != d->cap)
        return us_err_set(err, US_EFORMAT, path, 0, "dqn",
                          "a replay buffer of %llu steps of %d envs, expected %zu of %d "
                          "(buffer-size / envs)",
                          (unsigned long long)s.cap, s.n_envs, d->cap, d->N);
    if (s.adam_t < 0 || s.filled > s.cap || s.pos >= s.cap || (s.filled < s.cap && s.pos != s.filled))
        return us_err_set(err, US_EFORMAT, path, 0, "dqn",
                          "inconsistent counters (Adam step %d, slot %llu, %llu filled)",
                          s.adam_t, (unsigned long long)s.pos, (unsigned long long)s.filled);
    const size_t rows = (size_t)s.filled * d->N, np = us_net_nparams(d->q);
    if ((st = reserve(d, (size_t)s.filled, err)) != US_OK) return st;
    st = ag_ckpt_take(ck, path, "dqn_q", us_net_params(d->q), 4 * np * sizeof(float), err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "dqn_target", us_net_params(d->target), np * sizeof(float),
                          err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "dqn_obs", d->obs, rows * d->os * sizeof *d->obs, err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "dqn_actions", d->actions, rows * sizeof *d->actions, err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "dqn_rewards", d->rewards, rows * sizeof *d->rewards, err);
    if (st == US_OK) st = ag_ckpt_take(ck, path, "dqn_dones", d->dones, rows, err);
    if (st == US_OK) st = check_rows(d, rows, path, err);
    if (st == US_OK) {
        d->adam_t = s.adam_t;
        d->pos = (size_t)s.pos;
        d->filled = (size_t)s.filled;
        d->sample = s.sample;
    }
    return st;
}

const ag_algo ag_dqn = {
    .name = "dqn",
    .hp = dqn_hparams,
    .n_hp = DQN_NHP,
    .default_envs = 4,
    .diag_names = {"loss", "q_values", "exploration_rate", "grad_norm", NULL},
    .init = dqn_init,
    .iterate = dqn_iterate,
    .policy_net = dqn_policy_net,
    .save = dqn_save,
    .load = dqn_load,
    .free = dqn_free,
};
