//! Every model: the full-sequence forward equals prefill plus token-by-token decode; the linear family's
//! forms agree through the whole model (logits and every parameter's gradient) at odd lengths; every
//! parameter gets a finite, non-zero gradient; recomputing the mixers in the backward gives the same
//! gradients; the exact state bytes match the formula.

use candle_core::{DType, Device};
use seqbench::kernels::Form;
use seqbench::model::check::{self, DECODE_TOL, GRAD_TOL, OUTPUT_TOL};
use seqbench::model::config;
use seqbench::model::mixers::MixerKind;
use seqbench::model::LanguageModel;

fn tiny(name: &str) -> LanguageModel {
    let cfg = config::load(name, "tiny").unwrap();
    LanguageModel::new(&cfg, 11, &Device::Cpu, DType::F32).unwrap()
}

#[test]
fn forward_equals_prefill_plus_decode() {
    for name in config::built_in_names() {
        let m = tiny(name);
        for (t, prompt) in [(1, 1), (37, 20), (70, 1)] {
            let (pre, empty, bytes) = check::decode_agreement(&m, t, prompt).unwrap();
            assert!(pre < DECODE_TOL, "{name} T={t}: prefill+decode vs forward relative error {pre:.2e}");
            assert!(empty < DECODE_TOL, "{name} T={t}: decode from empty vs forward relative error {empty:.2e}");
            assert_eq!(bytes, None, "{name}: state bytes (held, formula) differ");
        }
    }
}

#[test]
fn forms_agree_through_the_model() {
    for name in config::built_in_names() {
        let m = tiny(name);
        if !m.config.mixer.is_linear() {
            continue;
        }
        for t in [15, 65] {
            for form in [Form::Chunkwise(16), Form::Chunkwise(64), Form::Parallel] {
                let (out, grad, worst) = check::form_agreement(&m, form, t).unwrap();
                assert!(out < OUTPUT_TOL, "{name} {form} T={t}: logits relative error {out:.2e}");
                assert!(grad < GRAD_TOL, "{name} {form} T={t}: gradient of {worst} relative error {grad:.2e}");
            }
        }
    }
}

#[test]
fn recomputed_mixers_give_the_kept_activations_gradients() {
    for name in config::built_in_names() {
        let m = tiny(name);
        for t in [1, 37] {
            let (out, grad, worst) = check::recompute_agreement(&m, t).unwrap();
            assert!(out < OUTPUT_TOL, "{name} T={t}: logits relative error {out:.2e}");
            assert!(grad < GRAD_TOL, "{name} T={t}: gradient of {worst} relative error {grad:.2e}");
        }
        assert!(!m.recomputes(), "{name}: the check leaves the setting as it found it");
    }
}

#[test]
fn every_parameter_gets_a_gradient() {
    for name in config::built_in_names() {
        let missing = check::parameters_without_gradient(&tiny(name)).unwrap();
        assert!(missing.is_empty(), "{name}: parameters without a usable gradient: {missing:?}");
    }
}

#[test]
fn state_bytes_follow_the_lectures_table() {
    for name in config::built_in_names() {
        let cfg = config::load(name, "tiny").unwrap();
        let m = LanguageModel::for_inference(&cfg, 0, &Device::Cpu, DType::F32).unwrap();
        // The bytes the states really hold after prefilling T tokens, at two lengths.
        let held = |t: usize| -> usize {
            let ids = seqbench::model::data::byte_ids(1, t, 1, &Device::Cpu).unwrap();
            m.prefill(&ids, m.default_form()).unwrap().1.iter().map(|s| s.bytes()).sum()
        };
        let (a, b) = (held(10), held(100));
        // KV cache: 2 x T x (kv_heads x head_dim) x 4 bytes per attention layer (T up to W under a
        // sliding window) on top of the constant recurrent states.
        let kinds = cfg.layer_kinds();
        let kv_width = cfg.kv_width();
        let kv = |t: usize| -> usize {
            let held = |k: &MixerKind| cfg.window_of(*k).map_or(t, |w| t.min(w));
            kinds.iter().filter(|k| k.is_attention()).map(|k| 2 * held(k) * kv_width * 4).sum()
        };
        assert_eq!(b - a, kv(100) - kv(10), "{name}: measured state growth");
        if kinds.iter().all(|k| k.is_attention()) {
            assert_eq!(b, kv(100), "{name}: pure attention holds only its KV cache");
        }
        if kinds.iter().all(|k| !k.is_attention()) {
            assert_eq!(a, b, "{name}: a recurrent state must not grow with the sequence");
        }
        // The formula `list` and the memory cells report agrees with what is held.
        assert_eq!((m.state_bytes(1, 10), m.state_bytes(1, 100)), (a, b), "{name}: formula vs held bytes");
        assert_eq!(m.layer_state_bytes(1, 100).iter().sum::<usize>(), b);
    }
    // The hybrid: three constant Gated DeltaNet states and one growing KV cache.
    let h = LanguageModel::new(&config::load("hybrid", "small").unwrap(), 0, &Device::Cpu, DType::F32).unwrap();
    let layers = h.layer_state_bytes(1, 4096);
    assert_eq!(layers[0], layers[1]);
    assert_eq!(layers[3], 2 * 4096 * 256 * 4);
}

