#!/usr/bin/env bash
# schedules_fig.sh PROFILE OUT.png UNIT NAME EXPERIMENT...
# schedules_fig.sh PROFILE OUT.png UNIT NAME --sweep FILE.sweep
# The accuracy-schedule comparison figure (analysis/schedules.gp) from the
# database alone: for each experiment (a run of experiments/schedules*.sweep)
# the newest finished run of PROFILE gives its losses-against-time curve
# (`bfn export RUN losscurve`) and its schedule, read from the run's stored
# resolved config (`bfn query settings RUN`: bfn.schedule, bfn.beta1,
# bfn.sigma1, bfn.schedule_table); no SQL here.
# With --sweep the experiments are the [run NAME] sections of the sweep file,
# so a schedule added to the sweep appears with no other edit.
# Writes OUT.png and OUT.svg. Example:
#   analysis/schedules_fig.sh small plots/schedules_mnist.png nats/image "Binarised MNIST" \
#       sched_quadratic sched_linear sched_cosine sched_table
#
# beta(t) for panel (a): the built-in formulas of src/bfn/schedule.c with the
# run's own parameters (repeated below in awk; plotting only, training never
# reads them); a "table" schedule from its TSV knots (exact: beta is piecewise
# linear); any other registered schedule from `bfn figure schedules`, which
# evaluates it through the C code with beta1 = 9 (the normalised shape
# beta(t)/beta(1) is all the panel draws, and it does not depend on beta1 for a
# schedule of the form beta1 f(t)). So a schedule added to schedule.c appears
# without editing this script.
set -euo pipefail
[ $# -ge 5 ] || { echo "usage: schedules_fig.sh PROFILE OUT.png UNIT NAME EXPERIMENT...|--sweep FILE" >&2; exit 2; }
profile=$1 out=$2 unit=$3 name=$4
shift 4
if [ "$1" = --sweep ]; then
    [ -f "${2:-}" ] || { echo "schedules_fig: sweep file '${2:-}' not found" >&2; exit 2; }
    # [run NAME] section headers, in file order (no grid in schedule sweeps).
    mapfile -t runs < <(sed -n 's/^[[:space:]]*\[run[[:space:]]\{1,\}\([^]]*\)\][[:space:]]*$/\1/p' "$2")
    [ ${#runs[@]} -gt 0 ] || { echo "schedules_fig: no [run NAME] sections in $2" >&2; exit 2; }
    set -- "${runs[@]}"
fi
BFN=${BFN:-build/bfn}
DB=${BFN_DB:-results/bfn.db}
command -v gnuplot >/dev/null || { echo "schedules_fig: gnuplot missing; run 'make deps' (Debian package gnuplot-nox)" >&2; exit 1; }
[ -f "$DB" ] || { echo "schedules_fig: no database $DB" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Value of setting $1 in a run's stored settings (stdin: `bfn query settings RUN`, name<TAB>value).
cfg() { awk -F'\t' -v k="$1" 'NR > 1 && $1 == k { sub(/^[^\t]*\t/, ""); print; exit }'; }

# beta_curve SCHEDULE BETA1 SIGMA1 TABLE > TSV: header, then (t, beta, beta/beta(1)).
beta_curve() {
    local sched=$1 beta1=$2 sigma1=$3 table=$4
    if [ "$sched" = table ]; then
        [ -f "$table" ] || { echo "schedules_fig: schedule table $table not found (paths are relative to the repository root)" >&2; return 1; }
        awk 'BEGIN { print "t\tbeta\tbeta_norm" }
             { sub(/#.*/, "") } NF >= 2 { t[n] = $1; b[n] = $2; n++ }
             END { for (i = 0; i < n; i++) printf "%.6g\t%.9g\t%.9g\n", t[i], b[i], b[i] / b[n - 1] }' "$table"
        return
    fi
    case $sched in
    quadratic | linear | cosine | exponential) ;;
    *)  # registered in C but not known here: the shape from the C code itself
        "$BFN" figure schedules | awk -F'\t' -v s="$sched" '
            /^#/ { next }
            !h { h = 1; for (i = 1; i <= NF; i++) if ($i == s "_norm") c = i
                 if (!c) exit 1
                 print "t\tbeta\tbeta_norm"; next }
            { print $1 "\t" $(c - 2) "\t" $c }' && return
        echo "schedules_fig: schedule $sched is not in \`$BFN figure schedules\` (is it registered in src/bfn/schedule.c?)" >&2
        return 1 ;;
    esac
    awk -v s="$sched" -v b1="$beta1" -v s1="$sigma1" '
        function beta(t) {
            if (s == "quadratic") return b1 * t * t
            if (s == "linear") return b1 * t
            if (s == "cosine") return b1 * (1 - cos(3.14159265358979 * t / 2))
            return exp(-2 * t * log(s1)) - 1  # exponential
        }
        BEGIN {
            print "t\tbeta\tbeta_norm"
            for (i = 0; i <= 200; i++) { t = i / 200; printf "%.6g\t%.9g\t%.9g\n", t, beta(t), beta(t) / beta(1) }
        }'
}

losses="" betas="" titles=""
for exp in "$@"; do
    # The run @exp names everywhere (its newest finished run, by name or alias).
    run=$(BFN_DB="$DB" "$BFN" key "@$exp" --profile "$profile" 2>/dev/null)
    [ -n "$run" ] || { echo "schedules_fig: no finished run of $exp ($profile) in $DB; run 'make schedules PROFILE=$profile'" >&2; exit 1; }
    "$BFN" export "$run" losscurve > "$tmp/$exp.loss.tsv"
    [ "$(wc -l < "$tmp/$exp.loss.tsv")" -gt 1 ] || { echo "schedules_fig: run $run ($exp) has no loss curve (eval.t_bins = 0?)" >&2; exit 1; }
    BFN_DB="$DB" "$BFN" query settings "$run" > "$tmp/$exp.cfg"
    sched=$(cfg bfn.schedule < "$tmp/$exp.cfg")
    table=$(cfg bfn.schedule_table < "$tmp/$exp.cfg")
    beta_curve "$sched" "$(cfg bfn.beta1 < "$tmp/$exp.cfg")" "$(cfg bfn.sigma1 < "$tmp/$exp.cfg")" "$table" > "$tmp/$exp.beta.tsv"
    title=$sched
    [ "$sched" = table ] && title="table:$(basename "$table" .tsv)"
    losses="$losses $tmp/$exp.loss.tsv" betas="$betas $tmp/$exp.beta.tsv" titles="$titles $title"
done
mkdir -p "$(dirname "$out")"
gnuplot -e "losses='${losses# }'; betas='${betas# }'; titles='${titles# }'; out='$out'; unit='$unit'; name='$name'" analysis/schedules.gp
echo "wrote ${out%.png}.png ${out%.png}.svg"
