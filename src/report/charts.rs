//! SVG charts of a run (plotters): the lecture's claims as curves. Each chart is first described as
//! data ([`Chart`]: series of points per model) and then drawn by one renderer, so every chart shares
//! its look: one colour and marker per model (fixed by the model's place in the shipped list, so the
//! same model looks the same in every chart and every run), axes with units, the legend beside the
//! plot rather than on it.

use super::Results;
use crate::bench::{CellResult, Measurement, Status};
use crate::compare::Comparison;
use crate::output::bytes;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// Colours for the shipped models, in `config::BUILT_IN` order (Tableau 20, reordered so neighbours differ).
const PALETTE: [(u8, u8, u8); 16] = [
    (214, 39, 40),   // attention: red
    (140, 86, 75),   // lstm
    (188, 189, 34),  // gru
    (31, 119, 180),  // linear-attention
    (255, 127, 14),  // retnet
    (44, 160, 44),   // mamba2
    (148, 103, 189), // gla
    (23, 190, 207),  // deltanet
    (227, 119, 194), // gated-deltanet
    (127, 127, 127), // hgrn2
    (174, 199, 232), // mlstm
    (255, 187, 120), // rwkv6
    (152, 223, 138), // rwkv7
    (0, 0, 0),       // hybrid
    (197, 176, 213),
    (196, 156, 148),
];

/// Marker shapes, cycled by model.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Marker {
    Circle,
    Square,
    Triangle,
    Cross,
}

/// The colour and marker of a model: shipped models by their place in the list, others by a hash.
fn style_of(model: &str) -> (RGBColor, Marker) {
    let index = crate::model::config::BUILT_IN.iter().position(|(n, _)| *n == model).unwrap_or_else(|| {
        crate::model::config::BUILT_IN.len()
            + model.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize)) % 2
    });
    let (r, g, b) = PALETTE[index % PALETTE.len()];
    let marker = [Marker::Circle, Marker::Square, Marker::Triangle, Marker::Cross][index % 4];
    (RGBColor(r, g, b), marker)
}

// ---------------------------------------------------------------------------------------------
// From results to chart descriptions.

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
    let mut out = Vec::new();
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
    if let Some(c) = loss_curves(r) {
        out.push(c);
    }
    out
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
    let mut series: Vec<Series> = Vec::new();
    for c in r.of(m).filter(|c| c.status == Status::Ok && (m == Measurement::MqarWidth || c.spec.value == most)) {
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

// ---------------------------------------------------------------------------------------------
// Drawing.

const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 460;
const LEGEND_WIDTH: u32 = 250;
const FONT: &str = "sans-serif";

fn tick(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Seconds => super::tables::seconds(v),
        Unit::Bytes => bytes(v.max(0.0) as usize),
        Unit::Percent => format!("{v:+.0}%"),
        Unit::Plain if v.abs() >= 1e4 => {
            let e = v.abs().log10().floor();
            if (v / 10f64.powf(e)).fract() == 0.0 {
                format!("{}e{}", v / 10f64.powf(e), e)
            } else {
                format!("{v:.0}")
            }
        }
        Unit::Plain if v.fract() == 0.0 => format!("{v:.0}"),
        Unit::Plain => format!("{v:.2}"),
    }
}

/// Where a value lies on an axis: log2 of it on a `Log2` axis, itself otherwise. `None` for values a
/// log axis cannot show.
fn place(scale: Scale, v: f64) -> Option<f64> {
    match scale {
        _ if !v.is_finite() => None,
        Scale::Linear => Some(v),
        Scale::Log if v > 0.0 => Some(v),
        Scale::Log2 if v > 0.0 => Some(v.log2()),
        _ => None,
    }
}

