/* train.c — training runs: the agents' hyperparameter tables, the split of users into training
 * and evaluation ones, the driver loop (a learner's iterations, periodic evaluation of its
 * greedy policy on held-out users, the learning curve, checkpoints) and resuming it bit for bit,
 * and the greedy policy of a run directory. The algorithms live one per file and plug in
 * through ag_algo (internal.h); nothing here knows their insides. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agents/internal.h"

/* ---- the agents and their hyperparameters ---- */

/* The learners, in the order of us_agent_names; each file adds its line as it lands. */
static const ag_algo *const algos[] = {
    &ag_dqn,
    &ag_a2c,
    &ag_ppo,
    &ag_trpo,
    NULL,
};

const char *const us_agent_names[] = {"dqn", "a2c", "ppo", "trpo", NULL};

static const ag_algo *find_algo(const char *name, us_err *err) {
    for (int k = 0; algos[k]; k++)
        if (name && !strcmp(algos[k]->name, name)) return algos[k];
    us_err_set(err, US_EINVAL, NULL, 0, "agent", "expected one of dqn, a2c, ppo, trpo, found "
               "\"%s\"%s", name ? name : "(none)",
               name && !algos[0] ? " (no learner is built into this library)" : "");
    return NULL;
}

us_status us_agent_hparams(const char *agent, const us_hparam **table, int *n, us_err *err) {
    const ag_algo *a = find_algo(agent, err);
    if (!a) return US_EINVAL;
    *table = a->hp;
    *n = a->n_hp;
    return US_OK;
}

us_status us_agent_defaults(const char *agent, us_hvalues *out, us_err *err) {
    const ag_algo *a = find_algo(agent, err);
    if (!a) return US_EINVAL;
    US_ASSERT(a->n_hp <= US_MAX_HPARAMS);
    memset(out, 0, sizeof *out);
    out->n = a->n_hp;
    for (int k = 0; k < a->n_hp; k++) out->v[k] = a->hp[k].def;
    return US_OK;
}

/* name and want equal with '_' read as '-'. */
static int same_name(const char *name, const char *want) {
    for (; *name && *want; name++, want++)
        if (*name != *want && !(*name == '_' && *want == '-')) return 0;
    return *name == *want;
}

/* The value is acceptable for hyperparameter h: in range, whole where it must be. */
static us_status check_value(const us_hparam *h, double v, us_err *err) {
    if (!isfinite(v) || v < h->lo || v > h->hi)
        return us_err_set(err, US_EINVAL, NULL, 0, h->name, "expected %g..%g, found %g", h->lo,
                          h->hi, v);
    if (h->is_int && v != floor(v))
        return us_err_set(err, US_EINVAL, NULL, 0, h->name, "expected a whole number, found %g",
                          v);
    return US_OK;
}

us_status us_agent_set(const char *agent, us_hvalues *vals, const char *name, double value,
                       us_err *err) {
    const ag_algo *a = find_algo(agent, err);
    if (!a) return US_EINVAL;
    if (vals->n == 0) us_agent_defaults(agent, vals, err);
    for (int k = 0; k < a->n_hp; k++)
        if (same_name(name, a->hp[k].name)) {
            us_status st = check_value(&a->hp[k], value, err);
            if (st == US_OK) vals->v[k] = value;
            return st;
        }
    return us_err_set(err, US_EINVAL, NULL, 0, name, "not a hyperparameter of %s (usersim train "
                      "--agent %s --help lists them)", agent, agent);
}

/* ---- held-out users ---- */

void us_agent_split_users(int n_users, double share, int32_t *heldout, int *n_heldout,
                          int32_t *kept, int *n_kept) {
    int h = 0, k = 0;
    const uint64_t cut = (uint64_t)(share * 18446744073709551615.0);
    for (int u = 0; u < n_users; u++) {
        const uint32_t key = (uint32_t)u;
        if (us_hash64(&key, sizeof key, 0x686f6c64u) < cut) heldout[h++] = u; /* "hold" */
        else kept[k++] = u;
    }
    /* at least one of each (when there are two users): move the last user across */
    if (n_users >= 2 && h == 0) {
        heldout[h++] = kept[--k];
    } else if (n_users >= 2 && k == 0) {
        kept[k++] = heldout[--h];
    }
    *n_heldout = h;
    *n_kept = k;
}

