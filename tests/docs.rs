//! The claims check: every figure README.md and docs/ quote between markers is what `seqbench docs`
//! renders from the committed run it names, every cited results/ path is tracked by git, and
//! README.md has no figure outside the markers. Shown failing on a temporary clone: a hand-edited
//! number, a figure typed into README, a removed run directory.

use seqbench::report::docs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git").args(args).current_dir(dir).output().expect("git runs");
    assert!(ok.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
}

#[test]
fn every_figure_in_readme_and_docs_comes_from_a_committed_run() {
    let problems = docs::check(&root());
    assert!(problems.is_empty(), "seqbench docs --check:\n{}", problems.join("\n"));
}

#[test]
fn the_check_fails_on_a_hand_edit_a_loose_figure_and_a_removed_run() {
    let tmp = std::env::temp_dir().join(format!("seqbench-docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    git(&root(), &["clone", "--quiet", "--no-hardlinks", root().to_str().unwrap(), tmp.to_str().unwrap()]);
    // The clone is HEAD; bring the working tree's documents and runs the check reads up to date.
    for doc in docs::documents(&root()) {
        let rel = doc.strip_prefix(root()).unwrap();
        std::fs::copy(&doc, tmp.join(rel)).unwrap();
    }
    let fresh = docs::check(&tmp);
    // A run cited in the working tree but not yet committed is the one thing a clone of HEAD lacks.
    let base: Vec<&String> = fresh.iter().filter(|p| !p.contains("which git does not track")).collect();
    assert!(base.is_empty(), "{base:?}");

    let readme = tmp.join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let end = text.find(docs::END).expect("README has a generated block");
    let start = text[..end].rfind(docs::BEGIN).unwrap();
    // A figure inside a block edited by hand: the first digit in the block's body changed.
    let body_start = start + text[start..].find("-->").unwrap() + 3;
    let digit = body_start + text[body_start..end].find(|c: char| c.is_ascii_digit()).expect("a figure in the block");
    let old = text.as_bytes()[digit] as char;
    let new = if old == '9' { '8' } else { (old as u8 + 1) as char };
    let edited = format!("{}{new}{}", &text[..digit], &text[digit + 1..]);
    std::fs::write(&readme, &edited).unwrap();
    let problems = docs::check(&tmp);
    assert!(problems.iter().any(|p| p.starts_with("README.md: a generated block differs")), "{problems:?}");

    // A figure typed into README's prose.
    std::fs::write(&readme, format!("{text}\nseqbench trains 1.7x faster than attention.\n")).unwrap();
    let problems = docs::check(&tmp);
    assert!(problems.iter().any(|p| p.contains("figure outside") && p.contains("1.7 x")), "{problems:?}");

    // A cited run directory removed from git.
    std::fs::write(&readme, &text).unwrap();
    let cited = docs::cited_results(&text);
    let gone = cited.first().expect("README cites a run");
    git(&tmp, &["rm", "-r", "-q", "--cached", &format!("results/{gone}")]);
    let problems = docs::check(&tmp);
    assert!(
        problems.iter().any(|p| p.contains(&format!("cites results/{gone}, which git does not track"))),
        "{problems:?}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_change_over_time_names_both_machines_and_says_when_they_differ() {
    use seqbench::report::docs::render;
    // The two sides of one A/B run: the same machine.
    let side = "results/experiments/perf-gemm-v4-off-epyc-2core";
    let same = render(&root(), &format!("change {side}/baseline {side}/candidate generation/attention@small/batch=32"))
        .unwrap();
    assert!(same.contains("from ") && same.contains(" to ") && same.contains("Same machine"), "{same}");
    assert!(same.matches("AMD EPYC (x86-64-v4)").count() == 2, "both machines named: {same}");
    // An AMD EPYC run against an Intel Xeon run: different machines, said in bold.
    let different =
        render(&root(), "change results/quick-reference-2core results/ci-baseline memory/attention@small/position=256")
            .unwrap();
    assert!(different.contains("**Different machines**"), "{different}");
    assert!(
        different.contains("AMD EPYC") && different.contains("Intel(R) Xeon(R) Processor (x86-64-v4)"),
        "{different}"
    );
    // A cell a run does not hold is an error naming the run.
    let missing = render(&root(), "change results/quick-reference-2core results/ci-baseline no/such/cell").unwrap_err();
    assert!(format!("{missing}").contains("results/quick-reference-2core: no cell `no/such/cell`"), "{missing}");
}
