/* `usersim eval-sim` and `usersim play` as a user runs them, on the SASRec-only fixture store
 * (so every run passes --no-keyword --no-embed); the default reaction otherwise (choose, then
 * the fitted judge). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "tests/cli.h"
#include "tests/simulator/sim_fixture.h"
#include "tests/store.h"
#include "tests/test.h"

TEST(cli_eval_sim_reports_json_and_text) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024], truth[1024];
    us_sim *sim = us_test_sasrec_sim("e.usdb", store);
    REQUIRE(sim != NULL);
    us_sim_close(sim);
    snprintf(truth, sizeof truth, "%s", us_test_path("data/truth.csv"));
    const char *json[] = {"eval-sim", store, "--no-keyword", "--no-embed", "--truth", truth,
                          "--random-steps", "500", "--episodes", "40", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(json, "o1"), 0);
    cJSON *j = cJSON_Parse(us_test_slurp("o1"));
    REQUIRE(j != NULL);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "n_test")) >= 50);
    cJSON *comp = cJSON_GetObjectItem(j, "components");
    CHECK(cJSON_GetObjectItem(comp, "sasrec") != NULL);
    CHECK(cJSON_GetObjectItem(comp, "keyword") == NULL);
    cJSON *rp = cJSON_GetObjectItem(j, "random_policy");
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(rp, "steps")), 500);
    CHECK(cJSON_GetObjectItem(j, "truth") != NULL);
    /* the default reaction: choose, then the fitted judge, with its verdict and policy check */
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "judge")), "fitted");
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "choose")));
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "baselines"), "matrix_factorization"));
    CHECK(cJSON_IsBool(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "verdict"),
                                           "beats_every_part_and_baseline")));
    CHECK(cJSON_GetObjectItem(j, "choosing") != NULL);
    cJSON *pol = cJSON_GetObjectItem(j, "policies");
    REQUIRE(pol != NULL);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(pol, "episodes")), 40);
    CHECK(cJSON_GetObjectItem(pol, "sasrec-greedy") != NULL);
    cJSON_Delete(j);
    const char *text[] = {"eval-sim", store, "--no-keyword", "--no-embed", "--random-steps", "0",
                          "--episodes", "20", NULL};
    CHECK_EQ_INT(us_test_cli(text, "o2"), 0);
    CHECK(strstr(us_test_slurp("o2"), "held-out prediction") != NULL);
    CHECK(strstr(us_test_slurp("o2"), "1:m discrimination") != NULL);
    CHECK(strstr(us_test_slurp("o2"), "policy check (20 episodes each") != NULL);
    /* the full ensemble needs the extract stage first, and says which command makes it */
    const char *full[] = {"eval-sim", store, NULL};
    CHECK_EQ_INT(us_test_cli(full, "o3"), 1);
    CHECK(strstr(us_test_slurp("o3"), "usersim build") != NULL);
    const char *bad[] = {"eval-sim", store, "--mode", "loud", NULL};
    CHECK_EQ_INT(us_test_cli(bad, "o4"), 2);
    /* the paper's rule is printed with the table */
    CHECK(strstr(us_test_slurp("o2"), "vote thresholds: sasrec 0.5\n") != NULL);
}

