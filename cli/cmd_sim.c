/* cmd_sim.c — the simulated-user commands: eval-sim (how real the users are) and play (a
 * person recommends items to one simulated user and sees each reaction and its reasons). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "cli/cli.h"
#include "env/env.h"
#include "simulator/simulator.h"

/* Options shared by the commands that open a us_sim: their settings begin with the config. */
static const char *const k_modes[] = {"majority", "weighted", "stochastic", "fitted", NULL};
static const char *const k_ties[] = {"random", "dislike", NULL};

/* --paper: the paper's reaction, keeping the options given before it. */
static void set_paper(void *s) {
    us_sim_config *cfg = s;
    us_sim_config p = us_sim_config_paper();
    cfg->mode = p.mode;
    cfg->choose = p.choose;
    cfg->judge_known = p.judge_known;
    cfg->dislike_side = p.dislike_side;
    cfg->use_collab = p.use_collab;
}

#define SIM_OPTS(T)                                                                            \
    {.name = "mode", .type = CLI_CHOICE, .off = offsetof(T, cfg.mode), .arg = "M",           \
     .choices = k_modes,                                                                      \
     .help = "the judge: fitted (a logistic model stacked on every part, fitted on the\n"     \
             "validation split), majority (2 of 3 votes, the paper), weighted, stochastic"},  \
    {.name = "paper", .type = CLI_CALL, .call = set_paper,                                    \
     .help = "the paper's reaction: majority vote, judge only, repeats judged again,\n"      \
             "the dislike side on cons keywords only, no collaborative parts"},              \
    {.name = "no-choose", .type = CLI_FLAG, .off = offsetof(T, cfg.choose), .set = 0,        \
     .help = "judge only: every recommended item is engaged with (the paper)"},              \
    {.name = "judge-known", .type = CLI_FLAG, .off = offsetof(T, cfg.judge_known), .set = 1, \
     .help = "items the user already met are judged again (default: no like)"},              \
    {.name = "no-collab", .type = CLI_FLAG, .off = offsetof(T, cfg.use_collab), .set = 0,    \
     .help = "leave the bias and matrix-factorization parts out of the fitted judge"},       \
    {.name = "tie", .type = CLI_CHOICE, .off = offsetof(T, cfg.tie), .arg = "T",             \
     .choices = k_ties, .help = "random (the paper) or dislike (the released code)"},        \
    {.name = "no-keyword", .type = CLI_FLAG, .off = offsetof(T, cfg.use[US_VOTE_KEYWORD]),   \
     .set = 0, .help = "leave out the keyword vote (and the need for its stage)"},           \
    {.name = "no-embed", .type = CLI_FLAG, .off = offsetof(T, cfg.use[US_VOTE_EMBED]),       \
     .set = 0, .help = "leave out the embedding vote (and the need for its stage)"},         \
    {.name = "no-sasrec", .type = CLI_FLAG, .off = offsetof(T, cfg.use[US_VOTE_SASREC]),     \
     .set = 0, .help = "leave out the SASRec vote"},                                         \
    {.name = "no-category", .type = CLI_FLAG, .off = offsetof(T, cfg.category_filter),       \
     .set = 0,                                                                                \
     .help = "match against the whole history, not the candidate's category first"},        \
    {.name = "calibrate", .type = CLI_FLAG, .off = offsetof(T, cfg.calibrate), .set = 1,     \
     .help = "fit each vote's threshold on the validation split so that the majority\n"      \
             "(weighted, stochastic) like rate there matches the real one (default: the\n"   \
             "paper's rule, keyword and embedding pros - cons > 0, SASRec P(like) >= 0.5)"}

/* ---- eval-sim ---- */

static const char eval_sim_usage[] =
    "usage: usersim eval-sim NAME.usdb [options]\n"
    "\n"
    "Measures how real the simulated users are on the store's held-out interactions: each\n"
    "part's, the paper's majority vote's and the judge's prediction of the test split next to\n"
    "four baselines, the decisions' AUC, whether users tell what they would choose (1:m\n"
    "discrimination), like-rate alignment per item and category, the like rate a random policy\n"
    "earns, and the policy check: random, constant, popular and greedy SASRec policies in the\n"
    "environment with its defaults, over the same users and random numbers.\n";

typedef struct eval_sim_settings {
    us_sim_config cfg; /* first: the shared options' --paper reads the settings as one */
    us_sim_eval_config ec;
    uint64_t episodes;
    int json;
} eval_sim_settings;

static void eval_sim_init(void *s) {
    *(eval_sim_settings *)s = (eval_sim_settings){
        .cfg = us_sim_config_default(), .ec = us_sim_eval_config_default(), .episodes = 500};
}

