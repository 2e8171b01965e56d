//! Multi-query associative recall (MQAR, as in the Zoology benchmark): a sequence opens with P
//! key-value pairs `k1 v1 k2 v2 ...`; later, each key is asked again, and the model must answer with
//! its value (each query draws its key with replacement, so elimination cannot answer it). Keys come from the lower half of the vocabulary, values from the upper half, token 0 is
//! filler. Loss and accuracy count only at query positions (the position holding a re-asked key,
//! whose next token is the value).

use crate::error::UserError;
use crate::rng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The generator's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqarConfig {
    /// Tokens used (at most 256: the models are byte-level). Keys `1..vocab/2`, values `vocab/2..vocab`.
    pub vocab: usize,
    pub seq_len: usize,
    pub kv_pairs: usize,
    pub train_examples: usize,
    pub test_examples: usize,
    pub seed: u64,
}

/// Examples as flat rows: `inputs[i]`, `targets[i]` (next tokens) and `mask[i]` (1 at query positions).
#[derive(Clone, Debug)]
pub struct Examples {
    pub seq_len: usize,
    pub inputs: Vec<Vec<u32>>,
    pub targets: Vec<Vec<u32>>,
    pub mask: Vec<Vec<f32>>,
}

impl MqarConfig {
    /// Rejects impossible settings with the parameter named.
    pub fn validate(&self) -> Result<(), UserError> {
        let bad =
            |field: &str, message: String| Err(UserError::Config { file: "mqar".into(), field: field.into(), message });
        if !(4..=256).contains(&self.vocab) {
            return bad("vocab", format!("must be between 4 and 256 (got {})", self.vocab));
        }
        if self.kv_pairs == 0 {
            return bad("kv_pairs", "must be positive".into());
        }
        let keys = self.vocab / 2 - 1;
        if self.kv_pairs > keys {
            return bad(
                "kv_pairs",
                format!(
                    "{} pairs need {} distinct keys, but vocab {} has only {keys}",
                    self.kv_pairs, self.kv_pairs, self.vocab
                ),
            );
        }
        // The pairs, then room for every query followed by its answer.
        let need = 4 * self.kv_pairs;
        if self.seq_len < need {
            return bad(
                "kv_pairs",
                format!("{} pairs do not fit in seq_len {} (need at least {need})", self.kv_pairs, self.seq_len),
            );
        }
        if self.train_examples == 0 || self.test_examples == 0 {
            return bad("train_examples", "train and test sizes must be positive".into());
        }
        Ok(())
    }

    /// `(train, test)`, from independent seeded streams.
    pub fn generate(&self) -> Result<(Examples, Examples), UserError> {
        self.validate()?;
        Ok((self.examples(self.train_examples, "mqar-train"), self.examples(self.test_examples, "mqar-test")))
    }

    fn examples(&self, n: usize, stream: &str) -> Examples {
        let mut r = rng::stream(self.seed, stream);
        let (half, p, t) = (self.vocab / 2, self.kv_pairs, self.seq_len);
        let mut ex = Examples { seq_len: t, inputs: vec![], targets: vec![], mask: vec![] };
        for _ in 0..n {
            // One sequence has T + 1 tokens; inputs are the first T, targets the last T.
            let mut seq = vec![0u32; t + 1];
            let mut keys: Vec<u32> = (1..half as u32).collect();
            keys.shuffle(&mut r);
            keys.truncate(p);
            let values: Vec<u32> = (0..p).map(|_| r.random_range(half as u32..self.vocab as u32)).collect();
            for i in 0..p {
                seq[2 * i] = keys[i];
                seq[2 * i + 1] = values[i];
            }
            // Query slots: even offsets after the pairs, so a query and its answer never overlap.
            let mut slots: Vec<usize> = (2 * p..t).step_by(2).collect();
            slots.shuffle(&mut r);
            let mut chosen: Vec<usize> = slots[..p].to_vec();
            chosen.sort_unstable();
            // Each query asks a key drawn with replacement, so answers cannot be found by elimination.
            let mut mask = vec![0f32; t];
            for slot in &chosen {
                let k = r.random_range(0..p);
                seq[*slot] = keys[k];
                seq[*slot + 1] = values[k];
                mask[*slot] = 1.0;
            }
            ex.inputs.push(seq[..t].to_vec());
            ex.targets.push(seq[1..].to_vec());
            ex.mask.push(mask);
        }
        ex
    }
}

impl Examples {
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Rows `idx` as tensors `(x, y, mask)`.
    pub fn batch(&self, idx: &[usize], dev: &candle_core::Device) -> candle_core::Result<super::Batch> {
        use candle_core::Tensor;
        let t = self.seq_len;
        let flat_u = |rows: &Vec<Vec<u32>>| idx.iter().flat_map(|&i| rows[i].iter().copied()).collect::<Vec<u32>>();
        let mask: Vec<f32> = idx.iter().flat_map(|&i| self.mask[i].iter().copied()).collect();
        Ok(super::Batch {
            x: Tensor::from_vec(flat_u(&self.inputs), (idx.len(), t), dev)?,
            y: Tensor::from_vec(flat_u(&self.targets), (idx.len(), t), dev)?,
            mask: Some(Tensor::from_vec(mask, (idx.len(), t), dev)?),
        })
    }
}
