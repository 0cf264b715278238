#!/bin/sh
# Sets up, builds and runs the main job: a decode loop on the default example config
# (on an Intel GPU when present, else on hostdev, zmoe's Level Zero driver on the CPU).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sh scripts/setup.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec build/cli/zmoe run config/examples/default.conf "$@"
