/* reader.c — the record dispatcher and the helpers every format parser shares: JSON field access
 * with typed errors, metadata builders, strict number and date parsing, CSV splitting and HTML
 * entities. The checks common to all formats (UTF-8, ids, rating scale) live here, once, so a
 * format parser only maps its own fields. Nothing here touches files or the store. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

static const char *const skip_names[US_SKIP_COUNT] = {
    "malformed",    "missing-field",  "wrong-type", "out-of-range",
    "invalid-utf8", "truncated-gzip", "too-long",
};

const char *us_skip_name(us_skip s) {
    return (unsigned)s < US_SKIP_COUNT ? skip_names[s] : "unknown";
}

static const char *const format_names[US_FORMAT_COUNT] = {
    "amazon", "amazon2023", "yelp", "anime", "movielens",
};

const char *us_format_name(us_format f) {
    return (unsigned)f < US_FORMAT_COUNT ? format_names[f] : "unknown";
}

const char *us_format_category_kind(us_format f) {
    return f == US_FORMAT_AMAZON || f == US_FORMAT_AMAZON2023 ? "path" : "list";
}

us_status us_format_parse(const char *name, us_format *out, us_err *err) {
    for (int f = 0; f < US_FORMAT_COUNT; f++) {
        if (name && strcmp(name, format_names[f]) == 0) {
            *out = (us_format)f;
            return US_OK;
        }
    }
    return us_err_set(err, US_EINVAL, NULL, 0, "--format",
                      "expected amazon, amazon2023, yelp, anime or movielens, found \"%s\"",
                      name ? name : "");
}

void us_format_scale(us_format f, double *min, double *max, double *like_threshold) {
    double lo = 1, hi = 5, th = 3;
    if (f == US_FORMAT_ANIME) hi = 10, th = 6;
    if (f == US_FORMAT_MOVIELENS) lo = 0.5;
    if (min) *min = lo;
    if (max) *max = hi;
    if (like_threshold) *like_threshold = th;
}

void us_reader_init(us_reader *r, us_format f, int is_meta) {
    memset(r, 0, sizeof *r);
    r->format = f;
    r->is_meta = is_meta;
    for (int i = 0; i < 16; i++) r->col[i] = -1;
}

static void reader_reset_line(us_reader *r) {
    cJSON_Delete(r->doc);
    cJSON_Delete(r->cats);
    cJSON_Delete(r->attrs);
    r->doc = r->cats = r->attrs = NULL;
    r->scratch_len = 0;
}

void us_reader_free(us_reader *r) {
    if (!r) return;
    reader_reset_line(r);
    free(r->scratch);
    r->scratch = NULL;
    r->scratch_cap = 0;
}

/* Scratch holds at most: ids written as decimal text, a joined description (shorter than the
 * line), and a Latin-1 line converted to UTF-8 (at most twice the line). */
static us_status reader_begin_line(us_reader *r, size_t len, us_err *err) {
    reader_reset_line(r);
    size_t need = 2 * len + 4096;
    if (need > r->scratch_cap) {
        char *p = realloc(r->scratch, need);
        if (!p) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory for a line");
        r->scratch = p;
        r->scratch_cap = need;
    }
    r->lines++;
    return US_OK;
}

char *us_scratch_put(us_reader *r, const char *s, size_t len) {
    US_ASSERT(r->scratch_len + len + 1 <= r->scratch_cap);
    char *p = r->scratch + r->scratch_len;
    memcpy(p, s, len);
    p[len] = '\0';
    r->scratch_len += len + 1;
    return p;
}

us_status us_bad(us_err *err, us_skip *why, us_skip kind, const char *field, const char *fmt,
                 ...) {
    if (why) *why = kind;
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = US_EFORMAT;
        err->file[0] = '\0';
        err->line = 0;
        snprintf(err->field, sizeof err->field, "%s", field ? field : "");
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return US_EFORMAT;
}