#define S(f) offsetof(eval_sim_settings, f)
static const cli_opt eval_sim_opts[] = {
    {.name = "truth", .type = CLI_STR, .off = S(ec.truth_path), .arg = "FILE",
     .help = "the synthetic generator's truth.csv: agreement with true preferences",
     .unset = "none"},
    {.name = "seed", .type = CLI_U64, .off = S(ec.seed), .arg = "N",
     .help = "ties, negatives, policies", .hi = 18446744073709551615.0},
    {.name = "random-steps", .type = CLI_U64, .off = S(ec.random_steps), .arg = "N",
     .help = "steps of the random policy (0 skips)", .hi = 18446744073709551615.0},
    {.name = "episodes", .type = CLI_U64, .off = S(episodes), .arg = "N",
     .help = "episodes of each policy in the policy check (0 skips)", .hi = 10000000},
    {.name = "json", .type = CLI_FLAG, .off = S(json), .set = 1, .flags = CLI_CMDLINE,
     .help = "print the report as JSON"},
    SIM_OPTS(eval_sim_settings),
    {0}};
#undef S

const cli_cmd cli_eval_sim = {"eval-sim", eval_sim_opts, eval_sim_init, eval_sim_usage, NULL, 0};

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
static const char *const MODE_NAMES[] = {"majority", "weighted", "stochastic", "fitted"};
static const char *const POLICY_NAMES[US_NPOLICIES] = {"random", "constant", "popular",
                                                        "sasrec-greedy"};

/* The thresholds the enabled votes decide with, what calibration saw (n = 0: none) and what
 * the fits at open found. */
typedef struct thresholds_in_use {
    us_sim_config cfg;
    float t[US_SIM_NVOTES];
    us_sim_calibration cal;
    us_sim_fits fits;
} thresholds_in_use;

static thresholds_in_use thresholds_of(const us_sim *sim) {
    thresholds_in_use th;
    th.cfg = *us_sim_config_of(sim);
    us_sim_thresholds(sim, th.t);
    us_sim_calibration_of(sim, &th.cal);
    us_sim_fits_of(sim, &th.fits);
    return th;
}

static void print_thresholds(const thresholds_in_use *th) {
    char b[32];
    printf("reaction: %s, judge %s%s; ", th->cfg.choose ? "choose then judge" : "judge only",
           MODE_NAMES[th->cfg.mode],
           th->cfg.judge_known ? ", repeats judged" : ", repeats earn nothing");
    if (th->cal.n)
        printf("vote thresholds calibrated on %s validation interactions (like rate %.3f):",
               cli_group(th->cal.n, b), th->cal.real_like_rate);
    else
        printf("vote thresholds:");
    int first = 1;
    for (int k = 0; k < US_SIM_NVOTES; k++) {
        if (!th->cfg.use[k]) continue;
        printf("%s %s %.4g", first ? "" : ",", VOTE_NAMES[k], (double)th->t[k]);
        first = 0;
        if (th->cal.n) printf(" (like rate %.3f)", th->cal.like_rate[k]);
    }
    if (th->cal.n) printf("; ensemble like rate %.3f", th->cal.ensemble_like_rate);
    printf("\n");
    if (th->fits.has_judge) {
        static const char *const part[US_SIM_NPARTS] = {"keyword", "embedding", "sasrec",
                                                         "bias",    "mf",        "category"};
        printf("fitted judge on %s validation interactions (log loss %.4f): intercept %.3f",
               cli_group(th->fits.n_valid, b), th->fits.judge_logloss, th->fits.judge_intercept);
        for (int j = 0; j < US_SIM_NPARTS; j++)
            if (th->fits.judge_coef[j] != 0) printf(", %s %.3f", part[j], th->fits.judge_coef[j]);
        printf("\n");
    }
    if (th->fits.has_engage) {
        static const char *const part[US_SIM_NENGAGE] = {"next-item logit", "log popularity",
                                                          "category share", "similarity"};
        printf("choosing on %s rows (log loss %.4f): intercept %.3f",
               cli_group(th->fits.engage_rows, b),
               th->fits.engage_logloss, th->fits.engage_intercept);
        for (int j = 0; j < US_SIM_NENGAGE; j++)
            if (th->fits.engage_coef[j] != 0) printf(", %s %.3f", part[j], th->fits.engage_coef[j]);
        printf("\n");
    }
}

