/* test_sasrec.c — SASRec (simulator/sasrec/sasrec.h): whole-model gradient checks of both heads
 * over every parameter tensor (tiny dims, through tests/gradcheck.h), init determinism, training
 * on a small synthetic store (AUC above 0.65 and above an item-popularity baseline), bitwise
 * reproducibility for a seed, checkpoints in the store with their failure modes, and serving
 * (single, batch and cached-user scores, and the next-item head's scores, equal the training
 * forward's). The comparison against PyTorch is test_sasrec_reference.c; speed and quality on
 * the default synthetic data are measured by tests/bench/bench_sasrec.c (`make bench`).
 *
 * OpenBLAS is pinned to one thread in every test (pin_blas), so sums are reproducible. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "datasets/datasets.h"
#include "simulator/sasrec/sasrec.h"
#include "simulator/sasrec/sasrec_internal.h"
#include "tests/gradcheck.h"
#include "tests/store.h"
#include "tests/test.h"

static void pin_blas(void) { openblas_set_num_threads(1); }

/* The gradient-check model: d 8, T 4, 2 blocks, 2 heads, V 20, U 5. */
static us_sasrec_config tiny_config(float dropout) {
    us_sasrec_config c = us_sasrec_config_default();
    c.n_users = 5;
    c.n_items = 20;
    c.d = 8;
    c.max_len = 4;
    c.n_blocks = 2;
    c.n_heads = 2;
    c.dropout = dropout;
    c.batch_size = 6;
    c.seed = 3;
    return c;
}

/* Six windows: full, partly padded, a single item, and one empty history (all padding). */
#define GB 6
static const int32_t g_hist[GB * 4] = {
    3, 7, 1, 19, /* full */
    -1, 4, 4, 0, /* repeated item */
    -1, -1, 12, 5, -1, -1, -1, 9, -1, -1, -1, -1, /* empty: the head sees only LNf(0) */
    2, 18, 6, 11,
};
static const int32_t g_users[GB] = {0, 1, 2, 3, 4, 0};
static const int32_t g_items[GB] = {5, 0, 19, 9, 13, 2};
static const float g_labels[GB] = {1, 0, 1, 1, 0, 0};
/* Next-item targets: the item after each position (-1: none) and a negative per position. */
static const int32_t g_pos[GB * 4] = {
    7, 1, 19, 8, -1, 4, 0, 2, -1, -1, 5, 3, -1, -1, -1, 14, -1, -1, -1, -1, 18, 6, 11, 15,
};
static const int32_t g_neg[GB * 4] = {
    10, 11, 12, 13, 0, 14, 15, 16, 0, 0, 17, 1, 0, 0, 0, 2, 0, 0, 0, 0, 3, 4, 5, 6,
};

typedef struct {
    us_sasrec *m;
    int next; /* 1: the next-item head, else the rating head */
    us_rng rng0; /* the dropout generator at the start: every forward draws the same masks */
} grad_ctx;

static double model_loss(void *p) {
    grad_ctx *g = p;
    g->m->rng = g->rng0;
    if (g->next) return us_sasrec_next_forward(g->m, g_hist, g_pos, g_neg, GB, 1);
    return us_sasrec_rating_forward(g->m, g_hist, g_users, g_items, g_labels, GB, 1);
}

/* Checks ∂loss/∂(every tensor) of one head against central differences. The losses are means of
 * BCE terms (small gradients), so the model's parameters get a larger spread than the init's to
 * make the check meaningful everywhere. */
static int check_head(us_test_ctx *t_, int next, float dropout) {
    pin_blas();
    us_sasrec_config c = tiny_config(dropout);
    us_sasrec *m;
    us_err err;
    us_status st = us_sasrec_init(&m, &c, &err);
    CHECK_OK(st, err);
    if (st != US_OK) return 0;
    /* Spread biases and LayerNorm affine terms away from their init (1/0), so a gradient that
     * is wrong only away from the init still shows. */
    us_rng r;
    us_rng_seed(&r, 99, 1);
    us_gradcheck_fill(m->params.ln1_w, 2 * 8, 0.5f, 1.5f, &r);
    us_gradcheck_fill(m->params.ln1_b, 2 * 8, -0.5f, 0.5f, &r);
    us_gradcheck_fill(m->params.ln2_w, 2 * 8, 0.5f, 1.5f, &r);
    us_gradcheck_fill(m->params.ln2_b, 2 * 8, -0.5f, 0.5f, &r);
    us_gradcheck_fill(m->params.qkv_b, 2 * 24, -0.5f, 0.5f, &r);
    us_gradcheck_fill(m->params.attn_b, 2 * 8, -0.5f, 0.5f, &r);
    us_gradcheck_fill(m->params.lnf_w, 8, 0.5f, 1.5f, &r);
    us_gradcheck_fill(m->params.lnf_b, 8, -0.5f, 0.5f, &r);
    us_gradcheck_fill(m->params.qkv_w, 2 * 24 * 8, -0.8f, 0.8f, &r);
    grad_ctx g = {.m = m, .next = next, .rng0 = m->rng};
    model_loss(&g);
    us_sasrec_zero_grad(m);
    if (next) us_sasrec_next_backward(m);
    else us_sasrec_rating_backward(m);
    /* Copy the analytic gradient out: the checker's forwards do not touch grads, but keep the
     * comparison independent of that. */
    size_t np = m->block.nparams;
    float *grad = malloc(np * sizeof(float));
    memcpy(grad, nn_block_section(&m->block, m->mem, NN_GRADS), np * sizeof(float));
    us_gradcheck_opts o = us_gradcheck_defaults();
    o.max_coords = 48;
    /* Step 3e-3 instead of the default 1e-2: through two attention blocks and four LayerNorms
     * the central difference's h² curvature term reaches a few percent at 1e-2 (those
     * coordinates pass at 1e-3), while at 1e-3 float32 rounding of the loss (~1e-7 over 2h)
     * reaches the 1e-3 floor. 3e-3 keeps both well under the 1e-2 tolerance; the tolerance
     * itself is the default. */
    o.step = 3e-3;
    /* Floor 2e-3 instead of 1e-3 (a looser absolute slack for tiny gradients, the relative
     * tolerance unchanged): the loss is an O(1) mean of BCE terms whose float32 rounding,
     * through two blocks and four LayerNorms, leaves ~1e-5 of noise in a central difference
     * at this step, so gradients under ~2e-3 (zero ones included, e.g. the key bias, to which
     * softmax is invariant) are compared with an absolute slack of 2e-5. A wrong backward
     * shows errors of 10-100% on large gradients (checked by mutating sasrec.c by hand). */
    o.floor = 2e-3;
    int ok = 1;
    size_t nonzero = 0;
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
        char name[64];
        snprintf(name, sizeof name, "sasrec %s %s", next ? "next" : "rating",
                 us_sasrec_tensor_names[i]);
        float *x = nn_block_tensor(&m->block, m->mem, NN_PARAMS, i);
        const float *gi = grad + m->block.offsets[i];
        for (size_t k = 0; k < m->block.sizes[i]; k++) nonzero += gi[k] != 0.0f;
        /* The next-item head does not use the user embedding or the rating head: their
         * gradient must be exactly zero, which the checker confirms numerically too. */
        us_gradcheck_result res;
        int pass = us_gradcheck(name, model_loss, &g, x, gi, m->block.sizes[i], &o, &res);
        CHECK(pass);
        ok &= pass;
    }
    CHECK(nonzero > np / 4);
    free(grad);
    us_sasrec_free(m);
    return ok;
}

