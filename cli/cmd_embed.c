/* cmd_embed.c — encode (sentence vectors of texts given on the command line) and embed (the
 * embed stage over a store). Both say which embedder produced the vectors. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli/cli.h"
#include "simulator/embed/embed.h"

/* The options both commands share. */
typedef struct embed_opts {
    const char *model; /* --embed-model; NULL: cli_embed_pick() decides */
    int hashed, force, json;
    uint64_t threads, batch;
} embed_opts;

static void encode_init(void *s) { *(embed_opts *)s = (embed_opts){.threads = 1}; }
static void embed_init(void *s) { *(embed_opts *)s = (embed_opts){.threads = 1, .batch = 64}; }

#define S(f) offsetof(embed_opts, f)
#define MODEL_OPTS                                                                              \
    {.name = "embed-model", .type = CLI_STR, .off = S(model), .arg = "DIR",                  \
     .help = "a sentence-transformers BERT folder (config.json, vocab.txt,\n"                  \
             "model.safetensors); none found is an error naming each place (--model DIR:\n"    \
             "the old spelling, deprecated)",                                                  \
     .unset = "the first found of $USERSIM_MODEL_DIR, $USERSIM_MODELS/" US_EMBED_MODEL_NAME    \
              ", PREFIX/share/usersim/models/" US_EMBED_MODEL_NAME ", ./" US_EMBED_MODEL_DIR  \
              " (make models)",                                                                \
     .env = "USERSIM_MODEL_DIR"},                                                             \
    {.name = "model", .type = CLI_STR, .off = S(model), .arg = "DIR", .help = "",              \
     .flags = CLI_HIDDEN | CLI_CMDLINE, .alias = "embed-model"},                              \
    {.name = "hashed", .type = CLI_FLAG, .off = S(hashed), .set = 1,                          \
     .help = "use the hashed n-gram embedder " US_HASHEMBED_NAME " (words and word pieces, no\n" \
             "meaning)"}
#define THREADS_OPT                                                                             \
    {.name = "threads", .type = CLI_U64, .off = S(threads), .arg = "N",                       \
     .help = "OpenBLAS threads (the same bits for the same N)", .lo = 1, .hi = 256}
#define JSON_OPT(what)                                                                          \
    {.name = "json", .type = CLI_FLAG, .off = S(json), .set = 1, .flags = CLI_CMDLINE,        \
     .help = what}

static const cli_opt encode_opts[] = {
    MODEL_OPTS, THREADS_OPT,
    JSON_OPT("one JSON object: embedder, kind, dim, embeddings, cosine"), {0}};

static const cli_opt embed_opts_table[] = {
    MODEL_OPTS,
    {.name = "force", .type = CLI_FLAG, .off = S(force), .set = 1,
     .help = "with --hashed, replace a sentence model's vectors (refused without it)"},
    {.name = "batch", .type = CLI_U64, .off = S(batch), .arg = "N",
     .help = "texts per encoder pass", .lo = 1, .hi = 4096},
    THREADS_OPT, JSON_OPT("print the report as JSON"), {0}};
#undef S

/* Parses argv into o with cmd's table; returns -1 to go on (the texts or the store in p),
 * else the exit code (help: 0, usage: 2). */
static int parse_opts(const cli_cmd *cmd, int argc, char **argv, embed_opts *o,
                      cli_parsed *p) {
    int rc = cli_parse(cmd, argc, argv, o, p);
    if (rc >= 0) return rc;
    if (o->hashed && o->model)
        return cli_usage_error(cmd->name, "%s", "--hashed and --embed-model exclude each other");
    return -1;
}

int cli_embed_pick(const char *cmd, const char *store, const char *model, int hashed, char *dir,
                   size_t cap) {
    us_err err;
    dir[0] = '\0';
    if (hashed) return 0;
    if (!model && store) {
        char stored[128];
        if (us_embed_stored_embedder(store, stored, sizeof stored, &err) != US_OK)
            return cli_fail(&err);
        if (strcmp(stored, US_HASHEMBED_NAME) == 0) {
            printf("%s: the store's vectors are %s's; kept (--embed-model DIR replaces them)\n",
                   cmd, US_HASHEMBED_NAME);
            return 0;
        }
    }
    if (us_embed_model_find(model, dir, cap, &err) != US_OK) return cli_fail(&err);
    return 0;
}

/* Opens the embedder cli_embed_pick chooses for the store (NULL: none). */
static int open_embedder(const char *cmd, const embed_opts *o, const char *store, int max_batch,
                         us_embedder **e) {
    us_err err;
    char dir[4200];
    int rc = cli_embed_pick(cmd, store, o->model, o->hashed, dir, sizeof dir);
    if (rc != 0) return rc;
    openblas_set_num_threads((int)o->threads);
    if (us_embedder_open(e, dir[0] ? dir : NULL, max_batch, 0, NULL, &err) != US_OK)
        return cli_fail(&err);
    return 0;
}

static const char *kind_name(const us_embedder *e) {
    return us_embedder_kind_of(e) == US_EMBEDDER_BERT ? "bert" : "hashed";
}

/* ---- encode ---- */

static const char encode_usage[] =
    "usage: usersim encode [--embed-model DIR | --hashed] [--threads N] [--json] TEXT...\n"
    "\n"
    "Prints the sentence embedding of each TEXT (L2-normalized) and, for exactly two texts,\n"
    "their cosine similarity, with the name of the embedder that produced them.\n";

