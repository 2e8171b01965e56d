//! seqbench: softmax attention, gated RNNs and the linear-attention family, measured side by side.
pub mod alloc;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod data;
pub mod env;
pub mod error;
pub mod kernels;
pub mod memory;
pub mod model;
pub mod mixers;
pub mod nn;
pub mod rng;
pub mod stats;
pub mod train;
pub mod verify;
