//! `[latency]`: time to first token (prefill) per prompt length and one decode step's time per
//! position.

use super::{Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::results::stats::SamplePlan;
use crate::results::{Measurement, Settings};
use serde::{Deserialize, Serialize};

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
    #[serde(default = "super::one")]
    pub batch: usize,
    pub plan: Option<SamplePlan>,
    /// The prefill cells' plan where it differs from `plan` (a 1024-token prefill at 1.3B is half a
    /// minute a sample on 2 cores, a decode step a fraction of a second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_plan: Option<SamplePlan>,
    pub models: Option<Vec<String>>,
}

impl Section for LatencySection {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        check.nonempty_positive("latency.positions", &self.positions)?;
        if self.prompt == 0 || self.batch == 0 {
            return Err(check.err("latency.prompt", "prompt and batch must be positive"));
        }
        if self.prompts.contains(&0) {
            return Err(check.err("latency.prompts", "every prompt length must be positive"));
        }
        Ok(())
    }

    fn window_grid(&self) -> Option<(&'static str, &Option<Vec<String>>, &[usize])> {
        Some(("latency.positions", &self.models, &self.positions))
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        let plan = self.plan.unwrap_or(suite.plan);
        let last = self.positions.iter().copied().max();
        for (m, ratio) in suite.with_ratios(&self.models, None)? {
            let settings = Settings { batch: Some(self.batch), ..Default::default() };
            if !ratio {
                let mut prompts = vec![self.prompt];
                prompts.extend(self.prompts.iter().filter(|&&p| p != self.prompt));
                for &p in &prompts {
                    let plan = self.prefill_plan.unwrap_or(plan);
                    out.push(Measurement::PrefillLatency, &m, m.label(), p, settings.clone(), plan);
                }
            }
            for &p in self.positions.iter().filter(|&&p| !ratio || Some(p) == last) {
                out.push(Measurement::DecodeLatency, &m, m.label(), p, settings.clone(), plan);
            }
        }
        Ok(())
    }
}
