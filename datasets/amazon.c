/* amazon.c — the Amazon review datasets of McAuley's group, one record per line:
 *   2014 reviews_<Category>_5.json and 2018 <Category>_5.json: JSON objects (reviewerID, asin,
 *     overall, summary, reviewText, unixReviewTime, reviewTime "MM DD, YYYY" or "MM D, YYYY");
 *   2014 meta_<Category>.json: Python dict literals (pydict.c), 2018 meta_<Category>.json: JSON,
 *     told apart line by line by the first quote character after the opening '{';
 *   2023 <Category>.jsonl and meta_<Category>.jsonl: JSON (user_id, parent_asin, rating, title,
 *     text, timestamp in milliseconds; parent_asin, title, categories, description, store).
 *
 * Reviews map to records; the time is unixReviewTime, or when that is absent the reviewTime
 * date at 00:00 UTC (which is what unixReviewTime holds in the published files). A present but
 * unparsable unixReviewTime is an error, not a reason to fall back. Metadata keep the title,
 * the description (a list of paragraphs joined with "\n"), the brand (2023: store), the
 * categories flattened, and a few useful fields as attributes, empty values left out: 2014
 * price and salesRank; 2018 feature, price, main_cat, rank, details and date; 2023
 * main_category, features, details, average_rating, rating_number and price. A blank line
 * carries no record (US_NOREC), as at the end of a concatenated file.
 *
 * It deliberately drops image URLs, videos and the related-item lists (also_bought, also_viewed,
 * also_buy, also_view, bought_together, similar_item), the 2018 HTML tables (tech1, tech2, fit),
 * reviewer names, votes, verified flags and styles. It does not decode the HTML entities found
 * in some titles and categories ("Home &amp; Kitchen"). Rating ranges, UTF-8 and id lengths are
 * the dispatcher's checks. */
#include <math.h>
#include <string.h>

#include "datasets/internal.h"

/* A line of only spaces carries no record. */
static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    }
    return 1;
}

/* Up to 40 bytes of s[0..len) in double quotes for an error message, other than printable
 * ASCII (and '"') as '?'. */
