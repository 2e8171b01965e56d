//! Gated DeltaNet (Yang, Kautz & Hatamizadeh 2025): the delta rule with a scalar decay per head.
//!
//! `S_t = S_{t-1} α_t (I - β_t k_t k_t^T) + β_t v_t k_t^T`, `log α_t = -exp(A_log) softplus(W_a x_t + dt_bias)`;
//! q, k, v, β as in DeltaNet; output `W_o (RMSNorm(o) ⊙ silu(W_g x))` per head.

use super::deltanet::DeltaProjections;
use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::activation::softplus;
use crate::kernels::broadcast::{add, mul};
use crate::kernels::{Gate, Recurrence};
use crate::model::nn::{Linear, Params};
use candle_core::{Result, Tensor};

/// GatedDeltaNet in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "gated_deltanet",
    family: Family::Linear,
    update: "S_t = S_{t-1} α_t (I - β_t k_t k_t^T) + β_t v_t k_t^T",
    recurrence: Some(Recurrence::GatedDelta),
    beats: &["linear_attention", "retnet"],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(GatedDeltaNet::new(spec, p, gain)?, p.device())),
};

/// The data-dependent decay Gated DeltaNet, KDA and DeltaProduct share (Mamba-2's):
/// `log α = -exp(A_log) softplus(pre + dt_bias)`, `pre` a projection of x with one value per head
/// (`channels = 1`) or per key channel; `A_log` per head, `dt_bias` per value of `pre`.
pub(crate) struct Decay {
    a_log: Tensor,
    dt_bias: Tensor,
}

impl Decay {
    pub fn new(p: &Params, heads: usize, channels: usize) -> Result<Self> {
        let a_log = if channels == 1 { p.uniform("a_log", heads, 1f64.ln(), 16f64.ln())? } else { p.uniform("a_log", (heads, 1), 1f64.ln(), 16f64.ln())? };
        Ok(Decay { a_log, dt_bias: p.uniform("dt_bias", heads * channels, -4.0, -2.0)? })
    }

    /// `pre: [B, T, H]` (or `[B, T, H, d_k]` split by the caller) -> log α, same shape.
    pub fn log_alpha(&self, pre: &Tensor) -> Result<Tensor> {
        mul(&softplus(&add(pre, &self.dt_bias)?)?, &self.a_log.exp()?.neg()?)
    }

    /// Per key channel: `pre: [B, T, H·d_k]` -> `[B, T, H, d_k]`.
    pub fn log_alpha_channels(&self, pre: &Tensor, heads: usize) -> Result<Tensor> {
        let rate = crate::model::nn::split_heads(&softplus(&add(pre, &self.dt_bias)?)?, heads)?;
        mul(&rate, &self.a_log.exp()?.neg()?)
    }
}

pub struct GatedDeltaNet {
    proj: DeltaProjections,
    decay_proj: Linear,
    decay: Decay,
    out: HeadOutput,
}

impl GatedDeltaNet {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        Ok(GatedDeltaNet {
            proj: DeltaProjections::new(spec, p)?,
            decay_proj: Linear::new(p, "decay", spec.d_model, h, false, 1.0)?,
            decay: Decay::new(p, h, 1)?,
            out: HeadOutput::new(p, spec.d_model, h, d, true, out_gain)?,
        })
    }
}

impl LinearFamily for GatedDeltaNet {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        self.proj.shape()
    }

    fn project(&self, x: &Tensor, conv: Option<&Tensor>) -> Result<Projected> {
        let (mut inputs, carry) = self.proj.project(x, conv)?;
        inputs.gate = Gate::Scalar(self.decay.log_alpha(&self.decay_proj.forward(x)?)?);
        Ok(Projected::new(inputs).conv(carry).extra(self.out.from_input(x)?))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
