/* cmd_extract.c — extract: item like/dislike keywords into the store (built-in or an LLM), and
 * --report, the summary of what the stage did and what its requests cost. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "simulator/keywords/keywords.h"

static const char extract_usage[] =
    "usage: usersim extract NAME.usdb [--builtin | --llm URL --llm-model M] [options]\n"
    "\n"
    "For every item: a category, pros keywords (reasons to like it) and cons keywords (reasons\n"
    "to dislike it), from an objective pass over its metadata and a subjective pass over its\n"
    "reviews, into the tables keyword, item_keyword and item_profile. Without --builtin or\n"
    "--llm: the built-in extractor (no network, deterministic), or the LLM named by\n"
    "USERSIM_LLM_URL or the settings file when either says one.\n";

static const char extract_tail[] =
    "Results are cached per (item, pass, prompt version, model, review sample): a re-run does\n"
    "only what is missing, and an interrupted run (even kill -9) is finished by running it again.\n"
    "Exit status 1 when any item-pass failed (no answer, or no readable one after a retry): the\n"
    "keywords then hold the other items, and running the command again retries the failed ones.\n";

static void print_report(const us_extract_report *r, int ran) {
    char a[32], b[32], c[32], d[32];
    if (ran)
        printf("extract: %s items, %s item-passes done now, %s from the cache, %s failed, "
               "in %.2f s\n", cli_group(r->items, a), cli_group(r->extracted, b),
               cli_group(r->cached, c), cli_group(r->failed, d), r->seconds);
    printf("extract: %s item profiles, %s keywords, %s item-keyword links, source %s\n",
           cli_group(r->profiles, a), cli_group(r->keywords, b), cli_group(r->links, c),
           r->source[0] ? r->source : "(none)");
    if (!ran && r->failed) printf("extract: %llu item-passes failed (see table extraction)\n",
                                  (unsigned long long)r->failed);
    for (int i = 0; i < r->n_passes; i++) {
        const us_extract_pass_stats *p = &r->passes[i];
        printf("  %-18s %llu requests: %llu ok, %llu invalid, %llu failed; tokens %llu in, "
               "%llu out; latency mean %.3f s, max %.3f s\n", p->pass,
               (unsigned long long)p->requests, (unsigned long long)p->ok,
               (unsigned long long)p->invalid, (unsigned long long)p->failed,
               (unsigned long long)p->prompt_tokens, (unsigned long long)p->completion_tokens,
               p->latency_mean_s, p->latency_max_s);
    }
}

static cJSON *report_json(const us_extract_report *r, int ran) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "items", (double)r->items);
    if (ran) {
        cJSON_AddNumberToObject(j, "extracted", (double)r->extracted);
        cJSON_AddNumberToObject(j, "cached", (double)r->cached);
        cJSON_AddNumberToObject(j, "seconds", r->seconds);
        if (r->failed) cJSON_AddStringToObject(j, "first_error", r->first_error);
    }
    cJSON_AddNumberToObject(j, "failed", (double)r->failed);
    cJSON_AddNumberToObject(j, "profiles", (double)r->profiles);
    cJSON_AddNumberToObject(j, "keywords", (double)r->keywords);
    cJSON_AddNumberToObject(j, "links", (double)r->links);
    cJSON_AddStringToObject(j, "source", r->source);
    cJSON *passes = cJSON_AddArrayToObject(j, "passes");
    for (int i = 0; i < r->n_passes; i++) {
        const us_extract_pass_stats *p = &r->passes[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "pass", p->pass);
        cJSON_AddNumberToObject(x, "requests", (double)p->requests);
        cJSON_AddNumberToObject(x, "ok", (double)p->ok);
        cJSON_AddNumberToObject(x, "invalid", (double)p->invalid);
        cJSON_AddNumberToObject(x, "failed", (double)p->failed);
        cJSON_AddNumberToObject(x, "prompt_tokens", (double)p->prompt_tokens);
        cJSON_AddNumberToObject(x, "completion_tokens", (double)p->completion_tokens);
        cJSON_AddNumberToObject(x, "latency_mean_s", p->latency_mean_s);
        cJSON_AddNumberToObject(x, "latency_max_s", p->latency_max_s);
        cJSON_AddItemToArray(passes, x);
    }
    return j;
}

typedef struct extract_settings {
    us_extract_config cfg;
    int builtin, report, json;
} extract_settings;

static void extract_init(void *s) {
    *(extract_settings *)s = (extract_settings){.cfg = us_extract_config_default()};
}

static const char *const k_formats[] = {"lines", "json", NULL};

#define S(f) offsetof(extract_settings, f)
/* The options, for the command line and the settings file alike (a file's key is the
 * option's long name). */
