//! One plain sentence per measurement, computed from the cells: who grows, who stays flat, where the
//! crossover lies, who runs out of budget. Where the data cannot say, the sentence says so.

use super::tables::{p_text, seconds, value};
use super::Results;
use crate::analysis::separation::{self, ALPHA};
use crate::model::mixers::{Family, MixerKind};
use crate::output::bytes;
use crate::results::derived::{Findings, Ordering, Ranked};
use crate::results::stats::ranges_apart;
use crate::results::{CellResult, Measurement, Status, PRECISION_FLAG_BELOW};

/// A latency or throughput is "flat" when its largest-position median is within this ratio of the smallest.
pub const FLAT_RATIO: f64 = 1.5;

pub fn all(r: &Results) -> Vec<String> {
    with_findings(r, &Findings::of(r))
}

/// The sentences, the quality ones written from `f` (the run's [`Findings`], judged once).
pub fn with_findings(r: &Results, f: &Findings) -> Vec<String> {
    [
        train(r),
        latency(r),
        memory(r),
        generation(r),
        lm(r, f),
        recall(r, f, Measurement::MqarAccuracy),
        recall(r, f, Measurement::CopyAccuracy),
        recall(r, f, Measurement::ParityAccuracy),
        recall(r, f, Measurement::WordProblemAccuracy),
        recall(r, f, Measurement::MqarLength),
        precision(r),
        super::scale::verdict(r),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `label 0.953 [0.91-0.99]` (median and range over seeds), or the one value.
fn ranked_text(x: &Ranked, digits: usize) -> String {
    if x.seeds > 1 {
        format!("{} {:.digits$} [{:.digits$}-{:.digits$}]", x.label, x.median, x.min, x.max)
    } else {
        format!("{} {:.digits$}", x.label, x.median)
    }
}

/// The ranking of `m` in `f` and the orderings of `family` judged on it, in judging order.
fn judged<'a>(f: &'a Findings, m: Measurement, family: &str) -> (&'a [Ranked], Vec<&'a Ordering>) {
    let rank = f.rankings.iter().find(|k| k.measurement == m.name()).map_or(&[][..], |k| &k.models[..]);
    let orderings = f.orderings.iter().filter(|o| o.measurement == m.name() && o.family == family).collect();
    (rank, orderings)
}

/// The ranking as text: neighbours joined by `>` (or `<` for losses) where the separation rule
/// ranks them (Holm over the ranking's neighbours), by `≈` where it does not.
fn ranking_text(rank: &[Ranked], neighbours: &[&Ordering], m: Measurement, digits: usize) -> String {
    let mut s = String::new();
    for (i, x) in rank.iter().enumerate() {
        if i > 0 {
            s.push_str(match (neighbours[i - 1].verdict == "separated", m.higher_is_better()) {
                (true, true) => " > ",
                (true, false) => " < ",
                _ => " ≈ ",
            });
        }
        s.push_str(&ranked_text(x, digits));
    }
    s
}

/// How many seeds the ranking rests on (the fewest of any model) and, when only the cells trained with
/// the most seeds count, at which values of the swept parameter.
fn seeds_note(r: &Results, m: Measurement, rank: &[Ranked]) -> String {
    let n = rank.iter().map(|x| x.seeds).min().unwrap_or(0);
    let mut all: Vec<usize> = r.of(m).filter(ok).map(|c| c.spec.value).collect();
    let mut used: Vec<usize> = r.of(m).filter(ok).filter(|c| c.samples.len() == n).map(|c| c.spec.value).collect();
    for v in [&mut all, &mut used] {
        v.sort_unstable();
        v.dedup();
    }
    let at = if used.len() < all.len() && !used.is_empty() {
        let list: Vec<String> = used.iter().map(|v| v.to_string()).collect();
        format!(" at {}={}", m.parameter(), list.join(","))
    } else {
        String::new()
    };
    let better = if m.higher_is_better() { ">" } else { "<" };
    let pairs = rank.len().saturating_sub(1).max(1);
    let needed = separation::seeds_needed(pairs);
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let rule = format!(
        "an exact permutation test, Holm over {pairs} pair{} of neighbours, family-wise error {ALPHA}",
        plural(pairs)
    );
    if n < needed {
        format!(
            "median [range] over {n} seed{}{at}; nothing is ranked: the rule ({rule}) needs at least {needed} seeds a model",
            plural(n)
        )
    } else {
        format!("median [range] over {n} seeds{at}; {better} where the rule ({rule}) separates them, ≈ not separable")
    }
}

fn lm(r: &Results, f: &Findings) -> Option<String> {
    let m = Measurement::LmLoss;
    let (rank, neighbours) = judged(f, m, "ranking");
    if rank.is_empty() {
        return None;
    }
    let floor = r.of(m).find_map(|c| c.metrics.get("entropy_floor_bits").copied());
    let separable = neighbours.iter().any(|o| o.verdict != "not_separable");
    Some(format!(
        "Language modelling (bits/byte, lower is better{}; {}): {}.{}",
        floor.map_or(String::new(), |f| format!("; floor {f:.3}")),
        seeds_note(r, m, rank),
        ranking_text(rank, &neighbours, m, 3),
        if separable { "" } else { " No two neighbours are separable at this budget." }
    ))
}

/// A supervised task's sentence: the ranking with the seeds' spread, then the literature's orderings
/// as held (separable, the expected way), not held (separable, the other way) or not separable.
/// Models are compared by mixer: the first model of each mixer in the run stands for it.
fn recall(r: &Results, f: &Findings, m: Measurement) -> Option<String> {
    let (rank, neighbours) = judged(f, m, "ranking");
    if rank.is_empty() {
        return None;
    }
    let name = match m {
        Measurement::MqarAccuracy => {
            let layout = r.of(m).find_map(|c| c.spec.settings.layout.clone()).unwrap_or_else(|| "random".into());
            format!("MQAR ({layout} layout)")
        }
        Measurement::CopyAccuracy => "Copy".into(),
        Measurement::ParityAccuracy => "Parity beyond the training length".into(),
        Measurement::MqarLength => {
            let longest = max_value(r, m).unwrap_or(0);
            let train_len = r.of(m).find_map(|c| c.spec.settings.seq_len).unwrap_or(0);
            format!("MQAR trained at length {train_len}, tested up to {longest}")
        }
        _ => {
            let group = r.of(m).find_map(|c| c.spec.settings.group.clone()).unwrap_or_else(|| "s3".into());
            format!("{} word problem beyond the training length", group.to_uppercase())
        }
    };
    // The literature's orderings, judged together as one family (`Findings::of`).
    let (mut held, mut not_held, mut unsure) = (Vec::new(), Vec::new(), Vec::new());
    for o in judged(f, m, "literature").1 {
        let text = format!("{} > {} (p {})", o.better, o.worse, p_text(o.p_holm));
        match o.verdict.as_str() {
            "separated" => held.push(text),
            "reversed" => not_held.push(text),
            _ => unsure.push(text),
        }
    }
    let list = |v: &Vec<String>| if v.is_empty() { "none".to_string() } else { v.join("; ") };
    let orderings = if !(held.is_empty() && not_held.is_empty() && unsure.is_empty()) {
        format!(
            " Expected from the literature and held: {}. Not held (separated the other way): {}. Not separable: {}. (p: Holm-adjusted over these {} orderings.)",
            list(&held),
            list(&not_held),
            list(&unsure),
            held.len() + not_held.len() + unsure.len()
        )
    } else {
        String::new()
    };
    Some(format!(
        "{name} (accuracy, {}): {}.{orderings}",
        seeds_note(r, m, rank),
        ranking_text(rank, &neighbours, m, 2)
    ))
}

/// The state's precision: which models' bf16 (or f16) state decodes agree with the f32 one on fewer
/// than [`PRECISION_FLAG_BELOW`] of the tokens.
fn precision(r: &Results) -> Option<String> {
    let m = Measurement::StatePrecision;
    let cells: Vec<&CellResult> = r.of(m).filter(ok).collect();
    let first = cells.first()?;
    let below = |key: &str| -> Vec<String> {
        cells
            .iter()
            .filter_map(|c| {
                let a = *c.metrics.get(key)?;
                (a < PRECISION_FLAG_BELOW).then(|| format!("{} {:.1}%", c.spec.label, 100.0 * a))
            })
            .collect()
    };
    let list = |v: Vec<String>| if v.is_empty() { "none".to_string() } else { v.join(", ") };
    Some(format!(
        "State precision (top-1 agreement with the f32 state over {} held-out bytes, one trained model each): below {:.0}% with a bf16 state: {}; with an f16 state: {}.",
        first.spec.value,
        100.0 * PRECISION_FLAG_BELOW,
        list(below("bf16.agreement")),
        list(below("f16.agreement"))
    ))
}

fn ok(c: &&CellResult) -> bool {
    c.status == Status::Ok && c.summary.is_some()
}

/// The measured cell of row `label` at `value`.
fn cell_at<'a>(r: &'a Results, m: Measurement, label: &str, value: usize) -> Option<&'a CellResult> {
    r.of(m).filter(ok).find(|c| c.spec.label == label && c.spec.value == value)
}

