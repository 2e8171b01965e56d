//! seqbench: softmax attention, gated RNNs and the linear-attention family, measured side by side.
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
