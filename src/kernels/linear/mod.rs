//! Shared linear-recurrence kernels: the computational heart of the linear-attention family.
//!
//! Every row of the lecture's table (section 3) except RWKV-7 and the mLSTM normaliser is an instance of
//!
//! ```text
//!   S_t = (I - β_t k_t k_t^T) Diag(exp(g_t)) S_{t-1} + β_t k_t v_t^T        o_t = S_t^T q_t
//! ```
//!
//! (the decay first, then the delta rule on the decayed state; the order matters only for a
//! per-channel decay, KDA's)
//!
//! with `S` stored **key-major** (`[d_k, d_v]`, the transpose of the lecture's `d_v x d_k` matrix, as
//! flash-linear-attention stores it), `g <= 0` an optional log-space decay (none, one scalar per head,
//! or one per key channel) and `β` an optional delta-rule step size (`β = 1`, no erase term, when absent).
//!
//! Inputs are `[batch, time, heads, dim]`; the state is `[batch, heads, d_k, d_v]` and is returned in the
//! dtype of the inputs (f32 for models, f64 for finite-difference checks). Three exact forms:
//! [`Form::Recurrent`] (token by token, O(d_k d_v) per token), [`Form::Chunkwise`] (quadratic inside
//! chunks of C tokens, recurrent across chunks) and [`Form::Parallel`] (masked quadratic over the whole
//! sequence: the chunkwise form with a single chunk). All are plain candle ops, so autograd
//! differentiates them; [`reference`] is an f64 loop over scalars that follows the equation literally
//! and serves as the oracle in tests.

mod chunkwise;
mod recurrent;
pub mod reference;
pub mod scan;

use candle_core::{DType, Result, Tensor};

/// How a linear recurrence is evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// One token at a time: the RNN view; the form used for decoding.
    Recurrent,
    /// Chunks of the given number of tokens (a power of two): parallel inside, recurrent across.
    Chunkwise(usize),
    /// The whole sequence as one masked quadratic product (the attention view).
    Parallel,
}

impl Form {
    /// Parses `recurrent`, `parallel`, `chunkwise` (chunk 64) or `chunkwise:C`.
    pub fn parse(s: &str) -> std::result::Result<Form, String> {
        match s {
            "recurrent" => Ok(Form::Recurrent),
            "parallel" => Ok(Form::Parallel),
            "chunkwise" | "chunk" => Ok(Form::Chunkwise(DEFAULT_CHUNK)),
            other => {
                let c = other
                    .strip_prefix("chunkwise:")
                    .or_else(|| other.strip_prefix("chunk:"))
                    .and_then(|c| c.parse::<usize>().ok())
                    .ok_or_else(|| {
                        format!("unknown form `{other}` (expected recurrent, chunkwise, chunkwise:C or parallel)")
                    })?;
                if c == 0 || !c.is_power_of_two() {
                    return Err(format!("chunk size {c} must be a power of two"));
                }
                Ok(Form::Chunkwise(c))
            }
        }
    }
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Form::Recurrent => write!(f, "recurrent"),
            Form::Chunkwise(c) => write!(f, "chunkwise:{c}"),
            Form::Parallel => write!(f, "parallel"),
        }
    }
}

/// Chunk size used when none is given.
pub const DEFAULT_CHUNK: usize = 64;

/// How the decay enters a recurrence: not at all, one value per head, one per key channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateKind {
    None,
    Scalar,
    Channel,
}

/// The kinds of recurrence the kernels support, one per column pattern of the lecture's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recurrence {
    /// No decay, no delta rule (linear attention).
    Plain,
    /// Scalar decay per head (RetNet, Mamba-2).
    ScalarGate,
    /// Decay per key channel (GLA).
    ChannelGate,
    /// Delta rule (DeltaNet).
    Delta,
    /// Scalar decay and delta rule (Gated DeltaNet).
    GatedDelta,
    /// Decay per key channel, then the delta rule on the decayed state (KDA).
    ChannelGatedDelta,
    /// Scalar decay once per token, then [`HOUSEHOLDER_STEPS`] delta-rule steps (Gated DeltaProduct).
    GatedDeltaProduct,
    /// Decay per key channel, state read before the token's write (RWKV-6).
    ChannelGateExclusive,
    /// Decay per key channel plus a rank-one transition `b a^T` (RWKV-7).
    LowRank,
}

