"""The strongest PyTorch a CPU user would run, for `pytorch_parity.py --peer strongest`:

  * the scaffold with `F.rms_norm` (ATen's fused kernel) instead of the hand-written RMSNorm;
  * `torch.optim.AdamW(fused=True)` (one fused kernel over all parameters) instead of the per-tensor loop;
  * the linear family's chunked forms vectorised: no Python loop per token or per row. Gated DeltaNet's
    UT transform T = (I + tril(diag(beta) K K^T * Gamma, -1))^-1 is one `torch.linalg.solve_triangular`
    over every chunk at once (fla's naive form builds it row by row, 63 Python steps per chunk); the
    only loop left is the one over chunks (T/64 steps), which fla's own kernels have too;
  * each model also under `torch.compile` (inductor's CPU C++ backend); the faster of eager and compiled
    is the peer, and the compile time is reported apart from the step. nn.LSTM / nn.GRU are ATen's fused
    cells and are run eager (inductor falls back to them).

`ISA` restriction (`--isa avx2`) is applied by pytorch_parity.py before torch is imported.
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=64):
    """Gated DeltaNet, chunked and vectorised. q, k, v: [b, t, h, d] (q, k L2-normalised), g: [b, t, h]
    log-decays, beta: [b, t, h]. Returns o: [b, t, h, d_v]. The recurrence (lecture):
    S_t = a_t (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T, o_t = S_t^T q_t / sqrt(d_k)."""
    b, t, h, dk = k.shape
    dv = v.shape[-1]
    c = chunk_size
    pad = (c - t % c) % c
    tr = lambda z: z.transpose(1, 2)  # noqa: E731  [b, h, t, ...]
    q, k, v, g, beta = tr(q), tr(k), tr(v), g.transpose(1, 2), beta.transpose(1, 2)
    if pad:
        q, k, v = (F.pad(z, (0, 0, 0, pad)) for z in (q, k, v))
        g, beta = F.pad(g, (0, pad)), F.pad(beta, (0, pad))
    n = (t + pad) // c
    q = q * dk ** -0.5
    q, k, v = (z.reshape(b, h, n, c, z.shape[-1]) for z in (q, k, v))
    g, beta = g.reshape(b, h, n, c), beta.reshape(b, h, n, c)
    k_beta, v_beta = k * beta[..., None], v * beta[..., None]
    decay = g.cumsum(-1)  # [b, h, n, c]
    causal = torch.ones(c, c, dtype=torch.bool, device=q.device).tril()
    gamma = (decay[..., :, None] - decay[..., None, :]).masked_fill(~causal, float("-inf")).exp()
    eye = torch.eye(c, dtype=q.dtype, device=q.device)
    a = ((k_beta @ k.transpose(-1, -2)) * gamma).tril(-1)
    ut = torch.linalg.solve_triangular(eye + a, eye.expand_as(a), upper=False)
    u = ut @ v_beta  # the pseudo-values
    w = ut @ (k_beta * decay.exp()[..., None])
    qk = (q @ k.transpose(-1, -2)) * gamma  # causal, diagonal included
    S = q.new_zeros(b, h, dk, dv)
    outs = []
    for i in range(n):
        v_new = u[:, :, i] - w[:, :, i] @ S
        outs.append((q[:, :, i] * decay[:, :, i, :, None].exp()) @ S + qk[:, :, i] @ v_new)
        last = decay[:, :, i, -1]
        S = S * last[..., None, None].exp() + (k[:, :, i] * (last[..., None] - decay[:, :, i]).exp()[..., None]).transpose(-1, -2) @ v_new
    o = torch.stack(outs, 2).reshape(b, h, n * c, dv)[:, :, :t]
    return o.transpose(1, 2)


class FusedRMSNorm(nn.Module):
    """RMSNorm through ATen's `F.rms_norm`."""

    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), self.w, 1e-6)


def strongest(model):
    """The model with every hand-written RMSNorm replaced by `F.rms_norm` (same weights)."""
    from pytorch_reference import RMSNorm
    for name, child in list(model.named_children()):
        if isinstance(child, RMSNorm):
            fused = FusedRMSNorm(child.w.shape[0])
            fused.w = child.w
            setattr(model, name, fused)
        else:
            strongest(child)
    return model


def train_step_samples(model, batch, seq_len, steps, compiled):
    """Seconds of `steps` training steps (forward, cross-entropy, backward, fused AdamW) after one
    warm-up step, eager or under `torch.compile`; returns (samples, seconds of the warm-up step, which
    holds the compilation)."""
    from pytorch_reference import samples, training_step
    step = training_step(model, batch, seq_len, fused=True, compiled=compiled)
    t0 = time.perf_counter()
    step()
    warmup = time.perf_counter() - t0
    return samples(step, 0, steps, 0.0), warmup
