/* us_sim_evaluate (simulator.h, "Fidelity"): the statistics on known values, and the report on
 * a real synthetic store recomputed independently from the store's test split; the thresholds
 * us_sim_open calibrates on the validation split, checked against every candidate. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/embed/embed.h"
#include "simulator/keywords/keywords.h"
#include "simulator/simulator.h"
#include "tests/simulator/sim_fixture.h"
#include "tests/store.h"
#include "tests/test.h"

TEST(fidelity_spearman_and_jsd_known_values) {
    double s[32]; /* 4n doubles for n = 5 */
    const double a[5] = {1, 2, 3, 4, 5}, b[5] = {10, 20, 30, 40, 50}, c[5] = {5, 4, 3, 2, 1};
    CHECK_NEAR(us_stat_spearman(a, b, 5, s), 1.0, 1e-12);
    CHECK_NEAR(us_stat_spearman(a, c, 5, s), -1.0, 1e-12);
    /* ties share ranks: x ranks 1, 2.5, 2.5, 4 against 1, 2, 3, 4: 4.5 / sqrt(4.5 · 5) */
    const double x[4] = {1, 2, 2, 3}, y[4] = {1, 2, 3, 4};
    CHECK_NEAR(us_stat_spearman(x, y, 4, s), 4.5 / sqrt(22.5), 1e-12);
    const double k[4] = {7, 7, 7, 7};
    CHECK_NEAR(us_stat_spearman(k, y, 4, s), 0.0, 1e-12);
    CHECK_NEAR(us_stat_jsd_bernoulli(0.3, 0.3), 0.0, 1e-12);
    CHECK_NEAR(us_stat_jsd_bernoulli(0.0, 1.0), 1.0, 1e-12);
    /* p = 1/2, q = 0: H(1/4) - H(1/2)/2 = 0.811278 - 0.5 */
    CHECK_NEAR(us_stat_jsd_bernoulli(0.5, 0.0), 0.8112781244591328 - 0.5, 1e-12);
}

TEST(fidelity_report_matches_a_recount) {
    char store[1024];
    /* the paper's reaction (judge only) with SASRec alone: every decision is deterministic */
    us_sim *sim = us_test_sasrec_sim_cfg("f.usdb", store, us_sim_config_paper());
    REQUIRE(sim != NULL);
    us_sim_eval_config ec = us_sim_eval_config_default();
    char truth[1024];
    snprintf(truth, sizeof truth, "%s", us_test_path("data/truth.csv"));
    ec.truth_path = truth;
    ec.random_steps = 3000;
    us_sim_eval_report rep;
    us_err err;
    REQUIRE(us_sim_evaluate(sim, store, &ec, &rep, &err) == US_OK);

    /* Recount: decide every labeled test interaction the same way (a single SASRec vote, so
     * no draw is used) and count decisions against labels. */
    sqlite3 *db;
    REQUIRE(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *q;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT user, item, label FROM interactions WHERE split = 2 "
                                   "AND label IS NOT NULL ORDER BY user, pos",
                               -1, &q, NULL) == SQLITE_OK);
    us_sim_worker *w;
    REQUIRE(us_sim_worker_init(&w, sim, 0, &err) == US_OK);
    us_rng rng = us_rng_derive(99, 0);
    uint64_t n = 0, correct = 0, tp = 0, pred = 0, pos = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        us_sim_reaction r;
        int lab = sqlite3_column_int(q, 2);
        us_sim_decide(sim, w, sqlite3_column_int(q, 0), NULL, NULL, 0, sqlite3_column_int(q, 1),
                      &rng, &r);
        n++;
        correct += r.like == lab;
        tp += r.like && lab;
        pred += (uint64_t)r.like;
        pos += (uint64_t)lab;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    us_sim_worker_free(w);

    CHECK_EQ_INT(rep.n_test, n);
    CHECK(n >= 50);
    CHECK_NEAR(rep.ensemble.accuracy, (double)correct / n, 1e-12);
    CHECK_NEAR(rep.ensemble.precision, pred ? (double)tp / pred : 0.0, 1e-12);
    CHECK_NEAR(rep.ensemble.recall, (double)tp / pos, 1e-12);
    CHECK_NEAR(rep.real_like_rate, (double)pos / n, 1e-12);
    CHECK_NEAR(rep.sim_like_rate, (double)pred / n, 1e-12);
    /* with SASRec alone, the ensemble is the SASRec vote */
    CHECK_NEAR(rep.component[US_VOTE_SASREC].accuracy, rep.ensemble.accuracy, 1e-12);
    CHECK_EQ_INT(rep.component[US_VOTE_KEYWORD].n, 0);
    for (int j = 0; j < US_SIM_EVAL_NM; j++)
        CHECK(rep.discrimination[j] >= 0.0 && rep.discrimination[j] <= 1.0);
    CHECK(rep.n_discrimination > 0 && rep.n_discrimination <= pos);
    CHECK(rep.random_steps == 3000);
    CHECK(rep.random_like_rate > 0.0 && rep.random_like_rate < 1.0);
    CHECK(rep.n_items_aligned > 0);
    CHECK(rep.item_jsd >= 0.0 && rep.item_jsd <= 1.0);
    /* every test pair is in the generator's truth, whose p_like ranks the labels well */
    CHECK(rep.has_truth);
    CHECK_EQ_INT(rep.n_truth, n);
    CHECK(rep.truth_auc > 0.7);

    /* the same seed gives the same report */
    us_sim_eval_report again;
    REQUIRE(us_sim_evaluate(sim, store, &ec, &again, &err) == US_OK);
    CHECK(memcmp(&rep, &again, sizeof rep) == 0);
    us_sim_close(sim);
}

