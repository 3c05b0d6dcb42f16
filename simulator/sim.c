/* sim.c — the simulated user population (simulator.h, "Simulated users"): us_sim_open loads a
 * store's users, histories, item keywords, item vectors and the SASRec rating head into flat
 * arrays once; us_sim_decide is the step-time decision of one user about one item, which reads
 * those arrays and the worker's scratch only: no SQLite, no allocation, no locks.
 *
 * It does not run any stage (extract, embed, train-sasrec): a store missing one is refused
 * with the command that makes it. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/sasrec/sasrec.h"
#include "simulator/simulator.h"

/* Items' keyword ids of one side as CSR: item i's sorted run is ids[off[i] .. off[i+1]). */
typedef struct kw_runs {
    uint32_t *off; /* (n_items + 1) */
    uint32_t *ids;
} kw_runs;

struct us_sim {
    us_sim_config cfg;
    int n_users, n_items;
    /* training histories (split 0), CSR over users, oldest first */
    uint64_t *hist_off; /* (n_users + 1) */
    int32_t *hist_item;
    int8_t *hist_label;
    int max_hist;
    /* strings: raw ids, categories, keywords; each a table of offsets into one blob */
    char *blob;
    size_t blob_len, blob_cap;
    uint64_t *user_raw, *item_raw; /* offsets into blob */
    int32_t *item_cat;             /* category index, -1 none */
    uint64_t *cat_text;            /* (n_cats) offsets into blob */
    int n_cats;
    uint64_t *kw_text; /* (kw_max + 1) offsets into blob; 0 = "" */
    uint32_t kw_max;
    kw_runs kw[2]; /* 0 pros, 1 cons */
    /* embeddings: (n_items, 2, dim), L2-normalized rows; has_vec (n_items, 2) */
    int dim;
    float *vec;
    uint8_t *has_vec;
    us_sasrec *sasrec; /* rating head, NULL when not used */
    us_sim_calibration calib; /* n = 0 when not calibrated */
};

struct us_sim_worker {
    const us_sim *sim;
    int max_episode;
    us_sasrec_state *st;
    int32_t *win;          /* (T) the SASRec window */
    int32_t *buf[4];       /* liked-in-category, liked, disliked-in-category, disliked */
};

us_sim_config us_sim_config_default(void) {
    us_sim_config c;
    memset(&c, 0, sizeof c);
    c.mode = US_SIM_MAJORITY;
    c.tie = US_TIE_RANDOM;
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        c.use[k] = 1;
        c.weight[k] = 1.0f;
    }
    c.category_filter = 1;
    c.empty_sim = 0.0f;
    c.keyword_scale = 1.0f;
    c.embed_scale = 10.0f;
    c.sasrec_version = 0;
    c.threshold[US_VOTE_KEYWORD] = 0.0f;
    c.threshold[US_VOTE_EMBED] = 0.0f;
    c.threshold[US_VOTE_SASREC] = 0.5f;
    c.calibrate = 0;
    return c;
}

/* ---- loading ---- */

/* Appends s (len bytes) and a NUL to the blob; its offset in *off. Offset 0 is "". */
static us_status blob_add(us_sim *sim, const char *s, size_t len, uint64_t *off) {
    if (!s || len == 0) {
        *off = 0;
        return US_OK;
    }
    if (us_grow((void **)&sim->blob, &sim->blob_cap, sim->blob_len + len + 1, 1) != US_OK)
        return US_ENOMEM;
    *off = sim->blob_len;
    memcpy(sim->blob + sim->blob_len, s, len);
    sim->blob[sim->blob_len + len] = '\0';
    sim->blob_len += len + 1;
    return US_OK;
}

static int table_exists(sqlite3 *db, const char *name) {
    sqlite3_stmt *q = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1,
                           &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(q) == SQLITE_ROW;
    }
    sqlite3_finalize(q);
    return found;
}

static long long count_rows(sqlite3 *db, const char *sql) {
    sqlite3_stmt *q = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static us_status db_fail(sqlite3 *db, const char *path, const char *table, us_err *err) {
    return us_err_set(err, US_EDB, path, 0, table, "%s", sqlite3_errmsg(db));
}

static us_status missing_stage(const char *path, const char *table, const char *command,
                               us_err *err) {
    return us_err_set(err, US_ENOTFOUND, path, 0, table,
                      "the store has no %s table: run `usersim %s %s` first", table, command,
                      path);
}

/* Raw ids of users or items into offsets (n) in the blob. */
static us_status load_raw(us_sim *sim, sqlite3 *db, const char *path, const char *table, int n,
                          uint64_t **out, us_err *err) {
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT id, raw_id FROM %s ORDER BY id", table);
    *out = calloc((size_t)n, sizeof **out);
    if (!*out) return us_err_set(err, US_ENOMEM, path, 0, table, "out of memory");
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, path, table, err);
    us_status st = US_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(q, 0);
        if (id < 0 || id >= n) {
            st = us_err_set(err, US_EFORMAT, path, 0, table,
                            "expected ids 0..%d (dense), found %lld", n - 1, id);
            break;
        }
        const char *raw = (const char *)sqlite3_column_text(q, 1);
        if ((st = blob_add(sim, raw, raw ? (size_t)sqlite3_column_bytes(q, 1) : 0,
                           &(*out)[id])) != US_OK) {
            us_err_set(err, st, path, 0, table, "out of memory");
            break;
        }
    }
    if (st == US_OK && rc != SQLITE_DONE) st = db_fail(db, path, table, err);
    sqlite3_finalize(q);
    return st;
}

