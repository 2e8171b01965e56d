//! The `seqbench` binary: parse the arguments, run the command ([`seqbench::cli::execute`]), map
//! the outcome to an exit code (0 success, 1 failure or failed checks, 2 bad input).

use clap::Parser;
use seqbench::cli::Cli;
use seqbench::error::UserError;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: seqbench::measure::alloc::Counting = seqbench::measure::alloc::Counting;

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
    seqbench::measure::alloc::keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print as clap prints them.
        Err(e) if !e.use_stderr() => e.exit(),
        // Bad flags and values: clap's first paragraph (what is wrong) as one line, exit 2, like every
        // bad input.
        Err(e) => {
            let text = e.to_string();
            let what: Vec<&str> =
                text.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
            eprintln!("{}", what.join(" "));
            return ExitCode::from(2);
        }
    };
    match seqbench::cli::execute(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            if e.downcast_ref::<UserError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}
