/* env.c — us_env and us_vecenv (env/env.h): episodes over a shared, read-only us_sim. Each env
 * owns its episode (items, reactions, generator) and a simulator worker; the vector env runs
 * contiguous slices of its envs on a small pool of threads that wait on a condition variable
 * between calls, and saves and loads its whole state (a fixed layout, at the end). The feature
 * observation (floats for an MLP) is computed from an env's state on request, beside the int32
 * one. It does not train or choose actions: agents/ does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "env/env.h"
#include "env/internal.h"


us_env_config us_env_config_default(void) {
    us_env_config c;
    memset(&c, 0, sizeof c);
    c.max_steps = 50;
    c.leave_prob = 0.025;
    c.obs_len = 10;
    c.mask_repeats = 0;
    c.leave_gain = 0.35;
    c.leave_decay = 0.8;
    return c;
}

us_status us_env_config_validate(const us_env_config *c, us_err *err) {
    if (c->max_steps < 1 || c->max_steps > 1000000)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_steps", "expected 1..1000000, found %d",
                          c->max_steps);
    if (!(c->leave_prob >= 0.0 && c->leave_prob <= 1.0))
        return us_err_set(err, US_EINVAL, NULL, 0, "leave_prob", "expected 0..1, found %g",
                          c->leave_prob);
    if (c->obs_len < 0 || c->obs_len > US_ENV_MAX_OBS_LEN)
        return us_err_set(err, US_EINVAL, NULL, 0, "obs_len", "expected 0..%d, found %d",
                          US_ENV_MAX_OBS_LEN, c->obs_len);
    if (c->mask_repeats != 0 && c->mask_repeats != 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "mask_repeats", "expected 0 or 1, found %d",
                          c->mask_repeats);
    if (!(c->leave_gain >= 0.0 && c->leave_gain <= 10.0))
        return us_err_set(err, US_EINVAL, NULL, 0, "leave_gain", "expected 0..10, found %g",
                          c->leave_gain);
    if (!(c->leave_decay >= 0.0 && c->leave_decay < 1.0))
        return us_err_set(err, US_EINVAL, NULL, 0, "leave_decay",
                          "expected 0 <= leave_decay < 1, found %g", c->leave_decay);
    return US_OK;
}

us_status us_env_init(us_env **out, const us_sim *sim, const us_env_config *cfg, us_err *err) {
    *out = NULL;
    us_env_config c = cfg ? *cfg : us_env_config_default();
    us_status st = us_env_config_validate(&c, err);
    if (st != US_OK) return st;
    us_env *env = calloc(1, sizeof *env);
    if (!env) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    env->sim = sim;
    env->cfg = c;
    env->done = 1;
    env->user = -1;
    env->ep_items = malloc((size_t)c.max_steps * sizeof *env->ep_items);
    env->ep_likes = malloc((size_t)c.max_steps);
    env->stub_user = -1;
    if (us_sim_item_vectors(sim, &env->dim, NULL))
        env->stub = malloc((size_t)env->dim * sizeof *env->stub);
    if (!env->ep_items || !env->ep_likes || (env->dim > 0 && !env->stub)) {
        us_env_free(env);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    if ((st = us_sim_worker_init(&env->worker, sim, c.max_steps, err)) != US_OK) {
        us_env_free(env);
        return st;
    }
    *out = env;
    return US_OK;
}

void us_env_free(us_env *env) {
    if (!env) return;
    us_sim_worker_free(env->worker);
    free(env->ep_items);
    free(env->ep_likes);
    free(env->stub);
    free(env);
}

uint64_t us_env_bytes_estimate(const us_env_config *cfg) {
    const int steps = cfg && cfg->max_steps > 0 ? cfg->max_steps : 0;
    return US_ENV_BYTES_BASE + (uint64_t)US_ENV_BYTES_PER_STEP * (uint64_t)steps;
}

int us_env_obs_size(const us_env *env) { return 1 + 2 * env->cfg.obs_len; }
int32_t us_env_user(const us_env *env) { return env->user; }
int us_env_steps(const us_env *env) { return env->steps; }
int us_env_done(const us_env *env) { return env->done; }

static void write_obs(const us_env *env, int32_t *obs) {
    const int N = env->cfg.obs_len, have = env->steps < N ? env->steps : N;
    obs[0] = env->user;
    int32_t *pairs = obs + 1;
    for (int k = 0; k < N - have; k++) pairs[2 * k] = pairs[2 * k + 1] = -1;
    for (int k = 0; k < have; k++) {
        int t = env->steps - have + k;
        pairs[2 * (N - have + k)] = env->ep_items[t];
        pairs[2 * (N - have + k) + 1] = env->ep_likes[t];
    }
}

/* ---- the feature observation (env.h) ---- */

