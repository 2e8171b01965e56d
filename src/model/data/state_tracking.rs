//! State tracking: the word problem of a permutation group (Grazzi et al. 2024; the DeltaProduct and
//! RWKV-7 papers; jopetty/word-problem). Each input token is a group element `g_t`; the target at
//! position t is the running product `g_1 g_2 ... g_t` (apply `g_1` first). Parity is the word problem
//! of S2 (tokens: bit 0 = identity, bit 1 = the swap; target: the running parity); S3 is the smallest
//! non-abelian group, S5 the smallest non-solvable one (NC1-complete).
//!
//! Inputs are tokens `1..=|G|` (element index + 1), targets `|G|+1..=2|G|`. Training and validation
//! sequences have `train_len` tokens and count every position; test sequences have `test_len` tokens
//! and count only positions at or beyond `train_len`, so test accuracy is length generalisation
//! alone (the validation accuracy is the in-length figure).

use super::Splits;
use crate::error::UserError;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A symmetric group S_n, by its degree n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group(pub usize);

impl Group {
    pub const PARITY: Group = Group(2);

    /// `s2`/`parity`, `s3`, `s4`, `s5`.
    pub fn parse(s: &str) -> Result<Group, String> {
        match s {
            "parity" | "s2" => Ok(Group(2)),
            "s3" => Ok(Group(3)),
            "s4" => Ok(Group(4)),
            "s5" => Ok(Group(5)),
            other => Err(format!("unknown group `{other}` (use s2 (parity), s3, s4 or s5)")),
        }
    }

    pub fn name(self) -> String {
        format!("S{}", self.0)
    }

    /// Every element as a permutation of `0..n`, in lexicographic order (the identity first).
    pub fn elements(self) -> Vec<Vec<u8>> {
        fn extend(prefix: &mut Vec<u8>, n: usize, out: &mut Vec<Vec<u8>>) {
            if prefix.len() == n {
                out.push(prefix.clone());
                return;
            }
            for i in 0..n as u8 {
                if !prefix.contains(&i) {
                    prefix.push(i);
                    extend(prefix, n, out);
                    prefix.pop();
                }
            }
        }
        let mut out = Vec::new();
        extend(&mut Vec::new(), self.0, &mut out);
        out
    }

    /// `table[a][b]` = index of `a` then `b` (`(a b)(i) = b(a(i))`).
    pub fn product_table(self) -> Vec<Vec<usize>> {
        let el = self.elements();
        let index = |p: &Vec<u8>| el.iter().position(|e| e == p).expect("closed under composition");
        el.iter().map(|a| el.iter().map(|b| index(&a.iter().map(|&i| b[i as usize]).collect())).collect()).collect()
    }

    pub fn order(self) -> usize {
        (1..=self.0).product()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WordProblemConfig {
    pub group: Group,
    /// Length of the training (and validation) sequences.
    pub train_len: usize,
    /// Length of the test sequences; accuracy counts the positions from `train_len` on.
    pub test_len: usize,
    pub train_examples: usize,
    /// Size of the test split and of the validation split.
    pub test_examples: usize,
    pub seed: u64,
}

impl WordProblemConfig {
    pub fn validate(&self) -> Result<(), UserError> {
        let bad = |field: &str, message: String| {
            Err(UserError::Config { file: "word problem".into(), field: field.into(), message })
        };
        if !(2..=5).contains(&self.group.0) {
            return bad("group", format!("S{} is not supported (S2 to S5 fit a byte vocabulary)", self.group.0));
        }
        if self.train_len < 2 {
            return bad("train_len", format!("must be at least 2 (got {})", self.train_len));
        }
        if self.test_len <= self.train_len {
            return bad(
                "test_len",
                format!(
                    "must be longer than train_len {} (got {}): the test measures length generalisation",
                    self.train_len, self.test_len
                ),
            );
        }
        if self.train_examples == 0 || self.test_examples == 0 {
            return bad("train_examples", "train and test sizes must be positive".into());
        }
        Ok(())
    }

    /// Training and validation at `train_len`, test at `test_len`; no validation word occurs in
    /// training, and no test word starts with a training word (the test counts only the positions
    /// after those `train_len` tokens, so this only excludes repeats of seen beginnings).
    pub fn generate(&self) -> Result<Splits, UserError> {
        self.validate()?;
        let table = self.group.product_table();
        let name = format!("word-problem-s{}", self.group.0);
        Splits::drawn(
            |r, split| self.example(r, &table, split == "test"),
            self.train_len,
            [self.train_examples, self.test_examples, self.test_examples],
            self.seed,
            &name,
        )
    }

    fn example(&self, r: &mut ChaCha8Rng, table: &[Vec<usize>], test: bool) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
        let g = table.len();
        let t = if test { self.test_len } else { self.train_len };
        let mut state = 0usize; // the identity
        let (mut x, mut y) = (Vec::with_capacity(t), Vec::with_capacity(t));
        for _ in 0..t {
            let e = r.random_range(0..g);
            state = table[state][e];
            x.push(e as u32 + 1);
            y.push((g + 1 + state) as u32);
        }
        let mask = (0..t).map(|p| if !test || p >= self.train_len { 1.0 } else { 0.0 }).collect();
        (x, y, mask)
    }
}
