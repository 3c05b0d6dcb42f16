/* pydict.c — reads one Python dict literal, the line format of the Amazon 2014 metadata files
 * ({'asin': '0000031852', 'price': 3.17, 'related': {'also_bought': [...]}, ...}), into a cJSON
 * tree, by recursive descent with a nesting limit so that no input can exhaust the stack.
 *
 * Accepted: dicts with string keys, lists, tuples (as arrays; "(x)" is just x, as in Python),
 * strings in '...' or "..." with the escapes \\ \' \" \n \t \r \xNN \uNNNN \UNNNNNNNN (code
 * points, written as UTF-8; a \uD8xx\uDCxx pair is joined), decimal integers and floats with an
 * optional '-' and exponent, True, False, None, and trailing commas. The error offset is the
 * byte where the input stops being acceptable: the start of a bad token, the backslash of a bad
 * escape, the bracket that nests too deep, or len when the input ends early.
 *
 * It deliberately does not evaluate Python: no string prefixes (u'', b'', r''), no adjacent
 * string concatenation, no other escapes, no sets, no inf/nan, no numbers that overflow a double,
 * no NUL characters (raw or escaped: cJSON strings end at NUL), and it does not check that raw
 * bytes are UTF-8 (the dispatcher checks whole lines). Duplicate keys are kept as cJSON keeps
 * them (lookups find the first). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"

/* Containers (dicts, lists, tuples, parentheses) nested deeper than this are an error. */
#define PYDICT_MAX_DEPTH 64
/* Longest number token converted (a float repr is at most 24 bytes). */
#define PYDICT_MAX_NUMBER 64

typedef struct pyparser {
    const char *s;
    size_t len, pos;
    size_t err_at; /* first error offset; valid when failed */
    int failed;
    /* Decoded strings. A literal decodes to fewer bytes than it spans, so each string is
     * decoded at its own literal's offset and a key stays intact while its value is parsed. */
    char *buf;
} pyparser;

static cJSON *parse_value(pyparser *p, int depth);

/* Records the first error (later ones are consequences) and returns NULL for chaining. */
static cJSON *fail(pyparser *p, size_t at) {
    if (!p->failed) {
        p->failed = 1;
        p->err_at = at;
    }
    return NULL;
}

