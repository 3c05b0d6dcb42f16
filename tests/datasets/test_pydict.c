/* The Python dict literal reader of Amazon 2014 metadata (pydict.c): a real-shaped line, every
 * escape, raw UTF-8, numbers, tuples, constants, trailing commas, errors at the byte where the
 * input stops being acceptable, the nesting limit (10000 '[' fail cleanly), and every proper
 * prefix of a valid line failing. */
#include <stdlib.h>
#include <string.h>

#include "datasets/internal.h"
#include "tests/test.h"

/* The tree of s printed compactly (static buffer), or "NULL @<offset>" when it fails. */
static const char *parse_print(const char *s, size_t len) {
    static char out[4096];
    size_t at = (size_t)-1;
    cJSON *doc = us_pydict_parse(s, len, &at);
    if (!doc) {
        snprintf(out, sizeof out, "NULL @%zu", at);
        return out;
    }
    char *p = cJSON_PrintUnformatted(doc);
    snprintf(out, sizeof out, "%s", p ? p : "(print failed)");
    free(p);
    cJSON_Delete(doc);
    return out;
}

static const char *pp(const char *s) { return parse_print(s, strlen(s)); }

/* The error offset of s, or -1 when it parses. */
static long err_at(const char *s, size_t len) {
    size_t at = (size_t)-1;
    cJSON *doc = us_pydict_parse(s, len, &at);
    if (doc) {
        cJSON_Delete(doc);
        return -1;
    }
    return (long)at;
}

static const char *const real_line =
    "{'asin': '0000031852', 'title': 'Girls Ballet Tutu Zebra Hot Pink', 'price': 3.17, "
    "'imUrl': 'http://ecx.images-amazon.com/images/I/51fAmVkTbyL._SY300_.jpg', "
    "'related': {'also_bought': ['B00JHONN1S', 'B002BZX8Z6'], 'also_viewed': ['B002BZX8Z6']}, "
    "'salesRank': {'Toys & Games': 211836}, "
    "'categories': [['Sports & Outdoors', 'Other Sports', 'Dance']], "
    "'description': \"It's a tutu\"}";

TEST(pydict_real_line) {
    size_t at = 0;
    cJSON *doc = us_pydict_parse(real_line, strlen(real_line), &at);
    REQUIRE(doc != NULL);
    CHECK(cJSON_IsObject(doc));
    CHECK_EQ_INT(cJSON_GetArraySize(doc), 8);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(doc, "asin")->valuestring, "0000031852");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(doc, "price")->valuedouble, 3.17, 1e-12);
    const cJSON *related = cJSON_GetObjectItemCaseSensitive(doc, "related");
    CHECK(cJSON_IsObject(related));
    const cJSON *bought = cJSON_GetObjectItemCaseSensitive(related, "also_bought");
    CHECK(cJSON_IsArray(bought) && cJSON_GetArraySize(bought) == 2);
    CHECK_STR(cJSON_GetArrayItem(bought, 1)->valuestring, "B002BZX8Z6");
    const cJSON *rank = cJSON_GetObjectItemCaseSensitive(doc, "salesRank");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(rank, "Toys & Games")->valuedouble, 211836, 0);
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(doc, "categories");
    CHECK(cJSON_IsArray(cats) && cJSON_IsArray(cJSON_GetArrayItem(cats, 0)));
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetArrayItem(cats, 0), 2)->valuestring, "Dance");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(doc, "description")->valuestring, "It's a tutu");
    cJSON_Delete(doc);
    CHECK_STR(pp("{}"), "{}");
    CHECK_STR(pp("  {'a': {'b': [[], [1, [2, {}]]]}}  "), "{\"a\":{\"b\":[[],[1,[2,{}]]]}}");
}

