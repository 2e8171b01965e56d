//! `seqbench ab`'s measurement: every cell of a suite run by two binaries, alternately, in
//! interleaved rounds on this machine (the comparison of the pairs is [`crate::results::compare`]).

use super::runner::{run_child, ChildOptions};
use crate::results::suite::Suite;
use crate::results::{CellResult, CellSpec, Results};
use std::path::PathBuf;

/// Where `seqbench ab` writes the two sides of a run, under the run directory.
pub const AB_SIDES: [&str; 2] = ["baseline", "candidate"];

/// `seqbench ab`: two binaries measured side by side on this machine.
pub struct AbOptions {
    /// `[baseline, candidate]` binaries; each runs cells through its `cell` command.
    pub binaries: [PathBuf; 2],
    /// The run directory; the sides go to `baseline/` and `candidate/` below it.
    pub dir: PathBuf,
    pub quiet: bool,
    /// `[baseline, candidate]` commits declared on the command line, for binaries too old to
    /// report their own (`seqbench env`); checked against what a binary reports.
    pub declared_commits: [Option<String>; 2],
}

/// Both sides of an A/B run as measured so far, round by round, as asv's continuous mode and
/// hyperfine's multi-command runs do, so that slow drifts of a shared machine (another tenant, the
/// clock, the thermal state) fall on both sides alike: round after round, cell after cell, one
/// binary then the other, the order alternating between cells and rounds. Each side's cell keeps
/// all its samples and the median of every round (metrics `round_median.NN`), which
/// [`crate::results::compare::compare`] pairs. Both sides are written after every round. The
/// test-only knob [`crate::measure::sample::SLOWDOWN_ENV`] reaches the candidate only.
pub struct AbRun {
    suite: Suite,
    cells: Vec<CellSpec>,
    opts: AbOptions,
    sides: [Results; 2],
    acc: [Vec<Option<CellResult>>; 2],
    /// Rounds measured of each cell.
    rounds: Vec<usize>,
}

impl AbRun {
    /// Captures the environment; measures nothing yet.
    pub fn start(suite: Suite, opts: AbOptions) -> anyhow::Result<Self> {
        let cells = suite.cells()?;
        if !opts.quiet {
            eprintln!("measuring the environment (calibration matmul)...");
        }
        let env = crate::measure::env::capture(&crate::device::selected()?)?;
        let planned: Vec<String> = cells.iter().map(|c| c.id.clone()).collect();
        // Each side records the build of the binary that measured it, as that binary reports it.
        let mut sides = AB_SIDES.map(|name| Results::new(name.into(), suite.clone(), env.clone(), planned.clone()));
        for (side, results) in sides.iter_mut().enumerate() {
            let build =
                crate::measure::provenance::build_of(&opts.binaries[side], opts.declared_commits[side].as_deref())?;
            results.environment.git_commit = build.git_commit.clone();
            results.environment.seqbench_version = build.seqbench_version.clone();
            results.environment.candle_version = build.candle_version.clone();
            results.environment.build = Some(build);
        }
        let n = cells.len();
        Ok(AbRun { suite, cells, opts, sides, acc: [vec![None; n], vec![None; n]], rounds: vec![0; n] })
    }

    /// Measures `count` more rounds of the cells whose ids are in `only` (every cell when `None`),
    /// then writes both sides, finished.
    pub fn rounds(&mut self, count: usize, only: Option<&[String]>) -> anyhow::Result<()> {
        let chosen: Vec<usize> =
            (0..self.cells.len()).filter(|&i| only.is_none_or(|ids| ids.contains(&self.cells[i].id))).collect();
        let bar = crate::output::progress(self.opts.quiet, (count * chosen.len() * 2) as u64);
        for r in 0..count {
            for &i in &chosen {
                let (spec, round) = (&self.cells[i], self.rounds[i]);
                let order = if (round + i) % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    bar.set_message(format!("round {}/{count} {} {}", r + 1, AB_SIDES[side], spec.id));
                    let child = ChildOptions { timeout: self.suite.cell_timeout, strip_knob: side == 0, threads: None };
                    let result = run_child(&self.opts.binaries[side], spec, child);
                    super::runner::note_failure(&result, self.opts.quiet, Some(AB_SIDES[side]));
                    self.acc[side][i] = Some(accumulate(self.acc[side][i].take(), result, round));
                    bar.inc(1);
                }
                self.rounds[i] += 1;
            }
            self.save(r + 1 == count)?;
        }
        bar.finish_and_clear();
        Ok(())
    }

    fn save(&mut self, finished: bool) -> anyhow::Result<()> {
        for side in 0..2 {
            self.sides[side].cells = self.acc[side].iter().flatten().cloned().collect();
            self.sides[side].finished = finished.then(crate::results::now_rfc3339);
            crate::report::save(&mut self.sides[side], &self.opts.dir.join(AB_SIDES[side]))?;
        }
        Ok(())
    }

    /// `[baseline, candidate]` as measured so far.
    pub fn sides(&self) -> &[Results; 2] {
        &self.sides
    }
}

/// Adds one round's result of a cell to what the earlier rounds gave: all samples pooled, the
/// round's median kept as `round_median.NN`; a failure in any round fails the cell.
fn accumulate(before: Option<CellResult>, round_result: CellResult, round: usize) -> CellResult {
    use crate::results::Status;
    let round_median = round_result.median();
    let mut cell = match before {
        None => round_result,
        Some(b) if b.status != Status::Ok => return b,
        Some(_) if round_result.status != Status::Ok => return round_result,
        Some(mut b) => {
            b.samples.extend_from_slice(&round_result.samples);
            b.summary = (!b.samples.is_empty()).then(|| crate::results::stats::Summary::of(&b.samples));
            b.wall_seconds += round_result.wall_seconds;
            for (k, v) in
                round_result.metrics.iter().filter(|(k, _)| !k.starts_with(crate::results::compare::ROUND_MEDIAN))
            {
                b.metrics.insert(k.clone(), *v);
            }
            b
        }
    };
    if let Some(m) = round_median {
        cell.metrics.insert(format!("{}{round:02}", crate::results::compare::ROUND_MEDIAN), m);
    }
    cell
}
