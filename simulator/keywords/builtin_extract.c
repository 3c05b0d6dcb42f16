/* builtin_extract.c — the built-in keyword extractor: deterministic, no network, fast. It fills
 * the same pass results as the LLM passes (extract_internal.h's canonical shape).
 *
 * Objective pass (metadata): every genre of a genre list, or the entries of a category path
 * past its root, the brand, "Name: text" features, and the aspect phrases of description
 * sentences that carry an opinion. The item's category is chosen here too, by the driver
 * (kw_category_choose, at the end of this file), because it depends on the catalogue: the
 * item's entry that the fewest items share, and that at least one other item shares. For a
 * list of genres that is the most specific genre (ties: the first listed), and not, as when
 * lists were read as paths, the second genre in alphabetical order, which made the category
 * filter of the keyword vote group unrelated films; for an Amazon path it is the deepest
 * level, or the narrowest of several flattened paths (ties: the later entry), rather than
 * the first sub-genre ("Blues" for rap albums that Amazon also lists under Blues). On the
 * demo store the deepest level also scored a little better than the second entry (keyword
 * vote AUC 0.549 against 0.546, embedding vote 0.587 against 0.577).
 * Subjective pass (reviews): every sentence (split at . ! ? ; and at "but") with at least one
 * opinion word gives its aspect phrases, maximal runs of content words (nouns and
 * adjective-noun phrases: not function words, opinion words, negators, common verbs, adverbs
 * in -ly, participles in -ed, or a word after "to"), or, when it has none ("it is easy to
 * use"), its descriptive opinion words with an infinitive that follows them ("easy to use").
 * The sentence's polarity is the sum of its opinion words' scores, each flipped by a negator
 * among the three words before it ("not worth the price" is negative), with the review's
 * rating breaking ties. Each phrase votes once per review; phrases with enough votes go to
 * pros or cons by their net vote. HTML entities are decoded before anything else. Names are
 * not aspects: a capitalized word inside a sentence (unless the whole sentence is
 * title-cased), and a phrase that is a word sequence of the item's title or brand (an album,
 * its artist) are left out.
 *
 * It deliberately does not tag parts of speech, parse, or resolve "it" to its noun: the word
 * lists below are small and written for this project, and a phrase's polarity comes from its
 * sentence.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/keywords/extract_internal.h"

/* ------------------------------------------------------------------------------------------
 * Word lists (sorted: looked up by binary search; a test checks the order)
 * ---------------------------------------------------------------------------------------- */

/* Opinion words: score, and whether the word only sets the sentence's polarity (a cue such
 * as "unfortunately" or "love", or a verdict with no target such as "great") rather than
 * describing the aspect ("flimsy"). */
typedef struct opinion {
    const char *word;
    signed char score;
    char cue;
} opinion;

