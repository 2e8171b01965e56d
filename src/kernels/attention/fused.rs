//! Fused causal softmax attention on the CPU, forward and backward, as a candle custom op.
//!
//! ```text
//!   S = scale · Q K^T (query i sees keys p - W < j <= p, p = i + Tk - Tq)    P = softmax_rows(S)    O = P V
//!   backward:  dV = P^T dO    dP = dO V^T    dS = P ⊙ (dP - rowsum(dO ⊙ O))
//!              dQ = scale · dS K    dK = scale · dS^T Q
//! ```
//!
//! Each (batch, head) pair is one task on the rayon pool; inside, query rows go in blocks of
//! [`ROWS`] so only the keys a block can see are touched (the causal half, and the keys behind a
//! sliding window, are skipped) and the score
//! block (`ROWS x Tk`) is the only temporary: no `[T, T]` matrix, mask or softmax intermediates are
//! allocated, and the backward recomputes P instead of storing it (flash attention's trade). Tested
//! against [`super::reference`].

use crate::kernels::cpu::{as_slice, exp_f32, gemm, pair_rows, par_chunks, rows_contiguous};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// Query rows per block.
const ROWS: usize = 64;

/// `softmax(scale · Q K^T + causal mask) V` for `q: [B, H, Tq, d]`, `k, v: [B, H, Tk, d]`, `Tk >= Tq`
/// (the queries are the last `Tq` positions), each query over its last `window` keys when one is
/// given. Differentiable in all three inputs. `k` and `v` may be views narrowed along T (a KV cache
/// in its buffer): they are read in place, not copied.
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, window: Option<usize>) -> Result<Tensor> {
    let in_place = |x: &Tensor| -> Result<Tensor> {
        x.dims4()?;
        if rows_contiguous(x.dims(), x.stride()) {
            Ok(x.clone())
        } else {
            x.contiguous()
        }
    };
    let (q, k, v) = (q.contiguous()?, in_place(k)?, in_place(v)?);
    let (b, h, tq, d) = q.dims4()?;
    let tk = k.dim(2)?;
    if k.dims() != [b, h, tk, d] || v.dims() != [b, h, tk, d] || tk < tq {
        candle_core::bail!("fused attention: q {:?}, k {:?}, v {:?} do not fit", q.dims(), k.dims(), v.dims())
    }
    q.apply_op3(&k, &v, Attention { scale: scale as f32, window })
}

struct Attention {
    scale: f32,
    window: Option<usize>,
}

/// Shape of one call: pairs, query rows, key rows, head dim, window.
#[derive(Clone, Copy)]
struct Dims {
    pairs: usize,
    tq: usize,
    tk: usize,
    d: usize,
    window: Option<usize>,
}

impl Dims {
    fn of(q: &Layout, k: &Layout, window: Option<usize>) -> Result<Dims> {
        let (b, h, tq, d) = q.shape().dims4()?;
        Ok(Dims { pairs: b * h, tq, d, tk: k.shape().dims()[2], window })
    }
    /// Keys visible to query row `i`: `first..last`.
    fn visible(&self, i: usize) -> (usize, usize) {
        super::visible_keys(i + self.tk - self.tq, self.window)
    }
    /// The keys `k0..k0 + n` that some row of the block `r0..r0 + rows` sees.
    fn block(&self, r0: usize, rows: usize) -> (usize, usize) {
        let (k0, _) = self.visible(r0);
        (k0, self.visible(r0 + rows - 1).1 - k0)
    }
}

