/* cmd_data.c — the dataset commands: synth, ingest, stats. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "datasets/datasets.h"

/* ---- synth ---- */

static const char synth_usage[] =
    "usage: usersim synth [--out DIR] [--users N] [--items N] [--reviews N] [--seed N]\n"
    "                     [--min-history N] [--max-history N] [--bias X]\n"
    "                     [--categories N] [--aspects N] [--noise X] [--drift X]\n"
    "                     [--choice-taste X] [--json]\n"
    "\n"
    "Writes synthetic data in the Amazon 2018 format, from a generative model with known truth:\n"
    "  DIR/Synthetic_5.json.gz     reviews (reviewerID, asin, overall, reviewText, summary, ...)\n"
    "  DIR/meta_Synthetic.json.gz  item metadata (asin, title, category, description, ...)\n"
    "  DIR/truth.csv               true like probability of every (user, item) pair written\n";

static const char synth_tail[] =
    "A MovieLens-100K-like shape (shape only; no real data): --users 943 --items 1682\n"
    "  --reviews 100000 --min-history 20 --max-history 700 --bias 0.05 (like rate 0.826,\n"
    "  histories 25..700, median 65; the figures in datasets/synth.c)\n"
    "Ingest the result with:\n"
    "  usersim ingest --format amazon --reviews DIR/Synthetic_5.json.gz \\\n"
    "                 --meta DIR/meta_Synthetic.json.gz --out synthetic.usdb\n";

typedef struct synth_settings {
    us_synth_config cfg;
    int json;
} synth_settings;

static void synth_init(void *s) {
    synth_settings *o = s;
    *o = (synth_settings){.cfg = us_synth_config_default()};
    o->cfg.out_dir = "synthetic";
}

#define S(f) offsetof(synth_settings, cfg.f)
#define U32MAX 4294967295.0
#define U64MAX 18446744073709551615.0
static const cli_opt synth_opts[] = {
    {.name = "out", .type = CLI_STR, .off = S(out_dir), .arg = "DIR", .help = "the folder written"},
    {.name = "users", .type = CLI_U32, .off = S(users), .arg = "N", .help = "users",
     .hi = U32MAX},
    {.name = "items", .type = CLI_U32, .off = S(items), .arg = "N", .help = "items",
     .hi = U32MAX},
    {.name = "reviews", .type = CLI_U64, .off = S(reviews), .arg = "N", .help = "reviews in all",
     .hi = U64MAX},
    {.name = "seed", .type = CLI_U64, .off = S(seed), .arg = "N", .help = "the generator's seed",
     .hi = U64MAX},
    {.name = "min-history", .type = CLI_U32, .off = S(min_history), .arg = "N",
     .help = "every user reviews at least N items (--reviews is raised to N per user when\n"
             "smaller)", .hi = U32MAX},
    {.name = "max-history", .type = CLI_U32, .off = S(max_history), .arg = "N",
     .help = "and at most N (0: --items; --reviews is lowered to N per user when larger);\n"
             "the lengths between are heavy-tailed (log-normal). Items are still topped up\n"
             "to 5 reviewers, from users below N", .hi = U32MAX},
    {.name = "bias", .type = CLI_DOUBLE, .off = S(bias), .arg = "X",
     .help = "mean user rating bias, -3..3 (0.35: about 90% likes, i.e. ratings >= 3); lower\n"
             "gives fewer likes", .lo = -1e308, .hi = 1e308},
    {.name = "categories", .type = CLI_U32, .off = S(categories), .arg = "N",
     .help = "item categories", .hi = U32MAX},
    {.name = "aspects", .type = CLI_U32, .off = S(aspects), .arg = "N",
     .help = "aspects items are liked or disliked for", .hi = U32MAX},
    {.name = "noise", .type = CLI_DOUBLE, .off = S(noise), .arg = "X",
     .help = "rating noise", .hi = 1e308},
    {.name = "drift", .type = CLI_DOUBLE, .off = S(drift), .arg = "X",
     .help = "taste drift over a history", .hi = 1e308},
    {.name = "choice-taste", .type = CLI_DOUBLE, .off = S(choice_taste), .arg = "X",
     .help = "how much category affinity drives the picks (0: popularity)", .hi = 1e308},
    {.name = "quiet", .type = CLI_FLAG, .off = S(quiet), .help = "no progress", .set = 1},
    {.name = "json", .type = CLI_FLAG, .off = offsetof(synth_settings, json),
     .help = "print the report as JSON", .set = 1, .flags = CLI_CMDLINE},
    {0}};
#undef S

const cli_cmd cli_synth = {"synth", synth_opts, synth_init, synth_usage, synth_tail, 0};

