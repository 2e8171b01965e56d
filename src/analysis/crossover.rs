//! Where each model overtakes attention of its own size: per size and measurement, the smallest
//! value of the grid (sequence length, decode position, memory position) at which the model's
//! training tokens/s are higher, or its decode step or memory lower, than attention's at that size.
//! A crossover is claimed only where every sample of the winner lies beyond every sample of
//! attention ([`super::stats::ranges_apart`]: many timing samples of one measurement, not seeds).
//! Attention's extra cost per token grows with T·d against the rest of the block's d², so the
//! crossover moves with the width: the `scale` suite measures it at each size. Beside the measured
//! ones, the lengths from which attention's KV cache holds [`KV_RATIOS`] times the model's state, from
//! the exact byte formulas of both configs (nothing allocated). Stored in results.json as
//! `derived.crossovers`.

use crate::model::config::ModelConfig;
use crate::results::derived::Crossover;
use crate::results::stats::{median, ranges_apart};
use crate::results::{CellResult, Measurement, Results, Status};

/// The measurements a crossover is read from, with the direction in which a model beats attention.
pub const MEASUREMENTS: [Measurement; 3] =
    [Measurement::TrainThroughput, Measurement::DecodeLatency, Measurement::Memory];

/// Attention's KV cache against a recurrent state: the `kv_cache_{k}x` crossovers.
pub const KV_RATIOS: [usize; 2] = [10, 100];

/// Longest length searched for a KV crossover (a hybrid's state grows too and may never reach it).
const KV_SEARCH_LIMIT: usize = 1 << 26;

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
        for (size, name) in &size_model_pairs(r.of(m)) {
            let Some(attention) = r
                .of(m)
                .filter(ok)
                .find(|c| c.spec.model.size == *size && plain_attention(&c.spec.model))
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
                d_model: config_of(r, name, size).map_or(0, |c| c.d_model),
                model: name.clone(),
                from: grid.iter().copied().find(|&v| beats(v).is_some_and(|(won, _)| won)),
                advantage_at_largest: grid.last().and_then(|&v| beats(v)).map(|(_, adv)| adv),
                grid,
            });
        }
    }
    out.extend(kv_crossovers(r));
    out
}

/// Every (size, model name) of the measured cells among `cells`, in first-seen order.
fn size_model_pairs<'a>(cells: impl Iterator<Item = &'a CellResult>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for c in cells.filter(ok) {
        let key = (c.spec.model.size.clone(), c.spec.model.name.clone());
        if !pairs.contains(&key) {
            pairs.push(key);
        }
    }
    pairs
}

/// Plain softmax attention: the reference every crossover is read against (not a hybrid, not a
/// variant such as gated or sliding-window attention).
fn plain_attention(m: &ModelConfig) -> bool {
    m.mixer.name() == "attention" && m.layers.is_none()
}

/// The config a run measured `name` at `size` with, the deepest one (a training probe is shallower).
fn config_of<'a>(r: &'a Results, name: &str, size: &str) -> Option<&'a ModelConfig> {
    r.cells.iter().map(|c| &c.spec.model).filter(|m| m.name == name && m.size == size).max_by_key(|m| m.n_layers)
}

/// For every (size, model) the run measured beside plain attention of that size: the smallest length
/// `T` with `KV(T) >= k · state(T)` at batch 1, for each `k` of [`KV_RATIOS`], in the run's dtype.
fn kv_crossovers(r: &Results) -> Vec<Crossover> {
    let dtype = crate::device::parse_dtype(&r.environment.dtype).unwrap_or(candle_core::DType::F32);
    let mut out = Vec::new();
    for (size, name) in &size_model_pairs(r.cells.iter()) {
        let Some(model) = config_of(r, name, size).filter(|m| !m.mixer.is_attention() || m.layers.is_some()) else {
            continue;
        };
        let attention = r
            .cells
            .iter()
            .map(|c| &c.spec.model)
            .filter(|m| &m.size == size && plain_attention(m))
            .max_by_key(|m| m.n_layers);
        let Some(attention) = attention else { continue };
        let (Ok(a), Ok(b)) = (
            crate::model::LanguageModel::shapes_only(attention, dtype),
            crate::model::LanguageModel::shapes_only(model, dtype),
        ) else {
            continue;
        };
        for k in KV_RATIOS {
            let reaches = |t: usize| a.state_bytes(1, t) as u128 >= k as u128 * b.state_bytes(1, t) as u128;
            out.push(Crossover {
                measurement: format!("kv_cache_{k}x"),
                size: size.clone(),
                d_model: model.d_model,
                model: name.clone(),
                from: smallest(1, KV_SEARCH_LIMIT, reaches),
                grid: Vec::new(),
                advantage_at_largest: None,
            });
        }
    }
    out
}

/// The smallest `t` in `lo..=hi` for which `holds(t)`, `holds` monotone (false, then true).
fn smallest(lo: usize, hi: usize, holds: impl Fn(usize) -> bool) -> Option<usize> {
    if !holds(hi) {
        return None;
    }
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}
