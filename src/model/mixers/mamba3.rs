//! Mamba-3, SISO (Lahoti et al. 2026, "Mamba-3: Improved Sequence Modeling using State Space
//! Principles"; state-spaces/mamba `mamba3_siso_step_ref`, fla `layers/mamba3.py`).
//!
//! `[z, x, B, C, dt, a, λ, θ] = W_in u` (no short convolution); `Δ = softplus(dt + dt_bias)`,
//! `A = min(-softplus(a), -A_floor)` (data-dependent), `α = exp(Δ A)`, `λ = σ(λ)`. B and C are
//! RMS-normalised, get a per-head bias (initialised to 1) and are rotated by data-dependent phases
//! `φ_t = φ_{t-1} + Δ_t π tanh(θ_t)` (the complex dynamics, on a quarter of the state's channels).
//! With `k = rot(B)`, `q = rot(C)`, `v = x` the exponential-trapezoidal update is
//!
//! ```text
//!   H_t = α_t H_{t-1} + (1 - λ_t) Δ_t α_t k_{t-1} v_{t-1}^T + λ_t Δ_t k_t v_t^T,   y_t = H_t^T q_t + D v_t
//! ```
//!
//! and the output is `W_out (y ⊙ silu(z))`. The shared scalar-gate kernel runs it exactly: token s's
//! pair enters every later state with weight `w_s = λ_s Δ_s + (1 - λ_{s+1}) Δ_{s+1}` (its own term
//! plus the next token's, whose `α_{s+1}` is the kernel's decay), so the kernel gets `k_s w_s`; the
//! state at t itself holds only `λ_t Δ_t`, so `y_t` gives back `(1 - λ_{t+1}) Δ_{t+1} (q_t·k_t) v_t`;
//! the last token of a block keeps `w = λΔ` and its pair is carried, the next block adding
//! `(1 - λ_1) Δ_1 k v^T` to the state before its first token ([`Projected::pending`]). [`Mamba3::literal`]
//! runs the update above token by token as the oracle of that rewriting. MIMO is not modelled.

use super::linear::{LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec, SizeError, Sizes};
use crate::kernels::activation::{sigmoid, softplus};
use crate::kernels::broadcast::{add, mul};
use crate::kernels::rotation::rotate_biased;
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{merge_heads, split_heads, Linear, Params, RmsNorm};
use candle_core::{Result, Tensor, D};

/// Mamba-3 in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "mamba3",
    family: Family::Linear,
    update: "S_t = α_t S_{t-1} + (1-λ_t) Δ_t α_t v_{t-1} k_{t-1}^T + λ_t Δ_t v_t k_t^T (k, q rotated by data-dependent phases)",
    recurrence: Some(Recurrence::ScalarGate),
    beats: &["linear_attention"],
    validate,
    build: |spec, p, gain| Ok(super::linear::boxed(Mamba3::new(spec, p, gain)?, p.device())),
};

/// The largest decay rate `A` may take is `-A_FLOOR` (fla's `A_floor`).
const A_FLOOR: f64 = 1e-4;

/// Rotary phases on B and C: `d_state / 4` (a rope fraction of 1/2, each phase turning a pair).
fn phases(d_state: usize) -> usize {
    d_state / 4
}

fn validate(s: &Sizes) -> std::result::Result<(), SizeError> {
    if phases(s.d_state) == 0 {
        return Err(("d_state", format!("Mamba-3 rotates d_state / 4 pairs: needs d_state >= 4 (got {})", s.d_state)));
    }
    Ok(())
}

pub struct Mamba3 {
    heads: usize,
    head_dim: usize,
    d_inner: usize,
    d_state: usize,
    phases: usize,
    in_proj: Linear,
    dt_bias: Tensor,
    b_norm: RmsNorm,
    c_norm: RmsNorm,
    /// `[H, N]` each.
    b_bias: Tensor,
    c_bias: Tensor,
    skip: Tensor,
    out: Linear,
}

/// What the trapezoidal update reads of a block of tokens, before it is rewritten for the kernel.
pub struct Features {
    /// Rotated, biased C and B `[B, T, H, N]`.
    pub q: Tensor,
    pub k: Tensor,
    /// `x` `[B, T, H, P]` and the gate `z` `[B, T, d_inner]`.
    pub v: Tensor,
    pub z: Tensor,
    /// `log α = Δ A`, `λΔ` (this token's weight), `(1-λ)Δ` (the previous token's weight) `[B, T, H]`.
    pub log_alpha: Tensor,
    pub own: Tensor,
    pub previous: Tensor,
    /// The accumulated phases `[B, T, H, N/4]`, reduced mod 2π.
    pub phase: Tensor,
}

