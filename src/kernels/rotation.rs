//! A data-dependent rotation of channel pairs (Mamba-3's complex dynamics on B and C): [`reference`]
//! in plain ops, and [`rotate_biased`], which adds a per-head bias to an input shared by the heads
//! and turns it, as a CPU custom op with its backward (plain form: [`biased_reference`]). For
//! `x: [B, T, H, n]` and phases `φ: [B, T, H, a]`, `a <= n/2`, the pairs `(x_i, x_{i+n/2})`, `i < a`,
//! turn by `φ_i`; the other channels pass unchanged:
//!
//! ```text
//!   r1 = x1 cos φ - x2 sin φ,   r2 = x2 cos φ + x1 sin φ
//!   backward: (dx1, dx2) = the rotation of (dr1, dr2) by -φ,   dφ = dr2 r1 - dr1 r2
//! ```
//!
//! The plain form keeps the biased copy, eight `[B, T, H, a]` products and a concatenation for its
//! backward; the fused one keeps only its inputs.

use crate::kernels::cpu::{as_slice, par_chunks};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, D};

/// Rotates the pairs `(i, i + n/2)`, `i < a`, of `x: [B, T, H, n]` by `phase: [B, T, H, a]`, in
/// plain candle ops (differentiable in both).
pub fn reference(x: &Tensor, phase: &Tensor) -> Result<Tensor> {
    let (n, a) = (x.dim(D::Minus1)?, phase.dim(D::Minus1)?);
    let half = n / 2;
    let (cos, sin) = (phase.cos()?, phase.sin()?);
    let (x1, x2) = (x.narrow(D::Minus1, 0, a)?, x.narrow(D::Minus1, half, a)?);
    let r1 = ((&x1 * &cos)? - (&x2 * &sin)?)?;
    let r2 = ((&x2 * &cos)? + (&x1 * &sin)?)?;
    let mut parts = vec![r1];
    if half > a {
        parts.push(x.narrow(D::Minus1, a, half - a)?);
    }
    parts.push(r2);
    if n > half + a {
        parts.push(x.narrow(D::Minus1, half + a, n - half - a)?);
    }
    Tensor::cat(&parts, D::Minus1)
}

/// `rotate(x + bias_h, phase)` for `x: [B, T, n]` shared by the heads and a per-head `bias: [H, n]`
/// (Mamba-3's B and C): the fused op where it serves, which keeps neither the biased copy nor its
/// gradient, else [`biased_reference`].
pub fn rotate_biased(x: &Tensor, bias: &Tensor, phase: &Tensor) -> Result<Tensor> {
    if [x, bias, phase].iter().all(|t| crate::kernels::cpu::serves(t)) {
        return x.contiguous()?.apply_op3(&bias.contiguous()?, &phase.contiguous()?, BiasedRotation);
    }
    biased_reference(x, bias, phase)
}

/// [`rotate_biased`] in plain ops: `[B, T, 1, n] + [H, n]`, then [`reference`].
pub fn biased_reference(x: &Tensor, bias: &Tensor, phase: &Tensor) -> Result<Tensor> {
    reference(&x.unsqueeze(2)?.broadcast_add(bias)?, phase)
}

/// Rotates one row `x` (`n` channels) by `phase` (`a` angles), negated when `inverse`, into `out`.
fn rotate_row(x: &[f32], phase: &[f32], inverse: bool, out: &mut [f32]) {
    out.copy_from_slice(x);
    rotate_in_place(out, phase, inverse);
}

/// [`rotate_row`] on the row in place.
fn rotate_in_place(row: &mut [f32], phase: &[f32], inverse: bool) {
    let half = row.len() / 2;
    for (i, &p) in phase.iter().enumerate() {
        let (s, c) = p.sin_cos();
        let s = if inverse { -s } else { s };
        let (x1, x2) = (row[i], row[half + i]);
        row[i] = x1 * c - x2 * s;
        row[half + i] = x2 * c + x1 * s;
    }
}

/// (dr, [phase | r]) -> [dx | dφ]: the gradient turned back by -φ, and `dφ = dr2 r1 - dr1 r2`.
struct RotationBackward;

