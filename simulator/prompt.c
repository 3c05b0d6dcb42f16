/* prompt.c — the prompt templates of the extract stage: the built-in copies (identical to the
 * files in simulator/prompts/, which a test checks byte for byte), loading an edited set from a
 * folder, versions (a hash of each text) and rendering.
 *
 * Placeholders are {name}; any other brace (the JSON examples) is kept as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/extract_internal.h"

static const char *const FILES[KW_PROMPT_COUNT] = {
    [KW_PROMPT_OBJECTIVE] = "objective.txt",
    [KW_PROMPT_OBJECTIVE_JSON] = "objective_json.txt",
    [KW_PROMPT_REVIEW] = "review.txt",
    [KW_PROMPT_REVIEW_JSON] = "review_json.txt",
    [KW_PROMPT_BATCH] = "batch.txt",
    [KW_PROMPT_BATCH_JSON] = "batch_json.txt",
};

/* The placeholder each template must contain (the input it exists for). */
static const char *const REQUIRED[KW_PROMPT_COUNT] = {
    [KW_PROMPT_OBJECTIVE] = "{title}",
    [KW_PROMPT_OBJECTIVE_JSON] = "{title}",
    [KW_PROMPT_REVIEW] = "{review}",
    [KW_PROMPT_REVIEW_JSON] = "{review}",
    [KW_PROMPT_BATCH] = "{reviews}",
    [KW_PROMPT_BATCH_JSON] = "{reviews}",
};

