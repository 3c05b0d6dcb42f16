/* llm.h — the LLM client of the keywords sub-room (private to simulator/keywords/): chat
 * completions from any OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama) over
 * libcurl's multi interface, many requests in flight, with per-attempt timeouts and retries.
 *
 *   us_llm_config cfg = us_llm_config_default();
 *   us_llm_config_from_env(&cfg);   // USERSIM_LLM_URL, USERSIM_LLM_MODEL, OPENAI_API_KEY
 *   cfg.json_mode = 1;
 *   us_llm *llm;
 *   us_err err;
 *   if (us_llm_open(&llm, &cfg, &err) != US_OK) return err.code;
 *   us_llm_message msgs[2] = {{"system", "Answer in JSON."}, {"user", "Keywords of: ..."}};
 *   us_llm_request reqs[1] = {{.tag = 42, .messages = msgs, .n_messages = 2}};
 *   us_llm_run(llm, reqs, 1, on_done, ctx, &err);   // on_done(ctx, r) once per request
 *   us_llm_close(llm);
 *
 *   static void on_done(void *ctx, const us_llm_result *r) {
 *       if (!r->ok) { fprintf(stderr, "request %llu: %s\n", (unsigned long long)r->tag,
 *                             r->error); return; }
 *       size_t n;
 *       const char *js = us_llm_extract_json(r->content, &n);  // the object, without prose
 *       ...                                                    // copy what you keep
 *   }
 *
 * Retry policy (each retry is one more attempt, at most 1 + max_retries in all):
 *   - retried: a timeout of the attempt, a connection error (refused, reset, closed without an
 *     answer, body shorter than its Content-Length), HTTP 408, 409, 429 and 5xx;
 *   - retried at most `max_format_retries` times: an HTTP 200 whose body is not a chat
 *     completion (not JSON, truncated JSON, no choices[0].message.content string, wrong types).
 *     With temperature 0 a server usually repeats itself, so the budget is small. A lone
 *     UTF-16 surrogate escape (\ud800 with no low half: not a character) does not make a
 *     body "not JSON": it is read as U+FFFD, the replacement character;
 *   - never retried: other 4xx (bad request, bad key, unknown model), a bad URL, a response
 *     larger than `max_response_bytes`.
 *   The wait before retry k (k = 1, 2, ...) is the server's Retry-After (seconds or an HTTP
 *   date; or OpenAI's retry-after-ms), capped at retry_after_max_s, when the retried HTTP error
 *   (429, 503, ...) carries one; otherwise "full jitter": uniform in
 *   [0, min(backoff_max_s, backoff_base_s * 2^(k-1))).
 *   A request waiting for its retry keeps its slot, so a server that pushes back receives less
 *   traffic, never more.
 *
 * It deliberately does not: stream tokens, call tools, keep a conversation (every request
 * carries all its messages), or interpret the assistant's text beyond extracting a JSON object.
 * No global mutable state except libcurl's one-time global init (under pthread_once).
 */
#ifndef USERSIM_SIMULATOR_LLM_H
#define USERSIM_SIMULATOR_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct us_llm_config {
    const char *url;      /* base URL, http:// or https:// only, e.g.
                           * "http://127.0.0.1:8080/v1"; "/chat/completions" is
                           * appended unless the URL already ends with it. Default
                           * "http://127.0.0.1:8080/v1" (llama.cpp server's default port) */
    const char *model;    /* the "model" field; default "default" */
    const char *api_key;  /* NULL or "": no Authorization header; else "Bearer <key>" */
    double temperature;   /* default 0 */
    int max_tokens;       /* default 512; <= 0 leaves the field out (the server decides) */
    int json_mode;        /* 1: response_format {"type":"json_object"}; default 0 */
    int concurrency;      /* requests in flight at once, 1..1024; default 4 */
    double timeout_s;     /* whole attempt (connect, send, wait, receive); default 60 */
    int max_retries;      /* retries after the first attempt; default 4 */
    int max_format_retries; /* of those, at most this many after a 200 with a bad body; default 1 */
    double backoff_base_s;  /* default 0.5 */
    double backoff_max_s;   /* default 30 */
    double retry_after_max_s; /* cap on the server's Retry-After; default 60 */
    size_t max_response_bytes; /* a longer body fails the request, not retried; default 16 MiB */
    uint64_t seed;        /* the jitter's PCG32 stream; default 0 */
} us_llm_config;

/* Every field at its default (see above). Returned by value; its strings are static. */
us_llm_config us_llm_config_default(void);

/* Sets url, model and api_key from USERSIM_LLM_URL, USERSIM_LLM_MODEL and OPENAI_API_KEY, each
 * only when that variable is set and not empty; leaves the other fields alone. The strings are
 * borrowed from the environment: valid until it changes. */
void us_llm_config_from_env(us_llm_config *cfg);

