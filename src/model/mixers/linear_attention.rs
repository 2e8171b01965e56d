//! Linear attention (Katharopoulos et al.; the lecture's section 2): attention without the softmax.
//!
//! `S_t = S_{t-1} + v_t k_t^T`, `o_t = S_t q_t` with `q` scaled by `1/sqrt(d_k)`; no decay, no delta rule.
//! As in flash-linear-attention's layer, the per-head output is RMS-normalised before the output
//! projection (the state only grows, so its read-out does too).

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{split_heads, Linear, Params};
use candle_core::{Result, Tensor};

/// LinearAttention in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "linear_attention",
    family: Family::Linear,
    update: "S_t = S_{t-1} + v_t k_t^T",
    recurrence: Some(Recurrence::Plain),
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(LinearAttention::new(spec, p, gain)?, p.device())),
};

pub struct LinearAttention {
    heads: usize,
    head_dim: usize,
    qkv: Linear,
    out: HeadOutput,
}

impl LinearAttention {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        Ok(LinearAttention {
            heads: h,
            head_dim: d,
            qkv: Linear::new(p, "qkv", spec.d_model, 3 * h * d, false, 1.0)?,
            out: HeadOutput::new(p, spec.d_model, h, d, false, out_gain)?,
        })
    }
}

/// Splits a fused `[B, T, n·H·d]` projection into n head-split tensors `[B, T, H, d]`.
pub(crate) fn split_fused(x: &Tensor, n: usize, heads: usize) -> Result<Vec<Tensor>> {
    x.chunk(n, 2)?.iter().map(|part| split_heads(part, heads)).collect()
}

impl LinearFamily for LinearAttention {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        LinearShape { heads: self.heads, d_k: self.head_dim, d_v: self.head_dim, conv: None }
    }

    fn project(&self, x: &Tensor, _conv: Option<&Tensor>) -> Result<Projected> {
        let parts = split_fused(&self.qkv.forward(x)?, 3, self.heads)?;
        let q = (&parts[0] * (1.0 / (self.head_dim as f64).sqrt()))?;
        let inputs = Inputs::new(q, parts[1].clone(), parts[2].clone(), Gate::None);
        Ok(Projected::new(inputs))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
