/* bench_llm — requests per second of the LLM client against the test chat server over
 * loopback, with 1 and with 16 requests in flight:
 *   - with a fixed server-side delay (BENCH_LLM_DELAY_MS, default 20 ms) standing in for a
 *     model's latency: the ratio 16-in-flight / 1-in-flight shows how well the client overlaps
 *     requests (16 is the ceiling);
 *   - with no delay: the client's and the test server's own overhead per request (the server is
 *     one thread that answers each request as soon as it is read, so it bounds this figure and
 *     sees about one request in flight at a time).
 * Each figure is the best of three runs (the machine is shared). BENCH_LLM_N (default 100) is
 * the number of requests per run at 1 in flight; 16 in flight runs 8 times as many.
 *
 * The bench rule of the Makefile builds one source file against the library, so the test
 * server's source is included here rather than linked. */
#include <stdlib.h>
#include <string.h>

#include "simulator/keywords/llm.h"
#include "tests/simulator/keywords/chat_server.c"

static long env_long(const char *name, long dflt) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static void die(const char *what, const us_err *e) {
    char b[1200];
    fprintf(stderr, "bench_llm: %s: %s\n", what, e ? us_err_str(e, b, sizeof b) : "");
    exit(1);
}

typedef struct tally {
    size_t ok, failed;
} tally;

static void count(void *ctx, const us_llm_result *r) {
    tally *t = ctx;
    if (r->ok)
        t->ok++;
    else
        t->failed++;
}

/* Best requests/s of three runs of n requests with `conc` in flight; *peak receives the most
 * requests the server saw in flight at once. */
static double rate(us_chat_server *srv, int conc, size_t n, const us_llm_request *reqs,
                   int *peak) {
    us_llm_config cfg = us_llm_config_default();
    cfg.url = us_chat_server_url(srv);
    cfg.model = "bench";
    cfg.concurrency = conc;
    us_llm *llm;
    us_err err;
    if (us_llm_open(&llm, &cfg, &err) != US_OK) die("open", &err);
    tally warm = {0};
    if (us_llm_run(llm, reqs, (size_t)conc, count, &warm, &err) != US_OK) die("run", &err);
    double best = 0;
    us_chat_server_reset_stats(srv);
    for (int rep = 0; rep < 3; rep++) {
        tally t = {0};
        double t0 = us_now();
        if (us_llm_run(llm, reqs, n, count, &t, &err) != US_OK) die("run", &err);
        double dt = us_now() - t0;
        if (t.ok != n) {
            fprintf(stderr, "bench_llm: %zu of %zu requests failed\n", t.failed, n);
            exit(1);
        }
        if (n / dt > best) best = n / dt;
    }
    us_llm_close(llm);
    *peak = us_chat_server_max_in_flight(srv);
    return best;
}

int main(void) {
    long n1 = env_long("BENCH_LLM_N", 100);
    long delay_ms = env_long("BENCH_LLM_DELAY_MS", 20);
    if (n1 < 1 || delay_ms < 0) die("BENCH_LLM_N must be >= 1, BENCH_LLM_DELAY_MS >= 0", NULL);
    size_t n16 = (size_t)n1 * 8;
    us_llm_message msg[2] = {
        {"system", "Extract what the reviewer liked and disliked as JSON keywords."},
        {"user", "Great story and characters, but the controls felt sluggish."}};
    us_llm_request *reqs = calloc(n16, sizeof *reqs);
    if (!reqs) die("out of memory", NULL);
    for (size_t i = 0; i < n16; i++)
        reqs[i] = (us_llm_request){.tag = i, .messages = msg, .n_messages = 2};

    us_chat_server *srv;
    us_err err;
    if (us_chat_server_start(&srv, &err) != US_OK) die("server", &err);
    const char *answer = "{\"likes\": [\"story\", \"characters\"], \"dislikes\": [\"controls\"]}";

    us_chat_server_set_default(srv, &(us_chat_reply){.content = answer,
                                                     .delay_s = delay_ms / 1000.0});
    int p1, p16, q1, q16;
    double d1 = rate(srv, 1, (size_t)n1, reqs, &p1);
    double d16 = rate(srv, 16, n16, reqs, &p16);
    us_chat_server_set_default(srv, &(us_chat_reply){.content = answer});
    double z1 = rate(srv, 1, (size_t)n1 * 4, reqs, &q1);
    double z16 = rate(srv, 16, n16, reqs, &q16);
    us_chat_server_stop(srv);
    free(reqs);

    printf("bench_llm: chat completions over loopback against the test server\n");
    printf("  server delay %ld ms, 1 in flight   %8.1f req/s (ceiling %.1f)\n", delay_ms, d1,
           delay_ms ? 1000.0 / delay_ms : 0.0);
    printf("  server delay %ld ms, 16 in flight  %8.1f req/s = %.2f x 1 in flight (ceiling 16)\n",
           delay_ms, d16, d16 / d1);
    printf("  no delay, 1 in flight             %8.1f req/s (%.0f us per request)\n", z1,
           1e6 / z1);
    printf("  no delay, 16 in flight            %8.1f req/s = %.2f x 1 in flight\n", z16,
           z16 / z1);
    printf("  the server saw at most %d, %d, %d and %d requests in flight in these four runs\n",
           p1, p16, q1, q16);
    return 0;
}
