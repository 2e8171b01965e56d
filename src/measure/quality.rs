//! Quality beside speed: language-modelling loss after a fixed training budget, and the supervised
//! tasks (MQAR recall, copy, state tracking) trained under one protocol ([`Protocol`], Zoology's):
//! every learning rate of the sweep on each of the sweep's seeds, each run stopped early once its
//! validation accuracy reaches the threshold; one rate chosen per cell by the median validation
//! accuracy across those seeds, the other seeds trained at it; each seed's test accuracy at the
//! chosen rate is a sample, so the cell's spread is the seeds' spread, and the fraction of the sweep's
//! runs that solve the setting is its robustness. Real training; the figures are whatever the models
//! reach.

use super::{required, CellSpec, Measurement, Outcome};
use crate::model::data::copy::CopyConfig;
use crate::model::data::mqar::{Layout, MqarConfig};
use crate::model::data::state_tracking::{Group, WordProblemConfig};
use crate::model::data::{Corpus, Examples, Splits};
use crate::model::train::{fit, train, TrainOptions};
use crate::model::LanguageModel;
use crate::results::stats::median;
use crate::rng;
use candle_core::D;
use rand::Rng;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

pub use crate::results::cell::{DEFAULT_LR, ROBUST_ACCURACY};
/// Steps between validation evaluations when a section names none.
pub const DEFAULT_EVAL_EVERY: usize = 100;

/// How a quality cell trains: seeds, learning rates, budget, early stopping.
#[derive(Clone, Debug)]
pub struct Protocol {
    pub seeds: Vec<u64>,
    pub lrs: Vec<f64>,
    pub steps: usize,
    pub batch: usize,
    /// Validation accuracy that ends a run (and the sweep); `None`: always the full budget.
    pub early_stop: Option<f64>,
    pub eval_every: usize,
}

impl Protocol {
    /// From a cell's settings: seeds `spec.seed ..`, the sweep `lrs` (or the one `lr`).
    pub fn of(spec: &CellSpec) -> anyhow::Result<Protocol> {
        let s = &spec.settings;
        let n = s.seeds.unwrap_or(1).max(1) as u64;
        Ok(Protocol {
            seeds: (spec.seed..spec.seed + n).collect(),
            lrs: s.lrs.clone().unwrap_or_else(|| vec![s.lr.unwrap_or(DEFAULT_LR)]),
            steps: required(s.steps, "steps")?,
            batch: required(s.batch, "batch")?,
            early_stop: s.early_stop,
            eval_every: s.eval_every.unwrap_or(DEFAULT_EVAL_EVERY).max(1),
        })
    }

    pub(crate) fn options(&self, model: &LanguageModel, seq_len: usize, lr: f64, seed: u64) -> TrainOptions {
        TrainOptions::new(self.steps, seq_len, self.batch, lr, seed, model.default_form())
    }
}

/// A fresh model of the cell's configuration for `seed`, on the cell's device and dtype.
fn fresh(model: &LanguageModel, spec: &CellSpec, seed: u64) -> anyhow::Result<LanguageModel> {
    Ok(LanguageModel::new(&spec.model, seed, model.device(), crate::device::dtype())?)
}