/* Quotes up to 40 bytes of s for an error message, escaping what is not printable ASCII. */
static const char *quote_excerpt(const char *s, size_t len, char *buf, size_t n) {
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 40) {
            o += (size_t)snprintf(buf + o, n - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static us_status check_id(const char *s, size_t len, const char *field, us_err *err,
                          us_skip *why) {
    if (!s || len == 0)
        return us_bad(err, why, US_SKIP_MISSING, field, "expected a non-empty id");
    if (len > US_MAX_ID)
        return us_bad(err, why, US_SKIP_TYPE, field,
                      "expected an id of at most %d bytes, found %zu", US_MAX_ID, len);
    return US_OK;
}

static int format_checks_utf8(us_format f) { return f != US_FORMAT_MOVIELENS; }

static us_status check_utf8(const char *line, size_t len, us_err *err, us_skip *why) {
    long at = us_utf8_check(line, len);
    if (at < 0) return US_OK;
    char q[64];
    size_t n = len - (size_t)at < 4 ? len - (size_t)at : 4;
    return us_bad(err, why, US_SKIP_UTF8, "", "expected UTF-8 text, found bytes %s at byte %ld",
                  quote_excerpt(line + at, n, q, sizeof q), at + 1);
}

/* A NUL character, raw or escaped, would end the stored string early ("Copycat (1995)" kept as
 * "Copyca") or vanish from an id (merging two ids), so a line holding one is refused whole.
 * Escapes are looked for only in formats that have them (JSON and Python literals): a
 * backslash starts a pair there, so "\\u0000" is text and not a NUL. */
static us_status check_nul(us_format f, const char *line, size_t len, us_err *err,
                           us_skip *why) {
    const char *raw = memchr(line, '\0', len);
    if (raw)
        return us_bad(err, why, US_SKIP_MALFORMED, "",
                      "expected text without NUL characters, found a NUL byte at byte %zu",
                      (size_t)(raw - line) + 1);
    if (f == US_FORMAT_MOVIELENS || f == US_FORMAT_ANIME) return US_OK;
    for (size_t i = 0; i + 1 < len; i++) {
        if (line[i] != '\\') continue;
        const char *e = line + i + 1;
        size_t left = len - i - 1;
        const char *what = NULL;
        if (left >= 5 && memcmp(e, "u0000", 5) == 0) what = "\\u0000";
        else if (left >= 3 && memcmp(e, "x00", 3) == 0) what = "\\x00";
        else if (left >= 9 && memcmp(e, "U00000000", 9) == 0) what = "\\U00000000";
        if (what)
            return us_bad(err, why, US_SKIP_MALFORMED, "",
                          "expected text without NUL characters, found the escape %s at byte %zu",
                          what, i + 1);
        i++; /* the escaped character is not the start of another escape */
    }
    return US_OK;
}

typedef us_status (*review_fn)(us_reader *, char *, size_t, us_review *, us_err *, us_skip *);
typedef us_status (*meta_fn)(us_reader *, char *, size_t, us_meta *, us_err *, us_skip *);

static const review_fn review_parsers[US_FORMAT_COUNT] = {
    us_amazon_review, us_amazon2023_review, us_yelp_review, us_anime_review,
    us_movielens_review,
};
static const meta_fn meta_parsers[US_FORMAT_COUNT] = {
    us_amazon_meta, us_amazon2023_meta, us_yelp_meta, us_anime_meta, us_movielens_meta,
};

/* The dataset's own name of the rating field, for error messages. */
static const char *rating_field(us_format f) {
    switch (f) {
    case US_FORMAT_AMAZON: return "overall";
    case US_FORMAT_YELP: return "stars";
    default: return "rating";
    }
}

/* The dataset's own name of the time field (Anime has none). */
static const char *time_field(us_format f) {
    switch (f) {
    case US_FORMAT_AMAZON: return "unixReviewTime";
    case US_FORMAT_YELP: return "date";
    default: return "timestamp";
    }
}

const char *us_format_time_field(us_format f) { return time_field(f); }

/* Times a review can have: 1900-01-01 to 3000-01-01 (UTC). Outside it a value is a unit
 * mistake (milliseconds read as seconds) or garbage, and it would also collide with
 * US_TS_NONE. */
#define US_TS_MIN (-2208988800LL)
#define US_TS_MAX (32503680000LL)

us_status us_read_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                         us_skip *why) {
    US_ASSERT((unsigned)r->format < US_FORMAT_COUNT && !r->is_meta);
    memset(out, 0, sizeof *out);
    out->ts = US_TS_NONE;
    us_status st = reader_begin_line(r, len, err);
    if (st != US_OK) return st;
    if (format_checks_utf8(r->format) && (st = check_utf8(line, len, err, why)) != US_OK)
        return st;
    if ((st = check_nul(r->format, line, len, err, why)) != US_OK) return st;
    st = review_parsers[r->format](r, line, len, out, err, why);
    if (st != US_OK) return st;
    if ((st = check_id(out->user, out->user_len, "user", err, why)) != US_OK) return st;
    if ((st = check_id(out->item, out->item_len, "item", err, why)) != US_OK) return st;
    if (r->format != US_FORMAT_ANIME && !(out->ts >= US_TS_MIN && out->ts < US_TS_MAX))
        return us_bad(err, why, US_SKIP_RANGE, time_field(r->format),
                      "expected a time between 1900 and 3000, found %lld unix seconds",
                      (long long)out->ts);
    double lo, hi;
    us_format_scale(r->format, &lo, &hi, NULL);
    int unrated = r->format == US_FORMAT_ANIME && out->rating == -1;
    if (!unrated && !(out->rating >= lo && out->rating <= hi))
        return us_bad(err, why, US_SKIP_RANGE, rating_field(r->format),
                      "expected a rating from %g to %g%s, found %g", lo, hi,
                      r->format == US_FORMAT_ANIME ? " (or -1)" : "", out->rating);
    return US_OK;
}

us_status us_read_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                       us_skip *why) {
    US_ASSERT((unsigned)r->format < US_FORMAT_COUNT && r->is_meta);
    memset(out, 0, sizeof *out);
    us_status st = reader_begin_line(r, len, err);
    if (st != US_OK) return st;
    if (format_checks_utf8(r->format) && (st = check_utf8(line, len, err, why)) != US_OK)
        return st;
    if ((st = check_nul(r->format, line, len, err, why)) != US_OK) return st;
    st = meta_parsers[r->format](r, line, len, out, err, why);
    if (st != US_OK) return st;
    if (!out->categories) out->categories = r->cats;
    if (!out->attributes) out->attributes = r->attrs;
    return check_id(out->item, out->item_len, "item", err, why);
}

