/* test_cli_config.c — `usersim config --defaults` and `--config FILE` as a user runs them: the
 * printed file names every command and agent, each command's --help shows the same defaults,
 * reading the file back changes nothing, a bad file is refused naming its line and key, the
 * command line wins over the environment over the file, and the commands `make demo` ends
 * with run. The stores are the agents' fixture (tests/agents/agents_fixture.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/agents/agents_fixture.h"
#include "tests/cli.h"
#include "tests/store.h"
#include "tests/test.h"

/* `usersim config --defaults` into the test's folder as name; its path into path, or "". */
static int write_defaults(const char *name, char *path, size_t cap) {
    const char *args[] = {"config", "--defaults", NULL};
    const int rc = us_test_cli(args, name);
    snprintf(path, cap, "%s", us_test_path(name));
    return rc;
}

/* A copy of the file name in the test's folder (caller frees; NULL when unread). */
static char *slurp_copy(const char *name) {
    char *buf = NULL;
    const long n = us_test_read_all(us_test_path(name), &buf);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text) {
        memcpy(text, buf, (size_t)n);
        text[n] = '\0';
    }
    free(buf);
    return text;
}

/* 1 when files a and b in the test's folder hold the same non-empty bytes. */
static int same_output(const char *a, const char *b) {
    char *x = slurp_copy(a), *y = slurp_copy(b);
    const int same = x && y && x[0] && !strcmp(x, y);
    if (!same) fprintf(stderr, "--- %s\n%s\n--- %s\n%s\n", a, x ? x : "", b, y ? y : "");
    free(x);
    free(y);
    return same;
}

TEST(cli_config_defaults_names_every_command_and_agent) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char conf[1024];
    CHECK_EQ_INT(write_defaults("d.conf", conf, sizeof conf), 0);
    char *text = slurp_copy("d.conf");
    REQUIRE(text != NULL);
    /* every command `usersim --help` lists has its section */
    const char *help[] = {"--help", NULL};
    CHECK_EQ_INT(us_test_cli(help, "help.txt"), 0);
    char *list = slurp_copy("help.txt");
    REQUIRE(list != NULL);
    const char *at = strstr(list, "commands:\n");
    REQUIRE(at != NULL);
    int n = 0;
    for (char *line = strchr(at, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char name[64], want[80];
        if (sscanf(line + 1, " %63s", name) != 1) continue;
        if (!strcmp(name, "version") || !strcmp(name, "config")) continue;
        snprintf(want, sizeof want, "\n[%s]\n", name);
        if (!strstr(text, want)) fprintf(stderr, "no section for %s\n", name);
        CHECK(strstr(text, want) != NULL);
        n++;
    }
    CHECK(n >= 13);
    const char *agents[] = {"dqn", "a2c", "ppo", "trpo"};
    for (int k = 0; k < 4; k++) {
        char want[40];
        snprintf(want, sizeof want, "\n[train.%s]\n", agents[k]);
        CHECK(strstr(text, want) != NULL);
    }
    /* a few defaults, as the libraries declare them */
    CHECK(strstr(text, "\n[extract]\n") && strstr(text, "\nconcurrency = 4\n"));
    CHECK(strstr(text, "\nlearning-rate = 0.0003\n") != NULL); /* ppo */
    CHECK(strstr(text, "\nepisodes = 500\n") != NULL);
    const char *bad[] = {"config", "--bogus", NULL};
    CHECK_EQ_INT(us_test_cli(bad, "bad.txt"), 2);
    free(list);
    free(text);
}

/* The entry of option key in a --help text: from its "  --key" line to the next option (in
 * the option list, after the usage's examples). */
static int help_entry(const char *help, const char *key, char *out, size_t cap) {
    char head[96];
    const char *options = strstr(help, "\noptions:\n");
    if (options) help = options;
    snprintf(head, sizeof head, "\n  --%s", key);
    for (const char *p = strstr(help, head); p; p = strstr(p + 1, head)) {
        const char c = p[strlen(head)];
        if (c != ' ' && c != '\n') continue;
        const char *end = strstr(p + 1, "\n  --");
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
        return 1;
    }
    return 0;
}

