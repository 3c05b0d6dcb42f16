/* The simulated user's decision (simulator.h, "Simulated users") on a store made by hand: a
 * MovieLens u.data file ingested as any dataset, then the extract, embed and train-sasrec
 * tables filled with values chosen so that every vote has a known right answer. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "datasets/datasets.h"
#include "simulator/sasrec/sasrec.h"
#include "simulator/simulator.h"
#include "tests/test.h"

/* Users (raw ids) and their ratings in time order; the last two labeled of each go to
 * valid/test, so user 1's training history is items 1 (5), 2 (4), 3 (1), 4 (5), 7 (2). */
static const char U_DATA[] =
    "1\t1\t5\t100\n1\t2\t4\t200\n1\t3\t1\t300\n1\t4\t5\t400\n1\t7\t2\t450\n"
    "1\t5\t4\t500\n1\t6\t4\t600\n"
    "2\t2\t5\t100\n2\t5\t2\t200\n2\t6\t4\t300\n2\t1\t4\t400\n2\t3\t3\t500\n";

/* Items 1, 2, 3, 5 are audio; 4, 6, 7 kitchen. Keyword ids below. */
static const char EXTRACT_SQL[] =
    "CREATE TABLE keyword(id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE,"
    "  n_items INTEGER NOT NULL);"
    "CREATE TABLE item_keyword(item INTEGER NOT NULL, side INTEGER NOT NULL,"
    "  keyword INTEGER NOT NULL, PRIMARY KEY(item, side, keyword));"
    "CREATE TABLE item_profile(item INTEGER PRIMARY KEY, category TEXT,"
    "  pros_text TEXT NOT NULL, cons_text TEXT NOT NULL, source TEXT NOT NULL);"
    "INSERT INTO keyword VALUES(1,'sound',2),(2,'bass',1),(3,'battery',2),(4,'price',2),"
    "  (5,'noise',1),(6,'sharp',2),(7,'heavy',2);";

/* (raw item, side, keyword id) */
static const int KW[][3] = {
    {1, 0, 1}, {1, 0, 2},            /* item 1 pros: sound, bass */
    {2, 0, 3},                       /* item 2 pros: battery */
    {3, 1, 4}, {3, 1, 5},            /* item 3 cons: price, noise */
    {4, 0, 6},                       /* item 4 pros: sharp */
    {7, 1, 7},                       /* item 7 cons: heavy */
    {5, 0, 1}, {5, 0, 3}, {5, 0, 6}, /* item 5 pros: sound, battery, sharp */
    {5, 1, 4},                       /* item 5 cons: price */
    {6, 0, 6}, {6, 1, 7}, {6, 1, 4}, /* item 6 pros: sharp; cons: heavy, price */
};

static const char *const CATEGORY[8] = {NULL,    "audio", "audio",   "audio",
                                        "kitchen", "audio", "kitchen", "kitchen"};

/* Vectors of dimension 4: pros and cons of each raw item (stored unnormalized on purpose). */
static const float VEC[8][2][4] = {
    [1] = {{1, 0, 0, 0}, {0, 0, 0, 1}},
    [2] = {{0, 1, 0, 0}, {0, 0, 0, 1}},
    [3] = {{0, 0, 1, 0}, {0, 0, 2, 0}},
    [4] = {{0, 0, 0, 3}, {1, 0, 0, 0}},
    [5] = {{3, 4, 0, 0}, {0, 0, 1, 0}},
    [6] = {{0, 0, 0, 1}, {1, 1, 0, 0}},
    [7] = {{0, 1, 1, 0}, {1, 0, 0, 0}},
};

typedef struct fixture {
    char store[1024];
    int32_t user[3]; /* dense id of raw user 1, 2 */
    int32_t item[8]; /* dense id of raw item 1..7 */
} fixture;

