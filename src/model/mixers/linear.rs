//! The linear-attention family's shared driver: a model describes how x becomes the kernel's inputs
//! and how the kernel's output becomes y; the state, the short-conv carry and the three forms are
//! handled here once.

use super::{Mixer, MixerKind, State};
use crate::kernels::{self, Form, Inputs};
use candle_core::{DType, Device, Result, Tensor};

/// The shape of a model's recurrent state.
#[derive(Clone, Copy, Debug)]
pub struct LinearShape {
    pub heads: usize,
    pub d_k: usize,
    pub d_v: usize,
    /// `(channels, width)` of what the model carries from past tokens, if anything: the last
    /// `width - 1` inputs of its short causal convolution, RWKV's token shift (width 2), or
    /// Mamba-3's previous token (width 2).
    pub conv: Option<(usize, usize)>,
}

/// What `project` produces: the kernel inputs (without the initial state), the new carry, a write
/// still owed to the carried state, and whatever the output transform needs (gates, skip inputs).
///
/// Built with [`Projected::new`] and the setters a mixer needs, so a field added for one mixer edits
/// no other (`#[non_exhaustive]`: no struct literal outside the crate).
#[non_exhaustive]
pub struct Projected {
    pub inputs: Inputs,
    pub conv: Option<Tensor>,
    /// `[B, H, d_k, d_v]` added to the carried state before the block's first token: a past token's
    /// write that depends on this block (Mamba-3's trapezoid term of the previous token).
    pub pending: Option<Tensor>,
    pub extra: Vec<Tensor>,
}

impl Projected {
    /// The kernel's inputs, with no conv carry, nothing pending and no extra tensors.
    pub fn new(inputs: Inputs) -> Self {
        Projected { inputs, conv: None, pending: None, extra: Vec::new() }
    }

    /// The short convolution's carry for the next block.
    pub fn conv(self, carry: Tensor) -> Self {
        Projected { conv: Some(carry), ..self }
    }

    /// A past token's write to add to the carried state first.
    pub fn pending(self, pending: Option<Tensor>) -> Self {
        Projected { pending, ..self }
    }

    /// Tensors the mixer's `output` reads besides the kernel's output.
    pub fn extra(self, extra: Vec<Tensor>) -> Self {
        Projected { extra, ..self }
    }
}

/// One model of the family: its parameterisation, per lecture.md section 3.
pub trait LinearFamily: Send + Sync {
    fn kind(&self) -> MixerKind;
    fn shape(&self) -> LinearShape;
    /// `x: [B, T, d_model]` -> q, k, v `[B, T, H, d]`, gate, β; `conv` is the carry of the short conv.
    fn project(&self, x: &Tensor, conv: Option<&Tensor>) -> Result<Projected>;
    /// `o: [B, T, H, d_v]` -> `[B, T, d_model]`.
    fn output(&self, o: &Tensor, p: &Projected) -> Result<Tensor>;
}

pub(crate) fn boxed<F: LinearFamily + 'static>(f: F, device: &Device) -> Box<dyn Mixer> {
    Box::new(LinearMixer(f, device.clone()))
}

/// Adapts a [`LinearFamily`] to the [`Mixer`] contract.
pub struct LinearMixer<F>(pub F, pub Device);

impl<F: LinearFamily> Mixer for LinearMixer<F> {
    fn kind(&self) -> MixerKind {
        self.0.kind()
    }

    fn run(&self, x: &Tensor, state: Option<&State>, form: Form) -> Result<(Tensor, State)> {
        let (s0, conv) = match state {
            None => (None, None),
            Some(State::Linear { s, conv }) => (Some(s.clone()), conv.as_ref()),
            Some(other) => {
                candle_core::bail!("{:?} mixer given a foreign state {other:?}", self.kind())
            }
        };
        let mut p = self.0.project(x, conv)?;
        p.inputs.initial_state = match (s0, p.pending.take()) {
            (Some(s), Some(w)) => Some((s + w)?),
            (s, _) => s,
        };
        let out = kernels::run(form, &p.inputs)?;
        let y = self.0.output(&out.o, &p)?;
        Ok((y, State::Linear { s: out.state, conv: p.conv }))
    }

