//! `seqbench docs [--check]`: every figure README.md and docs/ quote is rendered from a committed run,
//! between marker comments, so a reader can re-derive it and a hand edit is caught:
//!
//! ```text
//! <!-- generated: scorecard results/quick-reference-2core -->
//! ...what `seqbench docs` renders from that run...
//! <!-- end generated -->
//! ```
//!
//! Kinds: `scorecard RUN` (the lecture's table, measured), `verdicts RUN PREFIX...` (the verdict
//! lines whose text starts with a prefix, under today's rules), `machine RUN` (CPU, ISA, cores,
//! calibration, commit, date and wall time of the run), `include FILE` (a committed table a script
//! rendered from its own JSON, e.g. a parity run's parity.md). [`check`] also refuses a cited
//! `results/...` path that git does not track, and a number with a unit in README.md outside the
//! markers and outside code.

use crate::results::Results;
use std::path::{Path, PathBuf};

/// The opening marker's prefix; the kind and its arguments follow, then ` -->`.
pub const BEGIN: &str = "<!-- generated: ";
/// The closing marker.
pub const END: &str = "<!-- end generated -->";

/// The files whose figures are checked: README.md, every docs/*.md and results/README.md.
pub fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "md")).collect())
        .unwrap_or_default();
    docs.sort();
    let mut out = vec![root.join("README.md")];
    out.extend(docs);
    out.push(root.join("results/README.md"));
    out.into_iter().filter(|p| p.is_file()).collect()
}

/// Renders one block: `spec` is the marker's text after [`BEGIN`] (`KIND ARG...`).
pub fn render(root: &Path, spec: &str) -> anyhow::Result<String> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let (kind, args) = words.split_first().ok_or_else(|| anyhow::anyhow!("empty marker"))?;
    let run = |i: usize| -> anyhow::Result<Results> {
        let dir = args.get(i).ok_or_else(|| anyhow::anyhow!("`{kind}` needs a run directory"))?;
        let mut r = Results::load(&root.join(dir))?;
        super::derive(&mut r);
        Ok(r)
    };
    Ok(match *kind {
        "scorecard" => {
            let r = run(0)?;
            let grid = super::tables::scorecard_grid(&r)
                .ok_or_else(|| anyhow::anyhow!("{}: no scorecard (fewer than two of its columns measured)", args[0]))?;
            format!("{}\n{}", super::markdown::table(&grid).trim_end(), machine_line(&r, args[0]))
        }
        "verdicts" => {
            let r = run(0)?;
            let prefixes = &args[1..];
            let lines: Vec<String> = r
                .derived
                .verdicts
                .iter()
                .filter(|v| prefixes.is_empty() || prefixes.iter().any(|p| v.starts_with(p)))
                .map(|v| format!("- {v}"))
                .collect();
            if lines.is_empty() {
                anyhow::bail!("{}: no verdict starts with {}", args[0], prefixes.join(" or "));
            }
            format!("{}\n\n{}", lines.join("\n"), machine_line(&r, args[0]))
        }
        "table" => {
            let r = run(0)?;
            let name = args.get(1).ok_or_else(|| anyhow::anyhow!("`table` needs a run directory and a measurement"))?;
            let grid = match *name {
                "crossovers" => super::tables::crossover_grid(&r),
                _ => {
                    let m = crate::results::Measurement::ALL
                        .into_iter()
                        .find(|m| m.name() == *name)
                        .ok_or_else(|| anyhow::anyhow!("unknown measurement `{name}` (or `crossovers`)"))?;
                    super::tables::grid_of(&r, m)
                }
            };
            let grid = grid.ok_or_else(|| anyhow::anyhow!("{}: no {name} in this run", args[0]))?;
            format!("{}\n{}", super::markdown::table(&grid).trim_end(), machine_line(&r, args[0]))
        }
        "machine" => {
            let dir = args.first().ok_or_else(|| anyhow::anyhow!("`machine` needs a run directory"))?;
            match root.join(dir).join("parity.json").is_file() {
                true => parity_machine_line(&root.join(dir), dir)?,
                false => machine_line(&run(0)?, dir),
            }
        }
        "include" => {
            let file = args.first().ok_or_else(|| anyhow::anyhow!("`include` needs a file"))?;
            let text = std::fs::read_to_string(root.join(file)).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
            format!("{}\n\n(`{file}`, as committed.)", text.trim_end())
        }
        "experiments" => {
            let dir = args.first().ok_or_else(|| anyhow::anyhow!("`experiments` needs a directory"))?;
            experiments(&root.join(dir), dir)?
        }
        "change" => {
            let cell =
                args.get(2).ok_or_else(|| anyhow::anyhow!("`change` needs two run directories and a cell id"))?;
            change(&run(0)?, args[0], &run(1)?, args[1], cell)?
        }
        "models" => {
            let size = args.first().ok_or_else(|| anyhow::anyhow!("`models` needs a size"))?;
            let dtype = crate::device::parse_dtype(args.get(1).copied().unwrap_or("f32"))?;
            models_table(size, dtype)?
        }
        other => {
            anyhow::bail!(
                "unknown kind `{other}` (scorecard, verdicts, table, machine, include, experiments, models, change)"
            )
        }
    })
}

