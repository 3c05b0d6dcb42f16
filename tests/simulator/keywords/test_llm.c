/* test_llm.c — the LLM client against the test chat server over loopback: answers and usage,
 * what the request carried, retries (500, 429 with Retry-After, timeouts, short bodies, closed
 * connections, bad envelopes), no retry on 400, final error texts, concurrency and connection
 * reuse, tags, configuration, and extracting the JSON object from an answer. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simulator/keywords/llm.h"
#include "tests/simulator/keywords/chat_server.h"
#include "tests/test.h"

/* A copy of one result, kept after the callback. */
typedef struct got {
    uint64_t tag;
    int ok, http_status, attempts, prompt_tokens, completion_tokens;
    us_llm_fail fail;
    double latency_s;
    char *content, *raw, *finish_reason;
    size_t raw_len;
    char error[512];
} got;

typedef struct sink {
    got *r;
    size_t n, cap;
} sink;

static char *dup_or_null(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void collect(void *ctx, const us_llm_result *r) {
    sink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->r = realloc(s->r, s->cap * sizeof *s->r);
        US_ASSERT(s->r);
    }
    got *g = &s->r[s->n++];
    memset(g, 0, sizeof *g);
    g->tag = r->tag;
    g->ok = r->ok;
    g->fail = r->fail;
    g->http_status = r->http_status;
    g->attempts = r->attempts;
    g->prompt_tokens = r->prompt_tokens;
    g->completion_tokens = r->completion_tokens;
    g->latency_s = r->latency_s;
    g->content = dup_or_null(r->content);
    g->finish_reason = dup_or_null(r->finish_reason);
    g->raw = malloc(r->raw_len + 1);
    US_ASSERT(g->raw && r->raw);
    memcpy(g->raw, r->raw, r->raw_len + 1);
    g->raw_len = r->raw_len;
    memcpy(g->error, r->error, sizeof g->error);
}

static void sink_free(sink *s) {
    for (size_t i = 0; i < s->n; i++) {
        free(s->r[i].content);
        free(s->r[i].raw);
        free(s->r[i].finish_reason);
    }
    free(s->r);
    memset(s, 0, sizeof *s);
}

/* A config for the test server: fast backoff so retries take milliseconds. */
static us_llm_config test_config(const us_chat_server *srv) {
    us_llm_config c = us_llm_config_default();
    c.url = us_chat_server_url(srv);
    c.model = "test-model";
    c.timeout_s = 10;
    c.backoff_base_s = 0.005;
    c.backoff_max_s = 0.02;
    c.seed = 7;
    return c;
}

/* Runs one request with the user message `text` through a fresh client; the result lands in
 * out->r[0]. */
static us_status run_one(const us_llm_config *cfg, const char *text, sink *out, us_err *err) {
    us_llm *llm;
    us_status st = us_llm_open(&llm, cfg, err);
    if (st != US_OK) return st;
    us_llm_message m[1] = {{"user", text}};
    us_llm_request rq = {.tag = 1, .messages = m, .n_messages = 1};
    st = us_llm_run(llm, &rq, 1, collect, out, err);
    us_llm_close(llm);
    return st;
}

TEST(llm_answer_content_usage_and_request_fields) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_llm_config cfg = test_config(srv);
    cfg.api_key = "sk-test-123";
    cfg.json_mode = 1;
    cfg.temperature = 0.25;
    cfg.max_tokens = 77;
    us_llm *llm;
    CHECK_OK(us_llm_open(&llm, &cfg, &err), err);
    REQUIRE(llm);
    us_llm_message m[2] = {{"system", "Answer in JSON."}, {"user", "hello \"world\" é"}};
    us_llm_request rq = {.tag = 99, .messages = m, .n_messages = 2};
    sink s = {0};
    CHECK_OK(us_llm_run(llm, &rq, 1, collect, &s, &err), err);
    REQUIRE(s.n == 1);
    got *g = &s.r[0];
    CHECK(g->ok);
    CHECK_EQ_INT(g->fail, US_LLM_FAIL_NONE);
    CHECK_EQ_U64(g->tag, 99);
    CHECK_EQ_INT(g->http_status, 200);
    CHECK_EQ_INT(g->attempts, 1);
    CHECK_STR(g->content, "hello \"world\" é"); /* the server echoes the last message */
    CHECK_STR(g->finish_reason, "stop");
    CHECK_STR(g->error, "");
    /* The test server reports bytes as tokens. */
    CHECK_EQ_INT(g->prompt_tokens, (int)(strlen(m[0].content) + strlen(m[1].content)));
    CHECK_EQ_INT(g->completion_tokens, (int)strlen(m[1].content));
    CHECK(strstr(g->raw, "\"chat.completion\"") != NULL);

    us_chat_request r;
    REQUIRE(us_chat_server_get(srv, 0, &r));
    CHECK_STR(r.path, "/v1/chat/completions");
    CHECK_STR(r.model, "test-model");
    CHECK_STR(r.authorization, "Bearer sk-test-123");
    CHECK_STR(r.response_format, "json_object");
    CHECK_NEAR(r.temperature, 0.25, 1e-12);
    CHECK_EQ_INT(r.max_tokens, 77);
    REQUIRE(r.n_messages == 2);
    CHECK_STR(r.roles[0], "system");
    CHECK_STR(r.contents[0], "Answer in JSON.");
    CHECK_STR(r.roles[1], "user");
    CHECK_STR(r.contents[1], "hello \"world\" é");
    us_llm_close(llm);
    sink_free(&s);

    /* Without a key, JSON mode or max_tokens, those fields are left out. */
    cfg.api_key = NULL;
    cfg.json_mode = 0;
    cfg.max_tokens = 0;
    CHECK_OK(run_one(&cfg, "plain", &s, &err), err);
    REQUIRE(s.n == 1 && us_chat_server_get(srv, 1, &r));
    CHECK(s.r[0].ok);
    CHECK(r.authorization == NULL);
    CHECK(r.response_format == NULL);
    CHECK_EQ_INT(r.max_tokens, -1);
    sink_free(&s);
    us_chat_server_stop(srv);
}

