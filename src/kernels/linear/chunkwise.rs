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
//! RWKV-6's exclusive read shifts the query side's decay by one token (`b_i - g_i`, `j < i`);
//! RWKV-7's rank-one transition gets its own pseudo-values (see [`low_rank_terms`]).

use super::Heads;
use candle_core::{DType, Device, Result, Tensor};

/// The inputs cut into chunks: `[Z = B·H·N, C, D]`, zero-padded at the end (zero k, v, β and g leave
/// the state unchanged), with the cumulative log-decays and the causal masks.
struct Chunks {
    c: usize,
    n: usize,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    /// `g` and `b_i = Σ_{j<=i} g_j` within the chunk, `[Z, C, Dg]`.
    g: Option<Tensor>,
    b: Option<Tensor>,
    beta: Option<Tensor>,
    /// `j <= i` and `j < i`.
    incl: Tensor,
    strict: Tensor,
}

impl Chunks {
    fn new(x: &Heads, c: usize) -> Result<Chunks> {
        let n = x.t.div_ceil(c);
        let chunk = |m: &Tensor| -> Result<Tensor> { split(m, x, c) };
        let g = x.g.as_ref().map(chunk).transpose()?;
        let b = g.as_ref().map(|g| g.cumsum(1)).transpose()?;
        let incl = Tensor::tril2(c, x.dtype(), x.q.device())?;
        let strict = (&incl - Tensor::eye(c, x.dtype(), x.q.device())?)?;
        Ok(Chunks {
            c,
            n,
            q: chunk(&x.q)?,
            k: chunk(&x.k)?,
            v: chunk(&x.v)?,
            g,
            b,
            beta: x.beta.as_ref().map(chunk).transpose()?,
            incl,
            strict,
        })
    }

    /// `(b_i, b_j)` decays for `P_ij` (read after token i's decay), if gated.
    fn inclusive(&self) -> Option<(&Tensor, &Tensor)> {
        self.b.as_ref().map(|b| (b, b))
    }

    /// `exp(b_C - b_j)`: decay from each token to the chunk's end, and `b_C` itself (`[Z, 1, Dg]`).
    fn to_end(&self) -> Result<Option<(Tensor, Tensor)>> {
        let Some(b) = &self.b else { return Ok(None) };
        let last = b.narrow(1, self.c - 1, 1)?;
        Ok(Some((last.broadcast_sub(b)?.exp()?, last)))
    }
}

/// `[B, H, T, D]` -> `[B·H·N, C, D]`, zero-padded to N·C tokens.
fn split(m: &Tensor, x: &Heads, c: usize) -> Result<Tensor> {
    let n = x.t.div_ceil(c);
    let d = m.dim(3)?;
    m.pad_with_zeros(2, 0, n * c - x.t)?.reshape((x.b * x.h * n, c, d))
}

/// Per chunk: `O = Q' S0 + O_intra` and `S_C = M S0 + Δ`.
struct Terms {
    q_read: Tensor,
    o_intra: Tensor,
    delta: Tensor,
    transition: Transition,
}

pub(crate) fn run(x: &Heads, c: usize) -> Result<(Tensor, Tensor)> {
    if x.t == 0 {
        return Ok((Tensor::zeros((x.b, x.h, 0, x.dv), x.dtype(), x.q.device())?, x.s0.clone()));
    }
    let ch = Chunks::new(x, c)?;
    let terms = match (&x.low_rank, &ch.beta) {
        (Some((a, bb)), _) => low_rank_terms(x, &ch, &split(a, x, c)?, &split(bb, x, c)?)?,
        (None, Some(beta)) => delta_terms(x, &ch, beta)?,
        (None, None) => plain_terms(x, &ch)?,
    };
    // The only sequential part: S_n = M_n S_{n-1} + Δ_n over the N chunks.
    let (bh, n, z) = (x.b * x.h, ch.n, x.b * x.h * ch.n);
    let delta = terms.delta.reshape((bh, n, x.dk, x.dv))?;
    let mut s = x.s0.reshape((bh, x.dk, x.dv))?;
    let mut entering = Vec::with_capacity(n);
    for i in 0..n {
        entering.push(s.clone());
        let carried = match &terms.transition {
            Transition::Identity => s,
            Transition::Diagonal(e) => s.broadcast_mul(&e.narrow(1, i, 1)?.squeeze(1)?)?,
            Transition::Matrix(m) => m.narrow(1, i, 1)?.squeeze(1)?.matmul(&s)?,
        };
        s = (carried + delta.narrow(1, i, 1)?.squeeze(1)?)?;
    }
    let entering = Tensor::stack(&entering, 1)?.reshape((z, x.dk, x.dv))?;
    let o = (terms.q_read.matmul(&entering)? + terms.o_intra)?;
    let o = o.reshape((x.b, x.h, n * c, x.dv))?.narrow(2, 0, x.t)?;
    Ok((o, s.reshape((x.b, x.h, x.dk, x.dv))?))
}

