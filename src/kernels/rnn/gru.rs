//! The GRU recurrence (Cho et al. 2014): [`reference`], the per-step equations in plain ops, and
//! [`fused`], one CPU custom op, forward and backward through time:
//!
//! ```text
//!   H_t = h_{t-1} U^T + b_h   (X: the input projection of every token, with its bias, computed outside)
//!   r = σ(X_r + H_r),  z = σ(X_z + H_z),  n = tanh(X_n + r ⊙ H_n),  h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
//!   backward:  dn = dh ⊙ (1 - z) ⊙ (1 - n²),  dz = dh ⊙ (h_{t-1} - n) ⊙ z(1 - z),  dr = dn ⊙ H_n ⊙ r(1 - r)
//!     dX = (dr, dz, dn),  dH = (dr, dz, dn ⊙ r),  dh_{t-1} = dh ⊙ z + dH U,  dU = Σ dH^T h_{t-1},  db_h = Σ dH
//! ```
//!
//! As the fused LSTM: one product per step for the batch ([`super::add_step_product`]), gates recomputed for the backward,
//! `dU` in one matmul at the end.

use super::{
    add_step_product, add_step_product_transposed, batch_split, fused_serves, recurrent_product, recurrent_weight_grad,
    scan, split_opt, transposed_for,
};
use crate::kernels::cpu::{as_slice, sigmoid_f32, tanh_f32};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// Runs the recurrence: `xg: [B, T, 3d]` (gate order r, z, n), `u: [3d, d]`, `b_h: [3d]`, `h0: [B, d]`.
/// Returns `h: [B, T, d]`, differentiable in every input: the fused op where it serves (f32 on the
/// CPU), else the reference.
pub fn gru(xg: &Tensor, u: &Tensor, b_h: &Tensor, h0: &Tensor) -> Result<Tensor> {
    if fused_serves(xg, u)? {
        return fused(xg, u, b_h, h0);
    }
    reference(xg, u, b_h, h0)
}

/// The equations step by step in plain candle ops: `H = h_{t-1} U^T + b_h`; `r = σ(X_r + H_r)`,
/// `z = σ(X_z + H_z)`, `n = tanh(X_n + r ⊙ H_n)`, `h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}`.
pub fn reference(xg: &Tensor, u: &Tensor, b_h: &Tensor, h0: &Tensor) -> Result<Tensor> {
    let d = u.dim(1)?;
    use crate::kernels::activation::sigmoid;
    let (y, _) = scan(xg, h0.clone(), |x, h| {
        let hg = recurrent_product(&h, u, Some(b_h))?;
        let (xs, hs) = (|i: usize| x.narrow(1, i * d, d), |i: usize| hg.narrow(1, i * d, d));
        let r = sigmoid(&(xs(0)? + hs(0)?)?)?;
        let z = sigmoid(&(xs(1)? + hs(1)?)?)?;
        let n = (xs(2)? + (r * hs(2)?)?)?.tanh()?;
        let h = ((z.affine(-1.0, 1.0)? * n)? + (z * h)?)?;
        Ok((h.clone(), h))
    })?;
    Ok(y)
}

/// The fused CPU op (f32, at least one step).
pub fn fused(xg: &Tensor, u: &Tensor, b_h: &Tensor, h0: &Tensor) -> Result<Tensor> {
    let bh_h0 = Tensor::cat(&[b_h.flatten_all()?, h0.flatten_all()?], 0)?;
    xg.contiguous()?.apply_op3(&u.contiguous()?, &bh_h0, Gru)
}

struct Gru;

/// The forward pass; `saved` (when given) receives r, z, n, H_n per (row, step): `[B, T, 4d]`.
/// Each half of the batch on its own thread when that pays ([`batch_split`]).
#[allow(clippy::too_many_arguments)]
fn forward(
    (b, t, d): (usize, usize, usize),
    xg: &[f32],
    u: &[f32],
    bh: &[f32],
    h0: &[f32],
    hs: &mut [f32],
    saved: Option<&mut [f32]>,
) {
    let Some(half) = batch_split(b, 3 * d * d * b) else {
        return forward_rows((b, t, d), xg, u, bh, h0, hs, saved);
    };
    // Batch-major buffers: the first `half` rows of each are one contiguous slice.
    let (xg1, xg2) = xg.split_at(half * t * 3 * d);
    let (h01, h02) = h0.split_at(half * d);
    let (hs1, hs2) = hs.split_at_mut(half * t * d);
    let (sv1, sv2) = split_opt(saved, half * t * 4 * d);
    rayon::join(
        || forward_rows((half, t, d), xg1, u, bh, h01, hs1, sv1),
        || forward_rows((b - half, t, d), xg2, u, bh, h02, hs2, sv2),
    );
}

