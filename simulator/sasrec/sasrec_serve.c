/* sasrec_serve.c — scoring with a trained SASRec without allocating: a serving state (llama2.c's
 * RunState) holds forward-only activations for a batch and one cached user, so the simulator's
 * step scores one (user, history, candidate), a batch of them, or many candidates of one user
 * whose encoding is reused until the user or the last T items of the history change.
 *
 * Why a step re-encodes the whole window rather than one position: positions are relative to
 * the window (the newest item always sits at T-1), so appending an item moves every item to a
 * new position embedding, and every hidden state changes. What a step can reuse is the
 * user's encoding across all the candidates it scores (us_sasrec_user_encode/_user_score).
 * The next-item head ranks candidates (all items, or a subset) from one encoder row
 * (us_sasrec_next_score).
 *
 * It deliberately does not lock: a state belongs to one thread at a time (a model, read-only
 * here, may be shared by many states). It does not notice weights changed in place under a
 * cached user: call us_sasrec_state_invalidate after such a change. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/sasrec/sasrec.h"
#include "simulator/sasrec/sasrec_internal.h"

struct us_sasrec_state {
    us_sasrec_acts *acts; /* forward-only activations for max_batch rows */
    int max_batch, T, C;
    int32_t *hist;        /* (max_batch,T) windows being scored */
    int32_t *users;       /* (max_batch) */
    int32_t *items;       /* (max_batch) */
    /* the cached user: valid when cached is 1, for (key_model, key_user, key_hist) */
    int cached;
    const us_sasrec *key_model;
    int32_t key_user;
    int32_t *key_hist;    /* (T) */
    float *zw;            /* (C) z ⊙ out_w of the cached user: logit(i) = zw·item_emb[i+1] + b */
};

us_status us_sasrec_state_init(us_sasrec_state **out, const us_sasrec *m, int max_batch,
                               us_err *err) {
    *out = NULL;
    if (max_batch < 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_batch", "expected >= 1, found %d",
                          max_batch);
    us_sasrec_state *st = calloc(1, sizeof *st);
    if (!st) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (state)");
    st->max_batch = max_batch;
    st->T = m->cfg.max_len;
    st->C = m->cfg.d;
    us_status s = sasrec_acts_init(&st->acts, &m->cfg, max_batch, 0, err);
    if (s != US_OK) {
        free(st);
        return s;
    }
    st->hist = malloc((size_t)max_batch * st->T * sizeof(int32_t));
    st->users = malloc((size_t)max_batch * sizeof(int32_t));
    st->items = malloc((size_t)max_batch * sizeof(int32_t));
    st->key_hist = malloc((size_t)st->T * sizeof(int32_t));
    st->zw = malloc((size_t)st->C * sizeof(float));
    if (!st->hist || !st->users || !st->items || !st->key_hist || !st->zw) {
        us_sasrec_state_free(st);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (state)");
    }
    *out = st;
    return US_OK;
}

void us_sasrec_state_free(us_sasrec_state *st) {
    if (!st) return;
    sasrec_acts_free(st->acts);
    free(st->hist);
    free(st->users);
    free(st->items);
    free(st->key_hist);
    free(st->zw);
    free(st);
}

void us_sasrec_state_invalidate(us_sasrec_state *st) { st->cached = 0; }

/* The last T items of hist[0..n) into w (T), left-padded with -1. */
static void window_of(const int32_t *hist, int n, int T, int32_t *w) {
    for (int t = T - 1, k = n - 1; t >= 0; t--, k--) w[t] = k >= 0 ? hist[k] : -1;
}

/* The state was built for this architecture (same T, C, and no larger tables than it holds). */
static void check_fits(const us_sasrec *m, const us_sasrec_state *st) {
    US_ASSERT(m->cfg.max_len == st->T && m->cfg.d == st->C && m->cfg.n_blocks == st->acts->NB &&
              m->cfg.n_heads == st->acts->H);
}

void us_sasrec_score_batch(const us_sasrec *m, us_sasrec_state *st, const int32_t *hist,
                           const int32_t *users, const int32_t *items, int B, float *out) {
    check_fits(m, st);
    int T = st->T;
    for (int b0 = 0; b0 < B; b0 += st->max_batch) {
        int n = B - b0 < st->max_batch ? B - b0 : st->max_batch;
        /* the encoder and the rating head, no dropout: P = σ(wo·(z ⊙ item_emb[i+1]) + bo) */
        sasrec_encode_forward(&m->cfg, &m->params, st->acts, hist + (size_t)b0 * T, n, 0, NULL);
        sasrec_rating_head_forward(&m->cfg, &m->params, st->acts, users + b0, items + b0, n);
        memcpy(out + b0, st->acts->prob, (size_t)n * sizeof(float));
    }
}

