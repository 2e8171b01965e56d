//! `seqbench env [--json] [--no-calibration]`: the environment every result file records, for this
//! machine and this binary (`seqbench ab` asks each of its binaries for theirs this way).

use crate::cli::EnvArgs;
use crate::results::Environment;

pub fn run(a: &EnvArgs) -> anyhow::Result<()> {
    let device = crate::device::selected()?;
    let env =
        if a.no_calibration { crate::measure::env::describe(&device) } else { crate::measure::env::capture(&device)? };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&env)?);
    } else {
        for (key, value) in lines(&env) {
            println!("{key:<16} {value}");
        }
    }
    Ok(())
}

/// The environment as (label, value) lines for the terminal.
fn lines(env: &Environment) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("machine", env.machine()),
        ("os", env.os.clone()),
        ("device", env.device_label()),
        ("threads", env.threads.to_string()),
    ];
    if let Some(isa) = &env.cpu_isa {
        out.push(("cpu features", isa.features.join(" ")));
    }
    if let Some(b) = &env.build {
        out.push(("commit", b.git_commit.clone()));
        out.push(("binary sha256", b.binary_sha256.clone().unwrap_or_else(|| "unknown".into())));
        out.push(("built for", format!("{} ({})", b.isa, b.target_features.join(" "))));
        out.push(("compiler", b.rustc.clone()));
        out.push(("candle", b.candle_version.clone()));
    }
    if env.calibration_gflops > 0.0 {
        out.push(("calibration", format!("{:.1} GFLOP/s (512x512 f32 matmul, median)", env.calibration_gflops)));
    }
    out
}
