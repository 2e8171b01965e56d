//! Causal softmax attention written from the equation in plain candle ops: the reference of the
//! fused op, the form other devices run, and its baseline in `seqbench bench kernels`.
//!
//! `O = softmax(scale · Q K^T + M) V`, where query i (position `p = Tk - Tq + i`) sees keys
//! `j <= p` (and `j > p - W` with a window `W`). The products run in the inputs' dtype (low precision under `--dtype`); the
//! scores, the mask and the softmax are f32.

use candle_core::{DType, Result, Tensor, D};

/// `q: [B, H, Tq, d]`, `k, v: [B, H, Tk, d]` with `Tk >= Tq`; returns `[B, H, Tq, d]` in `v`'s dtype.
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, window: Option<usize>) -> Result<Tensor> {
    let (tq, tk) = (q.dim(2)?, k.dim(2)?);
    let mut scores = (q.matmul(&k.t()?)?.to_dtype(DType::F32)? * scale)?;
    if tq > 1 || window.is_some_and(|w| w < tk) {
        let mask: Vec<f32> = (0..tq)
            .flat_map(|i| {
                let (first, last) = super::visible_keys(tk - tq + i, window);
                (0..tk).map(move |j| if (first..last).contains(&j) { 0.0 } else { f32::NEG_INFINITY })
            })
            .collect();
        scores = scores.broadcast_add(&Tensor::from_vec(mask, (tq, tk), q.device())?)?;
    }
    candle_nn::ops::softmax(&scores, D::Minus1)?.to_dtype(v.dtype())?.matmul(v)
}
