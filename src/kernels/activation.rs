//! Elementwise activations in plain candle ops, so autograd sees them (candle's own fast `sigmoid`
//! is a custom op): the gates of every mixer.

use candle_core::{Result, Tensor};

/// `σ(x) = 1 / (1 + e^{-x})`.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    (x.neg()?.exp()? + 1.0)?.recip()
}

/// `softplus(x) = log(1 + e^x)`, computed stably as `max(x, 0) + log(1 + e^{-|x|})`.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// `log σ(x) = -softplus(-x)`.
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    softplus(&x.neg()?)?.neg()
}
