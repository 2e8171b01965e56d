//! Multi-query associative recall (MQAR, the Zoology benchmark): a sequence opens with P key-value
//! pairs `k1 v1 k2 v2 ...`; later the keys are asked again and the model must answer each with its
//! value. Keys come from `1..vocab/2`, values from `vocab/2..vocab`. Loss and accuracy count only at
//! query positions (the position holding a re-asked key, whose target is the value).
//!
//! Two query layouts ([`Layout`]):
//! - `zoology`: Zoology's `multiquery_ar` exactly: distinct values, each key asked exactly once, the
//!   query of key j at `2P + 2 g_j` where the gaps `g_j` are drawn without replacement with power-law
//!   weights `(g + 1)^(a - 1)` (a = 0.01: short gaps are likelier, as repeated bigrams in text), every
//!   other position a random token, and the answer not written after the query.
//! - `random` (seqbench's earlier variant): P queries at random even offsets after the pairs, each
//!   drawing its key with replacement (so elimination cannot answer it), the answer written after it,
//!   filler 0 elsewhere.
//!
//! No leakage: a validation or test example whose key-value prefix occurs in the training split is
//! drawn again ([`super::Splits`]).

pub use super::{Examples, Splits};
use crate::error::UserError;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Zoology's power-law exponent for the query gaps (`power_a`).
pub const POWER_A: f64 = 0.01;

/// Where the queries go (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    #[default]
    Random,
    Zoology,
}

impl Layout {
    pub fn parse(s: &str) -> Result<Layout, String> {
        match s {
            "random" => Ok(Layout::Random),
            "zoology" => Ok(Layout::Zoology),
            other => Err(format!("unknown MQAR layout `{other}` (use `zoology` or `random`)")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Layout::Random => "random",
            Layout::Zoology => "zoology",
        }
    }
}

/// The generator's parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqarConfig {
    /// Tokens used (at most 256: the models are byte-level). Keys `1..vocab/2`, values `vocab/2..vocab`.
    pub vocab: usize,
    pub seq_len: usize,
    pub kv_pairs: usize,
    pub train_examples: usize,
    /// Size of the test split, and of the validation split used for early stopping.
    pub test_examples: usize,
    pub seed: u64,
    #[serde(default)]
    pub layout: Layout,
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

    /// Train, validation and test splits from independent seeded streams, with no key-value prefix
    /// of the training split in the other two.
    pub fn generate(&self) -> Result<Splits, UserError> {
        self.generate_extrapolated(self.seq_len)
    }

    /// Splits for retrieval beyond the training length: train and validation of `seq_len` tokens,
    /// the test examples `test_len` tokens long, each a training-length example with
    /// `test_len - seq_len` filler tokens inserted right after the key-value pairs (random tokens
    /// under the zoology layout, 0 under the random one; never asked). Every query then lies
    /// `test_len - seq_len` positions further from its key than in training: the needle is pushed back.
    /// At `test_len = seq_len` nothing is inserted and no random draw is spent: [`Self::generate`].
    pub fn generate_extrapolated(&self, test_len: usize) -> Result<Splits, UserError> {
        self.validate()?;
        if test_len < self.seq_len {
            return Err(UserError::Config {
                file: "mqar".into(),
                field: "test_lens".into(),
                message: format!("test length {test_len} is shorter than the training length {}", self.seq_len),
            });
        }
        let haystack = test_len - self.seq_len;
        Splits::drawn(
            |r, split| {
                let e = self.example(r);
                if split == "test" && haystack > 0 {
                    self.pushed_back(r, e, haystack)
                } else {
                    e
                }
            },
            2 * self.kv_pairs,
            [self.train_examples, self.test_examples, self.test_examples],
            self.seed,
            "mqar",
        )
    }

