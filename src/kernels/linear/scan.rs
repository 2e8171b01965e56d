//! The linear family's recurrence as one fused sequential scan per (batch, head), forward and
//! backward, as a candle custom op. Per token (key-major `S: [d_k, d_v]`):
//!
//! ```text
//!   A_t = Diag(exp g_t) S_{t-1}                  (g: none, one per head, or one per key channel)
//!   M_t = A_t + b_t p_t^T,  p_t = S_{t-1}^T a_t   (RWKV-7's rank-one term)   or   M_t = A_t
//!   u_t = β_t (v_t - M_t^T k_t)  (delta rule)    or   u_t = v_t
//!   S_t = M_t + k_t u_t^T
//!   o_t = S_t^T q_t              (or S_{t-1}^T q_t when the read is exclusive)
//! ```
//!
//! The state (16 KiB at d = 64) stays in cache and nothing is allocated per token. The backward runs
//! the scan in reverse with the state's gradient `dS`, recomputing the states of each segment of
//! [`SEGMENT`] tokens from checkpoints taken every segment:
//!
//! ```text
//!   dS += q_t do_t^T,  dq_t = S_t do_t                   (inclusive read)
//!   dk_t = dS u_t + M_t dr,  du = dS^T k_t,  dv_t = β_t du,  dβ_t = du·(v_t - r_t),  dr = -β_t du
//!   dM = dS + k_t dr^T;  db_t = dM p_t,  dp = dM^T b_t,  da_t = S_{t-1} dp      (rank-one term)
//!   dg_t = Σ_j dM ⊙ A (per row or in all),  dS_{t-1} = Diag(exp g_t) dM + a_t dp^T
//! ```
//!
//! The plain-op recurrent and chunkwise forms (`kernels::run_plain`) are its references in tests.

use super::GateKind;
use crate::kernels::cpu::{as_slice, par_chunks};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};

/// Tokens between state checkpoints in the backward.
const SEGMENT: usize = 64;

/// The shape of one recurrence.
#[derive(Clone, Copy, Debug)]
pub struct Scan {
    pub t: usize,
    pub dk: usize,
    pub dv: usize,
    pub gate: GateKind,
    pub delta: bool,
    pub exclusive: bool,
    /// A rank-one term `b_t (a_t^T S_{t-1})` joins the transition (RWKV-7).
    pub low_rank: bool,
}

impl Scan {
    fn gate_width(&self) -> usize {
        match self.gate {
            GateKind::None => 0,
            GateKind::Scalar => 1,
            GateKind::Channel => self.dk,
        }
    }
    /// Floats per token of the packed input: q, k, v, g, β, a, b.
    fn width(&self) -> usize {
        2 * self.dk + self.dv + self.gate_width() + usize::from(self.delta) + 2 * self.dk * usize::from(self.low_rank)
    }
    fn state(&self) -> usize {
        self.dk * self.dv
    }
    /// Floats per pair of the packed output: o (T x d_v) then the final state.
    fn out_width(&self) -> usize {
        self.t * self.dv + self.state()
    }
}