/// Language modelling on the built-in corpus: validation bits/byte after `steps` steps, one sample per
/// seed (the corpus is the suite seed's; a seed changes the initial weights and the batches).
pub fn measure_lm(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let seq_len = required(spec.settings.seq_len, "seq_len")?;
    let protocol = Protocol::of(spec)?;
    let corpus = Corpus::synthetic_sized(400_000, spec.seed);
    let lr = protocol.lrs[0];
    let mut metrics = BTreeMap::new();
    let mut samples = Vec::new();
    let mut seconds = 0.0;
    for &seed in &protocol.seeds {
        let m = fresh(model, spec, seed)?;
        let r = train(&m, &corpus, &protocol.options(&m, seq_len, lr, seed), |_| {})?;
        seconds += r.seconds;
        metrics.insert(format!("seed.{seed}.final_train_loss_nats"), *r.losses.last().unwrap_or(&f64::NAN));
        if seed == spec.seed {
            // The loss curve of the first seed, every step (nats/byte), as metrics `loss_curve.NNNNN`.
            for (i, l) in r.losses.iter().enumerate() {
                metrics.insert(format!("loss_curve.{i:05}"), *l);
            }
            metrics.insert("final_train_loss_nats".into(), *r.losses.last().unwrap_or(&f64::NAN));
        }
        if let Some(floor) = r.entropy_floor_bits {
            metrics.insert("entropy_floor_bits".into(), floor);
        }
        samples.push(r.valid_bits_per_byte);
    }
    if let Some(floor) = metrics.get("entropy_floor_bits").copied() {
        metrics.insert("gap_to_floor_bits".into(), median(&samples) - floor);
    }
    metrics.insert("train_seconds".into(), seconds);
    metrics.insert("state_bytes".into(), model.state_bytes(1, seq_len) as f64);
    Ok(Outcome::ok(samples, metrics))
}

/// Fraction of masked positions where the argmax prediction equals the target.
pub fn accuracy(model: &LanguageModel, ex: &Examples, batch: usize) -> candle_core::Result<f64> {
    let (mut right, mut total) = (0f64, 0f64);
    let idx: Vec<usize> = (0..ex.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let b = ex.batch(chunk, model.device())?;
        let pred = model.forward(&b.x, model.default_form())?.argmax(D::Minus1)?; // [B, T]
        let hit = pred.eq(&b.y)?.to_dtype(candle_core::DType::F32)?;
        let mask = b.mask.expect("task batches carry a mask");
        right += (hit * &mask)?.sum_all()?.to_scalar::<f32>()? as f64;
        total += mask.sum_all()?.to_scalar::<f32>()? as f64;
    }
    Ok(if total > 0.0 { right / total } else { 0.0 })
}

/// One training run of the sweep.
struct Run {
    lr: f64,
    /// `(steps done, validation accuracy)` at every evaluation.
    curve: Vec<(usize, f64)>,
    valid: f64,
    test: f64,
    steps: usize,
    seconds: f64,
    final_loss: f64,
}

