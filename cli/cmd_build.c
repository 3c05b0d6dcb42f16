/* cmd_build.c — build: every stage a store still needs, in order (extract, embed,
 * train-sasrec for the rating head, then for the next-item head), by running those commands.
 * Each stage is resumable on its own: extract skips what its cache holds, embed writes only
 * missing vectors, and each SASRec head is trained only when the store has no checkpoint of it
 * yet. So an interrupted build is finished by running it again. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "simulator/embed/embed.h"
#include "simulator/simulator.h"

static const char build_usage[] =
    "usage: usersim build NAME.usdb [options]\n"
    "\n"
    "Runs every stage the store still needs, in order: extract (item keywords), embed (their\n"
    "sentence vectors), train-sasrec (the rating head, the judge's SASRec vote, then the\n"
    "next-item head, which the simulated users choose with; each unless the store has one).\n"
    "Running it again after an interruption finishes the job; on a complete store it changes\n"
    "nothing. Each stage also reads its own section of the settings file.\n";

typedef struct build_settings {
    const char *llm, *llm_model, *model;
    int concurrency, hashed, force;
    long epochs;
} build_settings;

static void build_init(void *s) {
    *(build_settings *)s = (build_settings){.epochs = -1};
}

#define S(f) offsetof(build_settings, f)
static const cli_opt build_opts[] = {
    {.name = "llm", .type = CLI_STR, .off = S(llm), .arg = "URL",
     .help = "extract with this OpenAI-compatible server",
     .unset = "USERSIM_LLM_URL when set, else the built-in extractor", .env = "USERSIM_LLM_URL"},
    {.name = "llm-model", .type = CLI_STR, .off = S(llm_model), .arg = "M",
     .help = "the server's model (required with --llm; else USERSIM_LLM_MODEL)", .unset = "none",
     .env = "USERSIM_LLM_MODEL"},
    {.name = "concurrency", .type = CLI_INT, .off = S(concurrency), .arg = "N",
     .help = "LLM requests in flight", .lo = 1, .hi = 1000000, .unset = "extract's"},
    {.name = "embed-model", .type = CLI_STR, .off = S(model), .arg = "DIR",
     .help = "the sentence-embedding model's folder; none found is an error naming each\n"
             "place; a store with hashed vectors keeps them. --model DIR: the old\n"
             "spelling, deprecated",
     .unset = "the first found of $USERSIM_MODEL_DIR, $USERSIM_MODELS/" US_EMBED_MODEL_NAME
              ", PREFIX/share/usersim/models/" US_EMBED_MODEL_NAME ", ./" US_EMBED_MODEL_DIR,
     .env = "USERSIM_MODEL_DIR"},
    {.name = "model", .type = CLI_STR, .off = S(model), .arg = "DIR", .help = "",
     .flags = CLI_HIDDEN | CLI_CMDLINE,
     .alias = "embed-model"},
    {.name = "hashed", .type = CLI_FLAG, .off = S(hashed), .set = 1,
     .help = "embed with the hashed n-gram embedder instead of a model"},
    {.name = "force", .type = CLI_FLAG, .off = S(force), .set = 1,
     .help = "with --hashed, replace the vectors of a sentence model"},
    {.name = "epochs", .type = CLI_LONG, .off = S(epochs), .arg = "N",
     .help = "SASRec epochs at most", .hi = 1000000, .unset = "the preset's"},
    {0}};
#undef S

const cli_cmd cli_build = {"build", build_opts, build_init, build_usage, NULL, 0};

/* 1 when the store already has a checkpoint of the rating head (next = 0) or of the next-item
 * head (next = 1) that fits it. */
/* The checkpoint and the store's sizes only: opening the whole simulator fitted its models,
 * minutes at 10^5 users, for an answer that needs none of them. */
static int has_head(const char *path, int next) {
    us_err err;
    return us_sim_head_check(path, next, &err) == US_OK;
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
    build_settings o;
    cli_parsed p;
    int rc = cli_parse(&cli_build, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    const char *llm = o.llm, *llm_model = o.llm_model, *model = o.model, *config = p.config;
    const int hashed = o.hashed, force = o.force;
    char concurrency_s[24], epochs_s[24];
    snprintf(concurrency_s, sizeof concurrency_s, "%d", o.concurrency);
    snprintf(epochs_s, sizeof epochs_s, "%ld", o.epochs);
    const char *concurrency = o.concurrency ? concurrency_s : NULL;
    const char *epochs = o.epochs >= 0 ? epochs_s : NULL;
    if (p.npos != 1) return cli_usage_error("build", "%s", "expected one store path");
    /* (a settings file's LLM goes to extract, which reads its model from the file too) */
    if (llm && !llm_model && p.where[cli_opt_index(&cli_build, "llm")] == CLI_FROM_CMDLINE)
        return cli_usage_error("build", "%s", "--llm needs --llm-model");
    if (model && hashed)
        return cli_usage_error("build", "%s", "--embed-model and --hashed exclude each other");
    char *path = p.pos[0];
    /* The embedder is settled before any stage runs, so a missing model stops the build
     * before a long extraction instead of after it. */
    char dir[4200];
    struct stat sb;
    if (stat(path, &sb) == 0) {
        const int pick = cli_embed_pick("build", path, model, hashed, dir, sizeof dir);
        if (pick != 0) return pick;
    }
    /* One lock for the whole build (the stages take it again, nested): a second build of the
     * same store is refused, instead of both finding a head missing and both training it. */
    us_store_lock *lock;
    us_err err;
    if (us_store_lock_acquire(path, &lock, &err) != US_OK) return cli_fail(&err);
    rc = build_stages(path, llm, llm_model, concurrency, config, model, hashed, force,
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

    char *ea[10] = {"embed", path};
    int en = 2;
    if (config) ea[en++] = "--config", ea[en++] = (char *)config;
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
        char *sa[12] = {"train-sasrec", path,         "--head",
                        (char *)head,   "--preset",   next ? "paper" : "simulator"};
        int sn = 6;
        if (config) sa[sn++] = "--config", sa[sn++] = (char *)config;
        if (epochs) sa[sn++] = "--epochs", sa[sn++] = (char *)epochs;
        sa[sn] = NULL;
        if ((rc = run_stage("train-sasrec", cmd_train_sasrec, sa, sn)) != 0) return rc;
    }
    printf("build: %s is complete: `usersim eval-sim %s` measures it\n", path, path);
    return 0;
}
