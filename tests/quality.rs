//! Quality tasks: the MQAR (both layouts), copy and word-problem generators (layout, labels, seeds,
//! no leakage between splits, invalid parameters), the noise-aware ranking, and real training:
//! attention solves an easy MQAR setting, an LSTM solves parity beyond its training length.

mod common;

use seqbench::analysis::separation::{judge, separate, Separation};
use seqbench::measure::run_cell;
use seqbench::model::data::copy::CopyConfig;
use seqbench::model::data::mqar::{Layout, MqarConfig};
use seqbench::model::data::state_tracking::{Group, WordProblemConfig};
use seqbench::report::verdict;
use seqbench::results::derived::Findings;
use seqbench::results::suite::Suite;
use seqbench::results::Results;
use seqbench::results::{CellSpec, Measurement, Settings, Status};
use std::collections::HashSet;

fn mqar(kv_pairs: usize, seq_len: usize) -> MqarConfig {
    MqarConfig { vocab: 32, seq_len, kv_pairs, train_examples: 50, test_examples: 20, seed: 3, layout: Layout::Random }
}

#[test]
fn mqar_layout_labels_and_seeds() {
    let cfg = mqar(4, 32);
    let splits = cfg.generate().unwrap();
    let (train, test) = (&splits.train, &splits.test);
    assert_eq!((train.len(), splits.valid.len(), test.len()), (50, 20, 20));
    for i in 0..train.len() {
        let (x, y, m) = (&train.inputs[i], &train.targets[i], &train.mask[i]);
        assert_eq!((x.len(), y.len(), m.len()), (32, 32, 32));
        // Pairs first: distinct keys from the lower half, values from the upper half.
        let keys: Vec<u32> = (0..4).map(|j| x[2 * j]).collect();
        let values: Vec<u32> = (0..4).map(|j| x[2 * j + 1]).collect();
        assert!(keys.iter().all(|k| (1..16).contains(k)) && values.iter().all(|v| (16..32).contains(v)));
        let mut distinct = keys.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
        // Targets are the inputs shifted by one; queries are masked and answered with the key's value.
        assert_eq!(&x[1..], &y[..31]);
        let queries: Vec<usize> = (0..32).filter(|&p| m[p] == 1.0).collect();
        assert_eq!(queries.len(), 4);
        for &q in &queries {
            assert!(q >= 8, "query inside the pairs");
            let k = keys.iter().position(|&k| k == x[q]).expect("query asks a key of this sequence");
            assert_eq!(y[q], values[k]);
        }
        assert!(m.iter().all(|&v| v == 0.0 || v == 1.0));
    }
    // Same seed, same data; another seed or the test split, different data.
    assert_eq!(cfg.generate().unwrap().train.inputs, train.inputs);
    assert_ne!(MqarConfig { seed: 4, ..cfg.clone() }.generate().unwrap().train.inputs, train.inputs);
    // The test split comes from its own seeded stream: drawn again, the same examples.
    assert_eq!(cfg.generate().unwrap().test.inputs, test.inputs);
}