static cJSON *report_json(const char *path, const us_sim_eval_report *r,
                          const thresholds_in_use *th, const us_policy_report *pol) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "store", path);
    cJSON_AddStringToObject(o, "judge", MODE_NAMES[th->cfg.mode]);
    cJSON_AddBoolToObject(o, "choose", th->cfg.choose);
    cJSON_AddNumberToObject(o, "n_test", (double)r->n_test);
    cJSON_AddNumberToObject(o, "real_like_rate", r->real_like_rate);
    cJSON_AddNumberToObject(o, "sim_like_rate", r->sim_like_rate);
    cJSON *tj = cJSON_AddObjectToObject(o, "thresholds");
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (th->cfg.use[k]) cJSON_AddNumberToObject(tj, VOTE_NAMES[k], (double)th->t[k]);
    if (th->cal.n) {
        cJSON *cj = cJSON_AddObjectToObject(o, "calibration");
        cJSON_AddNumberToObject(cj, "n_valid", (double)th->cal.n);
        cJSON_AddNumberToObject(cj, "real_like_rate", th->cal.real_like_rate);
        cJSON_AddNumberToObject(cj, "target_rate", th->cal.target_rate);
        cJSON_AddNumberToObject(cj, "ensemble_like_rate", th->cal.ensemble_like_rate);
        cJSON *lr = cJSON_AddObjectToObject(cj, "like_rate");
        for (int k = 0; k < US_SIM_NVOTES; k++)
            if (th->cfg.use[k]) cJSON_AddNumberToObject(lr, VOTE_NAMES[k], th->cal.like_rate[k]);
    }
    cJSON *comp = cJSON_AddObjectToObject(o, "components");
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (r->component[k].n)
            cJSON_AddItemToObject(comp, VOTE_NAMES[k], metrics_json(&r->component[k]));
    cJSON_AddItemToObject(o, "majority_vote", metrics_json(&r->majority));
    cJSON_AddItemToObject(o, "ensemble", metrics_json(&r->ensemble));
    cJSON *base = cJSON_AddObjectToObject(o, "baselines");
    cJSON_AddItemToObject(base, "user_item_bias", metrics_json(&r->bias));
    cJSON_AddItemToObject(base, "matrix_factorization", metrics_json(&r->mf));
    cJSON_AddItemToObject(base, "item_like_rate", metrics_json(&r->item_rate));
    cJSON_AddNumberToObject(base, "popularity_auc", r->popularity_auc);
    cJSON_AddBoolToObject(o, "collab_in_judge", r->collab_in_judge);
    cJSON *v = cJSON_AddObjectToObject(o, "verdict");
    cJSON_AddBoolToObject(v, "beats_every_part_and_baseline", r->beats_all);
    cJSON_AddStringToObject(v, "best_other", r->best_other);
    cJSON_AddNumberToObject(v, "best_other_auc", r->best_other_auc);
    cJSON *d = cJSON_AddObjectToObject(o, "decisions");
    cJSON_AddNumberToObject(d, "auc_single_draw", r->decision_auc);
    cJSON_AddNumberToObject(d, "auc_like_frequency", r->decision_freq_auc);
    cJSON_AddNumberToObject(d, "draws", r->decision_draws);
    if (r->has_choose) {
        cJSON *c = cJSON_AddObjectToObject(o, "choosing");
        cJSON_AddNumberToObject(c, "engage_auc", r->engage_auc);
        cJSON_AddNumberToObject(c, "mean_p_engage_test", r->engage_rate_test);
    }
    cJSON *disc = cJSON_AddObjectToObject(o, "discrimination");
    cJSON *pdisc = cJSON_AddObjectToObject(o, "popularity_discrimination");
    cJSON_AddNumberToObject(disc, "n", (double)r->n_discrimination);
    for (int j = 0; j < US_SIM_EVAL_NM; j++) {
        char key[16];
        snprintf(key, sizeof key, "1:%d", r->m[j]);
        cJSON_AddNumberToObject(disc, key, r->discrimination[j]);
        cJSON_AddNumberToObject(pdisc, key, r->popularity_discrimination[j]);
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
    cJSON_AddNumberToObject(rp, "engage_rate", r->random_engage_rate);
    if (r->has_truth) {
        cJSON *t = cJSON_AddObjectToObject(o, "truth");
        cJSON_AddNumberToObject(t, "n", (double)r->n_truth);
        cJSON_AddNumberToObject(t, "spearman_score_p_like", r->truth_spearman);
        cJSON_AddNumberToObject(t, "auc_p_like", r->truth_auc);
        cJSON_AddNumberToObject(t, "auc_score", r->truth_score_auc);
    }
    if (pol && pol->episodes) {
        cJSON *pj = cJSON_AddObjectToObject(o, "policies");
        cJSON_AddNumberToObject(pj, "episodes", (double)pol->episodes);
        for (int p = 0; p < US_NPOLICIES; p++) {
            if (p == US_POLICY_SASREC && !pol->has_sasrec) continue;
            cJSON *q = cJSON_AddObjectToObject(pj, POLICY_NAMES[p]);
            cJSON_AddNumberToObject(q, "mean_return", pol->mean_return[p]);
            cJSON_AddNumberToObject(q, "return_ci95", pol->return_ci[p]);
            cJSON_AddNumberToObject(q, "like_rate", pol->like_rate[p]);
            cJSON_AddNumberToObject(q, "mean_length", pol->mean_length[p]);
        }
        cJSON_AddBoolToObject(pj, "ordered", pol->ordered);
        cJSON_AddBoolToObject(pj, "constant_no_better_than_random", pol->constant_ok);
    }
    return o;
}

