//! Benchmark suites: `configs/suites/*.toml` (compiled in) or any file. A suite names its models and,
//! per measurement, the swept grid and fixed settings; [`Suite::cells`] expands it into cells.
//!
//! Each measurement section lives in its own file behind [`Section`] (its fields, checks and cells);
//! [`Suite::sections`] is the registry: a new section is one file and one line there.

mod copy;
mod generation;
mod hybrid_ratio;
mod latency;
mod lm;
mod memory;
mod mqar;
mod state_tracking;
mod supervised;
mod train;

pub use copy::CopySection;
pub use generation::GenerationSection;
pub use hybrid_ratio::HybridRatioSection;
pub use latency::LatencySection;
pub use lm::LmSection;
pub use memory::MemorySection;
pub use mqar::MqarSection;
pub use state_tracking::StateTrackingSection;
pub use train::{RecomputeMode, TrainSection};

use crate::error::UserError;
use crate::model::config::{self, ModelConfig};
use crate::results::stats::SamplePlan;
use crate::results::{CellSpec, Measurement, Settings};
use serde::{Deserialize, Serialize};
use state_tracking::StateTracking;
use std::path::Path;

/// Suites shipped in `configs/suites/`.
pub const BUILT_IN: [(&str, &str); 7] = [
    ("quick", include_str!("../../../configs/suites/quick.toml")),
    ("ci", include_str!("../../../configs/suites/ci.toml")),
    ("full", include_str!("../../../configs/suites/full.toml")),
    ("hybrid-ratio", include_str!("../../../configs/suites/hybrid-ratio.toml")),
    ("seed-noise", include_str!("../../../configs/suites/seed-noise.toml")),
    ("scale", include_str!("../../../configs/suites/scale.toml")),
    ("sweep", include_str!("../../../configs/suites/sweep.toml")),
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

/// One measurement section of a suite file: its checks and the cells it expands to.
trait Section {
    /// Checks the section's grid and settings; every error names its field.
    fn validate(&self, check: &Check) -> Result<(), UserError>;
    /// Appends the section's cells, in a deterministic order.
    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError>;
    /// The positions a sliding-window model must pass somewhere (field, models, positions), for
    /// sections whose grid shows the bounded cache.
    fn window_grid(&self) -> Option<(&'static str, &Option<Vec<String>>, &[usize])> {
        None
    }
}

impl<S: Section + ?Sized> Section for &S {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        (**self).validate(check)
    }
    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        (**self).cells(suite, out)
    }
    fn window_grid(&self) -> Option<(&'static str, &Option<Vec<String>>, &[usize])> {
        (**self).window_grid()
    }
}

/// Builds the errors of one suite file, each naming its field.
struct Check<'a> {
    file: &'a str,
}

impl Check<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> UserError {
        UserError::Config { file: self.file.into(), field: field.into(), message: message.into() }
    }

    fn positive(&self, field: &str, v: usize) -> Result<(), UserError> {
        if v == 0 {
            return Err(self.err(field, "must be positive"));
        }
        Ok(())
    }

    fn nonempty_positive(&self, field: &str, v: &[usize]) -> Result<(), UserError> {
        if v.is_empty() || v.contains(&0) {
            return Err(self.err(field, "must be a non-empty list of positive integers"));
        }
        Ok(())
    }

    /// An error of a nested config (a dataset's), re-named under its section.
    fn nested(&self, section: &str, e: UserError) -> UserError {
        match e {
            UserError::Config { field, message, .. } => self.err(&format!("{section}.{field}"), message),
            other => other,
        }
    }
}

/// The cells of a suite, as its sections append them.
struct Cells {
    seed: u64,
    list: Vec<CellSpec>,
}

impl Cells {
    fn push(
        &mut self,
        measurement: Measurement,
        model: &ModelConfig,
        label: String,
        value: usize,
        settings: Settings,
        plan: SamplePlan,
    ) {
        let id = format!("{}/{}/{}={}", measurement.name(), label, measurement.parameter(), value);
        self.list.push(CellSpec {
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
    }
}

fn default_size() -> String {
    config::DEFAULT_SIZE.to_string()
}

fn one() -> usize {
    1
}

/// Seconds a cell may run before its child process is stopped, unless a suite says otherwise.
pub const DEFAULT_CELL_TIMEOUT: f64 = 600.0;

fn default_timeout() -> f64 {
    DEFAULT_CELL_TIMEOUT
}

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

    /// The measurement sections the suite has, in the order their cells run: the registry.
    fn sections(&self) -> Vec<Box<dyn Section + '_>> {
        fn boxed<'a, S: Section + 'a>(s: &'a Option<S>) -> Option<Box<dyn Section + 'a>> {
            s.as_ref().map(|s| Box::new(s) as Box<dyn Section + 'a>)
        }
        [
            boxed(&self.train),
            boxed(&self.latency),
            boxed(&self.memory),
            boxed(&self.generation),
            boxed(&self.lm),
            boxed(&self.mqar),
            boxed(&self.copy),
            self.parity
                .as_ref()
                .map(|section| Box::new(StateTracking { name: "parity", section }) as Box<dyn Section + '_>),
            self.word_problem
                .as_ref()
                .map(|section| Box::new(StateTracking { name: "word_problem", section }) as Box<dyn Section + '_>),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// A suite file's sliding-window models must slide: some position of the latency and memory
    /// grids passes each window (else the bounded cache would not show). Commands given on the
    /// command line measure what they are asked.
    fn check_windows(&self, file: &str) -> Result<(), UserError> {
        let check = Check { file };
        for section in self.sections() {
            let Some((field, models, positions)) = section.window_grid() else { continue };
            let longest = positions.iter().copied().max().unwrap_or(0);
            for m in self.models_for(models)? {
                if let Some(w) = m.window.filter(|w| *w >= longest) {
                    return Err(check.err(
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
        let check = Check { file };
        if self.models.is_empty() {
            return Err(check.err("models", "must name at least one model"));
        }
        if self.cell_timeout.is_nan() || self.cell_timeout <= 0.0 {
            return Err(check.err("cell_timeout", "must be positive"));
        }
        let sections = self.sections();
        for section in &sections {
            section.validate(&check)?;
        }
        if let Some(h) = &self.hybrid_ratio {
            h.validate(&self.size, &check)?;
            if self.train.is_none() && self.latency.is_none() && self.memory.is_none() && self.mqar.is_none() {
                return Err(check.err(
                    "hybrid_ratio",
                    "measures at the largest setting of the train, latency, memory and mqar sections, and the suite has none of them",
                ));
            }
        }
        if sections.is_empty() {
            return Err(check.err(
                "train",
                "the suite has no measurement section (train, latency, memory, generation, lm, mqar, copy, parity, word_problem)",
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
        let mut out = Cells { seed: self.seed, list: Vec::new() };
        for section in self.sections() {
            section.cells(self, &mut out)?;
        }
        Ok(out.list)
    }
}
