/* Synthetic data generator: the three files in the Amazon 2018 format (every field, its type and
 * order), dates that agree, truth rows that match the reviews, the 5-core guarantees on both
 * sides, the files read back by the Amazon reader, byte-identical output for a seed, calibrated
 * and informative truth, text that follows the ratings, the history bounds and the bias (and
 * the MovieLens-100K-like recipe built from them), and config validation naming the field. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "datasets/internal.h"
#include "tests/cli.h"
#include "tests/test.h"

/* The whole decompressed content of a gzip (or plain) file, NUL-terminated; NULL on error.
 * Caller frees. */
static char *read_gz(const char *path, size_t *len) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n + 65536 + 1 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int k = gzread(gz, buf + n, 65536);
        if (k < 0) {
            free(buf);
            buf = NULL;
            break;
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    gzclose(gz);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Splits text in place at '\n' into lines (the last, empty piece after a final '\n' dropped).
 * Returns the count; *out is malloc'd. */
static size_t split_lines(char *text, char ***out) {
    size_t n = 0, cap = 1024;
    char **v = malloc(cap * sizeof *v);
    char *p = text;
    while (v && *p) {
        char *nl = strchr(p, '\n');
        if (n == cap) {
            cap *= 2;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) break;
            v = nv;
        }
        v[n++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    *out = v;
    return n;
}

static int files_equal(const char *a, const char *b) {
    size_t na, nb;
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    char ba[65536], bb[65536];
    while (eq) {
        na = fread(ba, 1, sizeof ba, fa);
        nb = fread(bb, 1, sizeof bb, fb);
        if (na != nb || memcmp(ba, bb, na) != 0) eq = 0;
        if (na == 0) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

static int is_id(const char *s, char first, size_t len) {
    if (strlen(s) != len || s[0] != first) return 0;
    for (size_t k = 1; k < len; k++)
        if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'A' && s[k] <= 'Z'))) return 0;
    return 1;
}

/* Object members must be exactly `names`, in that order. */
static int has_fields_in_order(const cJSON *obj, const char *const *names, int n) {
    const cJSON *c = obj ? obj->child : NULL;
    for (int k = 0; k < n; k++, c = c->next)
        if (!c || !c->string || strcmp(c->string, names[k]) != 0) return 0;
    return c == NULL;
}

static int all_strings(const cJSON *arr) {
    if (!cJSON_IsArray(arr)) return 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, arr) if (!cJSON_IsString(c)) return 0;
    return 1;
}

/* One review as read back. */
typedef struct rec {
    char user[16], item[12];
    int rating;
    long long ts;
    char text[1024];
} rec;

static int cmp_user_item(const void *a, const void *b) {
    const rec *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    return c ? c : strcmp(x->item, y->item);
}

static int cmp_item(const void *a, const void *b) {
    return strcmp(((const rec *)a)->item, ((const rec *)b)->item);
}

static us_synth_config small_config(const char *dir, uint64_t seed) {
    us_synth_config c = us_synth_config_default();
    c.out_dir = dir;
    c.users = 200;
    c.items = 120;
    c.reviews = 3000;
    c.seed = seed;
    c.quiet = 1;
    return c;
}

/* Reads the reviews file into recs (malloc'd), checking every line's fields, types and date
 * on the way; counts bad lines in *bad. Returns the number of lines, or -1. */