/* Training interactions (split 0) as CSR over users. */
static us_status load_histories(us_sim *sim, sqlite3 *db, const char *path, us_err *err) {
    long long n = count_rows(db, "SELECT COUNT(*) FROM interactions WHERE split = 0");
    if (n <= 0)
        return us_err_set(err, US_EEMPTY, path, 0, "interactions",
                          "expected training interactions (split 0), found none");
    sim->hist_off = calloc((size_t)sim->n_users + 1, sizeof *sim->hist_off);
    sim->hist_item = malloc((size_t)n * sizeof *sim->hist_item);
    sim->hist_label = malloc((size_t)n);
    if (!sim->hist_off || !sim->hist_item || !sim->hist_label)
        return us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT user, item, label FROM interactions WHERE split = 0 "
                           "ORDER BY user, pos",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, path, "interactions", err);
    us_status st = US_OK;
    long long k = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long u = sqlite3_column_int64(q, 0), it = sqlite3_column_int64(q, 1);
        int lab = sqlite3_column_type(q, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 2);
        if (k >= n || u < 0 || u >= sim->n_users || it < 0 || it >= sim->n_items || lab < -1 ||
            lab > 1) {
            st = us_err_set(err, US_EFORMAT, path, 0, "interactions",
                            "row %lld: expected user < %d, item < %d, label NULL/0/1; found "
                            "user %lld, item %lld, label %d",
                            k + 1, sim->n_users, sim->n_items, u, it, lab);
            break;
        }
        sim->hist_item[k] = (int32_t)it;
        sim->hist_label[k] = (int8_t)lab;
        sim->hist_off[u + 1]++;
        k++;
    }
    if (st == US_OK && rc != SQLITE_DONE) st = db_fail(db, path, "interactions", err);
    sqlite3_finalize(q);
    if (st != US_OK) return st;
    for (int u = 0; u < sim->n_users; u++) {
        uint64_t len = sim->hist_off[u + 1];
        if ((int64_t)len > sim->max_hist) sim->max_hist = (int)len;
        sim->hist_off[u + 1] += sim->hist_off[u];
    }
    return US_OK;
}

