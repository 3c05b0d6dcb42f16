/* sim.c — the simulated user population (simulator.h, "Simulated users"): us_sim_open loads a
 * store's users, histories, item keywords, item vectors and the SASRec heads into flat arrays
 * once and fits what is fitted at open (the collaborative parts, the stacked judge, the
 * engagement, calibrated thresholds); us_sim_decide is the step-time reaction of one user to
 * one item, which reads those arrays and the worker's scratch only: no SQLite, no allocation,
 * no locks.
 *
 * It does not run any stage (extract, embed, train-sasrec): a store missing one is refused
 * with the command that makes them all, `usersim build`. */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/datasets.h"
#include "simulator/internal.h"
#include "simulator/sasrec/sasrec.h"
#include "simulator/simulator.h"

/* Items' keyword ids of one side as CSR: item i's sorted run is ids[off[i] .. off[i+1]). */
typedef struct kw_runs {
    uint32_t *off; /* (n_items + 1) */
    uint32_t *ids;
} kw_runs;

/* A logistic model over standardized parts (the stacked judge, the engagement):
 * P = σ(coef[0] + Σ_k coef[1+k]·(z[part[k]] - mean[k]) / sd[k]). */
typedef struct std_logit {
    int n;
    int part[US_SIM_NPARTS];
    double mean[US_SIM_NPARTS], sd[US_SIM_NPARTS], coef[US_SIM_NPARTS + 1];
    double lambda; /* the L2 strength per row chosen by cross-validation */
} std_logit;

struct us_sim {
    us_sim_config cfg;
    int n_users, n_items;
    /* training histories (split 0), CSR over users, oldest first */
    uint64_t *hist_off; /* (n_users + 1) */
    int32_t *hist_item;
    int8_t *hist_label;
    int max_hist;
    /* the same interactions sorted by item within each user: known-item look-ups */
    int32_t *known_item;
    int8_t *known_label;
    uint32_t *pop;      /* (n_items) training interactions per item */
    /* strings: raw ids, categories, keywords; each a table of offsets into one blob */
    char *blob;
    size_t blob_len, blob_cap;
    uint64_t *user_raw, *item_raw; /* offsets into blob */
    uint64_t *item_title;          /* offsets into blob; 0 = no title */
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
    us_sasrec *next;   /* next-item head (choose), NULL when not used */
    us_collab bias, mf; /* FITTED with use_collab; zeroed otherwise */
    std_logit judge;   /* FITTED: over the parts z (simulator.h) */
    std_logit engage;  /* choose: over the engagement parts e */
    us_sim_calibration calib;  /* n = 0 when not calibrated */
    us_sim_fits fits;
};

struct us_sim_worker {
    const us_sim *sim;
    int max_episode;
    us_sasrec_state *st;   /* rating head */
    us_sasrec_state *nst;  /* next-item head */
    int32_t *win;          /* (T) the rating head's window */
    int32_t *nwin;         /* (T) the next-item head's window */
    float *nh;             /* (C) the next-item head's state after nh_user's training history */
    int32_t nh_user;       /* -1: none yet */
    int32_t *buf[4];       /* liked-in-category, liked, disliked-in-category, disliked */
    double share;          /* the last judge_parts' category share of the history */
    double cat_logit;      /* and its category like rate's logit (simulator.h, "category") */
};

us_sim_config us_sim_config_default(void) {
    us_sim_config c;
    memset(&c, 0, sizeof c);
    c.mode = US_SIM_FITTED;
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
    c.use_collab = 1;
    c.mf_factors = 16;
    c.dislike_side = 1;
    c.choose = 1;
    c.next_version = 0;
    c.engage_negatives = 1;
    c.judge_known = 0;
    c.seed = 1;
    return c;
}

