//! Benchmark suites: `configs/suites/*.toml` (compiled in) or any file. A suite names its models and,
//! per measurement, the swept grid and fixed settings; [`Suite::cells`] expands it into cells.

use crate::error::UserError;
use crate::kernels::Form;
use crate::model::config::{self, ModelConfig};
use crate::results::stats::SamplePlan;
use crate::results::{CellSpec, Measurement, Settings};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Suites shipped in `configs/suites/`.
pub const BUILT_IN: [(&str, &str); 6] = [
    ("quick", include_str!("../../configs/suites/quick.toml")),
    ("ci", include_str!("../../configs/suites/ci.toml")),
    ("full", include_str!("../../configs/suites/full.toml")),
    ("hybrid-ratio", include_str!("../../configs/suites/hybrid-ratio.toml")),
    ("seed-noise", include_str!("../../configs/suites/seed-noise.toml")),
    ("scale", include_str!("../../configs/suites/scale.toml")),
];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Models (shipped names, `name@size` or paths to .toml files).
    pub models: Vec<String>,
    /// Size preset for models named without `@size`.
    #[serde(default = "default_size")]
    pub size: String,
    #[serde(default)]
    pub seed: u64,
    /// Sampling plan for every cell unless a section overrides it.
    #[serde(default)]
    pub plan: SamplePlan,
    /// Seconds after which a cell's child process is stopped and recorded as failed.
    #[serde(default = "default_timeout")]
    pub cell_timeout: f64,
    pub train: Option<TrainSection>,
    pub latency: Option<LatencySection>,
    pub memory: Option<MemorySection>,
    pub generation: Option<GenerationSection>,
    pub lm: Option<LmSection>,
    pub mqar: Option<MqarSection>,
    pub copy: Option<CopySection>,
    /// Running parity (S2's word problem), trained short and tested long.
    pub parity: Option<StateTrackingSection>,
    /// A permutation group's word problem (`group`, S3 by default), trained short and tested long.
    pub word_problem: Option<StateTrackingSection>,
    /// How much attention a hybrid needs: one model per share of attention layers, measured at the
    /// largest setting of the train, latency, memory and mqar sections.
    pub hybrid_ratio: Option<HybridRatioSection>,
}

/// The share of attention layers in a hybrid, swept: `n_layers` layers of which `attention_layers`
/// (each 0, or a divisor of `n_layers`) are attention, spread evenly (the last layer of each group).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridRatioSection {
    /// The model whose mixer fills the other layers (a shipped name or a path), and whose sizes serve.
    pub recurrent: String,
    /// The model whose mixer fills the attention layers.
    #[serde(default = "default_attention")]
    pub attention: String,
    pub n_layers: usize,
    /// Attention layers per model, e.g. `[0, 1, 2, 4]` at 4 layers (none, 1 in 4, 1 in 2, all).
    pub attention_layers: Vec<usize>,
}

fn default_attention() -> String {
    "attention".into()
}

impl HybridRatioSection {
    /// The models of the sweep at `size`, named `<recurrent>+<attention>-<k>of<n>`.
    pub fn models(&self, size: &str) -> Result<Vec<ModelConfig>, UserError> {
        let (rec, attn) = (config::load(&self.recurrent, size)?, config::load(&self.attention, size)?);
        let n = self.n_layers;
        Ok(self
            .attention_layers
            .iter()
            .map(|&k| {
                let layers =
                    (0..n).map(|i| if k > 0 && (i + 1) % (n / k) == 0 { attn.mixer } else { rec.mixer }).collect();
                ModelConfig {
                    name: format!("{}+{}-{k}of{n}", rec.name, attn.name),
                    description: format!("{} with {k} of its {n} layers {}", rec.name, attn.mixer.name()),
                    n_layers: n,
                    layers: Some(layers),
                    ..rec.clone()
                }
            })
            .collect())
    }

