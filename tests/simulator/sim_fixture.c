/* sim_fixture.c — see sim_fixture.h. */
#include <stdio.h>

#include "simulator/embed/embed.h"
#include "simulator/keywords/keywords.h"
#include "simulator/sasrec/sasrec.h"
#include "tests/simulator/sim_fixture.h"
#include "tests/store.h"
#include "tests/test.h"

static us_sim *fail(const us_err *e) {
    char buf[1200];
    fprintf(stderr, "sim fixture: %s\n", us_err_str(e, buf, sizeof buf));
    return NULL;
}

us_sim *us_test_sasrec_sim_cfg(const char *name, char *store, us_sim_config cfg) {
    char dir[1024], path[1024];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(path, sizeof path, "%s", us_test_path(name));
    if (store) snprintf(store, 1024, "%s", path);
    if (us_test_synth_store(dir, path, US_TEST_SIM_USERS, US_TEST_SIM_ITEMS, 700, 0) != 0)
        return NULL;
    us_err e;
    us_sasrec_config mc = us_sasrec_config_default();
    mc.n_users = US_TEST_SIM_USERS;
    mc.n_items = US_TEST_SIM_ITEMS;
    mc.d = 8;
    us_sasrec *m;
    if (us_sasrec_init(&m, &mc, &e) != US_OK) return fail(&e);
    for (int c = 0; c < mc.d; c++) m->params.out_w[c] *= 50.0f;
    us_status st = us_sasrec_checkpoint_save(path, m, NULL, "test", NULL, &e);
    us_sasrec_free(m);
    if (st != US_OK) return fail(&e);
    mc.head = US_SASREC_NEXT;
    if (us_sasrec_init(&m, &mc, &e) != US_OK) return fail(&e);
    st = us_sasrec_checkpoint_save(path, m, NULL, "test", NULL, &e);
    us_sasrec_free(m);
    if (st != US_OK) return fail(&e);
    cfg.use[US_VOTE_KEYWORD] = cfg.use[US_VOTE_EMBED] = 0;
    us_sim *sim = NULL;
    if (us_sim_open(&sim, path, &cfg, &e) != US_OK) return fail(&e);
    return sim;
}

us_sim *us_test_sasrec_sim(const char *name, char *store) {
    return us_test_sasrec_sim_cfg(name, store, us_sim_config_default());
}

int us_test_full_store(const char *name, char *store) {
    us_sim *sim = us_test_sasrec_sim(name, store);
    if (!sim) return -1;
    us_sim_close(sim);
    us_err err;
    us_extract_config xc = us_extract_config_default();
    xc.quiet = 1;
    if (us_extract(store, &xc, NULL, &err) != US_OK) return -1;
    us_embedder *e;
    if (us_embedder_open(&e, NULL, 64, 1, NULL, &err) != US_OK) return -1;
    us_embed_config ec = us_embed_config_default();
    ec.quiet = 1;
    us_status st = us_embed_store(store, e, &ec, NULL, &err);
    us_embedder_close(e);
    return st == US_OK ? 0 : -1;
}
