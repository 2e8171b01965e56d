//! The SwiGLU gate: [`reference`] in plain ops and [`fused`], a CPU custom op, forward and backward
//! (rows in parallel):
//!
//! ```text
//!   [g | u] -> silu(g) ⊙ u,   silu(g) = g σ(g)
//!   dg = dy ⊙ u ⊙ σ(g) (1 + g (1 - σ(g))),   du = dy ⊙ silu(g)
//! ```
//!
//! [`swiglu`] picks the fused op where it serves (f32 on the CPU), else the reference.

use crate::kernels::cpu::{as_slice, par_chunks, sigmoid_f32};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, D};

/// `silu(g) ⊙ u` for `[g | u]` halves of the last dimension: the fused op where it serves, else
/// [`reference`].
pub fn swiglu(gu: &Tensor) -> Result<Tensor> {
    if crate::kernels::cpu::serves(gu) {
        return fused(gu);
    }
    reference(gu)
}

/// The composed form: `silu(g) * u` over the two halves of the last dimension.
pub fn reference(gu: &Tensor) -> Result<Tensor> {
    let gu = gu.chunk(2, candle_core::D::Minus1)?;
    gu[0].silu()? * &gu[1]
}

/// `silu(g) ⊙ u` for `gu = [g | u]` split in halves along the last dimension. Differentiable.
pub fn fused(gu: &Tensor) -> Result<Tensor> {
    gu.contiguous()?.apply_op1(SwiGlu)
}

struct SwiGlu;

/// One row: `out = silu(g) ⊙ u` for `gu = [g | u]`.
#[inline]
pub(crate) fn forward_row(gu: &[f32], out: &mut [f32]) {
    let (g, u) = gu.split_at(out.len());
    for ((o, gv), uv) in out.iter_mut().zip(g).zip(u) {
        *o = gv * sigmoid_f32(*gv) * uv;
    }
}

/// One row's gradient: `out = [dg | du]` for `gu = [g | u]` and the output's gradient `dy`.
#[inline]
pub(crate) fn backward_row(gu: &[f32], dy: &[f32], out: &mut [f32]) {
    let h = dy.len();
    let (g, u) = gu.split_at(h);
    let (dg, du) = out.split_at_mut(h);
    for j in 0..h {
        let s = sigmoid_f32(g[j]);
        dg[j] = dy[j] * u[j] * s * (1.0 + g[j] * (1.0 - s));
        du[j] = dy[j] * g[j] * s;
    }
}

impl CustomOp1 for SwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let gu = as_slice(s, l)?;
        let dims = l.shape().dims();
        let two_h = *dims.last().unwrap_or(&0);
        if !two_h.is_multiple_of(2) {
            candle_core::bail!("swiglu: last dimension {two_h} is odd")
        }
        let h = two_h / 2;
        let mut y = vec![0f32; gu.len() / 2];
        par_chunks(&mut y, h, 8 * gu.len(), |i, out| forward_row(&gu[i * two_h..(i + 1) * two_h], out));
        let mut shape = dims.to_vec();
        *shape.last_mut().expect("rank >= 1") = h;
        Ok((CpuStorage::F32(y), Shape::from(shape)))
    }

    fn bwd(&self, gu: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(gu.apply_op2_no_bwd(&dy.contiguous()?, &SwiGluBackward)?))
    }
}

/// (gu, dy) -> d(gu).
struct SwiGluBackward;

impl CustomOp2 for SwiGluBackward {
    fn name(&self) -> &'static str {
        "fused-swiglu-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (gu, dy) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
        let two_h = l1.shape().dim(D::Minus1)?;
        let h = two_h / 2;
        let mut out = vec![0f32; gu.len()];
        par_chunks(&mut out, two_h, 16 * gu.len(), |i, o| {
            backward_row(&gu[i * two_h..(i + 1) * two_h], &dy[i * h..(i + 1) * h], o)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}
