//! Measuring: one file per measurement of the lecture's table, each running one *cell* (one model,
//! one value of the swept parameter) described by a [`CellSpec`] and returning an [`Outcome`]; the
//! [`runner`] executes a suite's cells in child processes of their own, [`ab`] two binaries' in
//! interleaved rounds; [`sample`] times a cell per its plan; [`alloc`] and [`meter`] account
//! memory; [`env`] records the machine and its calibration.

pub mod ab;
pub mod alloc;
pub mod env;
pub mod generation;
pub mod kernels;
pub mod latency;
pub mod memory;
pub mod meter;
pub mod precision;
pub mod provenance;
pub mod quality;
pub mod runner;
pub mod sample;
pub mod train;

use crate::model::LanguageModel;
use crate::results::stats::Summary;
use crate::results::{CellResult, CellSpec, Measurement, Status};
use std::collections::BTreeMap;
use std::time::Instant;

/// What a measurement returns.
pub struct Outcome {
    pub status: Status,
    pub samples: Vec<f64>,
    pub metrics: BTreeMap<String, f64>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn ok(samples: Vec<f64>, metrics: BTreeMap<String, f64>) -> Outcome {
        Outcome { status: Status::Ok, samples, metrics, error: None }
    }
}

/// Runs one cell in this process.
pub fn run_cell(spec: &CellSpec) -> CellResult {
    let start = Instant::now();
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let outcome = (|| -> anyhow::Result<Outcome> {
        let device = crate::device::selected()?;
        if let Some(refused) = refusal(spec, &device)? {
            return Ok(refused);
        }
        let model = match spec.measurement {
            m if m == Measurement::TrainThroughput || m.is_quality() => {
                LanguageModel::new(&spec.model, spec.seed, &device, crate::device::dtype())?
            }
            _ => LanguageModel::for_inference(&spec.model, spec.seed, &device, crate::device::dtype())?,
        };
        crate::measure::alloc::reset_peak();
        crate::device::reset_peak_allocated(&device);
        let outcome = match spec.measurement {
            Measurement::TrainThroughput => train::measure(&model, spec)?,
            Measurement::PrefillLatency => latency::measure_prefill(&model, spec)?,
            Measurement::DecodeLatency => latency::measure_decode(&model, spec)?,
            Measurement::Memory => memory::measure(&model, spec)?,
            Measurement::Generation => generation::measure(&model, spec)?,
            Measurement::LmLoss => quality::measure_lm(&model, spec)?,
            Measurement::MqarAccuracy | Measurement::MqarWidth | Measurement::MqarLength => {
                quality::measure_mqar(&model, spec)?
            }
            Measurement::StatePrecision => precision::measure(&model, spec)?,
            Measurement::CopyAccuracy => quality::measure_copy(&model, spec)?,
            Measurement::ParityAccuracy | Measurement::WordProblemAccuracy => {
                quality::measure_word_problem(&model, spec)?
            }
        };
        Ok(with_device_memory(outcome, &device))
    })();
    let wall_seconds = start.elapsed().as_secs_f64();
    match outcome {
        Err(e) => CellResult::failed(spec, format!("{e:#}").replace('\n', " "), wall_seconds),
        Ok(mut o) => {
            if let Some(rss) = crate::measure::alloc::peak_rss() {
                o.metrics.insert("peak_rss_bytes".into(), rss as f64);
            }
            // When and with how many threads it ran: `run --jobs N` runs quality cells side by side,
            // each with its share of the threads.
            o.metrics.insert("threads".into(), rayon::current_num_threads() as f64);
            o.metrics.insert("started_unix_seconds".into(), started);
            CellResult {
                spec: spec.clone(),
                status: o.status,
                error: o.error,
                unit: spec.measurement.unit().into(),
                summary: (!o.samples.is_empty()).then(|| Summary::of(&o.samples)),
                samples: o.samples,
                metrics: o.metrics,
                wall_seconds,
                calibration_gflops: None,
            }
        }
    }
}

