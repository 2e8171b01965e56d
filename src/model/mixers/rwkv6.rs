//! RWKV-6 "Finch" (Peng et al. 2024): data-dependent per-channel decay, a bonus for the current token,
//! and token shift.
//!
//! Token shift mixes each token with the previous one, per channel and data-dependently:
//! `xx = x_{t-1} - x_t`, `x_* = x_t + xx ⊙ (μ_* + tanh((x_t + xx ⊙ μ_x) A) B_*)` for `* ∈ {r, k, v, w, g}`.
//! Then `r, k, v = W x_*`, the decay `w_t = exp(-exp(ω + tanh(x_w C) D))` per key channel, and
//!
//! ```text
//!   S_t = Diag(w_t) S_{t-1} + k_t v_t^T          o_t = S_{t-1}^T r_t + (r_t · (u ⊙ k_t)) v_t
//! ```
//!
//! (key-major; the bonus `u` is per head and key channel, as in the reference kernels), scale 1;
//! output `W_o (RMSNorm(o) ⊙ silu(W_g x_g))` per head. The previous token `x_{t-1}` is carried in the
//! state like a width-2 convolution's carry.

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{split_heads, Linear, Params};
use candle_core::{Result, Tensor, D};

/// Rwkv6 in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "rwkv6",
    family: Family::Linear,
    update: "S_t = S_{t-1} Diag(α_t) + v_t k_t^T; o_t = (S_{t-1} + (u ⊙ v_t) k_t^T) q_t",
    recurrence: Some(Recurrence::ChannelGateExclusive),
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(Rwkv6::new(spec, p, gain)?, p.device())),
};

/// Rank of the token-shift mixing LoRA and of the decay LoRA.
const MIX_RANK: usize = 16;
const DECAY_RANK: usize = 32;
/// The five mixed inputs: r, k, v, w (decay), g (output gate).
const MIXES: usize = 5;

pub struct Rwkv6 {
    heads: usize,
    head_dim: usize,
    d: usize,
    mu_x: Tensor,
    /// `[5, d]`: base mix of r, k, v, w, g.
    mu: Tensor,
    mix_down: Linear,
    mix_up: Linear,
    rkvg: Linear,
    omega: Tensor,
    decay_down: Linear,
    decay_up: Linear,
    /// `[H, d_k]`: the bonus of the current token.
    bonus: Tensor,
    out: HeadOutput,
}

impl Rwkv6 {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, hd, d) = (spec.heads(), spec.head_dim, spec.d_model);
        // Decay base ω from -6 (slow, w ≈ 0.998) to -1 (fast, w ≈ 0.69) across channels.
        let omega: Vec<f32> =
            (0..d).map(|i| (-6.0 + 5.0 * (i as f64 / (d - 1).max(1) as f64).powf(0.7)) as f32).collect();
        Ok(Rwkv6 {
            heads: h,
            head_dim: hd,
            d,
            mu_x: p.uniform("mu_x", d, 0.0, 1.0)?,
            mu: p.uniform("mu", (MIXES, d), 0.0, 1.0)?,
            mix_down: Linear::new(p, "mix_down", d, MIX_RANK * MIXES, false, 0.1)?,
            mix_up: Linear::new(p, "mix_up", MIX_RANK, d, false, 0.1)?,
            rkvg: Linear::new(p, "rkvg", d, 4 * d, false, 1.0)?,
            omega: p.from_values("omega", omega)?,
            decay_down: Linear::new(p, "decay_down", d, DECAY_RANK, false, 0.1)?,
            decay_up: Linear::new(p, "decay_up", DECAY_RANK, d, false, 0.1)?,
            bonus: p.uniform("bonus", (h, hd), -0.5, 0.5)?,
            out: HeadOutput::new(p, d, h, hd, false, out_gain)?,
        })
    }

    /// `x_* = x + xx ⊙ (μ_* + tanh(xxx A_*) B)` for the five mixes, each `[B, T, d]`.
    fn mixes(&self, x: &Tensor, xx: &Tensor) -> Result<Vec<Tensor>> {
        let xxx = (x + xx.broadcast_mul(&self.mu_x)?)?;
        let low = self.mix_down.forward(&xxx)?.tanh()?; // [B, T, 5 R]
        (0..MIXES)
            .map(|i| {
                let m = self.mix_up.forward(&low.narrow(D::Minus1, i * MIX_RANK, MIX_RANK)?)?;
                let mix = m.broadcast_add(&self.mu.get(i)?)?;
                x + (xx * mix)?
            })
            .collect()
    }
}

/// Token shift: `xx_t = x_{t-1} - x_t` with `x_{-1}` from the carry (zeros at the start), and the new
/// carry (the last token). Shared by RWKV-6 and RWKV-7.
pub(crate) fn token_shift(x: &Tensor, carry: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
    let (b, t, d) = x.dims3()?;
    let carry = match carry {
        Some(c) => c.clone(),
        None => Tensor::zeros((b, 1, d), x.dtype(), x.device())?,
    };
    let ext = Tensor::cat(&[&carry, x], 1)?;
    let xx = (ext.narrow(1, 0, t)? - x)?;
    Ok((xx, ext.narrow(1, t, 1)?.contiguous()?))
}

/// The current token's own contribution, `(r_t · (u ⊙ k_t)) v_t` per head; `u: [H, d_k]`.
pub(crate) fn current_token_bonus(r: &Tensor, k: &Tensor, u: &Tensor, v: &Tensor) -> Result<Tensor> {
    (r * k.broadcast_mul(u)?)?.sum_keepdim(D::Minus1)?.broadcast_mul(v)
}

impl LinearFamily for Rwkv6 {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        // The token-shift carry is the previous token: a width-2 "convolution" carry of d channels.
        LinearShape { heads: self.heads, d_k: self.head_dim, d_v: self.head_dim, conv: Some((self.d, 2)) }
    }

    fn project(&self, x: &Tensor, carry: Option<&Tensor>) -> Result<Projected> {
        let d = self.d;
        let (xx, new_carry) = token_shift(x, carry)?;
        let m = self.mixes(x, &xx)?; // r, k, v, w, g
                                     // rkvg is [4d, d]: r, k, v, g, each applied to its own mixed input.
        let proj = |i: usize, input: &Tensor| -> Result<Tensor> { self.rkvg.rows(i, d)?.forward(input) };
        let (r, k, v, g) = (proj(0, &m[0])?, proj(1, &m[1])?, proj(2, &m[2])?, proj(3, &m[4])?);
        let decay = self.decay_up.forward(&self.decay_down.forward(&m[3])?.tanh()?)?.broadcast_add(&self.omega)?;
        let log_w = decay.exp()?.neg()?; // log w = -exp(ω + ...)
        let (r, k, v) = (split_heads(&r, self.heads)?, split_heads(&k, self.heads)?, split_heads(&v, self.heads)?);
        let bonus = current_token_bonus(&r, &k, &self.bonus, &v)?;
        let inputs = Inputs::new(r, k, v, Gate::Channel(split_heads(&log_w, self.heads)?)).exclusive();
        Ok(Projected::new(inputs).conv(new_carry).extra(vec![crate::kernels::activation::silu(&g)?, bonus]))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(&(o + &p.extra[1])?, &p.extra[..1])
    }
}