us_sim_config us_sim_config_paper(void) {
    us_sim_config c = us_sim_config_default();
    c.mode = US_SIM_MAJORITY;
    c.use_collab = 0;
    c.dislike_side = 0;
    c.choose = 0;
    c.judge_known = 1;
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

static us_status missing_stage(const char *path, const char *table, const char *stage,
                               us_err *err) {
    return us_err_set(err, US_ENOTFOUND, path, 0, table,
                      "the store has no %s yet (stage %s): run `usersim build %s` first", table,
                      stage, path);
}

/* One text column (raw ids, item titles) of the users or items table into offsets (n) in the
 * blob; a NULL is the empty string. */
static us_status load_text(us_sim *sim, sqlite3 *db, const char *path, const char *table,
                           const char *column, int n, uint64_t **out, us_err *err) {
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT id, %s FROM %s ORDER BY id", column, table);
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
        const char *text = (const char *)sqlite3_column_text(q, 1);
        if ((st = blob_add(sim, text, text ? (size_t)sqlite3_column_bytes(q, 1) : 0,
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
        if (!isfinite(ss)) {
            st = us_err_set(err, US_EFORMAT, path, 0, "item_vec",
                            "item %lld side %d: expected finite float32 components, found a "
                            "NaN or an infinity (not finite): run `usersim embed` again",
                            it, side);
            break;
        }
        if (!(ss > 0)) {
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

/* The rating head (next = 0) or the next-item head (next = 1) of the given version (0: the
 * newest of that head) into *out. */
static us_status load_head(us_sim *sim, sqlite3 *db, const char *path, int next,
                           int64_t version, us_sasrec **out, us_err *err) {
    const char *head = next ? "next" : "rating";
    if (version == 0) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "SELECT COALESCE(MAX(version), 0) FROM sasrec_checkpoint WHERE head = '%s'", head);
        version = count_rows(db, sql);
    }
    if (version <= 0)
        return us_err_set(err, US_ENOTFOUND, path, 0, "sasrec_checkpoint",
                          "no %s-head checkpoint: run `usersim build %s` first", head, path);
    us_status st = us_sasrec_checkpoint_load(path, version, NULL, out, err);
    if (st != US_OK) return st;
    const us_sasrec_config *c = &(*out)->cfg;
    if (c->head != (next ? US_SASREC_NEXT : US_SASREC_RATING))
        return us_err_set(err, US_EINVAL, path, 0, "sasrec_checkpoint",
                          "checkpoint %lld is a %s head; this use needs a %s head",
                          (long long)version, next ? "rating" : "next-item", head);
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

/* The labeled validation interactions (split 1) and each one's judge parts, scored as eval-sim
 * scores a held-out one (training history, empty episode): what every fit at open works on. */
typedef struct valid_set {
    size_t n;
    uint64_t n_pos;
    us_lab *rows;
    float *raw[US_SIM_NVOTES]; /* the votes' raw scores (keyword x, embedding x, p_sasrec) */
    float *sorted[US_SIM_NVOTES];
} valid_set;

static void valid_free(valid_set *v) {
    free(v->rows);
    for (int k = 0; k < US_SIM_NVOTES; k++) free(v->raw[k]), free(v->sorted[k]);
    memset(v, 0, sizeof *v);
}

static us_status load_valid(us_sim *sim, sqlite3 *db, const char *path, valid_set *v,
                            us_err *err) {
    static const char where[] = "FROM interactions WHERE split = 1 AND label IN (0, 1)";
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) %s", where);
    const long long n = count_rows(db, sql);
    if (n <= 0)
        return us_err_set(err, US_EEMPTY, path, 0, "interactions",
                          "the fitted judge, choosing and calibration need labeled validation "
                          "interactions (split 1, label 0 or 1); this store has none (open it "
                          "with the paper's reaction, us_sim_config_paper / --paper)");
    v->rows = malloc((size_t)n * sizeof *v->rows);
    if (!v->rows) return us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
    sqlite3_stmt *q = NULL;
    snprintf(sql, sizeof sql, "SELECT user, item, label %s ORDER BY user, pos", where);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_fail(db, path, "interactions", err);
    us_status st = US_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW && v->n < (size_t)n) {
        long long u = sqlite3_column_int64(q, 0), it = sqlite3_column_int64(q, 1);
        if (u < 0 || u >= sim->n_users || it < 0 || it >= sim->n_items) {
            st = us_err_set(err, US_EFORMAT, path, 0, "interactions",
                            "validation row %zu: expected user < %d, item < %d; found %lld, "
                            "%lld",
                            v->n + 1, sim->n_users, sim->n_items, u, it);
            break;
        }
        us_lab *r = &v->rows[v->n++];
        r->user = (int32_t)u;
        r->item = (int32_t)it;
        r->label = (int8_t)(sqlite3_column_int(q, 2) == 1);
        v->n_pos += (uint64_t)r->label;
    }
    if (st == US_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        st = db_fail(db, path, "interactions", err);
    sqlite3_finalize(q);
    return st;
}

/* The judge's parts of one reaction as the stacked model's inputs z (simulator.h). */
static double logit_clamped(double p) {
    const double e = 1e-6;
    p = p < e ? e : p > 1 - e ? 1 - e : p;
    return log(p / (1 - p));
}

static void parts_of(const us_sim_reaction *r, const us_sim *sim, const us_sim_worker *w,
                     double z[US_SIM_NPARTS]) {
    z[US_PART_KEYWORD] = (double)(r->pros_matches - r->cons_matches);
    z[US_PART_EMBED] = (double)r->pros_sim - (double)r->cons_sim;
    z[US_PART_SASREC] = isnan(r->p_sasrec) ? 0.0 : logit_clamped(r->p_sasrec);
    z[US_PART_BIAS] = sim->bias.bu ? logit_clamped(r->p_bias) : 0.0;
    z[US_PART_MF] = sim->mf.bu ? logit_clamped(r->p_mf) : 0.0;
    z[US_PART_CATEGORY] = w->cat_logit;
}

static void judge_parts(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                        const int8_t *ep_likes, int ep_len, int32_t item, uint32_t ties,
                        us_sim_reaction *out, float p[US_SIM_NVOTES]);
static int window(const us_sim *sim, int32_t u, const int32_t *ep_items, int ep_len, int T,
                  int32_t *win);

/* Fits the enabled votes' thresholds on the labeled validation interactions (split 1). Every
 * vote is fitted to one common target count of likes (fit_threshold), and that target is
 * searched (binary search: the ensemble's like rate does not decrease as it grows) so that the
 * ensemble's expected like rate is closest to the real one, the smaller target on equal
 * distance. Writes sim->cfg.threshold and sim->calib; runs inside us_sim_open, before sim is
 * shared. FITTED is calibrated as MAJORITY would be (its votes are reported, not used). */
static void calibrate(us_sim *sim, valid_set *v) {
    calib_data d = {.n = v->n, .n_pos = v->n_pos};
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        memcpy(v->sorted[k], v->raw[k], v->n * sizeof(float));
        qsort(v->sorted[k], v->n, sizeof(float), cmp_float);
        d.raw[k] = v->raw[k];
        d.sorted[k] = v->sorted[k];
    }
    us_sim_config c = sim->cfg;
    if (c.mode == US_SIM_FITTED) c.mode = US_SIM_MAJORITY;
    const double real = (double)d.n_pos / (double)d.n;
    float t[US_SIM_NVOTES];
    double rate[US_SIM_NVOTES];
    /* the smallest target whose ensemble rate reaches the real one, then it or the one below */
    uint64_t lo = 0, hi = d.n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (fit_all(&c, &d, mid, t, rate) >= real) hi = mid;
        else lo = mid + 1;
    }
    uint64_t target = lo;
    double at = fit_all(&c, &d, target, t, rate);
    if (target > 0 && fabs(fit_all(&c, &d, target - 1, t, rate) - real) <= fabs(at - real))
        target--;
    sim->calib.ensemble_like_rate = fit_all(&c, &d, target, t, rate);
    sim->calib.n = (uint64_t)d.n;
    sim->calib.real_like_rate = real;
    sim->calib.target_rate = (double)target / (double)d.n;
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        sim->calib.like_rate[k] = rate[k];
        if (c.use[k]) sim->cfg.threshold[k] = t[k];
    }
}

/* Scores every validation interaction's parts (votes' raw scores into v->raw, the stacked
 * model's inputs into z (n, NPARTS) when z is not NULL). */
static us_status score_valid(us_sim *sim, valid_set *v, double *z, us_err *err) {
    us_sim_worker *w = NULL;
    us_status st = us_sim_worker_init(&w, sim, 0, err);
    if (st != US_OK) return st;
    us_sim_reaction r;
    float p[US_SIM_NVOTES];
    for (size_t i = 0; i < v->n; i++) {
        judge_parts(sim, w, v->rows[i].user, NULL, NULL, 0, v->rows[i].item, 0, &r, p);
        v->raw[US_VOTE_KEYWORD][i] = (float)(r.pros_matches - r.cons_matches);
        v->raw[US_VOTE_EMBED][i] = r.pros_sim - r.cons_sim;
        v->raw[US_VOTE_SASREC][i] = r.p_sasrec;
        if (z) parts_of(&r, sim, w, z + i * US_SIM_NPARTS);
    }
    us_sim_worker_free(w);
    return US_OK;
}

/* Fits a std_logit: of the parts j < n_parts with use[j], those not constant on the rows z
 * (n, stride) are kept (their index, mean and standard deviation into m), and the model is
 * fitted to y by us_logreg_fit with the L2 penalty lambda·n, lambda chosen from
 * {1e-3, 1e-2, 1e-1, 1} by 5-fold cross-validation (row i in fold i mod 5; the smallest mean
 * held-out log loss, the smaller lambda on a tie): stronger shrinkage where the parts are
 * collinear or the rows few. Returns the mean log loss on all rows, or -1 when out of
 * memory. */
static double fit_std_logit(std_logit *m, const double *z, int stride, const int *use,
                            int n_parts, const int8_t *y, size_t n) {
    static const double grid[] = {1e-3, 1e-2, 1e-1, 1.0};
    enum { FOLDS = 5 };
    memset(m, 0, sizeof *m);
    for (int j = 0; j < n_parts; j++) {
        if (!use[j]) continue;
        double mean = 0, ss = 0;
        for (size_t i = 0; i < n; i++) mean += z[i * (size_t)stride + (size_t)j];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++) {
            const double d = z[i * (size_t)stride + (size_t)j] - mean;
            ss += d * d;
        }
        const double sd = sqrt(ss / (double)n);
        if (!(sd > 1e-12)) continue;
        m->part[m->n] = j;
        m->mean[m->n] = mean;
        m->sd[m->n] = sd;
        m->n++;
    }
    const int d = m->n;
    double *x = malloc((n * (size_t)(d ? d : 1)) * sizeof *x), *w = malloc(n * sizeof *w);
    if (!x || !w) {
        free(x);
        free(w);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < d; k++)
            x[i * (size_t)d + (size_t)k] =
                (z[i * (size_t)stride + (size_t)m->part[k]] - m->mean[k]) / m->sd[k];
    double best = INFINITY;
    m->lambda = grid[0];
    for (size_t g = 0; g < sizeof grid / sizeof *grid && n >= FOLDS; g++) {
        double held = 0;
        for (int f = 0; f < FOLDS; f++) {
            /* train on the other folds (weight 1), score this one (weight 0 in the fit) */
            double b[US_SIM_NPARTS + 1];
            size_t n_in = 0;
            for (size_t i = 0; i < n; i++) n_in += (w[i] = i % FOLDS != (size_t)f);
            us_logreg_fit(x, y, w, n, d, grid[g] * (double)n_in, b);
            for (size_t i = (size_t)f; i < n; i += FOLDS) {
                double s = b[0];
                for (int k = 0; k < d; k++) s += b[1 + k] * x[i * (size_t)d + (size_t)k];
                const double p = 1.0 / (1.0 + exp(-s)), e = 1e-7;
                held -= y[i] ? log(p > e ? p : e) : log(1 - p > e ? 1 - p : e);
            }
        }
        if (held < best) best = held, m->lambda = grid[g];
    }
    const double loss = us_logreg_fit(x, y, NULL, n, d, m->lambda * (double)n, m->coef);
    free(x);
    free(w);
    return loss;
}

