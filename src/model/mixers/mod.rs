//! Token mixers: the only part that differs between seqbench's language models.
//!
//! Every mixer declares what it is in its own file (a [`Descriptor`]: name, family, state update,
//! kernel recurrence, size checks, constructor) and is listed once in [`REGISTRY`]. Every mixer
//! offers the same contract ([`Mixer`]): `run` a block of tokens continuing from an explicit
//! [`State`] (none = start of sequence), which serves training (the whole sequence), prompt
//! processing (chunks) and decoding (one token). The linear family is described per model by a
//! [`linear::LinearFamily`] (how x becomes q, k, v, gate, β and how o becomes the output) and shares
//! the kernels in [`crate::kernels`].

pub mod linear;

use crate::kernels::{Form, Recurrence};
use crate::model::nn::Params;
use candle_core::{DType, Result, Tensor};
use serde::{Deserialize, Serialize};

/// The families of the lecture's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Softmax attention: a KV cache that grows with the sequence.
    Attention,
    /// LSTM, GRU: non-linear in their state, one form.
    ClassicRnn,
    /// The linear-attention family: a matrix state, three exact forms of one shared kernel.
    Linear,
}

/// The sizes a mixer's own validation sees.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub d_model: usize,
    pub head_dim: usize,
    pub d_state: usize,
    pub conv_size: usize,
}

/// A size error: the field (under `sizes.<size>.`) and what is wrong.
pub type SizeError = (&'static str, String);

/// What seqbench knows about a mixer, declared once in the mixer's own file (`pub const MIXER`)
/// and listed once in [`REGISTRY`]: `list`, the configs' validation, the memory estimates, the
/// verdicts, the charts and `check` all read it from here.
pub struct Descriptor {
    /// The name in configs (`mixer = "..."`).
    pub name: &'static str,
    pub family: Family,
    /// The state update in the lecture's notation (S is d_v x d_k there).
    pub update: &'static str,
    /// For the linear family, the kind of recurrence it runs in the shared kernel (its gate, the
    /// delta rule, the read, a rank-one term), which sets its kernel checks, whether the fused scan
    /// serves it and how its training memory scales. `None` for attention and the classic RNNs.
    pub recurrence: Option<Recurrence>,
    /// Mixers the literature ranks this one above on recall: the verdicts check these orderings.
    pub beats: &'static [&'static str],
    /// Checks of the sizes beyond the common ones (a head dimension RoPE can rotate, ...).
    pub validate: fn(&Sizes) -> std::result::Result<(), SizeError>,
    /// Builds the mixer with parameters under `p`; `out_gain` scales its output projection.
    pub build: fn(&MixerSpec, &Params, f64) -> Result<Box<dyn Mixer>>,
}

/// No checks beyond the common ones.
pub fn any_sizes(_: &Sizes) -> std::result::Result<(), SizeError> {
    Ok(())
}

/// Declares the mixer modules and lists their descriptors in [`REGISTRY`], in the given order.
macro_rules! registry {
    ($($mixer:ident),* $(,)?) => {
        $(pub mod $mixer;)*

        /// Every token mixer seqbench knows, in the lecture's order (which also fixes each model's
        /// colour in the charts).
        pub const REGISTRY: &[&Descriptor] = &[$(&$mixer::MIXER),*];
    };
}

// Adding a mixer: its file here (with `pub const MIXER: Descriptor`), its `.toml` in
// `configs/models/`, and its name at the end of this list, so every model keeps its chart colour
// (CONTRIBUTING.md).
registry! {
    attention,
    lstm,
    gru,
    linear_attention,
    retnet,
    mamba2,
    gla,
    deltanet,
    gated_deltanet,
    hgrn2,
    mlstm,
    rwkv6,
    rwkv7,
    gated_attention,
    sliding_window_attention,
    kda,
    gated_deltaproduct,
    mamba3,
}

