/* bench_env — the step path: steps per second of the environment with the full ensemble on the
 * demo data (synthetic, 2,000 users, 1,000 items), the cost of each component per decision,
 * the vector env's scaling with threads, and the peak memory of a population of 100,000 users.
 *
 * The store is built as `make demo` builds it, then extract (built-in), embed (the BERT model
 * when installed, else the hashed embedder: the same width, so the same step cost) and
 * train-sasrec (the rating head with the simulator preset and the next-item head with the
 * paper's, as `usersim build` trains them; 3 epochs: the weights' values do not change the
 * cost). The default reaction encodes a user's training history with the next-item head once
 * per worker and user: the decision rows draw a new random user each time, so they pay that
 * encoding on every decision, while the vector env pays it once per episode.
 * Speeds are reported as ratios to a reference measured in the same run: the target of
 * 100,000 steps/s per core, and the one-thread vector env for the scaling.
 * Environment: BENCH_BIG_USERS (default 100000; 0 skips the memory run). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datasets/datasets.h"
#include "env/env.h"
#include "simulator/embed/embed.h"
#include "simulator/keywords/keywords.h"
#include "simulator/sasrec/sasrec.h"
#include "simulator/simulator.h"

static void die(const char *what, const us_err *e) {
    char b[1200];
    fprintf(stderr, "bench_env: %s: %s\n", what, e ? us_err_str(e, b, sizeof b) : "");
    exit(1);
}

/* synth -> ingest -> extract -> embed -> a SASRec checkpoint (trained for `epochs`, or only
 * initialized when epochs is 0). */
static void build_store(const char *dir, const char *store, int users, int items, int reviews,
                        int epochs, int hashed) {
    us_err e;
    us_synth_config sc = us_synth_config_default();
    sc.out_dir = dir;
    if (users) sc.users = users, sc.items = items, sc.reviews = reviews;
    sc.quiet = 1;
    us_synth_report sr;
    if (us_synth(&sc, &sr, &e) != US_OK) die("synth", &e);
    us_ingest_config ic = us_ingest_config_default();
    ic.reviews_path = sr.reviews_path;
    ic.meta_path = sr.meta_path;
    ic.out_path = store;
    ic.quiet = 1;
    if (us_ingest(&ic, NULL, &e) != US_OK) die("ingest", &e);
    us_extract_config xc = us_extract_config_default();
    xc.quiet = 1;
    if (us_extract(store, &xc, NULL, &e) != US_OK) die("extract", &e);
    us_embedder *emb;
    if (us_embedder_open(&emb, hashed ? NULL : us_embed_model_dir(), 64, 1, NULL, &e) != US_OK)
        die("embedder", &e);
    printf("  embedder: %s\n", us_embedder_name(emb));
    us_embed_config ec = us_embed_config_default();
    ec.quiet = 1;
    if (us_embed_store(store, emb, &ec, NULL, &e) != US_OK) die("embed", &e);
    us_embedder_close(emb);
    us_sasrec_data *data;
    if (us_sasrec_data_open(store, &data, &e) != US_OK) die("sasrec data", &e);
    us_sasrec_config mc = us_sasrec_config_default();
    us_sasrec_config_fit(&mc, data);
    if (epochs) mc.max_epochs = epochs;
    us_sasrec *m;
    if (us_sasrec_init(&m, &mc, &e) != US_OK) die("sasrec", &e);
    us_sasrec_report rep;
    if (epochs && us_sasrec_train(m, data, &rep, NULL, &e) != US_OK) die("train", &e);
    if (us_sasrec_checkpoint_save(store, m, NULL, "bench", NULL, &e) != US_OK) die("save", &e);
    us_sasrec_free(m);
    /* the next-item head the simulated users choose with: the paper's preset, as build trains */
    if (us_sasrec_config_preset("paper", NULL, &mc, &e) != US_OK) die("preset", &e);
    us_sasrec_config_fit(&mc, data);
    if (epochs) mc.max_epochs = epochs;
    if (us_sasrec_init(&m, &mc, &e) != US_OK) die("sasrec", &e);
    if (epochs && us_sasrec_train(m, data, &rep, NULL, &e) != US_OK) die("train", &e);
    if (us_sasrec_checkpoint_save(store, m, NULL, "bench", NULL, &e) != US_OK) die("save", &e);
    us_sasrec_free(m);
    us_sasrec_data_close(data);
}

