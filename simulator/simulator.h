/* simulator.h — the public header of the simulator room's root, the user model (DESIGN.md: one
 * public header per room and sub-room): the simulated users and their fidelity. The stages
 * that feed it live in sub-rooms, each with its own header: simulator/keywords/keywords.h,
 * simulator/embed/embed.h and simulator/sasrec/sasrec.h.
 *
 * ==== Simulated users ==== (simulator/sim.c, collab.c)
 *
 * The population of a store, loaded once into flat arrays (DESIGN.md), and the reaction of one
 * simulated user to one recommended item. A reaction has two parts, as the choice models of
 * RecSim and KuaiSim: would the user CHOOSE (engage with) the item, and if so would they LIKE
 * it (the judge, after "LLM-Powered User Simulator for Recommender System", AAAI 2025: a
 * keyword vote, an embedding vote, a SASRec vote, here stacked with two collaborative parts).
 * The reward of an environment step is a like.
 *
 *   us_sim_config cfg = us_sim_config_default();
 *   us_sim *sim;
 *   us_sim_worker *w;                        // one per thread: all mutable scratch
 *   if (us_sim_open(&sim, "games.usdb", &cfg, &err) != US_OK) ...;
 *   us_sim_worker_init(&w, sim, 200, &err);  // episodes of up to 200 steps
 *   us_rng rng = us_rng_derive(seed, step);
 *   us_sim_reaction r;
 *   us_sim_decide(sim, w, user, ep_items, ep_likes, ep_len, item, &rng, &r);
 *   // r.like, r.engage, r.p_engage, r.score, r.vote[US_VOTE_KEYWORD], r.pros_matches, ...
 *
 * The history H of user u is u's TRAINING interactions in the store (split 0, oldest first)
 * followed by the episode so far (the items recommended with their simulated reactions).
 *
 * Known items. An item of u's training history or already recommended in the episode is a
 * REPEAT: with cfg.judge_known = 0 (default) it earns no like and is not judged (repeat = 1,
 * logged = the logged label of a training item: 1, 0, or -1 for unlabeled / episode items);
 * with judge_known = 1 it is judged like any other item (the paper).
 *
 * The judge's parts, for candidate item i:
 *   L, D    the liked / disliked items of H that share i's category; each falls back to all
 *           the liked / disliked items of H when none shares it (cfg.category_filter = 0 skips
 *           the filter). Unlabeled interactions (Anime's -1) belong to neither.
 *   keyword pros_matches = how many of i's pros keywords occur among the pros keywords of the
 *           items of L; cons_matches = how many of i's cons keywords occur among the cons
 *           keywords of D, plus (cfg.dislike_side = 1, default) how many of i's pros keywords
 *           occur among the pros keywords of D: an item that resembles what the user disliked
 *           counts against it even where no review text gave cons keywords. Raw score
 *           x = pros_matches - cons_matches; vote like when x > t, dislike when x < t,
 *           t = cfg.threshold[KEYWORD].
 *   embed   pros_sim = max over j in L of cos(pros_vec(i), pros_vec(j)); cons_sim = max over j
 *           in D of cos(cons_vec(i), cons_vec(j)) and, with dislike_side, of
 *           cos(pros_vec(i), pros_vec(j)) (vectors are L2-normalized: a dot product). An empty
 *           side (no item, or no vector) scores cfg.empty_sim. x = pros_sim - cons_sim; vote
 *           like when x > t, dislike when x < t, t = cfg.threshold[EMBED].
 *   sasrec  p_sasrec = the rating head's P(like | u, last T items of H, i). Vote like when
 *           p_sasrec >= cfg.threshold[SASREC].
 *   bias    p_bias = σ(mu + b_u + b_i), a user+item bias logistic model (collab.c) fitted on
 *           the training split's labels when the store is opened (L2 strength chosen on the
 *           validation split).
 *   mf      p_mf = σ(mu + b_u + b_i + p_u·q_i), logistic matrix factorization with
 *           cfg.mf_factors factors, fitted likewise (SGD from cfg.seed, epochs chosen on the
 *           validation split).
 *   category c_rate = (likes + 2r) / (labeled + 2) over the items of H in i's category, r the
 *           user's like rate in H ((likes + 1) / (labeled + 2)): the user's taste for the
 *           category, shrunk to their overall rate (0 without categories). A part of the
 *           fitted judge only.
 *   A keyword or embedding score equal to its threshold is a tie and goes by cfg.tie: at
 *   random (the paper) or to dislike (the released code). The default thresholds 0, 0, 1/2
 *   are the paper's rule.
 * The judge (cfg.mode):
 *   FITTED (default) score = σ(b_0 + Σ_j b_j·z_j), a logistic regression (Newton; its L2
 *           strength chosen by 5-fold cross-validation) over the standardized parts in use,
 *           z = (keyword x, embedding x, logit p_sasrec, logit p_bias, logit p_mf,
 *           logit c_rate), fitted on the store's labeled validation interactions
 *           (split 1, each scored from the training history with an empty episode, as
 *           eval-sim scores a test one) when the store is opened: stacking. The judge likes
 *           with probability `score` (a draw), so its decisions rank as its score does.
 *   MAJORITY like when more than half of the enabled votes say like (the paper's 2 of 3; an
 *           even split goes by cfg.tie); WEIGHTED like when sum w_k·vote_k is more than half
 *           of sum w_k (equal: cfg.tie); STOCHASTIC like with probability `score`, the soft
 *           ensemble sum w_k·p_k / sum w_k with, each centred on its vote's threshold t_k so
 *           that p_k > 1/2 exactly when vote k likes (ties: 1/2),
 *             p_keyword = σ(cfg.keyword_scale·(x - t)),  p_embed = σ(cfg.embed_scale·(x - t)),
 *             p_soft    = σ(logit p_sasrec - logit t) = p(1-t) / (p(1-t) + (1-p)t), t clamped
 *                         to [0, 1] (p_sasrec itself at the default t = 1/2).
 *   `score` (the judge's P(like)) is reported in every mode; eval-sim ranks by it.
 * Thresholds: liked items dominate most histories, so under the paper's rule each vote says
 * like nearly always. cfg.calibrate = 1 makes us_sim_open choose the enabled votes' thresholds
 * on the validation split so that the MAJORITY / WEIGHTED / STOCHASTIC ensemble's like rate
 * there is closest to the real like rate of their labels (FITTED needs no thresholds; its
 * votes are still reported at the thresholds in use): for a target count of likes, each vote
 * takes the threshold whose like count is closest to it (candidates: every distinct score,
 * every midpoint (float) strictly between two consecutive ones, min - 1 and max + 1; at a
 * candidate equal to a score that score is a tie, counted 1/2 like under US_TIE_RANDOM and 0
 * under US_TIE_DISLIKE; SASRec: p >= t, so it likes, and its min - 1 is left out; the
 * smallest threshold on equal distance), and the common target is searched so that the
 * ensemble's expected like rate with those thresholds (ties weighed as above, STOCHASTIC by
 * its mean score) comes closest to the real rate (the smaller target on equal distance).
 * Deterministic, no draw. With one vote enabled, that vote alone matches the real rate.
 *
 * Choosing (cfg.choose = 1, default): the engagement parts of u and i are e = (s, log(1 +
 * pop_i), share, pros_sim): s the next-item head's logit h·e_i after the last T items of u's
 * TRAINING history (a SASRec next-item checkpoint, trained against items the user did not
 * choose; `usersim build` trains one with the paper's preset, T 50; the history is encoded
 * once per user and kept by the worker, so a step costs a dot product: the episode moves the
 * other parts), pop_i the item's training interactions, share the fraction of H in i's
 * category (0 without categories), pros_sim the embedding part above (when in use); and
 * p_engage = σ(a_0 + Σ_j a_j·(e_j - mean_j) / sd_j), a logistic regression fitted when the
 * store is opened on the validation split: each validation interaction's item (chosen) against
 * cfg.engage_negatives items drawn uniformly from those the user never touched in training
 * (not chosen); a part constant there is left out. So p_engage is the probability that the
 * item is the user's real choice rather than a random unseen item at odds 1 :
 * engage_negatives. The user engages with probability p_engage (a draw) and then the judge
 * decides; with choose = 0 every item is engaged (p_engage = 1): the paper's judge-only
 * reaction. p_reward = p_engage·score is the probability that the reaction is a like (0 for a
 * repeat). Use choose = 1 to train or compare policies (a user does not like what they would
 * never pick, so recommending any pleasant item no longer wins); use choose = 0 to study the
 * judge alone, as the paper does.
 *
 * Randomness: a reaction draws exactly three numbers from rng, first to last: the engagement
 * draw, the judge's draw (FITTED, STOCHASTIC) and 32 tie bits (keyword, embedding, ensemble),
 * whatever the mode, so two reactions given generators in the same state share their draws
 * (common random numbers: of two items, the likelier one is engaged whenever the other is).
 * Unlike the released code, the history is the episode's user's own, and the SASRec vote is
 * the model's (the released code's is always like).
 * ---------------------------------------------------------------------------------------- */
