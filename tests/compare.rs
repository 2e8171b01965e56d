//! `seqbench compare` and sharding: a run against itself passes, a 30% slower copy fails and names its
//! cells, a few percent of noise is not flagged, merged shards equal the unsharded run, bad input exits 2.

mod common;

use common::{assert_user_error, seqbench_env as seqbench};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const SUITE: &str = r#"
name = "cmp"
models = ["attention", "gated-deltanet"]
size = "tiny"
plan = { warmup = 1, min_samples = 6, min_seconds = 0.0, max_samples = 6 }
[train]
seq_lens = [16]
batch = 2
[latency]
prompt = 8
positions = [8, 64]
[memory]
positions = [16, 64]
[generation]
prompt = 8
tokens = 4
batches = [1, 2]
"#;

/// One run of the test suite, made once per test binary.
fn base_run() -> &'static PathBuf {
    static RUN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("seqbench-compare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cmp.toml"), SUITE).unwrap();
        let out = seqbench(
            &[
                "run",
                dir.join("cmp.toml").to_str().unwrap(),
                "--out",
                dir.to_str().unwrap(),
                "--run-id",
                "base",
                "-q",
                "--no-tables",
            ],
            &[],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dir.join("base")
    })
}

/// Writes a copy of the run in `from` whose samples are replaced by `f(measurement, samples)`.
fn altered(from: &Path, name: &str, f: impl Fn(&str, &[f64]) -> Vec<f64>) -> PathBuf {
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(from.join("results.json")).unwrap()).unwrap();
    for c in r["cells"].as_array_mut().unwrap() {
        let m = c["measurement"].as_str().unwrap().to_string();
        let samples: Vec<f64> = c["samples"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()).collect();
        c["samples"] = Value::Array(f(&m, &samples).into_iter().map(Value::from).collect());
    }
    let dir = base_run().parent().unwrap().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("results.json"), serde_json::to_string(&r).unwrap()).unwrap();
    dir
}

/// The base run with each cell's samples replaced by their median times a fixed 1% jitter: a
/// baseline whose spread does not depend on how busy the machine was while the test ran.
fn steady() -> PathBuf {
    const JITTER: [f64; 6] = [1.0, 1.01, 0.99, 1.005, 0.995, 1.002];
    altered(base_run(), "steady", |_, xs| {
        let mut sorted = xs.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let median = sorted[sorted.len() / 2];
        (0..xs.len()).map(|i| median * JITTER[i % 6]).collect()
    })
}

/// Every sample made 30% slower: throughputs divided by 1.3, latencies and bytes multiplied by it.
fn slower(from: &Path) -> PathBuf {
    altered(from, "slower", |m, xs| {
        xs.iter().map(|s| if m == "train_throughput" || m == "generation" { s / 1.3 } else { s * 1.3 }).collect()
    })
}

fn compare(a: &Path, b: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["compare", a.to_str().unwrap(), b.to_str().unwrap()];
    args.extend_from_slice(extra);
    seqbench(&args, &[])
}

