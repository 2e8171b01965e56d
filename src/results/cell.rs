//! One cell of a suite: what is measured ([`Measurement`]), the cell's description
//! ([`CellSpec`], also what a child process receives) and its result ([`CellResult`], as
//! results.json stores it).

use crate::model::config::ModelConfig;
use crate::results::stats::{SamplePlan, Summary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What is measured. The names are the `measurement` field of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measurement {
    /// Tokens/s of a full training step (forward, loss, backward, AdamW), per sequence length.
    TrainThroughput,
    /// Seconds to prefill a prompt and produce the first token (time to first token).
    PrefillLatency,
    /// Seconds of one decode step at a position.
    DecodeLatency,
    /// Exact state bytes at a position, with measured heap and RSS.
    Memory,
    /// Decode tokens/s at a batch size under a memory budget.
    Generation,
    /// Validation bits/byte on the built-in corpus after a fixed number of training steps.
    LmLoss,
    /// MQAR test accuracy against the number of key-value pairs.
    MqarAccuracy,
    /// MQAR test accuracy against the model width (d_model).
    MqarWidth,
    /// Copy-task test accuracy against the length of the string.
    CopyAccuracy,
    /// Running parity (the word problem of S2): accuracy beyond the training length, against the
    /// test length.
    ParityAccuracy,
    /// A permutation group's word problem (S3 by default): accuracy beyond the training length,
    /// against the test length.
    WordProblemAccuracy,
    /// MQAR trained at one length and tested at longer ones, the queries pushed away from their keys
    /// (retrieval beyond the training length): test accuracy against the test length.
    MqarLength,
    /// A language model decoded token by token with its state rounded to bf16 after every step:
    /// top-1 agreement with the same decode in f32 over the held-out bytes (f16 in the metrics).
    StatePrecision,
}

impl Measurement {
    pub const ALL: [Measurement; 13] = [
        Measurement::TrainThroughput,
        Measurement::PrefillLatency,
        Measurement::DecodeLatency,
        Measurement::Memory,
        Measurement::Generation,
        Measurement::LmLoss,
        Measurement::MqarAccuracy,
        Measurement::MqarWidth,
        Measurement::CopyAccuracy,
        Measurement::ParityAccuracy,
        Measurement::WordProblemAccuracy,
        Measurement::MqarLength,
        Measurement::StatePrecision,
    ];

    /// This measurement's row of the registry: name, unit, direction, kind, swept parameter and
    /// Bencher measure (see [`About`]).
    pub fn about(self) -> &'static About {
        use Kind::{Memory, Quality, Timing};
        #[rustfmt::skip]
        let row: &'static About = match self {
            Measurement::TrainThroughput => &About { name: "train_throughput", unit: "tokens/s", higher_is_better: true, kind: Timing, parameter: "seq_len", bencher: ("throughput", 1.0) },
            Measurement::PrefillLatency => &About { name: "prefill_latency", unit: "s", higher_is_better: false, kind: Timing, parameter: "prompt", bencher: ("latency", 1e9) },
            Measurement::DecodeLatency => &About { name: "decode_latency", unit: "s", higher_is_better: false, kind: Timing, parameter: "position", bencher: ("latency", 1e9) },
            Measurement::Memory => &About { name: "memory", unit: "bytes", higher_is_better: false, kind: Memory, parameter: "position", bencher: ("state-bytes", 1.0) },
            Measurement::Generation => &About { name: "generation", unit: "tokens/s", higher_is_better: true, kind: Timing, parameter: "batch", bencher: ("throughput", 1.0) },
            Measurement::LmLoss => &About { name: "lm_loss", unit: "bits/byte", higher_is_better: false, kind: Quality, parameter: "steps", bencher: ("bits-per-byte", 1.0) },
            Measurement::MqarAccuracy => &About { name: "mqar_accuracy", unit: "accuracy", higher_is_better: true, kind: Quality, parameter: "kv_pairs", bencher: ("accuracy", 1.0) },
            Measurement::MqarWidth => &About { name: "mqar_width", unit: "accuracy", higher_is_better: true, kind: Quality, parameter: "d_model", bencher: ("accuracy", 1.0) },
            Measurement::CopyAccuracy => &About { name: "copy_accuracy", unit: "accuracy", higher_is_better: true, kind: Quality, parameter: "length", bencher: ("accuracy", 1.0) },
            Measurement::ParityAccuracy => &About { name: "parity_accuracy", unit: "accuracy", higher_is_better: true, kind: Quality, parameter: "test_len", bencher: ("accuracy", 1.0) },
            Measurement::WordProblemAccuracy => &About { name: "word_problem_accuracy", unit: "accuracy", higher_is_better: true, kind: Quality, parameter: "test_len", bencher: ("accuracy", 1.0) },
            Measurement::MqarLength => &About { name: "mqar_length", unit: "accuracy", higher_is_better: true, kind: Quality, parameter: "test_len", bencher: ("accuracy", 1.0) },
            Measurement::StatePrecision => &About { name: "state_precision", unit: "agreement", higher_is_better: true, kind: Quality, parameter: "tokens", bencher: ("agreement", 1.0) },
        };
        row
    }

    pub fn name(self) -> &'static str {
        self.about().name
    }

    pub fn unit(self) -> &'static str {
        self.about().unit
    }

    /// True when a larger value is better (throughput, accuracy); false for latency, memory, loss.
    pub fn higher_is_better(self) -> bool {
        self.about().higher_is_better
    }

    /// True for the measurements of speed, which `compare --normalize` scales by the calibration.
    pub fn is_timing(self) -> bool {
        self.about().kind == Kind::Timing
    }

    /// True for the quality measurements (trained models), false for speed and memory.
    pub fn is_quality(self) -> bool {
        self.about().kind == Kind::Quality
    }

    /// The swept parameter's name.
    pub fn parameter(self) -> &'static str {
        self.about().parameter
    }
}

