#!/bin/sh
# Offline kernel compile step run by meson for one .cl file.
#   ocloc.sh OCLOC SPIRV_VAL spv|aot DEVICES OPTIONS INPUT.cl OUTPUT
# spv: SPIR-V for OpenCL C 1.2 (what hostdev/PoCL runs), validated with spirv-val.
# aot: native fat binary (ar archive) for the comma-separated Intel GPU DEVICES.
# ocloc names sources "1:LINE:COL"; we rewrite that to "INPUT.cl:LINE:COL" so a
# kernel build error points at the file, and fail on register-spill warnings.
set -eu
ocloc=$1 spirv_val=$2 mode=$3 devices=$4 options=$5 input=$6 output=$7
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log="$tmp/log"

if [ "$mode" = spv ]; then
    set -- -device dg2 -spv_only
else
    set -- -device "$devices"
fi
status=0
"$ocloc" compile -file "$input" "$@" -options "-cl-std=CL1.2 $options" \
    -output_no_suffix -output out -out_dir "$tmp" >"$log" 2>&1 || status=$?
# Success prints only "Build succeeded"; show the log when it says anything more.
if [ "$status" -ne 0 ] || grep -qiv -e '^build succeeded' -e '^$' "$log"; then
    sed -e "s#^[0-9][0-9]*:\([0-9][0-9]*:[0-9][0-9]*:\)#$input:\1#" "$log" >&2
fi
if [ "$status" -ne 0 ]; then
    echo "$input: ocloc failed ($mode) with status $status" >&2
    exit 1
fi
if grep -qi 'spill' "$log"; then
    echo "$input: ocloc reports register spills ($mode); treated as an error" >&2
    exit 1
fi
if [ "$mode" = spv ]; then
    "$spirv_val" "$tmp/out.spv" || { echo "$input: spirv-val rejected the SPIR-V" >&2; exit 1; }
    cp "$tmp/out.spv" "$output"
else
    cp "$tmp/out" "$output"
fi