/// Runs the scan on head-major inputs `q, k: [B, H, T, d_k]`, `v: [B, H, T, d_v]`, `g: [B, H, T, 1 or
/// d_k]`, `beta: [B, H, T, 1]`, the rank-one vectors `(a, b): [B, H, T, d_k]`, `s0: [B, H, d_k, d_v]`;
/// returns `o: [B, H, T, d_v]` and the final state. Differentiable in every input.
#[allow(clippy::too_many_arguments)]
pub fn linear_scan(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    g: Option<&Tensor>,
    beta: Option<&Tensor>,
    low_rank: Option<(&Tensor, &Tensor)>,
    s0: &Tensor,
    exclusive: bool,
) -> Result<(Tensor, Tensor)> {
    let (b, h, t, dk) = q.dims4()?;
    let dv = v.dim(3)?;
    let gate = match g.map(|g| g.dim(3)).transpose()? {
        None => GateKind::None,
        Some(1) => GateKind::Scalar,
        Some(_) => GateKind::Channel,
    };
    let scan = Scan { t, dk, dv, gate, delta: beta.is_some(), exclusive, low_rank: low_rank.is_some() };
    let mut parts = vec![q.clone(), k.clone(), v.clone()];
    parts.extend(g.cloned());
    parts.extend(beta.cloned());
    if let Some((a, bb)) = low_rank {
        parts.extend([a.clone(), bb.clone()]);
    }
    let packed = Tensor::cat(&parts, D::Minus1)?.contiguous()?;
    let out = packed.apply_op2(&s0.contiguous()?, ScanOp(scan))?; // [B, H, T*dv + dk*dv]
    let o = out.narrow(2, 0, t * dv)?.reshape((b, h, t, dv))?;
    let s = out.narrow(2, t * dv, dk * dv)?.reshape((b, h, dk, dv))?;
    Ok((o, s))
}

/// The views of one token's packed inputs (`a`, `b` empty without the rank-one term).
struct Token<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    g: &'a [f32],
    beta: f32,
    a: &'a [f32],
    b: &'a [f32],
}

/// One token's gradients, split like [`Token`].
struct TokenGrad<'a> {
    q: &'a mut [f32],
    k: &'a mut [f32],
    v: &'a mut [f32],
    g: &'a mut [f32],
    beta: &'a mut [f32],
    a: &'a mut [f32],
    b: &'a mut [f32],
}

/// Per-token vectors of length d_v, allocated once per pair.
struct Scratch {
    /// The written value `u`.
    u: Vec<f32>,
    /// The delta rule's recall `r = M^T k`.
    r: Vec<f32>,
    /// The rank-one read `p = S_{t-1}^T a`.
    p: Vec<f32>,
}

impl Scratch {
    fn new(dv: usize) -> Self {
        Scratch { u: vec![0.0; dv], r: vec![0.0; dv], p: vec![0.0; dv] }
    }
}

/// `S += x y^T` (`x` over key channels, `y` over value channels).
fn add_outer(s: &mut [f32], x: &[f32], y: &[f32]) {
    for (row, xi) in s.chunks_exact_mut(y.len()).zip(x) {
        for (sij, yj) in row.iter_mut().zip(y) {
            *sij += xi * yj;
        }
    }
}

/// `out_i = Σ_j S_ij y_j` (`y` over value channels).
fn apply(s: &[f32], y: &[f32], out: &mut [f32]) {
    for (oi, row) in out.iter_mut().zip(s.chunks_exact(y.len())) {
        *oi = row.iter().zip(y).map(|(a, b)| a * b).sum();
    }
}

