/* sasrec_train.c — SASRec on a store: loading interactions into flat arrays (per-user CSR
 * histories), history windows, mini-batch Adam training of either head with early stopping on
 * the validation split, data-parallel over the OpenBLAS thread count (sasrec_trainer: one
 * shard of each batch per thread, the shard gradients summed in a fixed order), and evaluation
 * (rating: AUC, log loss, accuracy; next item: HR@10 and NDCG@10 against sampled negatives and
 * against the full catalogue).
 *
 * The optimizer step (clip norm, clipping, Adam) and the evaluation during training run on the
 * same threads: the step over fixed pieces of the block, the rating evaluation's batches
 * sharded as training's, the next-item evaluation's users in contiguous ranges.
 *
 * It deliberately does not write to the store (checkpoints are sasrec_store.c) or time
 * anything that decides a result: the same seed and thread count give the same bits. */
#include <cblas.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/sasrec/sasrec.h"
#include "simulator/sasrec/sasrec_internal.h"

/* ------------------------------------------------------------------------------------------
 * Loading a store
 * ---------------------------------------------------------------------------------------- */

void us_sasrec_data_close(us_sasrec_data *d) {
    if (!d) return;
    free(d->user_off);
    free(d->item);
    free(d->label);
    free(d->split);
    free(d->ex_user);
    for (int s = 0; s < 3; s++) free(d->ex[s]);
    free(d);
}

static us_status db_fail(sqlite3 *db, const char *path, us_err *err, const char *what) {
    return us_err_set(err, US_EDB, path, 0, NULL, "%s: %s", what, sqlite3_errmsg(db));
}

/* One integer from a one-row query; -1 on error. */
static long long query_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

us_status us_sasrec_data_open(const char *path, us_sasrec_data **out, us_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return us_err_set(err, US_ENOTFOUND, path, 0, NULL, "no such store");
    fclose(f);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        us_status st = db_fail(db, path, err, "cannot open");
        sqlite3_close(db);
        return st;
    }
    us_status st = US_OK;
    sqlite3_stmt *q = NULL;
    us_sasrec_data *d = calloc(1, sizeof *d);
    long long nu = query_int(db, "SELECT COUNT(*) FROM users");
    long long ni = query_int(db, "SELECT COUNT(*) FROM items");
    long long nx = query_int(db, "SELECT COUNT(*) FROM interactions");
    if (!d) {
        st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
        goto done;
    }
    if (nu < 0 || ni < 0 || nx < 0) {
        st = us_err_set(err, US_EFORMAT, path, 0, NULL,
                        "not a usersim store: expected tables users, items, interactions");
        goto done;
    }
    if (nu == 0 || ni == 0 || nx == 0 || nu > INT32_MAX - 1 || ni > INT32_MAX - 1) {
        st = us_err_set(err, US_EEMPTY, path, 0, NULL,
                        "expected users, items and interactions, found %lld, %lld, %lld", nu,
                        ni, nx);
        goto done;
    }
    d->n_users = (int)nu;
    d->n_items = (int)ni;
    d->n_inter = (uint64_t)nx;
    d->user_off = calloc((size_t)nu + 1, sizeof *d->user_off);
    d->item = malloc((size_t)nx * sizeof *d->item);
    d->label = malloc((size_t)nx);
    d->split = malloc((size_t)nx);
    d->ex_user = malloc((size_t)nx * sizeof *d->ex_user);
    for (int s = 0; s < 3; s++) d->ex[s] = malloc((size_t)nx * sizeof *d->ex[s]);
    if (!d->user_off || !d->item || !d->label || !d->split || !d->ex_user || !d->ex[0] ||
        !d->ex[1] || !d->ex[2]) {
        st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory: %lld interactions", nx);
        goto done;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT user, item, label, split FROM interactions "
                           "ORDER BY user, pos",
                           -1, &q, NULL) != SQLITE_OK) {
        st = us_err_set(err, US_EFORMAT, path, 0, "interactions",
                        "not a usersim store: %s", sqlite3_errmsg(db));
        goto done;
    }
    uint64_t k = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long u = sqlite3_column_int64(q, 0), it = sqlite3_column_int64(q, 1);
        int lab = sqlite3_column_type(q, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 2);
        int sp = sqlite3_column_int(q, 3);
        if (k >= d->n_inter || u < 0 || u >= nu || it < 0 || it >= ni || lab < -1 || lab > 1 ||
            sp < 0 || sp > 2) {
            st = us_err_set(err, US_EFORMAT, path, (long)(k + 1), "interactions",
                            "expected user < %lld, item < %lld, label NULL/0/1, split 0..2; "
                            "found user %lld, item %lld, label %d, split %d",
                            nu, ni, u, it, lab, sp);
            goto done;
        }
        d->item[k] = (int32_t)it;
        d->label[k] = (int8_t)lab;
        d->split[k] = (int8_t)sp;
        d->ex_user[k] = (int32_t)u;
        d->user_off[u + 1]++;
        if (lab >= 0) d->ex[sp][d->n_ex[sp]++] = k;
        k++;
    }
    if (rc != SQLITE_DONE) {
        st = db_fail(db, path, err, "reading interactions");
        goto done;
    }
    /* counts to offsets; rows arrive grouped by user, so the CSR is the row order itself */
    for (long long u = 0; u < nu; u++) d->user_off[u + 1] += d->user_off[u];
    if (d->n_ex[0] == 0) {
        st = us_err_set(err, US_EEMPTY, path, 0, "interactions",
                        "expected labeled training interactions (split 0), found none");
        goto done;
    }
done:
    sqlite3_finalize(q);
    sqlite3_close(db);
    if (st != US_OK) {
        us_sasrec_data_close(d);
        return st;
    }
    *out = d;
    return US_OK;
}

void us_sasrec_config_fit(us_sasrec_config *cfg, const us_sasrec_data *d) {
    cfg->n_users = d->n_users;
    cfg->n_items = d->n_items;
}

void us_sasrec_window(const us_sasrec_data *d, int32_t u, uint64_t e, int T, int32_t *out) {
    uint64_t lo = d->user_off[u];
    US_ASSERT(e >= lo && e <= d->user_off[u + 1]);
    /* out[T-1] = the item just before e, out[T-2] the one before, ...; -1 past the start */
    for (int t = T - 1; t >= 0; t--) {
        uint64_t back = (uint64_t)(T - 1 - t) + 1;
        out[t] = e - lo >= back ? d->item[e - back] : -1;
    }
}

/* ------------------------------------------------------------------------------------------
 * Metrics
 * ---------------------------------------------------------------------------------------- */

/* Heapsort of idx by scores[idx] ascending (ties by index, so the order is total). */
static int key_less(const float *s, uint32_t a, uint32_t b) {
    return s[a] < s[b] || (s[a] == s[b] && a < b);
}

