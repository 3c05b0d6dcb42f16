/* simulator.h — the public header of the simulator room (DESIGN.md: one public header per
 * room). It has one section per stage, each with its own usage example; files named after a
 * topic (sasrec_internal.h, bert.h, tokenizer.h, model_files.h, ...) are private to simulator/.
 *
 * ==== SASRec ==== (simulator/sasrec*.c)
 *
 * SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018),
 * the simulator's statistical user model, in float32 C on the kernels of core/nn.h.
 *
 *   us_sasrec_config cfg = us_sasrec_config_default();        // the "simulator" preset
 *   us_sasrec_data *data;
 *   us_sasrec *m;
 *   us_sasrec_report rep;
 *   us_err err;
 *   if (us_sasrec_data_load("games.usdb", &data, &err) != US_OK) ...;
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
#ifndef USERSIM_SIMULATOR_H
#define USERSIM_SIMULATOR_H

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

/* Clips (cfg.clip_norm > 0) and takes one Adam step with L2 decay over the whole block;
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
 * in err. Caller owns *out; release with us_sasrec_data_free(). */
us_status us_sasrec_data_load(const char *path, us_sasrec_data **out, us_err *err);
void us_sasrec_data_free(us_sasrec_data *d);

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
 * result is deterministic for cfg.seed and P. log NULL: quiet. Borrows m, d and log for the
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
 * transaction. *version (may be NULL) receives the new version. Borrows everything. */
us_status us_sasrec_checkpoint_save(const char *path, const us_sasrec *m,
                                    const us_sasrec_metrics *metrics, const char *created_by,
                                    int64_t *version, us_err *err);

/* Loads checkpoint `version` (0: the newest) from the store into a new model: parses and
 * validates the config, checks config_hash, the tensor shapes against those the config
 * implies, and the blob size against n_params. When expect is not NULL its architecture
 * fields (head, n_users, n_items, d, n_blocks, n_heads, max_len) must match too. Caller owns
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

/* Next-item head: scores (logits, for ranking) of n candidates after the history
 * hist[0..n_hist) (item ids, oldest first; only the last T count): out[j] =
 * h_{T-1}·item_emb[items[j]+1], or with items NULL every item (n must be n_items, out[j] the
 * score of item j). The encoder runs once, without dropout; ranking restricted to a subset is
 * passing that subset. Cost: one encoder row plus O(n·C). Leaves the cached user
 * (us_sasrec_user_encode) intact. Borrows every buffer for the call. */
void us_sasrec_next_score(const us_sasrec *m, us_sasrec_state *st, const int32_t *hist,
                          int n_hist, const int32_t *items, int n, float *out);

