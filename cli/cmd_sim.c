/* cmd_sim.c — the simulated-user commands: eval-sim (how real the users are) and play (a
 * person recommends items to one simulated user and sees each reaction and its reasons). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli/cli.h"
#include "simulator/simulator.h"

/* Options shared by the commands that open a us_sim. */
static const char sim_options_help[] =
    "  --mode M         majority (default: 2 of 3 votes), weighted, stochastic\n"
    "  --tie T          random (default, the paper) or dislike (the released code)\n"
    "  --no-keyword     leave out the keyword vote (and the need for `usersim extract`)\n"
    "  --no-embed       leave out the embedding vote (and the need for `usersim embed`)\n"
    "  --no-sasrec      leave out the SASRec vote (and the need for `usersim train-sasrec`)\n"
    "  --no-category    match against the whole history, not the candidate's category first\n"
    "  --calibrate      fit each vote's threshold on the validation split so that its like rate\n"
    "                   there matches the real one (default: the paper's rule, keyword and\n"
    "                   embedding pros - cons > 0, SASRec P(like) >= 0.5)\n";

/* Applies one simulator option (c is its getopt code); 1 if it was one, 0 if not, -1 bad. */
static int sim_option(int c, const char *arg, us_sim_config *cfg) {
    switch (c) {
    case 'M':
        if (!strcmp(arg, "majority")) cfg->mode = US_SIM_MAJORITY;
        else if (!strcmp(arg, "weighted")) cfg->mode = US_SIM_WEIGHTED;
        else if (!strcmp(arg, "stochastic")) cfg->mode = US_SIM_STOCHASTIC;
        else return -1;
        return 1;
    case 'X':
        if (!strcmp(arg, "random")) cfg->tie = US_TIE_RANDOM;
        else if (!strcmp(arg, "dislike")) cfg->tie = US_TIE_DISLIKE;
        else return -1;
        return 1;
    case 'K': cfg->use[US_VOTE_KEYWORD] = 0; return 1;
    case 'E': cfg->use[US_VOTE_EMBED] = 0; return 1;
    case 'S': cfg->use[US_VOTE_SASREC] = 0; return 1;
    case 'C': cfg->category_filter = 0; return 1;
    case 'B': cfg->calibrate = 1; return 1;
    default: return 0;
    }
}

#define SIM_LONG_OPTIONS                                                                   \
    {"mode", 1, 0, 'M'}, {"tie", 1, 0, 'X'}, {"no-keyword", 0, 0, 'K'},                    \
        {"no-embed", 0, 0, 'E'}, {"no-sasrec", 0, 0, 'S'}, {"no-category", 0, 0, 'C'},    \
        {"calibrate", 0, 0, 'B'}

/* ---- eval-sim ---- */

static const char eval_sim_help_head[] =
    "usage: usersim eval-sim NAME.usdb [options]\n"
    "\n"
    "Measures how real the simulated users are on the store's held-out interactions: each\n"
    "component's and the ensemble's prediction of the test split, 1:m discrimination, like-rate\n"
    "alignment per item and category, and the like rate a random policy earns.\n"
    "\n"
    "options:\n"
    "  --truth FILE     the synthetic generator's truth.csv: agreement with true preferences\n"
    "  --seed N         ties, negatives, random policy (default 1)\n"
    "  --random-steps N steps of the random policy (default 20000; 0 skips)\n"
    "  --json           print the report as JSON\n";

static cJSON *metrics_json(const us_sim_metrics *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)m->n);
    cJSON_AddNumberToObject(o, "auc", m->auc);
    cJSON_AddNumberToObject(o, "logloss", m->logloss);
    cJSON_AddNumberToObject(o, "accuracy", m->accuracy);
    cJSON_AddNumberToObject(o, "precision", m->precision);
    cJSON_AddNumberToObject(o, "recall", m->recall);
    cJSON_AddNumberToObject(o, "f1", m->f1);
    return o;
}

static const char *const VOTE_NAMES[US_SIM_NVOTES] = {"keyword", "embedding", "sasrec"};

/* The thresholds the enabled votes decide with, and what calibration saw (n = 0: none). */
typedef struct thresholds_in_use {
    int use[US_SIM_NVOTES];
    float t[US_SIM_NVOTES];
    us_sim_calibration cal;
} thresholds_in_use;

static thresholds_in_use thresholds_of(const us_sim *sim) {
    thresholds_in_use th;
    for (int k = 0; k < US_SIM_NVOTES; k++) th.use[k] = us_sim_config_of(sim)->use[k];
    us_sim_thresholds(sim, th.t);
    us_sim_calibration_of(sim, &th.cal);
    return th;
}