static const cli_opt extract_opts[] = {
    {.name = "builtin", .type = CLI_FLAG, .off = S(builtin), .set = 1,
     .help = "the built-in extractor, whatever the environment or file say"},
    {.name = "llm", .type = CLI_STR, .off = S(cfg.llm_url), .arg = "URL",
     .help = "an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1",
     .unset = "the built-in extractor", .env = "USERSIM_LLM_URL"},
    {.name = "llm-model", .type = CLI_STR, .off = S(cfg.model), .arg = "M",
     .help = "the server's model (--model M is the old spelling, deprecated)", .unset = "none",
     .env = "USERSIM_LLM_MODEL"},
    {.name = "model", .type = CLI_STR, .off = S(cfg.model), .arg = "M", .help = "",
     .flags = CLI_HIDDEN, .alias = "llm-model"},
    {.name = "api-key", .type = CLI_STR, .off = S(cfg.api_key), .arg = "KEY",
     .help = "the server's key", .unset = "none", .env = "OPENAI_API_KEY"},
    {.name = "concurrency", .type = CLI_INT, .off = S(cfg.concurrency), .arg = "N",
     .help = "LLM requests in flight", .lo = 1, .hi = 1000000},
    {.name = "temperature", .type = CLI_DOUBLE, .off = S(cfg.temperature), .arg = "X",
     .help = "sampling temperature", .lo = 0, .hi = 2},
    {.name = "max-tokens", .type = CLI_INT, .off = S(cfg.max_tokens), .arg = "N",
     .help = "tokens per answer", .lo = 1, .hi = 1000000},
    {.name = "timeout", .type = CLI_DOUBLE, .off = S(cfg.timeout_s), .arg = "S",
     .help = "seconds per attempt", .lo = 0, .hi = 1e308, .flags = CLI_OPEN_LO},
    {.name = "retries", .type = CLI_INT, .off = S(cfg.max_retries), .arg = "N",
     .help = "transport retries per request", .hi = 1000000},
    {.name = "reviews-per-item", .type = CLI_INT, .off = S(cfg.reviews_per_item), .arg = "N",
     .help = "reviews sampled per item for the subjective pass", .lo = 1, .hi = 1000000},
    {.name = "review-chars", .type = CLI_INT, .off = S(cfg.review_chars), .arg = "N",
     .help = "each sampled review cut to N bytes", .lo = 1, .hi = 1000000},
    {.name = "seed", .type = CLI_U64, .off = S(cfg.seed), .arg = "N",
     .help = "picks the review sample", .hi = 18446744073709551615.0},
    {.name = "per-review", .type = CLI_FLAG, .off = S(cfg.batching),
     .set = US_EXTRACT_PER_REVIEW,
     .help = "subjective pass: one request per review (the paper) instead of one per\n"
             "item with a batch of its reviews"},
    {.name = "format", .type = CLI_CHOICE, .off = S(cfg.format), .arg = "F",
     .choices = k_formats,
     .help = "the answers asked for: lines (Pros 1: / Evidence: / Keywords:) or json"},
    {.name = "prompts", .type = CLI_STR, .off = S(cfg.prompts_dir), .arg = "DIR",
     .help = "prompt templates from DIR; each template's hash tags its results",
     .unset = "the built-in copies of simulator/keywords/prompts/", .env = "USERSIM_PROMPTS"},
    {.name = "limit", .type = CLI_U64, .off = S(cfg.limit), .arg = "K",
     .help = "only the first K items (0: all)", .hi = 18446744073709551615.0},
    {.name = "min-items", .type = CLI_INT, .off = S(cfg.min_items), .arg = "N",
     .help = "drop keywords on fewer than N items", .lo = 1, .hi = 1000000},
    {.name = "max-share", .type = CLI_DOUBLE, .off = S(cfg.max_item_share), .arg = "X",
     .help = "drop keywords on more than this share of the items", .lo = 0, .hi = 1,
     .flags = CLI_OPEN_LO},
    {.name = "max-per-side", .type = CLI_INT, .off = S(cfg.max_per_side), .arg = "N",
     .help = "keep at most N keywords per item and side", .lo = 1, .hi = 1000000},
    {.name = "report", .type = CLI_FLAG, .off = S(report), .set = 1, .flags = CLI_CMDLINE,
     .help = "print what the store holds and the request log per pass; extract nothing"},
    {.name = "quiet", .type = CLI_FLAG, .off = S(cfg.quiet), .set = 1, .help = "no progress bar"},
    {.name = "json", .type = CLI_FLAG, .off = S(json), .set = 1, .flags = CLI_CMDLINE,
     .help = "the report as JSON"},
    {0}};