TEST(llm_usage_absent_is_minus_one) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_push(srv, &(us_chat_reply){.content = "no usage here", .no_usage = 1});
    us_llm_config cfg = test_config(srv);
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(s.r[0].ok);
    CHECK_STR(s.r[0].content, "no usage here");
    CHECK_EQ_INT(s.r[0].prompt_tokens, -1);
    CHECK_EQ_INT(s.r[0].completion_tokens, -1);
    sink_free(&s);
    us_chat_server_stop(srv);
}

TEST(llm_retries_500_then_succeeds) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 500});
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 503});
    us_chat_server_push(srv, &(us_chat_reply){.content = "third time"});
    us_llm_config cfg = test_config(srv);
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(s.r[0].ok);
    CHECK_EQ_INT(s.r[0].attempts, 3);
    CHECK_STR(s.r[0].content, "third time");
    CHECK_EQ_INT(us_chat_server_requests(srv), 3);
    sink_free(&s);
    us_chat_server_stop(srv);
}

/* The gap between the 429's request and the retry is at least the Retry-After value, although
 * the configured backoff is milliseconds (only a lower bound: no flakiness on a slow machine). */
TEST(llm_429_honours_retry_after) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 429,
                                              .retry_after = "1"});
    us_chat_server_push(srv, &(us_chat_reply){.content = "after the wait"});
    us_llm_config cfg = test_config(srv);
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(s.r[0].ok);
    CHECK_EQ_INT(s.r[0].attempts, 2);
    us_chat_request a, b;
    REQUIRE(us_chat_server_get(srv, 0, &a) && us_chat_server_get(srv, 1, &b));
    CHECK(b.t_arrive - a.t_arrive >= 1.0);
    sink_free(&s);

    /* An HTTP date two seconds ahead: the wait is at least one second (dates have whole
     * seconds). */
    char date[64];
    time_t when = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 503,
                                              .retry_after = date});
    us_chat_server_push(srv, &(us_chat_reply){.content = "dated"});
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(s.r[0].ok);
    REQUIRE(us_chat_server_get(srv, 2, &a) && us_chat_server_get(srv, 3, &b));
    CHECK(b.t_arrive - a.t_arrive >= 1.0);
    sink_free(&s);

    /* A huge Retry-After is capped by retry_after_max_s (else this would wait an hour). */
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 429,
                                              .retry_after = "3600"});
    us_chat_server_push(srv, &(us_chat_reply){.content = "capped"});
    cfg.retry_after_max_s = 0.05;
    double t0 = us_now();
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(s.r[0].ok);
    CHECK(us_now() - t0 < 60);
    sink_free(&s);
    us_chat_server_stop(srv);
}

TEST(llm_timeout_then_retry) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_push(srv, &(us_chat_reply){.delay_s = 5, .content = "too late"});
    us_chat_server_push(srv, &(us_chat_reply){.content = "in time"});
    us_llm_config cfg = test_config(srv);
    cfg.timeout_s = 1.0; /* generous: a loaded machine still answers "in time" within it */
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(s.r[0].ok);
    CHECK_EQ_INT(s.r[0].attempts, 2);
    CHECK_STR(s.r[0].content, "in time");
    sink_free(&s);

    /* Every attempt times out: the final error says so. */
    us_chat_server_push(srv, &(us_chat_reply){.delay_s = 5});
    us_chat_server_push(srv, &(us_chat_reply){.delay_s = 5});
    cfg.max_retries = 1;
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(!s.r[0].ok);
    CHECK_EQ_INT(s.r[0].fail, US_LLM_FAIL_TIMEOUT);
    CHECK_EQ_INT(s.r[0].attempts, 2);
    CHECK(s.r[0].content == NULL);
    CHECK(strstr(s.r[0].error, "attempt 2 of 2") != NULL);
    CHECK(strstr(s.r[0].error, "timed out") != NULL);
    sink_free(&s);
    us_chat_server_stop(srv);
}