/* item_profile.category per item, interned into sim->cat_text. */
static us_status load_categories(us_sim *sim, sqlite3 *db, const char *path, us_err *err) {
    sim->item_cat = malloc((size_t)sim->n_items * sizeof *sim->item_cat);
    us_strtab *tab = NULL;
    if (!sim->item_cat || us_strtab_init(&tab) != US_OK) {
        us_strtab_free(tab);
        return us_err_set(err, US_ENOMEM, path, 0, "item_profile", "out of memory");
    }
    for (int i = 0; i < sim->n_items; i++) sim->item_cat[i] = -1;
    sqlite3_stmt *q = NULL;
    us_status st = US_OK;
    if (sqlite3_prepare_v2(db, "SELECT item, category FROM item_profile", -1, &q, NULL) !=
        SQLITE_OK) {
        us_strtab_free(tab);
        return db_fail(db, path, "item_profile", err);
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long it = sqlite3_column_int64(q, 0);
        if (it < 0 || it >= sim->n_items) {
            st = us_err_set(err, US_EFORMAT, path, 0, "item_profile.item",
                            "expected an item id below %d, found %lld", sim->n_items, it);
            break;
        }
        const char *c = (const char *)sqlite3_column_text(q, 1);
        int len = sqlite3_column_bytes(q, 1);
        if (!c || len == 0) continue;
        uint32_t id;
        int is_new;
        if (us_strtab_intern(tab, c, (size_t)len, &id, &is_new) != US_OK) {
            st = us_err_set(err, US_ENOMEM, path, 0, "item_profile", "out of memory");
            break;
        }
        sim->item_cat[it] = (int32_t)id;
    }
    if (st == US_OK && rc != SQLITE_DONE) st = db_fail(db, path, "item_profile", err);
    sqlite3_finalize(q);
    if (st == US_OK) {
        sim->n_cats = (int)us_strtab_count(tab);
        sim->cat_text = calloc((size_t)sim->n_cats + 1, sizeof *sim->cat_text);
        if (!sim->cat_text) st = us_err_set(err, US_ENOMEM, path, 0, "item_profile", "out of memory");
        for (int c = 0; st == US_OK && c < sim->n_cats; c++) {
            size_t len;
            const char *s = us_strtab_get(tab, (uint32_t)c, &len);
            if (blob_add(sim, s, len, &sim->cat_text[c]) != US_OK)
                st = us_err_set(err, US_ENOMEM, path, 0, "item_profile", "out of memory");
        }
    }
    us_strtab_free(tab);
    return st;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* item_keyword into two CSR runs, each sorted; keyword texts into kw_text. */
static us_status load_keywords(us_sim *sim, sqlite3 *db, const char *path, us_err *err) {
    long long kmax = count_rows(db, "SELECT COALESCE(MAX(id), 0) FROM keyword");
    long long n = count_rows(db, "SELECT COUNT(*) FROM item_keyword");
    if (kmax < 0 || kmax > UINT32_MAX - 1 || n < 0)
        return us_err_set(err, US_EFORMAT, path, 0, "keyword",
                          "expected keyword ids in 0..%u, found max %lld", UINT32_MAX - 1, kmax);
    sim->kw_max = (uint32_t)kmax;
    sim->kw_text = calloc((size_t)kmax + 1, sizeof *sim->kw_text);
    for (int s = 0; s < 2; s++) {
        sim->kw[s].off = calloc((size_t)sim->n_items + 1, sizeof *sim->kw[s].off);
        sim->kw[s].ids = malloc(((size_t)n + 1) * sizeof *sim->kw[s].ids);
    }
    if (!sim->kw_text || !sim->kw[0].off || !sim->kw[1].off || !sim->kw[0].ids ||
        !sim->kw[1].ids)
        return us_err_set(err, US_ENOMEM, path, 0, "keyword", "out of memory");
    sqlite3_stmt *q = NULL;
    us_status st = US_OK;
    int rc;
    if (sqlite3_prepare_v2(db, "SELECT id, text FROM keyword", -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, path, "keyword", err);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(q, 0);
        const char *t = (const char *)sqlite3_column_text(q, 1);
        if (id < 0 || id > kmax) continue; /* cannot happen: kmax is the maximum */
        if (blob_add(sim, t, t ? (size_t)sqlite3_column_bytes(q, 1) : 0, &sim->kw_text[id]) !=
            US_OK) {
            st = us_err_set(err, US_ENOMEM, path, 0, "keyword", "out of memory");
            break;
        }
    }
    if (st == US_OK && rc != SQLITE_DONE) st = db_fail(db, path, "keyword", err);
    sqlite3_finalize(q);
    if (st != US_OK) return st;
    /* Rows ordered by (side, item): each side's CSR fills in row order. */
    if (sqlite3_prepare_v2(db,
                           "SELECT side, item, keyword FROM item_keyword ORDER BY side, item",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, path, "item_keyword", err);
    uint32_t fill[2] = {0, 0};
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int side = sqlite3_column_int(q, 0);
        long long it = sqlite3_column_int64(q, 1), k = sqlite3_column_int64(q, 2);
        if (side < 0 || side > 1 || it < 0 || it >= sim->n_items || k < 0 || k > kmax) {
            st = us_err_set(err, US_EFORMAT, path, 0, "item_keyword",
                            "expected side 0/1, item < %d, keyword <= %lld; found side %d, "
                            "item %lld, keyword %lld",
                            sim->n_items, kmax, side, it, k);
            break;
        }
        sim->kw[side].ids[fill[side]++] = (uint32_t)k;
        sim->kw[side].off[it + 1]++;
    }
    if (st == US_OK && rc != SQLITE_DONE) st = db_fail(db, path, "item_keyword", err);
    sqlite3_finalize(q);
    if (st != US_OK) return st;
    for (int s = 0; s < 2; s++) {
        kw_runs *r = &sim->kw[s];
        for (int i = 0; i < sim->n_items; i++) r->off[i + 1] += r->off[i];
        for (int i = 0; i < sim->n_items; i++)
            qsort(r->ids + r->off[i], r->off[i + 1] - r->off[i], sizeof *r->ids, cmp_u32);
    }
    return US_OK;
}

/* item_vec rows into the (n_items, 2, dim) matrix; a row is normalized again on load so the
 * dot product is a cosine whatever wrote it. */
static us_status load_vectors(us_sim *sim, sqlite3 *db, const char *path, us_err *err) {
    long long dim = count_rows(db, "SELECT dim FROM embedder WHERE id = 1");
    if (dim <= 0 || dim > 65536)
        return us_err_set(err, US_EFORMAT, path, 0, "embedder.dim",
                          "expected one embedder row with a dimension in 1..65536, found %lld",
                          dim);
    sim->dim = (int)dim;
    sim->vec = calloc((size_t)sim->n_items * 2 * (size_t)dim, sizeof *sim->vec);
    sim->has_vec = calloc((size_t)sim->n_items * 2, 1);
    if (!sim->vec || !sim->has_vec)
        return us_err_set(err, US_ENOMEM, path, 0, "item_vec", "out of memory: %d x 2 x %d",
                          sim->n_items, sim->dim);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT item, side, vec FROM item_vec", -1, &q, NULL) !=
        SQLITE_OK)
        return db_fail(db, path, "item_vec", err);
    us_status st = US_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long long it = sqlite3_column_int64(q, 0);
        int side = sqlite3_column_int(q, 1);
        const void *b = sqlite3_column_blob(q, 2);
        int bytes = sqlite3_column_bytes(q, 2);
        if (it < 0 || it >= sim->n_items || side < 0 || side > 1 ||
            bytes != sim->dim * (int)sizeof(float)) {
            st = us_err_set(err, US_EFORMAT, path, 0, "item_vec",
                            "item %lld side %d: expected an item < %d, side 0/1 and %d bytes "
                            "(%d float32), found %d bytes",
                            it, side, sim->n_items, sim->dim * (int)sizeof(float), sim->dim,
                            bytes);
            break;
        }
        float *row = sim->vec + ((size_t)it * 2 + (size_t)side) * (size_t)sim->dim;
        memcpy(row, b, (size_t)bytes);
        double ss = 0;
        for (int c = 0; c < sim->dim; c++) ss += (double)row[c] * row[c];
        if (!(ss > 0) || !isfinite(ss)) {
            memset(row, 0, (size_t)bytes); /* a zero vector (empty text): no vector */
            continue;
        }
        float inv = (float)(1.0 / sqrt(ss));
        for (int c = 0; c < sim->dim; c++) row[c] *= inv;
        sim->has_vec[it * 2 + side] = 1;
    }
    if (st == US_OK && rc != SQLITE_DONE) st = db_fail(db, path, "item_vec", err);
    sqlite3_finalize(q);
    return st;
}