TEST(cli_help_shows_the_defaults_config_prints) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char conf[1024];
    REQUIRE(write_defaults("d.conf", conf, sizeof conf) == 0);
    char *text = slurp_copy("d.conf");
    REQUIRE(text != NULL);
    char section[64] = "", *help = NULL;
    int checked = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '[') {
            /* the section's command's --help, and every option it lists is in the section */
            sscanf(line, "[%63[^]]", section);
            free(help);
            char agent[64] = "";
            const char *cmd[] = {section, "--help", NULL, NULL, NULL};
            if (!strncmp(section, "train.", 6)) {
                snprintf(agent, sizeof agent, "%s", section + 6);
                cmd[0] = "train", cmd[1] = "--agent", cmd[2] = agent, cmd[3] = "--help";
            }
            CHECK_EQ_INT(us_test_cli(cmd, "help.txt"), 0);
            help = slurp_copy("help.txt");
            REQUIRE(help != NULL);
            continue;
        }
        char *eq = strstr(line, " =");
        if (line[0] == '#' || !eq || !help) continue;
        *eq = '\0';
        const char *key = line, *val = eq[2] == ' ' ? eq + 3 : "";
        char entry[2048], want[600];
        const int found = help_entry(help, key, entry, sizeof entry);
        if (!found) fprintf(stderr, "[%s] %s: not in --help\n", section, key);
        CHECK(found);
        if (!found) continue;
        if (val[0] && strcmp(val, "false")) {
            snprintf(want, sizeof want, "(default: %s)", val);
            if (!strstr(entry, want))
                fprintf(stderr, "[%s] %s: --help says\n%s\nnot %s\n", section, key, entry, want);
            CHECK(strstr(entry, want) != NULL);
        } else if (!val[0]) {
            if (!strstr(entry, "(default: "))
                fprintf(stderr, "[%s] %s: --help says no default:\n%s\n", section, key, entry);
            CHECK(strstr(entry, "(default: ") != NULL); /* said in words */
        }
        checked++;
    }
    free(help);
    free(text);
    CHECK(checked > 150);

    /* the other way: every option a command's --help lists is in its section */
    text = slurp_copy("d.conf");
    REQUIRE(text != NULL);
    const char *cmds[] = {"synth", "ingest", "stats", "train-sasrec", "extract", "build",
                          "eval-sim", "play", "embed", "encode", "train", "eval", "ab"};
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        char head[80];
        snprintf(head, sizeof head, "\n[%s]\n", cmds[c]);
        const char *sec = strstr(text, head);
        REQUIRE(sec != NULL);
        const char *sec_end = strstr(sec + 1, "\n[");
        const size_t sec_len = sec_end ? (size_t)(sec_end - sec) : strlen(sec);
        const char *args[] = {cmds[c], "--help", NULL};
        CHECK_EQ_INT(us_test_cli(args, "h.txt"), 0);
        const char *h = strstr(us_test_slurp("h.txt"), "\noptions:\n");
        REQUIRE(h != NULL);
        for (const char *p = strstr(h, "\n  --"); p; p = strstr(p + 1, "\n  --")) {
            char name[64], as_key[80], as_comment[80];
            if (sscanf(p + 5, "%63[a-z0-9-]", name) != 1) continue;
            if (!strcmp(name, "config")) continue;
            snprintf(as_key, sizeof as_key, "\n%s =", name);
            snprintf(as_comment, sizeof as_comment, "\n# --%s:", name);
            char *copy = strndup(sec, sec_len);
            const int listed = strstr(copy, as_key) || strstr(copy, as_comment);
            if (!listed) fprintf(stderr, "%s --help lists --%s; [%s] does not\n", cmds[c], name,
                                 cmds[c]);
            CHECK(listed);
            free(copy);
        }
    }
    free(text);
}

