//! The chunkwise form: split the sequence into N chunks of C tokens. Inside a chunk everything is a
//! masked matrix product; across chunks only the `[d_k, d_v]` state is carried.
//!
//! Within one chunk, with `b_i = Σ_{j<=i} g_j` (cumulative log-decay from the chunk start), `γ_i = exp(b_i)`
//! and the state `S0` entering the chunk, the delta rule's writes are the "pseudo-values" of the WY/UT
//! representation (Yang et al., Gated DeltaNet):
//!
//! ```text
//!   A_ij = β_i (k_i·k_j) γ_i/γ_j  (j < i)      U = (I + A)^{-1} (β ⊙ V) - (I + A)^{-1} (β γ ⊙ K) S0 = Ũ - W S0
//!   P_ij = q_i·(k_j ⊙ γ_i/γ_j)    (j <= i)     O = (γ ⊙ Q) S0 + P U
//!                                               S_C = Diag(γ_C) S0 + (K ⊙ γ_C/γ)^T U
//! ```
//!
//! Without the delta rule `U = V`. Substituting `U` gives per chunk a transition and an input,
//! `S_C = M S0 + Δ` and `O = Q' S0 + P Ũ`, all computed for every chunk at once; only the short loop
//! `S_n = M_n S_{n-1} + Δ_n` runs chunk after chunk. `(I + A)^{-1}` is unit lower triangular and is
//! built by exact block inversion, doubling the block size each level (C must be a power of two).

use super::Heads;
use candle_core::{DType, Device, Result, Tensor};