TEST(fidelity_bad_truth_file_names_the_line) {
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("b.usdb", store);
    REQUIRE(sim != NULL);
    char bad[1024];
    snprintf(bad, sizeof bad, "%s", us_test_path("bad_truth.csv"));
    FILE *f = fopen(bad, "w");
    REQUIRE(f != NULL);
    fputs("user,item,p_like,rating,label\nA1,B2,0.4,3,1\nA1,B3,1.7,5,1\n", f);
    fclose(f);
    us_sim_eval_config ec = us_sim_eval_config_default();
    ec.truth_path = bad;
    us_sim_eval_report rep;
    us_err err;
    CHECK(us_sim_evaluate(sim, store, &ec, &rep, &err) == US_EFORMAT);
    CHECK_EQ_INT(err.line, 3);
    CHECK_STR(err.field, "p_like");
    us_sim_close(sim);
}

/* ---- calibrated thresholds (simulator.h, "Thresholds") ---- */

/* Twice the likes of one vote at threshold t over scores s[0..n): above t like; equal to t a
 * tie (half a like when tie_half), or a like for SASRec (ge). */
static int64_t likes2(const float *s, size_t n, float t, int ge, int tie_half) {
    int64_t l2 = 0;
    for (size_t i = 0; i < n; i++)
        l2 += s[i] > t ? 2 : s[i] == t ? (ge ? 2 : tie_half) : 0;
    return l2;
}

/* Checks that t is the best candidate for scores s[0..n) against n_pos likes: every score,
 * every float strictly between two consecutive distinct scores (the midpoint), min - 1 and
 * max + 1 are tried independently of the library; none is strictly closer, and none as close
 * is smaller. Returns t's distance, in half-interactions (-1 on a failed check). */
