/* chat_server.c — the test chat-completions server (contract in chat_server.h). One thread
 * polls the listening socket, a wake-up pipe and every connection. A connection reads until
 * it holds a complete request (headers + Content-Length body), then waits out the reply's
 * delay (still watching for the client hanging up), then writes, then reads the next request
 * on the same connection unless the reply closes it.
 *
 * It deliberately does not: parse chunked bodies, pipeline replies to several requests that
 * arrive together (it answers them one after another), or bound memory beyond 1 MiB a request.
 */
#include "tests/simulator/keywords/chat_server.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 512
#define MAX_REQUEST (1 << 20)

enum { C_READ, C_WAIT, C_WRITE };

typedef struct conn {
    int fd, id, state;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off;
    double deadline;  /* C_WAIT: when to write (or close) */
    int close_after;  /* close once `out` is written */
    int close_only;   /* C_WAIT: close at the deadline without writing */
    int in_flight;    /* a request of this connection is counted in flight */
} conn;

/* A stored request record: the public view plus what it owns. */
typedef struct record {
    us_chat_request pub;
    char *strings[6]; /* path, authorization, body, model, response_format, and one spare */
    char **roles, **contents;
} record;

struct us_chat_server {
    int listen_fd, wake[2], port;
    char url[64];
    pthread_t thread;
    pthread_mutex_t mu;
    int stop;
    /* under mu */
    us_chat_reply *queue;
    size_t q_head, q_len, q_cap;
    us_chat_reply dflt;
    us_chat_handler handler;
    void *handler_ctx;
    record *log;
    size_t log_len, log_cap;
    int n_requests, in_flight, max_in_flight, n_conns;
    /* thread-only */
    conn *conns[MAX_CONNS];
    int n_open;
    int next_conn_id;
};

/* ------------------------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------------------- */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    US_ASSERT(p);
    return p;
}

