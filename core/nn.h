/* nn.h — usersim's neural-network kernels: float32 forward/backward pairs for the layers of
 * SASRec and BERT (linear, embedding, layer norm, multi-head self-attention, activations,
 * dropout, softmax, sigmoid cross-entropy), AdamW, gradient clipping, initializers, and the
 * layout of one parameter block.
 *
 *   // One linear layer y = x·Wᵀ + b over N rows, trained with Adam.
 *   size_t sizes[2] = {(size_t)OC * C, OC};                   // W (OC,C), b (OC)
 *   nn_block blk;
 *   nn_block_layout(&blk, sizes, 2);
 *   float *mem = calloc(blk.total, sizeof(float));            // params | grads | adam_m | adam_v
 *   float *W = nn_block_tensor(&blk, mem, NN_PARAMS, 0);
 *   float *b = nn_block_tensor(&blk, mem, NN_PARAMS, 1);
 *   float *dW = nn_block_tensor(&blk, mem, NN_GRADS, 0);
 *   float *db = nn_block_tensor(&blk, mem, NN_GRADS, 1);
 *   float *grads = nn_block_section(&blk, mem, NN_GRADS);
 *   us_rng rng;
 *   us_rng_seed(&rng, 42, 1);
 *   nn_init_xavier_uniform(W, OC, C, 1.0f, &rng);
 *   openblas_set_num_threads(1);                              // same bits on every machine
 *   for (int step = 1; step <= steps; step++) {
 *       nn_linear_forward(y, x, W, b, N, C, OC);              // y (N,OC) from x (N,C)
 *       ...                                                   // the loss, and dy = ∂loss/∂y
 *       memset(grads, 0, blk.nparams * sizeof(float));       // zero-grad: backward does +=
 *       nn_linear_backward(NULL, dW, db, dy, x, W, N, C, OC); // no dx needed
 *       nn_clip_grad_norm(grads, blk.nparams, 1.0);
 *       nn_adamw_update(mem, grads, nn_block_section(&blk, mem, NN_ADAM_M),
 *                       nn_block_section(&blk, mem, NN_ADAM_V), blk.nparams, 1e-3f, 0.9f,
 *                       0.999f, 1e-8f, 0.0f, step, NN_DECAY_DECOUPLED);
 *   }
 *   free(mem);
 *
 * Dimension letters, used in every shape comment below:
 *   B batch, T sequence (time), C channels (input features), OC output channels,
 *   H heads (head size hs = C/H), V items (vocabulary), N any number of rows (often B·T),
 *   n a flat element count.
 * Tensors are float32, row-major, contiguous: (B,T,C) means element [b][t][c] lives at
 * b·T·C + t·C + c. Matrix dimensions are `int` (what BLAS takes); flat counts are `size_t`.
 *
 * Conventions:
 * - Arguments: outputs first, then inputs, then sizes, then options. Gradients are d<name>.
 * - Forward keeps what backward needs (layer norm's mean/rstd, attention's probabilities,
 *   dropout's mask); the caller owns those buffers and passes them back.
 * - Backward only ACCUMULATES (+=) into its gradient outputs, so a tensor used twice sums both
 *   uses; zero the gradients before each backward pass. A gradient output may be NULL where
 *   documented ("not needed"). Backward outputs must not alias its inputs.
 * - Element-wise forwards allow out == inp (in place); note the backward then needs what it
 *   needs (the original inp for GELU).
 * - No kernel allocates, locks or keeps state: every buffer, scratch included, is caller-owned
 *   and only borrowed for the call. Sizes of scratch buffers are in each contract.
 * - Determinism: the same inputs give the same bits. Our own loops have a fixed order. The
 *   matrix products go through OpenBLAS cblas_sgemm, which is reproducible for a FIXED thread
 *   count but not across counts (OpenBLAS 0.3.21 on Zen changes the last bits of ~10% of the
 *   outputs between 1 and 2+ threads once a product is larger than about 64³). OpenBLAS
 *   defaults to one thread per core, so to get the same bits on every machine pin it: call
 *   openblas_set_num_threads(n) (<cblas.h>) or set OPENBLAS_NUM_THREADS=n before training.
 *   The tests pin it to 1 (tests/core/test_nn.c, nn_linear_sgemm_thread_count).
 * - Bad sizes, NULL required buffers and out-of-range indices are programmer errors: US_ASSERT.
 */
