//! Device selection (`--device cpu | cuda | cuda:N`, `--dtype`), synchronisation around timed
//! regions, and device memory probes. The choice is made once per process (the `run` command hands it
//! to its child processes through SEQBENCH_DEVICE).

use crate::error::UserError;
use candle_core::{Device, Result};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Environment variable carrying the device spec to child processes.
pub const ENV: &str = "SEQBENCH_DEVICE";

static SELECTED: OnceLock<String> = OnceLock::new();

/// Parses and opens a device spec: `cpu`, `cuda` (GPU 0) or `cuda:N`.
pub fn open(spec: &str) -> std::result::Result<Device, UserError> {
    let ordinal = match spec {
        "cpu" => return Ok(Device::Cpu),
        "cuda" | "gpu" => 0,
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => n,
            _ => return Err(UserError::Usage(format!("unknown device `{spec}` (expected cpu, cuda or cuda:N)"))),
        },
    };
    cuda(ordinal, spec)
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize, spec: &str) -> std::result::Result<Device, UserError> {
    Device::new_cuda(ordinal).map_err(|e| UserError::Usage(format!("device `{spec}`: {}", first_line(&e.to_string()))))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize, spec: &str) -> std::result::Result<Device, UserError> {
    Err(UserError::Usage(format!(
        "device `{spec}` needs a build with CUDA: cargo build --release --features cuda (see README, CUDA); this build runs on the CPU"
    )))
}

#[cfg(feature = "cuda")]
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// Checks `--dtype`: the models and kernels compute in f32 on every device for now.
pub fn check_dtype(dtype: &str) -> std::result::Result<(), UserError> {
    match dtype {
        "f32" => Ok(()),
        "bf16" | "f16" => Err(UserError::Usage(format!(
            "--dtype {dtype}: not supported yet; seqbench's models and kernels compute in f32 on every device"
        ))),
        other => Err(UserError::Usage(format!("unknown dtype `{other}` (expected f32, bf16 or f16)"))),
    }
}

/// Makes `spec` this process's device (validated by opening it) and exports it to child processes.
pub fn select(spec: &str) -> std::result::Result<(), UserError> {
    open(spec)?;
    let _ = SELECTED.set(spec.to_string());
    std::env::set_var(ENV, spec);
    Ok(())
}

/// The spec chosen for this process: `--device`, else SEQBENCH_DEVICE, else `cpu`.
pub fn spec() -> String {
    SELECTED.get().cloned().or_else(|| std::env::var(ENV).ok()).unwrap_or_else(|| "cpu".into())
}

/// The device chosen for this process.
pub fn selected() -> std::result::Result<Device, UserError> {
    open(&spec())
}

/// Waits until the device has finished its queued work (a no-op on the CPU), so a clock read after
/// it covers the work.
pub fn synchronize(device: &Device) -> Result<()> {
    device.synchronize()
}

/// Runs `f` between two synchronisations and returns its result with the time it took.
pub fn timed<T, E: From<candle_core::Error>>(
    device: &Device,
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<(T, Duration), E> {
    synchronize(device)?;
    let t0 = Instant::now();
    let out = f()?;
    synchronize(device)?;
    Ok((out, t0.elapsed()))
}

/// Device memory in use, bytes (None on the CPU, whose heap the counting allocator measures).
pub fn memory_in_use(device: &Device) -> Option<usize> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(_) => {
            let (free, total) = candle_core::cuda_backend::cudarc::driver::result::mem_get_info().ok()?;
            Some(total.saturating_sub(free))
        }
        _ => None,
    }
}
