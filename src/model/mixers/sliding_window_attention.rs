//! Sliding-window attention (Mistral 7B; Gemma's local layers): causal softmax attention over the last
//! W tokens only,
//!
//! `o_t = Σ_{t-W < i <= t} softmax_i(q_t·k_i / sqrt(d)) v_i`,
//!
//! so the KV cache holds at most W tokens: decode cost and state stop growing at position W. The
//! Transformer's own answer to the linear family's constant state, measured beside it; what it gives
//! up is recall of anything older than W tokens. Same projections, RoPE and kernels as
//! [`super::attention`] (the window is a mask in [`crate::kernels::attention`]); W is the model
//! file's `window`.

use super::attention::{even_head_dim, Attention};
use super::{Descriptor, Family};

/// Sliding-window attention in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "sliding_window_attention",
    family: Family::Attention,
    update: "KV cache of the last W tokens: append k_t, v_t, drop token t-W; o_t = softmax(q_t K^T) V",
    recurrence: None,
    beats: &[],
    validate: even_head_dim,
    build: |spec, p, gain| Ok(Box::new(Attention::new(&MIXER, spec, p, gain)?)),
};
