//! The `scale` suite's answer in one line: how each crossover with attention moves as the width
//! grows, read from `derived.crossovers` ([`crate::analysis::crossover`]). It is the run's `Scale:`
//! verdict, which README renders (`seqbench docs`, kind `verdicts RUN Scale`).

use crate::analysis::crossover::KV_RATIOS;
use crate::results::derived::Crossover;
use crate::results::Results;

/// `Scale: ...` when the run has crossovers at two widths or more.
pub fn verdict(r: &Results) -> Option<String> {
    let all = &r.derived.crossovers;
    let mut widths: Vec<(usize, String)> =
        all.iter().filter(|c| c.d_model > 0).map(|c| (c.d_model, c.size.clone())).collect();
    widths.sort();
    widths.dedup();
    if widths.len() < 2 {
        return None;
    }
    let mut parts = Vec::new();
    for (measurement, what) in [("train_throughput", "training step faster"), ("decode_latency", "decode step faster")]
    {
        if let Some(line) = earliest(all, measurement, &widths) {
            parts.push(format!("{what} from {line}"));
        }
    }
    for k in KV_RATIOS {
        if let Some(line) = latest(all, &format!("kv_cache_{k}x"), &widths) {
            parts.push(format!("attention's KV cache {k}x every model's state from T = {line}"));
        }
    }
    let sizes: Vec<String> = widths.iter().map(|(d, s)| format!("{s} (d {d})")).collect();
    Some(format!(
        "Scale: crossovers with attention of the same size as the width grows, {}: {} (per size: the first \
         model to cross, every sample beyond attention's; `>N`: none up to the grid's largest N).",
        sizes.join(" → "),
        parts.join("; ")
    ))
}

/// Per width, the smallest crossover of any model with the models that reach it there.
fn earliest(all: &[Crossover], measurement: &str, widths: &[(usize, String)]) -> Option<String> {
    let mut steps = Vec::new();
    for (_, size) in widths {
        let here: Vec<&Crossover> = all.iter().filter(|c| c.measurement == measurement && &c.size == size).collect();
        if here.is_empty() {
            steps.push("-".to_string());
            continue;
        }
        let first = here.iter().filter_map(|c| c.from).min();
        steps.push(match first {
            Some(v) => {
                let who: Vec<&str> = here.iter().filter(|c| c.from == Some(v)).map(|c| c.model.as_str()).collect();
                format!("{v} ({})", who.join(", "))
            }
            None => format!(">{}", here.iter().filter_map(|c| c.grid.last()).max().copied().unwrap_or(0)),
        });
    }
    steps.iter().any(|s| s != "-").then(|| steps.join(" → "))
}

/// Per width, the largest length of a formula crossover (from which it holds for every model).
fn latest(all: &[Crossover], measurement: &str, widths: &[(usize, String)]) -> Option<String> {
    let mut steps = Vec::new();
    for (_, size) in widths {
        let here: Vec<&Crossover> = all.iter().filter(|c| c.measurement == measurement && &c.size == size).collect();
        steps.push(match here.iter().map(|c| c.from).max() {
            Some(Some(v)) => v.to_string(),
            _ => "-".to_string(),
        });
    }
    steps.iter().any(|s| s != "-").then(|| steps.join(" → "))
}
