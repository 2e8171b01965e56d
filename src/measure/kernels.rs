//! `seqbench bench kernels`: forward and forward+backward time of each kernel and form over a grid
//! of (batch, T), heads and head dim fixed per run, with softmax attention (fused and plain) as the
//! baseline, as flash-linear-attention's op benchmarks do. Each timing is the median of samples
//! after warm-up; the loss of forward+backward is `Σ o ⊙ w` with a fixed random `w`.

use crate::kernels::verify::kernel_case_on;
use crate::kernels::Recurrence;
use crate::kernels::{self, Form};
use crate::measure::sample::sample;
use crate::results::kernels::KernelRow;
use crate::results::stats::{SamplePlan, Summary};
use candle_core::{DType, Device, Result, Tensor, Var};

/// One implementation being timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// Causal softmax attention: the fused CPU op.
    AttentionFused,
    /// Causal softmax attention as plain candle ops (matmul, mask, softmax, matmul).
    AttentionPlain,
    /// A linear recurrence in a form; `fused` selects the fused scan (recurrent form only).
    Linear { kind: Recurrence, form: Form, fused: bool },
}

impl Implementation {
    pub fn kernel(&self) -> String {
        match self {
            Implementation::AttentionFused | Implementation::AttentionPlain => "softmax-attention".into(),
            Implementation::Linear { kind, .. } => kind.name().to_string(),
        }
    }
    pub fn form(&self) -> String {
        match self {
            Implementation::AttentionFused => "fused".into(),
            Implementation::AttentionPlain => "plain".into(),
            Implementation::Linear { fused: true, .. } => "recurrent (fused)".into(),
            Implementation::Linear { form, .. } => form.to_string(),
        }
    }
}

/// The implementations a benchmark covers for a list of kernels (`attention`, or recurrence names)
/// and forms (`recurrent`, `fused`, `chunkwise:C`, `parallel`).
pub fn implementations(kernels: &[String], forms: &[String]) -> std::result::Result<Vec<Implementation>, String> {
    let mut out = Vec::new();
    for k in kernels {
        if k == "attention" || k == "softmax-attention" {
            out.push(Implementation::AttentionFused);
            out.push(Implementation::AttentionPlain);
            continue;
        }
        let kind = Recurrence::ALL.iter().find(|r| r.name() == k).ok_or_else(|| {
            let known: Vec<_> = Recurrence::ALL.iter().map(|r| r.name()).collect();
            format!("unknown kernel `{k}` (known: attention, {})", known.join(", "))
        })?;
        for f in forms {
            let (form, fused) = match f.as_str() {
                "fused" => (Form::Recurrent, true),
                // The family's usual chunk: per-channel gates materialise [C, C, d_k] per chunk.
                "chunkwise" if kind.channel_gated() => (Form::Chunkwise(16), false),
                other => (Form::parse(other)?, false),
            };
            // RWKV-7's rank-one transition has no fused scan.
            if fused && *kind == Recurrence::LowRank {
                continue;
            }
            out.push(Implementation::Linear { kind: *kind, form, fused });
        }
    }
    Ok(out)
}

/// A first run longer than this is the point's only sample (the plain recurrent form at long T
/// takes tens of seconds; its cost is linear in T and barely varies).
pub const SLOW_SECONDS: f64 = 5.0;

/// Samples `f` by the plan, unless its first run is slower than [`SLOW_SECONDS`]: then that run is
/// the only sample.
fn sample_or_once(plan: &SamplePlan, mut f: impl FnMut() -> Result<std::time::Duration>) -> Result<Vec<f64>> {
    let first = f()?.as_secs_f64();
    if first > SLOW_SECONDS {
        return Ok(vec![first]);
    }
    sample(plan, || f().map(Some))
}

/// Times one implementation at one grid point.
pub fn measure(
    imp: Implementation,
    device: &Device,
    batch: usize,
    t: usize,
    heads: usize,
    d: usize,
    plan: &SamplePlan,
) -> Result<KernelRow> {
    let dev = device.clone();
    let seed = 17;
    let run: Box<dyn Fn() -> Result<(Tensor, Vec<Var>)>> = match imp {
        Implementation::AttentionFused | Implementation::AttentionPlain => {
            let var = |name: &str| Var::from_tensor(&crate::rng::normal(seed, name, (batch, heads, t, d), 1.0, &dev)?);
            let (q, k, v) = (var("q")?, var("k")?, var("v")?);
            let scale = 1.0 / (d as f64).sqrt();
            Box::new(move || {
                let o = if imp == Implementation::AttentionFused {
                    crate::kernels::attention::fused::causal_attention(&q, &k, &v, scale, None)?
                } else {
                    crate::kernels::attention::reference::causal_attention(&q, &k, &v, scale, None)?
                };
                Ok((o, vec![q.clone(), k.clone(), v.clone()]))
            })
        }
        Implementation::Linear { kind, form, fused } => {
            let case = kernel_case_on(&dev, kind, (batch, t, heads, d, d), false, seed, DType::F32)?;
            Box::new(move || {
                let out =
                    if fused { kernels::run(form, &case.inputs)? } else { kernels::run_plain(form, &case.inputs)? };
                Ok((out.o, case.vars.iter().map(|(_, v)| v.clone()).collect()))
            })
        }
    };
    let forward = sample_or_once(plan, || Ok(crate::device::timed(&dev, &run)?.1))?;
    let w = crate::rng::normal(seed, "w", run()?.0.dims(), 1.0, &dev)?;
    let backward = sample_or_once(plan, || {
        let (_, elapsed) = crate::device::timed(&dev, || -> Result<()> {
            let (o, _) = run()?;
            drop((o * &w)?.sum_all()?.backward()?);
            Ok(())
        })?;
        Ok(elapsed)
    })?;
    let (f, b) = (Summary::of(&forward), Summary::of(&backward));
    Ok(KernelRow {
        kernel: imp.kernel(),
        form: imp.form(),
        batch,
        seq_len: t,
        heads,
        head_dim: d,
        tokens_per_s: (batch * t) as f64 / b.median,
        forward: f,
        forward_samples: forward,
        backward: b,
        backward_samples: backward,
    })
}
