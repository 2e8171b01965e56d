//! Sharded runs: shard `I/N` of a suite, and the shard of a Slurm array task.

use super::Environment;
use serde::{Deserialize, Serialize};

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
