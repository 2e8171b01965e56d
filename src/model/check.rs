//! The correctness checks behind `seqbench check` and the test-suite: each model's forms agree, the
//! full-sequence forward equals prefill plus decode, every parameter receives a gradient; and each
//! kind of recurrence's kernels agree with the scalar f64 oracle.

use crate::kernels::verify::{agreement, kernel_case_on, rel_rmse, run_with_grads};
use crate::kernels::Recurrence;
use crate::kernels::{reference, Form};
use crate::model::LanguageModel;
use candle_core::{DType, Device, Result, Tensor};

/// Tolerances (relative RMSE) the checks must meet, in f32.
pub const OUTPUT_TOL: f64 = 1e-5;
pub const GRAD_TOL: f64 = 1e-4;
pub const DECODE_TOL: f64 = 1e-4;

/// Tolerances of the model checks for a compute dtype. The forms differ only in f32 kernel
/// arithmetic, but under bf16/f16 each layer rounds its (slightly different) inputs to the products'
/// precision, so agreement is judged at that precision: a few units of its roundoff (2⁻⁸ for bf16,
/// 2⁻¹¹ for f16). A wrong form or state is off by far more (order one).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Tolerances {
    pub output: f64,
    pub grad: f64,
    pub decode: f64,
}

impl Tolerances {
    pub fn for_dtype(dtype: DType) -> Tolerances {
        match dtype {
            DType::BF16 => Tolerances { output: 1e-2, grad: 3e-2, decode: 1e-2 },
            DType::F16 => Tolerances { output: 2e-3, grad: 1e-2, decode: 2e-3 },
            _ => Tolerances { output: OUTPUT_TOL, grad: GRAD_TOL, decode: DECODE_TOL },
        }
    }
}

/// One line of the check report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckRow {
    pub subject: String,
    pub check: String,
    pub output_err: Option<f64>,
    pub grad_err: Option<f64>,
    pub passed: bool,
    pub note: String,
}

/// Logits and every parameter's gradient (in name order) of the loss in `form`.
fn logits_and_grads(m: &LanguageModel, x: &Tensor, y: &Tensor, form: Form) -> Result<(Tensor, Vec<Tensor>)> {
    let grads = m.backward(&m.loss(x, y, form)?)?;
    let g = m
        .named_vars()
        .iter()
        .map(|(_, v)| grads.get(v.as_tensor()).cloned().map_or_else(|| v.as_tensor().zeros_like(), Ok))
        .collect::<Result<Vec<_>>>()?;
    Ok((m.forward(x, form)?, g))
}

/// Largest relative errors of `form` against the recurrent form through the whole model at length
/// `t`: (logits, worst parameter gradient, that parameter's name).
pub fn form_agreement(m: &LanguageModel, form: Form, t: usize) -> Result<(f64, f64, String)> {
    let dev = m.device();
    let (x, y) = (crate::model::data::byte_ids(2, t, 5, dev)?, crate::model::data::byte_ids(2, t, 6, dev)?);
    let base = logits_and_grads(m, &x, &y, Form::Recurrent)?;
    let other = logits_and_grads(m, &x, &y, form)?;
    worst_disagreement(m, &other, &base)
}

/// Largest relative errors of a training step whose mixers are recomputed in the backward
/// ([`crate::model::recompute`]) against one that keeps their activations, in the model's default
/// form at length `t`: (logits, worst parameter gradient, that parameter's name). CPU only.
pub fn recompute_agreement(m: &LanguageModel, t: usize) -> Result<(f64, f64, String)> {
    let dev = m.device();
    let (x, y) = (crate::model::data::byte_ids(2, t, 5, dev)?, crate::model::data::byte_ids(2, t, 6, dev)?);
    let was = m.recomputes();
    m.set_recompute(false)?;
    let kept = logits_and_grads(m, &x, &y, m.default_form())?;
    m.set_recompute(true)?;
    let recomputed = logits_and_grads(m, &x, &y, m.default_form());
    m.set_recompute(was)?;
    worst_disagreement(m, &recomputed?, &kept)
}

/// (logits' relative error, the worst parameter gradient's, its name) of `other` against `base`.
fn worst_disagreement(
    m: &LanguageModel,
    (other, other_g): &(Tensor, Vec<Tensor>),
    (base, base_g): &(Tensor, Vec<Tensor>),
) -> Result<(f64, f64, String)> {
    let mut worst = (0.0, String::from("-"));
    for ((name, _), (a, b)) in m.named_vars().iter().zip(other_g.iter().zip(base_g)) {
        let e = rel_rmse(a, b)?;
        if e > worst.0 || e.is_nan() {
            worst = (e, name.clone());
        }
    }
    Ok((rel_rmse(other, base)?, worst.0, worst.1))
}

/// `Some((bytes held, bytes by formula))` when a state's exact size differs from its formula.
pub type BytesMismatch = Option<(usize, usize)>;

