//! What the tables hold, whatever renders them ([`super::markdown`], [`super::terminal`]): a run's
//! tables (one per measurement section, models as rows and the swept parameter as columns), a
//! comparison's rows and a kernel benchmark's tables, as [`Grid`]s; and how values are written.

use super::Results;
use crate::output::bytes;
use crate::results::derived::ScoreRow;
use crate::results::{CellResult, Measurement, Status};

mod comparison;
pub use comparison::{comparison_grid, comparison_summary, kernel_grids, p_text, pct, regression_lines};

/// A table independent of how it is shown.
pub struct Grid {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// `0.00123` s -> `1.23 ms`.
pub fn seconds(s: f64) -> String {
    match s {
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.2} ms", s * 1e3),
        s => format!("{:.1} µs", s * 1e6),
    }
}

/// A value in its unit, for display.
pub fn value(unit: &str, v: f64) -> String {
    match unit {
        "s" => seconds(v),
        "bytes" => bytes(v.max(0.0) as usize),
        "tokens/s" if v >= 10.0 => format!("{v:.0}"),
        "accuracy" | "bits/byte" => format!("{v:.3}"),
        _ => format!("{v:.3}"),
    }
}

/// The text of one cell.
pub fn cell_text(c: &CellResult) -> String {
    match c.status {
        Status::Failed => "FAILED".into(),
        Status::Refused => match c.metrics.get("need_bytes") {
            Some(n) => format!("refused (needs {})", bytes(*n as usize)),
            None => "refused".into(),
        },
        Status::Ok => {
            let Some(s) = &c.summary else {
                return "-".into();
            };
            match c.spec.measurement {
                Measurement::PrefillLatency | Measurement::DecodeLatency => {
                    format!("{} (p99 {})", seconds(s.median), seconds(s.p99))
                }
                Measurement::Memory => value("bytes", s.median),
                // Quality: one sample per seed; the range over seeds.
                m if m.is_quality() && s.n > 1 => {
                    let (lo, hi) = crate::results::stats::range(&c.samples);
                    let text = format!("{} [{}-{}]", value(&c.unit, s.median), value(&c.unit, lo), value(&c.unit, hi));
                    with_solved(text, c)
                }
                m if m.is_quality() => with_solved(value(&c.unit, s.median), c),
                _ if s.n > 1 => format!("{} ±{}", value(&c.unit, s.median), value(&c.unit, s.mad)),
                _ => value(&c.unit, s.median),
            }
        }
    }
}

/// A quality cell's text with its robustness, `0.98 [0.97-0.99] 6/8`: the runs of its learning-rate
/// sweep that solved the setting, of all of them (when it trained more than one).
fn with_solved(text: String, c: &CellResult) -> String {
    match c.solved_runs() {
        Some((solved, runs)) if runs > 1 => format!("{text} {solved}/{runs}"),
        _ => text,
    }
}

/// Builds a grid from cells: columns are `(header, measurement, value)`.
fn grid(r: &Results, title: String, columns: Vec<(String, Measurement, usize)>) -> Option<Grid> {
    let measurements: Vec<Measurement> = columns.iter().map(|c| c.1).collect();
    let mut labels: Vec<&str> = Vec::new();
    for c in r.cells.iter().filter(|c| measurements.contains(&c.spec.measurement)) {
        if !labels.contains(&c.spec.label.as_str()) {
            labels.push(&c.spec.label);
        }
    }
    if labels.is_empty() {
        return None;
    }
    let rows = labels
        .iter()
        .map(|label| {
            let mut row = vec![label.to_string()];
            for (_, m, v) in &columns {
                let found =
                    r.cells.iter().find(|c| c.spec.label == *label && c.spec.measurement == *m && c.spec.value == *v);
                row.push(found.map_or("".into(), cell_text));
            }
            row
        })
        .collect();
    let mut header = vec!["model".to_string()];
    header.extend(columns.into_iter().map(|c| c.0));
    Some(Grid { title, header, rows })
}

