//! RetNet's retention (Sun et al. 2023): a fixed decay per head.
//!
//! `S_t = γ_h S_{t-1} + v_t k_t^T`, `γ_h = 1 - 2^(-5-h)`, `o_t = S_t q_t` (q scaled by `1/sqrt(d_k)`);
//! output `W_o (RMSNorm(o) ⊙ swish(W_g x))` with the RMSNorm per head (RetNet's group norm).

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::linear_attention::split_fused;
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::broadcast::expand;
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{Linear, Params};
use candle_core::{Result, Shape, Tensor};

/// RetNet in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "retnet",
    family: Family::Linear,
    update: "S_t = γ S_{t-1} + v_t k_t^T (γ fixed per head)",
    recurrence: Some(Recurrence::ScalarGate),
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(RetNet::new(spec, p, gain)?, p.device())),
};

pub struct RetNet {
    heads: usize,
    head_dim: usize,
    qkv: Linear,
    /// `log γ_h`, `[H]` (a constant, not a parameter).
    log_gamma: Tensor,
    out: HeadOutput,
}

impl RetNet {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        let log_gamma: Vec<f32> = (0..h).map(|i| (1.0 - 2f64.powi(-5 - i as i32)).ln() as f32).collect();
        Ok(RetNet {
            heads: h,
            head_dim: d,
            qkv: Linear::new(p, "qkv", spec.d_model, 3 * h * d, false, 1.0)?,
            log_gamma: Tensor::from_vec(log_gamma, h, p.device())?,
            out: HeadOutput::new(p, spec.d_model, h, d, true, out_gain)?,
        })
    }
}

impl LinearFamily for RetNet {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        LinearShape { heads: self.heads, d_k: self.head_dim, d_v: self.head_dim, conv: None }
    }

    fn project(&self, x: &Tensor, _conv: Option<&Tensor>) -> Result<Projected> {
        let (b, t, _) = x.dims3()?;
        let parts = split_fused(&self.qkv.forward(x)?, 3, self.heads)?;
        let q = (&parts[0] * (1.0 / (self.head_dim as f64).sqrt()))?;
        let g = expand(&self.log_gamma, &Shape::from((b, t, self.heads)))?;
        let inputs = Inputs::new(q, parts[1].clone(), parts[2].clone(), Gate::Scalar(g));
        Ok(Projected::new(inputs).extra(self.out.from_input(x)?))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
