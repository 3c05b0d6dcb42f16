/* bench_sasrec — SASRec speed and quality on the synthetic data, with references measured in
 * the same run:
 *   1. training speed (examples/s) of the rating head (the "simulator" preset) and of the
 *      next-item head (the "paper" preset, T 50) over the same fixed batches, on 1 and on 2
 *      threads as us_sasrec_train runs them (data-parallel shards, sasrec_trainer, with
 *      OpenBLAS set to the same count), and the ratio to a PyTorch model of the same architecture
 *      (tests/bench/sasrec_torch_bench.py) trained on the same batches from the same initial
 *      weights with torch.set_num_threads(1 / 2). The ratio is skipped, with the reason, when
 *      no Python with torch is found (USERSIM_REF_PYTHON, else python3);
 *   2. serving latency: one rating score (user, history, candidate), a batch of 256 per row,
 *      a cached user's candidates per item, and the next-item head's scores of every item
 *      after one history; the PyTorch model's single-row and batch forward beside them;
 *   3. quality: the rating head trained as `usersim train-sasrec` does (early stopping on
 *      validation AUC), its test AUC against the generator's true like probabilities, item
 *      popularity, each user's training like rate, and a user-bias + item-bias logistic model;
 *      the next-item head's HR@10 / NDCG@10 (100 sampled negatives and the full catalogue).
 * Data: `usersim synth` (BENCH_USERS 2000, BENCH_ITEMS 1000, BENCH_REVIEWS 40000, BENCH_SEED 1,
 * BENCH_CATEGORIES 12, BENCH_ASPECTS 40, BENCH_DRIFT 0.05: the defaults) ingested into a
 * temporary store. Timed steps: BENCH_RATING_STEPS
 * (40 batches of 512) and BENCH_NEXT_STEPS (16 batches of 128, one epoch of windows).
 * BENCH_QUALITY=0 skips part 3; BENCH_NEXT_EPOCHS (40) caps the next-item head's epochs.
 * Part 4 (bench_scale): the rating head's epoch time at BENCH_SCALE_USERS users (100,000; 0
 * skips) against a tenth of them with the same interactions, 1 and 2 threads.
 *
 * The batches file handed to the PyTorch script (little-endian, written by write_batches):
 *   char magic[8] "USSASB1\0"; int32 head (0 rating, 1 next), V, U, C, NB, H, T, B, steps;
 *   float32 dropout, ln_eps, lr, beta1, beta2, adam_eps, weight_decay;
 *   int64 n_params, float32 params[n_params] (the C model's initial weights, in the block
 *   order of us_sasrec_tensor_names, each tensor row-major in sasrec.h's shapes);
 *   then `steps` batches: rating: int32 hist[B·T], users[B], items[B], float32 labels[B];
 *   next: int32 hist[B·T], pos[B·T], neg[B·T] (item ids, -1 = padding / no target). */
#include <cblas.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "core/core.h"
#include "datasets/datasets.h"
#include "simulator/sasrec/sasrec.h"
#include "simulator/sasrec/sasrec_internal.h"

#define TORCH_SCRIPT "tests/bench/sasrec_torch_bench.py"

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

static void die(const char *what, const us_err *e) {
    char b[1200];
    fprintf(stderr, "bench_sasrec: %s: %s\n", what, e ? us_err_str(e, b, sizeof b) : "");
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory", NULL);
    return p;
}

/* Removes the plain files of dir, then dir. */
static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[2048];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p) != 0) remove_dir(p);
    }
    closedir(d);
    rmdir(dir);
}

/* ------------------------------------------------------------------------------------------
 * Fixed training batches, shared by the C timing and the PyTorch script
 * ---------------------------------------------------------------------------------------- */

typedef struct {
    int head, B, T, steps;
    int32_t *hist, *users, *items, *pos, *neg; /* steps·B·T, steps·B, steps·B, steps·B·T ×2 */
    float *labels;                            /* steps·B */
} batches;

static void batches_free(batches *b) {
    free(b->hist);
    free(b->users);
    free(b->items);
    free(b->pos);
    free(b->neg);
    free(b->labels);
}

/* Rating head: the first steps·B training examples of a seeded shuffle, as training draws
 * them. Next-item head: one window per user (the last T train items, targets shifted by one,
 * a uniform negative the user never saw), users in a seeded order, as epoch_next builds them. */