static us_status load_sasrec(us_sim *sim, sqlite3 *db, const char *path, us_err *err) {
    int64_t version = sim->cfg.sasrec_version;
    if (version == 0)
        version = count_rows(db, "SELECT COALESCE(MAX(version), 0) FROM sasrec_checkpoint "
                                 "WHERE head = 'rating'");
    if (version <= 0)
        return us_err_set(err, US_ENOTFOUND, path, 0, "sasrec_checkpoint",
                          "no rating-head checkpoint: run `usersim train-sasrec %s` first", path);
    us_status st = us_sasrec_checkpoint_load(path, version, NULL, &sim->sasrec, err);
    if (st != US_OK) return st;
    const us_sasrec_config *c = &sim->sasrec->cfg;
    if (c->head != US_SASREC_RATING)
        return us_err_set(err, US_EINVAL, path, 0, "sasrec_checkpoint",
                          "checkpoint %lld is a next-item head; the simulator needs a rating head",
                          (long long)version);
    if (c->n_users != sim->n_users || c->n_items != sim->n_items)
        return us_err_set(err, US_EFORMAT, path, 0, "sasrec_checkpoint",
                          "checkpoint %lld was trained for %d users and %d items; the store has "
                          "%d and %d",
                          (long long)version, c->n_users, c->n_items, sim->n_users, sim->n_items);
    return US_OK;
}

/* ---- calibration (simulator.h, "Thresholds") ---- */

/* One vote's threshold from its scores s[0..n) (sorted ascending; n > 0) for a target of
 * n_pos likes. ge: the vote likes a score equal to the threshold (SASRec); otherwise such a
 * score is a tie, half a like when tie_half. Candidates in ascending order: min - 1 (not with
 * ge: min already likes everything), then each distinct score followed by the float midpoint
 * to the next one (when one lies strictly between), and max + 1. Like counts are compared
 * exactly, in half-interactions: |2·likes - 2·n_pos|; a candidate replaces the best only when
 * strictly closer, so equal distances keep the smallest. The like rate at the chosen
 * threshold into *rate. */
static float fit_threshold(const float *s, size_t n, uint64_t n_pos, int ge, int tie_half,
                           double *rate) {
    const int64_t target = 2 * (int64_t)n_pos;
    float best = 0.0f;
    int64_t best_dist = INT64_MAX, best_l2 = 0;
#define CONSIDER(t_, l2_)                                                                      \
    do {                                                                                       \
        int64_t l2 = (l2_), dist = l2 > target ? l2 - target : target - l2;                    \
        if (dist < best_dist) best = (t_), best_dist = dist, best_l2 = l2;                     \
    } while (0)
    if (!ge) CONSIDER(s[0] - 1.0f, 2 * (int64_t)n);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] == s[i]) j++; /* s[i..j) equal, s[j..n) above */
        const int64_t above = (int64_t)(n - j), eq = (int64_t)(j - i);
        CONSIDER(s[i], ge ? 2 * (above + eq) : 2 * above + (tie_half ? eq : 0));
        if (j < n) {
            const float mid = s[i] + 0.5f * (s[j] - s[i]);
            if (mid > s[i] && mid < s[j]) CONSIDER(mid, 2 * above);
        } else {
            CONSIDER(s[i] + 1.0f, 0);
        }
        i = j;
    }
#undef CONSIDER
    *rate = (double)best_l2 / (2.0 * (double)n);
    return best;
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* σ(logit p - logit t) = p(1-t) / (p(1-t) + (1-p)t): the probability p with its odds divided
 * by those of t, so that it is 1/2 at p = t and keeps p's order. t is clamped to [0, 1]; the
 * one 0/0 (p = t = 0 or p = t = 1) is decided as the vote is, p >= t. */
static float centred_odds(float p, float t) {
    t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    const float a = p * (1.0f - t), b = (1.0f - p) * t;
    return a + b > 0.0f ? a / (a + b) : (float)(p >= t);
}

/* Vote k's soft score p_k for its raw score x (match or similarity difference, or p_sasrec)
 * at threshold t: the formulas of simulator.h, shared by the decision and the calibration. */
static float soft_score(const us_sim_config *c, int k, float x, float t) {
    if (k == US_VOTE_KEYWORD) return sigmoidf(c->keyword_scale * (x - t));
    if (k == US_VOTE_EMBED) return sigmoidf(c->embed_scale * (x - t));
    return t == 0.5f ? x : centred_odds(x, t);
}

/* The probability that the ensemble likes an interaction whose votes like with probabilities
 * q[k] (0, 1/2 for a random tie, or 1; enabled votes only) and whose soft scores are p[k]:
 * every combination of the votes is weighed and decided by cfg's mode, an even split (or equal
 * weights) counted as cfg.tie decides it (1/2 or 0). */
static double ensemble_like_prob(const us_sim_config *c, const double q[US_SIM_NVOTES],
                                 const float p[US_SIM_NVOTES]) {
    double wsum = 0, soft = 0;
    int n_use = 0;
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (c->use[k]) n_use++, wsum += c->weight[k], soft += c->weight[k] * p[k];
    if (c->mode == US_SIM_STOCHASTIC) return wsum > 0 ? soft / wsum : 0.5;
    const double tie = c->tie == US_TIE_RANDOM ? 0.5 : 0.0;
    double like = 0;
    for (int mask = 0; mask < 1 << US_SIM_NVOTES; mask++) {
        double pr = 1, wlike = 0;
        int n_like = 0, ok = 1;
        for (int k = 0; k < US_SIM_NVOTES && ok; k++) {
            int v = mask >> k & 1;
            if (!c->use[k]) ok = !v;
            else pr *= v ? q[k] : 1 - q[k], n_like += v, wlike += v * c->weight[k];
        }
        if (!ok || pr == 0) continue;
        if (c->mode == US_SIM_MAJORITY)
            like += pr * (2 * n_like > n_use ? 1 : 2 * n_like < n_use ? 0 : tie);
        else
            like += pr * (2 * wlike > wsum ? 1 : 2 * wlike < wsum ? 0 : tie);
    }
    return like;
}

