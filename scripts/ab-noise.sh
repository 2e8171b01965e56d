#!/usr/bin/env bash
# Measures what `seqbench ab` (the CI regression check) gets wrong on this machine, at its defaults:
#   - false alarms: A/A runs, the same binary on both sides (two copies of one file), AA_RUNS times;
#   - detection: the candidate slowed by the test-only knob SEQBENCH_TEST_SLOWDOWN (every timed sample
#     stretched F times inside the timed region) at F = 1.10, 1.25 and 2 (SLOWDOWNS), SLOWDOWN_RUNS times each.
# Each run is `seqbench ab SUITE` (default ci: 34 cells, 26 of them timings, 5 rounds). Writes every
# run's ab.json and a summary (summary.md, summary.json) to OUT (default results/ab-noise-2core); the
# runs' full results stay in target/ab-noise. Takes about 3.5 minutes per run on 2 cores.
# Usage: scripts/ab-noise.sh [SEQBENCH_BINARY] [SUITE]     (scripts/ab-noise.sh --summary: only re-summarise OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
summary_only=false
if [[ "${1:-}" == "--summary" ]]; then
  summary_only=true
  shift
fi
bin="$(realpath "${1:-target/release/seqbench}")"
suite="${2:-ci}"
out="${OUT:-results/ab-noise-2core}"
aa_runs="${AA_RUNS:-10}"
slow_runs="${SLOWDOWN_RUNS:-1}"
scratch="target/ab-noise"

one() { # RUN_ID [SLOWDOWN]
  local id="$1" factor="${2:-}"
  echo "$(date -u +%H:%M:%S) $id${factor:+ (candidate slowed x$factor)}"
  local start=$SECONDS
  env ${factor:+SEQBENCH_TEST_SLOWDOWN=$factor} "$scratch/seqbench-b" ab "$suite" --baseline "$scratch/seqbench-a" \
    --candidate "$scratch/seqbench-b" --out "$scratch" --run-id "$id" -q | tail -n 2 | head -n 1 || true
  # The run's wall time joins its ab.json (the confirmation rounds make it vary).
  python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); j["wall_seconds"] = int(sys.argv[2]); json.dump(j, open(sys.argv[3], "w"), indent=1)' \
    "$scratch/$id/ab.json" "$((SECONDS - start))" "$out/$id.json"
}
if ! $summary_only; then
  rm -rf "$scratch" && mkdir -p "$scratch" "$out"
  cp "$bin" "$scratch/seqbench-a" && cp "$bin" "$scratch/seqbench-b"
  for i in $(seq -w 1 "$aa_runs"); do one "aa-$i"; done
  for f in ${SLOWDOWNS:-1.10 1.25 2}; do
    for i in $(seq -w 1 "$slow_runs"); do one "slow-x$f-$i" "$f"; done
  done
fi

python3 - "$out" "$bin" <<'PY'
import glob, json, os, subprocess, sys
out, binary = sys.argv[1], sys.argv[2]
timing = {"train_throughput", "prefill_latency", "decode_latency", "generation"}
rows, summary = [], {"binary": binary, "runs": []}
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    if path.endswith("summary.json"):
        continue
    ab = json.load(open(path))
    cells = ab["comparison"]["cells"]
    timed = [c for c in cells if c["measurement"] in timing]
    flagged = [c["id"] for c in cells if c["verdict"] == "regressed"]
    improved = [c["id"] for c in cells if c["verdict"] == "improved"]
    worst = max((abs(c["change"] or 0) for c in timed), default=0)
    factor = ab.get("injected_slowdown")
    summary["runs"].append({"run": os.path.basename(path)[:-5], "injected_slowdown": factor, "cells": len(cells),
                            "timing_cells": len(timed), "regressed": flagged, "improved": improved,
                            "largest_timing_change": worst, "confirmed": len(ab.get("confirmed_cells", [])),
                            "rounds": ab.get("confirmation_rounds", ab["rounds"]),
                            "wall_seconds": ab.get("wall_seconds")})
by = {}
for r in summary["runs"]:
    by.setdefault(r["injected_slowdown"] or "none (A/A)", []).append(r)
lines = ["# `seqbench ab` noise on this machine", "",
         "Suite `ci` (34 cells, 26 of them timings), 5 planned rounds, threshold 10%; a cell whose median is beyond the threshold "
         "gets confirmation rounds (up to 16), and regresses at p < 0.01 / 34 (one-sided sign test over its rounds).", "",
         "| candidate | runs | runs with a cell flagged regressed | timing cells compared | flagged regressed | rate | flagged improved | cells confirmed (per run, median) | wall time per run (median, s) | largest change of a timing cell's median ratio |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for key, runs in by.items():
    n = sum(r["timing_cells"] for r in runs)
    k = sum(len(r["regressed"]) for r in runs)
    imp = sum(len(r["improved"]) for r in runs)
    worst = max(r["largest_timing_change"] for r in runs)
    any_flagged = sum(1 for r in runs if r["regressed"])
    med = lambda xs: sorted(xs)[len(xs) // 2] if xs else "-"
    confirmed = med([r["confirmed"] for r in runs])
    wall = med([r["wall_seconds"] for r in runs if r["wall_seconds"] is not None])
    label = "same binary (A/A)" if key.startswith("none") else f"slowed x{key}"
    lines.append(f"| {label} | {len(runs)} | {any_flagged} | {n} | {k} | {k / max(n, 1):.0%} | {imp} | {confirmed} | {wall} | {worst:.1%} |")
    summary.setdefault("rates", {})[key] = {"runs": len(runs), "timing_cells": n, "regressed": k, "improved": imp}
open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print("\n".join(lines))
PY