/* m's coefficients by part into coef (0 for a part left out), its intercept and lambda. */
static void std_logit_report(const std_logit *m, double *coef, double *intercept,
                             double *lambda) {
    for (int k = 0; k < m->n; k++) coef[m->part[k]] = m->coef[1 + k];
    *intercept = m->coef[0];
    *lambda = m->lambda;
}

static double std_logit_eval(const std_logit *m, const double *z) {
    double s = m->coef[0];
    for (int k = 0; k < m->n; k++) s += m->coef[1 + k] * (z[m->part[k]] - m->mean[k]) / m->sd[k];
    return 1.0 / (1.0 + exp(-s));
}

/* The stacked judge (simulator.h, FITTED) on the validation interactions' parts z. */
static us_status fit_judge(us_sim *sim, const valid_set *v, const double *z, us_err *err) {
    const us_sim_config *c = &sim->cfg;
    const int use[US_SIM_NPARTS] = {c->use[US_VOTE_KEYWORD], c->use[US_VOTE_EMBED],
                                    c->use[US_VOTE_SASREC], c->use_collab, c->use_collab,
                                    c->use[US_VOTE_KEYWORD] || c->use[US_VOTE_EMBED]};
    int8_t *y = malloc(v->n);
    if (!y) return us_err_set(err, US_ENOMEM, NULL, 0, "judge", "out of memory");
    for (size_t i = 0; i < v->n; i++) y[i] = v->rows[i].label;
    const double loss = fit_std_logit(&sim->judge, z, US_SIM_NPARTS, use, US_SIM_NPARTS, y, v->n);
    free(y);
    if (loss < 0) return us_err_set(err, US_ENOMEM, NULL, 0, "judge", "out of memory");
    sim->fits.has_judge = 1;
    sim->fits.judge_logloss = loss;
    std_logit_report(&sim->judge, sim->fits.judge_coef, &sim->fits.judge_intercept,
                     &sim->fits.judge_lambda);
    return US_OK;
}