/* Decisions per second of sim for random users and items after random episodes of up to 20
 * steps, best of 3 runs of n decisions. */
static double decisions_per_s(const us_sim *sim, int n) {
    us_err e;
    us_sim_worker *w;
    if (us_sim_worker_init(&w, sim, 20, &e) != US_OK) die("worker", &e);
    int32_t ep_items[20];
    int8_t ep_likes[20];
    us_rng rng = us_rng_derive(3, 0);
    for (int k = 0; k < 20; k++) {
        ep_items[k] = (int32_t)us_rng_bounded(&rng, (uint32_t)us_sim_n_items(sim));
        ep_likes[k] = (int8_t)(k & 1);
    }
    double best = 0;
    us_sim_reaction r;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = us_now();
        long likes = 0;
        for (int k = 0; k < n; k++) {
            int32_t u = (int32_t)us_rng_bounded(&rng, (uint32_t)us_sim_n_users(sim));
            int32_t it = (int32_t)us_rng_bounded(&rng, (uint32_t)us_sim_n_items(sim));
            us_sim_decide(sim, w, u, ep_items, ep_likes, k % 21, it, &rng, &r);
            likes += r.like;
        }
        double s = us_now() - t0;
        if (likes < 0) puts(""); /* keeps the loop's work observable */
        if (n / s > best) best = n / s;
    }
    us_sim_worker_free(w);
    return best;
}

/* Steps per second of a vector env of n envs on threads threads (random actions), best of 3
 * runs of `calls` calls. */
static double vec_steps_per_s(const us_sim *sim, int n, int threads, int calls, double *like) {
    us_err e;
    us_vecenv *v;
    us_env_config cfg = us_env_config_default();
    if (us_vecenv_init(&v, sim, &cfg, n, threads, 7, 0, &e) != US_OK) die("vecenv", &e);
    const int obs_size = 1 + 2 * cfg.obs_len;
    int32_t *obs = malloc((size_t)n * (size_t)obs_size * sizeof *obs);
    int32_t *act = malloc((size_t)n * sizeof *act);
    float *rew = malloc((size_t)n * sizeof *rew);
    uint8_t *term = malloc((size_t)n), *trunc = malloc((size_t)n);
    us_vecenv_reset(v, obs);
    us_rng rng = us_rng_derive(11, 0);
    double best = 0, likes = 0, steps = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = us_now();
        for (int c = 0; c < calls; c++) {
            for (int i = 0; i < n; i++)
                act[i] = (int32_t)us_rng_bounded(&rng, (uint32_t)us_sim_n_items(sim));
            us_vecenv_step(v, act, obs, rew, term, trunc, NULL);
            for (int i = 0; i < n; i++) likes += rew[i];
            steps += n;
        }
        double s = us_now() - t0;
        if ((double)calls * n / s > best) best = (double)calls * n / s;
    }
    *like = likes / steps;
    us_vecenv_free(v);
    free(obs);
    free(act);
    free(rew);
    free(term);
    free(trunc);
    return best;
}

/* The default reaction (choose, then the fitted judge) with the given votes, or the paper's
 * (judge only, majority) with paper. */
static us_sim *open_with(const char *store, int keyword, int embed, int sasrec, int paper) {
    us_sim_config cfg = paper ? us_sim_config_paper() : us_sim_config_default();
    cfg.use[US_VOTE_KEYWORD] = keyword;
    cfg.use[US_VOTE_EMBED] = embed;
    cfg.use[US_VOTE_SASREC] = sasrec;
    us_sim *sim;
    us_err e;
    if (us_sim_open(&sim, store, &cfg, &e) != US_OK) die("open", &e);
    return sim;
}

