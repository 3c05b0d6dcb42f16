/* synth.c — the synthetic data generator: a population of users and items drawn from a small
 * generative model with known truth, written in the Amazon 2018 format so that it goes through
 * the same reader as real data.
 *
 *   <out>/Synthetic_5.json.gz      reviews, one JSON object per line (Amazon 2018 5-core fields)
 *   <out>/meta_Synthetic.json.gz   item metadata, one JSON object per line (Amazon 2018 meta)
 *   <out>/truth.csv                user,item,p_like,rating,label for every review written
 *   <out>/aspects.csv              item,aspect,quality,good,bad: every item's planted aspects
 *                                  (quality +1 good, -1 bad) with the clauses reviews use for
 *                                  the aspect in a good and a bad experience
 *
 * The model (all draws from PCG32 streams derived from cfg.seed, see `stream`):
 *
 *   Items i = 0..I-1
 *     c_i   ~ Uniform{0..C-1}                         category
 *     pi_i  ~ U(0.55, 0.95)                           share of good aspects of this item
 *     A_i   = k_i aspects, k_i ~ U{3..6}, drawn without replacement from the aspects that make
 *             sense for the category (a family mask per category and aspect; all A if < 3 fit)
 *     q_ia  = +1 with probability pi_i, else -1       quality sign of aspect a on item i
 *     pop_i = (rank_i + 10)^-0.9                      Zipf-Mandelbrot popularity, rank a random
 *                                                     permutation of 0..I-1
 *   Users u = 0..U-1
 *     b_u     ~ N(bias, SD_BIAS^2)                    rating bias (bias: the config's, 0.35)
 *     aff_uc  ~ N(0, SD_AFF^2) + U(AFF_LO, AFF_HI) for 1-3 liked categories
 *                              - U(AFF_LO, AFF_HI) for 1-2 disliked categories
 *     w_ua(0) ~ N(MU_W, SD_W^2)                       aspect taste (how much u values aspect a
 *                                                     being good; negative: u prefers its
 *                                                     opposite)
 *   History length: n_u = lo + round share of (R - lo U) proportional to x_u = exp(1.2 z_u),
 *     z_u ~ N(0, 1) (log-normal, heavy-tailed), capped at hi (the excess handed to users below
 *     hi), the total exactly R: lo and hi are the config's min_history (default 5) and
 *     max_history (default 0, meaning I); R is raised to lo U when smaller and lowered to
 *     hi U when larger.
 *   Item choice: n_u distinct items, each next one drawn with probability proportional to
 *     pop_i * exp(taste * aff_u,c_i) among the items u has not chosen yet; taste is the
 *     config's choice_taste (default 3: users pick mostly from the categories they like, as
 *     people do with genres, so that who chooses what is more than popularity; 1 was the
 *     earlier model, whose choices popularity alone ranked about as well as any model).
 *   Days: user u is active over S_u = max(n_u, U{60..1499}) days starting on a uniform day
 *     between 2010-01-01 and 2018-10-01 - S_u; review j is on day start + j + floor((S_u - n_u)
 *     * (E_0 + ... + E_j) / (E_0 + ... + E_n)) with E ~ Exp(1): strictly increasing, gaps of
 *     whole days, at midnight UTC as Amazon's unixReviewTime.
 *   Review t of user u on item i (in the user's chronological order):
 *     s        = b_u + aff_u,c_i + k_i^-1/2 * sum_{a in A_i} w_ua(t) q_ia     preference match
 *     rating   = clamp(round(3 + s + noise * eps), 1, 5),  eps ~ N(0, 1)
 *     p_like   = P(rating >= 3) = P(3 + s + noise * eps >= 2.5) = Phi((s + 0.5) / noise)
 *              = erfc(-(s + 0.5) / (noise * sqrt 2)) / 2                     (exact truth)
 *     w_u(t+1) = w_u(t) + drift * eta,  eta ~ N(0, I_A)                      taste drift
 *   The k_i^-1/2 keeps the aspect term's spread the same whatever k_i (a sum of k_i terms of
 *   spread SD_W). Constants (below): SD_BIAS 0.35, SD_AFF 0.2, AFF 0.4-0.9, MU_W 0.25,
 *   SD_W 0.55; with the config defaults (bias 0.35, noise 0.8, drift 0.05, choice taste 3)
 *   the like rate (rating >= 3) is 0.91, the ratings 1-5 are 1/8/22/33/35 %, and p_like ranks
 *   the labels with an AUC of 0.89: informative but noisy, as real labels (with choice taste
 *   1, users also pick the categories they dislike: 0.87, 2/11/27/33/27 %, 0.87).
 *
 * Item side of the 5-core: after the users have chosen, every item with fewer than
 * min(5, U) reviewers gets more from users who have not reviewed it and are below
 * max_history (chosen with weight exp(aff_u,c_i), stream TOPUP), appended at the end of their
 * history a few days later (days rather than weeks when there are many top-ups per user, so
 * histories stay within a few years; configs with far more items than reviews can cover still
 * run past 2018). Hence every user has min_history..max_history reviews, and every item
 * >= min(5, U) unless every user who could still review it is at max_history (possible only
 * with a cap tight enough that the users have little room left after their own choices):
 * with min_history >= 5 the files are a 5-core whenever U >= 5, and the total is R plus
 * those top-ups.
 *
 * A MovieLens-100K-like shape (a shape match only: nothing here is MovieLens data, and the
 * items, text and dates stay Amazon-like):
 *   usersim synth --users 943 --items 1682 --reviews 100000 --min-history 20
 *                 --max-history 700 --bias 0.05
 * gives (seed 1, measured on the store usersim ingest makes of it) 943 users, 1,682 items,
 * 100,000 interactions (no top-up needed), history lengths min 25 / median 65 / mean 106.0 /
 * max 700 (9 users at the cap), 14 to 501 reviewers per item, like rate 0.826 with ratings
 * 1-5 at 4/13/27/30/25 %; MovieLens 100K has at least 20 ratings per user and about 82% of
 * its ratings >= 3. The like rate moves about 2 points per 0.1 of bias at this shape (bias 0:
 * 0.816, 0.1: 0.836, 0.35: 0.880). The shortest history is 25 rather than 20 because every
 * user also gets a share of the extra reviews.
 *
 * Review text: 2-5 sentences: an optional opener naming the product noun, brand or category;
 * the aspects the user liked (w_ua q_ia > 0, strongest first) in their positive phrasing and
 * those disliked (w_ua q_ia < 0) in their negative phrasing, each in one of several
 * templates; and a closer matching the rating. The summary is a short phrase matching the
 * rating. So a keyword extractor can recover each user's likes and dislikes from text.
 *
 * Determinism: stream(seed, domain, index) = us_rng_derive(seed, index * NDOMAIN + domain),
 * one stream per item, per user and per purpose, so the same config gives the same bytes
 * (gzip at the same zlib version and level included). The files are written as "<name>.tmp"
 * and renamed into place once all four are complete.
 *
 * It deliberately does not model review helpfulness (votes), images, product styles,
 * also_buy/also_view links, time-varying item popularity or users leaving; and it does not
 * read anything: the store is built by us_ingest from these files, like any real dataset.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <zlib.h>

#include "datasets/datasets.h"

/* ------------------------------------------------------------------------------------------
 * Model constants
 * ---------------------------------------------------------------------------------------- */

#define MIN_PER_ITEM 5   /* every item is topped up to this many reviewers (if U allows) */
#define MIN_ASPECTS 3    /* aspects per item: U{MIN_ASPECTS..MAX_ASPECTS} */
#define MAX_ASPECTS 6
#define POP_OFFSET 10.0  /* pop_i = (rank + POP_OFFSET)^-POP_EXPONENT */
#define POP_EXPONENT 0.9
#define GOOD_LO 0.55     /* pi_i ~ U(GOOD_LO, GOOD_HI) */
#define GOOD_HI 0.95
#define SD_BIAS 0.35     /* b_u ~ N(cfg.bias, SD_BIAS^2) */
#define MAX_BIAS 3.0     /* cfg.bias in [-MAX_BIAS, MAX_BIAS]: at 3 nearly every rating is
                            already clamped to 5, at -3 to 1 */
#define SD_AFF 0.2       /* background category affinity spread */
#define AFF_LO 0.4       /* liked/disliked category affinity magnitude ~ U(AFF_LO, AFF_HI) */
#define AFF_HI 0.9
#define MU_W 0.25        /* w_ua(0) ~ N(MU_W, SD_W^2) */
#define SD_W 0.55
#define COUNT_SIGMA 1.2  /* history length weights x_u = exp(COUNT_SIGMA z) */
#define SPAN_MIN 60      /* active span of a user in days: U{SPAN_MIN..SPAN_MAX-1} */
#define SPAN_MAX 1500
#define TOPUP_GAP 30.0   /* mean gap (days) before a top-up review: 1 + Exp(mean <= this) */
#define P_VERIFIED 0.9   /* share of "verified": true */
#define MAX_REVIEWS 1000000000ULL /* caps on the sizes, so that R plus the top-ups */
#define MAX_ITEMS 100000000u      /* (<= 5 I) fits the 32-bit review indices */
#define CHOICE_TRIES 64  /* rejection tries before the exact (slow) item draw */
#define TOPUP_TRIES 256  /* rejection tries before the exact (slow) top-up draw */

/* Stream domains: stream(seed, d, index) = us_rng_derive(seed, index * NDOMAIN + d). */
enum { D_WORLD, D_ITEM, D_PARAM, D_COUNT, D_PLAN, D_TOPUP, D_RATE, NDOMAIN };

static us_rng stream(uint64_t seed, int domain, uint64_t index) {
    return us_rng_derive(seed, index * NDOMAIN + (uint64_t)domain);
}

/* ------------------------------------------------------------------------------------------
 * Word tables
 * ---------------------------------------------------------------------------------------- */

