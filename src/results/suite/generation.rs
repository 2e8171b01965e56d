//! `[generation]`: decode tokens/s per batch size after a prompt, under a memory budget.

use super::{parse_bytes, Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::results::stats::SamplePlan;
use crate::results::{Measurement, Settings};
use serde::{Deserialize, Serialize};

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

impl Section for GenerationSection {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        check.nonempty_positive("generation.batches", &self.batches)?;
        if self.prompt == 0 || self.tokens == 0 {
            return Err(check.err("generation.prompt", "prompt and tokens must be positive"));
        }
        if let Some(b) = &self.mem_budget {
            parse_bytes(b).map_err(|m| check.err("generation.mem_budget", m))?;
        }
        Ok(())
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        let plan = self.plan.unwrap_or(suite.plan);
        let budget = self.mem_budget.as_deref().map(|b| parse_bytes(b).expect("validated"));
        for m in suite.models_for(&self.models)? {
            for &b in &self.batches {
                let settings = Settings {
                    prompt: Some(self.prompt),
                    tokens: Some(self.tokens),
                    mem_budget: budget,
                    ..Default::default()
                };
                out.push(Measurement::Generation, &m, m.label(), b, settings, plan);
            }
        }
        Ok(())
    }
}