/// Data range of an axis (in placed values), padded.
fn range(axis: &Axis, values: impl Iterator<Item = f64>) -> (f64, f64) {
    if let Some(r) = axis.range {
        return r;
    }
    let vals: Vec<f64> = values.filter_map(|v| place(axis.scale, v)).collect();
    let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if !lo.is_finite() {
        return if axis.scale == Scale::Log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    match axis.scale {
        Scale::Log => (lo / 1.5, hi * 1.5),
        Scale::Log2 => (lo - 0.5, hi + 0.5),
        Scale::Linear => {
            let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.05).max(1e-9);
            let lo = if lo >= 0.0 && lo - pad < 0.0 { 0.0 } else { lo - pad };
            (lo, hi + pad)
        }
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

/// Pixel height of a panel: fixed for curves, one line per row for a row chart.
fn panel_height(p: &Panel) -> u32 {
    if p.row_labels.is_empty() {
        PANEL_HEIGHT
    } else {
        100 + 18 * p.row_labels.len() as u32
    }
}

/// The legend's rows: one per distinct label across panels, in order of appearance.
fn legend_rows(chart: &Chart) -> Vec<&Series> {
    let mut rows: Vec<&Series> = Vec::new();
    for s in chart.panels.iter().flat_map(|p| &p.series) {
        if !rows.iter().any(|r| r.label == s.label) {
            rows.push(s);
        }
    }
    rows
}

const LEGEND_ROW: u32 = 20;

/// Renders a chart to SVG text.
pub fn render(chart: &Chart) -> anyhow::Result<String> {
    let mut svg = String::new();
    let mut heights: Vec<u32> = chart.panels.iter().map(panel_height).collect();
    let rows_only = chart.panels.iter().all(|p| !p.row_labels.is_empty());
    // Grow the panels until the legend fits beside them.
    let legend_height = 30 + LEGEND_ROW * legend_rows(chart).len() as u32 + if chart.note.is_some() { 70 } else { 10 };
    let total: u32 = heights.iter().sum();
    if !rows_only && legend_height > total {
        heights.iter_mut().for_each(|h| *h = *h * legend_height / total + 1);
    }
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 50 + heights.iter().sum::<u32>())).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let root = root.titled(&chart.title, (FONT, 20)).map_err(plot_error)?;
        let (plots, legend) = if rows_only {
            (root.clone(), None)
        } else {
            let (p, l) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
            (p, Some(l))
        };
        let breaks: Vec<u32> = heights
            .iter()
            .scan(0, |acc, h| {
                *acc += h;
                Some(*acc)
            })
            .collect();
        let areas = plots.split_by_breakpoints(&[] as &[u32], &breaks[..breaks.len() - 1]);
        for (p, area) in chart.panels.iter().zip(&areas) {
            draw_panel(area, p)?;
        }
        if let Some(legend) = legend {
            draw_legend(&legend, chart)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn draw_panel(area: &Area, p: &Panel) -> anyhow::Result<()> {
    let xs = p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0)).chain(p.refused.iter().map(|r| r.1));
    let ys = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|q| q.1))
        .chain(p.refused.iter().map(|r| r.2))
        .chain(p.rules.iter().map(|r| r.y));
    let (x0, x1) = range(&p.x, xs);
    let (y0, y1) = range(&p.y, ys);
    let (xlog, ylog) = (p.x.scale == Scale::Log, p.y.scale == Scale::Log);
    match (xlog, ylog) {
        (false, false) => draw_in(area, p, x0..x1, y0..y1),
        (true, false) => draw_in(area, p, (x0..x1).log_scale(), y0..y1),
        (false, true) => draw_in(area, p, x0..x1, (y0..y1).log_scale()),
        (true, true) => draw_in(area, p, (x0..x1).log_scale(), (y0..y1).log_scale()),
    }
}

/// A tick label of an axis, from a placed value.
fn tick_of(axis: &Axis, v: f64) -> String {
    match axis.scale {
        // Only whole powers of two get a label.
        Scale::Log2 if (v - v.round()).abs() < 1e-6 => tick(axis.unit, 2f64.powf(v.round())),
        Scale::Log2 => String::new(),
        _ => tick(axis.unit, v),
    }
}

/// A data point placed on both axes.
fn placed(p: &Panel, (x, y): (f64, f64)) -> Option<(f64, f64)> {
    Some((place(p.x.scale, x)?, place(p.y.scale, y)?))
}

