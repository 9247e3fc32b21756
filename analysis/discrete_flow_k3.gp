# discrete_flow_k3.gp: sample paths of the ternary (K = 3) discrete Bayesian
# flow on the probability simplex, coloured by t (paper/NOTES.md §2 item 5).
# Input: bfn figure discrete_flow_k3 (columns path, t, theta0..2, bx, by).
# Usage: gnuplot -e "in='k3.tsv'; out='plots/analytic_discrete_flow_k3.png'" analysis/discrete_flow_k3.gp
if (!exists("in")) in = "discrete_flow_k3.tsv"
if (!exists("out")) out = "analytic_discrete_flow_k3.png"
if (!exists("formats")) formats = "png svg"
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out

set datafile separator "\t"
set datafile columnheaders
h = sqrt(3) / 2

do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 750,700 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 750,700 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set title "Ternary discrete Bayesian flow (K = 3, x = class 0, β(t) = 3t²): paths of θ on the simplex"
    unset border
    unset xtics
    unset ytics
    set size ratio -1
    set xrange [-0.1:1.1]
    set yrange [-0.1:h + 0.08]
    set object 1 polygon from 0,0 to 1,0 to 0.5,h to 0,0 fs empty border lc rgb "black" lw 1.5 back
    set label 1 "class 0 (x)" at 0,0 right offset -0.5,-1
    set label 2 "class 1" at 1,0 left offset 0.5,-1
    set label 3 "class 2" at 0.5,h center offset 0,1
    set label 4 "prior (t = 0)" at 0.5,h/3 center offset 0,1.2 front boxed
    set style textbox opaque noborder
    # viridis: every t visible against white
    set palette defined (0 "#440154", 0.25 "#3b528b", 0.5 "#21918c", 0.75 "#5ec962", 1 "#fde725")
    set cbrange [0:1]
    set cblabel "t"
    plot in using "bx":"by":"t" with lines lw 1.2 lc palette notitle, \
         "+" using (0.5):(h/3) every ::0::0 with points pt 7 ps 1 lc rgb "black" notitle
    unset object 1
    unset label
    set output
}
