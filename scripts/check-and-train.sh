#!/usr/bin/env bash
# Verify every model, then train each one briefly at the tiny size and keep the JSON reports.
# Usage: scripts/check-and-train.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-50}"
cargo build --release
./target/release/seqbench check
run="results/train-$(date -u +%Y%m%dT%H%M%SZ)"
# Every shipped model, as `seqbench list` reads them from the registry and configs/models/.
models=$(./target/release/seqbench list --json | grep -o '"model": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
for m in $models; do
  ./target/release/seqbench train --model "$m@tiny" --steps "$steps" --seq-len 128 --batch 8 --json "$run/$m.json"
done
echo "reports in $run/"
