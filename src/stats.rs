//! Measurement statistics: warm-up, then at least N samples and at least T seconds; medians,
//! percentiles and the median absolute deviation, with the raw samples kept.

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How long and how often to sample one cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplePlan {
    /// Runs discarded before sampling (kernel loading, allocator and cache warm-up).
    pub warmup: usize,
    /// At least this many samples...
    pub min_samples: usize,
    /// ...and at least this long in total (seconds), whichever comes later...
    pub min_seconds: f64,
    /// ...but never more samples than this.
    pub max_samples: usize,
}

impl Default for SamplePlan {
    fn default() -> Self {
        SamplePlan { warmup: 1, min_samples: 5, min_seconds: 1.0, max_samples: 1000 }
    }
}

/// Summary of a set of samples (same unit as the samples).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub p10: f64,
    pub p90: f64,
    pub p99: f64,
    /// Median absolute deviation from the median (unscaled).
    pub mad: f64,
}

/// Linear-interpolated quantile `q` in [0, 1] of sorted data.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Summary {
    pub fn of(samples: &[f64]) -> Summary {
        let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        let median = quantile(&s, 0.5);
        let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(|a, b| a.total_cmp(b));
        Summary {
            n: s.len(),
            median,
            mean: s.iter().sum::<f64>() / s.len().max(1) as f64,
            min: s.first().copied().unwrap_or(f64::NAN),
            max: s.last().copied().unwrap_or(f64::NAN),
            p10: quantile(&s, 0.10),
            p90: quantile(&s, 0.90),
            p99: quantile(&s, 0.99),
            mad: quantile(&dev, 0.5),
        }
    }
}

/// Runs `f` per the plan and returns the duration of every sampled run, in seconds. `f` returns
/// the time it measured itself (so it can exclude set-up) or `None` to be timed whole.
pub fn sample<E>(plan: &SamplePlan, mut f: impl FnMut() -> Result<Option<Duration>, E>) -> Result<Vec<f64>, E> {
    let mut timed = || -> Result<f64, E> {
        let t0 = Instant::now();
        let own = f()?;
        Ok(own.unwrap_or_else(|| t0.elapsed()).as_secs_f64())
    };
    for _ in 0..plan.warmup {
        timed()?;
    }
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < plan.max_samples.max(1)
        && (out.len() < plan.min_samples.max(1) || start.elapsed().as_secs_f64() < plan.min_seconds)
    {
        out.push(timed()?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.n, s.median, s.min, s.max, s.mean), (5, 3.0, 1.0, 5.0, 3.0));
        assert_eq!(s.mad, 1.0);
        assert!((s.p10 - 1.4).abs() < 1e-12 && (s.p90 - 4.6).abs() < 1e-12);
        let one = Summary::of(&[7.0]);
        assert_eq!((one.median, one.p99, one.mad), (7.0, 7.0, 0.0));
    }

    #[test]
    fn sampling_honours_the_plan() {
        let mut calls = 0;
        let plan = SamplePlan { warmup: 2, min_samples: 4, min_seconds: 0.0, max_samples: 10 };
        let s = sample::<()>(&plan, || {
            calls += 1;
            Ok(Some(Duration::from_millis(3)))
        })
        .unwrap();
        assert_eq!((s.len(), calls), (4, 6));
        assert!(s.iter().all(|x| (*x - 0.003).abs() < 1e-9));
        let capped = SamplePlan { warmup: 0, min_samples: 1, min_seconds: 60.0, max_samples: 3 };
        assert_eq!(sample::<()>(&capped, || Ok(None)).unwrap().len(), 3);
    }
}