    /// `e` with `n > 0` filler tokens (masked out) inserted after its key-value pairs.
    fn pushed_back(
        &self,
        r: &mut ChaCha8Rng,
        (x, y, m): (Vec<u32>, Vec<u32>, Vec<f32>),
        n: usize,
    ) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let at = 2 * self.kv_pairs;
        let filler: Vec<u32> = match self.layout {
            Layout::Zoology => (0..n).map(|_| r.random_range(0..self.vocab as u32)).collect(),
            Layout::Random => vec![0; n],
        };
        let splice = |v: &[u32], fill: &[u32]| [&v[..at], fill, &v[at..]].concat();
        // The filler's targets are its next tokens; none is asked (mask 0).
        let mut filler_y: Vec<u32> = filler.iter().skip(1).copied().collect();
        filler_y.extend(x.get(at).copied());
        let mut y_out = splice(&y, &filler_y);
        // The last value's next token is now the first filler token (n > 0, at >= 2: validated).
        y_out[at - 1] = filler[0];
        let m_out = [&m[..at], &vec![0f32; n][..], &m[at..]].concat();
        (splice(&x, &filler), y_out, m_out)
    }

    /// One example: `(inputs, targets, mask)`, each `seq_len` long.
    fn example(&self, r: &mut ChaCha8Rng) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let (half, p, t) = (self.vocab / 2, self.kv_pairs, self.seq_len);
        let mut keys: Vec<u32> = (1..half as u32).collect();
        keys.shuffle(r);
        keys.truncate(p);
        let mut mask = vec![0f32; t];
        match self.layout {
            Layout::Random => {
                // One sequence has T + 1 tokens; inputs are the first T, targets the last T.
                let mut seq = vec![0u32; t + 1];
                let values: Vec<u32> = (0..p).map(|_| r.random_range(half as u32..self.vocab as u32)).collect();
                for i in 0..p {
                    seq[2 * i] = keys[i];
                    seq[2 * i + 1] = values[i];
                }
                // Query slots: even offsets after the pairs, so a query and its answer never overlap.
                let mut slots: Vec<usize> = (2 * p..t).step_by(2).collect();
                slots.shuffle(r);
                let mut chosen: Vec<usize> = slots[..p].to_vec();
                chosen.sort_unstable();
                for slot in &chosen {
                    let k = r.random_range(0..p);
                    seq[*slot] = keys[k];
                    seq[*slot + 1] = values[k];
                    mask[*slot] = 1.0;
                }
                (seq[..t].to_vec(), seq[1..].to_vec(), mask)
            }
            Layout::Zoology => {
                let mut values: Vec<u32> = (half as u32..self.vocab as u32).collect();
                values.shuffle(r);
                values.truncate(p);
                let mut x: Vec<u32> = (0..t).map(|_| r.random_range(0..self.vocab as u32)).collect();
                for i in 0..p {
                    x[2 * i] = keys[i];
                    x[2 * i + 1] = values[i];
                }
                // Targets are the next tokens, except at the queries, whose target is the value.
                let mut y: Vec<u32> = x[1..].to_vec();
                y.push(r.random_range(0..self.vocab as u32));
                let space = (t - 2 * p) / 2;
                for (j, gap) in power_law_gaps(r, space, p).into_iter().enumerate() {
                    let q = 2 * p + 2 * gap;
                    x[q] = keys[j];
                    y[q] = values[j];
                    mask[q] = 1.0;
                    if q > 0 {
                        y[q - 1] = keys[j];
                    }
                }
                (x, y, mask)
            }
        }
    }
}

/// `n` distinct gaps from `0..space`, drawn one after another with weights `(g + 1)^(POWER_A - 1)`
/// among those not yet drawn (numpy's `choice(space, n, replace=False, p=...)`).
fn power_law_gaps(r: &mut ChaCha8Rng, space: usize, n: usize) -> Vec<usize> {
    let mut weights: Vec<f64> = (1..=space).map(|g| (g as f64).powf(POWER_A - 1.0)).collect();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let total: f64 = weights.iter().sum();
        let mut u = r.random_range(0.0..total);
        let mut pick = weights.iter().rposition(|&w| w > 0.0).expect("space >= n");
        for (g, &w) in weights.iter().enumerate() {
            if w > 0.0 && u < w {
                pick = g;
                break;
            }
            u -= w;
        }
        weights[pick] = 0.0;
        out.push(pick);
    }
    out
}
