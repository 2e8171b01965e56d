//! The `seqbench` binary: parse arguments, run the command, map errors to exit codes
//! (0 success, 1 failure or failed checks, 2 bad input).

use clap::Parser;
use seqbench::cli::{Cli, Command, Common};
use seqbench::commands;
use seqbench::error::UserError;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: seqbench::alloc::Counting = seqbench::alloc::Counting;

fn apply(common: &Common) -> Result<(), UserError> {
    seqbench::device::select_dtype(&common.dtype)?;
    seqbench::device::select(&common.device)?;
    if let Some(n) = common.threads {
        if n == 0 {
            return Err(UserError::Usage("--threads must be at least 1".into()));
        }
        // candle's CPU backend sizes its thread pools from RAYON_NUM_THREADS at first use.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    Ok(())
}

fn main() -> ExitCode {
    // Errors are one line: candle attaches a backtrace to its errors when RUST_BACKTRACE is set, so
    // library backtraces are turned off here (panics still honour RUST_BACKTRACE).
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    // candle sizes every matmul's thread use from RAYON_NUM_THREADS and, when it is unset, reads
    // /proc/cpuinfo again on every call (a fifth of a decode step's time, measured with perf): fix the
    // count once, before any thread starts.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", candle_core::utils::get_num_threads().to_string());
    }
    seqbench::alloc::keep_freed_memory();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::List(args) => commands::list::run(args).map(|_| true),
        Command::Check(args) => apply(&args.common).map_err(Into::into).and_then(|_| commands::check::run(args)),
        Command::Train(args) => {
            apply(&args.common).map_err(Into::into).and_then(|_| commands::train::run(args).map(|_| true))
        }
        Command::Run(a) => apply(&a.bench.common).map_err(Into::into).and_then(|_| commands::run::run(a)),
        Command::TrainSpeed(a) => {
            apply(&a.bench.common).map_err(Into::into).and_then(|_| commands::run::train_speed(a))
        }
        Command::Latency(a) => apply(&a.bench.common).map_err(Into::into).and_then(|_| commands::run::latency(a)),
        Command::Memory(a) => apply(&a.bench.common).map_err(Into::into).and_then(|_| commands::run::memory(a)),
        Command::Generate(a) => apply(&a.bench.common).map_err(Into::into).and_then(|_| commands::run::generate(a)),
        Command::Compare(a) => commands::compare::run(a),
        Command::Merge(a) => commands::merge::run(a),
        Command::Ab(a) => apply(&a.common).map_err(Into::into).and_then(|_| commands::ab::run(a)),
        Command::Report(a) => commands::report::run(a).map(|_| true),
        Command::Bench(b) => match &b.what {
            seqbench::cli::BenchWhat::Kernels(a) => {
                apply(&a.common).map_err(Into::into).and_then(|_| commands::bench::kernels(a))
            }
        },
        Command::Cell => seqbench::runner::serve_cell().map(|_| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            if e.downcast_ref::<UserError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
