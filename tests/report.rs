//! `seqbench report`: the charts are well-formed SVG with every model's series and their labels, the
//! HTML report is one self-contained file, results.md links the charts. Run on the committed
//! reference runs (every measurement kind), so no benchmark has to run here.

mod common;
use common::{assert_user_error, seqbench, temp_dir};
use std::collections::BTreeSet;
use std::path::Path;

fn repo(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

/// Labels of the cells of `measurement` that were measured (status ok), from results.json.
fn labels(results: &serde_json::Value, measurement: &str) -> BTreeSet<String> {
    results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["measurement"] == measurement && c["status"] == "ok")
        .map(|c| c["label"].as_str().unwrap().to_string())
        .collect()
}

struct Svg {
    texts: Vec<String>,
    polylines: usize,
}

fn parse_svg(path: &Path) -> Svg {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: not XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{}", path.display());
    let texts = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "text")
        .map(|n| {
            n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<String>().trim().to_string()
        })
        .collect();
    let polylines = doc.descendants().filter(|n| n.tag_name().name() == "polyline").count();
    Svg { texts, polylines }
}

#[test]
fn report_draws_every_chart_with_its_series_and_labels() {
    let dir = temp_dir("report", "full");
    std::fs::copy(repo("results/full-reference-2core/results.json"), dir.join("results.json")).unwrap();
    let out = seqbench(&["report", dir.to_str().unwrap(), "--compare", &repo("results/full-reference-2core")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();

    // chart file -> (measurement whose labels must all appear, axis texts that must appear)
    let expected: [(&str, &str, &[&str]); 8] = [
        ("train_throughput.svg", "train_throughput", &["sequence length (tokens)", "training throughput (tokens/s)"]),
        ("decode_latency.svg", "decode_latency", &["position (tokens already in the state)", "decode step (median)"]),
        ("memory.svg", "memory", &["position (tokens)", "bytes", "16384"]),
        ("generation.svg", "generation", &["batch size", "decode throughput (tokens/s)", "bytes needed"]),
        ("mqar_accuracy.svg", "mqar_accuracy", &["key-value pairs", "test accuracy"]),
        ("accuracy_vs_state.svg", "mqar_width", &["test accuracy"]),
        ("copy_accuracy.svg", "copy_accuracy", &["string length (tokens)", "test accuracy"]),
        ("lm_loss_curve.svg", "lm_loss", &["training step", "training loss (nats/byte)"]),
    ];
    for (file, measurement, axes) in expected {
        let svg = parse_svg(&dir.join(file));
        let want = labels(&results, measurement);
        assert!(!want.is_empty(), "{measurement}: no cells in the reference run");
        for label in &want {
            assert!(svg.texts.iter().any(|t| t == label), "{file}: legend lacks {label}");
        }
        for a in axes {
            assert!(svg.texts.iter().any(|t| t == a), "{file}: no text `{a}` in {:?}", svg.texts);
        }
        // One drawn line per series (memory: exact state and measured peak per model).
        let lines = if measurement == "memory" { 2 * want.len() } else { want.len() };
        assert!(svg.polylines >= lines, "{file}: {} lines for {lines} series", svg.polylines);
    }
    // State tracking: one row per model and task, labelled with its seeds (dot and whisker).
    let tracking = parse_svg(&dir.join("state_tracking.svg"));
    for m in ["parity_accuracy", "word_problem_accuracy"] {
        for label in labels(&results, m) {
            assert!(
                tracking.texts.iter().any(|t| t.starts_with(&format!("{label} ("))),
                "state_tracking.svg lacks {label}"
            );
        }
    }
    assert!(tracking.texts.iter().any(|t| t == "accuracy beyond the training length"), "{:?}", tracking.texts);
    // The generation chart shows the budget line and marks the refused cells.
    let generation = parse_svg(&dir.join("generation.svg"));
    assert!(generation.texts.iter().any(|t| t.starts_with("budget ")), "{:?}", generation.texts);
    // The comparison: one row per compared cell, labelled with id and verdict.
    let compare = parse_svg(&dir.join("compare.svg"));
    let measured = results["cells"].as_array().unwrap().iter().filter(|c| c["status"] == "ok").count();
    let rows = compare.texts.iter().filter(|t| t.ends_with("[within noise]")).count();
    assert_eq!(rows, measured, "a self-comparison puts every measured cell within noise");

    // report.html: every chart inline, nothing fetched from elsewhere, verdicts and tables present.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // Nine charts, the crossover-against-width chart (the run has attention at two widths), the comparison.
    assert!(dir.join("crossover_width.svg").is_file());
    assert_eq!(html.matches("<svg").count(), 11, "ten charts plus the comparison inline");
    for external in ["src=", "<link", "<script", "href=\"http"] {
        assert!(!html.contains(external), "report.html refers to an external resource: {external}");
    }
    assert!(html.contains("<h2>Verdicts</h2>") && html.contains("Training throughput"));
    // The scorecard is the first table, before the environment.
    let scorecard = html.find("id=\"scorecard\"").expect("report.html has the scorecard");
    assert!(scorecard < html.find("<h2>Environment</h2>").unwrap());
    // results.md links every chart.
    let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
    for file in expected.iter().map(|e| e.0).chain(["state_tracking.svg"]) {
        assert!(md.contains(&format!("]({file})")), "results.md does not link {file}");
    }
}

#[test]
fn report_rejects_what_is_not_a_run() {
    let dir = temp_dir("report", "bad");
    assert_user_error(&seqbench(&["report", dir.join("missing").to_str().unwrap()]), &["cannot read results"]);
    std::fs::write(dir.join("results.json"), "{}").unwrap();
    assert_user_error(&seqbench(&["report", dir.to_str().unwrap()]), &["not a seqbench results file"]);
}

/// The committed hybrid-ratio run: its chart has one point per share on the decode-cost axis, its
/// table one row per share, and the state grows with the share of attention layers.
#[test]
fn the_hybrid_ratio_reference_draws_recall_against_decode_cost() {
    let dir = temp_dir("report", "hybrid-ratio");
    std::fs::copy(repo("results/hybrid-ratio-reference-2core/results.json"), dir.join("results.json")).unwrap();
    let out = seqbench(&["report", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let svg = parse_svg(&dir.join("hybrid_ratio.svg"));
    // The pure Gated DeltaNet share's MQAR cell timed out in this run: no point for it.
    for text in ["1 of 4 attention", "2 of 4 attention", "4 of 4 attention", "test accuracy"] {
        assert!(svg.texts.iter().any(|t| t == text), "hybrid_ratio.svg lacks `{text}`: {:?}", svg.texts);
    }
    assert!(svg.texts.iter().any(|t| t == "decode step at the longest position (median)"), "{:?}", svg.texts);
    let md = std::fs::read_to_string(dir.join("results.md")).unwrap();
    assert!(md.contains("How much attention does a hybrid need?") && md.contains("| 2 of 4 |"), "{md}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let shares = r["derived"]["hybrid_ratio"].as_array().unwrap();
    let bytes: Vec<f64> = shares.iter().map(|s| s["state_bytes"].as_f64().unwrap()).collect();
    assert_eq!(shares.len(), 4);
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
}
