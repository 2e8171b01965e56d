//! `seqbench bench kernels`: the op-level benchmark (see `bench::kernels`), with its table and files.

use crate::cli::KernelArgs;
use crate::error::usage;
use crate::measure::kernels::{implementations, measure, Implementation, KernelRow};
use crate::output::{bytes, progress, table, write_json};
use crate::report::tables::seconds;
use crate::results::stats::SamplePlan;
use crate::results::Environment;
use serde::Serialize;

/// kernels.json.
#[derive(Serialize)]
struct KernelResults<'a> {
    schema: &'static str,
    schema_version: u32,
    run_id: String,
    created: String,
    environment: Environment,
    rows: &'a [KernelRow],
    /// Points not run because they would not fit in memory.
    skipped: &'a [String],
}

pub fn kernels(a: &KernelArgs) -> anyhow::Result<bool> {
    let device = crate::device::selected()?;
    if crate::device::dtype() != candle_core::DType::F32 {
        return Err(usage(
            "bench kernels times the kernels in f32, the precision the recurrences keep under any --dtype; --dtype bf16/f16 applies to the model commands",
        ));
    }
    let mut imps = implementations(&a.kernels, &a.forms).map_err(usage)?;
    if !crate::kernels::cpu::enabled(&device) {
        // The fused kernels are CPU code; elsewhere only the plain candle forms run.
        imps.retain(|i| !matches!(i, Implementation::AttentionFused | Implementation::Linear { fused: true, .. }));
        eprintln!("note: the fused kernels run on the CPU only; timing the plain forms on {}", crate::device::spec());
    }
    if a.batch.contains(&0) || a.seq_lens.contains(&0) || a.heads == 0 || a.head_dim == 0 {
        return Err(usage("batch sizes, sequence lengths, heads and head dim must be at least 1"));
    }
    if a.samples == 0 || !(a.min_seconds >= 0.0) {
        return Err(usage("--samples must be at least 1 and --min-seconds non-negative"));
    }
    let plan = SamplePlan {
        warmup: a.warmup,
        min_samples: a.samples,
        min_seconds: a.min_seconds,
        max_samples: a.samples.max(100),
    };
    let run_id = a.run_id.clone().unwrap_or_else(|| crate::measure::runner::default_run_id("kernels"));
    crate::output::refuse_file_as_dir(&a.out, "--out")?;
    let dir = a.out.join(&run_id);
    std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
    let environment = crate::measure::env::capture(&device)?;
    let created = crate::results::now_rfc3339();
    let points: Vec<_> = imps
        .iter()
        .flat_map(|i| a.batch.iter().flat_map(move |b| a.seq_lens.iter().map(move |t| (*i, *b, *t))))
        .collect();
    let bar = progress(a.common.quiet, points.len() as u64);
    let mut rows: Vec<KernelRow> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let available = crate::device::available_on(&device);
    for (imp, b, t) in points {
        bar.set_message(format!("{} {} B={b} T={t}", imp.kernel(), imp.form()));
        let need = need_bytes(imp, b, t, a.heads, a.head_dim);
        match available {
            Some(avail) if need > avail => skipped.push(format!(
                "{} {} B={b} T={t}: needs about {}, {} available",
                imp.kernel(),
                imp.form(),
                bytes(need),
                bytes(avail)
            )),
            _ => rows.push(measure(imp, &device, b, t, a.heads, a.head_dim, &plan)?),
        }
        bar.inc(1);
        // Written after every point, so an interrupted run keeps what it measured.
        write_files(&dir, &run_id, &created, &environment, &rows, &skipped)?;
    }
    bar.finish_and_clear();
    print!("{}", render(&rows, false));
    for s in &skipped {
        println!("skipped (over memory): {s}");
    }
    println!("\n{} points -> {}/kernels.{{json,csv,md}}", rows.len(), dir.display());
    Ok(true)
}

