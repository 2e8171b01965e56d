//! The short causal depthwise convolution with its SiLU (Mamba-2's, DeltaNet's and their kin's
//! `ShortConv`): [`reference`] in plain ops and [`fused`], a CPU custom op, forward and backward
//! (batch rows in parallel). Per channel c, with `K` taps `w[0..K]` over the input extended by `K-1`
//! earlier rows (a carried history, or zeros):
//!
//! ```text
//!   a_t = bias + Σ_j w_j ⊙ x_{t+j-(K-1)},   y_t = silu(a_t) = a_t σ(a_t)
//!   da_t = dy_t ⊙ σ(a_t) (1 + a_t (1 - σ(a_t)))
//!   dx_s = Σ_j w_j ⊙ da_{s-j+(K-1)},   dw_j = Σ_{b,t} da_t ⊙ x_{t+j-(K-1)},   dbias = Σ_{b,t} da_t
//! ```
//!
//! The plain form is eight candle ops and a concatenation per call, each with its own backward: on
//! the tiny models of the quality sections it took a third of Gated DeltaNet's forward (perf).
//! [`causal_conv_silu`] picks the fused op where it serves (f32 on the CPU), else the reference.

use crate::kernels::cpu::{as_slice, par_chunks, sigmoid_f32};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// `silu(causal depthwise conv(x))` of `x: [B, H + T, C]`, whose first `history` rows (0 or K-1) are
/// context carried from earlier tokens (with 0, the K-1 rows before the first are zeros);
/// `weight: [K, C]`, `bias: [C]`. Returns `[B, T, C]`: the fused op where it serves, else
/// [`reference`].
pub fn causal_conv_silu(x: &Tensor, weight: &Tensor, bias: &Tensor, history: usize) -> Result<Tensor> {
    if crate::kernels::cpu::serves(x) {
        return fused(x, weight, bias, history);
    }
    reference(x, weight, bias, history)
}

/// The composed form in plain candle ops: zeros prepended where no history is given, then one
/// shifted multiply-add per tap.
pub fn reference(x: &Tensor, weight: &Tensor, bias: &Tensor, history: usize) -> Result<Tensor> {
    let k = weight.dim(0)?;
    let (b, rows, c) = x.dims3()?;
    let ext = if history == 0 && k > 1 {
        Tensor::cat(&[&Tensor::zeros((b, k - 1, c), x.dtype(), x.device())?, x], 1)?
    } else {
        x.clone()
    };
    let t = rows - history;
    let mut y = bias.broadcast_as((b, t, c))?.clone();
    for j in 0..k {
        let w = weight.narrow(0, j, 1)?; // [1, C]
        y = (y + ext.narrow(1, j, t)?.broadcast_mul(&w)?)?;
    }
    y.silu()
}

/// The fused op of [`causal_conv_silu`]. Differentiable in all three inputs.
pub fn fused(x: &Tensor, weight: &Tensor, bias: &Tensor, history: usize) -> Result<Tensor> {
    let k = weight.dim(0)?;
    if history != 0 && history != k - 1 {
        candle_core::bail!("causal conv: history of {history} rows for {k} taps (0 or {})", k - 1)
    }
    x.contiguous()?.apply_op3(&weight.contiguous()?, &bias.contiguous()?, CausalConv { history })
}

struct CausalConv {
    history: usize,
}

/// The geometry of one call: taps, channels, input and output rows per batch row.
struct Geometry {
    k: usize,
    c: usize,
    rows: usize,
    t: usize,
    /// Rows of carried context at the start of each batch row: tap j of output row t reads input
    /// row `t + j + history - (K-1)`, which is below 0 (the zero padding) only without history.
    history: usize,
}

impl Geometry {
    fn new(x: &Layout, k: usize, history: usize) -> Result<Self> {
        let (_, rows, c) = x.shape().dims3()?;
        if rows < history {
            candle_core::bail!("causal conv: {rows} rows hold no token after {history} rows of history")
        }
        Ok(Geometry { k, c, rows, t: rows - history, history })
    }

    /// The input row tap `j` of output row `t` reads, or None in the zero padding.
    fn source(&self, t: usize, j: usize) -> Option<usize> {
        (t + j + self.history).checked_sub(self.k - 1)
    }

