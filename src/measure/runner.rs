//! Runs a suite: each cell in a child process of this binary (`seqbench cell`, spec on stdin, result
//! on stdout), so a crash or out-of-memory in one cell is recorded as a failed cell, the suite goes
//! on, and each cell's peak memory is its own. Results are written after every cell, so an interrupt
//! loses only the cell in flight and `--resume` finishes the rest. (`seqbench ab` runs its cells
//! through the same child processes: [`super::ab`].)

use crate::error::usage;
use crate::measure::run_cell;
use crate::results::suite::Suite;
use crate::results::{CellResult, CellSpec};
use crate::results::{Results, Shard};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Test hook: a cell whose id contains this string aborts its child process (simulates a crash).
pub const FAIL_CELL_ENV: &str = "SEQBENCH_FAIL_CELL";
/// Test hook: the parent stops (as if interrupted) after this many cells.
pub const STOP_AFTER_ENV: &str = "SEQBENCH_STOP_AFTER";

pub struct RunOptions {
    /// Directory holding run directories (`results/`).
    pub out: PathBuf,
    /// Name of the run directory (default: `<suite>-<UTC time>`).
    pub run_id: Option<String>,
    /// Finish this earlier run instead of starting a new one.
    pub resume: Option<String>,
    /// Run cells in this process instead of child processes (no isolation; for debugging).
    pub in_process: bool,
    pub quiet: bool,
    /// The binary that runs cells (this one).
    pub exe: PathBuf,
    /// Run only this slice of the suite's cells.
    pub shard: Option<Shard>,
    /// The Slurm array job this shard belongs to (names the run).
    pub slurm_job: Option<String>,
    /// Quality-training cells run this many at a time, each with its share of the threads; timing
    /// cells always run alone.
    pub jobs: usize,
}

/// How a child process runs a cell.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChildOptions {
    /// Seconds before the child is stopped and the cell recorded as failed.
    pub timeout: f64,
    /// Keep the test-only slowdown ([`crate::measure::sample::SLOWDOWN_ENV`]) away from the child
    /// (`ab`'s baseline side).
    pub strip_knob: bool,
    /// RAYON_NUM_THREADS for the child (its share of the cores when cells run side by side).
    pub threads: Option<usize>,
}

