//! The scorecard: the lecture's table, measured, one row per model, computed from a run's cells
//! (stored in results.json as `derived.scorecard`, shown first by every report). Each figure is
//! `None` where the run did not measure it.

use crate::results::derived::{ScoreRow, Scorecard};
use crate::results::stats::median;
use crate::results::{CellResult, Measurement, Results, Status};

fn ok(c: &&CellResult) -> bool {
    c.status == Status::Ok && c.summary.is_some()
}

/// The values of the swept parameter measured for `m`, ascending.
fn values(r: &Results, m: Measurement) -> Vec<usize> {
    let mut v: Vec<usize> = r.of(m).filter(ok).map(|c| c.spec.value).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Median, lowest and highest sample.
pub(crate) fn spread(samples: &[f64]) -> [f64; 3] {
    let (lo, hi) = crate::results::stats::range(samples);
    [median(samples), lo, hi]
}

impl Scorecard {
    pub fn of(r: &Results) -> Scorecard {
        // Rows are models by name (the quality sections train the tiny size of the models the speed
        // sections time at small), or by `name@size` when the speed sections hold one model at
        // several sizes (the scale suite), so no figure mixes two sizes.
        let speed = [Measurement::TrainThroughput, Measurement::DecodeLatency, Measurement::Memory];
        let several_sizes = r.cells.iter().filter(|c| speed.contains(&c.spec.measurement)).any(|a| {
            r.cells.iter().any(|b| {
                speed.contains(&b.spec.measurement)
                    && a.spec.model.name == b.spec.model.name
                    && a.spec.model.size != b.spec.model.size
            })
        });
        let key = |c: &CellResult| if several_sizes { c.spec.model.label() } else { c.spec.model.name.clone() };
        let mut names: Vec<String> = Vec::new();
        for c in &r.cells {
            if !names.contains(&key(c)) {
                names.push(key(c));
            }
        }
        let cells = |m: Measurement, name: &str, value: usize| -> Vec<&CellResult> {
            r.of(m).filter(ok).filter(|c| key(c) == name && c.spec.value == value).collect()
        };
        let best = |m: Measurement, name: &str, value: usize| {
            cells(m, name, value)
                .iter()
                .filter_map(|c| c.median())
                .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
        };
        let train_t = values(r, Measurement::TrainThroughput).last().copied();
        // Attention's tokens/s at the longest length, of the row's own size when rows are per size.
        let attention_tps = |row: &str| -> Option<f64> {
            let size = several_sizes.then(|| row.rsplit('@').next().unwrap_or_default());
            let attention = r
                .of(Measurement::TrainThroughput)
                .filter(|c| size.is_none_or(|s| c.spec.model.size == s))
                .find(|c| c.spec.model.mixer.is_attention() && c.spec.model.layers.is_none())
                .map(|c| key(c))?;
            best(Measurement::TrainThroughput, &attention, train_t?)
        };
        let lat = values(r, Measurement::DecodeLatency);
        let decode = (lat.len() >= 2).then(|| (lat[0], lat[lat.len() - 1]));
        let mem_pos = values(r, Measurement::Memory).last().copied();
        let pairs = values(r, Measurement::MqarAccuracy).last().copied();
        let parity_len = values(r, Measurement::ParityAccuracy).last().copied();
        let wp_len = values(r, Measurement::WordProblemAccuracy).last().copied();
        let task = |m: Measurement, name: &str, value: Option<usize>| {
            let c = cells(m, name, value?);
            c.first().map(|c| spread(&c.samples))
        };
        let rows = names
            .iter()
            .map(|name| ScoreRow {
                model: name.clone(),
                train_vs_attention: train_t
                    .and_then(|t| best(Measurement::TrainThroughput, name, t))
                    .zip(attention_tps(name))
                    .map(|(v, a)| v / a),
                decode_growth: decode.and_then(|(a, b)| {
                    Some(best(Measurement::DecodeLatency, name, b)? / best(Measurement::DecodeLatency, name, a)?)
                }),
                state_bytes: mem_pos.and_then(|p| best(Measurement::Memory, name, p)),
                mqar: task(Measurement::MqarAccuracy, name, pairs),
                mqar_solved: pairs
                    .and_then(|p| cells(Measurement::MqarAccuracy, name, p).first().and_then(|c| c.solved_runs())),
                parity: task(Measurement::ParityAccuracy, name, parity_len),
                word_problem: task(Measurement::WordProblemAccuracy, name, wp_len),
            })
            .collect();
        Scorecard {
            train_seq_len: train_t,
            decode_positions: decode,
            memory_position: mem_pos,
            mqar_kv_pairs: pairs,
            parity_len,
            word_problem_len: wp_len,
            rows,
        }
    }
}