static const char *const BUILTIN[KW_PROMPT_COUNT] = {
    [KW_PROMPT_OBJECTIVE] =
    "You describe products for a recommender system. Below is the catalogue entry of one item"
    ".\n"
    "\n"
    "Title: {title}\n"
    "Categories: {categories}\n"
    "Brand: {brand}\n"
    "Description: {description}\n"
    "Other fields: {attributes}\n"
    "\n"
    "Think step by step about what kind of item this is and what, judging only from this entr"
    "y, could make a person like it or dislike it. Then give your answer in exactly this form"
    "at and nothing after it:\n"
    "\n"
    "Category: <one short category name>\n"
    "Pros 1: <a reason someone may like the item>\n"
    "Evidence: <the words of the entry that support it>\n"
    "Keywords: <one to three short keywords, comma-separated>\n"
    "Cons 1: <a reason someone may dislike the item>\n"
    "Evidence: <the words of the entry that support it>\n"
    "Keywords: <one to three short keywords, comma-separated>\n"
    "\n"
    "Give up to three Pros and up to three Cons, numbered 1 to 3. If the entry gives no reaso"
    "n of a kind, write \"Pros: none\" or \"Cons: none\". Keywords are short noun or adjectiv"
    "e-noun phrases such as \"battery life\" or \"sturdy build\".\n",
    [KW_PROMPT_OBJECTIVE_JSON] =
    "You describe products for a recommender system. Below is the catalogue entry of one item"
    ".\n"
    "\n"
    "Title: {title}\n"
    "Categories: {categories}\n"
    "Brand: {brand}\n"
    "Description: {description}\n"
    "Other fields: {attributes}\n"
    "\n"
    "Think about what kind of item this is and what, judging only from this entry, could make"
    " a person like it or dislike it. Answer with one JSON object and nothing else:\n"
    "\n"
    "{\"category\": \"<one short category name>\",\n"
    " \"pros\": [{\"reason\": \"<why someone may like it>\", \"evidence\": \"<supporting word"
    "s of the entry>\", \"keywords\": [\"<short keyword>\", \"...\"]}],\n"
    " \"cons\": [{\"reason\": \"<why someone may dislike it>\", \"evidence\": \"<supporting w"
    "ords of the entry>\", \"keywords\": [\"<short keyword>\", \"...\"]}]}\n"
    "\n"
    "Give up to three pros and up to three cons, each with one to three keywords; use an empt"
    "y list when the entry gives no reason of a kind. Keywords are short noun or adjective-no"
    "un phrases such as \"battery life\" or \"sturdy build\".\n",
    [KW_PROMPT_REVIEW] =
    "You read product reviews for a recommender system. The item is \"{title}\" ({category})."
    " One reviewer rated it {rating} on a scale of {scale} and wrote:\n"
    "\n"
    "{review}\n"
    "\n"
    "List the reasons this reviewer gives for {feeling} the item. Answer in exactly this form"
    "at and nothing after it:\n"
    "\n"
    "{side} 1: <a reason the reviewer gives>\n"
    "Evidence: <the reviewer's words that support it>\n"
    "Keywords: <one to three short keywords, comma-separated>\n"
    "\n"
    "Give up to three reasons, numbered 1 to 3. If the review gives none, write \"{side}: non"
    "e\". Keywords are short noun or adjective-noun phrases such as \"battery life\" or \"stu"
    "rdy build\".\n",
    [KW_PROMPT_REVIEW_JSON] =
    "You read product reviews for a recommender system. The item is \"{title}\" ({category})."
    " One reviewer rated it {rating} on a scale of {scale} and wrote:\n"
    "\n"
    "{review}\n"
    "\n"
    "List the reasons this reviewer gives for {feeling} the item. Answer with one JSON object"
    " and nothing else:\n"
    "\n"
    "{\"{key}\": [{\"reason\": \"<a reason the reviewer gives>\", \"evidence\": \"<the review"
    "er's words>\", \"keywords\": [\"<short keyword>\", \"...\"]}]}\n"
    "\n"
    "Give up to three reasons, each with one to three keywords, or an empty list if the revie"
    "w gives none. Keywords are short noun or adjective-noun phrases such as \"battery life\""
    " or \"sturdy build\".\n",
    [KW_PROMPT_BATCH] =
    "You read product reviews for a recommender system. The item is \"{title}\" ({category})."
    " Below are some of its reviews, each with its rating on a scale of {scale}.\n"
    "\n"
    "{reviews}\n"
    "\n"
    "List the reasons reviewers liked the item (mostly in high ratings) and the reasons they "
    "disliked it (mostly in low ratings). Answer in exactly this format and nothing after it:"
    "\n"
    "\n"
    "Pros 1: <a reason reviewers liked it>\n"
    "Evidence: <reviewers' words that support it>\n"
    "Keywords: <one to three short keywords, comma-separated>\n"
    "Cons 1: <a reason reviewers disliked it>\n"
    "Evidence: <reviewers' words that support it>\n"
    "Keywords: <one to three short keywords, comma-separated>\n"
    "\n"
    "Give up to three Pros and up to three Cons, numbered 1 to 3, the most frequent first. If"
    " there is no reason of a kind, write \"Pros: none\" or \"Cons: none\". Keywords are shor"
    "t noun or adjective-noun phrases such as \"battery life\" or \"sturdy build\".\n",
    [KW_PROMPT_BATCH_JSON] =
    "You read product reviews for a recommender system. The item is \"{title}\" ({category})."
    " Below are some of its reviews, each with its rating on a scale of {scale}.\n"
    "\n"
    "{reviews}\n"
    "\n"
    "List the reasons reviewers liked the item (mostly in high ratings) and the reasons they "
    "disliked it (mostly in low ratings). Answer with one JSON object and nothing else:\n"
    "\n"
    "{\"pros\": [{\"reason\": \"<a reason reviewers liked it>\", \"evidence\": \"<reviewers' "
    "words>\", \"keywords\": [\"<short keyword>\", \"...\"]}],\n"
    " \"cons\": [{\"reason\": \"<a reason reviewers disliked it>\", \"evidence\": \"<reviewer"
    "s' words>\", \"keywords\": [\"<short keyword>\", \"...\"]}]}\n"
    "\n"
    "Give up to three pros and up to three cons, the most frequent first, each with one to th"
    "ree keywords; use an empty list when there is no reason of a kind. Keywords are short no"
    "un or adjective-noun phrases such as \"battery life\" or \"sturdy build\".\n",
};

const char *kw_prompt_file(kw_prompt_id id) {
    US_ASSERT((unsigned)id < KW_PROMPT_COUNT);
    return FILES[id];
}

const char *kw_prompt_builtin(kw_prompt_id id) {
    US_ASSERT((unsigned)id < KW_PROMPT_COUNT);
    return BUILTIN[id];
}