static int exec(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int32_t dense_id(sqlite3 *db, const char *table, int raw) {
    char sql[128], rs[16];
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE raw_id = ?", table);
    snprintf(rs, sizeof rs, "%d", raw);
    sqlite3_stmt *q;
    int32_t id = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_text(q, 1, rs, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(q) == SQLITE_ROW) id = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return id;
}

/* Ingests U_DATA; with stages set, adds the extract and embed tables and a rating-head
 * checkpoint whose output bias is sasrec_bias (its other weights random). */
static int build(fixture *f, const char *name, int stages, float sasrec_bias) {
    char data[1024];
    snprintf(data, sizeof data, "%s", us_test_path("u.data"));
    FILE *fp = fopen(data, "w");
    if (!fp) return -1;
    fputs(U_DATA, fp);
    fclose(fp);
    snprintf(f->store, sizeof f->store, "%s", us_test_path(name));
    us_ingest_config ic = us_ingest_config_default();
    ic.format = US_FORMAT_MOVIELENS;
    ic.reviews_path = data;
    ic.out_path = f->store;
    ic.quiet = 1;
    us_err err;
    if (us_ingest(&ic, NULL, &err) != US_OK) return -1;
    sqlite3 *db;
    if (sqlite3_open(f->store, &db) != SQLITE_OK) return -1;
    for (int u = 1; u <= 2; u++) f->user[u] = dense_id(db, "users", u);
    for (int i = 1; i <= 7; i++) f->item[i] = dense_id(db, "items", i);
    int rc = 0;
    if (stages) {
        rc |= exec(db, EXTRACT_SQL);
        rc |= exec(db, "CREATE TABLE embedder(id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                       " model_sha256 TEXT NOT NULL, dim INTEGER NOT NULL);"
                       "INSERT INTO embedder VALUES(1, 'hand', '', 4);"
                       "CREATE TABLE item_vec(item INTEGER NOT NULL, side INTEGER NOT NULL,"
                       " vec BLOB NOT NULL, PRIMARY KEY(item, side));");
        sqlite3_stmt *q;
        rc |= sqlite3_prepare_v2(db, "INSERT INTO item_keyword VALUES(?,?,?)", -1, &q, NULL);
        for (size_t k = 0; k < sizeof KW / sizeof KW[0]; k++) {
            sqlite3_bind_int(q, 1, f->item[KW[k][0]]);
            sqlite3_bind_int(q, 2, KW[k][1]);
            sqlite3_bind_int(q, 3, KW[k][2]);
            rc |= sqlite3_step(q) != SQLITE_DONE;
            sqlite3_reset(q);
        }
        sqlite3_finalize(q);
        rc |= sqlite3_prepare_v2(db, "INSERT INTO item_profile VALUES(?,?,'','','hand')", -1,
                                 &q, NULL);
        for (int i = 1; i <= 7; i++) {
            sqlite3_bind_int(q, 1, f->item[i]);
            sqlite3_bind_text(q, 2, CATEGORY[i], -1, SQLITE_STATIC);
            rc |= sqlite3_step(q) != SQLITE_DONE;
            sqlite3_reset(q);
        }
        sqlite3_finalize(q);
        rc |= sqlite3_prepare_v2(db, "INSERT INTO item_vec VALUES(?,?,?)", -1, &q, NULL);
        for (int i = 1; i <= 7; i++)
            for (int s = 0; s < 2; s++) {
                sqlite3_bind_int(q, 1, f->item[i]);
                sqlite3_bind_int(q, 2, s);
                sqlite3_bind_blob(q, 3, VEC[i][s], sizeof VEC[i][s], SQLITE_STATIC);
                rc |= sqlite3_step(q) != SQLITE_DONE;
                sqlite3_reset(q);
            }
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    if (rc || !stages) return rc ? -1 : 0;
    us_sasrec_config sc = us_sasrec_config_default();
    sc.n_users = 2;
    sc.n_items = 7;
    sc.d = 8;
    sc.max_len = 3;
    us_sasrec *m;
    if (us_sasrec_init(&m, &sc, &err) != US_OK) return -1;
    m->params.out_b[0] = sasrec_bias;
    memset(m->params.out_w, 0, (size_t)sc.d * sizeof(float));
    us_status st = us_sasrec_checkpoint_save(f->store, m, NULL, "test", NULL, &err);
    us_sasrec_free(m);
    return st == US_OK ? 0 : -1;
}

/* Opens the fixture with cfg, or with the paper's reaction (whose votes these tests check). */
static us_sim *open_sim(const fixture *f, const us_sim_config *cfg) {
    us_sim *sim = NULL;
    us_err err;
    const us_sim_config paper = us_sim_config_paper();
    if (!cfg) cfg = &paper;
    if (us_sim_open(&sim, f->store, cfg, &err) != US_OK) {
        char buf[1200];
        fprintf(stderr, "us_sim_open: %s\n", us_err_str(&err, buf, sizeof buf));
    }
    return sim;
}

TEST(sim_loads_training_history) {
    fixture f;
    REQUIRE(build(&f, "h.usdb", 1, 0.0f) == 0);
    us_sim *sim = open_sim(&f, NULL);
    REQUIRE(sim != NULL);
    CHECK_EQ_INT(us_sim_n_users(sim), 2);
    CHECK_EQ_INT(us_sim_n_items(sim), 7);
    const int32_t *items;
    const int8_t *labels;
    int n = us_sim_history(sim, f.user[1], &items, &labels);
    REQUIRE(n == 5);
    const int raw[5] = {1, 2, 3, 4, 7}, lab[5] = {1, 1, 0, 1, 0};
    for (int k = 0; k < 5; k++) {
        CHECK_EQ_INT(items[k], f.item[raw[k]]);
        CHECK_EQ_INT(labels[k], lab[k]);
    }
    CHECK_STR(us_sim_category(sim, f.item[4]), "kitchen");
    CHECK_STR(us_sim_item_raw(sim, f.item[7]), "7");
    CHECK_STR(us_sim_user_raw(sim, f.user[2]), "2");
    CHECK_STR(us_sim_keyword(sim, 6), "sharp");
    CHECK_STR(us_sim_keyword(sim, 999), "");
    us_sim_close(sim);
}

TEST(sim_keyword_vote_prefers_the_candidates_category) {
    fixture f;
    REQUIRE(build(&f, "k.usdb", 1, 0.0f) == 0);
    us_sim_config cfg = us_sim_config_paper();
    us_sim *sim = open_sim(&f, &cfg);
    REQUIRE(sim != NULL);
    us_sim_worker *w;
    us_err err;
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    us_rng rng = us_rng_derive(1, 0);
    us_sim_reaction r;
    /* Item 5 (audio): liked audio items 1, 2 give sound and battery; item 4's "sharp" is in
     * the kitchen and does not count. Disliked audio item 3 gives price. 2 > 1: like. */
    us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[5], &rng, &r);
    CHECK_EQ_INT(r.pros_matches, 2);
    CHECK_EQ_INT(r.cons_matches, 1);
    CHECK_EQ_INT(r.vote[US_VOTE_KEYWORD], 1);
    REQUIRE(r.n_matched_pros == 2 && r.n_matched_cons == 1);
    CHECK_STR(us_sim_keyword(sim, r.matched_pros[0]), "sound");
    CHECK_STR(us_sim_keyword(sim, r.matched_pros[1]), "battery");
    CHECK_STR(us_sim_keyword(sim, r.matched_cons[0]), "price");
    /* Item 6 (kitchen): liked kitchen item 4 gives sharp; disliked kitchen item 7 gives heavy,
     * and price is not among 7's cons. 1 = 1: a tie. */
    us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[6], &rng, &r);
    CHECK_EQ_INT(r.pros_matches, 1);
    CHECK_EQ_INT(r.cons_matches, 1);
    us_sim_worker_free(w);
    us_sim_close(sim);

    /* Without the filter every liked and disliked item counts: item 5 gets sharp too (3), and
     * item 6 gets price from item 3 (2 cons against 1 pros: dislike). */
    cfg.category_filter = 0;
    sim = open_sim(&f, &cfg);
    REQUIRE(sim != NULL);
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[5], &rng, &r);
    CHECK_EQ_INT(r.pros_matches, 3);
    us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[6], &rng, &r);
    CHECK_EQ_INT(r.cons_matches, 2);
    CHECK_EQ_INT(r.vote[US_VOTE_KEYWORD], 0);
    us_sim_worker_free(w);
    us_sim_close(sim);
}

