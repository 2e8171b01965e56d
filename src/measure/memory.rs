//! Memory growth: the state after `position` tokens, built by prefilling in chunks (as inference
//! servers do, so attention's quadratic scores never exceed one chunk) with an inference model (no
//! autograd graph), measured three ways: exact bytes of the state's tensors, heap still held after
//! the prefill (counting allocator) and the peak heap and RSS during it; on a GPU also the device
//! memory held after and at the peak of the prefill (the CUDA memory pool). With `fill = "synthetic"`
//! the state is built at its size directly (zeros), for positions a CPU cannot prefill at the large
//! sizes: the exact bytes are the same, the peak is then the state's own allocation.

use super::{required, CellSpec, Outcome};
use crate::measure::meter::Meter;
use crate::model::mixers::State;
use crate::model::LanguageModel;
use std::collections::BTreeMap;

/// Prefill chunk when the cell does not say.
pub const DEFAULT_PREFILL_CHUNK: usize = 512;

pub fn measure(model: &LanguageModel, spec: &CellSpec) -> anyhow::Result<Outcome> {
    let batch = required(spec.settings.batch, "batch")?;
    let chunk = spec.settings.prefill_chunk.unwrap_or(DEFAULT_PREFILL_CHUNK).max(1);
    let position = spec.value;
    let meter = Meter::start(model.device());
    let states = if spec.settings.synthetic == Some(true) {
        model.states_at(batch, position)?
    } else {
        let ids = crate::model::data::byte_ids(batch, position, 2, model.device())?;
        model.prefill_chunked(&ids, chunk)?.1
    };
    // The device has run the prefill and freed what was dropped before the counters are read.
    crate::device::synchronize(model.device())?;
    let used = meter.finish();
    let exact: usize = states.iter().map(State::bytes).sum();
    let mut metrics = BTreeMap::new();
    metrics.insert("state_bytes_formula".into(), model.state_bytes(batch, position) as f64);
    metrics.insert("heap_held_bytes".into(), used.host_held as f64);
    metrics.insert("peak_heap_bytes".into(), used.host_peak as f64);
    if let (Some(held), Some(peak)) = (used.device_held, used.device_peak) {
        metrics.insert("device_held_bytes".into(), held as f64);
        metrics.insert("peak_device_bytes".into(), peak as f64);
    }
    metrics.insert("param_bytes".into(), model.param_bytes() as f64);
    // Per-layer exact bytes (hybrids mix constant states with growing KV caches).
    for (i, s) in states.iter().enumerate() {
        metrics.insert(format!("state_bytes.layer{i:02}"), s.bytes() as f64);
    }
    drop(states);
    Ok(Outcome::ok(vec![exact as f64], metrics))
}
