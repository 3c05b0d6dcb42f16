/* Answer parsing (line and JSON formats, the ways models get them wrong) and the prompt
 * templates (the compiled-in copies equal the files, versions, loading, rendering). */
#include <stdlib.h>
#include <string.h>

#include "simulator/keywords/extract_internal.h"
#include "tests/test.h"

/* The keywords of side `side` ("pros"/"cons") joined by "|", reasons by " / ". */
static const char *kws(const cJSON *r, const char *side) {
    static char buf[1024];
    size_t len = 0;
    buf[0] = '\0';
    const cJSON *reason, *k;
    int first = 1;
    cJSON_ArrayForEach(reason, cJSON_GetObjectItem(r, side)) {
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s", first ? "" : " / ");
        first = 0;
        int f2 = 1;
        cJSON_ArrayForEach(k, cJSON_GetObjectItem(reason, "keywords")) {
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", f2 ? "" : "|",
                                    k->valuestring);
            f2 = 0;
        }
    }
    return buf;
}

static cJSON *parse(const char *s, kw_answer_kind kind, char *why) {
    cJSON *r = NULL;
    kw_answer_parse(s, strlen(s), kind, &r, why, 300);
    return r;
}

TEST(answer_line_format) {
    char why[300];
    const char *a =
        "Let me think step by step. The item is a kettle.\n"
        "Category: Kitchen\n"
        "Pros 1: Boils water fast\n"
        "Evidence: \"heats in two minutes\"\n"
        "Keywords: fast boiling, quick heating\n"
        "**Pros 2:** Looks nice\n"
        "Keywords: sleek design\n"
        "- Cons 1: Lid is flimsy\n"
        "Evidence: the lid broke\n"
        "Keywords: flimsy lid; weak hinge\n"
        "Cons 2: Loud\n"
        "Hope this helps!\n";
    cJSON *r = parse(a, KW_ANSWER_OBJECTIVE, why);
    REQUIRE(r != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(r, "category")), "Kitchen");
    CHECK_STR(kws(r, "pros"), "fast boiling|quick heating / sleek design");
    CHECK_STR(kws(r, "cons"), "flimsy lid|weak hinge / Loud"); /* the short reason stands in */
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetArrayItem(cJSON_GetObjectItem(r, "pros"), 0), "evidence")),
              "heats in two minutes");
    cJSON_Delete(r);
    /* Code fences, "none", lower case labels. */
    r = parse("```\npros 1: great sound\nkeywords: sound quality\nCons: none\n```",
              KW_ANSWER_REVIEWS, why);
    REQUIRE(r != NULL);
    CHECK_STR(kws(r, "pros"), "sound quality");
    CHECK_STR(kws(r, "cons"), "");
    cJSON_Delete(r);
    /* Headings with numbered lists under them. */
    r = parse("Pros:\n1. Great sound\n   Evidence: loud and clear\n   Keywords: sound quality, "
              "volume\n2. Long battery\nCons:\n- Keywords: short cord\n", KW_ANSWER_REVIEWS,
              why);
    REQUIRE(r != NULL);
    CHECK_STR(kws(r, "pros"), "sound quality|volume / Long battery");
    CHECK_STR(kws(r, "cons"), "short cord");
    cJSON_Delete(r);
    /* "Pros: none" alone is a valid, empty answer for a review. */
    r = parse("Pros: none.", KW_ANSWER_REVIEWS, why);
    REQUIRE(r != NULL);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "pros")), 0);
    cJSON_Delete(r);
}

TEST(answer_json_format) {
    char why[300];
    cJSON *r = parse("Sure! Here it is:\n```json\n{\"category\": \"Audio\", \"pros\": [{\"reason\":"
                     " \"good bass\", \"evidence\": \"deep bass\", \"keywords\": [\"bass\", 7, "
                     "\"clear sound\"]}, \"cheap price\"], \"cons\": [{\"keywords\": \"short "
                     "cord, weak battery\"}], \"extra\": true}\n```\nAnything else?",
                     KW_ANSWER_OBJECTIVE, why);
    REQUIRE(r != NULL);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(r, "category")), "Audio");
    CHECK_STR(kws(r, "pros"), "bass|clear sound / cheap price");
    CHECK_STR(kws(r, "cons"), "short cord|weak battery");
    cJSON_Delete(r);
    /* Empty lists are a valid answer for a review. */
    r = parse("{\"pros\": [], \"cons\": []}", KW_ANSWER_REVIEWS, why);
    REQUIRE(r != NULL);
    cJSON_Delete(r);
    /* The wrong shape: rejected with a reason. */
    CHECK(parse("{\"likes_and_dislikes\": 3}", KW_ANSWER_REVIEWS, why) == NULL);
    CHECK(strstr(why, "\"pros\"") != NULL);
    CHECK(parse("{\"pros\": \"battery\"}", KW_ANSWER_REVIEWS, why) == NULL);
    CHECK(strstr(why, "lists") != NULL);
}

