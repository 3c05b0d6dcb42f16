/* keywords.c — keyword normalization, the stage's store tables, and the merge of the pass
 * results into the final per-item pros and cons with a catalogue vocabulary.
 *
 * It deliberately does not stem beyond simple plurals ("running" stays "running"), merge
 * synonyms, or case-fold beyond ASCII: keywords are short English phrases, and the embed
 * stage relates the ones that mean the same.
 */
#include <stdlib.h>
#include <string.h>

#include "simulator/keywords/extract_internal.h"

/* ------------------------------------------------------------------------------------------
 * Words
 * ---------------------------------------------------------------------------------------- */

/* Function words and empty nouns, sorted for bsearch. Written for this project. */
static const char *const STOP[] = {
    "a",       "about",   "above",  "after",   "again",  "against", "all",     "almost",
    "along",   "also",    "am",     "an",      "and",    "another", "any",     "anything",
    "anywhere", "are",    "around", "as",      "at",     "away",    "back",    "be",
    "been",    "before",  "being",  "below",
    "between", "both",    "but",    "by",      "can",    "could",   "did",     "do",
    "does",    "doing",   "down",   "during",  "each",   "either",  "else",    "enough",
    "etc",     "even",    "ever",   "every",   "everywhere", "far",  "few",     "for",
    "from",    "further",
    "had",     "has",     "have",   "having",  "he",     "her",     "here",    "hers",
    "him",     "his",     "how",    "i",       "if",     "in",      "into",    "is",
    "it",      "its",     "itself", "just",    "less",   "lot",     "lots",    "may",
    "me",
    "might",   "mine",    "more",   "most",    "much",   "must",    "my",      "myself",
    "of",      "off",     "on",     "once",    "one",    "ones",    "only",    "onto",
    "or",      "other",   "our",    "ours",    "out",    "over",    "own",     "per",
    "quite",   "rather",  "same",   "several", "she",    "should",  "since",   "so",
    "some",    "something", "somewhere", "such", "than",    "that",   "the",     "their",   "theirs",
    "them",    "then",    "there",  "these",   "they",   "thing",   "things",  "this",
    "those",   "though",  "through", "to",     "too",    "under",   "until",   "up",
    "upon",    "us",      "very",   "via",     "was",    "we",      "were",    "what",
    "when",    "where",   "whether", "which",  "while",  "who",     "whom",    "whose",
    "why",     "will",    "with",   "within",  "without", "would",  "yet",     "you",
    "your",    "yours",   "yourself",
};
#define NSTOP (sizeof STOP / sizeof STOP[0])

static int cmp_word(const void *key, const void *elem) {
    const char *const *w = key;
    return strcmp(*w, *(const char *const *)elem);
}

int kw_is_stop(const char *w, size_t n) {
    char buf[32];
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, w, n);
    buf[n] = '\0';
    const char *k = buf;
    return bsearch(&k, STOP, NSTOP, sizeof STOP[0], cmp_word) != NULL;
}

/* Words ending in "s" that are not plurals (or whose plural we do not strip). */
static const char *const NOT_PLURAL[] = {
    "always", "analysis", "bass", "bias", "bus", "canvas", "chaos", "class", "crisis",
    "electronics", "gas", "gloss", "grass", "has", "is", "lens", "less", "mass", "news",
    "perhaps", "physics", "plus", "series", "species", "stainless", "status", "this", "thus",
    "was", "yes",
};
#define NNOT_PLURAL (sizeof NOT_PLURAL / sizeof NOT_PLURAL[0])

static int ends(const char *w, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && memcmp(w + n - k, suf, k) == 0;
}