TEST(pydict_escapes) {
    /* \\ \' \" \n \t \r, in both quote styles. */
    CHECK_STR(pp("{'k': 'a\\\\b\\'c\\\"d\\ne\\tf\\rg'}"), "{\"k\":\"a\\\\b'c\\\"d\\ne\\tf\\rg\"}");
    CHECK_STR(pp("{\"k\": \"it's \\\"q\\\" \\'s\\'\"}"), "{\"k\":\"it's \\\"q\\\" 's'\"}");
    /* Quotes of the other kind need no escape. */
    CHECK_STR(pp("{'k': '\"', \"j\": \"'\"}"), "{\"k\":\"\\\"\",\"j\":\"'\"}");
    /* \xNN, \uNNNN and \UNNNNNNNN are code points, written as UTF-8. */
    CHECK_STR(pp("{'k': '\\x41\\xe9\\xFF'}"), "{\"k\":\"A\xc3\xa9\xc3\xbf\"}");
    CHECK_STR(pp("{'k': 'caf\\u00e9 \\u2013 \\uFFFD'}"),
              "{\"k\":\"caf\xc3\xa9 \xe2\x80\x93 \xef\xbf\xbd\"}");
    CHECK_STR(pp("{'k': '\\U0001F600\\U0010FFFF'}"),
              "{\"k\":\"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}");
    /* A surrogate pair written with \u is joined into one code point. */
    CHECK_STR(pp("{'k': '\\ud83d\\ude00!'}"), "{\"k\":\"\xf0\x9f\x98\x80!\"}");
    /* Escapes in keys too. */
    CHECK_STR(pp("{'Caf\\xe9': 1}"), "{\"Caf\xc3\xa9\":1}");
    CHECK_STR(pp("{'': ''}"), "{\"\":\"\"}");
}

TEST(pydict_raw_unicode) {
    /* Raw UTF-8 and raw tabs pass through untouched. */
    CHECK_STR(pp("{'brand': 'B\xc3\xa9""b\xc3\xa9 \xf0\x9f\xa6\x86', 't': 'a\tb'}"),
              "{\"brand\":\"B\xc3\xa9""b\xc3\xa9 \xf0\x9f\xa6\x86\",\"t\":\"a\\tb\"}");
}

TEST(pydict_numbers) {
    CHECK_STR(pp("{'a': 0, 'b': -7, 'c': 211836, 'd': 3.17, 'e': -0.5}"),
              "{\"a\":0,\"b\":-7,\"c\":211836,\"d\":3.17,\"e\":-0.5}");
    CHECK_STR(pp("{'a': 1e3, 'b': 2.5E-2, 'c': -1e+2, 'd': .5, 'e': 5.}"),
              "{\"a\":1000,\"b\":0.025,\"c\":-100,\"d\":0.5,\"e\":5}");
    /* Underflow is zero; overflow is an error (Python would give inf, which JSON lacks). */
    CHECK_STR(pp("{'a': 1e-400}"), "{\"a\":0}");
    CHECK_STR(pp("{'a': 1e400}"), "NULL @6");
    size_t at = 0;
    cJSON *doc = us_pydict_parse("{'big': 123456789012}", 21, &at);
    REQUIRE(doc != NULL);
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(doc, "big")->valuedouble, 123456789012.0, 0);
    cJSON_Delete(doc);
}

TEST(pydict_tuples_constants_commas) {
    CHECK_STR(pp("{'t': (), 'u': (1,), 'v': (1, 'x'), 'w': ((2)), 'x': ([1], (2, 3))}"),
              "{\"t\":[],\"u\":[1],\"v\":[1,\"x\"],\"w\":2,\"x\":[[1],[2,3]]}");
    CHECK_STR(pp("{'a': True, 'b': False, 'c': None, 'd': [None, True]}"),
              "{\"a\":true,\"b\":false,\"c\":null,\"d\":[null,true]}");
    CHECK_STR(pp("{'a': [1, 2,], 'b': {'c': 3,}, 'd': (4, 5,),}"),
              "{\"a\":[1,2],\"b\":{\"c\":3},\"d\":[4,5]}");
    CHECK_STR(pp("{ 'a' : [ 1 ,\t2 ] }"), "{\"a\":[1,2]}");
    /* Duplicate keys are kept; lookups find the first, as for JSON lines. */
    CHECK_STR(pp("{'a': 1, 'a': 2}"), "{\"a\":1,\"a\":2}");
}

