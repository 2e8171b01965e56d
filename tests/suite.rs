//! The benchmark runner's mechanics (not timings): files and schema, failure isolation, resume,
//! refusal over the memory budget, exact state bytes, and bad input.

mod common;

use common::{assert_user_error, seqbench_env as seqbench};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("suite", name)
}

/// A suite that exercises every measurement on tiny models in a few seconds.
const TINY_SUITE: &str = r#"
name = "tiny"
models = ["attention", "gated-deltanet", "lstm", "sliding-window-attention"]
size = "tiny"
plan = { warmup = 0, min_samples = 2, min_seconds = 0.0, max_samples = 2 }
[train]
seq_lens = [16, 33]
batch = 2
forms = ["chunkwise:16", "recurrent"]
[latency]
prompt = 8
positions = [8, 256]
[memory]
positions = [16, 100, 300]
prefill_chunk = 64
[generation]
prompt = 8
tokens = 4
batches = [1, 200000]
mem_budget = "64MiB"
[lm]
steps = 3
seq_len = 16
batch = 2
[mqar]
vocab = 16
seq_len = 16
kv_pairs = [2]
layout = "zoology"
d_models = [16]
width_kv_pairs = 2
train_examples = 20
test_examples = 8
steps = 3
batch = 4
lrs = [0.003, 0.001]
seeds = 2
early_stop = 0.99
eval_every = 2
[parity]
models = ["lstm", "deltanet-negeig"]
train_len = 4
test_lens = [9]
train_examples = 20
test_examples = 8
steps = 3
batch = 4
[word_problem]
models = ["attention"]
group = "s3"
train_len = 4
test_lens = [6]
train_examples = 20
test_examples = 8
steps = 2
batch = 4
[copy]
alphabet = 4
lengths = [4]
train_examples = 20
test_examples = 8
steps = 3
batch = 4
[hybrid_ratio]
recurrent = "deltanet"
n_layers = 2
attention_layers = [0, 1, 2]
"#;

fn write_suite(dir: &Path) -> String {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, TINY_SUITE).unwrap();
    path.to_str().unwrap().to_string()
}

fn load(dir: &Path, id: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(id).join("results.json")).unwrap()).unwrap()
}

