/* answer.c — reads an LLM's answer to an extraction prompt, in the line format of the paper
 * ("Pros 1:", "Evidence:", "Keywords:") or as a JSON object, into the canonical pass result
 * (extract_internal.h). Models wrap answers in code fences, add prose, number or bullet the
 * lines, bold the labels, forget fields or give the wrong types: all of that is tolerated;
 * an answer with nothing usable is rejected with a reason the retry message can quote.
 *
 * It deliberately does not normalize keywords (the merge does) or judge whether a reason is
 * true to its evidence.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "simulator/keywords/extract_internal.h"
#include "simulator/keywords/llm.h"

#define MAX_REASONS 10    /* per side */
#define MAX_KEYWORDS 8    /* per reason */
#define MAX_FIELD 400     /* bytes kept of a reason or evidence */
#define MAX_KEYWORD 100   /* a longer "keyword" is a sentence: dropped */

/* ------------------------------------------------------------------------------------------
 * Building the result
 * ---------------------------------------------------------------------------------------- */

/* A copy of s[0..n) trimmed of spaces and quotes, cut to max bytes at a character boundary;
 * NULL when empty or not UTF-8. Caller frees. */
static char *clean(const char *s, size_t n, size_t max) {
    while (n && (isspace((unsigned char)*s) || *s == '"' || *s == '*' || *s == '`')) s++, n--;
    while (n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == '"' || s[n - 1] == '*' ||
                 s[n - 1] == '`' || s[n - 1] == ','))
        n--;
    if (!n || memchr(s, '\0', n)) return NULL;
    if (n > max) {
        n = max;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* not inside a character */
    }
    if (us_utf8_check(s, n) >= 0) return NULL;
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Adds the keywords in s[0..n), separated by commas, semicolons or "|", to arr. */
static void add_keyword_list(cJSON *arr, const char *s, size_t n) {
    size_t i = 0;
    while (i < n && cJSON_GetArraySize(arr) < MAX_KEYWORDS) {
        size_t b = i;
        while (i < n && s[i] != ',' && s[i] != ';' && s[i] != '|' && s[i] != '\n') i++;
        char *k = i - b <= MAX_KEYWORD ? clean(s + b, i - b, MAX_KEYWORD) : NULL;
        if (k) {
            /* "none" and "n/a" are not keywords. */
            if (strcmp(k, "none") && strcmp(k, "None") && strcmp(k, "n/a") && strcmp(k, "N/A"))
                cJSON_AddItemToArray(arr, cJSON_CreateString(k));
            free(k);
        }
        i++;
    }
}

static cJSON *new_reason(const char *reason, size_t n) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    char *t = clean(reason, n, MAX_FIELD);
    if (t) cJSON_AddStringToObject(r, "reason", t);
    free(t);
    cJSON_AddArrayToObject(r, "keywords");
    return r;
}

/* A reason without keywords but with a short reason text ("Sturdy build") uses that text. */
static void finish_reason(cJSON *r) {
    cJSON *kws = cJSON_GetObjectItemCaseSensitive(r, "keywords");
    if (cJSON_GetArraySize(kws) > 0) return;
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "reason"));
    if (!reason) return;
    int words = 1;
    for (const char *p = reason; *p; p++) words += *p == ' ';
    if (words <= KW_MAX_WORDS && strlen(reason) <= KW_MAX_BYTES)
        cJSON_AddItemToArray(kws, cJSON_CreateString(reason));
}

/* Drops reasons with no keyword; returns how many are left. */
static int prune(cJSON *list) {
    int n = cJSON_GetArraySize(list);
    for (int i = n - 1; i >= 0; i--) {
        cJSON *r = cJSON_GetArrayItem(list, i);
        finish_reason(r);
        if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "keywords")) == 0)
            cJSON_DeleteItemFromArray(list, i);
    }
    return cJSON_GetArraySize(list);
}

