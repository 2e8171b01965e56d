//! Recomputation (activation checkpointing, as `torch.utils.checkpoint`): a block's token mixer
//! keeps only its input for the backward and runs its forward again there, so a training step holds
//! one layer's mixer intermediates at a time instead of every layer's.
//!
//! ```text
//!   forward:   y = f(x)                     (f's graph is dropped as soon as y is computed)
//!   backward:  y' = f(x') on a fresh leaf x';  backprop Σ y' ⊙ dy  ->  dx = ∂/∂x',  dW for f's weights
//! ```
//!
//! candle's custom op hands the backward only its own input's gradient back to the graph, so the
//! weights' gradients found there wait in [`Recompute`] until the outer backward is done, and
//! [`Recompute::merge_into`] adds them to its gradients (the optimizer does so after every backward).
//! The recomputed forward runs the same deterministic kernels on the same values, so the gradients
//! are the kept-activation step's, bit for bit today (`seqbench check`, `tests/models.rs`,
//! `tests/recompute.rs`, which also measures the lower peak).

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, Var};
use std::sync::{Arc, Mutex};

/// The segment run again in the backward: `[B, T, d] -> [B, T, d]`.
pub type Segment = Arc<dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync>;

/// The weights' gradients found by the recomputing backwards of one step, until they are merged.
#[derive(Clone, Default)]
pub struct Recompute {
    pending: Arc<Mutex<GradStore>>,
}

impl Recompute {
    /// `f(x)` that keeps only `x` for the backward (CPU tensors; the op has no CUDA form).
    pub fn checkpoint(&self, x: &Tensor, f: Segment) -> Result<Tensor> {
        let y = f(&x.detach())?.detach(); // f's intermediates are freed here
        x.apply_op1(Checkpoint { value: Mutex::new(Some(y)), f, pending: self.pending.clone() })
    }

    /// Adds the weights' gradients collected since the last merge to `grads` (call after the backward).
    pub fn merge_into(&self, grads: &mut GradStore) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("recompute gradients poisoned"));
        grads.extend(pending)
    }
}

/// The custom op: its forward hands over the value computed in [`Recompute::checkpoint`], its
/// backward recomputes and back-propagates the segment.
struct Checkpoint {
    value: Mutex<Option<Tensor>>,
    f: Segment,
    pending: Arc<Mutex<GradStore>>,
}

impl CustomOp1 for Checkpoint {
    fn name(&self) -> &'static str {
        "recompute"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = self.value.lock().expect("checkpoint value poisoned").take();
        let y = y.ok_or_else(|| candle_core::Error::Msg("checkpoint forward ran twice".into()))?;
        let shape = y.shape().clone();
        let storage = match y.dtype() {
            candle_core::DType::F32 => CpuStorage::F32(y.flatten_all()?.to_vec1()?),
            candle_core::DType::F64 => CpuStorage::F64(y.flatten_all()?.to_vec1()?),
            other => candle_core::bail!("recompute: a segment's output in {other:?} is not supported"),
        };
        Ok((storage, shape))
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let leaf = Var::from_tensor(&x.detach())?;
        let y = (self.f)(leaf.as_tensor())?;
        let mut grads = (y * dy.detach())?.sum_all()?.backward()?;
        // candle leaves the leaves' gradients attached to the ops that made them, which hold the
        // recomputed intermediates: detached, those are freed now instead of at the merge.
        let dx = grads.remove(leaf.as_tensor()).map(|g| g.detach());
        let mut pending = self.pending.lock().expect("recompute gradients poisoned");
        for id in grads.get_ids().copied().collect::<Vec<_>>() {
            let g = grads.get_id(id).map(Tensor::detach).expect("listed id");
            let sum = match pending.get_id(id) {
                Some(earlier) => (earlier + g)?.detach(),
                None => g,
            };
            pending.insert_id(id, sum);
        }
        Ok(dx)
    }
}
