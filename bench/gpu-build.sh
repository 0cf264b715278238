#!/bin/sh
# Builds zmoe-gpubench for the GPU machine (bench/README.md "GPU benchmark") and puts it
# with the non-system shared libraries it needs into gpu-carry/, which travels with the
# working tree to the device run (bench/gpu.sh runs it there). Run from anywhere here:
#   sh bench/gpu-build.sh
# That machine (Ubuntu 24.04, NVIDIA OpenCL) has no meson, no Level Zero and no libinih;
# the binary needs none of Level Zero (checked below), and libOpenCL.so.1 comes from
# CUDA there, so only the other libraries `ldd` resolves outside the C library are copied.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=build-gpu
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype=release -Dwerror=true \
        >"$build.setup.log" 2>&1 ||
        { cat "$build.setup.log" >&2; exit 1; }
fi
ninja -C "$build" bench/zmoe-gpubench >"$build.build.log" 2>&1 || { cat "$build.build.log" >&2; exit 1; }
bin=$build/bench/zmoe-gpubench
if readelf -d "$bin" | grep -q 'NEEDED.*libze_loader'; then
    echo "gpu-build: $bin needs libze_loader.so.1; the GPU machine has no Level Zero" >&2
    exit 1
fi
rm -rf gpu-carry
mkdir -p gpu-carry
cp "$bin" gpu-carry/zmoe-gpubench
# Every resolved library except the C runtime (libc, libm, libpthread, libdl, librt, the
# dynamic loader, libgcc_s) and libOpenCL (the GPU machine's own ICD loader).
ldd "$bin" | awk '/=> \// { print $1, $3 }' | while read -r name path; do
    case "$name" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libgcc_s.so.*|libOpenCL.so.*) ;;
        *) cp -L "$path" "gpu-carry/$name" ;;
    esac
done
# the working tree travels, but gpu-carry/ is ignored by git: keep it out of commits
grep -qx '/gpu-carry/' .git/info/exclude 2>/dev/null || echo '/gpu-carry/' >>.git/info/exclude
echo "gpu-build: gpu-carry/:" >&2
ls -l gpu-carry >&2
