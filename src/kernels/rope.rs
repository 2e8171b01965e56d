//! Rotary position embedding: [`reference`] in plain ops and [`fused`], a CPU custom op, forward and
//! backward:
//!
//! ```text
//!   (x1, x2) -> (x1 cos θ - x2 sin θ,  x2 cos θ + x1 sin θ),   θ_i = (start + t) · base^(-2i/d)
//!   backward: the rotation by -θ
//! ```
//!
//! over `[B, H, T, d]` with the two halves of the last dimension as the pairs. [`rope`] picks the
//! fused op where it serves (f32 on the CPU), else the reference.

use crate::kernels::cpu::{as_slice, par_chunks};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// Rotates `x: [B, H, T, d]` holding positions `start..start+T`: the fused op where it serves,
/// else [`reference`].
pub fn rope(x: &Tensor, start: usize, base: f64) -> Result<Tensor> {
    if crate::kernels::cpu::serves(x) {
        return fused(x, start, base);
    }
    reference(x, start, base)
}

/// The rotation in plain candle ops.
pub fn reference(x: &Tensor, start: usize, base: f64) -> Result<Tensor> {
    use candle_core::D;
    let (_, _, t, d) = x.dims4()?;
    let half = d / 2;
    let inv_freq: Vec<f32> = (0..half).map(|i| base.powf(-(2.0 * i as f64) / d as f64) as f32).collect();
    let angles: Vec<f32> = (start..start + t).flat_map(|pos| inv_freq.iter().map(move |f| pos as f32 * f)).collect();
    let angles = Tensor::from_vec(angles, (t, half), x.device())?;
    let (cos, sin) = (angles.cos()?, angles.sin()?);
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let r1 = (x1.broadcast_mul(&cos)? - x2.broadcast_mul(&sin)?)?;
    let r2 = (x2.broadcast_mul(&cos)? + x1.broadcast_mul(&sin)?)?;
    Tensor::cat(&[r1, r2], D::Minus1)
}

/// Rotates `x: [B, H, T, d]` holding positions `start..start + T`. Differentiable.
pub fn fused(x: &Tensor, start: usize, base: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Rope { start, base, inverse: false })
}

struct Rope {
    start: usize,
    base: f64,
    /// Rotate by -θ (the backward).
    inverse: bool,
}

impl Rope {
    /// `(cos, sin)` tables `[T, d/2]`.
    fn tables(&self, t: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
        let half = d / 2;
        let (mut cos, mut sin) = (Vec::with_capacity(t * half), Vec::with_capacity(t * half));
        for pos in self.start..self.start + t {
            for i in 0..half {
                let angle = pos as f32 * self.base.powf(-(2.0 * i as f64) / d as f64) as f32;
                cos.push(angle.cos());
                sin.push(if self.inverse { -angle.sin() } else { angle.sin() });
            }
        }
        (cos, sin)
    }
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = as_slice(s, l)?;
        let (_, _, t, d) = l.shape().dims4()?;
        let half = d / 2;
        let (cos, sin) = self.tables(t, d);
        let mut y = vec![0f32; x.len()];
        par_chunks(&mut y, d.max(1), 3 * x.len(), |row, out| {
            let pos = row % t.max(1);
            let xr = &x[row * d..(row + 1) * d];
            let (c, s) = (&cos[pos * half..(pos + 1) * half], &sin[pos * half..(pos + 1) * half]);
            let (o1, o2) = out.split_at_mut(half);
            for i in 0..half {
                let (a, b) = (xr[i], xr[half + i]);
                o1[i] = a * c[i] - b * s[i];
                o2[i] = b * c[i] + a * s[i];
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        // The rotation is orthogonal: its gradient is the rotation by -θ.
        Ok(Some(dy.contiguous()?.apply_op1_no_bwd(&Rope {
            start: self.start,
            base: self.base,
            inverse: !self.inverse,
        })?))
    }
}
