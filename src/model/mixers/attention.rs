//! Causal multi-head softmax attention with rotary positions and a KV cache.
//!
//! `o_t = Σ_{i<=t} softmax_i(q_t·k_i / sqrt(d)) v_i`; RoPE rotates q and k by their absolute positions;
//! the cache holds every past k (rotated) and v. The operations are in [`crate::kernels::attention`]
//! and [`crate::kernels::rope`].
//! Under a low-precision compute dtype the two products (q·k and p·v) and the cache are in that dtype;
//! RoPE, the scaling, the mask and the softmax stay f32.

use super::{Descriptor, Family, Mixer, MixerKind, MixerSpec, SizeError, Sizes, State};
use crate::kernels::Form;
use crate::model::nn::{Linear, Params};
use candle_core::{DType, Device, Result, Tensor};

/// Attention in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "attention",
    family: Family::Attention,
    update: "KV cache: append k_t, v_t; o_t = softmax(q_t K^T) V",
    recurrence: None,
    beats: &[],
    validate: even_head_dim,
    build: |spec, p, gain| Ok(Box::new(Attention::new(spec, p, gain)?)),
};

/// RoPE rotates pairs of channels: the head dimension must be even.
pub(super) fn even_head_dim(s: &Sizes) -> std::result::Result<(), SizeError> {
    if s.head_dim % 2 != 0 {
        return Err(("head_dim", "must be even for rotary positions".into()));
    }
    Ok(())
}

/// RoPE base frequency.
const ROPE_BASE: f64 = 10_000.0;

/// Positions of room a fresh decode buffer gets beyond what it must hold (and at least doubling).
const DECODE_ROOM: usize = 256;

/// New capacity buffers `[B, H, capacity, d]` holding the cache `pk, pv`, with room for `need`
/// positions and more (doubling, so appends cost O(1) amortised).
fn grow(pk: &Tensor, pv: &Tensor, need: usize) -> Result<(Tensor, Tensor)> {
    let (b, h, len, d) = pk.dims4()?;
    let capacity = (2 * len).max(need + DECODE_ROOM);
    let kb = Tensor::zeros((b, h, capacity, d), pk.dtype(), pk.device())?;
    let vb = kb.zeros_like()?;
    if len > 0 {
        kb.slice_set(&pk.contiguous()?, 2, 0)?;
        vb.slice_set(&pv.contiguous()?, 2, 0)?;
    }
    Ok((kb, vb))
}

/// Multi-head causal attention up to the output projection: the q/k/v projection, RoPE, the KV cache
/// and the attention itself; the part every attention variant shares (their mixers add the output
/// projection and whatever gates it).
pub struct AttentionCore {
    heads: usize,
    head_dim: usize,
    qkv: Linear,
    device: Device,
}

impl AttentionCore {
    pub fn new(spec: &MixerSpec, p: &Params) -> Result<Self> {
        Ok(AttentionCore {
            heads: spec.heads(),
            head_dim: spec.head_dim,
            qkv: Linear::new(p, "qkv", spec.d_model, 3 * spec.d_model, false, 1.0)?,
            device: p.device().clone(),
        })
    }

    /// Dtype of the products and the KV cache (the projections' weight dtype).
    fn dtype(&self) -> DType {
        self.qkv.weight.dtype()
    }

    /// Rotates `x: [B, H, T, d]` holding positions `start..start+T` ([`crate::kernels::rope`]).
    fn rope(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        crate::kernels::rope::rope(x, start, ROPE_BASE)
    }
    /// Attends `x: [B, T, d_model]` continuing from `state`: the heads' outputs merged to
    /// `[B, T, d_model]` (f32, before any output projection) and the state after the last token.
    pub fn attend(&self, x: &Tensor, state: Option<&State>) -> Result<(Tensor, State)> {
        let (b, t, d) = x.dims3()?;
        let heads = |m: Tensor| -> Result<Tensor> {
            m.reshape((b, t, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous()
        };
        let qkv = self.qkv.forward(x)?.chunk(3, 2)?;
        let (past, buffers) = match state {
            None => (None, None),
            Some(State::Kv { k, v, buffers }) => (Some((k, v)), buffers.as_ref()),
            Some(other) => candle_core::bail!("attention given a foreign state {other:?}"),
        };
        let start = past.map_or(0, |(k, _)| k.dim(2).unwrap_or(0));
        let cd = self.dtype();
        let q = self.rope(&heads(qkv[0].clone())?, start)?.to_dtype(cd)?;
        let k_new = self.rope(&heads(qkv[1].clone())?, start)?.to_dtype(cd)?;
        let v_new = heads(qkv[2].clone())?.to_dtype(cd)?;
        let (k, v, buffers) = match past {
            // Decoding: write the token into the capacity buffers, no copy of the cache (the products
            // below read the views in place on every device).
            Some((pk, pv)) if t == 1 => {
                let (kb, vb) = match buffers {
                    Some((kb, vb)) if kb.dim(2)? > start => (kb.clone(), vb.clone()),
                    _ => grow(pk, pv, start + 1)?,
                };
                kb.slice_set(&k_new, 2, start)?;
                vb.slice_set(&v_new.contiguous()?, 2, start)?;
                (kb.narrow(2, 0, start + 1)?, vb.narrow(2, 0, start + 1)?, Some((kb, vb)))
            }
            Some((pk, pv)) if start > 0 => (Tensor::cat(&[pk, &k_new], 2)?, Tensor::cat(&[pv, &v_new], 2)?, None),
            _ => (k_new, v_new, None),
        };
        let y = crate::kernels::attention::causal_attention(&q, &k, &v, 1.0 / (self.head_dim as f64).sqrt())?;
        let y = y.to_dtype(DType::F32)?.transpose(1, 2)?.reshape((b, t, d))?;
        Ok((y, State::Kv { k, v, buffers }))
    }

    /// Empty views of fresh capacity buffers (no zero-sized tensor: candle's CUDA kernels reject
    /// some ops on those).
    pub fn empty_state(&self, batch: usize) -> Result<State> {
        self.state_at(batch, 0)
    }

    /// A state of `position` zero tokens, with room for the decode steps that follow.
    pub fn state_at(&self, batch: usize, position: usize) -> Result<State> {
        // Room for the decode steps that follow, so a timed step at `position` writes in place.
        let kb = Tensor::zeros((batch, self.heads, position + DECODE_ROOM, self.head_dim), self.dtype(), &self.device)?;
        let vb = kb.zeros_like()?;
        Ok(State::Kv { k: kb.narrow(2, 0, position)?, v: vb.narrow(2, 0, position)?, buffers: Some((kb, vb)) })
    }

    /// Exact KV-cache bytes after `seq_len` tokens.
    pub fn state_bytes(&self, batch: usize, seq_len: usize) -> usize {
        2 * batch * seq_len * self.heads * self.head_dim * self.dtype().size_in_bytes()
    }
}

/// Softmax attention: `y = W_o attend(x)`.
pub struct Attention {
    core: AttentionCore,
    out: Linear,
}

impl Attention {
    pub fn new(spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        Ok(Attention {
            core: AttentionCore::new(spec, p)?,
            out: Linear::new(p, "out", spec.d_model, spec.d_model, false, out_gain)?,
        })
    }
}

impl Mixer for Attention {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn run(&self, x: &Tensor, state: Option<&State>, _form: Form) -> Result<(Tensor, State)> {
        let (y, state) = self.core.attend(x, state)?;
        Ok((self.out.forward(&y)?, state))
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
