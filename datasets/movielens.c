/* movielens.c — GroupLens MovieLens ratings and movies, in the three layouts it was published in;
 * the first line of a file decides which (r->variant):
 *   ml-100k    u.data   "user \t item \t rating \t timestamp"          (no header)
 *              u.item   "id|title|release date|video release date|IMDb URL|19 genre flags"
 *   ml-1m      ratings.dat "UserID::MovieID::Rating::Timestamp"       (also ml-10m)
 *              movies.dat  "MovieID::Title::Genres", genres separated by '|'
 *   CSV        ratings.csv "userId,movieId,rating,timestamp" and movies.csv "movieId,title,genres"
 *              (ml-latest-small and later; header required, columns mapped by name, RFC 4180
 *              quoting, "(no genres listed)" meaning none)
 *
 * The 100k and 1m files are ISO-8859-1: a line that is not valid UTF-8 is read as Latin-1 and
 * converted into reader scratch, so every string returned is UTF-8 (the dispatcher does not check
 * MovieLens lines for that reason). Titles keep the year as published ("Toy Story (1995)"); the
 * year of a trailing "(YYYY)" is also kept as an attribute, with the 100k release date and IMDb
 * URL. Ids must be decimal integers. It deliberately does not read tags, links or genome files,
 * move the article of "American President, The (1995)" back to the front, or guess the encoding
 * of a line that is valid UTF-8. */
#include <string.h>

#include "datasets/internal.h"

enum { ML_UNKNOWN = 0, ML_100K = 1, ML_1M = 2, ML_CSV = 3 };
#define MAX_FIELDS 64

enum { R_USER, R_MOVIE, R_RATING, R_TIME, R_NCOLS };
static const char *const rating_cols[R_NCOLS] = {"userId", "movieId", "rating", "timestamp"};
enum { M_ID, M_TITLE, M_GENRES, M_NCOLS };
static const char *const movie_cols[M_NCOLS] = {"movieId", "title", "genres"};

/* ml-100k u.item genre flags, in column order. "unknown" marks a movie without a genre. */
static const char *const genres_100k[19] = {
    "unknown", "Action",    "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama", "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance", "Sci-Fi",    "Thriller",  "War",       "Western"};

static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    }
    return 1;
}

/* Trims spaces and tabs off both ends and NUL-terminates the result (in place). */
static void trim(char **s, size_t *len) {
    while (*len && (**s == ' ' || **s == '\t')) (*s)++, (*len)--;
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) (*len)--;
    (*s)[*len] = '\0';
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

/* The line as UTF-8: itself when it already is (copied into scratch when `copy`), else its
 * Latin-1 reading converted into scratch (each byte 0x80..0xFF is the code point of that
 * value, two bytes in UTF-8; the dispatcher sized scratch for twice the line). */
