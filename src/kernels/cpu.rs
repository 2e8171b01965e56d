//! What the fused CPU kernels share: when they serve a tensor ([`enabled`], [`serves`]), raw f32
//! slices of candle's CPU storage, a single-threaded `gemm`, and [`par_chunks`], which keeps tiny
//! work off the thread pool. The kernels themselves are candle custom ops with explicit backward
//! passes, each in the folder or file of its operation beside its plain reference; on other devices
//! (CUDA), or under SEQBENCH_PLAIN_OPS=1, the callers use the plain forms.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, DType, Device, Layout, Result, Tensor};
use rayon::prelude::*;

/// True when the fused kernels serve `device` (the CPU, unless SEQBENCH_PLAIN_OPS=1 asks for the
/// plain-op forms everywhere, e.g. to measure what the kernels gain).
pub fn enabled(device: &Device) -> bool {
    // Read once: this is asked on every projection and norm, and an environment lookup takes a lock.
    static PLAIN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    device.is_cpu() && !*PLAIN.get_or_init(|| std::env::var("SEQBENCH_PLAIN_OPS").is_ok_and(|v| v == "1"))
}

/// True when the fused kernels serve `x`: an f32 tensor on a device they run on.
pub fn serves(x: &Tensor) -> bool {
    x.dtype() == DType::F32 && enabled(x.device())
}

/// `e^x` without a libm call, so loops over it vectorise (libm's `expf` took 8-10% of a tiny
/// training step in perf, one scalar call per element): `e^x = 2^n e^r` with `n = round(x / ln 2)`
/// (by the 1.5·2^23 rounding trick, whose low mantissa bits then hold `n`), `r = x - n ln 2` in two
/// parts (Cody-Waite), `e^r` by Cephes' degree-6 polynomial on `|r| <= ln(2)/2`. Relative error
/// below 3e-7 (tested); `x` is clamped to [-87.3, 88.3], so tiny results are ~1e-38 instead of
/// subnormal or 0, and NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23
    let x = x.clamp(-87.3, 88.3);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.500_000_06;
    let er = p * r * r + r + 1.0;
    // 2^n from n's bits in t: t = 1.5·2^23 + n, so its mantissa's low bits are n + 2^22.
    let k = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    er * f32::from_bits((k.wrapping_add(127) as u32) << 23)
}

/// `Σ_i a_i b_i` over the shorter of the two, in 8 independent partial sums: a left-to-right sum is a
/// chain of dependent adds that does not vectorise (the fused scan's backward is mostly such dot
/// products of 16-64 floats, an RNN step's product one per output, a decode step's projection one
/// per output). Variants measured slower in LSTM/GRU training at small T=512 (seqbench ab): 16
/// partial sums added as a looped tree (-17% to -19%), 8 added pairwise and always inlined (-10% to
/// -15%).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0f32; 8];
    let (ca, cb) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// `Σ_i f(x_i)` in 8 independent partial sums, as [`dot`]: a left-to-right sum keeps the loop, and
/// every `f` in it, scalar (the loss's `Σ exp(z - max)` over the vocabulary was a tenth of a tiny
/// training step in perf).
#[inline(always)]
pub(crate) fn sum_map(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = xs.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest of `xs` (`-inf` when empty), in 8 lanes so the loop vectorises (NaNs are not
/// propagated: callers take logits and scores, which are finite).
#[inline(always)]
pub(crate) fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    for c in chunks {
        for i in 0..8 {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().fold(tail, |m, &x| if x > m { x } else { m })
}

/// `σ(x)` of one value (the kernels' gates).
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-x))
}

/// `tanh(x) = 2σ(2x) - 1`, through one `exp` (libm's `tanhf` goes through `expm1f`, which took a
/// sixth of an LSTM training step, measured with perf); absolute error ~1e-7.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    2.0 * sigmoid_f32(2.0 * x) - 1.0
}

/// True when a `[B, H, T, d]` layout has contiguous rows and evenly spaced (batch, head) pairs: a
/// contiguous tensor, or a view narrowed along T (a KV cache in its capacity buffer).
pub(crate) fn rows_contiguous(dims: &[usize], stride: &[usize]) -> bool {
    let (h, t, d) = (dims[1], dims[2], dims[3]);
    stride[3] == 1 && (t <= 1 || stride[2] == d) && (h <= 1 || stride[0] == h * stride[1])
}

fn f32_data(s: &CpuStorage) -> Result<&[f32]> {
    match s {
        CpuStorage::F32(d) => Ok(d.as_slice()),
        other => candle_core::bail!("fused kernels take f32, got {:?}", other.dtype()),
    }
}

/// The f32 data of a contiguous tensor.
pub(crate) fn as_slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    contiguous_part(f32_data(s)?, l)
}

/// The elements of a contiguous tensor of any dtype, out of its storage's data.
pub(crate) fn contiguous_part<'a, T>(data: &'a [T], l: &Layout) -> Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("fused kernels take contiguous tensors"),
    }
}

/// The f32 data of a `[B, H, T, d]` tensor whose rows are contiguous and whose (batch, head) pairs
/// are evenly spaced (a contiguous tensor, or a view narrowed along T, such as a KV cache inside its
/// capacity buffer): the data from the first element, and the distance between pairs.
pub(crate) fn pair_rows<'a>(s: &'a CpuStorage, l: &Layout) -> Result<(&'a [f32], usize)> {
    let data = f32_data(s)?;
    let (_, h, _, _) = l.shape().dims4()?;
    let st = l.stride();
    let pair = if h > 1 { st[1] } else { st[0] };
    if !rows_contiguous(l.shape().dims(), st) {
        candle_core::bail!("fused kernels take [B, H, T, d] tensors with contiguous rows, got strides {st:?}")
    }
    Ok((&data[l.start_offset()..], pair))
}

