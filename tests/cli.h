/* cli.h — runs the usersim command as a child process from tests, the way a user would. */
#ifndef USERSIM_TESTS_CLI_H
#define USERSIM_TESTS_CLI_H

/* 1 when USERSIM_BIN (set by make test) names an executable. */
int us_test_cli_available(void);
/* Runs USERSIM_BIN with args (a NULL-terminated list, at most 30); stdout and stderr both go
 * to the file outname in the test's folder. Returns the exit status, or -1 - signal. */
int us_test_cli(const char *const *args, const char *outname);
/* The same with standard input read from the file inname in the test's folder (NULL: empty
 * input; us_test_cli gives empty input too). */
int us_test_cli_input(const char *const *args, const char *inname, const char *outname);
/* The same run in the folder cwd (NULL: the test runner's), with the environment changed by
 * env, a NULL-terminated list of "NAME=value" strings ("NAME=" removes NAME; env NULL changes
 * nothing). USERSIM_BIN is made absolute first, so a relative one still names the binary. */
int us_test_cli_at(const char *const *args, const char *cwd, const char *const *env,
                   const char *outname);
/* The first 64 KiB of the file name in the test's folder (static buffer; "" if missing). */
const char *us_test_slurp(const char *name);

#endif
