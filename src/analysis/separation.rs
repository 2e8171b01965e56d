//! The rule that ranks two models' seeds: an exact two-sided permutation test on the difference of
//! their mean scores, with Holm's correction over every pair one verdict judges. Two results are
//! ranked only when the corrected p-value is below [`ALPHA`]; otherwise they are "not separable".
//!
//! Under the null (the two models are one model: their seeds are exchangeable) a permutation test's
//! p-value is exact, so a family of pairs is ranked falsely with probability at most [`ALPHA`]
//! (Holm controls the family-wise error under any dependence). The rule can separate at all only
//! when the smallest possible p, `2 / C(n_a + n_b, n_a)` for distinct values, clears Holm's
//! threshold `ALPHA / pairs`: with 3 seeds a side it never does (2/20 = 0.1), with 5 a side
//! (2/252 = 0.0079) for up to 6 pairs, with 6 a side (2/924) for up to 23. [`min_p`] says which.
//! The rate measured on committed seeds is in docs/measuring.md (scripts/separation_noise.py).

use serde::{Deserialize, Serialize};

/// The family-wise error rate a verdict's rankings are held to.
pub const ALPHA: f64 = 0.05;

/// Above this many distinct splits the p-value is estimated from [`MONTE_CARLO_SPLITS`] random
/// ones (a fixed seed, so the same data give the same verdict).
const EXACT_LIMIT: u64 = 200_000;
const MONTE_CARLO_SPLITS: usize = 100_000;

/// How two sets of seeds compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Separation {
    /// The first is better, and the test separates them.
    Above,
    /// The first is worse, and the test separates them.
    Below,
    /// The test does not separate them (or a side has no seeds).
    NotSeparable,
}

/// One judged pair: which way its means point, its permutation p-value and Holm's adjusted p.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub separation: Separation,
    /// Two-sided exact permutation p-value of the difference of means.
    pub p: f64,
    /// Holm's adjusted p-value over the pairs judged together.
    pub p_holm: f64,
}

/// `n choose k` (saturating).
fn choose(n: usize, k: usize) -> u64 {
    let k = k.min(n - k);
    (0..k).fold(1u64, |acc, i| acc.saturating_mul((n - i) as u64) / (i + 1) as u64)
}

/// The smallest two-sided p the test can give with `a` and `b` seeds (all values distinct).
pub fn min_p(a: usize, b: usize) -> f64 {
    if a == 0 || b == 0 {
        return 1.0;
    }
    (2.0 / choose(a + b, a) as f64).min(1.0)
}

/// Two-sided permutation p-value of `mean(a) - mean(b)`: the fraction of the ways to split the
/// pooled seeds into groups of |a| and |b| whose difference of means is at least as large in size
/// as the observed one (exact by enumeration up to [`EXACT_LIMIT`] splits).
pub fn permutation_p(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let (n, k) = (pooled.len(), a.len());
    let total: f64 = pooled.iter().sum();
    let stat = |sum_a: f64| (sum_a / k as f64 - (total - sum_a) / (n - k) as f64).abs();
    let observed = stat(a.iter().sum());
    // Values equal up to rounding count as reaching the observed difference.
    let reaches = |s: f64| s >= observed - 1e-12 * (1.0 + observed.abs());
    if choose(n, k) <= EXACT_LIMIT {
        let (mut hits, mut splits) = (0u64, 0u64);
        let mut idx: Vec<usize> = (0..k).collect();
        loop {
            splits += 1;
            if reaches(stat(idx.iter().map(|&i| pooled[i]).sum())) {
                hits += 1;
            }
            // Next k-combination of 0..n in lexicographic order.
            let Some(i) = (0..k).rev().find(|&i| idx[i] != i + n - k) else { break };
            idx[i] += 1;
            for j in i + 1..k {
                idx[j] = idx[j - 1] + 1;
            }
        }
        hits as f64 / splits as f64
    } else {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
        let mut order: Vec<usize> = (0..n).collect();
        let mut hits = 1usize; // the observed split itself
        for _ in 0..MONTE_CARLO_SPLITS {
            order.shuffle(&mut rng);
            if reaches(stat(order[..k].iter().map(|&i| pooled[i]).sum())) {
                hits += 1;
            }
        }
        hits as f64 / (MONTE_CARLO_SPLITS + 1) as f64
    }
}