/// `4391 tokens/s`, `1.2 ms`, `3.0 MiB`: a figure with its unit.
fn with_unit(unit: &str, v: f64) -> String {
    match unit {
        "s" | "bytes" => super::tables::value(unit, v),
        _ => format!("{} {unit}", super::tables::value(unit, v)),
    }
}

/// Calibrations further apart than this (as a fraction) make two runs different machines.
const SAME_CALIBRATION: f64 = 0.10;

/// A change over time, `from X to Y (+Z%)`, of the cell `id` between two committed runs. Both
/// machines are named; when their CPU, ISA level or calibration (beyond 10%) differ the sentence
/// says that the change mixes the machine with the code.
fn change(before: &Results, before_dir: &str, after: &Results, after_dir: &str, id: &str) -> anyhow::Result<String> {
    let median = |r: &Results, dir: &str| -> anyhow::Result<(f64, String)> {
        let c = r.cells.iter().find(|c| c.spec.id == id).ok_or_else(|| anyhow::anyhow!("{dir}: no cell `{id}`"))?;
        let m = c.median().ok_or_else(|| anyhow::anyhow!("{dir}: cell `{id}` has no measurement"))?;
        Ok((m, c.unit.clone()))
    };
    let ((a, unit), (b, _)) = (median(before, before_dir)?, median(after, after_dir)?);
    let (ea, eb) = (&before.environment, &after.environment);
    let machine = |e: &crate::results::Environment, dir: &str| {
        format!(
            "`{dir}`: {}, calibration {:.0} GFLOP/s, binary of {}",
            e.cpu_label(),
            e.calibration_gflops,
            e.git_commit
        )
    };
    let calibrations_differ = (ea.calibration_gflops - eb.calibration_gflops).abs()
        > SAME_CALIBRATION * ea.calibration_gflops.min(eb.calibration_gflops);
    let same = ea.cpu_label() == eb.cpu_label() && ea.threads == eb.threads && !calibrations_differ;
    let change = 100.0 * (b / a - 1.0);
    Ok(format!(
        "`{id}`: from {} to {} ({change:+.1}%). {}",
        with_unit(&unit, a),
        with_unit(&unit, b),
        if same {
            format!("Same machine: {}; {}.", machine(ea, before_dir), machine(eb, after_dir))
        } else {
            format!(
                "**Different machines** (CPU, ISA, threads or calibration beyond {:.0}%): the change mixes the machine with the code. Before: {}; after: {}.",
                100.0 * SAME_CALIBRATION,
                machine(ea, before_dir),
                machine(eb, after_dir)
            )
        }
    ))
}

/// The shipped models at `size` as a markdown table, counted from their configs
/// ([`crate::model::catalog`]): nothing measured, so no run directory is cited.
fn models_table(size: &str, dtype: candle_core::DType) -> anyhow::Result<String> {
    use crate::output::{bytes, count};
    let mut out = String::from(
        "| model | mixer | layers x d | head | MLP | parameters | weights | state @1k | state @32k | growth |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in crate::model::catalog::entries(size, dtype)? {
        out.push_str(&format!(
            "| {} | {} | {} x {} | {} | {} | {} | {} | {} | {} | {} |\n",
            e.model,
            e.mixer,
            e.n_layers,
            e.d_model,
            e.head_dim,
            e.d_mlp,
            count(e.params),
            bytes(e.param_bytes),
            bytes(e.state_bytes_1k),
            bytes(e.state_bytes_32k),
            crate::model::catalog::growth_text(&e)
        ));
    }
    out.push_str(&format!(
        "\n*`seqbench list --size {size} --dtype {}`: counted from the model files' shapes (weights: matrices in {0}, the rest f32; state at batch 1, KV cache in {0}, recurrent states in f32).*",
        dtype.as_str()
    ));
    Ok(out)
}