/* ------------------------------------------------------------------------------------------
 * JSON answers
 * ---------------------------------------------------------------------------------------- */

static const cJSON *get_ci(const cJSON *o, const char *const *names) {
    for (const char *const *n = names; *n; n++) {
        const cJSON *x = cJSON_GetObjectItem(o, *n); /* case-insensitive */
        if (x) return x;
    }
    return NULL;
}

static void json_side(const cJSON *src, cJSON *dst) {
    static const char *const KW[] = {"keywords", "keyword", "tags", NULL};
    static const char *const EV[] = {"evidence", "quote", NULL};
    static const char *const RE[] = {"reason", "description", "text", NULL};
    const cJSON *e;
    cJSON_ArrayForEach(e, src) {
        if (cJSON_GetArraySize(dst) >= MAX_REASONS) break;
        cJSON *r = NULL;
        if (cJSON_IsString(e)) { /* a bare string: a keyword (list) */
            r = new_reason("", 0);
            if (r) add_keyword_list(cJSON_GetObjectItemCaseSensitive(r, "keywords"),
                                    e->valuestring, strlen(e->valuestring));
        } else if (cJSON_IsObject(e)) {
            const cJSON *re = get_ci(e, RE), *ev = get_ci(e, EV), *kw = get_ci(e, KW);
            const char *rs = cJSON_IsString(re) ? re->valuestring : "";
            r = new_reason(rs, strlen(rs));
            if (!r) continue;
            if (cJSON_IsString(ev)) {
                char *t = clean(ev->valuestring, strlen(ev->valuestring), MAX_FIELD);
                if (t) cJSON_AddStringToObject(r, "evidence", t);
                free(t);
            }
            cJSON *kws = cJSON_GetObjectItemCaseSensitive(r, "keywords");
            if (cJSON_IsString(kw)) {
                add_keyword_list(kws, kw->valuestring, strlen(kw->valuestring));
            } else {
                const cJSON *k;
                const cJSON *kwl = cJSON_IsArray(kw) ? kw : NULL;
                cJSON_ArrayForEach(k, kwl) {
                    if (cJSON_IsString(k) && cJSON_GetArraySize(kws) < MAX_KEYWORDS) {
                        char *t = strlen(k->valuestring) <= MAX_KEYWORD
                                      ? clean(k->valuestring, strlen(k->valuestring),
                                              MAX_KEYWORD)
                                      : NULL;
                        if (t) cJSON_AddItemToArray(kws, cJSON_CreateString(t));
                        free(t);
                    }
                }
            }
        }
        if (r) cJSON_AddItemToArray(dst, r);
    }
}

/* 1 when the JSON answer was recognized (filled *res or *why), 0 when it is not JSON. */
static int parse_json(const char *text, kw_answer_kind kind, cJSON *res, int *seen_side,
                      char *why, size_t cap, int *ok) {
    size_t len = 0;
    const char *js = us_llm_extract_json(text, &len);
    if (!js) return 0;
    cJSON *doc = cJSON_ParseWithLength(js, len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return 0;
    }
    static const char *const PROS[] = {"pros", "pro", "likes", NULL};
    static const char *const CONS[] = {"cons", "con", "dislikes", NULL};
    static const char *const CAT[] = {"category", NULL};
    const cJSON *p = get_ci(doc, PROS), *c = get_ci(doc, CONS), *cat = get_ci(doc, CAT);
    if (!p && !c && !cat) {
        snprintf(why, cap, "expected a JSON object with \"pros\" and \"cons\" lists%s, found "
                 "an object without them", kind == KW_ANSWER_OBJECTIVE ? " and a \"category\""
                                                                       : "");
        cJSON_Delete(doc);
        *ok = 0;
        return 1;
    }
    if ((p && !cJSON_IsArray(p)) || (c && !cJSON_IsArray(c))) {
        snprintf(why, cap, "expected \"pros\" and \"cons\" to be lists of objects, found %s",
                 p && !cJSON_IsArray(p) ? "\"pros\" of another type" : "\"cons\" of another type");
        cJSON_Delete(doc);
        *ok = 0;
        return 1;
    }
    json_side(p, cJSON_GetObjectItemCaseSensitive(res, "pros"));
    json_side(c, cJSON_GetObjectItemCaseSensitive(res, "cons"));
    *seen_side = p || c;
    if (cJSON_IsString(cat)) {
        char *t = clean(cat->valuestring, strlen(cat->valuestring), 100);
        if (t) cJSON_ReplaceItemInObject(res, "category", cJSON_CreateString(t));
        free(t);
    }
    cJSON_Delete(doc);
    *ok = 1;
    return 1;
}

