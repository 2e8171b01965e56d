//! Products of a few rows with a weight matrix, `y = x W^T` for `x: [m, d_in]` with small `m`
//! (a decode step): one dot product per output over contiguous weight rows, with no packing of W.
//! The general matmul packs the whole weight matrix on every call, which dominates a decode step
//! at batch 1 (half its time, measured with perf). Backward by plain matmuls. [`project`] picks
//! [`small_matmul`] for a few f32 rows on the CPU, else the [`reference`] matmul.

use crate::kernels::cpu::{as_slice, dot};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

/// Rows up to which [`small_matmul`] is used instead of the general matmul.
pub const MAX_ROWS: usize = 8;

/// `y = x W^T` for `x: [m, d_in]`, `w: [d_out, d_in]`: [`small_matmul`] for at most [`MAX_ROWS`]
/// rows where the fused kernels serve, else [`reference`].
pub fn project(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if x.dim(0)? <= MAX_ROWS && crate::kernels::cpu::serves(x) {
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
        let (x, w) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
        let (m, d_in) = l1.shape().dims2()?;
        let (d_out, d_in_w) = l2.shape().dims2()?;
        if d_in != d_in_w {
            candle_core::bail!("small matmul: x is [{m}, {d_in}] but W is [{d_out}, {d_in_w}]")
        }
        let mut y = vec![0f32; m * d_out];
        for (r, yr) in y.chunks_exact_mut(d_out.max(1)).enumerate() {
            let xr = &x[r * d_in..(r + 1) * d_in];
            for (o, yo) in yr.iter_mut().enumerate() {
                *yo = dot(&w[o * d_in..(o + 1) * d_in], xr);
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((m, d_out))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(dy.matmul(w)?), Some(dy.t()?.matmul(x)?)))
    }
}
