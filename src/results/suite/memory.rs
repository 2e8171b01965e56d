//! `[memory]`: exact state (or KV cache) bytes per position, with the measured heap and RSS.

use super::{Cells, Check, Section, Suite};
use crate::error::UserError;
use crate::results::{Measurement, Settings};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySection {
    pub positions: Vec<usize>,
    #[serde(default = "super::one")]
    pub batch: usize,
    pub prefill_chunk: Option<usize>,
    /// `"prefill"` (default: the state is built by prefilling the position in chunks) or
    /// `"synthetic"` (built at its size directly, for positions no CPU can prefill at large sizes).
    pub fill: Option<String>,
    pub models: Option<Vec<String>>,
}

impl Section for MemorySection {
    fn validate(&self, check: &Check) -> Result<(), UserError> {
        check.nonempty_positive("memory.positions", &self.positions)?;
        if let Some(f) = self.fill.as_deref().filter(|f| !["prefill", "synthetic"].contains(f)) {
            return Err(check.err("memory.fill", format!("must be \"prefill\" or \"synthetic\" (got \"{f}\")")));
        }
        check.positive("memory.batch", self.batch)
    }

    fn window_grid(&self) -> Option<(&'static str, &Option<Vec<String>>, &[usize])> {
        Some(("memory.positions", &self.models, &self.positions))
    }

    fn cells(&self, suite: &Suite, out: &mut Cells) -> Result<(), UserError> {
        let last = self.positions.iter().copied().max();
        for (m, ratio) in suite.with_ratios(&self.models, None)? {
            for &p in self.positions.iter().filter(|&&p| !ratio || Some(p) == last) {
                let settings = Settings {
                    batch: Some(self.batch),
                    prefill_chunk: self.prefill_chunk,
                    synthetic: (self.fill.as_deref() == Some("synthetic")).then_some(true),
                    ..Default::default()
                };
                out.push(Measurement::Memory, &m, m.label(), p, settings, suite.plan);
            }
        }
        Ok(())
    }
}
