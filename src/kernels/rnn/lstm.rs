//! The LSTM recurrence (Hochreiter & Schmidhuber 1997): [`reference`], the per-step equations in
//! plain ops, and [`fused`], one CPU custom op, forward and backward through time:
//!
//! ```text
//!   G_t = X_t + h_{t-1} U^T   (X: the input projection of every token, computed outside)
//!   i, f, o = σ(G_i, G_f, G_o),  g = tanh(G_g),  c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
//!   backward, from the last step:  dc += dh ⊙ o ⊙ (1 - tanh²c_t),  dG = (dc ⊙ g ⊙ i(1-i), dc ⊙ c_{t-1} ⊙ f(1-f),
//!     dc ⊙ i ⊙ (1-g²), dh ⊙ tanh c_t ⊙ o(1-o)),  dh_{t-1} = dG U,  dc_{t-1} = dc ⊙ f,  dU = Σ_t dG_t^T h_{t-1}
//! ```
//!
//! One product per step for the whole batch ([`super::add_step_product`]: register tiles over U
//! transposed once, no packing per step); a forward whose backward may run keeps its gates, cells
//! and hidden states ([`Saved`]), and the backward runs in reverse from them; `dU` is one matmul
//! over all steps at the end. Candle's autograd over
//! the per-step ops ([`reference`]) keeps a graph that grows with T².

use super::{
    add_step_product, add_step_product_transposed, batch_split, fused_serves, recurrent_product, recurrent_weight_grad,
    scan, split_opt, transposed_for,
};
use crate::kernels::cpu::{as_slice, sigmoid_f32, tanh_f32};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use std::sync::Mutex;

/// Runs the recurrence: `xg: [B, T, 4d]` (gate order i, f, g, o), `u: [4d, d]`, `h0, c0: [B, d]`.
/// Returns `h: [B, T, d]` and the final cell `c_T: [B, d]`, differentiable in every input: the
/// fused op where it serves (f32 on the CPU), else the reference.
pub fn lstm(xg: &Tensor, u: &Tensor, h0: &Tensor, c0: &Tensor) -> Result<(Tensor, Tensor)> {
    if fused_serves(xg, u)? {
        return fused(xg, u, h0, c0);
    }
    reference(xg, u, h0, c0)
}

/// The equations step by step in plain candle ops:
/// `[i, f, g, o] = X_t + h_{t-1} U^T`; `c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)`; `h_t = σ(o) ⊙ tanh(c_t)`.
pub fn reference(xg: &Tensor, u: &Tensor, h0: &Tensor, c0: &Tensor) -> Result<(Tensor, Tensor)> {
    let d = u.dim(1)?;
    use crate::kernels::activation::sigmoid;
    let (y, (_, c)) = scan(xg, (h0.clone(), c0.clone()), |x, (h, c)| {
        let gates = (x + recurrent_product(&h, u, None)?)?;
        let gate = |i: usize| gates.narrow(1, i * d, d);
        let c = ((sigmoid(&gate(1)?)? * c)? + (sigmoid(&gate(0)?)? * gate(2)?.tanh()?)?)?;
        let h = (sigmoid(&gate(3)?)? * c.tanh()?)?;
        Ok((h.clone(), (h, c)))
    })?;
    Ok((y, c))
}

/// The fused CPU op (f32, contiguous inputs, at least one step).
pub fn fused(xg: &Tensor, u: &Tensor, h0: &Tensor, c0: &Tensor) -> Result<(Tensor, Tensor)> {
    let (b, t, four_d) = xg.dims3()?;
    let d = four_d / 4;
    let s0 = Tensor::cat(&[h0, c0], 1)?.contiguous()?;
    // Only a forward whose backward can run keeps its gates (inference, prefill and decode do not).
    let keep = [xg, u, &s0].iter().any(|x| x.track_op());
    let op = Lstm { saved: keep.then(|| Mutex::new(None)) };
    let out = xg.contiguous()?.apply_op3(&u.contiguous()?, &s0, op)?; // [B, (T + 1) d]
    Ok((out.narrow(1, 0, t * d)?.reshape((b, t, d))?, out.narrow(1, t * d, d)?))
}

/// What the forward keeps for the backward: the activated gates `[B, T, 4d]`, the cells and the
/// hidden states `[B, T, d]` (6d floats per token; the backward then skips the forward pass
/// that would recompute them, a third of the op's sequential products).
struct Saved {
    gates: Vec<f32>,
    cells: Vec<f32>,
    hs: Vec<f32>,
}

struct Lstm {
    /// Filled by the forward when its backward may run.
    saved: Option<Mutex<Option<Saved>>>,
}

