# discrete_flow_k2.gp: the binary (K = 2) discrete Bayesian flow: the density
# of theta_1 = P(class 1) over t for data of class 1, beta(t) = 9 t^2, as a
# histogram of flow samples (left, with sample paths) and the exact density
# (right), paper/NOTES.md §2 item 5.
# Usage: bfn figure discrete_flow_k2 > d.tsv; bfn figure discrete_flow_k2_paths > p.tsv
#        gnuplot -e "in='d.tsv'; paths='p.tsv'; out='plots/analytic_discrete_flow_k2.png'" analysis/discrete_flow_k2.gp
if (!exists("in")) in = "discrete_flow_k2.tsv"
if (!exists("paths")) paths = ""
if (!exists("out")) out = "analytic_discrete_flow_k2.png"
if (!exists("formats")) formats = "png svg"
if (!exists("cbmax")) cbmax = 10
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out

set datafile separator "\t"
set datafile columnheaders
cap(v) = v < cbmax ? v : cbmax

do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 1300,500 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 1300,500 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set multiplot layout 1,2 title "Binary discrete Bayesian flow (K = 2, x = class 1, β(t) = 9t²): density of θ1 over t"
    set xlabel "t"
    set ylabel "θ1 = P(class 1)"
    set xrange [0:1]
    set yrange [0:1]
    set cbrange [0:cbmax]
    set cblabel sprintf("density (capped at %g)", cbmax)
    set palette cubehelix start 0.5 cycles -1.5 saturation 1 negative
    set key bottom right opaque
    set title "flow samples (histogram) and sample paths"
    if (paths eq "") {
        plot in using "t":"theta1":(cap(column("density_mc"))) with image notitle
    } else {
        plot in using "t":"theta1":(cap(column("density_mc"))) with image notitle, \
             paths using "t":"theta1" with lines lw 1 lc rgb "#D55E00" title "sample paths (sequential updates)"
    }
    set title "exact: θ1 = sigmoid(d), d ~ N(2β, 4β)"
    plot in using "t":"theta1":(cap(column("density_exact"))) with image notitle
    unset multiplot
    set output
}
