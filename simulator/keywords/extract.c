/* extract.c — the extract stage driver: which items need which pass, running the passes
 * (built-in, or an LLM through llm.h), the cache in the extraction table, and the rebuild of
 * the final keyword tables from it.
 *
 * Crash safety: every pass result is an INSERT OR REPLACE keyed by (item, pass, prompt
 * version, model), committed in small transactions (the built-in path: commit_every items;
 * the LLM path: each answer as it arrives). A killed run loses at most the uncommitted tail,
 * and the next run does exactly the items that have no row. The final tables are rebuilt from
 * the cache in one transaction, so they are either the old ones or the new ones.
 *
 * Categories: the store's meta key category_kind says whether an item's categories are a path
 * ("path": Amazon, root first) or a list of genres or tags ("list": MovieLens, Anime, Yelp);
 * a store without the key is a path store. The item's category (item_profile.category, the
 * filter of the keyword and embedding votes) is the pass's when an LLM names one, else
 * kw_category_choose's: the entry the fewest items of the catalogue share, past the root of
 * a path, so that the category is the most specific one the data supports and not the first
 * genre in alphabetical order (which put every MovieLens "Action" film that is also an
 * "Adventure" under "Adventure", and rap albums under "Blues").
 *
 * It deliberately does not: share work between stores, or re-extract an item whose inputs
 * (metadata, reviews) changed under the same prompt and model — a new ingest makes a new store.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "simulator/keywords/extract_internal.h"
#include "simulator/keywords/llm.h"

/* The built-in passes' cache versions: the extractor's version, and for the subjective pass
 * the vote threshold too, since it changes the result ("builtin-v1:0.2"). */
#define BUILTIN_VERSION "builtin-v2"
#define BUILTIN_MODEL "builtin"

us_extract_config us_extract_config_default(void) {
    return (us_extract_config){
        .llm_url = NULL,
        .model = NULL,
        .api_key = NULL,
        .prompts_dir = NULL,
        .batching = US_EXTRACT_PER_ITEM,
        .format = US_EXTRACT_LINES,
        .concurrency = 4,
        .timeout_s = 60,
        .max_retries = 4,
        .max_tokens = 512,
        .temperature = 0.0,
        .limit = 0,
        .reviews_per_item = 20,
        .review_chars = 600,
        .item_budget_chars = 6000,
        .min_items = 2,
        .max_item_share = 0.25,
        .max_per_side = 10,
        .min_review_share = 0.2,
        .commit_every = 64,
        .seed = 1,
        .quiet = 0,
        .log = NULL,
        .progress = NULL,
        .progress_ctx = NULL,
    };
}

static us_status validate(const us_extract_config *c, us_err *err) {
    int llm = c->llm_url && c->llm_url[0];
    if (llm && (!c->model || !c->model[0]))
        return us_err_set(err, US_EINVAL, NULL, 0, "model", "expected a model name with an LLM "
                          "URL, found none");
    char why[128];
    if (llm && us_llm_url_scheme_ok(c->llm_url, why, sizeof why) != 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "llm_url", "expected an http:// or https:// "
                          "URL, found %s (no other protocol is used)", why);
    if (c->concurrency < 1 || c->concurrency > 1024)
        return us_err_set(err, US_EINVAL, NULL, 0, "concurrency", "expected 1..1024, found %d",
                          c->concurrency);
    if (c->min_items < 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "min_items", "expected >= 1, found %d",
                          c->min_items);
    if (!(c->max_item_share > 0 && c->max_item_share <= 1))
        return us_err_set(err, US_EINVAL, NULL, 0, "max_item_share", "expected a share in "
                          "(0, 1], found %g", c->max_item_share);
    if (c->max_per_side < 1 || c->max_per_side > 100)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_per_side", "expected 1..100, found %d",
                          c->max_per_side);
    if (!(c->min_review_share >= 0 && c->min_review_share <= 1))
        return us_err_set(err, US_EINVAL, NULL, 0, "min_review_share", "expected a share in "
                          "[0, 1], found %g", c->min_review_share);
    if (c->commit_every < 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "commit_every", "expected >= 1, found %d",
                          c->commit_every);
    if (c->reviews_per_item < 1 || c->review_chars < 40 || c->item_budget_chars < c->review_chars)
        return us_err_set(err, US_EINVAL, NULL, 0, "reviews_per_item", "expected >= 1 reviews "
                          "of >= 40 bytes within the item budget, found %d of %d in %d",
                          c->reviews_per_item, c->review_chars, c->item_budget_chars);
    if ((unsigned)c->batching > US_EXTRACT_PER_REVIEW || (unsigned)c->format > US_EXTRACT_JSON)
        return us_err_set(err, US_EINVAL, NULL, 0, "batching", "expected a known batching and "
                          "format");
    return US_OK;
}

/* ------------------------------------------------------------------------------------------
 * The store
 * ---------------------------------------------------------------------------------------- */

typedef struct stage {
    const char *path;
    sqlite3 *db;
    const us_extract_config *cfg;
    kw_scale scale;
    int category_list; /* meta category_kind = 'list' */
    kw_catalogue cats; /* category entries over the items in scope */
    /* Items in scope, in id order, with their metadata (strings owned here). */
    size_t n;
    kw_item_meta *items;
    char **strs; /* 5 per item: title, categories, description, brand, attributes */
    sqlite3_stmt *put;     /* INSERT OR REPLACE INTO extraction */
    sqlite3_stmt *reviews; /* one item's reviews */
    sqlite3_stmt *logreq;  /* INSERT INTO llm_request */
    us_extract_report *rep;
    us_progress bar;
    uint64_t done_units, total_units, failed_units;
    int wrote; /* this run wrote a row to the cache */
} stage;

static us_status dberr(stage *s, const char *what, us_err *err) {
    return us_err_set(err, US_EDB, s->path, 0, NULL, "%s: %s", what, sqlite3_errmsg(s->db));
}

static us_status exec(stage *s, const char *sql, us_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        us_status st = us_err_set(err, US_EDB, s->path, 0, NULL, "%s: %s", sql,
                                  msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return st;
    }
    return US_OK;
}

