/* cli.h — private to cli/: what the `usersim` commands share. Each command is one function
 * int cmd_<name>(int argc, char **argv) (argv[0] is the command's name, as getopt expects),
 * listed in main.c's table; it prints results for people (or JSON with --json) and returns the
 * exit code: 0 success, 1 failure, 2 a usage error. Commands hold no logic beyond parsing,
 * calling the rooms' public headers and printing. */
#ifndef USERSIM_CLI_H
#define USERSIM_CLI_H

#include <cjson/cJSON.h>
#include <stddef.h>
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

#endif
