//! Training throughput: tokens per second of one full step (forward, loss, backward, AdamW update) at
//! a sequence length, and the peak heap of a step.

use super::{form_of, required, CellSpec, Outcome};
use crate::measure::meter::{Meter, Usage};
use crate::measure::sample::sample;
use crate::model::data::Batcher;
use crate::model::optim::Optimizer;
use crate::model::LanguageModel;
use candle_nn::ParamsAdamW;
use std::collections::BTreeMap;

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
    let tokens = (batch * seq_len) as f64;
    let mut metrics = BTreeMap::new();
    metrics.insert("step_peak_heap_bytes".into(), peak.host_peak as f64);
    if let Some(device_peak) = peak.device_peak {
        metrics.insert("step_peak_device_bytes".into(), device_peak as f64);
    }
    metrics.insert("param_bytes".into(), model.param_bytes() as f64);
    let median = crate::results::stats::Summary::of(&times).median;
    metrics.insert("median_step_seconds".into(), median);
    metrics.insert("model_gflops".into(), tokens / median * model.train_flops_per_token(seq_len) / 1e9);
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