#ifndef USERSIM_CORE_NN_H
#define USERSIM_CORE_NN_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------
 * Linear: out = inp·Wᵀ + bias, W stored (OC,C) as PyTorch's nn.Linear.weight
 * ---------------------------------------------------------------------------------------- */

/* nn_linear_forward computes products of at most this many rows with its own loops instead of
 * sgemm (whose packing dominates at serving sizes): each output sums 8 partial sums (lane j
 * takes c = j mod 8) as ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)), then adds the
 * C mod 8 leftover products summed in order, then bias[o] + that. The result differs from
 * sgemm's only in rounding and has the same bits on every x86-64 CPU (AVX2 vectors where there
 * are some, the same operations in the same order). */
#define NN_SMALL_ROWS 4

/* out[n,o] = Σ_c inp[n,c]·weight[o,c] + bias[o]  (bias NULL: no bias term). Through sgemm
 * (plain loops for at most NN_SMALL_ROWS rows).
 * Overwrites out. Borrows every buffer for the call; out must not alias inp or weight. */
void nn_linear_forward(float *out /* (N,OC) */, const float *inp /* (N,C) */,
                       const float *weight /* (OC,C) */, const float *bias /* (OC) or NULL */,
                       int N, int C, int OC);

/* Inverts out = inp·Wᵀ + b:
 *   dinp    += dout·W           dinp[n,c]    += Σ_o dout[n,o]·weight[o,c]
 *   dweight += doutᵀ·inp        dweight[o,c] += Σ_n dout[n,o]·inp[n,c]
 *   dbias   += Σ_n dout[n,:]
 * Any of dinp, dweight, dbias may be NULL (not needed). Borrows every buffer for the call. */
void nn_linear_backward(float *dinp /* (N,C) or NULL */, float *dweight /* (OC,C) or NULL */,
                        float *dbias /* (OC) or NULL */, const float *dout /* (N,OC) */,
                        const float *inp /* (N,C) */, const float *weight /* (OC,C) */, int N,
                        int C, int OC);

/* Reference for tests: the same contracts as nn_linear_forward / nn_linear_backward, as plain
 * triple loops with double accumulators. Borrows every buffer for the call. */
void nn_linear_forward_naive(float *out /* (N,OC) */, const float *inp /* (N,C) */,
                             const float *weight /* (OC,C) */,
                             const float *bias /* (OC) or NULL */, int N, int C, int OC);
void nn_linear_backward_naive(float *dinp /* (N,C) or NULL */,
                              float *dweight /* (OC,C) or NULL */,
                              float *dbias /* (OC) or NULL */, const float *dout /* (N,OC) */,
                              const float *inp /* (N,C) */, const float *weight /* (OC,C) */,
                              int N, int C, int OC);

/* ------------------------------------------------------------------------------------------
 * Embedding: rows of a table picked by index
 * ---------------------------------------------------------------------------------------- */

/* out[n,:] = table[idx[n],:], except that idx[n] == -1 or idx[n] == padding_idx gives a row of
 * zeros (whatever the table holds there). padding_idx -1 means "no padding index". Unlike
 * PyTorch, which returns the (zero-initialized) padding row itself, the zero here does not
 * depend on the table. Other indices must lie in [0, V). Borrows every buffer for the call. */
void nn_embedding_forward(float *out /* (N,C) */, const int32_t *idx /* (N) */,
                          const float *table /* (V,C) */, int N, int V, int C, int padding_idx);

/* Inverts out[n,:] = table[idx[n],:]:  dtable[idx[n],:] += dout[n,:] (a scatter-add; repeated
 * indices sum). Rows with idx -1 or padding_idx contribute no gradient, so the padding row of
 * dtable stays as it was. Borrows every buffer for the call. */