/* What the calibration works on: the raw scores of the validation interactions in their
 * order, each vote's sorted copy, and the real likes. */
typedef struct calib_data {
    size_t n;
    uint64_t n_pos;
    float *raw[US_SIM_NVOTES], *sorted[US_SIM_NVOTES];
} calib_data;

/* Fits every enabled vote to a target of `target` likes (thresholds into t, their rates into
 * rate) and returns the ensemble's expected like rate on the interactions with them. */
static double fit_all(const us_sim_config *c, const calib_data *d, uint64_t target,
                      float t[US_SIM_NVOTES], double rate[US_SIM_NVOTES]) {
    const int tie_half = c->tie == US_TIE_RANDOM;
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        rate[k] = 0;
        if (c->use[k])
            t[k] = fit_threshold(d->sorted[k], d->n, target, k == US_VOTE_SASREC, tie_half,
                                 &rate[k]);
    }
    double sum = 0;
    for (size_t i = 0; i < d->n; i++) {
        double q[US_SIM_NVOTES] = {0, 0, 0};
        float p[US_SIM_NVOTES] = {0.5f, 0.5f, 0.5f};
        for (int k = 0; k < US_SIM_NVOTES; k++) {
            if (!c->use[k]) continue;
            const float x = d->raw[k][i];
            q[k] = k == US_VOTE_SASREC ? x >= t[k] : x > t[k] ? 1 : x < t[k] ? 0 : tie_half * 0.5;
            p[k] = soft_score(c, k, x, t[k]);
        }
        sum += ensemble_like_prob(c, q, p);
    }
    return sum / (double)d->n;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Fits the enabled votes' thresholds on the labeled validation interactions (split 1): each is
 * decided as eval-sim's held-out prediction decides a test one (training history, empty
 * episode), and only its scores are kept. Every vote is fitted to one common target count of
 * likes (fit_threshold), and that target is searched (binary search: the ensemble's like rate
 * does not decrease as it grows) so that the ensemble's expected like rate is closest to the
 * real one, the smaller target on equal distance. Writes sim->cfg.threshold and sim->calib;
 * runs inside us_sim_open, before sim is shared. */
static us_status calibrate(us_sim *sim, sqlite3 *db, const char *path, us_err *err) {
    static const char where[] = "FROM interactions WHERE split = 1 AND label IN (0, 1)";
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    const long long n = count_rows(db, sql);
    if (n <= 0)
        return us_err_set(err, US_EEMPTY, path, 0, "interactions",
                          "calibration needs labeled validation interactions (split 1, label 0 "
                          "or 1); this store has none");
    calib_data d = {0};
    us_sim_worker *w = NULL;
    sqlite3_stmt *q = NULL;
    us_status st = US_OK;
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (!(d.raw[k] = malloc((size_t)n * sizeof(float))) ||
            !(d.sorted[k] = malloc((size_t)n * sizeof(float)))) {
            st = us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
            goto done;
        }
    if ((st = us_sim_worker_init(&w, sim, 0, err)) != US_OK) goto done;
    snprintf(sql, sizeof sql, "SELECT user, item, label %s ORDER BY user, pos", where);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        st = db_fail(db, path, "interactions", err);
        goto done;
    }
    /* The scores do not depend on the generator; decide wants one for its ties. */
    us_rng rng = us_rng_derive(0, 0);
    us_sim_reaction r;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && d.n < (size_t)n) {
        long long u = sqlite3_column_int64(q, 0), it = sqlite3_column_int64(q, 1);
        if (u < 0 || u >= sim->n_users || it < 0 || it >= sim->n_items) {
            st = us_err_set(err, US_EFORMAT, path, 0, "interactions",
                            "validation row %zu: expected user < %d, item < %d; found %lld, "
                            "%lld",
                            d.n + 1, sim->n_users, sim->n_items, u, it);
            goto done;
        }
        d.n_pos += sqlite3_column_int(q, 2) == 1;
        us_sim_decide(sim, w, (int32_t)u, NULL, NULL, 0, (int32_t)it, &rng, &r);
        d.raw[US_VOTE_KEYWORD][d.n] = (float)(r.pros_matches - r.cons_matches);
        d.raw[US_VOTE_EMBED][d.n] = r.pros_sim - r.cons_sim;
        d.raw[US_VOTE_SASREC][d.n] = r.p_sasrec;
        d.n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        st = db_fail(db, path, "interactions", err);
        goto done;
    }
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        memcpy(d.sorted[k], d.raw[k], d.n * sizeof(float));
        qsort(d.sorted[k], d.n, sizeof(float), cmp_float);
    }
    const us_sim_config *c = &sim->cfg;
    const double real = (double)d.n_pos / (double)d.n;
    float t[US_SIM_NVOTES];
    double rate[US_SIM_NVOTES];
    /* the smallest target whose ensemble rate reaches the real one, then it or the one below */
    uint64_t lo = 0, hi = d.n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (fit_all(c, &d, mid, t, rate) >= real) hi = mid;
        else lo = mid + 1;
    }
    uint64_t target = lo;
    double at = fit_all(c, &d, target, t, rate);
    if (target > 0 && fabs(fit_all(c, &d, target - 1, t, rate) - real) <= fabs(at - real))
        target--;
    sim->calib.ensemble_like_rate = fit_all(c, &d, target, t, rate);
    sim->calib.n = (uint64_t)d.n;
    sim->calib.real_like_rate = real;
    sim->calib.target_rate = (double)target / (double)d.n;
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        sim->calib.like_rate[k] = rate[k];
        if (c->use[k]) sim->cfg.threshold[k] = t[k];
    }