/// Trains a fresh model for `seed` at `lr` on `data.train` (random batches, loss at masked positions),
/// evaluating validation accuracy every `eval_every` steps (the learning curve) and stopping once it
/// reaches the early-stopping threshold.
fn train_run(
    model: &LanguageModel,
    spec: &CellSpec,
    protocol: &Protocol,
    data: &Splits,
    seed: u64,
    lr: f64,
) -> anyhow::Result<Run> {
    let m = fresh(model, spec, seed)?;
    let opts = protocol.options(&m, data.train.seq_len, lr, seed);
    let eval_batch = protocol.batch.max(64);
    let mut r = rng::stream(seed, "recall-batches");
    let mut curve = Vec::new();
    let fitted = fit(
        &m,
        &opts,
        |_| {
            let idx: Vec<usize> = (0..opts.batch).map(|_| r.random_range(0..data.train.len())).collect();
            data.train.batch(&idx, m.device())
        },
        |s| {
            if (s.step + 1) % protocol.eval_every != 0 || s.step + 1 == opts.steps {
                return Ok(ControlFlow::Continue(()));
            }
            let acc = accuracy(&m, &data.valid, eval_batch)?;
            curve.push((s.step + 1, acc));
            let solved = protocol.early_stop.is_some_and(|t| acc >= t);
            Ok(if solved { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        },
    )?;
    let steps = fitted.losses.len();
    // The validation accuracy of the final weights (already known when training stopped early).
    if curve.last().is_none_or(|&(s, _)| s != steps) {
        curve.push((steps, accuracy(&m, &data.valid, eval_batch)?));
    }
    Ok(Run {
        lr,
        valid: curve.last().expect("evaluated").1,
        curve,
        test: accuracy(&m, &data.test, eval_batch)?,
        steps,
        seconds: fitted.seconds,
        final_loss: *fitted.losses.last().unwrap_or(&f64::NAN),
    })
}

/// The learning rate whose median validation accuracy over `runs` (each `(rate index, valid)`) is
/// highest; the lower rate on a tie.
fn choose_rate(n_rates: usize, runs: &[(usize, f64)]) -> usize {
    let medians: Vec<f64> = (0..n_rates)
        .map(|i| median(&runs.iter().filter(|(r, _)| *r == i).map(|(_, v)| *v).collect::<Vec<_>>()))
        .collect();
    (0..n_rates).fold(0, |best, i| if medians[i] > medians[best] { i } else { best })
}

/// The protocol over seeds, Zoology's way: `splits(seed)` gives each seed its data. Every rate of
/// the sweep trains on each of the first `sweep_seeds` seeds (every run early-stopped, none
/// skipped); the rate with the best median validation accuracy across those seeds is chosen for the
/// cell, and the remaining seeds train at it alone. Samples: every seed's test accuracy at the
/// chosen rate. Metrics: `lr` (the choice), `sweep.I.{lr,valid_median}` per rate,
/// `seed.S.{valid_accuracy,steps,...}` at the choice, `seed.S.sweep.I.valid_accuracy` per run,
/// `robustness` (the fraction of the sweep's runs whose validation accuracy reaches
/// [`ROBUST_ACCURACY`]), the totals, the state bytes at the task's length and the parameters.
fn supervised(
    model: &LanguageModel,
    spec: &CellSpec,
    splits: impl Fn(u64) -> anyhow::Result<Splits>,
) -> anyhow::Result<Outcome> {
    let protocol = Protocol::of(spec)?;
    let mut metrics = BTreeMap::new();
    let (mut seconds, mut steps, mut seq_len) = (0.0, 0usize, 0usize);
    let sweep_seeds = spec.settings.sweep_seeds.unwrap_or(protocol.seeds.len()).clamp(1, protocol.seeds.len());
    let mut chosen: BTreeMap<u64, Run> = BTreeMap::new();
    let mut run_at = |seed: u64, lr: f64, data: &Splits| -> anyhow::Result<Run> {
        let run = train_run(model, spec, &protocol, data, seed, lr)?;
        seconds += run.seconds;
        steps += run.steps;
        Ok(run)
    };
    // The sweep: every (rate, seed) pair on the sweep's seeds.
    let mut sweep: Vec<(usize, u64, Run)> = Vec::new();
    for &seed in &protocol.seeds[..sweep_seeds] {
        let d = splits(seed)?;
        seq_len = seq_len.max(d.test.seq_len);
        for (i, &lr) in protocol.lrs.iter().enumerate() {
            let run = run_at(seed, lr, &d)?;
            metrics.insert(format!("seed.{seed}.sweep.{i}.valid_accuracy"), run.valid);
            sweep.push((i, seed, run));
        }
    }
    let valids: Vec<(usize, f64)> = sweep.iter().map(|(i, _, r)| (*i, r.valid)).collect();
    let best = choose_rate(protocol.lrs.len(), &valids);
    for (i, &lr) in protocol.lrs.iter().enumerate() {
        let at: Vec<f64> = valids.iter().filter(|(r, _)| *r == i).map(|(_, v)| *v).collect();
        metrics.insert(format!("sweep.{i}.lr"), lr);
        metrics.insert(format!("sweep.{i}.valid_median"), median(&at));
    }
    let solved = valids.iter().filter(|(_, v)| *v >= ROBUST_ACCURACY).count();
    metrics.insert("robustness".into(), solved as f64 / valids.len() as f64);
    metrics.insert("sweep_runs".into(), valids.len() as f64);
    metrics.insert("lr".into(), protocol.lrs[best]);
    for (i, seed, run) in sweep {
        if i == best {
            chosen.insert(seed, run);
        }
    }
    // The remaining seeds at the chosen rate.
    for &seed in &protocol.seeds[sweep_seeds..] {
        let d = splits(seed)?;
        seq_len = seq_len.max(d.test.seq_len);
        chosen.insert(seed, run_at(seed, protocol.lrs[best], &d)?);
    }
    let mut samples = Vec::new();
    for &seed in &protocol.seeds {
        let run = &chosen[&seed];
        metrics.insert(format!("seed.{seed}.lr"), run.lr);
        metrics.insert(format!("seed.{seed}.valid_accuracy"), run.valid);
        metrics.insert(format!("seed.{seed}.steps"), run.steps as f64);
        metrics.insert(format!("seed.{seed}.final_train_loss_nats"), run.final_loss);
        for (step, acc) in &run.curve {
            metrics.insert(format!("seed.{seed}.valid_curve.{step:06}"), *acc);
        }
        samples.push(run.test);
    }
    let valid: Vec<f64> = protocol.seeds.iter().map(|s| metrics[&format!("seed.{s}.valid_accuracy")]).collect();
    metrics.insert("valid_accuracy".into(), median(&valid));
    metrics.insert("state_bytes".into(), model.state_bytes(1, seq_len) as f64);
    metrics.insert("train_seconds".into(), seconds);
    metrics.insert("train_steps".into(), steps as f64);
    metrics.insert("params".into(), model.num_params() as f64);
    Ok(Outcome::ok(samples, metrics))
}

/// MQAR: the swept value is the number of pairs (`mqar_accuracy`), the model width (`mqar_width`)
/// or the test length (`mqar_length`: trained at `seq_len`, the test's queries pushed back from
/// their keys by the difference, see [`MqarConfig::generate_extrapolated`]).
pub fn measure_mqar(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let s = &spec.settings;
    let kv_pairs = match spec.measurement {
        Measurement::MqarWidth | Measurement::MqarLength => required(s.kv_pairs, "kv_pairs")?,
        _ => spec.value,
    };
    let layout = s.layout.as_deref().map(Layout::parse).transpose().map_err(anyhow::Error::msg)?.unwrap_or_default();
    let (vocab, seq_len) = (required(s.vocab, "vocab")?, required(s.seq_len, "seq_len")?);
    let (train_examples, test_examples) =
        (required(s.train_examples, "train_examples")?, required(s.test_examples, "test_examples")?);
    supervised(model, spec, |seed| {
        let config = MqarConfig { vocab, seq_len, kv_pairs, train_examples, test_examples, seed, layout };
        Ok(match spec.measurement {
            Measurement::MqarLength => config.generate_extrapolated(spec.value)?,
            _ => config.generate()?,
        })
    })
}

/// Copy: the swept value is the length of the string to copy.
pub fn measure_copy(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let s = &spec.settings;
    let alphabet = required(s.vocab, "vocab")?;
    let (train_examples, test_examples) =
        (required(s.train_examples, "train_examples")?, required(s.test_examples, "test_examples")?);
    supervised(model, spec, |seed| {
        Ok(CopyConfig { alphabet, length: spec.value, train_examples, test_examples, seed }.generate()?)
    })
}

/// State tracking (parity, or a group's word problem): trained at `train_len`, tested at the swept
/// length; the sample is the accuracy beyond the training length, `valid_accuracy` the in-length one.
pub fn measure_word_problem(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let s = &spec.settings;
    let group = match spec.measurement {
        Measurement::ParityAccuracy => Group::PARITY,
        _ => Group::parse(s.group.as_deref().unwrap_or("s3")).map_err(anyhow::Error::msg)?,
    };
    let train_len = required(s.train_len, "train_len")?;
    let (train_examples, test_examples) =
        (required(s.train_examples, "train_examples")?, required(s.test_examples, "test_examples")?);
    supervised(model, spec, |seed| {
        Ok(WordProblemConfig { group, train_len, test_len: spec.value, train_examples, test_examples, seed }
            .generate()?)
    })
}
