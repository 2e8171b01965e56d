//! The command line's definitions (clap derive), nothing else.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// seqbench: is the Transformer's era over? Measure it on your own hardware.
///
/// Trains and runs softmax attention, the classic gated RNNs (LSTM, GRU), the linear-attention family
/// and hybrid stacks as byte-level language models with identical scaffolding, so the token mixer is
/// the only difference (`seqbench list` shows every model and its state update).
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
    /// Run a benchmark suite (default `quick`): training throughput, latency, memory and generation
    /// for every model, each cell in its own process; writes results/<run-id>/results.{json,csv,md}.
    Run(RunArgs),
    /// Measure training throughput (tokens/s of forward + backward + AdamW) over sequence lengths.
    TrainSpeed(TrainSpeedArgs),
    /// Measure time to first token and the per-token decode latency at positions.
    Latency(LatencyArgs),
    /// Measure state / KV-cache bytes, heap and RSS as the sequence grows.
    Memory(MemoryArgs),
    /// Measure generation throughput as the batch grows, refusing what exceeds a memory budget.
    Generate(GenerateArgs),
    /// Compare two runs cell by cell: change of the median with a bootstrap interval, a rank-sum test,
    /// a verdict per cell. Exit 0 no regression, 1 regression, 2 bad input.
    Compare(CompareArgs),
    /// A/B regression check on one machine: run a suite (default `ci`) with a baseline binary and a
    /// candidate binary alternately, cell by cell, in interleaved rounds, and compare the pairs.
    /// Exit 0 no regression, 1 regression, 2 bad input.
    Ab(AbArgs),
    /// Join the results of sharded runs (`run --shard I/N`) into one run directory.
    Merge(MergeArgs),
    /// Draw a run's charts (SVG) and write report.html (self-contained) and results.md with links to
    /// the charts; with --compare, also the change of every cell from a baseline (compare.svg).
    Report(ReportArgs),
    /// Op-level benchmarks: `seqbench bench kernels` times each kernel form, forward and backward.
    Bench(BenchCommand),
    /// Render every figure README.md and docs/ quote from the committed runs they cite, between
    /// `<!-- generated: KIND ARGS -->` and `<!-- end generated -->` markers; with --check, change
    /// nothing and exit 1 if a block differs, a cited results/ path is not tracked by git, or
    /// README.md has a number with a unit outside the markers.
    Docs(DocsArgs),
    /// Print what results record about this machine and this binary: CPU and its ISA level, the
    /// commit the binary was built from (`-dirty` if uncommitted), its sha256, the compiled-in
    /// target features, and the calibration matmul's GFLOP/s.
    Env(EnvArgs),
    /// (internal) Run one cell given as JSON on stdin; used by `run` for process isolation.
    #[command(hide = true)]
    Cell,
}

