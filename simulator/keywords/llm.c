/* llm.c — the chat-completions client (contract in llm.h). One curl multi handle drives
 * `concurrency` slots; each slot owns one easy handle, kept for the life of the client so
 * libcurl reuses its connection, and carries one request at a time through its attempts:
 *
 *   IDLE --start--> ACTIVE --final result--> IDLE
 *                     |  ^
 *          retryable  v  | wait over
 *                   SLEEPING
 *
 * The loop runs on the caller's thread: fill idle slots with the next requests, wake sleeping
 * slots whose wait is over, let libcurl transfer, collect finished transfers, and otherwise
 * sleep in curl_multi_poll until a socket is ready or the next wait ends.
 *
 * It deliberately does not: follow redirects, stream, or validate the answer's UTF-8 (the
 * caller parses the content).
 */
#include "simulator/keywords/llm.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_CONCURRENCY 1024
#define SNIPPET 160 /* bytes of a response body quoted in an error message */

/* ------------------------------------------------------------------------------------------
 * libcurl's global init: once per process, the only global state of the client
 * ---------------------------------------------------------------------------------------- */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* ------------------------------------------------------------------------------------------
 * Configuration
 * ---------------------------------------------------------------------------------------- */

us_llm_config us_llm_config_default(void) {
    return (us_llm_config){
        .url = "http://127.0.0.1:8080/v1",
        .model = "default",
        .api_key = NULL,
        .temperature = 0.0,
        .max_tokens = 512,
        .json_mode = 0,
        .concurrency = 4,
        .timeout_s = 60.0,
        .max_retries = 4,
        .max_format_retries = 1,
        .backoff_base_s = 0.5,
        .backoff_max_s = 30.0,
        .retry_after_max_s = 60.0,
        .max_response_bytes = (size_t)16 << 20,
        .seed = 0,
    };
}

void us_llm_config_from_env(us_llm_config *cfg) {
    const char *v;
    if ((v = getenv("USERSIM_LLM_URL")) && *v) cfg->url = v;
    if ((v = getenv("USERSIM_LLM_MODEL")) && *v) cfg->model = v;
    if ((v = getenv("OPENAI_API_KEY")) && *v) cfg->api_key = v;
}

static int bad_time(double x) { return !isfinite(x) || x < 0; }

int us_llm_url_scheme_ok(const char *url, char *why, size_t cap) {
    if (!url) url = "";
    if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0) return 0;
    const char *colon = strstr(url, "://");
    size_t n = colon ? (size_t)(colon - url) : 0;
    int plain = n > 0 && n <= 16;
    for (size_t i = 0; plain && i < n; i++)
        plain = isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.';
    if (plain) snprintf(why, cap, "scheme %.*s://", (int)n, url);
    else snprintf(why, cap, "no scheme in '%.60s'", url);
    return -1;
}

us_status us_llm_config_validate(const us_llm_config *cfg, us_err *err) {
    if (!cfg) return us_err_set(err, US_EINVAL, NULL, 0, "config", "expected a config, got NULL");
    if (!cfg->url || !*cfg->url)
        return us_err_set(err, US_EINVAL, NULL, 0, "url", "expected a server URL, got none");
    char why[128];
    if (us_llm_url_scheme_ok(cfg->url, why, sizeof why) != 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "url", "expected an http:// or https:// URL, "
                          "found %s (no other protocol is used)", why);
    if (!cfg->model || !*cfg->model)
        return us_err_set(err, US_EINVAL, NULL, 0, "model", "expected a model name, got none");
    if (cfg->concurrency < 1 || cfg->concurrency > MAX_CONCURRENCY)
        return us_err_set(err, US_EINVAL, NULL, 0, "concurrency", "expected 1..%d, got %d",
                          MAX_CONCURRENCY, cfg->concurrency);
    if (!isfinite(cfg->temperature) || cfg->temperature < 0 || cfg->temperature > 2)
        return us_err_set(err, US_EINVAL, NULL, 0, "temperature", "expected 0..2, got %g",
                          cfg->temperature);
    if (bad_time(cfg->timeout_s) || cfg->timeout_s <= 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "timeout_s", "expected > 0 seconds, got %g",
                          cfg->timeout_s);
    if (cfg->max_retries < 0 || cfg->max_format_retries < 0)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_retries",
                          "expected >= 0, got %d (format: %d)", cfg->max_retries,
                          cfg->max_format_retries);
    if (bad_time(cfg->backoff_base_s) || bad_time(cfg->backoff_max_s) ||
        bad_time(cfg->retry_after_max_s))
        return us_err_set(err, US_EINVAL, NULL, 0, "backoff",
                          "expected finite seconds >= 0, got base %g, max %g, retry-after cap %g",
                          cfg->backoff_base_s, cfg->backoff_max_s, cfg->retry_after_max_s);
    for (const char *k = cfg->api_key; k && *k; k++)
        if ((unsigned char)*k < 0x20 || *k == 0x7f)
            return us_err_set(err, US_EINVAL, NULL, 0, "api_key",
                              "expected printable characters, got a control byte");
    if (cfg->max_response_bytes < 64)
        return us_err_set(err, US_EINVAL, NULL, 0, "max_response_bytes",
                          "expected at least 64, got %zu", cfg->max_response_bytes);
    return US_OK;
}