/// Fills `s` (`rows x n` row-major) with the softmax probabilities of query rows `r0..r0+rows` over
/// keys `k0..k0+n` (`k` starts at key `k0`), masked causally and by the window.
#[allow(clippy::too_many_arguments)]
fn probabilities(
    dims: Dims,
    scale: f32,
    q: &[f32],
    k: &[f32],
    r0: usize,
    rows: usize,
    (k0, n): (usize, usize),
    s: &mut [f32],
) {
    let d = dims.d;
    // S = scale · Q_blk K[k0..k0+n]^T
    gemm(rows, n, d, s, n, &q[r0 * d..], d, 1, k, 1, d, false, scale);
    for r in 0..rows {
        let row = &mut s[r * n..(r + 1) * n];
        let (first, last) = dims.visible(r0 + r);
        let (first, last) = (first - k0, last - k0);
        let max = crate::kernels::cpu::max(&row[first..last]);
        // The exponentials first (a loop that vectorises), then their sum in 8 lanes.
        row[first..last].iter_mut().for_each(|x| *x = exp_f32(*x - max));
        let sum = crate::kernels::cpu::sum_map(&row[first..last], |x| x);
        let inv = 1.0 / sum;
        row[first..last].iter_mut().for_each(|x| *x *= inv);
        row[..first].iter_mut().for_each(|x| *x = 0.0);
        row[last..].iter_mut().for_each(|x| *x = 0.0);
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
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
        let q = as_slice(s1, l1)?;
        let ((k, ks), (v, vs)) = (pair_rows(s2, l2)?, pair_rows(s3, l3)?);
        let dims = Dims::of(l1, l2, self.window)?;
        let Dims { tq, tk, d, .. } = dims;
        let mut out = vec![0f32; dims.pairs * tq * d];
        par_chunks(&mut out, tq * d, 2 * dims.pairs * tq * tk * d, |pair, o| {
            let (q, k, v) = (&q[pair * tq * d..][..tq * d], &k[pair * ks..][..tk * d], &v[pair * vs..][..tk * d]);
            let mut s = vec![0f32; ROWS * tk];
            for r0 in (0..tq).step_by(ROWS) {
                let rows = ROWS.min(tq - r0);
                let (k0, n) = dims.block(r0, rows);
                probabilities(dims, self.scale, q, &k[k0 * d..], r0, rows, (k0, n), &mut s);
                // O_blk = P V[k0..k0+n]
                gemm(rows, d, n, &mut o[r0 * d..], d, &s, n, 1, &v[k0 * d..], d, 1, false, 1.0);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        o: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let qkv = Tensor::stack(&[q, &k.contiguous()?, &v.contiguous()?], 0)?;
        let (o, grad) = (o.contiguous()?, grad.contiguous()?);
        let backward = AttentionBackward { scale: self.scale, tq: q.dim(2)?, window: self.window };
        let dq = qkv.apply_op3_no_bwd(&o, &grad, &backward)?;
        let tq = q.dim(2)?;
        let (b, h, tk, d) = k.dims4()?;
        // The packed result holds dQ ([B, H, Tq, d]) then dK and dV ([B, H, Tk, d] each).
        let flat = dq.flatten_all()?;
        let n_q = b * h * tq * d;
        let n_k = b * h * tk * d;
        Ok((
            Some(flat.narrow(0, 0, n_q)?.reshape((b, h, tq, d))?),
            Some(flat.narrow(0, n_q, n_k)?.reshape((b, h, tk, d))?),
            Some(flat.narrow(0, n_q + n_k, n_k)?.reshape((b, h, tk, d))?),
        ))
    }
}

/// The backward: inputs `[q; k; v]` stacked (when Tq = Tk) or packed flat, `o`, `dO`; output dQ,
/// dK, dV packed flat.
struct AttentionBackward {
    scale: f32,
    tq: usize,
    window: Option<usize>,
}

impl CustomOp3 for AttentionBackward {
    fn name(&self) -> &'static str {
        "fused-causal-attention-backward"
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
        let (qkv, o, grad) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        // `Tensor::stack` needs equal shapes, so Tq = Tk here (training); the packing below is general.
        let (_, b, h, tk, d) = l1.shape().dims5()?;
        let tq = self.tq;
        let dims = Dims { pairs: b * h, tq, tk, d, window: self.window };
        let per = tk * d;
        let (q, rest) = qkv.split_at(b * h * per);
        let (k, v) = rest.split_at(b * h * per);
        let mut out = vec![0f32; b * h * (tq * d + 2 * tk * d)];
        // Each pair writes its dQ, dK, dV into its own slices; a per-pair buffer is split afterwards.
        let mut packed = vec![0f32; b * h * (tq * d + 2 * tk * d)];
        par_chunks(&mut packed, tq * d + 2 * tk * d, 5 * b * h * tq * tk * d, |pair, buf| {
            let (dq, rest) = buf.split_at_mut(tq * d);
            let (dk, dv) = rest.split_at_mut(tk * d);
            let q = &q[pair * tq * d..][..tq * d];
            let (k, v) = (&k[pair * per..][..per], &v[pair * per..][..per]);
            let (o, g) = (&o[pair * tq * d..][..tq * d], &grad[pair * tq * d..][..tq * d]);
            let mut p = vec![0f32; ROWS * tk];
            let mut dp = vec![0f32; ROWS * tk];
            for r0 in (0..tq).step_by(ROWS) {
                let rows = ROWS.min(tq - r0);
                let (k0, n) = dims.block(r0, rows);
                let (kb, vb) = (&k[k0 * d..], &v[k0 * d..]);
                probabilities(dims, self.scale, q, kb, r0, rows, (k0, n), &mut p);
                // dV[k0..k0+n] += P^T dO_blk
                gemm(n, d, rows, &mut dv[k0 * d..], d, &p, 1, n, &g[r0 * d..], d, 1, true, 1.0);
                // dP = dO_blk V[k0..k0+n]^T
                gemm(rows, n, d, &mut dp, n, &g[r0 * d..], d, 1, vb, 1, d, false, 1.0);
                // dS = P ⊙ (dP - rowsum(dO ⊙ O)), in place in dp
                for r in 0..rows {
                    let i = r0 + r;
                    let delta = crate::kernels::cpu::dot(&g[i * d..(i + 1) * d], &o[i * d..(i + 1) * d]);
                    for (x, pr) in dp[r * n..(r + 1) * n].iter_mut().zip(&p[r * n..(r + 1) * n]) {
                        *x = pr * (*x - delta);
                    }
                }
                // dQ_blk = scale · dS K[k0..k0+n];  dK[k0..k0+n] += scale · dS^T Q_blk
                gemm(rows, d, n, &mut dq[r0 * d..], d, &dp, n, 1, kb, d, 1, false, self.scale);
                gemm(n, d, rows, &mut dk[k0 * d..], d, &dp, 1, n, &q[r0 * d..], d, 1, true, self.scale);
            }
        });
        // Reorder pair-major [pair][dq|dk|dv] into [dQ all pairs | dK all pairs | dV all pairs].
        let (oq, rest) = out.split_at_mut(b * h * tq * d);
        let (ok, ov) = rest.split_at_mut(b * h * per);
        for (pair, buf) in packed.chunks(tq * d + 2 * per).enumerate() {
            oq[pair * tq * d..][..tq * d].copy_from_slice(&buf[..tq * d]);
            ok[pair * per..][..per].copy_from_slice(&buf[tq * d..tq * d + per]);
            ov[pair * per..][..per].copy_from_slice(&buf[tq * d + per..]);
        }
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}