/// Runs (or resumes) a suite; returns the results and the run directory.
pub fn run(suite: Option<Suite>, opts: &RunOptions) -> anyhow::Result<(Results, PathBuf)> {
    let (mut results, dir) = match &opts.resume {
        Some(id) => {
            let dir = if Path::new(id).is_dir() { PathBuf::from(id) } else { opts.out.join(id) };
            let results = Results::load(&dir)?;
            (results, dir)
        }
        None => {
            let suite = suite.ok_or_else(|| usage("no suite given"))?;
            let mut cells = suite.cells()?;
            if let Some(shard) = opts.shard {
                cells = cells.into_iter().enumerate().filter(|(i, _)| shard.holds(*i)).map(|(_, c)| c).collect();
            }
            let id = opts.run_id.clone().unwrap_or_else(|| match (opts.shard, &opts.slurm_job) {
                (Some(s), Some(job)) => format!("{}-job{job}-shard{}of{}", suite.name, s.index, s.count),
                (Some(s), None) => format!("{}-shard{}of{}", default_run_id(&suite.name), s.index, s.count),
                (None, _) => default_run_id(&suite.name),
            });
            if id.is_empty() || id.contains('/') || id.starts_with('.') {
                return Err(usage(format!("--run-id `{id}` must be a plain directory name")));
            }
            let dir = opts.out.join(&id);
            if dir.join("results.json").exists() {
                return Err(usage(format!(
                    "{} already holds a run; use --resume {id} or another --run-id",
                    dir.display()
                )));
            }
            if !opts.quiet {
                eprintln!("measuring the environment (calibration matmul)...");
            }
            let env = crate::measure::env::capture(&crate::device::selected()?)?;
            let planned = cells.iter().map(|c| c.id.clone()).collect();
            let mut results = Results::new(id, suite, env, planned);
            results.shard = opts.shard;
            (results, dir)
        }
    };
    let cells = results.suite.cells()?;
    let missing: std::collections::HashSet<String> = results.missing().into_iter().collect();
    let todo: Vec<&CellSpec> = cells.iter().filter(|c| missing.contains(&c.id)).collect();
    crate::report::save(&mut results, &dir)?;
    let bar = crate::output::progress(opts.quiet, todo.len() as u64);
    let stop_after: Option<usize> = std::env::var(STOP_AFTER_ENV).ok().and_then(|v| v.parse().ok());
    let timeout = results.suite.cell_timeout;
    // In planned order: a timing cell alone with every thread; a run of consecutive quality cells,
    // `jobs` at a time, each with its share of the threads.
    let mut next = 0;
    while next < todo.len() {
        if stop_after.is_some_and(|s| s <= next) {
            bar.abandon();
            anyhow::bail!("stopped after {next} cells ({STOP_AFTER_ENV})");
        }
        let side_by_side = opts.jobs > 1 && todo[next].measurement.is_quality();
        let end = match side_by_side {
            true => next + todo[next..].iter().take_while(|c| c.measurement.is_quality()).count(),
            false => next + 1,
        };
        let end = stop_after.filter(|s| *s > next).map_or(end, |s| end.min(s));
        let group = &todo[next..end];
        bar.set_message(group[0].id.clone());
        let mut record = |result: CellResult| -> anyhow::Result<()> {
            note_failure(&result, opts.quiet, None);
            results.cells.push(result);
            crate::report::save(&mut results, &dir)?;
            bar.inc(1);
            Ok(())
        };
        if opts.in_process {
            record(run_cell(group[0]))?;
        } else if group.len() == 1 {
            record(run_child(&opts.exe, group[0], ChildOptions { timeout, ..Default::default() }))?;
        } else {
            let threads = (crate::measure::env::threads() / opts.jobs).max(1);
            let child = ChildOptions { timeout, strip_knob: false, threads: Some(threads) };
            side_by_side_cells(&opts.exe, group, opts.jobs, child, &mut record)?;
        }
        next = end;
    }
    bar.finish_and_clear();
    if results.missing().is_empty() && results.finished.is_none() {
        results.finished = Some(crate::results::now_rfc3339());
    }
    // Keep the planned order in the file, whatever order cells finished in.
    results.sort_cells();
    crate::report::save(&mut results, &dir)?;
    Ok((results, dir))
}

/// Says on stderr that a cell failed, when the progress bar that would show it is off (`-q`);
/// `side` names the `ab` side that ran it.
pub(crate) fn note_failure(result: &CellResult, quiet: bool, side: Option<&str>) {
    if result.status == crate::results::Status::Failed && quiet {
        let who = side.map_or(String::new(), |s| format!("{s}: "));
        eprintln!("{who}cell {} failed: {}", result.spec.id, result.error.as_deref().unwrap_or(""));
    }
}

pub fn default_run_id(suite: &str) -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let compact: String = t.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("{suite}-{compact}")
}

/// Runs `cells` in child processes, `jobs` at a time, handing each result to `record` (on this
/// thread) as it arrives; stops at the first error `record` returns.
fn side_by_side_cells(
    exe: &Path,
    cells: &[&CellSpec],
    jobs: usize,
    child: ChildOptions,
    record: &mut dyn FnMut(CellResult) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let queue = std::sync::Mutex::new(cells.iter().copied().collect::<std::collections::VecDeque<_>>());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(cells.len()) {
            let (queue, send) = (&queue, send.clone());
            scope.spawn(move || loop {
                let Some(spec) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else { break };
                if send.send(run_child(exe, spec, child)).is_err() {
                    break;
                }
            });
        }
        drop(send);
        let mut outcome = Ok(());
        for result in receive {
            if outcome.is_ok() {
                outcome = record(result);
                if outcome.is_err() {
                    queue.lock().unwrap_or_else(|e| e.into_inner()).clear();
                }
            }
        }
        outcome
    })
}

