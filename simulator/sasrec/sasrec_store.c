/* sasrec_store.c — SASRec checkpoints inside the store: the config as JSON (and back), and
 * the table sasrec_checkpoint(version, head, config, config_hash, n_params, shapes, params,
 * metrics, created_by), one row per saved model, written in one transaction and validated on
 * load (config, hash, tensor shapes, blob size) with errors that say what was expected.
 *
 * It deliberately does not keep optimizer state (Adam moments): a checkpoint is for serving
 * and for evaluation; a resumed training starts its moments at zero. */
#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/sasrec/sasrec.h"
#include "simulator/sasrec/sasrec_internal.h"

/* ------------------------------------------------------------------------------------------
 * Config <-> JSON
 * ---------------------------------------------------------------------------------------- */

char *us_sasrec_config_json(const us_sasrec_config *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    /* Floats are written as the double of their float value, which reads back exactly. The
     * seed is a decimal string: a JSON number (double) cannot hold every uint64. */
    cJSON_AddStringToObject(o, "head", c->head == US_SASREC_NEXT ? "next" : "rating");
    cJSON_AddNumberToObject(o, "n_users", c->n_users);
    cJSON_AddNumberToObject(o, "n_items", c->n_items);
    cJSON_AddNumberToObject(o, "d", c->d);
    cJSON_AddNumberToObject(o, "n_blocks", c->n_blocks);
    cJSON_AddNumberToObject(o, "n_heads", c->n_heads);
    cJSON_AddNumberToObject(o, "max_len", c->max_len);
    cJSON_AddNumberToObject(o, "dropout", c->dropout);
    cJSON_AddNumberToObject(o, "ln_eps", c->ln_eps);
    cJSON_AddNumberToObject(o, "lr", c->lr);
    cJSON_AddNumberToObject(o, "beta1", c->beta1);
    cJSON_AddNumberToObject(o, "beta2", c->beta2);
    cJSON_AddNumberToObject(o, "adam_eps", c->adam_eps);
    cJSON_AddNumberToObject(o, "weight_decay", c->weight_decay);
    cJSON_AddNumberToObject(o, "clip_norm", c->clip_norm);
    cJSON_AddNumberToObject(o, "batch_size", c->batch_size);
    cJSON_AddNumberToObject(o, "max_epochs", c->max_epochs);
    cJSON_AddNumberToObject(o, "patience", c->patience);
    cJSON_AddNumberToObject(o, "eval_negatives", c->eval_negatives);
    cJSON_AddStringToObject(o, "seed", seed);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* A required number field of o into *out; US_EFORMAT naming the field otherwise. */
static us_status json_num(const cJSON *o, const char *field, double *out, us_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!cJSON_IsNumber(v))
        return us_err_set(err, US_EFORMAT, NULL, 0, field, "expected a number, found %s",
                          v ? "another type" : "nothing");
    *out = v->valuedouble;
    return US_OK;
}

static us_status json_int(const cJSON *o, const char *field, int *out, us_err *err) {
    double x = 0.0;
    us_status st = json_num(o, field, &x, err);
    if (st != US_OK) return st;
    if (x != floor(x) || x < -2147483648.0 || x > 2147483647.0)
        return us_err_set(err, US_EFORMAT, NULL, 0, field, "expected an integer, found %g", x);
    *out = (int)x;
    return US_OK;
}

static us_status json_float(const cJSON *o, const char *field, float *out, us_err *err) {
    double x = 0.0;
    us_status st = json_num(o, field, &x, err);
    if (st == US_OK) *out = (float)x;
    return st;
}

