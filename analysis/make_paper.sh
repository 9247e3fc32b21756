#!/usr/bin/env bash
# make_paper.sh [--tables] [--figures]: write paper/REPORT.md, the reproduction
# report, from the results database and the generated table files alone.
#
#   --tables   first rebuild paper/tables/tableN.md (+ .tex) with `bfn table` for
#              every spec in paper/reference/ whose experiments all have a
#              finished, evaluated run ($PROFILE, if set, selects the profile)
#   --figures  first draw every figure (bash analysis/figures.sh all)
#
# Per paper table (table2 = mnist, table3 = cifar_*, any other spec found) the
# report says what was run (experiment, profile, dataset from the run's
# config, run key, steps trained, status, NLL at n = ∞), includes the table
# with its "claims" section, links the figures in plots/, and gives each run's
# provenance (git commit, library versions, host, threads, seed) from the run
# table. Experiments that belong to no table get the same under "Other
# experiments". No timestamps: the same database, tables and plots give a
# byte-identical report.
#
# Environment: BFN (default build/bfn), BFN_DB (default results/bfn.db), PLOTS
# (default plots), PAPER (default paper), PROFILE.
set -euo pipefail
export LC_ALL=C
BFN=${BFN:-build/bfn}
DB=${BFN_DB:-results/bfn.db}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PAPER=${PAPER:-$(cd "$here/.." && pwd)/paper}
PLOTS=${PLOTS:-$(cd "$here/.." && pwd)/plots}
OUT="$PAPER/REPORT.md"
die() { echo "make_paper: $*" >&2; exit 1; }

do_tables=0 do_figures=0
for a in "$@"; do
    case "$a" in
        --tables) do_tables=1 ;;
        --figures) do_figures=1 ;;
        *) die "usage: bash analysis/make_paper.sh [--tables] [--figures]" ;;
    esac
done
command -v sqlite3 >/dev/null || die "sqlite3 is missing; install the Debian package sqlite3"
[ -f "$DB" ] || die "no database at $DB; run an experiment first (e.g. make table2)"

sql() { sqlite3 -batch -noheader -separator $'\t' "$DB" "$1"; }
sqlq() { printf "'%s'" "${1//\'/\'\'}"; }
md_cell() { printf '%s' "$1" | sed 's/|/\\|/g'; }   # escape | inside a Markdown table cell

# Experiment names a spec uses, in order, each once: "#! column EXP LABEL" (tables
# against n) and "#! ours VALUE EXP LABEL" (comparison tables).
spec_columns() {
    awk -F'\t' '$1 == "#!" && $2 == "column" { e = $3 } $1 == "#!" && $2 == "ours" { e = $4 }
                e != "" && !seen[e]++ { print e } { e = "" }' "$1"
}
spec_field() { awk -F'\t' -v k="$2" '$1 == "#!" && $2 == k { print $3; exit }' "$1"; }

# ---- optional: tables and figures first ----------------------------------------------
if [ "$do_tables" = 1 ]; then
    [ -x "$BFN" ] || die "$BFN not found; build it with 'make build/bfn'"
    mkdir -p "$PAPER/tables"
    for spec in "$PAPER"/reference/table*.tsv; do
        [ -e "$spec" ] || continue
        name=$(basename "$spec" .tsv)
        # bfn table names what is missing (and the make target producing it).
        if ! msg=$(BFN_DB="$DB" "$BFN" table "$spec" ${PROFILE:+--profile "$PROFILE"} \
                   --out "$PAPER/tables/$name.md" 2>&1); then
            echo "make_paper: $name skipped: ${msg#bfn: }" >&2
        fi
    done
fi
if [ "$do_figures" = 1 ]; then
    BFN="$BFN" BFN_DB="$DB" PLOTS="$PLOTS" PAPER="$PAPER" bash "$here/figures.sh" all
fi

# ---- the report ---------------------------------------------------------------------------
rel=$(realpath -m --relative-to="$PAPER" "$PLOTS")
mkdir -p "$PAPER"
tmp=$(mktemp "$OUT.XXXXXX")
trap 'rm -f "$tmp"' EXIT
exec 3> "$tmp"
w() { printf '%s\n' "$@" >&3; }
safe() { printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '_'; }

