#!/bin/sh
# zmoe run on several devices and, when mpiexec is given, on MPI ranks: --check must
# PASS against the reference MoE with no allocation after init.
# usage: run_cli.sh ZMOE EXAMPLES_DIR WORKDIR [MPIEXEC]
set -eu
zmoe=$1 examples=$2 work=$3 mpiexec=${4:-}
out=$work/run_cli.out
for cfg in llama4-scout-mini deepseek-v3-mini gpt-oss-20b-mini; do
    HOSTDEV_DEVICES=2 "$zmoe" run "$examples/$cfg.conf" --devices 2 --steps 5 --check >"$out" 2>&1 ||
        { cat "$out"; echo "FAIL: $cfg --devices 2"; exit 1; }
    grep -q "check .*PASS" "$out" && grep -q "after init: 0 allocations on 2 devices" "$out" ||
        { cat "$out"; echo "FAIL: $cfg --devices 2 output"; exit 1; }
done
if [ -n "$mpiexec" ]; then
    # the config's [parallel] ranks = 2; every rank runs the loop, rank 0 prints
    { cat "$examples/qwen2-moe-mini.conf"; printf '\n[parallel]\nranks = 2\n'; } >"$work/ranks2.conf"
    "$mpiexec" -n 2 "$zmoe" run "$work/ranks2.conf" --steps 5 --check >"$out" 2>&1 ||
        { cat "$out"; echo "FAIL: mpiexec -n 2 zmoe run"; exit 1; }
    grep -q "expert parallel: 2 MPI ranks" "$out" && grep -q "check .*PASS" "$out" ||
        { cat "$out"; echo "FAIL: mpiexec output"; exit 1; }
fi
echo "ok: zmoe run --devices 2 and under mpiexec"
