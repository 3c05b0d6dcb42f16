/* embed_store.c — the embed stage: sentence vectors of a store's keywords and of its items'
 * pros and cons texts, written back into the store beside the name of the embedder.
 *
 * Incremental: only texts without a vector are embedded, so a rerun with nothing new writes
 * nothing, and a stopped run resumes (rows are committed in transactions of commit_every).
 * When the store holds vectors of another embedder (name, model checksum or width differ),
 * they are all deleted and everything is embedded again in ONE transaction, so an
 * interrupted re-embedding leaves the previous vectors as they were.
 *
 * It deliberately does not notice a keyword whose text changed under the same id: the
 * extraction stage deletes the vectors of what it rewrites. Vectors of keywords and items that
 * no longer exist are deleted.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "simulator/embed/embed.h"

static const char out_tables_sql[] =
    "CREATE TABLE IF NOT EXISTS embedder(id INTEGER PRIMARY KEY CHECK(id = 1),"
    " name TEXT NOT NULL, model_sha256 TEXT NOT NULL, dim INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS keyword_vec(keyword INTEGER PRIMARY KEY, vec BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS item_vec(item INTEGER NOT NULL, side INTEGER NOT NULL,"
    " vec BLOB NOT NULL, PRIMARY KEY(item, side));";

us_embed_config us_embed_config_default(void) {
    return (us_embed_config){.batch = 64, .commit_every = 4096, .quiet = 0, .progress = NULL};
}

/* One text to embed: a keyword (side -1) or an item's pros (0) or cons (1) text. */
typedef struct job {
    int64_t id;
    int side;
    char *text; /* owned */
} job;

typedef US_VEC(job) job_vec;

/* Shorter texts first, then by id and side: a pass of the encoder pads to its longest text,
 * so passes of similar lengths waste little (as sentence-transformers sorts by length). */
static int by_length(const void *pa, const void *pb) {
    const job *a = pa, *b = pb;
    size_t la = strlen(a->text), lb = strlen(b->text);
    if (la != lb) return la < lb ? -1 : 1;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return (a->side > b->side) - (a->side < b->side);
}

static void jobs_free(job_vec *v) {
    for (size_t i = 0; i < v->len; i++) free(v->data[i].text);
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

/* The store's SQLite error as an us_err. */
static us_status db_fail(sqlite3 *db, const char *path, const char *what, us_err *err) {
    return us_err_set(err, US_EDB, path, 0, NULL, "%s: %s", what, sqlite3_errmsg(db));
}

static int has_table(sqlite3 *db, const char *name) {
    sqlite3_stmt *s = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return found;
}

/* Appends the rows of sql (id, side, text) to v. */
static us_status collect(sqlite3 *db, const char *path, const char *sql, job_vec *v,
                         us_err *err) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(db, path, "reading the texts to embed", err);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 2);
        job j = {sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1), strdup(t ? t : "")};
        if (!j.text || us_vec_push(v, j) != US_OK) {
            free(j.text);
            sqlite3_finalize(s);
            return us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory for the texts");
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return db_fail(db, path, "reading the texts to embed", err);
    return US_OK;
}

static us_status count_rows(sqlite3 *db, const char *path, const char *sql, uint64_t *out,
                            us_err *err) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return db_fail(db, path, "counting", err);
    }
    *out = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return US_OK;
}

/* Reads the stored embedder into name/sha/dim; returns 1 when a row exists. */
static int stored_embedder(sqlite3 *db, char name[128], char sha[65], int *dim) {
    sqlite3_stmt *s = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT name, model_sha256, dim FROM embedder WHERE id = 1", -1,
                           &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(s, 0);
        const char *h = (const char *)sqlite3_column_text(s, 1);
        snprintf(name, 128, "%s", n ? n : "");
        snprintf(sha, 65, "%s", h ? h : "");
        *dim = sqlite3_column_int(s, 2);
        found = 1;
    }
    sqlite3_finalize(s);
    return found;
}

/* v (dim floats) as little-endian float32 bytes, whatever the host's byte order. */
static void to_le(uint8_t *out, const float *v, int dim) {
    for (int i = 0; i < dim; i++) {
        uint32_t w;
        memcpy(&w, v + i, 4);
        for (int k = 0; k < 4; k++) out[4 * i + k] = (uint8_t)(w >> (8 * k));
    }
}

us_status us_embed_stored_embedder(const char *path, char *name, size_t cap, us_err *err) {
    snprintf(name, cap, "%s", "");
    struct stat sb;
    if (stat(path, &sb) != 0) return us_err_set(err, US_ENOTFOUND, path, 0, NULL, "no such store");
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        us_status st = us_err_set(err, US_ENOTFOUND, path, 0, NULL, "cannot open the store: %s",
                                  sqlite3_errmsg(db));
        sqlite3_close(db);
        return st;
    }
    sqlite3_busy_timeout(db, 5000);
    char n[128] = "", sha[65];
    int dim;
    if (has_table(db, "embedder") && stored_embedder(db, n, sha, &dim))
        snprintf(name, cap, "%s", n);
    sqlite3_close(db);
    return US_OK;
}

