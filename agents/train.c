/* train.c — training runs: the run directory, the learning curve, checkpoints and resume. The
 * learners arrive one file each; until one is registered here, every agent name is unknown. */
#include <stdio.h>
#include <sys/stat.h>

#include "agents/agents.h"

us_status us_run_policy_open(us_agent_policy *out, const us_sim *sim, const char *run_dir,
                             us_err *err) {
    (void)out;
    (void)sim;
    return us_err_set(err, US_ENOTFOUND, run_dir, 0, "checkpoint", "no checkpoint.bin in %s",
                      run_dir);
}