/* ---- JSON ---- */

size_t us_json_too_deep(const char *s, size_t len, int max_depth) {
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return i + 1;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

/* The message for JSON that does not parse: nesting past the parser's limit is named as such,
 * since the line may be valid JSON that is only too deep for us. */
us_status us_json_invalid(const char *line, size_t len, size_t at, int max_depth, us_err *err,
                          us_skip *why) {
    size_t deep = us_json_too_deep(line, len, max_depth);
    if (deep)
        return us_bad(err, why, US_SKIP_MALFORMED, "",
                      "expected JSON nested at most %d levels deep, found deeper nesting at "
                      "byte %zu", max_depth, deep);
    return us_bad(err, why, US_SKIP_MALFORMED, "",
                  "expected a JSON object, found invalid JSON at byte %zu", at + 1);
}

us_status us_json_line(us_reader *r, const char *line, size_t len, us_err *err, us_skip *why) {
    const char *end = NULL;
    cJSON_Delete(r->doc);
    r->doc = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!r->doc) {
        size_t at = end && end >= line ? (size_t)(end - line) : 0;
        if (len == 0)
            return us_bad(err, why, US_SKIP_MALFORMED, "",
                          "expected a JSON object, found an empty line");
        return us_json_invalid(line, len, at, CJSON_NESTING_LIMIT, err, why);
    }
    while (end && (size_t)(end - line) < len && isspace((unsigned char)*end)) end++;
    if (end && (size_t)(end - line) < len)
        return us_bad(err, why, US_SKIP_MALFORMED, "",
                      "expected one JSON object per line, found more text at byte %zu",
                      (size_t)(end - line) + 1);
    if (!cJSON_IsObject(r->doc))
        return us_bad(err, why, US_SKIP_MALFORMED, "", "expected a JSON object");
    return US_OK;
}

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an invalid value";
}

us_status us_json_id(us_reader *r, const cJSON *obj, const char *name, const char **s,
                     size_t *len, us_err *err, us_skip *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v)) return us_bad(err, why, US_SKIP_MISSING, name, "expected an id");
    if (cJSON_IsString(v)) {
        *s = v->valuestring;
        *len = strlen(v->valuestring);
        if (*len == 0) return us_bad(err, why, US_SKIP_MISSING, name, "expected a non-empty id");
        return US_OK;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15) {
            char num[32];
            int n = snprintf(num, sizeof num, "%.0f", d);
            *s = us_scratch_put(r, num, (size_t)n);
            *len = (size_t)n;
            return US_OK;
        }
    }
    return us_bad(err, why, US_SKIP_TYPE, name, "expected a string or integer id, found %s",
                  json_type_name(v));
}