#[test]
fn hybrid_patterns_are_validated() {
    let text = |layers: &str| {
        format!(
            "name = \"h\"\nmixer = \"gla\"\nlayers = {layers}\n[sizes.s]\nd_model = 32\nn_layers = 4\nhead_dim = 8\n"
        )
    };
    let ok = config::parse(&text("[\"gla\", \"attention\"]"), "h.toml", "s", "test").unwrap();
    assert_eq!(ok.layer_kinds().len(), 4);
    assert_eq!(ok.attention_layers(), 2);
    let err = config::parse(&text("[\"gla\", \"gla\", \"attention\"]"), "h.toml", "s", "test").unwrap_err().to_string();
    assert!(err.contains("h.toml") && err.contains("`layers`") && err.contains("divide"), "{err}");
    let err = config::parse(&text("[\"gla\", \"transformer\"]"), "h.toml", "s", "test").unwrap_err().to_string();
    assert!(err.contains("`layers`") && err.contains("transformer"), "{err}");
}

#[test]
fn inference_model_matches_the_trainable_one_without_a_graph() {
    for name in config::built_in_names() {
        let cfg = config::load(name, "tiny").unwrap();
        let train = LanguageModel::new(&cfg, 5, &Device::Cpu, DType::F32).unwrap();
        let infer = LanguageModel::for_inference(&cfg, 5, &Device::Cpu, DType::F32).unwrap();
        let x = seqbench::model::data::byte_ids(2, 21, 4, &Device::Cpu).unwrap();
        let a = train.forward(&x, train.default_form()).unwrap();
        let b = infer.forward(&x, infer.default_form()).unwrap();
        assert_eq!(
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            "{name}"
        );
        // Nothing to differentiate: the inference model's output carries no graph back to its weights.
        let grads = b.sum_all().unwrap().backward().unwrap();
        assert!(infer.named_vars().iter().all(|(_, v)| grads.get(v.as_tensor()).is_none()), "{name}");
        // Chunked prefill gives the same last logits and states as one prefill.
        let (whole, _) = infer.prefill(&x, infer.default_form()).unwrap();
        let (last, states) = infer.prefill_chunked(&x, 8).unwrap();
        let err = seqbench::kernels::verify::rel_rmse(&last, &whole.narrow(1, 16, 5).unwrap()).unwrap();
        assert!(err < 1e-5, "{name}: chunked prefill differs ({err:.2e})");
        assert_eq!(states.iter().map(|s| s.bytes()).sum::<usize>(), infer.state_bytes(2, 21));
    }
}

/// DeltaProduct at other step counts than its preset's 2: n_h = 1 (Gated DeltaNet's recurrence) and
/// 3 agree across forms and with token-by-token decode; n_h = 3 holds the same state as n_h = 1 (the
/// steps widen the transition, not the state).
#[test]
fn deltaproduct_runs_at_any_number_of_householder_steps() {
    let text = |n: usize| {
        format!("name = \"dp{n}\"\nmixer = \"gated_deltaproduct\"\nhouseholder_steps = {n}\n[sizes.tiny]\nd_model = 32\nn_layers = 2\nhead_dim = 8\n")
    };
    let mut bytes = Vec::new();
    for n in [1, 3] {
        let cfg = config::parse(&text(n), "dp.toml", "tiny", "test").unwrap();
        let m = LanguageModel::new(&cfg, 3, &Device::Cpu, DType::F32).unwrap();
        for form in [Form::Chunkwise(16), Form::Parallel] {
            let (out, grad, worst) = check::form_agreement(&m, form, 23).unwrap();
            assert!(out < OUTPUT_TOL && grad < GRAD_TOL, "n_h={n} {form}: {out:.2e} / {grad:.2e} ({worst})");
        }
        let (pre, empty, mismatch) = check::decode_agreement(&m, 19, 7).unwrap();
        assert!(pre < DECODE_TOL && empty < DECODE_TOL && mismatch.is_none(), "n_h={n}: decode {pre:.2e} {empty:.2e}");
        bytes.push(m.state_bytes(1, 100));
    }
    // The conv carry widens with the steps (k and v per step); the matrix state does not.
    assert!(bytes[1] > bytes[0]);
    // 2 layers x (K - 1 = 3) carried tokens x 4 B x the channels of 2 more keys and values.
    assert_eq!(bytes[1] - bytes[0], 2 * 3 * 4 * ((1 + 2 * 3) * 32 - (1 + 2) * 32));
}