TEST(sim_category_falls_back_to_the_whole_history) {
    fixture f;
    REQUIRE(build(&f, "c.usdb", 1, 0.0f) == 0);
    us_sim *sim = open_sim(&f, NULL);
    REQUIRE(sim != NULL);
    us_sim_worker *w;
    us_err err;
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    us_rng rng = us_rng_derive(2, 0);
    us_sim_reaction r;
    /* User 2's training history: 2 (like, audio), 5 (dislike, audio), 6 (like, kitchen). For
     * kitchen item 4 the liked side is item 6 (same category); no kitchen item was disliked,
     * so the disliked side falls back to item 5, whose cons (price) are not item 4's. Item 4
     * has no cons at all: 1 pros match (sharp), 0 cons. */
    us_sim_decide(sim, w, f.user[2], NULL, NULL, 0, f.item[4], &rng, &r);
    CHECK_EQ_INT(r.pros_matches, 1);
    CHECK_EQ_INT(r.cons_matches, 0);
    CHECK_EQ_INT(r.vote[US_VOTE_KEYWORD], 1);
    /* Embeddings: pros(4) = e3, pros(6) = e3 (normalized): 1. cons(4) = e0 against cons(5) =
     * e2: 0. Like. */
    CHECK_NEAR(r.pros_sim, 1.0, 1e-6);
    CHECK_NEAR(r.cons_sim, 0.0, 1e-6);
    CHECK_EQ_INT(r.vote[US_VOTE_EMBED], 1);
    us_sim_worker_free(w);
    us_sim_close(sim);
}