static char *xstrndup(const char *s, size_t n) {
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *xstrdup(const char *s) { return s ? xstrndup(s, strlen(s)) : NULL; }

/* A deep copy of a reply: its strings are freshly allocated. */
static us_chat_reply reply_copy(const us_chat_reply *r) {
    us_chat_reply c = *r;
    c.content = xstrdup(r->content);
    c.retry_after = xstrdup(r->retry_after);
    if (r->body) {
        size_t n = r->body_len > 0 ? (size_t)r->body_len : strlen(r->body);
        c.body = xstrndup(r->body, n);
        c.body_len = (long)n;
    } else {
        c.body_len = 0;
    }
    return c;
}

static void reply_free(us_chat_reply *r) {
    free((char *)r->content);
    free((char *)r->retry_after);
    free((char *)r->body);
}

static void record_free(record *r) {
    for (int i = 0; i < 6; i++) free(r->strings[i]);
    for (int i = 0; i < r->pub.n_messages; i++) {
        free(r->roles[i]);
        free(r->contents[i]);
    }
    free(r->roles);
    free(r->contents);
}

/* ------------------------------------------------------------------------------------------
 * Public API (caller's thread)
 * ---------------------------------------------------------------------------------------- */

void us_chat_server_push(us_chat_server *srv, const us_chat_reply *r) {
    pthread_mutex_lock(&srv->mu);
    if (srv->q_head > 0 && srv->q_head == srv->q_len) srv->q_head = srv->q_len = 0;
    if (srv->q_len == srv->q_cap) {
        srv->q_cap = srv->q_cap ? 2 * srv->q_cap : 16;
        srv->queue = realloc(srv->queue, srv->q_cap * sizeof *srv->queue);
        US_ASSERT(srv->queue);
    }
    srv->queue[srv->q_len++] = reply_copy(r);
    pthread_mutex_unlock(&srv->mu);
}

void us_chat_server_set_default(us_chat_server *srv, const us_chat_reply *r) {
    us_chat_reply c = reply_copy(r);
    pthread_mutex_lock(&srv->mu);
    reply_free(&srv->dflt);
    srv->dflt = c;
    pthread_mutex_unlock(&srv->mu);
}

void us_chat_server_set_handler(us_chat_server *srv, us_chat_handler fn, void *ctx) {
    pthread_mutex_lock(&srv->mu);
    srv->handler = fn;
    srv->handler_ctx = ctx;
    pthread_mutex_unlock(&srv->mu);
}

const char *us_chat_server_url(const us_chat_server *srv) { return srv->url; }
int us_chat_server_port(const us_chat_server *srv) { return srv->port; }

static int locked_int(us_chat_server *srv, const int *field) {
    pthread_mutex_lock(&srv->mu);
    int v = *field;
    pthread_mutex_unlock(&srv->mu);
    return v;
}

int us_chat_server_requests(us_chat_server *srv) { return locked_int(srv, &srv->n_requests); }
int us_chat_server_max_in_flight(us_chat_server *srv) {
    return locked_int(srv, &srv->max_in_flight);
}
int us_chat_server_connections(us_chat_server *srv) { return locked_int(srv, &srv->n_conns); }

void us_chat_server_reset_stats(us_chat_server *srv) {
    pthread_mutex_lock(&srv->mu);
    for (size_t i = 0; i < srv->log_len; i++) record_free(&srv->log[i]);
    srv->log_len = 0;
    srv->n_requests = 0;
    srv->n_conns = 0;
    srv->max_in_flight = srv->in_flight;
    pthread_mutex_unlock(&srv->mu);
}

int us_chat_server_get(us_chat_server *srv, int i, us_chat_request *out) {
    pthread_mutex_lock(&srv->mu);
    int ok = i >= 0 && (size_t)i < srv->log_len;
    if (ok) *out = srv->log[i].pub;
    pthread_mutex_unlock(&srv->mu);
    return ok;
}

/* ------------------------------------------------------------------------------------------
 * Connections (server thread)
 * ---------------------------------------------------------------------------------------- */

static void set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void conn_close(us_chat_server *srv, int k) {
    conn *c = srv->conns[k];
    if (c->in_flight) {
        pthread_mutex_lock(&srv->mu);
        srv->in_flight--;
        pthread_mutex_unlock(&srv->mu);
    }
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
    srv->conns[k] = srv->conns[--srv->n_open];
}

static void out_append(conn *c, const char *s, size_t n) {
    c->out = realloc(c->out, c->out_len + n + 1);
    US_ASSERT(c->out);
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static const char *reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* Queues a response: headers (with content_length as the declared length, which a truncated
 * reply makes larger than the bytes sent) and body[0..send_len). */
static void respond(conn *c, int status, const char *retry_after, const char *body,
                    size_t send_len, size_t content_length, int close_after) {
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s%s%s%s\r\n",
                     status, reason(status), content_length, retry_after ? "Retry-After: " : "",
                     retry_after ? retry_after : "", retry_after ? "\r\n" : "",
                     close_after ? "Connection: close\r\n" : "");
    out_append(c, head, (size_t)n);
    if (send_len) out_append(c, body, send_len);
    c->close_after = c->close_after || close_after;
}

static char *answer_body(const us_chat_request *rq, const char *content) {
    size_t prompt = 0;
    for (int i = 0; i < rq->n_messages; i++) prompt += strlen(rq->contents[i]);
    if (!content) content = rq->n_messages > 0 ? rq->contents[rq->n_messages - 1] : "";
    char id[32];
    snprintf(id, sizeof id, "chatcmpl-%d", rq->index);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "object", "chat.completion");
    cJSON_AddNumberToObject(root, "created", (double)time(NULL));
    cJSON_AddStringToObject(root, "model", rq->model ? rq->model : "test-model");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *c0 = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c0);
    cJSON_AddNumberToObject(c0, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(c0, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "content", content);
    cJSON_AddStringToObject(c0, "finish_reason", "stop");
    cJSON *usage = cJSON_AddObjectToObject(root, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(usage, "completion_tokens", (double)strlen(content));
    cJSON_AddNumberToObject(usage, "total_tokens", (double)(prompt + strlen(content)));
    char *s = cJSON_PrintUnformatted(root);
    US_ASSERT(s);
    cJSON_Delete(root);
    return s;
}

static const char *json_str(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Fills a record from the request's path, Authorization and body. Returns 1 when the body
 * parsed as a JSON object. */
static int record_fill(record *r, const char *path, size_t path_len, const char *auth,
                       size_t auth_len, const char *body, size_t body_len) {
    memset(r, 0, sizeof *r);
    r->pub.temperature = -1;
    r->pub.max_tokens = -1;
    r->pub.path = r->strings[0] = xstrndup(path, path_len);
    if (auth) r->pub.authorization = r->strings[1] = xstrndup(auth, auth_len);
    r->pub.body = r->strings[2] = xstrndup(body, body_len);
    cJSON *root = cJSON_ParseWithLength(body, body_len);
    int ok = cJSON_IsObject(root);
    if (ok) {
        r->pub.model = r->strings[3] = xstrdup(json_str(root, "model"));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "temperature");
        if (cJSON_IsNumber(t)) r->pub.temperature = t->valuedouble;
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
        if (cJSON_IsNumber(mt)) r->pub.max_tokens = mt->valueint;
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(root, "response_format");
        if (cJSON_IsObject(rf))
            r->pub.response_format = r->strings[4] = xstrdup(json_str(rf, "type"));
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        int n = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : 0;
        r->roles = xmalloc((size_t)n * sizeof *r->roles);
        r->contents = xmalloc((size_t)n * sizeof *r->contents);
        for (int i = 0; i < n; i++) {
            const cJSON *m = cJSON_GetArrayItem(msgs, i);
            const char *role = json_str(m, "role"), *content = json_str(m, "content");
            r->roles[i] = xstrdup(role ? role : "");
            r->contents[i] = xstrdup(content ? content : "");
        }
        r->pub.n_messages = n;
    }
    r->pub.roles = (const char *const *)r->roles;
    r->pub.contents = (const char *const *)r->contents;
    cJSON_Delete(root);
    return ok;
}

/* Case-insensitive search for header `name` in the header block [h, end); returns its value
 * (spaces trimmed) and length, or NULL. */
static const char *find_header(const char *h, const char *end, const char *name, size_t *len) {
    size_t nl = strlen(name);
    const char *line = h;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) eol = end;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* Handles one complete request of c: records it, chooses the reply, queues the response.
 * Returns 0 when the connection is to be closed right away. */
static int handle_request(us_chat_server *srv, conn *c, const char *head, size_t head_len,
                          const char *body, size_t body_len) {
    const char *hend = head + head_len;
    const char *sp1 = memchr(head, ' ', head_len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(hend - sp1 - 1)) : NULL;
    const char *path = sp1 ? sp1 + 1 : "";
    size_t path_len = sp2 ? (size_t)(sp2 - path) : 0;
    int is_post = head_len >= 5 && memcmp(head, "POST ", 5) == 0;
    size_t auth_len = 0, conn_len = 0;
    const char *auth = find_header(head, hend, "Authorization", &auth_len);
    const char *connection = find_header(head, hend, "Connection", &conn_len);
    int client_close = connection && conn_len == 5 && strncasecmp(connection, "close", 5) == 0;

    record rec;
    int json_ok = record_fill(&rec, path, path_len, auth, auth_len, body, body_len);
    rec.pub.conn = c->id;
    rec.pub.t_arrive = us_now();
    const char *suffix = "/chat/completions";
    size_t sl = strlen(suffix);
    int chat = is_post && path_len >= sl && memcmp(path + path_len - sl, suffix, sl) == 0;

    us_chat_reply reply = {0};
    us_chat_handler fn = NULL;
    void *fn_ctx = NULL;
    pthread_mutex_lock(&srv->mu);
    rec.pub.index = srv->n_requests++;
    if (++srv->in_flight > srv->max_in_flight) srv->max_in_flight = srv->in_flight;
    c->in_flight = 1;
    if (chat && json_ok) {
        if (srv->q_head < srv->q_len) {
            reply = srv->queue[srv->q_head++]; /* ownership moves to `reply` */
        } else {
            reply = reply_copy(&srv->dflt);
        }
        fn = srv->handler;
        fn_ctx = srv->handler_ctx;
    }
    if (srv->log_len == srv->log_cap) {
        srv->log_cap = srv->log_cap ? 2 * srv->log_cap : 64;
        srv->log = realloc(srv->log, srv->log_cap * sizeof *srv->log);
        US_ASSERT(srv->log);
    }
    srv->log[srv->log_len++] = rec;
    pthread_mutex_unlock(&srv->mu);
    /* rec's strings now belong to the log; rec.pub stays valid here (the log is freed only by
     * reset/stop, which the handler must not race with). */

    if (!chat || !json_ok) {
        const char *msg = !chat ? "{\"error\":{\"message\":\"not found\"}}"
                                : "{\"error\":{\"message\":\"body is not a JSON object\"}}";
        respond(c, chat ? 400 : 404, NULL, msg, strlen(msg), strlen(msg), client_close);
        c->state = C_WRITE;
        return 1;
    }
    if (fn) {
        us_chat_reply mine = reply;
        fn(fn_ctx, &rec.pub, &reply);
        /* The handler may have swapped strings in: copy what it left, free what we owned. */
        us_chat_reply kept = reply_copy(&reply);
        reply_free(&mine);
        reply = kept;
    }
    c->close_only = 0;
    switch (reply.kind) {
    case US_CHAT_ANSWER:
    case US_CHAT_TRUNCATED: {
        char *b = answer_body(&rec.pub, reply.content);
        size_t n = strlen(b);
        if (reply.kind == US_CHAT_ANSWER && reply.no_usage) {
            cJSON *root = cJSON_Parse(b);
            cJSON_DeleteItemFromObject(root, "usage");
            free(b);
            b = cJSON_PrintUnformatted(root);
            cJSON_Delete(root);
            n = strlen(b);
        }
        if (reply.kind == US_CHAT_ANSWER)
            respond(c, 200, NULL, b, n, n, client_close);
        else
            respond(c, 200, NULL, b, n / 2, n, 1);
        free(b);
        break;
    }
    case US_CHAT_STATUS: {
        int st = reply.status ? reply.status : 500;
        const char *b = reply.body ? reply.body : "{\"error\":{\"message\":\"scripted error\"}}";
        size_t n = reply.body ? (size_t)reply.body_len : strlen(b);
        respond(c, st, reply.retry_after, b, n, n, client_close);
        break;
    }
    case US_CHAT_RAW:
        respond(c, 200, NULL, reply.body ? reply.body : "", (size_t)reply.body_len,
                (size_t)reply.body_len, client_close);
        break;
    case US_CHAT_CLOSE:
        c->close_only = 1;
        break;
    }
    double delay = isfinite(reply.delay_s) && reply.delay_s > 0 ? reply.delay_s : 0;
    reply_free(&reply);
    if (c->close_only && delay == 0) return 0;
    c->deadline = us_now() + delay;
    c->state = delay > 0 ? C_WAIT : C_WRITE;
    return 1;
}

/* Looks for a complete request in c->in; handles it and consumes its bytes. Returns 0 when the
 * connection is to be closed. */
static int try_parse(us_chat_server *srv, conn *c) {
    if (c->state != C_READ || c->in_len == 0) return 1;
    char *hdr_end = NULL;
    for (size_t i = 0; i + 3 < c->in_len; i++)
        if (memcmp(c->in + i, "\r\n\r\n", 4) == 0) {
            hdr_end = c->in + i;
            break;
        }
    if (!hdr_end) return c->in_len < 65536; /* headers too long: close */
    size_t head_len = (size_t)(hdr_end - c->in);
    size_t cl_len = 0, te_len = 0;
    const char *cl = find_header(c->in, hdr_end, "Content-Length", &cl_len);
    const char *te = find_header(c->in, hdr_end, "Transfer-Encoding", &te_len);
    if (te) {
        const char *m = "{\"error\":{\"message\":\"chunked bodies are not supported\"}}";
        respond(c, 501, NULL, m, strlen(m), strlen(m), 1);
        c->state = C_WRITE;
        c->in_len = 0;
        return 1;
    }
    size_t body_len = 0;
    if (cl) {
        char tmp[24];
        size_t k = cl_len < sizeof tmp - 1 ? cl_len : sizeof tmp - 1;
        memcpy(tmp, cl, k);
        tmp[k] = '\0';
        body_len = (size_t)strtoull(tmp, NULL, 10);
        if (body_len > MAX_REQUEST) return 0;
    }
    size_t total = head_len + 4 + body_len;
    if (c->in_len < total) return 1; /* wait for the rest of the body */
    int keep = handle_request(srv, c, c->in, head_len, c->in + head_len + 4, body_len);
    memmove(c->in, c->in + total, c->in_len - total);
    c->in_len -= total;
    return keep;
}

/* Writes what it can; after the last byte, the request stops being in flight and the
 * connection closes or reads the next request. Returns 0 to close. */
static int try_write(us_chat_server *srv, conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
            return 0;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    if (c->in_flight) {
        pthread_mutex_lock(&srv->mu);
        srv->in_flight--;
        pthread_mutex_unlock(&srv->mu);
        c->in_flight = 0;
    }
    if (c->close_after) return 0;
    c->state = C_READ;
    return try_parse(srv, c);
}

/* Reads what is there. Returns 0 when the peer closed or the connection failed. */
static int try_read(conn *c) {
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? 2 * c->in_cap : 8192;
            if (cap > MAX_REQUEST + 65536) return 0;
            c->in = realloc(c->in, cap);
            US_ASSERT(c->in);
            c->in_cap = cap;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r > 0) {
            c->in_len += (size_t)r;
            continue;
        }
        if (r == 0) return 0;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
}

