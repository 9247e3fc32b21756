# losses.gp: the paper's "losses against time" figure for one run.
# Input: TSV from `bfn export RUN losscurve` (header: t linf linf_se
# linf_integral recon recon_se total). Usage:
#   gnuplot -e "in='x.tsv'; out='x.png'; unit='nats/image'; name='MNIST'" analysis/losses.gp
# Writes out (pngcairo PNG) and the same name with .svg (SVG: reproducible,
# unlike PDF, which carries a creation date). formats='png' for PNG only.
if (!exists("in")) in = "/dev/stdin"
if (!exists("out")) out = "losses.png"
if (!exists("unit")) unit = "nats"
if (!exists("name")) name = ""
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
    set multiplot layout 1,2 title name." losses against time (test set, EMA weights)"
    set xlabel "t"
    set ylabel "L∞(t) (".unit.")"
    set xrange [0:1]
    set logscale y
    set grid
    set key top left
    plot in using "t":(pos(column("linf"))):"linf_se" with yerrorlines lw 2 lc rgb "#0072B2" title "L∞(x, t) ± s.e."
    unset logscale y
    set ylabel unit
    plot in using "t":"linf_integral" with lines lw 2 lc rgb "#0072B2" title "∫₀ᵗ L∞ dt′", \
         in using "t":"recon":"recon_se" with yerrorlines lw 2 pt 7 ps 0.5 lc rgb "#D55E00" title "Lʳ(x) at t", \
         in using "t":"total" with lines lw 2 lc rgb "#009E73" title "sum (total loss if stopped at t)"
    unset multiplot
    set output
}
