//! Causal multi-head softmax attention with rotary positions and a KV cache.
//!
//! `o_t = Σ_{i<=t} softmax_i(q_t·k_i / sqrt(d)) v_i`; RoPE rotates q and k by their absolute positions;
//! the cache holds every past k (rotated) and v. The operations are in [`crate::kernels::attention`]
//! and [`crate::kernels::rope`].
//! Under a low-precision compute dtype the two products (q·k and p·v) and the cache are in that dtype;
//! RoPE, the scaling, the mask and the softmax stay f32.

use super::{Descriptor, Family, KvBuffers, Mixer, MixerKind, MixerSpec, SizeError, Sizes, State};
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
    build: |spec, p, gain| Ok(Box::new(Attention::new(&MIXER, spec, p, gain)?)),
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

/// Multi-head causal attention up to the output projection: the q/k/v projection, RoPE, the KV cache
/// and the attention itself, over every past token or, with a `window` W, over the last W (the cache
/// then holds at most W tokens); the part every attention variant shares (their mixers add the
/// output projection and whatever gates it). With grouped KV heads (`kv_heads < heads`) each key/value
/// head serves `heads / kv_heads` query heads: the cache holds `kv_heads` heads, and they are
/// repeated to one per query head for the attention kernel (a copy of the cache per call: the
/// bytes held shrink with the grouping, the attention's work does not).
pub struct AttentionCore {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    window: Option<usize>,
    qkv: Linear,
    device: Device,
}

impl AttentionCore {
    pub fn new(spec: &MixerSpec, p: &Params) -> Result<Self> {
        Ok(AttentionCore {
            heads: spec.heads(),
            kv_heads: spec.kv_heads,
            head_dim: spec.head_dim,
            window: spec.window,
            qkv: Linear::new(p, "qkv", spec.d_model, spec.d_model + 2 * spec.kv_heads * spec.head_dim, false, 1.0)?,
            device: p.device().clone(),
        })
    }

    /// Dtype of the products and the KV cache (the projections' weight dtype).
    fn dtype(&self) -> DType {
        self.qkv.weight.dtype()
    }

    /// Tokens the cache holds after `seen` tokens: all of them, or the last W.
    fn kept(&self, seen: usize) -> usize {
        self.window.map_or(seen, |w| seen.min(w))
    }

    /// Capacity buffers for a cache that must hold `need` rows: doubling without a window (appends
    /// cost O(1) amortised); W plus room with one (the view slides along and is moved back to row 0
    /// when it reaches the end, once every `DECODE_ROOM` steps).
    fn buffers(&self, batch: usize, len: usize, need: usize) -> Result<KvBuffers> {
        let capacity = match self.window {
            None => (2 * len).max(need + DECODE_ROOM),
            Some(w) => w.max(need) + DECODE_ROOM,
        };
        let k = Tensor::zeros((batch, self.kv_heads, capacity, self.head_dim), self.dtype(), &self.device)?;
        Ok(KvBuffers { v: k.zeros_like()?, k, at: 0 })
    }

    /// Rotates `x: [B, H, T, d]` holding positions `start..start+T` ([`crate::kernels::rope`]).
    fn rope(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        crate::kernels::rope::rope(x, start, ROPE_BASE)
    }

    /// `[B, kv_heads, T, d]` -> `[B, heads, T, d]`, each KV head repeated for the query heads it serves.
    fn per_query_head(&self, x: &Tensor) -> Result<Tensor> {
        if self.kv_heads == self.heads {
            return Ok(x.clone());
        }
        let (b, kv, t, d) = x.dims4()?;
        x.unsqueeze(2)?.broadcast_as((b, kv, self.heads / kv, t, d))?.contiguous()?.reshape((b, self.heads, t, d))
    }

