#!/usr/bin/env python3
"""Straightforward PyTorch eager versions of seqbench's models, timed the same way, as the reference
point of the performance targets (README, "Performance"). Not part of the tests; needs torch.

    python3 scripts/pytorch_reference.py [--out results/pytorch-reference-2core/pytorch.json]

What it measures (on the CPU, all threads unless --threads):
  * training tokens/s of a full step (forward, cross-entropy, backward, AdamW) of the byte-level LM
    with seqbench's scaffolding (RMSNorm pre-norm, SwiGLU MLP, tied nothing) and
      - softmax attention with RoPE (the `attention` model), matmul + masked softmax, as plain eager code;
      - Gated DeltaNet in its recurrent form (a Python loop over time, the straightforward code);
      - the linear family's core with no / per-head / per-channel decay as loops (approximations:
        no short convolution or output gate), and torch.nn.LSTM / GRU;
      - the design note's reference: 2 layers, d_model 128, T=256, batch 8;
  * decode: one token's step at batch 1 for attention (KV cache at a position) and Gated DeltaNet
    (state update), median of many steps.
Sizes follow configs/models/*.toml `small`: d_model 256, 4 layers, head_dim 64, d_mlp 688.
"""
import argparse, json, math, os, platform, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

D_MODEL, N_LAYERS, HEAD_DIM, D_MLP, VOCAB = 256, 4, 64, 688, 256


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.w