static void sift_down(const float *s, uint32_t *idx, size_t root, size_t n) {
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n) return;
        if (c + 1 < n && key_less(s, idx[c], idx[c + 1])) c++;
        if (!key_less(s, idx[root], idx[c])) return;
        uint32_t t = idx[root];
        idx[root] = idx[c];
        idx[c] = t;
        root = c;
    }
}

double us_sasrec_auc(const float *scores, const int8_t *labels, size_t n, uint32_t *idx) {
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    for (size_t i = n / 2; i-- > 0;) sift_down(scores, idx, i, n);
    for (size_t end = n; end > 1; end--) {
        uint32_t t = idx[0];
        idx[0] = idx[end - 1];
        idx[end - 1] = t;
        sift_down(scores, idx, 0, end - 1);
    }
    /* Mann-Whitney: AUC = (Σ rank of positives - P(P+1)/2) / (P·N), tied scores sharing their
     * average rank (1-based). */
    double rank_sum = 0.0, npos = 0.0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && scores[idx[j + 1]] == scores[idx[i]]) j++;
        double avg = 0.5 * ((double)i + 1 + (double)j + 1);
        for (size_t k = i; k <= j; k++)
            if (labels[idx[k]] > 0) rank_sum += avg, npos += 1.0;
        i = j + 1;
    }
    double nneg = (double)n - npos;
    if (npos == 0.0 || nneg == 0.0) return 0.5;
    return (rank_sum - npos * (npos + 1.0) / 2.0) / (npos * nneg);
}

/* A partial of the next-item evaluation: sums over one thread's users. */
typedef struct next_partial {
    size_t n;
    double hr10, ndcg10, hr10_full, ndcg10_full;
} next_partial;

/* The evaluation on the trainer's threads (defined with the trainer below): one batch of the
 * rating head, its rows sharded as a training batch's, probabilities into prob (B); the
 * next-item head's users cut into P contiguous ranges, partials per thread into o (P). */
static void trainer_eval_rating_batch(sasrec_trainer *t, const int32_t *hist,
                                      const int32_t *users, const int32_t *items, int B,
                                      float *prob);
static void trainer_eval_next(sasrec_trainer *t, const us_sasrec_data *d, int s, uint64_t key);
static const next_partial *trainer_next_partials(const sasrec_trainer *t, int *P);

/* Probabilities of n rows (no dropout) on the activations a, into prob. */
static void eval_rating_rows(const us_sasrec *m, us_sasrec_acts *a, const int32_t *hist,
                             const int32_t *users, const int32_t *items, int n, float *prob) {
    if (n <= 0) return;
    sasrec_rating_forward(&m->cfg, &m->params, a, hist, users, items, NULL, n, 0, NULL);
    memcpy(prob, a->prob, (size_t)n * sizeof(float));
}

/* Rating-head metrics of the labeled interactions of split s, batch by batch (no dropout);
 * each batch's rows on the trainer's threads when tr is given. */
static us_status eval_rating(us_sasrec *m, sasrec_trainer *tr, const us_sasrec_data *d, int s,
                             us_sasrec_metrics *o, us_err *err) {
    size_t n = d->n_ex[s];
    memset(o, 0, sizeof *o);
    o->n = n;
    if (n == 0) return US_OK;
    int T = m->cfg.max_len, Bm = m->max_batch;
    float *score = malloc(n * sizeof(float));
    int8_t *lab = malloc(n);
    uint32_t *scratch = malloc(n * sizeof(uint32_t));
    int32_t *hist = malloc((size_t)Bm * T * sizeof(int32_t));
    int32_t *users = malloc((size_t)Bm * sizeof(int32_t)), *items = malloc((size_t)Bm * 4);
    us_status st = US_OK;
    if (!score || !lab || !scratch || !hist || !users || !items) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (evaluation)");
        goto done;
    }
    double ll = 0.0, correct = 0.0;
    for (size_t b0 = 0; b0 < n; b0 += (size_t)Bm) {
        int B = (int)(n - b0 < (size_t)Bm ? n - b0 : (size_t)Bm);
        for (int b = 0; b < B; b++) {
            uint64_t e = d->ex[s][b0 + b];
            users[b] = d->ex_user[e];
            items[b] = d->item[e];
            us_sasrec_window(d, users[b], e, T, hist + (size_t)b * T);
        }
        if (tr) trainer_eval_rating_batch(tr, hist, users, items, B, score + b0);
        else eval_rating_rows(m, m->acts, hist, users, items, B, score + b0);
        for (int b = 0; b < B; b++) {
            int8_t y = d->label[d->ex[s][b0 + b]];
            float p = score[b0 + b];
            double pc = fmin(fmax((double)p, 1e-7), 1.0 - 1e-7);
            lab[b0 + b] = y;
            ll -= y ? log(pc) : log(1.0 - pc);
            correct += (p >= 0.5f) == (y == 1);
        }
    }
    o->auc = us_sasrec_auc(score, lab, n, scratch);
    o->logloss = ll / (double)n;
    o->accuracy = correct / (double)n;
done:
    free(score);
    free(lab);
    free(scratch);
    free(hist);
    free(users);
    free(items);
    return st;
}

/* Scratch of one thread's next-item evaluation: up to R users per forward. */
typedef struct next_scratch {
    int R;
    int32_t *stamp;        /* (n_items) the user whose item it is, -1 none */
    int32_t *hist;         /* (R,T) */
    int32_t *users, *items; /* (R) the users and their targets */
    float *score;          /* (R,n_items) h_{T-1}·item_emb[j+1] */
} next_scratch;

static void next_scratch_free(next_scratch *ns) {
    free(ns->stamp);
    free(ns->hist);
    free(ns->users);
    free(ns->items);
    free(ns->score);
    memset(ns, 0, sizeof *ns);
}

static int next_scratch_init(next_scratch *ns, int R, int V, int T) {
    ns->R = R;
    ns->stamp = malloc((size_t)V * sizeof *ns->stamp);
    ns->hist = malloc((size_t)R * T * sizeof *ns->hist);
    ns->users = malloc((size_t)R * sizeof *ns->users);
    ns->items = malloc((size_t)R * sizeof *ns->items);
    ns->score = malloc((size_t)R * V * sizeof *ns->score);
    if (!ns->stamp || !ns->hist || !ns->users || !ns->items || !ns->score) {
        next_scratch_free(ns);
        return -1;
    }
    return 0;
}

/* Users per forward of the next-item evaluation: the activations' rows, at most 64 (the score
 * matrix is users × catalogue). */
static int next_rows(const us_sasrec_acts *a) { return a->B < 64 ? a->B : 64; }

