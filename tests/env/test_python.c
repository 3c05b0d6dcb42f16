/* The Python binding (env/python): runs tests/python/test_binding.py (and test_sb3.py, with
 * stable-baselines3) as a child process with the Python of the environment scripts/pyenv.sh
 * makes (USERSIM_PYTHON, USERSIM_RL_PYTHON, set by make test), the
 * usersim command (USERSIM_BIN) and the shared library beside it (or USERSIM_LIB). It also
 * hands the script the size and field offsets of every C struct the binding mirrors with
 * ctypes, as the compiler lays them out, so a mirror that drifts from a header fails. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env/env.h"
#include "tests/cli.h"
#include "tests/test.h"


/* Appends "name=size:" then "field@offset," for each field, then ";" to buf. */
#define LAYOUT_BEGIN(T) n += snprintf(buf + n, cap - n, "%s=%zu:", #T, sizeof(T))
#define LAYOUT_FIELD(T, f) n += snprintf(buf + n, cap - n, "%s@%zu,", #f, offsetof(T, f))
#define LAYOUT_END() n += snprintf(buf + n, cap - n, ";")

static void struct_layout(char *buf, size_t cap) {
    size_t n = 0;
    LAYOUT_BEGIN(us_err);
    LAYOUT_FIELD(us_err, code);
    LAYOUT_FIELD(us_err, line);
    LAYOUT_FIELD(us_err, file);
    LAYOUT_FIELD(us_err, field);
    LAYOUT_FIELD(us_err, msg);
    LAYOUT_END();
    LAYOUT_BEGIN(us_sim_config);
    LAYOUT_FIELD(us_sim_config, mode);
    LAYOUT_FIELD(us_sim_config, tie);
    LAYOUT_FIELD(us_sim_config, use);
    LAYOUT_FIELD(us_sim_config, weight);
    LAYOUT_FIELD(us_sim_config, category_filter);
    LAYOUT_FIELD(us_sim_config, empty_sim);
    LAYOUT_FIELD(us_sim_config, keyword_scale);
    LAYOUT_FIELD(us_sim_config, embed_scale);
    LAYOUT_FIELD(us_sim_config, sasrec_version);
    LAYOUT_FIELD(us_sim_config, threshold);
    LAYOUT_FIELD(us_sim_config, calibrate);
    LAYOUT_FIELD(us_sim_config, use_collab);
    LAYOUT_FIELD(us_sim_config, mf_factors);
    LAYOUT_FIELD(us_sim_config, dislike_side);
    LAYOUT_FIELD(us_sim_config, choose);
    LAYOUT_FIELD(us_sim_config, next_version);
    LAYOUT_FIELD(us_sim_config, engage_negatives);
    LAYOUT_FIELD(us_sim_config, judge_known);
    LAYOUT_FIELD(us_sim_config, seed);
    LAYOUT_END();
    LAYOUT_BEGIN(us_env_config);
    LAYOUT_FIELD(us_env_config, max_steps);
    LAYOUT_FIELD(us_env_config, leave_prob);
    LAYOUT_FIELD(us_env_config, obs_len);
    LAYOUT_FIELD(us_env_config, mask_repeats);
    LAYOUT_FIELD(us_env_config, leave_gain);
    LAYOUT_FIELD(us_env_config, leave_decay);
    LAYOUT_END();
    LAYOUT_BEGIN(us_sim_reaction);
    LAYOUT_FIELD(us_sim_reaction, like);
    LAYOUT_FIELD(us_sim_reaction, vote);
    LAYOUT_FIELD(us_sim_reaction, pros_matches);
    LAYOUT_FIELD(us_sim_reaction, cons_matches);
    LAYOUT_FIELD(us_sim_reaction, pros_sim);
    LAYOUT_FIELD(us_sim_reaction, cons_sim);
    LAYOUT_FIELD(us_sim_reaction, p_sasrec);
    LAYOUT_FIELD(us_sim_reaction, score);
    LAYOUT_FIELD(us_sim_reaction, n_matched_pros);
    LAYOUT_FIELD(us_sim_reaction, n_matched_cons);
    LAYOUT_FIELD(us_sim_reaction, matched_pros);
    LAYOUT_FIELD(us_sim_reaction, matched_cons);
    LAYOUT_FIELD(us_sim_reaction, judged);
    LAYOUT_FIELD(us_sim_reaction, engage);
    LAYOUT_FIELD(us_sim_reaction, p_engage);
    LAYOUT_FIELD(us_sim_reaction, repeat);
    LAYOUT_FIELD(us_sim_reaction, logged);
    LAYOUT_FIELD(us_sim_reaction, p_bias);
    LAYOUT_FIELD(us_sim_reaction, p_mf);
    LAYOUT_FIELD(us_sim_reaction, p_reward);
    LAYOUT_END();
    LAYOUT_BEGIN(us_env_step_result);
    LAYOUT_FIELD(us_env_step_result, reward);
    LAYOUT_FIELD(us_env_step_result, terminated);
    LAYOUT_FIELD(us_env_step_result, truncated);
    LAYOUT_FIELD(us_env_step_result, repeat);
    LAYOUT_FIELD(us_env_step_result, reaction);
    LAYOUT_END();
}

