//! `seqbench bench kernels`: the op-level benchmark ([`crate::measure::kernels`]), with its table and files.

use crate::cli::KernelArgs;
use crate::error::usage;
use crate::measure::kernels::{implementations, measure, Implementation};
use crate::output::{bytes, progress};
use crate::report::{self, Csv, Json, Markdown, Terminal};
use crate::results::kernels::{KernelResults, KernelRow};
use crate::results::stats::SamplePlan;

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
    let mut doc = KernelResults {
        schema: "seqbench.kernels".into(),
        schema_version: 1,
        run_id: run_id.clone(),
        created: crate::results::now_rfc3339(),
        environment: crate::measure::env::capture(&device)?,
        rows: Vec::new(),
        skipped: Vec::new(),
    };
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
        doc.rows = rows.clone();
        doc.skipped = skipped.clone();
        report::export(&Json, &doc, &dir.join("kernels.json"))?;
        report::export(&Csv, &doc, &dir.join("kernels.csv"))?;
        report::export(&Markdown::default(), &doc, &dir.join("kernels.md"))?;
    }
    bar.finish_and_clear();
    report::print(&Terminal::default(), &doc)?;
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