/// Mamba-3's kernel rewriting (each token's pair weighted by its own and the next token's step,
/// the diagonal given back, the last pair carried to the next block) against its update run
/// literally token by token, forward and every parameter's gradient, in every form, at odd lengths.
#[test]
fn mamba3_rewriting_equals_the_literal_trapezoidal_update() {
    use seqbench::kernels::verify::rel_rmse;
    use seqbench::model::mixers::linear::LinearMixer;
    use seqbench::model::mixers::mamba3::Mamba3;
    use seqbench::model::mixers::Mixer;
    use seqbench::model::nn::Params;
    let cfg = config::load("mamba3", "tiny").unwrap();
    let p = Params::new(5, &Device::Cpu, DType::F32);
    let m = LinearMixer(Mamba3::new(&cfg.mixer_spec(0), &p, 1.0).unwrap(), Device::Cpu);
    let vars: Vec<_> = p.varmap().all_vars();
    for t in [1, 2, 23, 70] {
        let x = candle_core::Tensor::randn(0f32, 1.0, (2, t, 32), &Device::Cpu).unwrap();
        let literal = m.0.literal(&x).unwrap();
        let lg = literal.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for form in [Form::Recurrent, Form::Chunkwise(16), Form::Parallel] {
            let (y, _) = m.run(&x, None, form).unwrap();
            let err = rel_rmse(&y, &literal).unwrap();
            assert!(err < OUTPUT_TOL, "T={t} {form}: output relative error {err:.2e}");
            let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            for v in &vars {
                let (a, b) = (g.get(v.as_tensor()).unwrap(), lg.get(v.as_tensor()).unwrap());
                let err = rel_rmse(a, b).unwrap();
                assert!(err < GRAD_TOL, "T={t} {form}: gradient relative error {err:.2e}");
            }
        }
    }
}

/// Grouped KV heads (`kv_heads`): 1 and 2 KV heads for 4 query heads, in full, gated and
/// sliding-window attention: the forward equals prefill plus decode (over the window's slides), the
/// cache holds `kv_heads` heads (bytes by the formula), and with one KV head per query head the
/// model is the plain one.
#[test]
fn grouped_kv_heads_decode_and_hold_their_share_of_the_cache() {
    let text = |mixer: &str, kv: usize| {
        let window = if mixer == "sliding_window_attention" { "window = 9\n" } else { "" };
        format!("name = \"g\"\nmixer = \"{mixer}\"\n{window}kv_heads = {kv}\n[sizes.tiny]\nd_model = 32\nn_layers = 2\nhead_dim = 8\n")
    };
    for mixer in ["attention", "gated_attention", "sliding_window_attention"] {
        let mut bytes = Vec::new();
        for kv in [1, 2, 4] {
            let cfg = config::parse(&text(mixer, kv), "g.toml", "tiny", "test").unwrap();
            let m = LanguageModel::new(&cfg, 3, &Device::Cpu, DType::F32).unwrap();
            let (pre, empty, mismatch) = check::decode_agreement(&m, 41, 13).unwrap();
            assert!(pre < DECODE_TOL && empty < DECODE_TOL, "{mixer} kv_heads={kv}: decode {pre:.2e} {empty:.2e}");
            assert_eq!(mismatch, None, "{mixer} kv_heads={kv}: state bytes (held, formula) differ");
            bytes.push(m.state_bytes(1, 5));
        }
        // 2 layers x (k, v) x 5 tokens x kv_heads x 8 x 4 bytes.
        assert_eq!(bytes, vec![2 * 2 * 5 * 8 * 4, 2 * 2 * 5 * 2 * 8 * 4, 2 * 2 * 5 * 4 * 8 * 4], "{mixer}");
    }
    let cfg = config::parse(&text("attention", 4), "g.toml", "tiny", "test").unwrap();
    let plain = LanguageModel::new(&cfg, 11, &Device::Cpu, DType::F32).unwrap();
    let x = seqbench::model::data::byte_ids(2, 17, 5, &Device::Cpu).unwrap();
    let (a, b) = (plain.forward(&x, Form::Recurrent).unwrap(), tiny("attention").forward(&x, Form::Recurrent).unwrap());
    assert_eq!(seqbench::kernels::verify::rel_rmse(&a, &b).unwrap(), 0.0);
}
