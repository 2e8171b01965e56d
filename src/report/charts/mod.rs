//! SVG charts of a run: the lecture's claims as curves. This file says *what* to plot: each chart
//! described as data ([`Chart`]: panels, axes, series of points per model) from a run's cells or a
//! comparison. [`draw`] says *how*: one renderer (plotters) for every chart, so they share their
//! look: one colour and marker per model (fixed by the model's place in the shipped list, so the
//! same model looks the same in every chart and every run), axes with units, the legend beside the
//! plot rather than on it.

use super::Results;
use crate::output::bytes;
use crate::results::compare::Comparison;
use crate::results::{CellResult, Measurement, Status};

mod crossover;
mod draw;
pub mod style;

pub use draw::render;

/// One line of points, drawn in its model's colour and marker.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend text (the cell label: `model@size`, plus the kernel form when swept).
    pub label: String,
    /// The model's name, which picks colour and marker.
    pub model: String,
    /// Dashed line: a second quantity of the same model (measured peak beside exact state), or a
    /// non-default kernel form.
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// How an axis maps values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    Linear,
    /// Decades (plotters' log axis): for times and rates.
    Log,
    /// Powers of two: for sizes, positions and batches, whose values are powers of two. Drawn as a
    /// linear axis over log2 of the value, so ticks land on 128, 256, ... and 1 KiB, 2 KiB, ...
    Log2,
}

/// How tick labels are written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    Plain,
    Seconds,
    Bytes,
    Percent,
}

#[derive(Clone, Debug)]
pub struct Axis {
    pub label: String,
    pub scale: Scale,
    pub unit: Unit,
    /// Fixed range; computed from the data when `None`.
    pub range: Option<(f64, f64)>,
}

/// A horizontal reference line (a memory budget, zero change).
#[derive(Clone, Debug)]
pub struct Rule {
    pub label: String,
    pub y: f64,
}

/// One panel: axes, series and reference lines.
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub rules: Vec<Rule>,
    /// Points drawn as crosses, not joined (cells refused over the budget), per model.
    pub refused: Vec<(String, f64, f64)>,
    /// When set, series `i` is row `i` from the top (a dot at its second point, a whisker from its
    /// first to its third), labelled with `row_labels[i]` instead of a legend.
    pub row_labels: Vec<String>,
}

/// One SVG file: panels stacked vertically, one legend for all.
#[derive(Clone, Debug)]
pub struct Chart {
    /// File name in the run directory (`decode_latency.svg`).
    pub file: String,
    pub title: String,
    pub panels: Vec<Panel>,
    /// A line under the legend saying what solid and dashed mean, when both are used.
    pub note: Option<String>,
}

/// The series of one measurement: per label, (parameter value, figure) for every measured cell.
fn series_of(
    r: &Results,
    m: Measurement,
    figure: impl Fn(&CellResult) -> Option<f64>,
    dashed_forms: bool,
) -> Vec<Series> {
    let mut by_label: Vec<Series> = Vec::new();
    for c in r.of(m).filter(|c| c.status == Status::Ok) {
        let Some(y) = figure(c) else { continue };
        if !y.is_finite() {
            continue;
        }
        let point = (c.spec.value as f64, y);
        match by_label.iter_mut().find(|s| s.label == c.spec.label) {
            Some(s) => s.points.push(point),
            None => by_label.push(Series {
                label: c.spec.label.clone(),
                model: c.spec.model.name.clone(),
                dashed: dashed_forms && c.spec.settings.form.as_deref().is_some_and(|f| !f.starts_with("chunkwise")),
                points: vec![point],
            }),
        }
    }
    for s in &mut by_label {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    by_label
}

fn median(c: &CellResult) -> Option<f64> {
    c.median()
}

fn axis(label: impl Into<String>, scale: Scale, unit: Unit) -> Axis {
    Axis { label: label.into(), scale, unit, range: None }
}

fn panel(title: impl Into<String>, x: Axis, y: Axis, series: Vec<Series>) -> Panel {
    Panel { title: title.into(), x, y, series, rules: vec![], refused: vec![], row_labels: vec![] }
}

fn single(file: &str, title: impl Into<String>, p: Panel) -> Option<Chart> {
    (!p.series.is_empty()).then(|| Chart { file: file.into(), title: title.into(), panels: vec![p], note: None })
}

/// Log when the data spans more than `ratio`, linear otherwise.
fn scale_for(series: &[Series], ratio: f64) -> Scale {
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|y| *y > 0.0);
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if hi / lo > ratio {
        Scale::Log
    } else {
        Scale::Linear
    }
}