/// The forward pass over all steps. Writes `h_t` into `hs` (`[B, T, d]`), and, when given, the
/// activated gates (`[B, T, 4d]`: i, f, g, o) and cells (`[B, T, d]`) for the backward. Each half
/// of the batch on its own thread when that pays ([`batch_split`]).
#[allow(clippy::too_many_arguments)]
fn forward(
    (b, t, d): (usize, usize, usize),
    xg: &[f32],
    u: &[f32],
    s0: &[f32],
    hs: &mut [f32],
    c_last: &mut [f32],
    gates_out: Option<&mut [f32]>,
    cells_out: Option<&mut [f32]>,
) {
    let Some(half) = batch_split(b, 4 * d * d * b) else {
        return forward_rows((b, t, d), xg, u, s0, hs, c_last, gates_out, cells_out);
    };
    // Every buffer is batch-major: the first `half` rows of each are one contiguous slice.
    let (xg1, xg2) = xg.split_at(half * t * 4 * d);
    let (s01, s02) = s0.split_at(half * 2 * d);
    let (hs1, hs2) = hs.split_at_mut(half * t * d);
    let (c1, c2) = c_last.split_at_mut(half * d);
    let (g1, g2) = split_opt(gates_out, half * t * 4 * d);
    let (e1, e2) = split_opt(cells_out, half * t * d);
    rayon::join(
        || forward_rows((half, t, d), xg1, u, s01, hs1, c1, g1, e1),
        || forward_rows((b - half, t, d), xg2, u, s02, hs2, c2, g2, e2),
    );
}

/// [`forward`] over these rows on this thread.
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    (b, t, d): (usize, usize, usize),
    xg: &[f32],
    u: &[f32],
    s0: &[f32],
    hs: &mut [f32],
    c_last: &mut [f32],
    mut gates_out: Option<&mut [f32]>,
    mut cells_out: Option<&mut [f32]>,
) {
    let mut h: Vec<f32> = (0..b).flat_map(|r| s0[r * 2 * d..r * 2 * d + d].to_vec()).collect();
    let mut c: Vec<f32> = (0..b).flat_map(|r| s0[r * 2 * d + d..(r + 1) * 2 * d].to_vec()).collect();
    let mut g = vec![0f32; b * 4 * d];
    let u_t = transposed_for(u, (4 * d, d), (b, t));
    for step in 0..t {
        // G = X_t + h U^T, for the whole batch.
        for r in 0..b {
            g[r * 4 * d..(r + 1) * 4 * d].copy_from_slice(&xg[(r * t + step) * 4 * d..(r * t + step + 1) * 4 * d]);
        }
        add_step_product(&mut g, &h, (u, u_t.as_deref()), (4 * d, d));
        for r in 0..b {
            let gr = &mut g[r * 4 * d..(r + 1) * 4 * d];
            cell_step(gr, &mut c[r * d..(r + 1) * d], &mut h[r * d..(r + 1) * d]);
            hs[(r * t + step) * d..(r * t + step + 1) * d].copy_from_slice(&h[r * d..(r + 1) * d]);
            if let Some(go) = gates_out.as_deref_mut() {
                go[(r * t + step) * 4 * d..(r * t + step + 1) * 4 * d].copy_from_slice(gr);
            }
            if let Some(co) = cells_out.as_deref_mut() {
                co[(r * t + step) * d..(r * t + step + 1) * d].copy_from_slice(&c[r * d..(r + 1) * d]);
            }
        }
    }
    c_last.copy_from_slice(&c);
}

/// One row's cell update: `gates` (`[4d]`, pre-activations i, f, g, o) become the activated gates,
/// `c` becomes `c_t = f ⊙ c + i ⊙ g` and `h` becomes `o ⊙ tanh(c_t)`. Each loop runs over whole
/// slices of one length (no indexing across them), so it and its exponentials vectorise (a single
/// loop over the four gates at once stayed scalar: 13% of a tiny training step in perf).
fn cell_step(gates: &mut [f32], c: &mut [f32], h: &mut [f32]) {
    let d = c.len();
    let (ifg, o) = gates.split_at_mut(3 * d);
    let (i_f, g) = ifg.split_at_mut(2 * d);
    i_f.iter_mut().chain(o.iter_mut()).for_each(|x| *x = sigmoid_f32(*x));
    g.iter_mut().for_each(|x| *x = tanh_f32(*x));
    let (i, f) = i_f.split_at(d);
    for (((c, i), f), g) in c.iter_mut().zip(i).zip(f).zip(&*g) {
        *c = f * *c + i * g;
    }
    for ((h, c), o) in h.iter_mut().zip(&*c).zip(&*o) {
        *h = o * tanh_f32(*c);
    }
}