/* ==== Simulated users ==== (simulator/sim.c)
 *
 * The population of a store, loaded once into flat arrays (DESIGN.md), and the decision of one
 * simulated user about one recommended item, as in "LLM-Powered User Simulator for Recommender
 * System" (AAAI 2025): a keyword vote, an embedding vote, a SASRec vote and their ensemble.
 *
 *   us_sim_config cfg = us_sim_config_default();
 *   us_sim *sim;
 *   us_sim_worker *w;                        // one per thread: all mutable scratch
 *   if (us_sim_open(&sim, "games.usdb", &cfg, &err) != US_OK) ...;
 *   us_sim_worker_init(&w, sim, 200, &err);  // episodes of up to 200 steps
 *   us_rng rng = us_rng_derive(seed, env_index);
 *   us_sim_reaction r;
 *   us_sim_decide(sim, w, user, ep_items, ep_likes, ep_len, item, &rng, &r);
 *   // r.like, r.vote[US_VOTE_KEYWORD], r.pros_matches, r.p_sasrec, ...
 *
 * The history H of user u is u's TRAINING interactions in the store (split 0, oldest first)
 * followed by the episode so far (the items recommended with their simulated reactions).
 * For candidate item i:
 *   L, D    the liked / disliked items of H that share i's category; each falls back to all
 *           the liked / disliked items of H when none shares it (cfg.category_filter = 0 skips
 *           the filter). Unlabeled interactions (Anime's -1) belong to neither.
 *   keyword pros_matches = how many of i's pros keywords occur among the pros keywords of the
 *           items of L; cons_matches likewise with cons and D. With t = cfg.threshold[KEYWORD]
 *           vote like when pros_matches - cons_matches > t, dislike when < t.
 *   embed   pros_sim = max over j in L of cos(pros_vec(i), pros_vec(j)), cons_sim likewise with
 *           cons and D (vectors are L2-normalized: a dot product). An empty side (no item, or
 *           no vector) scores cfg.empty_sim. Vote like when pros_sim - cons_sim (a float) > t,
 *           dislike when < t, with t = cfg.threshold[EMBED].
 *   sasrec  p_sasrec = the rating head's P(like | u, last T items of H, i). Vote like when
 *           p_sasrec >= cfg.threshold[SASREC].
 *   A keyword or embedding difference equal to its threshold is a tie and goes by cfg.tie: at
 *   random (the paper) or to dislike (the released code). The default thresholds 0, 0, 1/2
 *   are the paper's rule.
 * Thresholds: liked items dominate most histories, so under the paper's rule each vote says
 * like nearly always. cfg.calibrate = 1 makes us_sim_open choose the enabled votes' thresholds
 * on the store's validation split (split 1, labeled) so that the ENSEMBLE's like rate there is
 * closest to the real like rate of their labels: every such interaction is decided for its
 * user from the training history with an empty episode (as eval-sim's held-out prediction);
 * for a target count of likes, each vote takes the threshold whose like count is closest to
 * it (candidates: every distinct score, every midpoint (float) strictly between two
 * consecutive ones, min - 1 and max + 1; at a candidate equal to a score that score is a tie,
 * counted 1/2 like under US_TIE_RANDOM and 0 under US_TIE_DISLIKE; SASRec: p >= t, so it
 * likes, and its min - 1 is left out; the smallest threshold on equal distance), and the
 * common target is searched so that the ensemble's expected like rate with those thresholds
 * (ties weighed as above, STOCHASTIC by its mean score) comes closest to the real rate (the
 * smaller target on equal distance). Deterministic, no draw. With one vote enabled, that vote
 * alone matches the real rate.
 * Ensemble (cfg.mode): MAJORITY like when more than half of the enabled votes say like (the
 * paper's 2 of 3; an even split goes by cfg.tie); WEIGHTED like when sum w_k·vote_k is more
 * than half of sum w_k (equal: cfg.tie); STOCHASTIC like with probability `score`, the soft
 * ensemble sum w_k·p_k / sum w_k with, each centred on its vote's threshold t_k so that
 * p_k > 1/2 exactly when vote k likes (ties: 1/2),
 *   p_keyword = σ(cfg.keyword_scale·(pros - cons matches - t)),
 *   p_embed   = σ(cfg.embed_scale·(pros_sim - cons_sim - t)),
 *   p_soft    = σ(logit p_sasrec - logit t) = p(1-t) / (p(1-t) + (1-p)t), t clamped to [0, 1]
 *               (p_sasrec itself at the default t = 1/2; the reaction reports p_sasrec, the
 *               rating head's own probability, whatever t is).
 * `score` is reported in every mode (eval-sim ranks by it).
 * Unlike the released code, the history is the episode's user's own, and the SASRec vote is
 * the model's (the released code's is always like).
 * ---------------------------------------------------------------------------------------- */

typedef enum us_sim_vote { US_VOTE_KEYWORD = 0, US_VOTE_EMBED = 1, US_VOTE_SASREC = 2 } us_sim_vote;
#define US_SIM_NVOTES 3
typedef enum us_sim_mode {
    US_SIM_MAJORITY = 0,
    US_SIM_WEIGHTED = 1,
    US_SIM_STOCHASTIC = 2,
} us_sim_mode;
typedef enum us_sim_tie { US_TIE_RANDOM = 0, US_TIE_DISLIKE = 1 } us_sim_tie;