/* The engagement parts e (simulator.h, "Choosing") of the reaction just computed for item.
 * The next-item head encodes u's training history once; the worker keeps it for that user. */
static void engage_parts(const us_sim *sim, us_sim_worker *w, const us_sim_reaction *r,
                         int32_t u, int32_t item, double e[US_SIM_NENGAGE]) {
    const int C = sim->next->cfg.d;
    if (w->nh_user != u) {
        const int32_t *hist;
        const int n = us_sim_history(sim, u, &hist, NULL);
        us_sasrec_next_state(sim->next, w->nst, hist, n, w->nh);
        w->nh_user = u;
    }
    /* s = h·item_emb[item + 1], summed in double */
    const float *row = sim->next->params.item_emb + (size_t)(item + 1) * (size_t)C;
    double s = 0;
    for (int c = 0; c < C; c++) s += (double)w->nh[c] * row[c];
    e[US_ENGAGE_NEXT] = s;
    e[US_ENGAGE_POP] = log1p((double)sim->pop[item]);
    e[US_ENGAGE_SHARE] = w->share;
    e[US_ENGAGE_SIMILAR] = sim->cfg.use[US_VOTE_EMBED] ? r->pros_sim : 0.0;
}

/* The engagement (simulator.h, "Choosing"): each validation interaction's item against
 * cfg.engage_negatives items the user never touched in training, drawn from a stream of
 * cfg.seed; a logistic regression on their engagement parts. */
static us_status fit_engage(us_sim *sim, const valid_set *v, us_err *err) {
    const int K = sim->cfg.engage_negatives;
    const size_t n = v->n * (size_t)(K + 1);
    double *e = malloc(n * US_SIM_NENGAGE * sizeof *e);
    int8_t *y = malloc(n);
    us_sim_worker *w = NULL;
    us_status st = US_OK;
    if (!e || !y) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, "engage", "out of memory");
        goto done;
    }
    if ((st = us_sim_worker_init(&w, sim, 0, err)) != US_OK) goto done;
    us_rng rng = us_rng_derive(sim->cfg.seed, 0x656e67); /* "eng" */
    size_t r = 0;
    us_sim_reaction re;
    float p[US_SIM_NVOTES];
    for (size_t i = 0; i < v->n; i++) {
        const int32_t u = v->rows[i].user;
        /* too few unseen items for the negatives: the row is left out */
        if (us_sim_history(sim, u, NULL, NULL) + 1 + K > sim->n_items) continue;
        for (int j = 0; j <= K; j++, r++) {
            int32_t c = v->rows[i].item;
            if (j > 0)
                do c = (int32_t)us_rng_bounded(&rng, (uint32_t)sim->n_items);
                while (c == v->rows[i].item || us_sim_known(sim, u, c, NULL));
            judge_parts(sim, w, u, NULL, NULL, 0, c, 0, &re, p);
            engage_parts(sim, w, &re, u, c, e + r * US_SIM_NENGAGE);
            y[r] = (int8_t)(j == 0);
        }
    }
    if (r == 0) {
        st = us_err_set(err, US_EEMPTY, NULL, 0, "engage",
                        "no validation interaction left room for %d unseen items", K);
        goto done;
    }
    const int use[US_SIM_NENGAGE] = {1, 1, 1, 1};
    const double loss = fit_std_logit(&sim->engage, e, US_SIM_NENGAGE, use, US_SIM_NENGAGE, y, r);
    if (loss < 0) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, "engage", "out of memory");
        goto done;
    }
    sim->fits.has_engage = 1;
    sim->fits.engage_logloss = loss;
    std_logit_report(&sim->engage, sim->fits.engage_coef, &sim->fits.engage_intercept,
                     &sim->fits.engage_lambda);
    sim->fits.engage_rows = r;
done:
    us_sim_worker_free(w);
    free(e);
    free(y);
    return st;
}