#ifndef USERSIM_SIMULATOR_H
#define USERSIM_SIMULATOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef enum us_sim_vote { US_VOTE_KEYWORD = 0, US_VOTE_EMBED = 1, US_VOTE_SASREC = 2 } us_sim_vote;
#define US_SIM_NVOTES 3
typedef enum us_sim_mode {
    US_SIM_MAJORITY = 0,
    US_SIM_WEIGHTED = 1,
    US_SIM_STOCHASTIC = 2,
    US_SIM_FITTED = 3,
} us_sim_mode;
typedef enum us_sim_tie { US_TIE_RANDOM = 0, US_TIE_DISLIKE = 1 } us_sim_tie;

/* The judge's parts in the fitted ensemble: the three votes, then the collaborative models. */
typedef enum us_sim_part {
    US_PART_KEYWORD = 0,
    US_PART_EMBED = 1,
    US_PART_SASREC = 2,
    US_PART_BIAS = 3,
    US_PART_MF = 4,
    US_PART_CATEGORY = 5,
} us_sim_part;
#define US_SIM_NPARTS 6

/* The engagement's parts (Choosing, above). */
typedef enum us_sim_engage_part {
    US_ENGAGE_NEXT = 0,     /* the next-item head's logit */
    US_ENGAGE_POP = 1,      /* log(1 + training interactions of the item) */
    US_ENGAGE_SHARE = 2,    /* the share of the history in the item's category */
    US_ENGAGE_SIMILAR = 3,  /* pros_sim: the best cosine to a liked item */
} us_sim_engage_part;
#define US_SIM_NENGAGE 4

