//! Measurements of the lecture's table. One file per measurement.

pub mod latency;