TEST(cli_config_defaults_file_read_back_changes_nothing) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    const char *store = us_test_agents_store();
    REQUIRE(store != NULL);
    char conf[1024], a[1024], b[1024];
    REQUIRE(write_defaults("d.conf", conf, sizeof conf) == 0);

    /* synth: the same files */
    snprintf(a, sizeof a, "%s", us_test_path("synth-a"));
    snprintf(b, sizeof b, "%s", us_test_path("synth-b"));
    const char *s1[] = {"synth", "--out", a, "--users", "60", "--items", "40", "--reviews",
                        "700", "--quiet", NULL};
    const char *s2[] = {"synth", "--config", conf, "--out", b, "--users", "60", "--items", "40",
                        "--reviews", "700", "--quiet", NULL};
    CHECK_EQ_INT(us_test_cli(s1, "s1.txt"), 0);
    CHECK_EQ_INT(us_test_cli(s2, "s2.txt"), 0);
    CHECK(us_test_same_run_file(a, b, "truth.csv"));
    CHECK(us_test_same_run_file(a, b, "Synthetic_5.json.gz"));

    /* extract: the same keywords (its report of the store) */
    char xa[1024], xb[1024];
    snprintf(xa, sizeof xa, "%s", us_test_path("xa.usdb"));
    snprintf(xb, sizeof xb, "%s", us_test_path("xb.usdb"));
    REQUIRE(us_test_synth_store(us_test_path("xdata"), xa, 40, 30, 500, 1) == 0);
    REQUIRE(us_test_synth_store(us_test_path("xdata2"), xb, 40, 30, 500, 1) == 0);
    const char *x1[] = {"extract", xa, "--quiet", NULL};
    const char *x2[] = {"extract", "--config", conf, xb, "--quiet", NULL};
    CHECK_EQ_INT(us_test_cli(x1, "x1.txt"), 0);
    CHECK_EQ_INT(us_test_cli(x2, "x2.txt"), 0);
    const char *r1[] = {"extract", xa, "--report", "--json", NULL};
    const char *r2[] = {"extract", xb, "--report", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(r1, "r1.json"), 0);
    CHECK_EQ_INT(us_test_cli(r2, "r2.json"), 0);
    CHECK(same_output("r1.json", "r2.json"));

    /* eval (also with the file named by USERSIM_CONFIG), eval-sim and play: the same output */
    const char *e1[] = {"eval", store, "--episodes", "25", "--json", NULL};
    const char *e2[] = {"eval", store, "--config", conf, "--episodes", "25", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(e1, "e1.json"), 0);
    CHECK_EQ_INT(us_test_cli(e2, "e2.json"), 0);
    CHECK(same_output("e1.json", "e2.json"));
    char env[1100];
    snprintf(env, sizeof env, "USERSIM_CONFIG=%s", conf);
    const char *const envs[] = {env, NULL};
    CHECK_EQ_INT(us_test_cli_at(e1, NULL, envs, "e3.json"), 0);
    CHECK(same_output("e1.json", "e3.json"));
    const char *v1[] = {"eval-sim", store, "--episodes", "10", "--random-steps", "200",
                        "--json", NULL};
    const char *v2[] = {"eval-sim", store, "--episodes", "10", "--random-steps", "200",
                        "--json", "--config", conf, NULL};
    CHECK_EQ_INT(us_test_cli(v1, "v1.json"), 0);
    CHECK_EQ_INT(us_test_cli(v2, "v2.json"), 0);
    CHECK(same_output("v1.json", "v2.json"));
    us_test_write("play.in", "top\n#3\n#7\nhistory\n", -1);
    const char *p1[] = {"play", store, "--user", "#2", NULL};
    const char *p2[] = {"play", "--config", conf, store, "--user", "#2", NULL};
    CHECK_EQ_INT(us_test_cli_input(p1, "play.in", "p1.txt"), 0);
    CHECK_EQ_INT(us_test_cli_input(p2, "play.in", "p2.txt"), 0);
    CHECK(same_output("p1.txt", "p2.txt"));

    /* train: the same run, bit for bit, with a hyperparameter on the command line too */
    snprintf(a, sizeof a, "%s", us_test_path("run-a"));
    snprintf(b, sizeof b, "%s", us_test_path("run-b"));
    const char *t1[] = {"train", store, "--agent", "ppo", "--steps", "512", "--n-steps", "32",
                        "--eval-episodes", "10", "--out", a, "--json", NULL};
    const char *t2[] = {"train", store, "--config", conf, "--agent", "ppo", "--steps", "512",
                        "--n-steps", "32", "--eval-episodes", "10", "--out", b, "--json", NULL};
    CHECK_EQ_INT(us_test_cli(t1, "t1.json"), 0);
    CHECK_EQ_INT(us_test_cli(t2, "t2.json"), 0);
    CHECK(us_test_same_run_file(a, b, "checkpoint.bin"));
    CHECK(us_test_same_run_file(a, b, "curve.csv"));
}

/* Runs `usersim args...` (NULL-terminated) with the settings file body written as bad.conf;
 * checks the exit status and that the output holds each of the needles. */
static void refused(us_test_ctx *t_, const char *body, const char *const *args, int status,
                    const char *n1, const char *n2) {
    us_test_write("bad.conf", body, -1);
    const int rc = us_test_cli(args, "bad.txt");
    const char *out = us_test_slurp("bad.txt");
    if (rc != status || !strstr(out, n1) || (n2 && !strstr(out, n2)))
        fprintf(stderr, "file:\n%s\nsays (exit %d):\n%s\n", body, rc, out);
    CHECK_EQ_INT(rc, status);
    CHECK(strstr(out, n1) != NULL);
    CHECK(!n2 || strstr(out, n2) != NULL);
}

