//! What the supervised sections (`[mqar]`, `[copy]`, `[parity]`, `[word_problem]`) share: the
//! training protocol's fields and checks, one-run plans, and models re-sized to a section's width.

use super::Check;
use crate::error::UserError;
use crate::model::config::ModelConfig;
use crate::results::stats::SamplePlan;
use crate::results::Settings;

/// Declares a supervised section: its own fields, then the protocol's (one declaration for every
/// section, since serde cannot flatten a shared struct into one that denies unknown fields) and
/// `training()`, the protocol fields seen together.
macro_rules! supervised_section {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
            fn training<'a>(&'a self, section: &'a str) -> $crate::results::suite::supervised::Training<'a> {
                $crate::results::suite::supervised::Training {
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
pub(crate) use supervised_section;

/// The training protocol fields every supervised section has, seen together.
pub(crate) struct Training<'a> {
    pub section: &'a str,
    pub steps: usize,
    pub batch: usize,
    pub lr: Option<f64>,
    pub lrs: &'a Option<Vec<f64>>,
    pub seeds: Option<usize>,
    pub sweep_seeds: Option<usize>,
    pub early_stop: Option<f64>,
    pub eval_every: Option<usize>,
}

impl Training<'_> {
    pub fn validate(&self, check: &Check) -> Result<(), UserError> {
        let field = |f: &str| format!("{}.{f}", self.section);
        check.positive(&field("steps"), self.steps)?;
        check.positive(&field("batch"), self.batch)?;
        let lr_ok = |v: f64| v.is_finite() && v > 0.0;
        if self.lr.is_some_and(|v| !lr_ok(v)) {
            return Err(check.err(&field("lr"), "must be a positive number"));
        }
        if let Some(l) = self.lrs {
            if l.is_empty() || !l.iter().all(|&v| lr_ok(v)) {
                return Err(check.err(&field("lrs"), "must be a non-empty list of positive learning rates"));
            }
            if self.lr.is_some() {
                return Err(check.err(&field("lrs"), "give either lr or lrs, not both"));
            }
        }
        if self.seeds == Some(0) {
            return Err(check.err(&field("seeds"), "must be positive"));
        }
        if let Some(n) = self.sweep_seeds {
            if self.lrs.is_none() {
                return Err(check.err(&field("sweep_seeds"), "applies to a sweep: give lrs"));
            }
            if n == 0 || n > self.seeds.unwrap_or(1) {
                return Err(check.err(
                    &field("sweep_seeds"),
                    format!("must be between 1 and seeds ({}), got {n}", self.seeds.unwrap_or(1)),
                ));
            }
        }
        if self.early_stop.is_some_and(|v| !(v > 0.0 && v <= 1.0)) {
            return Err(check.err(&field("early_stop"), "must be an accuracy in (0, 1]"));
        }
        if self.eval_every == Some(0) {
            return Err(check.err(&field("eval_every"), "must be positive"));
        }
        Ok(())
    }

    pub fn settings(&self) -> Settings {
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

/// Quality cells train once, deterministically: one sample, no warm-up.
pub(crate) const ONE_RUN: SamplePlan = SamplePlan { warmup: 0, min_samples: 1, min_seconds: 0.0, max_samples: 1 };

/// `m` at width `w` with head width `head_dim` if given: head_dim capped at `w`, the MLP at 8/3 of the
/// width.
pub(crate) fn widened(
    m: &ModelConfig,
    w: usize,
    head_dim: Option<usize>,
    field: &str,
) -> Result<ModelConfig, UserError> {
    let head_dim = head_dim.unwrap_or(m.head_dim).min(w);
    let err = |message: String| UserError::Config { file: "suite".into(), field: field.into(), message };
    if w % head_dim != 0 {
        return Err(err(format!("width {w} is not a multiple of {}'s head_dim {head_dim}", m.name)));
    }
    let sizes = crate::model::mixers::Sizes { d_model: w, head_dim, d_state: m.d_state, conv_size: m.conv_size };
    for k in m.layer_kinds() {
        (k.descriptor().validate)(&sizes)
            .map_err(|(f, message)| err(format!("{} at width {w}, head_dim {head_dim}: {f} {message}", m.name)))?;
    }
    let mut wide = m.clone();
    wide.d_model = w;
    wide.head_dim = head_dim;
    wide.d_mlp = (8 * w / 3).div_ceil(8) * 8;
    Ok(wide)
}
