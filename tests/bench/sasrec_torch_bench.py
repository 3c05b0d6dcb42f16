#!/usr/bin/env python3
"""The PyTorch reference for tests/bench/bench_sasrec.c: trains a PyTorch SASRec of the same
architecture (simulator/sasrec/sasrec.h; the same model as
tests/fixtures/sasrec/make_sasrec_fixture.py, with dropout) from the C model's initial weights
on the same batches, and times it; then times the forward pass without gradients.

    sasrec_torch_bench.py BATCHES.bin THREADS      THREADS e.g. "1,2"

BATCHES.bin is written by bench_sasrec.c (its header documents the layout). For each thread
count (torch.set_num_threads), after a warm-up of 2 steps and a reset to the initial weights, it
prints

    torch train threads N seconds S loss L        (L: mean loss of the last quarter of steps)
    torch infer threads N single_us A batch_us B

rating head: A = one (user, history, candidate) row, B = per row of a batch of up to 256;
next-item head: A = every item scored after one history, B = per history of a batch of up to
256. Without torch it prints "torch skip <why>" and exits 0.
"""
import math
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as e:  # the C bench reports the ratio as skipped, with this reason
    print("torch skip %s is not importable by %s" % (e.name, sys.executable))
    sys.exit(0)

TENSORS = [
    "item_emb", "pos_emb", "user_emb", "ln1_w", "ln1_b", "qkv_w", "qkv_b", "attn_w", "attn_b",
    "ln2_w", "ln2_b", "ffn1_w", "ffn1_b", "ffn2_w", "ffn2_b", "lnf_w", "lnf_b", "head_w",
    "head_b", "out_w", "out_b",
]


def read_batches(path):
    raw = open(path, "rb").read()
    if raw[:8] != b"USSASB1\0":
        sys.exit("torch skip %s is not a bench_sasrec batches file" % path)
    off = 8
    hdr = np.frombuffer(raw, "<i4", 9, off)
    off += 36
    hp = np.frombuffer(raw, "<f4", 7, off)
    off += 28
    n_params = int(np.frombuffer(raw, "<i8", 1, off)[0])
    off += 8
    params = np.frombuffer(raw, "<f4", n_params, off).copy()
    off += 4 * n_params
    head, V, U, C, NB, H, T, B, steps = (int(x) for x in hdr)
    cfg = dict(head=head, V=V, U=U, C=C, NB=NB, H=H, T=T, B=B, steps=steps,
               dropout=float(hp[0]), ln_eps=float(hp[1]), lr=float(hp[2]),
               betas=(float(hp[3]), float(hp[4])), eps=float(hp[5]), wd=float(hp[6]))
    batches = []
    for _ in range(steps):
        hist = np.frombuffer(raw, "<i4", B * T, off).reshape(B, T)
        off += 4 * B * T
        if head == 0:
            users = np.frombuffer(raw, "<i4", B, off)
            items = np.frombuffer(raw, "<i4", B, off + 4 * B)
            labels = np.frombuffer(raw, "<f4", B, off + 8 * B)
            off += 12 * B
            batches.append(tuple(torch.from_numpy(x.astype(np.int64)) for x in
                                 (hist, users, items)) + (torch.from_numpy(labels.copy()),))
        else:
            pos = np.frombuffer(raw, "<i4", B * T, off).reshape(B, T)
            neg = np.frombuffer(raw, "<i4", B * T, off + 4 * B * T).reshape(B, T)
            off += 8 * B * T
            batches.append(tuple(torch.from_numpy(x.astype(np.int64)) for x in (hist, pos, neg)))
    return cfg, params, batches


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, eps, p = cfg["C"], cfg["ln_eps"], cfg["dropout"]
        self.C, self.H = C, cfg["H"]
        self.ln1 = nn.LayerNorm(C, eps=eps)
        self.in_proj = nn.Linear(C, 3 * C)  # rows q|k|v, as nn.MultiheadAttention's in_proj
        self.out_proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C, eps=eps)
        self.conv1 = nn.Conv1d(C, C, kernel_size=1)
        self.conv2 = nn.Conv1d(C, C, kernel_size=1)
        self.drop1, self.drop2 = nn.Dropout(p), nn.Dropout(p)

    def forward(self, x, allowed, row_ok, m):
        Bn, T, C, H = x.shape[0], x.shape[1], self.C, self.H
        d = C // H
        Q = self.ln1(x)
        w, b = self.in_proj.weight, self.in_proj.bias
        q = F.linear(Q, w[:C], b[:C]).view(Bn, T, H, d).transpose(1, 2)
        kv = F.linear(x, w[C:], b[C:])
        k = kv[..., :C].reshape(Bn, T, H, d).transpose(1, 2)
        v = kv[..., C:].reshape(Bn, T, H, d).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(d)
        s = s.masked_fill(~allowed, float("-inf"))
        s = torch.where(row_ok, s, torch.zeros_like(s))
        p = torch.softmax(s, dim=-1) * row_ok  # a padded query (no allowed key) gives 0
        a = (p @ v).transpose(1, 2).reshape(Bn, T, C)
        x = Q + self.out_proj(a)
        y = self.ln2(x)
        f = self.drop2(self.conv2(torch.relu(self.drop1(self.conv1(y.transpose(1, 2))))))
        return (y + f.transpose(1, 2)) * m


