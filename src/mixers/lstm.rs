//! LSTM (Hochreiter & Schmidhuber 1997), written out; non-linear in its state, so it has one form.
//!
//! `[i, f, g, o] = W x_t + U h_{t-1} + b`; `c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)`; `h_t = σ(o) ⊙ tanh(c_t)`.
//! The input projection runs for all tokens at once; only `U h` is sequential. Forget bias starts at 1.
//! On the CPU the recurrence is one fused op (`fused::lstm`); the per-step ops below are its reference.

use super::{Mixer, MixerKind, MixerSpec, State};
use crate::kernels::Form;
use crate::nn::{sigmoid, Linear, Params};
use candle_core::{DType, Device, Result, Tensor};

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

/// Runs `cell(x_t, state)` over the time axis of `x_proj: [B, T, n]` and stacks the outputs once.
pub(crate) fn scan<S>(
    x_proj: &Tensor,
    mut state: S,
    mut cell: impl FnMut(&Tensor, S) -> Result<(Tensor, S)>,
) -> Result<(Tensor, S)> {
    let t = x_proj.dim(1)?;
    let mut outs = Vec::with_capacity(t);
    for i in 0..t {
        let (y, next) = cell(&x_proj.narrow(1, i, 1)?.squeeze(1)?, state)?;
        outs.push(y);
        state = next;
    }
    Ok((Tensor::stack(&outs, 1)?, state))
}

impl Mixer for Lstm {
    fn kind(&self) -> MixerKind {
        MixerKind::Lstm
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
        let d = self.d;
        let xg = self.input.forward(x)?;
        let t = x.dim(1)?;
        if crate::fused::serves(x) && crate::fused::serves(&self.recurrent.weight) && t > 0 {
            let (y, c) = crate::fused::lstm::lstm(&xg, &self.recurrent.weight, &h0, &c0)?;
            let h = y.narrow(1, t - 1, 1)?.squeeze(1)?;
            return Ok((y, State::Rnn { h, c: Some(c) }));
        }
        let (y, (h, c)) = scan(&xg, (h0, c0), |xg, (h, c)| {
            let gates = (xg + self.recurrent.forward(&h)?)?;
            let gate = |i: usize| gates.narrow(1, i * d, d);
            let c = ((sigmoid(&gate(1)?)? * c)? + (sigmoid(&gate(0)?)? * gate(2)?.tanh()?)?)?;
            let h = (sigmoid(&gate(3)?)? * c.tanh()?)?;
            Ok((h.clone(), (h, c)))
        })?;
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