us_status us_sasrec_config_from_json(const char *json, us_sasrec_config *out, us_err *err) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return us_err_set(err, US_EFORMAT, NULL, 0, "config", "expected a JSON object");
    }
    us_sasrec_config c = us_sasrec_config_default();
    us_status st = US_OK;
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(o, "head");
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
    if (!cJSON_IsString(head) ||
        (strcmp(head->valuestring, "rating") != 0 && strcmp(head->valuestring, "next") != 0)) {
        st = us_err_set(err, US_EFORMAT, NULL, 0, "head", "expected \"rating\" or \"next\"");
        goto done;
    }
    c.head = strcmp(head->valuestring, "next") == 0 ? US_SASREC_NEXT : US_SASREC_RATING;
    if (!cJSON_IsString(seed) || !seed->valuestring[0] ||
        strspn(seed->valuestring, "0123456789") != strlen(seed->valuestring) ||
        strlen(seed->valuestring) > 20) {
        st = us_err_set(err, US_EFORMAT, NULL, 0, "seed", "expected a decimal string");
        goto done;
    }
    c.seed = strtoull(seed->valuestring, NULL, 10);
    if ((st = json_int(o, "n_users", &c.n_users, err)) != US_OK ||
        (st = json_int(o, "n_items", &c.n_items, err)) != US_OK ||
        (st = json_int(o, "d", &c.d, err)) != US_OK ||
        (st = json_int(o, "n_blocks", &c.n_blocks, err)) != US_OK ||
        (st = json_int(o, "n_heads", &c.n_heads, err)) != US_OK ||
        (st = json_int(o, "max_len", &c.max_len, err)) != US_OK ||
        (st = json_float(o, "dropout", &c.dropout, err)) != US_OK ||
        (st = json_float(o, "ln_eps", &c.ln_eps, err)) != US_OK ||
        (st = json_float(o, "lr", &c.lr, err)) != US_OK ||
        (st = json_float(o, "beta1", &c.beta1, err)) != US_OK ||
        (st = json_float(o, "beta2", &c.beta2, err)) != US_OK ||
        (st = json_float(o, "adam_eps", &c.adam_eps, err)) != US_OK ||
        (st = json_float(o, "weight_decay", &c.weight_decay, err)) != US_OK ||
        (st = json_float(o, "clip_norm", &c.clip_norm, err)) != US_OK ||
        (st = json_int(o, "batch_size", &c.batch_size, err)) != US_OK ||
        (st = json_int(o, "max_epochs", &c.max_epochs, err)) != US_OK ||
        (st = json_int(o, "patience", &c.patience, err)) != US_OK ||
        (st = json_int(o, "eval_negatives", &c.eval_negatives, err)) != US_OK)
        goto done;
    st = us_sasrec_config_validate(&c, err);
done:
    cJSON_Delete(o);
    if (st == US_OK) *out = c;
    return st;
}

/* The tensors' names and shapes as a JSON array [{"name": ..., "shape": [...]}, ...] in block
 * order, from the config alone. Caller frees. */
static char *shapes_json(const us_sasrec_config *c) {
    int C = c->d, NB = c->n_blocks, V1 = c->n_items + 1;
    const int dims[US_SASREC_NTENSORS][3] = {
        {V1, C, 0},        {c->max_len, C, 0}, {c->n_users, C, 0}, {NB, C, 0},
        {NB, C, 0},        {NB, 3 * C, C},     {NB, 3 * C, 0},     {NB, C, C},
        {NB, C, 0},        {NB, C, 0},         {NB, C, 0},         {NB, C, C},
        {NB, C, 0},        {NB, C, C},         {NB, C, 0},         {C, 0, 0},
        {C, 0, 0},         {C, 2 * C, 0},      {C, 0, 0},          {1, C, 0},
        {1, 0, 0},
    };
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < US_SASREC_NTENSORS; i++) {
        cJSON *t = cJSON_CreateObject(), *sh = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, t);
        cJSON_AddStringToObject(t, "name", us_sasrec_tensor_names[i]);
        cJSON_AddItemToObject(t, "shape", sh);
        for (int k = 0; k < 3 && dims[i][k] > 0; k++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber(dims[i][k]));
    }
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return s;
}