/// Holm's step-down adjusted p-values, in the order of `p`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![1.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Judges every pair `(a, b)` together (one family): each pair's direction by its means (`higher_is_better`
/// says which way is better), separated when Holm's adjusted p is below [`ALPHA`].
pub fn judge(pairs: &[(&[f64], &[f64])], higher_is_better: bool) -> Vec<Judgement> {
    let p: Vec<f64> = pairs.iter().map(|(a, b)| permutation_p(a, b)).collect();
    let adjusted = holm(&p);
    pairs
        .iter()
        .zip(p.iter().zip(&adjusted))
        .map(|((a, b), (&p, &p_holm))| {
            let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len().max(1) as f64;
            let first_better = (mean(a) > mean(b)) == higher_is_better;
            let separation = match (p_holm < ALPHA && mean(a) != mean(b), first_better) {
                (false, _) => Separation::NotSeparable,
                (true, true) => Separation::Above,
                (true, false) => Separation::Below,
            };
            Judgement { separation, p, p_holm }
        })
        .collect()
}

/// One pair judged alone (a family of one).
pub fn separate(a: &[f64], b: &[f64], higher_is_better: bool) -> Separation {
    judge(&[(a, b)], higher_is_better)[0].separation
}

/// The fewest seeds a side for which the rule can separate a pair judged among `pairs`.
pub fn seeds_needed(pairs: usize) -> usize {
    (2..=30).find(|&n| min_p(n, n) < ALPHA / pairs.max(1) as f64).unwrap_or(30)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_p_counts_splits() {
        // 3 v 3 fully apart: 2 of the 20 splits are as extreme.
        assert!((permutation_p(&[0.9, 0.95, 0.99], &[0.1, 0.12, 0.15]) - 0.1).abs() < 1e-12);
        // 5 v 5 apart: 2 / 252.
        let (a, b) = ([0.99, 0.98, 0.97, 0.96, 0.95], [0.1, 0.11, 0.12, 0.13, 0.14]);
        assert!((permutation_p(&a, &b) - 2.0 / 252.0).abs() < 1e-12);
        assert!((min_p(5, 5) - 2.0 / 252.0).abs() < 1e-12);
        // Identical samples: p = 1.
        assert_eq!(permutation_p(&[0.5, 0.5, 0.5], &[0.5, 0.5, 0.5]), 1.0);
    }

    #[test]
    fn monte_carlo_agrees_with_enumeration_in_size() {
        // 12 v 12 (2.7M splits): estimated; fully apart gives a p at the estimate's floor.
        let a: Vec<f64> = (0..12).map(|i| 0.9 + i as f64 * 0.001).collect();
        let b: Vec<f64> = (0..12).map(|i| 0.1 + i as f64 * 0.001).collect();
        assert!(permutation_p(&a, &b) < 1e-4);
        let c: Vec<f64> = (0..12).map(|i| 0.1 + i as f64 * 0.0013).collect();
        assert!(permutation_p(&b, &c) > 0.05);
    }

    #[test]
    fn holm_steps_down() {
        let adj = holm(&[0.01, 0.04, 0.03]);
        assert!((adj[0] - 0.03).abs() < 1e-12);
        assert!((adj[2] - 0.06).abs() < 1e-12);
        assert!((adj[1] - 0.06).abs() < 1e-12, "monotone: {adj:?}");
    }

    #[test]
    fn three_seeds_never_separate_five_do() {
        assert_eq!(separate(&[0.99, 0.99, 0.98], &[0.1, 0.1, 0.12], true), Separation::NotSeparable);
        let (a, b) = ([0.99, 0.98, 0.97, 0.99, 0.96], [0.15, 0.14, 0.16, 0.13, 0.15]);
        assert_eq!(separate(&a, &b, true), Separation::Above);
        assert_eq!(separate(&b, &a, true), Separation::Below);
        assert_eq!(separate(&a, &b, false), Separation::Below, "lower is better: a is worse");
        // Seven pairs at p = 2/252 each: Holm's first threshold 0.05/7 = 0.0071 is not met.
        let seven = vec![(&a[..], &b[..]); 7];
        assert!(judge(&seven, true).iter().all(|j| j.separation == Separation::NotSeparable));
        assert_eq!(seeds_needed(1), 4);
        assert_eq!(seeds_needed(6), 5);
        assert_eq!(seeds_needed(20), 6);
    }
}
