//! Products of a few rows with a weight matrix, `y = x W^T` for `x: [m, d_in]` with small `m`
//! (a decode step): one dot product per output over contiguous weight rows, with no packing of W.
//! The general matmul packs the whole weight matrix on every call, which dominates a decode step
//! at batch 1 (half its time, measured with perf). Backward by plain matmuls. [`project`] picks
//! [`small_matmul`] for a few f32 or bf16 rows on the CPU, else the [`reference`] matmul.
//!
//! bf16 weights (`--dtype bf16`) are read as bf16 and widened to f32 in the dot product (a bf16 is
//! the top half of an f32), accumulated in f32, and the result rounded to bf16 as candle's matmul
//! would give it. Large weight matrices (a decode step at 125M and above, where the weights stream
//! from memory) are split over the threads by output rows; small ones stay on one thread.

use crate::kernels::cpu::{as_slice, contiguous_part, dot};
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use half::bf16;
use rayon::prelude::*;

/// Rows up to which [`small_matmul`] is used instead of the general matmul.
pub const MAX_ROWS: usize = 8;

/// `y = x W^T` for `x: [m, d_in]`, `w: [d_out, d_in]`: [`small_matmul`] for at most [`MAX_ROWS`]
/// rows where the fused kernels serve, else [`reference`].
pub fn project(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dtypes = matches!((x.dtype(), w.dtype()), (DType::F32, DType::F32) | (DType::BF16, DType::BF16));
    if x.dim(0)? <= MAX_ROWS && dtypes && crate::kernels::cpu::enabled(x.device()) {
        return small_matmul(x, w);
    }
    reference(x, w)
}

/// The plain matmul `x W^T`.
pub fn reference(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.matmul(&w.t()?)
}

/// `x W^T` for `x: [m, d_in]`, `w: [d_out, d_in]` (both with contiguous rows).
pub fn small_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, SmallMatmul)
}

struct SmallMatmul;

impl CustomOp2 for SmallMatmul {
    fn name(&self) -> &'static str {
        "fused-small-matmul"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, d_in) = l1.shape().dims2()?;
        let (d_out, d_in_w) = l2.shape().dims2()?;
        if d_in != d_in_w {
            candle_core::bail!("small matmul: x is [{m}, {d_in}] but W is [{d_out}, {d_in_w}]")
        }
        let shape = Shape::from((m, d_out));
        match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let (x, w) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
                Ok((CpuStorage::F32(rows_times(x, d_in, d_out, |o, xr| dot(&w[o * d_in..(o + 1) * d_in], xr))), shape))
            }
            (CpuStorage::BF16(xs), CpuStorage::BF16(ws)) => {
                let (x, w) = (contiguous_part(xs, l1)?, contiguous_part(ws, l2)?);
                let x: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
                let y = rows_times(&x, d_in, d_out, |o, xr| dot_bf16(&w[o * d_in..(o + 1) * d_in], xr));
                Ok((CpuStorage::BF16(y.into_iter().map(bf16::from_f32).collect()), shape))
            }
            _ => candle_core::bail!("small matmul: x and W must both be f32 or both bf16"),
        }
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(dy.matmul(w)?), Some(dy.t()?.matmul(x)?)))
    }
}

/// Weight elements from which the output rows are split over the threads (4 MiB of f32): below it
/// the matrix stays in cache and one thread is faster than the split's overhead.
const PARALLEL_FROM: usize = 1 << 20;

/// `y[r, o] = row_dot(o, x[r])` for every row `r` of `x: [m, d_in]` and output `o < d_out`, on all
/// threads when the weights are large (by output rows, each thread reading its own weight rows).
fn rows_times(x: &[f32], d_in: usize, d_out: usize, row_dot: impl Fn(usize, &[f32]) -> f32 + Sync) -> Vec<f32> {
    let m = x.len() / d_in.max(1);
    let mut y = vec![0f32; m * d_out];
    if d_out * d_in >= PARALLEL_FROM && rayon::current_num_threads() > 1 {
        // Output-major: each output's weight row is read once for all m input rows.
        let mut by_output = vec![0f32; d_out * m];
        by_output.par_chunks_mut(m.max(1)).enumerate().for_each(|(o, ys)| {
            for (r, yo) in ys.iter_mut().enumerate() {
                *yo = row_dot(o, &x[r * d_in..(r + 1) * d_in]);
            }
        });
        for (o, ys) in by_output.chunks_exact(m.max(1)).enumerate() {
            for (r, v) in ys.iter().enumerate() {
                y[r * d_out + o] = *v;
            }
        }
    } else {
        for (r, yr) in y.chunks_exact_mut(d_out.max(1)).enumerate() {
            let xr = &x[r * d_in..(r + 1) * d_in];
            for (o, yo) in yr.iter_mut().enumerate() {
                *yo = row_dot(o, xr);
            }
        }
    }
    y
}

/// `Σ_i w_i x_i` for bf16 weights, each widened to f32 exactly (its bits shifted into the top half),
/// in 8 independent partial sums so that the loop vectorises.
fn dot_bf16(w: &[bf16], x: &[f32]) -> f32 {
    let n = w.len().min(x.len());
    let mut acc = [0f32; 8];
    let (cw, cx) = (w[..n].chunks_exact(8), x[..n].chunks_exact(8));
    let (rw, rx) = (cw.remainder(), cx.remainder());
    let widen = |v: bf16| f32::from_bits((v.to_bits() as u32) << 16);
    for (a, b) in cw.zip(cx) {
        for i in 0..8 {
            acc[i] += widen(a[i]) * b[i];
        }
    }
    let tail: f32 = rw.iter().zip(rx).map(|(a, b)| widen(*a) * b).sum();
    acc.iter().sum::<f32>() + tail
}
