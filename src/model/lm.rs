//! The language model around any mixer. Identical scaffolding for every model, so the token mixer is
//! the only difference: byte embedding -> n x [x + mixer(norm(x)); x + mlp(norm(x))] -> norm -> head.

use crate::kernels::Form;
use crate::model::config::ModelConfig;
use crate::model::mixers::{self, Family, Mixer, State};
use crate::model::nn::{Linear, Params, RmsNorm};
use crate::model::recompute::{Recompute, Segment};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// SwiGLU feed-forward: `W_down (silu(W_gate x) ⊙ W_up x)`.
struct Mlp {
    gate_up: Linear,
    down: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // The fused MLP for training and prefill; a decode step's few rows keep the small-row
        // projections (`kernels::gemv`), which do not pack the weights.
        let (w_gu, w_d) = (&self.gate_up.weight, &self.down.weight);
        let d = x.dim(candle_core::D::Minus1)?;
        if x.elem_count() / d.max(1) > crate::kernels::gemv::MAX_ROWS && crate::kernels::mlp::serves(x, w_gu, w_d) {
            return crate::kernels::mlp::fused(&x.reshape(((), d))?, w_gu, w_d)?.reshape(x.shape());
        }
        self.down.forward(&crate::kernels::swiglu::swiglu(&self.gate_up.forward(x)?)?)
    }
}

struct Block {
    mixer_norm: RmsNorm,
    mixer: Box<dyn Mixer>,
    mlp_norm: RmsNorm,
    mlp: Mlp,
}

impl Block {
    /// `x + mlp(norm(x))`.
    fn mlp_residual(&self, x: &Tensor) -> Result<Tensor> {
        x + self.mlp.forward(&self.mlp_norm.forward(x)?)?
    }
}

/// A byte-level language model (vocabulary 256).
pub struct LanguageModel {
    pub config: ModelConfig,
    params: Params,
    embed: Tensor,
    blocks: Vec<Arc<Block>>,
    norm: RmsNorm,
    head: Linear,
    /// Training recomputes each mixer in the backward instead of keeping its activations
    /// ([`LanguageModel::set_recompute`]).
    recompute_on: AtomicBool,
    recompute: Recompute,
}

impl LanguageModel {
    /// Builds the model with weights drawn from `seed` (same seed, same weights), its matrix
    /// products in `dtype` (see [`crate::device::parse_dtype`]; f32 for full precision).
    pub fn new(config: &ModelConfig, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        Self::build(config, Params::new(seed, device, dtype))
    }

    /// The same model for inference only: identical weights, but no autograd graph is recorded, so a
    /// prefill frees each layer's intermediates as it goes. Cannot be trained.
    pub fn for_inference(config: &ModelConfig, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        Self::build(config, Params::frozen(seed, device, dtype))
    }

    /// The model's structure only: every parameter a stand-in of the right shape and dtype
    /// ([`Params::shapes_only`]), so parameters and state bytes are counted at any size without
    /// allocating the weights. It must not be run.
    pub fn shapes_only(config: &ModelConfig, dtype: DType) -> Result<Self> {
        Self::build(config, Params::shapes_only(&Device::Cpu, dtype))
    }

