# schedule_curves.gp: the analytic accuracy-schedule figure: beta(t),
# alpha(t) = beta'(t) and the shape beta(t)/beta(1) of every schedule in
# `bfn figure schedules` (columns t, then <label>_beta, <label>_alpha,
# <label>_norm per schedule; a newly registered schedule appears without
# editing this script). (analysis/schedules.gp is a different figure: trained
# runs with different schedules compared.)
# Usage: bfn figure schedules > s.tsv
#        gnuplot -e "in='s.tsv'; out='plots/analytic_schedules.png'" analysis/schedule_curves.gp
# Writes out (pngcairo PNG) and the same name with .svg (SVG, reproducible).
if (!exists("in")) in = "schedules.tsv"
if (!exists("out")) out = "analytic_schedules.png"
if (!exists("formats")) formats = "png svg"
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out

set datafile separator "\t"
set datafile columnheaders
hdr = system(sprintf("awk '!/^#/ { print; exit }' '%s'", in))
ns = (words(hdr) - 1) / 3
label(i) = (w = word(hdr, 2 + 3 * (i - 1)), w[1:strlen(w) - 5])
pos(v) = v > 0 ? v : NaN
# Colour-blind-safe palette (Okabe-Ito) with dash types, so overlapping
# normalised curves (the two quadratic ones coincide) stay distinguishable.
array pal[8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
do for [i=1:8] { set linetype i lc rgb pal[i] dt i lw 2 }

do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 1500,450 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 1500,450 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set multiplot layout 1,3 title "Accuracy schedules β(t) (bfn figure schedules)"
    set grid
    set xlabel "t"
    set xrange [0:1]
    set key top left
    unset logscale y
    set ylabel "β(t) / β(1)"
    set yrange [0:1]
    plot for [i=1:ns] in using "t":(column(label(i)."_norm")) with lines lt i title label(i)
    set autoscale y
    set logscale y
    set format y "%.0e"
    set ylabel "β(t)"
    set key bottom right
    plot for [i=1:ns] in using "t":(pos(column(label(i)."_beta"))) with lines lt i title label(i)
    set ylabel "α(t) = β'(t)"
    set key top left
    plot for [i=1:ns] in using "t":(pos(column(label(i)."_alpha"))) with lines lt i title label(i)
    unset multiplot
    unset logscale y
    set format y "%g"
    set output
}