int us_env_features_size(const us_env *env) {
    const int D = env->stub ? env->dim : 0;
    return D > 0 ? D + env->cfg.obs_len * (D + 1) : 0;
}

/* stub = mean of the pros vectors of the user's liked training items that have one. */
static void compute_stub(us_env *env) {
    const int D = env->dim;
    const int32_t *items;
    const int8_t *labels;
    const int n = us_sim_history(env->sim, env->user, &items, &labels);
    int count = 0;
    for (int j = 0; j < n; j++)
        count += labels[j] == 1 && us_sim_item_vector(env->sim, items[j], 0, NULL) != NULL;
    for (int c = 0; c < D; c++) {
        double sum = 0.0; /* summed in history order: the same bits on every call */
        for (int j = 0; j < n; j++) {
            if (labels[j] != 1) continue;
            const float *x = us_sim_item_vector(env->sim, items[j], 0, NULL);
            if (x) sum += x[c];
        }
        env->stub[c] = count > 0 ? (float)(sum / count) : 0.0f;
    }
    env->stub_user = env->user;
}

void us_env_features(us_env *env, float *out) {
    US_ASSERT(env->stub && env->user >= 0);
    const int D = env->dim, K = env->cfg.obs_len, have = env->steps < K ? env->steps : K;
    if (env->stub_user != env->user) compute_stub(env);
    memcpy(out, env->stub, (size_t)D * sizeof *out);
    float *pairs = out + D;
    /* front padding: K - have all-zero pairs */
    memset(pairs, 0, (size_t)(K - have) * (size_t)(D + 1) * sizeof *pairs);
    for (int k = 0; k < have; k++) {
        const int t = env->steps - have + k;
        float *p = pairs + (size_t)(K - have + k) * (size_t)(D + 1);
        const float *x = us_sim_item_vector(env->sim, env->ep_items[t], 0, NULL);
        if (x) memcpy(p, x, (size_t)D * sizeof *p);
        else memset(p, 0, (size_t)D * sizeof *p);
        p[D] = env->ep_likes[t] ? 1.0f : -1.0f;
    }
}

/* The purposes' stream keys (env.h, "Randomness"). */
enum { STREAM_USER = 0, STREAM_REACT = 1, STREAM_LEAVE = 2 };

static uint64_t purpose_seed(uint64_t seed, uint64_t purpose) {
    const uint64_t key[2] = {seed, purpose};
    return us_hash64(key, sizeof key, 0x656e76u); /* "env" */
}

int32_t us_env_reset(us_env *env, uint64_t seed, int32_t user, int32_t *obs) {
    const int n_users = us_sim_n_users(env->sim);
    us_rng pick = us_rng_derive(seed, STREAM_USER);
    env->react_seed = purpose_seed(seed, STREAM_REACT);
    env->leave_seed = purpose_seed(seed, STREAM_LEAVE);
    env->satisfaction = 0.0;
    env->p_leave = 0.0;
    env->eval = 0;
    if (user == US_ENV_RANDOM_USER) {
        user = (int32_t)us_rng_bounded(&pick, (uint32_t)n_users);
    } else if (user == US_ENV_NEXT_USER) {
        user = env->next_user;
        env->next_user = (env->next_user + 1) % n_users;
        env->eval = 1;
    }
    US_ASSERT(user >= 0 && user < n_users);
    env->user = user;
    env->steps = 0;
    env->done = 0;
    write_obs(env, obs);
    return user;
}

