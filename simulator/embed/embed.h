/* embed.h — the public header of the simulator/embed sub-room (DESIGN.md: one public header
 * per room and sub-room); tokenizer.h, model_files.h and bert.h beside it are private to
 * simulator/embed/.
 *
 * ==== Embeddings ==== (simulator/embed/bert.c, hashembed.c, embed_store.c)
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
#ifndef USERSIM_SIMULATOR_EMBED_H
#define USERSIM_SIMULATOR_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum us_embedder_kind { US_EMBEDDER_BERT = 0, US_EMBEDDER_HASHED = 1 } us_embedder_kind;

#define US_HASHEMBED_NAME "hashed-ngram-v1"
#define US_HASHEMBED_DIM 384 /* the hashed embedder's width: MiniLM's */
#define US_EMBED_MODEL_NAME "all-MiniLM-L6-v2"
#define US_EMBED_MODEL_DIR "models/" US_EMBED_MODEL_NAME /* the last place searched */

typedef struct us_embedder us_embedder;

/* Finds the sentence-embedding model folder. given (an --embed-model option) non-NULL: that
 * folder and no other. Otherwise the first complete folder (config.json, vocab.txt and
 * model.safetensors) of: $USERSIM_MODEL_DIR (the folder itself, when set), $USERSIM_MODELS/
 * all-MiniLM-L6-v2 (when set), PREFIX/share/usersim/models/all-MiniLM-L6-v2 (PREFIX fixed at
 * build time), ./models/all-MiniLM-L6-v2 (relative to the working folder). Writes the folder
 * into out (cap bytes). None found is US_ENOTFOUND naming every place searched, and what was
 * missing there. Borrows everything for the call. */
us_status us_embed_model_find(const char *given, char *out, size_t cap, us_err *err);

/* The model folder us_embed_model_find(NULL, ...) finds, or US_EMBED_MODEL_DIR when none is
 * complete. Borrowed (a static buffer, rewritten by each call; not thread-safe). */
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
    int force;          /* replace a sentence model's vectors with the hashed embedder's; 0 */
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

/* The name of the embedder whose vectors the store at path holds into name (cap bytes), or ""
 * when it has none (no embedder table or no row). A missing store is US_ENOTFOUND. Borrows
 * everything for the call. */
us_status us_embed_stored_embedder(const char *path, char *name, size_t cap, us_err *err);

/* The embed stage on the store at path: creates the output tables when missing; when the
 * stored embedder (name, model_sha256, dim) differs from e, deletes every stored vector and
 * embeds everything again, all in ONE transaction (the previous vectors stay intact until it
 * commits), except that a sentence model's vectors are replaced by the hashed embedder's only
 * with cfg->force (without it that is US_EINVAL and the store is not written); otherwise
 * embeds only the keywords and item texts that have no vector yet, in transactions of
 * cfg->commit_every rows, so a rerun with nothing new writes nothing. A missing store is
 * US_ENOTFOUND; missing keyword tables are US_ENOTFOUND saying to run usersim build (its
 * extract stage comes first). cfg NULL means the defaults. rep may be NULL. Borrows everything for the
 * call. */
us_status us_embed_store(const char *path, us_embedder *e, const us_embed_config *cfg,
                         us_embed_report *rep, us_err *err);

#ifdef __cplusplus
}
#endif
#endif
