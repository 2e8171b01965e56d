//! DeltaNet (Schlag et al. 2021; Yang et al. 2024): the delta rule, one SGD step on `½‖S k - v‖²`.
//!
//! `S_t = S_{t-1}(I - β_t k_t k_t^T) + β_t v_t k_t^T` (lecture's orientation), `β_t = sigmoid(W_β x_t)`
//! per head (`2σ(·)` with `allow_neg_eigval`, so the transition can flip sign: parity); q, k, v pass a short causal conv + SiLU, then q and k are L2-normalised and q is scaled by
//! `1/sqrt(d_k)`; output `W_o RMSNorm(o)` per head.

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::linear_attention::split_fused;
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::activation::sigmoid;
use crate::kernels::{Gate, Inputs, Recurrence, l2_normalize};
use crate::model::nn::{Linear, Params, ShortConv};
use candle_core::{Result, Tensor};

/// DeltaNet in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "deltanet",
    family: Family::Linear,
    update: "S_t = S_{t-1}(I - β_t k_t k_t^T) + β_t v_t k_t^T",
    recurrence: Some(Recurrence::Delta),
    beats: &["linear_attention"],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(DeltaNet::new(spec, p, gain)?, p.device())),
};

/// The projections DeltaNet and Gated DeltaNet share: `x -> conv(q, k, v)`, normalised keys, `β`.
pub(crate) struct DeltaProjections {
    pub heads: usize,
    pub head_dim: usize,
    pub qkv: Linear,
    pub conv: ShortConv,
    pub beta: Linear,
    /// `β = 2σ(W_β x)` (eigenvalues of `I - β k k^T` in [-1, 1]) instead of `σ(W_β x)`.
    pub neg_eigval: bool,
}

impl DeltaProjections {
    pub fn new(spec: &MixerSpec, p: &Params) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        Ok(DeltaProjections {
            heads: h,
            head_dim: d,
            qkv: Linear::new(p, "qkv", spec.d_model, 3 * h * d, false, 1.0)?,
            conv: ShortConv::new(p, "conv", 3 * h * d, spec.conv_size)?,
            beta: Linear::new(p, "beta", spec.d_model, h, true, 1.0)?,
            neg_eigval: spec.allow_neg_eigval,
        })
    }

    pub fn shape(&self) -> LinearShape {
        let channels = 3 * self.heads * self.head_dim;
        LinearShape {
            heads: self.heads,
            d_k: self.head_dim,
            d_v: self.head_dim,
            conv: Some((channels, self.conv.width)),
        }
    }

    /// Kernel inputs with no gate, and the new conv carry.
    pub fn project(&self, x: &Tensor, conv: Option<&Tensor>) -> Result<(Inputs, Tensor)> {
        let (qkv, carry) = self.conv.forward(&self.qkv.forward(x)?, conv)?;
        let parts = split_fused(&qkv, 3, self.heads)?;
        let q = (l2_normalize(&parts[0], 1e-6)? * (1.0 / (self.head_dim as f64).sqrt()))?;
        let k = l2_normalize(&parts[1], 1e-6)?;
        let mut beta = sigmoid(&self.beta.forward(x)?)?;
        if self.neg_eigval {
            beta = (beta * 2.0)?;
        }
        Ok((
            Inputs::new(q, k, parts[2].clone(), Gate::None).beta(beta),
            carry,
        ))
    }
}

pub struct DeltaNet {
    proj: DeltaProjections,
    out: HeadOutput,
}

impl DeltaNet {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        Ok(DeltaNet {
            proj: DeltaProjections::new(spec, p)?,
            out: HeadOutput::new(p, spec.d_model, h, d, false, out_gain)?,
        })
    }
}

impl LinearFamily for DeltaNet {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        self.proj.shape()
    }

    fn project(&self, x: &Tensor, conv: Option<&Tensor>) -> Result<Projected> {
        let (inputs, carry) = self.proj.project(x, conv)?;
        Ok(Projected::new(inputs).conv(carry))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(o, &p.extra)
    }
}
