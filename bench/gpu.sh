#!/bin/sh
# Runs the GPU benchmark on the GPU machine (Ubuntu 24.04, NVIDIA GPU, NVIDIA's OpenCL,
# no meson): from the repository root, with gpu-carry/ made here by bench/gpu-build.sh.
#   sh bench/gpu.sh [zmoe-gpubench options]      e.g. --only qwen3 --reps 20
# Writes $OUT/gpu.tsv and $OUT/gpu.md ($OUT: the device run's output folder, else
# bench/results/). bench/README.md "GPU benchmark" says what is measured.
set -eu
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
[ -x gpu-carry/zmoe-gpubench ] || { echo "gpu.sh: gpu-carry/zmoe-gpubench missing: run sh bench/gpu-build.sh first (on the build machine)" >&2; exit 1; }
# NVIDIA's OpenCL driver is installed but not registered with the ICD loader.
icd=/usr/local/nvidia/lib64/libnvidia-opencl.so.1
if [ -e "$icd" ]; then
    mkdir -p /etc/OpenCL/vendors
    echo "$icd" >/etc/OpenCL/vendors/nvidia.icd
fi
# libOpenCL.so.1 (the ICD loader) from CUDA, the carried libraries (libinih) before it,
# the NVIDIA driver libraries (libcuda, which its OpenCL library loads) after it.
export LD_LIBRARY_PATH="$PWD/gpu-carry:/usr/local/cuda/targets/x86_64-linux/lib:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
exec gpu-carry/zmoe-gpubench --kernels kernels/moe.cl --examples config/examples \
    --tsv "$out/gpu.tsv" --md "$out/gpu.md" "$@"
