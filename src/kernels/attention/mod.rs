//! Causal softmax attention, `O = softmax(scale · Q K^T + causal mask) V`, optionally over a sliding
//! window (query at position p sees keys `p - W < j <= p`): the plain [`reference`] beside the
//! [`fused`] CPU op (flash-style row blocks, backward recomputing P).

pub mod fused;
pub mod reference;

use candle_core::{Result, Tensor};

/// `q: [B, H, Tq, d]`, `k, v: [B, H, Tk, d]` (`Tk >= Tq`; the queries are the last `Tq` positions;
/// `k` and `v` may be views of a KV cache's buffers): the fused op where it serves (f32 on the CPU),
/// else the reference. `window`: each query sees only its last `W` keys (itself included).
/// Differentiable in all three inputs.
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, window: Option<usize>) -> Result<Tensor> {
    if crate::kernels::cpu::serves(q) {
        return fused::causal_attention(q, k, v, scale, window);
    }
    reference::causal_attention(q, k, v, scale, window)
}

/// The keys `first..last` (exclusive) that the query at position `p` (0-based, in the keys' frame)
/// sees: `p - W < j <= p`.
pub fn visible_keys(p: usize, window: Option<usize>) -> (usize, usize) {
    ((p + 1).saturating_sub(window.unwrap_or(usize::MAX)), p + 1)
}