void us_env_step(us_env *env, int32_t item, int32_t *obs, us_env_step_result *out) {
    US_ASSERT(!env->done);
    US_ASSERT(item >= 0 && item < us_sim_n_items(env->sim));
    memset(out, 0, sizeof *out);
    const uint64_t t = (uint64_t)env->steps;
    if (env->cfg.mask_repeats)
        for (int k = 0; k < env->steps && !out->repeat; k++) out->repeat = env->ep_items[k] == item;
    if (out->repeat) {
        for (int k = 0; k < US_SIM_NVOTES; k++) out->reaction.vote[k] = -1;
        out->reaction.repeat = 1;
        out->reaction.logged = -1;
    } else {
        us_rng react = us_rng_derive(env->react_seed, t);
        us_sim_decide(env->sim, env->worker, env->user, env->ep_items, env->ep_likes, env->steps,
                      item, &react, &out->reaction);
        out->repeat = out->reaction.repeat;
    }
    const int like = out->repeat && env->cfg.mask_repeats ? 0 : out->reaction.like;
    env->ep_items[env->steps] = item;
    env->ep_likes[env->steps] = (int8_t)like;
    env->steps++;
    out->reward = (float)like;
    /* s_t = decay·s_{t-1} + (no like ? 1 : -1);  p_leave = min(1, leave_prob·e^(gain·s_t)) */
    env->satisfaction = env->cfg.leave_decay * env->satisfaction + (like ? -1.0 : 1.0);
    double p = env->cfg.leave_prob * exp(env->cfg.leave_gain * env->satisfaction);
    env->p_leave = env->eval ? 0.0 : p > 1.0 ? 1.0 : p;
    us_rng leave = us_rng_derive(env->leave_seed, t);
    out->terminated = !env->eval && us_rng_bernoulli(&leave, env->p_leave);
    out->truncated = !out->terminated && env->steps >= env->cfg.max_steps;
    env->done = out->terminated || out->truncated;
    write_obs(env, obs);
}

int32_t us_env_reset_eval(us_env *env, uint64_t seed, int32_t user, int32_t *obs) {
    US_ASSERT(user >= 0);
    us_env_reset(env, seed, user, obs);
    env->eval = 1;
    return user;
}

double us_env_leave_prob(const us_env *env) { return env->p_leave; }

void us_env_action_mask(const us_env *env, uint8_t *mask) {
    memset(mask, 1, (size_t)us_sim_n_items(env->sim));
    for (int t = 0; t < env->steps; t++) mask[env->ep_items[t]] = 0;
}

/* ---- the vector env ---- */

typedef struct vec_job {
    const int32_t *actions;
    int32_t *obs, *users;
    float *rewards;
    uint8_t *terminated, *truncated;
    float *features;    /* features_only: (n, features_size) */
    int reset_only;
    int features_only;
} vec_job;

struct us_vecenv {
    int n, n_threads, eval_order, obs_size;
    uint64_t seed;
    us_env **envs;
    uint64_t *episode; /* (n) episodes started by each env */
    int32_t *users;    /* (n_users) the users episodes come from (us_vecenv_set_users); NULL:
                          every user of the sim */
    int n_users;       /* entries of users, or the sim's user count when users is NULL */
    us_pool *pool; /* NULL with one thread */
    vec_job job;
};

uint64_t us_vecenv_episode_seed(uint64_t seed, uint64_t i, uint64_t k) {
    uint64_t key[3] = {seed, i, k};
    return us_hash64(key, sizeof key, 0x75736572u);
}

/* Starts env i's next episode k. The user is users[j] (j itself without a list): j drawn
 * uniformly from 0..n_users-1 with one draw from the episode seed's user stream, the draw
 * us_env_reset makes for US_ENV_RANDOM_USER, so with the list 0..N-1 (or none) the users are
 * those a single env reset with the seed picks; in evaluation order j = (i + k·n) mod n_users.
 * The user is passed to us_env_reset explicitly, which draws nothing else from that stream. */
