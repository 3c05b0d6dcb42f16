/* cmd_extract.c — extract: item like/dislike keywords into the store (built-in or an LLM), and
 * --report, the summary of what the stage did and what its requests cost. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "simulator/keywords/keywords.h"

static const char extract_help[] =
    "usage: usersim extract NAME.usdb [--builtin | --llm URL --llm-model M] [options]\n"
    "\n"
    "For every item: a category, pros keywords (reasons to like it) and cons keywords (reasons\n"
    "to dislike it), from an objective pass over its metadata and a subjective pass over its\n"
    "reviews, into the tables keyword, item_keyword and item_profile.\n"
    "  (default)        the built-in extractor: no network, deterministic; or the LLM named\n"
    "                   by USERSIM_LLM_URL or the config file when either says one\n"
    "  --builtin        the built-in extractor, whatever the environment or file say\n"
    "  --llm URL        an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (the model\n"
    "                   from --llm-model or USERSIM_LLM_MODEL, the key from OPENAI_API_KEY;\n"
    "                   --model M is the old spelling of --llm-model, deprecated)\n"
    "  --concurrency N  LLM requests in flight (default 4)\n"
    "  --temperature X  sampling temperature, 0 to 2 (default 0)\n"
    "  --max-tokens N   tokens per answer (default 512)\n"
    "  --timeout S      seconds per attempt (default 60); --retries N transport retries (4)\n"
    "  --reviews-per-item N, --review-chars N\n"
    "                   reviews sampled per item for the subjective pass (default 20), each\n"
    "                   cut to N bytes (default 600); --seed N picks the sample (default 1)\n"
    "  --per-review     subjective pass: one request per review (the paper) instead of one per\n"
    "                   item with a batch of its reviews\n"
    "  --format F       the answers asked for: lines (Pros 1: / Evidence: / Keywords:) or json\n"
    "  --prompts DIR    prompt templates from DIR (default: USERSIM_PROMPTS, else the built-in\n"
    "                   copies of simulator/keywords/prompts/); each template's hash tags its\n"
    "                   results\n"
    "  --limit K        only the first K items\n"
    "  --min-items N    drop keywords on fewer than N items (default 2)\n"
    "  --max-share X    drop keywords on more than this share of the items (default 0.25)\n"
    "  --max-per-side N keep at most N keywords per item and side (default 10)\n"
    "  --config FILE    settings from FILE (default: USERSIM_CONFIG): 'key = value' lines whose\n"
    "                   keys are these options' long names (llm, llm-model, api-key, concurrency,\n"
    "                   ...; a flag takes true or false), '#' comments, an optional [extract]\n"
    "                   section. The command line wins over the environment, which wins over\n"
    "                   the file.\n"
    "  --report         print what the store holds and the request log per pass; extract nothing\n"
    "  --quiet, --json  no progress bar; the report as JSON\n"
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

/* The options that set the configuration, for the command line and the config file alike
 * (a file's key is the option's long name). */
static const struct option k_opts[] = {
    {"llm", 1, 0, 'u'},         {"llm-model", 1, 0, 'm'},      {"model", 1, 0, 'o'},
    {"concurrency", 1, 0, 'c'},
    {"limit", 1, 0, 'l'},       {"per-review", 0, 0, 'r'},     {"format", 1, 0, 'f'},
    {"prompts", 1, 0, 'p'},     {"min-items", 1, 0, 'i'},      {"max-share", 1, 0, 's'},
    {"max-per-side", 1, 0, 'k'}, {"temperature", 1, 0, 'T'},   {"max-tokens", 1, 0, 'M'},
    {"timeout", 1, 0, 't'},     {"retries", 1, 0, 'y'},        {"reviews-per-item", 1, 0, 'n'},
    {"review-chars", 1, 0, 'C'}, {"seed", 1, 0, 'S'},          {"quiet", 0, 0, 'q'},
    {"builtin", 0, 0, 'b'},     {"api-key", 1, 0, 'K'},        {"report", 0, 0, 'R'},
    {"json", 0, 0, 'j'},        {"config", 1, 0, 'F'},         {"help", 0, 0, 'h'},
    {0, 0, 0, 0}};

