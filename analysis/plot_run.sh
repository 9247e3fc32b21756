#!/usr/bin/env bash
# plot_run.sh EXPERIMENT PROFILE NAME UNIT: figures of the newest finished run
# of an experiment, from the database alone, drawn by gnuplot into plots/.
#   plots/<experiment>_<profile>_losses.png    losses against time
#   plots/<experiment>_<profile>_training.png  training/validation loss
set -euo pipefail
exp=$1 profile=$2 name=${3:-$1} unit=${4:-nats}
BFN=${BFN:-build/bfn}
command -v gnuplot >/dev/null || { echo "plot_run: gnuplot missing; run 'make deps' (Debian package gnuplot-nox)" >&2; exit 1; }
mkdir -p plots
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BFN" export "@$exp" losscurve --profile "$profile" > "$tmp/loss.tsv"
"$BFN" export "@$exp" metric --profile "$profile" > "$tmp/metric.tsv"
gnuplot -e "in='$tmp/loss.tsv'; out='plots/${exp}_${profile}_losses.png'; unit='$unit'; name='$name'" analysis/losses.gp
gnuplot -e "files='$tmp/metric.tsv'; titles='$exp'; out='plots/${exp}_${profile}_training.png'" analysis/training.gp
echo "wrote plots/${exp}_${profile}_losses.png plots/${exp}_${profile}_training.png"