typedef struct us_sim_config {
    us_sim_mode mode;       /* FITTED */
    us_sim_tie tie;         /* RANDOM */
    int use[US_SIM_NVOTES]; /* which votes take part; all 1 (a store missing a disabled
                               component's stage still opens) */
    float weight[US_SIM_NVOTES]; /* WEIGHTED and the soft score; 1, 1, 1 */
    int category_filter;    /* 1: prefer history items of the candidate's category */
    float empty_sim;        /* embedding score of an empty side; 0 */
    float keyword_scale;    /* p_keyword = σ(keyword_scale · match difference); 1 */
    float embed_scale;      /* p_embed = σ(embed_scale · similarity difference); 10 */
    int64_t sasrec_version; /* rating-head checkpoint to use; 0 = the newest rating head */
    float threshold[US_SIM_NVOTES]; /* each vote's decision threshold (above); 0, 0, 0.5: the
                                       paper's rule. Finite. */
    int calibrate;          /* 1: us_sim_open replaces the enabled votes' thresholds with ones
                               fitted on the validation split (above); 0 */
    int use_collab;         /* FITTED: the bias and matrix-factorization parts take part; 1 */
    int mf_factors;         /* matrix factorization's factors, 1..256; 16 */
    int dislike_side;       /* 1: the dislike side also compares pros with disliked items'
                               pros (above); 0: cons with cons only (the paper); 1 */
    int choose;             /* 1: choose, then judge; 0: judge only (the paper); 1 */
    int64_t next_version;   /* next-item checkpoint for choosing; 0 = the newest */
    int engage_negatives;   /* unseen items per chosen one in the engagement fit, 1..100; 1 */
    int judge_known;        /* 0: a repeat earns no like; 1: it is judged again (the paper); 0 */
    uint64_t seed;          /* matrix factorization's init and order, engagement negatives; 1 */
} us_sim_config;