#[derive(Debug, Args)]
pub struct DocsArgs {
    /// Check only: exit 1 on any difference or problem, writing nothing.
    #[arg(long)]
    pub check: bool,
    /// The repository's root (default: the current directory).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Print the environment as JSON (the `environment` object of results.json).
    #[arg(long)]
    pub json: bool,
    /// Skip the calibration matmul (about a second); `calibration_gflops` is then 0.
    #[arg(long)]
    pub no_calibration: bool,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Baseline: a results.json or a run directory.
    pub baseline: PathBuf,
    /// New run: a results.json or a run directory.
    pub new: PathBuf,
    /// Regression threshold in percent: a cell regresses when its median is worse by more than this
    /// (and the rank-sum test is significant).
    #[arg(long, default_value_t = 5.0)]
    pub threshold: f64,
    /// Per-measurement threshold, e.g. `decode_latency=10` or `latency=10` (repeatable).
    #[arg(long)]
    pub threshold_for: Vec<String>,
    /// Compare figures divided by each run's own calibration (GFLOP/s), so a baseline from another
    /// machine is usable.
    #[arg(long)]
    pub normalize: bool,
    /// Write the comparison as Markdown to this file (`-` for stdout).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Show only improved and regressed cells.
    #[arg(long)]
    pub only_changes: bool,
    /// Write github-action-benchmark custom JSON of the new run into this directory
    /// (bigger_is_better.json, smaller_is_better.json).
    #[arg(long)]
    pub github_action: Option<PathBuf>,
    /// Write the new run in bencher's Benchmark Metric Format to this file.
    #[arg(long)]
    pub bencher: Option<PathBuf>,
    /// Write the comparison as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Noise: on the 2-core development machine, 10 A/A runs of the ci suite (the same binary on both \
sides) gave no false alarm at the defaults, and injected slowdowns of 25% and 2x were caught in every \
timed cell (docs/ci.md; scripts/ab-noise.sh reproduces it). The test-only knob SEQBENCH_TEST_SLOWDOWN=F \
stretches every timed sample of the candidate F times."
)]
pub struct AbArgs {
    /// Suite: a shipped name (ci, quick, full) or a path to a suite .toml file.
    #[arg(default_value = "ci")]
    pub suite: String,
    /// The baseline binary (a seqbench built from the reference commit).
    #[arg(long)]
    pub baseline: PathBuf,
    /// The candidate binary (default: this one).
    #[arg(long)]
    pub candidate: Option<PathBuf>,
    /// The commit the baseline binary was built from, recorded when the binary is too old to report
    /// its own (`seqbench env`); refused when the binary reports another.
    #[arg(long)]
    pub baseline_commit: Option<String>,
    /// The commit the candidate binary was built from (as --baseline-commit).
    #[arg(long)]
    pub candidate_commit: Option<String>,
    /// Give confirmation rounds only to cells that look worse (what a pass/fail gate needs; a
    /// baseline far behind would otherwise spend rounds confirming every improvement), so an
    /// improvement is then reported only where the planned rounds alone reach significance.
    #[arg(long)]
    pub confirm_worse_only: bool,
    /// Rounds: every cell is measured this many times by each binary (at least 5). A cell whose
    /// median per-round ratio is beyond the threshold then gets more rounds, as many as the sign test
    /// needs to reach the run's per-cell level (0.01 / cells) with one round reversed.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Regression threshold in percent: a cell regresses when the median of its per-round ratios is
    /// worse by more than this (and the sign test over the rounds agrees at the run's level).
    #[arg(long, default_value_t = 10.0)]
    pub threshold: f64,
    /// Per-measurement threshold, e.g. `decode_latency=15` or `latency=15` (repeatable).
    #[arg(long)]
    pub threshold_for: Vec<String>,
    /// Models (comma-separated), replacing the suite's.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Directory for run directories.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Name of the run directory (default: `ab-<suite>-<UTC time>`); it holds baseline/ and
    /// candidate/ (each a run) and ab.md, ab.json (the comparison).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Also write the comparison as Markdown to this file (`-` for stdout).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Show only improved and regressed cells.
    #[arg(long)]
    pub only_changes: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct BenchCommand {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Forward and forward+backward time of every kernel form over a grid of batch and sequence
    /// length (softmax attention, fused and plain, as the baseline); writes
    /// results/<run-id>/kernels.{json,csv,md}.
    Kernels(KernelArgs),
}

#[derive(Debug, Args)]
pub struct KernelArgs {
    /// Kernels: `attention` and linear recurrences (plain, scalar-gate, channel-gate, delta,
    /// gated-delta, channel-gate-exclusive, channel-gate-rank-one).
    #[arg(long, value_delimiter = ',', default_value = "attention,plain,scalar-gate,channel-gate,gated-delta")]
    pub kernels: Vec<String>,
    /// Forms of the linear recurrences: `fused` (the fused scan), `recurrent` (plain ops),
    /// `chunkwise` (chunk 64, 16 for per-channel gates), `chunkwise:C`, `parallel`.
    #[arg(long, value_delimiter = ',', default_value = "fused,recurrent,chunkwise")]
    pub forms: Vec<String>,
    /// Batch sizes.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    pub batch: Vec<usize>,
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_value = "512,2048,4096")]
    pub seq_lens: Vec<usize>,
    /// Heads.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Head dimension (d_k = d_v).
    #[arg(long, default_value_t = 64)]
    pub head_dim: usize,
    /// Warm-up runs per point.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Minimum samples per point.
    #[arg(long, default_value_t = 3)]
    pub samples: usize,
    /// Minimum seconds of sampling per point.
    #[arg(long, default_value_t = 0.5)]
    pub min_seconds: f64,
    /// Directory for run directories.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Name of the run directory (default: `kernels-<UTC time>`).
    #[arg(long)]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directory (or its results.json); the charts and report.html are written beside it.
    pub run: PathBuf,
    /// Baseline run (directory or results.json) to draw the comparison against.
    #[arg(long)]
    pub compare: Option<PathBuf>,
    /// Regression threshold in percent for the comparison's verdicts (as in `compare`).
    #[arg(long, default_value_t = 5.0)]
    pub threshold: f64,
    /// Compare figures divided by each run's calibration (as in `compare`).
    #[arg(long)]
    pub normalize: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Run directories (or results.json files) of the shards.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Directory to write the merged run into.
    #[arg(long)]
    pub out: PathBuf,
    /// Merge even when shards are missing or unfinished; the merged run is marked partial (in
    /// results.json, the report and compare's output). Without it, an incomplete set exits 2.
    #[arg(long)]
    pub allow_partial: bool,
}

