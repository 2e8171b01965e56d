//! `seqbench train`: train one model, show progress, report validation loss against the entropy floor.

use crate::cli::TrainArgs;
use crate::error::usage;
use crate::kernels::Form;
use crate::model::config::{self, ModelConfig};
use crate::model::data::Corpus;
use crate::model::memory;
use crate::model::train::{train, TrainOptions, TrainReport};
use crate::model::LanguageModel;
use crate::output::{bytes, count, progress, table};
use indicatif::ProgressStyle;
use serde::Serialize;

/// What `--json` writes.
#[derive(Serialize)]
struct TrainOutput<'a> {
    schema: &'static str,
    seqbench_version: &'static str,
    model: &'a ModelConfig,
    params: usize,
    device: String,
    /// Precision of the matrix products (`f32`, `bf16`, `f16`).
    dtype: &'static str,
    corpus: &'a str,
    options: &'a TrainOptions,
    report: &'a TrainReport,
}

/// Validated training options from the command line.
pub fn options(args: &TrainArgs, cfg: &ModelConfig) -> anyhow::Result<TrainOptions> {
    if args.steps == 0 {
        return Err(usage("--steps must be at least 1"));
    }
    if args.seq_len < 2 || args.seq_len > 1 << 20 {
        return Err(usage(format!("--seq-len must be between 2 and 1048576 (got {})", args.seq_len)));
    }
    if args.batch == 0 || args.batch > 1 << 16 {
        return Err(usage(format!("--batch must be between 1 and 65536 (got {})", args.batch)));
    }
    if !(args.lr > 0.0 && args.lr.is_finite()) {
        return Err(usage(format!("--lr must be a positive number (got {})", args.lr)));
    }
    if !(args.weight_decay >= 0.0 && args.weight_decay.is_finite()) {
        return Err(usage(format!("--weight-decay must be non-negative (got {})", args.weight_decay)));
    }
    let form = match &args.form {
        None => Form::Chunkwise(cfg.chunk_size),
        Some(f) => Form::parse(f).map_err(usage)?,
    };
    Ok(TrainOptions {
        weight_decay: args.weight_decay,
        recompute: args.recompute,
        ..TrainOptions::new(args.steps, args.seq_len, args.batch, args.lr, args.seed, form)
    })
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let cfg = config::load(&args.model, &args.size)?;
    let mut opts = options(args, &cfg)?;
    let corpus = match &args.corpus {
        Some(path) => Corpus::from_file(path, opts.seq_len)?,
        None => Corpus::synthetic(opts.seed),
    };
    if corpus.valid.len() < opts.seq_len + 1 {
        return Err(usage(format!(
            "--seq-len {} is longer than the validation split ({} bytes)",
            opts.seq_len,
            corpus.valid.len()
        )));
    }
    // Decided from the config's shapes before any weight is allocated.
    let device = crate::device::selected()?;
    let params = LanguageModel::shapes_only(&cfg, crate::device::dtype())?.num_params();
    match memory::training_policy(&cfg, params, &device, opts.batch, opts.seq_len, opts.form, opts.recompute) {
        Ok(recompute) => {
            if recompute && !opts.recompute {
                eprintln!(
                    "note: with every layer's activations kept this would not fit; recomputing the mixers in the backward (--recompute)"
                );
            }
            opts.recompute = recompute;
        }
        Err(too_big) => {
            return Err(usage(format!(
                "training {} at batch {} x {} bytes ({}) needs about {} of memory; {} is available on {}",
                cfg.label(),
                opts.batch,
                opts.seq_len,
                opts.form,
                bytes(too_big.need),
                bytes(too_big.available),
                crate::device::spec()
            )))
        }
    }
    let model = LanguageModel::new(&cfg, opts.seed, &device, crate::device::dtype())?;
    model.set_recompute(opts.recompute).map_err(|e| usage(format!("--recompute: {e}")))?;
    eprintln!(
        "training {} ({} params, {}) on {} for {} steps of {} x {} bytes, form {}{}, products in {} on {}",
        cfg.label(),
        count(model.num_params()),
        bytes(model.param_bytes()),
        corpus.name,
        opts.steps,
        opts.batch,
        opts.seq_len,
        opts.form,
        if opts.recompute { ", mixers recomputed in the backward" } else { "" },
        model.dtype().as_str(),
        crate::device::spec()
    );
    let bar = progress(args.common.quiet, opts.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps, eta {eta} {msg}")
            .expect("valid template"),
    );
    let mut smoothed = None::<f64>;
    let report = train(&model, &corpus, &opts, |s| {
        let ema = smoothed.map_or(s.loss, |e| 0.9 * e + 0.1 * s.loss);
        smoothed = Some(ema);
        bar.set_position(s.step as u64 + 1);
        bar.set_message(format!("loss {ema:.3}  {:.0} tok/s", s.tokens_per_sec));
    })?;
    bar.finish_and_clear();

    let tail = &report.losses[report.losses.len() - (report.losses.len() / 10).max(1)..];
    let train_loss = tail.iter().sum::<f64>() / tail.len() as f64;
    let mut t = table(&["measure", "value"]);
    t.add_row(vec!["model".to_string(), cfg.label()]);
    t.add_row(vec![
        "first / final train loss (nats/byte)".into(),
        format!("{:.3} / {train_loss:.3}", report.losses[0]),
    ]);
    t.add_row(vec!["validation loss (nats/byte)".into(), format!("{:.4}", report.valid_loss)]);
    t.add_row(vec!["validation bits/byte".into(), format!("{:.4}", report.valid_bits_per_byte)]);
    if let Some(floor) = report.entropy_floor_bits {
        t.add_row(vec!["source entropy floor (bits/byte)".into(), format!("{floor:.4}")]);
        t.add_row(vec!["gap to floor (bits/byte)".into(), format!("{:.4}", report.valid_bits_per_byte - floor)]);
    }
    t.add_row(vec!["training throughput (tokens/s)".into(), format!("{:.0}", report.tokens_per_sec)]);
    t.add_row(vec!["wall time (s)".into(), format!("{:.1}", report.seconds)]);
    if report.skipped_steps > 0 {
        t.add_row(vec!["steps skipped (f16 gradient overflow)".into(), report.skipped_steps.to_string()]);
    }
    println!("{t}");
    if let Some(path) = &args.save {
        model.save(path).map_err(|e| anyhow::anyhow!("{}: cannot save weights: {e}", path.display()))?;
        println!("weights saved to {}", path.display());
    }
    if let Some(path) = &args.json {
        let out = TrainOutput {
            schema: "seqbench.train/1",
            seqbench_version: env!("CARGO_PKG_VERSION"),
            model: &cfg,
            params: model.num_params(),
            device: crate::device::spec(),
            dtype: model.dtype().as_str(),
            corpus: &corpus.name,
            options: &opts,
            report: &report,
        };
        crate::report::export(&crate::report::Json, &out, path)?;
        println!("report written to {}", path.display());
    }
    Ok(())
}