static char *dup_col(sqlite3_stmt *q, int col) {
    const unsigned char *t = sqlite3_column_text(q, col);
    if (!t) return NULL;
    size_t n = (size_t)sqlite3_column_bytes(q, col);
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, t, n);
        p[n] = '\0';
    }
    return p;
}

static us_status open_store(stage *s, int readonly, us_err *err) {
    /* locked, truncated, newer or not a store at all: said as such, before anything else */
    us_status cst = us_store_check(s->path, err);
    if (cst != US_OK) return cst;
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (sqlite3_open_v2(s->path, &s->db, flags, NULL) != SQLITE_OK) {
        us_status st = dberr(s, "cannot open the store", err);
        sqlite3_close(s->db);
        s->db = NULL;
        return st;
    }
    sqlite3_busy_timeout(s->db, 10000);
    /* Reviews are read item by item through interactions_item, so their pages come in random
     * order: with SQLite's default 2 MiB page cache every one was a pread (911,746 of them for
     * 500,000 reviews, a quarter of the stage's CPU time in the kernel). Read through a memory
     * map instead (SQLite caps the size at its build's limit, 2 GiB by default; pages past it
     * are still read). The map's pages count in the resident size but are the page cache's,
     * clean, and given back under memory pressure. */
    if (exec(s, "PRAGMA mmap_size=2147418112", err) != US_OK) return err->code;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'format'", -1, &q,
                           NULL) != SQLITE_OK)
        return us_err_set(err, US_EFORMAT, s->path, 0, NULL, "not a usersim store: %s",
                          sqlite3_errmsg(s->db));
    us_format f = US_FORMAT_AMAZON;
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        us_err e2;
        if (name && us_format_parse(name, &f, &e2) != US_OK) f = US_FORMAT_AMAZON;
    }
    sqlite3_finalize(q);
    us_format_scale(f, &s->scale.min, &s->scale.max, &s->scale.like_threshold);
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'like_threshold'", -1,
                           &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        sqlite3_column_type(q, 0) != SQLITE_NULL)
        s->scale.like_threshold = sqlite3_column_double(q, 0);
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'category_kind'", -1,
                           &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(q, 0);
        s->category_list = kind && strcmp(kind, "list") == 0;
    }
    sqlite3_finalize(q);
    if (!readonly) {
        if (exec(s, "PRAGMA synchronous=NORMAL", err) != US_OK) return err->code;
        return kw_schema(s->db, s->path, err);
    }
    return US_OK;
}

static us_status load_items(stage *s, us_err *err) {
    sqlite3_stmt *q = NULL;
    const char *sql = "SELECT id, title, categories, description, brand, attributes FROM items "
                      "ORDER BY id LIMIT ?";
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
        return dberr(s, "reading items", err);
    sqlite3_bind_int64(q, 1, s->cfg->limit ? (int64_t)s->cfg->limit : -1);
    size_t cap = 0, scap = 0;
    us_status st = US_OK;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (us_grow((void **)&s->items, &cap, s->n + 1, sizeof *s->items) != US_OK ||
            us_grow((void **)&s->strs, &scap, (s->n + 1) * 5, sizeof *s->strs) != US_OK) {
            st = us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
            break;
        }
        char **str = s->strs + s->n * 5;
        for (int k = 0; k < 5; k++) str[k] = dup_col(q, 1 + k);
        s->items[s->n] = (kw_item_meta){.id = sqlite3_column_int64(q, 0), .title = str[0],
                                        .categories_json = str[1], .description = str[2],
                                        .brand = str[3], .attributes_json = str[4],
                                        .category_list = s->category_list};
        s->n++;
    }
    if (st == US_OK && rc != SQLITE_DONE) st = dberr(s, "reading items", err);
    sqlite3_finalize(q);
    if (st == US_OK && kw_catalogue_init(&s->cats, s->items, s->n) != US_OK)
        st = us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
    return st;
}

static void stage_free(stage *s) {
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->reviews);
    sqlite3_finalize(s->logreq);
    if (s->db) sqlite3_close(s->db);
    for (size_t i = 0; i < s->n * 5; i++) free(s->strs[i]);
    free(s->strs);
    free(s->items);
    kw_catalogue_free(&s->cats);
}

/* done[i] = 1 when item i (index in scope) has an 'ok' row for the pass key. */
static us_status done_flags(stage *s, const char *pass, const char *ver, const char *model,
                            unsigned char *done, us_err *err) {
    memset(done, 0, s->n);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT item FROM extraction WHERE pass = ? AND "
                                  "prompt_version = ? AND model = ? AND status = 'ok'",
                           -1, &q, NULL) != SQLITE_OK)
        return dberr(s, "reading the cache", err);
    sqlite3_bind_text(q, 1, pass, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, ver, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, model, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        /* Items are in id order: binary search. */
        size_t lo = 0, hi = s->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (s->items[mid].id < id) lo = mid + 1;
            else hi = mid;
        }
        if (lo < s->n && s->items[lo].id == id) done[lo] = 1;
    }
    sqlite3_finalize(q);
    return US_OK;
}

