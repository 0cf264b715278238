#!/bin/sh
# Installs every Debian 12 package zmoe's build, tests, hostdev and benchmarks need.
# Idempotent: a no-op when everything is present. Run as root (or with sudo available).
set -eu

PACKAGES="build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
libze1 libze-dev intel-opencl-icd
pocl-opencl-icd ocl-icd-opencl-dev opencl-c-headers llvm-spirv-15 spirv-tools
libinih-dev libjsmn-dev valgrind
python3-numpy python3-pytest python3-torch
libmpich-dev mpich"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