fn draw_in<X, Y>(area: &Area, p: &Panel, x: X, y: Y) -> anyhow::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let compare_rows = !p.row_labels.is_empty();
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).x_label_area_size(48).y_label_area_size(if compare_rows { 0 } else { 84 });
    if compare_rows {
        builder.margin_left(470);
    }
    if !p.title.is_empty() {
        builder.caption(&p.title, (FONT, 15));
    }
    let mut chart = builder.build_cartesian_2d(x, y).map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(p.x.label.as_str())
        .y_desc(p.y.label.as_str())
        .x_label_formatter(&|v| tick_of(&p.x, *v))
        .y_label_formatter(&|v| tick_of(&p.y, *v))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(plot_error)?;
    let xr = chart.x_range();
    if compare_rows {
        let zero = [(0.0, -1.0), (0.0, p.row_labels.len() as f64)];
        chart.draw_series(LineSeries::new(zero, BLACK.stroke_width(1))).map_err(plot_error)?;
        let (ax, ay) = area.get_base_pixel();
        let font = TextStyle::from((FONT, 11).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        let n = p.row_labels.len();
        for (i, label) in p.row_labels.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(xr.start, (n - 1 - i) as f64));
            area.draw(&Text::new(label.clone(), (px - ax - 8, py - ay), font.clone())).map_err(plot_error)?;
        }
    }
    for rule in &p.rules {
        let Some(y) = place(p.y.scale, rule.y) else {
            continue;
        };
        let line = [(xr.start, y), (xr.end, y)];
        chart
            .draw_series(DashedLineSeries::new(
                line,
                8,
                5,
                ShapeStyle { color: RED.to_rgba(), filled: false, stroke_width: 2 },
            ))
            .map_err(plot_error)?;
        chart
            .draw_series(std::iter::once(Text::new(
                rule.label.clone(),
                (xr.start, y),
                (FONT, 13).into_font().color(&RED),
            )))
            .map_err(plot_error)?;
    }
    for s in &p.series {
        let (color, marker) = style_of(&s.model);
        let line = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 2 };
        let pts: Vec<(f64, f64)> = s.points.iter().filter_map(|q| placed(p, *q)).collect();
        if compare_rows {
            // lo, median, hi on one row: a whisker and a dot.
            chart.draw_series(LineSeries::new(pts.clone(), line)).map_err(plot_error)?;
            chart.draw_series(pts.get(1).map(|c| Circle::new(*c, 4, color.filled()))).map_err(plot_error)?;
            continue;
        }
        if s.dashed {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 6, 4, line)).map_err(plot_error)?;
        } else {
            chart.draw_series(LineSeries::new(pts.clone(), line)).map_err(plot_error)?;
        }
        draw_markers(&mut chart, &pts, color, marker, !s.dashed)?;
    }
    for (model, bx, by) in &p.refused {
        let (color, _) = style_of(model);
        let Some(at) = placed(p, (*bx, *by)) else {
            continue;
        };
        draw_markers(&mut chart, &[at], color, Marker::Cross, false)?;
    }
    Ok(())
}

fn draw_markers<X, Y>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    pts: &[(f64, f64)],
    color: RGBColor,
    marker: Marker,
    filled: bool,
) -> anyhow::Result<()>
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    let style =
        if filled { color.filled() } else { ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 2 } };
    let pts = pts.iter().copied();
    match marker {
        Marker::Circle => chart.draw_series(pts.map(|p| Circle::new(p, 4, style))).map(|_| ()),
        Marker::Square => {
            chart.draw_series(pts.map(|p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], style))).map(|_| ())
        }
        Marker::Triangle => chart.draw_series(pts.map(|p| TriangleMarker::new(p, 5, style))).map(|_| ()),
        Marker::Cross => chart
            .draw_series(pts.map(|p| Cross::new(p, 5, ShapeStyle { filled: false, stroke_width: 2, ..style })))
            .map(|_| ()),
    }
    .map_err(plot_error)
}

fn draw_legend(area: &Area, chart: &Chart) -> anyhow::Result<()> {
    let rows = legend_rows(chart);
    let font = (FONT, 13).into_font();
    let top = 30;
    for (i, s) in rows.iter().enumerate() {
        let (color, marker) = style_of(&s.model);
        let y = top + i as i32 * LEGEND_ROW as i32;
        let style = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 2 };
        if s.dashed {
            area.draw(&PathElement::new(vec![(8, y), (14, y)], style)).map_err(plot_error)?;
            area.draw(&PathElement::new(vec![(26, y), (32, y)], style)).map_err(plot_error)?;
        } else {
            area.draw(&PathElement::new(vec![(8, y), (32, y)], style)).map_err(plot_error)?;
        }
        let fill = if s.dashed { style } else { color.filled() };
        let at = (20, y);
        match marker {
            Marker::Circle => area.draw(&Circle::new(at, 4, fill)),
            Marker::Square => area.draw(&Rectangle::new([(16, y - 4), (24, y + 4)], fill)),
            Marker::Triangle => area.draw(&TriangleMarker::new(at, 5, fill)),
            Marker::Cross => area.draw(&Cross::new(at, 5, style)),
        }
        .map_err(plot_error)?;
        area.draw(&Text::new(
            s.label.clone(),
            (40, y),
            TextStyle::from(font.clone()).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(plot_error)?;
    }
    if let Some(note) = &chart.note {
        let y = top + rows.len() as i32 * LEGEND_ROW as i32 + 14;
        for (i, line) in wrap(note, 34).iter().enumerate() {
            area.draw(&Text::new(
                line.clone(),
                (8, y + 16 * i as i32),
                (FONT, 12).into_font().color(&RGBColor(90, 90, 90)),
            ))
            .map_err(plot_error)?;
        }
    }
    Ok(())
}

/// Greedy word wrap at `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line");
        if !last.is_empty() && last.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}
