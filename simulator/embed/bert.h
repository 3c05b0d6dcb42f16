/* bert.h — the sentence encoder of the embed sub-room (private to simulator/embed/): a
 * sentence-transformers BERT (all-MiniLM-L6-v2 by default) run in C, and a hashed n-gram
 * embedder to fall back on when no model is installed. Both give L2-normalized float vectors.
 *
 *   us_err err;
 *   us_bert_encoder *enc;
 *   us_bert_state *st;
 *   if (us_bert_open(&enc, "models/all-MiniLM-L6-v2", &err) != US_OK) return err.code;
 *   if (us_bert_state_init(&st, enc, 32, 0, &err) != US_OK) return err.code; // 32 texts a pass
 *   const char *texts[2] = {"great sound quality", "late delivery"};
 *   float out[2 * 384];                               // (n, us_bert_dim(enc))
 *   us_bert_encode(enc, st, texts, 2, out);
 *   printf("%s\n", us_bert_name(enc));                // "all-MiniLM-L6-v2@53aa51172d14"
 *   us_bert_state_free(st);
 *   us_bert_close(enc);
 *
 * Split as llama2.c's run.c: the encoder (us_bert_config + us_bert_weights + the tokenizer) is
 * immutable after open and may be shared by threads; the us_bert_state (llama2.c's RunState)
 * holds every activation, sized at init for a maximum batch B and length T, so encoding never
 * allocates. One state per thread. Threads: a pass runs on as many threads as OpenBLAS is set
 * to (openblas_set_num_threads, OPENBLAS_NUM_THREADS; the commands' --threads), at most one
 * per text: its texts are cut into that many groups of about equal token counts, each run
 * through the model by a worker of the state's pool with one-thread sgemm (OpenBLAS's count is
 * set to 1 during the pass and restored after; encoders running in several threads at once
 * should pin it to 1). Results are bit-identical run to run for a FIXED thread count, not
 * across counts (the groups' sgemms round differently).
 *
 * Dimension letters: B batch (texts per pass), T tokens per text (padded), C hidden size,
 * H heads, I feed-forward width, L layers.
 */
#ifndef USERSIM_SIMULATOR_BERT_H
#define USERSIM_SIMULATOR_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "simulator/embed/embed.h"
#include "simulator/embed/model_files.h"
#include "simulator/embed/tokenizer.h"

/* ------------------------------------------------------------------------------------------
 * The BERT encoder
 * ---------------------------------------------------------------------------------------- */

typedef struct us_bert_encoder us_bert_encoder;
typedef struct us_bert_state us_bert_state;

/* Opens the sentence-transformers model directory dir: config.json and the sentence-transformers
 * files (us_bert_model_load), model.safetensors (its SHA-256 names the encoder) and vocab.txt
 * (the tokenizer, with max_len = the model's max_seq_length).
 * Errors name the file (US_ENOTFOUND when a required file does not exist). Caller owns *out
 * (NULL on failure); release with us_bert_close(). */
us_status us_bert_open(us_bert_encoder **out, const char *dir, us_err *err);

/* Builds an encoder from parts already in memory (a test's tiny random model): takes ownership
 * of *w (zeroed on return, on failure too) and of tok (closed on failure), and copies cfg and
 * name (at most 127 bytes kept). cfg must describe w (the caller built w for it). Caller owns
 * *out; release with us_bert_close(). */
us_status us_bert_open_parts(us_bert_encoder **out, const us_bert_config *cfg, us_bert_weights *w,
                             us_tokenizer *tok, const char *name, us_err *err);

/* Frees the weights, the packed projections and the tokenizer. NULL is a no-op. Every state
 * made for enc must not be used afterwards. */
void us_bert_close(us_bert_encoder *enc);

/* The embedding width C (384 for all-MiniLM-L6-v2). */
int us_bert_dim(const us_bert_encoder *enc);

/* "<model folder>@<first 12 hex digits of model.safetensors' SHA-256>", or the name given to
 * us_bert_open_parts. Borrowed from enc. */
const char *us_bert_name(const us_bert_encoder *enc);

