//! Elementwise activations, the gates of every mixer: each in plain candle ops (the `*_reference`
//! forms, which autograd differentiates) and as one fused CPU op with its derivative, which the
//! public functions pick where it serves (f32 on the CPU):
//!
//! ```text
//!   sigmoid     σ(x) = 1 / (1 + e^{-x})                     dσ/dx = σ (1 - σ)
//!   silu        x σ(x)                                      d/dx  = σ (1 + x (1 - σ))
//!   softplus    log(1 + e^x) = max(x, 0) + log(1 + e^{-|x|})  d/dx  = σ(x)
//!   log_sigmoid log σ(x) = -softplus(-x)                    d/dx  = 1 - σ(x)
//! ```
//!
//! A composed sigmoid is four graph nodes (and softplus six), each with its own output buffer and its
//! own gradient buffer in the backward; the fused op is one.

use crate::kernels::cpu::{as_slice, exp_f32, par_chunks, sigmoid_f32};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

/// `σ(x)`.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    pick(x, Kind::Sigmoid)
}

/// `x σ(x)` (SiLU, swish).
pub fn silu(x: &Tensor) -> Result<Tensor> {
    pick(x, Kind::Silu)
}

/// `log(1 + e^x)`.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    pick(x, Kind::Softplus)
}

/// `log σ(x)`.
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    pick(x, Kind::LogSigmoid)
}

/// `σ(x) = 1 / (1 + e^{-x})` in plain ops.
pub fn sigmoid_reference(x: &Tensor) -> Result<Tensor> {
    (x.neg()?.exp()? + 1.0)?.recip()
}

/// `x σ(x)` in plain ops (candle's own `silu`).
pub fn silu_reference(x: &Tensor) -> Result<Tensor> {
    x.silu()
}

/// `softplus(x)`, computed stably as `max(x, 0) + log(1 + e^{-|x|})`, in plain ops.
pub fn softplus_reference(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// `log σ(x) = -softplus(-x)` in plain ops.
pub fn log_sigmoid_reference(x: &Tensor) -> Result<Tensor> {
    softplus_reference(&x.neg()?)?.neg()
}

/// The activations with a fused form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sigmoid,
    Silu,
    Softplus,
    LogSigmoid,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Sigmoid, Kind::Silu, Kind::Softplus, Kind::LogSigmoid];

    /// The activation as one fused op, differentiable.
    pub fn fused(self, x: &Tensor) -> Result<Tensor> {
        x.contiguous()?.apply_op1(Activation(self))
    }

    /// The activation in plain ops.
    pub fn reference(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Kind::Sigmoid => sigmoid_reference(x),
            Kind::Silu => silu_reference(x),
            Kind::Softplus => softplus_reference(x),
            Kind::LogSigmoid => log_sigmoid_reference(x),
        }
    }

    #[inline(always)]
    fn value(self, x: f32) -> f32 {
        match self {
            Kind::Sigmoid => sigmoid_f32(x),
            Kind::Silu => x * sigmoid_f32(x),
            Kind::Softplus => x.max(0.0) + exp_f32(-x.abs()).ln_1p(),
            Kind::LogSigmoid => x.min(0.0) - exp_f32(-x.abs()).ln_1p(),
        }
    }

    #[inline(always)]
    fn derivative(self, x: f32) -> f32 {
        let s = sigmoid_f32(x);
        match self {
            Kind::Sigmoid => s * (1.0 - s),
            Kind::Silu => s * (1.0 + x * (1.0 - s)),
            Kind::Softplus => s,
            Kind::LogSigmoid => 1.0 - s,
        }
    }
}

/// The fused op where it serves (f32 on the CPU), else the plain form.
fn pick(x: &Tensor, kind: Kind) -> Result<Tensor> {
    if crate::kernels::cpu::serves(x) {
        kind.fused(x)
    } else {
        kind.reference(x)
    }
}

/// Elements per parallel piece, and the work weight of one element (an exp, a division).
const PIECE: usize = 4096;
const WORK_PER_ELEMENT: usize = 16;

/// `f(x)` elementwise.
struct Activation(Kind);

impl CustomOp1 for Activation {
    fn name(&self) -> &'static str {
        "fused-activation"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = as_slice(s, l)?;
        let mut y = vec![0f32; x.len()];
        let kind = self.0;
        par_chunks(&mut y, PIECE, WORK_PER_ELEMENT * x.len(), |i, out| {
            let xs = &x[i * PIECE..i * PIECE + out.len()];
            out.iter_mut().zip(xs).for_each(|(o, &v)| *o = kind.value(v));
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&dy.contiguous()?, &ActivationBackward(self.0))?))
    }
}

/// (x, dy) -> dy ⊙ f'(x).
struct ActivationBackward(Kind);

impl CustomOp2 for ActivationBackward {
    fn name(&self) -> &'static str {
        "fused-activation-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, dy) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
        let mut dx = vec![0f32; x.len()];
        let kind = self.0;
        par_chunks(&mut dx, PIECE, WORK_PER_ELEMENT * x.len(), |i, out| {
            let range = i * PIECE..i * PIECE + out.len();
            for ((o, &v), &d) in out.iter_mut().zip(&x[range.clone()]).zip(&dy[range]) {
                *o = d * kind.derivative(v);
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