/* Product families, for which aspects make sense in which category. */
enum { F_E = 1, F_W = 2, F_C = 4, F_M = 8, F_ALL = 15 }; /* electronic, wearable, consumable,
                                                            mechanical / hard goods */

typedef struct cat_def {
    const char *name, *main_cat;
    unsigned fam;
    const char *noun[3]; /* product nouns, singular, lower case */
    const char *sub[3];  /* the matching sub-category of the category path */
    int price;           /* median price in dollars */
} cat_def;

static const cat_def CATS[] = {
    {"Audio", "All Electronics", F_E, {"speaker", "headset", "soundbar"},
     {"Speakers", "Headsets", "Soundbars"}, 45},
    {"Kitchen", "Amazon Home", F_E | F_M, {"blender", "kettle", "knife set"},
     {"Blenders", "Kettles", "Knife Sets"}, 35},
    {"Outdoor", "Sports & Outdoors", F_W | F_M, {"tent", "backpack", "lantern"},
     {"Tents", "Backpacks", "Lanterns"}, 60},
    {"Toys", "Toys & Games", F_M, {"puzzle", "building set", "plush toy"},
     {"Puzzles", "Building Sets", "Plush Toys"}, 20},
    {"Beauty", "All Beauty", F_C, {"moisturizer", "lipstick", "shampoo"},
     {"Moisturizers", "Lipsticks", "Shampoos"}, 18},
    {"Office", "Office Products", F_M, {"desk lamp", "stapler", "notebook"},
     {"Desk Lamps", "Staplers", "Notebooks"}, 15},
    {"Garden", "Lawn & Garden", F_M, {"garden hose", "pruner", "planter"},
     {"Garden Hoses", "Pruners", "Planters"}, 25},
    {"Pet Supplies", "Pet Supplies", F_W | F_M, {"dog bed", "cat toy", "leash"},
     {"Dog Beds", "Cat Toys", "Leashes"}, 22},
    {"Automotive", "Automotive", F_E | F_M, {"dash cam", "car charger", "seat cover"},
     {"Dash Cams", "Car Chargers", "Seat Covers"}, 30},
    {"Video Games", "Video Games", F_E, {"controller", "gaming mouse", "headset stand"},
     {"Controllers", "Gaming Mice", "Stands"}, 40},
    {"Fitness", "Sports & Outdoors", F_E | F_M | F_W, {"yoga mat", "dumbbell set", "tracker"},
     {"Yoga Mats", "Dumbbells", "Fitness Trackers"}, 35},
    {"Baby", "Baby", F_M | F_W, {"stroller", "baby monitor", "bottle set"},
     {"Strollers", "Baby Monitors", "Bottles"}, 40},
    {"Tools", "Tools & Home Improvement", F_E | F_M, {"drill", "screwdriver set", "tape measure"},
     {"Drills", "Screwdrivers", "Tape Measures"}, 45},
    {"Clothing", "AMAZON FASHION", F_W, {"jacket", "hoodie", "sweater"},
     {"Jackets", "Hoodies", "Sweaters"}, 30},
    {"Computers", "Computers", F_E, {"keyboard", "monitor", "webcam"},
     {"Keyboards", "Monitors", "Webcams"}, 60},
    {"Cell Phones", "Cell Phones & Accessories", F_E | F_M,
     {"phone case", "charging cable", "power bank"}, {"Cases", "Cables", "Power Banks"}, 15},
    {"Home Decor", "Amazon Home", F_M | F_W, {"lamp", "rug", "picture frame"},
     {"Lamps", "Rugs", "Picture Frames"}, 30},
    {"Grocery", "Grocery", F_C, {"coffee", "tea sampler", "snack box"},
     {"Coffee", "Tea", "Snacks"}, 14},
    {"Health", "Health & Personal Care", F_E | F_C, {"toothbrush", "scale", "massager"},
     {"Toothbrushes", "Scales", "Massagers"}, 30},
    {"Camera", "Camera & Photo", F_E | F_M, {"tripod", "camera bag", "memory card"},
     {"Tripods", "Camera Bags", "Memory Cards"}, 35},
    {"Arts & Crafts", "Arts, Crafts & Sewing", F_M | F_C, {"paint set", "sketchbook", "glue gun"},
     {"Paints", "Sketchbooks", "Glue Guns"}, 15},
    {"Musical Instruments", "Musical Instruments", F_M | F_E, {"guitar strap", "tuner", "ukulele"},
     {"Straps", "Tuners", "Ukuleles"}, 40},
    {"Jewelry", "AMAZON FASHION", F_W | F_M, {"necklace", "watch", "bracelet"},
     {"Necklaces", "Watches", "Bracelets"}, 30},
    {"Luggage", "Luggage & Travel Gear", F_W | F_M, {"suitcase", "travel pillow", "duffel bag"},
     {"Suitcases", "Travel Pillows", "Duffel Bags"}, 50},
};
#define NCAT_BASE (sizeof CATS / sizeof CATS[0])

/* Categories past the table reuse it with a prefix: "Smart Audio", "Kids Kitchen", ... */
static const char *const CAT_MODS[] = {"",       "Smart ", "Outdoor ", "Kids ",
                                       "Travel ", "Pro ",   "Eco ",     "Vintage "};
#define NCAT_MOD (sizeof CAT_MODS / sizeof CAT_MODS[0])

typedef struct aspect_def {
    const char *name; /* lower case noun phrase */
    const char *pos;  /* clause for a good experience, lower case, no final period */
    const char *neg;  /* clause for a bad one */
    unsigned fam;
} aspect_def;

static const aspect_def ASPECTS[] = {
    {"battery life", "the battery lasts for days", "the battery dies within hours", F_E},
    {"build quality", "it feels solid and well made", "it feels cheap and flimsy",
     F_E | F_M | F_W},
    {"value for money", "it is worth every penny", "it is overpriced for what you get", F_ALL},
    {"ease of use", "it is easy to use right out of the box", "it is confusing to use",
     F_E | F_M},
    {"design", "the design looks sleek", "the design looks dated and clunky", F_E | F_M | F_W},
    {"durability", "it has held up to heavy use", "it broke after a few weeks", F_E | F_M | F_W},
    {"size", "the size is just right", "it is much bigger than it looks in the photos",
     F_E | F_M | F_W},
    {"weight", "it is light enough to carry anywhere", "it is heavy and awkward",
     F_E | F_M | F_W},
    {"instructions", "the instructions are clear", "the instructions are useless", F_E | F_M},
    {"packaging", "it arrived well packaged", "it arrived in a crushed box", F_ALL},
    {"noise level", "it runs quietly", "it is annoyingly loud", F_E},
    {"comfort", "it stays comfortable for hours", "it gets uncomfortable quickly", F_W | F_M},
    {"material", "the material feels premium", "the material feels thin and cheap", F_W | F_M},
    {"color", "the color matches the photos", "the color looks nothing like the photos",
     F_W | F_M | F_C},
    {"smell", "there is no chemical smell", "it has a strong chemical smell", F_W | F_M | F_C},
    {"cleaning", "it is easy to clean", "it is a pain to clean", F_E | F_M},
    {"assembly", "assembly took only minutes", "assembly was a nightmare", F_M},
    {"customer service", "customer service was quick to help",
     "customer service never answered", F_ALL},
    {"stability", "it stays stable and steady", "it wobbles and tips over", F_M},
    {"finish", "the finish is smooth and even", "the finish scratches easily", F_M | F_W},
    {"fit", "it fits perfectly", "it does not fit as described", F_W | F_M},
    {"setup", "setup was quick and painless", "setup took forever", F_E},
    {"speed", "it is fast and responsive", "it is slow and laggy", F_E},
    {"capacity", "it holds more than I expected", "it holds far less than advertised",
     F_M | F_E},
    {"grip", "the grip feels secure", "it slips out of my hand", F_M},
    {"portability", "it is easy to take along", "it is too bulky to take along", F_E | F_M},
    {"sound quality", "the sound is rich and clear", "the sound is tinny and distorted", F_E},
    {"brightness", "it is bright and vivid", "it is dim and washed out", F_E},
    {"heat", "it stays cool", "it gets uncomfortably hot", F_E},
    {"taste", "it tastes great", "it tastes stale", F_C},
    {"texture", "the texture is pleasant", "the texture feels gritty", F_C | F_W},
    {"scent", "the scent is fresh and subtle", "the scent is overpowering", F_C},
    {"stitching", "the stitching is tight and neat", "the stitching came apart", F_W},
    {"zipper", "the zippers run smoothly", "the zipper jams constantly", F_W},
    {"buttons", "the buttons are responsive", "the buttons stick", F_E | F_W},
    {"cord length", "the cord is long enough", "the cord is far too short", F_E},
    {"storage", "it has plenty of storage space", "there is almost no storage space",
     F_M | F_E | F_W},
    {"display", "the display is sharp and readable", "the display is hard to read", F_E},
    {"connectivity", "it pairs instantly", "it keeps losing the connection", F_E},
    {"water resistance", "it handles rain and splashes", "it leaks at the first drop of water",
     F_E | F_W | F_M},
    {"accuracy", "the readings are accurate", "the readings are way off", F_E},
    {"charging", "it charges quickly", "it takes ages to charge", F_E},
    {"adjustability", "it adjusts to every position I need", "it barely adjusts", F_M | F_W},
    {"safety", "it feels safe to use", "it feels unsafe to use", F_ALL},
    {"power", "it has plenty of power", "it is underpowered", F_E},
    {"warranty", "the warranty claim was painless", "the warranty is worthless", F_E | F_M},
    {"app", "the companion app works well", "the companion app is buggy", F_E},
    {"shipping", "shipping was fast", "shipping took weeks", F_ALL},
};
#define NASP_BASE (sizeof ASPECTS / sizeof ASPECTS[0])

/* Aspects past the table reuse it in a context: "travel battery life", whose clauses end in
 * " when traveling". */
