//! Where each model overtakes attention of its own size: per size and measurement, the smallest
//! value of the grid (sequence length, decode position, memory position) at which the model's
//! training tokens/s are higher, or its decode step or memory lower, than attention's at that size.
//! A crossover is claimed only where every sample of the winner lies beyond every sample of
//! attention ([`super::stats::ranges_apart`]: many timing samples of one measurement, not seeds).
//! Attention's extra cost per token grows with T·d against the rest of the block's d², so the
//! crossover moves with the width: the `scale` suite measures it at each size. Stored in
//! results.json as `derived.crossovers`.

use super::stats::{median, ranges_apart};
use super::{CellResult, Measurement, Results, Status};
use serde::{Deserialize, Serialize};

/// The measurements a crossover is read from, with the direction in which a model beats attention.
pub const MEASUREMENTS: [Measurement; 3] =
    [Measurement::TrainThroughput, Measurement::DecodeLatency, Measurement::Memory];

/// One model against attention of the same size on one measurement's grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Crossover {
    /// `train_throughput`, `decode_latency` or `memory`.
    pub measurement: String,
    pub size: String,
    /// The model's name (without the size).
    pub model: String,
    /// The smallest grid value at which the model beats attention, every sample beyond; `None`
    /// when it does not at any value measured for both.
    pub from: Option<usize>,
    /// The grid values measured for both, ascending.
    pub grid: Vec<usize>,
    /// At the largest value of `grid`: how many times better the model is than attention (its
    /// tokens/s over attention's; attention's step seconds or bytes over its own), medians.
    pub advantage_at_largest: Option<f64>,
}

fn ok(c: &&CellResult) -> bool {
    c.status == Status::Ok && !c.samples.is_empty()
}

/// The samples of the model's best row (a linear model's fastest training form) at `value`.
fn best<'a>(r: &'a Results, m: Measurement, name: &str, size: &str, value: usize) -> Option<&'a CellResult> {
    let higher = m == Measurement::TrainThroughput;
    r.of(m)
        .filter(ok)
        .filter(|c| c.spec.model.name == name && c.spec.model.size == size && c.spec.value == value)
        .max_by(|a, b| {
            let (x, y) = (median(&a.samples), median(&b.samples));
            if higher {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            }
        })
}

/// Every (measurement, size, model) of the run with attention of that size beside it.
pub fn crossovers(r: &Results) -> Vec<Crossover> {
    let mut out = Vec::new();
    for m in MEASUREMENTS {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for c in r.of(m).filter(ok) {
            let key = (c.spec.model.size.clone(), c.spec.model.name.clone());
            if !pairs.contains(&key) {
                pairs.push(key);
            }
        }
        for (size, name) in &pairs {
            // Plain softmax attention of the same size (not a hybrid, not a variant).
            let Some(attention) = r
                .of(m)
                .filter(ok)
                .find(|c| {
                    c.spec.model.size == *size
                        && c.spec.model.mixer.name() == "attention"
                        && c.spec.model.layers.is_none()
                })
                .map(|c| c.spec.model.name.clone())
            else {
                continue;
            };
            if *name == attention {
                continue;
            }
            let mut grid: Vec<usize> = r
                .of(m)
                .filter(ok)
                .filter(|c| c.spec.model.name == *name && c.spec.model.size == *size)
                .map(|c| c.spec.value)
                .filter(|&v| best(r, m, &attention, size, v).is_some())
                .collect();
            grid.sort_unstable();
            grid.dedup();
            if grid.is_empty() {
                continue;
            }
            let beats = |v: usize| -> Option<(bool, f64)> {
                let (model, attn) = (best(r, m, name, size, v)?, best(r, m, &attention, size, v)?);
                let (a, b) = (median(&model.samples), median(&attn.samples));
                Some(match m {
                    Measurement::TrainThroughput => (ranges_apart(&model.samples, &attn.samples), a / b),
                    _ => (ranges_apart(&attn.samples, &model.samples), b / a),
                })
            };
            out.push(Crossover {
                measurement: m.name().to_string(),
                size: size.clone(),
                model: name.clone(),
                from: grid.iter().copied().find(|&v| beats(v).is_some_and(|(won, _)| won)),
                advantage_at_largest: grid.last().and_then(|&v| beats(v)).map(|(_, adv)| adv),
                grid,
            });
        }
    }
    out
}
