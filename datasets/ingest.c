/* ingest.c — builds a store from a reviews file and an optional metadata file.
 *
 * One streaming pass over the reviews: each valid record becomes 24 bytes in memory (dense user
 * and item ids, rating, time, record number) and its review text goes straight into the store
 * being built, so memory grows with the number of interactions and distinct ids, never with the
 * text. Then, in memory: duplicates (same user and item) keep the latest, k-core filtering runs
 * to a fixed point, ids are renumbered densely in order of first appearance, and each user's
 * history is ordered by time and split (all but the last two labeled interactions for training,
 * then validation, then test; fewer than three labeled: all training, as the SASRec reference
 * code does). A second streaming pass reads the metadata of the items that survived.
 *
 * Everything is written to "<out>.tmp-<pid>" and renamed over <out> only when complete: an
 * interrupted or failed ingest leaves the old store as it was. The store's writer lock is held
 * throughout, so a second ingest (or any other writer) of the same store is refused, and an
 * output that is one of the inputs is refused before anything is written. It does not extract keywords, embed or train:
 * those are the simulator's stages over the finished store. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <sqlite3.h>

#include "datasets/internal.h"

/* One valid review record. seq is its number among valid records and the id of its row in the
 * reviews table when it has text. */
typedef struct rec {
    uint32_t user, item; /* ids in the interning tables (order of first appearance) */
    float rating;
    uint32_t seq;
    int64_t ts;
} rec;

typedef struct ingest {
    const us_ingest_config *cfg;
    us_ingest_report *rep;
    us_err *err;
    sqlite3 *db;
    sqlite3_stmt *ins_review;
    us_strtab *users, *items, *allowed;
    US_VEC(rec) recs;
    US_VEC(uint8_t) has_text; /* per seq: a reviews row was written */
    uint8_t *alive;           /* per rec */
    int64_t min_ts;           /* earliest time among recs (when have_ts) */
    int have_ts;
    double threshold;
    /* metadata pass */
    const uint32_t *new_item; /* per interned item: dense id, UINT32_MAX when filtered out
                                 (filled by write_interactions, read by the metadata pass) */
    uint8_t *item_written;    /* per dense item: its row is in the store */
    sqlite3_stmt *ins_item;
} ingest;

static us_status db_fail(ingest *g, const char *what) {
    return us_err_set(g->err, US_EDB, g->cfg->out_path, 0, NULL, "%s: %s", what,
                      g->db ? sqlite3_errmsg(g->db) : "cannot open");
}

/* ---- skipped lines ---- */

static void count_skip(ingest *g, const char *role, us_skip why, const us_err *e, long line) {
    us_ingest_report *rep = g->rep;
    rep->skipped++;
    if (!strcmp(role, "meta")) rep->meta_skipped++;
    const char *reason = us_skip_name(why);
    for (int i = 0; i < rep->nskip_kinds; i++) {
        us_skip_count *k = &rep->skips[i];
        if (!strcmp(k->role, role) && !strcmp(k->reason, reason) && !strcmp(k->field, e->field)) {
            k->count++;
            return;
        }
    }
    /* The last slot collects whatever kinds do not fit. */
    int i = rep->nskip_kinds < US_MAX_SKIP_KINDS ? rep->nskip_kinds++ : US_MAX_SKIP_KINDS - 1;
    us_skip_count *k = &rep->skips[i];
    if (k->count) {
        k->count++;
        snprintf(k->reason, sizeof k->reason, "other");
        k->field[0] = '\0';
        return;
    }
    snprintf(k->role, sizeof k->role, "%s", role);
    snprintf(k->reason, sizeof k->reason, "%s", reason);
    snprintf(k->field, sizeof k->field, "%s", e->field);
    k->count = 1;
    k->first_line = line;
    snprintf(k->example, sizeof k->example, "%s", e->msg);
}

/* A bad line: fails in strict mode (err names file:line: field), else is counted. */
static us_status bad_line(ingest *g, const char *role, const char *path, long line, us_skip why,
                          us_err *e) {
    if (g->cfg->strict) {
        char field[64], msg[512];
        snprintf(field, sizeof field, "%s", e->field);
        snprintf(msg, sizeof msg, "%s", e->msg);
        return us_err_set(g->err, US_EFORMAT, path, line, field[0] ? field : NULL, "%s", msg);
    }
    count_skip(g, role, why, e, line);
    return US_OK;
}

/* ---- passes over the input files ---- */