/* Ranks the k users gathered in ns (their windows, users and targets): one forward, the scores
 * of every item by one sgemm, then per user the sampled and the full-catalogue rank. */
static void rank_next_batch(const us_sasrec *m, us_sasrec_acts *a, const us_sasrec_data *d,
                            uint64_t key, next_scratch *ns, int k, next_partial *o) {
    int T = m->cfg.max_len, C = m->cfg.d, V = d->n_items, K = m->cfg.eval_negatives;
    sasrec_rating_forward(&m->cfg, &m->params, a, ns->hist, ns->users, ns->items, NULL, k, 0,
                          NULL);
    /* score(b, j) = h_{T-1}(b)·item_emb[j+1]: row b of h_{T-1} at hf + (b·T + T-1)·C */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, V, C, 1.0f,
                a->hf + (size_t)(T - 1) * C, T * C, m->params.item_emb + C, C, 0.0f, ns->score,
                V);
    for (int b = 0; b < k; b++) {
        int32_t u = ns->users[b];
        for (uint64_t q = d->user_off[u]; q < d->user_off[u + 1]; q++) ns->stamp[d->item[q]] = u;
        const float *sc = ns->score + (size_t)b * V;
        float tgt = sc[ns->items[b]];
        us_rng rng = us_rng_derive(key, (uint64_t)u);
        int rank = 0, rank_full = 0;
        for (int q = 0; q < K; q++) {
            int32_t j;
            do j = (int32_t)us_rng_bounded(&rng, (uint32_t)V);
            while (ns->stamp[j] == u);
            rank += sc[j] > tgt;
        }
        for (int32_t j = 0; j < V; j++) rank_full += sc[j] > tgt && ns->stamp[j] != u;
        o->n++;
        if (rank < 10) o->hr10 += 1.0, o->ndcg10 += 1.0 / log2(rank + 2.0);
        if (rank_full < 10) o->hr10_full += 1.0, o->ndcg10_full += 1.0 / log2(rank_full + 2.0);
    }
}

/* Next-item sums over users [lo, hi) (eval_next says what is measured), on the activations a,
 * ns->R users per forward; ns->stamp holds -1 or users below lo on entry. User u's sampled
 * negatives come from us_rng_derive(key, u), so its negatives do not depend on which thread
 * ranks it. */
static void eval_next_users(const us_sasrec *m, us_sasrec_acts *a, const us_sasrec_data *d,
                            int s, uint64_t key, int32_t lo, int32_t hi, next_scratch *ns,
                            next_partial *o) {
    int T = m->cfg.max_len, V = d->n_items, k = 0;
    memset(o, 0, sizeof *o);
    for (int32_t u = lo; u < hi; u++) {
        uint64_t ulo = d->user_off[u], uhi = d->user_off[u + 1], e = uhi;
        for (uint64_t q = ulo; q < uhi; q++)
            if (d->split[q] == s) {
                e = q;
                break;
            }
        if (e == uhi) continue;
        if (uhi - ulo >= (uint64_t)V) continue; /* no negative exists */
        us_sasrec_window(d, u, e, T, ns->hist + (size_t)k * T);
        ns->users[k] = u;
        ns->items[k] = d->item[e];
        if (++k == ns->R) {
            rank_next_batch(m, a, d, key, ns, k, o);
            k = 0;
        }
    }
    if (k > 0) rank_next_batch(m, a, d, key, ns, k, o);
}

/* Next-item metrics: for each user with an interaction in split s, the first one is ranked
 * against eval_negatives items the user never interacted with (drawn uniformly, from the
 * generator us_rng_derive(key(seed, 100 + s), user)) and against every such item of the
 * catalogue. A candidate ranks the target down only with a strictly higher score. The users
 * on the trainer's threads when tr is given (the partial sums added in thread order). */
static us_status eval_next(us_sasrec *m, sasrec_trainer *tr, const us_sasrec_data *d, int s,
                           us_sasrec_metrics *o, us_err *err) {
    memset(o, 0, sizeof *o);
    uint64_t kin[2] = {m->cfg.seed, 100 + (uint64_t)s};
    uint64_t key = us_hash64(kin, sizeof kin, 0x6e657874u); /* "next" */
    next_partial one;
    const next_partial *part = &one;
    int P = 1;
    if (tr) {
        trainer_eval_next(tr, d, s, key);
        part = trainer_next_partials(tr, &P);
    } else {
        next_scratch ns;
        if (next_scratch_init(&ns, next_rows(m->acts), d->n_items, m->cfg.max_len) != 0)
            return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (evaluation)");
        for (int v = 0; v < d->n_items; v++) ns.stamp[v] = -1;
        eval_next_users(m, m->acts, d, s, key, 0, d->n_users, &ns, &one);
        next_scratch_free(&ns);
    }
    for (int r = 0; r < P; r++) {
        o->n += part[r].n;
        o->hr10 += part[r].hr10;
        o->ndcg10 += part[r].ndcg10;
        o->hr10_full += part[r].hr10_full;
        o->ndcg10_full += part[r].ndcg10_full;
    }
    if (o->n) {
        double n = (double)o->n;
        o->hr10 /= n;
        o->ndcg10 /= n;
        o->hr10_full /= n;
        o->ndcg10_full /= n;
    }
    return US_OK;
}

static us_status evaluate(us_sasrec *m, sasrec_trainer *tr, const us_sasrec_data *d, int split,
                          us_sasrec_metrics *out, us_err *err) {
    if (split < 0 || split > 2)
        return us_err_set(err, US_EINVAL, NULL, 0, "split", "expected 0..2, found %d", split);
    if (d->n_users != m->cfg.n_users || d->n_items != m->cfg.n_items)
        return us_err_set(err, US_EINVAL, NULL, 0, "data",
                          "expected %d users and %d items (the model's), found %d and %d",
                          m->cfg.n_users, m->cfg.n_items, d->n_users, d->n_items);
    if (m->cfg.head == US_SASREC_NEXT) return eval_next(m, tr, d, split, out, err);
    return eval_rating(m, tr, d, split, out, err);
}

us_status us_sasrec_evaluate(us_sasrec *m, const us_sasrec_data *d, int split,
                             us_sasrec_metrics *out, us_err *err) {
    return evaluate(m, NULL, d, split, out, err);
}

/* ------------------------------------------------------------------------------------------
 * Data-parallel steps (sasrec_internal.h says what they guarantee)
 * ---------------------------------------------------------------------------------------- */

typedef enum {
    JOB_SHARDS,
    JOB_REDUCE,
    JOB_NORM,
    JOB_ADAM,
    JOB_EVAL_RATING,
    JOB_EVAL_NEXT
} trainer_job;

