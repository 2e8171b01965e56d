//! Markdown: results.md, a comparison (pull-request comment or job summary) and kernels.md, all
//! through one table writer ([`table`]).

use super::tables::{comparison_grid, comparison_summary, grids, kernel_grids, Grid};
use super::{Exporter, Markdown};
use crate::output::bytes;
use crate::results::compare::Comparison;
use crate::results::kernels::KernelResults;
use crate::results::{Results, Status};

/// `|` escaped for a table cell.
pub fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The one Markdown table writer: `## title`, header, separator, rows.
pub fn table(g: &Grid) -> String {
    let line = |cells: &[String]| format!("| {} |\n", cells.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | "));
    let mut s = if g.title.is_empty() { String::new() } else { format!("## {}\n\n", g.title) };
    s.push_str(&line(&g.header));
    s.push_str(&format!("|{}\n", "---|".repeat(g.header.len())));
    for row in &g.rows {
        s.push_str(&line(row));
    }
    s.push('\n');
    s
}

/// results.md: environment, notices, verdicts, links to the charts and the tables.
impl Exporter<Results> for Markdown<'_> {
    fn render(&self, r: &Results) -> anyhow::Result<Vec<u8>> {
        let e = &r.environment;
        let mut s = format!(
            "# seqbench run `{}`\n\nSuite `{}`: {}\n\nCreated {}{}. {} of {} cells measured.\n\n",
            r.run_id,
            r.suite.name,
            r.suite.description,
            r.created,
            r.finished.as_ref().map_or(" (unfinished)".to_string(), |f| format!(", finished {f}")),
            r.cells.len(),
            r.planned.len()
        );
        for n in super::notices(r) {
            s.push_str(&format!("> **{}**\n\n", escape(&n)));
        }
        if let Some(g) = super::tables::scorecard_grid(r) {
            s.push_str(&table(&g));
        }
        s.push_str(&format!(
            "Environment: {} ({} cores, {} threads, {}), {}, device {}, {}; seqbench {} (commit {}), candle {}; calibration {:.1} GFLOP/s (512x512 f32 matmul).\n\n",
            e.cpu_label(),
            e.cores,
            e.threads,
            e.memory_bytes.map_or("memory unknown".into(), |m| format!("{} RAM", bytes(m))),
            e.os,
            e.device_label(),
            e.dtype,
            e.seqbench_version,
            e.git_commit,
            e.candle_version,
            e.calibration_gflops
        ));
        if !r.derived.verdicts.is_empty() {
            s.push_str("## Verdicts\n\n");
            for v in &r.derived.verdicts {
                s.push_str(&format!("- {}\n", escape(v)));
            }
            s.push('\n');
        }
        if !self.charts.is_empty() {
            s.push_str("## Charts\n\n");
            for (file, title) in self.charts {
                s.push_str(&format!("![{}]({file})\n\n", escape(title)));
            }
        }
        for g in grids(r) {
            s.push_str(&table(&g));
        }
        let failed: Vec<_> = r.cells.iter().filter(|c| c.status == Status::Failed).collect();
        if !failed.is_empty() {
            s.push_str("## Failed cells\n\n");
            for c in failed {
                s.push_str(&format!("- `{}`: {}\n", c.spec.id, escape(c.error.as_deref().unwrap_or(""))));
            }
        }
        Ok(s.into_bytes())
    }
}

/// A comparison: summary, warnings, the regressions named, the table, the rule that decided.
impl Exporter<Comparison> for Markdown<'_> {
    fn render(&self, cmp: &Comparison) -> anyhow::Result<Vec<u8>> {
        let mut s = format!(
            "## seqbench: `{}` vs baseline `{}`\n\n{}.\n\n",
            cmp.new_run,
            cmp.base_run,
            comparison_summary(cmp)
        );
        for w in &cmp.warnings {
            s.push_str(&format!("> warning: {}\n", escape(w)));
        }
        if !cmp.warnings.is_empty() {
            s.push('\n');
        }
        let regressions = cmp.regressions();
        if !regressions.is_empty() {
            s.push_str(&format!(
                "**Regressions:** {}\n\n",
                regressions
                    .iter()
                    .map(|c| format!("`{}` ({})", c.id, c.change.map_or("-".into(), super::tables::pct)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        s.push_str(&table(&comparison_grid(cmp, self.only_changes)));
        s.push_str(&format!("{}\n", cmp.method.rule(cmp.alpha)));
        Ok(s.into_bytes())
    }
}

/// kernels.md.
impl Exporter<KernelResults> for Markdown<'_> {
    fn render(&self, k: &KernelResults) -> anyhow::Result<Vec<u8>> {
        let env = &k.environment;
        let mut s = format!(
            "# seqbench kernels `{}`\n\nCreated {}. {} ({} threads), calibration {:.1} GFLOP/s. Heads {}, head dim {}.\n\n",
            k.run_id,
            k.created,
            env.cpu_model,
            env.threads,
            env.calibration_gflops,
            k.rows.first().map_or(0, |r| r.heads),
            k.rows.first().map_or(0, |r| r.head_dim),
        );
        for g in kernel_grids(&k.rows) {
            s.push_str(&table(&g));
        }
        for skipped in &k.skipped {
            s.push_str(&format!("- skipped (over memory): {}\n", escape(skipped)));
        }
        Ok(s.into_bytes())
    }
}
