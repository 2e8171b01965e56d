//! RWKV-7 "Goose" (Peng et al. 2025): the generalised delta rule, a diagonal-plus-rank-one transition.
//!
//! Static token shift `x_* = x_t + (x_{t-1} - x_t) ⊙ μ_*`; `r, k, v = W x_*`; per key channel the decay
//! `log w_t = -e^{-1/2} sigmoid(ω + tanh(x_w C) D)`, the in-context learning rate `â_t = sigmoid(α + x_a E F)`,
//! the removal key `κ̂_t = normalize(k_t ⊙ ξ)` (per head) and the written key `k̃_t = k_t ⊙ (1 + (â_t - 1) ⊙ λ)`:
//!
//! ```text
//!   S_t = (Diag(w_t) - (κ̂_t ⊙ â_t) κ̂_t^T) S_{t-1} + k̃_t v_t^T        o_t = S_t^T r_t + (r_t · (ρ ⊙ k̃_t)) v_t
//! ```
//!
//! (key-major; the lecture's `S_{t-1}(Diag(w_t) + a_t b_t^T) + v_t k_t^T` with `a = -κ̂`, `b = κ̂ ⊙ â`),
//! scale 1; output `W_o (RMSNorm(o) ⊙ silu(W_g x_g))` per head. Left out from the reference: the value
//! residual across layers and the low-rank output gate (a plain projection here).

use super::linear::{HeadOutput, LinearFamily, LinearShape, Projected};
use super::rwkv6::{current_token_bonus, token_shift};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::activation::sigmoid;
use crate::kernels::{Gate, Inputs, Recurrence, l2_normalize};
use crate::model::nn::{split_heads, Linear, Params};
use candle_core::{Result, Tensor};

/// Rwkv7 in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "rwkv7",
    family: Family::Linear,
    update: "S_t = S_{t-1}(Diag(w_t) + a_t b_t^T) + v_t k_t^T; o_t = S_t r_t",
    recurrence: Some(Recurrence::LowRank),
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(Rwkv7::new(spec, p, gain)?, p.device())),
};

const DECAY_RANK: usize = 32;
const RATE_RANK: usize = 16;
/// Mixed inputs: r, w, k, v, a (rate), g (gate).
const MIXES: usize = 6;

pub struct Rwkv7 {
    heads: usize,
    head_dim: usize,
    d: usize,
    /// `[6, d]`: static token-shift mixes.
    mu: Tensor,
    rkvg: Linear,
    omega: Tensor,
    decay_down: Linear,
    decay_up: Linear,
    alpha: Tensor,
    rate_down: Linear,
    rate_up: Linear,
    /// ξ: removal-key scaling; λ: how much the rate shrinks the written key.
    xi: Tensor,
    lambda: Tensor,
    /// ρ: `[H, d_k]`, the current token's bonus.
    rho: Tensor,
    out: HeadOutput,
}

impl Rwkv7 {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let (h, hd, d) = (spec.heads(), spec.head_dim, spec.d_model);
        let omega: Vec<f32> = (0..d).map(|i| (-2.0 + 4.0 * (i as f64 / (d - 1).max(1) as f64)) as f32).collect();
        Ok(Rwkv7 {
            heads: h,
            head_dim: hd,
            d,
            mu: p.uniform("mu", (MIXES, d), 0.0, 1.0)?,
            rkvg: Linear::new(p, "rkvg", d, 4 * d, false, 1.0)?,
            omega: p.from_values("omega", omega)?,
            decay_down: Linear::new(p, "decay_down", d, DECAY_RANK, false, 0.1)?,
            decay_up: Linear::new(p, "decay_up", DECAY_RANK, d, false, 0.1)?,
            alpha: p.constant("alpha", d, 0.0)?,
            rate_down: Linear::new(p, "rate_down", d, RATE_RANK, false, 0.1)?,
            rate_up: Linear::new(p, "rate_up", RATE_RANK, d, false, 0.1)?,
            xi: p.constant("xi", d, 0.85)?,
            lambda: p.constant("lambda", d, 1.0)?,
            rho: p.uniform("rho", (h, hd), -0.5, 0.5)?,
            out: HeadOutput::new(p, d, h, hd, false, out_gain)?,
        })
    }
}

impl LinearFamily for Rwkv7 {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        LinearShape { heads: self.heads, d_k: self.head_dim, d_v: self.head_dim, conv: Some((self.d, 2)) }
    }

    fn project(&self, x: &Tensor, carry: Option<&Tensor>) -> Result<Projected> {
        let d = self.d;
        let (xx, new_carry) = token_shift(x, carry)?;
        let mix = |i: usize| -> Result<Tensor> { x + xx.broadcast_mul(&self.mu.get(i)?)? };
        let proj = |i: usize, input: &Tensor| -> Result<Tensor> { self.rkvg.rows(i, d)?.forward(input) };
        let (xr, xw, xk, xv, xa, xg) = (mix(0)?, mix(1)?, mix(2)?, mix(3)?, mix(4)?, mix(5)?);
        let (r, k, v, g) = (proj(0, &xr)?, proj(1, &xk)?, proj(2, &xv)?, proj(3, &xg)?);
        let decay = self.decay_up.forward(&self.decay_down.forward(&xw)?.tanh()?)?.broadcast_add(&self.omega)?;
        let log_w = (sigmoid(&decay)? * -(-0.5f64).exp())?;
        let rate = sigmoid(&self.rate_up.forward(&self.rate_down.forward(&xa)?)?.broadcast_add(&self.alpha)?)?;
        let kappa = l2_normalize(&split_heads(&k.broadcast_mul(&self.xi)?, self.heads)?, 1e-6)?;
        let written = k.mul(&(rate.affine(1.0, -1.0)?.broadcast_mul(&self.lambda)? + 1.0)?)?;
        let heads = |t: &Tensor| split_heads(t, self.heads);
        let (r, written, v, rate) = (heads(&r)?, heads(&written)?, heads(&v)?, heads(&rate)?);
        let bonus = current_token_bonus(&r, &written, &self.rho, &v)?;
        let inputs = Inputs::new(r, written, v, Gate::Channel(heads(&log_w)?)).low_rank(kappa.neg()?, (&kappa * rate)?);
        Ok(Projected::new(inputs).conv(new_carry).extra(vec![crate::kernels::activation::silu(&g)?, bonus]))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        self.out.forward(&(o + &p.extra[1])?, &p.extra[..1])
    }
}