/* Stores one pass result (status 'ok' with result, or 'failed' with error and raw). */
static us_status put_result(stage *s, int64_t item, const char *pass, const char *ver,
                            const char *model, const cJSON *result, const char *raw,
                            const char *error, int attempts, us_err *err) {
    if (!s->put &&
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO extraction(item, pass, prompt_version, "
                                  "model, status, result, raw, error, attempts) "
                                  "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &s->put, NULL) !=
            SQLITE_OK)
        return dberr(s, "preparing the cache insert", err);
    char *text = result ? cJSON_PrintUnformatted(result) : NULL;
    if (result && !text) return us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
    sqlite3_stmt *q = s->put;
    sqlite3_bind_int64(q, 1, item);
    sqlite3_bind_text(q, 2, pass, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, ver, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, result ? "ok" : "failed", -1, SQLITE_STATIC);
    if (text) sqlite3_bind_text(q, 6, text, -1, SQLITE_STATIC);
    else sqlite3_bind_null(q, 6);
    if (raw) sqlite3_bind_text(q, 7, raw, -1, SQLITE_STATIC);
    else sqlite3_bind_null(q, 7);
    if (error) sqlite3_bind_text(q, 8, error, -1, SQLITE_STATIC);
    else sqlite3_bind_null(q, 8);
    sqlite3_bind_int(q, 9, attempts);
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    cJSON_free(text);
    if (rc != SQLITE_DONE) return dberr(s, "writing the cache", err);
    s->wrote = 1;
    return US_OK;
}

/* One item's reviews (rating, title, text) in interaction order; strings owned by *strs. */
typedef struct review_set {
    kw_review *r;
    size_t n, cap;
    char **strs;
    size_t ns, scap;
} review_set;

static void review_set_clear(review_set *v) {
    for (size_t i = 0; i < v->ns; i++) free(v->strs[i]);
    v->n = v->ns = 0;
}

static us_status load_reviews(stage *s, int64_t item, review_set *v, us_err *err) {
    review_set_clear(v);
    if (!s->reviews &&
        sqlite3_prepare_v2(s->db, "SELECT i.rating, r.title, r.text FROM interactions i JOIN "
                                  "reviews r ON r.id = i.review WHERE i.item = ? ORDER BY i.id",
                           -1, &s->reviews, NULL) != SQLITE_OK)
        return dberr(s, "preparing the review query", err);
    sqlite3_stmt *q = s->reviews;
    sqlite3_bind_int64(q, 1, item);
    int rc;
    us_status st = US_OK;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (us_grow((void **)&v->r, &v->cap, v->n + 1, sizeof *v->r) != US_OK ||
            us_grow((void **)&v->strs, &v->scap, v->ns + 2, sizeof *v->strs) != US_OK) {
            st = us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
            break;
        }
        char *title = dup_col(q, 1), *text = dup_col(q, 2);
        v->strs[v->ns++] = title;
        v->strs[v->ns++] = text;
        v->r[v->n++] = (kw_review){.rating = sqlite3_column_double(q, 0), .title = title,
                                   .text = text};
    }
    if (st == US_OK && rc != SQLITE_DONE) st = dberr(s, "reading reviews", err);
    sqlite3_reset(q);
    return st;
}

static void review_set_free(review_set *v) {
    review_set_clear(v);
    free(v->r);
    free(v->strs);
}

static void unit_done(stage *s, int failed) {
    s->done_units++;
    if (failed) s->failed_units++;
    us_progress_set(&s->bar, s->done_units);
    if (s->cfg->progress)
        s->cfg->progress(s->cfg->progress_ctx, s->done_units, s->total_units, s->failed_units);
}

/* ------------------------------------------------------------------------------------------
 * The built-in passes
 * ---------------------------------------------------------------------------------------- */

static void builtin_sub_version(const us_extract_config *c, char ver[48]) {
    snprintf(ver, 48, "%s:%g", BUILTIN_VERSION, c->min_review_share);
}

static us_status run_builtin(stage *s, us_err *err) {
    char subver[48];
    builtin_sub_version(s->cfg, subver);
    unsigned char *dobj = malloc(s->n ? s->n : 1), *dsub = malloc(s->n ? s->n : 1);
    review_set rv = {0};
    us_status st = US_ENOMEM;
    if (!dobj || !dsub) {
        us_err_set(err, st, s->path, 0, NULL, "out of memory");
        goto done;
    }
    if ((st = done_flags(s, "objective", BUILTIN_VERSION, BUILTIN_MODEL, dobj, err)) != US_OK ||
        (st = done_flags(s, "subjective", subver, BUILTIN_MODEL, dsub, err)) != US_OK)
        goto done;
    for (size_t i = 0; i < s->n; i++) {
        s->rep->cached += dobj[i] + dsub[i];
        s->total_units += !dobj[i] || !dsub[i];
    }
    us_progress_begin(&s->bar, NULL, "extract", "items", s->total_units, s->cfg->quiet);
    int in_tx = 0, pending = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (dobj[i] && dsub[i]) continue;
        if (!in_tx) {
            if ((st = exec(s, "BEGIN IMMEDIATE", err)) != US_OK) goto done;
            in_tx = 1;
        }
        const kw_item_meta *m = &s->items[i];
        cJSON *res = NULL;
        if (!dobj[i]) {
            if (kw_builtin_objective(m, &res) != US_OK) {
                st = us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
                goto done;
            }
            st = put_result(s, m->id, "objective", BUILTIN_VERSION, BUILTIN_MODEL, res, NULL,
                            NULL, 1, err);
            cJSON_Delete(res);
            if (st != US_OK) goto done;
            s->rep->extracted++;
        }
        if (!dsub[i]) {
            if ((st = load_reviews(s, m->id, &rv, err)) != US_OK) goto done;
            if (kw_builtin_subjective(m, rv.r, rv.n, &s->scale, s->cfg->min_review_share, &res) != US_OK) {
                st = us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
                goto done;
            }
            st = put_result(s, m->id, "subjective", subver, BUILTIN_MODEL, res, NULL,
                            NULL, 1, err);
            cJSON_Delete(res);
            if (st != US_OK) goto done;
            s->rep->extracted++;
        }
        unit_done(s, 0);
        if (++pending >= s->cfg->commit_every) {
            if ((st = exec(s, "COMMIT", err)) != US_OK) goto done;
            in_tx = 0;
            pending = 0;
        }
    }
    st = in_tx ? exec(s, "COMMIT", err) : US_OK;
    in_tx = 0;
