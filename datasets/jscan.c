/* jscan.c — reads one JSON object per line without building a tree, for the hot path of
 * ingest (review lines: tens of millions of them, ten or so flat fields each).
 *
 * us_jscan validates the whole line against the JSON grammar (RFC 8259: string escapes and
 * control characters, number syntax, literals, nesting to a fixed depth) and records the
 * object's top-level members as spans of the line. Nested values are validated and skipped.
 * A string is decoded only when a parser asks for it, in place in the line (decoding never
 * lengthens a string), and NUL-terminated over its closing quote.
 *
 * Deliberate choices: a lone UTF-16 surrogate in a \u escape decodes to U+FFFD (the review is
 * kept, not thrown away); \u0000 is dropped; keys are compared as raw bytes (no dataset uses
 * escapes in keys); beyond US_JSCAN_MAX top-level members the rest are validated but not
 * recorded; the first of duplicate keys wins, as with cJSON. Metadata lines, which need their
 * nested values, still go through cJSON. */
#include <string.h>

#include "datasets/internal.h"

#define MAX_DEPTH 256

static size_t skip_ws(const char *s, size_t i, size_t n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* s[i] is just past an opening quote. Returns the index of the closing quote, or (size_t)-1;
 * *escaped tells whether a backslash occurred. */
static size_t scan_string(const char *s, size_t i, size_t n, int *escaped) {
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') return i;
        if (c < 0x20) return (size_t)-1;
        if (c != '\\') {
            i++;
            continue;
        }
        *escaped = 1;
        if (i + 1 >= n) return (size_t)-1;
        switch (s[i + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i += 2;
            break;
        case 'u':
            if (i + 5 >= n || hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0 ||
                hexval(s[i + 4]) < 0 || hexval(s[i + 5]) < 0)
                return (size_t)-1;
            i += 6;
            break;
        default: return (size_t)-1;
        }
    }
    return (size_t)-1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? starting at s[i]; returns the index after
 * it, or (size_t)-1. */
static size_t scan_number(const char *s, size_t i, size_t n) {
    if (i < n && s[i] == '-') i++;
    if (i >= n) return (size_t)-1;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return (size_t)-1;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return (size_t)-1;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return (size_t)-1;
    }
    return i;
}

static size_t scan_literal(const char *s, size_t i, size_t n, const char *word) {
    size_t w = strlen(word);
    return i + w <= n && memcmp(s + i, word, w) == 0 ? i + w : (size_t)-1;
}

/* One scalar value at s[i] (string, number, literal); index after it or (size_t)-1. */
static size_t scan_scalar(const char *s, size_t i, size_t n, uint8_t *type, int *escaped) {
    switch (s[i]) {
    case '"': {
        size_t q = scan_string(s, i + 1, n, escaped);
        *type = US_JSTR;
        return q == (size_t)-1 ? q : q + 1;
    }
    case 't': *type = US_JTRUE; return scan_literal(s, i, n, "true");
    case 'f': *type = US_JFALSE; return scan_literal(s, i, n, "false");
    case 'n': *type = US_JNULL; return scan_literal(s, i, n, "null");
    default: *type = US_JNUM; return scan_number(s, i, n);
    }
}

/* A nested array or object at s[i] ('[' or '{'), validated and skipped with an explicit stack
 * of closers; index after it or (size_t)-1. */
static size_t scan_nested(const char *s, size_t i, size_t n) {
    char stack[MAX_DEPTH];
    int depth = 0;
    for (;;) {
        /* At the start of a value. */
        i = skip_ws(s, i, n);
        if (i >= n) return (size_t)-1;
        if (s[i] == '[' || s[i] == '{') {
            if (depth == MAX_DEPTH) return (size_t)-1;
            int obj = s[i] == '{';
            stack[depth++] = obj ? '}' : ']';
            i = skip_ws(s, i + 1, n);
            if (i < n && s[i] == stack[depth - 1]) {
                i++;
                depth--;
                goto after_value;
            }
            if (obj) goto key;
            continue;
        } else {
            uint8_t t;
            int esc = 0;
            if ((i = scan_scalar(s, i, n, &t, &esc)) == (size_t)-1) return i;
        }
    after_value:
        if (depth == 0) return i;
        i = skip_ws(s, i, n);
        if (i >= n) return (size_t)-1;
        if (s[i] == stack[depth - 1]) {
            i++;
            depth--;
            goto after_value;
        }
        if (s[i] != ',') return (size_t)-1;
        i++;
        if (stack[depth - 1] == ']') continue;
    key:
        /* Inside an object: "key" : value. */
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"') return (size_t)-1;
        {
            int esc = 0;
            size_t q = scan_string(s, i + 1, n, &esc);
            if (q == (size_t)-1) return q;
            i = skip_ws(s, q + 1, n);
        }
        if (i >= n || s[i] != ':') return (size_t)-1;
        i++;
    }
}

us_status us_jscan(us_reader *r, char *line, size_t len, us_err *err, us_skip *why) {
    r->njm = 0;
    size_t i = skip_ws(line, 0, len);
    if (i >= len)
        return us_bad(err, why, US_SKIP_MALFORMED, "",
                      "expected a JSON object, found an empty line");
    if (line[i] != '{')
        return us_bad(err, why, US_SKIP_MALFORMED, "", "expected a JSON object");
    i = skip_ws(line, i + 1, len);
    if (i < len && line[i] == '}') {
        i++;
        goto end;
    }
    for (;;) {
        if (i >= len || line[i] != '"') goto bad;
        int kesc = 0, vesc = 0;
        size_t kq = scan_string(line, i + 1, len, &kesc);
        if (kq == (size_t)-1) goto bad;
        size_t k0 = i + 1;
        i = skip_ws(line, kq + 1, len);
        if (i >= len || line[i] != ':') goto bad;
        i = skip_ws(line, i + 1, len);
        if (i >= len) goto bad;
        size_t v0 = i;
        uint8_t type;
        if (line[i] == '{' || line[i] == '[') {
            type = line[i] == '{' ? US_JOBJ : US_JARR;
            i = scan_nested(line, i, len);
        } else {
            i = scan_scalar(line, i, len, &type, &vesc);
        }
        if (i == (size_t)-1) {
            i = v0;
            goto bad;
        }
        if (r->njm < US_JSCAN_MAX) {
            us_jval *m = &r->jm[r->njm++];
            m->key = line + k0;
            m->key_len = (uint32_t)(kq - k0);
            m->type = type;
            m->escaped = (uint8_t)vesc;
            m->decoded = 0;
            /* Strings: the content between the quotes; others: the raw text. */
            m->val = type == US_JSTR ? line + v0 + 1 : line + v0;
            m->len = (uint32_t)(type == US_JSTR ? i - v0 - 2 : i - v0);
        }
        i = skip_ws(line, i, len);
        if (i < len && line[i] == ',') {
            i = skip_ws(line, i + 1, len);
            continue;
        }
        if (i < len && line[i] == '}') {
            i++;
            break;
        }
        goto bad;
    }
end:
    i = skip_ws(line, i, len);
    if (i < len)
        return us_bad(err, why, US_SKIP_MALFORMED, "",
                      "expected one JSON object per line, found more text at byte %zu", i + 1);
    /* Terminate every string member in place over its closing quote: safe now that the whole
     * line has been validated. */
    for (int k = 0; k < r->njm; k++) {
        us_jval *m = &r->jm[k];
        if (m->type == US_JSTR) ((char *)m->val)[m->len] = '\0';
    }
    return US_OK;
bad:
    r->njm = 0;
    /* The object itself, then MAX_DEPTH levels inside its members. */
    return us_json_invalid(line, len, i, MAX_DEPTH + 1, err, why);
}

us_jval *us_jget(us_reader *r, const char *name) {
    size_t n = strlen(name);
    for (int k = 0; k < r->njm; k++) {
        us_jval *m = &r->jm[k];
        if (m->key_len == n && memcmp(m->key, name, n) == 0) return m;
    }
    return NULL;
}

/* Decodes a string member's escapes in place; returns its text (NUL-terminated). */
const char *us_jstr(us_jval *v) {
    if (!v->escaped || v->decoded) return v->val;
    char *s = (char *)v->val;
    size_t r = 0, w = 0, n = v->len;
    while (r < n) {
        if (s[r] != '\\') {
            s[w++] = s[r++];
            continue;
        }
        char c = s[r + 1];
        r += 2;
        switch (c) {
        case 'b': s[w++] = '\b'; break;
        case 'f': s[w++] = '\f'; break;
        case 'n': s[w++] = '\n'; break;
        case 'r': s[w++] = '\r'; break;
        case 't': s[w++] = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)(hexval(s[r]) << 12 | hexval(s[r + 1]) << 8 |
                                     hexval(s[r + 2]) << 4 | hexval(s[r + 3]));
            r += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* A high surrogate pairs with an immediately following low one. */
                if (r + 6 <= n && s[r] == '\\' && s[r + 1] == 'u') {
                    uint32_t lo = (uint32_t)(hexval(s[r + 2]) << 12 | hexval(s[r + 3]) << 8 |
                                             hexval(s[r + 4]) << 4 | hexval(s[r + 5]));
                    if (lo >= 0xDC00 && lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        r += 6;
                    } else cp = 0xFFFD;
                } else cp = 0xFFFD;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            /* \u0000 is dropped: stored text never holds NUL bytes. Every encoding is at most
             * as long as the escape it replaces (6 or 12 bytes). */
            if (cp) w += (size_t)us_utf8_put(s + w, cp);
            break;
        }
        default: s[w++] = c; break; /* " \ / */
        }
    }
    s[w] = '\0';
    v->len = (uint32_t)w;
    v->decoded = 1;
    return s;
}

