//! Per-token inference latency: time to first token (prefill of a prompt) and the time of one decode
//! step at a given position.
//!
//! A decode step at position p is timed on a state of the size it has after p tokens (a KV cache of p
//! entries for attention; the fixed-size state for recurrent models), zero-filled: dense ops cost the
//! same whatever the values, and it avoids decoding p tokens first. Each sample starts from the same
//! state, so every sample measures exactly position p.

use super::{required, CellSpec, Outcome};
use crate::measure::sample::sample;
use crate::model::LanguageModel;
use crate::results::stats::SamplePlan;
use candle_core::{Result, Tensor};
use std::collections::BTreeMap;

/// Seconds per decode step at `position`, one sample per entry.
pub fn decode_step(model: &LanguageModel, batch: usize, position: usize, plan: &SamplePlan) -> Result<Vec<f64>> {
    let states = model.states_at(batch, position)?;
    let ids = Tensor::zeros((batch, 1), candle_core::DType::U32, model.device())?;
    sample(plan, || {
        let mut s = states.clone();
        let (_, elapsed) = crate::device::timed(model.device(), || model.step(&ids, &mut s))?;
        Ok(Some(elapsed))
    })
}

/// Seconds to prefill a `prompt`-token prompt and produce the first token's logits.
pub fn time_to_first_token(model: &LanguageModel, batch: usize, prompt: usize, plan: &SamplePlan) -> Result<Vec<f64>> {
    let ids = crate::model::data::byte_ids(batch, prompt, 1, model.device())?;
    sample(plan, || {
        let (_, elapsed) = crate::device::timed(model.device(), || model.prefill(&ids, model.default_form()))?;
        Ok(Some(elapsed))
    })
}

/// One decode step at a position: its seconds, the state's bytes, the heap's growth per token, and
/// the bytes a step reads with the bandwidth achieved (beside a copy calibration for large models).
pub fn measure_decode(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let batch = required(spec.settings.batch, "batch")?;
    let samples = decode_step(model, batch, spec.value, &spec.plan)?;
    let mut metrics = BTreeMap::new();
    let state_bytes = model.state_bytes(batch, spec.value + 1);
    metrics.insert("state_bytes".into(), state_bytes as f64);
    // Against the physical limit: a step reads every weight once (the embedding's one row) and the
    // whole state; where the weights outgrow the caches, set beside a measured copy bandwidth.
    let embedding = model.config.vocab * model.config.d_model * model.dtype().size_in_bytes();
    let read = model.param_bytes() - embedding + embedding / model.config.vocab + state_bytes;
    let step = crate::results::stats::median(&samples).max(1e-12);
    metrics.insert("step_bytes_read".into(), read as f64);
    metrics.insert("read_gb_per_s".into(), read as f64 / step / 1e9);
    if model.param_bytes() >= BANDWIDTH_FROM_BYTES && matches!(model.device(), candle_core::Device::Cpu) {
        let copy = crate::measure::env::copy_bandwidth(COPY_BYTES);
        metrics.insert("copy_gb_per_s".into(), copy);
        metrics.insert("bandwidth_fraction".into(), read as f64 / step / 1e9 / copy);
    }
    // Followed over about a second of steps (64 at most, 4 at least: a 1.3B model's step is seconds).
    let steps = (GROWTH_SECONDS / crate::results::stats::median(&samples).max(1e-9)).clamp(4.0, GROWTH_STEPS as f64);
    metrics
        .insert("heap_growth_per_token_bytes".into(), heap_growth_per_token(model, batch, spec.value, steps as usize)?);
    Ok(Outcome::ok(samples, metrics))
}

/// Weights from which a decode step is compared with the memory's bandwidth (below it they stay in
/// the caches): 64 MiB.
const BANDWIDTH_FROM_BYTES: usize = 64 << 20;

/// The copy calibration's buffer: 256 MiB, beyond any last-level cache.
const COPY_BYTES: usize = 256 << 20;

/// Most decode steps over which the heap held is followed, after as many steps of warm-up.
pub const GROWTH_STEPS: usize = 64;

/// About how long (seconds) the heap held is followed: fewer steps for slow (large) models.
const GROWTH_SECONDS: f64 = 1.0;

/// Heap bytes held per decoded token over `steps` steps from position `position` on (after as many
/// steps of warm-up): 0 for a recurrent state, the KV bytes per token for attention (paid in steps
/// as the cache's buffers double, so few steps may see none or one doubling).
pub fn heap_growth_per_token(model: &LanguageModel, batch: usize, position: usize, steps: usize) -> Result<f64> {
    let steps = steps.max(1);
    let mut states = model.states_at(batch, position)?;
    let ids = Tensor::zeros((batch, 1), candle_core::DType::U32, model.device())?;
    for _ in 0..steps {
        model.step(&ids, &mut states)?;
    }
    let before = crate::measure::alloc::current();
    for _ in 0..steps {
        model.step(&ids, &mut states)?;
    }
    Ok((crate::measure::alloc::current() as f64 - before as f64) / steps as f64)
}

pub fn measure_prefill(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let batch = required(spec.settings.batch, "batch")?;
    let samples = time_to_first_token(model, batch, spec.value, &spec.plan)?;
    Ok(Outcome::ok(samples, BTreeMap::new()))
}
