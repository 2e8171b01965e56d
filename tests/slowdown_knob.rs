//! The test-only slowdown knob reaches `sample()` itself (its own process: the knob is read once per
//! process), and stretches every sample by exactly its nominal factor.

use seqbench::measure::sample::{enable_injected_slowdown, sample, SLOWDOWN_ENV};
use seqbench::results::stats::SamplePlan;
use std::time::Duration;

#[test]
fn sample_applies_the_injected_factor() {
    std::env::set_var(SLOWDOWN_ENV, "1.25");
    assert_eq!(enable_injected_slowdown(), 1.25);
    let plan = SamplePlan { warmup: 1, min_samples: 4, min_seconds: 0.0, max_samples: 4 };
    let samples = sample::<()>(&plan, || Ok(Some(Duration::from_millis(2)))).unwrap();
    assert_eq!(samples.len(), 4);
    assert!(samples.iter().all(|s| (s - 0.0025).abs() < 1e-12), "{samples:?}");
}
