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
use crate::kernels::cpu::{as_slice, dot, exp_f32, par_chunks, SharedOut};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};
use std::sync::{Arc, Mutex};

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
}

/// Runs the scan on time-major inputs `q, k: [B, T, H, d_k]`, `v: [B, T, H, d_v]`, `g: [B, T, H, 1 or
/// d_k]`, `beta: [B, T, H, 1]`, the rank-one vectors `(a, b): [B, T, H, d_k]`, `s0: [B, H, d_k, d_v]`;
/// returns `o: [B, T, H, d_v]` and the final state. Differentiable in every input.
///
/// The output and the final state are two ops on the same packed inputs ([`ScanOp`], [`FinalState`]):
/// the state is computed with the output and handed over, and each has its own backward, so a loss
/// on the output alone (training) backpropagates through no state-sized slicing, and one on both
/// gets the sum of the two.
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
    let t = q.dim(1)?;
    let (dk, dv) = (q.dim(3)?, v.dim(3)?);
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
    let packed = Tensor::cat(&parts, D::Minus1)?.contiguous()?; // [B, T, H, width]
    let s0 = s0.contiguous()?;
    let last = Arc::new(Mutex::new(None));
    let o = packed.apply_op2(&s0, ScanOp { scan, last: last.clone() })?;
    let state = packed.apply_op2(&s0, FinalState { scan, last })?;
    Ok((o, state))
}

/// Where token `t`'s row of `width` floats of pair `pair` (= batch · H + head) starts in a
/// time-major `[B, T, H, width]` buffer.
fn row_at(pair: usize, heads: usize, t_len: usize, t: usize, width: usize) -> usize {
    ((pair / heads * t_len + t) * heads + pair % heads) * width
}

