//! seqbench: softmax attention, gated RNNs and the linear-attention family, measured side by side.
pub mod kernels;
pub mod mixers;
pub mod nn;
pub mod rng;
pub mod verify;
