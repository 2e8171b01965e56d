//! seqbench: softmax attention, gated RNNs and the linear-attention family, measured side by side.
pub mod alloc;
pub mod bench;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod device;
pub mod env;
pub mod error;
pub mod kernels;
pub mod meter;
pub mod model;
pub mod output;
pub mod report;
pub mod rng;
pub mod runner;
pub mod stats;
pub mod suite;