static const struct {
    const char *name, *ctx;
} ASP_MODS[] = {
    {"", ""},
    {"daily ", " in daily use"},
    {"long-term ", " after months of use"},
    {"travel ", " when traveling"},
    {"outdoor ", " outdoors"},
    {"family ", " with the whole family"},
    {"office ", " at the office"},
    {"cold-weather ", " in cold weather"},
};
#define NASP_MOD (sizeof ASP_MODS / sizeof ASP_MODS[0])

static const char *const BRAND_PRE[] = {
    "Zen",  "Aqua", "Nova", "Terra", "Lumi", "Vita", "Kora", "Brio", "Sol",  "Vex",  "Orbi",
    "Pura", "Kine", "Alto", "Rivo",  "Tekn", "Mira", "Dura", "Flex", "Halo", "Iso",  "Juno",
    "Opti", "Quanta"};
static const char *const BRAND_SUF[] = {"tek",  "ora",   "ix",    "wave", "line", "co",
                                        "max",  "ly",    "gear",  "works", "nest", "craft",
                                        "lab",  "pro",   "zen",   "ify"};
#define NBRAND_PRE (sizeof BRAND_PRE / sizeof BRAND_PRE[0])
#define NBRAND_SUF (sizeof BRAND_SUF / sizeof BRAND_SUF[0])
#define BRANDS_PER_CAT 8

static const char *const FIRST_NAMES[] = {
    "Shelly", "James", "Maria",  "David", "Linda",  "Robert", "Karen", "Michael",
    "Susan",  "Kevin", "Angela", "Brian", "Nancy",  "Jason",  "Laura", "Eric",
    "Megan",  "Daniel", "Rachel", "Steve", "Olivia", "Carlos", "Priya", "Ahmed",
    "Mei",    "Tom",   "Grace",  "Luis",  "Hannah", "Victor", "Chloe", "Sam"};
static const char *const LAST_NAMES[] = {"Smith", "Johnson", "Lee",    "Garcia", "Brown",
                                         "Miller", "Davis",  "Wilson", "Moore",  "Taylor",
                                         "Clark", "Lewis",   "Walker", "Young",  "King",
                                         "Wright"};
#define NFIRST (sizeof FIRST_NAMES / sizeof FIRST_NAMES[0])
#define NLAST (sizeof LAST_NAMES / sizeof LAST_NAMES[0])

/* Sentence templates. {n} product noun, {b} brand, {c} category in lower case, {p} an aspect
 * clause, {P} the same clause capitalized. Every sentence ends in '.' or '!' and no template
 * or clause has another one, so sentences can be counted. */
static const char *const OPENERS[] = {
    "I bought this {n} a few weeks ago.",
    "This is my second {n} from {b}.",
    "I needed a new {n} and picked this one.",
    "Got this {n} as a gift for my sister.",
    "I have been using this {n} every day for a month.",
    "I compared several {c} products before choosing this {n}.",
    "After my old {n} gave out, I ordered this {b} one.",
    "I rarely review {c} products, but this {n} deserves a few words.",
};
static const char *const LIKED[] = {
    "I love that {p}.",  "{P}, which I really like.", "The best part is that {p}.",
    "Pleasantly surprised that {p}.", "{P}.", "On the plus side, {p}.",
};
static const char *const DISLIKED[] = {
    "Unfortunately, {p}.", "My only complaint is that {p}.", "{P}, which is disappointing.",
    "Sadly, {p}.", "The downside is that {p}.", "{P}.",
};
static const char *const CLOSERS[5][3] = {
    {"Returning it.", "Save your money.", "Would not recommend this {n} to anyone."},
    {"I expected more from {b}.", "Probably won't buy again.", "Not great overall."},
    {"It does the job, nothing more.", "Not bad for the price.", "Average {c} product overall."},
    {"Overall a good {n}.", "Happy with the purchase.", "Would recommend with small reservations."},
    {"Highly recommend this {n}.", "Would definitely buy again!", "Couldn't be happier with it."},
};
static const char *const SUMMARIES[5][4] = {
    {"One Star", "Waste of money", "Do not buy", "Terrible {n}"},
    {"Two Stars", "Disappointed", "Not as described", "Meh"},
    {"Three Stars", "It's okay", "Decent for the price", "Mixed feelings"},
    {"Four Stars", "Very good", "Solid {n}", "Pretty good {n}"},
    {"Five Stars", "Love it!", "Excellent {n}", "Great {n} from {b}"},
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------------------------
 * A growable byte buffer
 * ---------------------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom; /* set once an append failed; later appends do nothing */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        if (us_grow((void **)&b->p, &b->cap, b->len + n + 1, 1) != US_OK) {
            b->oom = 1;
            return;
        }
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    US_ASSERT(k >= 0 && (size_t)k < sizeof tmp); /* only short numeric fields go through here */
    sb_put(b, tmp, (size_t)k);
}

/* s with its first letter upper-cased (ASCII). */
static void sb_cap(sbuf *b, const char *s) {
    if (!*s) return;
    char c = *s;
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    sb_put(b, &c, 1);
    sb_str(b, s + 1);
}

/* s in title case: every word's first letter upper-cased after a space or hyphen ("knife set"
 * -> "Knife Set", "t-shirt" -> "T-Shirt"). */
static void sb_title(sbuf *b, const char *s) {
    int start = 1;
    for (const char *p = s; *p; p++) {
        char c = *p;
        /* "of" and "for" stay lower case inside a title ("Value for Money"). */
        int small = p > s && (strncmp(p, "of ", 3) == 0 || strncmp(p, "for ", 4) == 0);
        if (start && !small && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        start = c == ' ' || c == '-';
        sb_put(b, &c, 1);
    }
}

/* s[0..n) as a JSON string literal, quotes included. Bytes >= 0x80 pass through (the text is
 * ASCII, and valid UTF-8 would stay valid); '"', '\\' and control characters are escaped. */
static void sb_json_n(sbuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    sb_put(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        sb_put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        switch (c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        default: sb_put(b, esc, 6); break;
        }
    }
    sb_put(b, s + run, n - run);
    sb_put(b, "\"", 1);
}

static void sb_json(sbuf *b, const char *s) { sb_json_n(b, s, strlen(s)); }

/* Values substituted into a sentence template. */
typedef struct tvars {
    const char *noun, *brand, *cat, *clause;
} tvars;

static void sb_template(sbuf *b, const char *t, const tvars *v) {
    while (*t) {
        const char *open = strchr(t, '{');
        if (!open || open[1] == '\0' || open[2] != '}') {
            sb_str(b, t);
            return;
        }
        sb_put(b, t, (size_t)(open - t));
        switch (open[1]) {
        case 'n': sb_str(b, v->noun); break;
        case 'b': sb_str(b, v->brand); break;
        case 'c': sb_str(b, v->cat); break;
        case 'p': sb_str(b, v->clause); break;
        case 'P': sb_cap(b, v->clause); break;
        default: sb_put(b, open, 3); break;
        }
        t = open + 3;
    }
}

/* ------------------------------------------------------------------------------------------
 * Names, ids and dates
 * ---------------------------------------------------------------------------------------- */

/* splitmix64's finalizer: a bijection on 64-bit words with strong avalanche. */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const char BASE36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/* reviewerID: "A" + 13 base-36 digits of v = mix64(mix64(seed) + u), least significant first.
 * u -> v is a bijection for a fixed seed (an addition, then a bijection) and 36^13 > 2^64,
 * so distinct users always get distinct ids. */
static void user_id(uint64_t seed, uint32_t u, char out[15]) {
    uint64_t v = mix64(mix64(seed) + u);
    out[0] = 'A';
    for (int k = 1; k <= 13; k++) {
        out[k] = BASE36[v % 36];
        v /= 36;
    }
    out[14] = '\0';
}

/* asin: "B" + 9 base-36 digits of a bijection of the 46-bit words (2^46 < 36^9): add a salt,
 * multiply by odd constants and xor-shift right, each step invertible modulo 2^46, so distinct
 * items always get distinct asins. */
static void item_id(uint64_t seed, uint32_t i, char out[11]) {
    const uint64_t M = (1ULL << 46) - 1;
    uint64_t v = (i + mix64(seed ^ 0x5bd1e995ULL)) & M;
    v = (v * 0x9e3779b97f4a7c15ULL) & M;
    v ^= v >> 23;
    v = (v * 0xc2b2ae3d27d4eb4fULL) & M;
    v ^= v >> 21;
    out[0] = 'B';
    for (int k = 9; k >= 1; k--) {
        out[k] = BASE36[v % 36];
        v /= 36;
    }
    out[10] = '\0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms:
 * shift the year to start in March so the leap day is last, then count 400-year eras of
 * 146097 days, years of 365 days plus leap days, and months of 153 days per 5 months). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);                            /* [0, 399] */
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;      /* [0, 365] */
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                /* [0, 146096] */
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Category c's display name: "Audio", or with a prefix past the table ("Smart Audio"). */
static void cat_name(uint32_t c, char *buf, size_t n) {
    snprintf(buf, n, "%s%s", CAT_MODS[c / NCAT_BASE], CATS[c % NCAT_BASE].name);
}

/* Aspect a's name ("battery life", "travel battery life") and clause, good or bad. */
static void aspect_name(uint32_t a, char *buf, size_t n) {
    snprintf(buf, n, "%s%s", ASP_MODS[a / NASP_BASE].name, ASPECTS[a % NASP_BASE].name);
}

static void aspect_clause(uint32_t a, int good, char *buf, size_t n) {
    const aspect_def *d = &ASPECTS[a % NASP_BASE];
    snprintf(buf, n, "%s%s", good ? d->pos : d->neg, ASP_MODS[a / NASP_BASE].ctx);
}

static void brand_name(uint32_t b, char *buf, size_t n) {
    snprintf(buf, n, "%s%s", BRAND_PRE[b % NBRAND_PRE], BRAND_SUF[(b / NBRAND_PRE) % NBRAND_SUF]);
}