fn values(r: &Results, m: Measurement) -> Vec<usize> {
    let mut v: Vec<usize> = r.of(m).map(|c| c.spec.value).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Every section's grid, in the lecture's order.
pub fn grids(r: &Results) -> Vec<Grid> {
    // Prefill and decode share the latency table: one grid per measurement otherwise.
    let mut out: Vec<Grid> = Measurement::ALL
        .into_iter()
        .filter(|m| *m != Measurement::DecodeLatency)
        .filter_map(|m| grid_of(r, m))
        .collect();
    out.extend(hybrid_ratio_grid(r));
    out.extend(crossover_grid(r));
    out
}

/// The table that shows measurement `m` (prefill and decode latency share one), if the run has it.
pub fn grid_of(r: &Results, m: Measurement) -> Option<Grid> {
    match m {
        Measurement::TrainThroughput => train_grid(r),
        Measurement::PrefillLatency | Measurement::DecodeLatency => latency_grid(r),
        Measurement::Memory => memory_grid(r),
        Measurement::Generation => generation_grid(r),
        Measurement::LmLoss => lm_grid(r),
        Measurement::MqarAccuracy => mqar_grid(r),
        Measurement::MqarWidth => mqar_width_grid(r),
        Measurement::CopyAccuracy => copy_grid(r),
        Measurement::ParityAccuracy | Measurement::WordProblemAccuracy => state_tracking_grid(r, m),
        Measurement::MqarLength => mqar_length_grid(r),
        Measurement::StatePrecision => state_precision_grid(r),
    }
}

/// The batch of a measurement's cells (1 if none says).
fn batch(r: &Results, m: Measurement) -> usize {
    r.of(m).next().and_then(|c| c.spec.settings.batch).unwrap_or(1)
}

/// One column per swept value of `m`, headed by `header(value)`.
fn columns(r: &Results, m: Measurement, header: impl Fn(usize) -> String) -> Vec<(String, Measurement, usize)> {
    values(r, m).into_iter().map(|v| (header(v), m, v)).collect()
}

/// Tokens/s per sequence length, with each row's model FLOP utilisation at its longest length (the
/// model's FLOP/s over the GEMM peak calibrated around the cell).
fn train_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::TrainThroughput;
    let title = format!("Training throughput (tokens/s, batch {}; median ±MAD)", batch(r, m));
    let mut g = grid(r, title, columns(r, m, |t| format!("T={t}")))?;
    if r.of(m).any(|c| c.metrics.contains_key("mfu")) {
        g.header.push("MFU (longest T)".into());
        for row in &mut g.rows {
            let longest = r.of(m).filter(|c| c.spec.label == row[0]).max_by_key(|c| c.spec.value);
            let mfu = longest.and_then(|c| c.metrics.get("mfu").copied());
            row.push(mfu.map_or("-".into(), |f| format!("{:.0}%", 100.0 * f)));
        }
    }
    Some(g)
}

/// Time to first token per prompt and the decode step per position; where the run measured the copy
/// bandwidth (models of 64 MiB of weights or more), the bytes a step at the last position reads per
/// second, and their share of that bandwidth.
fn latency_grid(r: &Results) -> Option<Grid> {
    let decode = Measurement::DecodeLatency;
    let mut cols = columns(r, Measurement::PrefillLatency, |p| format!("TTFT ({p}-token prompt)"));
    cols.extend(columns(r, decode, |p| format!("step @{p}")));
    let title = format!("Per-token inference latency (batch {}; median, p99)", batch(r, decode));
    let mut g = grid(r, title, cols)?;
    if r.of(decode).any(|c| c.metrics.contains_key("bandwidth_fraction")) {
        g.header.push("decode reads (last position)".into());
        for row in &mut g.rows {
            let last = r.of(decode).filter(|c| c.spec.label == row[0]).max_by_key(|c| c.spec.value);
            let read = last.and_then(|c| Some((c.metrics.get("read_gb_per_s")?, c.metrics.get("bandwidth_fraction")?)));
            row.push(read.map_or("-".into(), |(gbs, share)| format!("{gbs:.1} GB/s ({:.0}% of copy)", 100.0 * share)));
        }
    }
    Some(g)
}

fn memory_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::Memory;
    let title = format!("State memory (exact bytes held, batch {})", batch(r, m));
    let mut g = grid(r, title, columns(r, m, |p| format!("@{p}")))?;
    g.header.push("growth / token".into());
    for row in &mut g.rows {
        let growth = r.derived.memory_growth_bytes_per_token.get(&row[0]).copied();
        row.push(growth.map_or("-".into(), |b| {
            if b.abs() < 0.5 {
                "constant".into()
            } else {
                format!("{} / token", bytes(b as usize))
            }
        }));
    }
    Some(g)
}

