/* cmd_build.c — build: every stage a store still needs, in order (extract, embed,
 * train-sasrec for the rating head, then for the next-item head), by running those commands.
 * Each stage is resumable on its own: extract skips what its cache holds, embed writes only
 * missing vectors, and each SASRec head is trained only when the store has no checkpoint of it
 * yet. So an interrupted build is finished by running it again. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "simulator/embed/embed.h"
#include "simulator/simulator.h"

static const char build_help[] =
    "usage: usersim build NAME.usdb [options]\n"
    "\n"
    "Runs every stage the store still needs, in order: extract (item keywords), embed (their\n"
    "sentence vectors), train-sasrec (the rating head, the judge's SASRec vote, then the\n"
    "next-item head, which the simulated users choose with; each unless the store has one).\n"
    "Running it again after an interruption finishes the job; on a complete store it changes\n"
    "nothing.\n"
    "\n"
    "options:\n"
    "  --llm URL        extract with this OpenAI-compatible server (default: USERSIM_LLM_URL\n"
    "                   when set, else the built-in extractor)\n"
    "  --llm-model M    the server's model (required with --llm; else USERSIM_LLM_MODEL)\n"
    "  --concurrency N  LLM requests in flight\n"
    "  --config FILE    extract's settings file (see usersim extract --help)\n"
    "  --embed-model DIR  the sentence-embedding model's folder (default: the first found of\n"
    "                   $USERSIM_MODEL_DIR, $USERSIM_MODELS/" US_EMBED_MODEL_NAME ",\n"
    "                   PREFIX/share/usersim/models/" US_EMBED_MODEL_NAME ",\n"
    "                   ./" US_EMBED_MODEL_DIR "; none found is an error naming each place;\n"
    "                   a store with hashed vectors keeps them). --model DIR: the old\n"
    "                   spelling, deprecated\n"
    "  --hashed         embed with the hashed n-gram embedder instead of a model\n"
    "  --force          with --hashed, replace the vectors of a sentence model\n"
    "  --epochs N       SASRec epochs at most (default: the preset's)\n";

/* 1 when the store already has a checkpoint of the rating head (next = 0) or of the next-item
 * head (next = 1) that fits it. */
static int has_head(const char *path, int next) {
    us_sim_config cfg = us_sim_config_paper();
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    cfg.choose = next;
    us_sim *sim = NULL;
    us_err err;
    if (us_sim_open(&sim, path, &cfg, &err) != US_OK) return 0;
    us_sim_close(sim);
    return 1;
}

static int build_stages(char *path, const char *llm, const char *llm_model,
                        const char *concurrency, const char *config, const char *model,
                        int hashed, int force, const char *epochs);

static int run_stage(const char *name, int (*cmd)(int, char **), char **argv, int argc) {
    printf("build: %s\n", name);
    fflush(stdout);
    int rc = cmd(argc, argv);
    fflush(stdout);
    if (rc != 0)
        fprintf(stderr, "usersim build: stage %s failed (exit %d); the store is not complete. "
                "Fix the cause above and run the same build again: it resumes from there.\n",
                name, rc);
    return rc;
}

int cmd_build(int argc, char **argv) {
    const char *llm = NULL, *llm_model = NULL, *concurrency = NULL, *model = NULL,
               *epochs = NULL, *config = NULL;
    int hashed = 0, force = 0;
    static const struct option opts[] = {
        {"llm", 1, 0, 'u'},         {"llm-model", 1, 0, 'm'}, {"concurrency", 1, 0, 'c'},
        {"embed-model", 1, 0, 'E'}, {"model", 1, 0, 'M'},     {"hashed", 0, 0, 'x'},
        {"force", 0, 0, 'f'},       {"epochs", 1, 0, 'e'},    {"config", 1, 0, 'F'},
        {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u': llm = optarg; break;
        case 'm': llm_model = optarg; break;
        case 'c': concurrency = optarg; break;
        case 'M':
            cli_deprecated("build", "--model", "--embed-model");
            model = optarg;
            break;
        case 'E': model = optarg; break;
        case 'x': hashed = 1; break;
        case 'f': force = 1; break;
        case 'e': epochs = optarg; break;
        case 'F': config = optarg; break;
        case 'h': fputs(build_help, stdout); return 0;
        default: return cli_usage_error("build", "%s", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("build", "%s", "expected one store path");
    if (llm && !llm_model) return cli_usage_error("build", "%s", "--llm needs --llm-model");
    if (model && hashed)
        return cli_usage_error("build", "%s", "--embed-model and --hashed exclude each other");
    char *path = argv[optind];
    /* The embedder is settled before any stage runs, so a missing model stops the build
     * before a long extraction instead of after it. */
    char dir[4200];
    struct stat sb;
    if (stat(path, &sb) == 0) {
        int rc = cli_embed_pick("build", path, model, hashed, dir, sizeof dir);
        if (rc != 0) return rc;
    }
    /* One lock for the whole build (the stages take it again, nested): a second build of the
     * same store is refused, instead of both finding a head missing and both training it. */
    us_store_lock *lock;
    us_err err;
    if (us_store_lock_acquire(path, &lock, &err) != US_OK) return cli_fail(&err);
    int rc = build_stages(path, llm, llm_model, concurrency, config, model, hashed, force,
                          epochs);
    us_store_lock_release(lock);
    return rc;
}

static int build_stages(char *path, const char *llm, const char *llm_model,
                        const char *concurrency, const char *config, const char *model,
                        int hashed, int force, const char *epochs) {

    char *xa[14] = {"extract", path};
    int xn = 2;
    if (llm) xa[xn++] = "--llm", xa[xn++] = (char *)llm, xa[xn++] = "--llm-model",
             xa[xn++] = (char *)llm_model;
    if (concurrency) xa[xn++] = "--concurrency", xa[xn++] = (char *)concurrency;
    if (config) xa[xn++] = "--config", xa[xn++] = (char *)config;
    xa[xn] = NULL;
    int rc = run_stage("extract", cmd_extract, xa, xn);
    if (rc) return rc;

    char *ea[8] = {"embed", path};
    int en = 2;
    if (model) ea[en++] = "--embed-model", ea[en++] = (char *)model;
    if (hashed) ea[en++] = "--hashed";
    if (force) ea[en++] = "--force";
    ea[en] = NULL;
    if ((rc = run_stage("embed", cmd_embed, ea, en)) != 0) return rc;

    for (int next = 0; next < 2; next++) {
        const char *head = next ? "next" : "rating";
        if (has_head(path, next)) {
            printf("build: train-sasrec: the store has a %s head already (kept)\n", head);
            continue;
        }
        /* the rating head with the released simulator's preset (T 2: the step encodes its
         * window every time), the next-item head with the paper's (T 50: it encodes a user's
         * training history once, and the longer history is what ranks choices well) */
        char *sa[10] = {"train-sasrec", path,         "--head",
                        (char *)head,   "--preset",   next ? "paper" : "simulator"};
        int sn = 6;
        if (epochs) sa[sn++] = "--epochs", sa[sn++] = (char *)epochs;
        sa[sn] = NULL;
        if ((rc = run_stage("train-sasrec", cmd_train_sasrec, sa, sn)) != 0) return rc;
    }
    printf("build: %s is complete: `usersim eval-sim %s` measures it\n", path, path);
    return 0;
}
