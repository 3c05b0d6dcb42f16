/* sasrec.h — the public header of the simulator/sasrec sub-room (DESIGN.md: one public header
 * per room and sub-room); sasrec_internal.h beside it is private to simulator/sasrec/.
 *
 * ==== SASRec ==== (simulator/sasrec/sasrec*.c)
 *
 * SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018),
 * the simulator's statistical user model, in float32 C on the kernels of core/nn.h.
 *
 *   us_sasrec_config cfg = us_sasrec_config_default();        // the "simulator" preset
 *   us_sasrec_data *data;
 *   us_sasrec *m;
 *   us_sasrec_report rep;
 *   us_err err;
 *   if (us_sasrec_data_open("games.usdb", &data, &err) != US_OK) ...;
 *   us_sasrec_config_fit(&cfg, data);                         // n_users, n_items from the store
 *   if (us_sasrec_init(&m, &cfg, &err) != US_OK) ...;
 *   if (us_sasrec_train(m, data, &rep, NULL, &err) != US_OK) ...;  // keeps the best epoch
 *   us_sasrec_checkpoint_save("games.usdb", m, &rep.test, "usersim", NULL, &err);
 *   us_sasrec_state *st;                                      // serving: never allocates
 *   us_sasrec_state_init(&st, m, 256, &err);
 *   float p = us_sasrec_score(m, st, user, hist, n_hist, item);
 *
 * The encoder (the released PyTorch SASRec layout, pmixer/SASRec.pytorch), over a window of
 * the last T = max_len items of a history, LEFT-padded, table rows = item id + 1, row 0 the
 * padding row (never read: padded positions embed to 0):
 *   x = dropout(item_emb[s_t]·sqrt(C) + pos_emb[t]) · m_t          m_t = 1 for a real item
 *       (t is the window position 0..T-1, the newest item always at T-1, as the original
 *       code's positions; its later version's 1..T with a zeroed padding row differs only by
 *       that unused row, since padded rows are zeroed by m_t either way)
 *   per block l:
 *     Q = LN1(x)                                                     eps = ln_eps (1e-8)
 *     q = Q·Wqᵀ + bq,  k = x·Wkᵀ + bk,  v = x·Wvᵀ + bv     (W = in_proj (3C,C) rows q|k|v)
 *     a = attention(q, k, v), causal AND key-padding masked, H heads, no dropout on the
 *         attention probabilities (nn.MultiheadAttention's dropout is NOT applied here).
 *         The released code masks only causally, so its real queries also attend to padded
 *         keys (zero vectors, projected to the bias); a PyTorch reference matching this file
 *         passes key_padding_mask = ~m and drops the attention dropout;
 *         a padded query row with no allowed key gives a = 0 (PyTorch would give NaN there;
 *         such rows are zeroed by m_t below and never reach a real row)
 *     x = Q + (a·Woᵀ + bo)                                           (out_proj)
 *     y = LN2(x)
 *     x = (y + dropout(W2·relu(dropout(W1·y + b1)) + b2)) · m_t     (Conv1d k=1 = linear)
 *   h = LNf(x)                                                       the final hidden states
 * Rating head (what the simulator uses), for user u and candidate item i:
 *   z = Wh·[h_{T-1} ; user_emb[u]] + bh   (C from 2C);   logit = wo·(z ⊙ item_emb[i+1]) + bo
 *   P(like) = sigmoid(logit), once; the candidate embedding is NOT scaled by sqrt(C).
 *   Loss: mean binary cross-entropy on like (1) / dislike (0) labels.
 * Next-item head (the original SASRec): logit_t(j) = h_t·item_emb[j+1]; per real position t
 *   the next item is the positive, one item the user never interacted with (uniform) the
 *   negative; loss = mean BCE over the positives + mean BCE over the negatives.
 * Init (the released code): every matrix xavier_normal (embeddings included; the padding row
 * zeroed), LayerNorm weight 1 / bias 0, attention biases 0, FFN and head biases
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's Conv1d / Linear default).
 * Adam with L2 weight decay on every parameter (torch.optim.Adam(weight_decay)).
 *
 * Threads: us_sasrec_train runs data-parallel over as many threads as OpenBLAS is set to
 * (openblas_set_num_threads, or `--threads N` on the command line): each batch is cut into
 * that many contiguous shards, each thread runs forward and backward of its shard with
 * OpenBLAS on one thread, and the shard gradients are summed in a fixed order. Results are
 * bit-identical for the same seed and the same thread count (not across counts: dropout
 * masks and summation order depend on it). Everything else here runs on the caller's thread
 * (pin OpenBLAS for the same bits; the tests pin it to 1).
 *
 * It deliberately does not use the interactions' ratings as inputs (only the item sequence),
 * or touch SQLite on the scoring path.
 */
