/* keywords.c — keyword normalization, the stage's store tables, and the merge of the pass
 * results into the final per-item pros and cons with a catalogue vocabulary.
 *
 * Normalization decodes HTML entities first (kw_html_decode), and the merge drops a keyword
 * on more than max_item_share of the catalogue (0.25 by default) in the same transaction
 * that writes the keywords: a word that common ("quality", "price") tells no items apart.
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
    "a", "about", "above", "absolutely", "across", "actually", "after", "again", "against",
    "all", "almost", "along", "already", "also", "although", "always", "am", "among", "amongst",
    "an", "and", "another", "any", "anybody", "anymore", "anyone", "anything", "anyway",
    "anyways", "anywhere", "are", "around", "as", "at", "away", "back", "basically", "be",
    "because", "been", "before", "behind", "being", "below", "beside", "besides", "between",
    "both", "but", "by", "can", "certainly", "completely", "could", "could've", "definitely",
    "despite", "did", "do", "does", "doing", "down", "during", "each", "either", "else",
    "enough", "especially", "etc", "even", "ever", "every", "everybody", "everyone",
    "everywhere", "exactly", "fairly", "far", "few", "for", "from", "further", "gonna", "gotta",
    "had", "has", "have", "having", "he", "he'd", "he'll", "he's", "hence", "her", "here",
    "here's", "hers", "herself", "him", "himself", "his", "honestly", "how", "however", "i",
    "i'd", "i'll", "i'm", "i've", "if", "in", "instead", "into", "is", "it", "it'd", "it'll",
    "it's", "its", "itself", "just", "later", "less", "let's", "literally", "lot", "lots",
    "mainly", "many", "may", "maybe", "me", "might", "might've", "mine", "more", "most",
    "mostly", "much", "must", "must've", "my", "myself", "nearly", "now", "of", "off", "often",
    "oh", "on", "once", "one", "ones", "only", "onto", "or", "other", "otherwise", "our",
    "ours", "ourselves", "out", "over", "own", "per", "perhaps", "probably", "quite", "rather",
    "really", "same", "several", "shall", "she", "she'd", "she'll", "she's", "should",
    "should've", "simply", "since", "so", "some", "somebody", "somehow", "someone", "something",
    "sometimes", "somewhat", "somewhere", "soon", "still", "such", "than", "that", "that's",
    "the", "their", "theirs", "them", "themselves", "then", "there", "there's", "therefore",
    "these", "they", "they'd", "they'll", "they're", "they've", "thing", "things", "this",
    "those", "though", "through", "throughout", "thus", "to", "today", "together", "too",
    "totally", "toward", "towards", "under", "unless", "until", "up", "upon", "us", "usually",
    "very", "via", "wanna", "was", "we", "we'd", "we'll", "we're", "we've", "were", "what",
    "what's", "whatever", "when", "whenever", "where", "whereas", "wherever", "whether",
    "which", "whichever", "while", "who", "who's", "whoever", "whom", "whose", "why", "will",
    "with", "within", "without", "would", "would've", "yeah", "yes", "yet", "you", "you'd",
    "you'll", "you're", "you've", "your", "yours", "yourself", "yourselves",
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

/* Words ending in "s" that are not plurals, or whose singular is not what the rules below
 * would make: words that are singular ("news", "series", "blues"), plural-only nouns ("jeans",
 * "pants"), and a few surnames that reviews of music and books name in lower case. */
static const char *const NOT_PLURAL[] = {
    "always", "atlas",   "bias",     "blues",   "canvas",   "chaos",   "collins", "davis",
    "diabetes", "gas",   "has",      "hopkins", "jeans",    "jones",   "lens",    "means",
    "measles", "mumps",  "news",     "pants",   "perhaps",  "plus",    "rollins", "scissors",
    "series",  "species", "stainless", "thanks", "this",    "tongs",   "was",     "whereas",
    "williams", "yes",
};
#define NNOT_PLURAL (sizeof NOT_PLURAL / sizeof NOT_PLURAL[0])

/* Plurals of four or fewer letters: a word that short is stripped only when listed here
 * ("bus", "gas", "lens", "yes" and "this" are not plurals, and most short words in -s are
 * not nouns at all). */
static const char *const SHORT_PLURAL[] = {
    "apps", "arms", "bags", "bars", "beds", "bits", "cans", "caps", "cars", "cats", "cds",
    "cups", "dogs", "dvds", "ears", "eggs", "eyes", "fans", "hats", "jars", "keys", "kids",
    "legs", "lids", "mats", "pads", "pans", "pens", "pets", "pies", "pins", "pots", "rugs",
    "tabs", "tips", "toes", "toys", "tubs",
};
#define NSHORT_PLURAL (sizeof SHORT_PLURAL / sizeof SHORT_PLURAL[0])