TEST(sasrec_gradcheck_rating_head) { check_head(t_, 0, 0.0f); }
TEST(sasrec_gradcheck_next_head) { check_head(t_, 1, 0.0f); }
/* With dropout on (masks held fixed by replaying the generator): the masks' scaling is part of
 * the backward too. */
TEST(sasrec_gradcheck_rating_head_dropout) { check_head(t_, 0, 0.3f); }

/* Dropout acts only in training: two training forwards with different generator states
 * differ, evaluation forwards are equal whatever the generator, and p = 0 trains like eval. */
TEST(sasrec_dropout_only_in_training) {
    pin_blas();
    us_sasrec_config c = tiny_config(0.3f);
    us_sasrec *m;
    us_err err;
    CHECK_OK(us_sasrec_init(&m, &c, &err), err);
    REQUIRE(m);
    float a[GB], b[GB], e1[GB], e2[GB];
    us_sasrec_rating_forward(m, g_hist, g_users, g_items, g_labels, GB, 1);
    memcpy(a, us_sasrec_probs(m), sizeof a);
    us_sasrec_rating_forward(m, g_hist, g_users, g_items, g_labels, GB, 1);
    memcpy(b, us_sasrec_probs(m), sizeof b);
    CHECK(memcmp(a, b, sizeof a) != 0);
    us_rng before = m->rng;
    us_sasrec_rating_forward(m, g_hist, g_users, g_items, NULL, GB, 0);
    memcpy(e1, us_sasrec_probs(m), sizeof e1);
    CHECK(m->rng.state == before.state); /* evaluation draws nothing */
    m->rng = us_rng_derive(77, 0);
    us_sasrec_rating_forward(m, g_hist, g_users, g_items, NULL, GB, 0);
    memcpy(e2, us_sasrec_probs(m), sizeof e2);
    CHECK(memcmp(e1, e2, sizeof e1) == 0);
    m->cfg.dropout = 0.0f;
    us_sasrec_rating_forward(m, g_hist, g_users, g_items, g_labels, GB, 1);
    CHECK(memcmp(e1, us_sasrec_probs(m), sizeof e1) == 0);
    us_sasrec_free(m);
}

TEST(sasrec_init_deterministic) {
    pin_blas();
    us_sasrec_config c = tiny_config(0.0f);
    us_sasrec *a, *b, *d;
    us_err err;
    CHECK_OK(us_sasrec_init(&a, &c, &err), err);
    CHECK_OK(us_sasrec_init(&b, &c, &err), err);
    c.seed = 4;
    CHECK_OK(us_sasrec_init(&d, &c, &err), err);
    size_t np = a->block.nparams;
    CHECK(memcmp(a->mem, b->mem, np * sizeof(float)) == 0);
    CHECK(memcmp(a->mem, d->mem, np * sizeof(float)) != 0);
    /* the padding row is zero; LayerNorm weights start at 1 */
    for (int i = 0; i < 8; i++) CHECK(a->params.item_emb[i] == 0.0f);
    CHECK(a->params.ln1_w[3] == 1.0f && a->params.lnf_w[7] == 1.0f);
    us_sasrec_free(a);
    us_sasrec_free(b);
    us_sasrec_free(d);
}

TEST(sasrec_config_validation) {
    us_sasrec_config c = tiny_config(0.0f);
    us_err err;
    CHECK_OK(us_sasrec_config_validate(&c, &err), err);
    c.n_heads = 3;
    CHECK(us_sasrec_config_validate(&c, &err) == US_EINVAL);
    CHECK_STR(err.field, "n_heads");
    c = tiny_config(1.0f);
    CHECK(us_sasrec_config_validate(&c, &err) == US_EINVAL);
    CHECK_STR(err.field, "dropout");
    us_sasrec_config p;
    CHECK_OK(us_sasrec_config_preset("paper", "ml-1m", &p, &err), err);
    CHECK(p.d == 50 && p.max_len == 200 && p.head == US_SASREC_NEXT);
    CHECK_OK(us_sasrec_config_preset("paper", "games", &p, &err), err);
    CHECK(p.max_len == 50);
    CHECK(us_sasrec_config_preset("huge", NULL, &p, &err) == US_EINVAL);
}

/* ------------------------------------------------------------------------------------------
 * Training on a synthetic store
 * ---------------------------------------------------------------------------------------- */

/* Generates a synthetic dataset under the test's tmp dir and ingests it into <tmp>/<name>.usdb;
 * returns the store path (static slot of us_test_path) or NULL. */