    fn validate(&self, size: &str, err: &dyn Fn(&str, String) -> UserError) -> Result<(), UserError> {
        let n = self.n_layers;
        if n == 0 || n > 64 {
            return Err(err("hybrid_ratio.n_layers", format!("must be between 1 and 64 (got {n})")));
        }
        if self.attention_layers.is_empty() {
            return Err(err("hybrid_ratio.attention_layers", "must list at least one share".into()));
        }
        if let Some(k) = self.attention_layers.iter().find(|&&k| k > n || (k > 0 && n % k != 0)) {
            return Err(err(
                "hybrid_ratio.attention_layers",
                format!("{k} attention layers cannot be spread evenly over n_layers = {n} (use 0 or a divisor of {n})"),
            ));
        }
        let (rec, attn) = (config::load(&self.recurrent, size)?, config::load(&self.attention, size)?);
        if rec.layers.is_some() || rec.mixer.is_attention() {
            return Err(err("hybrid_ratio.recurrent", format!("`{}` must be a single non-attention mixer", rec.name)));
        }
        if attn.layers.is_some() || !attn.mixer.is_attention() {
            return Err(err("hybrid_ratio.attention", format!("`{}` must be a single attention mixer", attn.name)));
        }
        Ok(())
    }
}

fn default_size() -> String {
    config::DEFAULT_SIZE.to_string()
}

/// Seconds a cell may run before its child process is stopped, unless a suite says otherwise.
pub const DEFAULT_CELL_TIMEOUT: f64 = 600.0;

fn default_timeout() -> f64 {
    DEFAULT_CELL_TIMEOUT
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    pub seq_lens: Vec<usize>,
    pub batch: usize,
    /// Forms measured for the linear family (`chunkwise`, `chunkwise:C`, `recurrent`, `parallel`);
    /// other models have one form.
    #[serde(default = "default_forms")]
    pub forms: Vec<String>,
    /// Whether the steps recompute each mixer in the backward instead of keeping its activations
    /// (`off`, `on`, or `both`: each model measured both ways, side by side).
    #[serde(default)]
    pub recompute: RecomputeMode,
    pub plan: Option<SamplePlan>,
    pub models: Option<Vec<String>>,
}

/// Training with kept activations, with recomputed mixers ([`crate::model::recompute`]), or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum RecomputeMode {
    #[default]
    Off,
    On,
    Both,
}

impl RecomputeMode {
    /// The settings measured: false for kept activations, true for recomputed mixers.
    pub fn variants(self) -> &'static [bool] {
        match self {
            RecomputeMode::Off => &[false],
            RecomputeMode::On => &[true],
            RecomputeMode::Both => &[false, true],
        }
    }
}

fn default_forms() -> Vec<String> {
    vec!["chunkwise".into()]
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySection {
    /// Prompt length for time to first token.
    pub prompt: usize,
    /// Further prompt lengths at which time to first token is timed (a prefill grid).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<usize>,
    /// Positions at which a decode step is timed.
    pub positions: Vec<usize>,
    #[serde(default = "one")]
    pub batch: usize,
    pub plan: Option<SamplePlan>,
    pub models: Option<Vec<String>>,
}

fn one() -> usize {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySection {
    pub positions: Vec<usize>,
    #[serde(default = "one")]
    pub batch: usize,
    pub prefill_chunk: Option<usize>,
    /// `"prefill"` (default: the state is built by prefilling the position in chunks) or
    /// `"synthetic"` (built at its size directly, for positions no CPU can prefill at large sizes).
    pub fill: Option<String>,
    pub models: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationSection {
    pub prompt: usize,
    pub tokens: usize,
    pub batches: Vec<usize>,
    /// Budget such as `"256MiB"` or `"2GiB"`; cells needing more are refused.
    pub mem_budget: Option<String>,
    pub plan: Option<SamplePlan>,
    pub models: Option<Vec<String>>,
}

/// Language modelling on the built-in corpus for a fixed budget of steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmSection {
    pub steps: usize,
    pub seq_len: usize,
    pub batch: usize,
    pub lr: Option<f64>,
    /// Seeds trained per model (one sample each; default 1).
    pub seeds: Option<usize>,
    /// Size preset for this section (quality runs train; `tiny` keeps them short).
    pub size: Option<String>,
    pub models: Option<Vec<String>>,
}

/// Declares a supervised section: its own fields, then the protocol's (one declaration for every
/// section, since serde cannot flatten a shared struct into one that denies unknown fields) and
/// `training()`, the protocol fields seen together.
macro_rules! supervised_section {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            pub train_examples: usize,
            /// Size of the test split and of the validation split (early stopping, the sweep's choice).
            pub test_examples: usize,
            /// Training steps per run at most (the budget).
            pub steps: usize,
            pub batch: usize,
            /// Peak learning rate, or `lrs`: the rates swept (each on the first `sweep_seeds` seeds; the
            /// best median validation accuracy chooses the cell's rate).
            pub lr: Option<f64>,
            pub lrs: Option<Vec<f64>>,
            /// Seeds trained (one sample each; default 1).
            pub seeds: Option<usize>,
            /// Seeds the rates of `lrs` are swept on (default: every seed); the rest train at the
            /// chosen rate.
            pub sweep_seeds: Option<usize>,
            /// Validation accuracy that ends a run.
            pub early_stop: Option<f64>,
            /// Steps between validation evaluations (default 100).
            pub eval_every: Option<usize>,
            /// Size preset for this section.
            pub size: Option<String>,
            pub models: Option<Vec<String>>,
        }

        impl $name {
            fn training<'a>(&'a self, section: &'a str) -> Training<'a> {
                Training {
                    section,
                    steps: self.steps,
                    batch: self.batch,
                    lr: self.lr,
                    lrs: &self.lrs,
                    seeds: self.seeds,
                    sweep_seeds: self.sweep_seeds,
                    early_stop: self.early_stop,
                    eval_every: self.eval_every,
                }
            }
        }
    };
}