/// The pid of the `run` that started a cell, handed to its child: the child compares its parent
/// against it, so a parent killed before the child's first look is noticed too (reading the
/// parent's pid at start-up would then read the reaper's).
const PARENT_ENV: &str = "SEQBENCH_PARENT_PID";

/// A cell's child stops when the `run` that started it is gone (killed with SIGTERM, say: Ctrl-C
/// reaches the whole process group, a plain `kill` only the parent): nobody would read its result,
/// and it would hold cores a new run measures on. Checked at once and then every 200 ms.
fn exit_with_parent() {
    let parent = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or_else(std::os::unix::process::parent_id);
    let exit_if_orphaned = move || {
        if std::os::unix::process::parent_id() != parent {
            std::process::exit(130);
        }
    };
    exit_if_orphaned();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(200));
        exit_if_orphaned();
    });
}

/// Runs one cell in a child process; any failure becomes a failed cell.
pub(crate) fn run_child(exe: &Path, spec: &CellSpec, opts: ChildOptions) -> CellResult {
    let start = Instant::now();
    let timeout = opts.timeout;
    let failed = |msg: String| CellResult::failed(spec, msg, start.elapsed().as_secs_f64());
    let mut command = Command::new(exe);
    command.arg("cell").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command.env(PARENT_ENV, std::process::id().to_string());
    if opts.strip_knob {
        command.env_remove(crate::measure::sample::SLOWDOWN_ENV);
    }
    if let Some(n) = opts.threads {
        command.env("RAYON_NUM_THREADS", n.to_string());
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start {}: {e}", exe.display())),
    };
    let input = match serde_json::to_vec(spec) {
        Ok(v) => v,
        Err(e) => return failed(format!("cannot encode cell: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        if let Err(e) = stdin.write_all(&input) {
            let _ = child.kill();
            return failed(format!("cannot send the cell to the child: {e}"));
        }
    }
    // Drain stdout/stderr on threads so a chatty child never blocks on a full pipe.
    let mut out_pipe = child.stdout.take().expect("piped");
    let mut err_pipe = child.stderr.take().expect("piped");
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if start.elapsed().as_secs_f64() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {timeout:.0} s"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("cannot wait for the child: {e}")),
        }
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    let tail = |s: &str| s.trim().lines().last().unwrap_or("").to_string();
    match status {
        Err(msg) => failed(msg),
        Ok(status) if !status.success() => {
            let how = match status.code() {
                Some(code) => format!("exit code {code}"),
                None => {
                    use std::os::unix::process::ExitStatusExt;
                    format!("killed by signal {}", status.signal().unwrap_or(0))
                }
            };
            failed(format!(
                "child process failed ({how}){}",
                if stderr.trim().is_empty() { String::new() } else { format!(": {}", tail(&stderr)) }
            ))
        }
        Ok(_) => serde_json::from_str::<CellResult>(stdout.trim())
            .unwrap_or_else(|e| failed(format!("child returned no result ({e}): {}", tail(&stderr)))),
    }
}

/// The child side: read a cell from stdin, run it, print its result as JSON.
pub fn serve_cell() -> anyhow::Result<()> {
    exit_with_parent();
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let spec: CellSpec = serde_json::from_str(&input).map_err(|e| usage(format!("cell: malformed spec: {e}")))?;
    crate::measure::sample::enable_injected_slowdown();
    if let Ok(pattern) = std::env::var(FAIL_CELL_ENV) {
        if !pattern.is_empty() && spec.id.contains(&pattern) {
            eprintln!("aborting cell {} ({FAIL_CELL_ENV})", spec.id);
            std::process::abort();
        }
    }
    let result = run_cell(&spec);
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