static void vec_reset_one(us_vecenv *v, int i, int32_t *obs) {
    us_env *env = v->envs[i];
    const uint64_t k = v->episode[i]++;
    const uint64_t seed = us_vecenv_episode_seed(v->seed, (uint64_t)i, k);
    const uint64_t nu = (uint64_t)v->n_users;
    uint64_t j;
    if (v->eval_order) {
        j = ((uint64_t)i + k * (uint64_t)v->n) % nu;
    } else {
        us_rng pick = us_rng_derive(seed, STREAM_USER);
        j = us_rng_bounded(&pick, (uint32_t)nu);
    }
    const int32_t user = v->users ? v->users[j] : (int32_t)j;
    if (v->eval_order) us_env_reset_eval(env, seed, user, obs); /* no early leaving */
    else us_env_reset(env, seed, user, obs);
}

static void vec_run_slice(us_vecenv *v, int t) {
    const vec_job *j = &v->job;
    const int lo = (int)((int64_t)v->n * t / v->n_threads);
    const int hi = (int)((int64_t)v->n * (t + 1) / v->n_threads);
    us_env_step_result r;
    if (j->features_only) {
        const size_t F = (size_t)us_env_features_size(v->envs[0]);
        for (int i = lo; i < hi; i++) us_env_features(v->envs[i], j->features + (size_t)i * F);
        return;
    }
    for (int i = lo; i < hi; i++) {
        int32_t *obs = j->obs + (size_t)i * (size_t)v->obs_size;
        if (j->reset_only) {
            vec_reset_one(v, i, obs);
        } else {
            us_env_step(v->envs[i], j->actions[i], obs, &r);
            j->rewards[i] = r.reward;
            j->terminated[i] = (uint8_t)r.terminated;
            j->truncated[i] = (uint8_t)r.truncated;
            if (r.terminated || r.truncated) vec_reset_one(v, i, obs);
        }
        if (j->users) j->users[i] = v->envs[i]->user;
    }
}

static void vec_worker(void *ctx, int t) { vec_run_slice(ctx, t); }

static void vec_run(us_vecenv *v) {
    if (v->pool) us_pool_run(v->pool);
    else vec_run_slice(v, 0);
}

us_status us_vecenv_init(us_vecenv **out, const us_sim *sim, const us_env_config *cfg, int n,
                         int n_threads, uint64_t seed, int eval_order, us_err *err) {
    *out = NULL;
    us_env_config c = cfg ? *cfg : us_env_config_default();
    us_status st = us_env_config_validate(&c, err);
    if (st != US_OK) return st;
    /* Refused before allocating: n envs would take about n · each bytes. */
    const uint64_t each = us_env_bytes_estimate(&c), limit = US_VECENV_MAX_BYTES / each;
    if (n < 1 || (uint64_t)n > limit)
        return us_err_set(err, US_EINVAL, NULL, 0, "n",
                          "expected 1..%llu envs (about %llu bytes each with max_steps %d, at "
                          "most %llu bytes in all), found %d: about %llu bytes",
                          (unsigned long long)limit, (unsigned long long)each, c.max_steps,
                          (unsigned long long)US_VECENV_MAX_BYTES, n,
                          (unsigned long long)(n > 0 ? (uint64_t)n * each : 0));
    if (n_threads < 1 || n_threads > 1024)
        return us_err_set(err, US_EINVAL, NULL, 0, "n_threads", "expected 1..1024, found %d",
                          n_threads);
    if (n_threads > n) n_threads = n;
    us_vecenv *v = calloc(1, sizeof *v);
    if (!v) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    v->n = n;
    v->seed = seed;
    v->eval_order = eval_order != 0;
    v->envs = calloc((size_t)n, sizeof *v->envs);
    v->episode = calloc((size_t)n, sizeof *v->episode);
    if (!v->envs || !v->episode) {
        us_vecenv_free(v);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        st = us_env_init(&v->envs[i], sim, &c, err);
        if (st != US_OK) {
            us_vecenv_free(v);
            return st;
        }
    }
    v->obs_size = us_env_obs_size(v->envs[0]);
    v->n_users = us_sim_n_users(sim);
    v->n_threads = n_threads;
    if (n_threads > 1) {
        st = us_pool_init(&v->pool, n_threads, vec_worker, v, err);
        if (st != US_OK) {
            us_vecenv_free(v);
            return st;
        }
    }
    *out = v;
    return US_OK;
}