void nn_embedding_backward(float *dtable /* (V,C) */, const float *dout /* (N,C) */,
                           const int32_t *idx /* (N) */, int N, int V, int C, int padding_idx);

/* ------------------------------------------------------------------------------------------
 * Layer normalization over the last dimension (PyTorch nn.LayerNorm, biased variance)
 * ---------------------------------------------------------------------------------------- */

/* For each row n:  μ = mean(inp[n,:]),  σ² = mean((inp[n,:] - μ)²),  ρ = 1/sqrt(σ² + eps),
 *   out[n,c] = (inp[n,c] - μ)·ρ·weight[c] + bias[c];   mean[n] = μ, rstd[n] = ρ (kept for
 * backward; statistics are summed in double, then rounded to float and used as stored).
 * out may equal inp (inference only: backward needs the original inp). Borrows every buffer
 * for the call. */
void nn_layernorm_forward(float *out /* (N,C) */, float *mean /* (N) */, float *rstd /* (N) */,
                          const float *inp /* (N,C) */, const float *weight /* (C) */,
                          const float *bias /* (C) */, int N, int C, float eps);

/* Inverts out = x̂·w + b with x̂ = (x - μ)·ρ, exactly (μ and ρ depend on x):
 *   g = dout·w;  dinp += ρ·(g - mean_c(g) - x̂·mean_c(g·x̂))
 *   dweight += Σ_n dout·x̂;  dbias += Σ_n dout
 * mean and rstd are the forward's. Any of dinp, dweight, dbias may be NULL (not needed).
 * Borrows every buffer for the call. */
void nn_layernorm_backward(float *dinp /* (N,C) or NULL */, float *dweight /* (C) or NULL */,
                           float *dbias /* (C) or NULL */, const float *dout /* (N,C) */,
                           const float *inp /* (N,C) */, const float *weight /* (C) */,
                           const float *mean /* (N) */, const float *rstd /* (N) */, int N,
                           int C);

/* ------------------------------------------------------------------------------------------
 * Multi-head scaled dot-product self-attention
 * ---------------------------------------------------------------------------------------- */

/* qkv holds, per token, the query, key and value vectors side by side: qkv[b,t,0:C] = q,
 * [C:2C] = k, [2C:3C] = v; head h owns channels [h·hs, (h+1)·hs) of each (hs = C/H, C % H
 * must be 0). For each batch b, head h and query t, over the ALLOWED keys t2:
 *   allowed(t,t2) = (!causal || t2 <= t) && (mask == NULL || mask[b,t2] != 0)
 *   att[b,h,t,t2] = softmax_t2( q_t·k_t2 / sqrt(hs) )   (0 where not allowed)
 *   out[b,t,h·hs:(h+1)·hs] = Σ_t2 att[b,h,t,t2]·v_t2
 * mask is a key padding mask (1 = real token); padded queries are computed like any other row
 * (zero them afterwards if the model wants). A query with no allowed key (e.g. a padded
 * position before the first real token under causal masking) gets att row 0 and out 0, never
 * NaN. att is kept for backward. The scores go through sgemm, one (b,h) at a time.
 * Borrows every buffer for the call; out and att must not alias qkv. */
void nn_attention_forward(float *out /* (B,T,C) */, float *att /* (B,H,T,T) */,
                          const float *qkv /* (B,T,3C) */, const uint8_t *mask /* (B,T) or NULL */,
                          int B, int T, int C, int H, int causal);

/* Inverts the forward above, given its att:
 *   from out_t = Σ_t2 att[t,t2]·v_t2:  datt[t,t2] = dout_t·v_t2;  dv_t2 += Σ_t att[t,t2]·dout_t
 *   from att = softmax(s):  ds[t,t2] = att[t,t2]·(datt[t,t2] - Σ_j att[t,j]·datt[t,j])
 *   from s = q_t·k_t2/sqrt(hs):  dq_t += Σ_t2 ds·k_t2/sqrt(hs);  dk_t2 += Σ_t ds·q_t/sqrt(hs)
 * Not-allowed pairs have att 0 and so get no gradient. scratch holds T·T floats (its contents
 * on entry are ignored and on return are unspecified). mask and causal must be the forward's.
 * Borrows every buffer for the call. */