static const opinion OPINIONS[] = {
    {"accurate", 1, 0},      {"affordable", 1, 0},    {"amazing", 2, 1},
    {"annoying", -1, 0},     {"annoyingly", -1, 0},   {"awesome", 2, 1},
    {"awful", -2, 1},        {"awkward", -1, 0},      {"bad", -1, 1},
    {"beautiful", 1, 0},     {"best", 2, 1},          {"better", 1, 1},
    {"bright", 1, 0},        {"brilliant", 2, 1},     {"broke", -1, 0},
    {"broken", -1, 0},       {"buggy", -1, 0},        {"bulky", -1, 0},
    {"cheap", -1, 0},        {"cheaply", -1, 0},      {"clean", 1, 0},
    {"clear", 1, 0},         {"clunky", -1, 0},       {"comfortable", 1, 0},
    {"comfy", 1, 0},         {"compact", 1, 0},       {"complaint", -1, 1},
    {"confusing", -1, 0},    {"convenient", 1, 0},    {"cracked", -1, 0},
    {"crisp", 1, 0},         {"crushed", -1, 0},      {"dated", -1, 0},
    {"dead", -1, 0},         {"decent", 1, 1},        {"defective", -2, 0},
    {"delicious", 1, 0},     {"dependable", 1, 0},    {"dies", -1, 0},
    {"difficult", -1, 0},    {"dim", -1, 0},          {"disappointed", -1, 1},
    {"disappointing", -1, 1}, {"distorted", -1, 0},    {"downside", -1, 1},
    {"dull", -1, 0},         {"durable", 1, 0},       {"easy", 1, 0},
    {"effective", 1, 0},     {"efficient", 1, 0},     {"elegant", 1, 0},
    {"enjoy", 1, 1},         {"excellent", 2, 1},     {"expensive", -1, 0},
    {"fabulous", 2, 1},      {"fail", -1, 0},         {"failed", -1, 0},
    {"fails", -1, 0},        {"fantastic", 2, 1},     {"fast", 1, 0},
    {"faulty", -2, 0},       {"favorite", 1, 1},      {"flawless", 2, 0},
    {"flimsy", -1, 0},       {"forever", -1, 0},      {"fragile", -1, 0},
    {"fresh", 1, 0},         {"frustrating", -1, 0},  {"fun", 1, 0},
    {"garbage", -2, 1},      {"glad", 1, 1},          {"good", 1, 1},
    {"gorgeous", 1, 0},      {"great", 1, 1},         {"gritty", -1, 0},
    {"handy", 1, 0},         {"happy", 1, 1},         {"hate", -2, 1},
    {"heavy", -1, 0},        {"helpful", 1, 0},       {"horrible", -2, 1},
    {"ideal", 1, 0},         {"impressed", 1, 1},     {"impressive", 1, 0},
    {"intuitive", 1, 0},     {"issue", -1, 1},        {"jams", -1, 0},
    {"junk", -2, 1},         {"laggy", -1, 0},        {"leaks", -1, 0},
    {"lightweight", 1, 0},   {"like", 1, 1},          {"liked", 1, 1},
    {"loose", -1, 0},        {"loud", -1, 0},         {"love", 2, 1},
    {"loved", 2, 1},         {"lovely", 1, 1},        {"loves", 2, 1},
    {"mediocre", -1, 0},     {"messy", -1, 0},        {"neat", 1, 0},
    {"nice", 1, 1},          {"nightmare", -2, 0},    {"noisy", -1, 0},
    {"overpowering", -1, 0}, {"overpriced", -1, 0},   {"pain", -1, 0},
    {"painless", 1, 0},      {"perfect", 2, 1},       {"perfectly", 1, 0},
    {"pleasant", 1, 0},      {"pleasantly", 1, 1},    {"pleased", 1, 1},
    {"plenty", 1, 0},        {"plus", 1, 1},          {"poor", -1, 0},
    {"poorly", -1, 0},       {"powerful", 1, 0},      {"premium", 1, 0},
    {"problem", -1, 1},      {"quick", 1, 0},         {"quickly", 1, 0},
    {"quiet", 1, 0},         {"quietly", 1, 0},       {"recommend", 1, 1},
    {"refund", -1, 1},       {"reliable", 1, 0},      {"responsive", 1, 0},
    {"returning", -1, 1},    {"rich", 1, 0},          {"robust", 1, 0},
    {"roomy", 1, 0},         {"sadly", -1, 1},        {"safe", 1, 0},
    {"satisfied", 1, 1},     {"scratches", -1, 0},    {"secure", 1, 0},
    {"sharp", 1, 0},         {"short", -1, 0},        {"sleek", 1, 0},
    {"slips", -1, 0},        {"slow", -1, 0},         {"smooth", 1, 0},
    {"smoothly", 1, 0},      {"soft", 1, 0},          {"solid", 1, 0},
    {"spacious", 1, 0},      {"stable", 1, 0},        {"stale", -1, 0},
    {"steady", 1, 0},        {"stiff", -1, 0},        {"sturdy", 1, 0},
    {"stylish", 1, 0},       {"subtle", 1, 0},        {"superb", 2, 1},
    {"terrible", -2, 1},     {"terrific", 2, 1},      {"thin", -1, 0},
    {"tight", 1, 0},         {"tinny", -1, 0},        {"uncomfortable", -1, 0},
    {"uncomfortably", -1, 0}, {"underpowered", -1, 0}, {"unfortunately", -1, 1},
    {"unreliable", -1, 0},   {"unsafe", -1, 0},       {"unstable", -1, 0},
    {"useful", 1, 0},        {"useless", -2, 0},      {"versatile", 1, 0},
    {"vivid", 1, 0},         {"waste", -2, 1},        {"weak", -1, 0},
    {"well", 1, 0},          {"wobbles", -1, 0},      {"wobbly", -1, 0},
    {"wonderful", 2, 1},     {"worse", -1, 1},        {"worst", -2, 1},
    {"worth", 1, 0},         {"worthless", -2, 0},    {"wrong", -1, 0},
};
#define NOPINIONS (sizeof OPINIONS / sizeof OPINIONS[0])