# Link to plots/FILE if it exists: "[label](rel/FILE)".
fig_link() {
    if [ -f "$PLOTS/$2" ]; then printf '[%s](%s/%s)' "$1" "$rel" "$2"; fi
}

# The run key a generated table used for experiment $2 ("experiment `E`, ... run `KEY`").
table_key() {
    [ -f "$1" ] || return 0
    sed -n "s/.*experiment \`$2\`.* run \`\([0-9a-f]*\)\`.*/\1/p" "$1" | sed -n 1p
}

RUN_COLS="key, experiment, profile, status,
  (SELECT MAX(step) FROM metric m WHERE m.run = r.key AND m.name = 'train.loss'),
  (SELECT printf('%.3f ± %.3f %s', total, total_se, unit) FROM eval e WHERE e.run = r.key AND e.n = 0
     AND e.split = 'test' ORDER BY ckpt_step DESC LIMIT 1)"

# "What was run": one row per run matching the SQL condition $1; $2 is the
# generated table's Markdown (its runs are marked "in the table"), or "".
runs_section() {
    local where=$1 md=$2 key exp profile status steps nll cfg dataset tsteps used stem figs
    w "| experiment | profile | dataset | run | steps trained (configured) | status | NLL at n = ∞ (test) | figures |"
    w "|---|---|---|---|---:|---|---:|---|"
    while IFS=$'\t' read -r key exp profile status steps nll; do
        [ -n "$key" ] || continue
        cfg=$(sql "SELECT config FROM run WHERE key = $(sqlq "$key")")
        dataset=$(printf '%s\n' "$cfg" | sed -n 's/^data\.dataset = //p' | sed -n 1p)
        tsteps=$(printf '%s\n' "$cfg" | sed -n 's/^train\.steps = //p' | sed -n 1p)
        used=""
        if [ -n "$md" ] && [ "$(table_key "$md" "$exp")" = "$key" ]; then used=" (in the table)"; fi
        stem="$(safe "$exp")_$(safe "$profile")_${key}"
        figs=$(printf '%s %s %s %s %s' "$(fig_link losses "${stem}_losses.png")" \
               "$(fig_link training "${stem}_training.png")" "$(fig_link "NLL vs n" "${stem}_nll.png")" \
               "$(fig_link samples "$(safe "$exp")_$(safe "$profile")_samples.png")" \
               "$(fig_link samples "$(safe "$exp")_$(safe "$profile")_samples.txt")" |
               sed 's/  */ /g; s/^ //; s/ $//')
        w "| $(md_cell "$exp") | $(md_cell "$profile") | $(md_cell "${dataset:--}") | \`$key\`$used | ${steps:-0} (${tsteps:-?}) | $status | ${nll:--} | ${figs:--} |"
    done < <(sql "SELECT $RUN_COLS FROM run r WHERE $where ORDER BY experiment, profile, key")
    w ""
}