static void print_thresholds(const thresholds_in_use *th) {
    char b[32];
    if (th->cal.n)
        printf("thresholds calibrated on %s validation interactions (like rate %.3f):",
               cli_group(th->cal.n, b), th->cal.real_like_rate);
    else
        printf("thresholds:");
    int first = 1;
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        if (!th->use[k]) continue;
        printf("%s %s %.4g", first ? "" : ",", VOTE_NAMES[k], (double)th->t[k]);
        first = 0;
        if (th->cal.n) printf(" (like rate %.3f)", th->cal.like_rate[k]);
    }
    if (th->cal.n) printf("; ensemble like rate %.3f", th->cal.ensemble_like_rate);
    printf("\n");
}

static cJSON *report_json(const char *path, const us_sim_eval_report *r,
                          const thresholds_in_use *th) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "store", path);
    cJSON_AddNumberToObject(o, "n_test", (double)r->n_test);
    cJSON_AddNumberToObject(o, "real_like_rate", r->real_like_rate);
    cJSON_AddNumberToObject(o, "sim_like_rate", r->sim_like_rate);
    cJSON *tj = cJSON_AddObjectToObject(o, "thresholds");
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (th->use[k]) cJSON_AddNumberToObject(tj, VOTE_NAMES[k], (double)th->t[k]);
    if (th->cal.n) {
        cJSON *cj = cJSON_AddObjectToObject(o, "calibration");
        cJSON_AddNumberToObject(cj, "n_valid", (double)th->cal.n);
        cJSON_AddNumberToObject(cj, "real_like_rate", th->cal.real_like_rate);
        cJSON_AddNumberToObject(cj, "target_rate", th->cal.target_rate);
        cJSON_AddNumberToObject(cj, "ensemble_like_rate", th->cal.ensemble_like_rate);
        cJSON *lr = cJSON_AddObjectToObject(cj, "like_rate");
        for (int k = 0; k < US_SIM_NVOTES; k++)
            if (th->use[k]) cJSON_AddNumberToObject(lr, VOTE_NAMES[k], th->cal.like_rate[k]);
    }
    cJSON *comp = cJSON_AddObjectToObject(o, "components");
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (r->component[k].n) cJSON_AddItemToObject(comp, VOTE_NAMES[k], metrics_json(&r->component[k]));
    cJSON_AddItemToObject(o, "ensemble", metrics_json(&r->ensemble));
    cJSON_AddItemToObject(o, "item_like_rate_baseline", metrics_json(&r->item_rate));
    cJSON_AddNumberToObject(o, "popularity_auc", r->popularity_auc);
    cJSON *disc = cJSON_AddObjectToObject(o, "discrimination");
    cJSON_AddNumberToObject(disc, "n", (double)r->n_discrimination);
    for (int j = 0; j < US_SIM_EVAL_NM; j++) {
        char key[16];
        snprintf(key, sizeof key, "1:%d", r->m[j]);
        cJSON_AddNumberToObject(disc, key, r->discrimination[j]);
    }
    cJSON *al = cJSON_AddObjectToObject(o, "alignment");
    cJSON_AddNumberToObject(al, "items", r->n_items_aligned);
    cJSON_AddNumberToObject(al, "item_jsd_bits", r->item_jsd);
    cJSON_AddNumberToObject(al, "item_spearman", r->item_spearman);
    cJSON_AddNumberToObject(al, "categories", r->n_cats_aligned);
    cJSON_AddNumberToObject(al, "category_jsd_bits", r->cat_jsd);
    cJSON_AddNumberToObject(al, "category_spearman", r->cat_spearman);
    cJSON *rp = cJSON_AddObjectToObject(o, "random_policy");
    cJSON_AddNumberToObject(rp, "steps", (double)r->random_steps);
    cJSON_AddNumberToObject(rp, "like_rate", r->random_like_rate);
    if (r->has_truth) {
        cJSON *t = cJSON_AddObjectToObject(o, "truth");
        cJSON_AddNumberToObject(t, "n", (double)r->n_truth);
        cJSON_AddNumberToObject(t, "spearman_score_p_like", r->truth_spearman);
        cJSON_AddNumberToObject(t, "auc_p_like", r->truth_auc);
        cJSON_AddNumberToObject(t, "auc_score", r->truth_score_auc);
    }
    return o;
}

static void print_row(const char *name, const us_sim_metrics *m) {
    printf("  %-26s %6.3f %8.3f %9.3f %10.3f %7.3f %6.3f\n", name, m->auc, m->logloss,
           m->accuracy, m->precision, m->recall, m->f1);
}