TEST(pydict_errors_at_offset) {
    static const struct {
        const char *in;
        long at;
    } cases[] = {
        {"", 0},                        /* nothing */
        {"   ", 3},                     /* only spaces: the dict is missing at the end */
        {"[1]", 0},                     /* not a dict */
        {"'a'", 0},                     /* not a dict */
        {"{'a': 1} x", 9},              /* trailing garbage */
        {"{'a': 1}}", 8},               /* trailing garbage */
        {"{'a': 1", 7},                 /* truncated */
        {"{'a': 1,", 8},                /* truncated */
        {"{'a'", 4},                    /* truncated after the key */
        {"{1: 2}", 1},                  /* keys are strings */
        {"{None: 2}", 1},               /* keys are strings */
        {"{'a' 1}", 5},                 /* missing ':' */
        {"{'a': }", 6},                 /* missing value */
        {"{'a': 1 'b': 2}", 8},         /* missing ',' */
        {"{'a': 'x}", 9},               /* unterminated string: the end */
        {"{'a': \"x'}", 10},            /* unterminated string: the end */
        {"{'a': '\\q'}", 7},            /* unknown escape: the backslash */
        {"{'a': '\\a'}", 7},            /* not in the accepted set either */
        {"{'a': '\\", 7},               /* a backslash at the end */
        {"{'a': '\\x4'}", 7},           /* short \x */
        {"{'a': '\\xg0'}", 7},          /* not hex */
        {"{'a': '\\u12'}", 7},          /* short \u */
        {"{'a': '\\U0001F60'}", 7},     /* short \U */
        {"{'a': '\\ud800'}", 7},        /* lone high surrogate */
        {"{'a': '\\ud800\\u0041'}", 7}, /* high surrogate and no low one */
        {"{'a': '\\udc00'}", 7},        /* lone low surrogate */
        {"{'a': '\\U0000d800'}", 7},    /* surrogate by \U */
        {"{'a': '\\U00110000'}", 7},    /* past U+10FFFF */
        {"{'a': '\\x00'}", 7},          /* NUL */
        {"{'a': '\\u0000'}", 7},        /* NUL */
        {"{'a': 1e}", 7},               /* exponent without digits: at the 'e' */
        {"{'a': -}", 6},                /* a sign alone */
        {"{'a': .}", 6},                /* a point alone */
        {"{'a': 0x10}", 7},             /* hex: "0" then junk */
        {"{'a': Nonesuch}", 6},         /* not a constant */
        {"{'a': true}", 6},             /* JSON spelling */
        {"{'a': nan}", 6},              /* no nan */
        {"{'a': inf}", 6},              /* no inf */
        {"{'a': u'x'}", 6},             /* no string prefixes */
        {"{'a': 'x' 'y'}", 10},         /* no implicit concatenation */
        {"{'a': [1, 2}", 11},           /* wrong closing bracket */
        {"{'a': (1 2)}", 9},            /* tuple without comma */
        {"{'a': (1,}", 9},              /* tuple closed by the wrong bracket */
        {"{'a': {1, 2}}", 7},           /* a set */
        {"{'a': [,]}", 7},              /* a comma alone */
        {"{'a': 1,,}", 8},              /* two commas */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = err_at(cases[i].in, strlen(cases[i].in));
        if (got != cases[i].at)
            us_test_fail(t_, __FILE__, __LINE__, "%s: error at %ld, expected %ld", cases[i].in,
                         got, cases[i].at);
    }
    /* Raw NUL, newline and carriage return inside a string. */
    CHECK_EQ_INT(err_at("{'a': 'x\0y'}", 12), 8);
    CHECK_EQ_INT(err_at("{'a': 'x\ny'}", 12), 8);
    CHECK_EQ_INT(err_at("{'a': 'x\ry'}", 12), 8);
    /* The length bounds the input: a NUL-terminated prefix is parsed as given. */
    CHECK_EQ_INT(err_at("{'a': 1}", 7), 7);
    CHECK_EQ_INT(err_at("{'a': 1}", 8), -1);
    /* err_at may be NULL. */
    CHECK(us_pydict_parse("{", 1, NULL) == NULL);
}

/* "{'a': " then n '[' (and n ']' then '}' when closed). */
static char *nested(int n, int closed) {
    size_t len = 6 + (size_t)n + (closed ? (size_t)n + 1 : 0);
    char *s = malloc(len + 1);
    if (!s) return NULL;
    memcpy(s, "{'a': ", 6);
    memset(s + 6, '[', (size_t)n);
    if (closed) {
        memset(s + 6 + n, ']', (size_t)n);
        s[len - 1] = '}';
    }
    s[len] = '\0';
    return s;
}