/* Words that turn the opinion after them around. */
static const char *const NEGATORS[] = {
    "aren't", "barely", "can't", "cannot", "couldn't", "didn't", "doesn't", "don't", "hardly",
    "isn't", "neither", "never", "no", "nor", "not", "nothing", "wasn't", "without", "won't",
    "wouldn't",
};
#define NNEGATORS (sizeof NEGATORS / sizeof NEGATORS[0])

/* Content words that are not aspects: common verbs (in the forms reviews use), time and
 * quantity words, people, star counts ("Five Stars"), and words that only frame a sentence.
 * Function words, pronouns and empty adverbs are keywords.c's stop list. */
static const char *const NOT_ASPECT[] = {
    "ago", "anyone", "arrived", "bit", "bought", "buy", "came", "carry", "choose", "choosing",
    "come", "comes", "compared", "dad", "daughter", "day", "days", "deserves", "does",
    "everyone", "everything", "expect", "expected", "feel", "feels", "felt", "find", "five",
    "found", "four", "friend", "friends", "gave", "get", "gets", "getting", "gift", "give",
    "gives", "giving", "go", "goes", "going", "gone", "got", "guess", "guy", "guys", "held",
    "help", "hold", "holds", "hope", "hour", "hours", "husband", "item", "job", "keep", "keeps",
    "kept", "knew", "know", "known", "last", "lasts", "least", "let", "look", "looked", "looks",
    "made", "make", "makes", "mean", "minute", "minutes", "mom", "month", "months", "need",
    "needed", "needs", "new", "nothing", "old", "order", "ordered", "overall", "part", "people",
    "person", "pick", "picked", "pretty", "product", "products", "purchase", "put", "really",
    "received", "reservation", "reservations", "review", "right", "run", "runs", "said", "saw",
    "say", "see", "seem", "seems", "seen", "side", "sister", "someone", "son", "star", "stars",
    "start", "started", "stay", "stays", "stop", "stopped", "take", "takes", "tell", "thank",
    "think", "thought", "three", "time", "times", "told", "took", "tried", "try", "trying",
    "turn", "turned", "two", "use", "used", "using", "want", "wanted", "way", "week", "weeks",
    "went", "wife", "wish", "work", "works", "year", "years",
};
#define NNOT_ASPECT (sizeof NOT_ASPECT / sizeof NOT_ASPECT[0])

static int cmp_str_key(const void *key, const void *elem) {
    return strcmp((const char *)key, *(const char *const *)elem);
}

static int cmp_opinion_key(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const opinion *)elem)->word);
}

static const opinion *find_opinion(const char *w) {
    return bsearch(w, OPINIONS, NOPINIONS, sizeof OPINIONS[0], cmp_opinion_key);
}

static int is_negator(const char *w) {
    return bsearch(w, NEGATORS, NNEGATORS, sizeof NEGATORS[0], cmp_str_key) != NULL;
}

static int is_not_aspect(const char *w) {
    return bsearch(w, NOT_ASPECT, NNOT_ASPECT, sizeof NOT_ASPECT[0], cmp_str_key) != NULL;
}

int kw_builtin_lists_check(void) {
    for (size_t i = 1; i < NOPINIONS; i++)
        if (strcmp(OPINIONS[i - 1].word, OPINIONS[i].word) >= 0) return 1;
    for (size_t i = 1; i < NNEGATORS; i++)
        if (strcmp(NEGATORS[i - 1], NEGATORS[i]) >= 0) return 2;
    for (size_t i = 1; i < NNOT_ASPECT; i++)
        if (strcmp(NOT_ASPECT[i - 1], NOT_ASPECT[i]) >= 0) return 3;
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Sentences
 * ---------------------------------------------------------------------------------------- */

#define MAX_TOKENS 64

enum { T_CONTENT, T_STOP, T_NEG, T_OPINION, T_OTHER, T_NAME };

typedef struct token {
    char w[32];
    int cls;
    int score;  /* opinion score after negation */
    int cue;
    int name_case; /* written with a capital and a small letter ("Rollins", not "USB") */
    int start;     /* the first word of its sentence */
} token;

/* Lower-case words of text[0..n) (letters, digits, inner ' and -), at most MAX_TOKENS; a word
 * longer than 31 bytes is skipped. Returns the count. */
static int tokenize(const char *text, size_t n, token *tok) {
    int nt = 0;
    size_t i = 0;
    while (i < n && nt < MAX_TOKENS) {
        unsigned char c = (unsigned char)text[i];
        int wc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!wc) {
            i++;
            continue;
        }
        size_t b = i, len = 0;
        int upper = c >= 'A' && c <= 'Z', lower = 0;
        char w[32];
        while (i < n) {
            c = (unsigned char)text[i];
            int in = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            int join = (c == '\'' || c == '-') && i > b && i + 1 < n &&
                       ((text[i + 1] | 32) >= 'a' && (text[i + 1] | 32) <= 'z');
            if (!in && !join) break;
            lower |= c >= 'a' && c <= 'z';
            if (len < sizeof w - 1) w[len] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            len++;
            i++;
        }
        if (len >= sizeof w) continue;
        w[len] = '\0';
        memcpy(tok[nt].w, w, len + 1);
        tok[nt].name_case = upper && lower;
        tok[nt].start = nt == 0;
        nt++;
    }
    return nt;
}

