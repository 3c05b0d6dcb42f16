/* libFuzzer target: the Yelp review and business parsers on arbitrary lines. What is checked:
 * fuzz_reader.h. */
#include "tests/fuzz/fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const fz_target yelp = {.formats = {US_FORMAT_YELP}, .nformats = 1, .rating_min = 1,
                                   .rating_max = 5, .ts = FZ_TS_ALWAYS};
    return fz_run(&yelp, data, size);
}