TEST(pydict_deep_nesting) {
    /* The dict and 63 lists: 64 containers, the limit. */
    char *s = nested(63, 1);
    REQUIRE(s != NULL);
    CHECK_EQ_INT(err_at(s, strlen(s)), -1);
    free(s);
    /* One more fails at the bracket that goes too deep. */
    s = nested(64, 1);
    REQUIRE(s != NULL);
    CHECK_EQ_INT(err_at(s, strlen(s)), 6 + 63);
    free(s);
    /* 10000 '[' open or closed, and 10000 '{' / '(' fail cleanly too. */
    for (int closed = 0; closed < 2; closed++) {
        s = nested(10000, closed);
        REQUIRE(s != NULL);
        CHECK_EQ_INT(err_at(s, strlen(s)), 6 + 63);
        free(s);
    }
    char *deep = malloc(20001);
    REQUIRE(deep != NULL);
    memset(deep, '{', 20000);
    deep[20000] = '\0';
    CHECK_EQ_INT(err_at(deep, 20000), 1); /* "{{": a dict is not a key */
    for (int i = 0; i < 20000; i += 6) memcpy(deep + i, "{'a':(", i + 6 <= 20000 ? 6 : 2);
    CHECK_EQ_INT(err_at(deep, 20000), 5 + 6 * 31 + 1);
    free(deep);
}

TEST(pydict_prefixes_fail) {
    /* Every proper prefix of a valid line is an error at or before its end; never a crash. */
    size_t n = strlen(real_line);
    for (size_t k = 0; k < n; k++) {
        char *copy = malloc(k ? k : 1); /* exact size, so ASan sees any read past the end */
        REQUIRE(copy != NULL);
        memcpy(copy, real_line, k);
        long at = err_at(copy, k);
        free(copy);
        if (at < 0 || (size_t)at > k) {
            us_test_fail(t_, __FILE__, __LINE__, "prefix %zu: error at %ld", k, at);
            break;
        }
    }
    CHECK_EQ_INT(err_at(real_line, n), -1);
}

TEST(pydict_random_bytes) {
    /* Random edits of a valid line either parse or fail inside the input. */
    us_rng rng;
    us_rng_seed(&rng, 7, 11);
    size_t n = strlen(real_line);
    static const char alphabet[] = "{}[]()'\"\\:,. -+0123456789eExuUTrueFalsNon\t\n";
    int parsed = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char *copy = malloc(n);
        REQUIRE(copy != NULL);
        memcpy(copy, real_line, n);
        int edits = 1 + (int)us_rng_bounded(&rng, 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = us_rng_bounded(&rng, (uint32_t)n);
            copy[pos] = us_rng_bounded(&rng, 4) == 0
                            ? (char)us_rng_bounded(&rng, 256)
                            : alphabet[us_rng_bounded(&rng, sizeof alphabet - 1)];
        }
        size_t at = (size_t)-1;
        cJSON *doc = us_pydict_parse(copy, n, &at);
        free(copy);
        if (doc) {
            parsed++;
            CHECK(cJSON_IsObject(doc));
            cJSON_Delete(doc);
        } else if (at > n) {
            us_test_fail(t_, __FILE__, __LINE__, "error offset %zu past %zu", at, n);
            break;
        }
    }
    CHECK(parsed > 0); /* some edits land inside strings and keep the line valid */
}

/* Python 2 wrote the 2014 metadata as reprs of UTF-8 byte strings: a run of \xNN escapes that
 * is valid UTF-8 is kept as those bytes; a run that is not is read as Latin-1. */
TEST(pydict_python2_utf8_byte_escapes) {
    const char *src = "{'title': 'Caf\\xc3\\xa9 \\xe9t\\xe9 \\xe4\\xb8\\xad\\xe6\\x96\\x87'}";
    size_t at = 0;
    cJSON *doc = us_pydict_parse(src, strlen(src), &at);
    REQUIRE(doc);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "title");
    REQUIRE(cJSON_IsString(t));
    CHECK_STR(t->valuestring, "Caf\xc3\xa9 \xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87");
    cJSON_Delete(doc);
    const char *nul = "{'a': '\\xc3\\x00'}";
    CHECK(us_pydict_parse(nul, strlen(nul), &at) == NULL);
}