typedef us_status (*line_fn)(ingest *g, us_reader *r, us_lines *l, char *line, size_t len);

/* Streams path line by line into fn, handling over-long lines and damaged gzip streams the same
 * way for every file. */
static us_status each_line(ingest *g, const char *path, const char *role, us_reader *r,
                           line_fn fn, const char *label) {
    us_lines *l;
    us_status st = us_lines_open(&l, path, g->err);
    if (st != US_OK) return st;
    /* Progress in raw (compressed) bytes read: MiB for large files, KiB for small ones. */
    int shift = us_lines_size(l) >= (256u << 20) ? 20 : 10;
    us_progress bar;
    us_progress_begin(&bar, NULL, label, shift == 20 ? "MiB" : "KiB", us_lines_size(l) >> shift,
                      g->cfg->quiet);
    long last_good = 0; /* the last line that did not fail */
    for (;;) {
        char *line;
        size_t len;
        us_err e;
        us_err_clear(&e);
        int got = us_lines_next(l, &line, &len, &e);
        if (got == 0) break;
        if (got == US_EFORMAT && !us_lines_too_long(l)) {
            /* truncated or corrupt gzip: lines before it were read. Say how much of the file
             * the damage cost: inflate may turn corrupt data into garbage lines for a while
             * before it notices, so everything after the last line that gave a record is
             * lost. */
            long at = us_lines_lineno(l), lost = at - last_good;
            if (at > 0) {
                size_t n = strlen(e.msg);
                snprintf(e.msg + n, sizeof e.msg - n,
                         "; the lines after line %ld, the last good one, are lost: %ld of the "
                         "%ld lines read (%.1f%%), and the rest of the file",
                         last_good, lost, at, 100.0 * (double)lost / (double)at);
            }
            if (g->cfg->strict) {
                *g->err = e;
                st = US_EFORMAT;
                break;
            }
            count_skip(g, role, US_SKIP_TRUNCATED, &e, e.line);
            us_logf(g->cfg->log, US_LOG_WARN, "%s:%ld: %s", e.file, e.line, e.msg);
            break;
        }
        if (got < 0) {
            *g->err = e;
            st = (us_status)got;
            break;
        }
        uint64_t skipped = g->rep->skipped;
        if ((st = fn(g, r, l, line, len)) != US_OK) break;
        if (g->rep->skipped == skipped) last_good = us_lines_lineno(l);
        if ((us_lines_lineno(l) & 1023) == 0) us_progress_set(&bar, us_lines_raw_bytes(l) >> shift);
    }
    us_progress_set(&bar, us_lines_raw_bytes(l) >> shift);
    us_progress_end(&bar);
    if (st == US_OK) {
        g->rep->bytes_read += us_lines_bytes(l);
        char hex[65];
        st = us_lines_sha256(l, hex, g->err);
        if (st == US_OK)
            st = us_store_add_source(g->db, role, path, us_lines_raw_bytes(l), hex, g->err);
    }
    if (!strcmp(role, "reviews")) g->rep->lines = (uint64_t)us_lines_lineno(l);
    else g->rep->meta_lines = (uint64_t)us_lines_lineno(l);
    us_lines_close(l);
    return st;
}

/* Yelp --state: the businesses of that state. */
static us_status state_line(ingest *g, us_reader *r, us_lines *l, char *line, size_t len) {
    us_meta m;
    us_err e;
    us_skip why;
    us_status st = us_read_meta(r, line, len, &m, &e, &why);
    (void)l;
    if (st != US_OK) return US_OK; /* counted in the metadata pass proper */
    if (m.state && !strcmp(m.state, g->cfg->state))
        return us_strtab_intern(g->allowed, m.item, m.item_len, &(uint32_t){0}, NULL);
    return US_OK;
}

/* The first lines of a file decide whether it is the format the user named. */
#define FORMAT_PROBE_LINES 100

