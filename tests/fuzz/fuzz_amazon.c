/* libFuzzer target: the Amazon parsers, 2014/2018 (US_FORMAT_AMAZON) and 2023, on arbitrary
 * lines, as reviews and as metadata (dict literals and JSON). What is checked: fuzz_reader.h. */
#include "tests/fuzz/fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const fz_target amazon = {.formats = {US_FORMAT_AMAZON, US_FORMAT_AMAZON2023},
                                     .nformats = 2, .rating_min = 1, .rating_max = 5,
                                     .ts = FZ_TS_ALWAYS};
    return fz_run(&amazon, data, size);
}
