//! `[hybrid_ratio]`: how much attention a hybrid needs. Not a measurement of its own: it adds one
//! model per share of attention layers to the train, latency, memory and mqar sections, measured at
//! their largest setting.

use super::Check;
use crate::error::UserError;
use crate::model::config::{self, ModelConfig};
use serde::{Deserialize, Serialize};

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

    pub(super) fn validate(&self, size: &str, check: &Check) -> Result<(), UserError> {
        let n = self.n_layers;
        if n == 0 || n > 64 {
            return Err(check.err("hybrid_ratio.n_layers", format!("must be between 1 and 64 (got {n})")));
        }
        if self.attention_layers.is_empty() {
            return Err(check.err("hybrid_ratio.attention_layers", "must list at least one share"));
        }
        if let Some(k) = self.attention_layers.iter().find(|&&k| k > n || (k > 0 && n % k != 0)) {
            return Err(check.err(
                "hybrid_ratio.attention_layers",
                format!("{k} attention layers cannot be spread evenly over n_layers = {n} (use 0 or a divisor of {n})"),
            ));
        }
        let (rec, attn) = (config::load(&self.recurrent, size)?, config::load(&self.attention, size)?);
        if rec.layers.is_some() || rec.mixer.is_attention() {
            return Err(
                check.err("hybrid_ratio.recurrent", format!("`{}` must be a single non-attention mixer", rec.name))
            );
        }
        if attn.layers.is_some() || !attn.mixer.is_attention() {
            return Err(
                check.err("hybrid_ratio.attention", format!("`{}` must be a single attention mixer", attn.name))
            );
        }
        Ok(())
    }
}