#ifndef USERSIM_SIMULATOR_SASREC_H
#define USERSIM_SIMULATOR_SASREC_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "core/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum us_sasrec_head {
    US_SASREC_RATING = 0, /* P(like | user, history, item): the simulator's head */
    US_SASREC_NEXT = 1,   /* next item from the history: the original SASRec objective */
} us_sasrec_head;

/* Hyperparameters; serialized into checkpoints. Defaults (us_sasrec_config_default) are the
 * "simulator" preset. */
typedef struct us_sasrec_config {
    us_sasrec_head head; /* which head trains (both heads exist in every model); RATING */
    int n_users;         /* U: users (ids 0..U-1); from the store (us_sasrec_config_fit) */
    int n_items;         /* V: items (ids 0..V-1); tables hold V+1 rows, row 0 = padding */
    int d;               /* C: hidden size; 32 */
    int n_blocks;        /* self-attention blocks; 2 */
    int n_heads;         /* H: attention heads, d % H == 0; 1 */
    int max_len;         /* T: the history window (last T items); 2 */
    float dropout;       /* embedding and FFN dropout rate; 0.2 */
    float ln_eps;        /* LayerNorm epsilon; 1e-8 (the released code) */
    float lr;            /* Adam learning rate; 0.01 */
    float beta1, beta2;  /* Adam betas; 0.9, 0.98 (the released code) */
    float adam_eps;      /* Adam epsilon; 1e-8 */
    float weight_decay;  /* L2 (added to the gradient, torch.optim.Adam); 5e-6 */
    float clip_norm;     /* global gradient-norm clip, 0 = off; 0 */
    int batch_size;      /* B: examples per step; 512 */
    int max_epochs;      /* passes over the training examples; 50 */
    int patience;        /* stop after this many epochs without a better validation metric;
                            5 (0 = never stop early) */
    int eval_negatives;  /* next-item head: sampled negatives per ranked test item; 100 */
    uint64_t seed;       /* init, shuffling, dropout and negatives; 1 */
} us_sasrec_config;

/* The "simulator" preset: d 32, 2 blocks, 1 head, T 2, dropout 0.2, lr 0.01, Adam L2 5e-6,
 * batch 512, rating head, keep the best validation AUC. */
us_sasrec_config us_sasrec_config_default(void);

/* Fills *out with a named preset: "simulator" (the default above) or "paper" (the paper's
 * settings: d 50, 2 blocks, 1 head, dropout 0.2, lr 0.001, no weight decay, batch 128,
 * next-item head, T 200 when dataset names MovieLens-1M ("ml-1m"), else 50). dataset may be
 * NULL. US_EINVAL naming the known presets otherwise. Borrows the strings for the call. */
us_status us_sasrec_config_preset(const char *name, const char *dataset, us_sasrec_config *out,
                                  us_err *err);

/* US_OK when every field is in range; else US_EINVAL naming the field, what was expected and
 * what was found. */
us_status us_sasrec_config_validate(const us_sasrec_config *cfg, us_err *err);

