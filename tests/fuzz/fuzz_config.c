/* libFuzzer target: the `usersim extract` settings file (--config FILE, USERSIM_CONFIG) on
 * arbitrary bytes. The parser is the command's own (the file is compiled in here, with the
 * command-line helpers it uses): it either applies every line or names a bad one (printed as
 * for the user), and the configuration it leaves must still be within the bounds the options
 * enforce. The input is copied to an exact-size buffer so a read past its end is caught. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.c"
#include "cli/cmd_extract.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    us_extract_config cfg = us_extract_config_default();
    flags fl = {0};
    int rc = parse_config("fuzz.conf", buf, &cfg, &fl);
    if (rc != 0 && rc != 1) __builtin_trap();
    if (cfg.concurrency < 1 || cfg.min_items < 1 || cfg.max_per_side < 1 ||
        cfg.max_tokens < 1 || cfg.reviews_per_item < 1 || cfg.review_chars < 1 ||
        cfg.max_retries < 0)
        __builtin_trap();
    if (!(cfg.max_item_share > 0 && cfg.max_item_share <= 1)) __builtin_trap();
    if (!(cfg.temperature >= 0 && cfg.temperature <= 2) || !(cfg.timeout_s > 0)) __builtin_trap();
    free(buf);
    return 0;
}
