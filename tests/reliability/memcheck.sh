#!/bin/sh
# Runs a program under valgrind memcheck: it must exit 0 with no memory error and no
# definitely-lost block (third-party false positives: tests/valgrind.supp). TAP output.
#   memcheck.sh SUPPRESSIONS PROGRAM [ARGS...]
set -u
supp=$1; shift
log=$(mktemp)
trap 'rm -f "$log" "$log.out"' EXIT
echo "TAP version 13"
echo "1..2"
# One plain run first: PoCL and hostdev compile kernels on first use and cache them on
# disk; compiling under memcheck would take minutes and trip the runtime's wait timeout.
# Then one run under valgrind without a tool: valgrind's CPU has no AVX-512, so PoCL
# compiles for another target there (haswell rather than skylake-avx512 on this
# machine), and that compile, cached too, runs ~10x faster than under memcheck.
"$@" >/dev/null 2>&1
valgrind --tool=none "$@" >/dev/null 2>&1
status=0
valgrind --suppressions="$supp" --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite --log-file="$log" "$@" >"$log.out" 2>&1 || status=$?
name=$(basename "$1")
if [ "$status" -eq 0 ] || [ "$status" -eq 99 ] && ! grep -q "^not ok" "$log.out"; then
    echo "ok 1 - $name runs to completion under memcheck"
else
    echo "not ok 1 - $name runs to completion under memcheck (status $status)"; tail -20 "$log.out" | sed 's/^/# /'
fi
if [ "$status" -ne 99 ]; then
    echo "ok 2 - $name: no memory error, no definitely lost block"
else
    echo "not ok 2 - $name: memcheck found errors"; grep -E '^==[0-9]+==' "$log" | head -60 | sed 's/^/# /'
fi
