#!/usr/bin/env python3
"""seqbench against PyTorch eager, side by side in one run: training tokens/s per model and setting.

    python3 scripts/pytorch_parity.py [--seqbench target/release/seqbench] \
        [--out results/pytorch-parity-2core] [--models attention,gru,...] [--settings small:512:8,...]
    python3 scripts/pytorch_parity.py --decode [--positions 128,2048]     (the decode step instead)

Needs torch and flash-linear-attention (`pip install torch flash-linear-attention`; fla's naive
references are plain torch and run on the CPU). For each model and setting it times PyTorch's step,
then seqbench's (`seqbench train-speed`, chunkwise and recurrent forms, the faster kept), on the
same threads, one after the other, in `--rounds` paired rounds (the ratio is the median of the
rounds' ratios, its range their min-max: a shared machine's drift reaches both sides of a round
alike), and writes `parity.json` (every sample, both sides, parameter
counts) and `parity.md` (the ratio table README shows); `rows.jsonl` keeps each row as it is
measured, and a rerun with the same --out measures only the missing ones.

The PyTorch side is what a PyTorch user would run on a CPU, in seqbench's scaffold (byte embedding,
RMSNorm pre-norm, SwiGLU MLP, AdamW; `pytorch_reference.LM`):
  attention       F.scaled_dot_product_attention (causal) with RoPE
  lstm, gru       torch.nn.LSTM / torch.nn.GRU (ATen's fused cells)
  gated-deltanet  fla naive_chunk_gated_delta_rule, DeltaNet  fla delta_rule_chunkwise,
  kda             fla naive_chunk_kda, retnet and mamba2  fla naive_chunk_simple_gla (scalar decay),
  linear-attention fla naive_chunk_linear_attn, gla  fla naive_recurrent_gla (fla has no chunked naive GLA),
  rwkv7           fla dplr_chunkwise (the generalised delta rule's naive chunked form),
each with seqbench's projections (short convolutions, gates, output norms) so the parameter counts
match (both are recorded). Not covered: HGRN-2, RWKV-6, mLSTM, Gated DeltaProduct, Mamba-3
(no CPU-runnable fla reference for the first three's layers in this form; not written for the last two).
"""
import argparse, importlib.metadata, json, math, os, platform, statistics, subprocess, sys, tempfile, time


def _argv_value(flag, default):
    for i, a in enumerate(sys.argv):
        if a == flag and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return default


# `--isa avx2` restricts PyTorch to AVX2 (ATen's kernels, MKL, oneDNN, and inductor's generated code,
# which follows ATEN_CPU_CAPABILITY); it must be set before torch is imported.
ISA = _argv_value("--isa", "native")
if ISA == "avx2":
    os.environ["ATEN_CPU_CAPABILITY"] = "avx2"
    os.environ["MKL_ENABLE_INSTRUCTIONS"] = "AVX2"
    os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
# Inductor's cache stays in the build tree, not in /tmp.
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "inductor-cache"))

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import LM, RMSNorm, Rnn, rope, samples, train_tokens_per_s  # noqa: E402

from fla.ops.gated_delta_rule.naive import naive_chunk_gated_delta_rule  # noqa: E402
from fla.ops.delta_rule.naive import delta_rule_chunkwise  # noqa: E402
from fla.ops.simple_gla.naive import naive_chunk_simple_gla  # noqa: E402
from fla.ops.linear_attn.naive import naive_chunk_linear_attn  # noqa: E402
from fla.ops.gla.naive import naive_recurrent_gla  # noqa: E402
from fla.ops.kda.naive import naive_chunk_kda  # noqa: E402
from fla.ops.generalized_delta_rule.dplr.naive import dplr_chunkwise  # noqa: E402
import pytorch_peers  # noqa: E402

# `--peer strongest`: the vectorised chunked forms (pytorch_peers) instead of fla's naive references.
VECTORISED = False

# size name -> (d_model, n_layers, head_dim, d_mlp), as configs/models/*.toml
SIZES = {"small": (256, 4, 64, 688), "tiny": (32, 2, 8, 88)}


class SdpaAttention(nn.Module):
    def __init__(self, d, hd):
        super().__init__()
        self.h, self.hd = d // hd, hd
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def forward(self, x, state=None):
        b, t, d = x.shape
        q, k, v = [m.view(b, t, self.h, self.hd).transpose(1, 2) for m in self.qkv(x).chunk(3, -1)]
        if state is None:
            y = F.scaled_dot_product_attention(rope(q, 0), rope(k, 0), v, is_causal=True)
            return self.out(y.transpose(1, 2).reshape(b, t, d)), None
        # Decode: the KV cache `(k, v): [b, h, position, hd]` grows by concatenation (as transformers'
        # DynamicCache does); the new query sees every cached key.
        start = state[0].shape[2]
        k, v = torch.cat([state[0], rope(k, start)], 2), torch.cat([state[1], v], 2)
        y = F.scaled_dot_product_attention(rope(q, start), k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, d)), (k, v)

    def empty(self, b, position):
        return (torch.randn(b, self.h, position, self.hd), torch.randn(b, self.h, position, self.hd))