fn at(r: &Results, m: Measurement, label: &str, value: usize) -> Option<f64> {
    cell_at(r, m, label, value).and_then(|c| c.median())
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
                speedups.push((label.clone(), c / rv));
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
        // A crossover is claimed only where the linear model's samples all lie above attention's.
        let crossover = lens.iter().find(|&&len| match (best_linear(len), cell_at(r, m, &attn, len)) {
            (Some((lin, _)), Some(a)) => cell_at(r, m, &lin, len).is_some_and(|l| ranges_apart(&l.samples, &a.samples)),
            _ => false,
        });
        if let (Some((best, lin)), Some(a)) = (best_linear(t), at(r, m, &attn, t)) {
            parts.push(format!(
                "at T={t} attention trains at {} tokens/s and the fastest linear model ({best}) at {}; {}",
                value("tokens/s", a),
                value("tokens/s", lin),
                match crossover {
                    Some(len) =>
                        format!("linear beats attention from T={len} in this grid (every sample above attention's)"),
                    None => "at no length of this grid do the fastest linear model's samples all lie above \
                             attention's (no crossover claimed)"
                        .into(),
                }
            ));
        }
    }
    // Efficiency: the models' own FLOP rate against the machine's calibration, and the step's peak
    // heap against the floor of what it must hold.
    let at_t: Vec<&CellResult> = r.of(m).filter(ok).filter(|c| c.spec.value == t).collect();
    let range = |key: &str| -> Option<(f64, f64)> {
        let v: Vec<f64> = at_t.iter().filter_map(|c| c.metrics.get(key).copied()).collect();
        (!v.is_empty()).then(|| crate::results::stats::range(&v))
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
            (2 * c.spec.model.attention_layers() * c.spec.model.kv_width() * width * b) as f64
        });
        parts.push(match expected {
            Some(e) => format!(
                "{label} grows {}/token (2 x attention layers x KV width x {width} B = {}: {})",
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