/* Prints the last `tail` bytes of the file at path, indented, to stdout. */
static void print_tail(const char *path, long tail) {
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > tail ? size - tail : 0, SEEK_SET);
    char line[1024];
    printf("    --- the last %ld bytes of the Python test's output ---\n", size > tail ? tail : size);
    while (fgets(line, sizeof line, f)) printf("    %s", line);
    fclose(f);
}

/* Runs script with the Python py (from the environment variable py_var, named in the skip
 * message), the usersim command, the library beside it (or USERSIM_LIB) and the structs'
 * layout in the environment; fails the case unless it exits 0 and unittest says OK. */
static void run_script(us_test_ctx *t_, const char *py_var, const char *script) {
    const char *py = getenv(py_var);
    if (!py || !*py) {
        char why[200];
        snprintf(why, sizeof why, "%s not set (make test sets it when scripts/pyenv.sh could "
                 "make the Python environment)", py_var);
        SKIP(why);
    }
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    REQUIRE(access(py, X_OK) == 0);
    char lib[1024];
    const char *env_lib = getenv("USERSIM_LIB");
    if (env_lib && *env_lib) {
        snprintf(lib, sizeof lib, "%s", env_lib);
    } else { /* the library beside the command: both come out of the same build folder */
        snprintf(lib, sizeof lib, "%s", getenv("USERSIM_BIN"));
        char *slash = strrchr(lib, '/');
        snprintf(slash ? slash + 1 : lib, sizeof lib - (size_t)(slash ? slash + 1 - lib : 0),
                 "libusersim.so");
    }
    if (access(lib, R_OK) != 0) {
        us_test_fail(t_, __FILE__, __LINE__, "no shared library at %s (make builds it)", lib);
        return;
    }
    if (access(script, R_OK) != 0) {
        us_test_fail(t_, __FILE__, __LINE__, "%s not found: run from the repository root",
                     script);
        return;
    }
    static char layout[4096];
    struct_layout(layout, sizeof layout);
    char work[1024], out[1024];
    snprintf(work, sizeof work, "%s", us_test_path("py"));
    snprintf(out, sizeof out, "%s", us_test_path("python.log"));
    REQUIRE(mkdir(work, 0700) == 0);
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fin = open("/dev/null", O_RDONLY);
        if (fd < 0 || fin < 0) _exit(126);
        dup2(fin, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (setenv("USERSIM_LIB", lib, 1) || setenv("USERSIM_ABI", layout, 1) ||
            setenv("USERSIM_TEST_DIR", work, 1) || setenv("PYTHONDONTWRITEBYTECODE", "1", 1))
            _exit(126);
        execl(py, py, script, (char *)NULL);
        _exit(127);
    }
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_tail(out, 6000);
        if (WIFEXITED(status))
            us_test_fail(t_, __FILE__, __LINE__, "%s %s exited with %d", py, script,
                         WEXITSTATUS(status));
        else
            us_test_fail(t_, __FILE__, __LINE__, "%s %s was killed by signal %d", py, script,
                         WTERMSIG(status));
        return;
    }
    /* The script ran every case: unittest's summary line says OK. */
    const char *log = us_test_slurp("python.log");
    CHECK(strstr(log, "\nOK") != NULL);
    /* what the script reports as figures (lines starting with "figure:") */
    for (const char *l = strstr(log, "figure:"); l; l = strstr(l + 1, "\nfigure:")) {
        if (*l == '\n') l++;
        const char *end = strchr(l, '\n');
        printf("    %.*s\n", end ? (int)(end - l) : (int)strlen(l), l);
    }
}

TEST(python_binding) { run_script(t_, "USERSIM_PYTHON", "tests/python/test_binding.py"); }

/* stable-baselines3 from PyPI (with PyTorch) in its own environment (make test makes it with
 * scripts/pyenv.sh, USERSIM_PY_EXTRA): its PPO("MlpPolicy") trains on usersim.make() as it is,
 * and the trained model is evaluated through usersim.evaluate; usersim.sb3's VecEnv over the C
 * vector env keeps SB3's contract (the same trajectories as usersim.make_vec, terminal
 * observations, VecNormalize and VecMonitor on top) and PPO trained through it beats random. */
TEST(python_stable_baselines3) {
    run_script(t_, "USERSIM_RL_PYTHON", "tests/python/test_sb3.py");
}

/* examples/ppo_usersim.py, the single-file PPO example (PyTorch, in the same environment as
 * stable-baselines3): with its defaults and a fixed seed it trains on usersim.make_vec's
 * feature observation and beats a random policy evaluated on the same users. */
TEST(python_ppo_example) { run_script(t_, "USERSIM_RL_PYTHON", "tests/python/test_example.py"); }
