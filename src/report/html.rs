//! report.html: one self-contained page (no scripts, no external files; the SVG charts inline) with
//! the environment, the verdict lines, the charts and the tables of a run.

use super::tables::grids;
use super::{Exporter, Html};
use crate::output::bytes;
use crate::results::Results;
use crate::results::Status;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An SVG document without its XML declaration, for inlining.
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1040px;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.5em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left}thead th{background:#f4f4f4}.env td{text-align:left;white-space:normal}\
figure{margin:1em 0}svg{max-width:100%;height:auto}.failed{color:#b00}.unmeasured{color:#999;font-style:italic}#scorecard td:first-child{font-weight:600}#scorecard th{white-space:normal;min-width:6em}.scroll{overflow-x:auto}ul.verdicts li{margin:.3em 0}";

/// The page; the exporter's `charts` are (title, SVG text) in display order.
impl Exporter<Results> for Html<'_> {
    fn render(&self, r: &Results) -> anyhow::Result<Vec<u8>> {
        Ok(page(r, self.charts).into_bytes())
    }
}

/// One table with its heading; `id` names it (the scorecard) when not empty.
fn grid_html(h: &mut String, g: &super::tables::Grid, id: &str) {
    let id = if id.is_empty() { String::new() } else { format!(" id=\"{id}\"") };
    h.push_str(&format!("<h2>{}</h2>\n<div class=\"scroll\"><table{id}><thead><tr>", escape(&g.title)));
    for c in &g.header {
        h.push_str(&format!("<th>{}</th>", escape(c)));
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in &g.rows {
        h.push_str("<tr>");
        for c in row {
            let class = match c.as_str() {
                "FAILED" => " class=\"failed\"",
                "not measured" => " class=\"unmeasured\"",
                _ => "",
            };
            h.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n");
}

fn page(r: &Results, charts: &[(String, String)]) -> String {
    let e = &r.environment;
    let mut h = String::new();
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>seqbench run {}</title><style>{STYLE}</style></head><body>\n",
        escape(&r.run_id)
    ));
    h.push_str(&format!(
        "<h1>seqbench run <code>{}</code></h1>\n<p>Suite <code>{}</code>: {}</p>\n<p>Created {}{}. {} of {} cells measured.</p>\n",
        escape(&r.run_id),
        escape(&r.suite.name),
        escape(&r.suite.description),
        escape(&r.created),
        r.finished.as_ref().map_or(" (unfinished)".to_string(), |f| format!(", finished {}", escape(f))),
        r.cells.len(),
        r.planned.len()
    ));
    for n in super::notices(r) {
        h.push_str(&format!("<p class=\"failed\"><strong>{}</strong></p>\n", escape(&n)));
    }
    if let Some(g) = super::tables::scorecard_grid(r) {
        grid_html(&mut h, &g, "scorecard");
    }
    h.push_str("<h2>Environment</h2>\n<table class=\"env\"><tbody>\n");
    let rows: Vec<(&str, String)> = vec![
        ("CPU", format!("{} ({} cores, {} threads)", e.cpu_model, e.cores, e.threads)),
        ("memory", e.memory_bytes.map_or("unknown".into(), bytes)),
        ("OS", e.os.clone()),
        ("device", format!("{} ({})", e.device_label(), e.dtype)),
        ("seqbench", format!("{} (commit {})", e.seqbench_version, e.git_commit)),
        ("candle", e.candle_version.clone()),
        ("calibration", format!("{:.1} GFLOP/s (512x512 f32 matmul)", e.calibration_gflops)),
    ];
    for (k, v) in rows {
        h.push_str(&format!("<tr><th>{k}</th><td>{}</td></tr>\n", escape(&v)));
    }
    h.push_str("</tbody></table>\n");
    if !r.derived.verdicts.is_empty() {
        h.push_str("<h2>Verdicts</h2>\n<ul class=\"verdicts\">\n");
        for v in &r.derived.verdicts {
            h.push_str(&format!("<li>{}</li>\n", escape(v)));
        }
        h.push_str("</ul>\n");
    }
    if !charts.is_empty() {
        h.push_str("<h2>Charts</h2>\n");
        for (title, svg) in charts {
            h.push_str(&format!("<figure aria-label=\"{}\">\n{}\n</figure>\n", escape(title), inline_svg(svg)));
        }
    }
    for g in grids(r) {
        grid_html(&mut h, &g, "");
    }
    let failed: Vec<_> = r.cells.iter().filter(|c| c.status == Status::Failed).collect();
    if !failed.is_empty() {
        h.push_str("<h2>Failed cells</h2>\n<ul>\n");
        for c in failed {
            h.push_str(&format!(
                "<li><code>{}</code>: {}</li>\n",
                escape(&c.spec.id),
                escape(c.error.as_deref().unwrap_or(""))
            ));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</body></html>\n");
    h
}