size_t kw_singular(char *w, size_t n) {
    if (n <= 3 || w[n - 1] != 's') return n;
    char buf[32];
    if (n < sizeof buf) {
        memcpy(buf, w, n);
        buf[n] = '\0';
        const char *k = buf;
        if (bsearch(&k, NOT_PLURAL, NNOT_PLURAL, sizeof NOT_PLURAL[0], cmp_word)) return n;
    }
    if (ends(w, n, "ss") || ends(w, n, "us") || ends(w, n, "is") || ends(w, n, "ous"))
        return n;
    if (ends(w, n, "ies") && n > 4) { /* batteries -> battery */
        w[n - 3] = 'y';
        return n - 2;
    }
    /* boxes, glasses, brushes, watches, buzzes: the "es" belongs to the plural. */
    if (ends(w, n, "sses") || ends(w, n, "shes") || ends(w, n, "ches") || ends(w, n, "xes") ||
        ends(w, n, "zzes"))
        return n - 2;
    return n - 1; /* zippers -> zipper, cables -> cable */
}

/* A byte that is part of a word: ASCII letters and digits, and any byte >= 0x80 (UTF-8). */
static int word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

size_t kw_normalize(const char *s, size_t n, char *out, size_t cap) {
    US_ASSERT(cap >= KW_MAX_BYTES + 1);
    /* Split into words; hyphens and apostrophes join letters on both sides ("well-made",
     * "don't"), everything else separates. */
    size_t ws[KW_MAX_WORDS * 4], we[KW_MAX_WORDS * 4];
    int nw = 0;
    size_t i = 0;
    char low[256];
    if (n > sizeof low) n = sizeof low; /* a keyword longer than this is rejected anyway */
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        low[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    while (i < n) {
        while (i < n && !word_byte((unsigned char)low[i])) i++;
        if (i >= n) break;
        size_t b = i;
        while (i < n) {
            unsigned char c = (unsigned char)low[i];
            if (word_byte(c)) {
                i++;
            } else if ((c == '-' || c == '\'') && i + 1 < n &&
                       word_byte((unsigned char)low[i + 1]) && i > b) {
                i++;
            } else {
                break;
            }
        }
        if (nw == (int)(sizeof ws / sizeof ws[0])) return 0; /* far too many words */
        ws[nw] = b;
        we[nw] = i;
        nw++;
    }
    /* Trim stop words at both ends. */
    int first = 0, last = nw - 1;
    while (first <= last && kw_is_stop(low + ws[first], we[first] - ws[first])) first++;
    while (last >= first && kw_is_stop(low + ws[last], we[last] - ws[last])) last--;
    if (first > last || last - first + 1 > KW_MAX_WORDS) return 0;
    size_t len = 0;
    int letter = 0;
    for (int k = first; k <= last; k++) {
        char w[64];
        size_t wl = we[k] - ws[k];
        if (wl >= sizeof w) return 0;
        memcpy(w, low + ws[k], wl);
        /* Possessive "'s" goes ("battery's" -> "battery"). */
        if (wl > 2 && w[wl - 2] == '\'' && w[wl - 1] == 's') wl -= 2;
        wl = kw_singular(w, wl);
        for (size_t j = 0; j < wl; j++)
            if ((w[j] >= 'a' && w[j] <= 'z') || (unsigned char)w[j] >= 0x80) letter = 1;
        if (len + (k > first) + wl > KW_MAX_BYTES) return 0;
        if (k > first) out[len++] = ' ';
        memcpy(out + len, w, wl);
        len += wl;
    }
    out[len] = '\0';
    if (len < KW_MIN_BYTES || !letter) return 0;
    /* A cut inside a UTF-8 sequence cannot happen (words end at ASCII bytes), but an invalid
     * input stays invalid: refuse it rather than store bytes that are not text. */
    if (us_utf8_check(out, len) >= 0) return 0;
    return len;
}

/* ------------------------------------------------------------------------------------------
 * Store tables
 * ---------------------------------------------------------------------------------------- */

static const char *const SCHEMA_SQL =
    "CREATE TABLE IF NOT EXISTS keyword(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE,"
    "  n_items INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS item_keyword(item INTEGER NOT NULL, side INTEGER NOT NULL,"
    "  keyword INTEGER NOT NULL, PRIMARY KEY(item, side, keyword));"
    "CREATE TABLE IF NOT EXISTS item_profile(item INTEGER PRIMARY KEY, category TEXT,"
    "  pros_text TEXT NOT NULL, cons_text TEXT NOT NULL, source TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS keyword_evidence(item INTEGER NOT NULL, side INTEGER NOT NULL,"
    "  keyword INTEGER NOT NULL, support INTEGER NOT NULL, evidence TEXT,"
    "  PRIMARY KEY(item, side, keyword));"
    "CREATE TABLE IF NOT EXISTS extraction(item INTEGER NOT NULL, pass TEXT NOT NULL,"
    "  prompt_version TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,"
    "  result TEXT, raw TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(item, pass, prompt_version, model));"
    "CREATE TABLE IF NOT EXISTS llm_request(id INTEGER PRIMARY KEY, item INTEGER NOT NULL,"
    "  pass TEXT NOT NULL, prompt_version TEXT NOT NULL, model TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL, outcome TEXT NOT NULL, http_status INTEGER,"
    "  latency_s REAL, prompt_tokens INTEGER, completion_tokens INTEGER, error TEXT);";

us_status kw_schema(sqlite3 *db, const char *path, us_err *err) {
    char *msg = NULL;
    if (sqlite3_exec(db, SCHEMA_SQL, NULL, NULL, &msg) != SQLITE_OK) {
        us_status st = us_err_set(err, US_EDB, path, 0, NULL, "creating the keyword tables: %s",
                                  msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return st;
    }
    return US_OK;
}

/* ------------------------------------------------------------------------------------------
 * The merge
 * ---------------------------------------------------------------------------------------- */

/* One (item, keyword) candidate: support on each side and the first evidence of each. */
typedef struct cand {
    uint32_t kw;         /* id in the run's string table */
    int64_t sup[2];      /* pros, cons */
    const char *ev[2];   /* borrowed from the pass results */
    int side;            /* the side it ends on, -1 dropped */
} cand;

typedef US_VEC(cand) cand_vec;

typedef struct item_cands {
    size_t start, n; /* into the flat candidate array */
    const char *category;
} item_cands;

static int64_t reason_support(const cJSON *reason) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(reason, "support");
    if (cJSON_IsNumber(s) && s->valuedouble >= 1 && s->valuedouble < 1e9)
        return (int64_t)s->valuedouble;
    return 1;
}

/* Adds the keywords of one side of one pass result to the item's candidates (the last n of
 * *all, from start). */
static us_status add_side(cand_vec *all, size_t start, us_strtab *tab, const cJSON *list,
                          int side) {
    const cJSON *reason;
    cJSON_ArrayForEach(reason, list) {
        const cJSON *kws = cJSON_GetObjectItemCaseSensitive(reason, "keywords");
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(reason, "evidence");
        int64_t sup = reason_support(reason);
        const cJSON *k;
        cJSON_ArrayForEach(k, kws) {
            if (!cJSON_IsString(k)) continue;
            char norm[KW_MAX_BYTES + 1];
            size_t len = kw_normalize(k->valuestring, strlen(k->valuestring), norm, sizeof norm);
            if (!len) continue;
            uint32_t id;
            if (us_strtab_intern(tab, norm, len, &id, NULL) != US_OK) return US_ENOMEM;
            size_t j = start;
            while (j < all->len && all->data[j].kw != id) j++;
            if (j == all->len) {
                cand c = {.kw = id, .side = -1};
                if (us_vec_push(all, c) != US_OK) return US_ENOMEM;
            }
            all->data[j].sup[side] += sup;
            if (!all->data[j].ev[side] && cJSON_IsString(ev)) all->data[j].ev[side] = ev->valuestring;
        }
    }
    return US_OK;
}

static const char *pass_category(const cJSON *r) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "category");
    return cJSON_IsString(c) && c->valuestring[0] ? c->valuestring : NULL;
}