    fn build(config: &ModelConfig, p: Params) -> Result<Self> {
        let (d, n) = (config.d_model, config.n_layers);
        let out_gain = 1.0 / (2.0 * n as f64).sqrt();
        let embed = p.matrix("embed", (config.vocab, d), 1.0)?;
        let blocks = (0..n)
            .map(|i| {
                let b = p.sub(&format!("layers.{i}"));
                Ok(Arc::new(Block {
                    mixer_norm: RmsNorm::new(&b, "mixer_norm", d)?,
                    mixer: mixers::build(&config.mixer_spec(i), &b.sub("mixer"))?,
                    mlp_norm: RmsNorm::new(&b, "mlp_norm", d)?,
                    mlp: Mlp {
                        gate_up: Linear::new(&b.sub("mlp"), "gate_up", d, 2 * config.d_mlp, false, 1.0)?,
                        down: Linear::new(&b.sub("mlp"), "down", config.d_mlp, d, false, out_gain)?,
                    },
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LanguageModel {
            config: config.clone(),
            norm: RmsNorm::new(&p, "norm", d)?,
            head: Linear::new(&p, "head", d, config.vocab, false, 1.0)?,
            params: p,
            embed,
            blocks,
            recompute_on: AtomicBool::new(false),
            recompute: Recompute::default(),
        })
    }

    /// Whether training recomputes each block's mixer (and its norm) in the backward instead of
    /// keeping its activations ([`crate::model::recompute`]): a step then holds one layer's mixer
    /// intermediates at a time, for one more forward of the mixers. CPU only.
    pub fn set_recompute(&self, on: bool) -> Result<()> {
        if on && !self.device().is_cpu() {
            candle_core::bail!("recompute runs on the CPU only (its op has no CUDA form)");
        }
        self.recompute_on.store(on, Ordering::Relaxed);
        Ok(())
    }

    pub fn recomputes(&self) -> bool {
        self.recompute_on.load(Ordering::Relaxed)
    }

    /// Back-propagates `loss`: the gradients of every parameter, those found by recomputed mixers
    /// included (the optimizer does the same through [`LanguageModel::recompute_gradients`]).
    pub fn backward(&self, loss: &Tensor) -> Result<GradStore> {
        let mut grads = loss.backward()?;
        self.recompute.merge_into(&mut grads)?;
        Ok(grads)
    }

    /// Where this model's recomputed mixers leave their weights' gradients during a backward.
    pub fn recompute_gradients(&self) -> Recompute {
        self.recompute.clone()
    }

    pub fn device(&self) -> &Device {
        self.params.device()
    }

    /// Every parameter with its name, sorted by name (a stable order for optimisers and checks).
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.params.varmap().data().lock().expect("parameter map poisoned");
        let mut vars: Vec<_> = data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// FLOPs of one training step per token at `seq_len` (forward + backward = 3 x forward): 6 per
    /// weight outside the embedding, plus the token mixing itself: causal attention `6 T d` per layer
    /// (q·k and p·v over T/2 keys on average), a linear recurrence `24 d d_head` per layer (state
    /// decay, write and read), the models' own FLOPs whatever form computes them.
    pub fn train_flops_per_token(&self, seq_len: usize) -> f64 {
        let dense = (self.num_params() - self.config.vocab * self.config.d_model) as f64;
        let (d, dh, t) = (self.config.d_model as f64, self.config.head_dim as f64, seq_len as f64);
        let mixing: f64 = self
            .config
            .layer_kinds()
            .iter()
            .map(|k| match k.family() {
                // Each query sees t/2 keys on average (min(t, W) under a sliding window, roughly).
                Family::Attention => 6.0 * self.config.window_of(*k).map_or(t, |w| t.min(w as f64)) * d,
                Family::Linear => 24.0 * d * dh,
                Family::ClassicRnn => 0.0,
            })
            .sum();
        6.0 * dense + mixing
    }

    pub fn num_params(&self) -> usize {
        self.params.count().elements
    }

    /// Writes the weights as safetensors.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        self.params.varmap().save(path)
    }

    /// The training form of the linear family for this model: chunkwise with the config's chunk.
    ///
    /// Where the fused kernels serve the device (the CPU), the fused recurrent scan is the default
    /// instead: there it trains and prefills faster than the chunkwise form of plain ops (see
    /// `seqbench bench kernels`), and keeps only its inputs for the backward.
    pub fn default_form(&self) -> Form {
        if crate::kernels::cpu::enabled(self.device()) {
            Form::Recurrent
        } else {
            Form::Chunkwise(self.config.chunk_size)
        }
    }

    /// Logits `[B, T, 256]` for byte ids `[B, T]` (u32), continuing from `states` (None: a fresh
    /// sequence). Returns the states after the last token (still attached to the graph).
    pub fn run(&self, ids: &Tensor, states: Option<&[State]>, form: Form) -> Result<(Tensor, Vec<State>)> {
        let mut x = self.embed_ids(ids)?;
        let mut next = Vec::with_capacity(self.blocks.len());
        for (i, block) in self.blocks.iter().enumerate() {
            let state = states.map(|s| &s[i]);
            let (y, s) = block.mixer.run(&block.mixer_norm.forward(&x)?, state, form)?;
            x = block.mlp_residual(&(x + y)?)?;
            next.push(s);
        }
        Ok((self.logits(&x)?, next))
    }

    /// Training forward over whole sequences (each mixer under [`Recompute::checkpoint`] when
    /// [`LanguageModel::set_recompute`] is on).
    pub fn forward(&self, ids: &Tensor, form: Form) -> Result<Tensor> {
        if !self.recomputes() {
            return Ok(self.run(ids, None, form)?.0);
        }
        let mut x = self.embed_ids(ids)?;
        for block in &self.blocks {
            let b = block.clone();
            let mixer: Segment = Arc::new(move |x: &Tensor| Ok(b.mixer.run(&b.mixer_norm.forward(x)?, None, form)?.0));
            x = block.mlp_residual(&(&x + self.recompute.checkpoint(&x, mixer)?)?)?;
        }
        self.logits(&x)
    }

    /// The residual stream's input: byte ids `[B, T]` embedded, `[B, T, d_model]` in f32.
    fn embed_ids(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let x = self.embed.index_select(&ids.flatten_all()?, 0)?.to_dtype(DType::F32)?;
        x.reshape((b, t, self.config.d_model))
    }

    /// `head(norm(x))`: logits `[B, T, 256]`.
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(&self.norm.forward(x)?)
    }

    /// Mean cross-entropy (nats) of predicting `targets` from `ids`, both `[B, T]`.
    pub fn loss(&self, ids: &Tensor, targets: &Tensor, form: Form) -> Result<Tensor> {
        let targets = targets.flatten_all()?;
        let weights = Tensor::ones(targets.dims1()?, DType::F32, targets.device())?;
        self.weighted_loss(ids, &targets, &weights, form)
    }

    /// Mean cross-entropy over the positions where `mask` (`[B, T]`, 0/1 f32) is 1: the recall tasks
    /// score only their query positions.
    pub fn masked_loss(&self, ids: &Tensor, targets: &Tensor, mask: &Tensor, form: Form) -> Result<Tensor> {
        self.weighted_loss(ids, &targets.flatten_all()?, &mask.flatten_all()?, form)
    }

    /// `Σ_i w_i CE_i / max(Σ_i w_i, 1)` over the `B*T` positions ([`crate::kernels::loss`]).
    fn weighted_loss(&self, ids: &Tensor, targets: &Tensor, weights: &Tensor, form: Form) -> Result<Tensor> {
        let logits = self.forward(ids, form)?;
        crate::kernels::loss::cross_entropy(&logits.reshape(((), self.config.vocab))?, targets, weights)
    }

    /// Processes a prompt in parallel; returns its logits and the detached states for decoding.
    pub fn prefill(&self, ids: &Tensor, form: Form) -> Result<(Tensor, Vec<State>)> {
        let (logits, states) = self.run(ids, None, form)?;
        Ok((logits.detach(), states.iter().map(State::detach).collect()))
    }

    /// Processes a prompt `chunk` tokens at a time, carrying the state (bounds attention's score
    /// matrix and the activations to one chunk). Returns the last chunk's logits and the states.
    pub fn prefill_chunked(&self, ids: &Tensor, chunk: usize) -> Result<(Tensor, Vec<State>)> {
        let t = ids.dim(1)?;
        let chunk = chunk.max(1);
        let mut out: Option<(Tensor, Vec<State>)> = None;
        let mut done = 0;
        while done < t {
            let n = chunk.min(t - done);
            let (l, next) =
                self.run(&ids.narrow(1, done, n)?, out.as_ref().map(|(_, s)| s.as_slice()), self.default_form())?;
            out = Some((l.detach(), next.iter().map(State::detach).collect()));
            done += n;
        }
        out.ok_or_else(|| candle_core::Error::Msg("prefill of an empty prompt".into()))
    }

    /// Decodes one token per sequence, `ids: [B, 1]`; returns logits `[B, 1, 256]`.
    pub fn step(&self, ids: &Tensor, states: &mut Vec<State>) -> Result<Tensor> {
        let (logits, next) = self.run(ids, Some(states), Form::Recurrent)?;
        *states = next.iter().map(State::detach).collect();
        Ok(logits.detach())
    }

    /// States before any token.
    pub fn empty_states(&self, batch: usize) -> Result<Vec<State>> {
        self.blocks.iter().map(|b| b.mixer.empty_state(batch)).collect()
    }

    /// States of the size they have after `position` tokens (see [`crate::model::mixers::Mixer::state_at`]).
    pub fn states_at(&self, batch: usize, position: usize) -> Result<Vec<State>> {
        self.blocks.iter().map(|b| b.mixer.state_at(batch, position)).collect()
    }

    /// Exact state bytes of each layer after `seq_len` tokens, by formula.
    pub fn layer_state_bytes(&self, batch: usize, seq_len: usize) -> Vec<usize> {
        self.blocks.iter().map(|b| b.mixer.state_bytes(batch, seq_len)).collect()
    }

    /// Exact bytes of all layers' states after `seq_len` tokens, by formula.
    pub fn state_bytes(&self, batch: usize, seq_len: usize) -> usize {
        self.blocks.iter().map(|b| b.mixer.state_bytes(batch, seq_len)).sum()
    }

    /// Dtype of the matrix products (the embedding's and projections' weights).
    pub fn dtype(&self) -> DType {
        self.embed.dtype()
    }

    /// Parameter bytes, each in its own dtype (f32 masters for training not included).
    pub fn param_bytes(&self) -> usize {
        self.params.count().bytes
    }
}
