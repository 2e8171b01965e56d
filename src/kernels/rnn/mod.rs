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
/// Through [`crate::kernels::gemv::project`]: a step of a few rows reads `U` as stored (bf16 read as
/// bf16, on every thread) instead of packing it for the general matmul on every step (a 1.3B GRU's
/// 1024-token prefill under bf16 ran past 900 s that way).
pub(crate) fn recurrent_product(h: &Tensor, u: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let y = crate::kernels::gemv::project(&h.to_dtype(u.dtype())?, u)?.to_dtype(h.dtype())?;
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// `g[r] += U h[r]` for every row: `g: [b, n]`, `h: [b, d]`, `u: [n, d]`, a step's `h_{t-1} U^T`.
/// With `u_t` (U transposed to `[d, n]`, made once per sequence by [`transposed`]) through
/// [`add_rows_times`]' register tiles; without it (a single step, as in decoding, where transposing
/// U would cost as much as the step: 8x slower LSTM decode, measured; see [`transposed_for`]) one
/// dot product per output over U's contiguous rows.
/// On this thread: the callers run halves of the batch on their own threads ([`batch_split`]).
pub(crate) fn add_step_product(g: &mut [f32], h: &[f32], (u, u_t): (&[f32], Option<&[f32]>), (n, d): (usize, usize)) {
    match u_t {
        Some(u_t) => add_rows_times(g, h, u_t, (d, n)),
        None => {
            for (o, uo) in u.chunks_exact(d.max(1)).take(n).enumerate() {
                for (r, hr) in h.chunks_exact(d.max(1)).enumerate() {
                    g[r * n + o] += crate::kernels::cpu::dot(uo, hr);
                }
            }
        }
    }
}

/// U transposed for [`add_step_product`] when the tiles pay for it: more than one step and more than
/// one row (one row reads all of U per step either way; a 16-token prompt at batch 1 took 3.4x longer
/// with the transposition, measured).
pub(crate) fn transposed_for(u: &[f32], (n, d): (usize, usize), (b, t): (usize, usize)) -> Option<Vec<f32>> {
    (b > 1 && t > 1).then(|| transposed(u, (n, d)))
}

/// `dh[r] += Σ_o dg[r, o] U[o]` for every row: `dh: [b, d]`, `dg: [b, n]`, `u: [n, d]`, a step's
/// `dG U` (the backward of [`add_step_product`]), through [`add_rows_times`] on U as it is.
/// On this thread, as [`add_step_product`].
pub(crate) fn add_step_product_transposed(dh: &mut [f32], dg: &[f32], u: &[f32], (n, d): (usize, usize)) {
    add_rows_times(dh, dg, u, (n, d))
}

/// An optional buffer split at `at` (a batch-major buffer at the first half's rows).
pub(crate) fn split_opt(x: Option<&mut [f32]>, at: usize) -> (Option<&mut [f32]>, Option<&mut [f32]>) {
    match x {
        Some(x) => {
            let (a, b) = x.split_at_mut(at);
            (Some(a), Some(b))
        }
        None => (None, None),
    }
}

/// The rows of the first half when a recurrence over `b` rows, `work` multiply-adds per step, pays
/// for running each half of the batch on its own thread for the whole sequence (the rows never
/// meet: one dispatch per sequence instead of one per step), else None.
pub(crate) fn batch_split(b: usize, work: usize) -> Option<usize> {
    let threaded = b >= 2 && work >= crate::kernels::cpu::THREADED_MIN_WORK && rayon::current_num_threads() >= 2;
    threaded.then_some(b / 2)
}

/// `u: [n, d]` transposed to `[d, n]` (row-major), for [`add_step_product`], in 32 x 32 blocks (a
/// column-by-column scatter misses the cache on every write at d = 256).
pub(crate) fn transposed(u: &[f32], (n, d): (usize, usize)) -> Vec<f32> {
    const BLOCK: usize = 32;
    let mut t = vec![0f32; n * d];
    for o0 in (0..n).step_by(BLOCK) {
        for k0 in (0..d).step_by(BLOCK) {
            for o in o0..(o0 + BLOCK).min(n) {
                for k in k0..(k0 + BLOCK).min(d) {
                    t[k * n + o] = u[o * d + k];
                }
            }
        }
    }
    t
}

/// Rows per register tile of [`add_rows_times`].
const TILE_ROWS: usize = 4;
/// Columns per register tile of [`add_rows_times`] (two AVX-512 or four AVX2 registers per row).
const TILE_COLS: usize = 32;

/// `out[r, :] += Σ_k a[r, k] w[k, :]` for every row: `out: [rows, n]`, `a: [rows, k]`, `w: [k, n]`
/// row-major. Tiles of [`TILE_ROWS`] x [`TILE_COLS`] outputs stay in registers over the whole `k`
/// loop: each `w` row is read once per tile of rows, each output loaded and stored once. For a
/// step's product of small matrices this replaced one dot product per output (short dot products
/// end in a horizontal sum each; measured in `docs/performance.md`). Columns past the last whole
/// tile go through narrower tiles of 8, then one at a time.
pub(crate) fn add_rows_times(out: &mut [f32], a: &[f32], w: &[f32], (k, n): (usize, usize)) {
    let rows = a.len() / k.max(1);
    let mut r0 = 0;
    while r0 < rows {
        let rb = TILE_ROWS.min(rows - r0);
        let mut c0 = 0;
        while c0 + TILE_COLS <= n {
            match rb {
                4 => tile::<4, TILE_COLS>(out, a, w, (r0, c0), (k, n)),
                3 => tile::<3, TILE_COLS>(out, a, w, (r0, c0), (k, n)),
                2 => tile::<2, TILE_COLS>(out, a, w, (r0, c0), (k, n)),
                _ => tile::<1, TILE_COLS>(out, a, w, (r0, c0), (k, n)),
            }
            c0 += TILE_COLS;
        }
        while c0 + 8 <= n {
            match rb {
                4 => tile::<4, 8>(out, a, w, (r0, c0), (k, n)),
                3 => tile::<3, 8>(out, a, w, (r0, c0), (k, n)),
                2 => tile::<2, 8>(out, a, w, (r0, c0), (k, n)),
                _ => tile::<1, 8>(out, a, w, (r0, c0), (k, n)),
            }
            c0 += 8;
        }
        for c in c0..n {
            for r in r0..r0 + rb {
                out[r * n + c] += (0..k).map(|kk| a[r * k + kk] * w[kk * n + c]).sum::<f32>();
            }
        }
        r0 += rb;
    }
}

/// One `R x C` tile of [`add_rows_times`] at (row `r0`, column `c0`), accumulated in registers.
#[inline(always)]
fn tile<const R: usize, const C: usize>(
    out: &mut [f32],
    a: &[f32],
    w: &[f32],
    (r0, c0): (usize, usize),
    (k, n): (usize, usize),
) {
    let a = &a[r0 * k..(r0 + R) * k];
    let mut acc = [[0f32; C]; R];
    for kk in 0..k {
        let wr: &[f32; C] = w[kk * n + c0..kk * n + c0 + C].try_into().expect("C columns");
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av = a[r * k + kk];
            for (x, wv) in acc_r.iter_mut().zip(wr) {
                *x += av * wv;
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        let o = &mut out[(r0 + r) * n + c0..(r0 + r) * n + c0 + C];
        for (x, v) in o.iter_mut().zip(acc_r) {
            *x += v;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The register-tiled product against a plain triple loop, at row counts around the tile's (1 to
    /// 9) and column counts that exercise the wide tile, the narrow one and the single columns.
    #[test]
    fn add_rows_times_is_the_plain_product_at_every_shape() {
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 25.0;
        for rows in 1..=9 {
            for (k, n) in [(1, 1), (5, 3), (8, 32), (13, 45), (32, 128), (7, 75)] {
                let a: Vec<f32> = (0..rows * k).map(value).collect();
                let w: Vec<f32> = (0..k * n).map(|i| value(i + 7)).collect();
                let mut out: Vec<f32> = (0..rows * n).map(|i| value(i + 3)).collect();
                let mut expected = out.clone();
                for r in 0..rows {
                    for c in 0..n {
                        expected[r * n + c] += (0..k).map(|kk| a[r * k + kk] * w[kk * n + c]).sum::<f32>();
                    }
                }
                add_rows_times(&mut out, &a, &w, (k, n));
                for (i, (x, y)) in out.iter().zip(&expected).enumerate() {
                    assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "rows {rows}, k {k}, n {n}: {i}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn transposed_swaps_rows_and_columns() {
        let u: Vec<f32> = (0..6).map(|i| i as f32).collect(); // [3, 2]
        assert_eq!(transposed(&u, (3, 2)), vec![0.0, 2.0, 4.0, 1.0, 3.0, 5.0]);
    }
}
