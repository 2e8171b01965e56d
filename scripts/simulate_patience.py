#!/usr/bin/env python3
"""What a patience rule would have done to a committed run's recall cells (MQAR, copy).

Reads the validation curves a run stores per seed (`seed.S.valid_curve.STEP` in each cell's metrics)
and replays "stop once the best validation accuracy has not risen by DELTA for PATIENCE steps":
the share of the run's training steps it saves, and every seed whose accuracy at that stop differs
from the one the run reported by more than 0.02. Nothing is trained; seqbench does not ship the rule
(Zoology's protocol has none).

    python3 scripts/simulate_patience.py results/full-reference-2core/results.json
"""
import json
import sys


def stop(curve, patience, delta):
    """(step, accuracy) where the rule stops a curve of (step, accuracy) pairs, or its last point."""
    best, best_step = -1.0, 0
    for step, acc in curve:
        if acc >= best + delta:
            best, best_step = acc, step
        if step - best_step >= patience:
            return step, acc
    return curve[-1]


def main(path):
    cells = json.load(open(path))["cells"]
    print(f"run: {path}")
    for patience in [400, 500, 600, 800, 1000]:
        for delta in [0.01, 0.02]:
            total = saved = 0
            changed = []
            for c in cells:
                if not c["id"].startswith(("mqar", "copy")) or c.get("status") != "ok":
                    continue
                m = c["metrics"]
                seeds = sorted({int(k.split(".")[1]) for k in m if ".valid_curve." in k})
                for s in seeds:
                    curve = sorted((int(k.rsplit(".", 1)[1]), v) for k, v in m.items()
                                   if k.startswith(f"seed.{s}.valid_curve."))
                    steps, final = m[f"seed.{s}.steps"], m[f"seed.{s}.valid_accuracy"]
                    at, acc = stop(curve, patience, delta)
                    total += steps
                    saved += steps - min(at, steps)
                    if abs(acc - final) > 0.02:
                        changed.append(f"{c['id']} seed {s}: {final:.3f} -> {acc:.3f} at step {at}")
            print(f"patience {patience:4d}, delta {delta}: {saved / total:5.1%} of the steps saved, "
                  f"{len(changed)} seeds changed by > 0.02")
            for line in changed:
                print(f"    {line}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/full-reference-2core/results.json")