TEST(llm_400_not_retried) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_push(srv, &(us_chat_reply){
                                 .kind = US_CHAT_STATUS, .status = 400,
                                 .body = "{\"error\":{\"message\":\"unknown model zz\"}}"});
    us_chat_server_push(srv, &(us_chat_reply){.content = "must not be reached"});
    us_llm_config cfg = test_config(srv);
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(!s.r[0].ok);
    CHECK_EQ_INT(s.r[0].fail, US_LLM_FAIL_HTTP);
    CHECK_EQ_INT(s.r[0].http_status, 400);
    CHECK_EQ_INT(s.r[0].attempts, 1);
    CHECK(strstr(s.r[0].error, "HTTP 400") != NULL);
    CHECK(strstr(s.r[0].error, "not retried") != NULL);
    CHECK(strstr(s.r[0].error, "unknown model zz") != NULL);
    CHECK(strstr(s.r[0].raw, "unknown model zz") != NULL);
    CHECK_EQ_INT(us_chat_server_requests(srv), 1);
    sink_free(&s);
    us_chat_server_stop(srv);
}

TEST(llm_retries_exhausted_final_error) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_set_default(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 502,
                                                     .body = "upstream down"});
    us_llm_config cfg = test_config(srv);
    cfg.max_retries = 2;
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(!s.r[0].ok);
    CHECK_EQ_INT(s.r[0].attempts, 3);
    CHECK_EQ_INT(s.r[0].http_status, 502);
    CHECK_EQ_INT(us_chat_server_requests(srv), 3);
    CHECK(strstr(s.r[0].error, "attempt 3 of 3: HTTP 502; body: upstream down") != NULL);
    CHECK_STR(s.r[0].raw, "upstream down");
    sink_free(&s);
    us_chat_server_stop(srv);
}

/* A 200 whose body is not a usable chat completion: retried max_format_retries times, then a
 * FORMAT failure that keeps the raw body. */
TEST(llm_bad_envelopes) {
    static const char *bodies[] = {
        "hello, not json",
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"cut",
        "[1,2,3]",
        "{}",
        "{\"choices\":[]}",
        "{\"choices\":{}}",
        "{\"choices\":[7]}",
        "{\"choices\":[{\"message\":\"text\"}]}",
        "{\"choices\":[{\"message\":{\"role\":\"assistant\"}}]}",
        "{\"choices\":[{\"message\":{\"content\":null}}]}",
        "{\"choices\":[{\"message\":{\"content\":42}}]}",
        "{\"error\":{\"message\":\"overloaded\"}}",
        "",
    };
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_llm_config cfg = test_config(srv);
    cfg.max_format_retries = 1;
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        us_chat_reply bad = {.kind = US_CHAT_RAW, .body = bodies[i]};
        us_chat_server_push(srv, &bad);
        us_chat_server_push(srv, &bad);
        us_chat_server_push(srv, &(us_chat_reply){.content = "never reached"});
        int before = us_chat_server_requests(srv);
        sink s = {0};
        CHECK_OK(run_one(&cfg, "x", &s, &err), err);
        REQUIRE(s.n == 1);
        if (s.r[0].ok) printf("    body %zu was accepted\n", i);
        CHECK(!s.r[0].ok);
        CHECK_EQ_INT(s.r[0].fail, US_LLM_FAIL_FORMAT);
        CHECK_EQ_INT(s.r[0].attempts, 2);
        CHECK_EQ_INT(us_chat_server_requests(srv) - before, 2);
        CHECK_STR(s.r[0].raw, bodies[i]);
        CHECK(strstr(s.r[0].error, "HTTP 200 but") != NULL);
        sink_free(&s);
        /* Take the unused good answer off the queue so the next case starts clean. */
        CHECK_OK(run_one(&cfg, "x", &s, &err), err);
        CHECK(s.n == 1 && s.r[0].ok && strcmp(s.r[0].content, "never reached") == 0);
        sink_free(&s);
    }
    /* One bad body, then a good one: the format retry succeeds. */
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_RAW, .body = "{oops"});
    us_chat_server_push(srv, &(us_chat_reply){.content = "fine"});
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    CHECK(s.n == 1 && s.r[0].ok && s.r[0].attempts == 2);
    sink_free(&s);
    us_chat_server_stop(srv);
}