/* One piece of the optimizer's work: a run of a dense tensor (rows NULL: elements
 * [off, off+len) of the block) or a run of touched rows of a table (rows[0..nrows) of the
 * (·, C) table at block offset off; len = nrows·C). Pieces follow block order, so walking them
 * in order visits the elements in the order nn_clip_grad_norm sums them. */
typedef struct opt_piece {
    size_t off, len;
    const int32_t *rows;
    size_t nrows;
} opt_piece;

/* Dense runs and row runs are cut at this many elements, so that the threads' shares of a step
 * can balance even when one table is most of the block. */
#define OPT_PIECE_MAX ((size_t)1 << 15)

struct sasrec_trainer {
    us_sasrec *m;
    int P;                   /* shards = threads */
    uint64_t dropout_key;    /* the shards' dropout generators are children of this */
    us_sasrec_acts **acts;   /* (P) shard 0 borrows m->acts, the others own ceil(max_batch/P) rows */
    float **gbuf;            /* (P) gradient sections of nparams floats; shard 0: the model's */
    us_sasrec_params *grads; /* (P) tensor views into gbuf[s] */
    double *loss;            /* (P) Σ of the shard's per-row (per-position) losses */
    /* the batch in flight */
    int head, B;
    float gscale; /* 1/B (rating) or 1/(real positions of the batch) (next) */
    const int32_t *hist, *users, *items, *pos, *neg;
    const float *labels;
    trainer_job job;
    us_pool *pool; /* NULL with one thread */
    /* lazy embedding updates (m->sparse_embeddings) */
    int sparse;        /* the batch in flight is sparse */
    int rows_clean;    /* every gbuf is zero outside the row sets' rows */
    nn_rowset irows, urows;   /* touched rows of item_emb and user_emb */
    uint32_t *istamp, *ustamp;
    int32_t *ilist, *ulist;
    /* segments of the block the sparse batch sums and steps, in block order */
    size_t nseg, seg_total;
    size_t *seg_off, *seg_len;
    /* the optimizer step on the pool: pieces, thread r taking pieces [piece_lo[r],
     * piece_lo[r+1]) (balanced by elements), its Σ g² in ss[r] */
    opt_piece *piece;
    size_t npiece, piece_cap;
    size_t *piece_lo; /* (P+1) */
    double *ss;       /* (P) */
    float clip_coef;  /* 1: no clipping */
    /* evaluation on the pool */
    const us_sasrec_data *ed;
    int esplit;
    float *eprob;            /* (B) rating head: the batch's probabilities */
    next_scratch *ens;       /* (P) next head: per-thread scratch (NULL for the rating head) */
    uint64_t ekey;           /* next head: user u's negatives from us_rng_derive(ekey, u) */
    next_partial *epart;     /* (P) */
};

static void shard_rows(const sasrec_trainer *t, int s, int *lo, int *hi) {
    *lo = (int)((int64_t)t->B * s / t->P);
    *hi = (int)((int64_t)t->B * (s + 1) / t->P);
}

/* Shard s: zero its gradient, then forward and backward of its rows with the whole batch's
 * scale, dropout from the child (step·P + s) of the dropout key. */
static void run_shard(sasrec_trainer *t, int s) {
    us_sasrec *m = t->m;
    const us_sasrec_config *c = &m->cfg;
    int lo, hi;
    shard_rows(t, s, &lo, &hi);
    int n = hi - lo;
    size_t o = (size_t)lo * c->max_len;
    if (t->sparse && t->rows_clean) {
        /* the tables' rows were zeroed by the caller; the dense tensors here */
        for (size_t i = 0; i < US_SASREC_NTENSORS; i++)
            if (i != SASREC_T_ITEM_EMB && i != SASREC_T_USER_EMB)
                memset(t->gbuf[s] + m->block.offsets[i], 0, m->block.sizes[i] * sizeof(float));
    } else {
        memset(t->gbuf[s], 0, m->block.nparams * sizeof(float));
    }
    t->loss[s] = 0.0;
    if (n == 0) return;
    us_rng rng = us_rng_derive(t->dropout_key, (uint64_t)m->step * (uint64_t)t->P + (uint64_t)s);
    if (t->head == US_SASREC_RATING) {
        /* the forward's mean over n rows, times n: the rows' loss sum (for the report only) */
        double l = sasrec_rating_forward(c, &m->params, t->acts[s], t->hist + o, t->users + lo,
                                         t->items + lo, t->labels + lo, n, 1, &rng);
        t->loss[s] = l * (double)n;
        sasrec_rating_backward(c, &m->params, &t->grads[s], t->acts[s], t->gscale);
    } else {
        double l = sasrec_next_forward(c, &m->params, t->acts[s], t->hist + o, t->pos + o,
                                       t->neg + o, n, 1, &rng);
        t->loss[s] = l * (double)sasrec_next_count(t->pos + o, (size_t)n * c->max_len);
        sasrec_next_backward(c, &m->params, &t->grads[s], t->acts[s], t->gscale);
    }
}

/* Thread r's range of the parameters: g_0 += g_1, then += g_2, ... (shard order), skipping
 * empty shards (whose gradients are zero). A sparse batch sums only its segments (the dense
 * tensors and the touched rows), thread r taking a fixed range of their concatenation: every
 * element is still summed in shard order. */
static void reduce_range(sasrec_trainer *t, size_t lo, size_t hi) {
    float *g = t->gbuf[0];
    for (int s = 1; s < t->P; s++) {
        int a, b;
        shard_rows(t, s, &a, &b);
        if (a == b) continue;
        const float *gs = t->gbuf[s];
        for (size_t i = lo; i < hi; i++) g[i] += gs[i];
    }
}

static void run_reduce(sasrec_trainer *t, int r) {
    if (!t->sparse) {
        size_t np = t->m->block.nparams;
        reduce_range(t, np * (size_t)r / (size_t)t->P, np * (size_t)(r + 1) / (size_t)t->P);
        return;
    }
    size_t lo = t->seg_total * (size_t)r / (size_t)t->P;
    size_t hi = t->seg_total * (size_t)(r + 1) / (size_t)t->P;
    size_t at = 0; /* where segment k starts in the concatenation */
    for (size_t k = 0; k < t->nseg && at < hi; k++) {
        size_t a = at > lo ? at : lo, e = at + t->seg_len[k] < hi ? at + t->seg_len[k] : hi;
        if (a < e) reduce_range(t, t->seg_off[k] + (a - at), t->seg_off[k] + (e - at));
        at += t->seg_len[k];
    }
}

