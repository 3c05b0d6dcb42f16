/* vec.c — geometric growth for the growable arrays of core.h (us_grow, used by us_vec_push).
 *
 * It only reallocates: it does not shrink, zero new elements or track lengths. */
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"

/* The first allocation holds at least this many elements, so tiny arrays do not realloc on
 * every push. */
#define MIN_CAP 8

us_status us_grow(void **data, size_t *cap, size_t need, size_t elsize) {
    US_ASSERT(data && cap && elsize > 0);
    if (need <= *cap) return US_OK;
    size_t max_elems = SIZE_MAX / elsize;
    if (need > max_elems) return US_ENOMEM;
    /* Grow by 1.5x (amortized O(1) per push, and less slack than doubling for the large
     * arrays of an ingest), but at least to `need` and MIN_CAP, and never past what
     * need * elsize can address without overflow. */
    size_t ncap = *cap + *cap / 2;
    if (ncap < *cap || ncap > max_elems) ncap = max_elems;
    if (ncap < need) ncap = need;
    if (ncap < MIN_CAP) ncap = MIN_CAP <= max_elems ? MIN_CAP : need;
    void *p = realloc(*data, ncap * elsize);
    if (!p && ncap > need) {
        /* The geometric step may be what did not fit; try the exact size once. */
        ncap = need;
        p = realloc(*data, ncap * elsize);
    }
    if (!p) return US_ENOMEM;
    *data = p;
    *cap = ncap;
    return US_OK;
}
