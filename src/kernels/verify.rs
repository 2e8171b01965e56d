//! Numerical agreement checks shared by the test-suite and `seqbench check`: relative errors, seeded
//! kernel inputs for each kind of recurrence, and the comparison of two forms, forward and gradients.

use crate::kernels::{self, Form, Gate, GateKind, Inputs, Recurrence};
use crate::rng;
use candle_core::{DType, Device, Result, Tensor, Var};

/// `||a - b||_2 / max(||b||_2, tiny)`: the relative RMSE of `a` against the reference `b`.
pub fn rel_rmse(a: &Tensor, b: &Tensor) -> Result<f64> {
    let a = host_f64(a)?;
    let b = host_f64(b)?;
    let diff = (a - &b)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    let norm = b.sqr()?.sum_all()?.to_scalar::<f64>()?;
    Ok((diff / norm.max(1e-300)).sqrt())
}

/// `t` in f64 on the host: comparisons run there whatever device computed `t`.
pub fn host_f64(t: &Tensor) -> Result<Tensor> {
    t.to_device(&Device::Cpu)?.to_dtype(DType::F64)
}

/// Kernel inputs held as variables so gradients can be taken.
pub struct KernelCase {
    pub vars: Vec<(&'static str, Var)>,
    pub inputs: Inputs,
}

/// Seeded inputs shaped `[b, t, h, d]`, with values in the ranges the models produce (unit-norm keys
/// for the delta rule, β in (0, 1), log-decays in [-0.3, -0.01]).
pub fn kernel_case(
    kind: Recurrence,
    dims: (usize, usize, usize, usize, usize),
    with_state: bool,
    seed: u64,
    dtype: DType,
) -> Result<KernelCase> {
    kernel_case_on(&Device::Cpu, kind, dims, with_state, seed, dtype)
}

/// [`kernel_case`] with its inputs on `device` (drawn on the CPU, so every device gets the same values).
pub fn kernel_case_on(
    device: &Device,
    kind: Recurrence,
    (b, t, h, dk, dv): (usize, usize, usize, usize, usize),
    with_state: bool,
    seed: u64,
    dtype: DType,
) -> Result<KernelCase> {
    let dev = Device::Cpu;
    let mut vars = Vec::new();
    let mut var = |name: &'static str, t: Tensor| -> Result<Tensor> {
        let v = Var::from_tensor(&t.to_dtype(dtype)?.to_device(device)?)?;
        let out = v.as_tensor().clone();
        vars.push((name, v));
        Ok(out)
    };
    let delta = kind.delta();
    // DeltaProduct: k, v and β carry n rows per token.
    let n = kind.householder();
    let mut k = rng::normal(seed, "k", (b, t * n, h, dk), 1.0, &dev)?;
    let mut q = rng::normal(seed, "q", (b, t, h, dk), 1.0 / (dk as f64).sqrt(), &dev)?;
    if delta {
        k = kernels::l2_normalize(&k, 1e-6)?;
        q = kernels::l2_normalize(&q, 1e-6)?;
    }
    let q = var("q", q)?;
    let k = var("k", k)?;
    let v = var("v", rng::normal(seed, "v", (b, t * n, h, dv), 1.0, &dev)?)?;
    let gate = match kind.gate() {
        GateKind::Scalar => Gate::Scalar(var("g", rng::uniform(seed, "g", (b, t, h), -0.3, -0.01, &dev)?)?),
        GateKind::Channel => Gate::Channel(var("g", rng::uniform(seed, "g", (b, t, h, dk), -0.3, -0.01, &dev)?)?),
        GateKind::None => Gate::None,
    };
    let beta =
        if delta { Some(var("beta", rng::uniform(seed, "beta", (b, t * n, h), 0.05, 1.95, &dev)?)?) } else { None };
    let initial_state =
        if with_state { Some(var("s0", rng::normal(seed, "s0", (b, h, dk, dv), 0.5, &dev)?)?) } else { None };
    let exclusive = kind.exclusive();
    // RWKV-7's shape: a = -κ̂ (unit removal key), b = κ̂ ⊙ â with an in-context rate â in (0, 1).
    let low_rank = if kind.low_rank() {
        let kappa = kernels::l2_normalize(&rng::normal(seed, "kappa", (b, t, h, dk), 1.0, &dev)?, 1e-6)?;
        let rate = rng::uniform(seed, "rate", (b, t, h, dk), 0.05, 0.95, &dev)?;
        Some((var("a", kappa.neg()?)?, var("b", (kappa * rate)?)?))
    } else {
        None
    };
    Ok(KernelCase { vars, inputs: Inputs { q, k, v, gate, beta, initial_state, exclusive, low_rank, householder: n } })
}