/* Plurals in -ies whose singular ends in -ie, not -y ("movies" -> "movie", not "movy"). */
static const char *const IE_PLURAL[] = {
    "aunties", "brownies", "calories", "cookies", "freebies", "goalies", "goodies", "hoodies",
    "indies", "movies", "newbies", "rookies", "selfies", "smoothies", "veggies", "zombies",
};
#define NIE_PLURAL (sizeof IE_PLURAL / sizeof IE_PLURAL[0])

static int ends(const char *w, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && memcmp(w + n - k, suf, k) == 0;
}

static int in_list(const char *w, size_t n, const char *const *list, size_t count) {
    char buf[32];
    if (n >= sizeof buf) return 0;
    memcpy(buf, w, n);
    buf[n] = '\0';
    const char *k = buf;
    return bsearch(&k, list, count, sizeof list[0], cmp_word) != NULL;
}

int kw_plural_lists_check(void) {
    const char *const *lists[3] = {NOT_PLURAL, SHORT_PLURAL, IE_PLURAL};
    size_t counts[3] = {NNOT_PLURAL, NSHORT_PLURAL, NIE_PLURAL};
    for (int l = 0; l < 3; l++)
        for (size_t i = 1; i < counts[l]; i++)
            if (strcmp(lists[l][i - 1], lists[l][i]) >= 0) return l + 1;
    for (size_t i = 1; i < NSTOP; i++)
        if (strcmp(STOP[i - 1], STOP[i]) >= 0) return 4;
    return 0;
}

size_t kw_singular(char *w, size_t n) {
    if (n < 3 || w[n - 1] != 's') return n;
    if (in_list(w, n, NOT_PLURAL, NNOT_PLURAL)) return n;
    if (n <= 4) return in_list(w, n, SHORT_PLURAL, NSHORT_PLURAL) ? n - 1 : n;
    /* Singular endings: class, bonus, analysis, famous, electronics. */
    if (ends(w, n, "ss") || ends(w, n, "us") || ends(w, n, "is") || ends(w, n, "ous") ||
        ends(w, n, "ics"))
        return n;
    if (ends(w, n, "ies")) {
        if (in_list(w, n, IE_PLURAL, NIE_PLURAL)) return n - 1; /* movies -> movie */
        w[n - 3] = 'y'; /* batteries -> battery */
        return n - 2;
    }
    /* glasses, brushes, watches, boxes, buzzes: the "es" belongs to the plural; but not in
     * headaches or niches (ache, niche) or sizes (size), where it belongs to the word. */
    if (ends(w, n, "sses") || ends(w, n, "shes") || ends(w, n, "xes") || ends(w, n, "zzes") ||
        (ends(w, n, "ches") && !ends(w, n, "aches") && !ends(w, n, "iches")))
        return n - 2;
    return n - 1; /* zippers -> zipper, cables -> cable, sizes -> size */
}

/* ------------------------------------------------------------------------------------------
 * HTML entities
 * ---------------------------------------------------------------------------------------- */

/* Named entities that appear in review and catalogue text, sorted for bsearch; each with its
 * replacement, never longer than the entity. Dashes and the no-break space become a space, so
 * that they separate words as they do in the page; typographic quotes become ASCII ones. */
typedef struct entity {
    const char *name, *text;
} entity;

static const entity ENTITIES[] = {
    {"aacute", "\xc3\xa1"}, {"acirc", "\xc3\xa2"},  {"agrave", "\xc3\xa0"}, {"amp", "&"},
    {"apos", "'"},          {"auml", "\xc3\xa4"},   {"bull", " "},          {"ccedil", "\xc3\xa7"},
    {"copy", "\xc2\xa9"},   {"deg", "\xc2\xb0"},    {"eacute", "\xc3\xa9"}, {"ecirc", "\xc3\xaa"},
    {"egrave", "\xc3\xa8"}, {"euml", "\xc3\xab"},   {"frac12", "\xc2\xbd"}, {"gt", ">"},
    {"hellip", "..."},      {"iacute", "\xc3\xad"}, {"laquo", "\""},        {"ldquo", "\""},
    {"lsquo", "'"},         {"lt", "<"},            {"mdash", " "},         {"middot", " "},
    {"nbsp", " "},          {"ndash", " "},         {"ntilde", "\xc3\xb1"}, {"oacute", "\xc3\xb3"},
    {"ouml", "\xc3\xb6"},   {"quot", "\""},         {"raquo", "\""},        {"rdquo", "\""},
    {"reg", "\xc2\xae"},    {"rsquo", "'"},         {"szlig", "\xc3\x9f"},  {"times", "x"},
    {"trade", "\xe2\x84\xa2"}, {"uacute", "\xc3\xba"}, {"uuml", "\xc3\xbc"},
};
#define NENTITIES (sizeof ENTITIES / sizeof ENTITIES[0])

