/* simulator.h — the public header of the simulator room's root, the user model (DESIGN.md: one
 * public header per room and sub-room): the simulated users and their fidelity. The stages
 * that feed it live in sub-rooms, each with its own header: simulator/keywords/keywords.h,
 * simulator/embed/embed.h and simulator/sasrec/sasrec.h.
 *
 * ==== Simulated users ==== (simulator/sim.c)
 *
 * The population of a store, loaded once into flat arrays (DESIGN.md), and the decision of one
 * simulated user about one recommended item, as in "LLM-Powered User Simulator for Recommender
 * System" (AAAI 2025): a keyword vote, an embedding vote, a SASRec vote and their ensemble.
 *
 *   us_sim_config cfg = us_sim_config_default();
 *   us_sim *sim;
 *   us_sim_worker *w;                        // one per thread: all mutable scratch
 *   if (us_sim_open(&sim, "games.usdb", &cfg, &err) != US_OK) ...;
 *   us_sim_worker_init(&w, sim, 200, &err);  // episodes of up to 200 steps
 *   us_rng rng = us_rng_derive(seed, env_index);
 *   us_sim_reaction r;
 *   us_sim_decide(sim, w, user, ep_items, ep_likes, ep_len, item, &rng, &r);
 *   // r.like, r.vote[US_VOTE_KEYWORD], r.pros_matches, r.p_sasrec, ...
 *
 * The history H of user u is u's TRAINING interactions in the store (split 0, oldest first)
 * followed by the episode so far (the items recommended with their simulated reactions).
 * For candidate item i:
 *   L, D    the liked / disliked items of H that share i's category; each falls back to all
 *           the liked / disliked items of H when none shares it (cfg.category_filter = 0 skips
 *           the filter). Unlabeled interactions (Anime's -1) belong to neither.
 *   keyword pros_matches = how many of i's pros keywords occur among the pros keywords of the
 *           items of L; cons_matches likewise with cons and D. With t = cfg.threshold[KEYWORD]
 *           vote like when pros_matches - cons_matches > t, dislike when < t.
 *   embed   pros_sim = max over j in L of cos(pros_vec(i), pros_vec(j)), cons_sim likewise with
 *           cons and D (vectors are L2-normalized: a dot product). An empty side (no item, or
 *           no vector) scores cfg.empty_sim. Vote like when pros_sim - cons_sim (a float) > t,
 *           dislike when < t, with t = cfg.threshold[EMBED].
 *   sasrec  p_sasrec = the rating head's P(like | u, last T items of H, i). Vote like when
 *           p_sasrec >= cfg.threshold[SASREC].
 *   A keyword or embedding difference equal to its threshold is a tie and goes by cfg.tie: at
 *   random (the paper) or to dislike (the released code). The default thresholds 0, 0, 1/2
 *   are the paper's rule.
 * Thresholds: liked items dominate most histories, so under the paper's rule each vote says
 * like nearly always. cfg.calibrate = 1 makes us_sim_open choose the enabled votes' thresholds
 * on the store's validation split (split 1, labeled) so that the ENSEMBLE's like rate there is
 * closest to the real like rate of their labels: every such interaction is decided for its
 * user from the training history with an empty episode (as eval-sim's held-out prediction);
 * for a target count of likes, each vote takes the threshold whose like count is closest to
 * it (candidates: every distinct score, every midpoint (float) strictly between two
 * consecutive ones, min - 1 and max + 1; at a candidate equal to a score that score is a tie,
 * counted 1/2 like under US_TIE_RANDOM and 0 under US_TIE_DISLIKE; SASRec: p >= t, so it
 * likes, and its min - 1 is left out; the smallest threshold on equal distance), and the
 * common target is searched so that the ensemble's expected like rate with those thresholds
 * (ties weighed as above, STOCHASTIC by its mean score) comes closest to the real rate (the
 * smaller target on equal distance). Deterministic, no draw. With one vote enabled, that vote
 * alone matches the real rate.
 * Ensemble (cfg.mode): MAJORITY like when more than half of the enabled votes say like (the
 * paper's 2 of 3; an even split goes by cfg.tie); WEIGHTED like when sum w_k·vote_k is more
 * than half of sum w_k (equal: cfg.tie); STOCHASTIC like with probability `score`, the soft
 * ensemble sum w_k·p_k / sum w_k with, each centred on its vote's threshold t_k so that
 * p_k > 1/2 exactly when vote k likes (ties: 1/2),
 *   p_keyword = σ(cfg.keyword_scale·(pros - cons matches - t)),
 *   p_embed   = σ(cfg.embed_scale·(pros_sim - cons_sim - t)),
 *   p_soft    = σ(logit p_sasrec - logit t) = p(1-t) / (p(1-t) + (1-p)t), t clamped to [0, 1]
 *               (p_sasrec itself at the default t = 1/2; the reaction reports p_sasrec, the
 *               rating head's own probability, whatever t is).
 * `score` is reported in every mode (eval-sim ranks by it).
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
} us_sim_mode;
typedef enum us_sim_tie { US_TIE_RANDOM = 0, US_TIE_DISLIKE = 1 } us_sim_tie;

typedef struct us_sim_config {
    us_sim_mode mode;       /* MAJORITY */
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
} us_sim_config;

