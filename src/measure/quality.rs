//! Quality beside speed: language-modelling loss after a fixed training budget, and recall (MQAR and
//! copy) accuracy after training on the task. Real training; the figures are whatever the models reach.

use super::{required, CellSpec, Measurement, Outcome};
use crate::model::data::copy::CopyConfig;
use crate::model::data::mqar::{Examples, MqarConfig};
use crate::model::data::Corpus;
use crate::model::train::{fit, train, TrainOptions};
use crate::model::LanguageModel;
use crate::rng;
use candle_core::D;
use rand::Rng;
use std::collections::BTreeMap;

/// Options shared by the quality cells, from the cell's settings.
fn train_options(model: &LanguageModel, spec: &CellSpec, seq_len: usize) -> anyhow::Result<TrainOptions> {
    Ok(TrainOptions::new(
        required(spec.settings.steps, "steps")?,
        seq_len,
        required(spec.settings.batch, "batch")?,
        spec.settings.lr.unwrap_or(3e-3),
        spec.seed,
        model.default_form(),
    ))
}

/// Language modelling on the built-in corpus: validation bits/byte after `steps` steps.
pub fn measure_lm(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let seq_len = required(spec.settings.seq_len, "seq_len")?;
    let opts = train_options(model, spec, seq_len)?;
    let corpus = Corpus::synthetic_sized(400_000, spec.seed);
    let r = train(model, &corpus, &opts, |_| {})?;
    let mut metrics = BTreeMap::new();
    if let Some(floor) = r.entropy_floor_bits {
        metrics.insert("entropy_floor_bits".into(), floor);
        metrics.insert("gap_to_floor_bits".into(), r.valid_bits_per_byte - floor);
    }
    metrics.insert("train_seconds".into(), r.seconds);
    metrics.insert("final_train_loss_nats".into(), *r.losses.last().unwrap_or(&f64::NAN));
    metrics.insert("state_bytes".into(), model.state_bytes(1, seq_len) as f64);
    // The loss curve, every step (nats/byte), as metrics `loss_curve.NNNNN`.
    for (i, l) in r.losses.iter().enumerate() {
        metrics.insert(format!("loss_curve.{i:05}"), *l);
    }
    Ok(Outcome::ok(vec![r.valid_bits_per_byte], metrics))
}

/// Fraction of masked positions where the argmax prediction equals the target.
pub fn accuracy(model: &LanguageModel, ex: &Examples, batch: usize) -> candle_core::Result<f64> {
    let (mut right, mut total) = (0f64, 0f64);
    let idx: Vec<usize> = (0..ex.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let b = ex.batch(chunk, model.device())?;
        let pred = model.forward(&b.x, model.default_form())?.argmax(D::Minus1)?; // [B, T]
        let hit = pred.eq(&b.y)?.to_dtype(candle_core::DType::F32)?;
        let mask = b.mask.expect("recall batches carry a mask");
        right += (hit * &mask)?.sum_all()?.to_scalar::<f32>()? as f64;
        total += mask.sum_all()?.to_scalar::<f32>()? as f64;
    }
    Ok(if total > 0.0 { right / total } else { 0.0 })
}

/// Trains on `train` (random batches, loss only at masked positions), returns test accuracy.
fn recall(model: &LanguageModel, spec: &CellSpec, train_ex: &Examples, test_ex: &Examples) -> anyhow::Result<Outcome> {
    let opts = train_options(model, spec, train_ex.seq_len)?;
    let mut r = rng::stream(spec.seed, "recall-batches");
    let crate::model::train::Fitted { losses, seconds, .. } = fit(
        model,
        &opts,
        |_| {
            let idx: Vec<usize> = (0..opts.batch).map(|_| r.random_range(0..train_ex.len())).collect();
            train_ex.batch(&idx, model.device())
        },
        |_| {},
    )?;
    let acc = accuracy(model, test_ex, opts.batch)?;
    let mut metrics = BTreeMap::new();
    metrics.insert("state_bytes".into(), model.state_bytes(1, train_ex.seq_len) as f64);
    metrics.insert("train_seconds".into(), seconds);
    metrics.insert("final_train_loss_nats".into(), *losses.last().unwrap_or(&f64::NAN));
    metrics.insert("params".into(), model.num_params() as f64);
    Ok(Outcome::ok(vec![acc], metrics))
}

/// MQAR: the swept value is the number of pairs (`mqar_accuracy`) or the model width (`mqar_width`).
pub fn measure_mqar(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let kv_pairs = match spec.measurement {
        Measurement::MqarWidth => required(spec.settings.kv_pairs, "kv_pairs")?,
        _ => spec.value,
    };
    let cfg = MqarConfig {
        vocab: required(spec.settings.vocab, "vocab")?,
        seq_len: required(spec.settings.seq_len, "seq_len")?,
        kv_pairs,
        train_examples: required(spec.settings.train_examples, "train_examples")?,
        test_examples: required(spec.settings.test_examples, "test_examples")?,
        seed: spec.seed,
    };
    let (train_ex, test_ex) = cfg.generate()?;
    recall(model, spec, &train_ex, &test_ex)
}

/// Copy: the swept value is the length of the string to copy.
pub fn measure_copy(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let cfg = CopyConfig {
        alphabet: required(spec.settings.vocab, "vocab")?,
        length: spec.value,
        train_examples: required(spec.settings.train_examples, "train_examples")?,
        test_examples: required(spec.settings.test_examples, "test_examples")?,
        seed: spec.seed,
    };
    let (train_ex, test_ex) = cfg.generate()?;
    recall(model, spec, &train_ex, &test_ex)
}
