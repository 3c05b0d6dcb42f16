/* eval.c — a policy's figures against the simulated users, with common random numbers: episode
 * k meets the same user and the same reaction and leaving draws whatever the policy, so two
 * policies' figures differ only by what they recommend, and their per-user differences pair
 * (the simulated A/B test, us_ab). Episodes run in waves of envs stepped together, the policy
 * acting on the whole wave's observations at once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"

us_eval_config us_eval_config_default(void) {
    us_eval_config c;
    memset(&c, 0, sizeof c);
    c.episodes = 500;
    c.seed = 7;
    c.threads = 1;
    c.env = us_env_config_default();
    return c;
}

#define WAVE 64        /* envs stepped together; the policy sees up to this many rows */
#define BOOTSTRAP 200  /* resamples of users for coverage's interval */
#define Z95 1.959963984540054

/* What one run of episodes leaves behind. */
typedef struct episodes {
    int n, max_steps;
    double *likes, *steps, *novel; /* (n) per episode; novel: the share of novel items */
    int32_t *items;                /* (n, max_steps) the recommendations, -1 after the end */
    int32_t *users;                /* (n) each episode's user */
} episodes;

static void episodes_free(episodes *e) {
    free(e->likes);
    free(e->steps);
    free(e->novel);
    free(e->items);
    free(e->users);
    memset(e, 0, sizeof *e);
}

/* The envs of one wave, stepped by the pool's workers: worker r steps active slots r, r + T,
 * ... (each env on its own: the results do not depend on the thread count). */
typedef struct wave {
    us_env **env;
    int n_active, n_threads;
    const int *active;            /* slot of each active row */
    const int32_t *actions;       /* (n_active) */
    int32_t *obs;                 /* (WAVE, obs_size) by slot */
    int obs_size;
    us_env_step_result *res;      /* (WAVE) by slot */
} wave;

static void wave_step(void *ctx, int r) {
    wave *w = ctx;
    for (int a = r; a < w->n_active; a += w->n_threads) {
        const int s = w->active[a];
        us_env_step(w->env[s], w->actions[a], w->obs + (size_t)s * w->obs_size, &w->res[s]);
    }
}

static us_status check_config(const us_sim *sim, const us_eval_config *cfg, us_env_config *env,
                              us_err *err) {
    if (cfg->episodes < 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "episodes", "expected at least 1, found %d",
                          cfg->episodes);
    if (cfg->threads < 1 || cfg->threads > 1024)
        return us_err_set(err, US_EINVAL, NULL, 0, "threads", "expected 1..1024, found %d",
                          cfg->threads);
    if (cfg->users) {
        if (cfg->n_users < 1)
            return us_err_set(err, US_EINVAL, NULL, 0, "users", "an empty list of users");
        for (int k = 0; k < cfg->n_users; k++)
            if (cfg->users[k] < 0 || cfg->users[k] >= us_sim_n_users(sim))
                return us_err_set(err, US_EINVAL, NULL, 0, "users",
                                  "user %d is not one of the store's %d", cfg->users[k],
                                  us_sim_n_users(sim));
    }
    *env = cfg->env;
    if (env->max_steps > US_ENV_MAX_OBS_LEN)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_steps",
                          "at most %d for an evaluation (the observation holds the whole "
                          "episode), found %d", US_ENV_MAX_OBS_LEN, env->max_steps);
    env->obs_len = env->max_steps;
    return us_env_config_validate(env, err);
}

/* Each episode's user: the users (every user when cfg->users is NULL) in an order of the seed,
 * episode k meeting the k-th, cycling. */
