//! AdamW with f32 master weights, so a model whose matrices compute in bf16 or f16 trains like an f32
//! one (mixed precision as in PyTorch's autocast with an f32 optimizer).
//!
//! A parameter held in a low-precision dtype gets an f32 master copy: its gradient is widened to f32,
//! candle-nn's AdamW updates the master, and the parameter is set to the master rounded. f32
//! parameters are their own masters (nothing is copied). Under f16 the loss is scaled before the
//! backward pass so that small gradients do not flush to zero (dynamic loss scaling, as PyTorch's
//! GradScaler): a step whose gradients overflow is skipped and the scale halved; after
//! [`GROWTH_INTERVAL`] good steps it doubles.

use crate::model::recompute::Recompute;
use crate::model::LanguageModel;
use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer as _, ParamsAdamW};

/// First loss scale under f16 (PyTorch's GradScaler default).
pub const INITIAL_SCALE: f64 = 65536.0;
/// Good steps after which the loss scale doubles.
pub const GROWTH_INTERVAL: usize = 2000;

/// Dynamic loss scale (f16 only).
struct LossScale {
    scale: f64,
    good_steps: usize,
}

/// Gradients of one loss, in f32, keyed by the master weights and unscaled, with their global norm
/// when it was already computed (the f16 overflow test needs it), so clipping does not compute it again.
pub struct Gradients {
    store: GradStore,
    norm: Option<f64>,
}

impl Gradients {
    /// The gradient of a parameter's f32 master (the parameter itself when it is f32).
    pub fn get(&self, master: &Tensor) -> Option<&Tensor> {
        self.store.get(master)
    }
}

/// AdamW over f32 masters of the model's parameters.
pub struct Optimizer {
    adamw: AdamW,
    /// (the model's parameter, its f32 master) in the order given (name order): the same Var twice
    /// for f32 parameters.
    pairs: Vec<(Var, Var)>,
    loss_scale: Option<LossScale>,
    /// Steps skipped because a scaled f16 gradient overflowed.
    pub skipped_steps: usize,
    /// Where a model's recomputed mixers leave their weights' gradients ([`Optimizer::for_model`]).
    recompute: Option<Recompute>,
}

impl Optimizer {
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let pairs = vars
            .into_iter()
            .map(|v| {
                let master =
                    if v.dtype() == DType::F32 { v.clone() } else { Var::from_tensor(&v.to_dtype(DType::F32)?)? };
                Ok((v, master))
            })
            .collect::<Result<Vec<_>>>()?;
        let f16 = pairs.iter().any(|(v, _)| v.dtype() == DType::F16);
        let adamw = AdamW::new(pairs.iter().map(|(_, m)| m.clone()).collect(), params)?;
        Ok(Optimizer {
            adamw,
            pairs,
            loss_scale: f16.then_some(LossScale { scale: INITIAL_SCALE, good_steps: 0 }),
            skipped_steps: 0,
            recompute: None,
        })
    }

    /// AdamW over every parameter of `model`, whose backward includes the gradients its recomputed
    /// mixers find ([`LanguageModel::set_recompute`]).
    pub fn for_model(model: &LanguageModel, params: ParamsAdamW) -> Result<Self> {
        let vars = model.named_vars().into_iter().map(|(_, v)| v).collect();
        Ok(Optimizer { recompute: Some(model.recompute_gradients()), ..Optimizer::new(vars, params)? })
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.adamw.set_learning_rate(lr)
    }

    /// The loss scale in use (1 unless f16).
    pub fn loss_scale(&self) -> f64 {
        self.loss_scale.as_ref().map_or(1.0, |s| s.scale)
    }

    /// Back-propagates `loss`; returns the f32 gradients for [`Optimizer::step`], or None when a
    /// scaled f16 gradient overflowed (the step is skipped and the scale halved).
    pub fn backward(&mut self, loss: &Tensor) -> Result<Option<Gradients>> {
        let scale = self.loss_scale();
        let mut grads = if scale == 1.0 { loss.backward()? } else { (loss * scale)?.backward()? };
        if let Some(recompute) = &self.recompute {
            recompute.merge_into(&mut grads)?;
        }
        for (var, master) in &self.pairs {
            if var.dtype() == DType::F32 && scale == 1.0 {
                continue; // its own master, already in f32 and unscaled
            }
            let Some(g) = grads.remove(var.as_tensor()) else { continue };
            let g = g.to_dtype(DType::F32)?;
            let g = if scale == 1.0 { g } else { (g * (1.0 / scale))? };
            grads.insert(master.as_tensor(), g);
        }
        let mut known_norm = None;
        if let Some(ls) = &mut self.loss_scale {
            let n = norm(&self.pairs, &grads)?;
            if !n.is_finite() {
                ls.scale /= 2.0;
                ls.good_steps = 0;
                self.skipped_steps += 1;
                return Ok(None);
            }
            ls.good_steps += 1;
            if ls.good_steps == GROWTH_INTERVAL {
                ls.scale *= 2.0;
                ls.good_steps = 0;
            }
            known_norm = Some(n);
        }
        Ok(Some(Gradients { store: grads, norm: known_norm }))
    }

    /// Clips the gradients to global norm `clip` (when given), updates the masters with AdamW and
    /// sets the low-precision parameters from them.
    pub fn step(&mut self, grads: Gradients, clip: Option<f64>) -> Result<()> {
        let mut store = grads.store;
        if let Some(clip) = clip {
            let n = match grads.norm {
                Some(n) => n,
                None => norm(&self.pairs, &store)?,
            };
            if n > clip {
                for (_, master) in &self.pairs {
                    if let Some(g) = store.remove(master.as_tensor()) {
                        store.insert(master.as_tensor(), (g * (clip / n))?);
                    }
                }
            }
        }
        self.adamw.step(&store)?;
        for (var, master) in &self.pairs {
            if var.dtype() != DType::F32 {
                var.set(&master.to_dtype(var.dtype())?)?;
            }
        }
        Ok(())
    }
}

/// Global gradient norm, summed in parameter order so the result is reproducible.
fn norm(pairs: &[(Var, Var)], grads: &GradStore) -> Result<f64> {
    let mut sq = 0f64;
    for (_, master) in pairs {
        if let Some(g) = grads.get(master.as_tensor()) {
            sq += g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
        }
    }
    Ok(sq.sqrt())
}