typedef struct us_sim_config {
    us_sim_mode mode;       /* MAJORITY */
    us_sim_tie tie;         /* RANDOM */
    int use[US_SIM_NVOTES]; /* which votes take part; all 1 (a store missing a disabled
                               component's stage still opens) */
    float weight[US_SIM_NVOTES]; /* WEIGHTED and the soft score; 1, 1, 1 */
    int category_filter;    /* 1: prefer history items of the candidate's category */
    float empty_sim;        /* embedding score of an empty side; 0 */
    float keyword_scale;    /* p_keyword = σ(keyword_scale · match difference); 1 */
    float embed_scale;      /* p_embed = σ(embed_scale · similarity difference); 10 */
    int64_t sasrec_version; /* rating-head checkpoint to use; 0 = the newest rating head */
    float threshold[US_SIM_NVOTES]; /* each vote's decision threshold (above); 0, 0, 0.5: the
                                       paper's rule. Finite. */
    int calibrate;          /* 1: us_sim_open replaces the enabled votes' thresholds with ones
                               fitted on the validation split (above); 0 */
} us_sim_config;

us_sim_config us_sim_config_default(void);

typedef struct us_sim us_sim;
typedef struct us_sim_worker us_sim_worker;

#define US_SIM_MAX_MATCHED 8

typedef struct us_sim_reaction {
    int like;                        /* the ensemble's decision: the reward */
    int vote[US_SIM_NVOTES];         /* 1 like, 0 dislike, -1 not used */
    int pros_matches, cons_matches;  /* keyword vote */
    float pros_sim, cons_sim;        /* embedding vote */
    float p_sasrec;                  /* SASRec vote (NAN when not used) */
    float score;                     /* soft ensemble P(like) */
    int n_matched_pros, n_matched_cons;            /* matched keywords (ids), at most */
    uint32_t matched_pros[US_SIM_MAX_MATCHED];     /* US_SIM_MAX_MATCHED of each kept */
    uint32_t matched_cons[US_SIM_MAX_MATCHED];
} us_sim_reaction;

/* Opens the store read-only and loads the population: users' histories (CSR), item categories,
 * pros/cons keyword ids per item (sorted runs), item pros/cons vectors (one float matrix) and
 * the SASRec rating head, for the components cfg uses; with cfg->calibrate, fits the
 * thresholds on the validation split (above); closes the store. A missing stage is
 * US_ENOTFOUND naming the store and the command that makes it (usersim extract / embed /
 * train-sasrec); calibrating a store without a labeled validation interaction is US_EEMPTY
 * naming the store; a threshold that is not finite is US_EINVAL. Immutable afterwards: share
 * it between threads. Caller owns *out; release with us_sim_close(). Borrows path and cfg for
 * the call (cfg is copied). */
us_status us_sim_open(us_sim **out, const char *path, const us_sim_config *cfg, us_err *err);
/* NULL is a no-op. Every worker of sim must be freed first. */
void us_sim_close(us_sim *sim);

int us_sim_n_users(const us_sim *sim);
int us_sim_n_items(const us_sim *sim);
/* The configuration in use: cfg as given, with the calibrated thresholds when it asked for
 * calibration. Borrowed from sim. */
const us_sim_config *us_sim_config_of(const us_sim *sim);
/* The thresholds in use (us_sim_config_of(sim)->threshold) into out. */
void us_sim_thresholds(const us_sim *sim, float out[US_SIM_NVOTES]);

/* What calibration saw: n labeled validation interactions (0 when sim was not calibrated),
 * their real like rate, the common target every vote was fitted to, each enabled vote's like
 * rate on them at its chosen threshold (ties counted as in the fit; 0 for a vote not in use)
 * and the ensemble's expected like rate. */
typedef struct us_sim_calibration {
    uint64_t n;
    double real_like_rate;
    double target_rate;        /* the like rate every vote was fitted to */
    double like_rate[US_SIM_NVOTES];
    double ensemble_like_rate; /* the ensemble's expected like rate with those thresholds */
} us_sim_calibration;
void us_sim_calibration_of(const us_sim *sim, us_sim_calibration *out);
/* User u's training history (items oldest first, and labels 1 like / 0 dislike / -1 none);
 * returns its length. Borrowed from sim. */
