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
pub const BUILT_IN: [(&str, &str); 3] = [
    ("quick", include_str!("../../configs/suites/quick.toml")),
    ("ci", include_str!("../../configs/suites/ci.toml")),
    ("full", include_str!("../../configs/suites/full.toml")),
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
    pub plan: Option<SamplePlan>,
    pub models: Option<Vec<String>>,
}

fn default_forms() -> Vec<String> {
    vec!["chunkwise".into()]
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySection {
    /// Prompt length for time to first token.
    pub prompt: usize,
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
    /// Size preset for this section (quality runs train; `tiny` keeps them short).
    pub size: Option<String>,
    pub models: Option<Vec<String>>,
}

/// Multi-query associative recall: accuracy against key-value pairs and, optionally, model width.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqarSection {
    pub vocab: usize,
    pub seq_len: usize,
    pub kv_pairs: Vec<usize>,
    /// Widths (d_model) for the accuracy-against-width sweep, at `width_kv_pairs` pairs.
    #[serde(default)]
    pub d_models: Vec<usize>,
    pub width_kv_pairs: Option<usize>,
    pub train_examples: usize,
    pub test_examples: usize,
    pub steps: usize,
    pub batch: usize,
    pub lr: Option<f64>,
    pub size: Option<String>,
    pub models: Option<Vec<String>>,
}

/// The copy task: accuracy against the length of the string.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopySection {
    pub alphabet: usize,
    pub lengths: Vec<usize>,
    pub train_examples: usize,
    pub test_examples: usize,
    pub steps: usize,
    pub batch: usize,
    pub lr: Option<f64>,
    pub size: Option<String>,
    pub models: Option<Vec<String>>,
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
        Ok(suite)
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
        }
        if let Some(m) = &self.memory {
            nonempty_positive("memory.positions", &m.positions)?;
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
        }
        if let Some(m) = &self.mqar {
            nonempty_positive("mqar.kv_pairs", &m.kv_pairs)?;
            positive("mqar.steps", m.steps)?;
            positive("mqar.batch", m.batch)?;
            for &p in m.kv_pairs.iter().chain(m.width_kv_pairs.iter()) {
                let cfg = crate::model::data::mqar::MqarConfig {
                    vocab: m.vocab,
                    seq_len: m.seq_len,
                    kv_pairs: p,
                    train_examples: m.train_examples,
                    test_examples: m.test_examples,
                    seed: 0,
                };
                cfg.validate().map_err(|e| match e {
                    UserError::Config { field, message, .. } => err(&format!("mqar.{field}"), message),
                    other => other,
                })?;
            }
            if !m.d_models.is_empty() && m.width_kv_pairs.is_none() {
                return Err(err("mqar.width_kv_pairs", "is required with mqar.d_models".into()));
            }
            if m.d_models.contains(&0) {
                return Err(err("mqar.d_models", "must be positive".into()));
            }
        }
        if let Some(c) = &self.copy {
            nonempty_positive("copy.lengths", &c.lengths)?;
            positive("copy.steps", c.steps)?;
            positive("copy.batch", c.batch)?;
            let cfg = crate::model::data::copy::CopyConfig {
                alphabet: c.alphabet,
                length: 1,
                train_examples: c.train_examples,
                test_examples: c.test_examples,
                seed: 0,
            };
            cfg.validate().map_err(|e| match e {
                UserError::Config { field, message, .. } => err(&format!("copy.{field}"), message),
                other => other,
            })?;
        }
        let sections = [
            self.train.is_some(),
            self.latency.is_some(),
            self.memory.is_some(),
            self.generation.is_some(),
            self.lm.is_some(),
            self.mqar.is_some(),
            self.copy.is_some(),
        ];
        if !sections.contains(&true) {
            return Err(err(
                "train",
                "the suite has no measurement section (train, latency, memory, generation, lm, mqar, copy)".into(),
            ));
        }
        Ok(())
    }

    fn models_for(&self, over: &Option<Vec<String>>) -> Result<Vec<ModelConfig>, UserError> {
        self.models_sized(over, None)
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
            for m in self.models_for(&t.models)? {
                let forms: Vec<Form> = if m.has_linear() {
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
                for form in forms {
                    let default = form == Form::Chunkwise(m.chunk_size);
                    let label = if m.has_linear() && (t.forms.len() > 1 || !default) {
                        format!("{} [{}]", m.label(), form)
                    } else {
                        m.label()
                    };
                    for &len in &t.seq_lens {
                        let settings =
                            Settings { batch: Some(t.batch), form: Some(form.to_string()), ..Default::default() };
                        push(Measurement::TrainThroughput, &m, label.clone(), len, settings, plan);
                    }
                }
            }
        }
        if let Some(l) = &self.latency {
            let plan = l.plan.unwrap_or(self.plan);
            for m in self.models_for(&l.models)? {
                let settings = Settings { batch: Some(l.batch), ..Default::default() };
                push(Measurement::PrefillLatency, &m, m.label(), l.prompt, settings.clone(), plan);
                for &p in &l.positions {
                    push(Measurement::DecodeLatency, &m, m.label(), p, settings.clone(), plan);
                }
            }
        }
        if let Some(mem) = &self.memory {
            for m in self.models_for(&mem.models)? {
                for &p in &mem.positions {
                    let settings =
                        Settings { batch: Some(mem.batch), prefill_chunk: mem.prefill_chunk, ..Default::default() };
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
                    ..Default::default()
                };
                push(Measurement::LmLoss, &m, m.label(), l.steps, settings, ONE_RUN);
            }
        }
        if let Some(q) = &self.mqar {
            let base = Settings {
                batch: Some(q.batch),
                steps: Some(q.steps),
                seq_len: Some(q.seq_len),
                lr: q.lr,
                vocab: Some(q.vocab),
                train_examples: Some(q.train_examples),
                test_examples: Some(q.test_examples),
                ..Default::default()
            };
            for m in self.models_sized(&q.models, q.size.as_deref())? {
                for &p in &q.kv_pairs {
                    push(Measurement::MqarAccuracy, &m, m.label(), p, base.clone(), ONE_RUN);
                }
                for &w in &q.d_models {
                    let head_dim = m.head_dim.min(w);
                    if w % head_dim != 0 {
                        return Err(UserError::Config {
                            file: "suite".into(),
                            field: "mqar.d_models".into(),
                            message: format!("width {w} is not a multiple of {}'s head_dim {head_dim}", m.name),
                        });
                    }
                    let mut wide = m.clone();
                    wide.d_model = w;
                    wide.head_dim = head_dim;
                    wide.d_mlp = (8 * w / 3).div_ceil(8) * 8;
                    let settings = Settings { kv_pairs: q.width_kv_pairs, ..base.clone() };
                    push(Measurement::MqarWidth, &wide, m.label(), w, settings, ONE_RUN);
                }
            }
        }
        if let Some(c) = &self.copy {
            for m in self.models_sized(&c.models, c.size.as_deref())? {
                for &len in &c.lengths {
                    let settings = Settings {
                        batch: Some(c.batch),
                        steps: Some(c.steps),
                        lr: c.lr,
                        vocab: Some(c.alphabet),
                        train_examples: Some(c.train_examples),
                        test_examples: Some(c.test_examples),
                        ..Default::default()
                    };
                    push(Measurement::CopyAccuracy, &m, m.label(), len, settings, ONE_RUN);
                }
            }
        }
        Ok(cells)
    }
}