us_sim_config us_sim_config_default(void);

/* The paper's reaction: MAJORITY of the three votes at the paper's thresholds, judge only,
 * repeats judged again, the dislike side on cons keywords only, no collaborative parts. */
us_sim_config us_sim_config_paper(void);

typedef struct us_sim us_sim;
typedef struct us_sim_worker us_sim_worker;

#define US_SIM_MAX_MATCHED 8

typedef struct us_sim_reaction {
    int like;                        /* engaged and judged liked: the reward */
    int vote[US_SIM_NVOTES];         /* 1 like, 0 dislike, -1 not used */
    int pros_matches, cons_matches;  /* keyword vote */
    float pros_sim, cons_sim;        /* embedding vote */
    float p_sasrec;                  /* SASRec vote (NAN when not used) */
    float score;                     /* the judge's P(like) (FITTED: the stacked model's) */
    int n_matched_pros, n_matched_cons;            /* matched keywords (ids), at most */
    uint32_t matched_pros[US_SIM_MAX_MATCHED];     /* US_SIM_MAX_MATCHED of each kept */
    uint32_t matched_cons[US_SIM_MAX_MATCHED];
    int judged;                      /* the judge's own decision (1 like), engaged or not */
    int engage;                      /* 1: the user chose the item (always 1 without choose) */
    float p_engage;                  /* P(choose) (1 without choose) */
    int repeat;                      /* 1: a known item (training history or this episode) */
    int logged;                      /* a training item's logged label 1 / 0; else -1 */
    float p_bias, p_mf;              /* the collaborative parts (NAN when not used) */
    float p_reward;                  /* p_engage · score: P(like) of the whole reaction */
} us_sim_reaction;

/* Opens the store read-only and loads the population: users' histories (CSR), item categories,
 * pros/cons keyword ids per item (sorted runs), item pros/cons vectors (one float matrix), the
 * SASRec rating head and, with choose, the next-item head, for the components cfg uses; fits
 * the collaborative parts, the thresholds (calibrate), the stacked judge (FITTED) and the
 * engagement (choose) on the validation split (above); closes the store. A missing stage is
 * US_ENOTFOUND naming the store and `usersim build`, which makes every one; FITTED, choose or
 * calibrate on a store without a labeled validation interaction is US_EEMPTY naming the store;
 * a field out of range is US_EINVAL naming it. Immutable afterwards: share it between threads.
 * Caller owns *out; release with us_sim_close(). Borrows path and cfg for the call (cfg is
 * copied). */
us_status us_sim_open(us_sim **out, const char *path, const us_sim_config *cfg, us_err *err);
/* NULL is a no-op. Every worker of sim must be freed first. */
void us_sim_close(us_sim *sim);

/* Whether the store at path holds a SASRec head (next = 0: the rating head, 1: the next-item
 * head) that us_sim_open would accept: the newest checkpoint of that head loads and was trained
 * for the store's users and items. US_OK when it does, US_ENOTFOUND when the store has none,
 * another status naming the file and field when one is there but unusable. Reads only the
 * counts and the checkpoint, not the population (build asks this of a finished store). Borrows
 * path. */
us_status us_sim_head_check(const char *path, int next, us_err *err);

int us_sim_n_users(const us_sim *sim);
int us_sim_n_items(const us_sim *sim);
/* The configuration in use: cfg as given, with the calibrated thresholds when it asked for
 * calibration. Borrowed from sim. */
const us_sim_config *us_sim_config_of(const us_sim *sim);
/* The thresholds in use (us_sim_config_of(sim)->threshold) into out. */
void us_sim_thresholds(const us_sim *sim, float out[US_SIM_NVOTES]);

/* What calibration saw: n labeled validation interactions (0 when sim was not calibrated),
 * their real like rate, the common target every vote was fitted to, each enabled vote's like
 * rate on them at its chosen threshold (ties counted as in the fit; 0 for a vote not in use)
 * and the ensemble's expected like rate. */