pub(crate) fn run(x: &Heads, c: usize) -> Result<(Tensor, Tensor)> {
    let dev = x.q.device();
    if x.t == 0 {
        return Ok((Tensor::zeros((x.b, x.h, 0, x.dv), x.dtype(), dev)?, x.s0.clone()));
    }
    let n = x.t.div_ceil(c);
    let pad = n * c - x.t;
    let bh = x.b * x.h;
    let z = bh * n;
    // [B, H, T, D] -> [Z = B·H·N, C, D], zero-padded at the end (zero k, v, β and g leave S unchanged).
    let chunks = |m: &Tensor| -> Result<Tensor> {
        let d = m.dim(3)?;
        m.pad_with_zeros(2, 0, pad)?.reshape((z, c, d))
    };
    let (q, k, v) = (chunks(&x.q)?, chunks(&x.k)?, chunks(&x.v)?);
    let g = x.g.as_ref().map(chunks).transpose()?; // [Z, C, Dg]
    let b = g.as_ref().map(|g| g.cumsum(1)).transpose()?; // b_i = Σ_{j<=i} g_j
    // The query side reads after its own token's decay (b_i), or before it when exclusive (b_i - g_i).
    let bq = match (&b, &g, x.exclusive) {
        (Some(b), Some(g), true) => Some((b - g)?),
        _ => b.clone(),
    };
    let beta = x.beta.as_ref().map(chunks).transpose()?; // [Z, C, 1]
    let incl = Tensor::tril2(c, x.dtype(), dev)?; // j <= i
    // Exclusive reads see only earlier tokens of the chunk: j < i.
    let visible = if x.exclusive { (&incl - Tensor::eye(c, x.dtype(), dev)?)? } else { incl.clone() };

    // Decays relative to the chunk start (γ_i) and to the chunk end (γ_C / γ_j); all <= 1.
    let (q_dec, k_dec, end_decay) = match (&b, &bq) {
        (Some(b), Some(bq)) => {
            let b_last = b.narrow(1, c - 1, 1)?; // [Z, 1, Dg]
            let q_dec = q.broadcast_mul(&bq.exp()?)?;
            let k_dec = k.broadcast_mul(&b_last.broadcast_sub(b)?.exp()?)?;
            (q_dec, k_dec, Some(b_last.transpose(1, 2)?.exp()?)) // [Z, Dg, 1]
        }
        _ => (q.clone(), k.clone(), None),
    };
    let decays = match (&bq, &b) {
        (Some(bq), Some(b)) => Some((bq, b)),
        _ => None,
    };
    let scores = intra_scores(&q, &k, decays, &visible)?; // P: [Z, C, C]
    let k_dec_t = k_dec.transpose(1, 2)?.contiguous()?; // [Z, Dk, C]

    // Per chunk: O = Q' S0 + O_intra and S_C = transition(S0) + Δ.
    let (q_read, o_intra, delta, transition) = if let Some((a, bb)) = &x.low_rank {
        low_rank_chunk(x, (&chunks(a)?, &chunks(bb)?), (&q, &k, &v), (g.as_ref(), b.as_ref()), &incl, c)?
    } else {
        match &beta {
        None => {
            let delta = k_dec_t.matmul(&v)?;
            let transition = match end_decay {
                None => Transition::Identity,
                Some(e) => Transition::Diagonal(e.reshape((bh, n, (), 1))?),
            };
            (q_dec, scores.matmul(&v)?, delta, transition)
        }
        Some(beta) => {
            // A_ij = β_i (k_i·k_j) γ_i/γ_j for j < i.
            let strict = (&incl - Tensor::eye(c, x.dtype(), dev)?)?;
            let a = intra_scores(&k, &k, b.as_ref().map(|b| (b, b)), &strict)?.broadcast_mul(beta)?;
            let inv = unit_lower_inverse(&a, c)?; // (I + A)^{-1}
            let gamma = b.as_ref().map(|b| b.exp()).transpose()?;
            let bk = match &gamma {
                Some(gm) => k.broadcast_mul(&beta.broadcast_mul(gm)?)?,
                None => k.broadcast_mul(beta)?,
            };
            let w = inv.matmul(&bk)?; // [Z, C, Dk]
            let u = inv.matmul(&v.broadcast_mul(beta)?)?; // Ũ: [Z, C, Dv]
            let q_read = (q_dec - scores.matmul(&w)?)?;
            let kw = k_dec_t.matmul(&w)?; // [Z, Dk, Dk]
            let decay_matrix = match end_decay {
                None => Tensor::eye(x.dk, x.dtype(), dev)?.broadcast_as((z, x.dk, x.dk))?.contiguous()?,
                Some(e) => Tensor::eye(x.dk, x.dtype(), dev)?.broadcast_mul(&e)?,
            };
            let m = (decay_matrix - kw)?.reshape((bh, n, x.dk, x.dk))?;
            (q_read, scores.matmul(&u)?, k_dec_t.matmul(&u)?, Transition::Matrix(m))
        }
        }
    };

    // The only sequential part: S_n = M_n S_{n-1} + Δ_n over the N chunks.
    let delta = delta.reshape((bh, n, x.dk, x.dv))?;
    let mut s = x.s0.reshape((bh, x.dk, x.dv))?;
    let mut entering = Vec::with_capacity(n);
    for i in 0..n {
        entering.push(s.clone());
        let carried = match &transition {
            Transition::Identity => s,
            Transition::Diagonal(e) => s.broadcast_mul(&e.narrow(1, i, 1)?.squeeze(1)?)?,
            Transition::Matrix(m) => m.narrow(1, i, 1)?.squeeze(1)?.matmul(&s)?,
        };
        s = (carried + delta.narrow(1, i, 1)?.squeeze(1)?)?;
    }
    let entering = Tensor::stack(&entering, 1)?.reshape((z, x.dk, x.dv))?;
    let o = (q_read.matmul(&entering)? + o_intra)?;
    let o = o.reshape((x.b, x.h, n * c, x.dv))?.narrow(2, 0, x.t)?;
    Ok((o, s.reshape((x.b, x.h, x.dk, x.dv))?))
}