class ShortConv(nn.Module):
    """Depthwise causal convolution of width 4, then SiLU (seqbench's ShortConv)."""

    def __init__(self, c, width=4):
        super().__init__()
        self.conv = nn.Conv1d(c, c, width, groups=c, padding=width - 1)

    def forward(self, x):
        t = x.shape[1]
        return F.silu(self.conv(x.transpose(1, 2))[..., :t].transpose(1, 2))

    def step(self, x, window):
        """One token `x: [b, 1, c]` given the previous `width - 1` inputs `window: [b, width - 1, c]`."""
        window = torch.cat([window, x], 1)  # oldest first, as the kernel's taps
        y = (window * self.conv.weight[:, 0].t()).sum(1, keepdim=True) + self.conv.bias
        return F.silu(y), window[:, 1:]

    def empty(self, b):
        return torch.zeros(b, self.conv.kernel_size[0] - 1, self.conv.in_channels)


class HeadOutput(nn.Module):
    """W_o (RMSNorm_head(o) * gate): gate silu(W_g x), a low-rank sigmoid, or none."""

    def __init__(self, d, h, dv, gate):
        super().__init__()
        self.h, self.gate_kind = h, gate
        self.norm = RMSNorm(dv)
        if gate == "silu":
            self.gate = nn.Linear(d, h * dv, bias=False)
        elif gate == "low_rank":
            self.gate = nn.Sequential(nn.Linear(d, 16, bias=False), nn.Linear(16, h * dv, bias=True))
        self.out = nn.Linear(h * dv, d, bias=False)

    def forward(self, o, x):
        b, t = x.shape[:2]
        y = self.norm(o).reshape(b, t, -1)
        if self.gate_kind == "silu":
            y = y * F.silu(self.gate(x))
        elif self.gate_kind == "low_rank":
            y = y * torch.sigmoid(self.gate(x))
        return self.out(y)