static us_status sha256_hex_of(const char *s, char hex[65], us_err *err) {
    uint8_t dig[32];
    us_status st = us_sha256_digest(s, strlen(s), dig, err);
    if (st == US_OK) us_sha256_hex(dig, hex);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Save
 * ---------------------------------------------------------------------------------------- */

static const char *const ckpt_table_sql =
    "CREATE TABLE IF NOT EXISTS sasrec_checkpoint(version INTEGER PRIMARY KEY, "
    "head TEXT NOT NULL, config TEXT NOT NULL, config_hash TEXT NOT NULL, "
    "n_params INTEGER NOT NULL, shapes TEXT NOT NULL, params BLOB NOT NULL, "
    "metrics TEXT NOT NULL, created_by TEXT NOT NULL)";

static char *metrics_json(const us_sasrec_metrics *mt) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (mt) {
        cJSON_AddNumberToObject(o, "n", (double)mt->n);
        cJSON_AddNumberToObject(o, "auc", mt->auc);
        cJSON_AddNumberToObject(o, "logloss", mt->logloss);
        cJSON_AddNumberToObject(o, "accuracy", mt->accuracy);
        cJSON_AddNumberToObject(o, "hr10", mt->hr10);
        cJSON_AddNumberToObject(o, "ndcg10", mt->ndcg10);
        cJSON_AddNumberToObject(o, "hr10_full", mt->hr10_full);
        cJSON_AddNumberToObject(o, "ndcg10_full", mt->ndcg10_full);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int sasrec_find_nonfinite(const us_sasrec *m, size_t *tensor, size_t *index) {
    for (size_t t = 0; t < m->block.ntensors; t++) {
        const float *x = m->mem + m->block.offsets[t];
        for (size_t i = 0; i < m->block.sizes[t]; i++)
            if (!isfinite(x[i])) {
                *tensor = t;
                *index = i;
                return 1;
            }
    }
    return 0;
}

us_status us_sasrec_checkpoint_save(const char *path, const us_sasrec *m,
                                    const us_sasrec_metrics *metrics, const char *created_by,
                                    int64_t *version, us_err *err) {
    size_t np = m->block.nparams;
    char *cfg = us_sasrec_config_json(&m->cfg), *shapes = shapes_json(&m->cfg);
    char *mets = metrics_json(metrics);
    uint8_t *blob = malloc(np * 4);
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL;
    us_status st = US_OK;
    int in_tx = 0;
    us_store_lock *lock = NULL;
    size_t bad_t, bad_i;
    if (sasrec_find_nonfinite(m, &bad_t, &bad_i)) {
        st = us_err_set(err, US_EINVAL, path, 0, us_sasrec_tensor_names[bad_t],
                        "expected finite parameters, found %g at index %zu (not finite: the "
                        "model diverged); nothing saved", m->mem[m->block.offsets[bad_t] + bad_i],
                        bad_i);
        goto done;
    }
    if ((st = us_store_lock_acquire(path, &lock, err)) != US_OK) goto done;
    if (!cfg || !shapes || !mets || !blob) {
        st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory (checkpoint)");
        goto done;
    }
    /* params as little-endian float32, whatever the host's byte order */
    for (size_t i = 0; i < np; i++) {
        uint32_t w;
        memcpy(&w, m->mem + i, 4);
        for (int k = 0; k < 4; k++) blob[4 * i + k] = (uint8_t)(w >> (8 * k));
    }
    char hash[65];
    if ((st = sha256_hex_of(cfg, hash, err)) != US_OK) goto done;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        st = us_err_set(err, US_ENOTFOUND, path, 0, NULL, "cannot open the store: %s",
                        sqlite3_errmsg(db));
        goto done;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) goto dberr;
    in_tx = 1;
    if (sqlite3_exec(db, ckpt_table_sql, NULL, NULL, NULL) != SQLITE_OK) goto dberr;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO sasrec_checkpoint(version, head, config, config_hash, "
                           "n_params, shapes, params, metrics, created_by) VALUES("
                           "(SELECT COALESCE(MAX(version), 0) + 1 FROM sasrec_checkpoint),"
                           "?,?,?,?,?,?,?,?)",
                           -1, &ins, NULL) != SQLITE_OK)
        goto dberr;
    sqlite3_bind_text(ins, 1, m->cfg.head == US_SASREC_NEXT ? "next" : "rating", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, cfg, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, (sqlite3_int64)np);
    sqlite3_bind_text(ins, 5, shapes, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(ins, 6, blob, (sqlite3_uint64)np * 4, SQLITE_STATIC);
    sqlite3_bind_text(ins, 7, mets, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 8, created_by ? created_by : "usersim", -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) goto dberr;
    if (version) *version = (int64_t)sqlite3_last_insert_rowid(db);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) goto dberr;
    in_tx = 0;
    goto done;
dberr:
    st = us_err_set(err, US_EDB, path, 0, "sasrec_checkpoint", "%s", sqlite3_errmsg(db));
done:
    sqlite3_finalize(ins);
    if (in_tx) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    us_store_lock_release(lock);
    free(cfg);
    free(shapes);
    free(mets);
    free(blob);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Load
 * ---------------------------------------------------------------------------------------- */

/* The architecture fields of got against want; US_EINVAL naming the first that differs. */
static us_status check_arch(const us_sasrec_config *want, const us_sasrec_config *got,
                            const char *path, us_err *err) {
    struct {
        const char *name;
        long long w, g;
    } f[] = {
        {"head", want->head, got->head},         {"n_users", want->n_users, got->n_users},
        {"n_items", want->n_items, got->n_items}, {"d", want->d, got->d},
        {"n_blocks", want->n_blocks, got->n_blocks}, {"n_heads", want->n_heads, got->n_heads},
        {"max_len", want->max_len, got->max_len},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].w != f[i].g)
            return us_err_set(err, US_EINVAL, path, 0, f[i].name,
                              "checkpoint config does not match: expected %lld, found %lld",
                              f[i].w, f[i].g);
    return US_OK;
}

