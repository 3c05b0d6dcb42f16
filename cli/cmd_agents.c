/* cmd_agents.c — `usersim eval` (policies side by side against the same simulated users) and
 * `usersim ab` (a simulated A/B test of two policies). A policy is a baseline's name or a
 * training run's directory (agents.h, us_policy_open). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "cli/cli.h"

static const char eval_usage[] =
    "usage: usersim eval NAME.usdb [--policy P]... [options]\n"
    "\n"
    "Runs each policy against the store's simulated users and prints its figures side by side.\n"
    "Every policy meets the same users with the same random numbers (common random numbers),\n"
    "so differences between rows come from the recommendations alone. A policy is random,\n"
    "popular (most liked in the training split), sasrec (the store's next-item head, greedy),\n"
    "egreedy:EPS (sasrec, a random item with probability EPS), oracle (the simulated user's\n"
    "own like probability: the ceiling), or a training run's directory (usersim train --out).\n"
    "Every policy recommends only items the user has not met.\n";

static const char ab_usage[] =
    "usage: usersim ab NAME.usdb --a POLICY --b POLICY [options]\n"
    "\n"
    "A simulated A/B test: both arms meet the same users with the same random numbers, so the\n"
    "difference is paired user by user. Prints each arm's like rate, return and session\n"
    "length, the difference (B - A) with its 95% interval, the relative lift, a p-value, and\n"
    "how many users per arm a live test would need to detect the observed difference at 80%\n"
    "power (5% two-sided). Policies as in usersim eval --help.\n";

static const char definitions[] =
    "avg reward: mean over users of likes per recommendation in their session; total reward:\n"
    "mean likes per session (the return); liking%: all likes / all recommendations, pooled;\n"
    "length: mean recommendations per session (users leave as they tire); coverage%: distinct\n"
    "items recommended / catalogue; novelty%: mean over users of the share of recommendations\n"
    "outside the categories of their training history. ± is a 95% interval over users\n"
    "(coverage's by bootstrap).\n";

#define MAX_POLICIES 32

/* What eval and ab share: the store, the world and the users. */
typedef struct world {
    const char *store;
    us_eval_config ec;
    int all_users;
    double holdout;
    int json;
    cli_list policies; /* eval */
    const char *a, *b; /* ab */
} world;

static const char *const k_populations[] = {"heldout", "all", NULL};

static void eval_init(void *s) {
    *(world *)s = (world){.ec = us_eval_config_default(), .holdout = 0.1};
}

static void ab_init(void *s) {
    eval_init(s);
    ((world *)s)->ec.episodes = 1000;
}

#define S(f) offsetof(world, f)
#define WORLD_OPTS                                                                              \
    {.name = "seed", .type = CLI_U64, .off = S(ec.seed), .arg = "N",                          \
     .help = "the world's seed: users and reactions", .hi = 18446744073709551615.0},          \
    {.name = "population", .type = CLI_CHOICE, .off = S(all_users), .arg = "WHO",             \
     .choices = k_populations,                                                                 \
     .help = "heldout: the users usersim train holds out (the share --holdout); all:\n"        \
             "every user"},                                                                    \
    {.name = "holdout", .type = CLI_DOUBLE, .off = S(holdout), .arg = "X",                    \
     .help = "the held-out share, as given to usersim train", .lo = 0, .hi = 1,              \
     .flags = CLI_OPEN_LO | CLI_OPEN_HI},                                                      \
    {.name = "max-steps", .type = CLI_INT, .off = S(ec.env.max_steps), .arg = "N",            \
     .help = "steps per session before it is cut", .lo = 1, .hi = 1024},                     \
    {.name = "threads", .type = CLI_INT, .off = S(ec.threads), .arg = "N",                    \
     .help = "threads stepping the sessions (results do not change)", .lo = 1, .hi = 1024},  \
    {.name = "json", .type = CLI_FLAG, .off = S(json), .set = 1, .flags = CLI_CMDLINE,        \
     .help = "print the results as JSON"}

static const cli_opt eval_opts[] = {
    {.name = "policy", .type = CLI_LIST, .off = S(policies), .arg = "P",
     .help = "a policy to evaluate (repeat it; in a file, one per line)",
     .unset = "random, popular, sasrec"},
    {.name = "episodes", .type = CLI_INT, .off = S(ec.episodes), .arg = "N",
     .help = "simulated users, one session each", .lo = 1, .hi = 100000000},
    WORLD_OPTS, {0}};

static const cli_opt ab_opts[] = {
    {.name = "a", .type = CLI_STR, .off = S(a), .arg = "P", .help = "arm A's policy",
     .unset = "none: required"},
    {.name = "b", .type = CLI_STR, .off = S(b), .arg = "P", .help = "arm B's policy",
     .unset = "none: required"},
    {.name = "users", .type = CLI_INT, .off = S(ec.episodes), .arg = "N",
     .help = "simulated users", .lo = 2, .hi = 100000000},
    WORLD_OPTS, {0}};
#undef S

