//! The training loss: cross-entropy of logits against targets, weighted per row (1 everywhere for
//! language modelling, the query mask for the recall tasks), as [`reference`] in plain ops and
//! [`fused`], a CPU custom op with its explicit backward (rows in parallel):
//!
//! ```text
//!   L = Σ_i w_i (logsumexp(z_i) - z_{i,y_i}) / W,   W = max(Σ_i w_i, 1)
//!   dz_i = dL · w_i / W · (softmax(z_i) - onehot(y_i))
//! ```
//!
//! The plain form is eight autograd nodes over the `[N, V]` logits (max, subtract, exp, sum, log,
//! subtract, gather, the weighting), each with its own pass and buffer forward and backward; the
//! fused op reads the logits once forward and writes their gradient in one pass backward,
//! recomputing the softmax instead of keeping it. [`cross_entropy`] picks the fused op where it
//! serves (f32 on the CPU), else the reference.

use crate::kernels::cpu::{as_slice, exp_f32, par_chunks};
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, D};

/// `Σ_i w_i (logsumexp(z_i) - z_{i,y_i}) / max(Σ_i w_i, 1)` for logits `[N, V]`, targets `[N]`
/// (u32) and weights `[N]` (f32): the fused op where it serves, else [`reference`].
pub fn cross_entropy(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    if crate::kernels::cpu::serves(logits) {
        return fused(logits, targets, weights);
    }
    reference(logits, targets, weights)
}

/// The composed form: `log_softmax`, the targets' entries gathered, weighted, summed.
pub fn reference(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = logp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
    let total = weights.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64;
    (picked * weights)?.sum_all()? / -total
}

/// The weighted cross-entropy as one op (logits differentiable; targets and weights are data).
pub fn fused(logits: &Tensor, targets: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let (n, _) = logits.dims2()?;
    if targets.dims() != [n] || weights.dims() != [n] {
        candle_core::bail!(
            "cross_entropy: {n} rows of logits, targets {:?} and weights {:?}",
            targets.dims(),
            weights.dims()
        )
    }
    logits.contiguous()?.apply_op3(
        &targets.to_dtype(DType::U32)?.contiguous()?,
        &weights.to_dtype(DType::F32)?.contiguous()?,
        CrossEntropy,
    )
}

/// The rows, targets and weights of one call, checked.
struct Rows<'a> {
    z: &'a [f32],
    y: &'a [u32],
    w: &'a [f32],
    v: usize,
}

impl<'a> Rows<'a> {
    fn new(
        s1: &'a CpuStorage,
        l1: &Layout,
        s2: &'a CpuStorage,
        l2: &Layout,
        s3: &'a CpuStorage,
        l3: &Layout,
    ) -> Result<Self> {
        let z = as_slice(s1, l1)?;
        let (_, v) = l1.shape().dims2()?;
        let y = match (s2, l2.contiguous_offsets()) {
            (CpuStorage::U32(d), Some((a, b))) => &d[a..b],
            _ => candle_core::bail!("cross_entropy: targets must be contiguous u32"),
        };
        let w = as_slice(s3, l3)?;
        if let Some(bad) = y.iter().find(|&&t| t as usize >= v) {
            candle_core::bail!("cross_entropy: target {bad} outside the vocabulary of {v}")
        }
        Ok(Rows { z, y, w, v })
    }

    /// `W = max(Σ w, 1)`.
    fn total_weight(&self) -> f32 {
        self.w.iter().map(|&w| w as f64).sum::<f64>().max(1.0) as f32
    }

    /// Row `i`'s logits, its maximum and `log Σ_j e^{z_j - max}`.
    fn row(&self, i: usize) -> (&[f32], f32, f32) {
        let z = &self.z[i * self.v..(i + 1) * self.v];
        let max = crate::kernels::cpu::max(z);
        let sum = crate::kernels::cpu::sum_map(z, |x| exp_f32(x - max));
        (z, max, sum.ln())
    }
}

struct CrossEntropy;

impl CustomOp3 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
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
        let rows = Rows::new(s1, l1, s2, l2, s3, l3)?;
        let mut per_row = vec![0f32; rows.y.len()];
        par_chunks(&mut per_row, 1, 4 * rows.z.len(), |i, out| {
            if rows.w[i] != 0.0 {
                let (z, max, log_sum) = rows.row(i);
                out[0] = rows.w[i] * (max + log_sum - z[rows.y[i] as usize]);
            }
        });
        let loss = per_row.iter().map(|&x| x as f64).sum::<f64>() / rows.total_weight() as f64;
        Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        weights: &Tensor,
        _loss: &Tensor,
        dloss: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let scale = dloss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let grad = logits.apply_op3_no_bwd(targets, weights, &CrossEntropyBackward { scale })?;
        Ok((Some(grad), None, None))
    }
}

/// (logits, targets, weights) -> d(logits) for an upstream gradient `scale`.
struct CrossEntropyBackward {
    scale: f32,
}

impl CustomOp3 for CrossEntropyBackward {
    fn name(&self) -> &'static str {
        "fused-cross-entropy-backward"
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
        let rows = Rows::new(s1, l1, s2, l2, s3, l3)?;
        let per_weight = self.scale / rows.total_weight();
        let mut dz = vec![0f32; rows.z.len()];
        par_chunks(&mut dz, rows.v, 4 * rows.z.len(), |i, out| {
            let g = rows.w[i] * per_weight;
            if g != 0.0 {
                let (z, max, log_sum) = rows.row(i);
                let shift = max + log_sum;
                for (o, &x) in out.iter_mut().zip(z) {
                    *o = g * exp_f32(x - shift);
                }
                out[rows.y[i] as usize] -= g;
            }
        });
        Ok((CpuStorage::F32(dz), l1.shape().clone()))
    }
}