TEST(sim_embedding_vote_uses_max_cosine) {
    fixture f;
    REQUIRE(build(&f, "e.usdb", 1, 0.0f) == 0);
    us_sim *sim = open_sim(&f, NULL);
    REQUIRE(sim != NULL);
    us_sim_worker *w;
    us_err err;
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    us_rng rng = us_rng_derive(3, 0);
    us_sim_reaction r;
    /* User 1, item 5: pros(5) = (3,4,0,0)/5 against liked audio items 1 (e0) and 2 (e1):
     * max(0.6, 0.8) = 0.8. cons(5) = e2 against disliked audio item 3's cons e2: 1. */
    us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[5], &rng, &r);
    CHECK_NEAR(r.pros_sim, 0.8, 1e-6);
    CHECK_NEAR(r.cons_sim, 1.0, 1e-6);
    CHECK_EQ_INT(r.vote[US_VOTE_EMBED], 0);
    CHECK_NEAR(r.score, (1.0 / (1.0 + exp(-1.0)) + 1.0 / (1.0 + exp(2.0)) + r.p_sasrec) / 3.0,
               1e-6);
    us_sim_worker_free(w);
    us_sim_close(sim);
}

TEST(sim_sasrec_vote_and_majority) {
    fixture f;
    us_err err;
    us_rng rng = us_rng_derive(4, 0);
    us_sim_reaction r;
    for (int sign = -1; sign <= 1; sign += 2) {
        REQUIRE(build(&f, sign < 0 ? "s0.usdb" : "s1.usdb", 1, 8.0f * (float)sign) == 0);
        us_sim *sim = open_sim(&f, NULL);
        REQUIRE(sim != NULL);
        us_sim_worker *w;
        REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
        /* out_w is zero, so P(like) = σ(±8) whatever the history. Item 5 for user 1: keyword
         * like, embedding dislike: SASRec decides. */
        us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[5], &rng, &r);
        CHECK_NEAR(r.p_sasrec, 1.0 / (1.0 + exp(-8.0 * sign)), 1e-6);
        CHECK_EQ_INT(r.vote[US_VOTE_SASREC], sign > 0);
        CHECK_EQ_INT(r.vote[US_VOTE_KEYWORD], 1);
        CHECK_EQ_INT(r.vote[US_VOTE_EMBED], 0);
        CHECK_EQ_INT(r.like, sign > 0);
        us_sim_worker_free(w);
        us_sim_close(sim);
    }
}