typedef struct us_sim_calibration {
    uint64_t n;
    double real_like_rate;
    double target_rate;        /* the like rate every vote was fitted to */
    double like_rate[US_SIM_NVOTES];
    double ensemble_like_rate; /* the ensemble's expected like rate with those thresholds */
} us_sim_calibration;
void us_sim_calibration_of(const us_sim *sim, us_sim_calibration *out);

/* What the fits at open found: the stacked judge's coefficients on the standardized parts
 * (0 for a part not in use) and intercept, its validation log loss, the collaborative models'
 * validation log losses, the engagement fit's coefficients (on standardized parts) and
 * intercept, and the number of rows each fit used. */
typedef struct us_sim_fits {
    uint64_t n_valid;                  /* labeled validation interactions */
    int has_judge;                     /* FITTED */
    double judge_coef[US_SIM_NPARTS], judge_intercept, judge_logloss;
    double judge_lambda;               /* its L2 strength per row, chosen by 5-fold CV */
    int has_collab;
    double bias_logloss, mf_logloss;
    int mf_epochs;
    int has_engage;
    double engage_coef[US_SIM_NENGAGE], engage_intercept, engage_logloss;
    double engage_lambda;
    uint64_t engage_rows;
} us_sim_fits;
void us_sim_fits_of(const us_sim *sim, us_sim_fits *out);

/* User u's training history (items oldest first, and labels 1 like / 0 dislike / -1 none);
 * returns its length. Borrowed from sim. */
int us_sim_history(const us_sim *sim, int32_t u, const int32_t **items, const int8_t **labels);
/* 1 when item is in u's training history (its label into *label when not NULL), else 0. */
int us_sim_known(const us_sim *sim, int32_t u, int32_t item, int *label);
/* Training interactions of each item (n_items counts), borrowed from sim: a popularity. */
const uint32_t *us_sim_popularity(const us_sim *sim);
/* The text of keyword id k ("" when out of range); borrowed from sim. */
const char *us_sim_keyword(const us_sim *sim, uint32_t k);
/* The category of item i ("" when it has none); borrowed from sim. */
const char *us_sim_category(const us_sim *sim, int32_t i);
/* The raw id of item i / user u as in the dataset; borrowed from sim. */
const char *us_sim_item_raw(const us_sim *sim, int32_t i);
const char *us_sim_user_raw(const us_sim *sim, int32_t u);
/* The title of item i in the store's items table ("" when it has none); borrowed from sim. */
const char *us_sim_item_title(const us_sim *sim, int32_t i);
/* Item i's text vector of one side (0 pros, 1 cons), L2-normalized, and its length in *dim
 * (may be NULL); NULL when the store has no vector for it (no embed stage, the embedding vote
 * not in use, or i or side out of range). Borrowed from sim. */
const float *us_sim_item_vector(const us_sim *sim, int32_t i, int side, int *dim);
/* Item i's keyword ids of one side (0 pros, 1 cons) into *ids, ascending; returns how many
 * (0 when the keyword vote is not in use, i is not an item or side not 0 / 1). Borrowed from
 * sim. */
int us_sim_item_keywords(const us_sim *sim, int32_t i, int side, const uint32_t **ids);

/* Whole-catalogue views of the same arrays, for a caller that wants every item at once (the
 * Python binding's item_features(), a policy's input layer). Each pointer stays valid, unchanged,
 * until us_sim_close(sim).
 *
 * The item-vector matrix: (n_items, 2, dim) float32 row-major, row (i, side) being what
 * us_sim_item_vector(sim, i, side) returns, or all zeros where that is NULL; its dim into *dim
 * and, into *has (may be NULL), n_items·2 bytes, 1 where the row is a vector and 0 where the
 * store has none. NULL (*dim 0, *has NULL) when the sim holds no vectors (no embed stage, or
 * the embedding vote not in use). Borrowed from sim. */
const float *us_sim_item_vectors(const us_sim *sim, int *dim, const uint8_t **has);
/* Every item's category index (n_items entries; -1 for an item without one), and the number
 * of categories into *n_cats (may be NULL); NULL (*n_cats 0) when the sim loaded no categories
 * (neither the keyword nor the embedding vote in use). Borrowed from sim. */