int us_sim_history(const us_sim *sim, int32_t u, const int32_t **items, const int8_t **labels);
/* The text of keyword id k ("" when out of range); borrowed from sim. */
const char *us_sim_keyword(const us_sim *sim, uint32_t k);
/* The category of item i ("" when it has none); borrowed from sim. */
const char *us_sim_category(const us_sim *sim, int32_t i);
/* The raw id of item i / user u as in the dataset; borrowed from sim. */
const char *us_sim_item_raw(const us_sim *sim, int32_t i);
const char *us_sim_user_raw(const us_sim *sim, int32_t u);

/* Scratch for us_sim_decide on one thread, for episodes of up to max_episode steps. Borrows
 * sim, which must outlive it. Caller owns *out; release with us_sim_worker_free(). */
us_status us_sim_worker_init(us_sim_worker **out, const us_sim *sim, int max_episode,
                             us_err *err);
void us_sim_worker_free(us_sim_worker *w);

/* User u's reaction to item, after the episode ep_items[0..ep_len) with reactions
 * ep_likes[0..ep_len) (1 like, 0 dislike). u and item must be valid ids and ep_len at most the
 * worker's max_episode (programmer errors otherwise). Draws from rng only for a random tie or
 * the STOCHASTIC mode. No I/O, no allocation. Borrows everything for the call. */
void us_sim_decide(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                   const int8_t *ep_likes, int ep_len, int32_t item, us_rng *rng,
                   us_sim_reaction *out);

/* ==== Fidelity ==== (simulator/fidelity.c)
 *
 * How real the simulated users are, measured on the store's held-out interactions (`usersim
 * eval-sim`):
 *   us_sim_eval_config ec = us_sim_eval_config_default();
 *   us_sim_eval_report rep;
 *   us_sim_evaluate(sim, "games.usdb", &ec, &rep, &err);
 * - held-out prediction: every labeled TEST interaction (split 2) of every user, predicted
 *   from the user's training history with an empty episode. For each component its vote gives
 *   accuracy / precision / recall / F1 (positive class: like) and its score gives AUC and log
 *   loss: keyword pros - cons matches (log loss through p_keyword), embedding pros - cons
 *   similarity (through p_embed), SASRec P(like) (through p_sasrec itself), and the ensemble
 *   (its decisions; its soft score). The votes are taken at the thresholds in use.
 *   Baselines: popularity (an item's training interactions, AUC only) and the item's training
 *   like rate (Laplace-smoothed; every metric).
 * - 1:m discrimination, m in cfg.m: a liked test item against m items the user never touched
 *   (drawn uniformly); the share of cases where its soft score is the highest (a tie with k
 *   others counts 1/(k+1)).
 * - distribution alignment: per item and per category with at least cfg.min_count evaluated
 *   interactions (valid and test), the simulated like rate (ensemble decisions) against the
 *   real one: mean Jensen-Shannon divergence of the two Bernoulli laws (bits) and the Spearman
 *   correlation of the rates.
 * - the like rate a uniformly random policy earns: cfg.random_steps steps of a vector env
 *   (default env config) with uniform random items.
 * - with cfg.truth_path (synthetic data's truth.csv), on the test interactions: Spearman
 *   correlation of the soft score with the generator's p_like, the AUC of p_like against the
 *   labels (the ceiling) and of the soft score against them.
 * Deterministic for cfg.seed.
 * ---------------------------------------------------------------------------------------- */

#define US_SIM_EVAL_NM 3

typedef struct us_sim_eval_config {
    uint64_t seed;              /* ties, negatives and the random policy; 1 */
    int m[US_SIM_EVAL_NM];      /* 1, 3, 9 */
    int min_count;              /* distribution alignment: 3 */
    uint64_t random_steps;      /* 20000 (0: skip) */
    const char *truth_path;     /* NULL: no truth */
} us_sim_eval_config;

us_sim_eval_config us_sim_eval_config_default(void);

typedef struct us_sim_metrics {
    uint64_t n;
    double auc, logloss, accuracy, precision, recall, f1;
} us_sim_metrics;