/// `Measured in results/X: N cells (F failed), wall time W, on CPU (ISA), C cores, calibration G
/// GFLOP/s, binary of commit K, date D.`
fn machine_line(r: &Results, dir: &str) -> String {
    let env = &r.environment;
    let failed = r.cells.iter().filter(|c| c.status != crate::results::Status::Ok).count();
    let wall = wall_seconds(r).map_or(String::new(), |s| format!(", wall time {}", minutes(s)));
    let date = r.created.get(..10).unwrap_or(&r.created);
    format!(
        "\n*`{dir}`: {} cells ({failed} not ok){wall}; {}, {} cores, {} threads, calibration {:.0} GFLOP/s; binary of {}; {date}.*",
        r.cells.len(),
        env.cpu_label(),
        env.cores,
        env.threads,
        env.calibration_gflops,
        env.git_commit,
    )
}

/// The machine line of a `scripts/pytorch_parity.py` run: rows, CPU, both sides' ISA and versions.
fn parity_machine_line(path: &Path, dir: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path.join("parity.json")).map_err(|e| anyhow::anyhow!("{dir}: {e}"))?;
    let p: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{dir}/parity.json: {e}"))?;
    let (env, seq) = (&p["environment"], &p["environment"]["seqbench_environment"]);
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("not recorded").to_string();
    let rows = p["rows"].as_array().map_or(0, Vec::len);
    Ok(format!(
        "\n*`{dir}`: {rows} rows; {} ({}), {} threads; PyTorch {} (CPU capability {}), fla {}; seqbench binary of {} built for {}; {}.*",
        s(&seq["cpu_model"]),
        s(&seq["cpu_isa"]["level"]),
        env["threads"].as_u64().unwrap_or(0),
        s(&env["torch"]),
        s(&env["torch_cpu_capability"]),
        s(&env["fla"]),
        s(&seq["build"]["git_commit"]),
        s(&seq["build"]["isa"]),
        s(&env["created"]).chars().take(10).collect::<String>(),
    ))
}

/// One row per directory under `dir`: what it holds and the machine, commit and date its files
/// record ("not recorded" where a file predates them).
fn experiments(dir: &Path, shown: &str) -> anyhow::Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut rows = vec![
        "| directory | holds | machine (CPU, ISA where recorded) | commit | date |".to_string(),
        "|---|---|---|---|---|".to_string(),
    ];
    for name in names {
        let d = dir.join(&name);
        let json = |rel: &str| -> Option<serde_json::Value> {
            serde_json::from_str(&std::fs::read_to_string(d.join(rel)).ok()?).ok()
        };
        let nested: Option<serde_json::Value> = std::fs::read_dir(&d).ok().and_then(|it| {
            let mut subs: Vec<PathBuf> = it.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
            subs.sort();
            subs.iter().find_map(|p| {
                ["results.json", "candidate/results.json"]
                    .iter()
                    .find_map(|f| serde_json::from_str(&std::fs::read_to_string(p.join(f)).ok()?).ok())
            })
        });
        let holds = [
            ("results.json", "a run"),
            ("ab.json", "an A/B run"),
            ("parity.json", "PyTorch beside seqbench"),
            ("kernels.json", "kernel benchmarks"),
        ]
        .iter()
        .filter(|(f, _)| d.join(f).is_file())
        .map(|(_, what)| *what)
        .collect::<Vec<_>>();
        let holds = if !holds.is_empty() {
            holds.join(", ")
        } else if nested.is_some() {
            "runs, one per subdirectory".to_string()
        } else {
            "notes and profiles".to_string()
        };
        let run =
            json("results.json").or_else(|| json("candidate/results.json")).or_else(|| json("kernels.json")).or(nested);
        let env = run.as_ref().map(|r| r["environment"].clone());
        let ab = json("ab.json");
        let parity = json("parity.json");
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        // The CPU and its ISA level, from a run's environment or a parity run's seqbench binary.
        let cpu_of = |e: &serde_json::Value| {
            let model = text(&e["cpu_model"])?;
            Some(match text(&e["cpu_isa"]["level"]) {
                Some(level) => format!("{model} ({level})"),
                None => model,
            })
        };
        let cpu = env
            .as_ref()
            .and_then(cpu_of)
            .or_else(|| ab.as_ref().and_then(|a| text(&a["machine"])))
            .or_else(|| parity.as_ref().and_then(|p| cpu_of(&p["environment"]["seqbench_environment"])))
            .unwrap_or_else(|| "not recorded".into());
        let commit = env
            .as_ref()
            .and_then(|e| text(&e["git_commit"]))
            .or_else(|| ab.as_ref().and_then(|a| text(&a["candidate_build"]["git_commit"])))
            .or_else(|| parity.as_ref().and_then(|p| text(&p["environment"]["seqbench_environment"]["git_commit"])))
            .unwrap_or_else(|| "not recorded".into());
        let date: String = run
            .as_ref()
            .and_then(|r| text(&r["created"]))
            .or_else(|| parity.as_ref().and_then(|p| text(&p["environment"]["created"])))
            .map(|d| d.chars().take(10).collect())
            .unwrap_or_else(|| "not recorded".into());
        rows.push(format!("| `{name}/` | {holds} | {cpu} | {commit} | {date} |"));
    }
    Ok(rows.join("\n"))
}

