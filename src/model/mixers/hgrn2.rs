//! HGRN-2 (Qin et al. 2024): gated linear RNN with state expansion, run on the GLA kernel with the
//! input gate tied to the forget gate.
//!
//! `f_t = lb + (1 - lb) sigmoid(W_f x_t)` per key channel, `S_t = Diag(f_t) S_{t-1} + (1 - f_t) v_t^T`
//! (key-major; the lecture's `S_{t-1} Diag(α_t) + v_t (1 - α_t)^T`), `o_t = S_t^T q_t` with q scaled by
//! `1/sqrt(d_k)`; output `W_o RMSNorm(o)` per head. The forget gate's lower bound `lb` grows with depth,
//! `lb = layer / n_layers` (the HGRN papers' monotonically increasing bounds, here fixed).

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::linear_attention::split_fused;
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::activation::{log_sigmoid, sigmoid};
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{Linear, Params};
use candle_core::{Result, Tensor};

/// Hgrn2 in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "hgrn2",
    family: Family::Linear,
    update: "S_t = S_{t-1} Diag(α_t) + v_t (1 - α_t)^T",
    recurrence: Some(Recurrence::ChannelGate),
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(Hgrn2::new(spec, p, gain)?, p.device())),
};

pub struct Hgrn2 {
    heads: usize,
    head_dim: usize,
    lower_bound: f64,
    qfv: Linear,
    out: HeadOutput,
}

impl Hgrn2 {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        Ok(Hgrn2 {
            heads: h,
            head_dim: d,
            lower_bound: spec.layer as f64 / spec.n_layers.max(1) as f64,
            qfv: Linear::new(p, "qfv", spec.d_model, 3 * h * d, false, 1.0)?,
            out: HeadOutput::new(p, spec.d_model, h, d, false, out_gain)?,
        })
    }
}

impl LinearFamily for Hgrn2 {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        LinearShape { heads: self.heads, d_k: self.head_dim, d_v: self.head_dim, conv: None }
    }

    fn project(&self, x: &Tensor, _conv: Option<&Tensor>) -> Result<Projected> {
        let parts = split_fused(&self.qfv.forward(x)?, 3, self.heads)?;
        let q = (&parts[0] * (1.0 / (self.head_dim as f64).sqrt()))?;
        let lb = self.lower_bound;
        let (k, g) = if lb == 0.0 {
            // f = sigmoid(z): 1 - f = sigmoid(-z), log f = logsigmoid(z).
            (sigmoid(&parts[1].neg()?)?, log_sigmoid(&parts[1])?)
        } else {
            let f = (sigmoid(&parts[1])? * (1.0 - lb))? + lb;
            let f = f?;
            (f.affine(-1.0, 1.0)?, f.log()?)
        };
        let inputs = Inputs::new(q, k, parts[2].clone(), Gate::Channel(g));
        Ok(Projected::new(inputs).extra(self.out.from_input(x)?))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