static long read_reviews(const char *path, rec **out, long *bad) {
    char *text = read_gz(path, NULL);
    if (!text) return -1;
    char **lines;
    size_t n = split_lines(text, &lines);
    rec *v = calloc(n ? n : 1, sizeof *v);
    static const char *const names[] = {"overall",      "verified",   "reviewTime",
                                        "reviewerID",   "asin",       "reviewerName",
                                        "reviewText",   "summary",    "unixReviewTime"};
    *bad = 0;
    for (size_t k = 0; k < n && v; k++) {
        cJSON *o = cJSON_Parse(lines[k]);
        int ok = o && has_fields_in_order(o, names, 9);
        const cJSON *ov = cJSON_GetObjectItemCaseSensitive(o, "overall");
        const cJSON *ve = cJSON_GetObjectItemCaseSensitive(o, "verified");
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(o, "reviewTime");
        const cJSON *ui = cJSON_GetObjectItemCaseSensitive(o, "reviewerID");
        const cJSON *as = cJSON_GetObjectItemCaseSensitive(o, "asin");
        const cJSON *rn = cJSON_GetObjectItemCaseSensitive(o, "reviewerName");
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(o, "reviewText");
        const cJSON *su = cJSON_GetObjectItemCaseSensitive(o, "summary");
        const cJSON *ut = cJSON_GetObjectItemCaseSensitive(o, "unixReviewTime");
        ok = ok && cJSON_IsNumber(ov) && cJSON_IsBool(ve) && cJSON_IsString(rt) &&
             cJSON_IsString(ui) && cJSON_IsString(as) && cJSON_IsString(rn) &&
             cJSON_IsString(tx) && cJSON_IsString(su) && cJSON_IsNumber(ut);
        /* Amazon writes the rating as a float ("5.0"), ids as A + 13 and B + 9 characters. */
        ok = ok && strncmp(lines[k], "{\"overall\": ", 12) == 0 && lines[k][13] == '.' &&
             lines[k][14] == '0';
        ok = ok && ov->valuedouble == floor(ov->valuedouble) && ov->valuedouble >= 1 &&
             ov->valuedouble <= 5;
        ok = ok && is_id(ui->valuestring, 'A', 14) && is_id(as->valuestring, 'B', 10);
        ok = ok && rn->valuestring[0] && tx->valuestring[0] && su->valuestring[0];
        if (ok) {
            /* reviewTime is unixReviewTime's UTC day as "MM D, YYYY", at midnight. */
            time_t t = (time_t)ut->valuedouble;
            struct tm tm;
            char want[32];
            gmtime_r(&t, &tm);
            snprintf(want, sizeof want, "%02d %d, %d", tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_year + 1900);
            ok = strcmp(want, rt->valuestring) == 0 && (long long)ut->valuedouble % 86400 == 0;
            ok = ok && tm.tm_year + 1900 >= 2010 && tm.tm_year + 1900 <= 2020;
        }
        if (ok) {
            snprintf(v[k].user, sizeof v[k].user, "%s", ui->valuestring);
            snprintf(v[k].item, sizeof v[k].item, "%s", as->valuestring);
            snprintf(v[k].text, sizeof v[k].text, "%s", tx->valuestring);
            v[k].rating = (int)ov->valuedouble;
            v[k].ts = (long long)ut->valuedouble;
        } else {
            (*bad)++;
        }
        cJSON_Delete(o);
    }
    free(lines);
    free(text);
    *out = v;
    return v ? (long)n : -1;
}

/* Sentences of a review text: every sentence ends in '.' or '!', and nothing else does. */
static int sentences(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '.' || *s == '!';
    return n;
}

