//! Memory a training step needs, estimated before allocating (so impossible runs are refused with the
//! figure instead of crashing; what the machine has is [`crate::device::available_on`]), and the
//! floor a measured step peak is judged against.

use crate::kernels::{Form, Recurrence};
use crate::model::config::ModelConfig;
use crate::model::mixers::{Family, MixerKind};

/// Upper-bound estimate (bytes) of one training step: weights, gradients and AdamW moments, plus the
/// activations autograd keeps. Deliberately generous: it exists to refuse what cannot fit, not to
/// predict the peak (the benchmarks measure that).
/// `fused_scan`: the fused CPU kernels run (the recurrent form as the fused scan, which keeps no
/// per-token states; the LSTM/GRU recurrences as single ops). `recompute`: the mixers are recomputed
/// in the backward ([`crate::model::recompute`]), so one layer's mixer activations live at a time.
pub fn training_estimate(
    cfg: &ModelConfig,
    params: usize,
    batch: usize,
    seq_len: usize,
    form: Form,
    fused_scan: bool,
    recompute: bool,
) -> usize {
    let f = 4.0; // bytes per f32
    let (b, t, d, l) = (batch as f64, seq_len as f64, cfg.d_model as f64, cfg.n_layers as f64);
    let heads = (cfg.d_model / cfg.head_dim) as f64;
    let dh = cfg.head_dim as f64;
    // Projections, norms, MLP and residuals kept for backward, per layer; plus embeddings and logits.
    let dense = l * 48.0 * b * t * d * f + 4.0 * b * t * cfg.vocab as f64 * f;
    // Per layer, by the mixer's family and, in the linear family, its kind of recurrence.
    let layer = |kind: MixerKind| -> f64 {
        match (kind.family(), kind.recurrence()) {
            (Family::Attention, _) => 4.0 * b * heads * t * t * f,
            // Trained step by step: the backward of each step's slice pads its gradient to the whole
            // sequence, so the peak grows with T² (measured: 5 GiB at T=512, batch 8, d=256, 4 layers).
            // (The fused recurrences keep only their gates: linear in T.)
            (Family::ClassicRnn, _) if fused_scan => 16.0 * b * t * d * f,
            (Family::ClassicRnn, _) => 16.0 * b * t * d * f + b * t * t * d * f,
            (Family::Linear, recurrence) => {
                let recurrence = recurrence.unwrap_or(Recurrence::Plain);
                let state = heads * dh * dh * f * b;
                let chunk = match form {
                    Form::Recurrent if fused_scan => return 8.0 * b * t * d * f + state,
                    Form::Recurrent => return 4.0 * t * state,
                    Form::Chunkwise(c) => (c as f64).min(t),
                    Form::Parallel => seq_len.max(1).next_power_of_two() as f64,
                };
                let per_channel = if recurrence.channel_gated() { dh } else { 1.0 };
                let chunks = (t / chunk).ceil();
                // A rank-one term (RWKV-7) keeps far more [C, C, d_k] intermediates alive through the
                // backward (its WY terms and block inverse): 12.3 GiB measured at T=512, batch 8, 4
                // layers of d = 256 (C = 16), about 46 copies per layer.
                let copies = if recurrence.low_rank() { 50.0 } else { 4.0 };
                copies * b * heads * t * chunk * per_channel * f + 3.0 * chunks * state
            }
        }
    };
    let per_layer = cfg.layer_kinds().into_iter().map(layer);
    let mixers: f64 = if recompute { per_layer.fold(0.0, f64::max) } else { per_layer.sum() };
    (4.0 * params as f64 * f + dense + mixers) as usize
}

/// What one training step must hold at its peak without recomputing anything (bytes): weights,
/// gradients and the two AdamW moments, plus the activations a backward that keeps its forward's
/// values needs (per layer: the block input, both norms' outputs, q/k/v and the mixer output, the
/// MLP's `[g | u]` and its gated product; then the logits and their gradient). A measured peak is
/// judged against it (`step_peak_over_floor`). The fused MLP (`kernels::mlp`) recomputes its
/// hidden activations in the backward instead of keeping them, so a peak can fall below this (GRU
/// at T=512: 0.97x); the figure stays as it was defined, so ratios compare across versions.
pub fn training_floor(cfg: &ModelConfig, params: usize, batch: usize, seq_len: usize) -> usize {
    let tokens = batch * seq_len;
    let per_layer = tokens * (7 * cfg.d_model + 3 * cfg.d_mlp);
    4 * params * 4 + cfg.n_layers * per_layer * 4 + 2 * tokens * cfg.vocab * 4
}

/// A training step that cannot fit: what it needs and what the device has (bytes).
#[derive(Clone, Copy, Debug)]
pub struct TooBig {
    pub need: usize,
    pub available: usize,
}

/// Estimates one training step of the model `cfg` with `params` parameters on `device`
/// ([`training_estimate`], with the fused kernels where they serve the device) and compares it with
/// the memory available there: the estimate when it fits (or nothing says how much is available),
/// [`TooBig`] when it does not. Needs no weights (the parameter count can come from
/// [`crate::model::LanguageModel::shapes_only`]), so callers refuse before allocating anything.
pub fn training_fits(
    cfg: &ModelConfig,
    params: usize,
    device: &candle_core::Device,
    batch: usize,
    seq_len: usize,
    form: Form,
    recompute: bool,
) -> Result<usize, TooBig> {
    let fused = crate::kernels::cpu::enabled(device);
    let need = training_estimate(cfg, params, batch, seq_len, form, fused, recompute);
    match crate::device::available_on(device) {
        Some(available) if need > available => Err(TooBig { need, available }),
        _ => Ok(need),
    }
}

/// The one policy for a training step that may not fit, used by `seqbench train` and the train
/// cells: `Ok(recompute)` — as asked, or turned on (CPU only) when only recomputing the mixers
/// fits — or the refusal, [`TooBig`] for the setting asked.
pub fn training_policy(
    cfg: &ModelConfig,
    params: usize,
    device: &candle_core::Device,
    batch: usize,
    seq_len: usize,
    form: Form,
    recompute: bool,
) -> Result<bool, TooBig> {
    let fits = |rc| training_fits(cfg, params, device, batch, seq_len, form, rc);
    match fits(recompute) {
        Ok(_) => Ok(recompute),
        Err(_) if !recompute && device.is_cpu() && fits(true).is_ok() => Ok(true),
        Err(too_big) => Err(too_big),
    }
}
