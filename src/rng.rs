//! Seeded randomness. candle's CPU device cannot be seeded, so every random tensor seqbench makes
//! (weights, test inputs, data) comes from here, keyed by a seed and a name so that it does not depend
//! on the order in which things are created.

use candle_core::{Device, Result, Shape, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A ChaCha8 stream for `(seed, name)`.
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    // FNV-1a of the name, mixed with the seed.
    let mut h: u64 = 0xcbf29ce484222325;
    for byte in name.bytes() {
        h ^= byte as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    ChaCha8Rng::seed_from_u64(h ^ seed.wrapping_mul(0x9E3779B97F4A7C15))
}

/// Tensors of at least this many entries are drawn in blocks of [`BLOCK`], one stream per block
/// (`name#i`), on every thread: every 1.3B cell's process draws 1.2 billion weights, which was about
/// 40% of its CPU time in a perf profile even with the blocks on both threads. Smaller tensors (every
/// one at `tiny` and `small`) keep their single stream, so their values are those of earlier versions.
pub const PARALLEL_FROM: usize = 1 << 20;
const BLOCK: usize = 1 << 16;

/// `N(0, std^2)` entries, f32.
pub fn normal<S: Into<Shape>>(seed: u64, name: &str, shape: S, std: f64, dev: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let n = shape.elem_count();
    let fill = |rng: &mut ChaCha8Rng, out: &mut [f32]| {
        for x in out {
            *x = (rng.sample::<f64, _>(StandardNormal) * std) as f32;
        }
    };
    let mut data = vec![0f32; n];
    if n >= PARALLEL_FROM {
        use rayon::prelude::*;
        data.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(i, block)| fill(&mut stream(seed, &format!("{name}#{i}")), block));
    } else {
        fill(&mut stream(seed, name), &mut data);
    }
    Tensor::from_vec(data, shape, dev)
}

/// Uniform entries in `[lo, hi)`, f32.
pub fn uniform<S: Into<Shape>>(seed: u64, name: &str, shape: S, lo: f64, hi: f64, dev: &Device) -> Result<Tensor> {
    let shape = shape.into();
    let mut rng = stream(seed, name);
    let data: Vec<f32> = (0..shape.elem_count()).map(|_| rng.random_range(lo..hi) as f32).collect();
    Tensor::from_vec(data, shape, dev)
}
