/* fidelity.c — us_sim_evaluate (simulator.h, "Fidelity"): how closely the simulated users
 * react like the real ones on the store's held-out interactions. It reads the store once
 * (every interaction, ordered by user), fits the collaborative baselines (collab.c) and then
 * asks us_sim_decide, as a step would.
 *
 * It does not train anything and does not change the store. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/internal.h"
#include "simulator/sasrec/sasrec.h"
#include "simulator/simulator.h"

us_sim_eval_config us_sim_eval_config_default(void) {
    us_sim_eval_config c;
    memset(&c, 0, sizeof c);
    c.seed = 1;
    c.m[0] = 1;
    c.m[1] = 3;
    c.m[2] = 9;
    c.min_count = 3;
    c.random_steps = 20000;
    c.truth_path = NULL;
    c.decision_draws = 64;
    return c;
}

/* ---- statistics ---- */

typedef struct keyed {
    double v;
    size_t i;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->v != y->v) return (x->v > y->v) - (x->v < y->v);
    return (x->i > y->i) - (x->i < y->i);
}

/* Average ranks (1-based, ties share) of v into r; kv holds n pairs. */
static void rank(const double *v, size_t n, double *r, keyed *kv) {
    for (size_t i = 0; i < n; i++) kv[i] = (keyed){v[i], i};
    qsort(kv, n, sizeof *kv, cmp_keyed);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j + 1 < n && kv[j + 1].v == kv[i].v) j++;
        double avg = 0.5 * ((double)i + (double)j) + 1.0;
        for (size_t k = i; k <= j; k++) r[kv[k].i] = avg;
        i = j + 1;
    }
}

double us_stat_spearman(const double *x, const double *y, size_t n, double *scratch) {
    if (n < 2) return 0.0;
    double *rx = scratch, *ry = scratch + n;
    keyed *kv = (keyed *)(void *)(scratch + 2 * n); /* 2n doubles hold n pairs */
    _Static_assert(sizeof(keyed) <= 2 * sizeof(double), "a pair fits in two doubles");
    rank(x, n, rx, kv);
    rank(y, n, ry, kv);
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) mx += rx[i], my += ry[i];
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double a = rx[i] - mx, b = ry[i] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0.0;
}

static double xlog2x(double x) { return x > 0 ? x * log2(x) : 0.0; }

double us_stat_jsd_bernoulli(double p, double q) {
    double m = 0.5 * (p + q);
    /* H(m) - (H(p) + H(q)) / 2 with H the binary entropy */
    double hm = -(xlog2x(m) + xlog2x(1 - m));
    double hp = -(xlog2x(p) + xlog2x(1 - p)), hq = -(xlog2x(q) + xlog2x(1 - q));
    double d = hm - 0.5 * (hp + hq);
    return d < 0 ? 0 : d;
}

/* Accumulates one component's votes (or decisions) and scores. */
typedef struct acc {
    uint64_t n, tp, fp, fn, tn;
    double logloss;
} acc;

static void acc_add(acc *a, int vote, int label, double p) {
    a->n++;
    if (vote && label) a->tp++;
    else if (vote) a->fp++;
    else if (label) a->fn++;
    else a->tn++;
    const double eps = 1e-7;
    p = p < eps ? eps : p > 1 - eps ? 1 - eps : p;
    a->logloss -= label ? log(p) : log(1 - p);
}