static int cmp_known(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* known_item / known_label: each user's training interactions sorted by item; pop. */
static us_status index_known(us_sim *sim, const char *path, us_err *err) {
    const uint64_t n = sim->hist_off[sim->n_users];
    sim->known_item = malloc((size_t)n * sizeof *sim->known_item);
    sim->known_label = malloc((size_t)n);
    sim->pop = calloc((size_t)sim->n_items, sizeof *sim->pop);
    int64_t *key = malloc(((size_t)sim->max_hist + 1) * sizeof *key);
    if (!sim->known_item || !sim->known_label || !sim->pop || !key) {
        free(key);
        return us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
    }
    for (int u = 0; u < sim->n_users; u++) {
        const uint64_t a = sim->hist_off[u], len = sim->hist_off[u + 1] - a;
        /* item in the high bits, the label (+1, so 0..2) in the low ones: one sort key */
        for (uint64_t j = 0; j < len; j++) {
            key[j] = (int64_t)sim->hist_item[a + j] * 4 + (sim->hist_label[a + j] + 1);
            sim->pop[sim->hist_item[a + j]]++;
        }
        qsort(key, (size_t)len, sizeof *key, cmp_known);
        for (uint64_t j = 0; j < len; j++) {
            sim->known_item[a + j] = (int32_t)(key[j] / 4);
            sim->known_label[a + j] = (int8_t)(key[j] % 4 - 1);
        }
    }
    free(key);
    return US_OK;
}

/* The training split's labeled interactions as rows for the collaborative fits. */
static us_status fit_collab(us_sim *sim, const valid_set *v, const char *path, us_err *err) {
    const uint64_t n = sim->hist_off[sim->n_users];
    us_lab *t = malloc(((size_t)n + 1) * sizeof *t);
    if (!t) return us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
    size_t m = 0;
    for (int u = 0; u < sim->n_users; u++)
        for (uint64_t j = sim->hist_off[u]; j < sim->hist_off[u + 1]; j++)
            if (sim->hist_label[j] >= 0)
                t[m++] = (us_lab){u, sim->hist_item[j], sim->hist_label[j]};
    us_status st = us_collab_fit_bias(&sim->bias, sim->n_users, sim->n_items, t, m, v->rows, v->n);
    if (st == US_OK)
        st = us_collab_fit_mf(&sim->mf, sim->n_users, sim->n_items, sim->cfg.mf_factors, t, m,
                              v->rows, v->n, sim->cfg.seed);
    free(t);
    if (st != US_OK) return us_err_set(err, st, path, 0, "interactions", "out of memory");
    sim->fits.has_collab = 1;
    sim->fits.bias_logloss = sim->bias.valid_logloss;
    sim->fits.mf_logloss = sim->mf.valid_logloss;
    sim->fits.mf_epochs = sim->mf.epochs;
    return US_OK;
}

static us_status check_config(const us_sim_config *c, const char *path, us_err *err) {
    if (!c->use[0] && !c->use[1] && !c->use[2])
        return us_err_set(err, US_EINVAL, path, 0, "use", "expected at least one vote in use");
    if (c->mode > US_SIM_FITTED || c->tie > US_TIE_DISLIKE)
        return us_err_set(err, US_EINVAL, path, 0, "mode", "expected a known mode and tie rule");
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (!isfinite(c->threshold[k]))
            return us_err_set(err, US_EINVAL, path, 0, "threshold",
                              "expected finite thresholds, found %g for vote %d",
                              (double)c->threshold[k], k);
    const struct {
        const char *name;
        long long v, lo, hi;
    } range[] = {
        {"calibrate", c->calibrate, 0, 1},       {"use_collab", c->use_collab, 0, 1},
        {"mf_factors", c->mf_factors, 1, 256},   {"dislike_side", c->dislike_side, 0, 1},
        {"choose", c->choose, 0, 1},             {"engage_negatives", c->engage_negatives, 1, 100},
        {"judge_known", c->judge_known, 0, 1},   {"category_filter", c->category_filter, 0, 1},
    };
    for (size_t k = 0; k < sizeof range / sizeof *range; k++)
        if (range[k].v < range[k].lo || range[k].v > range[k].hi)
            return us_err_set(err, US_EINVAL, path, 0, range[k].name,
                              "expected %lld..%lld, found %lld", range[k].lo, range[k].hi,
                              range[k].v);
    return US_OK;
}

us_status us_sim_head_check(const char *path, int next, us_err *err) {
    us_status st = us_store_check(path, err);
    if (st != US_OK) return st;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        st = db_fail(db, path, NULL, err);
        sqlite3_close(db);
        return st;
    }
    /* load_head reads only the population's sizes from the sim */
    us_sim probe;
    memset(&probe, 0, sizeof probe);
    const long long nu = count_rows(db, "SELECT COUNT(*) FROM users");
    const long long ni = count_rows(db, "SELECT COUNT(*) FROM items");
    if (nu <= 0 || ni <= 0 || nu > INT32_MAX - 1 || ni > INT32_MAX - 1) {
        sqlite3_close(db);
        return us_err_set(err, US_EFORMAT, path, 0, NULL,
                          "not a usersim store with users and items");
    }
    probe.n_users = (int)nu;
    probe.n_items = (int)ni;
    us_sasrec *m = NULL;
    st = load_head(&probe, db, path, next, 0, &m, err);
    us_sasrec_free(m);
    sqlite3_close(db);
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
    valid_set v = {0};
    double *z = NULL;
    const us_sim_config *c = &sim->cfg;
    if ((st = check_config(c, path, err)) != US_OK) goto done;
    /* a store held by a writer, cut short or from a newer usersim: said as such */
    if ((st = us_store_check(path, err)) != US_OK) goto done;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        st = db_fail(db, path, NULL, err);
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
    if ((st = load_text(sim, db, path, "users", "raw_id", sim->n_users, &sim->user_raw, err)) !=
            US_OK ||
        (st = load_text(sim, db, path, "items", "raw_id", sim->n_items, &sim->item_raw, err)) !=
            US_OK ||
        (st = load_text(sim, db, path, "items", "title", sim->n_items, &sim->item_title, err)) !=
            US_OK ||
        (st = load_histories(sim, db, path, err)) != US_OK ||
        (st = index_known(sim, path, err)) != US_OK)
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
    if (c->use[US_VOTE_SASREC] || c->choose) {
        if (!table_exists(db, "sasrec_checkpoint")) {
            st = missing_stage(path, "sasrec_checkpoint", "train-sasrec", err);
            goto done;
        }
    }
    if (c->use[US_VOTE_SASREC] &&
        (st = load_head(sim, db, path, 0, c->sasrec_version, &sim->sasrec, err)) != US_OK)
        goto done;
    if (c->choose && (st = load_head(sim, db, path, 1, c->next_version, &sim->next, err)) != US_OK)
        goto done;
    if (!c->choose && table_exists(db, "sasrec_checkpoint")) {
        /* judge only: the next-item head is not the user's, but a greedy SASRec recommender
         * (us_sim_next_scores) still ranks with it when the store has one */
        us_err ignored;
        if (load_head(sim, db, path, 1, c->next_version, &sim->next, &ignored) != US_OK) {
            us_sasrec_free(sim->next);
            sim->next = NULL;
        }
    }
    const int fitted = c->mode == US_SIM_FITTED;
    if (fitted || c->calibrate || c->choose) {
        if ((st = load_valid(sim, db, path, &v, err)) != US_OK) goto done;
        sim->fits.n_valid = v.n;
    }
    if (fitted && c->use_collab && (st = fit_collab(sim, &v, path, err)) != US_OK) goto done;
    if (fitted || c->calibrate) {
        for (int k = 0; k < US_SIM_NVOTES; k++)
            if (!(v.raw[k] = malloc(v.n * sizeof(float))) ||
                !(v.sorted[k] = malloc(v.n * sizeof(float)))) {
                st = us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
                goto done;
            }
        if (fitted && !(z = malloc(v.n * US_SIM_NPARTS * sizeof *z))) {
            st = us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
            goto done;
        }
        if ((st = score_valid(sim, &v, z, err)) != US_OK) goto done;
        if (c->calibrate) calibrate(sim, &v);
        if (fitted && (st = fit_judge(sim, &v, z, err)) != US_OK) goto done;
    }
    if (c->choose && (st = fit_engage(sim, &v, err)) != US_OK) goto done;
done:
    sqlite3_close(db);
    valid_free(&v);
    free(z);
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
    free(sim->known_item);
    free(sim->known_label);
    free(sim->pop);
    free(sim->blob);
    free(sim->user_raw);
    free(sim->item_raw);
    free(sim->item_title);
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
    us_sasrec_free(sim->next);
    us_collab_free(&sim->bias);
    us_collab_free(&sim->mf);
    free(sim);
}