void nn_attention_backward(float *dqkv /* (B,T,3C) */, float *scratch /* (T,T) */,
                           const float *dout /* (B,T,C) */, const float *qkv /* (B,T,3C) */,
                           const float *att /* (B,H,T,T) */,
                           const uint8_t *mask /* (B,T) or NULL */, int B, int T, int C, int H,
                           int causal);

/* Reference for tests: the same contracts as nn_attention_forward / nn_attention_backward as
 * plain loops over (b, h, t, t2); the naive backward needs no scratch. Borrows every buffer
 * for the call. */
void nn_attention_forward_naive(float *out /* (B,T,C) */, float *att /* (B,H,T,T) */,
                                const float *qkv /* (B,T,3C) */,
                                const uint8_t *mask /* (B,T) or NULL */, int B, int T, int C,
                                int H, int causal);
void nn_attention_backward_naive(float *dqkv /* (B,T,3C) */, const float *dout /* (B,T,C) */,
                                 const float *qkv /* (B,T,3C) */,
                                 const float *att /* (B,H,T,T) */,
                                 const uint8_t *mask /* (B,T) or NULL */, int B, int T, int C,
                                 int H, int causal);

/* ------------------------------------------------------------------------------------------
 * Element-wise activations
 * ---------------------------------------------------------------------------------------- */

/* out = max(inp, 0). Borrows every buffer for the call. */
void nn_relu_forward(float *out /* (n) */, const float *inp /* (n) */, size_t n);
/* Inverts out = max(x, 0): dinp += dout·[x > 0] (derivative 0 at x = 0). Since out > 0 exactly
 * where inp > 0, the forward's out may be passed as inp (useful after an in-place forward).
 * Borrows every buffer for the call. */
void nn_relu_backward(float *dinp /* (n) */, const float *dout /* (n) */,
                      const float *inp /* (n) */, size_t n);

/* Exact GELU as BERT and PyTorch's default: out = 0.5·x·(1 + erf(x/√2)) = x·Φ(x).
 * Borrows every buffer for the call. */
void nn_gelu_forward(float *out /* (n) */, const float *inp /* (n) */, size_t n);
/* Inverts out = x·Φ(x): dinp += dout·(Φ(x) + x·φ(x)), φ(x) = exp(-x²/2)/√(2π). Needs the
 * original inp. Borrows every buffer for the call. */
void nn_gelu_backward(float *dinp /* (n) */, const float *dout /* (n) */,
                      const float *inp /* (n) */, size_t n);

/* GELU's tanh approximation (PyTorch approximate="tanh", GPT-2):
 *   out = 0.5·x·(1 + tanh(u)),  u = √(2/π)·(x + 0.044715·x³). Borrows every buffer for the
 * call. */
void nn_gelu_tanh_forward(float *out /* (n) */, const float *inp /* (n) */, size_t n);
/* Inverts the line above: dinp += dout·(0.5·(1 + tanh u) + 0.5·x·(1 - tanh²u)·du/dx),
 * du/dx = √(2/π)·(1 + 3·0.044715·x²). Needs the original inp. Borrows every buffer for the
 * call. */
void nn_gelu_tanh_backward(float *dinp /* (n) */, const float *dout /* (n) */,
                           const float *inp /* (n) */, size_t n);

/* ------------------------------------------------------------------------------------------
 * Dropout (inverted: kept elements are scaled by 1/(1-p) at training time)
 * ---------------------------------------------------------------------------------------- */

/* Training with p > 0: mask[i] = 1 with probability 1-p (one us_rng_float draw per element,
 * kept when the draw is >= p), out[i] = inp[i]·mask[i]/(1-p). Otherwise (training == 0 or
 * p == 0): out = inp, mask untouched (may be NULL) and no numbers drawn. p must lie in [0, 1).
 * out may equal inp. Borrows every buffer and rng (advanced) for the call. */