fn generation_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::Generation;
    let s = &r.of(m).next()?.spec.settings;
    let title = format!(
        "Generation throughput (decode tokens/s; prompt {}, {} new tokens{})",
        s.prompt.unwrap_or(0),
        s.tokens.unwrap_or(0),
        s.mem_budget.map_or(String::new(), |b| format!(", budget {}", bytes(b as usize)))
    );
    grid(r, title, columns(r, m, |b| format!("batch {b}")))
}

/// A quality grid with the models' state bytes at the task's length beside, so that accuracy can be
/// read against state size.
fn with_state(r: &Results, g: Option<Grid>, m: Measurement) -> Option<Grid> {
    let mut g = g?;
    g.header.push("state bytes".into());
    for row in &mut g.rows {
        let state = r.of(m).find(|c| c.spec.label == row[0]).and_then(|c| c.metrics.get("state_bytes").copied());
        row.push(state.map_or("-".into(), |b| bytes(b as usize)));
    }
    Some(g)
}

fn lm_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::LmLoss;
    let c = r.of(m).next()?;
    let floor = r.of(m).find_map(|c| c.metrics.get("entropy_floor_bits").copied());
    let title = format!(
        "Language modelling (validation bits/byte after {} steps of {} x {} bytes{})",
        c.spec.value,
        c.spec.settings.batch.unwrap_or(0),
        c.spec.settings.seq_len.unwrap_or(0),
        floor.map_or(String::new(), |f| format!("; source entropy floor {f:.3}"))
    );
    with_state(r, grid(r, title, columns(r, m, |_| "bits/byte".into())), m)
}

fn mqar_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::MqarAccuracy;
    let c = r.of(m).next()?;
    let title = format!(
        "MQAR test accuracy vs key-value pairs ({} layout, vocab {}, length {}, d_model {}; {})",
        c.spec.settings.layout.as_deref().unwrap_or("random"),
        c.spec.settings.vocab.unwrap_or(0),
        c.spec.settings.seq_len.unwrap_or(0),
        c.spec.model.d_model,
        protocol_text(r, c)
    );
    with_state(r, grid(r, title, columns(r, m, |v| format!("{v} pairs"))), m)
}

fn mqar_width_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::MqarWidth;
    let c = r.of(m).next()?;
    let title = format!(
        "MQAR test accuracy vs model width ({} pairs; {})",
        c.spec.settings.kv_pairs.unwrap_or(0),
        protocol_text(r, c)
    );
    grid(r, title, columns(r, m, |v| format!("d={v}")))
}

fn copy_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::CopyAccuracy;
    let c = r.of(m).next()?;
    let title = format!(
        "Copy test accuracy vs length (alphabet {}; {})",
        c.spec.settings.vocab.unwrap_or(0),
        protocol_text(r, c)
    );
    with_state(r, grid(r, title, columns(r, m, |v| format!("L={v}"))), m)
}

/// Parity or a word problem, with the in-length (validation) accuracy beside: a model that fails
/// there did not learn the task.
fn state_tracking_grid(r: &Results, m: Measurement) -> Option<Grid> {
    let c = r.of(m).next()?;
    let task = match m {
        Measurement::ParityAccuracy => "Parity".to_string(),
        _ => format!("{} word problem", c.spec.settings.group.as_deref().unwrap_or("s3").to_uppercase()),
    };
    let train_len = c.spec.settings.train_len.unwrap_or(0);
    let title =
        format!("{task}: accuracy beyond the training length {train_len} vs test length ({})", protocol_text(r, c));
    beyond_training_length(r, m, title, train_len)
}

/// A grid of accuracy per test length with the in-length (validation) accuracy beside.
fn beyond_training_length(r: &Results, m: Measurement, title: String, train_len: usize) -> Option<Grid> {
    let mut g = grid(r, title, columns(r, m, |v| format!("T={v}")))?;
    g.header.push(format!("within T={train_len}"));
    for row in &mut g.rows {
        let v = r.of(m).find(|c| c.spec.label == row[0]).and_then(|c| c.metrics.get("valid_accuracy").copied());
        row.push(v.map_or("-".into(), |v| format!("{v:.3}")));
    }
    Some(g)
}

