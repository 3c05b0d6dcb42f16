/* anime.c — the "Anime Recommendations Database" (Kaggle, CooperUnion): rating.csv
 * (user_id,anime_id,rating; -1 means watched without a rating; no time) and anime.csv
 * (anime_id,name,genre,type,episodes,rating,members).
 *
 * The header line maps columns by name (any order, extra columns ignored) and yields no record.
 * A first line that is not the expected header is reported as malformed, and the lines after it
 * are then read in the published column order. Names have their HTML entities decoded
 * ("Gintama&#039;" -> "Gintama'"), genres become categories, and type, episodes ("Unknown" ->
 * null), the average rating (empty -> null) and members are kept as attributes. Ids must be
 * decimal integers, as in the published files. It deliberately does not check that ratings are
 * whole numbers, nor range-check the scale (the dispatcher does). */
#include <string.h>

#include "datasets/internal.h"

/* Header states kept in r->variant. */
enum { HEADER_PENDING = 0, HEADER_MAPPED = 1, HEADER_ASSUMED = 2 };
#define MAX_FIELDS 64

enum { R_USER, R_ANIME, R_RATING, R_NCOLS };
static const char *const rating_cols[R_NCOLS] = {"user_id", "anime_id", "rating"};

enum { A_ID, A_NAME, A_GENRE, A_TYPE, A_EPISODES, A_RATING, A_MEMBERS, A_NCOLS };
static const char *const anime_cols[A_NCOLS] = {"anime_id", "name",   "genre",  "type",
                                                "episodes", "rating", "members"};

static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    }
    return 1;
}

static void trim(char **s, size_t *len) {
    while (*len && (**s == ' ' || **s == '\t')) (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) (*len)--;
}

/* Up to 40 bytes of s[0..len) in double quotes for an error message, other than printable
 * ASCII as '?'. */
static const char *excerpt(const char *s, size_t len, char buf[64]) {
    size_t n = 0, i = 0;
    buf[n++] = '"';
    for (; i < len && i < 40; i++) buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (i < len) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

/* The expected header text, for messages. */
static void header_text(const char *const *names, int n, char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", names[i]);
}

/* Reads the first line as the header: maps every name to its column. Returns US_NOREC, or
 * US_EFORMAT (and assumes the published order from then on) when a name is missing. */
static us_status read_header(us_reader *r, char *line, size_t len, const char *const *names,
                             int nnames, us_err *err, us_skip *why) {
    char found[64], expected[96];
    excerpt(line, len, found);
    header_text(names, nnames, expected, sizeof expected);
    char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    int n = us_csv_split(line, len, ',', f, fl, MAX_FIELDS);
    int ok = n > 0;
    for (int k = 0; k < nnames && ok; k++) {
        r->col[k] = -1;
        for (int i = 0; i < n && r->col[k] < 0; i++) {
            char *s = f[i];
            size_t sl = fl[i];
            trim(&s, &sl);
            if (sl == strlen(names[k]) && memcmp(s, names[k], sl) == 0) r->col[k] = i;
        }
        ok = r->col[k] >= 0;
    }
    if (ok) {
        r->variant = HEADER_MAPPED;
        r->ncol = n;
        return US_NOREC;
    }
    r->variant = HEADER_ASSUMED;
    r->ncol = nnames;
    for (int k = 0; k < nnames; k++) r->col[k] = k;
    return us_bad(err, why, US_SKIP_MALFORMED, "",
                  "expected the header \"%s\" on the first line, found %s", expected, found);
}

/* Splits a data line into r->ncol fields; on the first line, reads the header instead. */
static us_status split_row(us_reader *r, char *line, size_t len, const char *const *names,
                           int nnames, char **f, size_t *fl, us_err *err, us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    if (r->variant == HEADER_PENDING) {
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) line += 3, len -= 3;
        return read_header(r, line, len, names, nnames, err, why);
    }
    int n = us_csv_split(line, len, ',', f, fl, MAX_FIELDS);
    if (n < 0)
        return us_bad(err, why, US_SKIP_MALFORMED, "",
                      "expected CSV with closed quotes and at most %d columns, found an "
                      "unterminated or misplaced quote, or more columns", MAX_FIELDS);
    if (n != r->ncol)
        return us_bad(err, why, US_SKIP_MALFORMED, "", "expected %d columns, found %d", r->ncol,
                      n);
    for (int i = 0; i < n; i++) {
        trim(&f[i], &fl[i]);
        f[i][fl[i]] = '\0'; /* within the field: trimming only shortens it */
    }
    return US_OK;
}

