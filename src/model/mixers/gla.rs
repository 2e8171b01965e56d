//! Gated Linear Attention (Yang et al. 2024): a data-dependent decay per key channel.
//!
//! `S_t = Diag(α_t) S_{t-1} + k_t v_t^T` (key-major), `log α_t = logsigmoid(W_2 W_1 x_t + b) / 16`
//! (low-rank gate), `d_k = d_v / 2`, q scaled by `1/sqrt(d_k)`; output `W_o (RMSNorm(o) ⊙ swish(W_g x))`.

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::linear_attention::split_fused;
use super::{Descriptor, Family, MixerKind, MixerSpec, SizeError, Sizes};
use crate::kernels::activation::log_sigmoid;
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{split_heads, Linear, Params};
use candle_core::{Result, Tensor};

/// Gla in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "gla",
    family: Family::Linear,
    update: "S_t = S_{t-1} Diag(α_t) + v_t k_t^T",
    recurrence: Some(Recurrence::ChannelGate),
    beats: &["linear_attention"],
    validate: key_halves,
    build: |spec, p, gain| Ok(super::linear::boxed(Gla::new(spec, p, gain)?, p.device())),
};

/// GLA's key dimension is half the head dimension.
fn key_halves(s: &Sizes) -> std::result::Result<(), SizeError> {
    if s.head_dim < 2 {
        return Err(("head_dim", "must be at least 2 (GLA's key dimension is head_dim / 2)".into()));
    }
    Ok(())
}

/// Rank of the gate projection, as in the GLA paper.
const GATE_RANK: usize = 16;
/// The gate's temperature: `log α = logsigmoid(.) / 16`.
const GATE_NORMALIZER: f64 = 16.0;

pub struct Gla {
    heads: usize,
    d_k: usize,
    d_v: usize,
    qk: Linear,
    v: Linear,
    gate_down: Linear,
    gate_up: Linear,
    out: HeadOutput,
}

impl Gla {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, dv) = (spec.heads(), spec.head_dim);
        let dk = (dv / 2).max(1);
        Ok(Gla {
            heads: h,
            d_k: dk,
            d_v: dv,
            qk: Linear::new(p, "qk", spec.d_model, 2 * h * dk, false, 1.0)?,
            v: Linear::new(p, "v", spec.d_model, h * dv, false, 1.0)?,
            gate_down: Linear::new(p, "gate_down", spec.d_model, GATE_RANK, false, 1.0)?,
            gate_up: Linear::new(p, "gate_up", GATE_RANK, h * dk, true, 1.0)?,
            out: HeadOutput::new(p, spec.d_model, h, dv, true, out_gain)?,
        })
    }
}

impl LinearFamily for Gla {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        LinearShape { heads: self.heads, d_k: self.d_k, d_v: self.d_v, conv: None }
    }

    fn project(&self, x: &Tensor, _conv: Option<&Tensor>) -> Result<Projected> {
        let qk = split_fused(&self.qk.forward(x)?, 2, self.heads)?;
        let q = (&qk[0] * (1.0 / (self.d_k as f64).sqrt()))?;
        let gate = self.gate_up.forward(&self.gate_down.forward(x)?)?;
        let g = split_heads(&(log_sigmoid(&gate)? / GATE_NORMALIZER)?, self.heads)?;
        let v = split_heads(&self.v.forward(x)?, self.heads)?;
        let inputs = Inputs::new(q, qk[1].clone(), v, Gate::Channel(g));
        Ok(Projected::new(inputs).extra(self.out.from_input(x)?))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
