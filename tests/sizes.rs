//! The deployment sizes (`125m`, `350m`, `1.3b`): counted from the config's shapes without
//! allocating weights, equal to the built model where it can be built, and every model's parameters
//! within 3% of attention's at the same size.

use candle_core::{DType, Device};
use seqbench::model::config;
use seqbench::model::LanguageModel;

/// The sizes every shipped model file defines beyond `tiny` and `small`.
const DEPLOYMENT_SIZES: [&str; 3] = ["125m", "350m", "1.3b"];

#[test]
fn counted_shapes_equal_the_built_model() {
    for size in ["tiny", "small"] {
        for name in config::built_in_names() {
            let cfg = config::load(name, size).unwrap();
            for dtype in [DType::F32, DType::BF16] {
                let built = LanguageModel::new(&cfg, 0, &Device::Cpu, dtype).unwrap();
                let counted = LanguageModel::shapes_only(&cfg, dtype).unwrap();
                let real: usize = built.named_vars().iter().map(|(_, v)| v.elem_count()).sum();
                assert_eq!(counted.num_params(), real, "{name}@{size} {dtype:?}: parameters");
                assert_eq!(built.num_params(), real, "{name}@{size}: the built model's own count");
                assert_eq!(counted.param_bytes(), built.param_bytes(), "{name}@{size} {dtype:?}: bytes");
                for t in [1, 1024, 32768] {
                    assert_eq!(counted.state_bytes(1, t), built.state_bytes(1, t), "{name}@{size}: state at {t}");
                }
                assert!(counted.named_vars().is_empty(), "{name}: a counted model registers no variables");
            }
        }
    }
}

#[test]
fn every_model_is_within_three_percent_of_attention_at_each_deployment_size() {
    for size in DEPLOYMENT_SIZES {
        let params = |name: &str| {
            let cfg = config::load(name, size).unwrap_or_else(|e| panic!("{name}@{size}: {e}"));
            LanguageModel::shapes_only(&cfg, DType::BF16).unwrap().num_params() as f64
        };
        let attention = params("attention");
        for name in config::built_in_names() {
            let ratio = params(name) / attention;
            // The model files narrow the MLP so every model lands within 3% (the bound asked is 10%).
            assert!((0.97..=1.03).contains(&ratio), "{name}@{size}: {ratio:.3} x attention's parameters");
        }
    }
}

#[test]
fn deployment_sizes_have_the_published_shapes() {
    // GPT-2 small / Pythia-160M, and the Transformer++ recipes of 340M and 1.3B: with the byte
    // vocabulary (256 rows instead of 50k) they hold about 85M, 300M and 1.2B parameters.
    for (size, d, layers, millions) in [("125m", 768, 12, 85.0), ("350m", 1024, 24, 302.0), ("1.3b", 2048, 24, 1208.0)] {
        let cfg = config::load("attention", size).unwrap();
        assert_eq!((cfg.d_model, cfg.n_layers), (d, layers), "attention@{size}");
        let n = LanguageModel::shapes_only(&cfg, DType::F32).unwrap().num_params() as f64 / 1e6;
        assert!((n / millions - 1.0).abs() < 0.02, "attention@{size}: {n:.1}M parameters, expected about {millions}M");
    }
}