fn accuracy_axis() -> Axis {
    Axis { label: "test accuracy".into(), scale: Scale::Linear, unit: Unit::Plain, range: Some((0.0, 1.05)) }
}

/// Every chart a run's cells support, in the lecture's order.
pub fn plan(r: &Results) -> Vec<Chart> {
    let mut out: Vec<Chart> = crossover::chart(r).into_iter().collect();
    let batch = |m: Measurement| r.of(m).next().and_then(|c| c.spec.settings.batch).unwrap_or(1);

    let train = series_of(r, Measurement::TrainThroughput, median, true);
    let y = axis("training throughput (tokens/s)", scale_for(&train, 30.0), Unit::Plain);
    out.extend(single(
        "train_throughput.svg",
        format!("Training throughput vs sequence length (batch {})", batch(Measurement::TrainThroughput)),
        panel("", axis("sequence length (tokens)", Scale::Log2, Unit::Plain), y, train),
    ));
    if let Some(c) = out.last_mut().filter(|c| c.file == "train_throughput.svg") {
        if c.panels[0].series.iter().any(|s| s.dashed) {
            c.note =
                Some("solid: chunkwise form (or a model without forms); dashed: recurrent or parallel form".into());
        }
    }

    let decode = series_of(r, Measurement::DecodeLatency, median, false);
    let y = axis("decode step (median)", scale_for(&decode, 10.0), Unit::Seconds);
    out.extend(single(
        "decode_latency.svg",
        format!("Per-token decode latency vs position (batch {})", batch(Measurement::DecodeLatency)),
        panel("", axis("position (tokens already in the state)", Scale::Log2, Unit::Plain), y, decode),
    ));

    let mut memory = series_of(r, Measurement::Memory, median, false);
    // The measured peak where the tensors live: the device's on a GPU, the heap's on the CPU.
    let peak = |c: &CellResult| c.metrics.get("peak_device_bytes").or(c.metrics.get("peak_heap_bytes")).copied();
    let peaks: Vec<Series> =
        series_of(r, Measurement::Memory, peak, false).into_iter().map(|s| Series { dashed: true, ..s }).collect();
    memory.extend(peaks);
    if let Some(mut c) = single(
        "memory.svg",
        format!("Memory vs sequence length (batch {})", batch(Measurement::Memory)),
        panel("", axis("position (tokens)", Scale::Log2, Unit::Plain), axis("bytes", Scale::Log2, Unit::Bytes), memory),
    ) {
        c.note = Some(if r.environment.gpu.is_some() {
            "solid: exact state bytes; dashed: measured peak device memory while building it".into()
        } else {
            "solid: exact state bytes; dashed: measured peak heap while building it".into()
        });
        out.push(c);
    }

    if let Some(c) = generation_chart(r) {
        out.push(c);
    }

    let mqar = series_of(r, Measurement::MqarAccuracy, median, false);
    out.extend(single(
        "mqar_accuracy.svg",
        "MQAR test accuracy vs key-value pairs",
        panel("", axis("key-value pairs", Scale::Log2, Unit::Plain), accuracy_axis(), mqar),
    ));
    if let Some(c) = accuracy_vs_state(r) {
        out.push(c);
    }
    let copy = series_of(r, Measurement::CopyAccuracy, median, false);
    out.extend(single(
        "copy_accuracy.svg",
        "Copy test accuracy vs string length",
        panel("", axis("string length (tokens)", Scale::Log2, Unit::Plain), accuracy_axis(), copy),
    ));
    let beyond = series_of(r, Measurement::MqarLength, median, false);
    out.extend(single(
        "mqar_length.svg",
        "MQAR beyond the training length: test accuracy vs test length",
        panel("", axis("test length (tokens)", Scale::Log2, Unit::Plain), accuracy_axis(), beyond),
    ));
    if let Some(c) = state_tracking(r) {
        out.push(c);
    }
    out.extend(state_precision(r));
    if let Some(c) = loss_curves(r) {
        out.push(c);
    }
    out.extend(hybrid_ratio(r));
    out
}

