/* cli.h — private to cli/: what the `usersim` commands share. Each command is one function
 * int cmd_<name>(int argc, char **argv) (argv[0] is the command's name, as getopt expects),
 * listed in main.c's table; it prints results for people (or JSON with --json) and returns the
 * exit code: 0 success, 1 failure, 2 a usage error. Commands hold no logic beyond parsing,
 * calling the rooms' public headers and printing. */
#ifndef USERSIM_CLI_H
#define USERSIM_CLI_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "core/core.h"

#define USERSIM_VERSION "0.1.0"

/* s made safe to print to a terminal: every byte a terminal could act on is written as the
 * four characters \xHH: the C0 controls (newline and tab included), DEL, both bytes of a C1
 * control (U+0080..U+009F) and each byte of an invalid UTF-8 sequence; valid UTF-8 text is
 * copied as it is. Ids, categories, keywords, paths and error messages all come from files or
 * arguments anyone can write, so everything the commands print from them goes through here.
 * Writes into buf (size >= 4 bytes), ending in "..." when the escaped text does not fit;
 * returns buf. */
const char *cli_escape(const char *s, char *buf, size_t size);

/* Prints "usersim CMD: <fmt with arg>" and a hint to stderr (arg escaped); returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, const char *arg);

/* Prints "usersim: error: <err>" to stderr, escaped; returns 1. */
int cli_fail(const us_err *err);

/* Prints the one-line warning that option old_opt of command cmd is an old spelling of new_opt
 * (accepted for one more release) to stderr. */
void cli_deprecated(const char *cmd, const char *old_opt, const char *new_opt);

/* Which embedder embeds the store at store (NULL for texts with no store): the hashed one when
 * hashed is set; the model folder model when that is given; else the hashed one again when the
 * store's vectors are the hashed embedder's (a complete store stays as it is); else the model
 * the search path finds (us_embed_model_find). Writes the folder into dir (cap bytes), "" for
 * the hashed embedder. Returns 0, or an exit code after printing why (a model not found names
 * every place searched). */
int cli_embed_pick(const char *cmd, const char *store, const char *model, int hashed, char *dir,
                   size_t cap);

/* v with thousands separators ("1,234,567") into buf (at least 27 bytes); returns buf. */
const char *cli_group(uint64_t v, char *buf);

/* A non-negative decimal integer, the whole of s; -1 when s is anything else. */
int cli_parse_u64(const char *s, uint64_t *out);

/* Prints j indented to stdout and deletes it. */
void cli_print_json(cJSON *j);