static void acc_finish(const acc *a, double auc, us_sim_metrics *m) {
    memset(m, 0, sizeof *m);
    m->n = a->n;
    if (!a->n) return;
    m->auc = auc;
    m->logloss = a->logloss / (double)a->n;
    m->accuracy = (double)(a->tp + a->tn) / (double)a->n;
    m->precision = a->tp + a->fp ? (double)a->tp / (double)(a->tp + a->fp) : 0.0;
    m->recall = a->tp + a->fn ? (double)a->tp / (double)(a->tp + a->fn) : 0.0;
    m->f1 = m->precision + m->recall > 0
                ? 2 * m->precision * m->recall / (m->precision + m->recall)
                : 0.0;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- the store's interactions ---- */

typedef struct inter {
    int32_t user, item;
    int8_t label, split;
} inter;

static us_status load_interactions(const char *path, inter **out, size_t *n, us_err *err) {
    sqlite3 *db = NULL;
    *out = NULL;
    *n = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        us_status st = us_err_set(err, US_EDB, path, 0, NULL, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return st;
    }
    sqlite3_stmt *q = NULL;
    us_status st = US_OK;
    size_t cap = 0;
    if (sqlite3_prepare_v2(db, "SELECT user, item, label, split FROM interactions ORDER BY user, pos",
                           -1, &q, NULL) != SQLITE_OK) {
        st = us_err_set(err, US_EFORMAT, path, 0, "interactions", "%s", sqlite3_errmsg(db));
        goto done;
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (us_grow((void **)out, &cap, *n + 1, sizeof **out) != US_OK) {
            st = us_err_set(err, US_ENOMEM, path, 0, "interactions", "out of memory");
            goto done;
        }
        inter *x = &(*out)[(*n)++];
        x->user = sqlite3_column_int(q, 0);
        x->item = sqlite3_column_int(q, 1);
        x->label = sqlite3_column_type(q, 2) == SQLITE_NULL ? -1 : (int8_t)sqlite3_column_int(q, 2);
        x->split = (int8_t)sqlite3_column_int(q, 3);
    }
    if (rc != SQLITE_DONE) st = us_err_set(err, US_EDB, path, 0, "interactions", "%s",
                                           sqlite3_errmsg(db));
done:
    sqlite3_finalize(q);
    sqlite3_close(db);
    if (st != US_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

/* ---- the truth file of synthetic data ---- */

typedef struct truth_row {
    uint64_t key; /* hash of "user\titem" */
    float p;
} truth_row;

static int cmp_truth(const void *a, const void *b) {
    uint64_t x = ((const truth_row *)a)->key, y = ((const truth_row *)b)->key;
    return (x > y) - (x < y);
}

static uint64_t pair_key(const char *u, const char *i) {
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\t%s", u, i);
    return us_hash64(buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1), 7);
}

static us_status load_truth(const char *path, truth_row **out, size_t *n, us_err *err) {
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return us_err_set(err, US_ENOTFOUND, path, 0, NULL, "cannot open the truth file");
    char line[2048];
    size_t cap = 0;
    long ln = 0;
    us_status st = US_OK;
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = '\0';
        if (ln == 1) {
            if (strncmp(line, "user,item,p_like", 16) != 0) {
                st = us_err_set(err, US_EFORMAT, path, ln, "header",
                                "expected \"user,item,p_like,...\", found \"%.60s\"", line);
                break;
            }
            continue;
        }
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c1 || !c2) {
            st = us_err_set(err, US_EFORMAT, path, ln, "p_like",
                            "expected user,item,p_like,..., found \"%.60s\"", line);
            break;
        }
        *c1 = *c2 = '\0';
        char *end;
        double p = strtod(c2 + 1, &end);
        if (end == c2 + 1 || !(p >= 0 && p <= 1)) {
            st = us_err_set(err, US_EFORMAT, path, ln, "p_like",
                            "expected a probability in [0, 1]");
            break;
        }
        if (us_grow((void **)out, &cap, *n + 1, sizeof **out) != US_OK) {
            st = us_err_set(err, US_ENOMEM, path, ln, NULL, "out of memory");
            break;
        }
        (*out)[*n].key = pair_key(line, c1 + 1);
        (*out)[*n].p = (float)p;
        (*n)++;
    }
    fclose(f);
    if (st != US_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
        return st;
    }
    qsort(*out, *n, sizeof **out, cmp_truth);
    return US_OK;
}

static const truth_row *find_truth(const truth_row *t, size_t n, uint64_t key) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].key < key) lo = mid + 1;
        else if (t[mid].key > key) hi = mid;
        else return &t[mid];
    }
    return NULL;
}

/* ---- the evaluation ---- */

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int has_i32(const int32_t *v, size_t n, int32_t x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x) lo = mid + 1;
        else if (v[mid] > x) hi = mid;
        else return 1;
    }
    return 0;
}

/* Mean JSD and Spearman of simulated against real like rates over the groups with at least
 * min_count evaluated interactions. */
