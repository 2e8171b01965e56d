//! The tables of a run: one per measurement section, models as rows and the swept parameter as
//! columns. Rendered for the terminal (comfy-table) and as Markdown (results.md).

use super::Results;
use crate::output::{bytes, table};
use crate::results::{CellResult, Measurement, Status};

/// A rendered-independent table.
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
                _ if s.n > 1 => format!("{} ±{}", value(&c.unit, s.median), value(&c.unit, s.mad)),
                _ => value(&c.unit, s.median),
            }
        }
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
    let mut out = Vec::new();
    let batch = |m: Measurement| r.of(m).next().and_then(|c| c.spec.settings.batch).unwrap_or(1);
    let train: Vec<_> = values(r, Measurement::TrainThroughput)
        .into_iter()
        .map(|t| (format!("T={t}"), Measurement::TrainThroughput, t))
        .collect();
    out.extend(grid(
        r,
        format!("Training throughput (tokens/s, batch {}; median ±MAD)", batch(Measurement::TrainThroughput)),
        train,
    ));
    let mut latency: Vec<_> = values(r, Measurement::PrefillLatency)
        .into_iter()
        .map(|p| (format!("TTFT ({p}-token prompt)"), Measurement::PrefillLatency, p))
        .collect();
    latency.extend(
        values(r, Measurement::DecodeLatency)
            .into_iter()
            .map(|p| (format!("step @{p}"), Measurement::DecodeLatency, p)),
    );
    out.extend(grid(
        r,
        format!("Per-token inference latency (batch {}; median, p99)", batch(Measurement::DecodeLatency)),
        latency,
    ));
    let memory: Vec<_> =
        values(r, Measurement::Memory).into_iter().map(|p| (format!("@{p}"), Measurement::Memory, p)).collect();
    if let Some(mut g) =
        grid(r, format!("State memory (exact bytes held, batch {})", batch(Measurement::Memory)), memory)
    {
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
        out.push(g);
    }
    let generation: Vec<_> = values(r, Measurement::Generation)
        .into_iter()
        .map(|b| (format!("batch {b}"), Measurement::Generation, b))
        .collect();
    let gen_title = match r.of(Measurement::Generation).next() {
        Some(c) => format!(
            "Generation throughput (decode tokens/s; prompt {}, {} new tokens{})",
            c.spec.settings.prompt.unwrap_or(0),
            c.spec.settings.tokens.unwrap_or(0),
            c.spec.settings.mem_budget.map_or(String::new(), |b| format!(", budget {}", bytes(b as usize)))
        ),
        None => String::new(),
    };
    out.extend(grid(r, gen_title, generation));
    // Quality: each table gets the models' state bytes at the task's length, so accuracy can be read
    // against state size.
    let with_state = |g: Option<Grid>, m: Measurement| -> Option<Grid> {
        let mut g = g?;
        g.header.push("state bytes".into());
        for row in &mut g.rows {
            let state = r.of(m).find(|c| c.spec.label == row[0]).and_then(|c| c.metrics.get("state_bytes").copied());
            row.push(state.map_or("-".into(), |b| bytes(b as usize)));
        }
        Some(g)
    };
    if let Some(c) = r.of(Measurement::LmLoss).next() {
        let floor = r.of(Measurement::LmLoss).find_map(|c| c.metrics.get("entropy_floor_bits").copied());
        let title = format!(
            "Language modelling (validation bits/byte after {} steps of {} x {} bytes{})",
            c.spec.value,
            c.spec.settings.batch.unwrap_or(0),
            c.spec.settings.seq_len.unwrap_or(0),
            floor.map_or(String::new(), |f| format!("; source entropy floor {f:.3}"))
        );
        let cols = values(r, Measurement::LmLoss)
            .into_iter()
            .map(|v| ("bits/byte".to_string(), Measurement::LmLoss, v))
            .collect();
        out.extend(with_state(grid(r, title, cols), Measurement::LmLoss));
    }
    if let Some(c) = r.of(Measurement::MqarAccuracy).next() {
        let title = format!(
            "MQAR test accuracy vs key-value pairs (vocab {}, length {}, {} steps)",
            c.spec.settings.vocab.unwrap_or(0),
            c.spec.settings.seq_len.unwrap_or(0),
            c.spec.settings.steps.unwrap_or(0)
        );
        let cols = values(r, Measurement::MqarAccuracy)
            .into_iter()
            .map(|v| (format!("{v} pairs"), Measurement::MqarAccuracy, v))
            .collect();
        out.extend(with_state(grid(r, title, cols), Measurement::MqarAccuracy));
    }
    if let Some(c) = r.of(Measurement::MqarWidth).next() {
        let title = format!("MQAR test accuracy vs model width ({} pairs)", c.spec.settings.kv_pairs.unwrap_or(0));
        let cols = values(r, Measurement::MqarWidth)
            .into_iter()
            .map(|v| (format!("d={v}"), Measurement::MqarWidth, v))
            .collect();
        out.extend(grid(r, title, cols));
    }
    if let Some(c) = r.of(Measurement::CopyAccuracy).next() {
        let title = format!(
            "Copy test accuracy vs length (alphabet {}, {} steps)",
            c.spec.settings.vocab.unwrap_or(0),
            c.spec.settings.steps.unwrap_or(0)
        );
        let cols = values(r, Measurement::CopyAccuracy)
            .into_iter()
            .map(|v| (format!("L={v}"), Measurement::CopyAccuracy, v))
            .collect();
        out.extend(with_state(grid(r, title, cols), Measurement::CopyAccuracy));
    }
    out
}