/// How much attention a hybrid needs: recall against decode cost, one point per share of attention
/// layers (each its own legend entry), joined in order of the share.
fn hybrid_ratio(r: &Results) -> Option<Chart> {
    let shares = &r.derived.hybrid_ratio;
    let points: Vec<(&str, String, f64, f64)> = shares
        .iter()
        .filter_map(|s| {
            let label = format!("{} of {} attention", s.attention_layers, s.n_layers);
            Some((s.model.as_str(), label, s.decode_seconds?, s.mqar?[0]))
        })
        .collect();
    if points.len() < 2 {
        return None;
    }
    let mut series = vec![Series {
        label: "by share".into(),
        model: shares[0].model.clone(),
        dashed: true,
        points: points.iter().map(|(_, _, x, y)| (*x, *y)).collect(),
    }];
    // Each share in its own colour (a share without both figures has no point).
    series.extend(points.iter().map(|(model, label, x, y)| Series {
        label: label.clone(),
        model: model.to_string(),
        dashed: false,
        points: vec![(*x, *y)],
    }));
    single(
        "hybrid_ratio.svg",
        "Recall against decode cost, per share of attention layers",
        panel(
            "",
            axis("decode step at the longest position (median)", Scale::Log, Unit::Seconds),
            accuracy_axis(),
            series,
        ),
    )
}

/// State tracking: one row per model and task, the median over seeds as a dot and the range of the
/// seeds as a whisker, accuracy beyond the training length.
fn state_tracking(r: &Results) -> Option<Chart> {
    let mut panels = Vec::new();
    for m in [Measurement::ParityAccuracy, Measurement::WordProblemAccuracy] {
        let Some(longest) = r.of(m).filter(|c| c.status == Status::Ok).map(|c| c.spec.value).max() else { continue };
        let cells: Vec<&CellResult> =
            r.of(m).filter(|c| c.status == Status::Ok && c.spec.value == longest && !c.samples.is_empty()).collect();
        let n = cells.len() as f64;
        let series = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let y = n - 1.0 - i as f64;
                let (lo, hi) = crate::results::stats::range(&c.samples);
                Series {
                    label: c.spec.label.clone(),
                    model: c.spec.model.name.clone(),
                    dashed: false,
                    points: vec![(lo, y), (c.median().unwrap_or(lo), y), (hi, y)],
                }
            })
            .collect();
        let first = cells.first()?;
        let task = match m {
            Measurement::ParityAccuracy => "parity".to_string(),
            _ => format!("{} word problem", first.spec.settings.group.as_deref().unwrap_or("s3").to_uppercase()),
        };
        let mut p = panel(
            format!("{task}: trained on {} tokens, tested on {longest}", first.spec.settings.train_len.unwrap_or(0)),
            Axis {
                range: Some((0.0, 1.05)),
                ..axis("accuracy beyond the training length", Scale::Linear, Unit::Plain)
            },
            Axis { label: String::new(), scale: Scale::Linear, unit: Unit::Plain, range: Some((-1.0, n)) },
            series,
        );
        p.row_labels = cells.iter().map(|c| format!("{} ({} seeds)", c.spec.label, c.samples.len())).collect();
        panels.push(p);
    }
    (!panels.is_empty()).then(|| Chart {
        file: "state_tracking.svg".into(),
        title: "State tracking: length generalisation (dot: median over seeds; whisker: their range)".into(),
        panels,
        note: None,
    })
}

