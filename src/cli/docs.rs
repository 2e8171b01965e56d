//! `seqbench docs [--check]`: README.md's and docs/'s figures rendered from committed runs
//! ([`crate::report::docs`]).

use crate::cli::DocsArgs;
use crate::report::docs;

pub fn run(a: &DocsArgs) -> anyhow::Result<bool> {
    if !a.root.join("README.md").is_file() {
        return Err(crate::error::usage(format!("--root {}: no README.md there", a.root.display())));
    }
    if a.check {
        let problems = docs::check(&a.root);
        for p in &problems {
            eprintln!("{p}");
        }
        if problems.is_empty() {
            println!("docs: every generated figure matches its committed run; every cited run is tracked");
        }
        return Ok(problems.is_empty());
    }
    let (changed, errors) = docs::write(&a.root)?;
    for f in &changed {
        println!("rewrote {}", f.display());
    }
    for e in &errors {
        eprintln!("not rendered: {e}");
    }
    // The blocks were just rendered; what is left to check is the evidence they cite.
    let problems = docs::evidence_problems(&a.root);
    for p in &problems {
        eprintln!("{p}");
    }
    Ok(errors.is_empty() && problems.is_empty())
}
