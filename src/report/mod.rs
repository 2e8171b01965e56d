//! Everything seqbench writes from results, behind one interface ([`Exporter`]): one type per
//! format, one file per format, each implemented for the data it can show: a run ([`Results`]), a
//! comparison ([`Comparison`]), a kernel benchmark
//! ([`KernelResults`](crate::results::kernels::KernelResults)).
//!
//! | format | run | comparison | kernel benchmark |
//! |---|---|---|---|
//! | [`Json`] | results.json | `compare --json`, ab.json | kernels.json |
//! | [`Csv`] ([`csv`]) | results.csv | | kernels.csv |
//! | [`Markdown`] ([`markdown`]) | results.md | `--markdown`, ab.md | kernels.md |
//! | [`Terminal`] ([`terminal`]) | tables and verdicts | table, summary | tables |
//! | [`Html`] ([`html`]) | report.html | | |
//! | [`GithubAction`], [`Bencher`] ([`ci`]) | dashboard exports | | |
//!
//! What the tables hold is [`tables`] (shared by Markdown and the terminal); the verdict lines are
//! [`verdict`]; SVG charts are [`charts`] (what to plot, then how to draw it). [`save`] writes a run
//! after every cell; [`write_report`] draws it.

pub mod charts;
pub mod ci;
pub mod csv;
pub mod docs;
pub mod html;
pub mod markdown;
pub mod scale;
pub mod tables;
pub mod terminal;
pub mod verdict;

use crate::results::compare::Comparison;
use crate::results::Results;
use std::path::{Path, PathBuf};

/// One output format for one kind of data.
pub trait Exporter<T: ?Sized> {
    /// The bytes of `data` in this format.
    fn render(&self, data: &T) -> anyhow::Result<Vec<u8>>;
}

/// Pretty JSON of any serialisable record.
pub struct Json;

/// Comma-separated values.
pub struct Csv;

/// Markdown; `charts` (`(file, title)`, relative to the run directory) are linked from results.md,
/// `only_changes` keeps a comparison's table to improved and regressed cells.
#[derive(Default)]
pub struct Markdown<'a> {
    pub charts: &'a [(String, String)],
    pub only_changes: bool,
}

/// Text for the terminal; `quiet` leaves a comparison's table out, `only_changes` as in Markdown.
#[derive(Default)]
pub struct Terminal {
    pub quiet: bool,
    pub only_changes: bool,
}

/// report.html: self-contained, the charts (`(title, SVG text)`) inline.
pub struct Html<'a> {
    pub charts: &'a [(String, String)],
}

/// github-action-benchmark's custom JSON, the `customBiggerIsBetter` cells when `bigger`, else the
/// `customSmallerIsBetter` ones.
pub struct GithubAction {
    pub bigger: bool,
}

/// bencher's Benchmark Metric Format.
pub struct Bencher;

fn json(value: &impl serde::Serialize) -> anyhow::Result<Vec<u8>> {
    Ok((serde_json::to_string_pretty(value)? + "\n").into_bytes())
}

impl<T: serde::Serialize> Exporter<T> for Json {
    fn render(&self, data: &T) -> anyhow::Result<Vec<u8>> {
        json(data)
    }
}

/// Renders `data` with `exporter` into `path` (atomically; parent directories created), or to
/// stdout when `path` is `-`.
pub fn export<T: ?Sized>(exporter: &impl Exporter<T>, data: &T, path: &Path) -> anyhow::Result<()> {
    let bytes = exporter.render(data)?;
    if path.as_os_str() == "-" {
        use std::io::Write;
        return Ok(std::io::stdout().write_all(&bytes)?);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
    }
    atomic_write(path, &bytes)
}

/// Prints `data` in the terminal format.
pub fn print<T: ?Sized>(exporter: &Terminal, data: &T) -> anyhow::Result<()>
where
    Terminal: Exporter<T>,
{
    export(exporter, data, Path::new("-"))
}

/// Lines a reader must see before any figure: a partial merge, shards measured on different
/// machines. Printed under the title of results.md and report.html.
pub fn notices(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = &r.partial {
        out.push(format!("PARTIAL RUN (merged with --allow-partial): {}.", p.describe()));
    }
    let machines = crate::results::Environment::machines(r.shards.iter().map(|s| &s.environment));
    if machines.len() > 1 {
        let each: Vec<String> = r
            .shards
            .iter()
            .map(|s| {
                format!(
                    "shard {} on {} ({:.1} GFLOP/s)",
                    s.shard.index,
                    s.environment.machine(),
                    s.environment.calibration_gflops
                )
            })
            .collect();
        out.push(format!(
            "Merged from shards measured on {} different machines: {}. Each cell keeps its machine's calibration (used by `compare --normalize`).",
            machines.len(),
            each.join("; ")
        ));
    }
    out
}

/// Recomputes the derived part of a run: every analysis ([`crate::analysis::analyse`]), then the
/// verdict sentences written from them.
pub fn derive(r: &mut Results) {
    crate::analysis::analyse(r);
    r.derived.verdicts = verdict::with_findings(r, &r.derived.findings);
}

/// Writes results.json, results.csv and results.md into `dir` (each atomically), after
/// recomputing the derived figures: what a run saves after every cell.
pub fn save(r: &mut Results, dir: &Path) -> anyhow::Result<()> {
    derive(r);
    export(&Json, r, &dir.join("results.json"))?;
    export(&Csv, r, &dir.join("results.csv"))?;
    export(&Markdown::default(), r, &dir.join("results.md"))?;
    Ok(())
}

/// Writes the pictures of a run into `dir`: one SVG per chart the cells support (plus
/// `compare.svg` when a comparison is given), `report.html` with everything inline, and
/// `results.md` again, now linking the SVGs. Returns the files written.
pub fn write_report(r: &mut Results, dir: &Path, comparison: Option<&Comparison>) -> anyhow::Result<Vec<PathBuf>> {
    derive(r);
    let mut planned = charts::plan(r);
    planned.extend(comparison.and_then(charts::comparison));
    let mut rendered = Vec::new();
    let mut written = Vec::new();
    for chart in &planned {
        let svg = charts::render(chart)?;
        let path = dir.join(&chart.file);
        atomic_write(&path, svg.as_bytes())?;
        written.push(path);
        rendered.push((chart.title.clone(), svg));
    }
    let links: Vec<(String, String)> = planned.iter().map(|c| (c.file.clone(), c.title.clone())).collect();
    export(&Markdown { charts: &links, ..Default::default() }, r, &dir.join("results.md"))?;
    let page = dir.join("report.html");
    export(&Html { charts: &rendered }, r, &page)?;
    written.push(page);
    Ok(written)
}

fn atomic_write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
    Ok(())
}