typedef struct us_sim_eval_report {
    uint64_t n_test;
    double real_like_rate;                 /* of the test interactions */
    double sim_like_rate;                  /* of the ensemble's decisions on them */
    us_sim_metrics component[US_SIM_NVOTES]; /* unused components: n = 0 */
    us_sim_metrics ensemble;
    us_sim_metrics item_rate;              /* baseline: the item's training like rate */
    double popularity_auc;                 /* baseline: the item's training interactions */
    int m[US_SIM_EVAL_NM];
    double discrimination[US_SIM_EVAL_NM];
    uint64_t n_discrimination;
    int n_items_aligned, n_cats_aligned;
    double item_jsd, item_spearman, cat_jsd, cat_spearman;
    double random_like_rate;
    uint64_t random_steps;
    int has_truth;
    uint64_t n_truth;                      /* test interactions found in the truth file */
    double truth_spearman, truth_auc, truth_score_auc;
} us_sim_eval_report;

/* Runs every measure above. Reads the store (path, the one sim was opened from) and
 * cfg->truth_path; the truth file must have the header user,item,p_like,... (US_EFORMAT with
 * file and line otherwise). Borrows everything for the call. */
us_status us_sim_evaluate(const us_sim *sim, const char *path, const us_sim_eval_config *cfg,
                          us_sim_eval_report *out, us_err *err);

/* Spearman's rank correlation of x and y (n values each; ties share their average rank); 0
 * when either is constant or n < 2. scratch: 4n doubles. Borrows everything. */
double us_stat_spearman(const double *x, const double *y, size_t n, double *scratch);
/* Jensen-Shannon divergence, in bits, of Bernoulli(p) and Bernoulli(q): in [0, 1]. */
double us_stat_jsd_bernoulli(double p, double q);

/* ==== Embeddings ==== (simulator/bert.c, hashembed.c, embed_store.c)
 *
 * Sentence embeddings of keywords and of items' pros and cons texts: a sentence-transformers
 * BERT (all-MiniLM-L6-v2 by default) run in C, or, when no model is installed, the hashed
 * n-gram embedder "hashed-ngram-v1" (exact and fixed, but it knows no meaning). Every vector is
 * L2-normalized float32 and is stored beside the name of the embedder that made it.
 *
 *   us_embedder *e;
 *   if (us_embedder_open(&e, us_embed_model_dir(), 32, 1, NULL, &err) != US_OK) ...;
 *   const char *texts[2] = {"great sound quality", "excellent audio"};
 *   float v[2 * 384];                                   // (n, us_embedder_dim(e))
 *   us_embedder_embed(e, texts, 2, v);
 *   printf("%s %.3f\n", us_embedder_name(e), us_embed_cosine(v, v + 384, 384));
 *   us_embed_report rep;
 *   us_embed_config ec = us_embed_config_default();
 *   if (us_embed_store("games.usdb", e, &ec, &rep, &err) != US_OK) ...;  // the embed stage
 *   us_embedder_close(e);
 *
 * The stage reads the extraction stage's tables keyword(id, text, n_items) and
 * item_profile(item, category, pros_text, cons_text, source) and writes
 *   embedder(id = 1, name, model_sha256, dim)      which embedder made the vectors below
 *   keyword_vec(keyword, vec)                      one per keyword
 *   item_vec(item, side, vec)                      side 0 the pros text, 1 the cons text
 * where vec is dim float32 little-endian. An empty text gets a vector of zeros.
 * ---------------------------------------------------------------------------------------- */

typedef enum us_embedder_kind { US_EMBEDDER_BERT = 0, US_EMBEDDER_HASHED = 1 } us_embedder_kind;

#define US_HASHEMBED_NAME "hashed-ngram-v1"
#define US_HASHEMBED_DIM 384 /* the hashed embedder's width: MiniLM's */
#define US_EMBED_MODEL_DIR "models/all-MiniLM-L6-v2"

typedef struct us_embedder us_embedder;

/* The model directory to use when none is given: the environment variable USERSIM_MODEL_DIR
 * when set and not empty, else US_EMBED_MODEL_DIR. Borrowed (the environment or a static
 * string). */
