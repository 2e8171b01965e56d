//! KDA, Kimi Delta Attention (Kimi Team 2025, "Kimi Linear"): the gated delta rule with a decay per
//! key channel instead of one per head.
//!
//! `S' = Diag(α_t) S_{t-1}`, `S_t = S' + β_t k_t (v_t - S'^T k_t)^T` (key-major), with
//! `log α_t = -exp(A_log_h) softplus(W_up W_down x_t + dt_bias)` per key channel (a low-rank
//! projection), `β_t = σ(W_β x_t)` (`2σ` with `allow_neg_eigval`); q, k, v as in DeltaNet (short
//! causal conv + SiLU, L2-normalised q and k, q scaled by `1/sqrt(d_k)`); output
//! `W_o (RMSNorm(o) ⊙ σ(W_up' W_down' x))` per head, a low-rank sigmoid gate.

use super::deltanet::DeltaProjections;
use super::gated_deltanet::Decay;
use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::{Gate, Recurrence};
use crate::model::nn::{Linear, Params};
use candle_core::{Result, Tensor};

/// KDA in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "kda",
    family: Family::Linear,
    update: "S_t = S_{t-1} Diag(α_t) (I - β_t k_t k_t^T) + β_t v_t k_t^T",
    recurrence: Some(Recurrence::ChannelGatedDelta),
    beats: &["linear_attention", "retnet"],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(Kda::new(spec, p, gain)?, p.device())),
};

/// Rank of the decay's and of the output gate's projections (the head dimension in fla's layer;
/// fixed here so the tiny models stay tiny).
const RANK: usize = 16;

pub struct Kda {
    proj: DeltaProjections,
    decay_down: Linear,
    decay_up: Linear,
    decay: Decay,
    out: HeadOutput,
}

impl Kda {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        Ok(Kda {
            proj: DeltaProjections::new(spec, p)?,
            decay_down: Linear::new(p, "decay_down", spec.d_model, RANK, false, 1.0)?,
            decay_up: Linear::new(p, "decay_up", RANK, h * d, false, 1.0)?,
            decay: Decay::new(p, h, d)?,
            out: HeadOutput::low_rank_sigmoid(p, spec.d_model, h, d, RANK, out_gain)?,
        })
    }
}

impl LinearFamily for Kda {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        self.proj.shape()
    }

    fn project(&self, x: &Tensor, conv: Option<&Tensor>) -> Result<Projected> {
        let (mut inputs, carry) = self.proj.project(x, conv)?;
        let pre = self.decay_up.forward(&self.decay_down.forward(x)?)?;
        inputs.gate = Gate::Channel(self.decay.log_alpha_channels(&pre, self.proj.heads)?);
        Ok(Projected::new(inputs).conv(carry).extra(self.out.from_input(x)?))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
