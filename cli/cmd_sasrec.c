/* cmd_sasrec.c — train-sasrec: trains the statistical user model and saves it into the store. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli/cli.h"
#include "datasets/datasets.h"
#include "simulator/sasrec/sasrec.h"

/* ---- train-sasrec ---- */

static const char train_sasrec_usage[] =
    "usage: usersim train-sasrec NAME.usdb [--head rating|next|both] [--preset simulator|paper]\n"
    "                            [--dataset ml-1m|beauty|games|steam] [--d N] [--blocks N] [--heads N] [--max-len N]\n"
    "                            [--dropout X] [--lr X] [--weight-decay X] [--batch N]\n"
    "                            [--epochs N] [--patience N] [--seed N] [--threads N] [--json]\n"
    "\n"
    "Trains SASRec on the store's training split, keeps the epoch with the best validation\n"
    "metric, and saves it into the store as a new checkpoint (table sasrec_checkpoint).\n";

static const char train_sasrec_tail[] =
    "Metrics: rating head AUC, log loss, accuracy; next-item head HR@10 and NDCG@10 against 100\n"
    "sampled negatives and against the full catalogue.\n";

static cJSON *metrics_json(const us_sasrec_metrics *m, us_sasrec_head head) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "n", (double)m->n);
    if (head == US_SASREC_RATING) {
        cJSON_AddNumberToObject(j, "auc", m->auc);
        cJSON_AddNumberToObject(j, "logloss", m->logloss);
        cJSON_AddNumberToObject(j, "accuracy", m->accuracy);
    } else {
        cJSON_AddNumberToObject(j, "hr10", m->hr10);
        cJSON_AddNumberToObject(j, "ndcg10", m->ndcg10);
        cJSON_AddNumberToObject(j, "hr10_full", m->hr10_full);
        cJSON_AddNumberToObject(j, "ndcg10_full", m->ndcg10_full);
    }
    return j;
}

static void print_metrics(const char *split, const us_sasrec_metrics *m, us_sasrec_head head) {
    if (head == US_SASREC_RATING)
        printf("  %-5s AUC %.4f  log loss %.4f  accuracy %.4f  (%llu)\n", split, m->auc,
               m->logloss, m->accuracy, (unsigned long long)m->n);
    else
        printf("  %-5s HR@10 %.4f  NDCG@10 %.4f (100 negatives)  HR@10 %.4f  NDCG@10 %.4f "
               "(all items)  (%llu)\n", split, m->hr10, m->ndcg10, m->hr10_full, m->ndcg10_full,
               (unsigned long long)m->n);
}

/* The datasets of the SASRec paper, whose settings --dataset selects (ml-1m: T 200). */
static const char *const k_datasets[] = {"ml-1m", "beauty", "games", "steam", NULL};
static const char *const k_presets[] = {"simulator", "paper", NULL};
static const char *const k_heads[] = {"rating", "next", "both", NULL};

/* One head: preset, overrides, fit to the data, train, save. */
typedef struct sasrec_overrides {
    const char *preset, *dataset; /* NULL: the head's preset; no dataset */
    int preset_k, dataset_k;      /* the options: an index into k_presets, k_datasets; -1: none */
    int head, json;               /* an index into k_heads */
    uint64_t threads;
    long d, blocks, heads, max_len, batch, epochs, patience;
    double dropout, lr, weight_decay;
    int have_seed;
    uint64_t seed;
} sasrec_overrides;