supervised_section! {
    /// Multi-query associative recall: accuracy against key-value pairs and, optionally, model width.
    pub struct MqarSection {
        pub vocab: usize,
        pub seq_len: usize,
        pub kv_pairs: Vec<usize>,
        /// Query layout: `zoology` (each key asked once, power-law gaps) or `random` (the default).
        pub layout: Option<String>,
        /// Width (d_model) of the models in the pairs sweep (default: the size preset's).
        pub d_model: Option<usize>,
        /// Head width of every model in this section, pairs and width sweeps (default: the preset's,
        /// capped at the width).
        pub head_dim: Option<usize>,
        /// Widths (d_model) for the accuracy-against-width sweep, at `width_kv_pairs` pairs.
        #[serde(default)]
        pub d_models: Vec<usize>,
        pub width_kv_pairs: Option<usize>,
        /// The pair counts trained with `seeds` seeds (the headline settings); the others, and the
        /// width sweep, train one seed. Default: every setting gets `seeds`.
        pub seeded_kv_pairs: Option<Vec<usize>>,
    }
}

supervised_section! {
    /// The copy task: accuracy against the length of the string.
    pub struct CopySection {
        pub alphabet: usize,
        pub lengths: Vec<usize>,
        /// Width and head width of every model in this section (default: the size preset's).
        pub d_model: Option<usize>,
        pub head_dim: Option<usize>,
    }
}

supervised_section! {
    /// State tracking (parity, word problems): trained at `train_len`, tested at each of `test_lens`.
    pub struct StateTrackingSection {
        /// `s3` (default) or `s5` (`[word_problem]` only; parity is S2).
        pub group: Option<String>,
        pub train_len: usize,
        pub test_lens: Vec<usize>,
    }
}

/// The training protocol fields every supervised section has, seen together.
struct Training<'a> {
    section: &'a str,
    steps: usize,
    batch: usize,
    lr: Option<f64>,
    lrs: &'a Option<Vec<f64>>,
    seeds: Option<usize>,
    sweep_seeds: Option<usize>,
    early_stop: Option<f64>,
    eval_every: Option<usize>,
}

