//! The copy task, a second recall probe: a random string of L tokens, a separator, then the same
//! string again; loss and accuracy count only on the repeated half (the model must store L tokens).

use super::Splits;
use crate::error::UserError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyConfig {
    /// Tokens of the random string are drawn from `1..=alphabet`; `alphabet + 1` is the separator.
    pub alphabet: usize,
    /// Length L of the string to copy (sequences are `2 L + 1` tokens).
    pub length: usize,
    pub train_examples: usize,
    pub test_examples: usize,
    pub seed: u64,
}

impl CopyConfig {
    pub fn validate(&self) -> Result<(), UserError> {
        let bad =
            |field: &str, message: String| Err(UserError::Config { file: "copy".into(), field: field.into(), message });
        if !(2..=254).contains(&self.alphabet) {
            return bad("alphabet", format!("must be between 2 and 254 (got {})", self.alphabet));
        }
        if self.length == 0 {
            return bad("length", "must be positive".into());
        }
        if self.train_examples == 0 || self.test_examples == 0 {
            return bad("train_examples", "train and test sizes must be positive".into());
        }
        Ok(())
    }

    pub fn seq_len(&self) -> usize {
        2 * self.length + 1
    }

    /// Train, validation and test splits; no held-out string occurs in training.
    pub fn generate(&self) -> Result<Splits, UserError> {
        self.validate()?;
        Splits::drawn(
            |r, _| self.example(r),
            self.length,
            [self.train_examples, self.test_examples, self.test_examples],
            self.seed,
            "copy",
        )
    }

    fn example(&self, r: &mut ChaCha8Rng) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let (l, sep) = (self.length, self.alphabet as u32 + 1);
        let t = self.seq_len();
        let s: Vec<u32> = (0..l).map(|_| r.random_range(1..=self.alphabet as u32)).collect();
        // Full sequence: s, sep, s, plus a trailing separator so inputs and targets both have T tokens.
        let mut seq = s.clone();
        seq.push(sep);
        seq.extend(&s);
        seq.push(sep);
        let mut mask = vec![0f32; t];
        for m in mask.iter_mut().skip(l).take(l) {
            *m = 1.0; // predicting the copied string, from the separator on
        }
        (seq[..t].to_vec(), seq[1..].to_vec(), mask)
    }
}