static batches make_batches(const us_sasrec_data *d, int head, int B, int T, int steps) {
    batches b = {.head = head, .B = B, .T = T, .steps = steps};
    size_t nb = (size_t)steps * B;
    b.hist = xmalloc(nb * T * sizeof(int32_t));
    us_rng rng = us_rng_derive(42, (uint64_t)head);
    if (head == US_SASREC_RATING) {
        if (nb > d->n_ex[0]) die("fewer training examples than the timed steps need", NULL);
        uint64_t *order = xmalloc(d->n_ex[0] * sizeof *order);
        memcpy(order, d->ex[0], d->n_ex[0] * sizeof *order);
        us_rng_shuffle(&rng, order, d->n_ex[0], sizeof *order);
        b.users = xmalloc(nb * sizeof(int32_t));
        b.items = xmalloc(nb * sizeof(int32_t));
        b.labels = xmalloc(nb * sizeof(float));
        for (size_t k = 0; k < nb; k++) {
            uint64_t e = order[k];
            b.users[k] = d->ex_user[e];
            b.items[k] = d->item[e];
            b.labels[k] = (float)d->label[e];
            us_sasrec_window(d, b.users[k], e, T, b.hist + k * T);
        }
        free(order);
        return b;
    }
    b.pos = xmalloc(nb * T * sizeof(int32_t));
    b.neg = xmalloc(nb * T * sizeof(int32_t));
    int32_t *stamp = xmalloc((size_t)d->n_items * sizeof(int32_t));
    int32_t *uorder = xmalloc((size_t)d->n_users * sizeof(int32_t));
    for (int v = 0; v < d->n_items; v++) stamp[v] = -1;
    for (int32_t u = 0; u < d->n_users; u++) uorder[u] = u;
    us_rng_shuffle(&rng, uorder, (size_t)d->n_users, sizeof *uorder);
    size_t k = 0;
    for (int32_t pass = 0; k < nb; pass++) { /* wraps around the users if steps·B exceeds them */
        size_t before = k;
        for (int32_t i = 0; i < d->n_users && k < nb; i++) {
            int32_t u = uorder[i];
            uint64_t lo = d->user_off[u], hi = d->user_off[u + 1], end = lo;
            while (end < hi && d->split[end] == 0) end++;
            if (end - lo < 2 || hi - lo >= (uint64_t)d->n_items) continue;
            for (uint64_t j = lo; j < hi; j++) stamp[d->item[j]] = u + pass * d->n_users;
            us_sasrec_window(d, u, end - 1, T, b.hist + k * T);
            us_sasrec_window(d, u, end, T, b.pos + k * T);
            for (int t = 0; t < T; t++) {
                size_t q = k * T + t;
                if (b.hist[q] < 0) b.pos[q] = -1;
                int32_t j = -1;
                if (b.pos[q] >= 0) {
                    do j = (int32_t)us_rng_bounded(&rng, (uint32_t)d->n_items);
                    while (stamp[j] == u + pass * d->n_users);
                }
                b.neg[q] = j;
            }
            k++;
        }
        if (k == before) die("no user has two training interactions", NULL);
    }
    free(stamp);
    free(uorder);
    return b;
}

/* One optimizer step on batch s, as us_sasrec_train takes it; returns the loss. */
static double train_step(us_sasrec *m, sasrec_trainer *tr, const batches *b, int s) {
    size_t o = (size_t)s * b->B;
    double loss;
    if (b->head == US_SASREC_RATING)
        loss = sasrec_trainer_rating_grad(tr, b->hist + o * b->T, b->users + o, b->items + o,
                                          b->labels + o, b->B);
    else
        loss = sasrec_trainer_next_grad(tr, b->hist + o * b->T, b->pos + o * b->T,
                                        b->neg + o * b->T, b->B);
    us_sasrec_adam_step(m);
    return loss;
}

/* The parameters back to init, zero Adam moments, step 0, the dropout generator reseeded. */
static void reset_model(us_sasrec *m, const float *init) {
    size_t np = m->block.nparams;
    memcpy(m->mem, init, np * sizeof(float));
    memset(nn_block_section(&m->block, m->mem, NN_ADAM_M), 0, np * sizeof(float));
    memset(nn_block_section(&m->block, m->mem, NN_ADAM_V), 0, np * sizeof(float));
    m->step = 0;
    m->rng = us_rng_derive(m->cfg.seed, 1);
}

/* Seconds for all the batches on `threads` threads (OpenBLAS set to the same count, the
 * trainer's pool made once beforehand, as us_sasrec_train does per call) after a warm-up of 2
 * steps (then reset); *mean_loss receives the mean loss of the last quarter of the steps. */
static double time_training(us_sasrec *m, const float *init, const batches *b, int threads,
                            double *mean_loss) {
    us_err err;
    sasrec_trainer *tr;
    openblas_set_num_threads(threads);
    if (sasrec_trainer_init(&tr, m, threads, &err) != US_OK) die("trainer", &err);
    reset_model(m, init);
    for (int s = 0; s < 2 && s < b->steps; s++) train_step(m, tr, b, s);
    reset_model(m, init);
    double t0 = us_now(), tail = 0.0;
    int q = b->steps - (b->steps + 3) / 4; /* the last quarter, at least one step */
    for (int s = 0; s < b->steps; s++) {
        double l = train_step(m, tr, b, s);
        if (s >= q) tail += l;
    }
    double dt = us_now() - t0;
    sasrec_trainer_free(tr);
    *mean_loss = tail / (double)(b->steps - q);
    return dt;
}