us_status us_json_text(const cJSON *obj, const char *name, const char **s, size_t *len,
                       us_err *err, us_skip *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *s = NULL;
    if (len) *len = 0;
    if (!v || cJSON_IsNull(v)) return US_OK;
    if (!cJSON_IsString(v))
        return us_bad(err, why, US_SKIP_TYPE, name, "expected a string, found %s",
                      json_type_name(v));
    *s = v->valuestring;
    if (len) *len = strlen(v->valuestring);
    return US_OK;
}

us_status us_json_number(const cJSON *obj, const char *name, double *out, us_err *err,
                         us_skip *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return us_bad(err, why, US_SKIP_MISSING, name, "expected a number");
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return US_OK;
    }
    if (cJSON_IsString(v) && us_parse_double(v->valuestring, strlen(v->valuestring), out) == 0)
        return US_OK;
    if (cJSON_IsString(v)) {
        char q[64];
        return us_bad(err, why, US_SKIP_TYPE, name, "expected a number, found %s",
                      quote_excerpt(v->valuestring, strlen(v->valuestring), q, sizeof q));
    }
    return us_bad(err, why, US_SKIP_TYPE, name, "expected a number, found %s",
                  json_type_name(v));
}

/* ---- metadata builders ---- */

static int array_has_string(const cJSON *arr, const char *s, size_t len) {
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (cJSON_IsString(e) && strlen(e->valuestring) == len &&
            memcmp(e->valuestring, s, len) == 0)
            return 1;
    }
    return 0;
}

static void add_category(us_reader *r, const char *s, size_t len) {
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    if (!len) return;
    if (!r->cats && !(r->cats = cJSON_CreateArray())) return;
    if (array_has_string(r->cats, s, len)) return;
    char *tmp = malloc(len + 1);
    if (!tmp) return;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    cJSON *str = cJSON_CreateString(tmp);
    free(tmp);
    if (str) cJSON_AddItemToArray(r->cats, str);
}

static void add_categories_depth(us_reader *r, const cJSON *v, char sep, int depth) {
    if (!v || depth > 8) return;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (!sep) {
            add_category(r, s, strlen(s));
            return;
        }
        for (const char *p = s;; p++) {
            if (*p == sep || *p == '\0') {
                add_category(r, s, (size_t)(p - s));
                if (*p == '\0') break;
                s = p + 1;
            }
        }
        return;
    }
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) add_categories_depth(r, e, sep, depth + 1);
    }
}

void us_meta_add_categories(us_reader *r, const cJSON *v, char sep) {
    add_categories_depth(r, v, sep, 0);
}

void us_meta_keep_attr(us_reader *r, cJSON *obj, const char *name) {
    if (!obj || !cJSON_GetObjectItemCaseSensitive(obj, name)) return;
    if (!r->attrs && !(r->attrs = cJSON_CreateObject())) return;
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(obj, name);
    if (v) {
        cJSON_DeleteItemFromObjectCaseSensitive(r->attrs, name);
        cJSON_AddItemToObject(r->attrs, name, v);
    }
}

const char *us_meta_join_text(us_reader *r, const cJSON *v) {
    if (cJSON_IsString(v)) return *v->valuestring ? v->valuestring : NULL;
    if (!cJSON_IsArray(v)) return NULL;
    /* Join into scratch; the parts come from the line, so they fit in the reserved room. */
    size_t total = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (cJSON_IsString(e) && *e->valuestring) total += strlen(e->valuestring) + 1;
    }
    if (!total || r->scratch_len + total + 1 > r->scratch_cap) return NULL;
    char *out = r->scratch + r->scratch_len, *p = out;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e) || !*e->valuestring) continue;
        if (p != out) *p++ = '\n';
        size_t n = strlen(e->valuestring);
        memcpy(p, e->valuestring, n);
        p += n;
    }
    *p = '\0';
    r->scratch_len += (size_t)(p - out) + 1;
    return out;
}

/* ---- numbers and dates ---- */

static void trim(const char **s, size_t *len) {
    while (*len && isspace((unsigned char)**s)) (*s)++, (*len)--;
    while (*len && isspace((unsigned char)(*s)[*len - 1])) (*len)--;
}

