//! The analyses of a run: what its cells say, computed as data, stored in results.json's `derived`
//! part ([`crate::results::derived`]) and rendered by [`crate::report`] (tables, charts, the verdict
//! sentences). One file per analysis:
//!
//! | file | computes | stored as |
//! |---|---|---|
//! | [`scorecard`] | the lecture's table, measured: one row per model | `derived.scorecard` |
//! | [`crossover`] | where each model overtakes attention of its size, measured and by byte formula | `derived.crossovers` |
//! | [`findings`] | the quality rankings and every ordering judged by the separation rule | `derived.findings` |
//! | [`hybrid_ratio`] | a hybrid's figures per share of attention layers | `derived.hybrid_ratio` |
//! | [`separation`] | the rule itself: exact permutation tests, Holm's correction | (used by `findings`) |

pub mod crossover;
pub mod findings;
pub mod hybrid_ratio;
pub mod scorecard;
pub mod separation;

use crate::results::{Measurement, Results, Status};
use std::collections::BTreeMap;

/// Recomputes every analysis of `r` into `r.derived` (the verdict sentences, written from them, are
/// [`crate::report::derive`]'s).
pub fn analyse(r: &mut Results) {
    r.derived.memory_growth_bytes_per_token = memory_growth(r);
    r.derived.scorecard = crate::results::derived::Scorecard::of(r);
    r.derived.hybrid_ratio = hybrid_ratio::shares(r);
    r.derived.crossovers = crossover::crossovers(r);
    r.derived.findings = crate::results::derived::Findings::of(r);
}

/// Least-squares slope of exact state bytes over position, per model label with two positions or more.
fn memory_growth(r: &Results) -> BTreeMap<String, f64> {
    let mut by_model: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for c in r.of(Measurement::Memory).filter(|c| c.status == Status::Ok) {
        if let Some(m) = c.median() {
            by_model.entry(c.spec.label.as_str()).or_default().push((c.spec.value as f64, m));
        }
    }
    by_model.into_iter().filter(|(_, p)| p.len() >= 2).map(|(label, p)| (label.to_string(), slope(&p))).collect()
}

/// Least-squares slope of y over x.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (mx, my) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = points.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}