static void align(const uint32_t *n_eval, const uint32_t *n_real, const uint32_t *n_sim,
                  size_t groups, int min_count, double *scratch, int *n_used, double *jsd,
                  double *rho) {
    double *real = scratch, *sim = scratch + groups, *work = scratch + 2 * groups;
    size_t k = 0;
    double sum = 0;
    for (size_t g = 0; g < groups; g++) {
        if (n_eval[g] < (uint32_t)min_count || n_eval[g] == 0) continue;
        real[k] = (double)n_real[g] / n_eval[g];
        sim[k] = (double)n_sim[g] / n_eval[g];
        sum += us_stat_jsd_bernoulli(real[k], sim[k]);
        k++;
    }
    *n_used = (int)k;
    *jsd = k ? sum / (double)k : 0.0;
    *rho = us_stat_spearman(real, sim, k, work);
}

/* Score columns of the held-out prediction, each (n_test) floats. */
enum {
    COL_KEYWORD, COL_EMBED, COL_SASREC, COL_MAJORITY, COL_JUDGE, COL_BIAS, COL_MF, COL_RATE,
    COL_POP, COL_DECISION, COL_FREQ, NCOL
};

/* 1:m of a positive score against m negative scores: 1/(1 + ties) when none is above. */
static double one_of(double pos, const double *neg, int m) {
    int above = 0, ties = 0;
    for (int q = 0; q < m; q++) above += neg[q] > pos, ties += neg[q] == pos;
    return above ? 0.0 : 1.0 / (1.0 + ties);
}