void us_vecenv_free(us_vecenv *v) {
    if (!v) return;
    us_pool_free(v->pool);
    if (v->envs)
        for (int i = 0; i < v->n; i++) us_env_free(v->envs[i]);
    free(v->envs);
    free(v->episode);
    free(v->users);
    free(v);
}

int us_vecenv_n(const us_vecenv *v) { return v->n; }

void us_vecenv_reset(us_vecenv *v, int32_t *obs) {
    memset(&v->job, 0, sizeof v->job);
    v->job.obs = obs;
    v->job.reset_only = 1;
    vec_run(v);
}

void us_vecenv_step(us_vecenv *v, const int32_t *actions, int32_t *obs, float *rewards,
                    uint8_t *terminated, uint8_t *truncated, int32_t *users) {
    v->job.actions = actions;
    v->job.obs = obs;
    v->job.rewards = rewards;
    v->job.terminated = terminated;
    v->job.truncated = truncated;
    v->job.users = users;
    v->job.reset_only = 0;
    v->job.features_only = 0;
    vec_run(v);
}

int us_vecenv_features_size(const us_vecenv *v) { return us_env_features_size(v->envs[0]); }

void us_vecenv_features(us_vecenv *v, float *out) {
    US_ASSERT(us_vecenv_features_size(v) > 0);
    memset(&v->job, 0, sizeof v->job);
    v->job.features = out;
    v->job.features_only = 1;
    vec_run(v);
}

us_status us_vecenv_set_users(us_vecenv *v, const int32_t *users, int n, us_err *err) {
    if (n < 1 || !users)
        return us_err_set(err, US_EINVAL, NULL, 0, "users", "expected at least 1 user, found %d",
                          users ? n : 0);
    const int n_users = us_sim_n_users(v->envs[0]->sim);
    for (int k = 0; k < n; k++)
        if (users[k] < 0 || users[k] >= n_users)
            return us_err_set(err, US_EINVAL, NULL, 0, "users",
                              "expected user ids 0..%d, found %d at %d", n_users - 1, users[k],
                              k);
    int32_t *copy = malloc((size_t)n * sizeof *copy);
    if (!copy) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    memcpy(copy, users, (size_t)n * sizeof *copy);
    free(v->users);
    v->users = copy;
    v->n_users = n;
    return US_OK;
}

/* ---- the vector env's saved state ----
 *
 * Fixed layout, little-endian whatever the host, so its size depends only on n and max_steps:
 *   header (40 bytes): magic u64, n u32, max_steps u32, obs_size u32, eval_order u32, seed u64,
 *                      n_users u32 (of the sim), n_items u32
 *   per env (STATE_ENV_FIXED + 5·max_steps bytes): episode counter u64, react_seed u64,
 *     leave_seed u64, satisfaction f64 bits, p_leave f64 bits, user i32, steps i32, done i32,
 *     eval i32, next_user i32, 4 zero bytes, ep_items i32 (max_steps), ep_likes u8
 *     (max_steps); entries from steps on are written as 0 and ignored.
 * The simulator worker is not saved: it holds only a cache (the SASRec heads' encoding of the
 * last user and window, keyed by both), which it recomputes with the same bits when the key
 * differs, so a fresh worker gives the same reactions. */
#define STATE_MAGIC 0x3174737665637375ull /* "usvecst1" read little-endian */
#define STATE_HEADER 40
#define STATE_ENV_FIXED 64

static void put_u32(unsigned char *p, uint32_t x) {
    for (int b = 0; b < 4; b++) p[b] = (unsigned char)(x >> (8 * b));
}
static void put_u64(unsigned char *p, uint64_t x) {
    for (int b = 0; b < 8; b++) p[b] = (unsigned char)(x >> (8 * b));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t x = 0;
    for (int b = 0; b < 4; b++) x |= (uint32_t)p[b] << (8 * b);
    return x;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t x = 0;
    for (int b = 0; b < 8; b++) x |= (uint64_t)p[b] << (8 * b);
    return x;
}
static void put_f64(unsigned char *p, double d) {
    uint64_t x;
    memcpy(&x, &d, sizeof x);
    put_u64(p, x);
}
static double get_f64(const unsigned char *p) {
    uint64_t x = get_u64(p);
    double d;
    memcpy(&d, &x, sizeof d);
    return d;
}