/* ------------------------------------------------------------------------------------------
 * The world: items, users' plans
 * ---------------------------------------------------------------------------------------- */

typedef struct synth_item {
    uint32_t cat;
    uint32_t brand;
    uint32_t price_cents;
    uint16_t model;   /* model number in the title, 100..999 */
    uint8_t noun;     /* 0..2 into the category's nouns */
    uint8_t k;        /* number of aspects */
    uint16_t asp[MAX_ASPECTS];
    int8_t q[MAX_ASPECTS]; /* +1 good, -1 bad */
    double pop;
} synth_item;

/* A user's latent parameters (see the model at the top). aff and w are caller arrays. */
typedef struct user_par {
    double bias;
    double *aff; /* [C] */
    double *w;   /* [A] */
    char name[48];
} user_par;

/* One review added to an item short of reviewers: who, which item, which day. */
typedef struct topup {
    uint32_t user, item;
    int64_t day;
} topup;

typedef struct world {
    uint64_t seed;
    uint32_t U, I, C, A;
    uint32_t min_h, max_h; /* history length bounds, 1 <= min_h <= max_h <= I */
    double bias, noise, drift, taste;
    synth_item *items;   /* [I] */
    uint32_t *cat_start; /* [C+1]: items of category c are cat_items[cat_start[c]..[c+1]) */
    uint32_t *cat_items; /* [I] */
    double *cat_cum;     /* [I]: running sum of pop within each category's run */
    double *cat_pop;     /* [C]: total popularity of each category */
    float *aff;          /* [U*C]: the users' category affinities, for the top-ups */
    uint32_t *ustart;    /* [U+1]: reviews of user u are ritem/rday[ustart[u]..[u+1]) */
    uint32_t *ritem;     /* [R] */
    int64_t *rday;       /* [R] days since 1970-01-01 */
    uint64_t total;      /* R: reviews written */
} world;

static void world_free(world *W) {
    free(W->items);
    free(W->cat_start);
    free(W->cat_items);
    free(W->cat_cum);
    free(W->cat_pop);
    free(W->aff);
    free(W->ustart);
    free(W->ritem);
    free(W->rday);
}

/* Draws user u's parameters from stream (PARAM, u). Same draws in the same order every time,
 * so the planning and the writing phases see the same user. idx: scratch [C]. */
static void user_params(const world *W, uint32_t u, user_par *p, uint32_t *idx) {
    us_rng r = stream(W->seed, D_PARAM, u);
    p->bias = W->bias + SD_BIAS * us_rng_normal(&r);
    for (uint32_t c = 0; c < W->C; c++) p->aff[c] = SD_AFF * us_rng_normal(&r);
    /* 1-3 liked and 1-2 disliked categories, distinct, by a partial Fisher-Yates shuffle. */
    uint32_t nl = 1 + us_rng_bounded(&r, 3), nd = 1 + us_rng_bounded(&r, 2);
    if (nl > W->C) nl = W->C;
    if (nd > W->C - nl) nd = W->C - nl;
    for (uint32_t c = 0; c < W->C; c++) idx[c] = c;
    for (uint32_t j = 0; j < nl + nd; j++) {
        uint32_t pick = j + us_rng_bounded(&r, W->C - j);
        uint32_t t = idx[j];
        idx[j] = idx[pick];
        idx[pick] = t;
        double mag = AFF_LO + (AFF_HI - AFF_LO) * us_rng_uniform(&r);
        p->aff[idx[j]] += j < nl ? mag : -mag;
    }
    for (uint32_t a = 0; a < W->A; a++) p->w[a] = MU_W + SD_W * us_rng_normal(&r);
    /* A name in Amazon's styles: "Shelly F", "Shelly Smith", "S. Smith", "Amazon Customer". */
    uint32_t style = us_rng_bounded(&r, 20);
    const char *first = FIRST_NAMES[us_rng_bounded(&r, NFIRST)];
    const char *last = LAST_NAMES[us_rng_bounded(&r, NLAST)];
    if (style < 8)
        snprintf(p->name, sizeof p->name, "%s %c", first, last[0]);
    else if (style < 14)
        snprintf(p->name, sizeof p->name, "%s %s", first, last);
    else if (style < 17)
        snprintf(p->name, sizeof p->name, "%c. %s", first[0], last);
    else
        snprintf(p->name, sizeof p->name, "Amazon Customer");
}

/* First j in [0, n) with cum[j] > x (cum non-decreasing); when rounding leaves x >= cum[n-1],
 * the last j whose weight cum[j] - cum[j-1] is positive. */
static size_t pick_cum(const double *cum, size_t n, double x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo < n) return lo;
    size_t j = n - 1;
    while (j > 0 && !(cum[j] > cum[j - 1])) j--;
    return j;
}

/* Items: category, aspects, qualities, brand, price (stream ITEM, i); popularity ranks
 * (stream WORLD). Then the per-category runs used to draw items. */
static us_status make_items(world *W) {
    uint32_t I = W->I, C = W->C, A = W->A;
    us_status st = US_ENOMEM;
    uint32_t *allowed = malloc((size_t)C * A * sizeof *allowed); /* [C][A] aspects per cat */
    uint32_t *nallowed = calloc(C, sizeof *nallowed);
    uint32_t *pool = malloc((size_t)A * sizeof *pool);
    uint32_t *rank = malloc((size_t)I * sizeof *rank);
    W->items = calloc(I, sizeof *W->items);
    W->cat_start = calloc((size_t)C + 1, sizeof *W->cat_start);
    W->cat_items = malloc((size_t)I * sizeof *W->cat_items);
    W->cat_cum = malloc((size_t)I * sizeof *W->cat_cum);
    W->cat_pop = calloc(C, sizeof *W->cat_pop);
    if (!allowed || !nallowed || !pool || !rank || !W->items || !W->cat_start ||
        !W->cat_items || !W->cat_cum || !W->cat_pop)
        goto done;

    /* The aspects that fit each category: those sharing a product family with it; all of them
     * when fewer than MIN_ASPECTS fit (few aspects configured). */
    for (uint32_t c = 0; c < C; c++) {
        uint32_t *row = allowed + (size_t)c * A;
        for (uint32_t a = 0; a < A; a++)
            if (ASPECTS[a % NASP_BASE].fam & CATS[c % NCAT_BASE].fam) row[nallowed[c]++] = a;
        if (nallowed[c] < MIN_ASPECTS) {
            for (uint32_t a = 0; a < A; a++) row[a] = a;
            nallowed[c] = A;
        }
    }

    /* pop_i = (rank_i + POP_OFFSET)^-POP_EXPONENT with a random rank permutation: a
     * Zipf-Mandelbrot law whose offset keeps the head from swallowing every user (at the
     * defaults the top item gets about 2% of all choices, the last about 0.03%). */
    us_rng wr = stream(W->seed, D_WORLD, 0);
    for (uint32_t i = 0; i < I; i++) rank[i] = i;
    us_rng_shuffle(&wr, rank, I, sizeof *rank);

    for (uint32_t i = 0; i < I; i++) {
        synth_item *it = &W->items[i];
        us_rng r = stream(W->seed, D_ITEM, i);
        it->pop = pow((double)rank[i] + POP_OFFSET, -POP_EXPONENT);
        it->cat = us_rng_bounded(&r, C);
        it->noun = (uint8_t)us_rng_bounded(&r, 3);
        /* Brands: BRANDS_PER_CAT per category, the j-th chosen with weight 1/(j+1). */
        double bw[BRANDS_PER_CAT];
        for (int j = 0; j < BRANDS_PER_CAT; j++) bw[j] = 1.0 / (j + 1);
        uint32_t bj = us_rng_categorical(&r, bw, BRANDS_PER_CAT);
        it->brand = (it->cat * BRANDS_PER_CAT + bj) % (uint32_t)(NBRAND_PRE * NBRAND_SUF);
        /* Price: the category's median times exp(0.45 z) (log-normal), as $D.99. */
        double dollars = CATS[it->cat % NCAT_BASE].price * exp(0.45 * us_rng_normal(&r));
        it->price_cents = (uint32_t)(dollars < 1 ? 1 : floor(dollars)) * 100 + 99;
        it->model = (uint16_t)(100 + us_rng_bounded(&r, 900));
        /* k aspects without replacement (partial Fisher-Yates over the category's list), each
         * good with probability pi_i. */
        double good = GOOD_LO + (GOOD_HI - GOOD_LO) * us_rng_uniform(&r);
        uint32_t na = nallowed[it->cat];
        memcpy(pool, allowed + (size_t)it->cat * A, na * sizeof *pool);
        uint32_t k = MIN_ASPECTS + us_rng_bounded(&r, MAX_ASPECTS - MIN_ASPECTS + 1);
        if (k > na) k = na;
        it->k = (uint8_t)k;
        for (uint32_t j = 0; j < k; j++) {
            uint32_t pick = j + us_rng_bounded(&r, na - j);
            uint32_t t = pool[j];
            pool[j] = pool[pick];
            pool[pick] = t;
            it->asp[j] = (uint16_t)pool[j];
            it->q[j] = us_rng_bernoulli(&r, good) ? 1 : -1;
        }
    }

    /* Category runs (counting sort by category, stable in item order) with running sums of
     * popularity, so an item of category c is drawn by a binary search in its run. */
    for (uint32_t i = 0; i < I; i++) W->cat_start[W->items[i].cat + 1]++;
    for (uint32_t c = 0; c < C; c++) W->cat_start[c + 1] += W->cat_start[c];
    for (uint32_t c = 0; c < C; c++) nallowed[c] = W->cat_start[c]; /* reused as cursors */
    for (uint32_t i = 0; i < I; i++) W->cat_items[nallowed[W->items[i].cat]++] = i;
    for (uint32_t c = 0; c < C; c++) {
        double acc = 0;
        for (uint32_t j = W->cat_start[c]; j < W->cat_start[c + 1]; j++) {
            acc += W->items[W->cat_items[j]].pop;
            W->cat_cum[j] = acc;
        }
        W->cat_pop[c] = acc;
    }
    st = US_OK;
done:
    free(allowed);
    free(nallowed);
    free(pool);
    free(rank);
    return st;
}