static int train_one(const char *path, const us_sasrec_data *data, us_sasrec_head head,
                     const sasrec_overrides *o, int json, cJSON *out) {
    us_err err;
    us_sasrec_config cfg;
    const char *preset = o->preset ? o->preset : head == US_SASREC_RATING ? "simulator" : "paper";
    if (us_sasrec_config_preset(preset, o->dataset, &cfg, &err) != US_OK) return cli_fail(&err);
    cfg.head = head;
    if (o->d >= 0) cfg.d = (int)o->d;
    if (o->blocks >= 0) cfg.n_blocks = (int)o->blocks;
    if (o->heads >= 0) cfg.n_heads = (int)o->heads;
    if (o->max_len >= 0) cfg.max_len = (int)o->max_len;
    if (o->batch >= 0) cfg.batch_size = (int)o->batch;
    if (o->epochs >= 0) cfg.max_epochs = (int)o->epochs;
    if (o->patience >= 0) cfg.patience = (int)o->patience;
    if (o->dropout >= 0) cfg.dropout = (float)o->dropout;
    if (o->lr >= 0) cfg.lr = (float)o->lr;
    if (o->weight_decay >= 0) cfg.weight_decay = (float)o->weight_decay;
    if (o->have_seed) cfg.seed = o->seed;
    us_sasrec_config_fit(&cfg, data);
    if (us_sasrec_config_validate(&cfg, &err) != US_OK) return cli_fail(&err);
    us_sasrec *m;
    if (us_sasrec_init(&m, &cfg, &err) != US_OK) return cli_fail(&err);
    us_log log = {stderr, US_LOG_INFO};
    us_sasrec_report rep;
    const char *name = head == US_SASREC_RATING ? "rating" : "next";
    if (!json) printf("train-sasrec: %s head, preset %s, d %d, %d blocks, %d heads, T %d\n",
                      name, preset, cfg.d, cfg.n_blocks, cfg.n_heads, cfg.max_len);
    fflush(stdout);
    if (us_sasrec_train(m, data, &rep, json ? NULL : &log, &err) != US_OK) {
        us_sasrec_free(m);
        return cli_fail(&err);
    }
    int64_t version = 0;
    us_status st = us_sasrec_checkpoint_save(path, m, &rep.test, "usersim " USERSIM_VERSION,
                                             &version, &err);
    us_sasrec_free(m);
    if (st != US_OK) return cli_fail(&err);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "head", name);
        cJSON_AddStringToObject(j, "preset", preset);
        cJSON_AddNumberToObject(j, "checkpoint", (double)version);
        cJSON_AddNumberToObject(j, "epochs", rep.epochs);
        cJSON_AddNumberToObject(j, "best_epoch", rep.best_epoch);
        cJSON_AddNumberToObject(j, "seconds", rep.seconds);
        cJSON_AddNumberToObject(j, "examples_per_s", rep.examples_per_s);
        cJSON_AddItemToObject(j, "valid", metrics_json(&rep.valid, head));
        cJSON_AddItemToObject(j, "test", metrics_json(&rep.test, head));
        cJSON_AddItemToArray(out, j);
    } else {
        printf("train-sasrec: %d epochs (best %d) in %.1f s, %.0f examples/s; saved as "
               "checkpoint %lld\n", rep.epochs, rep.best_epoch, rep.seconds, rep.examples_per_s,
               (long long)version);
        print_metrics("valid", &rep.valid, head);
        print_metrics("test", &rep.test, head);
    }
    return 0;
}

static void train_sasrec_init(void *s) {
    *(sasrec_overrides *)s = (sasrec_overrides){
        .preset_k = -1, .dataset_k = -1, .threads = 1, .d = -1, .blocks = -1, .heads = -1,
        .max_len = -1, .batch = -1, .epochs = -1, .patience = -1, .dropout = -1, .lr = -1,
        .weight_decay = -1};
}

