/* Synthetic data generator: the three files in the Amazon 2018 format (every field, its type and
 * order), dates that agree, truth rows that match the reviews, the 5-core guarantees on both
 * sides, the files read back by the Amazon reader, byte-identical output for a seed, calibrated
 * and informative truth, text that follows the ratings, and config validation naming the
 * field. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "datasets/internal.h"
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
    } cases[12];
    int nc = 0;
    for (int k = 0; k < 12; k++) cases[k].cfg = small_config(us_test_tmpdir(), 1);
    cases[nc].field = "out_dir", cases[nc++].cfg.out_dir = NULL;
    cases[nc].field = "out_dir", cases[nc++].cfg.out_dir = "";
    cases[nc].field = "users", cases[nc++].cfg.users = 0;
    cases[nc].field = "items", cases[nc++].cfg.items = 4;
    cases[nc].field = "items", cases[nc++].cfg.items = 4000000000u;
    cases[nc].field = "reviews", cases[nc++].cfg.reviews = 2000000000ull;
    cases[nc].field = "categories", cases[nc++].cfg.categories = 0;
    cases[nc].field = "categories", cases[nc++].cfg.categories = 100000;
    cases[nc].field = "aspects", cases[nc++].cfg.aspects = 2;
    cases[nc].field = "noise", cases[nc++].cfg.noise = 0;
    cases[nc].field = "noise", cases[nc++].cfg.noise = NAN;
    cases[nc].field = "drift", cases[nc++].cfg.drift = -0.1;
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
