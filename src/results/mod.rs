//! The data model of a run, as results.json records it (schema `seqbench.results` version 1,
//! docs/results-schema.md): the suite and its cells, the environment, the shards of a merged run;
//! loading it; statistics, the comparison of two runs, the merge of shards. The analyses stored in
//! its `derived` part ([`derived`]) are `analysis`'s; writing and drawing it is `report`'s.

pub mod cell;
pub mod compare;
pub mod derived;
pub mod environment;
pub mod kernels;
pub mod merge;
pub mod shard;
pub mod stats;
pub mod suite;

pub use cell::{CellResult, CellSpec, Measurement, Settings, Status, PRECISION_FLAG_BELOW};
pub use derived::Derived;
pub use environment::Environment;
pub use shard::{Partial, Shard, ShardRecord, SlurmTask, SLURM_VARIABLES};
pub use suite::Suite;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The `schema` field of results.json.
pub const SCHEMA: &str = "seqbench.results";
/// Bumped on any incompatible change of results.json.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run produced.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub schema: String,
    pub schema_version: u32,
    pub run_id: String,
    /// RFC 3339 UTC.
    pub created: String,
    /// Set when every planned cell has a result.
    pub finished: Option<String>,
    pub suite: Suite,
    pub environment: Environment,
    /// Planned cells (ids), in order; `cells` holds those that have a result.
    pub planned: Vec<String>,
    /// Set when this run holds one shard of its suite (`run --shard I/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Set on a merged run: every shard it was joined from, with the environment that measured it
    /// (`environment` above is the first shard's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardRecord>,
    /// Set when `merge --allow-partial` joined an incomplete set of shards: what is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    pub cells: Vec<CellResult>,
    pub derived: Derived,
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Results {
    pub fn new(run_id: String, suite: Suite, environment: Environment, planned: Vec<String>) -> Results {
        Results {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            run_id,
            created: now_rfc3339(),
            finished: None,
            suite,
            environment,
            planned,
            shard: None,
            shards: Vec::new(),
            partial: None,
            cells: Vec::new(),
            derived: Derived::default(),
        }
    }

    /// Reads a results.json (or the one in a run directory), checking schema and version.
    pub fn load(path: &Path) -> anyhow::Result<Results> {
        let file = if path.is_dir() { path.join("results.json") } else { path.to_path_buf() };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| crate::error::usage(format!("{}: cannot read results: {e}", file.display())))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| crate::error::usage(format!("{}: not JSON: {e}", file.display())))?;
        if value.get("schema").and_then(|s| s.as_str()) != Some(SCHEMA) {
            return Err(crate::error::usage(format!("{}: not a seqbench results file", file.display())));
        }
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        if version != Some(SCHEMA_VERSION as u64) {
            return Err(crate::error::usage(format!(
                "{}: schema version {:?}, this seqbench reads version {SCHEMA_VERSION}",
                file.display(),
                version
            )));
        }
        let results: Results = serde_json::from_value(value)
            .map_err(|e| crate::error::usage(format!("{}: malformed results: {e}", file.display())))?;
        // `run --resume` and `merge` expand the suite into cells, which expects a valid suite.
        results.suite.validate(&format!("{} (its suite)", file.display()))?;
        Ok(results)
    }

    /// Cells of one measurement.
    pub fn of(&self, m: Measurement) -> impl Iterator<Item = &CellResult> {
        self.cells.iter().filter(move |c| c.spec.measurement == m)
    }

    /// Puts the cells in planned order, whatever order they finished in.
    pub fn sort_cells(&mut self) {
        let order: std::collections::HashMap<&str, usize> =
            self.planned.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let mut cells = std::mem::take(&mut self.cells);
        cells.sort_by_key(|c| order.get(c.spec.id.as_str()).copied().unwrap_or(usize::MAX));
        self.cells = cells;
    }

    /// Ids planned but without a result.
    pub fn missing(&self) -> Vec<String> {
        let done: std::collections::HashSet<_> = self.cells.iter().map(|c| c.spec.id.as_str()).collect();
        self.planned.iter().filter(|id| !done.contains(id.as_str())).cloned().collect()
    }
}
