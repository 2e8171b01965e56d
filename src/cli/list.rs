//! `seqbench list`: every shipped model with its size, parameters and state growth.

use crate::cli::ListArgs;
use crate::model::catalog;
use crate::output::{bytes, count, table};

pub fn run(args: &ListArgs) -> anyhow::Result<()> {
    let dtype = crate::device::parse_dtype(&args.dtype)?;
    let entries = catalog::entries(&args.size, dtype)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    let mut t = table(&[
        "model",
        "mixer",
        "layers x d",
        "params",
        "weights",
        "state @1k",
        "state @32k",
        "growth / token",
        "state update",
    ]);
    for e in &entries {
        let growth = catalog::growth_text(e);
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