static void put(FILE *f, const void *p, size_t size, size_t n) {
    if (fwrite(p, size, n, f) != n) die("writing the batches file", NULL);
}

static void write_batches(const char *path, const us_sasrec *m, const float *init,
                          const batches *b) {
    FILE *f = fopen(path, "wb");
    if (!f) die(path, NULL);
    const us_sasrec_config *c = &m->cfg;
    put(f, "USSASB1", 1, 8);
    int32_t hdr[9] = {b->head, c->n_items, c->n_users, c->d,    c->n_blocks,
                      c->n_heads, c->max_len, b->B,   b->steps};
    float hp[7] = {c->dropout, c->ln_eps, c->lr, c->beta1, c->beta2, c->adam_eps,
                   c->weight_decay};
    int64_t np = (int64_t)m->block.nparams;
    put(f, hdr, sizeof(int32_t), 9);
    put(f, hp, sizeof(float), 7);
    put(f, &np, sizeof np, 1);
    put(f, init, sizeof(float), (size_t)np);
    size_t BT = (size_t)b->B * b->T;
    for (int s = 0; s < b->steps; s++) {
        size_t o = (size_t)s * b->B;
        put(f, b->hist + o * b->T, sizeof(int32_t), BT);
        if (b->head == US_SASREC_RATING) {
            put(f, b->users + o, sizeof(int32_t), (size_t)b->B);
            put(f, b->items + o, sizeof(int32_t), (size_t)b->B);
            put(f, b->labels + o, sizeof(float), (size_t)b->B);
        } else {
            put(f, b->pos + o * b->T, sizeof(int32_t), BT);
            put(f, b->neg + o * b->T, sizeof(int32_t), BT);
        }
    }
    if (fclose(f) != 0) die(path, NULL);
}

/* The PyTorch side's figures for one head, from its output lines. */
typedef struct {
    int ok;
    const char *py; /* the interpreter that was run */
    char why[1100];
    double train_s[3];              /* by thread count 1, 2 */
    double loss[3];
    double single_us[3], batch_us[3]; /* forward latency: one row; per row of a batch of 256 */
} torch_figs;

/* Runs the PyTorch script on the batches file for 1 and 2 threads. */
static torch_figs run_torch(const char *batches_path) {
    torch_figs t = {0};
    const char *py = getenv("USERSIM_REF_PYTHON");
    if (!py || !*py) py = "python3";
    t.py = py;
    if (access(TORCH_SCRIPT, R_OK) != 0) {
        snprintf(t.why, sizeof t.why, "%s not found (run from the repository root)",
                 TORCH_SCRIPT);
        return t;
    }
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' 1,2 2>&1", py, TORCH_SCRIPT, batches_path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(t.why, sizeof t.why, "cannot run %s", py);
        return t;
    }
    char line[1024];
    int got = 0;
    while (fgets(line, sizeof line, p)) {
        int th;
        double a, b;
        if (sscanf(line, "torch train threads %d seconds %lf loss %lf", &th, &a, &b) == 3 &&
            th >= 1 && th <= 2) {
            t.train_s[th] = a;
            t.loss[th] = b;
            got++;
        } else if (sscanf(line, "torch infer threads %d single_us %lf batch_us %lf", &th, &a,
                          &b) == 3 &&
                   th >= 1 && th <= 2) {
            t.single_us[th] = a;
            t.batch_us[th] = b;
        } else if (strncmp(line, "torch skip ", 11) == 0) {
            snprintf(t.why, sizeof t.why, "%s", line + 11);
            t.why[strcspn(t.why, "\n")] = '\0';
        } else if (!t.why[0]) {
            snprintf(t.why, sizeof t.why, "%s", line); /* first unexpected line: the error */
            t.why[strcspn(t.why, "\n")] = '\0';
        }
    }
    int rc = pclose(p);
    t.ok = got == 2 && rc == 0;
    if (!t.ok && !t.why[0])
        snprintf(t.why, sizeof t.why, "%s exited with status %d", py, rc);
    return t;
}