/// Seconds from the run's creation to its end (absent for an unfinished run).
fn wall_seconds(r: &Results) -> Option<f64> {
    let parse = |s: &str| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).ok();
    let (a, b) = (parse(&r.created)?, parse(r.finished.as_deref()?)?);
    b.duration_since(a).ok().map(|d| d.as_secs_f64())
}

/// `29 min 40 s`, `1 h 34 min`.
fn minutes(s: f64) -> String {
    let s = s.round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, m, sec) => format!("{m} min {sec:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

/// One document's blocks re-rendered; `Err` lists the blocks that failed to render.
pub fn regenerate(root: &Path, text: &str) -> Result<String, Vec<String>> {
    let mut out = String::new();
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(close) = rest[start..].find("-->").map(|i| start + i + 3) else {
            errors.push("a marker is not closed with -->".into());
            break;
        };
        let spec = rest[start + BEGIN.len()..close - 3].trim().to_string();
        let Some(end) = rest[close..].find(END).map(|i| close + i) else {
            errors.push(format!("`{spec}`: no `{END}` after it"));
            break;
        };
        out.push_str(&rest[..close]);
        match render(root, &spec) {
            Ok(body) => out.push_str(&format!("\n{}\n", body.trim_matches('\n'))),
            Err(e) => {
                errors.push(format!("`{spec}`: {e}"));
                out.push_str(&rest[close..end]);
            }
        }
        out.push_str(END);
        rest = &rest[end + END.len()..];
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Paths under results/ a document cites (run directories or files in them), without `results/`.
pub fn cited_results(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("results/") {
        let before = rest[..i].chars().last();
        let tail = &rest[i + "results/".len()..];
        let name: String = tail.chars().take_while(|c| c.is_ascii_alphanumeric() || "._-/".contains(*c)).collect();
        // `results/<run-id>` and paths inside other trees (target/results, docs/results-schema) are not citations.
        let standalone = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || "/_-.".contains(c)));
        // A pattern (`results/ab-noise-<cpu>/`, `results/perf-{a,b}-2core`) names no one directory.
        let pattern = tail[name.len()..].starts_with(['<', '{', '*']);
        let cited = name.trim_end_matches(['.', '/']).to_string();
        if standalone && !pattern && !cited.is_empty() && cited != "README.md" && !out.contains(&cited) {
            out.push(cited);
        }
        rest = &tail[name.len()..];
    }
    out
}

/// Lines of README.md text outside generated blocks and code that hold a number with a unit.
pub fn loose_figures(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut in_block, mut in_fence) = (false, false);
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if line.contains(BEGIN) {
            in_block = true;
        }
        if line.contains(END) {
            in_block = false;
            continue;
        }
        if in_block || in_fence {
            continue;
        }
        // Inline code spans are commands and flags, not figures.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        if let Some(figure) = figure_with_unit(&prose) {
            out.push(format!("{figure:?} in: {}", line.trim()));
        }
    }
    out
}

/// The first number followed by a unit (x, %, s, ms, µs, min, tokens/s, GFLOP/s, KiB, MiB, GiB) in `s`.
fn figure_with_unit(s: &str) -> Option<String> {
    const UNITS: [&str; 11] = ["tokens/s", "GFLOP/s", "KiB", "MiB", "GiB", "min", "ms", "µs", "x", "%", "s"];
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit() && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '-'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || ((chars[j] == '.' || chars[j] == ',') && j + 1 < chars.len() && chars[j + 1].is_ascii_digit()))
        {
            j += 1;
        }
        let number: String = chars[i..j].iter().collect();
        let after: String = chars[j..].iter().collect();
        let after = after.strip_prefix(' ').unwrap_or(&after);
        for unit in UNITS {
            if let Some(rest) = after.strip_prefix(unit) {
                if rest.chars().next().is_none_or(|c| !c.is_alphanumeric()) {
                    return Some(format!("{number} {unit}"));
                }
            }
        }
        i = j.max(i + 1);
    }
    None
}