static void print_row(const char *name, const us_sim_metrics *m) {
    printf("  %-30s %6.3f %8.3f %9.3f %10.3f %7.3f %6.3f\n", name, m->auc, m->logloss,
           m->accuracy, m->precision, m->recall, m->f1);
}

static void print_report(const char *path, const us_sim_eval_report *r,
                         const thresholds_in_use *th, const us_policy_report *pol) {
    char b[32], e[1024];
    printf("eval-sim %s: %s test interactions; like rate real %.3f, simulated (the judge) %.3f\n",
           cli_escape(path, e, sizeof e), cli_group(r->n_test, b), r->real_like_rate,
           r->sim_like_rate);
    print_thresholds(th);
    printf("\nheld-out prediction                AUC  logloss  accuracy  precision  recall     F1\n");
    static const char *const rows[US_SIM_NVOTES] = {"keyword (pros - cons)",
                                                   "embedding (pros - cons)", "sasrec P(like)"};
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (r->component[k].n) print_row(rows[k], &r->component[k]);
    print_row(r->collab_in_judge ? "user+item bias (part)" : "baseline: user+item bias", &r->bias);
    print_row(r->collab_in_judge ? "matrix factorization (part)" : "baseline: matrix factorization",
              &r->mf);
    print_row("majority vote (the paper)", &r->majority);
    char name[64];
    snprintf(name, sizeof name, "judge in use: %s", MODE_NAMES[th->cfg.mode]);
    print_row(name, &r->ensemble);
    print_row("baseline: item like rate", &r->item_rate);
    printf("  %-30s %6.3f\n", "baseline: popularity", r->popularity_auc);
    printf("%s: the %s judge (AUC %.3f) %s every part and baseline (best of them: %s, %.3f)\n",
           r->beats_all ? "verdict" : "VERDICT", MODE_NAMES[th->cfg.mode], r->ensemble.auc,
           r->beats_all ? "beats" : "does NOT beat", r->best_other, r->best_other_auc);
    printf("decisions: AUC %.3f for one draw, %.3f for the like frequency over %d draws (score "
           "%.3f)\n",
           r->decision_auc, r->decision_freq_auc, r->decision_draws, r->ensemble.auc);
    if (r->has_choose)
        printf("choosing: AUC %.3f of p_engage, a test item against an unseen one; mean p_engage "
               "of test items %.3f\n",
               r->engage_auc, r->engage_rate_test);
    printf("\n1:m discrimination (%s liked test items, by %s):",
           cli_group(r->n_discrimination, b),
           r->has_choose ? "P(choose and like)" : "the judge's score");
    for (int j = 0; j < US_SIM_EVAL_NM; j++) printf("  1:%d %.3f", r->m[j], r->discrimination[j]);
    printf("\n  popularity:");
    for (int j = 0; j < US_SIM_EVAL_NM; j++)
        printf("  1:%d %.3f", r->m[j], r->popularity_discrimination[j]);
    printf("\nlike-rate alignment: items (%d) JSD %.4f bits, Spearman %.3f; categories (%d) JSD "
           "%.4f bits, Spearman %.3f\n",
           r->n_items_aligned, r->item_jsd, r->item_spearman, r->n_cats_aligned, r->cat_jsd,
           r->cat_spearman);
    printf("random policy: like rate %.3f (engaged %.3f) over %s steps; real like rate of logged "
           "interactions %.3f\n",
           r->random_like_rate, r->random_engage_rate, cli_group(r->random_steps, b),
           r->real_like_rate);
    if (r->has_truth)
        printf("truth (%s pairs): Spearman(score, p_like) %.3f; AUC of p_like %.3f, of the "
               "score %.3f\n",
               cli_group(r->n_truth, b), r->truth_spearman, r->truth_auc, r->truth_score_auc);
    if (pol && pol->episodes) {
        printf("\npolicy check (%s episodes each, same users and random numbers)\n",
               cli_group(pol->episodes, b));
        printf("  %-16s %14s %10s %11s\n", "policy", "return (95%)", "like/step", "length");
        for (int p = 0; p < US_NPOLICIES; p++) {
            if (p == US_POLICY_SASREC && !pol->has_sasrec) continue;
            printf("  %-16s %7.3f ±%5.3f %10.3f %11.2f\n", POLICY_NAMES[p], pol->mean_return[p],
                   pol->return_ci[p], pol->like_rate[p], pol->mean_length[p]);
        }
        printf("  random < popular%s in return: %s; constant no better than random: %s\n",
               pol->has_sasrec ? " < sasrec-greedy" : "", pol->ordered ? "yes" : "NO",
               pol->constant_ok ? "yes" : "NO");
    }
}

