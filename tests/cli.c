/* cli.c — the child-process helpers of tests/cli.h. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/cli.h"
#include "tests/test.h"

int us_test_cli_available(void) {
    const char *bin = getenv("USERSIM_BIN");
    return bin && access(bin, X_OK) == 0;
}

int us_test_cli(const char *const *args, const char *outname) {
    return us_test_cli_input(args, NULL, outname);
}

/* Runs the binary with standard input from inname, in cwd, with env applied (see cli.h). */
static int run_child(const char *const *args, const char *inname, const char *cwd,
                     const char *const *env, const char *outname) {
    const char *bin = getenv("USERSIM_BIN");
    if (!bin) bin = "build/usersim";
    char abs_bin[PATH_MAX];
    if (cwd && realpath(bin, abs_bin)) bin = abs_bin;
    char in[1024];
    snprintf(in, sizeof in, "%s", inname ? us_test_path(inname) : "/dev/null");
    const char *out = us_test_path(outname);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fin = open(in, O_RDONLY);
        if (fd < 0 || fin < 0) _exit(126);
        dup2(fin, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        for (int i = 0; env && env[i]; i++) {
            char name[256];
            const char *eq = strchr(env[i], '=');
            size_t len = eq ? (size_t)(eq - env[i]) : strlen(env[i]);
            if (len == 0 || len >= sizeof name) _exit(126);
            memcpy(name, env[i], len);
            name[len] = '\0';
            if (eq && eq[1]) setenv(name, eq + 1, 1);
            else unsetenv(name);
        }
        if (cwd && chdir(cwd) != 0) _exit(126);
        const char *argv[32] = {bin};
        int n = 1;
        for (; n < 31 && args[n - 1]; n++) argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1000;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1 - WTERMSIG(status);
}

int us_test_cli_input(const char *const *args, const char *inname, const char *outname) {
    return run_child(args, inname, NULL, NULL, outname);
}

int us_test_cli_at(const char *const *args, const char *cwd, const char *const *env,
                   const char *outname) {
    return run_child(args, NULL, cwd, env, outname);
}

const char *us_test_slurp(const char *name) {
    static char buf[65536];
    FILE *f = fopen(us_test_path(name), "rb");
    if (!f) return "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}