TEST(llm_short_body_and_closed_connection_are_retried) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_TRUNCATED, .content = "partial"});
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_CLOSE});
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_CLOSE, .delay_s = 0.05});
    us_chat_server_push(srv, &(us_chat_reply){.content = "whole"});
    us_llm_config cfg = test_config(srv);
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(s.r[0].ok);
    CHECK_EQ_INT(s.r[0].attempts, 4);
    CHECK_STR(s.r[0].content, "whole");
    sink_free(&s);

    us_chat_server_set_default(srv, &(us_chat_reply){.kind = US_CHAT_CLOSE});
    cfg.max_retries = 1;
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(!s.r[0].ok);
    CHECK_EQ_INT(s.r[0].fail, US_LLM_FAIL_CONNECT);
    CHECK_EQ_INT(s.r[0].attempts, 2);
    CHECK(strstr(s.r[0].error, "libcurl") != NULL);
    sink_free(&s);
    us_chat_server_stop(srv);
}

TEST(llm_connection_refused) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    char url[64];
    snprintf(url, sizeof url, "%s", us_chat_server_url(srv));
    us_chat_server_stop(srv); /* nothing listens on that port now */
    us_llm_config cfg = us_llm_config_default();
    cfg.url = url;
    cfg.backoff_base_s = 0.001;
    cfg.backoff_max_s = 0.002;
    cfg.max_retries = 2;
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(!s.r[0].ok);
    CHECK_EQ_INT(s.r[0].fail, US_LLM_FAIL_CONNECT);
    CHECK_EQ_INT(s.r[0].attempts, 3);
    CHECK_EQ_INT(s.r[0].http_status, 0);
    CHECK(strstr(s.r[0].error, "attempt 3 of 3: transfer failed") != NULL);
    sink_free(&s);
}

TEST(llm_response_too_large_not_retried) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    char big[4001];
    memset(big, 'a', 4000);
    big[4000] = '\0';
    us_chat_server_push(srv, &(us_chat_reply){.content = big});
    us_llm_config cfg = test_config(srv);
    cfg.max_response_bytes = 1000;
    sink s = {0};
    CHECK_OK(run_one(&cfg, "x", &s, &err), err);
    REQUIRE(s.n == 1);
    CHECK(!s.r[0].ok);
    CHECK_EQ_INT(s.r[0].fail, US_LLM_FAIL_TOO_LARGE);
    CHECK_EQ_INT(s.r[0].attempts, 1);
    CHECK(s.r[0].raw_len <= 1000);
    sink_free(&s);
    us_chat_server_stop(srv);
}

/* 32 requests through 8 slots against a server that takes 250 ms: 8 in flight at the peak,
 * every tag delivered exactly once with its own answer, and at most 8 connections (reused). */
TEST(llm_concurrency_and_tags) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_set_default(srv, &(us_chat_reply){.delay_s = 0.25});
    us_llm_config cfg = test_config(srv);
    cfg.concurrency = 8;
    enum { N = 32 };
    char text[N][32];
    us_llm_message msgs[N][1];
    us_llm_request reqs[N];
    for (int i = 0; i < N; i++) {
        uint64_t tag = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        snprintf(text[i], sizeof text[i], "%llu", (unsigned long long)tag);
        msgs[i][0] = (us_llm_message){"user", text[i]};
        reqs[i] = (us_llm_request){.tag = tag, .messages = msgs[i], .n_messages = 1};
    }
    us_llm *llm;
    CHECK_OK(us_llm_open(&llm, &cfg, &err), err);
    REQUIRE(llm);
    sink s = {0};
    CHECK_OK(us_llm_run(llm, reqs, N, collect, &s, &err), err);
    REQUIRE(s.n == N);
    int seen[N] = {0};
    for (size_t k = 0; k < s.n; k++) {
        CHECK(s.r[k].ok);
        int idx = -1;
        for (int i = 0; i < N; i++)
            if (reqs[i].tag == s.r[k].tag) idx = i;
        REQUIRE(idx >= 0);
        seen[idx]++;
        CHECK_STR(s.r[k].content, text[idx]);
        CHECK(s.r[k].latency_s >= 0.25); /* the server's delay */
    }
    for (int i = 0; i < N; i++) CHECK_EQ_INT(seen[i], 1);
    CHECK_EQ_INT(us_chat_server_requests(srv), N);
    CHECK_EQ_INT(us_chat_server_max_in_flight(srv), 8);
    CHECK(us_chat_server_connections(srv) <= 8);
    sink_free(&s);

    /* A second run on the same client reuses the open connections. */
    int conns = us_chat_server_connections(srv);
    us_chat_server_set_default(srv, &(us_chat_reply){0});
    CHECK_OK(us_llm_run(llm, reqs, 16, collect, &s, &err), err);
    CHECK_EQ_INT(s.n, 16);
    CHECK_EQ_INT(us_chat_server_connections(srv), conns);
    sink_free(&s);

    /* Nothing to do is fine. */
    CHECK_OK(us_llm_run(llm, reqs, 0, collect, &s, &err), err);
    CHECK_EQ_INT(s.n, 0);
    us_llm_close(llm);
    us_chat_server_stop(srv);
}

