//! GRU (Cho et al. 2014), written out; non-linear in its state, so it has one form.
//!
//! `r = σ(W_r x + U_r h + b_r)`, `z = σ(W_z x + U_z h + b_z)`, `n = tanh(W_n x + b_n + r ⊙ (U_n h + b_hn))`,
//! `h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}`. The recurrence is [`crate::kernels::rnn::gru`] (per-step
//! reference and fused CPU op).

use super::{Descriptor, Family, Mixer, MixerKind, MixerSpec, State};
use crate::kernels::Form;
use crate::model::nn::{Linear, Params};
use candle_core::{DType, Device, Result, Tensor};

/// Gru in the registry.
pub const MIXER: Descriptor = Descriptor {
    name: "gru",
    family: Family::ClassicRnn,
    update: "h_t = (1-z)⊙n + z⊙h_{t-1}",
    recurrence: None,
    beats: &[],
    validate: super::any_sizes,
    build: |spec, p, _| Ok(Box::new(Gru::new(spec, p)?)),
};

pub struct Gru {
    d: usize,
    input: Linear,
    recurrent: Linear,
    device: Device,
}

impl Gru {
    pub fn new(spec: &MixerSpec, p: &Params) -> Result<Self> {
        let d = spec.d_model;
        Ok(Gru {
            d,
            input: Linear::new(p, "input", d, 3 * d, true, 1.0)?,
            recurrent: Linear::new(p, "recurrent", d, 3 * d, true, 1.0)?,
            device: p.device().clone(),
        })
    }
}

impl Mixer for Gru {
    fn kind(&self) -> MixerKind {
        MixerKind::of(&MIXER)
    }

    fn run(&self, x: &Tensor, state: Option<&State>, _form: Form) -> Result<(Tensor, State)> {
        let h0 = match state {
            None => Tensor::zeros((x.dim(0)?, self.d), x.dtype(), x.device())?,
            Some(State::Rnn { h, c: None }) => h.clone(),
            Some(other) => candle_core::bail!("GRU given a foreign state {other:?}"),
        };
        let b_h = self.recurrent.bias.as_ref().expect("the GRU's recurrent projection has a bias");
        let y = crate::kernels::rnn::gru::gru(&self.input.forward(x)?, &self.recurrent.weight, b_h, &h0)?;
        let h = y.narrow(1, y.dim(1)? - 1, 1)?.squeeze(1)?;
        Ok((y, State::Rnn { h, c: None }))
    }

    fn empty_state(&self, batch: usize) -> Result<State> {
        Ok(State::Rnn { h: Tensor::zeros((batch, self.d), DType::F32, &self.device)?, c: None })
    }

    fn state_bytes(&self, batch: usize, _seq_len: usize) -> usize {
        batch * self.d * 4
    }
}
