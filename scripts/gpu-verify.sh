#!/usr/bin/env bash
# Verifies a CUDA build of seqbench on a machine with an NVIDIA GPU and its driver: the correctness
# checks on the GPU in f32, bf16 and f16, then the quick suite in f32 and bf16. Results go to
# OUTDIR as run directories named after the GPU (e.g. quick-cuda-NVIDIA-H100-80GB-HBM3-reference) and
# check-<gpu>-<dtype>.json files; the exit status is non-zero if any check or cell failed.
#
#   bash scripts/gpu-verify.sh [BINARY] [OUTDIR]     # defaults: target/release/seqbench, results
#
# The machine needs no Rust: build here with `--features cuda` (see README, CUDA) and copy the
# binary. For a binary that runs on another machine's CPU, override the repository's
# target-cpu=native: RUSTFLAGS="-C target-cpu=x86-64-v3" cargo build --release --features cuda
# (and CUDA_COMPUTE_CAP=90 for H100/H200 when building without a GPU). The CUDA runtime libraries
# (libcudart.so.13, libcublas.so.13, libcurand.so.10) are looked up on the machine if the loader
# does not find them (e.g. in a PyTorch environment's nvidia/cu13/lib).
set -uo pipefail
bin="${1:-target/release/seqbench}"
out="${2:-results}"
command -v nvidia-smi >/dev/null || { echo "error: nvidia-smi not found: this needs an NVIDIA GPU and its driver" >&2; exit 2; }
[[ -x "$bin" ]] || { echo "error: $bin is not an executable seqbench (build with --features cuda)" >&2; exit 2; }
for lib in libcudart.so.13 libcublas.so.13 libcurand.so.10; do
  if ! ldconfig -p | grep -q "$lib"; then
    found="$(find / -name "$lib*" -not -path '/proc/*' 2>/dev/null | head -1)"
    [[ -n "$found" ]] || { echo "error: $lib not found on this machine" >&2; exit 2; }
    export LD_LIBRARY_PATH="$(dirname "$found")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
done
mkdir -p "$out"
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -c 'A-Za-z0-9.\n' '-' | tr -s '-')"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/nvidia-smi-$gpu.csv"
status=0
for dtype in f32 bf16 f16; do
  "$bin" check --device cuda --dtype "$dtype" -q --json "$out/check-$gpu-$dtype.json" | tail -n 1 || status=1
done
"$bin" run quick --device cuda -q --no-tables --out "$out" --run-id "quick-cuda-$gpu-reference" || status=1
"$bin" run quick --device cuda --dtype bf16 -q --no-tables --out "$out" --run-id "quick-cuda-bf16-$gpu-reference" || status=1
exit $status