    /// Attends `x: [B, T, d_model]` continuing from `state`: the heads' outputs merged to
    /// `[B, T, d_model]` (f32, before any output projection) and the state after the last token.
    pub fn attend(&self, x: &Tensor, state: Option<&State>) -> Result<(Tensor, State)> {
        let (b, t, d) = x.dims3()?;
        let heads = |m: Tensor, n: usize| -> Result<Tensor> {
            m.reshape((b, t, n, self.head_dim))?.transpose(1, 2)?.contiguous()
        };
        let qkv = self.qkv.forward(x)?;
        let kv_width = self.kv_heads * self.head_dim;
        let qkv = [qkv.narrow(2, 0, d)?, qkv.narrow(2, d, kv_width)?, qkv.narrow(2, d + kv_width, kv_width)?];
        let (past, dropped, buffers) = match state {
            None => (None, 0, None),
            Some(State::Kv { k, v, dropped, buffers }) => (Some((k, v)), *dropped, buffers.as_ref()),
            Some(other) => candle_core::bail!("attention given a foreign state {other:?}"),
        };
        let len = past.map_or(0, |(k, _)| k.dim(2).unwrap_or(0));
        let start = dropped + len;
        let cd = self.dtype();
        let q = self.rope(&heads(qkv[0].clone(), self.heads)?, start)?.to_dtype(cd)?;
        let k_new = self.rope(&heads(qkv[1].clone(), self.kv_heads)?, start)?.to_dtype(cd)?;
        let v_new = heads(qkv[2].clone(), self.kv_heads)?.to_dtype(cd)?;
        let (k, v, buffers) = match past {
            // Decoding: write the token into the capacity buffers, no copy of the cache (the products
            // below read the views in place on every device); under a window the view's oldest row
            // falls out as the token comes in.
            Some((pk, pv)) if t == 1 => {
                let keep = self.kept(len + 1) - 1;
                let buf = match buffers {
                    Some(buf) if buf.at + len < buf.k.dim(2)? => KvBuffers { at: buf.at + len - keep, ..buf.clone() },
                    _ => {
                        let fresh = self.buffers(b, len, keep + 1)?;
                        if keep > 0 {
                            fresh.k.slice_set(&pk.narrow(2, len - keep, keep)?.contiguous()?, 2, 0)?;
                            fresh.v.slice_set(&pv.narrow(2, len - keep, keep)?.contiguous()?, 2, 0)?;
                        }
                        fresh
                    }
                };
                buf.k.slice_set(&k_new, 2, buf.at + keep)?;
                buf.v.slice_set(&v_new.contiguous()?, 2, buf.at + keep)?;
                let (k, v) = (buf.k.narrow(2, buf.at, keep + 1)?, buf.v.narrow(2, buf.at, keep + 1)?);
                (k, v, Some(buf))
            }
            Some((pk, pv)) if len > 0 => (Tensor::cat(&[pk, &k_new], 2)?, Tensor::cat(&[pv, &v_new], 2)?, None),
            _ => (k_new, v_new, None),
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let (kq, vq) = (self.per_query_head(&k)?, self.per_query_head(&v)?);
        let y = crate::kernels::attention::causal_attention(&q, &kq, &vq, scale, self.window)?;
        let y = y.to_dtype(DType::F32)?.transpose(1, 2)?.reshape((b, t, d))?;
        // The state keeps what the next token may see: the whole cache, or its last W rows.
        let held = k.dim(2)?;
        let keep = self.kept(held);
        let (k, v) = if keep < held { (k.narrow(2, held - keep, keep)?, v.narrow(2, held - keep, keep)?) } else { (k, v) };
        Ok((y, State::Kv { k, v, dropped: start + t - keep, buffers }))
    }

    /// Empty views of fresh capacity buffers (no zero-sized tensor: candle's CUDA kernels reject
    /// some ops on those).
    pub fn empty_state(&self, batch: usize) -> Result<State> {
        self.state_at(batch, 0)
    }

    /// A state after `position` zero tokens (the last W of them under a window), with room for the
    /// decode steps that follow, so a timed step at `position` writes in place.
    pub fn state_at(&self, batch: usize, position: usize) -> Result<State> {
        let keep = self.kept(position);
        let buf = self.buffers(batch, 0, keep)?;
        let (k, v) = (buf.k.narrow(2, 0, keep)?, buf.v.narrow(2, 0, keep)?);
        Ok(State::Kv { k, v, dropped: position - keep, buffers: Some(buf) })
    }

    /// Exact KV-cache bytes after `seq_len` tokens (the last W under a window).
    pub fn state_bytes(&self, batch: usize, seq_len: usize) -> usize {
        2 * batch * self.kept(seq_len) * self.kv_heads * self.head_dim * self.dtype().size_in_bytes()
    }
}

/// Softmax attention, `y = W_o attend(x)`, over every past token or a sliding window (the spec's
/// `window`): the registry entry it was built for is its kind.
pub struct Attention {
    kind: MixerKind,
    core: AttentionCore,
    out: Linear,
}

impl Attention {
    pub fn new(descriptor: &'static Descriptor, spec: &MixerSpec, p: &Params, out_gain: f64) -> Result<Self> {
        Ok(Attention {
            kind: MixerKind::of(descriptor),
            core: AttentionCore::new(spec, p)?,
            out: Linear::new(p, "out", spec.d_model, spec.d_model, false, out_gain)?,
        })
    }
}

impl Mixer for Attention {
    fn kind(&self) -> MixerKind {
        self.kind
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