TEST(synth_files_fields_and_truth) {
    us_synth_config cfg = small_config(us_test_tmpdir(), 7);
    us_synth_report rep;
    us_err err;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    CHECK_EQ_INT(rep.users, 200);
    CHECK_EQ_INT(rep.items, 120);
    CHECK(rep.reviews >= 3000 && rep.reviews < 3000 + 120 * 5);
    CHECK(strstr(rep.reviews_path, "/Synthetic_5.json.gz") != NULL);
    CHECK(strstr(rep.meta_path, "/meta_Synthetic.json.gz") != NULL);
    CHECK(strstr(rep.truth_path, "/truth.csv") != NULL);

    rec *v = NULL;
    long bad = 0, n = read_reviews(rep.reviews_path, &v, &bad);
    REQUIRE(n > 0 && v);
    CHECK_EQ_INT(n, rep.reviews);
    CHECK_EQ_INT(bad, 0);

    /* Text: 2-5 sentences; a user's reviews come in strictly increasing days. */
    long bad_text = 0, bad_order = 0;
    for (long k = 0; k < n; k++) {
        int ns = sentences(v[k].text);
        bad_text += ns < 2 || ns > 5;
        if (k > 0 && strcmp(v[k].user, v[k - 1].user) == 0) bad_order += v[k].ts <= v[k - 1].ts;
    }
    CHECK_EQ_INT(bad_text, 0);
    CHECK_EQ_INT(bad_order, 0);

    /* truth.csv: the header, then the same reviews in the same order with their ratings. */
    char *truth = read_gz(rep.truth_path, NULL);
    REQUIRE(truth);
    char **rows;
    size_t nrows = split_lines(truth, &rows);
    REQUIRE(nrows == (size_t)n + 1);
    CHECK_STR(rows[0], "user,item,p_like,rating,label");
    long mismatched = 0;
    for (long k = 0; k < n; k++) {
        char u[32], it[32];
        double p;
        int rating, label;
        if (sscanf(rows[k + 1], "%31[^,],%31[^,],%lf,%d,%d", u, it, &p, &rating, &label) != 5 ||
            strcmp(u, v[k].user) != 0 || strcmp(it, v[k].item) != 0 || rating != v[k].rating ||
            label != (rating >= 3) || !(p >= 0 && p <= 1))
            mismatched++;
    }
    CHECK_EQ_INT(mismatched, 0);
    free(rows);
    free(truth);

    /* No user reviews an item twice; every user has >= 5 reviews. */
    rec *s = malloc((size_t)n * sizeof *s);
    REQUIRE(s);
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_user_item);
    long dups = 0, short_users = 0, users = 0;
    for (long k = 0, run = 0; k < n; k++) {
        if (k > 0 && cmp_user_item(&s[k], &s[k - 1]) == 0) dups++;
        run = k > 0 && strcmp(s[k].user, s[k - 1].user) == 0 ? run + 1 : 1;
        if (k + 1 == n || strcmp(s[k].user, s[k + 1].user) != 0) {
            users++;
            short_users += run < 5;
        }
    }
    CHECK_EQ_INT(dups, 0);
    CHECK_EQ_INT(short_users, 0);
    CHECK_EQ_INT(users, 200);
    /* Every item has >= 5 reviews (the item side of the 5-core). */
    qsort(s, (size_t)n, sizeof *s, cmp_item);
    long short_items = 0, items = 0;
    for (long k = 0, run = 0; k < n; k++) {
        run = k > 0 && strcmp(s[k].item, s[k - 1].item) == 0 ? run + 1 : 1;
        if (k + 1 == n || strcmp(s[k].item, s[k + 1].item) != 0) {
            items++;
            short_items += run < 5;
        }
    }
    CHECK_EQ_INT(short_items, 0);
    CHECK_EQ_INT(items, 120);

    /* Metadata: one line per item with the Amazon 2018 fields, covering exactly the reviewed
     * asins. */
    char *meta = read_gz(rep.meta_path, NULL);
    REQUIRE(meta);
    char **mlines;
    size_t nm = split_lines(meta, &mlines);
    CHECK_EQ_INT(nm, 120);
    static const char *const mnames[] = {"category", "description", "title", "brand",
                                         "feature",  "main_cat",    "price", "asin"};
    long bad_meta = 0, unknown = 0;
    for (size_t k = 0; k < nm; k++) {
        cJSON *o = cJSON_Parse(mlines[k]);
        const cJSON *cat = cJSON_GetObjectItemCaseSensitive(o, "category");
        const cJSON *price = cJSON_GetObjectItemCaseSensitive(o, "price");
        const cJSON *asin = cJSON_GetObjectItemCaseSensitive(o, "asin");
        unsigned dollars, cents;
        char tail;
        int ok = o && has_fields_in_order(o, mnames, 8) && all_strings(cat) &&
                 cJSON_GetArraySize(cat) >= 2 &&
                 strcmp(cJSON_GetArrayItem(cat, 0)->valuestring, "Synthetic") == 0 &&
                 all_strings(cJSON_GetObjectItemCaseSensitive(o, "description")) &&
                 cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "title")) &&
                 cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "brand")) &&
                 all_strings(cJSON_GetObjectItemCaseSensitive(o, "feature")) &&
                 cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "main_cat")) &&
                 cJSON_IsString(price) &&
                 sscanf(price->valuestring, "$%u.%2u%c", &dollars, &cents, &tail) == 2 &&
                 cJSON_IsString(asin) && is_id(asin->valuestring, 'B', 10);
        if (ok) {
            rec key;
            snprintf(key.item, sizeof key.item, "%s", asin->valuestring);
            unknown += bsearch(&key, s, (size_t)n, sizeof *s, cmp_item) == NULL;
        }
        bad_meta += !ok;
        cJSON_Delete(o);
    }
    CHECK_EQ_INT(bad_meta, 0);
    CHECK_EQ_INT(unknown, 0);
    free(mlines);
    free(meta);
    free(s);
    free(v);
}

TEST(synth_read_by_amazon_reader) {
    us_synth_config cfg = small_config(us_test_tmpdir(), 9);
    us_synth_report rep;
    us_err err;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    rec *v = NULL;
    long bad = 0, n = read_reviews(rep.reviews_path, &v, &bad);
    REQUIRE(n > 0 && v);

    /* Every review line parses with the reader that real Amazon 2018 files go through, to the
     * same user, item, rating, time and text. */
    us_lines *l;
    us_reader rd;
    char *line;
    size_t len;
    us_skip why;
    CHECK_OK(us_lines_open(&l, rep.reviews_path, &err), err);
    us_reader_init(&rd, US_FORMAT_AMAZON, 0);
    long k = 0, failed = 0, differ = 0;
    while (us_lines_next(l, &line, &len, &err) == 1 && k < n) {
        us_review r;
        if (us_read_review(&rd, line, len, &r, &err, &why) != US_OK) {
            failed++;
        } else {
            differ += r.user_len != strlen(v[k].user) || memcmp(r.user, v[k].user, r.user_len) ||
                      r.item_len != strlen(v[k].item) || memcmp(r.item, v[k].item, r.item_len) ||
                      r.rating != v[k].rating || r.ts != v[k].ts || !r.text || !r.title ||
                      r.text_len != strlen(v[k].text);
        }
        k++;
    }
    CHECK_EQ_INT(k, n);
    CHECK_EQ_INT(failed, 0);
    CHECK_EQ_INT(differ, 0);
    us_reader_free(&rd);
    us_lines_close(l);

    /* Every metadata line parses too, with a title, a brand and the category path. */
    CHECK_OK(us_lines_open(&l, rep.meta_path, &err), err);
    us_reader_init(&rd, US_FORMAT_AMAZON, 1);
    long nm = 0, mfailed = 0, incomplete = 0;
    while (us_lines_next(l, &line, &len, &err) == 1) {
        us_meta m;
        nm++;
        if (us_read_meta(&rd, line, len, &m, &err, &why) != US_OK) {
            mfailed++;
            continue;
        }
        const cJSON *c0 = m.categories ? cJSON_GetArrayItem(m.categories, 0) : NULL;
        incomplete += !m.title || !m.brand || !m.description || !cJSON_IsString(c0) ||
                      strcmp(c0->valuestring, "Synthetic") != 0;
    }
    CHECK_EQ_INT(nm, 120);
    CHECK_EQ_INT(mfailed, 0);
    CHECK_EQ_INT(incomplete, 0);
    us_reader_free(&rd);
    us_lines_close(l);
    free(v);
}