static void skip_space(pyparser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') break;
        p->pos++;
    }
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads n hex digits at s[at..]; -1 when they are not all there. */
static long read_hex(const pyparser *p, size_t at, int n) {
    if (p->len - at < (size_t)n) return -1;
    long v = 0;
    for (int i = 0; i < n; i++) {
        int h = hex_value(p->s[at + (size_t)i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Decodes the string literal at p->pos (its opening quote) into p->buf at that offset,
 * NUL-terminated; returns the decoded text or NULL. */
static char *parse_string(pyparser *p) {
    const char quote = p->s[p->pos];
    char *out = p->buf + p->pos;
    size_t o = 0;
    p->pos++;
    for (;;) {
        if (p->pos >= p->len) return (char *)fail(p, p->len); /* unterminated */
        char c = p->s[p->pos];
        if (c == quote) {
            p->pos++;
            break;
        }
        if (c == '\0' || c == '\n' || c == '\r') return (char *)fail(p, p->pos);
        if (c != '\\') {
            out[o++] = c;
            p->pos++;
            continue;
        }
        size_t esc = p->pos;
        if (esc + 1 >= p->len) return (char *)fail(p, esc);
        char e = p->s[esc + 1];
        int ndigits = 0;
        switch (e) {
        case '\\': case '\'': case '"': out[o++] = e; break;
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case 'x': ndigits = 2; break;
        case 'u': ndigits = 4; break;
        case 'U': ndigits = 8; break;
        default: return (char *)fail(p, esc);
        }
        if (!ndigits) {
            p->pos = esc + 2;
            continue;
        }
        if (e == 'x') {
            /* The 2014 metadata is Python 2's repr of UTF-8 byte strings: "é" is written
             * '\xc3\xa9'. A run of \xNN escapes that is valid UTF-8 is those bytes; any other
             * run is Latin-1 (each byte its own code point), as in Python 3's repr. */
            size_t at = esc, nb = 0;
            char *bytes = out + o; /* out is a separate buffer: writing never meets input */
            while (p->len - at >= 4 && p->s[at] == '\\' && p->s[at + 1] == 'x' &&
                   read_hex(p, at + 2, 2) >= 0) {
                bytes[nb++] = (char)read_hex(p, at + 2, 2);
                at += 4;
            }
            if (nb == 0) return (char *)fail(p, esc);
            if (memchr(bytes, 0, nb)) return (char *)fail(p, esc);
            if (us_utf8_check(bytes, nb) < 0) {
                o += nb; /* nb bytes from 4 * nb characters: fits */
            } else {
                /* Latin-1: at most 2 bytes per 4-character escape, re-read from the input. */
                for (size_t k = 0; k < nb; k++)
                    o += (size_t)us_utf8_put(out + o, (uint32_t)read_hex(p, esc + 4 * k + 2, 2));
            }
            p->pos = at;
            continue;
        }
        long cp = read_hex(p, esc + 2, ndigits);
        size_t next = esc + 2 + (size_t)ndigits;
        if (cp < 0) return (char *)fail(p, esc);
        if (cp >= 0xD800 && cp <= 0xDBFF && e == 'u') {
            /* A high surrogate counts only as the first half of a \u pair. */
            long lo = -1;
            if (p->len - next >= 6 && p->s[next] == '\\' && p->s[next + 1] == 'u')
                lo = read_hex(p, next + 2, 4);
            if (lo < 0xDC00 || lo > 0xDFFF) return (char *)fail(p, esc);
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            next += 6;
        }
        /* Surrogates and code points past U+10FFFF do not encode; NUL cannot be stored. */
        int n = cp == 0 ? 0 : us_utf8_put(out + o, (uint32_t)cp);
        if (n <= 0) return (char *)fail(p, esc);
        o += (size_t)n;
        p->pos = next;
    }
    out[o] = '\0';
    return out;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static size_t skip_digits(const pyparser *p, size_t at) {
    while (at < p->len && is_digit(p->s[at])) at++;
    return at;
}

/* -? (digits (. digits*)? | . digits) ([eE] [+-]? digits)? */
static cJSON *parse_number(pyparser *p) {
    size_t start = p->pos, at = p->pos;
    if (at < p->len && p->s[at] == '-') at++;
    size_t int_end = skip_digits(p, at);
    size_t ndig = int_end - at;
    at = int_end;
    if (at < p->len && p->s[at] == '.') {
        size_t frac_end = skip_digits(p, at + 1);
        ndig += frac_end - (at + 1);
        at = frac_end;
    }
    if (ndig == 0) return fail(p, start);
    if (at < p->len && (p->s[at] == 'e' || p->s[at] == 'E')) {
        size_t e = at + 1;
        if (e < p->len && (p->s[e] == '+' || p->s[e] == '-')) e++;
        size_t exp_end = skip_digits(p, e);
        if (exp_end == e) return fail(p, at);
        at = exp_end;
    }
    size_t n = at - start;
    if (n > PYDICT_MAX_NUMBER) return fail(p, start);
    char tmp[PYDICT_MAX_NUMBER + 1];
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(d)) return fail(p, start);
    cJSON *v = cJSON_CreateNumber(d);
    if (!v) return fail(p, start);
    p->pos = at;
    return v;
}

/* True, False or None, not followed by more of a name. */
static cJSON *parse_name(pyparser *p) {
    static const char *const names[3] = {"True", "False", "None"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(names[i]);
        if (p->len - p->pos < n || memcmp(p->s + p->pos, names[i], n) != 0) continue;
        size_t end = p->pos + n;
        if (end < p->len) {
            unsigned char c = (unsigned char)p->s[end];
            if (c == '_' || c >= 0x80 || is_digit((char)c) || (c >= 'a' && c <= 'z') ||
                (c >= 'A' && c <= 'Z'))
                break;
        }
        cJSON *v = i == 0 ? cJSON_CreateTrue() : i == 1 ? cJSON_CreateFalse() : cJSON_CreateNull();
        if (!v) return fail(p, p->pos);
        p->pos = end;
        return v;
    }
    return fail(p, p->pos);
}

/* Adds v to arr; on failure frees v. 0 on success. */
static int append(pyparser *p, cJSON *arr, cJSON *v) {
    if (cJSON_AddItemToArray(arr, v)) return 0;
    cJSON_Delete(v);
    fail(p, p->pos);
    return -1;
}

/* The items of a list or tuple after its first `first` (may be NULL: none yet), up to and
 * including `close`. p->pos is just past the opening bracket or the first item's comma. */
static cJSON *parse_items(pyparser *p, char close, cJSON *first, int depth) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        cJSON_Delete(first);
        return fail(p, p->pos);
    }
    if (first && append(p, arr, first) != 0) goto bad;
    for (;;) {
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == close) break;
        cJSON *v = parse_value(p, depth + 1);
        if (!v || append(p, arr, v) != 0) goto bad;
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) break;
        fail(p, p->pos);
        goto bad;
    }
    p->pos++; /* the closing bracket */
    return arr;
bad:
    cJSON_Delete(arr);
    return NULL;
}

