//! What a figure was measured with: the source commit the binary was built from (stamped by
//! build.rs), the binary's own sha256, the instruction set the binary was compiled for and the one
//! the CPU offers, and the command line. `seqbench env --json` prints it, so `seqbench ab` can ask
//! each of its two binaries for its own.

use crate::results::environment::{Build, CpuIsa};

/// The x86-64 micro-architecture levels (psABI), highest first, with the CPU features each needs
/// beyond the level below it.
const LEVELS: [(&str, &[&str]); 3] = [
    ("x86-64-v4", &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]),
    ("x86-64-v3", &["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "lzcnt", "movbe"]),
    ("x86-64-v2", &["sse3", "ssse3", "sse4.1", "sse4.2", "popcnt"]),
];

/// SIMD features worth naming in a speed figure (the level alone hides VNNI and BF16).
const NAMED: [&str; 12] = [
    "sse4.2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512vnni",
    "avx512bf16",
    "avx512fp16",
];

/// The highest level whose features (and those of every level below) are all in `has`.
pub fn level(has: impl Fn(&str) -> bool) -> String {
    if !cfg!(target_arch = "x86_64") {
        return std::env::consts::ARCH.to_string();
    }
    let mut best = "x86-64";
    for (name, _) in LEVELS.iter().rev() {
        let needed = LEVELS.iter().skip_while(|(n, _)| n != name).flat_map(|(_, f)| f.iter());
        if needed.clone().all(|f| has(f)) {
            best = name;
        }
    }
    best.to_string()
}

/// `cpu_has` (std's runtime detection: what this CPU offers) and `built_with` (`cfg!`: what this
/// binary was compiled with, `-C target-cpu` / `target-feature`; seqbench's own kernels use what was
/// compiled in, gemm picks its kernels at run time) over one list of features, every name in
/// [`LEVELS`] and [`NAMED`].
macro_rules! feature_lookups {
    ($($f:tt),* $(,)?) => {
        /// The features the two lookups know.
        #[cfg(test)]
        const LOOKED_UP: &[&str] = &[$($f),*];

        #[cfg(target_arch = "x86_64")]
        fn cpu_has(feature: &str) -> bool {
            match feature {
                $($f => std::arch::is_x86_feature_detected!($f),)*
                _ => false,
            }
        }

        #[cfg(not(target_arch = "x86_64"))]
        fn cpu_has(_feature: &str) -> bool {
            false
        }

        fn built_with(feature: &str) -> bool {
            match feature {
                $($f => cfg!(target_feature = $f),)*
                _ => false,
            }
        }
    };
}

feature_lookups!(
    "sse3",
    "ssse3",
    "sse4.1",
    "sse4.2",
    "popcnt",
    "avx",
    "avx2",
    "bmi1",
    "bmi2",
    "f16c",
    "fma",
    "lzcnt",
    "movbe",
    "avx512f",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512vl",
    "avx512vnni",
    "avx512bf16",
    "avx512fp16",
);

/// The CPU's instruction-set level and its named SIMD features.
pub fn cpu_isa() -> CpuIsa {
    CpuIsa { level: level(cpu_has), features: NAMED.iter().filter(|f| cpu_has(f)).map(|f| f.to_string()).collect() }
}

/// Lowercase hex sha256 of the file at `path`.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// How this binary was built: the commit stamp, its sha256, the compiler and the compiled-in ISA.
pub fn build() -> Build {
    let exe = std::env::current_exe().ok();
    Build {
        git_commit: env!("SEQBENCH_GIT_COMMIT").into(),
        dirty: env!("SEQBENCH_GIT_COMMIT").ends_with("-dirty"),
        seqbench_version: env!("CARGO_PKG_VERSION").into(),
        candle_version: env!("SEQBENCH_CANDLE_VERSION").into(),
        rustc: env!("SEQBENCH_RUSTC_VERSION").into(),
        binary_sha256: exe.as_deref().and_then(|p| sha256_file(p).ok()),
        isa: level(built_with),
        target_features: NAMED.iter().filter(|f| built_with(f)).map(|f| f.to_string()).collect(),
        reported_by: "binary".into(),
    }
}

/// The command line this process was started with.
pub fn command_line() -> Vec<String> {
    std::env::args().collect()
}

/// A binary's own [`Build`], asked through `BINARY env --json --no-calibration`. A binary older
/// than that command cannot say: then only its sha256 is known, and the commit is `declared` (from
/// the command line, e.g. `seqbench ab --baseline-commit`) or "unknown".
pub fn build_of(binary: &std::path::Path, declared: Option<&str>) -> anyhow::Result<Build> {
    let output = std::process::Command::new(binary).args(["env", "--json", "--no-calibration"]).output();
    let reported = output
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<crate::results::Environment>(&o.stdout).ok().and_then(|e| e.build));
    match (reported, declared) {
        (Some(b), Some(d)) if !commits_agree(&b.git_commit, d) => Err(crate::error::usage(format!(
            "{} reports commit {}, not the declared {d}",
            binary.display(),
            b.git_commit
        ))),
        (Some(b), _) => Ok(b),
        (None, declared) => Ok(Build {
            git_commit: declared.unwrap_or("unknown").into(),
            dirty: false,
            seqbench_version: "unknown".into(),
            candle_version: "unknown".into(),
            rustc: "unknown".into(),
            binary_sha256: Some(sha256_file(binary)?),
            isa: "unknown".into(),
            target_features: vec![],
            reported_by: if declared.is_some() { "declared on the command line" } else { "nobody" }.into(),
        }),
    }
}

/// Whether two commit names (abbreviated or full, either may carry `-dirty`) name the same commit.
pub fn commits_agree(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_end_matches("-dirty"), b.trim_end_matches("-dirty"));
    let n = a.len().min(b.len());
    n >= 7 && a[..n].eq_ignore_ascii_case(&b[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_need_every_lower_level() {
        let v3 = ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "lzcnt", "movbe"];
        let v2 = ["sse3", "ssse3", "sse4.1", "sse4.2", "popcnt"];
        let v4 = ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"];
        if cfg!(target_arch = "x86_64") {
            assert_eq!(level(|f| v2.contains(&f) || v3.contains(&f)), "x86-64-v3");
            assert_eq!(level(|f| v2.contains(&f) || v3.contains(&f) || v4.contains(&f)), "x86-64-v4");
            // AVX-512 without AVX2's companions is not v4.
            assert_eq!(level(|f| v2.contains(&f) || v4.contains(&f)), "x86-64-v2");
            assert_eq!(level(|_| false), "x86-64");
        }
    }

    #[test]
    fn every_feature_named_is_looked_up() {
        for f in LEVELS.iter().flat_map(|(_, f)| f.iter()).chain(NAMED.iter()) {
            assert!(LOOKED_UP.contains(f), "{f} is named but neither lookup knows it (it would read as absent)");
        }
    }

    #[test]
    fn commits_agree_on_prefixes_only() {
        assert!(commits_agree("019a98341217", "019a98341217324d07895d1a9dd15e4635485b2c"));
        assert!(commits_agree("019a98341217-dirty", "019a983"));
        assert!(!commits_agree("019a98341217", "2b9efe9"));
        assert!(!commits_agree("019a", "019a"));
    }
}