TEST(synth_same_seed_same_bytes) {
    char a[1100], b[1100], c[1100];
    snprintf(a, sizeof a, "%s/a", us_test_tmpdir());
    snprintf(b, sizeof b, "%s/b", us_test_tmpdir());
    snprintf(c, sizeof c, "%s/c", us_test_tmpdir());
    us_synth_config ca = small_config(a, 7), cb = small_config(b, 7), cc = small_config(c, 8);
    us_synth_report ra, rb, rc;
    us_err err;
    CHECK_OK(us_synth(&ca, &ra, &err), err);
    CHECK_OK(us_synth(&cb, &rb, &err), err);
    CHECK_OK(us_synth(&cc, &rc, &err), err);
    CHECK(files_equal(ra.reviews_path, rb.reviews_path));
    CHECK(files_equal(ra.meta_path, rb.meta_path));
    CHECK(files_equal(ra.truth_path, rb.truth_path));
    CHECK(!files_equal(ra.reviews_path, rc.reviews_path));
    CHECK(!files_equal(ra.meta_path, rc.meta_path));
    CHECK(!files_equal(ra.truth_path, rc.truth_path));
    CHECK(ra.like_rate == rb.like_rate);
}

typedef struct pl {
    double p;
    int label;
} pl;

static int cmp_pl(const void *a, const void *b) {
    double x = ((const pl *)a)->p, y = ((const pl *)b)->p;
    return (x > y) - (x < y);
}

TEST(synth_truth_calibrated_and_informative) {
    us_synth_config cfg = small_config(us_test_tmpdir(), 11);
    cfg.users = 400;
    cfg.items = 200;
    cfg.reviews = 8000;
    us_synth_report rep;
    us_err err;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    char *truth = read_gz(rep.truth_path, NULL);
    REQUIRE(truth);
    char **rows;
    size_t nrows = split_lines(truth, &rows);
    REQUIRE(nrows > 1);
    size_t n = nrows - 1;
    pl *v = malloc(n * sizeof *v);
    REQUIRE(v);
    double sum_p = 0, likes = 0, hi_n = 0, hi_l = 0, lo_n = 0, lo_l = 0;
    for (size_t k = 0; k < n; k++) {
        const char *f = rows[k + 1];
        f = strchr(f, ',') + 1;
        f = strchr(f, ',') + 1;
        int rating, label;
        REQUIRE(sscanf(f, "%lf,%d,%d", &v[k].p, &rating, &label) == 3);
        v[k].label = label;
        sum_p += v[k].p;
        likes += label;
        if (v[k].p > 0.8) hi_n++, hi_l += label;
        if (v[k].p < 0.5) lo_n++, lo_l += label;
    }
    double rate = likes / (double)n;
    /* Like ratio as in Amazon data; the report agrees with the file. */
    CHECK(rate > 0.8 && rate < 0.92);
    CHECK_NEAR(rep.like_rate, rate, 1e-12);
    /* Calibration: p_like is the exact probability, so its mean is the like rate up to
     * sampling noise (sd ~ 0.004 here; fixed seed, so no flakiness). */
    CHECK_NEAR(sum_p / (double)n, rate, 0.03);
    /* Informative: confident rows are liked far more often than doubtful ones. */
    REQUIRE(hi_n > 100 && lo_n > 100);
    CHECK(hi_l / hi_n - lo_l / lo_n > 0.5);
    /* AUC of p_like for the labels (Mann-Whitney with tied ranks averaged): predictable but
     * noisy, 0.8-0.95. */
    qsort(v, n, sizeof *v, cmp_pl);
    double npos = 0, nneg = 0, rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].p == v[i].p) j++;
        double rank = (double)(i + j + 1) / 2.0; /* mean of ranks i+1 .. j */
        for (size_t k = i; k < j; k++) {
            if (v[k].label) {
                rank_sum += rank;
                npos++;
            } else {
                nneg++;
            }
        }
        i = j;
    }
    double auc = (rank_sum - npos * (npos + 1) / 2) / (npos * nneg);
    CHECK(auc > 0.8 && auc < 0.95);
    free(v);
    free(rows);
    free(truth);
}

