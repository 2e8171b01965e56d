#!/usr/bin/env python3
"""The verdict rule's measured error rates, from a run with many seeds per model (the seed-noise suite).

False separation: each model's seeds are split at random into two disjoint pseudo-models of K seeds
(K = 3, the full suite's old count, and K = 5), and the rule is asked whether the two halves differ;
both halves are the same model, so every separation is false. Power: attention's K seeds against
linear attention's K seeds, drawn at random, at each setting.

Two rules are measured side by side: seqbench's (an exact two-sided permutation test on the
difference of means, separated at p < 0.05; one pair is a family of one, so Holm changes nothing),
mirrored here from src/results/separation.rs, and the range rule it replaced (separated when the two
ranges do not overlap).

Usage: scripts/separation_noise.py RUN_DIR [--splits 2000] [--out DIR]
Writes DIR/separation-noise.{json,md} (default DIR = RUN_DIR).
"""
import argparse, itertools, json, os, random, statistics

ALPHA = 0.05


def permutation_p(a, b):
    """Two-sided exact permutation p of mean(a) - mean(b) (src/results/separation.rs)."""
    pooled = list(a) + list(b)
    n, k = len(pooled), len(a)
    total = sum(pooled)
    stat = lambda s: abs(s / k - (total - s) / (n - k))
    observed = stat(sum(a))
    eps = 1e-12 * (1 + observed)
    hits = splits = 0
    for idx in itertools.combinations(range(n), k):
        splits += 1
        if stat(sum(pooled[i] for i in idx)) >= observed - eps:
            hits += 1
    return hits / splits


def permutation_rule(a, b):
    return permutation_p(a, b) < ALPHA and statistics.fmean(a) != statistics.fmean(b)


def range_rule(a, b):
    return min(a) > max(b) or max(a) < min(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--splits", type=int, default=2000)
    ap.add_argument("--out")
    args = ap.parse_args()
    out = args.out or args.run
    results = json.load(open(os.path.join(args.run, "results.json")))
    seeds = {}
    for c in results["cells"]:
        if c["measurement"] == "mqar_accuracy" and c["status"] == "ok":
            seeds[(c["label"], c["value"])] = c["samples"]
    rng = random.Random(0)
    rules = {"permutation": permutation_rule, "ranges": range_rule}
    rows = []
    for (label, pairs), xs in sorted(seeds.items()):
        for k in (3, 5):
            if 2 * k > len(xs):
                continue
            false = {r: 0 for r in rules}
            for _ in range(args.splits):
                pick = rng.sample(xs, 2 * k)
                a, b = pick[:k], pick[k:]
                for r, rule in rules.items():
                    false[r] += rule(a, b)
            rows.append({"kind": "false_separation", "model": label, "kv_pairs": pairs, "seeds_per_side": k,
                         "seeds_available": len(xs), "splits": args.splits,
                         **{f"{r}_rate": false[r] / args.splits for r in rules}})
    for pairs in sorted({p for (_, p) in seeds}):
        attn = next((v for (l, p), v in seeds.items() if p == pairs and l.startswith("attention")), None)
        lin = next((v for (l, p), v in seeds.items() if p == pairs and l.startswith("linear-attention")), None)
        if not attn or not lin:
            continue
        for k in (3, 5):
            hit = {r: 0 for r in rules}
            for _ in range(args.splits):
                a, b = rng.sample(attn, k), rng.sample(lin, k)
                for r, rule in rules.items():
                    hit[r] += rule(a, b)
            rows.append({"kind": "power", "model": "attention vs linear-attention", "kv_pairs": pairs,
                         "seeds_per_side": k, "splits": args.splits, **{f"{r}_rate": hit[r] / args.splits for r in rules}})
    env = results["environment"]
    summary = {"run": os.path.normpath(args.run), "git_commit": env.get("git_commit"), "splits": args.splits,
               "alpha": ALPHA, "rows": rows}
    fs = [r for r in rows if r["kind"] == "false_separation"]
    for k in (3, 5):
        sel = [r for r in fs if r["seeds_per_side"] == k]
        if sel:
            summary[f"false_separation_k{k}"] = {r: statistics.fmean(x[f"{r}_rate"] for x in sel) for r in rules}
            summary[f"false_separation_k{k}_max"] = {r: max(x[f"{r}_rate"] for x in sel) for r in rules}
    with open(os.path.join(out, "separation-noise.json"), "w") as f:
        json.dump(summary, f, indent=1)
    lines = [f"# The verdict rule's error rates, from `{summary['run']}` (commit {summary['git_commit']})", "",
             f"{args.splits} random splits per row. *permutation*: seqbench's rule (exact two-sided permutation "
             f"test of the means, p < {ALPHA}); *ranges*: the rule it replaced (ranges do not overlap).", "",
             "| what | model | pairs | seeds a side | permutation rule | range rule |", "|---|---|---|---|---|---|"]
    for r in rows:
        what = "false separation (two halves of one model)" if r["kind"] == "false_separation" else "power"
        lines.append(f"| {what} | {r['model']} | {r['kv_pairs']} | {r['seeds_per_side']} | "
                     f"{r['permutation_rate']:.1%} | {r['ranges_rate']:.1%} |")
    with open(os.path.join(out, "separation-noise.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
