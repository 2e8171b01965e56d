//! Token mixers: the only part that differs between seqbench's language models.
//!
//! Every mixer offers the same contract ([`Mixer`]): run a block of tokens continuing from an explicit
//! [`State`] (none = start of sequence), which serves training (`forward`), prompt processing
//! (`prefill`) and decoding (`step`, one token). The linear family is described per model by a
//! [`linear::LinearFamily`] (how x becomes q, k, v, gate, β and how o becomes the output) and shares
//! the kernels in [`crate::kernels`].

pub mod attention;
pub mod deltanet;
pub mod gated_deltanet;
pub mod gla;
pub mod gru;
pub mod hgrn2;
pub mod linear;
pub mod linear_attention;
pub mod lstm;
pub mod mamba2;
pub mod mlstm;
pub mod retnet;
pub mod rwkv6;
pub mod rwkv7;

use crate::kernels::Form;
use crate::model::nn::Params;
use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// Every token mixer seqbench knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum MixerKind {
    Attention,
    Lstm,
    Gru,
    LinearAttention,
    Retnet,
    Mamba2,
    Gla,
    Deltanet,
    GatedDeltanet,
    Hgrn2,
    Mlstm,
    Rwkv6,
    Rwkv7,
}

impl MixerKind {
    pub const ALL: [MixerKind; 13] = [
        MixerKind::Attention,
        MixerKind::Lstm,
        MixerKind::Gru,
        MixerKind::LinearAttention,
        MixerKind::Retnet,
        MixerKind::Mamba2,
        MixerKind::Gla,
        MixerKind::Deltanet,
        MixerKind::GatedDeltanet,
        MixerKind::Hgrn2,
        MixerKind::Mlstm,
        MixerKind::Rwkv6,
        MixerKind::Rwkv7,
    ];

    /// The name used in configs (`mixer = "..."`).
    pub fn name(self) -> &'static str {
        match self {
            MixerKind::Attention => "attention",
            MixerKind::Lstm => "lstm",
            MixerKind::Gru => "gru",
            MixerKind::LinearAttention => "linear_attention",
            MixerKind::Retnet => "retnet",
            MixerKind::Mamba2 => "mamba2",
            MixerKind::Gla => "gla",
            MixerKind::Deltanet => "deltanet",
            MixerKind::GatedDeltanet => "gated_deltanet",
            MixerKind::Hgrn2 => "hgrn2",
            MixerKind::Mlstm => "mlstm",
            MixerKind::Rwkv6 => "rwkv6",
            MixerKind::Rwkv7 => "rwkv7",
        }
    }

    pub fn parse(s: &str) -> Option<MixerKind> {
        MixerKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// True for the linear-attention family (three exact forms).
    pub fn is_linear(self) -> bool {
        !matches!(self, MixerKind::Attention | MixerKind::Lstm | MixerKind::Gru)
    }

    /// True when the decay is per key channel (the chunkwise form materialises `[C, C, d_k]`).
    pub fn channel_gated(self) -> bool {
        matches!(self, MixerKind::Gla | MixerKind::Hgrn2 | MixerKind::Rwkv6 | MixerKind::Rwkv7)
    }

    /// The state update in the lecture's notation (S is d_v x d_k there).
    pub fn recurrence(self) -> &'static str {
        match self {
            MixerKind::Attention => "KV cache: append k_t, v_t; o_t = softmax(q_t K^T) V",
            MixerKind::Lstm => "c_t = f⊙c + i⊙tanh(g), h_t = o⊙tanh(c_t)",
            MixerKind::Gru => "h_t = (1-z)⊙n + z⊙h_{t-1}",
            MixerKind::LinearAttention => "S_t = S_{t-1} + v_t k_t^T",
            MixerKind::Retnet => "S_t = γ S_{t-1} + v_t k_t^T (γ fixed per head)",
            MixerKind::Mamba2 => "S_t = γ_t S_{t-1} + v_t k_t^T (γ_t per head)",
            MixerKind::Gla => "S_t = S_{t-1} Diag(α_t) + v_t k_t^T",
            MixerKind::Deltanet => "S_t = S_{t-1}(I - β_t k_t k_t^T) + β_t v_t k_t^T",
            MixerKind::GatedDeltanet => "S_t = S_{t-1} α_t (I - β_t k_t k_t^T) + β_t v_t k_t^T",
            MixerKind::Hgrn2 => "S_t = S_{t-1} Diag(α_t) + v_t (1 - α_t)^T",
            MixerKind::Mlstm => {
                "S_t = f_t S_{t-1} + i_t v_t k_t^T, z_t = f_t z_{t-1} + i_t k_t; o = S q / max(1, |z·q|)"
            }
            MixerKind::Rwkv6 => "S_t = S_{t-1} Diag(α_t) + v_t k_t^T; o_t = (S_{t-1} + (u ⊙ v_t) k_t^T) q_t",
            MixerKind::Rwkv7 => "S_t = S_{t-1}(Diag(w_t) + a_t b_t^T) + v_t k_t^T; o_t = S_t r_t",
        }
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
}

