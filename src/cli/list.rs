//! `seqbench list`: every shipped model with its size, parameters and state growth.

use crate::cli::ListArgs;
use crate::model::config;
use crate::model::LanguageModel;
use crate::output::{bytes, count, table};
use serde::Serialize;

#[derive(Serialize)]
struct Entry {
    model: String,
    mixer: String,
    d_model: usize,
    n_layers: usize,
    head_dim: usize,
    params: usize,
    /// Bytes of the weights, each tensor in its dtype (matrices in `--dtype`, the rest f32).
    param_bytes: usize,
    /// Exact state bytes at batch 1 after T tokens, for T = 1 024 and 32 768.
    state_bytes_1k: usize,
    state_bytes_32k: usize,
    /// Growth of the state per token at batch 1 (0 for recurrent models).
    state_bytes_per_token: f64,
    /// Exact state bytes of each layer at 32 768 tokens (differs between layers in hybrids).
    layer_state_bytes_32k: Vec<usize>,
    recurrence: String,
}

pub fn run(args: &ListArgs) -> anyhow::Result<()> {
    let dtype = crate::device::parse_dtype(&args.dtype)?;
    let mut entries = Vec::new();
    for name in config::built_in_names() {
        let cfg = config::load(name, &args.size)?;
        // Counted from the config's shapes, allocating no weights (any size lists in milliseconds).
        let m = LanguageModel::shapes_only(&cfg, dtype)?;
        let (a, b) = (m.state_bytes(1, 1024), m.state_bytes(1, 32768));
        entries.push(Entry {
            model: name.to_string(),
            mixer: cfg.mixer_summary(),
            d_model: cfg.d_model,
            n_layers: cfg.n_layers,
            head_dim: cfg.head_dim,
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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    let mut t =
        table(&["model", "mixer", "layers x d", "params", "weights", "state @1k", "state @32k", "growth / token", "state update"]);
    for e in &entries {
        let growth = if e.state_bytes_per_token == 0.0 {
            "constant".to_string()
        } else {
            format!("{} / token", bytes(e.state_bytes_per_token as usize))
        };
        t.add_row(vec![
            e.model.clone(),
            e.mixer.to_string(),
            format!("{} x {}", e.n_layers, e.d_model),
            count(e.params),
            bytes(e.param_bytes),
            bytes(e.state_bytes_1k),
            bytes(e.state_bytes_32k),
            growth,
            e.recurrence.clone(),
        ]);
    }
    println!(
        "Models at size `{}` (weights: matrices in {1}, the rest f32; state: batch 1, every layer; KV cache in {1}, recurrent states in f32):\n{t}",
        args.size,
        dtype.as_str()
    );
    Ok(())
}