/* The lower-case hex SHA-256 of model.safetensors, or "" for an encoder from
 * us_bert_open_parts. Borrowed from enc. */
const char *us_bert_sha256(const us_bert_encoder *enc);

/* The configuration read at open. Borrowed from enc. */
const us_bert_config *us_bert_config_of(const us_bert_encoder *enc);

/* The tokenizer. Borrowed from enc: valid until us_bert_close(enc). */
const us_tokenizer *us_bert_tokenizer(const us_bert_encoder *enc);

/* Allocates the activations for passes of up to max_batch texts of up to max_len tokens each
 * (max_len <= 0 or above the model's max_seq_length means max_seq_length). For MiniLM at
 * B = 32, T = 256 that is about 75 MiB; it grows as B·T.
 * Borrows enc, which must outlive *out. Caller owns *out; release with us_bert_state_free(). */
us_status us_bert_state_init(us_bert_state **out, const us_bert_encoder *enc, int max_batch,
                             int max_len, us_err *err);

/* NULL is a no-op. */
void us_bert_state_free(us_bert_state *st);

/* The state's limits. */
int us_bert_state_max_batch(const us_bert_state *st);
int us_bert_state_max_len(const us_bert_state *st);

/* Embeds texts[0..n) (NUL-terminated UTF-8; NULL is the empty text) into out (n, C), row i for
 * texts[i]: tokenize (truncating at the state's max_len), run BERT over passes of up to
 * max_batch texts each (packed: no padding reaches the model), mean-pool over the real tokens
 * and L2-normalize when the model has a Normalize module. A text's vector does not depend on
 * the other texts of its pass beyond sgemm's rounding (see the tests). Allocates nothing,
 * except the state's threads and their scratch at the first pass on a new thread count.
 * Borrows enc, st (overwritten), texts and out for the call; out is the caller's. */
void us_bert_encode(const us_bert_encoder *enc, us_bert_state *st, const char *const *texts,
                    int n, float *out /* (n, C) */);

/* The model on token ids already made: ids (B, T) and mask (B, T) (1 for a real token, 0 for
 * padding; any pattern is allowed), B <= max_batch, T <= max_len, every id in [0, V) (a
 * programmer error otherwise). Writes the pooled (and, when the model says so, normalized)
 * vector of each row into out (B, C); a row without real tokens gives zeros. Threads and
 * allocation as us_bert_encode. Borrows everything for the call; out is the caller's. */
void us_bert_forward(const us_bert_encoder *enc, us_bert_state *st, const int32_t *ids,
                     const uint8_t *mask, int B, int T, float *out /* (B, C) */);

/* ------------------------------------------------------------------------------------------
 * The hashed n-gram embedder (simulator/embed/hashembed.c): the fallback when no model is installed
 * ---------------------------------------------------------------------------------------- */

/* US_HASHEMBED_NAME and US_HASHEMBED_DIM are in simulator/embed/embed.h. */
#define US_HASHEMBED_MAX_DIM 4096 /* the widest accepted */

/* Embeds text[0..len) (UTF-8; bytes are taken as they come, invalid sequences included) into
 * out (dim): words are maximal runs of ASCII letters and digits and of non-ASCII bytes (ASCII
 * lower-cased; a word is cut after 256 bytes). Each word adds its own feature with weight 1
 * and each character 3-, 4- and 5-gram of "<word>" (code points, '<' and '>' marking the
 * word's ends) with weight 1/2: feature f goes to slot h % dim with sign + when the top bit of
 * h is 0, else -, where h = us_hash64(f) with one fixed seed for words and another for n-grams.
 * The sum is L2-normalized; a text without a word (empty, only punctuation) gives zeros. Fixed
 * forever as "hashed-ngram-v1": any change of features, seeds or weights is a new name.
 * Deterministic on every machine. dim in [1, US_HASHEMBED_MAX_DIM]. Allocates nothing (32 KiB
 * of stack). Borrows text for the call; out is the caller's. */
void us_hashembed(float *out /* (dim) */, const char *text, size_t len, int dim);

/* The us_embedder (either kind, named so every output can say which produced it) is public:
 * see simulator/embed/embed.h. */

#endif