static void accept_all(us_chat_server *srv) {
    for (;;) {
        int fd = accept(srv->listen_fd, NULL, NULL);
        if (fd < 0) return;
        if (srv->n_open == MAX_CONNS) {
            close(fd);
            continue;
        }
        set_nonblock(fd);
        conn *c = calloc(1, sizeof *c);
        US_ASSERT(c);
        c->fd = fd;
        c->id = srv->next_conn_id++;
        c->state = C_READ;
        srv->conns[srv->n_open++] = c;
        pthread_mutex_lock(&srv->mu);
        srv->n_conns++;
        pthread_mutex_unlock(&srv->mu);
    }
}

static void *serve(void *arg) {
    us_chat_server *srv = arg;
    struct pollfd pfd[MAX_CONNS + 2];
    for (;;) {
        double now = us_now(), next = now + 1.0;
        pfd[0] = (struct pollfd){.fd = srv->wake[0], .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = srv->listen_fd, .events = POLLIN};
        int n_open = srv->n_open;
        for (int k = 0; k < n_open; k++) {
            conn *c = srv->conns[k];
            short ev = c->state == C_WRITE ? POLLOUT : POLLIN;
            pfd[2 + k] = (struct pollfd){.fd = c->fd, .events = ev};
            if (c->state == C_WAIT && c->deadline < next) next = c->deadline;
        }
        int timeout = (int)ceil((next - now) * 1000.0);
        if (timeout < 0) timeout = 0;
        int r = poll(pfd, (nfds_t)(2 + n_open), timeout);
        if (r < 0 && errno != EINTR) break;
        if (pfd[0].revents) break;
        /* Connections are visited from the last, so closing one (which moves the last into
         * its place) never skips another; new ones are accepted after. */
        for (int k = n_open - 1; k >= 0; k--) {
            conn *c = srv->conns[k];
            short re = r > 0 ? pfd[2 + k].revents : 0;
            int keep = 1;
            if (re & (POLLIN | POLLHUP | POLLERR)) {
                if (c->state != C_WRITE) {
                    keep = try_read(c);
                    if (keep) keep = try_parse(srv, c);
                } else if (re & (POLLHUP | POLLERR)) {
                    keep = 0;
                }
            }
            if (keep && c->state == C_WRITE) keep = try_write(srv, c); /* EAGAIN: later */
            if (keep && c->state == C_WAIT && us_now() >= c->deadline) {
                if (c->close_only) {
                    keep = 0;
                } else {
                    c->state = C_WRITE;
                    keep = try_write(srv, c);
                }
            }
            if (!keep) conn_close(srv, k);
        }
        if (r > 0 && (pfd[1].revents & POLLIN)) accept_all(srv);
    }
    while (srv->n_open > 0) conn_close(srv, srv->n_open - 1);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Start and stop
 * ---------------------------------------------------------------------------------------- */

us_status us_chat_server_start(us_chat_server **out, us_err *err) {
    *out = NULL;
    us_chat_server *srv = calloc(1, sizeof *srv);
    if (!srv) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    srv->wake[0] = srv->wake[1] = -1;
    pthread_mutex_init(&srv->mu, NULL);
    srv->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t alen = sizeof a;
    int one = 1;
    if (srv->listen_fd < 0 ||
        setsockopt(srv->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(srv->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(srv->listen_fd, 128) != 0 ||
        getsockname(srv->listen_fd, (struct sockaddr *)&a, &alen) != 0 || pipe(srv->wake) != 0) {
        us_status st = us_err_set(err, US_EIO, NULL, 0, "socket",
                                  "could not listen on 127.0.0.1: %s",
                                  strerror(errno));
        if (srv->listen_fd >= 0) close(srv->listen_fd);
        if (srv->wake[0] >= 0) close(srv->wake[0]);
        if (srv->wake[1] >= 0) close(srv->wake[1]);
        pthread_mutex_destroy(&srv->mu);
        free(srv);
        return st;
    }
    set_nonblock(srv->listen_fd);
    srv->port = ntohs(a.sin_port);
    snprintf(srv->url, sizeof srv->url, "http://127.0.0.1:%d/v1", srv->port);
    if (pthread_create(&srv->thread, NULL, serve, srv) != 0) {
        close(srv->listen_fd);
        close(srv->wake[0]);
        close(srv->wake[1]);
        pthread_mutex_destroy(&srv->mu);
        free(srv);
        return us_err_set(err, US_EIO, NULL, 0, "thread", "could not start the server thread");
    }
    *out = srv;
    return US_OK;
}

void us_chat_server_stop(us_chat_server *srv) {
    if (!srv) return;
    char b = 1;
    while (write(srv->wake[1], &b, 1) < 0 && errno == EINTR) {
    }
    pthread_join(srv->thread, NULL);
    close(srv->listen_fd);
    close(srv->wake[0]);
    close(srv->wake[1]);
    for (size_t i = srv->q_head; i < srv->q_len; i++) reply_free(&srv->queue[i]);
    free(srv->queue);
    reply_free(&srv->dflt);
    for (size_t i = 0; i < srv->log_len; i++) record_free(&srv->log[i]);
    free(srv->log);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}