/// One row's step backward: from the activated `gates` (i, f, g, o), the cell `c_t` and `c_{t-1}`,
/// the carried `dh` and this step's own `dh_out`, writes the gates' pre-activation gradients `dg`
/// (`[4d]`) and turns `dc` (the carried cell gradient) into `dc_{t-1} = dc_t ⊙ f`. One loop over
/// equal-length slices, so it vectorises.
fn cell_backward(
    gates: &[f32],
    (c, c_prev): (&[f32], &[f32]),
    (dh, dh_out): (&[f32], &[f32]),
    dc: &mut [f32],
    dg: &mut [f32],
) {
    let d = dc.len();
    let (i, rest) = gates.split_at(d);
    let (f, rest) = rest.split_at(d);
    let (g, o) = rest.split_at(d);
    let (dgi, rest) = dg.split_at_mut(d);
    let (dgf, rest) = rest.split_at_mut(d);
    let (dgg, dgo) = rest.split_at_mut(d);
    let (c, c_prev, dh, dh_out, o, dgo) = (&c[..d], &c_prev[..d], &dh[..d], &dh_out[..d], &o[..d], &mut dgo[..d]);
    for j in 0..d {
        let dhj = dh[j] + dh_out[j];
        let tc = tanh_f32(c[j]);
        let dcj = dc[j] + dhj * o[j] * (1.0 - tc * tc);
        dgi[j] = dcj * g[j] * i[j] * (1.0 - i[j]);
        dgf[j] = dcj * c_prev[j] * f[j] * (1.0 - f[j]);
        dgg[j] = dcj * i[j] * (1.0 - g[j] * g[j]);
        dgo[j] = dhj * tc * o[j] * (1.0 - o[j]);
        dc[j] = dcj * f[j];
    }
}

impl CustomOp3 for Lstm {
    fn name(&self) -> &'static str {
        "fused-lstm"
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
        let (xg, u, s0) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let (b, t, four_d) = l1.shape().dims3()?;
        let d = four_d / 4;
        let (mut hs, mut c_last) = (vec![0f32; b * t * d], vec![0f32; b * d]);
        let mut kept = self.saved.as_ref().map(|_| (vec![0f32; b * t * 4 * d], vec![0f32; b * t * d]));
        let (gates, cells) = match kept.as_mut() {
            Some((g, c)) => (Some(g.as_mut_slice()), Some(c.as_mut_slice())),
            None => (None, None),
        };
        forward((b, t, d), xg, u, s0, &mut hs, &mut c_last, gates, cells);
        // Pack per batch row: h_1..h_T then c_T.
        let mut out = vec![0f32; b * (t + 1) * d];
        for r in 0..b {
            out[r * (t + 1) * d..r * (t + 1) * d + t * d].copy_from_slice(&hs[r * t * d..(r + 1) * t * d]);
            out[r * (t + 1) * d + t * d..(r + 1) * (t + 1) * d].copy_from_slice(&c_last[r * d..(r + 1) * d]);
        }
        if let (Some(slot), Some((gates, cells))) = (&self.saved, kept) {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Saved { gates, cells, hs });
        }
        Ok((CpuStorage::F32(out), Shape::from((b, (t + 1) * d))))
    }

    fn bwd(
        &self,
        xg: &Tensor,
        u: &Tensor,
        s0: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (b, t, four_d) = xg.dims3()?;
        let d = four_d / 4;
        // The backward op reads (xg, u packed with s0, grad): u and s0 travel in one tensor.
        let us0 = Tensor::cat(&[u.flatten_all()?, s0.flatten_all()?], 0)?;
        // The forward's gates, taken (a second backward through this op would recompute them).
        let saved = self.saved.as_ref().and_then(|s| s.lock().unwrap_or_else(|e| e.into_inner()).take());
        let packed =
            xg.apply_op3_no_bwd(&us0, &grad.contiguous()?, &LstmBackward { b, d, saved: Mutex::new(saved) })?;
        let n_x = b * t * four_d;
        let dx = packed.narrow(0, 0, n_x)?.reshape((b, t, four_d))?;
        let du = packed.narrow(0, n_x, four_d * d)?.reshape((four_d, d))?;
        let ds0 = packed.narrow(0, n_x + four_d * d, b * 2 * d)?.reshape((b, 2 * d))?;
        Ok((Some(dx), Some(du), Some(ds0)))
    }
}

/// (xg, [u; s0] flat, grad of the packed output) -> [dxg flat, dU flat, d(s0) flat], from the
/// forward's [`Saved`] values when it kept them, else recomputing them in one forward pass.
struct LstmBackward {
    b: usize,
    d: usize,
    saved: Mutex<Option<Saved>>,
}

