//! seqbench: softmax attention, gated RNNs and the linear-attention family, measured side by side.
//!
//! Layers, each using only those below it (CONTRIBUTING.md):
//! [`cli`] -> [`measure`] -> [`report`] -> [`analysis`] -> [`results`] -> [`model`] -> [`kernels`], with
//! [`device`], [`error`], [`output`] and [`rng`] beneath them all.
pub mod analysis;
pub mod cli;
pub mod device;
pub mod error;
pub mod kernels;
pub mod measure;
pub mod model;
pub mod output;
pub mod report;
pub mod results;
pub mod rng;

// The library paths of the model types before the code was laid out by layers, kept for users.
pub use model::{config, mixers};
