/* test_sasrec_reference.c — SASRec (simulator/sasrec/sasrec.h) against a PyTorch model of the
 * same architecture: tests/fixtures/sasrec/sasrec_reference.txt, written by
 * make_sasrec_fixture.py beside it (its header says how, and the file's header which versions).
 * The C model loads the same initial weights; for each head the final hidden states, logits
 * (and probabilities), the loss, every parameter gradient and the parameters after one Adam
 * step must agree to 1e-5 (max abs). The measured maxima are printed. The fixture's step uses
 * a large L2 weight decay, and the test shows that a decoupled (AdamW) step would not match, so
 * the check can tell the two apart.
 *
 * OpenBLAS is pinned to one thread. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/nn.h"
#include "simulator/sasrec/sasrec.h"
#include "simulator/sasrec/sasrec_internal.h"
#include "tests/test.h"

#define FIXTURE "tests/fixtures/sasrec/sasrec_reference.txt"
#define TOL 1e-5

/* One record "name count v_1 ... v_count". */
typedef struct {
    char name[64];
    size_t n;
    double *v;
} fx_rec;

typedef struct {
    fx_rec *r;
    size_t n, cap;
} fixture;

static void fixture_free(fixture *f) {
    for (size_t i = 0; i < f->n; i++) free(f->r[i].v);
    free(f->r);
    memset(f, 0, sizeof *f);
}

/* Parses the fixture; 0 on success, else -1 with a message in why. */
static int fixture_load(const char *path, fixture *f, char *why, size_t why_len) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(why, why_len, "cannot open %s", path);
        return -1;
    }
    char *line = NULL;
    size_t len = 0;
    long lineno = 0;
    int rc = 0;
    while (getline(&line, &len, fp) >= 0) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char *s = line, *end;
        size_t k = strcspn(s, " ");
        if (k == 0 || k >= sizeof f->r[0].name || s[k] != ' ') {
            snprintf(why, why_len, "%s:%ld: expected a record name", path, lineno);
            rc = -1;
            break;
        }
        if (f->n == f->cap) {
            size_t cap = f->cap ? 2 * f->cap : 64;
            fx_rec *r = realloc(f->r, cap * sizeof *r);
            if (!r) {
                rc = -1;
                snprintf(why, why_len, "out of memory");
                break;
            }
            f->r = r;
            f->cap = cap;
        }
        fx_rec *r = &f->r[f->n];
        memcpy(r->name, s, k);
        r->name[k] = '\0';
        s += k;
        long cnt = strtol(s, &end, 10);
        if (end == s || cnt < 1 || cnt > 1000000) {
            snprintf(why, why_len, "%s:%ld: expected a count after %s", path, lineno, r->name);
            rc = -1;
            break;
        }
        s = end;
        r->n = (size_t)cnt;
        r->v = malloc(r->n * sizeof(double));
        if (!r->v) {
            rc = -1;
            snprintf(why, why_len, "out of memory");
            break;
        }
        f->n++;
        for (size_t i = 0; i < r->n; i++) {
            r->v[i] = strtod(s, &end);
            if (end == s) {
                snprintf(why, why_len, "%s:%ld: %s: expected %zu values, found %zu", path,
                         lineno, r->name, r->n, i);
                rc = -1;
                break;
            }
            s = end;
        }
        if (rc) break;
    }
    free(line);
    fclose(fp);
    if (rc) fixture_free(f);
    return rc;
}

static const fx_rec *fx_get(const fixture *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->r[i].name, name) == 0) return &f->r[i];
    return NULL;
}

static double max_abs_diff(const float *a, const double *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as the maximum */
    }
    return m;
}

/* The fixture's config: V U C NB H T B, then ln_eps lr beta1 beta2 adam_eps weight_decay. */
static us_sasrec_config fixture_config(const fx_rec *r, int *B) {
    us_sasrec_config c = us_sasrec_config_default();
    c.n_items = (int)r->v[0];
    c.n_users = (int)r->v[1];
    c.d = (int)r->v[2];
    c.n_blocks = (int)r->v[3];
    c.n_heads = (int)r->v[4];
    c.max_len = (int)r->v[5];
    *B = (int)r->v[6];
    c.ln_eps = (float)r->v[7];
    c.lr = (float)r->v[8];
    c.beta1 = (float)r->v[9];
    c.beta2 = (float)r->v[10];
    c.adam_eps = (float)r->v[11];
    c.weight_decay = (float)r->v[12];
    c.dropout = 0.0f; /* the reference runs without dropout, so both sides are deterministic */
    c.clip_norm = 0.0f;
    c.batch_size = *B;
    return c;
}