const int32_t *us_sim_item_categories(const us_sim *sim, int *n_cats);
/* The name of category index c ("" when c is out of range); us_sim_category(sim, i) is
 * us_sim_category_name(sim, index of i). Borrowed from sim. */
const char *us_sim_category_name(const us_sim *sim, int c);
/* Every item's keyword ids of one side (0 pros, 1 cons) as CSR: item i's ascending run is
 * ids[off[i] .. off[i + 1]), off holding n_items + 1 entries (off[0] = 0). Returns off[n_items],
 * the side's total; 0 with *off and *ids NULL when the keyword vote is not in use or side is
 * not 0 / 1. Borrowed from sim. */
uint32_t us_sim_keyword_csr(const us_sim *sim, int side, const uint32_t **off,
                            const uint32_t **ids);
/* One more than the largest keyword id (ids 0 .. us_sim_n_keywords - 1 have a us_sim_keyword
 * text, "" for an id the store does not use); 0 when the keyword vote is not in use. */
uint32_t us_sim_n_keywords(const us_sim *sim);

/* Scratch for us_sim_decide on one thread, for episodes of up to max_episode steps. Borrows
 * sim, which must outlive it. Caller owns *out; release with us_sim_worker_free(). */
us_status us_sim_worker_init(us_sim_worker **out, const us_sim *sim, int max_episode,
                             us_err *err);
void us_sim_worker_free(us_sim_worker *w);

/* User u's reaction to item, after the episode ep_items[0..ep_len) with reactions
 * ep_likes[0..ep_len) (1 like, 0 not). u and item must be valid ids and ep_len at most the
 * worker's max_episode (programmer errors otherwise). Draws exactly three numbers from rng
 * (above). No I/O, no allocation. Borrows everything for the call. */
void us_sim_decide(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                   const int8_t *ep_likes, int ep_len, int32_t item, us_rng *rng,
                   us_sim_reaction *out);

/* The next-item head's logits of every item (out: n_items floats) for user u after the
 * episode, the scores a greedy SASRec recommender ranks by. Returns 0 (and writes nothing)
 * when sim has no next-item head (choose = 0 opens the store's newest one when it has one, for
 * this function only). No allocation. Borrows everything. */
int us_sim_next_scores(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                       int ep_len, float *out);

/* ==== Fidelity ==== (simulator/fidelity.c)
 *
 * How real the simulated users are, measured on the store's held-out interactions (`usersim
 * eval-sim`):
 *   us_sim_eval_config ec = us_sim_eval_config_default();
 *   us_sim_eval_report rep;
 *   us_sim_evaluate(sim, "games.usdb", &ec, &rep, &err);
 * - held-out prediction (the judge): every labeled TEST interaction (split 2) of every user,
 *   scored from the user's training history with an empty episode. The test items are items
 *   the user chose, so this measures the judge: for each part its vote (or p >= 1/2) gives
 *   accuracy / precision / recall / F1 (positive class: like) and its score gives AUC and log
 *   loss: keyword x (log loss through p_keyword), embedding x (through p_embed), SASRec
 *   P(like), the bias and matrix-factorization models' P(like); the paper's majority vote of
 *   the three votes (its soft ensemble as the score); and the judge in use (its decisions; its
 *   score `ensemble`). Baselines: popularity (an item's training interactions, AUC only), the
 *   item's training like rate (Laplace-smoothed), and the user+item bias logistic model and
 *   matrix factorization (collab.c, fitted as us_sim_open fits them, with the sim's seed and
 *   factors), all on labeled interactions only. `beats_all` says whether the judge's AUC is
 *   above every part in use and every baseline.
 * - decisions: the AUC of the judge's single-draw decisions, and of each interaction's like
 *   frequency over cfg.decision_draws draws (a judge that draws from its score ranks, over
 *   many draws, as its score does).
 * - choosing: with choose, the AUC of p_engage for a test item against one item the user never
 *   touched (drawn uniformly).
 * - 1:m discrimination, m in cfg.m: a liked test item against m items the user never touched
 *   (drawn uniformly); the share of cases where its p_reward (P(like) of the whole reaction:
 *   choose and judge; the judge's score without choose) is the highest (a tie with k others
 *   counts 1/(k+1)); the same with the items' popularity.
 * - distribution alignment: per item and per category with at least cfg.min_count evaluated
 *   interactions (valid and test), the simulated like rate (the judge's decisions) against the
 *   real one: mean Jensen-Shannon divergence of the two Bernoulli laws (bits) and the Spearman
 *   correlation of the rates.
 * - the like rate a uniformly random policy earns: cfg.random_steps steps in episodes of 50
 *   uniformly random items for random users (no leaving), with the share engaged.
 * - with cfg.truth_path (synthetic data's truth.csv), on the test interactions: Spearman
 *   correlation of the judge's score with the generator's p_like, the AUC of p_like against the
 *   labels (the ceiling) and of the score against them.
 * Deterministic for cfg.seed.
 * ---------------------------------------------------------------------------------------- */

