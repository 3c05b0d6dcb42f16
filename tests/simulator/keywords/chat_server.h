/* chat_server.h — a scriptable OpenAI-compatible chat-completions server for tests: real
 * HTTP/1.1 over loopback (127.0.0.1, an ephemeral port) served by one background thread that
 * polls many connections at once, with keep-alive and Content-Length bodies.
 *
 *   us_chat_server *srv;
 *   us_err err;
 *   if (us_chat_server_start(&srv, &err) != US_OK) ...;
 *   us_chat_server_push(srv, &(us_chat_reply){.kind = US_CHAT_STATUS, .status = 429,
 *                                             .retry_after = "1"});
 *   us_chat_server_push(srv, &(us_chat_reply){.content = "{\"likes\": [\"plot\"]}"});
 *   cfg.url = us_chat_server_url(srv);            // "http://127.0.0.1:PORT/v1"
 *   ... run the client ...
 *   us_chat_request rq;
 *   us_chat_server_get(srv, 1, &rq);              // what the second request carried
 *   int peak = us_chat_server_max_in_flight(srv);
 *   us_chat_server_stop(srv);
 *
 * Each complete request to POST .../chat/completions gets a reply chosen in this order: the
 * next queued reply (us_chat_server_push), else the default reply (us_chat_server_set_default;
 * initially a zeroed us_chat_reply: answer at once, echoing the last message's content); then
 * the handler, when set, sees the request and may change that reply. Another path gets a 404,
 * a body that is not JSON a 400 (both still recorded and counted).
 *
 * An answer (US_CHAT_ANSWER) is {"id","object":"chat.completion","created","model",
 * "choices":[{"index":0,"message":{"role":"assistant","content":...},"finish_reason":"stop"}],
 * "usage":{"prompt_tokens","completion_tokens","total_tokens"}} with prompt_tokens = the bytes
 * of all message contents and completion_tokens = the bytes of the answer's content.
 *
 * It deliberately does not: speak TLS, chunked request bodies (answered 501), or streaming.
 */
#ifndef USERSIM_TESTS_CHAT_SERVER_H
#define USERSIM_TESTS_CHAT_SERVER_H

#include <stddef.h>

#include "core/core.h"

typedef enum us_chat_kind {
    US_CHAT_ANSWER = 0, /* HTTP 200 with a chat.completion carrying `content` */
    US_CHAT_STATUS,     /* HTTP `status` with `body` (NULL: an OpenAI-style error object) */
    US_CHAT_RAW,        /* HTTP 200, application/json, `body` verbatim (bad JSON, wrong shape) */
    US_CHAT_TRUNCATED,  /* an answer's headers, half its body, then the connection closes */
    US_CHAT_CLOSE,      /* the connection closes without an answer */
} us_chat_kind;

/* How to answer one request. A zeroed struct answers at once, echoing the last message. */
typedef struct us_chat_reply {
    us_chat_kind kind;
    double delay_s;          /* wait this long first (other connections are served meanwhile) */
    const char *content;     /* ANSWER, TRUNCATED: the assistant's text; NULL: echo the last
                              * message's content */
    int no_usage;            /* ANSWER: 1 leaves "usage" out */
    int status;              /* STATUS: the HTTP status (0 means 500) */
    const char *body;        /* STATUS, RAW: the body; RAW with NULL sends an empty body */
    long body_len;           /* bytes of body; < 0 or 0 with a body: strlen(body) */
    const char *retry_after; /* STATUS: the Retry-After header's value; NULL: none */
} us_chat_reply;

/* What one request carried, as the server parsed it. Strings are NULL when absent. */
typedef struct us_chat_request {
    int index;                 /* 0, 1, ... in order of arrival */
    int conn;                  /* id of the TCP connection (same id: a reused connection) */
    double t_arrive;           /* us_now() when the request was complete */
    const char *path;
    const char *authorization; /* the Authorization header's value */
    const char *body;          /* the request body as received */
    const char *model;
    double temperature;        /* -1 when absent */
    int max_tokens;            /* -1 when absent */
    const char *response_format; /* response_format.type */
    int n_messages;
    const char *const *roles;  /* n_messages of each */
    const char *const *contents;
} us_chat_request;

typedef struct us_chat_server us_chat_server;

/* Called on the server's thread for each chat request, with the reply the queue or the default
 * chose; it may change *reply. Strings it puts in *reply must live until it returns (they are
 * copied). It must not call us_chat_server_stop. */
typedef void (*us_chat_handler)(void *ctx, const us_chat_request *req, us_chat_reply *reply);

/* Binds 127.0.0.1 on an ephemeral port and starts the serving thread. Caller owns *out; release
 * with us_chat_server_stop(). */
us_status us_chat_server_start(us_chat_server **out, us_err *err);

/* Stops the thread, closes every connection (even those mid-delay) and frees everything. NULL
 * is a no-op. */
void us_chat_server_stop(us_chat_server *srv);

/* "http://127.0.0.1:PORT/v1". Borrowed from srv: valid until us_chat_server_stop(). */
const char *us_chat_server_url(const us_chat_server *srv);
/* The port alone. Borrows srv for the call. */
int us_chat_server_port(const us_chat_server *srv);

/* Appends a reply to the queue, consumed one per request in order of arrival. Copies r and its
 * strings. */
void us_chat_server_push(us_chat_server *srv, const us_chat_reply *r);
/* The reply used when the queue is empty. Copies r and its strings. */
void us_chat_server_set_default(us_chat_server *srv, const us_chat_reply *r);
/* Sets (or with NULL clears) the handler. Borrows ctx, which must outlive its use. */
void us_chat_server_set_handler(us_chat_server *srv, us_chat_handler fn, void *ctx);

/* Counters, read under the server's lock; each borrows srv for the call.
 * Complete requests received so far (any path). */
int us_chat_server_requests(us_chat_server *srv);
/* The most requests that were in flight at once: received completely and not yet answered
 * (or closed). */
int us_chat_server_max_in_flight(us_chat_server *srv);
/* TCP connections accepted so far. */
int us_chat_server_connections(us_chat_server *srv);
/* Clears the counters above and the request log (for a benchmark's second phase). */
void us_chat_server_reset_stats(us_chat_server *srv);
/* Copies the record of request i into *out; 0 when there is no such request. The strings are
 * borrowed from srv: valid until us_chat_server_reset_stats() or us_chat_server_stop(). */
int us_chat_server_get(us_chat_server *srv, int i, us_chat_request *out);

#endif