#[test]
fn mqar_zoology_layout_asks_each_key_once_at_power_law_gaps() {
    let cfg = MqarConfig {
        vocab: 64,
        seq_len: 64,
        kv_pairs: 8,
        train_examples: 400,
        test_examples: 50,
        seed: 1,
        layout: Layout::Zoology,
    };
    let splits = cfg.generate().unwrap();
    let mut gap_sum = 0usize;
    for ex in [&splits.train, &splits.valid, &splits.test] {
        for i in 0..ex.len() {
            let (x, y, m) = (&ex.inputs[i], &ex.targets[i], &ex.mask[i]);
            let keys: Vec<u32> = (0..8).map(|j| x[2 * j]).collect();
            let values: Vec<u32> = (0..8).map(|j| x[2 * j + 1]).collect();
            assert!(keys.iter().all(|k| (1..32).contains(k)) && values.iter().all(|v| (32..64).contains(v)));
            // Keys and values are drawn without replacement (Zoology's `replace=False`).
            assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 8);
            assert_eq!(values.iter().collect::<HashSet<_>>().len(), 8);
            let queries: Vec<usize> = (0..64).filter(|&p| m[p] == 1.0).collect();
            assert_eq!(queries.len(), 8, "one query per key");
            let mut asked = HashSet::new();
            for &q in &queries {
                assert!(q >= 16 && (q - 16) % 2 == 0, "query {q} not at 2P + 2 gap");
                gap_sum += (q - 16) / 2;
                let k = keys.iter().position(|&k| k == x[q]).expect("query asks a key of this sequence");
                assert!(asked.insert(k), "key asked twice");
                assert_eq!(y[q], values[k], "the target of a query is its key's value");
            }
            // Every other target is the next input (the answer is not written after the query).
            for p in 0..63 {
                if m[p] == 0.0 {
                    assert_eq!(y[p], x[p + 1]);
                }
            }
        }
    }
    // Power-law gaps: short gaps likelier than under a uniform draw of 8 of the 24 slots (mean 11.5).
    let mean_gap = gap_sum as f64 / (500.0 * 8.0);
    assert!(mean_gap < 10.5, "mean gap {mean_gap:.2} is not skewed toward short gaps");
}

#[test]
fn held_out_splits_never_repeat_a_training_example() {
    // A small space (3 keys, 8 values) where random draws would collide often.
    for layout in [Layout::Random, Layout::Zoology] {
        let cfg =
            MqarConfig { vocab: 8, seq_len: 8, kv_pairs: 2, train_examples: 20, test_examples: 10, seed: 0, layout };
        let s = cfg.generate().unwrap();
        let seen: HashSet<&[u32]> = s.train.inputs.iter().map(|x| &x[..4]).collect();
        for ex in [&s.valid, &s.test] {
            assert!(ex.inputs.iter().all(|x| !seen.contains(&x[..4])), "{layout:?}: a held-out prefix is in training");
        }
        // Nor does the test split repeat a validation example (the rate is chosen on validation).
        let valid: HashSet<&Vec<u32>> = s.valid.inputs.iter().collect();
        assert!(s.test.inputs.iter().all(|x| !valid.contains(x)), "{layout:?}: a test example is in validation");
    }
    // When training covers every possible example, the generator refuses instead of leaking or looping.
    let full = MqarConfig {
        vocab: 4,
        seq_len: 4,
        kv_pairs: 1,
        train_examples: 200,
        test_examples: 5,
        seed: 0,
        layout: Layout::Random,
    };
    let err = full.generate().expect_err("no unseen example exists").to_string();
    assert!(err.contains("train_examples") && err.contains("unseen"), "{err}");
    let copy =
        CopyConfig { alphabet: 3, length: 5, train_examples: 100, test_examples: 20, seed: 0 }.generate().unwrap();
    let seen: HashSet<&[u32]> = copy.train.inputs.iter().map(|x| &x[..5]).collect();
    assert!(copy.test.inputs.iter().all(|x| !seen.contains(&x[..5])));
}

