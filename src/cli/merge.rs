//! `seqbench merge DIR... --out DIR [--allow-partial]`: join the shards of one suite into one run
//! ([`crate::results::merge`]) and write it.

use crate::results::Results;

pub fn run(a: &crate::cli::MergeArgs) -> anyhow::Result<bool> {
    crate::output::refuse_file_as_dir(&a.out, "--out")?;
    let runs = a.runs.iter().map(|p| Results::load(p)).collect::<anyhow::Result<Vec<_>>>()?;
    let run_id = a.out.file_name().map_or("merged".into(), |n| n.to_string_lossy().to_string());
    let mut merged = crate::results::merge::merge(&runs, &a.runs, a.allow_partial, run_id)?;
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    crate::report::save(&mut merged.results, &a.out)?;
    let r = &merged.results;
    println!(
        "merged {} runs: {} of {} cells{} -> {}/results.{{json,csv,md}}",
        runs.len(),
        r.cells.len(),
        r.planned.len(),
        if r.partial.is_some() { " (PARTIAL)" } else { "" },
        a.out.display()
    );
    Ok(true)
}
