/* cmd_embed.c — encode (sentence vectors of texts given on the command line) and embed (the
 * embed stage over a store). Both say which embedder produced the vectors. */
#include <cjson/cJSON.h>
#include <getopt.h>
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

/* Parses argv into o; returns -1 to go on, else the exit code (help: 0, usage: 2). */
static int parse_opts(const char *cmd, const char *help, int with_batch, int argc, char **argv,
                      embed_opts *o) {
    static const struct option opts[] = {
        {"embed-model", 1, 0, 'm'}, {"model", 1, 0, 'M'}, {"hashed", 0, 0, 'x'},
        {"force", 0, 0, 'f'},       {"threads", 1, 0, 't'}, {"batch", 1, 0, 'b'},
        {"json", 0, 0, 'j'},        {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint64_t v;
        switch (c) {
        case 'M':
            cli_deprecated(cmd, "--model", "--embed-model");
            o->model = optarg;
            break;
        case 'm': o->model = optarg; break;
        case 'x': o->hashed = 1; break;
        case 'f':
            if (!with_batch) return cli_usage_error(cmd, "%s", "unknown option");
            o->force = 1;
            break;
        case 'j': o->json = 1; break;
        case 't':
        case 'b':
            if (c == 'b' && !with_batch) return cli_usage_error(cmd, "%s", "unknown option");
            if (cli_parse_u64(optarg, &v) != 0 || v < 1 || v > (c == 't' ? 256 : 4096))
                return cli_usage_error(cmd,
                                       c == 't' ? "--threads: expected 1 to 256, found '%s'"
                                                : "--batch: expected 1 to 4096, found '%s'",
                                       optarg);
            if (c == 't') o->threads = v;
            else o->batch = v;
            break;
        case 'h': fputs(help, stdout); return 0;
        default: return cli_usage_error(cmd, "%s", "unknown option");
        }
    }
    if (o->hashed && o->model)
        return cli_usage_error(cmd, "%s", "--hashed and --embed-model exclude each other");
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

static const char encode_help[] =
    "usage: usersim encode [--embed-model DIR | --hashed] [--threads N] [--json] TEXT...\n"
    "\n"
    "Prints the sentence embedding of each TEXT (L2-normalized) and, for exactly two texts,\n"
    "their cosine similarity, with the name of the embedder that produced them.\n"
    "  --embed-model DIR  a sentence-transformers BERT folder (config.json, vocab.txt,\n"
    "                model.safetensors); default: the first found of $USERSIM_MODEL_DIR,\n"
    "                $USERSIM_MODELS/" US_EMBED_MODEL_NAME ", PREFIX/share/usersim/models/"
    US_EMBED_MODEL_NAME ",\n"
    "                ./" US_EMBED_MODEL_DIR " (make models); none found is an error\n"
    "                naming each place (--model DIR: the old spelling, deprecated)\n"
    "  --hashed      use the hashed n-gram embedder " US_HASHEMBED_NAME " (words and word\n"
    "                pieces, no meaning)\n"
    "  --threads N   OpenBLAS threads (default 1; the same bits for the same N)\n"
    "  --json        one JSON object: embedder, kind, dim, embeddings, cosine\n";

int cmd_encode(int argc, char **argv) {
    embed_opts o = {.threads = 1};
    int rc = parse_opts("encode", encode_help, 0, argc, argv, &o);
    if (rc >= 0) return rc;
    int n = argc - optind;
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
    us_embedder_embed(e, (const char *const *)(argv + optind), n, v);
    double cosine = n == 2 ? us_embed_cosine(v, v + dim, dim) : 0.0;
    if (o.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "embedder", us_embedder_name(e));
        cJSON_AddStringToObject(j, "kind", kind_name(e));
        cJSON_AddNumberToObject(j, "dim", dim);
        cJSON *arr = cJSON_AddArrayToObject(j, "embeddings");
        for (int i = 0; i < n; i++) {
            cJSON *item = cJSON_CreateObject();
            cJSON_AddStringToObject(item, "text", argv[optind + i]);
            cJSON_AddItemToObject(item, "vector",
                                  cJSON_CreateFloatArray(v + (size_t)i * dim, dim));
            cJSON_AddItemToArray(arr, item);
        }
        if (n == 2) cJSON_AddNumberToObject(j, "cosine", cosine);
        cli_print_json(j);
    } else {
        printf("embedder: %s (%s, %d dims)\n", us_embedder_name(e), kind_name(e), dim);
        for (int i = 0; i < n; i++) {
            printf("%s\n ", argv[optind + i]);
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

static const char embed_help[] =
    "usage: usersim embed NAME.usdb [--embed-model DIR | --hashed [--force]] [--batch N]\n"
    "                    [--threads N] [--json]\n"
    "\n"
    "The embed stage: sentence vectors of every keyword and of every item's pros and cons text\n"
    "that the extraction stage (usersim extract) wrote, stored as float32 in the store (tables\n"
    "embedder, keyword_vec, item_vec) with the embedder's name and model checksum. Only texts\n"
    "without a vector are embedded, so a second run does nothing; vectors of another embedder\n"
    "are all replaced, in one transaction. Without an option, a store with vectors of\n"
    "the hashed embedder keeps that embedder; any other is embedded with the model.\n"
    "  --embed-model DIR  a sentence-transformers BERT folder; default: the first found of\n"
    "                $USERSIM_MODEL_DIR, $USERSIM_MODELS/" US_EMBED_MODEL_NAME ",\n"
    "                PREFIX/share/usersim/models/" US_EMBED_MODEL_NAME ",\n"
    "                ./" US_EMBED_MODEL_DIR " (make models); none found is an error\n"
    "                naming each place (--model DIR: the old spelling, deprecated)\n"
    "  --hashed      use the hashed n-gram embedder " US_HASHEMBED_NAME " (no meanings)\n"
    "  --force       with --hashed, replace a sentence model's vectors (refused without it)\n"
    "  --batch N     texts per encoder pass (default 64)\n"
    "  --threads N   OpenBLAS threads (default 1; the same bits for the same N)\n"
    "  --json        print the report as JSON\n";

int cmd_embed(int argc, char **argv) {
    embed_opts o = {.threads = 1, .batch = 64};
    int rc = parse_opts("embed", embed_help, 1, argc, argv, &o);
    if (rc >= 0) return rc;
    if (optind != argc - 1) return cli_usage_error("embed", "%s", "expected one store path");
    const char *path = argv[optind];
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