/* Training speed of one head: C at 1 and 2 threads, then PyTorch on the same batches. */
static void bench_training(const char *tmp, const us_sasrec_data *d, const char *label,
                           const us_sasrec_config *cfg, int steps) {
    us_sasrec *m;
    us_err err;
    if (us_sasrec_init(&m, cfg, &err) != US_OK) die("init", &err);
    float *init = xmalloc(m->block.nparams * sizeof(float));
    memcpy(init, m->mem, m->block.nparams * sizeof(float));
    batches b = make_batches(d, cfg->head, cfg->batch_size, cfg->max_len, steps);
    double ex = (double)steps * cfg->batch_size;
    double c_s[3], c_loss[3];
    for (int th = 1; th <= 2; th++) c_s[th] = time_training(m, init, &b, th, &c_loss[th]);
    openblas_set_num_threads(1);
    char path[1100];
    snprintf(path, sizeof path, "%s/batches-%s.bin", tmp, label);
    write_batches(path, m, init, &b);
    torch_figs t = run_torch(path);
    printf("training %s (d %d, %d blocks, T %d, batch %d, dropout %.2g, lr %g; %d steps, %.0f "
           "%s):\n",
           label, cfg->d, cfg->n_blocks, cfg->max_len, cfg->batch_size, cfg->dropout, cfg->lr,
           steps, ex, cfg->head == US_SASREC_RATING ? "examples" : "windows");
    for (int th = 1; th <= 2; th++) {
        printf("  %d thread%s: C %9.0f examples/s (%.3f s, %.2f ms/step, mean loss of the last "
               "quarter %.4f)",
               th, th > 1 ? "s" : " ", ex / c_s[th], c_s[th], 1e3 * c_s[th] / steps, c_loss[th]);
        if (t.ok)
            printf("; PyTorch %9.0f examples/s (%.3f s, loss %.4f); C/PyTorch speed %.2fx\n",
                   ex / t.train_s[th], t.train_s[th], t.loss[th], t.train_s[th] / c_s[th]);
        else
            printf("\n");
    }
    if (!t.ok) printf("  PyTorch ratio skipped (python: %s): %s\n", t.py, t.why);
    batches_free(&b);
    free(init);
    us_sasrec_free(m);
    if (t.ok && cfg->head == US_SASREC_RATING)
        printf("  PyTorch forward (no grad): %.1f us for one score, %.2f us per row of a 256 "
               "batch (1 thread); %.1f / %.2f us (2 threads)\n",
               t.single_us[1], t.batch_us[1], t.single_us[2], t.batch_us[2]);
    else if (t.ok)
        printf("  PyTorch forward (no grad): %.1f us to score every item after one history, "
               "%.2f us per history of a batch of %d (1 thread); %.1f / %.2f us (2 threads)\n",
               t.single_us[1], t.batch_us[1], cfg->batch_size < 256 ? cfg->batch_size : 256,
               t.single_us[2], t.batch_us[2]);
}

/* ------------------------------------------------------------------------------------------
 * Serving latency
 * ---------------------------------------------------------------------------------------- */

static void bench_serving(const us_sasrec_data *d, const us_sasrec_config *rcfg,
                          const us_sasrec_config *ncfg) {
    us_err err;
    us_sasrec *m;
    us_sasrec_state *st;
    int V = d->n_items, U = d->n_users;
    float *out = xmalloc((size_t)V * sizeof(float));
    int32_t *all = xmalloc((size_t)V * sizeof(int32_t));
    for (int i = 0; i < V; i++) all[i] = i;
    for (int th = 1; th <= 2; th++) {
        openblas_set_num_threads(th);
        /* rating head (its weights do not change the cost) */
        if (us_sasrec_init(&m, rcfg, &err) != US_OK) die("init", &err);
        if (us_sasrec_state_init(&st, m, 256, &err) != US_OK) die("state", &err);
        int T = rcfg->max_len;
        double sink = 0.0, t0 = us_now();
        long n1 = 0;
        for (int rep = 0; rep < 5; rep++)
            for (int32_t u = 0; u < U; u++, n1++) {
                const int32_t *h = d->item + d->user_off[u];
                int nh = (int)(d->user_off[u + 1] - d->user_off[u]);
                sink += us_sasrec_score(m, st, u, h, nh, (u * 7 + rep) % V);
            }
        double t1 = us_now();
        int32_t *bh = xmalloc(256 * (size_t)T * sizeof(int32_t)), bu[256], bi[256];
        long nb = 0;
        for (int rep = 0; rep < 5; rep++)
            for (int32_t u = 0; u + 256 <= U; u += 256, nb += 256) {
                for (int b = 0; b < 256; b++) {
                    us_sasrec_window(d, u + b, d->user_off[u + b + 1], T, bh + (size_t)b * T);
                    bu[b] = u + b;
                    bi[b] = (b * 13 + rep) % V;
                }
                us_sasrec_score_batch(m, st, bh, bu, bi, 256, out);
                sink += out[0];
            }
        double t2 = us_now();
        for (int32_t u = 0; u < U; u++) {
            us_sasrec_user_encode(m, st, u, d->item + d->user_off[u],
                                  (int)(d->user_off[u + 1] - d->user_off[u]));
            us_sasrec_user_score(m, st, all, V, out);
            sink += out[0];
        }
        double t3 = us_now();
        printf("serving, %d thread%s: rating head (T %d): %.2f us per single score, %.3f us "
               "per row of a 256 batch, %.4f us per candidate of a cached user (%d items; "
               "checksum %.3f)\n",
               th, th > 1 ? "s" : "", T, 1e6 * (t1 - t0) / n1, 1e6 * (t2 - t1) / nb,
               1e6 * (t3 - t2) / ((double)U * V), V, sink);
        free(bh);
        us_sasrec_state_free(st);
        us_sasrec_free(m);
        /* next-item head: every item ranked after one history */
        if (us_sasrec_init(&m, ncfg, &err) != US_OK) die("init", &err);
        if (us_sasrec_state_init(&st, m, 1, &err) != US_OK) die("state", &err);
        sink = 0.0;
        t0 = us_now();
        for (int32_t u = 0; u < U; u++) {
            us_sasrec_next_score(m, st, d->item + d->user_off[u],
                                 (int)(d->user_off[u + 1] - d->user_off[u]), NULL, V, out);
            sink += out[u % V];
        }
        t1 = us_now();
        printf("serving, %d thread%s: next-item head (T %d): %.1f us to score all %d items "
               "after one history (%.4f us per item; checksum %.3f)\n",
               th, th > 1 ? "s" : "", ncfg->max_len, 1e6 * (t1 - t0) / U, V,
               1e6 * (t1 - t0) / ((double)U * V), sink);
        us_sasrec_state_free(st);
        us_sasrec_free(m);
    }
    openblas_set_num_threads(1);
    free(out);
    free(all);
}

