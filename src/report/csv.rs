//! results.csv: tidy, one row per model x measurement x parameter value, with the summary and the
//! main secondary figures as columns. Columns are fixed (documented in docs/results-schema.md).

use super::Results;

/// Secondary metrics given their own columns (empty when a cell has none).
pub const METRIC_COLUMNS: [&str; 7] = [
    "state_bytes",
    "state_bytes_formula",
    "heap_held_bytes",
    "peak_heap_bytes",
    "step_peak_heap_bytes",
    "peak_rss_bytes",
    "need_bytes",
];

pub const COLUMNS: [&str; 19] = [
    "run_id",
    "measurement",
    "model",
    "label",
    "mixer",
    "form",
    "parameter",
    "value",
    "status",
    "unit",
    "n",
    "median",
    "mean",
    "min",
    "max",
    "p10",
    "p90",
    "p99",
    "mad",
];

pub fn render(r: &Results) -> anyhow::Result<Vec<u8>> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut header: Vec<&str> = COLUMNS.to_vec();
    header.extend(METRIC_COLUMNS);
    header.push("error");
    w.write_record(&header)?;
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    for c in &r.cells {
        let s = c.summary.as_ref();
        let mut row = vec![
            r.run_id.clone(),
            c.spec.measurement.name().to_string(),
            c.spec.model.label(),
            c.spec.label.clone(),
            c.spec.model.mixer_summary(),
            c.spec.settings.form.clone().unwrap_or_default(),
            c.spec.parameter.clone(),
            c.spec.value.to_string(),
            serde_json::to_value(c.status)?.as_str().unwrap_or("").to_string(),
            c.unit.clone(),
            s.map_or(String::new(), |s| s.n.to_string()),
            num(s.map(|s| s.median)),
            num(s.map(|s| s.mean)),
            num(s.map(|s| s.min)),
            num(s.map(|s| s.max)),
            num(s.map(|s| s.p10)),
            num(s.map(|s| s.p90)),
            num(s.map(|s| s.p99)),
            num(s.map(|s| s.mad)),
        ];
        for m in METRIC_COLUMNS {
            row.push(num(c.metrics.get(m).copied()));
        }
        row.push(c.error.clone().unwrap_or_default());
        w.write_record(&row)?;
    }
    Ok(w.into_inner()?)
}
