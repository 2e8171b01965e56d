//! The tables of a comparison of two runs (`compare`, `ab`) and of a kernel benchmark.

use super::{seconds, value, Grid};
use crate::results::compare::{CellChange, Comparison, Method, Verdict};
use crate::results::kernels::KernelRow;

/// `+12.3%`.
pub fn pct(x: f64) -> String {
    format!("{:+.1}%", 100.0 * x)
}

fn change_row(c: &CellChange) -> Vec<String> {
    let v = |x: Option<f64>| x.map_or("-".into(), |x| value(&c.unit, x));
    vec![
        c.id.clone(),
        v(c.base_median),
        v(c.new_median),
        c.change.map_or("-".into(), pct),
        c.ci.map_or("-".into(), |(lo, hi)| format!("[{}, {}]", pct(lo), pct(hi))),
        c.p_value.map_or("-".into(), p_text),
        c.verdict.name().to_string(),
    ]
}

/// A p-value: three decimals, or two significant digits below 0.001 (the per-cell levels of
/// paired rounds are that small).
pub fn p_text(p: f64) -> String {
    if p >= 1e-3 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// A comparison's cells (only the improved and regressed ones with `only_changes`).
pub fn comparison_grid(cmp: &Comparison, only_changes: bool) -> Grid {
    let header = ["cell", "baseline", "new", "change", "95% CI", "p", "verdict"];
    Grid {
        title: String::new(),
        header: header.iter().map(|h| h.to_string()).collect(),
        rows: cmp
            .cells
            .iter()
            .filter(|c| !only_changes || matches!(c.verdict, Verdict::Regressed | Verdict::Improved))
            .map(change_row)
            .collect(),
    }
}

/// One line: how many cells regressed, improved, stayed within noise.
pub fn comparison_summary(cmp: &Comparison) -> String {
    format!(
        "{} cells compared{}{}: {} regressed, {} improved, {} within noise, {} not comparable{}{}",
        cmp.cells.len(),
        if cmp.method == Method::PairedRounds { " in paired rounds" } else { "" },
        if cmp.normalized { " (normalized by calibration)" } else { "" },
        cmp.count(Verdict::Regressed),
        cmp.count(Verdict::Improved),
        cmp.count(Verdict::WithinNoise),
        cmp.count(Verdict::NotComparable),
        if cmp.method == Method::PairedRounds {
            format!(" (each cell at p < {})", p_text(cmp.alpha))
        } else {
            String::new()
        },
        if cmp.missing.is_empty() {
            String::new()
        } else {
            format!("; {} baseline cells missing from the new run", cmp.missing.len())
        }
    )
}

/// One line per regressed cell.
pub fn regression_lines(cmp: &Comparison) -> Vec<String> {
    cmp.regressions()
        .iter()
        .map(|c| {
            format!(
                "regressed: {} ({}, x{:.2} worse, p = {})",
                c.id,
                c.change.map_or("-".into(), pct),
                c.worse_factor.unwrap_or(0.0),
                p_text(c.p_value.unwrap_or(1.0))
            )
        })
        .collect()
}

/// A kernel benchmark's tables: one per batch size, rows kernel/form, columns T; each cell
/// `forward / forward+backward` (medians).
pub fn kernel_grids(rows: &[KernelRow]) -> Vec<Grid> {
    let mut batches: Vec<usize> = rows.iter().map(|r| r.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    let mut out = Vec::new();
    for b in batches {
        let mut lens: Vec<usize> = rows.iter().filter(|r| r.batch == b).map(|r| r.seq_len).collect();
        lens.sort_unstable();
        lens.dedup();
        let mut keys: Vec<(String, String)> = Vec::new();
        for r in rows.iter().filter(|r| r.batch == b) {
            if !keys.contains(&(r.kernel.clone(), r.form.clone())) {
                keys.push((r.kernel.clone(), r.form.clone()));
            }
        }
        let mut header = vec!["kernel".to_string(), "form".to_string()];
        header.extend(lens.iter().map(|t| format!("T={t}")));
        let body: Vec<Vec<String>> = keys
            .iter()
            .map(|(k, f)| {
                let mut row = vec![k.clone(), f.clone()];
                for t in &lens {
                    let cell = rows.iter().find(|r| r.batch == b && &r.kernel == k && &r.form == f && r.seq_len == *t);
                    row.push(cell.map_or(String::new(), |r| {
                        format!("{} / {}", seconds(r.forward.median), seconds(r.backward.median))
                    }));
                }
                row
            })
            .collect();
        out.push(Grid { title: format!("Kernels, batch {b} (median forward / forward+backward)"), header, rows: body });
    }
    out
}