    /// The pre-activations `a_t` of one batch row `x` (rows x C) into `out` (T x C).
    fn pre_activation(&self, x: &[f32], w: &[f32], bias: &[f32], out: &mut [f32]) {
        let c = self.c;
        for (t, a) in out.chunks_mut(c).enumerate() {
            a.copy_from_slice(bias);
            for j in 0..self.k {
                if let Some(s) = self.source(t, j) {
                    let (xr, wr) = (&x[s * c..(s + 1) * c], &w[j * c..(j + 1) * c]);
                    for ((av, xv), wv) in a.iter_mut().zip(xr).zip(wr) {
                        *av += xv * wv;
                    }
                }
            }
        }
    }
}

impl CustomOp3 for CausalConv {
    fn name(&self) -> &'static str {
        "fused-causal-conv-silu"
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
        let (x, w, bias) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let g = Geometry::new(l1, l2.shape().dim(0)?, self.history)?;
        let (b, _, c) = l1.shape().dims3()?;
        let mut y = vec![0f32; b * g.t * c];
        par_chunks(&mut y, g.t * c, 2 * g.k * x.len(), |i, out| {
            g.pre_activation(&x[i * g.rows * c..(i + 1) * g.rows * c], w, bias, out);
            for v in out.iter_mut() {
                *v *= sigmoid_f32(*v);
            }
        });
        Ok((CpuStorage::F32(y), Shape::from((b, g.t, c))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (k, c) = w.dims2()?;
        let w_bias = Tensor::cat(&[w, &bias.reshape((1, c))?], 0)?;
        let packed = x.apply_op3_no_bwd(&w_bias, &dy.contiguous()?, &CausalConvBackward { history: self.history })?;
        let n = x.elem_count();
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = packed.narrow(0, n, k * c)?.reshape((k, c))?;
        let dbias = packed.narrow(0, n + k * c, c)?;
        Ok((Some(dx), Some(dw), Some(dbias)))
    }
}

/// (x, [w; bias] as K+1 rows, dy) -> [dx flat, dw flat, dbias].
struct CausalConvBackward {
    history: usize,
}

impl CustomOp3 for CausalConvBackward {
    fn name(&self) -> &'static str {
        "fused-causal-conv-silu-backward"
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
        let (x, w_bias, dy) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let g = Geometry::new(l1, l2.shape().dim(0)? - 1, self.history)?;
        let (k, c, rows, t) = (g.k, g.c, g.rows, g.t);
        let (w, bias) = w_bias.split_at(k * c);
        // da, one batch row after the other, in parallel.
        let mut da = vec![0f32; dy.len()];
        par_chunks(&mut da, t * c, 4 * k * x.len(), |i, out| {
            g.pre_activation(&x[i * rows * c..(i + 1) * rows * c], w, bias, out);
            for (a, d) in out.iter_mut().zip(&dy[i * t * c..(i + 1) * t * c]) {
                let s = sigmoid_f32(*a);
                *a = d * s * (1.0 + *a * (1.0 - s));
            }
        });
        let mut out = vec![0f32; x.len() + (k + 1) * c];
        let (dx, dw_bias) = out.split_at_mut(x.len());
        par_chunks(dx, rows * c, 2 * k * x.len(), |i, dxr| {
            let dar = &da[i * t * c..(i + 1) * t * c];
            for (tt, d) in dar.chunks(c).enumerate() {
                for j in 0..k {
                    if let Some(s) = g.source(tt, j) {
                        let (o, wr) = (&mut dxr[s * c..(s + 1) * c], &w[j * c..(j + 1) * c]);
                        for ((ov, dv), wv) in o.iter_mut().zip(d).zip(wr) {
                            *ov += dv * wv;
                        }
                    }
                }
            }
        });
        let (dw, dbias) = dw_bias.split_at_mut(k * c);
        for (i, dar) in da.chunks(t * c).enumerate() {
            let xb = &x[i * rows * c..(i + 1) * rows * c];
            for (tt, d) in dar.chunks(c).enumerate() {
                for (o, dv) in dbias.iter_mut().zip(d) {
                    *o += dv;
                }
                for j in 0..k {
                    if let Some(s) = g.source(tt, j) {
                        let (o, xr) = (&mut dw[j * c..(j + 1) * c], &xb[s * c..(s + 1) * c]);
                        for ((ov, dv), xv) in o.iter_mut().zip(d).zip(xr) {
                            *ov += dv * xv;
                        }
                    }
                }
            }
        }
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}
