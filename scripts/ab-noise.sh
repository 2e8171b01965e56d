#!/usr/bin/env bash
# Measures what `seqbench ab` (the CI regression check) gets wrong on this machine, at its defaults,
# and appends the evidence to results/ab-noise-<cpu>-<isa>/ so that it accumulates over sessions:
#   - false alarms: A/A runs, the same binary on both sides (two copies of one file), AA_RUNS times;
#   - detection: the candidate slowed by the test-only knob SEQBENCH_TEST_SLOWDOWN (every timed sample
#     exactly F times what was measured, the extra time spent spinning) at each F in SLOWDOWNS,
#     SLOWDOWN_RUNS times each.
# Each run is `seqbench ab SUITE` (default ci: 34 cells, 26 of them timings, 5 rounds) and is kept as
# OUT/<run>.json (its ab.json with wall time, machine, CPU ISA level and both binaries' builds); new
# runs are numbered after the ones already there, never replacing them. The summary counts timing
# cells only, and sorts the slowed runs' cells by their realised factor (the cell's median
# per-round ratio of candidate to baseline time), so detection is stated per realised band.
# About 3.5-5 minutes per run on 2 cores: keep a part under 90 minutes (e.g. AA_RUNS=10 SLOWDOWNS=).
# Usage: scripts/ab-noise.sh [SEQBENCH_BINARY] [SUITE]     (scripts/ab-noise.sh --summary: only re-summarise OUT)
# Env: OUT (default results/ab-noise-<cpu>-<isa>), AA_RUNS (10), SLOWDOWNS ("1.10 1.25 2"), SLOWDOWN_RUNS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
summary_only=false
if [[ "${1:-}" == "--summary" ]]; then
  summary_only=true
  shift
fi
bin="$(realpath "${1:-target/release/seqbench}")"
suite="${2:-ci}"
# The machine's name for the directory: CPU vendor/family and ISA level, from the binary itself.
machine_tag="$("$bin" env --json --no-calibration | python3 -c '
import json, re, sys
e = json.load(sys.stdin)
cpu = e["cpu_model"].lower()
vendor = "epyc" if "epyc" in cpu else "xeon" if "xeon" in cpu else re.sub(r"[^a-z0-9]+", "-", cpu).strip("-")[:24]
print(vendor + "-" + e["cpu_isa"]["level"].replace("x86-64-", ""))')"
out="${OUT:-results/ab-noise-$machine_tag}"
aa_runs="${AA_RUNS:-10}"
slow_runs="${SLOWDOWN_RUNS:-1}"
scratch="target/ab-noise"

# The next free number for runs named PREFIX-NN in OUT.
next() {
  local prefix="$1" n=1
  while [[ -e "$out/$prefix-$(printf %02d "$n").json" ]]; do n=$((n + 1)); done
  printf %02d "$n"
}
one() { # RUN_ID [SLOWDOWN]
  local id="$1" factor="${2:-}"
  echo "$(date -u +%H:%M:%S) $id${factor:+ (candidate slowed x$factor)}"
  local start=$SECONDS
  rm -rf "${scratch:?}/$id"
  env ${factor:+SEQBENCH_TEST_SLOWDOWN=$factor} "$scratch/seqbench-b" ab "$suite" --baseline "$scratch/seqbench-a" \
    --candidate "$scratch/seqbench-b" --out "$scratch" --run-id "$id" -q | tail -n 2 | head -n 1 || true
  # The run's wall time joins its ab.json (the confirmation rounds make it vary).
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); j["wall_seconds"] = int(sys.argv[2]); json.dump(j, open(sys.argv[3], "w"), indent=1)' \
    "$scratch/$id/ab.json" "$((SECONDS - start))" "$out/$id.json"
}
if ! $summary_only; then
  mkdir -p "$scratch" "$out"
  cp "$bin" "$scratch/seqbench-a" && cp "$bin" "$scratch/seqbench-b"
  for _ in $(seq 1 "$aa_runs"); do one "aa-$(next aa)"; done
  for f in ${SLOWDOWNS-1.10 1.25 2}; do
    for _ in $(seq 1 "$slow_runs"); do one "slow-x$f-$(next "slow-x$f")" "$f"; done
  done
fi
python3 scripts/ab_noise_summary.py "$out"