/// No delta rule: `U = V`. The read sees `S0` decayed to token i (or to token i - 1 when exclusive)
/// and the chunk's tokens `j <= i` (or `j < i`).
fn plain_terms(x: &Heads, ch: &Chunks) -> Result<Terms> {
    let (bh, n) = (x.b * x.h, ch.n);
    // Exclusive reads use the decay before the token's own: b_i - g_i.
    let before = match (&ch.b, &ch.g, x.exclusive) {
        (Some(b), Some(g), true) => Some((b - g)?),
        _ => None,
    };
    let read_decay = before.as_ref().or(ch.b.as_ref());
    let mask = if x.exclusive { &ch.strict } else { &ch.incl };
    let scores = intra_scores(&ch.q, &ch.k, read_decay.zip(ch.b.as_ref()), mask)?;
    let q_read = match read_decay {
        Some(d) => ch.q.broadcast_mul(&d.exp()?)?,
        None => ch.q.clone(),
    };
    let (k_hat, transition) = match ch.to_end()? {
        None => (ch.k.clone(), Transition::Identity),
        Some((to_end, last)) => {
            let e = last.transpose(1, 2)?.exp()?.reshape((bh, n, (), 1))?;
            (ch.k.broadcast_mul(&to_end)?, Transition::Diagonal(e))
        }
    };
    let delta = k_hat.transpose(1, 2)?.contiguous()?.matmul(&ch.v)?;
    Ok(Terms { q_read, o_intra: scores.matmul(&ch.v)?, delta, transition })
}

/// The delta rule (scalar or no decay), through the WY/UT pseudo-values `U = Ũ - W S0` of the
/// module docs.
fn delta_terms(x: &Heads, ch: &Chunks, beta: &Tensor) -> Result<Terms> {
    let (bh, n, z, c) = (x.b * x.h, ch.n, x.b * x.h * ch.n, ch.c);
    let dev = x.q.device();
    let scores = intra_scores(&ch.q, &ch.k, ch.inclusive(), &ch.incl)?;
    // A_ij = β_i (k_i·k_j) γ_i/γ_j for j < i.
    let a = intra_scores(&ch.k, &ch.k, ch.inclusive(), &ch.strict)?.broadcast_mul(beta)?;
    let inv = unit_lower_inverse(&a, c)?; // (I + A)^{-1}
    let (q_dec, bk, k_hat) = match (&ch.b, ch.to_end()?) {
        (Some(b), Some((to_end, _))) => {
            let gamma = b.exp()?;
            (
                ch.q.broadcast_mul(&gamma)?,
                ch.k.broadcast_mul(&beta.broadcast_mul(&gamma)?)?,
                ch.k.broadcast_mul(&to_end)?,
            )
        }
        _ => (ch.q.clone(), ch.k.broadcast_mul(beta)?, ch.k.clone()),
    };
    let w = inv.matmul(&bk)?; // [Z, C, Dk]
    let u = inv.matmul(&ch.v.broadcast_mul(beta)?)?; // Ũ: [Z, C, Dv]
    let k_hat_t = k_hat.transpose(1, 2)?.contiguous()?; // [Z, Dk, C]
    let eye = Tensor::eye(x.dk, x.dtype(), dev)?;
    let decay = match ch.to_end()? {
        Some((_, last)) => eye.broadcast_mul(&last.transpose(1, 2)?.exp()?)?,
        None => eye.broadcast_as((z, x.dk, x.dk))?.contiguous()?,
    };
    let m = (decay - k_hat_t.matmul(&w)?)?.reshape((bh, n, x.dk, x.dk))?;
    Ok(Terms {
        q_read: (q_dec - scores.matmul(&w)?)?,
        o_intra: scores.matmul(&u)?,
        delta: k_hat_t.matmul(&u)?,
        transition: Transition::Matrix(m),
    })
}

