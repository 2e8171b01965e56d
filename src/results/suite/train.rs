//! `[train]`: training throughput (tokens/s of forward, loss, backward and AdamW) per sequence
//! length, per form of the linear family, with kept or recomputed activations.

use super::{Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::kernels::Form;
use crate::results::stats::SamplePlan;
use crate::results::{Measurement, Settings};
use serde::{Deserialize, Serialize};

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
    /// Train a probe of this many layers at each model's full width instead of the whole stack: a
    /// training crossover with attention depends on the width (attention's extra `4·T·d` a token
    /// and layer against the block's `24·d²`), not on the depth, and a 2-layer probe of a 24-layer
    /// model does up to a twelfth of its work. Labelled `(N-layer probe)`; hybrids are refused.
    #[serde(default)]
    pub probe_layers: Option<usize>,
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

impl Section for TrainSection {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        check.nonempty_positive("train.seq_lens", &self.seq_lens)?;
        if self.seq_lens.contains(&1) {
            return Err(check.err("train.seq_lens", "must be at least 2"));
        }
        check.positive("train.batch", self.batch)?;
        for f in &self.forms {
            Form::parse(f).map_err(|m| check.err("train.forms", m))?;
        }
        if let Some(n) = self.probe_layers {
            check.positive("train.probe_layers", n)?;
        }
        Ok(())
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        let plan = self.plan.unwrap_or(suite.plan);
        let longest = self.seq_lens.iter().copied().max();
        for (mut m, ratio) in suite.with_ratios(&self.models, None)? {
            if let Some(n) = self.probe_layers {
                if m.layers.is_some() {
                    return Err(UserError::Usage(format!(
                        "suite `{}`: `train.probe_layers` cannot shorten `{}`, whose layers are listed one by one (a hybrid); \
                         measure it without probe_layers",
                        suite.name,
                        m.label()
                    )));
                }
                m.n_layers = n;
            }
            let forms: Vec<Form> = if m.has_linear() && !ratio {
                self.forms
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
            for (form, &recompute) in forms.iter().flat_map(|f| self.recompute.variants().iter().map(move |r| (f, r))) {
                let default = *form == Form::Chunkwise(m.chunk_size);
                let mut label = if m.has_linear() && (self.forms.len() > 1 || !default) {
                    format!("{} [{}]", m.label(), form)
                } else {
                    m.label()
                };
                if recompute {
                    label.push_str(" +recompute");
                }
                if let Some(n) = self.probe_layers {
                    label.push_str(&format!(" ({n}-layer probe)"));
                }
                for &len in self.seq_lens.iter().filter(|&&l| !ratio || Some(l) == longest) {
                    let settings = Settings {
                        batch: Some(self.batch),
                        form: Some(form.to_string()),
                        recompute: recompute.then_some(true),
                        ..Default::default()
                    };
                    out.push(Measurement::TrainThroughput, &m, label.clone(), len, settings, plan);
                }
            }
        }
        Ok(())
    }
}