const cli_cmd cli_eval = {"eval", eval_opts, eval_init, eval_usage, NULL, 0};
const cli_cmd cli_ab = {"ab", ab_opts, ab_init, ab_usage, NULL, 0};
_Static_assert(sizeof(world) <= CLI_SETTINGS_MAX, "cli_print_help's buffer");

/* Parses argv for eval or ab into w; -1 to go on, else the exit code. */
static int world_parse(const cli_cmd *cmd, int argc, char **argv, world *w) {
    cli_parsed p;
    int rc = cli_parse(cmd, argc, argv, w, &p);
    if (rc >= 0) return rc;
    if (p.npos > 1) return cli_usage_error(cmd->name, "more than one store: %s", p.pos[1]);
    if (!p.npos) return cli_usage_error(cmd->name, "a store is needed%s", "");
    w->store = p.pos[0];
    return -1;
}

/* The evaluation users of w into ec (freed by the caller with free(*held)). */
static int world_users(world *w, const us_sim *sim, int32_t **held) {
    *held = NULL;
    if (w->all_users) return 0;
    const int nu = us_sim_n_users(sim);
    int32_t *h = malloc((size_t)nu * sizeof *h), *kept = malloc((size_t)nu * sizeof *kept);
    if (!h || !kept) {
        free(h);
        free(kept);
        fprintf(stderr, "usersim: error: out of memory\n");
        return 1;
    }
    int nh, nk;
    us_agent_split_users(nu, w->holdout, h, &nh, kept, &nk);
    free(kept);
    w->ec.users = h;
    w->ec.n_users = nh;
    *held = h;
    return 0;
}

static cJSON *metric_json(us_metric m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "mean", m.mean);
    cJSON_AddNumberToObject(o, "ci95", m.ci);
    return o;
}

/* "12.34 ±0.56" into buf. */
static const char *fmt_metric(us_metric m, int decimals, char *buf, size_t size) {
    snprintf(buf, size, "%.*f ±%.*f", decimals, m.mean, decimals, m.ci);
    return buf;
}

int cmd_eval(int argc, char **argv) {
    world w;
    int rc = world_parse(&cli_eval, argc, argv, &w);
    if (rc >= 0) return rc;
    rc = 0;
    const char *names[MAX_POLICIES];
    int n_pol = w.policies.n;
    for (int k = 0; k < n_pol; k++) names[k] = w.policies.v[k];
    if (n_pol == 0) {
        names[n_pol++] = "random";
        names[n_pol++] = "popular";
        names[n_pol++] = "sasrec";
    }
    us_err err;
    us_sim_config sc = us_sim_config_default();
    us_sim *sim;
    if (us_sim_open(&sim, w.store, &sc, &err) != US_OK) return cli_fail(&err);
    int32_t *held;
    if (world_users(&w, sim, &held) != 0) {
        us_sim_close(sim);
        return 1;
    }
    us_eval_result *res = calloc((size_t)n_pol, sizeof *res);
    for (int p = 0; res && p < n_pol && rc == 0; p++) {
        us_agent_policy pol;
        if (us_policy_open(&pol, sim, names[p], &err) != US_OK ||
            us_eval(sim, &pol, &w.ec, &res[p], NULL, NULL, &err) != US_OK)
            rc = cli_fail(&err);
        /* the row is named as the user named the policy */
        snprintf(res[p].policy, sizeof res[p].policy, "%s", names[p]);
        us_agent_policy_free(&pol);
    }
    if (!res) rc = 1, fprintf(stderr, "usersim: error: out of memory\n");
    if (rc == 0 && w.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "store", w.store);
        cJSON_AddNumberToObject(o, "episodes", w.ec.episodes);
        cJSON_AddNumberToObject(o, "seed", (double)w.ec.seed);
        cJSON_AddStringToObject(o, "population", w.all_users ? "all" : "heldout");
        cJSON_AddNumberToObject(o, "max_steps", w.ec.env.max_steps);
        cJSON *arr = cJSON_AddArrayToObject(o, "policies");
        for (int p = 0; p < n_pol; p++) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "policy", res[p].policy);
            cJSON_AddItemToObject(r, "avg_reward", metric_json(res[p].avg_reward));
            cJSON_AddItemToObject(r, "total_reward", metric_json(res[p].total_reward));
            cJSON_AddItemToObject(r, "liking_pct", metric_json(res[p].liking));
            cJSON_AddItemToObject(r, "length", metric_json(res[p].length));
            cJSON_AddItemToObject(r, "coverage_pct", metric_json(res[p].coverage));
            cJSON_AddItemToObject(r, "novelty_pct", metric_json(res[p].novelty));
            cJSON_AddItemToArray(arr, r);
        }
        cli_print_json(o);
    } else if (rc == 0) {
        char b[6][40], e[200];
        printf("%d sessions per policy, %s users, seed %llu, at most %d steps each\n\n",
               w.ec.episodes, w.all_users ? "all" : "held-out", (unsigned long long)w.ec.seed,
               w.ec.env.max_steps);
        printf("%-24s %14s %14s %14s %14s %14s %14s\n", "policy", "avg reward", "total reward",
               "liking%", "length", "coverage%", "novelty%");
        for (int p = 0; p < n_pol; p++)
            printf("%-24s %14s %14s %14s %14s %14s %14s\n",
                   cli_escape(res[p].policy, e, 25), fmt_metric(res[p].avg_reward, 3, b[0], 40),
                   fmt_metric(res[p].total_reward, 2, b[1], 40),
                   fmt_metric(res[p].liking, 1, b[2], 40), fmt_metric(res[p].length, 1, b[3], 40),
                   fmt_metric(res[p].coverage, 1, b[4], 40),
                   fmt_metric(res[p].novelty, 1, b[5], 40));
        printf("\n%s", definitions);
    }
    free(res);
    free(held);
    us_sim_close(sim);
    return rc;
}