TEST(sim_ties_random_or_dislike) {
    fixture f;
    REQUIRE(build(&f, "t.usdb", 1, 0.0f) == 0);
    us_sim_config cfg = us_sim_config_paper();
    cfg.use[US_VOTE_EMBED] = cfg.use[US_VOTE_SASREC] = 0;
    us_err err;
    us_sim_reaction r;
    /* Item 6 for user 1 ties 1 to 1 on keywords. */
    for (int tie = 0; tie < 2; tie++) {
        cfg.tie = tie ? US_TIE_DISLIKE : US_TIE_RANDOM;
        us_sim *sim = open_sim(&f, &cfg);
        REQUIRE(sim != NULL);
        us_sim_worker *w;
        REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
        us_rng rng = us_rng_derive(5, 0), again = rng;
        int likes = 0, first[64];
        for (int k = 0; k < 400; k++) {
            us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[6], &rng, &r);
            CHECK_EQ_INT(r.vote[US_VOTE_SASREC], -1);
            likes += r.like;
            if (k < 64) first[k] = r.like;
        }
        if (tie) CHECK_EQ_INT(likes, 0);
        else CHECK(likes > 140 && likes < 260); /* Binomial(400, 1/2): mean 200, sd 10 */
        for (int k = 0; k < 64; k++) { /* the same stream gives the same reactions */
            us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[6], &again, &r);
            CHECK_EQ_INT(r.like, first[k]);
        }
        us_sim_worker_free(w);
        us_sim_close(sim);
    }
}

TEST(sim_episode_extends_the_history) {
    fixture f;
    REQUIRE(build(&f, "ep.usdb", 1, 0.0f) == 0);
    us_sim *sim = open_sim(&f, NULL);
    REQUIRE(sim != NULL);
    us_sim_worker *w;
    us_err err;
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    us_rng rng = us_rng_derive(6, 0);
    us_sim_reaction r;
    /* User 2 has disliked no kitchen item: for kitchen item 6 the disliked side falls back to
     * audio item 5, whose cons meet item 6's on price. Once user 2 dislikes kitchen item 7 in
     * the episode, that item alone is the disliked side, and the match is on heavy. */
    us_sim_decide(sim, w, f.user[2], NULL, NULL, 0, f.item[6], &rng, &r);
    REQUIRE(r.n_matched_cons == 1);
    CHECK_STR(us_sim_keyword(sim, r.matched_cons[0]), "price");
    int32_t ep_items[1] = {f.item[7]};
    int8_t ep_likes[1] = {0};
    us_sim_decide(sim, w, f.user[2], ep_items, ep_likes, 1, f.item[6], &rng, &r);
    REQUIRE(r.n_matched_cons == 1);
    CHECK_STR(us_sim_keyword(sim, r.matched_cons[0]), "heavy");
    us_sim_worker_free(w);
    us_sim_close(sim);
}

TEST(sim_stochastic_mode_follows_the_soft_score) {
    fixture f;
    REQUIRE(build(&f, "st.usdb", 1, 1.0f) == 0);
    us_sim_config cfg = us_sim_config_paper();
    cfg.mode = US_SIM_STOCHASTIC;
    us_sim *sim = open_sim(&f, &cfg);
    REQUIRE(sim != NULL);
    us_sim_worker *w;
    us_err err;
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    us_rng rng = us_rng_derive(7, 0);
    us_sim_reaction r;
    int likes = 0, n = 4000;
    for (int k = 0; k < n; k++) {
        us_sim_decide(sim, w, f.user[1], NULL, NULL, 0, f.item[5], &rng, &r);
        likes += r.like;
    }
    /* score = (σ(1) + σ(10·(0.8 - 1)) + σ(1)) / 3 ≈ 0.526; sd of the rate ≈ 0.008. */
    double want = (2.0 / (1.0 + exp(-1.0)) + 1.0 / (1.0 + exp(2.0))) / 3.0;
    CHECK_NEAR(r.score, want, 1e-6);
    CHECK_NEAR((double)likes / n, want, 0.04);
    us_sim_worker_free(w);
    us_sim_close(sim);
}