/// Rough upper bound of the bytes one point holds at its peak: the plain attention keeps about a
/// dozen `[B, H, T, T]` tensors alive through its backward (scores, mask, softmax and their
/// gradients); the other kernels hold a few `[B, H, T, d]` tensors per token-sized input.
fn need_bytes(imp: Implementation, b: usize, t: usize, h: usize, d: usize) -> usize {
    match imp {
        Implementation::AttentionPlain => 12 * b * h * t * t * 4,
        Implementation::AttentionFused => 16 * b * h * t * d * 4,
        // Intra-chunk scores are [C, C] per chunk, [C, C, d_k] with a per-channel gate.
        Implementation::Linear { form: crate::kernels::Form::Chunkwise(c), kind, .. } => {
            let per_channel = kind.channel_gated();
            16 * b * h * t * (d + if per_channel { c * d } else { c }) * 4
        }
        Implementation::Linear { form: crate::kernels::Form::Parallel, .. } => 12 * b * h * t * t * 4,
        Implementation::Linear { .. } => 64 * b * h * t * d * 4,
    }
}

fn write_files(
    dir: &std::path::Path,
    run_id: &str,
    created: &str,
    env: &Environment,
    rows: &[KernelRow],
    skipped: &[String],
) -> anyhow::Result<()> {
    let doc = KernelResults {
        schema: "seqbench.kernels",
        schema_version: 1,
        run_id: run_id.into(),
        created: created.into(),
        environment: env.clone(),
        rows,
        skipped,
    };
    write_json(&dir.join("kernels.json"), &doc)?;
    let mut w = csv::Writer::from_path(dir.join("kernels.csv"))?;
    w.write_record([
        "kernel",
        "form",
        "batch",
        "seq_len",
        "heads",
        "head_dim",
        "forward_s",
        "forward_backward_s",
        "tokens_per_s",
    ])?;
    for r in rows {
        w.write_record([
            r.kernel.clone(),
            r.form.clone(),
            r.batch.to_string(),
            r.seq_len.to_string(),
            r.heads.to_string(),
            r.head_dim.to_string(),
            r.forward.median.to_string(),
            r.backward.median.to_string(),
            r.tokens_per_s.to_string(),
        ])?;
    }
    w.flush()?;
    let md = format!(
        "# seqbench kernels `{run_id}`\n\nCreated {created}. {} ({} threads), calibration {:.1} GFLOP/s. Heads {}, head dim {}.\n\n{}",
        env.cpu_model,
        env.threads,
        env.calibration_gflops,
        rows.first().map_or(0, |r| r.heads),
        rows.first().map_or(0, |r| r.head_dim),
        render(rows, true)
    ) + &skipped.iter().map(|s| format!("- skipped (over memory): {s}\n")).collect::<String>();
    std::fs::write(dir.join("kernels.md"), md)?;
    Ok(())
}

/// One table per batch size: rows kernel/form, columns T; each cell `forward / forward+backward`.
fn render(rows: &[KernelRow], markdown: bool) -> String {
    let mut batches: Vec<usize> = rows.iter().map(|r| r.batch).collect();
    batches.sort_unstable();
    batches.dedup();
    let mut out = String::new();
    for b in batches {
        let mut lens: Vec<usize> = rows.iter().filter(|r| r.batch == b).map(|r| r.seq_len).collect();
        lens.sort_unstable();
        lens.dedup();
        let mut keys: Vec<(String, String)> = Vec::new();
        for r in rows.iter().filter(|r| r.batch == b) {
            if !keys.contains(&(r.kernel.clone(), r.form.clone())) {
                keys.push((r.kernel.clone(), r.form.clone()));
            }
        }
        let mut header = vec!["kernel".to_string(), "form".to_string()];
        header.extend(lens.iter().map(|t| format!("T={t}")));
        let body: Vec<Vec<String>> = keys
            .iter()
            .map(|(k, f)| {
                let mut row = vec![k.clone(), f.clone()];
                for t in &lens {
                    let cell = rows.iter().find(|r| r.batch == b && &r.kernel == k && &r.form == f && r.seq_len == *t);
                    row.push(cell.map_or(String::new(), |r| {
                        format!("{} / {}", seconds(r.forward.median), seconds(r.backward.median))
                    }));
                }
                row
            })
            .collect();
        let title = format!("Kernels, batch {b} (median forward / forward+backward)");
        if markdown {
            out.push_str(&format!("## {title}\n\n| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len())));
            for row in body {
                out.push_str(&format!("| {} |\n", row.join(" | ")));
            }
            out.push('\n');
        } else {
            let mut t = table(&header.iter().map(String::as_str).collect::<Vec<_>>());
            for row in body {
                t.add_row(row);
            }
            out.push_str(&format!("\n{title}\n{t}\n"));
        }
    }
    out
}