int cmd_eval_sim(int argc, char **argv) {
    eval_sim_settings o;
    cli_parsed p;
    int rc = cli_parse(&cli_eval_sim, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    if (p.npos != 1) return cli_usage_error("eval-sim", "%s", "expected one store path");
    us_sim_config cfg = o.cfg;
    us_sim_eval_config ec = o.ec;
    const uint64_t episodes = o.episodes;
    const int json = o.json;
    openblas_set_num_threads(1);
    const char *path = p.pos[0];
    us_err err;
    us_sim *sim;
    if (us_sim_open(&sim, path, &cfg, &err) != US_OK) return cli_fail(&err);
    us_sim_eval_report rep;
    us_policy_report pol;
    memset(&pol, 0, sizeof pol);
    us_status st = us_sim_evaluate(sim, path, &ec, &rep, &err);
    if (st == US_OK && episodes) {
        us_env_config envc = us_env_config_default();
        st = us_policy_check(sim, &envc, (int)episodes, ec.seed, &pol, &err);
    }
    const thresholds_in_use th = thresholds_of(sim);
    us_sim_close(sim);
    if (st != US_OK) return cli_fail(&err);
    if (json) cli_print_json(report_json(path, &rep, &th, &pol));
    else print_report(path, &rep, &th, &pol);
    return 0;
}

/* ---- play ---- */

static const char play_usage[] =
    "usage: usersim play NAME.usdb --user U [options]\n"
    "\n"
    "Recommend items to one simulated user and see each reaction and why. Reads one command per\n"
    "line from standard input (a prompt when it is a terminal); 'help' lists them: an item (its\n"
    "id in the dataset, or #N for the store's dense id N), 'search WORDS', 'top', 'history',\n"
    "'quit' (or the end of input).\n";

typedef struct play_settings {
    us_sim_config cfg; /* first: the shared options' --paper reads the settings as one */
    const char *user;
    uint64_t seed;
} play_settings;

static void play_init(void *s) {
    *(play_settings *)s = (play_settings){.cfg = us_sim_config_default(), .seed = 1};
}

static const cli_opt play_opts[] = {
    {.name = "user", .type = CLI_STR, .off = offsetof(play_settings, user), .arg = "U",
     .help = "the user (its id in the dataset, or #N)", .unset = "none: required"},
    {.name = "seed", .type = CLI_U64, .off = offsetof(play_settings, seed), .arg = "N",
     .help = "the generator for ties", .hi = 18446744073709551615.0},
    SIM_OPTS(play_settings),
    {0}};

const cli_cmd cli_play = {"play", play_opts, play_init, play_usage, NULL, 0};

static const char play_commands[] =
    "commands:\n"
    "  ID or #N         recommend the item with that id in the dataset (or the store's dense id\n"
    "                   N) and see the user's reaction and its reasons\n"
    "  search WORDS     items whose title holds every word (any case), 20 at most\n"
    "  top              the 10 items the user has not met with the highest P(like) (P(choose)\n"
    "                   times the judge's P(like))\n"
    "  history          the user's training history, then this session\n"
    "  help             this list\n"
    "  quit             stop (so does the end of input)\n";

enum { PLAY_SEARCH_HITS = 20, PLAY_TOP = 10, PLAY_SOURCES = 3, PLAY_WORDS = 16 };

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

/* s without its leading and trailing white space (cut in place). */
static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* 1 when needle occurs in hay, ASCII letters compared without case. */
static int contains_nocase(const char *hay, const char *needle) {
    const size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t k = 0;
        while (k < n && tolower((unsigned char)hay[k]) == tolower((unsigned char)needle[k])) k++;
        if (k == n) return 1;
    }
    return n == 0;
}

/* Item i as a person knows it: its title, or its raw id when it has none (escaped into buf). */
static const char *item_name(const us_sim *sim, int32_t i, char *buf, size_t size) {
    const char *t = us_sim_item_title(sim, i);
    return cli_escape(*t ? t : us_sim_item_raw(sim, i), buf, size);
}

static void print_keywords(const us_sim *sim, const uint32_t *ids, int n) {
    char e[1024];
    for (int k = 0; k < n; k++)
        printf("%s%s", k ? ", " : "", cli_escape(us_sim_keyword(sim, ids[k]), e, sizeof e));
    if (!n) printf("none");
}

/* 1 when k is in the ascending run ids[0..n). */
static int run_has(const uint32_t *ids, int n, uint32_t k) {
    int lo = 0, hi = n;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (ids[mid] < k) lo = mid + 1;
        else if (ids[mid] > k) hi = mid;
        else return 1;
    }
    return 0;
}

/* What one play session has seen: the user, their training history and the episode so far. */
typedef struct play_state {
    const us_sim *sim;
    int32_t u;
    const int32_t *hist;
    const int8_t *lab;
    int nh;
    const int32_t *ep_items;
    const int8_t *ep_likes;
    int steps;
} play_state;