void nn_dropout_forward(float *out /* (n) */, uint8_t *mask /* (n) */, const float *inp /* (n) */,
                        size_t n, float p, int training, us_rng *rng);
/* Inverts out = inp·mask/(1-p): dinp += dout·mask/(1-p); with training == 0 or p == 0,
 * dinp += dout. p and training must be the forward's. Borrows every buffer for the call. */
void nn_dropout_backward(float *dinp /* (n) */, const float *dout /* (n) */,
                         const uint8_t *mask /* (n) */, size_t n, float p, int training);

/* ------------------------------------------------------------------------------------------
 * Softmax and log-softmax over rows (max subtracted first; sums in double)
 * ---------------------------------------------------------------------------------------- */

/* out[n,v] = exp(inp[n,v] - m) / Σ_j exp(inp[n,j] - m), m = max_j inp[n,j]. out may equal inp
 * (backward needs only out). Each row needs a finite value: exclude entries with attention's
 * mask, not with -inf. Borrows every buffer for the call. */
void nn_softmax_forward(float *out /* (N,V) */, const float *inp /* (N,V) */, int N, int V);
/* Inverts out = softmax(inp) given that out:  dinp += out·(dout - Σ_v dout·out).
 * Borrows every buffer for the call. */
void nn_softmax_backward(float *dinp /* (N,V) */, const float *dout /* (N,V) */,
                         const float *out /* (N,V) */, int N, int V);

/* out[n,v] = inp[n,v] - m - log Σ_j exp(inp[n,j] - m), m = max_j inp[n,j]. out may equal inp.
 * Borrows every buffer for the call. */
void nn_logsoftmax_forward(float *out /* (N,V) */, const float *inp /* (N,V) */, int N, int V);
/* Inverts out = logsoftmax(inp) given that out:  dinp += dout - exp(out)·Σ_v dout.
 * Borrows every buffer for the call. */
void nn_logsoftmax_backward(float *dinp /* (N,V) */, const float *dout /* (N,V) */,
                            const float *out /* (N,V) */, int N, int V);

/* ------------------------------------------------------------------------------------------
 * Binary cross-entropy with logits
 * ---------------------------------------------------------------------------------------- */

/* Per element, in the overflow-free form of -(y·log σ(x) + (1-y)·log(1-σ(x))):
 *   l_i = max(x_i, 0) - x_i·y_i + log1p(exp(-|x_i|))
 * Returns the weighted mean  L = Σ_i w_i·l_i / count,  count = #{i : w_i != 0}; weight NULL
 * means w_i = 1 (count = n). With 0/1 weights this is the mean over the unmasked elements, as
 * PyTorch's BCEWithLogitsLoss on the selected elements (SASRec's pos/neg masks). count 0
 * returns 0. Targets may be soft (in [0, 1]). losses (may be NULL) receives the unweighted l_i.
 * Borrows every buffer for the call. */
double nn_sigmoid_bce_forward(float *losses /* (n) or NULL */, const float *logits /* (n) */,
                              const float *targets /* (n) */,
                              const float *weight /* (n) or NULL */, size_t n);
/* Inverts L = Σ w_i·l_i / count (dl/dx = σ(x) - y):
 *   dlogits[i] += dloss·w_i·(σ(x_i) - y_i)/count
 * dloss is the gradient arriving at L (1 when L is the loss). Borrows every buffer for the
 * call. */
void nn_sigmoid_bce_backward(float *dlogits /* (n) */, float dloss, const float *logits /* (n) */,
                             const float *targets /* (n) */,
                             const float *weight /* (n) or NULL */, size_t n);

/* ------------------------------------------------------------------------------------------
 * Optimizer and clipping: flat loops over one contiguous block
 * ---------------------------------------------------------------------------------------- */

typedef enum nn_decay {
    /* AdamW (Loshchilov & Hutter; torch.optim.AdamW): p ← p·(1 - lr·wd) before the Adam step,
     * so decay does not pass through the moment estimates. */
    NN_DECAY_DECOUPLED = 0,
    /* Adam with L2 (torch.optim.Adam(weight_decay=wd), used by the released SASRec code):
     * g ← g + wd·p, and the Adam step uses that g, moments included. */
    NN_DECAY_L2 = 1,
} nn_decay;

