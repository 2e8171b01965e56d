//! Gated DeltaProduct (Siems et al. 2025, "DeltaProduct: Improving State-Tracking in Linear RNNs via
//! Householder Products"): n_h delta-rule steps per token, each with its own key, value and β, so the
//! transition is a product of n_h generalised Householder matrices (rank n_h instead of 1):
//!
//! `S' = α_t S_{t-1}`, then for j = 1..n_h: `S' <- S' + β_{t,j} k_{t,j} (v_{t,j} - S'^T k_{t,j})^T`;
//! `S_t = S'`, `o_t = S_t^T q_t` (key-major). The decay `log α_t = -exp(A_log) softplus(W_a x_t + dt_bias)`
//! is Gated DeltaNet's, applied once per token before its steps; `β = 2σ(W_β x)` in [0, 2] (the
//! paper's choice: eigenvalues of each factor in [-1, 1]); q, k, v pass a short causal conv + SiLU,
//! q and every k are L2-normalised; output `W_o (RMSNorm(o) ⊙ silu(W_g x))` per head. n_h is the
//! model file's `householder_steps` (default 2, the paper's).

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use super::gated_deltanet::Decay;
use crate::kernels::activation::sigmoid;
use crate::kernels::{l2_normalize, Gate, Inputs, Recurrence};
use crate::model::nn::{split_heads, Linear, Params, ShortConv};
use candle_core::{Result, Tensor};

/// Gated DeltaProduct in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "gated_deltaproduct",
    family: Family::Linear,
    update: "S ← α_t S_{t-1}; for j = 1..n_h: S ← S (I - β_{t,j} k_{t,j} k_{t,j}^T) + β_{t,j} v_{t,j} k_{t,j}^T; S_t = S",
    recurrence: Some(Recurrence::GatedDeltaProduct),
    beats: &["linear_attention", "retnet"],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(GatedDeltaProduct::new(spec, p, gain)?, p.device())),
};

pub struct GatedDeltaProduct {
    heads: usize,
    /// n_h: delta-rule steps per token.
    steps: usize,
    head_dim: usize,
    /// x -> q (H·d), then n_h keys and n_h values (n_h·H·d each).
    qkv: Linear,
    conv: ShortConv,
    beta: Linear,
    decay_proj: Linear,
    decay: Decay,
    out: HeadOutput,
}

impl GatedDeltaProduct {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d, n) = (spec.heads(), spec.head_dim, spec.householder_steps);
        let width = (1 + 2 * n) * h * d;
        Ok(GatedDeltaProduct {
            heads: h,
            steps: n,
            head_dim: d,
            qkv: Linear::new(p, "qkv", spec.d_model, width, false, 1.0)?,
            conv: ShortConv::new(p, "conv", width, spec.conv_size)?,
            beta: Linear::new(p, "beta", spec.d_model, n * h, true, 1.0)?,
            decay_proj: Linear::new(p, "decay", spec.d_model, h, false, 1.0)?,
            decay: Decay::new(p, h, 1)?,
            out: HeadOutput::new(p, spec.d_model, h, d, true, out_gain)?,
        })
    }
}

impl LinearFamily for GatedDeltaProduct {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        let channels = (1 + 2 * self.steps) * self.heads * self.head_dim;
        LinearShape { heads: self.heads, d_k: self.head_dim, d_v: self.head_dim, conv: Some((channels, self.conv.width)) }
    }

    fn project(&self, x: &Tensor, conv: Option<&Tensor>) -> Result<Projected> {
        let (b, t, _) = x.dims3()?;
        let (h, d, n) = (self.heads, self.head_dim, self.steps);
        let (qkv, carry) = self.conv.forward(&self.qkv.forward(x)?, conv)?;
        let q = (l2_normalize(&split_heads(&qkv.narrow(2, 0, h * d)?, h)?, 1e-6)? * (1.0 / (d as f64).sqrt()))?;
        // [B, T, n·H·d] -> [B, T·n, H, d]: token t's step j at row t·n + j.
        let steps = |at: usize| qkv.narrow(2, at, n * h * d)?.reshape((b, t * n, h, d));
        let k = l2_normalize(&steps(h * d)?, 1e-6)?;
        let v = steps((1 + n) * h * d)?;
        let beta = (sigmoid(&self.beta.forward(x)?)? * 2.0)?.reshape((b, t * n, h))?;
        let inputs = Inputs::new(q, k, v, Gate::Scalar(self.decay.log_alpha(&self.decay_proj.forward(x)?)?)).beta(beta).householder(n);
        Ok(Projected::new(inputs).conv(carry).extra(self.out.from_input(x)?))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
