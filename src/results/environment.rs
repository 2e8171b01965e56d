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
    /// How the binary that measured was built (absent in runs recorded before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    /// The CPU's instruction-set level and SIMD features (absent in runs recorded before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_isa: Option<CpuIsa>,
    /// The command line of the process that wrote the file (absent in runs recorded before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<Vec<String>>,
}

/// How a seqbench binary was built: what makes two binaries' figures comparable or not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// The commit of the sources (12 hex digits), `-dirty` when they had uncommitted changes.
    pub git_commit: String,
    pub dirty: bool,
    pub seqbench_version: String,
    pub candle_version: String,
    pub rustc: String,
    /// sha256 of the binary file itself.
    pub binary_sha256: Option<String>,
    /// The x86-64 level the binary was compiled for (`x86-64-v3` = AVX2, `x86-64-v4` = AVX-512).
    pub isa: String,
    /// The SIMD target features compiled in.
    pub target_features: Vec<String>,
    /// Who said so: `binary` (its own `env --json`), or, for a binary too old to say, `declared on
    /// the command line` or `nobody`.
    pub reported_by: String,
}

/// The instruction set a CPU offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CpuIsa {
    /// `x86-64-v2`, `x86-64-v3` (AVX2, FMA) or `x86-64-v4` (AVX-512 F/BW/CD/DQ/VL).
    pub level: String,
    /// Named SIMD features present (avx2, avx512f, avx512bf16, amx-tile, ...).
    pub features: Vec<String>,
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

    /// What tells machines apart in a merged run: host name (when known), CPU, its ISA level,
    /// cores and memory.
    pub fn machine(&self) -> String {
        let memory = self.memory_bytes.map_or("memory unknown".into(), crate::output::bytes);
        let cpu = self.cpu_label();
        match &self.hostname {
            Some(h) => format!("{h}: {cpu}, {} cores, {memory}", self.cores),
            None => format!("{cpu}, {} cores, {memory}", self.cores),
        }
    }

    /// The CPU's name with its ISA level when recorded: `AMD EPYC (x86-64-v4)`.
    pub fn cpu_label(&self) -> String {
        match &self.cpu_isa {
            Some(isa) => format!("{} ({})", self.cpu_model, isa.level),
            None => self.cpu_model.clone(),
        }
    }
}
