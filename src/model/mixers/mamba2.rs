//! Mamba-2 (Dao & Gu 2024) as gated retention: a data-dependent scalar decay per head.
//!
//! `[z, x, B, C, dt] = W_in u`; `x, B, C <- silu(conv(x, B, C))`; `Δ = softplus(dt + dt_bias)`,
//! `A = -exp(A_log)`. Then with `q = C`, `k = B` (shared by all heads), `v = Δ·x`, `g = Δ·A` and scale 1:
//! `S_t = exp(g_t) S_{t-1} + v_t k_t^T`, `y_t = S_t q_t + D·x_t`, output `W_out RMSNorm(y ⊙ silu(z))`.

use super::linear::{LinearFamily, LinearShape, Projected};
use super::{Descriptor, Family, MixerKind, MixerSpec};
use crate::kernels::activation::softplus;
use crate::kernels::broadcast::{add, expand, mul};
use crate::kernels::{Gate, Inputs, Recurrence};
use crate::model::nn::{merge_heads, split_heads, Linear, Params, RmsNorm, ShortConv};
use candle_core::{Result, Shape, Tensor, D};

/// Mamba2 in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "mamba2",
    family: Family::Linear,
    update: "S_t = γ_t S_{t-1} + v_t k_t^T (γ_t per head)",
    recurrence: Some(Recurrence::ScalarGate),
    beats: &["linear_attention"],
    validate: super::any_sizes,
    build: |spec, p, gain| Ok(super::linear::boxed(Mamba2::new(spec, p, gain)?, p.device())),
};

pub struct Mamba2 {
    heads: usize,
    head_dim: usize,
    d_inner: usize,
    d_state: usize,
    in_proj: Linear,
    conv: ShortConv,
    a_log: Tensor,
    dt_bias: Tensor,
    skip: Tensor,
    norm: RmsNorm,
    out: Linear,
}

impl Mamba2 {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        let d_inner = 2 * spec.d_model;
        let heads = d_inner / spec.head_dim;
        let n = spec.d_state;
        let dt_bias = dt_bias(p, heads)?;
        Ok(Mamba2 {
            heads,
            head_dim: spec.head_dim,
            d_inner,
            d_state: n,
            in_proj: Linear::new(p, "in_proj", spec.d_model, 2 * d_inner + 2 * n + heads, false, 1.0)?,
            conv: ShortConv::new(p, "conv", d_inner + 2 * n, spec.conv_size)?,
            a_log: p.uniform("a_log", heads, 1f64.ln(), 16f64.ln())?,
            dt_bias,
            skip: p.constant("d_skip", heads, 1.0)?,
            norm: RmsNorm::new(p, "norm", d_inner)?,
            out: Linear::new(p, "out", d_inner, spec.d_model, false, out_gain)?,
        })
    }
}

/// The step-size bias `softplus⁻¹(Δ₀)` with `Δ₀` drawn log-uniformly in [1e-3, 1e-1] per head (so
/// `Δ = softplus(dt + dt_bias)` starts at `Δ₀`), shared by Mamba-2 and Mamba-3.
pub fn dt_bias(p: &Params, heads: usize) -> Result<Tensor> {
    let dt = p.draw_uniform("dt_init", heads, (1e-3f64).ln(), (1e-1f64).ln())?.exp()?;
    let dt_bias = (&dt + (dt.neg()?.exp()?.neg()? + 1.0)?.log()?)?; // dt + log(1 - exp(-dt))
    p.from_values("dt_bias", dt_bias.to_vec1::<f32>()?)
}

impl LinearFamily for Mamba2 {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn shape(&self) -> LinearShape {
        LinearShape {
            heads: self.heads,
            d_k: self.d_state,
            d_v: self.head_dim,
            conv: Some((self.d_inner + 2 * self.d_state, self.conv.width)),
        }
    }

    fn project(&self, u: &Tensor, conv: Option<&Tensor>) -> Result<Projected> {
        let (b, t, _) = u.dims3()?;
        let (h, n, di) = (self.heads, self.d_state, self.d_inner);
        let proj = self.in_proj.forward(u)?;
        let z = proj.narrow(D::Minus1, 0, di)?;
        let (xbc, carry) = self.conv.forward(&proj.narrow(D::Minus1, di, di + 2 * n)?, conv)?;
        let dt = proj.narrow(D::Minus1, 2 * di + 2 * n, h)?;
        let x = split_heads(&xbc.narrow(D::Minus1, 0, di)?, h)?; // [B, T, H, P]
        let shared = |off: usize| -> Result<Tensor> {
            expand(&xbc.narrow(D::Minus1, off, n)?.unsqueeze(2)?, &Shape::from((b, t, h, n)))
        };
        let (k, q) = (shared(di)?, shared(di + n)?); // B and C
        let delta = softplus(&add(&dt, &self.dt_bias)?)?; // [B, T, H]
        let g = mul(&delta, &self.a_log.exp()?.neg()?)?;
        let v = mul(&x, &delta.unsqueeze(3)?)?;
        let inputs = Inputs::new(q, k, v, Gate::Scalar(g));
        Ok(Projected::new(inputs).conv(carry).extra(vec![z, x]))
    }

    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor> {
        let (z, x) = (&p.extra[0], &p.extra[1]);
        let y = (o + mul(x, &self.skip.unsqueeze(1)?)?)?;
        let y = (merge_heads(&y)? * crate::kernels::activation::silu(z)?)?;
        self.out.forward(&self.norm.forward(&y)?)
    }
}