const char *us_llm_fail_name(us_llm_fail f) {
    switch (f) {
    case US_LLM_FAIL_NONE: return "none";
    case US_LLM_FAIL_TIMEOUT: return "timeout";
    case US_LLM_FAIL_CONNECT: return "connect";
    case US_LLM_FAIL_HTTP: return "http";
    case US_LLM_FAIL_FORMAT: return "format";
    case US_LLM_FAIL_TOO_LARGE: return "too large";
    case US_LLM_FAIL_OTHER: return "other";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------------------------
 * Slots and the client
 * ---------------------------------------------------------------------------------------- */

enum { SLOT_IDLE, SLOT_ACTIVE, SLOT_SLEEPING };

typedef struct slot {
    CURL *h;
    int state;
    size_t req;         /* index of the request it carries */
    int attempts;       /* attempts started for this request */
    int format_retries; /* retries spent on bad 200 bodies */
    double t_start;     /* of the current attempt */
    double wake_at;     /* SLEEPING: when the next attempt may start */
    char *body;         /* the request's JSON, built once per request */
    char *resp;         /* the current attempt's response body, NUL-terminated */
    size_t resp_len, resp_cap;
    int too_large;
    size_t max_body;      /* max_response_bytes */
    double retry_after_s; /* from the response headers; < 0 when absent */
    char curl_err[CURL_ERROR_SIZE];
    /* what the last finished attempt gave */
    us_llm_fail fail;
    int http_status;
    double latency_s;
    char error[400];
} slot;

struct us_llm {
    us_llm_config cfg; /* its strings point at the copies below */
    char *url, *model, *api_key, *auth_header;
    CURLM *multi;
    struct curl_slist *headers;
    slot *slots;
    int n_slots;
    us_rng rng;
    size_t max_body;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    slot *s = userdata;
    size_t n = size * nmemb;
    if (s->too_large) return 0;
    if (n > s->max_body - s->resp_len) { /* resp_len <= max_body always */
        s->too_large = 1;
        return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
    }
    if (s->resp_len + n + 1 > s->resp_cap) {
        size_t cap = s->resp_cap ? s->resp_cap : 4096;
        while (cap < s->resp_len + n + 1) cap *= 2;
        char *p = realloc(s->resp, cap);
        if (!p) return 0;
        s->resp = p;
        s->resp_cap = cap;
    }
    memcpy(s->resp + s->resp_len, ptr, n);
    s->resp_len += n;
    s->resp[s->resp_len] = '\0';
    return n;
}

/* Parses a Retry-After value: delay-seconds, or an HTTP date (RFC 9110 section 10.2.3). */
static double parse_retry_after(const char *v) {
    while (*v == ' ' || *v == '\t') v++;
    if (isdigit((unsigned char)*v)) {
        char *end;
        double x = strtod(v, &end);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
        if (*end == '\0' && isfinite(x) && x >= 0) return x;
    }
    time_t t = curl_getdate(v, NULL);
    if (t == (time_t)-1) return -1;
    double d = difftime(t, time(NULL));
    return d > 0 ? d : 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata) {
    slot *s = userdata;
    size_t n = size * nitems;
    char line[256];
    if (n >= sizeof line) return n; /* no header we read is this long */
    memcpy(line, buf, n);
    line[n] = '\0';
    char *colon = strchr(line, ':');
    if (!colon) return n;
    *colon = '\0';
    const char *name = line, *value = colon + 1;
    if (strcasecmp(name, "retry-after-ms") == 0) {
        char *end;
        double ms = strtod(value, &end);
        if (end != value && isfinite(ms) && ms >= 0) s->retry_after_s = ms / 1000.0;
    } else if (strcasecmp(name, "retry-after") == 0 && s->retry_after_s < 0) {
        s->retry_after_s = parse_retry_after(value);
    }
    return n;
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void us_llm_close(us_llm *llm) {
    if (!llm) return;
    for (int i = 0; i < llm->n_slots; i++) {
        slot *s = &llm->slots[i];
        if (s->h) {
            if (s->state == SLOT_ACTIVE && llm->multi) curl_multi_remove_handle(llm->multi, s->h);
            curl_easy_cleanup(s->h);
        }
        free(s->body);
        free(s->resp);
    }
    free(llm->slots);
    if (llm->multi) curl_multi_cleanup(llm->multi);
    curl_slist_free_all(llm->headers);
    free(llm->url);
    free(llm->model);
    free(llm->api_key);
    free(llm->auth_header);
    free(llm);
}

static char *make_url(const char *base) {
    const char *suffix = "/chat/completions";
    size_t n = strlen(base), ns = strlen(suffix);
    while (n > 0 && base[n - 1] == '/') n--;
    int has = n >= ns && memcmp(base + n - ns, suffix, ns) == 0;
    char *u = malloc(n + ns + 1);
    if (!u) return NULL;
    memcpy(u, base, n);
    if (!has) memcpy(u + n, suffix, ns);
    u[n + (has ? 0 : ns)] = '\0';
    return u;
}

us_status us_llm_open(us_llm **out, const us_llm_config *cfg, us_err *err) {
    *out = NULL;
    us_status st = us_llm_config_validate(cfg, err);
    if (st != US_OK) return st;
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return us_err_set(err, US_EIO, NULL, 0, "libcurl", "curl_global_init failed: %s",
                          curl_easy_strerror(g_curl_init_rc));
    us_llm *llm = calloc(1, sizeof *llm);
    if (!llm) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    llm->cfg = *cfg;
    llm->url = make_url(cfg->url);
    llm->model = dup_str(cfg->model);
    if (cfg->api_key && *cfg->api_key) {
        llm->api_key = dup_str(cfg->api_key);
        size_t n = strlen(cfg->api_key) + 32;
        llm->auth_header = malloc(n);
        if (llm->auth_header)
            snprintf(llm->auth_header, n, "Authorization: Bearer %s", cfg->api_key);
    }
    llm->cfg.url = llm->url;
    llm->cfg.model = llm->model;
    llm->cfg.api_key = llm->api_key;
    llm->n_slots = cfg->concurrency;
    llm->slots = calloc((size_t)llm->n_slots, sizeof *llm->slots);
    if (!llm->url || !llm->model || (llm->api_key && !llm->auth_header) || !llm->slots) {
        us_llm_close(llm);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    us_rng_seed(&llm->rng, cfg->seed, 0x6c6c6d); /* "llm": the client's own stream */

    /* "Expect:" stops libcurl from waiting for a 100-continue on large bodies. */
    const char *lines[4] = {"Content-Type: application/json", "Accept: application/json",
                            "Expect:", llm->auth_header};
    struct curl_slist *h = NULL;
    for (int i = 0; i < 4 && lines[i]; i++) {
        struct curl_slist *more = curl_slist_append(h, lines[i]);
        if (!more) {
            curl_slist_free_all(h);
            h = NULL;
            break;
        }
        h = more;
    }
    llm->headers = h;
    llm->multi = curl_multi_init();
    if (!llm->headers || !llm->multi) {
        us_llm_close(llm);
        return us_err_set(err, US_ENOMEM, NULL, 0, "libcurl", "could not set up libcurl");
    }
    /* Keep every slot's connection open between requests. */
    curl_multi_setopt(llm->multi, CURLMOPT_MAXCONNECTS, (long)llm->n_slots);

    long timeout_ms = (long)ceil(cfg->timeout_s * 1000.0);
    if (timeout_ms < 1) timeout_ms = 1;
    for (int i = 0; i < llm->n_slots; i++) {
        slot *s = &llm->slots[i];
        s->h = curl_easy_init();
        if (!s->h) {
            us_llm_close(llm);
            return us_err_set(err, US_ENOMEM, NULL, 0, "libcurl", "curl_easy_init failed");
        }
        /* Options that stay for the handle's life; each attempt sets only its body. */
        CURLcode rc = curl_easy_setopt(s->h, CURLOPT_URL, llm->url);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_POST, 1L);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_HTTPHEADER, llm->headers);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_body);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_HEADERFUNCTION, on_header);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_HEADERDATA, s);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_ERRORBUFFER, s->curl_err);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_TIMEOUT_MS, timeout_ms);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_NOSIGNAL, 1L);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_TCP_KEEPALIVE, 1L);
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_ACCEPT_ENCODING, "");
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_USERAGENT, "usersim-llm/0.1");
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_PRIVATE, (void *)s);
        /* http and https only, for the URL and for any redirect (libcurl follows none here,
         * but the restriction does not depend on that). */
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0: the string forms; the bitmasks are deprecated */
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_PROTOCOLS_STR, "http,https");
        if (rc == CURLE_OK) rc = curl_easy_setopt(s->h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(s->h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(s->h, CURLOPT_REDIR_PROTOCOLS,
                                  (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        if (rc != CURLE_OK) {
            us_llm_close(llm);
            return us_err_set(err, US_EINVAL, NULL, 0, "libcurl", "libcurl rejected an option: %s",
                              curl_easy_strerror(rc));
        }
    }
    llm->max_body = cfg->max_response_bytes;
    for (int i = 0; i < llm->n_slots; i++) llm->slots[i].max_body = llm->max_body;
    *out = llm;
    return US_OK;
}

/* ------------------------------------------------------------------------------------------
 * Requests and responses
 * ---------------------------------------------------------------------------------------- */

static char *build_body(const us_llm *llm, const us_llm_request *r) {
    cJSON *root = cJSON_CreateObject(), *msgs = NULL;
    int ok = root && cJSON_AddStringToObject(root, "model", llm->model) &&
             (msgs = cJSON_AddArrayToObject(root, "messages"));
    for (int i = 0; ok && i < r->n_messages; i++) {
        cJSON *m = cJSON_CreateObject();
        ok = m && cJSON_AddItemToArray(msgs, m);
        if (!ok) {
            cJSON_Delete(m);
            break;
        }
        ok = cJSON_AddStringToObject(m, "role", r->messages[i].role) &&
             cJSON_AddStringToObject(m, "content", r->messages[i].content);
    }
    ok = ok && cJSON_AddNumberToObject(root, "temperature", llm->cfg.temperature);
    if (ok && llm->cfg.max_tokens > 0)
        ok = cJSON_AddNumberToObject(root, "max_tokens", llm->cfg.max_tokens) != NULL;
    if (ok && llm->cfg.json_mode) {
        cJSON *rf = cJSON_AddObjectToObject(root, "response_format");
        ok = rf && cJSON_AddStringToObject(rf, "type", "json_object");
    }
    ok = ok && cJSON_AddFalseToObject(root, "stream");
    char *body = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return body;
}

/* Copies up to SNIPPET bytes of a body into out with control bytes and non-ASCII shown as '?',
 * so an error message stays one printable line whatever the server sent. */
static void snippet(char *out, size_t cap, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && i < SNIPPET && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\n' || c == '\t') ? ' ' : '?';
    }
    if (n > SNIPPET && k + 4 < cap) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

/* A parsed chat completion; the strings point into root. */
typedef struct envelope {
    cJSON *root;
    const char *content, *finish_reason;
    int prompt_tokens, completion_tokens;
} envelope;

static int usage_int(const cJSON *usage, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 2e9)
        return -1;
    return (int)v->valuedouble;
}

/* Reads usage, if any, from whatever parsed. */
static void read_usage(envelope *e) {
    e->prompt_tokens = e->completion_tokens = -1;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(e->root, "usage");
    if (!cJSON_IsObject(usage)) return;
    e->prompt_tokens = usage_int(usage, "prompt_tokens");
    e->completion_tokens = usage_int(usage, "completion_tokens");
}

static int hex4(const char *p, const char *end, unsigned *out) {
    if (end - p < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d = c >= '0' && c <= '9'   ? c - '0'
                                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                               : -1;
        if (d < 0) return 0;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 1;
}

/* Rewrites, in place, every \uXXXX escape of a UTF-16 surrogate that is not half of a proper
 * high-low pair (a lone surrogate: not a character, and cJSON refuses the whole body for it)
 * as \ufffd, the replacement character, which has the same length. Other escapes (an escaped
 * backslash followed by "ud800" included) are stepped over. Returns how many were replaced. */
static size_t replace_lone_surrogates(char *b, size_t len) {
    size_t n = 0;
    char *end = b + len;
    for (char *p = b; p + 1 < end; p++) {
        if (*p != '\\') continue;
        if (p[1] != 'u') {
            p++; /* \\, \", \n, ...: the escaped character is not an escape itself */
            continue;
        }
        unsigned u, v;
        if (!hex4(p + 2, end, &u)) continue;
        if (u >= 0xD800 && u <= 0xDBFF && end - (p + 6) >= 6 && p[6] == '\\' && p[7] == 'u' &&
            hex4(p + 8, end, &v) && v >= 0xDC00 && v <= 0xDFFF) {
            p += 11; /* a proper pair */
            continue;
        }
        if (u >= 0xD800 && u <= 0xDFFF) {
            memcpy(p + 2, "fffd", 4);
            n++;
        }
        p += 5;
    }
    return n;
}

/* Parses a chat.completion body. Returns NULL and fills e, or a static description of what is
 * wrong (e->root is then freed by the caller as well, when not NULL). A body that does not
 * parse only because of lone surrogate escapes is parsed again with each replaced by U+FFFD. */
static const char *parse_envelope(const char *body, size_t len, envelope *e) {
    memset(e, 0, sizeof *e);
    e->prompt_tokens = e->completion_tokens = -1;
    if (len == 0) return "empty body";
    e->root = cJSON_ParseWithLength(body, len);
    if (!e->root && memchr(body, '\\', len)) {
        char *copy = malloc(len);
        if (copy) {
            memcpy(copy, body, len);
            if (replace_lone_surrogates(copy, len) > 0)
                e->root = cJSON_ParseWithLength(copy, len);
            free(copy);
        }
    }
    if (!e->root) return "body is not JSON (or is truncated)";
    if (!cJSON_IsObject(e->root)) return "body is JSON but not an object";
    read_usage(e);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(e->root, "choices");
    if (!choices) {
        const cJSON *er = cJSON_GetObjectItemCaseSensitive(e->root, "error");
        return er ? "body is an error object, not a completion" : "no \"choices\" in body";
    }
    if (!cJSON_IsArray(choices)) return "\"choices\" is not an array";
    const cJSON *c0 = cJSON_GetArrayItem(choices, 0);
    if (!c0) return "\"choices\" is empty";
    if (!cJSON_IsObject(c0)) return "choices[0] is not an object";
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c0, "finish_reason");
    if (cJSON_IsString(fr)) e->finish_reason = fr->valuestring;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c0, "message");
    if (!msg) return "no choices[0].message";
    if (!cJSON_IsObject(msg)) return "choices[0].message is not an object";
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!content) return "no choices[0].message.content";
    if (cJSON_IsNull(content)) return "choices[0].message.content is null (refusal or tool call?)";
    if (!cJSON_IsString(content)) return "choices[0].message.content is not a string";
    e->content = content->valuestring;
    return NULL;
}

