/* libFuzzer target: the BERT tokenizer on arbitrary bytes, over the hand-written
 * tests/fixtures/tokenizer/mini_vocab.txt (opened once, relative to the repository root, where
 * `make fuzz` runs). The first input byte picks the output length (2..65) and the configuration
 * (the default, or no lowercase / no CJK split / no literal special tokens); the rest is the
 * text, in a malloc'd copy of exactly its size so that ASan catches any read past it.
 *
 * Beyond not crashing: the count is in [2, max_len]; the row is [CLS] ... [SEP] then [PAD]s with
 * the mask 1 exactly on the tokens; every id is in the vocabulary; and truncation only cuts, so
 * the row is the same text's 128-token row cut to max_len - 1 tokens plus [SEP]. A broken rule is
 * a __builtin_trap(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulator/embed/tokenizer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VOCAB "tests/fixtures/tokenizer/mini_vocab.txt"
#define BIG 128

static us_tokenizer *g_tok[2]; /* opened once, read-only afterwards */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    us_tokenizer_config cfg[2] = {us_tokenizer_config_default(), us_tokenizer_config_default()};
    cfg[1].lowercase = 0;
    cfg[1].tokenize_chinese_chars = 0;
    cfg[1].match_special = 0;
    for (int i = 0; i < 2; i++) {
        us_err err;
        if (us_tokenizer_open(&g_tok[i], VOCAB, &cfg[i], &err) != US_OK) {
            char buf[1024];
            fprintf(stderr, "fuzz_tokenizer: %s (run from the repository root)\n",
                    us_err_str(&err, buf, sizeof buf));
            abort();
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int max_len = 2 + (data[0] & 63);
    const us_tokenizer *tok = g_tok[data[0] >> 7];
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (!text) return 0;
    memcpy(text, data + 1, len);

    int32_t ids[65], big[BIG];
    uint8_t mask[65];
    int32_t vsize = us_tokenizer_vocab_size(tok);
    int32_t cls = us_tokenizer_id(tok, "[CLS]"), sep = us_tokenizer_id(tok, "[SEP]");
    int32_t pad = us_tokenizer_id(tok, "[PAD]");
    int n = us_tokenizer_encode(tok, text, len, ids, mask, max_len);
    int nbig = us_tokenizer_encode(tok, text, len, big, NULL, BIG);
    free(text);

    if (n < 2 || n > max_len || nbig < 2 || nbig > BIG) __builtin_trap();
    if (ids[0] != cls || ids[n - 1] != sep) __builtin_trap();
    for (int i = 0; i < max_len; i++) {
        if (ids[i] < 0 || ids[i] >= vsize) __builtin_trap();
        if (mask[i] != (i < n)) __builtin_trap();
        if (i >= n && ids[i] != pad) __builtin_trap();
    }
    /* Truncation keeps a prefix: same tokens up to the final [SEP]. */
    if (nbig <= max_len ? n != nbig : n != max_len) __builtin_trap();
    for (int i = 0; i < n - 1; i++)
        if (ids[i] != big[i]) __builtin_trap();
    return 0;
}