/* 0 when url starts with http:// or https:// (the scheme in any case); else -1 with the
 * scheme found (or "no scheme") in why[cap]. The client speaks only these two: libcurl is also
 * told so (CURLOPT_PROTOCOLS_STR and CURLOPT_REDIR_PROTOCOLS_STR, or the older bitmasks), so a
 * file://, ftp://, gopher:// or dict:// URL, or a redirect to one, is never fetched. */
int us_llm_url_scheme_ok(const char *url, char *why, size_t cap);

/* US_EINVAL naming the field when a value is out of range (no URL or model, a URL that is not
 * http:// or https://, concurrency not in
 * 1..1024, negative or non-finite times, negative retries, temperature not in [0, 2], a
 * control character in the API key, max_response_bytes < 64). Borrows cfg for the call. */
us_status us_llm_config_validate(const us_llm_config *cfg, us_err *err);

typedef struct us_llm_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* UTF-8 text */
} us_llm_message;

typedef struct us_llm_request {
    uint64_t tag;                    /* the caller's id, handed back in the result */
    const us_llm_message *messages;  /* n_messages >= 1 */
    int n_messages;
} us_llm_request;

/* Why a request failed (the last attempt's reason). */
typedef enum us_llm_fail {
    US_LLM_FAIL_NONE = 0,    /* ok */
    US_LLM_FAIL_TIMEOUT,     /* the attempt ran past timeout_s */
    US_LLM_FAIL_CONNECT,     /* could not connect, connection reset or closed, short body */
    US_LLM_FAIL_HTTP,        /* an HTTP status other than 200 */
    US_LLM_FAIL_FORMAT,      /* an HTTP 200 whose body is not a usable chat completion */
    US_LLM_FAIL_TOO_LARGE,   /* the body passed max_response_bytes */
    US_LLM_FAIL_OTHER,       /* any other transfer error (see the message) */
} us_llm_fail;

typedef struct us_llm_result {
    uint64_t tag;
    int ok;                 /* 1: content holds the assistant's answer */
    us_llm_fail fail;       /* US_LLM_FAIL_NONE when ok */
    int http_status;        /* of the last attempt; 0 when no response came */
    int attempts;           /* 1 + retries made */
    const char *content;    /* the assistant message's text when ok, else NULL (borrowed: valid
                             * only during the callback) */
    const char *finish_reason; /* "stop", "length", ... or NULL when absent (borrowed); ok
                                * with "length" is a cut-off answer: the caller decides */
    const char *raw;        /* the last attempt's response body as received, NUL-terminated
                             * (it may hold other NULs: see raw_len); "" when none (borrowed) */
    size_t raw_len;
    int prompt_tokens, completion_tokens; /* -1 when the server did not report usage */
    double latency_s;       /* of the successful (or last) attempt */
    char error[512];        /* when !ok: what failed, on which attempt, HTTP status, libcurl's
                             * message and the start of the body; "" when ok */
} us_llm_result;

typedef struct us_llm us_llm;

/* Validates cfg, copies its strings, and prepares `concurrency` curl easy handles (one per
 * slot, kept across requests and runs so connections are reused). Caller owns *out; release
 * with us_llm_close(). */
us_status us_llm_open(us_llm **out, const us_llm_config *cfg, us_err *err);

/* Closes the connections and frees llm with everything it owns. NULL is a no-op. */
void us_llm_close(us_llm *llm);

/* Runs reqs[0..n) with up to cfg.concurrency in flight, starting them in order, and calls
 * on_done(ctx, r) exactly once per request, in completion order, on the calling thread (never
 * concurrently). Returns US_OK when every request got its final result, ok or not: a failed
 * request is a result, not an error of the run. Returns an error (and calls on_done for no
 * further request) only for a bad argument (US_EINVAL: a request with no messages or a NULL
 * role/content) found before anything is sent, or a setup failure (US_ENOMEM, libcurl). One run
 * at a time per us_llm; on_done must not call us_llm_run on the same llm. Borrows reqs and
 * their strings for the call; the result and its strings are borrowed by on_done for its call. */
us_status us_llm_run(us_llm *llm, const us_llm_request *reqs, size_t n,
                     void (*on_done)(void *ctx, const us_llm_result *r), void *ctx,
                     us_err *err);

/* Finds the JSON object in an assistant's answer that may wrap it in a Markdown code fence
 * (```json ... ```) or prose before and after: the first '{' ... '}' span (inside the first
 * fence first, then anywhere) that parses as a complete JSON object, with braces inside
 * strings handled. Returns a pointer into text and its length in *len, or NULL (and *len 0)
 * when there is none. text NULL gives NULL. Never reads past text's NUL. Borrows text: the
 * result points into it. */
const char *us_llm_extract_json(const char *text, size_t *len);

/* The name of a failure kind ("none", "timeout", "connect", "http", "format", "too large",
 * "other"); a static string. */
const char *us_llm_fail_name(us_llm_fail f);

#ifdef __cplusplus
}
#endif
#endif