TEST(cli_config_file_errors_name_file_line_and_key) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char conf[1024], store[1024], out[1024];
    snprintf(conf, sizeof conf, "%s", us_test_path("bad.conf"));
    snprintf(store, sizeof store, "%s", us_test_path("none.usdb"));
    snprintf(out, sizeof out, "%s", us_test_path("synth-out"));
    const char *eval[] = {"eval", store, "--config", conf, NULL};
    refused(t_, "[eval]\n# a comment\nepisodes = many\n", eval, 1, "bad.conf:3: episodes: "
            "expected a whole number from 1 to 100000000, found 'many'", NULL);
    refused(t_, "[eval]\nholdout = 1.5\n", eval, 1, "bad.conf:2: holdout: expected a number in "
            "(0, 1), found '1.5'", NULL);
    refused(t_, "[eval]\ncolour = red\n", eval, 1, "bad.conf:2: colour: not a setting of "
            "usersim eval", NULL);
    refused(t_, "[evaluate]\nepisodes = 3\n", eval, 1, "bad.conf:1: evaluate: not a usersim "
            "command's section", NULL);
    refused(t_, "[eval.fast]\nepisodes = 3\n", eval, 1, "bad.conf:1: eval.fast: not a usersim "
            "command's section", NULL);
    refused(t_, "[eval]\npopulation = some\n", eval, 1, "bad.conf:2: population: expected "
            "heldout or all, found \"some\"", NULL);
    const char *play[] = {"play", store, "--user", "#0", "--config", conf, NULL};
    refused(t_, "[play]\nmode = loud\n", play, 1, "bad.conf:2: mode: expected majority, "
            "weighted, stochastic or fitted", NULL);
    const char *train[] = {"train", store, "--agent", "ppo", "--out", out, "--config", conf,
                           NULL};
    refused(t_, "[train]\nsteps = 100\n[train.ppo]\ngamma = 2\n", train, 1, "bad.conf:4: gamma:",
            NULL);
    refused(t_, "[train.ppo]\nwarp = 9\n", train, 1, "bad.conf:2: warp: not a hyperparameter "
            "of ppo", NULL);
    refused(t_, "[train.dqn]\ntau = fast\n", train, 1, "bad.conf:2: tau: expected a number, "
            "found 'fast'", NULL);
    refused(t_, "[train.sarsa]\ngamma = 0.9\n", train, 1, "bad.conf:2: gamma: in [train.sarsa]: "
            "not an agent", NULL);
    const char *synth[] = {"synth", "--out", out, "--config", conf, NULL};
    refused(t_, "colour = red\n", synth, 1, "bad.conf:1: colour: not a setting of usersim synth "
            "nor of any other command", NULL);
    refused(t_, "[synth]\nquiet = maybe\n", synth, 1, "bad.conf:2: quiet: expected true or "
            "false, found 'maybe'", NULL);
    refused(t_, "[synth]\nusers\n", synth, 1, "bad.conf:2: users: expected 'key = value'", NULL);
    refused(t_, "[synth]\njson = true\n", synth, 1, "bad.conf:2: json: only on the command line",
            NULL);
    /* a key of another command before any section is left to that command */
    refused(t_, "limit = 3\n[synth]\nusers = 0x10\n", synth, 1, "bad.conf:3: users: expected a "
            "whole number", NULL);
    FILE *f = fopen(out, "r");
    CHECK(f == NULL); /* nothing written */
    if (f) fclose(f);
    /* a missing file names itself */
    const char *none[] = {"eval", store, "--config", us_test_path("no.conf"), NULL};
    CHECK_EQ_INT(us_test_cli(none, "none.txt"), 1);
    CHECK(strstr(us_test_slurp("none.txt"), "no.conf") != NULL);
}

