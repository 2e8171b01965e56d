//! Timing a cell: warm-up runs, then at least N samples and at least T seconds (at most M), per the
//! cell's [`SamplePlan`]; and the test-only slowdown knob that lives in that timed region.

use crate::results::stats::SamplePlan;
use std::time::{Duration, Instant};

/// Test-only knob, read by `seqbench cell` (the child process that measures a cell): with
/// `SEQBENCH_TEST_SLOWDOWN=F` (F >= 1) every timed sample is made F times longer by spinning inside the
/// timed region. It exists to measure what `seqbench ab` and `compare` detect (an injected 10%, 25% or
/// 2x slowdown); `seqbench ab` passes it to the candidate binary only. Never set it for real figures.
pub const SLOWDOWN_ENV: &str = "SEQBENCH_TEST_SLOWDOWN";

static SLOWDOWN: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

/// Reads [`SLOWDOWN_ENV`] once for this process (a cell child calls this before measuring); an unset,
/// malformed or below-1 value means no slowdown.
pub fn enable_injected_slowdown() -> f64 {
    *SLOWDOWN.get_or_init(|| {
        std::env::var(SLOWDOWN_ENV).ok().and_then(|v| v.trim().parse::<f64>().ok()).filter(|f| *f >= 1.0).unwrap_or(1.0)
    })
}

/// The factor set by [`enable_injected_slowdown`] (1 when it was not called).
fn injected_slowdown() -> f64 {
    SLOWDOWN.get().copied().unwrap_or(1.0)
}

/// Busy-waits for `d` (a sleep would hand the core to another process); returns the time spun.
fn spin_for(d: Duration) -> Duration {
    let t0 = Instant::now();
    if d.is_zero() {
        return Duration::ZERO;
    }
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
    t0.elapsed()
}

/// Runs `f` per the plan and returns the duration of every sampled run, in seconds. `f` returns
/// the time it measured itself (so it can exclude set-up) or `None` to be timed whole. With the
/// test-only knob set to F, each sample is exactly F times the time measured (the extra time is
/// also spent, spinning, so the machine sees the slower binary).
pub fn sample<E>(plan: &SamplePlan, f: impl FnMut() -> Result<Option<Duration>, E>) -> Result<Vec<f64>, E> {
    sample_slowed(plan, injected_slowdown(), f)
}

/// [`sample`] with the slowdown factor given.
fn sample_slowed<E>(
    plan: &SamplePlan,
    slowdown: f64,
    mut f: impl FnMut() -> Result<Option<Duration>, E>,
) -> Result<Vec<f64>, E> {
    let mut timed = || -> Result<f64, E> {
        let t0 = Instant::now();
        let own = f()?.unwrap_or_else(|| t0.elapsed());
        // The nominal factor exactly: a spin preempted by another process would overshoot.
        spin_for(own.mul_f64(slowdown - 1.0));
        Ok(own.as_secs_f64() * slowdown)
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

    #[test]
    fn injected_slowdown_stretches_the_timed_region() {
        assert_eq!(spin_for(Duration::ZERO), Duration::ZERO);
        let spun = spin_for(Duration::from_millis(5));
        assert!(spun >= Duration::from_millis(5));
        // Every sample is the nominal factor times what was measured, and the time is really spent.
        let plan = SamplePlan { warmup: 0, min_samples: 3, min_seconds: 0.0, max_samples: 3 };
        let t0 = Instant::now();
        let s = sample_slowed::<()>(&plan, 1.25, || Ok(Some(Duration::from_millis(4)))).unwrap();
        assert!(s.iter().all(|x| (*x - 0.005).abs() < 1e-12), "{s:?}");
        assert!(t0.elapsed() >= Duration::from_millis(3), "the extra millisecond a sample is spun");
    }
}