/// `dst[m x n] (row stride dst_rs) = [dst +] scale · lhs[m x k] · rhs[k x n]`, with lhs and rhs
/// given by row and column strides (so a transpose is a swap of strides). Single-threaded: callers
/// parallelise over independent problems.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    rhs_cs: usize,
    accumulate: bool,
    scale: f32,
) {
    let args = (dst_rs, lhs_rs, lhs_cs, rhs_rs, rhs_cs, accumulate, scale);
    gemm_on(gemm_crate::Parallelism::None, m, n, k, dst, lhs, rhs, args)
}

/// Products worth splitting over the pool on their own (multiply-adds): one of a sequential
/// computation that has nothing else to run beside it (an RNN's weight gradient over all steps).
pub const THREADED_MIN_WORK: usize = 1 << 20;

/// The whole pool for a product of `work` multiply-adds worth splitting ([`THREADED_MIN_WORK`]),
/// else this thread: for [`gemm_on`] where no caller parallelises around the product.
pub(crate) fn pool_for(work: usize) -> gemm_crate::Parallelism {
    let threads = rayon::current_num_threads();
    if work >= THREADED_MIN_WORK && threads > 1 {
        gemm_crate::Parallelism::Rayon(threads)
    } else {
        gemm_crate::Parallelism::None
    }
}

/// [`gemm`] with a choice of threads ([`pool_for`]); `args`: `(dst_rs, lhs_rs, lhs_cs, rhs_rs,
/// rhs_cs, accumulate, scale)` as there.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub(crate) fn gemm_on(
    parallelism: gemm_crate::Parallelism,
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    (dst_rs, lhs_rs, lhs_cs, rhs_rs, rhs_cs, accumulate, scale): (usize, usize, usize, usize, usize, bool, f32),
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= (m - 1) * dst_rs + n, "gemm: destination too small");
    if k > 0 {
        assert!(lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs, "gemm: lhs too small");
        assert!(rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs, "gemm: rhs too small");
    }
    // SAFETY: the asserts above keep every index the product touches inside the slices.
    unsafe {
        gemm_crate::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Work (multiply-adds, roughly) below which a kernel runs on the calling thread: handing tiny
/// pieces to the pool costs more than they take (a decode step at batch 1).
pub const PARALLEL_MIN_WORK: usize = 1 << 18;

/// An output buffer that parallel workers write at disjoint places (rows interleaved between
/// workers, as a time-major `[B, T, H, d]` tensor's are between its (batch, head) pairs).
#[derive(Clone, Copy)]
pub(crate) struct SharedOut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: workers only write through `rows`, whose callers promise disjoint ranges.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    pub fn new(buf: &mut [f32]) -> Self {
        SharedOut { ptr: buf.as_mut_ptr(), len: buf.len() }
    }

    /// Writes `src`'s rows of `width` floats to `at(i)`, row i's offset in the buffer.
    ///
    /// # Safety
    /// No other worker writes any of these rows while this runs, and the buffer outlives the call.
    pub unsafe fn write_rows(&self, src: &[f32], width: usize, at: impl Fn(usize) -> usize) {
        for (i, row) in src.chunks_exact(width).enumerate() {
            let start = at(i);
            assert!(start + width <= self.len, "row {i} at {start} is outside the buffer");
            // SAFETY: in bounds (checked); disjoint from other workers' rows (the caller's promise).
            unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), width) }.copy_from_slice(row);
        }
    }
}

/// Runs `f(index, chunk)` over `chunk`-sized pieces of `data`: on the rayon pool when `work` (the
/// whole call's multiply-adds, roughly) is worth it, in order on this thread otherwise.
pub(crate) fn par_chunks(data: &mut [f32], chunk: usize, work: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if chunk == 0 {
        return;
    }
    if work < PARALLEL_MIN_WORK {
        data.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    }
}

#[cfg(test)]
mod tests {
    use super::{exp_f32, max, sum_map};

    #[test]
    fn dot_is_the_sum_of_products_at_every_length() {
        for n in [0, 1, 15, 16, 17, 64, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() - 0.3).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            let got = super::dot(&a, &b) as f64;
            assert!((got - want).abs() < 1e-5 * (1.0 + want.abs()), "n={n}: {got} against {want}");
        }
        // The shorter length counts.
        assert_eq!(super::dot(&[1.0, 2.0, 3.0], &[1.0, 1.0]), 3.0);
    }

    #[test]
    fn sum_map_and_max_agree_with_plain_loops_at_every_length() {
        for n in 0..40 {
            let xs: Vec<f32> = (0..n).map(|i| ((i * 29 % 17) as f32 - 8.0) / 3.0).collect();
            let want: f64 = xs.iter().map(|&x| (x as f64).exp()).sum();
            assert!((sum_map(&xs, exp_f32) as f64 - want).abs() <= 1e-5 * (1.0 + want), "n={n}");
            let want_max = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&xs), want_max, "n={n}");
        }
    }

    #[test]
    fn exp_f32_matches_the_f64_exponential() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f64 / 200_000.0;
            let want = x.exp();
            let got = exp_f32(x as f32) as f64;
            // The f32 input is rounded: compare with e^(x rounded), its own exact value.
            let exact = (x as f32 as f64).exp();
            worst = worst.max((got - exact).abs() / exact);
            assert!(((got - want) / want).abs() < 1e-5, "e^{x}: {got} against {want}");
        }
        assert!(worst < 3e-7, "worst relative error {worst:.2e}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 2e-38);
        assert!(exp_f32(1000.0).is_finite() && exp_f32(1000.0) > 1e38);
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