done:
    sqlite3_finalize(q);
    us_sim_worker_free(w);
    for (int k = 0; k < US_SIM_NVOTES; k++) free(d.raw[k]), free(d.sorted[k]);
    return st;
}

us_status us_sim_open(us_sim **out, const char *path, const us_sim_config *cfg, us_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return us_err_set(err, US_ENOTFOUND, path, 0, NULL, "no such store");
    fclose(f);
    us_sim *sim = calloc(1, sizeof *sim);
    if (!sim) return us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
    sim->cfg = cfg ? *cfg : us_sim_config_default();
    us_status st = US_OK;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        st = db_fail(db, path, NULL, err);
        goto done;
    }
    const us_sim_config *c = &sim->cfg;
    if (!c->use[0] && !c->use[1] && !c->use[2]) {
        st = us_err_set(err, US_EINVAL, path, 0, "use", "expected at least one vote in use");
        goto done;
    }
    if (c->mode > US_SIM_STOCHASTIC || c->tie > US_TIE_DISLIKE) {
        st = us_err_set(err, US_EINVAL, path, 0, "mode", "expected a known mode and tie rule");
        goto done;
    }
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (!isfinite(c->threshold[k])) {
            st = us_err_set(err, US_EINVAL, path, 0, "threshold",
                            "expected finite thresholds, found %g for vote %d",
                            (double)c->threshold[k], k);
            goto done;
        }
    if (c->calibrate != 0 && c->calibrate != 1) {
        st = us_err_set(err, US_EINVAL, path, 0, "calibrate", "expected 0 or 1, found %d",
                        c->calibrate);
        goto done;
    }
    long long nu = count_rows(db, "SELECT COUNT(*) FROM users");
    long long ni = count_rows(db, "SELECT COUNT(*) FROM items");
    if (nu < 0 || ni < 0) {
        st = us_err_set(err, US_EFORMAT, path, 0, NULL,
                        "not a usersim store: expected tables users and items");
        goto done;
    }
    if (nu == 0 || ni == 0 || nu > INT32_MAX - 1 || ni > INT32_MAX - 1) {
        st = us_err_set(err, US_EEMPTY, path, 0, NULL, "expected users and items, found %lld, %lld",
                        nu, ni);
        goto done;
    }
    sim->n_users = (int)nu;
    sim->n_items = (int)ni;
    sim->blob_len = 1; /* offset 0 is the empty string */
    if (us_grow((void **)&sim->blob, &sim->blob_cap, 1 << 16, 1) != US_OK) {
        st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
        goto done;
    }
    sim->blob[0] = '\0';
    if ((st = load_raw(sim, db, path, "users", sim->n_users, &sim->user_raw, err)) != US_OK ||
        (st = load_raw(sim, db, path, "items", sim->n_items, &sim->item_raw, err)) != US_OK ||
        (st = load_histories(sim, db, path, err)) != US_OK)
        goto done;
    if (c->use[US_VOTE_KEYWORD] || c->use[US_VOTE_EMBED]) {
        if (!table_exists(db, "item_profile")) {
            st = missing_stage(path, "item_profile", "extract", err);
            goto done;
        }
        if ((st = load_categories(sim, db, path, err)) != US_OK) goto done;
    }
    if (c->use[US_VOTE_KEYWORD]) {
        if (!table_exists(db, "item_keyword") || !table_exists(db, "keyword")) {
            st = missing_stage(path, "item_keyword", "extract", err);
            goto done;
        }
        if ((st = load_keywords(sim, db, path, err)) != US_OK) goto done;
    }
    if (c->use[US_VOTE_EMBED]) {
        if (!table_exists(db, "item_vec") || !table_exists(db, "embedder")) {
            st = missing_stage(path, "item_vec", "embed", err);
            goto done;
        }
        if ((st = load_vectors(sim, db, path, err)) != US_OK) goto done;
    }
    if (c->use[US_VOTE_SASREC]) {
        if (!table_exists(db, "sasrec_checkpoint")) {
            st = missing_stage(path, "sasrec_checkpoint", "train-sasrec", err);
            goto done;
        }
        if ((st = load_sasrec(sim, db, path, err)) != US_OK) goto done;
    }
    if (c->calibrate && (st = calibrate(sim, db, path, err)) != US_OK) goto done;
done:
    sqlite3_close(db);
    if (st != US_OK) {
        us_sim_close(sim);
        return st;
    }
    *out = sim;
    return US_OK;
}

void us_sim_close(us_sim *sim) {
    if (!sim) return;
    free(sim->hist_off);
    free(sim->hist_item);
    free(sim->hist_label);
    free(sim->blob);
    free(sim->user_raw);
    free(sim->item_raw);
    free(sim->item_cat);
    free(sim->cat_text);
    free(sim->kw_text);
    for (int s = 0; s < 2; s++) {
        free(sim->kw[s].off);
        free(sim->kw[s].ids);
    }
    free(sim->vec);
    free(sim->has_vec);
    us_sasrec_free(sim->sasrec);
    free(sim);
}