static const char *make_store(us_test_ctx *t_, const char *name, uint32_t users, uint32_t items,
                              uint64_t reviews, uint64_t seed, int simple) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s-data", us_test_tmpdir(), name);
    us_synth_config sc = us_synth_config_default();
    sc.out_dir = dir;
    sc.users = users;
    sc.items = items;
    sc.reviews = reviews;
    sc.seed = seed;
    sc.choice_taste = 1.0; /* the choice model these training checks were sized on */
    sc.quiet = 1;
    if (simple) {
        /* a low-dimensional taste (2 categories, 4 aspects, less noise): what an id-only model
         * can learn from ~18 labels per user (the generator's truth AUC is ~0.97 here) */
        sc.categories = 2;
        sc.aspects = 4;
        sc.noise = 0.5;
    }
    us_synth_report sr;
    us_err err;
    us_status st = us_synth(&sc, &sr, &err);
    CHECK_OK(st, err);
    if (st != US_OK) return NULL;
    char store[1100];
    snprintf(store, sizeof store, "%s.usdb", name);
    const char *path = us_test_path(store);
    us_ingest_config ic = us_ingest_config_default();
    ic.format = US_FORMAT_AMAZON;
    ic.reviews_path = sr.reviews_path;
    ic.meta_path = sr.meta_path;
    ic.out_path = path;
    ic.quiet = 1;
    st = us_ingest(&ic, NULL, &err);
    CHECK_OK(st, err);
    return st == US_OK ? path : NULL;
}

/* Item like-rate on the training split, (likes + 1)/(labeled + 2), as a score for the labeled
 * interactions of split s; returns its AUC. */
static double popularity_auc(const us_sasrec_data *d, int s) {
    double *likes = calloc((size_t)d->n_items, sizeof(double));
    double *seen = calloc((size_t)d->n_items, sizeof(double));
    size_t n = d->n_ex[s];
    float *score = malloc(n * sizeof(float));
    int8_t *lab = malloc(n);
    uint32_t *scratch = malloc(n * sizeof(uint32_t));
    US_ASSERT(likes && seen && score && lab && scratch);
    for (size_t k = 0; k < d->n_ex[0]; k++) {
        uint64_t e = d->ex[0][k];
        likes[d->item[e]] += d->label[e];
        seen[d->item[e]] += 1.0;
    }
    for (size_t k = 0; k < n; k++) {
        uint64_t e = d->ex[s][k];
        score[k] = (float)((likes[d->item[e]] + 1.0) / (seen[d->item[e]] + 2.0));
        lab[k] = d->label[e];
    }
    double auc = us_sasrec_auc(score, lab, n, scratch);
    free(likes);
    free(seen);
    free(score);
    free(lab);
    free(scratch);
    return auc;
}

