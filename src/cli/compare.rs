//! `seqbench compare BASELINE NEW`: per-cell change with confidence interval and significance, a
//! verdict per cell, exit 1 on regression; Markdown and dashboard exports.

use crate::cli::CompareArgs;
use crate::error::usage;
use crate::output::{table, write_json};
use crate::report::export;
use crate::report::tables::value;
use crate::results::compare::{compare, Comparison, Options, Verdict};
use crate::results::Measurement;
use crate::results::Results;
use std::collections::BTreeMap;

/// Parses `--threshold-for latency=10` (percent); `latency` means both latency measurements.
pub fn per_measurement(specs: &[String]) -> anyhow::Result<BTreeMap<Measurement, f64>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (name, pct) = spec
            .split_once('=')
            .ok_or_else(|| usage(format!("--threshold-for `{spec}`: expected MEASUREMENT=PERCENT")))?;
        let pct: f64 = pct.parse().map_err(|_| usage(format!("--threshold-for `{spec}`: `{pct}` is not a number")))?;
        if !(pct >= 0.0 && pct.is_finite()) {
            return Err(usage(format!("--threshold-for `{spec}`: must be a non-negative percentage")));
        }
        let ms: Vec<Measurement> = match name {
            "latency" => vec![Measurement::PrefillLatency, Measurement::DecodeLatency],
            n => vec![Measurement::ALL.into_iter().find(|m| m.name() == n).ok_or_else(|| {
                let known: Vec<_> = Measurement::ALL.iter().map(|m| m.name()).collect();
                usage(format!("--threshold-for: unknown measurement `{n}` (known: {}, latency)", known.join(", ")))
            })?],
        };
        for m in ms {
            out.insert(m, pct / 100.0);
        }
    }
    Ok(out)
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", 100.0 * x)
}

fn row(c: &crate::results::compare::CellChange) -> Vec<String> {
    let v = |x: Option<f64>| x.map_or("-".into(), |x| value(&c.unit, x));
    vec![
        c.id.clone(),
        v(c.base_median),
        v(c.new_median),
        c.change.map_or("-".into(), pct),
        c.ci.map_or("-".into(), |(lo, hi)| format!("[{}, {}]", pct(lo), pct(hi))),
        c.p_value.map_or("-".into(), |p| format!("{p:.3}")),
        c.verdict.name().to_string(),
    ]
}

const HEADER: [&str; 7] = ["cell", "baseline", "new", "change", "95% CI", "p", "verdict"];

fn summary(cmp: &Comparison) -> String {
    format!(
        "{} cells compared{}{}: {} regressed, {} improved, {} within noise, {} not comparable{}",
        cmp.cells.len(),
        if cmp.method == crate::results::compare::Method::PairedRounds { " in paired rounds" } else { "" },
        if cmp.normalized { " (normalized by calibration)" } else { "" },
        cmp.count(Verdict::Regressed),
        cmp.count(Verdict::Improved),
        cmp.count(Verdict::WithinNoise),
        cmp.count(Verdict::NotComparable),
        if cmp.missing.is_empty() {
            String::new()
        } else {
            format!("; {} baseline cells missing from the new run", cmp.missing.len())
        }
    )
}

/// The comparison as Markdown (pull-request comment or job summary).
pub fn markdown(cmp: &Comparison, only_changes: bool) -> String {
    let mut s = format!("## seqbench: `{}` vs baseline `{}`\n\n{}.\n\n", cmp.new_run, cmp.base_run, summary(cmp));
    for w in &cmp.warnings {
        s.push_str(&format!("> warning: {w}\n"));
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
                .map(|c| format!("`{}` ({})", c.id, c.change.map_or("-".into(), pct)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s.push_str(&format!("| {} |\n|{}\n", HEADER.join(" | "), "---|".repeat(HEADER.len())));
    for c in cmp.cells.iter().filter(|c| !only_changes || matches!(c.verdict, Verdict::Regressed | Verdict::Improved)) {
        s.push_str(&format!("| {} |\n", row(c).join(" | ")));
    }
    s.push_str(&format!("\n{}\n", cmp.method.rule()));
    s
}

/// Prints a comparison (warnings, table, summary, regressions) and writes its Markdown when asked.
pub fn print(
    cmp: &Comparison,
    only_changes: bool,
    quiet: bool,
    markdown_to: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    for w in &cmp.warnings {
        eprintln!("warning: {w}");
    }
    let shown: Vec<_> = cmp
        .cells
        .iter()
        .filter(|c| !only_changes || matches!(c.verdict, Verdict::Regressed | Verdict::Improved))
        .collect();
    if !quiet && !shown.is_empty() {
        let mut t = table(&HEADER);
        for c in shown {
            t.add_row(row(c));
        }
        println!("{t}");
    }
    println!("{}", summary(cmp));
    for c in cmp.regressions() {
        println!(
            "regressed: {} ({}, x{:.2} worse, p = {:.3})",
            c.id,
            c.change.map_or("-".into(), pct),
            c.worse_factor.unwrap_or(0.0),
            c.p_value.unwrap_or(1.0)
        );
    }
    if let Some(path) = markdown_to {
        let md = markdown(cmp, only_changes);
        if path.as_os_str() == "-" {
            print!("{md}");
        } else {
            std::fs::write(path, md).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// Checks a `--threshold` percentage.
pub fn threshold(pct: f64) -> anyhow::Result<f64> {
    if !(pct >= 0.0 && pct.is_finite()) {
        return Err(usage(format!("--threshold must be a non-negative percentage (got {pct})")));
    }
    Ok(pct / 100.0)
}

pub fn run(a: &CompareArgs) -> anyhow::Result<bool> {
    let threshold = threshold(a.threshold)?;
    let base = Results::load(&a.baseline)?;
    let new = Results::load(&a.new)?;
    let opts = Options { threshold, per_measurement: per_measurement(&a.threshold_for)?, normalize: a.normalize };
    let cmp = compare(&base, &new, &opts);
    if cmp.cells.is_empty() {
        return Err(usage(format!("{} and {} have no cells in common", a.baseline.display(), a.new.display())));
    }
    print(&cmp, a.only_changes, a.common.quiet, a.markdown.as_deref())?;
    if let Some(dir) = &a.github_action {
        let (bigger, smaller) = export::github_action(&new);
        write_json(&dir.join("bigger_is_better.json"), &bigger)?;
        write_json(&dir.join("smaller_is_better.json"), &smaller)?;
    }
    if let Some(path) = &a.bencher {
        write_json(path, &export::bencher(&new))?;
    }
    if let Some(path) = &a.json {
        write_json(path, &cmp)?;
    }
    Ok(cmp.count(Verdict::Regressed) == 0)
}
