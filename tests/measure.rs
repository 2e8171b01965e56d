//! Measurement plumbing: the environment record and calibration, and the heap counters of the
//! counting allocator, installed here as the binary installs it.

use candle_core::Device;
use seqbench::measure::alloc::{self, Counting, CACHE_MIN};
use seqbench::measure::env::{calibrate, capture};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn environment_is_recorded_with_a_measured_calibration() {
    let env = capture(&Device::Cpu).unwrap();
    assert!(env.cores >= 1 && env.threads >= 1);
    assert!(env.calibration_gflops.is_finite() && env.calibration_gflops > 0.0);
    assert!(!env.candle_version.is_empty() && env.candle_version != "unknown");
    let s = calibrate(&Device::Cpu, 64, 0.0).unwrap();
    assert!(s.n >= 5 && s.median > 0.0);
    let json = serde_json::to_value(&env).unwrap();
    assert!(json.get("calibration_gflops").is_some());
}

/// The counters follow a large allocation up and down, the peak holds it until reset, and a freed
/// large block is handed back for the next allocation of its size (the block cache).
#[test]
fn heap_counters_follow_allocations_and_the_peak_resets() {
    const N: usize = 64 << 20;
    let before = alloc::current();
    alloc::reset_peak();
    let block = vec![1u8; N];
    assert!(alloc::current() >= before + N, "current {} after allocating {N} from {before}", alloc::current());
    assert!(alloc::peak() >= before + N);
    let address = block.as_ptr() as usize;
    drop(block);
    assert!(alloc::current() < before + N, "freed bytes still counted");
    assert!(alloc::peak() >= before + N, "the peak keeps the phase's high-water mark");
    alloc::reset_peak();
    assert!(alloc::peak() < before + N, "reset_peak starts a new phase");
    // The freed block waits in the cache for an allocation of the same rounded size.
    let again = vec![2u8; N];
    assert_eq!(again.as_ptr() as usize, address, "a freed block of at least {CACHE_MIN} bytes is reused");
    assert!(again.iter().all(|b| *b == 2));
    assert!(alloc::peak_rss().is_some_and(|r| r >= N));
}