impl CustomOp3 for LstmBackward {
    fn name(&self) -> &'static str {
        "fused-lstm-backward"
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
        let (xg, us0, grad) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let (b, d) = (self.b, self.d);
        let t = l1.shape().dims3()?.1;
        let (u, s0) = us0.split_at(4 * d * d);
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Saved { gates, cells, hs } = saved.unwrap_or_else(|| {
            let mut s =
                Saved { gates: vec![0f32; b * t * 4 * d], cells: vec![0f32; b * t * d], hs: vec![0f32; b * t * d] };
            let mut c_last = vec![0f32; b * d];
            forward((b, t, d), xg, u, s0, &mut s.hs, &mut c_last, Some(&mut s.gates), Some(&mut s.cells));
            s
        });
        let n_x = b * t * 4 * d;
        let mut out = vec![0f32; n_x + 4 * d * d + b * 2 * d];
        let (dxg, rest) = out.split_at_mut(n_x);
        let (du, ds0) = rest.split_at_mut(4 * d * d);
        let (mut dh, mut dc) = (vec![0f32; b * d], vec![0f32; b * d]);
        match batch_split(b, 4 * d * d * b) {
            None => backward_rows((b, t, d), u, s0, (&gates, &cells), grad, dxg, &mut dh, &mut dc),
            Some(half) => {
                // Batch-major buffers: the first `half` rows of each are one contiguous slice.
                let (s01, s02) = s0.split_at(half * 2 * d);
                let (ga1, ga2) = gates.split_at(half * t * 4 * d);
                let (ce1, ce2) = cells.split_at(half * t * d);
                let (gr1, gr2) = grad.split_at(half * (t + 1) * d);
                let (dx1, dx2) = dxg.split_at_mut(half * t * 4 * d);
                let (dh1, dh2) = dh.split_at_mut(half * d);
                let (dc1, dc2) = dc.split_at_mut(half * d);
                rayon::join(
                    || backward_rows((half, t, d), u, s01, (ga1, ce1), gr1, dx1, dh1, dc1),
                    || backward_rows((b - half, t, d), u, s02, (ga2, ce2), gr2, dx2, dh2, dc2),
                );
            }
        }
        let h0: Vec<f32> = (0..b).flat_map(|r| s0[r * 2 * d..r * 2 * d + d].to_vec()).collect();
        recurrent_weight_grad(du, dxg, &hs, &h0, (b, t, d, 4 * d));
        for r in 0..b {
            ds0[r * 2 * d..r * 2 * d + d].copy_from_slice(&dh[r * d..(r + 1) * d]);
            ds0[r * 2 * d + d..(r + 1) * 2 * d].copy_from_slice(&dc[r * d..(r + 1) * d]);
        }
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

/// The reverse pass over these rows on this thread: from the kept `(gates, cells)` and the output's
/// gradient `grad` (`[b, (T + 1) d]`: every h_t's, then c_T's), writes the gates' pre-activation
/// gradients `dxg` (`[b, T, 4d]`) and leaves `dh_0`, `dc_0` in `dh`, `dc` (`[b, d]`).
#[allow(clippy::too_many_arguments)]
fn backward_rows(
    (b, t, d): (usize, usize, usize),
    u: &[f32],
    s0: &[f32],
    (gates, cells): (&[f32], &[f32]),
    grad: &[f32],
    dxg: &mut [f32],
    dh: &mut [f32],
    dc: &mut [f32],
) {
    // Carried gradients: dh from the next step (none after the last), dc from the next step (the
    // final cell's own gradient first).
    dh.iter_mut().for_each(|x| *x = 0.0);
    for r in 0..b {
        dc[r * d..(r + 1) * d].copy_from_slice(&grad[r * (t + 1) * d + t * d..(r + 1) * (t + 1) * d]);
    }
    let mut dg = vec![0f32; b * 4 * d];
    for step in (0..t).rev() {
        for r in 0..b {
            let row = (r * t + step) * d;
            let c_prev = if step > 0 { &cells[row - d..row] } else { &s0[r * 2 * d + d..(r + 1) * 2 * d] };
            let dgr = &mut dxg[(r * t + step) * 4 * d..(r * t + step + 1) * 4 * d];
            cell_backward(
                &gates[(r * t + step) * 4 * d..(r * t + step + 1) * 4 * d],
                (&cells[row..row + d], c_prev),
                (&dh[r * d..(r + 1) * d], &grad[r * (t + 1) * d + step * d..r * (t + 1) * d + (step + 1) * d]),
                &mut dc[r * d..(r + 1) * d],
                dgr,
            );
            dg[r * 4 * d..(r + 1) * 4 * d].copy_from_slice(dgr);
        }
        // dh_{t-1} = dG U
        dh.iter_mut().for_each(|x| *x = 0.0);
        add_step_product_transposed(dh, &dg, u, (4 * d, d));
    }
}
