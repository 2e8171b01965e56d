//! Statistics of samples: the sampling plan a cell follows, medians, percentiles and the median
//! absolute deviation, and the tests `compare` uses (rank-sum, sign test, bootstrap intervals).
//! The sampling loop itself is `measure::sample`.

use serde::{Deserialize, Serialize};

/// How long and how often to sample one cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplePlan {
    /// Runs discarded before sampling (kernel loading, allocator and cache warm-up).
    pub warmup: usize,
    /// At least this many samples...
    pub min_samples: usize,
    /// ...and at least this long in total (seconds), whichever comes later...
    pub min_seconds: f64,
    /// ...but never more samples than this.
    pub max_samples: usize,
}

impl Default for SamplePlan {
    fn default() -> Self {
        SamplePlan { warmup: 1, min_samples: 5, min_seconds: 1.0, max_samples: 1000 }
    }
}

/// Summary of a set of samples (same unit as the samples).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub p10: f64,
    pub p90: f64,
    pub p99: f64,
    /// Median absolute deviation from the median (unscaled).
    pub mad: f64,
}

/// Linear-interpolated quantile `q` in [0, 1] of sorted data.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Summary {
    pub fn of(samples: &[f64]) -> Summary {
        let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        let median = quantile(&s, 0.5);
        let mut dev: Vec<f64> = s.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(|a, b| a.total_cmp(b));
        Summary {
            n: s.len(),
            median,
            mean: s.iter().sum::<f64>() / s.len().max(1) as f64,
            min: s.first().copied().unwrap_or(f64::NAN),
            max: s.last().copied().unwrap_or(f64::NAN),
            p10: quantile(&s, 0.10),
            p90: quantile(&s, 0.90),
            p99: quantile(&s, 0.99),
            mad: quantile(&dev, 0.5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.n, s.median, s.min, s.max, s.mean), (5, 3.0, 1.0, 5.0, 3.0));
        assert_eq!(s.mad, 1.0);
        assert!((s.p10 - 1.4).abs() < 1e-12 && (s.p90 - 4.6).abs() < 1e-12);
        let one = Summary::of(&[7.0]);
        assert_eq!((one.median, one.p99, one.mad), (7.0, 7.0, 0.0));
    }
}

/// Two-sided p-value of the Mann-Whitney U test (the rank-sum test) that `a` and `b` come from the same
/// distribution. Exact (permutation distribution of the mid-rank sum, ties included) when the pooled
/// sample is small (at most 20 with at most 184 756 splits), normal approximation with tie and
/// continuity corrections otherwise. Two samples with no spread at all compare exactly: p is 1 when
/// they are equal and 0 when they differ.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let constant = |x: &[f64]| x.iter().all(|v| *v == x[0]);
    if constant(a) && constant(b) {
        return if a[0] == b[0] { 1.0 } else { 0.0 };
    }
    // Mid-ranks of the pooled sample.
    let mut pooled: Vec<(f64, usize)> = a.iter().map(|v| (*v, 0)).chain(b.iter().map(|v| (*v, 1))).collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = pooled.len();
    let mut ranks = vec![0f64; n];
    let mut ties = 0f64;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for r in ranks.iter_mut().take(j + 1).skip(i) {
            *r = mid;
        }
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let observed: f64 = pooled.iter().zip(&ranks).filter(|(p, _)| p.1 == 0).map(|(_, r)| r).sum();
    let expected = n1 as f64 * (n as f64 + 1.0) / 2.0;
    let dev = (observed - expected).abs();
    if n <= 20 {
        // Enumerate every way to pick n1 of the n ranks.
        let (mut extreme, mut total) = (0u64, 0u64);
        let mut pick: Vec<usize> = (0..n1).collect();
        loop {
            let s: f64 = pick.iter().map(|&k| ranks[k]).sum();
            total += 1;
            if (s - expected).abs() >= dev - 1e-9 {
                extreme += 1;
            }
            // Next combination in lexicographic order.
            let mut k = n1;
            while k > 0 && pick[k - 1] == n - n1 + k - 1 {
                k -= 1;
            }
            if k == 0 {
                break;
            }
            pick[k - 1] += 1;
            for m in k..n1 {
                pick[m] = pick[m - 1] + 1;
            }
        }
        return extreme as f64 / total as f64;
    }
    let (f1, f2, nf) = (n1 as f64, n2 as f64, n as f64);
    let sigma = (f1 * f2 / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)))).sqrt();
    if sigma == 0.0 {
        return 1.0;
    }
    let z = ((dev - 0.5).max(0.0)) / sigma;
    (2.0 * (1.0 - normal_cdf(z))).clamp(0.0, 1.0)
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Percentile bootstrap (95%) of `median(new) / median(base) - 1`, seeded.
pub fn bootstrap_change_ci(base: &[f64], new: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    use rand::Rng;
    let mut rng = crate::rng::stream(seed, "bootstrap");
    let median_of = |x: &[f64], rng: &mut rand_chacha::ChaCha8Rng| {
        let mut s: Vec<f64> = (0..x.len()).map(|_| x[rng.random_range(0..x.len())]).collect();
        s.sort_by(|a, b| a.total_cmp(b));
        quantile(&s, 0.5)
    };
    let mut changes: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let b = median_of(base, &mut rng);
            let n = median_of(new, &mut rng);
            n / b - 1.0
        })
        .filter(|c| c.is_finite())
        .collect();
    changes.sort_by(|a, b| a.total_cmp(b));
    (quantile(&changes, 0.025), quantile(&changes, 0.975))
}