impl Recurrence {
    /// How the decay enters.
    pub fn gate(self) -> GateKind {
        match self {
            Recurrence::Plain | Recurrence::Delta => GateKind::None,
            Recurrence::ScalarGate | Recurrence::GatedDelta | Recurrence::GatedDeltaProduct => GateKind::Scalar,
            Recurrence::ChannelGate
            | Recurrence::ChannelGateExclusive
            | Recurrence::LowRank
            | Recurrence::ChannelGatedDelta => GateKind::Channel,
        }
    }

    /// True when the delta rule erases before writing (β and unit-norm keys).
    pub fn delta(self) -> bool {
        matches!(
            self,
            Recurrence::Delta | Recurrence::GatedDelta | Recurrence::ChannelGatedDelta | Recurrence::GatedDeltaProduct
        )
    }

    /// Delta-rule steps per token (Householder factors of the transition): 1 but for DeltaProduct.
    pub fn householder(self) -> usize {
        if self == Recurrence::GatedDeltaProduct {
            HOUSEHOLDER_STEPS
        } else {
            1
        }
    }

    /// True when token t reads the state before its own write (RWKV-6).
    pub fn exclusive(self) -> bool {
        self == Recurrence::ChannelGateExclusive
    }

    /// True when a rank-one term joins the transition (RWKV-7).
    pub fn low_rank(self) -> bool {
        self == Recurrence::LowRank
    }

    /// True for the kinds whose decay has one value per key channel (their chunkwise form
    /// materialises `[C, C, d_k]` per chunk, so they use small chunks).
    pub fn channel_gated(self) -> bool {
        self.gate() == GateKind::Channel
    }

    pub const ALL: [Recurrence; 9] = [
        Recurrence::Plain,
        Recurrence::ScalarGate,
        Recurrence::ChannelGate,
        Recurrence::Delta,
        Recurrence::GatedDelta,
        Recurrence::ChannelGatedDelta,
        Recurrence::GatedDeltaProduct,
        Recurrence::ChannelGateExclusive,
        Recurrence::LowRank,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Recurrence::Plain => "plain",
            Recurrence::ScalarGate => "scalar-gate",
            Recurrence::ChannelGate => "channel-gate",
            Recurrence::Delta => "delta",
            Recurrence::GatedDelta => "gated-delta",
            Recurrence::ChannelGatedDelta => "channel-gated-delta",
            Recurrence::GatedDeltaProduct => "gated-delta-product",
            Recurrence::ChannelGateExclusive => "channel-gate-exclusive",
            Recurrence::LowRank => "channel-gate-rank-one",
        }
    }
}

/// The log-space decay `g = log α <= 0` of a recurrence.
#[derive(Clone, Debug)]
pub enum Gate {
    /// No decay (`α = 1`): linear attention, DeltaNet.
    None,
    /// One decay per head and token, `[batch, time, heads]`: RetNet, Mamba-2, Gated DeltaNet.
    Scalar(Tensor),
    /// One decay per key channel, `[batch, time, heads, d_k]`: GLA, HGRN-2, RWKV-6.
    Channel(Tensor),
}

impl Gate {
    pub fn kind(&self) -> GateKind {
        match self {
            Gate::None => GateKind::None,
            Gate::Scalar(_) => GateKind::Scalar,
            Gate::Channel(_) => GateKind::Channel,
        }
    }
}

/// Delta-rule steps per token of DeltaProduct's recurrence kind (its default n_h).
pub const HOUSEHOLDER_STEPS: usize = 2;