/// One pair's rows of a time-major buffer, gathered into `T x width`.
fn gather(x: &[f32], pair: usize, heads: usize, t_len: usize, width: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(t_len * width);
    for t in 0..t_len {
        let at = row_at(pair, heads, t_len, t, width);
        out.extend_from_slice(&x[at..at + width]);
    }
    out
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
        *oi = dot(row, y);
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
                let a = exp_f32(g[0]);
                s.iter_mut().for_each(|x| *x *= a);
            }
            GateKind::Channel => {
                for (row, gi) in s.chunks_exact_mut(self.dv).zip(g) {
                    let a = exp_f32(*gi);
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
        // Pass 1: the state before each segment (outputs discarded), up to the last segment's start:
        // the last segment is recomputed below anyway (a sequence of one segment needs no pass).
        let last_start = (self.t.div_ceil(SEGMENT).max(1) - 1) * SEGMENT;
        Scan { t: last_start, ..*self }.forward(x, &mut s, None, Some(&mut checkpoints));
        checkpoints.extend_from_slice(&s);
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
                    // dq_i = Σ_j (M_ij + k_i u_j) do_j = (M do)_i + k_i (u · do)
                    let u_do = dot(&w.u, d_o);
                    for i in 0..dk {
                        d.q[i] = dot(&m[i * dv..(i + 1) * dv], d_o) + tok.k[i] * u_do;
                    }
                    add_outer(ds, tok.q, d_o);
                }
                // S_t = M + k u^T:  dk = dS u,  du = dS^T k.
                apply(ds, &w.u, d.k);
                self.read(ds, tok.k, &mut du);
                if self.delta {
                    // u = β (v - r):  dv = β du,  dβ = du·(v - r),  dr = -β du;  r = M^T k: dk += M dr, dM += k dr^T.
                    for j in 0..dv {
                        d.v[j] = tok.beta * du[j];
                        dr[j] = -tok.beta * du[j];
                    }
                    d.beta[0] = dot(&du, tok.v) - dot(&du, &w.r);
                    for i in 0..dk {
                        d.k[i] += dot(&m[i * dv..(i + 1) * dv], &dr);
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
                        d.g[0] = dot(ds, &decayed);
                        let e = exp_f32(tok.g[0]);
                        ds.iter_mut().for_each(|x| *x *= e);
                    }
                    GateKind::Channel => {
                        for i in 0..dk {
                            let row = &mut ds[i * dv..(i + 1) * dv];
                            d.g[i] = dot(row, &decayed[i * dv..(i + 1) * dv]);
                            let e = exp_f32(tok.g[i]);
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

/// Forward op: (packed tokens `[B, T, H, width]`, `S_0`) -> `o: [B, T, H, d_v]`; the final states go
/// to `last` for [`FinalState`].
struct ScanOp {
    scan: Scan,
    last: Arc<Mutex<Option<Vec<f32>>>>,
}

/// The scan's forward: the outputs `[B, T, H, d_v]` and the final states `[B, H, d_k, d_v]`.
fn forward_all(sc: &Scan, x: &[f32], s0: &[f32], (b, t, h, w): (usize, usize, usize, usize)) -> (Vec<f32>, Vec<f32>) {
    let n = sc.state();
    let mut o = vec![0f32; b * t * h * sc.dv];
    let mut states = vec![0f32; b * h * n];
    let out = SharedOut::new(&mut o);
    par_chunks(&mut states, n, 4 * b * h * t * n, |pair, s| {
        s.copy_from_slice(&s0[pair * n..(pair + 1) * n]);
        let mut o_pair = vec![0f32; t * sc.dv];
        sc.forward(&gather(x, pair, h, t, w), s, Some(&mut o_pair), None);
        // SAFETY: each pair writes its own rows; `o` outlives the call.
        unsafe { out.write_rows(&o_pair, sc.dv, |i| row_at(pair, h, t, i, sc.dv)) };
    });
    (o, states)
}

impl CustomOp2 for ScanOp {
    fn name(&self) -> &'static str {
        "fused-linear-scan"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l1.shape().dims4()?;
        let (o, states) = forward_all(&self.scan, as_slice(s1, l1)?, as_slice(s2, l2)?, dims);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(states);
        let (b, t, h, _) = dims;
        Ok((CpuStorage::F32(o), Shape::from((b, t, h, self.scan.dv))))
    }

    fn bwd(&self, x: &Tensor, s0: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        backward(self.scan, Upstream::Output, x, s0, grad)
    }
}

/// Forward op: (packed tokens, `S_0`) -> the final state `[B, H, d_k, d_v]`, as [`ScanOp`] on the
/// same inputs left it (recomputed if it did not run).
struct FinalState {
    scan: Scan,
    last: Arc<Mutex<Option<Vec<f32>>>>,
}

impl CustomOp2 for FinalState {
    fn name(&self) -> &'static str {
        "fused-linear-scan-state"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = l1.shape().dims4()?;
        let handed = self.last.lock().unwrap_or_else(|e| e.into_inner()).take();
        let states = match handed {
            Some(s) => s,
            None => forward_all(&self.scan, as_slice(s1, l1)?, as_slice(s2, l2)?, dims).1,
        };
        let (b, _, h, _) = dims;
        Ok((CpuStorage::F32(states), Shape::from((b, h, self.scan.dk, self.scan.dv))))
    }

    fn bwd(&self, x: &Tensor, s0: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        backward(self.scan, Upstream::State, x, s0, grad)
    }
}

/// Which output a backward's upstream gradient belongs to.
#[derive(Clone, Copy)]
enum Upstream {
    /// `do: [B, T, H, d_v]` (the final state's gradient is zero).
    Output,
    /// `dS_T: [B, H, d_k, d_v]` (the outputs' gradient is zero).
    State,
}

/// The gradients of the packed inputs `[B, T, H, width]` and of `S_0` for one upstream gradient.
fn backward(
    sc: Scan,
    upstream: Upstream,
    x: &Tensor,
    s0: &Tensor,
    grad: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>)> {
    let (b, t, h, w) = x.dims4()?;
    let flat = x.apply_op3_no_bwd(s0, &grad.contiguous()?, &ScanBackward { scan: sc, upstream })?;
    let n_dx = b * t * h * w;
    let dx = flat.narrow(0, 0, n_dx)?.reshape((b, t, h, w))?;
    let ds0 = flat.narrow(0, n_dx, b * h * sc.state())?.reshape((b, h, sc.dk, sc.dv))?;
    Ok((Some(dx), Some(ds0)))
}

/// Backward op: (packed tokens, `S_0`, upstream gradient) -> the flat `[dx: B·T·H·width | dS_0:
/// B·H·d_k·d_v]`.
struct ScanBackward {
    scan: Scan,
    upstream: Upstream,
}

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
        let sc = self.scan;
        let (x, s0, grad) = (as_slice(s1, l1)?, as_slice(s2, l2)?, as_slice(s3, l3)?);
        let (b, t, h, w) = l1.shape().dims4()?;
        let (n, n_dx) = (sc.state(), b * t * h * w);
        let mut out = vec![0f32; n_dx + b * h * n];
        let (dx_all, ds_all) = out.split_at_mut(n_dx);
        let dx_out = SharedOut::new(dx_all);
        par_chunks(ds_all, n, 16 * b * h * t * n, |pair, ds| {
            let d_o = match self.upstream {
                Upstream::Output => gather(grad, pair, h, t, sc.dv),
                Upstream::State => {
                    ds.copy_from_slice(&grad[pair * n..(pair + 1) * n]);
                    vec![0f32; t * sc.dv]
                }
            };
            let mut dx = vec![0f32; t * w];
            sc.backward(&gather(x, pair, h, t, w), &s0[pair * n..(pair + 1) * n], &d_o, &mut dx, ds);
            // SAFETY: each pair writes its own rows; `out` outlives the call.
            unsafe { dx_out.write_rows(&dx, w, |i| row_at(pair, h, t, i, w)) };
        });
        Ok((CpuStorage::F32(out), Shape::from(n_dx + b * h * n)))
    }
}