int us_parse_double(const char *s, size_t len, double *out) {
    trim(&s, &len);
    if (len == 0 || len > 63) return -1;
    char buf[64];
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* Only decimal notation: strtod would also take "inf", "nan" and hex floats. */
    for (size_t i = 0; i < len; i++) {
        if (!strchr("0123456789+-.eE", buf[i])) return -1;
    }
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end != buf + len || errno == ERANGE || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

int us_parse_int64(const char *s, size_t len, int64_t *out) {
    trim(&s, &len);
    if (len == 0 || len > 20) return -1;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    size_t i = buf[0] == '-' || buf[0] == '+';
    if (i == len) return -1;
    for (; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9') return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (end != buf + len || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (era arithmetic). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int us_parse_datetime(const char *s, size_t len, int64_t *out) {
    trim(&s, &len);
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (len != 10 && len != 19) return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return -1;
    if (len == 19) {
        if ((s[10] != ' ' && s[10] != 'T') || digits(s + 11, 2, &h) || s[13] != ':' ||
            digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
            return -1;
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return -1;
    if (h > 23 || mi > 59 || se > 60) return -1;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return 0;
}

/* ---- CSV and HTML ---- */

int us_csv_split(char *line, size_t len, char sep, char **fields, size_t *lens, int max) {
    int n = 0;
    size_t i = 0;
    for (;;) {
        if (n == max) return -1;
        char *out = line + i, *w = out;
        if (i < len && line[i] == '"') {
            /* Quoted field: copy down over the opening quote, "" becomes ". */
            i++;
            for (;;) {
                if (i >= len) return -1; /* unterminated */
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        *w++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                *w++ = line[i++];
            }
            if (i < len && line[i] != sep) return -1; /* text after the closing quote */
        } else {
            while (i < len && line[i] != sep) {
                if (line[i] == '"') return -1; /* a quote inside an unquoted field */
                w++, i++;
            }
        }
        fields[n] = out;
        lens[n] = (size_t)(w - out);
        n++;
        if (i >= len) {
            *w = '\0';
            return n;
        }
        *w = '\0'; /* overwrites the separator or quote: the field is terminated in place */
        i++;       /* past the separator */
        if (i == len) {
            if (n == max) return -1;
            fields[n] = line + len;
            lens[n] = 0;
            return n + 1;
        }
    }
}

size_t us_html_unescape(char *s, size_t len) {
    static const struct {
        const char *name;
        uint32_t cp;
    } named[] = {{"amp", '&'}, {"quot", '"'}, {"apos", '\''}, {"lt", '<'}, {"gt", '>'},
                 {"nbsp", 0xA0}};
    size_t r = 0, w = 0;
    while (r < len) {
        if (s[r] == '&') {
            size_t semi = r + 1;
            while (semi < len && semi - r <= 10 && s[semi] != ';') semi++;
            if (semi < len && s[semi] == ';' && semi > r + 1) {
                const char *ent = s + r + 1;
                size_t elen = semi - r - 1;
                uint32_t cp = 0;
                int ok = 0;
                if (ent[0] == '#') {
                    int hex = elen > 1 && (ent[1] == 'x' || ent[1] == 'X');
                    size_t k = hex ? 2 : 1;
                    ok = k < elen;
                    for (; k < elen && ok; k++) {
                        int c = (unsigned char)ent[k], v;
                        if (c >= '0' && c <= '9') v = c - '0';
                        else if (hex && c >= 'a' && c <= 'f') v = c - 'a' + 10;
                        else if (hex && c >= 'A' && c <= 'F') v = c - 'A' + 10;
                        else { ok = 0; break; }
                        cp = cp * (hex ? 16 : 10) + (uint32_t)v;
                        if (cp > 0x10FFFF) ok = 0;
                    }
                } else {
                    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
                        if (strlen(named[k].name) == elen &&
                            memcmp(named[k].name, ent, elen) == 0) {
                            cp = named[k].cp;
                            ok = 1;
                        }
                    }
                }
                char enc[4];
                int n = ok ? us_utf8_put(enc, cp) : 0;
                /* An entity is at least 4 bytes ("&lt;"), its encoding at most 4: fits. */
                if (n > 0 && (size_t)n <= semi + 1 - r && cp != 0) {
                    memcpy(s + w, enc, (size_t)n);
                    w += (size_t)n;
                    r = semi + 1;
                    continue;
                }
            }
        }
        s[w++] = s[r++];
    }
    if (w < len) s[w] = '\0';
    return w;
}