static us_status review_line(ingest *g, us_reader *r, us_lines *l, char *line, size_t len) {
    us_review v;
    us_err e;
    us_skip why = US_SKIP_MALFORMED;
    us_err_clear(&e);
    long lineno = us_lines_lineno(l);
    us_status st = us_read_review(r, line, len, &v, &e, &why);
    if (st == US_NOREC) return US_OK;
    /* A last line without a newline may have been cut short. A number cut short still parses,
     * and a cut unix time is still a time (881250949 cut to 8 is 1970), so such a line must
     * also have a time no earlier than every complete line's: a cut time has lost digits. */
    int cut = us_lines_unterminated(l);
    if (st == US_OK && cut && v.ts != US_TS_NONE && g->have_ts && v.ts < g->min_ts) {
        st = us_bad(&e, &why, US_SKIP_RANGE, us_format_time_field(g->cfg->format),
                    "expected a time no earlier than the file's earliest (%lld), found %lld",
                    (long long)g->min_ts, (long long)v.ts);
    }
    if (st == US_EFORMAT && cut) {
        size_t n = strlen(e.msg);
        snprintf(e.msg + n, sizeof e.msg - n,
                 " (the file ends inside this line, without a newline: cut short?)");
    }
    if (st == US_ENOMEM)
        return us_err_set(g->err, st, g->cfg->reviews_path, lineno, NULL, "%s", e.msg);
    if (st != US_OK) {
        if (lineno >= FORMAT_PROBE_LINES && g->recs.len == 0 && g->rep->filtered == 0) {
            return us_err_set(g->err, US_EFORMAT, g->cfg->reviews_path, lineno, NULL,
                              "expected %s reviews, found no valid record in the first %ld lines "
                              "(wrong --format?); this line: %s%s%s",
                              us_format_name(g->cfg->format), lineno, e.field,
                              e.field[0] ? ": " : "", e.msg);
        }
        return bad_line(g, "reviews", g->cfg->reviews_path, lineno, why, &e);
    }
    if (g->allowed) {
        uint32_t unused;
        if (!us_strtab_find(g->allowed, v.item, v.item_len, &unused)) {
            g->rep->filtered++;
            return US_OK;
        }
    }
    rec x = {.rating = (float)v.rating, .ts = v.ts, .seq = (uint32_t)g->recs.len};
    if (v.ts != US_TS_NONE && (!g->have_ts || v.ts < g->min_ts)) {
        g->min_ts = v.ts;
        g->have_ts = 1;
    }
    if (g->recs.len >= UINT32_MAX - 1)
        return us_err_set(g->err, US_EINVAL, g->cfg->reviews_path, lineno, NULL,
                          "expected fewer than 2^32 records");
    if ((st = us_strtab_intern(g->users, v.user, v.user_len, &x.user, NULL)) != US_OK ||
        (st = us_strtab_intern(g->items, v.item, v.item_len, &x.item, NULL)) != US_OK ||
        us_vec_push(&g->recs, x) != US_OK)
        return us_err_set(g->err, US_ENOMEM, g->cfg->reviews_path, lineno, NULL, "out of memory");
    uint8_t text = (v.title && v.title_len) || (v.text && v.text_len);
    if (us_vec_push(&g->has_text, text) != US_OK)
        return us_err_set(g->err, US_ENOMEM, g->cfg->reviews_path, lineno, NULL, "out of memory");
    if (text) {
        sqlite3_stmt *s = g->ins_review;
        sqlite3_bind_int64(s, 1, x.seq);
        if (v.title) sqlite3_bind_text(s, 2, v.title, (int)v.title_len, SQLITE_STATIC);
        else sqlite3_bind_null(s, 2);
        if (v.text) sqlite3_bind_text(s, 3, v.text, (int)v.text_len, SQLITE_STATIC);
        else sqlite3_bind_null(s, 3);
        int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) return db_fail(g, "writing a review");
    }
    return US_OK;
}

/* ---- in-memory filtering ---- */