/// Everything a kernel reads. `q, k: [B, T, H, d_k]`, `v: [B, T, H, d_v]`, `beta: [B, T, H]`,
/// `initial_state: [B, H, d_k, d_v]`. `q` must already carry its scale. With `householder = n > 1`
/// (DeltaProduct) k, v and β hold `T·n` rows, token t's steps at rows `t·n .. t·n + n - 1`; the gate
/// (`T` rows) applies once per token before its steps and `o_t` is read after the last.
///
/// Built with [`Inputs::new`] and its setters, so a field added for one mixer changes no other
/// mixer's code; a struct literal outside this crate does not compile:
///
/// ```compile_fail
/// use seqbench::kernels::{Gate, Inputs};
/// let x = candle_core::Tensor::zeros((1, 2, 1, 4), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
/// let inputs = Inputs { q: x.clone(), k: x.clone(), v: x, gate: Gate::None, beta: None,
///     initial_state: None, exclusive: false, low_rank: None, householder: 1 };
/// ```
///
/// ```
/// use seqbench::kernels::{Gate, Inputs};
/// let x = candle_core::Tensor::zeros((1, 2, 1, 4), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
/// let inputs = Inputs::new(x.clone(), x.clone(), x.clone(), Gate::None).householder(2);
/// assert_eq!(inputs.householder, 2);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Inputs {
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
    pub gate: Gate,
    pub beta: Option<Tensor>,
    pub initial_state: Option<Tensor>,
    /// Read the state before token t's decay and write, `o_t = S_{t-1}^T q_t` (RWKV-6, whose bonus
    /// term for token t itself is added outside the kernel). Not combined with the delta rule.
    pub exclusive: bool,
    /// A rank-one term in the transition, `(a_t, b_t)` each `[B, T, H, d_k]`:
    /// `S_t = (Diag(exp g_t) + b_t a_t^T) S_{t-1} + k_t v_t^T` (RWKV-7's generalised delta rule;
    /// key-major form of the lecture's `S_{t-1}(Diag(w_t) + a_t b_t^T)`). Needs a per-channel gate.
    pub low_rank: Option<(Tensor, Tensor)>,
    /// Delta-rule steps per token (1: one step, the plain delta rule).
    pub householder: usize,
}

impl Inputs {
    /// q, k, v and the gate; no β (no delta rule), no initial state, inclusive reads, no rank-one
    /// term, one step per token.
    pub fn new(q: Tensor, k: Tensor, v: Tensor, gate: Gate) -> Self {
        Inputs { q, k, v, gate, beta: None, initial_state: None, exclusive: false, low_rank: None, householder: 1 }
    }

    /// The delta rule's write strength β `[B, T, H]`.
    pub fn beta(self, beta: Tensor) -> Self {
        Inputs { beta: Some(beta), ..self }
    }

    /// The state before the first token `[B, H, d_k, d_v]`.
    pub fn initial_state(self, state: Tensor) -> Self {
        Inputs { initial_state: Some(state), ..self }
    }

    /// Read the state before token t's own write.
    pub fn exclusive(self) -> Self {
        Inputs { exclusive: true, ..self }
    }

    /// The rank-one transition term `(a, b)` (RWKV-7).
    pub fn low_rank(self, a: Tensor, b: Tensor) -> Self {
        Inputs { low_rank: Some((a, b)), ..self }
    }

    /// `n` delta steps per token (DeltaProduct's Householder steps).
    pub fn householder(self, n: usize) -> Self {
        Inputs { householder: n, ..self }
    }
}

/// What a kernel returns: `o: [B, T, H, d_v]` and the final state `[B, H, d_k, d_v]`.
#[derive(Clone, Debug)]
pub struct Output {
    pub o: Tensor,
    pub state: Tensor,
}

/// Runs the recurrence in the given form. On the CPU, f32 recurrent runs go to the fused scan
/// ([`scan`]); everything else, and every form under SEQBENCH_PLAIN_OPS=1, runs as plain candle
/// ops ([`run_plain`]).
pub fn run(form: Form, inputs: &Inputs) -> Result<Output> {
    let (inputs, n) = one_step_per_row(inputs)?;
    let out = if form == Form::Recurrent && crate::kernels::cpu::serves(&inputs.q) {
        fused(&Heads::time_major(&inputs)?)?
    } else {
        plain(form, &Heads::new(&inputs)?)?
    };
    last_step_of_each_token(out, n)
}