impl MixerSpec {
    pub fn heads(&self) -> usize {
        self.d_model / self.head_dim
    }
}

/// What a mixer carries from one token to the next.
#[derive(Clone, Debug)]
pub enum State {
    /// Attention: keys (after RoPE) and values of every past token, `[B, H, T, d_head]`. During
    /// decoding `k` and `v` are views of the first T positions of capacity buffers (`buffers`), and a
    /// step writes its token into the buffers in place instead of copying the cache; states cloned
    /// from one another share those buffers, so only one of them should be extended at a position.
    Kv { k: Tensor, v: Tensor, buffers: Option<(Tensor, Tensor)> },
    /// LSTM / GRU: hidden vector `[B, d]` (and the LSTM cell).
    Rnn { h: Tensor, c: Option<Tensor> },
    /// Linear family: matrix state `[B, H, d_k, d_v]` and the short-conv carry `[B, K-1, C]`.
    Linear { s: Tensor, conv: Option<Tensor> },
}

impl State {
    fn tensors(&self) -> Vec<&Tensor> {
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

    /// The same values cut from the autograd graph (inference must not grow the graph).
    pub fn detach(&self) -> State {
        match self {
            State::Kv { k, v, buffers } => State::Kv { k: k.detach(), v: v.detach(), buffers: buffers.clone() },
            State::Rnn { h, c } => State::Rnn { h: h.detach(), c: c.as_ref().map(|c| c.detach()) },
            State::Linear { s, conv } => State::Linear { s: s.detach(), conv: conv.as_ref().map(|c| c.detach()) },
        }
    }
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

    /// Training forward over a whole sequence.
    fn forward(&self, x: &Tensor, form: Form) -> Result<Tensor> {
        Ok(self.run(x, None, form)?.0)
    }

    /// One token `x: [B, 1, d_model]`; the state advances in place, detached from the graph.
    fn step(&self, x: &Tensor, state: &mut State) -> Result<Tensor> {
        let (y, next) = self.run(x, Some(state), Form::Recurrent)?;
        *state = next.detach();
        Ok(y)
    }
}

/// Builds the mixer a spec names, with parameters under `p`.
pub fn build(spec: &MixerSpec, p: &Params) -> Result<Box<dyn Mixer>> {
    // Output projections are scaled down with depth (GPT-2 style) so the residual stream stays O(1).
    let out_gain = 1.0 / (2.0 * spec.n_layers as f64).sqrt();
    Ok(match spec.kind {
        MixerKind::Attention => Box::new(attention::Attention::new(spec, p, out_gain)?),
        MixerKind::Lstm => Box::new(lstm::Lstm::new(spec, p)?),
        MixerKind::Gru => Box::new(gru::Gru::new(spec, p)?),
        MixerKind::LinearAttention => {
            linear::boxed(linear_attention::LinearAttention::new(spec, p, out_gain)?, p.device())
        }
        MixerKind::Retnet => linear::boxed(retnet::RetNet::new(spec, p, out_gain)?, p.device()),
        MixerKind::Mamba2 => linear::boxed(mamba2::Mamba2::new(spec, p, out_gain)?, p.device()),
        MixerKind::Gla => linear::boxed(gla::Gla::new(spec, p, out_gain)?, p.device()),
        MixerKind::Deltanet => linear::boxed(deltanet::DeltaNet::new(spec, p, out_gain)?, p.device()),
        MixerKind::GatedDeltanet => linear::boxed(gated_deltanet::GatedDeltaNet::new(spec, p, out_gain)?, p.device()),
        MixerKind::Hgrn2 => linear::boxed(hgrn2::Hgrn2::new(spec, p, out_gain)?, p.device()),
        MixerKind::Mlstm => linear::boxed(mlstm::Mlstm::new(spec, p, out_gain)?, p.device()),
        MixerKind::Rwkv6 => linear::boxed(rwkv6::Rwkv6::new(spec, p, out_gain)?, p.device()),
        MixerKind::Rwkv7 => linear::boxed(rwkv7::Rwkv7::new(spec, p, out_gain)?, p.device()),
    })
}