int cmd_synth(int argc, char **argv) {
    synth_settings o;
    cli_parsed p;
    int rc = cli_parse(&cli_synth, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    if (p.npos) return cli_usage_error("synth", "unexpected argument '%s'", p.pos[0]);
    us_synth_config cfg = o.cfg;
    const int json = o.json;
    if (json) cfg.quiet = 1;
    us_synth_report rep;
    us_err err;
    if (us_synth(&cfg, &rep, &err) != US_OK) return cli_fail(&err);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "users", rep.users);
        cJSON_AddNumberToObject(j, "items", rep.items);
        cJSON_AddNumberToObject(j, "reviews", (double)rep.reviews);
        cJSON_AddNumberToObject(j, "like_rate", rep.like_rate);
        cJSON_AddNumberToObject(j, "seconds", rep.seconds);
        cJSON_AddStringToObject(j, "reviews_path", rep.reviews_path);
        cJSON_AddStringToObject(j, "meta_path", rep.meta_path);
        cJSON_AddStringToObject(j, "truth_path", rep.truth_path);
        cli_print_json(j);
    } else {
        char a[32], b[32], d[32];
        printf("synth: %s users, %s items, %s reviews (like rate %.3f) in %.2f s\n",
               cli_group(rep.users, a), cli_group(rep.items, b), cli_group(rep.reviews, d), rep.like_rate,
               rep.seconds);
        printf("  %s\n  %s\n  %s\n", rep.reviews_path, rep.meta_path, rep.truth_path);
    }
    return 0;
}

/* ---- ingest ---- */

static const char ingest_usage[] =
    "usage: usersim ingest --format FORMAT --reviews PATH [--meta PATH] --out NAME.usdb\n"
    "                      [--like-threshold X] [--kcore K] [--state ST] [--strict] [--json]\n"
    "\n"
    "Reads a public dataset as published (plain or .gz) and writes one SQLite store.\n"
    "  --format amazon      reviews_<Category>_5.json.gz (2014) or <Category>_5.json.gz (2018);\n"
    "                       --meta meta_<Category>.json.gz (2014 dict literals or 2018 JSON)\n"
    "  --format amazon2023  <Category>.jsonl.gz; --meta meta_<Category>.jsonl.gz\n"
    "  --format yelp        yelp_academic_dataset_review.json;\n"
    "                       --meta yelp_academic_dataset_business.json\n"
    "  --format anime       rating.csv; --meta anime.csv\n"
    "  --format movielens   u.data / ratings.dat / ratings.csv;\n"
    "                       --meta u.item / movies.dat / movies.csv\n";

static const char ingest_tail[] =
    "The store is written beside NAME.usdb and renamed into place when complete; while another\n"
    "usersim writes NAME.usdb (lock file NAME.usdb.lock) the ingest is refused.\n";

static cJSON *ingest_json(const us_ingest_config *cfg, const us_ingest_report *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "store", cfg->out_path);
    cJSON_AddStringToObject(j, "format", us_format_name(cfg->format));
    cJSON_AddNumberToObject(j, "lines", (double)r->lines);
    cJSON_AddNumberToObject(j, "records", (double)r->records);
    cJSON_AddNumberToObject(j, "skipped", (double)r->skipped);
    cJSON_AddNumberToObject(j, "meta_skipped", (double)r->meta_skipped);
    cJSON_AddNumberToObject(j, "filtered", (double)r->filtered);
    cJSON_AddNumberToObject(j, "duplicates", (double)r->duplicates);
    cJSON_AddNumberToObject(j, "kcore_removed", (double)r->kcore_removed);
    cJSON_AddNumberToObject(j, "kcore_rounds", r->kcore_rounds);
    cJSON_AddNumberToObject(j, "meta_lines", (double)r->meta_lines);
    cJSON_AddNumberToObject(j, "meta_records", (double)r->meta_records);
    cJSON_AddNumberToObject(j, "meta_unused", (double)r->meta_unused);
    cJSON_AddNumberToObject(j, "users", r->users);
    cJSON_AddNumberToObject(j, "items", r->items);
    cJSON_AddNumberToObject(j, "items_with_meta", r->items_with_meta);
    cJSON_AddNumberToObject(j, "interactions", (double)r->interactions);
    cJSON_AddNumberToObject(j, "bytes_read", (double)r->bytes_read);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    cJSON *sk = cJSON_AddArrayToObject(j, "skips");
    for (int i = 0; i < r->nskip_kinds; i++) {
        const us_skip_count *k = &r->skips[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", k->role);
        cJSON_AddStringToObject(o, "reason", k->reason);
        cJSON_AddStringToObject(o, "field", k->field);
        cJSON_AddNumberToObject(o, "count", (double)k->count);
        cJSON_AddNumberToObject(o, "first_line", k->first_line);
        cJSON_AddStringToObject(o, "example", k->example);
        cJSON_AddItemToArray(sk, o);
    }
    return j;
}