static int64_t check_best(const float *s, size_t n, uint64_t n_pos, float t, int ge,
                          int tie_half) {
    float lo = s[0], hi = s[0];
    for (size_t i = 1; i < n; i++) lo = s[i] < lo ? s[i] : lo, hi = s[i] > hi ? s[i] : hi;
    const int64_t target = 2 * (int64_t)n_pos;
    const int64_t mine = llabs(likes2(s, n, t, ge, tie_half) - target);
    float cand[3];
    for (size_t i = 0; i < n + 2; i++) {
        int nc = 0;
        if (i == n) cand[nc++] = lo - 1.0f, cand[nc++] = hi + 1.0f;
        if (i < n) {
            cand[nc++] = s[i];
            float next = INFINITY; /* the next distinct score above s[i] */
            for (size_t j = 0; j < n; j++)
                if (s[j] > s[i] && s[j] < next) next = s[j];
            const float mid = s[i] + 0.5f * (next - s[i]);
            if (next < INFINITY && mid > s[i] && mid < next) cand[nc++] = mid;
        }
        if (i == n + 1) break;
        for (int c = 0; c < nc; c++) {
            const int64_t d = llabs(likes2(s, n, cand[c], ge, tie_half) - target);
            if (d < mine || (d == mine && cand[c] < t && !(ge && cand[c] < lo))) {
                fprintf(stderr, "    candidate %.9g (distance %lld) beats %.9g (%lld)\n",
                        (double)cand[c], (long long)d, (double)t, (long long)mine);
                return -1;
            }
        }
    }
    return mine;
}

/* The best threshold for n_pos likes by brute force over the candidates check_best lists. */
static float best_threshold(const float *s, size_t n, uint64_t n_pos, int ge, int tie_half) {
    float lo = s[0], hi = s[0];
    for (size_t i = 1; i < n; i++) lo = s[i] < lo ? s[i] : lo, hi = s[i] > hi ? s[i] : hi;
    float best = hi + 1.0f;
    int64_t best_d = llabs(likes2(s, n, best, ge, tie_half) - 2 * (int64_t)n_pos);
    for (size_t i = 0; i <= n; i++) {
        float cand[2];
        int nc = 0;
        if (i == n) {
            if (!ge) cand[nc++] = lo - 1.0f;
        } else {
            cand[nc++] = s[i];
            float next = INFINITY;
            for (size_t j = 0; j < n; j++)
                if (s[j] > s[i] && s[j] < next) next = s[j];
            const float mid = s[i] + 0.5f * (next - s[i]);
            if (next < INFINITY && mid > s[i] && mid < next) cand[nc++] = mid;
        }
        for (int c = 0; c < nc; c++) {
            int64_t d = llabs(likes2(s, n, cand[c], ge, tie_half) - 2 * (int64_t)n_pos);
            if (d < best_d || (d == best_d && cand[c] < best)) best = cand[c], best_d = d;
        }
    }
    return best;
}

/* The 2-of-3 majority's expected like rate over the n interactions at thresholds t (a vote's
 * tie likes with probability 1/2 or 0; an even split cannot happen with three votes). */
static double majority_rate(float s[US_SIM_NVOTES][4096], size_t n, const float t[US_SIM_NVOTES],
                            int tie_half) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double q[US_SIM_NVOTES];
        for (int k = 0; k < US_SIM_NVOTES; k++) {
            const float x = s[k][i];
            q[k] = k == US_VOTE_SASREC ? x >= t[k] : x > t[k] ? 1 : x < t[k] ? 0 : tie_half * 0.5;
        }
        sum += q[0] * q[1] + q[0] * q[2] + q[1] * q[2] - 2 * q[0] * q[1] * q[2];
    }
    return sum / (double)n;
}

/* The ensemble rate when every vote is fitted to `target` likes. */
static double rate_at_target(float s[US_SIM_NVOTES][4096], size_t n, uint64_t target,
                             int tie_half) {
    float t[US_SIM_NVOTES];
    for (int k = 0; k < US_SIM_NVOTES; k++)
        t[k] = best_threshold(s[k], n, target, k == US_VOTE_SASREC, tie_half);
    return majority_rate(s, n, t, tie_half);
}

