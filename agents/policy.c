/* policy.c — what every policy shares: releasing one, masking the items a user has already
 * met, the greedy pick, and opening a policy by name (a baseline or a training run). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agents/agents.h"
#include "agents/internal.h"

void us_agent_policy_free(us_agent_policy *pol) {
    if (!pol) return;
    if (pol->free && pol->self) pol->free(pol->self);
    memset(pol, 0, sizeof *pol);
}

/* Sets scores[i] = -INFINITY for every item i the observation's user has met: its training
 * history (skip_known) and the episode's recommendations. */
static void mask_all(const us_sim *sim, const int32_t *obs, int obs_size, int skip_known,
                     float *scores) {
    const int V = us_sim_n_items(sim);
    if (skip_known) {
        const int32_t *items;
        const int n = us_sim_history(sim, obs[0], &items, NULL);
        for (int k = 0; k < n; k++) scores[items[k]] = -INFINITY;
    }
    for (int k = 1; k + 1 < obs_size; k += 2)
        if (obs[k] >= 0 && obs[k] < V) scores[obs[k]] = -INFINITY;
}

void us_agent_mask(const us_sim *sim, const int32_t *obs, int obs_size, int skip_known,
                   float *scores) {
    const int V = us_sim_n_items(sim);
    const int32_t u = obs[0];
    int n_masked = (obs_size - 1) / 2;
    const int32_t *hist;
    if (skip_known) n_masked += us_sim_history(sim, u, &hist, NULL);
    if (n_masked < V) { /* an item is left whatever the overlaps: the usual case */
        mask_all(sim, obs, obs_size, skip_known, scores);
        return;
    }
    /* the user may have met the whole catalogue: mask on a copy, keep it only when an item is
     * left */
    float *copy = malloc((size_t)V * sizeof *copy);
    if (!copy) return; /* leaving the row unmasked is the documented fallback */
    memcpy(copy, scores, (size_t)V * sizeof *copy);
    mask_all(sim, obs, obs_size, skip_known, copy);
    int left = 0;
    for (int i = 0; i < V; i++)
        if (copy[i] > -INFINITY) {
            left = 1;
            break;
        }
    if (left) memcpy(scores, copy, (size_t)V * sizeof *copy);
    free(copy);
}

int32_t us_agent_argmax(const float *scores, int n) {
    /* the largest score by a vectorized pass, then its first index */
    const float mx = ag_row_max(scores, n);
    for (int i = 0; i < n; i++)
        if (scores[i] == mx) return i;
    /* no score equals the maximum: NaNs; the plain scan's answer */
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (scores[i] > scores[best]) best = i;
    return best;
}

static int is_baseline(const char *name) {
    static const char *const names[] = {"random", "popular", "sasrec", "oracle", NULL};
    for (int k = 0; names[k]; k++)
        if (!strcmp(name, names[k])) return 1;
    return !strncmp(name, "egreedy:", 8);
}

us_status us_policy_open(us_agent_policy *out, const us_sim *sim, const char *name,
                         us_err *err) {
    memset(out, 0, sizeof *out);
    if (!name || !*name)
        return us_err_set(err, US_EINVAL, NULL, 0, "policy", "expected a policy name, found "
                          "nothing");
    if (is_baseline(name)) return us_baseline_init(out, sim, name, err);
    struct stat sb;
    if (stat(name, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return us_err_set(err, US_EINVAL, NULL, 0, "policy",
                          "expected random, popular, sasrec, egreedy:EPS, oracle or a training "
                          "run's directory, found \"%s\"", name);
    return us_run_policy_open(out, sim, name, err);
}
