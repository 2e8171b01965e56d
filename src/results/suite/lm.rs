//! `[lm]`: language modelling on the built-in corpus, validation bits/byte after a fixed budget of
//! steps.

use super::supervised::ONE_RUN;
use super::{Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::results::{Measurement, Settings};
use serde::{Deserialize, Serialize};

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
    /// The state's precision: each model trained as above (first seed) and decoded over this many
    /// held-out bytes with its state rounded to bf16 and f16 after every step, against f32.
    pub state_precision_tokens: Option<usize>,
}

impl Section for LmSection {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        check.positive("lm.steps", self.steps)?;
        check.positive("lm.batch", self.batch)?;
        if self.seq_len < 2 {
            return Err(check.err("lm.seq_len", "must be at least 2"));
        }
        if self.state_precision_tokens == Some(0) {
            return Err(check.err("lm.state_precision_tokens", "must be positive"));
        }
        if self.seeds == Some(0) {
            return Err(check.err("lm.seeds", "must be positive"));
        }
        Ok(())
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        for m in suite.models_sized(&self.models, self.size.as_deref())? {
            let settings = Settings {
                batch: Some(self.batch),
                steps: Some(self.steps),
                seq_len: Some(self.seq_len),
                lr: self.lr,
                seeds: self.seeds,
                ..Default::default()
            };
            if let Some(tokens) = self.state_precision_tokens {
                let one_seed = Settings { seeds: None, ..settings.clone() };
                out.push(Measurement::StatePrecision, &m, m.label(), tokens, one_seed, ONE_RUN);
            }
            out.push(Measurement::LmLoss, &m, m.label(), self.steps, settings, ONE_RUN);
        }
        Ok(())
    }
}