const cli_cmd cli_encode = {"encode", encode_opts, encode_init, encode_usage, NULL, 0};

int cmd_encode(int argc, char **argv) {
    embed_opts o;
    cli_parsed p;
    int rc = parse_opts(&cli_encode, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    int n = p.npos;
    if (n < 1) return cli_usage_error("encode", "%s", "expected at least one TEXT");
    us_embedder *e;
    if ((rc = open_embedder("encode", &o, NULL, n < 64 ? n : 64, &e)) != 0) return rc;
    int dim = us_embedder_dim(e);
    float *v = malloc((size_t)n * (size_t)dim * sizeof(float));
    if (!v) {
        us_embedder_close(e);
        fputs("usersim: error: out of memory\n", stderr);
        return 1;
    }
    us_embedder_embed(e, (const char *const *)p.pos, n, v);
    double cosine = n == 2 ? us_embed_cosine(v, v + dim, dim) : 0.0;
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "embedder", us_embedder_name(e));
        cJSON_AddStringToObject(j, "kind", kind_name(e));
        cJSON_AddNumberToObject(j, "dim", dim);
        cJSON *arr = cJSON_AddArrayToObject(j, "embeddings");
        for (int i = 0; i < n; i++) {
            cJSON *item = cJSON_CreateObject();
            cJSON_AddStringToObject(item, "text", p.pos[i]);
            cJSON_AddItemToObject(item, "vector",
                                  cJSON_CreateFloatArray(v + (size_t)i * dim, dim));
            cJSON_AddItemToArray(arr, item);
        }
        if (n == 2) cJSON_AddNumberToObject(j, "cosine", cosine);
        cli_print_json(j);
    } else {
        printf("embedder: %s (%s, %d dims)\n", us_embedder_name(e), kind_name(e), dim);
        for (int i = 0; i < n; i++) {
            printf("%s\n ", p.pos[i]);
            for (int d = 0; d < dim; d++) printf(" %.6f", v[(size_t)i * dim + d]);
            printf("\n");
        }
        if (n == 2) printf("cosine: %.4f\n", cosine);
    }
    free(v);
    us_embedder_close(e);
    return 0;
}

/* ---- embed ---- */

static const char embed_usage[] =
    "usage: usersim embed NAME.usdb [--embed-model DIR | --hashed [--force]] [--batch N]\n"
    "                    [--threads N] [--json]\n"
    "\n"
    "The embed stage: sentence vectors of every keyword and of every item's pros and cons text\n"
    "that the extraction stage (usersim extract) wrote, stored as float32 in the store (tables\n"
    "embedder, keyword_vec, item_vec) with the embedder's name and model checksum. Only texts\n"
    "without a vector are embedded, so a second run does nothing; vectors of another embedder\n"
    "are all replaced, in one transaction. Without an option, a store with vectors of\n"
    "the hashed embedder keeps that embedder; any other is embedded with the model.\n"
    ;

const cli_cmd cli_embed = {"embed", embed_opts_table, embed_init, embed_usage, NULL, 0};

int cmd_embed(int argc, char **argv) {
    embed_opts o;
    cli_parsed p;
    int rc = parse_opts(&cli_embed, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    if (p.npos != 1) return cli_usage_error("embed", "%s", "expected one store path");
    const char *path = p.pos[0];
    us_embedder *e;
    if ((rc = open_embedder("embed", &o, path, (int)o.batch, &e)) != 0) return rc;
    us_embed_config cfg = us_embed_config_default();
    cfg.batch = (int)o.batch;
    cfg.force = o.force;
    us_embed_report rep;
    us_err err;
    us_status st = us_embed_store(path, e, &cfg, &rep, &err);
    const char *kind = kind_name(e);
    us_embedder_close(e);
    if (st != US_OK) return cli_fail(&err);
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "embedder", rep.embedder);
        cJSON_AddStringToObject(j, "kind", kind);
        cJSON_AddNumberToObject(j, "dim", rep.dim);
        cJSON_AddNumberToObject(j, "keywords", (double)rep.n_keywords);
        cJSON_AddNumberToObject(j, "item_texts", (double)rep.n_item_texts);
        cJSON_AddNumberToObject(j, "keywords_embedded", (double)rep.keywords_embedded);
        cJSON_AddNumberToObject(j, "item_texts_embedded", (double)rep.item_texts_embedded);
        cJSON_AddBoolToObject(j, "replaced", rep.replaced);
        cJSON_AddStringToObject(j, "previous", rep.previous);
        cJSON_AddNumberToObject(j, "seconds", rep.seconds);
        cli_print_json(j);
    } else {
        char a[32], b[32], c[32], d[32];
        printf("embed: %s (%s, %d dims)\n", rep.embedder, kind, rep.dim);
        if (rep.replaced) printf("  replaced the vectors of %s\n", rep.previous);
        printf("  keywords    %s embedded, %s in the store\n", cli_group(rep.keywords_embedded, a),
               cli_group(rep.n_keywords, b));
        printf("  item texts  %s embedded, %s in the store\n",
               cli_group(rep.item_texts_embedded, c), cli_group(rep.n_item_texts, d));
        printf("  %.1f s\n", rep.seconds);
    }
    return 0;
}