/* Σ g² over thread r's pieces, in piece order, into ss[r]. */
static void run_norm(sasrec_trainer *t, int r) {
    const float *grads = nn_block_section(&t->m->block, t->m->mem, NN_GRADS);
    size_t C = (size_t)t->m->cfg.d;
    double ss = 0.0;
    for (size_t k = t->piece_lo[r]; k < t->piece_lo[r + 1]; k++) {
        const opt_piece *pc = &t->piece[k];
        if (!pc->rows) {
            const float *g = grads + pc->off;
            for (size_t i = 0; i < pc->len; i++) ss += (double)g[i] * g[i];
            continue;
        }
        for (size_t j = 0; j < pc->nrows; j++) {
            const float *g = grads + pc->off + (size_t)pc->rows[j] * C;
            for (size_t i = 0; i < C; i++) ss += (double)g[i] * g[i];
        }
    }
    t->ss[r] = ss;
}

/* Thread r's pieces: the clipping scale (when clip_coef != 1), then Adam with the model's
 * step count (already advanced). */
static void run_adam(sasrec_trainer *t, int r) {
    us_sasrec *m = t->m;
    const us_sasrec_config *c = &m->cfg;
    const nn_block *bl = &m->block;
    float *grads = nn_block_section(bl, m->mem, NN_GRADS);
    float *am = nn_block_section(bl, m->mem, NN_ADAM_M);
    float *av = nn_block_section(bl, m->mem, NN_ADAM_V);
    size_t C = (size_t)c->d;
    float coef = t->clip_coef;
    for (size_t k = t->piece_lo[r]; k < t->piece_lo[r + 1]; k++) {
        const opt_piece *pc = &t->piece[k];
        size_t o = pc->off;
        if (!pc->rows) {
            if (coef != 1.0f)
                for (size_t i = 0; i < pc->len; i++) grads[o + i] *= coef;
            nn_adamw_update(m->mem + o, grads + o, am + o, av + o, pc->len, c->lr, c->beta1,
                            c->beta2, c->adam_eps, c->weight_decay, m->step, NN_DECAY_L2);
            continue;
        }
        if (coef != 1.0f)
            for (size_t j = 0; j < pc->nrows; j++) {
                float *g = grads + o + (size_t)pc->rows[j] * C;
                for (size_t i = 0; i < C; i++) g[i] *= coef;
            }
        nn_adam_rows_update(m->mem + o, grads + o, am + o, av + o, pc->rows, pc->nrows, C,
                            c->lr, c->beta1, c->beta2, c->adam_eps, c->weight_decay, m->step,
                            NN_DECAY_L2);
    }
}

static void run_eval_rating(sasrec_trainer *t, int s) {
    int lo, hi;
    shard_rows(t, s, &lo, &hi);
    size_t o = (size_t)lo * t->m->cfg.max_len;
    eval_rating_rows(t->m, t->acts[s], t->hist + o, t->users + lo, t->items + lo, hi - lo,
                     t->eprob + lo);
}

static void run_eval_next(sasrec_trainer *t, int r) {
    const us_sasrec_data *d = t->ed;
    int32_t lo = (int32_t)((int64_t)d->n_users * r / t->P);
    int32_t hi = (int32_t)((int64_t)d->n_users * (r + 1) / t->P);
    next_scratch *ns = &t->ens[r];
    for (int v = 0; v < d->n_items; v++) ns->stamp[v] = -1;
    eval_next_users(t->m, t->acts[r], d, t->esplit, t->ekey, lo, hi, ns, &t->epart[r]);
}

static void run_job(sasrec_trainer *t, int r) {
    switch (t->job) {
    case JOB_SHARDS: run_shard(t, r); break;
    case JOB_REDUCE: run_reduce(t, r); break;
    case JOB_NORM: run_norm(t, r); break;
    case JOB_ADAM: run_adam(t, r); break;
    case JOB_EVAL_RATING: run_eval_rating(t, r); break;
    case JOB_EVAL_NEXT: run_eval_next(t, r); break;
    }
}

static void trainer_worker(void *ctx, int r) { run_job(ctx, r); }

/* Runs job on every thread (0 on the caller's) and returns when all are done. */
static void pool_run(sasrec_trainer *t, trainer_job job) {
    t->job = job;
    if (t->pool) us_pool_run(t->pool);
    else run_job(t, 0);
}

void sasrec_trainer_free(sasrec_trainer *t) {
    if (!t) return;
    us_pool_free(t->pool);
    for (int s = 1; s < t->P && t->acts; s++) sasrec_acts_free(t->acts[s]);
    if (t->gbuf && t->P > 1) free(t->gbuf[1]); /* shards 1..P-1: one allocation */
    free(t->acts);
    free(t->gbuf);
    free(t->grads);
    free(t->loss);
    free(t->istamp);
    free(t->ustamp);
    free(t->ilist);
    free(t->ulist);
    free(t->seg_off);
    free(t->seg_len);
    free(t->piece);
    free(t->piece_lo);
    free(t->ss);
    for (int s = 0; s < t->P && t->ens; s++) next_scratch_free(&t->ens[s]);
    free(t->ens);
    free(t->epart);
    free(t);
}

int sasrec_trainer_threads(const sasrec_trainer *t) { return t->P; }

