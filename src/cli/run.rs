//! `seqbench run` and the single-measurement commands (`train-speed`, `latency`, `memory`,
//! `generate`): each builds a suite and hands it to the runner; the tables and verdicts follow.

use crate::cli::{BenchArgs, GenerateArgs, LatencyArgs, MemoryArgs, RunArgs, TrainSpeedArgs};
use crate::error::usage;
use crate::measure::runner::{self, RunOptions};
use crate::model::config;
use crate::results::stats::SamplePlan;
use crate::results::suite::{GenerationSection, LatencySection, MemorySection, Suite, TrainSection};
use crate::results::Shard;

/// Applies the shared flags to a suite and runs it. Returns false when a cell failed.
fn execute(suite: Option<Suite>, resume: Option<String>, b: &BenchArgs) -> anyhow::Result<bool> {
    let suite = suite.map(|mut s| {
        if !b.models.is_empty() {
            s.models = b.models.clone();
        }
        if let Some(size) = &b.size {
            s.size = size.clone();
        }
        let tweak = |p: &mut SamplePlan| {
            if let Some(w) = b.warmup {
                p.warmup = w;
            }
            if let Some(n) = b.samples {
                p.min_samples = n;
                p.max_samples = p.max_samples.max(n);
            }
            if let Some(t) = b.min_seconds {
                p.min_seconds = t;
            }
        };
        tweak(&mut s.plan);
        for p in [
            s.train.as_mut().and_then(|t| t.plan.as_mut()),
            s.latency.as_mut().and_then(|t| t.plan.as_mut()),
            s.generation.as_mut().and_then(|t| t.plan.as_mut()),
        ]
        .into_iter()
        .flatten()
        {
            tweak(p);
        }
        s
    });
    if let Some(s) = &suite {
        s.validate("command line")?;
    }
    crate::output::refuse_file_as_dir(&b.out, "--out")?;
    let (shard, slurm_job) = match (&b.shard, Shard::from_slurm()) {
        (Some(s), _) => (Some(Shard::parse(s).map_err(usage)?), None),
        (None, Some(slurm)) => {
            let task = slurm.map_err(usage)?;
            (Some(task.shard), task.job_id)
        }
        (None, None) => (None, None),
    };
    if shard.is_some() && resume.is_some() {
        return Err(usage("--shard applies to a new run; a resumed run keeps its own shard"));
    }
    if b.jobs == 0 {
        return Err(usage("--jobs must be at least 1"));
    }
    if b.jobs > 1 && b.in_process {
        return Err(usage(
            "--jobs runs cells side by side in child processes; it cannot be combined with --in-process",
        ));
    }
    let opts = RunOptions {
        jobs: b.jobs,
        shard,
        slurm_job,
        out: b.out.clone(),
        run_id: b.run_id.clone(),
        resume,
        in_process: b.in_process,
        quiet: b.common.quiet,
        exe: std::env::current_exe()?,
    };
    let (mut results, dir) = runner::run(suite, &opts)?;
    if !b.no_tables {
        crate::report::print(&crate::report::Terminal::default(), &results)?;
    }
    if !b.no_report {
        let written = crate::report::write_report(&mut results, &dir, None)?;
        println!("\n{} charts -> {}/report.html", written.len() - 1, dir.display());
    }
    let failed = results.cells.iter().filter(|c| c.status == crate::results::Status::Failed).count();
    println!("\n{} cells ({} failed) -> {}/results.{{json,csv,md}}", results.cells.len(), failed, dir.display());
    Ok(failed == 0)
}

pub fn run(args: &RunArgs) -> anyhow::Result<bool> {
    let suite = match &args.resume {
        Some(_) => None,
        None => Some(Suite::load(&args.suite)?),
    };
    execute(suite, args.resume.clone(), &args.bench)
}

/// A one-measurement suite over every shipped model (or `--models`).
fn adhoc(name: &str, plan: SamplePlan) -> Suite {
    Suite {
        name: name.into(),
        description: format!("`seqbench {name}` from the command line"),
        models: config::built_in_names().iter().map(|s| s.to_string()).collect(),
        size: config::DEFAULT_SIZE.into(),
        seed: 0,
        plan,
        cell_timeout: crate::results::suite::DEFAULT_CELL_TIMEOUT,
        train: None,
        latency: None,
        memory: None,
        generation: None,
        lm: None,
        mqar: None,
        copy: None,
        parity: None,
        word_problem: None,
        hybrid_ratio: None,
    }
}

pub fn train_speed(a: &TrainSpeedArgs) -> anyhow::Result<bool> {
    let mut s = adhoc("train-speed", SamplePlan { warmup: 1, min_samples: 3, min_seconds: 0.0, max_samples: 10 });
    s.train = Some(TrainSection {
        seq_lens: a.seq_lens.clone(),
        batch: a.batch,
        forms: a.forms.clone(),
        recompute: a.recompute,
        plan: None,
        models: None,
        probe_layers: a.probe_layers,
    });
    execute(Some(s), None, &a.bench)
}

pub fn latency(a: &LatencyArgs) -> anyhow::Result<bool> {
    let mut s = adhoc("latency", SamplePlan { warmup: 2, min_samples: 20, min_seconds: 0.5, max_samples: 1000 });
    s.latency = Some(LatencySection {
        prompt: a.prompt,
        prompts: vec![],
        positions: a.seq_lens.clone(),
        batch: a.batch,
        plan: None,
        prefill_plan: None,
        models: None,
    });
    execute(Some(s), None, &a.bench)
}

pub fn memory(a: &MemoryArgs) -> anyhow::Result<bool> {
    let mut s = adhoc("memory", SamplePlan::default());
    s.memory = Some(MemorySection {
        positions: a.seq_lens.clone(),
        batch: a.batch,
        prefill_chunk: None,
        fill: None,
        models: None,
    });
    execute(Some(s), None, &a.bench)
}

pub fn generate(a: &GenerateArgs) -> anyhow::Result<bool> {
    let mut s = adhoc("generate", SamplePlan { warmup: 0, min_samples: 1, min_seconds: 0.0, max_samples: 3 });
    s.generation = Some(GenerationSection {
        prompt: a.prompt,
        tokens: a.tokens,
        batches: a.batch.clone(),
        mem_budget: Some(a.mem_budget.clone()),
        plan: None,
        models: None,
    });
    execute(Some(s), None, &a.bench)
}
