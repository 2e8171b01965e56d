//! A run's results and their exports: `results.json` (the versioned record, see
//! docs/results-schema.md), `results.csv` (tidy), `results.md` and the terminal tables, the
//! verdict lines, SVG charts and `report.html`. One exporter per file.

pub mod charts;
pub mod csv;
pub mod export;
pub mod html;
pub mod tables;
pub mod verdict;

use crate::bench::{CellResult, Measurement, Status};
use crate::env::Environment;
use crate::suite::Suite;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// Shard `index` (1-based) of `count`: the cells whose position in the suite is `index - 1` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("shard `{s}`: expected I/N with 1 <= I <= N");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) =
            (i.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm array task, if this process is one: its position in the array, from
    /// [`SLURM_VARIABLES`]. Arrays with a step (`--array=1-9:2`) map task ids to consecutive shards; a
    /// list that is not evenly spaced (`--array=1,3,4`) has no position Slurm tells, so it is refused
    /// with what was read and what to pass instead.
    pub fn from_slurm() -> Option<Result<SlurmTask, String>> {
        Self::from_slurm_vars(|k| std::env::var(k).ok())
    }

    /// [`Shard::from_slurm`] over any variable lookup (tests pass a map).
    pub fn from_slurm_vars(var: impl Fn(&str) -> Option<String>) -> Option<Result<SlurmTask, String>> {
        var("SLURM_ARRAY_TASK_ID")?;
        let read: Vec<String> =
            SLURM_VARIABLES.iter().map(|k| format!("{k}={}", var(k).unwrap_or_else(|| "(unset)".into()))).collect();
        let explain = |why: &str| {
            format!(
                "Slurm array task: {why} (read {}); submit a range such as --array=1-N or A-B:S, or pass --shard I/N to each task yourself",
                read.join(" ")
            )
        };
        let num = |k: &str| -> Result<Option<usize>, String> {
            match var(k) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| explain(&format!("{k} is not a number"))),
            }
        };
        Some((|| {
            let id = num("SLURM_ARRAY_TASK_ID")?.expect("set");
            let count = num("SLURM_ARRAY_TASK_COUNT")?.ok_or_else(|| explain("SLURM_ARRAY_TASK_COUNT is unset"))?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            let max = num("SLURM_ARRAY_TASK_MAX")?.unwrap_or(min + step * count.saturating_sub(1));
            if count == 0 || id < min || id > max {
                return Err(explain("the task id lies outside the array"));
            }
            if (max - min) % step != 0 || (max - min) / step + 1 != count || (id - min) % step != 0 {
                return Err(explain(&format!(
                    "the array's {count} task ids are not evenly spaced from {min} to {max} by {step}, so task {id}'s position is unknown"
                )));
            }
            let shard = Shard { index: (id - min) / step + 1, count };
            Ok(SlurmTask { shard, job_id: var("SLURM_ARRAY_JOB_ID").filter(|j| !j.is_empty()) })
        })())
    }

    /// True when cell number `position` (0-based, in suite order) belongs to this shard.
    pub fn holds(&self, position: usize) -> bool {
        position % self.count == self.index - 1
    }
}

/// One shard of a merged run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardRecord {
    pub shard: Shard,
    /// The shard's own run id.
    pub run_id: String,
    /// Cells the shard contributed.
    pub cells: usize,
    /// The machine and calibration that measured the shard's cells.
    pub environment: Environment,
}

/// What an incomplete merge (`merge --allow-partial`) lacks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Partial {
    /// Shards of the suite's split that were not given (1-based); empty when the runs were not shards.
    pub missing_shards: Vec<usize>,
    /// The number of shards the suite was split into (0 when the runs were not shards).
    pub shard_count: usize,
    /// Planned cells without a result.
    pub missing_cells: usize,
}

impl Partial {
    /// One line: "shards 2, 3 of 3 missing; 11 cells without a result".
    pub fn describe(&self) -> String {
        let shards = match self.missing_shards.len() {
            0 => String::new(),
            n => format!(
                "shard{} {} of {} missing; ",
                if n == 1 { "" } else { "s" },
                self.missing_shards.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
                self.shard_count
            ),
        };
        format!("{shards}{} planned cell(s) without a result", self.missing_cells)
    }
}

