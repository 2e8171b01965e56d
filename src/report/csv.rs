//! CSV: results.csv (tidy, one row per model x measurement x parameter value, with the summary and
//! the main secondary figures as columns; fixed columns, documented in docs/results-schema.md) and
//! kernels.csv (one row per kernel, form and grid point).

use super::{Csv, Exporter};
use crate::results::kernels::KernelResults;
use crate::results::Results;

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

impl Exporter<Results> for Csv {
    fn render(&self, r: &Results) -> anyhow::Result<Vec<u8>> {
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
}

const KERNEL_COLUMNS: [&str; 9] =
    ["kernel", "form", "batch", "seq_len", "heads", "head_dim", "forward_s", "forward_backward_s", "tokens_per_s"];

impl Exporter<KernelResults> for Csv {
    fn render(&self, k: &KernelResults) -> anyhow::Result<Vec<u8>> {
        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.write_record(KERNEL_COLUMNS)?;
        for r in &k.rows {
            w.write_record([
                r.kernel.clone(),
                r.form.clone(),
                r.batch.to_string(),
                r.seq_len.to_string(),
                r.heads.to_string(),
                r.head_dim.to_string(),
                r.forward.median.to_string(),
                r.backward.median.to_string(),
                r.tokens_per_s.to_string(),
            ])?;
        }
        Ok(w.into_inner()?)
    }
}