#[test]
fn word_problems_label_the_running_product_and_test_beyond_the_training_length() {
    // S3 is a group (identity first, associative, inverses) and is not abelian; S2 is parity.
    let t = Group(3).product_table();
    assert_eq!(t.len(), 6);
    for a in 0..6 {
        assert_eq!((t[0][a], t[a][0]), (a, a));
        assert!((0..6).any(|b| t[a][b] == 0), "no inverse of {a}");
        for b in 0..6 {
            for c in 0..6 {
                assert_eq!(t[t[a][b]][c], t[a][t[b][c]]);
            }
        }
    }
    assert!((0..6).any(|a| (0..6).any(|b| t[a][b] != t[b][a])), "S3 is not abelian");
    assert_eq!(Group(5).order(), 120);

    let cfg = WordProblemConfig {
        group: Group::PARITY,
        train_len: 8,
        test_len: 20,
        train_examples: 30,
        test_examples: 10,
        seed: 2,
    };
    let s = cfg.generate().unwrap();
    assert_eq!((s.train.seq_len, s.valid.seq_len, s.test.seq_len), (8, 8, 20));
    for (ex, len) in [(&s.train, 8), (&s.test, 20)] {
        for i in 0..ex.len() {
            let mut parity = 0;
            for p in 0..len {
                let bit = ex.inputs[i][p] - 1; // tokens 1 (bit 0) and 2 (bit 1)
                parity ^= bit;
                assert_eq!(ex.targets[i][p], 3 + parity, "target at {p} is the running parity");
                // Training counts every position; the test only those beyond the training length.
                let counted = if len == 8 { true } else { p >= 8 };
                assert_eq!(ex.mask[i][p] == 1.0, counted);
            }
        }
    }
    let s3 = WordProblemConfig { group: Group(3), ..cfg.clone() }.generate().unwrap();
    let x = &s3.train.inputs[0];
    let mut state = 0usize;
    for (p, &e) in x.iter().enumerate() {
        state = t[state][e as usize - 1];
        assert_eq!(s3.train.targets[0][p] as usize, 7 + state);
    }
    let msg = |c: WordProblemConfig| c.generate().expect_err("must be rejected").to_string();
    assert!(msg(WordProblemConfig { test_len: 8, ..cfg.clone() }).contains("longer than train_len"));
    assert!(msg(WordProblemConfig { train_len: 1, ..cfg.clone() }).contains("train_len"));
    assert!(msg(WordProblemConfig { group: Group(6), ..cfg.clone() }).contains("S6"));
}

#[test]
fn rankings_need_a_permutation_test_that_separates() {
    use Separation::*;
    // Six seeds a side, apart: p = 2/924, ranked either way.
    let (hi, lo) = ([0.99, 0.98, 0.97, 0.99, 0.96, 0.97], [0.15, 0.14, 0.16, 0.13, 0.15, 0.12]);
    assert_eq!(separate(&hi, &lo, true), Above);
    assert_eq!(separate(&lo, &hi, true), Below);
    // Three seeds a side, apart: the range rule ranked these (10% of the time for one model split in
    // two); the exact test's smallest p is 2/20, so it cannot.
    assert_eq!(separate(&[0.9, 0.95, 0.97], &[0.5, 0.6, 0.7], true), NotSeparable);
    // Two models at chance with two seeds each are never ranked.
    assert_eq!(separate(&[0.51, 0.52], &[0.50, 0.51], true), NotSeparable);
    // Overlapping seeds: not separable, however different the medians.
    assert_eq!(separate(&[0.5, 0.9, 0.95, 0.55, 0.92, 0.6], &[0.6, 0.65, 0.7, 0.62, 0.58, 0.64], true), NotSeparable);
    // Losses: lower is better.
    assert_eq!(separate(&[1.5, 1.6, 1.55, 1.52, 1.58], &[2.0, 2.1, 2.05, 2.2, 2.15], false), Above);
    // Holm: the same pair judged among 30 others is no longer separated at 5 seeds a side.
    let five = ([0.99, 0.98, 0.97, 0.99, 0.96], [0.15, 0.14, 0.16, 0.13, 0.15]);
    let one = judge(&[(&five.0[..], &five.1[..])], true);
    assert_eq!(one[0].separation, Above);
    let many = judge(&vec![(&five.0[..], &five.1[..]); 30], true);
    assert!(many.iter().all(|j| j.separation == NotSeparable && j.p_holm > 0.05), "{:?}", many[0]);
}

#[test]
fn mqar_rejects_impossible_settings() {
    let msg = |c: MqarConfig| c.generate().expect_err("must be rejected").to_string();
    assert!(msg(mqar(9, 32)).contains("do not fit in seq_len 32"));
    assert!(msg(mqar(16, 128)).contains("distinct keys"));
    assert!(msg(MqarConfig { vocab: 300, ..mqar(2, 32) }).contains("vocab"));
    assert!(msg(mqar(0, 32)).contains("kv_pairs"));
    assert!(msg(MqarConfig { train_examples: 0, ..mqar(2, 32) }).contains("train"));
    // The same checks guard a suite, naming the field.
    let suite = r#"
name = "q"
models = ["attention"]
[mqar]
vocab = 32
seq_len = 16
kv_pairs = [2, 8]
train_examples = 10
test_examples = 10
steps = 1
batch = 1
"#;
    let err = Suite::parse(suite, "q.toml").err().unwrap().to_string();
    assert!(err.contains("q.toml") && err.contains("mqar.kv_pairs") && err.contains("do not fit"), "{err}");
}