us_status us_embed_store(const char *path, us_embedder *e, const us_embed_config *cfg,
                         us_embed_report *rep, us_err *err) {
    us_embed_config c = cfg ? *cfg : us_embed_config_default();
    if (c.batch < 1) c.batch = 64;
    if (c.commit_every < 1) c.commit_every = 4096;
    us_embed_report r;
    memset(&r, 0, sizeof r);
    double t0 = us_now();
    const int dim = us_embedder_dim(e);
    snprintf(r.embedder, sizeof r.embedder, "%s", us_embedder_name(e));
    r.dim = dim;
    struct stat sb;
    if (stat(path, &sb) != 0) return us_err_set(err, US_ENOTFOUND, path, 0, NULL, "no such store");

    sqlite3 *db = NULL;
    sqlite3_stmt *ins_kw = NULL, *ins_item = NULL;
    job_vec kw = {0}, items = {0};
    float *vecs = NULL;
    uint8_t *blob = NULL;
    const char **texts = NULL;
    int *slot = NULL;
    int in_tx = 0;
    us_status st = US_OK;
    us_store_lock *lock = NULL;

    if ((st = us_store_lock_acquire(path, &lock, err)) != US_OK) return st;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st = us_err_set(err, US_ENOTFOUND, path, 0, NULL, "cannot open the store: %s",
                        sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_busy_timeout(db, 5000);
    static const char *const inputs[] = {"keyword", "item_profile"};
    for (int i = 0; i < 2; i++)
        if (!has_table(db, inputs[i])) {
            st = us_err_set(err, US_ENOTFOUND, path, 0, inputs[i],
                            "the store has no keywords yet (no table %s): run usersim build, "
                            "whose extract stage writes them",
                            inputs[i]);
            goto done;
        }
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) goto dberr;
    in_tx = 1;
    if (sqlite3_exec(db, out_tables_sql, NULL, NULL, NULL) != SQLITE_OK) goto dberr;

    /* Another embedder's vectors: replace them all, in this one transaction. */
    char old_name[128] = "", old_sha[65] = "";
    int old_dim = 0;
    int had = stored_embedder(db, old_name, old_sha, &old_dim);
    int same = had && strcmp(old_name, us_embedder_name(e)) == 0 &&
               strcmp(old_sha, us_embedder_sha256(e)) == 0 && old_dim == dim;
    int one_tx = 0;
    if (!same && had && old_sha[0] && us_embedder_kind_of(e) == US_EMBEDDER_HASHED && !c.force) {
        st = us_err_set(err, US_EINVAL, path, 0, "embedder",
                        "the store's vectors are the sentence model %s's; %s would replace them "
                        "with vectors that match words, not meanings: pass --force to replace "
                        "them, or embed with the model",
                        old_name, US_HASHEMBED_NAME);
        goto done;
    }
    if (!same) {
        if (had) {
            r.replaced = 1;
            snprintf(r.previous, sizeof r.previous, "%s", old_name);
            one_tx = 1;
        }
        sqlite3_stmt *up = NULL;
        if (sqlite3_exec(db, "DELETE FROM keyword_vec; DELETE FROM item_vec;", NULL, NULL,
                         NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "INSERT OR REPLACE INTO embedder(id, name, model_sha256, dim) "
                               "VALUES(1, ?, ?, ?)",
                               -1, &up, NULL) != SQLITE_OK) {
            sqlite3_finalize(up);
            goto dberr;
        }
        sqlite3_bind_text(up, 1, us_embedder_name(e), -1, SQLITE_STATIC);
        sqlite3_bind_text(up, 2, us_embedder_sha256(e), -1, SQLITE_STATIC);
        sqlite3_bind_int(up, 3, dim);
        int rc = sqlite3_step(up);
        sqlite3_finalize(up);
        if (rc != SQLITE_DONE) goto dberr;
    }
    /* Vectors of keywords and items that are gone. */
    if (sqlite3_exec(db,
                     "DELETE FROM keyword_vec WHERE keyword NOT IN (SELECT id FROM keyword);"
                     "DELETE FROM item_vec WHERE item NOT IN (SELECT item FROM item_profile);",
                     NULL, NULL, NULL) != SQLITE_OK)
        goto dberr;

    if ((st = count_rows(db, path, "SELECT COUNT(*) FROM keyword", &r.n_keywords, err)) != US_OK)
        goto done;
    if ((st = count_rows(db, path, "SELECT 2 * COUNT(*) FROM item_profile", &r.n_item_texts,
                         err)) != US_OK)
        goto done;
    if ((st = collect(db, path,
                      "SELECT k.id, -1, k.text FROM keyword k WHERE NOT EXISTS "
                      "(SELECT 1 FROM keyword_vec v WHERE v.keyword = k.id) ORDER BY k.id",
                      &kw, err)) != US_OK)
        goto done;
    if ((st = collect(db, path,
                      "SELECT p.item, s.side, CASE s.side WHEN 0 THEN p.pros_text ELSE "
                      "p.cons_text END FROM item_profile p, (SELECT 0 AS side UNION ALL "
                      "SELECT 1) s WHERE NOT EXISTS (SELECT 1 FROM item_vec v WHERE "
                      "v.item = p.item AND v.side = s.side) ORDER BY p.item, s.side",
                      &items, err)) != US_OK)
        goto done;

    if (kw.len) qsort(kw.data, kw.len, sizeof *kw.data, by_length);
    if (items.len) qsort(items.data, items.len, sizeof *items.data, by_length);
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO keyword_vec(keyword, vec) VALUES(?, ?)",
                           -1, &ins_kw, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO item_vec(item, side, vec) VALUES(?, ?, ?)",
                           -1, &ins_item, NULL) != SQLITE_OK)
        goto dberr;
    vecs = malloc((size_t)c.batch * (size_t)dim * sizeof(float));
    blob = malloc((size_t)dim * 4);
    texts = malloc((size_t)c.batch * sizeof *texts);
    slot = malloc((size_t)c.batch * sizeof *slot);
    if (!vecs || !blob || !texts || !slot) {
        st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory for a batch of %d", c.batch);
        goto done;
    }

    uint64_t total = kw.len + items.len, done_n = 0, since_commit = 0;
    us_progress bar;
    us_progress_begin(&bar, c.progress, "embed", "texts", total, c.quiet || total == 0);
    for (int pass = 0; pass < 2; pass++) {
        job_vec *v = pass == 0 ? &kw : &items;
        sqlite3_stmt *ins = pass == 0 ? ins_kw : ins_item;
        for (size_t i0 = 0; i0 < v->len; i0 += (size_t)c.batch) {
            size_t nb = v->len - i0 < (size_t)c.batch ? v->len - i0 : (size_t)c.batch;
            /* Empty texts get zeros without a call; the rest go in one call. */
            int ne = 0;
            for (size_t k = 0; k < nb; k++) {
                slot[k] = -1;
                if (v->data[i0 + k].text[0]) {
                    slot[k] = ne;
                    texts[ne++] = v->data[i0 + k].text;
                }
            }
            if (ne > 0) us_embedder_embed(e, texts, ne, vecs);
            for (size_t k = 0; k < nb; k++) {
                const job *j = &v->data[i0 + k];
                for (int c2 = 0; slot[k] >= 0 && c2 < dim; c2++)
                    if (!isfinite(vecs[(size_t)slot[k] * dim + c2])) {
                        us_progress_end(&bar);
                        st = us_err_set(err, US_EFORMAT, path, 0,
                                        pass == 0 ? "keyword_vec" : "item_vec",
                                        "id %lld: expected a finite embedding, found a "
                                        "component that is not finite (the model's output)",
                                        (long long)j->id);
                        goto done;
                    }
                if (slot[k] >= 0)
                    to_le(blob, vecs + (size_t)slot[k] * dim, dim);
                else
                    memset(blob, 0, (size_t)dim * 4);
                int a = 1;
                sqlite3_reset(ins);
                sqlite3_bind_int64(ins, a++, j->id);
                if (pass == 1) sqlite3_bind_int(ins, a++, j->side);
                sqlite3_bind_blob(ins, a, blob, dim * 4, SQLITE_STATIC);
                if (sqlite3_step(ins) != SQLITE_DONE) {
                    us_progress_end(&bar);
                    goto dberr;
                }
            }
            if (pass == 0)
                r.keywords_embedded += nb;
            else
                r.item_texts_embedded += nb;
            done_n += nb;
            since_commit += nb;
            us_progress_set(&bar, done_n);
            if (!one_tx && since_commit >= (uint64_t)c.commit_every) {
                if (sqlite3_exec(db, "COMMIT; BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
                    us_progress_end(&bar);
                    goto dberr;
                }
                since_commit = 0;
            }
        }
    }
    us_progress_end(&bar);
    sqlite3_finalize(ins_kw);
    sqlite3_finalize(ins_item);
    ins_kw = ins_item = NULL;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto dberr;
    in_tx = 0;
    r.seconds = us_now() - t0;
    if (rep) *rep = r;
    goto done;

dberr:
    st = db_fail(db, path, "writing the vectors", err);
done:
    sqlite3_finalize(ins_kw);
    sqlite3_finalize(ins_item);
    if (in_tx && st != US_OK) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    us_store_lock_release(lock);
    jobs_free(&kw);
    jobs_free(&items);
    free(vecs);
    free(blob);
    free(texts);
    free(slot);
    return st;
}