impl Scan {
    fn token<'a>(&self, x: &'a [f32], t: usize) -> Token<'a> {
        let row = &x[t * self.width()..(t + 1) * self.width()];
        let (q, rest) = row.split_at(self.dk);
        let (k, rest) = rest.split_at(self.dk);
        let (v, rest) = rest.split_at(self.dv);
        let (g, rest) = rest.split_at(self.gate_width());
        let (beta, rest) = rest.split_at(usize::from(self.delta));
        let (a, b) = rest.split_at(rest.len() / 2);
        Token { q, k, v, g, beta: beta.first().copied().unwrap_or(1.0), a, b }
    }

    fn token_grad<'a>(&self, dx: &'a mut [f32], t: usize) -> TokenGrad<'a> {
        let w = self.width();
        let row = &mut dx[t * w..(t + 1) * w];
        let (q, rest) = row.split_at_mut(self.dk);
        let (k, rest) = rest.split_at_mut(self.dk);
        let (v, rest) = rest.split_at_mut(self.dv);
        let (g, rest) = rest.split_at_mut(self.gate_width());
        let (beta, rest) = rest.split_at_mut(usize::from(self.delta));
        let half = rest.len() / 2;
        let (a, b) = rest.split_at_mut(half);
        TokenGrad { q, k, v, g, beta, a, b }
    }

    /// `S ← Diag(exp g) S`.
    fn decay(&self, s: &mut [f32], g: &[f32]) {
        match self.gate {
            GateKind::None => {}
            GateKind::Scalar => {
                let a = g[0].exp();
                s.iter_mut().for_each(|x| *x *= a);
            }
            GateKind::Channel => {
                for (row, gi) in s.chunks_exact_mut(self.dv).zip(g) {
                    let a = gi.exp();
                    row.iter_mut().for_each(|x| *x *= a);
                }
            }
        }
    }

    /// `out = S^T x` (`x` over key channels).
    fn read(&self, s: &[f32], x: &[f32], out: &mut [f32]) {
        out.iter_mut().for_each(|o| *o = 0.0);
        for (row, xi) in s.chunks_exact(self.dv).zip(x) {
            for (o, sij) in out.iter_mut().zip(row) {
                *o += xi * sij;
            }
        }
    }

    /// `S_{t-1} -> M_t` in place: the decay, then the rank-one term (its read `p` of `S_{t-1}` kept
    /// in `w.p`).
    fn transition(&self, s: &mut [f32], tok: &Token, w: &mut Scratch) {
        if self.low_rank {
            self.read(s, tok.a, &mut w.p);
        }
        self.decay(s, tok.g);
        if self.low_rank {
            add_outer(s, tok.b, &w.p);
        }
    }

    /// `w.u`: the value written into `M` (`β (v - M^T k)` under the delta rule, `w.r` the recall).
    fn written(&self, m: &[f32], tok: &Token, w: &mut Scratch) {
        if self.delta {
            self.read(m, tok.k, &mut w.r);
            for ((uj, vj), rj) in w.u.iter_mut().zip(tok.v).zip(w.r.iter()) {
                *uj = tok.beta * (vj - rj);
            }
        } else {
            w.u.copy_from_slice(tok.v);
        }
    }

    /// One step: `S_{t-1} -> S_t`, writing `o_t`.
    fn step(&self, s: &mut [f32], tok: &Token, o: &mut [f32], w: &mut Scratch) {
        if self.exclusive {
            self.read(s, tok.q, o);
        }
        self.transition(s, tok, w);
        self.written(s, tok, w);
        add_outer(s, tok.k, &w.u);
        if !self.exclusive {
            self.read(s, tok.q, o);
        }
    }

    /// Forward of one pair: `x` its packed tokens, `s` holds `S_0` and is left at `S_T`; `o` gets
    /// `T x d_v` (`None`: the outputs are not kept); every `SEGMENT` tokens the state before the
    /// segment is pushed onto `checkpoints`.
    fn forward(&self, x: &[f32], s: &mut [f32], mut o: Option<&mut [f32]>, mut checkpoints: Option<&mut Vec<f32>>) {
        let (mut w, mut discarded) = (Scratch::new(self.dv), vec![0f32; self.dv]);
        for t in 0..self.t {
            if t % SEGMENT == 0 {
                if let Some(c) = checkpoints.as_deref_mut() {
                    c.extend_from_slice(s);
                }
            }
            let tok = self.token(x, t);
            let out = match o.as_deref_mut() {
                Some(o) => &mut o[t * self.dv..(t + 1) * self.dv],
                None => &mut discarded[..],
            };
            self.step(s, &tok, out, &mut w);
        }
    }

    /// Backward of one pair: `dx` (`T x width`) and `ds` (holding the final state's gradient on
    /// entry, the initial state's on exit).
    fn backward(&self, x: &[f32], s0: &[f32], dout: &[f32], dx: &mut [f32], ds: &mut [f32]) {
        let (dk, dv, n) = (self.dk, self.dv, self.state());
        let mut checkpoints = Vec::with_capacity(self.t.div_ceil(SEGMENT) * n);
        let mut s = s0.to_vec();
        let mut scratch = vec![0f32; dv];
        // Pass 1: checkpoints (outputs discarded).
        self.forward(x, &mut s, None, Some(&mut checkpoints));
        // Per segment, from the last: recompute S_{t-1} for each token, then run backwards.
        let mut before = vec![0f32; SEGMENT * n]; // S_{t-1} of each token in the segment
        let mut w = Scratch::new(dv);
        let (mut decayed, mut m) = (vec![0f32; n], vec![0f32; n]);
        let (mut du, mut dr, mut dp) = (vec![0f32; dv], vec![0f32; dv], vec![0f32; dv]);
        for seg in (0..self.t.div_ceil(SEGMENT)).rev() {
            let (t0, t1) = (seg * SEGMENT, ((seg + 1) * SEGMENT).min(self.t));
            s.copy_from_slice(&checkpoints[seg * n..(seg + 1) * n]);
            for t in t0..t1 {
                before[(t - t0) * n..(t - t0 + 1) * n].copy_from_slice(&s);
                self.step(&mut s, &self.token(x, t), &mut scratch, &mut w);
            }
            for t in (t0..t1).rev() {
                let tok = self.token(x, t);
                let prev = &before[(t - t0) * n..(t - t0 + 1) * n];
                let d_o = &dout[t * dv..(t + 1) * dv];
                let d = self.token_grad(dx, t);
                // Rebuild A_t, M_t (with p_t), r_t and u_t from S_{t-1}; M_t = A_t without the rank-one term.
                decayed.copy_from_slice(prev);
                self.decay(&mut decayed, tok.g);
                if self.low_rank {
                    self.read(prev, tok.a, &mut w.p);
                    m.copy_from_slice(&decayed);
                    add_outer(&mut m, tok.b, &w.p);
                }
                let m: &[f32] = if self.low_rank { &m } else { &decayed };
                self.written(m, &tok, &mut w);
                if !self.exclusive {
                    // o_t = S_t^T q_t with S_t = M + k u^T:  dq = S_t do,  dS += q do^T.
                    for i in 0..dk {
                        let row = &m[i * dv..(i + 1) * dv];
                        let ki = tok.k[i];
                        d.q[i] = (0..dv).map(|j| (row[j] + ki * w.u[j]) * d_o[j]).sum();
                    }
                    add_outer(ds, tok.q, d_o);
                }
                // S_t = M + k u^T:  dk = dS u,  du = dS^T k.
                apply(ds, &w.u, d.k);
                self.read(ds, tok.k, &mut du);
                if self.delta {
                    // u = β (v - r):  dv = β du,  dβ = du·(v - r),  dr = -β du;  r = M^T k: dk += M dr, dM += k dr^T.
                    let mut db = 0.0f32;
                    for j in 0..dv {
                        d.v[j] = tok.beta * du[j];
                        db += du[j] * (tok.v[j] - w.r[j]);
                        dr[j] = -tok.beta * du[j];
                    }
                    d.beta[0] = db;
                    for i in 0..dk {
                        d.k[i] += m[i * dv..(i + 1) * dv].iter().zip(dr.iter()).map(|(x, y)| x * y).sum::<f32>();
                    }
                    add_outer(ds, tok.k, &dr);
                } else {
                    d.v.copy_from_slice(&du);
                }
                if self.low_rank {
                    // M = A + b p^T, p = S_{t-1}^T a:  db = dM p,  dp = dM^T b,  da = S_{t-1} dp.
                    apply(ds, &w.p, d.b);
                    self.read(ds, tok.b, &mut dp);
                    apply(prev, &dp, d.a);
                }
                // A = Diag(exp g) S_{t-1}:  dg = Σ_j dM ⊙ A (per row),  dS_{t-1} = Diag(exp g) dM.
                match self.gate {
                    GateKind::None => {}
                    GateKind::Scalar => {
                        d.g[0] = ds.iter().zip(decayed.iter()).map(|(x, y)| x * y).sum();
                        let e = tok.g[0].exp();
                        ds.iter_mut().for_each(|x| *x *= e);
                    }
                    GateKind::Channel => {
                        for i in 0..dk {
                            let row = &mut ds[i * dv..(i + 1) * dv];
                            d.g[i] = row.iter().zip(&decayed[i * dv..(i + 1) * dv]).map(|(x, y)| x * y).sum();
                            let e = tok.g[i].exp();
                            row.iter_mut().for_each(|x| *x *= e);
                        }
                    }
                }
                if self.low_rank {
                    // p = S_{t-1}^T a:  dS_{t-1} += a dp^T.
                    add_outer(ds, tok.a, &dp);
                }
                if self.exclusive {
                    // o_t = S_{t-1}^T q_t:  dq = S_{t-1} do,  dS_{t-1} += q do^T.
                    apply(prev, d_o, d.q);
                    add_outer(ds, tok.q, d_o);
                }
            }
        }
    }
}