const char *us_embed_model_dir(void);

/* model_dir NULL opens the hashed embedder (US_HASHEMBED_DIM wide). Otherwise opens the BERT
 * in model_dir with a state for passes of max_batch texts (<= 0 means 32). When model_dir
 * does not exist or lacks config.json, vocab.txt or model.safetensors and allow_fallback is
 * set, logs a warning to log (NULL: stderr) naming the missing file and opens the hashed
 * embedder instead; without allow_fallback that is US_ENOTFOUND naming the file. A model that
 * is there but damaged (a missing tensor, a wrong shape, a bad config) always fails, naming
 * the file and the field or tensor. Caller owns *out; release with us_embedder_close(). One
 * embedder per thread (a BERT embedder owns one state). */
us_status us_embedder_open(us_embedder **out, const char *model_dir, int max_batch,
                           int allow_fallback, const us_log *log, us_err *err);

/* NULL is a no-op. */
void us_embedder_close(us_embedder *e);

us_embedder_kind us_embedder_kind_of(const us_embedder *e);
/* The vector width (384 for all-MiniLM-L6-v2 and for the hashed embedder). */
int us_embedder_dim(const us_embedder *e);

/* "hashed-ngram-v1" or the BERT's "<model folder>@<first 12 hex digits of the SHA-256 of
 * model.safetensors>" ("all-MiniLM-L6-v2@53aa51172d14"). Borrowed from e. */
const char *us_embedder_name(const us_embedder *e);

/* The full lower-case hex SHA-256 of the BERT's model.safetensors, or "" for the hashed
 * embedder (its name says everything). Borrowed from e. */
const char *us_embedder_sha256(const us_embedder *e);

/* Embeds texts[0..n) (NUL-terminated UTF-8; NULL is the empty text) into out (n, dim), row i
 * for texts[i], each L2-normalized. The hashed embedder gives zeros for a text without a word.
 * Allocates nothing. Borrows e (its state is overwritten), texts and out for the call. */
void us_embedder_embed(us_embedder *e, const char *const *texts, int n, float *out);

/* Cosine similarity of a and b (dim floats), summed in double; 0 when either is all zeros.
 * Borrows a and b for the call. */
double us_embed_cosine(const float *a, const float *b, int dim);

typedef struct us_embed_config {
    int batch;          /* texts per call to the embedder; 64 */
    int commit_every;   /* rows per transaction when adding to vectors of the same embedder
                           (a stopped run resumes from there); 4096 */
    int quiet;          /* no progress bar; 0 */
    FILE *progress;     /* where the progress bar goes; NULL = stderr */
} us_embed_config;

us_embed_config us_embed_config_default(void);

typedef struct us_embed_report {
    char embedder[128];       /* the name written into the store */
    int dim;
    uint64_t n_keywords;      /* keywords in the store */
    uint64_t n_item_texts;    /* item texts (2 per item profile) */
    uint64_t keywords_embedded;   /* vectors written by this run */
    uint64_t item_texts_embedded;
    int replaced;             /* 1 when vectors of another embedder were replaced */
    char previous[128];       /* that embedder's name ("" when none was stored) */
    double seconds;
} us_embed_report;

/* The embed stage on the store at path: creates the output tables when missing; when the
 * stored embedder (name, model_sha256, dim) differs from e, deletes every stored vector and
 * embeds everything again, all in ONE transaction (the previous vectors stay intact until it
 * commits); otherwise embeds only the keywords and item texts that have no vector yet, in
 * transactions of cfg->commit_every rows, so a rerun with nothing new writes nothing. A
 * missing store is US_ENOTFOUND; missing keyword tables are US_ENOTFOUND saying "run usersim
 * extract first". cfg NULL means the defaults. rep may be NULL. Borrows everything for the
 * call. */
us_status us_embed_store(const char *path, us_embedder *e, const us_embed_config *cfg,
                         us_embed_report *rep, us_err *err);