impl Training<'_> {
    fn validate(&self, err: &dyn Fn(&str, String) -> UserError) -> Result<(), UserError> {
        let field = |f: &str| format!("{}.{f}", self.section);
        if self.steps == 0 {
            return Err(err(&field("steps"), "must be positive".into()));
        }
        if self.batch == 0 {
            return Err(err(&field("batch"), "must be positive".into()));
        }
        let lr_ok = |v: f64| v.is_finite() && v > 0.0;
        if self.lr.is_some_and(|v| !lr_ok(v)) {
            return Err(err(&field("lr"), "must be a positive number".into()));
        }
        if let Some(l) = self.lrs {
            if l.is_empty() || !l.iter().all(|&v| lr_ok(v)) {
                return Err(err(&field("lrs"), "must be a non-empty list of positive learning rates".into()));
            }
            if self.lr.is_some() {
                return Err(err(&field("lrs"), "give either lr or lrs, not both".into()));
            }
        }
        if self.seeds == Some(0) {
            return Err(err(&field("seeds"), "must be positive".into()));
        }
        if let Some(n) = self.sweep_seeds {
            if self.lrs.is_none() {
                return Err(err(&field("sweep_seeds"), "applies to a sweep: give lrs".into()));
            }
            if n == 0 || n > self.seeds.unwrap_or(1) {
                return Err(err(
                    &field("sweep_seeds"),
                    format!("must be between 1 and seeds ({}), got {n}", self.seeds.unwrap_or(1)),
                ));
            }
        }
        if self.early_stop.is_some_and(|v| !(v > 0.0 && v <= 1.0)) {
            return Err(err(&field("early_stop"), "must be an accuracy in (0, 1]".into()));
        }
        if self.eval_every == Some(0) {
            return Err(err(&field("eval_every"), "must be positive".into()));
        }
        Ok(())
    }

    fn settings(&self) -> Settings {
        Settings {
            batch: Some(self.batch),
            steps: Some(self.steps),
            lr: self.lr,
            lrs: self.lrs.clone(),
            seeds: self.seeds,
            sweep_seeds: self.sweep_seeds,
            early_stop: self.early_stop,
            eval_every: self.eval_every,
            ..Default::default()
        }
    }
}

/// `m` at width `w`: head_dim capped at `w`, the MLP at 8/3 of the width.
fn widened(m: &ModelConfig, w: usize, field: &str) -> Result<ModelConfig, UserError> {
    let head_dim = m.head_dim.min(w);
    if w % head_dim != 0 {
        return Err(UserError::Config {
            file: "suite".into(),
            field: field.into(),
            message: format!("width {w} is not a multiple of {}'s head_dim {head_dim}", m.name),
        });
    }
    let sizes = crate::model::mixers::Sizes { d_model: w, head_dim, d_state: m.d_state, conv_size: m.conv_size };
    for k in m.layer_kinds() {
        (k.descriptor().validate)(&sizes).map_err(|(f, message)| UserError::Config {
            file: "suite".into(),
            field: field.into(),
            message: format!("{} at width {w}, head_dim {head_dim}: {f} {message}", m.name),
        })?;
    }
    let mut wide = m.clone();
    wide.d_model = w;
    wide.head_dim = head_dim;
    wide.d_mlp = (8 * w / 3).div_ceil(8) * 8;
    Ok(wide)
}

/// Quality cells train once, deterministically: one sample, no warm-up.
const ONE_RUN: SamplePlan = SamplePlan { warmup: 0, min_samples: 1, min_seconds: 0.0, max_samples: 1 };

/// Parses `"512"`, `"64KiB"`, `"256MiB"`, `"2GiB"`, `"1.5GB"` into bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("`{s}` is not a size (e.g. 512MiB, 2GiB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024f64.powi(4),
        other => return Err(format!("unknown unit `{other}` in `{s}` (use B, KiB, MiB, GiB, KB, MB, GB)")),
    };
    Ok((value * mult) as u64)
}