/// [`forward`] over these rows on this thread.
fn forward_rows(
    (b, t, d): (usize, usize, usize),
    xg: &[f32],
    u: &[f32],
    bh: &[f32],
    h0: &[f32],
    hs: &mut [f32],
    mut saved: Option<&mut [f32]>,
) {
    let mut h = h0.to_vec();
    let mut hg = vec![0f32; b * 3 * d];
    let u_t = transposed_for(u, (3 * d, d), (b, t));
    let mut rzn = vec![0f32; 3 * d];
    for step in 0..t {
        for r in 0..b {
            hg[r * 3 * d..(r + 1) * 3 * d].copy_from_slice(bh);
        }
        add_step_product(&mut hg, &h, (u, u_t.as_deref()), (3 * d, d));
        for r in 0..b {
            let at = (r * t + step) * 3 * d;
            cell_step(&xg[at..at + 3 * d], &hg[r * 3 * d..(r + 1) * 3 * d], &mut h[r * d..(r + 1) * d], &mut rzn);
            if let Some(s) = saved.as_deref_mut() {
                let o = (r * t + step) * 4 * d;
                s[o..o + 3 * d].copy_from_slice(&rzn);
                s[o + 3 * d..o + 4 * d].copy_from_slice(&hg[r * 3 * d + 2 * d..(r + 1) * 3 * d]);
            }
            hs[(r * t + step) * d..(r * t + step + 1) * d].copy_from_slice(&h[r * d..(r + 1) * d]);
        }
    }
}

/// One row's step: from `x` (`X_t`, `[3d]`) and `hg` (`H = h_{t-1} U^T + b_h`, `[3d]`) writes the
/// gates r, z, n into `rzn` (`[3d]`) and turns `h` into `h_t`. Loops over equal-length slices, so
/// they and their exponentials vectorise.
fn cell_step(x: &[f32], hg: &[f32], h: &mut [f32], rzn: &mut [f32]) {
    let d = h.len();
    let (rz, n) = rzn.split_at_mut(2 * d);
    for (g, (x, hv)) in rz.iter_mut().zip(x[..2 * d].iter().zip(&hg[..2 * d])) {
        *g = sigmoid_f32(x + hv);
    }
    let (r, z) = rz.split_at(d);
    for (((n, x), hn), r) in n.iter_mut().zip(&x[2 * d..3 * d]).zip(&hg[2 * d..3 * d]).zip(r) {
        *n = tanh_f32(x + r * hn);
    }
    for ((h, z), n) in h.iter_mut().zip(z).zip(&*n) {
        *h = (1.0 - z) * n + z * *h;
    }
}

/// One row's step backward: from the saved gates (r, z, n, H_n: `[4d]`), `h_{t-1}` and the step's
/// total `dh`, writes `dX` (`[3d]`: dr, dz, dn), `dH` (`[3d]`: dr, dz, dn ⊙ r) and the direct part
/// of `dh_{t-1}`, `dh ⊙ z`, into `carry`. One loop over equal-length slices, so it vectorises.
fn cell_backward(saved: &[f32], prev: &[f32], dh: &[f32], dx: &mut [f32], dhg: &mut [f32], carry: &mut [f32]) {
    let d = carry.len();
    let (rg, rest) = saved.split_at(d);
    let (z, rest) = rest.split_at(d);
    let (n, hn) = rest.split_at(d);
    let (dxr, rest) = dx.split_at_mut(d);
    let (dxz, dxn) = rest.split_at_mut(d);
    let (dhr, rest) = dhg.split_at_mut(d);
    let (dhz, dhn) = rest.split_at_mut(d);
    let (prev, dh, hn, dxn, dhn) = (&prev[..d], &dh[..d], &hn[..d], &mut dxn[..d], &mut dhn[..d]);
    for j in 0..d {
        let dn = dh[j] * (1.0 - z[j]) * (1.0 - n[j] * n[j]);
        let dz = dh[j] * (prev[j] - n[j]) * z[j] * (1.0 - z[j]);
        let dr = dn * hn[j] * rg[j] * (1.0 - rg[j]);
        (dxr[j], dxz[j], dxn[j]) = (dr, dz, dn);
        (dhr[j], dhz[j], dhn[j]) = (dr, dz, dn * rg[j]);
        carry[j] = dh[j] * z[j];
    }
}

impl CustomOp3 for Gru {
    fn name(&self) -> &'static str {
        "fused-gru"
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
        let (xg, u, bh_h0) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let (b, t, three_d) = l1.shape().dims3()?;
        let d = three_d / 3;
        let (bh, h0) = bh_h0.split_at(three_d);
        let mut hs = vec![0f32; b * t * d];
        forward((b, t, d), xg, u, bh, h0, &mut hs, None);
        Ok((CpuStorage::F32(hs), Shape::from((b, t, d))))
    }

    fn bwd(
        &self,
        xg: &Tensor,
        u: &Tensor,
        bh_h0: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, t, three_d) = xg.dims3()?;
        let d = three_d / 3;
        let rest = Tensor::cat(&[u.flatten_all()?, bh_h0.clone()], 0)?;
        let packed = xg.apply_op3_no_bwd(&rest, &grad.contiguous()?, &GruBackward { b, d })?;
        let n_x = b * t * three_d;
        let dx = packed.narrow(0, 0, n_x)?.reshape((b, t, three_d))?;
        let du = packed.narrow(0, n_x, three_d * d)?.reshape((three_d, d))?;
        let dbh_h0 = packed.narrow(0, n_x + three_d * d, three_d + b * d)?;
        Ok((Some(dx), Some(du), Some(dbh_h0)))
    }
}