us_status sasrec_trainer_init(sasrec_trainer **out, us_sasrec *m, int threads, us_err *err) {
    *out = NULL;
    int P = threads < 1 ? 1 : threads;
    if (P > 256) P = 256;
    if (P > m->max_batch) P = m->max_batch;
    sasrec_trainer *t = calloc(1, sizeof *t);
    if (!t) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (trainer)");
    t->m = m;
    t->P = P;
    uint64_t key[2] = {m->cfg.seed, 0x64726f706f7574ULL}; /* "dropout" */
    t->dropout_key = us_hash64(key, sizeof key, 0x73617372u);
    size_t np = m->block.nparams;
    t->acts = calloc((size_t)P, sizeof *t->acts);
    t->gbuf = calloc((size_t)P, sizeof *t->gbuf);
    t->grads = calloc((size_t)P, sizeof *t->grads);
    t->loss = calloc((size_t)P, sizeof *t->loss);
    /* touched rows: at most every window item, positive and negative plus a candidate per row */
    const us_sasrec_config *c = &m->cfg;
    size_t ni = (size_t)c->n_items + 1, nu = (size_t)c->n_users;
    size_t icap = (size_t)m->max_batch * (3 * (size_t)c->max_len + 1);
    if (icap > ni) icap = ni;
    size_t ucap = (size_t)m->max_batch < nu ? (size_t)m->max_batch : nu;
    size_t scap = US_SASREC_NTENSORS + icap + ucap;
    t->istamp = malloc(ni * sizeof *t->istamp);
    t->ustamp = malloc((nu ? nu : 1) * sizeof *t->ustamp);
    t->ilist = malloc(icap * sizeof *t->ilist);
    t->ulist = malloc((ucap ? ucap : 1) * sizeof *t->ulist);
    t->seg_off = malloc(scap * sizeof *t->seg_off);
    t->seg_len = malloc(scap * sizeof *t->seg_len);
    /* pieces: at most ceil(size/OPT_PIECE_MAX) per tensor, and no more for the touched rows
     * of a table than for the whole table */
    t->piece_cap = np / OPT_PIECE_MAX + 2 * US_SASREC_NTENSORS + 4;
    t->piece = malloc(t->piece_cap * sizeof *t->piece);
    t->piece_lo = calloc((size_t)P + 1, sizeof *t->piece_lo);
    t->ss = calloc((size_t)P, sizeof *t->ss);
    t->epart = calloc((size_t)P, sizeof *t->epart);
    if (c->head == US_SASREC_NEXT) t->ens = calloc((size_t)P, sizeof *t->ens);
    if (!t->acts || !t->gbuf || !t->grads || !t->loss || !t->istamp || !t->ustamp || !t->ilist ||
        !t->ulist || !t->seg_off || !t->seg_len || !t->piece || !t->piece_lo || !t->ss ||
        !t->epart || (c->head == US_SASREC_NEXT && !t->ens)) {
        sasrec_trainer_free(t);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (trainer)");
    }
    nn_rowset_init(&t->irows, t->istamp, t->ilist, ni, icap);
    nn_rowset_init(&t->urows, t->ustamp, t->ulist, nu, ucap);
    t->acts[0] = m->acts;
    t->gbuf[0] = nn_block_section(&m->block, m->mem, NN_GRADS);
    if (P > 1) {
        float *g = malloc((size_t)(P - 1) * np * sizeof(float));
        if (!g) {
            sasrec_trainer_free(t);
            return us_err_set(err, US_ENOMEM, NULL, 0, NULL,
                              "out of memory: %d gradient copies of %zu parameters", P - 1, np);
        }
        for (int s = 1; s < P; s++) t->gbuf[s] = g + (size_t)(s - 1) * np;
        int rows = (m->max_batch + P - 1) / P;
        for (int s = 1; s < P; s++) {
            us_status st = sasrec_acts_init(&t->acts[s], &m->cfg, rows, 1, err);
            if (st != US_OK) {
                sasrec_trainer_free(t);
                return st;
            }
        }
    }
    for (int s = 0; t->ens && s < P; s++)
        if (next_scratch_init(&t->ens[s], next_rows(t->acts[s]), c->n_items, c->max_len) != 0) {
            sasrec_trainer_free(t);
            return us_err_set(err, US_ENOMEM, NULL, 0, NULL,
                              "out of memory (evaluation scratch: %d items)", c->n_items);
        }
    /* shard s's tensors at the model's offsets inside gbuf[s] */
    for (int s = 0; s < P; s++) {
        float **f = (float **)&t->grads[s];
        for (size_t i = 0; i < US_SASREC_NTENSORS; i++) f[i] = t->gbuf[s] + m->block.offsets[i];
    }
    if (P > 1) {
        us_status st = us_pool_init(&t->pool, P, trainer_worker, t, err);
        if (st != US_OK) {
            sasrec_trainer_free(t);
            return st;
        }
    }
    *out = t;
    return US_OK;
}

/* Before a batch: in sparse mode, zero the previous sparse batch's rows in every gradient
 * buffer (the invariant: zero elsewhere), then collect this batch's rows and lay out the
 * segments (block order: item rows, pos_emb, user rows, the rest). */
static void trainer_prepare(sasrec_trainer *t) {
    us_sasrec *m = t->m;
    const nn_block *bl = &m->block;
    size_t C = (size_t)m->cfg.d;
    int T = m->cfg.max_len;
    t->sparse = m->sparse_embeddings != 0;
    if (!t->sparse) {
        t->rows_clean = 0;
        return;
    }
    if (t->rows_clean) {
        for (int s = 0; s < t->P; s++) {
            nn_zero_rows(t->gbuf[s] + bl->offsets[SASREC_T_ITEM_EMB], t->irows.rows, t->irows.n,
                         C);
            nn_zero_rows(t->gbuf[s] + bl->offsets[SASREC_T_USER_EMB], t->urows.rows, t->urows.n,
                         C);
        }
    }
    nn_rowset_clear(&t->irows);
    nn_rowset_clear(&t->urows);
    size_t N = (size_t)t->B * T;
    /* window items: item_emb[s_t], s_t = id + 1 at real positions */
    for (size_t n = 0; n < N; n++)
        if (t->hist[n] >= 0) nn_rowset_add(&t->irows, t->hist[n] + 1);
    if (t->head == US_SASREC_RATING) {
        for (int b = 0; b < t->B; b++) {
            nn_rowset_add(&t->irows, t->items[b] + 1);
            nn_rowset_add(&t->urows, t->users[b]);
        }
    } else {
        /* positives and negatives of the real positions (the others have weight 0) */
        for (size_t n = 0; n < N; n++) {
            if (t->pos[n] < 0) continue;
            nn_rowset_add(&t->irows, t->pos[n] + 1);
            nn_rowset_add(&t->irows, t->neg[n] + 1);
        }
    }
    nn_rowset_sort(&t->irows);
    nn_rowset_sort(&t->urows);
    t->nseg = 0;
    t->seg_total = 0;
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
        const nn_rowset *rs = i == SASREC_T_ITEM_EMB   ? &t->irows
                              : i == SASREC_T_USER_EMB ? &t->urows
                                                       : NULL;
        if (!rs) {
            t->seg_off[t->nseg] = bl->offsets[i];
            t->seg_len[t->nseg++] = bl->sizes[i];
            t->seg_total += bl->sizes[i];
            continue;
        }
        for (size_t k = 0; k < rs->n; k++) {
            t->seg_off[t->nseg] = bl->offsets[i] + (size_t)rs->rows[k] * C;
            t->seg_len[t->nseg++] = C;
            t->seg_total += C;
        }
    }
}

/* The optimizer's pieces for the last batch: every tensor whole (dense), or the dense tensors
 * whole and the touched rows of the two tables (sparse), cut at OPT_PIECE_MAX elements; then
 * thread r's share, pieces whose first element falls in [total·r/P, total·(r+1)/P). */
