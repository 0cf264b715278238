#!/bin/sh
# Sets up, builds (warnings are errors) and runs the whole test suite, then the
# sanitizer build (address,undefined) of the same suite. Last line: "N passed, N failed".
#   ZMOE_TEST_SANITIZE=0 skips the sanitizer build; ZMOE_TEST_FUZZ=0 skips the bounded
#   libFuzzer run of the config and safetensors parsers (ZMOE_FUZZ_SECONDS each, default 20).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sh scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0 failed=0 skipped=0
failures=$(mktemp) # one line per failed test, repeated just above the last line
trap 'rm -f "$failures"' EXIT
run_suite() { # build-dir, meson setup args...
    dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; echo "$dir meson setup failed" >>"$failures"; failed=$((failed + 1)); return; }
    fi
    if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
        cat "$dir.build.log"; echo "$dir build failed" >>"$failures"; failed=$((failed + 1)); return
    fi
    meson test -C "$dir" --print-errorlogs --num-processes 2 || true
    counts=$(python3 scripts/count_tests.py "$dir/meson-logs/testlog.json" 2>"$dir.failed") ||
        counts="0 1 0"
    sed "s|^|$dir |" "$dir.failed" >>"$failures"
    set -- $counts
    passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + $3))
}

run_suite build -Dwerror=true
if [ "${ZMOE_TEST_SANITIZE:-1}" != 0 ]; then
    ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$root/tests/lsan.supp \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_suite build-sanitize -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
fi
if [ "${ZMOE_TEST_FUZZ:-1}" != 0 ]; then
    ZMOE_FUZZ_SECONDS=${ZMOE_FUZZ_SECONDS:-20} ZMOE_FUZZ_BUILD=$root/build-fuzz \
        sh tests/reliability/fuzz.sh >build-fuzz.log 2>&1
    cat build-fuzz.log
    n=$(grep -c '^ok - ' build-fuzz.log); passed=$((passed + n))
    n=$(grep -c '^not ok' build-fuzz.log); failed=$((failed + n))
    grep '^not ok' build-fuzz.log >>"$failures"
    grep -q '^ok - .*fuzz_safetensors' build-fuzz.log || grep -q '^not ok' build-fuzz.log || failed=$((failed + 1))
fi
cat "$failures"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