/// A registered mixer: a handle on its [`Descriptor`], compared and serialised by name and ordered
/// by its place in [`REGISTRY`].
#[derive(Clone, Copy)]
pub struct MixerKind(&'static Descriptor);

impl MixerKind {
    /// The handle of a descriptor (a mixer's `kind()`).
    pub const fn of(descriptor: &'static Descriptor) -> MixerKind {
        MixerKind(descriptor)
    }

    /// Every registered mixer, in registry order.
    pub fn all() -> impl Iterator<Item = MixerKind> {
        REGISTRY.iter().copied().map(MixerKind)
    }

    pub fn parse(name: &str) -> Option<MixerKind> {
        MixerKind::all().find(|k| k.name() == name)
    }

    /// The registered mixer `name`; panics if there is none (for names the code itself holds).
    pub fn named(name: &str) -> MixerKind {
        MixerKind::parse(name).unwrap_or_else(|| panic!("no mixer `{name}` in the registry"))
    }

    pub fn descriptor(self) -> &'static Descriptor {
        self.0
    }

    /// The name used in configs (`mixer = "..."`).
    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn family(self) -> Family {
        self.0.family
    }

    /// True for the linear-attention family (three exact forms).
    pub fn is_linear(self) -> bool {
        self.0.family == Family::Linear
    }

    /// True for softmax attention (a KV cache).
    pub fn is_attention(self) -> bool {
        self.0.family == Family::Attention
    }

    /// True for sliding-window attention (a KV cache bounded by its window).
    pub fn windowed(self) -> bool {
        self.0.name == sliding_window_attention::MIXER.name
    }

    /// The linear family's kind of recurrence in the shared kernel.
    pub fn recurrence(self) -> Option<Recurrence> {
        self.0.recurrence
    }

    /// True when the decay is per key channel (the chunkwise form materialises `[C, C, d_k]`).
    pub fn channel_gated(self) -> bool {
        self.0.recurrence.is_some_and(|r| r.channel_gated())
    }

    /// The state update in the lecture's notation.
    pub fn update(self) -> &'static str {
        self.0.update
    }

    /// Place in [`REGISTRY`].
    pub fn index(self) -> usize {
        REGISTRY.iter().position(|d| d.name == self.0.name).expect("registered")
    }
}

impl PartialEq for MixerKind {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for MixerKind {}

impl std::hash::Hash for MixerKind {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.name.hash(h)
    }
}

impl PartialOrd for MixerKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MixerKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.index().cmp(&other.index())
    }
}

impl std::fmt::Debug for MixerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl Serialize for MixerKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name)
    }
}

impl<'de> Deserialize<'de> for MixerKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        MixerKind::parse(&name).ok_or_else(|| {
            let known: Vec<_> = MixerKind::all().map(|k| k.name()).collect();
            serde::de::Error::custom(format!("unknown mixer `{name}` (known: {})", known.join(", ")))
        })
    }
}

/// Sizes a mixer is built from (validated by [`crate::model::config`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixerSpec {
    pub kind: MixerKind,
    pub d_model: usize,
    pub head_dim: usize,
    /// Mamba-2's state size N (B and C width).
    pub d_state: usize,
    /// Width of the short causal convolution (Mamba-2, DeltaNet, Gated DeltaNet).
    pub conv_size: usize,
    /// This layer's index and the model's depth (HGRN-2's lower bound grows with depth).
    pub layer: usize,
    pub n_layers: usize,
    /// Delta-rule mixers: `β` in [0, 2] instead of [0, 1] (see `ModelConfig::allow_neg_eigval`).
    pub allow_neg_eigval: bool,
    /// Sliding-window attention: the tokens each query attends to (see `ModelConfig::window`).
    pub window: Option<usize>,
    /// Gated DeltaProduct: delta-rule steps per token (see `ModelConfig::householder_steps`).
    pub householder_steps: usize,
    /// Attention: key/value heads, each serving `heads() / kv_heads` query heads (see
    /// `ModelConfig::kv_heads`).
    pub kv_heads: usize,
}

impl MixerSpec {
    pub fn heads(&self) -> usize {
        self.d_model / self.head_dim
    }
}

/// What a mixer carries from one token to the next.
#[derive(Clone, Debug)]
pub enum State {
    /// Attention: keys (after RoPE) and values of the past tokens it keeps, `[B, H, T, d_head]`: every
    /// token, or the last W under a sliding window; `dropped` tokens came before `k`'s first row (so
    /// the next token's position is `dropped + T`). During decoding `k` and `v` are views of rows
    /// `at..at + T` of capacity buffers (`buffers`), and a step writes its token into the buffers in
    /// place instead of copying the cache; states cloned from one another share those buffers, so
    /// only one of them should be extended at a position.
    Kv { k: Tensor, v: Tensor, dropped: usize, buffers: Option<KvBuffers> },
    /// LSTM / GRU: hidden vector `[B, d]` (and the LSTM cell).
    Rnn { h: Tensor, c: Option<Tensor> },
    /// Linear family: matrix state `[B, H, d_k, d_v]` and the short-conv carry `[B, K-1, C]`.
    Linear { s: Tensor, conv: Option<Tensor> },
}