TEST(fidelity_calibration_matches_the_ensemble_like_rate) {
    char store[1024];
    REQUIRE(us_test_full_store("cal.usdb", store) == 0);
    us_err err;
    char buf[1200];
    /* Each vote's scores on the labeled validation interactions, from the paper's rule sim. */
    us_sim *plain;
    const us_sim_config paper_cfg = us_sim_config_paper();
    REQUIRE(us_sim_open(&plain, store, &paper_cfg, &err) == US_OK);
    sqlite3 *db;
    REQUIRE(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *q;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT user, item, label FROM interactions WHERE split = 1 "
                                   "AND label IS NOT NULL ORDER BY user, pos",
                               -1, &q, NULL) == SQLITE_OK);
    us_sim_worker *w;
    REQUIRE(us_sim_worker_init(&w, plain, 0, &err) == US_OK);
    static float s[US_SIM_NVOTES][4096];
    static int32_t vu[4096], vi[4096];
    size_t n = 0;
    uint64_t n_pos = 0;
    us_rng rng = us_rng_derive(3, 0);
    while (sqlite3_step(q) == SQLITE_ROW && n < 4096) {
        us_sim_reaction r;
        vu[n] = sqlite3_column_int(q, 0);
        vi[n] = sqlite3_column_int(q, 1);
        n_pos += sqlite3_column_int(q, 2) == 1;
        us_sim_decide(plain, w, vu[n], NULL, NULL, 0, vi[n], &rng, &r);
        s[US_VOTE_KEYWORD][n] = (float)(r.pros_matches - r.cons_matches);
        s[US_VOTE_EMBED][n] = r.pros_sim - r.cons_sim;
        s[US_VOTE_SASREC][n] = r.p_sasrec;
        n++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    us_sim_worker_free(w);
    us_sim_close(plain);
    REQUIRE(n >= 50 && n < 4096);
    const double real = (double)n_pos / (double)n;
    CHECK(real > 0.5 && real < 1.0);

    for (int tie = 0; tie < 2; tie++) {
        us_sim_config cfg = us_sim_config_paper();
        cfg.tie = tie ? US_TIE_DISLIKE : US_TIE_RANDOM;
        cfg.calibrate = 1;
        us_sim *sim;
        if (us_sim_open(&sim, store, &cfg, &err) != US_OK) {
            us_test_fail(t_, __FILE__, __LINE__, "%s", us_err_str(&err, buf, sizeof buf));
            return;
        }
        float t[US_SIM_NVOTES];
        us_sim_thresholds(sim, t);
        us_sim_calibration cal;
        us_sim_calibration_of(sim, &cal);
        CHECK_EQ_INT(cal.n, n);
        CHECK_NEAR(cal.real_like_rate, real, 1e-12);
        CHECK(memcmp(t, us_sim_config_of(sim)->threshold, sizeof t) == 0);
        /* every vote is fitted to the common target... */
        const uint64_t target = (uint64_t)llround(cal.target_rate * (double)n);
        CHECK_NEAR(cal.target_rate * (double)n, (double)target, 1e-6);
        const int half = !tie;
        for (int k = 0; k < US_SIM_NVOTES; k++) {
            const int ge = k == US_VOTE_SASREC;
            CHECK(check_best(s[k], n, target, t[k], ge, half) >= 0);
            const double rate = (double)likes2(s[k], n, t[k], ge, half) / (2.0 * (double)n);
            CHECK_NEAR(cal.like_rate[k], rate, 1e-12);
        }
        /* ...chosen so that the ensemble's rate is closest to the real one (the smaller target
         * on equal distance), and no further from it than the paper's rule */
        const double ens = majority_rate(s, n, t, half);
        CHECK_NEAR(cal.ensemble_like_rate, ens, 1e-9);
        if (target > 0)
            CHECK(fabs(rate_at_target(s, n, target - 1, half) - real) > fabs(ens - real));
        if (target < n)
            CHECK(fabs(rate_at_target(s, n, target + 1, half) - real) >= fabs(ens - real));
        const double paper = majority_rate(s, n, us_sim_config_default().threshold, half);
        CHECK(fabs(ens - real) <= fabs(paper - real) + 1e-12);
        CHECK(fabs(ens - real) < 0.05);
        /* the calibrated sim's decisions on the same interactions come to those rates (ties
         * to dislike: exactly) */
        REQUIRE(us_sim_worker_init(&w, sim, 0, &err) == US_OK);
        uint64_t likes[US_SIM_NVOTES] = {0}, ens_likes = 0;
        for (size_t i = 0; i < n; i++) {
            us_sim_reaction r;
            us_sim_decide(sim, w, vu[i], NULL, NULL, 0, vi[i], &rng, &r);
            for (int k = 0; k < US_SIM_NVOTES; k++) likes[k] += (uint64_t)r.vote[k];
            ens_likes += (uint64_t)r.like;
        }
        us_sim_worker_free(w);
        for (int k = 0; k < US_SIM_NVOTES; k++) {
            if (tie) CHECK_NEAR((double)likes[k] / (double)n, cal.like_rate[k], 1e-12);
            else CHECK(fabs((double)likes[k] / (double)n - cal.like_rate[k]) < 0.15);
        }
        if (tie) CHECK_NEAR((double)ens_likes / (double)n, ens, 1e-12);
        /* deterministic: a second open fits the same thresholds */
        us_sim *again;
        REQUIRE(us_sim_open(&again, store, &cfg, &err) == US_OK);
        float t2[US_SIM_NVOTES];
        us_sim_thresholds(again, t2);
        CHECK(memcmp(t, t2, sizeof t) == 0);
        us_sim_close(again);
        us_sim_close(sim);
    }
}