int main(void) {
    openblas_set_num_threads(1);
    char tmpl[] = "/tmp/usersim-bench-env-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir) die("mkdtemp", NULL);
    char data[1100], store[1100];
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(store, sizeof store, "%s/demo.usdb", dir);
    printf("bench_env: building the demo store (synth, ingest, extract, embed, train-sasrec)\n");
    double t0 = us_now();
    build_store(data, store, 0, 0, 0, 3, 0);
    printf("  built in %.1f s\n", us_now() - t0);

    /* the paper's votes one at a time, its reaction, then the default reaction (choose, then
     * the fitted judge over every part): decisions per second on one core */
    const int n = 200000;
    static const char *const names[5] = {"keyword", "embedding", "sasrec", "paper", "default"};
    double rate[5];
    for (int c = 0; c < 5; c++) {
        us_sim *sim = open_with(store, c == 0 || c >= 3, c == 1 || c >= 3, c == 2 || c >= 3,
                                c < 4);
        rate[c] = decisions_per_s(sim, n);
        us_sim_close(sim);
    }
    printf("decision cost per component (1 core, random users and items, episodes of 0-20;\n"
           "paper: its three votes, judge only; default: choose, then the fitted judge):\n");
    for (int c = 0; c < 5; c++)
        printf("  %-10s %9.0f decisions/s  %6.2f us each  (%.2fx the 100,000/s target)\n",
               names[c], rate[c], 1e6 / rate[c], rate[c] / 1e5);

    us_sim *sim = open_with(store, 1, 1, 1, 0);
    double like1, like2;
    const int envs = 64, calls = 2000;
    double v1 = vec_steps_per_s(sim, envs, 1, calls, &like1);
    double v2 = vec_steps_per_s(sim, envs, 2, calls, &like2);
    printf("vector env, %d envs, the default reaction, random actions (like rate %.3f):\n", envs,
           like1);
    printf("  1 thread  %9.0f steps/s  (%.2fx the 100,000/s per-core target)\n", v1, v1 / 1e5);
    printf("  2 threads %9.0f steps/s  (%.2fx one thread; %ld cores online)\n", v2, v2 / v1,
           sysconf(_SC_NPROCESSORS_ONLN));
    us_sim_close(sim);

    /* peak memory of a big population, in a child so its RSS is its own */
    const char *big_env = getenv("BENCH_BIG_USERS");
    long big = big_env && *big_env ? atol(big_env) : 100000;
    if (big > 0) {
        char big_store[1100], big_data[1100];
        snprintf(big_store, sizeof big_store, "%s/big.usdb", dir);
        snprintf(big_data, sizeof big_data, "%s/big", dir);
        long items = big / 10, reviews = big * 10;
        printf("memory: a store of %ld users, %ld items, %ld reviews (hashed embedder, untrained "
               "SASRec)\n",
               big, items, reviews);
        t0 = us_now();
        build_store(big_data, big_store, (int)big, (int)items, (int)reviews, 0, 1);
        printf("  built in %.1f s\n", us_now() - t0);
        fflush(stdout); /* or the child would print the buffered lines again */
        pid_t pid = fork();
        if (pid == 0) {
            us_sim *s = open_with(big_store, 1, 1, 1, 0);
            double like;
            double r = vec_steps_per_s(s, envs, 1, 200, &like);
            printf("  %.0f steps/s (1 thread) on it\n", r);
            fflush(stdout);
            us_sim_close(s);
            _exit(0);
        }
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("memory child", NULL);
        printf("  peak RSS of open + %d envs + 200 calls: %.1f MiB\n", envs, ru.ru_maxrss / 1024.0);
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_env: could not remove %s\n", dir);
    return 0;
}