/* ---- the greedy policy of a net ---- */

typedef struct net_policy {
    us_net *net;
    const us_sim *sim;
    float *scores; /* (64, V) */
    int skip_known;
} net_policy;

#define NETPOL_BATCH 64

static void netpol_act(void *self, const int32_t *obs, int B, int obs_size, us_rng *rngs,
                       int32_t *actions) {
    (void)rngs;
    net_policy *p = self;
    const int V = us_net_n_items(p->net);
    US_ASSERT(obs_size == us_net_obs_size(p->net));
    for (int b0 = 0; b0 < B; b0 += NETPOL_BATCH) {
        const int nb = B - b0 < NETPOL_BATCH ? B - b0 : NETPOL_BATCH;
        const int32_t *ob = obs + (size_t)b0 * obs_size;
        us_net_forward(p->net, ob, nb, p->scores, NULL);
        for (int b = 0; b < nb; b++) {
            float *row = p->scores + (size_t)b * V;
            us_agent_mask(p->sim, ob + (size_t)b * obs_size, obs_size, p->skip_known, row);
            actions[b0 + b] = us_agent_argmax(row, V);
        }
    }
}

static void netpol_free(void *self) {
    net_policy *p = self;
    if (!p) return;
    us_net_free(p->net);
    free(p->scores);
    free(p);
}

/* A greedy policy over a new net of config nc for observations of obs_size; its parameters
 * are left to the caller (us_net_params(p->net)). */
