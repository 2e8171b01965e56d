//! What a run's analysis stores beside its cells (results.json's `derived`): the data only. The
//! analyses that compute it are [`crate::analysis`] (one file per analysis: the scorecard, the hybrid
//! ratio, the crossovers with attention, the quality findings under the separation rule); the
//! sentences written from it are [`crate::report::verdict`]'s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Figures computed from the cells.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Derived {
    /// Least-squares slope of exact state bytes over position, per model (bytes/token, batch as run).
    pub memory_growth_bytes_per_token: BTreeMap<String, f64>,
    /// One line per measurement.
    pub verdicts: Vec<String>,
    /// The lecture's table, measured: one row per model ([`Scorecard`]).
    #[serde(default)]
    pub scorecard: Scorecard,
    /// Per share of attention layers in a hybrid (the suite's `[hybrid_ratio]`; empty without it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hybrid_ratio: Vec<Share>,
    /// Per measurement, size and model, where it overtakes attention of its size
    /// ([`Crossover`]; empty when the run has no attention to compare with).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crossovers: Vec<Crossover>,
    /// The quality verdicts as data: rankings and every ordering judged by the separation rule
    /// ([`Findings`]; empty without quality cells).
    #[serde(default)]
    pub findings: Findings,
}

/// One model's row (models matched by name across the sizes of the sections).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub model: String,
    /// Training tokens/s at the longest length of the train section (the model's best form), over
    /// attention's at that length.
    pub train_vs_attention: Option<f64>,
    /// Median decode step at the last position of the latency grid over the first.
    pub decode_growth: Option<f64>,
    /// Exact state (or KV-cache) bytes at the longest position of the memory grid.
    pub state_bytes: Option<f64>,
    /// MQAR test accuracy at the largest number of pairs: median, lowest and highest over seeds.
    pub mqar: Option<[f64; 3]>,
    /// The MQAR cell's robustness: runs of its learning-rate sweep that reached
    /// [`super::cell::ROBUST_ACCURACY`] on validation, and the sweep's runs (absent in older runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqar_solved: Option<(usize, usize)>,
    /// Parity accuracy beyond the training length, at the longest test length: median, low, high.
    pub parity: Option<[f64; 3]>,
    /// Word-problem accuracy beyond the training length, at the longest test length.
    pub word_problem: Option<[f64; 3]>,
}

/// The grid values each column is read at: the longest length, last position, most pairs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub train_seq_len: Option<usize>,
    pub decode_positions: Option<(usize, usize)>,
    pub memory_position: Option<usize>,
    pub mqar_kv_pairs: Option<usize>,
    pub parity_len: Option<usize>,
    pub word_problem_len: Option<usize>,
    pub rows: Vec<ScoreRow>,
}

/// One share's figures, `None` where the run did not measure them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub model: String,
    pub attention_layers: usize,
    pub n_layers: usize,
    /// MQAR test accuracy at the largest number of pairs: median, lowest, highest over seeds.
    pub mqar: Option<[f64; 3]>,
    /// Median decode step (seconds) at the last position of the latency grid.
    pub decode_seconds: Option<f64>,
    /// Exact state and KV-cache bytes at the longest position of the memory grid.
    pub state_bytes: Option<f64>,
    /// Training tokens/s at the longest length of the train section.
    pub train_tokens_per_sec: Option<f64>,
}

/// One model of a ranking: its median and range over seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub label: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub seeds: usize,
}

/// The models of one quality measurement, best median first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub measurement: String,
    pub models: Vec<Ranked>,
}

/// One ordering of two models judged by the separation rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ordering {
    pub measurement: String,
    /// `ranking` (neighbours of the ranking, one Holm family) or `literature` (the orderings the
    /// literature expects, another family).
    pub family: String,
    /// The model ranked (or expected) better, and the other.
    pub better: String,
    pub worse: String,
    /// `separated` (the ordering holds at the family-wise error rate), `reversed` (separated the
    /// other way) or `not_separable`.
    pub verdict: String,
    /// Two-sided exact permutation p of the difference of means, and Holm's adjusted p over the family.
    pub p: f64,
    pub p_holm: f64,
    /// Seeds of `better` and of `worse`.
    pub seeds: [usize; 2],
}

/// Every ranking and judged ordering of the run (empty without quality cells).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    pub rankings: Vec<Ranking>,
    pub orderings: Vec<Ordering>,
}

/// One model against attention of the same size on one measurement's grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crossover {
    /// `train_throughput`, `decode_latency`, `memory`, or `kv_cache_10x` / `kv_cache_100x` (by
    /// formula: `grid` empty, `from` the smallest length at which attention's KV cache is that many
    /// times the model's state at batch 1).
    pub measurement: String,
    pub size: String,
    /// The models' width at this size (0 in runs saved before it was recorded).
    #[serde(default)]
    pub d_model: usize,
    /// The model's name (without the size).
    pub model: String,
    /// The smallest grid value at which the model beats attention, every sample beyond; `None`
    /// when it does not at any value measured for both.
    pub from: Option<usize>,
    /// The grid values measured for both, ascending.
    pub grid: Vec<usize>,
    /// At the largest value of `grid`: how many times better the model is than attention (its
    /// tokens/s over attention's; attention's step seconds or bytes over its own), medians.
    pub advantage_at_largest: Option<f64>,
}
