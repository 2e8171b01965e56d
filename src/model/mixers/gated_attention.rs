//! Gated attention (Qiu et al. 2025, "Gated Attention for Large Language Models"; the attention layers
//! of Qwen3-Next): softmax attention whose output is multiplied, channel by channel, by a sigmoid gate
//! computed from the token's own input, before the output projection:
//!
//! `o_t = Σ_{i<=t} softmax_i(q_t·k_i / sqrt(d)) v_i`, `y_t = W_o (o_t ⊙ σ(W_g x_t))`.
//!
//! The gate makes the layer's output sparse and input-dependent (the paper's remedy for attention
//! sinks); the state is attention's KV cache, unchanged. Every KV head serves one query head here
//! (grouped KV heads, as Qwen3-Next uses, are not modelled).

use super::attention::{even_head_dim, AttentionCore};
use super::{Descriptor, Family, Mixer, MixerKind, MixerSpec, State};
use crate::kernels::activation::sigmoid;
use crate::kernels::Form;
use crate::model::nn::{Linear, Params};
use candle_core::{Result, Tensor};

/// Gated attention in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "gated_attention",
    family: Family::Attention,
    update: "KV cache: append k_t, v_t; o_t = softmax(q_t K^T) V ⊙ σ(W_g x_t)",
    recurrence: None,
    beats: &[],
    validate: even_head_dim,
    build: |spec, p, gain| Ok(Box::new(GatedAttention::new(spec, p, gain)?)),
};

pub struct GatedAttention {
    core: AttentionCore,
    gate: Linear,
    out: Linear,
}

impl GatedAttention {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        Ok(GatedAttention {
            core: AttentionCore::new(spec, p)?,
            gate: Linear::new(p, "gate", spec.d_model, spec.d_model, false, 1.0)?,
            out: Linear::new(p, "out", spec.d_model, spec.d_model, false, out_gain)?,
        })
    }
}

impl Mixer for GatedAttention {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn run(&self, x: &Tensor, state: Option<&State>, _form: Form) -> Result<(Tensor, State)> {
        let (o, state) = self.core.attend(x, state)?;
        let gated = (o * sigmoid(&self.gate.forward(x)?)?)?;
        Ok((self.out.forward(&gated)?, state))
    }

    fn empty_state(&self, batch: usize) -> Result<State> {
        self.core.empty_state(batch)
    }

    fn state_at(&self, batch: usize, position: usize) -> Result<State> {
        self.core.state_at(batch, position)
    }

    fn state_bytes(&self, batch: usize, seq_len: usize) -> usize {
        self.core.state_bytes(batch, seq_len)
    }
}