class FlaMixer(nn.Module):
    """A linear-family mixer: seqbench's projections around an fla naive kernel."""

    def __init__(self, d, hd, kind):
        super().__init__()
        self.kind, self.h, self.hd = kind, d // hd, hd
        h = self.h
        delta = kind in ("gated-deltanet", "deltanet", "kda")
        self.dk = hd // 2 if kind == "gla" else hd
        self.qkv = nn.Linear(d, h * (2 * self.dk + hd), bias=False)
        self.conv = ShortConv(h * (2 * self.dk + hd)) if delta else None
        self.beta = nn.Linear(d, h, bias=True) if delta else None
        if kind == "gated-deltanet":
            self.decay = nn.Linear(d, h, bias=False)
            self.a_log = nn.Parameter(torch.zeros(h))
            self.dt_bias = nn.Parameter(torch.zeros(h))
        elif kind in ("kda", "gla"):
            self.decay = nn.Sequential(nn.Linear(d, 16, bias=False), nn.Linear(16, h * self.dk, bias=kind == "gla"))
            if kind == "kda":
                self.a_log = nn.Parameter(torch.zeros(h))
                self.dt_bias = nn.Parameter(torch.zeros(h * self.dk))
        if kind == "retnet":
            self.register_buffer("log_gamma", torch.tensor([math.log(1 - 2.0 ** (-5 - i)) for i in range(h)]))
        gate = {"gated-deltanet": "silu", "gla": "silu", "retnet": "silu", "kda": "low_rank"}.get(kind, "none")
        self.out = HeadOutput(d, h, hd, gate)

    def forward(self, x, state=None):
        if state is not None:
            return self.step(x, state)
        b, t, _ = x.shape
        h, dk, dv = self.h, self.dk, self.hd
        qkv = self.qkv(x)
        if self.conv is not None:
            qkv = self.conv(qkv)
        q, k, v = qkv.split([h * dk, h * dk, h * dv], -1)
        q, k, v = q.view(b, t, h, dk), k.view(b, t, h, dk), v.view(b, t, h, dv)
        if self.kind in ("gated-deltanet", "deltanet", "kda"):
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
            beta = torch.sigmoid(self.beta(x))
        if self.kind == "gated-deltanet":
            g = -self.a_log.exp() * F.softplus(self.decay(x) + self.dt_bias)
            if VECTORISED:
                o = pytorch_peers.chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=64)
            else:
                o, _ = naive_chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=64)
        elif self.kind == "deltanet":
            tr = lambda z: z.transpose(1, 2)  # noqa: E731
            o = tr(delta_rule_chunkwise(tr(q), tr(k), tr(v), beta.transpose(1, 2), chunk_size=32)[0])
        elif self.kind == "kda":
            g = -self.a_log.exp().repeat_interleave(dk) * F.softplus(self.decay(x) + self.dt_bias)
            o, _ = naive_chunk_kda(q, k, v, g.view(b, t, h, dk), beta, chunk_size=64)
        elif self.kind == "retnet":
            o, _ = naive_chunk_simple_gla(q, k, v, self.log_gamma.expand(b, t, h).contiguous())
        elif self.kind == "linear-attention":
            o = naive_chunk_linear_attn(q, k, v)
        elif self.kind == "gla":
            gk = F.logsigmoid(self.decay(x)).view(b, t, h, dk) / 16
            o, _ = naive_recurrent_gla(q, k, v, gk)
        return self.out(o.to(x.dtype), x), None

    def empty(self, b, position):
        s = torch.zeros(b, self.h, self.dk, self.hd)
        return (s, self.conv.empty(b) if self.conv is not None else None)

    def step(self, x, state):
        """One token on the state `(S: [b, h, d_k, d_v], conv window)`: the recurrence written as a
        PyTorch user writes a decode step (fla's kernels for it are Triton-only):
        S = exp(g) S;  u = beta (v - S^T k) (delta rule) or v;  S += k u^T;  o = S^T q."""
        b = x.shape[0]
        h, dk, dv = self.h, self.dk, self.hd
        S, window = state
        qkv = self.qkv(x)
        if self.conv is not None:
            qkv, window = self.conv.step(qkv, window)
        q, k, v = qkv.split([h * dk, h * dk, h * dv], -1)
        q, k, v = q.view(b, h, dk), k.view(b, h, dk), v.view(b, h, dv)
        delta = self.kind in ("gated-deltanet", "deltanet", "kda")
        if delta:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        q = q * dk ** -0.5
        if self.kind == "gated-deltanet":
            g = (-self.a_log.exp() * F.softplus(self.decay(x) + self.dt_bias)).view(b, h, 1, 1)
        elif self.kind == "kda":
            g = (-self.a_log.exp().repeat_interleave(dk) * F.softplus(self.decay(x) + self.dt_bias)).view(b, h, dk, 1)
        elif self.kind == "retnet":
            g = self.log_gamma.view(1, h, 1, 1)
        elif self.kind == "gla":
            g = (F.logsigmoid(self.decay(x)) / 16).view(b, h, dk, 1)
        else:
            g = None
        if g is not None:
            S = S * g.exp()
        if delta:
            beta = torch.sigmoid(self.beta(x)).view(b, h, 1)
            u = beta * (v - torch.einsum("bhk,bhkv->bhv", k, S))
        else:
            u = v
        S = S + k[..., None] * u[:, :, None, :]
        o = torch.einsum("bhk,bhkv->bhv", q, S).view(b, 1, h, dv)
        return self.out(o, x), (S, window)


