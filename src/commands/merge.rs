//! `seqbench merge DIR... --out DIR`: join the shards of one suite (`run --shard I/N`) into one run.

use crate::error::usage;
use crate::report::Results;
use std::collections::HashSet;

pub fn run(a: &crate::cli::MergeArgs) -> anyhow::Result<bool> {
    let runs = a.runs.iter().map(|p| Results::load(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let first = &runs[0];
    let suite = serde_json::to_value(&first.suite)?;
    for (r, path) in runs.iter().zip(&a.runs).skip(1) {
        if serde_json::to_value(&r.suite)? != suite {
            return Err(usage(format!(
                "{}: a different suite than {} (cannot merge)",
                path.display(),
                a.runs[0].display()
            )));
        }
        for w in crate::compare::environment_warnings(first, r, false) {
            eprintln!("warning: {}: {w}", path.display());
        }
    }
    let mut seen = HashSet::new();
    let mut cells = Vec::new();
    let mut planned_any = HashSet::new();
    for (r, path) in runs.iter().zip(&a.runs) {
        planned_any.extend(r.planned.iter().cloned());
        for c in &r.cells {
            if !seen.insert(c.spec.id.clone()) {
                return Err(usage(format!(
                    "{}: cell {} is also in another shard (cannot merge overlapping runs)",
                    path.display(),
                    c.spec.id
                )));
            }
            cells.push(c.clone());
        }
    }
    let order: Vec<String> = first.suite.cells()?.into_iter().map(|c| c.id).collect();
    let planned: Vec<String> = order.into_iter().filter(|id| planned_any.contains(id)).collect();
    let run_id = a.out.file_name().map_or("merged".into(), |n| n.to_string_lossy().to_string());
    let mut merged = Results::new(run_id, first.suite.clone(), first.environment.clone(), planned);
    merged.created = runs.iter().map(|r| r.created.clone()).min().unwrap_or_default();
    let pos: std::collections::HashMap<&str, usize> =
        merged.planned.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    cells.sort_by_key(|c| pos.get(c.spec.id.as_str()).copied().unwrap_or(usize::MAX));
    merged.cells = cells;
    if merged.missing().is_empty() {
        merged.finished = runs.iter().filter_map(|r| r.finished.clone()).max();
    }
    merged.write(&a.out)?;
    println!(
        "merged {} runs: {} of {} cells -> {}/results.{{json,csv,md}}",
        runs.len(),
        merged.cells.len(),
        merged.planned.len(),
        a.out.display()
    );
    Ok(true)
}
