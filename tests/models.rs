//! Every model: the full-sequence forward equals prefill plus token-by-token decode; the linear family's
//! forms agree through the whole model (logits and every parameter's gradient); every parameter gets a
//! finite, non-zero gradient; the exact state bytes match the formula.

use candle_core::{DType, Device, Tensor};
use seqbench::config;
use seqbench::kernels::Form;
use seqbench::model::LanguageModel;
use seqbench::verify::rel_rmse;

fn ids(b: usize, t: usize, seed: u64) -> Tensor {
    let data: Vec<u32> = (0..b * t).map(|i| ((i as u64 * 2654435761 + seed * 97) % 251) as u32).collect();
    Tensor::from_vec(data, (b, t), &Device::Cpu).unwrap()
}

fn tiny(name: &str) -> LanguageModel {
    let cfg = config::load(name, "tiny").unwrap();
    LanguageModel::new(&cfg, 11, &Device::Cpu).unwrap()
}

#[test]
fn forward_equals_prefill_plus_decode() {
    for name in config::built_in_names() {
        let m = tiny(name);
        let (b, t, prompt) = (2, 37, 20);
        let x = ids(b, t, 3);
        let full = m.forward(&x, m.default_form()).unwrap();
        let (pre, mut states) = m.prefill(&x.narrow(1, 0, prompt).unwrap(), m.default_form()).unwrap();
        let mut parts = vec![pre];
        for i in prompt..t {
            parts.push(m.step(&x.narrow(1, i, 1).unwrap(), &mut states).unwrap());
        }
        let decoded = Tensor::cat(&parts, 1).unwrap();
        let err = rel_rmse(&decoded, &full).unwrap();
        assert!(err < 1e-4, "{name}: prefill+decode vs forward relative error {err:.2e}");
        // Decoding from the empty state, token by token, gives the same as well.
        let mut states = m.empty_states(b).unwrap();
        let steps: Vec<_> = (0..t).map(|i| m.step(&x.narrow(1, i, 1).unwrap(), &mut states).unwrap()).collect();
        let err = rel_rmse(&Tensor::cat(&steps, 1).unwrap(), &full).unwrap();
        assert!(err < 1e-4, "{name}: decode from empty state vs forward relative error {err:.2e}");
        let held: usize = states.iter().map(|s| s.bytes()).sum();
        assert_eq!(held, m.state_bytes(b, t), "{name}: state bytes differ from the formula");
    }
}

#[test]
fn forms_agree_through_the_model() {
    for name in config::built_in_names() {
        let m = tiny(name);
        if !m.config.mixer.is_linear() {
            continue;
        }
        let x = ids(2, 65, 5);
        let y = ids(2, 65, 6);
        let run = |form: Form| {
            let loss = m.loss(&x, &y, form).unwrap();
            let grads = loss.backward().unwrap();
            let logits = m.forward(&x, form).unwrap();
            let g: Vec<Tensor> = m.named_vars().iter().map(|(_, v)| grads.get(v.as_tensor()).unwrap().clone()).collect();
            (logits, g)
        };
        let (base, base_g) = run(Form::Recurrent);
        for form in [Form::Chunkwise(16), Form::Chunkwise(64), Form::Parallel] {
            let (other, other_g) = run(form);
            let err = rel_rmse(&other, &base).unwrap();
            assert!(err < 1e-5, "{name} {form}: logits relative error {err:.2e}");
            for ((pname, _), (a, b)) in m.named_vars().iter().zip(other_g.iter().zip(&base_g)) {
                let err = rel_rmse(a, b).unwrap();
                assert!(err < 1e-4, "{name} {form}: gradient of {pname} relative error {err:.2e}");
            }
        }
    }
}

#[test]
fn every_parameter_gets_a_gradient() {
    for name in config::built_in_names() {
        let m = tiny(name);
        let loss = m.loss(&ids(2, 33, 1), &ids(2, 33, 2), m.default_form()).unwrap();
        let grads = loss.backward().unwrap();
        for (pname, var) in m.named_vars() {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
            let g = g.to_dtype(DType::F64).unwrap();
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap();
            assert!(norm.is_finite() && norm > 0.0, "{name}: gradient of {pname} has squared norm {norm}");
        }
    }
}