static char *as_utf8(us_reader *r, char *line, size_t *len, int copy) {
    if (us_utf8_check(line, *len) < 0) return copy ? us_scratch_put(r, line, *len) : line;
    US_ASSERT(r->scratch_len + 2 * *len + 1 <= r->scratch_cap);
    char *out = r->scratch + r->scratch_len;
    size_t n = 0;
    for (size_t i = 0; i < *len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c < 0x80) {
            out[n++] = (char)c;
        } else {
            out[n++] = (char)(0xC0 | (c >> 6));
            out[n++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[n] = '\0';
    r->scratch_len += n + 1;
    *len = n;
    return out;
}

/* Splits s[0..len) (NUL-terminated) in place at every occurrence of sep, NUL-terminating each
 * field. Stores up to max fields; returns how many there are. */
static int split_sep(char *s, size_t len, const char *sep, char **f, size_t *fl, int max) {
    size_t seplen = strlen(sep), start = 0, i = 0;
    int n = 0;
    for (;;) {
        int at_sep = i + seplen <= len && memcmp(s + i, sep, seplen) == 0;
        if (i < len && !at_sep) {
            i++;
            continue;
        }
        if (n < max) f[n] = s + start, fl[n] = i - start;
        n++;
        if (i >= len) return n;
        s[i] = '\0';
        i += seplen;
        start = i;
    }
}

/* Splits a line of the detected layout into exactly `want` fields (the header's column count
 * for CSV), trimmed and NUL-terminated. */
static us_status split_fields(us_reader *r, char *line, size_t len, int want, char **f,
                              size_t *fl, us_err *err, us_skip *why) {
    int n;
    const char *what;
    if (r->variant == ML_CSV) {
        n = us_csv_split(line, len, ',', f, fl, MAX_FIELDS);
        if (n < 0)
            return us_bad(err, why, US_SKIP_MALFORMED, "",
                          "expected CSV with closed quotes and at most %d columns, found an "
                          "unterminated or misplaced quote, or more columns", MAX_FIELDS);
        want = r->ncol;
        what = "comma-separated";
    } else {
        const char *sep = r->variant == ML_1M ? "::" : (r->is_meta ? "|" : "\t");
        n = split_sep(line, len, sep, f, fl, MAX_FIELDS);
        what = r->variant == ML_1M ? "'::'-separated" : (r->is_meta ? "'|'-separated"
                                                                   : "tab-separated");
    }
    if (n != want)
        return us_bad(err, why, US_SKIP_MALFORMED, "", "expected %d %s fields, found %d", want,
                      what, n);
    for (int i = 0; i < n; i++) trim(&f[i], &fl[i]);
    return US_OK;
}

/* Reads a CSV header into r->col / r->ncol. 0 when every name was found, else -1. */
static int map_header(us_reader *r, char *line, size_t len, const char *const *names,
                      int nnames) {
    char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    int n = us_csv_split(line, len, ',', f, fl, MAX_FIELDS);
    if (n <= 0) return -1;
    for (int i = 0; i < n; i++) trim(&f[i], &fl[i]);
    for (int k = 0; k < nnames; k++) {
        r->col[k] = -1;
        for (int i = 0; i < n && r->col[k] < 0; i++) {
            if (strcmp(f[i], names[k]) == 0) r->col[k] = i;
        }
        if (r->col[k] < 0) return -1;
    }
    r->ncol = n;
    return 0;
}

static void skip_bom(char **line, size_t *len) {
    if (*len >= 3 && memcmp(*line, "\xEF\xBB\xBF", 3) == 0) *line += 3, *len -= 3;
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

us_status us_movielens_review(us_reader *r, char *line, size_t len, us_review *out,
                              us_err *err, us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    line = as_utf8(r, line, &len, 0);
    if (r->variant == ML_UNKNOWN) {
        skip_bom(&line, &len);
        char q[64];
        excerpt(line, len, q);
        if (strstr(line, "::")) {
            r->variant = ML_1M;
        } else if (memchr(line, '\t', len)) {
            r->variant = ML_100K;
        } else if (map_header(r, line, len, rating_cols, R_NCOLS) == 0) {
            r->variant = ML_CSV;
            return US_NOREC;
        } else {
            return us_bad(err, why, US_SKIP_MALFORMED, "",
                          "expected MovieLens ratings (u.data \"user<TAB>item<TAB>rating<TAB>"
                          "timestamp\", ratings.dat \"UserID::MovieID::Rating::Timestamp\" or "
                          "the ratings.csv header \"userId,movieId,rating,timestamp\"), found %s",
                          q);
        }
    }
    char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    us_status st = split_fields(r, line, len, R_NCOLS, f, fl, err, why);
    if (st != US_OK) return st;
    int cu = R_USER, cm = R_MOVIE, cr = R_RATING, ct = R_TIME;
    if (r->variant == ML_CSV)
        cu = r->col[R_USER], cm = r->col[R_MOVIE], cr = r->col[R_RATING], ct = r->col[R_TIME];
    if ((st = id_field(f[cu], fl[cu], "userId", err, why)) != US_OK ||
        (st = id_field(f[cm], fl[cm], "movieId", err, why)) != US_OK)
        return st;
    out->user = f[cu];
    out->user_len = fl[cu];
    out->item = f[cm];
    out->item_len = fl[cm];
    char q[64];
    if (fl[cr] == 0) return us_bad(err, why, US_SKIP_MISSING, "rating", "expected a rating");
    if (us_parse_double(f[cr], fl[cr], &out->rating) != 0)
        return us_bad(err, why, US_SKIP_TYPE, "rating", "expected a number, found %s",
                      excerpt(f[cr], fl[cr], q));
    if (fl[ct] == 0)
        return us_bad(err, why, US_SKIP_MISSING, "timestamp", "expected unix seconds");
    if (us_parse_int64(f[ct], fl[ct], &out->ts) != 0)
        return us_bad(err, why, US_SKIP_TYPE, "timestamp",
                      "expected unix seconds (an integer), found %s", excerpt(f[ct], fl[ct], q));
    return US_OK;
}

/* The year of a title ending in "(YYYY)", or -1. */
static int title_year(const char *t, size_t len) {
    if (len < 6 || t[len - 1] != ')' || t[len - 6] != '(') return -1;
    int y = 0;
    for (size_t i = len - 5; i < len - 1; i++) {
        if (t[i] < '0' || t[i] > '9') return -1;
        y = y * 10 + (t[i] - '0');
    }
    return y;
}

static void attr_text(us_reader *r, const char *name, const char *s, size_t len) {
    if (len) cJSON_AddStringToObject(r->attrs, name, s);
    else cJSON_AddNullToObject(r->attrs, name);
}

/* ml-100k: categories from the 19 genre flags; release date and IMDb URL as attributes. */
static us_status meta_100k(us_reader *r, char **f, size_t *fl, us_err *err, us_skip *why) {
    for (int g = 0; g < 19; g++) {
        const char *flag = f[5 + g];
        if (fl[5 + g] != 1 || (flag[0] != '0' && flag[0] != '1')) {
            char q[64];
            return us_bad(err, why, US_SKIP_TYPE, "genres",
                          "expected genre flag %d (%s) to be 0 or 1, found %s", g + 1,
                          genres_100k[g], excerpt(flag, fl[5 + g], q));
        }
    }
    for (int g = 1; g < 19; g++) {
        if (f[5 + g][0] != '1') continue;
        if (!r->cats && !(r->cats = cJSON_CreateArray())) break;
        cJSON_AddItemToArray(r->cats, cJSON_CreateString(genres_100k[g]));
    }
    if (!r->attrs) r->attrs = cJSON_CreateObject();
    attr_text(r, "release_date", f[2], fl[2]);
    attr_text(r, "imdb_url", f[4], fl[4]);
    return US_OK;
}

us_status us_movielens_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                            us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    /* Always a copy in scratch: metadata strings belong to the reader, not to the line. */
    line = as_utf8(r, line, &len, 1);
    if (r->variant == ML_UNKNOWN) {
        skip_bom(&line, &len);
        char q[64];
        excerpt(line, len, q);
        size_t digits = strspn(line, "0123456789");
        if (strstr(line, "::")) {
            r->variant = ML_1M;
        } else if (digits > 0 && line[digits] == '|') {
            r->variant = ML_100K;
        } else if (map_header(r, line, len, movie_cols, M_NCOLS) == 0) {
            r->variant = ML_CSV;
            return US_NOREC;
        } else {
            return us_bad(err, why, US_SKIP_MALFORMED, "",
                          "expected MovieLens movies (u.item \"id|title|release date|...\", "
                          "movies.dat \"MovieID::Title::Genres\" or the movies.csv header "
                          "\"movieId,title,genres\"), found %s", q);
        }
    }
    char *f[MAX_FIELDS];
    size_t fl[MAX_FIELDS];
    int want = r->variant == ML_100K ? 5 + 19 : M_NCOLS;
    us_status st = split_fields(r, line, len, want, f, fl, err, why);
    if (st != US_OK) return st;
    int ci = M_ID, ct = M_TITLE, cg = M_GENRES;
    if (r->variant == ML_CSV) ci = r->col[M_ID], ct = r->col[M_TITLE], cg = r->col[M_GENRES];
    if ((st = id_field(f[ci], fl[ci], "movieId", err, why)) != US_OK) return st;
    out->item = f[ci];
    out->item_len = fl[ci];
    out->title = fl[ct] ? f[ct] : NULL;

    int year = title_year(f[ct], fl[ct]);
    if (year >= 0) {
        r->attrs = cJSON_CreateObject();
        cJSON_AddNumberToObject(r->attrs, "year", year);
    }
    if (r->variant == ML_100K) return meta_100k(r, f, fl, err, why);
    if (fl[cg] && strcmp(f[cg], "(no genres listed)") != 0) {
        cJSON *genres = cJSON_CreateString(f[cg]);
        us_meta_add_categories(r, genres, '|');
        cJSON_Delete(genres);
    }
    return US_OK;
}
