//! The binary as a user meets it: exit codes, one-line errors naming file and field, outputs written.

mod common;

use common::{assert_user_error, seqbench};

fn temp_dir(name: &str) -> std::path::PathBuf {
    common::temp_dir("cli", name)
}

const GOOD: &str = r#"
name = "mine"
mixer = "gla"
[sizes.tiny]
d_model = 32
n_layers = 2
head_dim = 8
"#;

#[test]
fn bad_configs_give_one_line_and_exit_2() {
    let dir = temp_dir("configs");
    let cases: &[(&str, String, &[&str])] = &[
        ("unknown-mixer", GOOD.replace("\"gla\"", "\"transformer9000\""), &["`mixer`", "transformer9000"]),
        ("not-multiple", GOOD.replace("d_model = 32", "d_model = 30"), &["sizes.tiny.head_dim", "must divide d_model"]),
        ("zero-layers", GOOD.replace("n_layers = 2", "n_layers = 0"), &["sizes.tiny.n_layers", "positive"]),
        ("unknown-field", GOOD.replace("head_dim = 8", "head_dim = 8\nwidth = 3"), &["unknown field `width`"]),
        ("missing-field", GOOD.replace("head_dim = 8", ""), &["missing field `head_dim`"]),
        ("malformed", "name = \"x\nmixer = ".to_string(), &["malformed.toml"]),
        ("negative", GOOD.replace("d_model = 32", "d_model = -32"), &["`sizes.tiny.d_model`"]),
    ];
    for (name, text, needles) in cases {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        let out = seqbench(&["train", "--model", p, "--size", "tiny", "--steps", "1", "-q"]);
        let mut all = needles.to_vec();
        all.push(p);
        assert_user_error(&out, &all);
    }
    // The good one is accepted (and a missing size is reported with the sizes the file has).
    let path = dir.join("good.toml");
    std::fs::write(&path, GOOD).unwrap();
    let out = seqbench(&["check", "--models", path.to_str().unwrap(), "--size", "huge", "-q"]);
    assert_user_error(&out, &["sizes.huge", "tiny"]);
}