static void to_i32(const fx_rec *r, int32_t *out) {
    for (size_t i = 0; i < r->n; i++) out[i] = (int32_t)r->v[i];
}

/* Runs one head on the fixture: forward, loss, backward, one Adam step, each compared. */
static void check_reference_head(us_test_ctx *t_, int next) {
    openblas_set_num_threads(1);
    const char *head = next ? "next" : "rating";
    fixture f;
    char why[512];
    if (fixture_load(FIXTURE, &f, why, sizeof why) != 0) {
        us_test_fail(t_, __FILE__, __LINE__, "%s", why);
        return;
    }
    const fx_rec *rc = fx_get(&f, "config");
    REQUIRE(rc && rc->n == 13);
    int B;
    us_sasrec_config c = fixture_config(rc, &B);
    int T = c.max_len, C = c.d;
    us_sasrec *m = NULL;
    us_err err;
    us_status st = us_sasrec_init(&m, &c, &err);
    CHECK_OK(st, err);
    int32_t *hist = malloc((size_t)B * T * sizeof(int32_t));
    int32_t *pos = malloc((size_t)B * T * sizeof(int32_t));
    int32_t *neg = malloc((size_t)B * T * sizeof(int32_t));
    int32_t *users = malloc((size_t)B * sizeof(int32_t));
    int32_t *items = malloc((size_t)B * sizeof(int32_t));
    float *labels = malloc((size_t)B * sizeof(float));
    size_t np = m ? m->block.nparams : 0;
    float *init = malloc((np ? np : 1) * sizeof(float));
    float *work = malloc(3 * (np ? np : 1) * sizeof(float));
    if (st != US_OK || !hist || !pos || !neg || !users || !items || !labels || !init || !work)
        goto done;
    const fx_rec *rh = fx_get(&f, "hist"), *ru = fx_get(&f, "users"), *ri = fx_get(&f, "items");
    const fx_rec *rl = fx_get(&f, "labels"), *rp = fx_get(&f, "pos"), *rn = fx_get(&f, "neg");
    CHECK(rh && rh->n == (size_t)B * T && ru && ru->n == (size_t)B && ri && ri->n == (size_t)B);
    CHECK(rl && rl->n == (size_t)B && rp && rp->n == (size_t)B * T && rn && rn->n == rp->n);
    if (t_->failed) goto done;
    to_i32(rh, hist);
    to_i32(ru, users);
    to_i32(ri, items);
    to_i32(rp, pos);
    to_i32(rn, neg);
    for (int b = 0; b < B; b++) labels[b] = (float)rl->v[b];
    /* the same initial weights, tensor by tensor */
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
        char name[96];
        snprintf(name, sizeof name, "init.%s", us_sasrec_tensor_names[i]);
        const fx_rec *r = fx_get(&f, name);
        if (!r || r->n != m->block.sizes[i]) {
            us_test_fail(t_, __FILE__, __LINE__, "%s: expected %zu values, found %zu", name,
                         m->block.sizes[i], r ? r->n : 0);
            goto done;
        }
        float *x = nn_block_tensor(&m->block, m->mem, NN_PARAMS, i);
        for (size_t k = 0; k < r->n; k++) x[k] = (float)r->v[k];
    }
    memcpy(init, m->mem, np * sizeof(float));

    /* forward (training path with dropout 0: it keeps what backward needs) */
    double loss = next ? us_sasrec_next_forward(m, hist, pos, neg, B, 1)
                       : us_sasrec_rating_forward(m, hist, users, items, labels, B, 1);
    char name[96];
    snprintf(name, sizeof name, "%s.hidden", head);
    const fx_rec *r = fx_get(&f, name);
    REQUIRE(r && r->n == (size_t)B * T * C);
    double d_hidden = max_abs_diff(m->acts->hf, r->v, r->n);
    snprintf(name, sizeof name, "%s.logit", head);
    r = fx_get(&f, name);
    REQUIRE(r && r->n == (size_t)(next ? 2 * B * T : B));
    double d_logit = max_abs_diff(next ? m->acts->nlogit : m->acts->logit, r->v, r->n);
    double d_prob = 0.0;
    if (!next) {
        r = fx_get(&f, "rating.prob");
        REQUIRE(r && r->n == (size_t)B);
        d_prob = max_abs_diff(us_sasrec_probs(m), r->v, r->n);
    }
    snprintf(name, sizeof name, "%s.loss", head);
    r = fx_get(&f, name);
    REQUIRE(r && r->n == 1);
    double d_loss = fabs(loss - r->v[0]);
    CHECK(d_hidden <= TOL);
    CHECK(d_logit <= TOL);
    CHECK(d_prob <= TOL);
    CHECK(d_loss <= TOL);

    /* backward: every parameter gradient */
    us_sasrec_zero_grad(m);
    if (next) us_sasrec_next_backward(m);
    else us_sasrec_rating_backward(m);
    double d_grad = 0.0, g_max = 0.0;
    const char *worst_grad = "";
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
        snprintf(name, sizeof name, "%s.grad.%s", head, us_sasrec_tensor_names[i]);
        r = fx_get(&f, name);
        REQUIRE(r && r->n == m->block.sizes[i]);
        const float *g = nn_block_tensor(&m->block, m->mem, NN_GRADS, i);
        double d = max_abs_diff(g, r->v, r->n);
        if (d > TOL) us_test_fail(t_, __FILE__, __LINE__, "%s: max |C - PyTorch| %.3g", name, d);
        if (d > d_grad) d_grad = d, worst_grad = us_sasrec_tensor_names[i];
        for (size_t k = 0; k < r->n; k++) g_max = fmax(g_max, fabs(r->v[k]));
    }
    /* keep the gradient for the decoupled-decay counterfactual below */
    memcpy(work, nn_block_section(&m->block, m->mem, NN_GRADS), np * sizeof(float));

    /* one Adam step (L2 decay in the gradient) from zero moments */
    us_sasrec_adam_step(m);
    double d_step = 0.0, moved = 0.0;
    const char *worst_step = "";
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
        snprintf(name, sizeof name, "%s.step.%s", head, us_sasrec_tensor_names[i]);
        r = fx_get(&f, name);
        REQUIRE(r && r->n == m->block.sizes[i]);
        const float *x = nn_block_tensor(&m->block, m->mem, NN_PARAMS, i);
        const float *x0 = init + m->block.offsets[i];
        double d = max_abs_diff(x, r->v, r->n);
        if (d > TOL) us_test_fail(t_, __FILE__, __LINE__, "%s: max |C - PyTorch| %.3g", name, d);
        if (d > d_step) d_step = d, worst_step = us_sasrec_tensor_names[i];
        for (size_t k = 0; k < r->n; k++) moved = fmax(moved, fabs(r->v[k] - x0[k]));
    }
    /* The same step with decoupled decay (AdamW) must NOT match: the fixture tells them apart. */
    float *p2 = work + np, *mv = work + 2 * np;
    memcpy(p2, init, np * sizeof(float));
    float *vv = malloc(np * sizeof(float));
    REQUIRE(vv);
    memset(mv, 0, np * sizeof(float));
    memset(vv, 0, np * sizeof(float));
    nn_adamw_update(p2, work, mv, vv, np, c.lr, c.beta1, c.beta2, c.adam_eps, c.weight_decay, 1,
                    NN_DECAY_DECOUPLED);
    free(vv);
    double d_adamw = 0.0;
    for (size_t i = 0; i < US_SASREC_NTENSORS; i++) {
        snprintf(name, sizeof name, "%s.step.%s", head, us_sasrec_tensor_names[i]);
        r = fx_get(&f, name);
        d_adamw = fmax(d_adamw, max_abs_diff(p2 + m->block.offsets[i], r->v, r->n));
    }
    CHECK(d_adamw > 100 * TOL);
    printf("    reference %s: max |C - PyTorch| hidden %.2e, logit %.2e, prob %.2e, loss %.2e, "
           "grad %.2e (%s; largest gradient %.3g), after one Adam step %.2e (%s; the step moved "
           "parameters by up to %.2e; a decoupled-decay step would differ by %.2e)\n",
           head, d_hidden, d_logit, d_prob, d_loss, d_grad, worst_grad, g_max, d_step,
           worst_step, moved, d_adamw);
done:
    free(hist);
    free(pos);
    free(neg);
    free(users);
    free(items);
    free(labels);
    free(init);
    free(work);
    us_sasrec_free(m);
    fixture_free(&f);
}

TEST(sasrec_reference_rating_head) { check_reference_head(t_, 0); }
TEST(sasrec_reference_next_head) { check_reference_head(t_, 1); }