float us_sasrec_score(const us_sasrec *m, us_sasrec_state *st, int32_t user,
                      const int32_t *hist, int n_hist, int32_t item) {
    window_of(hist, n_hist, st->T, st->hist);
    float p;
    us_sasrec_score_batch(m, st, st->hist, &user, &item, 1, &p);
    return p;
}

int us_sasrec_user_encode(const us_sasrec *m, us_sasrec_state *st, int32_t user,
                          const int32_t *hist, int n_hist) {
    check_fits(m, st);
    int T = st->T, C = st->C;
    window_of(hist, n_hist, T, st->hist);
    if (st->cached && st->key_model == m && st->key_user == user &&
        memcmp(st->key_hist, st->hist, (size_t)T * sizeof(int32_t)) == 0)
        return 0;
    /* z = Wh·[h_{T-1} ; user_emb[u]] + bh from one encoder row (the candidate is a dummy) */
    int32_t dummy = 0;
    sasrec_encode_forward(&m->cfg, &m->params, st->acts, st->hist, 1, 0, NULL);
    sasrec_rating_head_forward(&m->cfg, &m->params, st->acts, &user, &dummy, 1);
    /* zw = z ⊙ wo, so that logit(i) = Σ_c zw_c·item_emb[i+1]_c + bo */
    for (int c = 0; c < C; c++) st->zw[c] = st->acts->z[c] * m->params.out_w[c];
    memcpy(st->key_hist, st->hist, (size_t)T * sizeof(int32_t));
    st->key_user = user;
    st->key_model = m;
    st->cached = 1;
    return 1;
}

void us_sasrec_user_score(const us_sasrec *m, const us_sasrec_state *st, const int32_t *items,
                          int n, float *out) {
    US_ASSERT(st->cached && st->key_model == m);
    int C = st->C;
    for (int j = 0; j < n; j++) {
        US_ASSERT(items[j] >= 0 && items[j] < m->cfg.n_items);
        const float *e = m->params.item_emb + (size_t)(items[j] + 1) * C;
        /* logit = Σ_c (z_c·wo_c)·e_c + bo, summed in double;  P = σ(logit) */
        double s = m->params.out_b[0];
        for (int c = 0; c < C; c++) s += (double)st->zw[c] * e[c];
        out[j] = (float)(1.0 / (1.0 + exp(-s)));
    }
}

void us_sasrec_next_state(const us_sasrec *m, us_sasrec_state *st, const int32_t *hist,
                          int n_hist, float *h) {
    check_fits(m, st);
    const int T = st->T, C = st->C;
    /* h = the encoder's last row for the window (no dropout); the cached user's zw is kept */
    window_of(hist, n_hist, T, st->hist);
    sasrec_encode_forward(&m->cfg, &m->params, st->acts, st->hist, 1, 0, NULL);
    memcpy(h, st->acts->hf + (size_t)(T - 1) * C, (size_t)C * sizeof *h);
}

void us_sasrec_next_score(const us_sasrec *m, us_sasrec_state *st, const int32_t *hist,
                          int n_hist, const int32_t *items, int n, float *out) {
    check_fits(m, st);
    int T = st->T, C = st->C;
    US_ASSERT(n >= 0 && (items || n == m->cfg.n_items));
    /* h = the encoder's last row for the window (no dropout); the cached user's zw is kept */
    window_of(hist, n_hist, T, st->hist);
    sasrec_encode_forward(&m->cfg, &m->params, st->acts, st->hist, 1, 0, NULL);
    const float *h = st->acts->hf + (size_t)(T - 1) * C;
    const float *E = m->params.item_emb;
    if (!items) {
        /* every item: out = E[1..V]·h, one matrix-vector product over the table past row 0 */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, C, 1.0f, E + C, C, h, 1, 0.0f, out, 1);
        return;
    }
    for (int j = 0; j < n; j++) {
        US_ASSERT(items[j] >= 0 && items[j] < m->cfg.n_items);
        /* score(i) = h·item_emb[i+1] */
        const float *e = E + (size_t)(items[j] + 1) * C;
        float s = 0.0f;
        for (int c = 0; c < C; c++) s += h[c] * e[c];
        out[j] = s;
    }
}
