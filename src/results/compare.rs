//! Comparing two runs cell by cell, as asv and criterion do on noisy machines: a cell regresses only
//! when a test finds the two sides differ *and* the median is worse by more than the threshold. Two
//! independent runs: the rank-sum test per cell (p < 0.05). The two sides of one `seqbench ab` run:
//! the sign test over the paired rounds, each of the m cells at FAMILY_ALPHA / m (Bonferroni),
//! so that the chance of any false alarm in a run stays below FAMILY_ALPHA however many cells it has.
//! The direction of "better" is known per measurement.

use crate::results::stats::{
    binomial_half_tail, bootstrap_change_ci, bootstrap_median_ci, mann_whitney_p, median, sign_test_p,
};
use crate::results::Results;
use crate::results::{CellResult, Measurement, Status};
use serde::Serialize;
use std::collections::BTreeMap;

/// Significance level of the rank-sum test of each cell of two independent runs.
pub const ALPHA: f64 = 0.05;

/// Paired rounds: the most a run of the same binary on both sides may be flagged anywhere (the
/// family-wise error rate); each of m cells is tested at `FAMILY_ALPHA / m`.
pub const FAMILY_ALPHA: f64 = 0.01;

/// Paired rounds: the per-cell significance level when `cells` cells are compared.
pub fn paired_level(cells: usize) -> f64 {
    FAMILY_ALPHA / cells.max(1) as f64
}

/// The fewest rounds with which the one-sided sign test reaches `p < level` even when `reversed`
/// of them went the other way (a noisy neighbour): the smallest n with `P(X >= n - reversed) < level`,
/// `X ~ Binomial(n, 1/2)`.
pub fn rounds_to_reach(level: f64, reversed: usize) -> usize {
    (reversed + 1..).find(|&n| binomial_half_tail(n, n - reversed) < level).unwrap_or(usize::MAX)
}

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
    pub method: Method,
    /// Per-cell significance level of the test: ALPHA (rank sum), FAMILY_ALPHA / cells (paired).
    pub alpha: f64,
    pub warnings: Vec<String>,
    /// Baseline cells with no result in the new run (not compared).
    pub missing: Vec<String>,
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
    // A side that cannot say (a binary older than `seqbench env`) is not a difference.
    let mut differ = |what: &str, x: String, y: String| {
        if x != y && x != "unknown" && y != "unknown" {
            w.push(format!("{what} differs: baseline {x}, new {y}"));
        }
    };
    differ("device", a.device_label(), b.device_label());
    differ("threads", a.threads.to_string(), b.threads.to_string());
    differ("dtype", a.dtype.clone(), b.dtype.clone());
    differ("seqbench version", a.seqbench_version.clone(), b.seqbench_version.clone());
    differ("candle version", a.candle_version.clone(), b.candle_version.clone());
    differ("features", a.features.join(","), b.features.join(","));
    let built_for = |e: &crate::results::Environment| e.build.as_ref().map_or("unknown".into(), |b| b.isa.clone());
    differ("ISA the binary was built for", built_for(a), built_for(b));
    if !normalized {
        let level = |e: &crate::results::Environment| e.cpu_isa.as_ref().map_or("unknown".into(), |i| i.level.clone());
        differ("CPU ISA level", level(a), level(b));
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

/// The calibration (GFLOP/s) of the machine that measured a cell: its own when the run was merged
/// from shards measured on different machines, else the run's.
pub fn calibration_of(run: &Results, c: &CellResult) -> f64 {
    c.calibration_gflops.unwrap_or(run.environment.calibration_gflops)
}

/// The factor `--normalize` multiplies a cell's figures by: 1 / calibration for throughputs,
/// calibration for latencies, 1 for what is not a timing.
fn normalization(m: Measurement, calibration: f64, normalize: bool) -> f64 {
    match normalize && m.is_timing() {
        false => 1.0,
        true if m.higher_is_better() => 1.0 / calibration,
        true => calibration,
    }
}

/// Metric prefix of the per-round medians `seqbench ab` stores in each side's cells
/// (`round_median.00`, `round_median.01`, ...).
pub const ROUND_MEDIAN: &str = "round_median.";

/// The per-round medians of a cell measured by `seqbench ab`, in round order.
pub fn round_medians(c: &CellResult) -> Vec<f64> {
    c.metrics.iter().filter(|(k, _)| k.starts_with(ROUND_MEDIAN)).map(|(_, v)| *v).collect()
}

/// How two runs' cells are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Two independent runs: the samples of each cell, rank-sum test, bootstrap interval of the
    /// change of the medians.
    RankSum,
    /// One `seqbench ab` run: both binaries measured cell by cell in interleaved rounds; per round the
    /// ratio of the medians, a one-sided sign test over the rounds, bootstrap interval of the
    /// median ratio.
    PairedRounds,
}