#[test]
fn copy_layout_and_labels() {
    let cfg = CopyConfig { alphabet: 10, length: 6, train_examples: 5, test_examples: 5, seed: 1 };
    let train = cfg.generate().unwrap().train;
    for i in 0..5 {
        let (x, y, m) = (&train.inputs[i], &train.targets[i], &train.mask[i]);
        assert_eq!(x.len(), 13);
        assert_eq!(x[6], 11, "separator after the string");
        assert_eq!(&x[..6], &x[7..13], "the string is repeated");
        let scored: Vec<usize> = (0..13).filter(|&p| m[p] == 1.0).collect();
        assert_eq!(scored, (6..12).collect::<Vec<_>>());
        for &p in &scored {
            assert_eq!(y[p], x[p - 6], "target at {p} is the copied token");
        }
    }
    assert!(CopyConfig { alphabet: 1, ..cfg.clone() }.generate().is_err());
    assert_eq!(CopyConfig { train_examples: 5, ..cfg.clone() }.generate().unwrap().valid.len(), 5);
    assert!(CopyConfig { length: 0, ..cfg }.generate().is_err());
}

fn task_spec(model: &str, measurement: Measurement, value: usize, settings: Settings) -> CellSpec {
    common::cell_spec(model, "tiny", measurement, value, settings)
}

/// The quick suite's MQAR training: 32 tokens, vocabulary 32, batch 32, early stop at 0.99.
fn quick_mqar() -> Settings {
    Settings {
        batch: Some(32),
        steps: Some(1000),
        seq_len: Some(32),
        lr: Some(3e-3),
        vocab: Some(32),
        train_examples: Some(20_000),
        test_examples: Some(256),
        early_stop: Some(0.99),
        eval_every: Some(50),
        ..Default::default()
    }
}

#[test]
fn attention_solves_mqar_and_stops_early() {
    // The quick suite's setting: 8 pairs in 32 tokens, 16-wide heads.
    let mut spec = task_spec("attention", Measurement::MqarAccuracy, 8, quick_mqar());
    spec.model.head_dim = 16;
    let r = run_cell(&spec);
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let acc = r.summary.unwrap().median;
    assert!(acc >= 0.95, "attention reached only {acc:.3} on 8-pair MQAR");
    let steps = r.metrics["seed.0.steps"];
    assert!(steps < 1000.0, "early stopping did not stop training ({steps} steps)");
    assert!(r.metrics["seed.0.valid_accuracy"] >= 0.99 && r.metrics["state_bytes"] > 0.0);
}

#[test]
fn the_sweep_trains_every_rate_on_the_sweep_seeds_and_the_rest_at_the_chosen_rate() {
    // Two rates on seeds 0 and 1, a third seed at the chosen one: 1e-5 cannot form the recall
    // circuit in 600 steps, 3e-3 does (the quick suite's setting), so 3e-3 is chosen and solves
    // 2 of the sweep's 4 runs.
    let mut spec = task_spec(
        "attention",
        Measurement::MqarAccuracy,
        8,
        Settings {
            batch: Some(32),
            steps: Some(600),
            seq_len: Some(32),
            lrs: Some(vec![1e-5, 3e-3]),
            seeds: Some(3),
            sweep_seeds: Some(2),
            vocab: Some(32),
            train_examples: Some(20_000),
            test_examples: Some(256),
            early_stop: Some(0.99),
            eval_every: Some(50),
            ..Default::default()
        },
    );
    spec.model.head_dim = 16;
    let r = run_cell(&spec);
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert_eq!(r.samples.len(), 3, "one test accuracy per seed");
    assert_eq!(r.metrics["lr"], 3e-3);
    for seed in 0..3 {
        assert_eq!(r.metrics[&format!("seed.{seed}.lr")], 3e-3, "seed {seed} reports the chosen rate");
    }
    // Every rate on the sweep's seeds, none on the third.
    for seed in 0..2 {
        for rate in 0..2 {
            assert!(r.metrics.contains_key(&format!("seed.{seed}.sweep.{rate}.valid_accuracy")));
        }
    }
    assert!(!r.metrics.keys().any(|k| k.starts_with("seed.2.sweep.")), "seed 2 trains at the chosen rate only");
    assert!(r.metrics["sweep.1.valid_median"] > r.metrics["sweep.0.valid_median"]);
    assert_eq!(r.solved_runs(), Some((2, 4)), "{:?}", r.metrics);
    assert!(r.summary.unwrap().median >= 0.95);
}