/* ------------------------------------------------------------------------------------------
 * Parameters: pointers into one nn_block (params | grads | adam_m | adam_v), in this order
 * ---------------------------------------------------------------------------------------- */

#define US_SASREC_NTENSORS 21

/* NB = n_blocks; per-block tensors are stacked along a leading NB dimension. */
typedef struct us_sasrec_params {
    float *item_emb; /* (V+1, C) row 0 = padding */
    float *pos_emb;  /* (T, C) */
    float *user_emb; /* (U, C) */
    float *ln1_w;    /* (NB, C) attention LayerNorm */
    float *ln1_b;    /* (NB, C) */
    float *qkv_w;    /* (NB, 3C, C) in_proj_weight: rows Wq | Wk | Wv */
    float *qkv_b;    /* (NB, 3C) in_proj_bias */
    float *attn_w;   /* (NB, C, C) out_proj.weight */
    float *attn_b;   /* (NB, C) out_proj.bias */
    float *ln2_w;    /* (NB, C) forward LayerNorm */
    float *ln2_b;    /* (NB, C) */
    float *ffn1_w;   /* (NB, C, C) conv1 */
    float *ffn1_b;   /* (NB, C) */
    float *ffn2_w;   /* (NB, C, C) conv2 */
    float *ffn2_b;   /* (NB, C) */
    float *lnf_w;    /* (C) last LayerNorm */
    float *lnf_b;    /* (C) */
    float *head_w;   /* (C, 2C) rating head: z = head_w·[h ; user_emb[u]] + head_b */
    float *head_b;   /* (C) */
    float *out_w;    /* (1, C) rating head: logit = out_w·(z ⊙ item_emb[i+1]) + out_b */
    float *out_b;    /* (1) */
} us_sasrec_params;

/* Names of the tensors in block order ("item_emb", ..., "out_b"), static strings. */
extern const char *const us_sasrec_tensor_names[US_SASREC_NTENSORS];

/* Activations for one batch of up to max_batch rows (private layout; see sasrec.c). */
typedef struct us_sasrec_acts us_sasrec_acts;

/* A model being trained or served: config, the one parameter block, training activations. */
typedef struct us_sasrec {
    us_sasrec_config cfg;
    nn_block block;           /* tensor sizes, in us_sasrec_tensor_names order */
    float *mem;               /* block.total floats: params | grads | adam_m | adam_v */
    us_sasrec_params params;  /* views into the NN_PARAMS section */
    us_sasrec_params grads;   /* the same tensors in the NN_GRADS section */
    int max_batch;            /* rows the activations hold: cfg.batch_size */
    int step;                 /* Adam steps taken */
    us_rng rng;               /* dropout of us_sasrec_*_forward; negatives in training */
    us_sasrec_acts *acts;     /* training activations (max_batch rows, backward included) */
    /* Training option, not part of cfg (not in checkpoints, not in the config hash): 1 (the
     * default us_sasrec_init sets) makes us_sasrec_train update item_emb and user_emb lazily:
     * only the rows a batch touched (its users; the items of its windows, candidates,
     * positives and negatives) get their gradient zeroed and summed and an Adam step
     * (nn_adam_rows_update: untouched rows keep their moments, get no update and no weight
     * decay that step); every other tensor gets the dense step. 0: dense Adam over the whole
     * block every batch (us_sasrec_adam_step), the PyTorch reference's semantics. */
    int sparse_embeddings;
} us_sasrec;

/* Validates cfg (n_users and n_items must be set) and builds a model with freshly initialized
 * parameters, deterministic for cfg->seed. Caller owns *out; release with us_sasrec_free(). */
us_status us_sasrec_init(us_sasrec **out, const us_sasrec_config *cfg, us_err *err);
/* NULL is a no-op. */
void us_sasrec_free(us_sasrec *m);