/* ------------------------------------------------------------------------------------------
 * Line answers
 * ---------------------------------------------------------------------------------------- */

/* Skips bullets, numbering, markdown emphasis and headings at the start of a line. */
static const char *skip_decor(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '-' || *p == '*' || *p == '#' ||
                       *p == '>' || *p == '_'))
        p++;
    return p;
}

/* If line p.. starts with label (case-insensitive) followed by an optional number and ':',
 * returns the text after the colon, else NULL. */
static const char *label(const char *p, const char *end, const char *lab) {
    size_t n = strlen(lab);
    if ((size_t)(end - p) < n || strncasecmp(p, lab, n) != 0) return NULL;
    p += n;
    while (p < end && (*p == ' ' || *p == '*' || *p == '_' || *p == '#' || isdigit((unsigned char)*p) ||
                       *p == '.' || *p == ')'))
        p++;
    while (p < end && (*p == '*' || *p == '_')) p++;
    if (p >= end || *p != ':') return NULL;
    p++;
    while (p < end && (*p == '*' || *p == '_')) p++;
    return p;
}

static int is_none(const char *p, const char *end) {
    while (p < end && isspace((unsigned char)*p)) p++;
    while (end > p && (isspace((unsigned char)end[-1]) || end[-1] == '.')) end--;
    size_t n = (size_t)(end - p);
    return n == 0 || (n == 4 && !strncasecmp(p, "none", 4)) ||
           (n == 3 && !strncasecmp(p, "n/a", 3));
}

/* 1 when the line holds only spaces and emphasis (a "Pros:" heading with its list below). */
static int blank(const char *p, const char *end) {
    while (p < end && (isspace((unsigned char)*p) || *p == '*' || *p == '_')) p++;
    return p == end;
}

/* A numbered or bulleted line ("1. Great sound", "- Great sound"): its text, else NULL. */
static const char *list_item(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *q = p;
    while (q < end && isdigit((unsigned char)*q)) q++;
    if (q > p && q < end && (*q == '.' || *q == ')')) return q + 1;
    if (p < end && (*p == '-' || *p == '*') && p + 1 < end && p[1] == ' ') return p + 2;
    return NULL;
}

