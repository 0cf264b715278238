#!/bin/sh
# fuzz.sh — builds the libFuzzer targets with clang (ASan+UBSan) in build-fuzz and runs
# each for a bounded time over its corpus.
#   ZMOE_FUZZ_SECONDS   seconds per target (default 30)
#   ZMOE_FUZZ_BUILD     build directory (default <root>/build-fuzz)
# A crash leaves crash-* / leak-* / timeout-* files in a temporary artifact directory;
# they are copied next to the corpus as tests/<module>/corpus/bad-fuzz-<hash> (so the
# corpus replay tests keep them as regressions) and the script fails.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${ZMOE_FUZZ_SECONDS:-30}
build=${ZMOE_FUZZ_BUILD:-$root/build-fuzz}
command -v clang >/dev/null || { echo "fuzz.sh: clang not found" >&2; exit 77; }
if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" "$root" -Dfuzz=true >"$build.setup.log" 2>&1 ||
        { cat "$build.setup.log"; exit 1; }
fi
ninja -C "$build" tests/config/fuzz_config tests/weights/fuzz_safetensors >"$build.build.log" 2>&1 ||
    { tail -40 "$build.build.log"; exit 1; }
status=0
for t in config/fuzz_config:config/corpus:config/fuzz_config.dict weights/fuzz_safetensors:weights/corpus:; do
    bin=${t%%:*}; rest=${t#*:}; corpus=${rest%%:*}; dict=${rest#*:}
    work=$(mktemp -d) art=$(mktemp -d)
    # libFuzzer writes new inputs into the first corpus directory: give it a scratch one
    # and keep the checked-in corpus read-only.
    set -- "$build/tests/$bin" "$work" "$root/tests/$corpus" -max_total_time="$secs" \
        -artifact_prefix="$art/" -print_final_stats=1
    [ -n "$dict" ] && set -- "$@" -dict="$root/tests/$dict"
    echo "# fuzzing $bin for ${secs}s"
    if "$@" >"$art/log" 2>&1; then
        echo "ok - $bin: $(grep -E 'stat::number_of_executed_units' "$art/log" | awk '{print $2}') runs, no crash"
    else
        echo "not ok - $bin crashed:"; tail -30 "$art/log" | sed 's/^/#   /'
        for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-*; do
            [ -f "$f" ] || continue
            cp "$f" "$root/tests/$corpus/bad-fuzz-$(basename "$f" | sed 's/^[a-z]*-//' | cut -c1-16)"
            echo "#   regression kept: tests/$corpus/bad-fuzz-$(basename "$f" | sed 's/^[a-z]*-//' | cut -c1-16)"
        done
        status=1
    fi
    rm -rf "$work" "$art"
done
exit $status
