# cts_flow.gp: the continuous-data Bayesian flow for one data value: the
# density of the input mean mu over (t, mu) as a heat map, with sample paths
# from sequential Bayesian updates drawn over it (paper/NOTES.md §2 item 2).
# Usage: bfn figure cts_flow > d.tsv; bfn figure cts_flow_paths > p.tsv
#        gnuplot -e "in='d.tsv'; paths='p.tsv'; out='plots/analytic_cts_flow.png'" analysis/cts_flow.gp
# paths is optional. The colour scale is capped at cbmax (the density near
# t = 1 has sd sigma1 = 0.02, so its peak ~20 would hide the rest).
if (!exists("in")) in = "cts_flow.tsv"
if (!exists("paths")) paths = ""
if (!exists("out")) out = "analytic_cts_flow.png"
if (!exists("formats")) formats = "png svg"
if (!exists("cbmax")) cbmax = 4
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out

set datafile separator "\t"
set datafile columnheaders
cap(v) = v < cbmax ? v : cbmax

do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 900,550 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 900,550 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set title "Continuous-data Bayesian flow: p_F(μ | x = 0.8; t), σ1 = 0.02, with sample paths"
    set xlabel "t"
    set ylabel "μ"
    set xrange [0:1]
    set yrange [-2:2]
    set cbrange [0:cbmax]
    set cblabel sprintf("density (capped at %g)", cbmax)
    set palette cubehelix start 0.5 cycles -1.5 saturation 1 negative
    set key bottom right opaque
    if (paths eq "") {
        plot in using "t":"mu":(cap(column("density"))) with image notitle
    } else {
        plot in using "t":"mu":(cap(column("density"))) with image notitle, \
             paths using "t":"mu" with lines lw 1 lc rgb "#D55E00" title "sample paths (sequential updates)"
    }
    set output
}