/// One chunk's `(Q', O_intra, Δ, M)` for the diagonal-plus-rank-one transition
/// `S_i = Diag(w_i) S_{i-1} + b_i u_i + k_i v_i^T`, `u_i = a_i^T S_{i-1}`. With per-channel cumulative
/// log-decays `B` (and `B⁻ = B - g`, the decay before token i):
///
/// ```text
///   (I - A_ab) U = A_ak V + (a ⊙ e^{B⁻}) S0      A_xy[i, j] = Σ_c x_ic y_jc e^{B⁻_ic - B_jc}, j < i
///   U = Ũ + W S0,   Ũ = T A_ak V,   W = T (a ⊙ e^{B⁻}),   T = (I - A_ab)^{-1}
///   O = (q ⊙ e^B + P_qb W) S0 + P_qb Ũ + P_qk V     P_xy[i, j] = Σ_c x_ic y_jc e^{B_ic - B_jc}, j <= i
///   S_C = (Diag(e^{B_C}) + B̂^T W) S0 + B̂^T Ũ + K̂^T V   with B̂ = b ⊙ e^{B_C - B}, K̂ = k ⊙ e^{B_C - B}
/// ```
#[allow(clippy::type_complexity)]
fn low_rank_chunk(
    x: &Heads,
    (a, bb): (&Tensor, &Tensor),
    (q, k, v): (&Tensor, &Tensor, &Tensor),
    (g, b): (Option<&Tensor>, Option<&Tensor>),
    incl: &Tensor,
    c: usize,
) -> Result<(Tensor, Tensor, Tensor, Transition)> {
    let (g, b) = match (g, b) {
        (Some(g), Some(b)) => (g, b),
        _ => candle_core::bail!("the low-rank transition needs a per-channel gate"),
    };
    let dev = q.device();
    let z = q.dim(0)?;
    let (bh, n) = (x.b * x.h, z / (x.b * x.h));
    let strict = (incl - Tensor::eye(c, x.dtype(), dev)?)?;
    let before = (b - g)?; // B⁻
    let a_ab = intra_scores(a, bb, Some((&before, b)), &strict)?;
    let a_ak = intra_scores(a, k, Some((&before, b)), &strict)?;
    let t = unit_lower_inverse(&a_ab.neg()?, c)?; // (I - A_ab)^{-1}
    let w = t.matmul(&a.mul(&before.exp()?)?)?; // [Z, C, Dk]
    let u = t.matmul(&a_ak.matmul(v)?)?; // Ũ: [Z, C, Dv]
    let p_qb = intra_scores(q, bb, Some((b, b)), incl)?;
    let p_qk = intra_scores(q, k, Some((b, b)), incl)?;
    let b_last = b.narrow(1, c - 1, 1)?; // [Z, 1, Dk]
    let to_end = b_last.broadcast_sub(b)?.exp()?;
    let b_hat_t = bb.mul(&to_end)?.transpose(1, 2)?.contiguous()?; // [Z, Dk, C]
    let k_hat_t = k.mul(&to_end)?.transpose(1, 2)?.contiguous()?;
    let q_read = (q.mul(&b.exp()?)? + p_qb.matmul(&w)?)?;
    let o_intra = (p_qb.matmul(&u)? + p_qk.matmul(v)?)?;
    let decay = Tensor::eye(x.dk, x.dtype(), dev)?.broadcast_mul(&b_last.transpose(1, 2)?.exp()?)?; // Diag(e^{B_C})
    let m = (decay + b_hat_t.matmul(&w)?)?.reshape((bh, n, x.dk, x.dk))?;
    let delta = (b_hat_t.matmul(&u)? + k_hat_t.matmul(v)?)?;
    Ok((q_read, o_intra, delta, Transition::Matrix(m)))
}

/// How the state entering a chunk is carried to its end (before the chunk's own writes are added).
enum Transition {
    Identity,
    /// `Diag(γ_C) S`, γ_C as `[BH, N, Dg, 1]`.
    Diagonal(Tensor),
    /// `M S`, `M: [BH, N, Dk, Dk]` (delta rule).
    Matrix(Tensor),
}

