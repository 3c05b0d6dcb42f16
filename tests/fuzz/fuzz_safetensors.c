/* libFuzzer target: the safetensors reader on arbitrary bytes, then the BERT weight check on
 * whatever it accepts. The input is copied to an exact-size buffer so a read past its end is
 * caught. An accepted file must keep every promise of the reader: each tensor's bytes inside
 * the buffer, size = numel * dtype size, names sorted and found by name; float tensors convert;
 * and the weight check (config: L 1, C 2, H 1, I 2, V 3, P 4) either fails or yields a block
 * of exactly the expected parameter count.
 */
#include <stdlib.h>
#include <string.h>

#include "simulator/embed/model_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    us_err err;
    us_safetensors *st = NULL;
    if (us_safetensors_open_mem(buf, size, "fuzz", &st, &err) != US_OK) {
        if (st) __builtin_trap();
        free(buf);
        return 0;
    }
    float out[1024];
    size_t n = us_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        const us_st_tensor *t = us_safetensors_at(st, i);
        if (t->end - t->begin != t->numel * us_dtype_size(t->dtype)) __builtin_trap();
        if (t->data < buf || t->data + (t->end - t->begin) > buf + size) __builtin_trap();
        if (i > 0 && strcmp(us_safetensors_at(st, i - 1)->name, t->name) >= 0) __builtin_trap();
        if (us_safetensors_find(st, t->name) != t) __builtin_trap();
        volatile uint8_t sink = 0;
        if (t->end > t->begin) sink ^= t->data[0] ^ t->data[t->end - t->begin - 1];
        (void)sink;
        if (t->numel <= sizeof out / sizeof out[0] &&
            (t->dtype == US_DT_F32 || t->dtype == US_DT_F16 || t->dtype == US_DT_BF16) &&
            us_safetensors_read_f32(st, t, out, &err) != US_OK)
            __builtin_trap();
    }
    (void)us_safetensors_meta(st, "format");
    us_bert_config cfg = {.vocab_size = 3,
                          .hidden_size = 2,
                          .num_hidden_layers = 1,
                          .num_attention_heads = 1,
                          .intermediate_size = 2,
                          .max_position_embeddings = 4,
                          .type_vocab_size = 2,
                          .layer_norm_eps = 1e-12f,
                          .max_seq_length = 4};
    us_bert_weights w;
    if (us_bert_weights_init(&w, st, &cfg, &err) == US_OK) {
        /* V*C + P*C + 2*C + 2*C, one layer of 4*(C*C + C) + 2*C + (I*C + I) + (C*I + C) + 2*C,
         * and the pooler C*C + C when present. */
        size_t want = 6 + 8 + 4 + 4 + 24 + 4 + 6 + 6 + 4 + (w.has_pooler ? 6 : 0);
        if (w.nfloats != want || !w.block) __builtin_trap();
        us_bert_weights_free(&w);
    } else if (w.block) {
        __builtin_trap();
    }
    us_safetensors_close(st);
    free(buf);
    return 0;
}
