/* cmd_extract.c — extract: item like/dislike keywords into the store (built-in or an LLM), and
 * --report, the summary of what the stage did and what its requests cost. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "simulator/simulator.h"

static const char extract_help[] =
    "usage: usersim extract NAME.usdb [--builtin | --llm URL --model M] [--concurrency N]\n"
    "                       [--limit K] [--per-review] [--format lines|json] [--prompts DIR]\n"
    "                       [--min-items N] [--max-share X] [--max-per-side N] [--report]\n"
    "                       [--quiet] [--json]\n"
    "\n"
    "For every item: a category, pros keywords (reasons to like it) and cons keywords (reasons\n"
    "to dislike it), from an objective pass over its metadata and a subjective pass over its\n"
    "reviews, into the tables keyword, item_keyword and item_profile.\n"
    "  (default)        the built-in extractor: no network, deterministic; or the LLM named\n"
    "                   by USERSIM_LLM_URL when that is set (--builtin ignores it)\n"
    "  --llm URL        an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (the model\n"
    "                   from --model or USERSIM_LLM_MODEL, the key from OPENAI_API_KEY)\n"
    "  --concurrency N  LLM requests in flight (default 4)\n"
    "  --limit K        only the first K items\n"
    "  --per-review     subjective pass: one request per review (the paper) instead of one per\n"
    "                   item with a batch of its reviews\n"
    "  --format F       the answers asked for: lines (Pros 1: / Evidence: / Keywords:) or json\n"
    "  --prompts DIR    prompt templates from DIR (default: USERSIM_PROMPTS, else the built-in\n"
    "                   copies of simulator/prompts/); each template's hash tags its results\n"
    "  --min-items N    drop keywords on fewer than N items (default 2)\n"
    "  --max-share X    drop keywords on more than this share of the items (default 0.5)\n"
    "  --max-per-side N keep at most N keywords per item and side (default 10)\n"
    "  --report         print what the store holds and the request log per pass; extract nothing\n"
    "Results are cached per (item, pass, prompt version, model): a re-run does only what is\n"
    "missing, and an interrupted run (even kill -9) is finished by running it again.\n";

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

int cmd_extract(int argc, char **argv) {
    us_extract_config cfg = us_extract_config_default();
    int json = 0, report = 0, builtin = 0;
    static const struct option opts[] = {
        {"llm", 1, 0, 'u'},          {"model", 1, 0, 'm'},        {"concurrency", 1, 0, 'c'},
        {"limit", 1, 0, 'l'},        {"per-review", 0, 0, 'r'},   {"format", 1, 0, 'f'},
        {"prompts", 1, 0, 'p'},      {"min-items", 1, 0, 'i'},    {"max-share", 1, 0, 's'},
        {"max-per-side", 1, 0, 'k'}, {"report", 0, 0, 'R'},       {"quiet", 0, 0, 'q'},
        {"json", 0, 0, 'j'},         {"builtin", 0, 0, 'b'},      {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        uint64_t v = 0;
        char *end;
        switch (c) {
        case 'u': cfg.llm_url = optarg; break;
        case 'm': cfg.model = optarg; break;
        case 'c':
        case 'l':
        case 'i':
        case 'k':
            if (cli_parse_u64(optarg, &v) != 0 || (c != 'l' && (v < 1 || v > 1024)))
                return cli_usage_error("extract", "expected a whole number (1 to 1024 except "
                                       "--limit), found '%s'", optarg);
            if (c == 'c') cfg.concurrency = (int)v;
            if (c == 'l') cfg.limit = v;
            if (c == 'i') cfg.min_items = (int)v;
            if (c == 'k') cfg.max_per_side = (int)v;
            break;
        case 'r': cfg.batching = US_EXTRACT_PER_REVIEW; break;
        case 'f':
            if (!strcmp(optarg, "lines")) cfg.format = US_EXTRACT_LINES;
            else if (!strcmp(optarg, "json")) cfg.format = US_EXTRACT_JSON;
            else return cli_usage_error("extract", "--format: expected lines or json, found "
                                        "'%s'", optarg);
            break;
        case 'p': cfg.prompts_dir = optarg; break;
        case 's':
            cfg.max_item_share = strtod(optarg, &end);
            if (end == optarg || *end || !(cfg.max_item_share > 0 && cfg.max_item_share <= 1))
                return cli_usage_error("extract", "--max-share: expected a share in (0, 1], "
                                       "found '%s'", optarg);
            break;
        case 'R': report = 1; break;
        case 'b': builtin = 1; break;
        case 'q': cfg.quiet = 1; break;
        case 'j': json = 1; break;
        case 'h': fputs(extract_help, stdout); return 0;
        default: return cli_usage_error("extract", "%s", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("extract", "%s", "expected one store path");
    const char *path = argv[optind];
    us_err err;
    us_extract_report rep;
    if (report) {
        if (us_extract_summary(path, &rep, &err) != US_OK) return cli_fail(&err);
        if (json) cli_print_json(report_json(&rep, 0));
        else print_report(&rep, 0);
        return 0;
    }
    if (builtin && cfg.llm_url)
        return cli_usage_error("extract", "%s", "--builtin and --llm: expected one of them");
    if (!builtin && !cfg.llm_url) {
        const char *u = getenv("USERSIM_LLM_URL");
        if (u && u[0]) cfg.llm_url = u;
    }
    if (cfg.llm_url && (!cfg.model || !cfg.model[0])) cfg.model = getenv("USERSIM_LLM_MODEL");
    if (cfg.llm_url) cfg.api_key = getenv("OPENAI_API_KEY");
    if (!cfg.prompts_dir) {
        const char *d = getenv("USERSIM_PROMPTS");
        if (d && d[0]) cfg.prompts_dir = d;
    }
    if (json) cfg.quiet = 1;
    if (us_extract(path, &cfg, &rep, &err) != US_OK) return cli_fail(&err);
    if (json) cli_print_json(report_json(&rep, 1));
    else print_report(&rep, 1);
    return 0;
}