#[test]
fn unknown_model_and_bad_flags_exit_2() {
    assert_user_error(&seqbench(&["train", "--model", "gpt5", "-q"]), &["unknown model `gpt5`", "gated-deltanet"]);
    assert_user_error(&seqbench(&["check", "--models", "attention,nope"]), &["unknown model `nope`"]);
    assert_user_error(
        &seqbench(&["train", "--model", "gla", "--size", "tiny", "--form", "chunkwise:12"]),
        &["power of two"],
    );
    assert_user_error(&seqbench(&["train", "--steps", "0"]), &["--steps"]);
    assert_user_error(
        &seqbench(&["train", "--corpus", "/nonexistent/file.txt", "--size", "tiny"]),
        &["/nonexistent/file.txt"],
    );
    assert_user_error(
        &seqbench(&["train", "--model", "attention", "--seq-len", "65536", "--batch", "64"]),
        &["needs about", "available"],
    );
    let out = seqbench(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_passes_and_list_describes_every_model() {
    let out = seqbench(&["check", "-q"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    let out = seqbench(&["list", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), seqbench::model::config::built_in_names().len());
    let help = seqbench(&["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("train"));
}

#[test]
fn train_saves_weights_and_report() {
    let dir = temp_dir("train");
    let (w, j) = (dir.join("w.safetensors"), dir.join("r.json"));
    let out = seqbench(&[
        "train",
        "--model",
        "retnet@tiny",
        "--steps",
        "3",
        "--seq-len",
        "32",
        "--batch",
        "2",
        "-q",
        "--save",
        w.to_str().unwrap(),
        "--json",
        j.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tensors = candle_core::safetensors::load(&w, &candle_core::Device::Cpu).unwrap();
    assert!(tensors.contains_key("embed") && tensors.contains_key("layers.1.mixer.qkv.weight"));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    assert_eq!(report["schema"], "seqbench.train/1");
    assert_eq!(report["report"]["losses"].as_array().unwrap().len(), 3);
    assert!(report["report"]["entropy_floor_bits"].as_f64().unwrap() > 0.0);
}

/// `train --recompute` trains exactly as with kept activations (the same losses to the last bit: the
/// gradients are the same) and says so in its report; `train-speed --recompute` takes off, on or both.
#[test]
fn recompute_trains_the_same_and_bad_values_exit_2() {
    let dir = temp_dir("recompute");
    let losses = |recompute: bool| {
        let j = dir.join(format!("r{recompute}.json"));
        let mut args = vec!["train", "--model", "mamba2@tiny", "--steps", "3", "--seq-len", "33", "--batch", "2", "-q"];
        args.extend(["--json", j.to_str().unwrap()]);
        if recompute {
            args.push("--recompute");
        }
        let out = seqbench(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
        assert_eq!(report["options"]["recompute"], recompute);
        report["report"]["losses"].clone()
    };
    assert_eq!(losses(true), losses(false));
    let out = seqbench(&["train-speed", "--recompute", "sometimes", "--models", "attention@tiny"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sometimes"));
}

/// `run --jobs 2` trains the quality cells two at a time (each child with half the threads) and runs
/// the timing cells alone: every cell is measured, in the planned order, as with one job; bad values
/// and clap's own errors are one line and exit 2.
#[test]
fn jobs_run_quality_cells_side_by_side() {
    let dir = common::temp_dir("cli", "jobs");
    let suite = dir.join("jobs.toml");
    std::fs::write(
        &suite,
        r#"
name = "jobs"
models = ["attention", "gated-deltanet", "lstm"]
size = "tiny"
[memory]
positions = [16]
[lm]
steps = 4
seq_len = 32
batch = 2
"#,
    )
    .unwrap();
    let run = |jobs: &str, id: &str| {
        // Two threads for the run whatever the machine has, so that half of them is one.
        let out = common::seqbench_env(
            &[
                "run",
                suite.to_str().unwrap(),
                "--jobs",
                jobs,
                "--out",
                dir.to_str().unwrap(),
                "--run-id",
                id,
                "-q",
                "--no-tables",
                "--no-report",
            ],
            &[("RAYON_NUM_THREADS", "2")],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(id).join("results.json")).unwrap()).unwrap();
        r
    };
    let (one, two) = (run("1", "one"), run("2", "two"));
    let ids = |r: &serde_json::Value| -> Vec<String> {
        r["cells"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&one), ids(&two));
    assert_eq!(
        ids(&two),
        two["planned"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>()
    );
    assert!(two["cells"].as_array().unwrap().iter().all(|c| c["status"] == "ok"), "{two}");
    assert!(two["finished"].is_string());
    // With --jobs 2 the lm cells ran at the same time, each on half the threads; the memory cell (a
    // timing cell) alone on all of them, as every cell with one job.
    let all = 2.0;
    let cells = |r: &serde_json::Value, prefix: &str| -> Vec<(f64, f64, f64)> {
        r["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["id"].as_str().unwrap().starts_with(prefix))
            .map(|c| {
                let m = &c["metrics"];
                let start = m["started_unix_seconds"].as_f64().unwrap();
                (start, start + c["wall_seconds"].as_f64().unwrap(), m["threads"].as_f64().unwrap())
            })
            .collect()
    };
    let lm = cells(&two, "lm_loss/");
    assert_eq!(lm.len(), 3);
    assert!(lm.iter().all(|c| c.2 == 1.0), "threads per lm cell with --jobs 2: {lm:?}");
    let overlapping = lm.iter().enumerate().any(|(i, a)| lm.iter().skip(i + 1).any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(overlapping, "no two lm cells ran at the same time: {lm:?}");
    assert!(cells(&two, "memory/").iter().all(|c| c.2 == all), "{:?}", cells(&two, "memory/"));
    assert!(cells(&one, "lm_loss/").iter().all(|c| c.2 == all), "one job: every thread");
    assert_user_error(&seqbench(&["run", "--jobs", "0"]), &["--jobs must be at least 1"]);
    assert_user_error(&seqbench(&["run", "--jobs", "two"]), &["--jobs", "two"]);
    assert_user_error(&seqbench(&["run", "--jobs", "2", "--in-process"]), &["--in-process"]);
    assert_user_error(&seqbench(&["run", "--threads", "x"]), &["--threads"]);
    assert_user_error(&seqbench(&["frobnicate"]), &["frobnicate"]);
}