/* One Adam step over n parameters, PyTorch semantics (torch.optim.Adam / AdamW, amsgrad off),
 * t = 1, 2, ... the step number after this update:
 *   g = grads[i] (+ wd·p in NN_DECAY_L2);  p ← p·(1 - lr·wd) first in NN_DECAY_DECOUPLED
 *   m ← β1·m + (1-β1)·g;   v ← β2·v + (1-β2)·g²
 *   p ← p - (lr/(1-β1^t)) · m / (sqrt(v)/sqrt(1-β2^t) + eps)
 * m and v start at zero (the block's adam sections after calloc). grads is not modified.
 * Decay applies to every element passed; to exempt biases and norms, call per range.
 * Borrows every buffer for the call. */
void nn_adamw_update(float *params /* (n) */, const float *grads /* (n) */, float *m /* (n) */,
                     float *v /* (n) */, size_t n, float lr, float beta1, float beta2, float eps,
                     float weight_decay, int t, nn_decay decay);

/* Lazy Adam on the rows of a (n_rows_total, C) table (TensorFlow's LazyAdam, PyTorch's
 * SparseAdam with nn_adamw_update's decay modes): params, grads, m and v are the table's four
 * sections; rows (n_rows) lists the touched rows, strictly increasing. Each listed row gets
 * exactly nn_adamw_update's per-element arithmetic with the same t (the global step count, so
 * the same bias corrections 1-β1^t and 1-β2^t): a step whose rows cover the whole table gives
 * nn_adamw_update's bits. A row not listed differs from the dense step in three ways:
 *   - its m and v are not decayed (the dense step multiplies them by β1 and β2 with g = 0);
 *   - its weight gets no Adam update (the dense step still moves it by the decayed m / sqrt(v));
 *   - it gets no weight decay (neither the L2 term wd·p in g nor the decoupled shrink): decay
 *     applies only on the steps that touch the row.
 * A row touched for the first time after k untouched steps is updated with its moments as left
 * k steps ago. grads is not modified. Borrows every buffer for the call. */
void nn_adam_rows_update(float *params /* (R,C) */, const float *grads /* (R,C) */,
                         float *m /* (R,C) */, float *v /* (R,C) */,
                         const int32_t *rows /* (n_rows) */, size_t n_rows, size_t C, float lr,
                         float beta1, float beta2, float eps, float weight_decay, int t,
                         nn_decay decay);
/* x[rows[r], :] = 0 for each of the n_rows listed rows of a (R,C) table (the zero-grad of the
 * touched rows: the others must already be zero). Borrows x and rows for the call. */
void nn_zero_rows(float *x /* (R,C) */, const int32_t *rows /* (n_rows) */, size_t n_rows,
                  size_t C);

/* A set of row indices of a table of n_total rows, built without allocating: a stamp per row
 * (the current mark means "in the set") and the list of rows added, in order of first addition
 * until nn_rowset_sort. Both buffers are the caller's: stamp (n_total) and rows (cap, cap
 * clamped to n_total); adding a row past cap is an assertion failure. */
typedef struct nn_rowset {
    size_t n_total, cap;
    uint32_t mark;    /* stamp value of the current set */
    uint32_t *stamp;  /* (n_total) borrowed */
    int32_t *rows;    /* (cap) borrowed: the rows of the set, n of them */
    size_t n;
} nn_rowset;

/* An empty set over the caller's buffers (zeroes stamp). The set borrows both for its life. */
void nn_rowset_init(nn_rowset *s, uint32_t *stamp /* (n_total) */, int32_t *rows /* (cap) */,
                    size_t n_total, size_t cap);
/* Empties the set in O(1) (a fresh mark; O(n_total) once per 2^32 clears). */
void nn_rowset_clear(nn_rowset *s);
/* Adds row (0 <= row < n_total) unless already present. */
void nn_rowset_add(nn_rowset *s, int32_t row);
/* Sorts the list increasing (unique by construction), as nn_adam_rows_update expects. */
void nn_rowset_sort(nn_rowset *s);