/// Forward op: (packed tokens `[B, H, T, width]`, `S_0`) -> `[B, H, T*d_v + d_k*d_v]`.
struct ScanOp(Scan);

impl CustomOp2 for ScanOp {
    fn name(&self) -> &'static str {
        "fused-linear-scan"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let sc = self.0;
        let (x, s0) = (as_slice(s1, l1)?, as_slice(s2, l2)?);
        let (b, h, _, _) = l1.shape().dims4()?;
        let mut out = vec![0f32; b * h * sc.out_width()];
        par_chunks(&mut out, sc.out_width(), 4 * b * h * sc.t * sc.state(), |pair, buf| {
            let (o, s) = buf.split_at_mut(sc.t * sc.dv);
            s.copy_from_slice(&s0[pair * sc.state()..(pair + 1) * sc.state()]);
            sc.forward(&x[pair * sc.t * sc.width()..(pair + 1) * sc.t * sc.width()], s, Some(o), None);
        });
        Ok((CpuStorage::F32(out), Shape::from((b, h, sc.out_width()))))
    }

    fn bwd(&self, x: &Tensor, s0: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let sc = self.0;
        let (b, h, t, w) = x.dims4()?;
        let packed = x.apply_op3_no_bwd(s0, &grad.contiguous()?, &ScanBackward(sc))?; // [B, H, T*w + dk*dv]
        let dx = packed.narrow(2, 0, t * w)?.reshape((b, h, t, w))?;
        let ds0 = packed.narrow(2, t * w, sc.state())?.reshape((b, h, sc.dk, sc.dv))?;
        Ok((Some(dx), Some(ds0)))
    }
}

/// Backward op: (packed tokens, `S_0`, gradient of the packed output) -> `[B, H, T*width + d_k*d_v]`.
struct ScanBackward(Scan);

impl CustomOp3 for ScanBackward {
    fn name(&self) -> &'static str {
        "fused-linear-scan-backward"
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
        let sc = self.0;
        let (x, s0, grad) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let (b, h, _, _) = l1.shape().dims4()?;
        let per = sc.t * sc.width() + sc.state();
        let mut out = vec![0f32; b * h * per];
        par_chunks(&mut out, per, 16 * b * h * sc.t * sc.state(), |pair, buf| {
            let (dx, ds) = buf.split_at_mut(sc.t * sc.width());
            let g = &grad[pair * sc.out_width()..(pair + 1) * sc.out_width()];
            ds.copy_from_slice(&g[sc.t * sc.dv..]);
            sc.backward(
                &x[pair * sc.t * sc.width()..(pair + 1) * sc.t * sc.width()],
                &s0[pair * sc.state()..(pair + 1) * sc.state()],
                &g[..sc.t * sc.dv],
                dx,
                ds,
            );
        });
        Ok((CpuStorage::F32(out), Shape::from((b, h, per))))
    }
}