static int ends_with(const char *w, const char *suf) {
    size_t n = strlen(w), k = strlen(suf);
    return n > k + 2 && strcmp(w + n - k, suf) == 0;
}

/* Classifies the tokens and applies negation; returns the sentence's opinion score and
 * whether it has any opinion word. */
static int classify(token *t, int nt, int *has_opinion) {
    int score = 0, last_neg = -100;
    *has_opinion = 0;
    for (int i = 0; i < nt; i++) {
        const char *w = t[i].w;
        size_t len = strlen(w);
        const opinion *o = find_opinion(w);
        t[i].score = 0;
        t[i].cue = 0;
        if (is_negator(w) || (len > 3 && strcmp(w + len - 3, "n't") == 0)) {
            t[i].cls = T_NEG;
            last_neg = i;
        } else if (o) {
            t[i].cls = T_OPINION;
            t[i].score = i - last_neg <= 3 ? -o->score : o->score;
            t[i].cue = o->cue;
            score += t[i].score;
            *has_opinion = 1;
        } else if (kw_is_stop(w, len)) {
            t[i].cls = T_STOP;
        } else if (is_not_aspect(w) || ends_with(w, "ly") || ends_with(w, "ed") ||
                   (i > 0 && strcmp(t[i - 1].w, "to") == 0) || !((w[0] | 32) >= 'a' &&
                                                                (w[0] | 32) <= 'z')) {
            t[i].cls = T_OTHER; /* verbs, adverbs, numbers */
        } else if (t[i].name_case && !t[i].start) {
            t[i].cls = T_NAME; /* "Sonny Rollins", "Kind of Blue": a name, not an aspect */
        } else {
            t[i].cls = T_CONTENT;
        }
    }
    return score;
}

int kw_opinion_score(const char *text, size_t n) {
    token tok[MAX_TOKENS];
    int nt = tokenize(text, n, tok), has;
    return classify(tok, nt, &has);
}

/* Emits the normalized words t[b..e) joined by spaces. */
static void emit_span(const token *t, int b, int e, int pol,
                      void (*emit)(void *, const char *, int), void *ctx) {
    char raw[160], norm[KW_MAX_BYTES + 1];
    size_t len = 0;
    for (int i = b; i < e; i++) {
        size_t wl = strlen(t[i].w);
        if (len + wl + 1 >= sizeof raw) return;
        if (i > b) raw[len++] = ' ';
        memcpy(raw + len, t[i].w, wl);
        len += wl;
    }
    if (kw_normalize(raw, len, norm, sizeof norm)) emit(ctx, norm, pol);
}

/* One clause: its phrases with their polarity. */
static void clause_phrases(token *t, int nt, int rating_sign,
                           void (*emit)(void *, const char *, int), void *ctx) {
    int has;
    int score = classify(t, nt, &has);
    if (!has) return;
    int pol = score > 0 ? 1 : score < 0 ? -1 : rating_sign;
    if (!pol) return;
    int found = 0;
    for (int i = 0; i < nt;) {
        if (t[i].cls != T_CONTENT) {
            i++;
            continue;
        }
        int b = i;
        while (i < nt && t[i].cls == T_CONTENT) i++;
        /* A noun phrase: at most its last three words ("very strong chemical smell" keeps
         * "strong chemical smell"). */
        emit_span(t, i - b > 3 ? i - 3 : b, i, pol, emit, ctx);
        found = 1;
    }
    if (found) return;
    /* No aspect named: the descriptive opinion words that agree with the clause's polarity
     * ("not great" says nothing about what; "uncomfortable quickly" is not about speed), with
     * "to <verb>" or a verb form after them ("easy to use", "well made"); adverbs in -ly
     * only when nothing else describes ("it runs quietly"). */
    int plain = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < nt; i++) {
            if (t[i].cls != T_OPINION || t[i].cue || (t[i].score > 0) != (pol > 0)) continue;
            int adverb = ends_with(t[i].w, "ly");
            if (adverb != pass) continue;
            if (pass == 1 && plain) break;
            int e = i + 1;
            if (i + 2 < nt && strcmp(t[i + 1].w, "to") == 0) e = i + 3;
            else if (i + 1 < nt && t[i + 1].cls == T_OTHER) e = i + 2;
            emit_span(t, i, e, pol, emit, ctx);
            plain += !adverb;
        }
    }
}