us_sim_config us_sim_config_default(void);

typedef struct us_sim us_sim;
typedef struct us_sim_worker us_sim_worker;

#define US_SIM_MAX_MATCHED 8

typedef struct us_sim_reaction {
    int like;                        /* the ensemble's decision: the reward */
    int vote[US_SIM_NVOTES];         /* 1 like, 0 dislike, -1 not used */
    int pros_matches, cons_matches;  /* keyword vote */
    float pros_sim, cons_sim;        /* embedding vote */
    float p_sasrec;                  /* SASRec vote (NAN when not used) */
    float score;                     /* soft ensemble P(like) */
    int n_matched_pros, n_matched_cons;            /* matched keywords (ids), at most */
    uint32_t matched_pros[US_SIM_MAX_MATCHED];     /* US_SIM_MAX_MATCHED of each kept */
    uint32_t matched_cons[US_SIM_MAX_MATCHED];
} us_sim_reaction;

/* Opens the store read-only and loads the population: users' histories (CSR), item categories,
 * pros/cons keyword ids per item (sorted runs), item pros/cons vectors (one float matrix) and
 * the SASRec rating head, for the components cfg uses; with cfg->calibrate, fits the
 * thresholds on the validation split (above); closes the store. A missing stage is
 * US_ENOTFOUND naming the store and the command that makes it (usersim extract / embed /
 * train-sasrec); calibrating a store without a labeled validation interaction is US_EEMPTY
 * naming the store; a threshold that is not finite is US_EINVAL. Immutable afterwards: share
 * it between threads. Caller owns *out; release with us_sim_close(). Borrows path and cfg for
 * the call (cfg is copied). */
us_status us_sim_open(us_sim **out, const char *path, const us_sim_config *cfg, us_err *err);
/* NULL is a no-op. Every worker of sim must be freed first. */
void us_sim_close(us_sim *sim);

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
/* User u's training history (items oldest first, and labels 1 like / 0 dislike / -1 none);
 * returns its length. Borrowed from sim. */
int us_sim_history(const us_sim *sim, int32_t u, const int32_t **items, const int8_t **labels);
/* The text of keyword id k ("" when out of range); borrowed from sim. */
const char *us_sim_keyword(const us_sim *sim, uint32_t k);
/* The category of item i ("" when it has none); borrowed from sim. */
const char *us_sim_category(const us_sim *sim, int32_t i);
/* The raw id of item i / user u as in the dataset; borrowed from sim. */
const char *us_sim_item_raw(const us_sim *sim, int32_t i);
const char *us_sim_user_raw(const us_sim *sim, int32_t u);

/* Scratch for us_sim_decide on one thread, for episodes of up to max_episode steps. Borrows
 * sim, which must outlive it. Caller owns *out; release with us_sim_worker_free(). */
us_status us_sim_worker_init(us_sim_worker **out, const us_sim *sim, int max_episode,
                             us_err *err);