us_status us_sasrec_checkpoint_load(const char *path, int64_t version,
                                    const us_sasrec_config *expect, us_sasrec **out,
                                    us_err *err) {
    *out = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    us_sasrec *m = NULL;
    char *shapes = NULL;
    us_status st = US_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return us_err_set(err, US_ENOTFOUND, path, 0, NULL, "no such store");
    fclose(f);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        st = us_err_set(err, US_EDB, path, 0, NULL, "cannot open: %s", sqlite3_errmsg(db));
        goto done;
    }
    const char *sql = version > 0
                          ? "SELECT version, head, config, config_hash, n_params, shapes, params "
                            "FROM sasrec_checkpoint WHERE version = ?"
                          : "SELECT version, head, config, config_hash, n_params, shapes, params "
                            "FROM sasrec_checkpoint ORDER BY version DESC LIMIT 1";
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        st = us_err_set(err, US_ENOTFOUND, path, 0, "sasrec_checkpoint",
                        "no checkpoint table (train SASRec first): %s", sqlite3_errmsg(db));
        goto done;
    }
    if (version > 0) sqlite3_bind_int64(q, 1, version);
    if (sqlite3_step(q) != SQLITE_ROW) {
        st = us_err_set(err, US_ENOTFOUND, path, 0, "version",
                        "no checkpoint with version %lld", (long long)version);
        goto done;
    }
    long long ver = sqlite3_column_int64(q, 0);
    const char *head = (const char *)sqlite3_column_text(q, 1);
    const char *cfg_text = (const char *)sqlite3_column_text(q, 2);
    const char *hash = (const char *)sqlite3_column_text(q, 3);
    long long n_params = sqlite3_column_int64(q, 4);
    const char *shapes_got = (const char *)sqlite3_column_text(q, 5);
    if (!head || !cfg_text || !hash || !shapes_got) {
        st = us_err_set(err, US_EFORMAT, path, 0, "sasrec_checkpoint",
                        "version %lld: expected head, config, config_hash and shapes, found "
                        "NULL", ver);
        goto done;
    }
    us_sasrec_config c;
    if ((st = us_sasrec_config_from_json(cfg_text, &c, err)) != US_OK) {
        char inner[600], field[64];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
        snprintf(field, sizeof field, "%s", err ? err->field : "");
        st = us_err_set(err, st, path, 0, field, "version %lld config: %s", ver, inner);
        goto done;
    }
    char want_hash[65];
    if ((st = sha256_hex_of(cfg_text, want_hash, err)) != US_OK) goto done;
    if (strcmp(want_hash, hash) != 0) {
        st = us_err_set(err, US_EFORMAT, path, 0, "config_hash",
                        "version %lld: expected %s (SHA-256 of config), found %.64s", ver,
                        want_hash, hash);
        goto done;
    }
    if (strcmp(head, c.head == US_SASREC_NEXT ? "next" : "rating") != 0) {
        st = us_err_set(err, US_EFORMAT, path, 0, "head",
                        "version %lld: column says \"%s\", config says \"%s\"", ver, head,
                        c.head == US_SASREC_NEXT ? "next" : "rating");
        goto done;
    }
    if (expect && (st = check_arch(expect, &c, path, err)) != US_OK) goto done;
    shapes = shapes_json(&c);
    if (!shapes) {
        st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
        goto done;
    }
    if (strcmp(shapes, shapes_got) != 0) {
        st = us_err_set(err, US_EFORMAT, path, 0, "shapes",
                        "version %lld: expected %.200s (from the config), found %.200s", ver,
                        shapes, shapes_got);
        goto done;
    }
    if ((st = us_sasrec_init(&m, &c, err)) != US_OK) goto done;
    size_t np = m->block.nparams;
    const uint8_t *blob = sqlite3_column_blob(q, 6);
    long long bytes = sqlite3_column_bytes(q, 6);
    if (n_params != (long long)np || bytes != (long long)np * 4 || (np && !blob)) {
        st = us_err_set(err, US_EFORMAT, path, 0, "params",
                        "version %lld: expected %zu float32 parameters (%zu bytes), found "
                        "n_params %lld and a blob of %lld bytes",
                        ver, np, np * 4, n_params, bytes);
        goto done;
    }
    for (size_t i = 0; i < np; i++) {
        uint32_t w = 0;
        for (int k = 0; k < 4; k++) w |= (uint32_t)blob[4 * i + k] << (8 * k);
        memcpy(m->mem + i, &w, 4);
    }
    size_t bad_t, bad_i;
    if (sasrec_find_nonfinite(m, &bad_t, &bad_i))
        st = us_err_set(err, US_EFORMAT, path, 0, us_sasrec_tensor_names[bad_t],
                        "version %lld: expected finite parameters, found %g at index %zu (not "
                        "finite)", ver, m->mem[m->block.offsets[bad_t] + bad_i], bad_i);
done:
    sqlite3_finalize(q);
    sqlite3_close(db);
    free(shapes);
    if (st != US_OK) {
        us_sasrec_free(m);
        return st;
    }
    *out = m;
    return US_OK;
}