/// `P_ij = Σ_c q_ic k_jc exp(bq_ic - bk_jc)` where `mask` allows (j <= i, or j < i for exclusive
/// reads), else 0. `decays = (bq, bk)`, each `[Z, C, 1]` (one decay per head) or `[Z, C, Dk]` (per key
/// channel; materialises `[Z, C, C, Dk]`). The exponent is masked before `exp`, so entries above the
/// diagonal never overflow.
fn intra_scores(q: &Tensor, k: &Tensor, decays: Option<(&Tensor, &Tensor)>, mask: &Tensor) -> Result<Tensor> {
    let qk = || q.matmul(&k.transpose(1, 2)?);
    match decays {
        None => qk()?.broadcast_mul(mask),
        Some((bq, bk)) if bk.dim(2)? == 1 => qk()?.mul(&masked_decay(bq, bk, mask)?),
        Some((bq, bk)) => {
            let diff = bq.unsqueeze(2)?.broadcast_sub(&bk.unsqueeze(1)?)?; // [Z, C, C, Dk]: bq_i - bk_j
            let decay = diff.broadcast_mul(&mask.unsqueeze(2)?)?.exp()?;
            let prod = q.unsqueeze(2)?.broadcast_mul(&k.unsqueeze(1)?)?.mul(&decay)?;
            prod.sum(3)?.broadcast_mul(mask)
        }
    }
}

/// `exp(bq_i - bk_j)` where `mask` allows, 0 elsewhere; `[Z, C, 1]` -> `[Z, C, C]`.
fn masked_decay(bq: &Tensor, bk: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let diff = bq.broadcast_sub(&bk.transpose(1, 2)?)?;
    diff.broadcast_mul(mask)?.exp()?.broadcast_mul(mask)
}

/// `(I + L)^{-1}` for a strictly lower-triangular `L: [Z, C, C]`, by exact block inversion:
///
/// ```text
///   [[I + L11, 0], [L21, I + L22]]^{-1} = [[X11, 0], [-X22 L21 X11, X22]]
/// ```
///
/// starting from 1x1 blocks (inverse 1) and doubling the block size (C a power of two). The
/// off-diagonal blocks of each level are gathered from `L` by masking its block diagonal.
fn unit_lower_inverse(l: &Tensor, c: usize) -> Result<Tensor> {
    let z = l.dim(0)?;
    let (dev, dtype): (&Device, DType) = (l.device(), l.dtype());
    let mut inv = Tensor::ones((z, c, 1, 1), dtype, dev)?; // [Z, C/s, s, s]
    let mut s = 1;
    while s < c {
        let groups = c / (2 * s);
        // The `groups` diagonal blocks of size 2s: [Z, G, 2s, G, 2s] masked to g == g', summed.
        let blocks = l.reshape((z, groups, 2 * s, groups, 2 * s))?;
        let eye = Tensor::eye(groups, dtype, dev)?.reshape((1, groups, 1, groups, 1))?;
        let diag = blocks.broadcast_mul(&eye)?.sum(3)?; // [Z, G, 2s, 2s]
        let l21 = diag.narrow(2, s, s)?.narrow(3, 0, s)?; // rows of the second half, columns of the first
        let pairs = inv.reshape((z, groups, 2, s, s))?;
        let x11 = pairs.narrow(2, 0, 1)?.squeeze(2)?;
        let x22 = pairs.narrow(2, 1, 1)?.squeeze(2)?;
        let lower = x22.matmul(&l21.contiguous()?)?.matmul(&x11)?.neg()?;
        let top = Tensor::cat(&[&x11, &Tensor::zeros((z, groups, s, s), dtype, dev)?], 3)?;
        let bottom = Tensor::cat(&[&lower, &x22], 3)?;
        inv = Tensor::cat(&[&top, &bottom], 2)?; // [Z, G, 2s, 2s]
        s *= 2;
    }
    inv.reshape((z, c, c))
}