#[cfg(test)]
mod change_tests {
    use super::*;

    #[test]
    fn mann_whitney_separates_shifted_samples_and_not_equal_ones() {
        let a = [10.0, 10.2, 9.9, 10.1, 10.05];
        let slower: Vec<f64> = a.iter().map(|x| x * 1.3).collect();
        // Completely separated 5 vs 5: exact two-sided p = 2 / C(10, 5).
        assert!((mann_whitney_p(&a, &slower) - 2.0 / 252.0).abs() < 1e-12);
        assert!(mann_whitney_p(&a, &a) > 0.9);
        assert_eq!(mann_whitney_p(&[4.0, 4.0], &[4.0, 4.0, 4.0]), 1.0);
        assert_eq!(mann_whitney_p(&[4.0, 4.0], &[5.0, 5.0]), 0.0);
        // Large samples use the normal approximation.
        let big: Vec<f64> = (0..30).map(|i| i as f64).collect();
        let shifted: Vec<f64> = big.iter().map(|x| x + 15.0).collect();
        let p = mann_whitney_p(&big, &shifted);
        assert!(p < 0.01 && p > 0.0, "{p}");
        assert!(mann_whitney_p(&big, &big) > 0.9);
        assert!((normal_cdf(1.959964) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_interval_covers_the_true_change() {
        let base: Vec<f64> = (0..20).map(|i| 100.0 + (i % 5) as f64).collect();
        let new: Vec<f64> = base.iter().map(|x| x * 1.3).collect();
        let (lo, hi) = bootstrap_change_ci(&base, &new, 500, 1);
        assert!(lo <= 0.3 + 1e-9 && hi >= 0.3 - 1e-9 && hi - lo < 0.1, "{lo} {hi}");
    }
}

/// `P(X >= k)` for `X ~ Binomial(n, 1/2)`, exact (summed in log space, so any n).
pub fn binomial_half_tail(n: usize, k: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let ln_half_n = n as f64 * 0.5f64.ln();
    // ln C(n, i) by the running product C(n, i) = C(n, i - 1) (n - i + 1) / i.
    let mut ln_c = 0.0;
    let mut tail = 0.0;
    for i in 0..=n {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        if i >= k {
            tail += (ln_c + ln_half_n).exp();
        }
    }
    tail.min(1.0)
}

/// One-sided p-value of the sign test that the paired differences `d` lie above zero more often than
/// below (`greater`), or below more often: `P(X >= k)` with `X ~ Binomial(n, 1/2)`, k the differences
/// on that side and n those that are not zero (zeros dropped). A difference counts once whatever its
/// size, so a round that a noisy neighbour reverses costs the same however far it went. With
/// nothing left after dropping zeros, p is 1.
pub fn sign_test_p(d: &[f64], greater: bool) -> f64 {
    let x: Vec<f64> = d.iter().copied().filter(|v| *v != 0.0 && v.is_finite()).collect();
    let k = x.iter().filter(|v| (**v > 0.0) == greater).count();
    binomial_half_tail(x.len(), k)
}

/// Percentile bootstrap (95%) of the median of `x`, seeded.
pub fn bootstrap_median_ci(x: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    use rand::Rng;
    if x.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = crate::rng::stream(seed, "bootstrap-median");
    let mut medians: Vec<f64> = (0..resamples.max(1))
        .map(|_| {
            let mut s: Vec<f64> = (0..x.len()).map(|_| x[rng.random_range(0..x.len())]).collect();
            s.sort_by(|a, b| a.total_cmp(b));
            quantile(&s, 0.5)
        })
        .collect();
    medians.sort_by(|a, b| a.total_cmp(b));
    (quantile(&medians, 0.025), quantile(&medians, 0.975))
}

/// The median of unsorted data.
pub fn median(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    quantile(&s, 0.5)
}

#[cfg(test)]
mod paired_tests {
    use super::*;

    #[test]
    fn sign_test_exact_values() {
        // Five positive differences: p = 1/32; the other direction p = 1.
        assert!((sign_test_p(&[0.1, 0.2, 0.3, 0.4, 0.5], true) - 1.0 / 32.0).abs() < 1e-12);
        assert!((sign_test_p(&[0.1, 0.2, 0.3, 0.4, 0.5], false) - 1.0).abs() < 1e-12);
        // One negative among five, of any size: P(X >= 4) = 6/32.
        assert!((sign_test_p(&[-0.1, 0.2, 0.3, 0.4, 0.5], true) - 6.0 / 32.0).abs() < 1e-12);
        assert_eq!(sign_test_p(&[-9.0, 0.2, 0.3, 0.4, 0.5], true), sign_test_p(&[-0.1, 0.2, 0.3, 0.4, 0.5], true));
        // Zeros are dropped; all zero leaves nothing to test.
        assert!((sign_test_p(&[0.0, 0.1, 0.2], true) - 0.25).abs() < 1e-12);
        assert_eq!(sign_test_p(&[0.0, 0.0, 0.0], true), 1.0);
        // 14 of 14 and 13 of 14: 1/16384 and 15/16384.
        assert!((binomial_half_tail(14, 14) - 1.0 / 16384.0).abs() < 1e-15);
        assert!((binomial_half_tail(14, 13) - 15.0 / 16384.0).abs() < 1e-15);
        assert!(
            (binomial_half_tail(7, 0) - 1.0).abs() < 1e-12 && (binomial_half_tail(2000, 1000) - 0.5089).abs() < 1e-3
        );
    }

    #[test]
    fn median_interval_brackets_the_median() {
        let x = [0.9, 1.0, 1.1, 1.05, 0.95];
        let (lo, hi) = bootstrap_median_ci(&x, 500, 3);
        assert!(lo <= 1.0 && hi >= 1.0 && lo >= 0.9 && hi <= 1.1, "{lo} {hi}");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}

/// `(lowest, highest)` of `x` (`(f64::MAX, f64::MIN)` when empty).
pub fn range(x: &[f64]) -> (f64, f64) {
    x.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)))
}

/// Whether every sample of `a` lies above every sample of `b` (the timing verdicts' crossover:
/// many samples of one measurement, not seeds; the seeds' rule is [`crate::analysis::separation`]).
pub fn ranges_apart(a: &[f64], b: &[f64]) -> bool {
    !a.is_empty() && !b.is_empty() && range(a).0 > range(b).1
}