int cmd_ab(int argc, char **argv) {
    world w;
    int rc = world_parse(&cli_ab, argc, argv, &w);
    if (rc >= 0) return rc;
    rc = 0;
    const char *pa = w.a, *pb = w.b;
    if (!pa || !pb) return cli_usage_error("ab", "both --a and --b are needed%s", "");
    us_err err;
    us_sim_config sc = us_sim_config_default();
    us_sim *sim;
    if (us_sim_open(&sim, w.store, &sc, &err) != US_OK) return cli_fail(&err);
    int32_t *held;
    if (world_users(&w, sim, &held) != 0) {
        us_sim_close(sim);
        return 1;
    }
    us_agent_policy a = {0}, b = {0};
    us_ab_result r;
    if (us_policy_open(&a, sim, pa, &err) != US_OK || us_policy_open(&b, sim, pb, &err) != US_OK ||
        us_ab(sim, &a, &b, &w.ec, &r, &err) != US_OK)
        rc = cli_fail(&err);
    us_agent_policy_free(&a);
    us_agent_policy_free(&b);
    if (rc == 0 && w.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "store", w.store);
        cJSON_AddStringToObject(o, "a", pa);
        cJSON_AddStringToObject(o, "b", pb);
        cJSON_AddNumberToObject(o, "users", r.users);
        cJSON_AddNumberToObject(o, "seed", (double)w.ec.seed);
        const us_ab_arm *arms[2] = {&r.a, &r.b};
        for (int k = 0; k < 2; k++) {
            cJSON *x = cJSON_AddObjectToObject(o, k ? "arm_b" : "arm_a");
            cJSON_AddItemToObject(x, "like_rate", metric_json(arms[k]->like_rate));
            cJSON_AddItemToObject(x, "return", metric_json(arms[k]->ret));
            cJSON_AddItemToObject(x, "length", metric_json(arms[k]->length));
        }
        cJSON *d = cJSON_AddObjectToObject(o, "b_minus_a");
        cJSON_AddItemToObject(d, "like_rate", metric_json(r.diff_like_rate));
        cJSON_AddItemToObject(d, "return", metric_json(r.diff_return));
        cJSON_AddItemToObject(d, "length", metric_json(r.diff_length));
        if (isfinite(r.lift)) cJSON_AddNumberToObject(o, "lift", r.lift);
        else cJSON_AddNullToObject(o, "lift");
        cJSON_AddNumberToObject(o, "p_value", r.p_value);
        if (isfinite(r.users_needed)) cJSON_AddNumberToObject(o, "users_needed", r.users_needed);
        else cJSON_AddNullToObject(o, "users_needed");
        cli_print_json(o);
    } else if (rc == 0) {
        char e1[200], e2[200], b1[40], b2[40], b3[40];
        printf("A = %s, B = %s; %d %s users each, the same users and random numbers in both "
               "arms\n\n", cli_escape(pa, e1, sizeof e1), cli_escape(pb, e2, sizeof e2),
               r.users, w.all_users ? "" : "held-out");
        printf("%-12s %18s %18s %18s\n", "", "like rate%", "return", "session length");
        const us_ab_arm *arms[2] = {&r.a, &r.b};
        for (int k = 0; k < 2; k++) {
            us_metric lr = {100 * arms[k]->like_rate.mean, 100 * arms[k]->like_rate.ci};
            printf("%-12s %18s %18s %18s\n", k ? "B" : "A", fmt_metric(lr, 2, b1, 40),
                   fmt_metric(arms[k]->ret, 3, b2, 40), fmt_metric(arms[k]->length, 2, b3, 40));
        }
        us_metric dlr = {100 * r.diff_like_rate.mean, 100 * r.diff_like_rate.ci};
        printf("%-12s %18s %18s %18s\n", "B - A", fmt_metric(dlr, 2, b1, 40),
               fmt_metric(r.diff_return, 3, b2, 40), fmt_metric(r.diff_length, 2, b3, 40));
        printf("\nlift of the return: %+.1f%%; p = %.3g (paired, two-sided)\n",
               100 * r.lift, r.p_value);
        if (isfinite(r.users_needed))
            printf("users per arm to detect this difference at 80%% power (5%% two-sided): "
                   "%.0f\n", ceil(r.users_needed));
        else
            printf("users per arm to detect this difference: none could (no difference)\n");
        printf("\n± is a 95%% interval; differences are paired by user. Like rate: likes / "
               "recommendations, pooled.\n");
    }
    free(held);
    us_sim_close(sim);
    return rc;
}
