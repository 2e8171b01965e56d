//! Generation throughput against batch size under a memory budget (the Mamba paper's inference
//! figure in miniature): prefill a fixed prompt for B sequences, then decode N tokens each; report
//! decode tokens/s. A cell whose memory need exceeds the budget is refused before allocating; the
//! measured peak heap is reported next to the estimate.

use super::{required, CellSpec, Outcome};
use crate::model::data::byte_ids;
use crate::model::LanguageModel;
use candle_core::Tensor;
use std::collections::BTreeMap;

/// Tokens (batch x chunk) per prefill forward: the prompt is prefilled in chunks of
/// `PREFILL_TOKENS / batch` positions, bounding the transient activations as serving engines do.
pub const PREFILL_TOKENS: usize = 2048;

/// Prompt positions per prefill chunk at `batch`.
pub fn prefill_chunk(batch: usize, prompt: usize) -> usize {
    (PREFILL_TOKENS / batch.max(1)).clamp(1, prompt.max(1))
}

/// Bytes a generation cell needs: [`inference_need`] for the prompt and the generated tokens.
pub fn need_bytes(model: &LanguageModel, batch: usize, prompt: usize, tokens: usize) -> usize {
    inference_need(model, batch, prompt + tokens, prefill_chunk(batch, prompt))
}

/// Bytes inference needs, estimated before allocating as an upper bound (`model` may be
/// [`LanguageModel::shapes_only`]): the weights, every sequence's state at `length` tokens twice (a
/// decode step builds the new state, or the longer KV cache, before the old one is freed), and the
/// transient activations of one prefill chunk of `chunk` tokens through one layer (a generous
/// `48 d + 3 d_mlp + vocab` floats per token, which covers the linear family's chunk intermediates
/// as measured on the small models) plus attention's scores against the prefix.
pub fn inference_need(model: &LanguageModel, batch: usize, length: usize, chunk: usize) -> usize {
    let c = &model.config;
    let states = model.state_bytes(batch, length);
    let activations = 4 * batch * chunk * (48 * c.d_model + 3 * c.d_mlp + c.vocab);
    let scores = if c.attention_layers() > 0 { 4 * 3 * batch * (c.d_model / c.head_dim) * chunk * length } else { 0 };
    model.param_bytes() + 2 * states + activations + scores
}

pub fn measure(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let batch = spec.value;
    let prompt = required(spec.settings.prompt, "prompt")?;
    let tokens = required(spec.settings.tokens, "tokens")?;
    let need = need_bytes(model, batch, prompt, tokens);
    let mut metrics = BTreeMap::new();
    metrics.insert("need_bytes".into(), need as f64);
    metrics.insert("state_bytes".into(), model.state_bytes(batch, prompt + tokens) as f64);
    // (A cell over its budget was refused before the model was built: `super::refusal`.)
    if let Some(budget) = spec.settings.mem_budget {
        metrics.insert("budget_bytes".into(), budget as f64);
    }
    let ids = byte_ids(batch, prompt, 3, model.device())?;
    let mut prefill_seconds = Vec::new();
    let samples = crate::measure::sample::sample(&spec.plan, || -> anyhow::Result<_> {
        let device = model.device();
        let ((logits, mut states), prefill) =
            crate::device::timed(device, || model.prefill_chunked(&ids, prefill_chunk(batch, prompt)))?;
        prefill_seconds.push(prefill.as_secs_f64());
        let mut next = greedy(&logits)?;
        let (_, decode) = crate::device::timed(device, || -> candle_core::Result<()> {
            for _ in 0..tokens {
                next = greedy(&model.step(&next, &mut states)?)?;
            }
            Ok(())
        })?;
        Ok(Some(decode))
    })?;
    let generated = (batch * tokens) as f64;
    metrics.insert("median_prefill_seconds".into(), crate::results::stats::Summary::of(&prefill_seconds).median);
    metrics.insert("peak_heap_bytes".into(), crate::measure::alloc::peak() as f64);
    Ok(Outcome::ok(samples.iter().map(|t| generated / t).collect(), metrics))
}

/// The most likely next byte of each sequence, `[B, 1]` u32.
fn greedy(logits: &Tensor) -> candle_core::Result<Tensor> {
    let t = logits.dim(1)?;
    logits.narrow(1, t - 1, 1)?.argmax(candle_core::D::Minus1)
}