done:
    if (st != US_OK && s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    us_progress_end(&s->bar);
    review_set_free(&rv);
    free(dobj);
    free(dsub);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * The final tables
 * ---------------------------------------------------------------------------------------- */

/* Rebuilds keyword, item_keyword, item_profile and keyword_evidence from the cache rows of
 * the two pass keys, for every item in scope that has at least one. */
static us_status finalize(stage *s, const char *obj_pass, const char *obj_ver,
                          const char *sub_pass, const char *sub_ver, const char *model,
                          const char *source, us_err *err) {
    /* What the tables are built from. When this run wrote nothing to the cache and the tables
     * were last built from the same, the rebuild would write back what is there: skip it. */
    char sig[1024];
    const us_extract_config *c = s->cfg;
    snprintf(sig, sizeof sig, "%s|%s@%s|%s@%s|%s|limit %llu|min_items %d|max_item_share %.17g|"
             "max_per_side %d", source, obj_pass, obj_ver, sub_pass, sub_ver, model,
             (unsigned long long)c->limit, c->min_items, c->max_item_share, c->max_per_side);
    sqlite3_stmt *q = NULL;
    if (!s->wrote &&
        sqlite3_prepare_v2(s->db, "SELECT (SELECT signature FROM keyword_build WHERE id = 1), "
                                  "(SELECT count(*) FROM item_profile), (SELECT count(*) FROM "
                                  "keyword), (SELECT count(*) FROM item_keyword)", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0) &&
        strcmp((const char *)sqlite3_column_text(q, 0), sig) == 0) {
        s->rep->profiles = (uint64_t)sqlite3_column_int64(q, 1);
        s->rep->keywords = (uint64_t)sqlite3_column_int64(q, 2);
        s->rep->links = (uint64_t)sqlite3_column_int64(q, 3);
        sqlite3_finalize(q);
        return US_OK;
    }
    sqlite3_finalize(q);
    q = NULL;
    kw_item_passes *ip = calloc(s->n ? s->n : 1, sizeof *ip);
    char **cat_first = calloc(s->n ? s->n : 1, sizeof *cat_first);
    us_status st = US_OK;
    if (!ip || !cat_first) {
        st = us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
        goto done;
    }
    if ((st = exec(s, "BEGIN IMMEDIATE", err)) != US_OK) goto done;
    if (sqlite3_prepare_v2(s->db, "SELECT item, pass, result FROM extraction WHERE status = 'ok'"
                                  " AND model = ?1 AND ((pass = ?2 AND prompt_version = ?3) OR "
                                  "(pass = ?4 AND prompt_version = ?5)) ORDER BY item",
                           -1, &q, NULL) != SQLITE_OK) {
        st = dberr(s, "reading the cache", err);
        goto done;
    }
    sqlite3_bind_text(q, 1, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, obj_pass, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, obj_ver, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, sub_pass, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, sub_ver, -1, SQLITE_STATIC);
    size_t j = 0, m = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        while (j < s->n && s->items[j].id < id) j++;
        if (j == s->n) break; /* past the scope (limit) */
        if (s->items[j].id != id) continue;
        const char *text = (const char *)sqlite3_column_text(q, 2);
        cJSON *r = text ? cJSON_Parse(text) : NULL;
        if (!r) continue; /* a row edited by hand into something else: as if missing */
        if (m == 0 || ip[m - 1].item != id) {
            ip[m].item = id;
            /* The category when the passes name none (the built-in's never do). */
            char cat[512];
            if (kw_category_choose(&s->items[j], &s->cats, cat, sizeof cat)) {
                cat_first[m] = strdup(cat);
                ip[m].fallback_category = cat_first[m];
            }
            m++;
        }
        const char *pass = (const char *)sqlite3_column_text(q, 1);
        cJSON **slot = pass && strcmp(pass, obj_pass) == 0 ? &ip[m - 1].objective
                                                           : &ip[m - 1].subjective;
        cJSON_Delete(*slot);
        *slot = r;
    }
    sqlite3_finalize(q);
    q = NULL;
    st = kw_merge_write(s->db, s->path, ip, m, s->cfg, source, &s->rep->keywords,
                        &s->rep->links, err);
    if (st != US_OK) goto done;
    s->rep->profiles = m;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO keyword_build(id, signature) "
                                  "VALUES(1, ?)", -1, &q, NULL) != SQLITE_OK) {
        st = dberr(s, "recording what the keywords were built from", err);
        goto done;
    }
    sqlite3_bind_text(q, 1, sig, -1, SQLITE_STATIC);
    if (sqlite3_step(q) != SQLITE_DONE) {
        st = dberr(s, "recording what the keywords were built from", err);
        goto done;
    }
    sqlite3_finalize(q);
    q = NULL;
    st = exec(s, "COMMIT", err);