#[test]
fn lstm_solves_parity_beyond_its_training_length() {
    let spec = task_spec(
        "lstm",
        Measurement::ParityAccuracy,
        64,
        Settings {
            batch: Some(32),
            steps: Some(800),
            lr: Some(3e-3),
            train_len: Some(16),
            train_examples: Some(20_000),
            test_examples: Some(128),
            early_stop: Some(0.99),
            eval_every: Some(50),
            ..Default::default()
        },
    );
    let r = run_cell(&spec);
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let acc = r.summary.unwrap().median;
    assert!(acc >= 0.95, "LSTM parity accuracy beyond 16 tokens only {acc:.3}");
}

/// A results file with the given quality cells (every other field from a committed run).
fn with_cells(cells: Vec<(Measurement, &str, usize, Vec<f64>)>) -> Results {
    common::results_with(
        cells
            .into_iter()
            .map(|(m, model, value, samples)| {
                (task_spec(model, m, value, Settings { seeds: Some(samples.len()), ..Default::default() }), samples)
            })
            .collect(),
    )
}

#[test]
fn findings_hold_the_verdicts_as_data() {
    let mq = Measurement::MqarAccuracy;
    let r = with_cells(vec![
        (mq, "attention", 16, vec![0.99, 1.0, 0.98, 0.99, 0.97, 0.99]),
        (mq, "linear-attention", 16, vec![0.30, 0.35, 0.32, 0.31, 0.33, 0.34]),
        (mq, "deltanet", 16, vec![0.31, 0.50, 0.45, 0.29, 0.36, 0.34]),
    ]);
    let f = Findings::of(&r);
    let ranking = &f.rankings[0];
    assert_eq!(ranking.measurement, "mqar_accuracy");
    let order: Vec<&str> = ranking.models.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(order, ["attention@tiny", "deltanet@tiny", "linear-attention@tiny"]);
    assert_eq!((ranking.models[0].min, ranking.models[0].max, ranking.models[0].seeds), (0.97, 1.0, 6));
    let find = |family: &str, better: &str, worse: &str| {
        f.orderings
            .iter()
            .find(|o| o.family == family && o.better == better && o.worse == worse)
            .unwrap_or_else(|| panic!("{family} {better} > {worse} in {:?}", f.orderings))
    };
    // Neighbours: attention is separated from DeltaNet, DeltaNet not from linear attention.
    let top = find("ranking", "attention@tiny", "deltanet@tiny");
    assert_eq!((top.verdict.as_str(), top.seeds), ("separated", [6, 6]));
    assert!(top.p_holm < 0.05 && top.p <= top.p_holm);
    assert_eq!(find("ranking", "deltanet@tiny", "linear-attention@tiny").verdict, "not_separable");
    // The literature's orderings: attention above both, the delta rule above linear attention.
    assert_eq!(find("literature", "attention@tiny", "linear-attention@tiny").verdict, "separated");
    assert_eq!(find("literature", "deltanet@tiny", "linear-attention@tiny").verdict, "not_separable");
    // The same findings travel in results.json.
    let mut saved = r.clone();
    seqbench::report::derive(&mut saved);
    assert_eq!(saved.derived.findings, f);
}