TEST(answer_rejects_nothing_usable) {
    char why[300];
    CHECK(parse("", KW_ANSWER_OBJECTIVE, why) == NULL);
    CHECK(strstr(why, "Category") != NULL);
    CHECK(parse("I cannot help with that.", KW_ANSWER_REVIEWS, why) == NULL);
    CHECK(strstr(why, "Pros 1:") != NULL);
    /* Bytes after a NUL are not read; invalid UTF-8 keywords are dropped. */
    cJSON *r = NULL;
    const char raw[] = "Pros 1: it is a really good one\nKeywords: good\xff\nCons 1: y\n"
                       "Keywords: ok one\0Pros 2: z";
    CHECK(kw_answer_parse(raw, sizeof raw - 1, KW_ANSWER_REVIEWS, &r, why, sizeof why) ==
          US_OK);
    CHECK_STR(kws(r, "cons"), "ok one");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(r, "pros")), 0);
    cJSON_Delete(r);
}

/* The compiled-in templates are the files, byte for byte. */
TEST(prompt_builtin_copies_match_files) {
    kw_prompts files, builtin;
    us_err e;
    CHECK_OK(kw_prompts_load(&files, "simulator/keywords/prompts", &e), e);
    CHECK_OK(kw_prompts_load(&builtin, NULL, &e), e);
    for (int i = 0; i < KW_PROMPT_COUNT; i++) {
        if (!files.text[i] || !builtin.text[i]) continue;
        if (strcmp(files.text[i], builtin.text[i]) != 0) {
            us_test_fail(t_, __FILE__, __LINE__,
                         "simulator/keywords/prompts/%s differs from its compiled-in text "
                         "(scripts/embed_prompts.sh)", kw_prompt_file((kw_prompt_id)i));
        }
        CHECK_STR(files.version[i], builtin.version[i]);
        CHECK_EQ_INT(strlen(builtin.version[i]), 16);
    }
    CHECK(strcmp(builtin.version[KW_PROMPT_OBJECTIVE], builtin.version[KW_PROMPT_BATCH]) != 0);
    kw_prompts_free(&files);
    kw_prompts_free(&builtin);
    char ver[17];
    CHECK_OK(us_extract_prompt_version(NULL, "batch-json", ver, &e), e);
    CHECK(us_extract_prompt_version(NULL, "nope", ver, &e) == US_ENOTFOUND);
}

TEST(prompt_folder_errors_and_render) {
    kw_prompts p;
    us_err e;
    CHECK(kw_prompts_load(&p, "/no/such/folder", &e) == US_ENOTFOUND); /* like every missing file */
    CHECK(strstr(e.file, "objective.txt") != NULL);
    /* A folder with an edited objective template that lost its placeholder. */
    const char *names[] = {"objective.txt", "objective_json.txt", "review.txt",
                           "review_json.txt", "batch.txt", "batch_json.txt"};
    for (int i = 0; i < 6; i++)
        us_test_write(names[i], kw_prompt_builtin((kw_prompt_id)i), -1);
    us_test_write("objective.txt", "Describe the item.", -1);
    CHECK(kw_prompts_load(&p, us_test_tmpdir(), &e) == US_EFORMAT);
    CHECK(strstr(e.msg, "{title}") != NULL);
    /* Edited but valid: a new version. */
    us_test_write("objective.txt", "Describe {title}, briefly.", -1);
    CHECK_OK(kw_prompts_load(&p, us_test_tmpdir(), &e), e);
    char ver[17];
    CHECK_OK(us_extract_prompt_version(NULL, "objective", ver, &e), e);
    CHECK(strcmp(ver, p.version[KW_PROMPT_OBJECTIVE]) != 0);
    const char *nm[] = {"title", "x"}, *vals[] = {"Kettle {x}", "never"};
    char *out = kw_prompt_render(p.text[KW_PROMPT_OBJECTIVE], nm, vals, 2);
    CHECK_STR(out, "Describe Kettle {x}, briefly."); /* values are not re-expanded */
    free(out);
    out = kw_prompt_render("{\"k\": {title}} {unknown}", nm, vals, 1);
    CHECK_STR(out, "{\"k\": Kettle {x}} {unknown}");
    free(out);
    kw_prompts_free(&p);
}