/* ------------------------------------------------------------------------------------------
 * Quality references
 * ---------------------------------------------------------------------------------------- */

/* AUC of score[e] over the labeled interactions of split s. */
static double split_auc(const us_sasrec_data *d, int s, const float *score_of_inter) {
    size_t n = d->n_ex[s];
    float *sc = xmalloc(n * sizeof(float));
    int8_t *y = xmalloc(n);
    uint32_t *scratch = xmalloc(n * sizeof(uint32_t));
    for (size_t k = 0; k < n; k++) {
        uint64_t e = d->ex[s][k];
        sc[k] = score_of_inter[e];
        y[k] = d->label[e];
    }
    double auc = us_sasrec_auc(sc, y, n, scratch);
    free(sc);
    free(y);
    free(scratch);
    return auc;
}

/* Like rates on the training split, (likes + 1)/(labeled + 2), per item and per user, as a
 * score for every interaction. */
static void like_rates(const us_sasrec_data *d, float *by_item, float *by_user) {
    double *li = calloc((size_t)d->n_items, sizeof(double)), *ni = calloc((size_t)d->n_items, 8);
    double *lu = calloc((size_t)d->n_users, sizeof(double)), *nu = calloc((size_t)d->n_users, 8);
    if (!li || !ni || !lu || !nu) die("out of memory", NULL);
    for (size_t k = 0; k < d->n_ex[0]; k++) {
        uint64_t e = d->ex[0][k];
        li[d->item[e]] += d->label[e], ni[d->item[e]] += 1.0;
        lu[d->ex_user[e]] += d->label[e], nu[d->ex_user[e]] += 1.0;
    }
    for (uint64_t e = 0; e < d->n_inter; e++) {
        by_item[e] = (float)((li[d->item[e]] + 1.0) / (ni[d->item[e]] + 2.0));
        by_user[e] = (float)((lu[d->ex_user[e]] + 1.0) / (nu[d->ex_user[e]] + 2.0));
    }
    free(li);
    free(ni);
    free(lu);
    free(nu);
}

/* logit = g + b_u + b_i fitted on the training split by full-batch Adam on mean BCE +
 * lambda·(Σ b_u² + Σ b_i²)/n, lambda chosen by validation AUC; scores every interaction with
 * the chosen fit. Returns the chosen lambda. */
static double bias_model(const us_sasrec_data *d, float *score) {
    static const double lambdas[] = {0.3, 1.0, 3.0, 10.0};
    int U = d->n_users;
    size_t P = 1 + (size_t)U + (size_t)d->n_items, n = d->n_ex[0];
    double *w = xmalloc(P * sizeof(double)), *g = xmalloc(P * sizeof(double));
    double *mo = xmalloc(P * sizeof(double)), *ve = xmalloc(P * sizeof(double));
    float *cand = xmalloc(d->n_inter * sizeof(float));
    double best_auc = -1.0, best_lambda = 0.0;
    for (size_t li = 0; li < sizeof lambdas / sizeof lambdas[0]; li++) {
        double lambda = lambdas[li];
        memset(w, 0, P * sizeof(double));
        memset(mo, 0, P * sizeof(double));
        memset(ve, 0, P * sizeof(double));
        for (int it = 1; it <= 400; it++) {
            memset(g, 0, P * sizeof(double));
            for (size_t k = 0; k < n; k++) {
                uint64_t e = d->ex[0][k];
                size_t iu = 1 + (size_t)d->ex_user[e], ii = 1 + (size_t)U + (size_t)d->item[e];
                double z = w[0] + w[iu] + w[ii], p = 1.0 / (1.0 + exp(-z));
                double r = (p - d->label[e]) / (double)n; /* ∂ mean BCE / ∂z */
                g[0] += r, g[iu] += r, g[ii] += r;
            }
            for (size_t j = 1; j < P; j++) g[j] += 2.0 * lambda * w[j] / (double)n;
            double bc1 = 1.0 - pow(0.9, it), bc2 = 1.0 - pow(0.999, it);
            for (size_t j = 0; j < P; j++) {
                mo[j] = 0.9 * mo[j] + 0.1 * g[j];
                ve[j] = 0.999 * ve[j] + 0.001 * g[j] * g[j];
                w[j] -= 0.05 * (mo[j] / bc1) / (sqrt(ve[j] / bc2) + 1e-8);
            }
        }
        for (uint64_t e = 0; e < d->n_inter; e++)
            cand[e] = (float)(w[0] + w[1 + d->ex_user[e]] + w[1 + U + d->item[e]]);
        double auc = split_auc(d, 1, cand);
        if (auc > best_auc) {
            best_auc = auc;
            best_lambda = lambda;
            memcpy(score, cand, d->n_inter * sizeof(float));
        }
    }
    free(w);
    free(g);
    free(mo);
    free(ve);
    free(cand);
    return best_lambda;
}

