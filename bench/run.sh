#!/bin/sh
# One command for every benchmark: sh bench/run.sh [--quick]
# Builds a release build directory (build-bench-release), then
#   1. zbench calls      Level Zero calls per layer call (tracing layer, own process)
#   2. zbench callgrind  host instructions per layer call (valgrind, own process)
#   3. zbench all        times, mallocs, on-input, arena, bandwidth, scaling; writes
#                        bench/results/latest.md and bench/results/*.svg
# Progress goes to stderr. Each step is its own process because the tracing layer
# allocates on every call it traces and valgrind changes all timings.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
build=${ZBENCH_BUILD:-build-bench-release}
quick=""
[ "${1:-}" = "--quick" ] && quick=--quick
out=bench/results
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
say() { echo "[run.sh +$(( $(date +%s) - start ))s] $*" >&2; }

if [ ! -f "$build/build.ninja" ]; then
    say "configuring $build (release)"
    meson setup "$build" --buildtype=release -Dwerror=true >"$tmp/setup.log" 2>&1 ||
        { cat "$tmp/setup.log" >&2; exit 1; }
fi
say "building zbench and hostdev in $build"
ninja -C "$build" bench/zbench hostdev/libze_hostdev.so >"$tmp/build.log" 2>&1 ||
    { tail -n 40 "$tmp/build.log" >&2; exit 1; }
zbench="$root/$build/bench/zbench"
mkdir -p "$out"

say "1/3 Level Zero calls per call (tracing layer); mallocs with a single-driver loader"
ZE_ENABLE_TRACING_LAYER=1 "$zbench" calls >"$tmp/calls.tsv"
# zmoe_create lists the GPU driver and hostdev for the loader; with two drivers the
# loader itself allocates in zeCommandQueueExecuteCommandLists. This run names only
# hostdev, to separate the loader's malloc from zmoe's (on a GPU machine it measures
# hostdev, not the GPU).
env -u ZE_ENABLE_TRACING_LAYER ZE_ENABLE_ALT_DRIVERS="$root/$build/hostdev/libze_hostdev.so" \
    "$zbench" mallocs >"$tmp/mallocs1.tsv"

cgarg=""
if command -v valgrind >/dev/null 2>&1 && command -v callgrind_annotate >/dev/null 2>&1 &&
   [ "${ZBENCH_NO_CALLGRIND:-0}" != 1 ]; then
    say "2/3 host instructions per call (valgrind --tool=callgrind; the first run on a machine also JIT-compiles the kernels under valgrind, minutes)"
    (cd "$tmp" && env -u ZE_ENABLE_TRACING_LAYER valgrind --tool=callgrind --collect-atstart=no \
        --callgrind-out-file="$tmp/cg.out" "$zbench" callgrind >"$tmp/cg.log" 2>&1) ||
        { grep -v '^==' "$tmp/cg.log" | tail -n 20 >&2; exit 1; }
    # Each client-request dump is cg.out.N, described "bench <side> <wait|nowait> T=<t>
    # N=<n>". Self cost (Ir) is summed per object file from the dump itself (cost
    # lines, minus the inclusive cost lines that follow calls=), then into classes:
    # 0 bench binary (zmoe library + baseline), 1 loader, 2 driver, 3 system, 4 total.
    for f in "$tmp"/cg.out.*; do
        desc=$(sed -n 's/^desc: Trigger: Client Request: bench //p' "$f")
        [ -n "$desc" ] || continue
        awk -v desc="$desc" -v bin="$zbench" '
            function setname(s, tbl,   id, rest) {
                if (match(s, /^\([0-9]+\)/)) {
                    id = substr(s, RSTART, RLENGTH); rest = substr(s, RLENGTH + 2)
                    if (rest != "") names[tbl id] = rest
                    return names[tbl id]
                }
                return s
            }
            /^ob=/ { ob = setname(substr($0, 4), "o"); next }
            /^cob=/ { setname(substr($0, 5), "o"); next }
            /^calls=/ { skip = 1; next }
            /^[0-9+*-]/ { if (skip) { skip = 0; next } cost[ob] += $2; next }
            END {
                for (o in cost) {
                    c = 2
                    if (o == bin) c = 0
                    else if (o ~ /libze_loader|libze_tracing_layer|libze_validation_layer/) c = 1
                    else if (o ~ /\/(libc|libm|ld-linux[^\/]*|libstdc\+\+|libgcc_s|libpthread|libdl)\.so/ || o ~ /vdso/) c = 3
                    s[c] += cost[o]; s[4] += cost[o]
                }
                split(desc, d, " "); t = d[3]; n = d[4]
                sub("T=", "", t); sub("N=", "", n)
                for (c = 0; c < 5; c++) printf "%s %s %s %s %d %.0f\n", d[1], d[2], t, n, c, s[c]
            }' "$f"
    done >"$tmp/cg.raw"
    # per call = (cost of the N2 batch - cost of the N1 batch) / (N2 - N1)
    awk '{ k = $1 " " $2 " " $3 " " $5
           if (!(k in nlo) || $4 < nlo[k]) { lo[k] = $6; nlo[k] = $4 }
           if (!(k in nhi) || $4 > nhi[k]) { hi[k] = $6; nhi[k] = $4 } }
         END { for (k in lo) if (nhi[k] > nlo[k]) { split(k, p, " ");
               printf "%s %s %s %s %.1f\n", p[1], p[2], p[3], p[4], (hi[k] - lo[k]) / (nhi[k] - nlo[k]) } }' \
        "$tmp/cg.raw" | sort >"$tmp/cg.tsv"
    [ -s "$tmp/cg.tsv" ] || { say "callgrind produced no dumps"; exit 1; }
    cgarg="--callgrind $tmp/cg.tsv"
else
    say "2/3 skipped: valgrind not installed (or ZBENCH_NO_CALLGRIND=1)"
fi

say "3/3 timings, mallocs, router weight on input, arena, bandwidth, scaling"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | awk '{ print $2 }' | cut -d/ -f1 | sort -u | tr '\n' ' ')
[ -n "$dirty" ] && commit="$commit (working tree has uncommitted changes in: ${dirty% })"
# shellcheck disable=SC2086
env -u ZE_ENABLE_TRACING_LAYER "$zbench" all $quick --calls "$tmp/calls.tsv" \
    --mallocs1 "$tmp/mallocs1.tsv" $cgarg \
    --commit "$commit" --out "$out"
cp "$tmp/calls.tsv" "$out/calls.tsv"
[ -f "$tmp/cg.tsv" ] && cp "$tmp/cg.tsv" "$out/callgrind.tsv"
say "done: $out/latest.md, $out/stages.svg, $out/dispatch_vs_tokens.svg"
