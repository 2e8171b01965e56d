//! Helpers shared by the tests that run the binary as a user does.
#![allow(dead_code)] // each test crate uses a subset

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `seqbench` with one CPU thread, without any Slurm array environment, plus `env`.
pub fn seqbench_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_seqbench"));
    c.args(args).env("RAYON_NUM_THREADS", "1");
    for var in seqbench::results::SLURM_VARIABLES.iter().chain(&[seqbench::measure::sample::SLOWDOWN_ENV]) {
        c.env_remove(var);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("binary runs")
}

pub fn seqbench(args: &[&str]) -> Output {
    seqbench_env(args, &[])
}

/// A fresh, empty directory for one test (`prefix` names the test crate).
pub fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seqbench-{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Exit code 2 and exactly one `error: ` line on stderr, no panic, containing every `needle`.
pub fn assert_user_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "expected exit 2, stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line, got: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "`{n}` not in: {stderr}");
    }
}

/// Training options for the `tiny` models: `steps` of batch 8 x 64 bytes, 3 warm-up steps, clip 1,
/// no weight decay, 8 validation windows.
pub fn tiny_train_options(
    steps: usize,
    lr: f64,
    seed: u64,
    form: seqbench::kernels::Form,
) -> seqbench::model::train::TrainOptions {
    seqbench::model::train::TrainOptions {
        warmup: 3,
        valid_windows: 8,
        ..seqbench::model::train::TrainOptions::new(steps, 64, 8, lr, seed, form)
    }
}

/// A one-sample cell of `model` (a shipped name, `name@size` overriding `size`) for `measurement`
/// at `value`, as the suites write it.
pub fn cell_spec(
    model: &str,
    size: &str,
    measurement: seqbench::results::Measurement,
    value: usize,
    settings: seqbench::results::Settings,
) -> seqbench::results::CellSpec {
    let model = seqbench::model::config::load(model, size).unwrap();
    seqbench::results::CellSpec {
        id: format!("{}/{}/{}={value}", measurement.name(), model.label(), measurement.parameter()),
        measurement,
        label: model.label(),
        model,
        parameter: measurement.parameter().into(),
        value,
        settings,
        plan: seqbench::results::stats::SamplePlan { warmup: 0, min_samples: 1, min_seconds: 0.0, max_samples: 1 },
        seed: 0,
    }
}

/// A committed run (its environment, suite and the rest) whose cells are replaced by measured
/// cells of the given specs and samples, for tests of what is derived from cells.
pub fn results_with(cells: Vec<(seqbench::results::CellSpec, Vec<f64>)>) -> seqbench::results::Results {
    use seqbench::results::{CellResult, Status};
    let mut r = seqbench::results::Results::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/results/quick-reference-2core/results.json"
    )))
    .unwrap();
    r.cells = cells
        .into_iter()
        .map(|(spec, samples)| {
            let mut c = CellResult::failed(&spec, String::new(), 1.0);
            c.status = Status::Ok;
            c.error = None;
            c.summary = Some(seqbench::results::stats::Summary::of(&samples));
            c.samples = samples;
            c
        })
        .collect();
    r
}