/* Sets the NN_GRADS section to zero (backward only accumulates). */
void us_sasrec_zero_grad(us_sasrec *m);

/* Rating head forward over B <= max_batch rows:
 *   hist (B,T): row b's window, item ids, -1 = padding (left-padded: real items last);
 *   users (B), items (B): the user and the candidate; labels (B) 1/0 or NULL (no loss).
 * Fills the probabilities (us_sasrec_probs) and returns the mean BCE (0 with labels NULL).
 * training 1 applies dropout (drawing from m->rng) and keeps what backward needs.
 * Borrows every buffer for the call (copies what backward needs). */
double us_sasrec_rating_forward(us_sasrec *m, const int32_t *hist, const int32_t *users,
                                const int32_t *items, const float *labels, int B, int training);
/* Accumulates ∂loss/∂params of the last rating forward (which had labels) into m->grads. */
void us_sasrec_rating_backward(us_sasrec *m);
/* P(like) of each row of the last rating forward, (B) floats borrowed from m. */
const float *us_sasrec_probs(const us_sasrec *m);

/* Next-item head forward over B <= max_batch rows: hist (B,T) as above; pos (B,T) the item
 * that follows each position (-1 where there is none: no loss there); neg (B,T) a sampled
 * negative per position. Returns the loss (mean BCE over positives + over negatives).
 * Borrows every buffer for the call. */
double us_sasrec_next_forward(us_sasrec *m, const int32_t *hist, const int32_t *pos,
                              const int32_t *neg, int B, int training);
/* Accumulates ∂loss/∂params of the last next-item forward into m->grads. */
void us_sasrec_next_backward(us_sasrec *m);

/* Clips (cfg.clip_norm > 0) and takes one Adam step with L2 decay over the whole block
 * (dense, whatever sparse_embeddings says: us_sasrec_train's lazy step is internal);
 * returns the gradient norm before clipping. */
double us_sasrec_adam_step(us_sasrec *m);

/* ------------------------------------------------------------------------------------------
 * Training data from a store
 * ---------------------------------------------------------------------------------------- */

/* A store loaded into flat arrays: every user's chronological history as CSR. */
typedef struct us_sasrec_data {
    int n_users, n_items;
    uint64_t n_inter;
    uint64_t *user_off;  /* (U+1) history of u = [user_off[u], user_off[u+1]) */
    int32_t *item;       /* (n_inter) item ids in the order of pos */
    int8_t *label;       /* (n_inter) 1 like, 0 dislike, -1 unlabeled */
    int8_t *split;       /* (n_inter) 0 train, 1 valid, 2 test */
    uint64_t *ex[3];     /* labeled interactions of each split (indices into item) */
    uint64_t n_ex[3];
    int32_t *ex_user;    /* (n_inter) the user of each interaction */
} us_sasrec_data;

/* Opens the store read-only and loads users, items and interactions (ordered by user, pos).
 * Examples of split s = its labeled interactions; the history of each = every earlier
 * interaction of its user (labeled or not). US_ENOTFOUND / US_EFORMAT / US_EEMPTY with the path
 * in err. Caller owns *out; release with us_sasrec_data_close(). */
us_status us_sasrec_data_open(const char *path, us_sasrec_data **out, us_err *err);
void us_sasrec_data_close(us_sasrec_data *d);

/* Sets cfg->n_users and cfg->n_items from the data. */
void us_sasrec_config_fit(us_sasrec_config *cfg, const us_sasrec_data *d);

/* Writes the window of the T interactions of u before index e (exclusive; e in u's range
 * or user_off[u+1] for "everything") into out (T), left-padded with -1. */
void us_sasrec_window(const us_sasrec_data *d, int32_t u, uint64_t e, int T, int32_t *out);

/* Quality of one split. Rating head: auc, logloss, accuracy (threshold 0.5). Next-item head:
 * hr10/ndcg10 against eval_negatives sampled negatives and against the full catalogue. */
