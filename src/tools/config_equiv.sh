#!/usr/bin/env bash
# config_equiv.sh OUT_DIR: write the stored config text, run keys and JSON of
# every experiments/*.ini x each of its profiles (and a few overrides that
# exercise the run-key rules: another network, the n-step loss, a changed
# default-only key) to OUT_DIR, one file per case. Run it before and after a
# change to the configuration code and `diff -r` the two folders: run keys and
# stored config text must not change for existing experiments.
set -euo pipefail
out=${1:?usage: config_equiv.sh OUT_DIR}
dump=${CONFIG_DUMP:-build/config_dump}
mkdir -p "$out"
overrides=(
    ""
    "model.arch=mlp"
    "model.arch=transformer"
    "model.arch=unet model.channels=16"
    "train.loss=nstep"
    "train.ema_warmup=1"
    "train.log_every=7 eval.repeats=3 sample.count=5"
    "model.hidden=64 model.skip=0 model.time_embed=vdm"
)
for ini in experiments/*.ini; do
    name=$(basename "$ini" .ini)
    for prof in $(sed -n 's/^\[profile[[:space:]]\+\([^]]*\)\].*/\1/p' "$ini"); do
        i=0
        for ov in "${overrides[@]}"; do
            # shellcheck disable=SC2086
            "$dump" "$ini" "$prof" $ov > "$out/$name.$prof.$i.txt" 2>&1 || true
            i=$((i + 1))
        done
    done
done
ls "$out" | wc -l
