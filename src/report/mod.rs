//! Everything seqbench writes from results, one file per format: `results.json` (the versioned
//! record), `results.csv` (tidy, [`csv`]), `results.md` and the terminal tables ([`tables`]), the
//! verdict lines ([`verdict`]), SVG charts ([`charts`]), `report.html` ([`html`]) and the CI
//! exports ([`export`]). [`save`] writes a run after every cell; [`write_report`] draws it.

pub mod charts;
pub mod csv;
pub mod export;
pub mod html;
pub mod tables;
pub mod verdict;

use crate::results::compare::Comparison;
use crate::results::{Measurement, Results, Status};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lines a reader must see before any figure: a partial merge, shards measured on different
/// machines. Printed under the title of results.md and report.html.
pub fn notices(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &r.partial {
        out.push(format!("PARTIAL RUN (merged with --allow-partial): {}.", p.describe()));
    }
    let machines: std::collections::BTreeSet<String> = r.shards.iter().map(|s| s.environment.machine()).collect();
    if machines.len() > 1 {
        let each: Vec<String> = r
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

/// Recomputes the derived figures of a run: the memory growth per token of each model and the
/// verdict lines.
pub fn derive(r: &mut Results) {
    let mut growth = BTreeMap::new();
    let mut by_model: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for c in r.of(Measurement::Memory).filter(|c| c.status == Status::Ok) {
        if let Some(m) = c.median() {
            by_model.entry(c.spec.label.as_str()).or_default().push((c.spec.value as f64, m));
        }
    }
    for (label, points) in by_model {
        if points.len() >= 2 {
            growth.insert(label.to_string(), slope(&points));
        }
    }
    r.derived.memory_growth_bytes_per_token = growth;
    r.derived.verdicts = verdict::all(r);
}

/// Writes results.json, results.csv and results.md into `dir` (each atomically), after
/// recomputing the derived figures: what a run saves after every cell.
pub fn save(r: &mut Results, dir: &Path) -> anyhow::Result<()> {
    derive(r);
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
    atomic_write(&dir.join("results.json"), (serde_json::to_string_pretty(r)? + "\n").as_bytes())?;
    atomic_write(&dir.join("results.csv"), &csv::render(r)?)?;
    atomic_write(&dir.join("results.md"), tables::markdown(r, &[]).as_bytes())?;
    Ok(())
}

/// Writes the pictures of a run into `dir`: one SVG per chart the cells support (plus
/// `compare.svg` when a comparison is given), `report.html` with everything inline, and
/// `results.md` again, now linking the SVGs. Returns the files written.
pub fn write_report(r: &mut Results, dir: &Path, comparison: Option<&Comparison>) -> anyhow::Result<Vec<PathBuf>> {
    derive(r);
    let mut planned = charts::plan(r);
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
    atomic_write(&dir.join("results.md"), tables::markdown(r, &links).as_bytes())?;
    let page = dir.join("report.html");
    atomic_write(&page, html::render(r, &rendered).as_bytes())?;
    written.push(page);
    Ok(written)
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
