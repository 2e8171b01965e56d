//! Comparing two runs cell by cell, as asv and criterion do on noisy machines: a cell regresses only
//! when the rank-sum test finds the samples differ (p < 0.05) *and* the median is worse by more than
//! the threshold. The direction of "better" is known per measurement.

use crate::bench::{CellResult, Measurement, Status};
use crate::report::Results;
use crate::stats::{bootstrap_change_ci, mann_whitney_p, quantile};
use serde::Serialize;
use std::collections::BTreeMap;

/// Significance level of the rank-sum test.
pub const ALPHA: f64 = 0.05;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Improved,
    Regressed,
    WithinNoise,
    NotComparable,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::WithinNoise => "within noise",
            Verdict::NotComparable => "not comparable",
        }
    }
}

/// How to compare.
#[derive(Clone, Debug)]
pub struct Options {
    /// Default threshold, as a fraction (0.05 = 5%): how much worse the median must be.
    pub threshold: f64,
    /// Per-measurement thresholds.
    pub per_measurement: BTreeMap<Measurement, f64>,
    /// Divide throughputs by, and multiply latencies by, each run's own calibration GFLOP/s.
    pub normalize: bool,
}

impl Options {
    pub fn threshold_for(&self, m: Measurement) -> f64 {
        self.per_measurement.get(&m).copied().unwrap_or(self.threshold)
    }
}

/// One compared cell.
#[derive(Clone, Debug, Serialize)]
pub struct CellChange {
    pub id: String,
    pub measurement: Measurement,
    pub label: String,
    pub unit: String,
    pub base_median: Option<f64>,
    pub new_median: Option<f64>,
    /// `new / base - 1` of the medians (after normalisation, if asked).
    pub change: Option<f64>,
    /// 95% bootstrap interval of `change`.
    pub ci: Option<(f64, f64)>,
    pub p_value: Option<f64>,
    /// How many times worse the new median is (> 1 worse, < 1 better), in the measurement's direction.
    pub worse_factor: Option<f64>,
    pub verdict: Verdict,
    pub note: String,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub base_run: String,
    pub new_run: String,
    pub normalized: bool,
    pub warnings: Vec<String>,
    pub cells: Vec<CellChange>,
}

impl Comparison {
    pub fn count(&self, v: Verdict) -> usize {
        self.cells.iter().filter(|c| c.verdict == v).count()
    }

    pub fn regressions(&self) -> Vec<&CellChange> {
        self.cells.iter().filter(|c| c.verdict == Verdict::Regressed).collect()
    }
}

/// Differences in the environments that make a comparison suspect.
pub fn environment_warnings(base: &Results, new: &Results, normalized: bool) -> Vec<String> {
    let (a, b) = (&base.environment, &new.environment);
    let mut w = Vec::new();
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            w.push(format!("{what} differs: baseline {x}, new {y}"));
        }
    };
    differ("device", a.device_label(), b.device_label());
    differ("threads", a.threads.to_string(), b.threads.to_string());
    differ("dtype", a.dtype.clone(), b.dtype.clone());
    differ("seqbench version", a.seqbench_version.clone(), b.seqbench_version.clone());
    differ("candle version", a.candle_version.clone(), b.candle_version.clone());
    differ("features", a.features.join(","), b.features.join(","));
    if !normalized {
        differ("CPU", a.cpu_model.clone(), b.cpu_model.clone());
        let ratio = b.calibration_gflops / a.calibration_gflops;
        if !(0.8..=1.25).contains(&ratio) {
            w.push(format!(
                "calibration differs by x{ratio:.2} ({:.1} vs {:.1} GFLOP/s): consider --normalize",
                a.calibration_gflops, b.calibration_gflops
            ));
        }
    }
    w
}

/// The samples of a cell as compared: normalised by the run's calibration when asked.
fn comparable_samples(c: &CellResult, calibration: f64, normalize: bool) -> Vec<f64> {
    let m = c.spec.measurement;
    let factor = match normalize && m.is_timing() {
        false => 1.0,
        true if m.higher_is_better() => 1.0 / calibration,
        true => calibration,
    };
    c.samples.iter().map(|s| s * factor).collect()
}

/// Compares every cell present in both runs (by id).
pub fn compare(base: &Results, new: &Results, opts: &Options) -> Comparison {
    let mut cells = Vec::new();
    for n in &new.cells {
        let Some(b) = base.cells.iter().find(|b| b.spec.id == n.spec.id) else {
            continue;
        };
        let m = n.spec.measurement;
        let mut out = CellChange {
            id: n.spec.id.clone(),
            measurement: m,
            label: n.spec.label.clone(),
            unit: match opts.normalize && m.is_timing() {
                false => n.unit.clone(),
                true if m.higher_is_better() => "tokens/GFLOP".into(),
                true => "GFLOP".into(),
            },
            base_median: None,
            new_median: None,
            change: None,
            ci: None,
            p_value: None,
            worse_factor: None,
            verdict: Verdict::NotComparable,
            note: String::new(),
        };
        if b.status != Status::Ok || n.status != Status::Ok || b.samples.is_empty() || n.samples.is_empty() {
            out.note = format!("status: baseline {:?}, new {:?}", b.status, n.status).to_lowercase();
            cells.push(out);
            continue;
        }
        if b.unit != n.unit {
            out.note = format!("units differ ({} vs {})", b.unit, n.unit);
            cells.push(out);
            continue;
        }
        let bs = comparable_samples(b, base.environment.calibration_gflops, opts.normalize);
        let ns = comparable_samples(n, new.environment.calibration_gflops, opts.normalize);
        let median = |x: &[f64]| {
            let mut s = x.to_vec();
            s.sort_by(|a, b| a.total_cmp(b));
            quantile(&s, 0.5)
        };
        let (bm, nm) = (median(&bs), median(&ns));
        out.base_median = Some(bm);
        out.new_median = Some(nm);
        if bm == 0.0 || nm == 0.0 || !bm.is_finite() || !nm.is_finite() {
            out.note = "zero or non-finite median".into();
            cells.push(out);
            continue;
        }
        let change = nm / bm - 1.0;
        let worse = if m.higher_is_better() { bm / nm } else { nm / bm };
        let p = mann_whitney_p(&bs, &ns);
        out.change = Some(change);
        out.ci = Some(bootstrap_change_ci(&bs, &ns, 1000, 7));
        out.p_value = Some(p);
        out.worse_factor = Some(worse);
        let threshold = opts.threshold_for(m);
        let significant = p < ALPHA;
        out.verdict = if significant && worse > 1.0 + threshold {
            Verdict::Regressed
        } else if significant && worse < 1.0 / (1.0 + threshold) {
            Verdict::Improved
        } else {
            Verdict::WithinNoise
        };
        if !significant && (worse > 1.0 + threshold || worse < 1.0 / (1.0 + threshold)) {
            out.note = format!("beyond the threshold but not significant (p = {p:.3}, n = {}/{})", bs.len(), ns.len());
        }
        cells.push(out);
    }
    Comparison {
        base_run: base.run_id.clone(),
        new_run: new.run_id.clone(),
        normalized: opts.normalize,
        warnings: environment_warnings(base, new, opts.normalize),
        cells,
    }
}