/* The items the judge compared item with on one side (simulator.h, "L, D"): the liked (want 1)
 * or disliked (want 0) items of the history and the episode, those of item's category when
 * the configuration prefers them and there are any. Into out (nh + steps entries); returns
 * how many. */
static int judge_set(const play_state *ps, int32_t item, int want, int32_t *out) {
    const char *cat = us_sim_category(ps->sim, item);
    const int filter = us_sim_config_of(ps->sim)->category_filter && *cat;
    int n = 0, n_same = 0;
    for (int pass = filter ? 0 : 1; pass < 2 && !n_same; pass++) {
        n = 0;
        for (int t = 0; t < ps->nh + ps->steps; t++) {
            const int32_t j = t < ps->nh ? ps->hist[t] : ps->ep_items[t - ps->nh];
            const int lab = t < ps->nh ? ps->lab[t] : ps->ep_likes[t - ps->nh];
            if (lab != want) continue;
            if (pass == 0 && strcmp(us_sim_category(ps->sim, j), cat)) continue;
            out[n++] = j;
        }
        if (pass == 0) n_same = n;
    }
    return n;
}

/* For each matched keyword of one side, the items of set it came from (PLAY_SOURCES at most):
 * pros from the liked items' pros; cons from the disliked items' cons and, with the dislike
 * side, their pros (simulator.h, "keyword"). */
static void print_sources(const play_state *ps, const char *side, const uint32_t *matched,
                          int n_matched, const int32_t *set, int n_set) {
    const int cons = side[0] == 'c';
    const int also_pros = cons && us_sim_config_of(ps->sim)->dislike_side;
    char e1[1024], e2[1024];
    for (int m = 0; m < n_matched; m++) {
        const uint32_t k = matched[m];
        int seen = 0;
        for (int q = 0; q < m; q++) seen |= matched[q] == k;
        if (seen) continue;
        printf("      %s '%s' from", side,
               cli_escape(us_sim_keyword(ps->sim, k), e1, sizeof e1));
        int found = 0;
        for (int j = 0; j < n_set; j++) {
            const uint32_t *ids;
            int hit = run_has(ids, us_sim_item_keywords(ps->sim, set[j], cons, &ids), k);
            if (!hit && also_pros)
                hit = run_has(ids, us_sim_item_keywords(ps->sim, set[j], 0, &ids), k);
            if (!hit) continue;
            int dup = 0;
            for (int q = 0; q < j; q++) dup |= set[q] == set[j];
            if (dup) continue;
            if (found < PLAY_SOURCES)
                printf("%s #%d %s", found ? ";" : "", (int)set[j],
                       item_name(ps->sim, set[j], e2, sizeof e2));
            found++;
        }
        if (found > PLAY_SOURCES) printf("; and %d more", found - PLAY_SOURCES);
        printf("\n");
    }
}

static void play_history(const play_state *ps) {
    char e1[1024], e2[1024], e3[1024];
    for (int k = 0; k < ps->nh + ps->steps; k++) {
        const int32_t i = k < ps->nh ? ps->hist[k] : ps->ep_items[k - ps->nh];
        const int lab = k < ps->nh ? ps->lab[k] : ps->ep_likes[k - ps->nh];
        const char *title = us_sim_item_title(ps->sim, i), *cat = us_sim_category(ps->sim, i);
        printf("  %s #%-5d %-20s %s%s%s%s%s%s\n",
               lab == 1 ? "like   " : lab == 0 ? "dislike" : "-      ", (int)i,
               cli_escape(us_sim_item_raw(ps->sim, i), e1, sizeof e1),
               cli_escape(title, e2, sizeof e2), *title && *cat ? "  " : "", *cat ? "(" : "",
               cli_escape(cat, e3, sizeof e3), *cat ? ")" : "",
               k >= ps->nh ? "  (this session)" : "");
    }
}

/* The items whose title holds every word of words (white-space separated, any case). */
static void play_search(const us_sim *sim, char *words) {
    char *w[PLAY_WORDS];
    int nw = 0;
    for (char *t = strtok(words, " \t"); t && nw < PLAY_WORDS; t = strtok(NULL, " \t")) w[nw++] = t;
    if (!nw) {
        printf("usage: search WORDS (items whose title holds every word)\n");
        return;
    }
    int32_t hits[PLAY_SEARCH_HITS];
    int n = 0;
    for (int32_t i = 0; i < us_sim_n_items(sim); i++) {
        const char *title = us_sim_item_title(sim, i);
        int all = *title != '\0';
        for (int k = 0; k < nw && all; k++) all = contains_nocase(title, w[k]);
        if (!all) continue;
        if (n < PLAY_SEARCH_HITS) hits[n] = i;
        n++;
    }
    char e1[1024], e2[1024];
    if (!n) {
        printf("no title matches '");
        for (int k = 0; k < nw; k++) printf("%s%s", k ? " " : "", cli_escape(w[k], e1, sizeof e1));
        printf("'\n");
        return;
    }
    printf("%d item%s match%s%s:\n", n, n == 1 ? "" : "s", n == 1 ? "es" : "",
           n > PLAY_SEARCH_HITS ? " (the first 20 shown)" : "");
    for (int k = 0; k < n && k < PLAY_SEARCH_HITS; k++)
        printf("  #%d %s  %s\n", (int)hits[k],
               cli_escape(us_sim_item_raw(sim, hits[k]), e1, sizeof e1),
               cli_escape(us_sim_item_title(sim, hits[k]), e2, sizeof e2));
}

