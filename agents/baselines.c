/* baselines.c — policies that do not learn from rewards, the yardsticks every learner is read
 * against: random, most popular (likes in the training split), SASRec's next-item head
 * (greedy, pure exploitation), epsilon-greedy over it, and the oracle that reads the simulated
 * user's own like probability (the myopic ceiling). Each recommends only items the user has
 * not met (training history or this episode; us_agent_mask). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"

typedef enum kind { RANDOM, POPULAR, SASREC, EGREEDY, ORACLE } kind;

typedef struct baseline {
    kind kind;
    double eps;          /* EGREEDY */
    const us_sim *sim;
    int V;
    float *scores;       /* (V) one row's scores */
    float *likes;        /* (V) POPULAR: training likes per item */
    us_sim_worker *w;    /* SASREC, EGREEDY, ORACLE: made for episodes of max_ep steps */
    int max_ep;
    int32_t *ep_items;   /* (max_ep) */
    int8_t *ep_likes;    /* (max_ep) */
    us_rng own;          /* draws when the caller gives no streams */
} baseline;

static void baseline_free(void *self) {
    baseline *p = self;
    if (!p) return;
    us_sim_worker_free(p->w);
    free(p->scores);
    free(p->likes);
    free(p->ep_items);
    free(p->ep_likes);
    free(p);
}

/* A worker and episode buffers for episodes of up to n steps (kept when large enough). */
static us_status ensure_worker(baseline *p, int n, us_err *err) {
    if (p->w && n <= p->max_ep) return US_OK;
    us_sim_worker_free(p->w);
    p->w = NULL;
    free(p->ep_items);
    free(p->ep_likes);
    p->ep_items = malloc((size_t)(n > 0 ? n : 1) * sizeof *p->ep_items);
    p->ep_likes = malloc((size_t)(n > 0 ? n : 1) * sizeof *p->ep_likes);
    if (!p->ep_items || !p->ep_likes)
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    p->max_ep = n;
    return us_sim_worker_init(&p->w, p->sim, n > 0 ? n : 1, err);
}

/* The episode so far of one observation into p->ep_items / ep_likes; returns its length. */
static int episode_of(baseline *p, const int32_t *obs, int obs_size) {
    int n = 0;
    for (int k = 1; k + 1 < obs_size; k += 2)
        if (obs[k] >= 0) {
            p->ep_items[n] = obs[k];
            p->ep_likes[n] = (int8_t)(obs[k + 1] == 1);
            n++;
        }
    return n;
}

/* A uniformly random item among the row's unmasked ones (scores > -INFINITY). */
static int32_t random_unmasked(const float *scores, int V, us_rng *rng) {
    int n = 0;
    for (int i = 0; i < V; i++) n += scores[i] > -INFINITY;
    if (n == 0) return (int32_t)us_rng_bounded(rng, (uint32_t)V);
    uint32_t k = us_rng_bounded(rng, (uint32_t)n);
    for (int i = 0; i < V; i++)
        if (scores[i] > -INFINITY && k-- == 0) return i;
    return V - 1; /* not reached */
}

