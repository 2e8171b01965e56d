//! The state's precision: a language model trained as the `lm` section trains it, then decoded
//! token by token over held-out bytes (teacher-forced: each step is given the true next byte) with
//! its state (recurrent state or KV cache) rounded to bf16, and to f16, after every step, against the
//! same decode with the state in f32. A recurrent state is rewritten at every token and carries its
//! rounding forward; a KV cache row is rounded once. Sample: the bf16 decode's top-1 agreement with
//! the f32 decode; metrics per state dtype: `{dtype}.agreement`, `{dtype}.bits_per_byte` and
//! `{dtype}.bits_delta` (its bits/byte minus the f32 decode's), and `f32.bits_per_byte`.

use super::quality::Protocol;
use super::{required, CellSpec, Outcome};
use crate::model::data::Corpus;
use crate::model::mixers::State;
use crate::model::train::train;
use crate::model::LanguageModel;
use candle_core::{DType, Tensor};
use std::collections::BTreeMap;

/// What one teacher-forced decode predicted.
struct Decode {
    /// The argmax byte at every step.
    top1: Vec<u32>,
    /// Mean information of the true next byte (bits/byte).
    bits_per_byte: f64,
}

/// Decodes `bytes[..n]` one byte per step, scoring each step's prediction of the next byte, with the
/// state rounded through `store` after every step (`None`: kept as it is, f32).
fn decode(model: &LanguageModel, bytes: &[u8], store: Option<DType>) -> anyhow::Result<Decode> {
    let mut states = model.empty_states(1)?;
    let (mut top1, mut nats) = (Vec::with_capacity(bytes.len()), 0.0);
    for pair in bytes.windows(2) {
        let id = Tensor::new(&[[pair[0] as u32]], model.device())?;
        let logits: Vec<f32> = model.step(&id, &mut states)?.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
        if let Some(dtype) = store {
            states = states.iter().map(|s| s.rounded_through(dtype)).collect::<candle_core::Result<Vec<State>>>()?;
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum = logits.iter().map(|l| ((l - max) as f64).exp()).sum::<f64>().ln() + max as f64;
        nats += log_sum - logits[pair[1] as usize] as f64;
        top1.push(logits.iter().enumerate().fold(0, |best, (i, &l)| if l > logits[best] { i } else { best }) as u32);
    }
    let n = bytes.len().saturating_sub(1).max(1) as f64;
    Ok(Decode { top1, bits_per_byte: nats / n / std::f64::consts::LN_2 })
}

/// Trains `model` on the built-in corpus (the cell's steps, sequence length, batch and rate, its
/// first seed) and decodes the first `spec.value` held-out bytes in f32, bf16 and f16 states.
pub fn measure(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let seq_len = required(spec.settings.seq_len, "seq_len")?;
    let protocol = Protocol::of(spec)?;
    let corpus = Corpus::synthetic_sized(400_000, spec.seed);
    let options = protocol.options(model, seq_len, protocol.lrs[0], spec.seed);
    let trained = train(model, &corpus, &options, |_| {})?;
    let bytes = &corpus.valid[..(spec.value + 1).min(corpus.valid.len())];
    let exact = decode(model, bytes, None)?;
    let mut metrics = BTreeMap::new();
    metrics.insert("f32.bits_per_byte".into(), exact.bits_per_byte);
    metrics.insert("valid_bits_per_byte".into(), trained.valid_bits_per_byte);
    metrics.insert("train_seconds".into(), trained.seconds);
    metrics.insert("state_bytes".into(), model.state_bytes(1, bytes.len()) as f64);
    let mut samples = Vec::new();
    for (name, dtype) in [("bf16", DType::BF16), ("f16", DType::F16)] {
        let rounded = decode(model, bytes, Some(dtype))?;
        let same = rounded.top1.iter().zip(&exact.top1).filter(|(a, b)| a == b).count();
        let agreement = same as f64 / exact.top1.len().max(1) as f64;
        metrics.insert(format!("{name}.agreement"), agreement);
        metrics.insert(format!("{name}.bits_per_byte"), rounded.bits_per_byte);
        metrics.insert(format!("{name}.bits_delta"), rounded.bits_per_byte - exact.bits_per_byte);
        if dtype == DType::BF16 {
            samples.push(agreement);
        }
    }
    Ok(Outcome::ok(samples, metrics))
}