static double backoff_wait(us_llm *llm, int retry /* 1, 2, ... */) {
    int k = retry - 1 < 60 ? retry - 1 : 60;
    double cap = ldexp(llm->cfg.backoff_base_s, k);
    if (cap > llm->cfg.backoff_max_s) cap = llm->cfg.backoff_max_s;
    return us_rng_uniform(&llm->rng) * cap;
}

static us_llm_fail classify_curl(CURLcode rc) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: return US_LLM_FAIL_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING: return US_LLM_FAIL_CONNECT;
    default: return US_LLM_FAIL_OTHER;
    }
}

static int http_retryable(int status) {
    return status == 408 || status == 409 || status == 429 || status >= 500;
}

/* Starts the next attempt of the slot's request. Returns 0 when libcurl would not take the
 * transfer (the slot's error says why; the caller delivers it as the final result). */
static int start_attempt(us_llm *llm, slot *s) {
    s->attempts++;
    s->resp_len = 0;
    if (s->resp) s->resp[0] = '\0';
    s->too_large = 0;
    s->retry_after_s = -1;
    s->curl_err[0] = '\0';
    s->t_start = us_now();
    s->state = SLOT_ACTIVE;
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(s->body));
    CURLMcode mc = curl_multi_add_handle(llm->multi, s->h);
    if (mc == CURLM_OK) return 1;
    s->fail = US_LLM_FAIL_OTHER;
    s->http_status = 0;
    s->latency_s = 0;
    snprintf(s->error, sizeof s->error, "curl_multi_add_handle: %s", curl_multi_strerror(mc));
    return 0;
}

