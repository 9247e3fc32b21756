#!/usr/bin/env bash
# plot_run.sh EXPERIMENT PROFILE NAME UNIT: figures of the newest finished run
# of an experiment, from the database alone, drawn by gnuplot into plots/.
#   plots/<experiment>_<profile>_losses.png    losses against time
#   plots/<experiment>_<profile>_training.png  training/validation loss
set -euo pipefail
exp=$1 profile=$2 name=${3:-$1} unit=${4:-nats}
BFN=${BFN:-build/bfn}
DB=${BFN_DB:-results/bfn.db}
command -v gnuplot >/dev/null || { echo "plot_run: gnuplot missing; run 'make deps' (Debian package gnuplot-nox)" >&2; exit 1; }
run=$(sqlite3 "$DB" "SELECT key FROM run WHERE experiment = '$exp' AND profile = '$profile' AND status = 'finished' ORDER BY finished DESC LIMIT 1")
[ -n "$run" ] || { echo "plot_run: no finished run of $exp ($profile) in $DB" >&2; exit 1; }
mkdir -p plots
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BFN" export "$run" losscurve > "$tmp/loss.tsv"
"$BFN" export "$run" metric > "$tmp/metric.tsv"
gnuplot -e "in='$tmp/loss.tsv'; out='plots/${exp}_${profile}_losses.png'; unit='$unit'; name='$name'" analysis/losses.gp
gnuplot -e "files='$tmp/metric.tsv'; titles='$exp'; out='plots/${exp}_${profile}_training.png'" analysis/training.gp
echo "wrote plots/${exp}_${profile}_losses.png plots/${exp}_${profile}_training.png"
