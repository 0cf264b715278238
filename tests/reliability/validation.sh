#!/bin/sh
# validation.sh BINARY [ARGS...] — runs a Level Zero test program under the loader's
# validation layer with parameter validation on, and fails when the program fails or
# when its stderr/stdout carries a validation error line.
#   ZE_ENABLE_VALIDATION_LAYER=1 ZE_ENABLE_PARAMETER_VALIDATION=1
# Loader 1.8.12's validation layer (parameter checks and handle lifetime checks) reports
# through ZE_RESULT codes only (it prints nothing), so a violation makes the wrapped program
# fail; lines naming a validation error or an INVALID result code are caught as well.
set -u
[ $# -ge 1 ] || { echo "usage: $0 binary [args...]" >&2; exit 2; }
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
ZE_ENABLE_VALIDATION_LAYER=1 ZE_ENABLE_PARAMETER_VALIDATION=1 ZE_ENABLE_HANDLE_LIFETIME=1 \
    "$@" >"$out" 2>"$err"
rc=$?
# TAP output of the wrapped program passes through, as diagnostics.
sed 's/^/# /' "$out"
bad=$(grep -Ei 'validation.*(error|fail)|ZE_RESULT_ERROR_INVALID|INVALID_NULL' "$err" | head -20)
echo "1..3"
if [ "$rc" -eq 0 ]; then echo "ok 1 - $(basename "$1") passes under the validation layer"; else echo "not ok 1 - $(basename "$1") exited with $rc under the validation layer"; fi
if [ -z "$bad" ]; then echo "ok 2 - no validation error lines"; else echo "not ok 2 - validation error lines:"; echo "$bad" | sed 's/^/# /'; fi
if grep -q '^ok ' "$out"; then echo "ok 3 - the wrapped program ran its checks"; else echo "not ok 3 - the wrapped program printed no passing check"; fi
[ "$rc" -eq 0 ] && [ -z "$bad" ]
