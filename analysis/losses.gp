# losses.gp: the paper's "losses against time" figure for one run.
# Input: TSV from `bfn export RUN losscurve` (header: t linf linf_se
# linf_integral recon recon_se total). Usage:
#   gnuplot -e "in='x.tsv'; out='x.png'; unit='nats/image'; name='MNIST'" analysis/losses.gp
if (!exists("in")) in = "/dev/stdin"
if (!exists("out")) out = "losses.png"
if (!exists("unit")) unit = "nats"
if (!exists("name")) name = ""
set terminal pngcairo size 1200,450 font "sans,10"
set output out
set datafile separator "\t"
set key autotitle columnhead
set multiplot layout 1,2 title name." losses against time (test set, EMA weights)"
set xlabel "t"
set ylabel "L^∞(t) (".unit.")"
set xrange [0:1]
set logscale y
set grid
plot in using 1:2:3 with yerrorlines lw 2 lc rgb "#1f77b4" title "L^∞(x, t)"
unset logscale y
set ylabel unit
plot in using 1:4 with lines lw 2 lc rgb "#1f77b4" title "∫_0^t L^∞ dt'", \
     in using 1:5 with lines lw 2 lc rgb "#d62728" title "L^r(x) at t", \
     in using 1:7 with lines lw 2 lc rgb "#2ca02c" title "sum"
unset multiplot