static const char *excerpt(const char *s, size_t len, char buf[64]) {
    size_t n = 0, i = 0;
    buf[n++] = '"';
    for (; i < len && i < 40; i++) {
        char c = s[i];
        buf[n++] = (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
    }
    if (i < len) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

/* A whole number of seconds or milliseconds that fits any int64 arithmetic we do. */
static int whole_number(double d, int64_t *out) {
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9e15) return -1;
    *out = (int64_t)d;
    return 0;
}

/* 1 or 2 digits; returns the number of bytes read, 0 when none. */
static size_t small_number(const char *s, size_t len, int *out) {
    size_t i = 0;
    int v = 0;
    while (i < len && i < 2 && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
    *out = v;
    return i;
}

/* reviewTime "09 13, 2009" (2014) or "09 1, 2016" (2018) to 00:00 UTC of that day. */
static int parse_review_time(const char *s, size_t len, int64_t *out) {
    int month, day;
    size_t i = small_number(s, len, &month), n;
    if (!i || i >= len || s[i] != ' ') return -1;
    i++;
    if (!(n = small_number(s + i, len - i, &day))) return -1;
    i += n;
    if (i + 6 != len || s[i] != ',' || s[i + 1] != ' ') return -1;
    for (size_t k = i + 2; k < len; k++) {
        if (s[k] < '0' || s[k] > '9') return -1;
    }
    /* "YYYY-MM-DD" for the shared parser, which rejects impossible dates. */
    char iso[10] = {s[i + 2], s[i + 3], s[i + 4], s[i + 5], '-',
                    (char)('0' + month / 10), (char)('0' + month % 10), '-',
                    (char)('0' + day / 10), (char)('0' + day % 10)};
    return us_parse_datetime(iso, sizeof iso, out);
}

/* A whole number of a JSON number member (raw text), through the shared strict parser. */
static int jval_whole(const us_jval *v, int64_t *out) {
    double d;
    return v->type == US_JNUM && us_parse_double(v->val, v->len, &d) == 0 ? whole_number(d, out)
                                                                          : -1;
}

/* unixReviewTime, else reviewTime. */
static us_status review_time(us_reader *r, int64_t *ts, us_err *err, us_skip *why) {
    us_jval *unix_time = us_jget(r, "unixReviewTime");
    if (unix_time && unix_time->type != US_JNULL) {
        if (jval_whole(unix_time, ts) == 0) return US_OK;
        if (unix_time->type == US_JSTR) {
            const char *s = us_jstr(unix_time);
            if (us_parse_int64(s, unix_time->len, ts) == 0) return US_OK;
            char q[64];
            return us_bad(err, why, US_SKIP_TYPE, "unixReviewTime",
                          "expected whole unix seconds, found %s",
                          excerpt(s, unix_time->len, q));
        }
        return us_bad(err, why, US_SKIP_TYPE, "unixReviewTime",
                      "expected whole unix seconds, found %s",
                      unix_time->type == US_JNUM ? "a fraction or a huge number"
                                                 : "another type");
    }
    us_jval *date = us_jget(r, "reviewTime");
    const char *d = date && date->type == US_JSTR ? us_jstr(date) : NULL;
    if (d && parse_review_time(d, date->len, ts) == 0) return US_OK;
    /* A reviewTime that is there but unreadable is a wrong value, not a missing one. */
    char q[64];
    if (d && date->len > 0)
        return us_bad(err, why, US_SKIP_TYPE, "reviewTime",
                      "expected a reviewTime \"MM DD, YYYY\" (no unixReviewTime given), found %s",
                      excerpt(d, date->len, q));
    if (date && date->type != US_JNULL && date->type != US_JSTR)
        return us_bad(err, why, US_SKIP_TYPE, "reviewTime",
                      "expected a reviewTime string \"MM DD, YYYY\" (no unixReviewTime given), "
                      "found another type");
    return us_bad(err, why, US_SKIP_MISSING, "unixReviewTime",
                  "expected unixReviewTime, or a reviewTime \"MM DD, YYYY\", found %s",
                  d ? "an empty reviewTime" : "neither");
}

us_status us_amazon_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                           us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    us_status st = us_jscan(r, line, len, err, why);
    if (st != US_OK) return st;
    if ((st = us_jscan_id(r, "reviewerID", &out->user, &out->user_len, err, why)) != US_OK ||
        (st = us_jscan_id(r, "asin", &out->item, &out->item_len, err, why)) != US_OK ||
        (st = us_jscan_number(r, "overall", &out->rating, err, why)) != US_OK ||
        (st = us_jscan_text(r, "summary", &out->title, &out->title_len, err, why)) != US_OK ||
        (st = us_jscan_text(r, "reviewText", &out->text, &out->text_len, err, why)) != US_OK)
        return st;
    return review_time(r, &out->ts, err, why);
}

/* Title, description, brand and categories, shared by the three metadata layouts. */
static us_status meta_common(us_reader *r, const char *id_field, const char *brand_field,
                             const char *cats_field, us_meta *out, us_err *err, us_skip *why) {
    const cJSON *doc = r->doc;
    us_status st;
    if ((st = us_json_id(r, doc, id_field, &out->item, &out->item_len, err, why)) != US_OK ||
        (st = us_json_text(doc, "title", &out->title, NULL, err, why)) != US_OK ||
        (st = us_json_text(doc, brand_field, &out->brand, NULL, err, why)) != US_OK)
        return st;
    if (out->title && !*out->title) out->title = NULL;
    if (out->brand && !*out->brand) out->brand = NULL;

    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(doc, "description");
    if (desc && !cJSON_IsNull(desc) && !cJSON_IsString(desc) && !cJSON_IsArray(desc))
        return us_bad(err, why, US_SKIP_TYPE, "description",
                      "expected a string or a list of strings, found another value");
    out->description = us_meta_join_text(r, desc);

    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(doc, cats_field);
    if (cats && !cJSON_IsNull(cats) && !cJSON_IsString(cats) && !cJSON_IsArray(cats))
        return us_bad(err, why, US_SKIP_TYPE, cats_field,
                      "expected a list of strings, found another value");
    us_meta_add_categories(r, cats, 0);
    return US_OK;
}

/* Moves the named members into the attributes, leaving out empty ones (null, "", [], {}):
 * 2018 lines carry "price": "" and "date": "" on most items. */
static void keep_attrs(us_reader *r, const char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->doc, names[i]);
        if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring) ||
            ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child))
            continue;
        us_meta_keep_attr(r, r->doc, names[i]);
    }
}

