# entropy.gp: expected entropy E H[theta] of the discrete input distribution
# against sqrt(beta) for K = 2..30 (paper/NOTES.md §2 item 6): left a surface over
# (sqrt(beta), K), right the curves normalised by ln K with K = 2 and K = 27
# highlighted (with Monte Carlo error bars) and stars at the chosen
# sqrt(beta(1)): 3 for K = 2 (binarised MNIST), 0.75 for K = 27 (text8).
# Input: bfn figure entropy (K, sqrt_beta, beta, entropy, entropy_se, entropy_norm, ln_K; one block per K).
# Usage: gnuplot -e "in='e.tsv'; out='plots/analytic_entropy.png'" analysis/entropy.gp
if (!exists("in")) in = "entropy.tsv"
if (!exists("out")) out = "analytic_entropy.png"
if (!exists("formats")) formats = "png svg"
base = (strlen(out) > 4 && out[strlen(out)-3:] eq ".png") ? out[1:strlen(out)-4] : out

set datafile separator "\t"
set datafile columnheaders
is_star(K, s) = (K == 2 && abs(s - 3) < 1e-9) || (K == 27 && abs(s - 0.75) < 1e-9)

do for [fmt in formats] {
    if (fmt eq "svg") {
        set terminal svg size 1400,550 font "sans,10" noenhanced background "white"
    } else {
        set terminal pngcairo size 1400,550 font "sans,10" noenhanced
    }
    set output base.".".fmt
    set multiplot layout 1,2 title "Expected entropy of the discrete input distribution, E_{p_F(θ|x;β)} H[θ], against √β"
    # --- left: surface
    set title "E H[θ] (nats)"
    set xlabel "√β" offset 0,-1
    set ylabel "K" offset 0,-1
    set zlabel "E H[θ]" rotate parallel
    set xrange [0:3]
    set yrange [2:30]
    set view 62, 28
    set ticslevel 0
    set pm3d depthorder border lc rgb "#606060" lw 0.3
    set palette defined (0 "#440154", 0.25 "#3b528b", 0.5 "#21918c", 0.75 "#5ec962", 1 "#fde725")
    unset colorbox
    set key at screen 0.42, 0.88
    splot in using "sqrt_beta":"K":"entropy" with pm3d notitle, \
          in using "sqrt_beta":(column("K") == 2 ? column("K") : NaN):"entropy" with lines lw 3 lc rgb "#D55E00" title "K = 2", \
          in using "sqrt_beta":(column("K") == 27 ? column("K") : NaN):"entropy" with lines lw 3 lc rgb "#0072B2" title "K = 27", \
          in using "sqrt_beta":"K":(is_star(column("K"), column("sqrt_beta")) ? column("entropy") : NaN) with points pt 3 ps 3 lw 2 lc rgb "black" title "chosen √β(1)"
    unset pm3d
    # --- right: normalised curves
    set title "E H[θ] / ln K, all K (grey), K = 2 and 27 with ±2 s.e."
    set xlabel "√β" offset 0,0
    set ylabel "E H[θ] / ln K" offset 0,0
    set xrange [0:3]
    set yrange [0:1.02]
    set grid
    set key default
    set key top right
    plot in using "sqrt_beta":"entropy_norm" with lines lw 0.6 lc rgb "#B0B0B0" notitle, \
         in using "sqrt_beta":(column("K") == 2 ? column("entropy_norm") : NaN):(2 * column("entropy_se") / column("ln_K")) with yerrorlines lw 2 pt 7 ps 0.4 lc rgb "#D55E00" title "K = 2 (MNIST)", \
         in using "sqrt_beta":(column("K") == 27 ? column("entropy_norm") : NaN):(2 * column("entropy_se") / column("ln_K")) with yerrorlines lw 2 pt 7 ps 0.4 lc rgb "#0072B2" title "K = 27 (text8)", \
         in using "sqrt_beta":(is_star(column("K"), column("sqrt_beta")) ? column("entropy_norm") : NaN) with points pt 3 ps 3 lw 2 lc rgb "black" title "chosen √β(1): 3 (K = 2), 0.75 (K = 27)"
    unset grid
    unset multiplot
    set output
}