impl Mamba3 {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let d_inner = 2 * spec.d_model;
        let heads = d_inner / spec.head_dim;
        let n = spec.d_state;
        let phases = phases(n);
        Ok(Mamba3 {
            heads,
            head_dim: spec.head_dim,
            d_inner,
            d_state: n,
            phases,
            in_proj: Linear::new(p, "in_proj", spec.d_model, 2 * d_inner + 2 * n + 3 * heads + phases, false, 1.0)?,
            dt_bias: super::mamba2::dt_bias(p, heads)?,
            b_norm: RmsNorm::new(p, "b_norm", n)?,
            c_norm: RmsNorm::new(p, "c_norm", n)?,
            b_bias: p.constant("b_bias", (heads, n), 1.0)?,
            c_bias: p.constant("c_bias", (heads, n), 1.0)?,
            skip: p.constant("d_skip", heads, 1.0)?,
            out: Linear::new(p, "out", d_inner, spec.d_model, false, out_gain)?,
        })
    }

    /// Channels of the carry: the previous token's k `[H, N]`, v `[H, P]` and phases `[H, N/4]`.
    fn carry_channels(&self) -> usize {
        self.heads * (self.d_state + self.head_dim + self.phases)
    }

    /// The carried previous token `(k, v, phase)`, `[B, H, ·]` each.
    fn split_carry(&self, carry: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        let (b, _, _) = carry.dims3()?;
        let (h, n, pd, a) = (self.heads, self.d_state, self.head_dim, self.phases);
        let c = carry.squeeze(1)?;
        Ok((
            c.narrow(1, 0, h * n)?.reshape((b, h, n))?,
            c.narrow(1, h * n, h * pd)?.reshape((b, h, pd))?,
            c.narrow(1, h * (n + pd), h * a)?.reshape((b, h, a))?,
        ))
    }

    /// The update's inputs for `u: [B, T, d_model]` following the carried previous token.
    pub fn features(&self, u: &Tensor, carry: Option<&Tensor>) -> Result<Features> {
        let (h, n, di, a) = (self.heads, self.d_state, self.d_inner, self.phases);
        let proj = self.in_proj.forward(u)?;
        let mut at = 0;
        let mut take = |width: usize| -> Result<Tensor> {
            at += width;
            proj.narrow(D::Minus1, at - width, width)
        };
        let (z, x, bm, cm) = (take(di)?, take(di)?, take(n)?, take(n)?);
        let (dt, a_pre, lambda, theta) = (take(h)?, take(h)?, take(h)?, take(a)?);
        let delta = softplus(&add(&dt, &self.dt_bias)?)?; // [B, T, H]
        let rate = softplus(&a_pre)?.neg()?.minimum(-A_FLOOR)?;
        let lambda = sigmoid(&lambda)?;
        let own = (&lambda * &delta)?;
        let previous = ((lambda.neg()? + 1.0)? * &delta)?;
        // φ_t = φ_0 + Σ_{s<=t} Δ_s π tanh(θ_s), per head.
        let step = (theta.tanh()? * std::f64::consts::PI)?.unsqueeze(2)?.broadcast_mul(&delta.unsqueeze(3)?)?;
        // (candle's cumsum multiplies by a triangle over the last axis, which must be contiguous)
        let mut phase = step.permute((0, 2, 3, 1))?.contiguous()?.cumsum(3)?.permute((0, 3, 1, 2))?;
        if let Some(c) = carry {
            phase = phase.broadcast_add(&self.split_carry(c)?.2.unsqueeze(1)?)?;
        }
        let turns = (phase.detach() / std::f64::consts::TAU)?.floor()?;
        let phase = (phase - (turns * std::f64::consts::TAU)?)?;
        // [B, T, 1, n] + [H, n] -> [B, T, H, n], its pairs (i, i + n/2), i < N/4, turned by φ (the
        // pairing of Mamba-3's MIMO kernel; the SISO one pairs (2i, 2i+1), the same up to a fixed
        // permutation of B's and C's channels).
        let k = rotate_biased(&self.b_norm.forward(&bm)?, &self.b_bias, &phase)?;
        let q = rotate_biased(&self.c_norm.forward(&cm)?, &self.c_bias, &phase)?;
        Ok(Features { q, k, v: split_heads(&x, h)?, z, log_alpha: (delta * rate)?, own, previous, phase })
    }

    /// `W_out ((y + (D - e) v) ⊙ silu(z))`, `e: [B, T, H]` a correction of the skip per token (the
    /// kernel's overshoot, [`LinearFamily::project`]) or none: one product with v instead of two.
    fn read_out(&self, y: &Tensor, v: &Tensor, z: &Tensor, e: Option<&Tensor>) -> Result<Tensor> {
        let y = match e {
            Some(e) => (y + v.broadcast_mul(&add(&e.neg()?, &self.skip)?.unsqueeze(3)?)?)?,
            None => (y + mul(v, &self.skip.unsqueeze(1)?)?)?,
        };
        self.out.forward(&(merge_heads(&y)? * crate::kernels::activation::silu(z)?)?)
    }

    /// The oracle: the trapezoidal update token by token from the start of the sequence, in plain
    /// ops, as written in the module header (no rewriting, no kernel).
    pub fn literal(&self, u: &Tensor) -> Result<Tensor> {
        let f = self.features(u, None)?;
        let (b, t, h, _) = f.q.dims4()?;
        let mut s = Tensor::zeros((b, h, self.d_state, self.head_dim), u.dtype(), u.device())?;
        let token = |x: &Tensor, i: usize| -> Result<Tensor> { x.narrow(1, i, 1)?.squeeze(1) };
        let per_head = |x: &Tensor, i: usize| -> Result<Tensor> { token(x, i)?.unsqueeze(2)?.unsqueeze(3) };
        // Token i's pair k_i v_i^T, [B, H, N, P].
        let pair = |i: usize| -> Result<Tensor> { token(&f.k, i)?.unsqueeze(3)?.broadcast_mul(&token(&f.v, i)?.unsqueeze(2)?) };
        let mut ys = Vec::with_capacity(t);
        for i in 0..t {
            let alpha = per_head(&f.log_alpha, i)?.exp()?;
            s = (s.broadcast_mul(&alpha)? + pair(i)?.broadcast_mul(&per_head(&f.own, i)?)?)?;
            if i > 0 {
                s = (s + pair(i - 1)?.broadcast_mul(&(per_head(&f.previous, i)? * &alpha)?)?)?;
            }
            // y = S^T q per head: [B, H, 1, N] x [B, H, N, P].
            ys.push(token(&f.q, i)?.unsqueeze(2)?.contiguous()?.matmul(&s)?.squeeze(2)?);
        }
        self.read_out(&Tensor::stack(&ys, 1)?, &f.v, &f.z, None)
    }
}