TEST(fidelity_calibration_needs_validation_labels) {
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("nv.usdb", store);
    REQUIRE(sim != NULL);
    us_sim_close(sim);
    REQUIRE(us_test_sql_exec(store, "UPDATE interactions SET label = NULL WHERE split = 1") == 0);
    us_sim_config cfg = us_sim_config_default();
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    us_err err;
    char buf[1200];
    /* the fitted judge and choosing are fitted on the validation labels: refused, naming why */
    CHECK(us_sim_open(&sim, store, &cfg, &err) == US_EEMPTY);
    CHECK(strstr(us_err_str(&err, buf, sizeof buf), "validation") != NULL);
    cfg = us_sim_config_paper();
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    REQUIRE(us_sim_open(&sim, store, &cfg, &err) == US_OK); /* the paper's rule needs none */
    us_sim_calibration cal;
    us_sim_calibration_of(sim, &cal);
    CHECK_EQ_INT(cal.n, 0);
    us_sim_close(sim);
    cfg.calibrate = 1;
    sim = NULL;
    CHECK(us_sim_open(&sim, store, &cfg, &err) == US_EEMPTY);
    CHECK(sim == NULL);
    us_err_str(&err, buf, sizeof buf);
    CHECK(strstr(buf, store) != NULL);
    CHECK(strstr(buf, "validation") != NULL);
}

/* ---- the baselines and the verdict ---- */

/* AUC of scores s against 0/1 labels y (n of each) by counting every positive-negative pair,
 * a tie counting one half: the definition, independent of any ranking code. */
static double auc_pairs(const double *s, const int8_t *y, size_t n) {
    double wins = 0, pos = 0, neg = 0;
    for (size_t a = 0; a < n; a++) {
        if (!y[a]) continue;
        pos++;
        for (size_t b = 0; b < n; b++)
            if (!y[b]) wins += s[a] > s[b] ? 1.0 : s[a] == s[b] ? 0.5 : 0.0;
    }
    for (size_t b = 0; b < n; b++) neg += !y[b];
    return pos > 0 && neg > 0 ? wins / (pos * neg) : 0.5;
}

