#!/usr/bin/env python3
"""Summarises the `seqbench ab` noise runs in DIR (scripts/ab-noise.sh): false alarms of A/A runs with
a 95% upper bound on the per-run rate, and detection of injected slowdowns per realised band.

Timing cells only (memory cells are deterministic). A slowed run's cell is placed in the band of its
realised factor: the median over rounds of candidate time / baseline time (throughputs inverted),
i.e. the knob's nominal factor as the noisy machine delivered it.
Usage: scripts/ab_noise_summary.py DIR     (writes DIR/summary.{md,json})
"""
import glob, json, os, sys

TIMING = {"train_throughput", "prefill_latency", "decode_latency", "generation"}
BANDS = [(0, 1.05), (1.05, 1.15), (1.15, 1.35), (1.35, 1.75), (1.75, 100)]


def upper_95(k, n):
    """Clopper-Pearson one-sided 95% upper bound of a rate with k events in n trials."""
    if n == 0:
        return 1.0
    if k == n:
        return 1.0
    lo, hi = k / n, 1.0
    for _ in range(60):  # bisection on P(X <= k | p) = 0.05
        mid = (lo + hi) / 2
        from math import comb
        cdf = sum(comb(n, i) * mid**i * (1 - mid) ** (n - i) for i in range(k + 1))
        lo, hi = (mid, hi) if cdf > 0.05 else (lo, mid)
    return hi


def realised(cell):
    """Candidate time over baseline time, the median of the per-round ratios."""
    b, n = cell.get("base_median"), cell.get("new_median")
    if not b or not n:
        return None
    ratio = n / b
    # Throughputs (tokens/s): slower is smaller; express as a time factor.
    return 1 / ratio if cell.get("unit", "").endswith("/s") else ratio


def main():
    out = sys.argv[1]
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "*.json"))):
        if os.path.basename(path).startswith("summary"):
            continue
        ab = json.load(open(path))
        cells = [c for c in ab["comparison"]["cells"] if c["measurement"] in TIMING]
        runs.append({"run": os.path.basename(path)[:-5], "factor": ab.get("injected_slowdown"),
                     "machine": ab.get("machine", "not recorded (run predates provenance)"),
                     "commit": (ab.get("candidate_build") or {}).get("git_commit", "not recorded"),
                     "timing_cells": len(cells), "regressed": [c["id"] for c in cells if c["verdict"] == "regressed"],
                     "cells": [(c["id"], realised(c), c["verdict"]) for c in cells],
                     "wall_seconds": ab.get("wall_seconds")})
    aa = [r for r in runs if not r["factor"]]
    slowed = [r for r in runs if r["factor"]]
    flagged_runs = sum(1 for r in aa if r["regressed"])
    aa_cells = sum(r["timing_cells"] for r in aa)
    aa_flagged = sum(len(r["regressed"]) for r in aa)
    machines = sorted({r["machine"] for r in runs})
    lines = [f"**`seqbench ab` noise: `{out}`**", "",
             "Machines: " + "; ".join(machines), "",
             f"**A/A** (same binary both sides): {len(aa)} runs, {flagged_runs} with a timing cell flagged "
             f"regressed ({aa_flagged} of {aa_cells} timing cells); 95% upper bound on the per-run false-alarm "
             f"rate: {upper_95(flagged_runs, len(aa)):.0%}.", ""]
    if slowed:
        lines += ["**Injected slowdowns**, timing cells by realised factor (median per-round candidate/baseline time):", "",
                  "| nominal | runs | realised band | cells | flagged regressed | detection |", "|---|---|---|---|---|---|"]
    else:
        lines += ["**Injected slowdowns**: no run yet."]
    table = []
    for f in sorted({r["factor"] for r in slowed}, key=float):
        rs = [r for r in slowed if r["factor"] == f]
        for lo, hi in BANDS:
            cells = [(i, x, v) for r in rs for (i, x, v) in r["cells"] if x is not None and lo <= x < hi]
            if not cells:
                continue
            hit = sum(1 for (_, _, v) in cells if v == "regressed")
            band = f"{lo:.2f}-{hi:.2f}x" if hi < 100 else f">= {lo:.2f}x"
            lines.append(f"| x{f} | {len(rs)} | {band} | {len(cells)} | {hit} | {hit / len(cells):.0%} |")
            table.append({"nominal": f, "runs": len(rs), "band": [lo, hi], "cells": len(cells), "regressed": hit})
    # The gate fails a run when any cell regresses: per nominal factor, how many slowed runs it failed.
    caught = {}
    if slowed:
        lines += ["", "Runs the gate failed (at least one timing cell flagged regressed): " + "; ".join(
            f"x{f}: {sum(1 for r in slowed if r['factor'] == f and r['regressed'])} of "
            f"{sum(1 for r in slowed if r['factor'] == f)}" for f in sorted({r['factor'] for r in slowed}, key=float)) + "."]
        caught = {f: sum(1 for r in slowed if r["factor"] == f and r["regressed"]) for f in {r["factor"] for r in slowed}}
    summary = {"dir": out, "machines": machines, "aa_runs": len(aa), "aa_runs_flagged": flagged_runs,
               "slowed_runs_failed": caught,
               "aa_timing_cells": aa_cells, "aa_cells_flagged": aa_flagged,
               "aa_false_alarm_upper_95": upper_95(flagged_runs, len(aa)), "detection": table,
               "runs": [{k: v for k, v in r.items() if k != "cells"} for r in runs]}
    open(os.path.join(out, "summary.md"), "w").write("\n".join(lines) + "\n")
    json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
