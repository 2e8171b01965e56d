//! Training throughput: tokens per second of one full step (forward, loss, backward, AdamW update) at
//! a sequence length, the peak heap of a step, and the model FLOP utilisation (MFU): the model's
//! FLOP/s over the machine's own peak, a 1024x1024 f32 GEMM calibrated just before and just after the
//! timed steps on the same threads (the median of the two), with a GEMM of the model's own MLP shape
//! beside it.

use super::{form_of, required, CellSpec, Outcome};
use crate::measure::env::{calibrate, calibrate_shape};
use crate::measure::meter::{Meter, Usage};
use crate::measure::sample::sample;
use crate::model::data::Batcher;
use crate::model::optim::Optimizer;
use crate::model::LanguageModel;
use candle_nn::ParamsAdamW;
use std::collections::BTreeMap;

/// The peak's GEMM: 1024 x 1024 f32 (about 2.1 GFLOP), sampled for this many seconds each side.
const GEMM_SIDE: usize = 1024;
const GEMM_SECONDS: f64 = 0.3;

pub fn measure(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let batch = required(spec.settings.batch, "batch")?;
    let seq_len = spec.value;
    let form = form_of(model, spec)?;
    let recompute = spec.settings.recompute.unwrap_or(false);
    model.set_recompute(recompute)?;
    // (A step that cannot fit was refused before the model was built: `super::refusal`.)
    let mut opt = Optimizer::for_model(model, ParamsAdamW { lr: 1e-4, ..Default::default() })?;
    let data: Vec<u8> = crate::model::data::synthetic::generate(seq_len * batch * 4 + 1024, spec.seed).bytes;
    let mut batcher = Batcher::new(spec.seed);
    let mut peak = Usage::default();
    let gemm_before = calibrate(model.device(), GEMM_SIDE, GEMM_SECONDS)?.median;
    let times = sample(&spec.plan, || -> anyhow::Result<_> {
        let (x, y) = batcher.sample(&data, batch, seq_len, model.device())?;
        let meter = Meter::start(model.device());
        let ((), elapsed) = crate::device::timed(model.device(), || -> anyhow::Result<()> {
            let loss = model.loss(&x, &y, form)?;
            if let Some(grads) = opt.backward(&loss)? {
                opt.step(grads, None)?;
            }
            Ok(())
        })?;
        peak = peak.max(meter.finish());
        Ok(Some(elapsed))
    })?;
    let gemm_after = calibrate(model.device(), GEMM_SIDE, GEMM_SECONDS)?.median;
    let tokens = (batch * seq_len) as f64;
    let mut metrics = BTreeMap::new();
    metrics.insert("step_peak_heap_bytes".into(), peak.host_peak as f64);
    if let Some(device_peak) = peak.device_peak {
        metrics.insert("step_peak_device_bytes".into(), device_peak as f64);
    }
    metrics.insert("param_bytes".into(), model.param_bytes() as f64);
    let median = crate::results::stats::Summary::of(&times).median;
    metrics.insert("median_step_seconds".into(), median);
    let model_gflops = tokens / median * model.train_flops_per_token(seq_len) / 1e9;
    metrics.insert("model_gflops".into(), model_gflops);
    let peak_gflops = 0.5 * (gemm_before + gemm_after);
    metrics.insert("gemm_gflops_before".into(), gemm_before);
    metrics.insert("gemm_gflops_after".into(), gemm_after);
    metrics.insert("peak_gflops".into(), peak_gflops);
    metrics.insert("mfu".into(), model_gflops / peak_gflops);
    let rows = (batch * seq_len).min(4096);
    let shape = calibrate_shape(model.device(), rows, model.config.d_model, model.config.d_mlp, GEMM_SECONDS)?;
    metrics.insert("shape_gemm_gflops".into(), shape.median);
    let floor = crate::model::memory::training_floor(&model.config, model.num_params(), batch, seq_len);
    metrics.insert("activation_floor_bytes".into(), floor as f64);
    // The floor is judged against the memory the step's tensors live in.
    let step_peak = peak.device_peak.unwrap_or(peak.host_peak);
    metrics.insert("step_peak_over_floor".into(), step_peak as f64 / floor as f64);
    if opt.skipped_steps > 0 {
        metrics.insert("skipped_steps".into(), opt.skipped_steps as f64);
    }
    Ok(Outcome::ok(times.iter().map(|t| tokens / t).collect(), metrics))
}
