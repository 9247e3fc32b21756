# schedules.gp: accuracy schedules compared, one figure with four panels:
#   (a) the schedules beta(t) / beta(1) (all runs of a comparison share beta(1));
#   (b) the test-set continuous-time loss L^inf(x, t) against t;
#   (c) its running integral int_0^t L^inf dt' (the loss of the first t of the flow);
#   (d) that integral + L^r at t: the total loss if transmission stopped at t
#       (its value at t = 1 is the test NLL at n = inf).
# Inputs: losses = TSV files from `bfn export RUN losscurve` (header t linf
# linf_se linf_integral recon recon_se total); betas = TSV files of (t, beta,
# beta/beta(1)) with a header, one per run in the same order (written by
# analysis/schedules_fig.sh); titles = one word per run. Usage:
#   gnuplot -e "losses='a.tsv b.tsv'; betas='a.b b.b'; titles='a b'; out='s.png'; unit='nats/image'; name='MNIST'" analysis/schedules.gp
# Writes out (pngcairo PNG) and the same name with .svg; formats='png' for PNG only.
if (!exists("out")) out = "schedules.png"
if (!exists("unit")) unit = "nats"
if (!exists("name")) name = ""
if (!exists("titles")) titles = losses
if (!exists("formats")) formats = "png svg"
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out
set datafile separator "\t"
set datafile columnheaders
pos(v) = v > 0 ? v : NaN
array pal[8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
color(i) = pal[(i - 1) % 8 + 1]
do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 1200,900 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 1200,900 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set multiplot layout 2,2 title name." accuracy schedules at equal budget (test set, EMA weights)"
    set grid
    set xrange [0:1]
    set xlabel "t"
    set key top left

    set title "(a) schedule beta(t) / beta(1)"
    set ylabel "beta(t) / beta(1)"
    unset logscale y
    set yrange [0:1.02]
    plot for [i=1:words(betas)] word(betas, i) using "t":"beta_norm" with lines lw 2 lc rgb color(i) title word(titles, i)
    set yrange [*:*]

    set title "(b) L^inf(x, t)"
    set ylabel "L^inf (".unit.")"
    set logscale y
    set key top right
    plot for [i=1:words(losses)] word(losses, i) using "t":(pos(column("linf"))) with lines lw 2 lc rgb color(i) title word(titles, i)
    unset logscale y

    set title "(c) running integral of L^inf up to t"
    set ylabel unit
    set key top left
    plot for [i=1:words(losses)] word(losses, i) using "t":"linf_integral" with lines lw 2 lc rgb color(i) title word(titles, i)

    set title "(d) total loss if transmission stopped at t (integral + L^r at t)"
    set ylabel unit
    set key top right
    set logscale y
    plot for [i=1:words(losses)] word(losses, i) using "t":(pos(column("total"))) with lines lw 2 lc rgb color(i) title word(titles, i)
    unset logscale y
    unset multiplot
    set output
}
