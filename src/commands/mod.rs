//! One file per subcommand: each turns parsed arguments into work and output.

pub mod ab;
pub mod bench;
pub mod check;
pub mod compare;
pub mod list;
pub mod merge;
pub mod report;
pub mod run;
pub mod train;
