//! `seqbench compare BASELINE NEW`: per-cell change with confidence interval and significance, a
//! verdict per cell ([`crate::results::compare`]), exit 1 on regression; the terminal table, Markdown
//! and dashboard exports ([`crate::report`]).

use crate::cli::CompareArgs;
use crate::error::usage;
use crate::report::{self, Bencher, GithubAction, Json, Markdown, Terminal};
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

/// Prints a comparison (warnings on stderr, then the table, summary and regressions) and writes
/// its Markdown when asked (`-`: stdout).
pub fn print(
    cmp: &Comparison,
    only_changes: bool,
    quiet: bool,
    markdown_to: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    for w in &cmp.warnings {
        eprintln!("warning: {w}");
    }
    report::print(&Terminal { quiet, only_changes }, cmp)?;
    if let Some(path) = markdown_to {
        report::export(&Markdown { only_changes, ..Default::default() }, cmp, path)?;
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
        report::export(&GithubAction { bigger: true }, &new, &dir.join("bigger_is_better.json"))?;
        report::export(&GithubAction { bigger: false }, &new, &dir.join("smaller_is_better.json"))?;
    }
    if let Some(path) = &a.bencher {
        report::export(&Bencher, &new, path)?;
    }
    if let Some(path) = &a.json {
        report::export(&Json, &cmp, path)?;
    }
    Ok(cmp.count(Verdict::Regressed) == 0)
}