TEST(sasrec_auc_known_values) {
    uint32_t scratch[6];
    const float s1[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    const int8_t y1[4] = {0, 0, 1, 1};
    CHECK_NEAR(us_sasrec_auc(s1, y1, 4, scratch), 0.75, 1e-12); /* sklearn's example */
    const float s2[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    CHECK_NEAR(us_sasrec_auc(s2, y1, 4, scratch), 0.5, 1e-12); /* all tied */
    const float s3[6] = {3, 2, 1, 6, 5, 4};
    const int8_t y3[6] = {0, 0, 0, 1, 1, 1};
    CHECK_NEAR(us_sasrec_auc(s3, y3, 6, scratch), 1.0, 1e-12);
    const int8_t y4[6] = {1, 1, 1, 0, 0, 0};
    CHECK_NEAR(us_sasrec_auc(s3, y4, 6, scratch), 0.0, 1e-12);
    const int8_t y5[4] = {1, 1, 1, 1};
    CHECK_NEAR(us_sasrec_auc(s1, y5, 4, scratch), 0.5, 1e-12); /* one class only */
}

TEST(sasrec_data_windows) {
    const char *path = make_store(t_, "win", 60, 40, 900, 5, 0);
    REQUIRE(path);
    us_sasrec_data *d;
    us_err err;
    CHECK_OK(us_sasrec_data_open(path, &d, &err), err);
    REQUIRE(d);
    CHECK(d->n_users == 60 && d->n_items == 40);
    CHECK(d->user_off[d->n_users] == d->n_inter);
    CHECK(d->n_ex[0] > 0 && d->n_ex[1] > 0 && d->n_ex[2] > 0);
    /* every validation/test example comes after all of its user's training examples */
    for (size_t k = 0; k < d->n_ex[2]; k++) {
        uint64_t e = d->ex[2][k];
        int32_t u = d->ex_user[e];
        for (uint64_t j = e + 1; j < d->user_off[u + 1]; j++) CHECK(d->split[j] != 0);
    }
    /* windows: the last T items before e, left-padded */
    int32_t w[5];
    uint64_t lo = d->user_off[3];
    us_sasrec_window(d, 3, lo, 5, w);
    for (int t = 0; t < 5; t++) CHECK(w[t] == -1);
    us_sasrec_window(d, 3, lo + 2, 5, w);
    CHECK(w[0] == -1 && w[1] == -1 && w[2] == -1);
    CHECK(w[3] == d->item[lo] && w[4] == d->item[lo + 1]);
    us_sasrec_data *none;
    CHECK(us_sasrec_data_open(us_test_path("missing.usdb"), &none, &err) == US_ENOTFOUND);
    CHECK(none == NULL);
    /* a model of another size refuses the data */
    us_sasrec_config c = tiny_config(0.0f);
    us_sasrec *m;
    us_sasrec_report rep;
    CHECK_OK(us_sasrec_init(&m, &c, &err), err);
    REQUIRE(m);
    CHECK(us_sasrec_train(m, d, &rep, NULL, &err) == US_EINVAL);
    CHECK_STR(err.field, "data");
    us_sasrec_free(m);
    CHECK(us_sasrec_data_open(us_test_write("junk.usdb", "not a database", -1), &none, &err) ==
          US_EFORMAT);
    CHECK(strstr(err.msg, "not a usersim store") != NULL);
    CHECK(none == NULL);
    us_sasrec_data_close(d);
}

/* The simulator preset on a small synthetic store beats 0.65 test AUC and the item-popularity
 * baseline; training stops early and keeps the best epoch. */
TEST(sasrec_train_rating_small_store) {
    pin_blas();
    const char *path = make_store(t_, "small", 300, 150, 6000, 11, 1);
    REQUIRE(path);
    us_sasrec_data *d;
    us_err err;
    CHECK_OK(us_sasrec_data_open(path, &d, &err), err);
    REQUIRE(d);
    us_sasrec_config c = us_sasrec_config_default();
    us_sasrec_config_fit(&c, d);
    c.max_epochs = 30;
    us_sasrec *m;
    CHECK_OK(us_sasrec_init(&m, &c, &err), err);
    us_sasrec_report rep;
    CHECK_OK(us_sasrec_train(m, d, &rep, NULL, &err), err);
    double pop = popularity_auc(d, 2);
    printf("    sasrec small store: test AUC %.4f (popularity %.4f), log loss %.4f, accuracy "
           "%.4f, best epoch %d of %d, %.0f examples/s\n",
           rep.test.auc, pop, rep.test.logloss, rep.test.accuracy, rep.best_epoch, rep.epochs,
           rep.examples_per_s);
    CHECK(rep.test.n == d->n_ex[2]);
    CHECK(rep.test.auc > 0.65);
    CHECK(rep.test.auc > pop);
    CHECK(rep.best_epoch >= 1 && rep.best_epoch <= rep.epochs);
    /* the kept weights are the best epoch's: re-evaluating gives the reported numbers */
    us_sasrec_metrics v;
    CHECK_OK(us_sasrec_evaluate(m, d, 1, &v, &err), err);
    CHECK(v.auc == rep.valid.auc);
    us_sasrec_free(m);
    us_sasrec_data_close(d);
}

/* Field by field (the struct has padding). */
static int config_equal(const us_sasrec_config *a, const us_sasrec_config *b) {
    return a->head == b->head && a->n_users == b->n_users && a->n_items == b->n_items &&
           a->d == b->d && a->n_blocks == b->n_blocks && a->n_heads == b->n_heads &&
           a->max_len == b->max_len && a->dropout == b->dropout && a->ln_eps == b->ln_eps &&
           a->lr == b->lr && a->beta1 == b->beta1 && a->beta2 == b->beta2 &&
           a->adam_eps == b->adam_eps && a->weight_decay == b->weight_decay &&
           a->clip_norm == b->clip_norm && a->batch_size == b->batch_size &&
           a->max_epochs == b->max_epochs && a->patience == b->patience &&
           a->eval_negatives == b->eval_negatives && a->seed == b->seed;
}

/* Trains a fresh model for two epochs on d and returns it (or NULL). */
static us_sasrec *train_two_epochs(us_test_ctx *t_, const us_sasrec_data *d, us_sasrec_head head,
                                   uint64_t seed) {
    us_sasrec_config c = us_sasrec_config_default();
    us_sasrec_config_fit(&c, d);
    c.head = head;
    c.seed = seed;
    c.max_epochs = 2;
    c.batch_size = 64;
    c.max_len = 4;
    us_sasrec *m;
    us_err err;
    us_status st = us_sasrec_init(&m, &c, &err);
    CHECK_OK(st, err);
    if (st != US_OK) return NULL;
    us_sasrec_report rep;
    st = us_sasrec_train(m, d, &rep, NULL, &err);
    CHECK_OK(st, err);
    if (st != US_OK) {
        us_sasrec_free(m);
        return NULL;
    }
    return m;
}

/* Same seed, same bits: parameters and Adam moments after training, for both heads. */
TEST(sasrec_train_same_seed_same_bits) {
    pin_blas();
    const char *path = make_store(t_, "det", 80, 50, 1200, 2, 0);
    REQUIRE(path);
    us_sasrec_data *d;
    us_err err;
    CHECK_OK(us_sasrec_data_open(path, &d, &err), err);
    REQUIRE(d);
    for (int head = 0; head < 2; head++) {
        us_sasrec *a = train_two_epochs(t_, d, (us_sasrec_head)head, 7);
        us_sasrec *b = train_two_epochs(t_, d, (us_sasrec_head)head, 7);
        us_sasrec *c = train_two_epochs(t_, d, (us_sasrec_head)head, 8);
        REQUIRE(a && b && c);
        size_t bytes = a->block.total * sizeof(float);
        CHECK(memcmp(a->mem, b->mem, bytes) == 0);
        CHECK(memcmp(a->mem, c->mem, bytes) != 0);
        us_sasrec_free(a);
        us_sasrec_free(b);
        us_sasrec_free(c);
    }
    us_sasrec_data_close(d);
}

/* ------------------------------------------------------------------------------------------
 * Data-parallel training (sasrec_trainer)
 * ---------------------------------------------------------------------------------------- */

/* Without dropout a batch's gradient does not depend on how it is sharded, up to float
 * rounding of the shard sums: one shard gives the single-batch path's exact bits (the same
 * kernels in the same order, the same 1/count scale), and 2, 3, 4 and 6 shards (6 rows: even,
 * uneven and one-row shards) agree with it to 1e-5 of each tensor's largest gradient. A batch
 * of one row over 3 shards (two empty) gives the one-row gradient. */
TEST(sasrec_trainer_shards_sum_to_batch_gradient) {
    pin_blas();
    for (int next = 0; next < 2; next++) {
        us_sasrec_config c = tiny_config(0.0f);
        c.head = next ? US_SASREC_NEXT : US_SASREC_RATING;
        us_sasrec *m;
        us_err err;
        CHECK_OK(us_sasrec_init(&m, &c, &err), err);
        REQUIRE(m);
        size_t np = m->block.nparams;
        float *want = malloc(np * sizeof(float)), *want1 = malloc(np * sizeof(float));
        REQUIRE(want && want1);
        float *grads = nn_block_section(&m->block, m->mem, NN_GRADS);
        for (int rows = GB; rows >= 1; rows -= GB - 1) {
            double loss = next ? us_sasrec_next_forward(m, g_hist, g_pos, g_neg, rows, 1)
                               : us_sasrec_rating_forward(m, g_hist, g_users, g_items, g_labels,
                                                          rows, 1);
            us_sasrec_zero_grad(m);
            if (next) us_sasrec_next_backward(m);
            else us_sasrec_rating_backward(m);
            memcpy(rows == GB ? want : want1, grads, np * sizeof(float));
            static const int shards[] = {1, 2, 3, 4, 6};
            for (size_t k = 0; k < sizeof shards / sizeof shards[0]; k++) {
                int P = shards[k];
                if (rows == 1 && P != 1 && P != 3) continue;
                sasrec_trainer *tr;
                CHECK_OK(sasrec_trainer_init(&tr, m, P, &err), err);
                REQUIRE(tr);
                CHECK(sasrec_trainer_threads(tr) == P);
                for (size_t i = 0; i < np; i++) grads[i] = 1.0f; /* must be replaced */
                double l = next ? sasrec_trainer_next_grad(tr, g_hist, g_pos, g_neg, rows)
                                : sasrec_trainer_rating_grad(tr, g_hist, g_users, g_items,
                                                             g_labels, rows);
                const float *ref = rows == GB ? want : want1;
                CHECK_NEAR(l, loss, 1e-6);
                if (P == 1) CHECK(memcmp(grads, ref, np * sizeof(float)) == 0);
                for (size_t ti = 0; ti < US_SASREC_NTENSORS; ti++) {
                    size_t off = m->block.offsets[ti], n = m->block.sizes[ti];
                    double big = 0.0, worst = 0.0;
                    for (size_t i = 0; i < n; i++) {
                        big = fmax(big, fabs(ref[off + i]));
                        worst = fmax(worst, fabs((double)grads[off + i] - ref[off + i]));
                    }
                    if (!(worst <= 1e-5 * fmax(big, 1e-3))) {
                        CHECK(worst <= 1e-5 * fmax(big, 1e-3));
                        printf("    %s head, %d rows, %d shards: %s off by %.3g (largest %.3g)\n",
                               next ? "next" : "rating", rows, P, us_sasrec_tensor_names[ti],
                               worst, big);
                    }
                }
                sasrec_trainer_free(tr);
            }
        }
        /* the check is not vacuous: the gradient reaches the encoder's weights */
        double sq = 0.0;
        for (size_t i = 0; i < m->block.sizes[5]; i++) {
            double v = want[m->block.offsets[5] + i];
            sq += v * v;
        }
        CHECK(sq > 0.0); /* qkv_w */
        free(want);
        free(want1);
        us_sasrec_free(m);
    }
    sasrec_trainer_free(NULL);
}

/* Lazy embedding updates (sparse_embeddings) against the dense step, both heads, 1 and 2
 * shards, with weight decay and a clip norm small enough to clip. Step 1 from one init: the
 * gradient blocks and clip norms are bit-identical (the untouched rows' gradients are zero
 * both ways), the dense tensors and the touched rows get the dense step's bits, and the
 * untouched item rows keep their init while the dense step moved them (L2 decay). Step 2 on
 * fewer rows: the sparse trainer's gradient equals a dense trainer's on a copy of the model,
 * bit for bit over the whole block, so the rows only step 1 touched were zeroed. */
TEST(sasrec_trainer_sparse_step_matches_dense_on_touched_rows) {
    pin_blas();
    for (int next = 0; next < 2; next++) {
        for (int P = 1; P <= 2; P++) {
            us_sasrec_config c = tiny_config(0.0f);
            c.head = next ? US_SASREC_NEXT : US_SASREC_RATING;
            c.weight_decay = 0.01f;
            c.clip_norm = 0.05f;
            us_sasrec *ms, *md, *mc;
            us_err err;
            CHECK_OK(us_sasrec_init(&ms, &c, &err), err);
            CHECK_OK(us_sasrec_init(&md, &c, &err), err);
            CHECK_OK(us_sasrec_init(&mc, &c, &err), err);
            REQUIRE(ms && md && mc);
            CHECK(ms->sparse_embeddings == 1); /* the default */
            md->sparse_embeddings = 0;
            mc->sparse_embeddings = 0;
            size_t np = ms->block.nparams, C = (size_t)c.d;
            float *init = malloc(np * sizeof(float));
            REQUIRE(init);
            memcpy(init, ms->mem, np * sizeof(float));
            sasrec_trainer *ts, *td, *tc;
            CHECK_OK(sasrec_trainer_init(&ts, ms, P, &err), err);
            CHECK_OK(sasrec_trainer_init(&td, md, P, &err), err);
            CHECK_OK(sasrec_trainer_init(&tc, mc, P, &err), err);
            REQUIRE(ts && td && tc);
            /* item rows the batch touches */
            int touched[21] = {0};
            for (int n = 0; n < GB * 4; n++) {
                if (g_hist[n] >= 0) touched[g_hist[n] + 1] = 1;
                if (next && g_pos[n] >= 0) touched[g_pos[n] + 1] = touched[g_neg[n] + 1] = 1;
            }
            for (int b = 0; b < GB && !next; b++) touched[g_items[b] + 1] = 1;
            double ls, ld;
            if (next) {
                ls = sasrec_trainer_next_grad(ts, g_hist, g_pos, g_neg, GB);
                ld = sasrec_trainer_next_grad(td, g_hist, g_pos, g_neg, GB);
            } else {
                ls = sasrec_trainer_rating_grad(ts, g_hist, g_users, g_items, g_labels, GB);
                ld = sasrec_trainer_rating_grad(td, g_hist, g_users, g_items, g_labels, GB);
            }
            CHECK(ls == ld);
            double ns = sasrec_trainer_step(ts), nd = sasrec_trainer_step(td);
            CHECK(ns == nd && ns > c.clip_norm);
            const float *gs = nn_block_section(&ms->block, ms->mem, NN_GRADS);
            const float *gd = nn_block_section(&md->block, md->mem, NN_GRADS);
            CHECK(memcmp(gs, gd, np * sizeof(float)) == 0);
            CHECK(ms->step == 1 && md->step == 1);
            int untouched = 0;
            for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
                size_t o = ms->block.offsets[i], n = ms->block.sizes[i];
                if (i == SASREC_T_ITEM_EMB) {
                    for (size_t r = 0; r < n / C; r++) {
                        const float *a = ms->mem + o + r * C, *b = md->mem + o + r * C;
                        if (touched[r]) {
                            CHECK(memcmp(a, b, C * sizeof(float)) == 0);
                        } else {
                            CHECK(memcmp(a, init + o + r * C, C * sizeof(float)) == 0);
                            if (r == 0) continue; /* padding: zero, never moved */
                            CHECK(memcmp(b, a, C * sizeof(float)) != 0);
                            untouched++;
                        }
                    }
                } else if (i == SASREC_T_USER_EMB && next) {
                    /* the next-item head touches no user row (its batch touches every item) */
                    CHECK(memcmp(ms->mem + o, init + o, n * sizeof(float)) == 0);
                    CHECK(memcmp(md->mem + o, ms->mem + o, n * sizeof(float)) != 0);
                    untouched++;
                } else {
                    /* dense tensors; the rating batch touches every user */
                    CHECK(memcmp(ms->mem + o, md->mem + o, n * sizeof(float)) == 0);
                }
            }
            CHECK(untouched > 0);
            /* step 2 on the first three rows only, against a dense trainer on a copy */
            memcpy(mc->mem, ms->mem, ms->block.total * sizeof(float));
            mc->step = ms->step;
            if (next) {
                sasrec_trainer_next_grad(ts, g_hist, g_pos, g_neg, 3);
                sasrec_trainer_next_grad(tc, g_hist, g_pos, g_neg, 3);
            } else {
                sasrec_trainer_rating_grad(ts, g_hist, g_users, g_items, g_labels, 3);
                sasrec_trainer_rating_grad(tc, g_hist, g_users, g_items, g_labels, 3);
            }
            const float *gc = nn_block_section(&mc->block, mc->mem, NN_GRADS);
            CHECK(memcmp(gs, gc, np * sizeof(float)) == 0);
            sasrec_trainer_free(ts);
            sasrec_trainer_free(td);
            sasrec_trainer_free(tc);
            free(init);
            us_sasrec_free(ms);
            us_sasrec_free(md);
            us_sasrec_free(mc);
        }
    }
}

/* Training with lazy embedding updates (the default) and with the dense step reaches the same
 * validation AUC on the small store within 0.02, both well above chance. */
TEST(sasrec_train_sparse_embeddings_same_auc) {
    pin_blas();
    const char *path = make_store(t_, "sparse", 300, 150, 6000, 11, 1);
    REQUIRE(path);
    us_sasrec_data *d;
    us_err err;
    CHECK_OK(us_sasrec_data_open(path, &d, &err), err);
    REQUIRE(d);
    double auc[2] = {0, 0};
    for (int sparse = 0; sparse < 2; sparse++) {
        us_sasrec_config c = us_sasrec_config_default();
        us_sasrec_config_fit(&c, d);
        c.max_epochs = 30;
        us_sasrec *m;
        CHECK_OK(us_sasrec_init(&m, &c, &err), err);
        REQUIRE(m);
        m->sparse_embeddings = sparse;
        us_sasrec_report rep;
        CHECK_OK(us_sasrec_train(m, d, &rep, NULL, &err), err);
        auc[sparse] = rep.valid.auc;
        printf("    %s embeddings: valid AUC %.4f, test AUC %.4f, best epoch %d of %d\n",
               sparse ? "sparse" : "dense", rep.valid.auc, rep.test.auc, rep.best_epoch,
               rep.epochs);
        us_sasrec_free(m);
    }
    CHECK(fabs(auc[1] - auc[0]) < 0.02);
    CHECK(auc[0] > 0.65 && auc[1] > 0.65);
    us_sasrec_data_close(d);
}

/* One training run with OpenBLAS (hence us_sasrec_train's shards) at `threads`; the report in
 * *rep. Returns the model or NULL. */
static us_sasrec *train_threads(us_test_ctx *t_, const us_sasrec_data *d, us_sasrec_head head,
                                int threads, int epochs, us_sasrec_report *rep) {
    us_sasrec_config c = us_sasrec_config_default();
    us_sasrec_config_fit(&c, d);
    c.head = head;
    c.seed = 5;
    c.max_epochs = epochs;
    c.patience = 0;
    c.batch_size = 64;
    c.max_len = head == US_SASREC_NEXT ? 8 : 2;
    us_sasrec *m;
    us_err err;
    us_status st = us_sasrec_init(&m, &c, &err);
    CHECK_OK(st, err);
    if (st != US_OK) return NULL;
    openblas_set_num_threads(threads);
    st = us_sasrec_train(m, d, rep, NULL, &err);
    pin_blas();
    CHECK_OK(st, err);
    if (st != US_OK) {
        us_sasrec_free(m);
        return NULL;
    }
    return m;
}

/* Two threads: the same bits twice (parameters and Adam moments, both heads), different bits
 * from one thread (other dropout masks and sums, so the shards did run), and the same model
 * quality as one thread: validation AUC within 0.02 (rating) and NDCG@10 within 0.03 (next,
 * 100 sampled negatives; its values are near 0.15) after a few epochs. */
TEST(sasrec_train_two_threads_same_bits) {
    pin_blas();
    const char *path = make_store(t_, "threads", 300, 150, 6000, 11, 1);
    REQUIRE(path);
    us_sasrec_data *d;
    us_err err;
    CHECK_OK(us_sasrec_data_open(path, &d, &err), err);
    REQUIRE(d);
    openblas_set_num_threads(2);
    int two = openblas_get_num_threads() == 2; /* OpenBLAS may cap the count */
    pin_blas();
    for (int head = 0; head < 2; head++) {
        int epochs = head ? 6 : 4;
        us_sasrec_report ra, rb, r1;
        us_sasrec *a = train_threads(t_, d, (us_sasrec_head)head, 2, epochs, &ra);
        us_sasrec *b = train_threads(t_, d, (us_sasrec_head)head, 2, epochs, &rb);
        us_sasrec *one = train_threads(t_, d, (us_sasrec_head)head, 1, epochs, &r1);
        REQUIRE(a && b && one);
        size_t bytes = a->block.total * sizeof(float);
        CHECK(memcmp(a->mem, b->mem, bytes) == 0);
        CHECK(ra.valid.auc == rb.valid.auc && ra.valid.ndcg10 == rb.valid.ndcg10);
        if (two) CHECK(memcmp(a->mem, one->mem, bytes) != 0);
        if (head == 0) {
            printf("    rating head, %d epochs: valid AUC %.4f (1 thread) vs %.4f (2 threads)\n",
                   epochs, r1.valid.auc, ra.valid.auc);
            CHECK(fabs(ra.valid.auc - r1.valid.auc) < 0.02);
            CHECK(r1.valid.auc > 0.6);
        } else {
            printf("    next head, %d epochs: valid NDCG@10 %.4f (1 thread) vs %.4f (2 threads)\n",
                   epochs, r1.valid.ndcg10, ra.valid.ndcg10);
            CHECK(fabs(ra.valid.ndcg10 - r1.valid.ndcg10) < 0.03);
            CHECK(r1.valid.ndcg10 > 0.08);
        }
        us_sasrec_free(a);
        us_sasrec_free(b);
        us_sasrec_free(one);
    }
    if (!two) printf("    OpenBLAS kept one thread: the 1-vs-2 difference check was skipped\n");
    us_sasrec_data_close(d);
}

/* ------------------------------------------------------------------------------------------
 * Checkpoints
 * ---------------------------------------------------------------------------------------- */

TEST(sasrec_checkpoint_roundtrip_and_errors) {
    pin_blas();
    const char *path = make_store(t_, "ck", 60, 40, 900, 4, 0);
    REQUIRE(path);
    us_sasrec_data *d;
    us_err err;
    CHECK_OK(us_sasrec_data_open(path, &d, &err), err);
    REQUIRE(d);
    us_sasrec *m = train_two_epochs(t_, d, US_SASREC_RATING, 5);
    REQUIRE(m);
    us_sasrec_metrics mt;
    CHECK_OK(us_sasrec_evaluate(m, d, 2, &mt, &err), err);
    int64_t v1 = 0, v2 = 0;
    CHECK_OK(us_sasrec_checkpoint_save(path, m, &mt, "test", &v1, &err), err);
    CHECK_OK(us_sasrec_checkpoint_save(path, m, NULL, "test", &v2, &err), err);
    CHECK(v1 == 1 && v2 == 2);
    /* the newest and an explicit version load back bit for bit, and score the same */
    us_sasrec *l = NULL;
    CHECK_OK(us_sasrec_checkpoint_load(path, 0, &m->cfg, &l, &err), err);
    REQUIRE(l);
    CHECK(memcmp(l->mem, m->mem, m->block.nparams * sizeof(float)) == 0);
    CHECK(config_equal(&l->cfg, &m->cfg));
    us_sasrec_metrics ml;
    CHECK_OK(us_sasrec_evaluate(l, d, 2, &ml, &err), err);
    CHECK(ml.auc == mt.auc && ml.logloss == mt.logloss);
    us_sasrec_free(l);
    CHECK_OK(us_sasrec_checkpoint_load(path, 1, NULL, &l, &err), err);
    us_sasrec_free(l);
    /* a missing version */
    CHECK_ERR(us_sasrec_checkpoint_load(path, 9, NULL, &l, &err), err, US_ENOTFOUND, "version 9");
    CHECK(l == NULL);
    /* an expected architecture that differs */
    us_sasrec_config other = m->cfg;
    other.d = 16;
    CHECK_ERR(us_sasrec_checkpoint_load(path, 0, &other, &l, &err), err, US_EINVAL,
              "d: checkpoint config does not match: expected 16, found 32");
    CHECK(l == NULL);
    /* a truncated blob */
    REQUIRE(us_test_sql_exec(path, "UPDATE sasrec_checkpoint SET params = substr(params, 1, "
                                   "100) WHERE version = 2") == 0);
    CHECK_ERR(us_sasrec_checkpoint_load(path, 2, NULL, &l, &err), err, US_EFORMAT,
              "a blob of 100 bytes");
    CHECK(l == NULL);
    /* a config edited without its hash */
    REQUIRE(us_test_sql_exec(path, "UPDATE sasrec_checkpoint SET config = replace(config, "
                                   "'\"d\":32', '\"d\":16') WHERE version = 1") == 0);
    CHECK_ERR(us_sasrec_checkpoint_load(path, 1, NULL, &l, &err), err, US_EFORMAT,
              "config_hash");
    /* a config that does not validate */
    REQUIRE(us_test_sql_exec(path, "UPDATE sasrec_checkpoint SET config = "
                                   "'{\"head\":\"rating\"}' WHERE version = 1") == 0);
    CHECK_ERR(us_sasrec_checkpoint_load(path, 1, NULL, &l, &err), err, US_EFORMAT,
              "expected a decimal string");
    /* a parameter that is not a number: refused when saving and when loading, by tensor */
    float keep = m->mem[3];
    m->mem[3] = NAN;
    CHECK_ERR(us_sasrec_checkpoint_save(path, m, NULL, "test", NULL, &err), err, US_EINVAL,
              us_sasrec_tensor_names[0]);
    CHECK(strstr(err.msg, "not finite") != NULL);
    m->mem[3] = keep;
    CHECK_EQ_INT(us_test_sql_int(path, "SELECT count(*) FROM sasrec_checkpoint"), 2);
    int64_t v3 = 0;
    CHECK_OK(us_sasrec_checkpoint_save(path, m, NULL, "test", &v3, &err), err);
    size_t last = m->block.offsets[US_SASREC_NTENSORS - 1];
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE sasrec_checkpoint SET params = substr(params, 1, %zu) || "
             "X'0000807F' || substr(params, %zu) WHERE version = %lld", last * 4, last * 4 + 5,
             (long long)v3); /* +Inf in the first float of the last tensor */
    REQUIRE(us_test_sql_exec(path, sql) == 0);
    CHECK_ERR(us_sasrec_checkpoint_load(path, v3, NULL, &l, &err), err, US_EFORMAT,
              us_sasrec_tensor_names[US_SASREC_NTENSORS - 1]);
    CHECK(strstr(err.msg, "not finite") != NULL);
    CHECK(l == NULL);
    /* a store without the table */
    const char *other_path = make_store(t_, "ck2", 60, 40, 900, 4, 0);
    REQUIRE(other_path);
    CHECK_ERR(us_sasrec_checkpoint_load(other_path, 0, NULL, &l, &err), err, US_ENOTFOUND,
              "no checkpoint table");
    us_sasrec_free(m);
    us_sasrec_data_close(d);
}