#[test]
fn verdicts_rank_only_what_the_seeds_separate() {
    let mq = Measurement::MqarAccuracy;
    let r = with_cells(vec![
        (mq, "attention", 16, vec![0.99, 1.0, 0.98, 0.99, 0.97, 0.99]),
        (mq, "linear-attention", 16, vec![0.30, 0.35, 0.32, 0.31, 0.33, 0.34]),
        // Overlaps linear attention's seeds: no ranking, whatever the medians say.
        (mq, "deltanet", 16, vec![0.31, 0.50, 0.45, 0.29, 0.36, 0.34]),
        // Beyond linear attention's seeds.
        (mq, "gated-deltanet", 16, vec![0.60, 0.70, 0.65, 0.62, 0.68, 0.66]),
    ]);
    let v = verdict::all(&r).into_iter().find(|v| v.starts_with("MQAR")).unwrap();
    assert!(v.contains("attention@tiny 0.99 [0.97-1.00] > gated-deltanet@tiny"), "{v}");
    assert!(v.contains("deltanet@tiny 0.35 [0.29-0.50] ≈ linear-attention@tiny"), "{v}");
    assert!(v.contains("exact permutation test") && v.contains("Holm over 3 pairs"), "{v}");
    let held = &v[v.find("and held:").unwrap()..v.find("Not held").unwrap()];
    assert!(
        held.contains("gated-deltanet@tiny > linear-attention@tiny") && held.contains("attention@tiny > deltanet@tiny"),
        "{v}"
    );
    let unsure = &v[v.find("Not separable:").unwrap()..];
    assert!(
        unsure.contains("deltanet@tiny > linear-attention@tiny") && !unsure.contains("gated-deltanet@tiny > linear"),
        "{v}"
    );
    // Separated the other way is said so; three seeds a side (the range rule's ranking) or one seed
    // rank nothing.
    let r = with_cells(vec![
        (mq, "attention", 8, vec![0.2, 0.25, 0.22, 0.21, 0.24, 0.23]),
        (mq, "linear-attention", 8, vec![0.5, 0.6, 0.55, 0.52, 0.58, 0.57]),
    ]);
    let v = verdict::all(&r).into_iter().find(|v| v.starts_with("MQAR")).unwrap();
    assert!(v.contains("Not held (separated the other way): attention@tiny > linear-attention@tiny (p "), "{v}");
    for seeds in [vec![0.99], vec![0.99, 0.98, 0.99]] {
        let low: Vec<f64> = seeds.iter().map(|s| s - 0.9).collect();
        let r = with_cells(vec![(mq, "attention", 8, seeds), (mq, "linear-attention", 8, low)]);
        let v = verdict::all(&r).into_iter().find(|v| v.starts_with("MQAR")).unwrap();
        assert!(v.contains("nothing is ranked") && v.contains(" ≈ ") && !v.contains("and held: attention"), "{v}");
    }
    // Two models at chance are not ranked (the range rule ranked these two with two seeds).
    let p = Measurement::ParityAccuracy;
    let r = with_cells(vec![(p, "deltanet", 56, vec![0.52, 0.51]), (p, "attention", 56, vec![0.50, 0.505])]);
    let v = verdict::all(&r).into_iter().find(|v| v.starts_with("Parity")).unwrap();
    assert!(v.contains(" ≈ ") && !v.contains(" > attention"), "{v}");
    // State tracking: negative eigenvalues against the plain delta rule.
    let r = with_cells(vec![
        (p, "deltanet-negeig", 64, vec![0.9, 0.95, 1.0, 0.97, 0.93, 0.99]),
        (p, "deltanet", 64, vec![0.5, 0.52, 0.55, 0.51, 0.53, 0.5]),
    ]);
    let v = verdict::all(&r).into_iter().find(|v| v.starts_with("Parity")).unwrap();
    assert!(v.contains("held: deltanet-negeig@tiny > deltanet@tiny"), "{v}");
}