typedef struct us_sasrec_metrics {
    uint64_t n;
    double auc, logloss, accuracy;
    double hr10, ndcg10, hr10_full, ndcg10_full;
} us_sasrec_metrics;

typedef struct us_sasrec_report {
    int epochs;          /* epochs run */
    int best_epoch;      /* 1-based epoch whose weights were kept */
    double seconds;      /* training wall time */
    double examples_per_s;
    double last_train_loss;
    us_sasrec_metrics valid; /* of the kept weights */
    us_sasrec_metrics test;  /* of the kept weights */
} us_sasrec_report;

/* Evaluates split (1 valid, 2 test; 0 train) with the current weights, no dropout. For the
 * next-item head the ranked item of user u is u's first interaction of the split and the
 * negatives are drawn from a generator derived from (cfg.seed, split), so the same weights give
 * the same numbers. Borrows m and d for the call. */
us_status us_sasrec_evaluate(us_sasrec *m, const us_sasrec_data *d, int split,
                             us_sasrec_metrics *out, us_err *err);

/* Mini-batch Adam over the training examples (rating head: the labeled train interactions;
 * next-item head: one window per user per step, the last T train items), shuffled each epoch,
 * evaluating the validation split after every epoch (rating: AUC; next: NDCG@10 sampled) and
 * stopping after cfg.patience epochs without improvement; the best epoch's parameters are
 * restored at the end and evaluated on valid and test into *rep. The steps run data-parallel
 * over P = openblas_get_num_threads() threads (a pool made for this call; see the top of this
 * section), with dropout masks from generators derived from (cfg.seed, step, shard), so the
 * result is deterministic for cfg.seed and P. A training loss or a parameter that is not
 * finite (a learning rate that diverges) stops training with US_EINVAL naming the epoch, the
 * tensor and the learning rate; m then holds the diverged parameters and must not be saved
 * (us_sasrec_checkpoint_save refuses them). log NULL: quiet. Borrows m, d and log for the
 * call. */
us_status us_sasrec_train(us_sasrec *m, const us_sasrec_data *d, us_sasrec_report *rep,
                          const us_log *log, us_err *err);

/* Area under the ROC curve of scores against 0/1 labels (ties count one half); 0.5 when one
 * class is absent. scratch holds n indices. Borrows every buffer for the call. */
double us_sasrec_auc(const float *scores, const int8_t *labels, size_t n, uint32_t *scratch);

/* ------------------------------------------------------------------------------------------
 * Checkpoints in the store: table sasrec_checkpoint
 * ---------------------------------------------------------------------------------------- */

/* Appends one row (version = max + 1) to sasrec_checkpoint(version, head, config JSON,
 * config_hash = SHA-256 of that JSON, n_params, shapes JSON, params BLOB of n_params
 * little-endian float32, metrics JSON, created_by), creating the table when missing, in one
 * transaction. A parameter that is NaN or infinite is refused (US_EINVAL naming the tensor
 * and the index in it) and nothing is written. *version (may be NULL) receives the new
 * version. Borrows everything. */
us_status us_sasrec_checkpoint_save(const char *path, const us_sasrec *m,
                                    const us_sasrec_metrics *metrics, const char *created_by,
                                    int64_t *version, us_err *err);

/* Loads checkpoint `version` (0: the newest) from the store into a new model: parses and
 * validates the config, checks config_hash, the tensor shapes against those the config
 * implies, and the blob size against n_params. When expect is not NULL its architecture
 * fields (head, n_users, n_items, d, n_blocks, n_heads, max_len) must match too. A parameter
 * that is NaN or infinite is US_EFORMAT naming the tensor and the index in it. Caller owns
 * *out; release with us_sasrec_free(). */
us_status us_sasrec_checkpoint_load(const char *path, int64_t version,
                                    const us_sasrec_config *expect, us_sasrec **out, us_err *err);

