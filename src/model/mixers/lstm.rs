//! LSTM (Hochreiter & Schmidhuber 1997), written out; non-linear in its state, so it has one form.
//!
//! `[i, f, g, o] = W x_t + U h_{t-1} + b`; `c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)`; `h_t = σ(o) ⊙ tanh(c_t)`.
//! The input projection runs for all tokens at once; only `U h` is sequential. Forget bias starts at 1.
//! The recurrence is [`crate::kernels::rnn::lstm`] (per-step reference and fused CPU op).

use super::{Descriptor, Family, Mixer, MixerKind, MixerSpec, State};
use crate::kernels::Form;
use crate::model::nn::{Linear, Params};
use candle_core::{DType, Device, Result, Tensor};

/// Lstm in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "lstm",
    family: Family::ClassicRnn,
    update: "c_t = f⊙c + i⊙tanh(g), h_t = o⊙tanh(c_t)",
    recurrence: None,
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, _| Ok(Box::new(Lstm::new(spec, p)?)),
};

pub struct Lstm {
    d: usize,
    input: Linear,
    recurrent: Linear,
    device: Device,
}

impl Lstm {
    pub fn new(spec: &MixerSpec, p: &Params) -> Result<Self> {
        let d = spec.d_model;
        let mut input = Linear::new(p, "input", d, 4 * d, false, 1.0)?;
        let bias: Vec<f32> = (0..4 * d).map(|i| if (d..2 * d).contains(&i) { 1.0 } else { 0.0 }).collect();
        input.bias = Some(p.sub("input").from_values("bias", bias)?);
        Ok(Lstm { d, input, recurrent: Linear::new(p, "recurrent", d, 4 * d, false, 1.0)?, device: p.device().clone() })
    }
}

impl Mixer for Lstm {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn run(&self, x: &Tensor, state: Option<&State>, _form: Form) -> Result<(Tensor, State)> {
        let (h0, c0) = match state {
            None => {
                let z = Tensor::zeros((x.dim(0)?, self.d), x.dtype(), x.device())?;
                (z.clone(), z)
            }
            Some(State::Rnn { h, c: Some(c) }) => (h.clone(), c.clone()),
            Some(other) => candle_core::bail!("LSTM given a foreign state {other:?}"),
        };
        let (y, c) = crate::kernels::rnn::lstm::lstm(&self.input.forward(x)?, &self.recurrent.weight, &h0, &c0)?;
        let h = y.narrow(1, y.dim(1)? - 1, 1)?.squeeze(1)?;
        Ok((y, State::Rnn { h, c: Some(c) }))
    }

    fn empty_state(&self, batch: usize) -> Result<State> {
        let z = Tensor::zeros((batch, self.d), DType::F32, &self.device)?;
        Ok(State::Rnn { h: z.clone(), c: Some(z) })
    }

    fn state_bytes(&self, batch: usize, _seq_len: usize) -> usize {
        2 * batch * self.d * 4
    }
}
