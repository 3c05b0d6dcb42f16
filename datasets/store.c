/* store.c — the store's schema, the provenance tables (meta, sources, skips), the atomic finish
 * of a store being built, and the statistics `usersim stats` prints. It does not decide what goes
 * in the data tables: ingest.c does. */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets/internal.h"

static const char *const schema_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE sources(role TEXT PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL,"
    "  bytes INTEGER NOT NULL, sha256 TEXT NOT NULL);"
    "CREATE TABLE skips(role TEXT NOT NULL, reason TEXT NOT NULL, field TEXT NOT NULL,"
    "  count INTEGER NOT NULL, first_line INTEGER, example TEXT,"
    "  PRIMARY KEY(role, reason, field));"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, raw_id TEXT NOT NULL,"
    "  n_interactions INTEGER NOT NULL, n_train INTEGER NOT NULL);"
    "CREATE TABLE items(id INTEGER PRIMARY KEY, raw_id TEXT NOT NULL, title TEXT,"
    "  categories TEXT, description TEXT, brand TEXT, attributes TEXT,"
    "  has_meta INTEGER NOT NULL);"
    "CREATE TABLE reviews(id INTEGER PRIMARY KEY, title TEXT, text TEXT);"
    "CREATE TABLE interactions(id INTEGER PRIMARY KEY, user INTEGER NOT NULL,"
    "  item INTEGER NOT NULL, rating REAL NOT NULL, label INTEGER, ts INTEGER,"
    "  pos INTEGER NOT NULL, split INTEGER NOT NULL, review INTEGER);";

/* Indexes are built once at the end: faster than maintaining them row by row. */
static const char *const finish_sql =
    "CREATE UNIQUE INDEX users_raw ON users(raw_id);"
    "CREATE UNIQUE INDEX items_raw ON items(raw_id);"
    "CREATE INDEX interactions_user ON interactions(user, pos);"
    "CREATE INDEX interactions_item ON interactions(item);"
    "CREATE VIEW interactions_full AS SELECT i.*, r.title AS review_title,"
    "  r.text AS review_text FROM interactions i LEFT JOIN reviews r ON r.id = i.review;";

static us_status db_error(sqlite3 *db, const char *path, const char *what, us_err *err) {
    return us_err_set(err, US_EDB, path, 0, NULL, "%s: %s", what,
                      db ? sqlite3_errmsg(db) : "out of memory");
}

us_status us_store_sqlite_name(const char *path, char *buf, size_t cap, const char **out,
                               us_err *err) {
    *out = path;
    if (strncmp(path, "file:", 5) != 0) return US_OK;
    if ((size_t)snprintf(buf, cap, "./%s", path) >= cap)
        return us_err_set(err, US_EINVAL, path, 0, NULL, "path too long");
    *out = buf;
    return US_OK;
}

/* Opens the store at path read-only into *db ("file:..." as a file of that name, not an SQLite
 * URI); on failure *db is NULL and err names the path. */
static us_status open_readonly(const char *path, sqlite3 **db, us_err *err) {
    char buf[4200];
    const char *name;
    *db = NULL;
    us_status st = us_store_sqlite_name(path, buf, sizeof buf, &name, err);
    if (st != US_OK) return st;
    if (sqlite3_open_v2(name, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        st = db_error(*db, path, "cannot open", err);
        sqlite3_close(*db);
        *db = NULL;
    }
    return st;
}

void us_store_remove_stale_temps(const char *store) {
    char *copy = strdup(store);
    if (!copy) return;
    const char *base = strrchr(store, '/');
    base = base ? base + 1 : store;
    size_t nb = strlen(base);
    DIR *d = opendir(dirname(copy));
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            const char *n = de->d_name;
            if (strncmp(n, base, nb) != 0 || strncmp(n + nb, ".tmp-", 5) != 0) continue;
            const char *p = n + nb + 5;
            if (!*p || strspn(p, "0123456789") != strlen(p)) continue;
            char full[4096];
            size_t nd = strlen(store) - strlen(base);
            if (nd + strlen(n) + 1 > sizeof full) continue;
            memcpy(full, store, nd);
            strcpy(full + nd, n);
            unlink(full);
        }
        closedir(d);
    }
    free(copy);
}

