//! The shipped models at one size, described from their configs' shapes alone (no weight is
//! allocated, so a 1.3B model is listed in microseconds): what `seqbench list` prints and the docs'
//! `models` blocks render.

use crate::model::config;
use crate::model::LanguageModel;
use crate::output::bytes;
use candle_core::DType;
use serde::Serialize;

/// One model at one size.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub model: String,
    pub mixer: String,
    pub d_model: usize,
    pub n_layers: usize,
    pub head_dim: usize,
    pub d_mlp: usize,
    pub params: usize,
    /// Bytes of the weights, each tensor in its dtype (matrices in the chosen dtype, the rest f32).
    pub param_bytes: usize,
    /// Exact state bytes at batch 1 after T tokens, for T = 1 024 and 32 768.
    pub state_bytes_1k: usize,
    pub state_bytes_32k: usize,
    /// Growth of the state per token at batch 1 (0 for recurrent models).
    pub state_bytes_per_token: f64,
    /// Exact state bytes of each layer at 32 768 tokens (differs between layers in hybrids).
    pub layer_state_bytes_32k: Vec<usize>,
    pub recurrence: String,
}

/// Every shipped model at `size`, its matrices (and KV cache) in `dtype`.
pub fn entries(size: &str, dtype: DType) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for name in config::built_in_names() {
        let cfg = config::load(name, size)?;
        let m = LanguageModel::shapes_only(&cfg, dtype)?;
        let (a, b) = (m.state_bytes(1, 1024), m.state_bytes(1, 32768));
        entries.push(Entry {
            model: name.to_string(),
            mixer: cfg.mixer_summary(),
            d_model: cfg.d_model,
            n_layers: cfg.n_layers,
            head_dim: cfg.head_dim,
            d_mlp: cfg.d_mlp,
            params: m.num_params(),
            param_bytes: m.param_bytes(),
            state_bytes_1k: a,
            state_bytes_32k: b,
            state_bytes_per_token: (b - a) as f64 / (32768.0 - 1024.0),
            layer_state_bytes_32k: m.layer_state_bytes(1, 32768),
            recurrence: match &cfg.layers {
                None => cfg.mixer.update().to_string(),
                Some(_) => format!(
                    "per layer: {}",
                    cfg.layer_kinds()
                        .iter()
                        .zip(m.layer_state_bytes(1, 32768))
                        .map(|(k, b)| format!("{} ({} @32k)", k.name(), bytes(b)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        });
    }
    Ok(entries)
}

/// The state's growth per token as text: `constant` or `192.0 KiB / token`.
pub fn growth_text(e: &Entry) -> String {
    if e.state_bytes_per_token == 0.0 {
        "constant".to_string()
    } else {
        format!("{} / token", bytes(e.state_bytes_per_token as usize))
    }
}