/// Adds the device memory a cell used on a GPU: the most its tensors held at once during its last
/// measured phase (`device_peak_bytes`, weights included: the high-water mark is reset at the cell's
/// start and again by each phase's [`crate::measure::meter::Meter`]) and all memory in use on the GPU at the
/// end (`device_memory_in_use_bytes`, as nvidia-smi counts it).
fn with_device_memory(mut outcome: Outcome, device: &candle_core::Device) -> Outcome {
    if let Some((_, high)) = crate::device::allocated(device) {
        outcome.metrics.insert("device_peak_bytes".into(), high as f64);
    }
    if let Some(used) = crate::device::memory_in_use(device) {
        outcome.metrics.insert("device_memory_in_use_bytes".into(), used as f64);
    }
    outcome
}

/// Refuses, before its model is built, a cell whose estimated need exceeds the memory available on
/// `device` (or, for generation, its budget): a `refused` outcome whose `need_bytes` (and
/// `available_bytes`) say how much, so a 1.3B cell that cannot fit costs nothing. The estimates
/// read the model's shapes only ([`LanguageModel::shapes_only`]); quality cells always fit.
fn refusal(spec: &CellSpec, device: &candle_core::Device) -> anyhow::Result<Option<Outcome>> {
    let counted = LanguageModel::shapes_only(&spec.model, crate::device::dtype())?;
    let s = &spec.settings;
    let batch = s.batch.unwrap_or(1);
    let (need, hint) = match spec.measurement {
        Measurement::TrainThroughput => {
            let (form, recompute) = (form_of(&counted, spec)?, s.recompute.unwrap_or(false));
            let fits = |rc| {
                let params = counted.num_params();
                crate::model::memory::training_fits(&spec.model, params, device, batch, spec.value, form, rc)
            };
            let need = match fits(recompute) {
                Ok(need) => need,
                Err(too_big) => too_big.need,
            };
            let hint = match fits(true) {
                Ok(with) if !recompute => format!(" (with recompute on: about {with} bytes, which fits)"),
                _ => String::new(),
            };
            (need, hint)
        }
        Measurement::DecodeLatency => {
            let length = spec.value + 2 * latency::GROWTH_STEPS + 1;
            (generation::inference_need(&counted, batch, length, 1), String::new())
        }
        Measurement::PrefillLatency => {
            (generation::inference_need(&counted, batch, spec.value, spec.value), String::new())
        }
        Measurement::Memory => {
            let chunk = s.prefill_chunk.unwrap_or(memory::DEFAULT_PREFILL_CHUNK).max(1);
            (generation::inference_need(&counted, batch, spec.value, chunk), String::new())
        }
        Measurement::Generation => {
            let prompt = required(s.prompt, "prompt")?;
            (generation::need_bytes(&counted, spec.value, prompt, required(s.tokens, "tokens")?), String::new())
        }
        _ => return Ok(None),
    };
    let refused = |message: String, metrics: BTreeMap<String, f64>| {
        Ok(Some(Outcome { status: Status::Refused, samples: vec![], metrics, error: Some(message) }))
    };
    let mut metrics = BTreeMap::from([("need_bytes".to_string(), need as f64)]);
    if let Some(budget) = s.mem_budget.filter(|&b| need as u64 > b) {
        metrics.insert("budget_bytes".into(), budget as f64);
        return refused(format!("needs {need} bytes, over the budget of {budget} bytes"), metrics);
    }
    match crate::device::available_on(device) {
        Some(available) if need > available => {
            metrics.insert("available_bytes".into(), available as f64);
            refused(format!("needs about {need} bytes, {available} available{hint}"), metrics)
        }
        _ => Ok(None),
    }
}

/// The kernel form a cell asks for (the model's chunkwise form by default).
pub fn form_of(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<crate::kernels::Form> {
    match &spec.settings.form {
        None => Ok(model.default_form()),
        Some(f) => crate::kernels::Form::parse(f).map_err(anyhow::Error::msg),
    }
}

/// Settings a measurement cannot run without.
pub fn required(value: Option<usize>, name: &str) -> anyhow::Result<usize> {
    value.ok_or_else(|| anyhow::anyhow!("cell is missing the `{name}` setting"))
}