/// Relative error of prefill(`prompt` tokens) + token-by-token decode against the full forward at
/// length `t`, and of decoding everything from the empty state; also checks the state's exact bytes
/// against the formula.
pub fn decode_agreement(m: &LanguageModel, t: usize, prompt: usize) -> Result<(f64, f64, BytesMismatch)> {
    let b = 2;
    let x = crate::model::data::byte_ids(b, t, 3, m.device())?;
    let full = m.forward(&x, m.default_form())?;
    let (pre, mut states) = m.prefill(&x.narrow(1, 0, prompt)?, m.default_form())?;
    let mut parts = vec![pre];
    for i in prompt..t {
        parts.push(m.step(&x.narrow(1, i, 1)?, &mut states)?);
    }
    let with_prefill = rel_rmse(&Tensor::cat(&parts, 1)?, &full)?;
    let mut states = m.empty_states(b)?;
    let steps = (0..t).map(|i| m.step(&x.narrow(1, i, 1)?, &mut states)).collect::<Result<Vec<_>>>()?;
    let from_empty = rel_rmse(&Tensor::cat(&steps, 1)?, &full)?;
    let held: usize = states.iter().map(|s| s.bytes()).sum();
    let formula = m.state_bytes(b, t);
    Ok((with_prefill, from_empty, (held != formula).then_some((held, formula))))
}

/// Names of parameters whose gradient after one loss evaluation is missing, zero or not finite.
pub fn parameters_without_gradient(m: &LanguageModel) -> Result<Vec<String>> {
    let dev = m.device();
    let grads = m.backward(&m.loss(
        &crate::model::data::byte_ids(2, 33, 1, dev)?,
        &crate::model::data::byte_ids(2, 33, 2, dev)?,
        m.default_form(),
    )?)?;
    let mut bad = Vec::new();
    for (name, var) in m.named_vars() {
        let ok = match grads.get(var.as_tensor()) {
            None => false,
            Some(g) => {
                let sq = g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
                sq.is_finite() && sq > 0.0
            }
        };
        if !ok {
            bad.push(name);
        }
    }
    Ok(bad)
}

/// All model-level checks for one model, at length `t` (odd lengths catch padding bugs), at the
/// tolerances of the model's compute dtype.
pub fn check_model(m: &LanguageModel, t: usize) -> Result<Vec<CheckRow>> {
    let tol = Tolerances::for_dtype(m.dtype());
    let subject = m.config.label();
    let mut rows = Vec::new();
    if m.config.has_linear() {
        for form in [Form::Chunkwise(16), Form::Chunkwise(64), Form::Parallel] {
            let (out, grad, worst) = form_agreement(m, form, t)?;
            rows.push(CheckRow {
                subject: subject.clone(),
                check: format!("recurrent vs {form} (T={t})"),
                output_err: Some(out),
                grad_err: Some(grad),
                passed: out < tol.output && grad < tol.grad,
                note: format!("worst gradient: {worst}"),
            });
        }
    }
    if m.device().is_cpu() {
        let (out, grad, worst) = recompute_agreement(m, t)?;
        rows.push(CheckRow {
            subject: subject.clone(),
            check: format!("kept activations vs recomputed mixers (T={t})"),
            output_err: Some(out),
            grad_err: Some(grad),
            passed: out < tol.output && grad < tol.grad,
            note: format!("worst gradient: {worst}"),
        });
    }
    let prompt = t / 2;
    let (pre, empty, bytes) = decode_agreement(m, t, prompt)?;
    let err = pre.max(empty);
    rows.push(CheckRow {
        subject: subject.clone(),
        check: format!("forward vs prefill({prompt}) + decode (T={t})"),
        output_err: Some(err),
        grad_err: None,
        passed: err < tol.decode && bytes.is_none(),
        note: match bytes {
            None => "state bytes match formula".into(),
            Some((held, formula)) => format!("state holds {held} B, formula says {formula} B"),
        },
    });
    let missing = parameters_without_gradient(m)?;
    rows.push(CheckRow {
        subject,
        check: "every parameter gets a gradient".into(),
        output_err: None,
        grad_err: None,
        passed: missing.is_empty(),
        note: if missing.is_empty() {
            format!("{} tensors", m.named_vars().len())
        } else {
            format!("no gradient: {}", missing.join(", "))
        },
    });
    Ok(rows)
}

/// The kernels of one kind of recurrence in every form on `device` against the f64 oracle (on the
/// host), with an initial state.
pub fn check_kernel(kind: Recurrence, t: usize, device: &Device) -> Result<Vec<CheckRow>> {
    let case = kernel_case_on(device, kind, (2, t, 2, 16, 12), true, 42, DType::F32)?;
    let oracle = reference::run(&case.inputs)?;
    let base = run_with_grads(&case, Form::Recurrent, 42)?;
    let mut rows = Vec::new();
    let e = rel_rmse(&base.o, &oracle.o)?.max(rel_rmse(&base.state, &oracle.state)?);
    rows.push(CheckRow {
        subject: format!("kernel:{}", kind.name()),
        check: format!("recurrent vs f64 oracle (T={t})"),
        output_err: Some(e),
        grad_err: None,
        passed: e < OUTPUT_TOL,
        note: "outputs and final state".into(),
    });
    for form in [Form::Chunkwise(16), Form::Chunkwise(64), Form::Parallel] {
        let other = run_with_grads(&case, form, 42)?;
        let a = agreement(&other, &base)?;
        let out = a.output.max(a.state).max(rel_rmse(&other.o, &oracle.o)?);
        rows.push(CheckRow {
            subject: format!("kernel:{}", kind.name()),
            check: format!("recurrent vs {form} (T={t})"),
            output_err: Some(out),
            grad_err: Some(a.grad),
            passed: out < OUTPUT_TOL && a.grad < GRAD_TOL,
            note: format!("worst gradient: {}", a.worst_grad),
        });
    }
    Ok(rows)
}