#define S(f) offsetof(sasrec_overrides, f)
#define PRESETS "the preset's"
static const cli_opt train_sasrec_opts[] = {
    {.name = "head", .type = CLI_CHOICE, .off = S(head), .arg = "H", .choices = k_heads,
     .help = "rating: P(like | user, history, item), the simulator's model; next: the next\n"
             "item from the history (the original SASRec); both: one after the other, two\n"
             "checkpoints"},
    {.name = "preset", .type = CLI_CHOICE, .off = S(preset_k), .arg = "P", .choices = k_presets,
     .help = "simulator (d 32, 2 blocks, T 2, lr 0.01) or paper (d 50, 2 blocks, dropout\n"
             "0.2, lr 0.001, T 50, or 200 with --dataset ml-1m)",
     .unset = "simulator for the rating head, paper for next"},
    {.name = "dataset", .type = CLI_CHOICE, .off = S(dataset_k), .arg = "D",
     .choices = k_datasets, .help = "the paper's settings for one of its datasets",
     .unset = "none"},
    {.name = "d", .type = CLI_LONG, .off = S(d), .arg = "N", .help = "hidden size",
     .hi = 1000000, .unset = PRESETS},
    {.name = "blocks", .type = CLI_LONG, .off = S(blocks), .arg = "N",
     .help = "self-attention blocks", .hi = 1000000, .unset = PRESETS},
    {.name = "heads", .type = CLI_LONG, .off = S(heads), .arg = "N", .help = "attention heads",
     .hi = 1000000, .unset = PRESETS},
    {.name = "max-len", .type = CLI_LONG, .off = S(max_len), .arg = "N",
     .help = "history length T", .hi = 1000000, .unset = PRESETS},
    {.name = "dropout", .type = CLI_DOUBLE, .off = S(dropout), .arg = "X", .help = "dropout rate",
     .hi = 1e308, .unset = PRESETS},
    {.name = "lr", .type = CLI_DOUBLE, .off = S(lr), .arg = "X", .help = "Adam learning rate",
     .hi = 1e308, .unset = PRESETS},
    {.name = "weight-decay", .type = CLI_DOUBLE, .off = S(weight_decay), .arg = "X",
     .help = "weight decay", .hi = 1e308, .unset = PRESETS},
    {.name = "batch", .type = CLI_LONG, .off = S(batch), .arg = "N", .help = "batch size",
     .hi = 1000000, .unset = PRESETS},
    {.name = "epochs", .type = CLI_LONG, .off = S(epochs), .arg = "N", .help = "epochs at most",
     .hi = 1000000, .unset = PRESETS},
    {.name = "patience", .type = CLI_LONG, .off = S(patience), .arg = "N",
     .help = "epochs without a better validation metric before stopping", .hi = 1000000,
     .unset = PRESETS},
    {.name = "seed", .type = CLI_U64, .off = S(seed), .arg = "N", .help = "the seed",
     .hi = 18446744073709551615.0, .unset = PRESETS},
    {.name = "threads", .type = CLI_U64, .off = S(threads), .arg = "N",
     .help = "training threads (data-parallel over each batch). Results are bit-identical\n"
             "for the same seed and the same thread count.", .lo = 1, .hi = 256},
    {.name = "json", .type = CLI_FLAG, .off = S(json), .set = 1, .flags = CLI_CMDLINE,
     .help = "print the report as JSON"},
    {0}};
#undef S

const cli_cmd cli_train_sasrec = {"train-sasrec", train_sasrec_opts, train_sasrec_init,
                                  train_sasrec_usage, train_sasrec_tail, 0};

int cmd_train_sasrec(int argc, char **argv) {
    sasrec_overrides o;
    cli_parsed p;
    int prc = cli_parse(&cli_train_sasrec, argc, argv, &o, &p);
    if (prc >= 0) return prc;
    if (p.npos != 1) return cli_usage_error("train-sasrec", "%s", "expected one store path");
    o.have_seed = p.where[cli_opt_index(&cli_train_sasrec, "seed")] != CLI_FROM_DEFAULT;
    o.preset = o.preset_k >= 0 ? k_presets[o.preset_k] : NULL;
    o.dataset = o.dataset_k >= 0 ? k_datasets[o.dataset_k] : NULL;
    const char *head = k_heads[o.head];
    const int json = o.json;
    const uint64_t threads = o.threads;
    openblas_set_num_threads((int)threads);
    const char *path = p.pos[0];
    us_sasrec_data *data;
    us_err err;
    /* Held from the start: a second trainer is refused now, not after its training. */
    us_store_lock *lock;
    if (us_store_lock_acquire(path, &lock, &err) != US_OK) return cli_fail(&err);
    if (us_sasrec_data_open(path, &data, &err) != US_OK) {
        us_store_lock_release(lock);
        return cli_fail(&err);
    }
    cJSON *out = json ? cJSON_CreateArray() : NULL;
    int rc = 0;
    if (strcmp(head, "next")) rc = train_one(path, data, US_SASREC_RATING, &o, json, out);
    if (!rc && strcmp(head, "rating")) rc = train_one(path, data, US_SASREC_NEXT, &o, json, out);
    us_sasrec_data_close(data);
    us_store_lock_release(lock);
    if (json && !rc) cli_print_json(out);
    else cJSON_Delete(out);
    return rc;
}
