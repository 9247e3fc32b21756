#!/usr/bin/env bash
# plot.sh RUN: look at one run's loss curves (RUN = run key, prefix or @experiment).
# With a display and a gnuplot that has a window terminal (qt, wxt or x11), the
# training curve and the losses against time open in windows; otherwise they are
# drawn in the terminal (gnuplot's dumb terminal) and written as PNG to plots/.
set -euo pipefail
run=${1:?usage: bash analysis/plot.sh RUN}
BFN=${BFN:-build/bfn}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v gnuplot >/dev/null ||
    { echo "plot: gnuplot is missing; install the Debian package gnuplot-nox (or make deps)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BFN" export "$run" metric > "$tmp/metric.tsv"
"$BFN" export "$run" losscurve > "$tmp/loss.tsv"
term=""
if [ -n "${DISPLAY:-}" ]; then
    for t in qt wxt x11; do
        if gnuplot -e "set terminal" 2>&1 | grep -qw "$t"; then term=$t; break; fi
    done
fi
if [ -n "$term" ]; then
    gnuplot -persist -e "set terminal $term; set datafile separator '\t'; set datafile columnheaders; set logscale y; set xlabel 'step';
        plot '$tmp/metric.tsv' using ((strcol('name') eq 'train.loss') ? column('step') : NaN):'value' with lines title 'train',
             '' using ((strcol('name') eq 'val.loss') ? column('step') : NaN):'value' with linespoints title 'val (EMA)'"
    [ "$(wc -l < "$tmp/loss.tsv")" -gt 1 ] && gnuplot -persist -e "set terminal $term; set datafile separator '\t';
        set key autotitle columnhead; set xlabel 't';
        plot '$tmp/loss.tsv' using 't':'linf' with lines, '' using 't':'linf_integral' with lines, '' using 't':'recon' with lines,
             '' using 't':'total' with lines"
    exit 0
fi
# No display: draw in the terminal, and write PNGs.
gnuplot -e "set terminal dumb size 100,25; set datafile separator '\t'; set datafile columnheaders; set logscale y;
    set xlabel 'step'; set title 'training (train) and validation (val, EMA) loss, nats/dim';
    plot '$tmp/metric.tsv' using ((strcol('name') eq 'train.loss') ? column('step') : NaN):'value' with lines title 'train',
         '' using ((strcol('name') eq 'val.loss') ? column('step') : NaN):'value' with points title 'val'"
mkdir -p plots
name=$(printf '%s' "$run" | tr -c 'A-Za-z0-9_.-' '_')
gnuplot -e "files='$tmp/metric.tsv'; titles='$name'; out='plots/${name}_training.png'; formats='png'" "$here/training.gp"
if [ "$(wc -l < "$tmp/loss.tsv")" -gt 1 ]; then
    gnuplot -e "in='$tmp/loss.tsv'; out='plots/${name}_losses.png'; name='$name'; formats='png'" "$here/losses.gp"
    echo "plot: wrote plots/${name}_training.png plots/${name}_losses.png"
else
    echo "plot: wrote plots/${name}_training.png (no loss-against-time curve yet: run bfn eval)"
fi
