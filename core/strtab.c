/* strtab.c — string interning (byte strings to dense ids 0, 1, 2, ... in order of first
 * appearance) and us_hash64, the fast non-cryptographic hash behind it.
 *
 * Layout: an open-addressing table (linear probing, power-of-two capacity, load <= 1/2) of
 * 8-byte slots {32-bit hash fragment f, id + 1}, id + 1 == 0 meaning empty; an entry per id
 * with the string's address, length and f; and the strings themselves, NUL-terminated, in an
 * arena of chunks of at least 1 MiB that never move, so pointers from us_strtab_get stay valid
 * until us_strtab_free.
 *
 * f is the high half of us_hash64 and also gives the home slot (f & mask). In a probe run,
 * entries with another home differ from the key in f's low bits, so the fragment check almost
 * never sends a lookup to the entry array for a wrong string. Growing re-places every id from
 * its entry's f in id order: sequential reads, no string is touched or re-hashed.
 *
 * It deliberately does not support removal, is not thread-safe for concurrent writers, and
 * limits one string to 4 GiB - 1 bytes and the table to 2^31 strings (so the 2^32 home slots
 * that f can name are enough for load <= 1/2). */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* ------------------------------------------------------------------------------------------
 * us_hash64
 * ---------------------------------------------------------------------------------------- */

/* Odd 64-bit constants with well-spread bits: the golden ratio (2^64 / phi) and primes used
 * by xxHash and MurmurHash3's finalizer. */
#define K0 0x9e3779b97f4a7c15ULL
#define K1 0xc2b2ae3d27d4eb4fULL
#define K2 0x165667b19e3779f9ULL
#define K3 0xd6e8feb86659fd93ULL
#define K4 0xff51afd7ed558ccdULL

/* Little-endian loads through memcpy (no alignment needed; one mov on x86 and arm64), so the
 * hash of a byte string is the same on every machine. */
static inline uint64_t rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint64_t rd32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

/* Folded multiply: the 128-bit product a * b, high half xor low half. Every input bit reaches
 * many output bits in one multiply, which is what makes this hash fast. */
static inline uint64_t mum(uint64_t a, uint64_t b) {
#ifdef __SIZEOF_INT128__
    __extension__ unsigned __int128 p = (unsigned __int128)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
#else
    /* Schoolbook 64 x 64 -> 128 from 32-bit halves. */
    uint64_t al = (uint32_t)a, ah = a >> 32, bl = (uint32_t)b, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
    uint64_t lo = (mid << 32) | (uint32_t)ll;
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    return lo ^ hi;
#endif
}

/* MurmurHash3's fmix64 finalizer: full avalanche, so every output bit depends on every input
 * bit (what the table's low index bits and high fragment bits both need). */
static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= K4;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t us_hash64(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = data;
    size_t n = len;
    uint64_t h = seed ^ K0;
    uint64_t x = 0, y = 0;
    if (n > 16) {
        /* Bulk: 32 bytes per round in two independent lanes (for instruction-level
         * parallelism); each lane absorbs two words w0, w1 as lane = mum(w0 ^ k, w1 ^ lane). */
        if (n > 32) {
            uint64_t a = h, b = h ^ K3;
            do {
                a = mum(rd64(p) ^ K1, rd64(p + 8) ^ a);
                b = mum(rd64(p + 16) ^ K2, rd64(p + 24) ^ b);
                p += 32;
                n -= 32;
            } while (n > 32);
            h = a ^ b;
        }
        if (n > 16) {
            h = mum(rd64(p) ^ K1, rd64(p + 8) ^ h);
            p += 16;
            n -= 16;
        }
        /* 1..16 bytes remain; the last 16 bytes of the input (overlapping what was already
         * absorbed, which is harmless) cover them without a byte loop. */
        x = rd64(p + n - 16);
        y = rd64(p + n - 8);
    } else if (n >= 8) {
        x = rd64(p); /* 8..16 bytes: two possibly overlapping words cover them all */
        y = rd64(p + n - 8);
    } else if (n >= 4) {
        x = rd32(p); /* 4..7 bytes: two possibly overlapping 32-bit words */
        y = rd32(p + n - 4);
    } else if (n > 0) {
        /* 1..3 bytes: first, middle and last byte cover them all. */
        x = (uint64_t)p[0] | (uint64_t)p[n >> 1] << 8 | (uint64_t)p[n - 1] << 16;
    }
    h = mum(x ^ K1, y ^ h);
    /* The length goes in last, so inputs that only differ by overlap coverage or trailing
     * zero bytes still hash apart. */
    return fmix64(h ^ (uint64_t)len * K2);
}

