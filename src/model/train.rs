//! Training: AdamW on next-byte prediction, with linear warm-up, cosine decay and global-norm clipping.

use crate::kernels::Form;
use crate::model::data::{valid_windows, Batch, Batcher, Corpus};
use crate::model::optim::Optimizer;
use crate::model::LanguageModel;
use candle_core::{Result, Tensor};
use candle_nn::ParamsAdamW;
use serde::Serialize;
use std::ops::ControlFlow;
use std::time::Instant;

/// Hyper-parameters of a training run.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOptions {
    pub steps: usize,
    pub seq_len: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Warm-up steps (linear from 0), then cosine decay to 10% of `lr`.
    pub warmup: usize,
    /// Global gradient-norm clip.
    pub clip: f64,
    pub seed: u64,
    #[serde(serialize_with = "crate::model::train::ser_form")]
    pub form: Form,
    /// Validation windows evaluated at the end (at most).
    pub valid_windows: usize,
    /// Each mixer recomputed in the backward instead of keeping its activations
    /// ([`crate::model::recompute`]).
    pub recompute: bool,
}

pub(crate) fn ser_form<S: serde::Serializer>(f: &Form, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&f.to_string())
}

impl TrainOptions {
    /// `steps` steps of `batch` sequences of `seq_len` bytes at peak learning rate `lr`, with the
    /// defaults every caller starts from: warm-up over a tenth of the steps, no weight decay,
    /// gradient-norm clip 1, 64 validation windows.
    pub fn new(steps: usize, seq_len: usize, batch: usize, lr: f64, seed: u64, form: Form) -> TrainOptions {
        TrainOptions {
            steps,
            seq_len,
            batch,
            lr,
            weight_decay: 0.0,
            warmup: (steps / 10).max(1),
            clip: 1.0,
            seed,
            form,
            valid_windows: 64,
            recompute: false,
        }
    }

    /// Learning rate at `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = (self.steps - self.warmup).max(1) as f64;
        let progress = ((step - self.warmup) as f64 / span).min(1.0);
        self.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
    }
}

/// What one step reports to the caller (for progress display).
pub struct StepInfo {
    pub step: usize,
    pub loss: f64,
    pub tokens_per_sec: f64,
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// Training loss (nats/byte) at every step.
    pub losses: Vec<f64>,
    /// Validation loss (nats/byte) after training.
    pub valid_loss: f64,
    pub valid_bits_per_byte: f64,
    /// The source's entropy on the validation split (bits/byte), for the built-in corpus.
    pub entropy_floor_bits: Option<f64>,
    pub tokens_per_sec: f64,
    pub seconds: f64,
    /// Steps skipped under f16 because the scaled gradients overflowed (0 otherwise).
    pub skipped_steps: usize,
}

/// What [`fit`] did.
pub struct Fitted {
    /// The loss of every step (nats).
    pub losses: Vec<f64>,
    pub seconds: f64,
    /// Steps skipped because a scaled f16 gradient overflowed (see [`crate::model::optim`]).
    pub skipped_steps: usize,
}

/// Runs up to `opts.steps` AdamW steps on batches from `next_batch`; `on_step` sees every step and
/// stops training early by returning `Break` (the recall tasks' early stopping). Shared by language
/// modelling and the supervised tasks.
pub fn fit(
    model: &LanguageModel,
    opts: &TrainOptions,
    mut next_batch: impl FnMut(usize) -> Result<Batch>,
    mut on_step: impl FnMut(&StepInfo) -> anyhow::Result<ControlFlow<()>>,
) -> anyhow::Result<Fitted> {
    let params = ParamsAdamW { lr: opts.lr, weight_decay: opts.weight_decay, ..Default::default() };
    model.set_recompute(opts.recompute)?;
    let mut opt = Optimizer::for_model(model, params)?;
    let mut losses = Vec::with_capacity(opts.steps);
    let start = Instant::now();
    for step in 0..opts.steps {
        let t0 = Instant::now();
        let batch = next_batch(step)?;
        let loss = match &batch.mask {
            None => model.loss(&batch.x, &batch.y, opts.form)?,
            Some(mask) => model.masked_loss(&batch.x, &batch.y, mask, opts.form)?,
        };
        let grads = opt.backward(&loss)?;
        let loss = loss.to_scalar::<f32>()? as f64;
        if !loss.is_finite() {
            anyhow::bail!("training diverged at step {step}: loss is {loss}");
        }
        // None: an f16 gradient overflowed under the loss scale; the step is skipped.
        if let Some(grads) = grads {
            opt.set_learning_rate(opts.lr_at(step));
            opt.step(grads, Some(opts.clip))?;
        }
        losses.push(loss);
        let (b, t) = batch.x.dims2()?;
        let tps = (b * t) as f64 / t0.elapsed().as_secs_f64();
        if on_step(&StepInfo { step, loss, tokens_per_sec: tps })?.is_break() {
            break;
        }
    }
    Ok(Fitted { losses, seconds: start.elapsed().as_secs_f64(), skipped_steps: opt.skipped_steps })
}

/// Trains `model` on `corpus` (language modelling); `on_step` sees every step.
pub fn train(
    model: &LanguageModel,
    corpus: &Corpus,
    opts: &TrainOptions,
    mut on_step: impl FnMut(&StepInfo),
) -> anyhow::Result<TrainReport> {
    let mut batcher = Batcher::new(opts.seed);
    let dev = model.device().clone();
    let Fitted { losses, seconds, skipped_steps } = fit(
        model,
        opts,
        |_| {
            let (x, y) = batcher.sample(&corpus.train, opts.batch, opts.seq_len, &dev)?;
            Ok(Batch { x, y, mask: None })
        },
        |s| {
            on_step(s);
            Ok(ControlFlow::Continue(()))
        },
    )?;
    let valid_loss = evaluate(model, &corpus.valid, opts.seq_len, opts.batch, opts.valid_windows)?;
    let tokens = losses.len() * opts.batch * opts.seq_len;
    Ok(TrainReport {
        losses,
        valid_loss,
        valid_bits_per_byte: valid_loss / std::f64::consts::LN_2,
        entropy_floor_bits: corpus.entropy_floor(),
        tokens_per_sec: tokens as f64 / seconds.max(1e-9),
        seconds,
        skipped_steps,
    })
}

/// Mean next-byte loss (nats) over consecutive validation windows, in batches.
pub fn evaluate(model: &LanguageModel, data: &[u8], seq_len: usize, batch: usize, max_windows: usize) -> Result<f64> {
    let windows = valid_windows(data, seq_len, max_windows);
    if windows.is_empty() {
        candle_core::bail!("validation split of {} bytes is shorter than one window of {seq_len}", data.len())
    }
    let (mut total, mut count) = (0f64, 0usize);
    for group in windows.chunks(batch.max(1)) {
        let b = group.len();
        let x: Vec<u32> = group.iter().flat_map(|(x, _)| x.iter().copied()).collect();
        let y: Vec<u32> = group.iter().flat_map(|(_, y)| y.iter().copied()).collect();
        let x = Tensor::from_vec(x, (b, seq_len), model.device())?;
        let y = Tensor::from_vec(y, (b, seq_len), model.device())?;
        let loss = model.loss(&x, &y, model.default_form())?.to_scalar::<f32>()? as f64;
        total += loss * (b * seq_len) as f64;
        count += b * seq_len;
    }
    Ok(total / count as f64)
}