/// The state's precision: one row per model, a dot at the bf16 state's top-1 agreement with the f32
/// decode and a whisker to the f16 state's.
fn state_precision(r: &Results) -> Option<Chart> {
    let cells: Vec<&CellResult> = r.of(Measurement::StatePrecision).filter(|c| c.status == Status::Ok).collect();
    let n = cells.len() as f64;
    let series: Vec<Series> = cells
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let y = n - 1.0 - i as f64;
            let (bf16, f16) = (*c.metrics.get("bf16.agreement")?, *c.metrics.get("f16.agreement")?);
            Some(Series {
                label: c.spec.label.clone(),
                model: c.spec.model.name.clone(),
                dashed: false,
                points: vec![(bf16.min(f16), y), (bf16, y), (bf16.max(f16), y)],
            })
        })
        .collect();
    let lowest = series.iter().map(|s| s.points[0].0).fold(1.0f64, f64::min);
    let mut p = panel(
        format!("{} held-out bytes, the state rounded after every step", cells.first()?.spec.value),
        Axis {
            range: Some(((lowest - 0.02).max(0.0), 1.005)),
            ..axis("top-1 agreement with the f32 state", Scale::Linear, Unit::Plain)
        },
        Axis { label: String::new(), scale: Scale::Linear, unit: Unit::Plain, range: Some((-1.0, n)) },
        series,
    );
    p.row_labels = cells.iter().map(|c| c.spec.label.clone()).collect();
    single("state_precision.svg", "State precision (dot: bf16 state; whisker to the f16 state)", p)
}

/// Generation: decode throughput vs batch above, the memory each batch needs with the budget line
/// below; refused batches are crosses above the line.
fn generation_chart(r: &Results) -> Option<Chart> {
    let throughput = series_of(r, Measurement::Generation, median, false);
    if throughput.is_empty() && r.of(Measurement::Generation).next().is_none() {
        return None;
    }
    let need = |c: &CellResult| c.metrics.get("need_bytes").copied();
    let mut needs = series_of(r, Measurement::Generation, need, false);
    let refused: Vec<(String, f64, f64)> = r
        .of(Measurement::Generation)
        .filter(|c| c.status == Status::Refused)
        .filter_map(|c| Some((c.spec.model.name.clone(), c.spec.value as f64, need(c)?)))
        .collect();
    // A refused batch continues its model's need line, so the line visibly crosses the budget.
    for c in r.of(Measurement::Generation).filter(|c| c.status == Status::Refused) {
        if let (Some(n), Some(s)) = (need(c), needs.iter_mut().find(|s| s.label == c.spec.label)) {
            s.points.push((c.spec.value as f64, n));
            s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
    let budget = r.of(Measurement::Generation).find_map(|c| c.spec.settings.mem_budget);
    let first = r.of(Measurement::Generation).next()?;
    let title = format!(
        "Generation under a memory budget (prompt {}, {} new tokens{})",
        first.spec.settings.prompt.unwrap_or(0),
        first.spec.settings.tokens.unwrap_or(0),
        budget.map_or(String::new(), |b| format!(", budget {}", bytes(b as usize)))
    );
    let top = panel(
        "decode throughput",
        axis("batch size", Scale::Log2, Unit::Plain),
        axis("decode throughput (tokens/s)", scale_for(&throughput, 30.0), Unit::Plain),
        throughput,
    );
    let mut bottom = panel(
        "memory needed",
        axis("batch size", Scale::Log2, Unit::Plain),
        axis("bytes needed", Scale::Log2, Unit::Bytes),
        needs,
    );
    bottom.rules =
        budget.map(|b| Rule { label: format!("budget {}", bytes(b as usize)), y: b as f64 }).into_iter().collect();
    bottom.refused = refused;
    Some(Chart {
        file: "generation.svg".into(),
        title,
        panels: vec![top, bottom],
        note: Some("x: refused before allocating (needs more than the budget)".into()),
    })
}

/// Accuracy vs state size: the MQAR width sweep (one line per model, one point per width), or else
/// each model's accuracy at the largest number of pairs against its state bytes.
fn accuracy_vs_state(r: &Results) -> Option<Chart> {
    let state = |c: &CellResult| c.metrics.get("state_bytes").copied();
    let (m, what) = if r.of(Measurement::MqarWidth).next().is_some() {
        (Measurement::MqarWidth, "over model widths".to_string())
    } else {
        let most = r.of(Measurement::MqarAccuracy).map(|c| c.spec.value).max()?;
        (Measurement::MqarAccuracy, format!("at {most} key-value pairs"))
    };
    let most = r.of(m).map(|c| c.spec.value).max()?;
    // The width sweep's task at the pairs grid's own width is the grid's cell at those pairs: a point too.
    let width_pairs = r.of(Measurement::MqarWidth).find_map(|c| c.spec.settings.kv_pairs);
    let grid_point = |c: &CellResult| {
        m == Measurement::MqarWidth
            && c.spec.measurement == Measurement::MqarAccuracy
            && Some(c.spec.value) == width_pairs
    };
    let mut series: Vec<Series> = Vec::new();
    let candidates = r.of(m).chain(r.of(Measurement::MqarAccuracy).filter(|c| grid_point(c)));
    for c in candidates.filter(|c| c.status == Status::Ok && (m == Measurement::MqarWidth || c.spec.value == most)) {
        let (Some(x), Some(y)) = (state(c), c.median()) else {
            continue;
        };
        match series.iter_mut().find(|s| s.label == c.spec.label) {
            Some(s) => s.points.push((x, y)),
            None => series.push(Series {
                label: c.spec.label.clone(),
                model: c.spec.model.name.clone(),
                dashed: false,
                points: vec![(x, y)],
            }),
        }
    }
    for s in &mut series {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    single(
        "accuracy_vs_state.svg",
        format!("MQAR accuracy vs recurrent state size ({what})"),
        panel(
            "",
            axis("state bytes at the task's length (batch 1)", Scale::Log2, Unit::Bytes),
            accuracy_axis(),
            series,
        ),
    )
}

/// Training loss curves of the language-modelling cells (`loss_curve.NNNNN` metrics).
fn loss_curves(r: &Results) -> Option<Chart> {
    let mut series = Vec::new();
    for c in r.of(Measurement::LmLoss).filter(|c| c.status == Status::Ok) {
        let points: Vec<(f64, f64)> = c
            .metrics
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("loss_curve.")?.parse::<f64>().ok()?, *v)))
            .filter(|p| p.1.is_finite())
            .collect();
        if !points.is_empty() {
            series.push(Series {
                label: c.spec.label.clone(),
                model: c.spec.model.name.clone(),
                dashed: false,
                points,
            });
        }
    }
    single(
        "lm_loss_curve.svg",
        "Language modelling: training loss per step",
        panel(
            "",
            axis("training step", Scale::Linear, Unit::Plain),
            axis("training loss (nats/byte)", Scale::Linear, Unit::Plain),
            series,
        ),
    )
}

