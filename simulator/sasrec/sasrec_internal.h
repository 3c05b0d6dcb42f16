/* sasrec_internal.h — what the SASRec files share and the tests may look at: the activation
 * layout and the encoder/head forwards that training and serving both run. Not a public
 * header. */
#ifndef USERSIM_SIMULATOR_SASREC_INTERNAL_H
#define USERSIM_SIMULATOR_SASREC_INTERNAL_H

#include "simulator/sasrec/sasrec.h"

/* One batch of up to B rows of T positions (N = B·T), C channels, NB blocks, H heads. Every
 * pointer lies in `arena` (one allocation). Forward buffers are kept for backward; the gradient
 * buffers (dx ... att_scratch) exist only when built with backward. */
struct us_sasrec_acts {
    int B, T, C, NB, H;
    int backward;    /* 1: the gradient buffers below exist */
    int cur_B;       /* rows of the last forward */
    int training;    /* the last forward's training flag (dropout) */
    int has_labels;  /* the last forward had targets, so backward may run */
    void *arena;
    size_t arena_bytes;
    /* encoder */
    int32_t *seq;      /* (B,T) item_emb rows: item id + 1, 0 = padding */
    uint8_t *tmask;    /* (B,T) 1 = a real item (m_t) */
    uint8_t *emb_mask; /* (B,T,C) embedding dropout mask */
    float *x;          /* (NB+1,B,T,C) residual stream: x[0] embedded, x[l+1] after block l */
    float *ln1;        /* (NB,B,T,C) Q = LN1(x) */
    float *ln1_mean, *ln1_rstd; /* (NB,B,T) */
    float *qkv;        /* (NB,B,T,3C) packed q | k | v */
    float *att;        /* (NB,B,H,T,T) attention probabilities */
    float *atty;       /* (NB,B,T,C) attention output before out_proj */
    float *res1;       /* (NB,B,T,C) Q + out_proj(atty) */
    float *ln2;        /* (NB,B,T,C) y = LN2(res1) */
    float *ln2_mean, *ln2_rstd; /* (NB,B,T) */
    float *f1;         /* (NB,B,T,C) relu(dropout(y·W1ᵀ + b1)) */
    uint8_t *mask1, *mask2; /* (NB,B,T,C) FFN dropout masks */
    float *hf;         /* (B,T,C) h = LNf(x[NB]) */
    float *hf_mean, *hf_rstd; /* (B,T) */
    /* rating head */
    int32_t *users;    /* (B) */
    int32_t *items;    /* (B) candidate rows: item id + 1 */
    float *labels;     /* (B) */
    float *cat;        /* (B,2C) [h_{T-1} ; user_emb[u]] */
    float *z;          /* (B,C) */
    float *ie;         /* (B,C) item_emb[i+1] */
    float *zi;         /* (B,C) z ⊙ ie */
    float *logit;      /* (B) */
    float *prob;       /* (B) */
    /* next-item head */
    int32_t *pos, *neg; /* (B,T) rows: item id + 1, 0 where no target */
    float *nlogit;      /* (2,B,T) positive then negative logits */
    float *ntarget;     /* (2,B,T) 1 then 0 */
    float *nweight;     /* (B,T) 1 where the position has a target */
    /* forward scratch */
    float *t1, *t2;     /* (B,T,3C) each */
    /* backward */
    float *dx, *dx2, *dln, *dhf, *gA, *gB, *gC; /* (B,T,C) each */
    float *dqkv;        /* (B,T,3C) */
    float *dkv;         /* (B,T,2C) */
    float *dlogit;      /* (2,B,T) */
    float *att_scratch; /* (T,T) */
};

/* Indices of the embedding tables in us_sasrec_tensor_names (block) order. */
#define SASREC_T_ITEM_EMB 0
#define SASREC_T_USER_EMB 2

/* Tensor sizes in us_sasrec_tensor_names order. */
void sasrec_tensor_sizes(const us_sasrec_config *c, size_t sizes[US_SASREC_NTENSORS]);

/* The first parameter of m that is NaN or infinite: 1 with its tensor (index into
 * us_sasrec_tensor_names) and its index inside the tensor, or 0 when all are finite. */
int sasrec_find_nonfinite(const us_sasrec *m, size_t *tensor, size_t *index);

/* Activations for B rows; backward 0 leaves out the gradient buffers (serving). Caller owns
 * *out; release with sasrec_acts_free(). */
us_status sasrec_acts_init(us_sasrec_acts **out, const us_sasrec_config *c, int B, int backward,
                           us_err *err);
void sasrec_acts_free(us_sasrec_acts *a);

/* The encoder over hist (B,T) (item ids, -1 padding) into a->hf; training applies dropout
 * from rng (may be NULL when training is 0). Borrows everything for the call. */
void sasrec_encode_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                           us_sasrec_acts *a, const int32_t *hist, int B, int training,
                           us_rng *rng);