class SASRec(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        V, U, C, T = cfg["V"], cfg["U"], cfg["C"], cfg["T"]
        self.C, self.T = C, T
        self.item_emb = nn.Embedding(V + 1, C)
        self.pos_emb = nn.Embedding(T, C)
        self.user_emb = nn.Embedding(U, C)
        self.emb_drop = nn.Dropout(cfg["dropout"])
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg["NB"])])
        self.lnf = nn.LayerNorm(C, eps=cfg["ln_eps"])
        self.head = nn.Linear(2 * C, C)
        self.out = nn.Linear(C, 1)
        self.register_buffer("causal", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def encode(self, hist):
        real = hist >= 0
        m = real.unsqueeze(-1).float()
        x = self.emb_drop(self.item_emb(hist + 1) * math.sqrt(self.C) + self.pos_emb.weight)
        x = x * m
        allowed = (self.causal[None, :, :] & real[:, None, :])[:, None, :, :]
        row_ok = allowed.any(-1, keepdim=True)
        for blk in self.blocks:
            x = blk(x, allowed, row_ok, m)
        return self.lnf(x)

    def rating_logit(self, hist, users, items):
        h = self.encode(hist)[:, -1, :]
        z = self.head(torch.cat([h, self.user_emb(users)], dim=-1))
        return self.out(z * self.item_emb(items + 1)).squeeze(-1)

    def next_loss(self, hist, pos, neg):
        h = self.encode(hist)
        w = (pos >= 0).float()
        n = w.sum()
        lp = (h * self.item_emb((pos + 1).clamp(min=0))).sum(-1)
        ln = (h * self.item_emb((neg + 1).clamp(min=0))).sum(-1)
        return (F.binary_cross_entropy_with_logits(lp, torch.ones_like(lp), weight=w,
                                                   reduction="sum") / n +
                F.binary_cross_entropy_with_logits(ln, torch.zeros_like(ln), weight=w,
                                                   reduction="sum") / n)

    def block_views(self):
        """Each tensor of the C block order as a list of (parameter, view shape) pieces."""
        per = lambda f: [f(b) for b in self.blocks]  # noqa: E731
        return {
            "item_emb": [self.item_emb.weight], "pos_emb": [self.pos_emb.weight],
            "user_emb": [self.user_emb.weight],
            "ln1_w": per(lambda b: b.ln1.weight), "ln1_b": per(lambda b: b.ln1.bias),
            "qkv_w": per(lambda b: b.in_proj.weight), "qkv_b": per(lambda b: b.in_proj.bias),
            "attn_w": per(lambda b: b.out_proj.weight), "attn_b": per(lambda b: b.out_proj.bias),
            "ln2_w": per(lambda b: b.ln2.weight), "ln2_b": per(lambda b: b.ln2.bias),
            "ffn1_w": per(lambda b: b.conv1.weight), "ffn1_b": per(lambda b: b.conv1.bias),
            "ffn2_w": per(lambda b: b.conv2.weight), "ffn2_b": per(lambda b: b.conv2.bias),
            "lnf_w": [self.lnf.weight], "lnf_b": [self.lnf.bias],
            "head_w": [self.head.weight], "head_b": [self.head.bias],
            "out_w": [self.out.weight], "out_b": [self.out.bias],
        }

    def load_flat(self, flat):
        off = 0
        views = self.block_views()
        with torch.no_grad():
            for name in TENSORS:
                for p in views[name]:
                    n = p.numel()
                    p.copy_(torch.from_numpy(flat[off:off + n]).view(p.shape))
                    off += n
        if off != flat.size:
            sys.exit("torch skip parameter count %d != %d in the batches file" % (off, flat.size))


def step(model, opt, cfg, batch):
    if cfg["head"] == 0:
        hist, users, items, labels = batch
        loss = F.binary_cross_entropy_with_logits(model.rating_logit(hist, users, items), labels)
    else:
        loss = model.next_loss(*batch)
    opt.zero_grad()
    loss.backward()
    # every parameter decays, as in the C model's flat loop (a head's unused tensors too)
    for p in model.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    opt.step()
    return loss.item()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sasrec_torch_bench.py BATCHES.bin THREADS")
    cfg, params, batches = read_batches(sys.argv[1])
    torch.manual_seed(1)
    model = SASRec(cfg)
    for threads in [int(t) for t in sys.argv[2].split(",")]:
        torch.set_num_threads(threads)
        model.train()
        for warm in (True, False):
            model.load_flat(params)
            opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=cfg["betas"],
                                   eps=cfg["eps"], weight_decay=cfg["wd"])
            todo = batches[:2] if warm else batches
            q = len(todo) - len(todo) // 4
            tail = 0.0
            t0 = time.perf_counter()
            for i, b in enumerate(todo):
                loss = step(model, opt, cfg, b)
                if i >= q:
                    tail += loss
            dt = time.perf_counter() - t0
        print("torch train threads %d seconds %.6f loss %.6f" % (threads, dt, tail / (len(todo) - q)),
              flush=True)
        model.eval()
        with torch.no_grad():
            b0 = batches[0]
            nb = min(256, cfg["B"])
            if cfg["head"] == 0:
                one = tuple(x[:1] for x in b0[:3])
                many = tuple(x[:nb] for x in b0[:3])
                fwd = lambda xs: model.rating_logit(*xs)  # noqa: E731
            else:
                one, many = (b0[0][:1],), (b0[0][:nb],)
                E = model.item_emb.weight[1:]
                fwd = lambda xs: model.encode(xs[0])[:, -1, :] @ E.T  # noqa: E731
            for _ in range(10):
                fwd(one)
            reps = 300
            t0 = time.perf_counter()
            for _ in range(reps):
                fwd(one)
            single = (time.perf_counter() - t0) / reps
            t0 = time.perf_counter()
            for _ in range(20):
                fwd(many)
            per_row = (time.perf_counter() - t0) / (20 * nb)
        print("torch infer threads %d single_us %.3f batch_us %.4f" %
              (threads, 1e6 * single, 1e6 * per_row), flush=True)


if __name__ == "__main__":
    main()
