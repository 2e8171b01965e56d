//! The models: one TOML preset per model ([`config`]), the language-model scaffold every mixer sits
//! in ([`lm`]), the token mixers (one file each, listed once in [`mixers::REGISTRY`]), the building
//! blocks ([`nn`]), training ([`train`], [`optim`], [`recompute`]), the task data ([`data`]), memory estimates made
//! before allocating ([`memory`]) and the model-level checks ([`check`]).

pub mod catalog;
pub mod check;
pub mod config;
pub mod data;
pub mod lm;
pub mod memory;
pub mod mixers;
pub mod nn;
pub mod optim;
pub mod recompute;
pub mod train;

pub use lm::LanguageModel;