typedef struct {
    int json, report, builtin, llm_given;
    const char *config;
} flags;

/* Applies option c with its argument to cfg; on a bad value writes why and returns -1. */
static int set_option(us_extract_config *cfg, flags *fl, int c, const char *arg, char *why,
                      size_t cap) {
    uint64_t v = 0;
    char *end;
    double x;
    switch (c) {
    case 'u': cfg->llm_url = arg; fl->llm_given = 1; return 0;
    case 'm':
    case 'o': cfg->model = arg; return 0; /* 'o': --model, the old spelling of --llm-model */
    case 'K': cfg->api_key = arg; return 0;
    case 'p': cfg->prompts_dir = arg; return 0;
    case 'r': cfg->batching = US_EXTRACT_PER_REVIEW; return 0;
    case 'q': cfg->quiet = 1; return 0;
    case 'b': fl->builtin = 1; return 0;
    case 'R': fl->report = 1; return 0;
    case 'j': fl->json = 1; return 0;
    case 'F': fl->config = arg; return 0;
    case 'f':
        if (!strcmp(arg, "lines")) cfg->format = US_EXTRACT_LINES;
        else if (!strcmp(arg, "json")) cfg->format = US_EXTRACT_JSON;
        else return snprintf(why, cap, "expected lines or json, found '%s'", arg), -1;
        return 0;
    case 's':
    case 'T':
    case 't':
        x = strtod(arg, &end);
        if (end == arg || *end || !isfinite(x) ||
            (c == 's' ? !(x > 0 && x <= 1) : c == 'T' ? !(x >= 0 && x <= 2) : !(x > 0)))
            return snprintf(why, cap, "expected %s, found '%s'",
                            c == 's' ? "a share in (0, 1]" : c == 'T' ? "a number in [0, 2]"
                                                                      : "seconds above 0",
                            arg), -1;
        if (c == 's') cfg->max_item_share = x;
        if (c == 'T') cfg->temperature = x;
        if (c == 't') cfg->timeout_s = x;
        return 0;
    case 'l':
    case 'S':
        if (cli_parse_u64(arg, &v) != 0)
            return snprintf(why, cap, "expected a whole number, found '%s'", arg), -1;
        if (c == 'l') cfg->limit = v;
        else cfg->seed = v;
        return 0;
    default: /* c, i, k, M, y, n, C: bounded whole numbers */
        if (cli_parse_u64(arg, &v) != 0 || v > 1000000 || (c != 'y' && v < 1))
            return snprintf(why, cap, "expected a whole number%s, found '%s'",
                            c == 'y' ? "" : " from 1", arg), -1;
        if (c == 'c') cfg->concurrency = (int)v;
        if (c == 'i') cfg->min_items = (int)v;
        if (c == 'k') cfg->max_per_side = (int)v;
        if (c == 'M') cfg->max_tokens = (int)v;
        if (c == 'y') cfg->max_retries = (int)v;
        if (c == 'n') cfg->reviews_per_item = (int)v;
        if (c == 'C') cfg->review_chars = (int)v;
        return 0;
    }
}

/* The config file: `key = value` lines (a key is an option's long name; a flag takes true or
 * false), '#' comments, and optional [sections] of which only [extract] is read (keys before
 * the first section apply too). Values are kept in *text (caller frees). 0, or 1 after printing
 * "FILE:LINE: KEY: why". */
static int parse_config(const char *path, char *buf, us_extract_config *cfg, flags *fl);

static int load_config(const char *path, us_extract_config *cfg, flags *fl, char **text) {
    us_err err;
    char *buf;
    if (us_read_file(path, 1 << 20, &buf, NULL, &err) != US_OK) return cli_fail(&err);
    *text = buf;
    return parse_config(path, buf, cfg, fl);
}

/* The lines of buf (NUL-terminated, cut up in place; values point into it), read as the file
 * path. */