static const char *jtype_name(const us_jval *v) {
    switch (v->type) {
    case US_JSTR: return "a string";
    case US_JNUM: return "a number";
    case US_JTRUE: case US_JFALSE: return "a boolean";
    case US_JNULL: return "null";
    case US_JARR: return "an array";
    default: return "an object";
    }
}

us_status us_jscan_id(us_reader *r, const char *name, const char **s, size_t *len,
                      us_err *err, us_skip *why) {
    us_jval *v = us_jget(r, name);
    if (!v || v->type == US_JNULL)
        return us_bad(err, why, US_SKIP_MISSING, name, "expected an id");
    if (v->type == US_JSTR) {
        *s = us_jstr(v);
        *len = v->len;
        if (*len == 0) return us_bad(err, why, US_SKIP_MISSING, name, "expected a non-empty id");
        return US_OK;
    }
    int64_t id;
    if (v->type == US_JNUM && us_parse_int64(v->val, v->len, &id) == 0) {
        *s = v->val; /* the digits as written */
        *len = v->len;
        return US_OK;
    }
    return us_bad(err, why, US_SKIP_TYPE, name, "expected a string or integer id, found %s",
                  jtype_name(v));
}

us_status us_jscan_text(us_reader *r, const char *name, const char **s, size_t *len,
                        us_err *err, us_skip *why) {
    us_jval *v = us_jget(r, name);
    *s = NULL;
    if (len) *len = 0;
    if (!v || v->type == US_JNULL) return US_OK;
    if (v->type != US_JSTR)
        return us_bad(err, why, US_SKIP_TYPE, name, "expected a string, found %s",
                      jtype_name(v));
    *s = us_jstr(v);
    if (len) *len = v->len;
    return US_OK;
}

us_status us_jscan_number(us_reader *r, const char *name, double *out, us_err *err,
                          us_skip *why) {
    us_jval *v = us_jget(r, name);
    if (!v || v->type == US_JNULL)
        return us_bad(err, why, US_SKIP_MISSING, name, "expected a number");
    if ((v->type == US_JNUM || v->type == US_JSTR) && us_parse_double(us_jstr(v), v->len, out) == 0)
        return US_OK;
    if (v->type == US_JSTR) {
        char q[64];
        size_t n = v->len < 40 ? v->len : 40;
        snprintf(q, sizeof q, "\"%.*s%s\"", (int)n, v->val, v->len > 40 ? "..." : "");
        return us_bad(err, why, US_SKIP_TYPE, name, "expected a number, found %s", q);
    }
    return us_bad(err, why, US_SKIP_TYPE, name, "expected a number, found %s", jtype_name(v));
}
