/* cmd_train.c — `usersim train`: trains an RL recommender (agents/) against a store's simulated
 * users into a run directory. The agent's own hyperparameters are options too (--NAME VALUE),
 * listed with their defaults by `usersim train --agent X --help`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "cli/cli.h"

static const char train_usage[] =
    "usage: usersim train NAME.usdb --agent dqn|a2c|ppo|trpo --out RUN [options]\n"
    "\n"
    "Trains a recommender against the store's simulated users (choose, then judge; they leave\n"
    "as their satisfaction falls). Users are split once: a share is held out, and the greedy\n"
    "policy (the best-scoring item the user has not met) is evaluated on them periodically.\n"
    "RUN receives config.json, curve.csv (the learning curve: steps, the evaluation's return\n"
    "and its 95% interval, the training return, the algorithm's diagnostics) and\n"
    "checkpoint.bin (after every evaluation; `usersim eval --policy RUN` uses it).\n"
    "The same seed gives the same curve, bit for bit, whatever --threads says.\n";

static const char train_tail[] =
    "  --NAME VALUE     any hyperparameter of the agent (--agent X --help lists them); in a\n"
    "                   settings file, section [train.X] (usersim config --defaults lists them)\n";

typedef struct train_settings {
    us_train_config cfg;
    int agent, json; /* agent: an index into us_agent_names; -1: none */
} train_settings;

static void train_init(void *s) {
    *(train_settings *)s = (train_settings){.cfg = us_train_config_default(), .agent = -1};
}

#define S(f) offsetof(train_settings, f)
static const cli_opt train_opts[] = {
    {.name = "agent", .type = CLI_CHOICE, .off = S(agent), .arg = "NAME",
     .choices = us_agent_names, .help = "the learner", .unset = "none: required"},
    {.name = "out", .type = CLI_STR, .off = S(cfg.out_dir), .arg = "RUN",
     .help = "the run directory (created)", .unset = "none: required"},
    {.name = "steps", .type = CLI_U64, .off = S(cfg.steps), .arg = "N", .help = "env steps in all",
     .hi = 18446744073709551615.0},
    {.name = "seed", .type = CLI_U64, .off = S(cfg.seed), .arg = "N", .help = "the run's seed",
     .hi = 18446744073709551615.0},
    {.name = "envs", .type = CLI_INT, .off = S(cfg.envs), .arg = "N",
     .help = "parallel envs (0: the agent's)", .hi = 1e9},
    {.name = "threads", .type = CLI_INT, .off = S(cfg.threads), .arg = "N",
     .help = "threads stepping the envs", .hi = 1e9},
    {.name = "resume", .type = CLI_FLAG, .off = S(cfg.resume), .set = 1,
     .help = "continue RUN from its checkpoint, bit for bit (--steps may extend)"},
    {.name = "eval-every", .type = CLI_U64, .off = S(cfg.eval_every), .arg = "N",
     .help = "env steps between evaluations (0: a tenth of --steps)",
     .hi = 18446744073709551615.0},
    {.name = "eval-episodes", .type = CLI_INT, .off = S(cfg.eval_episodes), .arg = "N",
     .help = "held-out users per evaluation", .hi = 1e9},
    {.name = "holdout", .type = CLI_DOUBLE, .off = S(cfg.holdout), .arg = "X",
     .help = "share of users held out for evaluation", .lo = -1e308, .hi = 1e308},
    {.name = "max-steps", .type = CLI_INT, .off = S(cfg.env.max_steps), .arg = "N",
     .help = "steps per session before it is cut", .hi = 1e9},
    {.name = "stop-at", .type = CLI_U64, .off = S(cfg.stop_at), .arg = "N",
     .help = "stop once N env steps are done in all, with a checkpoint, as if interrupted\n"
             "(--resume finishes it; 0: run to --steps)", .hi = 18446744073709551615.0},
    {.name = "json", .type = CLI_FLAG, .off = S(json), .set = 1, .flags = CLI_CMDLINE,
     .help = "print the report as JSON"},
    {0}};
