//! The machine a run was measured on, as results.json records it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    pub cores: usize,
    pub threads: usize,
    pub memory_bytes: Option<usize>,
    pub os: String,
    pub device: String,
    /// The GPU: name, compute capability, memory, driver (absent on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    pub dtype: String,
    pub candle_version: String,
    pub seqbench_version: String,
    pub git_commit: String,
    pub features: Vec<String>,
    /// Median GFLOP/s of a 512x512 by 512x512 f32 matmul on the device, measured in this run.
    pub calibration_gflops: f64,
    /// The machine's host name (absent in runs recorded before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl Environment {
    /// The device, with the GPU's description when there is one.
    pub fn device_label(&self) -> String {
        match &self.gpu {
            Some(gpu) => format!("{}: {gpu}", self.device),
            None => self.device.clone(),
        }
    }

    /// The distinct machines among `environments` ([`Environment::machine`]), sorted.
    pub fn machines<'a>(environments: impl Iterator<Item = &'a Environment>) -> Vec<String> {
        let set: std::collections::BTreeSet<String> = environments.map(Environment::machine).collect();
        set.into_iter().collect()
    }

    /// What tells machines apart in a merged run: host name (when known), CPU, cores and memory.
    pub fn machine(&self) -> String {
        let memory = self.memory_bytes.map_or("memory unknown".into(), crate::output::bytes);
        match &self.hostname {
            Some(h) => format!("{h}: {}, {} cores, {memory}", self.cpu_model, self.cores),
            None => format!("{}, {} cores, {memory}", self.cpu_model, self.cores),
        }
    }
}