/* History lengths: n_u = min_h + a share of the R - min_h U extra reviews proportional to
 * x_u = exp(COUNT_SIGMA z_u) (stream COUNT, u), by cumulative rounding so that the shares sum
 * to exactly R - min_h U; then capped at max_h with the overflow handed out one by one, in
 * user order, to users below the cap (min_h U <= R <= max_h U, so it always fits). The
 * defaults min_h 5, max_h I are the lengths before the bounds were configurable. n: out [U];
 * x: scratch [U]. */
static void history_lengths(const world *W, uint64_t R, uint32_t *n, double *x) {
    uint32_t U = W->U, lo = W->min_h, hi = W->max_h;
    double sum = 0;
    for (uint32_t u = 0; u < U; u++) {
        us_rng r = stream(W->seed, D_COUNT, u);
        x[u] = exp(COUNT_SIGMA * us_rng_normal(&r));
        sum += x[u];
    }
    uint64_t extra = R - (uint64_t)lo * U;
    double acc = 0;
    uint64_t prev = 0, overflow = 0;
    for (uint32_t u = 0; u < U; u++) {
        acc += x[u];
        /* boundary_u = floor(extra * (x_0 + ... + x_u) / sum); the last one exactly extra. */
        uint64_t b = u + 1 == U ? extra : (uint64_t)floor((double)extra * (acc / sum));
        if (b > extra) b = extra;
        if (b < prev) b = prev;
        uint64_t nu = lo + (b - prev);
        prev = b;
        if (nu > hi) {
            overflow += nu - hi;
            nu = hi;
        }
        n[u] = (uint32_t)nu;
    }
    for (uint32_t u = 0; overflow > 0; u = (u + 1) % U) {
        if (n[u] < hi) {
            n[u]++;
            overflow--;
        }
    }
}

/* Scratch arrays for planning one user at a time. */
typedef struct plan_scratch {
    user_par par;
    uint32_t *idx;   /* [C] */
    double *catcum;  /* [C] running sum of exp(aff_c) * cat_pop_c */
    uint32_t *stamp; /* [I] stamp[i] == u + 1: u has chosen i */
    double *wexact;  /* [I] weights of the exact draw */
    double *gaps;    /* [I + 1] exponential gaps */
} plan_scratch;

/* User u's n items (distinct, each drawn with probability proportional to
 * pop_i exp(taste aff_c_i) among the unchosen) and days, into items[0..n) and days[0..n)
 * (stream PLAN, u). */
static void plan_user(const world *W, uint32_t u, uint32_t n, plan_scratch *s, uint32_t *items,
                      int64_t *days) {
    us_rng r = stream(W->seed, D_PLAN, u);
    const double *aff = s->par.aff;
    double acc = 0;
    for (uint32_t c = 0; c < W->C; c++) {
        acc += exp(W->taste * aff[c]) * W->cat_pop[c];
        s->catcum[c] = acc;
    }
    int exact = 0;
    for (uint32_t t = 0; t < n; t++) {
        uint32_t pick = UINT32_MAX;
        /* Rejection: a category by exp(taste aff_c) cat_pop_c, an item of it by pop_i, i.e. an
         * item by pop_i exp(taste aff_c_i) over all items, redrawn when already chosen; conditioned on
         * acceptance it is exactly the without-replacement draw. */
        for (int tries = 0; !exact && tries < CHOICE_TRIES; tries++) {
            size_t c = pick_cum(s->catcum, W->C, us_rng_uniform(&r) * acc);
            uint32_t lo = W->cat_start[c], hi = W->cat_start[c + 1];
            /* cat_cum restarts at each run's start, so the run is searched on its own. */
            size_t j = pick_cum(W->cat_cum + lo, hi - lo, us_rng_uniform(&r) * W->cat_pop[c]);
            uint32_t i = W->cat_items[lo + j];
            if (s->stamp[i] != u + 1) {
                pick = i;
                break;
            }
        }
        if (pick == UINT32_MAX) {
            /* Most of u's mass is already chosen: draw exactly over the unchosen items from
             * now on (O(I) per draw, only for users who review a large share of all items). */
            exact = 1;
            for (uint32_t i = 0; i < W->I; i++) {
                const synth_item *it = &W->items[i];
                s->wexact[i] = s->stamp[i] == u + 1 ? 0.0 : it->pop * exp(W->taste * aff[it->cat]);
            }
            pick = us_rng_categorical(&r, s->wexact, W->I);
        }
        s->stamp[pick] = u + 1;
        items[t] = pick;
    }

    /* Days: span S = max(n, U{SPAN_MIN..SPAN_MAX-1}) starting on a uniform day that leaves
     * the span inside [2010-01-01, 2018-10-01) when it fits. Review j falls on
     *   start + j + floor((S - n) * (E_0 + ... + E_j) / (E_0 + ... + E_n)),  E ~ Exp(1),
     * strictly increasing (the j term) with the slack S - n spread as exponential gaps. */
    int64_t first = days_from_civil(2010, 1, 1), end = days_from_civil(2018, 10, 1);
    int64_t span = SPAN_MIN + us_rng_bounded(&r, SPAN_MAX - SPAN_MIN);
    if (span < (int64_t)n) span = n;
    int64_t room = end - first - span;
    int64_t start = first + (room > 0 ? (int64_t)us_rng_bounded(&r, (uint32_t)room) : 0);
    double esum = 0;
    for (uint32_t j = 0; j <= n; j++) {
        s->gaps[j] = -log(1.0 - us_rng_uniform(&r)); /* Exp(1) by inversion */
        esum += s->gaps[j];
    }
    double ecum = 0;
    for (uint32_t j = 0; j < n; j++) {
        ecum += s->gaps[j];
        days[j] = start + j + (int64_t)floor((double)(span - (int64_t)n) * (ecum / esum));
    }
}

/* Whether user u, with added[u] top-ups so far, is below the history cap. */
static int room(const world *W, uint32_t u, const uint32_t *added) {
    return W->ustart[u + 1] - W->ustart[u] + added[u] < W->max_h;
}

/* Every item with fewer than min(MIN_PER_ITEM, U) reviewers gets more, from users who have not
 * reviewed it and whose history is still below max_h, each chosen with weight exp(aff_u,c_i)
 * (rejection against the category's largest affinity, or an exact draw after TOPUP_TRIES
 * failures), on the day after a 1 + Exp(mean min(TOPUP_GAP, 365 U / deficit)) gap past that
 * user's last review (stream TOPUP). When no such user is left, the item keeps the reviewers
 * it has. With max_h = I the cap excludes nobody a top-up could pick (a user who has not
 * reviewed item i has fewer than I reviews), so the draws are those of the uncapped model.
 * The plan arrays (W->ustart, ritem, rday) are rebuilt with the additions at the end of each
 * history. */
