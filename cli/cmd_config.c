/* cmd_config.c — `usersim config --defaults`: every command's settings with their defaults and
 * help, as a settings file every command reads back with --config FILE. The values come from
 * the commands' own declarations (cli_commands, each command's table and init; the agents'
 * hyperparameter tables), never from a copy here. */
#include <stdio.h>
#include <string.h>

#include "agents/agents.h"
#include "cli/cli.h"

static const char config_usage[] =
    "usage: usersim config --defaults\n"
    "\n"
    "Prints every option of every command with its default and one line of help, as a\n"
    "settings file: `usersim config --defaults > usersim.conf`, edit it, then\n"
    "`usersim COMMAND --config usersim.conf ...` (or USERSIM_CONFIG=usersim.conf).\n"
    "\n"
    "The file: `key = value` lines (a key is the option's long name; a flag takes true or\n"
    "false; an empty value keeps the default), '#' comments, and a section per command:\n"
    "[extract], [train], and [train.AGENT] for an agent's hyperparameters. Keys before the\n"
    "first section are shared: each command takes those it has. Unknown keys, values of the\n"
    "wrong type and values out of range are errors naming the file, line and key.\n"
    "Precedence: the command line wins over the environment (USERSIM_LLM_URL,\n"
    "USERSIM_LLM_MODEL, OPENAI_API_KEY, USERSIM_PROMPTS, USERSIM_MODEL_DIR), which wins over\n"
    "the file, which wins over the built-in defaults.\n";

const cli_cmd *const cli_commands[] = {
    &cli_synth, &cli_ingest, &cli_stats, &cli_train_sasrec, &cli_extract, &cli_build,
    &cli_eval_sim, &cli_play, &cli_embed, &cli_encode, &cli_train, &cli_eval, &cli_ab, NULL};

/* The hyperparameters of agent as section [train.AGENT]. */
static void print_agent(const char *agent, FILE *f) {
    const us_hparam *t;
    int n;
    char d[40], lo[40], hi[40];
    if (us_agent_hparams(agent, &t, &n, NULL) != US_OK) return;
    fprintf(f, "\n[train.%s]\n", agent);
    for (int k = 0; k < n; k++)
        fprintf(f, "# %s [%s..%s]\n%s = %s\n", t[k].help, cli_fmt_double(t[k].lo, lo, sizeof lo),
                cli_fmt_double(t[k].hi, hi, sizeof hi), t[k].name,
                cli_fmt_double(t[k].def, d, sizeof d));
}

int cmd_config(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(config_usage, stdout);
        return 0;
    }
    if (argc != 2 || strcmp(argv[1], "--defaults"))
        return cli_usage_error("config", "%s", argc < 2 ? "expected --defaults"
                                                         : "expected --defaults alone");
    printf("# usersim %s settings: every option with its default (usersim config --defaults).\n"
           "# Read with `usersim COMMAND --config FILE` or USERSIM_CONFIG=FILE. The command line\n"
           "# wins over the environment, which wins over this file, which wins over the\n"
           "# built-in defaults. An empty value keeps the default.\n",
           USERSIM_VERSION);
    for (int c = 0; cli_commands[c]; c++) {
        fputc('\n', stdout);
        cli_print_section(cli_commands[c], stdout);
        if (cli_commands[c] == &cli_train)
            for (int a = 0; us_agent_names[a]; a++) print_agent(us_agent_names[a], stdout);
    }
    return 0;
}