fn validate(results: &Value) {
    let schema: Value = serde_json::from_str(include_str!("../schemas/results.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(results).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "results.json does not match the schema:\n{}", errors.join("\n"));
}

fn cell<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["cells"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no cell {id}"))
}

#[test]
fn a_run_writes_valid_files_and_isolates_a_crashing_cell() {
    let dir = temp_dir("full");
    let suite = write_suite(&dir);
    let out = dir.to_str().unwrap();
    let run = seqbench(
        &["run", &suite, "--out", out, "--run-id", "r1", "-q"],
        &[("SEQBENCH_FAIL_CELL", "decode_latency/lstm@tiny/position=256")],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    // One failed cell: the run goes on and says so with exit code 1.
    assert_eq!(run.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
    let r = load(&dir, "r1");
    validate(&r);
    assert_eq!(r["cells"].as_array().unwrap().len(), r["planned"].as_array().unwrap().len());
    assert!(r["finished"].is_string());
    let crashed = cell(&r, "decode_latency/lstm@tiny/position=256");
    assert_eq!(crashed["status"], "failed");
    assert!(crashed["error"].as_str().unwrap().contains("signal"), "{crashed}");
    let statuses: Vec<&str> = r["cells"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "failed").count(), 1);
    // Every measurement has ok cells, with raw samples kept.
    for m in [
        "train_throughput",
        "prefill_latency",
        "decode_latency",
        "memory",
        "generation",
        "lm_loss",
        "mqar_accuracy",
        "mqar_width",
        "copy_accuracy",
        "parity_accuracy",
        "word_problem_accuracy",
    ] {
        assert!(r["cells"].as_array().unwrap().iter().any(|c| c["measurement"] == m && c["status"] == "ok"), "{m}");
    }
    assert_eq!(
        cell(&r, "train_throughput/gated-deltanet@tiny [recurrent]/seq_len=33")["samples"].as_array().unwrap().len(),
        2
    );
    // Training cells: MFU against the GEMM peak calibrated around the cell; decode cells: the bytes a
    // step reads (every weight but the embedding's other rows, and the whole state) and their rate.
    let train = &cell(&r, "train_throughput/gated-deltanet@tiny [recurrent]/seq_len=33")["metrics"];
    let metric = |m: &Value, k: &str| m[k].as_f64().unwrap_or_else(|| panic!("no {k} in {m}"));
    let peak = metric(train, "peak_gflops");
    assert!(peak > 0.0 && (metric(train, "gemm_gflops_before") + metric(train, "gemm_gflops_after")) / 2.0 == peak);
    assert!((metric(train, "mfu") - metric(train, "model_gflops") / peak).abs() < 1e-12);
    assert!(metric(train, "shape_gemm_gflops") > 0.0);
    let decode = cell(&r, "decode_latency/attention@tiny/position=256");
    let (dm, model) = (&decode["metrics"], &decode["model"]);
    let embedding = 256.0 * model["d_model"].as_f64().unwrap() * 4.0;
    let params = metric(&cell(&r, "train_throughput/attention@tiny/seq_len=33")["metrics"], "param_bytes");
    assert_eq!(metric(dm, "step_bytes_read"), params - embedding + embedding / 256.0 + metric(dm, "state_bytes"));
    let step = decode["summary"]["median"].as_f64().unwrap();
    assert!((metric(dm, "read_gb_per_s") - metric(dm, "step_bytes_read") / step / 1e9).abs() < 1e-9);
    assert!(dm.get("copy_gb_per_s").is_none(), "tiny weights stay in cache: no bandwidth calibration");
    // Tables and verdicts printed; CSV tidy with one row per cell; Markdown has the tables.
    assert!(
        stdout.contains("Training throughput") && stdout.contains("Decode latency from position 8 to 256"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(dir.join("r1/results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + r["cells"].as_array().unwrap().len());
    assert!(csv.starts_with("run_id,measurement,model,label,mixer,form,parameter,value,status,unit,n,median"));
    let md = std::fs::read_to_string(dir.join("r1/results.md")).unwrap();
    assert!(md.contains("## Verdicts") && md.contains("| model |") && md.contains("## Failed cells"));
    assert!(
        md.contains("MQAR test accuracy vs key-value pairs")
            && md.contains("state bytes")
            && md.contains("Expected from the literature")
    );
    // Quality cells: accuracies in [0, 1], the loss curve kept, the width sweep builds the wider model.
    let acc = cell(&r, "mqar_accuracy/gated-deltanet@tiny/kv_pairs=2")["summary"]["median"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    let lm = cell(&r, "lm_loss/attention@tiny/steps=3");
    assert!(
        lm["metrics"]["loss_curve.00002"].as_f64().unwrap() > 0.0
            && lm["metrics"]["entropy_floor_bits"].as_f64().unwrap() > 0.0
    );
    assert_eq!(cell(&r, "mqar_width/lstm@tiny/d_model=16")["model"]["d_model"], 16);
    // The protocol: one sample per seed, each seed's learning rate chosen from the sweep, the learning
    // curve kept; the layout recorded and named in the table.
    let mq = cell(&r, "mqar_accuracy/attention@tiny/kv_pairs=2");
    assert_eq!(mq["samples"].as_array().unwrap().len(), 2);
    assert_eq!(mq["settings"]["layout"], "zoology");
    for seed in ["0", "1"] {
        let lr = mq["metrics"][format!("seed.{seed}.lr")].as_f64().unwrap();
        assert!(lr == 0.003 || lr == 0.001, "{lr}");
        assert!(mq["metrics"][format!("seed.{seed}.valid_curve.000002")].as_f64().is_some());
    }
    assert!(md.contains("zoology layout") && md.contains("2 seeds"));
    // State tracking beyond the training length, with the in-length figure beside; the negative-
    // eigenvalue DeltaNet records its option in the model.
    let parity = cell(&r, "parity_accuracy/deltanet-negeig@tiny/test_len=9");
    assert_eq!(parity["model"]["allow_neg_eigval"], true);
    assert!(parity["metrics"]["valid_accuracy"].as_f64().is_some());
    assert_eq!(cell(&r, "word_problem_accuracy/attention@tiny/test_len=6")["settings"]["group"], "s3");
    assert!(md.contains("Parity: accuracy beyond the training length 4") && md.contains("S3 word problem"));
    // The scorecard heads results.md and the terminal output, with what was not measured marked.
    let scorecard = md.find("Scorecard").expect("results.md has the scorecard");
    assert!(scorecard < md.find("Environment:").unwrap(), "the scorecard comes first");
    assert!(md.contains("not measured"));
    let printed = stdout.find("Scorecard").expect("run prints the scorecard");
    assert!(printed < stdout.find("Training throughput").unwrap(), "the scorecard is printed first");
    let sc = &r["derived"]["scorecard"];
    let row = |name: &str| sc["rows"].as_array().unwrap().iter().find(|row| row["model"] == name).unwrap().clone();
    let (lstm, negeig) = (row("lstm"), row("deltanet-negeig"));
    assert!(lstm["train_vs_attention"].as_f64().unwrap() > 0.0 && lstm["parity"].is_array() && lstm["mqar"].is_array());
    assert!(negeig["parity"].is_array() && negeig["train_vs_attention"].is_null() && negeig["mqar"].is_null());
    hybrid_ratio_and_window_are_right(&r, &md, &dir);
}

/// The hybrid-ratio sweep and the sliding window, in the run of
/// [`a_run_writes_valid_files_and_isolates_a_crashing_cell`].
fn hybrid_ratio_and_window_are_right(r: &Value, md: &str, dir: &std::path::Path) {
    // The hybrid-ratio sweep: one model per share, each measured at every section's largest setting,
    // its KV bytes growing with the share; its table and chart.
    let shares = r["derived"]["hybrid_ratio"].as_array().unwrap();
    let names: Vec<&str> = shares.iter().map(|s| s["model"].as_str().unwrap()).collect();
    assert_eq!(names, ["deltanet+attention-0of2", "deltanet+attention-1of2", "deltanet+attention-2of2"]);
    let bytes: Vec<f64> = shares.iter().map(|s| s["state_bytes"].as_f64().unwrap()).collect();
    assert!(bytes[0] < bytes[1] && bytes[1] < bytes[2], "{bytes:?}");
    assert!(shares.iter().all(|s| s["mqar"].is_array()
        && s["decode_seconds"].as_f64().unwrap() > 0.0
        && s["train_tokens_per_sec"].as_f64().unwrap() > 0.0));
    assert_eq!(
        cell(r, "memory/deltanet+attention-1of2@tiny/position=300")["model"]["layers"],
        serde_json::json!(["deltanet", "attention"])
    );
    assert!(r["cells"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != "memory/deltanet+attention-1of2@tiny/position=100"));
    assert!(md.contains("How much attention does a hybrid need?"));
    assert!(dir.join("r1/hybrid_ratio.svg").exists());
    // The sliding window: the cache stops growing at W = 32 tokens.
    let held = |p: usize| {
        cell(r, &format!("memory/sliding-window-attention@tiny/position={p}"))["summary"]["median"].as_f64().unwrap()
    };
    assert_eq!(held(100), held(300));
    assert_eq!(held(16) * 2.0, held(100));
}

#[test]
fn memory_cells_report_exact_state_bytes_and_refuse_over_budget() {
    let dir = temp_dir("memory");
    let suite = write_suite(&dir);
    let run = seqbench(&["run", &suite, "--out", dir.to_str().unwrap(), "--run-id", "m", "-q", "--no-tables"], &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let r = load(&dir, "m");
    validate(&r);
    // KV cache: 2 x layers x T x d x 4 bytes (tiny: 2 layers, d = 32); recurrent states are constant.
    for t in [16u64, 100, 300] {
        let attn = cell(&r, &format!("memory/attention@tiny/position={t}"));
        assert_eq!(attn["summary"]["median"].as_f64().unwrap() as u64, 2 * 2 * t * 32 * 4);
        assert_eq!(attn["metrics"]["state_bytes_formula"], attn["summary"]["median"]);
        assert!(attn["metrics"]["heap_held_bytes"].as_f64().unwrap() >= attn["summary"]["median"].as_f64().unwrap());
    }
    let gdn: Vec<f64> = [16, 100, 300]
        .iter()
        .map(|t| cell(&r, &format!("memory/gated-deltanet@tiny/position={t}"))["summary"]["median"].as_f64().unwrap())
        .collect();
    assert!(gdn.iter().all(|b| *b == gdn[0]));
    assert_eq!(r["derived"]["memory_growth_bytes_per_token"]["attention@tiny"].as_f64().unwrap(), 512.0);
    assert_eq!(r["derived"]["memory_growth_bytes_per_token"]["gated-deltanet@tiny"].as_f64().unwrap(), 0.0);
    // Generation at batch 200000 needs more than 64 MiB for every model: refused, with the figure.
    for m in ["attention", "gated-deltanet", "lstm"] {
        let big = cell(&r, &format!("generation/{m}@tiny/batch=200000"));
        assert_eq!(big["status"], "refused", "{big}");
        assert!(big["metrics"]["need_bytes"].as_f64().unwrap() > 64.0 * 1024.0 * 1024.0);
        assert!(big["samples"].as_array().unwrap().is_empty());
        assert_eq!(cell(&r, &format!("generation/{m}@tiny/batch=1"))["status"], "ok");
    }
}

#[test]
fn an_interrupted_run_resumes_where_it_stopped() {
    let dir = temp_dir("resume");
    let suite = write_suite(&dir);
    let out = dir.to_str().unwrap();
    let first = seqbench(&["run", &suite, "--out", out, "--run-id", "r", "-q"], &[("SEQBENCH_STOP_AFTER", "5")]);
    assert_eq!(first.status.code(), Some(1));
    let partial = load(&dir, "r");
    validate(&partial);
    assert_eq!(partial["cells"].as_array().unwrap().len(), 5);
    assert!(partial["finished"].is_null());
    let done: Vec<Value> = partial["cells"].as_array().unwrap().clone();
    // Starting the same run again is refused; resuming finishes it without redoing measured cells.
    let again = seqbench(&["run", &suite, "--out", out, "--run-id", "r", "-q"], &[]);
    assert_eq!(again.status.code(), Some(2));
    let resumed = seqbench(&["run", "--resume", "r", "--out", out, "-q", "--no-tables"], &[]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let full = load(&dir, "r");
    validate(&full);
    let ids: Vec<&str> = full["cells"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    let planned: Vec<&str> = full["planned"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(ids, planned);
    for c in &done {
        assert_eq!(
            cell(&full, c["id"].as_str().unwrap())["samples"],
            c["samples"],
            "cell {} was measured again",
            c["id"]
        );
    }
    assert!(full["finished"].is_string());
}

#[test]
fn bad_suite_input_exits_2_with_one_line() {
    let dir = temp_dir("bad");
    assert_user_error(&seqbench(&["run", "nosuchsuite"], &[]), &["unknown suite `nosuchsuite`"]);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, TINY_SUITE.replace("seq_lens = [16, 33]", "seq_lens = []")).unwrap();
    assert_user_error(&seqbench(&["run", bad.to_str().unwrap()], &[]), &["`train.seq_lens`"]);
    std::fs::write(&bad, TINY_SUITE.replace("mem_budget = \"64MiB\"", "mem_budget = \"lots\"")).unwrap();
    assert_user_error(&seqbench(&["run", bad.to_str().unwrap()], &[]), &["`generation.mem_budget`"]);
    std::fs::write(&bad, TINY_SUITE.replace("batch = 2", "batch = 2\nbatchsize = 3")).unwrap();
    assert_user_error(&seqbench(&["run", bad.to_str().unwrap()], &[]), &["unknown field `batchsize`"]);
    assert_user_error(&seqbench(&["latency", "--device", "cuda:0", "--models", "gla"], &[]), &["device `cuda:0`"]);
    assert_user_error(
        &seqbench(&["memory", "--models", "gpt9", "--out", dir.to_str().unwrap()], &[]),
        &["unknown model `gpt9`"],
    );
    assert_user_error(
        &seqbench(&["run", "--resume", "nothing-here", "--out", dir.to_str().unwrap()], &[]),
        &["cannot read results"],
    );
    assert_user_error(&seqbench(&["generate", "--mem-budget", "12 parsecs", "--models", "gla"], &[]), &["mem_budget"]);
    // The quality protocol's fields: each bad value names the file and the field, in one line.
    let cases: [(&str, &str, &[&str]); 16] = [
        (
            "attention_layers = [0, 1, 2]",
            "attention_layers = [0, 3]",
            &["`hybrid_ratio.attention_layers`", "spread evenly"],
        ),
        ("recurrent = \"deltanet\"", "recurrent = \"attention\"", &["`hybrid_ratio.recurrent`", "non-attention"]),
        ("kv_pairs = [2]", "kv_pairs = []", &["`mqar.kv_pairs`"]),
        ("kv_pairs = [2]", "kv_pairs = [5]", &["`mqar.kv_pairs`", "do not fit in seq_len 16"]),
        ("vocab = 16\nseq_len = 16", "vocab = 4\nseq_len = 16", &["`mqar.kv_pairs`", "distinct keys"]),
        ("layout = \"zoology\"", "layout = \"zoo\"", &["`mqar.layout`", "unknown MQAR layout"]),
        ("lrs = [0.003, 0.001]", "lrs = []", &["`mqar.lrs`"]),
        ("lrs = [0.003, 0.001]", "lrs = [0.003]\nlr = 0.01", &["`mqar.lrs`", "not both"]),
        ("seeds = 2", "seeds = 0", &["`mqar.seeds`"]),
        ("seeds = 2", "seeds = 2\nsweep_seeds = 3", &["`mqar.sweep_seeds`", "between 1 and seeds (2)"]),
        (
            "train_len = 4\ntest_lens = [9]",
            "sweep_seeds = 1\ntrain_len = 4\ntest_lens = [9]",
            &["`parity.sweep_seeds`", "give lrs"],
        ),
        ("early_stop = 0.99", "early_stop = 1.5", &["`mqar.early_stop`"]),
        ("test_lens = [9]", "test_lens = [4]", &["`parity.test_len`", "longer than train_len 4"]),
        ("group = \"s3\"", "group = \"s7\"", &["`word_problem.group`"]),
        ("train_len = 4\ntest_lens = [9]", "group = \"s3\"\ntrain_len = 4\ntest_lens = [9]", &["`parity.group`"]),
        ("steps = 2\nbatch = 4\n[copy]", "steps = 0\nbatch = 4\n[copy]", &["`word_problem.steps`"]),
    ];
    for (from, to, needles) in cases {
        assert!(TINY_SUITE.contains(from), "{from}");
        std::fs::write(&bad, TINY_SUITE.replacen(from, to, 1)).unwrap();
        let mut want = vec!["bad.toml"];
        want.extend_from_slice(needles);
        assert_user_error(&seqbench(&["run", bad.to_str().unwrap()], &[]), &want);
    }
    // allow_neg_eigval belongs to the delta rule.
    let model = dir.join("gla-neg.toml");
    std::fs::write(&model, "name = \"g\"\nmixer = \"gla\"\nallow_neg_eigval = true\n[sizes.tiny]\nd_model = 32\nn_layers = 2\nhead_dim = 8\n").unwrap();
    assert_user_error(
        &seqbench(
            &["memory", "--models", model.to_str().unwrap(), "--size", "tiny", "--out", dir.to_str().unwrap()],
            &[],
        ),
        &["gla-neg.toml", "`allow_neg_eigval`", "delta-rule"],
    );
    // The sliding window: positive, required by sliding_window_attention, refused elsewhere, and
    // passed by some position of the grids it is measured on.
    let sizes = "[sizes.tiny]\nd_model = 32\nn_layers = 2\nhead_dim = 8\n";
    let swa = |extra: &str, mixer: &str| format!("name = \"w\"\nmixer = \"{mixer}\"\n{extra}{sizes}");
    let model = dir.join("swa.toml");
    for (text, needles) in [
        (swa("window = 0\n", "sliding_window_attention"), &["swa.toml", "`window`", "positive"][..]),
        (swa("", "sliding_window_attention"), &["swa.toml", "`window`", "required"]),
        (swa("window = 8\n", "attention"), &["swa.toml", "`window`", "sliding_window_attention"]),
        (swa("householder_steps = 0\n", "gated_deltaproduct"), &["swa.toml", "`householder_steps`", "at least 1"]),
        (swa("householder_steps = 2\n", "gated_deltanet"), &["swa.toml", "`householder_steps`", "gated_deltaproduct"]),
        (swa("kv_heads = 3\n", "gated_attention"), &["swa.toml", "`kv_heads`", "divide the 4 query heads"]),
        (swa("kv_heads = 0\n", "attention"), &["swa.toml", "`kv_heads`", "divide"]),
        (swa("kv_heads = 2\n", "gated_deltanet"), &["swa.toml", "`kv_heads`", "attention layers"]),
        (
            swa("layers = [\"gated_deltanet\", \"attn\"]\n", "gated_deltanet"),
            &["swa.toml", "`layers`", "unknown mixer `attn`"],
        ),
    ] {
        std::fs::write(&model, text).unwrap();
        let out = seqbench(
            &["memory", "--models", model.to_str().unwrap(), "--size", "tiny", "--out", dir.to_str().unwrap()],
            &[],
        );
        assert_user_error(&out, needles);
    }
    std::fs::write(&model, swa("window = 64\n", "sliding_window_attention")).unwrap();
    let suite = dir.join("window.toml");
    let text = format!(
        "name = \"w\"\nmodels = [{:?}]\nsize = \"tiny\"\n[memory]\npositions = [16, 64]\n",
        model.to_str().unwrap()
    );
    std::fs::write(&suite, text).unwrap();
    assert_user_error(
        &seqbench(&["run", suite.to_str().unwrap()], &[]),
        &["window.toml", "`memory.positions`", "64-token window"],
    );
}

/// Every shipped suite loads and plans its cells (the hybrid-ratio sweep: one model per share).
#[test]
fn shipped_suites_load_and_plan() {
    use seqbench::results::suite::{Suite, BUILT_IN};
    for (name, _) in BUILT_IN {
        let suite = Suite::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!suite.cells().unwrap().is_empty(), "{name}");
    }
    let cells = Suite::load("hybrid-ratio").unwrap().cells().unwrap();
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.contains(&"mqar_accuracy/gated-deltanet+attention-1of4@tiny/kv_pairs=16"), "{ids:?}");
    assert!(ids.contains(&"decode_latency/gated-deltanet+attention-4of4@small/position=8192"), "{ids:?}");
    assert_eq!(cells.len(), 4 * 4, "{ids:?}");
    // The scale suite: five models at four sizes; training from 2-layer probes at small, 125m and
    // 350m only, the 1024-token prefill with its own plan, decode to 32k and synthetic states to
    // 128k at every size.
    let cells = Suite::load("scale").unwrap().cells().unwrap();
    let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
    for id in [
        "train_throughput/gated-deltanet@350m [chunkwise:64] (2-layer probe)/seq_len=4096",
        "train_throughput/gla@125m [recurrent] (2-layer probe)/seq_len=512",
        "train_throughput/attention@small (2-layer probe)/seq_len=2048",
        "prefill_latency/attention@1.3b/prompt=1024",
        "decode_latency/gru@1.3b/position=32768",
        "memory/mamba2@350m/position=131072",
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    assert!(!ids.iter().any(|id| id.starts_with("train_throughput/") && id.contains("@1.3b")), "{ids:?}");
    for c in &cells {
        let probe = c.measurement.name() == "train_throughput";
        let full = seqbench::model::config::load(&c.model.name, &c.model.size).unwrap().n_layers;
        assert_eq!(c.model.n_layers, if probe { 2 } else { full }, "{}", c.id);
        if c.measurement.name() == "prefill_latency" {
            assert_eq!((c.plan.warmup, c.plan.min_samples), (0, 2), "{}: the prefill plan", c.id);
        }
    }
    assert!(cells.iter().filter(|c| c.measurement.name() == "memory").all(|c| c.settings.synthetic == Some(true)));
}

/// A `run` killed by a plain SIGTERM (only the parent gets it) takes its cell's child with it: the
/// child notices its parent is gone and stops within a second instead of holding a core.
#[test]
fn a_killed_run_leaves_no_cell_running() {
    let dir = temp_dir("orphan");
    let suite = dir.join("long.toml");
    let text = "name = \"long\"\nmodels = [\"gated-deltanet\"]\nsize = \"tiny\"\n[lm]\nsteps = 100000\nseq_len = 64\nbatch = 8\n";
    std::fs::write(&suite, text).unwrap();
    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_seqbench"))
        .args(["run", suite.to_str().unwrap(), "--out", dir.to_str().unwrap(), "-q"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let children = |pid: u32| -> Vec<u32> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        text.split_whitespace().filter_map(|p| p.parse().ok()).collect()
    };
    let start = std::time::Instant::now();
    let cell = loop {
        if let Some(c) = children(run.id()).first().copied() {
            break c;
        }
        assert!(start.elapsed().as_secs() < 60, "no cell started");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let killed = std::process::Command::new("kill").args(["-TERM", &run.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let _ = run.wait();
    let gone = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{cell}/stat")).exists()
        && !std::fs::read_to_string(format!("/proc/{cell}/stat")).unwrap_or_default().contains(") Z ")
    {
        assert!(gone.elapsed().as_secs() < 5, "the cell {cell} outlived its run");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The race behind a flaky CI run: a `run` killed between starting a cell's child and the child's
/// first look at its parent. The child is told its run's pid, so it still notices: here a child
/// whose named run is not its parent exits 130 at once, before reading its cell.
#[test]
fn a_cell_whose_run_died_before_it_started_exits_at_once() {
    let start = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_seqbench"))
        .arg("cell")
        .env("SEQBENCH_PARENT_PID", "1")
        .stdin(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(start.elapsed().as_secs() < 5);
}