/* "(" ")" is an empty tuple, "(x)" is x, "(x," starts a tuple. */
static cJSON *parse_paren(pyparser *p, int depth) {
    p->pos++;
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == ')') return parse_items(p, ')', NULL, depth);
    cJSON *v = parse_value(p, depth + 1);
    if (!v) return NULL;
    skip_space(p);
    if (p->pos < p->len && p->s[p->pos] == ')') {
        p->pos++;
        return v;
    }
    if (p->pos < p->len && p->s[p->pos] == ',') {
        p->pos++;
        return parse_items(p, ')', v, depth);
    }
    cJSON_Delete(v);
    return fail(p, p->pos);
}

static cJSON *parse_dict(pyparser *p, int depth) {
    p->pos++;
    cJSON *obj = cJSON_CreateObject();
    if (!obj) return fail(p, p->pos);
    for (;;) {
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == '}') break;
        if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"')) {
            fail(p, p->pos); /* keys are strings */
            goto bad;
        }
        const char *key = parse_string(p);
        if (!key) goto bad;
        skip_space(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            fail(p, p->pos);
            goto bad;
        }
        p->pos++;
        skip_space(p);
        cJSON *v = parse_value(p, depth + 1);
        if (!v) goto bad;
        if (!cJSON_AddItemToObject(obj, key, v)) {
            cJSON_Delete(v);
            fail(p, p->pos);
            goto bad;
        }
        skip_space(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') break;
        fail(p, p->pos);
        goto bad;
    }
    p->pos++;
    return obj;
bad:
    cJSON_Delete(obj);
    return NULL;
}

/* One value at p->pos (after spaces). depth counts the containers around it. */
static cJSON *parse_value(pyparser *p, int depth) {
    skip_space(p);
    if (p->pos >= p->len) return fail(p, p->len);
    char c = p->s[p->pos];
    int opens = c == '{' || c == '[' || c == '(';
    if (opens && depth >= PYDICT_MAX_DEPTH) return fail(p, p->pos);
    switch (c) {
    case '{': return parse_dict(p, depth);
    case '[': p->pos++; return parse_items(p, ']', NULL, depth);
    case '(': return parse_paren(p, depth);
    case '\'':
    case '"': {
        char *s = parse_string(p);
        if (!s) return NULL;
        cJSON *v = cJSON_CreateString(s);
        return v ? v : fail(p, p->pos);
    }
    default:
        if (c == '-' || c == '.' || is_digit(c)) return parse_number(p);
        return parse_name(p);
    }
}

cJSON *us_pydict_parse(const char *s, size_t len, size_t *err_at) {
    pyparser p = {.s = s, .len = len};
    p.buf = malloc(len + 1);
    if (!p.buf) {
        if (err_at) *err_at = 0;
        return NULL;
    }
    skip_space(&p);
    cJSON *doc = NULL;
    if (p.pos < len && s[p.pos] == '{') {
        doc = parse_value(&p, 0);
        skip_space(&p);
        if (doc && p.pos != len) { /* more after the dict */
            cJSON_Delete(doc);
            doc = fail(&p, p.pos);
        }
    } else {
        fail(&p, p.pos);
    }
    free(p.buf);
    if (!doc && err_at) *err_at = p.err_at;
    return doc;
}
