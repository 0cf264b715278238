#!/bin/sh
# A kernel that fails to compile must fail the build with its .cl path and line.
#   test_compile_error.sh OCLOC_SH OCLOC SPIRV_VAL BAD.cl
set -u
ocloc_sh=$1 ocloc=$2 spirv_val=$3 bad=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "TAP version 13"
echo "1..3"
status=0
sh "$ocloc_sh" "$ocloc" "$spirv_val" spv - "" "$bad" "$tmp/out.spv" 2>"$tmp/err" || status=$?
[ "$status" -ne 0 ] && echo "ok 1 - the compile step fails (status $status)" || echo "not ok 1 - the compile step fails"
if grep -q "^$bad:4:[0-9]*: error" "$tmp/err"; then
    echo "ok 2 - the error names $bad:4"
else
    echo "not ok 2 - the error names $bad:4"; sed 's/^/# /' "$tmp/err"
fi
[ ! -e "$tmp/out.spv" ] && echo "ok 3 - no output is left behind" || echo "not ok 3 - no output is left behind"