typedef struct ingest_settings {
    us_ingest_config cfg;
    const char *format;
    int json;
} ingest_settings;

static void ingest_init(void *s) {
    *(ingest_settings *)s = (ingest_settings){.cfg = us_ingest_config_default()};
}

#define S(f) offsetof(ingest_settings, f)
static const cli_opt ingest_opts[] = {
    {.name = "format", .type = CLI_STR, .off = S(format), .arg = "FORMAT",
     .help = "amazon, amazon2023, yelp, anime or movielens (above)", .unset = "none: required"},
    {.name = "reviews", .type = CLI_STR, .off = S(cfg.reviews_path), .arg = "PATH",
     .help = "the reviews or ratings file", .unset = "none: required"},
    {.name = "meta", .type = CLI_STR, .off = S(cfg.meta_path), .arg = "PATH",
     .help = "the item metadata file", .unset = "none"},
    {.name = "out", .type = CLI_STR, .off = S(cfg.out_path), .arg = "NAME.usdb",
     .help = "the store written", .unset = "none: required"},
    {.name = "like-threshold", .type = CLI_DOUBLE, .off = S(cfg.like_threshold), .arg = "X",
     .help = "label = rating >= X", .lo = -1e308, .hi = 1e308,
     .unset = "3 on 1-5 scales, 6 for anime's 1-10"},
    {.name = "kcore", .type = CLI_INT, .off = S(cfg.kcore), .arg = "K",
     .help = "keep users and items with >= K interactions, iterated", .hi = 1000000},
    {.name = "state", .type = CLI_STR, .off = S(cfg.state), .arg = "ST",
     .help = "yelp: keep only businesses in state ST (e.g. MO)", .unset = "every state"},
    {.name = "strict", .type = CLI_FLAG, .off = S(cfg.strict), .set = 1,
     .help = "stop at the first bad line (default: skip and count by reason)"},
    {.name = "quiet", .type = CLI_FLAG, .off = S(cfg.quiet), .set = 1, .help = "no progress"},
    {.name = "json", .type = CLI_FLAG, .off = S(json), .set = 1, .flags = CLI_CMDLINE,
     .help = "print the report as JSON"},
    {0}};
#undef S

const cli_cmd cli_ingest = {"ingest", ingest_opts, ingest_init, ingest_usage, ingest_tail, 0};

int cmd_ingest(int argc, char **argv) {
    ingest_settings o;
    cli_parsed p;
    int rc = cli_parse(&cli_ingest, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    if (p.npos) return cli_usage_error("ingest", "unexpected argument '%s'", p.pos[0]);
    us_ingest_config cfg = o.cfg;
    const char *format = o.format;
    const int json = o.json;
    us_err err;
    if (!format) return cli_usage_error("ingest", "%s", "--format is required");
    if (us_format_parse(format, &cfg.format, &err) != US_OK) return cli_fail(&err);
    if (!cfg.reviews_path) return cli_usage_error("ingest", "%s", "--reviews is required");
    if (!cfg.out_path) return cli_usage_error("ingest", "%s", "--out is required");
    if (json) cfg.quiet = 1;
    us_ingest_report rep;
    if (us_ingest(&cfg, &rep, &err) != US_OK) return cli_fail(&err);
    if (json) {
        cli_print_json(ingest_json(&cfg, &rep));
        return 0;
    }
    char a[32], b[32], d[32], e[32];
    printf("ingest: %s lines, %s records, %s skipped, %s duplicates",
           cli_group(rep.lines, a), cli_group(rep.records, b),
           cli_group(rep.skipped - rep.meta_skipped, d),
           cli_group(rep.duplicates, e));
    if (cfg.state) printf(", %s outside %s", cli_group(rep.filtered, a), cfg.state);
    if (cfg.kcore > 1)
        printf(", %s removed by %d-core (%u rounds)", cli_group(rep.kcore_removed, a), cfg.kcore,
               rep.kcore_rounds);
    printf("\n");
    if (cfg.meta_path)
        printf("ingest: metadata %s lines, %s skipped, %s items described, %s not in the "
               "reviews\n",
               cli_group(rep.meta_lines, a), cli_group(rep.meta_skipped, e),
               cli_group(rep.items_with_meta, b), cli_group(rep.meta_unused, d));
    for (int i = 0; i < rep.nskip_kinds; i++) {
        const us_skip_count *k = &rep.skips[i];
        printf("  skipped %s %s line(s): %s%s%s (first at line %ld: %s)\n", cli_group(k->count, a),
               k->role, k->reason, k->field[0] ? " " : "", k->field, k->first_line, k->example);
    }
    double mb = (double)rep.bytes_read / 1e6;
    printf("ingest: wrote %s: %s users, %s items, %s interactions in %.2f s (%.1f MB/s)\n",
           cfg.out_path, cli_group(rep.users, a), cli_group(rep.items, b), cli_group(rep.interactions, d),
           rep.seconds, rep.seconds > 0 ? mb / rep.seconds : 0.0);
    return 0;
}

/* ---- stats ---- */

static const char stats_usage[] =
    "usage: usersim stats NAME.usdb [--json]\n"
    "\n"
    "Prints the store's statistics as the papers report them: users, items, interactions,\n"
    "density, like ratio, history length, split sizes, review text and metadata coverage.\n";

static const char *date_of(int64_t ts, char *buf, size_t n) {
    time_t t = (time_t)ts;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) return "?";
    strftime(buf, n, "%Y-%m-%d", &tm);
    return buf;
}