/* ------------------------------------------------------------------------------------------
 * us_strtab
 * ---------------------------------------------------------------------------------------- */

#define CHUNK_BYTES ((size_t)1 << 20) /* arena chunk size */
#define BIG_STRING (CHUNK_BYTES / 4)  /* strings this long get a chunk of their own */
#define MIN_SLOTS 64
#define HASH_SEED 0x7573657273696dULL /* "usersim" */

#define MAX_STRINGS ((size_t)1 << 31)

typedef struct {
    uint32_t frag; /* f: the high 32 bits of the hash */
    uint32_t id1;  /* id + 1; 0 marks an empty slot */
} slot;

typedef struct {
    const char *s; /* NUL-terminated, in the arena */
    uint32_t len;
    uint32_t frag; /* f again, to re-place the id when the table grows */
} entry;

struct us_strtab {
    slot *slots;
    size_t mask; /* slot count - 1 */
    entry *ent;
    size_t nent, ent_cap;
    char **chunks; /* every chunk, for free and for us_strtab_bytes */
    size_t *chunk_size;
    size_t nchunks, chunks_cap, chunk_size_cap;
    char *cur; /* the chunk small strings go into */
    size_t cur_used, cur_size;
};

us_status us_strtab_init(us_strtab **out) {
    US_ASSERT(out);
    *out = NULL;
    us_strtab *t = calloc(1, sizeof *t);
    if (!t) return US_ENOMEM;
    t->slots = calloc(MIN_SLOTS, sizeof *t->slots);
    if (!t->slots) {
        free(t);
        return US_ENOMEM;
    }
    t->mask = MIN_SLOTS - 1;
    *out = t;
    return US_OK;
}

void us_strtab_free(us_strtab *t) {
    if (!t) return;
    for (size_t i = 0; i < t->nchunks; i++) free(t->chunks[i]);
    free(t->chunks);
    free(t->chunk_size);
    free(t->ent);
    free(t->slots);
    free(t);
}

uint32_t us_strtab_count(const us_strtab *t) { return (uint32_t)t->nent; }

size_t us_strtab_bytes(const us_strtab *t) {
    size_t b = sizeof *t + (t->mask + 1) * sizeof *t->slots + t->ent_cap * sizeof *t->ent +
               t->chunks_cap * sizeof *t->chunks + t->chunk_size_cap * sizeof *t->chunk_size;
    for (size_t i = 0; i < t->nchunks; i++) b += t->chunk_size[i];
    return b;
}

/* Looks s up. Returns the slot index holding it (and sets *found = 1), or the empty slot
 * where it would go (*found = 0). The table always has an empty slot (load <= 1/2). */
static size_t probe(const us_strtab *t, const char *s, uint32_t len, uint32_t frag,
                    int *found) {
    size_t i = (size_t)frag & t->mask;
    for (;;) {
        const slot *sl = &t->slots[i];
        if (sl->id1 == 0) {
            *found = 0;
            return i;
        }
        if (sl->frag == frag) {
            const entry *e = &t->ent[sl->id1 - 1];
            if (e->len == len && (len == 0 || memcmp(e->s, s, len) == 0)) {
                *found = 1;
                return i;
            }
        }
        i = (i + 1) & t->mask;
    }
}

