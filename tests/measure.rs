//! Measurement plumbing: the environment record and calibration, and the heap counters.

use candle_core::Device;
use seqbench::env::{calibrate, Environment};

#[test]
fn environment_is_recorded_with_a_measured_calibration() {
    let env = Environment::capture(&Device::Cpu).unwrap();
    assert!(env.cores >= 1 && env.threads >= 1);
    assert!(env.calibration_gflops.is_finite() && env.calibration_gflops > 0.0);
    assert!(!env.candle_version.is_empty() && env.candle_version != "unknown");
    let s = calibrate(&Device::Cpu, 64, 0.0).unwrap();
    assert!(s.n >= 5 && s.median > 0.0);
    let json = serde_json::to_value(&env).unwrap();
    assert!(json.get("calibration_gflops").is_some());
}