static size_t state_env_size(int max_steps) {
    return STATE_ENV_FIXED + 5 * (size_t)max_steps;
}

size_t us_vecenv_state_size(const us_vecenv *v) {
    return STATE_HEADER + (size_t)v->n * state_env_size(v->envs[0]->cfg.max_steps);
}

void us_vecenv_state_save(const us_vecenv *v, void *buf) {
    const us_env *e0 = v->envs[0];
    const int ms = e0->cfg.max_steps;
    unsigned char *p = buf;
    memset(p, 0, us_vecenv_state_size(v));
    put_u64(p, STATE_MAGIC);
    put_u32(p + 8, (uint32_t)v->n);
    put_u32(p + 12, (uint32_t)ms);
    put_u32(p + 16, (uint32_t)v->obs_size);
    put_u32(p + 20, (uint32_t)v->eval_order);
    put_u64(p + 24, v->seed);
    put_u32(p + 32, (uint32_t)us_sim_n_users(e0->sim));
    put_u32(p + 36, (uint32_t)us_sim_n_items(e0->sim));
    for (int i = 0; i < v->n; i++) {
        const us_env *e = v->envs[i];
        unsigned char *r = p + STATE_HEADER + (size_t)i * state_env_size(ms);
        put_u64(r, v->episode[i]);
        put_u64(r + 8, e->react_seed);
        put_u64(r + 16, e->leave_seed);
        put_f64(r + 24, e->satisfaction);
        put_f64(r + 32, e->p_leave);
        put_u32(r + 40, (uint32_t)e->user);
        put_u32(r + 44, (uint32_t)e->steps);
        put_u32(r + 48, (uint32_t)e->done);
        put_u32(r + 52, (uint32_t)e->eval);
        put_u32(r + 56, (uint32_t)e->next_user);
        unsigned char *items = r + STATE_ENV_FIXED, *likes = items + 4 * (size_t)ms;
        for (int t = 0; t < e->steps; t++) {
            put_u32(items + 4 * (size_t)t, (uint32_t)e->ep_items[t]);
            likes[t] = (unsigned char)e->ep_likes[t];
        }
    }
}

/* US_EFORMAT naming "vecenv state", with what was wrong. */
#define STATE_BAD(...) us_err_set(err, US_EFORMAT, NULL, 0, "vecenv state", __VA_ARGS__)

/* Checks header field `what` of the state: found against v's expected. */
static us_status state_check_u(us_err *err, const char *what, uint64_t found, uint64_t expected) {
    if (found == expected) return US_OK;
    return STATE_BAD("%s: expected %llu (this vector env's), found %llu", what,
                     (unsigned long long)expected, (unsigned long long)found);
}

/* Checks env i's record r; US_OK when it can be loaded. */
static us_status state_check_env(const unsigned char *r, int i, int ms, int n_users,
                                 int n_items, us_err *err) {
    const int32_t user = (int32_t)get_u32(r + 40), steps = (int32_t)get_u32(r + 44);
    const int32_t done = (int32_t)get_u32(r + 48), eval = (int32_t)get_u32(r + 52);
    const int32_t next_user = (int32_t)get_u32(r + 56);
    const double sat = get_f64(r + 24), p_leave = get_f64(r + 32);
    if (done != 0 && done != 1)
        return STATE_BAD("env %d: done expected 0 or 1, found %d", i, done);
    if (eval != 0 && eval != 1)
        return STATE_BAD("env %d: eval expected 0 or 1, found %d", i, eval);
    /* a running episode has room for its next step; an ended one may be full */
    const int max = done ? ms : ms - 1;
    if (steps < 0 || steps > max)
        return STATE_BAD("env %d: steps expected 0..%d (max_steps %d, %s), found %d", i, max, ms,
                         done ? "episode ended" : "episode running", steps);
    /* user -1: never reset (as after init), which only an ended, empty episode can be */
    const int never = user == -1 && done && steps == 0;
    if (!never && (user < 0 || user >= n_users))
        return STATE_BAD("env %d: user expected 0..%d, found %d", i, n_users - 1, user);
    if (next_user < 0 || next_user >= n_users)
        return STATE_BAD("env %d: next_user expected 0..%d, found %d", i, n_users - 1,
                         next_user);
    if (!isfinite(sat))
        return STATE_BAD("env %d: satisfaction expected a finite number, found %g", i, sat);
    if (!(p_leave >= 0.0 && p_leave <= 1.0))
        return STATE_BAD("env %d: p_leave expected 0..1, found %g", i, p_leave);
    const unsigned char *items = r + STATE_ENV_FIXED, *likes = items + 4 * (size_t)ms;
    for (int t = 0; t < steps; t++) {
        const int32_t item = (int32_t)get_u32(items + 4 * (size_t)t);
        if (item < 0 || item >= n_items)
            return STATE_BAD("env %d: item of step %d expected 0..%d, found %d", i, t,
                             n_items - 1, item);
        if (likes[t] > 1)
            return STATE_BAD("env %d: reaction of step %d expected 0 or 1, found %d", i, t,
                             likes[t]);
    }
    return US_OK;
}