/* ==== Keywords ==== (simulator/extract.c, keywords.c, builtin_extract.c, prompt.c, answer.c)
 *
 * The extract stage: for every item a category, pros keywords (reasons to like it) and cons
 * keywords (reasons to dislike it), as in "LLM-Powered User Simulator for Recommender System":
 * an objective pass over the item's metadata and a subjective pass over its reviews, merged,
 * normalized and turned into a vocabulary with integer ids.
 *
 *   us_extract_config cfg = us_extract_config_default();   // built-in extractor, no network
 *   us_extract_report rep;
 *   us_err err;
 *   if (us_extract("games.usdb", &cfg, &rep, &err) != US_OK) ...;
 *   // or an LLM: cfg.llm_url = "http://127.0.0.1:8080/v1"; cfg.model = "qwen2.5";
 *
 * Tables written (read by `usersim embed` and us_sim_open):
 *   keyword(id, text UNIQUE, n_items)                 ids dense from 0 in text order
 *   item_keyword(item, side 0 pros / 1 cons, keyword)
 *   item_profile(item, category, pros_text, cons_text, source)   keywords joined with ", "
 *   keyword_evidence(item, side, keyword, support, evidence)     why each keyword is there
 *   extraction(item, pass, prompt_version, model, status, result, raw, error, attempts)
 *       the cache: one row per item and pass, keyed by the prompt version (16 hex digits of
 *       the template's SHA-256; "builtin-v1" and "builtin-v1:<min_review_share>" for the
 *       built-in passes) and model ("builtin"); passes "objective", "subjective" (built-in),
 *       "subjective-batch" or "subjective-review" (LLM); result is the pass's JSON
 *       {"category", "pros": [{"reason", "evidence", "keywords": [...], "support"}], "cons"}
 *   llm_request(item, pass, prompt_version, model, attempt, outcome, http_status, latency_s,
 *       prompt_tokens, completion_tokens, error)      one row per request sent
 * Resumption: pass results are committed in small transactions as they arrive; an item whose
 * row for (pass, prompt version, model) exists is skipped, so re-running finishes an
 * interrupted run (kill -9 included) and a changed prompt or model re-extracts only what it
 * affects. Failed rows are retried by the next run. The final tables are rebuilt from the
 * cache in one transaction at the end of every run.
 * The merge: keywords normalized (ASCII case, spaces and punctuation, simple plurals, stop
 * words trimmed at both ends, 1-4 words and 2-40 bytes); per item each keyword's support
 * summed over passes, kept on the side with more support (dropped on a tie), the top
 * max_per_side per side; then dropped everywhere when on fewer than min_items items (rare:
 * typos, one-off phrases) or more than max_item_share of them (common: "quality", "price").
 *
 * It deliberately does not: translate, spell-correct, or merge synonyms ("sturdy" and
 * "solid" stay two keywords; the embed stage relates them).
 */

typedef enum us_extract_batching {
    US_EXTRACT_PER_ITEM = 0,   /* subjective pass: one request per item with a batch of reviews */
    US_EXTRACT_PER_REVIEW = 1, /* one request per review (the paper; many more requests) */
} us_extract_batching;

typedef enum us_extract_format {
    US_EXTRACT_LINES = 0, /* "Pros 1:" / "Evidence:" / "Keywords:" lines (the paper) */
    US_EXTRACT_JSON = 1,  /* a JSON object (with the server's JSON mode) */
} us_extract_format;

/* Progress events for callers (the CLI's bar, tests). */
typedef void (*us_extract_progress_fn)(void *ctx, uint64_t done, uint64_t total,
                                       uint64_t failed);