impl Method {
    /// One sentence for reports: when a cell regresses, at the per-cell level `alpha`.
    pub fn rule(self, alpha: f64) -> String {
        match self {
            Method::RankSum => format!(
                "A cell regresses when the rank-sum test finds its samples differ (p < {alpha}) and its median is worse by more than the threshold."
            ),
            Method::PairedRounds => format!(
                "Both binaries ran every cell in interleaved rounds; a cell regresses when the median of its per-round ratios is worse by more than the threshold and the one-sided sign test over the rounds agrees at p < {alpha:.2e} ({FAMILY_ALPHA} over the run's cells, Bonferroni: a run of one binary against itself is flagged anywhere at most {}% of the time).",
                FAMILY_ALPHA * 100.0
            ),
        }
    }
}

/// The cell as compared so far, or the reason it cannot be compared.
fn comparable(b: &CellResult, n: &CellResult, opts: &Options) -> Result<CellChange, CellChange> {
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
        return Err(out);
    }
    if b.unit != n.unit {
        out.note = format!("units differ ({} vs {})", b.unit, n.unit);
        return Err(out);
    }
    Ok(out)
}

/// True when `worse` (> 1 worse, < 1 better) is beyond the threshold either way.
pub fn beyond_threshold(worse: f64, threshold: f64) -> bool {
    worse > 1.0 + threshold || worse < 1.0 / (1.0 + threshold)
}

/// Sets the verdict from how many times worse the new side is and the test's p-value, significant
/// below `alpha`.
fn decide(out: &mut CellChange, worse: f64, (p, alpha): (f64, f64), threshold: f64, n: (usize, usize)) {
    out.worse_factor = Some(worse);
    out.p_value = Some(p);
    let significant = p < alpha;
    out.verdict = if significant && worse > 1.0 + threshold {
        Verdict::Regressed
    } else if significant && worse < 1.0 / (1.0 + threshold) {
        Verdict::Improved
    } else {
        Verdict::WithinNoise
    };
    if !significant && beyond_threshold(worse, threshold) {
        out.note =
            format!("beyond the threshold but not significant (p = {p:.3}, needs < {alpha:.2e}; n = {}/{})", n.0, n.1);
    }
}

/// Pairs every cell of `new` with the baseline's cell of the same id; lists the baseline's cells
/// that `new` has no result for.
fn pairs<'a>(base: &'a Results, new: &'a Results) -> (Vec<(&'a CellResult, &'a CellResult)>, Vec<String>) {
    let by_id: BTreeMap<&str, &CellResult> = base.cells.iter().map(|c| (c.spec.id.as_str(), c)).collect();
    let pairs: Vec<_> = new.cells.iter().filter_map(|n| by_id.get(n.spec.id.as_str()).map(|b| (*b, n))).collect();
    let present: std::collections::HashSet<&str> = new.cells.iter().map(|c| c.spec.id.as_str()).collect();
    let missing =
        base.cells.iter().filter(|c| !present.contains(c.spec.id.as_str())).map(|c| c.spec.id.clone()).collect();
    (pairs, missing)
}