static us_status netpol_init(us_agent_policy *out, net_policy **self, const us_sim *sim,
                             const us_net_config *nc, int obs_size, const char *name,
                             us_err *err) {
    memset(out, 0, sizeof *out);
    net_policy *p = calloc(1, sizeof *p);
    if (!p) return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    p->sim = sim;
    p->skip_known = 1;
    us_status st = us_net_init(&p->net, sim, nc, obs_size, NETPOL_BATCH, 0, err);
    if (st == US_OK) {
        p->scores = malloc((size_t)NETPOL_BATCH * us_sim_n_items(sim) * sizeof(float));
        if (!p->scores) st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    if (st != US_OK) {
        netpol_free(p);
        return st;
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    out->self = p;
    out->act = netpol_act;
    out->free = netpol_free;
    *self = p;
    return US_OK;
}

/* ---- the run's record in a checkpoint ---- */

#define RUN_VERSION 1
typedef struct run_meta {
    uint32_t version;
    char agent[16];
    uint64_t store_id;
    int32_t n_users, n_items, obs_size, n_envs;
    uint64_t seed, steps, total_steps;
    int32_t n_hp;
    double hp[US_MAX_HPARAMS];
    us_env_config env;
    double holdout;
    int32_t eval_episodes, evaluations;
    uint64_t eval_every, next_eval, next_log;
    double recent[100];
    int32_t n_recent, recent_at;
} run_meta;

/* What identifies the store's population: its sizes and every user's and item's raw id. */
static uint64_t store_identity(const us_sim *sim) {
    const int nu = us_sim_n_users(sim), ni = us_sim_n_items(sim);
    uint64_t h = us_hash64(&nu, sizeof nu, (uint64_t)ni);
    for (int u = 0; u < nu; u++) {
        const char *s = us_sim_user_raw(sim, u);
        h = us_hash64(s, strlen(s) + 1, h);
    }
    for (int i = 0; i < ni; i++) {
        const char *s = us_sim_item_raw(sim, i);
        h = us_hash64(s, strlen(s) + 1, h);
    }
    return h;
}

/* Checks that a checkpoint's run record fits this store (and agent, when agent is not NULL). */
static us_status check_meta(const run_meta *m, const us_sim *sim, const char *agent,
                            const char *path, us_err *err) {
    if (m->version != RUN_VERSION)
        return us_err_set(err, US_EFORMAT, path, 0, "version", "expected %d, found %u",
                          RUN_VERSION, m->version);
    if (memchr(m->agent, '\0', sizeof m->agent) == NULL || !find_algo(m->agent, NULL))
        return us_err_set(err, US_EFORMAT, path, 0, "agent", "not an agent this library knows");
    if (agent && strcmp(agent, m->agent) != 0)
        return us_err_set(err, US_EINVAL, path, 0, "agent",
                          "the checkpoint is of agent %s, not %s", m->agent, agent);
    if (m->store_id != store_identity(sim) || m->n_users != us_sim_n_users(sim) ||
        m->n_items != us_sim_n_items(sim))
        return us_err_set(err, US_EINVAL, path, 0, "store",
                          "the checkpoint was trained on another store (%d users, %d items; "
                          "this one has %d and %d, or other ids)", m->n_users, m->n_items,
                          us_sim_n_users(sim), us_sim_n_items(sim));
    const ag_algo *a = find_algo(m->agent, NULL);
    if (m->n_hp != a->n_hp)
        return us_err_set(err, US_EFORMAT, path, 0, "hyperparameters", "expected %d, found %d",
                          a->n_hp, m->n_hp);
    for (int k = 0; k < a->n_hp; k++)
        if (check_value(&a->hp[k], m->hp[k], NULL) != US_OK)
            return us_err_set(err, US_EFORMAT, path, 0, a->hp[k].name,
                              "out of range in the checkpoint: %g", m->hp[k]);
    if (m->obs_size != 1 + 2 * m->env.max_steps || us_env_config_validate(&m->env, NULL) != US_OK)
        return us_err_set(err, US_EFORMAT, path, 0, "env", "an environment config out of range");
    return US_OK;
}

/* Reads run_dir's checkpoint and its run record. */
static us_status read_ckpt(const char *run_dir, ag_ckpt **ck, run_meta *m, char *path,
                           size_t path_len, us_err *err) {
    snprintf(path, path_len, "%s/checkpoint.bin", run_dir);
    us_status st = ag_ckpt_read(ck, path, err);
    if (st == US_ENOTFOUND)
        return us_err_set(err, US_ENOTFOUND, run_dir, 0, "checkpoint",
                          "no checkpoint.bin in %s (train a run into it first)", run_dir);
    if (st != US_OK) return st;
    st = ag_ckpt_take(*ck, path, "run", m, sizeof *m, err);
    if (st != US_OK) {
        ag_ckpt_free(*ck);
        *ck = NULL;
    }
    return st;
}

us_status us_run_policy_open(us_agent_policy *out, const us_sim *sim, const char *run_dir,
                             us_err *err) {
    memset(out, 0, sizeof *out);
    ag_ckpt *ck;
    run_meta m;
    char path[4200];
    us_status st = read_ckpt(run_dir, &ck, &m, path, sizeof path, err);
    if (st != US_OK) return st;
    if ((st = check_meta(&m, sim, NULL, path, err)) != US_OK) {
        ag_ckpt_free(ck);
        return st;
    }
    us_hvalues hv = {.n = m.n_hp};
    memcpy(hv.v, m.hp, sizeof hv.v);
    const us_net_config nc = us_net_config_from(&hv);
    char name[64];
    const char *base = strrchr(run_dir, '/');
    snprintf(name, sizeof name, "%s", base && base[1] ? base + 1 : run_dir);
    net_policy *p;
    if ((st = netpol_init(out, &p, sim, &nc, m.obs_size, name, err)) == US_OK)
        st = ag_ckpt_take(ck, path, "policy", us_net_params(p->net),
                          us_net_nparams(p->net) * sizeof(float), err);
    ag_ckpt_free(ck);
    if (st != US_OK) us_agent_policy_free(out);
    return st;
}

/* ---- the driver ---- */

us_train_config us_train_config_default(void) {
    us_train_config c;
    memset(&c, 0, sizeof c);
    c.steps = 100000;
    c.seed = 1;
    c.threads = 1;
    c.eval_episodes = 200;
    c.holdout = 0.1;
    c.env = us_env_config_default();
    return c;
}

void ag_step(ag_ctx *ctx, const int32_t *actions, float *rewards, uint8_t *terminated,
             uint8_t *truncated) {
    const double t0 = us_now();
    us_vecenv_step(ctx->venv, actions, ctx->obs, rewards, terminated, truncated, NULL);
    ctx->prof.env += us_now() - t0;
    for (int i = 0; i < ctx->n_envs; i++) {
        ctx->ep_return[i] += rewards[i];
        if (terminated[i] || truncated[i]) {
            ctx->recent[ctx->recent_at] = ctx->ep_return[i];
            ctx->recent_at = (ctx->recent_at + 1) % 100;
            if (ctx->n_recent < 100) ctx->n_recent++;
            ctx->ep_return[i] = 0.0;
        }
    }
}

static double recent_mean(const ag_ctx *ctx) {
    if (ctx->n_recent == 0) return NAN;
    double s = 0.0;
    for (int k = 0; k < ctx->n_recent; k++) s += ctx->recent[k];
    return s / ctx->n_recent;
}

typedef struct run {
    const us_train_config *cfg;
    const ag_algo *algo;
    ag_ctx ctx;
    us_hvalues hp;
    run_meta meta;
    void *learner;
    us_agent_policy evalpol;
    net_policy *evalnet;
    int32_t *heldout, *kept;
    int n_heldout, n_kept;
    FILE *curve;
    double eval_seconds;
    char dir[4096];
} run;

static us_status mkdir_p(const char *dir, us_err *err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return us_err_set(err, US_EIO, dir, 0, "out", "cannot create the run directory: %s",
                          strerror(errno));
    return US_OK;
}

/* A JSON string literal of s into f. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* config.json: what the run is, written beside and renamed. */
static us_status write_config(const run *r, const char *store_path, us_err *err) {
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/config.json", r->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return us_err_set(err, US_EIO, tmp, 0, NULL, "cannot create: %s", strerror(errno));
    const run_meta *m = &r->meta;
    fprintf(f, "{\n  \"agent\": ");
    json_str(f, m->agent);
    fprintf(f, ",\n  \"store\": ");
    json_str(f, store_path);
    fprintf(f, ",\n  \"steps\": %llu,\n  \"seed\": %llu,\n  \"envs\": %d,\n",
            (unsigned long long)m->total_steps, (unsigned long long)m->seed, m->n_envs);
    fprintf(f, "  \"eval_every\": %llu,\n  \"eval_episodes\": %d,\n  \"holdout\": %.17g,\n",
            (unsigned long long)m->eval_every, m->eval_episodes, m->holdout);
    fprintf(f, "  \"env\": {\"max_steps\": %d, \"leave_prob\": %.17g, \"leave_gain\": %.17g, "
               "\"leave_decay\": %.17g, \"mask_repeats\": %d},\n",
            m->env.max_steps, m->env.leave_prob, m->env.leave_gain, m->env.leave_decay,
            m->env.mask_repeats);
    fprintf(f, "  \"hyperparameters\": {");
    for (int k = 0; k < r->algo->n_hp; k++)
        fprintf(f, "%s\n    \"%s\": %.17g", k ? "," : "", r->algo->hp[k].name, m->hp[k]);
    fprintf(f, "\n  }\n}\n");
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return us_err_set(err, US_EIO, path, 0, NULL, "cannot write: %s", strerror(errno));
    }
    return US_OK;
}

/* Opens curve.csv: fresh with its header, or (resuming) keeping the header and the rows up to
 * `steps`, rewritten beside and renamed, so rows logged after the checkpoint are dropped and
 * logged again identically. */
static us_status open_curve(run *r, uint64_t steps, int resume, us_err *err) {
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/curve.csv", r->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return us_err_set(err, US_EIO, tmp, 0, NULL, "cannot create: %s", strerror(errno));
    fprintf(f, "steps,eval_return,eval_ci,train_return");
    for (int k = 0; k < AG_MAX_DIAG && r->algo->diag_names[k]; k++)
        fprintf(f, ",%s", r->algo->diag_names[k]);
    fputc('\n', f);
    if (resume) {
        FILE *old = fopen(path, "r");
        char line[4096];
        int first = 1;
        while (old && fgets(line, sizeof line, old)) {
            if (first) {
                first = 0;
                continue;
            }
            if (strtoull(line, NULL, 10) <= steps) fputs(line, f);
        }
        if (old) fclose(old);
    }
    if (fflush(f) != 0 || rename(tmp, path) != 0) {
        fclose(f);
        unlink(tmp);
        return us_err_set(err, US_EIO, path, 0, NULL, "cannot write: %s", strerror(errno));
    }
    r->curve = f; /* the renamed file, still open for appending */
    return US_OK;
}

static void curve_row(run *r, uint64_t steps, const double *eval, const ag_iter *it) {
    fprintf(r->curve, "%llu,", (unsigned long long)steps);
    if (eval) fprintf(r->curve, "%.6f,%.6f", eval[0], eval[1]);
    else fputc(',', r->curve);
    const double tr = recent_mean(&r->ctx);
    if (isnan(tr)) fprintf(r->curve, ",");
    else fprintf(r->curve, ",%.6f", tr);
    for (int k = 0; k < AG_MAX_DIAG && r->algo->diag_names[k]; k++) {
        if (it) fprintf(r->curve, ",%.6g", it->diag[k]);
        else fputc(',', r->curve);
    }
    fputc('\n', r->curve);
    fflush(r->curve);
}

/* The greedy policy's return on the held-out users: eval[0] mean, eval[1] its interval. */
static us_status evaluate(run *r, double *eval, us_err *err) {
    us_net_copy(r->evalnet->net, r->algo->policy_net(r->learner));
    us_eval_config ec = us_eval_config_default();
    ec.episodes = r->meta.eval_episodes;
    ec.seed = us_hash64(&r->meta.seed, sizeof r->meta.seed, 0x6576616cu); /* "eval" */
    ec.threads = r->cfg->threads;
    ec.env = r->meta.env;
    ec.users = r->heldout;
    ec.n_users = r->n_heldout;
    us_eval_result res;
    const double t0 = us_now();
    us_status st = us_eval(r->ctx.sim, &r->evalpol, &ec, &res, NULL, NULL, err);
    r->eval_seconds += us_now() - t0;
    if (st != US_OK) return st;
    eval[0] = res.total_reward.mean;
    eval[1] = res.total_reward.ci;
    r->meta.evaluations++;
    return US_OK;
}

static us_status save_ckpt(run *r, us_err *err) {
    ag_ckpt *ck;
    us_status st = ag_ckpt_init(&ck, err);
    if (st != US_OK) return st;
    run_meta *m = &r->meta;
    memcpy(m->recent, r->ctx.recent, sizeof m->recent);
    m->n_recent = r->ctx.n_recent;
    m->recent_at = r->ctx.recent_at;
    m->steps = r->ctx.steps;
    us_net *pn = r->algo->policy_net(r->learner);
    const size_t vs = us_vecenv_state_size(r->ctx.venv);
    void *vbuf = malloc(vs);
    if (!vbuf) st = us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    if (st == US_OK) {
        us_vecenv_state_save(r->ctx.venv, vbuf);
        st = ag_ckpt_put(ck, "run", m, sizeof *m, err);
    }
    if (st == US_OK) st = ag_ckpt_put(ck, "vecenv", vbuf, vs, err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "ep_return", r->ctx.ep_return, (size_t)r->ctx.n_envs * sizeof(double),
                         err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "act_rngs", r->ctx.act_rngs, (size_t)r->ctx.n_envs * sizeof(us_rng),
                         err);
    if (st == US_OK)
        st = ag_ckpt_put(ck, "policy", us_net_params(pn), us_net_nparams(pn) * sizeof(float), err);
    if (st == US_OK) st = r->algo->save(r->learner, ck, err);
    if (st == US_OK) {
        char path[4200];
        snprintf(path, sizeof path, "%s/checkpoint.bin", r->dir);
        st = ag_ckpt_write(ck, path, err);
    }
    free(vbuf);
    ag_ckpt_free(ck);
    return st;
}

/* Restores the driver's and the learner's state from the run directory's checkpoint. */
static us_status load_ckpt(run *r, us_err *err) {
    ag_ckpt *ck;
    run_meta m;
    char path[4200];
    us_status st = read_ckpt(r->dir, &ck, &m, path, sizeof path, err);
    if (st != US_OK) return st;
    if ((st = check_meta(&m, r->ctx.sim, r->algo->name, path, err)) == US_OK &&
        (m.n_envs != r->meta.n_envs || m.obs_size != r->meta.obs_size))
        st = us_err_set(err, US_EFORMAT, path, 0, "envs", "expected %d envs, found %d",
                        r->meta.n_envs, m.n_envs);
    size_t vs = 0;
    const void *vbuf = st == US_OK ? ag_ckpt_get(ck, "vecenv", &vs) : NULL;
    if (st == US_OK && !vbuf) st = us_err_set(err, US_EFORMAT, path, 0, "vecenv", "section missing");
    if (st == US_OK) st = us_vecenv_state_load(r->ctx.venv, vbuf, vs, r->ctx.obs, err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "ep_return", r->ctx.ep_return,
                          (size_t)r->ctx.n_envs * sizeof(double), err);
    if (st == US_OK)
        st = ag_ckpt_take(ck, path, "act_rngs", r->ctx.act_rngs,
                          (size_t)r->ctx.n_envs * sizeof(us_rng), err);
    if (st == US_OK) st = r->algo->load(r->learner, ck, path, err);
    if (st == US_OK) {
        const uint64_t total = r->meta.total_steps;
        r->meta = m;
        r->meta.total_steps = total; /* --steps may extend a run */
        memcpy(r->ctx.recent, m.recent, sizeof m.recent);
        r->ctx.n_recent = m.n_recent;
        r->ctx.recent_at = m.recent_at;
        r->ctx.steps = m.steps;
    }
    ag_ckpt_free(ck);
    return st;
}

static void run_free(run *r) {
    if (r->learner) r->algo->free(r->learner);
    us_vecenv_free(r->ctx.venv);
    us_agent_policy_free(&r->evalpol);
    free(r->ctx.obs);
    free(r->ctx.act_rngs);
    free(r->ctx.ep_return);
    free(r->heldout);
    free(r->kept);
    if (r->curve) fclose(r->curve);
}

static us_status validate(const us_train_config *cfg, us_err *err) {
    if (!cfg->out_dir || !*cfg->out_dir)
        return us_err_set(err, US_EINVAL, NULL, 0, "out", "a run directory is needed");
    if (cfg->steps < 1 || cfg->steps > ((uint64_t)1 << 50))
        return us_err_set(err, US_EINVAL, NULL, 0, "steps", "expected 1..2^50, found %llu",
                          (unsigned long long)cfg->steps);
    if (cfg->envs < 0 || cfg->envs > 4096)
        return us_err_set(err, US_EINVAL, NULL, 0, "envs", "expected 1..4096, found %d",
                          cfg->envs);
    if (cfg->threads < 1 || cfg->threads > 256)
        return us_err_set(err, US_EINVAL, NULL, 0, "threads", "expected 1..256, found %d",
                          cfg->threads);
    if (cfg->eval_episodes < 1 || cfg->eval_episodes > 1000000)
        return us_err_set(err, US_EINVAL, NULL, 0, "eval-episodes",
                          "expected 1..1000000, found %d", cfg->eval_episodes);
    if (!(cfg->holdout > 0.0 && cfg->holdout < 1.0))
        return us_err_set(err, US_EINVAL, NULL, 0, "holdout", "expected 0 < x < 1, found %g",
                          cfg->holdout);
    if (cfg->env.max_steps > US_ENV_MAX_OBS_LEN)
        return us_err_set(err, US_EINVAL, NULL, 0, "max-steps",
                          "expected at most %d for a learner (an observation holds the whole "
                          "episode), found %d", US_ENV_MAX_OBS_LEN, cfg->env.max_steps);
    return us_env_config_validate(&cfg->env, err);
}

us_status us_train(const us_sim *sim, const char *store_path, const us_train_config *cfg,
                   us_train_report *rep, us_err *err) {
    if (rep) memset(rep, 0, sizeof *rep);
    us_status st = validate(cfg, err);
    if (st != US_OK) return st;
    run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    if (!(r.algo = find_algo(cfg->agent, err))) return US_EINVAL;
    /* the hyperparameters: the defaults, or the caller's, each checked */
    if (cfg->hp.n == 0) {
        us_agent_defaults(cfg->agent, &r.hp, err);
    } else {
        if (cfg->hp.n != r.algo->n_hp)
            return us_err_set(err, US_EINVAL, NULL, 0, "hyperparameters",
                              "expected %d values for %s, found %d", r.algo->n_hp,
                              cfg->agent, cfg->hp.n);
        r.hp = cfg->hp;
        for (int k = 0; k < r.algo->n_hp; k++)
            if ((st = check_value(&r.algo->hp[k], r.hp.v[k], err)) != US_OK) return st;
    }
    snprintf(r.dir, sizeof r.dir, "%s", cfg->out_dir);
    /* BLAS on one thread: the learner's products are small, and its sums then have the same
     * bits whatever --threads says (the envs run on the threads instead). */
    openblas_set_num_threads(1);

    run_meta *m = &r.meta;
    m->version = RUN_VERSION;
    snprintf(m->agent, sizeof m->agent, "%s", r.algo->name);
    m->store_id = store_identity(sim);
    m->n_users = us_sim_n_users(sim);
    m->n_items = us_sim_n_items(sim);
    m->env = cfg->env;
    m->env.obs_len = m->env.max_steps;
    m->obs_size = 1 + 2 * m->env.max_steps;
    m->n_envs = cfg->envs > 0 ? cfg->envs : r.algo->default_envs;
    m->seed = cfg->seed;
    m->total_steps = cfg->steps;
    m->n_hp = r.algo->n_hp;
    memcpy(m->hp, r.hp.v, sizeof m->hp);
    m->holdout = cfg->holdout;
    m->eval_episodes = cfg->eval_episodes;
    m->eval_every = cfg->eval_every ? cfg->eval_every : (cfg->steps + 9) / 10;
    m->next_eval = m->eval_every;
    m->next_log = 0;

    ag_ctx *c = &r.ctx;
    c->algo = r.algo;
    c->sim = sim;
    c->n_envs = m->n_envs;
    c->obs_size = m->obs_size;
    c->n_items = m->n_items;
    c->hp = &r.hp;
    c->seed = cfg->seed;
    c->total_steps = cfg->steps;
    const int nu = m->n_users;
    r.heldout = malloc((size_t)nu * sizeof(int32_t));
    r.kept = malloc((size_t)nu * sizeof(int32_t));
    c->obs = malloc((size_t)c->n_envs * c->obs_size * sizeof(int32_t));
    c->act_rngs = malloc((size_t)c->n_envs * sizeof(us_rng));
    c->ep_return = calloc((size_t)c->n_envs, sizeof(double));
    if (!r.heldout || !r.kept || !c->obs || !c->act_rngs || !c->ep_return) {
        run_free(&r);
        return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
    }
    if (nu < 2) {
        run_free(&r);
        return us_err_set(err, US_EINVAL, store_path, 0, "users",
                          "training holds users out for evaluation: needs at least 2, found %d",
                          nu);
    }
    us_agent_split_users(nu, cfg->holdout, r.heldout, &r.n_heldout, r.kept, &r.n_kept);
    for (int i = 0; i < c->n_envs; i++) {
        const uint64_t key[2] = {cfg->seed, (uint64_t)i};
        c->act_rngs[i] = us_rng_derive(us_hash64(key, sizeof key, 0x616374u), 0); /* "act" */
    }
    st = us_vecenv_init(&c->venv, sim, &m->env, c->n_envs, cfg->threads, cfg->seed, 0, err);
    if (st == US_OK) st = us_vecenv_set_users(c->venv, r.kept, r.n_kept, err);
    if (st == US_OK) us_vecenv_reset(c->venv, c->obs);
    const us_net_config nc = us_net_config_from(&r.hp);
    if (st == US_OK) st = r.algo->init(&r.learner, c, err);
    if (st == US_OK) st = netpol_init(&r.evalpol, &r.evalnet, sim, &nc, m->obs_size, m->agent, err);
    if (st == US_OK) st = mkdir_p(r.dir, err);
    if (st == US_OK && cfg->resume) st = load_ckpt(&r, err);
    if (st == US_OK) st = write_config(&r, store_path, err);
    if (st == US_OK) st = open_curve(&r, c->steps, cfg->resume, err);
    if (st != US_OK) {
        run_free(&r);
        return st;
    }

    /* the loop: iterate, log every 1/200 of the budget, evaluate and checkpoint every
     * eval_every steps and at the end */
    const uint64_t log_every = m->total_steps / 200 > 0 ? m->total_steps / 200 : 1;
    char label[256];
    snprintf(label, sizeof label, "%s", m->agent);
    us_progress bar;
    us_progress_begin(&bar, stderr, label, "steps", m->total_steps, !cfg->progress);
    bar.done = c->steps;
    const double t0 = us_now();
    const uint64_t steps0 = c->steps;
    double last_eval[2] = {NAN, NAN};
    int evaluated_at_end = 0;
    const uint64_t stop = cfg->stop_at > 0 && cfg->stop_at < m->total_steps ? cfg->stop_at
                                                                            : m->total_steps;
    int saved = 0;
    while (c->steps < stop && st == US_OK) {
        ag_iter it;
        memset(&it, 0, sizeof it);
        st = r.algo->iterate(r.learner, c, &it, err);
        if (st != US_OK) break;
        US_ASSERT(it.steps > 0);
        c->steps += it.steps;
        const int do_eval = c->steps >= m->next_eval || c->steps >= m->total_steps;
        if (do_eval) {
            if ((st = evaluate(&r, last_eval, err)) != US_OK) break;
            while (m->next_eval <= c->steps) m->next_eval += m->eval_every;
        }
        if (do_eval || c->steps >= m->next_log) {
            curve_row(&r, c->steps, do_eval ? last_eval : NULL, &it);
            while (m->next_log <= c->steps) m->next_log += log_every;
        }
        saved = do_eval;
        if (do_eval) {
            if ((st = save_ckpt(&r, err)) != US_OK) break;
            evaluated_at_end = c->steps >= m->total_steps;
        }
        int at = snprintf(label, sizeof label, "%s return %.2f", m->agent, recent_mean(c));
        if (!isnan(last_eval[0]) && at > 0 && (size_t)at < sizeof label)
            at += snprintf(label + at, sizeof label - (size_t)at, " eval %.2f", last_eval[0]);
        for (int k = 0; k < 3 && r.algo->diag_names[k] && at > 0 && (size_t)at < sizeof label; k++)
            at += snprintf(label + at, sizeof label - (size_t)at, " %s %.3g",
                           r.algo->diag_names[k], it.diag[k]);
        us_progress_set(&bar, c->steps);
    }
    if (st == US_OK && c->steps < m->total_steps) {
        /* stopped at stop_at: a checkpoint to resume from, nothing evaluated or logged that an
         * uninterrupted run would not have */
        if (!saved) st = save_ckpt(&r, err);
    } else if (st == US_OK && !evaluated_at_end) {
        /* a resumed run that was already complete: evaluate what it holds */
        st = evaluate(&r, last_eval, err);
    }
    us_progress_end(&bar);
    if (st == US_OK && rep) {
        rep->steps = c->steps;
        rep->seconds = us_now() - t0;
        rep->steps_per_s = rep->seconds > 0 ? (double)(c->steps - steps0) / rep->seconds : 0.0;
        rep->eval_seconds = r.eval_seconds;
        const double learn = rep->seconds - r.eval_seconds;
        rep->learn_steps_per_s = learn > 0 ? (double)(c->steps - steps0) / learn : 0.0;
        const ag_prof *pr = &r.ctx.prof;
        rep->env_seconds = pr->env;
        rep->forward_seconds = pr->forward;
        rep->backward_seconds = pr->backward;
        rep->optimizer_seconds = pr->optimizer;
        rep->other_seconds = learn - pr->env - pr->forward - pr->backward - pr->optimizer;
        rep->final_eval_return = last_eval[0];
        rep->final_eval_ci = last_eval[1];
        rep->evaluations = m->evaluations;
    }
    run_free(&r);
    return st;
}