static void version_of(const char *text, char ver[17]) {
    us_sha256 h;
    uint8_t d[32];
    char hex[65];
    us_sha256_init(&h);
    us_sha256_update(&h, text, strlen(text));
    us_sha256_final(&h, d);
    us_sha256_hex(d, hex);
    memcpy(ver, hex, 16);
    ver[16] = '\0';
}

void kw_prompts_free(kw_prompts *p) {
    if (!p) return;
    for (int i = 0; i < KW_PROMPT_COUNT; i++) {
        free(p->text[i]);
        p->text[i] = NULL;
    }
}

us_status kw_prompts_load(kw_prompts *p, const char *dir, us_err *err) {
    memset(p, 0, sizeof *p);
    for (int i = 0; i < KW_PROMPT_COUNT; i++) {
        char path[1200];
        if (dir) {
            snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
            /* a template is text of at most 64 KiB */
            us_status st = us_read_file(path, 65536, &p->text[i], NULL, err);
            if (st != US_OK) {
                kw_prompts_free(p);
                return st;
            }
        } else {
            snprintf(path, sizeof path, "(built-in) %s", FILES[i]);
            p->text[i] = strdup(BUILTIN[i]);
            if (!p->text[i]) {
                kw_prompts_free(p);
                return us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
            }
        }
        const char *t = p->text[i];
        size_t n = strlen(t);
        us_status st = US_OK;
        if (n == 0)
            st = us_err_set(err, US_EFORMAT, path, 0, "template", "expected a template, found "
                            "an empty file");
        else if (us_utf8_check(t, n) >= 0)
            st = us_err_set(err, US_EFORMAT, path, 0, "template", "expected UTF-8 text, found "
                            "an invalid byte at offset %ld", us_utf8_check(t, n));
        else if (!strstr(t, REQUIRED[i]))
            st = us_err_set(err, US_EFORMAT, path, 0, "template", "expected the placeholder %s, "
                            "found none", REQUIRED[i]);
        if (st != US_OK) {
            kw_prompts_free(p);
            return st;
        }
        version_of(t, p->version[i]);
    }
    return US_OK;
}

char *kw_prompt_render(const char *t, const char *const *names, const char *const *values,
                       int n) {
    /* Two walks over the template: measure, then write. */
    char *out = NULL;
    size_t len = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t k = 0;
        for (const char *p = t; *p;) {
            int hit = -1;
            size_t nl = 0;
            if (*p == '{')
                for (int j = 0; j < n && hit < 0; j++) {
                    nl = strlen(names[j]);
                    if (!strncmp(p + 1, names[j], nl) && p[1 + nl] == '}') hit = j;
                }
            if (hit >= 0) {
                const char *v = values[hit] ? values[hit] : "";
                size_t vl = strlen(v);
                if (pass) memcpy(out + k, v, vl);
                k += vl;
                p += nl + 2;
            } else {
                if (pass) out[k] = *p;
                k++;
                p++;
            }
        }
        if (!pass) {
            len = k;
            out = malloc(len + 1);
            if (!out) return NULL;
        } else {
            out[len] = '\0';
        }
    }
    return out;
}

us_status us_extract_prompt_version(const char *dir, const char *name, char ver[17],
                                    us_err *err) {
    static const char *const NAMES[KW_PROMPT_COUNT] = {
        [KW_PROMPT_OBJECTIVE] = "objective", [KW_PROMPT_OBJECTIVE_JSON] = "objective-json",
        [KW_PROMPT_REVIEW] = "review",       [KW_PROMPT_REVIEW_JSON] = "review-json",
        [KW_PROMPT_BATCH] = "batch",         [KW_PROMPT_BATCH_JSON] = "batch-json",
    };
    int id = -1;
    for (int i = 0; i < KW_PROMPT_COUNT; i++)
        if (name && !strcmp(name, NAMES[i])) id = i;
    if (id < 0)
        return us_err_set(err, US_ENOTFOUND, NULL, 0, "name", "expected objective, review or "
                          "batch (with -json), found %s", name ? name : "(null)");
    kw_prompts p;
    us_status st = kw_prompts_load(&p, dir, err);
    if (st != US_OK) return st;
    memcpy(ver, p.version[id], 17);
    kw_prompts_free(&p);
    return US_OK;
}