static int cmp_entity(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const entity *)elem)->name);
}

/* The UTF-8 bytes of code point cp written to out (room for 4); punctuation that separates
 * words mapped as the named entities are. Returns the byte count. */
static size_t put_codepoint(uint32_t cp, char *out) {
    if (cp == 0xA0 || cp == 0x2013 || cp == 0x2014 || cp == 0x2022 || cp < 0x20 ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        out[0] = ' ';
        return 1;
    }
    if (cp == 0x2018 || cp == 0x2019) return out[0] = '\'', 1;
    if (cp == 0x201C || cp == 0x201D) return out[0] = '"', 1;
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One decoding pass over s[0..n), in place; returns the new length. */
static size_t decode_once(char *s, size_t n) {
    size_t r = 0, w = 0;
    while (r < n) {
        if (s[r] != '&') {
            s[w++] = s[r++];
            continue;
        }
        /* "&name;" with 2..8 letters or digits, "&#123;" or "&#x1F;" */
        size_t e = r + 1;
        while (e < n && e - r <= 9 && s[e] != ';' && s[e] != '&' && s[e] != ' ') e++;
        if (e >= n || s[e] != ';' || e - r < 3) {
            s[w++] = s[r++];
            continue;
        }
        char name[12], rep[4];
        size_t len = e - r - 1, replen = 0;
        memcpy(name, s + r + 1, len);
        name[len] = '\0';
        if (name[0] == '#') {
            int hex = name[1] == 'x' || name[1] == 'X';
            const char *d = name + 1 + hex;
            uint32_t cp = 0;
            int ok = *d != '\0';
            for (; *d && ok; d++) {
                int v = *d >= '0' && *d <= '9' ? *d - '0'
                        : hex && (*d | 32) >= 'a' && (*d | 32) <= 'f' ? (*d | 32) - 'a' + 10
                                                                      : -1;
                if (v < 0 || cp > 0x10FFFF) ok = 0;
                else cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
            }
            if (ok) replen = put_codepoint(cp, rep);
        } else {
            for (size_t k = 0; k < len; k++) name[k] = (char)(name[k] | 32);
            const entity *x = bsearch(name, ENTITIES, NENTITIES, sizeof ENTITIES[0],
                                      cmp_entity);
            if (x) {
                replen = strlen(x->text);
                memcpy(rep, x->text, replen);
            }
        }
        if (!replen) { /* not an entity we know: kept as it is */
            s[w++] = s[r++];
            continue;
        }
        memcpy(s + w, rep, replen); /* replen <= e - r + 1: never overtakes the reader */
        w += replen;
        r = e + 1;
    }
    return w;
}

size_t kw_html_decode(char *s, size_t n) {
    /* Twice: text escaped twice in the published files ("&amp;quot;") is common. */
    size_t m = decode_once(s, n);
    return m == n ? m : decode_once(s, m);
}

int kw_entity_list_check(void) {
    for (size_t i = 1; i < NENTITIES; i++)
        if (strcmp(ENTITIES[i - 1].name, ENTITIES[i].name) >= 0) return 1;
    return 0;
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
    memcpy(low, s, n);
    n = kw_html_decode(low, n); /* "Home &amp; Kitchen", "&quot;sturdy&quot;" */
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)low[k];
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
    "  latency_s REAL, prompt_tokens INTEGER, completion_tokens INTEGER, error TEXT);"
    "CREATE TABLE IF NOT EXISTS keyword_build(id INTEGER PRIMARY KEY CHECK(id = 1),"
    "  signature TEXT NOT NULL);";

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
    /* Too common: on more than max_item_share of the items, and on more than
     * KW_COMMON_MIN_ITEMS of them (in a catalogue of a few dozen items a share is a handful
     * of items, which says nothing about how common a word is). */
    double max_items = cfg->max_item_share * (double)n;
    if (max_items < KW_COMMON_MIN_ITEMS) max_items = KW_COMMON_MIN_ITEMS;
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