/// Several delta steps per token (`householder = n`) as a sequence of `T·n` single steps: token t's
/// query at its last row (zero queries elsewhere), its gate at its first (zero log-decay elsewhere),
/// so every kernel form runs them unchanged; [`last_step_of_each_token`] keeps the reads that count.
fn one_step_per_row(x: &Inputs) -> Result<(std::borrow::Cow<'_, Inputs>, usize)> {
    let n = x.householder.max(1);
    if n == 1 {
        return Ok((std::borrow::Cow::Borrowed(x), 1));
    }
    if x.beta.is_none() || x.low_rank.is_some() || x.exclusive {
        candle_core::bail!(
            "several Householder steps per token need the delta rule (β), and no rank-one term or exclusive read"
        )
    }
    let (b, t) = (x.q.dim(0)?, x.q.dim(1)?);
    if x.k.dim(1)? != t * n {
        candle_core::bail!("with {n} Householder steps k has {} rows, expected T·n = {}", x.k.dim(1)?, t * n)
    }
    // [B, T, H, D] -> [B, T·n, H, D] with the token's row at step `at` of its group, zeros elsewhere.
    let spread = |m: &Tensor, at: usize| -> Result<Tensor> {
        let m = m.unsqueeze(2)?; // [B, T, 1, H, D]
        let zeros = |k: usize| -> Result<Option<Tensor>> {
            if k == 0 {
                return Ok(None);
            }
            let mut shape = m.dims().to_vec();
            shape[2] = k;
            Ok(Some(Tensor::zeros(shape, m.dtype(), m.device())?))
        };
        let (before, after) = (zeros(at)?, zeros(n - 1 - at)?);
        let parts: Vec<&Tensor> = before.iter().chain(std::iter::once(&m)).chain(after.iter()).collect();
        let out = Tensor::cat(&parts, 2)?;
        let mut shape = vec![b, t * n];
        shape.extend_from_slice(&out.dims()[3..]);
        out.reshape(shape)
    };
    let gate = match &x.gate {
        Gate::None => Gate::None,
        Gate::Scalar(g) => Gate::Scalar(spread(&g.unsqueeze(3)?, 0)?.squeeze(3)?),
        Gate::Channel(g) => Gate::Channel(spread(g, 0)?),
    };
    Ok((std::borrow::Cow::Owned(Inputs { q: spread(&x.q, n - 1)?, gate, householder: 1, ..x.clone() }), n))
}

/// The reads after the last step of each token: rows `t·n + n - 1` of `o`.
fn last_step_of_each_token(out: Output, n: usize) -> Result<Output> {
    if n == 1 {
        return Ok(out);
    }
    let (b, tn, h, dv) = out.o.dims4()?;
    let o = out.o.reshape((b, tn / n, n, h, dv))?.narrow(2, n - 1, 1)?.squeeze(2)?.contiguous()?;
    Ok(Output { o, state: out.state })
}

/// The recurrent form as the fused CPU scan ([`scan`]), whatever SEQBENCH_PLAIN_OPS says: f32 on the
/// CPU, every kind of recurrence.
pub fn run_fused(inputs: &Inputs) -> Result<Output> {
    let (inputs, n) = one_step_per_row(inputs)?;
    last_step_of_each_token(fused(&Heads::time_major(&inputs)?)?, n)
}

/// The fused scan on time-major inputs ([`Heads::time_major`]): no transposes either way.
fn fused(h: &Heads) -> Result<Output> {
    let low_rank = h.low_rank.as_ref().map(|(a, b)| (a, b));
    let (o, state) = scan::linear_scan(&h.q, &h.k, &h.v, h.g.as_ref(), h.beta.as_ref(), low_rank, &h.s0, h.exclusive)?;
    Ok(Output { o, state })
}

/// Runs the recurrence in the given form with plain candle ops only: the reference of the fused kernels.
pub fn run_plain(form: Form, inputs: &Inputs) -> Result<Output> {
    let (inputs, n) = one_step_per_row(inputs)?;
    last_step_of_each_token(plain(form, &Heads::new(&inputs)?)?, n)
}

fn plain(form: Form, h: &Heads) -> Result<Output> {
    let (o, state) = match form {
        Form::Recurrent => recurrent::run(h)?,
        Form::Chunkwise(c) => {
            if c == 0 || !c.is_power_of_two() {
                candle_core::bail!("chunk size {c} must be a power of two")
            }
            // A sequence shorter than the chunk needs no padding beyond the next power of two.
            chunkwise::run(h, c.min(h.t.max(1).next_power_of_two()))?
        }
        Form::Parallel => {
            // One chunk covering the sequence. The block inverse of the delta rule and of the
            // low-rank transition wants a power of two.
            let c = if h.beta.is_some() || h.low_rank.is_some() { h.t.next_power_of_two() } else { h.t.max(1) };
            chunkwise::run(h, c)?
        }
    };
    Ok(Output { o: o.transpose(1, 2)?.contiguous()?, state })
}

