#!/usr/bin/env bash
# figures.sh [analytic|all]: every figure, from the binary and the database
# alone, drawn by gnuplot into plots/ (PNG via pngcairo, plus SVG beside it;
# SVG rather than PDF because pdfcairo stamps a creation date, and reruns must
# give byte-identical files).
#
#   analytic  plots/analytic_<figure>.png for every `bfn figure` (schedules,
#             input variance, continuous and discrete flows, entropy)
#   all       the above, plus for every finished, evaluated run in the
#             database ($BFN_DB, default results/bfn.db):
#               plots/<experiment>_<profile>_<run>_losses.png    losses against time
#               plots/<experiment>_<profile>_<run>_training.png  training/validation loss
#               plots/<experiment>_<profile>_<run>_nll.png       test NLL against n, paper overlaid
#             and per paper table (paper/reference/tableN.tsv) with runs:
#               plots/tableN_nll.png   NLL against n of the table's runs with the paper's values
#
# Environment: BFN (default build/bfn), BFN_DB, PLOTS (default plots), PAPER
# (default paper/: reference/ holds the table specs, tables/ the generated tables).
set -euo pipefail
what=${1:-analytic}
BFN=${BFN:-build/bfn}
DB=${BFN_DB:-results/bfn.db}
PLOTS=${PLOTS:-plots}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PAPER=${PAPER:-$(cd "$here/.." && pwd)/paper}
PROFILE=${PROFILE:-small}   # the profile whose tables get their NLL-vs-n figures

die() { echo "figures: $*" >&2; exit 1; }
case "$what" in analytic|all) ;; *) die "usage: bash analysis/figures.sh [analytic|all]" ;; esac
command -v gnuplot >/dev/null ||
    die "gnuplot is missing; install the Debian package gnuplot-nox (apt-get install gnuplot-nox, or make deps)"
[ -x "$BFN" ] || die "$BFN not found; build it with 'make build/bfn'"

mkdir -p "$PLOTS"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# gp SCRIPT ASSIGNMENTS: run one gnuplot script; its errors stop this script.
gp() { gnuplot -e "$2" "$here/$1" || die "gnuplot $1 failed"; }

# Single-quote a value for a gnuplot -e string.
q() { printf "'%s'" "${1//\'/\'\'}"; }

# ---- analytic figures -------------------------------------------------------------
analytic() {
    for f in $("$BFN" figure list); do
        "$BFN" figure "$f" > "$tmp/$f.tsv" || die "bfn figure $f failed"
    done
    gp schedule_curves.gp "in=$(q "$tmp/schedules.tsv"); out=$(q "$PLOTS/analytic_schedules.png")"
    gp input_variance.gp "in=$(q "$tmp/input_variance.tsv"); out=$(q "$PLOTS/analytic_input_variance.png")"
    gp cts_flow.gp "in=$(q "$tmp/cts_flow.tsv"); paths=$(q "$tmp/cts_flow_paths.tsv");
                    out=$(q "$PLOTS/analytic_cts_flow.png")"
    gp discrete_flow_k2.gp "in=$(q "$tmp/discrete_flow_k2.tsv"); paths=$(q "$tmp/discrete_flow_k2_paths.tsv");
                            out=$(q "$PLOTS/analytic_discrete_flow_k2.png")"
    gp discrete_flow_k3.gp "in=$(q "$tmp/discrete_flow_k3.tsv"); out=$(q "$PLOTS/analytic_discrete_flow_k3.png")"
    gp entropy.gp "in=$(q "$tmp/entropy.tsv"); out=$(q "$PLOTS/analytic_entropy.png")"
    echo "figures: wrote $PLOTS/analytic_*.png (+ .svg)"
}

# ---- per-run figures ----------------------------------------------------------------
safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '_'; } # file-name-safe

# The evaluated runs (`bfn query evaluated`, read once by runs()): run key ->
# status, and the unit of its newest test evaluation (nats/image, bits/dim, ...).
declare -A run_status=() run_unit=()
unit_of() { printf '%s' "${run_unit[$1]:-}"; }

# The paper table spec (paper/reference/*.tsv) with a column for experiment $1, if any.
spec_of() {
    local s
    for s in "$PAPER"/reference/table*.tsv; do
        [ -e "$s" ] || continue
        if awk -F'\t' -v e="$1" '$1 == "#!" && $2 == "column" && $3 == e { f = 1 } END { exit !f }' "$s"; then
            echo "$s"; return
        fi
    done
}