TEST(llm_bad_requests_rejected_before_sending) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_llm_config cfg = test_config(srv);
    us_llm *llm;
    CHECK_OK(us_llm_open(&llm, &cfg, &err), err);
    REQUIRE(llm);
    us_llm_message good[1] = {{"user", "x"}}, bad[1] = {{"user", NULL}};
    us_llm_request reqs[2] = {{.tag = 1, .messages = good, .n_messages = 1},
                              {.tag = 2, .messages = bad, .n_messages = 1}};
    sink s = {0};
    CHECK_EQ_INT(us_llm_run(llm, reqs, 2, collect, &s, &err), US_EINVAL);
    CHECK(strstr(err.msg, "tag 2") != NULL);
    reqs[1] = (us_llm_request){.tag = 3, .messages = good, .n_messages = 0};
    CHECK_EQ_INT(us_llm_run(llm, reqs, 2, collect, &s, &err), US_EINVAL);
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_INT(us_chat_server_requests(srv), 0);
    us_llm_close(llm);
    us_llm_close(NULL);
    us_chat_server_stop(srv);
}

TEST(llm_config_validate_and_env) {
    us_err err;
    us_llm_config c = us_llm_config_default();
    CHECK_OK(us_llm_config_validate(&c, &err), err);
    CHECK_EQ_INT(c.concurrency, 4);
    CHECK_EQ_INT(c.max_tokens, 512);
    CHECK_EQ_INT(c.max_retries, 4);
    CHECK_NEAR(c.timeout_s, 60, 0);
    us_llm_config b = c;
    b.concurrency = 0;
    CHECK_EQ_INT(us_llm_config_validate(&b, &err), US_EINVAL);
    CHECK_STR(err.field, "concurrency");
    b = c;
    b.timeout_s = 0;
    CHECK_EQ_INT(us_llm_config_validate(&b, &err), US_EINVAL);
    b = c;
    b.temperature = 3;
    CHECK_EQ_INT(us_llm_config_validate(&b, &err), US_EINVAL);
    b = c;
    b.model = "";
    CHECK_EQ_INT(us_llm_config_validate(&b, &err), US_EINVAL);
    b = c;
    b.api_key = "sk-ok\r\nX-Injected: 1";
    CHECK_EQ_INT(us_llm_config_validate(&b, &err), US_EINVAL);
    CHECK_STR(err.field, "api_key");
    b = c;
    b.url = NULL;
    us_llm *llm = (us_llm *)&b; /* must be set to NULL on failure */
    CHECK_EQ_INT(us_llm_open(&llm, &b, &err), US_EINVAL);
    CHECK(llm == NULL);

    const char *names[3] = {"USERSIM_LLM_URL", "USERSIM_LLM_MODEL", "OPENAI_API_KEY"};
    char *saved[3];
    for (int i = 0; i < 3; i++) saved[i] = dup_or_null(getenv(names[i]));
    setenv("USERSIM_LLM_URL", "http://10.1.2.3:11434/v1", 1);
    setenv("USERSIM_LLM_MODEL", "qwen-test", 1);
    setenv("OPENAI_API_KEY", "sk-env", 1);
    us_llm_config e = us_llm_config_default();
    e.concurrency = 3;
    us_llm_config_from_env(&e);
    CHECK_STR(e.url, "http://10.1.2.3:11434/v1");
    CHECK_STR(e.model, "qwen-test");
    CHECK_STR(e.api_key, "sk-env");
    CHECK_EQ_INT(e.concurrency, 3);
    /* Unset or empty variables leave the fields alone. */
    unsetenv("USERSIM_LLM_URL");
    setenv("USERSIM_LLM_MODEL", "", 1);
    unsetenv("OPENAI_API_KEY");
    us_llm_config f = us_llm_config_default();
    us_llm_config_from_env(&f);
    CHECK_STR(f.url, c.url);
    CHECK_STR(f.model, c.model);
    CHECK(f.api_key == NULL);
    for (int i = 0; i < 3; i++) {
        if (saved[i])
            setenv(names[i], saved[i], 1);
        else
            unsetenv(names[i]);
        free(saved[i]);
    }
}

/* Only http and https reach libcurl: a file, ftp, gopher or dict URL (or no scheme) is
 * refused before anything is opened, naming the scheme; the scheme is not case-sensitive. */