static us_status top_up(world *W) {
    uint32_t U = W->U, I = W->I, C = W->C;
    uint64_t R = W->total;
    uint32_t need_min = U < MIN_PER_ITEM ? U : MIN_PER_ITEM;
    us_status st = US_ENOMEM;
    uint32_t *icount = calloc(I, sizeof *icount);
    uint32_t *istart = calloc((size_t)I + 1, sizeof *istart);
    uint32_t *iusers = malloc((R ? R : 1) * sizeof *iusers);
    uint32_t *stamp = calloc(U, sizeof *stamp);
    uint32_t *added = calloc(U, sizeof *added);
    int64_t *last = malloc((size_t)U * sizeof *last);
    double *affmax = malloc((size_t)C * sizeof *affmax);
    double *wexact = malloc((size_t)U * sizeof *wexact);
    US_VEC(topup) adds = {0};
    uint32_t *nstart = NULL, *nitem = NULL;
    int64_t *nday = NULL;
    if (!icount || !istart || !iusers || !stamp || !added || !last || !affmax || !wexact)
        goto done;

    /* Reviewers of each item (CSR by counting sort), each user's last day, and each
     * category's largest affinity (the rejection envelope). */
    for (uint64_t j = 0; j < R; j++) icount[W->ritem[j]]++;
    for (uint32_t i = 0; i < I; i++) istart[i + 1] = istart[i] + icount[i];
    for (uint32_t i = 0; i < I; i++) icount[i] = istart[i]; /* cursors */
    for (uint32_t u = 0; u < U; u++) {
        for (uint32_t j = W->ustart[u]; j < W->ustart[u + 1]; j++)
            iusers[icount[W->ritem[j]]++] = u;
        last[u] = W->rday[W->ustart[u + 1] - 1];
    }
    for (uint32_t c = 0; c < C; c++) {
        affmax[c] = -HUGE_VAL;
        for (uint32_t u = 0; u < U; u++)
            if (W->aff[(size_t)u * C + c] > affmax[c]) affmax[c] = W->aff[(size_t)u * C + c];
    }

    /* Mean gap before a top-up: TOPUP_GAP days, shortened when the users must absorb so many
     * that their histories would run for years past the rest (about a year's worth each). */
    uint64_t deficit = 0;
    for (uint32_t i = 0; i < I; i++) {
        uint32_t have = istart[i + 1] - istart[i];
        deficit += have < need_min ? need_min - have : 0;
    }
    double gap = deficit > 0 ? fmin(TOPUP_GAP, 365.0 * U / (double)deficit) : TOPUP_GAP;

    us_rng r = stream(W->seed, D_TOPUP, 0);
    for (uint32_t i = 0; i < I; i++) {
        uint32_t have = istart[i + 1] - istart[i];
        if (have >= need_min) continue;
        uint32_t c = W->items[i].cat;
        for (uint32_t j = istart[i]; j < istart[i + 1]; j++) stamp[iusers[j]] = i + 1;
        for (; have < need_min; have++) {
            uint32_t pick = UINT32_MAX;
            for (int tries = 0; tries < TOPUP_TRIES; tries++) {
                uint32_t u = us_rng_bounded(&r, U);
                /* Accept u with probability exp(aff_uc - max_u' aff_u'c) <= 1: overall
                 * P(u) proportional to exp(aff_uc) among the users not yet stamped and below
                 * the cap (checked before the uniform is drawn, so that an uncapped run draws
                 * the same numbers as before the cap existed). */
                double acc = exp((double)W->aff[(size_t)u * C + c] - affmax[c]);
                if (stamp[u] != i + 1 && room(W, u, added) && us_rng_uniform(&r) < acc) {
                    pick = u;
                    break;
                }
            }
            if (pick == UINT32_MAX) {
                double wsum = 0;
                for (uint32_t u = 0; u < U; u++) {
                    wexact[u] = stamp[u] == i + 1 || !room(W, u, added)
                                    ? 0.0
                                    : exp((double)W->aff[(size_t)u * C + c]);
                    wsum += wexact[u];
                }
                /* Everyone who could still review item i is at max_h: it stays short. */
                if (!(wsum > 0)) break;
                pick = us_rng_categorical(&r, wexact, U);
            }
            stamp[pick] = i + 1;
            /* Day: 1 + floor(Exp(mean gap)) after the user's last review. */
            last[pick] += 1 + (int64_t)floor(-gap * log(1.0 - us_rng_uniform(&r)));
            topup t = {pick, i, last[pick]};
            if (us_vec_push(&adds, t) != US_OK) goto done;
            added[pick]++;
        }
    }

    if (adds.len > 0) {
        uint64_t R2 = R + adds.len;
        nstart = malloc(((size_t)U + 1) * sizeof *nstart);
        nitem = malloc(R2 * sizeof *nitem);
        nday = malloc(R2 * sizeof *nday);
        if (!nstart || !nitem || !nday) goto done;
        /* New runs: each user's planned reviews, then the additions in the order drawn (their
         * days increase, each past the previous last day). */
        nstart[0] = 0;
        for (uint32_t u = 0; u < U; u++)
            nstart[u + 1] = nstart[u] + (W->ustart[u + 1] - W->ustart[u]) + added[u];
        for (uint32_t u = 0; u < U; u++) {
            uint32_t n = W->ustart[u + 1] - W->ustart[u];
            memcpy(nitem + nstart[u], W->ritem + W->ustart[u], n * sizeof *nitem);
            memcpy(nday + nstart[u], W->rday + W->ustart[u], n * sizeof *nday);
            added[u] = nstart[u] + n; /* reused as the cursor of the next addition */
        }
        for (size_t j = 0; j < adds.len; j++) {
            uint32_t pos = added[adds.data[j].user]++;
            nitem[pos] = adds.data[j].item;
            nday[pos] = adds.data[j].day;
        }
        free(W->ustart);
        free(W->ritem);
        free(W->rday);
        W->ustart = nstart;
        W->ritem = nitem;
        W->rday = nday;
        W->total = R2;
        nstart = NULL;
        nitem = NULL;
        nday = NULL;
    }
    st = US_OK;
done:
    free(icount);
    free(istart);
    free(iusers);
    free(stamp);
    free(added);
    free(last);
    free(affmax);
    free(wexact);
    free(adds.data);
    free(nstart);
    free(nitem);
    free(nday);
    return st;
}

