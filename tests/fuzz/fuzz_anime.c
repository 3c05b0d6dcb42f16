/* libFuzzer target: the Anime rating.csv and anime.csv parsers on arbitrary lines; the first
 * line of the input also exercises the header handling. What is checked: fuzz_reader.h. */
#include "tests/fuzz/fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const fz_target anime = {.formats = {US_FORMAT_ANIME}, .nformats = 1, .rating_min = 1,
                                    .rating_max = 10, .unrated = 1, .ts = FZ_TS_NEVER};
    return fz_run(&anime, data, size);
}
