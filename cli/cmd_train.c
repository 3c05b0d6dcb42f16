/* cmd_train.c — `usersim train`: trains an RL recommender (agents/) against a store's simulated
 * users into a run directory. The agent's own hyperparameters are options too (--NAME VALUE),
 * listed with their defaults by `usersim train --agent X --help`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/agents.h"
#include "cli/cli.h"

static const char train_help[] =
    "usage: usersim train NAME.usdb --agent dqn|a2c|ppo|trpo --out RUN [options]\n"
    "\n"
    "Trains a recommender against the store's simulated users (choose, then judge; they leave\n"
    "as their satisfaction falls). Users are split once: a share is held out, and the greedy\n"
    "policy (the best-scoring item the user has not met) is evaluated on them periodically.\n"
    "RUN receives config.json, curve.csv (the learning curve: steps, the evaluation's return\n"
    "and its 95%% interval, the training return, the algorithm's diagnostics) and\n"
    "checkpoint.bin (after every evaluation; `usersim eval --policy RUN` uses it).\n"
    "The same seed gives the same curve, bit for bit, whatever --threads says.\n"
    "\n"
    "options:\n"
    "  --agent NAME        dqn, a2c, ppo or trpo (required)\n"
    "  --out RUN           the run directory (required; created)\n"
    "  --steps N           env steps in all (default 100000)\n"
    "  --seed N            the run's seed (default 1)\n"
    "  --envs N            parallel envs (default: the agent's)\n"
    "  --threads N         threads stepping the envs (default 1)\n"
    "  --resume            continue RUN from its checkpoint, bit for bit (--steps may extend)\n"
    "  --eval-every N      env steps between evaluations (default: a tenth of --steps)\n"
    "  --eval-episodes N   held-out users per evaluation (default 200)\n"
    "  --holdout X         share of users held out for evaluation (default 0.1)\n"
    "  --max-steps N       steps per session before it is cut (default 50)\n"
    "  --json              print the report as JSON\n"
    "  --NAME VALUE        any hyperparameter of the agent (--agent X --help lists them)\n";

static void print_hparams(const char *agent) {
    const us_hparam *t;
    int n;
    if (us_agent_hparams(agent, &t, &n, NULL) != US_OK) return;
    printf("\nhyperparameters of %s (--NAME VALUE; default, range):\n", agent);
    for (int k = 0; k < n; k++)
        printf("  --%-28s %-10.6g %s [%g..%g]\n", t[k].name, t[k].def, t[k].help, t[k].lo,
               t[k].hi);
}

/* A number, the whole of s. */
static int parse_num(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return *s && *end == '\0';
}

int cmd_train(int argc, char **argv) {
    const char *agent = NULL, *store = NULL;
    int help = 0;
    /* the agent first: its hyperparameters are options */
    for (int k = 1; k < argc; k++) {
        if (!strcmp(argv[k], "--agent") && k + 1 < argc) agent = argv[k + 1];
        else if (!strncmp(argv[k], "--agent=", 8)) agent = argv[k] + 8;
        else if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) help = 1;
    }
    if (help) {
        fputs(train_help, stdout);
        if (agent) {
            us_err err;
            const us_hparam *t;
            int n;
            if (us_agent_hparams(agent, &t, &n, &err) != US_OK) return cli_fail(&err);
            print_hparams(agent);
        }
        return 0;
    }
    us_train_config cfg = us_train_config_default();
    int json = 0;
    us_err err;
    us_err_clear(&err);
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (strncmp(a, "--", 2) != 0) {
            if (store) return cli_usage_error("train", "more than one store: %s", a);
            store = a;
            continue;
        }
        const char *name = a + 2, *val = NULL;
        char buf[128];
        const char *eq = strchr(name, '=');
        if (eq) {
            snprintf(buf, sizeof buf, "%.*s", (int)(eq - name), name);
            name = buf;
            val = eq + 1;
        }
        if (!strcmp(name, "resume")) {
            cfg.resume = 1;
            continue;
        }
        if (!strcmp(name, "json")) {
            json = 1;
            continue;
        }
        if (!val) {
            if (k + 1 >= argc) return cli_usage_error("train", "--%s needs a value", name);
            val = argv[++k];
        }
        uint64_t u;
        double x;
        if (!strcmp(name, "agent")) {
            cfg.agent = val;
        } else if (!strcmp(name, "out")) {
            cfg.out_dir = val;
        } else if (!strcmp(name, "steps") || !strcmp(name, "seed") || !strcmp(name, "envs") ||
                   !strcmp(name, "threads") || !strcmp(name, "eval-every") ||
                   !strcmp(name, "eval-episodes") || !strcmp(name, "max-steps") ||
                   !strcmp(name, "stop-at")) {
            if (cli_parse_u64(val, &u) != 0 ||
                (strcmp(name, "seed") && strcmp(name, "steps") && strcmp(name, "eval-every") &&
                 strcmp(name, "stop-at") &&
                 u > 1000000000))
                return cli_usage_error("train", "expected a whole number, found %s", val);
            if (!strcmp(name, "steps")) cfg.steps = u;
            else if (!strcmp(name, "seed")) cfg.seed = u;
            else if (!strcmp(name, "envs")) cfg.envs = (int)u;
            else if (!strcmp(name, "threads")) cfg.threads = (int)u;
            else if (!strcmp(name, "eval-every")) cfg.eval_every = u;
            else if (!strcmp(name, "eval-episodes")) cfg.eval_episodes = (int)u;
            else if (!strcmp(name, "stop-at")) cfg.stop_at = u;
            else cfg.env.max_steps = (int)u;
        } else if (!strcmp(name, "holdout")) {
            if (!parse_num(val, &cfg.holdout))
                return cli_usage_error("train", "--holdout: expected a number, found %s", val);
        } else {
            /* a hyperparameter of the agent */
            if (!agent) return cli_usage_error("train", "unknown option --%s", name);
            if (!parse_num(val, &x))
                return cli_usage_error("train", "expected a number, found %s", val);
            if (us_agent_set(agent, &cfg.hp, name, x, &err) != US_OK) return cli_fail(&err);
        }
    }
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