/// Flags shared by every measurement command.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Models (comma-separated names, `name@size` or .toml paths); default: the suite's, or every
    /// shipped model for the single-measurement commands.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Size preset for models named without `@size` (default: the suite's, else `small`).
    #[arg(long)]
    pub size: Option<String>,
    /// Directory for run directories.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Name of the run directory (default: `<suite>-<UTC time>`).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Warm-up runs per cell (overrides the suite).
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Minimum samples per cell (overrides the suite).
    #[arg(long)]
    pub samples: Option<usize>,
    /// Minimum seconds of sampling per cell (overrides the suite).
    #[arg(long)]
    pub min_seconds: Option<f64>,
    /// Run cells in this process (no isolation; for debugging).
    #[arg(long)]
    pub in_process: bool,
    /// Do not print the tables at the end (files are still written).
    #[arg(long)]
    pub no_tables: bool,
    /// Do not draw the charts and report.html at the end (`seqbench report` draws them later).
    #[arg(long)]
    pub no_report: bool,
    /// Run only shard I of N (1-based; a deterministic slice of the cells). Inside a Slurm array job
    /// it is read, when not given, from SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_MAX,
    /// SLURM_ARRAY_TASK_STEP and SLURM_ARRAY_TASK_COUNT (I = (ID - MIN) / STEP + 1, N = COUNT; lists
    /// that are not evenly spaced are refused), and SLURM_ARRAY_JOB_ID names the run
    /// (`<suite>-job<ID>-shard<I>of<N>`).
    #[arg(long)]
    pub shard: Option<String>,
    /// Quality-training cells (lm, mqar, copy) run this many at a time, each child with its share of
    /// the threads (threads / N); timing cells (train speed, latency, memory, generation) always run
    /// alone, so their figures stay clean.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Suite: a shipped name (quick) or a path to a suite .toml file.
    #[arg(default_value = "quick")]
    pub suite: String,
    /// Finish an interrupted run (a run id under --out, or a run directory).
    #[arg(long)]
    pub resume: Option<String>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Debug, Args)]
pub struct TrainSpeedArgs {
    /// Sequence lengths.
    #[arg(long, value_delimiter = ',', default_value = "256,512,1024")]
    pub seq_lens: Vec<usize>,
    /// Sequences per step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Forms for the linear family: chunkwise[:C], recurrent, parallel.
    #[arg(long, value_delimiter = ',', default_value = "chunkwise,recurrent")]
    pub forms: Vec<String>,
    /// Recompute each mixer in the backward instead of keeping its activations (activation
    /// checkpointing: a step holds one layer's mixer intermediates at a time, for one more forward
    /// of the mixers; CPU only): `off`, `on`, or `both` to measure each model both ways.
    #[arg(long, value_enum, default_value = "off")]
    pub recompute: crate::results::suite::RecomputeMode,
    /// Train a probe of N layers at each model's full width instead of the whole stack (a training
    /// crossover with attention depends on the width, not the depth); labelled `(N-layer probe)`.
    #[arg(long, value_name = "N")]
    pub probe_layers: Option<usize>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Debug, Args)]
pub struct LatencyArgs {
    /// Positions at which a decode step is timed.
    #[arg(long, alias = "positions", value_delimiter = ',', default_value = "128,1024,8192,32768")]
    pub seq_lens: Vec<usize>,
    /// Prompt length for time to first token.
    #[arg(long, default_value_t = 128)]
    pub prompt: usize,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// Positions (sequence lengths) at which the state is measured.
    #[arg(long, alias = "positions", value_delimiter = ',', default_value = "256,1024,4096,16384")]
    pub seq_lens: Vec<usize>,
    /// Sequences whose state is held.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Batch sizes swept.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,128")]
    pub batch: Vec<usize>,
    /// Prompt length.
    #[arg(long, default_value_t = 128)]
    pub prompt: usize,
    /// New tokens per sequence.
    #[arg(long, default_value_t = 32)]
    pub tokens: usize,
    /// Memory budget (e.g. 512MiB, 2GiB); cells needing more are refused before allocating.
    #[arg(long, default_value = "1GiB")]
    pub mem_budget: String,
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// Options every command that runs models accepts.
#[derive(Debug, Args)]
pub struct Common {
    /// Device: `cpu`, `cuda` or `cuda:N` (CUDA needs a build with `--features cuda`).
    #[arg(long, global = true, default_value = "cpu")]
    pub device: String,
    /// Precision of the matrix products: f32, bf16 or f16. Low precision holds the projection and
    /// embedding weights and attention's KV cache in that dtype and computes their products in it;
    /// norms, softmax, gates, recurrent states and the loss stay f32; training keeps f32 master
    /// weights (and scales the loss under f16).
    #[arg(long, global = true, default_value = "f32")]
    pub dtype: String,
    /// CPU threads for tensor work (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Size preset to describe: `tiny` (tests), `small` (the benchmark default, about 3M parameters),
    /// or the published shapes `125m`, `350m`, `1.3b` (docs/sizes.md). Counted from the config's
    /// shapes: nothing is allocated, so every size lists at once.
    #[arg(long, default_value = "small")]
    pub size: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Precision of the weights and the KV cache (f32, bf16, f16); recurrent states are f32 under any
    /// dtype.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
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
    /// Recompute each mixer in the backward instead of keeping its activations (activation
    /// checkpointing: less memory for one more forward of the mixers; CPU only).
    #[arg(long)]
    pub recompute: bool,
    /// Save the trained weights as safetensors.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Write the training report (config, options, loss curve, validation) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}