done:
    sqlite3_finalize(q);
    if (st != US_OK && s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    for (size_t i = 0; ip && i < s->n; i++) {
        cJSON_Delete(ip[i].objective);
        cJSON_Delete(ip[i].subjective);
        if (cat_first) free(cat_first[i]);
    }
    free(ip);
    free(cat_first);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * The LLM passes
 * ---------------------------------------------------------------------------------------- */

static const char SYSTEM_MSG[] =
    "You are a careful assistant for a recommender system. Follow the answer format exactly.";

/* One request of a pass: an item's objective entry or review batch, or one review. */
typedef struct job {
    size_t item;        /* index in scope */
    int round;          /* 0: first ask; 1: asked again with the error explained */
    int final;          /* 1: ok or failed for good */
    char *prompt;       /* the user message */
    char *answer;       /* the last answer's text (for the retry and for failures) */
    char why[520];      /* why the answer was not accepted, or the transport error */
    cJSON *parsed;      /* the accepted answer */
    int attempts;       /* requests sent for this job */
    us_llm_message msgs[4];
} job;

/* One pass: its key, template, answer kind and jobs. */
typedef struct llm_pass {
    stage *s;
    const char *name;   /* "objective", "subjective-batch", "subjective-review" */
    const char *ver;
    const char *model;
    kw_answer_kind kind;
    job *jobs;
    size_t njobs;
    size_t *item_first, *item_count; /* per item in scope: its jobs [first, first + count) */
    size_t *item_left;               /* jobs of the item not final yet */
    us_status st;                    /* first store error inside a callback */
    us_err *err;
} llm_pass;

static void log_request(llm_pass *p, const job *j, const us_llm_result *r, const char *outcome,
                        const char *error) {
    stage *s = p->s;
    if (p->st != US_OK) return;
    if (!s->logreq &&
        sqlite3_prepare_v2(s->db, "INSERT INTO llm_request(item, pass, prompt_version, model, "
                                  "attempt, outcome, http_status, latency_s, prompt_tokens, "
                                  "completion_tokens, error) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, "
                                  "?, ?)", -1, &s->logreq, NULL) != SQLITE_OK) {
        p->st = dberr(s, "preparing the request log", p->err);
        return;
    }
    sqlite3_stmt *q = s->logreq;
    sqlite3_bind_int64(q, 1, s->items[j->item].id);
    sqlite3_bind_text(q, 2, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, p->ver, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, p->model, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 5, j->round + 1);
    sqlite3_bind_text(q, 6, outcome, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 7, r->http_status);
    sqlite3_bind_double(q, 8, r->latency_s);
    if (r->prompt_tokens >= 0) sqlite3_bind_int(q, 9, r->prompt_tokens);
    else sqlite3_bind_null(q, 9);
    if (r->completion_tokens >= 0) sqlite3_bind_int(q, 10, r->completion_tokens);
    else sqlite3_bind_null(q, 10);
    if (error && error[0]) sqlite3_bind_text(q, 11, error, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(q, 11);
    if (sqlite3_step(q) != SQLITE_DONE) p->st = dberr(s, "writing the request log", p->err);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

/* All jobs of item i are final: store its row. Per-review jobs are merged: their reasons
 * joined; the item is 'ok' when at least one review's answer was. */
static void store_item(llm_pass *p, size_t i) {
    stage *s = p->s;
    if (p->st != US_OK) return;
    job *js = p->jobs + p->item_first[i];
    size_t n = p->item_count[i], nok = 0;
    cJSON *res = NULL;
    for (size_t k = 0; k < n; k++) nok += js[k].parsed != NULL;
    const char *raw = NULL, *why = NULL;
    int attempts = 0;
    for (size_t k = 0; k < n; k++) {
        attempts += js[k].attempts;
        if (!js[k].parsed && !why) {
            why = js[k].why;
            raw = js[k].answer;
        }
    }
    if (nok == 1 && n == 1) {
        res = js[0].parsed;
        js[0].parsed = NULL;
    } else if (nok > 0) {
        res = cJSON_CreateObject();
        cJSON *pros = cJSON_AddArrayToObject(res, "pros"), *cons = cJSON_AddArrayToObject(res,
                                                                                          "cons");
        cJSON_AddNullToObject(res, "category");
        for (size_t k = 0; k < n; k++) {
            if (!js[k].parsed) continue;
            cJSON *src[2] = {cJSON_DetachItemFromObjectCaseSensitive(js[k].parsed, "pros"),
                             cJSON_DetachItemFromObjectCaseSensitive(js[k].parsed, "cons")};
            cJSON *dst[2] = {pros, cons};
            for (int side = 0; side < 2; side++) {
                cJSON *r;
                while (src[side] && (r = cJSON_DetachItemViaPointer(src[side],
                                                                    src[side]->child)))
                    cJSON_AddItemToArray(dst[side], r);
                cJSON_Delete(src[side]);
            }
        }
    }
    us_status st = put_result(s, s->items[i].id, p->name, p->ver, p->model, res,
                              res ? NULL : raw, res ? NULL : why, attempts, p->err);
    cJSON_Delete(res);
    if (st != US_OK) {
        p->st = st;
        return;
    }
    if (res) {
        s->rep->extracted++;
    } else {
        if (!s->rep->failed)
            snprintf(s->rep->first_error, sizeof s->rep->first_error, "item %lld, pass %s: %s",
                     (long long)s->items[i].id, p->name, why && why[0] ? why : "no answer");
        s->rep->failed++;
    }
    unit_done(s, res == NULL);
}

static void on_llm_done(void *ctx, const us_llm_result *r) {
    llm_pass *p = ctx;
    job *j = &p->jobs[r->tag];
    j->attempts++;
    free(j->answer);
    j->answer = NULL;
    if (!r->ok) {
        snprintf(j->why, sizeof j->why, "%s", r->error);
        if (r->raw && r->raw[0]) j->answer = strdup(r->raw);
        j->final = 1;
        log_request(p, j, r, "failed", r->error);
    } else if (r->finish_reason && strcmp(r->finish_reason, "length") == 0) {
        /* Cut off at max_tokens: whatever part of it parses is not the whole answer. Asking
         * again with the same limit gives the same cut, so it is a failure of this run, not
         * cached, and the next run (perhaps with a larger --max-tokens) asks again. */
        snprintf(j->why, sizeof j->why, "the answer was cut off at max_tokens %d "
                 "(finish_reason \"length\"): raise --max-tokens", p->s->cfg->max_tokens);
        j->answer = strdup(r->content ? r->content : "");
        j->final = 1;
        log_request(p, j, r, "failed", j->why);
    } else {
        j->answer = strdup(r->content ? r->content : "");
        cJSON *parsed = NULL;
        const char *c = r->content ? r->content : "";
        if (kw_answer_parse(c, strlen(c), p->kind, &parsed, j->why, sizeof j->why) == US_OK) {
            j->parsed = parsed;
            j->final = 1;
            log_request(p, j, r, "ok", NULL);
        } else {
            log_request(p, j, r, "invalid", j->why);
            j->final = j->round >= 1; /* asked once more with the error explained */
        }
    }
    if (j->final && --p->item_left[j->item] == 0) store_item(p, j->item);
}

/* Runs the jobs [b, e) in `round`: every job of that range not final yet. */
static us_status run_round(us_llm *llm, llm_pass *p, size_t b, size_t e, int round,
                           us_err *err) {
    us_llm_request *reqs = malloc((e - b ? e - b : 1) * sizeof *reqs);
    if (!reqs) return us_err_set(err, US_ENOMEM, p->s->path, 0, NULL, "out of memory");
    size_t n = 0;
    for (size_t k = b; k < e; k++) {
        job *j = &p->jobs[k];
        if (j->final) continue;
        j->round = round;
        j->msgs[0] = (us_llm_message){"system", SYSTEM_MSG};
        j->msgs[1] = (us_llm_message){"user", j->prompt};
        int nm = 2;
        if (round == 1) {
            /* The invalid answer and what was wrong with it. */
            if (!j->why[0]) snprintf(j->why, sizeof j->why, "unreadable answer");
            j->msgs[2] = (us_llm_message){"assistant", j->answer ? j->answer : ""};
            j->msgs[3] = (us_llm_message){"user", NULL};
            nm = 4;
        }
        reqs[n++] = (us_llm_request){.tag = k, .messages = j->msgs, .n_messages = nm};
    }
    /* The retry message, built per job (its reason differs). */
    char **retry = round == 1 ? calloc(n ? n : 1, sizeof *retry) : NULL;
    if (round == 1 && !retry) {
        free(reqs);
        return us_err_set(err, US_ENOMEM, p->s->path, 0, NULL, "out of memory");
    }
    for (size_t k = 0; round == 1 && k < n; k++) {
        job *j = &p->jobs[reqs[k].tag];
        size_t len = strlen(j->why) + 200;
        retry[k] = malloc(len);
        if (!retry[k]) continue;
        snprintf(retry[k], len, "Your answer could not be read: %s. Answer again, in exactly "
                 "the format asked for and nothing else.", j->why);
        j->msgs[3].content = retry[k];
        j->why[0] = '\0';
    }
    us_status st = US_OK;
    for (size_t k = 0; round == 1 && k < n; k++)
        if (!retry[k]) st = us_err_set(err, US_ENOMEM, p->s->path, 0, NULL, "out of memory");
    if (st == US_OK && n) st = us_llm_run(llm, reqs, n, on_llm_done, p, err);
    if (st == US_OK && p->st != US_OK) st = p->st;
    for (size_t k = 0; retry && k < n; k++) free(retry[k]);
    free(retry);
    free(reqs);
    return st;
}

/* Joins an item's categories JSON into buf: a path with " > ", a list with ", ". */
static void category_path(const char *json, char *buf, size_t cap, int list) {
    buf[0] = '\0';
    cJSON *c = json ? cJSON_Parse(json) : NULL;
    size_t len = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, c) {
        if (!cJSON_IsString(x)) continue;
        int k = snprintf(buf + len, cap - len, "%s%s", len ? (list ? ", " : " > ") : "",
                         x->valuestring);
        if (k < 0 || (size_t)k >= cap - len) break;
        len += (size_t)k;
    }
    cJSON_Delete(c);
}

/* s cut to at most max bytes at a character boundary, into a new string. */
static char *cut(const char *s, size_t max) {
    if (!s) s = "";
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* The reviews sampled for an item: up to reviews_per_item, chosen by a PCG32 stream derived
 * from (seed, item id), kept in their stored order. Writes the indices to idx; returns k. */
static size_t sample_reviews(const stage *s, int64_t item, size_t n, size_t *idx) {
    size_t k = n < (size_t)s->cfg->reviews_per_item ? n : (size_t)s->cfg->reviews_per_item;
    for (size_t i = 0; i < n; i++) idx[i] = i;
    us_rng r = us_rng_derive(s->cfg->seed, (uint64_t)item);
    for (size_t i = 0; i < k; i++) { /* partial Fisher-Yates: the first k are the sample */
        size_t j = i + us_rng_bounded(&r, (uint32_t)(n - i));
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    for (size_t i = 1; i < k; i++) /* back to stored order (insertion sort, k is small) */
        for (size_t j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return k;
}

static void review_text(const kw_review *r, char *buf, size_t cap, size_t max) {
    char *t = cut(r->text, max);
    snprintf(buf, cap, "%s%s%s", r->title && r->title[0] ? r->title : "",
             r->title && r->title[0] ? ". " : "", t ? t : "");
    free(t);
}

/* Builds the jobs of the items missing[b..e) (indexes of items with no cached result). */
static us_status build_jobs(llm_pass *p, const kw_prompts *pr, kw_prompt_id tid,
                            const size_t *missing, size_t b, size_t e, review_set *rv,
                            us_err *err) {
    stage *s = p->s;
    const us_extract_config *c = s->cfg;
    char scale[48], cat[256], path_s[512];
    const char *label = s->category_list ? "Genres" : "Categories";
    snprintf(scale, sizeof scale, "%g to %g", s->scale.min, s->scale.max);
    size_t cap = 0;
    p->njobs = 0;
    for (size_t t = b; t < e; t++) {
        size_t i = missing[t];
        const kw_item_meta *m = &s->items[i];
        p->item_first[i] = p->njobs;
        p->item_count[i] = 0;
        kw_category_choose(m, &s->cats, cat, sizeof cat);
        char *prompts[64];
        size_t np = 0;
        if (p->kind == KW_ANSWER_OBJECTIVE) {
            category_path(m->categories_json, path_s, sizeof path_s, s->category_list);
            char *desc = cut(m->description, 2000), *attr = cut(m->attributes_json, 1000);
            const char *names[] = {"title", "category_label", "categories", "brand",
                                   "description", "attributes"};
            const char *vals[] = {m->title ? m->title : "", label, path_s,
                                  m->brand ? m->brand : "", desc ? desc : "", attr ? attr : ""};
            prompts[np++] = kw_prompt_render(pr->text[tid], names, vals, 6);
            free(desc);
            free(attr);
        } else {
            us_status st = load_reviews(s, m->id, rv, err);
            if (st != US_OK) return st;
            size_t *idx = malloc((rv->n ? rv->n : 1) * sizeof *idx);
            if (!idx) return us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
            size_t k = sample_reviews(s, m->id, rv->n, idx);
            if (k > 64) k = 64;
            if (c->batching == US_EXTRACT_PER_ITEM && k > 0) {
                size_t bcap = (size_t)c->item_budget_chars + 64 * 40 + 1, len = 0;
                char *all = malloc(bcap), one[4096];
                if (!all) {
                    free(idx);
                    return us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
                }
                all[0] = '\0';
                for (size_t r = 0; r < k; r++) {
                    review_text(&rv->r[idx[r]], one, sizeof one, (size_t)c->review_chars);
                    char head[64];
                    int hl = snprintf(head, sizeof head, "%sReview %zu (rating %g): ",
                                      r ? "\n" : "", r + 1, rv->r[idx[r]].rating);
                    size_t ol = strlen(one);
                    if (len + (size_t)hl + ol > (size_t)c->item_budget_chars && r > 0) break;
                    if (len + (size_t)hl + ol + 1 > bcap) break;
                    memcpy(all + len, head, (size_t)hl);
                    memcpy(all + len + hl, one, ol + 1);
                    len += (size_t)hl + ol;
                }
                const char *names[] = {"title", "category", "scale", "reviews"};
                const char *vals[] = {m->title ? m->title : "", cat, scale, all};
                prompts[np++] = kw_prompt_render(pr->text[tid], names, vals, 4);
                free(all);
            } else if (c->batching == US_EXTRACT_PER_REVIEW) {
                for (size_t r = 0; r < k; r++) {
                    char one[4096], rating[32];
                    const kw_review *x = &rv->r[idx[r]];
                    review_text(x, one, sizeof one, (size_t)c->review_chars);
                    snprintf(rating, sizeof rating, "%g", x->rating);
                    int high = x->rating >= s->scale.like_threshold;
                    const char *names[] = {"title", "category", "rating", "scale", "review",
                                           "side", "key", "feeling"};
                    const char *vals[] = {m->title ? m->title : "", cat, rating, scale, one,
                                          high ? "Pros" : "Cons", high ? "pros" : "cons",
                                          high ? "liking" : "disliking"};
                    prompts[np++] = kw_prompt_render(pr->text[tid], names, vals, 8);
                }
            }
            free(idx);
        }
        for (size_t k = 0; k < np; k++) {
            if (!prompts[k] ||
                us_grow((void **)&p->jobs, &cap, p->njobs + 1, sizeof *p->jobs) != US_OK) {
                for (size_t q = k; q < np; q++) free(prompts[q]);
                return us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
            }
            p->jobs[p->njobs++] = (job){.item = i, .prompt = prompts[k]};
            p->item_count[i]++;
        }
        p->item_left[i] = p->item_count[i];
    }
    return US_OK;
}

static void free_jobs(llm_pass *p) {
    for (size_t k = 0; k < p->njobs; k++) {
        free(p->jobs[k].prompt);
        free(p->jobs[k].answer);
        cJSON_Delete(p->jobs[k].parsed);
    }
    p->njobs = 0;
}

/* One pass over every item in scope without an 'ok' row for its key. */
static us_status run_pass(stage *s, us_llm *llm, const kw_prompts *pr, kw_prompt_id tid,
                          llm_pass *p, us_err *err) {
    unsigned char *done = malloc(s->n ? s->n : 1);
    size_t *missing = malloc((s->n ? s->n : 1) * sizeof *missing);
    review_set rv = {0};
    us_status st = US_OK;
    p->item_first = calloc(s->n ? s->n : 1, sizeof *p->item_first);
    p->item_count = calloc(s->n ? s->n : 1, sizeof *p->item_count);
    p->item_left = calloc(s->n ? s->n : 1, sizeof *p->item_left);
    if (!done || !missing || !p->item_first || !p->item_count || !p->item_left) {
        st = us_err_set(err, US_ENOMEM, s->path, 0, NULL, "out of memory");
        goto out;
    }
    if ((st = done_flags(s, p->name, p->ver, p->model, done, err)) != US_OK) goto out;
    size_t nt = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (done[i]) s->rep->cached++;
        else missing[nt++] = i;
    }
    s->done_units += s->n - nt;
    us_progress_set(&s->bar, s->done_units);
    /* Items in chunks, so prompts and answers in memory stay bounded; each item's row is
     * committed as soon as its last request is final. */
    size_t chunk = (size_t)s->cfg->concurrency * 4;
    if (chunk < 16) chunk = 16;
    for (size_t b = 0; b < nt && st == US_OK; b += chunk) {
        size_t e = b + chunk < nt ? b + chunk : nt;
        st = build_jobs(p, pr, tid, missing, b, e, &rv, err);
        /* Items with no request (no reviews): an empty result, nothing to ask. */
        for (size_t t = b; st == US_OK && t < e; t++)
            if (p->item_count[missing[t]] == 0) {
                cJSON *empty = cJSON_Parse("{\"category\":null,\"pros\":[],\"cons\":[]}");
                st = put_result(s, s->items[missing[t]].id, p->name, p->ver, p->model, empty,
                                NULL, NULL, 0, err);
                cJSON_Delete(empty);
                if (st == US_OK) unit_done(s, 0);
            }
        if (st == US_OK) st = run_round(llm, p, 0, p->njobs, 0, err);
        if (st == US_OK) st = run_round(llm, p, 0, p->njobs, 1, err);
        free_jobs(p);
    }
out:
    free_jobs(p);
    free(p->jobs);
    p->jobs = NULL;
    free(p->item_first);
    free(p->item_count);
    free(p->item_left);
    review_set_free(&rv);
    free(done);
    free(missing);
    return st;
}

static us_status kw_run_llm(stage *s, us_err *err) {
    const us_extract_config *c = s->cfg;
    kw_prompts pr;
    us_status st = kw_prompts_load(&pr, c->prompts_dir, err);
    if (st != US_OK) return st;
    int json = c->format == US_EXTRACT_JSON;
    kw_prompt_id obj = json ? KW_PROMPT_OBJECTIVE_JSON : KW_PROMPT_OBJECTIVE;
    kw_prompt_id sub = c->batching == US_EXTRACT_PER_REVIEW
                           ? (json ? KW_PROMPT_REVIEW_JSON : KW_PROMPT_REVIEW)
                           : (json ? KW_PROMPT_BATCH_JSON : KW_PROMPT_BATCH);
    const char *sub_name = c->batching == US_EXTRACT_PER_REVIEW ? "subjective-review"
                                                                : "subjective-batch";
    us_llm_config lc = us_llm_config_default();
    lc.url = c->llm_url;
    lc.model = c->model;
    lc.api_key = c->api_key;
    lc.json_mode = json;
    lc.concurrency = c->concurrency;
    lc.timeout_s = c->timeout_s;
    lc.max_retries = c->max_retries;
    lc.max_tokens = c->max_tokens;
    lc.temperature = c->temperature;
    lc.seed = c->seed;
    us_llm *llm = NULL;
    st = us_llm_open(&llm, &lc, err);
    if (st == US_OK) {
        snprintf(s->rep->source, sizeof s->rep->source, "%.80s@%.8s+%.8s", c->model,
                 pr.version[obj], pr.version[sub]);
        s->total_units = 2 * s->n;
        us_progress_begin(&s->bar, NULL, "extract", "item-passes", s->total_units, c->quiet);
        llm_pass po = {.s = s, .name = "objective", .ver = pr.version[obj], .model = c->model,
                       .kind = KW_ANSWER_OBJECTIVE, .err = err};
        /* The subjective answers also depend on which reviews the prompt carried: the review
         * sampling is part of their cache key. */
        char subver[64];
        snprintf(subver, sizeof subver, "%s:r%d:c%d", pr.version[sub], c->reviews_per_item,
                 c->review_chars);
        llm_pass ps = {.s = s, .name = sub_name, .ver = subver, .model = c->model,
                       .kind = KW_ANSWER_REVIEWS, .err = err};
        st = run_pass(s, llm, &pr, obj, &po, err);
        if (st == US_OK) st = run_pass(s, llm, &pr, sub, &ps, err);
        us_progress_end(&s->bar);
        if (st == US_OK)
            st = finalize(s, "objective", pr.version[obj], sub_name, subver, c->model,
                          s->rep->source, err);
    }
    us_llm_close(llm);
    kw_prompts_free(&pr);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * The request log summary
 * ---------------------------------------------------------------------------------------- */

static us_status read_log(stage *s, us_extract_report *rep, us_err *err) {
    rep->n_passes = 0;
    sqlite3_stmt *q = NULL;
    const char *sql =
        "SELECT pass, count(*), sum(outcome = 'ok'), sum(outcome = 'invalid'),"
        " sum(outcome = 'failed'), sum(max(prompt_tokens, 0)), sum(max(completion_tokens, 0)),"
        " avg(latency_s), max(latency_s) FROM llm_request GROUP BY pass ORDER BY pass";
    if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK) {
        /* A store that never ran the stage has no log: nothing to report. */
        return US_OK;
    }
    while (sqlite3_step(q) == SQLITE_ROW && rep->n_passes < US_EXTRACT_MAX_PASSES) {
        us_extract_pass_stats *p = &rep->passes[rep->n_passes++];
        memset(p, 0, sizeof *p);
        const char *name = (const char *)sqlite3_column_text(q, 0);
        snprintf(p->pass, sizeof p->pass, "%s", name ? name : "");
        p->requests = (uint64_t)sqlite3_column_int64(q, 1);
        p->ok = (uint64_t)sqlite3_column_int64(q, 2);
        p->invalid = (uint64_t)sqlite3_column_int64(q, 3);
        p->failed = (uint64_t)sqlite3_column_int64(q, 4);
        p->prompt_tokens = (uint64_t)sqlite3_column_int64(q, 5);
        p->completion_tokens = (uint64_t)sqlite3_column_int64(q, 6);
        p->latency_mean_s = sqlite3_column_double(q, 7);
        p->latency_max_s = sqlite3_column_double(q, 8);
    }
    sqlite3_finalize(q);
    (void)err;
    return US_OK;
}

us_status us_extract_summary(const char *path, us_extract_report *rep, us_err *err) {
    us_err_clear(err);
    memset(rep, 0, sizeof *rep);
    us_extract_config cfg = us_extract_config_default();
    stage s = {.path = path, .cfg = &cfg, .rep = rep};
    us_status st = open_store(&s, 1, err);
    sqlite3_stmt *q = NULL;
    if (st == US_OK &&
        sqlite3_prepare_v2(s.db, "SELECT (SELECT count(*) FROM item_profile), (SELECT count(*) "
                                 "FROM keyword), (SELECT count(*) FROM item_keyword), (SELECT "
                                 "source FROM item_profile LIMIT 1), (SELECT count(*) FROM "
                                 "extraction WHERE status = 'failed')", -1, &q, NULL) ==
            SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        rep->items = rep->profiles = (uint64_t)sqlite3_column_int64(q, 0);
        rep->keywords = (uint64_t)sqlite3_column_int64(q, 1);
        rep->links = (uint64_t)sqlite3_column_int64(q, 2);
        const char *src = (const char *)sqlite3_column_text(q, 3);
        snprintf(rep->source, sizeof rep->source, "%s", src ? src : "");
        rep->failed = (uint64_t)sqlite3_column_int64(q, 4);
    } else if (st == US_OK) {
        st = us_err_set(err, US_ENOTFOUND, path, 0, NULL, "the store has no keywords yet (run "
                        "usersim build first): %s", sqlite3_errmsg(s.db));
    }
    sqlite3_finalize(q);
    if (st == US_OK) st = read_log(&s, rep, err);
    stage_free(&s);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Entry point
 * ---------------------------------------------------------------------------------------- */


us_status us_extract(const char *path, const us_extract_config *cfg_in, us_extract_report *rep,
                     us_err *err) {
    us_err_clear(err);
    double t0 = us_now();
    us_extract_config defaults = us_extract_config_default();
    const us_extract_config *cfg = cfg_in ? cfg_in : &defaults;
    us_extract_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!path) return us_err_set(err, US_EINVAL, NULL, 0, "path", "expected a store path");
    us_status st = validate(cfg, err);
    if (st != US_OK) return st;
    us_store_lock *lock = NULL;
    if ((st = us_store_lock_acquire(path, &lock, err)) != US_OK) return st;
    stage s = {.path = path, .cfg = cfg, .rep = rep};
    st = open_store(&s, 0, err);
    if (st == US_OK) st = load_items(&s, err);
    rep->items = s.n;
    if (st == US_OK) {
        if (cfg->llm_url && cfg->llm_url[0]) {
            st = kw_run_llm(&s, err);
        } else {
            snprintf(rep->source, sizeof rep->source, "%s", BUILTIN_VERSION);
            char subver[48];
            builtin_sub_version(cfg, subver);
            st = run_builtin(&s, err);
            if (st == US_OK)
                st = finalize(&s, "objective", BUILTIN_VERSION, "subjective", subver,
                              BUILTIN_MODEL, rep->source, err);
        }
    }
    if (st == US_OK) st = read_log(&s, rep, err);
    stage_free(&s);
    us_store_lock_release(lock);
    rep->seconds = us_now() - t0;
    return st;
}