TEST(sim_missing_stages_name_the_command) {
    fixture f;
    REQUIRE(build(&f, "bare.usdb", 0, 0.0f) == 0);
    us_sim *sim = NULL;
    us_err err;
    char buf[1200];
    /* every missing stage points at `usersim build`, which makes them all */
    CHECK(us_sim_open(&sim, f.store, NULL, &err) == US_ENOTFOUND);
    CHECK(strstr(us_err_str(&err, buf, sizeof buf), "usersim build") != NULL);
    CHECK(strstr(buf, "extract") != NULL);
    us_sim_config cfg = us_sim_config_paper();
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    CHECK(us_sim_open(&sim, f.store, &cfg, &err) == US_ENOTFOUND);
    CHECK(strstr(us_err_str(&err, buf, sizeof buf), "usersim build") != NULL);
    CHECK(strstr(buf, "train-sasrec") != NULL);
    CHECK(sim == NULL);
    CHECK(us_sim_open(&sim, us_test_path("absent.usdb"), NULL, &err) == US_ENOTFOUND);
}

TEST(sim_refuses_a_vector_of_the_wrong_size) {
    fixture f;
    REQUIRE(build(&f, "v.usdb", 1, 0.0f) == 0);
    sqlite3 *db;
    REQUIRE(sqlite3_open(f.store, &db) == SQLITE_OK);
    REQUIRE(exec(db, "UPDATE item_vec SET vec = x'0000803f' WHERE rowid = 3") == 0);
    sqlite3_close(db);
    us_sim *sim = NULL;
    us_err err;
    char buf[1200];
    CHECK(us_sim_open(&sim, f.store, NULL, &err) == US_EFORMAT);
    us_err_str(&err, buf, sizeof buf);
    CHECK(strstr(buf, "item_vec") != NULL && strstr(buf, "16 bytes") != NULL);
    CHECK(sim == NULL);
}

/* One decision of user 1 about item 5 with thresholds t and the given votes in use. Item 5:
 * keyword 2 - 1 = 1, embedding 0.8 - 1 = -0.2, SASRec P(like) = σ(bias) (out_w is zero). */
static us_sim_reaction item5(const fixture *f, const int use[3], const float t[3],
                             us_sim_tie tie, us_rng *rng) {
    us_sim_config cfg = us_sim_config_paper();
    cfg.tie = tie;
    for (int k = 0; k < US_SIM_NVOTES; k++) cfg.use[k] = use[k], cfg.threshold[k] = t[k];
    us_sim_reaction r;
    memset(&r, 0, sizeof r);
    r.like = -1;
    us_sim *sim = open_sim(f, &cfg);
    us_sim_worker *w = NULL;
    us_err err;
    if (sim && us_sim_worker_init(&w, sim, 4, &err) == US_OK) {
        float got[US_SIM_NVOTES];
        us_sim_thresholds(sim, got);
        for (int k = 0; k < US_SIM_NVOTES; k++)
            if (got[k] != t[k]) r.like = -2; /* not calibrated: the thresholds as given */
        if (r.like != -2) us_sim_decide(sim, w, f->user[1], NULL, NULL, 0, f->item[5], rng, &r);
    }
    us_sim_worker_free(w);
    us_sim_close(sim);
    return r;
}