void kw_sentence_phrases(const char *text, size_t n, int rating_sign,
                         void (*emit)(void *ctx, const char *kw, int polarity), void *ctx) {
    size_t i = 0;
    while (i < n) {
        /* One sentence: up to . ! ? ; or a line break. */
        size_t b = i;
        while (i < n && text[i] != '.' && text[i] != '!' && text[i] != '?' && text[i] != ';' &&
               text[i] != '\n')
            i++;
        token tok[MAX_TOKENS];
        int nt = tokenize(text + b, i - b, tok);
        /* In a title-cased sentence ("Great Sound, Poor Battery") capitals name nothing. */
        int capitals = 0;
        for (int k = 1; k < nt; k++) capitals += tok[k].name_case;
        if (nt > 2 && 2 * capitals >= nt - 1)
            for (int k = 0; k < nt; k++) tok[k].name_case = 0;
        /* Clauses at "but": "nice color but the zipper jams" speaks of two things. */
        int cb = 0;
        for (int k = 0; k <= nt; k++) {
            if (k == nt || strcmp(tok[k].w, "but") == 0) {
                if (k > cb) clause_phrases(tok + cb, k - cb, rating_sign, emit, ctx);
                cb = k + 1;
            }
        }
        if (i < n) i++;
    }
}

/* ------------------------------------------------------------------------------------------
 * Passes
 * ---------------------------------------------------------------------------------------- */