TEST(sasrec_config_json_roundtrip) {
    us_sasrec_config c = tiny_config(0.25f), r;
    c.seed = 18446744073709551615ull;
    c.lr = 0.0123f;
    char *s = us_sasrec_config_json(&c);
    REQUIRE(s);
    us_err err;
    CHECK_OK(us_sasrec_config_from_json(s, &r, &err), err);
    CHECK(config_equal(&c, &r));
    free(s);
    CHECK(us_sasrec_config_from_json("[1]", &r, &err) == US_EFORMAT);
}

/* ------------------------------------------------------------------------------------------
 * Next-item head
 * ---------------------------------------------------------------------------------------- */

/* The next-item head ranks the held-out item far above chance: with 100 sampled negatives a
 * random ranking has HR@10 = 10/101 ≈ 0.099 and NDCG@10 ≈ 0.045. */
TEST(sasrec_train_next_small_store) {
    pin_blas();
    const char *path = make_store(t_, "next", 300, 150, 6000, 11, 1);
    REQUIRE(path);
    us_sasrec_data *d;
    us_err err;
    CHECK_OK(us_sasrec_data_open(path, &d, &err), err);
    REQUIRE(d);
    us_sasrec_config c = us_sasrec_config_default();
    us_sasrec_config_fit(&c, d);
    c.head = US_SASREC_NEXT;
    c.max_len = 10;
    c.batch_size = 128;
    c.max_epochs = 20;
    us_sasrec *m;
    CHECK_OK(us_sasrec_init(&m, &c, &err), err);
    us_sasrec_report rep;
    CHECK_OK(us_sasrec_train(m, d, &rep, NULL, &err), err);
    printf("    sasrec next item: test HR@10 %.4f NDCG@10 %.4f (100 negatives), full catalogue "
           "HR@10 %.4f NDCG@10 %.4f, %d users ranked, best epoch %d of %d\n",
           rep.test.hr10, rep.test.ndcg10, rep.test.hr10_full, rep.test.ndcg10_full,
           (int)rep.test.n, rep.best_epoch, rep.epochs);
    CHECK(rep.test.n > 250);
    CHECK(rep.test.hr10 > 0.2);
    CHECK(rep.test.ndcg10 > 0.09);
    CHECK(rep.test.hr10_full > 10.0 / 150 * 2);
    CHECK(rep.test.hr10_full <= rep.test.hr10 + 0.1);
    /* evaluation is deterministic for the same weights */
    us_sasrec_metrics again;
    CHECK_OK(us_sasrec_evaluate(m, d, 2, &again, &err), err);
    CHECK(again.hr10 == rep.test.hr10 && again.ndcg10_full == rep.test.ndcg10_full);
    us_sasrec_free(m);
    us_sasrec_data_close(d);
}