TEST(fidelity_item_rate_counts_labeled_interactions_only) {
    char store[1024];
    us_sim *sim = us_test_sasrec_sim_cfg("ir.usdb", store, us_sim_config_paper());
    REQUIRE(sim != NULL);
    us_sim_close(sim);
    /* a third of the training interactions become unlabeled (Anime's -1: a NULL label) */
    REQUIRE(us_test_sql_exec(store, "UPDATE interactions SET label = NULL "
                                    "WHERE split = 0 AND (user + 2 * item) % 3 = 0") == 0);
    CHECK(us_test_sql_int(store, "SELECT count(*) FROM interactions "
                                 "WHERE split = 0 AND label IS NULL") > 50);
    us_sim_config cfg = us_sim_config_paper();
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    us_err err;
    char buf[1200];
    if (us_sim_open(&sim, store, &cfg, &err) != US_OK) {
        us_test_fail(t_, __FILE__, __LINE__, "%s", us_err_str(&err, buf, sizeof buf));
        return;
    }
    us_sim_eval_config ec = us_sim_eval_config_default();
    ec.random_steps = 0;
    us_sim_eval_report rep;
    const us_status st = us_sim_evaluate(sim, store, &ec, &rep, &err);
    us_sim_close(sim);
    CHECK_OK(st, err);
    REQUIRE(st == US_OK);

    /* Recount from the store: per item, the likes and the labeled and all interactions of the
     * training split; the labeled test interactions scored by (likes + 1) / (labeled + 2). */
    uint32_t likes[US_TEST_SIM_ITEMS] = {0}, labeled[US_TEST_SIM_ITEMS] = {0},
             all[US_TEST_SIM_ITEMS] = {0};
    sqlite3 *db;
    REQUIRE(sqlite3_open_v2(store, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *q;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT item, label FROM interactions WHERE split = 0", -1, &q,
                               NULL) == SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const int i = sqlite3_column_int(q, 0);
        REQUIRE(i >= 0 && i < US_TEST_SIM_ITEMS);
        all[i]++;
        if (sqlite3_column_type(q, 1) == SQLITE_NULL) continue;
        labeled[i]++;
        likes[i] += sqlite3_column_int(q, 1) == 1;
    }
    sqlite3_finalize(q);
    REQUIRE(sqlite3_prepare_v2(db, "SELECT item, label FROM interactions WHERE split = 2 "
                                   "AND label IS NOT NULL ORDER BY user, pos",
                               -1, &q, NULL) == SQLITE_OK);
    static double rate[4096], old_rate[4096];
    static int8_t lab[4096];
    size_t n = 0;
    uint64_t correct = 0;
    double logloss = 0;
    while (sqlite3_step(q) == SQLITE_ROW && n < 4096) {
        const int i = sqlite3_column_int(q, 0);
        REQUIRE(i >= 0 && i < US_TEST_SIM_ITEMS);
        lab[n] = (int8_t)(sqlite3_column_int(q, 1) == 1);
        rate[n] = (likes[i] + 1.0) / (labeled[i] + 2.0);
        old_rate[n] = (likes[i] + 1.0) / (all[i] + 2.0); /* the old, wrong denominator */
        correct += (rate[n] >= 0.5) == lab[n];
        logloss -= lab[n] ? log(rate[n]) : log(1 - rate[n]);
        n++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    REQUIRE(n >= 50 && n < 4096);

    const double auc = auc_pairs(rate, lab, n), old_auc = auc_pairs(old_rate, lab, n);
    CHECK_EQ_INT(rep.item_rate.n, n);
    CHECK_NEAR(rep.item_rate.auc, auc, 1e-12);
    CHECK_NEAR(rep.item_rate.accuracy, (double)correct / (double)n, 1e-12);
    CHECK_NEAR(rep.item_rate.logloss, logloss / (double)n, 1e-12);
    /* the NULLed rows move the old denominator's AUC away from the right one, so the report
     * could not match both */
    CHECK(fabs(auc - old_auc) > 1e-3);
}

TEST(fidelity_verdict_names_the_best_other) {
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("v.usdb", store);
    REQUIRE(sim != NULL);
    us_sim_eval_config ec = us_sim_eval_config_default();
    ec.random_steps = 0;
    us_sim_eval_report rep;
    us_err err;
    const us_status st = us_sim_evaluate(sim, store, &ec, &rep, &err);
    CHECK_OK(st, err);
    const us_sim_config sc = *us_sim_config_of(sim);
    us_sim_close(sim);
    REQUIRE(st == US_OK);

    /* The default judge (FITTED) without the keyword and embedding votes: it is compared with
     * SASRec, the paper's majority vote and the four baselines, in fidelity.c's order (the
     * first of equal AUCs wins). */
    REQUIRE(sc.mode == US_SIM_FITTED);
    REQUIRE(!sc.use[US_VOTE_KEYWORD] && !sc.use[US_VOTE_EMBED] && sc.use[US_VOTE_SASREC]);
    const char *names[] = {"sasrec", "majority vote", "user+item bias", "matrix factorization",
                           "item like rate", "popularity"};
    const double aucs[] = {rep.component[US_VOTE_SASREC].auc, rep.majority.auc, rep.bias.auc,
                           rep.mf.auc, rep.item_rate.auc, rep.popularity_auc};
    size_t best = 0;
    for (size_t k = 0; k < sizeof aucs / sizeof *aucs; k++) {
        CHECK(aucs[k] >= 0.0 && aucs[k] <= 1.0);
        if (aucs[k] > aucs[best]) best = k;
    }
    CHECK_STR(rep.best_other, names[best]);
    CHECK(rep.best_other_auc == aucs[best]);
    CHECK_EQ_INT(rep.beats_all, rep.ensemble.auc > aucs[best]);
    CHECK(rep.n_test > 0 && rep.bias.n == rep.n_test && rep.mf.n == rep.n_test &&
          rep.item_rate.n == rep.n_test);
    /* a baseline that learned something: the verdict is not among coin flips */
    CHECK(rep.best_other_auc > 0.5);

    CHECK(rep.decision_auc >= 0.0 && rep.decision_auc <= 1.0);
    CHECK(rep.decision_freq_auc >= 0.0 && rep.decision_freq_auc <= 1.0);
    CHECK_EQ_INT(rep.decision_draws, ec.decision_draws);
    for (int j = 0; j < US_SIM_EVAL_NM; j++) {
        CHECK(rep.popularity_discrimination[j] >= 0.0 && rep.popularity_discrimination[j] <= 1.0);
        CHECK(rep.discrimination[j] >= 0.0 && rep.discrimination[j] <= 1.0);
    }
    CHECK_EQ_INT(rep.has_choose, 1);
    CHECK(rep.engage_auc >= 0.0 && rep.engage_auc <= 1.0);
    CHECK(rep.engage_rate_test > 0.0 && rep.engage_rate_test <= 1.0);

    /* The paper's reaction on the same store: its judge IS the SASRec vote (one vote), so it
     * cannot beat SASRec: beats_all is 0 however the rivals come out. */
    us_sim_config pc = us_sim_config_paper();
    pc.use[US_VOTE_KEYWORD] = pc.use[US_VOTE_EMBED] = 0;
    REQUIRE(us_sim_open(&sim, store, &pc, &err) == US_OK);
    us_sim_eval_report paper;
    REQUIRE(us_sim_evaluate(sim, store, &ec, &paper, &err) == US_OK);
    us_sim_close(sim);
    CHECK(paper.ensemble.auc == paper.component[US_VOTE_SASREC].auc);
    CHECK_EQ_INT(paper.beats_all, 0);
    CHECK(paper.best_other_auc >= paper.ensemble.auc);
    CHECK_EQ_INT(paper.has_choose, 0);
}