int us_sim_n_users(const us_sim *sim) { return sim->n_users; }
int us_sim_n_items(const us_sim *sim) { return sim->n_items; }
const us_sim_config *us_sim_config_of(const us_sim *sim) { return &sim->cfg; }

void us_sim_thresholds(const us_sim *sim, float out[US_SIM_NVOTES]) {
    for (int k = 0; k < US_SIM_NVOTES; k++) out[k] = sim->cfg.threshold[k];
}

void us_sim_calibration_of(const us_sim *sim, us_sim_calibration *out) { *out = sim->calib; }

int us_sim_history(const us_sim *sim, int32_t u, const int32_t **items, const int8_t **labels) {
    US_ASSERT(u >= 0 && u < sim->n_users);
    uint64_t a = sim->hist_off[u], b = sim->hist_off[u + 1];
    if (items) *items = sim->hist_item + a;
    if (labels) *labels = sim->hist_label + a;
    return (int)(b - a);
}

const char *us_sim_keyword(const us_sim *sim, uint32_t k) {
    return sim->kw_text && k <= sim->kw_max ? sim->blob + sim->kw_text[k] : "";
}

const char *us_sim_category(const us_sim *sim, int32_t i) {
    if (!sim->item_cat || i < 0 || i >= sim->n_items || sim->item_cat[i] < 0) return "";
    return sim->blob + sim->cat_text[sim->item_cat[i]];
}

const char *us_sim_item_raw(const us_sim *sim, int32_t i) {
    return i >= 0 && i < sim->n_items ? sim->blob + sim->item_raw[i] : "";
}

const char *us_sim_user_raw(const us_sim *sim, int32_t u) {
    return u >= 0 && u < sim->n_users ? sim->blob + sim->user_raw[u] : "";
}

/* ---- the worker ---- */

us_status us_sim_worker_init(us_sim_worker **out, const us_sim *sim, int max_episode,
                             us_err *err) {
    *out = NULL;
    if (max_episode < 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_episode", "expected >= 0, found %d",
                          max_episode);
    us_sim_worker *w = calloc(1, sizeof *w);
    if (!w) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    w->sim = sim;
    w->max_episode = max_episode;
    size_t cap = (size_t)sim->max_hist + (size_t)max_episode + 1;
    for (int b = 0; b < 4; b++) {
        w->buf[b] = malloc(cap * sizeof *w->buf[b]);
        if (!w->buf[b]) {
            us_sim_worker_free(w);
            return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        }
    }
    if (sim->sasrec) {
        us_status st = us_sasrec_state_init(&w->st, sim->sasrec, 64, err);
        w->win = malloc((size_t)sim->sasrec->cfg.max_len * sizeof *w->win);
        if (st != US_OK || !w->win) {
            us_sim_worker_free(w);
            return st != US_OK ? st : us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        }
    }
    *out = w;
    return US_OK;
}

void us_sim_worker_free(us_sim_worker *w) {
    if (!w) return;
    us_sasrec_state_free(w->st);
    free(w->win);
    for (int b = 0; b < 4; b++) free(w->buf[b]);
    free(w);
}

/* ---- the decision ---- */

static int has_id(const uint32_t *run, uint32_t n, uint32_t k) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (run[mid] < k) lo = mid + 1;
        else if (run[mid] > k) hi = mid;
        else return 1;
    }
    return 0;
}

/* How many of item's keywords of side s occur in the same side of any item of set[0..n);
 * the first US_SIM_MAX_MATCHED of them into matched. */
static int keyword_matches(const us_sim *sim, int s, int32_t item, const int32_t *set, int n,
                           uint32_t *matched, int *n_matched) {
    const kw_runs *r = &sim->kw[s];
    int count = 0;
    *n_matched = 0;
    for (uint32_t a = r->off[item]; a < r->off[item + 1]; a++) {
        uint32_t k = r->ids[a];
        for (int j = 0; j < n; j++) {
            uint32_t o = r->off[set[j]];
            if (has_id(r->ids + o, r->off[set[j] + 1] - o, k)) {
                if (*n_matched < US_SIM_MAX_MATCHED) matched[(*n_matched)++] = k;
                count++;
                break;
            }
        }
    }
    return count;
}

/* x·y in 8 interleaved partial sums (added in a fixed order), which the compiler turns into
 * vector instructions; the same bits on every run. */
static float dot8(const float *x, const float *y, int n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int c = 0;
    for (; c + 8 <= n; c += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[c + j] * y[c + j];
    float tail = 0.0f;
    for (; c < n; c++) tail += x[c] * y[c];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) +
           tail;
}

/* Highest cosine between item's side-s vector and those of set[0..n); empty when none. */
static float best_similarity(const us_sim *sim, int s, int32_t item, const int32_t *set, int n,
                             float empty) {
    if (!sim->has_vec[(size_t)item * 2 + (size_t)s]) return empty;
    const float *x = sim->vec + ((size_t)item * 2 + (size_t)s) * (size_t)sim->dim;
    float best = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (!sim->has_vec[(size_t)set[j] * 2 + (size_t)s]) continue;
        const float *y = sim->vec + ((size_t)set[j] * 2 + (size_t)s) * (size_t)sim->dim;
        float dot = dot8(x, y, sim->dim);
        if (dot > best) best = dot;
    }
    return best == -INFINITY ? empty : best;
}

