//! Causal softmax attention, `O = softmax(scale · Q K^T + causal mask) V`: the plain [`reference`]
//! beside the [`fused`] CPU op (flash-style row blocks, backward recomputing P).

pub mod fused;
pub mod reference;

use candle_core::{Result, Tensor};

/// `q: [B, H, Tq, d]`, `k, v: [B, H, Tk, d]` (`Tk >= Tq`; the queries are the last `Tq` positions;
/// `k` and `v` may be views of a KV cache's buffers): the fused op where it serves (f32 on the CPU),
/// else the reference. Differentiable in all three inputs.
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    if crate::kernels::cpu::serves(q) {
        return fused::causal_attention(q, k, v, scale);
    }
    reference::causal_attention(q, k, v, scale)
}