/* Global L2 norm ‖g‖ = sqrt(Σ g²) (summed in double) of the n gradients, returned; when
 * max_norm > 0 and the norm exceeds it, scales grads in place by max_norm/(‖g‖ + 1e-6), as
 * torch.nn.utils.clip_grad_norm_. max_norm <= 0 only measures. Borrows grads for the call. */
double nn_clip_grad_norm(float *grads /* (n) */, size_t n, double max_norm);

/* ------------------------------------------------------------------------------------------
 * Initializers: deterministic for a given rng state, drawn in index order
 * ---------------------------------------------------------------------------------------- */

/* w[i] = mean + std·z_i, z_i standard normal (us_rng_normal: two uniforms each). Borrows w and
 * rng (advanced) for the call, as do the other initializers that take an rng. */
void nn_init_normal(float *w /* (n) */, size_t n, float mean, float std, us_rng *rng);
/* w[i] uniform in [lo, hi) (one us_rng_float draw each). */
void nn_init_uniform(float *w /* (n) */, size_t n, float lo, float hi, us_rng *rng);
/* Glorot/Xavier uniform for a weight (fan_out, fan_in) = (OC,C), as torch.nn.init:
 * U(-a, a), a = gain·sqrt(6/(fan_in + fan_out)). */
void nn_init_xavier_uniform(float *w /* (OC,C) */, int fan_out, int fan_in, float gain,
                            us_rng *rng);
/* Glorot/Xavier normal (torch.nn.init.xavier_normal_, the released SASRec code's init):
 * N(0, std²), std = gain·sqrt(2/(fan_in + fan_out)). */
void nn_init_xavier_normal(float *w /* (OC,C) */, int fan_out, int fan_in, float gain,
                           us_rng *rng);
/* w[i] = 0. Borrows w for the call. */
void nn_init_zero(float *w /* (n) */, size_t n);

/* ------------------------------------------------------------------------------------------
 * One parameter block: params | grads | adam_m | adam_v, tensors in the same order in each
 * ---------------------------------------------------------------------------------------- */

#define NN_BLOCK_MAX_TENSORS 64 /* stack layers in one tensor, as (L,C), to stay well under */

typedef enum nn_section { NN_PARAMS = 0, NN_GRADS = 1, NN_ADAM_M = 2, NN_ADAM_V = 3 } nn_section;

typedef struct nn_block {
    size_t ntensors;
    size_t offsets[NN_BLOCK_MAX_TENSORS]; /* float offset of tensor i inside each section */
    size_t sizes[NN_BLOCK_MAX_TENSORS];   /* floats in tensor i */
    size_t nparams; /* floats in one section: Σ sizes, packed with no padding */
    size_t total;   /* floats in the whole block: 4·nparams */
} nn_block;

/* Lays out ntensors tensors of sizes[i] floats back to back (offsets[0] = 0, offsets[i+1] =
 * offsets[i] + sizes[i]) in each of the four sections. Allocate total floats, zeroed, once;
 * inference needs only the first nparams. ntensors <= NN_BLOCK_MAX_TENSORS. Fills the
 * caller's b; copies sizes. */
void nn_block_layout(nn_block *b, const size_t *sizes /* (ntensors) */, size_t ntensors);
/* Start of section s in the block at base: base + s·nparams. Borrows base. */
float *nn_block_section(const nn_block *b, float *base /* (total) */, nn_section s);
/* Tensor i of section s: base + s·nparams + offsets[i]. Borrows base. */
float *nn_block_tensor(const nn_block *b, float *base /* (total) */, nn_section s, size_t i);

/* ------------------------------------------------------------------------------------------
 * Elementwise exp over a row (softmaxes)
 * ---------------------------------------------------------------------------------------- */

