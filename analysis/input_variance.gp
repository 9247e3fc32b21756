# input_variance.gp: variance of the network input against t for the
# continuous-data BFN (sigma1 = 0.001, gamma(1-gamma)) and the equivalent input
# variance abar(1-abar) of the linear and cosine VP-diffusion schedules (the
# mapping is stated in the TSV's comments and analysis/figures.c), plus the
# signal-to-noise ratio of the input on a log scale.
# Usage: bfn figure input_variance > v.tsv
#        gnuplot -e "in='v.tsv'; out='plots/analytic_input_variance.png'" analysis/input_variance.gp
if (!exists("in")) in = "input_variance.tsv"
if (!exists("out")) out = "analytic_input_variance.png"
if (!exists("formats")) formats = "png svg"
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out

set datafile separator "\t"
set datafile columnheaders
pos(v) = v > 0 ? v : NaN

do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 1200,450 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 1200,450 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set multiplot layout 1,2 title "Input variance: BFN (σ1 = 0.001) against VP diffusion (diffusion time s = 1 − t)"
    set grid
    set xlabel "t"
    set xrange [0:1]
    set key top right
    unset logscale y
    set yrange [0:0.3]
    set ylabel "variance of the input"
    plot in using "t":"bfn_var" with lines lw 2.5 lc rgb "#0072B2" title "BFN γ(1−γ)", \
         in using "t":"linear_var" with lines lw 2 lc rgb "#D55E00" title "linear diffusion ᾱ(1−ᾱ)", \
         in using "t":"cosine_var" with lines lw 2 lc rgb "#009E73" title "cosine diffusion ᾱ(1−ᾱ)", \
         in using "t":"linear_var_raw" with lines lw 1 dt 2 lc rgb "#D55E00" title "linear, raw 1−ᾱ", \
         in using "t":"cosine_var_raw" with lines lw 1 dt 2 lc rgb "#009E73" title "cosine, raw 1−ᾱ"
    set yrange [1e-5:1e7]
    set logscale y
    set format y "%.0e"
    set ylabel "signal-to-noise ratio of the input"
    set key top left
    plot in using "t":(pos(column("bfn_snr"))) with lines lw 2.5 lc rgb "#0072B2" title "BFN β(t)", \
         in using "t":(pos(column("linear_snr"))) with lines lw 2 lc rgb "#D55E00" title "linear ᾱ/(1−ᾱ)", \
         in using "t":(pos(column("cosine_snr"))) with lines lw 2 lc rgb "#009E73" title "cosine ᾱ/(1−ᾱ)"
    unset multiplot
    unset logscale y
    set format y "%g"
    set autoscale y
    set output
}
