//! Capturing the environment recorded with every result ([`crate::results::Environment`]), and the
//! calibration figure (a reference matmul's GFLOP/s measured in the same run) so results from
//! different or noisy machines can be normalised.

use crate::measure::sample::sample;
use crate::results::stats::{SamplePlan, Summary};
use crate::results::Environment;
use candle_core::{Device, Tensor};

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty())
}

fn memory_total() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: usize = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn os() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("PRETTY_NAME="))
            .map(|l| l.trim_start_matches("PRETTY_NAME=").trim_matches('"').to_string())
    });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).ok();
    match (pretty, kernel) {
        (Some(p), Some(k)) => format!("{p} (Linux {k})"),
        (Some(p), None) => p,
        _ => std::env::consts::OS.to_string(),
    }
}

/// Threads candle's CPU backend uses (RAYON_NUM_THREADS, else all cores).
pub fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Median GFLOP/s of an `n x n` matmul over about `seconds` of sampling.
pub fn calibrate(device: &Device, n: usize, seconds: f64) -> candle_core::Result<Summary> {
    calibrate_shape(device, n, n, n, seconds)
}

/// Median GFLOP/s of an `[m, k] x [k, n]` f32 matmul over about `seconds` of sampling.
pub fn calibrate_shape(device: &Device, m: usize, k: usize, n: usize, seconds: f64) -> candle_core::Result<Summary> {
    let a = crate::rng::normal(1, "calibration-a", (m, k), 1.0, device)?;
    let b = crate::rng::normal(1, "calibration-b", (k, n), 1.0, device)?;
    let plan = SamplePlan { warmup: 2, min_samples: 5, min_seconds: seconds, max_samples: 200 };
    let times = sample(&plan, || -> candle_core::Result<_> {
        let (c, elapsed): (Tensor, _) = crate::device::timed(device, || a.matmul(&b))?;
        drop(c);
        Ok(Some(elapsed))
    })?;
    let flops = 2.0 * (m * k * n) as f64;
    let gflops: Vec<f64> = times.iter().map(|t| flops / t / 1e9).collect();
    Ok(Summary::of(&gflops))
}

/// GB/s of a STREAM-like copy of a `bytes`-byte buffer into another on all threads (bytes read plus
/// bytes written, over the median of 5 copies after one warm-up): the memory's bandwidth when the
/// buffer is larger than the last-level cache.
pub fn copy_bandwidth(bytes: usize) -> f64 {
    use rayon::prelude::*;
    let n = bytes / 8;
    let src: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut dst = vec![0f64; n];
    let chunk = (n / rayon::current_num_threads().max(1) / 4).max(1 << 12);
    let plan = SamplePlan { warmup: 1, min_samples: 5, min_seconds: 0.0, max_samples: 5 };
    let times = sample(&plan, || -> Result<_, std::convert::Infallible> {
        let t0 = std::time::Instant::now();
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
        Ok(Some(t0.elapsed()))
    })
    .unwrap_or_default();
    std::hint::black_box(&dst);
    2.0 * bytes as f64 / crate::results::stats::median(&times).max(1e-12) / 1e9
}

/// Cargo features of this build and how the kernels run on `device`.
fn features(device: &Device) -> Vec<String> {
    let mut f = Vec::new();
    if cfg!(feature = "cuda") {
        f.push("cuda".to_string());
    }
    f.push(
        if crate::kernels::cpu::enabled(device) { "kernels=fused-cpu" } else { "kernels=plain-candle-ops" }.to_string(),
    );
    f
}

/// Captures the environment and measures the calibration on `device`.
pub fn capture(device: &Device) -> candle_core::Result<Environment> {
    let mut env = describe(device);
    env.calibration_gflops = calibrate(device, 512, 0.5)?.median;
    Ok(env)
}

/// The environment without the calibration (its `calibration_gflops` is 0): what `seqbench env
/// --no-calibration` prints.
pub fn describe(device: &Device) -> Environment {
    Environment {
        cpu_model: cpu_model(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        threads: threads(),
        memory_bytes: memory_total(),
        os: os(),
        device: match device {
            Device::Cpu => "cpu".into(),
            _ => crate::device::spec(),
        },
        gpu: crate::device::describe(device),
        dtype: crate::device::dtype().as_str().into(),
        candle_version: env!("SEQBENCH_CANDLE_VERSION").into(),
        seqbench_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: env!("SEQBENCH_GIT_COMMIT").into(),
        features: features(device),
        calibration_gflops: 0.0,
        hostname: hostname(),
        build: Some(super::provenance::build()),
        cpu_isa: Some(super::provenance::cpu_isa()),
        command_line: Some(super::provenance::command_line()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_bandwidth_and_shape_calibration_are_positive_rates() {
        let gbs = copy_bandwidth(8 << 20);
        assert!(gbs.is_finite() && gbs > 0.0, "{gbs}");
        let s = calibrate_shape(&Device::Cpu, 64, 32, 48, 0.0).unwrap();
        assert!(s.median.is_finite() && s.median > 0.0);
    }
}