/// The files git tracks under results/ in the repository at `root` (one `git ls-files` for all
/// citations).
fn tracked_results(root: &Path) -> Vec<String> {
    std::process::Command::new("git")
        .args(["ls-files", "--", "results"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether `results/<name>` is a tracked file or a directory holding one.
fn is_tracked(tracked: &[String], name: &str) -> bool {
    let path = format!("results/{name}");
    tracked.iter().any(|f| *f == path || f.strip_prefix(&path).is_some_and(|rest| rest.starts_with('/')))
}

/// The problems of the documents' evidence, whatever their blocks render: cited results that git does
/// not track, and README figures outside the markers.
pub fn evidence_problems(root: &Path) -> Vec<String> {
    let tracked = tracked_results(root);
    let mut problems = Vec::new();
    for doc in documents(root) {
        let name = doc.strip_prefix(root).unwrap_or(&doc).display().to_string();
        let Ok(text) = std::fs::read_to_string(&doc) else { continue };
        for cited in cited_results(&text) {
            if !is_tracked(&tracked, &cited) {
                problems.push(format!("{name}: cites results/{cited}, which git does not track"));
            }
        }
        if name == "README.md" {
            problems.extend(
                loose_figures(&text)
                    .into_iter()
                    .map(|f| format!("README.md: a figure outside the generated blocks: {f}")),
            );
        }
    }
    problems
}

/// Every problem with the documents' figures under `root`: blocks that differ from what the
/// generator renders (or fail to render), and the [`evidence_problems`]. Empty when everything
/// holds.
pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for doc in documents(root) {
        let name = doc.strip_prefix(root).unwrap_or(&doc).display().to_string();
        let Ok(text) = std::fs::read_to_string(&doc) else { continue };
        match regenerate(root, &text) {
            Ok(fresh) if fresh != text => {
                problems.push(format!("{name}: a generated block differs from its run (run `seqbench docs`)"))
            }
            Ok(_) => {}
            Err(errors) => problems.extend(errors.into_iter().map(|e| format!("{name}: {e}"))),
        }
    }
    problems.extend(evidence_problems(root));
    problems
}

/// Rewrites every document's blocks in place (a document with a block that cannot be rendered is
/// left as it is and its errors returned); returns the files changed and the errors.
pub fn write(root: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<String>)> {
    let (mut changed, mut errors) = (Vec::new(), Vec::new());
    for doc in documents(root) {
        let text = std::fs::read_to_string(&doc)?;
        match regenerate(root, &text) {
            Ok(fresh) if fresh != text => {
                std::fs::write(&doc, fresh)?;
                changed.push(doc);
            }
            Ok(_) => {}
            Err(e) => errors.extend(e.into_iter().map(|e| format!("{}: {e}", doc.display()))),
        }
    }
    Ok((changed, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_with_units_are_found_outside_code() {
        assert_eq!(figure_with_unit("trains 1.51x faster"), Some("1.51 x".into()));
        assert_eq!(figure_with_unit("took 29 min 40 s"), Some("29 min".into()));
        assert_eq!(figure_with_unit("9,853 tokens/s"), Some("9,853 tokens/s".into()));
        assert_eq!(figure_with_unit("x86-64-v4 and 2 cores"), None);
        assert_eq!(figure_with_unit("the S3 word problem, RWKV-7, Mamba-2"), None);
        let text = "a `--mem-budget 1GiB` flag\n```\ncargo run 5 s\n```\n<!-- generated: machine x -->\n3.2x\n<!-- end generated -->\nok\n";
        assert!(loose_figures(text).is_empty(), "{:?}", loose_figures(text));
        assert_eq!(loose_figures("it is 12% faster").len(), 1);
    }

    #[test]
    fn citations_are_results_directories() {
        let t = "see `results/full-jobs2-2core/` and results/ci-baseline, results/experiments/x-2core/a.md, not results/<run-id>/, results/ab-{a,b} nor target/results/x";
        assert_eq!(cited_results(t), vec!["full-jobs2-2core", "ci-baseline", "experiments/x-2core/a.md"]);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(minutes(1780.0), "29 min 40 s");
        assert_eq!(minutes(5670.0), "1 h 34 min");
        assert_eq!(minutes(42.0), "42 s");
    }
}