class Mamba2(nn.Module):
    """seqbench's Mamba-2 on fla's naive chunked scalar-decay kernel (q = C, k = B shared, v = Δx)."""

    def __init__(self, d, hd, n=64):
        super().__init__()
        self.di, self.n = 2 * d, n
        self.h = self.di // hd
        self.in_proj = nn.Linear(d, 2 * self.di + 2 * n + self.h, bias=False)
        self.conv = ShortConv(self.di + 2 * n)
        self.a_log = nn.Parameter(torch.zeros(self.h))
        self.dt_bias = nn.Parameter(torch.zeros(self.h))
        self.skip = nn.Parameter(torch.ones(self.h))
        self.norm = RMSNorm(self.di)
        self.out = nn.Linear(self.di, d, bias=False)

    def empty(self, b, position):
        return (torch.zeros(b, self.h, self.n, self.di // self.h), self.conv.empty(b))

    def forward(self, u, state=None):
        b, t, _ = u.shape
        di, n, h = self.di, self.n, self.h
        z, xbc, dt = self.in_proj(u).split([di, di + 2 * n, h], -1)
        if state is not None:
            # Decode: S = exp(g) S + B (Δx)^T per head, y = S^T C + D x.
            S, window = state
            xbc, window = self.conv.step(xbc, window)
            x, bm, cm = xbc.split([di, n, n], -1)
            x = x.view(b, h, di // h)
            delta = F.softplus(dt + self.dt_bias).view(b, h)
            S = S * (delta * -self.a_log.exp()).exp()[..., None, None] + bm.view(b, 1, n, 1) * (x * delta[..., None])[:, :, None, :]
            o = torch.einsum("bn,bhnp->bhp", cm.view(b, n), S)
            y = (o + x * self.skip[:, None]).reshape(b, 1, di) * F.silu(z)
            return self.out(self.norm(y)), (S, window)
        xbc = self.conv(xbc)
        x, bm, cm = xbc.split([di, n, n], -1)
        x = x.view(b, t, h, di // h)
        delta = F.softplus(dt + self.dt_bias)
        g = delta * -self.a_log.exp()
        k, q = bm[:, :, None].expand(b, t, h, n), cm[:, :, None].expand(b, t, h, n)
        o, _ = naive_chunk_simple_gla(q, k, x * delta[..., None], g, scale=1.0)
        y = (o.to(u.dtype) + x * self.skip[:, None]).reshape(b, t, di) * F.silu(z)
        return self.out(self.norm(y)), None


class Rwkv7(nn.Module):
    """seqbench's RWKV-7 on fla's naive chunked DPLR kernel (`dplr_chunkwise`, the generalised delta
    rule S_t = Diag(w_t) S_{t-1} + beta_t (alpha_t^T S_{t-1}) + k_t v_t^T with alpha = -kappa,
    beta = kappa * rate): token shift, low-rank decay and rate, current-token bonus, silu gate."""

    def __init__(self, d, hd):
        super().__init__()
        self.h, self.hd = d // hd, hd
        self.mu = nn.Parameter(torch.rand(6, d))
        self.rkvg = nn.Linear(d, 4 * d, bias=False)
        self.omega = nn.Parameter(torch.linspace(-2, 2, d))
        self.decay = nn.Sequential(nn.Linear(d, 32, bias=False), nn.Tanh(), nn.Linear(32, d, bias=False))
        self.alpha = nn.Parameter(torch.zeros(d))
        self.rate = nn.Sequential(nn.Linear(d, 16, bias=False), nn.Linear(16, d, bias=False))
        self.xi = nn.Parameter(torch.full((d,), 0.85))
        self.lam = nn.Parameter(torch.ones(d))
        self.rho = nn.Parameter(torch.rand(self.h, hd) - 0.5)
        self.out = HeadOutput(d, self.h, hd, "none")

    def empty(self, b, position):
        return (torch.zeros(b, self.h, self.hd, self.hd), torch.zeros(b, 1, self.h * self.hd))

    def forward(self, x, state=None):
        b, t, d = x.shape
        h, hd = self.h, self.hd
        if state is not None:
            S, prev = state
            xx = prev - x
        else:
            xx = F.pad(x, (0, 0, 1, -1)) - x  # x_{t-1} - x_t
        xr, xw, xk, xv, xa, xg = [x + xx * self.mu[i] for i in range(6)]
        wr, wk, wv, wg = self.rkvg.weight.chunk(4, 0)
        r, k, v, g = F.linear(xr, wr), F.linear(xk, wk), F.linear(xv, wv), F.linear(xg, wg)
        log_w = torch.sigmoid(self.decay(xw) + self.omega) * -math.exp(-0.5)
        rate = torch.sigmoid(self.rate(xa) + self.alpha)
        heads = lambda z: z.view(b, t, h, hd)  # noqa: E731
        kappa = F.normalize(heads(k * self.xi), dim=-1)
        written = heads(k * (1 + (rate - 1) * self.lam))
        r, v, rate = heads(r), heads(v), heads(rate)
        bonus = (r * written * self.rho).sum(-1, keepdim=True) * v
        tr = lambda z: z.transpose(1, 2)  # noqa: E731
        if state is not None:
            # Decode: S = Diag(w) S + b (a^T S) + k v^T with a = -kappa, b = kappa * rate; o = S^T r.
            a, bb, w = -kappa[:, 0], (kappa * rate)[:, 0], heads(log_w)[:, 0].exp()
            S = S * w[..., None] + bb[..., None] * torch.einsum("bhk,bhkv->bhv", a, S)[:, :, None, :] \
                + written[:, 0, :, :, None] * v[:, 0, :, None, :]
            o = torch.einsum("bhk,bhkv->bhv", r[:, 0], S)[:, None]
            y = self.out.norm(o + bonus).reshape(b, t, d) * F.silu(g)
            return self.out.out(y), (S, x)
        # fla's naive DPLR scales q by d_k^-1/2; seqbench's RWKV-7 reads with scale 1. T must be a
        # multiple of its chunk (32): every setting here is.
        o, _ = dplr_chunkwise(tr(r) * hd ** 0.5, tr(written), tr(v), tr(-kappa), tr(kappa * rate), tr(heads(log_w)),
                              chunk_size=32)
        y = self.out.norm(tr(o).to(x.dtype) + bonus).reshape(b, t, d) * F.silu(g)
        return self.out.out(y), None


TORCH_MIXERS = {
    "attention": SdpaAttention,
    "lstm": lambda d, hd: Rnn(d, hd, nn.LSTM),
    "gru": lambda d, hd: Rnn(d, hd, nn.GRU),
    "mamba2": lambda d, hd: Mamba2(d, hd, 64 if d >= 64 else 16),
    "rwkv7": Rwkv7,
}
for _kind in ["gated-deltanet", "deltanet", "kda", "retnet", "linear-attention", "gla"]:
    TORCH_MIXERS[_kind] = (lambda kind: lambda d, hd: FlaMixer(d, hd, kind))(_kind)


def torch_tokens_per_s(model_name, size, seq_len, batch, steps):
    d, n, hd, d_mlp = SIZES[size]
    torch.manual_seed(0)
    model = LM(TORCH_MIXERS[model_name], d=d, n=n, hd=hd, d_mlp=d_mlp)
    _, s = train_tokens_per_s(model, batch, seq_len, n=steps, min_seconds=0.0)
    params = sum(p.numel() for p in model.parameters())
    return [batch * seq_len / x for x in s], params


def strongest_tokens_per_s(model_name, size, seq_len, batch, steps):
    """The strongest peer: the vectorised model with F.rms_norm and fused AdamW, eager and under
    torch.compile. Returns {eager: samples, compiled: samples or None, compile_seconds, params}
    (tokens/s; LSTM/GRU are ATen's fused cells, not compiled)."""
    d, n, hd, d_mlp = SIZES[size]
    out = {}
    for compiled in (False, True):
        if compiled and model_name in ("lstm", "gru"):
            out["compiled"], out["compile_seconds"] = None, None
            continue
        torch.manual_seed(0)
        model = pytorch_peers.strongest(LM(TORCH_MIXERS[model_name], d=d, n=n, hd=hd, d_mlp=d_mlp))
        s, warmup = pytorch_peers.train_step_samples(model, batch, seq_len, steps, compiled)
        out["compiled" if compiled else "eager"] = [batch * seq_len / x for x in s]
        if compiled:
            out["compile_seconds"] = warmup
        out["params"] = sum(p.numel() for p in model.parameters())
    return out


def seqbench_tokens_per_s(binary, model_name, size, seq_len, batch, steps, threads, forms="chunkwise,recurrent"):
    """`seqbench train-speed` for one model and setting over `forms` (the linear family's); returns the
    fastest form's samples (tokens/s), its name ("-" for models without forms) and the parameter count."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "train-speed", "--models", f"{model_name}@{size}", "--seq-lens", str(seq_len),
               "--batch", str(batch), "--forms", forms, "--warmup", "1", "--samples", str(steps),
               "--min-seconds", "0", "--out", out, "--run-id", "r", "--no-tables", "--no-report", "-q"]
        if threads:
            cmd += ["--threads", str(threads)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        cells = json.load(open(os.path.join(out, "r", "results.json")))["cells"]
    best = max((c for c in cells if c["status"] == "ok"), key=lambda c: c["summary"]["median"])
    # Only the linear family has forms (the others' cells carry the default form's name, one cell).
    form = best["settings"].get("form") if len(cells) > 1 or "," not in forms else "-"
    return best["samples"], form, int(best["metrics"]["param_bytes"] // 4)


DEFAULT_SETTINGS = "small:512:8,small:2048:8,tiny:64:32"


def empty_state(mixer, position):
    """A layer's decode state at `position` (batch 1): a random KV cache of that length for
    attention, zeros for the recurrent ones (their step does not depend on the position)."""
    if isinstance(mixer, Rnn):
        d = mixer.rnn.hidden_size
        h0 = torch.zeros(1, 1, d)
        return (h0, torch.zeros(1, 1, d)) if isinstance(mixer.rnn, nn.LSTM) else h0
    return mixer.empty(1, position)


@torch.no_grad()
def torch_decode_seconds(model_name, size, position):
    """One decode step of the whole model at batch 1, from the same state each time (the median of
    at least 50 steps and 1 s)."""
    d, n, hd, d_mlp = SIZES[size]
    torch.manual_seed(0)
    model = LM(TORCH_MIXERS[model_name], d=d, n=n, hd=hd, d_mlp=d_mlp).eval()
    states = [empty_state(m, position) for m in model.mixers]
    ids = torch.randint(0, 256, (1, 1))
    return samples(lambda: model(ids, states), 5, 50, 1.0)


def seqbench_decode_seconds(binary, model_name, size, positions, threads):
    """`seqbench latency` at batch 1: the decode step's samples at each position."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "latency", "--models", f"{model_name}@{size}", "--seq-lens", ",".join(map(str, positions)),
               "--prompt", "16", "--batch", "1", "--out", out, "--run-id", "r", "--no-tables", "--no-report", "-q"]
        if threads:
            cmd += ["--threads", str(threads)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        cells = json.load(open(os.path.join(out, "r", "results.json")))["cells"]
    return {c["value"]: c["samples"] for c in cells
            if c["measurement"] == "decode_latency" and c["status"] == "ok" and c["parameter"] == "position"}


@torch.no_grad()
def self_test():
    """The PyTorch peers' decode steps, token by token from an empty state, against their full
    forward (fla's naive kernels) at tiny size, T = 64: relative error per model."""
    errors = {}
    for name in TORCH_MIXERS:
        torch.manual_seed(0)
        d, n, hd, d_mlp = SIZES["tiny"]
        model = LM(TORCH_MIXERS[name], d=d, n=n, hd=hd, d_mlp=d_mlp).eval()
        ids = torch.randint(0, 256, (1, 64))
        full, _ = model(ids)
        states, outs = [empty_state(m, 0) for m in model.mixers], []
        for t in range(ids.shape[1]):
            o, states = model(ids[:, t:t + 1], states)
            outs.append(o)
        errors[name] = ((full - torch.cat(outs, 1)).norm() / full.norm()).item()
        print(f"{name}: decode vs forward {errors[name]:.1e}")
    # The strongest peer's vectorised Gated DeltaNet against fla's naive chunked form, at an odd length.
    torch.manual_seed(0)
    b, t, h, dk = 2, 37, 3, 16
    q, k = F.normalize(torch.randn(b, t, h, dk), dim=-1), F.normalize(torch.randn(b, t, h, dk), dim=-1)
    v, beta = torch.randn(b, t, h, dk), torch.rand(b, t, h)
    g = -torch.rand(b, t, h)
    ours = pytorch_peers.chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=16)
    theirs, _ = naive_chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=16)
    errors["gated-deltanet vectorised vs fla naive"] = ((ours - theirs).norm() / theirs.norm()).item()
    print(f"gated-deltanet vectorised vs fla naive: {errors['gated-deltanet vectorised vs fla naive']:.1e}")
    bad = [n for n, e in errors.items() if not e < 1e-5]
    if bad:
        sys.exit(f"decode disagrees with the forward: {', '.join(bad)}")


def decode_rows(args):
    """Decode per model and position, both sides; rows appended to decode.jsonl (resumable) and
    the table written to decode.md."""
    progress = os.path.join(args.out, "decode.jsonl")
    rows = [json.loads(line) for line in open(progress)] if os.path.exists(progress) else []
    done = {(r["model"], r["position"]) for r in rows}
    positions = [int(p) for p in args.positions.split(",")]
    for name in args.models.split(","):
        todo = [p for p in positions if (name, p) not in done]
        if not todo:
            continue
        ours = seqbench_decode_seconds(args.seqbench, name, "small", todo, args.threads)
        for p in todo:
            theirs = torch_decode_seconds(name, "small", p)
            row = dict(model=name, size="small", position=p, batch=1,
                       seqbench_ms=statistics.median(ours[p]) * 1e3, seqbench_samples=ours[p],
                       pytorch_ms=statistics.median(theirs) * 1e3, pytorch_samples=theirs)
            row["speedup"] = row["pytorch_ms"] / row["seqbench_ms"]
            rows.append(row)
            with open(progress, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: v for k, v in row.items() if not k.endswith("samples")}), flush=True)
    names = list(TORCH_MIXERS)
    rows.sort(key=lambda r: (names.index(r["model"]) if r["model"] in names else len(names), r["position"]))
    lines = ["| model | position | seqbench decode step, ms | PyTorch eager step, ms | PyTorch / seqbench |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['position']} | {r['seqbench_ms']:.3f} | {r['pytorch_ms']:.3f} | "
                     f"**{r['speedup']:.2f}x** |")
    with open(os.path.join(args.out, "decode.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seqbench", default="target/release/seqbench")
    ap.add_argument("--out", default=None,
                    help="output directory (default results/experiments/pytorch-parity-<peer>-<isa>)")
    ap.add_argument("--models", default=",".join(TORCH_MIXERS))
    ap.add_argument("--settings", default=DEFAULT_SETTINGS,
                    help="size:seq_len:batch, comma-separated")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per side and round (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="paired rounds per row (PyTorch, then seqbench); the ratio is the rounds' median")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--isa", choices=["native", "avx2"], default="native",
                    help="restrict PyTorch to AVX2 (ATEN_CPU_CAPABILITY, MKL, oneDNN) and require a seqbench "
                         "built for x86-64-v3: the AVX2 comparison on an AVX-512 machine")
    ap.add_argument("--peer", choices=["strongest", "reference"], default="strongest",
                    help="strongest: vectorised chunked forms, F.rms_norm, fused AdamW, eager and torch.compile "
                         "(the faster counts); reference: the scaffold on fla's naive kernels, eager")
    ap.add_argument("--decode", action="store_true",
                    help="measure the decode step (batch 1, small, at --positions) instead of training")
    ap.add_argument("--positions", default="128,2048", help="decode positions, comma-separated")
    ap.add_argument("--self-test", action="store_true",
                    help="check each PyTorch peer's decode step against its full forward, then exit")
    ap.add_argument("--skip", default="kda:small:2048:8,rwkv7:small:2048:8",
                    help="model:size:seq_len:batch pairs not to run (default: fla's naive chunked KDA and "
                         "DPLR (RWKV-7) at T=2048, batch 8, which needed more than the machine's 24 GiB and "
                         "were killed)")
    args = ap.parse_args()
    global VECTORISED
    VECTORISED = args.peer == "strongest"
    args.out = args.out or f"results/experiments/pytorch-parity-{args.peer}-{args.isa}"
    skip = set(args.skip.split(",")) if args.skip else set()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.self_test:
        self_test()
        return
    os.makedirs(args.out, exist_ok=True)
    if args.decode:
        decode_rows(args)
        return
    # Rows are appended as they are measured, so an interrupted run keeps them and a rerun goes on,
    # on the same CPU, ISA and peer only.
    progress = os.path.join(args.out, "rows.jsonl")
    rows = [json.loads(line) for line in open(progress)] if os.path.exists(progress) else []
    machine = this_machine(args.seqbench)
    for r in rows:
        theirs = {k: r.get(k) for k in ("cpu", "isa", "peer")}
        ours = {"cpu": machine["cpu"], "isa": ISA, "peer": args.peer}
        if theirs != ours:
            sys.exit(f"error: {progress} holds rows measured with {theirs}, this run is {ours}: "
                     "use another --out (rows of different machines or ISAs never share a table)")
    done = {(r["model"], r["size"], r["seq_len"], r["batch"]) for r in rows}
    for setting in args.settings.split(","):
        size, seq_len, batch = setting.split(":")
        seq_len, batch = int(seq_len), int(batch)
        for name in args.models.split(","):
            if (name, size, seq_len, batch) in done or f"{name}:{setting}" in skip:
                continue
            # Paired rounds: PyTorch's steps, then seqbench's, `--rounds` times, so that the machine's
            # drift (other tenants, clocks) reaches both sides of a round alike; the ratio is the
            # median of the rounds' ratios and its range their min-max. The first round picks
            # seqbench's faster form, which the later rounds measure alone.
            t_samples, s_samples, round_ratios, form = [], [], [], None
            eager, compiled, compile_seconds = [], [], []
            for _ in range(args.rounds):
                if args.peer == "strongest":
                    peer = strongest_tokens_per_s(name, size, seq_len, batch, args.steps)
                    eager += peer["eager"]
                    if peer["compiled"] is not None:
                        compiled += peer["compiled"]
                        compile_seconds.append(peer["compile_seconds"])
                    # The round's peer: the faster of eager and compiled.
                    t = max((x for x in (peer["eager"], peer["compiled"]) if x), key=statistics.median)
                    t_params = peer["params"]
                else:
                    t, t_params = torch_tokens_per_s(name, size, seq_len, batch, args.steps)
                forms = "chunkwise,recurrent" if form in (None, "-") else form
                s, f, s_params = seqbench_tokens_per_s(args.seqbench, name, size, seq_len, batch, args.steps,
                                                       args.threads, forms)
                form = form or f
                t_samples += t
                s_samples += s
                round_ratios.append(statistics.median(s) / statistics.median(t))
            row = dict(model=name, size=size, seq_len=seq_len, batch=batch, isa=ISA, peer=args.peer,
                       cpu=machine["cpu"], seqbench_isa=machine["seqbench_isa"],
                       torch_cpu_capability=machine["torch_cpu_capability"],
                       seqbench_tokens_per_s=statistics.median(s_samples), seqbench_form=form,
                       seqbench_samples=s_samples, seqbench_params=s_params,
                       pytorch_tokens_per_s=statistics.median(t_samples), pytorch_samples=t_samples,
                       pytorch_params=t_params, round_ratios=round_ratios)
            if args.peer == "strongest":
                row.update(pytorch_eager_tokens_per_s=statistics.median(eager), pytorch_eager_samples=eager,
                           pytorch_compiled_tokens_per_s=statistics.median(compiled) if compiled else None,
                           pytorch_compiled_samples=compiled, compile_seconds=compile_seconds)
            row["ratio"] = statistics.median(round_ratios)
            rows.append(row)
            with open(progress, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: v for k, v in row.items() if not k.endswith("samples")}), flush=True)
    order = [tuple(x.split(":")) for x in args.settings.split(",")] + [tuple(x.split(":")) for x in DEFAULT_SETTINGS.split(",")]
    names = list(TORCH_MIXERS)
    rows.sort(key=lambda r: (order.index((r["size"], str(r["seq_len"]), str(r["batch"])))
                             if (r["size"], str(r["seq_len"]), str(r["batch"])) in order else len(order),
                             names.index(r["model"]) if r["model"] in names else len(names)))
    env = {
        "torch": torch.__version__,
        "fla": importlib.metadata.version("flash-linear-attention"),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "isa": ISA,
        "peer": args.peer,
        "isa_environment": {k: os.environ.get(k) for k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")},
        "command_line": sys.argv,
        "threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "seqbench": subprocess.run([args.seqbench, "--version"], capture_output=True, text=True).stdout.strip(),
        # The binary's own account: commit (-dirty if built from uncommitted sources), sha256, the
        # ISA it was compiled for and the CPU's (binaries older than `seqbench env` give null).
        "seqbench_environment": seqbench_environment(args.seqbench),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(os.path.join(args.out, "parity.json"), "w") as f:
        json.dump({"environment": env, "rows": rows}, f, indent=1)
    lines = parity_table(rows, args.peer)
    with open(os.path.join(args.out, "parity.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("->", args.out)


def parity_table(rows, peer):
    """parity.md's lines: one row per model and setting; with the strongest peer, its eager and
    compiled figures and compile time beside the ratio against the faster of the two."""
    strongest = peer == "strongest"
    head = ("| model | setting | seqbench tokens/s (form) | PyTorch eager | PyTorch compiled (first compile, s) | "
            "seqbench / best PyTorch [rounds' range] | params seqbench / PyTorch |") if strongest else \
        "| model | setting | seqbench tokens/s (form) | PyTorch eager tokens/s | ratio [rounds' range] | params seqbench / PyTorch |"
    lines = [head, "|---|---|---|---|---|---|---|" if strongest else "|---|---|---|---|---|---|"]
    for r in rows:
        # The spread: the paired rounds' ratios (rows from before --rounds: the slowest over the
        # fastest sample of each side).
        if r.get("round_ratios"):
            lo, hi = min(r["round_ratios"]), max(r["round_ratios"])
        else:
            lo = min(r["seqbench_samples"]) / max(r["pytorch_samples"])
            hi = max(r["seqbench_samples"]) / min(r["pytorch_samples"])
        ours = f"{r['seqbench_tokens_per_s']:,.0f} ({r['seqbench_form']})"
        ratio = f"**{r['ratio']:.2f}x** [{lo:.2f}-{hi:.2f}]"
        params = f"{r['seqbench_params'] / 1e6:.2f}M / {r['pytorch_params'] / 1e6:.2f}M"
        setting = f"{r['size']} T={r['seq_len']} B={r['batch']}"
        if strongest:
            comp = r.get("pytorch_compiled_tokens_per_s")
            comp = "does not compile (ATen's fused cell)" if comp is None else \
                f"{comp:,.0f} ({max(r['compile_seconds']):.0f})"
            lines.append(f"| {r['model']} | {setting} | {ours} | {r['pytorch_eager_tokens_per_s']:,.0f} | {comp} | "
                         f"{ratio} | {params} |")
        else:
            lines.append(f"| {r['model']} | {setting} | {ours} | {r['pytorch_tokens_per_s']:,.0f} | {ratio} | {params} |")
    return lines


def this_machine(binary):
    """The CPU (model name and its ISA level, from the seqbench binary), the ISA the seqbench binary
    was built for, and PyTorch's CPU capability. Refuses an AVX-512 seqbench build with --isa avx2."""
    env = seqbench_environment(binary) or {}
    built = (env.get("build") or {}).get("isa")
    if ISA == "avx2" and built not in ("x86-64-v3", "x86-64-v2", "x86-64"):
        sys.exit(f"error: --isa avx2 needs a seqbench built for AVX2 (this one: {built}); build one with\n"
                 "  RUSTFLAGS='-C target-cpu=x86-64-v3' cargo build --release --target-dir target/avx2\n"
                 "and pass --seqbench target/avx2/release/seqbench")
    cpu = f"{env.get('cpu_model', platform.processor())} ({(env.get('cpu_isa') or {}).get('level', '?')})"
    return {"cpu": cpu, "seqbench_isa": built, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def seqbench_environment(binary):
    """`seqbench env --json --no-calibration` of the binary measured, or None if it predates it."""
    out = subprocess.run([binary, "env", "--json", "--no-calibration"], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


if __name__ == "__main__":
    main()
