//! The scaffold's SwiGLU MLP as one CPU op with its backward: [`reference`] composes the two
//! projections and the gate in plain ops, [`fused`] runs them as one op (`W_gu: [2m, d]`, `W_d:
//! [d, m]`, rows of `x: [N, d]`):
//!
//! ```text
//!   H = x W_gu^T = [G | U],   S = silu(G) ⊙ U,   y = S W_d^T
//!   dS = dy W_d,   dH = swiglu'(H, dS),   dW_d = dy^T S,   dW_gu = dH^T x,   dx = dH W_gu
//! ```
//!
//! The hidden `H` and `S` (3m floats per row, 2.7x the width of x at the shipped sizes) are not
//! kept for the backward, which recomputes them from x: one product more, and the graph holds no
//! hidden activation of any layer between the forward and the backward (the composed form keeps
//! both, and accumulates a gradient buffer for each). [`serves`] says where the fused op runs (f32
//! on the CPU); elsewhere the model composes its projections (which also handle low precision).

use crate::kernels::cpu::{as_slice, gemm_on, par_chunks, pool_for};
use crate::kernels::swiglu;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// True where [`fused`] runs: x and both weights f32 on a device the fused kernels serve.
pub fn serves(x: &Tensor, w_gu: &Tensor, w_d: &Tensor) -> bool {
    use crate::kernels::cpu::serves;
    serves(x) && serves(w_gu) && serves(w_d)
}

/// The composed form in plain ops.
pub fn reference(x: &Tensor, w_gu: &Tensor, w_d: &Tensor) -> Result<Tensor> {
    swiglu::reference(&x.matmul(&w_gu.t()?)?)?.matmul(&w_d.t()?)
}

/// `silu(x W_g^T) ⊙ (x W_u^T)` projected by `W_d`, for `x: [N, d]`, `w_gu: [2m, d]` (the gate's
/// rows first), `w_d: [d, m]`, as one op. Differentiable in all three inputs.
pub fn fused(x: &Tensor, w_gu: &Tensor, w_d: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op3(&w_gu.contiguous()?, &w_d.contiguous()?, Mlp)
}

/// The sizes of one call: rows, model width, hidden width.
#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    d: usize,
    m: usize,
}

impl Dims {
    fn of(x: &Layout, w_gu: &Layout, w_d: &Layout) -> Result<Self> {
        let (n, d) = x.shape().dims2()?;
        let (two_m, d_gu) = w_gu.shape().dims2()?;
        let (d_out, m) = w_d.shape().dims2()?;
        if d_gu != d || d_out != d || two_m != 2 * m {
            candle_core::bail!(
                "mlp: x [{n}, {d}], W_gu [{two_m}, {d_gu}], W_d [{d_out}, {m}] do not fit [N, d], [2m, d], [d, m]"
            )
        }
        Ok(Dims { n, d, m })
    }
}

/// `H = x W_gu^T` and `S = swiglu(H)`.
fn hidden(dm: Dims, x: &[f32], w_gu: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let Dims { n, d, m } = dm;
    let mut h = vec![0f32; n * 2 * m];
    // H[n, 2m] = x[n, d] · W_gu^T (W_gu^T's (k, j) = W_gu[j, k]: row stride 1, column stride d).
    gemm_on(pool_for(n * d * 2 * m), n, 2 * m, d, &mut h, x, w_gu, (2 * m, d, 1, 1, d, false, 1.0));
    let mut s = vec![0f32; n * m];
    par_chunks(&mut s, m, 8 * n * m, |i, row| swiglu::forward_row(&h[i * 2 * m..(i + 1) * 2 * m], row));
    (h, s)
}

struct Mlp;

impl CustomOp3 for Mlp {
    fn name(&self) -> &'static str {
        "fused-mlp"
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
        let dm = Dims::of(l1, l2, l3)?;
        let (x, w_gu, w_d) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let Dims { n, d, m } = dm;
        let (_, s) = hidden(dm, x, w_gu);
        let mut y = vec![0f32; n * d];
        // y[n, d] = S[n, m] · W_d^T.
        gemm_on(pool_for(n * m * d), n, d, m, &mut y, &s, w_d, (d, m, 1, 1, m, false, 1.0));
        Ok((CpuStorage::F32(y), Shape::from((n, d))))
    }

    #[allow(clippy::type_complexity)]
    fn bwd(
        &self,
        x: &Tensor,
        w_gu: &Tensor,
        w_d: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The backward op takes three inputs: the two weights travel as one flat tensor.
        let w = Tensor::cat(&[w_gu.flatten_all()?, w_d.flatten_all()?], 0)?;
        let flat = x.apply_op3_no_bwd(&dy.contiguous()?, &w, &MlpBackward { m: w_d.dim(1)? })?;
        let (nx, ngu) = (x.elem_count(), w_gu.elem_count());
        let dx = flat.narrow(0, 0, nx)?.reshape(x.shape())?;
        let dw_gu = flat.narrow(0, nx, ngu)?.reshape(w_gu.shape())?;
        let dw_d = flat.narrow(0, nx + ngu, w_d.elem_count())?.reshape(w_d.shape())?;
        Ok((Some(dx), Some(dw_gu), Some(dw_d)))
    }
}

/// (x, dy, [W_gu | W_d] flat) -> [dx | dW_gu | dW_d] flat.
struct MlpBackward {
    m: usize,
}

impl CustomOp3 for MlpBackward {
    fn name(&self) -> &'static str {
        "fused-mlp-backward"
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
        let (n, d) = l1.shape().dims2()?;
        let m = self.m;
        let (x, dy, w) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        if dy.len() != n * d || w.len() != 3 * m * d {
            candle_core::bail!(
                "mlp backward: dy has {} floats and the weights {}, expected {} and {}",
                dy.len(),
                w.len(),
                n * d,
                3 * m * d
            )
        }
        let (w_gu, w_d) = w.split_at(2 * m * d);
        let dm = Dims { n, d, m };
        let (h, s) = hidden(dm, x, w_gu);
        // dS[n, m] = dy[n, d] · W_d[d, m].
        let mut ds = vec![0f32; n * m];
        gemm_on(pool_for(n * d * m), n, m, d, &mut ds, dy, w_d, (m, d, 1, m, 1, false, 1.0));
        let mut out = vec![0f32; n * d + 3 * m * d];
        let (dx, rest) = out.split_at_mut(n * d);
        let (dw_gu, dw_d) = rest.split_at_mut(2 * m * d);
        // dW_d[d, m] = dy^T[d, n] · S[n, m] (dy^T's (i, k) = dy[k, i]: row stride 1, column stride d).
        gemm_on(pool_for(n * d * m), d, m, n, dw_d, dy, &s, (m, 1, d, m, 1, false, 1.0));
        // dH = swiglu'(H, dS).
        let mut dh = vec![0f32; n * 2 * m];
        par_chunks(&mut dh, 2 * m, 16 * n * m, |i, row| {
            swiglu::backward_row(&h[i * 2 * m..(i + 1) * 2 * m], &ds[i * m..(i + 1) * m], row)
        });
        drop(h);
        // dW_gu[2m, d] = dH^T[2m, n] · x[n, d].
        gemm_on(pool_for(n * d * 2 * m), 2 * m, d, n, dw_gu, &dh, x, (d, 1, 2 * m, d, 1, false, 1.0));
        // dx[n, d] = dH[n, 2m] · W_gu[2m, d].
        gemm_on(pool_for(n * d * 2 * m), n, d, 2 * m, dx, &dh, w_gu, (d, 2 * m, 1, d, 1, false, 1.0));
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}