TEST(cli_config_command_line_beats_environment_beats_file) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    const char *store = us_test_agents_store();
    REQUIRE(store != NULL);
    char conf[1024];
    snprintf(conf, sizeof conf, "%s",
             us_test_write("p.conf", "seed = 3   # shared: every command with --seed\n"
                                     "[eval]\nepisodes = 20\n"
                                     "[encode]\nembed-model = /no/file-model\n", -1));
    /* the file over the defaults; the command line over the file */
    const char *e1[] = {"eval", store, "--config", conf, "--json", NULL};
    CHECK_EQ_INT(us_test_cli(e1, "e1.json"), 0);
    cJSON *j = cJSON_Parse(us_test_slurp("e1.json"));
    REQUIRE(j != NULL);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "episodes")), 20);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "seed")), 3);
    cJSON_Delete(j);
    const char *e2[] = {"eval", store, "--episodes", "30", "--config", conf, "--json", NULL};
    CHECK_EQ_INT(us_test_cli(e2, "e2.json"), 0);
    j = cJSON_Parse(us_test_slurp("e2.json"));
    REQUIRE(j != NULL);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "episodes")), 30);
    cJSON_Delete(j);
    /* the environment over the file, the command line over the environment */
    /* (run in the test's folder, where no models/ folder is found) */
    const char *dir = us_test_tmpdir();
    const char *enc[] = {"encode", "--config", conf, "some text", NULL};
    const char *const no_env[] = {"USERSIM_MODEL_DIR=", "USERSIM_MODELS=", NULL};
    CHECK_EQ_INT(us_test_cli_at(enc, dir, no_env, "n1.txt"), 1);
    CHECK(strstr(us_test_slurp("n1.txt"), "/no/file-model") != NULL);
    const char *const env[] = {"USERSIM_MODEL_DIR=/no/env-model", "USERSIM_MODELS=", NULL};
    const int rc = us_test_cli_at(enc, dir, env, "n2.txt");
    CHECK(strstr(us_test_slurp("n2.txt"), "/no/file-model") == NULL);
    /* the search names the variable's folder (unless a model installed under PREFIX is found) */
    CHECK(rc == 0 || (rc == 1 && strstr(us_test_slurp("n2.txt"), "/no/env-model") != NULL));
    const char *enc_cli[] = {"encode", "--config", conf, "--embed-model", "/no/cli-model",
                             "some text", NULL};
    CHECK_EQ_INT(us_test_cli_at(enc_cli, dir, env, "n3.txt"), 1);
    CHECK(strstr(us_test_slurp("n3.txt"), "/no/cli-model") != NULL);
    CHECK(strstr(us_test_slurp("n3.txt"), "/no/env-model") == NULL);
    const char *enc_hashed[] = {"encode", "--config", conf, "--hashed", "some text", NULL};
    CHECK_EQ_INT(us_test_cli_at(enc_hashed, dir, env, "n4.txt"), 0);
}

/* The three commands `make demo` ends with (scripts/demo_next.sh), for the fixture's store and
 * a run trained here: each runs, cut short by options appended after it (a later value wins). */
TEST(cli_demo_next_commands_run) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    const char *store = us_test_agents_store();
    REQUIRE(store != NULL);
    char runs[1024], run[1100], cmd[4096];
    snprintf(runs, sizeof runs, "%s", us_test_path("runs"));
    snprintf(run, sizeof run, "%s/ppo", runs);
    const char *train[] = {"train", store, "--agent", "ppo", "--steps", "256", "--eval-episodes",
                           "5", "--out", run, NULL};
    REQUIRE(us_test_cli(train, "train.txt") == 0);
    const char *bin = getenv("USERSIM_BIN");
    snprintf(cmd, sizeof cmd, "sh scripts/demo_next.sh '%s' '%s' '%s' ppo 256 > '%s' 2>&1", bin,
             store, runs, us_test_path("next.txt"));
    REQUIRE(system(cmd) == 0);
    char *next = slurp_copy("next.txt");
    REQUIRE(next != NULL);
    int ran = 0;
    for (char *line = strtok(next, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, bin, strlen(bin)) != 0) continue;
        const char *sub = line + strlen(bin) + 1, *extra = "", *expect = "";
        if (!strncmp(sub, "play ", 5)) expect = "(#0)";
        if (!strncmp(sub, "train ", 6)) extra = " --steps 512", expect = "ppo: ";
        if (!strncmp(sub, "ab ", 3)) extra = " --users 20", expect = "A = popular";
        char out[32];
        snprintf(out, sizeof out, "next%d.txt", ran);
        snprintf(cmd, sizeof cmd, "%s%s < /dev/null > '%s' 2>&1", line, extra, us_test_path(out));
        const int rc = system(cmd);
        if (rc != 0 || !strstr(us_test_slurp(out), expect))
            fprintf(stderr, "%s%s (exit %d):\n%s\n", line, extra, rc, us_test_slurp(out));
        CHECK_EQ_INT(rc, 0);
        CHECK(expect[0] && strstr(us_test_slurp(out), expect) != NULL);
        ran++;
    }
    CHECK_EQ_INT(ran, 3);
    free(next);
}