/* The PLAY_TOP items the user has met neither in training nor in this session with the
 * highest P(like) of the whole reaction (p_reward), each judged after the episode so far from
 * a copy of the session's generator (so asking changes no later reaction); ties by id. */
static void play_top(const play_state *ps, us_sim_worker *w, const us_rng *rng) {
    int32_t best[PLAY_TOP];
    us_sim_reaction r[PLAY_TOP], cand;
    int n = 0, unmet = 0;
    for (int32_t i = 0; i < us_sim_n_items(ps->sim); i++) {
        int met = us_sim_known(ps->sim, ps->u, i, NULL);
        for (int k = 0; k < ps->steps && !met; k++) met = ps->ep_items[k] == i;
        if (met) continue;
        unmet++;
        us_rng copy = *rng;
        us_sim_decide(ps->sim, w, ps->u, ps->ep_items, ps->ep_likes, ps->steps, i, &copy, &cand);
        int k = n < PLAY_TOP ? n++ : PLAY_TOP;
        while (k > 0 && r[k - 1].p_reward < cand.p_reward) {
            if (k < PLAY_TOP) best[k] = best[k - 1], r[k] = r[k - 1];
            k--;
        }
        if (k < PLAY_TOP) best[k] = i, r[k] = cand;
    }
    if (!n) {
        printf("the user has met every item\n");
        return;
    }
    printf("the %d likeliest of the %d items the user has not met, by P(like) = P(choose) x the "
           "judge's P(like):\n",
           n, unmet);
    char e1[1024], e2[1024];
    for (int k = 0; k < n; k++) {
        const char *title = us_sim_item_title(ps->sim, best[k]);
        printf("%3d. #%d %s  %s%sP(choose) %.3f, P(like) %.3f\n", k + 1, (int)best[k],
               cli_escape(us_sim_item_raw(ps->sim, best[k]), e1, sizeof e1),
               cli_escape(title, e2, sizeof e2), *title ? "  " : "", (double)r[k].p_engage,
               (double)r[k].p_reward);
    }
}

/* The reaction to item it (just judged: it is the episode's last item) and its reasons. */
static void play_answer(const play_state *ps, int32_t it, const us_sim_reaction *r,
                        int32_t *set) {
    const us_sim *sim = ps->sim;
    char e1[1024], e2[1024], e3[1024];
    const char *cat = *us_sim_category(sim, it) ? cli_escape(us_sim_category(sim, it), e1,
                                                             sizeof e1)
                                                : "no category";
    const char *raw = cli_escape(us_sim_item_raw(sim, it), e2, sizeof e2);
    const char *title = us_sim_item_title(sim, it);
    char named[1100];
    snprintf(named, sizeof named, "%s (%s)%s%s%s", raw, cat, *title ? " \"" : "",
             *title ? cli_escape(title, e3, sizeof e3) : "", *title ? "\"" : "");
    if (r->repeat && r->vote[US_VOTE_KEYWORD] < 0 && r->vote[US_VOTE_EMBED] < 0 &&
        r->vote[US_VOTE_SASREC] < 0) {
        printf("- %s: REPEAT, no like: %s\n", named,
               r->logged == 1   ? "the user rated it before: liked"
               : r->logged == 0 ? "the user rated it before: disliked"
                                : "already met (history or this session)");
        return;
    }
    printf("%s %s: %s  [P(choose) %.3f, judge P(like) %.3f, P(like) %.3f]\n",
           r->like ? "+" : "-", named, r->like ? "LIKE" : !r->engage ? "NOT CHOSEN" : "DISLIKE",
           (double)r->p_engage, (double)r->score, (double)r->p_reward);
    if (!r->engage)
        printf("    the user would not pick it; had they, the judge says %s\n",
               r->judged ? "like" : "dislike");
    if (r->repeat)
        printf("    a repeat, judged again (the user rated it before: %s)\n",
               r->logged == 1 ? "liked" : r->logged == 0 ? "disliked" : "no rating");
    if (r->vote[US_VOTE_KEYWORD] >= 0) {
        printf("    keywords  %-7s pros matched %d (",
               r->vote[US_VOTE_KEYWORD] ? "like" : "dislike", r->pros_matches);
        print_keywords(sim, r->matched_pros, r->n_matched_pros);
        printf("), cons matched %d (", r->cons_matches);
        print_keywords(sim, r->matched_cons, r->n_matched_cons);
        printf(")\n");
        /* the history the reaction was judged from: the episode before this item */
        play_state before = *ps;
        before.steps--;
        if (r->n_matched_pros)
            print_sources(&before, "pros", r->matched_pros, r->n_matched_pros, set,
                          judge_set(&before, it, 1, set));
        if (r->n_matched_cons)
            print_sources(&before, "cons", r->matched_cons, r->n_matched_cons, set,
                          judge_set(&before, it, 0, set));
    }
    if (r->vote[US_VOTE_EMBED] >= 0)
        printf("    embedding %-7s pros similarity %.3f, cons similarity %.3f\n",
               r->vote[US_VOTE_EMBED] ? "like" : "dislike", r->pros_sim, r->cons_sim);
    if (r->vote[US_VOTE_SASREC] >= 0)
        printf("    sasrec    %-7s P(like) %.3f\n", r->vote[US_VOTE_SASREC] ? "like" : "dislike",
               r->p_sasrec);
    if (!isnan(r->p_bias))
        printf("    collaborative    bias P(like) %.3f, matrix factorization P(like) %.3f\n",
               (double)r->p_bias, (double)r->p_mf);
}