/* One candidate of one item's side, for ranking: by support (descending), then text. */
typedef struct ranked {
    int64_t sup;
    const char *text;
    cand *c;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->sup != y->sup) return x->sup > y->sup ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* Fills order with the candidates c[0..n) on `side` that pass keep (NULL: all), ranked. */
static size_t rank_side(cand *c, size_t n, int side, const us_strtab *tab, const int64_t *ids,
                        ranked *order) {
    size_t m = 0;
    for (size_t j = 0; j < n; j++)
        if (c[j].side == side && (!ids || ids[c[j].kw] >= 0))
            order[m++] = (ranked){c[j].sup[side], us_strtab_get(tab, c[j].kw, NULL), &c[j]};
    qsort(order, m, sizeof *order, cmp_ranked);
    return m;
}

typedef struct vocab_entry {
    uint32_t kw;
    const char *text;
    int64_t n_items;
    int64_t id; /* final id, -1 dropped */
} vocab_entry;

static int cmp_vocab_text(const void *a, const void *b) {
    return strcmp(((const vocab_entry *)a)->text, ((const vocab_entry *)b)->text);
}

static us_status db_fail(sqlite3 *db, const char *path, const char *what, us_err *err) {
    return us_err_set(err, US_EDB, path, 0, NULL, "%s: %s", what, sqlite3_errmsg(db));
}

