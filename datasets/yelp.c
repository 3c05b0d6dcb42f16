/* yelp.c — the Yelp Open Dataset: one JSON object per line in
 * yelp_academic_dataset_review.json (user_id, business_id, stars, text, date) and
 * yelp_academic_dataset_business.json (business_id, name, state, categories, attributes, ...).
 *
 * Reviews become records (no title; the "YYYY-MM-DD HH:MM:SS" date is read as UTC). Businesses
 * become item metadata: name as title, the comma-separated categories string (or, as in older
 * releases, an array) split into categories, and city, state, stars, review_count, is_open and
 * attributes kept as they are. It deliberately does not interpret the attribute values (Python
 * literals in strings such as "u'free'" or "{'garage': False}"), and leaves votes (useful, funny,
 * cool), review ids, addresses, coordinates and opening hours out. It does not read the user,
 * tip or check-in files. */
#include <string.h>

#include "datasets/internal.h"

/* A line of only spaces carries no record. */
static int is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    }
    return 1;
}

/* Up to 40 bytes of s in double quotes for an error message, non-printable bytes as '?'. */
static const char *excerpt(const char *s, char buf[64]) {
    size_t n = 0;
    buf[n++] = '"';
    for (; *s && n < 41; s++) buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

us_status us_yelp_review(us_reader *r, char *line, size_t len, us_review *out, us_err *err,
                         us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    us_status st = us_jscan(r, line, len, err, why);
    if (st != US_OK) return st;
    if ((st = us_jscan_id(r, "user_id", &out->user, &out->user_len, err, why)) != US_OK ||
        (st = us_jscan_id(r, "business_id", &out->item, &out->item_len, err, why)) != US_OK ||
        (st = us_jscan_number(r, "stars", &out->rating, err, why)) != US_OK ||
        (st = us_jscan_text(r, "text", &out->text, &out->text_len, err, why)) != US_OK)
        return st;

    us_jval *date = us_jget(r, "date");
    if (!date || date->type == US_JNULL)
        return us_bad(err, why, US_SKIP_MISSING, "date",
                      "expected a date \"YYYY-MM-DD HH:MM:SS\", found none");
    if (date->type != US_JSTR)
        return us_bad(err, why, US_SKIP_TYPE, "date",
                      "expected a date \"YYYY-MM-DD HH:MM:SS\", found a non-string value");
    const char *d = us_jstr(date);
    if (us_parse_datetime(d, date->len, &out->ts) != 0) {
        char q[64];
        return us_bad(err, why, US_SKIP_TYPE, "date",
                      "expected a date \"YYYY-MM-DD HH:MM:SS\", found %s", excerpt(d, q));
    }
    return US_OK;
}

us_status us_yelp_meta(us_reader *r, char *line, size_t len, us_meta *out, us_err *err,
                       us_skip *why) {
    if (is_blank(line, len)) return US_NOREC;
    us_status st = us_json_line(r, line, len, err, why);
    if (st != US_OK) return st;
    cJSON *doc = r->doc;
    const char *state = NULL;
    size_t state_len = 0;
    if ((st = us_json_id(r, doc, "business_id", &out->item, &out->item_len, err, why)) !=
            US_OK ||
        (st = us_json_text(doc, "name", &out->title, NULL, err, why)) != US_OK ||
        (st = us_json_text(doc, "state", &state, &state_len, err, why)) != US_OK)
        return st;
    if (out->title && !*out->title) out->title = NULL;
    out->state = state_len ? state : NULL;

    /* "Doctors, Traditional Chinese Medicine" since 2018; a list of strings before. */
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(doc, "categories");
    if (cats && !cJSON_IsNull(cats) && !cJSON_IsString(cats) && !cJSON_IsArray(cats))
        return us_bad(err, why, US_SKIP_TYPE, "categories",
                      "expected a comma-separated string, a list or null, found another value");
    us_meta_add_categories(r, cats, ',');

    /* Moving members keeps the strings they own, so out->state stays valid. */
    static const char *const kept[] = {"city", "state", "stars", "review_count", "is_open",
                                       "attributes"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) us_meta_keep_attr(r, doc, kept[i]);
    return US_OK;
}
