//! `seqbench ab [SUITE] --baseline BIN [--candidate BIN]`: both binaries measured side by side on this
//! machine in interleaved rounds (see [`crate::measure::ab::run_ab`]), then compared pair by pair; exit 1
//! on a regression. This is the regression check that holds on a noisy shared runner, where two
//! separate runs minutes apart differ by more than the changes worth catching.

use crate::cli::AbArgs;
use crate::error::usage;
use crate::measure::ab::{AbOptions, AbRun, AB_SIDES};
use crate::measure::runner;
use crate::report::{self, Json, Markdown};
use crate::results::compare::{beyond_threshold, compare, rounds_to_reach, Comparison, Options, Verdict};
use crate::results::suite::Suite;
use std::path::{Path, PathBuf};

/// The fewest planned rounds: every cell's median of per-round ratios decides whether it gets
/// confirmation rounds, and five all worse would already be p = 1/32 for a cell alone.
pub const MIN_ROUNDS: usize = 5;

/// Rounds of a confirmed cell that may go the other way (a noisy neighbour slowing the baseline's
/// turn, whatever the size) with a real change still reaching the per-cell level.
pub const TOLERATED_REVERSALS: usize = 1;

/// The cells worth confirming: the median of their per-round ratios beyond the threshold (worse
/// only, with `worse_only`; either way otherwise) but not significant at the run's per-cell level,
/// which the planned rounds are too few to reach.
fn suspects(
    cmp: &Comparison,
    threshold_of: impl Fn(&crate::results::Measurement) -> f64,
    worse_only: bool,
) -> Vec<String> {
    cmp.cells
        .iter()
        .filter(|c| c.verdict == Verdict::WithinNoise)
        .filter(|c| {
            let worse = c.worse_factor.unwrap_or(1.0);
            beyond_threshold(worse, threshold_of(&c.measurement)) && (!worse_only || worse > 1.0)
        })
        .map(|c| c.id.clone())
        .collect()
}

/// A binary that exists and can be run (bad input otherwise).
fn binary(path: &Path, flag: &str) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| usage(format!("{flag} {}: {e}", path.display())))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(usage(format!("{flag} {}: not an executable file", path.display())));
    }
    Ok(std::fs::canonicalize(path)?)
}

pub fn run(a: &AbArgs) -> anyhow::Result<bool> {
    let threshold = super::compare::threshold(a.threshold)?;
    let per_measurement = super::compare::per_measurement(&a.threshold_for)?;
    if a.rounds < MIN_ROUNDS {
        return Err(usage(format!(
            "--rounds {}: at least {MIN_ROUNDS} are needed (their median per-round ratio decides which cells are confirmed)",
            a.rounds
        )));
    }
    crate::output::refuse_file_as_dir(&a.out, "--out")?;
    let baseline = binary(&a.baseline, "--baseline")?;
    let candidate = match &a.candidate {
        Some(c) => binary(c, "--candidate")?,
        None => std::env::current_exe()?,
    };
    let mut suite = Suite::load(&a.suite)?;
    if !a.models.is_empty() {
        suite.models = a.models.clone();
        suite.validate("command line")?;
    }
    let run_id = a.run_id.clone().unwrap_or_else(|| runner::default_run_id(&format!("ab-{}", suite.name)));
    if run_id.is_empty() || run_id.contains('/') || run_id.starts_with('.') {
        return Err(usage(format!("--run-id `{run_id}` must be a plain directory name")));
    }
    let dir = a.out.join(&run_id);
    if dir.exists() {
        return Err(usage(format!("{} already exists; choose another --run-id", dir.display())));
    }
    if !a.common.quiet {
        eprintln!(
            "A/B: {} rounds of {} cells, baseline {} vs candidate {}",
            a.rounds,
            suite.cells()?.len(),
            baseline.display(),
            candidate.display()
        );
    }
    let opts = AbOptions {
        binaries: [baseline.clone(), candidate.clone()],
        dir: dir.clone(),
        quiet: a.common.quiet,
        declared_commits: [a.baseline_commit.clone(), a.candidate_commit.clone()],
    };
    let mut run = AbRun::start(suite, opts)?;
    run.rounds(a.rounds, None)?;
    let opts = Options { threshold, per_measurement, normalize: false };
    let mut cmp = compare(&run.sides()[0], &run.sides()[1], &opts);
    // A change seen in the planned rounds is confirmed by more rounds of those cells alone, enough to
    // reach the per-cell level of the whole run (cheap when nothing changed, which is the usual case).
    let total = rounds_to_reach(cmp.alpha, TOLERATED_REVERSALS).max(a.rounds);
    let confirm =
        if total > a.rounds { suspects(&cmp, |m| opts.threshold_for(*m), a.confirm_worse_only) } else { Vec::new() };
    if !confirm.is_empty() {
        if !a.common.quiet {
            eprintln!(
                "confirming {} cell(s) with {} more rounds (each cell is tested at p < {:.2e}: {} cells in the run)",
                confirm.len(),
                total - a.rounds,
                cmp.alpha,
                (crate::results::compare::FAMILY_ALPHA / cmp.alpha).round()
            );
        }
        run.rounds(total - a.rounds, Some(&confirm))?;
        cmp = compare(&run.sides()[0], &run.sides()[1], &opts);
    }
    super::compare::print(&cmp, a.only_changes, a.common.quiet, a.markdown.as_deref())?;
    report::export(&Markdown { only_changes: a.only_changes, ..Default::default() }, &cmp, &dir.join("ab.md"))?;
    report::export(
        &Json,
        &serde_json::json!({
            "baseline_binary": baseline,
            "candidate_binary": candidate,
            "baseline_build": run.sides()[0].environment.build,
            "candidate_build": run.sides()[1].environment.build,
            "machine": run.sides()[1].environment.machine(),
            "calibration_gflops": run.sides()[1].environment.calibration_gflops,
            "command_line": crate::measure::provenance::command_line(),
            "rounds": a.rounds,
            "confirmed_cells": confirm,
            "confirmation_rounds": if confirm.is_empty() { a.rounds } else { total },
            "threshold": threshold,
            "injected_slowdown": std::env::var(crate::measure::sample::SLOWDOWN_ENV).ok(),
            "comparison": cmp,
        }),
        &dir.join("ab.json"),
    )?;
    println!(
        "A/B run -> {}/{{{},{}}}/results.json, {}/ab.{{md,json}}",
        dir.display(),
        AB_SIDES[0],
        AB_SIDES[1],
        dir.display()
    );
    Ok(cmp.count(Verdict::Regressed) == 0)
}
