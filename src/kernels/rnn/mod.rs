//! The classic RNNs' recurrences, LSTM and GRU: in each file the per-step equations in plain candle
//! ops (`reference`, differentiable by autograd, the form every device can run) beside the fused CPU
//! op with backward through time (`fused`), and the entry point that picks one (`lstm`, `gru`).
//! The input projection of every token is computed outside (one matmul); only `h_{t-1} U^T` is
//! sequential.

pub mod gru;
pub mod lstm;

use crate::kernels::cpu::{gemm_on, pool_for};
use candle_core::{Result, Tensor};

/// Runs `cell(x_t, state)` over the time axis of `x_proj: [B, T, n]` and stacks the outputs once
/// (per-step tensors kept in a Vec: slicing a big tensor inside the loop would pad every step's
/// gradient to full size).
pub fn scan<S>(
    x_proj: &Tensor,
    mut state: S,
    mut cell: impl FnMut(&Tensor, S) -> Result<(Tensor, S)>,
) -> Result<(Tensor, S)> {
    let t = x_proj.dim(1)?;
    let mut outs = Vec::with_capacity(t);
    for i in 0..t {
        let (y, next) = cell(&x_proj.narrow(1, i, 1)?.squeeze(1)?, state)?;
        outs.push(y);
        state = next;
    }
    Ok((Tensor::stack(&outs, 1)?, state))
}

/// `h U^T (+ b)` with the product in `u`'s dtype (low precision under `--dtype`), the result in `h`'s.
pub(crate) fn recurrent_product(h: &Tensor, u: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let y = h.to_dtype(u.dtype())?.matmul(&u.t()?)?.to_dtype(h.dtype())?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// `g[r] += U h[r]` for every row: `g: [b, n]`, `h: [b, d]`, `u: [n, d]`, a step's `h_{t-1} U^T`.
/// One dot product per output over U's contiguous rows, each row read once for the whole batch: no
/// packing of U on every step (the general matmul packs all of it, per step). Split over two
/// threads by halves of the batch when the step is worth it (a sequence of steps has nothing else
/// to run in parallel).
pub(crate) fn add_step_product(g: &mut [f32], h: &[f32], u: &[f32], (b, n, d): (usize, usize, usize)) {
    by_halves_of_the_batch(g, n, h, d, b * n * d, &|g, h| {
        let rows = h.len() / d.max(1);
        for (o, uo) in u.chunks_exact(d.max(1)).take(n).enumerate() {
            for r in 0..rows {
                g[r * n + o] += crate::kernels::cpu::dot(uo, &h[r * d..(r + 1) * d]);
            }
        }
    });
}

/// `dh[r] += Σ_o dg[r, o] U[o]` for every row: `dh: [b, d]`, `dg: [b, n]`, `u: [n, d]`, a step's
/// `dG U` (the backward of [`add_step_product`]), as row updates over U's contiguous rows.
pub(crate) fn add_step_product_transposed(dh: &mut [f32], dg: &[f32], u: &[f32], (b, n, d): (usize, usize, usize)) {
    by_halves_of_the_batch(dh, d, dg, n, b * n * d, &|dh, dg| {
        for (dhr, dgr) in dh.chunks_exact_mut(d.max(1)).zip(dg.chunks_exact(n.max(1))) {
            for (uo, w) in u.chunks_exact(d.max(1)).take(n).zip(dgr) {
                dhr.iter_mut().zip(uo).for_each(|(x, u)| *x += w * u);
            }
        }
    });
}

/// Runs `f(out rows, in rows)` on the batch's two halves side by side (`out`: rows of `out_w`,
/// `inp`: rows of `in_w`) when `work` multiply-adds are worth a second thread, else on all of it.
fn by_halves_of_the_batch(
    out: &mut [f32],
    out_w: usize,
    inp: &[f32],
    in_w: usize,
    work: usize,
    f: &(dyn Fn(&mut [f32], &[f32]) + Sync),
) {
    let b = inp.len() / in_w.max(1);
    if b < 2 || work < crate::kernels::cpu::THREADED_MIN_WORK || rayon::current_num_threads() < 2 {
        return f(out, inp);
    }
    let half = b / 2;
    let (o1, o2) = out.split_at_mut(half * out_w);
    let (i1, i2) = inp.split_at(half * in_w);
    rayon::join(|| f(o1, i1), || f(o2, i2));
}

/// True when the fused op serves this call: f32 on the CPU and at least one step.
fn fused_serves(xg: &Tensor, u: &Tensor) -> Result<bool> {
    Ok(crate::kernels::cpu::serves(xg) && crate::kernels::cpu::serves(u) && xg.dim(1)? > 0)
}

/// `dU = Σ_t dG_t^T h_{t-1}` of a recurrence `G_t = ... + h_{t-1} U^T`, over every (row, step) in one
/// product: `dg: [B, T, g]`, `hs: [B, T, d]` (h_1..h_T), `h0: [B, d]`; writes `du: [g, d]`.
pub(crate) fn recurrent_weight_grad(
    du: &mut [f32],
    dg: &[f32],
    hs: &[f32],
    h0: &[f32],
    (b, t, d, g): (usize, usize, usize, usize),
) {
    let mut h_prev = vec![0f32; b * t * d];
    for r in 0..b {
        h_prev[r * t * d..r * t * d + d].copy_from_slice(&h0[r * d..(r + 1) * d]);
        if t > 1 {
            h_prev[r * t * d + d..(r + 1) * t * d].copy_from_slice(&hs[r * t * d..(r + 1) * t * d - d]);
        }
    }
    gemm_on(pool_for(g * d * b * t), g, d, b * t, du, dg, &h_prev, (d, 1, g, d, 1, false, 1.0));
}
