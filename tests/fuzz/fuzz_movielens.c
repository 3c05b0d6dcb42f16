/* libFuzzer target: the MovieLens ratings and movies parsers (all three layouts) on arbitrary
 * lines; the first line of the input also exercises layout detection, and Latin-1 bytes the
 * conversion. What is checked: fuzz_reader.h. */
#include "tests/fuzz/fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const fz_target movielens = {.formats = {US_FORMAT_MOVIELENS}, .nformats = 1,
                                        .rating_min = 0.5, .rating_max = 5, .ts = FZ_TS_ALWAYS};
    return fz_run(&movielens, data, size);
}