/* A reason in the canonical shape. */
static cJSON *reason(const char *evidence, size_t ev_len, const char *kw, int64_t support) {
    cJSON *r = cJSON_CreateObject();
    if (!r) return NULL;
    char ev[240];
    if (ev_len >= sizeof ev) ev_len = sizeof ev - 1;
    memcpy(ev, evidence ? evidence : "", evidence ? ev_len : 0);
    ev[evidence ? ev_len : 0] = '\0';
    /* A cut inside a UTF-8 sequence: back off to the last whole character. */
    while (ev_len > 0 && us_utf8_check(ev, ev_len) >= 0) ev[--ev_len] = '\0';
    cJSON *k = cJSON_CreateArray();
    if (!k || !cJSON_AddItemToObject(r, "keywords", k) ||
        !cJSON_AddItemToArray(k, cJSON_CreateString(kw)) ||
        !cJSON_AddStringToObject(r, "evidence", ev) ||
        (support != 1 && !cJSON_AddNumberToObject(r, "support", (double)support))) {
        if (k && !cJSON_GetObjectItemCaseSensitive(r, "keywords")) cJSON_Delete(k);
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static cJSON *new_result(void) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (!cJSON_AddNullToObject(o, "category") || !cJSON_AddArrayToObject(o, "pros") ||
        !cJSON_AddArrayToObject(o, "cons")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Phrase tallies of one item: the votes of the reviews, each review voting once per phrase. */
typedef struct tally {
    us_strtab *tab;
    US_VEC(int64_t) pos, neg;   /* reviews for / against, per phrase */
    US_VEC(int64_t) seen;       /* the review that last voted (one vote per review) */
    US_VEC(int) vote;           /* that review's summed polarity so far */
    US_VEC(const char *) ev_text[2];
    US_VEC(size_t) ev_len[2];
    int64_t review;             /* current review number */
    const char *sent;           /* current sentence, for evidence */
    size_t sent_len;
    US_VEC(char *) texts;       /* the decoded texts the evidence points into */
    int oom;
} tally;

static void tally_emit(void *ctx, const char *kw, int pol) {
    tally *t = ctx;
    uint32_t id;
    int is_new;
    if (t->oom || us_strtab_intern(t->tab, kw, strlen(kw), &id, &is_new) != US_OK) {
        t->oom = 1;
        return;
    }
    if (is_new) {
        if (us_vec_push(&t->pos, 0) || us_vec_push(&t->neg, 0) || us_vec_push(&t->seen, -1) ||
            us_vec_push(&t->vote, 0) || us_vec_push(&t->ev_text[0], NULL) ||
            us_vec_push(&t->ev_text[1], NULL) || us_vec_push(&t->ev_len[0], 0) ||
            us_vec_push(&t->ev_len[1], 0)) {
            t->oom = 1;
            return;
        }
    }
    if (t->seen.data[id] != t->review) { /* first mention in this review */
        t->seen.data[id] = t->review;
        t->vote.data[id] = 0;
    }
    /* The review's vote is the sign of its mentions; move the phrase's count accordingly. */
    int before = t->vote.data[id], after = before + pol;
    if (before > 0) t->pos.data[id]--;
    if (before < 0) t->neg.data[id]--;
    if (after > 0) t->pos.data[id]++;
    if (after < 0) t->neg.data[id]++;
    t->vote.data[id] = after;
    int side = pol > 0 ? 0 : 1;
    if (!t->ev_text[side].data[id]) {
        t->ev_text[side].data[id] = t->sent;
        t->ev_len[side].data[id] = t->sent_len;
    }
}

static void tally_free(tally *t) {
    us_strtab_free(t->tab);
    free(t->pos.data);
    free(t->neg.data);
    free(t->seen.data);
    free(t->vote.data);
    for (int s = 0; s < 2; s++) {
        free(t->ev_text[s].data);
        free(t->ev_len[s].data);
    }
    for (size_t i = 0; i < t->texts.len; i++) free(t->texts.data[i]);
    free(t->texts.data);
}

/* The item's own names, which reviews mention without them being a reason: its category
 * entries and brand, normalized, and the words of its title and brand, in which any word
 * sequence is a name ("kind of blue" in a review of the album "Kind of Blue", "sonny rollins"
 * for an album by him), not an aspect. */
typedef struct own_names {
    char name[8][KW_MAX_BYTES + 1];
    int n;
    char words[1024]; /* " title words | brand words " */
} own_names;

static void own_names_add(own_names *o, const char *s) {
    if (!s || o->n >= 8) return;
    if (kw_normalize(s, strlen(s), o->name[o->n], sizeof o->name[0])) o->n++;
}

/* Appends the words of s (entities decoded, lower case, singular) to o->words, each followed
 * by a space, then a "|" so that no sequence runs from the title into the brand. */
static void own_words_add(own_names *o, const char *s) {
    if (!s) return;
    char buf[512];
    size_t n = strlen(s), len = strlen(o->words);
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    n = kw_html_decode(buf, n);
    buf[n] = '\0';
    token tok[MAX_TOKENS];
    int nt = tokenize(buf, n, tok);
    for (int i = 0; i < nt; i++) {
        size_t wl = kw_singular(tok[i].w, strlen(tok[i].w));
        if (len + wl + 3 >= sizeof o->words) break;
        memcpy(o->words + len, tok[i].w, wl);
        len += wl;
        o->words[len++] = ' ';
    }
    memcpy(o->words + len, "| ", 3);
}

static void own_names_of(const kw_item_meta *m, own_names *o, cJSON **cats) {
    o->n = 0;
    memcpy(o->words, " ", 2);
    *cats = m->categories_json ? cJSON_Parse(m->categories_json) : NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, *cats) {
        if (cJSON_IsString(c)) own_names_add(o, c->valuestring);
    }
    own_names_add(o, m->brand);
    own_words_add(o, m->title);
    own_words_add(o, m->brand);
}

static int is_own_name(const own_names *o, const char *kw) {
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->name[i], kw) == 0) return 1;
    char pat[KW_MAX_BYTES + 3];
    snprintf(pat, sizeof pat, " %s ", kw);
    return strstr(o->words, pat) != NULL;
}

/* Runs the sentence extractor over text, one sentence at a time so that evidence is the
 * sentence. */
static void tally_text(tally *t, const char *raw, int rating_sign) {
    if (!raw || t->oom) return;
    /* HTML entities decoded first ("&quot;" is not a word): in a copy the evidence points
     * into, kept until the result is built. */
    size_t n = strlen(raw), i = 0;
    char *text = malloc(n + 1);
    if (!text || us_vec_push(&t->texts, text) != US_OK) {
        free(text);
        t->oom = 1;
        return;
    }
    memcpy(text, raw, n + 1);
    n = kw_html_decode(text, n);
    text[n] = '\0';
    while (i < n) {
        while (i < n && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) i++;
        size_t b = i;
        while (i < n && text[i] != '.' && text[i] != '!' && text[i] != '?' && text[i] != '\n')
            i++;
        if (i < n) i++;
        t->sent = text + b;
        t->sent_len = i - b;
        kw_sentence_phrases(text + b, i - b, rating_sign, tally_emit, t);
    }
}