class Mlp(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.gate_up = nn.Linear(d, 2 * h, bias=False)
        self.down = nn.Linear(h, d, bias=False)

    def forward(self, x):
        g, u = self.gate_up(x).chunk(2, -1)
        return self.down(F.silu(g) * u)


def rope(x, start):
    b, h, t, d = x.shape
    half = d // 2
    inv = 10000.0 ** (-torch.arange(0, half, dtype=torch.float32) * 2 / d)
    ang = torch.arange(start, start + t, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


class Attention(nn.Module):
    def __init__(self, d, hd):
        super().__init__()
        self.h, self.hd = d // hd, hd
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def forward(self, x, cache=None):
        b, t, d = x.shape
        q, k, v = [m.view(b, t, self.h, self.hd).transpose(1, 2) for m in self.qkv(x).chunk(3, -1)]
        start = 0 if cache is None else cache[0].shape[2]
        q, k = rope(q, start), rope(k, start)
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.hd)
        if t > 1:
            s = s.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        y = (s.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        return self.out(y), (k, v)


class GatedDeltaNet(nn.Module):
    """S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T, o_t = S_t^T q_t (per head; L2-normed q, k)."""

    def __init__(self, d, hd):
        super().__init__()
        self.h, self.hd = d // hd, hd
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.ab = nn.Linear(d, 2 * self.h, bias=True)
        self.out = nn.Linear(d, d, bias=False)

    def forward(self, x, state=None):
        b, t, d = x.shape
        q, k, v = [m.view(b, t, self.h, self.hd) for m in self.qkv(x).chunk(3, -1)]
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        a, beta = self.ab(x).chunk(2, -1)
        a, beta = torch.sigmoid(a), torch.sigmoid(beta)
        S = torch.zeros(b, self.h, self.hd, self.hd) if state is None else state
        outs = []
        for i in range(t):
            ki, vi, qi = k[:, i], v[:, i], q[:, i]  # [b, h, hd]
            ai, bi = a[:, i, :, None, None], beta[:, i, :, None]
            S = ai * S
            pred = torch.einsum("bhk,bhkv->bhv", ki, S)
            S = S + torch.einsum("bhk,bhv->bhkv", ki, bi * (vi - pred))
            outs.append(torch.einsum("bhk,bhkv->bhv", qi, S))
        y = torch.stack(outs, 1).reshape(b, t, d)
        return self.out(y), S


class LinearRecurrence(nn.Module):
    """The linear family's core as a straightforward loop over time: q, k, v projections, an optional
    decay (one per head: RetNet/Mamba-2 style; one per key channel: GLA style), no delta rule.
    An approximation of seqbench's mixers: no short convolution, output norm or gate."""

    def __init__(self, d, hd, gate):
        super().__init__()
        self.h, self.hd, self.gate = d // hd, hd, gate
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.g = nn.Linear(d, {"none": 0, "head": self.h, "channel": d}[gate] or 1, bias=True)
        self.out = nn.Linear(d, d, bias=False)

    def forward(self, x, state=None):
        b, t, d = x.shape
        q, k, v = [m.view(b, t, self.h, self.hd) for m in self.qkv(x).chunk(3, -1)]
        q = q / math.sqrt(self.hd)
        if self.gate == "head":
            a = torch.sigmoid(self.g(x))[..., None, None]  # [b, t, h, 1, 1]
        elif self.gate == "channel":
            a = torch.sigmoid(self.g(x)).view(b, t, self.h, self.hd, 1)
        S = torch.zeros(b, self.h, self.hd, self.hd) if state is None else state
        outs = []
        for i in range(t):
            if self.gate != "none":
                S = a[:, i] * S
            S = S + k[:, i, :, :, None] * v[:, i, :, None, :]
            outs.append(torch.einsum("bhk,bhkv->bhv", q[:, i], S))
        return self.out(torch.stack(outs, 1).reshape(b, t, d)), S


class Rnn(nn.Module):
    """torch.nn.LSTM / GRU (ATen's fused CPU cells)."""

    def __init__(self, d, hd, cell):
        super().__init__()
        self.rnn = cell(d, d, batch_first=True)

    def forward(self, x, state=None):
        y, s = self.rnn(x, state)
        return y, s


class LM(nn.Module):
    def __init__(self, mixer, d=D_MODEL, n=N_LAYERS, hd=HEAD_DIM, d_mlp=D_MLP):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.norms1 = nn.ModuleList(RMSNorm(d) for _ in range(n))
        self.mixers = nn.ModuleList(mixer(d, hd) for _ in range(n))
        self.norms2 = nn.ModuleList(RMSNorm(d) for _ in range(n))
        self.mlps = nn.ModuleList(Mlp(d, d_mlp) for _ in range(n))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, VOCAB, bias=False)

    def forward(self, ids, states=None):
        x = self.embed(ids)
        new = []
        for i in range(len(self.mixers)):
            y, s = self.mixers[i](self.norms1[i](x), None if states is None else states[i])
            x = x + y
            x = x + self.mlps[i](self.norms2[i](x))
            new.append(s)
        return self.head(self.norm(x)), new


def samples(fn, warmup, n, min_seconds):
    for _ in range(warmup):
        fn()
    out, start = [], time.perf_counter()
    while len(out) < n or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        if len(out) >= 1000:
            break
    return out


def training_step(model, batch, seq_len, fused=False, compiled=False):
    """One full training step (forward, cross-entropy, backward, AdamW) on random bytes, as a closure;
    `fused`: AdamW's fused kernel; `compiled`: the forward under torch.compile."""
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=fused)
    ids = torch.randint(0, VOCAB, (batch, seq_len + 1))

    def step():
        logits, _ = fwd(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def train_tokens_per_s(model, batch, seq_len, n=5, min_seconds=3.0):
    s = samples(training_step(model, batch, seq_len), 1, n, min_seconds)
    return batch * seq_len / statistics.median(s), s


@torch.no_grad()
def decode_step_seconds(model, position, kind):
    if kind == "attention":
        h = D_MODEL // HEAD_DIM
        states = [(torch.randn(1, h, position, HEAD_DIM), torch.randn(1, h, position, HEAD_DIM)) for _ in range(N_LAYERS)]
    else:
        states = [torch.zeros(1, D_MODEL // HEAD_DIM, HEAD_DIM, HEAD_DIM) for _ in range(N_LAYERS)]
    ids = torch.randint(0, VOCAB, (1, 1))
    # The cache grows by one token per step; time steps from the same starting position.
    return samples(lambda: model(ids, states), 3, 50, 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/pytorch-reference-2core/pytorch.json")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seq-lens", default="512,2048")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []

    def record(**kw):
        rows.append(kw)
        print(json.dumps(kw), flush=True)

    tps, s = train_tokens_per_s(LM(Attention, d=128, n=2, hd=64, d_mlp=344), 8, 256)
    record(what="train", model="attention d128 x2 (design note)", seq_len=256, batch=8, tokens_per_s=tps, samples=s)
    for t in [int(x) for x in args.seq_lens.split(",")]:
        tps, s = train_tokens_per_s(LM(Attention), 8, t, n=3)
        record(what="train", model="attention@small", seq_len=t, batch=8, tokens_per_s=tps, samples=s)
    t = int(args.seq_lens.split(",")[0])
    others = [
        ("gated-deltanet@small (recurrent loop)", GatedDeltaNet),
        ("linear-attention@small (recurrent loop, approx.)", lambda d, hd: LinearRecurrence(d, hd, "none")),
        ("retnet/mamba2@small (per-head decay loop, approx.)", lambda d, hd: LinearRecurrence(d, hd, "head")),
        ("gla/hgrn2/rwkv6@small (per-channel decay loop, approx.)", lambda d, hd: LinearRecurrence(d, hd, "channel")),
        ("lstm@small (torch.nn.LSTM)", lambda d, hd: Rnn(d, hd, nn.LSTM)),
        ("gru@small (torch.nn.GRU)", lambda d, hd: Rnn(d, hd, nn.GRU)),
    ]
    for name, cls in others:
        tps, s = train_tokens_per_s(LM(cls), 8, t, n=2)
        record(what="train", model=name, seq_len=t, batch=8, tokens_per_s=tps, samples=s)
    for kind, cls in [("attention", Attention), ("gated-deltanet", GatedDeltaNet)]:
        model = LM(cls).eval()
        for p in [128, 1024, 8192, 32768]:
            s = decode_step_seconds(model, p, kind)
            record(what="decode", model=f"{kind}@small", position=p, batch=1, median_seconds=statistics.median(s), samples=s)
    env = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"environment": env, "rows": rows}, f, indent=1)
    print("->", args.out)


if __name__ == "__main__":
    main()