provenance_section() {
    local where=$1
    w "| run | git commit | libraries | host | threads | seed |"
    w "|---|---|---|---|---:|---:|"
    while IFS=$'\t' read -r key commit dirty libs host threads seed; do
        [ -n "$key" ] || continue
        if [ "$dirty" = 1 ]; then commit="$commit (uncommitted changes)"; fi
        w "| \`$key\` | \`$(md_cell "$commit")\` | $(md_cell "$libs") | $(md_cell "$host") | $threads | $seed |"
    done < <(sql "SELECT key, git_commit, git_dirty, lib_versions, host, threads, seed FROM run r
                  WHERE $where ORDER BY experiment, profile, key")
    w ""
}

w "# Reproduction report: Bayesian Flow Networks (Graves, Srivastava, Atkinson, Gomez 2023)"
w ""
w "Generated by \`analysis/make_paper.sh\` from the results database and the generated tables in"
w "\`paper/tables/\` alone (regenerate with \`make paper\`). It carries no timestamps: the same database,"
w "tables and figures give a byte-identical report. Our numbers come from the network, data and training"
w "budget of each run's profile (named below), so compare trends with the paper's, not absolute values."
w ""

# ---- analytic figures
w "## Analytic figures"
w ""
w "Computed from the harness's own schedule and flow code (\`bfn figure NAME\`, no trained network)."
w ""
for pair in "schedules:Accuracy schedules β(t), α(t) and β(t)/β(1) of every registered schedule" \
            "input_variance:Input variance of the continuous flow (σ1 = 0.001) against linear and cosine diffusion" \
            "cts_flow:Continuous-data Bayesian flow for x = 0.8, σ1 = 0.02, with sample paths" \
            "discrete_flow_k2:Binary discrete Bayesian flow (K = 2, β(1) = 9): density of θ1 over t" \
            "discrete_flow_k3:Ternary discrete Bayesian flow: sample paths on the simplex" \
            "entropy:Expected input entropy against √β for K = 2..30 (stars: √β(1) = 3 for MNIST, 0.75 for text8)"; do
    f=${pair%%:*} caption=${pair#*:}
    if [ -f "$PLOTS/analytic_$f.png" ]; then
        w "- $caption: ![$f]($rel/analytic_$f.png)"
    else
        w "- $caption: not drawn yet (\`bash analysis/figures.sh analytic\`)"
    fi
done
w ""

# ---- one section per paper table
in_tables=""
for spec in "$PAPER"/reference/table*.tsv; do
    [ -e "$spec" ] || continue
    name=$(basename "$spec" .tsv)
    md="$PAPER/tables/$name.md"
    title=$(spec_field "$spec" title)
    command=$(spec_field "$spec" command)
    cols=$(spec_columns "$spec")
    list="" where=""
    for e in $cols; do
        list="$list${list:+, }\`$e\`"
        where="$where${where:+, }$(sqlq "$e")"
        in_tables="$in_tables${in_tables:+, }$(sqlq "$e")"
    done
    w "## ${title:-$name}"
    w ""
    w "Experiments: $list (spec \`paper/reference/$name.tsv\`; produce with \`${command:-bfn run}\`)."
    w ""
    w "### What was run"
    w ""
    if [ -z "$(sql "SELECT 1 FROM run WHERE experiment IN ($where) LIMIT 1")" ]; then
        w "No runs of these experiments in the database yet: run \`${command:-bfn run}\`."
        w ""
    else
        runs_section "experiment IN ($where)" "$([ -f "$md" ] && echo "$md")"
    fi
    w "### Table"
    w ""
    if [ -f "$md" ]; then
        # The table file without its title (this section's), its other headings
        # two levels down so they nest under this one.
        sed '1{/^# /d}; s/^#/###/' "$md" | sed '1{/^$/d}' >&3
        w ""
    else
        w "Not generated yet: run \`${command:-bfn table $spec}\` (or \`make paper\`)."
        w ""
    fi
    w "### Figures"
    w ""
    if grep -q $'^#!\tcolumn\t' "$spec"; then # a table against n has its NLL-vs-n figure
        link=$(fig_link "test NLL against n, ours and the paper's" "${name}_nll.png")
        if [ -n "$link" ]; then w "- $link"; else w "- NLL against n: not drawn yet (\`bash analysis/figures.sh all\`)"; fi
    fi
    w "- Per run: the links in the table under \"What was run\" (losses against time, training curve, NLL against n)."
    w ""
    w "### Provenance"
    w ""
    if [ -n "$(sql "SELECT 1 FROM run WHERE experiment IN ($where) LIMIT 1")" ]; then
        provenance_section "experiment IN ($where)"
    else
        w "No runs."
        w ""
    fi
done

# ---- experiments outside every table
other="experiment NOT IN (${in_tables:-''})"
if [ -n "$(sql "SELECT 1 FROM run WHERE $other LIMIT 1")" ]; then
    w "## Other experiments"
    w ""
    w "Runs of experiments that belong to no paper table."
    w ""
    w "### What was run"
    w ""
    runs_section "$other" ""
    w "### Provenance"
    w ""
    provenance_section "$other"
fi

exec 3>&-
mv "$tmp" "$OUT"
trap - EXIT
echo "make_paper: wrote $OUT"
