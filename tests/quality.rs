//! Quality tasks: the MQAR and copy generators (layout, labels, seeds, invalid parameters), and real
//! training: attention solves an easy MQAR setting.

use seqbench::measure::run_cell;
use seqbench::model::config;
use seqbench::model::data::copy::CopyConfig;
use seqbench::model::data::mqar::MqarConfig;
use seqbench::results::stats::SamplePlan;
use seqbench::results::suite::Suite;
use seqbench::results::{CellSpec, Measurement, Settings, Status};

fn mqar(kv_pairs: usize, seq_len: usize) -> MqarConfig {
    MqarConfig { vocab: 32, seq_len, kv_pairs, train_examples: 50, test_examples: 20, seed: 3 }
}

#[test]
fn mqar_layout_labels_and_seeds() {
    let cfg = mqar(4, 32);
    let (train, test) = cfg.generate().unwrap();
    assert_eq!((train.len(), test.len()), (50, 20));
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
    assert_eq!(cfg.generate().unwrap().0.inputs, train.inputs);
    assert_ne!(MqarConfig { seed: 4, ..cfg.clone() }.generate().unwrap().0.inputs, train.inputs);
    assert_ne!(test.inputs[..20], train.inputs[..20]);
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
    let (train, _) = cfg.generate().unwrap();
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
    assert!(CopyConfig { length: 0, ..cfg }.generate().is_err());
}

#[test]
fn attention_solves_easy_mqar() {
    let model = config::load("attention", "tiny").unwrap();
    let spec = CellSpec {
        id: "mqar_accuracy/attention@tiny/kv_pairs=2".into(),
        measurement: Measurement::MqarAccuracy,
        label: model.label(),
        model,
        parameter: "kv_pairs".into(),
        value: 2,
        settings: Settings {
            batch: Some(32),
            steps: Some(1200),
            seq_len: Some(32),
            lr: Some(3e-3),
            vocab: Some(32),
            train_examples: Some(20_000),
            test_examples: Some(256),
            ..Default::default()
        },
        plan: SamplePlan { warmup: 0, min_samples: 1, min_seconds: 0.0, max_samples: 1 },
        seed: 0,
    };
    let r = run_cell(&spec);
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let acc = r.summary.unwrap().median;
    assert!(acc >= 0.9, "attention reached only {acc:.3} on 2-pair MQAR");
    assert!(r.metrics["state_bytes"] > 0.0);
}