static void plan_pieces(sasrec_trainer *t) {
    const nn_block *bl = &t->m->block;
    size_t C = (size_t)t->m->cfg.d, rmax = OPT_PIECE_MAX / C ? OPT_PIECE_MAX / C : 1;
    size_t n = 0, total = 0;
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
        const nn_rowset *rs = !t->sparse               ? NULL
                              : i == SASREC_T_ITEM_EMB ? &t->irows
                              : i == SASREC_T_USER_EMB ? &t->urows
                                                       : NULL;
        if (!rs) {
            for (size_t a = 0; a < bl->sizes[i]; a += OPT_PIECE_MAX) {
                size_t len = bl->sizes[i] - a < OPT_PIECE_MAX ? bl->sizes[i] - a : OPT_PIECE_MAX;
                US_ASSERT(n < t->piece_cap);
                t->piece[n++] = (opt_piece){.off = bl->offsets[i] + a, .len = len};
                total += len;
            }
            continue;
        }
        for (size_t a = 0; a < rs->n; a += rmax) {
            size_t nr = rs->n - a < rmax ? rs->n - a : rmax;
            US_ASSERT(n < t->piece_cap);
            t->piece[n++] = (opt_piece){
                .off = bl->offsets[i], .len = nr * C, .rows = rs->rows + a, .nrows = nr};
            total += nr * C;
        }
    }
    t->npiece = n;
    size_t at = 0, k = 0;
    for (int r = 0; r < t->P; r++) {
        size_t end = total * (size_t)(r + 1) / (size_t)t->P;
        t->piece_lo[r] = k;
        while (k < n && at < end) at += t->piece[k++].len;
    }
    t->piece_lo[t->P] = n;
}

double sasrec_trainer_step(sasrec_trainer *t) {
    us_sasrec *m = t->m;
    const us_sasrec_config *c = &m->cfg;
    plan_pieces(t);
    /* ‖g‖ = sqrt(Σ g²) in double: each thread sums its pieces in block order, the partials are
     * added in thread order (one thread: nn_clip_grad_norm's sum; the untouched rows of a
     * sparse batch hold zeros and are skipped) */
    pool_run(t, JOB_NORM);
    double ss = 0.0;
    for (int r = 0; r < t->P; r++) ss += t->ss[r];
    double norm = sqrt(ss), max_norm = (double)c->clip_norm;
    /* g ← g·max_norm/(‖g‖ + 1e-6), as nn_clip_grad_norm */
    t->clip_coef = max_norm > 0.0 && norm > max_norm ? (float)(max_norm / (norm + 1e-6)) : 1.0f;
    m->step++;
    pool_run(t, JOB_ADAM);
    return norm;
}