int us_sim_n_users(const us_sim *sim) { return sim->n_users; }
int us_sim_n_items(const us_sim *sim) { return sim->n_items; }
const us_sim_config *us_sim_config_of(const us_sim *sim) { return &sim->cfg; }

void us_sim_thresholds(const us_sim *sim, float out[US_SIM_NVOTES]) {
    for (int k = 0; k < US_SIM_NVOTES; k++) out[k] = sim->cfg.threshold[k];
}

void us_sim_calibration_of(const us_sim *sim, us_sim_calibration *out) { *out = sim->calib; }
void us_sim_fits_of(const us_sim *sim, us_sim_fits *out) { *out = sim->fits; }

const us_collab *us_sim_collab_of(const us_sim *sim, int mf) {
    const us_collab *m = mf ? &sim->mf : &sim->bias;
    return m->bu ? m : NULL;
}
const uint32_t *us_sim_popularity(const us_sim *sim) { return sim->pop; }

int us_sim_history(const us_sim *sim, int32_t u, const int32_t **items, const int8_t **labels) {
    US_ASSERT(u >= 0 && u < sim->n_users);
    uint64_t a = sim->hist_off[u], b = sim->hist_off[u + 1];
    if (items) *items = sim->hist_item + a;
    if (labels) *labels = sim->hist_label + a;
    return (int)(b - a);
}

int us_sim_known(const us_sim *sim, int32_t u, int32_t item, int *label) {
    US_ASSERT(u >= 0 && u < sim->n_users);
    uint64_t lo = sim->hist_off[u], hi = sim->hist_off[u + 1];
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        if (sim->known_item[mid] < item) lo = mid + 1;
        else hi = mid;
    }
    if (lo < sim->hist_off[u + 1] && sim->known_item[lo] == item) {
        /* a user who met an item twice keeps each interaction: the first in sort order (the
         * lowest label) is reported */
        if (label) *label = sim->known_label[lo];
        return 1;
    }
    return 0;
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

const float *us_sim_item_vector(const us_sim *sim, int32_t i, int side, int *dim) {
    if (dim) *dim = sim->dim;
    if (!sim->vec || i < 0 || i >= sim->n_items || side < 0 || side > 1 ||
        !sim->has_vec[(size_t)i * 2 + (size_t)side])
        return NULL;
    return sim->vec + ((size_t)i * 2 + (size_t)side) * (size_t)sim->dim;
}

const char *us_sim_item_title(const us_sim *sim, int32_t i) {
    return i >= 0 && i < sim->n_items ? sim->blob + sim->item_title[i] : "";
}

int us_sim_item_keywords(const us_sim *sim, int32_t i, int side, const uint32_t **ids) {
    if (!sim->kw[0].off || i < 0 || i >= sim->n_items || side < 0 || side > 1) return 0;
    const kw_runs *r = &sim->kw[side];
    if (ids) *ids = r->ids + r->off[i];
    return (int)(r->off[i + 1] - r->off[i]);
}

const float *us_sim_item_vectors(const us_sim *sim, int *dim, const uint8_t **has) {
    if (dim) *dim = sim->vec ? sim->dim : 0;
    if (has) *has = sim->vec ? sim->has_vec : NULL;
    return sim->vec;
}

const int32_t *us_sim_item_categories(const us_sim *sim, int *n_cats) {
    if (n_cats) *n_cats = sim->item_cat ? sim->n_cats : 0;
    return sim->item_cat;
}

const char *us_sim_category_name(const us_sim *sim, int c) {
    if (!sim->cat_text || c < 0 || c >= sim->n_cats) return "";
    return sim->blob + sim->cat_text[c];
}

uint32_t us_sim_keyword_csr(const us_sim *sim, int side, const uint32_t **off,
                            const uint32_t **ids) {
    const int ok = sim->kw[0].off && side >= 0 && side <= 1;
    if (off) *off = ok ? sim->kw[side].off : NULL;
    if (ids) *ids = ok ? sim->kw[side].ids : NULL;
    return ok ? sim->kw[side].off[sim->n_items] : 0;
}