static void baseline_act(void *self, const int32_t *obs, int B, int obs_size, us_rng *rngs,
                         int32_t *actions) {
    baseline *p = self;
    const int V = p->V;
    if (p->kind == SASREC || p->kind == EGREEDY || p->kind == ORACLE) {
        /* sized at init for the usual episode; a longer observation makes a larger worker, and
         * when that fails the row falls back to random */
        if (ensure_worker(p, (obs_size - 1) / 2, NULL) != US_OK) p->kind = RANDOM;
    }
    for (int b = 0; b < B; b++) {
        const int32_t *ob = obs + (size_t)b * obs_size;
        us_rng *rng = rngs ? &rngs[b] : &p->own;
        const int32_t u = ob[0];
        switch (p->kind) {
        case RANDOM:
            memset(p->scores, 0, (size_t)V * sizeof(float));
            break;
        case POPULAR:
            memcpy(p->scores, p->likes, (size_t)V * sizeof(float));
            break;
        case EGREEDY:
        case SASREC: {
            /* one draw per step whatever the branch, so every step uses the same numbers */
            const double x = p->kind == EGREEDY ? us_rng_uniform(rng) : 1.0;
            const int n = episode_of(p, ob, obs_size);
            if (x < p->eps) {
                memset(p->scores, 0, (size_t)V * sizeof(float));
                us_agent_mask(p->sim, ob, obs_size, 1, p->scores);
                actions[b] = random_unmasked(p->scores, V, rng);
                continue;
            }
            us_sim_next_scores(p->sim, p->w, u, p->ep_items, n, p->scores);
            break;
        }
        case ORACLE: {
            const int n = episode_of(p, ob, obs_size);
            memset(p->scores, 0, (size_t)V * sizeof(float));
            us_agent_mask(p->sim, ob, obs_size, 1, p->scores);
            /* the decision's own draws do not touch p_reward; a fixed scratch stream keeps the
             * caller's streams as they are */
            for (int i = 0; i < V; i++) {
                if (p->scores[i] == -INFINITY) continue;
                us_rng scratch = us_rng_derive(0x6f7261636c65u, (uint64_t)i); /* "oracle" */
                us_sim_reaction r;
                us_sim_decide(p->sim, p->w, u, p->ep_items, p->ep_likes, n, i, &scratch, &r);
                p->scores[i] = r.p_reward;
            }
            actions[b] = us_agent_argmax(p->scores, V);
            continue;
        }
        }
        us_agent_mask(p->sim, ob, obs_size, 1, p->scores);
        actions[b] = p->kind == RANDOM ? random_unmasked(p->scores, V, rng)
                                       : us_agent_argmax(p->scores, V);
    }
}

us_status us_baseline_init(us_agent_policy *out, const us_sim *sim, const char *name,
                           us_err *err) {
    memset(out, 0, sizeof *out);
    kind k;
    double eps = 0.0;
    if (!name) name = "";
    if (!strcmp(name, "random")) {
        k = RANDOM;
    } else if (!strcmp(name, "popular")) {
        k = POPULAR;
    } else if (!strcmp(name, "sasrec")) {
        k = SASREC;
    } else if (!strcmp(name, "oracle")) {
        k = ORACLE;
    } else if (!strncmp(name, "egreedy:", 8)) {
        char *end;
        eps = strtod(name + 8, &end);
        if (end == name + 8 || *end || !(eps >= 0.0 && eps <= 1.0))
            return us_err_set(err, US_EINVAL, NULL, 0, "policy",
                              "egreedy:EPS needs EPS between 0 and 1, found \"%s\"", name + 8);
        k = EGREEDY;
    } else {
        return us_err_set(err, US_EINVAL, NULL, 0, "policy", "expected random, popular, "
                          "sasrec, egreedy:EPS or oracle, found \"%s\"", name);
    }
    baseline *p = calloc(1, sizeof *p);
    if (!p) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    p->kind = k;
    p->eps = eps;
    p->sim = sim;
    p->V = us_sim_n_items(sim);
    us_rng_seed(&p->own, 0x62617365u, 0); /* "base" */
    us_status st = US_OK;
    p->scores = malloc((size_t)p->V * sizeof *p->scores);
    if (!p->scores) st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    if (st == US_OK && k == POPULAR) {
        /* likes in the training split; ties go to the lower item id (us_agent_argmax) */
        p->likes = calloc((size_t)p->V, sizeof *p->likes);
        if (!p->likes) st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        for (int u = 0; st == US_OK && u < us_sim_n_users(sim); u++) {
            const int32_t *items;
            const int8_t *labels;
            const int n = us_sim_history(sim, u, &items, &labels);
            for (int j = 0; j < n; j++) p->likes[items[j]] += labels[j] == 1;
        }
    }
    if (st == US_OK && (k == SASREC || k == EGREEDY || k == ORACLE)) {
        st = ensure_worker(p, us_env_config_default().max_steps, err);
        if (st == US_OK && k != ORACLE &&
            !us_sim_next_scores(sim, p->w, 0, p->ep_items, 0, p->scores))
            st = us_err_set(err, US_ENOTFOUND, NULL, 0, "policy",
                            "%s needs the store's next-item head, which it does not have "
                            "(usersim build makes it)", name);
    }
    if (st != US_OK) {
        baseline_free(p);
        return st;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    out->self = p;
    out->act = baseline_act;
    out->free = baseline_free;
    return US_OK;
}
