//! Training data: byte-level corpora (the built-in synthetic source, or any file) split into train and
//! validation, and the seeded sampler of training windows.

pub mod copy;
pub mod mqar;
pub mod state_tracking;
pub mod synthetic;

use crate::error::usage;
use crate::rng;
use candle_core::{Device, Result, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::path::Path;

/// Fraction of a corpus held out for validation (the end of the text).
pub const VALID_FRACTION: f64 = 0.1;
/// Size of the built-in corpus.
pub const SYNTHETIC_BYTES: usize = 2_000_000;

/// A byte corpus split into training and validation parts.
pub struct Corpus {
    /// `synthetic(seed=S)` or the file's path.
    pub name: String,
    pub train: Vec<u8>,
    pub valid: Vec<u8>,
    /// For the built-in source: the per-byte information of each validation byte (bits).
    pub valid_bits: Option<Vec<f64>>,
}

impl Corpus {
    /// The built-in synthetic corpus for `seed`.
    pub fn synthetic(seed: u64) -> Corpus {
        Self::synthetic_sized(SYNTHETIC_BYTES, seed)
    }

    pub fn synthetic_sized(n_bytes: usize, seed: u64) -> Corpus {
        let g = synthetic::generate(n_bytes, seed);
        let cut = split_point(g.bytes.len());
        Corpus {
            name: format!("synthetic(seed={seed})"),
            valid_bits: Some(g.bits[cut..].to_vec()),
            valid: g.bytes[cut..].to_vec(),
            train: g.bytes[..cut].to_vec(),
        }
    }

    /// Any file, as bytes; needs enough text for both splits at `seq_len`.
    pub fn from_file(path: &Path, seq_len: usize) -> anyhow::Result<Corpus> {
        let bytes = std::fs::read(path).map_err(|e| usage(format!("{}: cannot read corpus: {e}", path.display())))?;
        let cut = split_point(bytes.len());
        let need = 2 * (seq_len + 1);
        if bytes.len() - cut < seq_len + 1 || cut < need {
            return Err(usage(format!(
                "{}: corpus of {} bytes is too small for --seq-len {seq_len} (needs at least {} bytes)",
                path.display(),
                bytes.len(),
                ((seq_len + 1) as f64 / VALID_FRACTION).ceil() as usize + need
            )));
        }
        Ok(Corpus {
            name: path.display().to_string(),
            train: bytes[..cut].to_vec(),
            valid: bytes[cut..].to_vec(),
            valid_bits: None,
        })
    }

    /// The true source's mean information per byte on the validation split (bits/byte), if known.
    pub fn entropy_floor(&self) -> Option<f64> {
        self.valid_bits.as_ref().map(|b| b.iter().sum::<f64>() / b.len().max(1) as f64)
    }
}

fn split_point(n: usize) -> usize {
    n - (n as f64 * VALID_FRACTION) as usize
}

/// Draws random training windows: inputs `x[i..i+T]` and targets `x[i+1..i+T+1]`.
pub struct Batcher {
    rng: ChaCha8Rng,
}

impl Batcher {
    pub fn new(seed: u64) -> Self {
        Batcher { rng: rng::stream(seed, "batches") }
    }

    /// A batch of `batch` windows of `seq_len` from `data`: `(inputs, targets)` as u32 `[B, T]`.
    pub fn sample(&mut self, data: &[u8], batch: usize, seq_len: usize, dev: &Device) -> Result<(Tensor, Tensor)> {
        let max_start = data.len() - seq_len - 1;
        let mut x = Vec::with_capacity(batch * seq_len);
        let mut y = Vec::with_capacity(batch * seq_len);
        for _ in 0..batch {
            let s = self.rng.random_range(0..=max_start);
            x.extend(data[s..s + seq_len].iter().map(|&b| b as u32));
            y.extend(data[s + 1..s + seq_len + 1].iter().map(|&b| b as u32));
        }
        Ok((Tensor::from_vec(x, (batch, seq_len), dev)?, Tensor::from_vec(y, (batch, seq_len), dev)?))
    }
}

/// Consecutive, non-overlapping validation windows (at most `max_windows`), as `(inputs, targets)`.
pub fn valid_windows(data: &[u8], seq_len: usize, max_windows: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
    let n = ((data.len().saturating_sub(1)) / seq_len).min(max_windows);
    (0..n)
        .map(|i| {
            let s = i * seq_len;
            let x = data[s..s + seq_len].iter().map(|&b| b as u32).collect();
            let y = data[s + 1..s + seq_len + 1].iter().map(|&b| b as u32).collect();
            (x, y)
        })
        .collect()
}

/// A training batch: inputs and targets `[B, T]` (u32), and optionally a 0/1 mask `[B, T]` (f32)
/// selecting the positions that count in the loss (all of them when absent).
pub struct Batch {
    pub x: Tensor,
    pub y: Tensor,
    pub mask: Option<Tensor>,
}

/// Deterministic byte ids `[b, t]`: the inputs of checks and of the timed cells.
pub fn byte_ids(b: usize, t: usize, seed: u64, dev: &Device) -> Result<Tensor> {
    let data: Vec<u32> = (0..b * t).map(|i| ((i as u64 * 2654435761 + seed * 97) % 251) as u32).collect();
    Tensor::from_vec(data, (b, t), dev)
}

/// Examples of a supervised task as flat rows: `inputs[i]`, `targets[i]` (what each position must
/// predict) and `mask[i]` (1 where the loss and the accuracy count).
#[derive(Clone, Debug)]
pub struct Examples {
    pub seq_len: usize,
    pub inputs: Vec<Vec<u32>>,
    pub targets: Vec<Vec<u32>>,
    pub mask: Vec<Vec<f32>>,
}

impl Examples {
    pub fn new(seq_len: usize) -> Examples {
        Examples { seq_len, inputs: vec![], targets: vec![], mask: vec![] }
    }

    /// Adds one example; the first sets `seq_len` of an empty set made with `new(0)`.
    pub fn push(&mut self, (x, y, m): (Vec<u32>, Vec<u32>, Vec<f32>)) {
        if self.inputs.is_empty() && self.seq_len == 0 {
            self.seq_len = x.len();
        }
        assert!(x.len() == self.seq_len && y.len() == self.seq_len && m.len() == self.seq_len, "ragged examples");
        self.inputs.push(x);
        self.targets.push(y);
        self.mask.push(m);
    }

    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Rows `idx` as tensors `(x, y, mask)`.
    pub fn batch(&self, idx: &[usize], dev: &Device) -> Result<Batch> {
        let t = self.seq_len;
        let flat_u = |rows: &Vec<Vec<u32>>| idx.iter().flat_map(|&i| rows[i].iter().copied()).collect::<Vec<u32>>();
        let mask: Vec<f32> = idx.iter().flat_map(|&i| self.mask[i].iter().copied()).collect();
        Ok(Batch {
            x: Tensor::from_vec(flat_u(&self.inputs), (idx.len(), t), dev)?,
            y: Tensor::from_vec(flat_u(&self.targets), (idx.len(), t), dev)?,
            mask: Some(Tensor::from_vec(mask, (idx.len(), t), dev)?),
        })
    }
}

/// A task's three splits: training, validation (early stopping and the choice of learning rate) and
/// test (the reported accuracy).
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Examples,
    pub valid: Examples,
    pub test: Examples,
}

