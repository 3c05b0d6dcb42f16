/* prompt.c — the prompt templates of the extract stage: the built-in ones (the files in
 * simulator/keywords/prompts/, compiled in through the generated
 * simulator/keywords/prompts.inc), loading an edited set from a folder, versions (a hash of
 * each text) and rendering.
 *
 * Placeholders are {name}; any other brace (the JSON examples) is kept as it is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/keywords/extract_internal.h"
#include "simulator/keywords/prompts.inc" /* generated into the build folder */

/* Each template: its file in simulator/keywords/prompts/ (and in a --prompts folder), the
 * placeholder it must contain (the input it exists for), and its compiled-in text, generated
 * from that file at build time (scripts/embed_prompts.sh). */
static const struct {
    const char *file, *required, *text;
} TEMPLATES[KW_PROMPT_COUNT] = {
    [KW_PROMPT_OBJECTIVE] = {"objective.txt", "{title}", KW_PROMPT_TEXT_objective},
    [KW_PROMPT_OBJECTIVE_JSON] = {"objective_json.txt", "{title}", KW_PROMPT_TEXT_objective_json},
    [KW_PROMPT_REVIEW] = {"review.txt", "{review}", KW_PROMPT_TEXT_review},
    [KW_PROMPT_REVIEW_JSON] = {"review_json.txt", "{review}", KW_PROMPT_TEXT_review_json},
    [KW_PROMPT_BATCH] = {"batch.txt", "{reviews}", KW_PROMPT_TEXT_batch},
    [KW_PROMPT_BATCH_JSON] = {"batch_json.txt", "{reviews}", KW_PROMPT_TEXT_batch_json},
};

const char *kw_prompt_file(kw_prompt_id id) {
    US_ASSERT((unsigned)id < KW_PROMPT_COUNT);
    return TEMPLATES[id].file;
}

const char *kw_prompt_builtin(kw_prompt_id id) {
    US_ASSERT((unsigned)id < KW_PROMPT_COUNT);
    return TEMPLATES[id].text;
}

static us_status version_of(const char *text, char ver[17], us_err *err) {
    uint8_t d[32];
    char hex[65];
    us_status st = us_sha256_digest(text, strlen(text), d, err);
    if (st != US_OK) return st;
    us_sha256_hex(d, hex);
    memcpy(ver, hex, 16);
    ver[16] = '\0';
    return US_OK;
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
            snprintf(path, sizeof path, "%s/%s", dir, TEMPLATES[i].file);
            /* a template is text of at most 64 KiB */
            us_status st = us_read_file(path, 65536, &p->text[i], NULL, err);
            if (st != US_OK) {
                kw_prompts_free(p);
                return st;
            }
        } else {
            snprintf(path, sizeof path, "(built-in) %s", TEMPLATES[i].file);
            p->text[i] = strdup(TEMPLATES[i].text);
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
        else if (!strstr(t, TEMPLATES[i].required))
            st = us_err_set(err, US_EFORMAT, path, 0, "template", "expected the placeholder %s, "
                            "found none", TEMPLATES[i].required);
        else
            st = version_of(t, p->version[i], err);
        if (st != US_OK) {
            kw_prompts_free(p);
            return st;
        }
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