/// MQAR trained at one length and tested at longer ones (the queries pushed back from their keys),
/// with the in-length validation accuracy beside.
fn mqar_length_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::MqarLength;
    let c = r.of(m).next()?;
    let train_len = c.spec.settings.seq_len.unwrap_or(0);
    let title = format!(
        "MQAR beyond the training length {train_len}: test accuracy vs test length ({} pairs, {} layout, vocab {}; {})",
        c.spec.settings.kv_pairs.unwrap_or(0),
        c.spec.settings.layout.as_deref().unwrap_or("random"),
        c.spec.settings.vocab.unwrap_or(0),
        protocol_text(r, c)
    );
    beyond_training_length(r, m, title, train_len)
}

/// The state's precision: top-1 agreement of the bf16- and f16-state decodes with the f32 one, the
/// bits/byte they add, and a flag below [`crate::results::PRECISION_FLAG_BELOW`].
fn state_precision_grid(r: &Results) -> Option<Grid> {
    let m = Measurement::StatePrecision;
    let c = r.of(m).next()?;
    let title = format!(
        "State precision: {} held-out bytes decoded token by token, the state rounded after every step \
         (top-1 agreement with the f32 state; bits/byte added)",
        c.spec.value
    );
    let header = ["model", "bf16 agreement", "bf16 +bits/byte", "f16 agreement", "f16 +bits/byte", "f32 bits/byte", ""];
    let flag = crate::results::PRECISION_FLAG_BELOW;
    let rows = r
        .of(m)
        .map(|c| {
            let get = |k: &str| c.metrics.get(k).copied();
            let pct = |k: &str| get(k).map_or("-".into(), |v| format!("{:.2}%", 100.0 * v));
            let delta = |k: &str| get(k).map_or("-".into(), |v| format!("{v:+.4}"));
            let low = ["bf16.agreement", "f16.agreement"].iter().any(|k| get(k).is_some_and(|v| v < flag));
            let note = if c.status != Status::Ok {
                c.error.clone().unwrap_or_else(|| "failed".into())
            } else if low {
                format!("below {:.0}%", 100.0 * flag)
            } else {
                String::new()
            };
            vec![
                c.spec.label.clone(),
                pct("bf16.agreement"),
                delta("bf16.bits_delta"),
                pct("f16.agreement"),
                delta("f16.bits_delta"),
                get("f32.bits_per_byte").map_or("-".into(), |v| format!("{v:.3}")),
                note,
            ]
        })
        .collect();
    Some(Grid { title, header: header.iter().map(|h| h.to_string()).collect(), rows })
}

/// Where each model overtakes attention of its size ([`crate::analysis::crossover`]): one row per
/// (size, model), one column per kind of crossover.
pub fn crossover_grid(r: &Results) -> Option<Grid> {
    let all = &r.derived.crossovers;
    let mut columns: Vec<String> = Vec::new();
    let mut rows_of: Vec<(String, usize, String)> = Vec::new();
    for c in all {
        if !columns.contains(&c.measurement) {
            columns.push(c.measurement.clone());
        }
        let key = (c.size.clone(), c.d_model, c.model.clone());
        if !rows_of.contains(&key) {
            rows_of.push(key);
        }
    }
    if columns.is_empty() {
        return None;
    }
    let what = |m: &str| match m {
        "train_throughput" => "trains faster".to_string(),
        "decode_latency" => "decodes faster".to_string(),
        "memory" => "holds less".to_string(),
        kv => format!("KV = {} state", kv.trim_start_matches("kv_cache_")),
    };
    let symbol = |m: &str| if m == "decode_latency" || m == "memory" { "position" } else { "T" };
    let mut header = vec!["size (width)".to_string(), "model".to_string()];
    header.extend(columns.iter().map(|m| what(m)));
    let rows = rows_of
        .iter()
        .map(|(size, d, model)| {
            let mut row = vec![if *d > 0 { format!("{size} (d {d})") } else { size.clone() }, model.clone()];
            for m in &columns {
                let found = all.iter().find(|c| &c.model == model && &c.measurement == m && &c.size == size);
                row.push(match found {
                    None => "-".into(),
                    Some(c) => {
                        let largest = c.grid.last().copied().unwrap_or(0);
                        let adv = c.advantage_at_largest.map_or(String::new(), |a| format!(" ({a:.2}x at {largest})"));
                        match c.from {
                            Some(v) => format!("from {}={v}{adv}", symbol(m)),
                            None if c.grid.is_empty() => "never (its state grows too)".into(),
                            None => format!("not up to {largest}{adv}"),
                        }
                    }
                });
            }
            row
        })
        .collect();
    Some(Grid {
        title: "Crossovers with attention of the same size: the smallest grid value from which the model beats it, \
                every sample beyond attention's (in brackets: the model's advantage at the grid's largest value, \
                medians; above 1 it wins); KV = 10x, 100x state: the length from which attention's KV cache holds that \
                many times the model's state (exact bytes, batch 1)"
            .into(),
        header,
        rows,
    })
}