/// The Slurm variables a run reads to find its shard (`run --help` lists them too).
pub const SLURM_VARIABLES: [&str; 6] = [
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
];

/// This process's place in a Slurm array job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlurmTask {
    pub shard: Shard,
    /// SLURM_ARRAY_JOB_ID: names the run (`<suite>-job<ID>-shard<I>of<N>`), so one array's shards
    /// can be told from another's.
    pub job_id: Option<String>,
}

/// Figures computed from the cells.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Derived {
    /// Least-squares slope of exact state bytes over position, per model (bytes/token, batch as run).
    pub memory_growth_bytes_per_token: BTreeMap<String, f64>,
    /// One line per measurement.
    pub verdicts: Vec<String>,
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
        serde_json::from_value(value)
            .map_err(|e| crate::error::usage(format!("{}: malformed results: {e}", file.display())))
    }

    /// Lines a reader must see before any figure: a partial merge, shards measured on different
    /// machines. Printed under the title of results.md and report.html.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.partial {
            out.push(format!("PARTIAL RUN (merged with --allow-partial): {}.", p.describe()));
        }
        let machines: std::collections::BTreeSet<String> =
            self.shards.iter().map(|s| s.environment.machine()).collect();
        if machines.len() > 1 {
            let each: Vec<String> = self
                .shards
                .iter()
                .map(|s| {
                    format!(
                        "shard {} on {} ({:.1} GFLOP/s)",
                        s.shard.index,
                        s.environment.machine(),
                        s.environment.calibration_gflops
                    )
                })
                .collect();
            out.push(format!(
                "Merged from shards measured on {} different machines: {}. Each cell keeps its machine's calibration (used by `compare --normalize`).",
                machines.len(),
                each.join("; ")
            ));
        }
        out
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

    /// Recomputes the derived figures.
    pub fn derive(&mut self) {
        let mut growth = BTreeMap::new();
        let mut by_model: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for c in self.of(Measurement::Memory).filter(|c| c.status == Status::Ok) {
            if let Some(m) = c.median() {
                by_model.entry(c.spec.label.as_str()).or_default().push((c.spec.value as f64, m));
            }
        }
        for (label, points) in by_model {
            if points.len() >= 2 {
                growth.insert(label.to_string(), slope(&points));
            }
        }
        self.derived.memory_growth_bytes_per_token = growth;
        self.derived.verdicts = verdict::all(self);
    }

    /// Writes results.json, results.csv and results.md into `dir` (each atomically).
    pub fn write(&mut self, dir: &Path) -> anyhow::Result<()> {
        self.derive();
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
        atomic_write(&dir.join("results.json"), (serde_json::to_string_pretty(self)? + "\n").as_bytes())?;
        atomic_write(&dir.join("results.csv"), &csv::render(self)?)?;
        atomic_write(&dir.join("results.md"), tables::markdown(self, &[]).as_bytes())?;
        Ok(())
    }

    /// Writes the pictures of a run into `dir`: one SVG per chart the cells support (plus
    /// `compare.svg` when a comparison is given), `report.html` with everything inline, and
    /// `results.md` again, now linking the SVGs. Returns the files written.
    pub fn write_report(
        &mut self,
        dir: &Path,
        comparison: Option<&crate::compare::Comparison>,
    ) -> anyhow::Result<Vec<PathBuf>> {
        self.derive();
        let mut planned = charts::plan(self);
        planned.extend(comparison.and_then(charts::comparison));
        let mut rendered = Vec::new();
        let mut written = Vec::new();
        for chart in &planned {
            let svg = charts::render(chart)?;
            let path = dir.join(&chart.file);
            atomic_write(&path, svg.as_bytes())?;
            written.push(path);
            rendered.push((chart.title.clone(), svg));
        }
        let links: Vec<(String, String)> = planned.iter().map(|c| (c.file.clone(), c.title.clone())).collect();
        atomic_write(&dir.join("results.md"), tables::markdown(self, &links).as_bytes())?;
        let page = dir.join("report.html");
        atomic_write(&page, html::render(self, &rendered).as_bytes())?;
        written.push(page);
        Ok(written)
    }
}

/// Least-squares slope of y over x.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

fn atomic_write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
    Ok(())
}
