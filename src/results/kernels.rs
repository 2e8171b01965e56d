//! The op-level benchmark's record (`seqbench bench kernels`, kernels.json: schema
//! `seqbench.kernels` version 1): one row per kernel, form and grid point.

use super::stats::Summary;
use super::Environment;
use serde::{Deserialize, Serialize};

/// One timed grid point.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KernelRow {
    pub kernel: String,
    pub form: String,
    pub batch: usize,
    pub seq_len: usize,
    pub heads: usize,
    pub head_dim: usize,
    /// Seconds of the forward pass (median, with the summary and raw samples).
    pub forward: Summary,
    pub forward_samples: Vec<f64>,
    /// Seconds of forward + backward.
    pub backward: Summary,
    pub backward_samples: Vec<f64>,
    /// Tokens per second of forward + backward (batch x T / median).
    pub tokens_per_s: f64,
}

/// kernels.json.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KernelResults {
    pub schema: String,
    pub schema_version: u32,
    pub run_id: String,
    pub created: String,
    pub environment: Environment,
    pub rows: Vec<KernelRow>,
    /// Points not run because they would not fit in memory.
    pub skipped: Vec<String>,
}