static int tie_break(const us_sim_config *c, us_rng *rng) {
    return c->tie == US_TIE_RANDOM ? (int)(us_rng_u32(rng) >> 31) : 0;
}

void us_sim_decide(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                   const int8_t *ep_likes, int ep_len, int32_t item, us_rng *rng,
                   us_sim_reaction *out) {
    const us_sim_config *c = &sim->cfg;
    US_ASSERT(u >= 0 && u < sim->n_users && item >= 0 && item < sim->n_items);
    US_ASSERT(ep_len >= 0 && ep_len <= w->max_episode && w->sim == sim);
    memset(out, 0, sizeof *out);
    out->p_sasrec = NAN;
    for (int k = 0; k < US_SIM_NVOTES; k++) out->vote[k] = -1;
    const uint64_t h0 = sim->hist_off[u], nh = sim->hist_off[u + 1] - h0;
    float p[US_SIM_NVOTES] = {0.5f, 0.5f, 0.5f};

    if (c->use[US_VOTE_KEYWORD] || c->use[US_VOTE_EMBED]) {
        /* L and D: liked / disliked items of H, those of item's category kept apart. */
        int32_t *lc = w->buf[0], *la = w->buf[1], *dc = w->buf[2], *da = w->buf[3];
        int nlc = 0, nla = 0, ndc = 0, nda = 0;
        const int32_t cat = sim->item_cat[item];
        const int64_t total = (int64_t)nh + ep_len;
        for (int64_t t = 0; t < total; t++) {
            int32_t j;
            int lab;
            if (t < (int64_t)nh) {
                j = sim->hist_item[h0 + (uint64_t)t];
                lab = sim->hist_label[h0 + (uint64_t)t];
            } else {
                j = ep_items[t - (int64_t)nh];
                lab = ep_likes[t - (int64_t)nh] ? 1 : 0;
            }
            int same = c->category_filter && cat >= 0 && sim->item_cat[j] == cat;
            if (lab == 1) {
                la[nla++] = j;
                if (same) lc[nlc++] = j;
            } else if (lab == 0) {
                da[nda++] = j;
                if (same) dc[ndc++] = j;
            }
        }
        const int32_t *L = nlc ? lc : la, *D = ndc ? dc : da;
        const int nL = nlc ? nlc : nla, nD = ndc ? ndc : nda;
        if (c->use[US_VOTE_KEYWORD]) {
            out->pros_matches = keyword_matches(sim, 0, item, L, nL, out->matched_pros,
                                                &out->n_matched_pros);
            out->cons_matches = keyword_matches(sim, 1, item, D, nD, out->matched_cons,
                                                &out->n_matched_cons);
            const float diff = (float)(out->pros_matches - out->cons_matches);
            const float t = c->threshold[US_VOTE_KEYWORD];
            out->vote[US_VOTE_KEYWORD] = diff > t ? 1 : diff < t ? 0 : tie_break(c, rng);
            p[US_VOTE_KEYWORD] = soft_score(c, US_VOTE_KEYWORD, diff, t);
        }
        if (c->use[US_VOTE_EMBED]) {
            out->pros_sim = best_similarity(sim, 0, item, L, nL, c->empty_sim);
            out->cons_sim = best_similarity(sim, 1, item, D, nD, c->empty_sim);
            const float diff = out->pros_sim - out->cons_sim;
            const float t = c->threshold[US_VOTE_EMBED];
            out->vote[US_VOTE_EMBED] = diff > t ? 1 : diff < t ? 0 : tie_break(c, rng);
            p[US_VOTE_EMBED] = soft_score(c, US_VOTE_EMBED, diff, t);
        }
    }
    if (c->use[US_VOTE_SASREC]) {
        /* The last T items of H (every training interaction, then the episode). */
        const int T = sim->sasrec->cfg.max_len;
        const int64_t total = (int64_t)nh + ep_len;
        const int n = total < T ? (int)total : T;
        for (int k = 0; k < n; k++) {
            int64_t t = total - n + k;
            w->win[k] = t < (int64_t)nh ? sim->hist_item[h0 + (uint64_t)t]
                                        : ep_items[t - (int64_t)nh];
        }
        /* the user half is cached: only a changed window is encoded again */
        us_sasrec_user_encode(sim->sasrec, w->st, u, w->win, n);
        us_sasrec_user_score(sim->sasrec, w->st, &item, 1, &out->p_sasrec);
        const float t = c->threshold[US_VOTE_SASREC];
        out->vote[US_VOTE_SASREC] = out->p_sasrec >= t;
        p[US_VOTE_SASREC] = soft_score(c, US_VOTE_SASREC, out->p_sasrec, t);
    }

    double wsum = 0, wlike = 0, soft = 0;
    int n_use = 0, n_like = 0;
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        if (!c->use[k]) continue;
        n_use++;
        n_like += out->vote[k];
        wsum += c->weight[k];
        wlike += c->weight[k] * out->vote[k];
        soft += c->weight[k] * p[k];
    }
    out->score = wsum > 0 ? (float)(soft / wsum) : 0.5f;
    switch (c->mode) {
    case US_SIM_MAJORITY:
        out->like = 2 * n_like > n_use ? 1 : 2 * n_like < n_use ? 0 : tie_break(c, rng);
        break;
    case US_SIM_WEIGHTED:
        out->like = 2 * wlike > wsum ? 1 : 2 * wlike < wsum ? 0 : tie_break(c, rng);
        break;
    case US_SIM_STOCHASTIC:
        out->like = us_rng_float(rng) < out->score;
        break;
    }
}