static void print_report(const char *path, const us_sim_eval_report *r,
                         const thresholds_in_use *th) {
    char b[32];
    printf("eval-sim %s: %s test interactions; like rate real %.3f, simulated %.3f\n", path,
           cli_group(r->n_test, b), r->real_like_rate, r->sim_like_rate);
    print_thresholds(th);
    printf("\nheld-out prediction            AUC  logloss  accuracy  precision  recall     F1\n");
    static const char *const rows[US_SIM_NVOTES] = {"keyword (pros - cons)",
                                                   "embedding (pros - cons)", "sasrec P(like)"};
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (r->component[k].n) print_row(rows[k], &r->component[k]);
    print_row("ensemble", &r->ensemble);
    print_row("baseline: item like rate", &r->item_rate);
    printf("  %-26s %6.3f\n", "baseline: popularity", r->popularity_auc);
    printf("\n1:m discrimination (%s liked test items):", cli_group(r->n_discrimination, b));
    for (int j = 0; j < US_SIM_EVAL_NM; j++) printf("  1:%d %.3f", r->m[j], r->discrimination[j]);
    printf("\nlike-rate alignment: items (%d) JSD %.4f bits, Spearman %.3f; categories (%d) JSD "
           "%.4f bits, Spearman %.3f\n",
           r->n_items_aligned, r->item_jsd, r->item_spearman, r->n_cats_aligned, r->cat_jsd,
           r->cat_spearman);
    printf("random policy: like rate %.3f over %s steps\n", r->random_like_rate,
           cli_group(r->random_steps, b));
    if (r->has_truth)
        printf("truth (%s pairs): Spearman(score, p_like) %.3f; AUC of p_like %.3f, of the "
               "score %.3f\n",
               cli_group(r->n_truth, b), r->truth_spearman, r->truth_auc, r->truth_score_auc);
}

