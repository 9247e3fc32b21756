# training.gp: training and validation loss against step for one or more runs.
# Input files: TSV from `bfn export RUN metric` (name, step, value).
# Usage: gnuplot -e "files='a.tsv b.tsv'; titles='a b'; out='t.png'" analysis/training.gp
# Writes out (pngcairo PNG) and the same name with .svg; formats='png' for PNG only.
if (!exists("out")) out = "training.png"
if (!exists("titles")) titles = files
if (!exists("formats")) formats = "png svg"
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out
set datafile separator "\t"
set datafile columnheaders
pos(v) = v > 0 ? v : NaN
array pal[8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
color(i) = pal[(i - 1) % 8 + 1]
do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 900,500 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 900,500 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set xlabel "step"
    set ylabel "loss (nats/dim)"
    set logscale y
    set grid
    set key top right
    plot for [i=1:words(files)] word(files, i) using ((strcol("name") eq "train.loss") ? column("step") : NaN):(pos(column("value"))) \
             with lines lw 1.5 lc rgb color(i) title word(titles, i)." train", \
         for [i=1:words(files)] word(files, i) using ((strcol("name") eq "val.loss") ? column("step") : NaN):(pos(column("value"))) \
             with linespoints pt 7 ps 0.8 lw 2 lc rgb color(i) dt 2 title word(titles, i)." val (EMA)"
    set output
}