static void trainer_eval_rating_batch(sasrec_trainer *t, const int32_t *hist,
                                      const int32_t *users, const int32_t *items, int B,
                                      float *prob) {
    t->B = B;
    t->hist = hist;
    t->users = users;
    t->items = items;
    t->eprob = prob;
    int blas = 0;
    if (t->P > 1) {
        blas = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
    pool_run(t, JOB_EVAL_RATING);
    if (t->P > 1) openblas_set_num_threads(blas);
}

static void trainer_eval_next(sasrec_trainer *t, const us_sasrec_data *d, int s, uint64_t key) {
    t->ed = d;
    t->esplit = s;
    t->ekey = key;
    int blas = 0;
    if (t->P > 1) {
        blas = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
    pool_run(t, JOB_EVAL_NEXT);
    if (t->P > 1) openblas_set_num_threads(blas);
}

static const next_partial *trainer_next_partials(const sasrec_trainer *t, int *P) {
    *P = t->P;
    return t->epart;
}

/* The shards, then the reduction, with OpenBLAS on one thread meanwhile; returns Σ loss[s]
 * in shard order. */
static double trainer_run(sasrec_trainer *t) {
    trainer_prepare(t);
    int blas = 0;
    if (t->P > 1) {
        blas = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
    pool_run(t, JOB_SHARDS);
    if (t->P > 1) {
        pool_run(t, JOB_REDUCE);
        openblas_set_num_threads(blas);
    }
    /* every gbuf is now zero outside the touched rows (a dense call zeroed it all) */
    t->rows_clean = t->sparse;
    double sum = 0.0;
    for (int s = 0; s < t->P; s++) sum += t->loss[s];
    return sum;
}

double sasrec_trainer_rating_grad(sasrec_trainer *t, const int32_t *hist, const int32_t *users,
                                  const int32_t *items, const float *labels, int B) {
    US_ASSERT(B >= 1 && B <= t->m->max_batch && labels);
    t->head = US_SASREC_RATING;
    t->B = B;
    t->hist = hist;
    t->users = users;
    t->items = items;
    t->labels = labels;
    /* L = Σ_b BCE_b / B */
    t->gscale = 1.0f / (float)B;
    return trainer_run(t) / (double)B;
}

double sasrec_trainer_next_grad(sasrec_trainer *t, const int32_t *hist, const int32_t *pos,
                                const int32_t *neg, int B) {
    US_ASSERT(B >= 1 && B <= t->m->max_batch);
    size_t real = sasrec_next_count(pos, (size_t)B * t->m->cfg.max_len);
    t->head = US_SASREC_NEXT;
    t->B = B;
    t->hist = hist;
    t->pos = pos;
    t->neg = neg;
    /* L = (Σ BCE+ + Σ BCE-) / (real positions of the whole batch); none: L = 0, no gradient */
    t->gscale = real ? 1.0f / (float)real : 0.0f;
    double sum = trainer_run(t);
    return real ? sum / (double)real : 0.0;
}

/* ------------------------------------------------------------------------------------------
 * Training
 * ---------------------------------------------------------------------------------------- */

/* One epoch of the rating head over the shuffled example order; returns the mean loss. */
static double epoch_rating(us_sasrec *m, sasrec_trainer *tr, const us_sasrec_data *d,
                           const uint64_t *order, int32_t *hist, int32_t *users, int32_t *items,
                           float *labels) {
    int T = m->cfg.max_len, Bm = m->max_batch;
    size_t n = d->n_ex[0];
    double loss = 0.0;
    for (size_t b0 = 0; b0 < n; b0 += (size_t)Bm) {
        int B = (int)(n - b0 < (size_t)Bm ? n - b0 : (size_t)Bm);
        for (int b = 0; b < B; b++) {
            uint64_t e = order[b0 + b];
            users[b] = d->ex_user[e];
            items[b] = d->item[e];
            labels[b] = (float)d->label[e];
            us_sasrec_window(d, users[b], e, T, hist + (size_t)b * T);
        }
        loss += sasrec_trainer_rating_grad(tr, hist, users, items, labels, B) * B;
        sasrec_trainer_step(tr);
    }
    return loss / (double)n;
}

/* One epoch of the next-item head: for each user (shuffled) with >= 2 training interactions,
 * the window of the last T+1 of them gives inputs s_0..s_{T-1} and targets s_1..s_T; each
 * target gets one negative the user never interacted with. Returns the mean loss per batch. */
static double epoch_next(us_sasrec *m, sasrec_trainer *tr, const us_sasrec_data *d,
                         const int32_t *uorder, int32_t *hist, int32_t *pos, int32_t *neg,
                         int32_t *stamp, size_t *examples) {
    int T = m->cfg.max_len, Bm = m->max_batch, V = d->n_items;
    double loss = 0.0;
    int batches = 0, B = 0;
    for (int32_t k = 0; k <= d->n_users; k++) {
        if (k < d->n_users) {
            int32_t u = uorder[k];
            uint64_t lo = d->user_off[u], hi = d->user_off[u + 1], end = lo;
            while (end < hi && d->split[end] == 0) end++;
            if (end - lo < 2 || hi - lo >= (uint64_t)V) continue;
            for (uint64_t j = lo; j < hi; j++) stamp[d->item[j]] = u;
            /* hist = the T items before the last training item; pos = the item after each */
            us_sasrec_window(d, u, end - 1, T, hist + (size_t)B * T);
            us_sasrec_window(d, u, end, T, pos + (size_t)B * T);
            for (int t = 0; t < T; t++) {
                size_t q = (size_t)B * T + t;
                if (hist[q] < 0) pos[q] = -1;
                int32_t j = 0;
                if (pos[q] >= 0) {
                    do j = (int32_t)us_rng_bounded(&m->rng, (uint32_t)V);
                    while (stamp[j] == u);
                }
                neg[q] = j;
            }
            B++;
            (*examples)++;
        }
        if (B == Bm || (k == d->n_users && B > 0)) {
            loss += sasrec_trainer_next_grad(tr, hist, pos, neg, B);
            sasrec_trainer_step(tr);
            batches++;
            B = 0;
        }
    }
    return batches ? loss / batches : 0.0;
}

us_status us_sasrec_train(us_sasrec *m, const us_sasrec_data *d, us_sasrec_report *rep,
                          const us_log *log, us_err *err) {
    const us_sasrec_config *c = &m->cfg;
    memset(rep, 0, sizeof *rep);
    if (d->n_users != c->n_users || d->n_items != c->n_items)
        return us_err_set(err, US_EINVAL, NULL, 0, "data",
                          "expected %d users and %d items (the model's), found %d and %d",
                          c->n_users, c->n_items, d->n_users, d->n_items);
    int T = c->max_len, Bm = m->max_batch, next = c->head == US_SASREC_NEXT;
    size_t np = m->block.nparams, n = d->n_ex[0];
    uint64_t *order = malloc(n * sizeof *order);
    int32_t *uorder = malloc((size_t)d->n_users * sizeof *uorder);
    int32_t *hist = malloc((size_t)Bm * T * sizeof(int32_t));
    int32_t *aux1 = malloc((size_t)Bm * T * sizeof(int32_t));
    int32_t *aux2 = malloc((size_t)Bm * T * sizeof(int32_t));
    float *labels = malloc((size_t)Bm * sizeof(float));
    int32_t *stamp = malloc((size_t)d->n_items * sizeof(int32_t));
    float *best = malloc(np * sizeof(float));
    sasrec_trainer *tr = NULL;
    us_status st = US_OK;
    if (!order || !uorder || !hist || !aux1 || !aux2 || !labels || !stamp || !best) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (training)");
        goto done;
    }
    /* one shard per OpenBLAS thread (the thread count the caller pinned) */
    st = sasrec_trainer_init(&tr, m, openblas_get_num_threads(), err);
    if (st != US_OK) goto done;
    memcpy(order, d->ex[0], n * sizeof *order);
    for (int32_t u = 0; u < d->n_users; u++) uorder[u] = u;
    for (int32_t v = 0; v < d->n_items; v++) stamp[v] = -1;
    us_rng shuffle = us_rng_derive(c->seed, 2);
    double best_metric = -1.0, t_train = 0.0;
    size_t examples = 0;
    int since = 0;
    memcpy(best, m->mem, np * sizeof(float));
    for (int ep = 1; ep <= c->max_epochs; ep++) {
        double t0 = us_now(), loss;
        if (next) {
            us_rng_shuffle(&shuffle, uorder, (size_t)d->n_users, sizeof *uorder);
            loss = epoch_next(m, tr, d, uorder, hist, aux1, aux2, stamp, &examples);
        } else {
            us_rng_shuffle(&shuffle, order, n, sizeof *order);
            loss = epoch_rating(m, tr, d, order, hist, aux1, aux2, labels);
            examples += n;
        }
        t_train += us_now() - t0;
        /* A diverged run (a learning rate far too high) is an error, not a checkpoint. */
        size_t bad_t = 0, bad_i = 0;
        int bad_p = sasrec_find_nonfinite(m, &bad_t, &bad_i);
        if (!isfinite(loss) || bad_p) {
            st = us_err_set(err, US_EINVAL, NULL, 0, "lr",
                            "epoch %d: expected a finite training loss and parameters, found "
                            "loss %g%s%s (not finite: training diverged; lower the learning "
                            "rate, now %g)", ep, loss, bad_p ? " and a non-finite value in " : "",
                            bad_p ? us_sasrec_tensor_names[bad_t] : "", (double)c->lr);
            goto done;
        }
        us_sasrec_metrics v;
        st = evaluate(m, tr, d, 1, &v, err);
        if (st != US_OK) goto done;
        double metric = next ? v.ndcg10 : v.auc;
        rep->epochs = ep;
        rep->last_train_loss = loss;
        if (log && next)
            us_logf(log, US_LOG_INFO,
                    "sasrec epoch %d: train loss %.4f, valid NDCG@10 %.4f HR@10 %.4f%s", ep,
                    loss, v.ndcg10, v.hr10, metric > best_metric ? " (best)" : "");
        else if (log)
            us_logf(log, US_LOG_INFO,
                    "sasrec epoch %d: train loss %.4f, valid AUC %.4f log loss %.4f accuracy "
                    "%.4f%s", ep, loss, v.auc, v.logloss, v.accuracy,
                    metric > best_metric ? " (best)" : "");
        if (metric > best_metric) {
            best_metric = metric;
            rep->best_epoch = ep;
            memcpy(best, m->mem, np * sizeof(float));
            since = 0;
        } else if (c->patience > 0 && ++since >= c->patience) {
            break;
        }
    }
    /* the best epoch's parameters back in place (Adam moments stay those of the last step) */
    memcpy(m->mem, best, np * sizeof(float));
    rep->seconds = t_train;
    rep->examples_per_s = t_train > 0 ? (double)examples / t_train : 0.0;
    st = evaluate(m, tr, d, 1, &rep->valid, err);
    if (st == US_OK) st = evaluate(m, tr, d, 2, &rep->test, err);
done:
    sasrec_trainer_free(tr);
    free(order);
    free(uorder);
    free(hist);
    free(aux1);
    free(aux2);
    free(labels);
    free(stamp);
    free(best);
    return st;
}