/* ------------------------------------------------------------------------------------------
 * Serving
 * ---------------------------------------------------------------------------------------- */

/* Single, batch (chunked) and cached-user scores agree with the training forward (no
 * dropout), and the cache re-encodes exactly when the user or the last T items change. */
TEST(sasrec_serving_matches_forward) {
    pin_blas();
    us_sasrec_config c = tiny_config(0.3f);
    us_sasrec *m;
    us_err err;
    CHECK_OK(us_sasrec_init(&m, &c, &err), err);
    REQUIRE(m);
    us_rng r;
    us_rng_seed(&r, 5, 5);
    us_gradcheck_fill(m->params.out_w, 8, -2.0f, 2.0f, &r);
    us_gradcheck_fill(m->params.head_b, 8, -1.0f, 1.0f, &r);
    /* the reference: the training forward with training = 0 */
    us_sasrec_rating_forward(m, g_hist, g_users, g_items, NULL, GB, 0);
    float ref[GB], got[GB];
    memcpy(ref, us_sasrec_probs(m), sizeof ref);
    us_sasrec_state *st;
    CHECK_OK(us_sasrec_state_init(&st, m, 4, &err), err); /* 4 < GB: two chunks */
    REQUIRE(st);
    us_sasrec_score_batch(m, st, g_hist, g_users, g_items, GB, got);
    for (int b = 0; b < GB; b++) CHECK_NEAR(got[b], ref[b], 1e-6);
    /* one row at a time, from raw histories: a full window's history gets three older items
     * in front (only the last T count); a padded window's history is just its real items */
    for (int b = 0; b < GB; b++) {
        int32_t raw[7] = {14, 15, 16, 0, 0, 0, 0};
        int n = 3;
        for (int t = 0; t < 4; t++)
            if (g_hist[b * 4 + t] >= 0) raw[n++] = g_hist[b * 4 + t];
        const int32_t *h = n == 7 ? raw : raw + 3;
        int nh = n == 7 ? 7 : n - 3;
        CHECK_NEAR(us_sasrec_score(m, st, g_users[b], h, nh, g_items[b]), ref[b], 1e-6);
        /* the cached user: encoded once, then any number of candidates */
        CHECK(us_sasrec_user_encode(m, st, g_users[b], h, nh) == 1);
        CHECK(us_sasrec_user_encode(m, st, g_users[b], h, nh) == 0);
        float p;
        us_sasrec_user_score(m, st, &g_items[b], 1, &p);
        CHECK_NEAR(p, ref[b], 1e-5);
    }
    /* every candidate for one user against the single-row scorer */
    const int32_t hist[5] = {3, 9, 9, 1, 17};
    int32_t all[20];
    float many[20];
    for (int i = 0; i < 20; i++) all[i] = i;
    CHECK(us_sasrec_user_encode(m, st, 2, hist, 5) == 1);
    us_sasrec_user_score(m, st, all, 20, many);
    for (int i = 0; i < 20; i++) CHECK_NEAR(many[i], us_sasrec_score(m, st, 2, hist, 5, i), 1e-5);
    /* what invalidates the cache: the user, the last T items, an explicit invalidate */
    CHECK(us_sasrec_user_encode(m, st, 2, hist, 5) == 0);
    CHECK(us_sasrec_user_encode(m, st, 2, hist + 1, 4) == 0); /* same last 4 items */
    CHECK(us_sasrec_user_encode(m, st, 3, hist, 5) == 1);
    CHECK(us_sasrec_user_encode(m, st, 3, hist, 4) == 1);
    us_sasrec_state_invalidate(st);
    CHECK(us_sasrec_user_encode(m, st, 3, hist, 4) == 1);
    /* next-item scores: h_{T-1} of the training forward (training = 0) against every item row,
     * through the all-items path and through a subset; the cached user survives them */
    int32_t win[4], sub[3] = {19, 0, 7};
    for (int t = 0; t < 4; t++) win[t] = hist[1 + t];
    us_sasrec_rating_forward(m, win, g_users, g_items, NULL, 1, 0);
    float h3[8], next_all[20], next_sub[3];
    memcpy(h3, m->acts->hf + 3 * 8, sizeof h3);
    us_sasrec_next_score(m, st, hist, 5, NULL, 20, next_all);
    us_sasrec_next_score(m, st, hist, 5, sub, 3, next_sub);
    for (int i = 0; i < 20; i++) {
        double s = 0.0;
        for (int k = 0; k < 8; k++) s += (double)h3[k] * m->params.item_emb[(i + 1) * 8 + k];
        CHECK_NEAR(next_all[i], s, 1e-5);
    }
    for (int j = 0; j < 3; j++) CHECK_NEAR(next_sub[j], next_all[sub[j]], 1e-5);
    CHECK(us_sasrec_user_encode(m, st, 3, hist, 4) == 0);
    us_sasrec_state_free(st);
    us_sasrec_state_free(NULL);
    us_sasrec_free(m);
    us_sasrec_free(NULL);
}