#undef S

const cli_cmd cli_extract = {"extract", extract_opts, extract_init, extract_usage, extract_tail,
                             0};

int cmd_extract(int argc, char **argv) {
    extract_settings o;
    cli_parsed p;
    /* 1. the command line, 2. the environment, 3. the settings file, 4. the defaults: the
     * first that says something wins (cli_parse leaves a file's key to its variable). */
    int rc = cli_parse(&cli_extract, argc, argv, &o, &p);
    if (rc >= 0 || p.npos != 1)
        return rc >= 0 ? rc : cli_usage_error("extract", "%s", "expected one store path");
    us_extract_config cfg = o.cfg;
    const char *path = p.pos[0];
    static const char *const env_of[][2] = {{"llm", "USERSIM_LLM_URL"},
                                            {"llm-model", "USERSIM_LLM_MODEL"},
                                            {"api-key", "OPENAI_API_KEY"},
                                            {"prompts", "USERSIM_PROMPTS"}};
    const char **field[] = {&cfg.llm_url, &cfg.model, &cfg.api_key, &cfg.prompts_dir};
    for (int k = 0; k < 4; k++) {
        const char *v = getenv(env_of[k][1]);
        const int at = cli_opt_index(&cli_extract, env_of[k][0]);
        if (v && v[0] && p.where[at] != CLI_FROM_CMDLINE &&
            !(k == 1 && p.where[cli_opt_index(&cli_extract, "model")] == CLI_FROM_CMDLINE))
            *field[k] = v;
    }
    const int llm_given = p.where[cli_opt_index(&cli_extract, "llm")] == CLI_FROM_CMDLINE;
    const int builtin_at = cli_opt_index(&cli_extract, "builtin");
    int builtin = p.where[builtin_at] == CLI_FROM_CMDLINE ||
                  (p.where[builtin_at] == CLI_FROM_FILE && !llm_given);
    struct {
        int json, report, builtin, llm_given;
    } fl = {o.json, o.report, builtin, llm_given};
    rc = 0;
    us_err err;
    us_extract_report rep;
    if (fl.report) {
        if (us_extract_summary(path, &rep, &err) != US_OK) rc = cli_fail(&err);
        else if (fl.json) cli_print_json(report_json(&rep, 0));
        else print_report(&rep, 0);
        return rc;
    }
    if (fl.builtin && fl.llm_given)
        return cli_usage_error("extract", "%s", "--builtin and --llm: expected one of them");
    if (fl.builtin) cfg.llm_url = NULL;
    if (!cfg.llm_url || !cfg.llm_url[0]) cfg.api_key = NULL;
    if (fl.json) cfg.quiet = 1;
    if (us_extract(path, &cfg, &rep, &err) != US_OK) rc = cli_fail(&err);
    else if (fl.json) cli_print_json(report_json(&rep, 1));
    else print_report(&rep, 1);
    if (rc == 0 && rep.failed) {
        /* A stage with failed items is not done: say so, and how to finish it. */
        fflush(stdout);
        fprintf(stderr, "usersim extract: %llu item-passes failed (the first: %s); the "
                "keywords were built from the rest. Run the same command again to retry only "
                "the failed ones.\n", (unsigned long long)rep.failed, rep.first_error);
        rc = 1;
    }
    return rc;
}