/* 2014 lines start {'asin': ..., 2018 lines {"category": ... */
static int is_dict_literal(const char *line, size_t len) {
    size_t i = 0;
    while (i < len && line[i] != '{') i++;
    for (; i < len; i++) {
        if (line[i] == '\'') return 1;
        if (line[i] == '"') return 0;
    }
    return 0;
}

us_status us_amazon_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                         us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    us_status st;
    if (is_dict_literal(line, len)) {
        size_t at = 0;
        cJSON_Delete(r->doc);
        r->doc = us_pydict_parse(line, len, &at);
        if (!r->doc) {
            char q[64];
            size_t n = at < len ? len - at : 0;
            return us_bad(err, why, US_SKIP_MALFORMED, "",
                          "expected a Python dict literal, found %s at byte %zu",
                          n ? excerpt(line + at, n, q) : "the end of the line", at + 1);
        }
        if ((st = meta_common(r, "asin", "brand", "categories", out, err, why)) != US_OK)
            return st;
        static const char *const kept[] = {"price", "salesRank"};
        keep_attrs(r, kept, sizeof kept / sizeof kept[0]);
        return US_OK;
    }
    if ((st = us_json_line(r, line, len, err, why)) != US_OK ||
        (st = meta_common(r, "asin", "brand", "category", out, err, why)) != US_OK)
        return st;
    static const char *const kept[] = {"feature", "price", "main_cat", "rank", "details",
                                       "date"};
    keep_attrs(r, kept, sizeof kept / sizeof kept[0]);
    return US_OK;
}

us_status us_amazon2023_review(us_reader *r, char *line, size_t len, us_review *out,
                               us_err *err, us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    us_status st = us_jscan(r, line, len, err, why);
    if (st != US_OK) return st;
    /* Reviews of variants (colours, sizes) count for the parent product. */
    us_jval *parent = us_jget(r, "parent_asin");
    int has_parent = parent && parent->type != US_JNULL &&
                     !(parent->type == US_JSTR && parent->len == 0);
    if ((st = us_jscan_id(r, "user_id", &out->user, &out->user_len, err, why)) != US_OK ||
        (st = us_jscan_id(r, has_parent ? "parent_asin" : "asin", &out->item, &out->item_len,
                          err, why)) != US_OK ||
        (st = us_jscan_number(r, "rating", &out->rating, err, why)) != US_OK ||
        (st = us_jscan_text(r, "title", &out->title, &out->title_len, err, why)) != US_OK ||
        (st = us_jscan_text(r, "text", &out->text, &out->text_len, err, why)) != US_OK)
        return st;

    us_jval *t = us_jget(r, "timestamp");
    if (!t || t->type == US_JNULL)
        return us_bad(err, why, US_SKIP_MISSING, "timestamp",
                      "expected unix milliseconds, found none");
    int64_t ms;
    if (jval_whole(t, &ms) != 0)
        return us_bad(err, why, US_SKIP_TYPE, "timestamp",
                      "expected whole unix milliseconds, found %s",
                      t->type == US_JNUM ? "a fraction or a huge number" : "another type");
    /* Floor division, so a time before 1970 rounds down like a time after it. */
    out->ts = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    return US_OK;
}

us_status us_amazon2023_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                             us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    us_status st;
    if ((st = us_json_line(r, line, len, err, why)) != US_OK ||
        (st = meta_common(r, "parent_asin", "store", "categories", out, err, why)) != US_OK)
        return st;
    static const char *const kept[] = {"main_category", "features", "details",
                                       "average_rating", "rating_number", "price"};
    keep_attrs(r, kept, sizeof kept / sizeof kept[0]);
    return US_OK;
}