/* A required id: a non-empty run of decimal digits. */
static us_status id_field(const char *s, size_t len, const char *field, us_err *err,
                          us_skip *why) {
    if (len == 0) return us_bad(err, why, US_SKIP_MISSING, field, "expected an id, found none");
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            char q[64];
            return us_bad(err, why, US_SKIP_TYPE, field, "expected an integer id, found %s",
                          excerpt(s, len, q));
        }
    }
    return US_OK;
}

us_status us_anime_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                          us_skip *why) {
    char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    us_status st = split_row(r, line, len, rating_cols, R_NCOLS, f, fl, err, why);
    if (st != US_OK) return st;
    int cu = r->col[R_USER], ca = r->col[R_ANIME], cr = r->col[R_RATING];
    if ((st = id_field(f[cu], fl[cu], "user_id", err, why)) != US_OK ||
        (st = id_field(f[ca], fl[ca], "anime_id", err, why)) != US_OK)
        return st;
    out->user = f[cu];
    out->user_len = fl[cu];
    out->item = f[ca];
    out->item_len = fl[ca];
    if (fl[cr] == 0) return us_bad(err, why, US_SKIP_MISSING, "rating", "expected a rating");
    if (us_parse_double(f[cr], fl[cr], &out->rating) != 0) {
        char q[64];
        return us_bad(err, why, US_SKIP_TYPE, "rating", "expected a number, found %s",
                      excerpt(f[cr], fl[cr], q));
    }
    out->ts = US_TS_NONE;
    return US_OK;
}

/* Adds name: an integer, or null when the field is empty or equals `unknown` (when not NULL). */
static us_status int_attr(us_reader *r, const char *s, size_t len, const char *name,
                          const char *unknown, us_err *err, us_skip *why) {
    int64_t v;
    if (len == 0 || (unknown && len == strlen(unknown) && memcmp(s, unknown, len) == 0)) {
        cJSON_AddNullToObject(r->attrs, name);
    } else if (us_parse_int64(s, len, &v) == 0 && v >= 0) {
        cJSON_AddNumberToObject(r->attrs, name, (double)v);
    } else {
        char q[64];
        return us_bad(err, why, US_SKIP_TYPE, name, "expected a count%s%s%s, found %s",
                      unknown ? " or \"" : "", unknown ? unknown : "", unknown ? "\"" : "",
                      excerpt(s, len, q));
    }
    return US_OK;
}

us_status us_anime_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                        us_skip *why) {
    char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    us_status st = split_row(r, line, len, anime_cols, A_NCOLS, f, fl, err, why);
    if (st != US_OK) return st;
    const int *c = r->col;
    if ((st = id_field(f[c[A_ID]], fl[c[A_ID]], "anime_id", err, why)) != US_OK) return st;
    /* Copies into scratch: metadata strings belong to the reader, not to the line. */
    out->item = us_scratch_put(r, f[c[A_ID]], fl[c[A_ID]]);
    out->item_len = fl[c[A_ID]];

    char *name = f[c[A_NAME]];
    size_t name_len = us_html_unescape(name, fl[c[A_NAME]]);
    trim(&name, &name_len);
    out->title = name_len ? us_scratch_put(r, name, name_len) : NULL;

    if (fl[c[A_GENRE]]) {
        cJSON *genres = cJSON_CreateString(f[c[A_GENRE]]);
        us_meta_add_categories(r, genres, ',');
        cJSON_Delete(genres);
    }

    r->attrs = cJSON_CreateObject();
    cJSON_AddStringToObject(r->attrs, "type", f[c[A_TYPE]]);
    if ((st = int_attr(r, f[c[A_EPISODES]], fl[c[A_EPISODES]], "episodes", "Unknown", err,
                       why)) != US_OK)
        return st;
    const char *rs = f[c[A_RATING]];
    size_t rl = fl[c[A_RATING]];
    double avg;
    if (rl == 0) {
        cJSON_AddNullToObject(r->attrs, "rating");
    } else if (us_parse_double(rs, rl, &avg) == 0) {
        cJSON_AddNumberToObject(r->attrs, "rating", avg);
    } else {
        char q[64];
        return us_bad(err, why, US_SKIP_TYPE, "rating", "expected an average rating, found %s",
                      excerpt(rs, rl, q));
    }
    return int_attr(r, f[c[A_MEMBERS]], fl[c[A_MEMBERS]], "members", NULL, err, why);
}