us_status us_store_create(const char *path, sqlite3 **db, us_err *err) {
    *db = NULL;
    char buf[4200];
    const char *name;
    us_status nst = us_store_sqlite_name(path, buf, sizeof buf, &name, err);
    if (nst != US_OK) return nst;
    unlink(path); /* a stale file from an interrupted run */
    if (sqlite3_open_v2(name, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        us_status st = db_error(*db, path, "cannot create the store", err);
        sqlite3_close(*db);
        *db = NULL;
        return st;
    }
    /* auto_vacuum must precede the first table. No journal and no syncs while building: the
     * file only becomes the store by the final rename, after an explicit fsync. */
    const char *setup = "PRAGMA page_size=8192; PRAGMA auto_vacuum=INCREMENTAL;"
                        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                        "PRAGMA locking_mode=EXCLUSIVE; PRAGMA cache_size=-65536;"
                        "PRAGMA foreign_keys=OFF;";
    char *msg = NULL;
    if (sqlite3_exec(*db, setup, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(*db, schema_sql, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(*db, "BEGIN", NULL, NULL, &msg) != SQLITE_OK) {
        us_status st = us_err_set(err, US_EDB, path, 0, NULL, "cannot set up the store: %s",
                                  msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(*db);
        *db = NULL;
        return st;
    }
    return US_OK;
}

static us_status exec_bind(sqlite3 *db, const char *sql, us_err *err, int n,
                           const char *const *texts, const int64_t *ints) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_error(db, NULL, "preparing a statement", err);
    for (int i = 0; i < n; i++) {
        if (texts[i]) sqlite3_bind_text(s, i + 1, texts[i], -1, SQLITE_STATIC);
        else sqlite3_bind_int64(s, i + 1, ints[i]);
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? US_OK : db_error(db, NULL, "writing", err);
}

us_status us_store_put_meta(sqlite3 *db, const char *key, const char *value, us_err *err) {
    const char *t[2] = {key, value};
    return exec_bind(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)", err, 2, t, NULL);
}

us_status us_store_add_source(sqlite3 *db, const char *role, const char *path, uint64_t bytes,
                              const char *sha256_hex, us_err *err) {
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    const char *t[5] = {role, name, path, NULL, sha256_hex};
    int64_t n[5] = {0, 0, 0, (int64_t)bytes, 0};
    return exec_bind(db, "INSERT OR REPLACE INTO sources VALUES(?,?,?,?,?)", err, 5, t, n);
}

us_status us_store_add_skip(sqlite3 *db, const us_skip_count *k, us_err *err) {
    const char *t[6] = {k->role, k->reason, k->field, NULL, NULL, k->example};
    int64_t n[6] = {0, 0, 0, (int64_t)k->count, k->first_line, 0};
    return exec_bind(db, "INSERT OR REPLACE INTO skips VALUES(?,?,?,?,?,?)", err, 6, t, n);
}

us_status us_store_finish(sqlite3 *db, us_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, finish_sql, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA incremental_vacuum", NULL, NULL, &msg) != SQLITE_OK) {
        us_status st = us_err_set(err, US_EDB, NULL, 0, NULL, "finishing the store: %s",
                                  msg ? msg : "?");
        sqlite3_free(msg);
        return st;
    }
    return US_OK;
}

us_status us_store_close(sqlite3 *db, const char *path, us_err *err) {
    if (sqlite3_close(db) != SQLITE_OK) {
        sqlite3_close_v2(db);
        return us_err_set(err, US_EDB, path, 0, NULL, "cannot close the store");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0) close(fd);
        return us_err_set(err, US_EIO, path, 0, NULL, "cannot flush the store to disk");
    }
    close(fd);
    return US_OK;
}

void us_store_sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* ---- statistics ---- */

static int64_t query_int(sqlite3 *db, const char *sql, int *ok) {
    sqlite3_stmt *s;
    int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        *ok = 0;
        return 0;
    }
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    else *ok = 0;
    sqlite3_finalize(s);
    return v;
}

/* The SQLite header's page size and page count against the file's length: 1 when the file
 * is shorter than the header says (a copy or a download cut short). A store with a -wal file
 * beside it may legitimately be shorter; it is not judged here. */
static int shorter_than_header(const char *path, long long *have, long long *want) {
    char wal[4200];
    if (snprintf(wal, sizeof wal, "%s-wal", path) < (int)sizeof wal && access(wal, F_OK) == 0)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    unsigned char h[100];
    ssize_t n = read(fd, h, sizeof h);
    off_t len = lseek(fd, 0, SEEK_END);
    close(fd);
    if (n != (ssize_t)sizeof h || memcmp(h, "SQLite format 3", 16) != 0) return 0;
    long long page = (long long)h[16] << 8 | h[17];
    if (page == 1) page = 65536;
    unsigned long long pages = (unsigned long long)h[28] << 24 | (unsigned long long)h[29] << 16 |
                               (unsigned long long)h[30] << 8 | h[31];
    /* the page count is valid only when the change counter matches version-valid-for */
    if (memcmp(h + 24, h + 92, 4) != 0 || pages == 0) return 0;
    *have = (long long)len;
    *want = page * (long long)pages;
    return *have < *want;
}

us_status us_store_check(const char *path, us_err *err) {
    if (!path || access(path, F_OK) != 0)
        return us_err_set(err, US_ENOTFOUND, path, 0, NULL, "no such store");
    long long have = 0, want = 0;
    if (shorter_than_header(path, &have, &want))
        return us_err_set(err, US_EFORMAT, path, 0, NULL,
                          "the store is truncated: %lld bytes where its header says %lld; "
                          "rebuild it (usersim ingest, then usersim build)", have, want);
    sqlite3 *db = NULL;
    us_status ost = open_readonly(path, &db, err);
    if (ost != US_OK) return ost;
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'schema'", -1, &s, NULL);
    int schema = -1;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            const char *v = (const char *)sqlite3_column_text(s, 0);
            schema = v ? atoi(v) : -1;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    int ext = sqlite3_extended_errcode(db);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    switch (rc & 0xff) {
    case SQLITE_OK: break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return us_err_set(err, US_EDB, path, 0, NULL, "the store is locked by a writer (another "
                          "command is writing it): wait or retry when it is done");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        if ((rc & 0xff) == SQLITE_NOTADB && ext == SQLITE_NOTADB && have == 0)
            return us_err_set(err, US_EFORMAT, path, 0, NULL,
                              "not a usersim store: not an SQLite file (%s)", msg);
        return us_err_set(err, US_EFORMAT, path, 0, NULL, "the store is truncated or damaged "
                          "(%s): rebuild it (usersim ingest, then usersim build)", msg);
    case SQLITE_ERROR:
        return us_err_set(err, US_EFORMAT, path, 0, NULL,
                          "not a usersim store: no meta table (%s)", msg);
    default:
        return us_err_set(err, US_EDB, path, 0, NULL, "cannot read the store: %s", msg);
    }
    if (schema > US_STORE_SCHEMA)
        return us_err_set(err, US_EFORMAT, path, 0, "schema", "the store has schema %d, newer "
                          "than this usersim reads (%d): upgrade usersim", schema,
                          US_STORE_SCHEMA);
    if (schema != US_STORE_SCHEMA)
        return us_err_set(err, US_EFORMAT, path, 0, "schema", "the store has schema %d, older "
                          "than this usersim reads (%d): rebuild it (usersim ingest)", schema,
                          US_STORE_SCHEMA);
    return US_OK;
}

us_status us_store_stats_read(const char *path, us_store_stats *out, us_err *err) {
    memset(out, 0, sizeof *out);
    us_status cst = us_store_check(path, err);
    if (cst != US_OK) return cst;
    sqlite3 *db = NULL;
    us_status ost = open_readonly(path, &db, err);
    if (ost != US_OK) return ost;
    int ok = 1;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta WHERE key IN ('schema','format')",
                           -1, &s, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return us_err_set(err, US_EFORMAT, path, 0, NULL,
                          "expected a usersim store, found a file without its meta table");
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *v = (const char *)sqlite3_column_text(s, 1);
        if (!k || !v) continue;
        if (!strcmp(k, "schema")) out->schema = atoi(v);
        else snprintf(out->format, sizeof out->format, "%s", v);
    }
    sqlite3_finalize(s);
    if (out->schema != US_STORE_SCHEMA) {
        int found = out->schema;
        sqlite3_close(db);
        return us_err_set(err, US_EFORMAT, path, 0, "schema",
                          "expected store schema %d, found %d", US_STORE_SCHEMA, found);
    }
    out->users = (uint64_t)query_int(db, "SELECT count(*) FROM users", &ok);
    out->items = (uint64_t)query_int(db, "SELECT count(*) FROM items", &ok);
    out->items_with_meta = (uint64_t)query_int(db, "SELECT count(*) FROM items WHERE has_meta",
                                               &ok);
    out->interactions = (uint64_t)query_int(db, "SELECT count(*) FROM interactions", &ok);
    out->labeled = (uint64_t)query_int(db, "SELECT count(label) FROM interactions", &ok);
    out->likes = (uint64_t)query_int(db, "SELECT count(*) FROM interactions WHERE label = 1",
                                     &ok);
    out->train = (uint64_t)query_int(db, "SELECT count(*) FROM interactions WHERE split = 0",
                                     &ok);
    out->valid = (uint64_t)query_int(db, "SELECT count(*) FROM interactions WHERE split = 1",
                                     &ok);
    out->test = (uint64_t)query_int(db, "SELECT count(*) FROM interactions WHERE split = 2",
                                    &ok);
    out->with_text = (uint64_t)query_int(
        db, "SELECT count(*) FROM interactions i JOIN reviews r ON r.id = i.review "
            "WHERE length(r.text) > 0", &ok);
    out->first_ts = query_int(db, "SELECT ifnull(min(ts), 0) FROM interactions", &ok);
    out->last_ts = query_int(db, "SELECT ifnull(max(ts), 0) FROM interactions", &ok);
    /* Median history length: the middle one or two of the sorted per-user counts. */
    if (out->users) {
        uint64_t n = out->users;
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT sum(n_interactions) FROM (SELECT n_interactions FROM users "
                 "ORDER BY n_interactions LIMIT %d OFFSET %llu)",
                 n % 2 ? 1 : 2, (unsigned long long)((n - 1) / 2));
        out->median_history = (double)query_int(db, sql, &ok) / (n % 2 ? 1 : 2);
        out->mean_history = (double)out->interactions / (double)n;
    }
    sqlite3_close(db);
    if (!ok)
        return us_err_set(err, US_EFORMAT, path, 0, NULL,
                          "expected the tables of a usersim store, found some missing");
    if (out->users && out->items)
        out->density = (double)out->interactions / ((double)out->users * (double)out->items);
    if (out->labeled) out->like_ratio = (double)out->likes / (double)out->labeled;
    if (out->interactions) out->text_share = (double)out->with_text / (double)out->interactions;
    if (out->items) out->meta_share = (double)out->items_with_meta / (double)out->items;
    return US_OK;
}
