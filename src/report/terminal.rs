//! Terminal text: a run's tables and verdicts, a comparison, a kernel benchmark's tables (comfy-table
//! in the house style).

use super::tables::{comparison_grid, comparison_summary, grids, kernel_grids, regression_lines, Grid};
use super::{Exporter, Terminal};
use crate::results::compare::Comparison;
use crate::results::kernels::KernelResults;
use crate::results::Results;

/// A grid as a titled comfy-table.
pub fn table(g: &Grid) -> String {
    let mut t = crate::output::table(&g.header.iter().map(String::as_str).collect::<Vec<_>>());
    for row in &g.rows {
        t.add_row(row.clone());
    }
    match g.title.is_empty() {
        true => format!("{t}\n"),
        false => format!("\n{}\n{t}\n", g.title),
    }
}

/// The tables and the verdict lines.
impl Exporter<Results> for Terminal {
    fn render(&self, r: &Results) -> anyhow::Result<Vec<u8>> {
        // The scorecard first: it answers the tool's question.
        let mut s: String = super::tables::scorecard_grid(r).iter().chain(grids(r).iter()).map(table).collect();
        if !r.derived.verdicts.is_empty() {
            s.push('\n');
            for v in &r.derived.verdicts {
                s.push_str(&format!("- {v}\n"));
            }
        }
        Ok(s.into_bytes())
    }
}

/// The table (unless quiet or empty), the summary and one line per regression.
impl Exporter<Comparison> for Terminal {
    fn render(&self, cmp: &Comparison) -> anyhow::Result<Vec<u8>> {
        let g = comparison_grid(cmp, self.only_changes);
        let mut s = if self.quiet || g.rows.is_empty() { String::new() } else { table(&g) };
        s.push_str(&format!("{}\n", comparison_summary(cmp)));
        for line in regression_lines(cmp) {
            s.push_str(&format!("{line}\n"));
        }
        Ok(s.into_bytes())
    }
}

/// The tables and the skipped points.
impl Exporter<KernelResults> for Terminal {
    fn render(&self, k: &KernelResults) -> anyhow::Result<Vec<u8>> {
        let mut s: String = kernel_grids(&k.rows).iter().map(table).collect();
        for skipped in &k.skipped {
            s.push_str(&format!("skipped (over memory): {skipped}\n"));
        }
        Ok(s.into_bytes())
    }
}
