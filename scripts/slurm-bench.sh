#!/usr/bin/env bash
# Example Slurm array job: each task runs one shard of a suite; seqbench reads its shard from
# SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT / SLURM_ARRAY_TASK_MIN. Merge afterwards with
#   seqbench merge results/slurm-*-shard* --out results/merged
# Submit from the repository root:  sbatch --array=1-4 scripts/slurm-bench.sh [SUITE]
#SBATCH --job-name=seqbench
#SBATCH --cpus-per-task=2
#SBATCH --mem=16G
#SBATCH --time=01:00:00
#SBATCH --output=slurm-%A_%a.out
set -euo pipefail
suite="${1:-quick}"
cargo build --release --quiet
./target/release/seqbench run "$suite" --out results \
  --run-id "slurm-${SLURM_ARRAY_JOB_ID:-local}-shard${SLURM_ARRAY_TASK_ID:-1}" --quiet --no-tables