int cmd_synth(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_train_sasrec(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_eval_sim(int argc, char **argv);
int cmd_play(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_ab(int argc, char **argv);
int cmd_embed(int argc, char **argv);


/* ---- declared options (cli/opts.c) ----
 * Each command declares its options once, in a table of cli_opt: the long name (also the key
 * in a settings file), the type, where the value goes in the command's settings struct, the
 * accepted range and one line of help. The defaults are whatever the command's init function
 * (its library's *_config_default()) leaves in that struct, so `usersim config --defaults`,
 * --help and the command itself read the same values. cli_parse fills the struct in the order
 * built-in default < settings file (--config FILE, else $USERSIM_CONFIG) < environment <
 * command line. */

typedef enum cli_type {
    CLI_FLAG,   /* no value: the int field becomes .set */
    CLI_CALL,   /* no value: .call(settings) */
    CLI_STR,    /* const char * (NULL when not given) */
    CLI_INT,    /* int */
    CLI_U32,    /* uint32_t */
    CLI_U64,    /* uint64_t */
    CLI_LONG,   /* long */
    CLI_DOUBLE, /* double */
    CLI_CHOICE, /* int: the index of the value in .choices */
    CLI_LIST    /* cli_list: the option repeats; the command line's replace the file's */
} cli_type;

enum {
    CLI_CMDLINE = 1, /* not a setting: only on the command line (--json, --report) */
    CLI_HIDDEN = 2,  /* an old spelling (.alias names the new one): accepted, not listed */
    CLI_OPEN_LO = 4, /* the range excludes .lo */
    CLI_OPEN_HI = 8  /* the range excludes .hi */
};

#define CLI_LIST_MAX 32
typedef struct cli_list {
    int n;
    const char *v[CLI_LIST_MAX];
} cli_list;

typedef struct cli_opt {
    const char *name;   /* --name on the command line, name = value in a file */
    cli_type type;
    size_t off;         /* the field, offsetof(settings, field) */
    const char *arg;    /* the value's name in --help ("N"); NULL for CLI_FLAG and CLI_CALL */
    const char *help;   /* one line; more lines after '\n' appear in --help only */
    double lo, hi;      /* numbers: the accepted range (inclusive unless CLI_OPEN_*) */
    int set;            /* CLI_FLAG: the value the flag stores */
    const char *const *choices; /* CLI_CHOICE: the names, NULL-terminated */
    const char *unset;  /* the default said in words when the field's value is not it (a
                           sentinel, a rule); the option then has no value in a file */
    const char *env;    /* an environment variable that says this option (a file's value
                           then gives way to it) */
    unsigned flags;     /* CLI_CMDLINE, CLI_HIDDEN, CLI_OPEN_* */
    const char *alias;  /* CLI_HIDDEN: the option this spelling is an old name of */
    void (*call)(void *settings); /* CLI_CALL */
} cli_opt;

#define CLI_MAX_OPTS 64
#define CLI_MAX_POS 64
#define CLI_MAX_EXTRA 512

/* A command's declaration: its options (ended by a zero entry), its settings struct's size
 * and defaults, and its help text around the option list. */
typedef struct cli_cmd {
    const char *name;
    const cli_opt *opts;
    void (*init)(void *settings); /* the built-in defaults */
    const char *usage;            /* --help before the options */
    const char *tail;             /* --help after them (NULL: nothing) */
    int extra_ok;                 /* 1: unknown --name VALUE options are collected (train) */
} cli_cmd;

/* An option cli_parse did not know (cmd->extra_ok), or a key of a [CMD.SUB] section. */
typedef struct cli_extra {
    const char *sub;  /* the section's SUB; NULL on the command line */
    const char *name, *value;
    long line;        /* in the file; 0 on the command line */
} cli_extra;

/* What cli_parse found besides the settings. */
typedef struct cli_parsed {
    int npos;
    char *pos[CLI_MAX_POS];          /* the positional arguments */
    unsigned char where[CLI_MAX_OPTS]; /* per option: CLI_FROM_* */
    const char *config;              /* the settings file read, or NULL */
    int nextra;
    cli_extra extra[CLI_MAX_EXTRA];
    char *text;                      /* the file's text: values point into it; it stays for
                                        the life of the process */
} cli_parsed;

enum { CLI_FROM_DEFAULT = 0, CLI_FROM_FILE = 1, CLI_FROM_ENV = 2, CLI_FROM_CMDLINE = 3 };

/* Fills settings (size of the command's struct) from cmd's defaults, the settings file and
 * argv (argv[0] the command's name). Returns -1 to go on; else the exit code after printing:
 * 0 after --help, 1 for a bad settings file (naming its path, line and key), 2 for a usage
 * error. String values point into argv, the environment or the file's text, which all stay
 * for the life of the process. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, void *settings, cli_parsed *p);

/* The index of option name in cmd's table, or -1. */
int cli_opt_index(const cli_cmd *cmd, const char *name);

/* Prints cmd's --help: usage, the options with their defaults, --config, the tail. */
void cli_print_help(const cli_cmd *cmd, FILE *f);

/* The settings of cmd as a file section: [name], then each option's help as a comment and
 * `name = default` (options only on the command line as comments). */
void cli_print_section(const cli_cmd *cmd, FILE *f);

/* The largest settings struct of any command (each command checks its own against it). */
#define CLI_SETTINGS_MAX 16384

/* x written with the fewest digits that read back as the same double, into buf. */
const char *cli_fmt_double(double x, char *buf, size_t size);

/* Every command with declared options, NULL-terminated (main.c). */
extern const cli_cmd *const cli_commands[];

extern const cli_cmd cli_synth, cli_ingest, cli_stats, cli_train_sasrec, cli_extract,
    cli_build, cli_eval_sim, cli_play, cli_embed, cli_encode, cli_train, cli_eval, cli_ab;

int cmd_config(int argc, char **argv);

#endif
