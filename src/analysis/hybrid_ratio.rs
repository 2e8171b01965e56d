//! How much attention a hybrid needs: per share of attention layers (the suite's `[hybrid_ratio]`
//! models), the figures a reader weighs against each other, read from the run's cells at each
//! section's largest setting (stored in results.json as `derived.hybrid_ratio`).

use crate::results::derived::Share;
use crate::results::{Measurement, Results, Status};

/// The shares of the run's `[hybrid_ratio]` section, fewest attention layers first (empty without
/// the section).
pub fn shares(r: &Results) -> Vec<Share> {
    let Some(h) = &r.suite.hybrid_ratio else { return vec![] };
    let n = h.n_layers;
    let mut out: Vec<Share> = Vec::new();
    for &k in &h.attention_layers {
        let suffix = format!("-{k}of{n}");
        let Some(model) = r.cells.iter().map(|c| &c.spec.model.name).find(|m| m.contains('+') && m.ends_with(&suffix))
        else {
            continue;
        };
        let figure = |m: Measurement| -> Option<(f64, Vec<f64>)> {
            let c = r
                .of(m)
                .filter(|c| &c.spec.model.name == model && c.status == Status::Ok)
                .max_by_key(|c| c.spec.value)?;
            Some((c.median()?, c.samples.clone()))
        };
        out.push(Share {
            model: model.clone(),
            attention_layers: k,
            n_layers: n,
            mqar: figure(Measurement::MqarAccuracy).map(|(_, s)| super::scorecard::spread(&s)),
            decode_seconds: figure(Measurement::DecodeLatency).map(|(m, _)| m),
            state_bytes: figure(Measurement::Memory).map(|(m, _)| m),
            train_tokens_per_sec: figure(Measurement::TrainThroughput).map(|(m, _)| m),
        });
    }
    out.sort_by_key(|s| s.attention_layers);
    out.dedup_by(|a, b| a.model == b.model);
    out
}
