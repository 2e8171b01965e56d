//! Gated DeltaNet (Yang, Kautz & Hatamizadeh 2025): the delta rule with a scalar decay per head.
//!
//! `S_t = S_{t-1} α_t (I - β_t k_t k_t^T) + β_t v_t k_t^T`, `log α_t = -exp(A_log) softplus(W_a x_t + dt_bias)`;
//! q, k, v, β as in DeltaNet; output `W_o (RMSNorm(o) ⊙ silu(W_g x))` per head.

use super::deltanet::DeltaProjections;
use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::activation::softplus;
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

pub struct GatedDeltaNet {
    proj: DeltaProjections,
    decay: Linear,
    a_log: Tensor,
    dt_bias: Tensor,
    out: HeadOutput,
}

impl GatedDeltaNet {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        Ok(GatedDeltaNet {
            proj: DeltaProjections::new(spec, p)?,
            decay: Linear::new(p, "decay", spec.d_model, h, false, 1.0)?,
            a_log: p.uniform("a_log", h, 1f64.ln(), 16f64.ln())?,
            dt_bias: p.uniform("dt_bias", h, -4.0, -2.0)?,
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
        let rate = softplus(&self.decay.forward(x)?.broadcast_add(&self.dt_bias)?)?;
        inputs.gate = Gate::Scalar(rate.broadcast_mul(&self.a_log.exp()?.neg()?)?);
        Ok(Projected { inputs, conv: Some(carry), extra: self.out.from_input(x)? })
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