/* The generator's true p_like of every interaction of the store, joined by raw ids from
 * truth.csv (user,item,p_like,rating,label) into truth[e] (interactions in (user, pos) order,
 * as us_sasrec_data_open reads them). Adds a table `truth` to the (temporary) store. Returns 0
 * when every interaction found its truth. */
static int load_truth(const char *store, const char *truth_csv, const us_sasrec_data *d,
                      float *truth) {
    sqlite3 *db;
    sqlite3_stmt *ins = NULL, *q = NULL;
    FILE *f = fopen(truth_csv, "r");
    if (!f) return -1;
    if (sqlite3_open(store, &db) != SQLITE_OK) {
        fclose(f);
        sqlite3_close(db);
        return -1;
    }
    sqlite3_exec(db, "CREATE TABLE truth(u TEXT, i TEXT, p REAL); BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO truth VALUES(?,?,?)", -1, &ins, NULL);
    char line[512];
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        char *u = line, *c1 = strchr(u, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (first || !c1 || !c2) {
            first = 0;
            continue;
        }
        *c1 = *c2 = '\0';
        sqlite3_bind_text(ins, 1, u, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, c1 + 1, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(ins, 3, strtod(c2 + 1, NULL));
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    fclose(f);
    sqlite3_exec(db, "COMMIT; CREATE INDEX truth_ui ON truth(u, i)", NULL, NULL, NULL);
    sqlite3_prepare_v2(db,
                       "SELECT t.p FROM interactions x JOIN users u ON u.id = x.user "
                       "JOIN items i ON i.id = x.item JOIN truth t ON t.u = u.raw_id AND "
                       "t.i = i.raw_id ORDER BY x.user, x.pos",
                       -1, &q, NULL);
    uint64_t n = 0;
    while (q && sqlite3_step(q) == SQLITE_ROW) {
        if (n < d->n_inter) truth[n] = (float)sqlite3_column_double(q, 0);
        n++;
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n == d->n_inter ? 0 : -1;
}

static void bench_quality(const char *store, const char *truth_csv, const us_sasrec_data *d) {
    us_err err;
    openblas_set_num_threads(1);
    float *truth = xmalloc(d->n_inter * sizeof(float));
    float *by_item = xmalloc(d->n_inter * sizeof(float));
    float *by_user = xmalloc(d->n_inter * sizeof(float));
    float *bias = xmalloc(d->n_inter * sizeof(float));
    float *oracle_user = xmalloc(d->n_inter * sizeof(float));
    float *oracle_item = xmalloc(d->n_inter * sizeof(float));
    int have_truth = load_truth(store, truth_csv, d, truth) == 0;
    like_rates(d, by_item, by_user);
    double lambda = bias_model(d, bias);
    /* diagnostics, not models: each user's and each item's mean true p_like, i.e. how much
     * of the truth's AUC is a per-user level or a per-item level rather than the pair */
    if (have_truth) {
        for (int32_t u = 0; u < d->n_users; u++) {
            double s = 0.0;
            uint64_t lo = d->user_off[u], hi = d->user_off[u + 1];
            for (uint64_t e = lo; e < hi; e++) s += truth[e];
            for (uint64_t e = lo; e < hi; e++) oracle_user[e] = (float)(s / (double)(hi - lo));
        }
        double *si = calloc((size_t)d->n_items, sizeof(double));
        double *ni = calloc((size_t)d->n_items, sizeof(double));
        if (!si || !ni) die("out of memory", NULL);
        for (uint64_t e = 0; e < d->n_inter; e++) si[d->item[e]] += truth[e], ni[d->item[e]] += 1;
        for (uint64_t e = 0; e < d->n_inter; e++)
            oracle_item[e] = (float)(si[d->item[e]] / ni[d->item[e]]);
        free(si);
        free(ni);
    }
    us_sasrec_config c = us_sasrec_config_default();
    us_sasrec_config_fit(&c, d);
    us_sasrec *m;
    if (us_sasrec_init(&m, &c, &err) != US_OK) die("init", &err);
    us_sasrec_report rep;
    if (us_sasrec_train(m, d, &rep, NULL, &err) != US_OK) die("train", &err);
    double likes = 0.0;
    for (size_t k = 0; k < d->n_ex[0]; k++) likes += d->label[d->ex[0][k]];
    printf("quality, rating head (simulator preset, 1 thread; %llu train / %llu valid / %llu "
           "test labeled; train like rate %.3f):\n",
           (unsigned long long)d->n_ex[0], (unsigned long long)d->n_ex[1],
           (unsigned long long)d->n_ex[2], likes / (double)d->n_ex[0]);
    printf("  test AUC: SASRec %.4f (log loss %.4f, accuracy %.4f; valid AUC %.4f; best epoch %d "
           "of %d, %.1f s, %.0f examples/s)\n",
           rep.test.auc, rep.test.logloss, rep.test.accuracy, rep.valid.auc, rep.best_epoch,
           rep.epochs, rep.seconds, rep.examples_per_s);
    if (have_truth)
        printf("  test AUC: generator's true p_like %.4f (its per-user mean alone %.4f, its "
               "per-item mean alone %.4f)\n",
               split_auc(d, 2, truth), split_auc(d, 2, oracle_user), split_auc(d, 2, oracle_item));
    else
        printf("  test AUC: generator's truth unavailable (truth.csv did not join)\n");
    printf("  test AUC: item popularity (like rate) %.4f, user like rate %.4f, user + item bias "
           "logistic (lambda %g) %.4f\n",
           split_auc(d, 2, by_item), split_auc(d, 2, by_user), lambda, split_auc(d, 2, bias));
    us_sasrec_free(m);
    m = NULL;
    /* the next-item head with the paper's preset (BENCH_NEXT_EPOCHS=0 skips it) */
    if (us_sasrec_config_preset("paper", "synthetic", &c, &err) != US_OK) die("preset", &err);
    us_sasrec_config_fit(&c, d);
    c.max_epochs = env_int("BENCH_NEXT_EPOCHS", 40); /* the preset's 200, capped for time */
    if (c.max_epochs < 1) goto done;
    if (us_sasrec_init(&m, &c, &err) != US_OK) die("init", &err);
    if (us_sasrec_train(m, d, &rep, NULL, &err) != US_OK) die("train", &err);
    printf("quality, next-item head (paper preset, T %d): test HR@10 %.4f NDCG@10 %.4f (100 "
           "sampled negatives), full catalogue HR@10 %.4f NDCG@10 %.4f; %llu users; best epoch "
           "%d of %d, %.1f s\n",
           c.max_len, rep.test.hr10, rep.test.ndcg10, rep.test.hr10_full, rep.test.ndcg10_full,
           (unsigned long long)rep.test.n, rep.best_epoch, rep.epochs, rep.seconds);
done:
    us_sasrec_free(m);
    free(truth);
    free(by_item);
    free(by_user);
    free(bias);
    free(oracle_user);
    free(oracle_item);
}

/* Part 4: the rating head's epoch time as the population grows at a fixed number of
 * interactions: BENCH_SCALE_USERS users (default 100,000; 0 skips) and a tenth of them, each
 * with 5·BENCH_SCALE_USERS reviews of BENCH_SCALE_ITEMS items (5,000), one epoch (simulator
 * preset) on 1 thread, and on 2 at the full size. The reference is the smaller population: the
 * same examples per epoch, so with lazy embedding updates the ratio should stay near 1 (the
 * issue's target: within 2x). */
static double scale_epoch(const char *tmp, uint32_t users, uint32_t items, uint64_t reviews,
                          int threads, size_t *examples) {
    char data_dir[1200], store[1200];
    snprintf(data_dir, sizeof data_dir, "%s/scale-%u", tmp, users);
    snprintf(store, sizeof store, "%s/scale-%u.usdb", tmp, users);
    us_err err;
    us_sasrec_data *d = NULL;
    if (us_sasrec_data_open(store, &d, &err) != US_OK) {
        us_synth_config sc = us_synth_config_default();
        sc.out_dir = data_dir;
        sc.users = users;
        sc.items = items;
        sc.reviews = reviews;
        sc.quiet = 1;
        us_synth_report sr;
        if (us_synth(&sc, &sr, &err) != US_OK) die("synth (scale)", &err);
        us_ingest_config ic = us_ingest_config_default();
        ic.format = US_FORMAT_AMAZON;
        ic.reviews_path = sr.reviews_path;
        ic.meta_path = sr.meta_path;
        ic.out_path = store;
        ic.quiet = 1;
        if (us_ingest(&ic, NULL, &err) != US_OK) die("ingest (scale)", &err);
        remove_dir(data_dir);
        if (us_sasrec_data_open(store, &d, &err) != US_OK) die("load (scale)", &err);
    }
    us_sasrec_config c = us_sasrec_config_default();
    us_sasrec_config_fit(&c, d);
    c.max_epochs = 1;
    us_sasrec *m = NULL;
    if (us_sasrec_init(&m, &c, &err) != US_OK) die("init (scale)", &err);
    openblas_set_num_threads(threads);
    us_sasrec_report rep;
    if (us_sasrec_train(m, d, &rep, NULL, &err) != US_OK) die("train (scale)", &err);
    openblas_set_num_threads(1);
    *examples = d->n_ex[0];
    us_sasrec_free(m);
    us_sasrec_data_close(d);
    return rep.seconds;
}

static void bench_scale(const char *tmp) {
    int users = env_int("BENCH_SCALE_USERS", 100000);
    if (users < 10) return;
    uint32_t items = (uint32_t)env_int("BENCH_SCALE_ITEMS", 5000);
    uint64_t reviews = (uint64_t)users * 5;
    size_t ex_small, ex_big, ex2;
    double small = scale_epoch(tmp, (uint32_t)users / 10, items, reviews, 1, &ex_small);
    double big = scale_epoch(tmp, (uint32_t)users, items, reviews, 1, &ex_big);
    double big2 = scale_epoch(tmp, (uint32_t)users, items, reviews, 2, &ex2);
    printf("scale, rating head, one epoch, %llu reviews of %u items: %d users %.1f s (%zu "
           "examples, %.0f/s), %d users %.1f s (%zu examples, %.0f/s): %.2fx the smaller "
           "population's time (target: at most 2x); on 2 threads %.1f s (%.0f examples/s, "
           "%.2fx one thread's speed)\n",
           (unsigned long long)reviews, items, users / 10, small, ex_small, ex_small / small,
           users, big, ex_big, ex_big / big, big / small, big2, ex2 / big2, big / big2);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line at a time, also into a log */
    const char *tdir = getenv("TMPDIR");
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s/usersim-bench-sasrec-XXXXXX", tdir && *tdir ? tdir : "/tmp");
    if (!mkdtemp(tmp)) die("mkdtemp", NULL);
    char data_dir[1100], store[1100];
    snprintf(data_dir, sizeof data_dir, "%s/data", tmp);
    snprintf(store, sizeof store, "%s/synth.usdb", tmp);
    us_synth_config sc = us_synth_config_default();
    sc.out_dir = data_dir;
    sc.users = (uint32_t)env_int("BENCH_USERS", (int)sc.users);
    sc.items = (uint32_t)env_int("BENCH_ITEMS", (int)sc.items);
    sc.reviews = (uint64_t)env_int("BENCH_REVIEWS", (int)sc.reviews);
    sc.seed = (uint64_t)env_int("BENCH_SEED", (int)sc.seed);
    sc.categories = (uint32_t)env_int("BENCH_CATEGORIES", (int)sc.categories);
    sc.aspects = (uint32_t)env_int("BENCH_ASPECTS", (int)sc.aspects);
    if (getenv("BENCH_DRIFT") && *getenv("BENCH_DRIFT")) sc.drift = atof(getenv("BENCH_DRIFT"));
    sc.quiet = 1;
    us_synth_report sr;
    us_err err;
    if (us_synth(&sc, &sr, &err) != US_OK) die("synth", &err);
    us_ingest_config ic = us_ingest_config_default();
    ic.format = US_FORMAT_AMAZON;
    ic.reviews_path = sr.reviews_path;
    ic.meta_path = sr.meta_path;
    ic.out_path = store;
    ic.quiet = 1;
    if (us_ingest(&ic, NULL, &err) != US_OK) die("ingest", &err);
    us_sasrec_data *d;
    if (us_sasrec_data_open(store, &d, &err) != US_OK) die("load", &err);
    printf("bench_sasrec: synthetic data (seed %llu, %u categories, %u aspects, drift %g), %d "
           "users, %d items, %llu interactions\n",
           (unsigned long long)sc.seed, sc.categories, sc.aspects, sc.drift, d->n_users,
           d->n_items, (unsigned long long)d->n_inter);

    us_sasrec_config rcfg = us_sasrec_config_default(), ncfg;
    us_sasrec_config_fit(&rcfg, d);
    if (us_sasrec_config_preset("paper", "synthetic", &ncfg, &err) != US_OK) die("preset", &err);
    us_sasrec_config_fit(&ncfg, d);
    int rsteps = env_int("BENCH_RATING_STEPS", 40), nsteps = env_int("BENCH_NEXT_STEPS", 16);
    if ((size_t)rsteps * rcfg.batch_size > d->n_ex[0])
        rsteps = (int)(d->n_ex[0] / (size_t)rcfg.batch_size);
    if (rsteps >= 1) bench_training(tmp, d, "rating", &rcfg, rsteps);
    if (nsteps >= 1) bench_training(tmp, d, "next", &ncfg, nsteps);
    bench_serving(d, &rcfg, &ncfg);
    if (env_int("BENCH_QUALITY", 1)) bench_quality(store, sr.truth_path, d);
    us_sasrec_data_close(d);
    bench_scale(tmp);
    remove_dir(data_dir);
    remove_dir(tmp);
    return 0;
}