/* How many of the negative markers of the dislike templates a text contains. */
static int negative_words(const char *t) {
    static const char *const words[] = {"Unfortunately", "complaint", "disappointing", "Sadly",
                                        "downside"};
    int n = 0;
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) n += strstr(t, words[k]) != NULL;
    return n;
}

TEST(synth_text_follows_rating) {
    us_synth_config cfg = small_config(us_test_tmpdir(), 3);
    us_synth_report rep;
    us_err err;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    rec *v = NULL;
    long bad = 0, n = read_reviews(rep.reviews_path, &v, &bad);
    REQUIRE(n > 0 && v);
    double lo_n = 0, lo_neg = 0, hi_n = 0, hi_neg = 0;
    for (long k = 0; k < n; k++) {
        int neg = negative_words(v[k].text) > 0;
        if (v[k].rating <= 2) lo_n++, lo_neg += neg;
        if (v[k].rating == 5) hi_n++, hi_neg += neg;
    }
    REQUIRE(lo_n > 30 && hi_n > 30);
    /* Disliked aspects are what lowers a rating, so low ratings voice them far more often. */
    CHECK(lo_neg / lo_n > hi_neg / hi_n + 0.2);
    free(v);
}

TEST(synth_small_populations_and_nested_dir) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/x/y/z/", us_test_tmpdir());
    us_synth_report rep;
    us_err err;
    /* reviews above users * items: every user reviews every item. */
    us_synth_config cfg = small_config(dir, 5);
    cfg.users = 6;
    cfg.items = 5;
    cfg.reviews = 1000;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    CHECK_EQ_INT(rep.reviews, 30);
    /* reviews below 5 per user: raised to 5 per user. 3 users: every item gets all 3. */
    cfg.users = 3;
    cfg.items = 8;
    cfg.reviews = 1;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    rec *v = NULL;
    long bad = 0, n = read_reviews(rep.reviews_path, &v, &bad);
    REQUIRE(n > 0 && v);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(n, 24); /* 15 chosen, then topped up to 3 reviewers on each of 8 items */
    free(v);
    /* Nothing but the three files is left in the folder. */
    struct stat sb;
    char p[1200];
    snprintf(p, sizeof p, "%sSynthetic_5.json.gz.tmp", dir);
    CHECK(stat(p, &sb) != 0);
    snprintf(p, sizeof p, "%struth.csv", dir);
    CHECK(stat(p, &sb) == 0);
}

TEST(synth_config_errors_name_the_field) {
    us_synth_report rep;
    us_err err;
    struct {
        const char *field;
        us_synth_config cfg;
    } cases[24];
    int nc = 0;
    for (int k = 0; k < 24; k++) cases[k].cfg = small_config(us_test_tmpdir(), 1);
    cases[nc].field = "out_dir", cases[nc++].cfg.out_dir = NULL;
    cases[nc].field = "out_dir", cases[nc++].cfg.out_dir = "";
    cases[nc].field = "users", cases[nc++].cfg.users = 0;
    cases[nc].field = "items", cases[nc++].cfg.items = 0;
    /* 4 items cannot give every user the default 5: the bound is min_history's, not a floor
     * of its own on items. */
    cases[nc].field = "min_history", cases[nc++].cfg.items = 4;
    cases[nc].field = "items", cases[nc++].cfg.items = 4000000000u;
    cases[nc].field = "reviews", cases[nc++].cfg.reviews = 2000000000ull;
    cases[nc].field = "categories", cases[nc++].cfg.categories = 0;
    cases[nc].field = "categories", cases[nc++].cfg.categories = 100000;
    cases[nc].field = "aspects", cases[nc++].cfg.aspects = 2;
    cases[nc].field = "noise", cases[nc++].cfg.noise = 0;
    cases[nc].field = "noise", cases[nc++].cfg.noise = NAN;
    cases[nc].field = "drift", cases[nc++].cfg.drift = -0.1;
    cases[nc].field = "min_history", cases[nc++].cfg.min_history = 0;
    cases[nc].field = "min_history", cases[nc++].cfg.min_history = 121; /* items is 120 */
    cases[nc].field = "max_history", cases[nc++].cfg.max_history = 121;
    cases[nc].field = "max_history", cases[nc++].cfg.max_history = 4; /* below min_history */
    cases[nc].field = "bias", cases[nc++].cfg.bias = 3.5;
    cases[nc].field = "bias", cases[nc++].cfg.bias = -4;
    cases[nc].field = "bias", cases[nc++].cfg.bias = NAN;
    cases[nc].field = "bias", cases[nc++].cfg.bias = INFINITY;
    /* reviews raised to min_history per user passes the total cap. */
    cases[nc].field = "reviews", cases[nc].cfg.users = 20000000, cases[nc].cfg.items = 100,
    cases[nc++].cfg.min_history = 100;
    REQUIRE(nc <= 24);
    for (int k = 0; k < nc; k++) {
        us_status st = us_synth(&cases[k].cfg, &rep, &err);
        CHECK_EQ_INT(st, US_EINVAL);
        CHECK_STR(err.field, cases[k].field);
    }
    CHECK_EQ_INT(us_synth(NULL, &rep, &err), US_EINVAL);
    /* An out_dir that is a file cannot be created. */
    us_synth_config cfg = small_config(us_test_write("plain", "x", -1), 1);
    CHECK_EQ_INT(us_synth(&cfg, &rep, &err), US_EIO);
    CHECK_STR(err.field, "out_dir");
}

