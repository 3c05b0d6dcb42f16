/* pool.c — us_pool: a fixed set of threads that run one function together, for the
 * data-parallel loops (the vector env's envs, SASRec's training shards). The caller's thread
 * is worker 0; workers 1..n-1 sleep on a condition between runs, so a run costs two
 * broadcasts, not thread creation. Each run is a generation: a worker runs once per
 * generation it sees, then counts itself out.
 *
 * It deliberately does not queue work, steal tasks or balance load: the callers cut their
 * work into n fixed slices, which is what makes their results independent of timing. */
#include <pthread.h>
#include <stdlib.h>

#include "core/core.h"

struct us_pool {
    us_pool_fn fn;
    void *ctx;
    int n;       /* workers, the caller included */
    int started; /* threads running (workers 1..started), for us_pool_free */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t go, finished;
    uint64_t generation;
    int pending, quit;
};

typedef struct pool_arg {
    us_pool *p;
    int r;
} pool_arg;

static void *pool_thread(void *a_) {
    pool_arg *a = a_;
    us_pool *p = a->p;
    const int r = a->r;
    free(a);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, r);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->finished);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

us_status us_pool_init(us_pool **out, int n_threads, us_pool_fn fn, void *ctx, us_err *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024 || !fn)
        return us_err_set(err, US_EINVAL, NULL, 0, "n_threads", "expected 1..1024, found %d",
                          n_threads);
    us_pool *p = calloc(1, sizeof *p);
    if (!p) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (thread pool)");
    p->fn = fn;
    p->ctx = ctx;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->finished, NULL);
    if (n_threads > 1 && !(p->threads = calloc((size_t)n_threads, sizeof *p->threads))) {
        us_pool_free(p);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory (thread pool)");
    }
    for (int r = 1; r < n_threads; r++) {
        pool_arg *a = malloc(sizeof *a);
        if (a) *a = (pool_arg){.p = p, .r = r};
        if (!a || pthread_create(&p->threads[r], NULL, pool_thread, a) != 0) {
            free(a);
            us_pool_free(p);
            return us_err_set(err, US_ENOMEM, NULL, 0, "n_threads",
                              "could not start thread %d of %d", r, n_threads);
        }
        p->started = r;
    }
    *out = p;
    return US_OK;
}

void us_pool_run(us_pool *p) {
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        p->pending = p->n - 1;
        p->generation++;
        pthread_cond_broadcast(&p->go);
        pthread_mutex_unlock(&p->mu);
    }
    p->fn(p->ctx, 0);
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        while (p->pending > 0) pthread_cond_wait(&p->finished, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}

int us_pool_threads(const us_pool *p) { return p->n; }

void us_pool_free(us_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int r = 1; r <= p->started; r++) pthread_join(p->threads[r], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->finished);
    free(p->threads);
    free(p);
}
