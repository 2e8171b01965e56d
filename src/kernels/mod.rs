//! The operations seqbench's models are made of, one folder or file per operation, each holding its
//! plain reference beside its fast forms (as flash-linear-attention lays out
//! `ops/<op>/{naive, chunk, fused_recurrent}`), and tested against it forward and backward:
//!
//! | operation | reference | fast forms |
//! |---|---|---|
//! | [`linear`]: the linear-attention family's recurrence | `linear/reference.rs` (f64 loop over scalars) | `recurrent.rs`, `chunkwise.rs` (plain ops, all three exact forms), `scan.rs` (fused CPU scan) |
//! | [`attention`]: causal softmax attention | `attention/reference.rs` | `attention/fused.rs` |
//! | [`rnn`]: the LSTM and GRU recurrences | `reference` in `rnn/lstm.rs`, `rnn/gru.rs` | `fused` beside it |
//! | [`norm`] (RMSNorm), [`rope`], [`rotation`] (Mamba-3's data-dependent pair rotation), [`swiglu`], [`conv`] (short causal conv + SiLU), [`loss`] (weighted cross-entropy), [`gemv`] (few-row projection) | `reference` | `fused` / `small_matmul` |
//! | [`broadcast`]: broadcasting with a one-pass gradient | `expand_reference` (candle's `broadcast_as`) | `expand`, `add`, `mul` |
//! | [`mlp`]: the scaffold's SwiGLU MLP (two projections and the gate) | `reference` (composed plain ops) | `fused` (one op, hidden activations recomputed in the backward) |
//!
//! Each operation's entry point (`linear::run`, `attention::causal_attention`, `rnn::lstm::lstm`,
//! `norm::rms_norm`, `conv::causal_conv_silu`, ...) takes the fused CPU form where it serves ([`cpu::serves`]: f32 on the CPU
//! unless SEQBENCH_PLAIN_OPS=1) and the plain form elsewhere. [`activation`] holds the elementwise
//! gates in plain ops; [`verify`] the agreement checks shared by `seqbench check` and the tests.
//!
//! The library API: [`run`], [`run_plain`], [`Inputs`] (built with `Inputs::new(q, k, v, gate)` and
//! its setters; `#[non_exhaustive]`, so a new field breaks no caller), [`Output`], [`Form`], [`Gate`]
//! and [`reference`] (the linear recurrence's oracle) are re-exported here.

pub mod activation;
pub mod attention;
pub mod broadcast;
pub mod conv;
pub mod cpu;
pub mod gemv;
pub mod linear;
pub mod loss;
pub mod mlp;
pub mod norm;
pub mod rnn;
pub mod rope;
pub mod rotation;
pub mod swiglu;
pub mod verify;

pub use linear::{
    reference, run, run_plain, Form, Gate, GateKind, Inputs, Output, Recurrence, DEFAULT_CHUNK, HOUSEHOLDER_STEPS,
};
pub use norm::l2_normalize;