TEST(cli_eval_sim_calibrate_shows_the_thresholds) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("c.usdb", store);
    REQUIRE(sim != NULL);
    us_sim_close(sim);
    us_sim_config cfg = us_sim_config_default();
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    cfg.calibrate = 1;
    us_err err;
    REQUIRE(us_sim_open(&sim, store, &cfg, &err) == US_OK);
    float t[US_SIM_NVOTES];
    us_sim_thresholds(sim, t);
    us_sim_calibration cal;
    us_sim_calibration_of(sim, &cal);
    us_sim_close(sim);
    const char *json[] = {"eval-sim", store, "--no-keyword", "--no-embed", "--calibrate",
                          "--random-steps", "200", "--episodes", "0", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(json, "o1"), 0);
    cJSON *j = cJSON_Parse(us_test_slurp("o1"));
    REQUIRE(j != NULL);
    cJSON *th = cJSON_GetObjectItem(j, "thresholds");
    REQUIRE(cJSON_IsNumber(cJSON_GetObjectItem(th, "sasrec")));
    CHECK(cJSON_GetObjectItem(th, "keyword") == NULL);
    CHECK((float)cJSON_GetNumberValue(cJSON_GetObjectItem(th, "sasrec")) == t[US_VOTE_SASREC]);
    CHECK(t[US_VOTE_SASREC] != 0.5f); /* an untrained head's P(like) is not fitted by 1/2 */
    cJSON *c = cJSON_GetObjectItem(j, "calibration");
    REQUIRE(c != NULL);
    CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "n_valid")), cal.n);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(c, "real_like_rate")),
               cal.real_like_rate, 1e-9);
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "like_rate"),
                                                        "sasrec")),
               cal.like_rate[US_VOTE_SASREC], 1e-9);
    cJSON_Delete(j);
    const char *text[] = {"eval-sim", store, "--no-keyword", "--no-embed", "--calibrate",
                          "--random-steps", "0", "--episodes", "0", NULL};
    CHECK_EQ_INT(us_test_cli(text, "o2"), 0);
    CHECK(strstr(us_test_slurp("o2"), "thresholds calibrated on ") != NULL);
    /* without the calibration the JSON has the paper's thresholds and no calibration */
    const char *plain[] = {"eval-sim", store, "--no-keyword", "--no-embed", "--random-steps", "0",
                           "--episodes", "0", "--json", NULL};
    CHECK_EQ_INT(us_test_cli(plain, "o3"), 0);
    j = cJSON_Parse(us_test_slurp("o3"));
    REQUIRE(j != NULL);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "thresholds"),
                                                   "sasrec")) == 0.5);
    CHECK(cJSON_GetObjectItem(j, "calibration") == NULL);
    cJSON_Delete(j);
    /* play takes --calibrate too and says which thresholds it decides with */
    FILE *f = fopen(us_test_path("in.txt"), "w");
    REQUIRE(f != NULL);
    fprintf(f, "#1\nquit\n");
    fclose(f);
    const char *play[] = {"play", store, "--user", "#0", "--no-keyword", "--no-embed",
                          "--calibrate", NULL};
    CHECK_EQ_INT(us_test_cli_input(play, "in.txt", "o4"), 0);
    CHECK(strstr(us_test_slurp("o4"), "thresholds calibrated on ") != NULL);
    /* a store without labeled validation interactions cannot be calibrated, and says so */
    REQUIRE(us_test_sql_exec(store, "UPDATE interactions SET label = NULL WHERE split = 1") == 0);
    CHECK_EQ_INT(us_test_cli(json, "o5"), 1);
    CHECK(strstr(us_test_slurp("o5"), "validation") != NULL);
    CHECK(strstr(us_test_slurp("o5"), store) != NULL);
}

TEST(cli_play_shows_each_reaction) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("p.usdb", store);
    REQUIRE(sim != NULL);
    char user[64], item[64];
    snprintf(user, sizeof user, "%s", us_sim_user_raw(sim, 3));
    snprintf(item, sizeof item, "%s", us_sim_item_raw(sim, 5));
    us_sim_close(sim);
    FILE *f = fopen(us_test_path("in.txt"), "w");
    REQUIRE(f != NULL);
    fprintf(f, "%s\n#7\nno-such-item\nhistory\nquit\n#8\n", item);
    fclose(f);
    /* --judge-known: an item from the user's history is judged too (and says it is a repeat) */
    const char *args[] = {"play",         store,        "--user",        user,
                          "--no-keyword", "--no-embed", "--judge-known", NULL};
    CHECK_EQ_INT(us_test_cli_input(args, "in.txt", "o1"), 0);
    const char *out = us_test_slurp("o1");
    CHECK(strstr(out, item) != NULL);
    CHECK(strstr(out, "sasrec") != NULL && strstr(out, "P(like)") != NULL);
    CHECK(strstr(out, "no item 'no-such-item'") != NULL);
    CHECK(strstr(out, "(this session)") != NULL);
    /* two reactions, then quit: the #8 after quit is never judged */
    int n = 0;
    for (const char *p = out; (p = strstr(p, "[P(choose) ")) != NULL; p++) n++;
    CHECK_EQ_INT(n, 2);
    const char *nouser[] = {"play", store, "--user", "nobody", "--no-keyword", "--no-embed", NULL};
    CHECK_EQ_INT(us_test_cli(nouser, "o2"), 1);
    CHECK(strstr(us_test_slurp("o2"), "no user 'nobody'") != NULL);
}

