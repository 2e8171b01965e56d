//! `seqbench ab [SUITE] --baseline BIN [--candidate BIN]`: both binaries measured side by side on this
//! machine in interleaved rounds (see [`crate::measure::ab::run_ab`]), then compared pair by pair; exit 1
//! on a regression. This is the regression check that holds on a noisy shared runner, where two
//! separate runs minutes apart differ by more than the changes worth catching.

use crate::cli::AbArgs;
use crate::error::usage;
use crate::measure::ab::{self, AbOptions, AB_SIDES};
use crate::measure::runner;
use crate::report::{self, Json, Markdown};
use crate::results::compare::{compare, Options, Verdict};
use crate::results::suite::Suite;
use std::path::{Path, PathBuf};

/// The fewest rounds with which the one-sided signed-rank test can reach p < 0.05 (1/32).
pub const MIN_ROUNDS: usize = 5;

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
            "--rounds {}: at least {MIN_ROUNDS} are needed for the signed-rank test over rounds to reach p < 0.05",
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
        rounds: a.rounds,
        dir: dir.clone(),
        quiet: a.common.quiet,
    };
    let [base, new] = ab::run_ab(suite, &opts)?;
    let cmp = compare(&base, &new, &Options { threshold, per_measurement, normalize: false });
    super::compare::print(&cmp, a.only_changes, a.common.quiet, a.markdown.as_deref())?;
    report::export(&Markdown { only_changes: a.only_changes, ..Default::default() }, &cmp, &dir.join("ab.md"))?;
    report::export(
        &Json,
        &serde_json::json!({
            "baseline_binary": baseline,
            "candidate_binary": candidate,
            "rounds": a.rounds,
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