/// How a measurement's supervised cells trained: budget, learning rates, early stopping (from `c`),
/// and seeds (from every cell of the measurement: `3 seeds at 16 pairs, 1 elsewhere` when they differ).
fn protocol_text(r: &Results, c: &CellResult) -> String {
    let s = &c.spec.settings;
    let lrs = match (&s.lrs, s.lr) {
        (Some(l), _) if l.len() > 1 => format!(
            "lr chosen from {} by the median validation accuracy over {} seed(s)",
            l.iter().map(|v| format!("{v:e}")).collect::<Vec<_>>().join(", "),
            s.sweep_seeds.or(s.seeds).unwrap_or(1)
        ),
        (Some(l), _) => format!("one rate, lr {:e}", l[0]),
        (None, Some(l)) => format!("one rate, lr {l:e}"),
        (None, None) => format!("one rate, lr {:e}", crate::results::cell::DEFAULT_LR),
    };
    let m = c.spec.measurement;
    let most = r.of(m).map(|c| c.spec.settings.seeds.unwrap_or(1)).max().unwrap_or(1);
    let mut at_most: Vec<usize> =
        r.of(m).filter(|c| c.spec.settings.seeds.unwrap_or(1) == most).map(|c| c.spec.value).collect();
    at_most.sort_unstable();
    at_most.dedup();
    let seeds = if r.of(m).all(|c| c.spec.settings.seeds.unwrap_or(1) == most) {
        format!("{most} seed{}", if most == 1 { "" } else { "s" })
    } else {
        let list: Vec<String> = at_most.iter().map(|v| v.to_string()).collect();
        format!("{most} seeds at {}={}, 1 elsewhere", m.parameter(), list.join(","))
    };
    let solved = match r.of(m).any(|c| c.solved_runs().is_some_and(|(_, n)| n > 1)) {
        true => {
            format!("; k/n: runs of the sweep reaching {} validation accuracy", crate::results::cell::ROBUST_ACCURACY)
        }
        false => String::new(),
    };
    format!(
        "up to {} steps of batch {}, {lrs}{}, {seeds}{solved}",
        s.steps.unwrap_or(0),
        s.batch.unwrap_or(0),
        s.early_stop.map_or(String::new(), |e| format!(", stop at {e} validation accuracy")),
    )
}