typedef struct stats_settings {
    int json;
} stats_settings;

static void stats_init(void *s) { *(stats_settings *)s = (stats_settings){0}; }

static const cli_opt stats_opts[] = {
    {.name = "json", .type = CLI_FLAG, .off = offsetof(stats_settings, json), .set = 1,
     .flags = CLI_CMDLINE, .help = "print the statistics as JSON"},
    {0}};

const cli_cmd cli_stats = {"stats", stats_opts, stats_init, stats_usage, NULL, 0};

int cmd_stats(int argc, char **argv) {
    stats_settings o;
    cli_parsed p;
    int rc = cli_parse(&cli_stats, argc, argv, &o, &p);
    if (rc >= 0) return rc;
    if (p.npos != 1) return cli_usage_error("stats", "%s", "expected one store path");
    const int json = o.json;
    const char *path = p.pos[0];
    us_store_stats s;
    us_err err;
    if (us_store_stats_read(path, &s, &err) != US_OK) return cli_fail(&err);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "store", path);
        cJSON_AddStringToObject(j, "format", s.format);
        cJSON_AddNumberToObject(j, "schema", s.schema);
        cJSON_AddNumberToObject(j, "users", (double)s.users);
        cJSON_AddNumberToObject(j, "items", (double)s.items);
        cJSON_AddNumberToObject(j, "interactions", (double)s.interactions);
        cJSON_AddNumberToObject(j, "density", s.density);
        cJSON_AddNumberToObject(j, "labeled", (double)s.labeled);
        cJSON_AddNumberToObject(j, "likes", (double)s.likes);
        cJSON_AddNumberToObject(j, "like_ratio", s.like_ratio);
        cJSON_AddNumberToObject(j, "mean_history", s.mean_history);
        cJSON_AddNumberToObject(j, "median_history", s.median_history);
        cJSON_AddNumberToObject(j, "train", (double)s.train);
        cJSON_AddNumberToObject(j, "valid", (double)s.valid);
        cJSON_AddNumberToObject(j, "test", (double)s.test);
        cJSON_AddNumberToObject(j, "with_text", (double)s.with_text);
        cJSON_AddNumberToObject(j, "text_share", s.text_share);
        cJSON_AddNumberToObject(j, "items_with_meta", (double)s.items_with_meta);
        cJSON_AddNumberToObject(j, "meta_share", s.meta_share);
        cJSON_AddNumberToObject(j, "first_ts", (double)s.first_ts);
        cJSON_AddNumberToObject(j, "last_ts", (double)s.last_ts);
        cli_print_json(j);
        return 0;
    }
    char a[32], b[32], d[32];
    printf("store           %s (%s, schema %d)\n", path, s.format, s.schema);
    printf("users           %s\n", cli_group(s.users, a));
    printf("items           %s\n", cli_group(s.items, a));
    printf("interactions    %s\n", cli_group(s.interactions, a));
    printf("density         %.4f%%\n", 100 * s.density);
    printf("like ratio      %.3f (%s likes of %s labeled)\n", s.like_ratio, cli_group(s.likes, a),
           cli_group(s.labeled, b));
    printf("history length  mean %.1f, median %.1f\n", s.mean_history, s.median_history);
    printf("split           train %s, valid %s, test %s\n", cli_group(s.train, a),
           cli_group(s.valid, b), cli_group(s.test, d));
    printf("review text     %.1f%% of interactions\n", 100 * s.text_share);
    printf("item metadata   %.1f%% of items (%s)\n", 100 * s.meta_share,
           cli_group(s.items_with_meta, a));
    if (s.first_ts || s.last_ts)
        printf("time span       %s to %s\n", date_of(s.first_ts, a, sizeof a),
               date_of(s.last_ts, b, sizeof b));
    else
        printf("time span       none (the dataset has no timestamps; file order is used)\n");
    return 0;
}