/// Outputs and gradients of one form on one case.
pub struct FormResult {
    pub o: Tensor,
    pub state: Tensor,
    pub grads: Vec<(&'static str, Tensor)>,
}

/// Runs `form`, then backpropagates a fixed random projection of the output and final state.
pub fn run_with_grads(case: &KernelCase, form: Form, seed: u64) -> Result<FormResult> {
    run_with_grads_by(case, seed, |inputs| kernels::run(form, inputs))
}

/// [`run_with_grads`] with any implementation of the recurrence (e.g. [`kernels::run_plain`]).
pub fn run_with_grads_by(
    case: &KernelCase,
    seed: u64,
    run: impl Fn(&kernels::Inputs) -> Result<kernels::Output>,
) -> Result<FormResult> {
    let out = run(&case.inputs)?;
    let dtype = out.o.dtype();
    let dev = out.o.device();
    let wo = rng::normal(seed, "loss-o", out.o.dims(), 1.0, &Device::Cpu)?.to_dtype(dtype)?.to_device(dev)?;
    let ws = rng::normal(seed, "loss-s", out.state.dims(), 1.0, &Device::Cpu)?.to_dtype(dtype)?.to_device(dev)?;
    let loss = ((&out.o * wo)?.sum_all()? + (&out.state * ws)?.sum_all()?)?;
    let grads = loss.backward()?;
    let mut named = Vec::new();
    for (name, var) in &case.vars {
        let g = match grads.get(var.as_tensor()) {
            Some(g) => g.clone(),
            None => var.as_tensor().zeros_like()?,
        };
        named.push((*name, g));
    }
    Ok(FormResult { o: out.o, state: out.state, grads: named })
}

/// Largest relative errors of `a` against the reference `b`: (output, state, worst gradient and its name).
pub struct Agreement {
    pub output: f64,
    pub state: f64,
    pub grad: f64,
    pub worst_grad: &'static str,
}

/// Gradients are compared at the scale of the whole gradient: a quantity whose true gradient is (nearly)
/// zero, such as the first decay when there is no initial state, is judged against
/// `1e-3 x ||all reference gradients||`, so rounding noise there is not mistaken for a bug.
pub fn agreement(a: &FormResult, b: &FormResult) -> Result<Agreement> {
    let mut total = 0.0;
    for (_, gb) in &b.grads {
        total += host_f64(gb)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    }
    let floor = 1e-3 * total.sqrt();
    let mut grad = 0.0;
    let mut worst_grad = "-";
    for ((name, ga), (_, gb)) in a.grads.iter().zip(&b.grads) {
        let (ga, gb) = (host_f64(ga)?, host_f64(gb)?);
        let diff = (ga - &gb)?.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt();
        let norm = gb.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt();
        let e = diff / norm.max(floor).max(1e-300);
        if e > grad || e.is_nan() {
            grad = e;
            worst_grad = name;
        }
    }
    Ok(Agreement { output: rel_rmse(&a.o, &b.o)?, state: rel_rmse(&a.state, &b.state)?, grad, worst_grad })
}