impl CustomOp2 for RotationBackward {
    fn name(&self) -> &'static str {
        "fused-rotation-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (dr, phase_r) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
        let (b, t, h, n) = l1.shape().dims4()?;
        let a = l2.shape().dims4()?.3 - n;
        let half = n / 2;
        let mut out = vec![0f32; b * t * h * (n + a)];
        par_chunks(&mut out, n + a, 10 * dr.len(), |row, o| {
            let (phase, r) = phase_r[row * (n + a)..(row + 1) * (n + a)].split_at(a);
            let g = &dr[row * n..(row + 1) * n];
            let (dx, dphase) = o.split_at_mut(n);
            rotate_row(g, phase, true, dx);
            for (i, dp) in dphase.iter_mut().enumerate() {
                *dp = g[half + i] * r[i] - g[i] * r[half + i];
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((b, t, h, n + a))))
    }
}

/// (x `[B, T, n]`, bias `[H, n]`, phase `[B, T, H, a]`) -> `[B, T, H, n]`, [`rotate_biased`].
struct BiasedRotation;

impl candle_core::CustomOp3 for BiasedRotation {
    fn name(&self) -> &'static str {
        "fused-biased-rotation"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, bias, phase) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let (b, t, h, a) = l3.shape().dims4()?;
        let n = l1.shape().dims3()?.2;
        let len = b * t * h * n;
        let mut y = vec![0f32; len];
        par_chunks(&mut y, n.max(1), 8 * len, |row, out| {
            // row = (token, head): the token's shared x plus the head's bias, then turned.
            let (token, head) = (row / h, row % h);
            for ((o, x), b) in out.iter_mut().zip(&x[token * n..(token + 1) * n]).zip(&bias[head * n..(head + 1) * n]) {
                *o = x + b;
            }
            rotate_in_place(out, &phase[row * a..(row + 1) * a], false)
        });
        Ok((CpuStorage::F32(y), Shape::from((b, t, h, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _bias: &Tensor,
        phase: &Tensor,
        r: &Tensor,
        dr: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let packed =
            dr.contiguous()?.apply_op2_no_bwd(&Tensor::cat(&[phase, r], D::Minus1)?, &BiasedRotationBackward)?;
        let (b, t, h, a) = phase.dims4()?;
        let n = x.dim(D::Minus1)?;
        let (n_x, n_phase) = (b * t * n, b * t * h * a);
        Ok((
            Some(packed.narrow(0, 0, n_x)?.reshape((b, t, n))?),
            Some(packed.narrow(0, n_x + n_phase, h * n)?.reshape((h, n))?),
            Some(packed.narrow(0, n_x, n_phase)?.reshape((b, t, h, a))?),
        ))
    }
}

/// (dr, [phase | r]) -> [dx `[B, T, n]` | dφ `[B, T, H, a]` | dbias `[H, n]`] flat: the gradient of
/// the biased input (the rotation's backward, [`RotationBackward`]) summed over the heads for x and
/// over the tokens for the bias, in this op (candle's sums over a middle axis were slower than the
/// whole rest of the step's change: -11.6% on Mamba-3, measured).
struct BiasedRotationBackward;

impl CustomOp2 for BiasedRotationBackward {
    fn name(&self) -> &'static str {
        "fused-biased-rotation-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, t, h, n) = l1.shape().dims4()?;
        let a = l2.shape().dims4()?.3 - n;
        let (d_biased_dphase, _) = RotationBackward.cpu_fwd(s1, l1, s2, l2)?;
        let CpuStorage::F32(g) = d_biased_dphase else { candle_core::bail!("rotation backward: f32 expected") };
        let tokens = b * t;
        let mut out = vec![0f32; tokens * n + tokens * h * a + h * n];
        let (dx, rest) = out.split_at_mut(tokens * n);
        let (dphase, dbias) = rest.split_at_mut(tokens * h * a);
        // Rows of `g`: (token, head), each [d_biased (n) | dφ (a)].
        let row = |token: usize, head: usize| &g[(token * h + head) * (n + a)..(token * h + head + 1) * (n + a)];
        par_chunks(dx, n.max(1), tokens * h * n, |token, out| {
            for head in 0..h {
                out.iter_mut().zip(&row(token, head)[..n]).for_each(|(o, g)| *o += g);
            }
        });
        par_chunks(dphase, a.max(1), tokens * h * a, |pair, out| out.copy_from_slice(&row(pair / h, pair % h)[n..]));
        par_chunks(dbias, n.max(1), tokens * h * n, |head, out| {
            for token in 0..tokens {
                out.iter_mut().zip(&row(token, head)[..n]).for_each(|(o, g)| *o += g);
            }
        });
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}
