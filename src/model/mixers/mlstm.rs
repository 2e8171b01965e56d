//! mLSTM (Beck et al. 2024, xLSTM): matrix memory with an exponential input gate, a forget gate and
//! a normaliser state.
//!
//! `S_t = f_t S_{t-1} + i_t v_t k_t^T`, `z_t = f_t z_{t-1} + i_t k_t`, `o_t = S_t q_t / max(1, |z_t·q_t|)`
//! with `f_t = sigmoid(f̃_t)` (in log space), `i_t = exp(ĩ_t)`, q scaled by `1/sqrt(d_k)`. The normaliser
//! is the kernel's extra value column: with `v' = [v, 1]` the state `[S | z]` follows the same scalar-
//! gated recurrence, so all three forms compute it exactly. Instead of xLSTM's running max-stabiliser,
//! the input-gate pre-activation is soft-capped, `ĩ = 15 tanh(ĩ_raw / 15)` (as xLSTM-7B caps its gates),
//! which bounds `exp(ĩ)` by e^15 in every form; output `W_o (RMSNorm(o) ⊙ silu(W_g x))` per head.

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::linear_attention::split_fused;
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::activation::log_sigmoid;
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{Linear, Params};
use candle_core::{Result, Tensor, D};

/// Mlstm in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "mlstm",
    family: Family::Linear,
    update: "S_t = f_t S_{t-1} + i_t v_t k_t^T, z_t = f_t z_{t-1} + i_t k_t; o = S q / max(1, |z·q|)",
    recurrence: Some(Recurrence::ScalarGate),
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(Mlstm::new(spec, p, gain)?, p.device())),
};

/// Soft cap of the input-gate pre-activation.
const GATE_CAP: f64 = 15.0;

pub struct Mlstm {
    heads: usize,
    head_dim: usize,
    qkv: Linear,
    gates: Linear,
    out: HeadOutput,
}

impl Mlstm {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, d) = (spec.heads(), spec.head_dim);
        let mut gates = Linear::new(p, "gates", spec.d_model, 2 * h, false, 0.1)?;
        // Forget gates start near 1 (bias 3: sigmoid = 0.95), input gates near exp(0) = 1.
        let bias: Vec<f32> = (0..2 * h).map(|i| if i >= h { 3.0 } else { 0.0 }).collect();
        gates.bias = Some(p.sub("gates").from_values("bias", bias)?);
        Ok(Mlstm {
            heads: h,
            head_dim: d,
            qkv: Linear::new(p, "qkv", spec.d_model, 3 * h * d, false, 1.0)?,
            gates,
            out: HeadOutput::new(p, spec.d_model, h, d, true, out_gain)?,
        })
    }
}

impl LinearFamily for Mlstm {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        // d_v + 1: the normaliser z is the state's last column.
        LinearShape { heads: self.heads, d_k: self.head_dim, d_v: self.head_dim + 1, conv: None }
    }

    fn project(&self, x: &Tensor, _conv: Option<&Tensor>) -> Result<Projected> {
        let parts = split_fused(&self.qkv.forward(x)?, 3, self.heads)?;
        let q = (&parts[0] * (1.0 / (self.head_dim as f64).sqrt()))?;
        let gates = self.gates.forward(x)?; // [B, T, 2H]: input, forget
        let h = self.heads;
        let input = ((gates.narrow(D::Minus1, 0, h)? / GATE_CAP)?.tanh()? * GATE_CAP)?;
        let log_forget = log_sigmoid(&gates.narrow(D::Minus1, h, h)?)?;
        let k = parts[1].broadcast_mul(&input.exp()?.unsqueeze(3)?)?;
        let ones = Tensor::ones((x.dim(0)?, x.dim(1)?, h, 1), x.dtype(), x.device())?;
        let v = Tensor::cat(&[&parts[2], &ones], 3)?;
        let inputs = Inputs::new(q, k, v, Gate::Scalar(log_forget));
        Ok(Projected::new(inputs).extra(self.out.from_input(x)?))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        let d = self.head_dim;
        let num = o.narrow(D::Minus1, 0, d)?;
        let den = o.narrow(D::Minus1, d, 1)?.abs()?.maximum(1f64)?;
        self.out.forward(&num.broadcast_div(&den)?, &p.extra)
    }
}