/* The shortest and longest history among v's users; returns the number of users. Sorts v. */
static long history_range(rec *v, long n, long *lo, long *hi) {
    qsort(v, (size_t)n, sizeof *v, cmp_user_item);
    long users = 0;
    *lo = n;
    *hi = 0;
    for (long k = 0, run = 0; k < n; k++) {
        run = k > 0 && strcmp(v[k].user, v[k - 1].user) == 0 ? run + 1 : 1;
        if (k + 1 == n || strcmp(v[k].user, v[k + 1].user) != 0) {
            users++;
            if (run < *lo) *lo = run;
            if (run > *hi) *hi = run;
        }
    }
    return users;
}

/* Runs us_synth on cfg and reads its reviews back; the history range into lo, hi. Returns the
 * number of users, or -1 when either step failed. */
static long synth_range(const us_synth_config *cfg, us_synth_report *rep, long *lo, long *hi) {
    us_err err;
    if (us_synth(cfg, rep, &err) != US_OK) return -1;
    rec *v = NULL;
    long bad = 0, n = read_reviews(rep->reviews_path, &v, &bad);
    long users = n > 0 && bad == 0 && (uint64_t)n == rep->reviews ? history_range(v, n, lo, hi)
                                                                  : -1;
    free(v);
    return users;
}

TEST(synth_history_bounds_respected) {
    us_synth_report rep;
    long lo, hi;
    /* Uncapped, the heavy tail runs past 30 at this seed: the cap below has work to do. */
    us_synth_config cfg = small_config(us_test_tmpdir(), 7);
    cfg.min_history = 8;
    REQUIRE(synth_range(&cfg, &rep, &lo, &hi) == 200);
    CHECK(hi > 30);
    CHECK(lo >= 8);

    /* min 8, max 30: every user's count, top-ups included, within the bounds, the cap reached,
     * the total the 3000 asked for plus the item top-ups (at most 5 per item). */
    cfg.max_history = 30;
    REQUIRE(synth_range(&cfg, &rep, &lo, &hi) == 200);
    CHECK(lo >= 8);
    CHECK_EQ_INT(hi, 30);
    CHECK(rep.reviews >= 3000 && rep.reviews <= 3000 + 5 * 120);

    /* reviews below min_history per user: raised to 8 * 200, so there is no extra to share out
     * and a user no top-up reached has exactly 8. */
    cfg.reviews = 100;
    REQUIRE(synth_range(&cfg, &rep, &lo, &hi) == 200);
    CHECK_EQ_INT(lo, 8);
    CHECK(hi <= 30);
    CHECK(rep.reviews >= 8 * 200);

    /* reviews above max_history per user: lowered to 12 * 30, every user at the cap, so no
     * top-up can be placed and the total is exactly 360. */
    cfg = small_config(us_test_tmpdir(), 5);
    cfg.users = 30;
    cfg.items = 60;
    cfg.reviews = 100000;
    cfg.max_history = 12;
    REQUIRE(synth_range(&cfg, &rep, &lo, &hi) == 30);
    CHECK_EQ_INT(rep.reviews, 360);
    CHECK_EQ_INT(lo, 12);
    CHECK_EQ_INT(hi, 12);
}

static long find_str(char (*names)[16], long n, const char *s) {
    for (long k = 0; k < n; k++)
        if (strcmp(names[k], s) == 0) return k;
    return -1;
}