#define US_SIM_EVAL_NM 3

typedef struct us_sim_eval_config {
    uint64_t seed;              /* ties, negatives and the random policy; 1 */
    int m[US_SIM_EVAL_NM];      /* 1, 3, 9 */
    int min_count;              /* distribution alignment: 3 */
    uint64_t random_steps;      /* 20000 (0: skip) */
    const char *truth_path;     /* NULL: no truth */
    int decision_draws;         /* draws per test interaction for the like frequency; 64 */
} us_sim_eval_config;

us_sim_eval_config us_sim_eval_config_default(void);

typedef struct us_sim_metrics {
    uint64_t n;
    double auc, logloss, accuracy, precision, recall, f1;
} us_sim_metrics;

typedef struct us_sim_eval_report {
    uint64_t n_test;
    double real_like_rate;                 /* of the test interactions */
    double sim_like_rate;                  /* of the judge's decisions on them */
    us_sim_metrics component[US_SIM_NVOTES]; /* unused components: n = 0 */
    us_sim_metrics majority;               /* the paper's majority vote of the three */
    us_sim_metrics ensemble;               /* the judge in use (FITTED: the stacked model) */
    us_sim_metrics bias, mf;               /* parts (FITTED with use_collab) and baselines */
    int collab_in_judge;                   /* 1: bias and mf are parts of the judge */
    us_sim_metrics item_rate;              /* baseline: the item's training like rate */
    double popularity_auc;                 /* baseline: the item's training interactions */
    int beats_all;                         /* the judge's AUC above every part and baseline */
    char best_other[32];                   /* the best of those, by AUC, and its AUC */
    double best_other_auc;
    double decision_auc;                   /* single-draw decisions */
    double decision_freq_auc;              /* like frequency over decision_draws draws */
    int decision_draws;
    int has_choose;
    double engage_auc;                     /* test item against an unseen one, by p_engage */
    double engage_rate_test;               /* mean p_engage of the test items */
    int m[US_SIM_EVAL_NM];
    double discrimination[US_SIM_EVAL_NM];
    double popularity_discrimination[US_SIM_EVAL_NM];
    uint64_t n_discrimination;
    int n_items_aligned, n_cats_aligned;
    double item_jsd, item_spearman, cat_jsd, cat_spearman;
    double random_like_rate, random_engage_rate;
    uint64_t random_steps;
    int has_truth;
    uint64_t n_truth;                      /* test interactions found in the truth file */
    double truth_spearman, truth_auc, truth_score_auc;
} us_sim_eval_report;

/* Runs every measure above. Reads the store (path, the one sim was opened from) and
 * cfg->truth_path; the truth file must have the header user,item,p_like,... (US_EFORMAT with
 * file and line otherwise). Borrows everything for the call. */
us_status us_sim_evaluate(const us_sim *sim, const char *path, const us_sim_eval_config *cfg,
                          us_sim_eval_report *out, us_err *err);

/* Spearman's rank correlation of x and y (n values each; ties share their average rank); 0
 * when either is constant or n < 2. scratch: 4n doubles. Borrows everything. */
double us_stat_spearman(const double *x, const double *y, size_t n, double *scratch);
/* Jensen-Shannon divergence, in bits, of Bernoulli(p) and Bernoulli(q): in [0, 1]. */
double us_stat_jsd_bernoulli(double p, double q);

#ifdef __cplusplus
}
#endif
#endif
