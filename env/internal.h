/* internal.h — private to env/: the single environment's state, shared by env.c and policy.c
 * (which steps envs with baseline policies). */
#ifndef USERSIM_ENV_INTERNAL_H
#define USERSIM_ENV_INTERNAL_H

#include "env/env.h"

struct us_env {
    const us_sim *sim;
    us_env_config cfg;
    us_sim_worker *worker;
    uint64_t react_seed, leave_seed; /* the episode's streams per purpose (env.h) */
    double satisfaction;             /* s_t (env.h): > 0 after misses, < 0 after likes */
    double p_leave;                  /* after the last step */
    int32_t user;
    int steps;
    int done;
    int eval;           /* this episode walks evaluation order: no early leaving */
    int32_t next_user;  /* evaluation order of this env */
    int32_t *ep_items;  /* (max_steps) */
    int8_t *ep_likes;   /* (max_steps) */
    /* the feature observation (env.h): the user stub of stub_user (-1: none yet), dim floats;
       NULL when the sim holds no item vectors */
    float *stub;
    int32_t stub_user;
    int dim;
};

#endif