impl State {
    /// The tensors the state holds.
    pub fn tensors(&self) -> Vec<&Tensor> {
        match self {
            State::Kv { k, v, .. } => vec![k, v],
            State::Rnn { h, c } => std::iter::once(h).chain(c.as_ref()).collect(),
            State::Linear { s, conv } => std::iter::once(s).chain(conv.as_ref()).collect(),
        }
    }

    /// Exact bytes held by the state's tensors.
    pub fn bytes(&self) -> usize {
        self.tensors().iter().map(|t| t.elem_count() * t.dtype().size_in_bytes()).sum()
    }

    /// The state as it would be stored in `dtype` (bf16, f16) and read back: every value rounded to
    /// `dtype`'s precision, kept in its own dtype (the state's precision measurement; the kernels
    /// compute in f32 either way). A KV cache loses its capacity buffers (the next step copies it).
    pub fn rounded_through(&self, dtype: DType) -> Result<State> {
        let round = |t: &Tensor| t.to_dtype(dtype)?.to_dtype(t.dtype());
        Ok(match self {
            State::Kv { k, v, dropped, .. } => {
                State::Kv { k: round(k)?, v: round(v)?, dropped: *dropped, buffers: None }
            }
            State::Rnn { h, c } => State::Rnn { h: round(h)?, c: c.as_ref().map(round).transpose()? },
            State::Linear { s, conv } => State::Linear { s: round(s)?, conv: conv.as_ref().map(round).transpose()? },
        })
    }

    /// The same values cut from the autograd graph (inference must not grow the graph).
    pub fn detach(&self) -> State {
        match self {
            State::Kv { k, v, dropped, buffers } => {
                State::Kv { k: k.detach(), v: v.detach(), dropped: *dropped, buffers: buffers.clone() }
            }
            State::Rnn { h, c } => State::Rnn { h: h.detach(), c: c.as_ref().map(|c| c.detach()) },
            State::Linear { s, conv } => State::Linear { s: s.detach(), conv: conv.as_ref().map(|c| c.detach()) },
        }
    }
}

/// The capacity buffers `[B, H, capacity, d_head]` a decoding KV cache lives in, and the row where
/// its view starts.
#[derive(Clone, Debug)]
pub struct KvBuffers {
    pub k: Tensor,
    pub v: Tensor,
    pub at: usize,
}

/// The contract every token mixer meets.
pub trait Mixer: Send + Sync {
    fn kind(&self) -> MixerKind;

    /// Runs `x: [B, T, d_model]` continuing from `state` (None: start of sequence) and returns the
    /// output `[B, T, d_model]` and the state after the last token. `form` selects the linear family's
    /// kernel form; other mixers have one form and ignore it.
    fn run(&self, x: &Tensor, state: Option<&State>, form: Form) -> Result<(Tensor, State)>;

    /// The state before any token.
    fn empty_state(&self, batch: usize) -> Result<State>;

    /// A state of the size it has after `position` tokens (zero-filled), for timing a decode step at
    /// that position without decoding up to it. Constant-size states are simply empty.
    fn state_at(&self, batch: usize, _position: usize) -> Result<State> {
        self.empty_state(batch)
    }

    /// Exact state bytes after `seq_len` tokens at batch `batch` (f32), without running anything.
    fn state_bytes(&self, batch: usize, seq_len: usize) -> usize;
}

/// Builds the mixer a spec names, with parameters under `p`.
pub fn build(spec: &MixerSpec, p: &Params) -> Result<Box<dyn Mixer>> {
    // Output projections are scaled down with depth (GPT-2 style) so the residual stream stays O(1).
    let out_gain = 1.0 / (2.0 * spec.n_layers as f64).sqrt();
    (spec.kind.descriptor().build)(spec, p, out_gain)
}