impl Suite {
    /// A shipped suite by name, or a path to a suite file.
    pub fn load(name: &str) -> Result<Suite, UserError> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            return Suite::parse(text, &format!("configs/suites/{name}.toml"));
        }
        if name.ends_with(".toml") || Path::new(name).exists() {
            let text = std::fs::read_to_string(name)
                .map_err(|e| UserError::Usage(format!("{name}: cannot read suite: {e}")))?;
            return Suite::parse(&text, name);
        }
        let known: Vec<_> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        Err(UserError::Usage(format!(
            "unknown suite `{name}` (known: {}; or give a path to a .toml file)",
            known.join(", ")
        )))
    }

    pub fn parse(text: &str, file: &str) -> Result<Suite, UserError> {
        let suite: Suite = toml::from_str(text).map_err(|e| config::toml_error(text, file, &e))?;
        suite.validate(file)?;
        suite.check_windows(file)?;
        Ok(suite)
    }

    /// A suite file's sliding-window models must slide: some position of the latency and memory
    /// grids passes each window (else the bounded cache would not show). Commands given on the
    /// command line measure what they are asked.
    fn check_windows(&self, file: &str) -> Result<(), UserError> {
        let err = |field: &str, message: String| UserError::Config { file: file.into(), field: field.into(), message };
        let grids = [
            self.latency.as_ref().map(|l| ("latency.positions", &l.models, &l.positions)),
            self.memory.as_ref().map(|m| ("memory.positions", &m.models, &m.positions)),
        ];
        for (field, models, positions) in grids.into_iter().flatten() {
            let longest = positions.iter().copied().max().unwrap_or(0);
            for m in self.models_for(models)? {
                if let Some(w) = m.window.filter(|w| *w >= longest) {
                    return Err(err(
                        field,
                        format!(
                            "no position passes the {w}-token window of `{}` (longest {longest}): its cache would never slide; add a position above {w} or give it a shorter window",
                            m.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks grids and settings; every error names the file and field.
    pub fn validate(&self, file: &str) -> Result<(), UserError> {
        let err = |field: &str, message: String| UserError::Config { file: file.into(), field: field.into(), message };
        let nonempty_positive = |field: &str, v: &[usize]| -> Result<(), UserError> {
            if v.is_empty() || v.contains(&0) {
                return Err(err(field, "must be a non-empty list of positive integers".into()));
            }
            Ok(())
        };
        if self.models.is_empty() {
            return Err(err("models", "must name at least one model".into()));
        }
        if self.cell_timeout.is_nan() || self.cell_timeout <= 0.0 {
            return Err(err("cell_timeout", "must be positive".into()));
        }
        if let Some(t) = &self.train {
            nonempty_positive("train.seq_lens", &t.seq_lens)?;
            if t.seq_lens.contains(&1) {
                return Err(err("train.seq_lens", "must be at least 2".into()));
            }
            if t.batch == 0 {
                return Err(err("train.batch", "must be positive".into()));
            }
            for f in &t.forms {
                Form::parse(f).map_err(|m| err("train.forms", m))?;
            }
        }
        if let Some(l) = &self.latency {
            nonempty_positive("latency.positions", &l.positions)?;
            if l.prompt == 0 || l.batch == 0 {
                return Err(err("latency.prompt", "prompt and batch must be positive".into()));
            }
            if l.prompts.contains(&0) {
                return Err(err("latency.prompts", "every prompt length must be positive".into()));
            }
        }
        if let Some(m) = &self.memory {
            nonempty_positive("memory.positions", &m.positions)?;
            if let Some(f) = m.fill.as_deref().filter(|f| !["prefill", "synthetic"].contains(f)) {
                return Err(err("memory.fill", format!("must be \"prefill\" or \"synthetic\" (got \"{f}\")")));
            }
            if m.batch == 0 {
                return Err(err("memory.batch", "must be positive".into()));
            }
        }
        if let Some(g) = &self.generation {
            nonempty_positive("generation.batches", &g.batches)?;
            if g.prompt == 0 || g.tokens == 0 {
                return Err(err("generation.prompt", "prompt and tokens must be positive".into()));
            }
            if let Some(b) = &g.mem_budget {
                parse_bytes(b).map_err(|m| err("generation.mem_budget", m))?;
            }
        }
        let positive = |field: &str, v: usize| {
            if v == 0 {
                Err(err(field, "must be positive".into()))
            } else {
                Ok(())
            }
        };
        if let Some(l) = &self.lm {
            positive("lm.steps", l.steps)?;
            positive("lm.batch", l.batch)?;
            if l.seq_len < 2 {
                return Err(err("lm.seq_len", "must be at least 2".into()));
            }
            if l.seeds == Some(0) {
                return Err(err("lm.seeds", "must be positive".into()));
            }
        }
        let nested = |section: &str, e: UserError| match e {
            UserError::Config { field, message, .. } => err(&format!("{section}.{field}"), message),
            other => other,
        };
        if let Some(m) = &self.mqar {
            nonempty_positive("mqar.kv_pairs", &m.kv_pairs)?;
            m.training("mqar").validate(&err)?;
            let layout = match &m.layout {
                Some(l) => crate::model::data::mqar::Layout::parse(l).map_err(|msg| err("mqar.layout", msg))?,
                None => Default::default(),
            };
            for &p in m.kv_pairs.iter().chain(m.width_kv_pairs.iter()) {
                let cfg = crate::model::data::mqar::MqarConfig {
                    vocab: m.vocab,
                    seq_len: m.seq_len,
                    kv_pairs: p,
                    train_examples: m.train_examples,
                    test_examples: m.test_examples,
                    seed: 0,
                    layout,
                };
                cfg.validate().map_err(|e| nested("mqar", e))?;
            }
            if !m.d_models.is_empty() && m.width_kv_pairs.is_none() {
                return Err(err("mqar.width_kv_pairs", "is required with mqar.d_models".into()));
            }
            if let Some(seeded) = &m.seeded_kv_pairs {
                if let Some(p) = seeded.iter().find(|p| !m.kv_pairs.contains(p)) {
                    return Err(err("mqar.seeded_kv_pairs", format!("{p} is not one of mqar.kv_pairs")));
                }
            }
            if m.d_models.contains(&0) || m.d_model == Some(0) || m.head_dim == Some(0) {
                return Err(err("mqar.d_models", "widths must be positive".into()));
            }
        }
        if let Some(c) = &self.copy {
            nonempty_positive("copy.lengths", &c.lengths)?;
            if c.d_model == Some(0) || c.head_dim == Some(0) {
                return Err(err("copy.d_model", "widths must be positive".into()));
            }
            c.training("copy").validate(&err)?;
            let cfg = crate::model::data::copy::CopyConfig {
                alphabet: c.alphabet,
                length: 1,
                train_examples: c.train_examples,
                test_examples: c.test_examples,
                seed: 0,
            };
            cfg.validate().map_err(|e| nested("copy", e))?;
        }
        for (name, section) in [("parity", &self.parity), ("word_problem", &self.word_problem)] {
            let Some(t) = section else { continue };
            nonempty_positive(&format!("{name}.test_lens"), &t.test_lens)?;
            t.training(name).validate(&err)?;
            let group = match (&t.group, name) {
                (Some(_), "parity") => {
                    return Err(err(
                        "parity.group",
                        "parity is the word problem of S2; use [word_problem] for other groups".into(),
                    ))
                }
                (Some(g), _) => {
                    crate::model::data::state_tracking::Group::parse(g).map_err(|m| err("word_problem.group", m))?
                }
                (None, "parity") => crate::model::data::state_tracking::Group::PARITY,
                (None, _) => crate::model::data::state_tracking::Group(3),
            };
            for &len in &t.test_lens {
                let cfg = crate::model::data::state_tracking::WordProblemConfig {
                    group,
                    train_len: t.train_len,
                    test_len: len,
                    train_examples: t.train_examples,
                    test_examples: t.test_examples,
                    seed: 0,
                };
                cfg.validate().map_err(|e| nested(name, e))?;
            }
        }
        let sections = [
            self.train.is_some(),
            self.latency.is_some(),
            self.memory.is_some(),
            self.generation.is_some(),
            self.lm.is_some(),
            self.mqar.is_some(),
            self.copy.is_some(),
            self.parity.is_some(),
            self.word_problem.is_some(),
        ];
        if let Some(h) = &self.hybrid_ratio {
            h.validate(&self.size, &err)?;
            if self.train.is_none() && self.latency.is_none() && self.memory.is_none() && self.mqar.is_none() {
                return Err(err(
                    "hybrid_ratio",
                    "measures at the largest setting of the train, latency, memory and mqar sections, and the suite has none of them".into(),
                ));
            }
        }
        if !sections.contains(&true) {
            return Err(err(
                "train",
                "the suite has no measurement section (train, latency, memory, generation, lm, mqar, copy, parity, word_problem)".into(),
            ));
        }
        Ok(())
    }

    fn models_for(&self, over: &Option<Vec<String>>) -> Result<Vec<ModelConfig>, UserError> {
        self.models_sized(over, None)
    }

    /// A section's models, each with whether it is one of [`HybridRatioSection`]'s (measured at the
    /// section's largest setting only), at the section's size.
    fn with_ratios(
        &self,
        over: &Option<Vec<String>>,
        size: Option<&str>,
    ) -> Result<Vec<(ModelConfig, bool)>, UserError> {
        let mut out: Vec<(ModelConfig, bool)> =
            self.models_sized(over, size)?.into_iter().map(|m| (m, false)).collect();
        if let Some(h) = &self.hybrid_ratio {
            out.extend(h.models(size.unwrap_or(&self.size))?.into_iter().map(|m| (m, true)));
        }
        Ok(out)
    }

    fn models_sized(&self, over: &Option<Vec<String>>, size: Option<&str>) -> Result<Vec<ModelConfig>, UserError> {
        let size = size.unwrap_or(&self.size);
        over.as_ref().unwrap_or(&self.models).iter().map(|m| config::load(m, size)).collect()
    }

    /// Every cell of the suite, in a deterministic order.
    pub fn cells(&self) -> Result<Vec<CellSpec>, UserError> {
        let mut cells = Vec::new();
        let mut push = |measurement: Measurement,
                        model: &ModelConfig,
                        label: String,
                        value: usize,
                        settings: Settings,
                        plan: SamplePlan| {
            let id = format!("{}/{}/{}={}", measurement.name(), label, measurement.parameter(), value);
            cells.push(CellSpec {
                id,
                measurement,
                model: model.clone(),
                label,
                parameter: measurement.parameter().into(),
                value,
                settings,
                plan,
                seed: self.seed,
            });
        };
        if let Some(t) = &self.train {
            let plan = t.plan.unwrap_or(self.plan);
            let longest = t.seq_lens.iter().copied().max();
            for (m, ratio) in self.with_ratios(&t.models, None)? {
                let forms: Vec<Form> = if m.has_linear() && !ratio {
                    t.forms
                        .iter()
                        .map(|f| Form::parse(f).expect("validated"))
                        .map(|f| match f {
                            Form::Chunkwise(c) if c == crate::kernels::DEFAULT_CHUNK => Form::Chunkwise(m.chunk_size),
                            other => other,
                        })
                        .collect()
                } else {
                    vec![Form::Chunkwise(m.chunk_size)]
                };
                for (form, &recompute) in forms.iter().flat_map(|f| t.recompute.variants().iter().map(move |r| (f, r)))
                {
                    let default = *form == Form::Chunkwise(m.chunk_size);
                    let mut label = if m.has_linear() && (t.forms.len() > 1 || !default) {
                        format!("{} [{}]", m.label(), form)
                    } else {
                        m.label()
                    };
                    if recompute {
                        label.push_str(" +recompute");
                    }
                    for &len in t.seq_lens.iter().filter(|&&l| !ratio || Some(l) == longest) {
                        let settings = Settings {
                            batch: Some(t.batch),
                            form: Some(form.to_string()),
                            recompute: recompute.then_some(true),
                            ..Default::default()
                        };
                        push(Measurement::TrainThroughput, &m, label.clone(), len, settings, plan);
                    }
                }
            }
        }
        if let Some(l) = &self.latency {
            let plan = l.plan.unwrap_or(self.plan);
            let last = l.positions.iter().copied().max();
            for (m, ratio) in self.with_ratios(&l.models, None)? {
                let settings = Settings { batch: Some(l.batch), ..Default::default() };
                if !ratio {
                    let mut prompts = vec![l.prompt];
                    prompts.extend(l.prompts.iter().filter(|&&p| p != l.prompt));
                    for &p in &prompts {
                        push(Measurement::PrefillLatency, &m, m.label(), p, settings.clone(), plan);
                    }
                }
                for &p in l.positions.iter().filter(|&&p| !ratio || Some(p) == last) {
                    push(Measurement::DecodeLatency, &m, m.label(), p, settings.clone(), plan);
                }
            }
        }
        if let Some(mem) = &self.memory {
            let last = mem.positions.iter().copied().max();
            for (m, ratio) in self.with_ratios(&mem.models, None)? {
                for &p in mem.positions.iter().filter(|&&p| !ratio || Some(p) == last) {
                    let settings = Settings {
                        batch: Some(mem.batch),
                        prefill_chunk: mem.prefill_chunk,
                        synthetic: (mem.fill.as_deref() == Some("synthetic")).then_some(true),
                        ..Default::default()
                    };
                    push(Measurement::Memory, &m, m.label(), p, settings, self.plan);
                }
            }
        }
        if let Some(g) = &self.generation {
            let plan = g.plan.unwrap_or(self.plan);
            let budget = g.mem_budget.as_deref().map(|b| parse_bytes(b).expect("validated"));
            for m in self.models_for(&g.models)? {
                for &b in &g.batches {
                    let settings = Settings {
                        prompt: Some(g.prompt),
                        tokens: Some(g.tokens),
                        mem_budget: budget,
                        ..Default::default()
                    };
                    push(Measurement::Generation, &m, m.label(), b, settings, plan);
                }
            }
        }
        if let Some(l) = &self.lm {
            for m in self.models_sized(&l.models, l.size.as_deref())? {
                let settings = Settings {
                    batch: Some(l.batch),
                    steps: Some(l.steps),
                    seq_len: Some(l.seq_len),
                    lr: l.lr,
                    seeds: l.seeds,
                    ..Default::default()
                };
                push(Measurement::LmLoss, &m, m.label(), l.steps, settings, ONE_RUN);
            }
        }
        if let Some(q) = &self.mqar {
            let base = Settings {
                seq_len: Some(q.seq_len),
                vocab: Some(q.vocab),
                train_examples: Some(q.train_examples),
                test_examples: Some(q.test_examples),
                layout: q.layout.clone(),
                ..q.training("mqar").settings()
            };
            let most = q.kv_pairs.iter().copied().max();
            for (mut m, ratio) in self.with_ratios(&q.models, q.size.as_deref())? {
                if let Some(h) = q.head_dim {
                    m.head_dim = h;
                }
                let at_pairs = widened(&m, q.d_model.unwrap_or(m.d_model), "mqar.d_model")?;
                let seeded = |p: usize| q.seeded_kv_pairs.as_ref().is_none_or(|s| s.contains(&p));
                for &p in q.kv_pairs.iter().filter(|&&p| !ratio || Some(p) == most) {
                    let settings = match seeded(p) {
                        true => base.clone(),
                        false => Settings { seeds: None, sweep_seeds: None, ..base.clone() },
                    };
                    push(Measurement::MqarAccuracy, &at_pairs, m.label(), p, settings, ONE_RUN);
                }
                for &w in q.d_models.iter().filter(|_| !ratio) {
                    let seeds = if q.seeded_kv_pairs.is_some() { None } else { q.seeds };
                    let sweep_seeds = seeds.and(base.sweep_seeds);
                    let settings = Settings { kv_pairs: q.width_kv_pairs, seeds, sweep_seeds, ..base.clone() };
                    push(Measurement::MqarWidth, &widened(&m, w, "mqar.d_models")?, m.label(), w, settings, ONE_RUN);
                }
            }
        }
        if let Some(c) = &self.copy {
            for mut m in self.models_sized(&c.models, c.size.as_deref())? {
                if let Some(h) = c.head_dim {
                    m.head_dim = h;
                }
                let m = widened(&m, c.d_model.unwrap_or(m.d_model), "copy.d_model")?;
                for &len in &c.lengths {
                    let settings = Settings {
                        vocab: Some(c.alphabet),
                        train_examples: Some(c.train_examples),
                        test_examples: Some(c.test_examples),
                        ..c.training("copy").settings()
                    };
                    push(Measurement::CopyAccuracy, &m, m.label(), len, settings, ONE_RUN);
                }
            }
        }
        for (measurement, name, section) in [
            (Measurement::ParityAccuracy, "parity", &self.parity),
            (Measurement::WordProblemAccuracy, "word_problem", &self.word_problem),
        ] {
            let Some(t) = section else { continue };
            for m in self.models_sized(&t.models, t.size.as_deref())? {
                for &len in &t.test_lens {
                    let settings = Settings {
                        group: match measurement {
                            Measurement::ParityAccuracy => None,
                            _ => Some(t.group.clone().unwrap_or_else(|| "s3".into())),
                        },
                        train_len: Some(t.train_len),
                        train_examples: Some(t.train_examples),
                        test_examples: Some(t.test_examples),
                        ..t.training(name).settings()
                    };
                    push(measurement, &m, m.label(), len, settings, ONE_RUN);
                }
            }
        }
        Ok(cells)
    }
}