/* Delivers the final result of the slot's request and frees the slot. */
static void deliver(us_llm *llm, slot *s, const us_llm_request *reqs, envelope *e,
                    void (*on_done)(void *, const us_llm_result *), void *ctx) {
    us_llm_result r;
    memset(&r, 0, sizeof r);
    r.tag = reqs[s->req].tag;
    r.fail = s->fail;
    r.ok = s->fail == US_LLM_FAIL_NONE;
    r.http_status = s->http_status;
    r.attempts = s->attempts;
    r.content = r.ok && e ? e->content : NULL;
    r.finish_reason = e ? e->finish_reason : NULL;
    r.raw = s->resp ? s->resp : "";
    r.raw_len = s->resp ? s->resp_len : 0;
    r.prompt_tokens = e ? e->prompt_tokens : -1;
    r.completion_tokens = e ? e->completion_tokens : -1;
    r.latency_s = s->latency_s;
    if (!r.ok) {
        int max = 1 + llm->cfg.max_retries;
        snprintf(r.error, sizeof r.error, "attempt %d of %d: %s", s->attempts, max, s->error);
    }
    on_done(ctx, &r);
    free(s->body);
    s->body = NULL;
    s->state = SLOT_IDLE;
}

/* Judges a finished transfer: delivers the request's final result, or puts the slot to sleep
 * until its retry. */