TEST(synth_topups_stop_at_max_history) {
    /* 100 items want 5 reviewers each (500) but 40 users of at most 12 can give only 480: some
     * items must stay short, and the top-ups must not push anyone past 12 to fill them. */
    us_synth_config cfg = small_config(us_test_tmpdir(), 13);
    cfg.users = 40;
    cfg.items = 100;
    cfg.reviews = 300;
    cfg.max_history = 12;
    us_synth_report rep;
    us_err err;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    rec *v = NULL;
    long bad = 0, n = read_reviews(rep.reviews_path, &v, &bad);
    REQUIRE(n > 0 && v && bad == 0);
    CHECK(rep.reviews > 300 && rep.reviews <= 480); /* some top-ups were placed */

    /* The user x item matrix of who reviewed what. */
    static char users[40][16], items[100][16];
    static unsigned char has[40][100];
    memset(has, 0, sizeof has);
    long nu = 0, ni = 0, count[40] = {0};
    for (long k = 0; k < n; k++) {
        long u = find_str(users, nu, v[k].user), i = find_str(items, ni, v[k].item);
        if (u < 0) {
            REQUIRE(nu < 40);
            snprintf(users[nu], sizeof users[nu], "%s", v[k].user);
            u = nu++;
        }
        if (i < 0) {
            REQUIRE(ni < 100);
            snprintf(items[ni], sizeof items[ni], "%s", v[k].item);
            i = ni++;
        }
        has[u][i] = 1;
        count[u]++;
    }
    CHECK_EQ_INT(nu, 40);
    long out_of_bounds = 0;
    for (long u = 0; u < nu; u++) out_of_bounds += count[u] < 5 || count[u] > 12;
    CHECK_EQ_INT(out_of_bounds, 0);
    /* An item with fewer than 5 reviewers (or never reviewed at all) is one that every user
     * who has not reviewed it can no longer take: they are all at 12. */
    long short_items = 100 - ni, wrongly_short = 0;
    for (long i = 0; i < ni; i++) {
        long reviewers = 0, with_room = 0;
        for (long u = 0; u < nu; u++) {
            reviewers += has[u][i];
            with_room += !has[u][i] && count[u] < 12;
        }
        if (reviewers < 5) {
            short_items++;
            wrongly_short += with_room > 0;
        }
    }
    CHECK(short_items > 0);
    CHECK_EQ_INT(wrongly_short, 0);
    free(v);
}

TEST(synth_defaults_spelled_out_same_bytes) {
    /* min_history 5, max_history = items and bias 0.35 written out are the defaults: the same
     * bytes as leaving them alone. */
    char a[1100], b[1100];
    snprintf(a, sizeof a, "%s/a", us_test_tmpdir());
    snprintf(b, sizeof b, "%s/b", us_test_tmpdir());
    us_synth_config ca = small_config(a, 7), cb = small_config(b, 7);
    CHECK_EQ_INT(ca.min_history, 5);
    CHECK_EQ_INT(ca.max_history, 0);
    CHECK(ca.bias == 0.35);
    cb.min_history = 5;
    cb.max_history = cb.items;
    cb.bias = 0.35;
    us_synth_report ra, rb;
    us_err err;
    CHECK_OK(us_synth(&ca, &ra, &err), err);
    CHECK_OK(us_synth(&cb, &rb, &err), err);
    CHECK(files_equal(ra.reviews_path, rb.reviews_path));
    CHECK(files_equal(ra.meta_path, rb.meta_path));
    CHECK(files_equal(ra.truth_path, rb.truth_path));
    CHECK(files_equal(ra.aspects_path, rb.aspects_path));
}

/* truth.csv with each row cut after its second field (user,item), so that two runs can be
 * compared on who reviewed what alone. Caller frees. */
static char *truth_pairs(const char *path) {
    char *t = read_gz(path, NULL);
    if (!t) return NULL;
    char *w = t;
    for (const char *r = t; *r;) {
        const char *c1 = strchr(r, ','), *nl = strchr(r, '\n');
        if (!nl) nl = r + strlen(r);
        const char *c2 = c1 && c1 < nl ? strchr(c1 + 1, ',') : NULL;
        const char *cut = c2 && c2 < nl ? c2 : nl;
        memmove(w, r, (size_t)(cut - r));
        w += cut - r;
        *w++ = '\n';
        r = *nl ? nl + 1 : nl;
    }
    *w = '\0';
    return t;
}

