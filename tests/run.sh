#!/usr/bin/env bash
# Run every test binary given as an argument, echo its output, and add up
# cmocka's per-group results into one closing line: "N passed, N failed".
# BFN_AVX2_TESTS names binaries to run once more with OpenBLAS's Haswell
# (AVX2) kernels forced via OPENBLAS_CORETYPE (see the Makefile's test target).
set -u
passed=0; failed=0; crashed=0
runs=("$@")
for t in ${BFN_AVX2_TESTS:-}; do runs+=("avx2:$t"); done
for t in "${runs[@]}"; do
    echo "=== $t"
    if [ "${t#avx2:}" != "$t" ]; then
        out=$(OPENBLAS_CORETYPE=Haswell "${t#avx2:}" 2>&1); rc=$?
    else
        out=$("$t" 2>&1); rc=$?
    fi
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ] && [ -z "$f" ]; then
        echo "!!! $t exited with status $rc without a cmocka summary"; crashed=$((crashed + 1))
    fi
done
failed=$((failed + crashed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