TEST(sim_thresholds_move_the_votes) {
    fixture f;
    /* σ(log 1.5) = 0.6: the SASRec vote's P(like) */
    REQUIRE(build(&f, "th.usdb", 1, (float)log(1.5)) == 0);
    us_rng rng = us_rng_derive(8, 0);
    const int kw[3] = {1, 0, 0}, em[3] = {0, 1, 0}, sa[3] = {0, 0, 1};
    us_sim_reaction r;
    /* keyword difference 1: threshold 0.5 likes, 1 ties, 1.5 dislikes */
    r = item5(&f, kw, (float[3]){0.5f, 0, 0.5f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.pros_matches - r.cons_matches, 1);
    CHECK_EQ_INT(r.vote[US_VOTE_KEYWORD], 1);
    CHECK_NEAR(r.score, 1.0 / (1.0 + exp(-0.5)), 1e-6); /* σ(1 · (1 - 0.5)) */
    r = item5(&f, kw, (float[3]){1.0f, 0, 0.5f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_KEYWORD], 0); /* a tie, to dislike */
    CHECK_NEAR(r.score, 0.5, 1e-6);
    int likes = 0;
    for (int k = 0; k < 64; k++) {
        r = item5(&f, kw, (float[3]){1.0f, 0, 0.5f}, US_TIE_RANDOM, &rng);
        likes += r.vote[US_VOTE_KEYWORD];
    }
    CHECK(likes > 10 && likes < 54); /* a tie at random: Binomial(64, 1/2) */
    r = item5(&f, kw, (float[3]){1.5f, 0, 0.5f}, US_TIE_RANDOM, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_KEYWORD], 0);
    CHECK_NEAR(r.score, 1.0 / (1.0 + exp(0.5)), 1e-6);
    /* embedding difference -0.2: dislike at 0, like at -0.5, a tie at exactly -0.2 */
    r = item5(&f, em, (float[3]){0, 0, 0.5f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_EMBED], 0);
    const float d = r.pros_sim - r.cons_sim;
    CHECK_NEAR(d, -0.2, 1e-6);
    r = item5(&f, em, (float[3]){0, -0.5f, 0.5f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_EMBED], 1);
    CHECK_NEAR(r.score, 1.0 / (1.0 + exp(-10.0 * 0.3)), 1e-5); /* σ(10 · (-0.2 + 0.5)) */
    r = item5(&f, em, (float[3]){0, d, 0.5f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_EMBED], 0);
    CHECK_NEAR(r.score, 0.5, 1e-6);
    /* SASRec P(like) 0.6: like at the default 0.5, dislike at 0.7, like at exactly 0.6 (>=);
     * the soft score is p with its odds divided by the threshold's, 0.18 / (0.18 + 0.28) at
     * 0.7, while the reaction keeps the model's 0.6 */
    r = item5(&f, sa, (float[3]){0, 0, 0.5f}, US_TIE_DISLIKE, &rng);
    CHECK_NEAR(r.p_sasrec, 0.6, 1e-6);
    CHECK_EQ_INT(r.vote[US_VOTE_SASREC], 1);
    CHECK(r.score == r.p_sasrec); /* the paper's rule: p itself, bit for bit */
    r = item5(&f, sa, (float[3]){0, 0, 0.7f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_SASREC], 0);
    CHECK_EQ_INT(r.like, 0);
    CHECK_NEAR(r.p_sasrec, 0.6, 1e-6);
    CHECK_NEAR(r.score, 0.18 / (0.18 + 0.28), 1e-5);
    const float p = r.p_sasrec;
    r = item5(&f, sa, (float[3]){0, 0, p}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_SASREC], 1);
    CHECK_NEAR(r.score, 0.5, 1e-6);
    r = item5(&f, sa, (float[3]){0, 0, -1.0f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_SASREC], 1);
    CHECK_NEAR(r.score, 1.0, 1e-6); /* t clamped to 0: every p likes */
    r = item5(&f, sa, (float[3]){0, 0, 2.0f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.vote[US_VOTE_SASREC], 0);
    CHECK_NEAR(r.score, 0.0, 1e-6);
    /* all three: keyword like (t 0.5), embedding like (t -0.5), SASRec dislike (t 0.7): 2 of 3 */
    r = item5(&f, (int[3]){1, 1, 1}, (float[3]){0.5f, -0.5f, 0.7f}, US_TIE_DISLIKE, &rng);
    CHECK_EQ_INT(r.like, 1);
}

TEST(sim_thresholds_must_be_finite) {
    fixture f;
    REQUIRE(build(&f, "nan.usdb", 1, 0.0f) == 0);
    us_sim_config cfg = us_sim_config_paper();
    CHECK(cfg.threshold[0] == 0.0f && cfg.threshold[1] == 0.0f && cfg.threshold[2] == 0.5f);
    CHECK_EQ_INT(cfg.calibrate, 0);
    cfg.threshold[US_VOTE_EMBED] = NAN;
    us_sim *sim = NULL;
    us_err err;
    CHECK(us_sim_open(&sim, f.store, &cfg, &err) == US_EINVAL);
    CHECK_STR(err.field, "threshold");
    CHECK(sim == NULL);
    cfg.threshold[US_VOTE_EMBED] = 0.0f;
    cfg.calibrate = 2;
    CHECK(us_sim_open(&sim, f.store, &cfg, &err) == US_EINVAL);
    CHECK_STR(err.field, "calibrate");
}