static int parse_config(const char *path, char *buf, us_extract_config *cfg, flags *fl) {
    us_err err;
    int in_section = 1, line = 0;
    for (char *p = buf, *next; p; p = next) {
        line++;
        next = strchr(p, '\n');
        if (next) *next++ = '\0';
        char *hash = strchr(p, '#');
        if (hash) *hash = '\0';
        while (*p == ' ' || *p == '\t') p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) *--e = '\0';
        if (!*p) continue;
        if (*p == '[') {
            in_section = !strcmp(p, "[extract]");
            continue;
        }
        if (!in_section) continue;
        char *eq = strchr(p, '=');
        char why[160] = "";
        char *key = p, *val = eq ? eq + 1 : NULL;
        if (eq) {
            *eq = '\0';
            for (char *k = eq; k > key && (k[-1] == ' ' || k[-1] == '\t');) *--k = '\0';
            while (*val == ' ' || *val == '\t') val++;
        }
        const struct option *o = k_opts;
        while (o->name && strcmp(o->name, key)) o++;
        if (!eq) {
            snprintf(why, sizeof why, "expected 'key = value'");
        } else if (!o->name || o->val == 'R' || o->val == 'j' || o->val == 'F' || o->val == 'h') {
            snprintf(why, sizeof why, "not a setting of usersim extract");
        } else if (!o->has_arg) {
            if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes"))
                set_option(cfg, fl, o->val, NULL, why, sizeof why);
            else if (strcmp(val, "false") && strcmp(val, "0") && strcmp(val, "no"))
                snprintf(why, sizeof why, "expected true or false, found '%s'", val);
        } else {
            set_option(cfg, fl, o->val, val, why, sizeof why);
        }
        if (why[0]) {
            us_err_set(&err, US_EINVAL, path, line, key, "%s", why);
            return cli_fail(&err);
        }
    }
    return 0;
}

int cmd_extract(int argc, char **argv) {
    us_extract_config cfg = us_extract_config_default();
    flags fl = {0}, file_fl = {0};
    char why[160];
    int c;
    /* 1. The command line, 2. the environment, 3. the config file (--config, else
     * USERSIM_CONFIG), 4. the defaults: the first that says something wins. So the file is
     * read first, then the environment, then the command line is applied again on top. */
    us_extract_config cli_cfg = cfg;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", k_opts, NULL)) != -1) {
        if (c == 'h') return fputs(extract_help, stdout), 0;
        if (c == '?') return cli_usage_error("extract", "%s", "unknown option");
        if (c == 'o') cli_deprecated("extract", "--model", "--llm-model");
        if (set_option(&cli_cfg, &fl, c, optarg, why, sizeof why) != 0)
            return cli_usage_error("extract", "%s", why);
    }
    if (optind != argc - 1) return cli_usage_error("extract", "%s", "expected one store path");
    const char *path = argv[optind];
    char *text = NULL;
    const char *conf = fl.config ? fl.config : getenv("USERSIM_CONFIG");
    if (conf && conf[0] && load_config(conf, &cfg, &file_fl, &text) != 0) {
        free(text);
        return 1;
    }
    const char *u = getenv("USERSIM_LLM_URL"), *mdl = getenv("USERSIM_LLM_MODEL"),
               *key = getenv("OPENAI_API_KEY");
    if (u && u[0]) cfg.llm_url = u;
    if (mdl && mdl[0]) cfg.model = mdl;
    if (key && key[0]) cfg.api_key = key;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", k_opts, NULL)) != -1)
        set_option(&cfg, &fl, c, optarg, why, sizeof why);
    fl.builtin |= file_fl.builtin && !fl.llm_given;
    int rc = 0;
    us_err err;
    us_extract_report rep;
    if (fl.report) {
        if (us_extract_summary(path, &rep, &err) != US_OK) rc = cli_fail(&err);
        else if (fl.json) cli_print_json(report_json(&rep, 0));
        else print_report(&rep, 0);
        free(text);
        return rc;
    }
    if (fl.builtin && fl.llm_given) {
        free(text);
        return cli_usage_error("extract", "%s", "--builtin and --llm: expected one of them");
    }
    if (fl.builtin) cfg.llm_url = NULL;
    if (!cfg.llm_url || !cfg.llm_url[0]) cfg.api_key = NULL;
    if (!cfg.prompts_dir) {
        const char *d = getenv("USERSIM_PROMPTS");
        if (d && d[0]) cfg.prompts_dir = d;
    }
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
    free(text);
    return rc;
}