/* y[i] = e^x[i] for n floats (y may equal x): Cody-Waite reduction x = n·ln2 + r with
 * n = nearest integer to x·log2(e), a degree-7 polynomial (Cephes' expf coefficients) for e^r
 * on |r| <= ln2/2, then 2^n from the exponent bits. Eight at a time with AVX2 where the CPU
 * has it, and the same operations in the same order (nothing fused) elsewhere, so the same
 * bits on every x86-64. Relative error against exp() in double at most 1.5e-7 over
 * [-87.3, 88] (the test measures 7.9e-8). Limits: x < -87.33654 (e^x below FLT_MIN: no
 * subnormals), -inf and NaN give 0; x > 88 gives +inf (e^x is finite up to 88.72 but is not
 * needed that far by a softmax, whose inputs are <= 0). Borrows y and x for the call. */
void nn_exp(float *y /* (n) */, const float *x /* (n) */, size_t n);

/* ------------------------------------------------------------------------------------------
 * Batch-inference kernels (the BERT encoder): vectorizable loops beside the plain kernels
 * ---------------------------------------------------------------------------------------- */

/* out[i] = erf(inp[i]) by a rational function (x·P(x²)/Q(x²), ±1 for |x| >= 3.92) that the
 * compiler vectorizes. Against glibc's erff over every float (measured over all 2^32): at most
 * NN_ERF_VEC_MAX_ULP units in the last place of the result and NN_ERF_VEC_MAX_ABS absolute,
 * both at |x| = 3.2315; the exact-arithmetic fit is within 1.9e-8 relative, the rest is float
 * rounding (tests sweep every 1021st float). Odd, |out| <= 1, NaN stays NaN. The same bits
 * on every x86-64 CPU. In place is allowed. Borrows out and inp for the call. */
void nn_erf_vec(float *out /* (n) */, const float *inp /* (n) */, size_t n);
#define NN_ERF_VEC_MAX_ULP 7
#define NN_ERF_VEC_MAX_ABS 4.2e-7

/* nn_gelu_forward with nn_erf_vec's erf in place of erff: out = 0.5·x·(1 + erf(x/√2)), the
 * same expression otherwise. In place is allowed. Borrows out and inp for the call. */
void nn_gelu_forward_vec(float *out /* (n) */, const float *inp /* (n) */, size_t n);

/* Bidirectional multi-head self-attention over B packed sequences without padding: sequence
 * b is rows [offsets[b], offsets[b+1]) of qkv and of out, at most max_len rows, every row a
 * real token (no mask). For each head and query t of a sequence, over its keys t2:
 *   out_t = Σ_t2 softmax_t2(q_t·k_t2/√hs)·v_t2,
 * the same as nn_attention_forward with a mask over padded rows, restricted to the real rows.
 * Plain loops the compiler vectorizes (no sgemm: at tens of tokens its packing costs more than
 * the product); the same bits on every x86-64 CPU. scratch holds
 * nn_attention_packed_scratch(C, H, max_len) floats. Overwrites out's rows of the sequences;
 * out must not alias qkv or scratch. Borrows every buffer for the call. */
void nn_attention_packed_forward(float *out /* (N,C) */, float *scratch, const float *qkv
                                 /* (N,3C) */, const int *offsets /* (B+1) */, int B, int C, int H,
                                 int max_len);
size_t nn_attention_packed_scratch(int C, int H, int max_len);

/* Inference layer norm of x = inp + res (res NULL: x = inp), the residual connection fused
 * in: out[n,:] = (x[n,:] - μ)·ρ·weight + bias, μ and ρ as nn_layernorm_forward computes them
 * but summed in 8 double lanes, so the loops vectorize (no mean or rstd kept). out may be inp
 * or res (in place); the same bits on every x86-64 CPU. Borrows every buffer for the call. */
void nn_layernorm_forward_vec(float *out /* (N,C) */, const float *inp /* (N,C) */,
                              const float *res /* (N,C) or NULL */, const float *weight /* (C) */,
                              const float *bias /* (C) */, int N, int C, float eps);

/* OpenBLAS's thread count (what openblas_set_num_threads set), and setting it: for callers
 * that split work over threads themselves and need one-thread sgemm inside each. The count is
 * process-wide. */
int nn_blas_threads(void);
void nn_blas_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