/* Adds the tallied phrases with at least min_votes votes to res's pros and cons. */
static us_status tally_result(const tally *t, const own_names *own, int64_t min_votes,
                              cJSON *res) {
    cJSON *lists[2] = {cJSON_GetObjectItemCaseSensitive(res, "pros"),
                       cJSON_GetObjectItemCaseSensitive(res, "cons")};
    uint32_t n = us_strtab_count(t->tab);
    for (uint32_t id = 0; id < n; id++) {
        int64_t p = t->pos.data[id], q = t->neg.data[id];
        if (p + q < min_votes || p == q) continue;
        const char *kw = us_strtab_get(t->tab, id, NULL);
        if (is_own_name(own, kw)) continue;
        int side = p > q ? 0 : 1;
        cJSON *r = reason(t->ev_text[side].data[id], t->ev_len[side].data[id], kw,
                          side ? q : p);
        if (!r) return US_ENOMEM;
        cJSON_AddItemToArray(lists[side], r);
    }
    return US_OK;
}

us_status kw_builtin_objective(const kw_item_meta *m, cJSON **out) {
    *out = NULL;
    cJSON *res = new_result(), *cats = NULL, *attrs = NULL;
    tally t = {0};
    us_status st = US_ENOMEM;
    if (!res || us_strtab_init(&t.tab) != US_OK) goto done;
    own_names own;
    own_names_of(m, &own, &cats);
    cJSON *pros = cJSON_GetObjectItemCaseSensitive(res, "pros");
    /* The category is left to the driver (kw_category_choose: it depends on the catalogue).
     * Pros: every genre of a list; every entry of a path past its root (the first entry is
     * often the store's root, "Synthetic" or "Video Games" for a whole dump). */
    int nc = cJSON_IsArray(cats) ? cJSON_GetArraySize(cats) : 0;
    for (int i = nc >= 2 && !m->category_list ? 1 : 0; i < nc; i++) {
        const cJSON *c = cJSON_GetArrayItem(cats, i);
        if (!cJSON_IsString(c)) continue;
        cJSON *r = m->category_list ? reason("genre", 5, c->valuestring, 1)
                                    : reason("category", 8, c->valuestring, 1);
        if (!r) goto done;
        cJSON_AddItemToArray(pros, r);
    }
    if (m->brand && m->brand[0]) {
        cJSON *r = reason("brand", 5, m->brand, 1);
        if (!r) goto done;
        cJSON_AddItemToArray(pros, r);
    }
    /* Features "Name: text": the name is an advertised reason to like the item. */
    attrs = m->attributes_json ? cJSON_Parse(m->attributes_json) : NULL;
    const cJSON *feat = cJSON_GetObjectItemCaseSensitive(attrs, "feature"), *f;
    cJSON_ArrayForEach(f, feat) {
        if (!cJSON_IsString(f)) continue;
        const char *colon = strchr(f->valuestring, ':');
        if (!colon || colon == f->valuestring || colon - f->valuestring > 40) continue;
        char kw[64];
        size_t len = (size_t)(colon - f->valuestring);
        memcpy(kw, f->valuestring, len);
        kw[len] = '\0';
        cJSON *r = reason(f->valuestring, strlen(f->valuestring), kw, 1);
        if (!r) goto done;
        cJSON_AddItemToArray(pros, r);
    }
    /* Description sentences with an opinion: their aspect phrases, by polarity. */
    t.review = 0;
    tally_text(&t, m->description, 0);
    if (t.oom || tally_result(&t, &own, 1, res) != US_OK) goto done;
    *out = res;
    res = NULL;
    st = US_OK;
done:
    tally_free(&t);
    cJSON_Delete(cats);
    cJSON_Delete(attrs);
    cJSON_Delete(res);
    return st;
}