/* No byte that a terminal acts on (C0 controls, DEL, the C1 controls U+0080..U+009F) and no
 * 0xff in out, and `needle` in it. The failure messages never quote out (it may hold the raw
 * bytes). */
static void check_escaped(us_test_ctx *t_, const char *out, const char *needle) {
    for (const unsigned char *p = (const unsigned char *)out; *p; p++) {
        int bad = (*p < 0x20 && *p != '\n') || *p == 0x7f || *p == 0xff ||
                  (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
        if (bad) {
            us_test_fail(t_, __FILE__, __LINE__, "raw byte 0x%02x at offset %ld of the output",
                         *p, (long)((const char *)p - out));
            return;
        }
    }
    if (!strstr(out, needle))
        us_test_fail(t_, __FILE__, __LINE__, "expected \"%s\" in the output", needle);
}

/* Ids, categories and error messages come from files anyone can write: printed to a terminal,
 * their control characters and invalid UTF-8 are written as \xHH escapes. */
TEST(cli_escapes_control_characters_in_what_it_prints) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("x.usdb", store);
    REQUIRE(sim != NULL);
    us_sim_close(sim);
    /* user 3 and item 5 with an SGR sequence, an OSC title with BEL, a C1 CSI (U+009B) and a
     * byte that is not UTF-8 (categories take the same path, but the SASRec-only store loads
     * none) */
    REQUIRE(us_test_sql_exec(store, "UPDATE users SET raw_id = 'u' || char(27) || '[31mred' "
                                    "WHERE id = 3") == 0);
    REQUIRE(us_test_sql_exec(store, "UPDATE items SET raw_id = 'i' || char(27) || ']0;t' || "
                                    "char(7) || 'x' || char(155) || '2J' || CAST(x'ff' AS TEXT) "
                                    "WHERE id = 5") == 0);
    FILE *f = fopen(us_test_path("in.txt"), "w");
    REQUIRE(f != NULL);
    fprintf(f, "#5\nhistory\nno\033[5mitem\nquit\n");
    fclose(f);
    const char *args[] = {"play", store, "--user", "#3", "--no-keyword", "--no-embed",
                          "--judge-known", NULL};
    CHECK_EQ_INT(us_test_cli_input(args, "in.txt", "o1"), 0);
    const char *out = us_test_slurp("o1");
    check_escaped(t_, out, "user u\\x1b[31mred (#3)");
    check_escaped(t_, out, "i\\x1b]0;t\\x07x\\xc2\\x9b2J\\xff (");
    check_escaped(t_, out, "no item 'no\\x1b[5mitem'");
    /* a user that is not there, named with escapes */
    const char *nouser[] = {"play", store, "--user", "a\033[2Jb", "--no-keyword", "--no-embed",
                            NULL};
    CHECK_EQ_INT(us_test_cli(nouser, "o2"), 1);
    check_escaped(t_, us_test_slurp("o2"), "no user 'a\\x1b[2Jb'");
    /* a usage error echoing its argument */
    const char *seed[] = {"play", store, "--user", "#3", "--seed", "\033[8m", NULL};
    CHECK_EQ_INT(us_test_cli(seed, "o3"), 2);
    check_escaped(t_, us_test_slurp("o3"), "found '\\x1b[8m'");
    /* a library error quoting a binary file (--truth) */
    f = fopen(us_test_path("truth.bin"), "wb");
    REQUIRE(f != NULL);
    fputs("\033[31m\x07\x9b\xff\x01", f);
    fclose(f);
    char truth[1024];
    snprintf(truth, sizeof truth, "%s", us_test_path("truth.bin"));
    const char *ev[] = {"eval-sim", store, "--no-keyword", "--no-embed", "--truth", truth,
                        "--random-steps", "0", "--episodes", "1", NULL};
    CHECK_EQ_INT(us_test_cli(ev, "o4"), 1);
    check_escaped(t_, us_test_slurp("o4"), "found \"\\x1b[31m\\x07\\x9b\\xff\\x01\"");
}
