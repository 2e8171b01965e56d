//! Generation throughput against batch size under a memory budget (the Mamba paper's inference
//! figure in miniature): prefill a fixed prompt for B sequences, then decode N tokens each; report
//! decode tokens/s. A cell whose memory need exceeds the budget is refused before allocating.

use super::{required, CellSpec, Outcome, Status};
use crate::check::byte_ids;
use crate::model::LanguageModel;
use candle_core::Tensor;
use std::collections::BTreeMap;
use std::time::Instant;

/// Bytes a generation cell needs: the weights, every sequence's state at its final length, and the
/// prefill's transient activations (about 24 floats per token and channel per layer, plus attention's
/// score matrix for one layer).
pub fn need_bytes(model: &LanguageModel, batch: usize, prompt: usize, tokens: usize) -> usize {
    let c = &model.config;
    let states = model.state_bytes(batch, prompt + tokens);
    let activations = 4 * batch * prompt * (24 * c.d_model + c.vocab);
    let scores = if c.mixer == crate::mixers::MixerKind::Attention {
        4 * 3 * batch * (c.d_model / c.head_dim) * prompt * prompt
    } else {
        0
    };
    model.param_bytes() + states + activations + scores
}

pub fn measure(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let batch = spec.value;
    let prompt = required(spec.settings.prompt, "prompt")?;
    let tokens = required(spec.settings.tokens, "tokens")?;
    let need = need_bytes(model, batch, prompt, tokens);
    let mut metrics = BTreeMap::new();
    metrics.insert("need_bytes".into(), need as f64);
    metrics.insert("state_bytes".into(), model.state_bytes(batch, prompt + tokens) as f64);
    if let Some(budget) = spec.settings.mem_budget {
        metrics.insert("budget_bytes".into(), budget as f64);
        if need as u64 > budget {
            let msg = format!("needs {} bytes, over the budget of {budget} bytes", need);
            return Ok(Outcome { status: Status::Refused, samples: vec![], metrics, error: Some(msg) });
        }
    }
    let ids = byte_ids(batch, prompt, 3, model.device())?;
    let mut prefill_seconds = Vec::new();
    let samples = crate::stats::sample(&spec.plan, || -> anyhow::Result<_> {
        let t0 = Instant::now();
        let (logits, mut states) = model.prefill(&ids, model.default_form())?;
        prefill_seconds.push(t0.elapsed().as_secs_f64());
        let mut next = greedy(&logits)?;
        let t1 = Instant::now();
        for _ in 0..tokens {
            next = greedy(&model.step(&next, &mut states)?)?;
        }
        Ok(Some(t1.elapsed()))
    })?;
    let generated = (batch * tokens) as f64;
    metrics.insert("median_prefill_seconds".into(), crate::stats::Summary::of(&prefill_seconds).median);
    Ok(Outcome::ok(samples.iter().map(|t| generated / t).collect(), metrics))
}

/// The most likely next byte of each sequence, `[B, 1]` u32.
fn greedy(logits: &Tensor) -> candle_core::Result<Tensor> {
    let t = logits.dim(1)?;
    logits.narrow(1, t - 1, 1)?.argmax(candle_core::D::Minus1)
}
