//! Command-line definitions (clap derive), nothing else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// seqbench: is the Transformer's era over? Measure it on your own hardware.
///
/// Trains and runs softmax attention, LSTM/GRU and the linear-attention family (linear attention,
/// RetNet, Mamba-2, GLA, DeltaNet, Gated DeltaNet) as byte-level language models with identical
/// scaffolding, so the token mixer is the only difference.
#[derive(Debug, Parser)]
#[command(name = "seqbench", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every model: mixer, sizes, parameters, and state size as the sequence grows.
    List(ListArgs),
    /// Verify each model: its kernel forms agree (forward and gradients), the full forward equals
    /// prefill + token-by-token decode, every parameter gets a gradient. Exits 1 on any failure.
    Check(CheckArgs),
    /// Train one model with AdamW on the built-in synthetic corpus or your own text file.
    Train(TrainArgs),
}

/// Options every command that runs models accepts.
#[derive(Debug, Args)]
pub struct Common {
    /// CPU threads for tensor work (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Size preset to describe (each model file defines `tiny` and `small`).
    #[arg(long, default_value = "small")]
    pub size: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Models to check (names or paths to .toml files); default: every shipped model.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Size preset to check at.
    #[arg(long, default_value = "tiny")]
    pub size: String,
    /// Sequence length of the checks (odd lengths exercise chunk padding).
    #[arg(long, default_value_t = 65)]
    pub seq_len: usize,
    /// Write the rows as JSON to this file as well.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Model to train: a shipped name (see `seqbench list`), `name@size`, or a path to a .toml file.
    #[arg(long, short, default_value = "gated-deltanet")]
    pub model: String,
    /// Size preset (ignored when the model name carries `@size`).
    #[arg(long, default_value = "small")]
    pub size: String,
    /// Optimizer steps.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// Tokens (bytes) per training sequence.
    #[arg(long, default_value_t = 256)]
    pub seq_len: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Peak learning rate (linear warm-up over 10% of the steps, then cosine decay to 10%).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Seed for weights, data and batches (same seed, same config: identical losses).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train on this text file (last 10% held out for validation) instead of the built-in corpus.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Kernel form for the linear family: chunkwise[:C], parallel or recurrent (default: chunkwise
    /// with the model's chunk size).
    #[arg(long)]
    pub form: Option<String>,
    /// Save the trained weights as safetensors.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Write the training report (config, options, loss curve, validation) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}
