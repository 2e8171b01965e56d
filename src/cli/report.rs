//! `seqbench report RUN_DIR [--compare BASELINE]`: the charts, report.html and results.md of a run.

use crate::cli::ReportArgs;
use crate::error::usage;
use crate::results::compare::{compare, Options};
use crate::results::Results;

pub fn run(a: &ReportArgs) -> anyhow::Result<()> {
    let threshold = super::compare::threshold(a.threshold)?;
    let mut results = Results::load(&a.run)?;
    let dir = if a.run.is_dir() { a.run.clone() } else { a.run.parent().map(|p| p.to_path_buf()).unwrap_or_default() };
    let comparison = match &a.compare {
        None => None,
        Some(base) => {
            let base = Results::load(base)?;
            let opts = Options { threshold, per_measurement: Default::default(), normalize: a.normalize };
            let cmp = compare(&base, &results, &opts);
            if cmp.cells.is_empty() {
                return Err(usage(format!("{} and {} have no cells in common", base.run_id, results.run_id)));
            }
            Some(cmp)
        }
    };
    for path in crate::report::write_report(&mut results, &dir, comparison.as_ref())? {
        println!("{}", path.display());
    }
    Ok(())
}
