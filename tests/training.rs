//! Real training runs at the `tiny` size: every model lowers its loss on the built-in corpus, and the
//! same seed and config give identical losses.

mod common;

use candle_core::{DType, Device};
use seqbench::model::config;
use seqbench::model::data::Corpus;
use seqbench::model::train::{train, TrainOptions};
use seqbench::model::LanguageModel;

fn options(steps: usize, seed: u64, form: seqbench::kernels::Form) -> TrainOptions {
    common::tiny_train_options(steps, 1e-2, seed, form)
}

/// Bits per byte a validation estimate may fall below the entropy floor by sampling error alone.
const FLOOR_SLACK_BITS: f64 = 0.05;

#[test]
fn training_lowers_the_loss_for_every_model() {
    let corpus = Corpus::synthetic_sized(100_000, 1);
    for name in config::built_in_names() {
        let cfg = config::load(name, "tiny").unwrap();
        let model = LanguageModel::new(&cfg, 1, &Device::Cpu, DType::F32).unwrap();
        let opts = options(40, 1, model.default_form());
        let r = train(&model, &corpus, &opts, |_| {}).unwrap();
        let first: f64 = r.losses[..5].iter().sum::<f64>() / 5.0;
        let last: f64 = r.losses[r.losses.len() - 5..].iter().sum::<f64>() / 5.0;
        assert!(last < first - 0.5, "{name}: loss went from {first:.3} to {last:.3}");
        assert!(r.valid_loss < first - 0.5, "{name}: validation loss {:.3} vs initial {first:.3}", r.valid_loss);
        let floor = r.entropy_floor_bits.unwrap();
        // No model can beat the source's entropy in expectation; the slack covers the sampling error
        // of the validation estimate only (40 steps leave every model far above the floor).
        assert!(
            r.valid_bits_per_byte > floor - FLOOR_SLACK_BITS,
            "{name}: beat the entropy floor ({} < {floor} - {FLOOR_SLACK_BITS})",
            r.valid_bits_per_byte
        );
    }
}

#[test]
fn same_seed_same_losses() {
    let corpus = Corpus::synthetic_sized(50_000, 2);
    for name in ["gated-deltanet", "attention", "lstm"] {
        let cfg = config::load(name, "tiny").unwrap();
        let run = |seed: u64| {
            let model = LanguageModel::new(&cfg, seed, &Device::Cpu, DType::F32).unwrap();
            train(&model, &corpus, &options(5, seed, model.default_form()), |_| {}).unwrap()
        };
        let (a, b, c) = (run(3), run(3), run(4));
        assert_eq!(a.losses, b.losses, "{name}: same seed gave different losses");
        assert_eq!(a.valid_loss, b.valid_loss);
        assert_ne!(a.losses, c.losses, "{name}: a different seed gave identical losses");
    }
}
