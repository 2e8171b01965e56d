//! Joining the shards of one suite (`run --shard I/N`) into one run.
//!
//! Nothing measured may be lost silently: merge refuses a set of shards that is incomplete (a shard
//! not given, or a shard that was itself interrupted) or inconsistent (different suites or splits, a
//! shard given twice), naming what is wrong, unless `--allow-partial`, which marks the merged run
//! partial. Every shard's environment is kept, and every cell keeps the calibration of the machine
//! that measured it, so `compare --normalize` scales each cell by its own machine.

use super::{Environment, Partial, Results, ShardRecord};
use crate::error::usage;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// A merged run and what the reader must be warned of (shards on different machines, differing
/// environments, an incomplete set merged with `allow_partial`).
pub struct Merged {
    pub results: Results,
    pub warnings: Vec<String>,
}

/// Merges `runs` (loaded from `paths`, named in messages) into the run `run_id`. Refuses (as bad
/// input) different suites, overlapping cells, mixed or differing splits and a shard given twice;
/// refuses an incomplete set (missing or unfinished shards, cells without a result) unless
/// `allow_partial`, which marks the merged run partial.
pub fn merge(runs: &[Results], paths: &[PathBuf], allow_partial: bool, run_id: String) -> anyhow::Result<Merged> {
    let mut warnings = Vec::new();
    let first = &runs[0];
    let suite_name = &first.suite.name;
    let suite = serde_json::to_value(&first.suite)?;
    for (r, path) in runs.iter().zip(paths).skip(1) {
        if serde_json::to_value(&r.suite)? != suite {
            return Err(usage(format!(
                "{}: a different suite than {} (cannot merge)",
                path.display(),
                paths[0].display()
            )));
        }
        for w in super::compare::environment_warnings(first, r, true) {
            warnings.push(format!("{}: {w}", path.display()));
        }
    }
    let mut problems = Vec::new();
    let (missing_shards, shard_count) = check_shards(runs, paths, &mut problems)?;
    for (r, path) in runs.iter().zip(paths) {
        let missing = r.missing();
        if !missing.is_empty() {
            problems.push(format!(
                "{} is unfinished ({} of {} cells missing; finish it with `seqbench run --resume {}`)",
                path.display(),
                missing.len(),
                r.planned.len(),
                path.display()
            ));
        }
    }
    let mut seen = HashSet::new();
    let mut cells = Vec::new();
    for (r, path) in runs.iter().zip(paths) {
        for c in &r.cells {
            if !seen.insert(c.spec.id.clone()) {
                return Err(usage(format!(
                    "{}: cell {} is also in another shard (cannot merge overlapping runs)",
                    path.display(),
                    c.spec.id
                )));
            }
            let mut c = c.clone();
            c.calibration_gflops.get_or_insert(r.environment.calibration_gflops);
            cells.push(c);
        }
    }
    let order: Vec<String> = first.suite.cells()?.into_iter().map(|c| c.id).collect();
    let missing_cells = order.iter().filter(|id| !seen.contains(*id)).count();
    if missing_cells > 0 && problems.is_empty() {
        problems.push(format!("{missing_cells} of the suite's {} cells have no result in any run given", order.len()));
    }
    if !problems.is_empty() && !allow_partial {
        return Err(usage(format!(
            "suite `{suite_name}`: cannot merge an incomplete set: {}; pass every shard, or --allow-partial to merge what is here and mark the run partial",
            problems.join("; ")
        )));
    }
    let mut merged = Results::new(run_id, first.suite.clone(), first.environment.clone(), order);
    merged.created = runs.iter().map(|r| r.created.clone()).min().unwrap_or_default();
    merged.shards = runs
        .iter()
        .filter_map(|r| {
            r.shard.map(|shard| ShardRecord {
                shard,
                run_id: r.run_id.clone(),
                cells: r.cells.len(),
                environment: r.environment.clone(),
            })
        })
        .collect();
    merged.shards.sort_by_key(|s| s.shard.index);
    let machines = Environment::machines(runs.iter().map(|r| &r.environment));
    if machines.len() > 1 {
        warnings.push(format!(
            "the shards ran on {} different machines ({}); each cell keeps its own machine's calibration for `compare --normalize`",
            machines.len(),
            machines.join(" | ")
        ));
    }
    if !problems.is_empty() {
        merged.partial = Some(Partial { missing_shards, shard_count, missing_cells });
        warnings.push(format!("merging an incomplete set (--allow-partial): {}", problems.join("; ")));
    }
    merged.cells = cells;
    merged.sort_cells();
    if merged.missing().is_empty() {
        merged.finished = runs.iter().filter_map(|r| r.finished.clone()).max();
    }
    Ok(Merged { results: merged, warnings })
}

/// Checks that sharded runs form one complete split: the same shard count, each index once.
/// Returns the missing shard indices and the count (0 when no run is a shard); adds a problem line
/// for missing shards; refuses a mix of sharded and unsharded runs, differing counts and duplicates.
fn check_shards(
    runs: &[Results],
    paths: &[PathBuf],
    problems: &mut Vec<String>,
) -> anyhow::Result<(Vec<usize>, usize)> {
    let sharded: Vec<_> = runs.iter().zip(paths).filter_map(|(r, p)| r.shard.map(|s| (s, p))).collect();
    if sharded.is_empty() {
        return Ok((Vec::new(), 0));
    }
    if sharded.len() != runs.len() {
        let plain = runs.iter().zip(paths).find(|(r, _)| r.shard.is_none()).map(|(_, p)| p).expect("one exists");
        return Err(usage(format!(
            "{} is not a shard, but {} is (merge the shards of one split only)",
            plain.display(),
            sharded[0].1.display()
        )));
    }
    let count = sharded[0].0.count;
    let mut indices: HashMap<usize, &std::path::PathBuf> = HashMap::new();
    for (s, p) in &sharded {
        if s.count != count {
            return Err(usage(format!(
                "{} is shard {}/{}, but {} is shard {}/{count} (different splits cannot be merged)",
                p.display(),
                s.index,
                s.count,
                sharded[0].1.display(),
                sharded[0].0.index
            )));
        }
        if let Some(other) = indices.insert(s.index, p) {
            return Err(usage(format!(
                "{} and {} are both shard {}/{count} (give each shard once)",
                other.display(),
                p.display(),
                s.index
            )));
        }
    }
    let missing: Vec<usize> = (1..=count).filter(|i| !indices.contains_key(i)).collect();
    if !missing.is_empty() {
        problems.push(format!(
            "missing shard{} {} of {count}",
            if missing.len() == 1 { "" } else { "s" },
            missing.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok((missing, count))
}