TEST(llm_url_only_http_or_https) {
    us_err err;
    const char *bad[] = {"file:///etc/hostname?", "FILE:///etc/hostname", "ftp://127.0.0.1/x",
                         "gopher://127.0.0.1:70/", "dict://127.0.0.1:2628/d:x",
                         "127.0.0.1:8080/v1", "httpx://127.0.0.1/v1", "://x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        us_llm_config c = us_llm_config_default();
        c.url = bad[i];
        CHECK_ERR(us_llm_config_validate(&c, &err), err, US_EINVAL, "expected an http:// or "
                  "https:// URL");
        CHECK_STR(err.field, "url");
        us_llm *llm = NULL;
        CHECK_EQ_INT(us_llm_open(&llm, &c, &err), US_EINVAL);
        CHECK(llm == NULL);
    }
    const char *good[] = {"http://127.0.0.1:8080/v1", "HTTPS://api.example.com/v1",
                          "Http://[::1]:8000/v1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        us_llm_config c = us_llm_config_default();
        c.url = good[i];
        CHECK_OK(us_llm_config_validate(&c, &err), err);
    }
}

/* A lone UTF-16 surrogate escape in an answer (not valid Unicode, which cJSON refuses) is
 * replaced by U+FFFD and the answer kept, instead of calling the whole body "not JSON"; a
 * proper pair and an escaped backslash before "ud800" are left as they are. */
TEST(llm_lone_surrogate_replaced) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    const char *bodies[] = {
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"a \\ud800 b\"},"
        "\"finish_reason\":\"stop\"}]}",
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"\\udc00x\\ud83d\"},"
        "\"finish_reason\":\"stop\"}]}",
        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"\\ud800\\udc00 "
        "\\\\ud800\"},\"finish_reason\":\"stop\"}]}"};
    const char *want[] = {"a \xEF\xBF\xBD b", "\xEF\xBF\xBDx\xEF\xBF\xBD",
                          "\xF0\x90\x80\x80 \\ud800"};
    for (int i = 0; i < 3; i++) {
        us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_RAW, .body = bodies[i]});
        us_llm_config cfg = test_config(srv);
        cfg.max_format_retries = 0; /* the first answer is the one judged */
        sink s = {0};
        CHECK_OK(run_one(&cfg, "x", &s, &err), err);
        REQUIRE(s.n == 1);
        CHECK(s.r[0].ok);
        if (s.r[0].ok) CHECK_STR(s.r[0].content, want[i]);
        else printf("    %s\n", s.r[0].error);
        sink_free(&s);
    }
    us_chat_server_stop(srv);
}

/* A URL that already names the endpoint, or ends with '/', reaches the same path. */
TEST(llm_url_forms) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    char full[128], slash[128];
    snprintf(full, sizeof full, "%s/chat/completions", us_chat_server_url(srv));
    snprintf(slash, sizeof slash, "%s/", us_chat_server_url(srv));
    const char *urls[2] = {full, slash};
    for (int i = 0; i < 2; i++) {
        us_llm_config cfg = test_config(srv);
        cfg.url = urls[i];
        sink s = {0};
        CHECK_OK(run_one(&cfg, "x", &s, &err), err);
        CHECK(s.n == 1 && s.r[0].ok);
        us_chat_request r;
        REQUIRE(us_chat_server_get(srv, i, &r));
        CHECK_STR(r.path, "/v1/chat/completions");
        sink_free(&s);
    }
    us_chat_server_stop(srv);
}

static void check_extract(us_test_ctx *t_, const char *text, const char *want) {
    size_t n = 99;
    const char *p = us_llm_extract_json(text, &n);
    if (!want) {
        if (p) us_test_fail(t_, __FILE__, __LINE__, "expected no object in [%s]", text);
        CHECK_EQ_INT(n, 0);
        return;
    }
    if (!p || n != strlen(want) || memcmp(p, want, n) != 0)
        us_test_fail(t_, __FILE__, __LINE__, "in [%s]: got [%.*s], want [%s]", text,
                     p ? (int)n : 6, p ? p : "(null)", want);
}

TEST(llm_extract_json) {
    check_extract(t_, "{\"a\":1}", "{\"a\":1}");
    check_extract(t_, "Sure! Here it is:\n```json\n{\"likes\": [\"plot\"]}\n```\nEnjoy.",
                  "{\"likes\": [\"plot\"]}");
    check_extract(t_, "```\n{\"x\": {\"y\": {\"z\": []}}}\n```", "{\"x\": {\"y\": {\"z\": []}}}");
    check_extract(t_, "prose {not json} then {\"k\": \"v\"} after", "{\"k\": \"v\"}");
    check_extract(t_, "{\"s\": \"a } brace and a { brace and \\\" quote\"} tail",
                  "{\"s\": \"a } brace and a { brace and \\\" quote\"}");
    check_extract(t_, "unclosed { \"a\": 1 and then {\"b\": 2}", "{\"b\": 2}");
    /* The fenced object wins over an object in the prose before it. */
    check_extract(t_, "e.g. {\"example\": 0}\n```json\n{\"real\": 1}\n```", "{\"real\": 1}");
    /* A fence without an object falls back to the whole text. */
    check_extract(t_, "```\nno object\n```\n{\"after\": true}", "{\"after\": true}");
    check_extract(t_, "[1, 2, 3]", NULL);
    check_extract(t_, "no json at all", NULL);
    check_extract(t_, "{\"truncated\": [1, 2", NULL);
    check_extract(t_, "", NULL);
    size_t n = 5;
    CHECK(us_llm_extract_json(NULL, &n) == NULL);
    CHECK_EQ_INT(n, 0);
}