uint32_t us_sim_n_keywords(const us_sim *sim) { return sim->kw_text ? sim->kw_max + 1 : 0; }

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
    w->nh_user = -1;
    size_t cap = (size_t)sim->max_hist + (size_t)max_episode + 1;
    for (int b = 0; b < 4; b++) {
        w->buf[b] = malloc(cap * sizeof *w->buf[b]);
        if (!w->buf[b]) {
            us_sim_worker_free(w);
            return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        }
    }
    const us_sasrec *heads[2] = {sim->sasrec, sim->next};
    for (int h = 0; h < 2; h++) {
        if (!heads[h]) continue;
        us_sasrec_state **st = h ? &w->nst : &w->st;
        int32_t **win = h ? &w->nwin : &w->win;
        us_status s = us_sasrec_state_init(st, heads[h], 64, err);
        *win = malloc((size_t)heads[h]->cfg.max_len * sizeof **win);
        if (h) w->nh = malloc((size_t)heads[h]->cfg.d * sizeof *w->nh);
        if (s != US_OK || !*win || (h && !w->nh)) {
            us_sim_worker_free(w);
            return s != US_OK ? s : us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        }
    }
    *out = w;
    return US_OK;
}

void us_sim_worker_free(us_sim_worker *w) {
    if (!w) return;
    us_sasrec_state_free(w->st);
    us_sasrec_state_free(w->nst);
    free(w->win);
    free(w->nwin);
    free(w->nh);
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

/* How many of item's keywords of side s occur in side t of any item of set[0..n); the first
 * of them (up to US_SIM_MAX_MATCHED in all) are appended to matched. */
static int keyword_matches(const us_sim *sim, int s, int t, int32_t item, const int32_t *set,
                           int n, uint32_t *matched, int *n_matched) {
    const kw_runs *r = &sim->kw[s], *q = &sim->kw[t];
    int count = 0;
    for (uint32_t a = r->off[item]; a < r->off[item + 1]; a++) {
        uint32_t k = r->ids[a];
        for (int j = 0; j < n; j++) {
            uint32_t o = q->off[set[j]];
            if (has_id(q->ids + o, q->off[set[j] + 1] - o, k)) {
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

/* Highest cosine between item's side-s vector and the side-t vectors of set[0..n); -INFINITY
 * when there is none. */
static float best_similarity(const us_sim *sim, int s, int t, int32_t item, const int32_t *set,
                             int n) {
    if (!sim->has_vec[(size_t)item * 2 + (size_t)s]) return -INFINITY;
    const float *x = sim->vec + ((size_t)item * 2 + (size_t)s) * (size_t)sim->dim;
    float best = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (!sim->has_vec[(size_t)set[j] * 2 + (size_t)t]) continue;
        const float *y = sim->vec + ((size_t)set[j] * 2 + (size_t)t) * (size_t)sim->dim;
        float dot = dot8(x, y, sim->dim);
        if (dot > best) best = dot;
    }
    return best;
}

/* Tie bit k (0 keyword, 1 embedding, 2 ensemble) of the reaction's tie draw: under
 * US_TIE_RANDOM a fair coin, under US_TIE_DISLIKE always 0. */
static int tie_break(const us_sim_config *c, uint32_t ties, int k) {
    return c->tie == US_TIE_RANDOM ? (int)(ties >> (31 - k) & 1u) : 0;
}

/* The last T items of H (training history, then the episode) into win (T entries at most);
 * returns how many. */
static int window(const us_sim *sim, int32_t u, const int32_t *ep_items, int ep_len, int T,
                  int32_t *win) {
    const uint64_t h0 = sim->hist_off[u], nh = sim->hist_off[u + 1] - h0;
    const int64_t total = (int64_t)nh + ep_len;
    const int n = total < T ? (int)total : T;
    for (int k = 0; k < n; k++) {
        int64_t t = total - n + k;
        win[k] = t < (int64_t)nh ? sim->hist_item[h0 + (uint64_t)t] : ep_items[t - (int64_t)nh];
    }
    return n;
}

/* Every part of the judge (simulator.h) for u and item: the votes (ties from the tie bits),
 * their soft scores p (at the thresholds in use) and the collaborative parts, into out. */
static void judge_parts(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                        const int8_t *ep_likes, int ep_len, int32_t item, uint32_t ties,
                        us_sim_reaction *out, float p[US_SIM_NVOTES]) {
    const us_sim_config *c = &sim->cfg;
    memset(out, 0, sizeof *out);
    out->p_sasrec = out->p_bias = out->p_mf = NAN;
    out->logged = -1;
    for (int k = 0; k < US_SIM_NVOTES; k++) out->vote[k] = -1, p[k] = 0.5f;
    w->share = 0.0;
    w->cat_logit = 0.0;
    const uint64_t h0 = sim->hist_off[u], nh = sim->hist_off[u + 1] - h0;

    if (c->use[US_VOTE_KEYWORD] || c->use[US_VOTE_EMBED]) {
        /* L and D: liked / disliked items of H, those of item's category kept apart. */
        int32_t *lc = w->buf[0], *la = w->buf[1], *dc = w->buf[2], *da = w->buf[3];
        int nlc = 0, nla = 0, ndc = 0, nda = 0;
        int64_t n_same = 0;
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
            const int in_cat = cat >= 0 && sim->item_cat[j] == cat;
            n_same += in_cat;
            int same = c->category_filter && in_cat;
            if (lab == 1) {
                la[nla++] = j;
                if (same) lc[nlc++] = j;
            } else if (lab == 0) {
                da[nda++] = j;
                if (same) dc[ndc++] = j;
            }
        }
        w->share = total ? (double)n_same / (double)total : 0.0;
        /* the user's like rate in the candidate's category, shrunk to their overall rate
         * with the weight of 2 interactions: (likes + 2 r) / (labeled + 2) */
        {
            int cl = 0, cd = 0;
            for (int k = 0; k < nla; k++) cl += cat >= 0 && sim->item_cat[la[k]] == cat;
            for (int k = 0; k < nda; k++) cd += cat >= 0 && sim->item_cat[da[k]] == cat;
            const double rate = (nla + 1.0) / (nla + nda + 2.0);
            w->cat_logit = logit_clamped((cl + 2.0 * rate) / (cl + cd + 2.0));
        }
        const int32_t *L = nlc ? lc : la, *D = ndc ? dc : da;
        const int nL = nlc ? nlc : nla, nD = ndc ? ndc : nda;
        if (c->use[US_VOTE_KEYWORD]) {
            out->pros_matches = keyword_matches(sim, 0, 0, item, L, nL, out->matched_pros,
                                                &out->n_matched_pros);
            out->cons_matches = keyword_matches(sim, 1, 1, item, D, nD, out->matched_cons,
                                                &out->n_matched_cons);
            if (c->dislike_side)
                out->cons_matches += keyword_matches(sim, 0, 0, item, D, nD, out->matched_cons,
                                                     &out->n_matched_cons);
            const float diff = (float)(out->pros_matches - out->cons_matches);
            const float t = c->threshold[US_VOTE_KEYWORD];
            out->vote[US_VOTE_KEYWORD] = diff > t ? 1 : diff < t ? 0 : tie_break(c, ties, 0);
            p[US_VOTE_KEYWORD] = soft_score(c, US_VOTE_KEYWORD, diff, t);
        }
        if (c->use[US_VOTE_EMBED]) {
            float ps = best_similarity(sim, 0, 0, item, L, nL);
            float cs = best_similarity(sim, 1, 1, item, D, nD);
            if (c->dislike_side) {
                const float pd = best_similarity(sim, 0, 0, item, D, nD);
                if (pd > cs) cs = pd;
            }
            out->pros_sim = ps == -INFINITY ? c->empty_sim : ps;
            out->cons_sim = cs == -INFINITY ? c->empty_sim : cs;
            const float diff = out->pros_sim - out->cons_sim;
            const float t = c->threshold[US_VOTE_EMBED];
            out->vote[US_VOTE_EMBED] = diff > t ? 1 : diff < t ? 0 : tie_break(c, ties, 1);
            p[US_VOTE_EMBED] = soft_score(c, US_VOTE_EMBED, diff, t);
        }
    }
    if (c->use[US_VOTE_SASREC]) {
        const int n = window(sim, u, ep_items, ep_len, sim->sasrec->cfg.max_len, w->win);
        /* the user half is cached: only a changed window is encoded again */
        us_sasrec_user_encode(sim->sasrec, w->st, u, w->win, n);
        us_sasrec_user_score(sim->sasrec, w->st, &item, 1, &out->p_sasrec);
        const float t = c->threshold[US_VOTE_SASREC];
        out->vote[US_VOTE_SASREC] = out->p_sasrec >= t;
        p[US_VOTE_SASREC] = soft_score(c, US_VOTE_SASREC, out->p_sasrec, t);
    }
    if (sim->bias.bu) {
        out->p_bias = (float)(1.0 / (1.0 + exp(-us_collab_logit(&sim->bias, u, item))));
        out->p_mf = (float)(1.0 / (1.0 + exp(-us_collab_logit(&sim->mf, u, item))));
    }
}

int us_sim_next_scores(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                       int ep_len, float *out) {
    if (!sim->next) return 0;
    US_ASSERT(u >= 0 && u < sim->n_users && ep_len >= 0 && ep_len <= w->max_episode);
    const int n = window(sim, u, ep_items, ep_len, sim->next->cfg.max_len, w->nwin);
    us_sasrec_next_score(sim->next, w->nst, w->nwin, n, NULL, sim->n_items, out);
    return 1;
}

void us_sim_decide(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                   const int8_t *ep_likes, int ep_len, int32_t item, us_rng *rng,
                   us_sim_reaction *out) {
    const us_sim_config *c = &sim->cfg;
    US_ASSERT(u >= 0 && u < sim->n_users && item >= 0 && item < sim->n_items);
    US_ASSERT(ep_len >= 0 && ep_len <= w->max_episode && w->sim == sim);
    /* the three draws, always, in this order (simulator.h, "Randomness") */
    const float u_engage = us_rng_float(rng), u_judge = us_rng_float(rng);
    const uint32_t ties = us_rng_u32(rng);

    int logged = -1, repeat = us_sim_known(sim, u, item, &logged);
    for (int t = 0; t < ep_len && !repeat; t++) repeat = ep_items[t] == item;
    if (repeat && !c->judge_known) {
        memset(out, 0, sizeof *out);
        out->p_sasrec = out->p_bias = out->p_mf = NAN;
        for (int k = 0; k < US_SIM_NVOTES; k++) out->vote[k] = -1;
        out->repeat = 1;
        out->logged = logged;
        return;
    }
    float p[US_SIM_NVOTES];
    judge_parts(sim, w, u, ep_items, ep_likes, ep_len, item, ties, out, p);
    out->repeat = repeat;
    out->logged = logged;

    if (c->mode == US_SIM_FITTED) {
        double z[US_SIM_NPARTS];
        parts_of(out, sim, w, z);
        out->score = (float)std_logit_eval(&sim->judge, z);
        out->judged = u_judge < out->score;
    } else {
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
            out->judged = 2 * n_like > n_use ? 1 : 2 * n_like < n_use ? 0 : tie_break(c, ties, 2);
            break;
        case US_SIM_WEIGHTED:
            out->judged = 2 * wlike > wsum ? 1 : 2 * wlike < wsum ? 0 : tie_break(c, ties, 2);
            break;
        default:
            out->judged = u_judge < out->score;
            break;
        }
    }
    out->p_engage = 1.0f;
    out->engage = 1;
    if (c->choose) {
        double e[US_SIM_NENGAGE];
        engage_parts(sim, w, out, u, item, e);
        out->p_engage = (float)std_logit_eval(&sim->engage, e);
        out->engage = u_engage < out->p_engage;
    }
    out->like = out->engage && out->judged;
    out->p_reward = out->p_engage * out->score;
}