/* The config as a JSON object text; caller frees with free(). NULL when out of memory. */
char *us_sasrec_config_json(const us_sasrec_config *cfg);
/* Parses what us_sasrec_config_json wrote (every field required) and validates it. */
us_status us_sasrec_config_from_json(const char *json, us_sasrec_config *out, us_err *err);

/* ------------------------------------------------------------------------------------------
 * Serving: scoring without allocation
 * ---------------------------------------------------------------------------------------- */

/* Inference activations for up to max_batch rows (no dropout, no backward), plus a per-user
 * cache. Everything is allocated by us_sasrec_state_init; scoring never allocates. */
typedef struct us_sasrec_state us_sasrec_state;

/* Caller owns *out; release with us_sasrec_state_free(). The state serves any model with the
 * same architecture as m (it reads only m->cfg here). */
us_status us_sasrec_state_init(us_sasrec_state **out, const us_sasrec *m, int max_batch,
                               us_err *err);
void us_sasrec_state_free(us_sasrec_state *st);
/* Forgets the cached user (after the weights were changed in place). */
void us_sasrec_state_invalidate(us_sasrec_state *st);

/* P(like) for user u, whose history is hist[0..n_hist) (item ids, oldest first; only the last
 * T count), and candidate item. Borrows m, st and hist for the call. */
float us_sasrec_score(const us_sasrec *m, us_sasrec_state *st, int32_t user,
                      const int32_t *hist, int n_hist, int32_t item);

/* P(like) of B rows (B may exceed the state's max_batch: done in chunks): row b is user
 * users[b] with window hist[b·T .. b·T+T) (left-padded with -1) and candidate items[b].
 * out (B). Borrows every buffer for the call. */
void us_sasrec_score_batch(const us_sasrec *m, us_sasrec_state *st, const int32_t *hist,
                           const int32_t *users, const int32_t *items, int B, float *out);

/* Encodes user u with history hist[0..n_hist) into the state's cached user vector z (the
 * encoder and the user half of the head: the part that does not depend on the candidate).
 * Nothing is recomputed when (u, last T items) equal the cached key. Returns 1 when it
 * re-encoded, 0 when the cache was reused. */
int us_sasrec_user_encode(const us_sasrec *m, us_sasrec_state *st, int32_t user,
                          const int32_t *hist, int n_hist);
/* P(like) of the cached user for n candidates: out[j] = σ(out_w·(z ⊙ item_emb[items[j]+1]) +
 * out_b). Cost O(n·C). Borrows every buffer for the call. */
void us_sasrec_user_score(const us_sasrec *m, const us_sasrec_state *st, const int32_t *items,
                          int n, float *out);

/* Next-item head: the encoder's last hidden state h_{T-1} after the history hist[0..n_hist)
 * (item ids, oldest first; only the last T count), C floats into h: item j's next-item logit
 * is h·item_emb[j+1], so a caller that scores many candidates after one history encodes it
 * once. No dropout, no allocation; the cached user (us_sasrec_user_encode) stays intact.
 * Borrows every buffer for the call. */
void us_sasrec_next_state(const us_sasrec *m, us_sasrec_state *st, const int32_t *hist,
                          int n_hist, float *h);

/* Next-item head: scores (logits, for ranking) of n candidates after the history
 * hist[0..n_hist) (item ids, oldest first; only the last T count): out[j] =
 * h_{T-1}·item_emb[items[j]+1], or with items NULL every item (n must be n_items, out[j] the
 * score of item j). The encoder runs once, without dropout; ranking restricted to a subset is
 * passing that subset. Cost: one encoder row plus O(n·C). Leaves the cached user
 * (us_sasrec_user_encode) intact. Borrows every buffer for the call. */
void us_sasrec_next_score(const us_sasrec *m, us_sasrec_state *st, const int32_t *hist,
                          int n_hist, const int32_t *items, int n, float *out);

#ifdef __cplusplus
}
#endif
#endif