/* Random bytes as response bodies (NULs included) and as text to extract from: failed results
 * or NULL, never a crash (the sanitizer build checks the memory side). */
TEST(llm_garbage_bytes) {
    us_rng rng;
    us_rng_seed(&rng, 2024, 11);
    const char alphabet[] = "{}[]\":,\\ \nabc01-tfn`";
    char buf[513];
    for (int it = 0; it < 2000; it++) {
        size_t len = us_rng_bounded(&rng, 512);
        for (size_t i = 0; i < len; i++)
            buf[i] = (it & 1) ? alphabet[us_rng_bounded(&rng, sizeof alphabet - 1)]
                              : (char)(1 + us_rng_bounded(&rng, 255));
        buf[len] = '\0';
        size_t n;
        const char *p = us_llm_extract_json(buf, &n);
        if (p) CHECK(p >= buf && p + n <= buf + len && *p == '{' && p[n - 1] == '}');
    }

    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_llm_config cfg = test_config(srv);
    cfg.max_format_retries = 0;
    cfg.concurrency = 4;
    enum { N = 64 };
    static char bodies[N][300];
    for (int i = 0; i < N; i++) {
        long len = 1 + (long)us_rng_bounded(&rng, 299);
        for (long k = 0; k < len; k++)
            bodies[i][k] = (i & 1) ? alphabet[us_rng_bounded(&rng, sizeof alphabet - 1)]
                                   : (char)us_rng_bounded(&rng, 256);
        /* Half the odd ones start like a completion, to get past the first checks. */
        if (i % 4 == 1) memcpy(bodies[i], "{\"choices\":[{\"message\":", 23 < len ? 23 : len);
        us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_RAW, .body = bodies[i],
                                                  .body_len = len});
    }
    us_llm_message m[1] = {{"user", "x"}};
    us_llm_request reqs[N];
    for (int i = 0; i < N; i++) reqs[i] = (us_llm_request){.tag = (uint64_t)i, .messages = m,
                                                           .n_messages = 1};
    us_llm *llm;
    CHECK_OK(us_llm_open(&llm, &cfg, &err), err);
    REQUIRE(llm);
    sink s = {0};
    CHECK_OK(us_llm_run(llm, reqs, N, collect, &s, &err), err);
    CHECK_EQ_INT(s.n, N);
    for (size_t k = 0; k < s.n; k++) {
        CHECK(!s.r[k].ok);
        CHECK_EQ_INT(s.r[k].attempts, 1);
        CHECK(s.r[k].error[0] != '\0');
    }
    sink_free(&s);
    us_llm_close(llm);
    us_chat_server_stop(srv);
}

/* Against a real OpenAI-compatible server with a real model: only when USERSIM_LLM_LIVE=1
 * (`make test-llm` starts a local one and sets it), with the server and model from
 * USERSIM_LLM_URL, USERSIM_LLM_MODEL and OPENAI_API_KEY. Checks one JSON-mode completion end to
 * end, then four at once. */
TEST(llm_live_server) {
    const char *live = getenv("USERSIM_LLM_LIVE");
    if (!live || strcmp(live, "1") != 0)
        SKIP("set USERSIM_LLM_LIVE=1 and USERSIM_LLM_URL (make test-llm does both)");
    us_llm_config cfg = us_llm_config_default();
    us_llm_config_from_env(&cfg);
    cfg.json_mode = 1;
    cfg.max_tokens = 64;
    cfg.timeout_s = 120;
    cfg.max_retries = 2;
    us_err err;
    us_llm *llm;
    CHECK_OK(us_llm_open(&llm, &cfg, &err), err);
    REQUIRE(llm);
    us_llm_message m[2] = {
        {"system", "You answer with one JSON object and nothing else."},
        {"user", "Give a JSON object with the key \"color\" whose value is the color of the "
                 "sky on a clear day."}};
    us_llm_request reqs[4];
    for (int i = 0; i < 4; i++)
        reqs[i] = (us_llm_request){.tag = (uint64_t)(100 + i), .messages = m, .n_messages = 2};
    sink s = {0};
    double t0 = us_now();
    CHECK_OK(us_llm_run(llm, reqs, 1, collect, &s, &err), err);
    double t1 = us_now();
    REQUIRE(s.n == 1);
    if (!s.r[0].ok) printf("    error: %s\n", s.r[0].error);
    REQUIRE(s.r[0].ok);
    printf("    %s answered in %.2f s: %s (prompt %d, completion %d tokens, finish %s)\n",
           cfg.model, t1 - t0, s.r[0].content, s.r[0].prompt_tokens, s.r[0].completion_tokens,
           s.r[0].finish_reason ? s.r[0].finish_reason : "?");
    CHECK_EQ_U64(s.r[0].tag, 100);
    CHECK(s.r[0].content[0] != '\0');
    CHECK(s.r[0].prompt_tokens > 0);
    CHECK(s.r[0].completion_tokens > 0);
    size_t n;
    const char *js = us_llm_extract_json(s.r[0].content, &n);
    /* JSON mode makes the server constrain the answer to a JSON object. */
    CHECK(js != NULL && n > 1);
    sink_free(&s);

    CHECK_OK(us_llm_run(llm, reqs, 4, collect, &s, &err), err);
    CHECK_EQ_INT(s.n, 4);
    uint64_t tags = 0;
    for (size_t k = 0; k < s.n; k++) {
        if (!s.r[k].ok) printf("    error: %s\n", s.r[k].error);
        CHECK(s.r[k].ok);
        tags += s.r[k].tag;
    }
    CHECK_EQ_U64(tags, 100 + 101 + 102 + 103);
    sink_free(&s);
    us_llm_close(llm);
}

