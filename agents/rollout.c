/* rollout.c — on-policy experience for A2C, PPO and TRPO: T steps of every env under the
 * current policy (sampled from its masked softmax), and GAE(λ) advantages over them. */
#include <stdlib.h>
#include <string.h>

#include "agents/internal.h"

us_status ag_rollout_init(ag_rollout *r, int T, int N, int obs_size, int V, us_err *err) {
    memset(r, 0, sizeof *r);
    r->T = T;
    r->N = N;
    r->obs_size = obs_size;
    r->V = V;
    const size_t n = (size_t)T * N;
    r->obs = malloc(n * obs_size * sizeof *r->obs);
    r->actions = malloc(n * sizeof *r->actions);
    r->logp = malloc(n * sizeof *r->logp);
    r->values = malloc(n * sizeof *r->values);
    r->rewards = malloc(n * sizeof *r->rewards);
    r->dones = malloc(n);
    r->adv = malloc(n * sizeof *r->adv);
    r->ret = malloc(n * sizeof *r->ret);
    r->last_values = malloc((size_t)N * sizeof *r->last_values);
    r->logits = malloc((size_t)N * V * sizeof *r->logits);
    r->probs = malloc((size_t)N * V * sizeof *r->probs);
    if (!r->obs || !r->actions || !r->logp || !r->values || !r->rewards || !r->dones || !r->adv ||
        !r->ret || !r->last_values || !r->logits || !r->probs) {
        ag_rollout_free(r);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory for a rollout of %d x %d",
                          T, N);
    }
    return US_OK;
}

void ag_rollout_free(ag_rollout *r) {
    free(r->obs);
    free(r->actions);
    free(r->logp);
    free(r->values);
    free(r->rewards);
    free(r->dones);
    free(r->adv);
    free(r->ret);
    free(r->last_values);
    free(r->logits);
    free(r->probs);
    memset(r, 0, sizeof *r);
}

void ag_rollout_collect(ag_rollout *r, ag_ctx *ctx, us_net *pi, us_net *vf) {
    const int N = r->N, V = r->V, os = r->obs_size;
    US_ASSERT(N == ctx->n_envs && os == ctx->obs_size && V == ctx->n_items);
    uint8_t *term = malloc((size_t)N), *trunc = malloc((size_t)N);
    US_ASSERT(term && trunc);
    double ent = 0.0;
    for (int t = 0; t < r->T; t++) {
        const size_t row = (size_t)t * N;
        memcpy(r->obs + row * os, ctx->obs, (size_t)N * os * sizeof(int32_t));
        if (vf == pi) {
            us_net_forward(pi, ctx->obs, N, r->logits, r->values + row);
        } else {
            us_net_forward(vf, ctx->obs, N, NULL, r->values + row);
            us_net_forward(pi, ctx->obs, N, r->logits, NULL);
        }
        ag_mask_rows(ctx->sim, ctx->obs, N, os, r->logits, V);
        ag_log_softmax_rows(r->logits, r->probs, r->logits, N, V);
        for (int i = 0; i < N; i++) {
            const float *lp = r->logits + (size_t)i * V, *pr = r->probs + (size_t)i * V;
            const int32_t a = ag_sample(pr, V, &ctx->act_rngs[i]);
            r->actions[row + i] = a;
            r->logp[row + i] = lp[a];
            ent += ag_entropy(lp, pr, V);
        }
        ag_step(ctx, r->actions + row, r->rewards + row, term, trunc);
        for (int i = 0; i < N; i++) r->dones[row + i] = term[i] || trunc[i];
    }
    us_net_forward(vf, ctx->obs, N, NULL, r->last_values);
    r->entropy = ent / ((double)r->T * N);
    free(term);
    free(trunc);
}

void ag_gae(ag_rollout *r, double gamma, double lambda) {
    const int N = r->N;
    for (int i = 0; i < N; i++) {
        double next_adv = 0.0, next_value = r->last_values[i];
        for (int t = r->T - 1; t >= 0; t--) {
            const size_t k = (size_t)t * N + i;
            const double live = r->dones[k] ? 0.0 : 1.0;
            const double delta = r->rewards[k] + gamma * next_value * live - r->values[k];
            const double adv = delta + gamma * lambda * live * next_adv;
            r->adv[k] = (float)adv;
            r->ret[k] = (float)(adv + r->values[k]);
            next_adv = adv;
            next_value = r->values[k];
        }
    }
}