static void finish_attempt(us_llm *llm, slot *s, CURLcode rc, const us_llm_request *reqs,
                           void (*on_done)(void *, const us_llm_result *), void *ctx) {
    double now = us_now();
    s->latency_s = now - s->t_start;
    long status = 0;
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    s->http_status = (int)status;
    char snip[SNIPPET * 2];
    snippet(snip, sizeof snip, s->resp ? s->resp : "", s->resp_len);
    envelope e = {0};
    int retry = 0;
    if (rc != CURLE_OK) {
        if (s->too_large) {
            s->fail = US_LLM_FAIL_TOO_LARGE;
            snprintf(s->error, sizeof s->error,
                     "response body larger than max_response_bytes (%zu); not retried",
                     llm->max_body);
        } else {
            s->fail = classify_curl(rc);
            retry = s->fail != US_LLM_FAIL_OTHER;
            char what[64] = "transfer failed";
            if (s->fail == US_LLM_FAIL_TIMEOUT)
                snprintf(what, sizeof what, "timed out after %.3g s", llm->cfg.timeout_s);
            int k = snprintf(s->error, sizeof s->error, "%s (libcurl %d: %s)", what, (int)rc,
                             s->curl_err[0] ? s->curl_err : curl_easy_strerror(rc));
            if (s->http_status && k > 0 && (size_t)k < sizeof s->error)
                snprintf(s->error + k, sizeof s->error - (size_t)k, "; HTTP status %d",
                         s->http_status);
        }
    } else if (status / 100 != 2) {
        s->fail = US_LLM_FAIL_HTTP;
        retry = http_retryable((int)status);
        snprintf(s->error, sizeof s->error, "HTTP %ld%s; body: %s", status,
                 retry ? "" : " (not retried)", snip);
    } else {
        const char *why = parse_envelope(s->resp ? s->resp : "", s->resp_len, &e);
        if (!why) {
            s->fail = US_LLM_FAIL_NONE;
            s->error[0] = '\0';
            deliver(llm, s, reqs, &e, on_done, ctx);
            cJSON_Delete(e.root);
            return;
        }
        s->fail = US_LLM_FAIL_FORMAT;
        retry = s->format_retries < llm->cfg.max_format_retries;
        if (retry) s->format_retries++;
        snprintf(s->error, sizeof s->error, "HTTP %ld but %s; body: %s", status, why, snip);
    }
    if (retry && s->attempts < 1 + llm->cfg.max_retries) {
        double wait = -1;
        if (s->fail == US_LLM_FAIL_HTTP && s->retry_after_s >= 0)
            wait = s->retry_after_s < llm->cfg.retry_after_max_s ? s->retry_after_s
                                                                  : llm->cfg.retry_after_max_s;
        if (wait < 0) wait = backoff_wait(llm, s->attempts);
        cJSON_Delete(e.root);
        s->state = SLOT_SLEEPING;
        s->wake_at = now + wait;
        return;
    }
    /* Final failure: keep usage if a bad body still reported it. */
    deliver(llm, s, reqs, e.root ? &e : NULL, on_done, ctx);
    cJSON_Delete(e.root);
}

