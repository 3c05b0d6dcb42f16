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
#include "tests/simulator/sim_fixture.h"
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

/* An embedding with a NaN is refused when the store is opened, by table, item and side, not
 * taken for an empty text's missing vector. */
TEST(sim_refuses_a_vector_that_is_not_finite) {
    fixture f;
    REQUIRE(build(&f, "nan.usdb", 1, 0.0f) == 0);
    sqlite3 *db;
    REQUIRE(sqlite3_open(f.store, &db) == SQLITE_OK);
    REQUIRE(exec(db, "UPDATE item_vec SET vec = x'0000803f0000c07f0000803f0000803f' "
                     "WHERE rowid = 3") == 0);
    sqlite3_close(db);
    us_sim *sim = NULL;
    us_err err;
    char buf[1200];
    CHECK(us_sim_open(&sim, f.store, NULL, &err) == US_EFORMAT);
    us_err_str(&err, buf, sizeof buf);
    CHECK(strstr(buf, "item_vec") != NULL && strstr(buf, "not finite") != NULL);
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

/* Opens the sasrec fixture's store (us_test_sasrec_sim) again with cfg, less the keyword and
 * embedding votes as the fixture does. NULL on failure (printed). */
static us_sim *reopen(const char *store, us_sim_config cfg) {
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    us_sim *sim = NULL;
    us_err err;
    if (us_sim_open(&sim, store, &cfg, &err) != US_OK) {
        char buf[1200];
        fprintf(stderr, "us_sim_open: %s\n", us_err_str(&err, buf, sizeof buf));
    }
    return sim;
}

/* rng advanced by the three draws of a reaction (simulator.h, "Randomness"); the first two
 * (the engagement and judge draws) into u[0], u[1] when u is not NULL. */
static us_rng three_draws(us_rng rng, float *u) {
    const float u0 = us_rng_float(&rng), u1 = us_rng_float(&rng);
    (void)us_rng_u32(&rng);
    if (u) u[0] = u0, u[1] = u1;
    return rng;
}

/* A reaction that was not judged: a repeat under judge_known = 0. */
static int unjudged(const us_sim_reaction *r) {
    for (int k = 0; k < US_SIM_NVOTES; k++)
        if (r->vote[k] != -1) return 0;
    return r->like == 0 && r->judged == 0 && r->engage == 0 && r->p_reward == 0.0f;
}

TEST(sim_repeats_earn_no_like_and_show_the_logged_label) {
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("rep.usdb", store);
    REQUIRE(sim != NULL);
    const us_sim_config *c = us_sim_config_of(sim);
    CHECK_EQ_INT(c->judge_known, 0);
    CHECK_EQ_INT(c->choose, 1);
    CHECK_EQ_INT(c->mode, US_SIM_FITTED);
    us_sim_config known = us_sim_config_default();
    known.judge_known = 1;
    us_sim *simk = reopen(store, known);
    REQUIRE(simk != NULL);
    us_sim_worker *w, *wk;
    us_err err;
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    REQUIRE(us_sim_worker_init(&wk, simk, 4, &err) == US_OK);
    us_sim_reaction r;
    int seen[2] = {0, 0}, judged_likes = 0, n_fresh = 0;
    for (int32_t u = 0; u < us_sim_n_users(sim); u++) {
        const int32_t *items;
        const int8_t *labels;
        const int n = us_sim_history(sim, u, &items, &labels);
        for (int k = 0; k < n; k++) {
            int lab = -7;
            CHECK_EQ_INT(us_sim_known(sim, u, items[k], &lab), 1);
            CHECK_EQ_INT(lab, labels[k]);
            if (labels[k] >= 0) seen[labels[k]]++;
            us_rng rng = us_rng_derive((uint64_t)u, (uint64_t)k), again = rng;
            /* default: a repeat, its logged label shown, not judged, no like */
            const us_rng after = three_draws(rng, NULL);
            us_sim_decide(sim, w, u, NULL, NULL, 0, items[k], &rng, &r);
            CHECK_EQ_INT(r.repeat, 1);
            CHECK_EQ_INT(r.logged, labels[k]);
            CHECK(unjudged(&r));
            CHECK(memcmp(&rng, &after, sizeof rng) == 0); /* three draws, judged or not */
            /* judge_known: the same training item is judged, still a repeat with its label */
            us_sim_decide(simk, wk, u, NULL, NULL, 0, items[k], &again, &r);
            CHECK_EQ_INT(r.repeat, 1);
            CHECK_EQ_INT(r.logged, labels[k]);
            CHECK(r.vote[US_VOTE_SASREC] == 0 || r.vote[US_VOTE_SASREC] == 1);
            CHECK(r.score > 0.0f && r.score < 1.0f);
            CHECK(r.p_engage > 0.0f && r.p_engage < 1.0f);
            CHECK_NEAR(r.p_reward, r.p_engage * r.score, 1e-6);
            judged_likes += r.like;
        }
        /* items u never met: not repeats; one recommended earlier in the episode is */
        int32_t fresh[2];
        int nf = 0;
        for (int32_t i = 0; i < us_sim_n_items(sim) && nf < 2; i++)
            if (!us_sim_known(sim, u, i, NULL)) fresh[nf++] = i;
        REQUIRE(nf == 2);
        n_fresh++;
        us_rng rng = us_rng_derive(100 + (uint64_t)u, 0);
        us_sim_decide(sim, w, u, NULL, NULL, 0, fresh[0], &rng, &r);
        CHECK_EQ_INT(r.repeat, 0);
        CHECK_EQ_INT(r.logged, -1);
        CHECK(r.vote[US_VOTE_SASREC] >= 0);
        CHECK(r.p_reward > 0.0f);
        const int8_t liked[1] = {1};
        us_sim_decide(sim, w, u, &fresh[1], liked, 1, fresh[0], &rng, &r); /* another item */
        CHECK_EQ_INT(r.repeat, 0);
        CHECK(r.vote[US_VOTE_SASREC] >= 0);
        us_sim_decide(sim, w, u, &fresh[0], liked, 1, fresh[0], &rng, &r); /* itself, liked */
        CHECK_EQ_INT(r.repeat, 1);
        CHECK_EQ_INT(r.logged, -1);
        CHECK(unjudged(&r));
        us_sim_decide(simk, wk, u, &fresh[0], liked, 1, fresh[0], &rng, &r);
        CHECK_EQ_INT(r.repeat, 1);
        CHECK_EQ_INT(r.logged, -1);
        CHECK(r.vote[US_VOTE_SASREC] >= 0);
    }
    CHECK(seen[0] > 0 && seen[1] > 0); /* both labels were shown back */
    CHECK(judged_likes > 0);           /* judged again, a repeat can earn a like */
    CHECK_EQ_INT(n_fresh, us_sim_n_users(sim));
    us_sim_worker_free(w);
    us_sim_worker_free(wk);
    us_sim_close(sim);
    us_sim_close(simk);
}

TEST(sim_dislike_side_uses_the_disliked_items_pros) {
    fixture f;
    REQUIRE(build(&f, "ds.usdb", 1, 0.0f) == 0);
    /* User 2's training history: 2 (like, audio), 5 (dislike, audio), 6 (like, kitchen).
     * Disliked item 5: pros sound, battery, sharp; pros vector (3,4,0,0)/5; cons price; cons
     * vector e2. Candidates: audio item 1 (pros sound, bass; pros vector e0; no cons keywords;
     * cons vector e3), whose disliked side is item 5; kitchen item 6 (pros sharp; cons heavy,
     * price; pros e3, cons (1,1,0,0)/√2), whose disliked side falls back to item 5. */
    us_sim_reaction r[2][2]; /* [dislike_side][candidate: item 1, item 6] */
    char kw[2][2][2][16];    /* the first two matched cons keywords of each, "" past them */
    memset(kw, 0, sizeof kw);
    const int cand[2] = {1, 6};
    us_err err;
    for (int side = 0; side < 2; side++) {
        us_sim_config cfg = us_sim_config_paper();
        CHECK_EQ_INT(cfg.dislike_side, 0);
        cfg.dislike_side = side;
        cfg.tie = US_TIE_DISLIKE; /* ties vote 0, so a vote's change is the score's */
        us_sim *sim = open_sim(&f, &cfg);
        REQUIRE(sim != NULL);
        us_sim_worker *w;
        REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
        for (int c = 0; c < 2; c++) {
            us_rng rng = us_rng_derive(9, (uint64_t)c);
            us_sim_decide(sim, w, f.user[2], NULL, NULL, 0, f.item[cand[c]], &rng, &r[side][c]);
            for (int m = 0; m < 2 && m < r[side][c].n_matched_cons; m++)
                snprintf(kw[side][c][m], sizeof kw[side][c][m], "%s",
                         us_sim_keyword(sim, r[side][c].matched_cons[m]));
        }
        us_sim_worker_free(w);
        us_sim_close(sim);
    }
    /* cons with cons only: item 1 has no cons keywords and cos(e3, e2) = 0 */
    CHECK_EQ_INT(r[0][0].cons_matches, 0);
    CHECK_EQ_INT(r[0][0].n_matched_cons, 0);
    CHECK_NEAR(r[0][0].cons_sim, 0.0, 1e-6);
    /* with the dislike side: item 1's "sound" is among item 5's pros, cos(e0, pros 5) = 0.6 */
    CHECK_EQ_INT(r[1][0].cons_matches, 1);
    CHECK_EQ_INT(r[1][0].n_matched_cons, 1);
    CHECK_STR(kw[1][0][0], "sound");
    CHECK_NEAR(r[1][0].cons_sim, 0.6, 1e-6);
    /* the liked side does not move: liked audio item 2 (battery, e1) */
    for (int side = 0; side < 2; side++) {
        CHECK_EQ_INT(r[side][0].pros_matches, 0);
        CHECK_NEAR(r[side][0].pros_sim, 0.0, 1e-6);
    }
    /* embedding 0 - 0 is a tie (to dislike); 0 - 0.6 is below the threshold either way */
    CHECK_EQ_INT(r[1][0].vote[US_VOTE_EMBED], 0);
    /* item 6: cons with cons meets item 5 on price (1); the dislike side adds sharp (2), and
     * against liked kitchen item 6's sharp (1 pros match) the keyword vote goes from a tie to
     * a dislike; the embedding cons side stays 0 (pros e3 is orthogonal to pros 5) */
    CHECK_EQ_INT(r[0][1].cons_matches, 1);
    CHECK_EQ_INT(r[0][1].n_matched_cons, 1);
    CHECK_STR(kw[0][1][0], "price");
    CHECK_EQ_INT(r[1][1].cons_matches, 2);
    CHECK_EQ_INT(r[1][1].n_matched_cons, 2);
    CHECK_STR(kw[1][1][0], "price");
    CHECK_STR(kw[1][1][1], "sharp");
    CHECK_EQ_INT(r[0][1].vote[US_VOTE_KEYWORD], 0); /* 1 - 1: a tie, to dislike */
    CHECK_EQ_INT(r[1][1].vote[US_VOTE_KEYWORD], 0); /* 1 - 2 */
    CHECK_NEAR(r[0][1].score - r[1][1].score, /* the keyword part: σ(0) - σ(-1), over 3 */
               (0.5 - 1.0 / (1.0 + exp(1.0))) / 3.0, 1e-6);
    CHECK_EQ_INT(r[0][1].pros_matches, 1);
    CHECK_EQ_INT(r[1][1].pros_matches, 1);
    CHECK_NEAR(r[0][1].cons_sim, 0.0, 1e-6);
    CHECK_NEAR(r[1][1].cons_sim, 0.0, 1e-6);
    CHECK(r[1][1].cons_matches > r[0][1].cons_matches);
    CHECK(r[1][0].cons_sim > r[0][0].cons_sim);
}

TEST(sim_choose_then_judge_composes) {
    char store[1024];
    us_sim *sim = us_test_sasrec_sim("ctj.usdb", store);
    REQUIRE(sim != NULL);
    us_sim_config judge_only = us_sim_config_default();
    judge_only.choose = 0;
    us_sim *sim0 = reopen(store, judge_only);
    REQUIRE(sim0 != NULL);
    us_sim_worker *w, *w0;
    us_err err;
    REQUIRE(us_sim_worker_init(&w, sim, 4, &err) == US_OK);
    REQUIRE(us_sim_worker_init(&w0, sim0, 4, &err) == US_OK);
    us_sim_reaction r, again, r0;
    int n = 0, engaged = 0, judged_not_engaged = 0, likes = 0, likes0 = 0;
    int32_t best_u = -1, best_i = -1;
    float best_p = 0.0f, p_lo = 1.0f, p_hi = 0.0f;
    for (int32_t u = 0; u < us_sim_n_users(sim); u++)
        for (int32_t i = 0; i < us_sim_n_items(sim); i++) {
            if (us_sim_known(sim, u, i, NULL)) continue;
            n++;
            us_rng rng = us_rng_derive(1000 + (uint64_t)u, (uint64_t)i), same = rng, rng0 = rng;
            float draw[2];
            const us_rng three = three_draws(rng, draw);
            us_sim_decide(sim, w, u, NULL, NULL, 0, i, &rng, &r);
            CHECK_EQ_INT(r.repeat, 0);
            CHECK_EQ_INT(r.like, r.engage && r.judged);
            CHECK_NEAR(r.p_reward, (double)r.p_engage * r.score, 1e-6);
            CHECK(r.p_engage > 0.0f && r.p_engage < 1.0f);
            CHECK(r.score > 0.0f && r.score < 1.0f);
            engaged += r.engage;
            likes += r.like;
            judged_not_engaged += r.judged && !r.engage;
            if (r.p_engage < p_lo) p_lo = r.p_engage;
            if (r.p_engage > p_hi) p_hi = r.p_engage;
            if (fabsf(r.p_engage - 0.5f) < fabsf(best_p - 0.5f))
                best_u = u, best_i = i, best_p = r.p_engage;
            /* exactly three draws, first to last: engagement, judge, tie bits */
            CHECK(memcmp(&rng, &three, sizeof rng) == 0);
            CHECK_EQ_INT(r.engage, draw[0] < r.p_engage);
            CHECK_EQ_INT(r.judged, draw[1] < r.score);
            /* generators in the same state: the same reaction, bit for bit */
            us_sim_decide(sim, w, u, NULL, NULL, 0, i, &same, &again);
            CHECK(memcmp(&r, &again, sizeof r) == 0);
            /* judge only: always engaged, the like is the judge's, from the same judge draw */
            us_sim_decide(sim0, w0, u, NULL, NULL, 0, i, &rng0, &r0);
            CHECK(r0.p_engage == 1.0f);
            CHECK_EQ_INT(r0.engage, 1);
            CHECK_EQ_INT(r0.like, r0.judged);
            CHECK_NEAR(r0.p_reward, r0.score, 1e-6);
            CHECK_NEAR(r0.score, r.score, 1e-6); /* choosing only gates the same judge */
            CHECK_EQ_INT(r0.judged, r.judged);
            CHECK(memcmp(&rng0, &three, sizeof rng0) == 0);
            likes0 += r0.like;
        }
    CHECK(n > 1000);
    CHECK(engaged > n / 10 && engaged < n - n / 10); /* both outcomes, often */
    CHECK(judged_not_engaged > 0);                   /* a judged item the user did not pick */
    CHECK(likes < likes0);
    CHECK(p_hi - p_lo > 0.1f); /* p_engage depends on the pair */
    REQUIRE(best_u >= 0);

    /* Common random numbers: from one generator state, of two items the likelier one is
     * engaged whenever the other is, and judged liked whenever the other is. */
    int pairs = 0, split = 0;
    for (int32_t u = 0; u < us_sim_n_users(sim); u += 7) {
        int32_t a = -1, b = -1;
        for (int32_t i = 0; i < us_sim_n_items(sim) && b < 0; i++)
            if (!us_sim_known(sim, u, i, NULL)) *(a < 0 ? &a : &b) = i;
        REQUIRE(b >= 0);
        for (uint64_t s = 0; s < 200; s++) {
            us_rng ra = us_rng_derive(5000 + (uint64_t)u, s), rb = ra;
            us_sim_reaction x, y;
            us_sim_decide(sim, w, u, NULL, NULL, 0, a, &ra, &x);
            us_sim_decide(sim, w, u, NULL, NULL, 0, b, &rb, &y);
            const us_sim_reaction *hi = x.p_engage >= y.p_engage ? &x : &y;
            const us_sim_reaction *lo = hi == &x ? &y : &x;
            CHECK(!lo->engage || hi->engage);
            const us_sim_reaction *sh = x.score >= y.score ? &x : &y;
            const us_sim_reaction *sl = sh == &x ? &y : &x;
            CHECK(!sl->judged || sh->judged);
            split += x.engage != y.engage;
            pairs++;
        }
    }
    CHECK(pairs > 0 && split > 0);

    /* One pair, a fresh draw each time: the engagement frequency follows p_engage. */
    us_rng rng = us_rng_derive(77, 0);
    const int draws = 2000;
    int hits = 0;
    for (int k = 0; k < draws; k++) {
        us_sim_decide(sim, w, best_u, NULL, NULL, 0, best_i, &rng, &r);
        CHECK(r.p_engage == best_p);
        hits += r.engage;
    }
    const double sd = sqrt((double)best_p * (1.0 - best_p) / draws);
    CHECK_NEAR((double)hits / draws, best_p, 4.0 * sd);

    us_sim_worker_free(w);
    us_sim_worker_free(w0);
    us_sim_close(sim);
    us_sim_close(sim0);
}