/// The diagonal-plus-rank-one transition `S_i = Diag(w_i) S_{i-1} + b_i u_i + k_i v_i^T`,
/// `u_i = a_i^T S_{i-1}` (RWKV-7). With per-channel cumulative log-decays `B` (and `B⁻ = B - g`, the
/// decay before token i):
///
/// ```text
///   (I - A_ab) U = A_ak V + (a ⊙ e^{B⁻}) S0      A_xy[i, j] = Σ_c x_ic y_jc e^{B⁻_ic - B_jc}, j < i
///   U = Ũ + W S0,   Ũ = T A_ak V,   W = T (a ⊙ e^{B⁻}),   T = (I - A_ab)^{-1}
///   O = (q ⊙ e^B + P_qb W) S0 + P_qb Ũ + P_qk V     P_xy[i, j] = Σ_c x_ic y_jc e^{B_ic - B_jc}, j <= i
///   S_C = (Diag(e^{B_C}) + B̂^T W) S0 + B̂^T Ũ + K̂^T V   with B̂ = b ⊙ e^{B_C - B}, K̂ = k ⊙ e^{B_C - B}
/// ```
fn low_rank_terms(x: &Heads, ch: &Chunks, a: &Tensor, bb: &Tensor) -> Result<Terms> {
    let (Some(g), Some(b), Some((to_end, last))) = (&ch.g, &ch.b, ch.to_end()?) else {
        candle_core::bail!("the low-rank transition needs a per-channel gate")
    };
    let (bh, n) = (x.b * x.h, ch.n);
    let (q, k, v) = (&ch.q, &ch.k, &ch.v);
    let before = (b - g)?; // B⁻
    let a_ab = intra_scores(a, bb, Some((&before, b)), &ch.strict)?;
    let a_ak = intra_scores(a, k, Some((&before, b)), &ch.strict)?;
    let t = unit_lower_inverse(&a_ab.neg()?, ch.c)?; // (I - A_ab)^{-1}
    let w = t.matmul(&a.mul(&before.exp()?)?)?; // [Z, C, Dk]
    let u = t.matmul(&a_ak.matmul(v)?)?; // Ũ: [Z, C, Dv]
    let p_qb = intra_scores(q, bb, ch.inclusive(), &ch.incl)?;
    let p_qk = intra_scores(q, k, ch.inclusive(), &ch.incl)?;
    let b_hat_t = bb.mul(&to_end)?.transpose(1, 2)?.contiguous()?; // [Z, Dk, C]
    let k_hat_t = k.mul(&to_end)?.transpose(1, 2)?.contiguous()?;
    let decay = Tensor::eye(x.dk, x.dtype(), x.q.device())?.broadcast_mul(&last.transpose(1, 2)?.exp()?)?;
    let m = (decay + b_hat_t.matmul(&w)?)?.reshape((bh, n, x.dk, x.dk))?;
    Ok(Terms {
        q_read: (q.mul(&b.exp()?)? + p_qb.matmul(&w)?)?,
        o_intra: (p_qb.matmul(&u)? + p_qk.matmul(v)?)?,
        delta: (b_hat_t.matmul(&u)? + k_hat_t.matmul(v)?)?,
        transition: Transition::Matrix(m),
    })
}

/// How the state entering a chunk is carried to its end (before the chunk's own writes are added).
enum Transition {
    Identity,
    /// `Diag(γ_C) S`, γ_C as `[BH, N, Dg, 1]`.
    Diagonal(Tensor),
    /// `M S`, `M: [BH, N, Dk, Dk]` (delta rule, rank-one term).
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
