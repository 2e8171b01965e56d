//! How a [`Chart`] is drawn: SVG through plotters, panels stacked, the legend beside them, one
//! colour and marker per model.

use super::{Axis, Chart, Panel, Scale, Series, Unit};
use crate::output::bytes;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{style_of as style, Marker};

/// The colour and marker of a model ([`super::style`]).
fn style_of(model: &str) -> (RGBColor, Marker) {
    let s = style(model);
    (RGBColor(s.colour.0, s.colour.1, s.colour.2), s.marker)
}

const WIDTH: u32 = 960;
const PANEL_HEIGHT: u32 = 460;
const LEGEND_WIDTH: u32 = 250;
const FONT: &str = "sans-serif";

fn tick(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Seconds => crate::report::tables::seconds(v),
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
    // Log axes tick at 1-2-5 of each decade (plotters' own ticks are the powers of ten only, so an
    // axis from 0.2 to 5 ms had a single label).
    let (xl, yl) = (
        || (x0..x1).log_scale().with_key_points(log_ticks(x0, x1)),
        || (y0..y1).log_scale().with_key_points(log_ticks(y0, y1)),
    );
    match (xlog, ylog) {
        (false, false) => draw_in(area, p, x0..x1, y0..y1),
        (true, false) => draw_in(area, p, xl(), y0..y1),
        (false, true) => draw_in(area, p, x0..x1, yl()),
        (true, true) => draw_in(area, p, xl(), yl()),
    }
}

/// Ticks of a log axis from `lo` to `hi`: 1, 2 and 5 times each power of ten inside the range, or the
/// powers of ten alone when that would be more than a dozen.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if !(lo > 0.0 && hi.is_finite()) {
        return vec![];
    }
    let decades = (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32);
    let with = |mantissas: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| (lo * (1.0 - 1e-9)..=hi * (1.0 + 1e-9)).contains(v))
            .collect()
    };
    let ticks = with(&[1.0, 2.0, 5.0]);
    if ticks.len() > 12 {
        with(&[1.0])
    } else {
        ticks
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

#[cfg(test)]
mod tests {
    use super::log_ticks;

    #[test]
    fn log_axes_tick_at_one_two_five_of_each_decade() {
        let close =
            |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x / y - 1.0).abs() < 1e-9);
        // A decode chart from 0.2 ms to 5 ms: five labels, two of them below 1 ms.
        assert!(close(&log_ticks(2e-4, 5e-3), &[2e-4, 5e-4, 1e-3, 2e-3, 5e-3]), "{:?}", log_ticks(2e-4, 5e-3));
        // Six decades: the powers of ten alone.
        assert!(close(&log_ticks(1.0, 1e6), &[1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]), "{:?}", log_ticks(1.0, 1e6));
        assert!(log_ticks(0.0, 1.0).is_empty());
    }
}
