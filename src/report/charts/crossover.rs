//! The `scale` suite's headline picture: where each model overtakes attention of its own size,
//! against the models' width (`derived.crossovers`, [`crate::analysis::crossover`]). Attention's extra
//! cost per token and layer is about `4·T·d` against the block's `24·d²`, so a training crossover
//! should move out roughly in proportion to `d`; decode and the KV cache move differently, and the
//! chart shows how. A crossover not reached on the measured grid has no point at that width.

use super::{axis, Chart, Scale, Series, Unit};
use crate::analysis::crossover::KV_RATIOS;
use crate::results::Results;

/// The chart when the run has crossovers at two widths or more.
pub(super) fn chart(r: &Results) -> Option<Chart> {
    let all = &r.derived.crossovers;
    let mut widths: Vec<usize> = all.iter().map(|c| c.d_model).filter(|&d| d > 0).collect();
    widths.sort_unstable();
    widths.dedup();
    if widths.len() < 2 {
        return None;
    }
    let [low, high] = KV_RATIOS;
    let series = |measurement: &str, dashed: bool| -> Vec<Series> {
        let mut out: Vec<Series> = Vec::new();
        for c in all.iter().filter(|c| c.measurement == measurement && c.d_model > 0) {
            let Some(from) = c.from else { continue };
            let point = (c.d_model as f64, from as f64);
            match out.iter_mut().find(|s| s.model == c.model) {
                Some(s) => s.points.push(point),
                None => out.push(Series {
                    label: if dashed { format!("{} ({high}x)", c.model) } else { c.model.clone() },
                    model: c.model.clone(),
                    dashed,
                    points: vec![point],
                }),
            }
        }
        for s in &mut out {
            s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        out
    };
    let width = || axis("model width d_model", Scale::Log2, Unit::Plain);
    let mut panels = Vec::new();
    let mut add = |title: &str, y: &str, s: Vec<Series>| {
        if !s.is_empty() {
            panels.push(super::panel(title, width(), axis(y, Scale::Log2, Unit::Plain), s));
        }
    };
    add(
        "Training step faster than attention's (2-layer probes where the suite says so) from sequence length",
        "sequence length T",
        series("train_throughput", false),
    );
    add("Decode step faster than attention's from position", "position", series("decode_latency", false));
    let mut kv = series(&format!("kv_cache_{low}x"), false);
    kv.extend(series(&format!("kv_cache_{high}x"), true));
    add(
        &format!("Attention's KV cache holds {low}x (solid) and {high}x (dashed) the model's state from length"),
        "tokens",
        kv,
    );
    (!panels.is_empty()).then(|| Chart {
        file: "crossover_width.svg".into(),
        title: "Where each model overtakes attention of its own size, against the width".into(),
        panels,
        note: Some("no point: not reached on the measured grid at that width".into()),
    })
}