static void abandon_all(us_llm *llm) {
    for (int i = 0; i < llm->n_slots; i++) {
        slot *s = &llm->slots[i];
        if (s->state == SLOT_ACTIVE) curl_multi_remove_handle(llm->multi, s->h);
        free(s->body);
        s->body = NULL;
        s->state = SLOT_IDLE;
    }
}

us_status us_llm_run(us_llm *llm, const us_llm_request *reqs, size_t n,
                     void (*on_done)(void *ctx, const us_llm_result *r), void *ctx,
                     us_err *err) {
    if (!llm || !on_done || (n > 0 && !reqs))
        return us_err_set(err, US_EINVAL, NULL, 0, NULL,
                          "expected a client, requests and a callback");
    for (size_t i = 0; i < n; i++) {
        const us_llm_request *r = &reqs[i];
        if (r->n_messages < 1 || !r->messages)
            return us_err_set(err, US_EINVAL, NULL, 0, "messages",
                              "request %zu (tag %llu): expected at least one message, got %d", i,
                              (unsigned long long)r->tag, r->n_messages);
        for (int j = 0; j < r->n_messages; j++)
            if (!r->messages[j].role || !r->messages[j].content)
                return us_err_set(err, US_EINVAL, NULL, 0, "messages",
                                  "request %zu (tag %llu): message %d has a NULL role or content",
                                  i, (unsigned long long)r->tag, j);
    }
    size_t next = 0, done = 0;
    while (done < n) {
        double now = us_now();
        double wake = now + 1.0; /* the latest the loop sleeps without a reason */
        for (int i = 0; i < llm->n_slots; i++) {
            slot *s = &llm->slots[i];
            if (s->state == SLOT_IDLE && next < n) {
                s->req = next++;
                s->attempts = 0;
                s->format_retries = 0;
                s->resp_len = 0;
                if (s->resp) s->resp[0] = '\0';
                s->body = build_body(llm, &reqs[s->req]);
                if (!s->body) {
                    s->fail = US_LLM_FAIL_OTHER;
                    s->http_status = 0;
                    s->latency_s = 0;
                    snprintf(s->error, sizeof s->error, "out of memory building the request");
                    deliver(llm, s, reqs, NULL, on_done, ctx);
                    done++;
                    continue;
                }
                if (!start_attempt(llm, s)) {
                    deliver(llm, s, reqs, NULL, on_done, ctx);
                    done++;
                }
            } else if (s->state == SLOT_SLEEPING && s->wake_at <= now) {
                if (!start_attempt(llm, s)) {
                    deliver(llm, s, reqs, NULL, on_done, ctx);
                    done++;
                }
            }
            if (s->state == SLOT_SLEEPING && s->wake_at < wake) wake = s->wake_at;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(llm->multi, &running);
        if (mc != CURLM_OK) {
            abandon_all(llm);
            return us_err_set(err, US_EIO, NULL, 0, "libcurl", "curl_multi_perform: %s",
                              curl_multi_strerror(mc));
        }
        int finished = 0, left;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(llm->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *h = msg->easy_handle;
            CURLcode rc = msg->data.result;
            void *priv = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
            slot *s = priv;
            curl_multi_remove_handle(llm->multi, h);
            if (!s) continue;
            size_t before = done;
            finish_attempt(llm, s, rc, reqs, on_done, ctx);
            if (s->state == SLOT_IDLE) done++;
            finished += done > before || s->state == SLOT_SLEEPING;
        }
        if (finished || done >= n) continue;
        now = us_now();
        int timeout_ms = (int)ceil((wake - now) * 1000.0);
        if (timeout_ms < 0) timeout_ms = 0;
        if (timeout_ms > 1000) timeout_ms = 1000;
        mc = curl_multi_poll(llm->multi, NULL, 0, timeout_ms, NULL);
        if (mc != CURLM_OK) {
            abandon_all(llm);
            return us_err_set(err, US_EIO, NULL, 0, "libcurl", "curl_multi_poll: %s",
                              curl_multi_strerror(mc));
        }
    }
    return US_OK;
}

/* ------------------------------------------------------------------------------------------
 * Finding the JSON object in an answer
 * ---------------------------------------------------------------------------------------- */

/* The end (one past the matching '}') of the brace span starting at s[0] == '{', with strings
 * and escapes skipped, or NULL when it does not close before `end`. */
static const char *span_end(const char *s, const char *end) {
    int depth = 0, in_str = 0;
    for (const char *p = s; p < end; p++) {
        char c = *p;
        if (in_str) {
            if (c == '\\') {
                if (p + 1 < end) p++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{') {
            depth++;
        } else if (c == '}') {
            if (--depth == 0) return p + 1;
        }
    }
    return NULL;
}

/* The first '{' span in [from, end) that parses as a JSON object; at most `tries` candidates,
 * which bounds the work on text full of braces. */
static const char *first_object(const char *from, const char *end, size_t *len) {
    int tries = 64;
    for (const char *p = from; p < end && tries > 0; p++) {
        if (*p != '{') continue;
        tries--;
        const char *q = span_end(p, end);
        if (!q) continue;
        cJSON *j = cJSON_ParseWithLength(p, (size_t)(q - p));
        int ok = cJSON_IsObject(j);
        cJSON_Delete(j);
        if (ok) {
            *len = (size_t)(q - p);
            return p;
        }
    }
    return NULL;
}

const char *us_llm_extract_json(const char *text, size_t *len) {
    *len = 0;
    if (!text) return NULL;
    const char *end = text + strlen(text);
    /* Inside the first fenced block first: "```" + optional language tag + newline. */
    const char *fence = strstr(text, "```");
    if (fence) {
        const char *body = fence + 3;
        while (body < end && *body != '\n' && *body != '{') body++;
        const char *close = strstr(body, "```");
        const char *fend = close ? close : end;
        const char *found = first_object(body, fend, len);
        if (found) return found;
    }
    return first_object(text, end, len);
}