us_status us_sim_evaluate(const us_sim *sim, const char *path, const us_sim_eval_config *cfg_in,
                          us_sim_eval_report *out, us_err *err) {
    memset(out, 0, sizeof *out);
    const us_sim_eval_config cfg = cfg_in ? *cfg_in : us_sim_eval_config_default();
    const us_sim_config *sc = us_sim_config_of(sim);
    const int U = us_sim_n_users(sim), V = us_sim_n_items(sim);
    const int M = cfg.m[US_SIM_EVAL_NM - 1];
    for (int k = 0; k < US_SIM_EVAL_NM; k++) {
        if (cfg.m[k] < 1 || cfg.m[k] > 1000 || cfg.m[k] > M)
            return us_err_set(err, US_EINVAL, NULL, 0, "m",
                              "expected 1..1000, ascending, found %d", cfg.m[k]);
        out->m[k] = cfg.m[k];
    }
    if (cfg.decision_draws < 1 || cfg.decision_draws > 10000)
        return us_err_set(err, US_EINVAL, NULL, 0, "decision_draws", "expected 1..10000, found %d",
                          cfg.decision_draws);
    inter *x = NULL;
    size_t nx = 0;
    truth_row *truth = NULL;
    size_t ntruth = 0;
    us_status st = load_interactions(path, &x, &nx, err);
    if (st != US_OK) return st;
    if (cfg.truth_path && (st = load_truth(cfg.truth_path, &truth, &ntruth, err)) != US_OK) {
        free(x);
        return st;
    }
    /* per user: the sorted set of every item touched; per item: training counts */
    size_t *uoff = calloc((size_t)U + 1, sizeof *uoff);
    int32_t *touched = malloc((nx + 1) * sizeof *touched);
    uint32_t *pop = calloc((size_t)V, sizeof *pop), *pop_lab = calloc((size_t)V, sizeof *pop_lab),
             *pop_like = calloc((size_t)V, sizeof *pop_like);
    size_t nt = 0, ntrain = 0, nvalid = 0;
    for (size_t k = 0; k < nx; k++) {
        nt += x[k].split == 2 && x[k].label >= 0;
        ntrain += x[k].split == 0 && x[k].label >= 0;
        nvalid += x[k].split == 1 && x[k].label >= 0;
    }
    float *col[NCOL];
    int8_t *labels = malloc(nt + 1);
    uint32_t *aidx = malloc(2 * (nt + 1) * sizeof *aidx);
    for (int c = 0; c < NCOL; c++) col[c] = malloc((nt + 1) * sizeof(float));
    float *eng = malloc(2 * (nt + 1) * sizeof *eng);
    int8_t *eng_lab = malloc(2 * (nt + 1));
    us_lab *train = malloc((ntrain + 1) * sizeof *train);
    us_lab *valid = malloc((nvalid + 1) * sizeof *valid);
    us_collab own_bias = {0}, own_mf = {0}; /* fitted here when the sim has none */
    const us_collab *bias = us_sim_collab_of(sim, 0), *mf = us_sim_collab_of(sim, 1);
    /* alignment counts: items then categories (category index through the sim's strings) */
    uint32_t *ie = calloc((size_t)V, 4), *ir = calloc((size_t)V, 4), *is = calloc((size_t)V, 4);
    us_strtab *cats = NULL;
    uint32_t *ce = calloc((size_t)V + 1, 4), *cr = calloc((size_t)V + 1, 4),
             *cs = calloc((size_t)V + 1, 4);
    double *scratch = malloc(((size_t)V + 1) * 6 * sizeof(double) + (nt + 1) * 4 * sizeof(double));
    double *tp = malloc((nt + 1) * sizeof(double)), *ts = malloc((nt + 1) * sizeof(double));
    int8_t *tl = malloc(nt + 1);
    float *tpf = malloc((nt + 1) * sizeof(float)), *tsf = malloc((nt + 1) * sizeof(float));
    double *neg_r = malloc((size_t)M * sizeof *neg_r), *neg_p = malloc((size_t)M * sizeof *neg_p);
    us_sim_worker *w = NULL;
    int ok = uoff && touched && pop && pop_lab && pop_like && labels && aidx && ie && ir && is &&
             ce && cr && cs && scratch && tp && ts && tl && tpf && tsf && eng && eng_lab &&
             train && valid && neg_r && neg_p && us_strtab_init(&cats) == US_OK;
    for (int c = 0; c < NCOL; c++) ok = ok && col[c];
    if (!ok) {
        st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
        goto done;
    }
    const int max_ep = 50;
    if ((st = us_sim_worker_init(&w, sim, max_ep, err)) != US_OK) goto done;
    size_t mt = 0, mv = 0;
    for (size_t k = 0; k < nx; k++) {
        if (x[k].user < 0 || x[k].user >= U || x[k].item < 0 || x[k].item >= V) {
            st = us_err_set(err, US_EFORMAT, path, 0, "interactions",
                            "user %d / item %d outside the population (%d users, %d items): "
                            "was the store changed after the stages ran?",
                            x[k].user, x[k].item, U, V);
            goto done;
        }
        uoff[x[k].user + 1]++;
        touched[k] = x[k].item; /* rows come grouped by user: the CSR is the row order */
        if (x[k].split == 0) {
            pop[x[k].item]++;
            /* the item like rate counts labeled interactions only (Anime's -1 are not) */
            pop_lab[x[k].item] += x[k].label >= 0;
            pop_like[x[k].item] += x[k].label == 1;
            if (x[k].label >= 0) train[mt++] = (us_lab){x[k].user, x[k].item, x[k].label};
        } else if (x[k].split == 1 && x[k].label >= 0) {
            valid[mv++] = (us_lab){x[k].user, x[k].item, x[k].label};
        }
    }
    for (int u = 0; u < U; u++) {
        uoff[u + 1] += uoff[u];
        qsort(touched + uoff[u], uoff[u + 1] - uoff[u], sizeof *touched, cmp_i32);
    }
    /* the collaborative baselines: the judge's parts when the sim has them, else fitted
     * here as us_sim_open fits them (same rows, same order, same seed: the same models) */
    if (!bias || !mf) {
        if (us_collab_fit_bias(&own_bias, U, V, train, mt, valid, mv) != US_OK ||
            us_collab_fit_mf(&own_mf, U, V, sc->mf_factors, train, mt, valid, mv, sc->seed) !=
                US_OK) {
            st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
            goto done;
        }
        bias = &own_bias;
        mf = &own_mf;
    }
    out->collab_in_judge = sc->mode == US_SIM_FITTED && sc->use_collab;

    us_rng rng = us_rng_derive(cfg.seed, 0), neg = us_rng_derive(cfg.seed, 1);
    acc a_comp[US_SIM_NVOTES], a_maj, a_ens, a_rate, a_bias, a_mf;
    memset(a_comp, 0, sizeof a_comp);
    memset(&a_maj, 0, sizeof a_maj);
    memset(&a_ens, 0, sizeof a_ens);
    memset(&a_rate, 0, sizeof a_rate);
    memset(&a_bias, 0, sizeof a_bias);
    memset(&a_mf, 0, sizeof a_mf);
    double disc[US_SIM_EVAL_NM] = {0}, pdisc[US_SIM_EVAL_NM] = {0}, eng_sum = 0;
    uint64_t ndisc = 0, sim_likes = 0, real_likes = 0;
    size_t t = 0, ntr = 0, ne = 0;
    us_sim_reaction r, rn;
    for (size_t k = 0; k < nx; k++) {
        const inter *e = &x[k];
        if (e->split == 0 || e->label < 0) continue;
        us_sim_decide(sim, w, e->user, NULL, NULL, 0, e->item, &rng, &r);
        /* alignment over valid and test: the judge's decisions (these items were chosen) */
        ie[e->item]++;
        ir[e->item] += e->label == 1;
        is[e->item] += r.judged;
        const char *cat = us_sim_category(sim, e->item);
        if (*cat) {
            uint32_t ci;
            int is_new;
            if (us_strtab_intern(cats, cat, strlen(cat), &ci, &is_new) != US_OK) {
                st = us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
                goto done;
            }
            ce[ci]++;
            cr[ci] += e->label == 1;
            cs[ci] += r.judged;
        }
        if (e->split != 2) continue;
        /* held-out prediction */
        const int lab = e->label == 1;
        labels[t] = (int8_t)lab;
        real_likes += (uint64_t)lab;
        sim_likes += (uint64_t)r.judged;
        float pk[US_SIM_NVOTES] = {0.5f, 0.5f, 0.5f};
        double soft = 0, wsum = 0;
        int n_use = 0, n_like = 0;
        if (sc->use[US_VOTE_KEYWORD]) {
            int d = r.pros_matches - r.cons_matches;
            col[COL_KEYWORD][t] = (float)d;
            pk[US_VOTE_KEYWORD] =
                (float)sigmoid(sc->keyword_scale * (d - sc->threshold[US_VOTE_KEYWORD]));
            acc_add(&a_comp[US_VOTE_KEYWORD], r.vote[US_VOTE_KEYWORD], lab, pk[US_VOTE_KEYWORD]);
        }
        if (sc->use[US_VOTE_EMBED]) {
            float d = r.pros_sim - r.cons_sim;
            col[COL_EMBED][t] = d;
            pk[US_VOTE_EMBED] =
                (float)sigmoid(sc->embed_scale * (d - sc->threshold[US_VOTE_EMBED]));
            acc_add(&a_comp[US_VOTE_EMBED], r.vote[US_VOTE_EMBED], lab, pk[US_VOTE_EMBED]);
        }
        if (sc->use[US_VOTE_SASREC]) {
            col[COL_SASREC][t] = r.p_sasrec;
            pk[US_VOTE_SASREC] = r.p_sasrec;
            acc_add(&a_comp[US_VOTE_SASREC], r.vote[US_VOTE_SASREC], lab, r.p_sasrec);
        }
        /* the paper's majority vote, whatever mode is in use: a tie (even split) counts 1/2 */
        for (int v = 0; v < US_SIM_NVOTES; v++)
            if (sc->use[v]) n_use++, n_like += r.vote[v], soft += pk[v], wsum += 1;
        col[COL_MAJORITY][t] = (float)(soft / wsum);
        acc_add(&a_maj, 2 * n_like > n_use, lab, soft / wsum);
        col[COL_JUDGE][t] = r.score;
        acc_add(&a_ens, r.judged, lab, r.score);
        const double pb = sigmoid(us_collab_logit(bias, e->user, e->item));
        const double pm = sigmoid(us_collab_logit(mf, e->user, e->item));
        col[COL_BIAS][t] = (float)pb;
        col[COL_MF][t] = (float)pm;
        acc_add(&a_bias, pb >= 0.5, lab, pb);
        acc_add(&a_mf, pm >= 0.5, lab, pm);
        double rate = (pop_like[e->item] + 1.0) / (pop_lab[e->item] + 2.0);
        col[COL_RATE][t] = (float)rate;
        col[COL_POP][t] = (float)pop[e->item];
        acc_add(&a_rate, rate >= 0.5, lab, rate);
        /* decisions: the one above, and the like frequency over more draws */
        col[COL_DECISION][t] = (float)r.judged;
        int likes = r.judged;
        for (int d = 1; d < cfg.decision_draws; d++) {
            us_sim_decide(sim, w, e->user, NULL, NULL, 0, e->item, &rng, &rn);
            likes += rn.judged;
        }
        col[COL_FREQ][t] = (float)likes / (float)cfg.decision_draws;
        if (truth) {
            const truth_row *tr = find_truth(truth, ntruth,
                                             pair_key(us_sim_user_raw(sim, e->user),
                                                      us_sim_item_raw(sim, e->item)));
            if (tr) {
                tp[ntr] = tr->p;
                ts[ntr] = r.score;
                tpf[ntr] = tr->p;
                tsf[ntr] = r.score;
                tl[ntr] = (int8_t)lab;
                ntr++;
            }
        }
        t++;
        const size_t nu = uoff[e->user + 1] - uoff[e->user];
        if (nu + (size_t)M > (size_t)V) continue; /* too few unseen items */
        /* choosing: the test item against one unseen item, by p_engage */
        if (sc->choose) {
            int32_t cand;
            do cand = (int32_t)us_rng_bounded(&neg, (uint32_t)V);
            while (has_i32(touched + uoff[e->user], nu, cand));
            us_sim_decide(sim, w, e->user, NULL, NULL, 0, cand, &rng, &rn);
            eng[ne] = r.p_engage;
            eng_lab[ne++] = 1;
            eng[ne] = rn.p_engage;
            eng_lab[ne++] = 0;
            eng_sum += r.p_engage;
        }
        /* 1:m discrimination for a liked test item: the same M negatives serve every m */
        if (!lab) continue;
        ndisc++;
        for (int q = 0; q < M; q++) {
            int32_t cand;
            do cand = (int32_t)us_rng_bounded(&neg, (uint32_t)V);
            while (has_i32(touched + uoff[e->user], nu, cand));
            us_sim_decide(sim, w, e->user, NULL, NULL, 0, cand, &rng, &rn);
            neg_r[q] = rn.p_reward;
            neg_p[q] = pop[cand];
        }
        for (int j = 0; j < US_SIM_EVAL_NM; j++) {
            disc[j] += one_of(r.p_reward, neg_r, cfg.m[j]);
            pdisc[j] += one_of(pop[e->item], neg_p, cfg.m[j]);
        }
    }
    out->n_test = t;
    out->real_like_rate = t ? (double)real_likes / (double)t : 0;
    out->sim_like_rate = t ? (double)sim_likes / (double)t : 0;
    for (int c = 0; c < US_SIM_NVOTES; c++)
        if (sc->use[c])
            acc_finish(&a_comp[c], us_sasrec_auc(col[c], labels, t, aidx), &out->component[c]);
    acc_finish(&a_maj, us_sasrec_auc(col[COL_MAJORITY], labels, t, aidx), &out->majority);
    acc_finish(&a_ens, us_sasrec_auc(col[COL_JUDGE], labels, t, aidx), &out->ensemble);
    acc_finish(&a_bias, us_sasrec_auc(col[COL_BIAS], labels, t, aidx), &out->bias);
    acc_finish(&a_mf, us_sasrec_auc(col[COL_MF], labels, t, aidx), &out->mf);
    acc_finish(&a_rate, us_sasrec_auc(col[COL_RATE], labels, t, aidx), &out->item_rate);
    out->popularity_auc = us_sasrec_auc(col[COL_POP], labels, t, aidx);
    out->decision_auc = us_sasrec_auc(col[COL_DECISION], labels, t, aidx);
    out->decision_freq_auc = us_sasrec_auc(col[COL_FREQ], labels, t, aidx);
    out->decision_draws = cfg.decision_draws;
    /* the verdict: the judge against every part in use and every baseline */
    {
        const struct {
            const char *name;
            double auc;
            int in;
        } other[] = {
            {"keyword", out->component[US_VOTE_KEYWORD].auc, sc->use[US_VOTE_KEYWORD]},
            {"embedding", out->component[US_VOTE_EMBED].auc, sc->use[US_VOTE_EMBED]},
            {"sasrec", out->component[US_VOTE_SASREC].auc, sc->use[US_VOTE_SASREC]},
            {"majority vote", out->majority.auc, sc->mode != US_SIM_MAJORITY},
            {"user+item bias", out->bias.auc, 1},
            {"matrix factorization", out->mf.auc, 1},
            {"item like rate", out->item_rate.auc, 1},
            {"popularity", out->popularity_auc, 1},
        };
        out->best_other_auc = -1;
        for (size_t k = 0; k < sizeof other / sizeof *other; k++)
            if (other[k].in && other[k].auc > out->best_other_auc) {
                out->best_other_auc = other[k].auc;
                snprintf(out->best_other, sizeof out->best_other, "%s", other[k].name);
            }
        out->beats_all = out->ensemble.auc > out->best_other_auc;
    }
    out->has_choose = sc->choose;
    if (ne) {
        out->engage_auc = us_sasrec_auc(eng, eng_lab, ne, aidx);
        out->engage_rate_test = eng_sum / (double)(ne / 2);
    }
    out->n_discrimination = ndisc;
    for (int j = 0; j < US_SIM_EVAL_NM; j++) {
        out->discrimination[j] = ndisc ? disc[j] / (double)ndisc : 0;
        out->popularity_discrimination[j] = ndisc ? pdisc[j] / (double)ndisc : 0;
    }
    align(ie, ir, is, (size_t)V, cfg.min_count, scratch, &out->n_items_aligned, &out->item_jsd,
          &out->item_spearman);
    align(ce, cr, cs, us_strtab_count(cats), cfg.min_count, scratch, &out->n_cats_aligned,
          &out->cat_jsd, &out->cat_spearman);
    if (truth) {
        out->has_truth = 1;
        out->n_truth = ntr;
        out->truth_spearman = us_stat_spearman(tp, ts, ntr, scratch);
        out->truth_auc = us_sasrec_auc(tpf, tl, ntr, aidx);
        out->truth_score_auc = us_sasrec_auc(tsf, tl, ntr, aidx);
    }
    /* the random policy: episodes of max_ep uniformly random items for random users */
    if (cfg.random_steps) {
        us_rng pol = us_rng_derive(cfg.seed, 2);
        int32_t ep_items[50];
        int8_t ep_likes[50];
        uint64_t likes = 0, engaged = 0, steps = 0;
        while (steps < cfg.random_steps) {
            int32_t u = (int32_t)us_rng_bounded(&pol, (uint32_t)U);
            for (int s = 0; s < max_ep && steps < cfg.random_steps; s++, steps++) {
                ep_items[s] = (int32_t)us_rng_bounded(&pol, (uint32_t)V);
                us_sim_decide(sim, w, u, ep_items, ep_likes, s, ep_items[s], &pol, &r);
                ep_likes[s] = (int8_t)r.like;
                likes += (uint64_t)r.like;
                engaged += (uint64_t)r.engage;
            }
        }
        out->random_steps = steps;
        out->random_like_rate = (double)likes / (double)steps;
        out->random_engage_rate = (double)engaged / (double)steps;
    }
done:
    us_sim_worker_free(w);
    us_collab_free(&own_bias);
    us_collab_free(&own_mf);
    free(x);
    free(truth);
    free(uoff);
    free(touched);
    free(pop);
    free(pop_lab);
    free(pop_like);
    free(labels);
    free(aidx);
    for (int c = 0; c < NCOL; c++) free(col[c]);
    free(eng);
    free(eng_lab);
    free(train);
    free(valid);
    free(ie);
    free(ir);
    free(is);
    us_strtab_free(cats);
    free(ce);
    free(cr);
    free(cs);
    free(scratch);
    free(tp);
    free(ts);
    free(tl);
    free(tpf);
    free(tsf);
    free(neg_r);
    free(neg_p);
    return st;
}