us_status us_vecenv_state_load(us_vecenv *v, const void *buf, size_t len, int32_t *obs,
                               us_err *err) {
    const us_env *e0 = v->envs[0];
    const int ms = e0->cfg.max_steps;
    const int n_users = us_sim_n_users(e0->sim), n_items = us_sim_n_items(e0->sim);
    const size_t size = us_vecenv_state_size(v);
    const unsigned char *p = buf;
    us_status st;
    /* everything is checked before anything of v changes */
    if (!buf || len != size)
        return STATE_BAD("expected %zu bytes (n %d, max_steps %d), found %zu", size, v->n, ms,
                         buf ? len : 0);
    if (get_u64(p) != STATE_MAGIC)
        return STATE_BAD("magic: expected 0x%016llx, found 0x%016llx",
                         (unsigned long long)STATE_MAGIC, (unsigned long long)get_u64(p));
    if ((st = state_check_u(err, "n", get_u32(p + 8), (uint64_t)v->n)) != US_OK ||
        (st = state_check_u(err, "max_steps", get_u32(p + 12), (uint64_t)ms)) != US_OK ||
        (st = state_check_u(err, "obs_size", get_u32(p + 16), (uint64_t)v->obs_size)) != US_OK ||
        (st = state_check_u(err, "eval_order", get_u32(p + 20), (uint64_t)v->eval_order)) !=
            US_OK ||
        (st = state_check_u(err, "seed", get_u64(p + 24), v->seed)) != US_OK ||
        (st = state_check_u(err, "the sim's users", get_u32(p + 32), (uint64_t)n_users)) !=
            US_OK ||
        (st = state_check_u(err, "the sim's items", get_u32(p + 36), (uint64_t)n_items)) != US_OK)
        return st;
    for (int i = 0; i < v->n; i++) {
        st = state_check_env(p + STATE_HEADER + (size_t)i * state_env_size(ms), i, ms, n_users,
                             n_items, err);
        if (st != US_OK) return st;
    }
    for (int i = 0; i < v->n; i++) {
        us_env *e = v->envs[i];
        const unsigned char *r = p + STATE_HEADER + (size_t)i * state_env_size(ms);
        v->episode[i] = get_u64(r);
        e->react_seed = get_u64(r + 8);
        e->leave_seed = get_u64(r + 16);
        e->satisfaction = get_f64(r + 24);
        e->p_leave = get_f64(r + 32);
        e->user = (int32_t)get_u32(r + 40);
        e->steps = (int32_t)get_u32(r + 44);
        e->done = (int32_t)get_u32(r + 48);
        e->eval = (int32_t)get_u32(r + 52);
        e->next_user = (int32_t)get_u32(r + 56);
        const unsigned char *items = r + STATE_ENV_FIXED, *likes = items + 4 * (size_t)ms;
        for (int t = 0; t < e->steps; t++) {
            e->ep_items[t] = (int32_t)get_u32(items + 4 * (size_t)t);
            e->ep_likes[t] = (int8_t)likes[t];
        }
        write_obs(e, obs + (size_t)i * (size_t)v->obs_size);
    }
    return US_OK;
}