us_status kw_builtin_subjective(const kw_item_meta *m, const kw_review *reviews, size_t n,
                                const kw_scale *scale, double min_share, cJSON **out) {
    *out = NULL;
    cJSON *res = new_result(), *cats = NULL;
    tally t = {0};
    us_status st = US_ENOMEM;
    if (!res || us_strtab_init(&t.tab) != US_OK) goto done;
    own_names own;
    own_names_of(m, &own, &cats);
    /* Rating sign: one scale step above the like threshold is high, below it low (1-5 with
     * threshold 3: 4-5 high, 1-2 low, 3 neither). */
    double step = scale->max - scale->min > 5 ? 2 : 1;
    for (size_t r = 0; r < n; r++) {
        double x = reviews[r].rating;
        int rs = x >= scale->like_threshold + step ? 1
                 : x <= scale->like_threshold - step ? -1 : 0;
        t.review = (int64_t)r;
        tally_text(&t, reviews[r].title, rs);
        tally_text(&t, reviews[r].text, rs);
        if (t.oom) goto done;
    }
    /* Enough votes: at least 2 reviews and min_share of them. */
    int64_t min_votes = (int64_t)ceil(min_share * (double)n);
    if (min_votes < 2) min_votes = 2;
    if (tally_result(&t, &own, min_votes, res) != US_OK) goto done;
    *out = res;
    res = NULL;
    st = US_OK;
done:
    tally_free(&t);
    cJSON_Delete(cats);
    cJSON_Delete(res);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * The category
 * ---------------------------------------------------------------------------------------- */

us_status kw_catalogue_init(kw_catalogue *c, const kw_item_meta *items, size_t n) {
    memset(c, 0, sizeof *c);
    if (us_strtab_init(&c->tab) != US_OK) return US_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        cJSON *cats = items[i].categories_json ? cJSON_Parse(items[i].categories_json) : NULL;
        const cJSON *e;
        cJSON_ArrayForEach(e, cats) {
            if (!cJSON_IsString(e) || !e->valuestring[0]) continue;
            uint32_t id;
            int is_new;
            if (us_strtab_intern(c->tab, e->valuestring, strlen(e->valuestring), &id,
                                 &is_new) != US_OK ||
                (is_new && us_vec_push(&c->n, 0) != US_OK)) {
                cJSON_Delete(cats);
                kw_catalogue_free(c);
                return US_ENOMEM;
            }
            /* Once per item: an entry repeated in one item's list counts once. */
            int seen = 0;
            const cJSON *p;
            cJSON_ArrayForEach(p, cats) {
                if (p == e) break;
                if (cJSON_IsString(p) && !strcmp(p->valuestring, e->valuestring)) seen = 1;
            }
            if (!seen) c->n.data[id]++;
        }
        cJSON_Delete(cats);
    }
    return US_OK;
}

void kw_catalogue_free(kw_catalogue *c) {
    if (!c) return;
    us_strtab_free(c->tab);
    free(c->n.data);
    memset(c, 0, sizeof *c);
}

int64_t kw_catalogue_count(const kw_catalogue *c, const char *entry) {
    uint32_t id;
    if (!c || !c->tab || !us_strtab_find(c->tab, entry, strlen(entry), &id)) return 0;
    return c->n.data[id];
}

size_t kw_category_choose(const kw_item_meta *m, const kw_catalogue *c, char *buf, size_t cap) {
    buf[0] = '\0';
    cJSON *cats = m->categories_json ? cJSON_Parse(m->categories_json) : NULL;
    int nc = cJSON_IsArray(cats) ? cJSON_GetArraySize(cats) : 0;
    /* The candidates: every genre of a list; the entries of a path past its root. */
    int from = nc >= 2 && !m->category_list ? 1 : 0;
    const char *best = NULL, *fallback = NULL;
    int64_t best_n = 0;
    for (int i = from; i < nc; i++) {
        const cJSON *e = cJSON_GetArrayItem(cats, i);
        if (!cJSON_IsString(e) || !e->valuestring[0]) continue;
        if (!fallback) fallback = e->valuestring;
        int64_t k = kw_catalogue_count(c, e->valuestring);
        if (k < 2) continue; /* on no other item: groups the item with nothing */
        /* The rarest; ties: a list's first genre, a path's deeper entry. */
        if (!best || k < best_n || (k == best_n && !m->category_list)) {
            best = e->valuestring;
            best_n = k;
        }
    }
    if (!best) best = fallback;
    size_t len = 0;
    if (best) {
        len = strlen(best);
        if (len >= cap) len = 0; /* a name this long is no category */
        memcpy(buf, best, len);
        buf[len] = '\0';
    }
    cJSON_Delete(cats);
    return len;
}
