#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_safetensors into the folder OUT (`make fuzz` passes
build-fuzz/seeds/fuzz_safetensors; the files are generated, not kept in the repository): a tiny
BERT that the fuzz target's config accepts (1 layer, C 2, I 2, V 3, P 4, with pooler and position
ids, in F32 and in F16), and a small file with metadata, a scalar and an empty tensor. Standard
library only: python3 tests/fuzz/make_seeds_safetensors.py OUT"""
import json
import os
import struct
import sys

if len(sys.argv) != 2:
    sys.exit("usage: make_seeds_safetensors.py OUT")
OUT = sys.argv[1]


def save(name, tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes), stored in that order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for tname, dtype, shape, raw in tensors:
        header[tname] = {"dtype": dtype, "shape": shape,
                         "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def tiny_bert(dtype):
    C, I, V, P = 2, 2, 3, 4
    shapes = [("embeddings.word_embeddings.weight", [V, C]),
              ("embeddings.position_embeddings.weight", [P, C]),
              ("embeddings.token_type_embeddings.weight", [2, C]),
              ("embeddings.LayerNorm.weight", [C]), ("embeddings.LayerNorm.bias", [C])]
    layer = [("attention.self.query.weight", [C, C]), ("attention.self.query.bias", [C]),
             ("attention.self.key.weight", [C, C]), ("attention.self.key.bias", [C]),
             ("attention.self.value.weight", [C, C]), ("attention.self.value.bias", [C]),
             ("attention.output.dense.weight", [C, C]), ("attention.output.dense.bias", [C]),
             ("attention.output.LayerNorm.weight", [C]), ("attention.output.LayerNorm.bias", [C]),
             ("intermediate.dense.weight", [I, C]), ("intermediate.dense.bias", [I]),
             ("output.dense.weight", [C, I]), ("output.dense.bias", [C]),
             ("output.LayerNorm.weight", [C]), ("output.LayerNorm.bias", [C])]
    shapes += [("encoder.layer.0." + n, s) for n, s in layer]
    shapes += [("pooler.dense.weight", [C, C]), ("pooler.dense.bias", [C])]
    fmt = {"F32": "<f", "F16": "<e"}[dtype]
    tensors = []
    for k, (name, shape) in enumerate(shapes):
        n = 1
        for d in shape:
            n *= d
        raw = b"".join(struct.pack(fmt, ((k + i) % 5 - 2) / 4) for i in range(n))
        tensors.append((name, dtype, shape, raw))
    tensors.append(("embeddings.position_ids", "I64", [1, P],
                    b"".join(struct.pack("<q", i) for i in range(P))))
    return tensors


os.makedirs(OUT, exist_ok=True)
save("tiny_bert_f32.safetensors", tiny_bert("F32"), {"format": "pt"})
save("tiny_bert_f16.safetensors", tiny_bert("F16"))
save("small.safetensors",
     [("a", "F32", [2, 3], struct.pack("<6f", 1.5, -2, 0.25, 3e-5, -1e6, 7)),
      ("b", "BF16", [2], struct.pack("<2H", 0x3F80, 0xC049)),
      ("c", "I64", [], struct.pack("<q", 42)),
      ("z", "U8", [0, 4], b"")],
     {"format": "pt", "note": "seed"})
