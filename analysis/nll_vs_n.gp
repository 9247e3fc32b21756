# nll_vs_n.gp: test NLL against the number of steps n for one or more runs,
# with standard-error bars, n on a log axis and n = ∞ (the continuous-time
# loss) drawn as a separate point right of a dashed separator; optionally the
# paper's values from paper/reference/tableN.tsv overlaid (filled diamonds:
# confirmed, open diamonds: unconfirmed).
# Inputs: TSV from `bfn export RUN eval` (ckpt_step, split, n, repeats, loss,
# loss_se, recon, recon_se, total, total_se, unit, ...; n = ∞ written inf). Only the
# test split of each file's newest checkpoint is drawn.
# Usage:
#   gnuplot -e "files='a.tsv b.tsv'; titles='ours-a ours-b'; out='nll.png'; unit='bits/dim'; \
#               paper='paper/reference/table3.tsv'; cols='cifar_cts256 cifar_disc256'" analysis/nll_vs_n.gp
# titles and cols are space-separated word lists (one word per file; cols
# names the paper column of each file, "-" for none). Writes out and .svg.
if (!exists("files")) files = "eval.tsv"
if (!exists("titles")) titles = files
if (!exists("cols")) cols = ""
if (!exists("paper")) paper = ""
if (!exists("unit")) unit = "NLL"
if (!exists("name")) name = ""   # plot title (default: "test NLL against the number of steps n")
if (!exists("out")) out = "nll_vs_n.png"
if (!exists("formats")) formats = "png svg"
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out

set datafile separator "\t"
set datafile columnheaders
nf = words(files)
array step[nf]
nmax = 1
do for [i=1:nf] {
    stats word(files, i) using "ckpt_step" nooutput
    step[i] = STATS_max
    stats word(files, i) using (strcol("n") eq "inf" ? NaN : column("n")) nooutput
    nmax = STATS_max > nmax ? STATS_max : nmax
}
if (paper ne "") {
    stats paper using (strcol("n") eq "inf" ? NaN : column("n")) nooutput
    nmax = STATS_max > nmax ? STATS_max : nmax
}
# n = ∞ sits half a decade right of the next power of ten above the largest n.
xinf = 10 ** (ceil(log10(nmax)) + 0.5)
xsep = 10 ** (ceil(log10(nmax)) + 0.2)
xpos(n) = n == 0 ? xinf : n
col_of(i) = (words(cols) >= i) ? word(cols, i) : "-"
# Plot helpers: test rows of the newest checkpoint, finite n or n = ∞ only.
fin(i, v) = (column("ckpt_step") == step[i] && strcol("split") eq "test" && strcol("n") ne "inf") ? v : NaN
inf(i, v) = (column("ckpt_step") == step[i] && strcol("split") eq "test" && strcol("n") eq "inf") ? v : NaN
pap(i, conf) = (strcol("column") eq col_of(i) && (strcol("status") eq "confirmed") == conf) ? column("paper") : NaN
# any paper value of file i's column (confirmed or not), for the connecting line
pap2(i) = strcol("column") eq col_of(i) ? column("paper") : NaN
pxpos(s) = s eq "inf" ? xinf : real(s)
array pal[8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
color(i) = pal[(i - 1) % 8 + 1]

do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 1050,550 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 1050,550 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set title (name eq "" ? "test NLL against the number of steps n (± s.e.)" : name)
    set logscale x
    set xrange [(nmax > 10 ? 5 : 0.5):xinf * 2]
    set xtics ()
    set xtics add ("1" 1, "10" 10, "100" 100, "1000" 1000, "10000" 10000, "∞" xinf)
    set xlabel "n (number of steps; ∞ = continuous-time loss)"
    set ylabel unit
    set grid
    if (nf > 1 || (paper ne "" && cols ne "")) { set key outside right top } else { set key top right }
    set arrow 1 from xsep, graph 0 to xsep, graph 1 nohead dt 2 lc rgb "#808080"
    if (paper eq "" || cols eq "") {
        plot for [i=1:nf] word(files, i) using "n":(fin(i, column("total"))):(fin(i, column("total_se"))) with yerrorlines lw 2 pt 7 ps 0.8 \
                 lc rgb color(i) title word(titles, i), \
             for [i=1:nf] word(files, i) using (xinf):(inf(i, column("total"))):(inf(i, column("total_se"))) with yerrorbars pt 7 ps 1.2 \
                 lc rgb color(i) notitle
    } else {
        plot for [i=1:nf] word(files, i) using "n":(fin(i, column("total"))):(fin(i, column("total_se"))) with yerrorlines lw 2 pt 7 ps 0.8 \
                 lc rgb color(i) title word(titles, i), \
             for [i=1:nf] word(files, i) using (xinf):(inf(i, column("total"))):(inf(i, column("total_se"))) with yerrorbars pt 7 ps 1.2 \
                 lc rgb color(i) notitle, \
             for [i=1:nf] paper using (pxpos(strcol("n"))):(strcol("n") eq "inf" ? NaN : pap2(i)) \
                 with lines dt 3 lw 1.5 lc rgb color(i) title (col_of(i) eq "-" ? "" : "paper: ".col_of(i)), \
             for [i=1:nf] paper using (pxpos(strcol("n"))):(pap(i, 1)) with points pt 13 ps 1.6 lc rgb color(i) notitle, \
             for [i=1:nf] paper using (pxpos(strcol("n"))):(pap(i, 0)) with points pt 12 ps 1.6 lc rgb color(i) notitle, \
             keyentry with points pt 13 ps 1.6 lc rgb "#404040" title "paper value, confirmed", \
             keyentry with points pt 12 ps 1.6 lc rgb "#404040" title "paper value, unconfirmed"
    }
    unset arrow 1
    set output
}