int cmd_play(int argc, char **argv) {
    play_settings o;
    cli_parsed p;
    int rc = cli_parse(&cli_play, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    if (p.npos != 1) return cli_usage_error("play", "%s", "expected one store path");
    if (!o.user) return cli_usage_error("play", "%s", "--user is required");
    us_sim_config cfg = o.cfg;
    const char *user_arg = o.user;
    const uint64_t seed = o.seed;
    openblas_set_num_threads(1);
    const char *path = p.pos[0];
    us_err err;
    us_sim *sim;
    if (us_sim_open(&sim, path, &cfg, &err) != US_OK) return cli_fail(&err);
    /* every id, title, category, keyword and input echoed is escaped (cli_escape): they come
     * from files */
    char e1[1024], e2[1024];
    int32_t u = find_id(sim, user_arg, 0);
    if (u < 0) {
        fprintf(stderr, "usersim play: %s: no user '%s'\n", cli_escape(path, e1, sizeof e1),
                cli_escape(user_arg, e2, sizeof e2));
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
    play_state ps = {.sim = sim, .u = u, .ep_items = ep_items, .ep_likes = ep_likes};
    ps.nh = us_sim_history(sim, u, &ps.hist, &ps.lab);
    int32_t *set = malloc(((size_t)ps.nh + MAX_EPISODE) * sizeof *set);
    if (!set) {
        fprintf(stderr, "usersim play: out of memory\n");
        us_sim_worker_free(w);
        us_sim_close(sim);
        return 1;
    }
    us_rng rng = us_rng_derive(seed, (uint64_t)u);
    printf("user %s (#%d): %d items in the training history. Recommend an item (its id or #N); "
           "'help' lists the commands.\n",
           cli_escape(us_sim_user_raw(sim, u), e1, sizeof e1), u, ps.nh);
    const thresholds_in_use th = thresholds_of(sim);
    print_thresholds(&th);
    const int prompt = isatty(fileno(stdin));
    char buf[512];
    while (ps.steps < MAX_EPISODE) {
        if (prompt) fputs("usersim> ", stdout);
        fflush(stdout);
        if (!fgets(buf, sizeof buf, stdin)) break;
        char *line = trim(buf);
        if (!line[0]) continue;
        if (!strcmp(line, "quit")) break;
        if (!strcmp(line, "help")) {
            fputs(play_commands, stdout);
        } else if (!strcmp(line, "history")) {
            play_history(&ps);
        } else if (!strcmp(line, "top")) {
            play_top(&ps, w, &rng);
        } else if (!strncmp(line, "search", 6) && (!line[6] || isspace((unsigned char)line[6]))) {
            play_search(sim, line + 6);
        } else {
            int32_t it = find_id(sim, line, 1);
            if (it < 0) {
                printf("no item '%s' in %s; 'help' lists the commands\n",
                       cli_escape(line, e1, sizeof e1), cli_escape(path, e2, sizeof e2));
                continue;
            }
            us_sim_reaction r;
            us_sim_decide(sim, w, u, ep_items, ep_likes, ps.steps, it, &rng, &r);
            ep_items[ps.steps] = it;
            ep_likes[ps.steps] = (int8_t)r.like;
            ps.steps++;
            play_answer(&ps, it, &r, set);
        }
    }
    free(set);
    us_sim_worker_free(w);
    us_sim_close(sim);
    return 0;
}
