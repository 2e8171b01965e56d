//! The command line: the clap definitions ([`args`]) and one file per command, each turning parsed
//! arguments into work below (measure, report, results, model) and printing what it did.

pub mod ab;
pub mod args;
pub mod bench;
pub mod check;
pub mod compare;
pub mod docs;
pub mod env;
pub mod list;
pub mod merge;
pub mod report;
pub mod run;
pub mod train;

pub use args::*;

use crate::error::UserError;

/// Applies the options every model-running command shares: dtype, device, threads.
fn apply(common: &Common) -> Result<(), UserError> {
    crate::device::select_dtype(&common.dtype)?;
    crate::device::select(&common.device)?;
    if let Some(n) = common.threads {
        if n == 0 {
            return Err(UserError::Usage("--threads must be at least 1".into()));
        }
        // candle's CPU backend sizes its thread pools from RAYON_NUM_THREADS at first use.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    Ok(())
}

/// Runs a parsed command. `Ok(false)` is a failure to report with exit code 1 (a failed cell or
/// check, a regression); errors of the user's input are [`UserError`]s (exit code 2).
pub fn execute(cli: &Cli) -> anyhow::Result<bool> {
    let with = |common: &Common, f: &dyn Fn() -> anyhow::Result<bool>| -> anyhow::Result<bool> {
        apply(common)?;
        f()
    };
    match &cli.command {
        Command::List(a) => list::run(a).map(|_| true),
        Command::Check(a) => with(&a.common, &|| check::run(a)),
        Command::Train(a) => with(&a.common, &|| train::run(a).map(|_| true)),
        Command::Run(a) => with(&a.bench.common, &|| run::run(a)),
        Command::TrainSpeed(a) => with(&a.bench.common, &|| run::train_speed(a)),
        Command::Latency(a) => with(&a.bench.common, &|| run::latency(a)),
        Command::Memory(a) => with(&a.bench.common, &|| run::memory(a)),
        Command::Generate(a) => with(&a.bench.common, &|| run::generate(a)),
        Command::Compare(a) => compare::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Ab(a) => with(&a.common, &|| ab::run(a)),
        Command::Report(a) => report::run(a).map(|_| true),
        Command::Bench(b) => match &b.what {
            BenchWhat::Kernels(a) => with(&a.common, &|| bench::kernels(a)),
        },
        Command::Docs(a) => docs::run(a),
        Command::Env(a) => env::run(a).map(|_| true),
        Command::Cell => crate::measure::runner::serve_cell().map(|_| true),
    }
}
