//! The quality verdicts as data: per quality measurement, the models ranked by their median over
//! seeds, and every ordering the verdict judges with the separation rule
//! ([`super::separation`]): the ranking's neighbours as one Holm family, the literature's
//! expectations as another. Stored in results.json as `derived.findings`, so an analysis reads a
//! verdict without parsing its sentence (`report::verdict` writes the sentence from these).

use super::separation::{judge, Judgement, Separation};
use crate::model::mixers::{Family, MixerKind};
use crate::results::derived::{Findings, Ordering, Ranked, Ranking};
use crate::results::stats::{median, range};
use crate::results::{CellResult, Measurement, Results, Status};

/// The measurements whose cells hold one sample per seed.
pub const QUALITY: [Measurement; 6] = [
    Measurement::LmLoss,
    Measurement::MqarAccuracy,
    Measurement::CopyAccuracy,
    Measurement::ParityAccuracy,
    Measurement::WordProblemAccuracy,
    Measurement::MqarLength,
];

fn ok(c: &&CellResult) -> bool {
    c.status == Status::Ok && c.summary.is_some()
}

/// One model's figure per seed for a quality measurement: seed i's mean, over the model's cells
/// trained with the most seeds (the headline settings, or every swept value), of sample i; the seeds
/// are aligned across cells (sample i of every cell is seed `suite seed + i`).
pub fn seed_scores(r: &Results, m: Measurement, label: &str) -> Vec<f64> {
    let all: Vec<&CellResult> = r.of(m).filter(ok).filter(|c| c.spec.label == label).collect();
    let n = all.iter().map(|c| c.samples.len()).max().unwrap_or(0);
    let cells: Vec<&CellResult> = all.into_iter().filter(|c| c.samples.len() == n).collect();
    (0..n).map(|i| cells.iter().map(|c| c.samples[i]).sum::<f64>() / cells.len() as f64).collect()
}

/// A model's scores over seeds, its median first.
struct Scored {
    label: String,
    kind: MixerKind,
    /// A delta-rule model with `allow_neg_eigval`.
    neg_eigval: bool,
    seeds: Vec<f64>,
    median: f64,
}

/// Every model's seed scores for `m`, best median first.
fn scored(r: &Results, m: Measurement) -> Vec<Scored> {
    let mut labels: Vec<(String, MixerKind)> = Vec::new();
    for c in r.of(m) {
        if !labels.iter().any(|(l, _)| *l == c.spec.label) {
            labels.push((c.spec.label.clone(), c.spec.model.mixer));
        }
    }
    let mut out: Vec<Scored> = labels
        .into_iter()
        .filter_map(|(label, kind)| {
            let seeds = seed_scores(r, m, &label);
            let neg_eigval = r.of(m).any(|c| c.spec.label == label && c.spec.model.allow_neg_eigval);
            (!seeds.is_empty()).then(|| Scored { median: median(&seeds), label, kind, neg_eigval, seeds })
        })
        .collect();
    out.sort_by(
        |a, b| if m.higher_is_better() { b.median.total_cmp(&a.median) } else { a.median.total_cmp(&b.median) },
    );
    out
}

/// The ranking's neighbours judged as one family: element i compares `rank[i]` with `rank[i + 1]`.
fn neighbours(rank: &[Scored], m: Measurement) -> Vec<Judgement> {
    let pairs: Vec<(&[f64], &[f64])> = rank.windows(2).map(|w| (&w[0].seeds[..], &w[1].seeds[..])).collect();
    judge(&pairs, m.higher_is_better())
}

/// The orderings the literature reports for recall (Zoology; the DeltaNet and Gated DeltaNet
/// papers), as the registry declares them (each mixer's `beats`): forgetting (gates) and the delta
/// rule beat plain linear attention.
fn expected() -> Vec<(MixerKind, MixerKind)> {
    MixerKind::all()
        .flat_map(|better| better.descriptor().beats.iter().map(move |worse| (better, MixerKind::named(worse))))
        .collect()
}

/// The orderings the literature expects among the ranked models, `(better, worse)` as indices into
/// `rank`: on recall (MQAR, copy) full attention above every other model and each mixer's `beats`;
/// on state tracking negative eigenvalues above the same delta rule without them (Grazzi et al. 2024)
/// and the non-linear RNNs above the linear family. Models are compared by mixer: the first model of
/// each mixer in the run stands for it.
fn literature(rank: &[Scored], m: Measurement) -> Vec<(usize, usize)> {
    let mut claims = Vec::new();
    let of = |k: MixerKind| rank.iter().position(|x| x.kind == k);
    let recall_task = matches!(m, Measurement::MqarAccuracy | Measurement::CopyAccuracy);
    // Full attention recalls exactly; a sliding window forgets what is older than W, like a state.
    let full_attention = |x: &Scored| x.kind.is_attention() && !x.kind.windowed();
    if recall_task {
        if let Some(a) = rank.iter().position(full_attention) {
            claims.extend((0..rank.len()).filter(|&i| !full_attention(&rank[i])).map(|i| (a, i)));
        }
        for (better, worse) in expected() {
            if let (Some(b), Some(w)) = (of(better), of(worse)) {
                claims.push((b, w));
            }
        }
    } else if matches!(m, Measurement::ParityAccuracy | Measurement::WordProblemAccuracy) {
        for (a, x) in rank.iter().enumerate().filter(|(_, x)| x.neg_eigval) {
            claims.extend((0..rank.len()).filter(|&b| rank[b].kind == x.kind && !rank[b].neg_eigval).map(|b| (a, b)));
        }
        for (a, _) in rank.iter().enumerate().filter(|(_, x)| x.kind.family() == Family::ClassicRnn) {
            claims.extend((0..rank.len()).filter(|&b| rank[b].kind.is_linear() && !rank[b].neg_eigval).map(|b| (a, b)));
        }
    }
    claims
}

fn verdict(s: Separation) -> &'static str {
    match s {
        Separation::Above => "separated",
        Separation::Below => "reversed",
        Separation::NotSeparable => "not_separable",
    }
}

impl Findings {
    pub fn of(r: &Results) -> Findings {
        let mut f = Findings::default();
        for m in QUALITY {
            let rank = scored(r, m);
            if rank.is_empty() {
                continue;
            }
            let ordering = |family: &str, (a, b): (usize, usize), j: &Judgement| Ordering {
                measurement: m.name().into(),
                family: family.into(),
                better: rank[a].label.clone(),
                worse: rank[b].label.clone(),
                verdict: verdict(j.separation).into(),
                p: j.p,
                p_holm: j.p_holm,
                seeds: [rank[a].seeds.len(), rank[b].seeds.len()],
            };
            for (i, j) in neighbours(&rank, m).iter().enumerate() {
                f.orderings.push(ordering("ranking", (i, i + 1), j));
            }
            let claims = literature(&rank, m);
            let pairs: Vec<(&[f64], &[f64])> =
                claims.iter().map(|&(a, b)| (&rank[a].seeds[..], &rank[b].seeds[..])).collect();
            for (&claim, j) in claims.iter().zip(judge(&pairs, m.higher_is_better())) {
                f.orderings.push(ordering("literature", claim, &j));
            }
            f.rankings.push(Ranking {
                measurement: m.name().into(),
                models: rank
                    .iter()
                    .map(|x| {
                        let (min, max) = range(&x.seeds);
                        Ranked { label: x.label.clone(), median: x.median, min, max, seeds: x.seeds.len() }
                    })
                    .collect(),
            });
        }
        f
    }
}