/* The server's handler decides from the request: here, a request whose message says "flaky"
 * fails once with a 500, and every answer names the message it answers. */
typedef struct flaky {
    int failed_once;
    char answer[64];
} flaky;

static void flaky_handler(void *ctx, const us_chat_request *req, us_chat_reply *reply) {
    flaky *f = ctx;
    const char *last = req->n_messages ? req->contents[req->n_messages - 1] : "";
    if (strstr(last, "flaky") && !f->failed_once) {
        f->failed_once = 1;
        *reply = (us_chat_reply){.kind = US_CHAT_STATUS, .status = 500};
        return;
    }
    snprintf(f->answer, sizeof f->answer, "{\"echo\": \"%s\"}", last);
    reply->content = f->answer;
}

TEST(llm_server_handler_decides) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    flaky f = {0};
    us_chat_server_set_handler(srv, flaky_handler, &f);
    us_llm_config cfg = test_config(srv);
    us_llm *llm;
    CHECK_OK(us_llm_open(&llm, &cfg, &err), err);
    REQUIRE(llm);
    us_llm_message a[1] = {{"user", "steady"}}, b[1] = {{"user", "flaky"}};
    us_llm_request reqs[2] = {{.tag = 1, .messages = a, .n_messages = 1},
                              {.tag = 2, .messages = b, .n_messages = 1}};
    sink s = {0};
    CHECK_OK(us_llm_run(llm, reqs, 2, collect, &s, &err), err);
    REQUIRE(s.n == 2);
    for (size_t k = 0; k < 2; k++) {
        CHECK(s.r[k].ok);
        CHECK_EQ_INT(s.r[k].attempts, s.r[k].tag == 2 ? 2 : 1);
        CHECK_STR(s.r[k].content,
                  s.r[k].tag == 2 ? "{\"echo\": \"flaky\"}" : "{\"echo\": \"steady\"}");
    }
    CHECK(f.failed_once);
    CHECK_EQ_INT(us_chat_server_requests(srv), 3);
    sink_free(&s);
    us_llm_close(llm);
    us_chat_server_stop(srv);
}

/* A request waiting for its retry keeps its slot: with one slot, the retry of the first request
 * reaches the server before the second request does. */
TEST(llm_retry_keeps_its_slot) {
    us_chat_server *srv;
    us_err err;
    REQUIRE(us_chat_server_start(&srv, &err) == US_OK);
    us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 503});
    us_llm_config cfg = test_config(srv);
    cfg.concurrency = 1;
    cfg.backoff_base_s = cfg.backoff_max_s = 0.05;
    us_llm *llm;
    CHECK_OK(us_llm_open(&llm, &cfg, &err), err);
    REQUIRE(llm);
    us_llm_message a[1] = {{"user", "first"}}, b[1] = {{"user", "second"}};
    us_llm_request reqs[2] = {{.tag = 1, .messages = a, .n_messages = 1},
                              {.tag = 2, .messages = b, .n_messages = 1}};
    sink s = {0};
    CHECK_OK(us_llm_run(llm, reqs, 2, collect, &s, &err), err);
    REQUIRE(s.n == 2);
    CHECK(s.r[0].ok && s.r[1].ok);
    CHECK_EQ_U64(s.r[0].tag, 1); /* completion order */
    const char *want[3] = {"first", "first", "second"};
    for (int i = 0; i < 3; i++) {
        us_chat_request r;
        REQUIRE(us_chat_server_get(srv, i, &r));
        REQUIRE(r.n_messages == 1);
        CHECK_STR(r.contents[0], want[i]);
    }
    sink_free(&s);
    us_llm_close(llm);
    us_chat_server_stop(srv);
}