#undef S

const cli_cmd cli_train = {"train", train_opts, train_init, train_usage, train_tail, 1};
_Static_assert(sizeof(train_settings) <= CLI_SETTINGS_MAX, "cli_print_help's buffer");

static void print_hparams(const char *agent) {
    const us_hparam *t;
    int n;
    char d[40];
    if (us_agent_hparams(agent, &t, &n, NULL) != US_OK) return;
    printf("\nhyperparameters of %s (--NAME VALUE; range, default):\n", agent);
    for (int k = 0; k < n; k++)
        printf("  --%-28s %s [%g..%g] (default: %s)\n", t[k].name, t[k].help, t[k].lo, t[k].hi,
               cli_fmt_double(t[k].def, d, sizeof d));
}

/* A number, the whole of s. */
static int parse_num(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return *s && *end == '\0';
}

/* The hyperparameters of the settings file's [train.AGENT] sections (each checked against its
 * agent; those of agent kept in hp) and then of the command line. 0, or the exit code after
 * printing. */
static int apply_hparams(const cli_parsed *p, const char *agent, us_hvalues *hp) {
    us_err err;
    for (int k = 0; k < p->nextra; k++) {
        const cli_extra *x = &p->extra[k];
        double v;
        if (!x->sub) continue;
        const us_hparam *t;
        int n;
        if (us_agent_hparams(x->sub, &t, &n, &err) != US_OK) {
            us_err_set(&err, US_EINVAL, p->config, x->line, x->name,
                       "in [train.%s]: not an agent (one of dqn, a2c, ppo, trpo)", x->sub);
            return cli_fail(&err);
        }
        if (!*x->value) continue; /* no value: the default */
        us_hvalues scratch = {0};
        us_hvalues *into = agent && !strcmp(agent, x->sub) ? hp : &scratch;
        if (!parse_num(x->value, &v)) {
            us_err_set(&err, US_EINVAL, p->config, x->line, x->name,
                       "expected a number, found '%s'", x->value);
            return cli_fail(&err);
        }
        if (us_agent_set(x->sub, into, x->name, v, &err) != US_OK) {
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%s", err.msg);
            us_err_set(&err, US_EINVAL, p->config, x->line, x->name, "%s", msg);
            return cli_fail(&err);
        }
    }
    for (int k = 0; k < p->nextra; k++) {
        const cli_extra *x = &p->extra[k];
        double v;
        if (x->sub) continue;
        if (!agent) return cli_usage_error("train", "unknown option --%s", x->name);
        if (!parse_num(x->value, &v))
            return cli_usage_error("train", "expected a number, found %s", x->value);
        if (us_agent_set(agent, hp, x->name, v, &err) != US_OK) return cli_fail(&err);
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *agent = NULL;
    int help = 0;
    /* the agent first: its hyperparameters are options */
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--agent") && k + 1 < argc) agent = argv[k + 1];
        else if (!strncmp(argv[k], "--agent=", 8)) agent = argv[k] + 8;
        else if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) help = 1;
    }
    if (help) {
        cli_print_help(&cli_train, stdout);
        if (agent) {
            us_err err;
            const us_hparam *t;
            int n;
            if (us_agent_hparams(agent, &t, &n, &err) != US_OK) return cli_fail(&err);
            print_hparams(agent);
        }
        return 0;
    }
    train_settings ts;
    cli_parsed p;
    int rc = cli_parse(&cli_train, argc, argv, &ts, &p);
    if (rc < 0 && p.npos > 1) rc = cli_usage_error("train", "more than one store: %s", p.pos[1]);
    /* the file's values point into p's text: read them before it is freed */
    if (rc < 0)
        rc = apply_hparams(&p, ts.agent >= 0 ? us_agent_names[ts.agent] : NULL, &ts.cfg.hp);
    if (rc != 0) return rc;
    us_train_config cfg = ts.cfg;
    cfg.agent = ts.agent >= 0 ? us_agent_names[ts.agent] : NULL;
    const char *store = p.npos ? p.pos[0] : NULL;
    const int json = ts.json;
    us_err err;
    if (!store) return cli_usage_error("train", "a store is needed%s", "");
    if (!cfg.agent) return cli_usage_error("train", "--agent is needed%s", "");
    if (!cfg.out_dir) return cli_usage_error("train", "--out is needed%s", "");
    const us_hparam *t;
    int n;
    if (us_agent_hparams(cfg.agent, &t, &n, &err) != US_OK) return cli_fail(&err);
    cfg.progress = !json;
    us_sim_config sc = us_sim_config_default();
    us_sim *sim;
    if (us_sim_open(&sim, store, &sc, &err) != US_OK) return cli_fail(&err);
    us_train_report rep;
    us_status st = us_train(sim, store, &cfg, &rep, &err);
    us_sim_close(sim);
    if (st != US_OK) return cli_fail(&err);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "agent", cfg.agent);
        cJSON_AddStringToObject(o, "run", cfg.out_dir);
        cJSON_AddNumberToObject(o, "steps", (double)rep.steps);
        cJSON_AddNumberToObject(o, "seconds", rep.seconds);
        cJSON_AddNumberToObject(o, "steps_per_s", rep.steps_per_s);
        cJSON_AddNumberToObject(o, "eval_seconds", rep.eval_seconds);
        cJSON_AddNumberToObject(o, "learn_steps_per_s", rep.learn_steps_per_s);
        cJSON *tm = cJSON_AddObjectToObject(o, "seconds_by_part");
        cJSON_AddNumberToObject(tm, "env", rep.env_seconds);
        cJSON_AddNumberToObject(tm, "forward", rep.forward_seconds);
        cJSON_AddNumberToObject(tm, "backward", rep.backward_seconds);
        cJSON_AddNumberToObject(tm, "optimizer", rep.optimizer_seconds);
        cJSON_AddNumberToObject(tm, "other", rep.other_seconds);
        cJSON_AddNumberToObject(o, "eval_return", rep.final_eval_return);
        cJSON_AddNumberToObject(o, "eval_ci", rep.final_eval_ci);
        cJSON_AddNumberToObject(o, "evaluations", rep.evaluations);
        cli_print_json(o);
    } else {
        char b[32], b2[32], e[1100];
        if (rep.steps < cfg.steps) {
            printf("%s: stopped at %s of %s steps (%.0f steps/s), with a checkpoint; finish "
                   "it with --resume\n", cfg.agent, cli_group(rep.steps, b),
                   cli_group(cfg.steps, b2), rep.steps_per_s);
            return 0;
        }
        printf("%s: %s steps in %.1f s (%.0f steps/s); held-out return %.3f ±%.3f\n",
               cfg.agent, cli_group(rep.steps, b), rep.seconds, rep.steps_per_s,
               rep.final_eval_return, rep.final_eval_ci);
        const double learn = rep.seconds - rep.eval_seconds;
        if (learn > 0)
            printf("training time: env %.0f%%, forward %.0f%%, backward %.0f%%, optimizer %.0f%%, "
                   "other %.0f%% (evaluations took %.1f s more)\n",
                   100 * rep.env_seconds / learn, 100 * rep.forward_seconds / learn,
                   100 * rep.backward_seconds / learn, 100 * rep.optimizer_seconds / learn,
                   100 * rep.other_seconds / learn, rep.eval_seconds);
        printf("run: %s (config.json, curve.csv, checkpoint.bin); compare it with\n"
               "  usersim eval %s --policy %s --policy popular --policy sasrec\n",
               cli_escape(cfg.out_dir, e, sizeof e), store, cfg.out_dir);
    }
    return 0;
}