/// The terminal report: tables and verdicts.
pub fn terminal(r: &Results) -> String {
    let mut s = String::new();
    for g in grids(r) {
        let mut t = table(&g.header.iter().map(String::as_str).collect::<Vec<_>>());
        for row in g.rows {
            t.add_row(row);
        }
        s.push_str(&format!("\n{}\n{t}\n", g.title));
    }
    if !r.derived.verdicts.is_empty() {
        s.push('\n');
        for v in &r.derived.verdicts {
            s.push_str(&format!("- {v}\n"));
        }
    }
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// results.md: environment, verdicts, links to the charts (`(file, title)`, relative to the run
/// directory) and tables.
pub fn markdown(r: &Results, charts: &[(String, String)]) -> String {
    let e = &r.environment;
    let mut s = format!(
        "# seqbench run `{}`\n\nSuite `{}`: {}\n\nCreated {}{}. {} of {} cells measured.\n\n",
        r.run_id,
        r.suite.name,
        r.suite.description,
        r.created,
        r.finished.as_ref().map_or(" (unfinished)".to_string(), |f| format!(", finished {f}")),
        r.cells.len(),
        r.planned.len()
    );
    for n in super::notices(r) {
        s.push_str(&format!("> **{}**\n\n", md_escape(&n)));
    }
    s.push_str(&format!(
        "Environment: {} ({} cores, {} threads, {}), {}, device {}, {}; seqbench {} (commit {}), candle {}; calibration {:.1} GFLOP/s (512x512 f32 matmul).\n\n",
        e.cpu_model,
        e.cores,
        e.threads,
        e.memory_bytes.map_or("memory unknown".into(), |m| format!("{} RAM", bytes(m))),
        e.os,
        e.device_label(),
        e.dtype,
        e.seqbench_version,
        e.git_commit,
        e.candle_version,
        e.calibration_gflops
    ));
    if !r.derived.verdicts.is_empty() {
        s.push_str("## Verdicts\n\n");
        for v in &r.derived.verdicts {
            s.push_str(&format!("- {}\n", md_escape(v)));
        }
        s.push('\n');
    }
    if !charts.is_empty() {
        s.push_str("## Charts\n\n");
        for (file, title) in charts {
            s.push_str(&format!("![{}]({file})\n\n", md_escape(title)));
        }
    }
    for g in grids(r) {
        s.push_str(&format!("## {}\n\n", g.title));
        s.push_str(&format!("| {} |\n", g.header.iter().map(|h| md_escape(h)).collect::<Vec<_>>().join(" | ")));
        s.push_str(&format!("|{}\n", "---|".repeat(g.header.len())));
        for row in g.rows {
            s.push_str(&format!("| {} |\n", row.iter().map(|c| md_escape(c)).collect::<Vec<_>>().join(" | ")));
        }
        s.push('\n');
    }
    let failed: Vec<_> = r.cells.iter().filter(|c| c.status == Status::Failed).collect();
    if !failed.is_empty() {
        s.push_str("## Failed cells\n\n");
        for c in failed {
            s.push_str(&format!("- `{}`: {}\n", c.spec.id, md_escape(c.error.as_deref().unwrap_or(""))));
        }
    }
    s
}