/* Items, history lengths, each user's choices and days, then the item-side top-ups. */
static us_status plan(world *W, uint64_t R) {
    uint32_t U = W->U, I = W->I, C = W->C;
    us_status st = make_items(W);
    if (st != US_OK) return st;
    st = US_ENOMEM;
    plan_scratch s = {0};
    uint32_t *n = malloc((size_t)U * sizeof *n);
    double *x = malloc((size_t)U * sizeof *x);
    s.par.aff = malloc((size_t)C * sizeof *s.par.aff);
    s.par.w = malloc((size_t)W->A * sizeof *s.par.w);
    s.idx = malloc((size_t)C * sizeof *s.idx);
    s.catcum = malloc((size_t)C * sizeof *s.catcum);
    s.stamp = calloc(I, sizeof *s.stamp);
    s.wexact = malloc((size_t)I * sizeof *s.wexact);
    s.gaps = malloc(((size_t)I + 1) * sizeof *s.gaps);
    W->aff = malloc((size_t)U * C * sizeof *W->aff);
    W->ustart = malloc(((size_t)U + 1) * sizeof *W->ustart);
    W->ritem = malloc(R * sizeof *W->ritem);
    W->rday = malloc(R * sizeof *W->rday);
    if (!n || !x || !s.par.aff || !s.par.w || !s.idx || !s.catcum || !s.stamp || !s.wexact ||
        !s.gaps || !W->aff || !W->ustart || !W->ritem || !W->rday)
        goto done;

    history_lengths(W, R, n, x);
    W->ustart[0] = 0;
    for (uint32_t u = 0; u < U; u++) {
        W->ustart[u + 1] = W->ustart[u] + n[u];
        user_params(W, u, &s.par, s.idx);
        for (uint32_t c = 0; c < C; c++) W->aff[(size_t)u * C + c] = (float)s.par.aff[c];
        plan_user(W, u, n[u], &s, W->ritem + W->ustart[u], W->rday + W->ustart[u]);
    }
    W->total = R;
    st = top_up(W);
done:
    free(n);
    free(x);
    free(s.par.aff);
    free(s.par.w);
    free(s.idx);
    free(s.catcum);
    free(s.stamp);
    free(s.wexact);
    free(s.gaps);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Text
 * ---------------------------------------------------------------------------------------- */

/* Review text of user (taste w) about item it with the given rating, from stream r. */
static void review_text(sbuf *b, us_rng *r, const synth_item *it, const double *w, int rating,
                        const tvars *v) {
    /* Contribution of each aspect to s: w_a q_a. Liked (> 0) strongest first, disliked (< 0)
     * most negative first, by insertion sort (k <= 6). */
    double contrib[MAX_ASPECTS];
    int like[MAX_ASPECTS], dis[MAX_ASPECTS], nl = 0, nd = 0;
    for (int j = 0; j < it->k; j++) {
        contrib[j] = w[it->asp[j]] * it->q[j];
        int *list = contrib[j] > 0 ? like : dis;
        int *cnt = contrib[j] > 0 ? &nl : &nd;
        if (contrib[j] == 0) continue;
        int pos = (*cnt)++;
        while (pos > 0 && fabs(contrib[list[pos - 1]]) < fabs(contrib[j])) {
            list[pos] = list[pos - 1];
            pos--;
        }
        list[pos] = j;
    }
    /* How many of each to mention: the strongest always, each further one (up to 3 liked, 2
     * disliked) with probability 1/2. */
    int ml = nl > 0, md = nd > 0;
    while (ml < nl && ml < 3 && us_rng_bernoulli(r, 0.5)) ml++;
    while (md < nd && md < 2 && us_rng_bernoulli(r, 0.5)) md++;
    int opener = us_rng_bernoulli(r, 0.75);
    /* 2..5 sentences: the closer, the mentions, the opener. Trim the side the rating speaks
     * against first (keeping its strongest), then the other side, then the opener. */
    while (opener + ml + md + 1 > 5) {
        int *against = rating >= 3 ? &md : &ml, *with = rating >= 3 ? &ml : &md;
        if (*against > 1)
            (*against)--;
        else if (*with > 1)
            (*with)--;
        else
            opener = 0;
    }
    if (opener + ml + md + 1 < 2) opener = 1;

    int nsent = 0;
    char clause[160];
    tvars tv = *v;
    if (opener) {
        sb_template(b, OPENERS[us_rng_bounded(r, NELEM(OPENERS))], &tv);
        nsent++;
    }
    /* The side agreeing with the rating first. */
    for (int side = 0; side < 2; side++) {
        int liked = (side == 0) == (rating >= 3);
        int m = liked ? ml : md;
        const int *list = liked ? like : dis;
        for (int j = 0; j < m; j++) {
            aspect_clause(it->asp[list[j]], liked, clause, sizeof clause);
            tv.clause = clause;
            if (nsent++) sb_put(b, " ", 1);
            const char *t = liked ? LIKED[us_rng_bounded(r, NELEM(LIKED))]
                                  : DISLIKED[us_rng_bounded(r, NELEM(DISLIKED))];
            sb_template(b, t, &tv);
        }
    }
    if (nsent++) sb_put(b, " ", 1);
    sb_template(b, CLOSERS[rating - 1][us_rng_bounded(r, 3)], &tv);
}

/* ------------------------------------------------------------------------------------------
 * Files
 * ---------------------------------------------------------------------------------------- */

/* mkdir -p: every missing component of path is created (0777 before umask). */
static us_status make_dirs(const char *path, us_err *err) {
    char buf[1024];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return us_err_set(err, US_EINVAL, NULL, 0, "out_dir", "path longer than %zu bytes",
                          sizeof buf - 1);
    memcpy(buf, path, n + 1);
    for (size_t k = 1; k <= n; k++) {
        if (buf[k] != '/' && buf[k] != '\0') continue;
        char saved = buf[k];
        buf[k] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return us_err_set(err, US_EIO, buf, 0, "out_dir", "cannot create folder: %s",
                              strerror(errno));
        buf[k] = saved;
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return us_err_set(err, US_EIO, path, 0, "out_dir", "expected a folder");
    return US_OK;
}

static us_status gz_out(gzFile gz, const sbuf *b, const char *path, us_err *err) {
    if (b->oom) return us_err_set(err, US_ENOMEM, path, 0, NULL, "out of memory");
    if (b->len && gzwrite(gz, b->p, (unsigned)b->len) != (int)b->len)
        return us_err_set(err, US_EIO, path, 0, NULL, "write failed");
    return US_OK;
}

/* meta_Synthetic.json.gz: one Amazon 2018 metadata line per item, in item order. */
static us_status write_meta(const world *W, const char *path, us_err *err) {
    gzFile gz = gzopen(path, "wb");
    if (!gz) return us_err_set(err, US_EIO, path, 0, NULL, "cannot create: %s", strerror(errno));
    gzbuffer(gz, 1u << 18);
    sbuf b = {0};
    us_status st = US_OK;
    char cname[64], brand[32], asin[11], aname[64], clause[160], lcat[64];
    for (uint32_t i = 0; i < W->I && st == US_OK; i++) {
        const synth_item *it = &W->items[i];
        const cat_def *cd = &CATS[it->cat % NCAT_BASE];
        cat_name(it->cat, cname, sizeof cname);
        snprintf(lcat, sizeof lcat, "%s", cname);
        for (char *p = lcat; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        brand_name(it->brand, brand, sizeof brand);
        item_id(W->seed, i, asin);
        const char *noun = cd->noun[it->noun];
        b.len = 0;
        sb_str(&b, "{\"category\": [\"Synthetic\", ");
        sb_json(&b, cname);
        sb_str(&b, ", ");
        sb_json(&b, cd->sub[it->noun]);
        /* Description: a line of marketing, then up to three of the item's good aspects. */
        sbuf d = {0};
        tvars tv = {noun, brand, lcat, ""};
        sb_template(&d, "Meet the {b} {n}, made for everyday {c} needs.", &tv);
        int shown = 0;
        for (int j = 0; j < it->k && shown < 3; j++) {
            if (it->q[j] < 0) continue;
            aspect_clause(it->asp[j], 1, clause, sizeof clause);
            sb_put(&d, " ", 1);
            sb_cap(&d, clause);
            sb_put(&d, ".", 1);
            shown++;
        }
        sb_str(&b, "], \"description\": [");
        sb_json_n(&b, d.p ? d.p : "", d.len);
        if (d.oom) b.oom = 1;
        free(d.p);
        /* Title: "Brand Noun XY-123 - First Aspect and Second Aspect". */
        sbuf t = {0};
        sb_str(&t, brand);
        sb_put(&t, " ", 1);
        sb_title(&t, noun);
        sb_fmt(&t, " %c%c-%u - ", brand[0], brand[1] >= 'a' ? brand[1] - 'a' + 'A' : brand[1],
               (unsigned)it->model);
        for (int j = 0; j < it->k && j < 2; j++) {
            aspect_name(it->asp[j], aname, sizeof aname);
            if (j) sb_str(&t, " and ");
            sb_title(&t, aname);
        }
        sb_str(&b, "], \"title\": ");
        sb_json_n(&b, t.p ? t.p : "", t.len);
        if (t.oom) b.oom = 1;
        free(t.p);
        sb_str(&b, ", \"brand\": ");
        sb_json(&b, brand);
        /* Features: "Battery life: the battery lasts for days" for each good aspect. */
        sb_str(&b, ", \"feature\": [");
        int nf = 0;
        for (int j = 0; j < it->k; j++) {
            if (it->q[j] < 0) continue;
            char feat[256];
            aspect_name(it->asp[j], aname, sizeof aname);
            aspect_clause(it->asp[j], 1, clause, sizeof clause);
            snprintf(feat, sizeof feat, "%c%s: %s",
                     aname[0] >= 'a' && aname[0] <= 'z' ? aname[0] - 'a' + 'A' : aname[0],
                     aname + 1, clause);
            if (nf++) sb_str(&b, ", ");
            sb_json(&b, feat);
        }
        sb_str(&b, "], \"main_cat\": ");
        sb_json(&b, cd->main_cat);
        sb_fmt(&b, ", \"price\": \"$%u.%02u\", \"asin\": \"%s\"}\n",
               (unsigned)(it->price_cents / 100), (unsigned)(it->price_cents % 100), asin);
        st = gz_out(gz, &b, path, err);
    }
    free(b.p);
    int zrc = gzclose(gz);
    if (st == US_OK && zrc != Z_OK) st = us_err_set(err, US_EIO, path, 0, NULL, "close failed");
    return st;
}

/* aspects.csv: the planted truth for keyword extraction, one line per (item, aspect) in item
 * order and the item's aspect order. No clause holds a comma or a quote, so no field is quoted. */
static us_status write_aspects(const world *W, const char *path, us_err *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return us_err_set(err, US_EIO, path, 0, NULL, "cannot create: %s", strerror(errno));
    char asin[11], aname[64], good[160], bad[160];
    int bad_io = fputs("item,aspect,quality,good,bad\n", f) < 0;
    for (uint32_t i = 0; i < W->I && !bad_io; i++) {
        const synth_item *it = &W->items[i];
        item_id(W->seed, i, asin);
        for (int j = 0; j < it->k && !bad_io; j++) {
            aspect_name(it->asp[j], aname, sizeof aname);
            aspect_clause(it->asp[j], 1, good, sizeof good);
            aspect_clause(it->asp[j], 0, bad, sizeof bad);
            bad_io = fprintf(f, "%s,%s,%d,%s,%s\n", asin, aname, it->q[j], good, bad) < 0;
        }
    }
    if (fclose(f) != 0) bad_io = 1;
    return bad_io ? us_err_set(err, US_EIO, path, 0, NULL, "write failed") : US_OK;
}

/* Synthetic_5.json.gz and truth.csv: every user's reviews in chronological order, user by
 * user. Adds up the likes for the report. */
static us_status write_reviews(const world *W, const char *rpath, const char *tpath,
                               us_progress *pb, uint64_t *likes, us_err *err) {
    us_status st = US_ENOMEM;
    gzFile gz = NULL;
    FILE *tf = NULL;
    sbuf b = {0}, txt = {0}, sum = {0}, tru = {0};
    user_par par = {0};
    uint32_t *idx = malloc((size_t)W->C * sizeof *idx);
    par.aff = malloc((size_t)W->C * sizeof *par.aff);
    par.w = malloc((size_t)W->A * sizeof *par.w);
    if (!idx || !par.aff || !par.w) {
        us_err_set(err, US_ENOMEM, NULL, 0, NULL, "out of memory");
        goto done;
    }
    gz = gzopen(rpath, "wb");
    if (!gz) {
        st = us_err_set(err, US_EIO, rpath, 0, NULL, "cannot create: %s", strerror(errno));
        goto done;
    }
    gzbuffer(gz, 1u << 18);
    tf = fopen(tpath, "wb");
    if (!tf) {
        st = us_err_set(err, US_EIO, tpath, 0, NULL, "cannot create: %s", strerror(errno));
        goto done;
    }
    sb_str(&tru, "user,item,p_like,rating,label\n");

    const double inv_sqrt2 = 0.70710678118654752440;
    char uid[15], asin[11], brand[32], lcat[64];
    *likes = 0;
    st = US_OK;
    for (uint32_t u = 0; u < W->U && st == US_OK; u++) {
        user_params(W, u, &par, idx);
        user_id(W->seed, u, uid);
        us_rng r = stream(W->seed, D_RATE, u);
        b.len = 0;
        for (uint32_t j = W->ustart[u]; j < W->ustart[u + 1]; j++) {
            const synth_item *it = &W->items[W->ritem[j]];
            /* s = b_u + aff_u,c + k^-1/2 sum_a w_a q_a. */
            double dot = 0;
            for (int a = 0; a < it->k; a++) dot += par.w[it->asp[a]] * it->q[a];
            double s = par.bias + par.aff[it->cat] + dot / sqrt((double)it->k);
            /* rating = clamp(round(3 + s + noise eps)); p_like = Phi((s + 0.5) / noise), with
             * Phi(x) = erfc(-x / sqrt 2) / 2 (accurate in both tails). */
            double y = 3.0 + s + W->noise * us_rng_normal(&r);
            double rr = round(y);
            int rating = rr < 1 ? 1 : rr > 5 ? 5 : (int)rr;
            double p_like = 0.5 * erfc(-(s + 0.5) / W->noise * inv_sqrt2);
            *likes += rating >= 3;

            const cat_def *cd = &CATS[it->cat % NCAT_BASE];
            cat_name(it->cat, lcat, sizeof lcat);
            for (char *p = lcat; *p; p++)
                if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
            brand_name(it->brand, brand, sizeof brand);
            item_id(W->seed, W->ritem[j], asin);
            tvars tv = {cd->noun[it->noun], brand, lcat, ""};
            txt.len = 0;
            review_text(&txt, &r, it, par.w, rating, &tv);
            sum.len = 0;
            sb_template(&sum, SUMMARIES[rating - 1][us_rng_bounded(&r, 4)], &tv);
            int verified = us_rng_bernoulli(&r, P_VERIFIED);

            int64_t yy;
            unsigned mm, dd;
            civil_from_days(W->rday[j], &yy, &mm, &dd);
            /* Amazon 2018 field order; reviewTime "MM D, YYYY" (month padded, day not). */
            sb_fmt(&b, "{\"overall\": %d.0, \"verified\": %s, \"reviewTime\": \"%02u %u, %lld\", "
                       "\"reviewerID\": \"%s\", \"asin\": \"%s\", \"reviewerName\": ",
                   rating, verified ? "true" : "false", mm, dd, (long long)yy, uid, asin);
            sb_json(&b, par.name);
            sb_str(&b, ", \"reviewText\": ");
            sb_json_n(&b, txt.p ? txt.p : "", txt.len);
            sb_str(&b, ", \"summary\": ");
            sb_json_n(&b, sum.p ? sum.p : "", sum.len);
            sb_fmt(&b, ", \"unixReviewTime\": %lld}\n", (long long)(W->rday[j] * 86400));
            sb_fmt(&tru, "%s,%s,%.6g,%d,%d\n", uid, asin, p_like, rating, rating >= 3);

            /* Drift: w(t+1) = w(t) + drift * eta, eta ~ N(0, I_A). */
            if (W->drift > 0)
                for (uint32_t a = 0; a < W->A; a++) par.w[a] += W->drift * us_rng_normal(&r);
        }
        if (txt.oom || sum.oom || tru.oom) b.oom = 1;
        st = gz_out(gz, &b, rpath, err);
        if (st == US_OK && tru.len && fwrite(tru.p, 1, tru.len, tf) != tru.len)
            st = us_err_set(err, US_EIO, tpath, 0, NULL, "write failed");
        tru.len = 0;
        us_progress_set(pb, W->ustart[u + 1]);
    }
done:
    if (gz) {
        int zrc = gzclose(gz);
        if (st == US_OK && zrc != Z_OK)
            st = us_err_set(err, US_EIO, rpath, 0, NULL, "close failed");
    }
    if (tf && fclose(tf) != 0 && st == US_OK)
        st = us_err_set(err, US_EIO, tpath, 0, NULL, "close failed: %s", strerror(errno));
    free(b.p);
    free(txt.p);
    free(sum.p);
    free(tru.p);
    free(idx);
    free(par.aff);
    free(par.w);
    return st;
}

/* ------------------------------------------------------------------------------------------
 * Public entry points
 * ---------------------------------------------------------------------------------------- */

us_synth_config us_synth_config_default(void) {
    return (us_synth_config){
        .out_dir = NULL,
        .users = 2000,
        .items = 1000,
        .reviews = 40000,
        .min_history = 5,
        .max_history = 0,
        .categories = 12,
        .aspects = 40,
        .noise = 0.8,
        .drift = 0.05,
        .choice_taste = 3.0,
        .bias = 0.35,
        .seed = 1,
        .quiet = 0,
    };
}

static us_status validate(const us_synth_config *cfg, us_err *err) {
    if (!cfg) return us_err_set(err, US_EINVAL, NULL, 0, "cfg", "expected a config, found NULL");
    if (!cfg->out_dir || !cfg->out_dir[0])
        return us_err_set(err, US_EINVAL, NULL, 0, "out_dir", "expected a folder path");
    if (cfg->users < 1)
        return us_err_set(err, US_EINVAL, NULL, 0, "users", "expected >= 1, found %u",
                          (unsigned)cfg->users);
    if (cfg->items < 1 || cfg->items > MAX_ITEMS)
        return us_err_set(err, US_EINVAL, NULL, 0, "items", "expected 1..%u, found %u",
                          MAX_ITEMS, (unsigned)cfg->items);
    if (cfg->min_history < 1 || cfg->min_history > cfg->items)
        return us_err_set(err, US_EINVAL, NULL, 0, "min_history", "expected 1..%u (at most "
                          "items), found %u", (unsigned)cfg->items, (unsigned)cfg->min_history);
    if (cfg->max_history != 0 &&
        (cfg->max_history < cfg->min_history || cfg->max_history > cfg->items))
        return us_err_set(err, US_EINVAL, NULL, 0, "max_history", "expected 0 (items) or "
                          "%u..%u (min_history..items), found %u", (unsigned)cfg->min_history,
                          (unsigned)cfg->items, (unsigned)cfg->max_history);
    if (cfg->categories < 1 || cfg->categories > NCAT_BASE * NCAT_MOD)
        return us_err_set(err, US_EINVAL, NULL, 0, "categories", "expected 1..%zu, found %u",
                          NCAT_BASE * NCAT_MOD, (unsigned)cfg->categories);
    if (cfg->aspects < MIN_ASPECTS || cfg->aspects > NASP_BASE * NASP_MOD)
        return us_err_set(err, US_EINVAL, NULL, 0, "aspects", "expected %d..%zu, found %u",
                          MIN_ASPECTS, NASP_BASE * NASP_MOD, (unsigned)cfg->aspects);
    if (!(cfg->noise > 0) || !isfinite(cfg->noise))
        return us_err_set(err, US_EINVAL, NULL, 0, "noise", "expected a finite number > 0, "
                          "found %g", cfg->noise);
    if (!(cfg->drift >= 0) || !isfinite(cfg->drift))
        return us_err_set(err, US_EINVAL, NULL, 0, "drift", "expected a finite number >= 0, "
                          "found %g", cfg->drift);
    if (!(cfg->choice_taste >= 0 && cfg->choice_taste <= 20))
        return us_err_set(err, US_EINVAL, NULL, 0, "choice_taste", "expected 0..20, found %g",
                          cfg->choice_taste);
    if (!(cfg->bias >= -MAX_BIAS && cfg->bias <= MAX_BIAS))
        return us_err_set(err, US_EINVAL, NULL, 0, "bias", "expected %g..%g, found %g",
                          -MAX_BIAS, MAX_BIAS, cfg->bias);
    /* Each user needs min_history reviews: the total after raising reviews to that (lowering
     * it to max_history per user happens later and cannot push it over). */
    uint64_t low = (uint64_t)cfg->min_history * cfg->users;
    if ((cfg->reviews > low ? cfg->reviews : low) > MAX_REVIEWS)
        return us_err_set(err, US_EINVAL, NULL, 0, "reviews", "expected a total of at most %llu "
                          "(after raising it to min_history %u per user), found %llu",
                          (unsigned long long)MAX_REVIEWS, (unsigned)cfg->min_history,
                          (unsigned long long)(cfg->reviews > low ? cfg->reviews : low));
    return US_OK;
}

us_status us_synth(const us_synth_config *cfg, us_synth_report *rep, us_err *err) {
    us_err_clear(err);
    double t0 = us_now();
    us_status st = validate(cfg, err);
    if (st != US_OK) return st;

    us_synth_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    const char *dir = cfg->out_dir;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--; /* "out/" -> "out/Synthetic_5.json.gz" */
    int k1 = snprintf(rep->reviews_path, sizeof rep->reviews_path, "%.*s/Synthetic_5.json.gz",
                      (int)dl, dir);
    int k2 = snprintf(rep->meta_path, sizeof rep->meta_path, "%.*s/meta_Synthetic.json.gz",
                      (int)dl, dir);
    int k3 = snprintf(rep->truth_path, sizeof rep->truth_path, "%.*s/truth.csv", (int)dl, dir);
    int k4 = snprintf(rep->aspects_path, sizeof rep->aspects_path, "%.*s/aspects.csv", (int)dl,
                      dir);
    /* Room for ".tmp" as well. */
    if (k1 < 0 || k2 < 0 || k3 < 0 || k4 < 0 || (size_t)k1 + 5 > sizeof rep->reviews_path ||
        (size_t)k2 + 5 > sizeof rep->meta_path || (size_t)k3 + 5 > sizeof rep->truth_path ||
        (size_t)k4 + 5 > sizeof rep->aspects_path)
        return us_err_set(err, US_EINVAL, NULL, 0, "out_dir", "path too long (%zu bytes)", dl);
    st = make_dirs(dir, err);
    if (st != US_OK) return st;

    /* R: raised to min_history per user, lowered to max_history per user (every user
     * reviewing every item when max_history is 0). */
    uint32_t max_h = cfg->max_history ? cfg->max_history : cfg->items;
    uint64_t R = cfg->reviews;
    if (R < (uint64_t)cfg->min_history * cfg->users) R = (uint64_t)cfg->min_history * cfg->users;
    if (R > (uint64_t)cfg->users * max_h) R = (uint64_t)cfg->users * max_h;

    world W = {.seed = cfg->seed,
               .U = cfg->users,
               .I = cfg->items,
               .C = cfg->categories,
               .A = cfg->aspects,
               .min_h = cfg->min_history,
               .max_h = max_h,
               .bias = cfg->bias,
               .noise = cfg->noise,
               .drift = cfg->drift,
               .taste = cfg->choice_taste};
    char tmp_r[1030], tmp_m[1030], tmp_t[1030], tmp_a[1030];
    snprintf(tmp_a, sizeof tmp_a, "%s.tmp", rep->aspects_path);
    snprintf(tmp_r, sizeof tmp_r, "%s.tmp", rep->reviews_path);
    snprintf(tmp_m, sizeof tmp_m, "%s.tmp", rep->meta_path);
    snprintf(tmp_t, sizeof tmp_t, "%s.tmp", rep->truth_path);

    st = plan(&W, R);
    if (st != US_OK) {
        us_err_set(err, st, NULL, 0, NULL, "out of memory planning %llu reviews",
                   (unsigned long long)R);
        goto done;
    }
    us_progress pb;
    us_progress_begin(&pb, NULL, "synth", "reviews", W.total, cfg->quiet);
    st = write_meta(&W, tmp_m, err);
    if (st == US_OK) st = write_aspects(&W, tmp_a, err);
    uint64_t likes = 0;
    if (st == US_OK) st = write_reviews(&W, tmp_r, tmp_t, &pb, &likes, err);
    us_progress_end(&pb);
    if (st != US_OK) goto done;

    const char *from[4] = {tmp_m, tmp_t, tmp_a, tmp_r},
               *to[4] = {rep->meta_path, rep->truth_path, rep->aspects_path, rep->reviews_path};
    for (int f = 0; f < 4; f++) {
        if (rename(from[f], to[f]) != 0) {
            st = us_err_set(err, US_EIO, to[f], 0, NULL, "cannot rename %s into place: %s",
                            from[f], strerror(errno));
            goto done;
        }
    }
    rep->reviews = W.total;
    rep->users = W.U;
    rep->items = W.I;
    rep->like_rate = W.total ? (double)likes / (double)W.total : 0.0;
    rep->seconds = us_now() - t0;
done:
    if (st != US_OK) {
        remove(tmp_r);
        remove(tmp_m);
        remove(tmp_t);
        remove(tmp_a);
    }
    world_free(&W);
    return st;
}