TEST(synth_bias_moves_like_rate) {
    const double bias[3] = {-0.5, 0.35, 1.0};
    double rate[3];
    char dirs[3][1100], *pairs[3];
    for (int k = 0; k < 3; k++) {
        snprintf(dirs[k], sizeof dirs[k], "%s/b%d", us_test_tmpdir(), k);
        us_synth_config cfg = small_config(dirs[k], 11);
        cfg.users = 400;
        cfg.items = 200;
        cfg.reviews = 8000;
        cfg.bias = bias[k];
        us_synth_report rep;
        us_err err;
        CHECK_OK(us_synth(&cfg, &rep, &err), err);
        rate[k] = rep.like_rate;
        pairs[k] = truth_pairs(rep.truth_path);
        REQUIRE(pairs[k]);
    }
    /* A lower mean bias, fewer likes: each step of 0.65-0.85 in the bias moves the rate by
     * well over 0.05 at these sizes (sampling sd about 0.004). */
    CHECK(rate[0] < rate[1] - 0.05);
    CHECK(rate[1] < rate[2] - 0.05);
    CHECK(rate[0] > 0.4);
    /* The bias moves the ratings only: who reviewed what is the same. */
    CHECK(strcmp(pairs[0], pairs[1]) == 0);
    CHECK(strcmp(pairs[1], pairs[2]) == 0);
    for (int k = 0; k < 3; k++) free(pairs[k]);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

TEST(synth_movielens_100k_shape) {
    /* The recipe documented in synth.c: 943 users, 1682 items, 100000 ratings, histories of
     * 20..700, bias 0.05. Pins the figures documented there. */
    us_synth_config cfg = small_config(us_test_tmpdir(), 1);
    cfg.users = 943;
    cfg.items = 1682;
    cfg.reviews = 100000;
    cfg.min_history = 20;
    cfg.max_history = 700;
    cfg.bias = 0.05;
    us_synth_report rep;
    us_err err;
    CHECK_OK(us_synth(&cfg, &rep, &err), err);
    CHECK_EQ_INT(rep.users, 943);
    CHECK_EQ_INT(rep.items, 1682);
    CHECK_EQ_INT(rep.reviews, 100000); /* every item has 5 reviewers already: no top-up */
    /* The reported like rate, as in MovieLens 100K's share of ratings >= 3 (about 0.82). */
    CHECK(rep.like_rate > 0.80 && rep.like_rate < 0.84);
    CHECK_NEAR(rep.like_rate, 0.82627, 1e-9);

    /* History lengths from truth.csv, whose rows come user by user. */
    char *truth = read_gz(rep.truth_path, NULL);
    REQUIRE(truth);
    char **rows;
    size_t nrows = split_lines(truth, &rows);
    REQUIRE(nrows == 100001);
    static long len[943];
    long nu = 0;
    for (size_t k = 1; k < nrows; k++) {
        int same = k > 1 && strncmp(rows[k], rows[k - 1], 15) == 0; /* "A" + 13, then ',' */
        if (!same) {
            REQUIRE(nu < 943);
            len[nu++] = 0;
        }
        len[nu - 1]++;
    }
    CHECK_EQ_INT(nu, 943);
    qsort(len, (size_t)nu, sizeof *len, cmp_long);
    CHECK(len[0] >= 20);
    CHECK_EQ_INT(len[0], 25);
    CHECK_EQ_INT(len[nu / 2], 65); /* the median of 943 */
    CHECK_EQ_INT(len[nu - 1], 700);
    free(rows);
    free(truth);
}

TEST(synth_cli_history_and_bias) {
    if (!us_test_cli_available()) SKIP("USERSIM_BIN not set (run through make test)");
    char dir[1024], reviews[1100];
    snprintf(dir, sizeof dir, "%s", us_test_path("data"));
    snprintf(reviews, sizeof reviews, "%s/Synthetic_5.json.gz", dir);
    const char *ok[] = {"synth",         "--out", dir,     "--users",       "60",
                        "--items",       "80",    "--reviews", "1500",      "--min-history",
                        "10",            "--max-history", "30", "--bias",  "-0.4",
                        "--json",        NULL};
    REQUIRE(us_test_cli(ok, "ok.txt") == 0);
    cJSON *j = cJSON_Parse(us_test_slurp("ok.txt"));
    const cJSON *like = cJSON_GetObjectItemCaseSensitive(j, "like_rate");
    REQUIRE(cJSON_IsNumber(like));
    CHECK(like->valuedouble > 0.3 && like->valuedouble < 0.85); /* below the default's 0.9 */
    cJSON_Delete(j);
    rec *v = NULL;
    long bad = 0, n = read_reviews(reviews, &v, &bad), lo, hi;
    REQUIRE(n > 0 && v && bad == 0);
    CHECK_EQ_INT(history_range(v, n, &lo, &hi), 60);
    CHECK(lo >= 10 && hi <= 30);
    free(v);

    /* A non-number is a usage error; values out of range are refused naming the field. */
    const char *nan_bias[] = {"synth", "--out", dir, "--bias", "abc", NULL};
    CHECK_EQ_INT(us_test_cli(nan_bias, "e1.txt"), 2);
    CHECK(strstr(us_test_slurp("e1.txt"), "--bias") != NULL);
    const char *big_bias[] = {"synth", "--out", dir, "--bias", "5", NULL};
    CHECK_EQ_INT(us_test_cli(big_bias, "e2.txt"), 1);
    CHECK(strstr(us_test_slurp("e2.txt"), "bias: expected -3..3, found 5") != NULL);
    const char *max_low[] = {"synth", "--out", dir, "--min-history", "10", "--max-history", "9",
                             NULL};
    CHECK_EQ_INT(us_test_cli(max_low, "e3.txt"), 1);
    CHECK(strstr(us_test_slurp("e3.txt"), "max_history") != NULL);
}
