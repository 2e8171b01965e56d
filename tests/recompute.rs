//! Recomputed mixers (activation checkpointing) hold one layer's mixer activations at a time: a
//! training step's peak heap falls, its gradients stay the same. Alone in its test binary, so no other
//! test's allocations reach the heap counters.

use candle_core::{DType, Device};
use seqbench::measure::alloc::{self, Counting};
use seqbench::model::config;
use seqbench::model::optim::Optimizer;
use seqbench::model::LanguageModel;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Peak heap above the live bytes before it (bytes) and the gradient of every parameter after one
/// loss and backward, with the mixers recomputed or not.
fn step(m: &LanguageModel, recompute: bool) -> (usize, Vec<Vec<f32>>) {
    m.set_recompute(recompute).unwrap();
    let mut opt = Optimizer::for_model(m, candle_nn::ParamsAdamW::default()).unwrap();
    let x = seqbench::model::data::byte_ids(8, 1023, 1, &Device::Cpu).unwrap();
    let y = seqbench::model::data::byte_ids(8, 1023, 2, &Device::Cpu).unwrap();
    let before = alloc::current();
    alloc::reset_peak();
    let grads = opt.backward(&m.loss(&x, &y, m.default_form()).unwrap()).unwrap().unwrap();
    let peak = alloc::peak() - before;
    let flat = m
        .named_vars()
        .iter()
        .map(|(name, v)| {
            let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient"));
            g.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        })
        .collect();
    (peak, flat)
}

#[test]
fn recomputed_mixers_lower_the_step_peak_and_keep_the_gradients() {
    for name in ["mamba2", "rwkv7", "attention"] {
        let mut cfg = config::load(name, "tiny").unwrap();
        cfg.n_layers = 6;
        let m = LanguageModel::new(&cfg, 3, &Device::Cpu, DType::F32).unwrap();
        let (kept, g_kept) = step(&m, false);
        let (recomputed, g_recomputed) = step(&m, true);
        assert_eq!(g_kept, g_recomputed, "{name}: the same kernels on the same values give the same gradients");
        let ratio = recomputed as f64 / kept as f64;
        eprintln!("{name}: step peak {kept} B kept, {recomputed} B recomputed ({ratio:.2}x)");
        assert!(ratio < 0.7, "{name}: recomputing 6 layers' mixers should hold far less: {ratio:.2}x");
    }
}