static int cmp_pair_time(const void *a, const void *b) {
    const rec *x = a, *y = b;
    if (x->user != y->user) return x->user < y->user ? -1 : 1;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Marks all but the latest record of each (user, item) pair as dropped. recs stays in seq order
 * (a sorted copy decides). */
static us_status dedup(ingest *g) {
    size_t n = g->recs.len;
    rec *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return us_err_set(g->err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    memcpy(sorted, g->recs.data, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_pair_time);
    for (size_t i = 0; i + 1 < n; i++) {
        if (sorted[i].user == sorted[i + 1].user && sorted[i].item == sorted[i + 1].item) {
            g->alive[sorted[i].seq] = 0;
            g->rep->duplicates++;
        }
    }
    free(sorted);
    return US_OK;
}

/* Removes interactions of users or items with fewer than k, repeatedly, until every remaining
 * user and item has at least k (a fixed point). */
static us_status kcore(ingest *g) {
    uint32_t k = (uint32_t)g->cfg->kcore, nu = us_strtab_count(g->users),
             ni = us_strtab_count(g->items);
    if (k <= 1) return US_OK;
    uint32_t *du = calloc(nu + 1, sizeof *du), *di = calloc(ni + 1, sizeof *di);
    if (!du || !di) {
        free(du), free(di);
        return us_err_set(g->err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    for (size_t i = 0; i < g->recs.len; i++) {
        if (!g->alive[i]) continue;
        du[g->recs.data[i].user]++;
        di[g->recs.data[i].item]++;
    }
    for (;;) {
        uint64_t removed = 0;
        for (size_t i = 0; i < g->recs.len; i++) {
            rec *x = &g->recs.data[i];
            if (g->alive[i] && (du[x->user] < k || di[x->item] < k)) {
                g->alive[i] = 0;
                removed++;
            }
        }
        if (!removed) break;
        /* Degrees are recounted after a whole sweep, so each round is one well-defined step. */
        memset(du, 0, (nu + 1) * sizeof *du);
        memset(di, 0, (ni + 1) * sizeof *di);
        for (size_t i = 0; i < g->recs.len; i++) {
            if (!g->alive[i]) continue;
            du[g->recs.data[i].user]++;
            di[g->recs.data[i].item]++;
        }
        g->rep->kcore_removed += removed;
        g->rep->kcore_rounds++;
    }
    free(du), free(di);
    return US_OK;
}

/* ---- writing ---- */

typedef struct pos_rec {
    uint32_t user; /* new dense id */
    uint32_t idx;  /* into recs */
    int64_t ts;
    uint32_t seq;
} pos_rec;

static int cmp_user_time(const void *a, const void *b) {
    const pos_rec *x = a, *y = b;
    if (x->user != y->user) return x->user < y->user ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int is_labeled(const ingest *g, const rec *x) {
    return !(g->cfg->format == US_FORMAT_ANIME && x->rating == -1.0f);
}

/* Renumbers users and items densely, orders each history by time, splits it and writes users
 * and interactions. new_item receives the dense id of each interned item (UINT32_MAX if gone);
 * *n_items the number of items kept. */
static us_status write_interactions(ingest *g, uint32_t *new_item, uint32_t *n_items) {
    uint32_t nu = us_strtab_count(g->users), ni = us_strtab_count(g->items);
    uint32_t *new_user = malloc((nu + 1) * sizeof *new_user);
    size_t n_alive = 0;
    for (size_t i = 0; i < g->recs.len; i++) n_alive += g->alive[i];
    pos_rec *order = malloc((n_alive + 1) * sizeof *order);
    if (!new_user || !order) {
        free(new_user), free(order);
        return us_err_set(g->err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    for (uint32_t u = 0; u < nu; u++) new_user[u] = UINT32_MAX;
    for (uint32_t i = 0; i < ni; i++) new_item[i] = UINT32_MAX;
    uint32_t users = 0, items = 0;
    size_t m = 0;
    for (size_t i = 0; i < g->recs.len; i++) {
        if (!g->alive[i]) continue;
        rec *x = &g->recs.data[i];
        if (new_user[x->user] == UINT32_MAX) new_user[x->user] = users++;
        if (new_item[x->item] == UINT32_MAX) new_item[x->item] = items++;
        order[m++] = (pos_rec){new_user[x->user], (uint32_t)i, x->ts, x->seq};
    }
    qsort(order, m, sizeof *order, cmp_user_time);

    us_status st = US_OK;
    sqlite3_stmt *iu = NULL, *ii = NULL;
    if (sqlite3_prepare_v2(g->db, "INSERT INTO users(id, raw_id, n_interactions, n_train) "
                                  "VALUES(?,?,?,?)", -1, &iu, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(g->db, "INSERT INTO interactions(id, user, item, rating, label, ts, "
                                  "pos, split, review) VALUES(?,?,?,?,?,?,?,?,?)",
                           -1, &ii, NULL) != SQLITE_OK) {
        st = db_fail(g, "preparing inserts");
        goto done;
    }
    for (size_t a = 0; a < m && st == US_OK;) {
        size_t b = a;
        while (b < m && order[b].user == order[a].user) b++;
        /* The user's history is order[a..b), oldest first. */
        uint32_t labeled = 0;
        for (size_t j = a; j < b; j++) labeled += is_labeled(g, &g->recs.data[order[j].idx]);
        uint32_t seen_labeled = 0, n_train = 0;
        for (size_t j = a; j < b; j++) {
            rec *x = &g->recs.data[order[j].idx];
            int lab = is_labeled(g, x), split = 0;
            if (lab) {
                seen_labeled++;
                if (labeled >= 3 && seen_labeled == labeled) split = 2;
                else if (labeled >= 3 && seen_labeled == labeled - 1) split = 1;
            }
            n_train += split == 0;
            sqlite3_bind_int64(ii, 1, (int64_t)j);
            sqlite3_bind_int64(ii, 2, order[j].user);
            sqlite3_bind_int64(ii, 3, new_item[x->item]);
            sqlite3_bind_double(ii, 4, x->rating);
            if (lab) sqlite3_bind_int(ii, 5, x->rating >= g->threshold);
            else sqlite3_bind_null(ii, 5);
            if (x->ts != US_TS_NONE) sqlite3_bind_int64(ii, 6, x->ts);
            else sqlite3_bind_null(ii, 6);
            sqlite3_bind_int64(ii, 7, (int64_t)(j - a));
            sqlite3_bind_int(ii, 8, split);
            if (g->has_text.data[x->seq]) sqlite3_bind_int64(ii, 9, x->seq);
            else sqlite3_bind_null(ii, 9);
            if (sqlite3_step(ii) != SQLITE_DONE) st = db_fail(g, "writing an interaction");
            sqlite3_reset(ii);
        }
        size_t raw_len;
        uint32_t old_user = g->recs.data[order[a].idx].user;
        const char *raw = us_strtab_get(g->users, old_user, &raw_len);
        sqlite3_bind_int64(iu, 1, order[a].user);
        sqlite3_bind_text(iu, 2, raw, (int)raw_len, SQLITE_STATIC);
        sqlite3_bind_int64(iu, 3, (int64_t)(b - a));
        sqlite3_bind_int64(iu, 4, n_train);
        if (st == US_OK && sqlite3_step(iu) != SQLITE_DONE) st = db_fail(g, "writing a user");
        sqlite3_reset(iu);
        a = b;
    }
    g->rep->users = users;
    g->rep->items = items;
    g->rep->interactions = m;
    *n_items = items;
done:
    sqlite3_finalize(iu);
    sqlite3_finalize(ii);
    free(new_user);
    free(order);
    return st;
}

/* Writes one item row; m NULL for an item without metadata. */
static us_status insert_item(ingest *g, uint32_t id, const char *raw, size_t raw_len,
                             const us_meta *m) {
    sqlite3_stmt *s = g->ins_item;
    char *cats = NULL, *attrs = NULL;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, raw, (int)raw_len, SQLITE_STATIC);
    if (m) {
        if (m->categories) cats = cJSON_PrintUnformatted(m->categories);
        if (m->attributes) attrs = cJSON_PrintUnformatted(m->attributes);
        sqlite3_bind_text(s, 3, m->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, cats, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, m->description, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, m->brand, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, attrs, -1, SQLITE_STATIC);
    } else {
        for (int c = 3; c <= 7; c++) sqlite3_bind_null(s, c);
    }
    sqlite3_bind_int(s, 8, m != NULL);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    cJSON_free(cats);
    cJSON_free(attrs);
    return rc == SQLITE_DONE ? US_OK : db_fail(g, "writing an item");
}

/* The metadata file has lines but no valid record among the first of them: another dataset's
 * file, most likely, which would leave every item without metadata. */
static us_status wrong_meta(ingest *g, long lines, int whole, long first, const char *field,
                            const char *msg) {
    return us_err_set(g->err, US_EFORMAT, g->cfg->meta_path, whole ? 0 : lines, NULL,
                      "expected %s metadata, found no valid record in %s %ld lines (wrong "
                      "--meta?); line %ld: %s%s%s", us_format_name(g->cfg->format),
                      whole ? "its" : "the first", lines, first, field, field[0] ? ": " : "",
                      msg);
}

static us_status meta_line(ingest *g, us_reader *r, us_lines *l, char *line, size_t len) {
    us_meta m;
    us_err e;
    us_skip why = US_SKIP_MALFORMED;
    us_err_clear(&e);
    us_status st = us_read_meta(r, line, len, &m, &e, &why);
    if (st == US_NOREC) return US_OK;
    if (st == US_ENOMEM)
        return us_err_set(g->err, st, g->cfg->meta_path, us_lines_lineno(l), NULL, "%s", e.msg);
    if (st != US_OK) {
        long lineno = us_lines_lineno(l);
        if (lineno >= FORMAT_PROBE_LINES && g->rep->meta_records == 0)
            return wrong_meta(g, lineno, 0, lineno, e.field, e.msg);
        return bad_line(g, "meta", g->cfg->meta_path, lineno, why, &e);
    }
    g->rep->meta_records++;
    uint32_t old;
    if (!us_strtab_find(g->items, m.item, m.item_len, &old) || g->new_item[old] == UINT32_MAX) {
        g->rep->meta_unused++;
        return US_OK;
    }
    uint32_t id = g->new_item[old];
    if (g->item_written[id]) return US_OK; /* a repeated line for the same item: first wins */
    g->item_written[id] = 1;
    g->rep->items_with_meta++;
    return insert_item(g, id, m.item, m.item_len, &m);
}

/* Items: those with metadata from the metadata pass, then the rest with their raw id only. */
static us_status write_items(ingest *g, uint32_t n_items) {
    us_status st = US_OK;
    uint32_t ni = us_strtab_count(g->items);
    g->item_written = calloc(n_items + 1, 1);
    if (!g->item_written) return us_err_set(g->err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    if (sqlite3_prepare_v2(g->db, "INSERT INTO items(id, raw_id, title, categories, "
                                  "description, brand, attributes, has_meta) "
                                  "VALUES(?,?,?,?,?,?,?,?)", -1, &g->ins_item, NULL) != SQLITE_OK)
        return db_fail(g, "preparing item inserts");
    if (g->cfg->meta_path) {
        us_reader r;
        us_reader_init(&r, g->cfg->format, 1);
        st = each_line(g, g->cfg->meta_path, "meta", &r, meta_line, "metadata");
        us_reader_free(&r);
        /* A file shorter than the probe, none of whose lines is a record. */
        if (st == US_OK && g->rep->meta_records == 0 && g->rep->meta_lines > 0) {
            const us_skip_count *k = NULL;
            for (int i = 0; i < g->rep->nskip_kinds && !k; i++)
                if (!strcmp(g->rep->skips[i].role, "meta")) k = &g->rep->skips[i];
            st = wrong_meta(g, (long)g->rep->meta_lines, 1, k ? k->first_line : 1,
                            k ? k->field : "", k ? k->example : "not a record");
        }
    }
    for (uint32_t old = 0; old < ni && st == US_OK; old++) {
        uint32_t id = g->new_item[old];
        if (id == UINT32_MAX || g->item_written[id]) continue;
        size_t raw_len;
        const char *raw = us_strtab_get(g->items, old, &raw_len);
        st = insert_item(g, id, raw, raw_len, NULL);
    }
    return st;
}

/* Review rows of records that did not survive (duplicates, k-core) are deleted. */
static us_status drop_dead_reviews(ingest *g) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(g->db, "DELETE FROM reviews WHERE id = ?", -1, &s, NULL) != SQLITE_OK)
        return db_fail(g, "preparing deletes");
    us_status st = US_OK;
    for (size_t i = 0; i < g->recs.len && st == US_OK; i++) {
        if (g->alive[i] || !g->has_text.data[i]) continue;
        sqlite3_bind_int64(s, 1, (int64_t)i);
        if (sqlite3_step(s) != SQLITE_DONE) st = db_fail(g, "deleting a review");
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return st;
}

/* ---- the whole ingest ---- */

us_ingest_config us_ingest_config_default(void) {
    return (us_ingest_config){.format = US_FORMAT_AMAZON, .like_threshold = NAN};
}

static us_status check_config(const us_ingest_config *c, us_err *err) {
    if ((unsigned)c->format >= US_FORMAT_COUNT)
        return us_err_set(err, US_EINVAL, NULL, 0, "--format", "expected a known format");
    if (!c->reviews_path || !*c->reviews_path)
        return us_err_set(err, US_EINVAL, NULL, 0, "--reviews", "expected a reviews file");
    if (!c->out_path || !*c->out_path)
        return us_err_set(err, US_EINVAL, NULL, 0, "--out", "expected an output store path");
    if (c->kcore < 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "--kcore", "expected k >= 0, found %d",
                          c->kcore);
    if (!isnan(c->like_threshold) && !isfinite(c->like_threshold))
        return us_err_set(err, US_EINVAL, NULL, 0, "--like-threshold", "expected a number");
    if (c->state && c->format != US_FORMAT_YELP)
        return us_err_set(err, US_EINVAL, NULL, 0, "--state", "only applies to --format yelp");
    if (c->state && !c->meta_path)
        return us_err_set(err, US_EINVAL, NULL, 0, "--state",
                          "needs --meta yelp_academic_dataset_business.json, where states are");
    return US_OK;
}

/* Refuses an --out that is one of the input files (the same file under any name): the store
 * would replace the data it is read from. */
static us_status out_is_not_input(const us_ingest_config *c, us_err *err) {
    struct stat out;
    if (stat(c->out_path, &out) != 0) return US_OK; /* a new file cannot be an input */
    const char *in[2] = {c->reviews_path, c->meta_path};
    const char *flag[2] = {"--reviews", "--meta"};
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        if (in[i] && stat(in[i], &sb) == 0 && sb.st_dev == out.st_dev && sb.st_ino == out.st_ino)
            return us_err_set(err, US_EINVAL, c->out_path, 0, "--out",
                              "expected a store path apart from the inputs, found the %s file "
                              "%s itself (the store would replace it)", flag[i], in[i]);
    }
    return US_OK;
}

static us_status write_meta_table(ingest *g) {
    const us_ingest_config *c = g->cfg;
    us_ingest_report *r = g->rep;
    char buf[64];
    us_status st = US_OK;
#define PUT(k, v) \
    if (st == US_OK) st = us_store_put_meta(g->db, (k), (v), g->err)
#define PUTU(k, v) \
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)(v)); \
    PUT(k, buf)
    snprintf(buf, sizeof buf, "%d", US_STORE_SCHEMA);
    PUT("schema", buf);
    PUT("format", us_format_name(c->format));
    PUT("category_kind", us_format_category_kind(c->format));
    snprintf(buf, sizeof buf, "%.17g", g->threshold);
    PUT("like_threshold", buf);
    PUTU("kcore", c->kcore);
    PUTU("strict", c->strict);
    PUT("state", c->state ? c->state : "");
    PUT("split", "per user by time: all but the last two labeled train, then valid, then test");
    PUTU("lines", r->lines);
    PUTU("records", r->records);
    PUTU("skipped", r->skipped);
    PUTU("filtered", r->filtered);
    PUTU("duplicates", r->duplicates);
    PUTU("kcore_removed", r->kcore_removed);
    PUTU("kcore_rounds", r->kcore_rounds);
    PUTU("meta_lines", r->meta_lines);
    PUTU("meta_records", r->meta_records);
    PUTU("meta_unused", r->meta_unused);
    PUTU("users", r->users);
    PUTU("items", r->items);
    PUTU("items_with_meta", r->items_with_meta);
    PUTU("interactions", r->interactions);
#undef PUT
#undef PUTU
    for (int i = 0; i < r->nskip_kinds && st == US_OK; i++)
        st = us_store_add_skip(g->db, &r->skips[i], g->err);
    return st;
}

us_status us_ingest(const us_ingest_config *cfg, us_ingest_report *rep_out, us_err *err) {
    us_ingest_report rep_local;
    us_ingest_report *rep = rep_out ? rep_out : &rep_local;
    memset(rep, 0, sizeof *rep);
    us_err_clear(err);
    us_status st = check_config(cfg, err);
    if (st != US_OK) return st;
    double t0 = us_now();
    ingest g = {.cfg = cfg, .rep = rep, .err = err};
    us_format_scale(cfg->format, NULL, NULL, &g.threshold);
    if (!isnan(cfg->like_threshold)) g.threshold = cfg->like_threshold;

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%ld", cfg->out_path, (long)getpid()) >=
        (int)sizeof tmp)
        return us_err_set(err, US_EINVAL, cfg->out_path, 0, NULL, "path too long");
    if ((st = out_is_not_input(cfg, err)) != US_OK) return st;
    us_store_lock *lock = NULL;
    if ((st = us_store_lock_acquire(cfg->out_path, &lock, err)) != US_OK) return st;
    us_store_remove_stale_temps(cfg->out_path);
    if ((st = us_store_create(tmp, &g.db, err)) != US_OK) goto fail;
    if ((st = us_strtab_init(&g.users)) != US_OK || (st = us_strtab_init(&g.items)) != US_OK) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        goto fail;
    }
    if (sqlite3_prepare_v2(g.db, "INSERT INTO reviews(id, title, text) VALUES(?,?,?)", -1,
                           &g.ins_review, NULL) != SQLITE_OK) {
        st = db_fail(&g, "preparing review inserts");
        goto fail;
    }

    if (cfg->state) {
        us_reader r;
        if ((st = us_strtab_init(&g.allowed)) != US_OK) goto fail;
        us_reader_init(&r, cfg->format, 1);
        /* A first look at the business file; its bad lines are counted in the real pass. */
        us_ingest_report scratch_rep = {0};
        g.rep = &scratch_rep;
        us_lines *l;
        if ((st = us_lines_open(&l, cfg->meta_path, err)) == US_OK) {
            char *line;
            size_t len;
            int got;
            while ((got = us_lines_next(l, &line, &len, err)) == 1 && st == US_OK)
                if (line) st = state_line(&g, &r, l, line, len);
            us_err_clear(err);
            us_lines_close(l);
        }
        g.rep = rep;
        us_reader_free(&r);
        if (st != US_OK) goto fail;
    }

    {
        us_reader r;
        us_reader_init(&r, cfg->format, 0);
        st = each_line(&g, cfg->reviews_path, "reviews", &r, review_line, "reviews");
        us_reader_free(&r);
        if (st != US_OK) goto fail;
    }
    rep->records = g.recs.len;
    if (g.recs.len == 0 && cfg->state && us_strtab_count(g.allowed) == 0) {
        st = us_err_set(err, US_EEMPTY, cfg->meta_path, 0, "--state",
                        "expected businesses in state \"%s\", found none in the business file "
                        "(states are as written there, e.g. \"MO\")",
                        cfg->state);
        goto fail;
    }
    if (g.recs.len == 0 && cfg->state && rep->filtered > 0) {
        st = us_err_set(err, US_EEMPTY, cfg->reviews_path, 0, "--state",
                        "expected reviews of businesses in state \"%s\", found none (%llu "
                        "valid reviews are of businesses elsewhere)",
                        cfg->state, (unsigned long long)rep->filtered);
        goto fail;
    }
    if (g.recs.len == 0) {
        st = us_err_set(err, US_EEMPTY, cfg->reviews_path, 0, NULL,
                        rep->lines == 0 ? "expected %s reviews, found an empty file"
                                        : "expected %s reviews, found no valid record",
                        us_format_name(cfg->format));
        goto fail;
    }
    g.alive = malloc(g.recs.len);
    if (!g.alive) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        goto fail;
    }
    memset(g.alive, 1, g.recs.len);
    if ((st = dedup(&g)) != US_OK || (st = kcore(&g)) != US_OK) goto fail;

    uint32_t n_items = 0;
    uint32_t *new_item = malloc(((size_t)us_strtab_count(g.items) + 1) * sizeof *new_item);
    if (!new_item) {
        st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        goto fail;
    }
    g.new_item = new_item;
    st = write_interactions(&g, new_item, &n_items);
    if (st == US_OK && rep->interactions == 0)
        st = us_err_set(err, US_EEMPTY, cfg->reviews_path, 0, "--kcore",
                        "expected interactions to remain, found none after %d-core filtering",
                        cfg->kcore);
    if (st == US_OK) st = write_items(&g, n_items);
    if (st == US_OK) st = drop_dead_reviews(&g);
    if (st == US_OK) st = write_meta_table(&g);
    if (st == US_OK) st = us_store_finish(g.db, err);
    sqlite3_finalize(g.ins_item);
    g.ins_item = NULL;
    free(new_item);
    g.new_item = NULL;
    if (st != US_OK) goto fail;
    sqlite3_finalize(g.ins_review);
    g.ins_review = NULL;
    if ((st = us_store_close(g.db, tmp, err)) != US_OK) {
        g.db = NULL;
        goto fail;
    }
    g.db = NULL;
    if (rename(tmp, cfg->out_path) != 0) {
        st = us_err_set(err, US_EIO, cfg->out_path, 0, NULL, "cannot rename %s into place", tmp);
        goto fail;
    }
    us_store_sync_dir(cfg->out_path);
    us_store_lock_release(lock);
    rep->seconds = us_now() - t0;
    us_strtab_free(g.users);
    us_strtab_free(g.items);
    us_strtab_free(g.allowed);
    free(g.recs.data);
    free(g.has_text.data);
    free(g.alive);
    free(g.item_written);
    return US_OK;

fail:
    sqlite3_finalize(g.ins_review);
    sqlite3_finalize(g.ins_item);
    if (g.db) sqlite3_close(g.db);
    unlink(tmp);
    us_store_lock_release(lock);
    us_strtab_free(g.users);
    us_strtab_free(g.items);
    us_strtab_free(g.allowed);
    free(g.recs.data);
    free(g.has_text.data);
    free(g.alive);
    free(g.item_written);
    return st;
}
