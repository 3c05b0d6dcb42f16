/* main.c — the `usersim` command: finds the command in the table below and runs it. Each
 * command lives in a cli/cmd_*.c file and is declared in cli/cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"synth", cmd_synth, "write synthetic data with known truth, in the Amazon 2018 format"},
    {"ingest", cmd_ingest, "read a public dataset (Amazon, Yelp, Anime, MovieLens) into a store"},
    {"stats", cmd_stats, "print a store's statistics"},
    {"train-sasrec", cmd_train_sasrec, "train the statistical user model (SASRec) into the store"},
    {"extract", cmd_extract, "item like/dislike keywords (built-in extractor or an LLM)"},
    {"build", cmd_build, "run every stage a store still needs: extract, embed, train-sasrec"},
    {"eval-sim", cmd_eval_sim, "measure how real the simulated users are on held-out data"},
    {"play", cmd_play, "recommend items to one simulated user and see why it reacts"},
    {"embed", cmd_embed, "sentence vectors of the store's keywords and item texts"},
    {"encode", cmd_encode, "print the sentence embeddings of texts (and their cosine)"},
    {"train", cmd_train, "train an RL recommender (DQN, A2C, PPO, TRPO) against the simulated users"},
    {"eval", cmd_eval, "compare policies (baselines, trained runs) against the same simulated users"},
    {"ab", cmd_ab, "a simulated A/B test of two policies, paired by user"},
    {"config", cmd_config, "print every command's settings with their defaults, as a file"},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void print_help(FILE *f) {
    fputs("usage: usersim <command> [options]      (usersim <command> --help for each)\n"
          "\n"
          "Simulated users of a recommender system, for training and testing policies offline.\n"
          "\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-13s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "  %-13s %s\n", "version", "print the version");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("usersim %s\n", USERSIM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    char e[1024];
    fprintf(stderr, "usersim: unknown command '%s'\n\n", cli_escape(cmd, e, sizeof e));
    print_help(stderr);
    return 2;
}