int cmd_eval_sim(int argc, char **argv) {
    us_sim_config cfg = us_sim_config_default();
    us_sim_eval_config ec = us_sim_eval_config_default();
    int json = 0;
    static const struct option opts[] = {SIM_LONG_OPTIONS,
                                         {"truth", 1, 0, 't'},
                                         {"seed", 1, 0, 's'},
                                         {"random-steps", 1, 0, 'r'},
                                         {"json", 0, 0, 'j'},
                                         {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int got = sim_option(c, optarg, &cfg);
        if (got < 0) return cli_usage_error("eval-sim", "unknown value '%s'", optarg);
        if (got) continue;
        uint64_t v;
        switch (c) {
        case 't': ec.truth_path = optarg; break;
        case 's': case 'r':
            if (cli_parse_u64(optarg, &v) != 0)
                return cli_usage_error("eval-sim", "expected a non-negative integer, found '%s'",
                                       optarg);
            if (c == 's') ec.seed = v;
            else ec.random_steps = v;
            break;
        case 'j': json = 1; break;
        case 'h':
            fputs(eval_sim_help_head, stdout);
            fputs(sim_options_help, stdout);
            return 0;
        default: return cli_usage_error("eval-sim", "%s", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("eval-sim", "%s", "expected one store path");
    openblas_set_num_threads(1);
    const char *path = argv[optind];
    us_err err;
    us_sim *sim;
    if (us_sim_open(&sim, path, &cfg, &err) != US_OK) return cli_fail(&err);
    us_sim_eval_report rep;
    us_status st = us_sim_evaluate(sim, path, &ec, &rep, &err);
    const thresholds_in_use th = thresholds_of(sim);
    us_sim_close(sim);
    if (st != US_OK) return cli_fail(&err);
    if (json) cli_print_json(report_json(path, &rep, &th));
    else print_report(path, &rep, &th);
    return 0;
}

/* ---- play ---- */

static const char play_help_head[] =
    "usage: usersim play NAME.usdb --user U [options]\n"
    "\n"
    "Recommend items to one simulated user and see each reaction and why. Reads one item per\n"
    "line from standard input (its id in the dataset, or #N for the store's dense id N);\n"
    "'history' prints the user's training history, 'quit' or end of input stops.\n"
    "\n"
    "options:\n"
    "  --user U         the user (its id in the dataset, or #N); required\n"
    "  --seed N         the generator for ties (default 1)\n";

/* A dense id from "#N" or a raw id looked up by name (linear: play is interactive). */
static int32_t find_id(const us_sim *sim, const char *s, int items) {
    int n = items ? us_sim_n_items(sim) : us_sim_n_users(sim);
    if (s[0] == '#') {
        char *end;
        long v = strtol(s + 1, &end, 10);
        return *end || v < 0 || v >= n ? -1 : (int32_t)v;
    }
    for (int32_t i = 0; i < n; i++)
        if (!strcmp(items ? us_sim_item_raw(sim, i) : us_sim_user_raw(sim, i), s)) return i;
    return -1;
}

static void print_keywords(const us_sim *sim, const uint32_t *ids, int n) {
    for (int k = 0; k < n; k++) printf("%s%s", k ? ", " : "", us_sim_keyword(sim, ids[k]));
    if (!n) printf("none");
}

int cmd_play(int argc, char **argv) {
    us_sim_config cfg = us_sim_config_default();
    const char *user_arg = NULL;
    uint64_t seed = 1;
    static const struct option opts[] = {SIM_LONG_OPTIONS, {"user", 1, 0, 'u'},
                                         {"seed", 1, 0, 's'}, {"help", 0, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int got = sim_option(c, optarg, &cfg);
        if (got < 0) return cli_usage_error("play", "unknown value '%s'", optarg);
        if (got) continue;
        switch (c) {
        case 'u': user_arg = optarg; break;
        case 's':
            if (cli_parse_u64(optarg, &seed) != 0)
                return cli_usage_error("play", "expected a non-negative integer, found '%s'",
                                       optarg);
            break;
        case 'h':
            fputs(play_help_head, stdout);
            fputs(sim_options_help, stdout);
            return 0;
        default: return cli_usage_error("play", "%s", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("play", "%s", "expected one store path");
    if (!user_arg) return cli_usage_error("play", "%s", "--user is required");
    openblas_set_num_threads(1);
    const char *path = argv[optind];
    us_err err;
    us_sim *sim;
    if (us_sim_open(&sim, path, &cfg, &err) != US_OK) return cli_fail(&err);
    int32_t u = find_id(sim, user_arg, 0);
    if (u < 0) {
        fprintf(stderr, "usersim play: %s: no user '%s'\n", path, user_arg);
        us_sim_close(sim);
        return 1;
    }
    enum { MAX_EPISODE = 1000 };
    us_sim_worker *w;
    if (us_sim_worker_init(&w, sim, MAX_EPISODE, &err) != US_OK) {
        us_sim_close(sim);
        return cli_fail(&err);
    }
    int32_t ep_items[MAX_EPISODE];
    int8_t ep_likes[MAX_EPISODE];
    int steps = 0;
    us_rng rng = us_rng_derive(seed, (uint64_t)u);
    const int32_t *hist;
    const int8_t *lab;
    int nh = us_sim_history(sim, u, &hist, &lab);
    printf("user %s (#%d): %d items in the training history. Recommend an item (its id), "
           "'history' or 'quit'.\n",
           us_sim_user_raw(sim, u), u, nh);
    const thresholds_in_use th = thresholds_of(sim);
    print_thresholds(&th);
    char line[512];
    while (steps < MAX_EPISODE && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        if (!strcmp(line, "quit")) break;
        if (!strcmp(line, "history")) {
            for (int k = 0; k < nh; k++)
                printf("  %s %-20s %s\n", lab[k] == 1 ? "like   " : lab[k] == 0 ? "dislike" : "-      ",
                       us_sim_item_raw(sim, hist[k]), us_sim_category(sim, hist[k]));
            for (int k = 0; k < steps; k++)
                printf("  %s %-20s (this session)\n", ep_likes[k] ? "like   " : "dislike",
                       us_sim_item_raw(sim, ep_items[k]));
            continue;
        }
        int32_t it = find_id(sim, line, 1);
        if (it < 0) {
            printf("no item '%s' in %s\n", line, path);
            continue;
        }
        us_sim_reaction r;
        us_sim_decide(sim, w, u, ep_items, ep_likes, steps, it, &rng, &r);
        ep_items[steps] = it;
        ep_likes[steps] = (int8_t)r.like;
        steps++;
        printf("%s %s (%s): %s  [score %.3f]\n", r.like ? "+" : "-", us_sim_item_raw(sim, it),
               *us_sim_category(sim, it) ? us_sim_category(sim, it) : "no category",
               r.like ? "LIKE" : "DISLIKE", r.score);
        if (r.vote[US_VOTE_KEYWORD] >= 0) {
            printf("    keywords  %-7s pros matched %d (", r.vote[US_VOTE_KEYWORD] ? "like" : "dislike",
                   r.pros_matches);
            print_keywords(sim, r.matched_pros, r.n_matched_pros);
            printf("), cons matched %d (", r.cons_matches);
            print_keywords(sim, r.matched_cons, r.n_matched_cons);
            printf(")\n");
        }
        if (r.vote[US_VOTE_EMBED] >= 0)
            printf("    embedding %-7s pros similarity %.3f, cons similarity %.3f\n",
                   r.vote[US_VOTE_EMBED] ? "like" : "dislike", r.pros_sim, r.cons_sim);
        if (r.vote[US_VOTE_SASREC] >= 0)
            printf("    sasrec    %-7s P(like) %.3f\n", r.vote[US_VOTE_SASREC] ? "like" : "dislike",
                   r.p_sasrec);
        fflush(stdout);
    }
    us_sim_worker_free(w);
    us_sim_close(sim);
    return 0;
}
