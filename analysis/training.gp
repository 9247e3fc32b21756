# training.gp: training and validation loss against step for one or more runs.
# Input files: TSV from `bfn export RUN metric` (name, step, value).
# Usage: gnuplot -e "files='a.tsv b.tsv'; titles='a b'; out='t.png'" analysis/training.gp
if (!exists("out")) out = "training.png"
if (!exists("titles")) titles = files
set terminal pngcairo size 900,500 font "sans,10"
set output out
set datafile separator "\t"
set xlabel "step"
set ylabel "loss (nats/dim)"
set logscale y
set grid
set key top right
plot for [i=1:words(files)] word(files, i) using ((strcol(1) eq "train.loss") ? $2 : NaN):3 \
         every ::1 with lines lw 1.5 lc i title word(titles, i)." train", \
     for [i=1:words(files)] word(files, i) using ((strcol(1) eq "val.loss") ? $2 : NaN):3 \
         every ::1 with linespoints pt 7 ps 0.8 lw 2 lc i dt 2 title word(titles, i)." val (EMA)"