/// Compares every cell present in both runs (by id): two independent runs (rank-sum test), or the two
/// sides of one `seqbench ab` run (paired rounds) when both carry per-round medians.
pub fn compare(base: &Results, new: &Results, opts: &Options) -> Comparison {
    let (pairs, missing) = pairs(base, new);
    let paired = !pairs.is_empty()
        && pairs.iter().all(|(b, n)| {
            let (rb, rn) = (round_medians(b), round_medians(n));
            rb.len() == rn.len() && (rb.len() >= 2 || b.status != Status::Ok || n.status != Status::Ok)
        });
    let method = if paired { Method::PairedRounds } else { Method::RankSum };
    let checked: Vec<_> = pairs.into_iter().map(|(b, n)| (b, n, comparable(b, n, opts))).collect();
    let alpha = match method {
        Method::RankSum => ALPHA,
        Method::PairedRounds => paired_level(checked.iter().filter(|(_, _, c)| c.is_ok()).count()),
    };
    let mut cells = Vec::new();
    for (b, n, checked) in checked {
        let mut out = match checked {
            Ok(out) => out,
            Err(out) => {
                cells.push(out);
                continue;
            }
        };
        let m = n.spec.measurement;
        let threshold = opts.threshold_for(m);
        let (fb, fnew) = (
            normalization(m, calibration_of(base, b), opts.normalize),
            normalization(m, calibration_of(new, n), opts.normalize),
        );
        // The samples as compared: normalised by the calibration of the machine that measured each.
        let bs: Vec<f64> = b.samples.iter().map(|s| s * fb).collect();
        let ns: Vec<f64> = n.samples.iter().map(|s| s * fnew).collect();
        let (bm, nm) = (median(&bs), median(&ns));
        out.base_median = Some(bm);
        out.new_median = Some(nm);
        if bm == 0.0 || nm == 0.0 || !bm.is_finite() || !nm.is_finite() {
            out.note = "zero or non-finite median".into();
            cells.push(out);
            continue;
        }
        match method {
            Method::RankSum => {
                out.change = Some(nm / bm - 1.0);
                out.ci = Some(bootstrap_change_ci(&bs, &ns, 1000, 7));
                let worse = if m.higher_is_better() { bm / nm } else { nm / bm };
                decide(&mut out, worse, (mann_whitney_p(&bs, &ns), alpha), threshold, (bs.len(), ns.len()));
            }
            Method::PairedRounds => {
                // Per round: log of new over baseline, after each side's normalisation.
                let logs: Vec<f64> = round_medians(b)
                    .iter()
                    .zip(round_medians(n))
                    .map(|(x, y)| (y * fnew / (x * fb)).ln())
                    .filter(|v| v.is_finite())
                    .collect();
                if logs.is_empty() {
                    out.note = "no round with a finite ratio".into();
                    cells.push(out);
                    continue;
                }
                let center = median(&logs);
                let (lo, hi) = bootstrap_median_ci(&logs, 1000, 7);
                out.change = Some(center.exp() - 1.0);
                out.ci = Some((lo.exp() - 1.0, hi.exp() - 1.0));
                let worse = if m.higher_is_better() { (-center).exp() } else { center.exp() };
                // One-sided, in the direction of the observed change.
                let worse_logs: Vec<f64> = logs.iter().map(|v| if m.higher_is_better() { -v } else { *v }).collect();
                let p = sign_test_p(&worse_logs, worse >= 1.0);
                decide(&mut out, worse, (p, alpha), threshold, (logs.len(), logs.len()));
            }
        }
        cells.push(out);
    }
    let mut warnings = environment_warnings(base, new, opts.normalize);
    for (run, role) in [(base, "baseline"), (new, "new run")] {
        if let Some(p) = &run.partial {
            warnings.push(format!("the {role} `{}` is partial: {}", run.run_id, p.describe()));
        }
    }
    if !missing.is_empty() {
        warnings.push(format!(
            "{} baseline cell(s) have no result in the new run and were not compared (first: {})",
            missing.len(),
            missing[0]
        ));
    }
    Comparison {
        base_run: base.run_id.clone(),
        new_run: new.run_id.clone(),
        normalized: opts.normalize,
        method,
        alpha,
        warnings,
        missing,
        cells,
    }
}
