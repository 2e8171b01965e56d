//! RMSNorm over the last dimension: [`reference`] in plain ops and [`fused`], a CPU custom op,
//! forward and backward (rows in parallel):
//!
//! ```text
//!   y = w ⊙ x · r,   r = (mean(x²) + ε)^(-1/2)                  (per row of the last dimension)
//!   dx = r (w ⊙ dy) - x r³ mean((w ⊙ dy) ⊙ x),   dw = Σ_rows dy ⊙ x r
//! ```
//!
//! [`rms_norm`] picks the fused op where it serves (f32 on the CPU), else the reference. The same
//! for the L2 normalisation of the delta rule's keys and queries, [`l2_normalize`]:
//!
//! ```text
//!   y = x · n⁻¹,   n = (Σ x² + ε)^(1/2)                         (per row of the last dimension)
//!   dx = (dy - y (y · dy)) n⁻¹
//! ```

use crate::kernels::cpu::{as_slice, dot, par_chunks};
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};

/// `x / sqrt(mean(x²) + ε) ⊙ w`: the fused op where it serves, else [`reference`].
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if crate::kernels::cpu::serves(x) {
        return fused(x, w, eps);
    }
    reference(x, w, eps)
}

/// The composed form in plain candle ops.
pub fn reference(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let rms = (x.sqr()?.mean_keepdim(candle_core::D::Minus1)? + eps)?.sqrt()?;
    x.broadcast_div(&rms)?.broadcast_mul(w)
}

/// RMSNorm of `x` over its last dimension with gain `w` (length d). Differentiable in both.
pub fn fused(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })
}

struct RmsNorm {
    eps: f32,
}

fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ms = crate::kernels::cpu::dot(row, row) / row.len() as f32;
    1.0 / (ms + eps).sqrt()
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
        let d = w.len();
        let mut y = vec![0f32; x.len()];
        par_chunks(&mut y, d, 2 * x.len(), |i, out| {
            let row = &x[i * d..(i + 1) * d];
            let r = inv_rms(row, self.eps);
            for ((o, xv), wv) in out.iter_mut().zip(row).zip(w) {
                *o = xv * r * wv;
            }
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let packed = x.apply_op3_no_bwd(w, &dy.contiguous()?, &RmsNormBackward { eps: self.eps })?;
        let n = x.elem_count();
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = packed.narrow(0, n, w.elem_count())?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// (x, w, dy) -> [dx flat, dw].
struct RmsNormBackward {
    eps: f32,
}

impl CustomOp3 for RmsNormBackward {
    fn name(&self) -> &'static str {
        "fused-rms-norm-backward"
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
        let (x, w, dy) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let d = w.len();
        let rows = x.len() / d.max(1);
        let mut out = vec![0f32; x.len() + d];
        let (dx, dw) = out.split_at_mut(x.len());
        par_chunks(dx, d, 4 * x.len(), |i, dxr| {
            let (xr, gr) = (&x[i * d..(i + 1) * d], &dy[i * d..(i + 1) * d]);
            let r = inv_rms(xr, self.eps);
            let dot = xr.iter().zip(gr).zip(w).map(|((xv, g), wv)| g * wv * xv).sum::<f32>() / d as f32;
            let c = r * r * r * dot;
            for (((o, xv), g), wv) in dxr.iter_mut().zip(xr).zip(gr).zip(w) {
                *o = r * g * wv - xv * c;
            }
        });
        for i in 0..rows {
            let (xr, gr) = (&x[i * d..(i + 1) * d], &dy[i * d..(i + 1) * d]);
            let r = inv_rms(xr, self.eps);
            for ((o, xv), g) in dw.iter_mut().zip(xr).zip(gr) {
                *o += g * xv * r;
            }
        }
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

/// `x / ||x||_2` over the last dimension (`||x||_2 = sqrt(Σ x² + ε)`): the fused op where it serves,
/// else [`l2_reference`]. Differentiable.
pub fn l2_normalize(x: &Tensor, eps: f64) -> Result<Tensor> {
    if crate::kernels::cpu::serves(x) {
        return l2_fused(x, eps);
    }
    l2_reference(x, eps)
}

/// The L2 normalisation in plain candle ops.
pub fn l2_reference(x: &Tensor, eps: f64) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(D::Minus1)? + eps)?.sqrt()?;
    x.broadcast_div(&norm)
}

/// The L2 normalisation as one CPU op with its backward.
pub fn l2_fused(x: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op1(L2Norm { eps: eps as f32 })
}

struct L2Norm {
    eps: f32,
}

fn inv_norm(row: &[f32], eps: f32) -> f32 {
    1.0 / (dot(row, row) + eps).sqrt()
}

impl CustomOp1 for L2Norm {
    fn name(&self) -> &'static str {
        "fused-l2-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = as_slice(s, l)?;
        let d = l.shape().dim(D::Minus1)?;
        let mut y = vec![0f32; x.len()];
        par_chunks(&mut y, d, 2 * x.len(), |i, out| {
            let row = &x[i * d..(i + 1) * d];
            let r = inv_norm(row, self.eps);
            out.iter_mut().zip(row).for_each(|(o, v)| *o = v * r);
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(x.apply_op2_no_bwd(&dy.contiguous()?, &L2NormBackward { eps: self.eps })?))
    }
}

/// (x, dy) -> dx.
struct L2NormBackward {
    eps: f32,
}

impl CustomOp2 for L2NormBackward {
    fn name(&self) -> &'static str {
        "fused-l2-norm-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, dy) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
        let d = l1.shape().dim(D::Minus1)?;
        let mut dx = vec![0f32; x.len()];
        par_chunks(&mut dx, d, 4 * x.len(), |i, out| {
            let (xr, gr) = (&x[i * d..(i + 1) * d], &dy[i * d..(i + 1) * d]);
            let r = inv_norm(xr, self.eps);
            // y · dy = r (x · dy)
            let ydy = r * dot(xr, gr);
            for ((o, xv), g) in out.iter_mut().zip(xr).zip(gr) {
                *o = (g - xv * r * ydy) * r;
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