/* Doubles the slot array and re-places every id, in id order, from its entry's fragment. */
static us_status grow_slots(us_strtab *t) {
    size_t ncap = 2 * (t->mask + 1);
    slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return US_ENOMEM;
    size_t nmask = ncap - 1;
    for (size_t id = 0; id < t->nent; id++) {
        uint32_t frag = t->ent[id].frag;
        size_t j = (size_t)frag & nmask;
        while (ns[j].id1 != 0) j = (j + 1) & nmask;
        ns[j] = (slot){frag, (uint32_t)id + 1};
    }
    free(t->slots);
    t->slots = ns;
    t->mask = nmask;
    return US_OK;
}

/* Copies s[0..len) plus a NUL into the arena; returns its address or NULL when out of
 * memory (the table is then unchanged). */
static char *arena_copy(us_strtab *t, const char *s, size_t len) {
    size_t need = len + 1;
    char *dst;
    if (need <= t->cur_size - t->cur_used) {
        dst = t->cur + t->cur_used;
        t->cur_used += need;
    } else {
        /* A new chunk: its own for a big string (so the current chunk keeps its free tail
         * for the small strings that follow), else a fresh current chunk. */
        int big = need >= BIG_STRING;
        size_t size = big ? need : CHUNK_BYTES;
        if (us_grow((void **)&t->chunks, &t->chunks_cap, t->nchunks + 1, sizeof *t->chunks) ||
            us_grow((void **)&t->chunk_size, &t->chunk_size_cap, t->nchunks + 1,
                    sizeof *t->chunk_size))
            return NULL;
        dst = malloc(size);
        if (!dst) return NULL;
        t->chunks[t->nchunks] = dst;
        t->chunk_size[t->nchunks] = size;
        t->nchunks++;
        if (!big) {
            t->cur = dst;
            t->cur_size = size;
            t->cur_used = need;
        }
    }
    if (len) memcpy(dst, s, len);
    dst[len] = '\0';
    return dst;
}

us_status us_strtab_intern(us_strtab *t, const char *s, size_t len, uint32_t *id, int *is_new) {
    US_ASSERT(t && (s || len == 0));
    if (len > UINT32_MAX - 1) return US_EINVAL;
    uint32_t frag = (uint32_t)(us_hash64(s, len, HASH_SEED) >> 32);
    int found;
    size_t i = probe(t, s, (uint32_t)len, frag, &found);
    if (found) {
        if (id) *id = t->slots[i].id1 - 1;
        if (is_new) *is_new = 0;
        return US_OK;
    }
    if (t->nent >= MAX_STRINGS) return US_EINVAL;
    /* Keep the load factor at most 1/2 after this insert: short probe runs for linear
     * probing, and always an empty slot to stop at. */
    if (2 * (t->nent + 1) > t->mask + 1) {
        if (grow_slots(t)) return US_ENOMEM;
        i = probe(t, s, (uint32_t)len, frag, &found);
    }
    if (us_grow((void **)&t->ent, &t->ent_cap, t->nent + 1, sizeof *t->ent)) return US_ENOMEM;
    char *copy = arena_copy(t, s, len);
    if (!copy) return US_ENOMEM;
    uint32_t nid = (uint32_t)t->nent;
    t->ent[nid] = (entry){copy, (uint32_t)len, frag};
    t->nent++;
    t->slots[i] = (slot){frag, nid + 1};
    if (id) *id = nid;
    if (is_new) *is_new = 1;
    return US_OK;
}

int us_strtab_find(const us_strtab *t, const char *s, size_t len, uint32_t *id) {
    if (!t || (!s && len) || len > UINT32_MAX - 1) return 0;
    int found;
    uint32_t frag = (uint32_t)(us_hash64(s, len, HASH_SEED) >> 32);
    size_t i = probe(t, s, (uint32_t)len, frag, &found);
    if (found && id) *id = t->slots[i].id1 - 1;
    return found;
}

const char *us_strtab_get(const us_strtab *t, uint32_t id, size_t *len) {
    if (!t || id >= t->nent) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->ent[id].len;
    return t->ent[id].s;
}