void us_sim_worker_free(us_sim_worker *w);

/* User u's reaction to item, after the episode ep_items[0..ep_len) with reactions
 * ep_likes[0..ep_len) (1 like, 0 dislike). u and item must be valid ids and ep_len at most the
 * worker's max_episode (programmer errors otherwise). Draws from rng only for a random tie or
 * the STOCHASTIC mode. No I/O, no allocation. Borrows everything for the call. */
void us_sim_decide(const us_sim *sim, us_sim_worker *w, int32_t u, const int32_t *ep_items,
                   const int8_t *ep_likes, int ep_len, int32_t item, us_rng *rng,
                   us_sim_reaction *out);

/* ==== Fidelity ==== (simulator/fidelity.c)
 *
 * How real the simulated users are, measured on the store's held-out interactions (`usersim
 * eval-sim`):
 *   us_sim_eval_config ec = us_sim_eval_config_default();
 *   us_sim_eval_report rep;
 *   us_sim_evaluate(sim, "games.usdb", &ec, &rep, &err);
 * - held-out prediction: every labeled TEST interaction (split 2) of every user, predicted
 *   from the user's training history with an empty episode. For each component its vote gives
 *   accuracy / precision / recall / F1 (positive class: like) and its score gives AUC and log
 *   loss: keyword pros - cons matches (log loss through p_keyword), embedding pros - cons
 *   similarity (through p_embed), SASRec P(like) (through p_sasrec itself), and the ensemble
 *   (its decisions; its soft score). The votes are taken at the thresholds in use.
 *   Baselines: popularity (an item's training interactions, AUC only) and the item's training
 *   like rate (Laplace-smoothed; every metric).
 * - 1:m discrimination, m in cfg.m: a liked test item against m items the user never touched
 *   (drawn uniformly); the share of cases where its soft score is the highest (a tie with k
 *   others counts 1/(k+1)).
 * - distribution alignment: per item and per category with at least cfg.min_count evaluated
 *   interactions (valid and test), the simulated like rate (ensemble decisions) against the
 *   real one: mean Jensen-Shannon divergence of the two Bernoulli laws (bits) and the Spearman
 *   correlation of the rates.
 * - the like rate a uniformly random policy earns: cfg.random_steps steps of a vector env
 *   (default env config) with uniform random items.
 * - with cfg.truth_path (synthetic data's truth.csv), on the test interactions: Spearman
 *   correlation of the soft score with the generator's p_like, the AUC of p_like against the
 *   labels (the ceiling) and of the soft score against them.
 * Deterministic for cfg.seed.
 * ---------------------------------------------------------------------------------------- */

#define US_SIM_EVAL_NM 3

typedef struct us_sim_eval_config {
    uint64_t seed;              /* ties, negatives and the random policy; 1 */
    int m[US_SIM_EVAL_NM];      /* 1, 3, 9 */
    int min_count;              /* distribution alignment: 3 */
    uint64_t random_steps;      /* 20000 (0: skip) */
    const char *truth_path;     /* NULL: no truth */
} us_sim_eval_config;

us_sim_eval_config us_sim_eval_config_default(void);

typedef struct us_sim_metrics {
    uint64_t n;
    double auc, logloss, accuracy, precision, recall, f1;
} us_sim_metrics;

typedef struct us_sim_eval_report {
    uint64_t n_test;
    double real_like_rate;                 /* of the test interactions */
    double sim_like_rate;                  /* of the ensemble's decisions on them */
    us_sim_metrics component[US_SIM_NVOTES]; /* unused components: n = 0 */
    us_sim_metrics ensemble;
    us_sim_metrics item_rate;              /* baseline: the item's training like rate */
    double popularity_auc;                 /* baseline: the item's training interactions */
    int m[US_SIM_EVAL_NM];
    double discrimination[US_SIM_EVAL_NM];
    uint64_t n_discrimination;
    int n_items_aligned, n_cats_aligned;
    double item_jsd, item_spearman, cat_jsd, cat_spearman;
    double random_like_rate;
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