/* The rating head on the last encoder forward: a->z, a->logit, a->prob. */
void sasrec_rating_head_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                                us_sasrec_acts *a, const int32_t *users, const int32_t *items,
                                int B);

/* Forward and backward of either head on B rows in a, the parameters p and the gradients g
 * given: what us_sasrec_*_forward / _backward run on the model's own activations, and what one
 * data-parallel shard runs on its own (sasrec_trainer). The forwards return the mean loss over
 * these rows (the rating head: 0 with labels NULL). The backwards accumulate (+=) into g the
 * gradient of Σ (per-row or per-position BCE)·gscale: gscale = 1/B (rating) or 1/(real target
 * positions) (next) of the WHOLE batch, so that the shards' gradients sum to the batch mean's.
 * Borrows everything for the call. */
double sasrec_rating_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                             us_sasrec_acts *a, const int32_t *hist, const int32_t *users,
                             const int32_t *items, const float *labels, int B, int training,
                             us_rng *rng);
void sasrec_rating_backward(const us_sasrec_config *c, const us_sasrec_params *p,
                            const us_sasrec_params *g, us_sasrec_acts *a, float gscale);
double sasrec_next_forward(const us_sasrec_config *c, const us_sasrec_params *p,
                           us_sasrec_acts *a, const int32_t *hist, const int32_t *pos,
                           const int32_t *neg, int B, int training, us_rng *rng);
void sasrec_next_backward(const us_sasrec_config *c, const us_sasrec_params *p,
                          const us_sasrec_params *g, us_sasrec_acts *a, float gscale);
/* Real target positions (pos[i] >= 0) of pos (n): the next-item loss's count. */
size_t sasrec_next_count(const int32_t *pos, size_t n);

/* Data-parallel training steps over P threads (the caller's thread and P - 1 workers, created
 * once by sasrec_trainer_init). A batch of B rows is cut into P contiguous shards, shard s
 * holding rows [B·s/P, B·(s+1)/P); each shard runs forward and backward on its own activations
 * into its own gradient buffer (shard 0 into the model's), with dropout masks from the
 * generator us_rng_derive(key(seed), step·P + s) (step = the model's Adam steps so far), and
 * OpenBLAS pinned to one thread while the shards run (when P > 1; restored after). The shard
 * gradients are then summed in shard order 0, 1, ..., P-1 into the model's gradient, each
 * thread summing a fixed range of parameters. The result depends only on the inputs, the
 * seed, the step and P: the same P gives the same bits. */
typedef struct sasrec_trainer sasrec_trainer;

/* A trainer of m over `threads` shards (clamped to 1..min(m->max_batch, 256)). Borrows m,
 * which must outlive the trainer. Caller owns *out; release with sasrec_trainer_free(). */
us_status sasrec_trainer_init(sasrec_trainer **out, us_sasrec *m, int threads, us_err *err);
void sasrec_trainer_free(sasrec_trainer *t);
/* Shards actually used (threads after clamping). */
int sasrec_trainer_threads(const sasrec_trainer *t);
/* One training batch (dropout on): replaces the model's gradient with that of the batch's mean
 * loss, and returns that loss. The caller then steps (sasrec_trainer_step). Same arguments and
 * limits as us_sasrec_rating_forward / us_sasrec_next_forward (B <= max_batch).
 * With m->sparse_embeddings set, the batch's touched rows of item_emb (item id + 1 of every
 * window item, candidate, positive and the negative of every real position; never row 0) and
 * of user_emb (its users) are collected, sorted, over the whole batch (the union of the
 * shards'); only those rows of the two tables are zeroed and summed across shards, and the
 * rows the previous sparse call touched are zeroed first, so the gradient outside the touched
 * rows stays zero (the backward accumulates into touched rows only). The first call, and the
 * first after a dense one, zero the whole block. Between calls the trainer owns the model's
 * gradient: write to it only through the trainer (or call us_sasrec_zero_grad, which keeps
 * the invariant). */
double sasrec_trainer_rating_grad(sasrec_trainer *t, const int32_t *hist, const int32_t *users,
                                  const int32_t *items, const float *labels, int B);
double sasrec_trainer_next_grad(sasrec_trainer *t, const int32_t *hist, const int32_t *pos,
                                const int32_t *neg, int B);
/* The Adam step for the last batch: us_sasrec_adam_step after a dense call; after a sparse one
 * the dense step on every tensor but the two tables and nn_adam_rows_update on their touched
 * rows, with the same step count and the clip norm summed in block order over the dense
 * tensors and the touched rows (the untouched rows' gradients are zero, so it is the dense
 * norm, bit for bit). On P threads each sums and steps a fixed share of the block (pieces of
 * at most 32768 elements, in block order) and the norm's partial sums are added in thread
 * order: one thread gives the single-threaded bits, P threads the same bits for the same P.
 * Returns the norm before clipping. */
double sasrec_trainer_step(sasrec_trainer *t);

#endif
