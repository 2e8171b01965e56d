#!/usr/bin/env bash
# Installs a CUDA 13.0 build toolchain (nvcc, headers, runtime, cuBLAS, cuRAND, NVRTC) from NVIDIA's
# Python wheels into a folder, without root and without a GPU, and prints the environment a
# `cargo build --release --features cuda` needs. CUDA 13.0 is the version a 580-series driver runs.
#
#   bash scripts/cuda-toolchain.sh [DIR]      # default DIR: ./.cuda13
#   eval "$(bash scripts/cuda-toolchain.sh --env [DIR])"
#   cargo build --release --features cuda
set -euo pipefail
env_only=0
if [[ "${1:-}" == "--env" ]]; then env_only=1; shift; fi
dir="$(realpath -m "${1:-.cuda13}")"
root="$dir/nvidia/cu13"
if [[ $env_only == 0 && ! -x "$root/bin/nvcc" ]]; then
  python3 -m pip install --quiet --target "$dir" \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
    nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35 >&2
  # The wheels ship versioned shared objects only; the linker wants the plain names.
  for lib in "$root"/lib/*.so.*; do
    base="${lib%%.so.*}.so"
    [[ -e "$base" ]] || ln -s "$(basename "$lib")" "$base"
  done
fi
# The driver library (libcuda.so.1) comes with the NVIDIA driver, not with the toolkit wheels; the
# linker needs one to resolve the driver API, so build a stub with the same soname (as the toolkit's
# own lib/stubs does). At run time the driver's real libcuda.so.1 is loaded.
if [[ $env_only == 0 && ! -e "$root/lib/stubs/libcuda.so" ]]; then
  mkdir -p "$root/lib/stubs"
  grep -ohE '\bcu[A-Z][A-Za-z0-9_]*\b' "$root"/include/cuda.h \
    | sort -u | sed 's/.*/void &(void) {}/' > "$root/lib/stubs/libcuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" "$root/lib/stubs/libcuda_stub.c"
fi
[[ -x "$root/bin/nvcc" ]] || { echo "error: $root/bin/nvcc missing; run without --env first" >&2; exit 1; }
cat <<ENV
export CUDA_ROOT="$root"
export CUDA_PATH="$root"
export PATH="$root/bin:\$PATH"
export LIBRARY_PATH="$root/lib:$root/lib/stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$root/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-90}"
ENV