#[test]
fn a_run_compared_with_itself_has_no_regression() {
    let out = compare(base_run(), base_run(), &["--normalize", "--markdown", "-"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 regressed, 0 improved"), "{stdout}");
    assert!(stdout.contains("## seqbench:"), "{stdout}");
}

#[test]
fn thirty_percent_slower_is_a_regression_and_names_the_cells() {
    let base = steady();
    let slower = slower(&base);
    let out = compare(&base, &slower, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for id in [
        "decode_latency/attention@tiny/position=64",
        "train_throughput/gated-deltanet@tiny/seq_len=16",
        "memory/attention@tiny/position=64",
    ] {
        assert!(stdout.contains(&format!("regressed: {id}")), "{id} not named in:\n{stdout}");
    }
    // A generous threshold lets it pass; a per-measurement one catches latency alone.
    assert_eq!(compare(&base, &slower, &["--threshold", "40"]).status.code(), Some(0));
    let only_latency = compare(&base, &slower, &["--threshold", "40", "--threshold-for", "latency=10"]);
    let text = String::from_utf8_lossy(&only_latency.stdout);
    assert_eq!(only_latency.status.code(), Some(1));
    assert!(text.contains("regressed: decode_latency") && !text.contains("regressed: train_throughput"), "{text}");
    // The faster direction is an improvement, not a regression.
    let out = compare(&slower, &base, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(" improved"));
}

#[test]
fn a_few_percent_of_noise_is_not_flagged() {
    // The real run against itself with every sample moved by up to 3%.
    let noisy = altered(base_run(), "noisy", |_, xs| {
        xs.iter().enumerate().map(|(i, s)| s * [0.98, 1.03, 0.97, 1.02, 1.0, 0.99][i % 6]).collect()
    });
    let out = compare(base_run(), &noisy, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 regressed"), "{stdout}");
}

#[test]
fn exports_for_dashboards() {
    let dir = base_run().parent().unwrap().join("exports");
    let out = compare(
        base_run(),
        base_run(),
        &["--github-action", dir.to_str().unwrap(), "--bencher", dir.join("bmf.json").to_str().unwrap()],
    );
    assert!(out.status.success());
    let bigger: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bigger_is_better.json")).unwrap()).unwrap();
    let smaller: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("smaller_is_better.json")).unwrap()).unwrap();
    assert!(bigger.as_array().unwrap().iter().all(|e| e["unit"] == "tokens/s" && e["value"].as_f64().unwrap() > 0.0));
    assert!(smaller.as_array().unwrap().iter().any(|e| e["unit"] == "s"));
    let bmf: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("bmf.json")).unwrap()).unwrap();
    assert!(bmf["decode_latency/attention@tiny/position=8"]["latency"]["value"].as_f64().unwrap() > 0.0);
}

/// The test suite run as two shards, `s1` (`--shard 1/2`) and `s2` (from a Slurm array task's
/// environment), made once per test binary.
fn shards() -> &'static (PathBuf, PathBuf) {
    static SHARDS: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    SHARDS.get_or_init(|| {
        let root = base_run().parent().unwrap();
        let suite = root.join("cmp.toml");
        let (suite, out) = (suite.to_str().unwrap(), root.to_str().unwrap());
        let a = seqbench(&["run", suite, "--out", out, "--run-id", "s1", "--shard", "1/2", "-q", "--no-tables"], &[]);
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        let b = seqbench(
            &["run", suite, "--out", out, "--run-id", "s2", "-q", "--no-tables"],
            &[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "2"), ("SLURM_ARRAY_TASK_MIN", "3")],
        );
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        (root.join("s1"), root.join("s2"))
    })
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p.join("results.json")).unwrap()).unwrap()
}

