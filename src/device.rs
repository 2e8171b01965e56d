//! Device selection (`--device cpu | cuda | cuda:N`, `--dtype`), synchronisation around timed
//! regions, and device memory probes. The choice is made once per process (the `run` command hands it
//! to its child processes through SEQBENCH_DEVICE).

use crate::error::UserError;
use candle_core::{DType, Device, Result};
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

/// Environment variable carrying the compute dtype to child processes.
pub const DTYPE_ENV: &str = "SEQBENCH_DTYPE";

static DTYPE: OnceLock<DType> = OnceLock::new();

/// Parses `--dtype`: `f32`, `bf16` or `f16`.
///
/// The dtype is the precision of the matrix products: the weights of every projection (and the
/// embedding), the products themselves and attention's KV cache. Norms, softmax, gates, the
/// recurrences and their states, the residual stream and the loss stay f32, and training keeps f32
/// master weights for AdamW (see `model::optim`).
pub fn parse_dtype(spec: &str) -> std::result::Result<DType, UserError> {
    match spec {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        other => Err(UserError::Usage(format!("unknown dtype `{other}` (expected f32, bf16 or f16)"))),
    }
}

/// Makes `spec` this process's compute dtype and exports it to child processes.
pub fn select_dtype(spec: &str) -> std::result::Result<(), UserError> {
    let dtype = parse_dtype(spec)?;
    let _ = DTYPE.set(dtype);
    std::env::set_var(DTYPE_ENV, spec);
    Ok(())
}

/// The compute dtype chosen for this process: `--dtype`, else SEQBENCH_DTYPE, else f32.
pub fn dtype() -> DType {
    if let Some(d) = DTYPE.get() {
        return *d;
    }
    std::env::var(DTYPE_ENV).ok().and_then(|s| parse_dtype(&s).ok()).unwrap_or(DType::F32)
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

/// `(free, total)` device memory, bytes, as the driver reports it (None on the CPU).
fn memory_info(device: &Device) -> Option<(usize, usize)> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => d.cuda_stream().context().mem_get_info().ok(),
        _ => None,
    }
}

/// Device memory in use on the whole GPU, bytes, as nvidia-smi counts it (every process and the
/// context itself); None on the CPU, whose heap the counting allocator measures.
pub fn memory_in_use(device: &Device) -> Option<usize> {
    memory_info(device).map(|(free, total)| total.saturating_sub(free))
}

/// Free device memory, bytes (None on the CPU).
pub fn memory_free(device: &Device) -> Option<usize> {
    memory_info(device).map(|(free, _)| free)
}

/// Bytes this process's tensors hold on the device now and at most since the last
/// [`reset_peak_allocated`]: candle allocates device memory from the CUDA stream-ordered pool, whose
/// used-memory counter and high-water mark these are (torch.cuda's memory_allocated and
/// max_memory_allocated). None on the CPU, or where the device has no memory pool.
pub fn allocated(device: &Device) -> Option<(usize, usize)> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => pool::used(d),
        _ => None,
    }
}

/// Starts a new high-water mark for [`allocated`] (no-op on the CPU).
pub fn reset_peak_allocated(device: &Device) {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => pool::reset_high(d),
        _ => {}
    }
}

/// The GPU's name, compute capability, memory and the driver's CUDA version, for the environment.
pub fn describe(device: &Device) -> Option<String> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => {
            use candle_core::cuda_backend::cudarc::driver::sys;
            let ctx = d.cuda_stream().context().clone();
            let name = ctx.name().ok()?;
            let (major, minor) = ctx.compute_capability().ok()?;
            let total = ctx.total_mem().ok()?;
            let mut version = 0i32;
            // SAFETY: writes one int.
            let driver = unsafe { sys::cuDriverGetVersion(&mut version) }
                .result()
                .ok()
                .map_or_else(|| "unknown".to_string(), |_| format!("{}.{}", version / 1000, (version % 1000) / 10));
            Some(format!(
                "{name}, compute capability {major}.{minor}, {:.1} GiB, driver CUDA {driver}",
                total as f64 / (1u64 << 30) as f64
            ))
        }
        _ => None,
    }
}

/// The device's stream-ordered memory pool (cudarc allocates with cuMemAllocAsync from it).
#[cfg(feature = "cuda")]
mod pool {
    use candle_core::cuda_backend::cudarc::driver::sys;
    use candle_core::cuda_backend::CudaDevice;
    use std::ffi::c_void;

    fn of(d: &CudaDevice) -> Option<sys::CUmemoryPool> {
        let ctx = d.cuda_stream().context().clone();
        if !ctx.has_async_alloc() {
            return None;
        }
        ctx.bind_to_thread().ok()?;
        let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
        // SAFETY: writes one pool handle for a device of a live context.
        unsafe { sys::cuDeviceGetMemPool(&mut pool, ctx.cu_device()) }.result().ok()?;
        Some(pool)
    }

    fn attribute(pool: sys::CUmemoryPool, attr: sys::CUmemPool_attribute) -> Option<usize> {
        let mut value = 0u64;
        // SAFETY: the used-memory attributes are one cuuint64_t each.
        unsafe { sys::cuMemPoolGetAttribute(pool, attr, &mut value as *mut u64 as *mut c_void) }.result().ok()?;
        Some(value as usize)
    }

    pub fn used(d: &CudaDevice) -> Option<(usize, usize)> {
        let pool = of(d)?;
        let current = attribute(pool, sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_CURRENT)?;
        let high = attribute(pool, sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH)?;
        Some((current, high))
    }

    pub fn reset_high(d: &CudaDevice) {
        if let Some(pool) = of(d) {
            let mut zero = 0u64;
            // SAFETY: resetting the high-water mark takes a cuuint64_t 0.
            let _ = unsafe {
                sys::cuMemPoolSetAttribute(
                    pool,
                    sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH,
                    &mut zero as *mut u64 as *mut c_void,
                )
            };
        }
    }
}

/// Memory the OS reports as available (`MemAvailable` in /proc/meminfo), if it can be read.
pub fn available_bytes() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory available to tensors on `device`: the GPU's free memory on CUDA (tensors live there), the
/// OS's `MemAvailable` on the CPU.
pub fn available_on(device: &candle_core::Device) -> Option<usize> {
    match memory_free(device) {
        Some(free) => Some(free),
        None if device.is_cpu() => available_bytes(),
        None => None,
    }
}