    fn empty_state(&self, batch: usize) -> Result<State> {
        let sh = self.0.shape();
        let s = Tensor::zeros((batch, sh.heads, sh.d_k, sh.d_v), DType::F32, &self.1)?;
        let conv = sh.conv.map(|(c, w)| Tensor::zeros((batch, w - 1, c), DType::F32, &self.1)).transpose()?;
        Ok(State::Linear { s, conv })
    }

    fn state_bytes(&self, batch: usize, _seq_len: usize) -> usize {
        let sh = self.0.shape();
        let conv = sh.conv.map_or(0, |(c, w)| (w - 1) * c);
        4 * batch * (sh.heads * sh.d_k * sh.d_v + conv)
    }
}

/// The read-out most of the family shares: `W_o (RMSNorm_head(o) ⊙ gate(x))`, where the gate is
/// `silu(W_g x)` (RetNet, GLA, Gated DeltaNet), a low-rank `σ(W_up W_down x)` (KDA), or absent
/// (linear attention, DeltaNet).
pub struct HeadOutput {
    norm: crate::model::nn::RmsNorm,
    gate: OutputGate,
    out: crate::model::nn::Linear,
}

/// The output gate of a [`HeadOutput`].
enum OutputGate {
    None,
    Silu(crate::model::nn::Linear),
    LowRankSigmoid(crate::model::nn::Linear, crate::model::nn::Linear),
}

impl HeadOutput {
    pub fn new(
        p: &crate::model::nn::Params,
        d_model: usize,
        heads: usize,
        d_v: usize,
        gated: bool,
        out_gain: f64,
    ) -> Result<Self> {
        use crate::model::nn::Linear;
        let gate = if gated {
            OutputGate::Silu(Linear::new(p, "out_gate", d_model, heads * d_v, false, 1.0)?)
        } else {
            OutputGate::None
        };
        Self::with_gate(p, heads * d_v, d_v, d_model, gate, out_gain)
    }

    /// The read-out with KDA's low-rank sigmoid gate `σ(W_up W_down x)` (`W_down: d_model -> rank`).
    pub fn low_rank_sigmoid(
        p: &crate::model::nn::Params,
        d_model: usize,
        heads: usize,
        d_v: usize,
        rank: usize,
        out_gain: f64,
    ) -> Result<Self> {
        use crate::model::nn::Linear;
        let gate = OutputGate::LowRankSigmoid(
            Linear::new(p, "out_gate_down", d_model, rank, false, 1.0)?,
            Linear::new(p, "out_gate_up", rank, heads * d_v, true, 1.0)?,
        );
        Self::with_gate(p, heads * d_v, d_v, d_model, gate, out_gain)
    }

    fn with_gate(
        p: &crate::model::nn::Params,
        width: usize,
        d_v: usize,
        d_model: usize,
        gate: OutputGate,
        out_gain: f64,
    ) -> Result<Self> {
        use crate::model::nn::{Linear, RmsNorm};
        Ok(HeadOutput {
            norm: RmsNorm::new(p, "norm", d_v)?,
            gate,
            out: Linear::new(p, "out", width, d_model, false, out_gain)?,
        })
    }

    /// What [`HeadOutput::forward`] needs from the mixer's input (the gate, activated, if gated).
    pub fn from_input(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        Ok(match &self.gate {
            OutputGate::None => vec![],
            OutputGate::Silu(g) => vec![crate::kernels::activation::silu(&g.forward(x)?)?],
            OutputGate::LowRankSigmoid(down, up) => {
                vec![crate::kernels::activation::sigmoid(&up.forward(&down.forward(x)?)?)?]
            }
        })
    }

    /// `o: [B, T, H, d_v]`, `extra`: what [`HeadOutput::from_input`] returned.
    pub fn forward(&self, o: &Tensor, extra: &[Tensor]) -> Result<Tensor> {
        let mut y = crate::model::nn::merge_heads(&self.norm.forward(o)?)?;
        if let Some(g) = extra.first() {
            y = (y * g)?;
        }
        self.out.forward(&y)
    }
}
