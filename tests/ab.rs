//! `seqbench ab`: two binaries measured in interleaved rounds. The same binary on both sides passes;
//! the test-only knob (SEQBENCH_TEST_SLOWDOWN) on the candidate is caught in every timed cell and
//! never in the memory cells; the paired rule on constructed rounds; bad input exits 2.

mod common;

use common::{assert_user_error, seqbench_env as seqbench, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};

const SUITE: &str = r#"
name = "ab"
models = ["attention", "gated-deltanet"]
size = "tiny"
plan = { warmup = 1, min_samples = 5, min_seconds = 0.0, max_samples = 5 }
[train]
seq_lens = [16]
batch = 2
[latency]
prompt = 8
positions = [8]
plan = { warmup = 1, min_samples = 10, min_seconds = 0.0, max_samples = 10 }
[memory]
positions = [16]
"#;

/// The A/B runs of this file take turns: run side by side they would be each other's noise.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn setup(name: &str) -> (PathBuf, String) {
    let dir = temp_dir("ab", name);
    std::fs::write(dir.join("ab.toml"), SUITE).unwrap();
    let suite = dir.join("ab.toml").to_str().unwrap().to_string();
    (dir, suite)
}

fn ab(dir: &Path, suite: &str, run_id: &str, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_seqbench");
    let mut args = vec!["ab", suite, "--baseline", bin, "--out", dir.to_str().unwrap(), "--run-id", run_id, "-q"];
    args.extend_from_slice(extra);
    seqbench(&args, env)
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn the_same_binary_on_both_sides_passes_and_a_2x_slowdown_fails_in_every_timed_cell() {
    let _turn = one_at_a_time();
    let (dir, suite) = setup("aa");
    let out = ab(&dir, &suite, "aa", &[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("8 cells compared in paired rounds: 0 regressed"), "{stdout}");
    // Both sides are complete runs with five round medians per measured cell, fourteen for a cell
    // whose median the noise pushed beyond the threshold (confirmed, and then not flagged).
    let cmp = read(&dir.join("aa/ab.json"));
    let confirmed = cmp["confirmed_cells"].as_array().unwrap();
    for side in ["baseline", "candidate"] {
        let r = read(&dir.join("aa").join(side).join("results.json"));
        assert!(r["finished"].is_string());
        for c in r["cells"].as_array().unwrap() {
            let rounds = c["metrics"].as_object().unwrap().keys().filter(|k| k.starts_with("round_median.")).count();
            assert_eq!(rounds, if confirmed.contains(&c["id"]) { 14 } else { 5 }, "{}", c["id"]);
        }
    }
    assert_eq!(cmp["comparison"]["method"], "paired_rounds");
    assert!(std::fs::read_to_string(dir.join("aa/ab.md")).unwrap().contains("interleaved rounds"));

    // Eight cells, each tested at 0.01 / 8: the cells whose median is beyond the threshold after the
    // 5 planned rounds are confirmed with 9 more rounds of those cells alone (14 rounds reach
    // p < 1.25e-3 with one of them reversed, as a noisy neighbour once did to a prefill cell here).
    let out = ab(&dir, &suite, "slow", &[], &[("SEQBENCH_TEST_SLOWDOWN", "2")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for id in [
        "train_throughput/attention@tiny/seq_len=16",
        "train_throughput/gated-deltanet@tiny/seq_len=16",
        "prefill_latency/attention@tiny/prompt=8",
        "decode_latency/gated-deltanet@tiny/position=8",
    ] {
        assert!(stdout.contains(&format!("regressed: {id}")), "{id} not flagged:\n{stdout}");
    }
    assert!(stdout.contains("6 regressed"), "{stdout}");
    assert!(!stdout.contains("regressed: memory"), "{stdout}");
    // The knob reached the candidate only (had it reached both sides, the ratio would be near 1).
    let cmp = read(&dir.join("slow/ab.json"));
    let train = cmp["comparison"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "train_throughput/attention@tiny/seq_len=16")
        .unwrap()
        .clone();
    let worse = train["worse_factor"].as_f64().unwrap();
    assert!(worse > 1.5, "{worse}");
    assert_eq!(cmp["confirmation_rounds"], 14);
    let confirmed = cmp["confirmed_cells"].as_array().unwrap();
    assert!(
        confirmed.len() == 6 && confirmed.iter().all(|c| !c.as_str().unwrap().starts_with("memory")),
        "{confirmed:?}"
    );
    let side = read(&dir.join("slow/candidate/results.json"));
    for c in side["cells"].as_array().unwrap() {
        let rounds = c["metrics"].as_object().unwrap().keys().filter(|k| k.starts_with("round_median.")).count();
        let expected = if confirmed.contains(&c["id"]) { 14 } else { 5 };
        assert_eq!(rounds, expected, "{}", c["id"]);
    }
}

/// The baseline side of one real A/B run, made once.
fn ab_side() -> &'static Value {
    static SIDE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SIDE.get_or_init(|| {
        let _turn = one_at_a_time();
        let (src, suite) = setup("rounds-src");
        let out = ab(&src, &suite, "src", &[], &[]);
        // Only the measured side is needed here: a complete run, whatever the gate said of it (on a
        // loaded machine an A/A run may see one cell's rounds disagree: exit 1, not a failure here).
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "{code:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        read(&src.join("src/baseline/results.json"))
    })
}

/// A pair of runs whose cells carry constructed per-round medians.
fn rounds_pair(dir: &Path, base_rounds: &[f64], new_rounds: &[f64]) -> (PathBuf, PathBuf) {
    let mut paths = Vec::new();
    for (name, rounds) in [("base", base_rounds), ("new", new_rounds)] {
        let mut r = ab_side().clone();
        r["cells"].as_array_mut().unwrap().retain(|c| c["measurement"] == "decode_latency");
        for c in r["cells"].as_array_mut().unwrap() {
            let metrics = c["metrics"].as_object_mut().unwrap();
            metrics.retain(|k, _| !k.starts_with("round_median."));
            for (i, v) in rounds.iter().enumerate() {
                metrics.insert(format!("round_median.{i:02}"), Value::from(*v));
            }
            c["samples"] = Value::from(rounds.to_vec());
        }
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("results.json"), r.to_string()).unwrap();
        paths.push(d);
    }
    (paths[0].clone(), paths[1].clone())
}

#[test]
fn paired_rounds_regress_only_when_the_rounds_agree_at_the_run_level_beyond_the_threshold() {
    let dir = temp_dir("ab", "rounds");
    let base = [1.00, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.00, 1.02, 0.98, 1.01, 0.99];
    let compare = |base: &[f64], new: &[f64], threshold: &str| {
        let (b, n) = rounds_pair(&dir, base, new);
        seqbench(&["compare", b.to_str().unwrap(), n.to_str().unwrap(), "--threshold", threshold], &[])
    };
    let times = |xs: &[f64], f: f64| xs.iter().map(|x| x * f).collect::<Vec<f64>>();
    // Two cells: each is tested at 0.01 / 2 = 0.005. 20% slower in all of 12 rounds: p = 1/4096.
    let slower = times(&base, 1.2);
    let out = compare(&base, &slower, "10");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("in paired rounds") && stdout.contains("p = 2.4e-4"), "{stdout}");
    assert!(stdout.contains("each cell at p < 0.005"), "{stdout}");
    // Every one of 5 rounds 20% slower is p = 1/32: significant for one cell alone, not at the run's
    // level (this is what a run of one binary against itself shows about once in 16 cells).
    let out = compare(&base[..5], &slower[..5], "10");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 regressed, 0 improved, 2 within noise"), "{stdout}");
    // One round of 12 reversed, however far, still regresses (p = 13/4096); two do not (p = 0.019).
    let mut one = slower.clone();
    one[2] = base[2] * 0.3;
    assert_eq!(compare(&base, &one, "10").status.code(), Some(1));
    let mut two = one.clone();
    two[6] = base[6] * 0.99;
    assert_eq!(compare(&base, &two, "10").status.code(), Some(0));
    // Significant but within the threshold: not flagged either.
    assert_eq!(compare(&base, &times(&base, 1.05), "10").status.code(), Some(0));
    // Faster in every round: improved.
    let out = compare(&base, &times(&base, 0.7), "10");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 regressed, 2 improved"));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let (dir, suite) = setup("bad");
    assert_user_error(&ab(&dir, &suite, "r", &["--rounds", "3"], &[]), &["--rounds 3", "at least 5"]);
    assert_user_error(
        &seqbench(&["ab", &suite, "--baseline", "/nonexistent/seqbench", "--out", dir.to_str().unwrap()], &[]),
        &["--baseline /nonexistent/seqbench"],
    );
    assert_user_error(
        &seqbench(&["ab", &suite, "--baseline", dir.join("ab.toml").to_str().unwrap()], &[]),
        &["not an executable file"],
    );
    assert_user_error(&ab(&dir, &suite, "r", &["--threshold=-1"], &[]), &["--threshold"]);
    assert_user_error(&ab(&dir, "nosuch", "r", &[], &[]), &["unknown suite `nosuch`"]);
    let file = dir.join("ab.toml");
    let out =
        seqbench(&["ab", &suite, "--baseline", env!("CARGO_BIN_EXE_seqbench"), "--out", file.to_str().unwrap()], &[]);
    assert_user_error(&out, &["is a file"]);
}