/// The inputs, checked, in head-major layout `[B, H, T, D]` ([`Heads::new`], the plain forms) or
/// time-major `[B, T, H, D]` ([`Heads::time_major`], the fused scan); gates as `[.., 1]` (scalar) or
/// `[.., d_k]`, β as `[.., 1]`.
pub(crate) struct Heads {
    pub b: usize,
    pub h: usize,
    pub t: usize,
    pub dk: usize,
    pub dv: usize,
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
    pub g: Option<Tensor>,
    pub beta: Option<Tensor>,
    pub s0: Tensor,
    pub exclusive: bool,
    /// `(a, b)` in head-major layout.
    pub low_rank: Option<(Tensor, Tensor)>,
}

impl Heads {
    fn new(x: &Inputs) -> Result<Self> {
        Self::with_layout(x, |x| x.transpose(1, 2)?.contiguous())
    }

    fn time_major(x: &Inputs) -> Result<Self> {
        Self::with_layout(x, |x| Ok(x.clone()))
    }

    /// Checks the shapes and lays each `[B, T, H, D]` input out with `heads`.
    fn with_layout(x: &Inputs, heads: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        let (b, t, h, dk) = x.q.dims4()?;
        let dv = x.v.dim(3)?;
        if x.k.dims() != [b, t, h, dk] {
            candle_core::bail!("k has shape {:?}, expected {:?}", x.k.dims(), [b, t, h, dk])
        }
        if x.v.dims() != [b, t, h, dv] {
            candle_core::bail!("v has shape {:?}, expected [{b}, {t}, {h}, d_v]", x.v.dims())
        }
        let g = match &x.gate {
            Gate::None => None,
            Gate::Scalar(g) => {
                if g.dims() != [b, t, h] {
                    candle_core::bail!("scalar gate has shape {:?}, expected {:?}", g.dims(), [b, t, h])
                }
                Some(heads(&g.unsqueeze(3)?)?)
            }
            Gate::Channel(g) => {
                if g.dims() != [b, t, h, dk] {
                    candle_core::bail!("channel gate has shape {:?}, expected {:?}", g.dims(), [b, t, h, dk])
                }
                Some(heads(g)?)
            }
        };
        let beta = match &x.beta {
            None => None,
            Some(beta) => {
                if beta.dims() != [b, t, h] {
                    candle_core::bail!("beta has shape {:?}, expected {:?}", beta.dims(), [b, t, h])
                }
                Some(heads(&beta.unsqueeze(3)?)?)
            }
        };
        if x.exclusive && (x.beta.is_some() || x.low_rank.is_some()) {
            candle_core::bail!("the exclusive read is not supported with the delta rule")
        }
        let low_rank = match &x.low_rank {
            None => None,
            Some((a, b2)) => {
                if a.dims() != [b, t, h, dk] || b2.dims() != [b, t, h, dk] {
                    candle_core::bail!(
                        "low-rank vectors have shapes {:?} and {:?}, expected {:?}",
                        a.dims(),
                        b2.dims(),
                        [b, t, h, dk]
                    )
                }
                if !matches!(x.gate, Gate::Channel(_)) || x.beta.is_some() {
                    candle_core::bail!("the low-rank transition needs a per-channel gate and no β")
                }
                Some((heads(a)?, heads(b2)?))
            }
        };
        let s0 = match &x.initial_state {
            Some(s) => {
                if s.dims() != [b, h, dk, dv] {
                    candle_core::bail!("initial state has shape {:?}, expected {:?}", s.dims(), [b, h, dk, dv])
                }
                s.clone()
            }
            None => Tensor::zeros((b, h, dk, dv), x.q.dtype(), x.q.device())?,
        };
        Ok(Heads {
            b,
            h,
            t,
            dk,
            dv,
            q: heads(&x.q)?,
            k: heads(&x.k)?,
            v: heads(&x.v)?,
            g,
            beta,
            s0,
            exclusive: x.exclusive,
            low_rank,
        })
    }

    pub fn dtype(&self) -> DType {
        self.q.dtype()
    }
}
