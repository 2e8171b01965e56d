//! The kernels' three forms agree with each other and with the scalar f64 oracle, forward and
//! backward, at odd lengths, with and without an initial state; a finite-difference check in f64
//! confirms the chunkwise gradients.

use candle_core::{DType, Tensor};
use seqbench::kernels::verify::{agreement, kernel_case, rel_rmse, run_with_grads};
use seqbench::kernels::Recurrence;
use seqbench::kernels::{self, reference, Form, Gate, Inputs};

const LENGTHS: [usize; 5] = [1, 15, 64, 65, 200];
const FORMS: [Form; 3] = [Form::Chunkwise(16), Form::Chunkwise(64), Form::Parallel];

#[test]
fn forms_agree_with_oracle_and_each_other() {
    let mut failures = Vec::new();
    for kind in Recurrence::ALL {
        for &t in &LENGTHS {
            for with_state in [false, true] {
                let seed = 7 + t as u64;
                let case = kernel_case(kind, (2, t, 2, 16, 12), with_state, seed, DType::F32).unwrap();
                let oracle = reference::run(&case.inputs).unwrap();
                let base = run_with_grads(&case, Form::Recurrent, seed).unwrap();
                let e_ref = rel_rmse(&base.o, &oracle.o).unwrap().max(rel_rmse(&base.state, &oracle.state).unwrap());
                if !(e_ref < 1e-5) {
                    failures.push(format!("{} T={t} state={with_state}: recurrent vs oracle {e_ref:.2e}", kind.name()));
                }
                for form in FORMS {
                    let other = run_with_grads(&case, form, seed).unwrap();
                    let a = agreement(&other, &base).unwrap();
                    let e_oracle = rel_rmse(&other.o, &oracle.o).unwrap();
                    if !(a.output < 1e-5 && a.state < 1e-5 && e_oracle < 1e-5 && a.grad < 1e-4) {
                        failures.push(format!(
                            "{} T={t} state={with_state} {form}: out {:.2e} state {:.2e} oracle {e_oracle:.2e} grad({}) {:.2e}",
                            kind.name(), a.output, a.state, a.worst_grad, a.grad
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} disagreements:\n{}", failures.len(), failures.join("\n"));
}

/// Central differences in f64 on every input of the chunkwise form (chunk 4, T = 11: three chunks,
/// the last one padded).
#[test]
fn chunkwise_gradients_match_finite_differences() {
    for kind in Recurrence::ALL {
        let case = kernel_case(kind, (1, 11, 2, 4, 3), true, 3, DType::F64).unwrap();
        let form = Form::Chunkwise(4);
        let analytic = run_with_grads(&case, form, 5).unwrap();
        let loss_of = |inputs: &Inputs| -> f64 {
            let out = kernels::run(form, inputs).unwrap();
            let wo = seqbench::rng::normal(5, "loss-o", out.o.dims(), 1.0, &candle_core::Device::Cpu).unwrap();
            let ws = seqbench::rng::normal(5, "loss-s", out.state.dims(), 1.0, &candle_core::Device::Cpu).unwrap();
            let l = (out.o * wo.to_dtype(DType::F64).unwrap()).unwrap().sum_all().unwrap();
            let s = (out.state * ws.to_dtype(DType::F64).unwrap()).unwrap().sum_all().unwrap();
            (l + s).unwrap().to_scalar::<f64>().unwrap()
        };
        for (idx, (name, var)) in case.vars.iter().enumerate() {
            let base: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let dims = var.as_tensor().dims().to_vec();
            let mut numeric = vec![0f64; base.len()];
            let h = 1e-6;
            for i in 0..base.len() {
                let eval = |delta: f64| {
                    let mut p = base.clone();
                    p[i] += delta;
                    let replaced = Tensor::from_vec(p, dims.as_slice(), &candle_core::Device::Cpu).unwrap();
                    let mut inputs = case.inputs.clone();
                    replace(&mut inputs, name, replaced);
                    loss_of(&inputs)
                };
                numeric[i] = (eval(h) - eval(-h)) / (2.0 * h);
            }
            let numeric = Tensor::from_vec(numeric, dims.as_slice(), &candle_core::Device::Cpu).unwrap();
            let err = rel_rmse(&analytic.grads[idx].1, &numeric).unwrap();
            assert!(err < 1e-6, "{} d/d{name}: relative error {err:.2e}", kind.name());
        }
    }
}

fn replace(inputs: &mut Inputs, name: &str, t: Tensor) {
    match name {
        "q" => inputs.q = t,
        "k" => inputs.k = t,
        "v" => inputs.v = t,
        "beta" => inputs.beta = Some(t),
        "s0" => inputs.initial_state = Some(t),
        "a" => inputs.low_rank = inputs.low_rank.take().map(|(_, b)| (t, b)),
        "b" => inputs.low_rank = inputs.low_rank.take().map(|(a, _)| (a, t)),
        "g" => {
            inputs.gate = match inputs.gate {
                Gate::Scalar(_) => Gate::Scalar(t),
                Gate::Channel(_) => Gate::Channel(t),
                Gate::None => unreachable!(),
            }
        }
        other => panic!("unknown input {other}"),
    }
}