typedef struct us_extract_config {
    const char *llm_url;   /* NULL or "": the built-in extractor (default) */
    const char *model;     /* the LLM's model name; required with llm_url */
    const char *api_key;   /* NULL: none */
    const char *prompts_dir; /* NULL: the templates compiled in (copies of simulator/prompts) */
    us_extract_batching batching; /* default US_EXTRACT_PER_ITEM */
    us_extract_format format;     /* default US_EXTRACT_LINES */
    int concurrency;       /* LLM requests in flight, default 4 */
    double timeout_s;      /* per LLM attempt, default 60 */
    int max_retries;       /* transport retries per request, default 4 */
    int max_tokens;        /* per answer, default 512 */
    double temperature;    /* sampling temperature in [0, 2], default 0; like max_tokens and
                            * the timeouts, not part of the cache key */
    uint64_t limit;        /* only the first `limit` items by id; 0: all */
    int reviews_per_item;  /* reviews sampled per item for the LLM subjective pass, default 20 */
    int review_chars;      /* each review truncated to this many bytes, default 600 */
    int item_budget_chars; /* all of one item's reviews in a batch, default 6000 (~1500 tokens) */
    int min_items;         /* a keyword on fewer items is dropped, default 2 */
    double max_item_share; /* a keyword on more than this share of the items is dropped,
                            * default 0.5 */
    int max_per_side;      /* keywords kept per item and side, by support, default 10 */
    double min_review_share; /* built-in: a review phrase must be backed by at least this share
                              * of the item's reviews (and 2), default 0.2 */
    int commit_every;      /* built-in: items per transaction, default 64 */
    uint64_t seed;         /* review sampling, default 1 */
    int quiet;             /* no progress bar */
    const us_log *log;     /* NULL: stderr */
    us_extract_progress_fn progress; /* NULL: none; called after each item is stored */
    void *progress_ctx;
} us_extract_config;

/* The defaults listed above: the built-in extractor. Returns a value; nothing to free. */
us_extract_config us_extract_config_default(void);

/* Requests of one pass, from the llm_request log. */
typedef struct us_extract_pass_stats {
    char pass[24];          /* "objective", "subjective-batch", "subjective-review", ... */
    uint64_t requests;      /* rows in the log */
    uint64_t ok;            /* answered and parsed */
    uint64_t invalid;       /* answered but unparsable (each is retried once) */
    uint64_t failed;        /* no answer after the client's retries */
    uint64_t prompt_tokens, completion_tokens; /* as reported by the server */
    double latency_mean_s, latency_max_s;
} us_extract_pass_stats;

#define US_EXTRACT_MAX_PASSES 8

typedef struct us_extract_report {
    uint64_t items;         /* items in scope (after limit) */
    uint64_t cached;        /* item-pass results found already done */
    uint64_t extracted;     /* item-pass results made by this run */
    uint64_t failed;        /* item-pass results recorded as failed by this run */
    uint64_t profiles;      /* item_profile rows written */
    uint64_t keywords;      /* vocabulary size */
    uint64_t links;         /* item_keyword rows */
    char source[128];       /* "builtin-v1" or "<model>@<versions>" */
    double seconds;
    int n_passes;
    us_extract_pass_stats passes[US_EXTRACT_MAX_PASSES]; /* the whole log, all runs */
} us_extract_report;

/* Runs the extract stage on the store at path with cfg (NULL: defaults): both passes for every
 * item in scope not already in the cache, then rebuilds the final tables. US_ENOTFOUND when the
 * store is missing, US_EINVAL for a bad config (llm_url without model, ranges), US_EIO for a
 * prompt file that cannot be read, US_EDB for SQLite errors. A request that fails is recorded
 * (status 'failed', with the raw answer) and is not an error of the run. Borrows cfg and its
 * strings for the call; fills the caller's *rep (may be NULL). */
us_status us_extract(const char *path, const us_extract_config *cfg, us_extract_report *rep,
                     us_err *err);

/* Reads the request log and the final tables of a store into *rep (items = item_profile
 * rows), for `usersim extract --report`. Fills the caller's *rep; the store is opened
 * read-only and closed before returning. */
us_status us_extract_summary(const char *path, us_extract_report *rep, us_err *err);

/* The version tag of prompt template `name` ("objective", "review", "batch", with "-json" for
 * the JSON variants) as loaded from dir (NULL: the built-in copies): 16 hex digits of the
 * SHA-256 of its text, into ver[17]. US_ENOTFOUND for an unknown name, the loader's errors for
 * a bad folder. Borrows dir and name for the call; writes the caller's ver. */
us_status us_extract_prompt_version(const char *dir, const char *name, char ver[17],
                                    us_err *err);

#ifdef __cplusplus
}
#endif
#endif