impl LinearFamily for Mamba3 {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        LinearShape { heads: self.heads, d_k: self.d_state, d_v: self.head_dim, conv: Some((self.carry_channels(), 2)) }
    }

    fn project(&self, u: &Tensor, carry: Option<&Tensor>) -> Result<Projected> {
        let f = self.features(u, carry)?;
        let (b, t, h, _) = f.q.dims4()?;
        // The next token's (1-λ)Δ for each token; the block's last token waits for the next block.
        let none_yet = Tensor::zeros((b, 1, h), u.dtype(), u.device())?;
        let next = match t {
            1 => none_yet,
            _ => Tensor::cat(&[f.previous.narrow(1, 1, t - 1)?, none_yet], 1)?,
        };
        let weight = (&f.own + &next)?;
        let k_in = f.k.broadcast_mul(&weight.unsqueeze(3)?)?;
        // y_t's own pair enters at λ_t Δ_t only: the kernel's extra (1-λ_{t+1}) Δ_{t+1} (q_t·k_t) v_t.
        let overshoot = (next * (&f.q * &f.k)?.sum(D::Minus1)?)?;
        let pending = match carry {
            Some(c) => {
                let (k, v, _) = self.split_carry(c)?;
                let w = f.previous.narrow(1, 0, 1)?.squeeze(1)?.unsqueeze(2)?.unsqueeze(3)?;
                Some(k.unsqueeze(3)?.broadcast_mul(&v.unsqueeze(2)?)?.broadcast_mul(&w)?)
            }
            None => None,
        };
        let last = |x: &Tensor| -> Result<Tensor> { x.narrow(1, t - 1, 1)?.flatten_from(2) };
        let new_carry = Tensor::cat(&[last(&f.k)?, last(&f.v)?, last(&f.phase)?], 2)?.contiguous()?;
        let inputs = Inputs::new(f.q.clone(), k_in, f.v.clone(), Gate::Scalar(f.log_alpha.clone()));
        let extra = vec![overshoot, f.v, f.z];
        Ok(Projected::new(inputs).conv(new_carry).pending(pending).extra(extra))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        let (overshoot, v, z) = (&p.extra[0], &p.extra[1], &p.extra[2]);
        self.read_out(o, v, z, Some(overshoot))
    }
}