fn merge(runs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(runs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    seqbench(&args, &[])
}

#[test]
fn merged_shards_equal_the_unsharded_cell_set() {
    let base = base_run();
    let root = base.parent().unwrap();
    let (s1, s2) = shards();
    let merged = root.join("merged");
    let m = merge(&[s1, s2], &merged, &[]);
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let (whole, merged, s1) = (read(base), read(&merged), read(s1));
    let ids = |r: &Value| -> Vec<String> {
        r["cells"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&merged), ids(&whole));
    assert_eq!(merged["planned"], whole["planned"]);
    assert!(merged["finished"].is_string());
    assert!(ids(&s1).len() < ids(&whole).len() && !ids(&s1).is_empty());
    assert_eq!(s1["shard"]["count"], 2);
    assert_eq!(merged["shards"].as_array().unwrap().len(), 2);
    assert!(merged.get("partial").is_none());
    // A shard given twice is refused.
    let dup = merge(&[shards().0.as_path(), &shards().0], &root.join("dup"), &[]);
    assert_user_error(&dup, &["both shard 1/2"]);
}

#[test]
fn an_incomplete_set_of_shards_is_refused_or_marked_partial() {
    let root = base_run().parent().unwrap();
    let (_, s2) = shards();
    let refused = merge(&[s2], &root.join("half"), &[]);
    assert_user_error(&refused, &["suite `cmp`", "missing shard 1 of 2", "--allow-partial"]);
    assert!(!root.join("half").exists());
    // An unfinished shard is refused too, naming it.
    let cut = altered(s2, "s2-cut", |_, xs| xs.to_vec());
    let mut r = read(&cut);
    r["cells"].as_array_mut().unwrap().pop();
    std::fs::write(cut.join("results.json"), r.to_string()).unwrap();
    assert_user_error(&merge(&[&shards().0, &cut], &root.join("cut"), &[]), &["s2-cut is unfinished", "1 of"]);

    let partial = root.join("partial");
    let ok = merge(&[s2], &partial, &["--allow-partial"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("PARTIAL"));
    let r = read(&partial);
    assert_eq!(r["partial"]["missing_shards"], serde_json::json!([1]));
    assert_eq!(r["partial"]["shard_count"], 2);
    assert!(r["finished"].is_null());
    let md = std::fs::read_to_string(partial.join("results.md")).unwrap();
    assert!(md.contains("PARTIAL RUN") && md.contains("shard 1 of 2 missing"), "{md}");
    let report = seqbench(&["report", partial.to_str().unwrap()], &[]);
    assert!(report.status.success());
    assert!(std::fs::read_to_string(partial.join("report.html")).unwrap().contains("PARTIAL RUN"));
    // compare says so, and counts the baseline's cells it could not compare.
    let out = compare(base_run(), &partial, &["--threshold", "1000"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stderr.contains("is partial: shard 1 of 2 missing"), "{stderr}");
    assert!(stderr.contains("have no result in the new run") && stdout.contains("baseline cells missing"), "{stdout}");
}

#[test]
fn each_cell_keeps_the_calibration_of_its_shard_for_normalize() {
    let root = base_run().parent().unwrap();
    let (s1, s2) = shards();
    // Shard 2 as if measured on a machine twice as fast: calibration, throughputs doubled, times halved.
    let fast = altered(s2, "s2-fast", |m, xs| {
        xs.iter()
            .map(|s| match m {
                "train_throughput" | "generation" => s * 2.0,
                "prefill_latency" | "decode_latency" => s / 2.0,
                _ => *s,
            })
            .collect()
    });
    let mut r = read(&fast);
    let calibration = r["environment"]["calibration_gflops"].as_f64().unwrap();
    r["environment"]["calibration_gflops"] = Value::from(calibration * 2.0);
    r["environment"]["hostname"] = Value::from("a-faster-machine");
    std::fs::write(fast.join("results.json"), r.to_string()).unwrap();
    let (plain, mixed) = (root.join("merged-plain"), root.join("merged-mixed"));
    assert!(merge(&[s1, s2], &plain, &[]).status.success());
    let out = merge(&[s1, &fast], &mixed, &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("different machines"));
    let merged = read(&mixed);
    let own = |c: &Value| c["calibration_gflops"].as_f64().unwrap();
    let s1_calibration = read(s1)["environment"]["calibration_gflops"].as_f64().unwrap();
    let shard2_ids: Vec<String> =
        read(&fast)["cells"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
    for c in merged["cells"].as_array().unwrap() {
        let expected = if shard2_ids.contains(&c["id"].as_str().unwrap().to_string()) {
            calibration * 2.0
        } else {
            s1_calibration
        };
        assert_eq!(own(c), expected, "{}", c["id"]);
    }
    assert_eq!(merged["shards"][1]["environment"]["hostname"], "a-faster-machine");
    // Normalised by each cell's own machine, the faster machine's figures equal the plain merge's.
    let out = compare(&plain, &mixed, &["--normalize", "--threshold", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 regressed, 0 improved"), "{stdout}");
    // Without normalisation the doubled figures show as improvements.
    let raw = compare(&plain, &mixed, &["--threshold", "1"]);
    assert!(!String::from_utf8_lossy(&raw.stdout).contains(" 0 improved"));
}

#[test]
fn the_shard_of_a_slurm_array_task() {
    use seqbench::results::Shard;
    let task = |vars: &[(&str, &str)]| {
        let map: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Shard::from_slurm_vars(|k| map.get(k).cloned())
    };
    assert!(task(&[]).is_none());
    // --array=1-3
    let t = task(&[
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_MAX", "3"),
        ("SLURM_ARRAY_TASK_STEP", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
        ("SLURM_ARRAY_JOB_ID", "77"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!((t.shard, t.job_id.as_deref()), (Shard { index: 2, count: 3 }, Some("77")));
    // --array=1-5:2: task 5 is the third shard.
    let t = task(&[
        ("SLURM_ARRAY_TASK_ID", "5"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_MAX", "5"),
        ("SLURM_ARRAY_TASK_STEP", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(t.shard, Shard { index: 3, count: 3 });
    // --array=1,3,4 (Slurm 22.05 reports STEP=1): refused, naming what was read and what to pass.
    let e = task(&[
        ("SLURM_ARRAY_TASK_ID", "3"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_MAX", "4"),
        ("SLURM_ARRAY_TASK_STEP", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ])
    .unwrap()
    .unwrap_err();
    assert!(
        e.contains("not evenly spaced") && e.contains("SLURM_ARRAY_TASK_MAX=4") && e.contains("--shard I/N"),
        "{e}"
    );
    let e = task(&[("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "3")]).unwrap().unwrap_err();
    assert!(e.contains("SLURM_ARRAY_TASK_ID is not a number"), "{e}");
    let e = task(&[("SLURM_ARRAY_TASK_ID", "2")]).unwrap().unwrap_err();
    assert!(e.contains("SLURM_ARRAY_TASK_COUNT is unset"), "{e}");
    // The run names its shard by job id.
    let root = base_run().parent().unwrap();
    let out = seqbench(
        &[
            "run",
            root.join("cmp.toml").to_str().unwrap(),
            "--out",
            root.join("slurm").to_str().unwrap(),
            "-q",
            "--no-tables",
            "--no-report",
            "--models",
            "attention",
        ],
        &[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
            ("SLURM_ARRAY_JOB_ID", "4242"),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(root.join("slurm/cmp-job4242-shard2of2/results.json").exists());
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let base = base_run();
    assert_user_error(&compare(base, Path::new("/nonexistent/results.json"), &[]), &["cannot read results"]);
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(base.join("results.json")).unwrap()).unwrap();
    r["schema_version"] = Value::from(99);
    let v99 = base.parent().unwrap().join("v99.json");
    std::fs::write(&v99, r.to_string()).unwrap();
    assert_user_error(&compare(base, &v99, &[]), &["schema version"]);
    let renamed = altered(base_run(), "renamed", |_, xs| xs.to_vec());
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(renamed.join("results.json")).unwrap()).unwrap();
    for c in r["cells"].as_array_mut().unwrap() {
        c["id"] = Value::from(format!("other/{}", c["id"].as_str().unwrap()));
    }
    std::fs::write(renamed.join("results.json"), r.to_string()).unwrap();
    assert_user_error(&compare(base, &renamed, &[]), &["no cells in common"]);
    assert_user_error(&compare(base, base, &["--threshold-for", "speed=3"]), &["unknown measurement `speed`"]);
    assert_user_error(&seqbench(&["run", "ci", "--shard", "3/2"], &[]), &["shard `3/2`"]);
    let file = base.join("results.json");
    assert_user_error(&seqbench(&["run", "ci", "--out", file.to_str().unwrap()], &[]), &["is a file"]);
    assert_user_error(&merge(&[base], &file, &[]), &["is a file"]);
    assert_user_error(
        &seqbench(
            &["run", "ci", "-q"],
            &[
                ("SLURM_ARRAY_TASK_ID", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "4"),
            ],
        ),
        &["not evenly spaced", "--shard I/N"],
    );
}