/// The comparison of two runs: each cell's median change with its 95% confidence interval.
pub fn comparison(cmp: &Comparison) -> Option<Chart> {
    let cells: Vec<_> = cmp.cells.iter().filter(|c| c.change.is_some()).collect();
    if cells.is_empty() {
        return None;
    }
    let n = cells.len() as f64;
    let row = |i: usize| n - 1.0 - i as f64;
    let series = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let change = 100.0 * c.change.unwrap_or(0.0);
            let (lo, hi) = c.ci.map_or((change, change), |(lo, hi)| (100.0 * lo, 100.0 * hi));
            Series {
                label: c.id.clone(),
                model: c.label.split(['@', ' ']).next().unwrap_or("").to_string(),
                dashed: false,
                points: vec![(lo, row(i)), (change, row(i)), (hi, row(i))],
            }
        })
        .collect();
    let row_labels = cells.iter().map(|c| format!("{} [{}]", c.id, c.verdict.name())).collect();
    let mut p = panel(
        "",
        axis("change of the median (%; positive = larger value)", Scale::Linear, Unit::Percent),
        Axis { label: String::new(), scale: Scale::Linear, unit: Unit::Plain, range: Some((-1.0, n)) },
        series,
    );
    p.rules = vec![];
    p.row_labels = row_labels;
    Some(Chart {
        file: "compare.svg".into(),
        title: format!(
            "Change from {} to {} (median, 95% CI{})",
            cmp.base_run,
            cmp.new_run,
            if cmp.normalized { ", normalised" } else { "" }
        ),
        panels: vec![p],
        note: None,
    })
}