/* Appends s to a growable text buffer. */
typedef US_VEC(char) textbuf;
static int tb_put(textbuf *b, const char *s) {
    size_t n = strlen(s);
    if (us_grow((void **)&b->data, &b->cap, b->len + n + 1, 1) != US_OK) return -1;
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
    return 0;
}

us_status kw_merge_write(sqlite3 *db, const char *path, const kw_item_passes *items, size_t n,
                         const us_extract_config *cfg, const char *source, uint64_t *n_keywords,
                         uint64_t *n_links, us_err *err) {
    us_status st = US_ENOMEM;
    us_strtab *tab = NULL;
    cand_vec all = {0};
    item_cands *ic = calloc(n ? n : 1, sizeof *ic);
    vocab_entry *voc = NULL;
    ranked *order = NULL;
    int64_t *counts = NULL;
    sqlite3_stmt *ins_kw = NULL, *ins_ik = NULL, *ins_pr = NULL, *ins_ev = NULL;
    textbuf pros = {0}, cons = {0};
    if (!ic || us_strtab_init(&tab) != US_OK) goto oom;

    /* 1. Candidates per item, support summed over passes and reasons. */
    for (size_t i = 0; i < n; i++) {
        ic[i].start = all.len;
        const cJSON *passes[2] = {items[i].objective, items[i].subjective};
        for (int p = 0; p < 2; p++) {
            if (!passes[p]) continue;
            if (add_side(&all, ic[i].start, tab,
                         cJSON_GetObjectItemCaseSensitive(passes[p], "pros"), 0) != US_OK ||
                add_side(&all, ic[i].start, tab,
                         cJSON_GetObjectItemCaseSensitive(passes[p], "cons"), 1) != US_OK)
                goto oom;
        }
        ic[i].n = all.len - ic[i].start;
        const char *c = items[i].objective ? pass_category(items[i].objective) : NULL;
        if (!c && items[i].subjective) c = pass_category(items[i].subjective);
        ic[i].category = c ? c : items[i].fallback_category;
    }

    /* 2. A side per candidate: the one with more support; then the top max_per_side. */
    size_t maxn = 0;
    for (size_t i = 0; i < n; i++) maxn = ic[i].n > maxn ? ic[i].n : maxn;
    order = malloc((maxn ? maxn : 1) * sizeof *order);
    if (!order) goto oom;
    for (size_t i = 0; i < n; i++) {
        cand *c = all.data + ic[i].start;
        for (size_t j = 0; j < ic[i].n; j++)
            c[j].side = c[j].sup[0] > c[j].sup[1] ? 0 : c[j].sup[1] > c[j].sup[0] ? 1 : -1;
        for (int side = 0; side < 2; side++) {
            size_t m = rank_side(c, ic[i].n, side, tab, NULL, order);
            for (size_t j = (size_t)cfg->max_per_side; j < m; j++) order[j].c->side = -1;
        }
    }

    /* 3. Vocabulary: items per keyword, thresholds, ids in text order. */
    uint32_t nk = us_strtab_count(tab);
    counts = calloc(nk ? nk : 1, sizeof *counts);
    voc = calloc(nk ? nk : 1, sizeof *voc);
    if (!counts || !voc) goto oom;
    for (size_t i = 0; i < n; i++) {
        cand *c = all.data + ic[i].start;
        for (size_t j = 0; j < ic[i].n; j++)
            if (c[j].side >= 0) counts[c[j].kw]++; /* one side per item: counted once */
    }
    double max_items = cfg->max_item_share * (double)n;
    size_t nv = 0;
    for (uint32_t k = 0; k < nk; k++) {
        if (counts[k] == 0) {
            counts[k] = -1; /* on no item's final lists */
            continue;
        }
        voc[nv] = (vocab_entry){.kw = k, .text = us_strtab_get(tab, k, NULL),
                                .n_items = counts[k], .id = -1};
        nv++;
    }
    qsort(voc, nv, sizeof *voc, cmp_vocab_text);
    int64_t next_id = 0;
    for (size_t v = 0; v < nv; v++) {
        int keep = voc[v].n_items >= cfg->min_items && (double)voc[v].n_items <= max_items;
        voc[v].id = keep ? next_id++ : -1;
        counts[voc[v].kw] = keep ? voc[v].id : -1; /* reused: keyword -> final id */
    }

    /* 4. Write. The embedding stage's vectors (when it has run) are keyed by keyword id and
     * item: the old texts are kept aside so that, after the rewrite, exactly the vectors whose
     * text changed are dropped, in this transaction, and `usersim embed` encodes only those. */
    char *msg = NULL;
    int has_vec = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                               "name IN ('keyword_vec', 'item_vec')", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        has_vec = sqlite3_column_int(q, 0) == 2;
    sqlite3_finalize(q);
    if (has_vec && sqlite3_exec(db, "CREATE TEMP TABLE old_kw AS SELECT id, text FROM keyword;"
                                    "CREATE TEMP TABLE old_prof AS SELECT item, pros_text, "
                                    "cons_text FROM item_profile;",
                                NULL, NULL, &msg) != SQLITE_OK) {
        st = us_err_set(err, US_EDB, path, 0, NULL, "keeping the old keyword texts: %s",
                        msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        goto done;
    }
    if (sqlite3_exec(db, "DELETE FROM keyword; DELETE FROM item_keyword; DELETE FROM "
                         "item_profile; DELETE FROM keyword_evidence;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        st = us_err_set(err, US_EDB, path, 0, NULL, "clearing the keyword tables: %s",
                        msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        goto done;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO keyword(id, text, n_items) VALUES(?, ?, ?)", -1,
                           &ins_kw, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO item_keyword(item, side, keyword) VALUES(?, ?, ?)",
                           -1, &ins_ik, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO item_profile(item, category, pros_text, cons_text, "
                               "source) VALUES(?, ?, ?, ?, ?)", -1, &ins_pr, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO keyword_evidence(item, side, keyword, support, "
                               "evidence) VALUES(?, ?, ?, ?, ?)", -1, &ins_ev, NULL) !=
            SQLITE_OK) {
        st = db_fail(db, path, "preparing the keyword inserts", err);
        goto done;
    }
    for (size_t v = 0; v < nv; v++) {
        if (voc[v].id < 0) continue;
        sqlite3_bind_int64(ins_kw, 1, voc[v].id);
        sqlite3_bind_text(ins_kw, 2, voc[v].text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins_kw, 3, voc[v].n_items);
        if (sqlite3_step(ins_kw) != SQLITE_DONE) {
            st = db_fail(db, path, "writing keyword", err);
            goto done;
        }
        sqlite3_reset(ins_kw);
    }
    uint64_t links = 0;
    for (size_t i = 0; i < n; i++) {
        cand *c = all.data + ic[i].start;
        pros.len = cons.len = 0;
        if (tb_put(&pros, "") || tb_put(&cons, "")) goto oom;
        for (int side = 0; side < 2; side++) {
            /* Keywords in the profile text by support, as an LLM would list them. */
            size_t m = rank_side(c, ic[i].n, side, tab, counts, order);
            textbuf *tb = side ? &cons : &pros;
            for (size_t j = 0; j < m; j++) {
                const cand *x = order[j].c;
                if ((j && tb_put(tb, ", ")) || tb_put(tb, us_strtab_get(tab, x->kw, NULL)))
                    goto oom;
                sqlite3_bind_int64(ins_ik, 1, items[i].item);
                sqlite3_bind_int(ins_ik, 2, side);
                sqlite3_bind_int64(ins_ik, 3, counts[x->kw]);
                sqlite3_bind_int64(ins_ev, 1, items[i].item);
                sqlite3_bind_int(ins_ev, 2, side);
                sqlite3_bind_int64(ins_ev, 3, counts[x->kw]);
                sqlite3_bind_int64(ins_ev, 4, x->sup[side]);
                if (x->ev[side])
                    sqlite3_bind_text(ins_ev, 5, x->ev[side], -1, SQLITE_STATIC);
                else
                    sqlite3_bind_null(ins_ev, 5);
                if (sqlite3_step(ins_ik) != SQLITE_DONE || sqlite3_step(ins_ev) != SQLITE_DONE) {
                    st = db_fail(db, path, "writing item_keyword", err);
                    goto done;
                }
                sqlite3_reset(ins_ik);
                sqlite3_reset(ins_ev);
                links++;
            }
        }
        sqlite3_bind_int64(ins_pr, 1, items[i].item);
        if (ic[i].category)
            sqlite3_bind_text(ins_pr, 2, ic[i].category, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(ins_pr, 2);
        sqlite3_bind_text(ins_pr, 3, pros.data, (int)pros.len, SQLITE_STATIC);
        sqlite3_bind_text(ins_pr, 4, cons.data, (int)cons.len, SQLITE_STATIC);
        sqlite3_bind_text(ins_pr, 5, source, -1, SQLITE_STATIC);
        if (sqlite3_step(ins_pr) != SQLITE_DONE) {
            st = db_fail(db, path, "writing item_profile", err);
            goto done;
        }
        sqlite3_reset(ins_pr);
    }
    if (has_vec &&
        sqlite3_exec(db,
                     "DELETE FROM keyword_vec WHERE keyword NOT IN (SELECT k.id FROM keyword k "
                     "JOIN temp.old_kw o ON o.id = k.id AND o.text = k.text);"
                     "DELETE FROM item_vec WHERE NOT EXISTS (SELECT 1 FROM item_profile p JOIN "
                     "temp.old_prof o ON o.item = p.item WHERE p.item = item_vec.item AND "
                     "CASE item_vec.side WHEN 0 THEN p.pros_text = o.pros_text ELSE "
                     "p.cons_text = o.cons_text END);"
                     "DROP TABLE temp.old_kw; DROP TABLE temp.old_prof;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        st = us_err_set(err, US_EDB, path, 0, NULL, "dropping stale vectors: %s",
                        msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        goto done;
    }
    if (n_keywords) *n_keywords = (uint64_t)next_id;
    if (n_links) *n_links = links;
    st = US_OK;
    goto done;
oom:
    st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory merging keywords");
done:
    sqlite3_finalize(ins_kw);
    sqlite3_finalize(ins_ik);
    sqlite3_finalize(ins_pr);
    sqlite3_finalize(ins_ev);
    free(pros.data);
    free(cons.data);
    free(order);
    free(counts);
    free(voc);
    free(ic);
    free(all.data);
    us_strtab_free(tab);
    return st;
}