one_run() {
    local key=$1 exp=$2 profile=$3 unit stem spec
    unit=$(unit_of "$key")
    stem="$PLOTS/$(safe "$exp")_$(safe "$profile")_${key}"
    "$BFN" export "$key" losscurve > "$tmp/$key.loss.tsv"
    "$BFN" export "$key" metric > "$tmp/$key.metric.tsv"
    "$BFN" export "$key" eval > "$tmp/$key.eval.tsv"
    if [ "$(wc -l < "$tmp/$key.loss.tsv")" -gt 1 ]; then
        gp losses.gp "in=$(q "$tmp/$key.loss.tsv"); out=$(q "${stem}_losses.png"); unit=$(q "$unit");
                      name=$(q "$exp ($profile, run $key)")"
    fi
    if [ "$(wc -l < "$tmp/$key.metric.tsv")" -gt 1 ]; then
        gp training.gp "files=$(q "$tmp/$key.metric.tsv"); titles=$(q "$(safe "$exp")"); out=$(q "${stem}_training.png")"
    fi
    spec=$(spec_of "$exp")
    local extra=""
    if [ -n "$spec" ]; then extra="; paper=$(q "$spec"); cols=$(q "$exp")"; fi
    gp nll_vs_n.gp "files=$(q "$tmp/$key.eval.tsv"); titles=$(q "ours"); out=$(q "${stem}_nll.png");
                    unit=$(q "$unit");
                    name=$(q "$exp ($profile, run $key): test NLL against n (± s.e.)")$extra"
}

# The run a table file used for experiment $2 (parsed from paper/tables/tableN.md,
# "experiment `E`, ... run `KEY`"), else the newest finished run (bfn key), once evaluated.
table_run() {
    local md=$1 exp=$2 key=""
    if [ -f "$md" ]; then
        key=$(sed -n "s/.*experiment \`$exp\`.* run \`\([0-9a-f]*\)\`.*/\1/p" "$md" | sed -n 1p)
        # only if that run is in this database and evaluated
        if [ -n "$key" ] && [ -z "${run_status[$key]:-}" ]; then key=""; fi
    fi
    if [ -z "$key" ]; then
        # The run @exp names everywhere (bfn key), if it has been evaluated.
        key=$(BFN_DB="$DB" "$BFN" key "@$exp" --profile "$PROFILE" 2>/dev/null)
        if [ -n "$key" ] && [ -z "${run_status[$key]:-}" ]; then key=""; fi
    fi
    printf '%s' "$key"
}

one_table() {
    local spec=$1 name md files="" titles="" cols="" unit="" exp key title
    name=$(basename "$spec" .tsv)
    md="$PAPER/tables/$PROFILE/$name.md"
    for exp in $(awk -F'\t' '$1 == "#!" && $2 == "column" { print $3 }' "$spec"); do
        key=$(table_run "$md" "$exp")
        [ -n "$key" ] || continue
        "$BFN" export "$key" eval > "$tmp/$name.$exp.eval.tsv"
        files="$files $tmp/$name.$exp.eval.tsv"; titles="$titles $exp"; cols="$cols $exp"
        [ -n "$unit" ] || unit=$(unit_of "$key")
    done
    [ -n "$files" ] || return 0
    title=$(awk -F'\t' '$1 == "#!" && $2 == "title" { print $3; exit }' "$spec")
    gp nll_vs_n.gp "files=$(q "${files# }"); titles=$(q "${titles# }"); cols=$(q "${cols# }");
                    paper=$(q "$spec"); unit=$(q "$unit"); name=$(q "${title:-$name} ($PROFILE)");
                    out=$(q "$PLOTS/${name}_${PROFILE}_nll.png")"
    echo "figures: wrote $PLOTS/${name}_${PROFILE}_nll.png"
}

runs() {
    if [ ! -f "$DB" ]; then echo "figures: no database at $DB; no run figures"; return; fi
    local n=0 key exp profile status unit evaluated
    # Columns by name: key, experiment, profile, status, unit (ordered by experiment, profile, key).
    evaluated=$("$BFN" query evaluated | awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { print $c["key"] "\t" $c["experiment"] "\t" $c["profile"] "\t" $c["status"] "\t" $c["unit"] }') ||
        die "bfn query evaluated failed"
    while IFS=$'\t' read -r key exp profile status unit; do
        [ -n "$key" ] || continue
        run_status[$key]=$status run_unit[$key]=$unit
    done <<< "$evaluated"
    while IFS=$'\t' read -r key exp profile status unit; do
        [ -n "$key" ] && [ "$status" = finished ] || continue
        one_run "$key" "$exp" "$profile"
        n=$((n + 1))
    done <<< "$evaluated"
    echo "figures: wrote the figures of $n run(s) into $PLOTS/"
    for spec in "$PAPER"/reference/table*.tsv; do
        [ -e "$spec" ] && one_table "$spec"
    done
    return 0
}

export BFN_DB="$DB"
analytic
[ "$what" = all ] && runs
exit 0
