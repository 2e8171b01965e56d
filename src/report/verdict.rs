//! One plain sentence per measurement, computed from the cells: who grows, who stays flat, where the
//! crossover lies, who runs out of budget. Where the data cannot say, the sentence says so.

use super::tables::{seconds, value};
use super::Results;
use crate::model::mixers::{Family, MixerKind};
use crate::output::bytes;
use crate::results::{CellResult, Measurement, Status};

/// A latency or throughput is "flat" when its largest-position median is within this ratio of the smallest.
pub const FLAT_RATIO: f64 = 1.5;

pub fn all(r: &Results) -> Vec<String> {
    [
        train(r),
        latency(r),
        memory(r),
        generation(r),
        lm(r),
        recall(r, Measurement::MqarAccuracy),
        recall(r, Measurement::CopyAccuracy),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Mean of each model's medians over all values of a measurement, best first.
fn ranking(r: &Results, m: Measurement) -> Vec<(String, MixerKind, f64)> {
    let mut out: Vec<(String, MixerKind, f64)> = labels(r, m)
        .into_iter()
        .filter_map(|(label, kind, _)| {
            let v: Vec<f64> = r.of(m).filter(ok).filter(|c| c.spec.label == label).filter_map(|c| c.median()).collect();
            (!v.is_empty()).then(|| (label, kind, v.iter().sum::<f64>() / v.len() as f64))
        })
        .collect();
    out.sort_by(|a, b| if m.higher_is_better() { b.2.total_cmp(&a.2) } else { a.2.total_cmp(&b.2) });
    out
}

fn lm(r: &Results) -> Option<String> {
    let rank = ranking(r, Measurement::LmLoss);
    if rank.is_empty() {
        return None;
    }
    let floor = r.of(Measurement::LmLoss).find_map(|c| c.metrics.get("entropy_floor_bits").copied());
    let list: Vec<String> = rank.iter().map(|(l, _, v)| format!("{l} {v:.3}")).collect();
    Some(format!(
        "Language modelling (bits/byte, lower is better{}): {}.",
        floor.map_or(String::new(), |f| format!("; floor {f:.3}")),
        list.join(" < ")
    ))
}

/// The orderings the literature reports for recall (Zoology; DeltaNet and Gated DeltaNet papers), as
/// the registry declares them (each mixer's `beats`): forgetting (gates) and the delta rule beat
/// plain linear attention. (That attention recalls best is checked separately.)
fn expected() -> Vec<(MixerKind, MixerKind)> {
    MixerKind::all()
        .flat_map(|better| better.descriptor().beats.iter().map(move |worse| (better, MixerKind::named(worse))))
        .collect()
}

fn recall(r: &Results, m: Measurement) -> Option<String> {
    let rank = ranking(r, m);
    if rank.is_empty() {
        return None;
    }
    let name = if m == Measurement::MqarAccuracy { "MQAR" } else { "Copy" };
    let list: Vec<String> = rank.iter().map(|(l, _, v)| format!("{l} {v:.2}")).collect();
    let score = |k: MixerKind| rank.iter().find(|(_, kind, _)| *kind == k).map(|x| x.2);
    let (mut holds, mut fails) = (Vec::new(), Vec::new());
    if let Some(a) = rank.iter().find(|(_, k, _)| k.is_attention()).map(|x| x.2) {
        let beaten: Vec<&str> =
            rank.iter().filter(|(_, k, v)| !k.is_attention() && *v > a).map(|(l, _, _)| l.as_str()).collect();
        if beaten.is_empty() {
            holds.push("attention recalls best".to_string());
        } else {
            fails.push(format!("attention is not best ({} above it)", beaten.join(", ")));
        }
    }
    for (better, worse) in expected() {
        if let (Some(b), Some(w)) = (score(better), score(worse)) {
            let text = format!("{} > {}", better.name(), worse.name());
            if b > w {
                holds.push(text);
            } else {
                fails.push(text);
            }
        }
    }
    Some(format!(
        "{name} (mean accuracy, best first): {}. Expected from the literature and observed: {}. Expected but not observed here: {}.",
        list.join(", "),
        if holds.is_empty() { "none".into() } else { holds.join("; ") },
        if fails.is_empty() { "none".into() } else { fails.join("; ") }
    ))
}

fn ok(c: &&CellResult) -> bool {
    c.status == Status::Ok && c.summary.is_some()
}

/// Median of the cell of `label` at `value`.
fn at(r: &Results, m: Measurement, label: &str, value: usize) -> Option<f64> {
    r.of(m).filter(ok).find(|c| c.spec.label == label && c.spec.value == value).and_then(|c| c.median())
}

fn labels(r: &Results, m: Measurement) -> Vec<(String, MixerKind, Option<String>)> {
    let mut out: Vec<(String, MixerKind, Option<String>)> = Vec::new();
    for c in r.of(m) {
        if !out.iter().any(|(l, _, _)| *l == c.spec.label) {
            out.push((c.spec.label.clone(), c.spec.model.mixer, c.spec.settings.form.clone()));
        }
    }
    out
}

fn max_value(r: &Results, m: Measurement) -> Option<usize> {
    r.of(m).filter(ok).map(|c| c.spec.value).max()
}

fn train(r: &Results) -> Option<String> {
    let m = Measurement::TrainThroughput;
    let t = max_value(r, m)?;
    let rows = labels(r, m);
    let mut parts = Vec::new();
    // Chunkwise vs recurrent for each linear model measured both ways.
    let mut speedups = Vec::new();
    // The model (`name@size`) a row measures, from its cells.
    let model_of = |label: &str| r.of(m).find(|c| c.spec.label == label).map(|c| c.spec.model.label());
    for (label, kind, form) in &rows {
        if !kind.is_linear() || !form.as_deref().is_some_and(|f| f.starts_with("chunkwise")) {
            continue;
        }
        let Some(model) = model_of(label) else { continue };
        let rec = rows
            .iter()
            .find(|(l, _, f)| f.as_deref() == Some("recurrent") && model_of(l).as_deref() == Some(model.as_str()));
        if let (Some(c), Some((rl, _, _))) = (at(r, m, label, t), rec) {
            if let Some(rv) = at(r, m, rl, t) {
                speedups.push((model, c / rv));
            }
        }
    }
    if !speedups.is_empty() {
        let (lo, hi) = speedups.iter().fold((f64::MAX, 0f64), |(lo, hi), (_, s)| (lo.min(*s), hi.max(*s)));
        let losers: Vec<_> = speedups.iter().filter(|(_, s)| *s <= 1.0).map(|(n, _)| n.as_str()).collect();
        parts.push(format!(
            "at T={t}, chunkwise training of the linear family is {lo:.1}x to {hi:.1}x its recurrent form{}{}",
            if r.environment.features.iter().any(|f| f == "kernels=fused-cpu") { " (the fused scan)" } else { "" },
            if losers.is_empty() { String::new() } else { format!(" (not faster for: {})", losers.join(", ")) }
        ));
    }
    // Attention against the fastest linear model (chunkwise) per length: the crossover.
    let attn = rows.iter().find(|(_, k, _)| k.is_attention()).map(|r| r.0.clone());
    if let Some(attn) = attn {
        let mut lens: Vec<usize> = r.of(m).filter(ok).map(|c| c.spec.value).collect();
        lens.sort_unstable();
        lens.dedup();
        let best_linear = |len: usize| {
            rows.iter()
                .filter(|(_, k, f)| k.is_linear() && f.as_deref() != Some("recurrent"))
                .filter_map(|(l, _, _)| at(r, m, l, len).map(|v| (l.clone(), v)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        };
        let crossover = lens.iter().find(|&&len| match (best_linear(len), at(r, m, &attn, len)) {
            (Some((_, lin)), Some(a)) => lin > a,
            _ => false,
        });
        if let (Some((best, lin)), Some(a)) = (best_linear(t), at(r, m, &attn, t)) {
            parts.push(format!(
                "at T={t} attention trains at {} tokens/s and the fastest linear model ({best}) at {}; {}",
                value("tokens/s", a),
                value("tokens/s", lin),
                match crossover {
                    Some(len) => format!("linear beats attention from T={len} in this grid"),
                    None => "attention is ahead at every length of this grid (no crossover yet)".into(),
                }
            ));
        }
    }
    // Efficiency: the models' own FLOP rate against the machine's calibration, and the step's peak
    // heap against the floor of what it must hold.
    let at_t: Vec<&CellResult> = r.of(m).filter(ok).filter(|c| c.spec.value == t).collect();
    let range = |key: &str| -> Option<(f64, f64)> {
        let v: Vec<f64> = at_t.iter().filter_map(|c| c.metrics.get(key).copied()).collect();
        (!v.is_empty()).then(|| v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x))))
    };
    if let Some((lo, hi)) = range("model_gflops") {
        parts.push(format!(
            "at T={t} the models compute {lo:.1} to {hi:.1} GFLOP/s (their own FLOPs) against a calibration of {:.1} GFLOP/s",
            r.environment.calibration_gflops
        ));
    }
    if let Some((lo, hi)) = range("step_peak_over_floor") {
        parts.push(format!(
            "a step's peak heap is {lo:.2}x to {hi:.2}x the floor of weights, optimizer state and needed activations"
        ));
    }
    let rnn: Vec<String> = rows
        .iter()
        .filter(|(_, k, _)| k.family() == Family::ClassicRnn)
        .filter_map(|(l, _, _)| at(r, m, l, t).map(|v| format!("{l} {}", value("tokens/s", v))))
        .collect();
    if !rnn.is_empty() {
        parts.push(format!("classic RNNs, trainable only step by step: {}", rnn.join(", ")));
    }
    (!parts.is_empty()).then(|| format!("Training: {}.", parts.join("; ")))
}

fn latency(r: &Results) -> Option<String> {
    let m = Measurement::DecodeLatency;
    let lo = r.of(m).filter(ok).map(|c| c.spec.value).min()?;
    let hi = max_value(r, m)?;
    if lo == hi {
        return None;
    }
    let (mut grows, mut flat) = (Vec::new(), Vec::new());
    for (label, _, _) in labels(r, m) {
        if let (Some(a), Some(b)) = (at(r, m, &label, lo), at(r, m, &label, hi)) {
            let ratio = b / a;
            if ratio > FLAT_RATIO {
                grows.push(format!("{label} x{ratio:.1} ({} -> {})", seconds(a), seconds(b)));
            } else {
                flat.push(format!("{label} x{ratio:.2}"));
            }
        }
    }
    // Heap held per decoded token (after warm-up), at the longest position.
    let (mut none, mut some) = (Vec::new(), Vec::new());
    // (Attention's cache grows by design, inside buffers that double: not a per-token allocation to judge.)
    for c in r.of(m).filter(ok).filter(|c| c.spec.value == hi && c.spec.model.attention_layers() == 0) {
        match c.metrics.get("heap_growth_per_token_bytes") {
            Some(g) if g.abs() < 1.0 => none.push(c.spec.label.clone()),
            Some(g) => some.push(format!("{} {}/token", c.spec.label, bytes(g.max(0.0) as usize))),
            None => {}
        }
    }
    let heap = match (none.is_empty(), some.is_empty()) {
        (true, true) => String::new(),
        _ => format!(
            " Heap held per decoded token by the recurrent models at position {hi}: nothing for {}{}.",
            if none.is_empty() { "no model".into() } else { none.join(", ") },
            if some.is_empty() { String::new() } else { format!("; {}", some.join(", ")) }
        ),
    };
    Some(format!(
        "Decode latency from position {lo} to {hi}: grows for {}; flat (within x{FLAT_RATIO}) for {}.{heap}",
        if grows.is_empty() { "no model".into() } else { grows.join(", ") },
        if flat.is_empty() { "no model".into() } else { flat.join(", ") }
    ))
}

fn memory(r: &Results) -> Option<String> {
    let growth = &r.derived.memory_growth_bytes_per_token;
    if growth.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    let constant: Vec<&str> = growth.iter().filter(|(_, g)| g.abs() < 0.5).map(|(l, _)| l.as_str()).collect();
    for (label, g) in growth.iter().filter(|(_, g)| g.abs() >= 0.5) {
        let cell = r.of(Measurement::Memory).find(|c| &c.spec.label == label);
        // The KV cache is held in the run's compute dtype.
        let width = crate::device::parse_dtype(&r.environment.dtype).map_or(4, |d| d.size_in_bytes());
        let expected = cell.filter(|c| c.spec.model.attention_layers() > 0).map(|c| {
            let b = c.spec.settings.batch.unwrap_or(1);
            (2 * c.spec.model.attention_layers() * c.spec.model.d_model * width * b) as f64
        });
        parts.push(match expected {
            Some(e) => format!(
                "{label} grows {}/token (2 x attention layers x d x {width} B = {}: {})",
                bytes(*g as usize),
                bytes(e as usize),
                if (g - e).abs() < 0.5 { "exact match" } else { "MISMATCH" }
            ),
            None => format!("{label} grows {}/token", bytes(*g as usize)),
        });
    }
    if !constant.is_empty() {
        parts.push(format!("constant state for {}", constant.join(", ")));
    }
    Some(format!("Memory: {}.", parts.join("; ")))
}

fn generation(r: &Results) -> Option<String> {
    let m = Measurement::Generation;
    let rows = labels(r, m);
    if rows.is_empty() {
        return None;
    }
    let mut refused = Vec::new();
    let mut best = Vec::new();
    for (label, _, _) in &rows {
        let mut cells: Vec<&CellResult> = r.of(m).filter(|c| &c.spec.label == label).collect();
        cells.sort_by_key(|c| c.spec.value);
        if let Some(first) = cells.iter().find(|c| c.status == Status::Refused) {
            refused.push(format!("{label} from batch {}", first.spec.value));
        }
        if let Some(top) = cells
            .iter()
            .copied()
            .filter(ok)
            .max_by(|a, b| a.median().unwrap_or(0.0).total_cmp(&b.median().unwrap_or(0.0)))
        {
            best.push((label.clone(), top.spec.value, top.median().unwrap_or(0.0)));
        }
    }
    best.sort_by(|a, b| b.2.total_cmp(&a.2));
    let top: Vec<String> =
        best.iter().take(3).map(|(l, b, v)| format!("{l} {} tokens/s at batch {b}", value("tokens/s", *v))).collect();
    Some(format!(
        "Generation: {}; highest throughput: {}.",
        if refused.is_empty() {
            "no model was refused by the memory budget".into()
        } else {
            format!("over the memory budget: {}", refused.join(", "))
        },
        if top.is_empty() { "none measured".into() } else { top.join(", ") }
    ))
}
