#!/usr/bin/env python3
"""The step-peak table of a `seqbench train-speed --recompute both` run, as Markdown.

Usage: python3 scripts/recompute_table.py RUN_DIR/results.json [--seq-len 2048]

One row per model (in the run's order): training tokens/s and step peak / floor with kept
activations and with recomputed mixers, and the recomputed step's speed as a share of the kept one's.
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--seq-len", type=int, default=None, help="the sequence length to tabulate (default: the longest)")
    args = ap.parse_args()
    cells = [c for c in json.load(open(args.results))["cells"] if c["measurement"] == "train_throughput"]
    seq_len = args.seq_len or max(c["value"] for c in cells)
    rows = {}
    for c in cells:
        if c["value"] != seq_len:
            continue
        recompute = bool(c["settings"].get("recompute"))
        ok = c["status"] == "ok"
        rows.setdefault(c["model"]["name"], {})[recompute] = (
            c["summary"]["median"] if ok else None,
            c["metrics"].get("step_peak_over_floor") if ok else None,
        )
    print(f"| model | kept: tokens/s | kept: step peak / floor | recomputed: tokens/s | recomputed: step peak / floor | recomputed speed / kept |")
    print("|---|---|---|---|---|---|")
    fmt = lambda v, f: "-" if v is None else f.format(v)
    for name, r in rows.items():
        (kt, kp), (rt, rp) = r.get(False, (None, None)), r.get(True, (None, None))
        share = rt / kt if kt and rt else None
        print(f"| {name} | {fmt(kt, '{:,.0f}')} | {fmt(kp, '{:.2f}x')} | {fmt(rt, '{:,.0f}')} | "
              f"{fmt(rp, '**{:.2f}x**')} | {fmt(share, '{:.2f}')} |")


if __name__ == "__main__":
    main()