static us_status episode_users(const us_sim *sim, const us_eval_config *cfg, int32_t **out,
                               us_err *err) {
    const int n_users = cfg->users ? cfg->n_users : us_sim_n_users(sim);
    int32_t *perm = malloc((size_t)n_users * sizeof *perm);
    int32_t *u = malloc((size_t)cfg->episodes * sizeof *u);
    if (!perm || !u) {
        free(perm);
        free(u);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    for (int k = 0; k < n_users; k++) perm[k] = cfg->users ? cfg->users[k] : k;
    us_rng order;
    us_rng_seed(&order, cfg->seed, 0x75736572u); /* "user" */
    us_rng_shuffle(&order, perm, (size_t)n_users, sizeof *perm);
    for (int k = 0; k < cfg->episodes; k++) u[k] = perm[k % n_users];
    free(perm);
    *out = u;
    return US_OK;
}

/* Runs cfg->episodes episodes of pol into *out. */
static us_status run_episodes(const us_sim *sim, us_agent_policy *pol,
                              const us_eval_config *cfg, episodes *out, us_err *err) {
    memset(out, 0, sizeof *out);
    us_env_config ecfg;
    us_status st = check_config(sim, cfg, &ecfg, err);
    if (st != US_OK) return st;
    const int N = cfg->episodes, T = ecfg.max_steps, W = N < WAVE ? N : WAVE;
    out->n = N;
    out->max_steps = T;
    out->likes = calloc((size_t)N, sizeof *out->likes);
    out->steps = calloc((size_t)N, sizeof *out->steps);
    out->novel = calloc((size_t)N, sizeof *out->novel);
    out->items = malloc((size_t)N * T * sizeof *out->items);
    us_env **env = calloc((size_t)W, sizeof *env);
    const int obs_size = 1 + 2 * T;
    int32_t *obs = malloc((size_t)W * obs_size * sizeof *obs);
    int32_t *batch = malloc((size_t)W * obs_size * sizeof *batch);
    int32_t *actions = malloc((size_t)W * sizeof *actions);
    us_rng *rng = malloc((size_t)W * sizeof *rng), *brng = malloc((size_t)W * sizeof *brng);
    int *active = malloc((size_t)W * sizeof *active), *episode = malloc((size_t)W * sizeof *episode);
    us_env_step_result *res = malloc((size_t)W * sizeof *res);
    us_pool *pool = NULL;
    if (!out->likes || !out->steps || !out->novel || !out->items || !env || !obs ||
        !batch || !actions || !rng || !brng || !active || !episode || !res)
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    for (int s = 0; st == US_OK && s < W; s++) st = us_env_init(&env[s], sim, &ecfg, err);
    wave wv = {.env = env, .n_threads = cfg->threads, .active = active, .actions = actions,
               .obs = obs, .obs_size = obs_size, .res = res};
    if (st == US_OK && cfg->threads > 1) st = us_pool_init(&pool, cfg->threads, wave_step, &wv, err);
    if (st == US_OK) st = episode_users(sim, cfg, &out->users, err);
    if (st != US_OK) goto done;
    for (size_t k = 0; k < (size_t)N * T; k++) out->items[k] = -1;

    for (int k0 = 0; k0 < N; k0 += W) {
        const int nw = N - k0 < W ? N - k0 : W;
        for (int s = 0; s < nw; s++) {
            const int k = k0 + s;
            const uint64_t seed = us_vecenv_episode_seed(cfg->seed, (uint64_t)k, 0);
            us_env_reset(env[s], seed, out->users[k], obs + (size_t)s * obs_size);
            rng[s] = us_rng_derive(seed, 0x706f6c69u); /* "poli": the policy's own draws */
            episode[s] = k;
            active[s] = s;
        }
        int n_active = nw;
        while (n_active > 0) {
            for (int a = 0; a < n_active; a++) {
                memcpy(batch + (size_t)a * obs_size, obs + (size_t)active[a] * obs_size,
                       (size_t)obs_size * sizeof *obs);
                brng[a] = rng[active[a]];
            }
            pol->act(pol->self, batch, n_active, obs_size, brng, actions);
            for (int a = 0; a < n_active; a++) {
                rng[active[a]] = brng[a];
                US_ASSERT(actions[a] >= 0 && actions[a] < us_sim_n_items(sim));
                const int s = active[a], k = episode[s];
                out->items[(size_t)k * T + us_env_steps(env[s])] = actions[a];
            }
            wv.n_active = n_active;
            if (pool) us_pool_run(pool);
            else wave_step(&wv, 0);
            int kept = 0;
            for (int a = 0; a < n_active; a++) {
                const int s = active[a], k = episode[s];
                out->likes[k] += res[s].reward;
                out->steps[k] += 1;
                if (!res[s].terminated && !res[s].truncated) active[kept++] = s;
            }
            n_active = kept;
        }
    }

done:
    us_pool_free(pool);
    for (int s = 0; env && s < W; s++) us_env_free(env[s]);
    free(env);
    free(obs);
    free(batch);
    free(actions);
    free(rng);
    free(brng);
    free(active);
    free(episode);
    free(res);
    if (st != US_OK) episodes_free(out);
    return st;
}

typedef struct hashed_item {
    uint64_t h;
    int32_t item;
} hashed_item;

static int by_hash(const void *a, const void *b) {
    const hashed_item *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

/* Category ids of the items (-1 for none) into cat (n_items), equal strings equal ids; returns
 * how many categories, or -1 out of memory. */
static int category_ids(const us_sim *sim, int32_t *cat) {
    const int V = us_sim_n_items(sim);
    hashed_item *t = malloc((size_t)V * sizeof *t);
    if (!t) return -1;
    int n = 0, n_cat = 0;
    for (int i = 0; i < V; i++) {
        const char *c = us_sim_category(sim, i);
        cat[i] = -1;
        if (*c) t[n++] = (hashed_item){us_hash64(c, strlen(c), 0x636174u), i}; /* "cat" */
    }
    qsort(t, (size_t)n, sizeof *t, by_hash);
    for (int k = 0; k < n; k++) {
        if (k > 0 && t[k].h != t[k - 1].h) n_cat++;
        cat[t[k].item] = n_cat;
    }
    free(t);
    return n > 0 ? n_cat + 1 : 0;
}

/* Fills e->novel: for each episode, the share of its recommendations whose category is not
 * among the categories of its user's training history (an item without a category is not
 * novel). */
static us_status novelty(const us_sim *sim, episodes *e, us_err *err) {
    const int V = us_sim_n_items(sim);
    int32_t *cat = malloc((size_t)V * sizeof *cat);
    if (!cat) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    const int n_cat = category_ids(sim, cat);
    int *stamp = n_cat > 0 ? calloc((size_t)n_cat, sizeof *stamp) : NULL;
    if (n_cat < 0 || (n_cat > 0 && !stamp)) {
        free(cat);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    for (int k = 0; k < e->n; k++) {
        e->novel[k] = 0.0;
        if (n_cat == 0) continue;
        const int32_t *hist;
        const int nh = us_sim_history(sim, e->users[k], &hist, NULL);
        for (int j = 0; j < nh; j++)
            if (cat[hist[j]] >= 0) stamp[cat[hist[j]]] = k + 1;
        int novel = 0, n = 0;
        for (int t = 0; t < e->max_steps; t++) {
            const int32_t i = e->items[(size_t)k * e->max_steps + t];
            if (i < 0) break;
            n++;
            novel += cat[i] >= 0 && stamp[cat[i]] != k + 1;
        }
        e->novel[k] = n ? (double)novel / n : 0.0;
    }
    free(stamp);
    free(cat);
    return US_OK;
}

/* The mean of x (n) and its 95% interval's half-width (normal; 0 for n < 2). */
static us_metric mean_ci(const double *x, int n) {
    double s = 0.0;
    for (int k = 0; k < n; k++) s += x[k];
    const double m = s / n;
    double ss = 0.0;
    for (int k = 0; k < n; k++) ss += (x[k] - m) * (x[k] - m);
    return (us_metric){m, n > 1 ? Z95 * sqrt(ss / (n - 1) / n) : 0.0};
}

/* The pooled ratio Σy / Σx and its interval by the delta method: the variance of
 * (y_k - r·x_k) / mean(x) over n. */
static us_metric ratio_ci(const double *y, const double *x, int n) {
    double sy = 0.0, sx = 0.0;
    for (int k = 0; k < n; k++) {
        sy += y[k];
        sx += x[k];
    }
    const double r = sx > 0 ? sy / sx : 0.0, mx = sx / n;
    double ss = 0.0;
    for (int k = 0; k < n; k++) {
        const double z = (y[k] - r * x[k]) / mx;
        ss += z * z;
    }
    return (us_metric){r, n > 1 && mx > 0 ? Z95 * sqrt(ss / (n - 1) / n) : 0.0};
}

static int by_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Distinct items of the episodes picked by idx (n of them) over the catalogue, in percent. */
static double coverage_of(const episodes *e, const int *idx, int n, int32_t *stamp, int mark,
                          int V) {
    int distinct = 0;
    for (int j = 0; j < n; j++) {
        const int32_t *it = e->items + (size_t)idx[j] * e->max_steps;
        for (int t = 0; t < e->max_steps && it[t] >= 0; t++)
            if (stamp[it[t]] != mark) {
                stamp[it[t]] = mark;
                distinct++;
            }
    }
    return 100.0 * distinct / V;
}

/* Coverage and its interval: the half-width of the central 95% of BOOTSTRAP resamples of the
 * episodes (drawn from seed). */
static us_status coverage(const episodes *e, int V, uint64_t seed, us_metric *out, us_err *err) {
    int32_t *stamp = calloc((size_t)V, sizeof *stamp);
    int *idx = malloc((size_t)e->n * sizeof *idx);
    double *boot = malloc(BOOTSTRAP * sizeof *boot);
    if (!stamp || !idx || !boot) {
        free(stamp);
        free(idx);
        free(boot);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    for (int k = 0; k < e->n; k++) idx[k] = k;
    out->mean = coverage_of(e, idx, e->n, stamp, 1, V);
    us_rng rng;
    us_rng_seed(&rng, seed, 0x626f6f74u); /* "boot" */
    for (int b = 0; b < BOOTSTRAP; b++) {
        for (int k = 0; k < e->n; k++) idx[k] = (int)us_rng_bounded(&rng, (uint32_t)e->n);
        boot[b] = coverage_of(e, idx, e->n, stamp, b + 2, V);
    }
    qsort(boot, BOOTSTRAP, sizeof *boot, by_double);
    out->ci = e->n > 1 ? 0.5 * (boot[(int)(0.975 * (BOOTSTRAP - 1))] -
                                boot[(int)(0.025 * (BOOTSTRAP - 1))])
                       : 0.0;
    free(stamp);
    free(idx);
    free(boot);
    return US_OK;
}

us_status us_eval(const us_sim *sim, us_agent_policy *pol, const us_eval_config *cfg,
                  us_eval_result *out, double *per_user_return, double *per_user_length,
                  us_err *err) {
    memset(out, 0, sizeof *out);
    episodes e;
    us_status st = run_episodes(sim, pol, cfg, &e, err);
    if (st != US_OK) return st;
    st = novelty(sim, &e, err);
    double *avg = st == US_OK ? malloc((size_t)e.n * sizeof *avg) : NULL;
    if (st == US_OK && !avg) st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    if (st == US_OK) {
        snprintf(out->policy, sizeof out->policy, "%s", pol->name);
        out->episodes = e.n;
        for (int k = 0; k < e.n; k++) avg[k] = e.likes[k] / e.steps[k];
        out->avg_reward = mean_ci(avg, e.n);
        out->total_reward = mean_ci(e.likes, e.n);
        out->liking = ratio_ci(e.likes, e.steps, e.n);
        out->liking.mean *= 100.0;
        out->liking.ci *= 100.0;
        out->length = mean_ci(e.steps, e.n);
        out->novelty = mean_ci(e.novel, e.n);
        out->novelty.mean *= 100.0;
        out->novelty.ci *= 100.0;
        st = coverage(&e, us_sim_n_items(sim), cfg->seed, &out->coverage, err);
    }
    if (st == US_OK && per_user_return) memcpy(per_user_return, e.likes, (size_t)e.n * sizeof(double));
    if (st == US_OK && per_user_length) memcpy(per_user_length, e.steps, (size_t)e.n * sizeof(double));
    free(avg);
    episodes_free(&e);
    return st;
}

us_status us_ab(const us_sim *sim, us_agent_policy *a, us_agent_policy *b,
                const us_eval_config *cfg, us_ab_result *out, us_err *err) {
    memset(out, 0, sizeof *out);
    episodes ea, eb;
    us_status st = run_episodes(sim, a, cfg, &ea, err);
    if (st != US_OK) return st;
    if ((st = run_episodes(sim, b, cfg, &eb, err)) != US_OK) {
        episodes_free(&ea);
        return st;
    }
    const int n = ea.n;
    double *d = calloc((size_t)n, sizeof *d);
    if (!d) {
        episodes_free(&ea);
        episodes_free(&eb);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    out->users = n;
    out->a.like_rate = ratio_ci(ea.likes, ea.steps, n);
    out->b.like_rate = ratio_ci(eb.likes, eb.steps, n);
    out->a.ret = mean_ci(ea.likes, n);
    out->b.ret = mean_ci(eb.likes, n);
    out->a.length = mean_ci(ea.steps, n);
    out->b.length = mean_ci(eb.steps, n);
    for (int k = 0; k < n; k++) d[k] = eb.likes[k] - ea.likes[k];
    out->diff_return = mean_ci(d, n);
    double sd = 0.0;
    for (int k = 0; k < n; k++) sd += (d[k] - out->diff_return.mean) * (d[k] - out->diff_return.mean);
    sd = n > 1 ? sqrt(sd / (n - 1)) : 0.0;
    for (int k = 0; k < n; k++) d[k] = eb.steps[k] - ea.steps[k];
    out->diff_length = mean_ci(d, n);
    /* the difference of two pooled ratios, linearized per user (delta method), paired */
    const double ra = out->a.like_rate.mean, rb = out->b.like_rate.mean;
    double ma = 0.0, mb = 0.0;
    for (int k = 0; k < n; k++) {
        ma += ea.steps[k] / n;
        mb += eb.steps[k] / n;
    }
    for (int k = 0; k < n; k++)
        d[k] = rb + (eb.likes[k] - rb * eb.steps[k]) / mb - ra - (ea.likes[k] - ra * ea.steps[k]) / ma;
    out->diff_like_rate = mean_ci(d, n);
    const double mean_d = out->diff_return.mean;
    out->lift = out->a.ret.mean != 0.0 ? mean_d / out->a.ret.mean : NAN;
    if (sd > 0.0) {
        const double t = mean_d / (sd / sqrt((double)n));
        out->p_value = erfc(fabs(t) / sqrt(2.0));
    } else {
        out->p_value = mean_d != 0.0 ? 0.0 : 1.0;
    }
    const double zz = Z95 + 0.8416212335729143;
    out->users_needed = mean_d != 0.0 ? zz * zz * sd * sd / (mean_d * mean_d) : INFINITY;
    free(d);
    episodes_free(&ea);
    episodes_free(&eb);
    return US_OK;
}
