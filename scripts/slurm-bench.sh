#!/usr/bin/env bash
# Sharded seqbench runs on a Slurm cluster, from the repository root.
#
#   scripts/slurm-bench.sh SUITE [ARRAY]
#       submits an array job (ARRAY is sbatch's --array spec, default 1-4; steps such as 1-9:2 work)
#       whose tasks each run one shard of SUITE, and a merge job that runs after all of them. Needs
#       sbatch on PATH; builds ./target/release/seqbench first if it is missing.
#   sbatch --array=1-4 scripts/slurm-bench.sh SUITE
#       the array job alone; merge afterwards with  scripts/slurm-bench.sh --merge JOBID
#
# Each task's shard (I/N) and the job id come from Slurm's SLURM_ARRAY_* variables (see
# `seqbench run --help`); task runs land in $SEQBENCH_OUT/<suite>-job<JOBID>-shard<I>of<N>/ (<suite> is the
# suite's `name`), the merged run in $SEQBENCH_OUT/<suite>-job<JOBID>/, job logs in $SEQBENCH_OUT/logs/. $SEQBENCH_OUT defaults to
# results/slurm, which git ignores. The merge refuses (exit 2, naming them) shards that are missing or
# unfinished, so a failed task cannot be merged over silently.
#
# Environment: SEQBENCH (the binary, default ./target/release/seqbench), SEQBENCH_OUT,
# SEQBENCH_SBATCH_ARGS (extra sbatch options for the array job, e.g. "--partition=cpu --mem=8G").
#SBATCH --job-name=seqbench
#SBATCH --cpus-per-task=2
#SBATCH --mem=8G
#SBATCH --time=01:00:00
set -euo pipefail
out="${SEQBENCH_OUT:-results/slurm}"
bin="${SEQBENCH:-./target/release/seqbench}"

if [[ "${1:-}" == "--merge" ]]; then
  job="${2:?usage: slurm-bench.sh --merge JOBID}"
  shopt -s nullglob
  shards=("$out/"*"-job$job-shard"*)
  if [[ ${#shards[@]} -eq 0 ]]; then
    echo "error: no shard of job $job under $out (expected $out/<suite>-job$job-shard<I>of<N>)" >&2
    exit 2
  fi
  first="$(basename "${shards[0]}")"
  exec "$bin" merge "${shards[@]}" --out "$out/${first%-job"$job"-shard*}-job$job"
fi

suite="${1:-quick}"
if [[ -n "${SLURM_ARRAY_TASK_ID:-}" ]]; then
  # Inside an array task: seqbench reads its shard and the job id from SLURM_ARRAY_*.
  exec "$bin" run "$suite" --out "$out" --quiet --no-tables --no-report
fi

# Outside Slurm: submit the array and the merge job that follows it.
array="${2:-1-4}"
if [[ ! -x "$bin" ]]; then
  cargo build --release --quiet
fi
mkdir -p "$out/logs"
# shellcheck disable=SC2086 # SEQBENCH_SBATCH_ARGS holds several options
job=$(sbatch --parsable --array="$array" --output="$out/logs/%x-%A_%a.out" ${SEQBENCH_SBATCH_ARGS:-} "$0" "$suite")
job="${job%%;*}"
merge=$(sbatch --parsable --dependency=afterany:"$job" --job-name=seqbench-merge --cpus-per-task=1 --mem=1G \
  --output="$out/logs/%x-%j.out" "$0" --merge "$job")
merge="${merge%%;*}"
echo "submitted array job $job (--array=$array) and merge job $merge"
echo "merged run: $out/<suite>-job$job (log: $out/logs/seqbench-merge-$merge.out)"