#[test]
fn the_training_crossover_is_claimed_only_beyond_the_samples_spread() {
    let tr = Measurement::TrainThroughput;
    // At T=64 the linear model's median is higher but its samples overlap attention's; at 512 every
    // sample is above.
    let r = with_cells(vec![
        (tr, "attention", 64, vec![59_000.0, 60_000.0, 61_000.0]),
        (tr, "linear-attention", 64, vec![58_000.0, 60_500.0, 63_000.0]),
        (tr, "attention", 512, vec![3_000.0, 3_100.0, 3_200.0]),
        (tr, "linear-attention", 512, vec![3_400.0, 3_500.0, 3_600.0]),
    ]);
    let v = verdict::all(&r).into_iter().find(|v| v.starts_with("Training")).unwrap();
    assert!(v.contains("linear beats attention from T=512"), "{v}");
    // Overlapping at every length: no crossover.
    let r = with_cells(vec![
        (tr, "attention", 64, vec![59_000.0, 60_000.0, 61_000.0]),
        (tr, "linear-attention", 64, vec![58_000.0, 60_500.0, 63_000.0]),
    ]);
    let v = verdict::all(&r).into_iter().find(|v| v.starts_with("Training")).unwrap();
    assert!(v.contains("no crossover claimed") && !v.contains("beats"), "{v}");
}

#[test]
fn mqar_beyond_the_training_length_pushes_every_query_back() {
    let cfg = mqar(4, 32);
    let splits = cfg.generate_extrapolated(80).unwrap();
    assert_eq!((splits.train.seq_len, splits.valid.seq_len, splits.test.seq_len), (32, 32, 80));
    assert_eq!(splits.train.inputs, cfg.generate().unwrap().train.inputs, "training data as in-length MQAR");
    let test = &splits.test;
    for i in 0..test.len() {
        let (x, y, m) = (&test.inputs[i], &test.targets[i], &test.mask[i]);
        let asked: Vec<usize> = (0..80).filter(|&t| m[t] == 1.0).collect();
        assert!(!asked.is_empty());
        for &q in &asked {
            // Every query lies past the 48 inserted tokens, and asks a key of the opening pairs for
            // its value.
            assert!(q >= 8 + 48, "query at {q} not pushed back");
            let k = (0..4).find(|&j| x[2 * j] == x[q]).expect("a query asks a key of the pairs");
            assert_eq!(y[q], x[2 * k + 1]);
        }
        assert!(x[8..56].iter().all(|&t| t == 0), "the random layout's filler is 0");
    }
    assert!(cfg.generate_extrapolated(16).is_err(), "a test length below the training length is refused");
    let zoology = MqarConfig { layout: Layout::Zoology, ..cfg };
    let test = zoology.generate_extrapolated(64).unwrap().test;
    assert!(test.mask.iter().all(|m| m[..8 + 32].iter().all(|&v| v == 0.0)));
}

#[test]
fn attention_recalls_in_length_and_is_tested_beyond_it() {
    let mut spec = task_spec(
        "attention",
        Measurement::MqarLength,
        64,
        Settings { kv_pairs: Some(8), test_examples: Some(128), ..quick_mqar() },
    );
    spec.model.head_dim = 16;
    let r = run_cell(&spec);
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    assert!(r.metrics["valid_accuracy"] >= 0.95, "in-length accuracy {}", r.metrics["valid_accuracy"]);
    let beyond = r.summary.unwrap().median;
    assert!((0.0..=1.0).contains(&beyond));
    assert_eq!(r.spec.parameter, "test_len");
}

#[test]
fn state_precision_decodes_with_rounded_states() {
    for model in ["gru", "attention", "gated-deltanet"] {
        let spec = task_spec(
            model,
            Measurement::StatePrecision,
            300,
            Settings { batch: Some(8), steps: Some(40), seq_len: Some(64), lr: Some(5e-3), ..Default::default() },
        );
        let r = run_cell(&spec);
        assert_eq!(r.status, Status::Ok, "{model}: {:?}", r.error);
        let m = &r.metrics;
        for dtype in ["bf16", "f16"] {
            let a = m[&format!("{dtype}.agreement")];
            // A state rounded to 16 bits moves some predictions, not most of them.
            assert!((0.5..=1.0).contains(&a), "{model} {dtype}: agreement {a}");
            assert!(m[&format!("{dtype}.bits_delta")].is_finite());
        }
        assert_eq!(r.samples, vec![m["bf16.agreement"]]);
        assert!(m["f32.bits_per_byte"] > 0.0 && m["f32.bits_per_byte"] < 8.5);
    }
}
