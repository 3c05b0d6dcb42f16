/* cmd_sasrec.c — train-sasrec: trains the statistical user model and saves it into the store. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli/cli.h"
#include "datasets/datasets.h"
#include "simulator/sasrec/sasrec.h"

/* ---- train-sasrec ---- */

static const char train_sasrec_help[] =
    "usage: usersim train-sasrec NAME.usdb [--head rating|next|both] [--preset simulator|paper]\n"
    "                            [--dataset ml-1m|beauty|games|steam] [--d N] [--blocks N] [--heads N] [--max-len N]\n"
    "                            [--dropout X] [--lr X] [--weight-decay X] [--batch N]\n"
    "                            [--epochs N] [--patience N] [--seed N] [--threads N] [--json]\n"
    "\n"
    "Trains SASRec on the store's training split, keeps the epoch with the best validation\n"
    "metric, and saves it into the store as a new checkpoint (table sasrec_checkpoint).\n"
    "  --head rating   P(like | user, history, item), the simulator's model (default)\n"
    "  --head next     the next item from the history (the original SASRec)\n"
    "  --head both     one after the other, two checkpoints\n"
    "  --preset        simulator (d 32, 2 blocks, T 2, lr 0.01; default for rating) or\n"
    "                  paper (d 50, 2 blocks, dropout 0.2, lr 0.001, T 50, or 200 with\n"
    "                  --dataset ml-1m; default for next)\n"
    "  --threads N     training threads (data-parallel over each batch; default 1).\n"
    "                  Results are bit-identical for the same seed and the same thread\n"
    "                  count.\n"
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
static const char known_datasets[] = "ml-1m, beauty, games, steam";

static int known_dataset(const char *name) {
    static const char *const names[] = {"ml-1m", "beauty", "games", "steam"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) return 1;
    }
    return 0;
}

/* One head: preset, overrides, fit to the data, train, save. */
typedef struct sasrec_overrides {
    const char *preset, *dataset;
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

int cmd_train_sasrec(int argc, char **argv) {
    sasrec_overrides o = {.d = -1, .blocks = -1, .heads = -1, .max_len = -1, .batch = -1,
                          .epochs = -1, .patience = -1, .dropout = -1, .lr = -1,
                          .weight_decay = -1};
    const char *head = "rating";
    int json = 0;
    uint64_t threads = 1;
    static const struct option opts[] = {
        {"head", 1, 0, 'H'},     {"preset", 1, 0, 'p'},       {"dataset", 1, 0, 'D'},
        {"d", 1, 0, 'd'},        {"blocks", 1, 0, 'b'},       {"heads", 1, 0, 'n'},
        {"max-len", 1, 0, 'T'},  {"batch", 1, 0, 'B'},        {"epochs", 1, 0, 'e'},
        {"patience", 1, 0, 'P'}, {"dropout", 1, 0, 'r'},      {"lr", 1, 0, 'l'},
        {"weight-decay", 1, 0, 'w'}, {"seed", 1, 0, 's'},     {"threads", 1, 0, 't'},
        {"json", 0, 0, 'j'},     {"help", 0, 0, 'h'},         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint64_t v;
        char *end;
        double x;
        switch (c) {
        case 'H': head = optarg; break;
        case 'p': o.preset = optarg; break;
        case 'D':
            if (!known_dataset(optarg)) {
                char msg[256];
                snprintf(msg, sizeof msg,
                         "--dataset: expected one of %s (the paper's datasets), found \"%s\"",
                         known_datasets, optarg);
                return cli_usage_error("train-sasrec", "%s", msg);
            }
            o.dataset = optarg;
            break;
        case 'd': case 'b': case 'n': case 'T': case 'B': case 'e': case 'P': case 's':
        case 't':
            if (cli_parse_u64(optarg, &v) != 0 || (c != 's' && v > 1000000))
                return cli_usage_error("train-sasrec", "expected a non-negative integer, found '%s'",
                                   optarg);
            if (c == 'd') o.d = (long)v;
            if (c == 'b') o.blocks = (long)v;
            if (c == 'n') o.heads = (long)v;
            if (c == 'T') o.max_len = (long)v;
            if (c == 'B') o.batch = (long)v;
            if (c == 'e') o.epochs = (long)v;
            if (c == 'P') o.patience = (long)v;
            if (c == 's') o.seed = v, o.have_seed = 1;
            if (c == 't') threads = v;
            break;
        case 'r': case 'l': case 'w':
            x = strtod(optarg, &end);
            if (*end || !isfinite(x) || x < 0)
                return cli_usage_error("train-sasrec", "expected a non-negative number, found '%s'",
                                   optarg);
            if (c == 'r') o.dropout = x;
            if (c == 'l') o.lr = x;
            if (c == 'w') o.weight_decay = x;
            break;
        case 'j': json = 1; break;
        case 'h': fputs(train_sasrec_help, stdout); return 0;
        default: return cli_usage_error("train-sasrec", "%s", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("train-sasrec", "%s", "expected one store path");
    if (strcmp(head, "rating") && strcmp(head, "next") && strcmp(head, "both"))
        return cli_usage_error("train-sasrec", "--head: expected rating, next or both, found '%s'",
                           head);
    if (threads < 1 || threads > 256)
        return cli_usage_error("train-sasrec", "%s", "--threads: expected 1 to 256");
    openblas_set_num_threads((int)threads);
    const char *path = argv[optind];
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