/// What kind of figure a measurement gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Speed: scaled by the machine's calibration in `compare --normalize`.
    Timing,
    /// Bytes.
    Memory,
    /// A trained model's quality: one sample per seed.
    Quality,
}

/// One measurement's row of the registry: its name in results, unit, direction, kind, swept
/// parameter, and its Bencher Metric Format measure with the factor from `unit` to it.
#[derive(Debug)]
pub struct About {
    pub name: &'static str,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub kind: Kind,
    pub parameter: &'static str,
    pub bencher: (&'static str, f64),
}

/// Learning rate of a quality cell whose section names none.
pub const DEFAULT_LR: f64 = 3e-3;

/// Validation accuracy at which a quality run counts as solving its setting (the robustness score:
/// the fraction of a learning-rate sweep's runs that reach it).
pub const ROBUST_ACCURACY: f64 = 0.9;

/// Top-1 agreement with the f32-state decode below which the state's precision measurement flags a
/// model's state as sensitive to being stored in bf16 or f16.
pub const PRECISION_FLAG_BELOW: f64 = 0.99;

/// Fixed settings of a cell besides the swept parameter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Batch size (train, latency, memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// Kernel form of the linear family (`chunkwise:64`, `recurrent`, `parallel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// Training recomputes each mixer in the backward instead of keeping its activations (train);
    /// absent: kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recompute: Option<bool>,
    /// Prompt length (generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<usize>,
    /// Tokens generated per sequence (generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<usize>,
    /// Memory budget in bytes (generation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_budget: Option<u64>,
    /// Tokens per prefill chunk when building long states (memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefill_chunk: Option<usize>,
    /// Memory: `true` when the state at the position is built at its size directly (zeros) instead of
    /// by a prefill (a 128k prefill of a 1.3B model is hundreds of TFLOP; the bytes are the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<bool>,
    /// Training steps (quality).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// Sequence length of the task (lm, mqar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<usize>,
    /// Peak learning rate (quality).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Task vocabulary (mqar) or alphabet (copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocab: Option<usize>,
    /// Key-value pairs (mqar_width, mqar_length).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_pairs: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_examples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_examples: Option<usize>,
    /// Learning rates swept (quality): every rate trains on each of the first `sweep_seeds` seeds, and
    /// the one with the best median validation accuracy is the cell's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lrs: Option<Vec<f64>>,
    /// Seeds the rates are swept on (quality; default every seed); the others train at the chosen rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_seeds: Option<usize>,
    /// Seeds trained (quality): `seed, seed + 1, ...`; one sample per seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<usize>,
    /// Validation accuracy at which a run stops training (the setting is solved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stop: Option<f64>,
    /// Steps between validation evaluations (early stopping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_every: Option<usize>,
    /// MQAR query layout: `zoology` or `random`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// State tracking: the group (`s2` for parity, `s3`, `s5`) and the training length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_len: Option<usize>,
}

/// Everything a child process needs to run one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellSpec {
    /// Stable key: `measurement/model[/form]/parameter=value`.
    pub id: String,
    pub measurement: Measurement,
    pub model: ModelConfig,
    /// The row label in tables: the model, plus the form when a suite sweeps forms.
    pub label: String,
    pub parameter: String,
    pub value: usize,
    pub settings: Settings,
    pub plan: SamplePlan,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured.
    Ok,
    /// Refused before allocating (over the memory budget); `metrics.need_bytes` says how much it needed.
    Refused,
    /// Crashed, ran out of memory, timed out or returned an error; `error` says what happened.
    Failed,
}

/// One measured cell, as stored in results.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellResult {
    #[serde(flatten)]
    pub spec: CellSpec,
    pub status: Status,
    pub error: Option<String>,
    pub unit: String,
    /// Raw samples in `unit`.
    pub samples: Vec<f64>,
    pub summary: Option<Summary>,
    /// Secondary figures (bytes, seconds, counts), named with their unit.
    pub metrics: BTreeMap<String, f64>,
    pub wall_seconds: f64,
    /// Calibration (GFLOP/s) of the machine that measured this cell, when it differs from the run's
    /// environment: set by `merge` on every cell from its shard's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_gflops: Option<f64>,
}

impl CellResult {
    /// Quality cells: the runs of the learning-rate sweep (every rate on every sweep seed) whose
    /// validation accuracy reached [`ROBUST_ACCURACY`], and the sweep's runs (cells measured before
    /// the score existed have none).
    pub fn solved_runs(&self) -> Option<(usize, usize)> {
        let runs = *self.metrics.get("sweep_runs")?;
        let fraction = *self.metrics.get("robustness")?;
        Some(((fraction * runs).round() as usize, runs as usize))
    }

    /// A cell that did not produce a measurement.
    pub fn failed(spec: &CellSpec, error: String, wall_seconds: f64) -> CellResult {
        CellResult {
            spec: spec.clone(),
            status: Status::Failed,
            error: Some(error),
            unit: spec.measurement.unit().into(),
            samples: vec![],
            summary: None,
            metrics: BTreeMap::new(),
            wall_seconds,
            calibration_gflops: None,
        }
    }

    pub fn median(&self) -> Option<f64> {
        self.summary.as_ref().map(|s| s.median)
    }
}