/// (xg, [U; b_h; h0] flat, dh of every step) -> [dX, dU, db_h, dh0] flat.
struct GruBackward {
    b: usize,
    d: usize,
}

impl CustomOp3 for GruBackward {
    fn name(&self) -> &'static str {
        "fused-gru-backward"
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
        let (xg, rest, grad) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let (b, d) = (self.b, self.d);
        let t = l1.shape().dims3()?.1;
        let (u, rest) = rest.split_at(3 * d * d);
        let (bh, h0) = rest.split_at(3 * d);
        let mut hs = vec![0f32; b * t * d];
        let mut saved = vec![0f32; b * t * 4 * d];
        forward((b, t, d), xg, u, bh, h0, &mut hs, Some(&mut saved));
        let n_x = b * t * 3 * d;
        let mut out = vec![0f32; n_x + 3 * d * d + 3 * d + b * d];
        let (dxg, rest) = out.split_at_mut(n_x);
        let (du, rest) = rest.split_at_mut(3 * d * d);
        let (dbh, dh0) = rest.split_at_mut(3 * d);
        let mut dhg_all = vec![0f32; n_x]; // dH per (row, step), for dU and db_h
        let mut dh = vec![0f32; b * d];
        match batch_split(b, 3 * d * d * b) {
            None => backward_rows((b, t, d), u, (h0, &hs, &saved), grad, (dxg, &mut dhg_all), &mut dh),
            Some(half) => {
                // Batch-major buffers: the first `half` rows of each are one contiguous slice.
                let (h01, h02) = h0.split_at(half * d);
                let (hs1, hs2) = hs.split_at(half * t * d);
                let (sv1, sv2) = saved.split_at(half * t * 4 * d);
                let (gr1, gr2) = grad.split_at(half * t * d);
                let (dx1, dx2) = dxg.split_at_mut(half * t * 3 * d);
                let (dg1, dg2) = dhg_all.split_at_mut(half * t * 3 * d);
                let (dh1, dh2) = dh.split_at_mut(half * d);
                rayon::join(
                    || backward_rows((half, t, d), u, (h01, hs1, sv1), gr1, (dx1, dg1), dh1),
                    || backward_rows((b - half, t, d), u, (h02, hs2, sv2), gr2, (dx2, dg2), dh2),
                );
            }
        }
        // dU = Σ dH^T h_{t-1}; db_h = Σ dH.
        recurrent_weight_grad(du, &dhg_all, &hs, h0, (b, t, d, 3 * d));
        for row in dhg_all.chunks_exact(3 * d) {
            for (acc, v) in dbh.iter_mut().zip(row) {
                *acc += v;
            }
        }
        dh0.copy_from_slice(&dh);
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

/// The reverse pass over these rows on this thread: from `h0`, the hidden states `hs` and the saved
/// gates of the forward, and every step's output gradient `grad` (`[b, T, d]`), writes `dX` and `dH`
/// per (row, step) (`[b, T, 3d]` each) and leaves `dh_0` in `dh` (`[b, d]`).
fn backward_rows(
    (b, t, d): (usize, usize, usize),
    u: &[f32],
    (h0, hs, saved): (&[f32], &[f32], &[f32]),
    grad: &[f32],
    (dxg, dhg_all): (&mut [f32], &mut [f32]),
    dh: &mut [f32],
) {
    dh.iter_mut().for_each(|x| *x = 0.0);
    let mut dhg = vec![0f32; b * 3 * d];
    let mut carry = vec![0f32; b * d];
    let mut total = vec![0f32; d]; // a row's dh: carried plus the step's own
    for step in (0..t).rev() {
        for r in 0..b {
            let at = r * t + step;
            let prev = if step > 0 { &hs[(at - 1) * d..at * d] } else { &h0[r * d..(r + 1) * d] };
            for ((x, a), g) in total.iter_mut().zip(&dh[r * d..(r + 1) * d]).zip(&grad[at * d..(at + 1) * d]) {
                *x = a + g;
            }
            cell_backward(
                &saved[at * 4 * d..(at + 1) * 4 * d],
                prev,
                &total,
                &mut dxg[at * 3 * d..(at + 1) * 3 * d],
                &mut dhg[r * 3 * d..(r + 1) * 3 * d],
                &mut carry[r * d..(r + 1) * d],
            );
            dhg_all[at * 3 * d..(at + 1) * 3 * d].copy_from_slice(&dhg[r * 3 * d..(r + 1) * 3 * d]);
        }
        // dh_{t-1} = dh ⊙ z + dH U
        dh.copy_from_slice(&carry);
        add_step_product_transposed(dh, &dhg, u, (3 * d, d));
    }
}
