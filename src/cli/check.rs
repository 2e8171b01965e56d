//! `seqbench check`: the form-equivalence and decode checks for every model, as a table.

use crate::cli::CheckArgs;
use crate::kernels::Recurrence;
use crate::model::check::{check_kernel, check_model, CheckRow, Tolerances};
use crate::model::config;
use crate::model::LanguageModel;
use crate::output::{progress, table};

pub fn run(args: &CheckArgs) -> anyhow::Result<bool> {
    if args.seq_len == 0 {
        return Err(crate::error::usage("--seq-len must be at least 1"));
    }
    let names: Vec<String> = if args.models.is_empty() {
        config::built_in_names().iter().map(|s| s.to_string()).collect()
    } else {
        args.models.clone()
    };
    let configs = names.iter().map(|n| config::load(n, &args.size)).collect::<Result<Vec<_>, _>>()?;
    let device = crate::device::selected()?;
    let bar = progress(args.common.quiet, (Recurrence::ALL.len() + configs.len()) as u64);
    let mut rows: Vec<CheckRow> = Vec::new();
    for kind in Recurrence::ALL {
        bar.set_message(format!("kernel {}", kind.name()));
        rows.extend(check_kernel(kind, args.seq_len, &device)?);
        bar.inc(1);
    }
    for cfg in &configs {
        bar.set_message(cfg.label());
        let m = LanguageModel::new(cfg, 0, &device, crate::device::dtype())?;
        rows.extend(check_model(&m, args.seq_len)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let fmt = |e: Option<f64>| e.map_or("-".to_string(), |e| format!("{e:.1e}"));
    let mut t = table(&["subject", "check", "output rel. err", "grad rel. err", "result", "note"]);
    for r in &rows {
        t.add_row(vec![
            r.subject.clone(),
            r.check.clone(),
            fmt(r.output_err),
            fmt(r.grad_err),
            if r.passed { "pass".into() } else { "FAIL".into() },
            r.note.clone(),
        ]);
    }
    println!("{t}");
    let failed = rows.iter().filter(|r| !r.passed).count();
    let dtype = crate::device::dtype();
    let tol = Tolerances::for_dtype(dtype);
    println!(
        "{} checks, {} passed, {} failed (relative RMSE; kernels in f32: output {:.0e}, gradients {:.0e}; models in {}: output {:.0e}, gradients {:.0e}, decode {:.0e})",
        rows.len(),
        rows.len() - failed,
        failed,
        crate::model::check::OUTPUT_TOL,
        crate::model::check::GRAD_TOL,
        dtype.as_str(),
        tol.output,
        tol.grad,
        tol.decode
    );
    if let Some(path) = &args.json {
        crate::report::export(&crate::report::Json, &rows, path)?;
    }
    Ok(failed == 0)
}