/// The scorecard ([`crate::analysis::scorecard`]) as a table, when the run measured at least two of
/// its columns; a cell the run did not measure reads `not measured`. Headers are short so that the whole
/// suite's scorecard fits a 120-column terminal.
pub fn scorecard_grid(r: &Results) -> Option<Grid> {
    let sc = &r.derived.scorecard;
    let acc = accuracy_spread;
    type Column<'a> = (String, Box<dyn Fn(&ScoreRow) -> String + 'a>);
    let mut columns: Vec<Column> = Vec::new();
    if let Some(t) = sc.train_seq_len {
        columns.push((
            format!("train vs attention (T={t})"),
            Box::new(|row: &ScoreRow| row.train_vs_attention.map_or("not measured".into(), |v| format!("{v:.2}x"))),
        ));
    }
    if let Some((a, b)) = sc.decode_positions {
        columns.push((
            format!("decode step {a} -> {b}"),
            Box::new(|row: &ScoreRow| row.decode_growth.map_or("not measured".into(), |v| format!("x{v:.2}"))),
        ));
    }
    if let Some(p) = sc.memory_position {
        columns.push((
            format!("state @{p}"),
            Box::new(|row: &ScoreRow| row.state_bytes.map_or("not measured".into(), |v| bytes(v.max(0.0) as usize))),
        ));
    }
    if let Some(p) = sc.mqar_kv_pairs {
        columns.push((
            format!("MQAR ({p} pairs)"),
            Box::new(move |row: &ScoreRow| match row.mqar_solved {
                Some((solved, runs)) if runs > 1 => format!("{} {solved}/{runs}", acc(&row.mqar)),
                _ => acc(&row.mqar),
            }),
        ));
    }
    if let Some(l) = sc.parity_len {
        columns.push((format!("parity (T={l})"), Box::new(move |row: &ScoreRow| acc(&row.parity))));
    }
    if let Some(l) = sc.word_problem_len {
        let group = r
            .of(Measurement::WordProblemAccuracy)
            .find_map(|c| c.spec.settings.group.clone())
            .unwrap_or_else(|| "s3".into());
        columns.push((
            format!("{} (T={l})", group.to_uppercase()),
            Box::new(move |row: &ScoreRow| acc(&row.word_problem)),
        ));
    }
    if columns.len() < 2 {
        return None;
    }
    let mut header = vec!["model".to_string()];
    header.extend(columns.iter().map(|(h, _)| h.clone()));
    let rows = sc
        .rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.model.clone()];
            cells.extend(columns.iter().map(|(_, f)| f(row)));
            cells
        })
        .collect();
    Some(Grid {
        title: format!(
            "Scorecard: the lecture's table, measured (accuracies: median [range] over seeds{}, beyond the training length for parity and word problems)",
            if sc.rows.iter().any(|row| row.mqar_solved.is_some_and(|(_, n)| n > 1)) {
                ", k/n the runs of the learning-rate sweep that solved the setting"
            } else {
                ""
            }
        ),
        header,
        rows,
    })
}

/// `median [low-high]` over seeds (the median alone when they agree), or `not measured`.
fn accuracy_spread(v: &Option<[f64; 3]>) -> String {
    match v {
        Some([m, lo, hi]) if lo < hi => format!("{m:.2} [{lo:.2}-{hi:.2}]"),
        Some([m, _, _]) => format!("{m:.2}"),
        None => "not measured".into(),
    }
}

/// How much attention a hybrid needs ([`crate::analysis::hybrid_ratio`]): one row per share.
pub fn hybrid_ratio_grid(r: &Results) -> Option<Grid> {
    let shares = &r.derived.hybrid_ratio;
    if shares.is_empty() {
        return None;
    }
    let at = |m: Measurement| {
        r.of(m).filter(|c| shares.iter().any(|s| s.model == c.spec.model.name)).map(|c| c.spec.value).max()
    };
    let header = vec![
        "model".to_string(),
        "attention layers".into(),
        format!("MQAR accuracy ({} pairs)", at(Measurement::MqarAccuracy).map_or("-".into(), |v| v.to_string())),
        format!("decode step @{}", at(Measurement::DecodeLatency).map_or("-".into(), |v| v.to_string())),
        format!("state + KV bytes @{}", at(Measurement::Memory).map_or("-".into(), |v| v.to_string())),
        format!("training tokens/s (T={})", at(Measurement::TrainThroughput).map_or("-".into(), |v| v.to_string())),
    ];
    let none = || "not measured".to_string();
    let rows = shares
        .iter()
        .map(|s| {
            vec![
                s.model.clone(),
                format!("{} of {}", s.attention_layers, s.n_layers),
                accuracy_spread(&s.mqar),
                s.decode_seconds.map_or_else(none, seconds),
                s.state_bytes.map_or_else(none, |b| bytes(b.max(0.0) as usize)),
                s.train_tokens_per_sec.map_or_else(none, |v| format!("{v:.0}")),
            ]
        })
        .collect();
    Some(Grid {
        title: "How much attention does a hybrid need? (one model per share of attention layers)".into(),
        header,
        rows,
    })
}
