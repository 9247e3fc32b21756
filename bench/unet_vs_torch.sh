#!/usr/bin/env bash
# unet_vs_torch.sh: the small MNIST U-Net training step (B = 64), C
# (build/bench --unet) against the PyTorch reference (bench/unet_torch.py,
# same network shape, batch and thread count), interleaved in one invocation
# so both see the same machine load: REPS rounds of {C, torch} at 1 and 2
# threads, SECONDS each; prints every measurement, the medians and the median
# of the per-round ratios (each round's C and PyTorch runs are back to back,
# so their ratio is the least sensitive to the load changing between rounds).
# Usage: [BATCH=64] bench/unet_vs_torch.sh [REPS] [SECONDS]   (make bench-torch;
# BATCH=32 is the `small` profile's batch)
set -euo pipefail
REPS=${1:-3}
SECS=${2:-10}
BATCH=${BATCH:-64}
BENCH=${BENCH:-build/bench}
# Both sides wait passively at OpenMP barriers (bfn and build/bench do so by
# default; PyTorch's libgomp reads the same variable).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
PY=${PYTHON:-/usr/bin/python3}
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
declare -A runs
for r in $(seq "$REPS"); do
    for t in 1 2; do
        c=$(OMP_NUM_THREADS=$t "$BENCH" --unet "$t" "$SECS" 32 "$BATCH" 2>/dev/null)
        p=$(OMP_NUM_THREADS=$t "$PY" "$(dirname "$0")/unet_torch.py" "$t" "$SECS" "$BATCH")
        echo "round $r, $t thread(s): C $c steps/s, PyTorch $p steps/s"
        runs[c$t]+="$c "
        runs[p$t]+="$p "
        runs[r$t]+="$(awk -v a="$c" -v b="$p" 'BEGIN {printf "%.4f", a / b}') "
    done
done
for t in 1 2; do
    c=$(echo "${runs[c$t]}" | tr ' ' '\n' | grep . | median)
    p=$(echo "${runs[p$t]}" | tr ' ' '\n' | grep . | median)
    q=$(echo "${runs[r$t]}" | tr ' ' '\n' | grep . | median)
    echo "B=$BATCH, $t thread(s), load $(cut -d' ' -f1-3 /proc/loadavg): median C $c steps/s, PyTorch $p steps/s; median per-round C/PyTorch = $q"
done