static void parse_lines(const char *text, cJSON *res, int *seen_side) {
    cJSON *lists[2] = {cJSON_GetObjectItemCaseSensitive(res, "pros"),
                       cJSON_GetObjectItemCaseSensitive(res, "cons")};
    cJSON *cur = NULL;
    int heading = -1; /* the side of a "Pros:" heading whose reasons follow as a list */
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        const char *s = skip_decor(p, end), *v;
        if ((size_t)(end - s) >= 3 && !strncmp(s, "```", 3)) {
            /* a fence line: nothing to read */
        } else if ((v = label(s, end, "category"))) {
            char *t = clean(v, (size_t)(end - v), 100);
            if (t) cJSON_ReplaceItemInObject(res, "category", cJSON_CreateString(t));
            free(t);
        } else if ((v = label(s, end, "pros")) || (v = label(s, end, "pro")) ||
                   (v = label(s, end, "cons")) || (v = label(s, end, "con"))) {
            int side = (s[0] | 32) == 'c';
            *seen_side = 1;
            cur = NULL;
            heading = blank(v, end) ? side : -1;
            if (!is_none(v, end) && cJSON_GetArraySize(lists[side]) < MAX_REASONS) {
                cur = new_reason(v, (size_t)(end - v));
                if (cur) cJSON_AddItemToArray(lists[side], cur);
            }
        } else if ((v = label(s, end, "evidence"))) {
            char *t = cur ? clean(v, (size_t)(end - v), MAX_FIELD) : NULL;
            if (t && !cJSON_GetObjectItemCaseSensitive(cur, "evidence"))
                cJSON_AddStringToObject(cur, "evidence", t);
            free(t);
        } else if ((v = label(s, end, "keywords")) || (v = label(s, end, "keyword"))) {
            if (!cur && heading >= 0 && cJSON_GetArraySize(lists[heading]) < MAX_REASONS) {
                cur = new_reason("", 0); /* keywords straight under a heading */
                if (cur) cJSON_AddItemToArray(lists[heading], cur);
            }
            if (cur)
                add_keyword_list(cJSON_GetObjectItemCaseSensitive(cur, "keywords"), v,
                                 (size_t)(end - v));
        } else if (heading >= 0 && (v = list_item(p, end)) &&
                   cJSON_GetArraySize(lists[heading]) < MAX_REASONS) {
            cur = new_reason(v, (size_t)(end - v)); /* "1. Great sound" under "Pros:" */
            if (cur) cJSON_AddItemToArray(lists[heading], cur);
        }
        p = eol ? eol + 1 : end;
    }
}

/* ------------------------------------------------------------------------------------------
 * Entry point
 * ---------------------------------------------------------------------------------------- */

us_status kw_answer_parse(const char *text, size_t n, kw_answer_kind kind, cJSON **out,
                          char *why, size_t why_cap) {
    *out = NULL;
    if (why_cap) why[0] = '\0';
    /* Work on a NUL-terminated copy, cut at the first NUL (answers are text). */
    const char *nul = text ? memchr(text, '\0', n) : NULL;
    if (nul) n = (size_t)(nul - text);
    char *buf = malloc(n + 1);
    cJSON *res = cJSON_CreateObject();
    if (!buf || !res || !cJSON_AddNullToObject(res, "category") ||
        !cJSON_AddArrayToObject(res, "pros") || !cJSON_AddArrayToObject(res, "cons")) {
        free(buf);
        cJSON_Delete(res);
        snprintf(why, why_cap, "out of memory");
        return US_ENOMEM;
    }
    if (n) memcpy(buf, text, n);
    buf[n] = '\0';
    int seen_side = 0, ok = 1;
    if (!parse_json(buf, kind, res, &seen_side, why, why_cap, &ok)) parse_lines(buf, res,
                                                                                &seen_side);
    free(buf);
    if (!ok) {
        cJSON_Delete(res);
        return US_EFORMAT;
    }
    int np = prune(cJSON_GetObjectItemCaseSensitive(res, "pros"));
    int nc = prune(cJSON_GetObjectItemCaseSensitive(res, "cons"));
    int has_cat = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(res, "category"));
    const char *problem = NULL;
    if (kind == KW_ANSWER_OBJECTIVE && !has_cat && np + nc == 0)
        problem = "expected a \"Category:\" line and \"Pros 1:\" / \"Cons 1:\" entries with "
                  "\"Keywords:\" lines, found none of them";
    else if (kind == KW_ANSWER_REVIEWS && !seen_side)
        problem = "expected \"Pros 1:\" or \"Cons 1:\" entries with \"Keywords:\" lines (or "
                  "\"Pros: none\"), found none";
    if (problem) {
        snprintf(why, why_cap, "%s", problem);
        cJSON_Delete(res);
        return US_EFORMAT;
    }
    *out = res;
    return US_OK;
}