/// Draws for one example before the generator gives up on finding one unseen in training.
const FRESH_TRIES: usize = 1000;

impl Splits {
    /// `sizes = [train, valid, test]` examples from `example(rng, split)`, each split from its own
    /// stream of `(seed, "{name}-{split}")`. A validation or test example whose first `prefix` inputs
    /// equal those of a training example, or a test example equal to a validation one, is drawn
    /// again (no leakage; a test example longer than `prefix` is compared with training by its first
    /// `prefix` inputs); when none can be found, the settings leave no room for unseen examples and
    /// are refused.
    pub fn drawn(
        mut example: impl FnMut(&mut ChaCha8Rng, &str) -> (Vec<u32>, Vec<u32>, Vec<f32>),
        prefix: usize,
        sizes: [usize; 3],
        seed: u64,
        name: &str,
    ) -> std::result::Result<Splits, crate::error::UserError> {
        let head = |x: &[u32]| x[..prefix.min(x.len())].to_vec();
        let mut train = Examples::new(0);
        let mut r = rng::stream(seed, &format!("{name}-train"));
        for _ in 0..sizes[0] {
            train.push(example(&mut r, "train"));
        }
        let seen: HashSet<Vec<u32>> = train.inputs.iter().map(|x| head(x)).collect();
        let mut held_out = |split: &str, n: usize, validation: &HashSet<Vec<u32>>| {
            let mut r = rng::stream(seed, &format!("{name}-{split}"));
            let mut ex = Examples::new(0);
            for _ in 0..n {
                let fresh = (0..FRESH_TRIES)
                    .map(|_| example(&mut r, split))
                    .find(|e| !seen.contains(&head(&e.0)) && !validation.contains(&e.0));
                let Some(e) = fresh else {
                    return Err(crate::error::UserError::Config {
                        file: name.into(),
                        field: "train_examples".into(),
                        message: format!(
                            "{} training examples cover (nearly) every possible {name} example, so no unseen {split} \
                             example can be drawn: use fewer training examples or a larger task",
                            sizes[0]
                        ),
                    });
                };
                ex.push(e);
            }
            Ok(ex)
        };
        let valid = held_out("valid", sizes[1], &HashSet::new())?;
        // The test split shares no example with validation either (the rate is chosen on
        // validation): a test example equal to a validation one is drawn again.
        let validation: HashSet<Vec<u32>> = valid.inputs.iter().cloned().collect();
        let test = held_out("test", sizes[2], &validation)?;
        Ok(Splits { train, valid, test })
    }
}
