//! Exports of a run for CI dashboards: github-action-benchmark's custom JSON (one file per direction,
//! `customBiggerIsBetter` and `customSmallerIsBetter`) and bencher's Benchmark Metric Format.

use super::{Bencher, Exporter, GithubAction};
use crate::results::{Results, Status};
use serde_json::{json, Map, Value};

/// The array for github-action-benchmark's `customBiggerIsBetter` (`bigger`) or
/// `customSmallerIsBetter` tool.
impl Exporter<Results> for GithubAction {
    fn render(&self, r: &Results) -> anyhow::Result<Vec<u8>> {
        let (bigger, smaller) = github_action(r);
        super::json(if self.bigger { &bigger } else { &smaller })
    }
}

/// Bencher Metric Format.
impl Exporter<Results> for Bencher {
    fn render(&self, r: &Results) -> anyhow::Result<Vec<u8>> {
        super::json(&bencher(r))
    }
}

fn github_action(r: &Results) -> (Value, Value) {
    let (mut bigger, mut smaller) = (Vec::new(), Vec::new());
    for c in r.cells.iter().filter(|c| c.status == Status::Ok) {
        let Some(s) = &c.summary else { continue };
        let entry = json!({
            "name": c.spec.id,
            "unit": c.unit,
            "value": s.median,
            "range": format!("± {}", s.mad),
            "extra": format!("n={} p10={} p90={} p99={} run={}", s.n, s.p10, s.p90, s.p99, r.run_id),
        });
        if c.spec.measurement.higher_is_better() {
            bigger.push(entry);
        } else {
            smaller.push(entry);
        }
    }
    (Value::Array(bigger), Value::Array(smaller))
}

/// Bencher Metric Format: `{ benchmark: { measure: { value, lower_value, upper_value } } }`; latency
/// in nanoseconds (bencher's `latency` measure), throughput in tokens/s, memory in bytes.
fn bencher(r: &Results) -> Value {
    let mut out = Map::new();
    for c in r.cells.iter().filter(|c| c.status == Status::Ok) {
        let Some(s) = &c.summary else { continue };
        let (measure, scale) = c.spec.measurement.about().bencher;
        let mut m = Map::new();
        m.insert(
            measure.into(),
            json!({ "value": s.median * scale, "lower_value": s.p10 * scale, "upper_value": s.p90 * scale }),
        );
        out.insert(c.spec.id.clone(), Value::Object(m));
    }
    Value::Object(out)
}
